/* The numerics of the surrogate predictors: ridge and kernel ridge through a Cholesky
 * factorisation (LAPACK), and a one-hidden-layer MLP trained by full-batch Adam. All work on
 * standardised features; BLAS does the O(n·d²), O(n²·d) and O(n·d·hidden) products. */
#include "predict_internal.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "uhnas/nn.h"

extern void dpotrf_(const char *uplo, const int *n, double *a, const int *lda, int *info,
                    size_t uplo_len);
extern void dpotrs_(const char *uplo, const int *n, const int *nrhs, const double *a,
                    const int *lda, double *b, const int *ldb, int *info, size_t uplo_len);

/* Below these sizes the work is done in plain loops: OpenBLAS hands even a 100×100
 * Cholesky or Gram matrix to its thread pool, whose start-up and spinning cost more than the
 * arithmetic (and a search refits its predictors often, on a few hundred rows). */
#define SMALL_SOLVE 400
#define SMALL_GRAM (1 << 22) /* n²·d */

/* A plain Cholesky solve of the dim×dim matrix whose upper triangle is given (row-major). */
static int small_spd_solve(double *A, int dim, double *b) {
    for (int i = 1; i < dim; i++)
        for (int j = 0; j < i; j++) A[(size_t)i * dim + j] = A[(size_t)j * dim + i];
    /* A = LLᵀ, L overwriting the lower triangle row by row, so the inner sums run over
     * contiguous memory. */
    for (int j = 0; j < dim; j++) {
        double *rj = A + (size_t)j * dim, s = rj[j];
        for (int k = 0; k < j; k++) s -= rj[k] * rj[k];
        if (!(s > 0)) return j + 1; /* LAPACK's convention: the failing leading minor */
        double ljj = sqrt(s);
        rj[j] = ljj;
        for (int i = j + 1; i < dim; i++) {
            double *ri = A + (size_t)i * dim, v = ri[j];
            for (int k = 0; k < j; k++) v -= ri[k] * rj[k];
            ri[j] = v / ljj;
        }
    }
    for (int i = 0; i < dim; i++) { /* L y = b */
        const double *ri = A + (size_t)i * dim;
        double v = b[i];
        for (int k = 0; k < i; k++) v -= ri[k] * b[k];
        b[i] = v / ri[i];
    }
    for (int i = dim - 1; i >= 0; i--) { /* Lᵀ x = y, by columns of Lᵀ = rows of L */
        const double *ri = A + (size_t)i * dim;
        b[i] /= ri[i];
        for (int k = 0; k < i; k++) b[k] -= ri[k] * b[i];
    }
    return 0;
}

/* Solves A x = b in place for symmetric positive definite A (dim×dim, only the upper triangle
 * of the row-major matrix is read, which is LAPACK's column-major lower). Returns the LAPACK
 * info: > 0 when A is not positive definite. */
static int spd_solve(double *A, int dim, double *b) {
    if (dim <= SMALL_SOLVE) return small_spd_solve(A, dim, b);
    int info = 0, one = 1;
    dpotrf_("L", &dim, A, &dim, &info, 1);
    if (info != 0) return info;
    dpotrs_("L", &dim, &one, A, &dim, b, &dim, &info, 1);
    return info;
}

int uh_pred_ridge_grid(const double *Z, const double *t, int n, int d, const double *lambdas,
                       int nl, double *W, uh_error_t *err) {
    size_t dd = (size_t)d * d;
    double *G = malloc(dd * sizeof *G), *A = malloc(dd * sizeof *A), *b = malloc(d * sizeof *b);
    int rc = UH_OK;
    if (!G || !A || !b) {
        rc = uh_error_set(err, UH_ENOMEM, "ridge: out of memory for a %d×%d system", d, d);
        goto done;
    }
    /* The Gram matrix is shared by every penalty; only the diagonal shift differs. */
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, n, 1.0, Z, d, 0.0, G, d);
    for (int l = 0; l < nl; l++) {
        memcpy(A, G, dd * sizeof *A);
        for (int j = 0; j < d; j++) A[(size_t)j * d + j] += n * lambdas[l];
        cblas_dgemv(CblasRowMajor, CblasTrans, n, d, 1.0, Z, d, t, 1, 0.0, b, 1);
        int info = spd_solve(A, d, b);
        if (info != 0) {
            /* ZᵀZ is positive semi-definite, so only a λ too small for double precision gets
             * here. */
            rc = uh_error_set(err, UH_EINVAL,
                              "ridge: ZᵀZ + nλI is not positive definite at λ = %g (info %d); "
                              "use a larger λ",
                              lambdas[l], info);
            goto done;
        }
        memcpy(W + (size_t)l * d, b, d * sizeof *b);
    }
done:
    free(G);
    free(A);
    free(b);
    return rc;
}

/* Squared distances between the rows of Z (n×d) into D (n×n, full): directly when small,
 * else through the Gram matrix, ‖a − b‖² = ‖a‖² + ‖b‖² − 2a·b, clamped at 0 against
 * cancellation. */
static void train_sqdist(const double *Z, int n, int d, double *D) {
    if ((double)n * n * d < SMALL_GRAM) {
        for (int i = 0; i < n; i++) {
            const double *zi = Z + (size_t)i * d;
            D[(size_t)i * n + i] = 0;
            for (int j = i + 1; j < n; j++) {
                const double *zj = Z + (size_t)j * d;
                double s = 0;
                for (int k = 0; k < d; k++) s += (zi[k] - zj[k]) * (zi[k] - zj[k]);
                D[(size_t)i * n + j] = D[(size_t)j * n + i] = s;
            }
        }
        return;
    }
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, d, 1.0, Z, d, 0.0, D, n);
    for (int i = 0; i < n; i++) {
        double gii = D[(size_t)i * n + i];
        for (int j = i + 1; j < n; j++) {
            double v = gii + D[(size_t)j * n + j] - 2.0 * D[(size_t)i * n + j];
            D[(size_t)i * n + j] = v > 0 ? v : 0;
        }
    }
    for (int i = 0; i < n; i++) {
        D[(size_t)i * n + i] = 0;
        for (int j = 0; j < i; j++) D[(size_t)i * n + j] = D[(size_t)j * n + i];
    }
}

/* Quickselect (Wirth): the k-th smallest of a[0..m) (reorders a). */
static double select_kth(double *a, long m, long k) {
    long lo = 0, hi = m - 1;
    while (lo < hi) {
        double x = a[k];
        long i = lo, j = hi;
        do {
            while (a[i] < x) i++;
            while (x < a[j]) j--;
            if (i <= j) {
                double tmp = a[i];
                a[i++] = a[j];
                a[j--] = tmp;
            }
        } while (i <= j);
        if (j < k) lo = i;
        if (k < i) hi = j;
    }
    return a[k];
}

int uh_pred_median_distance(const double *Z, int n, int d, double *median, uh_error_t *err) {
    *median = 1.0;
    if (n < 2) return UH_OK;
    size_t m = (size_t)n * (n - 1) / 2;
    double *D = malloc((size_t)n * n * sizeof *D), *v = malloc(m * sizeof *v);
    if (!D || !v) {
        free(D);
        free(v);
        return uh_error_set(err, UH_ENOMEM, "kernel: out of memory for %d×%d distances", n, n);
    }
    train_sqdist(Z, n, d, D);
    /* Only distinct pairs count: a candidate measured twice should not shrink the bandwidth.
     * When all rows coincide any bandwidth fits the constant, and 1 is as good as any. */
    long k = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (D[(size_t)i * n + j] > 0) v[k++] = D[(size_t)i * n + j];
    if (k > 0) *median = sqrt(select_kth(v, k, k / 2));
    free(D);
    free(v);
    return UH_OK;
}

int uh_pred_kernel_grid(const double *Z, const double *t, int n, int d, double h0,
                        const double *factors, const double *lambdas, int ng, const double *Zq,
                        int m, double *pred, double *alpha, uh_error_t *err) {
    size_t nn = (size_t)n * n, mn = (size_t)m * n;
    double *D = malloc(nn * sizeof *D), *K = malloc(nn * sizeof *K), *A = malloc(nn * sizeof *A);
    double *Dq = m > 0 ? malloc(mn * sizeof *Dq) : NULL,
           *Kq = m > 0 ? malloc(mn * sizeof *Kq) : NULL;
    double *a = malloc((size_t)n * sizeof *a);
    double *qn = m > 0 ? malloc((size_t)m * sizeof *qn) : NULL,
           *zn = malloc((size_t)n * sizeof *zn);
    int rc = UH_OK;
    if (!D || !K || !A || !a || !zn || (m > 0 && (!Dq || !Kq || !qn))) {
        rc = uh_error_set(err, UH_ENOMEM, "kernel: out of memory for %d×%d kernel matrices", n, n);
        goto done;
    }
    train_sqdist(Z, n, d, D);
    if (m > 0) {
        for (int i = 0; i < n; i++)
            zn[i] = cblas_ddot(d, Z + (size_t)i * d, 1, Z + (size_t)i * d, 1);
        for (int i = 0; i < m; i++)
            qn[i] = cblas_ddot(d, Zq + (size_t)i * d, 1, Zq + (size_t)i * d, 1);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, d, -2.0, Zq, d, Z, d, 0.0, Dq,
                    n);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double v = Dq[(size_t)i * n + j] + qn[i] + zn[j];
                Dq[(size_t)i * n + j] = v > 0 ? v : 0;
            }
    }
    double built = -1;
    for (int g = 0; g < ng; g++) {
        if (factors[g] != built) {
            double h = factors[g] * h0, c = -0.5 / (h * h);
            for (size_t i = 0; i < nn; i++) K[i] = exp(c * D[i]);
            for (size_t i = 0; i < mn; i++) Kq[i] = exp(c * Dq[i]);
            built = factors[g];
        }
        memcpy(A, K, nn * sizeof *A);
        for (int i = 0; i < n; i++) A[(size_t)i * n + i] += n * lambdas[g];
        memcpy(a, t, (size_t)n * sizeof *a);
        int info = spd_solve(A, n, a);
        if (info != 0) {
            if (alpha) {
                rc = uh_error_set(err, UH_EINVAL,
                                  "kernel: K + nλI is not positive definite at λ = %g (info %d); "
                                  "use a larger λ",
                                  lambdas[g], info);
                goto done;
            }
            for (int i = 0; i < m; i++) pred[(size_t)g * m + i] = NAN;
            continue;
        }
        if (m > 0)
            cblas_dgemv(CblasRowMajor, CblasNoTrans, m, n, 1.0, Kq, n, a, 1, 0.0,
                        pred + (size_t)g * m, 1);
        if (alpha) memcpy(alpha, a, (size_t)n * sizeof *a);
    }
done:
    free(D);
    free(K);
    free(A);
    free(Dq);
    free(Kq);
    free(a);
    free(qn);
    free(zn);
    return rc;
}

double uh_pred_kernel_eval(const double *Z, const double *alpha, int n, int d, double h,
                           const double *z) {
    double c = -0.5 / (h * h), s = 0;
    for (int i = 0; i < n; i++) {
        const double *zi = Z + (size_t)i * d;
        double d2 = 0;
        for (int j = 0; j < d; j++) d2 += (z[j] - zi[j]) * (z[j] - zi[j]);
        s += alpha[i] * exp(c * d2);
    }
    return s;
}

/* tanh through one exp: the activations dominate an MLP fit's time and libm's tanh costs
 * several exps. Exact at ±∞ (exp overflows to inf or underflows to 0); near 0 the absolute
 * error stays at a few ulps of 1, which is all a squared-error fit can see. */
static inline double fast_tanh(double x) {
    return 1.0 - 2.0 / (1.0 + exp(2.0 * x));
}

size_t uh_pred_mlp_size(int hidden, int d) {
    return (size_t)hidden * d + 2 * (size_t)hidden + 1;
}

int uh_pred_mlp_train(const double *Z, const double *t, int n, int d, const uh_pred_params_t *hp,
                      uh_rng_t *rng, double *theta, uh_error_t *err) {
    const int H = hp->hidden;
    size_t P = uh_pred_mlp_size(H, d);
    /* One allocation for gradient, Adam moments, activations and output; the step loop
     * allocates nothing. */
    size_t total = 3 * P + (size_t)n * H + (size_t)n;
    double *buf = malloc(total * sizeof *buf);
    if (!buf)
        return uh_error_set(err, UH_ENOMEM, "mlp: out of memory for %d rows × %d hidden units", n,
                            H);
    memset(buf, 0, total * sizeof *buf);
    double *grad = buf, *m1 = grad + P, *m2 = m1 + P, *act = m2 + P, *g = act + (size_t)n * H;
    double *W1 = theta, *b1 = W1 + (size_t)H * d, *w2 = b1 + H, *b2 = w2 + H;
    double *gW1 = grad, *gb1 = gW1 + (size_t)H * d, *gw2 = gb1 + H, *gb2 = gw2 + H;

    /* LeCun-normal weights keep tanh out of saturation on standardised inputs; spread-out
     * biases place the units' transitions across the data rather than all at the origin. */
    double s1 = 1.0 / sqrt((double)d), s2 = 1.0 / sqrt((double)H);
    for (size_t i = 0; i < (size_t)H * d; i++) W1[i] = s1 * uh_rng_normal(rng);
    for (int j = 0; j < H; j++) b1[j] = 0.5 * uh_rng_normal(rng);
    for (int j = 0; j < H; j++) w2[j] = s2 * uh_rng_normal(rng);
    *b2 = 0;

    /* the weight decay is in the loss (weights only, not biases), so not Adam's */
    const double wd = hp->weight_decay;
    uh_adam_t adam = {.beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    for (int step = 0; step < hp->steps; step++) {
        /* Forward: act = tanh(Z W1ᵀ + b1), output g = act·w2 + b2. */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, H, d, 1.0, Z, d, W1, d, 0.0, act,
                    H);
        for (int i = 0; i < n; i++) {
            double *ai = act + (size_t)i * H;
            for (int j = 0; j < H; j++) ai[j] = fast_tanh(ai[j] + b1[j]);
        }
        cblas_dgemv(CblasRowMajor, CblasNoTrans, n, H, 1.0, act, H, w2, 1, 0.0, g, 1);
        /* Backward of (1/n)Σ(out − t)² + wd(‖W1‖² + ‖w2‖²): g becomes ∂L/∂out. */
        double sg = 0;
        for (int i = 0; i < n; i++) {
            g[i] = 2.0 * (g[i] + *b2 - t[i]) / n;
            sg += g[i];
        }
        *gb2 = sg;
        cblas_dgemv(CblasRowMajor, CblasTrans, n, H, 1.0, act, H, g, 1, 0.0, gw2, 1);
        for (int j = 0; j < H; j++) gw2[j] += 2.0 * wd * w2[j];
        /* act becomes ∂L/∂(pre-activation) = g w2ᵀ ∘ (1 − act²). */
        for (int j = 0; j < H; j++) gb1[j] = 0;
        for (int i = 0; i < n; i++) {
            double *ai = act + (size_t)i * H;
            for (int j = 0; j < H; j++) {
                ai[j] = g[i] * w2[j] * (1.0 - ai[j] * ai[j]);
                gb1[j] += ai[j];
            }
        }
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, d, n, 1.0, act, H, Z, d, 0.0, gW1,
                    d);
        for (size_t i = 0; i < (size_t)H * d; i++) gW1[i] += 2.0 * wd * W1[i];

        /* Adam with a cosine decay to a tenth of lr: the late small steps settle the fit
         * that the early large ones find. */
        adam.lr = hp->lr * (0.1 + 0.45 * (1.0 + cos(3.141592653589793 * step / hp->steps)));
        uh_adam_step_f64(theta, m1, m2, grad, P, &adam, step + 1);
    }
    free(buf);
    return UH_OK;
}

double uh_pred_mlp_eval(const double *theta, int hidden, int d, const double *z) {
    const double *W1 = theta, *b1 = W1 + (size_t)hidden * d, *w2 = b1 + hidden;
    double out = w2[hidden];
    for (int j = 0; j < hidden; j++) {
        const double *wj = W1 + (size_t)j * d;
        double a = b1[j];
        for (int k = 0; k < d; k++) a += wj[k] * z[k];
        out += w2[j] * fast_tanh(a);
    }
    return out;
}
