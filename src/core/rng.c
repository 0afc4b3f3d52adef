#include "uhnas/rng.h"

#include <math.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void uh_rng_seed(uh_rng_t *rng, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&x);
}

void uh_rng_seed_stream(uh_rng_t *rng, uint64_t seed, uint64_t stream) {
    /* Mix the stream id through splitmix so neighbouring ids give unrelated states. */
    uint64_t x = stream;
    uh_rng_seed(rng, seed ^ splitmix64(&x));
}

static inline uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

uint64_t uh_rng_u64(uh_rng_t *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double uh_rng_uniform(uh_rng_t *rng) {
    return uh_rng_to_uniform(uh_rng_u64(rng));
}

uint64_t uh_rng_below(uh_rng_t *rng, uint64_t n) {
    /* Rejection sampling removes the modulo bias. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;
    do r = uh_rng_u64(rng);
    while (r >= limit);
    return r % n;
}

double uh_rng_normal(uh_rng_t *rng) {
    double u1 = uh_rng_uniform(rng);
    double u2 = uh_rng_uniform(rng);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void uh_rng_shuffle(uh_rng_t *rng, int *idx, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)uh_rng_below(rng, (uint64_t)i + 1);
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

void uh_rng_lanes_seed(uh_rng_lanes_t *rng, uint64_t seed, uint64_t stream) {
    for (int j = 0; j < UH_RNG_LANES; j++) {
        uh_rng_t r;
        uh_rng_seed_stream(&r, seed, stream * UH_RNG_LANES + (uint64_t)j);
        for (int k = 0; k < 4; k++) rng->s[k][j] = r.s[k];
    }
}

/* The lanes are stepped in two halves of UH_RNG_LANES / 2 (a 256-bit vector of them), each
 * half's state in its own local arrays: those the compiler keeps in registers, where one set of
 * arrays for all the lanes it keeps in memory (half the speed). */
#define HALF_LANES (UH_RNG_LANES / 2)

/* uh_rng_u64's step on half the lanes; the multiplications by 5 and 9 as shifts and adds,
 * which every vector unit has (a 64-bit vector multiply is rare). */
static inline void lanes_step(uint64_t *s0, uint64_t *s1, uint64_t *s2, uint64_t *s3,
                              uint64_t *out) {
#pragma omp simd
    for (int j = 0; j < HALF_LANES; j++) {
        uint64_t x5 = s1[j] + (s1[j] << 2), r = rotl(x5, 7);
        out[j] = r + (r << 3);
        uint64_t t = s1[j] << 17;
        s2[j] ^= s0[j];
        s3[j] ^= s1[j];
        s1[j] ^= s2[j];
        s0[j] ^= s3[j];
        s2[j] ^= t;
        s3[j] = rotl(s3[j], 45);
    }
}

void uh_rng_lanes_u64(uh_rng_lanes_t *rng, uint64_t *out, size_t n) {
    uint64_t a0[HALF_LANES], a1[HALF_LANES], a2[HALF_LANES], a3[HALF_LANES];
    uint64_t b0[HALF_LANES], b1[HALF_LANES], b2[HALF_LANES], b3[HALF_LANES];
    uint64_t *a[4] = {a0, a1, a2, a3}, *b[4] = {b0, b1, b2, b3};
    for (int k = 0; k < 4; k++) {
        memcpy(a[k], rng->s[k], sizeof a0);
        memcpy(b[k], rng->s[k] + HALF_LANES, sizeof b0);
    }
    for (size_t i = 0; i < n; i += UH_RNG_LANES) {
        lanes_step(a0, a1, a2, a3, out + i);
        lanes_step(b0, b1, b2, b3, out + i + HALF_LANES);
    }
    for (int k = 0; k < 4; k++) {
        memcpy(rng->s[k], a[k], sizeof a0);
        memcpy(rng->s[k] + HALF_LANES, b[k], sizeof b0);
    }
}
