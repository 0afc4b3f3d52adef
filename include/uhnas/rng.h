/* uhnas — the one source of randomness, always passed in explicitly.
 *
 * xoshiro256** seeded through splitmix64: fast, small state, and the same stream on every
 * platform, so a seed names a run. There is no global generator. */
#ifndef UHNAS_RNG_H
#define UHNAS_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} uh_rng_t;

void uh_rng_seed(uh_rng_t *rng, uint64_t seed);
/* An independent stream derived from (seed, stream): used to give each layer / thread /
 * Monte-Carlo sample its own reproducible generator. */
void uh_rng_seed_stream(uh_rng_t *rng, uint64_t seed, uint64_t stream);
uint64_t uh_rng_u64(uh_rng_t *rng);
/* Uniform in [0, 1). */
double uh_rng_uniform(uh_rng_t *rng);
/* The uniform in [0, 1) a 64-bit draw stands for (its top 53 bits): uh_rng_uniform's mapping,
 * for draws made in bulk. */
static inline double uh_rng_to_uniform(uint64_t x) {
    return (double)(x >> 11) * 0x1.0p-53;
}
/* Uniform integer in [0, n), unbiased; n > 0. */
uint64_t uh_rng_below(uh_rng_t *rng, uint64_t n);
/* Standard normal (Box–Muller, no cached spare so the stream position is explicit). */
double uh_rng_normal(uh_rng_t *rng);
/* Fisher–Yates shuffle of an index array. */
void uh_rng_shuffle(uh_rng_t *rng, int *idx, int n);

/* Bulk draws: UH_RNG_LANES xoshiro256** generators stepped together, lane j seeded as
 * uh_rng_seed_stream(seed, stream · UH_RNG_LANES + j). Integer arithmetic only, laid out so the
 * compiler vectorises the step: the same numbers whether it does or not, on every platform. */
#define UH_RNG_LANES 8

typedef struct {
    uint64_t s[4][UH_RNG_LANES];
} uh_rng_lanes_t;

void uh_rng_lanes_seed(uh_rng_lanes_t *rng, uint64_t seed, uint64_t stream);
/* out[0..n) = the next n draws, lane by lane (out[i] from lane i % UH_RNG_LANES); n must be a
 * multiple of UH_RNG_LANES. */
void uh_rng_lanes_u64(uh_rng_lanes_t *rng, uint64_t *out, size_t n);

#endif
