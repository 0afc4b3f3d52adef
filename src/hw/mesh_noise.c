/* Hardware samples of a mesh: each non-ideality is a separate, seeded effect with its own
 * parameter (see uh_mesh_noise_t in uhnas/mesh.h for the list and the order they act in). */
#include "uhnas/mesh.h"

#include <math.h>
#include <string.h>

#include "gauss.h"
#include "linalg.h"
#include "mesh_internal.h"

/* Stream ids under one realization's key: each effect draws from its own stream so that its
 * samples do not depend on which other effects are on. */
enum { STREAM_PHASE = 1, STREAM_COUPLER = 2, STREAM_LOSS = 3 };

/* 10^(−dB/20) = exp(−dB · ln 10 / 20): exp is cheaper than pow in the per-MZI loop. */
#define LN10_OVER_20 0.11512925464970229

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
    if (noise->coupler_corrected < UH_COUPLER_OFF ||
        noise->coupler_corrected > UH_COUPLER_IN_PHASE) {
        return uh_error_set(err, UH_EINVAL, "mesh noise: coupler_corrected %d is not a rule",
                            noise->coupler_corrected);
    }
    double ec = noise->coupler_model_error;
    if (!(ec >= 0 && ec <= 1)) {
        return uh_error_set(err, UH_EINVAL, "mesh noise: coupler model error must be in 0…1");
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

/* Targets t → effective phases t of one chain: crosstalk calibration, DAC, crosstalk (mesh.h,
 * steps 2b–4). theta selects θ's grid and no wrapping; otherwise a physical phase. */
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

/* ---- coupler correction (calibration, mesh.h step 2a) ---- */

/* x in [0, 2π); a value within rounding under 0 would land on 2π itself. */
static double wrap_2pi(double x) {
    double r = x - TWO_PI * floor(x / TWO_PI);
    return r < TWO_PI ? r : 0.0;
}

/* A 2×2 unitary t in the form D(a, b) · T(θ, φ) with θ ∈ [0, π/2] (every U(2) is one):
 * t = [[e^{i(a+φ)} cos θ, −e^{ia} sin θ], [e^{i(b+φ)} sin θ, e^{ib} cos θ]], so the moduli
 * give θ and three of the phases a, b, φ (the fourth follows from unitarity). Where sin θ or
 * cos θ is 0 only a sum of the phases is defined; the split chosen reproduces t all the
 * same. */
static void mzi_canonical(const double complex t[4], double *a, double *b, double *theta,
                          double *phi) {
    double s = cabs(t[1]), c = cabs(t[3]);
    *theta = atan2(s, c);
    if (c >= s) {
        *b = carg(t[3]);
        *a = s > 0 ? carg(-t[1]) : 0.0;
        *phi = carg(t[0]) - *a;
    } else {
        *a = carg(-t[1]);
        *b = c > 0 ? carg(t[3]) : 0.0;
        *phi = carg(t[2]) - *b;
    }
}

/* The internal phase θ' ∈ [0, π/2] whose cross-port power with couplers α₁, α₂ is sin²θ_t.
 * uh_mzi_physical's cross power is A − B·cos 2θ, A = s₁²c₂² + c₁²s₂², B = 2·s₁c₁·s₂c₂
 * (s_i = sin β_i, c_i = cos β_i), spanning [sin²(α₁ − α₂), cos²(α₁ + α₂)]; a target outside
 * gets the nearest end (test_coupler_splitting_formula), and *side says which: −1 below (the
 * MZI cannot reach the bar state), +1 above (nor the cross state), 0 reached. */
static double corrected_theta(double theta_t, double a1, double a2, int *side) {
    double s1 = sin(0.25 * UH_PI + a1), c1 = cos(0.25 * UH_PI + a1);
    double s2 = sin(0.25 * UH_PI + a2), c2 = cos(0.25 * UH_PI + a2);
    double A = s1 * s1 * c2 * c2 + c1 * c1 * s2 * s2, B = 2.0 * s1 * c1 * s2 * c2;
    *side = 0;
    /* B = 0 (a coupler at 0:100) leaves nothing to tune. */
    if (B == 0) return theta_t;
    double st = sin(theta_t), x = (A - st * st) / B;
    if (B > 0 ? x > 1 : x < -1) *side = -1;
    if (B > 0 ? x < -1 : x > 1) *side = 1;
    if (x > 1) x = 1;
    if (x < -1) x = -1;
    return 0.5 * acos(x);
}

/* Local correction of coupler errors (Bandyopadhyay et al., Optica 8, 1247, 2021; Hamerly et
 * al., Phys. Rev. Applied 18, 024019, 2022). The calibration knows each MZI's α̂ = α(1 − e).
 * An imbalanced MZI is D(a, b) · T(θ_e, φ_e): θ' is chosen for the target splitting (θ_e =
 * θ_t), φ' for the target input phase, and the output phases D(a, b) it cannot undo are
 * carried forward on the modes (ψ) and taken out by the next MZIs' φ and finally the output
 * screen: T(θ, φ) · diag(e^{iψ₀}, e^{iψ₁}) = e^{iψ₁} T(θ, φ + ψ₀ − ψ₁). With e = 0 and every
 * splitting reachable this programs the target matrix exactly. Targets in, settings out, in
 * dst's θ, φ and screen; MZIs whose α̂ is 0 keep their θ (bit for bit when nothing moved). */
static void correct_couplers(const uh_mesh_noise_t *nz, uh_mesh_t *dst) {
    double keep = 1.0 - nz->coupler_model_error;
    if (keep == 0) return; /* nothing measured: the uncorrected chip */
    int n = dst->n;
    double psi[UH_MESH_MAX_N]; /* the mode's phase error so far, on the stack like chain_t */
    for (int j = 0; j < n; j++) psi[j] = 0;
    for (int k = 0; k < dst->n_mzis; k++) {
        uh_mzi_t *z = &dst->mzis[k];
        int m = z->m;
        double p0 = psi[m], p1 = psi[m + 1];
        double a1 = keep * z->alpha[0], a2 = keep * z->alpha[1];
        if (a1 == 0 && a2 == 0) {
            if (p0 != p1) z->phi = wrap_2pi(z->phi - p0 + p1);
            psi[m] = p1;
            continue;
        }
        /* The target in the canonical form; the decompositions' θ ∈ [0, π/2] already is. */
        double at = 0, bt = 0, th_t = z->theta, ph_t = z->phi;
        if (!(th_t >= 0 && th_t <= 0.5 * UH_PI)) {
            double complex t[4];
            uh_mzi_ideal(z->theta, z->phi, t);
            mzi_canonical(t, &at, &bt, &th_t, &ph_t);
        }
        int side;
        double th = corrected_theta(th_t, a1, a2, &side);
        double complex t[4];
        uh_mzi_physical(th, 0, a1, a2, t);
        double ap, bp, th_e, ph_0;
        mzi_canonical(t, &ap, &bp, &th_e, &ph_0);
        /* Out of reach, the small entries (the cross ports near bar, the bar ports near cross)
         * are too large. UH_COUPLER_NEAREST leaves them in phase with their targets (the
         * nearest 2×2); UH_COUPLER_IN_PHASE turns them by x, cos x = target / reached, which
         * keeps the large entries exact and the small ones' in-phase part exact, the excess
         * in quadrature: what a homodyne in-phase readout of real weights does not see. Bar:
         * row m and column 0 turn (ψ_m, φ'); cross: row m + 1 and column 0. */
        double xm = 0, xp = 0;
        if (nz->coupler_corrected != UH_COUPLER_IN_PHASE) side = 0;
        if (side < 0) xm = acos(fmin(sin(th_t) / sin(th_e), 1.0));
        if (side > 0) xp = acos(fmin(cos(th_t) / cos(th_e), 1.0));
        z->theta = th;
        z->phi = wrap_2pi(ph_t - ph_0 - p0 + p1 - xm - xp);
        psi[m] = remainder(p1 + ap - at - xm, TWO_PI);
        psi[m + 1] = remainder(p1 + bp - bt - xp, TWO_PI);
    }
    for (int j = 0; j < n; j++) {
        if (psi[j] != 0) dst->out_phase[j] = wrap_2pi(dst->out_phase[j] - psi[j]);
    }
}

/* Calibration, DAC and crosstalk on dst's phases (the targets, after the coupler correction
 * when there is one), in place: steps 2b–4, which draw nothing. */
static void program_phases(const uh_mesh_noise_t *nz, uh_mesh_t *dst) {
    chain_t ch;
    chain_init(&ch, nz, dst->n);
    /* Chains start at the MZIs without a neighbour on mode m − 2. */
    for (int head = 0; head < dst->n_mzis; head++) {
        if (dst->nbr[2 * head] >= 0) continue;
        ch.len = 0;
        for (int k = head; k >= 0; k = dst->nbr[2 * k + 1]) ch.idx[ch.len++] = k;
        for (int i = 0; i < ch.len; i++) ch.t[i] = dst->mzis[ch.idx[i]].theta;
        chain_phases(&ch, 1);
        for (int i = 0; i < ch.len; i++) dst->mzis[ch.idx[i]].theta = ch.t[i];
        for (int i = 0; i < ch.len; i++) ch.t[i] = dst->mzis[ch.idx[i]].phi;
        chain_phases(&ch, 0);
        for (int i = 0; i < ch.len; i++) dst->mzis[ch.idx[i]].phi = ch.t[i];
    }
    /* The output screen is one column of n adjacent shifters: neighbours are modes j ± 1. */
    ch.len = dst->n;
    for (int j = 0; j < dst->n; j++) ch.t[j] = dst->out_phase[j];
    chain_phases(&ch, 0);
    for (int j = 0; j < dst->n; j++) dst->out_phase[j] = ch.t[j];
}

/* Phase error σ on physical phases: σ/2 on θ (mesh.h). Draw order θ, φ per MZI, then the
 * screen. */
static void realize_phase_errors(const uh_mesh_noise_t *nz, uint64_t key, uh_mesh_t *dst) {
    double s = nz->sigma_phase;
    if (s == 0) return;
    uh_gauss_t r;
    uh_gauss_init(&r, key, STREAM_PHASE);
    for (int k = 0; k < dst->n_mzis; k++) {
        dst->mzis[k].theta += 0.5 * s * uh_gauss(&r);
        dst->mzis[k].phi += s * uh_gauss(&r);
    }
    for (int j = 0; j < dst->n; j++) dst->out_phase[j] += s * uh_gauss(&r);
}

static void realize_couplers(const uh_mesh_t *mesh, const uh_mesh_noise_t *nz, uint64_t key,
                             uh_mesh_t *dst) {
    if (nz->sigma_bs == 0) return;
    uh_gauss_t r;
    uh_gauss_init(&r, key, STREAM_COUPLER);
    for (int k = 0; k < mesh->n_mzis; k++) {
        for (int i = 0; i < 2; i++) dst->mzis[k].alpha[i] += nz->sigma_bs * uh_gauss(&r);
    }
}

/* Insertion loss: amplitude × 10^(−IL/20) per MZI crossed. Balanced meshes carry the mean
 * loss at every position, which commutes with everything as the scalar t^depth; each MZI
 * then keeps only its deviation from the mean. */
static void realize_loss(const uh_mesh_t *mesh, const uh_mesh_noise_t *nz, uint64_t key,
                         uh_mesh_t *dst) {
    if (nz->il_db == 0 && nz->sigma_il_db == 0) return;
    uh_gauss_t r;
    uh_gauss_init(&r, key, STREAM_LOSS);
    double t_mean = pow(10.0, -nz->il_db / 20.0);
    double per_mzi = nz->il_balanced ? t_mean : 1.0;
    for (int k = 0; k < mesh->n_mzis; k++) {
        double il = nz->il_db;
        if (nz->sigma_il_db > 0) il += nz->sigma_il_db * uh_gauss(&r);
        /* A passive device has no gain. */
        if (il < 0) il = 0;
        dst->mzis[k].amp *= exp(-il * LN10_OVER_20) / per_mzi;
    }
    if (nz->il_balanced) dst->gain *= pow(t_mean, mesh->depth);
}

/* The checks and the start shared by both realizations: dst gets mesh's devices (a sample
 * of a sample adds the effects again) and *key the realization's key. */
static int realize_start(const uh_mesh_t *mesh, const uh_mesh_noise_t *noise, uh_rng_t *rng,
                         uh_mesh_t *dst, uint64_t *key, uh_error_t *err) {
    int rc = uh_mesh_noise_check(noise, err);
    if (rc) return rc;
    if (dst == mesh || dst->n != mesh->n || dst->n_mzis != mesh->n_mzis) {
        /* Sizes are what the copy below relies on; the layout itself is copied over. */
        return uh_error_set(err, UH_EINVAL, "mesh realize: dst must be a separate clone");
    }
    for (int k = 0; k < mesh->n_mzis; k++) dst->mzis[k] = mesh->mzis[k];
    for (int k = 0; k < 2 * mesh->n_mzis; k++) dst->nbr[k] = mesh->nbr[k];
    for (int j = 0; j < mesh->n; j++) dst->out_phase[j] = mesh->out_phase[j];
    dst->depth = mesh->depth;
    dst->gain = mesh->gain;
    *key = uh_rng_u64(rng);
    return UH_OK;
}

int uh_mesh_realize_into(const uh_mesh_t *mesh, const uh_mesh_noise_t *noise, uh_rng_t *rng,
                         uh_mesh_t *dst, uh_error_t *err) {
    uint64_t key;
    int rc = realize_start(mesh, noise, rng, dst, &key, err);
    if (rc) return rc;
    /* The chip's couplers first: the calibration measures them. Their own stream keeps their
     * values whatever the order. */
    realize_couplers(mesh, noise, key, dst);
    if (noise->coupler_corrected) correct_couplers(noise, dst);
    program_phases(noise, dst);
    realize_phase_errors(noise, key, dst);
    realize_loss(mesh, noise, key, dst);
    return UH_OK;
}

static int refuse_corrected(const uh_mesh_noise_t *noise, uh_error_t *err) {
    if (!noise->coupler_corrected) return UH_OK;
    return uh_error_set(err, UH_EINVAL,
                        "mesh program: coupler correction programs each sample's own couplers");
}

int uh_mesh_program(const uh_mesh_t *mesh, const uh_mesh_noise_t *noise, uh_mesh_t **out,
                    uh_error_t *err) {
    *out = NULL;
    int rc = uh_mesh_noise_check(noise, err);
    if (!rc) rc = refuse_corrected(noise, err);
    if (!rc) rc = uh_mesh_clone(mesh, out, err);
    if (rc) return rc;
    program_phases(noise, *out);
    return UH_OK;
}

int uh_mesh_realize_programmed_into(const uh_mesh_t *programmed, const uh_mesh_noise_t *noise,
                                    uh_rng_t *rng, uh_mesh_t *dst, uh_error_t *err) {
    uint64_t key;
    int rc = refuse_corrected(noise, err);
    if (!rc) rc = realize_start(programmed, noise, rng, dst, &key, err);
    if (rc) return rc;
    realize_couplers(programmed, noise, key, dst);
    realize_phase_errors(noise, key, dst);
    realize_loss(programmed, noise, key, dst);
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
