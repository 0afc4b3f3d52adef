/* MZI meshes: construction, layout (stages, neighbours), evaluation, Haar sampling. The
 * conventions are in include/uhnas/mesh.h; decompositions are in mesh_decompose.c and the
 * hardware non-idealities in mesh_noise.c. */
#include "uhnas/mesh.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"
#include "mesh_internal.h"

/* ---- construction and layout ---- */

void uh_mesh_free(uh_mesh_t *mesh) {
    if (!mesh) return;
    free(mesh->mzis);
    free(mesh->out_phase);
    free(mesh->nbr);
    free(mesh);
}

static int mesh_alloc(int n, int n_mzis, uh_mesh_t **out, uh_error_t *err) {
    uh_mesh_t *mesh = calloc(1, sizeof *mesh);
    if (mesh) {
        mesh->n = n;
        mesh->n_mzis = n_mzis;
        mesh->gain = 1.0;
        /* +1 so that a mesh without MZIs (n = 1) still gets non-NULL arrays. */
        mesh->mzis = calloc((size_t)n_mzis + 1, sizeof *mesh->mzis);
        mesh->out_phase = calloc((size_t)n, sizeof *mesh->out_phase);
        mesh->nbr = calloc(2 * (size_t)n_mzis + 1, sizeof *mesh->nbr);
    }
    if (!mesh || !mesh->mzis || !mesh->out_phase || !mesh->nbr) {
        uh_mesh_free(mesh);
        return uh_error_set(err, UH_ENOMEM, "mesh: out of memory for %d modes, %d MZIs", n, n_mzis);
    }
    *out = mesh;
    return UH_OK;
}

/* Each MZI goes in the earliest column after the last MZI on either of its modes, which
 * makes the column count the number of MZIs on the longest path. */
static int assign_stages(uh_mesh_t *mesh, int *last) {
    int depth = 0;
    for (int j = 0; j < mesh->n; j++) last[j] = -1;
    for (int k = 0; k < mesh->n_mzis; k++) {
        uh_mzi_t *z = &mesh->mzis[k];
        int s = (last[z->m] > last[z->m + 1] ? last[z->m] : last[z->m + 1]) + 1;
        z->stage = s;
        last[z->m] = last[z->m + 1] = s;
        if (s + 1 > depth) depth = s + 1;
    }
    return depth;
}

/* Stable counting sort by stage. Two MZIs sharing a mode are in different stages, in their
 * original order, so the sorted list implements the same product. */
static void sort_by_stage(uh_mesh_t *mesh, uh_mzi_t *tmp, int *start) {
    for (int s = 0; s <= mesh->depth; s++) start[s] = 0;
    for (int k = 0; k < mesh->n_mzis; k++) start[mesh->mzis[k].stage + 1]++;
    for (int s = 0; s < mesh->depth; s++) start[s + 1] += start[s];
    for (int k = 0; k < mesh->n_mzis; k++) tmp[start[mesh->mzis[k].stage]++] = mesh->mzis[k];
    memcpy(mesh->mzis, tmp, (size_t)mesh->n_mzis * sizeof *tmp);
}

/* Same-stage MZIs on modes m ± 2 are the nearest shifters on the chip (m ± 1 would share a
 * waveguide, so cannot be in the same column). */
static void find_neighbours(uh_mesh_t *mesh, int *slot) {
    int n = mesh->n;
    for (size_t i = 0; i < (size_t)mesh->depth * n; i++) slot[i] = -1;
    for (int k = 0; k < mesh->n_mzis; k++) {
        slot[(size_t)mesh->mzis[k].stage * n + mesh->mzis[k].m] = k;
    }
    for (int k = 0; k < mesh->n_mzis; k++) {
        const int *col = slot + (size_t)mesh->mzis[k].stage * n;
        int m = mesh->mzis[k].m;
        mesh->nbr[2 * k] = m >= 2 ? col[m - 2] : -1;
        mesh->nbr[2 * k + 1] = m + 2 <= n - 2 ? col[m + 2] : -1;
    }
}

static int mesh_layout(uh_mesh_t *mesh, uh_error_t *err) {
    int n = mesh->n;
    int *last = malloc((size_t)n * sizeof *last);
    if (!last) return uh_error_set(err, UH_ENOMEM, "mesh: out of memory for the layout");
    mesh->depth = assign_stages(mesh, last);
    free(last);
    uh_mzi_t *tmp = malloc(((size_t)mesh->n_mzis + 1) * sizeof *tmp);
    int *start = malloc(((size_t)mesh->depth + 2) * sizeof *start);
    int *slot = malloc(((size_t)mesh->depth * n + 1) * sizeof *slot);
    int rc = UH_OK;
    if (!tmp || !start || !slot) {
        rc = uh_error_set(err, UH_ENOMEM, "mesh: out of memory for the layout");
    } else {
        sort_by_stage(mesh, tmp, start);
        find_neighbours(mesh, slot);
    }
    free(tmp);
    free(start);
    free(slot);
    return rc;
}

int uh_mesh_build(int n, int n_mzis, const uh_mzi_t *mzis, const double *out_phase, uh_mesh_t **out,
                  uh_error_t *err) {
    *out = NULL;
    uh_mesh_t *mesh;
    int rc = mesh_alloc(n, n_mzis, &mesh, err);
    if (rc) return rc;
    memcpy(mesh->mzis, mzis, (size_t)n_mzis * sizeof *mzis);
    if (out_phase) memcpy(mesh->out_phase, out_phase, (size_t)n * sizeof *out_phase);
    rc = mesh_layout(mesh, err);
    if (rc) {
        uh_mesh_free(mesh);
        return rc;
    }
    *out = mesh;
    return UH_OK;
}

int uh_mesh_new(int n, int n_mzis, const int *modes, uh_mesh_t **out, uh_error_t *err) {
    *out = NULL;
    if (n < 1 || n > UH_MESH_MAX_N) {
        return uh_error_set(err, UH_EINVAL, "mesh: %d modes outside 1…%d", n, UH_MESH_MAX_N);
    }
    /* n(n−1)/2 MZIs make a universal mesh; n² leaves room for redundant designs. */
    if (n_mzis < 0 || n_mzis > n * n) {
        return uh_error_set(err, UH_EINVAL, "mesh: %d MZIs outside 0…%d for %d modes", n_mzis,
                            n * n, n);
    }
    for (int k = 0; k < n_mzis; k++) {
        if (modes[k] < 0 || modes[k] > n - 2) {
            return uh_error_set(err, UH_EINVAL, "mesh: MZI %d on mode %d, outside 0…%d", k,
                                modes[k], n - 2);
        }
    }
    uh_mzi_t *mzis = calloc((size_t)n_mzis + 1, sizeof *mzis);
    if (!mzis) return uh_error_set(err, UH_ENOMEM, "mesh: out of memory for %d MZIs", n_mzis);
    for (int k = 0; k < n_mzis; k++) {
        mzis[k].m = modes[k];
        mzis[k].amp = 1.0;
    }
    int rc = uh_mesh_build(n, n_mzis, mzis, NULL, out, err);
    free(mzis);
    return rc;
}

int uh_mesh_clone(const uh_mesh_t *src, uh_mesh_t **out, uh_error_t *err) {
    *out = NULL;
    uh_mesh_t *mesh;
    int rc = mesh_alloc(src->n, src->n_mzis, &mesh, err);
    if (rc) return rc;
    mesh->depth = src->depth;
    mesh->gain = src->gain;
    memcpy(mesh->mzis, src->mzis, (size_t)src->n_mzis * sizeof *src->mzis);
    memcpy(mesh->out_phase, src->out_phase, (size_t)src->n * sizeof *src->out_phase);
    memcpy(mesh->nbr, src->nbr, 2 * (size_t)src->n_mzis * sizeof *src->nbr);
    *out = mesh;
    return UH_OK;
}

int uh_mesh_n_mzis(const uh_mesh_t *mesh) {
    return mesh->n_mzis;
}

int uh_mesh_depth(const uh_mesh_t *mesh) {
    return mesh->depth;
}

/* ---- one MZI ---- */

void uh_mzi_ideal(double theta, double phi, double complex t[4]) {
    double c, s, cp, sp;
    uh_mesh_sincos(theta, &s, &c);
    uh_mesh_sincos(phi, &sp, &cp);
    double complex e = CMPLX(cp, sp);
    t[0] = e * c;
    t[1] = -s;
    t[2] = e * s;
    t[3] = c;
}

/* uh_mzi_physical's product from the sines and cosines of β₁, β₂, θ and φ, in real
 * arithmetic (t row-major, (re, im) pairs) so that a loop of it vectorises:
 *   i · B(β₂) · diag(p, p*) · B(β₁) · diag(−e^{iφ}, 1) with p = i e^{−iθ} (see mesh.h) is
 *   i · [[ e^{iφ} (s₁s₂ p* − c₁c₂ p),   i (s₁c₂ p + c₁s₂ p*) ],
 *        [ −i e^{iφ} (c₁s₂ p + s₁c₂ p*), c₁c₂ p* − s₁s₂ p  ]],  p = st + i·ct. */
static inline void physical_product(double s1, double c1, double s2, double c2, double st,
                                    double ct, double sp, double cp, double t[8]) {
    double ss = s1 * s2, cc = c1 * c2, sc = s1 * c2, cs = c1 * s2;
    double a_re = ss * st - cc * st, a_im = ss * -ct - cc * ct; /* s₁s₂ p* − c₁c₂ p */
    double b_re = sc * st + cs * st, b_im = sc * ct + cs * -ct; /* s₁c₂ p + c₁s₂ p* */
    double d_re = cs * st + sc * st, d_im = cs * ct + sc * -ct; /* c₁s₂ p + s₁c₂ p* */
    double f_re = cc * st - ss * st, f_im = cc * -ct - ss * ct; /* c₁c₂ p* − s₁s₂ p */
    t[0] = -(cp * a_im + sp * a_re), t[1] = cp * a_re - sp * a_im;
    t[2] = -b_re, t[3] = -b_im;
    t[4] = cp * d_re - sp * d_im, t[5] = cp * d_im + sp * d_re;
    t[6] = -f_im, t[7] = f_re;
}

/* β = π/4 + α: its sine and cosine. */
#define BETA(alpha) (0.25 * UH_PI + (alpha))

/* A directional coupler with power splitting cos²β : sin²β, symmetric (i on the cross
 * terms), β = π/4 + α: the imbalance model of Banerjee et al. and torchonn (Gu et al.). */
void uh_mzi_physical(double theta, double phi, double alpha1, double alpha2, double complex t[4]) {
    double c1, s1, c2, s2, st, ct, sp, cp, r[8];
    uh_mesh_sincos(BETA(alpha1), &s1, &c1);
    uh_mesh_sincos(BETA(alpha2), &s2, &c2);
    uh_mesh_sincos(theta, &st, &ct);
    uh_mesh_sincos(phi, &sp, &cp);
    physical_product(s1, c1, s2, c2, st, ct, sp, cp, r);
    for (int i = 0; i < 4; i++) t[i] = CMPLX(r[2 * i], r[2 * i + 1]);
}

void uh_mzi_matrix(const uh_mzi_t *mzi, double complex t[4]) {
    /* The closed form keeps an ideal mesh bit-exact instead of within rounding of T. */
    if (mzi->alpha[0] == 0 && mzi->alpha[1] == 0) {
        uh_mzi_ideal(mzi->theta, mzi->phi, t);
    } else {
        uh_mzi_physical(mzi->theta, mzi->phi, mzi->alpha[0], mzi->alpha[1], t);
    }
    if (mzi->amp != 1.0) {
        for (int i = 0; i < 4; i++) t[i] *= mzi->amp;
    }
}

/* MZIs whose matrices mzi_matrices computes per block, in a vector loop. */
#define MZI_BLOCK 32

/* uh_mzi_matrix of count ≤ MZI_BLOCK MZIs, the same numbers: every MZI's physical product in
 * a vector loop (× amp, exact when it is 1), then uh_mzi_matrix itself for the MZIs that loop
 * does not cover (ideal couplers: the closed form; phases beyond the fast sines). A
 * realized mesh's couplers are all imbalanced, and the matrices are a third of its cost. */
static void mzi_matrices(const uh_mzi_t *z, int count, double complex (*t)[4]) {
    /* The angles as arrays first: the vectoriser does not load from an array of structs. An
     * MZI the loop does not cover gets angles 0 there (no out-of-range conversion). */
    double a1[MZI_BLOCK], a2[MZI_BLOCK], th[MZI_BLOCK], ph[MZI_BLOCK], r[MZI_BLOCK][8];
    int slow[MZI_BLOCK];
    const double lim = UH_MESH_SINCOS_FAST_MAX;
    for (int k = 0; k < count; k++) {
        a1[k] = BETA(z[k].alpha[0]), a2[k] = BETA(z[k].alpha[1]);
        th[k] = z[k].theta, ph[k] = z[k].phi;
        slow[k] = (z[k].alpha[0] == 0 && z[k].alpha[1] == 0) || !(fabs(a1[k]) <= lim) ||
                  !(fabs(a2[k]) <= lim) || !(fabs(th[k]) <= lim) || !(fabs(ph[k]) <= lim);
        if (slow[k]) a1[k] = a2[k] = th[k] = ph[k] = 0;
    }
#pragma omp simd
    for (int k = 0; k < count; k++) {
        double c1, s1, c2, s2, st, ct, sp, cp;
        uh_mesh_sincos_near(a1[k], &s1, &c1);
        uh_mesh_sincos_near(a2[k], &s2, &c2);
        uh_mesh_sincos_near(th[k], &st, &ct);
        uh_mesh_sincos_near(ph[k], &sp, &cp);
        physical_product(s1, c1, s2, c2, st, ct, sp, cp, r[k]);
    }
    for (int k = 0; k < count; k++) {
        if (slow[k]) {
            uh_mzi_matrix(&z[k], t[k]);
        } else {
            for (int i = 0; i < 4; i++)
                t[k][i] = CMPLX(z[k].amp * r[k][2 * i], z[k].amp * r[k][2 * i + 1]);
        }
    }
}

/* ---- the whole mesh ---- */

static void apply_output_screen(const uh_mesh_t *mesh, double complex *rows, int stride) {
    for (int j = 0; j < mesh->n; j++) {
        double sd, cd;
        uh_mesh_sincos(mesh->out_phase[j], &sd, &cd);
        double complex e = mesh->gain * CMPLX(cd, sd);
        double complex *row = rows + (size_t)j * stride;
        for (int c = 0; c < stride; c++) row[c] = uh_cmul(e, row[c]);
    }
}

/* The mesh's rotations applied to the rows of A (n rows, `cols` entries each, row stride
 * cols), each on columns [lo[m], hi[m]] only where lo/hi are given, then the output screen. */
static void rotate_rows(const uh_mesh_t *mesh, double complex *A, int cols, int *lo, int *hi) {
    double complex t[MZI_BLOCK][4];
    for (int k = 0; k < mesh->n_mzis; k++) {
        const uh_mzi_t *z = &mesh->mzis[k];
        if (k % MZI_BLOCK == 0) {
            int left = mesh->n_mzis - k;
            mzi_matrices(z, left < MZI_BLOCK ? left : MZI_BLOCK, t);
        }
        int m = z->m, l = 0, h = cols - 1;
        if (lo) {
            l = lo[m] < lo[m + 1] ? lo[m] : lo[m + 1];
            h = hi[m] > hi[m + 1] ? hi[m] : hi[m + 1];
            lo[m] = lo[m + 1] = l;
            hi[m] = hi[m + 1] = h;
        }
        uh_lin_rows_apply(A, cols, m, t[k % MZI_BLOCK], l, h);
    }
    apply_output_screen(mesh, A, cols);
}

void uh_mesh_unitary(const uh_mesh_t *mesh, double complex *U) {
    int n = mesh->n;
    /* Starting from the identity, row j is nonzero only within columns [lo[j], hi[j]]; a
     * rotation merges two such ranges. Skipping the zeros saves a third of the work of a
     * 64-mode Clements or Reck mesh. */
    int lo[UH_MESH_MAX_N], hi[UH_MESH_MAX_N];
    memset(U, 0, (size_t)n * n * sizeof *U);
    for (int j = 0; j < n; j++) {
        U[(size_t)j * n + j] = 1;
        lo[j] = hi[j] = j;
    }
    rotate_rows(mesh, U, n, lo, hi);
}

void uh_mesh_apply_rows(const uh_mesh_t *mesh, double complex *A, int cols) {
    rotate_rows(mesh, A, cols, NULL, NULL);
}

void uh_mesh_apply(const uh_mesh_t *mesh, const double complex *in, double complex *out) {
    if (out != in) memcpy(out, in, (size_t)mesh->n * sizeof *out);
    uh_mesh_apply_rows(mesh, out, 1);
}

/* ---- Haar sampling ---- */

int uh_mesh_haar_unitary(int n, uh_rng_t *rng, double complex *U, uh_error_t *err) {
    if (n < 1 || n > UH_MESH_MAX_N) {
        return uh_error_set(err, UH_EINVAL, "haar: size %d outside 1…%d", n, UH_MESH_MAX_N);
    }
    double complex *A = malloc((size_t)n * n * sizeof *A);
    double complex *work = malloc(2 * (size_t)n * sizeof *work);
    if (!A || !work) {
        free(A);
        free(work);
        return uh_error_set(err, UH_ENOMEM, "haar: out of memory for size %d", n);
    }
    /* Ginibre matrix: i.i.d. standard complex normal entries, E|z|² = 1. */
    const double r = sqrt(0.5);
    for (size_t i = 0; i < (size_t)n * n; i++) {
        double re = uh_rng_normal(rng);
        A[i] = CMPLX(r * re, r * uh_rng_normal(rng));
    }
    uh_lin_qr(n, A, U, work);
    /* QR is unique only up to a diagonal phase; Q alone is not Haar-distributed. Multiplying
     * column k of Q by R_kk/|R_kk| picks the factorisation with R_kk > 0, whose Q is Haar
     * (Mezzadri 2007). */
    for (int k = 0; k < n; k++) {
        double complex d = A[(size_t)k * n + k];
        double complex ph = cabs(d) > 0 ? d / cabs(d) : 1.0;
        for (int i = 0; i < n; i++) U[(size_t)i * n + k] *= ph;
    }
    free(A);
    free(work);
    return UH_OK;
}
