/* Hardware samples of a mesh: each non-ideality is a separate, seeded effect with its own
 * parameter (see uh_mesh_noise_t in uhnas/mesh.h for the list and the order they act in). */
#include "uhnas/mesh.h"

#include <math.h>

#include "linalg.h"

/* Stream ids under one realization's key: each effect draws from its own stream so that its
 * samples do not depend on which other effects are on. */
enum { STREAM_PHASE = 1, STREAM_COUPLER = 2, STREAM_LOSS = 3 };

/* 10^(−dB/20) = exp(−dB · ln 10 / 20): exp is cheaper than pow in the per-MZI loop. */
#define LN10_OVER_20 0.11512925464970229

/* Standard normals for one effect's stream. Box–Muller gives two per (log, sqrt, sin, cos);
 * uh_rng_normal keeps only one, this keeps both: a sample draws up to 5 per MZI. */
typedef struct {
    uh_rng_t rng;
    double spare;
    int has_spare;
} gauss_t;

static void gauss_init(gauss_t *g, uint64_t key, uint64_t stream) {
    uh_rng_seed_stream(&g->rng, key, stream);
    g->has_spare = 0;
}

static double gauss(gauss_t *g) {
    if (g->has_spare) {
        g->has_spare = 0;
        return g->spare;
    }
    double u1 = uh_rng_uniform(&g->rng), u2 = uh_rng_uniform(&g->rng);
    if (u1 < 1e-300) u1 = 1e-300;
    double r = sqrt(-2.0 * log(u1)), a = 2.0 * UH_PI * u2;
    g->spare = r * sin(a);
    g->has_spare = 1;
    return r * cos(a);
}

static int bad_sigma(double x) {
    return !(x >= 0) || !isfinite(x);
}

int uh_mesh_noise_check(const uh_mesh_noise_t *noise, uh_error_t *err) {
    if (noise->phase_bits < 0 || noise->phase_bits > UH_MESH_MAX_PHASE_BITS) {
        return uh_error_set(err, UH_EINVAL, "mesh noise: phase_bits %d outside 0…%d",
                            noise->phase_bits, UH_MESH_MAX_PHASE_BITS);
    }
    if (bad_sigma(noise->sigma_phase) || bad_sigma(noise->sigma_bs) ||
        bad_sigma(noise->sigma_il_db)) {
        return uh_error_set(err, UH_EINVAL,
                            "mesh noise: standard deviations must be finite and ≥ 0");
    }
    /* Heat only adds phase, so a negative coupling is not a thermal crosstalk. */
    if (bad_sigma(noise->crosstalk)) {
        return uh_error_set(err, UH_EINVAL, "mesh noise: crosstalk must be finite and ≥ 0");
    }
    if (bad_sigma(noise->il_db)) {
        return uh_error_set(err, UH_EINVAL, "mesh noise: insertion loss must be finite and ≥ 0");
    }
    double e = noise->crosstalk_model_error;
    if (!(e >= 0 && e <= 1)) {
        return uh_error_set(err, UH_EINVAL, "mesh noise: crosstalk model error must be in 0…1");
    }
    /* (I + K̂) must stay diagonally dominant for the calibration's solve. */
    if (noise->crosstalk_compensated && noise->crosstalk * (1.0 - e) >= 0.5) {
        return uh_error_set(err, UH_EINVAL,
                            "mesh noise: compensated crosstalk needs κ(1 − e) < 0.5, got %g",
                            noise->crosstalk * (1.0 - e));
    }
    return UH_OK;
}

#define TWO_PI (2.0 * UH_PI)

/* The phase a b-bit DAC sets on a physical phase (φ, δ): the nearest of 2^b levels k·2π/2^b
 * on [0, 2π). Rounding first and wrapping the level index keeps this to floor/nearbyint (no
 * fmod) in the hot loop. */
static double quantize(double x, int bits) {
    if (bits == 0) return x;
    double levels = (double)(1UL << bits), step = TWO_PI / levels;
    double k = nearbyint(x * (levels / TWO_PI));
    k -= levels * floor(k / levels);
    return k * step;
}

/* θ: the DAC sets the physical 2θ on the same grid, so θ lands on steps of π/2^b. Not wrapped
 * (see mesh.h: θ + π is −T in this closed form). */
static double quantize_theta(double theta, int bits) {
    if (bits == 0) return theta;
    double levels = (double)(1UL << bits);
    return nearbyint(theta * (levels / UH_PI)) * (UH_PI / levels);
}

/* Calibration re-solves a chain after moving targets by 2π. A move shifts the neighbours by
 * only ~2πκ̂, so one or two re-solves settle a chain (never more than three in the tests, κ up
 * to 0.2); the cap bounds contrived cases, which then keep the DAC's wrap. */
#define MAX_WRAP_PASSES 16

/* One chain of coupled shifters (same-column MZIs on modes m, m + 2, …, or the screen):
 * scratch for calibration, DAC and crosstalk, on the stack so realize_into never allocates. */
typedef struct {
    const uh_mesh_noise_t *nz;
    double kappa_hat; /* the calibration's K̂ = κ(1 − e); 0 when uncalibrated */
    double lo;        /* the DAC window of a physical phase: [lo, lo + 2π) */
    int len;
    int idx[UH_MESH_MAX_N];   /* MZI indices along the chain */
    double t[UH_MESH_MAX_N];  /* targets in, effective phases out */
    double x[UH_MESH_MAX_N];  /* programmed settings */
    double c[UH_MESH_MAX_N];  /* Thomas: the eliminated super-diagonal c'_i */
    double id[UH_MESH_MAX_N]; /* Thomas: 1 / pivot_i */
} chain_t;

/* (I + K̂) on a chain is tridiagonal with 1 on the diagonal and κ̂ beside it, the same for
 * every chain: the elimination's coefficients depend only on the position, computed once. */
static void chain_init(chain_t *ch, const uh_mesh_noise_t *nz, int max_len) {
    ch->nz = nz;
    ch->kappa_hat =
        nz->crosstalk_compensated ? nz->crosstalk * (1.0 - nz->crosstalk_model_error) : 0.0;
    ch->lo = nz->phase_bits ? -UH_PI / (double)(1UL << nz->phase_bits) : 0.0;
    if (!nz->crosstalk_compensated) return;
    double k = ch->kappa_hat;
    ch->id[0] = 1.0;
    ch->c[0] = k;
    for (int i = 1; i < max_len; i++) {
        ch->id[i] = 1.0 / (1.0 - k * ch->c[i - 1]);
        ch->c[i] = k * ch->id[i];
    }
}

/* x = (I + K̂)⁻¹ t by the Thomas algorithm; κ̂ < 1/2 (checked) keeps every pivot above 1/2. */
static void chain_solve(chain_t *ch) {
    int n = ch->len;
    double k = ch->kappa_hat;
    ch->x[0] = ch->t[0];
    for (int i = 1; i < n; i++) ch->x[i] = (ch->t[i] - k * ch->x[i - 1]) * ch->id[i];
    for (int i = n - 2; i >= 0; i--) ch->x[i] -= ch->c[i] * ch->x[i + 1];
}

/* Targets t → effective phases t of one chain: calibration, DAC, crosstalk (mesh.h, steps
 * 1–3). theta selects θ's grid and no wrapping; otherwise a physical phase. */
static void chain_phases(chain_t *ch, int theta) {
    const uh_mesh_noise_t *nz = ch->nz;
    int n = ch->len, bits = nz->phase_bits;
    if (!nz->crosstalk_compensated) {
        for (int i = 0; i < n; i++) ch->x[i] = ch->t[i];
    } else {
        for (int pass = 0;; pass++) {
            chain_solve(ch);
            if (theta || pass == MAX_WRAP_PASSES) break;
            /* A heater holds one period: move the target of a setting outside the window by
             * whole periods (same matrix) so that the solve accounts for the crosstalk of
             * the value actually held. */
            int moved = 0;
            for (int i = 0; i < n; i++) {
                double w = floor((ch->x[i] - ch->lo) / TWO_PI);
                if (w != 0) {
                    ch->t[i] -= w * TWO_PI;
                    moved = 1;
                }
            }
            if (!moved) break;
        }
    }
    for (int i = 0; i < n; i++) {
        ch->x[i] = theta ? quantize_theta(ch->x[i], bits) : quantize(ch->x[i], bits);
    }
    /* Thermal crosstalk, linear in the neighbours' programmed phases (the nearest-neighbour
     * case of the crosstalk matrix in Gu et al.'s torchonn). */
    double kappa = nz->crosstalk;
    for (int i = 0; i < n; i++) {
        double p = ch->x[i];
        if (kappa != 0) {
            if (i > 0) p += kappa * ch->x[i - 1];
            if (i + 1 < n) p += kappa * ch->x[i + 1];
        }
        ch->t[i] = p;
    }
}

static void realize_phases(const uh_mesh_t *mesh, const uh_mesh_noise_t *nz, uint64_t key,
                           uh_mesh_t *dst) {
    chain_t ch;
    chain_init(&ch, nz, mesh->n);
    /* Chains start at the MZIs without a neighbour on mode m − 2. */
    for (int head = 0; head < mesh->n_mzis; head++) {
        if (mesh->nbr[2 * head] >= 0) continue;
        ch.len = 0;
        for (int k = head; k >= 0; k = mesh->nbr[2 * k + 1]) ch.idx[ch.len++] = k;
        for (int i = 0; i < ch.len; i++) ch.t[i] = mesh->mzis[ch.idx[i]].theta;
        chain_phases(&ch, 1);
        for (int i = 0; i < ch.len; i++) dst->mzis[ch.idx[i]].theta = ch.t[i];
        for (int i = 0; i < ch.len; i++) ch.t[i] = mesh->mzis[ch.idx[i]].phi;
        chain_phases(&ch, 0);
        for (int i = 0; i < ch.len; i++) dst->mzis[ch.idx[i]].phi = ch.t[i];
    }
    /* The output screen is one column of n adjacent shifters: neighbours are modes j ± 1. */
    ch.len = mesh->n;
    for (int j = 0; j < mesh->n; j++) ch.t[j] = mesh->out_phase[j];
    chain_phases(&ch, 0);
    for (int j = 0; j < mesh->n; j++) dst->out_phase[j] = ch.t[j];

    /* Phase error σ on physical phases: σ/2 on θ (mesh.h). Draw order θ, φ per MZI, then
     * the screen. */
    double s = nz->sigma_phase;
    if (s == 0) return;
    gauss_t r;
    gauss_init(&r, key, STREAM_PHASE);
    for (int k = 0; k < mesh->n_mzis; k++) {
        dst->mzis[k].theta += 0.5 * s * gauss(&r);
        dst->mzis[k].phi += s * gauss(&r);
    }
    for (int j = 0; j < mesh->n; j++) dst->out_phase[j] += s * gauss(&r);
}

static void realize_couplers(const uh_mesh_t *mesh, const uh_mesh_noise_t *nz, uint64_t key,
                             uh_mesh_t *dst) {
    if (nz->sigma_bs == 0) return;
    gauss_t r;
    gauss_init(&r, key, STREAM_COUPLER);
    for (int k = 0; k < mesh->n_mzis; k++) {
        for (int i = 0; i < 2; i++) dst->mzis[k].alpha[i] += nz->sigma_bs * gauss(&r);
    }
}

/* Insertion loss: amplitude × 10^(−IL/20) per MZI crossed. Balanced meshes carry the mean
 * loss at every position, which commutes with everything as the scalar t^depth; each MZI
 * then keeps only its deviation from the mean. */
static void realize_loss(const uh_mesh_t *mesh, const uh_mesh_noise_t *nz, uint64_t key,
                         uh_mesh_t *dst) {
    if (nz->il_db == 0 && nz->sigma_il_db == 0) return;
    gauss_t r;
    gauss_init(&r, key, STREAM_LOSS);
    double t_mean = pow(10.0, -nz->il_db / 20.0);
    double per_mzi = nz->il_balanced ? t_mean : 1.0;
    for (int k = 0; k < mesh->n_mzis; k++) {
        double il = nz->il_db;
        if (nz->sigma_il_db > 0) il += nz->sigma_il_db * gauss(&r);
        /* A passive device has no gain. */
        if (il < 0) il = 0;
        dst->mzis[k].amp *= exp(-il * LN10_OVER_20) / per_mzi;
    }
    if (nz->il_balanced) dst->gain *= pow(t_mean, mesh->depth);
}

int uh_mesh_realize_into(const uh_mesh_t *mesh, const uh_mesh_noise_t *noise, uh_rng_t *rng,
                         uh_mesh_t *dst, uh_error_t *err) {
    int rc = uh_mesh_noise_check(noise, err);
    if (rc) return rc;
    if (dst == mesh || dst->n != mesh->n || dst->n_mzis != mesh->n_mzis) {
        /* Sizes are what the copy below relies on; the layout itself is copied over. */
        return uh_error_set(err, UH_EINVAL, "mesh realize: dst must be a separate clone");
    }
    /* Start from the mesh's own devices (a sample of a sample adds the effects again). */
    for (int k = 0; k < mesh->n_mzis; k++) dst->mzis[k] = mesh->mzis[k];
    for (int k = 0; k < 2 * mesh->n_mzis; k++) dst->nbr[k] = mesh->nbr[k];
    dst->depth = mesh->depth;
    dst->gain = mesh->gain;
    uint64_t key = uh_rng_u64(rng);
    realize_phases(mesh, noise, key, dst);
    realize_couplers(mesh, noise, key, dst);
    realize_loss(mesh, noise, key, dst);
    return UH_OK;
}

int uh_mesh_realize(const uh_mesh_t *mesh, const uh_mesh_noise_t *noise, uh_rng_t *rng,
                    uh_mesh_t **out, uh_error_t *err) {
    *out = NULL;
    uh_mesh_t *dst;
    int rc = uh_mesh_clone(mesh, &dst, err);
    if (rc) return rc;
    rc = uh_mesh_realize_into(mesh, noise, rng, dst, err);
    if (rc) {
        uh_mesh_free(dst);
        return rc;
    }
    *out = dst;
    return UH_OK;
}

int uh_mesh_unitary_noisy(const uh_mesh_t *mesh, const uh_mesh_noise_t *noise, uh_rng_t *rng,
                          double complex *U, uh_error_t *err) {
    uh_mesh_t *sample;
    int rc = uh_mesh_realize(mesh, noise, rng, &sample, err);
    if (rc) return rc;
    uh_mesh_unitary(sample, U);
    uh_mesh_free(sample);
    return UH_OK;
}
