/* What the cmocka tests share: a scratch directory, comparisons in double precision, calls
 * that must fail, and architectures and backends a test needs or cannot go on without.
 * Include it first: nftw wants its feature macro before any system header. */
#ifndef UHNAS_TESTS_COMMON_H
#define UHNAS_TESTS_COMMON_H

#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700 /* nftw */
#endif

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <ftw.h>
#include <math.h>

#include "uhnas/arch.h"
#include "uhnas/backend.h"
#include "uhnas/data.h"
#include "uhnas/error.h"
#include "uhnas/rng.h"
#include "uhnas/search.h"
#include "uhnas/store.h"

/* The shipped backend files: BACKENDS "mzi-realistic.json". */
#define BACKENDS UHNAS_TEST_BACKENDS "/"

/* The JSON of a network with one hidden layer of ReLUs: hidden units, then classes. */
/* A test program's main(): its tests (cmocka_unit_test(...), ...) as one group, with the
 * group's setup and teardown (NULL for none). */
#define UH_TEST_MAIN(setup, teardown, ...)                                                         \
    int main(void) {                                                                               \
        const struct CMUnitTest tests[] = {__VA_ARGS__};                                           \
        return cmocka_run_group_tests(tests, setup, teardown);                                     \
    }

#define RELU_MLP(hidden, classes)                                                                  \
    "{\"layers\":[{\"type\":\"dense\",\"units\":" #hidden ",\"activation\":\"relu\"},"             \
    "{\"type\":\"dense\",\"units\":" #classes "}]}"

/* A conv layer of 3×3 filters with the tile hint 4, a 2×2 max pool, and 3 classes: on
 * 6×6×1 inputs, the by-hand energy tests' network. */
#define TILED_CNN(filters)                                                                         \
    "{\"layers\":[{\"type\":\"conv2d\",\"filters\":" #filters ",\"kernel\":3,\"activation\":"      \
    "\"relu\",\"tile\":4},{\"type\":\"pool\",\"kind\":\"max\",\"size\":2},"                        \
    "{\"type\":\"dense\",\"units\":3}]}"

static const uh_shape_t MNIST = {1, 28, 28, 10};
static const uh_shape_t TINY = {1, 12, 12, 4}; /* uh_dataset_tiny's images */

/* ---- a scratch directory ------------------------------------------------------------- */

/* A fresh directory under $TMPDIR (or /tmp) written into dir; 0, or -1 when none was made. */
static inline int temp_dir_new(char *dir, size_t cap) {
    const char *base = getenv("TMPDIR");
    snprintf(dir, cap, "%s/uhnas-test-XXXXXX", base && *base ? base : "/tmp");
    return mkdtemp(dir) ? 0 : -1;
}

static inline int remove_entry(const char *path, const struct stat *st, int kind, struct FTW *ftw) {
    (void)st, (void)kind, (void)ftw;
    return remove(path);
}

/* Removes path and everything below it (links, not what they point to); 0 or -1. */
static inline int remove_tree(const char *path) {
    return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The test program's scratch directory, made by tmp_setup and removed by tmp_teardown (a
 * cmocka group's setup and teardown). */
static inline char *tmp_dir(void) {
    static char dir[256];
    return dir;
}

static inline int tmp_setup(void **state) {
    (void)state;
    return temp_dir_new(tmp_dir(), 256);
}

static inline int tmp_teardown(void **state) {
    (void)state;
    return remove_tree(tmp_dir());
}

/* A path below tmp_dir(), from a printf format, into buf; one that does not fit fails. */
static inline void tmp_pathf(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void tmp_pathf(char *buf, size_t cap, const char *fmt, ...) {
    int n = snprintf(buf, cap, "%s/", tmp_dir());
    va_list ap;
    va_start(ap, fmt);
    int m = n < 0 || (size_t)n >= cap ? -1 : vsnprintf(buf + n, cap - (size_t)n, fmt, ap);
    va_end(ap);
    if (m < 0 || (size_t)(n + m) >= cap)
        fail_msg("a path below %s is longer than %zu", tmp_dir(), cap);
}

/* tmp_dir()/name, in one of four rotating buffers (enough for the paths of one call). */
static inline const char *tmp_path(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp_dir(), name);
    return buf[k];
}

/* ---- comparisons ---------------------------------------------------------------------- */

/* cmocka 1.1's float assertion works in single precision; energies and errors need double. */
#define assert_close(a, b, tol) check_close((a), (b), (tol), #a, __FILE__, __LINE__)
/* |got − want| ≤ rel · |want| */
#define assert_rel(a, b, rel) assert_close((a), (b), (rel)*fabs((double)(b)))

static inline void check_close(double got, double want, double tol, const char *what,
                               const char *file, int line) {
    if (!(fabs(got - want) <= tol)) {
        print_error("%s:%d: %s = %.12g, want %.12g (± %g)\n", file, line, what, got, want, tol);
        fail();
    }
}

/* Every string after text stands in it. */
#define assert_contains(text, ...)                                                                 \
    check_contains((text), (const char *const[]){__VA_ARGS__, NULL}, #text, __FILE__, __LINE__)

static inline void check_contains(const char *text, const char *const *needles, const char *what,
                                  const char *file, int line) {
    for (; *needles; needles++)
        if (!text || !strstr(text, *needles)) {
            print_error("%s:%d: %s lacks \"%s\": %.400s\n", file, line, what, *needles,
                        text ? text : "(null)");
            fail();
        }
}

/* ---- calls that must fail ------------------------------------------------------------- */

#define ANY_ERROR (-1) /* expect_bad's code for "any code but UH_OK" */

/* A call that returned rc must have failed with code (or ANY_ERROR), recorded in err with a
 * message holding needle (NULL: any message); input, where given, is shown with a failure. */
#define expect_bad(rc, err, code, needle)                                                          \
    expect_bad_at((rc), (err), (code), (needle), NULL, __FILE__, __LINE__)

static inline void expect_bad_at(int rc, const uh_error_t *err, int code, const char *needle,
                                 const char *input, const char *file, int line) {
    int code_ok = (code == ANY_ERROR ? rc != UH_OK : rc == code) && err->code == rc;
    if (code_ok && (!needle || strstr(err->msg, needle))) return;
    if (input) print_error("%s:%d: input: %s\n", file, line, input);
    print_error("%s:%d: want code %d with \"%s\", got code %d (recorded %d): \"%s\"\n", file, line,
                code, needle ? needle : "", rc, err->code, err->msg);
    fail();
}

/* A backend file that must be refused with needle in the message. */
#define expect_bad_backend(text, needle) expect_bad_backend_at((text), (needle), __FILE__, __LINE__)

static inline void expect_bad_backend_at(const char *text, const char *needle, const char *file,
                                         int line) {
    uh_backend_t *b = NULL;
    uh_error_t err = {0};
    int rc = uh_backend_load_text(text, strlen(text), "test.json", &b, &err);
    expect_bad_at(rc, &err, ANY_ERROR, needle, text, file, line);
    assert_null(b);
}

/* ---- what a test cannot go on without --------------------------------------------------- */

/* A generator seeded with seed, so that a test reads `uh_rng_t rng = rng_seeded(5);`. */
static inline uh_rng_t rng_seeded(uint64_t seed) {
    uh_rng_t rng;
    uh_rng_seed(&rng, seed);
    return rng;
}

static inline void parse_arch(const char *json, uh_shape_t shape, uh_arch_t *a) {
    uh_error_t err = {0};
    if (uh_arch_parse(json, strlen(json), shape, a, &err)) fail_msg("arch: %s\n%s", err.msg, json);
}

/* One dense layer of units outputs on shape, with a tile hint and bits where they are not 0. */
static inline void parse_dense(int units, int tile, int bits, uh_shape_t shape, uh_arch_t *a) {
    char tile_key[32] = "", bits_key[32] = "", json[160];
    if (tile) snprintf(tile_key, sizeof tile_key, ",\"tile\":%d", tile);
    if (bits) snprintf(bits_key, sizeof bits_key, ",\"bits\":%d", bits);
    snprintf(json, sizeof json, "{\"layers\":[{\"type\":\"dense\",\"units\":%d%s%s}]}", units,
             tile_key, bits_key);
    parse_arch(json, shape, a);
}

/* The tiny dataset's training and test sets, which must load. */
static inline void load_tiny(uh_dataset_t **train, uh_dataset_t **test) {
    uh_data_opts_t opts = {0};
    uh_error_t err = {0};
    if (uh_dataset_load("tiny", &opts, train, test, &err)) fail_msg("tiny: %s", err.msg);
}

/* A backend by name or path (uh_backend_load's search: a shipped name is looked up under
 * $UHNAS_BACKENDS or the source tree). */
static inline uh_backend_t *load_backend(const char *name_or_path) {
    uh_backend_t *b = NULL;
    uh_error_t err = {0};
    if (uh_backend_load(name_or_path, &b, &err)) fail_msg("%s", err.msg);
    return b;
}

static inline uh_backend_t *load_backend_text(const char *text) {
    uh_backend_t *b = NULL;
    uh_error_t err = {0};
    if (uh_backend_load_text(text, strlen(text), "inline", &b, &err))
        fail_msg("%s\n%s", err.msg, text);
    return b;
}

/* The energy of a on b, which must be answered. */
static inline void energy_of(const uh_backend_t *b, const uh_arch_t *a, uh_energy_t *e) {
    uh_error_t err = {0};
    if (uh_backend_energy(b, a, e, &err)) fail_msg("energy: %s", err.msg);
}

/* The energy of the architecture json (on shape) on a backend by name or path; the backend,
 * for more questions (the caller frees it). */
static inline uh_backend_t *energy_on(const char *backend, const char *json, uh_shape_t shape,
                                      uh_energy_t *e) {
    uh_backend_t *b = load_backend(backend);
    uh_arch_t a;
    parse_arch(json, shape, &a);
    energy_of(b, &a, e);
    return b;
}

/* The 784 → 64 (relu) → 10 MLP with its layers' "bits" (0: none), parsed on shape. */
static inline void mlp_bits(uh_shape_t shape, int bits1, int bits2, uh_arch_t *a) {
    char json[256], b1[16] = "", b2[16] = "";
    if (bits1) snprintf(b1, sizeof b1, ",\"bits\":%d", bits1);
    if (bits2) snprintf(b2, sizeof b2, ",\"bits\":%d", bits2);
    snprintf(json, sizeof json,
             "{\"layers\":[{\"type\":\"dense\",\"units\":64,\"activation\":\"relu\"%s},"
             "{\"type\":\"dense\",\"units\":10%s}]}",
             b1, b2);
    parse_arch(json, shape, a);
}

/* The same, priced on b. */
static inline void mlp_bits_energy(const uh_backend_t *b, uh_shape_t shape, int bits1, int bits2,
                                   uh_arch_t *a, uh_energy_t *e) {
    mlp_bits(shape, bits1, bits2, a);
    energy_of(b, a, e);
}

/* The energy of one component of the network, or of one layer (0-based); -1 when absent. */
static inline double part(const uh_energy_t *e, const char *name) {
    for (int k = 0; k < e->n_parts; k++)
        if (!strcmp(e->parts[k].name, name)) return e->parts[k].nj;
    return -1;
}

static inline double layer_part(const uh_energy_t *e, int layer, const char *name) {
    const uh_energy_layer_t *l = &e->layers[layer];
    for (int k = 0; k < l->n_parts; k++)
        if (!strcmp(l->parts[k].name, name)) return l->parts[k].nj;
    return -1;
}

/* A simulation of a on b in mode, which must be built. */
static inline uh_backend_sim_t *new_sim(const uh_backend_t *b, const uh_arch_t *a,
                                        uh_sim_mode_t mode) {
    uh_backend_sim_t *sim = NULL;
    uh_error_t err = {0};
    if (uh_backend_sim_new(b, a, mode, &sim, &err)) fail_msg("sim: %s", err.msg);
    return sim;
}

/* A TRAIN simulation of a on b whose hook perturbs both weights and outputs. */
static inline const uh_noise_t *train_hook(const uh_backend_t *b, const uh_arch_t *a,
                                           uh_backend_sim_t **sim) {
    *sim = new_sim(b, a, UH_SIM_TRAIN);
    const uh_noise_t *hook = uh_backend_sim_hook(*sim);
    assert_non_null(hook);
    assert_non_null(hook->perturb_weights);
    assert_non_null(hook->perturb_outputs);
    return hook;
}

/* The RMS change the TRAIN hook of b makes to the n_w weights w0 of a's first layer (rows ×
 * cols), drawn from seed 1; 0 when the hook perturbs no weights. */
static inline double train_weight_rms(const uh_backend_t *b, const uh_arch_t *a, const float *w0,
                                      int rows, int cols) {
    uh_backend_sim_t *sim = new_sim(b, a, UH_SIM_TRAIN);
    const uh_noise_t *hook = uh_backend_sim_hook(sim);
    double rms = 0;
    if (hook && hook->perturb_weights) {
        size_t n = (size_t)rows * cols;
        float *w = malloc(n * sizeof *w);
        assert_non_null(w);
        memcpy(w, w0, n * sizeof *w);
        uh_rng_t rng = rng_seeded(1);
        hook->perturb_weights(hook->ctx, 0, w, rows, cols, &rng);
        double sq = 0;
        for (size_t i = 0; i < n; i++) sq += ((double)w[i] - w0[i]) * ((double)w[i] - w0[i]);
        rms = sqrt(sq / n);
        free(w);
    }
    uh_backend_sim_free(sim);
    return rms;
}

/* The RMS error the hook's output conversion (layer 0) adds to 20000 draws of N(0, 1) from
 * seed, and their full scale max |z|; with_rng: the hook draws its noise from the same
 * generator, else it gets none. */
static inline double output_error_rms(const uh_noise_t *hook, uint64_t seed, int with_rng,
                                      double *fs) {
    enum { COUNT = 20000 };
    static float z[COUNT], z0[COUNT];
    assert_non_null(hook->perturb_outputs);
    uh_rng_t rng = rng_seeded(seed);
    *fs = 0;
    for (int j = 0; j < COUNT; j++) {
        z[j] = z0[j] = (float)uh_rng_normal(&rng);
        *fs = fmax(*fs, fabs(z[j]));
    }
    hook->perturb_outputs(hook->ctx, 0, z, COUNT, with_rng ? &rng : NULL);
    double sq = 0;
    for (int j = 0; j < COUNT; j++) sq += (z[j] - z0[j]) * (double)(z[j] - z0[j]);
    return sqrt(sq / COUNT);
}

/* samples hardware draws of net on b from seed, which must be answered. */
static inline uh_mc_result_t evaluate(const uh_backend_t *b, uh_net_t *net,
                                      const uh_dataset_t *test, int samples, uint64_t seed) {
    uh_mc_result_t r;
    uh_error_t err = {0};
    if (uh_backend_evaluate(b, net, test, samples, seed, &r, &err)) fail_msg("%s", err.msg);
    return r;
}

/* Monte Carlo on b is seeded: the same seed replays the same samples, another draws others. */
static inline void assert_mc_seeded(const uh_backend_t *b, uh_net_t *net, const uh_dataset_t *test,
                                    int samples) {
    uh_mc_result_t r1 = evaluate(b, net, test, samples, 1234),
                   r2 = evaluate(b, net, test, samples, 1234),
                   r3 = evaluate(b, net, test, samples, 4321);
    assert_true(r1.noisy_accuracy == r2.noisy_accuracy && r1.noisy_std == r2.noisy_std);
    assert_true(r1.noisy_accuracy != r3.noisy_accuracy || r1.noisy_std != r3.noisy_std);
}

/* max |x − y| over max |y| */
static inline double max_rel_diff(const float *x, const float *y, size_t n) {
    double scale = 0, diff = 0;
    for (size_t i = 0; i < n; i++) {
        scale = fmax(scale, fabs(y[i]));
        diff = fmax(diff, fabs((double)x[i] - y[i]));
    }
    return diff / scale;
}

/* A search small enough for a test: strategy s on the tiny dataset, one epoch in batches of 32
 * and one Monte Carlo sample, with the population, children and generations given. */
static inline void small_config(uh_search_config_t *cfg, uh_strategy_t s, int population,
                                int children, int generations) {
    uh_search_config_default(cfg);
    cfg->strategy = s;
    cfg->population = population;
    cfg->children = children;
    cfg->generations = generations;
    cfg->train.epochs = 1;
    cfg->train.batch = 32;
    cfg->mc = 1;
    snprintf(cfg->dataset, sizeof cfg->dataset, "tiny");
}

/* A new run directory tmp_dir()/name whose store holds cfg, as a search on backend writes it. */
static inline uh_store_t *create_run(const char *name, const uh_search_config_t *cfg,
                                     const char *backend) {
    uh_backend_t *b = load_backend(backend);
    char *json = uh_search_config_json(cfg, b);
    uh_backend_free(b);
    assert_non_null(json);
    char dir[256];
    tmp_pathf(dir, sizeof dir, "%s", name);
    uh_store_t *store;
    uh_error_t err = {0};
    if (uh_store_create(dir, json, 0, &store, &err)) fail_msg("%s", err.msg);
    free(json);
    return store;
}

#endif
