/* Rank statistics of a predictor against measurements, mean pairwise distance, and two
 * samples compared (Mann-Whitney U, a bootstrap interval of a mean).
 *
 * Quadratic on purpose: a search measures at most a few thousand candidates, and the O(n²)
 * forms need no scratch memory, so these functions cannot fail and stay pure. Sums of pair
 * counts are int64_t: n(n−1)/2 overflows int from n ≈ 65536. */
#include "uhnas/pareto.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uhnas/rng.h"

static int any_nan(const double *x, const double *y, int n) {
    for (int i = 0; i < n; i++)
        if (isnan(x[i]) || isnan(y[i])) return 1;
    return 0;
}

/* By comparison rather than the sign of a difference, so that equal infinities tie. */
static int order(double a, double b) {
    return (a > b) - (a < b);
}

double uh_kendall_tau(const double *x, const double *y, int n) {
    if (n < 2 || any_nan(x, y, n)) return NAN;
    /* concordant − discordant is the sum of the sign products: no branches in the inner
     * loop, which is all of the cost. */
    int64_t net = 0, tie_x = 0, tie_y = 0;
    for (int i = 0; i < n; i++) {
        int64_t row = 0, tx = 0, ty = 0;
        for (int j = i + 1; j < n; j++) {
            int sx = order(x[i], x[j]), sy = order(y[i], y[j]);
            row += sx * sy;
            tx += sx == 0;
            ty += sy == 0;
        }
        net += row;
        tie_x += tx;
        tie_y += ty;
    }
    int64_t n0 = (int64_t)n * (n - 1) / 2;
    double denom = sqrt((double)(n0 - tie_x) * (double)(n0 - tie_y));
    if (!(denom > 0)) return NAN;
    return (double)net / denom;
}

/* The 1-based average rank of v[i] among v[0..n): ties share the mean of their positions. */
static double avg_rank(const double *v, int n, int i) {
    int less = 0, equal = 0;
    for (int j = 0; j < n; j++) {
        less += v[j] < v[i];
        equal += v[j] == v[i];
    }
    return less + (equal + 1) * 0.5;
}

double uh_spearman_rho(const double *x, const double *y, int n) {
    if (n < 2 || any_nan(x, y, n)) return NAN;
    /* Average ranks always sum to n(n+1)/2, so their mean is known without a first pass. */
    double mean = (n + 1) * 0.5, sxy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < n; i++) {
        double dx = avg_rank(x, n, i) - mean, dy = avg_rank(y, n, i) - mean;
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if (!(sxx > 0 && syy > 0)) return NAN;
    return sxy / sqrt(sxx * syy);
}

double uh_pearson_r(const double *x, const double *y, int n) {
    if (n < 2 || any_nan(x, y, n)) return NAN;
    double mx = 0, my = 0;
    for (int i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= n;
    my /= n;
    /* Centred second pass: the one-pass Σxy − n·x̄·ȳ cancels badly when the values sit far
     * from zero (accuracies near 0.9, say). */
    double sxy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < n; i++) {
        double dx = x[i] - mx, dy = y[i] - my;
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if (!(sxx > 0 && syy > 0)) return NAN;
    double r = sxy / sqrt(sxx * syy);
    /* Rounding can push |r| a hair past 1; callers may take acos or compare with 1. */
    return r > 1 ? 1 : r < -1 ? -1 : r;
}

double uh_mae(const double *pred, const double *truth, int n) {
    if (n < 1) return NAN;
    double s = 0;
    for (int i = 0; i < n; i++) s += fabs(pred[i] - truth[i]);
    return s / n;
}

double uh_mean_pairwise(int n, double (*dist)(void *ctx, int i, int j), void *ctx) {
    if (n < 2 || !dist) return 0.0;
    double s = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) s += dist(ctx, i, j);
    return s / ((double)n * (n - 1) / 2);
}

/* ---- two samples, and a mean's interval ---- */

/* The exact null distribution of U without ties, f(n, m, u) = f(n − 1, m, u − m) +
 * f(n, m − 1, u) arrangements (Mann & Whitney 1947), built over n in place: row m keeps
 * f(·, m, ·), read downwards in u so that f(n − 1, m, u − m) is still the old one. */
static double mw_exact_p(int nx, int ny, double u) {
    double f[UH_MW_EXACT_MAX + 1][UH_MW_EXACT_MAX * UH_MW_EXACT_MAX + 1];
    memset(f, 0, sizeof f);
    for (int m = 0; m <= ny; m++) f[m][0] = 1; /* n = 0 (and m = 0 for every n) */
    for (int n = 1; n <= nx; n++)
        for (int m = 1; m <= ny; m++)
            for (int v = n * m; v >= 0; v--) f[m][v] = (v >= m ? f[m][v - m] : 0) + f[m - 1][v];
    double total = 0, tail = 0, lo = fmin(u, (double)nx * ny - u);
    for (int v = 0; v <= nx * ny; v++) {
        total += f[ny][v];
        if (v <= lo + 1e-9) tail += f[ny][v];
    }
    return fmin(1, 2 * tail / total);
}

double uh_mann_whitney_p(const double *x, int nx, const double *y, int ny, double *u_out) {
    if (u_out) *u_out = NAN;
    if (nx < 1 || ny < 1) return NAN;
    for (int i = 0; i < nx; i++)
        if (isnan(x[i])) return NAN;
    for (int j = 0; j < ny; j++)
        if (isnan(y[j])) return NAN;
    double u = 0;
    for (int i = 0; i < nx; i++)
        for (int j = 0; j < ny; j++) u += x[i] > y[j] ? 1 : x[i] == y[j] ? 0.5 : 0;
    if (u_out) *u_out = u;
    /* Σ (t³ − t) over groups of tied values: each member of a group of t adds t² − 1 */
    int64_t ties = 0, total = (int64_t)nx + ny;
    for (int64_t a = 0; a < total; a++) {
        double va = a < nx ? x[a] : y[a - nx];
        int64_t t = 0;
        for (int64_t b = 0; b < total; b++) t += va == (b < nx ? x[b] : y[b - nx]);
        ties += t * t - 1;
    }
    if (ties == 0 && nx <= UH_MW_EXACT_MAX && ny <= UH_MW_EXACT_MAX) return mw_exact_p(nx, ny, u);
    double n = (double)total, mean = (double)nx * ny / 2;
    double var = (double)nx * ny / 12 * ((n + 1) - (double)ties / (n * (n - 1)));
    if (!(var > 0)) return 1;
    double z = (fabs(u - mean) - 0.5) / sqrt(var); /* with a continuity correction */
    return z > 0 ? fmin(1, erfc(z / sqrt(2))) : 1;
}

int uh_compare_doubles(const void *a, const void *b) {
    return order(*(const double *)a, *(const double *)b);
}

void uh_bootstrap_mean_ci(const double *x, int n, int resamples, double level, uint64_t seed,
                          double *lo, double *hi) {
    *lo = *hi = NAN;
    if (n < 1 || resamples < 1 || !(level > 0 && level < 1)) return;
    double *means = malloc((size_t)resamples * sizeof *means);
    if (!means) return;
    uh_rng_t rng;
    uh_rng_seed(&rng, seed);
    for (int b = 0; b < resamples; b++) {
        double s = 0;
        for (int i = 0; i < n; i++) s += x[uh_rng_below(&rng, (uint64_t)n)];
        means[b] = s / n;
    }
    qsort(means, (size_t)resamples, sizeof *means, uh_compare_doubles);
    /* the percentile interval: the resampled means at (1 ± level) / 2, nearest rank */
    int k_lo = (int)floor((1 - level) / 2 * (resamples - 1) + 0.5);
    int k_hi = (int)floor((1 + level) / 2 * (resamples - 1) + 0.5);
    *lo = means[k_lo];
    *hi = means[k_hi];
    free(means);
}
