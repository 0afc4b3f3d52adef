/* The optical MZI-mesh model: the shipped files, energy by hand (every component, Clements and
 * Reck), the laser's exponential growth with tile size, the noiseless limit (the digital
 * logits, for tiles that do not divide the layers), each non-ideality alone against its
 * parameter, realistic vs worst-case accuracy on a trained net, reproducible Monte Carlo, the
 * calibrated noise of noise-aware training, training through sampled hardware (the EVAL
 * physics' own error, deterministic and thread-independent, better than the Gaussian stand-in
 * where a systematic error dominates), and bad files. */
#include "common.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#include "uhnas/backend.h"

/* The energy of one component of one layer; a component the layer does not have costs 0. */
static double layer_nj(const uh_energy_t *e, int layer, const char *name) {
    return fmax(layer_part(e, layer, name), 0);
}

/* An MZI file: the energy numbers every file needs (the realistic preset's converters), a
 * tile, a mesh kind, and `params` (each physics test switches one effect on alone; empty =
 * noiseless: no phase DAC, no noise, no loss, an ideal ADC and receiver, whose laser is not
 * priced). The defaults of what it leaves out: time-multiplexed, a chip of 1e9 MZIs, batch 1,
 * no reprogramming time, no area. */
#define NUM(k, v) "\"" k "\":{\"value\":" v ",\"source\":\"assumed: test\"}"
#define ENERGY                                                                                     \
    NUM("clock_ghz", "10")                                                                         \
    "," NUM("dac_pj", "3.6") "," NUM("modulator_pj", "0.45") "," NUM("adc_pj", "1.5") "," NUM(     \
        "pd_mw", "1.1") "," NUM("tia_mw", "3") "," NUM("laser_wallplug_efficiency", "0.2")
static const char *mzi_file(const char *mesh, int tile, const char *params) {
    static char buf[4096];
    snprintf(buf, sizeof buf,
             "{\"name\":\"mzi-test\",\"model\":\"mzi\",\"constraints\":{" NUM(
                 "max_tile", "256") "},\"params\":{\"mesh\":\"%s\",\"tile\":{\"value\":%d,"
                                    "\"source\":\"assumed: test\"}," ENERGY "%s%s%s}}",
             mesh, tile, strstr(params, "heater_p_pi_mw") ? "" : "," NUM("heater_p_pi_mw", "3.6"),
             params[0] ? "," : "", params);
    return buf;
}

/* The link budget of the hand-worked tests: 8-bit readout, noise of half an LSB, 1 A/W,
 * a 10 pA/√Hz TIA, 1.2 dB modulators. */
#define LINK                                                                                       \
    NUM("adc_bits", "8")                                                                           \
    "," NUM("receiver_noise_lsb", "0.5") "," NUM("pd_responsivity_a_per_w", "1") "," NUM(          \
        "tia_noise_pa_per_rthz", "10") "," NUM("modulator_loss_db", "1.2")

/* ---- the shipped files ------------------------------------------------------------- */

static void test_shipped_files(void **state) {
    (void)state;
    const char *names[] = {"mzi-realistic", "mzi-worst", "mzi-nonvolatile"};
    const int tiles[] = {16, 8, 16}, phase_bits[] = {8, 8, 6};
    for (int i = 0; i < 3; i++) {
        char path[512];
        snprintf(path, sizeof path, BACKENDS "%s.json", names[i]);
        uh_backend_t *b = load_backend(path);
        assert_string_equal(uh_backend_name(b), names[i]);
        assert_string_equal(uh_backend_model_name(b), "mzi");
        uh_precision_t p;
        uh_backend_precision(b, &p);
        assert_int_equal(p.weight_bits, phase_bits[i]);
        assert_int_equal(p.activation_bits, 8);
        char want[96];
        snprintf(want, sizeof want, "%d-bit phase DACs, 8-bit ADC, clements meshes of %d ports",
                 phase_bits[i], tiles[i]);
        assert_string_equal(p.summary, want);
        const uh_constraints_t *c = uh_backend_constraints(b);
        assert_int_equal(c->min_tile, 4);
        assert_int_equal(c->max_tile, 64);
        assert_true(uh_backend_pj_per_mac(b) > 0);
        /* no file cites our own brief */
        assert_null(strstr(uh_backend_text(b), "MISSION"));
        assert_null(strstr(uh_backend_text(b), "PHYSICS"));
        uh_backend_free(b);
    }
    /* pj_per_mac of the realistic file: one pass of a full 16×16 block, ÷ 256 MACs.
     *   inputs  16 · (3.6 + 0.45)                         = 64.8 pJ
     *   outputs 16 · (1.48 + (1.1 + 3) mW / 10 GHz)       = 30.24 pJ
     *   laser   [16 · P_s · 10^(13.1/10) + 16 · P_LO · 10^(2/10)] / 0.2 / 10 GHz,
     *           L_sig = 1.2 + 0.3 · 33 + 2 = 13.1 dB, P_s = 0.115644 mW, P_LO = 0.0898026 mW
     *           (test_link_budget_by_hand): (37.7786 + 2.27700) / 2  = 20.0278 pJ
     *   heaters 528 shifters · 24.77/2 mW · (0.1 ns + 2 µs / 1024 inputs)
     *           = 528 · 12.385 · 2.053125                 = 13425.6 pJ */
    uh_backend_t *b = load_backend("mzi-realistic");
    double laser =
        (16 * 0.11564406814 * pow(10, 1.31) + 16 * 0.08980256121 * pow(10, 0.2)) / 0.2 / 10;
    assert_rel(laser, 20.02781, 1e-5);
    assert_rel(uh_backend_pj_per_mac(b), (64.8 + 30.24 + laser + 528 * 12.385 * 2.053125) / 256,
               1e-9);
    uh_backend_free(b);
}

/* ---- energy by hand ----------------------------------------------------------------- */

/* Receiver powers of the LINK file at 8 bits (test_link_budget_by_hand works them out). */
static const double P_SIGNAL_8BIT_MW = 0.11564406814, P_LO_8BIT_MW = 0.08980256121;

/* Laser pJ of one pass of an mb × nb block of the LINK file at 8 bits, 10 GHz, η 0.2: nb
 * inputs at P_s after L_sig dB, mb LOs after the couplers' l_lo dB. */
static double laser_pj(int mb, int nb, double l_sig_db, double l_lo_db) {
    return (nb * P_SIGNAL_8BIT_MW * pow(10, l_sig_db / 10) +
            mb * P_LO_8BIT_MW * pow(10, l_lo_db / 10)) /
           0.2 / 10;
}

static void expect_part(const uh_energy_t *e, int layer, const char *name, double want_pj) {
    double got = layer_nj(e, layer, name);
    if (!(fabs(got - want_pj * 1e-3) <= 1e-9 * fabs(want_pj * 1e-3))) {
        print_error("layer %d %s: %.15g nJ, want %.15g nJ\n", layer + 1, name, got, want_pj * 1e-3);
        fail();
    }
}

/* A component of one layer and its energy in pJ. */
typedef struct {
    int layer;
    const char *name;
    double pj;
} part_t;

/* Each of the n components of want, within relative 1e-9. */
static void expect_parts(const uh_energy_t *e, const part_t *want, size_t n) {
    for (size_t i = 0; i < n; i++) expect_part(e, want[i].layer, want[i].name, want[i].pj);
}

/* Every component of each layer, and the totals, agree within relative 1e-9. */
static void expect_sums(const uh_energy_t *e) {
    double total = 0;
    for (int i = 0; i < e->n_layers; i++) {
        double s = 0;
        for (int k = 0; k < e->layers[i].n_parts; k++) s += e->layers[i].parts[k].nj;
        assert_rel(e->layers[i].nj, s, 1e-12);
        total += s;
    }
    assert_rel(e->total_nj, total, 1e-12);
}

/* The link budget of one 4×4 block (Clements, IL 0.5 dB, couplers 3 dB) by hand, and the
 * receiver figures PHYSICS-style: σ = 0.5 LSB / 127 = 3.93701e-3 of full scale at 8 bits,
 * B = 5 GHz, R = 1 A/W, i_n = 10 pA/√Hz:
 *   P_LO = i_n √B / (2Rσ) = 7.07107e-7 / 7.87402e-3            = 0.0898026 mW
 *   P_s  = qB / (2Rσ²) + i_n² B / (4R² P_LO σ²)
 *        = 8.01088e-10 / 3.10001e-5 + 5e-13 / 5.56786e-9
 *        = 0.0258415 mW + 0.0898026 mW                          = 0.115644 mW
 *   L_sig = 1.2 + 0.5 · (4 + 4 + 1) + 3 = 8.7 dB (× 7.41310), L_LO = 3 dB (× 1.99526)
 *   optical = 4 · 0.115644 · 7.41310 + 4 · 0.0898026 · 1.99526 = 4.14568 mW
 *   laser   = 4.14568 / 0.2 / 10 GHz                             = 2.07292 pJ per pass.
 * At 4 bits (σ = 0.5/7): P_LO = 4.94975e-3 mW, P_s = 5.02825e-3 mW, laser 0.0943020 pJ:
 * 22× less light for 4 bits fewer. Shot noise alone at σ = 0.2 % needs qB/(2σ²) = 0.100 mW
 * = −10.0 dBm per receiver (7.8e4 photons per 10 GHz symbol at 1550 nm), 15 dB above the
 * −25 dBm of an on-off data link. */
static void test_link_budget_by_hand(void **state) {
    (void)state;
    uh_backend_t *b = load_backend_text(
        mzi_file("clements", 4, LINK "," NUM("il_db", "0.5") "," NUM("coupling_loss_db", "3")));
    const char *archs[] = {"{\"layers\":[{\"type\":\"dense\",\"units\":4}]}",
                           "{\"layers\":[{\"type\":\"dense\",\"units\":4,\"bits\":4}]}"};
    const double want[] = {2.07292197, 0.0943020147};
    for (int i = 0; i < 2; i++) {
        uh_arch_t a;
        parse_arch(archs[i], (uh_shape_t){1, 2, 2, 4}, &a);
        uh_energy_t e;
        energy_of(b, &a, &e);
        assert_rel(part(&e, "laser"), want[i] * 1e-3, 1e-7);
    }
    assert_rel(laser_pj(4, 4, 8.7, 3), 2.07292197, 1e-7);
    uh_backend_free(b);
    /* shot-noise limited, no TIA noise, no loss, at
     * σ = 0.2 % of full scale (receiver_noise_lsb = 0.254 at 8 bits): a 2×1 block, one input
     * without loss, so laser · η · f = P_s. */
    b = load_backend_text(
        mzi_file("clements", 4,
                 NUM("adc_bits", "8") "," NUM("receiver_noise_lsb", "0.254") "," NUM(
                     "pd_responsivity_a_per_w", "1") "," NUM("tia_noise_pa_per_rthz", "0")));
    uh_arch_t a;
    parse_arch("{\"layers\":[{\"type\":\"dense\",\"units\":2}]}", (uh_shape_t){1, 1, 1, 2}, &a);
    uh_energy_t e;
    energy_of(b, &a, &e);
    double p_s_mw = part(&e, "laser") * 1e3 * 0.2 * 10; /* pJ · η · f = mW */
    assert_rel(p_s_mw, 0.100136, 1e-5);
    assert_rel(10 * log10(p_s_mw), -9.994, 1e-3);
    uh_backend_free(b);
}

/* mzi-realistic (Clements, tile 16, IL 0.3 dB, couplers 2 dB, 24.77 mW/π heaters,
 * time-multiplexed on 4096 MZIs, batch 1024, 2 µs reprogramming) on MNIST 784 → 64 → 10. */
static void test_energy_mlp_by_hand(void **state) {
    (void)state;
    uh_backend_t *b = load_backend("mzi-realistic");
    uh_arch_t a;
    parse_arch(RELU_MLP(64, 10), MNIST, &a);
    uh_energy_t e;
    energy_of(b, &a, &e);
    /* Layer 1: n_in 784, n_out 64, P = 1, k = 16 → rt = 49 input blocks, ct = 4 output
     * blocks, 196 full 16×16 blocks of 528 shifters (2 · (120 + 120) MZI phases + 16
     * attenuators + 2 · 16 screens), 256 MZIs each (a unit: 4096 / 256 = 16 at once, 13
     * rounds).
     *   dac        = 784 · 4 · 3.6 pJ                  = 11289.6 pJ
     *   modulator  = 784 · 4 · 0.45 pJ                 =  1411.2 pJ
     *   adc        = 64 · 49 · 1.48 pJ                 =  4641.28 pJ
     *   pd_tia     = 64 · 49 · (1.1 + 3) mW / 10 GHz   =  1285.76 pJ
     *   laser      = 196 · laser(16, 16, L = 1.2 + 0.3 · 33 + 2 = 13.1 dB, L_LO = 2 dB)
     *   heater     = 196 · 528 · 12.385 mW · 0.1 ns    = 128171.3 pJ  (held for its 1 pass)
     *   reprogram  = 196 · 528 · 12.385 mW · 2000 ns / 1024 = 2503345 pJ
     *   accumulate = 64 · 48 · 0.1 pJ                  =   307.2 pJ
     *   activation = 64 ReLUs · 0.03 pJ                =     1.92 pJ
     * Layer 2: n_in 64, n_out 10, k = 16 → rt = 4, ct = 1: four 10×16 blocks of
     *   2 · (45 + 120) + 10 + 10 + 16 = 366 shifters, 175 MZIs (all 4 at once, 1 round).
     *   dac 64 · 3.6 = 230.4, modulator 64 · 0.45 = 28.8, adc 10 · 4 · 1.48 = 59.2,
     *   pd_tia 10 · 4 · 0.41 = 16.4, laser 4 · laser(10, 16, 1.2 + 0.3 · 27 + 2 = 11.3, 2),
     *   heater 4 · 366 · 12.385 · 0.1 = 1813.164, reprogram 4 · 366 · 12.385 · 2000 / 1024
     *   = 35413.36, accumulate 10 · 3 · 0.1 = 3. */
    double laser1 = 196 * laser_pj(16, 16, 13.1, 2), laser2 = 4 * laser_pj(10, 16, 11.3, 2);
    double heat1 = 196 * 528 * 12.385 * 0.1, heat2 = 4 * 366 * 12.385 * 0.1;
    double prog1 = 196 * 528 * 12.385 * 2000 / 1024.0, prog2 = 4 * 366 * 12.385 * 2000 / 1024.0;
    const part_t want[] = {
        {0, "dac", 11289.6},     {0, "modulator", 1411.2}, {0, "adc", 4641.28},
        {0, "pd_tia", 1285.76},  {0, "laser", laser1},     {0, "heater", heat1},
        {0, "reprogram", prog1}, {0, "accumulate", 307.2}, {0, "activation", 1.92},
        {1, "dac", 230.4},       {1, "modulator", 28.8},   {1, "adc", 59.2},
        {1, "pd_tia", 16.4},     {1, "laser", laser2},     {1, "heater", heat2},
        {1, "reprogram", prog2}, {1, "accumulate", 3}};
    expect_parts(&e, want, sizeof want / sizeof *want);
    assert_int_equal(e.layers[0].n_parts, 9);
    assert_int_equal(e.layers[1].n_parts, 8); /* no activation on the logits */
    double l1 = 11289.6 + 1411.2 + 4641.28 + 1285.76 + laser1 + heat1 + prog1 + 307.2 + 1.92;
    double l2 = 230.4 + 28.8 + 59.2 + 16.4 + laser2 + heat2 + prog2 + 3;
    assert_rel(e.layers[0].nj, l1 * 1e-3, 1e-9);
    assert_rel(e.layers[1].nj, l2 * 1e-3, 1e-9);
    assert_rel(e.total_nj, (l1 + l2) * 1e-3, 1e-9);
    expect_sums(&e);
    /* The schedule of a batch of 1024: layer 1 in 13 rounds, layer 2 in 1, each round 2 µs
     * of settling then 1024 passes of 0.1 ns: 14 · 2102.4 ns. The busiest layer runs 16
     * units of 16×16 at once: 16 · 256 = 4096 MZIs, 16 · 528 = 8448 powered shifters, area
     * 16 · (256 · 0.018 + 16 · 0.0152 + 16 · 0.01) = 16 · 5.0112 = 80.1792 mm². */
    assert_rel(e.latency_ns, 14 * 2102.4, 1e-12);
    assert_int_equal(e.footprint.tiles, 16);
    assert_int_equal(e.footprint.mzis, 4096);
    assert_int_equal(e.footprint.devices, 8448);
    assert_rel(e.footprint.area_mm2, 80.1792, 1e-12);
    uh_backend_free(b);
}

/* What a mapping of the conv net below gives: the heater energy of its conv and dense layers
 * (pJ), the latency, and the units and MZIs on the chip. */
typedef struct {
    double conv_heater, dense_heater, latency_ns;
    int tiles, mzis;
} mapping_t;

/* a's energy e on the 8-port Reck file with params must be the mapping want; the backend, for
 * more questions (the caller frees it). */
static uh_backend_t *expect_mapping(const char *params, const uh_arch_t *a, mapping_t want,
                                    uh_energy_t *e) {
    uh_backend_t *b = load_backend_text(mzi_file("reck", 8, params));
    energy_of(b, a, e);
    expect_part(e, 0, "heater", want.conv_heater);
    expect_part(e, 2, "heater", want.dense_heater);
    assert_rel(e->latency_ns, want.latency_ns, 1e-12);
    assert_int_equal(e->footprint.tiles, want.tiles);
    assert_int_equal(e->footprint.mzis, want.mzis);
    return b;
}

/* A Reck file (depth 2n − 3) with the link budget, 25 mW/π heaters and coupler loss, on a conv
 * net whose conv layer carries the tile hint 4 and whose dense layer uses the default 8;
 * then the same chip weight-stationary. */
static void test_energy_conv_reck_by_hand(void **state) {
    (void)state;
    char params[1024];
    snprintf(params, sizeof params,
             LINK "," NUM("il_db", "0.5") "," NUM("coupling_loss_db", "3") "," NUM(
                 "heater_p_pi_mw", "25") "," NUM("accumulate_pj",
                                                 "0.1") "," NUM("activation_pj",
                                                                "0.03") "," NUM("pool_pj", "0.05"));
    uh_backend_t *b = load_backend_text(mzi_file("reck", 8, params));
    uh_arch_t a;
    parse_arch(TILED_CNN(6), (uh_shape_t){1, 6, 6, 3}, &a);
    uh_energy_t e;
    energy_of(b, &a, &e);
    /* Reck depth: d(1) = 0, d(2) = 1, d(3) = 3, d(4) = 5, d(8) = 13.
     * conv: im2col 1·3·3 = 9 inputs, 6 outputs, P = 4·4 = 16 passes; k = 4 → rt = 3
     * (columns 4, 4, 1), ct = 2 (rows 4, 2). Blocks mb × nb and their signal-path loss
     * L = 1.2 + 0.5 · (d(nb) + d(mb) + 1) + 3 dB and shifters 2·(MZIs) + min(mb, nb) + mb + nb:
     *   4×4 (two): L = 1.2 + 0.5 · 11 + 3 = 9.7,  shifters 2 · (6 + 6) + 4 + 4 + 4 = 36
     *   4×1:       L = 1.2 + 0.5 · 6 + 3  = 7.2,  shifters 2 · 6 + 1 + 4 + 1         = 18
     *   2×4 (two): L = 1.2 + 0.5 · 7 + 3  = 7.7,  shifters 2 · (1 + 6) + 2 + 2 + 4   = 22
     *   2×1:       L = 1.2 + 0.5 · 2 + 3  = 5.2,  shifters 2 · 1 + 1 + 2 + 1         = 6
     *   dac        = 16 · 9 · 2 · 3.6           = 1036.8 pJ
     *   modulator  = 16 · 9 · 2 · 0.45          =  129.6 pJ
     *   adc        = 16 · 6 · 3 · 1.5           =  432   pJ
     *   pd_tia     = 16 · 6 · 3 · 0.41          =  118.08 pJ
     *   laser      = 16 · Σ blocks laser(mb, nb, L, 3 dB)
     *   heater     = (2 · 36 + 18 + 2 · 22 + 6 = 140) · 12.5 mW · 16 passes · 0.1 ns = 2800 pJ
     *   accumulate = 16 · 6 · 2 · 0.1           =   19.2 pJ
     *   activation = 6 · 4 · 4 ReLUs · 0.03     =    2.88 pJ
     * pool: 6 · 2 · 2 outputs · 4 reads · 0.05  =    4.8 pJ
     * dense: 24 inputs, 3 outputs, k = 8 → rt = 3, ct = 1: three 3×8 blocks, L = 1.2 + 0.5 ·
     *   (13 + 3 + 1) + 3 = 12.7 dB, shifters 2 · (3 + 28) + 3 + 3 + 8 = 76.
     *   dac 24 · 3.6 = 86.4, modulator 24 · 0.45 = 10.8, adc 3 · 3 · 1.5 = 13.5,
     *   pd_tia 3 · 3 · 0.41 = 3.69, accumulate 3 · 2 · 0.1 = 0.6,
     *   heater 228 · 12.5 · 1 pass · 0.1 ns = 285 (time-multiplexed: held for its own pass). */
    double conv_laser = 16 * (2 * laser_pj(4, 4, 9.7, 3) + laser_pj(4, 1, 7.2, 3) +
                              2 * laser_pj(2, 4, 7.7, 3) + laser_pj(2, 1, 5.2, 3));
    double dense_laser = 3 * laser_pj(3, 8, 12.7, 3);
    const part_t want[] = {{0, "dac", 1036.8},      {0, "modulator", 129.6},   {0, "adc", 432},
                           {0, "pd_tia", 118.08},   {0, "laser", conv_laser},  {0, "heater", 2800},
                           {0, "accumulate", 19.2}, {0, "activation", 2.88},   {1, "pool", 4.8},
                           {2, "dac", 86.4},        {2, "modulator", 10.8},    {2, "adc", 13.5},
                           {2, "pd_tia", 3.69},     {2, "laser", dense_laser}, {2, "heater", 285},
                           {2, "accumulate", 0.6}};
    expect_parts(&e, want, sizeof want / sizeof *want);
    assert_int_equal(e.layers[1].n_parts, 1);
    assert_true(layer_nj(&e, 0, "reprogram") == 0); /* no settling time in this file */
    double total = 1036.8 + 129.6 + 432 + 118.08 + conv_laser + 2800 + 19.2 + 2.88 + 4.8 + 86.4 +
                   10.8 + 13.5 + 3.69 + dense_laser + 285 + 0.6;
    assert_rel(e.total_nj, total * 1e-3, 1e-9);
    expect_sums(&e);
    /* batch 1, no settling: latency = 16 passes + 1 pass at 0.1 ns */
    assert_rel(e.latency_ns, 1.7, 1e-12);
    uh_backend_free(b);

    /* Weight-stationary, batch 4: every heater holds for the pipeline's period, the conv
     * layer's 16 passes = 1.6 ns: dense 228 · 12.5 · 1.6 = 4560 pJ (conv unchanged); latency
     * = 1.6 + 0.1 + (4 − 1) · 1.6 = 6.5 ns; every block resident: 6 + 3 blocks, MZIs
     * conv 2 · (6 + 6 + 4) + (6 + 1) + 2 · (1 + 6 + 2) + (1 + 1) = 59, dense 3 · (3 + 28 + 3)
     * = 102, shifters 140 + 228 = 368. */
    char ws[1200];
    snprintf(ws, sizeof ws, "%s,\"mapping\":\"weight-stationary\"," NUM("batch", "4"), params);
    b = expect_mapping(ws, &a, (mapping_t){2800, 4560, 6.5, 9, 161}, &e);
    assert_int_equal(e.footprint.devices, 368);
    uh_backend_free(b);

    /* replicated to fill a 500-MZI chip: period T = 1 needs 16 · 59 + 102 = 1046 MZIs, T = 2
     * 8 · 59 + 102 = 574, T = 3 6 · 59 + 102 = 456 ≤ 500: six conv copies of ⌈16/6⌉ = 3
     * passes. heater: conv 6 · 140 · 12.5 mW · 0.3 ns = 3150 pJ, dense 228 · 12.5 · 0.3 =
     * 855 pJ; latency 0.3 + 0.1 + 3 · 0.3 = 1.3 ns; 6 · 6 + 3 = 39 units, 456 MZIs. */
    snprintf(ws, sizeof ws,
             "%s,\"mapping\":\"weight-stationary\",\"replicate\":\"fill\"," NUM(
                 "batch", "4") "," NUM("chip_mzis", "500"),
             params);
    b = expect_mapping(ws, &a, (mapping_t){3150, 855, 1.3, 39, 456}, &e);
    uh_violations_t v;
    assert_int_equal(uh_backend_check(b, &a, &v), 0);
    uh_backend_free(b);

    /* The same network on a Clements file: only laser (depth n) changes; here d(4) = 4,
     * d(8) = 8, so the dense blocks see L = 1.2 + 0.5 · (8 + 3 + 1) + 3 = 10.2 dB. */
    b = load_backend_text(mzi_file("clements", 8, params));
    energy_of(b, &a, &e);
    expect_part(&e, 2, "laser", 3 * laser_pj(3, 8, 10.2, 3));
    expect_part(&e, 0, "laser",
                16 * (2 * laser_pj(4, 4, 8.7, 3) + laser_pj(4, 1, 6.7, 3) +
                      2 * laser_pj(2, 4, 7.2, 3) + laser_pj(2, 1, 5.2, 3)));
    uh_backend_free(b);
}

/* A time-multiplexed chip runs as many units as fit at once and reprograms between rounds;
 * a weight-stationary one must hold everything. 64 → 64 on tile 16: 16 blocks of 256 MZIs. */
static void test_chip_budget(void **state) {
    (void)state;
    const char *json = "{\"layers\":[{\"type\":\"dense\",\"units\":64}]}";
    uh_arch_t a;
    parse_arch(json, (uh_shape_t){1, 8, 8, 64}, &a);
    uh_energy_t e;
    uh_violations_t v;
    /* 1024 MZIs: 4 units at once, 4 rounds of (1 µs + 8 passes · 0.1 ns) = 4003.2 ns */
    uh_backend_t *b = load_backend_text(
        mzi_file("clements", 16,
                 NUM("chip_mzis", "1024") "," NUM("batch", "8") "," NUM("reprogram_us", "1")));
    energy_of(b, &a, &e);
    assert_rel(e.latency_ns, 4 * (1000 + 8 * 0.1), 1e-12);
    assert_int_equal(e.footprint.tiles, 4);
    assert_int_equal(e.footprint.mzis, 1024);
    assert_int_equal(uh_backend_check(b, &a, &v), 0);
    /* a 32-port tile needs 2 · 496 + 32 = 1024 MZIs: fits exactly; 64 ports do not */
    parse_arch("{\"layers\":[{\"type\":\"dense\",\"units\":64,\"tile\":64}]}",
               (uh_shape_t){1, 8, 8, 64}, &a);
    assert_int_equal(uh_backend_check(b, &a, &v), 1);
    assert_int_equal(v.items[0].layer, 1);
    assert_non_null(strstr(v.items[0].msg, "4096 MZIs"));
    assert_non_null(strstr(v.items[0].msg, "chip_mzis"));
    uh_backend_free(b);
    /* weight-stationary on a chip that holds it, batch 1: all 16 units resident, 16 · 256 =
     * 4096 MZIs, 16 · 528 = 8448 shifters held for the period of 1 pass: 8448 · 1.8 mW ·
     * 0.1 ns = 1520.64 pJ; latency 0.1 ns; area 16 · (256 · 0.018 + 16 · 0.0152 + 16 · 0.01)
     * = 80.1792 mm² */
    b = load_backend_text(
        mzi_file("clements", 16,
                 "\"mapping\":\"weight-stationary\"," NUM("mzi_area_mm2", "0.018") "," NUM(
                     "input_area_mm2", "0.0152") "," NUM("output_area_mm2", "0.01")));
    parse_arch(json, (uh_shape_t){1, 8, 8, 64}, &a);
    energy_of(b, &a, &e);
    expect_part(&e, 0, "heater", 1520.64);
    assert_true(layer_nj(&e, 0, "reprogram") == 0);
    assert_rel(e.latency_ns, 0.1, 1e-12);
    assert_int_equal(e.footprint.tiles, 16);
    assert_int_equal(e.footprint.mzis, 4096);
    assert_int_equal(e.footprint.devices, 8448);
    assert_rel(e.footprint.area_mm2, 80.1792, 1e-12);
    assert_int_equal(uh_backend_check(b, &a, &v), 0);
    uh_backend_free(b);

    /* weight-stationary on the same chip: 16 blocks · 256 = 4096 MZIs > 1024 */
    b = load_backend_text(
        mzi_file("clements", 16, NUM("chip_mzis", "1024") ",\"mapping\":\"weight-stationary\""));
    parse_arch(json, (uh_shape_t){1, 8, 8, 64}, &a);
    assert_int_equal(uh_backend_check(b, &a, &v), 1);
    assert_int_equal(v.items[0].layer, 0);
    assert_non_null(strstr(v.items[0].msg, "4096 MZIs"));
    assert_non_null(strstr(v.items[0].msg, "1024"));
    uh_backend_free(b);
}

/* Optical I/O: inputs fanned out optically, partial sums added in analog: the converters of
 * 784 → 64 on tile 16 lose their ct = 4 and rt = 49 multipliers; the laser is unchanged. */
static void test_io_layout_by_hand(void **state) {
    (void)state;
    uh_arch_t a;
    parse_arch(RELU_MLP(64, 10), MNIST, &a);
    uh_backend_t *el =
        load_backend_text(mzi_file("clements", 16, LINK "," NUM("accumulate_pj", "0.1")));
    uh_backend_t *op = load_backend_text(mzi_file(
        "clements", 16, LINK "," NUM("accumulate_pj", "0.1") ",\"io_layout\":\"optical\""));
    uh_energy_t ee, eo;
    energy_of(el, &a, &ee);
    energy_of(op, &a, &eo);
    /* dac 784 · 3.6 = 2822.4 pJ, modulator 784 · 0.45 = 352.8, adc 64 · 1.5 = 96, pd_tia
     * 64 · (49 · 1.1 + 3) mW / 10 GHz = 364.16 pJ, no accumulate */
    const part_t want[] = {
        {0, "dac", 2822.4}, {0, "modulator", 352.8}, {0, "adc", 96}, {0, "pd_tia", 364.16}};
    expect_parts(&eo, want, 4);
    assert_true(layer_nj(&eo, 0, "accumulate") == 0);
    assert_rel(layer_nj(&eo, 0, "laser"), layer_nj(&ee, 0, "laser"), 1e-12);
    uh_backend_free(el);
    uh_backend_free(op);
    /* with lossy meshes (1 dB per MZI) the converters no longer reward big tiles: the best
     * tile of 256 → 256 under optical I/O is smaller than under electronic I/O */
    int best[2] = {0, 0};
    for (int layout = 0; layout < 2; layout++) {
        char params[512];
        snprintf(params, sizeof params, "%s,\"io_layout\":\"%s\"",
                 LINK "," NUM("il_db", "1") "," NUM("coupling_loss_db", "2"),
                 layout ? "optical" : "electronic");
        uh_backend_t *b = load_backend_text(mzi_file("clements", 8, params));
        double lowest = INFINITY;
        for (int k = 2; k <= 32; k *= 2) {
            parse_dense(256, k, 0, (uh_shape_t){1, 16, 16, 256}, &a);
            uh_energy_t e;
            energy_of(b, &a, &e);
            print_message("%s k %d: %.4g nJ\n", layout ? "optical" : "electronic", k, e.total_nj);
            if (e.total_nj < lowest) lowest = e.total_nj, best[layout] = k;
        }
        uh_backend_free(b);
    }
    assert_true(best[1] < best[0]); /* measured: 2 vs 8 */
}

/* Precision is a hardware gene: a layer's bits set its converters' energy (Walden: ∝ 2^bits),
 * its laser (the link budget at those bits) and its simulated ADC rounding. */
static void test_bits_set_converters(void **state) {
    (void)state;
    uh_backend_t *b = load_backend_text(mzi_file("clements", 16, LINK));
    uh_arch_t a8, a4;
    parse_arch(RELU_MLP(64, 10), MNIST, &a8);
    parse_arch("{\"layers\":[{\"type\":\"dense\",\"units\":64,\"activation\":\"relu\",\"bits\":4},"
               "{\"type\":\"dense\",\"units\":10}]}",
               MNIST, &a4);
    uh_energy_t e8, e4;
    energy_of(b, &a8, &e8);
    energy_of(b, &a4, &e4);
    /* layer 1 at 4 bits: dac 784 · 4 · 3.6 / 16 = 705.6 pJ (was 11289.6), adc 64 · 49 · 1.5 /
     * 16 = 294 pJ (was 4704); modulator, pd_tia unchanged; layer 2 untouched */
    expect_part(&e4, 0, "dac", 705.6);
    expect_part(&e4, 0, "adc", 294);
    expect_part(&e8, 0, "dac", 11289.6);
    assert_rel(layer_nj(&e4, 0, "modulator"), layer_nj(&e8, 0, "modulator"), 1e-12);
    assert_rel(layer_nj(&e4, 0, "pd_tia"), layer_nj(&e8, 0, "pd_tia"), 1e-12);
    assert_rel(e4.layers[1].nj, e8.layers[1].nj, 1e-12);
    assert_true(layer_nj(&e4, 0, "laser") < layer_nj(&e8, 0, "laser") / 10);
    uh_backend_free(b);

    /* the simulated readout follows, through the EVAL hook's output conversion of one dense
     * layer (144 inputs on tile 5: 29 conversions summed per output) on z ~ N(0, 1): each
     * conversion rounds to 2^(b−1) − 1 levels of its block's full scale FS/√29 and adds the
     * receiver noise σ = r / levels of it, so the summed error has variance
     * 29 · (FS/√29)² · (1/12 + r²) / levels² = FS² · (1/12 + r²) / levels². */
    const int bits[] = {8, 6, 4};
    const double lsb[] = {0, 0.5};
    for (int n = 0; n < 2; n++) {
        char params[256];
        snprintf(params, sizeof params, NUM("adc_bits", "8") "," NUM("receiver_noise_lsb", "%g"),
                 lsb[n]);
        b = load_backend_text(mzi_file("clements", 5, params));
        double prev = 0;
        for (int i = 0; i < 3; i++) {
            uh_arch_t a;
            parse_dense(20, 5, bits[i], (uh_shape_t){1, 12, 12, 20}, &a);
            uh_backend_sim_t *sim = new_sim(b, &a, UH_SIM_EVAL);
            double fs, rms = output_error_rms(uh_backend_sim_hook(sim), 7, 1, &fs);
            double levels = (1 << (bits[i] - 1)) - 1;
            double want = fs * sqrt(1.0 / 12 + lsb[n] * lsb[n]) / levels;
            print_message("%d bits, noise %.1f LSB: error rms %.4e, analytic %.4e\n", bits[i],
                          lsb[n], rms, want);
            assert_rel(rms, want, 0.05);
            assert_true(rms > prev);
            prev = rms;
            uh_backend_sim_free(sim);
        }
        uh_backend_free(b);
    }
}

/* Laser energy grows exponentially with the tile: a 64 → 64 layer on k×k tiles has
 * (64/k)² blocks of k inputs each at L = IL·(2k + 1) + c (shot-noise-limited receivers, no
 * TIA noise: no LO term), so laser · k = const · 10^(2·IL·k/10): ln(laser · k) is linear in
 * k with slope 2·IL·ln10/10. */
static void test_laser_grows_exponentially(void **state) {
    (void)state;
    uh_backend_t *b = load_backend_text(
        mzi_file("clements", 8,
                 NUM("adc_bits", "8") "," NUM("receiver_noise_lsb", "0.5") "," NUM(
                     "il_db", "1") "," NUM("coupling_loss_db", "4")));
    const int tiles[] = {4, 8, 16, 32, 64};
    double lnk[5], dac[5];
    for (int i = 0; i < 5; i++) {
        uh_arch_t a;
        parse_dense(64, tiles[i], 0, (uh_shape_t){1, 8, 8, 64}, &a);
        uh_energy_t e;
        energy_of(b, &a, &e);
        lnk[i] = log(part(&e, "laser") * tiles[i]);
        dac[i] = part(&e, "dac");
    }
    const double slope = 2 * 1.0 * log(10) / 10;
    for (int i = 1; i < 5; i++) {
        assert_rel((lnk[i] - lnk[i - 1]) / (tiles[i] - tiles[i - 1]), slope, 1e-9);
        assert_true(dac[i] < dac[i - 1]); /* bigger tiles re-encode inputs fewer times */
    }
    /* 64 ports at 1 dB/MZI: 129 dB of path loss; the laser alone is ~10^12 times the 8-port
     * case's */
    assert_true(exp(lnk[4] - lnk[1]) > 1e11);
    uh_backend_free(b);
}

/* ---- simulation helpers ------------------------------------------------------------- */

/* RMS of x − y over max |y| */
static double rms_rel_diff(const float *x, const float *y, size_t n) {
    double scale = 0, sq = 0;
    for (size_t i = 0; i < n; i++) {
        scale = fmax(scale, fabs(y[i]));
        sq += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
    }
    return sqrt(sq / n) / scale;
}

#define NET_BATCH 64
static const char *const MLP = "{\"layers\":[{\"type\":\"dense\",\"units\":20,\"activation\":"
                               "\"relu\",\"tile\":5},{\"type\":\"dense\",\"units\":4}]}";
/* conv im2col width 9 on tile 5 (blocks 5×5, 5×4, 1×5, 1×4), pool, dense 6·5·5 = 150 → 4
 * on tile 7 */
static const char *const CNN =
    "{\"layers\":[{\"type\":\"conv2d\",\"filters\":6,\"kernel\":3,\"activation\":\"tanh\","
    "\"tile\":5},{\"type\":\"pool\",\"kind\":\"max\",\"size\":2},{\"type\":\"dense\","
    "\"units\":4,\"tile\":7}]}";

/* Logits of net on the first NET_BATCH images: digital (sim NULL) or one hardware sample
 * of the backend's EVAL physics (stream `seed`). */
static void logits(uh_net_t *net, const uh_backend_t *b, const uh_dataset_t *ds, uint64_t seed,
                   float *out) {
    uh_backend_sim_t *sim = NULL;
    if (b) {
        sim = new_sim(b, uh_net_arch(net), UH_SIM_EVAL);
        assert_non_null(uh_backend_sim_hook(sim));
        uh_net_set_noise(net, uh_backend_sim_hook(sim), seed);
    }
    const float *z = uh_net_forward(net, ds->x, NET_BATCH);
    assert_non_null(z);
    memcpy(out, z, NET_BATCH * 4 * sizeof *out);
    uh_net_set_noise(net, NULL, 0);
    uh_backend_sim_free(sim);
}

/* NET_BATCH tiny images, drawn from seed. */
static uh_dataset_t *tiny_batch(uint64_t seed) {
    uh_dataset_t *ds;
    uh_error_t err = {0};
    assert_int_equal(uh_dataset_tiny(NET_BATCH, seed, &ds, &err), UH_OK);
    return ds;
}

/* An untrained net of json on the tiny images, its weights drawn from seed. */
static uh_net_t *random_net(const char *json, uint64_t seed) {
    uh_arch_t a;
    parse_arch(json, TINY, &a);
    uh_error_t err = {0};
    uh_net_t *net = uh_net_new(&a, NET_BATCH, seed, &err);
    assert_non_null(net);
    return net;
}

/* ---- the noiseless limit ------------------------------------------------------------ */

/* No phase DAC, no noise, no loss, an ideal ADC: SVD, both meshes, the attenuators and the
 * coherent detection rebuild every block exactly, so the logits are the digital ones. Then
 * a 30-bit phase DAC alone (steps of 6e-9 rad) stays within 1e-5. */
static void test_noiseless_gives_digital_logits(void **state) {
    (void)state;
    uh_dataset_t *ds = tiny_batch(5);
    const char *meshes[] = {"clements", "reck"};
    const char *archs[] = {MLP, CNN};
    for (int m = 0; m < 2; m++) {
        uh_backend_t *ideal = load_backend_text(mzi_file(meshes[m], 5, ""));
        /* lossy but balanced: uniform loss is a scale the electronics undo */
        uh_backend_t *lossy = load_backend_text(
            mzi_file(meshes[m], 5, NUM("il_db", "0.8") ",\"loss_balance\":\"dummies\""));
        uh_backend_t *fine = load_backend_text(mzi_file(meshes[m], 5, NUM("phase_bits", "30")));
        const uh_backend_t *chips[] = {ideal, lossy, fine};
        const char *what[] = {": noiseless", ", balanced 0.8 dB loss", ", 30-bit phases"};
        const double tolerance[] = {1e-6, 1e-6, 1e-5};
        for (int k = 0; k < 2; k++) {
            uh_net_t *net = random_net(archs[k], 3);
            float clean[NET_BATCH * 4], hw[NET_BATCH * 4];
            logits(net, NULL, ds, 0, clean);
            print_message("%s %s", meshes[m], k ? "cnn" : "mlp");
            for (int c = 0; c < 3; c++) {
                logits(net, chips[c], ds, 11, hw);
                double d = max_rel_diff(hw, clean, NET_BATCH * 4);
                print_message("%s %.2e%s", what[c], d, c == 2 ? "\n" : "");
                assert_true(d <= tolerance[c]);
            }
            uh_net_free(net);
        }
        uh_backend_free(ideal);
        uh_backend_free(lossy);
        uh_backend_free(fine);
    }
    uh_dataset_free(ds);
}

/* ---- each non-ideality alone -------------------------------------------------------- */

/* What the physics tests measure on: a random CNN, its images, and its digital logits. */
typedef struct {
    uh_dataset_t *ds;
    uh_net_t *net;
    float clean[NET_BATCH * 4];
} probe_t;

static void probe_init(probe_t *p) {
    p->ds = tiny_batch(9);
    p->net = random_net(CNN, 4);
    logits(p->net, NULL, p->ds, 0, p->clean);
}

static void probe_free(probe_t *p) {
    uh_net_free(p->net);
    uh_dataset_free(p->ds);
}

/* Mean relative RMS logit error of the probe (tile 5) over 3 hardware samples, with `params`
 * as the only non-ideality. */
static double logit_error(probe_t *p, const char *mesh, const char *params) {
    uh_backend_t *b = load_backend_text(mzi_file(mesh, 5, params));
    double sum = 0;
    for (int s = 0; s < 3; s++) {
        float hw[NET_BATCH * 4];
        logits(p->net, b, p->ds, 100 + (uint64_t)s, hw);
        sum += rms_rel_diff(hw, p->clean, NET_BATCH * 4);
    }
    uh_backend_free(b);
    return sum / 3;
}

/* Each effect alone, at rising strength: the logit error rises strictly (a numerical
 * measure that does not need a trained net); at strength 0 it is ~0. */
static void test_each_effect_degrades_monotonically(void **state) {
    (void)state;
    probe_t p;
    probe_init(&p);
    static const struct {
        const char *key, *mesh, *extra;
        const char *values[4];
    } effects[] = {
        {"sigma_phase_rad", "clements", "", {"0", "0.02", "0.1", "0.3"}},
        {"sigma_bs_rad", "clements", "", {"0", "0.02", "0.1", "0.3"}},
        {"crosstalk", "clements", "", {"0", "0.01", "0.05", "0.2"}},
        /* calibration from a wrong crosstalk model: 0 = perfect compensation, 1 = none */
        {"crosstalk_model_error",
         "clements",
         "," NUM("crosstalk", "0.05") ",\"crosstalk_compensation\":\"measured\"",
         {"0", "0.1", "0.3", "1"}},
        /* receiver noise in LSBs of a 16-bit readout (whose rounding alone is ~1e-5) */
        {"receiver_noise_lsb", "clements", "," NUM("adc_bits", "16"), {"0", "50", "200", "800"}},
        {"sigma_il_db", "clements", "", {"0", "0.1", "0.5", "2"}},
        /* unbalanced loss: paths through fewer MZIs are brighter (Reck is the worst case) */
        {"il_db", "reck", ",\"loss_balance\":\"none\"", {"0", "0.1", "0.5", "2"}},
        /* a coarser phase DAC: 0 = exact, then 10, 6, 4 bits */
        {"phase_bits", "clements", "", {"0", "10", "6", "4"}},
        {"adc_bits", "clements", "", {"0", "10", "6", "4"}},
    };
    for (size_t i = 0; i < sizeof effects / sizeof effects[0]; i++) {
        double e[4];
        print_message("%-16s", effects[i].key);
        for (int v = 0; v < 4; v++) {
            char params[256];
            snprintf(params, sizeof params, "\"%s\":{\"value\":%s,\"source\":\"assumed: test\"}%s",
                     effects[i].key, effects[i].values[v], effects[i].extra);
            e[v] = logit_error(&p, effects[i].mesh, params);
            print_message(" %s: %.2e", effects[i].values[v], e[v]);
        }
        print_message("\n");
        assert_true(e[0] <= (strcmp(effects[i].key, "receiver_noise_lsb") ? 1e-6 : 1e-4));
        for (int v = 1; v < 4; v++) assert_true(e[v] > e[v - 1]);
        assert_true(e[3] > 1e-3);
    }
    probe_free(&p);
}

/* A file whose error is the couplers' (σ_bs = 0.05, a 0.002 rad phase error beside them):
 * coupler_correction "measured" lowers the logit error, the more the better the model
 * (coupler_model_error 0 < 0.3 < 1), and a model error of 1 is the uncorrected file exactly. */
static void test_coupler_correction_lowers_error(void **state) {
    (void)state;
    probe_t p;
    probe_init(&p);
#define COUPLERS NUM("sigma_bs_rad", "0.05") "," NUM("sigma_phase_rad", "0.002")
    double none = logit_error(&p, "clements", COUPLERS);
    double fixed[3];
    const char *errors[] = {"0", "0.3", "1"};
    for (int i = 0; i < 3; i++) {
        char params[512];
        snprintf(params, sizeof params,
                 COUPLERS ",\"coupler_correction\":\"measured\","
                          "\"coupler_model_error\":{\"value\":%s,\"source\":\"assumed: "
                          "test\"}",
                 errors[i]);
        fixed[i] = logit_error(&p, "clements", params);
    }
#undef COUPLERS
    print_message("sigma_bs 0.05: logit error uncorrected %.3e; corrected, model error 0: %.3e, "
                  "0.3: %.3e, 1: %.3e\n",
                  none, fixed[0], fixed[1], fixed[2]);
    assert_true(fixed[0] < 0.5 * none);
    assert_true(fixed[0] < fixed[1] && fixed[1] < fixed[2]);
    assert_true(fixed[2] == none);
    probe_free(&p);
}

/* 2000 tiny images from seed: a test set large enough that a few borderline ones cannot
 * decide. */
static uh_dataset_t *test_images(uint64_t seed) {
    uh_dataset_t *test;
    uh_error_t err = {0};
    assert_int_equal(uh_dataset_tiny(2000, seed, &test, &err), UH_OK);
    return test;
}

/* ---- accuracy on a trained net ------------------------------------------------------- */

/* Trains json on the tiny set through `noise` (NULL: plain): the net and the shuffling from
 * `seed`, the noise from `noise_seed`; threads 0 = the defaults. */
static uh_net_t *train_tiny_seeded(const char *json, const uh_noise_t *noise, uint64_t seed,
                                   uint64_t noise_seed, int threads, int epochs) {
    uh_dataset_t *train, *test;
    uh_error_t err = {0};
    load_tiny(&train, &test);
    uh_arch_t a;
    parse_arch(json, TINY, &a);
    uh_net_t *net = uh_net_new(&a, 128, seed, &err);
    assert_non_null(net);
    uh_train_opts_t opts;
    uh_train_opts_default(&opts);
    opts.batch = 32, opts.epochs = epochs, opts.lr = 0.1f, opts.threads = threads;
    opts.seed = seed;
    uh_net_set_noise(net, noise, noise_seed);
    uh_train_result_t res;
    assert_int_equal(uh_net_train(net, train, &opts, NULL, NULL, &res, &err), UH_OK);
    uh_net_set_noise(net, NULL, 0);
    uh_dataset_free(train);
    uh_dataset_free(test);
    return net;
}

/* The Clements file of tile 16 with a phase error of sigma rad alone. */
static uh_backend_t *load_phase_error(const char *sigma) {
    char params[128];
    snprintf(params, sizeof params, "\"sigma_phase_rad\":{\"value\":%s,\"source\":\"t: t\"}",
             sigma);
    return load_backend_text(mzi_file("clements", 16, params));
}

static uh_net_t *train_tiny(const char *json, const uh_noise_t *noise) {
    return train_tiny_seeded(json, noise, 1, 5, 0, 10);
}

static const char *const TRAINED =
    "{\"layers\":[{\"type\":\"dense\",\"units\":32,\"activation\":\"relu\",\"tile\":16},"
    "{\"type\":\"dense\",\"units\":4,\"tile\":16}]}";

/* On a trained MLP: clean ≥ realistic ≥ worst (Monte-Carlo means, with a tolerance), accuracy
 * falls as the phase error rises, and a seed replays its samples exactly. */
static void test_accuracy_realistic_worst_clean(void **state) {
    (void)state;
    uh_dataset_t *test = test_images(77);
    uh_net_t *net = train_tiny(TRAINED, NULL);
    uh_backend_t *real = load_backend("mzi-realistic"), *worst = load_backend("mzi-worst");
    uh_mc_result_t r = evaluate(real, net, test, 4, 99), w = evaluate(worst, net, test, 4, 99);
    print_message("clean %.4f, realistic %.4f ± %.4f, worst %.4f ± %.4f\n", r.clean_accuracy,
                  r.noisy_accuracy, r.noisy_std, w.noisy_accuracy, w.noisy_std);
    assert_true(r.clean_accuracy > 0.9);
    assert_true(r.noisy_accuracy <= r.clean_accuracy + 0.003);
    assert_true(w.noisy_accuracy <= r.noisy_accuracy + 0.003);
    assert_true(r.noisy_accuracy > r.clean_accuracy - 0.05); /* realistic: a small loss */
    assert_int_equal(r.samples, 4);

    /* phase error alone on the trained net */
    const char *sigmas[] = {"0", "0.02", "0.1", "0.3"};
    double acc[4];
    for (int i = 0; i < 4; i++) {
        uh_backend_t *b = load_phase_error(sigmas[i]);
        uh_mc_result_t m = evaluate(b, net, test, 4, 7);
        acc[i] = m.noisy_accuracy;
        print_message("sigma_phase %s: %.4f ± %.4f\n", sigmas[i], m.noisy_accuracy, m.noisy_std);
        uh_backend_free(b);
    }
    assert_close(acc[0], r.clean_accuracy, 1e-12); /* noiseless = clean, exactly */
    for (int i = 1; i < 4; i++) assert_true(acc[i] <= acc[i - 1] + 0.003);
    assert_true(acc[3] < acc[0] - 0.1);

    /* "worst" is the worst residual after calibration: the same chip uncalibrated (its
     * crosstalk acting in full) is no better */
    const char *wt = uh_backend_text(worst);
    const char *on = strstr(wt, "\"crosstalk_compensation\": \"measured\"");
    assert_non_null(on);
    char *raw = malloc(strlen(wt) + 8);
    assert_non_null(raw);
    snprintf(raw, strlen(wt) + 8, "%.*s\"crosstalk_compensation\": \"none\"%s", (int)(on - wt), wt,
             on + strlen("\"crosstalk_compensation\": \"measured\""));
    uh_backend_t *raw_chip = load_backend_text(raw);
    uh_mc_result_t u = evaluate(raw_chip, net, test, 4, 99);
    print_message("worst calibrated %.4f, uncalibrated %.4f ± %.4f\n", w.noisy_accuracy,
                  u.noisy_accuracy, u.noisy_std);
    assert_true(w.noisy_accuracy >= u.noisy_accuracy - 0.003);
    uh_backend_free(raw_chip);
    free(raw);

    /* the same seed replays the same samples; another seed draws others */
    assert_mc_seeded(worst, net, test, 3);
    uh_backend_free(real);
    uh_backend_free(worst);
    uh_net_free(net);
    uh_dataset_free(test);
}

/* One hardware sample's logits are a function of the seed alone (also across the cache:
 * a second sim that decomposes afresh gives the same numbers); other seeds differ. */
static void test_seeded_samples(void **state) {
    (void)state;
    uh_dataset_t *ds = tiny_batch(3);
    uh_net_t *net = random_net(MLP, 8);
    uh_backend_t *b = load_backend("mzi-worst");
    float x1[NET_BATCH * 4], x2[NET_BATCH * 4], x3[NET_BATCH * 4];
    logits(net, b, ds, 21, x1);
    logits(net, b, ds, 21, x2);
    logits(net, b, ds, 22, x3);
    assert_memory_equal(x1, x2, sizeof x1);
    assert_true(max_rel_diff(x1, x3, NET_BATCH * 4) > 1e-4);
    uh_backend_free(b);
    uh_net_free(net);
    uh_dataset_free(ds);
}

/* ---- noise-aware training ------------------------------------------------------------ */

/* The train hook's weight noise, measured: RMS of (w_train − w) ÷ RMS(w) on a 256×256
 * matrix is the calibrated σ_rel (the MZI model scales it by RMS(W): a block's error follows
 * its largest singular value, not a large layer's max |w|); 0 when perturb_weights is absent. */
static double train_sigma(const uh_backend_t *b, int tile) {
    uh_arch_t a;
    parse_dense(256, tile, 0, (uh_shape_t){1, 16, 16, 256}, &a);
    enum { N = 256 * 256 };
    float *w0 = malloc(N * sizeof *w0);
    assert_non_null(w0);
    double ms = 0;
    for (int i = 0; i < N; i++) {
        w0[i] = i == 0 ? 2.0f : (i % 3 ? 0.5f : -1.0f);
        ms += (double)w0[i] * w0[i] / N;
    }
    double sigma = train_weight_rms(b, &a, w0, 256, 256) / sqrt(ms);
    free(w0);
    return sigma;
}

static void test_train_sigma_calibrated(void **state) {
    (void)state;
    /* noiseless: no weight noise, and no hook at all (no ADC, no detector noise) */
    uh_backend_t *b = load_backend_text(mzi_file("clements", 16, ""));
    uh_arch_t a;
    parse_arch(MLP, TINY, &a);
    uh_backend_sim_t *sim;
    sim = new_sim(b, &a, UH_SIM_TRAIN);
    assert_null(uh_backend_sim_hook(sim));
    uh_backend_sim_free(sim);
    assert_close(train_sigma(b, 16), 0, 0);
    uh_backend_free(b);

    /* σ_rel grows with σ_phase; for small errors it is linear in σ_phase */
    const char *sigmas[] = {"0.005", "0.01", "0.05", "0.2"};
    double s[4];
    for (int i = 0; i < 4; i++) {
        b = load_phase_error(sigmas[i]);
        s[i] = train_sigma(b, 16);
        print_message("sigma_phase %s: train sigma %.5f\n", sigmas[i], s[i]);
        if (i) assert_true(s[i] > s[i - 1]);
        uh_backend_free(b);
    }
    assert_rel(s[1] / s[0], 2.0, 0.1);
    assert_true(s[0] > 0);

    /* the shipped files; bigger tiles (longer paths, more shifters) are noisier */
    uh_backend_t *real = load_backend("mzi-realistic"), *worst = load_backend("mzi-worst");
    double r8 = train_sigma(real, 8), r16 = train_sigma(real, 16), r32 = train_sigma(real, 32);
    double w8 = train_sigma(worst, 8), w16 = train_sigma(worst, 16);
    print_message("train sigma: realistic %.4f (8) %.4f (16) %.4f (32); worst %.4f (8) "
                  "%.4f (16)\n",
                  r8, r16, r32, w8, w16);
    assert_true(r8 > 0 && r8 < r16 && r16 < r32);
    assert_true(w8 > r8 && w16 > r16);
    assert_true(w8 < 0.5);
    uh_backend_free(real);
    uh_backend_free(worst);
}

/* Noise-aware training through the worst-case TRAIN hook still learns, and its net keeps
 * more accuracy on the worst-case hardware than a net trained clean (or at least as much). */
static void test_noise_aware_training(void **state) {
    (void)state;
    uh_dataset_t *test = test_images(78);
    uh_backend_t *worst = load_backend("mzi-worst");
    uh_arch_t a;
    parse_arch(TRAINED, TINY, &a);
    uh_backend_sim_t *sim;
    const uh_noise_t *hook = train_hook(worst, &a, &sim);
    uh_net_t *aware = train_tiny(TRAINED, hook);
    uh_mc_result_t r = evaluate(worst, aware, test, 4, 5);
    print_message("noise-aware on mzi-worst: clean %.4f noisy %.4f\n", r.clean_accuracy,
                  r.noisy_accuracy);
    assert_true(r.clean_accuracy > 0.85);
    assert_true(r.noisy_accuracy > 0.8);
    uh_net_t *plain = train_tiny(TRAINED, NULL);
    uh_mc_result_t p = evaluate(worst, plain, test, 4, 5);
    print_message("trained clean, on mzi-worst: clean %.4f noisy %.4f\n", p.clean_accuracy,
                  p.noisy_accuracy);
    assert_true(r.noisy_accuracy >= p.noisy_accuracy - 0.005);
    uh_net_free(plain);
    uh_backend_sim_free(sim);
    uh_net_free(aware);
    uh_backend_free(worst);
    uh_dataset_free(test);
}

/* ---- noise-aware training through sampled hardware ---------------------------------- */

/* text with extra params inserted at the start of its "params" object (the shipped files
 * write `"params": {`, mzi_file `"params":{`); the caller frees it. */
static char *with_params(const char *text, const char *extra) {
    const char *at = strstr(text, "\"params\": {");
    size_t skip = strlen("\"params\": {");
    if (!at) {
        at = strstr(text, "\"params\":{");
        skip = strlen("\"params\":{");
    }
    assert_non_null(at);
    size_t n = strlen(text) + strlen(extra) + 4;
    char *out = malloc(n);
    assert_non_null(out);
    snprintf(out, n, "%.*s%s,%s", (int)(at - text) + (int)skip, text, extra, at + skip);
    return out;
}

static uh_backend_t *load_with(const char *text, const char *extra) {
    char *t = with_params(text, extra);
    uh_backend_t *b = load_backend_text(t);
    free(t);
    return b;
}

/* A sim of `mode` on a one-layer dense arch (rows outputs, cols inputs, tile k). */
static uh_backend_sim_t *one_layer_sim(const uh_backend_t *b, int rows, int cols, int k,
                                       uh_sim_mode_t mode, const uh_noise_t **hook) {
    uh_arch_t a;
    parse_dense(rows, k, 0, (uh_shape_t){1, 1, cols, rows}, &a);
    uh_backend_sim_t *sim = new_sim(b, &a, mode);
    *hook = uh_backend_sim_hook(sim);
    assert_non_null(*hook);
    assert_non_null((*hook)->perturb_weights);
    return sim;
}

static void seeded_matrix(float *w, size_t n, uint64_t seed) {
    uh_rng_t r = rng_seeded(seed);
    for (size_t i = 0; i < n; i++) w[i] = (float)uh_rng_normal(&r);
}

/* Calls the hook on a copy of w into out, with stream (7, call). */
static void perturb(const uh_noise_t *hook, const float *w, float *out, int rows, int cols,
                    uint64_t call) {
    memcpy(out, w, (size_t)rows * cols * sizeof *out);
    uh_rng_t r;
    uh_rng_seed_stream(&r, 7, call);
    hook->perturb_weights(hook->ctx, 0, out, rows, cols, &r);
}

/* "sampled" adds the EVAL physics' own error. With a deterministic non-ideality alone (a 4-bit
 * phase DAC) the first call's weights are the EVAL hook's; until the next mapping (every N = 3
 * calls) new weights get the error of the mapped ones, then are mapped afresh. With random
 * errors the calls between mappings draw among exactly K = 3 chips. */
static void test_sampled_is_the_eval_physics(void **state) {
    (void)state;
    enum { R = 12, C = 16, N = R * C };
    const char *extra = "\"train_noise\":\"sampled\"," NUM("train_chips", "3") "," NUM(
        "train_redecompose_steps", "3");
    uh_backend_t *b = load_with(mzi_file("clements", 5, NUM("phase_bits", "4")), extra);
    float w1[N], w2[N], q1[N], q2[N], got[N], want[N];
    seeded_matrix(w1, N, 1);
    for (int i = 0; i < N; i++) w2[i] = w1[i] + 0.1f * sinf((float)i);
    const uh_noise_t *eval, *train;
    uh_backend_sim_t *es = one_layer_sim(b, R, C, 5, UH_SIM_EVAL, &eval);
    perturb(eval, w1, q1, R, C, 0);
    perturb(eval, w2, q2, R, C, 0);
    assert_true(max_rel_diff(q1, w1, N) > 1e-3); /* the DAC's error is visible */
    uh_backend_sim_t *ts = one_layer_sim(b, R, C, 5, UH_SIM_TRAIN, &train);
    perturb(train, w1, got, R, C, 0); /* call 0: maps w1 */
    assert_true(max_rel_diff(got, q1, N) < 1e-6);
    for (uint64_t call = 1; call < 3; call++) { /* calls 1, 2: w2 + (Q(w1) − w1) */
        perturb(train, w2, got, R, C, call);
        for (int i = 0; i < N; i++) want[i] = w2[i] + (q1[i] - w1[i]);
        assert_true(max_rel_diff(got, want, N) < 1e-6);
    }
    perturb(train, w2, got, R, C, 3); /* call 3: maps w2 */
    assert_true(max_rel_diff(got, q2, N) < 1e-6);
    uh_backend_sim_free(ts);
    uh_backend_sim_free(es);
    uh_backend_free(b);

    /* random phase errors: 30 calls on one matrix see 2..3 distinct chips (K = 3, no
     * re-mapping: N = 100), each a different error of the same size as EVAL's */
    b = load_with(mzi_file("clements", 5, NUM("sigma_phase_rad", "0.05")),
                  "\"train_noise\":\"sampled\"," NUM("train_chips", "3") "," NUM(
                      "train_redecompose_steps", "100"));
    ts = one_layer_sim(b, R, C, 5, UH_SIM_TRAIN, &train);
    float seen[3][N];
    int distinct = 0;
    for (uint64_t call = 0; call < 30; call++) {
        perturb(train, w1, got, R, C, call);
        int known = 0;
        for (int d = 0; d < distinct && !known; d++) known = !memcmp(got, seen[d], sizeof got);
        if (!known) {
            assert_true(distinct < 3);
            memcpy(seen[distinct++], got, sizeof got);
        }
    }
    assert_true(distinct >= 2);
    es = one_layer_sim(b, R, C, 5, UH_SIM_EVAL, &eval);
    perturb(eval, w1, q1, R, C, 0);
    double e_eval = rms_rel_diff(q1, w1, N), e_train = rms_rel_diff(seen[0], w1, N);
    print_message("phase error 0.05: RMS error, EVAL %.4f, a sampled chip %.4f\n", e_eval, e_train);
    assert_true(e_train > 0.5 * e_eval && e_train < 2 * e_eval);
    uh_backend_sim_free(es);
    uh_backend_sim_free(ts);
    uh_backend_free(b);
}

static const char *const SAMPLED =
    "\"train_noise\":\"sampled\"," NUM("train_chips", "3") "," NUM("train_redecompose_steps", "5");

/* b's `mode` hook on a 40×72 matrix cut into blocks of `tile` (edge blocks of other sizes
 * when 8 does not divide it) gives the same weights on 1 and 2 threads, call after call
 * (mappings included), and different weights from call to call. */
static void assert_thread_independent(const uh_backend_t *b, uh_sim_mode_t mode, int tile) {
#ifdef _OPENMP
    enum { R = 40, C = 72, N = R * C };
    float w0[N], w[N], out[2][8][N];
    seeded_matrix(w0, N, 3);
    int saved = omp_get_max_threads();
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        const uh_noise_t *hook;
        uh_backend_sim_t *sim = one_layer_sim(b, R, C, tile, mode, &hook);
        memcpy(w, w0, sizeof w);
        for (int call = 0; call < 8; call++) {
            w[call] += 0.01f; /* the weights move between calls */
            perturb(hook, w, out[t][call], R, C, (uint64_t)call);
        }
        uh_backend_sim_free(sim);
    }
    omp_set_num_threads(saved);
    assert_memory_equal(out[0], out[1], sizeof out[0]);
    assert_memory_not_equal(out[0][0], out[0][1], sizeof out[0][0]);
#else
    (void)b, (void)mode, (void)tile;
    skip();
#endif
}

/* The sampled hook on a matrix of many blocks (mzi-worst, tile 8). */
static void test_sampled_thread_independent(void **state) {
    (void)state;
    uh_backend_t *worst = load_backend("mzi-worst");
    uh_backend_t *b = load_with(uh_backend_text(worst), SAMPLED);
    assert_thread_independent(b, UH_SIM_TRAIN, 8);
    uh_backend_free(b);
    uh_backend_free(worst);
}

/* The EVAL hook (one Monte-Carlo sample per call, each thread reusing its realized meshes
 * across blocks of sizes 16×16, 16×8, 8×16 and 8×8), every non-ideality of mzi-worst on. */
static void test_eval_thread_independent(void **state) {
    (void)state;
    uh_backend_t *worst = load_backend("mzi-worst");
    assert_thread_independent(worst, UH_SIM_EVAL, 16);
    uh_backend_free(worst);
}

/* Trains TRAINED on the tiny set with the backend's TRAIN hook (a fresh sim): weights, order
 * and noise from `seed`, `threads` threads (0: the default). */
/* TRAINED trained through b's own TRAIN hook (a fresh sim: it counts its calls). */
static uh_net_t *train_tiny_on(const uh_backend_t *b, uint64_t seed, int threads, int epochs) {
    uh_arch_t a;
    parse_arch(TRAINED, TINY, &a);
    uh_backend_sim_t *sim;
    sim = new_sim(b, &a, UH_SIM_TRAIN);
    uh_net_t *net =
        train_tiny_seeded(TRAINED, uh_backend_sim_hook(sim), seed, seed + 4, threads, epochs);
    uh_backend_sim_free(sim);
    return net;
}

/* Training through sampled hardware is a function of the seed: two runs give the same weights
 * bit for bit, and they differ from the Gaussian stand-in's. */
static void test_sampled_training_deterministic(void **state) {
    (void)state;
    uh_backend_t *worst = load_backend("mzi-worst");
    uh_backend_t *b = load_with(uh_backend_text(worst), SAMPLED);
    uh_net_t *n1 = train_tiny_on(b, 1, 0, 2), *n2 = train_tiny_on(b, 1, 0, 2);
    uh_net_t *g = train_tiny_on(worst, 1, 0, 2);
    size_t n = uh_net_n_params(n1);
    assert_memory_equal(uh_net_params(n1), uh_net_params(n2), n * sizeof(float));
    assert_memory_not_equal(uh_net_params(n1), uh_net_params(g), n * sizeof(float));
#ifdef _OPENMP
    /* 1 and 2 threads: the hook is thread-independent (above), and so is the engine's
     * arithmetic (src/nn/layers.h): a search gives a lone candidate both cores */
    int saved = omp_get_max_threads();
    uh_net_t *t1 = train_tiny_on(b, 1, 1, 2), *t2 = train_tiny_on(b, 1, 2, 2);
    omp_set_num_threads(saved);
    assert_memory_equal(uh_net_params(t1), uh_net_params(t2), n * sizeof(float));
    uh_net_free(t1);
    uh_net_free(t2);
#endif
    uh_net_free(n1);
    uh_net_free(n2);
    uh_net_free(g);
    uh_backend_free(b);
    uh_backend_free(worst);
}

/* With a systematic error dominating (uncompensated crosstalk 0.02: a 16-port block's weights
 * are off by ~55 % RMS, mostly the same on every chip; coupler imbalance 0.02, no phase noise;
 * mzi-worst's loss and 8-bit converters), nets trained through sampled hardware keep more
 * noisy accuracy than nets trained with the Gaussian stand-in: the means over 3 training
 * seeds, each net under 6 hardware samples, differ by more than their noise. (At crosstalk
 * 0.05 the error is ~160 % and neither method learns.) */
static void test_sampled_training_sees_systematic_errors(void **state) {
    (void)state;
    uh_dataset_t *test = test_images(79);
    /* the systematic error, then mzi-worst's coupler imbalance, DAC, loss and converters */
    static const char *const parts[] = {
        NUM("crosstalk", "0.02"),       "\"crosstalk_compensation\":\"none\"",
        NUM("sigma_bs_rad", "0.02"),    NUM("phase_bits", "8"),
        NUM("il_db", "0.99"),           NUM("sigma_il_db", "0.1"),
        "\"loss_balance\":\"dummies\"", LINK};
    char chip[1024] = "";
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        snprintf(chip + strlen(chip), sizeof chip - strlen(chip), "%s%s", i ? "," : "", parts[i]);
    uh_backend_t *g = load_backend_text(mzi_file("clements", 16, chip));
    uh_backend_t *s = load_with(mzi_file("clements", 16, chip),
                                "\"train_noise\":\"sampled\"," NUM("train_chips", "4") "," NUM(
                                    "train_redecompose_steps", "20"));
    double mean_g = 0, mean_s = 0;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        uh_net_t *ng = train_tiny_on(g, seed, 0, 10), *ns = train_tiny_on(s, seed, 0, 10);
        uh_mc_result_t rg = evaluate(g, ng, test, 6, 3), rs = evaluate(g, ns, test, 6, 3);
        print_message("systematic errors, seed %d: gaussian clean %.4f noisy %.4f ± %.4f; "
                      "sampled clean %.4f noisy %.4f ± %.4f\n",
                      (int)seed, rg.clean_accuracy, rg.noisy_accuracy, rg.noisy_std,
                      rs.clean_accuracy, rs.noisy_accuracy, rs.noisy_std);
        assert_true(rs.clean_accuracy > 0.9); /* it still learns */
        mean_g += rg.noisy_accuracy / 3;
        mean_s += rs.noisy_accuracy / 3;
        uh_net_free(ng);
        uh_net_free(ns);
    }
    print_message("mean noisy accuracy: gaussian %.4f, sampled %.4f\n", mean_g, mean_s);
    assert_true(mean_s >= mean_g + 0.01); /* measured: +0.028, every seed better */
    uh_backend_free(g);
    uh_backend_free(s);
    uh_dataset_free(test);
}

/* ---- constraints and bad files ------------------------------------------------------- */

/* A mesh cannot have more ports than UH_MESH_MAX_N: a violation, and sim_new refuses it. */
static void test_tile_too_large(void **state) {
    (void)state;
    uh_backend_t *b = load_backend_text(mzi_file("clements", 8, ""));
    uh_arch_t a;
    parse_arch("{\"layers\":[{\"type\":\"dense\",\"units\":10,\"tile\":1000}]}",
               (uh_shape_t){1, 1, 1, 10}, &a);
    a.layers[0].tile = 2000; /* the parser stops at 1024; the model must not rely on it */
    uh_violations_t v;
    assert_true(uh_backend_check(b, &a, &v) >= 1);
    int found = 0;
    for (int i = 0; i < v.n; i++)
        found |= strstr(v.items[i].msg, "tile 2000 is larger than the 1024 ports") != NULL;
    assert_true(found);
    uh_backend_sim_t *sim;
    uh_error_t err = {0};
    assert_int_equal(uh_backend_sim_new(b, &a, UH_SIM_EVAL, &sim, &err), UH_EINVAL);
    assert_non_null(strstr(err.msg, "layer 1: tile 2000 is larger than 1024 ports"));
    uh_backend_free(b);
}

static void test_bad_files(void **state) {
    (void)state;
    /* on the 8-port Clements file */
    static const struct {
        const char *params, *needle;
    } bad[] = {
        {NUM("sigma_phase", "0.1"), "params.sigma_phase: unknown key"},
        {"\"il_db\":{\"value\":0.5}", "params.il_db: needs a \"source\""},
        {"\"il_db\":{\"value\":0.5,\"source\":\"\"}", "params.il_db: needs a \"source\""},
        {NUM("sigma_phase_rad", "4"), "params.sigma_phase_rad: must be in 0..3.2, got 4"},
        {NUM("phase_bits", "31"), "params.phase_bits: must be an integer in 0..30, got 31"},
        {NUM("adc_bits", "7.5"), "params.adc_bits: must be an integer in 0..16, got 7.5"},
        {"\"loss_balance\":\"some\"",
         "params.loss_balance: unknown value \"some\"; expected one of \"none\", \"dummies\""},
        {NUM("il_db", "0.1") "," NUM("il_db", "0.2"), "params.il_db: given more than once"},
        {NUM("laser_wallplug_efficiency", "0"),
         "params.laser_wallplug_efficiency: given more than once"},
        /* the first model's receiver numbers are refused with the reason */
        {NUM("detector_sensitivity_dbm", "-25"),
         "params.detector_sensitivity_dbm: no longer used: the laser and the detector "
         "noise come from one link budget"},
        {NUM("detector_noise", "0.01"), "params.detector_noise: no longer used"},
        {NUM("receiver_noise_lsb", "0.5"),
         "params.adc_bits: the link budget (receiver_noise_lsb) needs a converter of at "
         "least 2 bits, got 0"},
        {"\"coupler_correction\":\"global\"", "params.coupler_correction: unknown value "
                                              "\"global\"; expected one of \"none\", \"measured\""},
        {NUM("coupler_model_error", "1.5"), "params.coupler_model_error: must be in 0..1, got 1.5"},
        {"\"mapping\":\"pipelined\"", "params.mapping: unknown value \"pipelined\"; expected one "
                                      "of \"time-multiplexed\", \"weight-stationary\""},
        {NUM("chip_mzis", "0"), "params.chip_mzis: must be in 1..1e+09, got 0"},
        /* noise-aware training's method: a choice, K capped at 16, N at least 1 */
        {"\"train_noise\":\"exact\"",
         "params.train_noise: unknown value \"exact\"; expected one of \"gaussian\", \"sampled\""},
        {NUM("train_noise", "1"), "params.train_noise:"},
        {NUM("train_chips", "17"), "params.train_chips: must be an integer in 1..16, got 17"},
        {NUM("train_chips", "0"), "params.train_chips: must be an integer in 1..16, got 0"},
        {NUM("train_chips", "2.5"), "params.train_chips: must be an integer in 1..16, got 2.5"},
        {"\"train_chips\":4", "params.train_chips:"},
        {NUM("train_redecompose_steps", "0"),
         "params.train_redecompose_steps: must be an integer in 1..1000000, got 0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_bad_backend(mzi_file("clements", 8, bad[i].params), bad[i].needle);
    expect_bad_backend(mzi_file("clements", 1, ""),
                       "params.tile: must be an integer in 2..256, got 1");
    expect_bad_backend(
        mzi_file("butterfly", 8, ""),
        "params.mesh: unknown value \"butterfly\"; expected one of \"clements\", \"reck\"");
    /* a required number left out */
    char text[4096];
    snprintf(text, sizeof text, "%s", mzi_file("clements", 8, ""));
    char *at = strstr(text, NUM("adc_pj", "1.5") ",");
    assert_non_null(at);
    memmove(at, at + strlen(NUM("adc_pj", "1.5") ","),
            strlen(at + strlen(NUM("adc_pj", "1.5") ",")) + 1);
    expect_bad_backend(text, "params.adc_pj: is required");
    expect_bad_backend("{\"name\":\"x\",\"model\":\"mzi\",\"params\":{" ENERGY "}}",
                       "params.tile: is required");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_files),
        cmocka_unit_test(test_energy_mlp_by_hand),
        cmocka_unit_test(test_energy_conv_reck_by_hand),
        cmocka_unit_test(test_link_budget_by_hand),
        cmocka_unit_test(test_chip_budget),
        cmocka_unit_test(test_io_layout_by_hand),
        cmocka_unit_test(test_bits_set_converters),
        cmocka_unit_test(test_laser_grows_exponentially),
        cmocka_unit_test(test_noiseless_gives_digital_logits),
        cmocka_unit_test(test_each_effect_degrades_monotonically),
        cmocka_unit_test(test_coupler_correction_lowers_error),
        cmocka_unit_test(test_accuracy_realistic_worst_clean),
        cmocka_unit_test(test_seeded_samples),
        cmocka_unit_test(test_train_sigma_calibrated),
        cmocka_unit_test(test_noise_aware_training),
        cmocka_unit_test(test_sampled_is_the_eval_physics),
        cmocka_unit_test(test_sampled_thread_independent),
        cmocka_unit_test(test_eval_thread_independent),
        cmocka_unit_test(test_sampled_training_deterministic),
        cmocka_unit_test(test_sampled_training_sees_systematic_errors),
        cmocka_unit_test(test_tile_too_large),
        cmocka_unit_test(test_bad_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
