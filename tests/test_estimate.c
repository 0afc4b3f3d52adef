/* The pre-run cost estimate: the formula given the rates (by hand), its line, and a measured
 * estimate on the tiny data that is finite and consistent with its own formula. */
#include "common.h"

/* The paper's budget (20 + 30 x 8 candidates, 20 epochs, 48,000 training and 12,000
 * held-out images) at 1e9 MAC/s both ways, networks of 1e6 MACs, `jobs` at once. */
static void paper_budget(uh_search_config_t *cfg, uh_search_estimate_t *e, int jobs) {
    uh_search_config_default(cfg);
    cfg->pruner = UH_PRUNER_NONE; /* every candidate trains all its epochs */
    *e = (uh_search_estimate_t){.n_train = 48000,
                                .n_val = 12000,
                                .mean_macs = 1e6,
                                .train_macs_per_s = 1e9,
                                .eval_macs_per_s = 1e9};
    uh_search_estimate_compute(cfg, jobs, e);
}

static void test_formula(void **state) {
    (void)state;
    uh_search_config_t cfg;
    uh_search_estimate_t e;
    paper_budget(&cfg, &e, 2);
    assert_int_equal(e.candidates, 260);
    assert_int_equal(e.parallel, 2);
    /* 1e6 x (20 x 48000 + 12000) / 1e9 = 960 + 12 s */
    assert_close(e.candidate_s, 972, 1e-9);
    assert_close(e.cpu_s, 260 * 972.0, 1e-6);
    assert_close(e.wall_s, (20 / 2 + 30 * 8 / 2) * 972.0, 1e-6); /* 130 waves of 2 */
    /* more jobs than children: a generation is one wave; the population is one too */
    uh_search_estimate_compute(&cfg, 64, &e);
    assert_int_equal(e.parallel, 20);
    assert_close(e.wall_s, (1 + 30) * 972.0, 1e-6);
    /* asynchronous: no generation holds a worker back, 260 candidates over 64 workers */
    cfg.async = 1;
    uh_search_estimate_compute(&cfg, 64, &e);
    assert_int_equal(e.parallel, 64);
    assert_close(e.wall_s, 260 / 64.0 * 972.0, 1e-6);
    cfg.async = 0;
    /* half the training rate doubles the training part only */
    e.train_macs_per_s = 5e8;
    uh_search_estimate_compute(&cfg, 1, &e);
    assert_close(e.candidate_s, 2 * 960 + 12, 1e-9);
    assert_close(e.wall_s, e.cpu_s, 1e-6);
    /* the pruner as stored before rung_rounding and rung_mc: rungs at 2, 6 and 20 epochs, a
     * third going on at each: (2 + 4/3 + 14/9) of 20 epochs = 0.2444, and 1 + 1/3 + 1/9
     * held-out passes */
    paper_budget(&cfg, &e, 1);
    cfg.pruner = UH_PRUNER_ASHA;
    cfg.rung_rounding = UH_RUNGS_DOWN;
    cfg.rung_mc = 0;
    uh_search_estimate_compute(&cfg, 1, &e);
    assert_close(e.epoch_share, (2 + 4 / 3.0 + 14 / 9.0) / 20, 1e-12);
    assert_close(e.eval_share, 13 / 9.0, 1e-12);
    assert_close(e.candidate_s, 960 * e.epoch_share + 12 * 13 / 9.0, 1e-9);
    char line[512];
    uh_search_estimate_format(&e, line, sizeof line);
    assert_contains(line, "the pruner's target: ~0.24 of the epochs");
    /* today's default: rungs at 20/27, 20/9, 20/3 and 20 rounded (1, 2, 7, 20): (1 + 1/3 +
     * 5/9 + 13/27) of 20 epochs = 0.1185; below the last rung a clean pass and 1 of the 5
     * hardware samples, 2/6 of a full measurement: (1 + 1/3 + 1/9) · 2/6 + 1/27 = 14/27 */
    uh_search_config_t def;
    uh_search_config_default(&def);
    cfg.rung_rounding = def.rung_rounding;
    cfg.rung_mc = def.rung_mc;
    uh_search_estimate_compute(&cfg, 1, &e);
    assert_close(e.epoch_share, (1 + 1 / 3.0 + 5 / 9.0 + 13 / 27.0) / 20, 1e-12);
    assert_close(e.eval_share, 14 / 27.0, 1e-12);
    int rungs[UH_PRUNER_MAX_RUNGS];
    assert_int_equal(uh_pruner_rungs(&cfg, rungs), 4);
    assert_int_equal(((rungs[0] * 10 + rungs[1]) * 10 + rungs[2]) * 100 + rungs[3], 12720);
    cfg.train.epochs = 9; /* 9/27 rounds to 0: 1, 3, 9 as rounded down */
    assert_int_equal(uh_pruner_rungs(&cfg, rungs), 3);
    assert_int_equal((rungs[0] * 10 + rungs[1]) * 10 + rungs[2], 139);
    cfg.train.epochs = 3;
    cfg.rung_rounding = UH_RUNGS_DOWN; /* 1 and 3: epochs/9 is under one */
    assert_int_equal(uh_pruner_rungs(&cfg, rungs), 2);
    assert_int_equal(rungs[0] * 10 + rungs[1], 13);
    cfg.train.epochs = 10000; /* at most UH_PRUNER_MAX_RUNGS: 10000/3^7 = 4.6 → 5 first */
    cfg.rung_rounding = UH_RUNGS_NEAREST;
    assert_int_equal(uh_pruner_rungs(&cfg, rungs), UH_PRUNER_MAX_RUNGS);
    assert_int_equal(rungs[0], 5);
    assert_int_equal(rungs[UH_PRUNER_MAX_RUNGS - 1], 10000);
    /* the rungs' hardware samples: rung_mc below the last (never above mc), mc at it */
    cfg.mc = 5, cfg.rung_mc = 1;
    assert_int_equal(uh_pruner_rung_mc(&cfg, 0, 4), 1);
    assert_int_equal(uh_pruner_rung_mc(&cfg, 3, 4), 5);
    cfg.rung_mc = 9;
    assert_int_equal(uh_pruner_rung_mc(&cfg, 0, 4), 5);
    cfg.rung_mc = 0;
    assert_int_equal(uh_pruner_rung_mc(&cfg, 0, 4), 5);
}

static void test_line(void **state) {
    (void)state;
    uh_search_config_t cfg;
    uh_search_estimate_t e;
    paper_budget(&cfg, &e, 2);
    char line[512];
    uh_search_estimate_format(&e, line, sizeof line);
    /* 972 s = 16 min per candidate; 70.2 h on one core, 35.1 h on two */
    assert_contains(line, "estimate: ~260 candidates x ~16 min = ~70 h on one core",
                    "~35 h with 2 at once", "mean 1e+06 MACs");
}

static void test_measured(void **state) {
    (void)state;
    uh_search_config_t cfg;
    small_config(&cfg, UH_STRATEGY_NSGA2, 4, 2, 1);
    uh_backend_t *b = load_backend("mzi-realistic");
    uh_search_estimate_t e;
    uh_error_t err = {0};
    assert_int_equal(uh_search_estimate(&cfg, b, 1, &e, &err), UH_OK);
    assert_true(e.n_train > 0 && e.n_val > 0);
    assert_true(e.mean_macs > 0 && isfinite(e.train_macs_per_s) && e.train_macs_per_s > 0);
    assert_true(isfinite(e.eval_macs_per_s) && e.eval_macs_per_s > 0);
    assert_int_equal(e.candidates, 6);
    uh_search_estimate_t again = e;
    uh_search_estimate_compute(&cfg, 1, &again);
    assert_close(again.wall_s, e.wall_s, 0);
    uh_backend_free(b);
}

UH_TEST_MAIN(NULL, NULL, cmocka_unit_test(test_formula), cmocka_unit_test(test_line),
             cmocka_unit_test(test_measured))
