/* uhnas — evaluating one candidate: noise-aware training on the backend, then clean and
 * Monte-Carlo noisy accuracy on held-out data, and energy, latency and area per inference.
 * The same function serves the search, `uhnas eval` and (later) remote workers, so a
 * candidate means the same thing everywhere. */
#ifndef UHNAS_EVALUATE_H
#define UHNAS_EVALUATE_H

#include "uhnas/arch.h"
#include "uhnas/backend.h"
#include "uhnas/data.h"
#include "uhnas/nn.h"

typedef struct {
    uh_train_opts_t train; /* epochs, batch, optimizer, lr...; train.seed is overridden */
    /* weights to continue training from (after train.first_epoch epochs), or NULL: a fresh
     * network initialised from the seed */
    const float *start_weights;
    size_t n_start_weights;
    int mc;                  /* Monte-Carlo hardware samples for the noisy accuracy */
    int noise_aware;         /* train with the backend's training-time noise model */
    uh_progress_fn progress; /* optional, called after each training batch */
    void *progress_ctx;
} uh_eval_config_t;

typedef struct {
    double accuracy;       /* clean, on the held-out set */
    double noisy_accuracy; /* mean over mc hardware samples */
    double noisy_std;
    double energy_nj;
    double latency_ns; /* the backend's latency and area for arch (uh_backend_energy) */
    double area_mm2;
    double train_seconds;
    float final_loss;
    long params, macs;
} uh_eval_result_t;

/* Trains arch (seeded by seed: weights, shuffling and noise) on train and measures it on
 * held_out. When weights is not NULL it receives a malloc'd copy of the trained parameters
 * (*n_weights floats; caller frees). Violations of the backend's constraints are an
 * UH_EINVAL error listing the first one: callers check before spending a training run. */
int uh_evaluate(const uh_backend_t *backend, const uh_arch_t *arch, const uh_dataset_t *train,
                const uh_dataset_t *held_out, const uh_eval_config_t *cfg, uint64_t seed,
                uh_eval_result_t *out, float **weights, size_t *n_weights, uh_error_t *err);

#endif
