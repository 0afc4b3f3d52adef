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
    return UH_OK;
}

/* The phase a b-bit DAC sets: the nearest of 2^b levels k·2π/2^b on [0, 2π). Rounding
 * first and wrapping the level index keeps this to floor/nearbyint (no fmod) in the hot loop. */
static double quantize(double x, int bits) {
    if (bits == 0) return x;
    double levels = (double)(1UL << bits), step = 2.0 * UH_PI / levels;
    double k = nearbyint(x * (levels / (2.0 * UH_PI)));
    k -= levels * floor(k / levels);
    return k * step;
}

/* Programmed θ (which = 0) or φ (which = 1) of MZI k, as the DAC sets it. */
static double programmed(const uh_mesh_t *mesh, int k, int which, int bits) {
    const uh_mzi_t *z = &mesh->mzis[k];
    return quantize(which ? z->phi : z->theta, bits);
}

/* Thermal crosstalk, linear in the neighbours' programmed phases (the nearest-neighbour case
 * of the crosstalk matrix in Gu et al.'s torchonn): θ, φ of an MZI gain κ × the same
 * shifter's phase in each same-column neighbour. */
static double with_crosstalk(const uh_mesh_t *mesh, int k, int which, const uh_mesh_noise_t *nz) {
    double p = programmed(mesh, k, which, nz->phase_bits);
    if (nz->crosstalk == 0) return p;
    for (int side = 0; side < 2; side++) {
        int j = mesh->nbr[2 * k + side];
        if (j >= 0) p += nz->crosstalk * programmed(mesh, j, which, nz->phase_bits);
    }
    return p;
}

/* The output screen is one column of n adjacent shifters: neighbours are modes j ± 1. */
static double screen_phase(const uh_mesh_t *mesh, int j, const uh_mesh_noise_t *nz) {
    double p = quantize(mesh->out_phase[j], nz->phase_bits);
    if (nz->crosstalk == 0) return p;
    if (j > 0) p += nz->crosstalk * quantize(mesh->out_phase[j - 1], nz->phase_bits);
    if (j + 1 < mesh->n) p += nz->crosstalk * quantize(mesh->out_phase[j + 1], nz->phase_bits);
    return p;
}

static void realize_phases(const uh_mesh_t *mesh, const uh_mesh_noise_t *nz, uint64_t key,
                           uh_mesh_t *dst) {
    gauss_t r;
    gauss_init(&r, key, STREAM_PHASE);
    double s = nz->sigma_phase;
    for (int k = 0; k < mesh->n_mzis; k++) {
        dst->mzis[k].theta = with_crosstalk(mesh, k, 0, nz);
        dst->mzis[k].phi = with_crosstalk(mesh, k, 1, nz);
        if (s > 0) {
            dst->mzis[k].theta += s * gauss(&r);
            dst->mzis[k].phi += s * gauss(&r);
        }
    }
    for (int j = 0; j < mesh->n; j++) {
        dst->out_phase[j] = screen_phase(mesh, j, nz);
        if (s > 0) dst->out_phase[j] += s * gauss(&r);
    }
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
