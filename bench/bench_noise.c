/* Noise-aware training against plain training, per backend: the MLP 784-256-128-10 (or the
 * demo CNN) trained on Fashion-MNIST with and without the backend's UH_SIM_TRAIN hook (the
 * rounding of fp16 hardware, the weight and converter noise of analog hardware), the same
 * seed, epochs, batch and threads. Prints each backend's median training seconds over the
 * repetitions, plain and noise-aware, and their ratio (issue 15's target: ≤ 1.3).
 *
 * Plain and noise-aware runs alternate (plain, noisy, plain, noisy, ...) so that a machine
 * whose speed drifts moves both. Only uh_net_train is timed: data loading, the hook's
 * set-up (a backend's one-off calibration) and evaluation are not training time.
 *
 *   bench_noise [--backend NAME|all] [--mode both|plain|noise] [--net mlp|cnn] [--epochs N]
 *               [--limit-train N] [--threads T] [--reps R]
 *
 * --mode plain or noise trains one way only, for timing whole processes from outside. */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uhnas/backend.h"
#include "uhnas/nn.h"

#include "bench_nets.h"

#define BENCH_MAX_BACKENDS 32
#define BENCH_MAX_REPS 15

enum { MODE_BOTH, MODE_PLAIN, MODE_NOISE };

typedef struct {
    const uh_dataset_t *train;
    const uh_arch_t *arch;
    uh_train_opts_t opts;
} bench_t;

/* Seconds uh_net_train takes with hook (NULL: plain); -1 on failure. */
static double train_once(const bench_t *b, const uh_noise_t *hook) {
    uh_error_t err = {0};
    uh_net_t *net = uh_net_new(b->arch, b->opts.batch, 1, &err);
    if (!net) {
        fprintf(stderr, "bench_noise: %s\n", err.msg);
        return -1;
    }
    uh_net_set_noise(net, hook, 1);
    uh_train_result_t res;
    int rc = uh_net_train(net, b->train, &b->opts, NULL, NULL, &res, &err);
    uh_net_free(net);
    if (rc) fprintf(stderr, "bench_noise: %s\n", err.msg);
    return rc ? -1 : res.train_seconds;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int bench_backend(const bench_t *b, const char *name, int mode, int reps) {
    uh_error_t err = {0};
    uh_backend_t *be = NULL;
    uh_backend_sim_t *sim = NULL;
    if (uh_backend_load(name, &be, &err) ||
        uh_backend_sim_new(be, b->arch, UH_SIM_TRAIN, &sim, &err)) {
        fprintf(stderr, "bench_noise: %s: %s\n", name, err.msg);
        uh_backend_free(be);
        return 1;
    }
    const uh_noise_t *hook = uh_backend_sim_hook(sim);
    double plain[BENCH_MAX_REPS], noisy[BENCH_MAX_REPS];
    int rc = 0;
    for (int r = 0; r < reps && !rc; r++) {
        if (mode != MODE_NOISE) rc |= (plain[r] = train_once(b, NULL)) < 0;
        if (mode != MODE_PLAIN) rc |= (noisy[r] = train_once(b, hook)) < 0;
    }
    if (!rc) {
        printf("%-20s", name);
        double p = mode != MODE_NOISE ? median(plain, reps) : 0;
        double q = mode != MODE_PLAIN ? median(noisy, reps) : 0;
        if (p > 0) printf("  plain %7.3f s", p);
        if (q > 0) printf("  noise-aware %7.3f s", q);
        if (p > 0 && q > 0) printf("  ratio %5.2f", q / p);
        printf("%s\n", hook ? "" : "  (no training hook: noiseless)");
    }
    uh_backend_sim_free(sim);
    uh_backend_free(be);
    return rc;
}

static int usage(void) {
    fprintf(stderr, "usage: bench_noise [--backend NAME|all] [--mode both|plain|noise] "
                    "[--net mlp|cnn] [--epochs N] [--limit-train N] [--threads T] [--reps R]\n");
    return 2;
}

int main(int argc, char **argv) {
    const char *backend = "all", *net = "mlp", *mode_name = "both";
    int epochs = 2, limit = 8000, threads = 2, reps = 3;
    for (int i = 1; i < argc; i += 2) { /* option, value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return usage();
        if (!strcmp(a, "--backend"))
            backend = v;
        else if (!strcmp(a, "--mode"))
            mode_name = v;
        else if (!strcmp(a, "--net"))
            net = v;
        else if (!strcmp(a, "--epochs"))
            epochs = atoi(v);
        else if (!strcmp(a, "--limit-train"))
            limit = atoi(v);
        else if (!strcmp(a, "--threads"))
            threads = atoi(v);
        else if (!strcmp(a, "--reps"))
            reps = atoi(v);
        else
            return usage();
    }
    int mode = !strcmp(mode_name, "both")    ? MODE_BOTH
               : !strcmp(mode_name, "plain") ? MODE_PLAIN
               : !strcmp(mode_name, "noise") ? MODE_NOISE
                                             : -1;
    if (mode < 0 || epochs < 1 || limit < 0 || threads < 1 || reps < 1 || reps > BENCH_MAX_REPS ||
        (strcmp(net, "mlp") && strcmp(net, "cnn")))
        return usage();
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);

    uh_error_t err = {0};
    uh_dataset_t *train = NULL, *test = NULL;
    uh_data_opts_t dopts = {.limit_train = limit, .limit_test = 1};
    if (uh_dataset_load("fashion-mnist", &dopts, &train, &test, &err)) {
        fprintf(stderr, "bench_noise: %s\n", err.msg);
        return 1;
    }
    const char *json = !strcmp(net, "mlp") ? BENCH_MLP : BENCH_CNN;
    uh_arch_t arch;
    uh_shape_t shape = {train->c, train->h, train->w, train->n_classes};
    if (uh_arch_parse(json, strlen(json), shape, &arch, &err)) {
        fprintf(stderr, "bench_noise: %s\n", err.msg);
        uh_dataset_free(train);
        uh_dataset_free(test);
        return 1;
    }
    bench_t b = {.train = train, .arch = &arch};
    uh_train_opts_default(&b.opts);
    b.opts.epochs = epochs;
    b.opts.threads = threads;
    printf("%s on %d Fashion-MNIST images, %d epoch(s), batch %d, %d threads; median of %d "
           "training time(s)\n",
           !strcmp(net, "mlp") ? "MLP 784-256-128-10" : "CNN conv(8,3x3)-pool-32-10", train->n,
           epochs, b.opts.batch, threads, reps);
    char names[BENCH_MAX_BACKENDS][UH_BACKEND_MAX_NAME];
    int n = 1;
    if (!strcmp(backend, "all"))
        n = uh_backend_list(names, BENCH_MAX_BACKENDS);
    else
        snprintf(names[0], sizeof names[0], "%s", backend);
    int rc = 0;
    for (int k = 0; k < n; k++) rc |= bench_backend(&b, names[k], mode, reps);
    uh_dataset_free(train);
    uh_dataset_free(test);
    return rc;
}
