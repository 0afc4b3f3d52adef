/* Standard normals in blocks (src/hw/gauss.c), for the simulators' Monte-Carlo samples: Box–
 * Muller, both of each pair kept, made UH_GAUSS_BLOCK at a time from the lanes generator
 * (uh_rng_lanes_t) in loops the compiler vectorises; the same numbers whether it does or not.
 * One stream per (key, stream id), so an effect's draws do not depend on the others'. */
#ifndef UHNAS_HW_GAUSS_H
#define UHNAS_HW_GAUSS_H

#include "uhnas/rng.h"

#define UH_GAUSS_BLOCK 64

typedef struct {
    uh_rng_lanes_t rng;
    int next; /* buf[next..UH_GAUSS_BLOCK) not yet used */
    double buf[UH_GAUSS_BLOCK];
} uh_gauss_t;

void uh_gauss_init(uh_gauss_t *g, uint64_t key, uint64_t stream);
/* The next UH_GAUSS_BLOCK normals into g->buf (g->next = 0). */
void uh_gauss_fill(uh_gauss_t *g);

static inline double uh_gauss(uh_gauss_t *g) {
    if (g->next == UH_GAUSS_BLOCK) uh_gauss_fill(g);
    return g->buf[g->next++];
}

#endif
