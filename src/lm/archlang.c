/* The built-in model's language (see uhnas/archlang.h). */
#include "uhnas/archlang.h"
#include "uhnas/space.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int UNITS[] = {4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024};
static const int FILTERS[] = {2, 4, 8, 12, 16, 24, 32, 48, 64};
static const int BITS[] = {0, 2, 3, 4, 5, 6, 8, 10, 12, 16};   /* 0 = full precision */
static const int TILES[] = {0, 2, 4, 8, 16, 32, 64, 128, 256}; /* 0 = the backend's own */
#define N_OF(a) ((int)(sizeof a / sizeof a[0]))
#define N_KERNELS 7

enum {
    T_CONV = UH_TOK_SEP_CHILD + 1,
    T_DENSE,
    T_OUT,
    T_POOLMAX,
    T_POOLAVG,
    T_U0,
    T_F0 = T_U0 + N_OF(UNITS),
    T_K0 = T_F0 + N_OF(FILTERS), /* kernel 1..7 */
    T_S1 = T_K0 + N_KERNELS,
    T_S2,
    T_P0,
    T_PH,
    T_Z2,
    T_Z3,
    T_A0,
    T_B0 = T_A0 + UH_ACT_COUNT,
    T_T0 = T_B0 + N_OF(BITS),
    T_HWM0 = T_T0 + N_OF(TILES), /* physics: digital, mzi, crossbar, other */
    T_HWP0 = T_HWM0 + 4,         /* precision: float, <=4, <=8, >8 bits */
    T_HWN0 = T_HWP0 + 4,         /* noise level: none, low, mid, high */
    T_HWC0 = T_HWN0 + 4,         /* pJ per MAC: <0.1, <1, <10, <100, more */
    T_HWT0 = T_HWC0 + 5,         /* tiles: none, up to 16, larger */
    T_ACC0 = T_HWT0 + 3,
    T_NOISY0 = T_ACC0 + UH_LANG_BUCKETS,
    T_EN0 = T_NOISY0 + UH_LANG_BUCKETS,
    T_COPY0 = T_EN0 + UH_LANG_BUCKETS, /* EDITS only: COPY1, COPY2, SKIP1, SKIP2 */
    T_SKIP0 = T_COPY0 + UH_LANG_MAX_PARENTS,
    T_COUNT = T_SKIP0 + UH_LANG_MAX_PARENTS
};

int uh_lang_vocab_size(uh_lang_mode_t mode) {
    return mode == UH_LANG_EDITS ? T_COUNT : T_COPY0;
}

int uh_lang_of_vocab(int vocab) {
    return vocab == T_COUNT ? UH_LANG_EDITS : vocab == T_COPY0 ? UH_LANG_LAYERS : -1;
}

void uh_lang_token_name(int t, char *buf, size_t size) {
    static const char *const fixed[] = {"PAD",        "BOS",       "EOS",    "SEP_TGT",
                                        "SEP_PARENT", "SEP_CHILD", "CONV",   "DENSE",
                                        "OUT",        "POOLMAX",   "POOLAVG"};
    static const char *const misc[] = {"S1", "S2", "P0", "PH", "Z2", "Z3"};
    static const char *const hw[] = {"HW_digital", "HW_mzi",    "HW_crossbar", "HW_other",
                                     "HW_float",   "HW_le4bit", "HW_le8bit",   "HW_gt8bit",
                                     "HW_noise0",  "HW_noise1", "HW_noise2",   "HW_noise3",
                                     "HW_cost0",   "HW_cost1",  "HW_cost2",    "HW_cost3",
                                     "HW_cost4",   "HW_notile", "HW_tile16",   "HW_tilebig"};
    if (t < 0 || t >= T_COUNT)
        snprintf(buf, size, "?");
    else if (t < T_U0)
        snprintf(buf, size, "%s", fixed[t]);
    else if (t < T_F0)
        snprintf(buf, size, "U%d", UNITS[t - T_U0]);
    else if (t < T_K0)
        snprintf(buf, size, "F%d", FILTERS[t - T_F0]);
    else if (t < T_S1)
        snprintf(buf, size, "K%d", t - T_K0 + 1);
    else if (t < T_A0)
        snprintf(buf, size, "%s", misc[t - T_S1]);
    else if (t < T_B0)
        snprintf(buf, size, "A_%s", uh_act_name((uh_act_t)(t - T_A0)));
    else if (t < T_T0)
        snprintf(buf, size, "B%d", BITS[t - T_B0]);
    else if (t < T_HWM0)
        snprintf(buf, size, "T%d", TILES[t - T_T0]);
    else if (t < T_ACC0)
        snprintf(buf, size, "%s", hw[t - T_HWM0]);
    else if (t < T_NOISY0)
        snprintf(buf, size, "ACC%d", t - T_ACC0);
    else if (t < T_EN0)
        snprintf(buf, size, "NOISY%d", t - T_NOISY0);
    else if (t < T_COPY0)
        snprintf(buf, size, "E%d", t - T_EN0);
    else if (t < T_SKIP0)
        snprintf(buf, size, "COPY%d", t - T_COPY0 + 1);
    else
        snprintf(buf, size, "SKIP%d", t - T_SKIP0 + 1);
}

static int index_of(const int *list, int n, int v) {
    for (int i = 0; i < n; i++)
        if (list[i] == v) return i;
    return -1;
}

static int bucket(double x) {
    int b = (int)floor(x * UH_LANG_BUCKETS);
    return b < 0 ? 0 : b >= UH_LANG_BUCKETS ? UH_LANG_BUCKETS - 1 : b;
}

void uh_lang_targets(double accuracy, double noisy, double energy01, int *out) {
    out[0] = T_ACC0 + bucket(accuracy);
    out[1] = T_NOISY0 + bucket(noisy);
    out[2] = T_EN0 + bucket(energy01);
}

int uh_lang_hardware(const uh_backend_t *b, int *out, uh_error_t *err) {
    const char *model = uh_backend_model_name(b);
    out[0] = T_HWM0 + (!strcmp(model, "digital")    ? 0
                       : !strcmp(model, "mzi")      ? 1
                       : !strcmp(model, "crossbar") ? 2
                                                    : 3);
    uh_precision_t p;
    uh_backend_precision(b, &p);
    out[1] = T_HWP0 + (p.is_float ? 0 : p.weight_bits <= 4 ? 1 : p.weight_bits <= 8 ? 2 : 3);
    /* noise: measured on the backend's own physics (uhnas/backend.h), not read from its
     * name; buckets spaced about 3x apart. Measured (tests/test_backend.c prints them): FP32
     * and FP16 0 (bucket 0); realistic MZI 0.061 (bucket 2); PCM crossbar 0.126 and
     * worst-case MZI 0.157 (bucket 3) */
    double level;
    int rc = uh_backend_noise_level(b, &level, err);
    if (rc) return rc;
    out[2] = T_HWN0 + (level < 0.01 ? 0 : level < 0.03 ? 1 : level < 0.1 ? 2 : 3);
    double pj = uh_backend_pj_per_mac(b);
    out[3] = T_HWC0 + (pj < 0.1 ? 0 : pj < 1 ? 1 : pj < 10 ? 2 : pj < 100 ? 3 : 4);
    const uh_constraints_t *c = uh_backend_constraints(b);
    out[4] = T_HWT0 + (c->max_tile <= 0 ? 0 : c->max_tile <= 16 ? 1 : 2);
    return UH_OK;
}

static int encode_tail(const uh_layer_t *l, int *out) {
    int b = index_of(BITS, N_OF(BITS), l->bits), t = index_of(TILES, N_OF(TILES), l->tile);
    if (b < 0 || t < 0) return -1;
    out[0] = T_A0 + (int)l->act;
    out[1] = T_B0 + b;
    out[2] = T_T0 + t;
    return 3;
}

int uh_lang_encode_arch(const uh_arch_t *a, int *out, int cap) {
    int n = 0;
    for (int i = 0; i < a->n_layers; i++) {
        const uh_layer_t *l = &a->layers[i];
        int tok[8], k = 0;
        int last = i == a->n_layers - 1;
        switch (l->type) {
        case UH_LAYER_CONV2D: {
            int f = index_of(FILTERS, N_OF(FILTERS), l->filters);
            if (f < 0 || l->kernel < 1 || l->kernel > N_KERNELS || l->stride > 2 ||
                (l->padding != 0 && l->padding != l->kernel / 2))
                return -1;
            tok[k++] = T_CONV, tok[k++] = T_F0 + f, tok[k++] = T_K0 + l->kernel - 1;
            tok[k++] = l->stride == 2 ? T_S2 : T_S1;
            tok[k++] = l->padding ? T_PH : T_P0;
            break;
        }
        case UH_LAYER_POOL:
            if ((l->size != 2 && l->size != 3) || l->stride != l->size) return -1;
            tok[k++] = l->pool_kind == UH_POOL_MAX ? T_POOLMAX : T_POOLAVG;
            tok[k++] = l->size == 2 ? T_Z2 : T_Z3;
            break;
        case UH_LAYER_FLATTEN:
            continue;
        case UH_LAYER_DENSE:
            if (last) {
                tok[k++] = T_OUT;
            } else {
                int u = index_of(UNITS, N_OF(UNITS), l->units);
                if (u < 0) return -1;
                tok[k++] = T_DENSE, tok[k++] = T_U0 + u;
            }
            break;
        }
        if (l->type == UH_LAYER_CONV2D || l->type == UH_LAYER_DENSE) {
            int t = encode_tail(l, tok + k);
            if (t < 0) return -1;
            k += t;
        }
        if (n + k > cap) return -1;
        memcpy(out + n, tok, (size_t)k * sizeof *tok);
        n += k;
    }
    return n;
}

/* Where each layer of tok[0..n) starts (at[0..count)) and the end (at[count]); the count. */
static int split_layers(const int *tok, int n, int *at) {
    int count = 0;
    for (int i = 0; i < n; i++)
        if (tok[i] >= T_CONV && tok[i] <= T_POOLAVG) at[count++] = i;
    at[count] = n;
    return count;
}

typedef struct { /* an architecture's tokens and its layers */
    int tok[UH_LANG_MAX_TOKENS], at[UH_ARCH_MAX_LAYERS + 1], n;
} layers_t;

static int same_layer(const layers_t *x, int i, const layers_t *y, int j) {
    int len = x->at[i + 1] - x->at[i];
    return len == y->at[j + 1] - y->at[j] &&
           !memcmp(x->tok + x->at[i], y->tok + y->at[j], (size_t)len * sizeof *x->tok);
}

/* The moves of an edit, in the order ties go (the encoding is deterministic). */
enum { M_COPY1, M_COPY2, M_SKIP1, M_SKIP2, M_WRITE, M_COUNT };

/* A dynamic programme over (child layer i, next layer j0 of the first parent, j1 of the
 * second): cost(i, j0, j1) is the fewest tokens that write the child's layers from i on. */
typedef struct {
    const layers_t *child, *parent; /* parent[0..1] (n 0 for the second of one) */
    int n1, stride0, stride1;
    int *cost;
} edits_t;

static int *cost_of(const edits_t *e, int i, int j0, int j1) {
    return &e->cost[i * e->stride0 + j0 * e->stride1 + j1];
}

/* The cost of move m from (i, j0, j1), or −1 when it cannot be made there. */
static int move_cost(const edits_t *e, int m, int i, int j0, int j1) {
    const layers_t *c = e->child, *p = e->parent;
    switch (m) {
    case M_COPY1:
        return j0 < p[0].n && same_layer(c, i, &p[0], j0) ? 1 + *cost_of(e, i + 1, j0 + 1, j1) : -1;
    case M_COPY2:
        return j1 < e->n1 && same_layer(c, i, &p[1], j1) ? 1 + *cost_of(e, i + 1, j0, j1 + 1) : -1;
    case M_SKIP1:
        return j0 < p[0].n ? 1 + *cost_of(e, i, j0 + 1, j1) : -1;
    case M_SKIP2:
        return j1 < e->n1 ? 1 + *cost_of(e, i, j0, j1 + 1) : -1;
    default:
        return c->at[i + 1] - c->at[i] + *cost_of(e, i + 1, j0, j1);
    }
}

/* The child as the shortest edits of parent[0..np) (np 1 or 2) into out; the length, or −1
 * when it exceeds cap. */
static int encode_edits(const layers_t *child, const layers_t *parent, int np, int *out, int cap) {
    edits_t e = {child, parent, np > 1 ? parent[1].n : 0, 0, 0, NULL};
    e.stride1 = e.n1 + 1, e.stride0 = (parent[0].n + 1) * e.stride1;
    if (!(e.cost = malloc((size_t)(child->n + 1) * (size_t)e.stride0 * sizeof *e.cost))) return -1;
    for (int i = child->n; i >= 0; i--)
        for (int j0 = parent[0].n; j0 >= 0; j0--)
            for (int j1 = e.n1; j1 >= 0; j1--) {
                int best = i == child->n ? 0 : -1; /* the parents' rest is dropped */
                for (int m = 0; m < M_COUNT && i < child->n; m++) {
                    int v = move_cost(&e, m, i, j0, j1);
                    if (v >= 0 && (best < 0 || v < best)) best = v;
                }
                *cost_of(&e, i, j0, j1) = best;
            }
    int n = 0, i = 0, j0 = 0, j1 = 0;
    while (i < child->n && n >= 0) {
        int m = 0;
        while (move_cost(&e, m, i, j0, j1) != *cost_of(&e, i, j0, j1)) m++;
        int len = m == M_WRITE ? child->at[i + 1] - child->at[i] : 1;
        if (n + len > cap) {
            n = -1;
        } else if (m == M_WRITE) {
            memcpy(out + n, child->tok + child->at[i], (size_t)len * sizeof *out);
            n += len;
        } else {
            out[n++] = m == M_COPY1 || m == M_COPY2 ? T_COPY0 + m - M_COPY1 : T_SKIP0 + m - M_SKIP1;
        }
        i += m == M_COPY1 || m == M_COPY2 || m == M_WRITE;
        j0 += m == M_COPY1 || m == M_SKIP1;
        j1 += m == M_COPY2 || m == M_SKIP2;
    }
    free(e.cost);
    return n;
}

static int layers_of(const uh_arch_t *a, layers_t *l) {
    int n = uh_lang_encode_arch(a, l->tok, UH_LANG_MAX_TOKENS);
    if (n < 0) return -1;
    l->n = split_layers(l->tok, n, l->at);
    return 0;
}

/* The child a after out[0..n) in the mode's language; the new length, or −1. */
static int encode_child(const uh_arch_t *a, const uh_arch_t *const *parents, int n_parents,
                        uh_lang_mode_t mode, int *out, int n, int cap) {
    if (mode != UH_LANG_EDITS || n_parents < 1) {
        int k = uh_lang_encode_arch(a, out + n, cap - n);
        return k < 0 ? -1 : n + k;
    }
    layers_t *l = malloc((UH_LANG_MAX_PARENTS + 1) * sizeof *l); /* the child, then parents */
    int ok = l && !layers_of(a, &l[0]);
    for (int i = 0; ok && i < n_parents; i++) ok = !layers_of(parents[i], &l[1 + i]);
    int k = ok ? encode_edits(&l[0], l + 1, n_parents, out + n, cap - n) : -1;
    free(l);
    return k < 0 ? -1 : n + k;
}

int uh_lang_example(const int *hardware, const int *targets, const uh_arch_t *const *parents,
                    int n_parents, const uh_arch_t *arch, uh_lang_mode_t mode, int *out, int cap) {
    if (cap < 11 || n_parents < 0 || n_parents > UH_LANG_MAX_PARENTS) return -1;
    int n = 0;
    out[n++] = UH_TOK_BOS;
    for (int i = 0; i < 5; i++) out[n++] = hardware[i];
    out[n++] = UH_TOK_SEP_TGT;
    for (int i = 0; i < 3; i++) out[n++] = targets[i];
    for (int i = 0; i < n_parents; i++) {
        if (n >= cap) return -1;
        out[n++] = UH_TOK_SEP_PARENT;
        int k = uh_lang_encode_arch(parents[i], out + n, cap - n - 1);
        if (k < 0) return -1;
        n += k;
    }
    if (n >= cap) return -1;
    out[n++] = UH_TOK_SEP_CHILD;
    if (!arch) return n;
    if ((n = encode_child(arch, parents, n_parents, mode, out, n, cap - 1)) < 0) return -1;
    out[n++] = UH_TOK_EOS;
    return n;
}

/* ---- the grammar ------------------------------------------------------------------------ */

enum {
    F_LAYER,
    F_FILTERS,
    F_KERNEL,
    F_STRIDE,
    F_PAD,
    F_ACT,
    F_BITS,
    F_TILE,
    F_POOL_SIZE,
    F_UNITS,
    F_END
};

void uh_lang_grammar_init(uh_lang_grammar_t *g, const uh_backend_t *b, uh_shape_t input) {
    memset(g, 0, sizeof *g);
    const uh_constraints_t *c = b ? uh_backend_constraints(b) : NULL;
    g->input = input;
    g->activations = c ? c->activations : (1u << UH_ACT_COUNT) - 1;
    g->min_bits = c ? c->min_bits : UH_ARCH_MIN_BITS;
    g->max_bits = c ? c->max_bits : UH_ARCH_MAX_BITS;
    g->min_tile = c ? c->min_tile : 0;
    g->max_tile = c ? c->max_tile : 0;
    g->max_units = c && c->max_units ? c->max_units : UH_ARCH_MAX_UNITS;
    g->max_filters = c && c->max_filters ? c->max_filters : UH_ARCH_MAX_FILTERS;
    g->max_kernel = c && c->max_kernel ? c->max_kernel : N_KERNELS;
    g->allow_conv = !c || (c->layer_types & (1u << UH_LAYER_CONV2D));
    g->allow_pool = !c || (c->layer_types & (1u << UH_LAYER_POOL));
    g->out_act_none = g->activations & 1u;
    g->max_params = c && c->max_params > 0 && c->max_params < UH_ARCH_MAX_PARAMS
                        ? c->max_params
                        : UH_ARCH_MAX_PARAMS;
    g->max_macs =
        c && c->max_macs > 0 && c->max_macs < UH_ARCH_MAX_MACS ? c->max_macs : UH_ARCH_MAX_MACS;
    g->c = input.c, g->h = input.h, g->w = input.w;
    g->field = F_LAYER;
}

static uh_layer_t *current(uh_lang_grammar_t *g) {
    return &g->arch.layers[g->arch.n_layers - 1];
}

static int is_output(const uh_lang_grammar_t *g) {
    return g->arch.n_layers > 0 && g->arch.layers[g->arch.n_layers - 1].units == -1;
}

/* The layer tokens that may come next (LAYERS' grammar). */
static void layer_allowed(const uh_lang_grammar_t *g, unsigned char *allowed) {
    memset(allowed, 0, T_COUNT);
    int spatial = g->n_dense == 0 && !g->done;
    int room = g->arch.n_layers + 3 < UH_ARCH_MAX_LAYERS;
    switch (g->field) {
    case F_LAYER:
        if (g->done) {
            allowed[UH_TOK_EOS] = 1;
            break;
        }
        allowed[T_OUT] = 1;
        /* the hidden layers the search's operators build (and its genome has room for) */
        if (room && g->n_dense < UH_SPACE_MAX_DENSE) allowed[T_DENSE] = 1;
        if (room && spatial && g->allow_conv && g->n_conv < UH_SPACE_MAX_CONV && g->h >= 1)
            allowed[T_CONV] = 1;
        if (room && spatial && g->allow_pool && g->h >= 2 && g->w >= 2)
            allowed[T_POOLMAX] = allowed[T_POOLAVG] = 1;
        break;
    case F_FILTERS:
        for (int i = 0; i < N_OF(FILTERS); i++) allowed[T_F0 + i] = FILTERS[i] <= g->max_filters;
        break;
    case F_KERNEL:
        for (int k = 1; k <= N_KERNELS; k++)
            allowed[T_K0 + k - 1] = k <= g->max_kernel && k <= g->h && k <= g->w;
        break;
    case F_STRIDE:
        allowed[T_S1] = 1;
        allowed[T_S2] = g->h >= 4 && g->w >= 4;
        break;
    case F_PAD:
        allowed[T_P0] = allowed[T_PH] = 1;
        break;
    case F_POOL_SIZE:
        allowed[T_Z2] = 1;
        allowed[T_Z3] = g->h >= 3 && g->w >= 3;
        break;
    case F_UNITS: { /* within the limits, leaving room for the output layer */
        long in = (long)g->c * g->h * g->w, classes = g->input.n_classes;
        for (int i = 0; i < N_OF(UNITS); i++) {
            long u = UNITS[i];
            allowed[T_U0 + i] = u <= g->max_units &&
                                g->params + (in + 1) * u + (u + 1) * classes <= g->max_params &&
                                g->macs + in * u + u * classes <= g->max_macs;
        }
        break;
    }
    case F_ACT:
        for (int a = 0; a < UH_ACT_COUNT; a++) allowed[T_A0 + a] = (g->activations >> a) & 1u;
        if (is_output(g) && g->out_act_none) {
            memset(allowed + T_A0, 0, UH_ACT_COUNT);
            allowed[T_A0] = 1; /* logits: no activation, where the hardware allows it */
        }
        break;
    case F_BITS:
        allowed[T_B0] = 1;
        for (int i = 1; i < N_OF(BITS); i++)
            allowed[T_B0 + i] = BITS[i] >= g->min_bits && BITS[i] <= g->max_bits;
        break;
    case F_TILE:
        allowed[T_T0] = 1;
        for (int i = 1; i < N_OF(TILES) && g->max_tile > 0; i++)
            allowed[T_T0 + i] = TILES[i] >= g->min_tile && TILES[i] <= g->max_tile;
        break;
    default:
        break;
    }
}

/* Output size of a window over n with kernel k, stride s, padding p. */
static int window(int n, int k, int s, int p) {
    return (n + 2 * p - k) / s + 1;
}

/* Takes one layer token; −1 when LAYERS' grammar does not allow it here. */
static int push_token(uh_lang_grammar_t *g, int t) {
    unsigned char allowed[T_COUNT];
    if (t < 0 || t >= T_COUNT || (layer_allowed(g, allowed), !allowed[t])) return -1;
    uh_arch_t *a = &g->arch;
    switch (g->field) {
    case F_LAYER:
        if (t == UH_TOK_EOS) {
            g->field = F_END;
            break;
        }
        a->layers[a->n_layers++] = (uh_layer_t){0};
        if (t == T_CONV) {
            current(g)->type = UH_LAYER_CONV2D, g->n_conv++, g->field = F_FILTERS;
        } else if (t == T_DENSE) {
            current(g)->type = UH_LAYER_DENSE, g->n_dense++, g->field = F_UNITS;
        } else if (t == T_OUT) {
            current(g)->type = UH_LAYER_DENSE, current(g)->units = -1, g->field = F_ACT;
        } else {
            current(g)->type = UH_LAYER_POOL;
            current(g)->pool_kind = t == T_POOLMAX ? UH_POOL_MAX : UH_POOL_AVG;
            g->field = F_POOL_SIZE;
        }
        break;
    case F_FILTERS:
        current(g)->filters = FILTERS[t - T_F0], g->field = F_KERNEL;
        break;
    case F_KERNEL:
        current(g)->kernel = t - T_K0 + 1, g->field = F_STRIDE;
        break;
    case F_STRIDE:
        current(g)->stride = t == T_S2 ? 2 : 1, g->field = F_PAD;
        break;
    case F_PAD: {
        uh_layer_t *l = current(g);
        l->padding = t == T_PH ? l->kernel / 2 : 0;
        g->h = window(g->h, l->kernel, l->stride, l->padding);
        g->w = window(g->w, l->kernel, l->stride, l->padding);
        long ckk = (long)g->c * l->kernel * l->kernel;
        g->params += l->filters * (ckk + 1);
        g->macs += l->filters * ckk * g->h * g->w;
        g->c = l->filters;
        g->field = F_ACT;
        break;
    }
    case F_POOL_SIZE: {
        uh_layer_t *l = current(g);
        l->size = l->stride = t == T_Z3 ? 3 : 2;
        g->h = window(g->h, l->size, l->size, 0), g->w = window(g->w, l->size, l->size, 0);
        g->field = F_LAYER;
        break;
    }
    case F_UNITS: {
        long in = (long)g->c * g->h * g->w, u = UNITS[t - T_U0];
        g->params += (in + 1) * u;
        g->macs += in * u;
        g->c = (int)u, g->h = g->w = 1;
        current(g)->units = (int)u;
        g->field = F_ACT;
        break;
    }
    case F_ACT:
        current(g)->act = (uh_act_t)(t - T_A0), g->field = F_BITS;
        break;
    case F_BITS:
        current(g)->bits = BITS[t - T_B0], g->field = F_TILE;
        break;
    case F_TILE:
        current(g)->tile = TILES[t - T_T0];
        if (is_output(g)) g->done = 1;
        g->field = F_LAYER;
        break;
    default:
        return -1;
    }
    return 0;
}

int uh_lang_grammar_parents(uh_lang_grammar_t *g, const uh_arch_t *const *parents, int n) {
    if (n < 1 || n > UH_LANG_MAX_PARENTS) return -1;
    for (int k = 0; k < n; k++) {
        int len = uh_lang_encode_arch(parents[k], g->parent_tok[k], UH_LANG_MAX_TOKENS);
        if (len < 0) return -1;
        g->n_parent_layers[k] = split_layers(g->parent_tok[k], len, g->layer_at[k]);
        g->next_layer[k] = 0;
    }
    g->n_parents = n;
    return 0;
}

/* Parent k's next layer, token by token; −1 (g half-written) when the grammar refuses one. */
static int copy_layer(uh_lang_grammar_t *g, int k) {
    const int *at = g->layer_at[k], j = g->next_layer[k]++;
    for (int i = at[j]; i < at[j + 1]; i++)
        if (push_token(g, g->parent_tok[k][i])) return -1;
    return 0;
}

int uh_lang_allowed(const uh_lang_grammar_t *g, unsigned char *allowed) {
    layer_allowed(g, allowed);
    for (int k = 0; g->field == F_LAYER && !g->done && k < g->n_parents; k++) {
        if (g->next_layer[k] >= g->n_parent_layers[k]) continue;
        uh_lang_grammar_t tried = *g;
        allowed[T_COPY0 + k] = !copy_layer(&tried, k);
        allowed[T_SKIP0 + k] = 1;
    }
    int n = 0;
    for (int v = 0; v < T_COUNT; v++) n += allowed[v];
    return n;
}

int uh_lang_push(uh_lang_grammar_t *g, int t) {
    if (t < T_COPY0 || t >= T_COUNT) return push_token(g, t);
    unsigned char allowed[T_COUNT];
    if (uh_lang_allowed(g, allowed), !allowed[t]) return -1;
    if (t >= T_SKIP0) return g->next_layer[t - T_SKIP0]++, 0;
    g->copied++;
    return copy_layer(g, t - T_COPY0);
}

int uh_lang_result(uh_lang_grammar_t *g, uh_arch_t *out, uh_error_t *err) {
    if (g->field != F_END) return uh_error_set(err, UH_EINVAL, "the architecture is unfinished");
    *out = g->arch;
    out->layers[out->n_layers - 1].units = g->input.n_classes;
    return uh_arch_resolve(out, g->input, err);
}

/* ---- constrained sampling ----------------------------------------------------------------- */

int uh_lang_sample(uh_gpt_t *model, const int *prefix, int n_prefix, uh_lang_grammar_t *g,
                   double temperature, uh_rng_t *rng, int *tokens) {
    int n = n_prefix, max_t = uh_gpt_max_t(model);
    if (n < 1 || n > UH_LANG_MAX_TOKENS || n > max_t) return -1;
    memcpy(tokens, prefix, (size_t)n * sizeof *tokens);
    unsigned char allowed[T_COUNT];
    double prob[T_COUNT];
    /* the tokens the model has logits for: a LAYERS model has no edit tokens */
    const int vocab = uh_gpt_config(model)->vocab < T_COUNT ? uh_gpt_config(model)->vocab : T_COUNT;
    const float *z = NULL; /* the prefix through the model's cache */
    for (int t = 0; t < n; t++) z = uh_gpt_decode(model, tokens[t], t);
    while (g->field != F_END) {
        if (!z || n >= max_t || n >= UH_LANG_MAX_TOKENS) return -1;
        uh_lang_allowed(g, allowed);
        if (vocab < T_COUNT) memset(allowed + vocab, 0, (size_t)(T_COUNT - vocab));
        double maxz = -INFINITY, sum = 0;
        for (int v = 0; v < vocab; v++)
            if (allowed[v] && z[v] > maxz) maxz = z[v];
        for (int v = 0; v < vocab; v++) {
            prob[v] = allowed[v] ? (temperature > 0 ? exp((z[v] - maxz) / temperature)
                                                    : (z[v] == maxz ? 1.0 : 0.0))
                                 : 0.0;
            sum += prob[v];
        }
        double r = uh_rng_uniform(rng) * sum, acc = 0;
        int pick = -1;
        for (int v = 0; v < vocab && pick < 0; v++)
            if (allowed[v] && (acc += prob[v]) >= r) pick = v;
        for (int v = vocab - 1; pick < 0 && v >= 0; v--) /* rounding: the last allowed */
            if (allowed[v]) pick = v;
        uh_lang_push(g, pick);
        tokens[n++] = pick;
        if (g->field != F_END) z = uh_gpt_decode(model, pick, n - 1);
    }
    return n;
}
