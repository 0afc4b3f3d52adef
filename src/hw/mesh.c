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

/* i·(x + iy) = −y + ix, without a general complex product. */
static inline double complex times_i(double complex z) {
    return CMPLX(-cimag(z), creal(z));
}

/* A directional coupler with power splitting cos²β : sin²β, symmetric (i on the cross
 * terms), β = π/4 + α: the imbalance model of Banerjee et al. and torchonn (Gu et al.). */
void uh_mzi_physical(double theta, double phi, double alpha1, double alpha2, double complex t[4]) {
    /* i · B(β₂) · diag(p, p*) · B(β₁) · diag(−e^{iφ}, 1) with p = i e^{−iθ} (see mesh.h),
     * multiplied out by hand:
     *   [[ e^{iφ} (s₁s₂ p* − c₁c₂ p),   i (s₁c₂ p + c₁s₂ p*) ],
     *    [ −i e^{iφ} (c₁s₂ p + s₁c₂ p*), c₁c₂ p* − s₁s₂ p  ]]   before the leading i. */
    double c1, s1, c2, s2, st, ct, sp, cp;
    uh_mesh_sincos(0.25 * UH_PI + alpha1, &s1, &c1);
    uh_mesh_sincos(0.25 * UH_PI + alpha2, &s2, &c2);
    uh_mesh_sincos(theta, &st, &ct);
    uh_mesh_sincos(phi, &sp, &cp);
    double complex p = CMPLX(st, ct), pc = conj(p);
    double complex e = CMPLX(cp, sp);
    double complex m00 = uh_cmul(e, s1 * s2 * pc - c1 * c2 * p);
    double complex m01 = times_i(s1 * c2 * p + c1 * s2 * pc);
    double complex m10 = -times_i(uh_cmul(e, c1 * s2 * p + s1 * c2 * pc));
    double complex m11 = c1 * c2 * pc - s1 * s2 * p;
    t[0] = times_i(m00);
    t[1] = times_i(m01);
    t[2] = times_i(m10);
    t[3] = times_i(m11);
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
    for (int k = 0; k < mesh->n_mzis; k++) {
        const uh_mzi_t *z = &mesh->mzis[k];
        double complex t[4];
        uh_mzi_matrix(z, t);
        int m = z->m, l = 0, h = cols - 1;
        if (lo) {
            l = lo[m] < lo[m + 1] ? lo[m] : lo[m + 1];
            h = hi[m] > hi[m + 1] ? hi[m] : hi[m + 1];
            lo[m] = lo[m + 1] = l;
            hi[m] = hi[m + 1] = h;
        }
        uh_lin_rows_apply(A, cols, m, t, l, h);
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
