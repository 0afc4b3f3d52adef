/* Multi-objective metrics: hand-worked values, and the fast algorithms against brute-force
 * definitions (peeling for ranks; cell decomposition and inclusion–exclusion for
 * hypervolume) on seeded random instances full of ties, duplicates and invalid points. */
#include "common.h"

#include "uhnas/pareto.h"
#include "uhnas/rng.h"

#define MAXN 512

/* cmocka's assert_float_equal passes when either side is NaN (NaN > eps is false);
 * assert_close does not. */

/* ---- brute-force references ---- */

static int valid(const double *p, int k) {
    for (int j = 0; j < k; j++)
        if (!isfinite(p[j])) return 0;
    return 1;
}

static int dominates(const double *a, const double *b, int k) {
    int strict = 0;
    for (int j = 0; j < k; j++) {
        if (a[j] > b[j]) return 0;
        if (a[j] < b[j]) strict = 1;
    }
    return strict;
}

/* Peeling straight from the definition: front r is what nothing unranked dominates. */
static void brute_rank(const double *pts, int n, int k, int *rank) {
    int left = 0, r = 0;
    for (int i = 0; i < n; i++) {
        rank[i] = -1;
        left += valid(pts + i * k, k);
    }
    int front[MAXN];
    while (left > 0) {
        int nf = 0;
        for (int i = 0; i < n; i++) {
            if (rank[i] >= 0 || !valid(pts + i * k, k)) continue;
            int dom = 0;
            for (int j = 0; j < n && !dom; j++)
                dom = j != i && rank[j] < 0 && valid(pts + j * k, k) &&
                      dominates(pts + j * k, pts + i * k, k);
            if (!dom) front[nf++] = i;
        }
        assert_true(nf > 0);
        for (int t = 0; t < nf; t++) rank[front[t]] = r;
        left -= nf;
        r++;
    }
    for (int i = 0; i < n; i++)
        if (rank[i] < 0) rank[i] = r; /* invalid: one front after the valid ones */
}

static int inside(const double *p, int k, const double *ref) {
    for (int j = 0; j < k; j++)
        if (!(isfinite(p[j]) && p[j] < ref[j])) return 0;
    return 1;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Cell decomposition: the grid of every point's coordinates; a cell is dominated when some
 * point is ≤ its lower corner. */
static double brute_hv_cells(const double *pts, int n, int k, const double *ref) {
    static double axis[3][MAXN + 1];
    int na[3] = {1, 1, 1};
    for (int j = 0; j < k; j++) {
        na[j] = 0;
        for (int i = 0; i < n; i++)
            if (inside(pts + i * k, k, ref)) axis[j][na[j]++] = pts[i * k + j];
        axis[j][na[j]++] = ref[j];
        qsort(axis[j], (size_t)na[j], sizeof(double), cmp_double);
    }
    double hv = 0;
    int nc[3] = {k > 0 ? na[0] - 1 : 1, k > 1 ? na[1] - 1 : 1, k > 2 ? na[2] - 1 : 1};
    for (int a = 0; a < nc[0]; a++)
        for (int b = 0; b < nc[1]; b++)
            for (int c = 0; c < nc[2]; c++) {
                int cell[3] = {a, b, c};
                double vol = 1;
                for (int j = 0; j < k; j++) vol *= axis[j][cell[j] + 1] - axis[j][cell[j]];
                if (vol == 0) continue;
                int covered = 0;
                for (int i = 0; i < n && !covered; i++) {
                    if (!inside(pts + i * k, k, ref)) continue;
                    covered = 1;
                    for (int j = 0; j < k; j++) covered &= pts[i * k + j] <= axis[j][cell[j]];
                }
                if (covered) hv += vol;
            }
    return hv;
}

/* Inclusion–exclusion over every subset: the union of boxes [p, ref]. */
static double brute_hv_subsets(const double *pts, int n, int k, const double *ref) {
    double hv = 0;
    for (unsigned s = 1; s < (1u << n); s++) {
        double lo[3] = {-INFINITY, -INFINITY, -INFINITY};
        int bits = 0, ok = 1;
        for (int i = 0; i < n; i++) {
            if (!(s & (1u << i))) continue;
            if (!inside(pts + i * k, k, ref)) ok = 0;
            bits++;
            for (int j = 0; j < k; j++) lo[j] = fmax(lo[j], pts[i * k + j]);
        }
        if (!ok) continue;
        double vol = 1;
        for (int j = 0; j < k; j++) vol *= ref[j] - lo[j];
        hv += bits % 2 ? vol : -vol;
    }
    return hv;
}

static double hv_of(const double *pts, int n, int k, const double *ref) {
    double hv = -1;
    uh_error_t err = {0};
    if (uh_hypervolume(pts, n, k, ref, &hv, &err)) {
        print_error("%s\n", err.msg);
        fail();
    }
    return hv;
}

/* Small integers: plenty of ties, duplicates and points on the reference's faces. */
static void random_points(uh_rng_t *rng, double *pts, int n, int k, int span) {
    for (int i = 0; i < n * k; i++) pts[i] = (double)uh_rng_below(rng, (uint64_t)span);
}

/* ---- hypervolume ---- */

static void test_hv_hand(void **state) {
    (void)state;
    const double stairs[] = {1, 3, 2, 2, 3, 1}, ref2[] = {4, 4};
    assert_close(hv_of(stairs, 3, 2, ref2), 6.0, 0);
    /* Order does not matter; a dominated point and a duplicate add nothing. */
    const double mixed[] = {3, 1, 3, 3, 1, 3, 2, 2, 2, 2};
    assert_close(hv_of(mixed, 5, 2, ref2), 6.0, 0);
    /* Points that do not strictly dominate the reference count nothing, even on its face. */
    const double outside[] = {1, 4, 4, 1, 5, 0, 0, 5};
    assert_close(hv_of(outside, 4, 2, ref2), 0.0, 0);
    assert_close(hv_of(NULL, 0, 2, ref2), 0.0, 0);
    /* 3-D: one box of 1 × 2 × 3. */
    const double one[] = {0, 0, 0}, ref3a[] = {1, 2, 3};
    assert_close(hv_of(one, 1, 3, ref3a), 6.0, 0);
    /* Two boxes 2×2×1 and 1×1×2 overlapping in a unit cube: 4 + 2 − 1. */
    const double two[] = {1, 1, 2, 2, 2, 1}, ref3b[] = {3, 3, 3};
    assert_close(hv_of(two, 2, 3, ref3b), 5.0, 0);
    /* (0,1,1) (1,0,1) (1,1,0): the cube [0,3]³ less what none of them reaches, the points
     * with two coordinates below 1 (1 + 3 × 2): 27 − 7 = 20. */
    const double corners[] = {0, 1, 1, 1, 0, 1, 1, 1, 0};
    assert_close(hv_of(corners, 3, 3, ref3b), 20.0, 0);
    /* 1-D: the best point's distance to the reference. */
    const double line[] = {0.5, 0.25, 2.0}, ref1[] = {1.0};
    assert_close(hv_of(line, 3, 1, ref1), 0.75, 0);
}

static void test_hv_random_small(void **state) {
    (void)state;
    uh_rng_t rng;
    uh_rng_seed(&rng, 20240611);
    double pts[10 * 3];
    for (int trial = 0; trial < 600; trial++) {
        int k = 2 + trial % 2, n = 1 + (int)uh_rng_below(&rng, 10);
        random_points(&rng, pts, n, k, 10);
        double ref[3] = {8, 8, 8};
        if (trial % 3 == 0) /* non-integer reference and coordinates */
            for (int j = 0; j < k; j++) ref[j] = 6 + 4 * uh_rng_uniform(&rng);
        if (trial % 5 == 0)
            for (int i = 0; i < n * k; i++) pts[i] += uh_rng_uniform(&rng);
        double fast = hv_of(pts, n, k, ref);
        double cells = brute_hv_cells(pts, n, k, ref);
        double subsets = brute_hv_subsets(pts, n, k, ref);
        if (fabs(fast - cells) > 1e-9 * (1 + cells) || fabs(cells - subsets) > 1e-9 * (1 + cells)) {
            print_error("trial %d k=%d n=%d: fast %.17g cells %.17g subsets %.17g\n", trial, k, n,
                        fast, cells, subsets);
            fail();
        }
    }
}

static void test_hv_random_large(void **state) {
    (void)state;
    uh_rng_t rng;
    uh_rng_seed(&rng, 7);
    static double pts[400 * 3];
    for (int trial = 0; trial < 12; trial++) {
        int k = 2 + trial % 2, n = 100 + (int)uh_rng_below(&rng, 300);
        random_points(&rng, pts, n, k, 24);
        if (trial % 4 == 1) /* many points on one plane: a big, churning 3-D staircase */
            for (int i = 0; i < n; i++) pts[i * k + k - 1] = 30 - pts[i * k] - pts[i * k + 1];
        const double ref[3] = {20, 20, 20};
        double fast = hv_of(pts, n, k, ref), cells = brute_hv_cells(pts, n, k, ref);
        if (fabs(fast - cells) > 1e-9 * (1 + cells)) {
            print_error("trial %d k=%d n=%d: fast %.17g cells %.17g\n", trial, k, n, fast, cells);
            fail();
        }
    }
}

/* With every z equal, the 3-D volume is the 2-D area times the height to the reference. */
static void test_hv_flat_3d(void **state) {
    (void)state;
    uh_rng_t rng;
    uh_rng_seed(&rng, 99);
    static double p2[500 * 2], p3[500 * 3];
    for (int trial = 0; trial < 50; trial++) {
        int n = 1 + (int)uh_rng_below(&rng, 500);
        double z = uh_rng_uniform(&rng);
        for (int i = 0; i < n; i++) {
            p2[2 * i] = p3[3 * i] = uh_rng_uniform(&rng);
            p2[2 * i + 1] = p3[3 * i + 1] = uh_rng_uniform(&rng);
            p3[3 * i + 2] = z;
        }
        const double ref[3] = {0.9, 0.9, 1.5};
        double area = hv_of(p2, n, 2, ref), vol = hv_of(p3, n, 3, ref);
        assert_true(area > 0);
        assert_close(vol, area * (1.5 - z), 1e-12);
    }
}

static void test_hv_invalid(void **state) {
    (void)state;
    const double ref[2] = {4, 4};
    const double pts[] = {1, 3, NAN, 0, 0, NAN, 2, 2, -INFINITY, 1, 3, 1, INFINITY, 0};
    assert_close(hv_of(pts, 7, 2, ref), 6.0, 0);
    double hv = 0;
    uh_error_t err = {0};
    const double bad_ref[2] = {4, NAN};
    assert_int_equal(uh_hypervolume(pts, 7, 2, bad_ref, &hv, &err), UH_EINVAL);
    assert_int_equal(uh_hypervolume(pts, 7, 4, ref, &hv, &err), UH_EINVAL);
    assert_int_equal(uh_hypervolume(pts, -1, 2, ref, &hv, &err), UH_EINVAL);
    assert_int_equal(uh_hypervolume(pts, UH_PARETO_MAX_POINTS + 1, 2, ref, &hv, &err), UH_ELIMIT);
    assert_true(strlen(err.msg) > 0);
}

/* ---- sorting, fronts, crowding, selection ---- */

static void check_sort(const double *pts, int n, int k) {
    int fast[MAXN], slow[MAXN];
    uh_error_t err = {0};
    assert_int_equal(uh_pareto_sort(pts, n, k, fast, &err), UH_OK);
    brute_rank(pts, n, k, slow);
    for (int i = 0; i < n; i++) {
        if (fast[i] != slow[i]) {
            print_error("k=%d n=%d point %d: rank %d, brute force %d\n", k, n, i, fast[i], slow[i]);
            fail();
        }
    }
}

static void test_sort_random(void **state) {
    (void)state;
    uh_rng_t rng;
    uh_rng_seed(&rng, 12345);
    static double pts[MAXN * 3];
    for (int trial = 0; trial < 600; trial++) {
        int k = 1 + trial % 3, n = (int)uh_rng_below(&rng, 60);
        int span = 2 + (int)uh_rng_below(&rng, 6); /* 2..7 values: many ties and duplicates */
        random_points(&rng, pts, n, k, span);
        if (trial % 7 == 0 && n > 0) /* invalid points mixed in */
            for (int t = 0; t < 3; t++) {
                double bad[] = {NAN, INFINITY, -INFINITY};
                pts[uh_rng_below(&rng, (uint64_t)(n * k))] = bad[t];
            }
        check_sort(pts, n, k);
    }
    for (int trial = 0; trial < 6; trial++) { /* bigger, deeper recursions */
        int k = 2 + trial % 2, n = MAXN;
        random_points(&rng, pts, n, k, trial < 3 ? 16 : 1000);
        check_sort(pts, n, k);
    }
}

static void test_sort_hand(void **state) {
    (void)state;
    /* (1,1) dominates all; (2,3) and (3,2) tie with their duplicate; (4,4) is last; NaN
     * after it. */
    const double pts[] = {2, 3, 4, 4, 1, 1, 3, 2, NAN, 0, 2, 3};
    int rank[6];
    uh_error_t err = {0};
    assert_int_equal(uh_pareto_sort(pts, 6, 2, rank, &err), UH_OK);
    const int want[] = {1, 2, 0, 1, 3, 1};
    assert_memory_equal(rank, want, sizeof want);
    /* Only invalid points: one front, rank 0. */
    const double bad[] = {NAN, 1, 1, INFINITY};
    assert_int_equal(uh_pareto_sort(bad, 2, 2, rank, &err), UH_OK);
    assert_int_equal(rank[0], 0);
    assert_int_equal(rank[1], 0);
    assert_int_equal(uh_pareto_sort(pts, 6, 0, rank, &err), UH_EINVAL);
    assert_int_equal(uh_pareto_sort(pts, 6, 4, rank, &err), UH_EINVAL);
    assert_int_equal(uh_pareto_sort(pts, -2, 2, rank, &err), UH_EINVAL);
    assert_int_equal(uh_pareto_sort(pts, UH_PARETO_MAX_POINTS + 1, 2, rank, &err), UH_ELIMIT);
    assert_int_equal(uh_pareto_sort(pts, 6, 2, NULL, &err), UH_EINVAL);
    assert_int_equal(uh_pareto_sort(NULL, 0, 2, NULL, &err), UH_OK);
}

/* At the size limit, with everything on one front (the worst case of the old pairwise
 * algorithms): finishes, and every rank is 0. */
static void test_sort_limit(void **state) {
    (void)state;
    int n = UH_PARETO_MAX_POINTS;
    double *pts = malloc((size_t)n * 3 * sizeof *pts);
    int *rank = malloc((size_t)n * sizeof *rank);
    assert_non_null(pts);
    assert_non_null(rank);
    for (int i = 0; i < n; i++) {
        pts[3 * i] = i;
        pts[3 * i + 1] = n - i;
        pts[3 * i + 2] = (i * 7919) % n;
    }
    uh_error_t err = {0};
    assert_int_equal(uh_pareto_sort(pts, n, 3, rank, &err), UH_OK);
    for (int i = 0; i < n; i++) assert_int_equal(rank[i], 0);
    double hv;
    const double ref[3] = {n, n + 1, n};
    assert_int_equal(uh_hypervolume(pts, n, 3, ref, &hv, &err), UH_OK);
    assert_true(hv > 0 && hv < (double)n * (n + 1) * n);
    free(pts);
    free(rank);
}

static void test_front_indices(void **state) {
    (void)state;
    const double pts[] = {2, 3, 4, 4, 1, 5, NAN, 0, 2, 3, 5, 1, 3, 3};
    int out[7], n_out = -1;
    uh_error_t err = {0};
    assert_int_equal(uh_pareto_front_indices(pts, 7, 2, out, &n_out, &err), UH_OK);
    const int want[] = {0, 2, 4, 5};
    assert_int_equal(n_out, 4);
    assert_memory_equal(out, want, sizeof want);
    const double bad[] = {NAN, NAN};
    assert_int_equal(uh_pareto_front_indices(bad, 1, 2, out, &n_out, &err), UH_OK);
    assert_int_equal(n_out, 0);
}

static void test_crowding_hand(void **state) {
    (void)state;
    /* Front (1,5) (2,3) (4,2) (5,1), ranges 4 and 4, among other points and out of order:
     * (2,3): 3/4 + 3/4; (4,2): 3/4 + 2/4; the extremes are infinite. */
    const double pts[] = {9, 9, 4, 2, 1, 5, 9, 9, 5, 1, 2, 3};
    const int idx[] = {2, 5, 1, 4};
    const int four[] = {0, 1, 2, 3};
    double dist[4];
    uh_error_t err = {0};
    assert_int_equal(uh_pareto_crowding(pts, 6, 2, idx, 4, dist, &err), UH_OK);
    assert_true(isinf(dist[0]) && dist[0] > 0);
    assert_close(dist[1], 1.5, 1e-15);
    assert_close(dist[2], 1.25, 1e-15);
    assert_true(isinf(dist[3]) && dist[3] > 0);
    /* Two members, or one: all extremes. */
    assert_int_equal(uh_pareto_crowding(pts, 6, 2, idx, 2, dist, &err), UH_OK);
    assert_true(isinf(dist[0]) && isinf(dist[1]));
    const double twins[] = {1, 1, 1, 1};
    assert_int_equal(uh_pareto_crowding(twins, 2, 2, four, 2, dist, &err), UH_OK);
    assert_true(isinf(dist[0]) && isinf(dist[1]));
    /* An invalid member gets 0 and leaves the others' ranges alone. */
    const double with_nan[] = {1, 5, NAN, 0, 2, 3, 4, 2, 5, 1};
    const int all[] = {0, 1, 2, 3, 4};
    double d5[5];
    assert_int_equal(uh_pareto_crowding(with_nan, 5, 2, all, 5, d5, &err), UH_OK);
    assert_close(d5[1], 0.0, 0);
    assert_close(d5[2], 1.5, 1e-15);
    assert_close(d5[3], 1.25, 1e-15);
    /* A constant objective marks no extremes: only the first objective counts here. */
    const double flat[] = {0, 7, 1, 7, 3, 7, 4, 7};
    assert_int_equal(uh_pareto_crowding(flat, 4, 2, four, 4, dist, &err), UH_OK);
    assert_true(isinf(dist[0]) && isinf(dist[3]));
    assert_close(dist[1], 0.75, 1e-15);
    assert_close(dist[2], 0.75, 1e-15);
    const int out_of_range[] = {0, 6};
    assert_int_equal(uh_pareto_crowding(pts, 6, 2, out_of_range, 2, dist, &err), UH_EINVAL);
}

static void test_select(void **state) {
    (void)state;
    /* Front 0: (0,5) (1,1) (4,0). Front 1: (2,6) (3,4) (5,3) (6,2), crowding ∞, 1.5, 1.25,
     * ∞. Front 2: (7,9) (9,7). Shuffled. */
    const double pts[] = {
        5, 3, /* 0: front 1, 1.25 */
        7, 9, /* 1: front 2 */
        1, 1, /* 2: front 0 */
        6, 2, /* 3: front 1, ∞ */
        3, 4, /* 4: front 1, 1.5 */
        0, 5, /* 5: front 0 */
        9, 7, /* 6: front 2 */
        2, 6, /* 7: front 1, ∞ */
        4, 0, /* 8: front 0 */
    };
    int chosen[9];
    uh_error_t err = {0};
    /* The whole preference order: front 0 (extremes (0,5) and (4,0), then (1,1) at 1 + 1),
     * front 1 by crowding then index, front 2 (both extremes). */
    assert_int_equal(uh_nsga2_select(pts, 9, 2, 9, chosen, &err), UH_OK);
    const int order[] = {5, 8, 2, 3, 7, 4, 0, 1, 6};
    assert_memory_equal(chosen, order, sizeof order);
    /* Six: front 0 whole, then the best crowding of front 1. */
    assert_int_equal(uh_nsga2_select(pts, 9, 2, 6, chosen, &err), UH_OK);
    assert_memory_equal(chosen, order, 6 * sizeof(int));
    assert_int_equal(uh_nsga2_select(pts, 9, 2, 0, NULL, &err), UH_OK);
    assert_int_equal(uh_nsga2_select(pts, 9, 2, 10, chosen, &err), UH_EINVAL);

    int rank[9];
    double crowd[9];
    assert_int_equal(uh_nsga2_assign(pts, 9, 2, rank, crowd, &err), UH_OK);
    assert_int_equal(rank[4], 1);
    assert_close(crowd[4], 1.5, 1e-15);
    assert_close(crowd[0], 1.25, 1e-15);
    assert_int_equal(rank[6], 2);
    assert_true(isinf(crowd[6]));

    assert_true(uh_nsga2_better(0, 0.1, 1, INFINITY) > 0);
    assert_true(uh_nsga2_better(2, INFINITY, 1, 0.0) < 0);
    assert_true(uh_nsga2_better(1, 2.0, 1, 1.0) > 0);
    assert_true(uh_nsga2_better(1, 1.0, 1, 2.0) < 0);
    assert_int_equal(uh_nsga2_better(1, INFINITY, 1, INFINITY), 0);
}

/* Selection is by whole fronts: on random populations, every chosen point ranks no worse
 * than every point left out, and at most one front is split. */
static void test_select_random(void **state) {
    (void)state;
    uh_rng_t rng;
    uh_rng_seed(&rng, 4242);
    static double pts[200 * 3];
    for (int trial = 0; trial < 100; trial++) {
        int k = 2 + trial % 2, n = 1 + (int)uh_rng_below(&rng, 200);
        int want = (int)uh_rng_below(&rng, (uint64_t)n + 1);
        random_points(&rng, pts, n, k, 12);
        if (trial % 5 == 0) pts[uh_rng_below(&rng, (uint64_t)(n * k))] = NAN;
        int chosen[200], rank[200], picked[200] = {0};
        double crowd[200];
        uh_error_t err = {0};
        assert_int_equal(uh_nsga2_select(pts, n, k, want, chosen, &err), UH_OK);
        assert_int_equal(uh_nsga2_assign(pts, n, k, rank, crowd, &err), UH_OK);
        int worst_in = -1;
        double least_crowd = INFINITY;
        for (int t = 0; t < want; t++) {
            assert_false(picked[chosen[t]]);
            picked[chosen[t]] = 1;
            if (rank[chosen[t]] > worst_in) worst_in = rank[chosen[t]];
        }
        for (int t = 0; t < want; t++)
            if (rank[chosen[t]] == worst_in && crowd[chosen[t]] < least_crowd)
                least_crowd = crowd[chosen[t]];
        for (int i = 0; i < n; i++) {
            if (picked[i]) continue;
            assert_true(rank[i] >= worst_in);
            if (rank[i] == worst_in) assert_true(crowd[i] <= least_crowd);
        }
    }
}

/* ---- rank statistics and diversity ---- */

static void test_rank_stats(void **state) {
    (void)state;
    const double x[] = {1, 2, 3, 4, 5}, y[] = {5, 6, 7, 8, 7};
    /* scipy.stats.kendalltau / spearmanr on these: 7 / sqrt(10 · 9), and r of the ranks
     * (1..5) vs (1, 2, 3.5, 5, 3.5). */
    assert_close(uh_kendall_tau(x, y, 5), 0.7378647873726218, 1e-15);
    assert_close(uh_spearman_rho(x, y, 5), 0.8207826816681233, 1e-15);
    /* Ties on both sides: 4 concordant, 0 discordant, one tie each → 4 / sqrt(5 · 5) = 0.8;
     * ranks (1.5, 1.5, 3, 4) vs (1, 2.5, 2.5, 4) → 3.75 / 4.5. */
    const double a[] = {1, 1, 2, 3}, b[] = {1, 2, 2, 3};
    assert_close(uh_kendall_tau(a, b, 4), 0.8, 1e-15);
    assert_close(uh_spearman_rho(a, b, 4), 3.75 / 4.5, 1e-15);
    /* Reversed order: −1 for all three. */
    const double rev[] = {10, 8, 6, 4, 2};
    assert_close(uh_kendall_tau(x, rev, 5), -1.0, 1e-15);
    assert_close(uh_spearman_rho(x, rev, 5), -1.0, 1e-15);
    assert_close(uh_pearson_r(x, rev, 5), -1.0, 1e-15);
    /* Pearson by hand: x = 1,2,3, y = 2,4,7: Sxy = 5, Sxx = 2, Syy = 12.6667 → 5/sqrt(76/3). */
    const double px[] = {1, 2, 3}, py[] = {2, 4, 7};
    assert_close(uh_pearson_r(px, py, 3), 5.0 / sqrt(76.0 / 3.0), 1e-15);
    /* Shifted far from zero, r is unchanged (the centred sums do not cancel). */
    const double sx[] = {1e9 + 1, 1e9 + 2, 1e9 + 3};
    assert_close(uh_pearson_r(sx, py, 3), 5.0 / sqrt(76.0 / 3.0), 1e-12);
    assert_close(uh_mae(x, y, 5), (4 + 4 + 4 + 4 + 2) / 5.0, 1e-15);

    /* Undefined cases are NaN, not a crash or a 0. */
    const double flat[] = {3, 3, 3, 3, 3}, nan_in[] = {1, NAN, 3, 4, 5};
    assert_true(isnan(uh_kendall_tau(x, flat, 5)));
    assert_true(isnan(uh_spearman_rho(flat, y, 5)));
    assert_true(isnan(uh_pearson_r(x, flat, 5)));
    assert_true(isnan(uh_kendall_tau(x, y, 1)));
    assert_true(isnan(uh_spearman_rho(x, y, 1)));
    assert_true(isnan(uh_pearson_r(x, y, 0)));
    assert_true(isnan(uh_kendall_tau(nan_in, y, 5)));
    assert_true(isnan(uh_spearman_rho(x, nan_in, 5)));
    assert_true(isnan(uh_mae(x, y, 0)));
}

/* Symmetric under swapping x and y, and equal to the rank form computed independently. */
static void test_rank_stats_random(void **state) {
    (void)state;
    uh_rng_t rng;
    uh_rng_seed(&rng, 31337);
    double x[40], y[40];
    for (int trial = 0; trial < 100; trial++) {
        int n = 2 + (int)uh_rng_below(&rng, 39);
        for (int i = 0; i < n; i++) {
            x[i] = (double)uh_rng_below(&rng, 6);
            y[i] = x[i] + (double)uh_rng_below(&rng, 4);
        }
        double tau = uh_kendall_tau(x, y, n), rho = uh_spearman_rho(x, y, n);
        if (isnan(tau)) continue; /* a constant draw */
        assert_close(tau, uh_kendall_tau(y, x, n), 1e-15);
        assert_close(rho, uh_spearman_rho(y, x, n), 1e-15);
        assert_true(tau >= -1 && tau <= 1 && rho >= -1 && rho <= 1);
        /* Spearman = Pearson on explicit average ranks. */
        double rx[40], ry[40];
        for (int i = 0; i < n; i++) {
            int lx = 0, ex = 0, ly = 0, ey = 0;
            for (int j = 0; j < n; j++) {
                lx += x[j] < x[i], ex += x[j] == x[i];
                ly += y[j] < y[i], ey += y[j] == y[i];
            }
            rx[i] = lx + (ex + 1) / 2.0;
            ry[i] = ly + (ey + 1) / 2.0;
        }
        assert_close(rho, uh_pearson_r(rx, ry, n), 1e-12);
    }
}

static double abs_diff(void *ctx, int i, int j) {
    const double *v = ctx;
    return fabs(v[i] - v[j]);
}

static void test_mean_pairwise(void **state) {
    (void)state;
    double v[] = {0, 1, 2, 3};
    /* Pairs: 1, 2, 3, 1, 2, 1 → 10 / 6. */
    assert_close(uh_mean_pairwise(4, abs_diff, v), 10.0 / 6.0, 1e-15);
    assert_close(uh_mean_pairwise(1, abs_diff, v), 0.0, 0);
    assert_close(uh_mean_pairwise(0, abs_diff, v), 0.0, 0);
}

/* Mann-Whitney U against hand-worked and published values. */
static void test_mann_whitney(void **state) {
    (void)state;
    double u;
    /* scipy.stats.mannwhitneyu's documented example (males vs females): U = 17, exact p =
     * 1/9; asymptotic: z = (|17 − 10| − 0.5) / sqrt(5·4·10/12), p = 0.11134688653314041 */
    const double males[] = {19, 22, 16, 29, 24}, females[] = {20, 11, 17, 12};
    assert_true(fabs(uh_mann_whitney_p(males, 5, females, 4, &u) - 1.0 / 9) < 1e-12);
    assert_true(u == 17);
    /* separated samples: the one arrangement of C(6, 3) = 20 at each end, p = 2/20; and
     * 2 / C(20, 10) = 2 / 184756 at 10 against 10 */
    const double a[] = {1, 2, 3}, b[] = {4, 5, 6};
    assert_true(fabs(uh_mann_whitney_p(a, 3, b, 3, &u) - 0.1) < 1e-12 && u == 0);
    assert_true(fabs(uh_mann_whitney_p(b, 3, a, 3, &u) - 0.1) < 1e-12 && u == 9);
    double x[40];
    for (int i = 0; i < 40; i++) x[i] = i;
    assert_true(fabs(uh_mann_whitney_p(x, 10, x + 10, 10, NULL) - 2.0 / 184756) < 1e-15);
    /* beyond the exact sizes, the normal approximation: 20 against 20 separated, z =
     * (200 − 0.5) / sqrt(400·41/12) = 5.3965, p = erfc(z/√2) = 6.79e-8 */
    double p = uh_mann_whitney_p(x, 20, x + 20, 20, &u);
    assert_true(u == 0 && fabs(p - erfc(199.5 / sqrt(400.0 * 41 / 12) / sqrt(2))) < 1e-15);
    assert_true(p > 6.7e-8 && p < 6.9e-8);
    /* ties: x = {1, 2, 2}, y = {2, 3, 3}: U = 0 + 0.5 + 0.5 + (the 1 beats none) = 1; tie
     * groups 2 (three) and 3 (two): Σ t³ − t = 24 + 6 = 30; var = 9/12 · (7 − 30/30) = 4.5;
     * z = (|1 − 4.5| − 0.5) / sqrt(4.5) = 1.4142, p = erfc(1) = 0.157299 */
    const double tx[] = {1, 2, 2}, ty[] = {2, 3, 3};
    p = uh_mann_whitney_p(tx, 3, ty, 3, &u);
    assert_true(u == 1 && fabs(p - erfc(1.0)) < 1e-12);
    /* one sample equal to the other: p = 1; empty or NaN: NaN */
    assert_true(uh_mann_whitney_p(a, 3, a, 3, NULL) == 1);
    assert_true(isnan(uh_mann_whitney_p(a, 0, b, 3, NULL)));
    const double bad[] = {1, NAN};
    assert_true(isnan(uh_mann_whitney_p(bad, 2, b, 3, NULL)));
}

static void test_bootstrap_interval(void **state) {
    (void)state;
    double lo, hi, lo2, hi2;
    const double same[] = {0.5, 0.5, 0.5};
    uh_bootstrap_mean_ci(same, 3, 1000, 0.95, 1, &lo, &hi);
    assert_true(lo == 0.5 && hi == 0.5);
    /* 200 draws of N(0, 1): the interval is about ±1.96/sqrt(200) = ±0.139 around the mean */
    double x[200], mean = 0;
    uh_rng_t rng;
    uh_rng_seed(&rng, 3);
    for (int i = 0; i < 200; i++) mean += (x[i] = uh_rng_normal(&rng)) / 200;
    uh_bootstrap_mean_ci(x, 200, 4000, 0.95, 7, &lo, &hi);
    assert_true(lo < mean && mean < hi);
    assert_true(fabs((hi - lo) / 2 - 1.96 / sqrt(200)) < 0.03);
    uh_bootstrap_mean_ci(x, 200, 4000, 0.95, 7, &lo2, &hi2); /* reproducible */
    assert_true(lo == lo2 && hi == hi2);
    uh_bootstrap_mean_ci(x, 0, 4000, 0.95, 7, &lo, &hi);
    assert_true(isnan(lo) && isnan(hi));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hv_hand),
        cmocka_unit_test(test_hv_random_small),
        cmocka_unit_test(test_hv_random_large),
        cmocka_unit_test(test_hv_flat_3d),
        cmocka_unit_test(test_hv_invalid),
        cmocka_unit_test(test_sort_random),
        cmocka_unit_test(test_sort_hand),
        cmocka_unit_test(test_sort_limit),
        cmocka_unit_test(test_front_indices),
        cmocka_unit_test(test_crowding_hand),
        cmocka_unit_test(test_select),
        cmocka_unit_test(test_select_random),
        cmocka_unit_test(test_rank_stats),
        cmocka_unit_test(test_rank_stats_random),
        cmocka_unit_test(test_mean_pairwise),
        cmocka_unit_test(test_mann_whitney),
        cmocka_unit_test(test_bootstrap_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
