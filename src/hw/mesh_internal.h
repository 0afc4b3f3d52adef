/* Private to the mesh module: building a mesh from MZI records, and the sine and cosine that
 * realizing and evaluating meshes compute several times per MZI. */
#ifndef UHNAS_HW_MESH_INTERNAL_H
#define UHNAS_HW_MESH_INTERNAL_H

#include <math.h>

#include "uhnas/mesh.h"

/* A mesh from n_mzis records in application order (m, θ, φ, α, amp are used; stage is
 * derived) and n output phases (NULL = 0). Sizes are trusted: callers have checked them. */
int uh_mesh_build(int n, int n_mzis, const uh_mzi_t *mzis, const double *out_phase, uh_mesh_t **out,
                  uh_error_t *err);

/* sin x and cos x on [−π/4, π/4]: the minimax polynomials of fdlibm's __kernel_sin and
 * __kernel_cos (Sun Microsystems 1993, as in FreeBSD's msun k_sin.c / k_cos.c), error under
 * one ulp. */
static inline void uh_mesh_sincos_kernel(double x, double *s, double *c) {
    const double S1 = -1.66666666666666324348e-01, S2 = 8.33333333332248946124e-03,
                 S3 = -1.98412698298579493134e-04, S4 = 2.75573137070700676789e-06,
                 S5 = -2.50507602534068634195e-08, S6 = 1.58969099521155010221e-10;
    const double C1 = 4.16666666666666019037e-02, C2 = -1.38888888888741095749e-03,
                 C3 = 2.48015872894767294178e-05, C4 = -2.75573143513906633035e-07,
                 C5 = 2.08757232129817482790e-09, C6 = -1.13596475577881948265e-11;
    double z = x * x, w = z * z;
    double rs = S2 + z * (S3 + z * S4) + z * w * (S5 + z * S6);
    *s = x + z * x * (S1 + z * rs);
    double rc = z * (C1 + z * (C2 + z * C3)) + w * w * (C4 + z * (C5 + z * C6));
    double hz = 0.5 * z, v = 1.0 - hz;
    *c = v + (((1.0 - v) - hz) + z * rc);
}

/* sin and cos of q·π/2 + r from the kernels' sr = sin r, cr = cos r. Selects, not a switch:
 * a mesh's phases fall in every quadrant at random, which a branch would mispredict. */
static inline void uh_mesh_sincos_quadrant(long q, double sr, double cr, double *s, double *c) {
    double s1 = q & 1 ? cr : sr, c1 = q & 1 ? -sr : cr;
    *s = q & 2 ? -s1 : s1;
    *c = q & 2 ? -c1 : c1;
}

/* Beyond this |x| the reduction below would lose accuracy (n·π/2's first part must stay
 * exact in 53 bits, so n < 2^20); the meshes' phases are a few π, libm takes the rest. */
#define UH_MESH_SINCOS_FAST_MAX 1.0e5

/* sin x and cos x within an ulp of libm's for |x| ≤ UH_MESH_SINCOS_FAST_MAX: x − n·π/2 in two
 * parts (fdlibm's pio2_1, 33 bits, and pio2_1t: the first product is exact), the kernels
 * above, then the quadrant. Branch-free, for vector loops. */
static inline void uh_mesh_sincos_near(double x, double *s, double *c) {
    const double pio2_1 = 1.57079632673412561417e+00, pio2_1t = 6.07710050650619224932e-11;
    double n = nearbyint(x * 0.63661977236758134308);
    double r = (x - n * pio2_1) - n * pio2_1t, sr, cr;
    uh_mesh_sincos_kernel(r, &sr, &cr);
    uh_mesh_sincos_quadrant((long)n, sr, cr, s, c);
}

/* sin x and cos x for any x, several times faster than libm's on a mesh's phases. */
static inline void uh_mesh_sincos(double x, double *s, double *c) {
    if (fabs(x) <= UH_MESH_SINCOS_FAST_MAX) {
        uh_mesh_sincos_near(x, s, c);
    } else {
        *s = sin(x);
        *c = cos(x);
    }
}

#endif
