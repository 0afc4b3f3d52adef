/* The search loop end to end on the tiny dataset, with real run stores: every strategy runs
 * its budget, hashes are unique, metrics are stored per generation, the final front is
 * measured on the test set from stored weights, and a run stopped half-way then resumed
 * gives the same rows as an uninterrupted one without retraining anything. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "uhnas/search.h"

static char g_root[64];

static int make_root(void **state) {
    (void)state;
    snprintf(g_root, sizeof g_root, "/tmp/uhnas-search-XXXXXX");
    return mkdtemp(g_root) ? 0 : -1;
}

static int remove_root(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    return system(cmd) == 0 ? 0 : -1;
}

static void small_config(uh_search_config_t *cfg, uh_strategy_t s) {
    uh_search_config_default(cfg);
    cfg->strategy = s;
    cfg->population = 4;
    cfg->children = 3;
    cfg->generations = 2;
    cfg->seed = 7;
    cfg->train.epochs = 1;
    cfg->train.batch = 32;
    cfg->mc = 2;
    cfg->predictor_generations = 20;
    snprintf(cfg->dataset, sizeof cfg->dataset, "tiny");
}

static uh_store_t *create_run(const char *name, const uh_search_config_t *cfg,
                              const char *backend) {
    uh_error_t err = {0};
    uh_backend_t *b;
    if (uh_backend_load(backend, &b, &err)) fail_msg("%s", err.msg);
    char *json = uh_search_config_json(cfg, b);
    uh_backend_free(b);
    assert_non_null(json);
    char dir[256];
    snprintf(dir, sizeof dir, "%s/%s", g_root, name);
    uh_store_t *store;
    if (uh_store_create(dir, json, 0, &store, &err)) fail_msg("%s", err.msg);
    free(json);
    return store;
}

/* jobs 0 = one per core */
static void run_jobs(uh_store_t *store, int jobs, volatile int *stop, uh_search_progress_fn fn,
                     void *ctx, uh_search_summary_t *sum, int want_rc) {
    uh_error_t err = {0};
    uh_search_opts_t opts = {.progress = fn, .progress_ctx = ctx, .stop = stop, .jobs = jobs};
    int rc = uh_search_run(store, &opts, sum, &err);
    if (rc != want_rc) fail_msg("search returned %d (%s), want %d", rc, err.msg, want_rc);
}

static void run(uh_store_t *store, volatile int *stop, uh_search_progress_fn fn, void *ctx,
                uh_search_summary_t *sum, int want_rc) {
    run_jobs(store, 0, stop, fn, ctx, sum, want_rc);
}

static void load_rows(uh_store_t *store, uh_candidate_t **rows, size_t *n) {
    uh_error_t err = {0};
    if (uh_store_candidates(store, rows, n, &err)) fail_msg("%s", err.msg);
}

/* The budget, unique hashes, generations 0..G with non-decreasing archive hypervolume, and
 * a test result plus weights for every front member. */
static void check_run(uh_store_t *store, const uh_search_config_t *cfg,
                      const uh_search_summary_t *sum) {
    uh_candidate_t *rows;
    size_t n;
    load_rows(store, &rows, &n);
    int budget = cfg->population + cfg->generations * cfg->children;
    assert_true((int)n <= budget);
    assert_true((int)n >= budget - 2); /* only an exhausted neighbourhood spends a slot */
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++) assert_string_not_equal(rows[i].hash, rows[j].hash);
        assert_true(rows[i].generation >= 0 && rows[i].generation <= cfg->generations);
        if (rows[i].status == UH_CAND_OK) {
            assert_true(rows[i].accuracy >= 0 && rows[i].accuracy <= 1);
            assert_true(rows[i].energy_nj > 0);
        }
    }
    uh_error_t err = {0};
    double last_hv = -1;
    for (int g = 0; g <= cfg->generations; g++) {
        char *state;
        uh_gen_metrics_t m;
        if (uh_store_get_generation(store, g, &state, &m, &err)) fail_msg("gen %d: %s", g, err.msg);
        assert_true(m.hypervolume >= last_hv - 1e-12); /* the archive only grows */
        assert_true(m.hypervolume > 0 && m.hypervolume <= 1);
        assert_true(m.front_size >= 1);
        last_hv = m.hypervolume;
        free(state);
    }
    assert_true(fabs(sum->hypervolume - last_hv) < 1e-12);
    int tested = 0;
    for (size_t i = 0; i < n; i++) {
        uh_test_result_t t;
        uh_error_t e2 = {0};
        if (uh_store_get_test_result(store, rows[i].hash, &t, &e2)) continue;
        tested++;
        assert_true(t.accuracy > 0.25); /* 4 classes: better than chance */
        float *w;
        size_t nw;
        if (uh_store_get_weights(store, rows[i].hash, &w, &nw, &err)) fail_msg("%s", err.msg);
        assert_int_equal((long)nw, rows[i].params);
        free(w);
    }
    assert_int_equal(tested, sum->front_size);
    uh_store_free_candidates(rows);
}

static void strategy_runs(uh_strategy_t s, const char *backend) {
    uh_search_config_t cfg;
    small_config(&cfg, s);
    char name[64];
    snprintf(name, sizeof name, "%s-%s", uh_strategy_name(s), backend);
    uh_store_t *store = create_run(name, &cfg, backend);
    uh_search_summary_t sum;
    run(store, NULL, NULL, NULL, &sum, UH_OK);
    check_run(store, &cfg, &sum);
    assert_int_equal(sum.reused, 0);
    /* running it again trains nothing and gives the same summary */
    uh_search_summary_t again;
    run(store, NULL, NULL, NULL, &again, UH_OK);
    assert_int_equal(again.trained, 0);
    assert_true(again.hypervolume == sum.hypervolume);
    uh_store_close(store);
}

static void test_nsga2(void **state) {
    (void)state;
    strategy_runs(UH_STRATEGY_NSGA2, "mzi-realistic");
}
static void test_random(void **state) {
    (void)state;
    strategy_runs(UH_STRATEGY_RANDOM, "cpu-xeon8380-fp32");
}
static void test_evolution(void **state) {
    (void)state;
    strategy_runs(UH_STRATEGY_EVOLUTION, "gpu-b200-fp16");
}

static void test_linas_records_predictor_quality(void **state) {
    (void)state;
    strategy_runs(UH_STRATEGY_LINAS, "crossbar-pcm");
    uh_error_t err = {0};
    uh_store_t *store;
    char dir[256];
    snprintf(dir, sizeof dir, "%s/linas-crossbar-pcm", g_root);
    if (uh_store_open(dir, &store, &err)) fail_msg("%s", err.msg);
    char *s;
    if (uh_store_get_generation(store, 1, &s, NULL, &err)) fail_msg("%s", err.msg);
    assert_non_null(strstr(s, "\"kendall_tau\""));
    assert_non_null(strstr(s, "\"spearman_rho\""));
    assert_non_null(strstr(s, "\"mae\""));
    free(s);
    uh_store_close(store);
}

/* Stops after `after` candidates. */
typedef struct {
    int after, seen;
    volatile int *stop;
} stopper_t;

static void stop_after(void *ctx, const uh_search_progress_t *p) {
    stopper_t *s = ctx;
    if (p->last && ++s->seen >= s->after) *s->stop = 1;
}

/* Two runs stored the same rows (ids included, in id order) and generation states. */
static void assert_same_run(uh_store_t *x, uh_store_t *y, const uh_search_config_t *cfg) {
    uh_candidate_t *a, *b;
    size_t na, nb;
    load_rows(x, &a, &na);
    load_rows(y, &b, &nb);
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        assert_int_equal(a[i].id, b[i].id);
        assert_string_equal(a[i].hash, b[i].hash);
        assert_string_equal(a[i].origin, b[i].origin);
        assert_int_equal(a[i].generation, b[i].generation);
        assert_true(a[i].accuracy == b[i].accuracy);
        assert_true(a[i].noisy_accuracy == b[i].noisy_accuracy);
        assert_true(a[i].energy_nj == b[i].energy_nj);
    }
    uh_store_free_candidates(a);
    uh_store_free_candidates(b);
    uh_error_t err = {0};
    for (int g = 0; g <= cfg->generations; g++) {
        char *sa, *sb;
        uh_gen_metrics_t ma, mb;
        if (uh_store_get_generation(x, g, &sa, &ma, &err) ||
            uh_store_get_generation(y, g, &sb, &mb, &err))
            fail_msg("generation %d: %s", g, err.msg);
        assert_string_equal(sa, sb); /* population ids, counts, strategy state */
        assert_true(ma.hypervolume == mb.hypervolume);
        free(sa);
        free(sb);
    }
}

/* Stops after `jobs`-parallel training of 5 candidates, resumes, compares with a whole run. */
static void stop_and_resume(const char *name, int jobs) {
    uh_search_config_t cfg;
    small_config(&cfg, UH_STRATEGY_NSGA2);
    char whole_name[64], parted_name[64];
    snprintf(whole_name, sizeof whole_name, "%s-whole", name);
    snprintf(parted_name, sizeof parted_name, "%s-parted", name);
    uh_store_t *whole = create_run(whole_name, &cfg, "mzi-worst");
    uh_search_summary_t sum_whole;
    run_jobs(whole, 1, NULL, NULL, NULL, &sum_whole, UH_OK);

    uh_store_t *parted = create_run(parted_name, &cfg, "mzi-worst");
    volatile int stop = 0;
    stopper_t st = {5, 0, &stop};
    uh_search_summary_t sum;
    run_jobs(parted, jobs, &stop, stop_after, &st, &sum, UH_EINTR);
    /* candidates already training when the stop came finish and are kept */
    assert_in_range(sum.trained, 5, 5 + jobs - 1);
    int first = sum.trained;
    stop = 0;
    run_jobs(parted, jobs, &stop, NULL, NULL, &sum, UH_OK);
    assert_int_equal(sum.reused, first); /* what was finished came from the store */
    assert_int_equal(sum.trained + sum.reused, sum_whole.trained);
    assert_same_run(whole, parted, &cfg);
    assert_true(sum.hypervolume == sum_whole.hypervolume);
    uh_store_close(whole);
    uh_store_close(parted);
}

static void test_stop_and_resume_gives_the_same_run(void **state) {
    (void)state;
    stop_and_resume("serial", 1);
    stop_and_resume("jobs2", 2);
}

/* Candidates trained three at a time give the rows, ids and states of a serial run. */
static void test_jobs_do_not_change_the_run(void **state) {
    (void)state;
    /* random's only batches are samples, which every strategy's first generation has; the
     * language-model strategies are in test_llm_cli.sh */
    static const uh_strategy_t strategies[] = {UH_STRATEGY_NSGA2, UH_STRATEGY_EVOLUTION,
                                               UH_STRATEGY_LINAS};
    for (size_t k = 0; k < sizeof strategies / sizeof strategies[0]; k++) {
        uh_strategy_t s = strategies[k];
        uh_search_config_t cfg;
        small_config(&cfg, s);
        char name[64];
        snprintf(name, sizeof name, "jobs1-%s", uh_strategy_name(s));
        uh_store_t *serial = create_run(name, &cfg, "mzi-realistic");
        snprintf(name, sizeof name, "jobs3-%s", uh_strategy_name(s));
        uh_store_t *parallel = create_run(name, &cfg, "mzi-realistic");
        uh_search_summary_t a, b;
        run_jobs(serial, 1, NULL, NULL, NULL, &a, UH_OK);
        run_jobs(parallel, 3, NULL, NULL, NULL, &b, UH_OK);
        assert_same_run(serial, parallel, &cfg);
        assert_true(a.hypervolume == b.hypervolume);
        uh_store_close(serial);
        uh_store_close(parallel);
    }
}

static void test_config_round_trip_and_strictness(void **state) {
    (void)state;
    uh_search_config_t cfg, back;
    small_config(&cfg, UH_STRATEGY_LINAS);
    cfg.seed = 18446744073709551615ULL;
    uh_error_t err = {0};
    uh_backend_t *b, *b2;
    if (uh_backend_load("mzi-realistic", &b, &err)) fail_msg("%s", err.msg);
    char *json = uh_search_config_json(&cfg, b);
    if (uh_search_config_parse(json, &back, &b2, &err)) fail_msg("%s", err.msg);
    assert_true(back.seed == cfg.seed);
    assert_int_equal(back.strategy, UH_STRATEGY_LINAS);
    assert_int_equal(back.population, 4);
    assert_string_equal(back.dataset, "tiny");
    assert_string_equal(uh_backend_name(b2), "mzi-realistic");
    assert_string_equal(back.operator_config, "");
    uh_backend_free(b2);
    /* the operator's settings travel as an object; text that is not one is refused */
    uh_search_config_t llm = cfg;
    llm.strategy = UH_STRATEGY_LLM;
    strcpy(llm.operator_config, "{\"llm\":{\"url\":\"http://h/v1\"}}");
    char *with_op = uh_search_config_json(&llm, b);
    if (uh_search_config_parse(with_op, &back, &b2, &err)) fail_msg("%s", err.msg);
    assert_string_equal(back.operator_config, llm.operator_config);
    assert_int_equal(back.strategy, UH_STRATEGY_LLM);
    uh_backend_free(b2);
    free(with_op);
    strcpy(llm.operator_config, "[1]");
    assert_null(uh_search_config_json(&llm, b));
    /* and a run of strategy llm without a language-model operator is refused, clearly */
    llm.operator_config[0] = '\0';
    uh_store_t *store = create_run("llm-without-model", &llm, "mzi-realistic");
    uh_search_summary_t sum;
    uh_error_t run_err = {0};
    assert_int_equal(uh_search_run(store, NULL, &sum, &run_err), UH_EINVAL);
    assert_non_null(strstr(run_err.msg, "needs a language-model operator"));
    uh_store_close(store);
    /* an edited file: unknown key, out-of-range number, wrong type */
    const char *edits[][2] = {{"\"population\":\t4", "\"population\":\t0"},
                              {"\"population\":\t4", "\"populaton\":\t4"},
                              {"\"mc\":\t2", "\"mc\":\t\"2\""}};
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        char *bad = strdup(json);
        char *at = strstr(bad, edits[i][0]);
        assert_non_null(at);
        size_t before = (size_t)(at - bad), old = strlen(edits[i][0]);
        char *edited = malloc(strlen(bad) + 16);
        snprintf(edited, strlen(bad) + 16, "%.*s%s%s", (int)before, bad, edits[i][1], at + old);
        assert_int_equal(uh_search_config_parse(edited, &back, &b2, &err), UH_EINVAL);
        assert_null(b2);
        assert_non_null(strstr(err.msg, "run config"));
        free(bad);
        free(edited);
    }
    assert_int_not_equal(uh_search_config_parse("[1,2]", &back, &b2, &err), UH_OK);
    free(json);
    uh_backend_free(b);
}

static void test_candidate_seed_depends_on_both(void **state) {
    (void)state;
    uint64_t a = uh_search_candidate_seed(1, "00ff"), b = uh_search_candidate_seed(2, "00ff");
    uint64_t c = uh_search_candidate_seed(1, "00fe");
    assert_true(a != b && a != c && b != c);
    assert_true(a == uh_search_candidate_seed(1, "00ff"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_candidate_seed_depends_on_both),
        cmocka_unit_test(test_config_round_trip_and_strictness),
        cmocka_unit_test(test_nsga2),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_evolution),
        cmocka_unit_test(test_linas_records_predictor_quality),
        cmocka_unit_test(test_stop_and_resume_gives_the_same_run),
        cmocka_unit_test(test_jobs_do_not_change_the_run),
    };
    return cmocka_run_group_tests(tests, make_root, remove_root);
}
