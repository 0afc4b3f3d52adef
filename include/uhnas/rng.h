/* uhnas — the one source of randomness, always passed in explicitly.
 *
 * xoshiro256** seeded through splitmix64: fast, small state, and the same stream on every
 * platform, so a seed names a run. There is no global generator. */
#ifndef UHNAS_RNG_H
#define UHNAS_RNG_H

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
/* Uniform integer in [0, n), unbiased; n > 0. */
uint64_t uh_rng_below(uh_rng_t *rng, uint64_t n);
/* Standard normal (Box–Muller, no cached spare so the stream position is explicit). */
double uh_rng_normal(uh_rng_t *rng);
/* Fisher–Yates shuffle of an index array. */
void uh_rng_shuffle(uh_rng_t *rng, int *idx, int n);

#endif
