/* Rank statistics of a predictor against measurements, and mean pairwise distance.
 *
 * Quadratic on purpose: a search measures at most a few thousand candidates, and the O(n²)
 * forms need no scratch memory, so these functions cannot fail and stay pure. Sums of pair
 * counts are int64_t: n(n−1)/2 overflows int from n ≈ 65536. */
#include "uhnas/pareto.h"

#include <math.h>
#include <stdint.h>

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
