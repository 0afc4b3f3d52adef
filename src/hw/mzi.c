/* The optical MZI-mesh model: weight matrices on Clements (or Reck) meshes.
 *
 * Mapping. A dense or conv layer's weight matrix W (outputs × inputs; conv through im2col, one
 * optical pass per output position) is cut into blocks of at most k×k, k = the layer's "tile"
 * or the file's default. Each block B (mb × nb) is W's SVD B = U Σ Vᵀ on hardware: Vᵀ on an
 * nb-port mesh, Σ/σ_max on a column of MZI attenuators (transmission cos θ_i, θ_i =
 * acos(σ_i/σ_max)), U on an mb-port mesh; σ_max and the calibrated mesh loss are undone
 * electronically after detection. Every block is its own physical mesh (weight-stationary, as
 * crossbar tiles are): weights are programmed once, not per inference. Inputs are real,
 * signed field amplitudes (a push-pull modulator); outputs are read by coherent (homodyne)
 * detection of the in-phase quadrature, so a block computes Re(U_hw Σ_hw V_hw) x. The input
 * blocks' partial sums are added digitally after their ADCs.
 *
 * Energy per inference (pJ; uh_energy_add takes nJ), per dense/conv layer with n_in inputs,
 * n_out outputs, P passes, f = clock, blocks of mb × nb, rt = ceil(n_in/k) input blocks and
 * ct = ceil(n_out/k) output blocks:
 *   dac        = P · n_in · ct · dac_pj          (every block re-encodes its inputs)
 *   modulator  = P · n_in · ct · modulator_pj
 *   adc        = P · n_out · rt · adc_pj         (every block's outputs are converted)
 *   pd_tia     = P · n_out · rt · (pd_mw + tia_mw) / f
 *   laser      = Σ_blocks P · mb · P_sens · 10^(L/10) · 2^extra_bits / (η · f),
 *                L = il_db · (depth(nb) + depth(mb) + 1) + coupling_loss_db  (both meshes,
 *                the attenuator column, the fibre-to-chip couplers: every detector still
 *                receives its sensitivity P_sens)
 *   heater     = shifters · P_π/2 · T,  shifters per block = 2·(MZIs of both meshes) +
 *                attenuators + both output phase screens; T = max_layers(P) / f, the time one
 *                inference holds the chip in a pipeline (the slowest layer sets the rate)
 *   accumulate = P · n_out · (rt − 1) · accumulate_pj
 *   activation = outputs with an activation · activation_pj (detect → digital → re-modulate:
 *                the ADC and DAC are counted above), pool = window reads · pool_pj.
 * depth(n) is the mesh's stage count: n for Clements (1 at n = 2), 2n − 3 for Reck.
 *
 * Simulation, UH_SIM_EVAL: one hardware sample per uh_net_evaluate call. A layer's blocks are
 * decomposed once per weight matrix (cached by checksum: Monte-Carlo samples reuse it) and
 * each sample realizes every mesh with the file's non-idealities (uh_mesh_unitary_noisy:
 * phase DAC, phase error, coupler imbalance, thermal crosstalk, insertion loss and its
 * spread); the attenuators get the same phase DAC, phase error and loss. The effective weights
 * replace W for that evaluation. Outputs: ADC rounding and detector noise (σ =
 * detector_noise × the ADC's full scale per conversion), see hw_convert_outputs. DAC rounding
 * of inputs is not simulated: images are 8-bit already, later inputs come off an ADC.
 *
 * UH_SIM_TRAIN: a statistical stand-in, cheap enough for every batch: w += N(0, (σ_rel ·
 * RMS(W))²), where σ_rel is calibrated once per tile size at sim creation by running the full
 * EVAL physics on a seeded Gaussian k×k matrix (RMS error of a few samples ÷ RMS(W), see
 * hw_calibrate_weight_noise), plus the same ADC and detector noise on outputs. RMS(W), not
 * max|W|: a block's error follows its own largest singular value (the meshes' scale), which
 * tracks the weights' RMS; a large trained layer's max |w| is many times its RMS and would
 * over-state the noise. */
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"
#include "model.h"
#include "uhnas/mesh.h"

enum { MESH_CLEMENTS, MESH_RECK };

typedef struct {
    int mesh_kind;
    int tile; /* default block size k */
    uh_mesh_noise_t noise;
    int adc_bits;
    double detector_noise;
    /* energy */
    double clock_ghz;
    double dac_pj, modulator_pj, adc_pj, pd_mw, tia_mw;
    double laser_efficiency, sensitivity_dbm, coupling_loss_db, laser_extra_bits;
    double heater_p_pi_mw;
    double accumulate_pj, activation_pj, pool_pj;
} mzi_t;

static const char *const MESH_KINDS[] = {"clements", "reck"};
static const char *const LOSS_BALANCE[] = {"none", "dummies"};

/* ---- loading ------------------------------------------------------------------------ */

static int mzi_load(const void *params, void **state, uh_error_t *err) {
    const cJSON *p = params;
    static const char *const keys[] = {"mesh",
                                       "tile",
                                       "phase_bits",
                                       "sigma_phase_rad",
                                       "sigma_bs_rad",
                                       "crosstalk",
                                       "il_db",
                                       "sigma_il_db",
                                       "loss_balance",
                                       "adc_bits",
                                       "detector_noise",
                                       "clock_ghz",
                                       "dac_pj",
                                       "modulator_pj",
                                       "adc_pj",
                                       "pd_mw",
                                       "tia_mw",
                                       "laser_wallplug_efficiency",
                                       "detector_sensitivity_dbm",
                                       "coupling_loss_db",
                                       "laser_extra_bits",
                                       "heater_p_pi_mw",
                                       "accumulate_pj",
                                       "activation_pj",
                                       "pool_pj"};
    int rc = hw_check_keys(p, "params", keys, (int)(sizeof keys / sizeof keys[0]), err);
    if (rc) return rc;
    mzi_t *z = calloc(1, sizeof *z);
    if (!z) return uh_error_set(err, UH_ENOMEM, "out of memory");
    const char *w = "params";
    int balance = 1;
    uh_mesh_noise_t *nz = &z->noise;
    if ((rc = hw_choice(p, w, "mesh", MESH_KINDS, 2, 0, MESH_CLEMENTS, &z->mesh_kind, err)) ||
        (rc = hw_integer(p, w, "tile", 2, 256, 1, 0, &z->tile, err)) ||
        (rc = hw_integer(p, w, "phase_bits", 0, UH_MESH_MAX_PHASE_BITS, 0, 0, &nz->phase_bits,
                         err)) ||
        (rc = hw_number(p, w, "sigma_phase_rad", 0, 3.2, 0, 0, &nz->sigma_phase, err)) ||
        (rc = hw_number(p, w, "sigma_bs_rad", 0, 0.8, 0, 0, &nz->sigma_bs, err)) ||
        (rc = hw_number(p, w, "crosstalk", 0, 1, 0, 0, &nz->crosstalk, err)) ||
        (rc = hw_number(p, w, "il_db", 0, 10, 0, 0, &nz->il_db, err)) ||
        (rc = hw_number(p, w, "sigma_il_db", 0, 10, 0, 0, &nz->sigma_il_db, err)) ||
        (rc = hw_choice(p, w, "loss_balance", LOSS_BALANCE, 2, 0, 1, &balance, err)) ||
        (rc = hw_integer(p, w, "adc_bits", 0, 16, 0, 0, &z->adc_bits, err)) ||
        (rc = hw_number(p, w, "detector_noise", 0, 10, 0, 0, &z->detector_noise, err)) ||
        (rc = hw_number(p, w, "clock_ghz", 1e-3, 1e3, 1, 0, &z->clock_ghz, err)) ||
        (rc = hw_number(p, w, "dac_pj", 0, 1e6, 1, 0, &z->dac_pj, err)) ||
        (rc = hw_number(p, w, "modulator_pj", 0, 1e6, 1, 0, &z->modulator_pj, err)) ||
        (rc = hw_number(p, w, "adc_pj", 0, 1e6, 1, 0, &z->adc_pj, err)) ||
        (rc = hw_number(p, w, "pd_mw", 0, 1e4, 1, 0, &z->pd_mw, err)) ||
        (rc = hw_number(p, w, "tia_mw", 0, 1e4, 1, 0, &z->tia_mw, err)) ||
        (rc = hw_number(p, w, "laser_wallplug_efficiency", 1e-3, 1, 1, 0, &z->laser_efficiency,
                        err)) ||
        (rc = hw_number(p, w, "detector_sensitivity_dbm", -80, 20, 1, 0, &z->sensitivity_dbm,
                        err)) ||
        (rc = hw_number(p, w, "coupling_loss_db", 0, 60, 0, 0, &z->coupling_loss_db, err)) ||
        (rc = hw_number(p, w, "laser_extra_bits", 0, 16, 0, 0, &z->laser_extra_bits, err)) ||
        (rc = hw_number(p, w, "heater_p_pi_mw", 0, 1e3, 1, 0, &z->heater_p_pi_mw, err)) ||
        (rc = hw_number(p, w, "accumulate_pj", 0, 1e6, 0, 0, &z->accumulate_pj, err)) ||
        (rc = hw_number(p, w, "activation_pj", 0, 1e6, 0, 0, &z->activation_pj, err)) ||
        (rc = hw_number(p, w, "pool_pj", 0, 1e6, 0, 0, &z->pool_pj, err))) {
        free(z);
        return rc;
    }
    nz->il_balanced = balance;
    *state = z;
    return UH_OK;
}

static void mzi_free(void *state) {
    free(state);
}

/* ---- geometry and energy ------------------------------------------------------------ */

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

/* Phase shifters of one mb × nb block: θ and φ per mesh MZI, one per attenuator, the two
 * output phase screens. */
static long block_shifters(int mb, int nb) {
    return 2 * (mesh_mzis(mb) + mesh_mzis(nb)) + (mb < nb ? mb : nb) + mb + nb;
}

/* Laser energy of one pass of an mb × nb block, pJ. */
static double block_laser_pj(const mzi_t *z, int mb, int nb) {
    double loss_db =
        z->noise.il_db * (mesh_depth(z, nb) + mesh_depth(z, mb) + 1) + z->coupling_loss_db;
    double p_sens_mw = pow(10, z->sensitivity_dbm / 10);
    double p_laser_mw =
        mb * p_sens_mw * pow(10, loss_db / 10) * pow(2, z->laser_extra_bits) / z->laser_efficiency;
    return p_laser_mw / z->clock_ghz; /* mW / GHz = pJ */
}

/* Calls fn for each block of an n_out × n_in matrix cut at k: (r0, c0, mb, nb). The last row
 * and column of blocks may be smaller. */
typedef void (*block_fn)(void *ctx, int r0, int c0, int mb, int nb);
static void for_each_block(int n_out, int n_in, int k, block_fn fn, void *ctx) {
    for (int r0 = 0; r0 < n_out; r0 += k)
        for (int c0 = 0; c0 < n_in; c0 += k)
            fn(ctx, r0, c0, n_out - r0 < k ? n_out - r0 : k, n_in - c0 < k ? n_in - c0 : k);
}

typedef struct {
    const mzi_t *z;
    double laser_pj, shifters;
} block_sums_t;

static void sum_block(void *ctx, int r0, int c0, int mb, int nb) {
    (void)r0, (void)c0;
    block_sums_t *s = ctx;
    s->laser_pj += block_laser_pj(s->z, mb, nb);
    s->shifters += (double)block_shifters(mb, nb);
}

static int mzi_energy(const void *state, const uh_arch_t *arch, uh_energy_t *e, uh_error_t *err) {
    (void)err;
    const mzi_t *z = state;
    long slowest = 1; /* passes of the slowest layer: sets the inference rate */
    for (int i = 0; i < arch->n_layers; i++) {
        hw_mvm_t m;
        if (hw_layer_mvm(arch, i, &m) && m.passes > slowest) slowest = m.passes;
    }
    double hold_ns = (double)slowest / z->clock_ghz;
    for (int i = 0; i < arch->n_layers; i++) {
        hw_mvm_t m;
        if (hw_layer_mvm(arch, i, &m)) {
            int k = layer_tile(z, &arch->layers[i]);
            double n_in = m.cols, n_out = m.rows, P = (double)m.passes;
            double rt = (double)ceil_div(m.cols, k), ct = (double)ceil_div(m.rows, k);
            block_sums_t sums = {z, 0, 0};
            for_each_block(m.rows, m.cols, k, sum_block, &sums);
            uh_energy_add(e, i, "dac", P * n_in * ct * z->dac_pj * 1e-3);
            uh_energy_add(e, i, "modulator", P * n_in * ct * z->modulator_pj * 1e-3);
            uh_energy_add(e, i, "adc", P * n_out * rt * z->adc_pj * 1e-3);
            uh_energy_add(e, i, "pd_tia",
                          P * n_out * rt * (z->pd_mw + z->tia_mw) / z->clock_ghz * 1e-3);
            uh_energy_add(e, i, "laser", P * sums.laser_pj * 1e-3);
            if (z->heater_p_pi_mw > 0) /* mW · ns = pJ */
                uh_energy_add(e, i, "heater",
                              sums.shifters * z->heater_p_pi_mw / 2 * hold_ns * 1e-3);
            if (rt > 1 && z->accumulate_pj > 0)
                uh_energy_add(e, i, "accumulate", P * n_out * (rt - 1) * z->accumulate_pj * 1e-3);
        }
        long acts = hw_layer_activations(arch, i);
        if (acts && z->activation_pj > 0)
            uh_energy_add(e, i, "activation", (double)acts * z->activation_pj * 1e-3);
        long reads = hw_layer_pool_reads(arch, i);
        if (reads && z->pool_pj > 0) uh_energy_add(e, i, "pool", (double)reads * z->pool_pj * 1e-3);
    }
    return UH_OK;
}

/* One pass of a full default k×k block (a one-pass network, so the heaters are held for one
 * clock), per MAC: what `uhnas backends` lists. */
static double mzi_pj_per_mac(const void *state) {
    const mzi_t *z = state;
    int k = z->tile;
    double per_pass = k * (z->dac_pj + z->modulator_pj) +
                      k * (z->adc_pj + (z->pd_mw + z->tia_mw) / z->clock_ghz) +
                      block_laser_pj(z, k, k) +
                      (double)block_shifters(k, k) * z->heater_p_pi_mw / 2 / z->clock_ghz;
    return per_pass / ((double)k * k);
}

static void mzi_check(const void *state, const uh_arch_t *arch, uh_violations_t *v) {
    (void)state;
    for (int i = 0; i < arch->n_layers; i++) {
        const uh_layer_t *l = &arch->layers[i];
        if (l->tile > UH_MESH_MAX_N)
            uh_violations_add(v, i + 1, "tile",
                              "tile %d is larger than the %d ports a mesh can have", l->tile,
                              UH_MESH_MAX_N);
    }
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
    uh_mesh_t *u, *v; /* U (mb ports) and Vᵀ (nb ports); NULL when the block is all zero */
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

static int real_to_mesh(const mzi_t *z, const double *Q, int n, uh_mesh_t **out, uh_error_t *err) {
    double complex *C = malloc((size_t)n * n * sizeof *C);
    if (!C) return uh_error_set(err, UH_ENOMEM, "out of memory");
    for (size_t i = 0; i < (size_t)n * n; i++) C[i] = Q[i];
    int rc = decompose(z, C, n, out, err);
    free(C);
    return rc;
}

/* Programs block b from W (rows × cols, row-major): SVD, both meshes, the attenuators. */
static int block_map(const mzi_t *z, block_t *b, const float *W, int cols, uh_error_t *err) {
    int mb = b->mb, nb = b->nb, r = mb < nb ? mb : nb;
    double *B = malloc((size_t)mb * nb * sizeof *B);
    double *U = malloc((size_t)mb * mb * sizeof *U);
    double *S = malloc((size_t)r * sizeof *S);
    double *Vt = malloc((size_t)nb * nb * sizeof *Vt);
    b->theta = malloc((size_t)r * sizeof *b->theta);
    int rc = UH_OK;
    if (!B || !U || !S || !Vt || !b->theta) {
        rc = uh_error_set(err, UH_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < mb; i++)
        for (int j = 0; j < nb; j++) B[i * nb + j] = W[(size_t)(b->r0 + i) * cols + b->c0 + j];
    if ((rc = uh_svd(B, mb, nb, U, S, Vt, err))) goto done;
    if (!(S[0] > 0)) goto done; /* an all-zero block: no meshes, outputs 0 */
    for (int i = 0; i < r; i++) {
        double t = S[i] / S[0];
        b->theta[i] = acos(t < 1 ? t : 1);
    }
    if ((rc = real_to_mesh(z, U, mb, &b->u, err)) || (rc = real_to_mesh(z, Vt, nb, &b->v, err)))
        goto done;
    /* The electronics undo the loss of a nominal path: both meshes and the attenuator. */
    double stages = mesh_depth(z, mb) + mesh_depth(z, nb) + 1;
    b->scale = S[0] / pow(10, -z->noise.il_db * stages / 20);
done:
    free(B);
    free(U);
    free(S);
    free(Vt);
    return rc;
}

/* One hardware sample of block b, written into W's block (rows × cols): Re(U_hw Σ_hw V_hw). */
static int block_sample(const mzi_t *z, const block_t *b, uh_rng_t *rng, float *W, int cols,
                        uh_error_t *err) {
    int mb = b->mb, nb = b->nb, r = mb < nb ? mb : nb;
    if (!b->u) {
        for (int i = 0; i < mb; i++)
            memset(W + (size_t)(b->r0 + i) * cols + b->c0, 0, (size_t)nb * sizeof *W);
        return UH_OK;
    }
    double complex *U = malloc((size_t)mb * mb * sizeof *U);
    double complex *V = malloc((size_t)nb * nb * sizeof *V);
    double *t = malloc((size_t)r * sizeof *t);
    int rc = UH_OK;
    if (!U || !V || !t) {
        rc = uh_error_set(err, UH_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = uh_mesh_unitary_noisy(b->u, &z->noise, rng, U, err)) ||
        (rc = uh_mesh_unitary_noisy(b->v, &z->noise, rng, V, err)))
        goto done;
    const uh_mesh_noise_t *nz = &z->noise;
    double step = nz->phase_bits ? 2 * UH_PI / (double)(1L << nz->phase_bits) : 0;
    for (int i = 0; i < r; i++) {
        double th = b->theta[i];
        if (step > 0) th = round(th / step) * step;
        if (nz->sigma_phase > 0) th += nz->sigma_phase * uh_rng_normal(rng);
        double il = nz->il_db + (nz->sigma_il_db > 0 ? nz->sigma_il_db * uh_rng_normal(rng) : 0);
        t[i] = cos(th) * pow(10, -(il > 0 ? il : 0) / 20);
    }
    for (int i = 0; i < mb; i++) {
        float *row = W + (size_t)(b->r0 + i) * cols + b->c0;
        for (int j = 0; j < nb; j++) {
            double complex acc = 0;
            for (int q = 0; q < r; q++) acc += U[i * mb + q] * t[q] * V[q * nb + j];
            row[j] = (float)(creal(acc) * b->scale);
        }
    }
done:
    free(U);
    free(V);
    free(t);
    return rc;
}

/* ---- simulation --------------------------------------------------------------------- */

/* A layer's programmed blocks, kept while its weights stay the same. */
typedef struct {
    uint64_t checksum; /* FNV-1a of the weights' bytes and shape; 0 = nothing cached */
    int n_blocks;
    block_t *blocks;
} layer_map_t;

typedef struct {
    mzi_t p; /* a copy of the numbers: the sim does not depend on the backend's lifetime */
    uh_sim_mode_t mode;
    int n_layers;
    int conversions[UH_ARCH_MAX_LAYERS]; /* ADC readings summed per output: input blocks */
    int tile[UH_ARCH_MAX_LAYERS];
    float train_sigma[UH_ARCH_MAX_LAYERS]; /* σ_rel per layer (UH_SIM_TRAIN) */
    layer_map_t maps[UH_ARCH_MAX_LAYERS];  /* UH_SIM_EVAL */
    int failed;                            /* a layer could not be mapped or sampled */
    uh_error_t fault;                      /* the first such error */
} mzi_sim_t;

static uint64_t weights_checksum(const float *w, size_t n, int rows, int cols) {
    uint64_t h = 14695981039346656037ULL;
    const unsigned char *p = (const unsigned char *)w;
    for (size_t i = 0; i < n * sizeof *w; i++) h = (h ^ p[i]) * 1099511628211ULL;
    h = (h ^ (uint64_t)rows) * 1099511628211ULL;
    h = (h ^ (uint64_t)cols) * 1099511628211ULL;
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

/* One hardware sample of a mapped layer into w; block i draws stream (seed, i). */
static int sample_layer(const mzi_t *z, const layer_map_t *m, uint64_t seed, float *w, int cols,
                        uh_error_t *err) {
    int failed = 0;
#pragma omp parallel for schedule(dynamic) reduction(| : failed)
    for (int i = 0; i < m->n_blocks; i++) {
        uh_rng_t r;
        uh_rng_seed_stream(&r, seed, (uint64_t)i);
        if (block_sample(z, &m->blocks[i], &r, w, cols, NULL)) failed = 1;
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

static void convert_outputs(void *ctx, int layer, float *z, size_t count, uh_rng_t *rng) {
    mzi_sim_t *s = ctx;
    if (layer < 0 || layer >= s->n_layers) return;
    float lo, hi;
    hw_convert_outputs(z, count, s->p.adc_bits, 0, s->p.detector_noise, s->conversions[layer], rng,
                       s->mode == UH_SIM_TRAIN, &lo, &hi);
}

static void mzi_sim_free(void *sim) {
    mzi_sim_t *s = sim;
    if (!s) return;
    for (int i = 0; i < s->n_layers; i++) map_clear(&s->maps[i]);
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
    int weights_noisy = 0;
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
        s->conversions[i] = (int)ceil_div(m.cols, k);
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
    int outputs = z->adc_bits > 0 || z->detector_noise > 0;
    if (mode == UH_SIM_EVAL)
        hook->perturb_weights = eval_weights;
    else if (weights_noisy)
        hook->perturb_weights = train_weights;
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
};
