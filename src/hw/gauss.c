/* Standard normals in blocks (gauss.h). */
#include "gauss.h"

#include <math.h>
#include <string.h>

#include "linalg.h"
#include "mesh_internal.h"

_Static_assert(UH_GAUSS_BLOCK % UH_RNG_LANES == 0, "uh_rng_lanes_u64 draws whole rounds");

void uh_gauss_init(uh_gauss_t *g, uint64_t key, uint64_t stream) {
    uh_rng_lanes_seed(&g->rng, key, stream);
    g->next = UH_GAUSS_BLOCK;
}

/* ln x for a normal (not subnormal) double x > 0: fdlibm's e_log.c (Sun Microsystems 1993, as in
 * FreeBSD's msun), x = 2^k (1 + f) with 1 + f in [√2/2, √2), ln(1 + f) by its minimax series in s =
 * f / (2 + f), error under one ulp. Branch-free, so that a loop of it vectorises (libm's log does
 * not). */
static inline double fast_log(double x) {
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    const double Lg1 = 6.666666666666735130e-01, Lg2 = 3.999999999940941908e-01,
                 Lg3 = 2.857142874366239149e-01, Lg4 = 2.222219843214978396e-01,
                 Lg5 = 1.818357216161805012e-01, Lg6 = 1.531383769920937332e-01,
                 Lg7 = 1.479819860511658591e-01;
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    int64_t k = (int64_t)(b >> 52) - 1023;
    b = (b & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull; /* 1 + f in [1, 2) */
    double m;
    memcpy(&m, &b, sizeof m);
    /* A select between constants, not between products: a loop the compiler may not
     * speculate floating-point operations in (they may trap) still vectorises. */
    int big = m > 1.41421356237309504880;
    m *= big ? 0.5 : 1.0;
    double dk = (double)(k + big), f = m - 1.0;
    double s = f / (2.0 + f), z = s * s, w = z * z;
    double t1 = w * (Lg2 + w * (Lg4 + w * Lg6)), t2 = z * (Lg1 + w * (Lg3 + w * (Lg5 + w * Lg7)));
    double hfsq = 0.5 * f * f;
    return dk * ln2_hi - ((hfsq - (s * (hfsq + t1 + t2) + dk * ln2_lo)) - f);
}

/* sin 2πu and cos 2πu for u in [0, 1): u − q/4 (q the nearest quarter) is exact, so the
 * angle given to the kernels is 2π(u − q/4) ∈ [−π/4, π/4] to one rounding. */
static inline void sincos_turn(double u, double *s, double *c) {
    double q = nearbyint(4.0 * u), sr, cr;
    uh_mesh_sincos_kernel(2.0 * UH_PI * (u - 0.25 * q), &sr, &cr);
    uh_mesh_sincos_quadrant((long)q, sr, cr, s, c);
}

void uh_gauss_fill(uh_gauss_t *g) {
    enum { PAIRS = UH_GAUSS_BLOCK / 2 };
    double u1[PAIRS], u2[PAIRS], r[PAIRS];
    uint64_t x[UH_GAUSS_BLOCK];
    uh_rng_lanes_u64(&g->rng, x, UH_GAUSS_BLOCK);
#pragma omp simd
    for (int i = 0; i < PAIRS; i++) {
        double u = uh_rng_to_uniform(x[i]);
        u1[i] = u < 1e-300 ? 1e-300 : u; /* ln 0 */
        u2[i] = uh_rng_to_uniform(x[PAIRS + i]);
    }
#pragma omp simd
    for (int i = 0; i < PAIRS; i++) r[i] = -2.0 * fast_log(u1[i]);
    /* sqrt on its own: C's sqrt may set errno, which keeps it out of a vector loop. */
    for (int i = 0; i < PAIRS; i++) r[i] = sqrt(r[i]);
#pragma omp simd
    for (int i = 0; i < PAIRS; i++) {
        double s, c;
        sincos_turn(u2[i], &s, &c);
        g->buf[2 * i] = r[i] * c;
        g->buf[2 * i + 1] = r[i] * s;
    }
    g->next = 0;
}
