/* The backend interface and the digital model: files, errors, constraints, energy by hand,
 * FP16 rounding, Monte-Carlo evaluation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <math.h>

#include "uhnas/backend.h"
#include "uhnas/fileio.h"

#define BACKENDS UHNAS_TEST_BACKENDS "/"

/* cmocka 1.1's float assertion works in single precision; energies need double. */
#define assert_close(a, b, tol) check_close((a), (b), (tol), #a, __LINE__)
static void check_close(double got, double want, double tol, const char *what, int line) {
    if (!(fabs(got - want) <= tol)) {
        print_error("line %d: %s = %.12g, want %.12g (± %g)\n", line, what, got, want, tol);
        fail();
    }
}

static const uh_shape_t MNIST = {1, 28, 28, 10};

static void parse_arch(const char *json, uh_shape_t shape, uh_arch_t *a) {
    uh_error_t err = {0};
    int rc = uh_arch_parse(json, strlen(json), shape, a, &err);
    if (rc) print_error("%s\n", err.msg);
    assert_int_equal(rc, UH_OK);
}

static uh_backend_t *load(const char *path) {
    uh_backend_t *b = NULL;
    uh_error_t err = {0};
    int rc = uh_backend_load(path, &b, &err);
    if (rc) print_error("%s\n", err.msg);
    assert_int_equal(rc, UH_OK);
    return b;
}

static double part(const uh_energy_t *e, const char *name) {
    for (int k = 0; k < e->n_parts; k++)
        if (!strcmp(e->parts[k].name, name)) return e->parts[k].nj;
    return -1;
}

static void test_cpu_energy_by_hand(void **state) {
    (void)state;
    uh_backend_t *b = load(BACKENDS "cpu-xeon8380-fp32.json");
    assert_string_equal(uh_backend_name(b), "cpu-xeon8380-fp32");
    assert_string_equal(uh_backend_model_name(b), "digital");
    uh_arch_t a;
    parse_arch("{\"layers\":[{\"type\":\"dense\",\"units\":128,\"activation\":\"relu\"},"
               "{\"type\":\"dense\",\"units\":10}]}",
               MNIST, &a);
    uh_energy_t e;
    uh_error_t err = {0};
    assert_int_equal(uh_backend_energy(b, &a, &e, &err), UH_OK);
    /* MACs: 784·128 + 128·10 = 101632; at 91.7 pJ each = 9 319 654.4 pJ = 9319.6544 nJ.
     * Activations: 128 ReLUs at 91.7 pJ = 11 737.6 pJ = 11.7376 nJ (the last layer has none).
     * DRAM (outside the CPU's TDP, so counted on top): 101770 params × 4 bytes × 162.5 pJ/byte
     *     ÷ a batch of 128 sharing one fetch = 66 150 500 pJ ÷ 128 = 516 800.78 pJ = 516.80078 nJ.
     * Latency: the compute rows keep the 270 W package busy for (9319.6544 + 11.7376) nJ ÷ 270 W
     *     = 34.560711 ns per inference; the batch of 128 is answered after
     *     128 · 9331.392 / 270 = 1 194 418.176 / 270 = 4423.771022 ns (DRAM is not device time).
     * Area: the 660 mm² die; no tiles, MZIs or devices. */
    assert_close(part(&e, "mac"), 9319.6544, 1e-6);
    assert_close(part(&e, "activation"), 11.7376, 1e-9);
    assert_close(part(&e, "dram"), 516.80078125, 1e-6);
    assert_close(e.total_nj, 9319.6544 + 11.7376 + 516.80078125, 1e-6);
    assert_int_equal(e.n_layers, 2);
    assert_close(e.layers[0].nj + e.layers[1].nj, e.total_nj, 1e-6);
    assert_close(uh_backend_pj_per_mac(b), 91.7, 1e-12);
    assert_close(e.latency_ns, 1194418.176 / 270, 1e-6);
    assert_close(e.footprint.area_mm2, 660, 0);
    assert_true(e.footprint.tiles == 0 && e.footprint.mzis == 0 && e.footprint.devices == 0);
    uh_backend_free(b);
}

static void test_gpu_energy_and_pool_by_hand(void **state) {
    (void)state;
    uh_backend_t *b = load(BACKENDS "gpu-b200-fp16.json");
    uh_arch_t a;
    parse_arch(
        "{\"layers\":[{\"type\":\"conv2d\",\"filters\":2,\"kernel\":3,\"activation\":\"relu\"},"
        "{\"type\":\"pool\",\"kind\":\"max\",\"size\":2},{\"type\":\"dense\",\"units\":3}]}",
        (uh_shape_t){1, 6, 6, 3}, &a);
    uh_energy_t e;
    uh_error_t err = {0};
    assert_int_equal(uh_backend_energy(b, &a, &e, &err), UH_OK);
    /* conv: 2 filters × 9 × 4×4 outputs = 288 MACs; dense: 2·2·2 = 8 inputs × 3 = 24 MACs.
     * MAC energy 312 × 0.889 pJ = 277.368 pJ. Activations: 2·4·4 = 32 ReLUs × 0.889 = 28.448 pJ.
     * Pool reads: 2·2·2 outputs × 4 window values = 32 × 0.889 = 28.448 pJ.
     * No DRAM row: the 1000 W board power already includes the HBM.
     * Latency: 128 · (277.368 + 28.448 + 28.448) pJ ÷ 1000 W = 128 · 0.334264 nJ / 1000 W
     *     = 0.042785792 ns (pooling occupies the device too). */
    assert_close(part(&e, "mac"), 0.277368, 1e-12);
    assert_close(part(&e, "activation"), 0.028448, 1e-12);
    assert_close(part(&e, "pool"), 0.028448, 1e-12);
    assert_close(part(&e, "dram"), -1, 0); /* absent */
    assert_close(e.total_nj, 0.334264, 1e-12);
    assert_close(e.latency_ns, 0.042785792, 1e-12);
    uh_backend_free(b);
}

/* The GPU on an MLP: MACs × 0.889 pJ plus its activations, nothing for memory (the board
 * power includes the HBM); latency and area by hand. */
static void test_gpu_mlp_no_dram(void **state) {
    (void)state;
    uh_backend_t *b = load(BACKENDS "gpu-b200-fp16.json");
    uh_arch_t a;
    parse_arch("{\"layers\":[{\"type\":\"dense\",\"units\":128,\"activation\":\"relu\"},"
               "{\"type\":\"dense\",\"units\":10}]}",
               MNIST, &a);
    uh_energy_t e;
    uh_error_t err = {0};
    assert_int_equal(uh_backend_energy(b, &a, &e, &err), UH_OK);
    /* MACs: 784·128 + 128·10 = 101632 × 0.889 pJ = 90 350.848 pJ = 90.350848 nJ.
     * Activations: 128 ReLUs × 0.889 pJ = 113.792 pJ = 0.113792 nJ. Total 90.46464 nJ, and
     * that is all: 2 parts, no "dram".
     * Latency: a batch of 128 at 1000 W: 128 · 90.46464 nJ / 1000 W = 11.57947392 ns.
     * Area: 1716 mm² (two reticle-limited dies of at most 26 × 33 mm). */
    assert_int_equal(e.n_parts, 2);
    assert_close(part(&e, "mac"), 90.350848, 1e-9);
    assert_close(part(&e, "activation"), 0.113792, 1e-12);
    assert_close(part(&e, "dram"), -1, 0);
    assert_close(e.total_nj, 101632 * 0.889e-3 + 128 * 0.889e-3, 1e-9);
    assert_close(e.latency_ns, 11.57947392, 1e-9);
    assert_close(e.footprint.area_mm2, 1716, 0);
    assert_true(e.footprint.tiles == 0 && e.footprint.mzis == 0 && e.footprint.devices == 0);
    uh_backend_free(b);
}

static void test_fp16_rounding(void **state) {
    (void)state;
    uh_backend_t *b = load(BACKENDS "gpu-b200-fp16.json");
    uh_arch_t a;
    parse_arch("{\"layers\":[{\"type\":\"dense\",\"units\":10}]}", MNIST, &a);
    uh_backend_sim_t *sim;
    uh_error_t err = {0};
    assert_int_equal(uh_backend_sim_new(b, &a, UH_SIM_EVAL, &sim, &err), UH_OK);
    const uh_noise_t *hook = uh_backend_sim_hook(sim);
    assert_non_null(hook);
    /* Hand-worked binary16 values (round to nearest, ties to even). */
    float x[] = {1.0f + 0x1p-11f,     /* halfway between 1 and 1+2^-10: even is 1 */
                 1.0f + 3 * 0x1p-11f, /* halfway between 1+2^-10 and 1+2^-9: even is 1+2^-9 */
                 0.1f,                /* nearest half is 0.0999755859375 */
                 65504.0f,            /* the largest finite half */
                 70000.0f,            /* overflows to infinity */
                 1e-8f,               /* below half the smallest subnormal 2^-24: zero */
                 -3.0e-7f};           /* subnormal range: multiple of 2^-24 = -5·2^-24 */
    float want[] = {1.0f,     1.0f + 0x1p-9f, 0.0999755859375f, 65504.0f,
                    INFINITY, 0.0f,           -5 * 0x1p-24f};
    hook->perturb_outputs(hook->ctx, 0, x, 7, NULL);
    for (int i = 0; i < 7; i++) assert_true(x[i] == want[i]);
    uh_backend_sim_free(sim);
    /* FP32 needs no hook at all. */
    uh_backend_t *cpu = load(BACKENDS "cpu-xeon8380-fp32.json");
    assert_int_equal(uh_backend_sim_new(cpu, &a, UH_SIM_EVAL, &sim, &err), UH_OK);
    assert_null(uh_backend_sim_hook(sim));
    uh_backend_sim_free(sim);
    uh_backend_free(cpu);
    uh_backend_free(b);
}

static void test_evaluate_digital(void **state) {
    (void)state;
    uh_dataset_t *train, *test;
    uh_error_t err = {0};
    uh_data_opts_t dopts = {0};
    assert_int_equal(uh_dataset_load("tiny", &dopts, &train, &test, &err), UH_OK);
    uh_arch_t a;
    parse_arch("{\"layers\":[{\"type\":\"dense\",\"units\":32,\"activation\":\"relu\"},"
               "{\"type\":\"dense\",\"units\":4}]}",
               (uh_shape_t){train->c, train->h, train->w, train->n_classes}, &a);
    uh_net_t *net = uh_net_new(&a, 32, 1, &err);
    assert_non_null(net);
    uh_train_opts_t opts;
    uh_train_opts_default(&opts);
    opts.batch = 32, opts.epochs = 5, opts.lr = 0.1f;
    uh_train_result_t res;
    assert_int_equal(uh_net_train(net, train, &opts, NULL, NULL, &res, &err), UH_OK);
    uh_backend_t *cpu = load(BACKENDS "cpu-xeon8380-fp32.json");
    uh_backend_t *gpu = load(BACKENDS "gpu-b200-fp16.json");
    uh_mc_result_t rc, rg;
    assert_int_equal(uh_backend_evaluate(cpu, net, test, 3, 7, &rc, &err), UH_OK);
    assert_int_equal(uh_backend_evaluate(gpu, net, test, 3, 7, &rg, &err), UH_OK);
    assert_true(rc.clean_accuracy > 0.85);
    /* FP32 hardware is the engine itself: noisy = clean exactly. */
    assert_true(rc.noisy_accuracy == rc.clean_accuracy);
    assert_true(rc.noisy_std == 0);
    /* FP16 rounding is deterministic (zero spread) and costs next to nothing here. */
    assert_true(rg.clean_accuracy == rc.clean_accuracy);
    assert_true(fabs(rg.noisy_accuracy - rg.clean_accuracy) <= 0.02);
    assert_true(rg.noisy_std == 0);
    uh_backend_free(cpu);
    uh_backend_free(gpu);
    uh_net_free(net);
    uh_dataset_free(train);
    uh_dataset_free(test);
}

/* ---- bad files: one test per kind of fault ------------------------------------------ */

static void expect_bad(const char *text, const char *needle) {
    uh_backend_t *b = NULL;
    uh_error_t err = {0};
    int rc = uh_backend_load_text(text, strlen(text), "test.json", &b, &err);
    if (rc == UH_OK || !strstr(err.msg, needle)) {
        print_error("file: %s\nwant an error containing \"%s\"\ngot rc %d: %s\n", text, needle, rc,
                    err.msg);
        fail();
    }
    assert_null(b);
}

#define MAC "\"mac_pj\":{\"value\":1,\"source\":\"assumed: test\"}"

static void test_bad_files(void **state) {
    (void)state;
    expect_bad("{\"name\":\"x\",\"model\":\"digital\",\"params\":{\"format\":\"fp32\"",
               "invalid JSON");
    expect_bad("[]", "must be a JSON object");
    expect_bad("{\"name\":\"x\",\"model\":\"quantum\",\"params\":{}}", "unknown model \"quantum\"");
    expect_bad("{\"model\":\"digital\",\"params\":{}}", "backend.name: required");
    expect_bad("{\"name\":\"../etc\",\"model\":\"digital\",\"params\":{}}", "backend.name");
    expect_bad("{\"name\":\"x\",\"model\":\"digital\",\"params\":{},\"colour\":1}",
               "backend.colour: unknown key");
    expect_bad("{\"name\":\"x\",\"model\":\"digital\"}", "backend.params: required");
    expect_bad("{\"name\":\"x\",\"model\":\"digital\",\"params\":{\"format\":\"fp32\","
               "\"mac_pj\":{\"value\":1}}}",
               "params.mac_pj: needs a \"source\"");
    expect_bad("{\"name\":\"x\",\"model\":\"digital\",\"params\":{\"format\":\"fp32\","
               "\"mac_pj\":3}}",
               "params.mac_pj: must be {\"value\": number");
    expect_bad("{\"name\":\"x\",\"model\":\"digital\",\"params\":{\"format\":\"fp32\","
               "\"mac_pj\":{\"value\":-1,\"source\":\"assumed: test\"}}}",
               "params.mac_pj: must be in 1e-06..1e+06, got -1");
    expect_bad("{\"name\":\"x\",\"model\":\"digital\",\"params\":{\"format\":\"fp8\"," MAC "}}",
               "params.format: must be one of: fp32, fp16");
    expect_bad("{\"name\":\"x\",\"model\":\"digital\",\"params\":{\"format\":\"fp32\"," MAC
               ",\"mac_pJ\":{\"value\":1,\"source\":\"typo\"}}}",
               "params.mac_pJ: unknown key");
    expect_bad("{\"name\":\"x\",\"model\":\"digital\",\"constraints\":{\"activations\":[\"gelu\"]},"
               "\"params\":{\"format\":\"fp32\"," MAC "}}",
               "constraints.activations: unknown name \"gelu\"");
    expect_bad("{\"name\":\"x\",\"model\":\"digital\",\"constraints\":{\"min_bits\":{\"value\":8,"
               "\"source\":\"a b c\"},\"max_bits\":{\"value\":4,\"source\":\"a b c\"}},"
               "\"params\":{\"format\":\"fp32\"," MAC "}}",
               "min_bits 8 > max_bits 4");
    size_t n = UH_BACKEND_MAX_FILE_BYTES + 10;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, ' ', n);
    big[n] = '\0';
    expect_bad(big, "more than the limit");
    free(big);
    uh_backend_t *b;
    uh_error_t err = {0};
    assert_int_equal(uh_backend_load("no/such/file.json", &b, &err), UH_ENOTFOUND);
    assert_non_null(strstr(err.msg, "no/such/file.json"));
    assert_int_equal(uh_backend_load("no-such-backend", &b, &err), UH_ENOTFOUND);
    assert_non_null(strstr(err.msg, "unknown backend \"no-such-backend\"; known:"));
}

/* "batch" was called "weight_reuse": old files still load (same numbers), both at once is an
 * error; the DRAM row is still there for a file that gives dram_pj_per_byte; without
 * power_w the latency is 0 (unknown). */
static void test_digital_batch_and_dram(void **state) {
    (void)state;
    uh_arch_t a;
    parse_arch("{\"layers\":[{\"type\":\"dense\",\"units\":10}]}", MNIST, &a);
    const char *keys[] = {"batch", "weight_reuse"};
    for (int k = 0; k < 2; k++) {
        char text[512];
        snprintf(text, sizeof text,
                 "{\"name\":\"x\",\"model\":\"digital\",\"params\":{\"format\":\"fp16\"," MAC
                 ",\"dram_pj_per_byte\":{\"value\":10,\"source\":\"assumed: test\"},"
                 "\"%s\":{\"value\":4,\"source\":\"assumed: test\"}}}",
                 keys[k]);
        uh_backend_t *b;
        uh_error_t err = {0};
        assert_int_equal(uh_backend_load_text(text, strlen(text), "t", &b, &err), UH_OK);
        uh_energy_t e;
        assert_int_equal(uh_backend_energy(b, &a, &e, &err), UH_OK);
        /* 7850 params × 2 bytes × 10 pJ ÷ 4 = 39 250 pJ; MACs 7840 × 1 pJ */
        assert_close(part(&e, "dram"), 39.25, 1e-9);
        assert_close(part(&e, "mac"), 7.84, 1e-12);
        assert_close(e.latency_ns, 0, 0);
        assert_close(e.footprint.area_mm2, 0, 0);
        uh_backend_free(b);
    }
    expect_bad("{\"name\":\"x\",\"model\":\"digital\",\"params\":{\"format\":\"fp32\"," MAC
               ",\"batch\":{\"value\":4,\"source\":\"assumed: test\"},"
               "\"weight_reuse\":{\"value\":4,\"source\":\"assumed: test\"}}}",
               "params.weight_reuse: the old name of params.batch; give only one");
}

static void test_violations_per_layer(void **state) {
    (void)state;
    const char *text = "{\"name\":\"small\",\"model\":\"digital\",\"constraints\":{"
                       "\"layer_types\":[\"dense\",\"pool\"],\"activations\":[\"none\",\"relu\"],"
                       "\"max_units\":{\"value\":64,\"source\":\"assumed: test\"},"
                       "\"max_bits\":{\"value\":8,\"source\":\"assumed: test\"}},"
                       "\"params\":{\"format\":\"fp32\"," MAC "}}";
    uh_backend_t *b;
    uh_error_t err = {0};
    assert_int_equal(uh_backend_load_text(text, strlen(text), "inline", &b, &err), UH_OK);
    uh_arch_t a;
    parse_arch("{\"layers\":[{\"type\":\"conv2d\",\"filters\":4,\"kernel\":3},"
               "{\"type\":\"dense\",\"units\":128,\"activation\":\"tanh\",\"bits\":12},"
               "{\"type\":\"dense\",\"units\":10,\"tile\":8}]}",
               MNIST, &a);
    uh_violations_t v;
    assert_int_equal(uh_backend_check(b, &a, &v), 5);
    const struct {
        int layer;
        const char *field, *needle;
    } want[] = {{1, "type", "conv2d is not available"},
                {2, "activation", "tanh is not available"},
                {2, "bits", "12 bits requested; this hardware supports 2..8"},
                {2, "units", "128 units, more than the 64 allowed"},
                {3, "tile", "has no tiles"}};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(v.items[i].layer, want[i].layer);
        assert_string_equal(v.items[i].field, want[i].field);
        assert_non_null(strstr(v.items[i].msg, want[i].needle));
    }
    uh_arch_t ok;
    parse_arch("{\"layers\":[{\"type\":\"dense\",\"units\":64,\"activation\":\"relu\",\"bits\":8},"
               "{\"type\":\"dense\",\"units\":10}]}",
               MNIST, &ok);
    assert_int_equal(uh_backend_check(b, &ok, &v), 0);
    uh_backend_free(b);
}

static void test_list_and_load_by_name(void **state) {
    (void)state;
    setenv("UHNAS_BACKENDS", BACKENDS, 1);
    char names[UH_BACKEND_MAX_LIST][UH_BACKEND_MAX_NAME];
    int n = uh_backend_list(names, UH_BACKEND_MAX_LIST);
    int found = 0;
    for (int i = 0; i < n; i++) {
        found += !strcmp(names[i], "cpu-xeon8380-fp32") || !strcmp(names[i], "gpu-b200-fp16");
        if (i) assert_true(strcmp(names[i - 1], names[i]) < 0);
    }
    assert_int_equal(found, 2);
    uh_backend_t *b = load("gpu-b200-fp16");
    uh_precision_t p;
    uh_backend_precision(b, &p);
    assert_int_equal(p.weight_bits, 16);
    assert_int_equal(p.is_float, 1);
    assert_non_null(strstr(uh_backend_text(b), "\"name\": \"gpu-b200-fp16\""));
    uh_backend_free(b);
}

/* The noise level comes from the physics: exact for digital arithmetic, positive for an
 * optical mesh, higher for the worst-case mesh, and higher again when a crossbar's noise is
 * scaled up in its file; the same file gives the same number. */
static void test_noise_level_follows_physics(void **state) {
    (void)state;
    const char *names[] = {"cpu-xeon8380-fp32", "gpu-b200-fp16", "mzi-realistic", "mzi-worst"};
    double level[4];
    for (int i = 0; i < 4; i++) {
        uh_backend_t *b = load(names[i]);
        uh_error_t err = {0};
        assert_int_equal(uh_backend_noise_level(b, &level[i], &err), UH_OK);
        double again;
        assert_int_equal(uh_backend_noise_level(b, &again, &err), UH_OK);
        assert_true(again == level[i]);
        print_message("%s: noise level %.4f\n", names[i], level[i]);
        uh_backend_free(b);
    }
    assert_true(level[0] == 0 && level[1] == 0);
    assert_true(level[2] > 0.01 && level[3] > level[2]);
    /* crossbar-pcm with every Gaussian term scaled by 3 */
    char *text = NULL;
    size_t len = 0;
    uh_backend_t *pcm = load("crossbar-pcm");
    assert_int_equal(uh_read_file(uh_backend_path(pcm), 1 << 20, &text, &len, NULL), UH_OK);
    char *at = strstr(text, "\"noise_scale\": {\"value\": 1,");
    assert_non_null(at);
    at[strlen("\"noise_scale\": {\"value\": ")] = '3';
    uh_backend_t *loud;
    uh_error_t err = {0};
    assert_int_equal(uh_backend_load_text(text, len, "pcm x3", &loud, &err), UH_OK);
    double nominal, scaled;
    assert_int_equal(uh_backend_noise_level(pcm, &nominal, &err), UH_OK);
    assert_int_equal(uh_backend_noise_level(loud, &scaled, &err), UH_OK);
    print_message("crossbar-pcm: noise level %.4f, with noise x3 %.4f\n", nominal, scaled);
    assert_true(nominal > 0 && scaled > nominal);
    free(text);
    uh_backend_free(pcm);
    uh_backend_free(loud);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_energy_by_hand),
        cmocka_unit_test(test_gpu_energy_and_pool_by_hand),
        cmocka_unit_test(test_gpu_mlp_no_dram),
        cmocka_unit_test(test_fp16_rounding),
        cmocka_unit_test(test_evaluate_digital),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_digital_batch_and_dram),
        cmocka_unit_test(test_violations_per_layer),
        cmocka_unit_test(test_list_and_load_by_name),
        cmocka_unit_test(test_noise_level_follows_physics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
