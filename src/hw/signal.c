/* Signal helpers shared by the analog simulators (MZI, crossbar): parallel max, seeded noise
 * in chunks, and the ADC that reads a layer's outputs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gauss.h"
#include "model.h"

/* Values per block of the fast path: an even multiple of UH_RNG_LANES (two values a draw),
 * small enough for the stack. */
#define NOISE_BLOCK 512

/* The fast path's normal from 32 random bits: the sum of their four bytes (Irwin-Hall of four
 * uniforms on 256 levels), centred: mean 4 · 127.5 = 510, variance 4 · (256² − 1) / 12 = 21845.
 * Two bytes at a time in one word (SWAR), so a vector unit does eight at once. */
#define IH_MEAN 510
#define IH_SD 147.79715830622424 /* sqrt(21845) */

static inline float irwin_hall(uint32_t v) {
    v = (v & 0x00FF00FFu) + ((v >> 8) & 0x00FF00FFu);
    return (float)((int32_t)((v & 0xFFFFu) + (v >> 16)) - IH_MEAN);
}

/* x[i0..i1) += sigma·N(0,1) from stream (seed, chunk); see hw_add_normal for `fast`. The fast
 * path draws from UH_RNG_LANES generators at once (uh_rng_lanes_t) in blocks; each 64-bit draw
 * gives two values, its low half to the block's first half and its high half to the second,
 * and the loops that turn them into noise are vectorisable too: integers, one scale, one add.
 * The exact path takes blocks of Box–Muller normals (gauss.h). */
static void chunk_noise(float *x, size_t i0, size_t i1, float sigma, uint64_t seed, long chunk,
                        int fast) {
    if (fast) {
        enum { HALF = NOISE_BLOCK / 2 };
        const float k = (float)(sigma / IH_SD);
        uh_rng_lanes_t r;
        uh_rng_lanes_seed(&r, seed, (uint64_t)chunk);
        uint64_t u[HALF];
        for (size_t b = i0; b < i1; b += NOISE_BLOCK) {
            size_t m = i1 - b < NOISE_BLOCK ? i1 - b : NOISE_BLOCK, lo = m < HALF ? m : HALF;
            uh_rng_lanes_u64(&r, u, HALF);
            float *xb = x + b;
#pragma omp simd
            for (size_t i = 0; i < lo; i++) xb[i] += k * irwin_hall((uint32_t)u[i]);
#pragma omp simd
            for (size_t i = HALF; i < m; i++)
                xb[i] += k * irwin_hall((uint32_t)(u[i - HALF] >> 32));
        }
        return;
    }
    uh_gauss_t g;
    uh_gauss_init(&g, seed, (uint64_t)chunk);
    for (size_t b = i0; b < i1; b += UH_GAUSS_BLOCK) {
        size_t m = i1 - b < UH_GAUSS_BLOCK ? i1 - b : UH_GAUSS_BLOCK;
        uh_gauss_fill(&g);
        float *xb = x + b;
#pragma omp simd
        for (size_t i = 0; i < m; i++) xb[i] += sigma * (float)g.buf[i];
    }
}

/* Running extremes kept per lane (value i in lane i % RANGE_LANES): a loop compilers turn into
 * vector min/max without being told the order does not matter (it does not: the extremes
 * of a set are exact). */
#define RANGE_LANES 8

/* The smallest and largest of x[0..n) (+inf and -inf when n = 0); NaNs are passed over. */
static void range_of(const float *x, size_t n, float *lo_out, float *hi_out) {
    float lo[RANGE_LANES], hi[RANGE_LANES];
    for (int j = 0; j < RANGE_LANES; j++) lo[j] = INFINITY, hi[j] = -INFINITY;
    size_t i = 0;
    for (; i + RANGE_LANES <= n; i += RANGE_LANES)
        for (int j = 0; j < RANGE_LANES; j++) {
            float v = x[i + (size_t)j];
            lo[j] = v < lo[j] ? v : lo[j];
            hi[j] = v > hi[j] ? v : hi[j];
        }
    for (int j = 0; i < n; i++, j++) {
        lo[j] = x[i] < lo[j] ? x[i] : lo[j];
        hi[j] = x[i] > hi[j] ? x[i] : hi[j];
    }
    for (int j = 1; j < RANGE_LANES; j++) {
        lo[0] = lo[j] < lo[0] ? lo[j] : lo[0];
        hi[0] = hi[j] > hi[0] ? hi[j] : hi[0];
    }
    *lo_out = lo[0];
    *hi_out = hi[0];
}

float hw_max_abs(const float *x, size_t n) {
    float m = 0;
    long chunks = (long)((n + HW_CHUNK - 1) / HW_CHUNK);
#pragma omp parallel for reduction(max : m) schedule(static) if (chunks > 4)
    for (long c = 0; c < chunks; c++) {
        size_t i0 = (size_t)c * HW_CHUNK, i1 = i0 + HW_CHUNK < n ? i0 + HW_CHUNK : n;
        float lo, hi;
        range_of(x + i0, i1 - i0, &lo, &hi);
        m = -lo > m ? -lo : m;
        m = hi > m ? hi : m;
    }
    return m;
}

void hw_add_normal(float *x, size_t n, float sigma, uh_rng_t *rng, int fast) {
    if (!(sigma > 0) || !rng || n == 0) return;
    uint64_t seed = uh_rng_u64(rng);
    long chunks = (long)((n + HW_CHUNK - 1) / HW_CHUNK);
#pragma omp parallel for schedule(static) if (chunks > 4)
    for (long c = 0; c < chunks; c++) {
        size_t i0 = (size_t)c * HW_CHUNK, i1 = i0 + HW_CHUNK < n ? i0 + HW_CHUNK : n;
        chunk_noise(x, i0, i1, sigma, seed, c, fast);
    }
}

/* Rounds z to multiples of `step` (0 = no rounding), clamped at ±limit steps, and adds
 * N(0, var), chunk by chunk; *lo_out and *hi_out receive the converted range. */
static void convert(float *z, size_t count, float step, float limit, double var, uh_rng_t *rng,
                    int fast, float *lo_out, float *hi_out) {
    int round = step > 0;
    float inv_step = round ? 1 / step : 0;
    int noisy = var > 0 && rng;
    uint64_t seed = noisy ? uh_rng_u64(rng) : 0;
    float sig = (float)sqrt(var), lo = INFINITY, hi = -INFINITY;
    long chunks = (long)((count + HW_CHUNK - 1) / HW_CHUNK);
#pragma omp parallel for reduction(min : lo) reduction(max : hi) schedule(static) if (chunks > 4)
    for (long c = 0; c < chunks; c++) {
        size_t i0 = (size_t)c * HW_CHUNK, i1 = i0 + HW_CHUNK < count ? i0 + HW_CHUNK : count;
        if (round)
#pragma omp simd
            for (size_t i = i0; i < i1; i++) {
                float q = rintf(z[i] * inv_step);
                q = q > limit ? limit : (q < -limit ? -limit : q);
                z[i] = q * step;
            }
        if (noisy) chunk_noise(z, i0, i1, sig, seed, c, fast);
        float clo, chi;
        range_of(z + i0, i1 - i0, &clo, &chi);
        lo = clo < lo ? clo : lo;
        hi = chi > hi ? chi : hi;
    }
    *lo_out = lo;
    *hi_out = hi;
}

static float signed_levels(int bits) {
    return bits > 0 && bits < 32 ? (float)((1L << (bits - 1)) - 1) : 0;
}

void hw_convert_outputs(float *z, size_t count, int bits, double sigma_abs, double sigma_rel,
                        int conversions, uh_rng_t *rng, int fast, float *lo_out, float *hi_out) {
    *lo_out = *hi_out = 0;
    if (count == 0) return;
    float fs = hw_max_abs(z, count), levels = signed_levels(bits);
    double per = sigma_abs * sigma_abs + (sigma_rel * fs) * (sigma_rel * fs);
    double var = conversions * per;
    float step = levels > 0 && fs > 0 ? fs / levels : 0;
    var += (conversions - 1) * (double)step * step / 12;
    convert(z, count, step, levels, var, rng, fast, lo_out, hi_out);
}

void hw_convert_blocks(float *z, size_t count, int bits, double sigma_rel, int conversions,
                       uh_rng_t *rng, int fast, float *lo_out, float *hi_out) {
    *lo_out = *hi_out = 0;
    if (count == 0) return;
    float levels = signed_levels(bits);
    double fs = hw_max_abs(z, count) / sqrt((double)conversions); /* one block's full scale */
    double var = conversions * (sigma_rel * fs) * (sigma_rel * fs);
    float step = levels > 0 && fs > 0 ? (float)(fs / levels) : 0;
    var += (conversions - 1) * (double)step * step / 12;
    /* the sum of `conversions` readings spans conversions × a block's range */
    convert(z, count, step, levels * (float)conversions, var, rng, fast, lo_out, hi_out);
}

float hw_act_max(uh_act_t act, float lo, float hi) {
    float a = 0, b = 0;
    switch (act) {
    case UH_ACT_RELU:
        a = lo > 0 ? lo : 0, b = hi > 0 ? hi : 0;
        break;
    case UH_ACT_LEAKY_RELU:
        a = lo > 0 ? lo : 0.01f * lo, b = hi > 0 ? hi : 0.01f * hi;
        break;
    case UH_ACT_TANH:
        a = tanhf(lo), b = tanhf(hi);
        break;
    case UH_ACT_SIGMOID:
        a = 1 / (1 + expf(-lo)), b = 1 / (1 + expf(-hi));
        break;
    case UH_ACT_SQUARE:
        a = lo * lo, b = hi * hi;
        break;
    default:
        a = lo, b = hi;
        break; /* none, abs */
    }
    a = fabsf(a), b = fabsf(b);
    return a > b ? a : b;
}

/* The sum of squares is cut into ranges set by n alone (at most RMS_RANGES, of at least
 * HW_CHUNK values each), whose sums are added in order: an OpenMP reduction(+) would add
 * them in an order set by the thread count, and so change the last bits with it. Within a
 * range, RMS_LANES partial sums (value i into sum i % RMS_LANES, added in order at the end)
 * let the loop run in vector registers with the same result whether it does or not. */
#define RMS_RANGES 64
#define RMS_LANES 8

float hw_rms(const float *x, size_t n) {
    if (n == 0) return 0;
    long ranges = (long)(n / HW_CHUNK);
    ranges = ranges < 1 ? 1 : ranges > RMS_RANGES ? RMS_RANGES : ranges;
    double part[RMS_RANGES];
#pragma omp parallel for schedule(static) if (ranges > 4)
    for (long r = 0; r < ranges; r++) {
        size_t i0 = n * (size_t)r / (size_t)ranges, i1 = n * (size_t)(r + 1) / (size_t)ranges;
        double acc[RMS_LANES] = {0};
        size_t i = i0;
        for (; i + RMS_LANES <= i1; i += RMS_LANES)
#pragma omp simd
            for (int j = 0; j < RMS_LANES; j++) acc[j] += (double)x[i + j] * x[i + j];
        for (int j = 0; i < i1; i++, j++) acc[j] += (double)x[i] * x[i];
        double sq = 0;
        for (int j = 0; j < RMS_LANES; j++) sq += acc[j];
        part[r] = sq;
    }
    double sq = 0;
    for (long r = 0; r < ranges; r++) sq += part[r];
    return (float)sqrt(sq / (double)n);
}

int hw_calibrate_weight_noise(hw_perturb_fn perturb, void *ctx, int layer, int rows, int cols,
                              int samples, uint64_t seed, hw_scale_t scale, float *sigma,
                              uh_error_t *err) {
    *sigma = 0;
    if (rows < 1 || cols < 1 || samples < 1)
        return uh_error_set(err, UH_EINVAL, "calibration: %dx%d matrix, %d samples", rows, cols,
                            samples);
    size_t n = (size_t)rows * (size_t)cols;
    float *w = malloc(n * sizeof *w), *hw = malloc(n * sizeof *hw);
    if (!w || !hw) {
        free(w);
        free(hw);
        return uh_error_set(err, UH_ENOMEM, "out of memory calibrating weight noise");
    }
    uh_rng_t rng;
    uh_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++) w[i] = (float)uh_rng_normal(&rng);
    double sq = 0;
    for (int t = 0; t < samples; t++) {
        memcpy(hw, w, n * sizeof *hw);
        uh_rng_t r;
        uh_rng_seed_stream(&r, seed, (uint64_t)t + 1);
        perturb(ctx, layer, hw, rows, cols, &r);
        for (size_t i = 0; i < n; i++) sq += ((double)hw[i] - w[i]) * ((double)hw[i] - w[i]);
    }
    double rel = sqrt(sq / ((double)n * samples)) /
                 (scale == HW_SCALE_RMS ? hw_rms(w, n) : hw_max_abs(w, n));
    *sigma = rel > 1e-6 ? (float)rel : 0;
    free(w);
    free(hw);
    return UH_OK;
}
