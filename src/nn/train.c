/* uhnas — the epoch loop and evaluation.
 *
 * Each epoch visits the samples in an order shuffled by (opts->seed, epoch index counted from
 * opts->first_epoch), gathers every
 * mini-batch (the last, partial one included) into the network's preallocated buffer and
 * takes one optimizer step on it. Nothing is allocated inside the loop: the index array is
 * allocated once per uh_net_train call. */
#include "net.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

void uh_train_opts_default(uh_train_opts_t *opts) {
    memset(opts, 0, sizeof *opts);
    opts->optimizer = UH_OPT_SGD;
    opts->lr = 0.05f;
    opts->momentum = 0.9f;
    opts->beta1 = 0.9f;
    opts->beta2 = 0.999f;
    opts->eps = 1e-8f;
    opts->weight_decay = 0.0f;
    opts->batch = 128;
    opts->epochs = 1;
    opts->seed = 1;
    opts->threads = 0;
}

/* The dataset must have the input shape the network was built for. */
static int check_dataset(const uh_net_t *net, const uh_dataset_t *ds, uh_error_t *err) {
    const uh_shape_t *in = &net->arch.input;
    if (!ds || !ds->x || !ds->y || ds->n < 1)
        return uh_error_set(err, UH_EINVAL, "the dataset is empty");
    if (ds->c != in->c || ds->h != in->h || ds->w != in->w)
        return uh_error_set(err, UH_EINVAL,
                            "the dataset's images are %d×%d×%d but the network expects %d×%d×%d",
                            ds->c, ds->h, ds->w, in->c, in->h, in->w);
    for (int i = 0; i < ds->n; i++)
        if (ds->y[i] >= net->n_classes)
            return uh_error_set(err, UH_EINVAL,
                                "sample %d has label %d but the network has %d classes", i,
                                ds->y[i], net->n_classes);
    return UH_OK;
}

static void set_threads(int threads) {
    if (threads > 0 && threads != omp_get_max_threads()) omp_set_num_threads(threads);
}

/* xb [nb × in_sz], yb [nb] = the samples idx[0..nb) of ds */
static void gather(float *xb, uint8_t *yb, const uh_dataset_t *ds, const int *idx, int nb,
                   size_t in_sz) {
#pragma omp parallel for schedule(static) if ((long)nb * (long)in_sz > NN_PAR_MIN)
    for (int i = 0; i < nb; i++) {
        memcpy(xb + (size_t)i * in_sz, ds->x + (size_t)idx[i] * in_sz, in_sz * sizeof *xb);
        yb[i] = ds->y[idx[i]];
    }
}

int uh_net_train(uh_net_t *net, const uh_dataset_t *ds, const uh_train_opts_t *opts,
                 uh_progress_fn progress, void *progress_ctx, uh_train_result_t *result,
                 uh_error_t *err) {
    if (!net || !opts) return uh_error_set(err, UH_EINVAL, "train: no network or options");
    if (result) memset(result, 0, sizeof *result);
    int rc = check_dataset(net, ds, err);
    if (rc) {
        uh_error_prefix(err, "train");
        return rc;
    }
    if (opts->batch < 1 || opts->batch > net->max_batch)
        return uh_error_set(err, UH_EINVAL,
                            "train: batch size %d is outside 1..%d (the network's max batch)",
                            opts->batch, net->max_batch);
    if (opts->epochs < 0 || opts->first_epoch < 0)
        return uh_error_set(err, UH_EINVAL, "train: epochs must be >= 0, got %d from epoch %d",
                            opts->epochs, opts->first_epoch);
    if (!isfinite(opts->lr) || opts->lr < 0 || !isfinite(opts->momentum) ||
        !isfinite(opts->weight_decay))
        return uh_error_set(err, UH_EINVAL,
                            "train: learning rate, momentum and weight decay "
                            "must be finite (and the learning rate >= 0)");
    int *idx = malloc((size_t)ds->n * sizeof *idx);
    if (!idx) return uh_error_set(err, UH_ENOMEM, "train: out of memory");
    set_threads(opts->threads);

    const int n = ds->n, bs = opts->batch, n_batches = (n + bs - 1) / bs;
    const size_t in_sz = (size_t)net->in_sz;
    double t0 = omp_get_wtime();
    int stop = 0, epochs_done = 0;
    float final_loss = 0.0f;
    /* a continued run's training noise goes on from the step it reached */
    if (opts->first_epoch > 0) net->train_calls = (uint64_t)opts->first_epoch * (uint64_t)n_batches;
    for (int epoch = opts->first_epoch; epoch < opts->first_epoch + opts->epochs && !stop;
         epoch++) {
        uh_rng_t rng;
        uh_rng_seed_stream(&rng, opts->seed, (uint64_t)epoch);
        for (int i = 0; i < n; i++) idx[i] = i;
        uh_rng_shuffle(&rng, idx, n);
        double loss_sum = 0.0;
        int seen = 0;
        for (int b = 0; b < n_batches; b++) {
            const int nb = b == n_batches - 1 ? n - b * bs : bs;
            if (opts->threads_live) set_threads(atomic_load(opts->threads_live));
            gather(net->xb, net->yb, ds, idx + (size_t)b * bs, nb, in_sz);
            float loss = nn_loss_grad(net, net->xb, net->yb, nb);
            uh_net_step(net, opts);
            loss_sum += (double)loss * nb;
            seen += nb;
            if (progress && progress(progress_ctx, epoch, b, n_batches, loss)) {
                stop = 1;
                break;
            }
        }
        final_loss = (float)(loss_sum / seen);
        if (!stop) epochs_done++;
    }
    free(idx);
    if (result) {
        result->epochs_done = epochs_done;
        result->final_loss = final_loss;
        result->train_seconds = omp_get_wtime() - t0;
    }
    return UH_OK;
}

int uh_net_evaluate(uh_net_t *net, const uh_dataset_t *ds, uint64_t sample_id, double *accuracy,
                    uh_error_t *err) {
    if (!net || !accuracy) return uh_error_set(err, UH_EINVAL, "evaluate: no network");
    int rc = check_dataset(net, ds, err);
    if (rc) {
        uh_error_prefix(err, "evaluate");
        return rc;
    }
    nn_prepare_weights(net, NN_STREAM_EVAL, sample_id);
    const size_t in_sz = (size_t)net->in_sz;
    const int C = net->n_classes;
    long correct = 0;
    for (int i0 = 0; i0 < ds->n; i0 += net->max_batch) {
        const int nb = ds->n - i0 < net->max_batch ? ds->n - i0 : net->max_batch;
        const float *logits = nn_forward(net, ds->x + (size_t)i0 * in_sz, nb);
        for (int i = 0; i < nb; i++) {
            const float *z = logits + (size_t)i * C;
            int best = 0;
            for (int c = 1; c < C; c++)
                if (z[c] > z[best]) best = c;
            correct += best == ds->y[i0 + i];
        }
    }
    *accuracy = (double)correct / ds->n;
    return UH_OK;
}
