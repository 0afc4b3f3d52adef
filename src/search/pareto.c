/* Non-dominated sorting, crowding distance and NSGA-II selection.
 *
 * Deb's fast non-dominated sort keeps, per point, the list of points it dominates: O(n²)
 * memory, tens of gigabytes at the 10^5-point limit. The ranks it produces have a second definition
 * that needs none of that: rank(p) = 0 when nothing dominates p, else 1 + the largest rank of the
 * points that dominate p. Every dominator of p comes before p in lexicographic order, so after a
 * lexicographic sort (and merging equal points, which share a rank) this is a longest-chain
 * recurrence over "q earlier, q.y ≤ p.y, q.z ≤ p.z". That is solved by divide and conquer on the
 * sorted order (finish the left half, push its ranks into the right half through a prefix-maximum
 * Fenwick tree over z while sweeping y, then recurse into the right half): O(n log² n) time and
 * O(n) memory, for k = 1, 2, 3 alike (missing objectives are 0). */
#include "uhnas/pareto.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    double c[UH_PARETO_MAX_OBJECTIVES];
    int idx;
} lexpt_t;

typedef struct {
    double y;
    int side; /* 0 = left half (already ranked), 1 = right half: left first on equal y */
    int u;
} sweep_t;

typedef struct {
    double v;
    int pos;
} keyed_t;

static int check_points(const double *pts, int n, int k, uh_error_t *err) {
    if (n < 0) return uh_error_set(err, UH_EINVAL, "pareto: negative point count %d", n);
    if (n > UH_PARETO_MAX_POINTS)
        return uh_error_set(err, UH_ELIMIT, "pareto: %d points exceed the limit of %d", n,
                            UH_PARETO_MAX_POINTS);
    if (k < 1 || k > UH_PARETO_MAX_OBJECTIVES)
        return uh_error_set(err, UH_EINVAL, "pareto: %d objectives (1 to %d supported)", k,
                            UH_PARETO_MAX_OBJECTIVES);
    if (n > 0 && !pts) return uh_error_set(err, UH_EINVAL, "pareto: no points");
    return UH_OK;
}

static int valid_point(const double *p, int k) {
    for (int j = 0; j < k; j++)
        if (!isfinite(p[j])) return 0;
    return 1;
}

static int cmp_lex(const void *a, const void *b) {
    const lexpt_t *p = a, *q = b;
    for (int j = 0; j < UH_PARETO_MAX_OBJECTIVES; j++) {
        if (p->c[j] < q->c[j]) return -1;
        if (p->c[j] > q->c[j]) return 1;
    }
    return (p->idx > q->idx) - (p->idx < q->idx);
}

static int cmp_sweep(const void *a, const void *b) {
    const sweep_t *p = a, *q = b;
    if (p->y < q->y) return -1;
    if (p->y > q->y) return 1;
    if (p->side != q->side) return p->side - q->side;
    return (p->u > q->u) - (p->u < q->u);
}

static int cmp_keyed(const void *a, const void *b) {
    const keyed_t *p = a, *q = b;
    if (p->v < q->v) return -1;
    if (p->v > q->v) return 1;
    return (p->pos > q->pos) - (p->pos < q->pos);
}

/* Fenwick tree of prefix maxima over 1-based z ranks; 0 means "no dominator". */
static void fen_raise(int *fen, int size, int at, int v) {
    for (; at <= size; at += at & -at)
        if (fen[at] < v) fen[at] = v;
}

static int fen_max(const int *fen, int at) {
    int m = 0;
    for (; at > 0; at -= at & -at)
        if (fen[at] > m) m = fen[at];
    return m;
}

static void fen_clear(int *fen, int size, int at) {
    for (; at <= size; at += at & -at) fen[at] = 0;
}

typedef struct {
    const lexpt_t *u; /* unique valid points, lexicographic order */
    const int *zr;    /* 1-based dense rank of each unique point's third objective */
    int *rank;
    int *fen; /* m + 1 entries, all 0 between sweeps */
    sweep_t *sweep;
    int m;
} cdq_t;

/* Ranks of u[lo..hi), given that every dominator outside the range has already pushed its
 * rank into rank[]. */
static void cdq(cdq_t *s, int lo, int hi) {
    if (hi - lo < 2) return;
    int mid = lo + (hi - lo) / 2;
    cdq(s, lo, mid);
    int len = 0;
    for (int i = lo; i < hi; i++) s->sweep[len++] = (sweep_t){s->u[i].c[1], i < mid ? 0 : 1, i};
    qsort(s->sweep, (size_t)len, sizeof *s->sweep, cmp_sweep);
    for (int t = 0; t < len; t++) {
        int i = s->sweep[t].u;
        if (s->sweep[t].side == 0) {
            fen_raise(s->fen, s->m, s->zr[i], s->rank[i] + 1);
        } else {
            int r = fen_max(s->fen, s->zr[i]);
            if (r > s->rank[i]) s->rank[i] = r;
        }
    }
    for (int t = 0; t < len; t++)
        if (s->sweep[t].side == 0) fen_clear(s->fen, s->m, s->zr[s->sweep[t].u]);
    cdq(s, mid, hi);
}

int uh_pareto_sort(const double *pts, int n, int k, int *rank, uh_error_t *err) {
    int rc = check_points(pts, n, k, err);
    if (rc) return rc;
    if (n > 0 && !rank) return uh_error_set(err, UH_EINVAL, "pareto sort: no rank array");
    if (n == 0) return UH_OK;

    size_t sn = (size_t)n;
    lexpt_t *v = malloc(sn * sizeof *v);
    keyed_t *zs = malloc(sn * sizeof *zs);
    sweep_t *sweep = malloc(sn * sizeof *sweep);
    int *urank = calloc(sn, sizeof *urank);
    int *zr = malloc(sn * sizeof *zr);
    int *fen = calloc(sn + 1, sizeof *fen);
    if (!v || !zs || !sweep || !urank || !zr || !fen) {
        rc = uh_error_set(err, UH_ENOMEM, "pareto sort: out of memory for %d points", n);
        goto done;
    }

    int nv = 0;
    for (int i = 0; i < n; i++) {
        const double *p = pts + (size_t)i * (size_t)k;
        if (!valid_point(p, k)) continue;
        lexpt_t *q = &v[nv++];
        for (int j = 0; j < UH_PARETO_MAX_OBJECTIVES; j++) q->c[j] = j < k ? p[j] : 0.0;
        q->idx = i;
    }
    qsort(v, (size_t)nv, sizeof *v, cmp_lex);

    /* Equal points are merged: they do not dominate each other, so the recurrence may only
     * ever see distinct vectors. The unique points are compacted to the front of v. */
    int m = 0;
    for (int s = 0; s < nv; s++) {
        int same = m > 0;
        for (int j = 0; same && j < UH_PARETO_MAX_OBJECTIVES; j++)
            same = v[s].c[j] == v[m - 1].c[j];
        rank[v[s].idx] = same ? m - 1 : m; /* for now: original index → unique id */
        if (!same) v[m++] = v[s];
    }

    for (int i = 0; i < m; i++) zs[i] = (keyed_t){v[i].c[2], i};
    qsort(zs, (size_t)m, sizeof *zs, cmp_keyed);
    for (int t = 0, r = 0; t < m; t++) {
        if (t == 0 || zs[t].v > zs[t - 1].v) r++;
        zr[zs[t].pos] = r;
    }

    cdq_t state = {v, zr, urank, fen, sweep, m};
    cdq(&state, 0, m);

    int last = -1;
    for (int i = 0; i < m; i++)
        if (urank[i] > last) last = urank[i];
    for (int i = 0; i < n; i++) {
        const double *p = pts + (size_t)i * (size_t)k;
        rank[i] = valid_point(p, k) ? urank[rank[i]] : last + 1;
    }

done:
    free(v);
    free(zs);
    free(sweep);
    free(urank);
    free(zr);
    free(fen);
    return rc;
}

int uh_pareto_front_indices(const double *pts, int n, int k, int *out, int *n_out,
                            uh_error_t *err) {
    int rc = check_points(pts, n, k, err);
    if (rc) return rc;
    if (!n_out || (n > 0 && !out))
        return uh_error_set(err, UH_EINVAL, "pareto front: no output array");
    *n_out = 0;
    if (n == 0) return UH_OK;
    int *rank = malloc((size_t)n * sizeof *rank);
    if (!rank) return uh_error_set(err, UH_ENOMEM, "pareto front: out of memory");
    rc = uh_pareto_sort(pts, n, k, rank, err);
    if (rc == UH_OK) {
        for (int i = 0; i < n; i++)
            if (rank[i] == 0 && valid_point(pts + (size_t)i * (size_t)k, k)) out[(*n_out)++] = i;
    }
    free(rank);
    return rc;
}

/* Crowding of one front with caller-provided scratch (m entries), so that a whole
 * population can be processed with one allocation. */
static void crowding_front(const double *pts, int k, const int *idx, int m, double *dist,
                           keyed_t *scratch) {
    int nv = 0;
    for (int t = 0; t < m; t++) {
        int valid = valid_point(pts + (size_t)idx[t] * (size_t)k, k);
        dist[t] = 0.0;
        if (valid) scratch[nv++].pos = t;
    }
    if (nv <= 2) {
        for (int t = 0; t < nv; t++) dist[scratch[t].pos] = INFINITY;
        return;
    }
    for (int j = 0; j < k; j++) {
        for (int t = 0; t < nv; t++) scratch[t].v = pts[(size_t)idx[scratch[t].pos] * k + j];
        qsort(scratch, (size_t)nv, sizeof *scratch, cmp_keyed);
        double range = scratch[nv - 1].v - scratch[0].v;
        /* All members equal here: there are no extremes to keep and the gaps are 0/0. */
        if (!(range > 0.0)) continue;
        dist[scratch[0].pos] = INFINITY;
        dist[scratch[nv - 1].pos] = INFINITY;
        for (int t = 1; t < nv - 1; t++)
            dist[scratch[t].pos] += (scratch[t + 1].v - scratch[t - 1].v) / range;
    }
}

int uh_pareto_crowding(const double *pts, int n, int k, const int *idx, int m, double *dist,
                       uh_error_t *err) {
    int rc = check_points(pts, n, k, err);
    if (rc) return rc;
    if (m < 0 || m > n) return uh_error_set(err, UH_EINVAL, "crowding: %d members of %d", m, n);
    if (m == 0) return UH_OK;
    if (!idx || !dist) return uh_error_set(err, UH_EINVAL, "crowding: no member or output array");
    for (int t = 0; t < m; t++)
        if (idx[t] < 0 || idx[t] >= n)
            return uh_error_set(err, UH_EINVAL, "crowding: member %d is index %d, not in [0, %d)",
                                t, idx[t], n);
    keyed_t *scratch = malloc((size_t)m * sizeof *scratch);
    if (!scratch) return uh_error_set(err, UH_ENOMEM, "crowding: out of memory");
    crowding_front(pts, k, idx, m, dist, scratch);
    free(scratch);
    return UH_OK;
}

int uh_nsga2_assign(const double *pts, int n, int k, int *rank, double *crowd, uh_error_t *err) {
    int rc = check_points(pts, n, k, err);
    if (rc) return rc;
    if (n > 0 && (!rank || !crowd))
        return uh_error_set(err, UH_EINVAL, "nsga2: no rank or crowding array");
    if (n == 0) return UH_OK;
    rc = uh_pareto_sort(pts, n, k, rank, err);
    if (rc) return rc;

    size_t sn = (size_t)n;
    int *start = calloc(sn + 2, sizeof *start); /* ranks are < n + 1 */
    int *members = malloc(sn * sizeof *members);
    double *fd = malloc(sn * sizeof *fd);
    keyed_t *scratch = malloc(sn * sizeof *scratch);
    if (!start || !members || !fd || !scratch) {
        rc = uh_error_set(err, UH_ENOMEM, "nsga2: out of memory for %d points", n);
        goto done;
    }
    /* Counting sort by rank, stable, so each front lists its members by index. */
    int fronts = 0;
    for (int i = 0; i < n; i++) {
        start[rank[i] + 1]++;
        if (rank[i] + 1 > fronts) fronts = rank[i] + 1;
    }
    for (int r = 0; r < fronts; r++) start[r + 1] += start[r];
    for (int i = 0; i < n; i++) members[start[rank[i]]++] = i;
    for (int r = fronts; r > 0; r--) start[r] = start[r - 1];
    start[0] = 0;
    for (int r = 0; r < fronts; r++) {
        int m = start[r + 1] - start[r];
        crowding_front(pts, k, members + start[r], m, fd, scratch);
        for (int t = 0; t < m; t++) crowd[members[start[r] + t]] = fd[t];
    }
done:
    free(start);
    free(members);
    free(fd);
    free(scratch);
    return rc;
}

int uh_nsga2_better(int rank_a, double crowd_a, int rank_b, double crowd_b) {
    if (rank_a != rank_b) return rank_a < rank_b ? 1 : -1;
    if (crowd_a > crowd_b) return 1;
    if (crowd_a < crowd_b) return -1;
    return 0;
}

typedef struct {
    int rank;
    double crowd;
    int idx;
} pref_t;

static int cmp_pref(const void *a, const void *b) {
    const pref_t *p = a, *q = b;
    int c = uh_nsga2_better(p->rank, p->crowd, q->rank, q->crowd);
    if (c) return -c;
    return (p->idx > q->idx) - (p->idx < q->idx);
}

int uh_nsga2_select(const double *pts, int n, int k, int want, int *chosen, uh_error_t *err) {
    int rc = check_points(pts, n, k, err);
    if (rc) return rc;
    if (want < 0 || want > n)
        return uh_error_set(err, UH_EINVAL, "nsga2 select: want %d of %d points", want, n);
    if (want == 0) return UH_OK;
    if (!chosen) return uh_error_set(err, UH_EINVAL, "nsga2 select: no output array");
    size_t sn = (size_t)n;
    int *rank = malloc(sn * sizeof *rank);
    double *crowd = malloc(sn * sizeof *crowd);
    pref_t *order = malloc(sn * sizeof *order);
    if (!rank || !crowd || !order) {
        rc = uh_error_set(err, UH_ENOMEM, "nsga2 select: out of memory for %d points", n);
        goto done;
    }
    rc = uh_nsga2_assign(pts, n, k, rank, crowd, err);
    if (rc) goto done;
    for (int i = 0; i < n; i++) order[i] = (pref_t){rank[i], crowd[i], i};
    qsort(order, sn, sizeof *order, cmp_pref);
    for (int t = 0; t < want; t++) chosen[t] = order[t].idx;
done:
    free(rank);
    free(crowd);
    free(order);
    return rc;
}
