/* The digital model (CPUs, GPUs): energy = operation counts × cost per operation, and the
 * number format's rounding as the only non-ideality.
 *
 * The per-MAC cost is device power ÷ peak MAC rate (arXiv 2606.10294's convention, so our
 * fronts compare with the paper's Figure 1). That figure already covers everything on the
 * chip at peak throughput — caches, control, leakage — so the other rows count only work the
 * MAC rate does not: elementwise activations and pooling reads as extra lane-operations at
 * the file's cost each, and weight traffic from off-chip DRAM (not in the chip's power),
 * amortised over the batch that shares one fetch of the weights. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

typedef struct {
    double mac_pj;        /* one multiply-accumulate */
    double activation_pj; /* one elementwise activation */
    double pool_pj;       /* one pooling-window read/compare/add */
    double dram_pj_per_byte;
    double weight_reuse; /* inferences sharing one fetch of the weights (the batch) */
    int float_bits;      /* 32 or 16 */
} digital_t;

static const char *const FORMATS[] = {"fp32", "fp16"};

static int digital_load(const void *params, void **state, uh_error_t *err) {
    const cJSON *p = params;
    static const char *const keys[] = {"format",  "mac_pj",           "activation_pj",
                                       "pool_pj", "dram_pj_per_byte", "weight_reuse"};
    int rc = hw_check_keys(p, "params", keys, 6, err);
    if (rc) return rc;
    digital_t *d = calloc(1, sizeof *d);
    if (!d) return uh_error_set(err, UH_ENOMEM, "out of memory");
    int format = 0;
    if ((rc = hw_choice(p, "params", "format", FORMATS, 2, 1, 0, &format, err)) ||
        (rc = hw_number(p, "params", "mac_pj", 1e-6, 1e6, 1, 0, &d->mac_pj, err)) ||
        (rc = hw_number(p, "params", "activation_pj", 0, 1e6, 0, 0, &d->activation_pj, err)) ||
        (rc = hw_number(p, "params", "pool_pj", 0, 1e6, 0, 0, &d->pool_pj, err)) ||
        (rc =
             hw_number(p, "params", "dram_pj_per_byte", 0, 1e6, 0, 0, &d->dram_pj_per_byte, err)) ||
        (rc = hw_number(p, "params", "weight_reuse", 1, 1e9, 0, 1, &d->weight_reuse, err))) {
        free(d);
        return rc;
    }
    d->float_bits = format == 1 ? 16 : 32;
    *state = d;
    return UH_OK;
}

static void digital_free(void *state) {
    free(state);
}

static int digital_energy(const void *state, const uh_arch_t *arch, uh_energy_t *e,
                          uh_error_t *err) {
    const digital_t *d = state;
    double bytes_per_weight = d->float_bits / 8.0;
    for (int i = 0; i < arch->n_layers; i++) {
        const uh_layer_t *l = &arch->layers[i];
        if (l->macs) uh_energy_add(e, i, "mac", (double)l->macs * d->mac_pj * 1e-3);
        long acts = hw_layer_activations(arch, i);
        if (acts && d->activation_pj > 0)
            uh_energy_add(e, i, "activation", (double)acts * d->activation_pj * 1e-3);
        long reads = hw_layer_pool_reads(arch, i);
        if (reads && d->pool_pj > 0) uh_energy_add(e, i, "pool", (double)reads * d->pool_pj * 1e-3);
        if (l->params && d->dram_pj_per_byte > 0)
            uh_energy_add(e, i, "dram",
                          (double)l->params * bytes_per_weight * d->dram_pj_per_byte /
                              d->weight_reuse * 1e-3);
    }
    return UH_OK;
}

static void digital_precision(const void *state, uh_precision_t *p) {
    const digital_t *d = state;
    p->weight_bits = p->activation_bits = d->float_bits;
    p->is_float = 1;
    snprintf(p->summary, sizeof p->summary, "FP%d weights and activations%s", d->float_bits,
             d->float_bits == 32 ? " (the engine's own precision: no rounding error)" : "");
}

static double digital_pj_per_mac(const void *state) {
    return ((const digital_t *)state)->mac_pj;
}

/* IEEE binary16 round-to-nearest-even of a float: 11 significant bits in the normal range,
 * a fixed quantum of 2^-24 below it, infinity past the largest finite value 65504. */
static float round_fp16(float x) {
    float a = fabsf(x);
    if (!(a == a)) return x; /* NaN */
    if (a >= 65520.0f) return copysignf(INFINITY, x);
    if (a < 6.103515625e-05f) return rintf(x * 16777216.0f) / 16777216.0f;
    int e;
    frexpf(a, &e); /* a = m·2^e, m in [0.5, 1) */
    float quantum = ldexpf(1.0f, e - 11);
    return rintf(x / quantum) * quantum;
}

static void round_weights(void *ctx, int layer, float *w, int rows, int cols, uh_rng_t *rng) {
    (void)ctx, (void)layer, (void)rng;
    size_t n = (size_t)rows * (size_t)cols;
    for (size_t i = 0; i < n; i++) w[i] = round_fp16(w[i]);
}

static void round_outputs(void *ctx, int layer, float *z, size_t count, uh_rng_t *rng) {
    (void)ctx, (void)layer, (void)rng;
    for (size_t i = 0; i < count; i++) z[i] = round_fp16(z[i]);
}

/* FP16 rounding is deterministic, so training and evaluation use the same hook; FP32 is the
 * engine's own arithmetic and needs none. */
static int digital_sim_new(const void *state, const uh_arch_t *arch, uh_sim_mode_t mode, void **sim,
                           uh_noise_t *hook, uh_error_t *err) {
    (void)arch, (void)mode, (void)err;
    const digital_t *d = state;
    *sim = NULL;
    memset(hook, 0, sizeof *hook);
    if (d->float_bits == 16) {
        hook->perturb_weights = round_weights;
        hook->perturb_outputs = round_outputs;
    }
    return UH_OK;
}

const uh_backend_model_t uh_model_digital = {
    .name = "digital",
    .load = digital_load,
    .free = digital_free,
    .energy = digital_energy,
    .check = NULL,
    .precision = digital_precision,
    .pj_per_mac = digital_pj_per_mac,
    .sim_new = digital_sim_new,
    .sim_free = NULL,
};
