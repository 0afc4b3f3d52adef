/* The analog crossbar model (PCM / RRAM in-memory computing).
 *
 * Mapping. A dense or conv layer's weight matrix W (outputs × inputs; conv through im2col,
 * one matrix-vector product per output position) is stored on crossbar tiles of
 * tile_rows × tile_cols weights: inputs drive the tile's rows (word lines) through DACs,
 * each output is read on a column (bit line) through an ADC. A weight is a differential pair
 * of devices, w ∝ G⁺ − G⁻: the device of the weight's sign is programmed to
 * G_max·|w|/max|W| and the other to 0 (per-layer scale: the largest |w| maps to G_max).
 * A matrix larger than a tile is split; the row-tiles' partial sums are added digitally.
 *
 * Energy per inference (pJ; uh_energy_add takes nJ), per dense/conv layer with n_in inputs,
 * n_out outputs and P passes (1 for dense, out_h·out_w for conv):
 *   R = tile rows, C = tile cols (a layer's "tile" hint T narrows both to min(T, R|C)),
 *   rt = ceil(n_in / R) row-tiles, ct = ceil(n_out / C) column-tiles.
 *   On each tile, one MVM costs rows_used·E_DAC + cols_used·(E_ADC + E_periphery)
 *   + rows_used·cols_used·e_cell. Summed over the layer's tiles:
 *     dac        = P · n_in · ct · dac_pj
 *     adc        = P · n_out · rt · adc_pj
 *     periphery  = P · n_out · rt · periphery_pj     (per conversion: column readout, local
 *                                                     digital affine scaling, clock/control)
 *     array      = P · n_in · n_out · e_cell,  e_cell = V_read² · G_max · t_read
 *                                                     · conductance_fill · input_activity
 *     accumulate = P · n_out · (rt − 1) · accumulate_pj   (digital partial-sum additions)
 *   plus per layer: activation = outputs with an activation · activation_pj,
 *                   pool = pooling-window reads · pool_pj.
 *
 * Precision is a hardware gene: a layer's "bits" b (else the file's dac_bits / adc_bits) is
 * the resolution of that layer's DACs and ADCs. The file's dac_pj and adc_pj are quoted at
 * its dac_bits and adc_bits; at b bits a conversion costs 2^(b − file bits) of that:
 *     dac = P · n_in · ct · dac_pj · 2^(b − dac_bits),
 *     adc = P · n_out · rt · adc_pj · 2^(b − adc_bits),
 * a constant Walden figure of merit, energy per conversion = FoM_W · 2^ENOB (Walden, IEEE
 * JSAC 17, 539 (1999); the figure of merit of B. Murmann's "ADC Performance Survey",
 * github.com/bmurmann/ADC-survey; the MZI model's scaling). It is a convention, optimistic at
 * low resolution: in the survey's energy-vs-SNDR data the best designs flatten towards a
 * technology floor at low resolution and grow as 4^b (Schreier FoM, thermal noise) at high
 * resolution, so a real 4-bit converter costs more than 1/16 of an 8-bit one.
 * A file whose converter is ideal (bits 0) has no reference resolution: its dac_pj/adc_pj do
 * not scale. The periphery (calibrated per conversion at the file's bits), the array and the
 * digital rows do not depend on b; nor does mvm_ns (a PWM input of fewer bits would be
 * shorter: not modelled). Which bits a layer may ask for is the file's constraints.min_bits
 * ..max_bits (the shared checker refuses the rest; the shipped file: at most the HERMES ADC's
 * 8 bits). The simulated ADC rounds each layer's outputs at its own b (below).
 *
 * Latency and footprint of the same mapping (weight-stationary: every layer has its own
 * tiles, no reprogramming; batch 1). All tiles of a layer run an MVM in parallel, its P
 * passes run one after the other on them, and layers run in sequence:
 *   latency_ns = Σ_layers P · mvm_ns        (digital activations and pooling not timed)
 *   tiles      = Σ_layers rt · ct           (physical tiles; a tile hint uses part of one)
 *   devices    = 2 · Σ_layers n_in · n_out  (a differential pair per weight)
 *   area_mm2   = tiles · tile_area_mm2
 *
 * Simulation, UH_SIM_EVAL (one hardware sample per uh_net_evaluate call), per device of
 * each pair, g = G/G_max:
 *   programming  G_p = max(G_T + σ_p·ε, 0),  σ_p = noise_scale · max(c0 + c1·g_T + c2·g_T², 0)
 *                · G_max/prog_ref_g_max  (µS; IBM's PCM fit, Nandakumar 2019, Joshi 2020)
 *   stuck        with probability stuck_fraction the device ignores programming and sits at
 *                G_max (share stuck_on_share) or 0; stuck devices neither drift nor read noisy
 *   drift        G_d = G_p · (t/t0)^(−ν),  ν = max(nu + noise_scale·nu_std·ε, 0) per device
 *   read noise   G = max(G_d + G_d·Q·sqrt(ln((t + t_read)/(2·t_read)))·noise_scale·ε, 0),
 *                Q = min(read_q / max(G_p/G_max, 1e-3)^read_q_exp, read_q_max)
 *                (1/f noise accumulated up to t; aihwkit's PCMLikeNoiseModel)
 *   drift compensation ("global", as aihwkit's GlobalDriftCompensation): one digital gain per
 *     layer, α = Σ_out |Σ_in (G_p⁺ − G_p⁻)| / Σ_out |Σ_in (G⁺ − G⁻)| — the all-ones input
 *     read once after programming and again at time t.
 *   effective weight w = α · (G⁺ − G⁻) · max|W| / G_max.
 * read noise per MVM (aihwkit's w_noise of type PCM_READ, "output-referred weight noise":
 *   output i gets N(0, w_noise² · Σ_j |w_ij|·w_max · x_j²), the 1/f noise of the devices'
 *   current during this read): equivalently each weight gets its own Gaussian
 *     w += noise_scale · w_noise · sqrt(|w_d| · w_max) · ε,
 *   w_d the weight the devices hold at t (before the compensation gain, which scales it too),
 *   w_max the layer's max |w|. It is drawn with every weight preparation: every uh_net_forward,
 *   and once per uh_net_evaluate call (one hardware sample). The hook sees the weights once per
 *   sample and the outputs without their inputs, so a fresh draw per image is not possible;
 *   the error of each output of each image has exactly the per-MVM distribution (same
 *   variance, Gaussian), so the mean accuracy is the per-MVM one — only its spread over
 *   samples is wider, because the images of a sample share one draw. Not part of the
 *   calibration of training's σ_w below (training keeps its own noise).
 * Outputs (every forward, pre-activation values z of the layer, bias included): first the
 * output bound (aihwkit's out_bound): z is clipped to ±out_bound · w_max · x_max (one device
 * pair at G_max driven by a full-scale input is 1 in that unit) — per conversion; with rt
 * row-tiles z is the sum of rt bounded partial sums and is clipped at ±rt · out_bound ·
 * w_max · x_max (exact for one row-tile; for more it assumes the partial sums share z
 * equally, so it can miss one tile saturating while another is small). The bias is clipped
 * with z (aihwkit adds it digitally after the ADC). Then the ADC: its
 * range is set to the batch's max |z| (an ideally ranged converter), z is rounded to
 * 2^(adc_bits−1)−1 levels each side, then Gaussian noise of σ = noise_scale · output_noise ·
 * w_max · x_max per conversion is added (aihwkit's out_noise unit: one device pair at G_max
 * driven by a full-scale input; w_max = the layer's max |w|, x_max = its largest input). With
 * rt row-tiles each output is rt conversions summed, so the noise variance is rt·σ² plus
 * (rt−1)·LSB²/12 for the other tiles' rounding. The ADC's levels are the layer's bits (else
 * adc_bits). DAC rounding of the inputs cannot be applied from the outputs' side and is not
 * simulated (a previous layer's ADC rounding already puts its outputs on a grid; a layer with
 * "bits" has its outputs fake-quantised to them by the training engine as well).
 *
 * UH_SIM_TRAIN (noise-aware training as IBM's hardware-aware training, Joshi et al. 2020,
 * aihwkit): each mini-batch, w += N(0, (σ_w·max|W|)²) on the scratch copy, and outputs get
 * the ADC rounding above (at the layer's bits) plus N(0, noise_scale · train_output_noise ·
 * w_max · x_max) per conversion. σ_w is calibrated when the sim is made, as the MZI model does
 * (hw_calibrate_weight_noise): the EVAL device physics above (programming noise, stuck
 * devices, drift and its compensation, read noise at t_eval) on a seeded Gaussian matrix of
 * one tile (at most 256×256), RMS error of a few samples ÷ max|W| (max|W|, not RMS: a layer's
 * max |w| maps to G_max, and device noise is relative to G_max). A file may instead give
 * "train_weight_noise" explicitly: then σ_w = noise_scale · train_weight_noise. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

enum { COMP_NONE, COMP_GLOBAL };

typedef struct {
    /* devices */
    double g_max;          /* µS: the largest |w| of a layer maps here */
    double prog_c[3];      /* σ_p(g) = c0 + c1 g + c2 g² in µS at prog_ref_g_max */
    double prog_ref_g_max; /* µS: the G_max the coefficients were fitted at */
    double read_q, read_q_exp, read_q_max, t_read;
    double nu, nu_std, t0, t_eval; /* drift exponent, its device spread, seconds */
    int compensation;
    double stuck_fraction, stuck_on_share;
    double noise_scale; /* multiplies every Gaussian term (not drift's mean, not stuck) */
    /* periphery */
    int dac_bits, adc_bits; /* 0 = ideal */
    double output_noise;    /* σ per ADC conversion, relative to its full scale */
    double w_noise;         /* per-MVM read noise, aihwkit PCM_READ units; 0 = none */
    double out_bound; /* outputs clipped to ±out_bound · w_max · x_max per conversion; 0 = none */
    int tile_rows, tile_cols;
    int chip_tiles;       /* tiles on the chip; 0 = as many as needed */
    double mvm_ns;        /* one MVM on a tile; 0 = latency unknown */
    double tile_area_mm2; /* one tile with its converters and local digital unit; 0 = unknown */
    /* noise-aware training; train_weight_noise < 0: calibrate from the EVAL physics */
    double train_weight_noise, train_output_noise;
    /* energy */
    double dac_pj, adc_pj, periphery_pj, accumulate_pj, activation_pj, pool_pj;
    double read_voltage, conductance_fill, input_activity;
} xbar_t;

static const char *const COMPENSATION[] = {"none", "global", NULL};

/* ---- loading ------------------------------------------------------------------------ */

#define NUM(key, m, req, lo, hi, dflt)                                                             \
    UH_JSON_ROW(key, UH_JSON_NUMBER, xbar_t, m, req, lo, hi, dflt)
#define INT(key, m, req, lo, hi, dflt) UH_JSON_ROW(key, UH_JSON_INT, xbar_t, m, req, lo, hi, dflt)
#define CHOICE(key, m, req, dflt, names)                                                           \
    { key, UH_JSON_CHOICE, offsetof(xbar_t, m), req, 0, 0, dflt, .choices = names }
/* The params: key, member, required, range, default (UH_JSON_KEEP: set after reading). */
static const uh_json_field_t FIELDS[] = {
    /* devices: conductance and programming noise */
    NUM("g_max_us", g_max, 1, 0.01, 1e4, 0),
    NUM("prog_noise_c0_us", prog_c[0], 0, 0, 1e3, 0),
    NUM("prog_noise_c1_us", prog_c[1], 0, -1e3, 1e3, 0),
    NUM("prog_noise_c2_us", prog_c[2], 0, -1e3, 1e3, 0),
    NUM("prog_ref_g_max_us", prog_ref_g_max, 0, 0.01, 1e4, UH_JSON_KEEP),
    /* read noise */
    NUM("read_noise_q", read_q, 0, 0, 10, 0),
    NUM("read_noise_q_exp", read_q_exp, 0, 0, 10, 0),
    NUM("read_noise_q_max", read_q_max, 0, 0, 10, 10),
    NUM("t_read_s", t_read, 0, 1e-12, 1, 250e-9),
    /* drift */
    CHOICE("drift_compensation", compensation, 0, COMP_GLOBAL, COMPENSATION),
    NUM("drift_nu", nu, 0, 0, 1, 0),
    NUM("drift_nu_std", nu_std, 0, 0, 1, 0),
    NUM("t0_s", t0, 0, 1e-6, 1e9, 20),
    NUM("t_eval_s", t_eval, 0, 1e-6, 1e10, UH_JSON_KEEP),
    /* stuck devices; noise_scale multiplies every Gaussian term */
    NUM("stuck_fraction", stuck_fraction, 0, 0, 1, 0),
    NUM("stuck_on_share", stuck_on_share, 0, 0, 1, 0.5),
    NUM("noise_scale", noise_scale, 0, 0, 100, 1),
    /* converters and outputs */
    INT("dac_bits", dac_bits, 0, 0, 16, 0),
    INT("adc_bits", adc_bits, 0, 0, 16, 0),
    NUM("output_noise", output_noise, 0, 0, 10, 0),
    NUM("w_noise", w_noise, 0, 0, 10, 0),
    NUM("out_bound", out_bound, 0, 0, 1e6, 0),
    /* tiles */
    INT("tile_rows", tile_rows, 1, 1, 1 << 16, 0),
    INT("tile_cols", tile_cols, 1, 1, 1 << 16, 0),
    INT("chip_tiles", chip_tiles, 0, 0, 1 << 20, 0),
    NUM("mvm_ns", mvm_ns, 0, 0, 1e9, 0),
    NUM("tile_area_mm2", tile_area_mm2, 0, 0, 1e4, 0),
    /* noise-aware training */
    NUM("train_weight_noise", train_weight_noise, 0, 0, 10, -1),
    NUM("train_output_noise", train_output_noise, 0, 0, 10, 0),
    /* energy of conversions */
    NUM("dac_pj", dac_pj, 1, 0, 1e6, 0),
    NUM("adc_pj", adc_pj, 1, 0, 1e6, 0),
    NUM("periphery_pj", periphery_pj, 0, 0, 1e6, 0),
    /* digital work */
    NUM("accumulate_pj", accumulate_pj, 0, 0, 1e6, 0),
    NUM("activation_pj", activation_pj, 0, 0, 1e6, 0),
    NUM("pool_pj", pool_pj, 0, 0, 1e6, 0),
    /* energy of the array */
    NUM("read_voltage_v", read_voltage, 0, 0, 10, 0),
    NUM("conductance_fill", conductance_fill, 0, 0, 1, 0.25),
    NUM("input_activity", input_activity, 0, 0, 1, 0.25),
    {NULL}};

static int xbar_load(const void *params, void **state, uh_error_t *err) {
    xbar_t *x = calloc(1, sizeof *x);
    if (!x) return uh_error_set(err, UH_ENOMEM, "out of memory");
    x->prog_ref_g_max = x->t_eval = NAN;
    int rc = uh_json_read(params, "params", FIELDS, x, UH_JSON_SOURCED, err);
    if (rc) {
        free(x);
        return rc;
    }
    if (isnan(x->prog_ref_g_max)) x->prog_ref_g_max = x->g_max;
    if (isnan(x->t_eval)) x->t_eval = x->t0;
    if (x->t_eval < x->t0) {
        rc = uh_error_set(err, UH_EINVAL,
                          "params.t_eval_s: must be at least t0_s (%g s), got %g (drift is "
                          "measured from t0, the first read after programming)",
                          x->t0, x->t_eval);
        free(x);
        return rc;
    }
    *state = x;
    return UH_OK;
}

static void xbar_free(void *state) {
    free(state);
}

/* ---- energy ------------------------------------------------------------------------- */

static long ceil_div(long a, long b) {
    return (a + b - 1) / b;
}

/* Tile rows and columns a layer uses: the array's, narrowed by the layer's tile hint. */
static void layer_tile(const xbar_t *x, const uh_layer_t *l, int *rows, int *cols) {
    *rows = x->tile_rows;
    *cols = x->tile_cols;
    if (l->tile > 0 && l->tile < *rows) *rows = l->tile;
    if (l->tile > 0 && l->tile < *cols) *cols = l->tile;
}

/* Energy of one device-pair read at full conductance fill and input: V² · G · t, in pJ,
 * scaled by the mean fill and input drive. */
static double cell_pj(const xbar_t *x) {
    return x->read_voltage * x->read_voltage * x->g_max * 1e-6 * x->t_read * x->conductance_fill *
           x->input_activity * 1e12;
}

static int xbar_energy(const void *state, const uh_arch_t *arch, uh_energy_t *e, uh_error_t *err) {
    (void)err;
    const xbar_t *x = state;
    double e_cell = cell_pj(x);
    for (int i = 0; i < arch->n_layers; i++) {
        hw_mvm_t m;
        if (hw_layer_mvm(arch, i, &m)) {
            int R, C;
            layer_tile(x, &arch->layers[i], &R, &C);
            double n_in = m.cols, n_out = m.rows, P = (double)m.passes;
            double rt = (double)ceil_div(m.cols, R), ct = (double)ceil_div(m.rows, C);
            e->latency_ns += P * x->mvm_ns;
            e->footprint.tiles += (long)(rt * ct);
            e->footprint.devices += 2L * m.rows * m.cols;
            const uh_layer_t *l = &arch->layers[i];
            double dac_scale = hw_converter_scale(hw_layer_bits(l, x->dac_bits), x->dac_bits);
            double adc_scale = hw_converter_scale(hw_layer_bits(l, x->adc_bits), x->adc_bits);
            uh_energy_add(e, i, "dac", P * n_in * ct * x->dac_pj * dac_scale * 1e-3);
            uh_energy_add(e, i, "adc", P * n_out * rt * x->adc_pj * adc_scale * 1e-3);
            if (x->periphery_pj > 0)
                uh_energy_add(e, i, "periphery", P * n_out * rt * x->periphery_pj * 1e-3);
            if (e_cell > 0) uh_energy_add(e, i, "array", P * n_in * n_out * e_cell * 1e-3);
            if (rt > 1 && x->accumulate_pj > 0)
                uh_energy_add(e, i, "accumulate", P * n_out * (rt - 1) * x->accumulate_pj * 1e-3);
        }
        long acts = hw_layer_activations(arch, i);
        if (acts && x->activation_pj > 0)
            uh_energy_add(e, i, "activation", (double)acts * x->activation_pj * 1e-3);
        long reads = hw_layer_pool_reads(arch, i);
        if (reads && x->pool_pj > 0) uh_energy_add(e, i, "pool", (double)reads * x->pool_pj * 1e-3);
    }
    e->footprint.area_mm2 = (double)e->footprint.tiles * x->tile_area_mm2;
    return UH_OK;
}

/* A fully used tile, per MAC: what `uhnas backends` lists. */
static double xbar_pj_per_mac(const void *state) {
    const xbar_t *x = state;
    return cell_pj(x) + x->dac_pj / x->tile_cols + (x->adc_pj + x->periphery_pj) / x->tile_rows;
}

/* ---- constraints and precision ------------------------------------------------------ */

static void xbar_check(const void *state, const uh_arch_t *arch, uh_violations_t *v) {
    const xbar_t *x = state;
    long tiles = 0;
    for (int i = 0; i < arch->n_layers; i++) {
        const uh_layer_t *l = &arch->layers[i];
        if (l->type != UH_LAYER_DENSE && l->type != UH_LAYER_CONV2D) continue;
        if (l->tile > x->tile_rows || l->tile > x->tile_cols)
            uh_violations_add(v, i + 1, "tile", "tile %d is larger than the %dx%d crossbar array",
                              l->tile, x->tile_rows, x->tile_cols);
        hw_mvm_t m;
        if (x->chip_tiles > 0 && hw_layer_mvm(arch, i, &m)) {
            int R, C;
            layer_tile(x, l, &R, &C);
            tiles += ceil_div(m.cols, R) * ceil_div(m.rows, C);
        }
    }
    if (x->chip_tiles > 0 && tiles > x->chip_tiles)
        uh_violations_add(v, 0, "tiles",
                          "the weights need %ld crossbar tiles; the chip has %d (weights stay "
                          "on chip: no reprogramming between layers)",
                          tiles, x->chip_tiles);
}

static void xbar_precision(const void *state, uh_precision_t *p) {
    const xbar_t *x = state;
    p->weight_bits = 0; /* analog conductances: not quantized, perturbed */
    p->activation_bits = x->adc_bits ? x->adc_bits : 32;
    p->is_float = 0;
    char dac[16] = "ideal", adc[16] = "ideal";
    if (x->dac_bits) snprintf(dac, sizeof dac, "%d-bit", x->dac_bits);
    if (x->adc_bits) snprintf(adc, sizeof adc, "%d-bit", x->adc_bits);
    snprintf(p->summary, sizeof p->summary, "analog weights (G pairs, %g uS), %s DAC, %s ADC",
             x->g_max, dac, adc);
}

/* ---- simulation --------------------------------------------------------------------- */

/* The simulator keeps, per layer, the scale of the analog signal so that output noise can be
 * expressed as aihwkit does, in units of one device pair at G_max driven by a full-scale
 * input: w_max (the layer's max |w|, recorded by perturb_weights) times x_max (the largest
 * input value of the batch: 1 for the first layer, whose inputs are images in [0, 1]; for
 * later layers the largest |activation| of the previous dense/conv layer, recorded by its
 * perturb_outputs in the same forward pass — max-pooling keeps it, average pooling can only
 * lower it). A sim therefore serves one network at a time. */
typedef struct {
    xbar_t p; /* a copy of the numbers, so the sim does not depend on the backend's lifetime */
    uh_sim_mode_t mode;
    int n_layers;
    uh_act_t act[UH_ARCH_MAX_LAYERS];
    int next[UH_ARCH_MAX_LAYERS];      /* the next dense/conv layer, -1 if none */
    int row_tiles[UH_ARCH_MAX_LAYERS]; /* partial sums per output, per layer */
    int adc_bits[UH_ARCH_MAX_LAYERS];  /* the layer's ADC resolution (0 = ideal) */
    float w_max[UH_ARCH_MAX_LAYERS];
    float x_max[UH_ARCH_MAX_LAYERS];
    int max_rows;              /* the most outputs of any layer */
    int cap_rows;              /* rows ref_row/now_row hold: max_rows or the calibration's */
    double *ref_row, *now_row; /* per output: drift-compensation readings */
    float train_sigma;         /* σ_w of UH_SIM_TRAIN, relative to max|W| */
    double log_t;              /* ln(t/t0) */
    double read_t;             /* sqrt(ln((t + t_read)/(2 t_read))) */
} xbar_sim_t;

/* One device: target conductance g_t (µS) to its value at t_eval. *g_prog gets the
 * conductance right after programming (the drift-compensation reference). */
static double device(const xbar_sim_t *s, double g_t, uh_rng_t *rng, double *g_prog) {
    const xbar_t *x = &s->p;
    if (x->stuck_fraction > 0 && uh_rng_uniform(rng) < x->stuck_fraction) {
        double g = uh_rng_uniform(rng) < x->stuck_on_share ? x->g_max : 0;
        *g_prog = g;
        return g;
    }
    double gn = g_t / x->g_max;
    double g = g_t;
    if (x->noise_scale > 0) {
        double sig = x->prog_c[0] + x->prog_c[1] * gn + x->prog_c[2] * gn * gn;
        sig = sig > 0 ? sig * x->noise_scale * x->g_max / x->prog_ref_g_max : 0;
        if (sig > 0) g += sig * uh_rng_normal(rng);
        if (g < 0) g = 0;
    }
    *g_prog = g;
    if (s->log_t > 0 && g > 0 && (x->nu > 0 || x->nu_std > 0)) {
        double nu = x->nu;
        if (x->nu_std > 0 && x->noise_scale > 0)
            nu += x->noise_scale * x->nu_std * uh_rng_normal(rng);
        if (nu < 0) nu = 0;
        g *= exp(-nu * s->log_t);
    }
    if (x->read_q > 0 && x->noise_scale > 0 && g > 0) {
        double rel = *g_prog / x->g_max;
        double q = x->read_q / pow(rel > 1e-3 ? rel : 1e-3, x->read_q_exp);
        if (q > x->read_q_max) q = x->read_q_max;
        g += g * q * s->read_t * x->noise_scale * uh_rng_normal(rng);
        if (g < 0) g = 0;
    }
    return g;
}

static void record_w_max(xbar_sim_t *s, int layer, float w_max) {
    if (layer >= 0 && layer < UH_ARCH_MAX_LAYERS) s->w_max[layer] = w_max;
}

static void eval_weights(void *ctx, int layer, float *w, int rows, int cols, uh_rng_t *rng) {
    xbar_sim_t *s = ctx;
    size_t n = (size_t)rows * (size_t)cols;
    float wmax = hw_max_abs(w, n);
    record_w_max(s, layer, wmax);
    if (!(wmax > 0) || rows > s->cap_rows) return;
    double to_g = s->p.g_max / wmax; /* µS per weight unit */
    /* per-MVM read noise (EVAL only): σ = w_noise · sqrt(|ΔG| · G_max) in µS */
    double read_mvm = s->mode == UH_SIM_EVAL ? s->p.noise_scale * s->p.w_noise : 0;
    uint64_t seed = rng ? uh_rng_u64(rng) : 0;
    /* one random stream per row (output), so rows run in parallel reproducibly */
#pragma omp parallel for schedule(static) if (n > 4 * HW_CHUNK)
    for (int r = 0; r < rows; r++) {
        uh_rng_t rr;
        uh_rng_seed_stream(&rr, seed, (uint64_t)r);
        float *row = w + (size_t)r * cols;
        double ref = 0, now = 0;
        for (int c = 0; c < cols; c++) {
            double g_t = fabs((double)row[c]) * to_g;
            double gp_pos, gp_neg;
            double pos = device(s, row[c] > 0 ? g_t : 0, &rr, &gp_pos);
            double neg = device(s, row[c] < 0 ? g_t : 0, &rr, &gp_neg);
            ref += gp_pos - gp_neg;
            now += pos - neg;
            double d = pos - neg;
            if (read_mvm > 0 && d != 0)
                d += read_mvm * sqrt(fabs(d) * s->p.g_max) * uh_rng_normal(&rr);
            row[c] = (float)(d / to_g);
        }
        s->ref_row[r] = fabs(ref);
        s->now_row[r] = fabs(now);
    }
    double ref_sum = 0, now_sum = 0; /* in row order: the same sum for any thread count */
    for (int r = 0; r < rows; r++) ref_sum += s->ref_row[r], now_sum += s->now_row[r];
    if (s->p.compensation == COMP_GLOBAL && now_sum > 0 && ref_sum != now_sum) {
        float alpha = (float)(ref_sum / now_sum);
        for (size_t i = 0; i < n; i++) w[i] *= alpha;
    }
}

static void train_weights(void *ctx, int layer, float *w, int rows, int cols, uh_rng_t *rng) {
    xbar_sim_t *s = ctx;
    size_t n = (size_t)rows * (size_t)cols;
    float wmax = hw_max_abs(w, n);
    record_w_max(s, layer, wmax);
    hw_add_normal(w, n, s->train_sigma * wmax, rng, 1);
}

/* ADC and output noise of one layer's pre-activation outputs z (a batch): noise σ =
 * sigma_unit · w_max · x_max per conversion, rt conversions summed per output. Records this
 * layer's largest output activation as the next layer's x_max. */
static void adc_outputs(xbar_sim_t *s, int layer, float *z, size_t count, double sigma_unit,
                        uh_rng_t *rng) {
    if (layer < 0 || layer >= s->n_layers || count == 0) return;
    float lo, hi;
    hw_convert_outputs(z, count, s->adc_bits[layer], sigma_unit * s->w_max[layer] * s->x_max[layer],
                       0, s->row_tiles[layer], rng, s->mode == UH_SIM_TRAIN, &lo, &hi);
    if (s->next[layer] >= 0) s->x_max[s->next[layer]] = hw_act_max(s->act[layer], lo, hi);
}

static void eval_outputs(void *ctx, int layer, float *z, size_t count, uh_rng_t *rng) {
    xbar_sim_t *s = ctx;
    if (s->p.out_bound > 0 && layer >= 0 && layer < s->n_layers) {
        float bound =
            (float)(s->p.out_bound * s->row_tiles[layer] * s->w_max[layer] * s->x_max[layer]);
        if (bound > 0) /* an all-zero layer has no analog signal to bound */
            for (size_t i = 0; i < count; i++)
                z[i] = z[i] > bound ? bound : (z[i] < -bound ? -bound : z[i]);
    }
    adc_outputs(s, layer, z, count, s->p.noise_scale * s->p.output_noise, rng);
}

static void train_outputs(void *ctx, int layer, float *z, size_t count, uh_rng_t *rng) {
    xbar_sim_t *s = ctx;
    adc_outputs(s, layer, z, count, s->p.noise_scale * s->p.train_output_noise, rng);
}

/* Noise-aware training's weight σ is measured on a Gaussian matrix of one tile, at most
 * this many rows and columns (a 256×256 tile: 131072 devices, a few ms a sample), over a few
 * samples from a fixed seed (the same σ every run). */
#define XBAR_CALIBRATION_DIM 256
#define XBAR_CALIBRATION_SAMPLES 4
#define XBAR_CALIBRATION_SEED 0x70636d63616cULL

static void xbar_sim_free(void *sim) {
    xbar_sim_t *s = sim;
    if (!s) return;
    free(s->ref_row);
    free(s->now_row);
    free(s);
}

static int xbar_sim_new(const void *state, const uh_arch_t *arch, uh_sim_mode_t mode, void **sim,
                        uh_noise_t *hook, uh_error_t *err) {
    const xbar_t *x = state;
    *sim = NULL;
    memset(hook, 0, sizeof *hook);
    xbar_sim_t *s = calloc(1, sizeof *s);
    if (!s) return uh_error_set(err, UH_ENOMEM, "out of memory");
    s->p = *x;
    s->mode = mode;
    s->n_layers = arch->n_layers < UH_ARCH_MAX_LAYERS ? arch->n_layers : UH_ARCH_MAX_LAYERS;
    int later = -1, outputs = 0;
    for (int i = s->n_layers - 1; i >= 0; i--) {
        hw_mvm_t m;
        s->act[i] = arch->layers[i].act;
        s->next[i] = later;
        s->row_tiles[i] = 1;
        s->x_max[i] = 1; /* the first layer's: images in [0, 1] */
        if (hw_layer_mvm(arch, i, &m)) {
            int R, C;
            layer_tile(x, &arch->layers[i], &R, &C);
            s->row_tiles[i] = (int)ceil_div(m.cols, R);
            s->adc_bits[i] = hw_layer_bits(&arch->layers[i], x->adc_bits);
            outputs |= s->adc_bits[i] > 0;
            if (m.rows > s->max_rows) s->max_rows = m.rows;
            later = i;
        }
    }
    int calibrate = mode == UH_SIM_TRAIN && x->train_weight_noise < 0;
    int cal_rows = x->tile_rows < XBAR_CALIBRATION_DIM ? x->tile_rows : XBAR_CALIBRATION_DIM;
    int cal_cols = x->tile_cols < XBAR_CALIBRATION_DIM ? x->tile_cols : XBAR_CALIBRATION_DIM;
    s->cap_rows = calibrate && cal_rows > s->max_rows ? cal_rows : s->max_rows;
    s->ref_row = calloc((size_t)s->cap_rows + 1, sizeof *s->ref_row);
    s->now_row = calloc((size_t)s->cap_rows + 1, sizeof *s->now_row);
    if (!s->ref_row || !s->now_row) {
        xbar_sim_free(s);
        return uh_error_set(err, UH_ENOMEM, "out of memory");
    }
    s->log_t = x->t_eval > x->t0 ? log(x->t_eval / x->t0) : 0;
    double ratio = (x->t_eval + x->t_read) / (2 * x->t_read);
    s->read_t = ratio > 1 ? sqrt(log(ratio)) : 0;
    if (calibrate) {
        /* eval_weights on layer 0 records its w_max; training overwrites it before use */
        int rc = hw_calibrate_weight_noise(eval_weights, s, 0, cal_rows, cal_cols,
                                           XBAR_CALIBRATION_SAMPLES, XBAR_CALIBRATION_SEED,
                                           HW_SCALE_MAX, &s->train_sigma, err);
        if (rc) {
            xbar_sim_free(s);
            return rc;
        }
    } else if (mode == UH_SIM_TRAIN) {
        s->train_sigma = (float)(x->noise_scale * x->train_weight_noise);
    }
    if (mode == UH_SIM_EVAL) {
        hook->perturb_weights = eval_weights;
        if (outputs || x->noise_scale * x->output_noise > 0 || x->out_bound > 0)
            hook->perturb_outputs = eval_outputs;
    } else {
        int weights = s->train_sigma > 0;
        outputs |= x->noise_scale * x->train_output_noise > 0;
        /* train_weights also records w_max, which the output noise needs */
        if (weights || outputs) hook->perturb_weights = train_weights;
        if (outputs) hook->perturb_outputs = train_outputs;
    }
    hook->ctx = s;
    *sim = s;
    return UH_OK;
}

/* ---- the programming file (docs/programming.md) ------------------------------------- */

/* One tile's devices, G⁺ or G⁻ (sign +1 or −1) in µS, [input][output]: the device of the
 * weight's sign at G_max·|w|/max|W|, the other at 0 (as the simulation programs them). */
static cJSON *tile_devices(const float *W, int n_in, int j0, int i0, int rows, int cols,
                           double to_g, int sign) {
    cJSON *t = cJSON_CreateArray();
    double *g = malloc(((size_t)cols + 1) * sizeof *g);
    for (int j = 0; t && g && j < rows; j++) {
        for (int i = 0; i < cols; i++) {
            double w = W[(size_t)(i0 + i) * n_in + j0 + j];
            g[i] = sign * w > 0 ? fabs(w) * to_g : 0;
        }
        cJSON_AddItemToArray(t, hw_json_exact_array(g, cols));
    }
    free(g);
    return t;
}

/* A layer's tiles: inputs on a tile's rows, outputs on its columns. */
static int xbar_program_layer(const void *state, const uh_layer_t *l, const hw_mvm_t *m,
                              const float *W, cJSON *layer, uh_error_t *err) {
    const xbar_t *x = state;
    int R, C;
    layer_tile(x, l, &R, &C);
    float wmax = hw_max_abs(W, (size_t)m->rows * m->cols);
    double to_g = wmax > 0 ? x->g_max / wmax : 0;
    cJSON_AddNumberToObject(layer, "outputs", m->rows);
    cJSON_AddNumberToObject(layer, "inputs", m->cols);
    cJSON_AddNumberToObject(layer, "tile_rows", R);
    cJSON_AddNumberToObject(layer, "tile_cols", C);
    cJSON_AddItemToObject(layer, "weight_per_us", hw_json_exact(wmax > 0 ? wmax / x->g_max : 0, 0));
    cJSON *tiles = cJSON_AddArrayToObject(layer, "tiles");
    if (!tiles) return uh_error_set(err, UH_ENOMEM, "out of memory");
    for (int j0 = 0; j0 < m->cols; j0 += R)
        for (int i0 = 0; i0 < m->rows; i0 += C) {
            int rows = m->cols - j0 < R ? m->cols - j0 : R;
            int cols = m->rows - i0 < C ? m->rows - i0 : C;
            cJSON *t = cJSON_CreateObject();
            if (!t || !cJSON_AddItemToArray(tiles, t)) {
                cJSON_Delete(t);
                return uh_error_set(err, UH_ENOMEM, "out of memory");
            }
            cJSON_AddNumberToObject(t, "input", j0);
            cJSON_AddNumberToObject(t, "output", i0);
            cJSON_AddNumberToObject(t, "inputs", rows);
            cJSON_AddNumberToObject(t, "outputs", cols);
            cJSON_AddItemToObject(t, "g_plus",
                                  tile_devices(W, m->cols, j0, i0, rows, cols, to_g, 1));
            cJSON_AddItemToObject(t, "g_minus",
                                  tile_devices(W, m->cols, j0, i0, rows, cols, to_g, -1));
        }
    return UH_OK;
}

static int xbar_program(const void *state, const uh_arch_t *arch, const float *weights, char **json,
                        uh_error_t *err) {
    const xbar_t *x = state;
    cJSON *root = hw_program_root("uhnas-crossbar-conductances");
    if (!root) return uh_error_set(err, UH_ENOMEM, "out of memory");
    cJSON_AddItemToObject(root, "g_max_us", hw_json_exact(x->g_max, 0));
    return hw_program_write(root, x, arch, weights, xbar_program_layer, json, err);
}

const uh_backend_model_t uh_model_crossbar = {
    .name = "crossbar",
    .load = xbar_load,
    .free = xbar_free,
    .energy = xbar_energy,
    .check = xbar_check,
    .precision = xbar_precision,
    .pj_per_mac = xbar_pj_per_mac,
    .sim_new = xbar_sim_new,
    .sim_free = xbar_sim_free,
    .program_format = "crossbar-conductances",
    .program = xbar_program,
};
