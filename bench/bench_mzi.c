/* MZI backend timings on a 784 → 256 → 10 MLP (mzi-realistic, every non-ideality on), for
 * tiles 8, 16 and 32:
 *   - decomposition: SVD + mesh decomposition of every block of both layers, once per weight
 *     matrix (cached across Monte-Carlo samples);
 *   - one hardware sample of the EVAL hook (every block's two meshes realized with their
 *     noise, the effective weights rebuilt): Monte-Carlo samples per second;
 *   - uh_backend_evaluate on 1000 test images with 4 samples (a fresh sim: one decomposition,
 *     the clean pass, 4 noisy passes with ADC and detector noise);
 * and, as a peer in the same process, the plain digital evaluation of the same net on the same
 * images. Timings are the fastest of several runs. Usage: bench_mzi [backend] (default
 * mzi-realistic). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "uhnas/backend.h"

#define RUNS 7
#define N_IMAGES 1000
#define MC 4

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* The fastest of n runs: on a shared machine the other runs measure the neighbours. */
static double fastest(const double *v, int n) {
    double m = v[0];
    for (int i = 1; i < n; i++) m = v[i] < m ? v[i] : m;
    return m;
}

/* 1000 Fashion-MNIST test images when installed, else 1000 seeded random images of the same
 * shape (the timings do not depend on the pixels). */
static uh_dataset_t *images(const char **what, uh_error_t *err) {
    uh_data_opts_t opts = {0};
    opts.limit_train = 1;
    opts.limit_test = N_IMAGES;
    uh_dataset_t *train = NULL, *test = NULL;
    if (uh_dataset_load("fashion-mnist", &opts, &train, &test, err) == UH_OK) {
        uh_dataset_free(train);
        *what = "Fashion-MNIST test images";
        return test;
    }
    uh_dataset_t *ds = calloc(1, sizeof *ds);
    if (!ds) return NULL;
    ds->n = N_IMAGES, ds->c = 1, ds->h = 28, ds->w = 28, ds->n_classes = 10;
    ds->x = malloc((size_t)N_IMAGES * 784 * sizeof *ds->x);
    ds->y = malloc(N_IMAGES);
    if (!ds->x || !ds->y) {
        uh_dataset_free(ds);
        return NULL;
    }
    uh_rng_t rng;
    uh_rng_seed(&rng, 3);
    for (size_t i = 0; i < (size_t)N_IMAGES * 784; i++) ds->x[i] = (float)uh_rng_uniform(&rng);
    for (int i = 0; i < N_IMAGES; i++) ds->y[i] = (uint8_t)uh_rng_below(&rng, 10);
    *what = "random images (Fashion-MNIST not found)";
    return ds;
}

/* Decomposition and per-sample times of the EVAL hook for the net's two weight matrices: a
 * fresh sim's first call decomposes and samples, later calls only sample. */
static int bench_hook(const uh_backend_t *b, uh_net_t *net, double *t_decomp, double *t_sample,
                      uh_error_t *err) {
    const uh_arch_t *arch = uh_net_arch(net);
    const float *params = uh_net_params(net);
    size_t n = uh_net_n_params(net);
    float *w = malloc(n * sizeof *w);
    if (!w) return uh_error_set(err, UH_ENOMEM, "out of memory");
    const int rows[2] = {arch->layers[0].units, arch->layers[1].units};
    const int cols[2] = {784, arch->layers[0].units};
    uh_rng_t rng;
    uh_rng_seed(&rng, 1);
    double t_first[RUNS], t[RUNS];
    int rc = UH_OK;
    for (int r = 0; r < RUNS && !rc; r++) {
        uh_backend_sim_t *sim;
        if ((rc = uh_backend_sim_new(b, arch, UH_SIM_EVAL, &sim, err))) break;
        const uh_noise_t *hook = uh_backend_sim_hook(sim);
        for (int s = 0; s < (r ? 1 : RUNS + 1); s++) {
            memcpy(w, params, n * sizeof *w); /* the cache is keyed by the clean weights */
            double t0 = now();
            for (int l = 0; l < 2; l++)
                hook->perturb_weights(hook->ctx, l, w + uh_net_weight_offset(net, l), rows[l],
                                      cols[l], &rng);
            if (s == 0)
                t_first[r] = now() - t0;
            else
                t[s - 1] = now() - t0;
        }
        uh_backend_sim_free(sim);
    }
    free(w);
    if (rc) return rc;
    *t_sample = fastest(t, RUNS);
    *t_decomp = fastest(t_first, RUNS) - *t_sample;
    return UH_OK;
}

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "mzi-realistic";
    uh_error_t err = {0};
    uh_backend_t *b = NULL;
    if (uh_backend_load(name, &b, &err)) {
        fprintf(stderr, "bench_mzi: %s\n", err.msg);
        return 1;
    }
    const char *what = "";
    uh_dataset_t *ds = images(&what, &err);
    if (!ds) {
        fprintf(stderr, "bench_mzi: no memory for images\n");
        return 1;
    }
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    printf("bench_mzi: backend %s, MLP 784-256-10, %d %s, %d OpenMP threads\n", name, ds->n, what,
           threads);
    printf("%-5s %7s %10s %10s %10s %12s %11s %9s\n", "tile", "blocks", "decomp ms", "sample ms",
           "samples/s", "evaluate ms", "digital ms", "eval/dig");
    const int tiles[] = {8, 16, 32};
    int rc = 0;
    for (int k_i = 0; k_i < 3 && !rc; k_i++) {
        char json[256];
        snprintf(json, sizeof json,
                 "{\"layers\":[{\"type\":\"dense\",\"units\":256,\"activation\":\"relu\","
                 "\"tile\":%d},{\"type\":\"dense\",\"units\":10,\"tile\":%d}]}",
                 tiles[k_i], tiles[k_i]);
        uh_arch_t a;
        if ((rc = uh_arch_parse(json, strlen(json), (uh_shape_t){1, 28, 28, 10}, &a, &err))) break;
        uh_net_t *net = uh_net_new(&a, 256, 1, &err);
        if (!net) {
            rc = UH_ENOMEM;
            break;
        }
        double t_decomp = 0, t_sample = 0;
        if ((rc = bench_hook(b, net, &t_decomp, &t_sample, &err))) {
            uh_net_free(net);
            break;
        }
        /* the digital peer: the same net, the same images, no hook */
        double t_dig[3 * RUNS], acc;
        for (int r = 0; r < 3 * RUNS && !rc; r++) {
            double t0 = now();
            rc = uh_net_evaluate(net, ds, 0, &acc, &err);
            t_dig[r] = now() - t0;
        }
        double t_eval[RUNS];
        uh_mc_result_t res;
        for (int r = 0; r < RUNS && !rc; r++) {
            double t0 = now();
            rc = uh_backend_evaluate(b, net, ds, MC, 7, &res, &err);
            t_eval[r] = now() - t0;
        }
        if (!rc) {
            double dig = fastest(t_dig, 3 * RUNS), ev = fastest(t_eval, RUNS);
            long k = tiles[k_i];
            long blocks = ((784 + k - 1) / k) * ((256 + k - 1) / k) +
                          ((256 + k - 1) / k) * ((10 + k - 1) / k);
            printf("%-5ld %7ld %10.1f %10.2f %10.1f %12.1f %11.2f %8.0fx\n", k, blocks,
                   1e3 * t_decomp, 1e3 * t_sample, 1 / t_sample, 1e3 * ev, 1e3 * dig, ev / dig);
        }
        uh_net_free(net);
    }
    if (rc)
        fprintf(stderr, "bench_mzi: %s\n", err.msg);
    else
        printf("fastest of %d runs. decomp: SVD + mesh decomposition of every block of both "
               "layers (once per weight matrix, cached across samples); sample: one hardware "
               "realization of every block (the EVAL hook, both layers); evaluate: "
               "uh_backend_evaluate on %d images, clean pass + %d samples, fresh sim (one "
               "decomposition); digital: one uh_net_evaluate pass without hardware on the same "
               "images; eval/dig: evaluate over one digital pass (%d passes run in evaluate)\n",
               RUNS, ds->n, MC, MC + 1);
    uh_dataset_free(ds);
    uh_backend_free(b);
    return rc ? 1 : 0;
}
