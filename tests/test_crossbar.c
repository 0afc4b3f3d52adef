/* The analog crossbar model: the shipped PCM file, energy by hand, the device physics
 * (programming noise σ(g), drift, read noise) against their formulas, a layer's bits as its
 * converters' resolution (energy and ADC rounding), the noiseless limit,
 * accuracy under rising noise, reproducible Monte Carlo, constraints and bad files. */
#include "common.h"

#include "uhnas/backend.h"

#define PCM_FILE UHNAS_TEST_BACKENDS "/crossbar-pcm.json"

static const double PI = 3.14159265358979323846;

/* The shipped file with its "noise_scale" value replaced. */
static uh_backend_t *load_pcm_scaled(double scale) {
    uh_backend_t *ref = load_backend(PCM_FILE);
    const char *text = uh_backend_text(ref);
    const char *key = "\"noise_scale\": {\"value\": ";
    const char *at = strstr(text, key);
    assert_non_null(at);
    const char *after = at + strlen(key);
    while (*after && *after != ',') after++;
    size_t cap = strlen(text) + 64;
    char *out = malloc(cap);
    assert_non_null(out);
    snprintf(out, cap, "%.*s%s%.17g%s", (int)(at - text), text, key, scale, after);
    uh_backend_t *b = load_backend_text(out);
    free(out);
    uh_backend_free(ref);
    return b;
}

/* A crossbar file: g_max, DAC/ADC energies and the given params (the physics tests switch
 * each effect on alone). */
#define NUM(k, v) "\"" k "\":{\"value\":" v ",\"source\":\"assumed: test\"}"
#define TILED(rows, cols) NUM("tile_rows", rows) "," NUM("tile_cols", cols)
#define TILES TILED("256", "256")
static const char *xbar_file(const char *params) {
    static char buf[4096];
    snprintf(buf, sizeof buf,
             "{\"name\":\"xbar-test\",\"model\":\"crossbar\",\"constraints\":{" NUM(
                 "max_tile", "1024") "},\"params\":{" NUM("g_max_us",
                                                          "25") "," NUM("dac_pj",
                                                                        "0.5") "," NUM("adc_pj",
                                                                                       "2") ",%s}}",
             params);
    return buf;
}

/* ---- the shipped file and energy ---------------------------------------------------- */

static void test_shipped_file(void **state) {
    (void)state;
    uh_backend_t *b = load_backend(PCM_FILE);
    assert_string_equal(uh_backend_name(b), "crossbar-pcm");
    assert_string_equal(uh_backend_model_name(b), "crossbar");
    uh_precision_t p;
    uh_backend_precision(b, &p);
    assert_int_equal(p.activation_bits, 8);
    assert_non_null(strstr(p.summary, "8-bit ADC"));
    /* A fully used 256×256 tile, per MAC: e_cell + E_DAC/256 + (E_ADC + E_periphery)/256
     * = 0.015625 + 0.5/256 + (2 + 199.95)/256 = 0.015625 + 0.001953125 + 0.7888671875
     * = 0.8064453125 pJ (HERMES, four-phase mode: 2.48 TOPS/W = 2/2.48 = 0.80645 pJ/MAC). */
    assert_close(uh_backend_pj_per_mac(b), 0.8064453125, 1e-12);
    assert_close(2 / uh_backend_pj_per_mac(b), 2.48, 1e-4); /* TOPS/W */
    uh_backend_free(b);
}

static void test_energy_mlp_by_hand(void **state) {
    (void)state;
    uh_backend_t *b = load_backend(PCM_FILE);
    uh_arch_t a;
    parse_arch(RELU_MLP(128, 10), MNIST, &a);
    uh_energy_t e;
    energy_of(b, &a, &e);
    /* e_cell = V² · G_max · t_read · fill · activity
     *        = 0.2² V² · 25e-6 S · 250e-9 s · 0.25 · 0.25 = 1.5625e-14 J = 0.015625 pJ.
     * Layer 1: 784 inputs on 256-row tiles → rt = ceil(784/256) = 4 row-tiles;
     *          128 outputs on 256-col tiles → ct = 1.
     *   dac        = 784 · 1 · 0.5 pJ          =    392 pJ
     *   adc        = 128 · 4 · 2 pJ            =   1024 pJ
     *   periphery  = 128 · 4 · 199.95 pJ       = 102374.4 pJ
     *   array      = 784 · 128 · 0.015625 pJ   =   1568 pJ
     *   accumulate = 128 · (4 − 1) · 0.1 pJ    =   38.4 pJ
     *   activation = 128 ReLUs · 0.4 pJ        =   51.2 pJ
     * Layer 2: 128 inputs, 10 outputs, one tile:
     *   dac 128 · 0.5 = 64, adc 10 · 2 = 20, periphery 10 · 199.95 = 1999.5,
     *   array 1280 · 0.015625 = 20 pJ; no activation, nothing to accumulate.
     * Total 105 448 + 2103.5 = 107 551.5 pJ = 107.5515 nJ.
     * Latency (batch 1, one pass per dense layer, layers in sequence): 2 · 521 ns = 1042 ns.
     * Footprint: tiles 4 · 1 + 1 · 1 = 5; devices 2 · (784 · 128 + 128 · 10) = 2 · 101 632
     * = 203 264; area 5 · 0.62 mm² = 3.1 mm². */
    assert_close(e.layers[0].nj, (392 + 1024 + 102374.4 + 1568 + 38.4 + 51.2) * 1e-3, 1e-9);
    assert_close(e.layers[1].nj, (64 + 20 + 1999.5 + 20) * 1e-3, 1e-9);
    assert_close(part(&e, "dac"), 0.456, 1e-9);
    assert_close(part(&e, "adc"), 1.044, 1e-9);
    assert_close(part(&e, "periphery"), 104.3739, 1e-9);
    assert_close(part(&e, "array"), 1.588, 1e-9);
    assert_close(part(&e, "accumulate"), 0.0384, 1e-12);
    assert_close(part(&e, "activation"), 0.0512, 1e-12);
    assert_close(e.total_nj, 107.5515, 1e-9);
    assert_close(e.latency_ns, 1042, 1e-9);
    assert_true(e.footprint.tiles == 5);
    assert_true(e.footprint.devices == 203264);
    assert_true(e.footprint.mzis == 0);
    assert_close(e.footprint.area_mm2, 3.1, 1e-12);
    uh_backend_free(b);
}

static void test_energy_conv_tile_hint_by_hand(void **state) {
    (void)state;
    uh_backend_t *b = load_backend(PCM_FILE);
    uh_arch_t a;
    parse_arch(TILED_CNN(2), (uh_shape_t){1, 6, 6, 3}, &a);
    uh_energy_t e;
    energy_of(b, &a, &e);
    /* conv: im2col width 1·3·3 = 9 inputs, 2 outputs, 4×4 = 16 passes; the tile hint 4
     * makes 4×4 tiles: rt = ceil(9/4) = 3, ct = ceil(2/4) = 1.
     *   dac        = 16 · 9 · 1 · 0.5      =    72 pJ
     *   adc        = 16 · 2 · 3 · 2        =   192 pJ
     *   periphery  = 16 · 2 · 3 · 199.95   = 19195.2 pJ
     *   array      = 16 · 9 · 2 · 0.015625 =   4.5 pJ
     *   accumulate = 16 · 2 · 2 · 0.1      =   6.4 pJ
     *   activation = 2·4·4 · 0.4           =  12.8 pJ
     * pool: 2·2·2 outputs · 4 reads · 0.1 = 3.2 pJ
     * dense: 8 inputs, 3 outputs, one 256×256 tile: dac 4, adc 6, periphery 3 · 199.95 =
     *   599.85, array 24 · 0.015625 = 0.375 pJ.
     * Total 19 482.9 + 3.2 + 610.225 = 20 096.325 pJ.
     * Latency: the conv's 16 passes then the dense layer's one: 17 · 521 = 8857 ns.
     * Footprint: 3 + 1 = 4 tiles (the hint uses a 4×4 corner of each), 2 · (9·2 + 8·3) = 84
     * devices, 4 · 0.62 = 2.48 mm². */
    assert_close(e.layers[0].nj, (72 + 192 + 19195.2 + 4.5 + 6.4 + 12.8) * 1e-3, 1e-12);
    assert_close(e.layers[1].nj, 3.2e-3, 1e-12);
    assert_close(e.layers[2].nj, (4 + 6 + 599.85 + 0.375) * 1e-3, 1e-12);
    assert_close(e.total_nj, 20096.325e-3, 1e-12);
    assert_close(e.latency_ns, 8857, 1e-9);
    assert_true(e.footprint.tiles == 4 && e.footprint.devices == 84);
    assert_close(e.footprint.area_mm2, 2.48, 1e-12);
    uh_backend_free(b);
}

static void test_violations(void **state) {
    (void)state;
    uh_backend_t *b = load_backend_text(xbar_file(TILED("64", "32") "," NUM("chip_tiles", "8")));
    uh_arch_t a;
    /* Layer 1: the hint 16 makes 16×16 tiles: 784 inputs → 49 row-tiles, 40 outputs → 3
     * column-tiles: 147 tiles. Layer 2: the hint 48 is wider than the 32 columns (a
     * violation; energy clamps it to 48×32): 40 inputs, 10 outputs → 1 tile. */
    parse_arch("{\"layers\":[{\"type\":\"dense\",\"units\":40,\"tile\":16},"
               "{\"type\":\"dense\",\"units\":10,\"tile\":48}]}",
               MNIST, &a);
    uh_violations_t v;
    assert_int_equal(uh_backend_check(b, &a, &v), 2);
    assert_int_equal(v.items[0].layer, 2);
    assert_string_equal(v.items[0].field, "tile");
    assert_non_null(strstr(v.items[0].msg, "tile 48 is larger than the 64x32 crossbar array"));
    assert_int_equal(v.items[1].layer, 0);
    assert_string_equal(v.items[1].field, "tiles");
    assert_non_null(strstr(v.items[1].msg, "need 148 crossbar tiles; the chip has 8"));
    uh_arch_t ok;
    parse_arch("{\"layers\":[{\"type\":\"dense\",\"units\":32},{\"type\":\"dense\",\"units\":4}]}",
               TINY, &ok); /* 144 inputs: 3 row-tiles; then 1: 4 tiles */
    assert_int_equal(uh_backend_check(b, &ok, &v), 0);
    uh_backend_free(b);
    /* The shipped file: the shared constraint refuses tiles over 256 before the model does. */
    b = load_backend(PCM_FILE);
    parse_arch("{\"layers\":[{\"type\":\"dense\",\"units\":10,\"tile\":512}]}", MNIST, &a);
    assert_true(uh_backend_check(b, &a, &v) >= 1);
    assert_int_equal(v.items[0].layer, 1);
    assert_string_equal(v.items[0].field, "tile");
    uh_backend_free(b);
}

/* ---- physics ------------------------------------------------------------------------- */

static const uh_noise_t *eval_hook(uh_backend_t *b, const uh_arch_t *a, uh_backend_sim_t **sim) {
    *sim = new_sim(b, a, UH_SIM_EVAL);
    const uh_noise_t *hook = uh_backend_sim_hook(*sim);
    assert_non_null(hook);
    return hook;
}

/* The EVAL hook of one dense layer of `rows` outputs, whose weights the physics tests fill
 * with rows of many columns each. */
static const uh_noise_t *rows_hook(uh_backend_t *b, int rows, uh_backend_sim_t **sim) {
    uh_arch_t a;
    parse_dense(rows, 0, 0, (uh_shape_t){1, 1, 1, rows}, &a);
    return eval_hook(b, &a, sim);
}

/* Mean and standard deviation of x[0..n). */
static void moments(const float *x, size_t n, double scale, double *mean, double *std) {
    double s = 0, ss = 0;
    for (size_t i = 0; i < n; i++) s += x[i] * scale;
    *mean = s / n;
    for (size_t i = 0; i < n; i++) ss += (x[i] * scale - *mean) * (x[i] * scale - *mean);
    *std = sqrt(ss / (n - 1));
}

/* Programming noise alone: rows of weights at g = 1, 0.5 and 0 (max |w| = 1 → G_max).
 * The effective weight is (G⁺ − G⁻)/G_max·max|w|; the device of the other sign is
 * programmed to 0 and gets σ(0) too, clipped at 0 (no negative conductance), so in µS:
 *   Var(G⁺ − G⁻) = σ(g)² + σ(0)²·(1/2 − 1/(2π))       (variance of max(0, σ(0)·Z))
 *   E(G⁺ − G⁻)   = g·G_max − σ(0)/sqrt(2π)
 * and at g = 0 both devices are clipped: Var = 2·σ(0)²·(1/2 − 1/(2π)), mean 0. */
static void test_programming_noise_sigma(void **state) {
    (void)state;
    uh_backend_t *b = load_backend_text(xbar_file(
        TILES "," NUM("prog_noise_c0_us", "0.26348") "," NUM("prog_noise_c1_us", "1.9650") "," NUM(
            "prog_noise_c2_us", "-1.1731") ",\"drift_compensation\":\"none\""));
    uh_backend_sim_t *sim;
    const uh_noise_t *hook = rows_hook(b, 3, &sim);
    enum { N = 60000 };
    float *w = malloc(3 * N * sizeof *w);
    assert_non_null(w);
    const double g[3] = {1.0, 0.5, 0.0};
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < N; c++) w[r * N + c] = (float)g[r];
    uh_rng_t rng = rng_seeded(42);
    hook->perturb_weights(hook->ctx, 0, w, 3, N, &rng);
    const double s0 = 0.26348, clip = 0.5 - 1 / (2 * PI);
    for (int r = 0; r < 3; r++) {
        double sigma = 0.26348 + 1.9650 * g[r] - 1.1731 * g[r] * g[r];
        double want_std =
            g[r] > 0 ? sqrt(sigma * sigma + s0 * s0 * clip) : sqrt(2 * s0 * s0 * clip);
        double want_mean = g[r] > 0 ? g[r] * 25 - s0 / sqrt(2 * PI) : 0;
        double mean, std;
        moments(w + (size_t)r * N, N, 25.0, &mean, &std);
        /* σ(1) = 1.0554 µS, σ(0.5) = 0.9527 µS, σ(0) = 0.2635 µS; the std of the std
         * estimate is ~σ/sqrt(2N) = 0.3 %, of the mean σ/sqrt(N) ≈ 0.004 µS. */
        assert_close(std, want_std, 0.015 * want_std);
        assert_close(mean, want_mean, 0.02);
    }
    uh_backend_sim_free(sim);
    free(w);
    uh_backend_free(b);
}

/* Drift alone: G(t) = G(t0)·(t/t0)^(−ν). Without compensation the effective weight shrinks
 * by exactly that factor; with a device spread σ_ν the mean of the lognormal factor is
 * exp(−ν·L + σ_ν²·L²/2), L = ln(t/t0); global compensation restores the mean. */
static void test_drift(void **state) {
    (void)state;
    enum { N = 20000 };
    float *w = malloc(2 * N * sizeof *w);
    assert_non_null(w);
    const double times[] = {20, 200, 3600, 86400};
    for (int k = 0; k < 4; k++) {
        for (int spread = 0; spread < 2; spread++) {
            for (int comp = 0; comp < 2; comp++) {
                char params[1024];
                snprintf(params, sizeof params,
                         TILES "," NUM(
                             "drift_nu",
                             "0.08") ",\"drift_nu_std\":{\"value\":%s,"
                                     "\"source\":\"assumed: test\"},\"t_eval_s\":{\"value\":%g,"
                                     "\"source\":\"assumed: test\"},\"drift_compensation\":\"%s\"",
                         spread ? "0.02" : "0", times[k], comp ? "global" : "none");
                uh_backend_t *b = load_backend_text(xbar_file(params));
                uh_backend_sim_t *sim;
                const uh_noise_t *hook = rows_hook(b, 2, &sim);
                for (int c = 0; c < N; c++) w[c] = 1.0f, w[N + c] = -0.5f;
                uh_rng_t rng = rng_seeded(7);
                hook->perturb_weights(hook->ctx, 0, w, 2, N, &rng);
                double L = log(times[k] / 20), s = spread ? 0.02 : 0;
                double factor = comp ? 1 : exp(-0.08 * L + s * s * L * L / 2);
                double m0, m1, sd;
                moments(w, N, 1, &m0, &sd);
                moments(w + N, N, 1, &m1, &sd);
                if (!spread) {
                    /* deterministic: every device by the same factor */
                    assert_close(m0, factor, 1e-6);
                    assert_close(m1, -0.5 * factor, 1e-6);
                    assert_true(sd < 1e-6);
                } else {
                    assert_close(m0, factor, 0.005);
                    assert_close(m1, -0.5 * factor, 0.005);
                }
                uh_backend_sim_free(sim);
                uh_backend_free(b);
            }
        }
    }
    /* the uncompensated factor at one hour and ν = 0.08, for the record: 180^-0.08 */
    assert_close(pow(180, -0.08), 0.65999, 1e-4);
    free(w);
}

/* Read noise alone at g = 1, t = 1 h: σ/G = Q · sqrt(ln((t + t_read)/(2·t_read))) with
 * Q = min(0.0088/1^0.65, 0.2) = 0.0088 → 0.0088 · sqrt(ln(3600/5e-7)) = 0.04191. */
static void test_read_noise(void **state) {
    (void)state;
    uh_backend_t *b = load_backend_text(xbar_file(
        TILES "," NUM("read_noise_q", "0.0088") "," NUM("read_noise_q_exp", "0.65") "," NUM(
            "read_noise_q_max",
            "0.2") "," NUM("t_read_s",
                           "250e-9") "," NUM("t_eval_s",
                                             "3600") ",\"drift_compensation\":\"none\""));
    uh_backend_sim_t *sim;
    const uh_noise_t *hook = rows_hook(b, 2, &sim);
    enum { N = 40000 };
    float *w = malloc(2 * N * sizeof *w);
    assert_non_null(w);
    for (int c = 0; c < N; c++) w[c] = 1.0f, w[N + c] = 0.25f;
    uh_rng_t rng = rng_seeded(3);
    hook->perturb_weights(hook->ctx, 0, w, 2, N, &rng);
    double root = sqrt(log((3600 + 250e-9) / (2 * 250e-9)));
    double mean, std;
    moments(w, N, 1, &mean, &std);
    assert_close(std, 0.0088 * root, 0.02 * 0.0088 * root);
    assert_close(mean, 1, 0.001);
    /* g = 0.25: Q = 0.0088 / 0.25^0.65 = 0.02167, σ = 0.25 · Q · root */
    moments(w + N, N, 1, &mean, &std);
    double q = 0.0088 / pow(0.25, 0.65);
    assert_close(std, 0.25 * q * root, 0.02 * 0.25 * q * root);
    uh_backend_sim_free(sim);
    free(w);
    uh_backend_free(b);
}

/* ADC: outputs rounded to 2^(bits−1)−1 = 127 levels of the batch's max |z|. */
static void test_adc_rounding(void **state) {
    (void)state;
    uh_backend_t *b = load_backend_text(xbar_file(TILES "," NUM("adc_bits", "8")));
    uh_backend_sim_t *sim;
    const uh_noise_t *hook = rows_hook(b, 2, &sim);
    assert_non_null(hook->perturb_outputs);
    float z[] = {2.0f, 1.0f, -0.3f, 0.01f, -2.0f};
    hook->perturb_outputs(hook->ctx, 0, z, 5, NULL);
    const float step = 2.0f / 127;
    float want[] = {2.0f, 64 * step, -19 * step, 1 * step, -2.0f}; /* 63.5 → 64 (even) */
    for (int i = 0; i < 5; i++) assert_close(z[i], want[i], 1e-6);
    uh_backend_sim_free(sim);
    uh_backend_free(b);
}

/* Precision is a hardware gene: a layer's bits set its DAC and ADC resolution. Energy by hand
 * on the shipped file, then the quantisation error of one layer's outputs through the EVAL
 * hook at two bit widths, and the bits the shipped file allows. */
static void test_bits_set_converters(void **state) {
    (void)state;
    uh_backend_t *b = load_backend(PCM_FILE);
    uh_arch_t a0, a8, a4;
    uh_energy_t e0, e8, e4;
    mlp_bits_energy(b, MNIST, 0, 0, &a0, &e0);
    mlp_bits_energy(b, MNIST, 8, 0, &a8, &e8);
    mlp_bits_energy(b, MNIST, 4, 0, &a4, &e4);
    /* Layer 1 (784 → 64: rt = 4 row-tiles, ct = 1) at the file's 8 bits: dac 784 · 0.5 =
     * 392 pJ, adc 64 · 4 · 2 = 512 pJ. At 4 bits both scale by 2^(4 − 8) = 1/16: dac 24.5 pJ,
     * adc 32 pJ, 847.5 pJ less. Periphery, array, accumulate, activation and layer 2 stay. */
    assert_close(layer_part(&e0, 0, "dac"), 0.392, 1e-12);
    assert_close(layer_part(&e0, 0, "adc"), 0.512, 1e-12);
    assert_close(layer_part(&e4, 0, "dac"), 0.0245, 1e-12);
    assert_close(layer_part(&e4, 0, "adc"), 0.032, 1e-12);
    assert_close(e0.total_nj - e4.total_nj, 0.8475, 1e-9);
    const char *same[] = {"periphery", "array", "accumulate", "activation"};
    for (int k = 0; k < 4; k++)
        assert_close(layer_part(&e4, 0, same[k]), layer_part(&e0, 0, same[k]), 1e-12);
    assert_close(e4.layers[1].nj, e0.layers[1].nj, 1e-12);
    assert_close(e4.latency_ns, e0.latency_ns, 0);
    /* bits 8 = the file's: identical to no bits */
    assert_close(e8.total_nj, e0.total_nj, 0);
    /* allowed bits are the file's constraints: 2..8 (max_bits 8, the HERMES ADC) */
    uh_violations_t v;
    assert_int_equal(uh_backend_check(b, &a4, &v), 0);
    uh_arch_t a12;
    parse_arch("{\"layers\":[{\"type\":\"dense\",\"units\":10,\"bits\":12}]}", MNIST, &a12);
    assert_int_equal(uh_backend_check(b, &a12, &v), 1);
    assert_string_equal(v.items[0].field, "bits");
    assert_non_null(strstr(v.items[0].msg, "12 bits requested; this hardware supports 2..8"));
    uh_backend_free(b);

    /* The simulated ADC follows the layer's bits: one dense layer (144 inputs, one row-tile),
     * ADC alone (no noise, no bound), z ~ N(0, 1): the rounding error is uniform over one
     * step FS / (2^(b−1) − 1), rms = FS / (levels · √12). */
    b = load_backend_text(xbar_file(TILES "," NUM("dac_bits", "8") "," NUM("adc_bits", "8")));
    const int bits[] = {8, 4};
    double prev = 0;
    for (int i = 0; i < 2; i++) {
        uh_arch_t a;
        parse_dense(20, 0, bits[i], (uh_shape_t){1, 12, 12, 20}, &a);
        for (int mode = 0; mode < 2; mode++) { /* EVAL, then TRAIN: the same rounding */
            uh_backend_sim_t *sim = new_sim(b, &a, mode ? UH_SIM_TRAIN : UH_SIM_EVAL);
            const uh_noise_t *hook = uh_backend_sim_hook(sim);
            assert_non_null(hook);
            double fs, rms = output_error_rms(hook, 11, 0, &fs);
            double levels = (1 << (bits[i] - 1)) - 1;
            double want = fs / (levels * sqrt(12.0));
            print_message("%s, %d bits: ADC error rms %.4e, analytic %.4e\n",
                          mode ? "train" : "eval", bits[i], rms, want);
            assert_true(fabs(rms - want) <= 0.05 * want);
            uh_backend_sim_free(sim);
            if (mode == 0) {
                assert_true(rms > prev * 10); /* 8 → 4 bits: 127/7 = 18× */
                prev = rms;
            }
        }
    }
    uh_backend_free(b);

    /* An ideal ADC in the file (adc_bits 0) has no reference resolution: a layer's bits still
     * round its outputs, but the converter energy is the file's figure, unscaled. */
    b = load_backend_text(xbar_file(TILES));
    energy_of(b, &a4, &e4);
    energy_of(b, &a0, &e0);
    assert_close(e4.total_nj, e0.total_nj, 0);
    uh_backend_sim_t *sim;
    const uh_noise_t *hook = eval_hook(b, &a4, &sim);
    float z[] = {1.4f, 0.31f, -0.5f};
    hook->perturb_outputs(hook->ctx, 0, z, 3, NULL);
    assert_close(z[1], 0.4, 1e-6); /* 4 bits: 7 levels of 1.4, step 0.2 */
    uh_backend_sim_free(sim);
    uh_backend_free(b);
}

static double train_sigma(const uh_backend_t *b);

/* Read noise per MVM alone (aihwkit's w_noise, PCM_READ): each weight gets
 * N(0, (w_noise · sqrt(|w| · w_max))²) with every weight preparation, so with w_max = 1 a
 * weight of 1 gets σ = w_noise, one of ±0.25 σ = w_noise · 0.5, and a zero weight (no current)
 * none. Two preparations draw afresh. Training's hook does not apply it. */
static void test_read_noise_per_mvm(void **state) {
    (void)state;
    uh_backend_t *b = load_backend_text(
        xbar_file(TILES "," NUM("w_noise", "0.1") ",\"drift_compensation\":\"none\""));
    uh_backend_sim_t *sim;
    const uh_noise_t *hook = rows_hook(b, 4, &sim);
    enum { N = 40000 };
    float *w = malloc(4 * N * sizeof *w), *w2 = malloc(4 * N * sizeof *w2);
    assert_non_null(w);
    assert_non_null(w2);
    const float target[4] = {1.0f, 0.25f, -0.25f, 0.0f};
    const double want_std[4] = {0.1, 0.05, 0.05, 0};
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < N; c++) w[r * N + c] = w2[r * N + c] = target[r];
    uh_rng_t rng = rng_seeded(21);
    hook->perturb_weights(hook->ctx, 0, w, 4, N, &rng);
    hook->perturb_weights(hook->ctx, 0, w2, 4, N, &rng);
    for (int r = 0; r < 4; r++) {
        double mean, std;
        moments(w + (size_t)r * N, N, 1, &mean, &std);
        /* std of the std estimate ≈ σ/sqrt(2N) = 0.35 %; of the mean σ/sqrt(N) = 0.0005 */
        assert_close(std, want_std[r], 0.02 * want_std[r] + 1e-7);
        assert_close(mean, target[r], 0.002);
    }
    int same = 0;
    for (int i = 0; i < N; i++) same += w[i] == w2[i];
    assert_true(same < N / 100); /* a fresh draw each preparation */
    uh_backend_sim_free(sim);
    free(w);
    free(w2);
    /* the training hook: its calibrated σ_w measures the persistent device errors only, and
     * here there are none */
    assert_close(train_sigma(b), 0, 0);
    uh_backend_free(b);
}

/* Output bound alone (out_bound 1.5, no ADC, no noise), by hand. 8 inputs on 4-row tiles:
 * rt = 2 row-tiles in layer 1. Layer 1: max |w| = 0.5, x_max = 1 (images):
 *   bound = 1.5 · rt 2 · 0.5 · 1 = 1.5, so z = {3, 0.4, -2.5 | 1.5, 0.2, -0.1}
 *   → {1.5, 0.4, -1.5 | 1.5, 0.2, -0.1}; after ReLU the largest input of layer 2 is 1.5.
 * Layer 2 (one row-tile): max |w| = 0.2: bound = 1.5 · 1 · 0.2 · 1.5 = 0.45, so
 *   z = {0.5, -0.3 | 0.44, -0.46} → {0.45, -0.3 | 0.44, -0.45}. */
static void test_out_bound_clips(void **state) {
    (void)state;
    uh_arch_t a;
    parse_arch(RELU_MLP(3, 2), (uh_shape_t){1, 1, 8, 2}, &a);
    uh_backend_t *b = load_backend_text(xbar_file(TILED("4", "256") "," NUM("out_bound", "1.5")));
    uh_backend_sim_t *sim;
    const uh_noise_t *hook = eval_hook(b, &a, &sim);
    assert_non_null(hook->perturb_outputs);
    float w1[3 * 8], w2[2 * 3];
    for (int i = 0; i < 24; i++) w1[i] = (float)(i % 5 - 2) * 0.25f; /* max |w| = 0.5 */
    for (int i = 0; i < 6; i++) w2[i] = (float)(i % 3 - 1) * 0.2f;   /* max |w| = 0.2 */
    uh_rng_t rng = rng_seeded(1);
    hook->perturb_weights(hook->ctx, 0, w1, 3, 8, &rng);
    hook->perturb_weights(hook->ctx, 1, w2, 2, 3, &rng);
    float z1[] = {3.0f, 0.4f, -2.5f, 1.5f, 0.2f, -0.1f};
    const float want1[] = {1.5f, 0.4f, -1.5f, 1.5f, 0.2f, -0.1f};
    hook->perturb_outputs(hook->ctx, 0, z1, 6, &rng);
    for (int i = 0; i < 6; i++) assert_close(z1[i], want1[i], 1e-6);
    float z2[] = {0.5f, -0.3f, 0.44f, -0.46f};
    const float want2[] = {0.45f, -0.3f, 0.44f, -0.45f};
    hook->perturb_outputs(hook->ctx, 1, z2, 4, &rng);
    for (int i = 0; i < 4; i++) assert_close(z2[i], want2[i], 1e-6);
    uh_backend_sim_free(sim);
    uh_backend_free(b);
}

/* ---- the noiseless limit and accuracy ------------------------------------------------- */

/* Everything off except deterministic drift, which global compensation undoes exactly:
 * the crossbar must give the digital logits, for an MLP and a CNN. */
static void test_noiseless_gives_digital_logits(void **state) {
    (void)state;
    uh_backend_t *b = load_backend_text(xbar_file(TILES "," NUM("drift_nu", "0.08") "," NUM(
        "t_eval_s", "86400") "," NUM("noise_scale", "0") ",\"drift_compensation\":\"global\""));
    uh_dataset_t *ds;
    uh_error_t err = {0};
    assert_int_equal(uh_dataset_tiny(16, 5, &ds, &err), UH_OK);
    const char *archs[] = {
        RELU_MLP(300, 4),
        "{\"layers\":[{\"type\":\"conv2d\",\"filters\":6,\"kernel\":3,\"activation\":\"tanh\"},"
        "{\"type\":\"pool\",\"kind\":\"max\",\"size\":2},{\"type\":\"dense\",\"units\":4}]}"};
    for (int k = 0; k < 2; k++) {
        uh_arch_t a;
        parse_arch(archs[k], TINY, &a);
        uh_net_t *net = uh_net_new(&a, 16, 3, &err);
        assert_non_null(net);
        float clean[16 * 4];
        memcpy(clean, uh_net_forward(net, ds->x, 16), sizeof clean);
        uh_backend_sim_t *sim;
        const uh_noise_t *hook = eval_hook(b, &a, &sim);
        uh_net_set_noise(net, hook, 11);
        const float *hw = uh_net_forward(net, ds->x, 16);
        assert_true(max_rel_diff(hw, clean, 16 * 4) <= 1e-6);
        uh_net_set_noise(net, NULL, 0);
        uh_backend_sim_free(sim);
        uh_net_free(net);
    }
    uh_dataset_free(ds);
    uh_backend_free(b);
}

static uh_net_t *train_tiny_mlp(const uh_dataset_t *train, const uh_noise_t *noise) {
    uh_arch_t a;
    parse_arch(RELU_MLP(32, 4), TINY, &a);
    uh_error_t err = {0};
    uh_net_t *net = uh_net_new(&a, 32, 1, &err);
    assert_non_null(net);
    uh_train_opts_t opts;
    uh_train_opts_default(&opts);
    opts.batch = 32, opts.epochs = 10, opts.lr = 0.1f;
    uh_net_set_noise(net, noise, 5);
    uh_train_result_t res;
    assert_int_equal(uh_net_train(net, train, &opts, NULL, NULL, &res, &err), UH_OK);
    uh_net_set_noise(net, NULL, 0);
    return net;
}

/* An MLP trained on the tiny set, and 4000 fresh test images from test_seed into *test, so
 * that a handful of borderline samples cannot decide. */
static uh_net_t *trained_mlp(uint64_t test_seed, uh_dataset_t **test) {
    uh_dataset_t *train, *small_test;
    load_tiny(&train, &small_test);
    uh_error_t err = {0};
    assert_int_equal(uh_dataset_tiny(4000, test_seed, test, &err), UH_OK);
    uh_net_t *net = train_tiny_mlp(train, NULL);
    uh_dataset_free(train);
    uh_dataset_free(small_test);
    return net;
}

/* On a trained MLP: noisy accuracy falls as the noise scale rises, stays at or below the
 * clean accuracy, and a seed replays its Monte-Carlo samples exactly. */
static void test_accuracy_falls_with_noise(void **state) {
    (void)state;
    uh_dataset_t *test;
    uh_net_t *net = trained_mlp(77, &test);
    const double scales[] = {0, 1, 4, 8, 16};
    double acc[5], clean = 0;
    for (int k = 0; k < 5; k++) {
        uh_backend_t *b = load_pcm_scaled(scales[k]);
        uh_mc_result_t r = evaluate(b, net, test, 8, 99);
        acc[k] = r.noisy_accuracy;
        clean = r.clean_accuracy;
        print_message("noise scale %5.1f: clean %.4f noisy %.4f ± %.4f\n", scales[k],
                      r.clean_accuracy, r.noisy_accuracy, r.noisy_std);
        /* noisy ≤ clean, up to the Monte-Carlo error of the mean (a few samples of 4000
         * can flip either way under small noise) */
        assert_true(r.noisy_accuracy <= r.clean_accuracy + 0.002);
        uh_backend_free(b);
    }
    assert_true(clean > 0.9);
    for (int k = 1; k < 5; k++) assert_true(acc[k] <= acc[k - 1] + 0.002);
    assert_true(acc[4] < acc[0] - 0.05);
    /* the same seed replays the same samples; another seed draws others */
    uh_backend_t *b = load_pcm_scaled(8);
    assert_mc_seeded(b, net, test, 4);
    uh_backend_free(b);
    uh_net_free(net);
    uh_dataset_free(test);
}

/* On a trained MLP: the read noise per MVM alone lowers accuracy as w_noise grows, and the
 * logits' RMS error grows with it. */
static void test_accuracy_falls_with_w_noise(void **state) {
    (void)state;
    uh_dataset_t *test;
    uh_net_t *net = trained_mlp(78, &test);
    const char *levels[] = {"0", "0.0175", "0.1", "0.3", "1"};
    double acc[5], rms[5];
    float clean[32 * 4];
    memcpy(clean, uh_net_forward(net, test->x, 32), sizeof clean);
    for (int k = 0; k < 5; k++) {
        char params[256];
        snprintf(params, sizeof params,
                 TILES ",\"w_noise\":{\"value\":%s,\"source\":\"assumed: test\"}", levels[k]);
        uh_backend_t *b = load_backend_text(xbar_file(params));
        uh_mc_result_t r = evaluate(b, net, test, 8, 5);
        acc[k] = r.noisy_accuracy;
        uh_backend_sim_t *sim;
        const uh_noise_t *hook = eval_hook(b, uh_net_arch(net), &sim);
        uh_net_set_noise(net, hook, 17);
        const float *hw = uh_net_forward(net, test->x, 32);
        double sq = 0;
        for (int i = 0; i < 32 * 4; i++) sq += (hw[i] - clean[i]) * (double)(hw[i] - clean[i]);
        rms[k] = sqrt(sq / (32 * 4));
        uh_net_set_noise(net, NULL, 0);
        uh_backend_sim_free(sim);
        print_message("w_noise %6s: noisy accuracy %.4f ± %.4f, logit RMS error %.4f\n", levels[k],
                      r.noisy_accuracy, r.noisy_std, rms[k]);
        uh_backend_free(b);
    }
    assert_true(rms[0] < 1e-5);
    for (int k = 1; k < 5; k++) {
        assert_true(rms[k] > rms[k - 1]);
        assert_true(acc[k] <= acc[k - 1] + 0.002);
    }
    assert_true(acc[4] < acc[0] - 0.05);
    uh_net_free(net);
    uh_dataset_free(test);
}

/* Noise-aware training (UH_SIM_TRAIN) runs through the engine's hook and still learns. */
static void test_noise_aware_training(void **state) {
    (void)state;
    uh_dataset_t *train, *test;
    load_tiny(&train, &test);
    uh_backend_t *b = load_backend(PCM_FILE);
    uh_arch_t a;
    parse_arch(RELU_MLP(32, 4), TINY, &a);
    uh_backend_sim_t *sim;
    const uh_noise_t *hook = train_hook(b, &a, &sim);
    uh_net_t *net = train_tiny_mlp(train, hook);
    uh_mc_result_t r = evaluate(b, net, test, 4, 5);
    print_message("noise-aware: clean %.4f noisy %.4f\n", r.clean_accuracy, r.noisy_accuracy);
    assert_true(r.clean_accuracy > 0.9);
    assert_true(r.noisy_accuracy > 0.85);
    uh_backend_sim_free(sim);
    uh_net_free(net);
    uh_backend_free(b);
    uh_dataset_free(train);
    uh_dataset_free(test);
}

/* The train hook's weight noise, measured: RMS of (w_train − w) on a 256×256 matrix with
 * max |w| = 1, i.e. σ relative to max|W| (0 when the hook perturbs no weights). */
static double train_sigma(const uh_backend_t *b) {
    uh_arch_t a;
    parse_dense(256, 0, 0, (uh_shape_t){1, 16, 16, 256}, &a);
    enum { N = 256 * 256 };
    float *w = malloc(N * sizeof *w);
    assert_non_null(w);
    for (int i = 0; i < N; i++) w[i] = i == 0 ? 1.0f : -0.25f;
    double sigma = train_weight_rms(b, &a, w, 256, 256);
    free(w);
    return sigma;
}

/* Noise-aware training's weight σ is calibrated from the EVAL physics (the shipped file
 * gives no number): 0 without noise, in the range of IBM's hardware-aware training (aihwkit
 * trains PCM with 0.0175–0.03 of max|W|) at the nominal noise, growing with noise_scale about
 * linearly (programming, read noise and the drift spread all scale with it). An explicit
 * train_weight_noise overrides it, times noise_scale. */
static void test_train_sigma_calibrated(void **state) {
    (void)state;
    const double scales[] = {0, 0.5, 1, 2};
    double s[4];
    for (int k = 0; k < 4; k++) {
        uh_backend_t *b = load_pcm_scaled(scales[k]);
        s[k] = train_sigma(b);
        print_message("noise scale %.1f: calibrated train sigma %.5f\n", scales[k], s[k]);
        uh_backend_free(b);
    }
    assert_close(s[0], 0, 0);
    assert_true(s[1] < s[2] && s[2] < s[3]);
    assert_true(s[2] > 0.005 && s[2] < 0.1);
    assert_close(s[3] / s[2], 2, 0.3);
    /* deterministic: the same file calibrates to the same σ */
    uh_backend_t *b = load_backend(PCM_FILE);
    assert_true(train_sigma(b) == s[2]);
    uh_backend_free(b);
    /* the override: σ = noise_scale · train_weight_noise = 2 · 0.03 */
    b = load_backend_text(
        xbar_file(TILES "," NUM("train_weight_noise", "0.03") "," NUM("noise_scale", "2")));
    assert_close(train_sigma(b), 0.06, 0.06 * 0.01);
    uh_backend_free(b);
    /* programming noise alone calibrates to about its σ(g) over G_max on Gaussian weights:
     * more than σ(0)/G_max = 0.0105 (both devices of a pair are noisy), less than
     * σ_max/G_max = 0.043 */
    b = load_backend_text(xbar_file(
        TILES "," NUM("prog_noise_c0_us", "0.26348") "," NUM("prog_noise_c1_us", "1.9650") "," NUM(
            "prog_noise_c2_us", "-1.1731") ",\"drift_compensation\":\"none\""));
    double prog = train_sigma(b);
    print_message("programming noise alone: %.5f\n", prog);
    assert_true(prog > 0.0105 && prog < 0.043);
    uh_backend_free(b);
}

/* ---- bad files ------------------------------------------------------------------------ */

static void test_bad_files(void **state) {
    (void)state;
    expect_bad_backend("{\"name\":\"x\",\"model\":\"crossbar\",\"params\":{" NUM(
                           "dac_pj", "1") "," NUM("adc_pj", "1") "," TILES "}}",
                       "params.g_max_us: is required");
    expect_bad_backend(xbar_file(NUM("tile_rows", "256")), "params.tile_cols: is required");
    expect_bad_backend(xbar_file(TILES ",\"g_max\":{\"value\":1,\"source\":\"typo\"}"),
                       "params.g_max: unknown key");
    expect_bad_backend(xbar_file(TILES ",\"drift_nu\":{\"value\":0.05}"),
                       "params.drift_nu: needs a \"source\"");
    expect_bad_backend(xbar_file(TILES "," NUM("drift_nu", "1.5")),
                       "params.drift_nu: must be in 0..1, got 1.5");
    expect_bad_backend(xbar_file(TILES "," NUM("adc_bits", "8.5")),
                       "params.adc_bits: must be an integer");
    expect_bad_backend(xbar_file(TILES "," NUM("tile_rows", "128")),
                       "params.tile_rows: given more than once");
    expect_bad_backend(
        xbar_file(TILES ",\"drift_compensation\":\"local\""),
        "params.drift_compensation: unknown value \"local\"; expected one of \"none\", \"global\"");
    expect_bad_backend(xbar_file(TILES "," NUM("t0_s", "20") "," NUM("t_eval_s", "5")),
                       "params.t_eval_s: must be at least t0_s (20 s), got 5");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_file),
        cmocka_unit_test(test_energy_mlp_by_hand),
        cmocka_unit_test(test_energy_conv_tile_hint_by_hand),
        cmocka_unit_test(test_violations),
        cmocka_unit_test(test_programming_noise_sigma),
        cmocka_unit_test(test_drift),
        cmocka_unit_test(test_read_noise),
        cmocka_unit_test(test_adc_rounding),
        cmocka_unit_test(test_bits_set_converters),
        cmocka_unit_test(test_read_noise_per_mvm),
        cmocka_unit_test(test_out_bound_clips),
        cmocka_unit_test(test_noiseless_gives_digital_logits),
        cmocka_unit_test(test_accuracy_falls_with_noise),
        cmocka_unit_test(test_accuracy_falls_with_w_noise),
        cmocka_unit_test(test_noise_aware_training),
        cmocka_unit_test(test_train_sigma_calibrated),
        cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
