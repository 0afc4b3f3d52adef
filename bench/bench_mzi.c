/* MZI backend timings on a 784 → 256 → 10 MLP (mzi-realistic, every non-ideality on), for
 * tiles 8, 16 and 32:
 *   - decomposition: SVD + mesh decomposition of every block of both layers, once per weight
 *     matrix (cached across Monte-Carlo samples);
 *   - one hardware sample of the EVAL hook (every block's two meshes realized with their
 *     noise, the effective weights rebuilt): Monte-Carlo samples per second;
 *   - uh_backend_evaluate on 1000 test images with 4 samples (a fresh sim: one decomposition,
 *     the clean pass, 4 noisy passes with ADC and detector noise);
 * and, as a peer in the same process, the plain digital evaluation of the same net on the same
 * images. Timings are the fastest of several runs.
 *
 * Then MZI noisy/clean throughput: per Monte-Carlo sample, one evaluation pass through a fresh
 * hardware realization against a clean pass, on 1000 images and on the 10,000 of the test set
 * (medians, the two taking turns).
 *
 * Then noise-aware training's cost: uh_net_train throughput (training samples per second,
 * the median of several runs) of a 784 → 64 → 10 MLP and the demo CNN (configs/demo-arch.json)
 * at the file's default tile, one epoch of 6400 Fashion-MNIST training images (50 batches of
 * 128: at train_redecompose_steps 50, one mapping of every layer per run, the steady state),
 * without a hook, with train_noise "gaussian" and with "sampled" (the file's train_chips and
 * train_redecompose_steps, else 4 and 50), each run on a fresh net and a fresh sim (the
 * sim's calibration is not timed). Usage: bench_mzi [backend [throughput]] (default
 * mzi-realistic; "throughput": the noisy/clean table alone). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <cjson/cJSON.h>

#include "uhnas/backend.h"

#define RUNS 7
#define N_IMAGES 1000
#define N_FULL 10000 /* the Fashion-MNIST test set */
#define MC 4
#define TRAIN_RUNS 7
#define N_TRAIN 6400

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

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* n Fashion-MNIST images (test or training split) when installed, else n seeded random images
 * of the same shape (the timings do not depend on the pixels). */
static uh_dataset_t *images(int n, int training, const char **what, uh_error_t *err) {
    uh_data_opts_t opts = {0};
    opts.limit_train = training ? n : 1;
    opts.limit_test = training ? 1 : n;
    uh_dataset_t *train = NULL, *test = NULL;
    if (uh_dataset_load("fashion-mnist", &opts, &train, &test, err) == UH_OK) {
        uh_dataset_free(training ? test : train);
        *what = training ? "Fashion-MNIST training images" : "Fashion-MNIST test images";
        return training ? train : test;
    }
    uh_dataset_t *ds = calloc(1, sizeof *ds);
    if (!ds) return NULL;
    ds->n = n, ds->c = 1, ds->h = 28, ds->w = 28, ds->n_classes = 10;
    ds->x = malloc((size_t)n * 784 * sizeof *ds->x);
    ds->y = malloc((size_t)n);
    if (!ds->x || !ds->y) {
        uh_dataset_free(ds);
        return NULL;
    }
    uh_rng_t rng;
    uh_rng_seed(&rng, 3);
    for (size_t i = 0; i < (size_t)n * 784; i++) ds->x[i] = (float)uh_rng_uniform(&rng);
    for (int i = 0; i < n; i++) ds->y[i] = (uint8_t)uh_rng_below(&rng, 10);
    *what = "random images (Fashion-MNIST not found)";
    return ds;
}

/* The bench's MLP 784 → 256 → 10 with both layers on tile k, batch 256. */
static uh_net_t *mlp(int k, uh_error_t *err) {
    char json[256];
    snprintf(json, sizeof json,
             "{\"layers\":[{\"type\":\"dense\",\"units\":256,\"activation\":\"relu\","
             "\"tile\":%d},{\"type\":\"dense\",\"units\":10,\"tile\":%d}]}",
             k, k);
    uh_arch_t a;
    if (uh_arch_parse(json, strlen(json), (uh_shape_t){1, 28, 28, 10}, &a, err)) return NULL;
    return uh_net_new(&a, 256, 1, err);
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

/* Per Monte-Carlo sample, the median time of one uh_net_evaluate pass over ds without a hook
 * (clean) and through the EVAL hook (noisy: one hardware realization of every block, the
 * pass, the receivers' noise); the sim is warmed first, so the decomposition is not timed. */
static int bench_throughput(const uh_backend_t *b, uh_net_t *net, const uh_dataset_t *ds,
                            double *t_clean, double *t_noisy, uh_error_t *err) {
    double clean[RUNS], noisy[RUNS], acc;
    uh_backend_sim_t *sim;
    int rc = uh_backend_sim_new(b, uh_net_arch(net), UH_SIM_EVAL, &sim, err);
    if (rc) return rc;
    uh_net_set_noise(net, uh_backend_sim_hook(sim), 7);
    rc = uh_net_evaluate(net, ds, 0, &acc, err);
    /* clean and noisy take turns, so a burst of other load hits both alike */
    for (int r = 0; r < RUNS && !rc; r++) {
        uh_net_set_noise(net, NULL, 0);
        double t0 = now();
        rc = uh_net_evaluate(net, ds, 0, &acc, err);
        clean[r] = now() - t0;
        uh_net_set_noise(net, uh_backend_sim_hook(sim), 7);
        t0 = now();
        if (!rc) rc = uh_net_evaluate(net, ds, (uint64_t)r + 1, &acc, err);
        noisy[r] = now() - t0;
    }
    uh_net_set_noise(net, NULL, 0);
    uh_backend_sim_free(sim);
    if (rc) return rc;
    *t_clean = median(clean, RUNS);
    *t_noisy = median(noisy, RUNS);
    return UH_OK;
}

/* MZI noisy/clean throughput: per sample, at the bench's image count and on the full test
 * set (what `eval` and `search` use unless --limit-test), for every tile. */
static int bench_noisy_clean(const uh_backend_t *b, const uh_dataset_t *small, uh_error_t *err) {
    const char *what = "";
    uh_dataset_t *full = images(N_FULL, 0, &what, err);
    if (!full) return uh_error_set(err, UH_ENOMEM, "no memory for test images");
    printf("\nMZI noisy/clean throughput, per Monte-Carlo sample: one uh_net_evaluate pass, "
           "clean and through a realization; median of %d runs\n",
           RUNS);
    printf("%-5s %8s %10s %10s %12s\n", "tile", "images", "clean ms", "noisy ms", "noisy/clean");
    const int tiles[] = {8, 16, 32};
    const uh_dataset_t *sets[] = {small, full};
    int rc = UH_OK;
    for (int k_i = 0; k_i < 3 && !rc; k_i++) {
        uh_net_t *net = mlp(tiles[k_i], err);
        if (!net) {
            rc = err && err->code ? err->code : UH_ENOMEM;
            break;
        }
        for (int d = 0; d < 2 && !rc; d++) {
            double clean = 0, noisy = 0;
            if ((rc = bench_throughput(b, net, sets[d], &clean, &noisy, err))) break;
            printf("%-5d %8d %10.2f %10.2f %11.0f%%\n", tiles[k_i], sets[d]->n, 1e3 * clean,
                   1e3 * noisy, 100 * clean / noisy);
        }
        uh_net_free(net);
    }
    printf("noisy/clean: a noisy pass's throughput as a share of a clean one's (%s)\n", what);
    uh_dataset_free(full);
    return rc;
}

/* ---- noise-aware training's cost ------------------------------------------------------ */

/* The backend b with params.train_noise set to `mode` (replacing the file's choice). */
static int with_train_noise(const uh_backend_t *b, const char *mode, uh_backend_t **out,
                            uh_error_t *err) {
    cJSON *root = cJSON_Parse(uh_backend_text(b));
    cJSON *params = root ? cJSON_GetObjectItemCaseSensitive(root, "params") : NULL;
    if (!params) {
        cJSON_Delete(root);
        return uh_error_set(err, UH_EINVAL, "%s: no params object", uh_backend_name(b));
    }
    cJSON_DeleteItemFromObjectCaseSensitive(params, "train_noise");
    cJSON_AddStringToObject(params, "train_noise", mode);
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text) return uh_error_set(err, UH_ENOMEM, "out of memory");
    int rc = uh_backend_load_text(text, strlen(text), mode, out, err);
    free(text);
    return rc;
}

/* Training samples/s of one one-epoch run of arch on ds: a fresh net and (b non-NULL) a fresh
 * TRAIN sim, whose creation is not timed. */
static int train_rate(const uh_backend_t *b, const uh_arch_t *arch, const uh_dataset_t *ds,
                      double *per_s, uh_error_t *err) {
    uh_train_opts_t opts;
    uh_train_opts_default(&opts);
    opts.batch = 128, opts.epochs = 1;
    uh_net_t *net = uh_net_new(arch, opts.batch, 1, err);
    if (!net) return err && err->code ? err->code : UH_ENOMEM;
    uh_backend_sim_t *sim = NULL;
    int rc = b ? uh_backend_sim_new(b, arch, UH_SIM_TRAIN, &sim, err) : UH_OK;
    uh_train_result_t res;
    if (!rc) {
        uh_net_set_noise(net, uh_backend_sim_hook(sim), 5);
        double t0 = now();
        rc = uh_net_train(net, ds, &opts, NULL, NULL, &res, err);
        *per_s = ds->n / (now() - t0);
        uh_net_set_noise(net, NULL, 0);
    }
    uh_backend_sim_free(sim);
    uh_net_free(net);
    return rc;
}

/* params[key].value as an integer, else dflt. */
static int param_int(const cJSON *params, const char *key, int dflt) {
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(params, key), "value");
    return cJSON_IsNumber(v) ? v->valueint : dflt;
}

static int bench_training(const uh_backend_t *b, uh_error_t *err) {
    const char *what = "";
    uh_dataset_t *ds = images(N_TRAIN, 1, &what, err);
    if (!ds) return uh_error_set(err, UH_ENOMEM, "no memory for training images");
    uh_backend_t *gauss = NULL, *sampled = NULL;
    int rc = with_train_noise(b, "gaussian", &gauss, err);
    if (!rc) rc = with_train_noise(b, "sampled", &sampled, err);
    cJSON *root = cJSON_Parse(uh_backend_text(b));
    const cJSON *params = cJSON_GetObjectItemCaseSensitive(root, "params");
    int chips = param_int(params, "train_chips", 4); /* else the loader's defaults */
    int steps = param_int(params, "train_redecompose_steps", 50);
    cJSON_Delete(root);
    static const char *const names[] = {"MLP 784-64-10", "demo CNN"};
    static const char *const archs[] = {
        "{\"layers\":[{\"type\":\"dense\",\"units\":64,\"activation\":\"relu\"},"
        "{\"type\":\"dense\",\"units\":10}]}",
        /* configs/demo-arch.json */
        "{\"layers\":[{\"type\":\"conv2d\",\"filters\":8,\"kernel\":3,\"stride\":1,"
        "\"activation\":\"relu\"},{\"type\":\"pool\",\"kind\":\"max\",\"size\":2},"
        "{\"type\":\"dense\",\"units\":32,\"activation\":\"relu\"},{\"type\":\"dense\","
        "\"units\":10,\"activation\":\"none\"}]}"};
    if (!rc) {
        printf("\nnoise-aware training: 1 epoch of %d %s, batch 128 (%d steps), median of %d "
               "runs, training samples/s; sampled: %d chips, mapped every %d steps\n",
               ds->n, what, (ds->n + 127) / 128, TRAIN_RUNS, chips, steps);
        printf("%-14s %10s %10s %10s %10s %10s %12s\n", "net", "no noise", "gaussian", "sampled",
               "gauss/none", "samp/none", "samp/gauss");
    }
    for (int i = 0; i < 2 && !rc; i++) {
        uh_arch_t a;
        if ((rc = uh_arch_parse(archs[i], strlen(archs[i]), (uh_shape_t){1, 28, 28, 10}, &a, err)))
            break;
        /* the three methods take turns, so a burst of other load hits them alike */
        const uh_backend_t *methods[3] = {NULL, gauss, sampled};
        double rate[3][TRAIN_RUNS];
        for (int r = 0; r < TRAIN_RUNS && !rc; r++)
            for (int m = 0; m < 3 && !rc; m++)
                rc = train_rate(methods[m], &a, ds, &rate[m][r], err);
        if (rc) break;
        double none = median(rate[0], TRAIN_RUNS), g = median(rate[1], TRAIN_RUNS),
               s = median(rate[2], TRAIN_RUNS);
        printf("%-14s %10.0f %10.0f %10.0f %10.2f %10.2f %12.2f\n", names[i], none, g, s, g / none,
               s / none, s / g);
    }
    uh_backend_free(gauss);
    uh_backend_free(sampled);
    uh_dataset_free(ds);
    return rc;
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
    uh_dataset_t *ds = images(N_IMAGES, 0, &what, &err);
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
    if (argc > 2 && strcmp(argv[2], "throughput") == 0) {
        int rc = bench_noisy_clean(b, ds, &err);
        if (rc) fprintf(stderr, "bench_mzi: %s\n", err.msg);
        uh_dataset_free(ds);
        uh_backend_free(b);
        return rc ? 1 : 0;
    }
    printf("%-5s %7s %10s %10s %10s %12s %11s %9s\n", "tile", "blocks", "decomp ms", "sample ms",
           "samples/s", "evaluate ms", "digital ms", "eval/dig");
    const int tiles[] = {8, 16, 32};
    int rc = 0;
    for (int k_i = 0; k_i < 3 && !rc; k_i++) {
        uh_net_t *net = mlp(tiles[k_i], &err);
        if (!net) {
            rc = err.code ? err.code : UH_ENOMEM;
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
    if (!rc && (rc = bench_noisy_clean(b, ds, &err))) fprintf(stderr, "bench_mzi: %s\n", err.msg);
    if (!rc && (rc = bench_training(b, &err))) fprintf(stderr, "bench_mzi: %s\n", err.msg);
    uh_dataset_free(ds);
    uh_backend_free(b);
    return rc ? 1 : 0;
}
