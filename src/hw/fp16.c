/* IEEE binary16 rounding: F16C's conversions (x86 since Ivy Bridge and Piledriver) chosen at
 * run time, so a build without -mf16c still uses them, and a portable integer fallback that
 * gives the same bits. */
#include "fp16.h"

#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <cpuid.h>
#include <immintrin.h>
#include <stdatomic.h>
#define HAVE_F16C_BUILTIN 1
#endif

/* Bit patterns of float32 magnitudes. */
#define F32_INF 0x7f800000u
#define F32_FP16_OVERFLOW 0x477ff000u   /* 65520: rounds to 65536, past 65504 = FP16_MAX */
#define F32_FP16_MIN_NORMAL 0x38800000u /* 2^-14 */
#define F32_DROPPED_BITS 13             /* float32's 23 fraction bits less binary16's 10 */

static float round_one(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint32_t sign = u & 0x80000000u, a = u ^ sign;
    if (a > F32_INF) return x; /* NaN */
    if (a >= F32_FP16_OVERFLOW) {
        a = F32_INF;
    } else if (a >= F32_FP16_MIN_NORMAL) {
        /* round the dropped bits to nearest, ties to the even kept bit; a carry moves into the
         * exponent, which is the right result */
        const uint32_t half = (1u << (F32_DROPPED_BITS - 1)) - 1;
        a = (a + half + ((a >> F32_DROPPED_BITS) & 1u)) & ~((1u << F32_DROPPED_BITS) - 1u);
    } else {
        /* subnormal binary16: multiples of 2^-24. The 24-bit significand m (hidden bit set)
         * is worth m·2^(e−150): `shift` bits of it lie below 2^-24. */
        int shift = 126 - (int)(a >> 23);
        uint32_t r = 0; /* below 2^-25 (shift > 24) everything rounds to zero */
        if (shift <= 24) {
            uint32_t m = (a & 0x7fffffu) | 0x800000u;
            r = (m + (1u << (shift - 1)) - 1u + ((m >> shift) & 1u)) >> shift;
        }
        float f = (float)r * 0x1p-24f; /* r ≤ 1024: exact */
        memcpy(&a, &f, sizeof a);
    }
    u = sign | a;
    memcpy(&x, &u, sizeof x);
    return x;
}

void hw_fp16_round_portable(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = round_one(x[i]);
}

#ifdef HAVE_F16C_BUILTIN
/* Eight at a time through binary16 and back, round to nearest even; NaN put back unchanged
 * (the conversion would quiet it and cut its payload). The tail goes through a padded copy. */
__attribute__((target("avx,f16c"))) static __m256 f16c_8(__m256 v) {
    __m256 r = _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    return _mm256_blendv_ps(r, v, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}

__attribute__((target("avx,f16c"))) static void f16c_round(float *x, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, f16c_8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        float tail[8] = {0};
        memcpy(tail, x + i, (n - i) * sizeof *x);
        _mm256_storeu_ps(tail, f16c_8(_mm256_loadu_ps(tail)));
        memcpy(x + i, tail, (n - i) * sizeof *x);
    }
}

/* Whether the CPU has F16C, asked once (cpuid can trap to a hypervisor: microseconds). Its
 * instructions are VEX-encoded, so they also need the OS to keep the AVX state, which
 * __builtin_cpu_supports("avx") checks (compilers before GCC 11 and Clang 16 know no "f16c"). */
static int cpu_has_f16c(void) {
    static atomic_int known = -1;
    int has = atomic_load_explicit(&known, memory_order_relaxed);
    if (has < 0) {
        unsigned a, b, c, d;
        has = __builtin_cpu_supports("avx") && __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
        atomic_store_explicit(&known, has, memory_order_relaxed);
    }
    return has;
}

int hw_fp16_round_f16c(float *x, size_t n) {
    if (!cpu_has_f16c()) return 0;
    f16c_round(x, n);
    return 1;
}
#else
int hw_fp16_round_f16c(float *x, size_t n) {
    (void)x, (void)n;
    return 0;
}
#endif

void hw_fp16_round(float *x, size_t n) {
    if (!hw_fp16_round_f16c(x, n)) hw_fp16_round_portable(x, n);
}
