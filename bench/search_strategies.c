/* search_strategies — random, nsga2, llm (the built-in model), evolution and linas at the
 * same small budget and seeds on one backend: final hypervolume (mean ± std over seeds),
 * wall time, linas's predictor quality and the built-in model's training and sampling
 * speed per generation. Random search is the peer the ratios are taken against.
 *
 *   search_strategies [--backend NAME] [--data NAME] [--seeds N] [--generations N]
 *                     [--epochs N] [--jobs N] [--strategies NAME,NAME...]
 *   (defaults: mzi-realistic, tiny, 3 seeds, 4 generations, 1 epoch, jobs 0 = one per core,
 *   all five strategies (random is always run: it is the peer); population 8, 4 children,
 *   mc 2, 6000 training samples) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "uhnas/lm.h"
#include "uhnas/operator.h"
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
static int run_one(const uh_backend_t *b, uh_search_config_t *cfg, int jobs, const char *dir,
                   double *hv, double *wall) {
    uh_error_t err = {0};
    char *json = uh_search_config_json(cfg, b);
    uh_store_t *store;
    if (!json || uh_store_create(dir, json, 0, &store, &err)) return die("store", &err);
    free(json);
    uh_search_summary_t sum;
    double t0 = now();
    uh_search_opts_t opts = {.jobs = jobs};
    /* strategy llm here: the built-in model (its config is the run's), no server; its
     * checkpoints and records are written as in a real run */
    uh_run_operator_t *op;
    if (uh_operator_open(cfg, NULL, b, dir, &op, &err)) return die("operator", &err);
    opts.op = uh_operator_of(op);
    int rc = uh_search_run(store, &opts, &sum, &err);
    uh_operator_close(op);
    if (rc) return die("search", &err);
    *wall = now() - t0;
    *hv = sum.hypervolume;
    /* linas's predictor quality, the built-in model's training and sampling speed */
    const char *key = cfg->strategy == UH_STRATEGY_LINAS ? "\"linas\""
                      : cfg->strategy == UH_STRATEGY_LLM ? "\"llm_builtin\""
                                                         : NULL;
    for (int g = 1; key && g <= cfg->generations; g++) {
        char *state;
        if (uh_store_get_generation(store, g, &state, NULL, &err)) return die("state", &err);
        const char *q = strstr(state, key);
        printf("      generation %d: %s\n", g, q ? q : "(none)");
        free(state);
    }
    uh_store_close(store);
    return 0;
}

int main(int argc, char **argv) {
    const char *backend_name = "mzi-realistic", *data = "tiny";
    const char *only = NULL;
    int seeds = 3, generations = 4, epochs = 1, jobs = 0;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h") || (argc - 1) % 2 != 0) {
            printf("usage: search_strategies [--backend NAME] [--data NAME] [--seeds N] "
                   "[--generations N] [--epochs N] [--jobs N] [--strategies NAME,NAME...]\n");
            return 0;
        }
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--strategies"))
            only = argv[i + 1];
        else if (!strcmp(argv[i], "--backend"))
            backend_name = argv[i + 1];
        else if (!strcmp(argv[i], "--data"))
            data = argv[i + 1];
        else if (!strcmp(argv[i], "--seeds"))
            seeds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--generations"))
            generations = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--epochs"))
            epochs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--jobs"))
            jobs = atoi(argv[i + 1]);
    }
    if (seeds < 1 || seeds > 100) seeds = 3;
    uh_error_t err = {0};
    uh_backend_t *b;
    if (uh_backend_load(backend_name, &b, &err)) return die("backend", &err);
    char root[] = "/tmp/uhnas-bench-strategies-XXXXXX";
    if (!mkdtemp(root)) return 1;
    enum { N_STRATEGIES = 5 };
    static const uh_strategy_t order[N_STRATEGIES] = {UH_STRATEGY_RANDOM, UH_STRATEGY_NSGA2,
                                                      UH_STRATEGY_LLM, UH_STRATEGY_EVOLUTION,
                                                      UH_STRATEGY_LINAS};
    double hv[N_STRATEGIES] = {0}, hv_sq[N_STRATEGIES] = {0}, wall[N_STRATEGIES] = {0};
    printf("search_strategies: %s, data %s, population 8, 4 children, %d generations, %d "
           "epoch(s), %d seed(s), jobs %d\n",
           backend_name, data, generations, epochs, seeds, jobs);
    int run[N_STRATEGIES];
    for (int s = 0; s < N_STRATEGIES; s++) {
        const char *name = uh_strategy_name(order[s]);
        const char *at = only ? strstr(only, name) : NULL;
        size_t k = strlen(name);
        run[s] = !only || s == 0 ||
                 (at && (at == only || at[-1] == ',') && (at[k] == ',' || at[k] == '\0'));
    }
    for (int s = 0; s < N_STRATEGIES; s++)
        for (int seed = 1; run[s] && seed <= seeds; seed++) {
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
            if (cfg.strategy == UH_STRATEGY_LLM) {
                uh_lm_config_t lm;
                uh_lm_config_default(&lm);
                char *op_json = uh_lm_config_json(&lm);
                if (!op_json || strlen(op_json) >= sizeof cfg.operator_config) return 1;
                strcpy(cfg.operator_config, op_json);
                free(op_json);
            }
            char dir[128];
            snprintf(dir, sizeof dir, "%s/%s-%d", root, uh_strategy_name(order[s]), seed);
            double h, w;
            if (run_one(b, &cfg, jobs, dir, &h, &w)) return 1;
            printf("  %-9s seed %d: hypervolume %.4f, wall %.1f s\n", uh_strategy_name(order[s]),
                   seed, h, w);
            hv[s] += h / seeds;
            hv_sq[s] += h * h / seeds;
            wall[s] += w / seeds;
        }
    printf("\n  strategy   HV mean ± std      vs random   mean wall   vs random\n");
    for (int s = 0; s < N_STRATEGIES; s++) {
        if (!run[s]) continue;
        double var = seeds > 1 ? (hv_sq[s] - hv[s] * hv[s]) * seeds / (seeds - 1) : 0;
        printf("  %-9s  %.4f ± %.4f    %6.3fx    %7.1f s   %6.2fx\n", uh_strategy_name(order[s]),
               hv[s], var > 0 ? sqrt(var) : 0, hv[s] / hv[0], wall[s], wall[s] / wall[0]);
    }
    uh_backend_free(b);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : 1;
}
