/* Reports from real run stores written by hand (so every number is known): the plots hold
 * one mark per candidate with the front marked, hostile text is escaped, language-model
 * statistics are summed, and compare refuses runs it cannot compare fairly. */
#include "common.h"

#include <unistd.h>

#include "uhnas/pareto.h"
#include "uhnas/report.h"
#include "uhnas/search.h"

/* Six candidates: (noisy accuracy, energy / scale) = (0.5, 1) (0.7, 10) (0.9, 100) on the
 * front, (0.4, 5) (0.6, 50) dominated, and one failed, scale = 10^(4 hv0) nJ (so that runs of
 * different hv0 differ when re-scored). Generations 0..2 stored with hypervolumes hv0 + g/10,
 * which reports do not show: they re-score the rows. origin of candidate 4 and the
 * heuristics carry hostile text. */
static void make_run(const char *name, const char *backend, uh_strategy_t strategy, uint64_t seed,
                     int population, double hv0) {
    uh_search_config_t cfg;
    uh_search_config_default(&cfg);
    cfg.strategy = strategy;
    cfg.seed = seed;
    cfg.population = population;
    cfg.children = 2;
    cfg.generations = 2;
    snprintf(cfg.dataset, sizeof cfg.dataset, "tiny");
    uh_store_t *s = create_run(name, &cfg, backend);
    uh_error_t err = {0};
    const double acc[] = {0.5, 0.7, 0.9, 0.4, 0.6, NAN}, nj[] = {1, 10, 100, 5, 50, NAN};
    for (int i = 0; i < 6; i++) {
        uh_candidate_t c;
        memset(&c, 0, sizeof c);
        c.generation = i / 2;
        snprintf(c.origin, sizeof c.origin, "%s", i == 3 ? "<script>alert(1)</script>" : "mutate");
        snprintf(c.arch, sizeof c.arch,
                 "{\"layers\":[{\"type\":\"dense\",\"units\":%d,\"activation\":\"relu\"},"
                 "{\"type\":\"dense\",\"units\":4}]}",
                 8 + i);
        snprintf(c.hash, sizeof c.hash, "%016x", 0xabc0 + i);
        c.status = i == 5 ? UH_CAND_FAILED : UH_CAND_OK;
        c.accuracy = isnan(acc[i]) ? NAN : acc[i] + 0.02;
        c.noisy_accuracy = acc[i];
        c.noisy_accuracy_std = 0.01;
        c.energy_nj = nj[i] * pow(10, 4 * hv0);
        c.params = 100 * (i + 1);
        c.macs = 90 * (i + 1);
        if (uh_store_add_candidate(s, &c, NULL, &err)) fail_msg("%s", err.msg);
        if (i < 3) {
            uh_test_result_t t = {acc[i] - 0.01, acc[i] - 0.02, 0.01, 5};
            if (uh_store_put_test_result(s, c.hash, &t, &err)) fail_msg("%s", err.msg);
        }
    }
    for (int g = 0; g <= 2; g++) {
        uh_gen_metrics_t m = {hv0 + g / 10.0, 1.0 + g, 3};
        const char *state =
            g == 0 ? "{\"population\":[1,2]}"
                   : "{\"population\":[1,2],\"operator\":{\"llm\":{\"calls\":2,\"valid\":1,"
                     "\"repaired\":1,\"fallback\":1,\"duplicate\":0,\"invalid\":1,\"failed\":0,"
                     "\"prompt_tokens\":1000,\"completion_tokens\":100},\"heuristics\":["
                     "\"<img src=x onerror=alert(2)>\",\"prefer abs\"]}}";
        if (uh_store_put_generation(s, g, state, &m, &err)) fail_msg("%s", err.msg);
    }
    uh_store_close(s);
}

static uh_run_data_t *load(const char *name) {
    char dir[256];
    tmp_pathf(dir, sizeof dir, "%s", name);
    uh_run_data_t *r;
    uh_error_t err = {0};
    if (uh_run_load(dir, &r, &err)) fail_msg("%s", err.msg);
    return r;
}

static int count(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

/* The text of the <svg> with data-plot="kind". */
static char *plot(const char *html, const char *kind) {
    char key[64];
    snprintf(key, sizeof key, "data-plot=\"%s\"", kind);
    const char *a = strstr(html, key);
    assert_non_null(a);
    const char *b = strstr(a, "</svg>");
    assert_non_null(b);
    return strndup(a, (size_t)(b - a));
}

static void test_run_report(void **state) {
    (void)state;
    make_run("one", "mzi-realistic", UH_STRATEGY_LLM, 1, 4, 0.5);
    uh_run_data_t *r = load("one");
    assert_int_equal(r->n_rows, 6);
    assert_int_equal(r->on_front[0] + r->on_front[1] + r->on_front[2], 3);
    assert_int_equal(r->on_front[3] + r->on_front[4] + r->on_front[5], 0);
    assert_int_equal(r->n_gens, 3);
    char *html;
    uh_error_t err = {0};
    assert_int_equal(uh_report_run(r, &html, &err), UH_OK);
    char *front = plot(html, "front");
    assert_int_equal(count(front, "class=\"pt front\""), 3);
    assert_int_equal(count(front, "class=\"pt dominated\""), 2); /* the failed one is absent */
    free(front);
    char *rob = plot(html, "robustness");
    assert_int_equal(count(rob, "class=\"pt "), 5);
    assert_non_null(strstr(rob, "Spearman ρ = 1.000")); /* clean = noisy + 0.02: same order */
    free(rob);
    char *hv = plot(html, "hypervolume");
    assert_int_equal(count(hv, "class=\"pt gen\""), 3);
    free(hv);
    assert_non_null(strstr(html, "data-plot=\"diversity\""));
    /* hostile text is shown, never run */
    assert_null(strstr(html, "<script"));
    assert_null(strstr(html, "<img"));
    assert_non_null(strstr(html, "&lt;img src=x onerror=alert(2)&gt;"));
    /* the language-model table sums the generations: 2 × 2 calls, 2 × 1000 prompt tokens */
    assert_non_null(strstr(html, "<th>total</th><th>4</th><th>0</th><th>2</th><th>2</th>"));
    assert_non_null(strstr(html, "<th>2000</th><th>200</th>"));
    /* the front table, by energy, with test accuracies */
    assert_non_null(strstr(html, "<td>0.8900</td><td>0.8800</td>"));
    free(html);
    uh_run_free(r);
}

/* The deployment view: one row per front network with its energy bar (the layers' shares
 * add up to the whole) and export command; the knee suggested; --min-accuracy leaves out the
 * networks below it, and the knee is then taken among the others. Front (noisy accuracy,
 * energy): (0.5, 1) (0.85, 10) (0.9, 100) (0.92, 1000): the knee is the second. */
static void test_deployment_view(void **state) {
    (void)state;
    uh_search_config_t cfg;
    uh_search_config_default(&cfg);
    snprintf(cfg.dataset, sizeof cfg.dataset, "tiny");
    uh_store_t *s = create_run("deploy", &cfg, "mzi-realistic");
    uh_error_t err = {0};
    const double acc[] = {0.5, 0.85, 0.9, 0.92}, nj[] = {1, 10, 100, 1000};
    for (int i = 0; i < 4; i++) {
        uh_candidate_t c;
        memset(&c, 0, sizeof c);
        snprintf(c.origin, sizeof c.origin, "sample");
        snprintf(c.arch, sizeof c.arch,
                 "{\"layers\":[{\"type\":\"dense\",\"units\":%d,\"activation\":\"relu\"},"
                 "{\"type\":\"dense\",\"units\":4}]}",
                 8 << i);
        snprintf(c.hash, sizeof c.hash, "%016x", 0xde0 + i);
        c.status = UH_CAND_OK;
        c.accuracy = acc[i] + 0.01;
        c.noisy_accuracy = acc[i];
        c.energy_nj = nj[i];
        c.latency_ns = 100 * (i + 1);
        c.area_mm2 = i + 1;
        if (uh_store_add_candidate(s, &c, NULL, &err)) fail_msg("%s", err.msg);
    }
    uh_store_close(s);
    uh_run_data_t *r = load("deploy");
    char *html;
    assert_int_equal(uh_report_run(r, &html, &err), UH_OK);
    const char *view = strstr(html, "<h2>Deploying a network</h2>");
    assert_non_null(view);
    assert_int_equal(count(view, "<div class=\"bar\">"), 4);
    assert_int_equal(count(view, "<svg class=\"arch\""), 4); /* a diagram per network */
    assert_int_equal(count(view, "<rect x="), 4 * 2);        /* two layers each */
    assert_int_equal(count(view, "--candidate "), 8);        /* the network, and the chip's file */
    assert_int_equal(count(view, "--format mzi-phases --out chip-"), 4);
    assert_non_null(strstr(view, "Suggested: <b>#2</b>"));
    assert_int_equal(count(view, "<tr class=\"knee\"><td>2</td>"), 1);
    /* each bar's segments add up to 100 % */
    for (const char *bar = strstr(view, "<div class=\"bar\">"); bar;
         bar = strstr(bar + 1, "<div class=\"bar\">")) {
        double sum = 0;
        const char *end = strstr(bar, "</div>");
        for (const char *w = strstr(bar, "width:"); w && w < end; w = strstr(w + 1, "width:"))
            sum += strtod(w + 6, NULL);
        assert_true(fabs(sum - 100) < 0.05);
    }
    free(html);
    r->min_accuracy = 0.88; /* two left: too few for a knee */
    assert_int_equal(uh_report_run(r, &html, &err), UH_OK);
    view = strstr(html, "<h2>Deploying a network</h2>");
    assert_int_equal(count(view, "--candidate "), 4);
    assert_non_null(strstr(view, "2 of 4 shown"));
    assert_null(strstr(view, "Suggested"));
    free(html);
    uh_run_free(r);
}

static void test_compare(void **state) {
    (void)state;
    make_run("s-nsga2-1", "mzi-realistic", UH_STRATEGY_NSGA2, 1, 4, 0.50);
    make_run("s-nsga2-2", "mzi-realistic", UH_STRATEGY_NSGA2, 2, 4, 0.60);
    make_run("s-random-1", "mzi-realistic", UH_STRATEGY_RANDOM, 1, 4, 0.40);
    make_run("b-worst", "mzi-worst", UH_STRATEGY_NSGA2, 1, 6, 0.30);
    make_run("s-bigger", "mzi-realistic", UH_STRATEGY_RANDOM, 3, 6, 0.40);
    uh_run_data_t *runs[5] = {load("s-nsga2-1"), load("s-nsga2-2"), load("s-random-1"),
                              load("b-worst"), load("s-bigger")};
    char *html;
    uh_error_t err = {0};
    /* strategies on one backend: hypervolume against evaluations, mean and bootstrap
     * interval per strategy, Mann-Whitney against random and nsga2, as HTML and CSV */
    const uh_run_data_t *three[3] = {runs[0], runs[1], runs[2]};
    char *csv, *curves;
    assert_int_equal(uh_report_compare(three, 3, NULL, &html, &csv, &curves, &err), UH_OK);
    char *hv = plot(html, "compare-hv");
    assert_int_equal(count(hv, "class=\"pt gen\""), 2); /* each strategy's end */
    free(hv);
    /* the final hypervolumes, re-scored: the curve ends where the generations do */
    double h[3];
    for (int i = 0; i < 3; i++) {
        h[i] = runs[i]->gens[2].hypervolume;
        assert_true(h[i] > 0 && h[i] < 1);
        assert_true(runs[i]->n_evals == 6); /* the hand-written rows, the failed one included */
        assert_true(runs[i]->hv_by_eval[runs[i]->n_evals] == h[i]);
        assert_true(runs[i]->hv_by_eval[0] == 0);
        for (int e = 1; e <= runs[i]->n_evals; e++) /* an archive's hypervolume only grows */
            assert_true(runs[i]->hv_by_eval[e] >= runs[i]->hv_by_eval[e - 1]);
    }
    assert_true(h[0] != h[1]);
    /* two seeds: the bootstrap's 2.5 and 97.5 % points are the two values (each resample is
     * all one of them with probability 1/4) */
    char row[160];
    snprintf(row, sizeof row, "<td>2</td><td>%.4f [%.4f, %.4f]</td>", (h[0] + h[1]) / 2,
             fmin(h[0], h[1]), fmax(h[0], h[1]));
    assert_non_null(strstr(html, row));
    snprintf(row, sizeof row, "<td>1</td><td>%.4f [%.4f, %.4f]</td>", h[2], h[2], h[2]);
    assert_non_null(strstr(html, row));
    { /* every row of the statistics table has a cell per heading */
        const char *t = strstr(html, "<table class=\"hv\">"),
                   *end = t ? strstr(t, "</table>") : NULL;
        assert_non_null(end);
        char *table = strndup(t, (size_t)(end - t));
        int heads = count(table, "<th"), cells = count(table, "<td"), rows = count(table, "<tr>");
        assert_int_equal(rows, 3);
        assert_int_equal(cells, 2 * heads);
        free(table);
    }
    double p = uh_mann_whitney_p(h, 2, h + 2, 1, NULL);
    snprintf(row, sizeof row, "\nnsga2,2,2,6,%.6g,nan,%.6g,", p, (h[0] + h[1]) / 2);
    assert_non_null(strstr(csv, row));
    snprintf(row, sizeof row, "\nrandom,1,1,6,nan,%.6g,%.6g,", p, h[2]);
    assert_non_null(strstr(csv, row));
    assert_non_null(
        strstr(csv, "strategy,runs,seeds,distinct_networks,p_vs_random,p_vs_nsga2,final_"));
    assert_int_equal(count(curves, "\n"), 1 + 2 * 6); /* a header, 6 evaluations each */
    snprintf(row, sizeof row, "\nrandom,6,1,%.6f,%.6f,%.6f\n", h[2], h[2], h[2]);
    assert_non_null(strstr(curves, row));
    free(csv), free(curves);
    char *fr = plot(html, "compare-front");
    assert_int_equal(count(fr, "class=\"pt front\""), 9);
    free(fr);
    free(html);
    /* backends side by side: fronts only (their budgets may differ) */
    const uh_run_data_t *two[2] = {runs[0], runs[3]};
    assert_int_equal(uh_report_compare(two, 2, NULL, &html, NULL, NULL, &err), UH_OK);
    assert_null(strstr(html, "data-plot=\"compare-hv\""));
    assert_non_null(strstr(html, "normalised per backend"));
    free(html);
    /* strategies at different budgets are refused, naming the difference */
    const uh_run_data_t *unequal[2] = {runs[0], runs[4]};
    assert_int_equal(uh_report_compare(unequal, 2, NULL, &html, NULL, NULL, &err), UH_EINVAL);
    assert_non_null(strstr(err.msg, "population 4 vs 6"));
    for (int i = 0; i < 5; i++) uh_run_free(runs[i]);
}

static void test_compare_refuses_other_data(void **state) {
    (void)state;
    make_run("d-a", "mzi-realistic", UH_STRATEGY_NSGA2, 1, 4, 0.5);
    char dir[256];
    tmp_pathf(dir, sizeof dir, "d-b");
    /* the same run on other data: edit a copy of the config through the API */
    uh_search_config_t cfg;
    uh_search_config_default(&cfg);
    cfg.population = 4, cfg.children = 2, cfg.generations = 2;
    snprintf(cfg.dataset, sizeof cfg.dataset, "fashion-mnist");
    uh_error_t err = {0};
    uh_backend_t *b;
    if (uh_backend_load("mzi-realistic", &b, &err)) fail_msg("%s", err.msg);
    char *json = uh_search_config_json(&cfg, b);
    uh_backend_free(b);
    uh_store_t *s;
    if (uh_store_create(dir, json, 0, &s, &err)) fail_msg("%s", err.msg);
    free(json);
    uh_store_close(s);
    uh_run_data_t *a = load("d-a"), *c = load("d-b");
    const uh_run_data_t *both[2] = {a, c};
    char *html;
    assert_int_equal(uh_report_compare(both, 2, NULL, &html, NULL, NULL, &err), UH_EINVAL);
    assert_non_null(strstr(err.msg, "different data (dataset tiny vs fashion-mnist)"));
    /* an empty run still reports (no points, no crash) */
    assert_int_equal(uh_report_run(c, &html, &err), UH_OK);
    char *front = plot(html, "front");
    assert_int_equal(count(front, "class=\"pt "), 0);
    free(front);
    free(html);
    uh_run_free(a);
    uh_run_free(c);
}

/* A run on tiny (4 classes: chance error 0.75) on mzi-realistic, its rows given as (clean
 * accuracy, noisy accuracy, log10 energy above the task's linear classifier's, generation),
 * all ok; each generation stored with the hypervolume 0.999, as a legacy run might have (the
 * reports re-score the rows). */
static void make_tiny_run(const char *name, uh_objective_t objective, uint64_t seed,
                          const double (*rows)[4], int n) {
    uh_search_config_t cfg;
    uh_search_config_default(&cfg);
    cfg.objective = objective;
    cfg.seed = seed;
    cfg.population = 3, cfg.children = 1, cfg.generations = 1;
    snprintf(cfg.dataset, sizeof cfg.dataset, "tiny");
    uh_backend_t *b = load_backend("mzi-realistic");
    double zero[3];
    uh_error_t err = {0};
    if (uh_search_cost_zero(b, (uh_shape_t){1, 12, 12, 4}, zero, &err)) fail_msg("%s", err.msg);
    uh_backend_free(b);
    uh_store_t *s = create_run(name, &cfg, "mzi-realistic");
    int last = 0;
    for (int i = 0; i < n; i++) {
        uh_candidate_t c;
        memset(&c, 0, sizeof c);
        c.generation = (int)rows[i][3];
        if (c.generation > last) last = c.generation;
        snprintf(c.origin, sizeof c.origin, "sample");
        snprintf(c.arch, sizeof c.arch,
                 "{\"layers\":[{\"type\":\"dense\",\"units\":%d},{\"type\":\"dense\","
                 "\"units\":4}]}",
                 8 + i);
        snprintf(c.hash, sizeof c.hash, "%016x", 0xc0 + i);
        c.status = UH_CAND_OK;
        c.accuracy = rows[i][0];
        c.noisy_accuracy = rows[i][1];
        c.energy_nj = pow(10, zero[0] + rows[i][2]);
        if (uh_store_add_candidate(s, &c, NULL, &err)) fail_msg("%s", err.msg);
    }
    for (int g = 0; g <= last; g++) {
        uh_gen_metrics_t m = {0.999, 0, 1};
        if (uh_store_put_generation(s, g, "{}", &m, &err)) fail_msg("%s", err.msg);
    }
    uh_store_close(s);
}

/* A stored run is re-scored with the "chance" rule whatever it stored: on tiny (4 classes,
 * chance error 0.75) a network at chance (noisy accuracy 0.2) that is the cheapest of all is
 * neither on the front nor worth any volume; one below the linear classifier's energy counts
 * as costing that much. By hand: A (0.9 at 10^(z+2) nJ, z = log10 E_lin): error 0.1 / 0.75,
 * energy 2/4: (1 − 0.1/0.75)(1 − 0.5); C (0.55 at 10^(z−2) nJ): error 0.45 / 0.75 = 0.6, energy
 * clipped to 0: (1 − 0.6) · 1; union: their sum less the overlap (1 − 0.6)(1 − 0.5). */
static void test_chance_rescore(void **state) {
    (void)state;
    const double rows[3][4] = {{0.9, 0.9, 2, 0}, {0.2, 0.2, -3, 0}, {0.55, 0.55, -2, 1}};
    make_tiny_run("chance", UH_OBJECTIVE_NOISY, 1, rows, 3);
    uh_run_data_t *r = load("chance");
    assert_int_equal(r->n_classes, 4);
    const double a = (1 - 0.1 / 0.75) * 0.5, c = 1 - 0.6, overlap = (1 - 0.6) * 0.5;
    assert_close(r->gens[0].hypervolume, a, 1e-12); /* the chance network adds nothing */
    assert_close(r->gens[1].hypervolume, a + c - overlap, 1e-12);
    assert_int_equal(r->on_front[0], 1);
    assert_int_equal(r->on_front[1], 0); /* cheapest of all, but at chance */
    assert_int_equal(r->on_front[2], 1);
    uh_run_free(r);
}

/* The robustness ablation, by hand (tiny: error / 0.75; energy: 4 decades above the linear
 * classifier). The clean search measured A (clean 0.9, noisy 0.6, +2 decades), B (0.8, 0.8,
 * +3) and C (0.7, 0.7, +1): on clean accuracy A and C make the front, B is dominated by A.
 * Under noise C dominates A: the front handed over is worth C's box, (1 − 0.3/0.75)(1 − 1/4)
 * = 0.45 (all its rows would be worth more: B adds (1 − 0.2/0.75 − 0.6)(1 − 3/4)). Its twin
 * on the noisy objective found D (noisy 0.8, +3) and E (0.7, +1): as much as all the clean run's
 * rows. Lost: 1 − 0.45 / that; missed: D (nothing handed over is as accurate under noise), E is
 * reached by C. A clean run of another seed has no twin. */
static void test_objective_ablation(void **state) {
    (void)state;
    const double clean[3][4] = {{0.9, 0.6, 2, 0}, {0.8, 0.8, 3, 0}, {0.7, 0.7, 1, 0}};
    const double twin[2][4] = {{0.8, 0.8, 3, 0}, {0.7, 0.7, 1, 0}};
    make_tiny_run("abl-clean", UH_OBJECTIVE_CLEAN, 7, clean, 3);
    make_tiny_run("abl-twin", UH_OBJECTIVE_NOISY, 7, twin, 2);
    make_tiny_run("abl-lone", UH_OBJECTIVE_CLEAN, 8, clean, 3);
    uh_run_data_t *c = load("abl-clean"), *t = load("abl-twin"), *lone = load("abl-lone");
    const double handed = 0.45, all_rows = 0.45 + (1 - 0.2 / 0.75 - 0.6) / 4, own = all_rows;
    const double clean_hv = (1 - 0.1 / 0.75) * 0.5 + 0.6 * 0.75 - 0.6 * 0.5;
    assert_close(c->hv_by_eval[3], clean_hv, 1e-12);
    assert_close(c->hv_deployed_by_eval[3], handed, 1e-12);
    assert_close(c->hv_deployed_by_eval[1], (1 - 0.4 / 0.75) * 0.5, 1e-12); /* A alone */
    assert_close(t->hv_deployed_by_eval[2], t->hv_by_eval[2], 0);
    assert_close(t->hv_by_eval[2], own, 1e-12);
    const uh_run_data_t *runs[3] = {c, t, lone};
    char *html, *csv, *curves;
    uh_error_t err = {0};
    assert_int_equal(uh_report_compare(runs, 3, NULL, &html, &csv, &curves, &err), UH_OK);
    char row[256];
    /* the clean group (pairs 1, lost, CI of one value, missed 1/2, p of one against one) */
    snprintf(row, sizeof row, ",clean,1,%.6g,%.6g,%.6g,0.5,0.5,0.5,1\n", 1 - handed / own,
             1 - handed / own, 1 - handed / own);
    assert_non_null(strstr(csv, row));
    snprintf(row, sizeof row, "nsga2 (clean objective),2,2,");
    assert_non_null(strstr(csv, row));
    assert_non_null(strstr(csv, ",noisy,0,nan,nan,nan,nan,nan,nan,nan\n"));
    assert_non_null(strstr(html, "Searching on clean accuracy"));
    free(html), free(csv), free(curves);
    /* one objective: no ablation, the clean runs scored on their own accuracy */
    const uh_run_data_t *alone[2] = {c, lone};
    assert_int_equal(uh_report_compare(alone, 2, NULL, &html, &csv, &curves, &err), UH_OK);
    assert_null(strstr(html, "Searching on clean accuracy"));
    snprintf(row, sizeof row, "nsga2,2,2,3,nan,nan,%.6g,", clean_hv);
    assert_non_null(strstr(csv, row));
    free(html), free(csv), free(curves);
    uh_run_free(c), uh_run_free(t), uh_run_free(lone);
}

UH_TEST_MAIN(tmp_setup, tmp_teardown, cmocka_unit_test(test_run_report),
             cmocka_unit_test(test_deployment_view), cmocka_unit_test(test_compare),
             cmocka_unit_test(test_compare_refuses_other_data),
             cmocka_unit_test(test_chance_rescore), cmocka_unit_test(test_objective_ablation))
