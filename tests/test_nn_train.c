/* Training engine: learning on the tiny synthetic set (SGD, Adam, a CNN), determinism,
 * optimizer steps against hand-worked PyTorch formulas, the noise hook's semantics, fake
 * quantization, and argument errors. */
#include "common.h"

#include "uhnas/nn.h"

#include <omp.h>

static const char *MLP = RELU_MLP(32, 4);
static const char *CNN =
    "{\"layers\":[{\"type\":\"conv2d\",\"filters\":4,\"kernel\":3,\"activation\":\"relu\"},"
    "{\"type\":\"pool\",\"kind\":\"max\",\"size\":2},{\"type\":\"dense\",\"units\":4}]}";

static uh_dataset_t *train_set, *test_set;

static int setup(void **state) {
    uh_error_t err = {0};
    if (uh_dataset_tiny(512, 1, &train_set, &err) || uh_dataset_tiny(256, 2, &test_set, &err)) {
        fprintf(stderr, "tiny: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int teardown(void **state) {
    uh_dataset_free(train_set);
    uh_dataset_free(test_set);
    return 0;
}

static uh_net_t *make_net_shape(const char *json, uh_shape_t shape, int max_batch, uint64_t seed) {
    uh_arch_t arch;
    parse_arch(json, shape, &arch);
    uh_error_t err = {0};
    uh_net_t *net = uh_net_new(&arch, max_batch, seed, &err);
    if (!net) fail_msg("net: %s", err.msg);
    return net;
}

static uh_net_t *make_net(const char *json, int max_batch, uint64_t seed) {
    uh_shape_t shape = {train_set->c, train_set->h, train_set->w, train_set->n_classes};
    return make_net_shape(json, shape, max_batch, seed);
}

static uh_train_opts_t sgd_opts(int epochs) {
    uh_train_opts_t o;
    uh_train_opts_default(&o);
    o.batch = 32;
    o.epochs = epochs;
    o.threads = 2;
    return o;
}

static double accuracy(uh_net_t *net, const uh_dataset_t *ds, uint64_t sample) {
    double acc = -1;
    uh_error_t err = {0};
    if (uh_net_evaluate(net, ds, sample, &acc, &err)) fail_msg("evaluate: %s", err.msg);
    return acc;
}

static void train(uh_net_t *net, const uh_train_opts_t *o, uh_train_result_t *res) {
    uh_error_t err = {0};
    if (uh_net_train(net, train_set, o, NULL, NULL, res, &err)) fail_msg("train: %s", err.msg);
}

/* A network of json made as make_net does, trained for epochs with sgd_opts. */
static uh_net_t *sgd_trained(const char *json, int max_batch, uint64_t seed, int epochs,
                             uh_train_result_t *res) {
    uh_net_t *net = make_net(json, max_batch, seed);
    uh_train_opts_t o = sgd_opts(epochs);
    train(net, &o, res);
    return net;
}

/* The trained net (res: its training) classifies more than want of the test set; freed. */
static void assert_learned(uh_net_t *net, const uh_train_result_t *res, const char *what,
                           double want) {
    double acc = accuracy(net, test_set, 0);
    printf("  %s: accuracy %.3f, final loss %.4f\n", what, acc, (double)res->final_loss);
    assert_true(acc > want);
    uh_net_free(net);
}

/* ---- learning ---- */

static void test_defaults(void **state) {
    uh_train_opts_t o;
    uh_train_opts_default(&o);
    assert_int_equal(o.optimizer, UH_OPT_SGD);
    assert_true(o.lr == 0.05f && o.momentum == 0.9f && o.batch == 128 && o.epochs == 1);
    assert_true(o.beta1 == 0.9f && o.beta2 == 0.999f && o.eps == 1e-8f && o.seed == 1);
}

static void test_mlp_sgd_learns(void **state) {
    uh_net_t *net = make_net(MLP, 32, 1);
    double before = accuracy(net, test_set, 0);
    uh_train_opts_t o = sgd_opts(10);
    uh_train_result_t res;
    train(net, &o, &res);
    double acc = accuracy(net, test_set, 0);
    printf("  MLP SGD: accuracy %.3f -> %.3f, final loss %.4f\n", before, acc,
           (double)res.final_loss);
    assert_int_equal(res.epochs_done, 10);
    assert_true(res.final_loss < 0.5f);
    assert_true(res.train_seconds >= 0);
    assert_true(acc > 0.9);
    uh_net_free(net);
}

static void test_mlp_adam_learns(void **state) {
    uh_net_t *net = make_net(MLP, 32, 2);
    uh_train_opts_t o = sgd_opts(10);
    o.optimizer = UH_OPT_ADAM;
    o.lr = 5e-3f;
    uh_train_result_t res;
    train(net, &o, &res);
    assert_learned(net, &res, "MLP Adam", 0.9);
}

static void test_cnn_learns(void **state) {
    uh_train_result_t res;
    uh_net_t *net = sgd_trained(CNN, 32, 3, 8, &res);
    assert_learned(net, &res, "CNN SGD", 0.9);
}

/* ---- determinism ---- */

static void trained_params(const char *json, uint64_t init_seed, uint64_t shuffle_seed, int threads,
                           float *out, size_t *np) {
    uh_net_t *net = make_net(json, 32, init_seed);
    uh_train_opts_t o = sgd_opts(2);
    o.seed = shuffle_seed;
    o.threads = threads;
    uh_train_result_t res;
    train(net, &o, &res);
    *np = uh_net_n_params(net);
    memcpy(out, uh_net_params(net), *np * sizeof *out);
    uh_net_free(net);
}

static void test_determinism(void **state) {
    enum { MAX = 1 << 16 };
    float *a = malloc(MAX * sizeof *a), *b = malloc(MAX * sizeof *b);
    size_t na, nb;
    const char *nets[] = {MLP, CNN};
    for (int k = 0; k < 2; k++) {
        for (int threads = 1; threads <= 2; threads++) {
            trained_params(nets[k], 7, 9, threads, a, &na);
            trained_params(nets[k], 7, 9, threads, b, &nb);
            assert_true(na == nb && na <= MAX);
            assert_memory_equal(a, b, na * sizeof *a);
        }
        trained_params(nets[k], 8, 9, 2, b, &nb); /* another init seed */
        assert_memory_not_equal(a, b, na * sizeof *a);
        trained_params(nets[k], 7, 10, 2, b, &nb); /* another shuffle */
        assert_memory_not_equal(a, b, na * sizeof *a);
    }
    free(a);
    free(b);
}

/* Random 28×28 images with 10 classes, the shape of (Fashion-)MNIST: at 784 inputs
 * OpenBLAS's threaded SGEMM gives other floats than its one-thread one. */
static uh_dataset_t *mnist_shaped(int n) {
    uh_dataset_t *ds = calloc(1, sizeof *ds);
    ds->n = n, ds->c = 1, ds->h = ds->w = 28, ds->n_classes = 10;
    ds->x = malloc((size_t)n * 784 * sizeof *ds->x);
    ds->y = malloc((size_t)n);
    uh_rng_t rng;
    uh_rng_seed(&rng, 3);
    for (long i = 0; i < (long)n * 784; i++) ds->x[i] = (float)uh_rng_uniform(&rng);
    for (int i = 0; i < n; i++) ds->y[i] = (uint8_t)(i % 10);
    return ds;
}

/* Networks whose GEMMs are cut into blocks (layers.h: NN_GEMM_*), batch 128: the MLP of
 * bench_nn and a CNN with a 64-filter layer. */
static const char *WIDE_MLP =
    "{\"layers\":[{\"type\":\"dense\",\"units\":256,\"activation\":\"relu\"},"
    "{\"type\":\"dense\",\"units\":128,\"activation\":\"relu\"},"
    "{\"type\":\"dense\",\"units\":10}]}";
static const char *WIDE_CNN =
    "{\"layers\":[{\"type\":\"conv2d\",\"filters\":16,\"kernel\":3,\"activation\":\"relu\"},"
    "{\"type\":\"pool\",\"kind\":\"max\",\"size\":2},"
    "{\"type\":\"conv2d\",\"filters\":64,\"kernel\":3,\"activation\":\"relu\"},"
    "{\"type\":\"dense\",\"units\":10}]}";

/* What the progress hook of test_threads_invariance sees: the threads each batch ran with. */
typedef struct {
    atomic_int *live;
    int batches, followed;
} live_probe_t;

static int flip_threads(void *ctx, int epoch, int batch, int n_batches, float loss) {
    (void)epoch, (void)batch, (void)n_batches, (void)loss;
    live_probe_t *p = ctx;
    p->followed += omp_get_max_threads() == atomic_load(p->live);
    p->batches++;
    atomic_store(p->live, 3 - atomic_load(p->live)); /* 1, 2, 1, ... */
    return 0;
}

/* The same floats on 1, 2 and 3 threads, and with the count changed between batches
 * (threads_live, as a search gives a candidate its neighbours' cores). */
static void test_threads_invariance(void **state) {
    uh_dataset_t *ds = mnist_shaped(384);
    const char *nets[] = {WIDE_MLP, WIDE_CNN};
    int saved = omp_get_max_threads();
    for (int k = 0; k < 2; k++) {
        float *params[4] = {0};
        size_t n = 0;
        for (int t = 0; t < 4; t++) {
            uh_net_t *net = make_net_shape(nets[k], (uh_shape_t){1, 28, 28, 10}, 128, 5);
            uh_train_opts_t o = sgd_opts(1);
            o.batch = 128;
            o.lr = 0.01f;
            o.threads = t < 3 ? t + 1 : 1;
            atomic_int live = 1;
            live_probe_t probe = {.live = &live};
            if (t == 3) o.threads_live = &live;
            uh_train_result_t res;
            uh_error_t err = {0};
            if (uh_net_train(net, ds, &o, t == 3 ? flip_threads : NULL, &probe, &res, &err))
                fail_msg("train: %s", err.msg);
            if (t == 3) assert_true(probe.batches == 3 && probe.followed == 3);
            n = uh_net_n_params(net);
            params[t] = malloc(n * sizeof(float));
            memcpy(params[t], uh_net_params(net), n * sizeof(float));
            uh_net_free(net);
        }
        for (int t = 1; t < 4; t++) assert_memory_equal(params[0], params[t], n * sizeof(float));
        for (int t = 0; t < 4; t++) free(params[t]);
    }
    omp_set_num_threads(saved);
    uh_dataset_free(ds);
}

/* ---- optimizers against PyTorch's formulas, worked out here in double ---- */

/* A net with 2 inputs and 2 classes: one dense layer, 4 weights and 2 biases. */
static uh_net_t *tiny_net(void) {
    uh_shape_t shape = {1, 1, 2, 2};
    return make_net_shape("{\"layers\":[{\"type\":\"dense\",\"units\":2}]}", shape, 4, 1);
}

static const float P0[6] = {0.5f, -0.25f, 1.0f, 0.75f, 0.1f, -0.2f};
static const float G1[6] = {0.1f, -0.2f, 0.3f, 0.05f, -0.4f, 0.0f};
static const float G2[6] = {-0.3f, 0.1f, 0.2f, -0.05f, 0.2f, 0.5f};

static void test_sgd_momentum_step(void **state) {
    uh_net_t *net = tiny_net();
    assert_int_equal(uh_net_n_params(net), 6);
    memcpy(uh_net_params(net), P0, sizeof P0);
    uh_train_opts_t o;
    uh_train_opts_default(&o);
    o.lr = 0.1f, o.momentum = 0.9f, o.weight_decay = 0.01f;
    double p[6], v[6] = {0};
    for (int i = 0; i < 6; i++) p[i] = P0[i];
    const float *gs[2] = {G1, G2};
    for (int step = 0; step < 2; step++) {
        memcpy(uh_net_grads(net), gs[step], sizeof G1);
        uh_net_step(net, &o);
        for (int i = 0; i < 6; i++) {
            double g = gs[step][i] + 0.01 * p[i]; /* weight decay joins the gradient */
            v[i] = 0.9 * v[i] + g;                /* torch: buf = momentum·buf + g */
            p[i] -= 0.1 * v[i];
        }
    }
    /* step 1 by hand for p[0]: g = 0.1 + 0.005 = 0.105, v = 0.105, p = 0.4895;
     * step 2: g = -0.3 + 0.004895, v = 0.9·0.105 - 0.295105 = -0.200605, p = 0.5095605 */
    assert_true(fabs(p[0] - 0.5095605) < 1e-9);
    for (int i = 0; i < 6; i++) assert_true(fabs(uh_net_params(net)[i] - p[i]) < 1e-6);
    uh_net_free(net);
}

static void test_adam_step(void **state) {
    uh_net_t *net = tiny_net();
    memcpy(uh_net_params(net), P0, sizeof P0);
    uh_train_opts_t o;
    uh_train_opts_default(&o);
    o.optimizer = UH_OPT_ADAM;
    o.lr = 0.01f, o.weight_decay = 0.1f, o.beta1 = 0.9f, o.beta2 = 0.999f, o.eps = 1e-8f;
    double p[6], m[6] = {0}, v[6] = {0};
    for (int i = 0; i < 6; i++) p[i] = P0[i];
    const float *gs[2] = {G1, G2};
    for (int t = 1; t <= 2; t++) {
        memcpy(uh_net_grads(net), gs[t - 1], sizeof G1);
        uh_net_step(net, &o);
        for (int i = 0; i < 6; i++) {
            double g = gs[t - 1][i] + 0.1 * p[i];
            m[i] = 0.9 * m[i] + 0.1 * g;
            v[i] = 0.999 * v[i] + 0.001 * g * g;
            double mhat = m[i] / (1 - pow(0.9, t)), vhat = v[i] / (1 - pow(0.999, t));
            p[i] -= 0.01 * mhat / (sqrt(vhat) + 1e-8);
        }
    }
    /* Adam's first step moves every parameter by lr·sign(g); p[5] has g = 0 + 0.1·(-0.2) */
    for (int i = 0; i < 6; i++) assert_true(fabs(uh_net_params(net)[i] - p[i]) < 1e-6);
    uh_net_free(net);
}

/* Adam with lr 0 takes its default, 1e-3 */
static void test_adam_default_lr(void **state) {
    uh_net_t *a = tiny_net(), *b = tiny_net();
    uh_train_opts_t o;
    uh_train_opts_default(&o);
    o.optimizer = UH_OPT_ADAM;
    memcpy(uh_net_params(a), P0, sizeof P0);
    memcpy(uh_net_params(b), P0, sizeof P0);
    memcpy(uh_net_grads(a), G1, sizeof G1);
    memcpy(uh_net_grads(b), G1, sizeof G1);
    o.lr = 0;
    uh_net_step(a, &o);
    o.lr = 1e-3f;
    uh_net_step(b, &o);
    assert_memory_equal(uh_net_params(a), uh_net_params(b), sizeof G1);
    assert_memory_not_equal(uh_net_params(a), P0, sizeof P0);
    uh_net_free(a);
    uh_net_free(b);
}

/* ---- noise hook ---- */

typedef struct {
    int weight_calls, output_calls;
    double sigma;     /* Gaussian weight noise */
    float scale;      /* weights multiplied by this (0 = untouched) */
    float shift;      /* added to every pre-activation output */
    int levels_layer; /* layer whose weights' distinct values are counted (-1: none) */
    int max_levels;
} hook_t;

static void hook_weights(void *ctx, int layer, float *w, int rows, int cols, uh_rng_t *rng) {
    hook_t *h = ctx;
    h->weight_calls++;
    for (int i = 0; i < rows * cols; i++) {
        if (h->sigma > 0) w[i] += (float)(h->sigma * uh_rng_normal(rng));
        if (h->scale != 0) w[i] *= h->scale;
    }
    if (layer == h->levels_layer) {
        int levels = 0;
        float seen[8];
        for (int i = 0; i < rows * cols; i++) {
            int j = 0;
            while (j < levels && seen[j] != w[i]) j++;
            if (j == levels) {
                if (levels == 8) break;
                seen[levels++] = w[i];
            }
        }
        if (levels > h->max_levels) h->max_levels = levels;
    }
}

static void hook_outputs(void *ctx, int layer, float *z, size_t count, uh_rng_t *rng) {
    hook_t *h = ctx;
    h->output_calls++;
    for (size_t i = 0; i < count; i++) z[i] += h->shift;
}

static void test_noop_hook_changes_nothing(void **state) {
    uh_train_result_t res;
    uh_net_t *net = sgd_trained(CNN, 64, 4, 2, &res);
    double clean = accuracy(net, test_set, 0);
    const int n = 64, in = 144, C = 4;
    float *logits = malloc(n * C * sizeof *logits);
    memcpy(logits, uh_net_forward(net, test_set->x, n), n * C * sizeof *logits);

    hook_t h = {.levels_layer = -1};
    uh_noise_t noise = {hook_weights, hook_outputs, &h};
    uh_net_set_noise(net, &noise, 5);
    assert_true(accuracy(net, test_set, 0) == clean);
    /* once per evaluate call for each of the 2 weight layers; outputs every forward (4
     * batches of 64) for each of them */
    assert_int_equal(h.weight_calls, 2);
    assert_int_equal(h.output_calls, 2 * 4);
    assert_memory_equal(uh_net_forward(net, test_set->x, n), logits, n * C * sizeof *logits);
    /* and a noise-free training step gives the same gradients either way */
    float *g = malloc(uh_net_n_params(net) * sizeof *g);
    float l1 = uh_net_loss_grad(net, test_set->x + 64 * in, test_set->y + 64, n);
    memcpy(g, uh_net_grads(net), uh_net_n_params(net) * sizeof *g);
    uh_net_set_noise(net, NULL, 0);
    float l2 = uh_net_loss_grad(net, test_set->x + 64 * in, test_set->y + 64, n);
    assert_true(l1 == l2);
    assert_memory_equal(g, uh_net_grads(net), uh_net_n_params(net) * sizeof *g);
    free(g);
    free(logits);
    uh_net_free(net);
}

static void test_weight_noise_lowers_accuracy(void **state) {
    uh_train_result_t res;
    uh_net_t *net = sgd_trained(MLP, 64, 5, 10, &res);
    double clean = accuracy(net, test_set, 0);
    hook_t h = {.sigma = 0.5, .levels_layer = -1};
    uh_noise_t noise = {hook_weights, NULL, &h};
    uh_net_set_noise(net, &noise, 11);
    double n1 = accuracy(net, test_set, 1), n1b = accuracy(net, test_set, 1);
    double n2 = accuracy(net, test_set, 2);
    printf("  clean %.3f, noisy %.3f / %.3f\n", clean, n1, n2);
    assert_true(n1 == n1b); /* a Monte-Carlo sample is named by its id */
    assert_true(n1 < clean - 0.2 && n2 < clean - 0.2);
    /* the clean weights were not touched */
    uh_net_set_noise(net, NULL, 0);
    assert_true(accuracy(net, test_set, 0) == clean);
    uh_net_free(net);
}

/* Gradients are taken through the perturbed weights and applied to the clean ones: a hook
 * that doubles every weight gives the gradients of a net whose weights are doubled. */
static void test_gradient_through_perturbed_weights(void **state) {
    uh_net_t *a = make_net(CNN, 16, 6), *b = make_net(CNN, 16, 6);
    const uh_arch_t *arch = uh_net_arch(a);
    float *pb = uh_net_params(b);
    for (int i = 0; i < arch->n_layers; i++) {
        long w = uh_net_weight_offset(b, i), bias = uh_net_bias_offset(b, i);
        for (long k = w; k >= 0 && k < bias; k++) pb[k] *= 2;
    }
    hook_t h = {.scale = 2, .shift = 0.25f, .levels_layer = -1};
    uh_noise_t noise = {hook_weights, hook_outputs, &h};
    uh_net_set_noise(a, &noise, 1);
    /* b sees the output shift as a bias shift */
    for (int i = 0; i < arch->n_layers; i++) {
        long bias = uh_net_bias_offset(b, i);
        for (long k = 0; bias >= 0 && k < arch->layers[i].out_c; k++) pb[bias + k] += 0.25f;
    }
    float la = uh_net_loss_grad(a, train_set->x, train_set->y, 16);
    float lb = uh_net_loss_grad(b, train_set->x, train_set->y, 16);
    assert_true(fabsf(la - lb) < 1e-5f * (1 + fabsf(lb)));
    size_t np = uh_net_n_params(a);
    for (size_t i = 0; i < np; i++)
        if (fabsf(uh_net_grads(a)[i] - uh_net_grads(b)[i]) > 1e-4f)
            fail_msg("grad %zu: %g vs %g", i, uh_net_grads(a)[i], uh_net_grads(b)[i]);
    /* the step goes to a's clean weights */
    uh_train_opts_t o = sgd_opts(1);
    float before = uh_net_params(a)[0], g0 = uh_net_grads(a)[0];
    uh_net_step(a, &o);
    assert_true(fabsf(uh_net_params(a)[0] - (before - o.lr * g0)) < 1e-7f);
    uh_net_free(a);
    uh_net_free(b);
}

static void test_noise_aware_training_reproducible(void **state) {
    float *p[3];
    size_t np = 0;
    for (int run = 0; run < 3; run++) {
        uh_net_t *net = make_net(MLP, 32, 7);
        hook_t h = {.sigma = 0.05, .levels_layer = -1};
        uh_noise_t noise = {hook_weights, NULL, &h};
        uh_net_set_noise(net, &noise, run < 2 ? 3 : 4);
        uh_train_opts_t o = sgd_opts(2);
        uh_train_result_t res;
        train(net, &o, &res);
        assert_int_equal(h.weight_calls, 2 * 2 * 16); /* 2 layers, 2 epochs of 16 batches */
        np = uh_net_n_params(net);
        p[run] = malloc(np * sizeof(float));
        memcpy(p[run], uh_net_params(net), np * sizeof(float));
        uh_net_free(net);
    }
    assert_memory_equal(p[0], p[1], np * sizeof(float));
    assert_memory_not_equal(p[0], p[2], np * sizeof(float));
    for (int run = 0; run < 3; run++) free(p[run]);
}

/* ---- fake quantization ---- */

static void test_fake_quant_bits2(void **state) {
    const char *json = "{\"layers\":[{\"type\":\"dense\",\"units\":16,\"activation\":\"relu\","
                       "\"bits\":2},{\"type\":\"dense\",\"units\":4,\"bits\":2}]}";
    uh_net_t *net = make_net(json, 32, 8);
    hook_t h = {.levels_layer = 0};
    uh_noise_t noise = {hook_weights, NULL, &h};
    uh_net_set_noise(net, &noise, 1);
    const float *logits = uh_net_forward(net, train_set->x, 32);
    assert_non_null(logits);
    /* weights: 2 bits = the symmetric grid {-m, 0, m} */
    assert_true(h.max_levels >= 2 && h.max_levels <= 3);
    /* outputs after activation: each sample's logits on its own 3-level grid */
    for (int s = 0; s < 32; s++) {
        const float *z = logits + s * 4;
        float m = 0;
        for (int c = 0; c < 4; c++) m = fmaxf(m, fabsf(z[c]));
        for (int c = 0; c < 4; c++) assert_true(z[c] == 0 || fabsf(z[c]) == m);
    }
    /* the clean parameters stay full precision */
    int distinct = 0;
    const float *p = uh_net_params(net);
    for (int i = 1; i < 100; i++) distinct += p[i] != p[0];
    assert_true(distinct > 90);
    uh_net_free(net);
}

/* The quantised weights a hook receives equal round(w / s) · s with C's roundf (halves away
 * from zero), s = max|w| / 7 at 4 bits, bit for bit: the kernel rounds with a vectorised
 * expression, not roundf. The max is set to 7 so that s = 1 and the grid's ties are exact. */
typedef struct {
    const float *expect;
    int n, mismatches;
} quant_check_t;

static void check_quantised(void *ctx, int layer, float *w, int rows, int cols, uh_rng_t *rng) {
    quant_check_t *q = ctx;
    if (layer != 0) return;
    assert_int_equal(rows * cols, q->n);
    for (int i = 0; i < q->n; i++)
        if (memcmp(&w[i], &q->expect[i], sizeof w[i]) != 0) q->mismatches++;
}

static void test_fake_quant_rounds_like_roundf(void **state) {
    const char *json = "{\"layers\":[{\"type\":\"dense\",\"units\":4,\"bits\":4}]}";
    uh_net_t *net = make_net(json, 8, 1);
    float *p = uh_net_params(net); /* layer 0's weights come first: 4 × inputs */
    const int n = 4 * train_set->c * train_set->h * train_set->w;
    static const float special[] = {
        7.0f,        -7.0f,        0.5f, -0.5f, 1.5f,       -1.5f,       2.5f,   -2.5f, 6.5f,
        0.49999997f, -0.49999997f, 0.0f, -0.0f, 3.5000002f, -6.4999995f, 1e-30f, 5.5f};
    const int n_special = (int)(sizeof special / sizeof *special);
    uh_rng_t rng;
    uh_rng_seed(&rng, 5);
    for (int i = 0; i < n; i++)
        p[i] = i < n_special ? special[i] : (float)(uh_rng_uniform(&rng) * 14.0 - 7.0);
    float *expect = malloc((size_t)n * sizeof *expect);
    for (int i = 0; i < n; i++) expect[i] = roundf(p[i]); /* s = 7 / 7 = 1 */
    quant_check_t q = {expect, n, 0};
    uh_noise_t noise = {check_quantised, NULL, &q};
    uh_net_set_noise(net, &noise, 1);
    assert_non_null(uh_net_forward(net, train_set->x, 8));
    assert_int_equal(q.mismatches, 0);
    free(expect);
    uh_net_free(net);
}

/* tanh and sigmoid are rational approximations (layers.c): a hook overwrites a layer's
 * pre-activations with values across [-12, 12] (and 0, ±1e-5, NaN) and the outputs are held
 * to tanh and the logistic function in double: 3e-7 absolute. */
static void set_preactivations(void *ctx, int layer, float *z, size_t count, uh_rng_t *rng) {
    for (size_t i = 0; i < count; i++) z[i] = -12.0f + 24.0f * (float)i / (float)(count - 1);
    z[0] = 0.0f, z[1] = 1e-5f, z[2] = -1e-5f, z[3] = NAN, z[4] = 7.9f, z[5] = -3.2e-4f;
}

static void test_tanh_sigmoid_accuracy(void **state) {
    const char *acts[2] = {"tanh", "sigmoid"};
    for (int k = 0; k < 2; k++) {
        char json[128];
        snprintf(json, sizeof json,
                 "{\"layers\":[{\"type\":\"dense\",\"units\":4,\"activation\":\"%s\"}]}", acts[k]);
        uh_net_t *net = make_net(json, 250, 1); /* the logits: 250 samples × 4 classes */
        uh_noise_t noise = {NULL, set_preactivations, NULL};
        uh_net_set_noise(net, &noise, 1);
        const float *a = uh_net_forward(net, train_set->x, 250);
        assert_non_null(a);
        float z[1000];
        set_preactivations(NULL, 0, z, 1000, NULL);
        double worst = 0;
        for (int i = 0; i < 1000; i++) {
            if (isnan(z[i])) {
                assert_true(isnan(a[i]));
                continue;
            }
            double ref = k == 0 ? tanh((double)z[i]) : 1.0 / (1.0 + exp(-(double)z[i]));
            double e = fabs((double)a[i] - ref);
            worst = e > worst ? e : worst;
            if (k == 0 && fabsf(z[i]) < 4e-4f) assert_true(a[i] == z[i]);
        }
        printf("  %s: max |error| %.2e\n", acts[k], worst);
        assert_true(worst < 3e-7);
        uh_net_free(net);
    }
}

static void test_fake_quant_trains(void **state) {
    const char *json = "{\"layers\":[{\"type\":\"dense\",\"units\":32,\"activation\":\"relu\","
                       "\"bits\":4},{\"type\":\"dense\",\"units\":4}]}";
    uh_train_result_t res;
    uh_net_t *net = sgd_trained(json, 32, 9, 10, &res);
    assert_learned(net, &res, "4-bit MLP", 0.8);
}

/* ---- loop mechanics and errors ---- */

typedef struct {
    int calls, stop_after, last_batch, n_batches;
} progress_t;

static int on_batch(void *ctx, int epoch, int batch, int n_batches, float loss) {
    progress_t *p = ctx;
    p->calls++;
    p->last_batch = batch;
    p->n_batches = n_batches;
    assert_true(isfinite(loss));
    return p->stop_after && p->calls >= p->stop_after;
}

static void test_partial_batch_and_early_stop(void **state) {
    uh_net_t *net = make_net(MLP, 100, 10);
    uh_train_opts_t o = sgd_opts(1);
    o.batch = 100; /* 512 = 5 × 100 + 12 */
    progress_t p = {0};
    uh_train_result_t res;
    uh_error_t err = {0};
    assert_int_equal(uh_net_train(net, train_set, &o, on_batch, &p, &res, &err), 0);
    assert_int_equal(p.calls, 6);
    assert_int_equal(p.n_batches, 6);
    assert_int_equal(res.epochs_done, 1);
    progress_t q = {.stop_after = 3};
    o.epochs = 5;
    assert_int_equal(uh_net_train(net, train_set, &o, on_batch, &q, &res, &err), 0);
    assert_int_equal(q.calls, 3);
    assert_int_equal(res.epochs_done, 0);
    uh_net_free(net);
}

static void test_errors(void **state) {
    uh_error_t err = {0};
    uh_arch_t arch;
    uh_shape_t shape = {1, 12, 12, 4};
    assert_int_equal(uh_arch_parse(MLP, strlen(MLP), shape, &arch, &err), 0);
    assert_null(uh_net_new(&arch, 0, 1, &err));
    assert_int_equal(err.code, UH_EINVAL);
    assert_null(uh_net_new(&arch, 1 << 30, 1, &err));

    /* derived shapes are recomputed, not trusted: a spec edited without resolving */
    uh_arch_t edited = arch;
    edited.layers[0].units = 64;
    uh_net_t *net = uh_net_new(&edited, 16, 1, &err);
    assert_non_null(net);
    assert_int_equal(uh_net_n_params(net), 144 * 64 + 64 + 64 * 4 + 4);
    uh_net_free(net);
    uh_arch_t unresolved;
    memset(&unresolved, 0, sizeof unresolved);
    assert_null(uh_net_new(&unresolved, 16, 1, &err));

    net = uh_net_new(&arch, 16, 1, &err);
    assert_non_null(net);
    uh_train_opts_t o = sgd_opts(1);
    uh_train_result_t res;
    o.batch = 17; /* over max_batch */
    assert_int_equal(uh_net_train(net, train_set, &o, NULL, NULL, &res, &err), UH_EINVAL);
    o.batch = 16;
    o.lr = NAN;
    assert_int_equal(uh_net_train(net, train_set, &o, NULL, NULL, &res, &err), UH_EINVAL);

    /* a dataset of another shape, and one with a label out of range */
    uh_dataset_t *other = NULL;
    assert_int_equal(uh_dataset_tiny(8, 3, &other, &err), 0);
    other->w = 6, other->h = 24;
    double acc;
    assert_int_equal(uh_net_evaluate(net, other, 0, &acc, &err), UH_EINVAL);
    assert_non_null(strstr(err.msg, "expects"));
    other->w = 12, other->h = 12;
    other->y[3] = 4;
    assert_int_equal(uh_net_evaluate(net, other, 0, &acc, &err), UH_EINVAL);
    assert_true(isnan(uh_net_loss_grad(net, other->x, other->y, 8)));
    other->y[3] = 3;
    assert_false(isnan(uh_net_loss_grad(net, other->x, other->y, 8)));

    assert_null(uh_net_forward(net, other->x, 17));
    assert_null(uh_net_forward(net, other->x, 0));
    assert_true(isnan(uh_net_loss_grad(net, other->x, other->y, 17)));
    assert_int_equal(uh_net_weight_offset(net, 5), -1);
    assert_int_equal(uh_net_bias_offset(net, 1), 144 * 32 + 32 + 32 * 4);
    uh_dataset_free(other);
    uh_net_free(net);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_mlp_sgd_learns),
        cmocka_unit_test(test_mlp_adam_learns),
        cmocka_unit_test(test_cnn_learns),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_threads_invariance),
        cmocka_unit_test(test_sgd_momentum_step),
        cmocka_unit_test(test_adam_step),
        cmocka_unit_test(test_adam_default_lr),
        cmocka_unit_test(test_noop_hook_changes_nothing),
        cmocka_unit_test(test_weight_noise_lowers_accuracy),
        cmocka_unit_test(test_gradient_through_perturbed_weights),
        cmocka_unit_test(test_noise_aware_training_reproducible),
        cmocka_unit_test(test_fake_quant_bits2),
        cmocka_unit_test(test_fake_quant_trains),
        cmocka_unit_test(test_fake_quant_rounds_like_roundf),
        cmocka_unit_test(test_tanh_sigmoid_accuracy),
        cmocka_unit_test(test_partial_batch_and_early_stop),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
