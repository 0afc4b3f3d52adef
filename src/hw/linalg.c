/* Complex-matrix helpers for the mesh module, and the LAPACK SVD glue (uh_svd). */
#include "linalg.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "uhnas/mesh.h"

void uh_lin_rows_apply(double complex *A, int n, int r, const double complex t[4], int lo, int hi) {
    /* uh_cmul's arithmetic on the rows as arrays of (re, im) pairs (C11 6.2.5: a complex is
     * laid out as two reals), a loop the compiler vectorises; on double complex it does not.
     * The 2×2 is the hot loop of building a realized mesh's matrix. */
    double *a = (double *)(A + (size_t)r * n), *b = (double *)(A + (size_t)(r + 1) * n);
    const double t0r = creal(t[0]), t0i = cimag(t[0]), t1r = creal(t[1]), t1i = cimag(t[1]);
    const double t2r = creal(t[2]), t2i = cimag(t[2]), t3r = creal(t[3]), t3i = cimag(t[3]);
#pragma omp simd
    for (int c = lo; c <= hi; c++) {
        double xr = a[2 * c], xi = a[2 * c + 1], yr = b[2 * c], yi = b[2 * c + 1];
        a[2 * c] = (t0r * xr - t0i * xi) + (t1r * yr - t1i * yi);
        a[2 * c + 1] = (t0r * xi + t0i * xr) + (t1r * yi + t1i * yr);
        b[2 * c] = (t2r * xr - t2i * xi) + (t3r * yr - t3i * yi);
        b[2 * c + 1] = (t2r * xi + t2i * xr) + (t3r * yi + t3i * yr);
    }
}

void uh_lin_cols_apply(double complex *A, int n, int c, const double complex t[4]) {
    for (int r = 0; r < n; r++) {
        double complex *row = A + (size_t)r * n;
        double complex x = row[c], y = row[c + 1];
        row[c] = uh_cmul(x, t[0]) + uh_cmul(y, t[2]);
        row[c + 1] = uh_cmul(x, t[1]) + uh_cmul(y, t[3]);
    }
}

void uh_lin_adjoint2(const double complex t[4], double complex out[4]) {
    double complex t1 = t[1];
    out[0] = conj(t[0]);
    out[1] = conj(t[2]);
    out[2] = conj(t1);
    out[3] = conj(t[3]);
}

double uh_lin_wrap_2pi(double x) {
    const double two_pi = 2.0 * UH_PI;
    double w = fmod(x, two_pi);
    if (w < 0) w += two_pi;
    /* fmod of a value a hair below a multiple of 2π can round up to exactly 2π. */
    return w >= two_pi ? 0.0 : w;
}

/* The reflector H = I − 2 v v† that sends column k of A (rows k…n−1) to α e_k, with
 * α = −e^{i arg x₀} ‖x‖ so that v₀ = x₀ − α never cancels (Golub & Van Loan §5.1).
 * Returns 0 when the column is already zero, so H = I. */
static int householder_vector(const double complex *A, int n, int k, double complex *v) {
    double norm2 = 0;
    for (int i = k; i < n; i++) {
        v[i] = A[(size_t)i * n + k];
        norm2 += creal(v[i]) * creal(v[i]) + cimag(v[i]) * cimag(v[i]);
    }
    if (norm2 == 0) return 0;
    double complex x0 = v[k];
    double complex phase = cabs(x0) > 0 ? x0 / cabs(x0) : 1.0;
    double complex alpha = -phase * sqrt(norm2);
    v[k] = x0 - alpha;
    double vnorm2 = norm2 - creal(conj(x0) * x0) + creal(conj(v[k]) * v[k]);
    double scale = 1.0 / sqrt(vnorm2);
    for (int i = k; i < n; i++) v[i] *= scale;
    return 1;
}

void uh_lin_qr(int n, double complex *A, double complex *Q, double complex *work) {
    double complex *v = work, *s = work + n;
    for (size_t i = 0; i < (size_t)n * n; i++) Q[i] = 0;
    for (int i = 0; i < n; i++) Q[(size_t)i * n + i] = 1;
    for (int k = 0; k + 1 < n; k++) {
        if (!householder_vector(A, n, k, v)) continue;
        /* A[k:, k:] ← H A[k:, k:]: s = v† A by rows (cache-friendly in row-major). */
        for (int j = k; j < n; j++) s[j] = 0;
        for (int i = k; i < n; i++) {
            const double complex *row = A + (size_t)i * n;
            double complex cv = conj(v[i]);
            for (int j = k; j < n; j++) s[j] += uh_cmul(cv, row[j]);
        }
        for (int i = k; i < n; i++) {
            double complex *row = A + (size_t)i * n;
            double complex tv = 2.0 * v[i];
            for (int j = k; j < n; j++) row[j] -= uh_cmul(tv, s[j]);
        }
        /* Q ← Q H, so that Q = H₀ H₁ ⋯ at the end. */
        for (int r = 0; r < n; r++) {
            double complex *row = Q + (size_t)r * n, dot = 0;
            for (int i = k; i < n; i++) dot += uh_cmul(row[i], v[i]);
            dot *= 2.0;
            for (int i = k; i < n; i++) row[i] -= uh_cmul(dot, conj(v[i]));
        }
    }
}

/* LAPACK's SVD through the Fortran ABI: every argument by pointer, matrices column-major,
 * and gfortran's hidden lengths of the two CHARACTER arguments at the end. */
extern void dgesvd_(const char *jobu, const char *jobvt, const int *m, const int *n, double *a,
                    const int *lda, double *s, double *u, const int *ldu, double *vt,
                    const int *ldvt, double *work, const int *lwork, int *info, size_t jobu_len,
                    size_t jobvt_len);

int uh_svd(const double *W, int m, int n, double *U, double *S, double *Vt, uh_error_t *err) {
    if (m < 1 || n < 1 || m > UH_SVD_MAX_DIM || n > UH_SVD_MAX_DIM) {
        return uh_error_set(err, UH_EINVAL, "svd: size %d×%d outside 1…%d", m, n, UH_SVD_MAX_DIM);
    }
    size_t mn = (size_t)m * n;
    /* LAPACK's iteration does not converge on NaN/Inf; say so instead of failing obscurely. */
    for (size_t i = 0; i < mn; i++) {
        if (!isfinite(W[i])) {
            return uh_error_set(err, UH_EINVAL, "svd: entry (%zu, %zu) is not finite", i / n,
                                i % n);
        }
    }
    double *a = malloc(mn * sizeof *a);
    double *ucm = malloc((size_t)m * m * sizeof *ucm);
    double *vtcm = malloc((size_t)n * n * sizeof *vtcm);
    double *work = NULL;
    int rc = UH_OK;
    if (!a || !ucm || !vtcm) {
        rc = uh_error_set(err, UH_ENOMEM, "svd: out of memory for a %d×%d matrix", m, n);
        goto done;
    }
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) a[i + (size_t)j * m] = W[(size_t)i * n + j];
    int lda = m, ldu = m, ldvt = n, lwork = -1, info = 0;
    double query = 0;
    /* A first call with lwork = −1 only reports the optimal workspace size. */
    dgesvd_("A", "A", &m, &n, a, &lda, S, ucm, &ldu, &query, &ldvt, &query, &lwork, &info, 1, 1);
    if (info != 0) {
        rc = uh_error_set(err, UH_EINVAL, "svd: dgesvd workspace query failed (info %d)", info);
        goto done;
    }
    lwork = (int)query;
    work = malloc((size_t)lwork * sizeof *work);
    if (!work) {
        rc = uh_error_set(err, UH_ENOMEM, "svd: out of memory for the workspace");
        goto done;
    }
    dgesvd_("A", "A", &m, &n, a, &lda, S, ucm, &ldu, vtcm, &ldvt, work, &lwork, &info, 1, 1);
    if (info != 0) {
        /* info > 0: the bidiagonal QR iteration did not converge (NaN/Inf input in practice). */
        rc = uh_error_set(err, UH_EINVAL, "svd: dgesvd failed (info %d)", info);
        goto done;
    }
    for (int i = 0; i < m; i++)
        for (int k = 0; k < m; k++) U[(size_t)i * m + k] = ucm[i + (size_t)k * m];
    for (int k = 0; k < n; k++)
        for (int j = 0; j < n; j++) Vt[(size_t)k * n + j] = vtcm[k + (size_t)j * n];
done:
    free(a);
    free(ucm);
    free(vtcm);
    free(work);
    return rc;
}
