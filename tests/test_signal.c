/* The fast numerics under the hardware simulations (src/hw):
 *   - the fp16 digital format's rounding (fp16.c): the portable integer code and the CPU's F16C
 *     conversion give the same bits as each other and as the definition, written here in
 *     floating point (the frexpf/rintf code the format used before), on every binary16 tie
 *     and boundary and on random floats;
 *   - training noise (signal.c): the vectorised bulk generator draws exactly what its scalar
 *     streams draw, and the noise it makes is the same for any thread count, with unit
 *     variance and the Irwin-Hall bound. */
#include "common.h"

#include <omp.h>

#include "../src/hw/fp16.h"
#include "../src/hw/model.h"

/* The definition: round to nearest even with 11 significant bits in the normal range, a
 * quantum of 2^-24 below 2^-14, infinity from 65520, NaN unchanged. */
static float reference(float x) {
    float a = fabsf(x);
    if (isnan(a)) return x;
    if (a >= 65520.0f) return copysignf(INFINITY, x);
    if (a < 0x1p-14f) return rintf(x * 0x1p24f) * 0x1p-24f;
    int e;
    frexpf(a, &e);
    float quantum = ldexpf(1.0f, e - 11);
    return rintf(x / quantum) * quantum;
}

static float from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Rounds x[0..n) the portable way and, where the CPU has it, by F16C and through the
 * dispatcher, and compares every result's bits with the definition's. */
static void check_all(const float *x, size_t n) {
    float *p = malloc(n * sizeof *p), *h = malloc(n * sizeof *h), *d = malloc(n * sizeof *d);
    assert_non_null(p);
    assert_non_null(h);
    assert_non_null(d);
    memcpy(p, x, n * sizeof *p);
    memcpy(h, x, n * sizeof *h);
    memcpy(d, x, n * sizeof *d);
    hw_fp16_round_portable(p, n);
    int f16c = hw_fp16_round_f16c(h, n);
    hw_fp16_round(d, n);
    for (size_t i = 0; i < n; i++) {
        uint32_t want = bits_of(reference(x[i]));
        if (bits_of(p[i]) != want || (f16c && bits_of(h[i]) != want) || bits_of(d[i]) != want)
            fail_msg("%a (0x%08x): definition 0x%08x, portable 0x%08x, F16C 0x%08x, "
                     "dispatched 0x%08x",
                     (double)x[i], bits_of(x[i]), want, bits_of(p[i]), f16c ? bits_of(h[i]) : 0,
                     bits_of(d[i]));
    }
    free(p);
    free(h);
    free(d);
}

/* Every float32 whose top 19 bits are any pattern (so every binary16 exponent and fraction,
 * and every float32 exponent beyond them), with the 13 bits binary16 drops set to each side of
 * the tie: exact, just above, just below and at the half quantum, just above it, at the top. */
static void every_normal_tie(void **state) {
    (void)state;
    static const uint32_t low[] = {0, 1, 0xfff, 0x1000, 0x1001, 0x1fff};
    const size_t n_low = sizeof low / sizeof low[0], n = ((size_t)1 << 19) * n_low;
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (uint32_t top = 0; top < (1u << 19); top++)
        for (size_t k = 0; k < n_low; k++) x[top * n_low + k] = from_bits((top << 13) | low[k]);
    check_all(x, n);
    free(x);
}

/* Below 2^-14 the quantum is 2^-24 whatever the exponent: every multiple of 2^-25 up to
 * 2^-14 (each binary16 subnormal and each tie between two), its float32 neighbours, both
 * signs. */
static void every_subnormal_tie(void **state) {
    (void)state;
    const int steps = 2 * 1024 + 1; /* 0 .. 2^-14 in halves of 2^-24 */
    size_t n = 0;
    float *x = malloc((size_t)steps * 6 * sizeof *x);
    assert_non_null(x);
    for (int k = 0; k < steps; k++) {
        float v = (float)k * 0x1p-25f;
        for (int s = 0; s < 2; s++) {
            float w = s ? -v : v;
            x[n++] = w;
            x[n++] = nextafterf(w, INFINITY);
            x[n++] = nextafterf(w, -INFINITY);
        }
    }
    check_all(x, n);
    free(x);
}

static void specials(void **state) {
    (void)state;
    const float x[] = {0.0f,
                       -0.0f,
                       INFINITY,
                       -INFINITY,
                       NAN,
                       -NAN,
                       from_bits(0x7f800001u), /* signalling NaN, smallest payload */
                       from_bits(0xffbfffffu), /* signalling NaN, largest payload */
                       from_bits(0x7fc01234u),
                       65504.0f,
                       -65504.0f,
                       nextafterf(65520.0f, 0.0f),
                       65520.0f,
                       -65520.0f,
                       65536.0f,
                       3.4028235e38f,
                       0x1p-14f,
                       nextafterf(0x1p-14f, 0.0f),
                       0x1p-24f,
                       0x1p-25f,
                       nextafterf(0x1p-25f, 1.0f),
                       1.5f * 0x1p-24f,
                       2.5f * 0x1p-24f,
                       1e-45f, /* float32's smallest subnormal */
                       -1.1754942e-38f,
                       1.0f,
                       1.0f + 0x1p-11f,
                       1.0f + 3 * 0x1p-11f,
                       0.1f,
                       -2048.5f,
                       2049.0f};
    check_all(x, sizeof x / sizeof x[0]);
}

/* Random bit patterns (every exponent, NaNs included), random values in binary16's range,
 * and lengths that leave a tail after the vector loop. */
static void random_sweep(void **state) {
    (void)state;
    const size_t n = (size_t)1 << 22;
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    uh_rng_t rng = rng_seeded(16);
    for (size_t i = 0; i < n; i++) x[i] = from_bits((uint32_t)uh_rng_u64(&rng));
    check_all(x, n);
    for (size_t i = 0; i < n; i++) {
        uint64_t u = uh_rng_u64(&rng);
        /* float32 exponents 2^-27 .. 2^16: subnormal, normal and overflowing binary16 */
        uint32_t e = 100 + (uint32_t)((u >> 32) % 44);
        x[i] = from_bits((uint32_t)(u >> 63) << 31 | e << 23 | ((uint32_t)u & 0x7fffffu));
    }
    check_all(x, n);
    for (size_t len = 1; len <= 17; len++) check_all(x + len, len);
    free(x);
}

/* ---- training noise ---- */

/* Lane j of the bulk generator is the scalar stream (seed, stream · UH_RNG_LANES + j). */
static void lanes_are_scalar_streams(void **state) {
    (void)state;
    enum { DRAWS = 100 * UH_RNG_LANES };
    uint64_t out[DRAWS];
    uh_rng_lanes_t lanes;
    uh_rng_lanes_seed(&lanes, 42, 3);
    uh_rng_lanes_u64(&lanes, out, DRAWS / 2);
    uh_rng_lanes_u64(&lanes, out + DRAWS / 2, DRAWS / 2);
    for (int j = 0; j < UH_RNG_LANES; j++) {
        uh_rng_t r;
        uh_rng_seed_stream(&r, 42, 3 * UH_RNG_LANES + (uint64_t)j);
        for (int i = j; i < DRAWS; i += UH_RNG_LANES) assert_true(out[i] == uh_rng_u64(&r));
    }
}

/* Training noise (fast) on a buffer of many chunks and a partial one: the same bits on 1 and
 * 2 threads; mean 0 and variance σ² within 1 % of σ, nothing past 510/√21845·σ (four uniform
 * bytes: at most 510 from their mean, standard deviation √21845). */
static void fast_noise_thread_independent(void **state) {
    (void)state;
    const size_t n = 40 * HW_CHUNK + 123;
    const float sigma = 0.25f;
    float *x[2];
    int saved = omp_get_max_threads();
    for (int t = 0; t < 2; t++) {
        x[t] = calloc(n, sizeof *x[t]);
        assert_non_null(x[t]);
        omp_set_num_threads(t + 1);
        uh_rng_t rng = rng_seeded(7);
        hw_add_normal(x[t], n, sigma, &rng, 1);
    }
    omp_set_num_threads(saved);
    assert_memory_equal(x[0], x[1], n * sizeof *x[0]);
    double sum = 0, sq = 0, peak = 0;
    for (size_t i = 0; i < n; i++) {
        sum += x[0][i], sq += (double)x[0][i] * x[0][i];
        peak = fmax(peak, fabs(x[0][i]));
    }
    assert_close(sum / n, 0, 0.01 * sigma);
    assert_close(sqrt(sq / n), sigma, 0.01 * sigma);
    assert_true(peak <= 510 / sqrt(21845.0) * sigma * (1 + 1e-6));
    free(x[0]);
    free(x[1]);
}

int main(void) {
    float probe = 1.0f;
    if (!hw_fp16_round_f16c(&probe, 1))
        printf("test_signal: no F16C on this CPU: only the portable code is checked\n");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_normal_tie),
        cmocka_unit_test(every_subnormal_tie),
        cmocka_unit_test(specials),
        cmocka_unit_test(random_sweep),
        cmocka_unit_test(lanes_are_scalar_streams),
        cmocka_unit_test(fast_noise_thread_independent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
