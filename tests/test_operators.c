/* Operators as plug-ins (issue 14, item 1): the classic operator reads the run's crossover
 * probability from what it is asked, the loop fills it from the config, a run's operator is
 * opened from its stored config in one place, the built-in model's settings go to JSON and
 * back strictly, and an operator's totals come through its hook. */
#include "common.h"

#include <sys/stat.h>
#include <unistd.h>

#include "../src/lm/memory.h"

#include "uhnas/archlang.h"
#include "uhnas/lm.h"
#include "uhnas/operator.h"

/* Two different sampled parents; n children from the classic operator at probability p. */
static void classic_children(double p, int n, uh_child_t *out) {
    uh_backend_t *b = load_backend("mzi-realistic");
    uh_space_t space;
    uh_error_t err = {0};
    if (uh_space_init(&space, b, TINY, &err)) fail_msg("%s", err.msg);
    uh_rng_t rng;
    uh_rng_seed(&rng, 11);
    uh_candidate_t rows[2];
    memset(rows, 0, sizeof rows);
    for (int i = 0; i < 2; i++) {
        uh_arch_t a;
        if (uh_space_sample(&space, &rng, &a, &err)) fail_msg("%s", err.msg);
        assert_true(uh_arch_canonical(&a, rows[i].arch, sizeof rows[i].arch) > 0);
        rows[i].id = i + 1;
    }
    const uh_candidate_t *parents[2] = {&rows[0], &rows[1]};
    uh_propose_t in = {.n = n,
                       .space = &space,
                       .parents = parents,
                       .n_parents = 2,
                       .crossover_prob = p,
                       .variant = -1,
                       .temperature = NAN,
                       .rng = &rng};
    assert_int_equal(uh_operator_classic.propose(uh_operator_classic.ctx, &in, out, &err), UH_OK);
    uh_backend_free(b);
}

static void test_classic_reads_crossover_from_the_request(void **state) {
    (void)state;
    uh_child_t c[6];
    classic_children(1.0, 6, c);
    for (int i = 0; i < 6; i++) {
        assert_string_equal(c[i].origin, "crossover");
        assert_int_equal(c[i].n_parents, 2);
    }
    classic_children(0.0, 6, c);
    for (int i = 0; i < 6; i++) {
        assert_string_equal(c[i].origin, "mutate");
        assert_int_equal(c[i].n_parents, 1);
    }
}

/* An operator that records what the loop asked, then makes classic children. */
typedef struct {
    double crossover_prob;
    int calls;
} spy_t;

static int spy_propose(void *ctx, const uh_propose_t *in, uh_child_t *out, uh_error_t *err) {
    spy_t *s = ctx;
    s->crossover_prob = in->crossover_prob;
    s->calls++;
    return uh_operator_classic.propose(NULL, in, out, err);
}

static void test_the_loop_passes_the_configs_crossover(void **state) {
    (void)state;
    uh_search_config_t cfg;
    small_config(&cfg, UH_STRATEGY_NSGA2, 3, 2, 1);
    cfg.crossover_prob = 0.25;
    uh_store_t *store = create_run("spy", &cfg, "mzi-realistic");
    spy_t spy = {0};
    uh_operator_t op = {"spy", spy_propose, NULL, NULL, 0, &spy};
    uh_search_opts_t opts = {.op = &op, .jobs = 1};
    uh_error_t err = {0};
    if (uh_search_run(store, &opts, NULL, &err)) fail_msg("%s", err.msg);
    assert_int_equal(spy.calls, 1);
    assert_true(spy.crossover_prob == 0.25);
    uh_store_close(store);
}

static void test_model_strategies_refuse_the_classic_operator(void **state) {
    (void)state;
    assert_false(uh_strategy_needs_model(UH_STRATEGY_NSGA2));
    assert_false(uh_strategy_needs_model(UH_STRATEGY_LINAS));
    assert_true(uh_strategy_needs_model(UH_STRATEGY_LLM));
    assert_true(uh_strategy_needs_model(UH_STRATEGY_LLMATIC));
    uh_search_config_t cfg;
    small_config(&cfg, UH_STRATEGY_LLM, 3, 2, 1);
    uh_store_t *store = create_run("no-model", &cfg, "mzi-realistic");
    uh_error_t err = {0};
    assert_int_equal(uh_search_run(store, NULL, NULL, &err), UH_EINVAL);
    assert_non_null(strstr(err.msg, "needs a language-model operator"));
    uh_store_close(store);
}

/* Each of values (NULL-ended) for the built-in model's optional key is refused. */
static void refused_values(const char *key, const char *const *values) {
    for (; *values; values++) {
        char text[256];
        uh_lm_config_t back;
        uh_error_t err = {0};
        snprintf(text, sizeof text,
                 "{\"builtin\":{\"hardware_tokens\":true,\"prior\":[],\"layers\":4,\"heads\":4,"
                 "\"width\":128,\"context\":256,\"train_steps\":40,\"%s\":%s}}",
                 key, *values);
        assert_int_equal(uh_lm_config_parse(text, &back, &err), UH_EINVAL);
    }
}

/* c is written with its JSON ending in tail (an optional key written only when set, last) and
 * read back as itself. */
static void stored_as(const uh_lm_config_t *c, const char *tail) {
    char *json = uh_lm_config_json(c);
    assert_non_null(json);
    const char *end = strstr(json, tail);
    assert_non_null(end);
    assert_string_equal(end, tail);
    uh_lm_config_t back;
    uh_error_t err = {0};
    assert_int_equal(uh_lm_config_parse(json, &back, &err), UH_OK);
    assert_memory_equal(c, &back, sizeof *c);
    free(json);
}

static void test_builtin_config_round_trip_and_strictness(void **state) {
    (void)state;
    uh_lm_config_t c, back;
    uh_lm_config_default(&c);
    c.layers = 2, c.width = 32, c.hardware_tokens = 0;
    c.n_prior = 2;
    strcpy(c.prior[0], "runs/a");
    strcpy(c.prior[1], "runs/b");
    char *json = uh_lm_config_json(&c);
    assert_non_null(json);
    assert_string_equal(json, "{\"builtin\":{\"hardware_tokens\":false,\"prior\":[\"runs/a\","
                              "\"runs/b\"],\"layers\":2,\"heads\":4,\"width\":32,\"context\":256,"
                              "\"train_steps\":40}}");
    uh_error_t err = {0};
    assert_int_equal(uh_lm_config_parse(json, &back, &err), UH_OK);
    assert_memory_equal(&c, &back, sizeof c);
    free(json);
    /* another operator's settings: not found, so the opener tries the next kind */
    assert_int_equal(uh_lm_config_parse("{\"llm\":{}}", &back, &err), UH_ENOTFOUND);
    static const char *const bad[] = {
        "{\"builtin\":{}}",
        "{\"builtin\":{\"hardware_tokens\":1,\"prior\":[],\"layers\":4,\"heads\":4,"
        "\"width\":128,\"context\":256,\"train_steps\":40}}",
        "{\"builtin\":{\"hardware_tokens\":true,\"prior\":[],\"layers\":4.5,\"heads\":4,"
        "\"width\":128,\"context\":256,\"train_steps\":40}}",
        "{\"builtin\":{\"hardware_tokens\":true,\"prior\":[3],\"layers\":4,\"heads\":4,"
        "\"width\":128,\"context\":256,\"train_steps\":40}}",
        "{\"builtin\":{\"hardware_tokens\":true,\"prior\":[],\"layers\":4,\"heads\":4,"
        "\"width\":128,\"context\":256,\"train_steps\":40,\"extra\":1}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(uh_lm_config_parse(bad[i], &back, &err), UH_EINVAL);
    /* the targets rule: written only when not the first (runs stored before read as it) */
    c.targets = UH_LM_TARGETS_FRONT;
    stored_as(&c, ",\"targets\":\"front\"}}");
    refused_values("targets", (const char *const[]){"\"sideways\"", NULL});
    /* the share of classic children: written only when some are, a share in [0, 1] */
    c.targets = UH_LM_TARGETS_CHEAPER, c.classic = 0.5;
    stored_as(&c, ",\"train_steps\":40,\"classic\":0.5}}");
    refused_values("classic", (const char *const[]){"1.5", "-0.1", "\"half\"", "true", NULL});
    /* two parents: written only when not one, 1 or 2 */
    c.classic = 0, c.parents = 2;
    stored_as(&c, ",\"train_steps\":40,\"parents\":2}}");
    refused_values("parents", (const char *const[]){"0", "3", "1.5", "\"two\"", NULL});
    /* edits: written only when not in full, one of the two names */
    c.parents = 1, c.language = UH_LANG_EDITS;
    stored_as(&c, ",\"train_steps\":40,\"language\":\"edits\"}}");
    refused_values("language", (const char *const[]){"\"diff\"", "1", "\"EDITS\"", NULL});
}

/* Which children of a call are classic for a share: those where the running share crosses a
 * whole number, so that any n children hold the share's count of them, rounded down. */
static void test_builtin_classic_children(void **state) {
    (void)state;
    static const struct {
        double share;
        const char *want; /* children 0..9: 1 classic, 0 the model's */
    } cases[] = {
        {0, "0000000000"},   {0.5, "0101010101"},  {1, "1111111111"},
        {0.3, "0001001001"}, {0.25, "0001000100"}, {0.1, "0000000001"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char got[11] = {0};
        for (int child = 0; child < 10; child++)
            got[child] = uh_lm_classic_child(cases[i].share, child) ? '1' : '0';
        assert_string_equal(got, cases[i].want);
    }
}

/* What a child asks for: cheaper, every child the parent's accuracy (+0.02 noisy) one energy
 * decile lower; front, that for even children and one accuracy decile better at one energy
 * decile more for odd ones, within [0, 1]. */
static void test_builtin_child_targets(void **state) {
    (void)state;
    static const struct {
        uh_lm_targets_t rule;
        double acc, noisy, energy01;
        int child;
        const char *want;
    } cases[] = {
        {UH_LM_TARGETS_CHEAPER, 0.85, 0.80, 0.55, 0, "ACC8 NOISY8 E4"},
        {UH_LM_TARGETS_CHEAPER, 0.85, 0.80, 0.55, 1, "ACC8 NOISY8 E4"},
        {UH_LM_TARGETS_FRONT, 0.55, 0.62, 0.55, 0, "ACC5 NOISY6 E4"},
        {UH_LM_TARGETS_FRONT, 0.55, 0.62, 0.55, 1, "ACC6 NOISY7 E6"},
        {UH_LM_TARGETS_FRONT, 0.95, 0.97, 0.05, 2, "ACC9 NOISY9 E0"},
        {UH_LM_TARGETS_FRONT, 0.95, 0.97, 0.95, 3, "ACC9 NOISY9 E9"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int tgt[3];
        uh_lm_child_targets(cases[i].rule, cases[i].acc, cases[i].noisy, cases[i].energy01,
                            cases[i].child, tgt);
        char names[3][16], got[64];
        for (int k = 0; k < 3; k++) uh_lang_token_name(tgt[k], names[k], sizeof names[k]);
        snprintf(got, sizeof got, "%s %s %s", names[0], names[1], names[2]);
        assert_string_equal(got, cases[i].want);
    }
    /* and which way a child must go by its exact energy: front only, by the child's parity */
    assert_true(uh_lm_goes_the_way(UH_LM_TARGETS_CHEAPER, 0, 100, 500));
    assert_true(uh_lm_goes_the_way(UH_LM_TARGETS_CHEAPER, 1, 100, 50));
    assert_true(uh_lm_goes_the_way(UH_LM_TARGETS_FRONT, 0, 100, 50));
    assert_false(uh_lm_goes_the_way(UH_LM_TARGETS_FRONT, 0, 100, 100));
    assert_false(uh_lm_goes_the_way(UH_LM_TARGETS_FRONT, 2, 100, 500));
    assert_true(uh_lm_goes_the_way(UH_LM_TARGETS_FRONT, 1, 100, 500));
    assert_false(uh_lm_goes_the_way(UH_LM_TARGETS_FRONT, 3, 100, 50));
}

static void test_open_by_config_and_totals(void **state) {
    (void)state;
    uh_backend_t *b = load_backend("mzi-realistic");
    uh_search_config_t cfg;
    small_config(&cfg, UH_STRATEGY_NSGA2, 3, 2, 1);
    uh_run_operator_t *op;
    uh_error_t err = {0};
    assert_int_equal(uh_operator_open(&cfg, NULL, b, tmp_dir(), &op, &err), UH_OK);
    assert_null(uh_operator_of(op)); /* the classic operator */
    uh_operator_close(op);

    small_config(&cfg, UH_STRATEGY_LLM, 3, 2, 1);
    uh_lm_config_t c;
    uh_lm_config_default(&c);
    char *json = uh_lm_config_json(&c);
    snprintf(cfg.operator_config, sizeof cfg.operator_config, "%s", json);
    free(json);
    if (uh_operator_open(&cfg, NULL, b, NULL, &op, &err)) fail_msg("%s", err.msg);
    const uh_operator_t *o = uh_operator_of(op);
    assert_non_null(o);
    assert_string_equal(o->name, "llm-builtin");
    assert_non_null(o->totals);
    uh_operator_totals_t t;
    assert_int_equal(o->totals(o->ctx, &t, &err), UH_OK);
    assert_int_equal(t.calls, 0);
    assert_int_equal(t.fallback, 0);
    assert_non_null(strstr(t.json, "\"calls\":0"));
    free(t.json);
    uh_operator_close(op);

    /* a damaged setting is an error, not another kind of operator */
    snprintf(cfg.operator_config, sizeof cfg.operator_config, "{\"builtin\":{\"layers\":1}}");
    assert_int_equal(uh_operator_open(&cfg, NULL, b, NULL, &op, &err), UH_EINVAL);
    assert_null(op);
    uh_backend_free(b);
}

/* A record that cannot be written (a full disk: /dev/full) fails with the file and the
 * reason, and leaves the records before it. */
static void test_builtin_record_on_a_full_disk(void **state) {
    (void)state;
    char dir[256], lm[300], calls[320];
    tmp_pathf(dir, sizeof dir, "full-calls");
    snprintf(lm, sizeof lm, "%s/" LM_DIR, dir);
    snprintf(calls, sizeof calls, "%s/" LM_CALLS_FILE, lm);
    mkdir(dir, 0700);
    mkdir(lm, 0700);
    unlink(calls);
    if (symlink("/dev/full", calls)) skip();
    lm_record_t r = {.generation = 1, .n = 0};
    uh_error_t err = {0};
    assert_int_equal(lm_record_append(dir, 0, &r, &err), UH_EIO);
    assert_non_null(strstr(err.msg, calls));
    assert_non_null(strstr(err.msg, "No space left on device"));
    unlink(calls);
}

static void test_energy_scale(void **state) {
    (void)state;
    assert_true(fabs(uh_search_energy_scaled(2.0, 100.0)) < 1e-12);
    assert_true(fabs(uh_search_energy_scaled(2.0, 1e6) - 1.0) < 1e-12);
    double zero[3] = {2.0, NAN, NAN};
    assert_true(uh_search_goal_value(UH_GOAL_ENERGY, UH_OBJECTIVE_NOISY, zero, 0.5, 0.5, 1e4, NAN,
                                     NAN) == uh_search_energy_scaled(2.0, 1e4));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classic_reads_crossover_from_the_request),
        cmocka_unit_test(test_the_loop_passes_the_configs_crossover),
        cmocka_unit_test(test_model_strategies_refuse_the_classic_operator),
        cmocka_unit_test(test_builtin_config_round_trip_and_strictness),
        cmocka_unit_test(test_builtin_child_targets),
        cmocka_unit_test(test_builtin_classic_children),
        cmocka_unit_test(test_open_by_config_and_totals),
        cmocka_unit_test(test_builtin_record_on_a_full_disk),
        cmocka_unit_test(test_energy_scale),
    };
    return cmocka_run_group_tests(tests, tmp_setup, tmp_teardown);
}
