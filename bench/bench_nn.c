/* Training-engine benchmark: one epoch of full Fashion-MNIST (60,000 training images) for
 * an MLP 784-256-128-10 and a CNN conv(8,3×3)-maxpool(2)-dense(32)-dense(10), batch 128,
 * SGD lr 0.05 momentum 0.9, 2 threads — the setting of the PyTorch figures in MISSION.md —
 * then test accuracy. Also measures raw OpenBLAS SGEMM at the MLP's first-layer shape
 * (128×784 · 784×256), the ceiling the MLP is compared with.
 *
 * Achieved GFLOP/s counts the GEMM work of training per sample: forward 2·MACs, weight
 * gradients 2·MACs, input gradients 2·(MACs − MACs of the first parameter layer, whose
 * input gradient is never computed). Elementwise work (bias, activations, pooling, loss,
 * optimizer) is not counted.
 *
 *   bench_nn [--net mlp|cnn|all] [--epochs N] [--threads T] [--sgemm-only] */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uhnas/nn.h"

#include "bench_nets.h"

/* GFLOP/s of cblas_sgemm for C[M×N] = A[M×K] · B[N×K]ᵀ (the dense forward call). */
static double sgemm_gflops(int M, int N, int K) {
    float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * N * K),
          *c = malloc(sizeof(float) * M * N);
    if (!a || !b || !c) return 0;
    for (long i = 0; i < (long)M * K; i++) a[i] = (float)(i % 17) / 17.0f;
    for (long i = 0; i < (long)N * K; i++) b[i] = (float)(i % 13) / 13.0f;
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        const int iters = 100;
        double t0 = omp_get_wtime();
        for (int i = 0; i < iters; i++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f, c,
                        N);
        double g = 2.0 * M * N * K * iters / (omp_get_wtime() - t0) / 1e9;
        if (g > best) best = g;
    }
    free(a);
    free(b);
    free(c);
    return best;
}

static int run(const char *name, const char *json, const uh_dataset_t *train,
               const uh_dataset_t *test, int epochs, int threads, double sgemm) {
    uh_error_t err = {0};
    uh_arch_t arch;
    uh_shape_t shape = {train->c, train->h, train->w, train->n_classes};
    if (uh_arch_parse(json, strlen(json), shape, &arch, &err)) {
        fprintf(stderr, "bench_nn: %s: %s\n", name, err.msg);
        return 1;
    }
    uh_train_opts_t opts;
    uh_train_opts_default(&opts);
    opts.lr = 0.05f;
    opts.momentum = 0.9f;
    opts.batch = 128;
    opts.epochs = epochs;
    opts.threads = threads;
    uh_net_t *net = uh_net_new(&arch, opts.batch, 1, &err);
    if (!net) {
        fprintf(stderr, "bench_nn: %s: %s\n", name, err.msg);
        return 1;
    }
    uh_train_result_t res;
    double acc = 0;
    if (uh_net_train(net, train, &opts, NULL, NULL, &res, &err) ||
        uh_net_evaluate(net, test, 0, &acc, &err)) {
        fprintf(stderr, "bench_nn: %s: %s\n", name, err.msg);
        uh_net_free(net);
        return 1;
    }
    long first = 0;
    for (int i = 0; i < arch.n_layers; i++)
        if (arch.layers[i].macs > 0) {
            first = arch.layers[i].macs;
            break;
        }
    double flops = 2.0 * (3.0 * arch.macs - first) * train->n * epochs;
    double s = res.train_seconds / epochs, gf = flops / res.train_seconds / 1e9;
    printf("%-4s %9ld params %9ld MACs  %7.3f s/epoch  %8.0f samples/s  %6.1f GFLOP/s", name,
           arch.params, arch.macs, s, train->n / s, gf);
    if (sgemm > 0) printf(" (%3.0f%% of SGEMM)", 100 * gf / sgemm);
    printf("  loss %.4f  test acc %.4f\n", (double)res.final_loss, acc);
    uh_net_free(net);
    return 0;
}

int main(int argc, char **argv) {
    const char *which = "all";
    int epochs = 1, threads = 2, sgemm_only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--net") && i + 1 < argc)
            which = argv[++i];
        else if (!strcmp(argv[i], "--epochs") && i + 1 < argc)
            epochs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--sgemm-only"))
            sgemm_only = 1;
        else {
            fprintf(stderr, "usage: bench_nn [--net mlp|cnn|all] [--epochs N] [--threads T] "
                            "[--sgemm-only]\n");
            return 2;
        }
    }
    if (epochs < 1 || threads < 1) {
        fprintf(stderr, "bench_nn: epochs and threads must be >= 1\n");
        return 2;
    }
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    int par = openblas_get_parallel();
    printf("%s, core %s, %s threading\n", openblas_get_config(), openblas_get_corename(),
           par == OPENBLAS_OPENMP   ? "OpenMP"
           : par == OPENBLAS_THREAD ? "pthreads"
                                    : "no");
    if (par == OPENBLAS_THREAD)
        printf("warning: a pthreads OpenBLAS spins its own threads beside OpenMP's; with as many "
               "threads as cores training can be many times slower (install the OpenMP build: "
               "scripts/setup.sh)\n");
    double sgemm = sgemm_gflops(128, 256, 784);
    printf("OpenBLAS SGEMM 128×784 · 784×256, %d threads: %.1f GFLOP/s\n", threads, sgemm);
    if (sgemm_only) return 0;

    uh_error_t err = {0};
    uh_dataset_t *train = NULL, *test = NULL;
    if (uh_dataset_load("fashion-mnist", NULL, &train, &test, &err)) {
        fprintf(stderr, "bench_nn: %s\n", err.msg);
        return 1;
    }
    printf("Fashion-MNIST %d train / %d test, batch 128, SGD lr 0.05 momentum 0.9, %d epoch(s), "
           "%d threads\n",
           train->n, test->n, epochs, threads);
    printf("GFLOP/s counts training GEMM work per sample: forward 2·MACs + weight gradients "
           "2·MACs + input gradients 2·(MACs - first layer's MACs)\n");
    int rc = 0;
    if (!strcmp(which, "all") || !strcmp(which, "mlp"))
        rc |= run("mlp", BENCH_MLP, train, test, epochs, threads, sgemm);
    if (!strcmp(which, "all") || !strcmp(which, "cnn"))
        rc |= run("cnn", BENCH_CNN, train, test, epochs, threads, 0);
    uh_dataset_free(train);
    uh_dataset_free(test);
    return rc;
}
