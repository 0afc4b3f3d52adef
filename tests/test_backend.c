/* The backend interface and the digital model: files, errors, constraints, energy by hand,
 * FP16 rounding, precisions selected by a layer's bits (cost, rounding, refusal), Monte-Carlo
 * evaluation. */
#include "common.h"

#include "uhnas/backend.h"
#include "uhnas/fileio.h"

/* A digital chip's footprint: one die of area_mm2, without tiles, MZIs or devices. */
static void assert_die(const uh_energy_t *e, double area_mm2) {
    assert_close(e->footprint.area_mm2, area_mm2, 0);
    assert_true(e->footprint.tiles == 0 && e->footprint.mzis == 0 && e->footprint.devices == 0);
}

static void test_cpu_energy_by_hand(void **state) {
    (void)state;
    uh_energy_t e;
    uh_backend_t *b = energy_on(BACKENDS "cpu-xeon8380-fp32.json", RELU_MLP(128, 10), MNIST, &e);
    assert_string_equal(uh_backend_name(b), "cpu-xeon8380-fp32");
    assert_string_equal(uh_backend_model_name(b), "digital");
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
    assert_die(&e, 660);
    assert_close(e.latency_ns, 1194418.176 / 270, 1e-6);
    uh_backend_free(b);
}

static void test_gpu_energy_and_pool_by_hand(void **state) {
    (void)state;
    uh_energy_t e;
    uh_backend_t *b = energy_on(
        BACKENDS "gpu-b200-fp16.json",
        "{\"layers\":[{\"type\":\"conv2d\",\"filters\":2,\"kernel\":3,\"activation\":\"relu\"},"
        "{\"type\":\"pool\",\"kind\":\"max\",\"size\":2},{\"type\":\"dense\",\"units\":3}]}",
        (uh_shape_t){1, 6, 6, 3}, &e);
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
    uh_energy_t e;
    uh_backend_t *b = energy_on(BACKENDS "gpu-b200-fp16.json", RELU_MLP(128, 10), MNIST, &e);
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
    assert_die(&e, 1716);
    uh_backend_free(b);
}

static void test_fp16_rounding(void **state) {
    (void)state;
    uh_backend_t *b = load_backend(BACKENDS "gpu-b200-fp16.json");
    uh_arch_t a;
    parse_arch("{\"layers\":[{\"type\":\"dense\",\"units\":10}]}", MNIST, &a);
    uh_backend_sim_t *sim;
    sim = new_sim(b, &a, UH_SIM_EVAL);
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
    uh_backend_t *cpu = load_backend(BACKENDS "cpu-xeon8380-fp32.json");
    sim = new_sim(cpu, &a, UH_SIM_EVAL);
    assert_null(uh_backend_sim_hook(sim));
    uh_backend_sim_free(sim);
    uh_backend_free(cpu);
    uh_backend_free(b);
}

static void test_evaluate_digital(void **state) {
    (void)state;
    uh_dataset_t *train, *test;
    uh_error_t err = {0};
    load_tiny(&train, &test);
    uh_arch_t a;
    parse_arch(RELU_MLP(32, 4), (uh_shape_t){train->c, train->h, train->w, train->n_classes}, &a);
    uh_net_t *net = uh_net_new(&a, 32, 1, &err);
    assert_non_null(net);
    uh_train_opts_t opts;
    uh_train_opts_default(&opts);
    opts.batch = 32, opts.epochs = 5, opts.lr = 0.1f;
    uh_train_result_t res;
    assert_int_equal(uh_net_train(net, train, &opts, NULL, NULL, &res, &err), UH_OK);
    uh_backend_t *cpu = load_backend(BACKENDS "cpu-xeon8380-fp32.json");
    uh_backend_t *gpu = load_backend(BACKENDS "gpu-b200-fp16.json");
    uh_mc_result_t rc = evaluate(cpu, net, test, 3, 7), rg = evaluate(gpu, net, test, 3, 7);
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

#define MAC "\"mac_pj\":{\"value\":1,\"source\":\"assumed: test\"}"

static void test_bad_files(void **state) {
    (void)state;
    expect_bad_backend("{\"name\":\"x\",\"model\":\"digital\",\"params\":{\"format\":\"fp32\"",
                       "invalid JSON");
    expect_bad_backend("[]", "must be a JSON object");
    expect_bad_backend("{\"name\":\"x\",\"model\":\"quantum\",\"params\":{}}",
                       "unknown model \"quantum\"");
    expect_bad_backend("{\"model\":\"digital\",\"params\":{}}", "backend.name: required");
    expect_bad_backend("{\"name\":\"../etc\",\"model\":\"digital\",\"params\":{}}", "backend.name");
    expect_bad_backend("{\"name\":\"x\",\"model\":\"digital\",\"params\":{},\"colour\":1}",
                       "backend.colour: unknown key");
    expect_bad_backend("{\"name\":\"x\",\"model\":\"digital\"}", "backend.params: required");
    expect_bad_backend("{\"name\":\"x\",\"model\":\"digital\",\"params\":{\"format\":\"fp32\","
                       "\"mac_pj\":{\"value\":1}}}",
                       "params.mac_pj: needs a \"source\"");
    expect_bad_backend("{\"name\":\"x\",\"model\":\"digital\",\"params\":{\"format\":\"fp32\","
                       "\"mac_pj\":3}}",
                       "params.mac_pj: must be {\"value\": number");
    expect_bad_backend("{\"name\":\"x\",\"model\":\"digital\",\"params\":{\"format\":\"fp32\","
                       "\"mac_pj\":{\"value\":-1,\"source\":\"assumed: test\"}}}",
                       "params.mac_pj: must be in 1e-06..1e+06, got -1");
    expect_bad_backend("{\"name\":\"x\",\"model\":\"digital\",\"params\":{\"format\":\"fp8\"," MAC
                       "}}",
                       "params.format: unknown value \"fp8\"; expected one of \"fp32\", \"fp16\"");
    expect_bad_backend("{\"name\":\"x\",\"model\":\"digital\",\"params\":{\"format\":\"fp32\"," MAC
                       ",\"mac_pJ\":{\"value\":1,\"source\":\"typo\"}}}",
                       "params.mac_pJ: unknown key");
    expect_bad_backend(
        "{\"name\":\"x\",\"model\":\"digital\",\"constraints\":{\"activations\":[\"gelu\"]},"
        "\"params\":{\"format\":\"fp32\"," MAC "}}",
        "constraints.activations: unknown name \"gelu\"");
    expect_bad_backend(
        "{\"name\":\"x\",\"model\":\"digital\",\"constraints\":{\"min_bits\":{\"value\":8,"
        "\"source\":\"a b c\"},\"max_bits\":{\"value\":4,\"source\":\"a b c\"}},"
        "\"params\":{\"format\":\"fp32\"," MAC "}}",
        "min_bits 8 > max_bits 4");
    /* the precisions table: known formats, one per bit width, numbers with sources */
    expect_bad_backend(
        "{\"name\":\"x\",\"model\":\"digital\",\"params\":{\"format\":\"fp16\"," MAC
        ",\"precisions\":{\"fp8\":{" MAC "}}}}",
        "params.precisions.fp8: unknown format; formats are fp16 and int2 ... int16");
    expect_bad_backend("{\"name\":\"x\",\"model\":\"digital\",\"params\":{\"format\":\"fp16\"," MAC
                       ",\"precisions\":{\"int16\":{" MAC "}}}}",
                       "params.precisions.int16: 16 bits is already fp16");
    expect_bad_backend("{\"name\":\"x\",\"model\":\"digital\",\"params\":{\"format\":\"fp16\"," MAC
                       ",\"precisions\":{\"fp32\":{" MAC "}}}}",
                       "fp32 can only be params.format");
    expect_bad_backend("{\"name\":\"x\",\"model\":\"digital\",\"params\":{\"format\":\"fp32\"," MAC
                       ",\"precisions\":{\"int8\":{\"mac_pj\":{\"value\":1}}}}}",
                       "params.precisions.int8.mac_pj: needs a \"source\"");
    expect_bad_backend("{\"name\":\"x\",\"model\":\"digital\",\"params\":{\"format\":\"fp32\"," MAC
                       ",\"precisions\":{\"int8\":{" MAC ",\"mac_pJ\":1}}}}",
                       "params.precisions.int8.mac_pJ: unknown key");
    size_t n = UH_BACKEND_MAX_FILE_BYTES + 10;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, ' ', n);
    big[n] = '\0';
    expect_bad_backend(big, "more than the limit");
    /* a description is kept whole up to its limit, and refused beyond it (never cut) */
    for (size_t len = UH_BACKEND_MAX_DESCRIPTION - 1; len <= UH_BACKEND_MAX_DESCRIPTION; len++) {
        char desc[UH_BACKEND_MAX_DESCRIPTION + 1];
        memset(desc, 'd', len);
        desc[len] = '\0';
        snprintf(big, n,
                 "{\"name\":\"x\",\"model\":\"digital\",\"description\":\"%s\","
                 "\"params\":{\"format\":\"fp32\"," MAC "}}",
                 desc);
        if (len == UH_BACKEND_MAX_DESCRIPTION) {
            expect_bad_backend(big, "backend.description: longer than 1023 bytes");
            continue;
        }
        uh_backend_t *kept = load_backend_text(big);
        assert_string_equal(uh_backend_description(kept), desc);
        uh_backend_free(kept);
    }
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
        energy_of(b, &a, &e);
        /* 7850 params × 2 bytes × 10 pJ ÷ 4 = 39 250 pJ; MACs 7840 × 1 pJ */
        assert_close(part(&e, "dram"), 39.25, 1e-9);
        assert_close(part(&e, "mac"), 7.84, 1e-12);
        assert_close(e.latency_ns, 0, 0);
        assert_close(e.footprint.area_mm2, 0, 0);
        uh_backend_free(b);
    }
    expect_bad_backend("{\"name\":\"x\",\"model\":\"digital\",\"params\":{\"format\":\"fp32\"," MAC
                       ",\"batch\":{\"value\":4,\"source\":\"assumed: test\"},"
                       "\"weight_reuse\":{\"value\":4,\"source\":\"assumed: test\"}}}",
                       "params.weight_reuse: the old name of params.batch; give only one");
}

static void test_violations_per_layer(void **state) {
    (void)state;
    const char *text =
        "{\"name\":\"small\",\"model\":\"digital\",\"constraints\":{"
        "\"layer_types\":[\"dense\",\"pool\"],\"activations\":[\"none\",\"relu\"],"
        "\"max_units\":{\"value\":64,\"source\":\"assumed: test\"},"
        "\"max_bits\":{\"value\":8,\"source\":\"assumed: test\"}},"
        "\"params\":{\"format\":\"fp32\"," MAC ",\"precisions\":{\"int8\":{" MAC "}}}}";
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
                /* the shared range check's violation, worded by the model with its formats */
                {2, "bits",
                 "12 bits requested; this hardware computes in fp32 (the default: no bits) and "
                 "int8 (bits 8)"},
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

/* Precision is a hardware gene: a layer's bits select one of the file's formats and its
 * costs. By hand on the shipped files, against the same MLP without bits. */
static void test_precision_prices_layers(void **state) {
    (void)state;
    uh_backend_t *gpu = load_backend(BACKENDS "gpu-b200-fp16.json");
    uh_arch_t a0, a8, a16;
    uh_energy_t e0, e8, e16;
    mlp_bits_energy(gpu, MNIST, 0, 0, &a0, &e0);
    mlp_bits_energy(gpu, MNIST, 8, 0, &a8, &e8);
    mlp_bits_energy(gpu, MNIST, 16, 16, &a16, &e16);
    /* FP16 (no bits): layer 1 mac 784 · 64 = 50 176 × 0.889 = 44 606.464 pJ, activation
     * 64 × 0.889 = 56.896 pJ; layer 2 mac 640 × 0.889 = 568.96 pJ.
     * Layer 1 at int8 (bits 8, twice the dense FP16 rate at 1000 W): mac 50 176 × 0.4445 =
     * 22 303.232 pJ, activation 64 × 0.4445 = 28.448 pJ; layer 2 unchanged.
     * Latency: 128 · (22.303232 + 0.028448 + 0.56896) nJ / 1000 W = 2.93128192 ns. */
    assert_close(layer_part(&e0, 0, "mac"), 44.606464, 1e-9);
    assert_close(layer_part(&e8, 0, "mac"), 22.303232, 1e-9);
    assert_close(layer_part(&e8, 0, "activation"), 0.028448, 1e-12);
    assert_close(e8.layers[1].nj, e0.layers[1].nj, 0);
    assert_close(e8.total_nj, 22.303232 + 0.028448 + 0.56896, 1e-9);
    assert_close(e8.latency_ns, 2.93128192, 1e-9);
    /* bits 16 is the default fp16: the same rows as no bits */
    assert_close(e16.total_nj, e0.total_nj, 0);
    uh_violations_t v;
    assert_int_equal(uh_backend_check(gpu, &a8, &v), 0);
    assert_int_equal(uh_backend_check(gpu, &a16, &v), 0);
    uh_backend_free(gpu);

    /* The CPU at int8 (AVX-512 VNNI, a quarter of the FP32 MAC cost): both layers bits 8.
     * mac 50 816 × 22.925 = 1 164 956.8 pJ, activation 64 × 22.925 = 1467.2 pJ, and the DRAM
     * row reads 1 byte per weight instead of 4: 50 890 × 1 × 162.5 / 128 = 64 606.4453125 pJ
     * (FP32: 258 425.78125 pJ). */
    uh_backend_t *cpu = load_backend(BACKENDS "cpu-xeon8380-fp32.json");
    uh_arch_t c8;
    mlp_bits(MNIST, 8, 8, &c8);
    energy_of(cpu, &a0, &e0);
    energy_of(cpu, &c8, &e8);
    assert_close(part(&e0, "mac"), 50816 * 91.7e-3, 1e-9);
    assert_close(part(&e8, "mac"), 1164.9568, 1e-9);
    assert_close(part(&e8, "activation"), 1.4672, 1e-12);
    assert_close(part(&e0, "dram"), 258.42578125, 1e-9);
    assert_close(part(&e8, "dram"), 64.6064453125, 1e-9);
    assert_close(e8.latency_ns, 128 * (1164.9568 + 1.4672) / 270, 1e-9);
    assert_int_equal(uh_backend_check(cpu, &c8, &v), 0);
    /* the listing's pJ/MAC stays the default format's */
    assert_close(uh_backend_pj_per_mac(cpu), 91.7, 0);
    uh_precision_t p;
    uh_backend_precision(cpu, &p);
    assert_int_equal(p.weight_bits, 32);
    assert_string_equal(p.summary, "FP32 weights and activations (exact); bits 8: int8");
    uh_backend_free(cpu);
}

/* A layer asking for a precision the file does not list is a violation naming the formats
 * there are (one per layer, also where the shared bits range refused it first), and no
 * simulation is built for it. */
static void test_precision_unsupported_refused(void **state) {
    (void)state;
    uh_error_t err = {0};
    uh_violations_t v;
    uh_backend_t *gpu = load_backend(BACKENDS "gpu-b200-fp16.json");
    uh_arch_t a4;
    mlp_bits(MNIST, 4, 0, &a4);
    assert_int_equal(uh_backend_check(gpu, &a4, &v), 1);
    assert_int_equal(v.items[0].layer, 1);
    assert_string_equal(v.items[0].field, "bits");
    assert_string_equal(v.items[0].msg, "4 bits requested; this hardware computes in fp16 (the "
                                        "default: no bits, or 16) and int8 (bits 8)");
    /* energy is still answered (the search's sampler asks it of any candidate): the default */
    uh_energy_t e;
    energy_of(gpu, &a4, &e);
    assert_close(e.total_nj, (50816 + 64) * 0.889e-3, 1e-9);
    uh_backend_sim_t *sim = NULL;
    assert_int_equal(uh_backend_sim_new(gpu, &a4, UH_SIM_EVAL, &sim, &err), UH_EINVAL);
    assert_null(sim);
    assert_non_null(strstr(err.msg, "layer 1: 4 bits requested; this hardware computes in fp16"));
    /* 12 bits is inside the file's 8..16 but no format: the model's own violation */
    uh_arch_t a12;
    mlp_bits(MNIST, 0, 12, &a12);
    assert_int_equal(uh_backend_check(gpu, &a12, &v), 1);
    assert_int_equal(v.items[0].layer, 2);
    assert_non_null(strstr(v.items[0].msg, "12 bits requested"));
    uh_backend_free(gpu);
    /* a file without precisions: any bits are refused, the default named */
    const char *text =
        "{\"name\":\"x\",\"model\":\"digital\",\"params\":{\"format\":\"fp32\"," MAC "}}";
    uh_backend_t *b;
    assert_int_equal(uh_backend_load_text(text, strlen(text), "t", &b, &err), UH_OK);
    mlp_bits(MNIST, 8, 6, &a4);
    assert_int_equal(uh_backend_check(b, &a4, &v), 2);
    assert_string_equal(v.items[1].msg,
                        "6 bits requested; this hardware computes in fp32 (the default: no bits)");
    uh_backend_free(b);
}

/* Output error of one dense layer (64 → 10, y = W·x with the hook's weights, then the hook's
 * output conversion) against the exact product, on a file with int8 and int4 (and on the
 * GPU: fp16 against int8). Fixed point per tensor: the weights' rounding error is uniform
 * over a step Δw = max|W| / (2^(b−1) − 1), each output sums 64 of them weighted by x_j, and
 * the output rounding adds a step Δz = max|y| / levels:
 *     rms ≈ sqrt(Σ_j x_j² · Δw² / 12 + Δz² / 12). */
static double layer_error(const uh_backend_t *b, int bits, double *analytic) {
    char json[128];
    if (bits)
        snprintf(json, sizeof json, "{\"layers\":[{\"type\":\"dense\",\"units\":10,\"bits\":%d}]}",
                 bits);
    else
        snprintf(json, sizeof json, "{\"layers\":[{\"type\":\"dense\",\"units\":10}]}");
    uh_arch_t a;
    parse_arch(json, (uh_shape_t){1, 8, 8, 10}, &a);
    uh_backend_sim_t *sim;
    sim = new_sim(b, &a, UH_SIM_EVAL);
    const uh_noise_t *hook = uh_backend_sim_hook(sim);
    assert_non_null(hook);
    enum { OUT = 10, IN = 64, N = 500 };
    static float w[OUT * IN], wq[OUT * IN], x[N * IN], y[N * OUT];
    static double y0[N * OUT];
    uh_rng_t rng = rng_seeded(21);
    for (int i = 0; i < OUT * IN; i++) w[i] = wq[i] = (float)(0.1 * uh_rng_normal(&rng));
    for (int i = 0; i < N * IN; i++) x[i] = (float)uh_rng_uniform(&rng);
    hook->perturb_weights(hook->ctx, 0, wq, OUT, IN, NULL);
    double wmax = 0, ymax = 0, xsq = 0;
    for (int i = 0; i < OUT * IN; i++) wmax = fmax(wmax, fabs(w[i]));
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OUT; o++) {
            double exact = 0, hw = 0;
            for (int j = 0; j < IN; j++) {
                exact += (double)w[o * IN + j] * x[n * IN + j];
                hw += (double)wq[o * IN + j] * x[n * IN + j];
            }
            y0[n * OUT + o] = exact;
            y[n * OUT + o] = (float)hw;
            ymax = fmax(ymax, fabs(hw));
        }
    for (int i = 0; i < N * IN; i++) xsq += (double)x[i] * x[i] / N;
    hook->perturb_outputs(hook->ctx, 0, y, N * OUT, NULL);
    double sq = 0;
    for (int i = 0; i < N * OUT; i++) sq += (y[i] - y0[i]) * (y[i] - y0[i]);
    uh_backend_sim_free(sim);
    double levels = bits && bits < 16 ? (1 << (bits - 1)) - 1 : 0;
    double dw = levels ? wmax / levels : 0, dz = levels ? ymax / levels : 0;
    *analytic = sqrt(xsq * dw * dw / 12 + dz * dz / 12);
    return sqrt(sq / (N * OUT));
}

static void test_precision_rounds_layer(void **state) {
    (void)state;
    const char *text = "{\"name\":\"x\",\"model\":\"digital\",\"params\":{\"format\":\"fp32\"," MAC
                       ",\"precisions\":{\"int8\":{" MAC "},\"int4\":{" MAC "}}}}";
    uh_backend_t *b;
    uh_error_t err = {0};
    assert_int_equal(uh_backend_load_text(text, strlen(text), "t", &b, &err), UH_OK);
    double want8, want4, want;
    double e8 = layer_error(b, 8, &want8), e4 = layer_error(b, 4, &want4);
    print_message("int8: output error rms %.4e (analytic %.4e); int4: %.4e (%.4e)\n", e8, want8, e4,
                  want4);
    assert_true(e8 > 0 && e4 > 10 * e8);
    assert_true(fabs(e8 - want8) <= 0.15 * want8);
    assert_true(fabs(e4 - want4) <= 0.15 * want4);
    /* Hand values: int4 weights {1.4, 0.31, -0.5, 0.05}: 7 levels of 1.4, step 0.2, roundf
     * (halves away from zero, as the engine): {1.4, 0.4, -0.6, 0}; int8 outputs as an 8-bit
     * converter: step 2/127. */
    uh_arch_t a;
    parse_arch("{\"layers\":[{\"type\":\"dense\",\"units\":2,\"bits\":4}]}",
               (uh_shape_t){1, 1, 1, 2}, &a);
    uh_backend_sim_t *sim;
    sim = new_sim(b, &a, UH_SIM_TRAIN);
    const uh_noise_t *hook = uh_backend_sim_hook(sim);
    float w[] = {1.4f, 0.31f, -0.5f, 0.05f};
    hook->perturb_weights(hook->ctx, 0, w, 2, 2, NULL);
    assert_close(w[0], 1.4, 1e-6);
    assert_close(w[1], 0.4, 1e-6);
    assert_close(w[2], -0.6, 1e-6);
    assert_close(w[3], 0, 0);
    uh_backend_sim_free(sim);
    parse_arch("{\"layers\":[{\"type\":\"dense\",\"units\":2,\"bits\":8}]}",
               (uh_shape_t){1, 1, 1, 2}, &a);
    sim = new_sim(b, &a, UH_SIM_EVAL);
    hook = uh_backend_sim_hook(sim);
    float z[] = {2.0f, 1.0f, -0.3f};
    hook->perturb_outputs(hook->ctx, 0, z, 3, NULL);
    assert_close(z[1], 64 * 2.0 / 127, 1e-6); /* 63.5 → 64 */
    assert_close(z[2], -19 * 2.0 / 127, 1e-6);
    uh_backend_sim_free(sim);
    /* fp32 layers beside an int8 one are left alone: a 2-layer net, only layer 1 at int8 */
    mlp_bits(MNIST, 8, 0, &a);
    sim = new_sim(b, &a, UH_SIM_EVAL);
    hook = uh_backend_sim_hook(sim);
    assert_non_null(hook);
    float keep[] = {0.123456789f, -1.0f};
    hook->perturb_outputs(hook->ctx, 1, keep, 2, NULL);
    assert_true(keep[0] == 0.123456789f);
    uh_backend_sim_free(sim);
    /* a network entirely in fp32 still needs no hook */
    mlp_bits(MNIST, 0, 0, &a);
    sim = new_sim(b, &a, UH_SIM_EVAL);
    assert_null(uh_backend_sim_hook(sim));
    uh_backend_sim_free(sim);
    uh_backend_free(b);
    /* the B200: its default fp16 (bits 16) against int8 (bits 8) */
    b = load_backend(BACKENDS "gpu-b200-fp16.json");
    double e16 = layer_error(b, 16, &want);
    e8 = layer_error(b, 8, &want8);
    print_message("B200: fp16 output error rms %.4e, int8 %.4e\n", e16, e8);
    assert_true(e16 > 0 && e8 > 10 * e16);
    assert_true(fabs(e8 - want8) <= 0.15 * want8);
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
    uh_backend_t *b = load_backend("gpu-b200-fp16");
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
        uh_backend_t *b = load_backend(names[i]);
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
    uh_backend_t *pcm = load_backend("crossbar-pcm");
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
        cmocka_unit_test(test_precision_prices_layers),
        cmocka_unit_test(test_precision_unsupported_refused),
        cmocka_unit_test(test_precision_rounds_layer),
        cmocka_unit_test(test_list_and_load_by_name),
        cmocka_unit_test(test_noise_level_follows_physics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
