/* uhnas — the training engine.
 *
 * A network is built from a resolved architecture. All buffers (parameters, gradients,
 * optimizer state, activations for max_batch samples, im2col scratch) are allocated once in
 * uh_net_new; training and inference allocate nothing. Dense and conv layers run on
 * OpenBLAS SGEMM (conv through im2col); elementwise work uses OpenMP.
 *
 * Parameters live in one flat float array, layer by layer: weights then biases. A dense
 * layer's weights are [out][in] and a conv layer's [filters][in_c][k][k], row-major (the
 * layout PyTorch uses), so weights move between tools unchanged.
 *
 * Layers with "bits" run fake-quantized: weights (per-tensor symmetric, max-abs scale) and
 * the layer's outputs after activation are rounded to 2^(bits-1)-1 levels in the forward
 * pass; the backward pass treats rounding as identity (straight-through estimator).
 *
 * Determinism: the same seed and thread count give the same weights bit for bit on the same
 * CPU and BLAS build (OpenBLAS picks its SGEMM kernel for the CPU at run time). */
#ifndef UHNAS_NN_H
#define UHNAS_NN_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "uhnas/arch.h"
#include "uhnas/data.h"
#include "uhnas/error.h"
#include "uhnas/rng.h"

typedef struct uh_net uh_net_t;

/* options */

typedef enum { UH_OPT_SGD, UH_OPT_ADAM } uh_optimizer_t;

typedef struct {
    uh_optimizer_t optimizer;
    float lr;           /* learning rate */
    float momentum;     /* SGD momentum (heavy ball, PyTorch convention) */
    float beta1, beta2; /* Adam */
    float eps;          /* Adam */
    float weight_decay; /* L2, added to the gradient (PyTorch's SGD/Adam convention) */
    int batch;          /* mini-batch size */
    int epochs;
    /* the index of the first of these epochs: training continued from a run's weights after
     * first_epoch epochs sees the data order and training noise that run would have seen
     * next (the optimizer's state starts afresh) */
    int first_epoch;
    uint64_t seed; /* shuffling order; weight init uses the seed given to uh_net_new */
    int threads;   /* 0 = leave OpenMP's default */
    /* When set, the threads the next mini-batch may use, read before each one (> 0): a
     * search gives a candidate the cores its neighbours have finished with. The floats do
     * not depend on the thread count, so neither does the result. */
    const atomic_int *threads_live;
} uh_train_opts_t;

/* SGD, lr 0.05, momentum 0.9, batch 128, 1 epoch, seed 1 (Adam defaults: lr 1e-3,
 * betas 0.9/0.999, eps 1e-8 — used when optimizer is switched to Adam and lr left at 0). */
void uh_train_opts_default(uh_train_opts_t *opts);

/* noise hook: how later modules (hardware backends) make training noise-aware and
 * inference noisy, without the engine knowing any physics. */

/* `layer` is the 0-based index into arch->layers (flatten and pool layers included, though
 * only dense and conv2d layers are ever passed). */
typedef struct {
    /* Perturbs a copy of a dense/conv layer's weights (rows × cols, row-major) in place.
     * Training calls it once per mini-batch; evaluation once per uh_net_evaluate call
     * (one Monte-Carlo sample of the hardware). The gradient computed through the
     * perturbed weights is applied to the clean ones. May be NULL. */
    void (*perturb_weights)(void *ctx, int layer, float *w, int rows, int cols, uh_rng_t *rng);
    /* Perturbs a dense/conv layer's pre-activation outputs (count values) in place, every
     * forward pass. Gradients pass straight through. May be NULL. */
    void (*perturb_outputs)(void *ctx, int layer, float *z, size_t count, uh_rng_t *rng);
    void *ctx;
} uh_noise_t;

/* lifecycle */

/* Builds a network for arch (which must be resolved) that can run batches of up to
 * max_batch samples; weights are initialised from seed (He-uniform for ReLU-like
 * activations, Xavier-uniform otherwise; biases zero). */
/* w[0..n) quantized as a layer with "bits" quantizes its weights in the forward pass: the
 * symmetric grid of 2^(bits-1) − 1 steps per sign scaled to max |w|, halves away from zero
 * (all zero stays zero). What an export folds into a network's weights. */
void uh_fake_quant(float *w, size_t n, int bits);

/* The OpenBLAS kernels this process computes with ("Haswell", "SkylakeX", ...: chosen for the
 * CPU when the library loads; OPENBLAS_CORETYPE=NAME chooses): a trained network's last digits,
 * so a run's rows, depend on them (docs/user-guide.md, "Reproducibility"). */
const char *uh_nn_blas_kernels(void);

uh_net_t *uh_net_new(const uh_arch_t *arch, int max_batch, uint64_t seed, uh_error_t *err);
void uh_net_free(uh_net_t *net);

const uh_arch_t *uh_net_arch(const uh_net_t *net);
size_t uh_net_n_params(const uh_net_t *net);
float *uh_net_params(uh_net_t *net);
float *uh_net_grads(uh_net_t *net);
/* Offsets of layer i's weights and biases inside the flat array (-1 when it has none). */
long uh_net_weight_offset(const uh_net_t *net, int layer);
long uh_net_bias_offset(const uh_net_t *net, int layer);

/* Sets (or clears, with NULL) the noise hook. noise must outlive its use. */
void uh_net_set_noise(uh_net_t *net, const uh_noise_t *noise, uint64_t noise_seed);

/* compute */

/* Forward pass of n <= max_batch samples (x: n × c×h×w). Returns a pointer to the n ×
 * n_classes logits inside the network (valid until the next call), or NULL on bad n. */
const float *uh_net_forward(uh_net_t *net, const float *x, int n);

/* Forward + softmax cross-entropy + backward: fills uh_net_grads (overwritten, not
 * accumulated) and returns the mean loss over the n samples. */
float uh_net_loss_grad(uh_net_t *net, const float *x, const uint8_t *y, int n);

/* One optimizer step using the current gradients. */
void uh_net_step(uh_net_t *net, const uh_train_opts_t *opts);

/* the optimizer kernel */

/* Adam (Kingma & Ba 2015) in PyTorch's form (torch.optim.Adam, amsgrad off), shared by the
 * networks and the predictors' MLP. (The built-in language model's AdamW, uhnas/gpt.h, keeps
 * llm.c's form: its rounding is part of the runs it has made.) */
typedef struct {
    double lr, beta1, beta2, eps;
    double weight_decay; /* L2, added to the gradient */
} uh_adam_t;

/* Step t >= 1 over n parameters p, with moments m and v (zero before step 1) and gradient g:
 *   g' = g + wd·p;  m ← b1·m + (1 − b1)·g';  v ← b2·v + (1 − b2)·g'²;
 *   p ← p − lr/(1 − b1ᵗ) · m / (√v / √(1 − b2ᵗ) + eps)
 * Elementwise, so the thread count never changes a result. */
void uh_adam_step(float *p, float *m, float *v, const float *g, size_t n, const uh_adam_t *o,
                  long t);
/* The same in double precision. */
void uh_adam_step_f64(double *p, double *m, double *v, const double *g, size_t n,
                      const uh_adam_t *o, long t);

/* training and evaluation */

typedef struct {
    int epochs_done;
    float final_loss;     /* mean training loss over the last epoch */
    double train_seconds; /* wall time spent training */
} uh_train_result_t;

/* Called after each mini-batch; return non-zero to stop training early. */
typedef int (*uh_progress_fn)(void *ctx, int epoch, int batch, int n_batches, float loss);

/* Trains for opts->epochs over ds, reshuffling each epoch (seeded by opts->seed). */
int uh_net_train(uh_net_t *net, const uh_dataset_t *ds, const uh_train_opts_t *opts,
                 uh_progress_fn progress, void *progress_ctx, uh_train_result_t *result,
                 uh_error_t *err);

/* Fraction of ds classified correctly (argmax of logits). With a noise hook set, the
 * weights are perturbed once for this call (one Monte-Carlo sample, stream sample_id). */
int uh_net_evaluate(uh_net_t *net, const uh_dataset_t *ds, uint64_t sample_id, double *accuracy,
                    uh_error_t *err);

#endif
