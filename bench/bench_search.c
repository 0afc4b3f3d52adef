/* bench_search — what the search loop costs beyond training its candidates.
 *
 * Runs a search (NSGA-II on the tiny dataset, 1 epoch per candidate) into a fresh run store,
 * then, as the peer in the same process, evaluates the very same candidates with uh_evaluate
 * alone (same data split, seeds and settings, no store, no selection, no metrics). The
 * difference is the loop's coordination: SQLite commits with fsync, weight blobs of front
 * members, selection, hypervolume and diversity per generation, the final test of the front.
 *
 *   bench_search [--backend NAME] [--generations N]   (defaults: mzi-realistic, 6) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "uhnas/search.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int die(const char *what, const uh_error_t *err) {
    fprintf(stderr, "bench_search: %s: %s\n", what, err->msg);
    return 1;
}

int main(int argc, char **argv) {
    const char *backend_name = "mzi-realistic";
    int generations = 6;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--backend"))
            backend_name = argv[i + 1];
        else if (!strcmp(argv[i], "--generations"))
            generations = atoi(argv[i + 1]);
    }
    uh_search_config_t cfg;
    uh_search_config_default(&cfg);
    cfg.population = 8;
    cfg.children = 4;
    cfg.generations = generations > 0 ? generations : 1;
    cfg.train.epochs = 1;
    cfg.train.batch = 32;
    cfg.mc = 2;
    snprintf(cfg.dataset, sizeof cfg.dataset, "tiny");

    uh_error_t err = {0};
    uh_backend_t *b;
    if (uh_backend_load(backend_name, &b, &err)) return die("backend", &err);
    char dir[] = "/tmp/uhnas-bench-search-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char run_dir[64];
    snprintf(run_dir, sizeof run_dir, "%s/run", dir);
    char *json = uh_search_config_json(&cfg, b);
    uh_store_t *store;
    if (uh_store_create(run_dir, json, 0, &store, &err)) return die("store", &err);
    free(json);

    double t0 = now();
    uh_search_summary_t sum;
    if (uh_search_run(store, NULL, NULL, NULL, NULL, &sum, &err)) return die("search", &err);
    double t_search = now() - t0;

    /* the peer: the same candidates, evaluated alone */
    uh_candidate_t *rows;
    size_t n;
    if (uh_store_candidates(store, &rows, &n, &err)) return die("rows", &err);
    uh_dataset_t *full, *test, *train, *val;
    uh_data_opts_t o = {.limit_train = cfg.limit_train, .limit_test = cfg.limit_test};
    if (uh_dataset_load(cfg.dataset, &o, &full, &test, &err) ||
        uh_dataset_split(full, cfg.val_fraction, cfg.seed ^ 2, &train, &val, &err))
        return die("data", &err);
    uh_shape_t in = {train->c, train->h, train->w, train->n_classes};
    uh_eval_config_t ec = {.train = cfg.train, .mc = cfg.mc, .noise_aware = cfg.noise_aware};
    double t_eval = 0;
    int same = 0;
    for (size_t i = 0; i < n; i++) {
        uh_arch_t a;
        if (uh_arch_parse(rows[i].arch, strlen(rows[i].arch), in, &a, &err))
            return die("arch", &err);
        uh_eval_result_t r;
        double t1 = now();
        if (uh_evaluate(b, &a, train, val, &ec, rows[i].seed, &r, NULL, NULL, &err))
            return die("evaluate", &err);
        t_eval += now() - t1;
        same += r.accuracy == rows[i].accuracy && r.noisy_accuracy == rows[i].noisy_accuracy;
    }
    double overhead = (t_search - t_eval) / (double)n;
    printf("bench_search: nsga2 on %s, tiny data, %zu candidates, 1 epoch each\n", backend_name, n);
    printf("  search (store, selection, metrics, final test) %8.3f s\n", t_search);
    printf("  the same candidates evaluated alone (peer)     %8.3f s\n", t_eval);
    printf("  loop overhead per candidate                    %8.2f ms (%.1f%% of the run)\n",
           1e3 * overhead, 100 * (t_search - t_eval) / t_search);
    printf("  peer reproduced the stored accuracies for %d of %zu candidates\n", same, n);
    printf("  hypervolume %.4f (2-D), %.4f (3-D), front %d\n", sum.hypervolume, sum.hypervolume3,
           sum.front_size);
    uh_store_free_candidates(rows);
    uh_store_close(store);
    uh_dataset_free(full);
    uh_dataset_free(test);
    uh_dataset_free(train);
    uh_dataset_free(val);
    uh_backend_free(b);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
