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
 * Footprint: die_area_mm2 (the silicon the network runs on); no tiles, MZIs or devices.
 *
 * Precision is a hardware gene. "format" (fp32 | fp16) with mac_pj, activation_pj and pool_pj
 * is the default number format; an optional "precisions" object lists the other formats the
 * device computes in, each with its own costs:
 *     "precisions": {"int8": {"mac_pj": {...}, "activation_pj": {...}, "pool_pj": {...}}}
 * (names fp16 or int2 … int16; activation_pj and pool_pj default to the default format's).
 * A format's bits are those of its name (fp16: 16, int8: 8). A layer's "bits" selects the
 * format with those bits; without bits (or bits 32) it runs in the default format, so files
 * and architectures without them price exactly as before. The layer's mac, activation and
 * pool rows use its format's costs, its DRAM row the format's bytes per weight (bits ÷ 8),
 * and its busy time follows (latency). A layer asking for bits the device has no format for
 * is a constraint violation that names the formats (digital_check); its energy is priced at
 * the default format (energy is asked of violating architectures too, e.g. by the search's
 * sampler), and no simulation is built for it.
 *
 * Simulation (the same hook for training and evaluation: the rounding is deterministic):
 *   fp32   the engine's own arithmetic: nothing;
 *   fp16   IEEE binary16 rounding of the weights and of the layer's outputs (round to
 *          nearest even, subnormals, overflow to infinity);
 *   intN   symmetric fixed point, as the engine's fake quantisation (uhnas/nn.h): the weights
 *          per tensor, rounded to 2^(N−1)−1 levels each side of max|W| (the engine's own
 *          rounding of a layer with "bits", so applying it again changes nothing), and the
 *          outputs (the accumulator read out in the format, bias included, before the
 *          activation) to 2^(N−1)−1 levels of the batch's max |z| — one scale per tensor, as
 *          a calibrated int8 deployment uses (hw_convert_outputs without noise). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp16.h"
#include "model.h"
#include "uhnas/limits.h"

/* A number format the device computes in, with its costs. */
enum { FMT_FLOAT, FMT_INT };

typedef struct {
    char name[8]; /* "fp32", "fp16", "int8", ... */
    int kind;     /* FMT_FLOAT or FMT_INT */
    int bits;
    double mac_pj;        /* one multiply-accumulate */
    double activation_pj; /* one elementwise activation */
    double pool_pj;       /* one pooling-window read/compare/add */
} digital_format_t;

typedef struct {
    int n_formats; /* formats[0] is the default ("format" and the top-level costs) */
    digital_format_t formats[UH_DIGITAL_MAX_FORMATS];
    double dram_pj_per_byte;
    double batch;        /* inferences processed together (share one weight fetch) */
    double power_w;      /* the power figure mac_pj was derived from; 0 = latency unknown */
    double die_area_mm2; /* 0 = unknown */
} digital_t;

static const char *const FORMATS[] = {"fp32", "fp16", NULL};

/* Parses a format name: fp32, fp16 or int2..int16. 0 when it is none of them. */
static int parse_format(const char *name, int *kind, int *bits) {
    if (!strcmp(name, "fp32")) return *kind = FMT_FLOAT, *bits = 32, 1;
    if (!strcmp(name, "fp16")) return *kind = FMT_FLOAT, *bits = 16, 1;
    if (strncmp(name, "int", 3) != 0) return 0;
    const char *d = name + 3;
    int n = 0, digits = 0;
    for (; *d >= '0' && *d <= '9' && digits < 3; d++, digits++) n = n * 10 + (*d - '0');
    if (*d || digits == 0 || d[-digits] == '0' || n < UH_ARCH_MIN_BITS || n > UH_ARCH_MAX_BITS)
        return 0;
    *kind = FMT_INT, *bits = n;
    return 1;
}

/* A format's costs; an absent activation or pooling cost is the default format's. */
#define COST(key, m, req, lo, dflt)                                                                \
    UH_JSON_ROW(key, UH_JSON_NUMBER, digital_format_t, m, req, lo, 1e6, dflt)
static const uh_json_field_t FORMAT_FIELDS[] = {
    COST("mac_pj", mac_pj, 1, 1e-6, 0),
    COST("activation_pj", activation_pj, 0, 0, UH_JSON_KEEP),
    COST("pool_pj", pool_pj, 0, 0, UH_JSON_KEEP),
    {NULL}};

/* "params.precisions": the formats beside the default. */
static int read_precisions(const cJSON *list, void *dest, const char *name, uh_error_t *err) {
    digital_t *d = dest;
    if (!cJSON_IsObject(list))
        return uh_error_set(err, UH_EINVAL,
                            "%s: must be an object of formats, e.g. {\"int8\": "
                            "{\"mac_pj\": {\"value\": 0.44, \"source\": \"...\"}}}",
                            name);
    const digital_format_t *def = &d->formats[0];
    const cJSON *item;
    cJSON_ArrayForEach(item, list) {
        char where[64];
        snprintf(where, sizeof where, "%s.%.30s", name, item->string);
        digital_format_t f = {.activation_pj = def->activation_pj, .pool_pj = def->pool_pj};
        if (!parse_format(item->string, &f.kind, &f.bits))
            return uh_error_set(err, UH_EINVAL,
                                "%s: unknown format; formats are fp16 and int2 ... int16", where);
        if (f.bits == 32)
            return uh_error_set(err, UH_EINVAL,
                                "%s: a layer's 32 bits means the default format, so fp32 can "
                                "only be params.format",
                                where);
        for (int k = 0; k < d->n_formats; k++)
            if (d->formats[k].bits == f.bits)
                return uh_error_set(err, UH_EINVAL,
                                    "%s: %d bits is already %s (a layer's bits select one "
                                    "format)",
                                    where, f.bits, d->formats[k].name);
        if (d->n_formats >= UH_DIGITAL_MAX_FORMATS)
            return uh_error_set(err, UH_EINVAL, "%s: more than %d formats", name,
                                UH_DIGITAL_MAX_FORMATS - 1);
        if (!cJSON_IsObject(item))
            return uh_error_set(err, UH_EINVAL,
                                "%s: must be an object with mac_pj (and optionally "
                                "activation_pj, pool_pj)",
                                where);
        int rc = uh_json_read(item, where, FORMAT_FIELDS, &f, UH_JSON_SOURCED, err);
        if (rc) return rc;
        snprintf(f.name, sizeof f.name, "%s", item->string);
        d->formats[d->n_formats++] = f;
    }
    return UH_OK;
}

/* The default format: "format" names it, the top-level costs are its costs. */
static int read_format(const cJSON *v, void *dest, const char *name, uh_error_t *err) {
    static const uh_json_field_t choice = {"format", UH_JSON_CHOICE, 0, 1, .choices = FORMATS};
    digital_format_t *def = &((digital_t *)dest)->formats[0];
    int format;
    int rc = uh_json_value(v, &choice, &format, name, 0, err);
    if (rc) return rc;
    snprintf(def->name, sizeof def->name, "%s", FORMATS[format]);
    def->kind = FMT_FLOAT;
    def->bits = format == 1 ? 16 : 32;
    return UH_OK;
}

#define NUM(key, m, req, lo, hi, dflt)                                                             \
    UH_JSON_ROW(key, UH_JSON_NUMBER, digital_t, m, req, lo, hi, dflt)
/* The params, in the order they are read: precisions take their defaults from the others.
 * weight_reuse is the old name of batch. */
static const uh_json_field_t FIELDS[] = {
    {"format", UH_JSON_CUSTOM, 0, 1, .read = read_format},
    NUM("mac_pj", formats[0].mac_pj, 1, 1e-6, 1e6, 0),
    NUM("activation_pj", formats[0].activation_pj, 0, 0, 1e6, 0),
    NUM("pool_pj", formats[0].pool_pj, 0, 0, 1e6, 0),
    NUM("dram_pj_per_byte", dram_pj_per_byte, 0, 0, 1e6, 0),
    NUM("batch", batch, 0, 1, 1e9, 1),
    NUM("weight_reuse", batch, 0, 1, 1e9, UH_JSON_KEEP),
    NUM("power_w", power_w, 0, 0, 1e6, 0),
    NUM("die_area_mm2", die_area_mm2, 0, 0, 1e6, 0),
    {"precisions", UH_JSON_CUSTOM, .read = read_precisions},
    {NULL}};

static int digital_load(const void *params, void **state, uh_error_t *err) {
    const cJSON *p = params;
    if (cJSON_GetObjectItemCaseSensitive(p, "batch") &&
        cJSON_GetObjectItemCaseSensitive(p, "weight_reuse"))
        return uh_error_set(err, UH_EINVAL,
                            "params.weight_reuse: the old name of params.batch; give only one");
    digital_t *d = calloc(1, sizeof *d);
    if (!d) return uh_error_set(err, UH_ENOMEM, "out of memory");
    d->n_formats = 1;
    int rc = uh_json_read(p, "params", FIELDS, d, UH_JSON_SOURCED, err);
    if (rc) {
        free(d);
        return rc;
    }
    *state = d;
    return UH_OK;
}

static void digital_free(void *state) {
    free(state);
}

/* The format of a layer: its bits' format, the default without bits; NULL when the device
 * has no format of those bits. */
static const digital_format_t *layer_format(const digital_t *d, const uh_layer_t *l) {
    if (l->bits <= 0) return &d->formats[0];
    for (int k = 0; k < d->n_formats; k++)
        if (d->formats[k].bits == l->bits) return &d->formats[k];
    return NULL;
}

static int digital_energy(const void *state, const uh_arch_t *arch, uh_energy_t *e,
                          uh_error_t *err) {
    (void)err;
    const digital_t *d = state;
    double compute_nj = 0; /* the rows that occupy the device: mac, activation, pool */
    const digital_format_t *f = &d->formats[0];
    for (int i = 0; i < arch->n_layers; i++) {
        const uh_layer_t *l = &arch->layers[i];
        /* A dense/conv layer sets the format; an activation-free pool after it reads its
         * outputs in that format. Unknown bits: priced at the default (a violation). */
        if (l->type == UH_LAYER_DENSE || l->type == UH_LAYER_CONV2D) {
            f = layer_format(d, l);
            if (!f) f = &d->formats[0];
        }
        if (l->macs) {
            double nj = (double)l->macs * f->mac_pj * 1e-3;
            uh_energy_add(e, i, "mac", nj);
            compute_nj += nj;
        }
        long acts = hw_layer_activations(arch, i);
        if (acts && f->activation_pj > 0) {
            double nj = (double)acts * f->activation_pj * 1e-3;
            uh_energy_add(e, i, "activation", nj);
            compute_nj += nj;
        }
        long reads = hw_layer_pool_reads(arch, i);
        if (reads && f->pool_pj > 0) {
            double nj = (double)reads * f->pool_pj * 1e-3;
            uh_energy_add(e, i, "pool", nj);
            compute_nj += nj;
        }
        if (l->params && d->dram_pj_per_byte > 0)
            uh_energy_add(e, i, "dram",
                          (double)l->params * (f->bits / 8.0) * d->dram_pj_per_byte / d->batch *
                              1e-3);
    }
    e->latency_ns = d->power_w > 0 ? d->batch * compute_nj / d->power_w : 0;
    e->footprint.area_mm2 = d->die_area_mm2;
    return UH_OK;
}

/* "fp16 (the default: no bits, or 16), int8 (bits 8)" */
static void format_list(const digital_t *d, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (int k = 0; k < d->n_formats && used < size; k++) {
        const digital_format_t *f = &d->formats[k];
        const char *sep = k == 0 ? "" : k == d->n_formats - 1 ? " and " : ", ";
        int n;
        if (k == 0 && f->bits == 32)
            n = snprintf(buf + used, size - used, "%s (the default: no bits)", f->name);
        else if (k == 0)
            n = snprintf(buf + used, size - used, "%s (the default: no bits, or %d)", f->name,
                         f->bits);
        else
            n = snprintf(buf + used, size - used, "%s%s (bits %d)", sep, f->name, f->bits);
        used += n > 0 ? (size_t)n : 0;
    }
}

static void digital_check(const void *state, const uh_arch_t *arch, uh_violations_t *v) {
    const digital_t *d = state;
    for (int i = 0; i < arch->n_layers; i++) {
        const uh_layer_t *l = &arch->layers[i];
        if (l->type != UH_LAYER_DENSE && l->type != UH_LAYER_CONV2D) continue;
        if (layer_format(d, l)) continue;
        char list[140];
        format_list(d, list, sizeof list);
        char msg[sizeof v->items[0].msg];
        snprintf(msg, sizeof msg, "%d bits requested; this hardware computes in %s", l->bits, list);
        /* the shared range check may have refused these bits already: say it once, with the
         * formats */
        int k = 0;
        while (k < v->n && !(v->items[k].layer == i + 1 && !strcmp(v->items[k].field, "bits"))) k++;
        if (k < v->n)
            snprintf(v->items[k].msg, sizeof v->items[k].msg, "%s", msg);
        else
            uh_violations_add(v, i + 1, "bits", "%s", msg);
    }
}

static void digital_precision(const void *state, uh_precision_t *p) {
    const digital_t *d = state;
    const digital_format_t *f = &d->formats[0];
    p->weight_bits = p->activation_bits = f->bits;
    p->is_float = 1;
    const char *exact = f->bits != 32       ? ""
                        : d->n_formats == 1 ? " (the engine's own precision: no rounding error)"
                                            : " (exact)";
    /* e.g. "FP16 weights and activations; bits 8: int8" */
    int n =
        snprintf(p->summary, sizeof p->summary, "FP%d weights and activations%s", f->bits, exact);
    for (int k = 1; k < d->n_formats && n > 0 && (size_t)n < sizeof p->summary; k++)
        n += snprintf(p->summary + n, sizeof p->summary - (size_t)n, "%sbits %d: %s",
                      k == 1 ? "; " : ", ", d->formats[k].bits, d->formats[k].name);
}

static double digital_pj_per_mac(const void *state) {
    return ((const digital_t *)state)->formats[0].mac_pj;
}

/* Symmetric fixed point of one tensor, as the engine's fake_quant (src/nn/layers.c): max-abs
 * scale, 2^(bits−1)−1 levels each side, roundf. */
static void round_fixed(float *x, size_t n, int bits) {
    float m = hw_max_abs(x, n);
    if (!(m > 0.0f) || !isfinite(m)) return;
    const float levels = (float)((1 << (bits - 1)) - 1);
    const float scale = m / levels, inv = levels / m;
    for (size_t i = 0; i < n; i++) x[i] = roundf(x[i] * inv) * scale;
}

/* Per layer: the format it computes in (NULL: fp32 or not a dense/conv layer, nothing to do). */
typedef struct {
    int n_layers;
    digital_format_t fmt[UH_ARCH_MAX_LAYERS];
    int active[UH_ARCH_MAX_LAYERS];
} digital_sim_t;

static const digital_format_t *sim_format(const digital_sim_t *s, int layer) {
    return layer >= 0 && layer < s->n_layers && s->active[layer] ? &s->fmt[layer] : NULL;
}

static void round_weights(void *ctx, int layer, float *w, int rows, int cols, uh_rng_t *rng) {
    (void)rng;
    const digital_format_t *f = sim_format(ctx, layer);
    size_t n = (size_t)rows * (size_t)cols;
    if (!f) return;
    if (f->kind == FMT_INT)
        round_fixed(w, n, f->bits);
    else
        hw_fp16_round(w, n);
}

static void round_outputs(void *ctx, int layer, float *z, size_t count, uh_rng_t *rng) {
    (void)rng;
    const digital_format_t *f = sim_format(ctx, layer);
    if (!f) return;
    float lo, hi;
    if (f->kind == FMT_INT)
        hw_convert_outputs(z, count, f->bits, 0, 0, 1, NULL, 0, &lo, &hi);
    else
        hw_fp16_round(z, count);
}

/* The rounding is deterministic, so training and evaluation use the same hook; a network that
 * runs entirely in fp32 (the engine's own arithmetic) needs none. */
static int digital_sim_new(const void *state, const uh_arch_t *arch, uh_sim_mode_t mode, void **sim,
                           uh_noise_t *hook, uh_error_t *err) {
    (void)mode;
    const digital_t *d = state;
    *sim = NULL;
    memset(hook, 0, sizeof *hook);
    digital_sim_t *s = calloc(1, sizeof *s);
    if (!s) return uh_error_set(err, UH_ENOMEM, "out of memory");
    s->n_layers = arch->n_layers < UH_ARCH_MAX_LAYERS ? arch->n_layers : UH_ARCH_MAX_LAYERS;
    int any = 0;
    for (int i = 0; i < s->n_layers; i++) {
        const uh_layer_t *l = &arch->layers[i];
        if (l->type != UH_LAYER_DENSE && l->type != UH_LAYER_CONV2D) continue;
        const digital_format_t *f = layer_format(d, l);
        if (!f) {
            char list[140];
            format_list(d, list, sizeof list);
            free(s);
            return uh_error_set(err, UH_EINVAL,
                                "layer %d: %d bits requested; this hardware computes in %s", i + 1,
                                l->bits, list);
        }
        s->fmt[i] = *f;
        s->active[i] = !(f->kind == FMT_FLOAT && f->bits == 32);
        any |= s->active[i];
    }
    if (!any) {
        free(s);
        return UH_OK;
    }
    hook->perturb_weights = round_weights;
    hook->perturb_outputs = round_outputs;
    hook->ctx = s;
    *sim = s;
    return UH_OK;
}

static void digital_sim_free(void *sim) {
    free(sim);
}

const uh_backend_model_t uh_model_digital = {
    .name = "digital",
    .load = digital_load,
    .free = digital_free,
    .energy = digital_energy,
    .check = digital_check,
    .precision = digital_precision,
    .pj_per_mac = digital_pj_per_mac,
    .sim_new = digital_sim_new,
    .sim_free = digital_sim_free,
};
