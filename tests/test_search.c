/* The search loop end to end on the tiny dataset, with real run stores: every strategy runs
 * its budget, hashes are unique, metrics are stored per generation, the final front is
 * measured on the test set from stored weights, and a run stopped half-way then resumed
 * gives the same rows as an uninterrupted one without retraining anything. */
#include "common.h"

#include <unistd.h>

#include <cjson/cJSON.h>
#include <omp.h>
#include <sqlite3.h>

#include "uhnas/pareto.h"
#include "uhnas/search.h"

/* The runs here: four parents and three children over two generations, seed 7, two Monte
 * Carlo samples. */
static void run_config(uh_search_config_t *cfg, uh_strategy_t s) {
    small_config(cfg, s, 4, 3, 2);
    cfg->seed = 7;
    cfg->mc = 2;
    cfg->predictor_generations = 20;
    cfg->pruner = UH_PRUNER_NONE; /* counts below are whole candidates; the pruner's runs are
                                   * tested on their own (test_pruner_*) */
}

/* jobs 0 = one per core. Every run also checks that the caller's OpenMP thread count is
 * its own again afterwards (3 here: not a count the loop uses itself). */
static void run_jobs(uh_store_t *store, int jobs, atomic_int *stop, uh_search_progress_fn fn,
                     void *ctx, uh_search_summary_t *sum, int want_rc) {
    uh_error_t err = {0};
    uh_search_opts_t opts = {.progress = fn, .progress_ctx = ctx, .stop = stop, .jobs = jobs};
    int threads = omp_get_max_threads();
    omp_set_num_threads(3);
    int rc = uh_search_run(store, &opts, sum, &err);
    assert_int_equal(omp_get_max_threads(), 3);
    omp_set_num_threads(threads);
    if (rc != want_rc) fail_msg("search returned %d (%s), want %d", rc, err.msg, want_rc);
}

static void run(uh_store_t *store, atomic_int *stop, uh_search_progress_fn fn, void *ctx,
                uh_search_summary_t *sum, int want_rc) {
    run_jobs(store, 0, stop, fn, ctx, sum, want_rc);
}

static void load_rows(uh_store_t *store, uh_candidate_t **rows, size_t *n) {
    uh_error_t err = {0};
    if (uh_store_candidates(store, rows, n, &err)) fail_msg("%s", err.msg);
}

/* Runs SQL on a store's file with a plain SQLite connection (to make an old store). */
static void raw_sql(const char *dir, const char *sql) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, UH_STORE_FILE);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) fail_msg("%s: %s", sql, msg);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
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

/* The hypervolume the loop stored for each generation is the "chance" one of the rows of
 * generations up to it: the definition report and compare re-score with
 * (uh_search_rows_hypervolume, tested by hand in test_report). */
static void check_hypervolumes(uh_store_t *store, const uh_search_config_t *cfg,
                               const char *backend) {
    uh_backend_t *b = load_backend(backend);
    double zero[3];
    uh_error_t err = {0};
    if (uh_search_cost_zero(b, (uh_shape_t){1, 12, 12, 4}, zero, &err)) fail_msg("%s", err.msg);
    uh_backend_free(b);
    uh_candidate_t *rows;
    size_t n;
    load_rows(store, &rows, &n);
    for (int g = 0; g <= cfg->generations; g++) {
        uh_gen_metrics_t m;
        char *state;
        if (uh_store_get_generation(store, g, &state, &m, &err)) fail_msg("%s", err.msg);
        free(state);
        double hv;
        if (uh_search_rows_hypervolume(cfg, zero, 4, rows, n, g, &hv, &err))
            fail_msg("%s", err.msg);
        assert_close(m.hypervolume, hv, 1e-12);
    }
    free(rows);
}

static void strategy_runs(uh_strategy_t s, const char *backend) {
    uh_search_config_t cfg;
    run_config(&cfg, s);
    char name[64];
    snprintf(name, sizeof name, "%s-%s", uh_strategy_name(s), backend);
    uh_store_t *store = create_run(name, &cfg, backend);
    uh_search_summary_t sum;
    run(store, NULL, NULL, NULL, &sum, UH_OK);
    check_run(store, &cfg, &sum);
    check_hypervolumes(store, &cfg, backend);
    assert_int_equal(sum.reused, 0);
    /* running it again trains nothing and gives the same summary */
    uh_search_summary_t again;
    run(store, NULL, NULL, NULL, &again, UH_OK);
    assert_int_equal(again.trained, 0);
    assert_true(again.hypervolume == sum.hypervolume);
    uh_store_close(store);
}

/* nsga2, random and evolution, each on another backend (linas has a test of its own). */
static void test_classic_strategies(void **state) {
    (void)state;
    static const struct {
        uh_strategy_t strategy;
        const char *backend;
    } runs[] = {
        {UH_STRATEGY_NSGA2, "mzi-realistic"},
        {UH_STRATEGY_RANDOM, "cpu-xeon8380-fp32"},
        {UH_STRATEGY_EVOLUTION, "gpu-b200-fp16"},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++)
        strategy_runs(runs[i].strategy, runs[i].backend);
}

static void test_linas_records_predictor_quality(void **state) {
    (void)state;
    strategy_runs(UH_STRATEGY_LINAS, "crossbar-pcm");
    uh_error_t err = {0};
    uh_store_t *store;
    char dir[256];
    tmp_pathf(dir, sizeof dir, "linas-crossbar-pcm");
    if (uh_store_open(dir, &store, &err)) fail_msg("%s", err.msg);
    char *s;
    if (uh_store_get_generation(store, 1, &s, NULL, &err)) fail_msg("%s", err.msg);
    assert_contains(s, "\"kendall_tau\"", "\"spearman_rho\"", "\"mae\"");
    free(s);
    uh_store_close(store);
}

/* Stops after `after` candidates. */
typedef struct {
    int after, seen;
    atomic_int *stop;
} stopper_t;

static void stop_after(void *ctx, const uh_search_progress_t *p) {
    stopper_t *s = ctx;
    if (p->last && ++s->seen >= s->after) *s->stop = 1;
}

/* Equal, or both NaN (not measured). */
static int same(double a, double b) {
    return a == b || (isnan(a) && isnan(b));
}

/* Two runs stored the same rows (ids included, in id order) and generation states, and their
 * summaries sx and sy end on the same hypervolume. */
static void assert_same_run(uh_store_t *x, const uh_search_summary_t *sx, uh_store_t *y,
                            const uh_search_summary_t *sy, const uh_search_config_t *cfg) {
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
        assert_int_equal(a[i].status, b[i].status);
        assert_string_equal(a[i].message, b[i].message);
        assert_true(same(a[i].accuracy, b[i].accuracy));
        assert_true(same(a[i].noisy_accuracy, b[i].noisy_accuracy));
        assert_true(same(a[i].energy_nj, b[i].energy_nj));
        /* −1: a row from before schema version 3 (not recorded) */
        assert_true(a[i].epochs_trained == b[i].epochs_trained || a[i].epochs_trained < 0 ||
                    b[i].epochs_trained < 0);
    }
    uh_store_free_candidates(a);
    uh_store_free_candidates(b);
    uh_error_t err = {0};
    for (int g = 0; g <= cfg->generations; g++) {
        char *sa = NULL, *sb = NULL;
        uh_gen_metrics_t ma, mb;
        if (uh_store_get_generation(x, g, &sa, &ma, &err) ||
            uh_store_get_generation(y, g, &sb, &mb, &err))
            fail_msg("generation %d: %s", g, err.msg);
        assert_string_equal(sa, sb); /* population ids, counts, strategy state */
        assert_true(ma.hypervolume == mb.hypervolume);
        free(sa);
        free(sb);
    }
    assert_true(sx->hypervolume == sy->hypervolume);
}

/* Stops after `jobs`-parallel training of 5 candidates, resumes, compares with a whole run. */
static void stop_and_resume(const char *name, int jobs) {
    uh_search_config_t cfg;
    run_config(&cfg, UH_STRATEGY_NSGA2);
    char whole_name[64], parted_name[64];
    snprintf(whole_name, sizeof whole_name, "%s-whole", name);
    snprintf(parted_name, sizeof parted_name, "%s-parted", name);
    uh_store_t *whole = create_run(whole_name, &cfg, "mzi-worst");
    uh_search_summary_t sum_whole;
    run_jobs(whole, 1, NULL, NULL, NULL, &sum_whole, UH_OK);

    uh_store_t *parted = create_run(parted_name, &cfg, "mzi-worst");
    atomic_int stop = 0;
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
    assert_same_run(whole, &sum_whole, parted, &sum, &cfg);
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
        run_config(&cfg, s);
        char name[64];
        snprintf(name, sizeof name, "jobs1-%s", uh_strategy_name(s));
        uh_store_t *serial = create_run(name, &cfg, "mzi-realistic");
        snprintf(name, sizeof name, "jobs3-%s", uh_strategy_name(s));
        uh_store_t *parallel = create_run(name, &cfg, "mzi-realistic");
        uh_search_summary_t a, b;
        run_jobs(serial, 1, NULL, NULL, NULL, &a, UH_OK);
        run_jobs(parallel, 3, NULL, NULL, NULL, &b, UH_OK);
        assert_same_run(serial, &a, parallel, &b, &cfg);
        uh_store_close(serial);
        uh_store_close(parallel);
    }
}

static void test_config_round_trip_and_strictness(void **state) {
    (void)state;
    uh_search_config_t cfg, back;
    run_config(&cfg, UH_STRATEGY_LINAS);
    cfg.seed = 18446744073709551615ULL;
    cfg.sampler = UH_SAMPLER_COST_SPREAD;
    cfg.pruner = UH_PRUNER_ASHA;
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
    assert_int_equal(back.sampler, UH_SAMPLER_COST_SPREAD);
    assert_int_equal(back.pruner, UH_PRUNER_ASHA);
    uh_backend_free(b2);
    assert_int_equal(back.rung_rounding, UH_RUNGS_NEAREST);
    assert_int_equal(back.rung_mc, 1);
    assert_int_equal(back.hypervolume, UH_HV_CHANCE);
    /* a run stored before the sampler, the pruner, its rung rules and the chance hypervolume
     * drew uniform samples, trained every candidate fully (in three rungs rounded down with
     * every hardware sample, when pruned) and measured the legacy hypervolume (whatever the
     * defaults are now) */
    char *stored = strdup(json);
    const char *gone[] = {"\"sampler\":\t\"cost-spread\",", "\"pruner\":\t\"asha\",",
                          "\"rung_rounding\":\t\"nearest\",", "\"rung_mc\":\t1,",
                          "\"hypervolume\":\t\"chance\","};
    for (int i = 0; i < 5; i++) {
        char *key = strstr(stored, gone[i]);
        assert_non_null(key);
        memmove(key, key + strlen(gone[i]), strlen(key + strlen(gone[i])) + 1);
    }
    if (uh_search_config_parse(stored, &back, &b2, &err)) fail_msg("%s", err.msg);
    assert_int_equal(back.sampler, UH_SAMPLER_UNIFORM);
    assert_int_equal(back.pruner, UH_PRUNER_NONE);
    assert_int_equal(back.rung_rounding, UH_RUNGS_DOWN);
    assert_int_equal(back.rung_mc, 0);
    assert_int_equal(back.hypervolume, UH_HV_LEGACY);
    uh_backend_free(b2);
    free(stored);
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

/* Runs cfg uninterrupted ("NAME-whole") and stopped after five candidates ("NAME-parted"),
 * whose store is then edited with sql to look like an older one (and no longer holds
 * `gone` in its config), reopened and resumed: the two end with the same run. The stores
 * are left open; *before gets the rows stored before the stop. */
static void resume_edited(const char *name, const uh_search_config_t *cfg, const char *sql,
                          const char *gone, uh_store_t **whole, uh_store_t **parted,
                          uh_candidate_t **before, size_t *n_before) {
    char path[256];
    snprintf(path, sizeof path, "%s-whole", name);
    *whole = create_run(path, cfg, "mzi-worst");
    uh_search_summary_t sum_whole, sum;
    run_jobs(*whole, 2, NULL, NULL, NULL, &sum_whole, UH_OK);
    snprintf(path, sizeof path, "%s-parted", name);
    *parted = create_run(path, cfg, "mzi-worst");
    atomic_int stop = 0;
    stopper_t st = {5, 0, &stop};
    run_jobs(*parted, 2, &stop, stop_after, &st, &sum, UH_EINTR);
    int first = sum.trained;
    load_rows(*parted, before, n_before);
    assert_int_equal(*n_before, first);
    uh_store_close(*parted);
    char dir[256];
    tmp_pathf(dir, sizeof dir, "%s", path);
    raw_sql(dir, sql);
    uh_error_t err = {0};
    if (uh_store_open(dir, parted, &err)) fail_msg("%s", err.msg);
    assert_null(strstr(uh_store_config(*parted), gone));
    run_jobs(*parted, 2, NULL, NULL, NULL, &sum, UH_OK);
    assert_int_equal(sum.reused, first);
    assert_same_run(*whole, &sum_whole, *parted, &sum, cfg);
}

/* Seeding "evaluation": a candidate's rows are a function of its architecture and the
 * evaluation. Every measured candidate of a run with seed 7, trained again with the data,
 * seed and settings a run with seed 8 would give it, measures the same to the last bit; its
 * stored seed is the one the other run derives. */
static void test_rows_do_not_depend_on_the_run_seed(void **state) {
    (void)state;
    uh_search_config_t cfg;
    run_config(&cfg, UH_STRATEGY_RANDOM);
    assert_int_equal(cfg.seeding, UH_SEED_EVALUATION); /* the default */
    uh_store_t *store = create_run("seeding-7", &cfg, "mzi-worst");
    run_jobs(store, 2, NULL, NULL, NULL, NULL, UH_OK);
    uh_search_config_t other;
    uh_backend_t *backend = NULL;
    uh_error_t err = {0};
    if (uh_search_config_parse(uh_store_config(store), &other, &backend, &err))
        fail_msg("%s", err.msg);
    other.seed = 8;
    uh_dataset_t *train, *val, *test;
    if (uh_search_load_data(&other, &train, &val, &test, &err)) fail_msg("%s", err.msg);
    uh_eval_config_t ec;
    uh_search_eval_config(&other, &ec);
    const uint64_t base = uh_search_seed_base(&other, backend);
    uh_candidate_t *rows;
    size_t n;
    load_rows(store, &rows, &n);
    int checked = 0;
    for (size_t i = 0; i < n && checked < 3; i++) {
        if (rows[i].status != UH_CAND_OK) continue;
        assert_true(rows[i].seed == uh_search_candidate_seed(base, rows[i].hash));
        uh_arch_t arch;
        parse_arch(rows[i].arch, (uh_shape_t){train->c, train->h, train->w, train->n_classes},
                   &arch);
        uh_eval_result_t res;
        if (uh_evaluate(backend, &arch, train, val, &ec, rows[i].seed, &res, NULL, NULL, &err))
            fail_msg("%s", err.msg);
        assert_true(res.accuracy == rows[i].accuracy);
        assert_true(res.noisy_accuracy == rows[i].noisy_accuracy);
        checked++;
    }
    assert_int_equal(checked, 3);
    /* the run seed still moves what the search does, and "run" seeding the seeds */
    assert_true(base == uh_search_seed_base(&cfg, backend));
    other.seeding = UH_SEED_RUN;
    assert_true(uh_search_seed_base(&other, backend) == 8);
    assert_true(uh_search_split_seed(&other) != uh_search_split_seed(&cfg));
    uh_store_free_candidates(rows);
    uh_dataset_free(train);
    uh_dataset_free(val);
    uh_dataset_free(test);
    uh_backend_free(backend);
    uh_store_close(store);
}

/* A run stored before "seeding" existed seeded from its run seed: resumed, it keeps doing so
 * and ends with the rows of an uninterrupted run of that rule. */
static void test_resumes_a_run_seeded_by_its_run_seed(void **state) {
    (void)state;
    uh_search_config_t cfg;
    run_config(&cfg, UH_STRATEGY_NSGA2);
    cfg.seeding = UH_SEED_RUN;
    uh_store_t *whole, *parted;
    uh_candidate_t *before, *rows;
    size_t n_before, n;
    resume_edited("seed-run", &cfg, "UPDATE run SET config = json_remove(config, '$.seeding');",
                  "seeding", &whole, &parted, &before, &n_before);
    load_rows(parted, &rows, &n);
    for (size_t i = 0; i < n; i++)
        assert_true(rows[i].seed == uh_search_candidate_seed(cfg.seed, rows[i].hash));
    uh_store_free_candidates(rows);
    uh_store_free_candidates(before);
    uh_store_close(whole);
    uh_store_close(parted);
}

/* ---- objectives and limits ----------------------------------------------------------- */

static void test_limits_check_names_the_limit(void **state) {
    (void)state;
    char msg[200];
    uh_limits_t none = {0, 0, 0};
    assert_false(uh_limits_any(&none));
    assert_int_equal(uh_limits_check(&none, 1e9, 1e9, 1e9, msg, sizeof msg), UH_LIMIT_NONE);
    assert_string_equal(msg, "");
    uh_limits_t l = {10, 100, 1};
    assert_true(uh_limits_any(&l));
    assert_int_equal(uh_limits_check(&l, 10, 100, 1, msg, sizeof msg), UH_LIMIT_NONE);
    assert_int_equal(uh_limits_check(&l, 12.5, 99, 0.5, msg, sizeof msg), UH_LIMIT_ENERGY);
    assert_string_equal(msg, "energy 12.5 nJ exceeds --max-energy-nj 10");
    assert_int_equal(uh_limits_check(&l, 9, 250, 0.5, msg, sizeof msg), UH_LIMIT_LATENCY);
    assert_string_equal(msg, "latency 250 ns exceeds --max-latency-ns 100");
    assert_int_equal(uh_limits_check(&l, 9, 99, 3, msg, sizeof msg), UH_LIMIT_AREA);
    assert_string_equal(msg, "area 3 mm2 exceeds --max-area-mm2 1");
    /* a cost the backend does not model (0, or NaN when unknown) never binds */
    assert_int_equal(uh_limits_check(&l, 9, 0, NAN, msg, sizeof msg), UH_LIMIT_NONE);
    uh_limits_t area_only = {0, 0, 2};
    assert_int_equal(uh_limits_check(&area_only, 1e9, 1e9, 2.5, NULL, 0), UH_LIMIT_AREA);
    assert_string_equal(uh_limit_option(UH_LIMIT_LATENCY), "--max-latency-ns");
    assert_string_equal(uh_limit_name(UH_LIMIT_AREA), "area");
}

static void expect_goals_refused(const char *list, const char *needle) {
    uh_goal_t g[UH_SEARCH_MAX_OBJECTIVES];
    int n = 0;
    char msg[160] = "";
    assert_int_equal(uh_goals_parse(list, g, &n, msg, sizeof msg), UH_EINVAL);
    if (!strstr(msg, needle)) fail_msg("\"%s\": \"%s\" lacks \"%s\"", list, msg, needle);
}

/* Replaces the first `from` in text (malloc'd, freed) by `to`. */
static char *edit(char *text, const char *from, const char *to) {
    char *at = strstr(text, from);
    if (!at) fail_msg("no \"%s\" in %s", from, text);
    size_t n = strlen(text) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    free(text);
    return out;
}

static void test_objectives_parse_and_config(void **state) {
    (void)state;
    uh_goal_t g[UH_SEARCH_MAX_OBJECTIVES];
    int n = 0;
    char msg[160], text[64];
    assert_int_equal(uh_goals_parse("error,energy,latency", g, &n, msg, sizeof msg), UH_OK);
    assert_int_equal(n, 3);
    assert_true(g[0] == UH_GOAL_ERROR && g[1] == UH_GOAL_ENERGY && g[2] == UH_GOAL_LATENCY);
    uh_goals_format(g, n, text, sizeof text);
    assert_string_equal(text, "error,energy,latency");
    assert_int_equal(uh_goals_parse("drop,area", g, &n, msg, sizeof msg), UH_OK);
    assert_true(n == 2 && g[0] == UH_GOAL_DROP && g[1] == UH_GOAL_AREA);
    expect_goals_refused("error", "two or three");
    expect_goals_refused("", "is not one of");
    expect_goals_refused("error,error", "listed twice");
    expect_goals_refused("error,speed", "\"speed\" is not one of");
    expect_goals_refused("error,energy,latency,area", "at most 3");
    expect_goals_refused("error,,energy", "is not one of");

    /* the default is error,energy with no limits; both travel with the config */
    uh_search_config_t cfg, back;
    run_config(&cfg, UH_STRATEGY_NSGA2);
    assert_int_equal(cfg.n_goals, 2);
    assert_true(cfg.goals[0] == UH_GOAL_ERROR && cfg.goals[1] == UH_GOAL_ENERGY);
    assert_false(uh_limits_any(&cfg.limits));
    cfg.n_goals = 3;
    cfg.goals[0] = UH_GOAL_DROP, cfg.goals[1] = UH_GOAL_AREA, cfg.goals[2] = UH_GOAL_ERROR;
    cfg.limits = (uh_limits_t){12.5, 0, 3.25};
    uh_error_t err = {0};
    uh_backend_t *b, *b2;
    if (uh_backend_load("mzi-realistic", &b, &err)) fail_msg("%s", err.msg);
    char *json = uh_search_config_json(&cfg, b);
    if (uh_search_config_parse(json, &back, &b2, &err)) fail_msg("%s", err.msg);
    uh_backend_free(b2);
    assert_int_equal(back.n_goals, 3);
    assert_true(back.goals[0] == UH_GOAL_DROP && back.goals[1] == UH_GOAL_AREA &&
                back.goals[2] == UH_GOAL_ERROR);
    assert_true(back.limits.max_energy_nj == 12.5 && back.limits.max_latency_ns == 0 &&
                back.limits.max_area_mm2 == 3.25);
    /* a config stored before objectives and limits existed: the defaults */
    cJSON *o = cJSON_Parse(json);
    cJSON_DeleteItemFromObject(o, "objectives");
    cJSON_DeleteItemFromObject(o, "limits");
    char *old = cJSON_Print(o);
    cJSON_Delete(o);
    if (uh_search_config_parse(old, &back, &b2, &err)) fail_msg("%s", err.msg);
    uh_backend_free(b2);
    free(old);
    assert_true(back.n_goals == 2 && back.goals[0] == UH_GOAL_ERROR &&
                back.goals[1] == UH_GOAL_ENERGY);
    assert_false(uh_limits_any(&back.limits));
    /* an edited file is refused */
    static const char *const edits[][3] = {
        {"\"drop\"", "\"error\"", "listed twice"},
        {"\"drop\"", "\"speed\"", "is not one of"},
        {"\"max_energy_nj\":\t12.5", "\"max_energy_nj\":\t-1", "must be in 0..1e+300, got -1"},
        {"\"max_energy_nj\"", "\"max_power_w\"", "unknown key"}};
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        char *bad = edit(strdup(json), edits[i][0], edits[i][1]);
        uh_error_t e2 = {0};
        assert_int_equal(uh_search_config_parse(bad, &back, &b2, &e2), UH_EINVAL);
        assert_null(b2);
        if (!strstr(e2.msg, edits[i][2])) fail_msg("%s: %s", edits[i][1], e2.msg);
        free(bad);
    }
    free(json);
    uh_backend_free(b);
}

/* An operator that makes the classic children, then puts one network far beyond the energy
 * limit in the first slot (as a language model might). */
typedef struct {
    uh_arch_t big;
    double crossover;
    int calls;
} big_operator_t;

static int propose_big(void *ctx, const uh_propose_t *in, uh_child_t *out, uh_error_t *err) {
    big_operator_t *op = ctx;
    int rc = uh_operator_classic.propose(&op->crossover, in, out, err);
    if (rc) return rc;
    out[0].arch = op->big;
    snprintf(out[0].origin, sizeof out[0].origin, "big");
    op->calls++;
    return UH_OK;
}

static void run_with(uh_store_t *store, const uh_operator_t *op, atomic_int *stop,
                     uh_search_progress_fn fn, void *ctx, uh_search_summary_t *sum, int want_rc) {
    uh_error_t err = {0};
    uh_search_opts_t opts = {
        .op = op, .progress = fn, .progress_ctx = ctx, .stop = stop, .jobs = 2};
    int rc = uh_search_run(store, &opts, sum, &err);
    if (rc != want_rc) fail_msg("search returned %d (%s), want %d", rc, err.msg, want_rc);
}

/* The classic operator but for its proposals. */
static uh_operator_t
proposing(const char *name,
          int (*propose)(void *, const uh_propose_t *, uh_child_t *, uh_error_t *), void *ctx) {
    uh_operator_t op = uh_operator_classic;
    op.name = name;
    op.propose = propose;
    op.ctx = ctx;
    return op;
}

/* A new run of cfg on cpu-xeon8380-fp32 with op, run to the end. */
static uh_store_t *run_cpu(const char *name, const uh_search_config_t *cfg, const uh_operator_t *op,
                           uh_search_summary_t *sum) {
    uh_store_t *store = create_run(name, cfg, "cpu-xeon8380-fp32");
    run_with(store, op, NULL, NULL, NULL, sum, UH_OK);
    return store;
}

/* An operator that puts a network of its own in the first slot of every full request: A in
 * generation 1, then A', A with one unit more (a near-duplicate: genome distance 0.006). A
 * request for fewer children is the loop asking again: classic children only. */
typedef struct {
    uh_arch_t a, twin;
    double crossover;
    int calls, children;
} twin_operator_t;

static int propose_twin(void *ctx, const uh_propose_t *in, uh_child_t *out, uh_error_t *err) {
    twin_operator_t *op = ctx;
    op->calls++;
    int rc = uh_operator_classic.propose(&op->crossover, in, out, err);
    if (rc || in->n < op->children) return rc;
    out[0].arch = in->generation == 1 ? op->a : op->twin;
    snprintf(out[0].origin, sizeof out[0].origin, "twin");
    return UH_OK;
}

/* The generations' summed count `key` from their stored states. */
static int state_sum(uh_store_t *store, int generations, const char *key) {
    int sum = 0;
    for (int g = 0; g <= generations; g++) {
        char *text;
        uh_error_t err = {0};
        if (uh_store_get_generation(store, g, &text, NULL, &err)) fail_msg("%s", err.msg);
        cJSON *o = cJSON_Parse(text);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
        assert_true(cJSON_IsNumber(v));
        sum += v->valueint;
        cJSON_Delete(o);
        free(text);
    }
    return sum;
}

/* The operators' depth caps are stored with a run; a run stored before them had none. */
static void test_depth_caps_stored(void **state) {
    (void)state;
    uh_search_config_t cfg, back;
    uh_error_t err = {0};
    run_config(&cfg, UH_STRATEGY_LINAS);
    assert_int_equal(cfg.depth_caps, 1);
    uh_backend_t *b = load_backend("cpu-xeon8380-fp32"), *b2;
    char *text = uh_search_config_json(&cfg, b);
    assert_non_null(strstr(text, "\"depth_caps\":\ttrue,"));
    if (uh_search_config_parse(text, &back, &b2, &err)) fail_msg("%s", err.msg);
    assert_int_equal(back.depth_caps, 1);
    uh_backend_free(b2);
    text = edit(text, "\"depth_caps\":\ttrue,", "");
    if (uh_search_config_parse(text, &back, &b2, &err)) fail_msg("%s", err.msg);
    assert_int_equal(back.depth_caps, 0);
    uh_backend_free(b2);
    text = edit(text, "\"sampler\":", "\"depth_caps\":\t1,\"sampler\":");
    assert_int_equal(uh_search_config_parse(text, &back, &b2, &err), UH_EINVAL); /* not a bool */
    uh_backend_free(b);
    free(text);
}

/* The depth caps bind every operator's children, not only the classic ones: an operator that
 * puts a network of five hidden dense layers in its first slot (as a remote language model
 * may) has it refused and replaced, never trained; a run stored before the caps trains it. */
static void test_depth_caps_bind_every_operator(void **state) {
    (void)state;
    static const char deep_json[] =
        "{\"layers\":[{\"type\":\"dense\",\"units\":8},{\"type\":\"dense\",\"units\":8},"
        "{\"type\":\"dense\",\"units\":8},{\"type\":\"dense\",\"units\":8},"
        "{\"type\":\"dense\",\"units\":8},{\"type\":\"dense\",\"units\":4}]}";
    uh_shape_t tiny = {1, 12, 12, 4};
    uh_error_t err = {0};
    for (int caps = 1; caps >= 0; caps--) {
        big_operator_t deep = {.crossover = 0.5};
        if (uh_arch_parse(deep_json, strlen(deep_json), tiny, &deep.big, &err))
            fail_msg("%s", err.msg);
        char deep_hash[17];
        uh_arch_hash(&deep.big, deep_hash);
        uh_search_config_t cfg;
        run_config(&cfg, UH_STRATEGY_NSGA2);
        cfg.generations = 1; /* one request is enough: the loop refuses it or trains it */
        cfg.depth_caps = caps;
        cfg.min_distance = 0;
        uh_operator_t op = proposing("deep", propose_big, &deep);
        uh_search_summary_t sum;
        uh_store_t *store = run_cpu(caps ? "caps-every" : "caps-none", &cfg, &op, &sum);
        assert_int_equal(deep.calls, cfg.generations);
        uh_candidate_t *rows;
        size_t n;
        load_rows(store, &rows, &n);
        int trained = 0;
        for (size_t i = 0; i < n; i++) trained += !strcmp(rows[i].hash, deep_hash);
        assert_int_equal(trained, !caps);
        assert_int_equal((int)n, cfg.population + cfg.generations * cfg.children);
        assert_int_equal(state_sum(store, cfg.generations, "invalid"), caps ? cfg.generations : 0);
        uh_store_free_candidates(rows);
        uh_store_close(store);
    }
}

static void test_near_duplicates_are_refused_and_asked_again(void **state) {
    (void)state;
    uh_shape_t tiny = {1, 12, 12, 4};
    uh_error_t err = {0};
    twin_operator_t twin = {.crossover = 0.5};
    static const char *const json[2] = {
        "{\"layers\":[{\"type\":\"dense\",\"units\":32,\"activation\":\"relu\"},"
        "{\"type\":\"dense\",\"units\":4}]}",
        "{\"layers\":[{\"type\":\"dense\",\"units\":33,\"activation\":\"relu\"},"
        "{\"type\":\"dense\",\"units\":4}]}"};
    uh_arch_t *archs[2] = {&twin.a, &twin.twin};
    char hash[2][17];
    for (int i = 0; i < 2; i++) {
        if (uh_arch_parse(json[i], strlen(json[i]), tiny, archs[i], &err)) fail_msg("%s", err.msg);
        uh_arch_hash(archs[i], hash[i]);
    }
    double fa[UH_SPACE_FEATURES], fb[UH_SPACE_FEATURES];
    uh_space_encode(&twin.a, fa);
    uh_space_encode(&twin.twin, fb);
    assert_true(uh_space_distance(fa, fb) < 0.01);
    { /* stored with the run; a run stored before it took near-duplicates */
        uh_search_config_t cfg, back;
        run_config(&cfg, UH_STRATEGY_NSGA2);
        uh_backend_t *b = load_backend("cpu-xeon8380-fp32"), *b2;
        char *text = uh_search_config_json(&cfg, b);
        assert_non_null(strstr(text, "\"min_distance\":\t0.1,"));
        if (uh_search_config_parse(text, &back, &b2, &err)) fail_msg("%s", err.msg);
        assert_true(back.min_distance == UH_SEARCH_MIN_DISTANCE);
        uh_backend_free(b2);
        text = edit(text, "\"min_distance\":\t0.1,", "");
        if (uh_search_config_parse(text, &back, &b2, &err)) fail_msg("%s", err.msg);
        assert_true(back.min_distance == 0);
        uh_backend_free(b2);
        uh_backend_free(b);
        free(text);
    }

    for (int refuse = 0; refuse < 2; refuse++) {
        uh_search_config_t cfg;
        run_config(&cfg, UH_STRATEGY_NSGA2);
        cfg.generations = 3;
        cfg.min_distance = refuse ? UH_SEARCH_MIN_DISTANCE : 0;
        twin.children = cfg.children;
        twin.calls = 0;
        uh_operator_t op = proposing("twin", propose_twin, &twin);
        uh_search_summary_t sum;
        uh_store_t *store = run_cpu(refuse ? "near-refused" : "near-taken", &cfg, &op, &sum);
        uh_candidate_t *rows;
        size_t n;
        load_rows(store, &rows, &n);
        int found[2] = {0, 0}, near_pairs = 0;
        for (size_t i = 0; i < n; i++) {
            for (int k = 0; k < 2; k++) found[k] += strcmp(rows[i].hash, hash[k]) == 0;
            uh_arch_t x, y;
            if (uh_arch_parse(rows[i].arch, strlen(rows[i].arch), tiny, &x, &err))
                fail_msg("%s", err.msg);
            uh_space_encode(&x, fa);
            for (size_t j = 0; j < i; j++) {
                if (uh_arch_parse(rows[j].arch, strlen(rows[j].arch), tiny, &y, &err))
                    fail_msg("%s", err.msg);
                uh_space_encode(&y, fb);
                near_pairs += uh_space_distance(fa, fb) < UH_SEARCH_MIN_DISTANCE;
            }
        }
        assert_int_equal(found[0], 1);
        int near = state_sum(store, cfg.generations, "near_duplicates");
        if (refuse) {
            /* the twin, proposed in generations 2 and 3, was refused each time and the
             * operator asked again; no two trained networks are that close */
            assert_int_equal(found[1], 0);
            assert_int_equal(near_pairs, 0);
            assert_true(near >= 2);
            assert_true(twin.calls >= 2 * cfg.generations - 1);
        } else {
            assert_int_equal(found[1], 1);
            assert_int_equal(near, 0);
            assert_int_equal(twin.calls, cfg.generations);
        }
        free(rows);
        uh_store_close(store);
    }
}

static void test_limits_refuse_before_training(void **state) {
    (void)state;
    const char *backend = "cpu-xeon8380-fp32";
    uh_error_t err = {0};
    uh_backend_t *b;
    if (uh_backend_load(backend, &b, &err)) fail_msg("%s", err.msg);
    big_operator_t big = {.crossover = 0.5};
    static const char big_json[] =
        "{\"layers\":[{\"type\":\"dense\",\"units\":512,\"activation\":\"relu\"},"
        "{\"type\":\"dense\",\"units\":512,\"activation\":\"relu\"},{\"type\":\"dense\","
        "\"units\":4}]}";
    uh_shape_t tiny = {1, 12, 12, 4};
    if (uh_arch_parse(big_json, strlen(big_json), tiny, &big.big, &err)) fail_msg("%s", err.msg);
    uh_energy_t e;
    if (uh_backend_energy(b, &big.big, &e, &err)) fail_msg("%s", err.msg);
    uh_backend_free(b);
    char big_hash[17];
    uh_arch_hash(&big.big, big_hash);

    uh_search_config_t cfg;
    run_config(&cfg, UH_STRATEGY_NSGA2);
    cfg.limits.max_energy_nj = e.total_nj / 4;
    cfg.min_distance = 0; /* its second proposal reaches the batch, not a second request */
    uh_operator_t op = proposing("big", propose_big, &big);
    uh_store_t *store = create_run("limits-whole", &cfg, backend);
    uh_search_summary_t sum;
    run_with(store, &op, NULL, NULL, NULL, &sum, UH_OK);
    assert_int_equal(big.calls, cfg.generations);
    assert_int_equal(sum.rejected, 1); /* proposed twice: the second time it was known */

    uh_candidate_t *rows;
    size_t n;
    load_rows(store, &rows, &n);
    int refused = 0, counted = 0;
    for (size_t i = 0; i < n; i++) {
        const uh_candidate_t *c = &rows[i];
        if (c->status == UH_CAND_INVALID) {
            refused++;
            assert_string_equal(c->hash, big_hash);
            assert_string_equal(c->origin, "big");
            assert_int_equal(c->generation, 1);
            assert_contains(c->message, "refused before training", "energy",
                            "exceeds --max-energy-nj");
            assert_true(isnan(c->accuracy) && isnan(c->noisy_accuracy) && isnan(c->train_seconds));
            assert_true(c->energy_nj == e.total_nj); /* why: its cost, kept */
            float *w;
            size_t nw;
            uh_error_t absent = {0};
            assert_int_equal(uh_store_get_weights(store, c->hash, &w, &nw, &absent), UH_ENOTFOUND);
            continue;
        }
        counted++;
        if (c->status == UH_CAND_OK) assert_true(c->energy_nj <= cfg.limits.max_energy_nj);
    }
    assert_int_equal(refused, 1);
    int budget = cfg.population + cfg.generations * cfg.children;
    assert_true(counted <= budget && counted >= budget - 2); /* refusals cost no budget */
    assert_int_equal(sum.trained, counted);
    uh_store_free_candidates(rows);
    /* the generation says which limit its invalid child broke */
    char *g1;
    if (uh_store_get_generation(store, 1, &g1, NULL, &err)) fail_msg("%s", err.msg);
    assert_non_null(strstr(g1, "\"over_limit\":{\"energy\":1,\"latency\":0,\"area\":0}"));
    assert_non_null(strstr(g1, "\"invalid\":1"));
    free(g1);

    /* run again: nothing trained, nothing refused anew, the same result */
    uh_search_summary_t again;
    run_with(store, &op, NULL, NULL, NULL, &again, UH_OK);
    assert_int_equal(again.trained, 0);
    assert_int_equal(again.rejected, 1);
    assert_true(again.hypervolume == sum.hypervolume);

    /* stopped part-way and resumed: the rows of the uninterrupted run, refusal included */
    uh_store_t *parted = create_run("limits-parted", &cfg, backend);
    atomic_int stop = 0;
    stopper_t st = {6, 0, &stop};
    uh_search_summary_t part;
    run_with(parted, &op, &stop, stop_after, &st, &part, UH_EINTR);
    stop = 0;
    run_with(parted, &op, &stop, NULL, NULL, &part, UH_OK);
    assert_same_run(store, &sum, parted, &part, &cfg);
    uh_store_close(parted);
    uh_store_close(store);
}

/* Exact hypervolume of points (n × k, minimised) against ref by counting the cells of the
 * grid their coordinates make: a cell counts when some point is ≤ its lower corner. */
static double grid_hv(const double *p, int n, int k, const double *ref) {
    double axis[3][64];
    int m[3] = {0, 0, 0};
    for (int j = 0; j < k; j++) {
        for (int i = 0; i < n; i++) axis[j][m[j]++] = p[i * k + j];
        axis[j][m[j]++] = ref[j];
        for (int a = 1; a < m[j]; a++) /* insertion sort */
            for (int c = a; c > 0 && axis[j][c - 1] > axis[j][c]; c--) {
                double t = axis[j][c];
                axis[j][c] = axis[j][c - 1];
                axis[j][c - 1] = t;
            }
    }
    double hv = 0;
    int at[3] = {0, 0, 0};
    for (;;) {
        double vol = 1;
        for (int j = 0; j < k; j++) vol *= axis[j][at[j] + 1] - axis[j][at[j]];
        int covered = 0;
        for (int i = 0; i < n && !covered && vol > 0; i++) {
            int le = 1;
            for (int j = 0; j < k; j++) le &= p[i * k + j] <= axis[j][at[j]];
            covered = le;
        }
        if (covered) hv += vol;
        int j = 0;
        while (j < k && ++at[j] >= m[j] - 1) at[j++] = 0;
        if (j == k) break;
    }
    return hv;
}

/* A tiny search on error, energy and latency: runs end to end, its 3-D front (the rows
 * measured on the test set) is exactly the non-dominated set of its rows in those three
 * objectives (networks at chance aside), and its hypervolume is the grid count's. */
static void test_three_objectives_end_to_end(void **state) {
    (void)state;
    uh_search_config_t cfg;
    run_config(&cfg, UH_STRATEGY_NSGA2);
    cfg.generations = 3;
    cfg.n_goals = 3;
    cfg.goals[0] = UH_GOAL_ERROR, cfg.goals[1] = UH_GOAL_ENERGY, cfg.goals[2] = UH_GOAL_LATENCY;
    const char *backend = "mzi-realistic";
    uh_store_t *store = create_run("three-objectives", &cfg, backend);
    uh_search_summary_t sum;
    run(store, NULL, NULL, NULL, &sum, UH_OK);
    assert_true(sum.hypervolume > 0 && sum.hypervolume <= 1);
    assert_true(sum.front_size >= 1);

    /* the normalisation the search uses, from the task's linear classifier */
    uh_error_t err = {0};
    uh_backend_t *b;
    if (uh_backend_load(backend, &b, &err)) fail_msg("%s", err.msg);
    uh_dataset_t *train, *val, *test;
    if (uh_search_load_data(&cfg, &train, &val, &test, &err)) fail_msg("%s", err.msg);
    uh_shape_t in = {train->c, train->h, train->w, train->n_classes};
    double zero[3];
    if (uh_search_cost_zero(b, in, zero, &err)) fail_msg("%s", err.msg);
    uh_dataset_free(train);
    uh_dataset_free(val);
    uh_dataset_free(test);
    uh_backend_free(b);

    /* the hypervolume's box: error / chance error, costs clipped to [0, 1]; networks at
     * chance are never on the front */
    const double chance = 1 - 1.0 / in.n_classes;
    uh_candidate_t *rows;
    size_t n;
    load_rows(store, &rows, &n);
    double *p = malloc((n + 1) * 3 * sizeof *p), *inside = malloc((n + 1) * 3 * sizeof *inside);
    int *ok = malloc((n + 1) * sizeof *ok), m = 0, n_in = 0;
    for (size_t i = 0; i < n; i++) {
        const uh_candidate_t *c = &rows[i];
        if (c->status != UH_CAND_OK) continue;
        assert_true(isfinite(c->latency_ns) && c->latency_ns >= 0);
        assert_true(isfinite(c->area_mm2) && c->area_mm2 >= 0);
        double box[3];
        for (int j = 0; j < 3; j++) {
            p[m * 3 + j] =
                uh_search_goal_value(cfg.goals[j], cfg.objective, zero, c->accuracy,
                                     c->noisy_accuracy, c->energy_nj, c->latency_ns, c->area_mm2);
            box[j] = uh_search_hv_value(cfg.goals[j], p[m * 3 + j], chance);
        }
        if (box[0] < 1 && box[1] < 1 && box[2] < 1) memcpy(inside + 3 * n_in++, box, sizeof box);
        if (p[m * 3] >= chance) continue; /* at chance: off the front */
        ok[m++] = (int)i;
    }
    static const double ref[3] = {1, 1, 1};
    double want = grid_hv(inside, n_in, 3, ref);
    if (fabs(sum.hypervolume - want) > 1e-12)
        fail_msg("hypervolume %.17g, grid count %.17g", sum.hypervolume, want);
    /* the front: non-dominated in all three, every one measured on the test set */
    int front = 0;
    for (int a = 0; a < m; a++) {
        int dominated = 0;
        for (int c = 0; c < m && !dominated; c++) {
            int le = 1, lt = 0;
            for (int j = 0; j < 3; j++) {
                le &= p[c * 3 + j] <= p[a * 3 + j];
                lt |= p[c * 3 + j] < p[a * 3 + j];
            }
            dominated = le && lt;
        }
        uh_test_result_t t;
        uh_error_t absent = {0};
        int tested = uh_store_get_test_result(store, rows[ok[a]].hash, &t, &absent) == UH_OK;
        if (tested != !dominated)
            fail_msg("candidate %s: dominated %d, measured on the test set %d", rows[ok[a]].hash,
                     dominated, tested);
        front += !dominated;
    }
    assert_int_equal(front, sum.front_size);
    free(p);
    free(inside);
    free(ok);
    uh_store_free_candidates(rows);
    /* the generations' stored hypervolume is the same 3-D one */
    uh_gen_metrics_t gm;
    char *st;
    if (uh_store_get_generation(store, cfg.generations, &st, &gm, &err)) fail_msg("%s", err.msg);
    free(st);
    assert_true(gm.hypervolume == sum.hypervolume);
    uh_store_close(store);
}

/* A run stored by a build before latency and area (schema version 1, a config without
 * objectives or limits), stopped part-way, resumes to the rows of an uninterrupted run. */
static void test_resumes_a_version1_store(void **state) {
    (void)state;
    uh_search_config_t cfg;
    run_config(&cfg, UH_STRATEGY_NSGA2);
    uh_store_t *whole, *parted;
    uh_candidate_t *before;
    size_t n_before;
    resume_edited("v1", &cfg,
                  "DROP TABLE rungs; ALTER TABLE candidates DROP COLUMN epochs_trained;"
                  "ALTER TABLE candidates DROP COLUMN latency_ns;"
                  "ALTER TABLE candidates DROP COLUMN area_mm2;"
                  "UPDATE run SET config = json_remove(config, '$.objectives', '$.limits');"
                  "PRAGMA user_version = 1;",
                  "objectives", &whole, &parted, &before, &n_before);
    /* rows from before have no latency or area (not measured then); the new ones do */
    uh_candidate_t *rows;
    size_t n;
    load_rows(parted, &rows, &n);
    for (size_t i = 0; i < n; i++) {
        int old = 0;
        for (size_t j = 0; j < n_before; j++) old |= !strcmp(rows[i].hash, before[j].hash);
        if (old)
            assert_true(isnan(rows[i].latency_ns) && isnan(rows[i].area_mm2));
        else if (rows[i].status == UH_CAND_OK)
            assert_true(isfinite(rows[i].latency_ns) && isfinite(rows[i].area_mm2));
    }
    uh_store_free_candidates(rows);
    uh_store_free_candidates(before);
    uh_store_close(whole);
    uh_store_close(parted);
}

/* ---- the pruner ---- */

/* Training continued from a run's weights after one epoch gives the weights of the run
 * itself (plain SGD: no optimizer state to lose), training noise included. */
static void test_continued_training_is_one_run(void **state) {
    (void)state;
    uh_search_config_t cfg;
    run_config(&cfg, UH_STRATEGY_NSGA2);
    cfg.train.optimizer = UH_OPT_SGD;
    cfg.train.lr = 0.05f;
    cfg.train.momentum = 0;
    uh_error_t err = {0};
    uh_backend_t *b;
    uh_dataset_t *train = NULL, *val = NULL, *test = NULL;
    if (uh_backend_load("mzi-worst", &b, &err) ||
        uh_search_load_data(&cfg, &train, &val, &test, &err))
        fail_msg("%s", err.msg);
    uh_arch_t a = {0};
    a.n_layers = 2;
    a.layers[0].type = a.layers[1].type = UH_LAYER_DENSE;
    a.layers[0].units = 16;
    a.layers[1].units = train->n_classes;
    uh_shape_t in = {train->c, train->h, train->w, train->n_classes};
    if (uh_arch_resolve(&a, in, &err)) fail_msg("%s", err.msg);
    uh_eval_config_t ec;
    uh_search_eval_config(&cfg, &ec);
    ec.train.epochs = 3;
    uh_eval_result_t res;
    float *whole, *part, *cont;
    size_t n1, n2, n3;
    if (uh_evaluate(b, &a, train, val, &ec, 11, &res, &whole, &n1, &err)) fail_msg("%s", err.msg);
    ec.train.epochs = 1;
    if (uh_evaluate(b, &a, train, val, &ec, 11, &res, &part, &n2, &err)) fail_msg("%s", err.msg);
    ec.train.first_epoch = 1;
    ec.train.epochs = 2;
    ec.start_weights = part;
    ec.n_start_weights = n2;
    if (uh_evaluate(b, &a, train, val, &ec, 11, &res, &cont, &n3, &err)) fail_msg("%s", err.msg);
    assert_int_equal(n1, n3);
    assert_memory_equal(whole, cont, n1 * sizeof *whole);
    assert_true(memcmp(whole, part, n1 * sizeof *whole) != 0);
    ec.n_start_weights = n2 - 1;
    expect_bad(uh_evaluate(b, &a, train, val, &ec, 11, &res, NULL, NULL, &err), &err, UH_EFORMAT,
               "weights to continue from");
    free(whole);
    free(part);
    free(cont);
    uh_dataset_free(train);
    uh_dataset_free(val);
    uh_dataset_free(test);
    uh_backend_free(b);
}

/* A run under the pruner: nine parents and three children over two generations, nine
 * epochs (rungs of 1, 3 and 9). */
static void pruner_config(uh_search_config_t *cfg) {
    small_config(cfg, UH_STRATEGY_NSGA2, 9, 3, 2);
    cfg->seed = 7;
    cfg->train.epochs = 9;
    cfg->pruner = UH_PRUNER_ASHA;
}

/* hash's result at rung g, or NULL. */
static const uh_rung_t *rung_of(const uh_rung_t *rungs, size_t n, const char *hash, int g) {
    for (size_t i = 0; i < n; i++)
        if (rungs[i].rung == g && strcmp(rungs[i].hash, hash) == 0) return &rungs[i];
    return NULL;
}

/* The promotion rule recomputed from the store: after rung g, generation gen's candidates
 * are ranked with every candidate of earlier generations measured at g (in id order, then the
 * generation's), by non-dominated sorting and crowding on (error at the rung, log10 energy:
 * the run's normalised objectives up to a scale and shift per axis, which neither ranks nor
 * range-normalised crowding see); one goes on to rung g + 1 exactly when fewer than ceil(N/3)
 * of the N stand before it. Returns how many went on. */
static int check_promotions(const uh_candidate_t *rows, size_t n, const uh_rung_t *rungs,
                            size_t n_rungs, int gen, int g) {
    double *p = malloc(2 * (n + 1) * sizeof *p), *crowd = malloc((n + 1) * sizeof *crowd);
    int *rank = malloc((n + 1) * sizeof *rank), *who = malloc((n + 1) * sizeof *who);
    assert_true(p && crowd && rank && who);
    int at = 0, first_new = -1;
    for (int pass = 0; pass < 2; pass++) /* earlier generations, then this one */
        for (size_t i = 0; i < n; i++) {
            const uh_rung_t *m = rung_of(rungs, n_rungs, rows[i].hash, g);
            /* a row that failed at a later rung has no costs and is not ranked */
            if (!m || !(rows[i].energy_nj > 0) ||
                (pass == 0 ? rows[i].generation >= gen : rows[i].generation != gen))
                continue;
            if (pass == 1 && first_new < 0) first_new = at;
            p[2 * at] = 1 - m->noisy_accuracy;
            p[2 * at + 1] = log10(rows[i].energy_nj);
            who[at++] = (int)i;
        }
    uh_error_t err = {0};
    if (at && uh_nsga2_assign(p, at, 2, rank, crowd, &err)) fail_msg("%s", err.msg);
    int went_on = 0;
    for (int a = first_new < 0 ? at : first_new; a < at; a++) {
        int ahead = 0;
        for (int c = 0; c < at; c++) {
            int order = uh_nsga2_better(rank[c], crowd[c], rank[a], crowd[a]);
            ahead += order > 0 || (order == 0 && c < a);
        }
        int on = rung_of(rungs, n_rungs, rows[who[a]].hash, g + 1) != NULL;
        assert_int_equal(on, ahead < (at + 2) / 3);
        went_on += on;
    }
    free(p), free(crowd), free(rank), free(who);
    return went_on;
}

/* Rows stopped at rung 0 or 1 are pruned with 1 or 3 epochs, the others ran all 9; every
 * promotion follows the rule (check_promotions), so the initial population, with no rival at
 * its rungs, goes 9 → 3 → 1; no pruned row is on the final front. */
static void check_pruned_run(uh_store_t *store) {
    uh_candidate_t *rows;
    uh_rung_t *rungs;
    size_t n, n_rungs;
    uh_error_t err = {0};
    load_rows(store, &rows, &n);
    if (uh_store_rungs(store, &rungs, &n_rungs, &err)) fail_msg("%s", err.msg);
    for (size_t i = 0; i < n; i++) {
        const uh_candidate_t *c = &rows[i];
        if (c->status == UH_CAND_PRUNED)
            assert_true(c->epochs_trained == 1 || c->epochs_trained == 3);
        else if (c->status == UH_CAND_OK)
            assert_int_equal(c->epochs_trained, 9);
        uh_test_result_t t;
        uh_error_t e = {0};
        if (c->status == UH_CAND_PRUNED)
            assert_int_equal(uh_store_get_test_result(store, c->hash, &t, &e), UH_ENOTFOUND);
    }
    assert_int_equal(check_promotions(rows, n, rungs, n_rungs, 0, 0), 3); /* 9 → 3 → 1 */
    assert_int_equal(check_promotions(rows, n, rungs, n_rungs, 0, 1), 1);
    for (int gen = 1; gen <= 2; gen++)
        for (int g = 0; g < 2; g++) check_promotions(rows, n, rungs, n_rungs, gen, g);
    uh_store_free_candidates(rows);
    free(rungs);
}

static void test_pruner_runs_rungs_for_any_jobs(void **state) {
    (void)state;
    uh_search_config_t cfg;
    pruner_config(&cfg);
    uh_store_t *serial = create_run("asha-jobs1", &cfg, "mzi-worst");
    uh_store_t *parallel = create_run("asha-jobs3", &cfg, "mzi-worst");
    uh_search_summary_t a, b;
    run_jobs(serial, 1, NULL, NULL, NULL, &a, UH_OK);
    run_jobs(parallel, 3, NULL, NULL, NULL, &b, UH_OK);
    check_pruned_run(serial);
    /* small stores: weights only for the final front (they left with the running front) */
    uh_candidate_t *rows;
    size_t n;
    int with_weights = 0;
    load_rows(serial, &rows, &n);
    for (size_t i = 0; i < n; i++) {
        float *w;
        size_t nw;
        uh_error_t e = {0};
        if (!uh_store_get_weights(serial, rows[i].hash, &w, &nw, &e)) with_weights++, free(w);
    }
    uh_store_free_candidates(rows);
    assert_int_equal(with_weights, a.front_size);
    assert_same_run(serial, &a, parallel, &b, &cfg);
    uh_store_close(serial);
    uh_store_close(parallel);
}

/* Stopped between rungs (after the first pruned rows), resumed: the rows of a whole run, the
 * finished rungs not trained again. */
static void test_pruner_stop_and_resume(void **state) {
    (void)state;
    uh_search_config_t cfg;
    pruner_config(&cfg);
    uh_store_t *whole = create_run("asha-whole", &cfg, "mzi-worst");
    uh_search_summary_t sum_whole, sum;
    run_jobs(whole, 2, NULL, NULL, NULL, &sum_whole, UH_OK);
    uh_store_t *parted = create_run("asha-parted", &cfg, "mzi-worst");
    atomic_int stop = 0;
    stopper_t st = {2, 0, &stop};
    run_jobs(parted, 2, &stop, stop_after, &st, &sum, UH_EINTR);
    stop = 0;
    run_jobs(parted, 2, &stop, NULL, NULL, &sum, UH_OK);
    assert_same_run(whole, &sum_whole, parted, &sum, &cfg);
    uh_store_close(whole);
    uh_store_close(parted);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_candidate_seed_depends_on_both),
        cmocka_unit_test(test_rows_do_not_depend_on_the_run_seed),
        cmocka_unit_test(test_resumes_a_run_seeded_by_its_run_seed),
        cmocka_unit_test(test_config_round_trip_and_strictness),
        cmocka_unit_test(test_classic_strategies),
        cmocka_unit_test(test_linas_records_predictor_quality),
        cmocka_unit_test(test_stop_and_resume_gives_the_same_run),
        cmocka_unit_test(test_jobs_do_not_change_the_run),
        cmocka_unit_test(test_limits_check_names_the_limit),
        cmocka_unit_test(test_objectives_parse_and_config),
        cmocka_unit_test(test_limits_refuse_before_training),
        cmocka_unit_test(test_depth_caps_stored),
        cmocka_unit_test(test_depth_caps_bind_every_operator),
        cmocka_unit_test(test_near_duplicates_are_refused_and_asked_again),
        cmocka_unit_test(test_three_objectives_end_to_end),
        cmocka_unit_test(test_resumes_a_version1_store),
        cmocka_unit_test(test_continued_training_is_one_run),
        cmocka_unit_test(test_pruner_runs_rungs_for_any_jobs),
        cmocka_unit_test(test_pruner_stop_and_resume),
    };
    return cmocka_run_group_tests(tests, tmp_setup, tmp_teardown);
}
