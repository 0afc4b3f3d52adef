/* The search space and the classic operators: sample, mutate, crossover. Every result is
 * resolved against the input shape and checked against the backend before it is returned. */
#include "uhnas/space.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static void add_choice(uh_choices_t *c, int v) {
    if (c->n < UH_SPACE_MAX_CHOICES) c->v[c->n++] = v;
}

/* 1 when the backend takes a layer computing at `bits`: a one-layer probe network (dense, the
 * output width) has no "bits" violation. The constraints' min_bits..max_bits is the range; a
 * model may allow only some precisions in it (a GPU computes in fp16 and int8, not 12 bits),
 * and a choice it refuses would only waste proposals. */
static int backend_takes_bits(const uh_backend_t *backend, uh_shape_t input, int bits) {
    if (!backend) return 1;
    char json[96];
    snprintf(json, sizeof json, "{\"layers\":[{\"type\":\"dense\",\"units\":%d,\"bits\":%d}]}",
             input.n_classes, bits);
    uh_arch_t probe;
    uh_error_t err = {0};
    if (uh_arch_parse(json, strlen(json), input, &probe, &err)) return 0;
    uh_violations_t v;
    uh_backend_check(backend, &probe, &v);
    for (int i = 0; i < v.n; i++)
        if (!strcmp(v.items[i].field, "bits")) return 0;
    return 1;
}

static int pick(const uh_choices_t *c, uh_rng_t *rng) {
    return c->v[uh_rng_below(rng, (uint64_t)c->n)];
}

int uh_space_init(uh_space_t *space, const uh_backend_t *backend, uh_shape_t input,
                  uh_error_t *err) {
    memset(space, 0, sizeof *space);
    space->input = input;
    space->backend = backend;
    uh_constraints_t open;
    uh_constraints_default(&open);
    const uh_constraints_t *c = backend ? uh_backend_constraints(backend) : &open;
    int spatial = input.h >= 4 && input.w >= 4;
    space->allow_conv = spatial && (c->layer_types & (1u << UH_LAYER_CONV2D));
    space->allow_pool = spatial && (c->layer_types & (1u << UH_LAYER_POOL));
    if (!(c->layer_types & (1u << UH_LAYER_DENSE)))
        return uh_error_set(err, UH_EINVAL,
                            "search space: the backend allows no dense layers, "
                            "and every network ends in one");
    static const int units[] = {16, 32, 64, 128, 256, 512};
    for (int i = 0; i < 6; i++)
        if (units[i] <= c->max_units) add_choice(&space->units, units[i]);
    static const int filters[] = {4, 8, 16, 32};
    for (int i = 0; i < 4; i++)
        if (filters[i] <= c->max_filters) add_choice(&space->filters, filters[i]);
    static const int kernels[] = {3, 5};
    for (int i = 0; i < 2; i++)
        if (kernels[i] <= c->max_kernel && kernels[i] <= input.h)
            add_choice(&space->kernels, kernels[i]);
    add_choice(&space->pool_sizes, 2);
    /* Hidden layers need a nonlinearity to be worth their cost; "none" is kept for the
     * output layer. */
    static const uh_act_t acts[] = {UH_ACT_RELU,    UH_ACT_LEAKY_RELU, UH_ACT_TANH,
                                    UH_ACT_SIGMOID, UH_ACT_ABS,        UH_ACT_SQUARE};
    for (int i = 0; i < 6; i++)
        if (c->activations & (1u << acts[i])) add_choice(&space->activations, acts[i]);
    add_choice(&space->bits, 0);
    static const int bits[] = {4, 6, 8, 12, 16};
    for (int i = 0; i < 5; i++)
        if (bits[i] >= c->min_bits && bits[i] <= c->max_bits &&
            backend_takes_bits(backend, input, bits[i]))
            add_choice(&space->bits, bits[i]);
    add_choice(&space->tiles, 0);
    for (int t = 4; t <= UH_ARCH_MAX_TILE && c->max_tile > 0; t *= 2)
        if (t >= c->min_tile && t <= c->max_tile) add_choice(&space->tiles, t);
    if (space->units.n == 0 || space->activations.n == 0)
        return uh_error_set(err, UH_EINVAL,
                            "search space: the backend's constraints leave no dense width or "
                            "hidden activation to search over");
    if (space->filters.n == 0 || space->kernels.n == 0) space->allow_conv = 0;
    space->depth_caps = 1;
    return UH_OK;
}

/* ---- limits -------------------------------------------------------------------------- */

const char *uh_limit_name(uh_limit_t l) {
    static const char *const names[UH_LIMIT_COUNT] = {"", "energy", "latency", "area"};
    return l >= 0 && l < UH_LIMIT_COUNT ? names[l] : "";
}

const char *uh_limit_option(uh_limit_t l) {
    static const char *const names[UH_LIMIT_COUNT] = {"", "--max-energy-nj", "--max-latency-ns",
                                                      "--max-area-mm2"};
    return l >= 0 && l < UH_LIMIT_COUNT ? names[l] : "";
}

int uh_limits_any(const uh_limits_t *l) {
    return l->max_energy_nj > 0 || l->max_latency_ns > 0 || l->max_area_mm2 > 0;
}

uh_limit_t uh_limits_check(const uh_limits_t *l, double energy_nj, double latency_ns,
                           double area_mm2, char *msg, size_t cap) {
    const double limit[UH_LIMIT_COUNT] = {0, l->max_energy_nj, l->max_latency_ns, l->max_area_mm2};
    const double cost[UH_LIMIT_COUNT] = {0, energy_nj, latency_ns, area_mm2};
    static const char *const unit[UH_LIMIT_COUNT] = {"", "nJ", "ns", "mm2"};
    for (int k = UH_LIMIT_ENERGY; k < UH_LIMIT_COUNT; k++)
        if (limit[k] > 0 && cost[k] > limit[k]) { /* NaN (not modelled) never exceeds */
            if (msg && cap)
                snprintf(msg, cap, "%s %.6g %s exceeds %s %.6g", uh_limit_name((uh_limit_t)k),
                         cost[k], unit[k], uh_limit_option((uh_limit_t)k), limit[k]);
            return (uh_limit_t)k;
        }
    if (msg && cap) msg[0] = '\0';
    return UH_LIMIT_NONE;
}

uh_limit_t uh_space_over_limit(const uh_space_t *space, const uh_arch_t *arch, double cost[3],
                               char *msg, size_t cap) {
    if (cost) cost[0] = cost[1] = cost[2] = NAN;
    if (msg && cap) msg[0] = '\0';
    if (!space->backend || !uh_limits_any(&space->limits)) return UH_LIMIT_NONE;
    uh_energy_t e;
    uh_error_t err = {0};
    if (uh_backend_energy(space->backend, arch, &e, &err)) {
        if (msg && cap) snprintf(msg, cap, "energy: %s", err.msg);
        return UH_LIMIT_ENERGY;
    }
    if (cost) cost[0] = e.total_nj, cost[1] = e.latency_ns, cost[2] = e.footprint.area_mm2;
    return uh_limits_check(&space->limits, e.total_nj, e.latency_ns, e.footprint.area_mm2, msg,
                           cap);
}

int uh_space_valid_hardware(const uh_space_t *space, uh_arch_t *arch) {
    if (arch->n_layers < 1 || arch->n_layers > UH_ARCH_MAX_LAYERS) return 0;
    if (uh_arch_resolve(arch, space->input, NULL)) return 0;
    if (!space->backend) return 1;
    uh_violations_t v;
    return uh_backend_check(space->backend, arch, &v) == 0;
}

int uh_space_valid(const uh_space_t *space, uh_arch_t *arch) {
    return uh_space_valid_hardware(space, arch) &&
           uh_space_over_limit(space, arch, NULL, NULL, 0) == UH_LIMIT_NONE;
}

/* The output layer: dense, one unit per class, no activation when the hardware allows. */
static uh_layer_t output_layer(const uh_space_t *space) {
    uh_layer_t l = {.type = UH_LAYER_DENSE, .units = space->input.n_classes, .act = UH_ACT_NONE};
    if (space->backend && !(uh_backend_constraints(space->backend)->activations & 1u))
        l.act = (uh_act_t)space->activations.v[0];
    return l;
}

static uh_layer_t random_dense(const uh_space_t *space, uh_rng_t *rng) {
    return (uh_layer_t){.type = UH_LAYER_DENSE,
                        .units = pick(&space->units, rng),
                        .act = (uh_act_t)pick(&space->activations, rng),
                        .bits = pick(&space->bits, rng),
                        .tile = pick(&space->tiles, rng)};
}

static uh_layer_t random_conv(const uh_space_t *space, uh_rng_t *rng) {
    uh_layer_t l = {.type = UH_LAYER_CONV2D,
                    .filters = pick(&space->filters, rng),
                    .kernel = pick(&space->kernels, rng),
                    .stride = 1,
                    .act = (uh_act_t)pick(&space->activations, rng),
                    .bits = pick(&space->bits, rng),
                    .tile = pick(&space->tiles, rng)};
    l.padding = uh_rng_below(rng, 2) ? l.kernel / 2 : 0;
    return l;
}

static uh_layer_t random_pool(const uh_space_t *space, uh_rng_t *rng) {
    int size = pick(&space->pool_sizes, rng);
    return (uh_layer_t){.type = UH_LAYER_POOL,
                        .pool_kind = uh_rng_below(rng, 2) ? UH_POOL_MAX : UH_POOL_AVG,
                        .size = size,
                        .stride = size};
}

static int sample_once(const uh_space_t *space, uh_rng_t *rng, uh_arch_t *a) {
    memset(a, 0, sizeof *a);
    int n_conv = space->allow_conv ? (int)uh_rng_below(rng, UH_SPACE_MAX_CONV) : 0;
    for (int i = 0; i < n_conv; i++) {
        a->layers[a->n_layers++] = random_conv(space, rng);
        if (space->allow_pool && uh_rng_below(rng, 2))
            a->layers[a->n_layers++] = random_pool(space, rng);
    }
    int n_dense = (int)uh_rng_below(rng, 3);
    for (int i = 0; i < n_dense; i++) a->layers[a->n_layers++] = random_dense(space, rng);
    a->layers[a->n_layers++] = output_layer(space);
    return uh_space_valid(space, a);
}

const char *const UH_SAMPLER_NAMES[UH_SAMPLER_COUNT + 1] = {"uniform", "cost-spread", NULL};

/* MACs of the task's smallest network (one dense layer, inputs -> classes): where the
 * cost-spread sampler's scale starts. */
static double smallest_macs(const uh_space_t *space) {
    const uh_shape_t in = space->input;
    return (double)in.c * in.h * in.w * in.n_classes;
}

/* The cost-spread draw: a target log10 MACs uniform over [log10 lo, log10 hi], then the first
 * of UH_SPACE_COST_DRAWS valid structural draws nearest to it. 0 when no draw was valid in
 * UH_SPACE_MAX_TRIES attempts. */
static int sample_spread(const uh_space_t *space, uh_rng_t *rng, uh_arch_t *out) {
    double lo = log10(smallest_macs(space));
    double hi = lo + UH_SPACE_SAMPLE_DECADES;
    if (space->backend)
        hi = fmin(hi, log10((double)uh_backend_constraints(space->backend)->max_macs));
    double target = lo + uh_rng_uniform(rng) * fmax(hi - lo, 0);
    double best = INFINITY;
    int found = 0;
    uh_arch_t a;
    for (int t = 0; t < UH_SPACE_MAX_TRIES && found < UH_SPACE_COST_DRAWS; t++) {
        if (!sample_once(space, rng, &a)) continue;
        found++;
        double d = fabs(log10((double)a.macs) - target);
        if (d < best) best = d, *out = a;
    }
    return found > 0;
}

int uh_space_sample(const uh_space_t *space, uh_rng_t *rng, uh_arch_t *out, uh_error_t *err) {
    if (space->sampler == UH_SAMPLER_COST_SPREAD) {
        if (sample_spread(space, rng, out)) return UH_OK;
    } else {
        for (int t = 0; t < UH_SPACE_MAX_TRIES; t++)
            if (sample_once(space, rng, out)) return UH_OK;
    }
    /* A single output layer is the smallest network; if even it fails, the space is empty. */
    memset(out, 0, sizeof *out);
    out->layers[out->n_layers++] = output_layer(space);
    if (uh_space_valid(space, out)) return UH_OK;
    char why[160];
    if (uh_space_valid_hardware(space, out) &&
        uh_space_over_limit(space, out, NULL, why, sizeof why) != UH_LIMIT_NONE)
        return uh_error_set(err, UH_EINVAL,
                            "search space: no architecture within the limits (even the smallest "
                            "network, one dense layer: %s)",
                            why);
    return uh_error_set(
        err, UH_EINVAL,
        "search space: no valid architecture found under the backend's constraints");
}

/* ---- mutation ------------------------------------------------------------------------ */

/* Copies arch without flatten layers (implicit anyway), so positions mean real layers. */
static void normalize(const uh_arch_t *in, uh_arch_t *out) {
    memset(out, 0, sizeof *out);
    for (int i = 0; i < in->n_layers; i++)
        if (in->layers[i].type != UH_LAYER_FLATTEN) out->layers[out->n_layers++] = in->layers[i];
}

/* Index of the first dense layer: the boundary between the spatial and the dense part. */
static int first_dense(const uh_arch_t *a) {
    int i = 0;
    while (i < a->n_layers && a->layers[i].type != UH_LAYER_DENSE) i++;
    return i;
}

static int insert_layer(uh_arch_t *a, int at, uh_layer_t l) {
    if (a->n_layers >= UH_ARCH_MAX_LAYERS) return 0;
    memmove(&a->layers[at + 1], &a->layers[at], sizeof(uh_layer_t) * (size_t)(a->n_layers - at));
    a->layers[at] = l;
    a->n_layers++;
    return 1;
}

static void remove_layer(uh_arch_t *a, int at) {
    memmove(&a->layers[at], &a->layers[at + 1],
            sizeof(uh_layer_t) * (size_t)(a->n_layers - at - 1));
    a->n_layers--;
}

/* A random hidden layer of one of the given types, or -1. */
static int random_hidden(const uh_arch_t *a, unsigned type_mask, uh_rng_t *rng) {
    int idx[UH_ARCH_MAX_LAYERS], n = 0;
    for (int i = 0; i < a->n_layers - 1; i++)
        if (type_mask & (1u << a->layers[i].type)) idx[n++] = i;
    return n ? idx[uh_rng_below(rng, (uint64_t)n)] : -1;
}

/* Moves a value one step up or down its choice list. */
static int step_choice(const uh_choices_t *c, int value, uh_rng_t *rng) {
    int at = 0;
    while (at < c->n && c->v[at] != value) at++;
    if (at == c->n) return pick(c, rng);
    int next = at + (uh_rng_below(rng, 2) ? 1 : -1);
    if (next < 0) next = 1;
    if (next >= c->n) next = c->n - 2;
    return next >= 0 && next < c->n ? c->v[next] : value;
}

#define COMPUTE ((1u << UH_LAYER_DENSE) | (1u << UH_LAYER_CONV2D))

static const char *mutate_once(const uh_space_t *space, uh_arch_t *a, uh_rng_t *rng) {
    int boundary = first_dense(a);
    switch (uh_rng_below(rng, 9)) {
    case 0:
        return insert_layer(a,
                            boundary + (int)uh_rng_below(rng, (uint64_t)(a->n_layers - boundary)),
                            random_dense(space, rng))
                   ? "add-dense"
                   : NULL;
    case 1:
        if (!space->allow_conv) return NULL;
        return insert_layer(a, (int)uh_rng_below(rng, (uint64_t)boundary + 1),
                            random_conv(space, rng))
                   ? "add-conv"
                   : NULL;
    case 2: {
        int i = random_hidden(a, COMPUTE | (1u << UH_LAYER_POOL), rng);
        if (i < 0) return NULL;
        remove_layer(a, i);
        return "remove";
    }
    case 3: {
        int i = random_hidden(a, COMPUTE, rng);
        if (i < 0) return NULL;
        uh_layer_t *l = &a->layers[i];
        if (l->type == UH_LAYER_DENSE)
            l->units = step_choice(&space->units, l->units, rng);
        else
            l->filters = step_choice(&space->filters, l->filters, rng);
        return "resize";
    }
    case 4: {
        int i = random_hidden(a, COMPUTE, rng);
        if (i < 0) return NULL;
        a->layers[i].act = (uh_act_t)pick(&space->activations, rng);
        return "activation";
    }
    case 5: {
        int i = random_hidden(a, 1u << UH_LAYER_CONV2D, rng);
        if (i < 0) return NULL;
        uh_layer_t *l = &a->layers[i];
        l->kernel = pick(&space->kernels, rng);
        l->padding = uh_rng_below(rng, 2) ? l->kernel / 2 : 0;
        return "kernel";
    }
    case 6: {
        int i = (int)uh_rng_below(rng, (uint64_t)a->n_layers);
        if (!(COMPUTE & (1u << a->layers[i].type))) return NULL;
        a->layers[i].bits = pick(&space->bits, rng);
        return "bits";
    }
    case 7: {
        int i = (int)uh_rng_below(rng, (uint64_t)a->n_layers);
        if (space->tiles.n < 2 || !(COMPUTE & (1u << a->layers[i].type))) return NULL;
        a->layers[i].tile = pick(&space->tiles, rng);
        return "tile";
    }
    default: {
        /* Toggle a pool right after a random conv layer. */
        int i = random_hidden(a, 1u << UH_LAYER_CONV2D, rng);
        if (i < 0 || !space->allow_pool) return NULL;
        if (i + 1 < a->n_layers && a->layers[i + 1].type == UH_LAYER_POOL) {
            remove_layer(a, i + 1);
            return "remove-pool";
        }
        return insert_layer(a, i + 1, random_pool(space, rng)) ? "add-pool" : NULL;
    }
    }
}

int uh_space_within_depth(const uh_space_t *space, const uh_arch_t *a, char *why, size_t cap) {
    int conv = 0, dense = 0;
    for (int i = 0; i + 1 < a->n_layers; i++) /* the last is the output layer */
        conv += a->layers[i].type == UH_LAYER_CONV2D, dense += a->layers[i].type == UH_LAYER_DENSE;
    int within = !space->depth_caps || (conv <= UH_SPACE_MAX_CONV && dense <= UH_SPACE_MAX_DENSE);
    if (!within && why && cap)
        snprintf(why, cap,
                 "%d conv2d and %d hidden dense layers: the search takes at most %d and %d", conv,
                 dense, UH_SPACE_MAX_CONV, UH_SPACE_MAX_DENSE);
    return within;
}

static int same_network(const uh_arch_t *a, const uh_arch_t *b) {
    char ha[17], hb[17];
    uh_arch_hash(a, ha);
    uh_arch_hash(b, hb);
    return !strcmp(ha, hb);
}

int uh_space_mutate(const uh_space_t *space, const uh_arch_t *parent, uh_rng_t *rng, uh_arch_t *out,
                    const char **what, uh_error_t *err) {
    uh_arch_t base;
    normalize(parent, &base);
    for (int t = 0; t < UH_SPACE_MAX_TRIES; t++) {
        *out = base;
        const char *op = mutate_once(space, out, rng);
        if (op && uh_space_within_depth(space, out, NULL, 0) && uh_space_valid(space, out) &&
            !same_network(out, parent)) {
            *what = op;
            return UH_OK;
        }
    }
    *what = "resample";
    return uh_space_sample(space, rng, out, err);
}

int uh_space_crossover(const uh_space_t *space, const uh_arch_t *a, const uh_arch_t *b,
                       uh_rng_t *rng, uh_arch_t *out, uh_error_t *err) {
    uh_arch_t na, nb;
    normalize(a, &na);
    normalize(b, &nb);
    for (int t = 0; t < UH_SPACE_MAX_TRIES; t++) {
        int i = (int)uh_rng_below(rng, (uint64_t)na.n_layers); /* keep na[0..i) */
        int j = (int)uh_rng_below(rng, (uint64_t)nb.n_layers); /* then nb[j..] */
        if (i + (nb.n_layers - j) > UH_ARCH_MAX_LAYERS) continue;
        memset(out, 0, sizeof *out);
        for (int k = 0; k < i; k++) out->layers[out->n_layers++] = na.layers[k];
        for (int k = j; k < nb.n_layers; k++) out->layers[out->n_layers++] = nb.layers[k];
        if (uh_space_within_depth(space, out, NULL, 0) && uh_space_valid(space, out) &&
            !same_network(out, a) && !same_network(out, b))
            return UH_OK;
    }
    const char *what;
    return uh_space_mutate(space, a, rng, out, &what, err);
}

/* ---- encoding ------------------------------------------------------------------------ */

static double log2_or_zero(int v) {
    return v > 0 ? log2((double)v) : 0;
}

void uh_space_encode(const uh_arch_t *arch, double f[UH_SPACE_FEATURES]) {
    memset(f, 0, UH_SPACE_FEATURES * sizeof *f);
    double *conv = f, *dense = f + UH_SPACE_MAX_CONV * UH_SPACE_CONV_FEATURES;
    double *tail = dense + UH_SPACE_MAX_DENSE * UH_SPACE_DENSE_FEATURES;
    int n_conv = 0, n_dense = 0, last = arch->n_layers - 1;
    for (int i = 0; i < arch->n_layers; i++) {
        const uh_layer_t *l = &arch->layers[i];
        if (l->type == UH_LAYER_CONV2D && n_conv < UH_SPACE_MAX_CONV) {
            double *c = conv + n_conv++ * UH_SPACE_CONV_FEATURES;
            c[0] = 1, c[1] = log2_or_zero(l->filters), c[2] = l->kernel, c[3] = l->stride;
            c[5] = l->act, c[6] = l->bits, c[7] = log2_or_zero(l->tile);
        } else if (l->type == UH_LAYER_POOL && n_conv > 0) {
            conv[(n_conv - 1) * UH_SPACE_CONV_FEATURES + 4] = l->size;
        } else if (l->type == UH_LAYER_DENSE && i < last && n_dense < UH_SPACE_MAX_DENSE) {
            double *d = dense + n_dense++ * UH_SPACE_DENSE_FEATURES;
            d[0] = 1, d[1] = log2_or_zero(l->units), d[2] = l->act, d[3] = l->bits;
            d[4] = log2_or_zero(l->tile);
        }
    }
    if (last >= 0)
        tail[0] = arch->layers[last].bits, tail[1] = log2_or_zero(arch->layers[last].tile);
    tail[2] = log10((double)(arch->params > 0 ? arch->params : 1));
    tail[3] = log10((double)(arch->macs > 0 ? arch->macs : 1));
}

double uh_space_distance(const double a[UH_SPACE_FEATURES], const double b[UH_SPACE_FEATURES]) {
    /* typical ranges: flags 1, log2 sizes ~8, kernels/strides/pools ~5, activations ~6, bits
     * ~16, log2 tiles ~6, log10 counts ~4 */
    static const double conv_range[UH_SPACE_CONV_FEATURES] = {1, 8, 5, 5, 5, 6, 16, 6};
    static const double dense_range[UH_SPACE_DENSE_FEATURES] = {1, 8, 6, 16, 6};
    static const double tail_range[4] = {16, 6, 4, 4};
    double s = 0;
    for (int i = 0; i < UH_SPACE_FEATURES; i++) {
        int conv_end = UH_SPACE_MAX_CONV * UH_SPACE_CONV_FEATURES;
        int dense_end = conv_end + UH_SPACE_MAX_DENSE * UH_SPACE_DENSE_FEATURES;
        double r = i < conv_end    ? conv_range[i % UH_SPACE_CONV_FEATURES]
                   : i < dense_end ? dense_range[(i - conv_end) % UH_SPACE_DENSE_FEATURES]
                                   : tail_range[i - dense_end];
        double d = (a[i] - b[i]) / r;
        s += d * d;
    }
    return sqrt(s);
}
