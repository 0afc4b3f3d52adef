/* Training engine: gradients against central finite differences, and the forward pass
 * (layouts, padding, stride, pooling, activations) against a naive double-precision
 * interpreter written here from the definitions. */
#include "common.h"

#include "uhnas/nn.h"

/* ---- helpers ---- */

static uh_net_t *make_net(const char *json, uh_shape_t shape, int max_batch, uint64_t seed,
                          uh_arch_t *arch) {
    parse_arch(json, shape, arch);
    uh_error_t err = {0};
    uh_net_t *net = uh_net_new(arch, max_batch, seed, &err);
    if (!net) fprintf(stderr, "net: %s\n", err.msg);
    assert_non_null(net);
    return net;
}

static float *random_inputs(int n, int size, uint64_t seed) {
    uh_rng_t rng;
    uh_rng_seed(&rng, seed);
    float *x = malloc((size_t)n * size * sizeof *x);
    assert_non_null(x);
    for (int i = 0; i < n * size; i++) x[i] = (float)uh_rng_uniform(&rng);
    return x;
}

/* Gives the biases small random values, so their gradients and the kinks are not all at
 * the same place as at initialisation. */
static void randomize_biases(uh_net_t *net, uint64_t seed) {
    const uh_arch_t *arch = uh_net_arch(net);
    float *p = uh_net_params(net);
    uh_rng_t rng;
    uh_rng_seed(&rng, seed);
    for (int i = 0; i < arch->n_layers; i++) {
        long b = uh_net_bias_offset(net, i);
        if (b < 0) continue;
        for (int k = 0; k < arch->layers[i].out_c; k++)
            p[b + k] = (float)(0.2 * (2 * uh_rng_uniform(&rng) - 1));
    }
}

/* ---- finite differences ---- */

typedef struct {
    uh_net_t *net;
    const float *x;
    const uint8_t *y;
    int n;
} loss_ctx_t;

static double loss_at(const loss_ctx_t *c) {
    return (double)uh_net_loss_grad(c->net, c->x, c->y, c->n);
}

/* Central difference of the loss along direction d (NULL: unit vector at index k). */
static double central(const loss_ctx_t *c, const float *d, long k, double eps) {
    float *p = uh_net_params(c->net);
    size_t np = uh_net_n_params(c->net);
    float *p0 = malloc(np * sizeof *p0);
    assert_non_null(p0);
    memcpy(p0, p, np * sizeof *p);
    double lp, lm;
    if (d) {
        for (size_t i = 0; i < np; i++) p[i] = p0[i] + (float)eps * d[i];
        lp = loss_at(c);
        for (size_t i = 0; i < np; i++) p[i] = p0[i] - (float)eps * d[i];
        lm = loss_at(c);
    } else {
        p[k] = p0[k] + (float)eps;
        double ep = (double)p[k] - p0[k]; /* the step float actually took */
        lp = loss_at(c);
        p[k] = p0[k] - (float)eps;
        double em = (double)p0[k] - p[k];
        lm = loss_at(c);
        memcpy(p, p0, np * sizeof *p);
        free(p0);
        return (lp - lm) / (ep + em);
    }
    memcpy(p, p0, np * sizeof *p);
    free(p0);
    return (lp - lm) / (2 * eps);
}

#define EPS1 1e-2
#define EPS2 5e-3
#define REL_TOL 1e-2
#define ABS_TOL 2e-4

static int close_enough(double a, double b) {
    return fabs(a - b) <= REL_TOL * fmax(fabs(a), fabs(b)) + ABS_TOL;
}

/* Checks analytic gradients of the architecture against central differences: a sample of
 * single parameters from every layer (weights and biases), and directional derivatives of
 * the whole parameter vector (random directions and the gradient's own). A point where the
 * differences at two step sizes disagree sits on a kink (relu, abs, max) and is skipped;
 * at most a quarter may be. */
static void grad_check(const char *json, uh_shape_t shape, int n, uint64_t seed) {
    uh_arch_t arch;
    uh_net_t *net = make_net(json, shape, n, seed, &arch);
    randomize_biases(net, seed + 100);
    int in = shape.c * shape.h * shape.w;
    float *x = random_inputs(n, in, seed + 1);
    uint8_t *y = malloc((size_t)n);
    assert_non_null(y);
    for (int i = 0; i < n; i++) y[i] = (uint8_t)((i * 7 + 3) % shape.n_classes);
    loss_ctx_t c = {net, x, y, n};

    size_t np = uh_net_n_params(net);
    float loss = uh_net_loss_grad(net, x, y, n);
    assert_true(isfinite(loss));
    float *g = malloc(np * sizeof *g);
    assert_non_null(g);
    memcpy(g, uh_net_grads(net), np * sizeof *g);

    uh_rng_t rng;
    uh_rng_seed(&rng, seed + 2);
    int checked = 0, skipped = 0, failed = 0;
    double gmax = 0;
    for (int i = 0; i < arch.n_layers; i++) {
        long wo = uh_net_weight_offset(net, i), bo = uh_net_bias_offset(net, i);
        if (wo < 0) continue;
        long n_w = bo - wo, n_b = arch.layers[i].out_c;
        for (int s = 0; s < 12; s++) {
            long k = s < 8 ? wo + (long)uh_rng_below(&rng, (uint64_t)n_w)
                           : bo + (long)uh_rng_below(&rng, (uint64_t)n_b);
            double d1 = central(&c, NULL, k, EPS1), d2 = central(&c, NULL, k, EPS2);
            if (!close_enough(d1, d2)) {
                skipped++;
                continue;
            }
            checked++;
            gmax = fmax(gmax, fabs(g[k]));
            if (!close_enough(g[k], d1)) {
                failed++;
                fprintf(stderr, "  layer %d param %ld: analytic %.6g numeric %.6g (eps/2: %.6g)\n",
                        i + 1, k, (double)g[k], d1, d2);
            }
        }
    }
    /* directional derivatives: three random unit directions and the gradient's */
    float *d = malloc(np * sizeof *d);
    assert_non_null(d);
    int dir_ok = 0;
    for (int t = 0; t < 4; t++) {
        double norm = 0, gd = 0;
        for (size_t i = 0; i < np; i++) {
            d[i] = t < 3 ? (float)uh_rng_normal(&rng) : g[i];
            norm += (double)d[i] * d[i];
        }
        norm = sqrt(norm);
        for (size_t i = 0; i < np; i++) {
            d[i] = (float)(d[i] / norm);
            gd += (double)g[i] * d[i];
        }
        double d1 = central(&c, d, 0, EPS1), d2 = central(&c, d, 0, EPS2);
        if (!close_enough(d1, d2)) continue; /* a kink on the way */
        dir_ok++;
        if (!close_enough(gd, d1)) {
            failed++;
            fprintf(stderr, "  direction %d: analytic %.6g numeric %.6g\n", t, gd, d1);
        }
    }
    if (failed || skipped * 4 > checked + skipped || dir_ok < 2)
        fprintf(stderr, "%s: %d checked, %d skipped at kinks, %d failed, %d directions\n", json,
                checked, skipped, failed, dir_ok);
    assert_int_equal(failed, 0);
    assert_true(skipped * 4 <= checked + skipped);
    assert_true(dir_ok >= 2);
    assert_true(gmax > 10 * ABS_TOL); /* the gradients checked were not all negligible */
    free(d);
    free(g);
    free(x);
    free(y);
    uh_net_free(net);
}

static const uh_shape_t SHAPE_MLP = {1, 4, 4, 3};

static void mlp_check(const char *act) {
    char json[256];
    snprintf(json, sizeof json,
             "{\"layers\":[{\"type\":\"dense\",\"units\":12,\"activation\":\"%s\"},"
             "{\"type\":\"dense\",\"units\":3}]}",
             act);
    grad_check(json, SHAPE_MLP, 4, 11);
}

/* Every activation, in a network with one hidden layer. */
static void test_grad_mlp_activations(void **state) {
    static const char *const acts[] = {"relu", "leaky_relu", "tanh", "sigmoid", "abs", "square"};
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) mlp_check(acts[i]);
}

static void test_grad_mlp_deep(void **state) {
    grad_check("{\"layers\":[{\"type\":\"dense\",\"units\":10,\"activation\":\"tanh\"},"
               "{\"type\":\"dense\",\"units\":8,\"activation\":\"leaky_relu\"},"
               "{\"type\":\"dense\",\"units\":6,\"activation\":\"sigmoid\"},"
               "{\"type\":\"dense\",\"units\":3}]}",
               SHAPE_MLP, 5, 12);
}

/* Non-square input so a swapped H and W cannot pass. */
static const uh_shape_t SHAPE_IMG = {2, 7, 9, 3};

/* Convolutions and pooling: each architecture on SHAPE_IMG, with a batch of n, from seed. */
static const struct {
    const char *json;
    int n;
    uint64_t seed;
} IMG_CASES[] = {
    {"{\"layers\":[{\"type\":\"conv2d\",\"filters\":3,\"kernel\":3,\"stride\":2,"
     "\"padding\":1,\"activation\":\"tanh\"},{\"type\":\"dense\",\"units\":3}]}",
     3, 13},
    /* a conv layer that is not first, so its input gradient (col2im) is checked */
    {"{\"layers\":[{\"type\":\"conv2d\",\"filters\":3,\"kernel\":2,\"activation\":"
     "\"sigmoid\"},{\"type\":\"conv2d\",\"filters\":4,\"kernel\":3,\"stride\":2,"
     "\"padding\":1,\"activation\":\"tanh\"},{\"type\":\"dense\",\"units\":3}]}",
     3, 14},
    {"{\"layers\":[{\"type\":\"conv2d\",\"filters\":3,\"kernel\":3,\"activation\":"
     "\"tanh\"},{\"type\":\"pool\",\"kind\":\"max\",\"size\":2},"
     "{\"type\":\"dense\",\"units\":3}]}",
     3, 15},
    {"{\"layers\":[{\"type\":\"conv2d\",\"filters\":3,\"kernel\":2,\"activation\":"
     "\"tanh\"},{\"type\":\"pool\",\"kind\":\"max\",\"size\":3,\"stride\":2},"
     "{\"type\":\"dense\",\"units\":3}]}",
     3, 16},
    {"{\"layers\":[{\"type\":\"conv2d\",\"filters\":3,\"kernel\":3,\"padding\":1,"
     "\"activation\":\"sigmoid\"},{\"type\":\"pool\",\"kind\":\"avg\",\"size\":3,"
     "\"stride\":2},{\"type\":\"dense\",\"units\":3}]}",
     3, 17},
    /* layers before the first parameter layer get no backward pass at all */
    {"{\"layers\":[{\"type\":\"pool\",\"kind\":\"avg\",\"size\":2},"
     "{\"type\":\"flatten\"},{\"type\":\"dense\",\"units\":6,\"activation\":\"tanh\"},"
     "{\"type\":\"dense\",\"units\":3}]}",
     3, 18},
    {"{\"layers\":[{\"type\":\"conv2d\",\"filters\":4,\"kernel\":3,\"padding\":1,"
     "\"activation\":\"relu\"},{\"type\":\"pool\",\"kind\":\"max\",\"size\":2},"
     "{\"type\":\"conv2d\",\"filters\":3,\"kernel\":3,\"stride\":2,\"padding\":1,"
     "\"activation\":\"leaky_relu\"},{\"type\":\"flatten\"},"
     "{\"type\":\"dense\",\"units\":8,\"activation\":\"sigmoid\"},"
     "{\"type\":\"dense\",\"units\":3}]}",
     4, 19},
};

static void test_grad_conv_and_pool(void **state) {
    for (size_t i = 0; i < sizeof IMG_CASES / sizeof IMG_CASES[0]; i++)
        grad_check(IMG_CASES[i].json, SHAPE_IMG, IMG_CASES[i].n, IMG_CASES[i].seed);
}

/* ---- naive forward reference ---- */

#define REF_MAX 4096

static double ref_act(uh_act_t act, double z) {
    switch (act) {
    case UH_ACT_RELU:
        return z > 0 ? z : 0;
    case UH_ACT_LEAKY_RELU:
        return z > 0 ? z : 0.01 * z;
    case UH_ACT_TANH:
        return tanh(z);
    case UH_ACT_SIGMOID:
        return 1 / (1 + exp(-z));
    case UH_ACT_ABS:
        return fabs(z);
    case UH_ACT_SQUARE:
        return z * z;
    default:
        return z;
    }
}

/* Logits of one sample, computed from the definitions with PyTorch's weight layouts:
 * dense w[o][i], conv w[f][c][ki][kj], direct convolution with zero padding. */
static void ref_forward(uh_net_t *net, const float *x, double *logits) {
    const uh_arch_t *arch = uh_net_arch(net);
    const float *p = uh_net_params(net);
    static double a[REF_MAX], b[REF_MAX];
    int size = arch->input.c * arch->input.h * arch->input.w;
    assert_true(size <= REF_MAX);
    for (int i = 0; i < size; i++) a[i] = x[i];
    for (int li = 0; li < arch->n_layers; li++) {
        const uh_layer_t *l = &arch->layers[li];
        const float *w = p + uh_net_weight_offset(net, li), *bias = p + uh_net_bias_offset(net, li);
        int C = l->in_c, H = l->in_h, W = l->in_w, OH = l->out_h, OW = l->out_w;
        int out = l->out_c * OH * OW;
        assert_true(out <= REF_MAX);
        switch (l->type) {
        case UH_LAYER_DENSE:
            for (int o = 0; o < l->units; o++) {
                double s = bias[o];
                for (int i = 0; i < size; i++) s += (double)w[(long)o * size + i] * a[i];
                b[o] = ref_act(l->act, s);
            }
            break;
        case UH_LAYER_CONV2D: {
            int K = l->kernel;
            for (int f = 0; f < l->filters; f++)
                for (int oh = 0; oh < OH; oh++)
                    for (int ow = 0; ow < OW; ow++) {
                        double s = bias[f];
                        for (int c = 0; c < C; c++)
                            for (int ki = 0; ki < K; ki++)
                                for (int kj = 0; kj < K; kj++) {
                                    int iy = oh * l->stride - l->padding + ki;
                                    int ix = ow * l->stride - l->padding + kj;
                                    if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                    s += (double)w[((f * C + c) * K + ki) * K + kj] *
                                         a[(c * H + iy) * W + ix];
                                }
                        b[(f * OH + oh) * OW + ow] = ref_act(l->act, s);
                    }
            break;
        }
        case UH_LAYER_POOL:
            for (int c = 0; c < C; c++)
                for (int oh = 0; oh < OH; oh++)
                    for (int ow = 0; ow < OW; ow++) {
                        double m = -INFINITY, s = 0;
                        for (int ki = 0; ki < l->size; ki++)
                            for (int kj = 0; kj < l->size; kj++) {
                                double v =
                                    a[(c * H + oh * l->stride + ki) * W + ow * l->stride + kj];
                                m = fmax(m, v);
                                s += v;
                            }
                        b[(c * OH + oh) * OW + ow] =
                            l->pool_kind == UH_POOL_MAX ? m : s / (l->size * l->size);
                    }
            break;
        case UH_LAYER_FLATTEN:
            for (int i = 0; i < out; i++) b[i] = a[i];
            break;
        }
        memcpy(a, b, (size_t)out * sizeof *a);
        size = out;
    }
    memcpy(logits, a, (size_t)size * sizeof *a);
}

static void forward_check(const char *json, uh_shape_t shape, int n, uint64_t seed) {
    uh_arch_t arch;
    uh_net_t *net = make_net(json, shape, n, seed, &arch);
    randomize_biases(net, seed + 100);
    int in = shape.c * shape.h * shape.w, C = shape.n_classes;
    float *x = random_inputs(n, in, seed + 1);
    const float *logits = uh_net_forward(net, x, n);
    assert_non_null(logits);
    double ref[64];
    for (int s = 0; s < n; s++) {
        ref_forward(net, x + (size_t)s * in, ref);
        for (int c = 0; c < C; c++) {
            double got = logits[s * C + c];
            if (fabs(got - ref[c]) > 1e-4 * (1 + fabs(ref[c])))
                fail_msg("%s: sample %d class %d: got %.7g, reference %.7g", json, s, c, got,
                         ref[c]);
        }
    }
    free(x);
    uh_net_free(net);
}

static void test_forward_mlp_activations(void **state) {
    const char *acts[] = {"none", "relu", "leaky_relu", "tanh", "sigmoid", "abs", "square"};
    for (int i = 0; i < 7; i++) {
        char json[256];
        snprintf(json, sizeof json,
                 "{\"layers\":[{\"type\":\"dense\",\"units\":9,\"activation\":\"%s\"},"
                 "{\"type\":\"dense\",\"units\":3}]}",
                 acts[i]);
        forward_check(json, SHAPE_IMG, 5, 30 + (uint64_t)i);
    }
}

static void test_forward_conv_layouts(void **state) {
    /* stride 2, padding 1, non-square input, several input channels */
    forward_check("{\"layers\":[{\"type\":\"conv2d\",\"filters\":4,\"kernel\":3,\"stride\":2,"
                  "\"padding\":1,\"activation\":\"leaky_relu\"},{\"type\":\"dense\",\"units\":3}]}",
                  SHAPE_IMG, 6, 40);
    /* stride 3 with padding 2 and a 4×4 kernel: windows fall off both edges */
    forward_check("{\"layers\":[{\"type\":\"conv2d\",\"filters\":2,\"kernel\":4,\"stride\":3,"
                  "\"padding\":2},{\"type\":\"dense\",\"units\":3}]}",
                  SHAPE_IMG, 3, 41);
    /* two conv layers, the second on a multi-channel input */
    forward_check("{\"layers\":[{\"type\":\"conv2d\",\"filters\":3,\"kernel\":3,\"padding\":1,"
                  "\"activation\":\"relu\"},{\"type\":\"conv2d\",\"filters\":5,\"kernel\":2,"
                  "\"activation\":\"tanh\"},{\"type\":\"dense\",\"units\":3}]}",
                  SHAPE_IMG, 4, 42);
}

static void test_forward_pooling(void **state) {
    forward_check(
        "{\"layers\":[{\"type\":\"conv2d\",\"filters\":3,\"kernel\":2},"
        "{\"type\":\"pool\",\"kind\":\"max\",\"size\":2},{\"type\":\"dense\",\"units\":3}]}",
        SHAPE_IMG, 5, 50);
    forward_check("{\"layers\":[{\"type\":\"pool\",\"kind\":\"max\",\"size\":3,\"stride\":2},"
                  "{\"type\":\"dense\",\"units\":3}]}",
                  SHAPE_IMG, 5, 51);
    forward_check("{\"layers\":[{\"type\":\"pool\",\"kind\":\"avg\",\"size\":3,\"stride\":1},"
                  "{\"type\":\"dense\",\"units\":3}]}",
                  SHAPE_IMG, 5, 52);
}

/* A conv layer too big to keep its im2col matrix for the whole batch works in blocks of
 * samples and redoes im2col in backward; it must agree with the kept path. */
static void test_conv_blocked_matches_kept(void **state) {
    const char *json = "{\"layers\":[{\"type\":\"conv2d\",\"filters\":4,\"kernel\":5,\"padding\":"
                       "2,\"activation\":\"relu\"},{\"type\":\"dense\",\"units\":3}]}";
    uh_shape_t shape = {8, 28, 28, 3};
    const int n = 30;
    uh_arch_t arch;
    uh_net_t *blocked = make_net(json, shape, 128, 60, &arch); /* 128 × 156800 floats: blocks */
    uh_net_t *kept = make_net(json, shape, n, 60, &arch);      /* 30 × 156800: kept */
    size_t np = uh_net_n_params(kept);
    assert_memory_equal(uh_net_params(blocked), uh_net_params(kept), np * sizeof(float));
    float *x = random_inputs(n, 8 * 28 * 28, 61);
    uint8_t y[30];
    for (int i = 0; i < n; i++) y[i] = (uint8_t)(i % 3);
    float l1 = uh_net_loss_grad(blocked, x, y, n), l2 = uh_net_loss_grad(kept, x, y, n);
    assert_true(fabsf(l1 - l2) <= 1e-5f * (1 + fabsf(l2)));
    const float *g1 = uh_net_grads(blocked), *g2 = uh_net_grads(kept);
    double gmax = 0;
    for (size_t i = 0; i < np; i++) gmax = fmax(gmax, fabs(g2[i]));
    for (size_t i = 0; i < np; i++)
        if (fabs(g1[i] - g2[i]) > 1e-4 * gmax) fail_msg("grad %zu: %g vs %g", i, g1[i], g2[i]);
    free(x);
    uh_net_free(blocked);
    uh_net_free(kept);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grad_mlp_activations),
        cmocka_unit_test(test_grad_mlp_deep),
        cmocka_unit_test(test_grad_conv_and_pool),
        cmocka_unit_test(test_forward_mlp_activations),
        cmocka_unit_test(test_forward_conv_layouts),
        cmocka_unit_test(test_forward_pooling),
        cmocka_unit_test(test_conv_blocked_matches_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
