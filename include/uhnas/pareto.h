/* uhnas — multi-objective metrics: non-dominated sorting, crowding, NSGA-II selection,
 * hypervolume, and the rank statistics that judge a predictor. Pure numerics: no I/O, no
 * randomness, no state between calls.
 *
 * Points are row-major n × k doubles (point i is pts[i*k .. i*k+k-1]), 1 ≤ k ≤ 3, and every
 * objective is MINIMISED: callers pass error = 1 − accuracy, not accuracy.
 *
 * A point is valid when all its objectives are finite. Invalid points (NaN or ±inf — a
 * failed or unmeasured candidate) never crash anything and always lose: they form one last
 * front after every valid point, get crowding 0, are never on the Pareto front, and add
 * nothing to a hypervolume. */
#ifndef UHNAS_PARETO_H
#define UHNAS_PARETO_H

#include <stdint.h>

#include "uhnas/error.h"
#include "uhnas/limits.h"

/* ---- dominance ---- */

/* Deb's non-dominated ranks: rank[i] = 0 for points no other point dominates, r for points
 * that are non-dominated once ranks < r are removed (a dominates b when a ≤ b in every
 * objective and a < b in one; equal points do not dominate each other and share a rank).
 * Invalid points get (last valid rank + 1), or 0 when no point is valid. The ranks are
 * those of Deb's fast non-dominated sort, computed without its O(n²) domination lists: see
 * pareto.c. rank has n entries. */
int uh_pareto_sort(const double *pts, int n, int k, int *rank, uh_error_t *err);

/* The indices (ascending) of the valid non-dominated points into out (capacity n); *n_out
 * receives their count. Duplicates on the front are all listed. */
int uh_pareto_front_indices(const double *pts, int n, int k, int *out, int *n_out, uh_error_t *err);

/* NSGA-II crowding distance (Deb et al. 2002) of the m members idx[0..m) of one front:
 * dist[j] is for member idx[j]. Per objective the members are sorted (ties by position in
 * idx); the two extremes get INFINITY and each inner member adds (next − previous) / (max −
 * min), the front's range. An objective with zero range adds nothing and marks no extremes.
 * Fronts of one or two valid members are all INFINITY; invalid members get 0 and take no
 * part. */
int uh_pareto_crowding(const double *pts, int n, int k, const int *idx, int m, double *dist,
                       uh_error_t *err);

/* ---- NSGA-II ---- */

/* Rank (uh_pareto_sort) and crowding distance within its own front for every point. */
int uh_nsga2_assign(const double *pts, int n, int k, int *rank, double *crowd, uh_error_t *err);

/* Environmental selection: the first `want` (0 ≤ want ≤ n) points in the order (rank
 * ascending, crowding descending, index ascending) into chosen[0..want), in that order.
 * Whole fronts are kept while they fit; the front that does not fit gives up its most
 * crowded members. Deterministic: no randomness, ties go to the lower index. */
int uh_nsga2_select(const double *pts, int n, int k, int want, int *chosen, uh_error_t *err);

/* The crowded-comparison operator for binary tournaments: > 0 when a is better (lower rank,
 * or the same rank and larger crowding), < 0 when b is, 0 for a tie (the caller breaks it,
 * by index or by a coin from its stream). */
int uh_nsga2_better(int rank_a, double crowd_a, int rank_b, double crowd_b);

/* ---- hypervolume ----
 *
 * The Lebesgue measure of the region dominated by the points and bounded by ref: the union
 * of the boxes [p, ref]. A point counts only when it strictly dominates ref (p < ref in every
 * objective); invalid points count nothing. Exact, O(n log n): 1-D the minimum, 2-D sort and
 * sweep, 3-D a sweep in the third objective over the 2-D staircase of the points so far
 * (hypervolume.c).
 *
 * ref must be finite and is the caller's: the search normalises its objectives so that ref
 * is fixed for a run (error in [0, 1] with ref 1; energy on a log10 scale divided by a fixed
 * span with ref 1; robustness drop in [0, 1] with ref 1 — see search.h), which makes
 * hypervolumes of different runs on the same backend and data comparable. */
int uh_hypervolume(const double *pts, int n, int k, const double *ref, double *hv, uh_error_t *err);

/* ---- predictor quality and diversity ----
 *
 * Pure: no allocation, no failure. NaN when n < 2, when either input has zero variance (all
 * values tied), or when any input is NaN. Kendall and Spearman are O(n²) in time and meant
 * for n ≤ 10^4 (a fraction of a second there). */

/* Kendall's τ-b: (concordant − discordant) / sqrt((n0 − ties_x)(n0 − ties_y)), n0 = n(n−1)/2;
 * a pair tied in both counts in both tie terms (scipy.stats.kendalltau's default). */
double uh_kendall_tau(const double *x, const double *y, int n);
/* Spearman's ρ: Pearson's r of the ranks, tied values sharing their average rank. */
double uh_spearman_rho(const double *x, const double *y, int n);
/* Pearson's r. */
double uh_pearson_r(const double *x, const double *y, int n);
/* Mean absolute error of pred against truth; NaN when n < 1. */
double uh_mae(const double *pred, const double *truth, int n);

/* Mean of dist(ctx, i, j) over the pairs i < j of n items (0 when n < 2): the diversity of
 * a population under any distance the caller defines (e.g. between architecture
 * encodings). */
double uh_mean_pairwise(int n, double (*dist)(void *ctx, int i, int j), void *ctx);

/* ---- two samples (strategies over seeds) ---- */

/* qsort's comparison of doubles, ascending (NaN compares equal to everything). */
int uh_compare_doubles(const void *a, const void *b);

/* Two-sided p of the Mann-Whitney U test (Wilcoxon rank-sum) that x and y come from one
 * distribution; *u (may be NULL) gets U of x: the pairs with x > y, ties counting one half.
 * Exact (the null distribution by recursion) without ties when both sizes are at most
 * UH_MW_EXACT_MAX, otherwise the normal approximation with tie and continuity corrections
 * (scipy.stats.mannwhitneyu's "asymptotic"). NaN when a sample is empty or holds NaN. */
double uh_mann_whitney_p(const double *x, int nx, const double *y, int ny, double *u);
/* The percentile bootstrap interval of the mean of x at `level` (0.95: the 2.5 and 97.5 %
 * points of `resamples` resampled means), reproducible from seed. NaN when n < 1 or out of
 * memory. */
void uh_bootstrap_mean_ci(const double *x, int n, int resamples, double level, uint64_t seed,
                          double *lo, double *hi);

#endif
