/* Exact hypervolume in 1, 2 and 3 objectives.
 *
 * 2-D: sort by the first objective and sweep; each point that improves the best second
 * objective so far adds the rectangle between it, the previous best and the reference.
 *
 * 3-D: sweep the points in increasing third objective. Between two consecutive distinct z
 * values the dominated cross-section is the 2-D region dominated by the points seen so far,
 * so the volume is Σ area × Δz. The cross-section is kept as its staircase, with its area
 * updated as each point goes in: the point's neighbours are found, the entries it covers
 * leave, and only the strip under it changes. Each point enters and leaves at most once and
 * every step is O(log n): O(n log n) in all (the algorithm of Beume et al. 2009's 3-D
 * case). */
#include "uhnas/pareto.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    double c[UH_PARETO_MAX_OBJECTIVES];
} hpt_t;

static int cmp_xy(const void *a, const void *b) {
    const hpt_t *p = a, *q = b;
    if (p->c[0] != q->c[0]) return p->c[0] < q->c[0] ? -1 : 1;
    if (p->c[1] != q->c[1]) return p->c[1] < q->c[1] ? -1 : 1;
    return 0;
}

static int cmp_z(const void *a, const void *b) {
    const hpt_t *p = a, *q = b;
    if (p->c[2] != q->c[2]) return p->c[2] < q->c[2] ? -1 : 1;
    return cmp_xy(a, b);
}

static double hv2(hpt_t *p, int n, const double *ref) {
    qsort(p, (size_t)n, sizeof *p, cmp_xy);
    double hv = 0.0, best = ref[1];
    for (int i = 0; i < n; i++) {
        if (p[i].c[1] >= best) continue;
        hv += (ref[0] - p[i].c[0]) * (best - p[i].c[1]);
        best = p[i].c[1];
    }
    return hv;
}

/* The staircase of the 3-D sweep's cross-section: the non-dominated (x, y) points so far,
 * x ascending and y strictly descending. Every x it can hold is known in advance (the
 * points' own), so an entry lives at its x's rank among them, and a Fenwick tree of
 * occupied ranks finds neighbours by counting: O(log n) per search, insertion and removal,
 * with no tree to balance. */
typedef struct {
    const double *xs;  /* the distinct x values, ascending */
    double *ys;        /* y of the entry at each x rank, when occupied */
    int *fen;          /* occupancy counts, 1-based */
    int m, count, top; /* ranks, entries, largest power of two ≤ m */
    double area;       /* of the region the entries dominate, bounded by the reference */
} stair_t;

static int stair_below(const stair_t *s, int r) { /* entries with rank < r */
    int c = 0;
    for (; r > 0; r -= r & -r) c += s->fen[r];
    return c;
}

static int stair_kth(const stair_t *s, int k) { /* rank of the k-th entry, k ≥ 1 */
    int at = 0;
    for (int step = s->top; step > 0; step >>= 1)
        if (at + step <= s->m && s->fen[at + step] < k) {
            at += step;
            k -= s->fen[at];
        }
    return at;
}

static void stair_mark(stair_t *s, int r, int delta) {
    s->count += delta;
    for (r++; r <= s->m; r += r & -r) s->fen[r] += delta;
}

static void stair_insert(stair_t *s, int xr, double py, const double *ref) {
    double px = s->xs[xr];
    int c = stair_below(s, xr);
    if (c > 0 && s->ys[stair_kth(s, c)] <= py) return; /* dominated from the left */
    if (s->count > c) {
        int r = stair_kth(s, c + 1);
        if (r == xr && s->ys[r] <= py) return; /* or at the same x */
    }
    /* Over [px, right) the boundary drops to py from what the covered entries (or the left
     * neighbour, before the first of them) had; each covered entry leaves. */
    double at = px, upper = c > 0 ? s->ys[stair_kth(s, c)] : ref[1], gain = 0.0;
    while (s->count > c) {
        int r = stair_kth(s, c + 1);
        if (s->ys[r] < py) break;
        gain += (s->xs[r] - at) * (upper - py);
        at = s->xs[r];
        upper = s->ys[r];
        stair_mark(s, r, -1);
    }
    double right = s->count > c ? s->xs[stair_kth(s, c + 1)] : ref[0];
    s->area += gain + (right - at) * (upper - py);
    s->ys[xr] = py;
    stair_mark(s, xr, +1);
}

static int hv3(hpt_t *p, int n, const double *ref, double *out) {
    double *xs = malloc((size_t)n * sizeof *xs), *ys = malloc((size_t)n * sizeof *ys);
    int *fen = calloc((size_t)n + 1, sizeof *fen);
    if (!xs || !ys || !fen) {
        free(xs);
        free(ys);
        free(fen);
        return UH_ENOMEM;
    }
    for (int i = 0; i < n; i++) xs[i] = p[i].c[0];
    qsort(xs, (size_t)n, sizeof *xs, uh_compare_doubles);
    int m = 0;
    for (int i = 0; i < n; i++)
        if (m == 0 || xs[i] > xs[m - 1]) xs[m++] = xs[i];
    stair_t s = {xs, ys, fen, m, 0, 1, 0.0};
    while (s.top * 2 <= m) s.top *= 2;

    qsort(p, (size_t)n, sizeof *p, cmp_z);
    double hv = 0.0;
    for (int i = 0; i < n; i++) {
        int lo = 0, hi = m - 1; /* the rank of this point's x */
        while (lo < hi) {
            int mid = lo + (hi - lo) / 2;
            if (xs[mid] < p[i].c[0])
                lo = mid + 1;
            else
                hi = mid;
        }
        stair_insert(&s, lo, p[i].c[1], ref);
        double znext = i + 1 < n ? p[i + 1].c[2] : ref[2];
        if (znext > p[i].c[2]) hv += s.area * (znext - p[i].c[2]);
    }
    free(xs);
    free(ys);
    free(fen);
    *out = hv;
    return UH_OK;
}

int uh_hypervolume(const double *pts, int n, int k, const double *ref, double *hv,
                   uh_error_t *err) {
    if (n < 0) return uh_error_set(err, UH_EINVAL, "hypervolume: negative point count %d", n);
    if (n > UH_PARETO_MAX_POINTS)
        return uh_error_set(err, UH_ELIMIT, "hypervolume: %d points exceed the limit of %d", n,
                            UH_PARETO_MAX_POINTS);
    if (k < 1 || k > UH_PARETO_MAX_OBJECTIVES)
        return uh_error_set(err, UH_EINVAL, "hypervolume: %d objectives (1 to %d supported)", k,
                            UH_PARETO_MAX_OBJECTIVES);
    if (!hv || !ref || (n > 0 && !pts))
        return uh_error_set(err, UH_EINVAL, "hypervolume: missing points, reference or output");
    for (int j = 0; j < k; j++)
        if (!isfinite(ref[j]))
            return uh_error_set(err, UH_EINVAL, "hypervolume: reference objective %d is not finite",
                                j);
    *hv = 0.0;

    /* Only the points strictly inside the reference box matter; NaN fails every comparison
     * and so drops out here too. */
    hpt_t *in = malloc((size_t)(n > 0 ? n : 1) * sizeof *in);
    if (!in) return uh_error_set(err, UH_ENOMEM, "hypervolume: out of memory for %d points", n);
    int m = 0;
    for (int i = 0; i < n; i++) {
        const double *p = pts + (size_t)i * (size_t)k;
        int inside = 1;
        for (int j = 0; j < k; j++) inside &= p[j] > -INFINITY && p[j] < ref[j];
        if (!inside) continue;
        for (int j = 0; j < UH_PARETO_MAX_OBJECTIVES; j++) in[m].c[j] = j < k ? p[j] : 0.0;
        m++;
    }

    int rc = UH_OK;
    if (m == 0) {
        *hv = 0.0;
    } else if (k == 1) {
        double best = in[0].c[0];
        for (int i = 1; i < m; i++)
            if (in[i].c[0] < best) best = in[i].c[0];
        *hv = ref[0] - best;
    } else if (k == 2) {
        *hv = hv2(in, m, ref);
    } else if (hv3(in, m, ref, hv) != UH_OK) {
        rc = uh_error_set(err, UH_ENOMEM, "hypervolume: out of memory for %d points", n);
    }
    free(in);
    return rc;
}
