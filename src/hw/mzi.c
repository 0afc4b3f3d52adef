/* The optical MZI-mesh model: weight matrices on Clements (or Reck) meshes.
 *
 * Mapping. A dense or conv layer's weight matrix W (outputs × inputs; conv through im2col, one
 * optical pass per output position) is cut into blocks of at most k×k, k = the layer's "tile"
 * or the file's default. Each block B (mb × nb) is W's SVD B = U Σ Vᵀ on hardware: Vᵀ on an
 * nb-port mesh, Σ/σ_max on a column of MZI attenuators (transmission cos θ_i, θ_i =
 * acos(σ_i/σ_max), physical phase 2θ_i), U on an mb-port mesh; σ_max and the calibrated mesh
 * loss are undone electronically after detection. Inputs are real, signed field amplitudes (a
 * push-pull modulator); outputs are read by balanced homodyne detection of the in-phase
 * quadrature against a local oscillator (LO) split from the same laser, so a block computes
 * Re(U_hw Σ_hw V_hw) x. The input blocks' partial sums are added digitally after their ADCs.
 *
 * The chip is a budget of chip_mzis MZIs, arranged as U-Σ-V units of the block size each layer
 * asks for (a unit of k ports: 2·k(k−1)/2 mesh MZIs + k attenuators). Two schedules:
 *   time-multiplexed  (Shen et al., Nat. Photon. 11, 441 (2017); Lightening-Transformer, Zhu
 *                     et al., HPCA 2024): a layer runs ⌊chip_mzis / unit(k)⌋ blocks at once;
 *                     its blocks are loaded in R = ⌈blocks / that⌉ rounds, each round
 *                     reprogrammed (the shifters settle for t_s = reprogram_us) and then run
 *                     for a whole batch of b inputs. Shifters hold only while their block runs.
 *   weight-stationary every block has its own unit, programmed once; all shifters hold all the
 *                     time, inputs stream through the layers as a pipeline whose rate the
 *                     slowest layer sets. The whole network must fit in chip_mzis.
 * A weight-stationary file may "replicate": "fill": the slow layers (conv layers, many passes)
 * get copies that split their passes, down to the shortest pipeline period whose copies still
 * fit in chip_mzis; copies cost area and holding power, and shorten the time every shifter
 * holds per inference.
 * A block that does not fit the chip, or a weight-stationary network that does not, is a
 * constraint violation (never trained).
 *
 * Precision is a hardware gene: a layer's "bits" (else the file's adc_bits) is the resolution
 * of its input DACs and output ADCs, so it sets their energy (Walden figure of merit: energy per
 * conversion ∝ 2^bits, Murmann's ADC survey), the ADC rounding in simulation, and the receiver
 * noise the laser must buy.
 *
 * Link budget (one model for the laser's energy and the simulated detector noise). At b output
 * bits the receiver noise is σ_rel = receiver_noise_lsb / (2^(b−1) − 1) of a block's full
 * scale. Balanced homodyne with LO power P_LO per receiver and full-scale signal P_s: signal
 * current 2R·sqrt(P_LO·P_s), noise variance (2q·R·P_LO + i_n²)·B (LO shot noise and the TIA's
 * input noise density i_n, bandwidth B = f/2), so
 *   P_s = q·B / (2R·σ²) + i_n²·B / (4R²·P_LO·σ²),
 * and P_LO is chosen to minimise P_s + P_LO: P_LO = i_n·sqrt(B) / (2R·σ). A full-scale output
 * is the power of one full-scale input, so the laser feeds nb modulators with P_s through the
 * signal path's loss and mb LOs through the couplers:
 *   P_laser = [nb·P_s·10^(L_sig/10) + mb·P_LO·10^(L_LO/10)] / η,
 *   L_sig = modulator_loss_db + il_db·(depth(nb) + depth(mb) + 1) + coupling_loss_db,
 *   L_LO = coupling_loss_db (assumed: the LO is tapped at the input coupler, routed beside
 *   the mesh). depth(n) is the mesh's stage count: n for Clements (1 at n = 2), 2n − 3 Reck.
 * The simulator adds exactly that σ_rel (Gaussian) at each block's own full scale.
 *
 * Energy per inference (pJ; uh_energy_add takes nJ), per dense/conv layer with n_in inputs,
 * n_out outputs, P passes, f = clock, rt = ⌈n_in/k⌉ input blocks, ct = ⌈n_out/k⌉ output
 * blocks, b = the layer's bits, s(b) = 2^(b − adc_bits) (the converters' figures are quoted at
 * the file's adc_bits), S_blk = a block's phase shifters (θ and φ per mesh MZI, one per
 * attenuator, both output phase screens), P_hold = P_π/2 per shifter (the mean of a phase
 * uniform over [0, π]: a lower bound, fabrication offsets push it toward P_π):
 *   dac        = P · n_in · ct · dac_pj · s(b)        (every block re-encodes its inputs)
 *   modulator  = P · n_in · ct · modulator_pj
 *   adc        = P · n_out · rt · adc_pj · s(b)       (every block's outputs are converted)
 *   pd_tia     = P · n_out · rt · (pd_mw + tia_mw) / f
 *   laser      = P · Σ_blocks P_laser(mb, nb, b) / f
 *   heater     = Σ_blocks S_blk · P_hold · T_hold,  T_hold = P / f (time-multiplexed: only
 *                while the block runs) or max_layers(P) / f (weight-stationary: the pipeline's
 *                period, every block holds all the time)
 *   reprogram  = Σ_blocks S_blk · P_hold · t_s / batch    (time-multiplexed: settling, shared
 *                by the batch)
 *   accumulate = P · n_out · (rt − 1) · accumulate_pj
 *   activation = outputs with an activation · activation_pj (detect → digital → re-modulate:
 *                the ADC and DAC are counted above), pool = window reads · pool_pj.
 * io_layout "optical" (Lightening-Transformer, Zhu et al., HPCA 2024; TeMPO, Zhu et al. 2024):
 * an input is modulated once and fanned out optically to its ct blocks (dac and modulator
 * lose the ct), and the rt blocks' photocurrents of an output are summed in analog on one TIA
 * and ADC (adc and tia lose the rt, the photodetectors keep it, no digital accumulate; the
 * simulation reads one conversion at the sum's full scale). The laser is unchanged: each block
 * still receives its own light.
 * Latency of a batch of b inputs: Σ_layers R · (t_s + b · P / f) (time-multiplexed), or
 * Σ_layers P / f + (b − 1) · max_layers(P) / f (weight-stationary). Area: MZIs · mzi_area +
 * per unit's inputs (modulator + DAC) and outputs (ADC, receiver), over the units the busiest
 * layer uses at once (time-multiplexed) or over every block (weight-stationary).
 *
 * Simulation, UH_SIM_EVAL: one hardware sample per uh_net_evaluate call. A layer's blocks are
 * decomposed once per weight matrix (cached by checksum: Monte-Carlo samples reuse it, and
 * without coupler correction the meshes are cached programmed: calibration, phase DAC and
 * crosstalk draw nothing) and each sample realizes every mesh with the file's non-idealities
 * (uh_mesh_realize_into: coupler imbalance, calibration, phase DAC, crosstalk, phase error,
 * insertion loss and its spread); the attenuators get the same phase DAC, phase error and loss on
 * their physical phase. The effective weights replace W for that evaluation: a block's U_hw Σ_hw
 * V_hw is built by applying U_hw's rotations to the rows of Σ_hw V_hw (no dense product), and the
 * whole evaluation set then runs through those weights. Calibration (mesh.h, step 2),
 * each part off by default: coupler_correction "measured" reprograms every mesh MZI for its
 * measured couplers α̂ = α(1 − coupler_model_error) — θ for the target splitting, φ and the
 * later shifters for the phases the imbalance adds (local correction, Bandyopadhyay et al.,
 * Optica 8, 1247 (2021); Hamerly et al., Phys. Rev. Applied 18, 024019 (2022)), a splitting
 * out of reach by UH_COUPLER_IN_PHASE (the weights are real and read in phase); then
 * crosstalk_compensation "measured" programs (I + K̂)⁻¹ p with K̂ = κ(1 − e),
 * e = crosstalk_model_error (Milanizadeh et al., JLT 37, 1325 (2019)). A model error of 1 is
 * the uncalibrated chip exactly (the attenuators have no coupler errors in this model).
 * Outputs: each of the rt conversions summed into an output is rounded to b bits of its
 * block's full scale and gets the receiver noise σ_rel of that full scale
 * (hw_convert_blocks). DAC rounding of inputs is the training engine's fake quantisation of a
 * layer with "bits"; images are 8-bit already.
 *
 * UH_SIM_TRAIN, two methods (the file's train_noise); both put the same ADC and receiver noise
 * on the outputs as EVAL.
 *   "gaussian" (default): a statistical stand-in, cheap enough for every batch: w += N(0, (σ_w ·
 *     RMS(W))²), where σ_w is calibrated once per tile size at sim creation by running the full
 *     EVAL physics on a seeded Gaussian k×k matrix (RMS error of a few samples ÷ RMS(W), see
 *     hw_calibrate_weight_noise). RMS(W), not max|W|: a block's error follows its own largest
 *     singular value (the meshes' scale), which tracks the weights' RMS; a large trained
 *     layer's max |w| is many times its RMS and would over-state the noise. An independent
 *     Gaussian per weight cannot show systematic errors (residual crosstalk, coupler
 *     imbalance, loss spread, the phase DAC's rounding of *these* phases).
 *   "sampled": training through sampled hardware. On a layer's first perturb_weights call and
 *     every train_redecompose_steps (N) calls after, its current weights W_m are mapped onto
 *     meshes exactly as EVAL maps them (map_layer: SVD, Clements/Reck decomposition of every
 *     block) and train_chips (K) hardware samples are realised (sample_layer); the sim keeps
 *     E_k = W_hw,k − W_m, k < K, and frees the meshes. Every call adds one E_k (k drawn from the
 *     call's stream) to the forward copy of the weights: forward on hardware-like weights, the
 *     gradient straight through to W (the engine's straight-through estimator). Between
 *     re-decompositions E_k is that of the weights at mapping time (the stale-error
 *     approximation of L2ight-style training; N trades fidelity for the mapping's cost).
 *     Memory: K · rows · cols floats per layer (K ≤ UH_MZI_MAX_TRAIN_CHIPS = 16). Chip k's blocks
 *     draw streams from (seed of the call, k): deterministic for a given seed, independent of
 *     the thread count. The sim carries the per-layer call counts: one sim per training run. */
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"
#include "model.h"
#include "uhnas/mesh.h"

enum { MESH_CLEMENTS, MESH_RECK };
enum { MAP_TIME_MULTIPLEXED, MAP_WEIGHT_STATIONARY };
enum { IO_ELECTRONIC, IO_OPTICAL };
enum { REPLICATE_NONE, REPLICATE_FILL };

/* Physical constants (CODATA 2018, exact in the SI). */
#define ELEMENTARY_CHARGE_C 1.602176634e-19

typedef struct {
    int mesh_kind;
    int tile; /* default block size k */
    uh_mesh_noise_t noise;
    int adc_bits; /* default converter resolution; dac_pj and adc_pj are quoted at it */
    /* mapping */
    int mapping, io_layout, replicate;
    double chip_mzis, batch, reprogram_us;
    /* link budget */
    double receiver_noise_lsb, responsivity_a_per_w, tia_noise_pa_per_rthz;
    double laser_efficiency, modulator_loss_db, coupling_loss_db;
    /* energy */
    double clock_ghz;
    double dac_pj, modulator_pj, adc_pj, pd_mw, tia_mw;
    double heater_p_pi_mw;
    double accumulate_pj, activation_pj, pool_pj;
    /* area */
    double mzi_area_mm2, input_area_mm2, output_area_mm2;
    /* noise-aware training (UH_SIM_TRAIN) */
    int train_noise;       /* TRAIN_GAUSSIAN or TRAIN_SAMPLED */
    int train_chips;       /* K hardware samples held per layer (sampled) */
    int train_redecompose; /* N: perturb_weights calls between mappings (sampled) */
} mzi_t;

enum { TRAIN_GAUSSIAN, TRAIN_SAMPLED };
/* Sampled training holds K error matrices per layer: K is capped to bound the memory. */

static const char *const MESH_KINDS[] = {"clements", "reck", NULL};
static const char *const MAPPINGS[] = {"time-multiplexed", "weight-stationary", NULL};
static const char *const IO_LAYOUTS[] = {"electronic", "optical", NULL};
static const char *const REPLICATE[] = {"none", "fill", NULL};
static const char *const LOSS_BALANCE[] = {"none", "dummies", NULL};
static const char *const COMPENSATION[] = {"none", "measured", NULL};
static const char *const TRAIN_NOISE[] = {"gaussian", "sampled", NULL};

/* ---- loading ------------------------------------------------------------------------ */

/* Keys of the first model, refused with the reason instead of "unknown key". */
static int refuse_retired(const cJSON *p, uh_error_t *err) {
    static const char *const retired[] = {"detector_noise", "detector_sensitivity_dbm",
                                          "laser_extra_bits"};
    for (size_t i = 0; i < sizeof retired / sizeof retired[0]; i++)
        if (cJSON_GetObjectItemCaseSensitive(p, retired[i]))
            return uh_error_set(err, UH_EINVAL,
                                "params.%s: no longer used: the laser and the detector noise "
                                "come from one link budget (receiver_noise_lsb, "
                                "tia_noise_pa_per_rthz; see docs/backends-mzi.md)",
                                retired[i]);
    return UH_OK;
}

#define NUM(key, m, req, lo, hi, dflt) UH_JSON_ROW(key, UH_JSON_NUMBER, mzi_t, m, req, lo, hi, dflt)
#define INT(key, m, req, lo, hi, dflt) UH_JSON_ROW(key, UH_JSON_INT, mzi_t, m, req, lo, hi, dflt)
#define CHOICE(key, m, req, dflt, names)                                                           \
    { key, UH_JSON_CHOICE, offsetof(mzi_t, m), req, 0, 0, dflt, .choices = names }
/* The params: key, member, required, range, default. */
static const uh_json_field_t FIELDS[] = {
    /* meshes */
    CHOICE("mesh", mesh_kind, 0, MESH_CLEMENTS, MESH_KINDS),
    INT("tile", tile, 1, 2, 256, 0),
    INT("phase_bits", noise.phase_bits, 0, 0, UH_MESH_MAX_PHASE_BITS, 0),
    NUM("sigma_phase_rad", noise.sigma_phase, 0, 0, 3.2, 0),
    NUM("sigma_bs_rad", noise.sigma_bs, 0, 0, 0.8, 0),
    /* calibration of crosstalk and couplers */
    NUM("crosstalk", noise.crosstalk, 0, 0, 1, 0),
    CHOICE("crosstalk_compensation", noise.crosstalk_compensated, 0, 0, COMPENSATION),
    NUM("crosstalk_model_error", noise.crosstalk_model_error, 0, 0, 1, 0),
    CHOICE("coupler_correction", noise.coupler_corrected, 0, 0, COMPENSATION),
    NUM("coupler_model_error", noise.coupler_model_error, 0, 0, 1, 0),
    /* insertion loss */
    NUM("il_db", noise.il_db, 0, 0, 10, 0),
    NUM("sigma_il_db", noise.sigma_il_db, 0, 0, 10, 0),
    CHOICE("loss_balance", noise.il_balanced, 0, 1, LOSS_BALANCE),
    /* mapping onto the chip */
    CHOICE("mapping", mapping, 0, MAP_TIME_MULTIPLEXED, MAPPINGS),
    CHOICE("io_layout", io_layout, 0, IO_ELECTRONIC, IO_LAYOUTS),
    CHOICE("replicate", replicate, 0, REPLICATE_NONE, REPLICATE),
    NUM("chip_mzis", chip_mzis, 0, 1, 1e9, 1e9),
    NUM("batch", batch, 0, 1, 1e6, 1),
    /* receiver */
    NUM("receiver_noise_lsb", receiver_noise_lsb, 0, 0, 1e3, 0),
    INT("adc_bits", adc_bits, 0, 0, 16, 0),
    NUM("pd_responsivity_a_per_w", responsivity_a_per_w, 0, 0.01, 2, 1),
    NUM("tia_noise_pa_per_rthz", tia_noise_pa_per_rthz, 0, 0, 1e4, 0),
    /* light */
    NUM("laser_wallplug_efficiency", laser_efficiency, 1, 1e-3, 1, 0),
    NUM("modulator_loss_db", modulator_loss_db, 0, 0, 60, 0),
    NUM("coupling_loss_db", coupling_loss_db, 0, 0, 60, 0),
    /* energy per conversion, at clock_ghz */
    NUM("clock_ghz", clock_ghz, 1, 1e-3, 1e3, 0),
    NUM("dac_pj", dac_pj, 1, 0, 1e6, 0),
    NUM("modulator_pj", modulator_pj, 1, 0, 1e6, 0),
    NUM("adc_pj", adc_pj, 1, 0, 1e6, 0),
    /* power */
    NUM("pd_mw", pd_mw, 1, 0, 1e4, 0),
    NUM("tia_mw", tia_mw, 1, 0, 1e4, 0),
    NUM("heater_p_pi_mw", heater_p_pi_mw, 1, 0, 1e3, 0),
    /* digital work */
    NUM("accumulate_pj", accumulate_pj, 0, 0, 1e6, 0),
    NUM("activation_pj", activation_pj, 0, 0, 1e6, 0),
    NUM("pool_pj", pool_pj, 0, 0, 1e6, 0),
    /* time and area */
    NUM("reprogram_us", reprogram_us, 0, 0, 1e6, 0),
    NUM("mzi_area_mm2", mzi_area_mm2, 0, 0, 1e3, 0),
    NUM("input_area_mm2", input_area_mm2, 0, 0, 1e3, 0),
    NUM("output_area_mm2", output_area_mm2, 0, 0, 1e3, 0),
    /* noise-aware training */
    CHOICE("train_noise", train_noise, 0, TRAIN_GAUSSIAN, TRAIN_NOISE),
    INT("train_chips", train_chips, 0, 1, UH_MZI_MAX_TRAIN_CHIPS, 4),
    INT("train_redecompose_steps", train_redecompose, 0, 1, 1000000, 50),
    {NULL}};

static int mzi_load(const void *params, void **state, uh_error_t *err) {
    int rc = refuse_retired(params, err);
    if (rc) return rc;
    mzi_t *z = calloc(1, sizeof *z);
    if (!z) return uh_error_set(err, UH_ENOMEM, "out of memory");
    if ((rc = uh_json_read(params, "params", FIELDS, z, UH_JSON_SOURCED, err))) {
        free(z);
        return rc;
    }
    if (z->receiver_noise_lsb > 0 && z->adc_bits < 2) {
        int bits = z->adc_bits;
        free(z);
        return uh_error_set(err, UH_EINVAL,
                            "params.adc_bits: the link budget (receiver_noise_lsb) needs a "
                            "converter of at least 2 bits, got %d",
                            bits);
    }
    /* the file's "measured" is the in-phase rule */
    if (z->noise.coupler_corrected) z->noise.coupler_corrected = UH_COUPLER_IN_PHASE;
    *state = z;
    return UH_OK;
}

static void mzi_free(void *state) {
    free(state);
}

/* ---- geometry ----------------------------------------------------------------------- */

static long ceil_div(long a, long b) {
    return (a + b - 1) / b;
}

static int layer_tile(const mzi_t *z, const uh_layer_t *l) {
    return l->tile > 0 ? l->tile : z->tile;
}

/* Stages and MZIs of an n-port mesh (see uhnas/mesh.h). */
static int mesh_depth(const mzi_t *z, int n) {
    if (n < 2) return 0;
    if (n == 2) return 1;
    return z->mesh_kind == MESH_RECK ? 2 * n - 3 : n;
}

static long mesh_mzis(int n) {
    return (long)n * (n - 1) / 2;
}

/* MZIs of an mb × nb block: both meshes and the attenuator column. */
static long block_mzis(int mb, int nb) {
    return mesh_mzis(mb) + mesh_mzis(nb) + (mb < nb ? mb : nb);
}

/* Phase shifters of one mb × nb block: θ and φ per mesh MZI, one per attenuator, the two
 * output phase screens. */
static long block_shifters(int mb, int nb) {
    return 2 * (mesh_mzis(mb) + mesh_mzis(nb)) + (mb < nb ? mb : nb) + mb + nb;
}

/* Area of an mb × nb unit: its MZIs, a modulator and DAC per input, a receiver and ADC per
 * output. */
static double block_area_mm2(const mzi_t *z, int mb, int nb) {
    return (double)block_mzis(mb, nb) * z->mzi_area_mm2 + nb * z->input_area_mm2 +
           mb * z->output_area_mm2;
}

/* ---- link budget -------------------------------------------------------------------- */

/* The receiver noise a b-bit readout is sized for, as a fraction of full scale (0: an ideal
 * receiver, noiseless and not priced). */
static double receiver_sigma(const mzi_t *z, int bits) {
    if (!(z->receiver_noise_lsb > 0) || bits < 2) return 0;
    return z->receiver_noise_lsb / (double)((1L << (bits - 1)) - 1);
}

/* Full-scale signal and LO power per receiver, W, for noise sigma (see the header). */
static void receiver_powers(const mzi_t *z, double sigma, double *p_signal_w, double *p_lo_w) {
    double r = z->responsivity_a_per_w, bw = z->clock_ghz * 1e9 / 2;
    double in = z->tia_noise_pa_per_rthz * 1e-12;
    double lo = in * sqrt(bw) / (2 * r * sigma);
    *p_lo_w = lo;
    *p_signal_w = ELEMENTARY_CHARGE_C * bw / (2 * r * sigma * sigma) +
                  (lo > 0 ? in * in * bw / (4 * r * r * lo * sigma * sigma) : 0);
}

/* Laser energy of one pass of an mb × nb block at b bits, pJ (0 for an ideal receiver). */
static double block_laser_pj(const mzi_t *z, int mb, int nb, int bits) {
    double sigma = receiver_sigma(z, bits);
    if (!(sigma > 0)) return 0;
    double p_sig, p_lo;
    receiver_powers(z, sigma, &p_sig, &p_lo);
    double l_sig = z->modulator_loss_db +
                   z->noise.il_db * (mesh_depth(z, nb) + mesh_depth(z, mb) + 1) +
                   z->coupling_loss_db;
    double optical_w =
        nb * p_sig * pow(10, l_sig / 10) + mb * p_lo * pow(10, z->coupling_loss_db / 10);
    return optical_w / z->laser_efficiency / (z->clock_ghz * 1e9) * 1e12;
}

/* ---- the schedule ------------------------------------------------------------------- */

/* Calls fn for each block of an n_out × n_in matrix cut at k: (r0, c0, mb, nb). The last row
 * and column of blocks may be smaller. */
typedef void (*block_fn)(void *ctx, int r0, int c0, int mb, int nb);
static void for_each_block(int n_out, int n_in, int k, block_fn fn, void *ctx) {
    for (int r0 = 0; r0 < n_out; r0 += k)
        for (int c0 = 0; c0 < n_in; c0 += k)
            fn(ctx, r0, c0, n_out - r0 < k ? n_out - r0 : k, n_in - c0 < k ? n_in - c0 : k);
}

/* One dense/conv layer on the chip. */
typedef struct {
    hw_mvm_t m;
    int k, bits;
    long blocks;
    long unit_mzis;  /* the layer's largest block (what the chip must hold at least once) */
    long at_once;    /* time-multiplexed: units the chip runs at once */
    long rounds;     /* time-multiplexed: ⌈blocks / at_once⌉ */
    double laser_pj; /* Σ blocks, one pass */
    double shifters; /* Σ blocks */
    double mzis;     /* Σ blocks, at their own sizes */
    double area_mm2; /* Σ blocks, at their own sizes */
    const mzi_t *z;
} layer_plan_t;

static void plan_block(void *ctx, int r0, int c0, int mb, int nb) {
    (void)r0, (void)c0;
    layer_plan_t *p = ctx;
    p->laser_pj += block_laser_pj(p->z, mb, nb, p->bits);
    p->shifters += (double)block_shifters(mb, nb);
    p->mzis += (double)block_mzis(mb, nb);
    p->area_mm2 += block_area_mm2(p->z, mb, nb);
}

/* 1 and fills p when layer i is a dense/conv layer. */
static int plan_layer(const mzi_t *z, const uh_arch_t *arch, int i, layer_plan_t *p) {
    memset(p, 0, sizeof *p);
    if (!hw_layer_mvm(arch, i, &p->m)) return 0;
    p->z = z;
    p->k = layer_tile(z, &arch->layers[i]);
    p->bits = hw_layer_bits(&arch->layers[i], z->adc_bits);
    p->blocks = ceil_div(p->m.rows, p->k) * ceil_div(p->m.cols, p->k);
    p->unit_mzis =
        block_mzis(p->m.rows < p->k ? p->m.rows : p->k, p->m.cols < p->k ? p->m.cols : p->k);
    p->at_once = (long)(z->chip_mzis / (double)p->unit_mzis);
    if (p->at_once > p->blocks) p->at_once = p->blocks;
    p->rounds = p->at_once > 0 ? ceil_div(p->blocks, p->at_once) : 0;
    for_each_block(p->m.rows, p->m.cols, p->k, plan_block, p);
    return 1;
}

/* MZIs of a weight-stationary network whose layer i has ceil(P_i / period) copies. */
static double ws_mzis(const layer_plan_t *lp, int n, long period) {
    double total = 0;
    for (int i = 0; i < n; i++)
        if (lp[i].blocks) total += (double)ceil_div(lp[i].m.passes, period) * lp[i].mzis;
    return total;
}

/* The weight-stationary pipeline: copies of each layer and the period in passes. Without
 * replication every layer has one copy and the slowest layer sets the period; with "fill" the
 * slow layers are copied (the passes split between the copies) to the shortest period whose
 * copies still fit in chip_mzis: the total falls as the period grows, so it is found by
 * bisection. A network that does not fit once keeps one copy per layer (a violation). */
static long ws_schedule(const mzi_t *z, const layer_plan_t *lp, int n, long *copies) {
    long slowest = 1;
    for (int i = 0; i < n; i++)
        if (lp[i].blocks && lp[i].m.passes > slowest) slowest = lp[i].m.passes;
    long period = slowest;
    if (z->replicate == REPLICATE_FILL && ws_mzis(lp, n, slowest) <= z->chip_mzis) {
        long lo = 1, hi = slowest; /* ws_mzis(hi) fits; find the smallest period that does */
        while (lo < hi) {
            long mid = lo + (hi - lo) / 2;
            if (ws_mzis(lp, n, mid) <= z->chip_mzis)
                hi = mid;
            else
                lo = mid + 1;
        }
        period = lo;
    }
    long longest = 1;
    for (int i = 0; i < n; i++) {
        copies[i] = lp[i].blocks ? ceil_div(lp[i].m.passes, period) : 0;
        if (copies[i] && ceil_div(lp[i].m.passes, copies[i]) > longest)
            longest = ceil_div(lp[i].m.passes, copies[i]);
    }
    return longest;
}

static int mzi_energy(const void *state, const uh_arch_t *arch, uh_energy_t *e, uh_error_t *err) {
    (void)err;
    const mzi_t *z = state;
    int stationary = z->mapping == MAP_WEIGHT_STATIONARY;
    layer_plan_t plans[UH_ARCH_MAX_LAYERS];
    long copies[UH_ARCH_MAX_LAYERS];
    for (int i = 0; i < arch->n_layers; i++) plan_layer(z, arch, i, &plans[i]);
    double period_ns = (double)ws_schedule(z, plans, arch->n_layers, copies) / z->clock_ghz;
    double hold_mw = z->heater_p_pi_mw / 2, settle_ns = z->reprogram_us * 1e3;
    double latency_ns = 0, busiest_area = 0, busiest_mzis = 0, busiest_shifters = 0;
    long busiest_units = 0;
    uh_footprint_t *fp = &e->footprint;
    for (int i = 0; i < arch->n_layers; i++) {
        const layer_plan_t lp = plans[i];
        if (lp.blocks) {
            double n_in = lp.m.cols, n_out = lp.m.rows, P = (double)lp.m.passes;
            double rt = (double)ceil_div(lp.m.cols, lp.k), ct = (double)ceil_div(lp.m.rows, lp.k);
            double scale = hw_converter_scale(lp.bits, z->adc_bits);
            double pass_ns = P / z->clock_ghz;
            /* optical I/O: an input is encoded once and fanned out to its ct blocks; the rt
             * blocks' photocurrents of an output are summed on one TIA and ADC */
            int optical = z->io_layout == IO_OPTICAL;
            double encodes = optical ? 1 : ct, conversions = optical ? 1 : rt;
            uh_energy_add(e, i, "dac", P * n_in * encodes * z->dac_pj * scale * 1e-3);
            uh_energy_add(e, i, "modulator", P * n_in * encodes * z->modulator_pj * 1e-3);
            uh_energy_add(e, i, "adc", P * n_out * conversions * z->adc_pj * scale * 1e-3);
            uh_energy_add(e, i, "pd_tia",
                          P * n_out * (rt * z->pd_mw + conversions * z->tia_mw) / z->clock_ghz *
                              1e-3);
            if (lp.laser_pj > 0) uh_energy_add(e, i, "laser", P * lp.laser_pj * 1e-3);
            double held = stationary ? (double)copies[i] * lp.shifters : lp.shifters;
            if (hold_mw > 0) /* mW · ns = pJ */
                uh_energy_add(e, i, "heater",
                              held * hold_mw * (stationary ? period_ns : pass_ns) * 1e-3);
            if (!stationary && hold_mw > 0 && settle_ns > 0)
                uh_energy_add(e, i, "reprogram",
                              lp.shifters * hold_mw * settle_ns / z->batch * 1e-3);
            if (conversions > 1 && z->accumulate_pj > 0)
                uh_energy_add(e, i, "accumulate",
                              P * n_out * (conversions - 1) * z->accumulate_pj * 1e-3);
            if (stationary) {
                double c = (double)copies[i];
                latency_ns += (double)ceil_div(lp.m.passes, copies[i]) / z->clock_ghz;
                fp->tiles += copies[i] * lp.blocks;
                fp->mzis += (long)(c * lp.mzis);
                fp->devices += (long)(c * lp.shifters);
                fp->area_mm2 += c * lp.area_mm2;
            } else {
                latency_ns += (double)lp.rounds * (settle_ns + z->batch * pass_ns);
                /* the units the layer runs at once, each at most a full k × k unit */
                double share = lp.blocks > 0 ? (double)lp.at_once / (double)lp.blocks : 0;
                if (lp.at_once > busiest_units ||
                    (lp.at_once == busiest_units && lp.area_mm2 * share > busiest_area)) {
                    busiest_units = lp.at_once;
                    busiest_area = lp.area_mm2 * share;
                    busiest_mzis = lp.mzis * share;
                    busiest_shifters = lp.shifters * share;
                }
            }
        }
        long acts = hw_layer_activations(arch, i);
        if (acts && z->activation_pj > 0)
            uh_energy_add(e, i, "activation", (double)acts * z->activation_pj * 1e-3);
        long reads = hw_layer_pool_reads(arch, i);
        if (reads && z->pool_pj > 0) uh_energy_add(e, i, "pool", (double)reads * z->pool_pj * 1e-3);
    }
    if (stationary) {
        latency_ns += (z->batch - 1) * period_ns;
    } else {
        fp->tiles = busiest_units;
        fp->mzis = (long)llround(busiest_mzis);
        fp->devices = (long)llround(busiest_shifters);
        fp->area_mm2 = busiest_area;
    }
    e->latency_ns = latency_ns;
    return UH_OK;
}

/* One pass of a full default k×k block per MAC, what `uhnas backends` lists: the heaters held
 * for that pass (and, time-multiplexed, the block's share of its settling). */
static double mzi_pj_per_mac(const void *state) {
    const mzi_t *z = state;
    int k = z->tile;
    double hold_ns = 1 / z->clock_ghz;
    if (z->mapping == MAP_TIME_MULTIPLEXED) hold_ns += z->reprogram_us * 1e3 / z->batch;
    double per_pass = k * (z->dac_pj + z->modulator_pj) +
                      k * (z->adc_pj + (z->pd_mw + z->tia_mw) / z->clock_ghz) +
                      block_laser_pj(z, k, k, z->adc_bits) +
                      (double)block_shifters(k, k) * z->heater_p_pi_mw / 2 * hold_ns;
    return per_pass / ((double)k * k);
}

static void mzi_check(const void *state, const uh_arch_t *arch, uh_violations_t *v) {
    const mzi_t *z = state;
    double total_mzis = 0;
    for (int i = 0; i < arch->n_layers; i++) {
        const uh_layer_t *l = &arch->layers[i];
        if (l->tile > UH_MESH_MAX_N) {
            uh_violations_add(v, i + 1, "tile",
                              "tile %d is larger than the %d ports a mesh can have", l->tile,
                              UH_MESH_MAX_N);
            continue;
        }
        layer_plan_t lp;
        if (!plan_layer(z, arch, i, &lp)) continue;
        if ((double)lp.unit_mzis > z->chip_mzis)
            uh_violations_add(v, i + 1, "tile",
                              "one %dx%d block needs %ld MZIs; the chip has %.0f (chip_mzis)", lp.k,
                              lp.k, lp.unit_mzis, z->chip_mzis);
        total_mzis += lp.mzis;
    }
    if (z->mapping == MAP_WEIGHT_STATIONARY && total_mzis > z->chip_mzis)
        uh_violations_add(v, 0, "chip_mzis",
                          "weight-stationary: every block resident needs %.0f MZIs; the chip "
                          "has %.0f (chip_mzis)",
                          total_mzis, z->chip_mzis);
}

static void mzi_precision(const void *state, uh_precision_t *p) {
    const mzi_t *z = state;
    p->weight_bits = z->noise.phase_bits ? z->noise.phase_bits : 32;
    p->activation_bits = z->adc_bits ? z->adc_bits : 32;
    p->is_float = 0;
    snprintf(p->summary, sizeof p->summary, "%d-bit phase DACs, %d-bit ADC, %s meshes of %d ports",
             z->noise.phase_bits, z->adc_bits, MESH_KINDS[z->mesh_kind], z->tile);
}

/* ---- mapping a block onto meshes ----------------------------------------------------- */

typedef struct {
    int r0, c0, mb, nb;
    uh_mesh_t *u, *v; /* U (mb ports) and Vᵀ (nb ports), as real_to_mesh keeps them; NULL when
                         the block is all zero */
    double *theta;    /* min(mb, nb) attenuator angles, acos(σ_i / σ_max) */
    double scale;     /* σ_max / the meshes' calibrated loss */
} block_t;

static void block_clear(block_t *b) {
    uh_mesh_free(b->u);
    uh_mesh_free(b->v);
    free(b->theta);
    memset(b, 0, sizeof *b);
}

static int decompose(const mzi_t *z, const double complex *U, int n, uh_mesh_t **out,
                     uh_error_t *err) {
    return z->mesh_kind == MESH_RECK ? uh_mesh_decompose_reck(U, n, out, err)
                                     : uh_mesh_decompose_clements(U, n, out, err);
}

/* Without coupler correction the chip's programming (calibration, DACs, crosstalk) is the
 * same for every sample: the mesh is kept programmed (uh_mesh_program), and samples only draw. */
static int programmed_ahead(const mzi_t *z) {
    return !z->noise.coupler_corrected;
}

/* The mesh of the real orthogonal Q (n × n): decomposed, then programmed as the chip would be
 * when program_it (and the chip is programmed ahead: programmed_ahead). */
static int real_to_mesh(const mzi_t *z, const double *Q, int n, int program_it, uh_mesh_t **out,
                        uh_error_t *err) {
    double complex *C = malloc((size_t)n * n * sizeof *C);
    if (!C) return uh_error_set(err, UH_ENOMEM, "out of memory");
    for (size_t i = 0; i < (size_t)n * n; i++) C[i] = Q[i];
    uh_mesh_t *mesh;
    int rc = decompose(z, C, n, &mesh, err);
    free(C);
    if (rc || !program_it || !programmed_ahead(z)) {
        *out = rc ? NULL : mesh;
        return rc;
    }
    rc = uh_mesh_program(mesh, &z->noise, out, err);
    uh_mesh_free(mesh);
    return rc;
}

/* One hardware sample of a block's mesh (as real_to_mesh kept it) into dst. */
static int realize(const mzi_t *z, const uh_mesh_t *mesh, uh_rng_t *rng, uh_mesh_t *dst,
                   uh_error_t *err) {
    return programmed_ahead(z) ? uh_mesh_realize_programmed_into(mesh, &z->noise, rng, dst, err)
                               : uh_mesh_realize_into(mesh, &z->noise, rng, dst, err);
}

/* A block's factors: W's block (rows r0.., columns c0.., of W: rows × cols, row-major) =
 * U Σ Vᵀ, and the attenuator angles acos(σ_i / σ_max) into theta (min(mb, nb)). *smax 0: an
 * all-zero block (theta untouched). */
typedef struct {
    double *U, *S, *Vt;
} block_svd_t;

static void block_svd_free(block_svd_t *f) {
    free(f->U), free(f->S), free(f->Vt);
}

static int block_svd(const block_t *b, const float *W, int cols, block_svd_t *f, double *theta,
                     double *smax, uh_error_t *err) {
    int mb = b->mb, nb = b->nb, r = mb < nb ? mb : nb;
    double *B = malloc((size_t)mb * nb * sizeof *B);
    f->U = malloc((size_t)mb * mb * sizeof *f->U);
    f->S = malloc((size_t)r * sizeof *f->S);
    f->Vt = malloc((size_t)nb * nb * sizeof *f->Vt);
    int rc = B && f->U && f->S && f->Vt ? UH_OK : uh_error_set(err, UH_ENOMEM, "out of memory");
    for (int i = 0; !rc && i < mb; i++)
        for (int j = 0; j < nb; j++) B[i * nb + j] = W[(size_t)(b->r0 + i) * cols + b->c0 + j];
    if (!rc) rc = uh_svd(B, mb, nb, f->U, f->S, f->Vt, err);
    free(B);
    *smax = !rc && f->S[0] > 0 ? f->S[0] : 0;
    for (int i = 0; *smax > 0 && i < r; i++) {
        double t = f->S[i] / f->S[0];
        theta[i] = acos(t < 1 ? t : 1);
    }
    return rc;
}

/* Programs block b from W (rows × cols, row-major): SVD, both meshes, the attenuators. */
static int block_map(const mzi_t *z, block_t *b, const float *W, int cols, uh_error_t *err) {
    int r = b->mb < b->nb ? b->mb : b->nb;
    block_svd_t f = {0};
    double smax = 0;
    b->theta = malloc((size_t)r * sizeof *b->theta);
    int rc = b->theta ? block_svd(b, W, cols, &f, b->theta, &smax, err)
                      : uh_error_set(err, UH_ENOMEM, "out of memory");
    /* an all-zero block: no meshes, outputs 0 */
    if (!rc && smax > 0 && !(rc = real_to_mesh(z, f.U, b->mb, 1, &b->u, err)) &&
        !(rc = real_to_mesh(z, f.Vt, b->nb, 1, &b->v, err))) {
        /* The electronics undo the loss of a nominal path: both meshes and the attenuator. */
        double stages = mesh_depth(z, b->mb) + mesh_depth(z, b->nb) + 1;
        b->scale = smax / pow(10, -z->noise.il_db * stages / 20);
    }
    block_svd_free(&f);
    return rc;
}

/* One thread's working memory for block_sample, reused across its blocks: the realized
 * meshes (cloned again only when a block's size changes) and the matrices of a k×k block. */
typedef struct {
    uh_mesh_t *u, *v;
    double complex *V, *M; /* V_hw, then Σ·V_hw turned into U_hw·Σ·V_hw */
    double *t;             /* the attenuators' transmissions */
} sample_scratch_t;

static int scratch_new(sample_scratch_t *sc, int k, uh_error_t *err) {
    *sc = (sample_scratch_t){0};
    sc->V = malloc((size_t)k * k * sizeof *sc->V);
    sc->M = malloc((size_t)k * k * sizeof *sc->M);
    sc->t = malloc((size_t)k * sizeof *sc->t);
    if (sc->V && sc->M && sc->t) return UH_OK;
    return uh_error_set(err, UH_ENOMEM, "out of memory for a %dx%d block", k, k);
}

static void scratch_free(sample_scratch_t *sc) {
    uh_mesh_free(sc->u);
    uh_mesh_free(sc->v);
    free(sc->V);
    free(sc->M);
    free(sc->t);
}

/* *slot as a mesh of src's size, which uh_mesh_realize_into fills: kept when it is one. */
static int scratch_mesh(uh_mesh_t **slot, const uh_mesh_t *src, uh_error_t *err) {
    if (*slot && (*slot)->n == src->n && (*slot)->n_mzis == src->n_mzis) return UH_OK;
    uh_mesh_free(*slot);
    *slot = NULL;
    return uh_mesh_clone(src, slot, err);
}

/* One hardware sample of block b, written into W's block (rows × cols): Re(U_hw Σ_hw V_hw).
 * The draws from rng: U's realization, V's, then the attenuators. */
static int block_sample(const mzi_t *z, const block_t *b, uh_rng_t *rng, sample_scratch_t *sc,
                        float *W, int cols, uh_error_t *err) {
    int mb = b->mb, nb = b->nb, r = mb < nb ? mb : nb;
    if (!b->u) {
        for (int i = 0; i < mb; i++)
            memset(W + (size_t)(b->r0 + i) * cols + b->c0, 0, (size_t)nb * sizeof *W);
        return UH_OK;
    }
    const uh_mesh_noise_t *nz = &z->noise;
    int rc;
    if ((rc = scratch_mesh(&sc->u, b->u, err)) || (rc = scratch_mesh(&sc->v, b->v, err)) ||
        (rc = realize(z, b->u, rng, sc->u, err)) || (rc = realize(z, b->v, rng, sc->v, err)))
        return rc;
    /* The attenuator's physical phase is 2θ (transmission cos θ): the DAC's steps of
     * 2π/2^b and the phase error σ act on 2θ, so θ moves in steps of π/2^b with error σ/2. */
    double step = nz->phase_bits ? UH_PI / (double)(1L << nz->phase_bits) : 0;
    for (int i = 0; i < r; i++) {
        double th = b->theta[i];
        if (step > 0) th = round(th / step) * step;
        if (nz->sigma_phase > 0) th += 0.5 * nz->sigma_phase * uh_rng_normal(rng);
        double il = nz->il_db + (nz->sigma_il_db > 0 ? nz->sigma_il_db * uh_rng_normal(rng) : 0);
        sc->t[i] = cos(th) * pow(10, -(il > 0 ? il : 0) / 20);
    }
    /* Σ_hw (mb × nb, t on its diagonal) times V_hw: row q < r is t_q · row q of V_hw, the
     * rest zero. U_hw's rotations then act on those rows (uh_mesh_apply_rows): no mb×mb
     * matrix and no dense product. */
    uh_mesh_unitary(sc->v, sc->V);
    double complex *M = sc->M;
    for (int q = 0; q < r; q++)
        for (int j = 0; j < nb; j++) M[q * nb + j] = sc->t[q] * sc->V[q * nb + j];
    memset(M + (size_t)r * nb, 0, (size_t)(mb - r) * nb * sizeof *M);
    uh_mesh_apply_rows(sc->u, M, nb);
    for (int i = 0; i < mb; i++) {
        float *row = W + (size_t)(b->r0 + i) * cols + b->c0;
        for (int j = 0; j < nb; j++) row[j] = (float)(creal(M[i * nb + j]) * b->scale);
    }
    return UH_OK;
}

/* ---- the programming file (docs/programming.md) ------------------------------------- */

/* DAC code of a physical phase on a b-bit grid of 2π/2^b, wrapped into [0, 2^b). */
static double phase_code(double phase, int bits) {
    double levels = (double)(1L << bits), code = round(phase / (2 * UH_PI) * levels);
    return fmod(fmod(code, levels) + levels, levels);
}

/* A mesh: per MZI [mode, θ, φ] (with bits, then θ's code on 2θ's grid and φ's), the output
 * phases [δ] (and δ's code). */
static cJSON *mesh_json(const uh_mesh_t *m, int bits) {
    cJSON *o = cJSON_CreateObject();
    cJSON *mzis = cJSON_AddArrayToObject(o, "mzis"), *out = cJSON_AddArrayToObject(o, "output");
    cJSON_AddNumberToObject(o, "modes", m->n);
    for (int k = 0; mzis && k < m->n_mzis; k++) {
        const uh_mzi_t *t = &m->mzis[k];
        double row[5] = {t->m, t->theta, t->phi, phase_code(2 * t->theta, bits),
                         phase_code(t->phi, bits)};
        cJSON_AddItemToArray(mzis, hw_json_exact_array(row, bits ? 5 : 3));
    }
    for (int j = 0; out && j < m->n; j++) {
        double row[2] = {m->out_phase[j], phase_code(m->out_phase[j], bits)};
        cJSON_AddItemToArray(out, hw_json_exact_array(row, bits ? 2 : 1));
    }
    return o;
}

/* One block: U's and Vᵀ's meshes as decomposed (before any calibration), the attenuators
 * [θ, code of 2θ] and the electronic scale σ_max with the path-loss gain the electronics add. */
static int block_json(const mzi_t *z, const block_t *b, const float *W, int cols, cJSON *blocks,
                      uh_error_t *err) {
    int r = b->mb < b->nb ? b->mb : b->nb, bits = z->noise.phase_bits;
    double *theta = malloc((size_t)r * sizeof *theta), smax = 0;
    block_svd_t f = {0};
    uh_mesh_t *u = NULL, *v = NULL;
    int rc = theta ? block_svd(b, W, cols, &f, theta, &smax, err)
                   : uh_error_set(err, UH_ENOMEM, "out of memory");
    if (!rc && smax > 0 && !(rc = real_to_mesh(z, f.U, b->mb, 0, &u, err)))
        rc = real_to_mesh(z, f.Vt, b->nb, 0, &v, err);
    cJSON *o = rc ? NULL : cJSON_CreateObject();
    if (o) {
        cJSON_AddItemToArray(blocks, o);
        cJSON_AddNumberToObject(o, "row", b->r0);
        cJSON_AddNumberToObject(o, "col", b->c0);
        cJSON_AddNumberToObject(o, "rows", b->mb);
        cJSON_AddNumberToObject(o, "cols", b->nb);
        cJSON_AddItemToObject(o, "scale", hw_json_exact(smax, 0));
    }
    if (o && smax > 0) {
        double stages = mesh_depth(z, b->mb) + mesh_depth(z, b->nb) + 1;
        cJSON_AddItemToObject(o, "loss_gain",
                              hw_json_exact(pow(10, z->noise.il_db * stages / 20), 0));
        cJSON_AddItemToObject(o, "u", mesh_json(u, bits));
        cJSON_AddItemToObject(o, "v", mesh_json(v, bits));
        cJSON *att = cJSON_AddArrayToObject(o, "attenuators");
        for (int i = 0; att && i < r; i++) {
            double row[2] = {theta[i], phase_code(2 * theta[i], bits)};
            cJSON_AddItemToArray(att, hw_json_exact_array(row, bits ? 2 : 1));
        }
    }
    if (!rc && !o) rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    uh_mesh_free(u), uh_mesh_free(v);
    block_svd_free(&f);
    free(theta);
    return rc;
}

/* A layer's blocks (the layer's tile at most). */
static int mzi_program_layer(const void *state, const uh_layer_t *l, const hw_mvm_t *m,
                             const float *W, cJSON *layer, uh_error_t *err) {
    const mzi_t *z = state;
    int k = layer_tile(z, l), rc = UH_OK;
    cJSON_AddNumberToObject(layer, "rows", m->rows);
    cJSON_AddNumberToObject(layer, "cols", m->cols);
    cJSON_AddNumberToObject(layer, "tile", k);
    cJSON *blocks = cJSON_AddArrayToObject(layer, "blocks");
    if (!blocks) return uh_error_set(err, UH_ENOMEM, "out of memory");
    for (int r0 = 0; !rc && r0 < m->rows; r0 += k)
        for (int c0 = 0; !rc && c0 < m->cols; c0 += k) {
            block_t b = {.r0 = r0,
                         .c0 = c0,
                         .mb = m->rows - r0 < k ? m->rows - r0 : k,
                         .nb = m->cols - c0 < k ? m->cols - c0 : k};
            rc = block_json(z, &b, W, m->cols, blocks, err);
        }
    return rc;
}

static int mzi_program(const void *state, const uh_arch_t *arch, const float *weights, char **json,
                       uh_error_t *err) {
    const mzi_t *z = state;
    cJSON *root = hw_program_root("uhnas-mzi-phases");
    if (!root) return uh_error_set(err, UH_ENOMEM, "out of memory");
    cJSON_AddStringToObject(root, "mesh", MESH_KINDS[z->mesh_kind]);
    cJSON_AddNumberToObject(root, "phase_bits", z->noise.phase_bits);
    return hw_program_write(root, z, arch, weights, mzi_program_layer, json, err);
}

/* ---- simulation --------------------------------------------------------------------- */

/* A layer's programmed blocks, kept while its weights stay the same. */
typedef struct {
    uint64_t checksum; /* FNV-1a of the weights and shape (weights_checksum); 0 = nothing cached */
    int tile;          /* k: no block is larger than k×k */
    int n_blocks;
    block_t *blocks;
} layer_map_t;

/* Sampled training's hardware errors of one layer. */
typedef struct {
    long calls;     /* perturb_weights calls so far */
    int rows, cols; /* the shape err was realised for */
    int n_chips;    /* errors held: K, or 0 (no mapping yet, or it failed) */
    float *err;     /* K × rows × cols: E_k = W_hw,k − W at mapping time */
} layer_chips_t;

typedef struct {
    mzi_t p; /* a copy of the numbers: the sim does not depend on the backend's lifetime */
    uh_sim_mode_t mode;
    int n_layers;
    int conversions[UH_ARCH_MAX_LAYERS]; /* ADC readings summed per output: input blocks */
    int tile[UH_ARCH_MAX_LAYERS];
    int bits[UH_ARCH_MAX_LAYERS];            /* converter resolution */
    double receiver[UH_ARCH_MAX_LAYERS];     /* receiver noise σ_rel of a block's full scale */
    float train_sigma[UH_ARCH_MAX_LAYERS];   /* σ_rel per layer (UH_SIM_TRAIN) */
    layer_map_t maps[UH_ARCH_MAX_LAYERS];    /* UH_SIM_EVAL (sampled training: transient) */
    layer_chips_t chips[UH_ARCH_MAX_LAYERS]; /* UH_SIM_TRAIN, train_noise "sampled" */
    int failed;                              /* a layer could not be mapped or sampled */
    uh_error_t fault;                        /* the first such error */
} mzi_sim_t;

/* 64-bit FNV-1a's offset basis and prime (Fowler, Noll and Vo; IETF draft-eastlake-fnv). */
#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL
/* Independent FNV chains the weights are spread over: every Monte-Carlo sample checks its
 * layers' weights against the cache, and one chain of multiplies over the bytes cost a
 * twentieth of the sample. */
#define CHECKSUM_LANES 4

static uint64_t weights_checksum(const float *w, size_t n, int rows, int cols) {
    uint64_t lane[CHECKSUM_LANES];
    for (int j = 0; j < CHECKSUM_LANES; j++) lane[j] = FNV_OFFSET + (uint64_t)j;
    size_t i = 0;
    for (; i + CHECKSUM_LANES <= n; i += CHECKSUM_LANES) {
        for (int j = 0; j < CHECKSUM_LANES; j++) {
            uint32_t x;
            memcpy(&x, &w[i + (size_t)j], sizeof x);
            lane[j] = (lane[j] ^ x) * FNV_PRIME;
        }
    }
    uint64_t h = FNV_OFFSET;
    for (; i < n; i++) {
        uint32_t x;
        memcpy(&x, &w[i], sizeof x);
        h = (h ^ x) * FNV_PRIME;
    }
    for (int j = 0; j < CHECKSUM_LANES; j++) h = (h ^ lane[j]) * FNV_PRIME;
    h = (h ^ (uint64_t)rows) * FNV_PRIME;
    h = (h ^ (uint64_t)cols) * FNV_PRIME;
    return h ? h : 1;
}

static void map_clear(layer_map_t *m) {
    for (int i = 0; i < m->n_blocks; i++) block_clear(&m->blocks[i]);
    free(m->blocks);
    memset(m, 0, sizeof *m);
}

typedef struct {
    block_t *blocks;
    int n;
} block_list_t;

static void list_block(void *ctx, int r0, int c0, int mb, int nb) {
    block_list_t *l = ctx;
    l->blocks[l->n++] = (block_t){.r0 = r0, .c0 = c0, .mb = mb, .nb = nb};
}

/* Maps W onto meshes unless the cache already holds this exact matrix. */
static int map_layer(const mzi_t *z, layer_map_t *m, const float *w, int rows, int cols, int k,
                     uh_error_t *err) {
    uint64_t sum = weights_checksum(w, (size_t)rows * cols, rows, cols);
    if (m->checksum == sum) return UH_OK;
    map_clear(m);
    int n = (int)(ceil_div(rows, k) * ceil_div(cols, k));
    block_list_t list = {calloc((size_t)n, sizeof(block_t)), 0};
    if (!list.blocks) return uh_error_set(err, UH_ENOMEM, "out of memory");
    for_each_block(rows, cols, k, list_block, &list);
    m->blocks = list.blocks;
    m->n_blocks = n;
    m->tile = k;
    int failed = 0;
    uh_error_t first = {0};
#pragma omp parallel for schedule(dynamic) reduction(| : failed)
    for (int i = 0; i < n; i++) {
        uh_error_t e = {0};
        if (block_map(z, &m->blocks[i], w, cols, &e)) {
            failed = 1;
#pragma omp critical(mzi_error)
            if (!first.code) first = e;
        }
    }
    if (failed) {
        map_clear(m);
        if (err) *err = first;
        return first.code ? first.code : UH_EINVAL;
    }
    m->checksum = sum;
    return UH_OK;
}

/* One hardware sample of a mapped layer into w; block i draws stream (seed, i), so the
 * sample does not depend on which thread takes which block. */
static int sample_layer(const mzi_t *z, const layer_map_t *m, uint64_t seed, float *w, int cols,
                        uh_error_t *err) {
    int failed = 0;
#pragma omp parallel reduction(| : failed)
    {
        sample_scratch_t sc;
        failed = scratch_new(&sc, m->tile, NULL) != UH_OK;
#pragma omp for schedule(dynamic)
        for (int i = 0; i < m->n_blocks; i++) {
            uh_rng_t r;
            uh_rng_seed_stream(&r, seed, (uint64_t)i);
            if (failed || block_sample(z, &m->blocks[i], &r, &sc, w, cols, NULL)) failed = 1;
        }
        scratch_free(&sc);
    }
    return failed ? uh_error_set(err, UH_ENOMEM, "out of memory sampling a mesh") : UH_OK;
}

/* The hook cannot return an error: a layer that cannot be mapped (non-finite weights from a
 * diverged training run, no memory) is dead hardware and outputs zeros, so its accuracy is
 * chance rather than a silently noiseless answer. */
static void eval_weights(void *ctx, int layer, float *w, int rows, int cols, uh_rng_t *rng) {
    mzi_sim_t *s = ctx;
    if (layer < 0 || layer >= s->n_layers) return;
    layer_map_t *m = &s->maps[layer];
    uint64_t seed = rng ? uh_rng_u64(rng) : 0;
    uh_error_t e = {0};
    if (map_layer(&s->p, m, w, rows, cols, s->tile[layer], &e) ||
        sample_layer(&s->p, m, seed, w, cols, &e)) {
        memset(w, 0, (size_t)rows * cols * sizeof *w);
        if (!s->failed) s->fault = e;
        s->failed = 1;
    }
}

static void train_weights(void *ctx, int layer, float *w, int rows, int cols, uh_rng_t *rng) {
    mzi_sim_t *s = ctx;
    if (layer < 0 || layer >= s->n_layers || !(s->train_sigma[layer] > 0)) return;
    size_t n = (size_t)rows * (size_t)cols;
    hw_add_normal(w, n, s->train_sigma[layer] * hw_rms(w, n), rng, 1);
}

/* Maps w (rows × cols) onto meshes as EVAL does and realises the layer's K chips: c->err[k] =
 * W_hw,k − w, chip k's blocks drawing streams (seed_k, block), seed_k from stream (seed, k).
 * The meshes are freed afterwards: only the errors are kept. */
static int realise_chips(mzi_sim_t *s, int layer, const float *w, int rows, int cols, uint64_t seed,
                         uh_error_t *err) {
    layer_chips_t *c = &s->chips[layer];
    int K = s->p.train_chips;
    size_t n = (size_t)rows * (size_t)cols;
    c->n_chips = 0;
    if (!c->err || c->rows != rows || c->cols != cols) {
        free(c->err);
        c->err = malloc((size_t)K * n * sizeof *c->err);
        if (!c->err) return uh_error_set(err, UH_ENOMEM, "out of memory for %d chips", K);
        c->rows = rows, c->cols = cols;
    }
    layer_map_t *m = &s->maps[layer];
    int rc = map_layer(&s->p, m, w, rows, cols, s->tile[layer], err);
    for (int k = 0; k < K && !rc; k++) {
        uh_rng_t r;
        uh_rng_seed_stream(&r, seed, (uint64_t)k);
        float *e = c->err + (size_t)k * n;
        if ((rc = sample_layer(&s->p, m, uh_rng_u64(&r), e, cols, err))) break;
        long nn = (long)n;
#pragma omp parallel for if (nn > HW_CHUNK)
        for (long i = 0; i < nn; i++) e[i] -= w[i];
    }
    map_clear(m);
    if (!rc) c->n_chips = K;
    return rc;
}

/* Training through sampled hardware (train_noise "sampled", see the header). Every call draws
 * the same two numbers from rng, so the streams do not depend on when mappings happen. */
static void train_sampled(void *ctx, int layer, float *w, int rows, int cols, uh_rng_t *rng) {
    mzi_sim_t *s = ctx;
    if (layer < 0 || layer >= s->n_layers || !(s->train_sigma[layer] > 0)) return;
    layer_chips_t *c = &s->chips[layer];
    uint64_t seed = rng ? uh_rng_u64(rng) : 0;
    int pick = (int)(rng ? uh_rng_below(rng, (uint64_t)s->p.train_chips)
                         : (uint64_t)c->calls % (uint64_t)s->p.train_chips);
    if (c->calls++ % s->p.train_redecompose == 0 || c->rows != rows || c->cols != cols) {
        uh_error_t e = {0};
        /* A layer that cannot be mapped (non-finite weights of a diverged run, no memory)
         * trains without weight errors until the next mapping; the first fault is kept. */
        if (realise_chips(s, layer, w, rows, cols, seed, &e) && !s->failed) {
            s->fault = e;
            s->failed = 1;
        }
    }
    if (c->n_chips < 1) return;
    const float *e = c->err + (size_t)(pick % c->n_chips) * (size_t)rows * (size_t)cols;
    long n = (long)rows * cols;
#pragma omp parallel for if (n > HW_CHUNK)
    for (long i = 0; i < n; i++) w[i] += e[i];
}

static void convert_outputs(void *ctx, int layer, float *z, size_t count, uh_rng_t *rng) {
    mzi_sim_t *s = ctx;
    if (layer < 0 || layer >= s->n_layers) return;
    float lo, hi;
    hw_convert_blocks(z, count, s->bits[layer], s->receiver[layer], s->conversions[layer], rng,
                      s->mode == UH_SIM_TRAIN, &lo, &hi);
}

static void mzi_sim_free(void *sim) {
    mzi_sim_t *s = sim;
    if (!s) return;
    for (int i = 0; i < s->n_layers; i++) {
        map_clear(&s->maps[i]);
        free(s->chips[i].err);
    }
    free(s);
}

/* σ_rel of a k×k block (see hw_calibrate_weight_noise): the EVAL physics of a one-layer
 * sim on a seeded Gaussian k×k matrix, a few hardware samples. The seed depends only on k:
 * the same σ on every run. */
#define MZI_CALIBRATION_SAMPLES 4
static int calibrate(const mzi_t *z, int k, float *sigma, uh_error_t *err) {
    mzi_sim_t *t = calloc(1, sizeof *t);
    if (!t) return uh_error_set(err, UH_ENOMEM, "out of memory");
    t->p = *z;
    t->mode = UH_SIM_EVAL;
    t->n_layers = 1;
    t->tile[0] = k;
    int rc = hw_calibrate_weight_noise(eval_weights, t, 0, k, k, MZI_CALIBRATION_SAMPLES,
                                       0x6d7a6963616cULL + (uint64_t)k, HW_SCALE_RMS, sigma, err);
    if (!rc && t->failed) {
        if (err) *err = t->fault;
        rc = t->fault.code ? t->fault.code : UH_EINVAL;
        uh_error_prefix(err, "calibrating a %dx%d mesh", k, k);
    }
    mzi_sim_free(t);
    return rc;
}

static int mzi_sim_new(const void *state, const uh_arch_t *arch, uh_sim_mode_t mode, void **sim,
                       uh_noise_t *hook, uh_error_t *err) {
    const mzi_t *z = state;
    *sim = NULL;
    memset(hook, 0, sizeof *hook);
    mzi_sim_t *s = calloc(1, sizeof *s);
    if (!s) return uh_error_set(err, UH_ENOMEM, "out of memory");
    s->p = *z;
    s->mode = mode;
    s->n_layers = arch->n_layers < UH_ARCH_MAX_LAYERS ? arch->n_layers : UH_ARCH_MAX_LAYERS;
    int weights_noisy = 0, outputs = 0;
    for (int i = 0; i < s->n_layers; i++) {
        hw_mvm_t m;
        s->conversions[i] = 1;
        if (!hw_layer_mvm(arch, i, &m)) continue;
        int k = layer_tile(z, &arch->layers[i]);
        if (k > UH_MESH_MAX_N) {
            mzi_sim_free(s);
            return uh_error_set(err, UH_EINVAL, "layer %d: tile %d is larger than %d ports", i + 1,
                                k, UH_MESH_MAX_N);
        }
        s->tile[i] = k;
        s->conversions[i] = z->io_layout == IO_OPTICAL ? 1 : (int)ceil_div(m.cols, k);
        s->bits[i] = hw_layer_bits(&arch->layers[i], z->adc_bits);
        s->receiver[i] = receiver_sigma(z, s->bits[i]);
        outputs |= s->bits[i] > 0 || s->receiver[i] > 0;
        if (mode != UH_SIM_TRAIN) continue;
        int known = -1; /* a layer with the same tile was calibrated already */
        for (int j = 0; j < i && known < 0; j++)
            if (s->tile[j] == k && s->train_sigma[j] > 0) known = j;
        int rc = known >= 0 ? (s->train_sigma[i] = s->train_sigma[known], UH_OK)
                            : calibrate(z, k, &s->train_sigma[i], err);
        if (rc) {
            mzi_sim_free(s);
            return rc;
        }
        weights_noisy |= s->train_sigma[i] > 0;
    }
    if (mode == UH_SIM_EVAL)
        hook->perturb_weights = eval_weights;
    else if (weights_noisy)
        hook->perturb_weights = z->train_noise == TRAIN_SAMPLED ? train_sampled : train_weights;
    if (outputs) hook->perturb_outputs = convert_outputs;
    hook->ctx = s;
    *sim = s;
    return UH_OK;
}

const uh_backend_model_t uh_model_mzi = {
    .name = "mzi",
    .load = mzi_load,
    .free = mzi_free,
    .energy = mzi_energy,
    .check = mzi_check,
    .precision = mzi_precision,
    .pj_per_mac = mzi_pj_per_mac,
    .sim_new = mzi_sim_new,
    .sim_free = mzi_sim_free,
    .program_format = "mzi-phases",
    .program = mzi_program,
};
