/* uhnas search / uhnas resume — run a search into a run directory, or continue one. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "uhnas/search.h"

/* The one piece of global state in the CLI: a signal handler can reach nothing else. The
 * search checks it between candidates; everything finished is already in the store. */
static volatile int g_stop;

static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static void catch_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

typedef struct {
    int quiet;
    double run_start, start;
    int first_done; /* candidates already done when the first one finished in this call */
    int started;
} progress_t;

/* Seconds left, from the pace of the candidates finished in this call. */
static double eta(progress_t *pr, const uh_search_progress_t *p) {
    if (!pr->started) {
        pr->started = 1;
        pr->first_done = p->done - 1;
        pr->start = cli_now();
    }
    int mine = p->done - pr->first_done;
    return mine > 0 ? (cli_now() - pr->start) / mine * (p->budget - p->done) : 0;
}

static void on_progress(void *ctx, const uh_search_progress_t *p) {
    progress_t *pr = ctx;
    if (pr->quiet) return;
    if (!p->last) {
        printf("generation %d/%d done: %d/%d candidates, hypervolume %.4f (%.0f s)\n",
               p->generation, p->generations, p->done, p->budget, p->hypervolume,
               cli_now() - pr->run_start);
    } else if (p->last->status == UH_CAND_OK) {
        double left = eta(pr, p);
        printf("  [%d/%d] gen %d %-16s %-10s acc %.4f noisy %.4f  %10.4g nJ  %7ld params%s  "
               "ETA %.0f s\n",
               p->done, p->budget, p->generation, p->last->hash, p->last->origin, p->last->accuracy,
               p->last->noisy_accuracy, p->last->energy_nj, p->last->params,
               p->reused ? "  (stored)" : "", left);
    } else {
        printf("  [%d/%d] gen %d %-16s %-10s %s: %s%s\n", p->done, p->budget, p->generation,
               p->last->hash, p->last->origin, uh_cand_status_name(p->last->status),
               p->last->message, p->reused ? "  (stored)" : "");
    }
    fflush(stdout);
}

/* Runs the search in the open store, then prints the final front and writes the CSV. */
static int run_and_report(uh_store_t *store, const char *dir, int quiet) {
    uh_error_t err = {0};
    uh_search_summary_t sum;
    progress_t pr = {quiet, cli_now(), cli_now(), 0, 0};
    catch_signals();
    int rc = uh_search_run(store, NULL, on_progress, &pr, &g_stop, &sum, &err);
    if (rc == UH_EINTR) {
        fprintf(stderr,
                "uhnas: stopped; every finished candidate is stored. Continue with: uhnas "
                "resume %s\n",
                dir);
        return UH_EXIT_FAIL;
    }
    if (rc)
        return cli_fail(UH_EXIT_FAIL, "search: %s (continue with: uhnas resume %s)", err.msg, dir);
    uh_candidate_t *rows;
    size_t n;
    if (uh_store_candidates(store, &rows, &n, &err))
        return cli_fail(UH_EXIT_FAIL, "search: %s", err.msg);
    printf("\n%d candidates (%d trained now, %d from the store); hypervolume %.4f (2-D), "
           "%.4f (3-D with robustness drop); front of %d:\n",
           sum.candidates, sum.trained, sum.reused, sum.hypervolume, sum.hypervolume3,
           sum.front_size);
    printf("  %-16s %-10s %8s %8s %8s %8s %12s %9s\n", "hash", "origin", "val acc", "noisy",
           "test acc", "t-noisy", "energy nJ", "params");
    for (size_t i = 0; i < n; i++) {
        uh_test_result_t t;
        uh_error_t e2 = {0};
        if (uh_store_get_test_result(store, rows[i].hash, &t, &e2)) continue; /* not on front */
        printf("  %-16s %-10s %8.4f %8.4f %8.4f %8.4f %12.4g %9ld\n", rows[i].hash, rows[i].origin,
               rows[i].accuracy, rows[i].noisy_accuracy, t.accuracy, t.noisy_accuracy,
               rows[i].energy_nj, rows[i].params);
    }
    const char **front = malloc((n + 1) * sizeof *front);
    size_t n_front = 0;
    for (size_t i = 0; front && i < n; i++) {
        uh_test_result_t t;
        uh_error_t e2 = {0};
        if (!uh_store_get_test_result(store, rows[i].hash, &t, &e2))
            front[n_front++] = rows[i].hash;
    }
    char csv[4096];
    snprintf(csv, sizeof csv, "%s/front.csv", dir);
    rc = !front ? UH_ENOMEM : uh_store_export_csv(store, csv, front, n_front, &err);
    free(front);
    uh_store_free_candidates(rows);
    if (rc) return cli_fail(UH_EXIT_FAIL, "search: front.csv: %s", err.msg);
    snprintf(csv, sizeof csv, "%s/candidates.csv", dir);
    if (uh_store_export_csv(store, csv, NULL, 0, &err))
        return cli_fail(UH_EXIT_FAIL, "search: %s", err.msg);
    printf("run store %s/%s; tables %s/front.csv, %s\n", dir, UH_STORE_FILE, dir, csv);
    return UH_EXIT_OK;
}

static void search_usage(FILE *out, const cli_opt_t *opts, int n) {
    fprintf(out,
            "usage: uhnas search --backend NAME [--out DIR] [OPTIONS]\n\n"
            "Searches architectures that are accurate under the backend's physics and cheap in\n"
            "energy on it. Every candidate is trained (noise-aware), measured on a validation\n"
            "split (clean and Monte-Carlo noisy accuracy) and committed to DIR/run.sqlite the\n"
            "moment it finishes; the final Pareto front is measured once on the test set.\n"
            "Budget: population + generations x children candidates. Ctrl-C stops between\n"
            "candidates; `uhnas resume DIR` continues (also after kill -9) without retraining\n"
            "anything finished, to the same result as an uninterrupted run.\n\noptions:\n");
    cli_print_options(out, opts, n);
}

int uh_cmd_search(int argc, char **argv) {
    uh_search_config_t cfg;
    uh_search_config_default(&cfg);
    const char *backend = NULL, *out = NULL, *data = NULL, *data_dir = NULL;
    int strategy = 0, objective = 0, optimizer = (int)cfg.train.optimizer, replace = 0;
    int quiet = 0, plain = 0;
    int seed = 1;
    double lr = cfg.train.lr, momentum = cfg.train.momentum;
    cli_opt_t opts[] = {
        {"backend", OPT_STRING, &backend, 0, 0, NULL, "NAME_OR_FILE", "backend (required)"},
        {"out", OPT_STRING, &out, 0, 0, NULL, "DIR",
         "run directory (default runs/BACKEND-STRATEGY-sSEED)"},
        {"strategy", OPT_CHOICE, &strategy, 0, 0, "nsga2|random|evolution|linas", "NAME",
         "search strategy (default nsga2)"},
        {"objective", OPT_CHOICE, &objective, 0, 0, "noisy|clean", "WHICH",
         "accuracy to maximise (default noisy)"},
        {"population", OPT_INT, &cfg.population, 2, UH_SEARCH_MAX_POPULATION, NULL, "N",
         "initial random candidates and NSGA-II population (default 20)"},
        {"children", OPT_INT, &cfg.children, 1, UH_SEARCH_MAX_POPULATION, NULL, "N",
         "children per generation (default 8)"},
        {"generations", OPT_INT, &cfg.generations, 0, UH_SEARCH_MAX_GENERATIONS, NULL, "N",
         "generations after the initial population (default 30)"},
        {"seed", OPT_INT, &seed, 0, 2147483647, NULL, "N", "run seed (default 1)"},
        {"epochs", OPT_INT, &cfg.train.epochs, 1, 10000, NULL, "N",
         "training epochs per candidate (default 20)"},
        {"batch", OPT_INT, &cfg.train.batch, 1, 65536, NULL, "N", "mini-batch (default 128)"},
        {"optimizer", OPT_CHOICE, &optimizer, 0, 0, "sgd|adam", "NAME", "default adam"},
        {"lr", OPT_REAL, &lr, 0, 10, NULL, "X", "learning rate (default 0.001)"},
        {"momentum", OPT_REAL, &momentum, 0, 1, NULL, "X",
         "SGD momentum (default 0.9; unused by adam)"},
        {"mc", OPT_INT, &cfg.mc, 1, 100000, NULL, "N",
         "Monte-Carlo hardware samples per candidate (default 5)"},
        {"no-noise-aware", OPT_FLAG, &plain, 0, 0, NULL, NULL,
         "train without the backend's noise model"},
        {"data", OPT_STRING, &data, 0, 0, NULL, "NAME", "fashion-mnist (default), mnist or tiny"},
        {"data-dir", OPT_STRING, &data_dir, 0, 0, NULL, "DIR", "where the IDX files are"},
        {"limit-train", OPT_INT, &cfg.limit_train, 0, 100000000, NULL, "N",
         "training samples before the validation split; 0 = all (default)"},
        {"limit-test", OPT_INT, &cfg.limit_test, 0, 100000000, NULL, "N",
         "test samples for the final front; 0 = all (default)"},
        {"val-fraction", OPT_REAL, &cfg.val_fraction, 0.01, 0.9, NULL, "X",
         "share of training samples held out for validation (default 0.2)"},
        {"crossover", OPT_REAL, &cfg.crossover_prob, 0, 1, NULL, "P",
         "nsga2/linas: share of children made by crossover (default 0.5)"},
        {"tournament", OPT_INT, &cfg.tournament, 1, UH_SEARCH_MAX_POPULATION, NULL, "N",
         "evolution: tournament size (default 4)"},
        {"energy-weight", OPT_REAL, &cfg.energy_weight, 0, 100, NULL, "W",
         "evolution: fitness = accuracy - W*log10(energy nJ) (default 0.05)"},
        {"predictor-generations", OPT_INT, &cfg.predictor_generations, 1, UH_SEARCH_MAX_GENERATIONS,
         NULL, "N", "linas: NSGA-II generations on the predictors per cycle (default 500)"},
        {"replace", OPT_FLAG, &replace, 0, 0, NULL, NULL,
         "delete a run already in DIR and start again"},
        {"quiet", OPT_FLAG, &quiet, 0, 0, NULL, NULL, "no per-candidate lines"},
    };
    int n = (int)(sizeof opts / sizeof opts[0]);
    char msg[256];
    int prc = cli_parse(argc, argv, opts, n, msg, sizeof msg);
    if (prc == 2) {
        search_usage(stdout, opts, n);
        return UH_EXIT_OK;
    }
    if (prc) return cli_fail(UH_EXIT_USAGE, "search: %s", msg);
    if (!backend) return cli_fail(UH_EXIT_USAGE, "search: --backend is required (see --help)");
    cfg.strategy = (uh_strategy_t)strategy;
    cfg.objective = (uh_objective_t)objective;
    cfg.train.optimizer = (uh_optimizer_t)optimizer;
    cfg.train.lr = (float)lr;
    cfg.train.momentum = (float)momentum;
    cfg.noise_aware = !plain;
    cfg.seed = (uint64_t)seed;
    if (data && snprintf(cfg.dataset, sizeof cfg.dataset, "%s", data) >= (int)sizeof cfg.dataset)
        return cli_fail(UH_EXIT_USAGE, "search: --data: name too long");
    if (data_dir &&
        snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", data_dir) >= (int)sizeof cfg.data_dir)
        return cli_fail(UH_EXIT_USAGE, "search: --data-dir: path too long");

    uh_error_t err = {0};
    uh_backend_t *b;
    if (uh_backend_load(backend, &b, &err)) return cli_fail(UH_EXIT_USAGE, "search: %s", err.msg);
    char dir[1024];
    if (out)
        snprintf(dir, sizeof dir, "%s", out);
    else
        snprintf(dir, sizeof dir, "runs/%s-%s-s%d", uh_backend_name(b),
                 uh_strategy_name(cfg.strategy), seed);
    char *config = uh_search_config_json(&cfg, b);
    uh_backend_free(b);
    if (!config) return cli_fail(UH_EXIT_FAIL, "search: out of memory");
    uh_store_t *store;
    int rc = uh_store_create(dir, config, replace ? UH_STORE_REPLACE : 0, &store, &err);
    free(config);
    if (rc)
        return cli_fail(UH_EXIT_USAGE, "search: %s%s", err.msg,
                        rc == UH_EINVAL ? " (continue it with `uhnas resume DIR`, or --replace)"
                                        : "");
    if (!quiet)
        printf("run %s: %s on %s, budget %d candidates\n", dir, uh_strategy_name(cfg.strategy),
               backend, cfg.population + cfg.generations * cfg.children);
    int code = run_and_report(store, dir, quiet);
    uh_store_close(store);
    return code;
}

int uh_cmd_resume(int argc, char **argv) {
    const char *dir = NULL;
    int quiet = 0;
    cli_opt_t opts[] = {
        {"quiet", OPT_FLAG, &quiet, 0, 0, NULL, NULL, "no per-candidate lines"},
    };
    int n = 1;
    /* the run directory is the one positional argument */
    if (argc >= 2 && argv[1][0] != '-') {
        dir = argv[1];
        argv[1] = argv[0];
        argv++, argc--;
    }
    char msg[256];
    int prc = cli_parse(argc, argv, opts, n, msg, sizeof msg);
    if (prc == 2) {
        printf("usage: uhnas resume DIR [--quiet]\n\n"
               "Continues the search stored in DIR/run.sqlite with its own config: finished\n"
               "candidates are read back, not retrained, and the result is the one an\n"
               "uninterrupted run would have given.\n\noptions:\n");
        cli_print_options(stdout, opts, n);
        return UH_EXIT_OK;
    }
    if (prc) return cli_fail(UH_EXIT_USAGE, "resume: %s", msg);
    if (!dir) return cli_fail(UH_EXIT_USAGE, "resume: which run directory? (uhnas resume DIR)");
    uh_error_t err = {0};
    uh_store_t *store;
    if (uh_store_open(dir, &store, &err)) return cli_fail(UH_EXIT_USAGE, "resume: %s", err.msg);
    int code = run_and_report(store, dir, quiet);
    uh_store_close(store);
    return code;
}
