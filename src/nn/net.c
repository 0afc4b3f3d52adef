/* uhnas — the network: buffers sized once, weight init, forward, backward, optimizer step.
 *
 * Layouts. Dense activations are [N × units]. Spatial ones (conv, pool outputs) are
 * channel-major [C × N × H×W], so a conv layer's GEMM writes its output in place with no
 * permute. The input batch is NCHW; it is rearranged once when the first layer is spatial
 * and C > 1, and a dense layer fed by a spatial one rearranges its (small) input back to
 * NCHW — the flatten order, and so the weight layout, PyTorch uses.
 *
 * Buffers. uh_net_new allocates everything a batch of up to max_batch samples needs:
 * parameters, gradients and optimizer state (flat, weights then bias per layer), a forward
 * copy of the weights (for fake quantization and the noise hook), per layer the
 * pre-activation z and output a (one buffer, activation in place, for none and for relu /
 * leaky_relu without bits), max-pool argmax indices, the rearranged inputs above, two
 * ping-pong buffers for gradients flowing backward, the mini-batch gather buffer, and conv
 * scratch. A conv layer whose whole-batch im2col matrix fits in NN_COL_KEEP_FLOATS owns it
 * and keeps it from forward to backward; a larger one works in blocks of samples through a
 * shared buffer of about NN_COL_BLOCK_FLOATS and redoes im2col in backward. The total is
 * bounded by UH_NN_MAX_BYTES so a huge max_batch is an error, not an out-of-memory kill.
 *
 * Weight init (seeded per layer, stream = layer index, so a layer's draw does not depend on
 * the layers before it): uniform in ±sqrt(6 / fan_in) (He) for relu and leaky_relu, in
 * ±sqrt(6 / (fan_in + fan_out)) (Xavier/Glorot) for every other activation; fan_in =
 * in (dense) or C·K·K (conv), fan_out = units or filters·K·K (PyTorch's definitions).
 * Biases start at zero.
 *
 * Noise hook. Layers are named to the hook by their index in arch->layers (0-based). The
 * weight and output noise of one call (a training step, an evaluation, a forward) come from
 * a stream derived from (noise seed, kind of call, step number or sample id), and within it
 * one sub-stream per layer: the same seeds replay the same noise. */
#include "net.h"
#include "uhnas/limits.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A conv layer keeps its whole-batch im2col matrix when it has at most this many floats
 * (64 MiB), and all kept ones together at most NN_COL_KEEP_TOTAL. */
#define NN_COL_KEEP_FLOATS (1L << 24)
#define NN_COL_KEEP_TOTAL (1L << 25)
/* Otherwise im2col runs in blocks of samples of about this many floats (8 MiB). */
#define NN_COL_BLOCK_FLOATS (1L << 21)

/* ---- memory ---- */

/* *out = count × elem bytes, 64-byte aligned, zeroed, recorded for uh_net_free. Fails
 * when out of memory or over the byte budget. */
static int net_alloc(uh_net_t *net, void **out, size_t count, size_t elem, uh_error_t *err) {
    size_t bytes = count * elem;
    bytes = (bytes + 63) / 64 * 64;
    if (bytes == 0) bytes = 64;
    if (net->bytes + bytes > UH_NN_MAX_BYTES)
        return uh_error_set(err, UH_ELIMIT,
                            "buffers would take over %lu MiB; use a smaller batch or network",
                            (unsigned long)(UH_NN_MAX_BYTES >> 20));
    if (net->n_mem >= (int)(sizeof net->mem / sizeof net->mem[0]))
        return uh_error_set(err, UH_ENOMEM, "too many buffers");
    void *p = aligned_alloc(64, bytes);
    if (!p) return uh_error_set(err, UH_ENOMEM, "out of memory allocating %zu bytes", bytes);
    memset(p, 0, bytes);
    net->mem[net->n_mem++] = p;
    net->bytes += bytes;
    *out = p;
    return UH_OK;
}

void uh_net_free(uh_net_t *net) {
    if (!net) return;
    for (int i = 0; i < net->n_mem; i++) free(net->mem[i]);
    free(net);
}

/* ---- build ---- */

static void init_weights(uh_net_t *net, uint64_t seed) {
    for (int i = 0; i < net->n_layers; i++) {
        const nn_layer_t *L = &net->layers[i];
        if (L->w_off < 0) continue;
        const uh_layer_t *s = &net->arch.layers[i];
        double fan_in = L->cols;
        double fan_out = s->type == UH_LAYER_CONV2D ? (double)s->filters * s->kernel * s->kernel
                                                    : (double)s->units;
        int relu_like = L->act == UH_ACT_RELU || L->act == UH_ACT_LEAKY_RELU;
        double bound = relu_like ? sqrt(6.0 / fan_in) : sqrt(6.0 / (fan_in + fan_out));
        uh_rng_t rng;
        uh_rng_seed_stream(&rng, seed, (uint64_t)i);
        float *w = net->params + L->w_off;
        size_t n_w = (size_t)L->rows * L->cols;
        for (size_t k = 0; k < n_w; k++) w[k] = (float)((2.0 * uh_rng_uniform(&rng) - 1.0) * bound);
        memset(net->params + L->b_off, 0, (size_t)L->rows * sizeof(float));
    }
}

/* Fills the per-layer description and offsets; returns the number of parameters. */
static size_t plan_layers(uh_net_t *net) {
    size_t off = 0;
    net->first_param = -1;
    int spatial_in = 0; /* the current tensor is channel-major (a conv/pool output) */
    for (int i = 0; i < net->n_layers; i++) {
        const uh_layer_t *s = &net->arch.layers[i];
        nn_layer_t *L = &net->layers[i];
        memset(L, 0, sizeof *L);
        L->type = s->type;
        L->act = s->type == UH_LAYER_DENSE || s->type == UH_LAYER_CONV2D ? s->act : UH_ACT_NONE;
        L->bits = s->bits > 0 && s->bits < 32 ? s->bits : 0;
        L->in_sz = s->in_c * s->in_h * s->in_w;
        L->out_sz = s->out_c * s->out_h * s->out_w;
        L->w_off = L->b_off = -1;
        int k = s->type == UH_LAYER_CONV2D ? s->kernel : s->size;
        L->g = (nn_win_t){.C = s->in_c,
                          .H = s->in_h,
                          .W = s->in_w,
                          .F = s->out_c,
                          .K = k,
                          .S = s->stride,
                          .P = s->type == UH_LAYER_CONV2D ? s->padding : 0,
                          .OH = s->out_h,
                          .OW = s->out_w};
        if (s->type == UH_LAYER_DENSE) L->permute_in = spatial_in && s->in_c > 1;
        if (s->type != UH_LAYER_FLATTEN) spatial_in = s->type != UH_LAYER_DENSE;
        if (s->type == UH_LAYER_DENSE || s->type == UH_LAYER_CONV2D) {
            L->rows = s->out_c;
            L->cols = s->type == UH_LAYER_DENSE ? L->in_sz : s->in_c * k * k;
            L->w_off = (long)off;
            off += (size_t)L->rows * L->cols;
            L->b_off = (long)off;
            off += (size_t)L->rows;
            if (net->first_param < 0) net->first_param = i;
        }
    }
    return off;
}

static int alloc_buffers(uh_net_t *net, uh_error_t *err) {
    const size_t B = (size_t)net->max_batch, np = net->n_params;
    void *p_;
    int rc;
#define ALLOC(ptr, count, type)                                                                    \
    do {                                                                                           \
        if ((rc = net_alloc(net, &p_, (count), sizeof(type), err))) return rc;                     \
        (ptr) = p_;                                                                                \
    } while (0)
    ALLOC(net->params, np, float);
    ALLOC(net->grads, np, float);
    ALLOC(net->opt_m, np, float);
    ALLOC(net->opt_v, np, float);
    ALLOC(net->w_copy, np, float);
    ALLOC(net->xb, B * net->in_sz, float);
    ALLOC(net->yb, B, uint8_t);
    size_t max_out = 0, col_block = 0, max_perm = 0, max_thin = 0;
    long kept_total = 0;
    for (int i = 0; i < net->n_layers; i++) {
        nn_layer_t *L = &net->layers[i];
        size_t outs = B * (size_t)L->out_sz;
        if ((size_t)L->out_sz > max_out) max_out = (size_t)L->out_sz;
        switch (L->type) {
        case UH_LAYER_DENSE:
        case UH_LAYER_CONV2D:
            ALLOC(L->z, outs, float);
            if (L->act == UH_ACT_NONE ||
                (!L->bits && (L->act == UH_ACT_RELU || L->act == UH_ACT_LEAKY_RELU)))
                L->a = L->z;
            else
                ALLOC(L->a, outs, float);
            if (L->permute_in) {
                ALLOC(L->xin, B * (size_t)L->in_sz, float);
                if ((size_t)L->in_sz > max_perm) max_perm = (size_t)L->in_sz;
            }
            break;
        case UH_LAYER_POOL:
            ALLOC(L->a, outs, float);
            if (net->arch.layers[i].pool_kind == UH_POOL_MAX) ALLOC(L->arg, outs, int32_t);
            break;
        case UH_LAYER_FLATTEN:
            break;
        }
        if (L->type != UH_LAYER_CONV2D) continue;
        size_t n_w = (size_t)L->rows * L->cols;
        if (n_w <= NN_DW_THIN && n_w > max_thin) max_thin = n_w;
        long unfold = (long)L->cols * L->g.OH * L->g.OW; /* im2col floats per sample */
        long whole = unfold * net->max_batch;
        if (whole <= NN_COL_KEEP_FLOATS && kept_total + whole <= NN_COL_KEEP_TOTAL) {
            L->chunk = net->max_batch;
            L->col_kept = 1;
            kept_total += whole;
            ALLOC(L->col, (size_t)whole, float);
        } else {
            long chunk = NN_COL_BLOCK_FLOATS / unfold;
            L->chunk = chunk < 1 ? 1 : chunk > net->max_batch ? net->max_batch : (int)chunk;
            if ((size_t)(unfold * L->chunk) > col_block) col_block = (size_t)(unfold * L->chunk);
        }
    }
    if (col_block) ALLOC(net->col_shared, col_block, float);
    if (max_perm) ALLOC(net->gperm, B * max_perm, float);
    if (max_thin) ALLOC(net->dw_part, NN_DW_SPLIT * max_thin, float);
    const uh_layer_t *l0 = &net->arch.layers[0];
    if ((l0->type == UH_LAYER_CONV2D || l0->type == UH_LAYER_POOL) && l0->in_c > 1)
        ALLOC(net->x_cnp, B * net->in_sz, float);
    for (int i = 0; i < net->n_layers; i++)
        if (net->layers[i].type == UH_LAYER_CONV2D && !net->layers[i].col_kept)
            net->layers[i].col = net->col_shared;
    ALLOC(net->gbuf[0], B * max_out, float);
    ALLOC(net->gbuf[1], B * max_out, float);
#undef ALLOC
    return UH_OK;
}

const char *uh_nn_blas_kernels(void) {
    return openblas_get_corename();
}

uh_net_t *uh_net_new(const uh_arch_t *arch, int max_batch, uint64_t seed, uh_error_t *err) {
    if (!arch || arch->n_layers < 1 || arch->n_layers > UH_ARCH_MAX_LAYERS || arch->input.c < 1 ||
        arch->input.n_classes < 2) {
        uh_error_set(err, UH_EINVAL, "network: the architecture is empty or not resolved");
        return NULL;
    }
    if (max_batch < 1 || max_batch > UH_NN_MAX_BATCH) {
        uh_error_set(err, UH_EINVAL, "network: batch size must be in 1..%d, got %d",
                     UH_NN_MAX_BATCH, max_batch);
        return NULL;
    }
    const uh_layer_t *last = &arch->layers[arch->n_layers - 1];
    if (last->type != UH_LAYER_DENSE || last->units != arch->input.n_classes) {
        uh_error_set(err, UH_EINVAL,
                     "network: the last layer must be dense with %d units (one per class)",
                     arch->input.n_classes);
        return NULL;
    }
    /* The kernels thread their GEMMs themselves, in blocks set by the shapes (layers.c):
     * OpenBLAS's own threads would make the floats depend on the thread count. */
    openblas_set_num_threads(1);
    uh_net_t *net = calloc(1, sizeof *net);
    if (!net) {
        uh_error_set(err, UH_ENOMEM, "out of memory for the network");
        return NULL;
    }
    /* Buffers are sized from the derived shapes: recompute them rather than trust them. */
    net->arch = *arch;
    if (uh_arch_resolve(&net->arch, arch->input, err)) {
        uh_error_prefix(err, "network");
        free(net);
        return NULL;
    }
    net->n_layers = arch->n_layers;
    net->max_batch = max_batch;
    net->in_sz = arch->input.c * arch->input.h * arch->input.w;
    net->n_classes = arch->input.n_classes;
    net->n_params = plan_layers(net);
    if (alloc_buffers(net, err)) {
        uh_error_prefix(err, "network");
        uh_net_free(net);
        return NULL;
    }
    init_weights(net, seed);
    nn_prepare_weights(net, NN_STREAM_FORWARD, 0);
    return net;
}

/* ---- accessors ---- */

const uh_arch_t *uh_net_arch(const uh_net_t *net) {
    return &net->arch;
}
size_t uh_net_n_params(const uh_net_t *net) {
    return net->n_params;
}
float *uh_net_params(uh_net_t *net) {
    return net->params;
}
float *uh_net_grads(uh_net_t *net) {
    return net->grads;
}
long uh_net_weight_offset(const uh_net_t *net, int layer) {
    return layer < 0 || layer >= net->n_layers ? -1 : net->layers[layer].w_off;
}
long uh_net_bias_offset(const uh_net_t *net, int layer) {
    return layer < 0 || layer >= net->n_layers ? -1 : net->layers[layer].b_off;
}

void uh_net_set_noise(uh_net_t *net, const uh_noise_t *noise, uint64_t noise_seed) {
    net->noise = noise;
    net->noise_seed = noise_seed;
    net->train_calls = net->forward_calls = 0;
}

/* ---- forward ---- */

void nn_prepare_weights(uh_net_t *net, uint64_t kind, uint64_t id) {
    const uh_noise_t *nz = net->noise;
    uint64_t call_seed = 0;
    if (nz) {
        uh_rng_t r;
        uh_rng_seed_stream(&r, net->noise_seed ^ kind, id);
        call_seed = uh_rng_u64(&r);
        uh_rng_seed_stream(&net->out_rng, call_seed, UH_ARCH_MAX_LAYERS);
    }
    int perturb = nz && nz->perturb_weights;
    for (int i = 0; i < net->n_layers; i++) {
        nn_layer_t *L = &net->layers[i];
        if (L->w_off < 0) continue;
        const float *w = net->params + L->w_off;
        if (!perturb && !L->bits) {
            L->w_fwd = w;
            continue;
        }
        float *wc = net->w_copy + L->w_off;
        size_t n_w = (size_t)L->rows * L->cols;
        memcpy(wc, w, n_w * sizeof *wc);
        if (L->bits) fake_quant(wc, 1, 1, n_w, L->bits);
        if (perturb) {
            uh_rng_t rng;
            uh_rng_seed_stream(&rng, call_seed, (uint64_t)i);
            nz->perturb_weights(nz->ctx, i, wc, L->rows, L->cols, &rng);
        }
        L->w_fwd = wc;
    }
}

void uh_fake_quant(float *w, size_t n, int bits) {
    fake_quant(w, 1, 1, n, bits);
}

/* Output noise, activation and output quantization of a dense/conv layer's n samples. */
static void finish_outputs(uh_net_t *net, nn_layer_t *L, int i, int n) {
    size_t count = (size_t)n * L->out_sz;
    if (net->noise && net->noise->perturb_outputs)
        net->noise->perturb_outputs(net->noise->ctx, i, L->z, count, &net->out_rng);
    if (L->act != UH_ACT_NONE) act_forward(L->a, L->z, count, L->act);
    if (L->bits) {
        int C = L->type == UH_LAYER_CONV2D ? L->g.F : 1; /* conv outputs are CNHW */
        fake_quant(L->a, C, n, (size_t)(L->out_sz / C), L->bits);
    }
}

const float *nn_forward(uh_net_t *net, const float *x, int n) {
    const float *cur = x;
    if (net->x_cnp) {
        const uh_shape_t *in = &net->arch.input;
        nchw_to_cnhw(net->x_cnp, x, n, in->c, in->h * in->w);
        cur = net->x_cnp;
    }
    for (int i = 0; i < net->n_layers; i++) {
        nn_layer_t *L = &net->layers[i];
        const uh_layer_t *s = &net->arch.layers[i];
        L->in = cur;
        switch (L->type) {
        case UH_LAYER_DENSE:
            if (L->permute_in) {
                cnhw_to_nchw(L->xin, cur, n, s->in_c, s->in_h * s->in_w);
                L->in = L->xin;
            }
            dense_forward(L->z, L->in, L->w_fwd, net->params + L->b_off, n, L->in_sz, L->out_sz);
            finish_outputs(net, L, i, n);
            cur = L->a;
            break;
        case UH_LAYER_CONV2D:
            conv2d_forward(L->z, L->col, cur, L->w_fwd, net->params + L->b_off, n, L->chunk, &L->g);
            finish_outputs(net, L, i, n);
            cur = L->a;
            break;
        case UH_LAYER_POOL:
            if (L->arg)
                maxpool_forward(L->a, L->arg, cur, n, &L->g);
            else
                avgpool_forward(L->a, cur, n, &L->g);
            cur = L->a;
            break;
        case UH_LAYER_FLATTEN: /* nothing to do: the next dense layer reads in flatten order */
            break;
        }
    }
    return cur;
}

const float *uh_net_forward(uh_net_t *net, const float *x, int n) {
    if (!net || !x || n < 1 || n > net->max_batch) return NULL;
    nn_prepare_weights(net, NN_STREAM_FORWARD, net->forward_calls++);
    return nn_forward(net, x, n);
}

/* ---- backward ---- */

/* Gradients of every parameter from dlogits in gbuf[0] (the last forward's n samples). */
static void nn_backward(uh_net_t *net, int n) {
    float *g = net->gbuf[0], *other = net->gbuf[1];
    for (int i = net->n_layers - 1; i >= net->first_param; i--) {
        nn_layer_t *L = &net->layers[i];
        const int need_dx = i > net->first_param;
        float *dx = need_dx ? other : NULL;
        switch (L->type) {
        case UH_LAYER_DENSE:
        case UH_LAYER_CONV2D:
            /* dz = da · act'(z) in place; tanh/sigmoid reuse a unless it was quantized */
            act_backward(g, L->z, L->bits ? NULL : L->a, (size_t)n * L->out_sz, L->act);
            if (L->type == UH_LAYER_DENSE) {
                float *d = dx && L->permute_in ? net->gperm : dx;
                dense_backward(d, net->grads + L->w_off, net->grads + L->b_off, g, L->in, L->w_fwd,
                               n, L->in_sz, L->out_sz);
                if (dx && L->permute_in) {
                    const uh_layer_t *s = &net->arch.layers[i];
                    nchw_to_cnhw(dx, d, n, s->in_c, s->in_h * s->in_w);
                }
            } else {
                conv2d_backward(dx, net->grads + L->w_off, net->grads + L->b_off, g, L->in,
                                L->w_fwd, L->col, net->dw_part, n, L->chunk, L->col_kept, &L->g);
            }
            break;
        case UH_LAYER_POOL:
            if (L->arg)
                maxpool_backward(dx, g, L->arg, n, &L->g);
            else
                avgpool_backward(dx, g, n, &L->g);
            break;
        case UH_LAYER_FLATTEN:
            continue; /* gradient passes through unchanged */
        }
        if (need_dx) {
            other = g;
            g = dx;
        }
    }
}

float nn_loss_grad(uh_net_t *net, const float *x, const uint8_t *y, int n) {
    nn_prepare_weights(net, NN_STREAM_TRAIN, net->train_calls++);
    const float *logits = nn_forward(net, x, n);
    float loss = softmax_xent(net->gbuf[0], logits, y, n, net->n_classes);
    nn_backward(net, n);
    return loss;
}

float uh_net_loss_grad(uh_net_t *net, const float *x, const uint8_t *y, int n) {
    if (!net || !x || !y || n < 1 || n > net->max_batch) return NAN;
    for (int i = 0; i < n; i++)
        if (y[i] >= net->n_classes) return NAN;
    return nn_loss_grad(net, x, y, n);
}

/* ---- optimizer ---- */

void uh_net_step(uh_net_t *net, const uh_train_opts_t *opts) {
    if (opts->optimizer == UH_OPT_ADAM) {
        const uh_adam_t adam = {.lr = opts->lr > 0.0f ? opts->lr : 1e-3f,
                                .beta1 = opts->beta1,
                                .beta2 = opts->beta2,
                                .eps = opts->eps,
                                .weight_decay = opts->weight_decay};
        net->adam_t++;
        uh_adam_step(net->params, net->opt_m, net->opt_v, net->grads, net->n_params, &adam,
                     net->adam_t);
    } else {
        sgd_step(net->params, net->opt_m, net->grads, net->n_params, opts->lr, opts->momentum,
                 opts->weight_decay);
    }
}
