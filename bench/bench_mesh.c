/* Mesh timings: decomposing a 64×64 unitary, rebuilding it, and Monte-Carlo hardware samples
 * (effective unitaries with every non-ideality on) per second for n = 16 and 64. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "uhnas/mesh.h"

#define RUNS 9

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, n, sizeof *v, cmp_double);
    return v[n / 2];
}

static int bench_decompose(const double complex *U, int n, int use_reck) {
    double t[RUNS];
    for (int r = 0; r < RUNS; r++) {
        uh_mesh_t *mesh;
        uh_error_t err = {0};
        double t0 = now();
        int rc = use_reck ? uh_mesh_decompose_reck(U, n, &mesh, &err)
                          : uh_mesh_decompose_clements(U, n, &mesh, &err);
        t[r] = now() - t0;
        if (rc) {
            fprintf(stderr, "bench_mesh: %s\n", err.msg);
            return rc;
        }
        uh_mesh_free(mesh);
    }
    printf("decompose %-8s n=%-3d  %8.3f ms (median of %d)\n", use_reck ? "reck" : "clements", n,
           1e3 * median(t, RUNS), RUNS);
    return 0;
}

/* Samples per second over about half a second of repeated uh_mesh_unitary_noisy calls. */
static int bench_samples(int n) {
    uh_rng_t rng;
    uh_rng_seed(&rng, 1);
    uh_error_t err = {0};
    double complex *U = malloc((size_t)n * n * sizeof *U);
    uh_mesh_t *mesh = NULL;
    int rc = U ? uh_mesh_haar_unitary(n, &rng, U, &err) : UH_ENOMEM;
    if (!rc) rc = uh_mesh_decompose_clements(U, n, &mesh, &err);
    uh_mesh_noise_t nz = {.phase_bits = 8,
                          .sigma_phase = 0.01,
                          .sigma_bs = 0.01,
                          .crosstalk = 0.01,
                          .il_db = 0.1,
                          .sigma_il_db = 0.02};
    double t_ideal[RUNS];
    for (int r = 0; !rc && r < RUNS; r++) {
        double t0 = now();
        uh_mesh_unitary(mesh, U);
        t_ideal[r] = now() - t0;
    }
    long count = 0;
    double t0 = now(), elapsed = 0;
    while (!rc && elapsed < 0.5) {
        rc = uh_mesh_unitary_noisy(mesh, &nz, &rng, U, &err);
        count++;
        elapsed = now() - t0;
    }
    if (!rc) {
        printf("unitary   ideal    n=%-3d  %8.3f ms (median of %d)\n", n,
               1e3 * median(t_ideal, RUNS), RUNS);
        printf("noisy unitary      n=%-3d  %8.0f samples/s (all effects on)\n", n, count / elapsed);
    } else {
        fprintf(stderr, "bench_mesh: %s\n", err.msg);
    }
    uh_mesh_free(mesh);
    free(U);
    return rc;
}

int main(void) {
    const int n = 64;
    uh_rng_t rng;
    uh_rng_seed(&rng, 42);
    double complex *U = malloc((size_t)n * n * sizeof *U);
    if (!U || uh_mesh_haar_unitary(n, &rng, U, NULL)) return 1;
    int rc = bench_decompose(U, n, 0);
    if (!rc) rc = bench_decompose(U, n, 1);
    free(U);
    if (!rc) rc = bench_samples(16);
    if (!rc) rc = bench_samples(64);
    return rc ? 1 : 0;
}
