/* uhnas — the training engine's kernels (internal to src/nn).
 *
 * Each layer is a pair of plain functions, X_forward / X_backward, on raw pointers with
 * explicit sizes; the comment above each gives the shapes. A dense layer's activations are
 * [N × units]; spatial ones (conv, pool) are channel-major [C × N × H×W]. Scratch buffers are
 * passed in by the caller, which sizes them once per network: nothing here allocates.
 *
 * Threading: OpenMP over independent outputs only (samples, channels, planes), with static
 * schedules, so every float is computed by the same sequence of operations whatever the
 * thread count. No float is ever reduced across threads. */
#ifndef UHNAS_NN_LAYERS_H
#define UHNAS_NN_LAYERS_H

#include <stddef.h>
#include <stdint.h>

#include "uhnas/arch.h"

/* Loops over fewer values than this run on one thread: below it, waking the second thread
 * costs more than it saves (measured on 2 cores: a fork/join is a few microseconds). */
#define NN_PAR_MIN 16384

/* Every other GEMM is cut into at most NN_GEMM_SPLIT blocks (a power of two) of at least
 * NN_GEMM_MIN_SIDE rows or columns and NN_GEMM_BLOCK_MACS multiply-adds (gemm in layers.c).
 * Measured with bench_nn on a 2-core machine (MLP 784-256-128-10, one epoch): 0.61 s on one
 * thread against 0.60 s uncut, 0.43 s on two; blocks of 2^21 multiply-adds or 64 columns
 * cost one thread 7 %. */
#define NN_GEMM_SPLIT 8
#define NN_GEMM_MIN_SIDE 128
#define NN_GEMM_BLOCK_MACS (1L << 22)

/* A conv weight gradient with at most NN_DW_THIN values is computed as up to NN_DW_SPLIT
 * one-thread GEMMs over ranges of at least NN_DW_MIN_COLS columns (see conv2d_backward). */
#define NN_DW_THIN 16384
#define NN_DW_SPLIT 16
#define NN_DW_MIN_COLS 2048

/* Geometry of a sliding-window layer (conv2d or pool): input C×H×W, F output channels
 * (= C for pooling), window K×K, stride S, zero padding P (0 for pooling), output OH×OW. */
typedef struct {
    int C, H, W;
    int F, K, S, P;
    int OH, OW;
} nn_win_t;

/* dense */

/* x [N × C], w [OC × C], b [OC] -> z [N × OC] */
void dense_forward(float *z, const float *x, const float *w, const float *b, int N, int C, int OC);
/* dz [N × OC] -> dw [OC × C], db [OC] (both overwritten), dx [N × C] (overwritten; NULL skips
 * the input gradient, which the first layer never needs). */
void dense_backward(float *dx, float *dw, float *db, const float *dz, const float *x,
                    const float *w, int N, int C, int OC);

/* conv2d, as im2col + one SGEMM per block of samples. Spatial tensors are channel-major,
 * [C × N × H×W] ("CNHW"), so a conv layer's GEMM output [F × N·OH·OW] is its output tensor
 * as is: no permute, no extra pass. */

/* x [C × N × H×W] -> col [C·K·K × nc·OH·OW] for samples n0..n0+nc: column
 * (n-n0)·OH·OW + oh·OW + ow holds the window under output pixel (oh, ow) of sample n, row
 * (c·K + ki)·K + kj its element (zero in the padding). */
void im2col(float *col, const float *x, int N, int n0, int nc, const nn_win_t *g);
/* The adjoint: dx [C × N × H×W] samples n0..n0+nc = sums of col's entries over where they
 * came from (overwritten, not accumulated). */
void col2im(float *dx, const float *col, int N, int n0, int nc, const nn_win_t *g);
/* x [C × N × H×W], w [F × C·K·K], b [F] -> z [F × N × OH×OW].
 * Samples go through in blocks of `chunk`; col [C·K·K × chunk·OH·OW] is scratch, and holds
 * im2col(x) of the whole batch afterwards when chunk >= N. */
void conv2d_forward(float *z, float *col, const float *x, const float *w, const float *b, int N,
                    int chunk, const nn_win_t *g);
/* dz [F × N × OH×OW] -> dw [F × C·K·K], db [F] (overwritten), dx [C × N × H×W] (NULL:
 * skipped). col_valid: col already holds im2col(x) of the whole batch (kept from the forward
 * pass); otherwise it is recomputed block by block. col is clobbered. part: scratch of
 * NN_DW_SPLIT·F·C·K·K floats when F·C·K·K <= NN_DW_THIN (else unused, may be NULL). */
void conv2d_backward(float *dx, float *dw, float *db, const float *dz, const float *x,
                     const float *w, float *col, float *part, int N, int chunk, int col_valid,
                     const nn_win_t *g);

/* layout changes between NCHW ([N × C × P], what dense layers and the data use) and CNHW */

/* src [A × B × P] -> dst [B × A × P]: the two outer axes swapped */
void swap_outer(float *dst, const float *src, int A, int B, int P);
/* src [N × C × P] -> dst [C × N × P] */
static inline void nchw_to_cnhw(float *dst, const float *src, int N, int C, int P) {
    swap_outer(dst, src, N, C, P);
}
/* src [C × N × P] -> dst [N × C × P] */
static inline void cnhw_to_nchw(float *dst, const float *src, int N, int C, int P) {
    swap_outer(dst, src, C, N, P);
}

/* pooling (no padding; windows may overlap when S < K). Works plane by plane, so on
 * CNHW and NCHW alike: x [N·C planes × H×W] -> y [N·C planes × OH×OW]. */

/* arg [N·C × OH×OW] = index of the max inside its input plane (the first one on ties) */
void maxpool_forward(float *y, int32_t *arg, const float *x, int N, const nn_win_t *g);
/* dy [N·C × OH×OW] -> dx [N·C × H×W] (overwritten) */
void maxpool_backward(float *dx, const float *dy, const int32_t *arg, int N, const nn_win_t *g);
void avgpool_forward(float *y, const float *x, int N, const nn_win_t *g);
void avgpool_backward(float *dx, const float *dy, int N, const nn_win_t *g);

/* activations, elementwise over n values */

/* z -> a = act(z); a may equal z */
void act_forward(float *a, const float *z, size_t n, uh_act_t act);
/* d = d · act'(z), in place (d is the gradient w.r.t. the output on entry, w.r.t. z on
 * return). a = act(z) exactly, used by tanh and sigmoid to skip recomputing it; NULL when
 * a is not exact (quantized). For relu and leaky_relu z may hold the outputs instead: they
 * have the same sign. */
void act_backward(float *d, const float *z, const float *a, size_t n, uh_act_t act);

/* fake quantization */

/* x [C × N × P]: rounds each sample's C·P values to the symmetric grid of 2^(bits-1)-1
 * steps per sign, scaled to that sample's max |value| (all zero stays zero). Dense
 * outputs are C = 1; a weight tensor is C = N = 1. */
void fake_quant(float *x, int C, int N, size_t P, int bits);

/* loss */

/* logits [N × C], y [N] -> dlogits [N × C] = (softmax - onehot) / N; returns the mean
 * cross-entropy. Stable: logits are shifted by their max before exp. */
float softmax_xent(float *dlogits, const float *logits, const uint8_t *y, int N, int C);

/* optimizers (PyTorch conventions), elementwise over n parameters; Adam is public
 * (uh_adam_step in uhnas/nn.h), since the language model and the predictors use it too */

/* g' = g + wd·p; v = momentum·v + g'; p -= lr·v (momentum 0: p -= lr·g') */
void sgd_step(float *p, float *v, const float *g, size_t n, float lr, float momentum, float wd);

#endif
