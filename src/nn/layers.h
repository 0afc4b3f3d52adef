/* uhnas — the training engine's kernels (internal to src/nn).
 *
 * Each layer is a pair of plain functions, X_forward / X_backward, on raw pointers with
 * explicit sizes; the comment above each gives the shapes. Tensors are NCHW (a dense layer's
 * activations are N × units). Scratch buffers are passed in by the caller, which sizes them
 * once per network: nothing here allocates.
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

/* conv2d, as im2col + one SGEMM per block of samples */

/* x [N × C×H×W] -> col [C·K·K × N·OH·OW]: column n·OH·OW + oh·OW + ow holds the window under
 * output pixel (oh, ow) of sample n, row (c·K + ki)·K + kj its element (zero in padding). */
void im2col(float *col, const float *x, int N, const nn_win_t *g);
/* The adjoint of im2col: dx [N × C×H×W] = sum of col's entries over where they came from
 * (dx is overwritten, not accumulated). */
void col2im(float *dx, const float *col, int N, const nn_win_t *g);
/* x [N × C×H×W], w [F × C·K·K], b [F] -> z [N × F×OH×OW].
 * Samples go through in blocks of `chunk`: col [C·K·K × chunk·OH·OW] and tmp
 * [F × chunk·OH·OW] are scratch. When chunk >= N, col holds im2col(x) afterwards. */
void conv2d_forward(float *z, float *col, float *tmp, const float *x, const float *w,
                    const float *b, int N, int chunk, const nn_win_t *g);
/* dz [N × F×OH×OW] -> dw [F × C·K·K], db [F] (overwritten), dx [N × C×H×W] (NULL: skipped).
 * col_valid: col already holds im2col(x) of the whole batch (kept from the forward pass);
 * otherwise it is recomputed block by block. col and tmp are clobbered. */
void conv2d_backward(float *dx, float *dw, float *db, const float *dz, const float *x,
                     const float *w, float *col, float *tmp, int N, int chunk, int col_valid,
                     const nn_win_t *g);

/* pooling (no padding; windows may overlap when S < K) */

/* x [N × C×H×W] -> y [N × C×OH×OW]; arg [N × C×OH×OW] = index of the max inside its input
 * plane (first one on ties) */
void maxpool_forward(float *y, int32_t *arg, const float *x, int N, const nn_win_t *g);
/* dy [N × C×OH×OW] -> dx [N × C×H×W] (overwritten) */
void maxpool_backward(float *dx, const float *dy, const int32_t *arg, int N, const nn_win_t *g);
void avgpool_forward(float *y, const float *x, int N, const nn_win_t *g);
void avgpool_backward(float *dx, const float *dy, int N, const nn_win_t *g);

/* activations, elementwise over n values */

/* z -> a = act(z); a may equal z */
void act_forward(float *a, const float *z, size_t n, uh_act_t act);
/* dz = da · act'(z), in place (dz may equal da). a = act(z) exactly, used by tanh and
 * sigmoid to skip recomputing it; pass NULL when a is not exact (quantized) */
void act_backward(float *dz, const float *da, const float *z, const float *a, size_t n,
                  uh_act_t act);

/* fake quantization */

/* Rounds each of `rows` vectors of `cols` values to the symmetric grid of 2^(bits-1)-1
 * steps per sign scaled to the vector's max |value| (all zero stays zero). */
void fake_quant_rows(float *x, int rows, size_t cols, int bits);

/* loss */

/* logits [N × C], y [N] -> dlogits [N × C] = (softmax - onehot) / N; returns the mean
 * cross-entropy. Stable: logits are shifted by their max before exp. */
float softmax_xent(float *dlogits, const float *logits, const uint8_t *y, int N, int C);

/* optimizers (PyTorch conventions), elementwise over n parameters */

/* g' = g + wd·p; v = momentum·v + g'; p -= lr·v (momentum 0: p -= lr·g') */
void sgd_step(float *p, float *v, const float *g, size_t n, float lr, float momentum, float wd);
/* step t >= 1: g' = g + wd·p; m = b1·m + (1-b1)·g'; v = b2·v + (1-b2)·g'²;
 * p -= lr/(1-b1^t) · m / (sqrt(v)/sqrt(1-b2^t) + eps) */
void adam_step(float *p, float *m, float *v, const float *g, size_t n, float lr, float b1, float b2,
               float eps, float wd, long t);

#endif
