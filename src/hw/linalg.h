/* Private complex-matrix helpers for the mesh code: 2×2 rotations on rows and columns, and a
 * Householder QR. Row-major n×n `double complex` throughout, as in uhnas/mesh.h. */
#ifndef UHNAS_HW_LINALG_H
#define UHNAS_HW_LINALG_H

#include "uhnas/mesh.h" /* complex.h, and CMPLX for clang */

/* π to double precision: M_PI is not in strict C11 with only _POSIX_C_SOURCE. */
#define UH_PI 3.14159265358979323846

/* a · b spelled out in real arithmetic. C's `*` on two complex operands must honour the
 * Annex G infinity rules (a call to __muldc3 whenever the fast result is NaN), which costs
 * about a third of the time of rebuilding a mesh's matrix; our entries are always finite. */
static inline double complex uh_cmul(double complex a, double complex b) {
    double ar = creal(a), ai = cimag(a), br = creal(b), bi = cimag(b);
    return CMPLX(ar * br - ai * bi, ar * bi + ai * br);
}

/* Rows (r, r+1) ← t · rows, on columns [lo, hi] only (t row-major 2×2). */
void uh_lin_rows_apply(double complex *A, int n, int r, const double complex t[4], int lo, int hi);
/* Columns (c, c+1) ← columns · t, on every row. */
void uh_lin_cols_apply(double complex *A, int n, int c, const double complex t[4]);
/* The conjugate transpose of a 2×2. */
void uh_lin_adjoint2(const double complex t[4], double complex out[4]);

/* A = Q R by Householder reflections. A (n×n) is overwritten by R (upper part; below the
 * diagonal holds leftovers), Q gets the unitary factor, work needs 2n entries. */
void uh_lin_qr(int n, double complex *A, double complex *Q, double complex *work);

/* An angle wrapped into [0, 2π). */
double uh_lin_wrap_2pi(double x);

#endif
