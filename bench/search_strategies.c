/* search_strategies — nsga2, random and linas at the same small budget and seeds on one
 * backend: final hypervolume, wall time and, for linas, predictor quality per cycle. Random
 * search is the peer the ratios are taken against.
 *
 *   search_strategies [--backend NAME] [--data NAME] [--seeds N] [--generations N] [--epochs N]
 *   (defaults: mzi-realistic, tiny, 2 seeds, 4 generations, 1 epoch; population 8, 4
 *   children, mc 2) */
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
    fprintf(stderr, "search_strategies: %s: %s\n", what, err->msg);
    return 1;
}

/* One run into dir; its hypervolume and wall time. Prints linas's predictor quality. */
static int run_one(const uh_backend_t *b, uh_search_config_t *cfg, const char *dir, double *hv,
                   double *wall) {
    uh_error_t err = {0};
    char *json = uh_search_config_json(cfg, b);
    uh_store_t *store;
    if (!json || uh_store_create(dir, json, 0, &store, &err)) return die("store", &err);
    free(json);
    uh_search_summary_t sum;
    double t0 = now();
    if (uh_search_run(store, NULL, &sum, &err)) return die("search", &err);
    *wall = now() - t0;
    *hv = sum.hypervolume;
    for (int g = 1; cfg->strategy == UH_STRATEGY_LINAS && g <= cfg->generations; g++) {
        char *state;
        if (uh_store_get_generation(store, g, &state, NULL, &err)) return die("state", &err);
        const char *q = strstr(state, "\"linas\"");
        printf("      cycle %d predictors: %s\n", g, q ? q : "(none)");
        free(state);
    }
    uh_store_close(store);
    return 0;
}

int main(int argc, char **argv) {
    const char *backend_name = "mzi-realistic", *data = "tiny";
    int seeds = 2, generations = 4, epochs = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--backend"))
            backend_name = argv[i + 1];
        else if (!strcmp(argv[i], "--data"))
            data = argv[i + 1];
        else if (!strcmp(argv[i], "--seeds"))
            seeds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--generations"))
            generations = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--epochs"))
            epochs = atoi(argv[i + 1]);
    }
    uh_error_t err = {0};
    uh_backend_t *b;
    if (uh_backend_load(backend_name, &b, &err)) return die("backend", &err);
    char root[] = "/tmp/uhnas-bench-strategies-XXXXXX";
    if (!mkdtemp(root)) return 1;
    static const uh_strategy_t order[] = {UH_STRATEGY_RANDOM, UH_STRATEGY_NSGA2, UH_STRATEGY_LINAS};
    double hv[3] = {0}, wall[3] = {0};
    printf("search_strategies: %s, data %s, population 8, 4 children, %d generations, %d "
           "epoch(s), %d seed(s)\n",
           backend_name, data, generations, epochs, seeds);
    for (int s = 0; s < 3; s++)
        for (int seed = 1; seed <= seeds; seed++) {
            uh_search_config_t cfg;
            uh_search_config_default(&cfg);
            cfg.strategy = order[s];
            cfg.population = 8;
            cfg.children = 4;
            cfg.generations = generations;
            cfg.train.epochs = epochs;
            cfg.train.batch = 32;
            cfg.mc = 2;
            cfg.seed = (uint64_t)seed;
            cfg.limit_train = 6000;
            cfg.limit_test = 2000;
            snprintf(cfg.dataset, sizeof cfg.dataset, "%s", data);
            char dir[128];
            snprintf(dir, sizeof dir, "%s/%s-%d", root, uh_strategy_name(order[s]), seed);
            double h, w;
            if (run_one(b, &cfg, dir, &h, &w)) return 1;
            printf("  %-9s seed %d: hypervolume %.4f, wall %.1f s\n", uh_strategy_name(order[s]),
                   seed, h, w);
            hv[s] += h / seeds;
            wall[s] += w / seeds;
        }
    printf("\n  strategy   mean HV   vs random   mean wall   vs random\n");
    for (int s = 0; s < 3; s++)
        printf("  %-9s  %.4f    %6.3fx    %7.1f s   %6.2fx\n", uh_strategy_name(order[s]), hv[s],
               hv[s] / hv[0], wall[s], wall[s] / wall[0]);
    uh_backend_free(b);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : 1;
}
