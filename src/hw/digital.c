/* The digital model (CPUs, GPUs): energy = operation counts × cost per operation, and the
 * number format's rounding as the only non-ideality.
 *
 * Energy. The per-MAC cost is device power ÷ peak MAC rate (arXiv 2606.10294's convention, so
 * our fronts compare with the paper's Figure 1). That figure already covers everything inside
 * the power figure at peak throughput — caches, control, leakage — so the other rows count
 * only work the MAC rate does not: elementwise activations and pooling reads as extra
 * lane-operations at the file's cost each, and, where the file gives dram_pj_per_byte, weight
 * traffic from a memory that is NOT inside the power figure, amortised over the batch that
 * shares one fetch of the weights:
 *     dram = params · bytes per weight · dram_pj_per_byte ÷ batch.
 * Whether memory is inside the power figure depends on the device, and the files say so:
 *   - a GPU's board power (B200: 1000 W) includes its HBM, so the GPU file has no DRAM row
 *     (one would count the HBM twice);
 *   - a CPU's TDP (Xeon 8380: 270 W) covers the package only; its DIMMs draw their own power,
 *     so the CPU file keeps the DRAM row.
 *
 * Latency. Each compute row's cost is power ÷ peak rate, so one inference keeps the device
 * busy for (mac + activation + pool energy) ÷ power_w (the DRAM row is not device time: its
 * energy is outside the power figure); a batch is answered when all of it is done:
 *     latency_ns = batch · Σ compute nJ ÷ power_w   (nJ ÷ W = ns).
 * This is the peak-rate bound: kernel launches, memory stalls and host transfers only add.
 * Without power_w the latency is 0 (unknown).
 *
 * Batch. "batch" is the number of inferences processed together: they share one weight fetch
 * (the DRAM row) and are answered together (the latency). Files written before it was named
 * call it "weight_reuse"; either key is accepted, not both.
 *
 * Footprint: die_area_mm2 (the silicon the network runs on); no tiles, MZIs or devices. */
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
    double batch;        /* inferences processed together (share one weight fetch) */
    double power_w;      /* the power figure mac_pj was derived from; 0 = latency unknown */
    double die_area_mm2; /* 0 = unknown */
    int float_bits;      /* 32 or 16 */
} digital_t;

static const char *const FORMATS[] = {"fp32", "fp16"};

static int digital_load(const void *params, void **state, uh_error_t *err) {
    const cJSON *p = params;
    static const char *const keys[] = {"format",       "mac_pj",           "activation_pj",
                                       "pool_pj",      "dram_pj_per_byte", "batch",
                                       "weight_reuse", "power_w",          "die_area_mm2"};
    int rc = hw_check_keys(p, "params", keys, (int)(sizeof keys / sizeof keys[0]), err);
    if (rc) return rc;
    if (cJSON_GetObjectItemCaseSensitive(p, "batch") &&
        cJSON_GetObjectItemCaseSensitive(p, "weight_reuse"))
        return uh_error_set(err, UH_EINVAL,
                            "params.weight_reuse: the old name of params.batch; give only one");
    digital_t *d = calloc(1, sizeof *d);
    if (!d) return uh_error_set(err, UH_ENOMEM, "out of memory");
    const char *batch_key =
        cJSON_GetObjectItemCaseSensitive(p, "weight_reuse") ? "weight_reuse" : "batch";
    int format = 0;
    if ((rc = hw_choice(p, "params", "format", FORMATS, 2, 1, 0, &format, err)) ||
        (rc = hw_number(p, "params", "mac_pj", 1e-6, 1e6, 1, 0, &d->mac_pj, err)) ||
        (rc = hw_number(p, "params", "activation_pj", 0, 1e6, 0, 0, &d->activation_pj, err)) ||
        (rc = hw_number(p, "params", "pool_pj", 0, 1e6, 0, 0, &d->pool_pj, err)) ||
        (rc =
             hw_number(p, "params", "dram_pj_per_byte", 0, 1e6, 0, 0, &d->dram_pj_per_byte, err)) ||
        (rc = hw_number(p, "params", batch_key, 1, 1e9, 0, 1, &d->batch, err)) ||
        (rc = hw_number(p, "params", "power_w", 0, 1e6, 0, 0, &d->power_w, err)) ||
        (rc = hw_number(p, "params", "die_area_mm2", 0, 1e6, 0, 0, &d->die_area_mm2, err))) {
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
    (void)err;
    const digital_t *d = state;
    double bytes_per_weight = d->float_bits / 8.0;
    double compute_nj = 0; /* the rows that occupy the device: mac, activation, pool */
    for (int i = 0; i < arch->n_layers; i++) {
        const uh_layer_t *l = &arch->layers[i];
        if (l->macs) {
            double nj = (double)l->macs * d->mac_pj * 1e-3;
            uh_energy_add(e, i, "mac", nj);
            compute_nj += nj;
        }
        long acts = hw_layer_activations(arch, i);
        if (acts && d->activation_pj > 0) {
            double nj = (double)acts * d->activation_pj * 1e-3;
            uh_energy_add(e, i, "activation", nj);
            compute_nj += nj;
        }
        long reads = hw_layer_pool_reads(arch, i);
        if (reads && d->pool_pj > 0) {
            double nj = (double)reads * d->pool_pj * 1e-3;
            uh_energy_add(e, i, "pool", nj);
            compute_nj += nj;
        }
        if (l->params && d->dram_pj_per_byte > 0)
            uh_energy_add(e, i, "dram",
                          (double)l->params * bytes_per_weight * d->dram_pj_per_byte / d->batch *
                              1e-3);
    }
    e->latency_ns = d->power_w > 0 ? d->batch * compute_nj / d->power_w : 0;
    e->footprint.area_mm2 = d->die_area_mm2;
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
