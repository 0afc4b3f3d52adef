/* Unitary → mesh: the rectangular (Clements et al., Optica 3, 1460, 2016) and triangular
 * (Reck et al., PRL 73, 58, 1994) decompositions, in the T(θ, φ) convention of mesh.h.
 *
 * Both null the lower triangle of a working copy W of U, one element at a time, with a
 * T(θ, φ) acting on two neighbouring columns (W ← W T⁻¹, from the right) or rows
 * (W ← T W, from the left), until W is a diagonal of phases. */
#include "uhnas/mesh.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"
#include "mesh_internal.h"

/* U U† must be the identity to this accuracy: a matrix further off is not a unitary that
 * lost a few bits, and its "decomposition" would silently implement something else. */
#define UNITARY_TOL 1e-6

/* A T(θ, φ) on modes (m, m+1), as found while nulling. */
typedef struct {
    int m;
    double theta, phi;
} rot_t;

static int check_unitary(const double complex *U, int n, const char *who, uh_error_t *err) {
    if (n < 1 || n > UH_MESH_MAX_N) {
        return uh_error_set(err, UH_EINVAL, "%s: size %d outside 1…%d", who, n, UH_MESH_MAX_N);
    }
    double worst = 0;
    for (int i = 0; i < n; i++) {
        const double complex *ri = U + (size_t)i * n;
        for (int j = 0; j < n; j++) {
            const double complex *rj = U + (size_t)j * n;
            double complex dot = 0;
            for (int k = 0; k < n; k++) dot += uh_cmul(ri[k], conj(rj[k]));
            double dev = cabs(dot - (i == j ? 1.0 : 0.0));
            /* `!(dev <= worst)` also catches NaN. */
            if (!(dev <= worst)) worst = dev;
        }
    }
    if (!(worst <= UNITARY_TOL)) {
        return uh_error_set(err, UH_EINVAL, "%s: matrix is not unitary (max |UU†−I| = %.3g)", who,
                            worst);
    }
    return UH_OK;
}

/* Zeroes W[r][c] by W ← W T⁻¹ on columns (c, c+1): the new W[r][c] is
 * e^{−iφ} cos θ · W[r][c] − sin θ · W[r][c+1], zero when tan θ e^{iφ} = W[r][c] / W[r][c+1]. */
static rot_t null_from_right(double complex *W, int n, int r, int c) {
    double complex a = W[(size_t)r * n + c], b = W[(size_t)r * n + c + 1];
    rot_t t = {c, atan2(cabs(a), cabs(b)), uh_lin_wrap_2pi(carg(a) - carg(b))};
    double complex m[4], inv[4];
    uh_mzi_ideal(t.theta, t.phi, m);
    uh_lin_adjoint2(m, inv);
    uh_lin_cols_apply(W, n, c, inv);
    return t;
}

/* Zeroes W[r][c] by W ← T W on rows (r−1, r): the new W[r][c] is
 * e^{iφ} sin θ · W[r−1][c] + cos θ · W[r][c], zero when tan θ e^{iφ} = −W[r][c] / W[r−1][c]. */
static rot_t null_from_left(double complex *W, int n, int r, int c) {
    double complex a = W[(size_t)(r - 1) * n + c], b = W[(size_t)r * n + c];
    rot_t t = {r - 1, atan2(cabs(b), cabs(a)), uh_lin_wrap_2pi(UH_PI + carg(b) - carg(a))};
    double complex m[4];
    uh_mzi_ideal(t.theta, t.phi, m);
    uh_lin_rows_apply(W, n, r - 1, m, 0, n - 1);
    return t;
}

/* Rewrites T(θ, φ)⁻¹ · diag(d₁, d₂) as diag(e₁, e₂) · T(θ', φ') on modes (m, m+1), updating d
 * in place: the closed form of Clements 2016, re-derived for this T by matching entries,
 *   θ' = θ,  φ' = π + arg d₁ − arg d₂,  e₁ = −e^{−iφ} d₂,  e₂ = d₂. */
static rot_t move_through_diagonal(rot_t t, double complex *d) {
    double complex d1 = d[t.m], d2 = d[t.m + 1];
    rot_t out = {t.m, t.theta, uh_lin_wrap_2pi(UH_PI + carg(d1) - carg(d2))};
    d[t.m] = -CMPLX(cos(t.phi), -sin(t.phi)) * d2;
    d[t.m + 1] = d2;
    return out;
}

/* The unit phases left on W's diagonal (|W_jj| = 1 up to rounding once W is nulled). */
static void diagonal_phases(const double complex *W, int n, double complex *d) {
    for (int j = 0; j < n; j++) {
        double complex w = W[(size_t)j * n + j];
        d[j] = cabs(w) > 0 ? w / cabs(w) : 1.0;
    }
}

static int build_mesh(int n, const rot_t *rots, int count, const double complex *d, uh_mesh_t **out,
                      uh_error_t *err) {
    uh_mzi_t *mzis = calloc((size_t)count + 1, sizeof *mzis);
    double *phase = malloc((size_t)n * sizeof *phase);
    int rc;
    if (!mzis || !phase) {
        rc = uh_error_set(err, UH_ENOMEM, "mesh: out of memory for %d MZIs", count);
    } else {
        for (int k = 0; k < count; k++) {
            mzis[k] =
                (uh_mzi_t){.m = rots[k].m, .theta = rots[k].theta, .phi = rots[k].phi, .amp = 1.0};
        }
        for (int j = 0; j < n; j++) phase[j] = uh_lin_wrap_2pi(carg(d[j]));
        rc = uh_mesh_build(n, count, mzis, phase, out, err);
    }
    free(mzis);
    free(phase);
    return rc;
}

/* Working storage shared by both decompositions. */
typedef struct {
    double complex *W, *d;
    rot_t *rots, *left;
} work_t;

static void work_free(work_t *w) {
    free(w->W);
    free(w->d);
    free(w->rots);
    free(w->left);
}

/* Checks that U is unitary and sets up w with W = U; on failure w holds nothing. */
static int work_start(work_t *w, const double complex *U, int n, const char *method,
                      uh_error_t *err) {
    *w = (work_t){0};
    int rc = check_unitary(U, n, method, err);
    if (rc) return rc;
    size_t k = (size_t)n * (n - 1) / 2 + 1;
    w->W = malloc((size_t)n * n * sizeof *w->W);
    w->d = malloc((size_t)n * sizeof *w->d);
    w->rots = malloc(k * sizeof *w->rots);
    w->left = malloc(k * sizeof *w->left);
    if (!w->W || !w->d || !w->rots || !w->left) {
        work_free(w);
        return uh_error_set(err, UH_ENOMEM, "mesh: out of memory decomposing size %d", n);
    }
    memcpy(w->W, U, (size_t)n * n * sizeof *U);
    return UH_OK;
}

int uh_mesh_decompose_clements(const double complex *U, int n, uh_mesh_t **out, uh_error_t *err) {
    *out = NULL;
    work_t w;
    int rc = work_start(&w, U, n, "clements", err);
    if (rc) return rc;
    /* Anti-diagonal i of the lower triangle (1-based, as in the paper): odd i from the right,
     * bottom row first; even i from the left, top row first. In this order (Clements'),
     * a rotation never mixes an earlier zero with a nonzero, so the zeros stay. */
    int nr = 0, nl = 0;
    for (int i = 1; i < n; i++) {
        if (i % 2 == 1) {
            for (int j = 0; j < i; j++) {
                w.rots[nr++] = null_from_right(w.W, n, n - 1 - j, i - 1 - j);
            }
        } else {
            for (int j = 1; j <= i; j++) {
                w.left[nl++] = null_from_left(w.W, n, n - 1 + j - i, j - 1);
            }
        }
    }
    /* Now T_L⋯T_1 · U · R = D', so U = T_1⁻¹⋯T_L⁻¹ · D' · R⁻¹, and R⁻¹ applies the
     * right-hand T's in the order found. Moving each T_k⁻¹ through the diagonal, last first,
     * appends the converted T's in the order light meets them. */
    diagonal_phases(w.W, n, w.d);
    for (int k = nl - 1; k >= 0; k--) w.rots[nr++] = move_through_diagonal(w.left[k], w.d);
    rc = build_mesh(n, w.rots, nr, w.d, out, err);
    work_free(&w);
    return rc;
}

int uh_mesh_decompose_reck(const double complex *U, int n, uh_mesh_t **out, uh_error_t *err) {
    *out = NULL;
    work_t w;
    int rc = work_start(&w, U, n, "reck", err);
    if (rc) return rc;
    /* Row by row from the bottom, left to right, all from the right: after row r only W_rr is
     * left in row r and (by unitarity) in column r, and later rotations on columns < r
     * leave both alone. W · R = D', so U = D' · R⁻¹: the T's apply in the order found. */
    int nr = 0;
    for (int r = n - 1; r >= 1; r--) {
        for (int c = 0; c < r; c++) w.rots[nr++] = null_from_right(w.W, n, r, c);
    }
    diagonal_phases(w.W, n, w.d);
    rc = build_mesh(n, w.rots, nr, w.d, out, err);
    work_free(&w);
    return rc;
}
