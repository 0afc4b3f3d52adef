/* uhnas — layer kernels: dense, conv2d (im2col + SGEMM), pooling, activations, fake
 * quantization, softmax cross-entropy. Shapes are documented in layers.h.
 *
 * Elementwise loops carry `omp simd`: at -O2, GCC's cheapest vectoriser cost model leaves
 * them scalar (no runtime alias checks), which made in-place relu 2× slower. The loops have
 * no cross-iteration dependences, and with -std=c11 nothing is fused into FMAs, so vector
 * and scalar code give the same bits. */
#include "layers.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

/* Sum of n floats with 16 independent partial sums, so the compiler can vectorise it
 * without reassociating anything (the order is fixed: results do not depend on threads). */
static float sum_f(const float *a, size_t n) {
    float acc[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) acc[j] += a[i + j];
    float s = 0.0f;
    for (; i < n; i++) s += a[i];
    for (int j = 0; j < 16; j++) s += acc[j];
    return s;
}

/* ---- GEMM ---- */

/* OpenBLAS's OpenMP build threads a call made outside an active parallel region on
 * omp_get_max_threads() threads, whatever openblas_set_num_threads said. Called inside a
 * region (active or not: a region has its own copy of the setting), this keeps the next call
 * on the calling thread. */
static void one_blas_thread(void) {
    if (omp_get_max_threads() > 1) omp_set_num_threads(1);
}

/* C [M × N] = op(A) · op(B) + beta·C, row-major; op(A) [M × K] is A, or Aᵀ when tA (A is then
 * [K × M]); likewise op(B) [K × N]. Done as a fixed number of one-thread GEMMs over blocks of
 * C's longer side, the count set by the shape alone, run on the threads there are: every
 * float is computed the same way on any number of threads, which OpenBLAS's own threading
 * does not give (it is off: uh_net_new). A block has at least NN_GEMM_MIN_SIDE rows or
 * columns and NN_GEMM_BLOCK_MACS multiply-adds, so that splitting costs one thread little. */
static void gemm(int tA, int tB, int M, int N, int K, const float *A, int lda, const float *B,
                 int ldb, float beta, float *C, int ldc) {
    const int cols = N >= M, side = cols ? N : M;
    long S = (long)M * N * K / NN_GEMM_BLOCK_MACS;
    if (S > side / NN_GEMM_MIN_SIDE) S = side / NN_GEMM_MIN_SIDE;
    if (S > NN_GEMM_SPLIT) S = NN_GEMM_SPLIT;
    while (S & (S - 1)) S &= S - 1; /* a power of two: whole blocks per thread on 2, 4, 8 */
    if (S < 1) S = 1;
    const int parallel = S > 1 && openblas_get_parallel() == OPENBLAS_OPENMP;
    const enum CBLAS_TRANSPOSE opA = tA ? CblasTrans : CblasNoTrans,
                               opB = tB ? CblasTrans : CblasNoTrans;
#pragma omp parallel for schedule(static) num_threads(parallel ? omp_get_max_threads() : 1)
    for (int s = 0; s < (int)S; s++) {
        /* block [lo, hi) of the split side, its ends on multiples of 16 (a kernel's tile) */
        const int lo = s ? (int)((long)side * s / S) & ~15 : 0;
        const int hi = s + 1 < S ? (int)((long)side * (s + 1) / S) & ~15 : side;
        one_blas_thread();
        if (cols)
            cblas_sgemm(CblasRowMajor, opA, opB, M, hi - lo, K, 1.0f, A, lda,
                        B + (tB ? (size_t)lo * ldb : (size_t)lo), ldb, beta, C + lo, ldc);
        else
            cblas_sgemm(CblasRowMajor, opA, opB, hi - lo, N, K, 1.0f,
                        A + (tA ? (size_t)lo : (size_t)lo * lda), lda, B, ldb, beta,
                        C + (size_t)lo * ldc, ldc);
    }
}

/* ---- dense ---- */

void dense_forward(float *z, const float *x, const float *w, const float *b, int N, int C, int OC) {
    /* z = bias broadcast, then z += x · wᵀ (one GEMM, beta = 1) */
#pragma omp parallel for schedule(static) if ((long)N * OC > NN_PAR_MIN)
    for (int n = 0; n < N; n++) memcpy(z + (size_t)n * OC, b, (size_t)OC * sizeof *b);
    gemm(0, 1, N, OC, C, x, C, w, C, 1.0f, z, OC);
}

void dense_backward(float *dx, float *dw, float *db, const float *dz, const float *x,
                    const float *w, int N, int C, int OC) {
    /* dw [OC × C] = dzᵀ [OC × N] · x [N × C] */
    gemm(1, 0, OC, C, N, dz, OC, x, C, 0.0f, dw, C);
    /* db [OC] = column sums of dz, samples in order */
    for (int oc = 0; oc < OC; oc++) db[oc] = 0.0f;
    for (int n = 0; n < N; n++) {
        const float *row = dz + (size_t)n * OC;
#pragma omp simd
        for (int oc = 0; oc < OC; oc++) db[oc] += row[oc];
    }
    /* dx [N × C] = dz [N × OC] · w [OC × C] */
    if (dx) gemm(0, 0, N, C, OC, dz, OC, w, C, 0.0f, dx, C);
}

/* ---- conv2d ---- */

/* Output positions o in [lo, hi) read input index o·S + off inside [0, size). */
static void window_range(int size, int S, int off, int n_out, int *lo, int *hi) {
    int a = off >= 0 ? 0 : (-off + S - 1) / S;
    int b = size - 1 - off < 0 ? 0 : (size - 1 - off) / S + 1;
    if (b > n_out) b = n_out;
    if (a > b) a = b;
    *lo = a, *hi = b;
}

void im2col(float *col, const float *x, int N, int n0, int nc, const nn_win_t *g) {
    const int K = g->K, KK = K * K, R = g->C * KK, OH = g->OH, OW = g->OW;
    const size_t P = (size_t)OH * OW, ncP = (size_t)nc * P, plane = (size_t)g->H * g->W;
#pragma omp parallel for collapse(2) schedule(static) if ((long)R * ncP > NN_PAR_MIN)
    for (int r = 0; r < R; r++) {
        for (int n = 0; n < nc; n++) {
            const int c = r / KK, ki = (r / K) % K, kj = r % K;
            const float *xp = x + ((size_t)c * N + n0 + n) * plane;
            float *cp = col + (size_t)r * ncP + (size_t)n * P;
            const int offx = kj - g->P;
            int lo, hi;
            window_range(g->W, g->S, offx, OW, &lo, &hi);
            for (int oh = 0; oh < OH; oh++) {
                float *row = cp + (size_t)oh * OW;
                const int iy = oh * g->S - g->P + ki;
                if (iy < 0 || iy >= g->H) {
                    memset(row, 0, (size_t)OW * sizeof *row);
                    continue;
                }
                const float *xr = xp + (size_t)iy * g->W; /* input row; ix = ow·S + offx */
                for (int ow = 0; ow < lo; ow++) row[ow] = 0.0f;
                if (g->S == 1) {
#pragma omp simd
                    for (int ow = lo; ow < hi; ow++) row[ow] = xr[ow + offx];
                } else {
                    for (int ow = lo; ow < hi; ow++) row[ow] = xr[ow * g->S + offx];
                }
                for (int ow = hi; ow < OW; ow++) row[ow] = 0.0f;
            }
        }
    }
}

void col2im(float *dx, const float *col, int N, int n0, int nc, const nn_win_t *g) {
    const int K = g->K, OH = g->OH, OW = g->OW;
    const size_t P = (size_t)OH * OW, ncP = (size_t)nc * P, plane = (size_t)g->H * g->W;
    /* one input plane per iteration: planes never share an element, so no races */
#pragma omp parallel for collapse(2) schedule(static) if ((long)g->C * K * K * ncP > NN_PAR_MIN)
    for (int c = 0; c < g->C; c++) {
        for (int n = 0; n < nc; n++) {
            float *xp = dx + ((size_t)c * N + n0 + n) * plane;
            memset(xp, 0, plane * sizeof *xp);
            for (int ki = 0; ki < K; ki++) {
                for (int kj = 0; kj < K; kj++) {
                    const int r = (c * K + ki) * K + kj, offx = kj - g->P;
                    const float *cp = col + (size_t)r * ncP + (size_t)n * P;
                    int lo, hi;
                    window_range(g->W, g->S, offx, OW, &lo, &hi);
                    for (int oh = 0; oh < OH; oh++) {
                        const int iy = oh * g->S - g->P + ki;
                        if (iy < 0 || iy >= g->H) continue;
                        const float *row = cp + (size_t)oh * OW;
                        float *xr = xp + (size_t)iy * g->W;
                        if (g->S == 1) {
#pragma omp simd
                            for (int ow = lo; ow < hi; ow++) xr[ow + offx] += row[ow];
                        } else {
                            for (int ow = lo; ow < hi; ow++) xr[ow * g->S + offx] += row[ow];
                        }
                    }
                }
            }
        }
    }
}

void conv2d_forward(float *z, float *col, const float *x, const float *w, const float *b, int N,
                    int chunk, const nn_win_t *g) {
    const int F = g->F, CKK = g->C * g->K * g->K;
    const size_t P = (size_t)g->OH * g->OW, NP = (size_t)N * P;
    for (int n0 = 0; n0 < N; n0 += chunk) {
        const int nc = N - n0 < chunk ? N - n0 : chunk;
        const int ncP = (int)(nc * P);
        im2col(col, x, N, n0, nc, g);
        /* z[:, block] = bias broadcast, then += w [F × CKK] · col [CKK × nc·P] (beta = 1) */
        float *zb = z + (size_t)n0 * P;
#pragma omp parallel for schedule(static) if ((long)F * ncP > NN_PAR_MIN)
        for (int f = 0; f < F; f++) {
            float *row = zb + (size_t)f * NP;
            const float bf = b[f];
#pragma omp simd
            for (int j = 0; j < ncP; j++) row[j] = bf;
        }
        gemm(0, 0, F, ncP, CKK, w, CKK, col, ncP, 1.0f, zb, (int)NP);
    }
}

/* dw [F × R] = beta·dw + a [F × L] · bᵀ [R × L] (row strides lda, ldb), for a thin result
 * and a long inner dimension: a conv layer's weight gradient, L = samples × pixels. OpenBLAS
 * runs this shape at ~10 GFLOP/s on one thread and slower on two, so L is cut into a fixed
 * number of ranges (set by L alone), each a one-thread GEMM (the OpenMP build of OpenBLAS
 * does not fork inside a parallel region; with another build the ranges run one after the
 * other) into its slice of part [NN_DW_SPLIT × F × R]; the slices are then added in order,
 * so the result does not depend on the thread count. */
static void gemm_nt_split(float *dw, const float *a, int lda, const float *b, int ldb, int F, int R,
                          int L, float beta, float *part) {
    int S = L / NN_DW_MIN_COLS;
    S = S < 1 ? 1 : S > NN_DW_SPLIT ? NN_DW_SPLIT : S;
    const size_t FR = (size_t)F * R;
    const int parallel = S > 1 && openblas_get_parallel() == OPENBLAS_OPENMP;
#pragma omp parallel for schedule(static) num_threads(parallel ? omp_get_max_threads() : 1)
    for (int s = 0; s < S; s++) {
        const int j0 = (int)((long)L * s / S), j1 = (int)((long)L * (s + 1) / S);
        one_blas_thread();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, F, R, j1 - j0, 1.0f, a + j0, lda,
                    b + j0, ldb, 0.0f, part + s * FR, R);
    }
    for (size_t i = 0; i < FR; i++) {
        float acc = beta == 0.0f ? 0.0f : beta * dw[i];
        for (int s = 0; s < S; s++) acc += part[s * FR + i];
        dw[i] = acc;
    }
}

void conv2d_backward(float *dx, float *dw, float *db, const float *dz, const float *x,
                     const float *w, float *col, float *part, int N, int chunk, int col_valid,
                     const nn_win_t *g) {
    const int F = g->F, CKK = g->C * g->K * g->K;
    const size_t P = (size_t)g->OH * g->OW, NP = (size_t)N * P;
    /* db [F] = row sums of dz [F × N·P] */
#pragma omp parallel for schedule(static) if ((long)F * NP > NN_PAR_MIN)
    for (int f = 0; f < F; f++) db[f] = sum_f(dz + (size_t)f * NP, NP);
    for (int n0 = 0; n0 < N; n0 += chunk) {
        const int nc = N - n0 < chunk ? N - n0 : chunk;
        const int ncP = (int)(nc * P);
        const float *dzb = dz + (size_t)n0 * P; /* [F × nc·P], leading dimension N·P */
        if (!col_valid) im2col(col, x, N, n0, nc, g);
        /* dw [F × CKK] (+)= dz block [F × nc·P] · colᵀ [nc·P × CKK] */
        const float beta = n0 == 0 ? 0.0f : 1.0f;
        if (F * CKK <= NN_DW_THIN)
            gemm_nt_split(dw, dzb, (int)NP, col, ncP, F, CKK, ncP, beta, part);
        else
            gemm(0, 1, F, CKK, ncP, dzb, (int)NP, col, ncP, beta, dw, CKK);
        if (dx) {
            /* dcol [CKK × nc·P] = wᵀ [CKK × F] · dz block [F × nc·P], into col (now unused) */
            gemm(1, 0, CKK, ncP, F, w, CKK, dzb, (int)NP, 0.0f, col, ncP);
            col2im(dx, col, N, n0, nc, g);
        }
    }
}

/* ---- layout ---- */

void swap_outer(float *dst, const float *src, int A, int B, int P) {
#pragma omp parallel for collapse(2) schedule(static) if ((long)A * B * P > NN_PAR_MIN)
    for (int b = 0; b < B; b++)
        for (int a = 0; a < A; a++)
            memcpy(dst + ((size_t)b * A + a) * P, src + ((size_t)a * B + b) * P,
                   (size_t)P * sizeof *dst);
}

/* ---- pooling ---- */

void maxpool_forward(float *y, int32_t *arg, const float *x, int N, const nn_win_t *g) {
    const int K = g->K, S = g->S, H = g->H, W = g->W, OH = g->OH, OW = g->OW;
    const long planes = (long)N * g->C;
#pragma omp parallel for schedule(static) if (planes * H * W > NN_PAR_MIN)
    for (long pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * H * W;
        float *yp = y + pl * OH * OW;
        int32_t *ap = arg + pl * OH * OW;
        for (int oh = 0; oh < OH; oh++) {
            for (int ow = 0; ow < OW; ow++) {
                int best_i = oh * S * W + ow * S;
                float best = xp[best_i];
                for (int ki = 0; ki < K; ki++) {
                    for (int kj = 0; kj < K; kj++) {
                        /* selects, not branches: which element wins is data, not pattern */
                        const int i = (oh * S + ki) * W + ow * S + kj, gt = xp[i] > best;
                        best = gt ? xp[i] : best;
                        best_i = gt ? i : best_i;
                    }
                }
                yp[oh * OW + ow] = best;
                ap[oh * OW + ow] = best_i;
            }
        }
    }
}

void maxpool_backward(float *dx, const float *dy, const int32_t *arg, int N, const nn_win_t *g) {
    const int H = g->H, W = g->W, OH = g->OH, OW = g->OW;
    const long planes = (long)N * g->C;
#pragma omp parallel for schedule(static) if (planes * H * W > NN_PAR_MIN)
    for (long pl = 0; pl < planes; pl++) {
        float *xp = dx + pl * H * W;
        const float *yp = dy + pl * OH * OW;
        const int32_t *ap = arg + pl * OH * OW;
        memset(xp, 0, (size_t)H * W * sizeof *xp);
        for (int o = 0; o < OH * OW; o++) xp[ap[o]] += yp[o];
    }
}

void avgpool_forward(float *y, const float *x, int N, const nn_win_t *g) {
    const int K = g->K, S = g->S, H = g->H, W = g->W, OH = g->OH, OW = g->OW;
    const long planes = (long)N * g->C;
    const float inv = 1.0f / (float)(K * K);
#pragma omp parallel for schedule(static) if (planes * H * W > NN_PAR_MIN)
    for (long pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * H * W;
        float *yp = y + pl * OH * OW;
        for (int oh = 0; oh < OH; oh++) {
            for (int ow = 0; ow < OW; ow++) {
                float s = 0.0f;
                for (int ki = 0; ki < K; ki++)
                    for (int kj = 0; kj < K; kj++) s += xp[(oh * S + ki) * W + ow * S + kj];
                yp[oh * OW + ow] = s * inv;
            }
        }
    }
}

void avgpool_backward(float *dx, const float *dy, int N, const nn_win_t *g) {
    const int K = g->K, S = g->S, H = g->H, W = g->W, OH = g->OH, OW = g->OW;
    const long planes = (long)N * g->C;
    const float inv = 1.0f / (float)(K * K);
#pragma omp parallel for schedule(static) if (planes * H * W > NN_PAR_MIN)
    for (long pl = 0; pl < planes; pl++) {
        float *xp = dx + pl * H * W;
        const float *yp = dy + pl * OH * OW;
        memset(xp, 0, (size_t)H * W * sizeof *xp);
        for (int oh = 0; oh < OH; oh++) {
            for (int ow = 0; ow < OW; ow++) {
                const float d = yp[oh * OW + ow] * inv;
                for (int ki = 0; ki < K; ki++)
                    for (int kj = 0; kj < K; kj++) xp[(oh * S + ki) * W + ow * S + kj] += d;
            }
        }
    }
}

/* ---- activations ---- */

#define LEAKY_SLOPE 0.01f

/* tanh as Eigen's rational approximation (generic_fast_tanh_float in Eigen 3.4,
 * src/Core/MathFunctionsImpl.h: odd degree-13 numerator, even degree-6 denominator, fitted
 * on [-7.9, 7.9], beyond which tanhf rounds to ±1). Plain arithmetic and selects, so `omp
 * simd` vectorises it; glibc's tanhf and expf were calls per element and 20 % of training a
 * tanh conv net. Error against tanh in double: below 3e-7 absolute (tests/test_nn_train.c).
 * NaN stays NaN. */
static inline float tanh_fast(float x) {
    const float clamp = 7.90531110763549805f;
    const float xc = x > clamp ? clamp : x < -clamp ? -clamp : x;
    const float x2 = xc * xc;
    float p = -2.76076847742355e-16f;
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    float q = 1.19825839466702e-06f;
    q = q * x2 + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    /* below 4e-4, tanh(x) = x in float (Eigen's cut-off) */
    return fabsf(x) < 0.0004f ? x : xc * p / q;
}

/* σ(x) = (1 + tanh(x/2)) / 2: absolute error below 2e-7, which is what an activation needs
 * (relative accuracy near 0, where σ < 1e-7, is lost: the result there is 0 or tiny). */
static inline float sigmoid_fast(float x) {
    return 0.5f + 0.5f * tanh_fast(0.5f * x);
}

void act_forward(float *a, const float *z, size_t n, uh_act_t act) {
    const long cnt = (long)n;
    switch (act) {
    case UH_ACT_NONE:
        if (a != z) memcpy(a, z, n * sizeof *a);
        break;
    /* relu and leaky_relu run in place on a, usually the very buffer z */
    case UH_ACT_RELU:
        if (a != z) memcpy(a, z, n * sizeof *a);
#pragma omp parallel for simd schedule(static) if (cnt > NN_PAR_MIN)
        for (long i = 0; i < cnt; i++) a[i] = a[i] > 0.0f ? a[i] : 0.0f;
        break;
    case UH_ACT_LEAKY_RELU:
        if (a != z) memcpy(a, z, n * sizeof *a);
#pragma omp parallel for simd schedule(static) if (cnt > NN_PAR_MIN)
        for (long i = 0; i < cnt; i++) a[i] = a[i] > 0.0f ? a[i] : LEAKY_SLOPE * a[i];
        break;
    case UH_ACT_TANH:
#pragma omp parallel for simd schedule(static) if (cnt > NN_PAR_MIN / 8)
        for (long i = 0; i < cnt; i++) a[i] = tanh_fast(z[i]);
        break;
    case UH_ACT_SIGMOID:
#pragma omp parallel for simd schedule(static) if (cnt > NN_PAR_MIN / 8)
        for (long i = 0; i < cnt; i++) a[i] = sigmoid_fast(z[i]);
        break;
    case UH_ACT_ABS:
#pragma omp parallel for simd schedule(static) if (cnt > NN_PAR_MIN)
        for (long i = 0; i < cnt; i++) a[i] = fabsf(z[i]);
        break;
    case UH_ACT_SQUARE:
#pragma omp parallel for simd schedule(static) if (cnt > NN_PAR_MIN)
        for (long i = 0; i < cnt; i++) a[i] = z[i] * z[i];
        break;
    default:
        break;
    }
}

void act_backward(float *d, const float *z, const float *a, size_t n, uh_act_t act) {
    const long cnt = (long)n;
    switch (act) {
    case UH_ACT_NONE:
        break;
    case UH_ACT_RELU:
#pragma omp parallel for simd schedule(static) if (cnt > NN_PAR_MIN)
        for (long i = 0; i < cnt; i++) d[i] = z[i] > 0.0f ? d[i] : 0.0f;
        break;
    case UH_ACT_LEAKY_RELU:
#pragma omp parallel for simd schedule(static) if (cnt > NN_PAR_MIN)
        for (long i = 0; i < cnt; i++) d[i] = z[i] > 0.0f ? d[i] : LEAKY_SLOPE * d[i];
        break;
    case UH_ACT_TANH:
#pragma omp parallel for simd schedule(static) if (cnt > NN_PAR_MIN / 8)
        for (long i = 0; i < cnt; i++) {
            const float t = a ? a[i] : tanh_fast(z[i]);
            d[i] *= 1.0f - t * t;
        }
        break;
    case UH_ACT_SIGMOID:
#pragma omp parallel for simd schedule(static) if (cnt > NN_PAR_MIN / 8)
        for (long i = 0; i < cnt; i++) {
            const float s = a ? a[i] : sigmoid_fast(z[i]);
            d[i] *= s * (1.0f - s);
        }
        break;
    case UH_ACT_ABS:
#pragma omp parallel for simd schedule(static) if (cnt > NN_PAR_MIN)
        for (long i = 0; i < cnt; i++) d[i] = z[i] > 0.0f ? d[i] : (z[i] < 0.0f ? -d[i] : 0.0f);
        break;
    case UH_ACT_SQUARE:
#pragma omp parallel for simd schedule(static) if (cnt > NN_PAR_MIN)
        for (long i = 0; i < cnt; i++) d[i] *= 2.0f * z[i];
        break;
    default:
        break;
    }
}

/* ---- fake quantization ---- */

/* roundf (halves away from zero), written so that `omp simd` vectorises it: truncf is one
 * instruction, v - t is exact (t is v with its fraction cleared), so the result equals
 * roundf's bit for bit, NaN and infinities included (tested against roundf). GCC calls
 * roundf through the PLT in a loop otherwise: 12 % of a search's time went there. */
static inline float round_away(float v) {
    const float t = truncf(v), half = fabsf(v - t) >= 0.5f ? 1.0f : 0.0f;
    return t + copysignf(half, v);
}

void fake_quant(float *x, int C, int N, size_t P, int bits) {
    const float levels = (float)((1 << (bits - 1)) - 1);
    const size_t NP = (size_t)N * P;
#pragma omp parallel for schedule(static) if ((long)C * (long)NP > NN_PAR_MIN)
    for (int n = 0; n < N; n++) {
        /* max |v| as a select: NaNs are skipped exactly as fmaxf skips them, but it
         * vectorises (fmaxf was a call per element) */
        float m = 0.0f;
        for (int c = 0; c < C; c++) {
            const float *v = x + c * NP + (size_t)n * P;
#pragma omp simd reduction(max : m)
            for (size_t i = 0; i < P; i++) {
                const float a = fabsf(v[i]);
                m = a > m ? a : m;
            }
        }
        if (!(m > 0.0f) || !isfinite(m)) continue; /* all zero (or broken): leave as is */
        const float scale = m / levels, inv = levels / m;
        for (int c = 0; c < C; c++) {
            float *v = x + c * NP + (size_t)n * P;
#pragma omp simd
            for (size_t i = 0; i < P; i++) v[i] = round_away(v[i] * inv) * scale;
        }
    }
}

/* ---- loss ---- */

float softmax_xent(float *dlogits, const float *logits, const uint8_t *y, int N, int C) {
    double loss = 0.0;
    const float invN = 1.0f / (float)N;
    for (int n = 0; n < N; n++) {
        const float *z = logits + (size_t)n * C;
        float *d = dlogits + (size_t)n * C;
        float m = z[0];
        for (int c = 1; c < C; c++) m = fmaxf(m, z[c]);
        double s = 0.0;
        for (int c = 0; c < C; c++) {
            d[c] = expf(z[c] - m);
            s += d[c];
        }
        loss += log(s) - (double)(z[y[n]] - m);
        const float inv_s = (float)(1.0 / s);
        for (int c = 0; c < C; c++) d[c] = d[c] * inv_s * invN;
        d[y[n]] -= invN;
    }
    return (float)(loss / N);
}
