/* The run store on real SQLite files: round trips of every field, refusals of files that are
 * not ours (each left byte-identical), the CSV export read back, and a writer killed with
 * SIGKILL mid-run. */
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "uhnas/store.h"

/* fixture: a fresh scratch directory per test, removed afterwards */

typedef struct {
    char root[64]; /* the mkdtemp directory */
    char run[96];  /* root/run: where most tests keep their store */
} fixture_t;

static int setup(void **state) {
    fixture_t *f = calloc(1, sizeof *f);
    if (!f) return -1;
    if (temp_dir_new(f->root, sizeof f->root)) {
        free(f);
        return -1;
    }
    snprintf(f->run, sizeof f->run, "%s/run", f->root);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    remove_tree(f->root);
    free(f);
    return 0;
}

/* helpers */

#define CHECK_OK(call)                                                                             \
    do {                                                                                           \
        uh_error_t e_ = {0};                                                                       \
        int rc_ = (call);                                                                          \
        if (rc_ != UH_OK) fail_msg("%s -> %d: %s", #call, rc_, e_.msg);                            \
    } while (0)

static uh_store_t *create_store(const char *dir, const char *config) {
    uh_store_t *s = NULL;
    uh_error_t err = {0};
    int rc = uh_store_create(dir, config, 0, &s, &err);
    if (rc) fail_msg("create %s: %s", dir, err.msg);
    return s;
}

static uh_store_t *open_store(const char *dir) {
    uh_store_t *s = NULL;
    uh_error_t err = {0};
    int rc = uh_store_open(dir, &s, &err);
    if (rc) fail_msg("open %s: %s", dir, err.msg);
    return s;
}

/* s holds want candidates. */
static void assert_count(uh_store_t *s, int64_t want) {
    int64_t n = -1;
    CHECK_OK(uh_store_count(s, &n, &e_));
    assert_int_equal(n, want);
}

/* Candidate number i, every field derived from i. */
static void make_candidate(int i, uh_candidate_t *c) {
    memset(c, 0, sizeof *c);
    c->generation = i / 10;
    snprintf(c->origin, sizeof c->origin, "%s", i % 3 ? "mutate" : "sample");
    snprintf(c->arch, sizeof c->arch,
             "{\"layers\":[{\"type\":\"dense\",\"units\":%d},{\"type\":\"dense\",\"units\":10}]}",
             16 + i);
    snprintf(c->hash, sizeof c->hash, "c%08dX", i);
    c->accuracy = 0.5 + i * 1e-3;
    c->noisy_accuracy = i % 4 ? 0.4 + i * 1e-3 : NAN;
    c->noisy_accuracy_std = 1.0 / (i + 3);
    c->energy_nj = 1e3 * (i + 1) / 7.0;
    c->latency_ns = 1e4 * (i + 1) / 3.0;
    c->area_mm2 = i % 5 ? 0.5 * i + 0.1 : NAN; /* not modelled */
    c->params = 1000L + i;
    c->macs = i % 5 ? 2000L * i : -1;
    c->train_seconds = 0.1 * i;
    c->epochs_trained = i % 3 == 2 ? -1 : i % 11; /* −1: not recorded */
    c->status = i % 7 == 6 ? UH_CAND_FAILED : i % 7 == 5 ? UH_CAND_PRUNED : UH_CAND_OK;
    if (c->status == UH_CAND_FAILED) snprintf(c->message, sizeof c->message, "diverged at %d", i);
    c->seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
    c->n_parents = i % 4 == 3 ? -1 : i % 3; /* −1: not recorded */
    for (int k = 0; k < c->n_parents; k++) c->parents[k] = i % 2 ? INT64_MAX - k : 1 + 7 * k;
}

/* A new store in the fixture's run directory, holding candidate number i (into c). */
static uh_store_t *store_with_candidate(const fixture_t *f, int i, uh_candidate_t *c) {
    uh_store_t *s = create_store(f->run, "{}");
    make_candidate(i, c);
    CHECK_OK(uh_store_add_candidate(s, c, NULL, &e_));
    return s;
}

static int same_double(double a, double b) {
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

/* Every field but id and created_at. */
static void assert_same_candidate(const uh_candidate_t *want, const uh_candidate_t *got) {
    assert_int_equal(got->generation, want->generation);
    assert_string_equal(got->origin, want->origin);
    assert_string_equal(got->arch, want->arch);
    assert_string_equal(got->hash, want->hash);
    assert_true(same_double(got->accuracy, want->accuracy));
    assert_true(same_double(got->noisy_accuracy, want->noisy_accuracy));
    assert_true(same_double(got->noisy_accuracy_std, want->noisy_accuracy_std));
    assert_true(same_double(got->energy_nj, want->energy_nj));
    assert_true(same_double(got->latency_ns, want->latency_ns));
    assert_true(same_double(got->area_mm2, want->area_mm2));
    assert_int_equal(got->params, want->params);
    assert_int_equal(got->macs, want->macs);
    assert_true(same_double(got->train_seconds, want->train_seconds));
    assert_int_equal(got->epochs_trained, want->epochs_trained);
    assert_int_equal(got->status, want->status);
    assert_string_equal(got->message, want->message);
    assert_true(got->seed == want->seed);
    assert_int_equal(got->n_parents, want->n_parents);
    for (int k = 0; k < want->n_parents; k++) assert_true(got->parents[k] == want->parents[k]);
}

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" */
static void assert_timestamp(const char *t) {
    assert_int_equal(strlen(t), 24);
    const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    for (int i = 0; i < 24; i++) {
        if (shape[i] == 'd')
            assert_true(t[i] >= '0' && t[i] <= '9');
        else
            assert_int_equal(t[i], shape[i]);
    }
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    if (!fp) fail_msg("%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    unsigned char *buf = malloc(cap);
    assert_non_null(buf);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len, fp)) > 0) {
        len += got;
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(fp);
    *n = len;
    return buf;
}

/* The CSV export of s (the candidates with the n given hashes, or all when n is 0) to the
 * file out, read back as a string. */
static char *export_text(uh_store_t *s, const char *out, const char *const *hashes, size_t n) {
    CHECK_OK(uh_store_export_csv(s, out, hashes, n, &e_));
    size_t len;
    char *text = (char *)slurp(out, &len);
    text = realloc(text, len + 1);
    assert_non_null(text);
    text[len] = '\0';
    return text;
}

static void spit(const char *path, const void *data, size_t n) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

static int exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Runs SQL on a file with a plain SQLite connection (for building hostile files). */
static void raw_sql(const char *path, const char *sql) {
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) fail_msg("%s: %s", sql, msg);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* Flips one byte of every stored weights blob, leaving its checksum as it was. */
static void flip_weights_byte(const char *path, size_t at) {
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *rd, *wr;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT hash, data FROM weights", -1, &rd, NULL),
                     SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "UPDATE weights SET data = ?1 WHERE hash = ?2", -1, &wr, NULL),
        SQLITE_OK);
    while (sqlite3_step(rd) == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(rd, 1);
        assert_true(at < n);
        unsigned char *b = malloc(n);
        assert_non_null(b);
        memcpy(b, sqlite3_column_blob(rd, 1), n);
        b[at] ^= 0x10;
        sqlite3_bind_blob(wr, 1, b, (int)n, SQLITE_TRANSIENT);
        sqlite3_bind_text(wr, 2, (const char *)sqlite3_column_text(rd, 0), -1, SQLITE_TRANSIENT);
        assert_int_equal(sqlite3_step(wr), SQLITE_DONE);
        sqlite3_reset(wr);
        free(b);
    }
    sqlite3_finalize(rd);
    sqlite3_finalize(wr);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static uint64_t xorshift(uint64_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* tests */

static void test_create_open_round_trip(void **state) {
    fixture_t *f = *state;
    const char *config = "{\"backend\":{\"name\":\"mzi \\\"x\\\"\",\"loss_db\":0.25},\"µ\":1}";
    uh_store_t *s = create_store(f->run, config);
    assert_string_equal(uh_store_config(s), config);
    char want_path[160];
    snprintf(want_path, sizeof want_path, "%s/%s", f->run, UH_STORE_FILE);
    assert_string_equal(uh_store_path(s), want_path);

    uh_candidate_t c;
    make_candidate(6, &c); /* a failed one, with a message */
    c.accuracy = NAN;
    c.energy_nj = INFINITY;
    c.seed = UINT64_MAX;
    c.params = -1;
    c.id = 0; /* the next free id */
    int64_t id = 0;
    CHECK_OK(uh_store_add_candidate(s, &c, &id, &e_));
    assert_int_equal(id, 1);
    uh_candidate_t d;
    make_candidate(7, &d);
    d.seed = 0;
    CHECK_OK(uh_store_add_candidate(s, &d, &id, &e_));
    assert_int_equal(id, 2);
    uh_store_close(s);

    /* Only the store remains: no temporary file, no log after a clean close. */
    DIR *dir = opendir(f->run);
    assert_non_null(dir);
    struct dirent *e;
    while ((e = readdir(dir)))
        if (e->d_name[0] != '.') assert_string_equal(e->d_name, UH_STORE_FILE);
    closedir(dir);

    s = open_store(f->run);
    assert_string_equal(uh_store_config(s), config);
    uh_candidate_t got;
    int found = 0;
    CHECK_OK(uh_store_find_hash(s, c.hash, &got, &found, &e_));
    assert_true(found);
    assert_int_equal(got.id, 1);
    assert_same_candidate(&c, &got);
    assert_true(isnan(got.accuracy));
    assert_true(isinf(got.energy_nj));
    assert_true(got.seed == UINT64_MAX);
    assert_int_equal(got.status, UH_CAND_FAILED);
    assert_string_equal(got.message, "diverged at 6");
    assert_timestamp(got.created_at);
    CHECK_OK(uh_store_find_hash(s, d.hash, &got, &found, &e_));
    assert_same_candidate(&d, &got);
    assert_true(got.seed == 0);
    CHECK_OK(uh_store_check(s, &e_));
    uh_store_close(s);

    /* The file is ours in SQLite's terms too: application_id, user_version, WAL, NULL. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(want_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT (SELECT application_id FROM pragma_application_id),"
                                        " (SELECT user_version FROM pragma_user_version),"
                                        " (SELECT journal_mode FROM pragma_journal_mode),"
                                        " typeof(accuracy), seed FROM candidates WHERE id = 1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int64(st, 0), UH_STORE_APP_ID);
    assert_int_equal(sqlite3_column_int(st, 1), UH_STORE_SCHEMA_VERSION);
    assert_string_equal((const char *)sqlite3_column_text(st, 2), "wal");
    assert_string_equal((const char *)sqlite3_column_text(st, 3), "null");
    assert_int_equal(sqlite3_column_int64(st, 4), -1); /* 2^64-1 as its bit pattern */
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* One process at a time runs a search: a second claim is refused until the first closes. */
static void test_run_lock(void **state) {
    fixture_t *f = *state;
    uh_store_t *a = create_store(f->run, "{}"), *b = open_store(f->run);
    uh_error_t err = {0};
    CHECK_OK(uh_store_lock_run(a, &e_));
    CHECK_OK(uh_store_lock_run(a, &e_)); /* again by its holder: fine */
    expect_bad(uh_store_lock_run(b, &err), &err, UH_EINVAL, "another uhnas process");
    uh_store_close(a);
    CHECK_OK(uh_store_lock_run(b, &e_));
    uh_store_close(b);
}

/* A hash is stored once; ids follow in order, and an explicit one is kept unless taken. */
static void test_duplicate_hash_refused(void **state) {
    uh_candidate_t c;
    uh_store_t *s = store_with_candidate(*state, 1, &c);
    uh_error_t err = {0};
    int64_t id = -5;
    expect_bad(uh_store_add_candidate(s, &c, &id, &err), &err, UH_EINVAL, "already stored");
    assert_int_equal(id, -5);
    assert_count(s, 1);
    /* The next row still gets the next id. */
    make_candidate(2, &c);
    CHECK_OK(uh_store_add_candidate(s, &c, &id, &e_));
    assert_int_equal(id, 2);
    /* An explicit id is kept, whatever order rows arrive in; a taken one is refused. */
    make_candidate(3, &c);
    c.id = 7;
    CHECK_OK(uh_store_add_candidate(s, &c, &id, &e_));
    assert_int_equal(id, 7);
    make_candidate(4, &c);
    c.id = 2;
    expect_bad(uh_store_add_candidate(s, &c, &id, &err), &err, UH_EINVAL, "id 2 is already taken");
    assert_count(s, 3);
    uh_store_close(s);
}

static void test_find_hash(void **state) {
    uh_candidate_t c, got;
    uh_store_t *s = store_with_candidate(*state, 3, &c);
    int found = -1;
    CHECK_OK(uh_store_find_hash(s, c.hash, NULL, &found, &e_));
    assert_int_equal(found, 1);
    CHECK_OK(uh_store_find_hash(s, "nothere", &got, &found, &e_));
    assert_int_equal(found, 0);
    uh_error_t err = {0};
    expect_bad(uh_store_find_hash(s, "bad hash", &got, &found, &err), &err, UH_EINVAL,
               "not [0-9A-Za-z]");
    expect_bad(uh_store_find_hash(s, "", &got, &found, &err), &err, UH_EINVAL, "empty");
    char long_hash[UH_STORE_HASH_MAX + 2];
    memset(long_hash, 'a', sizeof long_hash - 1);
    long_hash[sizeof long_hash - 1] = '\0';
    expect_bad(uh_store_find_hash(s, long_hash, &got, &found, &err), &err, UH_ELIMIT,
               "longer than");
    assert_string_equal(uh_cand_status_name(UH_CAND_OK), "ok");
    assert_string_equal(uh_cand_status_name(UH_CAND_FAILED), "failed");
    assert_string_equal(uh_cand_status_name(UH_CAND_INVALID), "invalid");
    uh_store_close(s);
}

static void test_candidates_in_order(void **state) {
    fixture_t *f = *state;
    uh_store_t *s = create_store(f->run, "{}");
    uh_candidate_t *rows = NULL;
    size_t n = 99;
    CHECK_OK(uh_store_candidates(s, &rows, &n, &e_));
    assert_int_equal(n, 0);
    uh_store_free_candidates(rows);
    /* Added out of generation and hash order: the store keeps commitment order. */
    int order[] = {40, 3, 25, 7, 11, 0};
    for (int i = 0; i < 6; i++) {
        uh_candidate_t c;
        make_candidate(order[i], &c);
        if (i == 5) c.status = UH_CAND_INVALID;
        CHECK_OK(uh_store_add_candidate(s, &c, NULL, &e_));
    }
    CHECK_OK(uh_store_candidates(s, &rows, &n, &e_));
    assert_int_equal(n, 6);
    for (int i = 0; i < 6; i++) {
        uh_candidate_t want;
        make_candidate(order[i], &want);
        if (i == 5) want.status = UH_CAND_INVALID;
        assert_int_equal(rows[i].id, i + 1);
        assert_same_candidate(&want, &rows[i]);
        assert_timestamp(rows[i].created_at);
        if (i > 0) assert_true(strcmp(rows[i - 1].created_at, rows[i].created_at) <= 0);
    }
    uh_store_free_candidates(rows);
    assert_count(s, 6);
    uh_store_close(s);
}

static void test_generations(void **state) {
    fixture_t *f = *state;
    uh_store_t *s = create_store(f->run, "{}");
    int g = 7;
    CHECK_OK(uh_store_latest_generation(s, &g, &e_));
    assert_int_equal(g, -1);
    uh_gen_metrics_t m0 = {0.25, NAN, 3}, m1 = {0.5, 0.125, 4}, m3 = {1e-300, 2.5, 9};
    CHECK_OK(uh_store_put_generation(s, 0, "{\"g\":0}", &m0, &e_));
    CHECK_OK(uh_store_put_generation(s, 3, "{\"g\":3}", &m3, &e_));
    CHECK_OK(uh_store_put_generation(s, 1, "{\"g\":1}", &m1, &e_));
    CHECK_OK(uh_store_latest_generation(s, &g, &e_));
    assert_int_equal(g, 3);
    /* Replace generation 1. */
    uh_gen_metrics_t m1b = {0.75, 0.5, 5};
    CHECK_OK(uh_store_put_generation(s, 1, "{\"g\":1,\"again\":true}", &m1b, &e_));
    uh_store_close(s);

    s = open_store(f->run);
    char *json = NULL;
    uh_gen_metrics_t got;
    CHECK_OK(uh_store_get_generation(s, 1, &json, &got, &e_));
    assert_string_equal(json, "{\"g\":1,\"again\":true}");
    assert_true(got.hypervolume == 0.75 && got.diversity == 0.5 && got.front_size == 5);
    free(json);
    CHECK_OK(uh_store_get_generation(s, 0, &json, &got, &e_));
    assert_string_equal(json, "{\"g\":0}");
    assert_true(got.hypervolume == 0.25 && isnan(got.diversity) && got.front_size == 3);
    free(json);
    CHECK_OK(uh_store_get_generation(s, 3, &json, NULL, &e_));
    assert_string_equal(json, "{\"g\":3}");
    free(json);
    /* Metrics may be left out: NaN, front size 0. */
    CHECK_OK(uh_store_put_generation(s, 4, "{}", NULL, &e_));
    CHECK_OK(uh_store_get_generation(s, 4, &json, &got, &e_));
    assert_true(isnan(got.hypervolume) && isnan(got.diversity) && got.front_size == 0);
    free(json);
    uh_error_t err = {0};
    json = (char *)1;
    expect_bad(uh_store_get_generation(s, 2, &json, &got, &err), &err, UH_ENOTFOUND,
               "generation 2 is not stored");
    assert_null(json);
    expect_bad(uh_store_put_generation(s, -1, "{}", NULL, &err), &err, UH_EINVAL, "negative");
    CHECK_OK(uh_store_latest_generation(s, &g, &e_));
    assert_int_equal(g, 4);
    uh_store_close(s);
}

static void test_meta(void **state) {
    fixture_t *f = *state;
    uh_store_t *s = create_store(f->run, "{}");
    CHECK_OK(uh_store_put_meta(s, "llm.tokens", "1234", &e_));
    CHECK_OK(uh_store_put_meta(s, "llm.model", "x", &e_));
    CHECK_OK(uh_store_put_meta(s, "llm.model", "gpt \"quoted\"\n", &e_));
    CHECK_OK(uh_store_put_meta(s, "empty", "", &e_));
    uh_store_close(s);
    s = open_store(f->run);
    char *v = NULL;
    CHECK_OK(uh_store_get_meta(s, "llm.model", &v, &e_));
    assert_string_equal(v, "gpt \"quoted\"\n");
    free(v);
    CHECK_OK(uh_store_get_meta(s, "llm.tokens", &v, &e_));
    assert_string_equal(v, "1234");
    free(v);
    CHECK_OK(uh_store_get_meta(s, "empty", &v, &e_));
    assert_string_equal(v, "");
    free(v);
    uh_error_t err = {0};
    expect_bad(uh_store_get_meta(s, "absent", &v, &err), &err, UH_ENOTFOUND, "absent");
    assert_null(v);
    expect_bad(uh_store_put_meta(s, "", "x", &err), &err, UH_EINVAL, "key is empty");
    char key[UH_STORE_KEY_MAX + 2];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    expect_bad(uh_store_put_meta(s, key, "x", &err), &err, UH_ELIMIT, "longer than");
    key[UH_STORE_KEY_MAX] = '\0'; /* exactly at the limit: fine */
    CHECK_OK(uh_store_put_meta(s, key, "at the limit", &e_));
    uh_store_close(s);
}

static void test_test_results(void **state) {
    fixture_t *f = *state;
    uh_candidate_t c;
    uh_store_t *s = store_with_candidate(f, 5, &c);
    uh_test_result_t r = {0.9875, 0.9, NAN, 20}, got;
    CHECK_OK(uh_store_put_test_result(s, c.hash, &r, &e_));
    uh_error_t err = {0};
    expect_bad(uh_store_get_test_result(s, "c00000001X", &got, &err), &err, UH_ENOTFOUND,
               "no test result");
    expect_bad(uh_store_put_test_result(s, "unknown", &r, &err), &err, UH_ENOTFOUND, "not stored");
    uh_store_close(s);
    s = open_store(f->run);
    CHECK_OK(uh_store_get_test_result(s, c.hash, &got, &e_));
    assert_true(got.accuracy == 0.9875 && got.noisy_accuracy == 0.9);
    assert_true(isnan(got.noisy_accuracy_std));
    assert_int_equal(got.mc, 20);
    r.mc = 50;
    CHECK_OK(uh_store_put_test_result(s, c.hash, &r, &e_));
    CHECK_OK(uh_store_get_test_result(s, c.hash, &got, &e_));
    assert_int_equal(got.mc, 50);
    CHECK_OK(uh_store_check(s, &e_));
    uh_store_close(s);
}

static void test_weights(void **state) {
    fixture_t *f = *state;
    uh_candidate_t c;
    uh_store_t *s = store_with_candidate(f, 8, &c);
    size_t n = 10007;
    float *w = malloc(n * sizeof *w);
    assert_non_null(w);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)xorshift(&x);
        memcpy(&w[i], &u, 4); /* any bit pattern: NaNs, denormals, -0 */
    }
    w[0] = -0.0f;
    w[1] = 1e-45f;
    CHECK_OK(uh_store_put_weights(s, c.hash, w, n, &e_));
    uh_error_t err = {0};
    expect_bad(uh_store_put_weights(s, "unknown", w, n, &err), &err, UH_ENOTFOUND, "not stored");
    expect_bad(uh_store_put_weights(s, c.hash, w, (size_t)UH_STORE_MAX_WEIGHTS + 1, &err), &err,
               UH_ELIMIT, "over the limit");
    expect_bad(uh_store_put_weights(s, c.hash, w, 0, &err), &err, UH_EINVAL, "no weights");
    uh_store_close(s);

    s = open_store(f->run);
    float *got = NULL;
    size_t got_n = 0;
    CHECK_OK(uh_store_get_weights(s, c.hash, &got, &got_n, &e_));
    assert_int_equal(got_n, n);
    assert_memory_equal(got, w, n * sizeof *w);
    free(got);
    expect_bad(uh_store_get_weights(s, "c00000001X", &got, &got_n, &err), &err, UH_ENOTFOUND,
               "no weights");
    /* Replacing keeps one row. */
    CHECK_OK(uh_store_put_weights(s, c.hash, w, 3, &e_));
    CHECK_OK(uh_store_get_weights(s, c.hash, &got, &got_n, &e_));
    assert_int_equal(got_n, 3);
    assert_memory_equal(got, w, 3 * sizeof *w);
    free(got);
    CHECK_OK(uh_store_put_weights(s, c.hash, w, n, &e_));
    uh_store_close(s);

    /* Flip one byte of the stored blob behind the store's back. */
    char path[160];
    snprintf(path, sizeof path, "%s/%s", f->run, UH_STORE_FILE);
    flip_weights_byte(path, 4000);
    s = open_store(f->run);
    got = (float *)1;
    expect_bad(uh_store_get_weights(s, c.hash, &got, &got_n, &err), &err, UH_EFORMAT, "corrupt");
    assert_null(got);
    uh_store_close(s);
    /* A blob whose length does not match its count. */
    raw_sql(path, "UPDATE weights SET data = substr(data, 1, 400)");
    s = open_store(f->run);
    expect_bad(uh_store_get_weights(s, c.hash, &got, &got_n, &err), &err, UH_EFORMAT,
               "bytes of data");
    uh_store_close(s);
    free(w);
}

static void test_transactions(void **state) {
    fixture_t *f = *state;
    uh_store_t *s = create_store(f->run, "{}");
    uh_error_t err = {0};
    expect_bad(uh_store_commit(s, &err), &err, UH_EINVAL, "without a transaction");
    uh_store_rollback(s); /* no-op */
    uh_candidate_t c;
    CHECK_OK(uh_store_begin(s, &e_));
    expect_bad(uh_store_begin(s, &err), &err, UH_EINVAL, "already open");
    make_candidate(1, &c);
    CHECK_OK(uh_store_add_candidate(s, &c, NULL, &e_));
    make_candidate(2, &c);
    CHECK_OK(uh_store_add_candidate(s, &c, NULL, &e_));
    CHECK_OK(uh_store_put_meta(s, "k", "rolled back", &e_));
    uh_store_rollback(s);
    assert_count(s, 0);
    char *v = NULL;
    expect_bad(uh_store_get_meta(s, "k", &v, &err), &err, UH_ENOTFOUND, "not stored");

    /* A generation's state with its meta, as one commit; a refused duplicate inside does not
     * undo the rest. */
    CHECK_OK(uh_store_begin(s, &e_));
    make_candidate(3, &c);
    CHECK_OK(uh_store_add_candidate(s, &c, NULL, &e_));
    expect_bad(uh_store_add_candidate(s, &c, NULL, &err), &err, UH_EINVAL, "already stored");
    CHECK_OK(uh_store_put_generation(s, 0, "{\"pop\":[]}", NULL, &e_));
    CHECK_OK(uh_store_put_meta(s, "k", "kept", &e_));
    CHECK_OK(uh_store_commit(s, &e_));
    uh_store_rollback(s); /* no-op again */
    uh_store_close(s);

    s = open_store(f->run);
    assert_count(s, 1);
    CHECK_OK(uh_store_get_meta(s, "k", &v, &e_));
    assert_string_equal(v, "kept");
    free(v);
    int g;
    CHECK_OK(uh_store_latest_generation(s, &g, &e_));
    assert_int_equal(g, 0);
    /* Closing inside a transaction rolls it back. */
    CHECK_OK(uh_store_begin(s, &e_));
    make_candidate(4, &c);
    CHECK_OK(uh_store_add_candidate(s, &c, NULL, &e_));
    uh_store_close(s);
    s = open_store(f->run);
    assert_count(s, 1);
    uh_store_close(s);
}

/* open refusals: each file is left exactly as it was, with no side files */

static void expect_refused(const char *dir, int code, const char *needle) {
    char path[512], side[600];
    snprintf(path, sizeof path, "%s/%s", dir, UH_STORE_FILE);
    size_t n0 = 0;
    unsigned char *before = exists(path) ? slurp(path, &n0) : NULL;
    uh_store_t *s = (uh_store_t *)1;
    uh_error_t err = {0};
    expect_bad(uh_store_open(dir, &s, &err), &err, code, needle);
    assert_null(s);
    if (before) {
        size_t n1 = 0;
        unsigned char *after = slurp(path, &n1);
        assert_int_equal(n1, n0);
        assert_memory_equal(after, before, n0);
        free(after);
        free(before);
        /* A name in the message: the file's path. */
        assert_non_null(strstr(err.msg, path));
    }
    static const char *const suffixes[] = {"-wal", "-shm", "-journal"};
    for (int i = 0; i < 3; i++) {
        snprintf(side, sizeof side, "%s%s", path, suffixes[i]);
        assert_false(exists(side));
    }
}

/* A new directory root/name into dir (256 bytes), the path of a store file in it into path
 * (512 bytes). */
static void file_dir(const fixture_t *f, const char *name, char *dir, char *path) {
    snprintf(dir, 256, "%s/%s", f->root, name);
    assert_int_equal(mkdir(dir, 0777), 0);
    snprintf(path, 512, "%s/%s", dir, UH_STORE_FILE);
}

static void test_open_refuses(void **state) {
    fixture_t *f = *state;
    char dir[256], path[512];

    snprintf(dir, sizeof dir, "%s/missing/run", f->root);
    expect_refused(dir, UH_ENOTFOUND, "no such run directory");
    assert_false(exists(dir));

    file_dir(f, "empty_dir", dir, path);
    expect_refused(dir, UH_ENOTFOUND, "no run store here");
    assert_false(exists(path));

    file_dir(f, "text", dir, path);
    const char *text = "id,accuracy\n1,0.5\n";
    spit(path, text, strlen(text));
    expect_refused(dir, UH_EFORMAT, "not an SQLite database");

    file_dir(f, "zero", dir, path);
    spit(path, "", 0);
    expect_refused(dir, UH_EFORMAT, "empty");

    file_dir(f, "random", dir, path);
    unsigned char noise[16384];
    uint64_t x = 0x243f6a8885a308d3ull;
    for (size_t i = 0; i < sizeof noise; i++) noise[i] = (unsigned char)xorshift(&x);
    spit(path, noise, sizeof noise);
    expect_refused(dir, UH_EFORMAT, "not an SQLite database");

    /* Another program's database: a plain one (application_id 0) and one with its own id;
     * and our identity on a database without our tables. */
    static const struct {
        const char *name, *sql, *needle;
    } foreign[] = {
        {"foreign0", "CREATE TABLE t(x); INSERT INTO t VALUES (1);",
         "application_id is 0x00000000"},
        {"foreign1",
         "PRAGMA journal_mode = WAL; PRAGMA application_id = 305419896;"
         "CREATE TABLE candidates(x);",
         "application_id is 0x12345678"},
        {"no_tables",
         "PRAGMA application_id = 1969770049; PRAGMA user_version = 1;"
         "CREATE TABLE run(id INTEGER PRIMARY KEY, config TEXT);",
         "table run lacks column uhnas_version"},
    };
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++) {
        file_dir(f, foreign[i].name, dir, path);
        raw_sql(path, foreign[i].sql);
        expect_refused(dir, UH_EFORMAT, foreign[i].needle);
    }

    /* Ours, but from a newer (or unknown) schema. */
    file_dir(f, "newer", dir, path);
    uh_store_close(create_store(dir, "{}"));
    raw_sql(path, "PRAGMA user_version = 5");
    expect_refused(dir, UH_EFORMAT, "schema version 5 is newer");
    raw_sql(path, "PRAGMA user_version = 0");
    expect_refused(dir, UH_EFORMAT, "unknown schema version 0");

    /* A real store, cut short. */
    file_dir(f, "truncated", dir, path);
    uh_store_t *s = create_store(dir, "{}");
    CHECK_OK(uh_store_begin(s, &e_));
    for (int i = 0; i < 300; i++) {
        uh_candidate_t c;
        make_candidate(i, &c);
        memset(c.message, 'm', 400);
        CHECK_OK(uh_store_add_candidate(s, &c, NULL, &e_));
    }
    CHECK_OK(uh_store_commit(s, &e_));
    uh_store_close(s);
    size_t n = 0;
    unsigned char *whole = slurp(path, &n);
    assert_true(n > 16 * 4096);
    spit(path, whole, n / 2);
    expect_refused(dir, UH_EFORMAT, "truncated");
    spit(path, whole, 100 + 37); /* not even one page */
    expect_refused(dir, UH_EFORMAT, "truncated");

    /* Our header, then garbage: the pages are caught by SQLite's checks. */
    memcpy(whole + 4096, noise, 4096);
    memcpy(whole + 3 * 4096, noise + 4096, 4096 * 3);
    spit(path, whole, n);
    expect_refused(dir, UH_EFORMAT, "corrupt");
    free(whole);
}

static void test_replace_flag(void **state) {
    fixture_t *f = *state;
    uh_store_t *s = create_store(f->run, "{\"first\":1}");
    uh_candidate_t c;
    make_candidate(1, &c);
    CHECK_OK(uh_store_add_candidate(s, &c, NULL, &e_));
    uh_store_close(s);

    char path[160];
    snprintf(path, sizeof path, "%s/%s", f->run, UH_STORE_FILE);
    size_t n0, n1;
    unsigned char *before = slurp(path, &n0);
    uh_error_t err = {0};
    s = (uh_store_t *)1;
    expect_bad(uh_store_create(f->run, "{\"second\":2}", 0, &s, &err), &err, UH_EINVAL,
               "already holds a run");
    assert_null(s);
    unsigned char *after = slurp(path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(before);
    free(after);

    /* A stale log beside the name must not be read as part of the new file. */
    char wal[200];
    snprintf(wal, sizeof wal, "%s-wal", path);
    spit(wal, "stale", 5);
    CHECK_OK(uh_store_create(f->run, "{\"second\":2}", UH_STORE_REPLACE, &s, &e_));
    assert_string_equal(uh_store_config(s), "{\"second\":2}");
    assert_count(s, 0);
    CHECK_OK(uh_store_add_candidate(s, &c, NULL, &e_));
    uh_store_close(s);
    s = open_store(f->run);
    assert_count(s, 1);
    uh_store_close(s);

    /* Missing parents are created; a config over the limit is refused. */
    char deep[200];
    snprintf(deep, sizeof deep, "%s/a/b/c", f->root);
    uh_store_close(create_store(deep, "{}"));
    expect_bad(uh_store_create(f->root, "{}", 0x10, &s, &err), &err, UH_EINVAL, "unknown flags");
}

/* CSV: a small RFC 4180 reader */

#define CSV_MAX_ROWS 16
#define CSV_MAX_FIELDS 24

typedef struct {
    int n_rows;
    int n_fields[CSV_MAX_ROWS];
    char *field[CSV_MAX_ROWS][CSV_MAX_FIELDS];
} csv_t;

static void csv_parse(const char *s, csv_t *csv) {
    memset(csv, 0, sizeof *csv);
    size_t len = strlen(s);
    char *buf = malloc(len + 1);
    assert_non_null(buf);
    while (*s) {
        assert_true(csv->n_rows < CSV_MAX_ROWS);
        int r = csv->n_rows++;
        for (;;) {
            size_t k = 0;
            if (*s == '"') {
                s++;
                for (;;) {
                    assert_true(*s != '\0'); /* an unterminated quote */
                    if (*s == '"' && s[1] == '"') {
                        buf[k++] = '"';
                        s += 2;
                    } else if (*s == '"') {
                        s++;
                        break;
                    } else {
                        buf[k++] = *s++;
                    }
                }
            } else {
                while (*s && *s != ',' && *s != '\r' && *s != '\n') {
                    assert_true(*s != '"'); /* a bare quote in an unquoted field */
                    buf[k++] = *s++;
                }
            }
            buf[k] = '\0';
            assert_true(csv->n_fields[r] < CSV_MAX_FIELDS);
            csv->field[r][csv->n_fields[r]++] = strdup(buf);
            if (*s == ',') {
                s++;
                continue;
            }
            assert_true(s[0] == '\r' && s[1] == '\n'); /* CRLF ends every record */
            s += 2;
            break;
        }
    }
    free(buf);
}

static void csv_free(csv_t *csv) {
    for (int r = 0; r < csv->n_rows; r++)
        for (int i = 0; i < csv->n_fields[r]; i++) free(csv->field[r][i]);
}

static void test_csv_export(void **state) {
    fixture_t *f = *state;
    uh_store_t *s = create_store(f->run, "{}");
    uh_candidate_t c[3];
    for (int i = 0; i < 3; i++) make_candidate(i + 1, &c[i]);
    c[0].accuracy = 0.1 + 0.2; /* 0.30000000000000004: needs all 17 digits */
    c[0].noisy_accuracy = NAN;
    c[0].macs = -1;
    c[0].seed = UINT64_MAX;
    c[1].area_mm2 = NAN; /* a cost the backend does not model: an empty field */
    snprintf(c[1].arch, sizeof c[1].arch, "%s",
             "{\"layers\":[{\"type\":\"dense\",\"units\":10,\"activation\":\"relu\"}]}");
    c[1].status = UH_CAND_FAILED;
    snprintf(c[1].message, sizeof c[1].message, "%s", "said \"no\", twice\r\nthen, \"\" stopped");
    snprintf(c[2].origin, sizeof c[2].origin, "%s", "llm,mutate");
    for (int i = 0; i < 3; i++) CHECK_OK(uh_store_add_candidate(s, &c[i], NULL, &e_));
    uh_test_result_t r = {1.0 / 3.0, NAN, 0.015625, 10};
    CHECK_OK(uh_store_put_test_result(s, c[1].hash, &r, &e_));

    char out[200];
    snprintf(out, sizeof out, "%s/all.csv", f->root);
    char *text = export_text(s, out, NULL, 0);
    csv_t csv;
    csv_parse(text, &csv);
    free(text);
    assert_int_equal(csv.n_rows, 4);
    static const char *const header[] = {"id",
                                         "generation",
                                         "origin",
                                         "status",
                                         "hash",
                                         "accuracy",
                                         "noisy_accuracy",
                                         "noisy_accuracy_std",
                                         "energy_nj",
                                         "latency_ns",
                                         "area_mm2",
                                         "params",
                                         "macs",
                                         "train_seconds",
                                         "epochs_trained",
                                         "seed",
                                         "created_at",
                                         "test_accuracy",
                                         "test_noisy_accuracy",
                                         "test_noisy_accuracy_std",
                                         "message",
                                         "arch",
                                         "parents"};
    for (int r0 = 0; r0 < 4; r0++) assert_int_equal(csv.n_fields[r0], 23);
    for (int i = 0; i < 23; i++) assert_string_equal(csv.field[0][i], header[i]);
    for (int i = 0; i < 3; i++) {
        char **row = csv.field[i + 1];
        char want[64];
        snprintf(want, sizeof want, "%d", i + 1);
        assert_string_equal(row[0], want);
        assert_string_equal(row[2], c[i].origin);
        assert_string_equal(row[3], uh_cand_status_name(c[i].status));
        assert_string_equal(row[4], c[i].hash);
        const double *vals[] = {&c[i].accuracy,  &c[i].noisy_accuracy, &c[i].noisy_accuracy_std,
                                &c[i].energy_nj, &c[i].latency_ns,     &c[i].area_mm2};
        for (int k = 0; k < 6; k++) {
            if (isnan(*vals[k]))
                assert_string_equal(row[5 + k], "");
            else
                assert_true(strtod(row[5 + k], NULL) == *vals[k]);
        }
        assert_true(strtod(row[13], NULL) == c[i].train_seconds);
        if (c[i].epochs_trained < 0)
            assert_string_equal(row[14], "");
        else
            assert_int_equal(strtol(row[14], NULL, 10), c[i].epochs_trained);
        assert_true(strtoull(row[15], NULL, 10) == c[i].seed);
        assert_timestamp(row[16]);
        assert_string_equal(row[20], c[i].message);
        assert_string_equal(row[21], c[i].arch);
    }
    /* parents: candidate 1 has one, 2 two (a quoted field), 3's were not recorded (empty) */
    assert_string_equal(csv.field[1][22], "[9223372036854775807]");
    assert_string_equal(csv.field[2][22], "[1,8]");
    assert_string_equal(csv.field[3][22], "");
    assert_string_equal(csv.field[1][5], "0.30000000000000004");
    assert_string_equal(csv.field[1][6], "");
    assert_string_equal(csv.field[1][12], ""); /* macs unknown */
    assert_string_equal(csv.field[1][15], "18446744073709551615");
    assert_string_equal(csv.field[1][17], ""); /* no test result */
    assert_true(strtod(csv.field[2][17], NULL) == 1.0 / 3.0);
    assert_string_equal(csv.field[2][18], "");
    assert_string_equal(csv.field[2][19], "0.015625");
    csv_free(&csv);

    /* A subset, in id order whatever the order asked for. */
    const char *pick[] = {c[2].hash, c[0].hash};
    text = export_text(s, out, pick, 2);
    csv_parse(text, &csv);
    free(text);
    assert_int_equal(csv.n_rows, 3);
    assert_string_equal(csv.field[1][4], c[0].hash);
    assert_string_equal(csv.field[2][4], c[2].hash);
    csv_free(&csv);

    /* An unknown hash: refused, and nothing written. */
    char out2[200];
    snprintf(out2, sizeof out2, "%s/none.csv", f->root);
    const char *bad[] = {c[0].hash, "nothere"};
    uh_error_t err = {0};
    expect_bad(uh_store_export_csv(s, out2, bad, 2, &err), &err, UH_ENOTFOUND, "nothere");
    assert_false(exists(out2));
    uh_store_close(s);
}

/* A run stored by a build of schema version 1 (before latency_ns and area_mm2), made by hand
 * with that version's exact schema: it opens, is upgraded in place (through version 2 to 3),
 * its rows read back with the new costs unknown (NaN) and epochs not recorded, and new rows
 * carry them (status pruned included: the rebuilt table's check allows it). */
static void test_opens_version1_store(void **state) {
    fixture_t *f = *state;
    char path[160];
    assert_int_equal(mkdir(f->run, 0777), 0);
    snprintf(path, sizeof path, "%s/%s", f->run, UH_STORE_FILE);
    raw_sql(path, "PRAGMA application_id = 1969770049; PRAGMA user_version = 1;"
                  "PRAGMA journal_mode = WAL;"
                  "CREATE TABLE run("
                  "  id INTEGER PRIMARY KEY CHECK (id = 1),"
                  "  config TEXT NOT NULL,"
                  "  uhnas_version TEXT NOT NULL,"
                  "  created_at TEXT NOT NULL);"
                  "CREATE TABLE candidates("
                  "  id INTEGER PRIMARY KEY,"
                  "  generation INTEGER NOT NULL CHECK (generation >= 0),"
                  "  origin TEXT NOT NULL,"
                  "  arch TEXT NOT NULL,"
                  "  hash TEXT NOT NULL UNIQUE,"
                  "  accuracy REAL,"
                  "  noisy_accuracy REAL,"
                  "  noisy_accuracy_std REAL,"
                  "  energy_nj REAL,"
                  "  params INTEGER NOT NULL,"
                  "  macs INTEGER NOT NULL,"
                  "  train_seconds REAL,"
                  "  status TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'invalid')),"
                  "  message TEXT NOT NULL,"
                  "  seed INTEGER NOT NULL,"
                  "  created_at TEXT NOT NULL);"
                  "CREATE TABLE generations("
                  "  generation INTEGER PRIMARY KEY CHECK (generation >= 0),"
                  "  state TEXT NOT NULL,"
                  "  hypervolume REAL,"
                  "  diversity REAL,"
                  "  front_size INTEGER NOT NULL);"
                  "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                  "CREATE TABLE test_results("
                  "  hash TEXT PRIMARY KEY REFERENCES candidates(hash),"
                  "  accuracy REAL,"
                  "  noisy_accuracy REAL,"
                  "  noisy_accuracy_std REAL,"
                  "  mc INTEGER NOT NULL);"
                  "CREATE TABLE weights("
                  "  hash TEXT PRIMARY KEY REFERENCES candidates(hash),"
                  "  n INTEGER NOT NULL,"
                  "  checksum INTEGER NOT NULL,"
                  "  data BLOB NOT NULL);"
                  "INSERT INTO run VALUES (1, '{\"old\":1}', '0.1.0', '2025-01-01T00:00:00.000Z');"
                  "INSERT INTO candidates VALUES (1, 0, 'sample', '{\"layers\":[]}', 'old1',"
                  "  0.75, 0.5, 0.01, 12.5, 100, 200, 1.5, 'ok', '', 42,"
                  "  '2025-01-01T00:00:01.000Z');"
                  "INSERT INTO generations VALUES (0, '{}', 0.25, 0.5, 1);");

    /* a reader gets it upgraded on the way (the directory is writable), and writes nothing */
    uh_store_t *s;
    CHECK_OK(uh_store_open_readonly(f->run, &s, &e_));
    assert_string_equal(uh_store_config(s), "{\"old\":1}");
    uh_candidate_t got;
    int found = 0;
    CHECK_OK(uh_store_find_hash(s, "old1", &got, &found, &e_));
    assert_true(found);
    assert_int_equal(got.id, 1);
    assert_true(got.accuracy == 0.75 && got.noisy_accuracy == 0.5 && got.energy_nj == 12.5);
    assert_int_equal(got.params, 100);
    assert_true(got.seed == 42);
    assert_true(isnan(got.latency_ns) && isnan(got.area_mm2)); /* not measured then */
    assert_int_equal(got.epochs_trained, -1);                  /* not recorded then */
    assert_int_equal(got.n_parents, -1);
    uh_candidate_t c;
    make_candidate(3, &c);
    int64_t id = 0;
    uh_error_t refused = {0};
    assert_int_not_equal(uh_store_add_candidate(s, &c, &id, &refused), UH_OK);
    uh_store_close(s);
    /* the run goes on: a new row with the new costs, next to the old one */
    s = open_store(f->run);
    CHECK_OK(uh_store_add_candidate(s, &c, &id, &e_));
    assert_int_equal(id, 2);
    char *state_json = NULL;
    uh_gen_metrics_t m;
    CHECK_OK(uh_store_get_generation(s, 0, &state_json, &m, &e_));
    assert_true(m.hypervolume == 0.25);
    free(state_json);
    CHECK_OK(uh_store_check(s, &e_));
    uh_store_close(s);

    /* upgraded for good: this build's version, and it opens again as one */
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT user_version FROM pragma_user_version", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), UH_STORE_SCHEMA_VERSION);
    assert_int_equal(UH_STORE_SCHEMA_VERSION, 4);
    sqlite3_finalize(st);
    sqlite3_close(db);
    s = open_store(f->run);
    CHECK_OK(uh_store_find_hash(s, c.hash, &got, &found, &e_));
    assert_same_candidate(&c, &got);
    uh_candidate_t *rows;
    size_t n;
    CHECK_OK(uh_store_candidates(s, &rows, &n, &e_));
    assert_int_equal(n, 2);
    assert_true(isnan(rows[0].latency_ns) && rows[1].latency_ns == c.latency_ns);
    uh_store_free_candidates(rows);
    /* the CSV export: the old row's costs are empty fields */
    char out[200];
    snprintf(out, sizeof out, "%s/old.csv", f->root);
    char *text = export_text(s, out, NULL, 0);
    assert_non_null(strstr(text, ",energy_nj,latency_ns,area_mm2,params,"));
    assert_non_null(strstr(text, ",12.5,,,100,200,"));
    free(text);
    /* the rebuilt table takes a pruned row; the new rungs table is there */
    make_candidate(5, &c);
    assert_int_equal(c.status, UH_CAND_PRUNED);
    CHECK_OK(uh_store_add_candidate(s, &c, NULL, &e_));
    uh_rung_t rung = {.rung = 0, .epochs = 1, .accuracy = 0.5};
    strcpy(rung.hash, c.hash);
    CHECK_OK(uh_store_put_rung(s, &rung, NULL, 0, &e_));
    CHECK_OK(uh_store_check(s, &e_));
    uh_store_close(s);
}

/* A run of schema version 3 (this build's file without candidates.parents) is upgraded to 4:
 * its rows read back with parents not recorded, new rows keep theirs, and a parents text that
 * is not exactly a short list of ids is refused as a damaged file, naming the row. */
static void test_parents(void **state) {
    fixture_t *f = *state;
    uh_error_t err = {0};
    uh_candidate_t c[4], got;
    uh_store_t *s = create_store(f->run, "{}");
    for (int i = 0; i < 2; i++) {
        make_candidate(i + 1, &c[i]);
        CHECK_OK(uh_store_add_candidate(s, &c[i], NULL, &e_));
    }
    uh_store_close(s);
    char path[160];
    snprintf(path, sizeof path, "%s/%s", f->run, UH_STORE_FILE);
    raw_sql(path, "ALTER TABLE candidates DROP COLUMN parents; PRAGMA user_version = 3;");
    CHECK_OK(uh_store_open_readonly(f->run, &s, &e_));
    int found = 0;
    CHECK_OK(uh_store_find_hash(s, c[1].hash, &got, &found, &e_));
    assert_true(found);
    assert_int_equal(got.n_parents, -1);
    uh_store_close(s);
    s = open_store(f->run);
    make_candidate(3, &c[2]);
    c[2].n_parents = 4; /* UH_SEARCH_MAX_PARENTS */
    for (int k = 0; k < 4; k++) c[2].parents[k] = 10 + k;
    CHECK_OK(uh_store_add_candidate(s, &c[2], NULL, &e_));
    CHECK_OK(uh_store_find_hash(s, c[2].hash, &got, &found, &e_));
    assert_same_candidate(&c[2], &got);

    /* what the store refuses to write */
    make_candidate(4, &c[3]);
    c[3].n_parents = 5;
    expect_bad(uh_store_add_candidate(s, &c[3], NULL, &err), &err, UH_EINVAL,
               "5 parents (at most 4)");
    c[3].n_parents = 1, c[3].parents[0] = 0;
    expect_bad(uh_store_add_candidate(s, &c[3], NULL, &err), &err, UH_EINVAL, "parent id 0 is not");
    uh_store_close(s);

    /* and to read */
    static const char *const bad[] = {
        "[0]",  "[01]", "[1,]", "1,2",    "[1,2,3,4,5]",           "[-1]",
        "[ 1]", "[1]x", "[",    "[1 ,2]", "[9223372036854775808]", "x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char sql[200];
        snprintf(sql, sizeof sql, "UPDATE candidates SET parents = '%s' WHERE hash = '%s'", bad[i],
                 c[2].hash);
        raw_sql(path, sql);
        s = open_store(f->run);
        expect_bad(uh_store_find_hash(s, c[2].hash, &got, &found, &err), &err, UH_EFORMAT,
                   "candidate");
        assert_non_null(strstr(err.msg, "parents"));
        uh_store_close(s);
    }
    raw_sql(path, "UPDATE candidates SET parents = X'5b315d' WHERE id = 3"); /* "[1]", a blob */
    s = open_store(f->run);
    expect_bad(uh_store_find_hash(s, c[2].hash, &got, &found, &err), &err, UH_EFORMAT, "not text");
    uh_store_close(s);
}

/* The pruner's rungs: results kept, weights until dropped; weights of a candidate deleted. */
static void test_rungs_and_weights_dropped(void **state) {
    fixture_t *f = *state;
    uh_candidate_t c;
    uh_store_t *s = store_with_candidate(f, 1, &c);
    const float w[3] = {1.5f, -2.0f, 0.25f};
    uh_rung_t r1 = {.rung = 1,
                    .epochs = 3,
                    .accuracy = 0.7,
                    .noisy_accuracy = 0.6,
                    .noisy_accuracy_std = NAN,
                    .train_seconds = 0.5};
    uh_rung_t r0 = r1;
    r0.rung = 0, r0.epochs = 1, r0.accuracy = 0.4;
    strcpy(r0.hash, "zzz"); /* no candidate row yet: a rung comes first */
    strcpy(r1.hash, "zzz");
    CHECK_OK(uh_store_put_rung(s, &r1, w, 3, &e_));
    CHECK_OK(uh_store_put_rung(s, &r0, w, 2, &e_));
    r0.accuracy = 0.45; /* replaced */
    CHECK_OK(uh_store_put_rung(s, &r0, w, 1, &e_));
    uh_rung_t *rows;
    size_t n;
    CHECK_OK(uh_store_rungs(s, &rows, &n, &e_));
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].rung, 0);
    assert_true(rows[0].accuracy == 0.45 && rows[0].epochs == 1);
    assert_true(rows[1].rung == 1 && rows[1].epochs == 3 && rows[1].noisy_accuracy == 0.6);
    assert_true(isnan(rows[1].noisy_accuracy_std) && rows[1].train_seconds == 0.5);
    free(rows);
    float *got;
    CHECK_OK(uh_store_get_rung_weights(s, "zzz", 1, &got, &n, &e_));
    assert_int_equal(n, 3);
    assert_memory_equal(got, w, sizeof w);
    free(got);
    CHECK_OK(uh_store_drop_rung_weights(s, "zzz", &e_));
    uh_error_t err = {0};
    expect_bad(uh_store_get_rung_weights(s, "zzz", 1, &got, &n, &err), &err, UH_ENOTFOUND,
               "no weights for zzz at rung 1");
    CHECK_OK(uh_store_rungs(s, &rows, &n, &e_));
    assert_int_equal(n, 2); /* the results stay */
    free(rows);
    r0.epochs = 0;
    expect_bad(uh_store_put_rung(s, &r0, NULL, 0, &err), &err, UH_EINVAL, "0 epochs");
    CHECK_OK(uh_store_put_weights(s, c.hash, w, 3, &e_));
    CHECK_OK(uh_store_delete_weights(s, c.hash, &e_));
    expect_bad(uh_store_get_weights(s, c.hash, &got, &n, &err), &err, UH_ENOTFOUND, "no weights");
    CHECK_OK(uh_store_delete_weights(s, c.hash, &e_)); /* none is fine */
    uh_store_close(s);
}

/* hostile values inside a file of ours, and limits on the way in */

static void test_limits(void **state) {
    fixture_t *f = *state;
    uh_store_t *s = create_store(f->run, "{}");
    uh_candidate_t c;
    uh_error_t err = {0};
    make_candidate(1, &c);
    memset(c.origin, 'o', sizeof c.origin); /* no NUL inside the buffer */
    expect_bad(uh_store_add_candidate(s, &c, NULL, &err), &err, UH_ELIMIT, "origin longer");
    make_candidate(1, &c);
    memset(c.message, 'm', sizeof c.message);
    expect_bad(uh_store_add_candidate(s, &c, NULL, &err), &err, UH_ELIMIT, "message longer");
    make_candidate(1, &c);
    strcpy(c.hash, "abc-def");
    expect_bad(uh_store_add_candidate(s, &c, NULL, &err), &err, UH_EINVAL, "character 4");
    make_candidate(1, &c);
    c.generation = -3;
    expect_bad(uh_store_add_candidate(s, &c, NULL, &err), &err, UH_EINVAL, "negative");
    make_candidate(1, &c);
    c.status = (uh_cand_status_t)9;
    expect_bad(uh_store_add_candidate(s, &c, NULL, &err), &err, UH_EINVAL, "unknown status");
    /* SQL text in a value is only ever data. */
    make_candidate(1, &c);
    strcpy(c.origin, "x'); DROP TABLE candidates; --");
    CHECK_OK(uh_store_add_candidate(s, &c, NULL, &e_));
    make_candidate(2, &c);
    CHECK_OK(uh_store_add_candidate(s, &c, NULL, &e_));
    uh_store_close(s);

    char path[160];
    snprintf(path, sizeof path, "%s/%s", f->run, UH_STORE_FILE);
    uh_candidate_t got;
    int found;
    raw_sql(path, "UPDATE candidates SET origin = hex(zeroblob(35)) WHERE id = 1");
    s = open_store(f->run);
    expect_bad(uh_store_find_hash(s, "c00000001X", &got, &found, &err), &err, UH_ELIMIT,
               "candidates[1].origin is longer than 63 bytes");
    uh_candidate_t *rows;
    size_t n;
    expect_bad(uh_store_candidates(s, &rows, &n, &err), &err, UH_ELIMIT, "origin");
    uh_store_close(s);
    raw_sql(path, "UPDATE candidates SET origin = 'ok', accuracy = 'high' WHERE id = 1");
    s = open_store(f->run);
    expect_bad(uh_store_find_hash(s, "c00000001X", &got, &found, &err), &err, UH_EFORMAT,
               "candidates[1].accuracy is not a number");
    uh_store_close(s);
    raw_sql(path, "UPDATE candidates SET accuracy = 0.5, params = -5 WHERE id = 1;");
    s = open_store(f->run);
    expect_bad(uh_store_find_hash(s, "c00000001X", &got, &found, &err), &err, UH_EFORMAT,
               "candidates[1].params is -5");
    uh_store_close(s);
    /* A row that breaks the schema's own CHECK constraints fails the check on open. */
    raw_sql(path, "UPDATE candidates SET params = 5 WHERE id = 1;"
                  "PRAGMA ignore_check_constraints = ON;"
                  "UPDATE candidates SET status = 'maybe' WHERE id = 2;");
    expect_refused(f->run, UH_EFORMAT, "CHECK constraint failed in candidates");
    raw_sql(path, "UPDATE candidates SET status = 'ok', hash = 'has space' WHERE id = 2;"
                  "CREATE TRIGGER t AFTER INSERT ON meta BEGIN SELECT 1; END;");
    expect_refused(f->run, UH_EFORMAT, "triggers");
    raw_sql(path, "DROP TRIGGER t");
    s = open_store(f->run);
    expect_bad(uh_store_candidates(s, &rows, &n, &err), &err, UH_EFORMAT,
               "candidates[2].hash \"has space\" is not");
    uh_store_close(s);
}

/* durability: a writer killed with SIGKILL */

static void test_kill9_loses_nothing(void **state) {
    fixture_t *f = *state;
    uh_store_close(create_store(f->run, "{\"crash\":true}"));
    int64_t total = 0;
    for (int round = 0; round < 3; round++) {
        int64_t before = total;
        /* The last round runs past SQLite's automatic checkpoint (1000 log pages), so the kill
         * may land inside one. */
        static const int more[] = {40, 150, 450};
        int64_t want = before + more[round];
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            /* The child: add candidates until killed; report each id once it is stored. */
            close(fds[0]);
            uh_store_t *cs = NULL;
            if (uh_store_open(f->run, &cs, NULL)) _exit(2);
            for (int64_t i = before; i < before + 100000; i++) {
                uh_candidate_t c;
                make_candidate((int)i, &c);
                int64_t id;
                if (uh_store_add_candidate(cs, &c, &id, NULL)) _exit(3);
                if (write(fds[1], &id, sizeof id) != sizeof id) _exit(4);
            }
            _exit(5);
        }
        close(fds[1]);
        /* The parent watches through its own handle, closed again before the kill. */
        int64_t seen = 0;
        for (int tries = 0; tries < 60000 && seen < want; tries++) {
            uh_store_t *ps = open_store(f->run);
            CHECK_OK(uh_store_count(ps, &seen, &e_));
            uh_store_close(ps);
            int status;
            if (waitpid(pid, &status, WNOHANG) == pid) fail_msg("the writer exited early");
            struct timespec ms = {0, 1000000};
            if (seen < want) nanosleep(&ms, NULL);
        }
        assert_true(seen >= want);
        assert_int_equal(kill(pid, SIGKILL), 0);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        int64_t reported = before, id;
        while (read(fds[0], &id, sizeof id) == sizeof id) {
            assert_int_equal(id, reported + 1);
            reported = id;
        }
        close(fds[0]);

        /* Reopen (quick_check runs), then the full check, then every row. */
        uh_store_t *s = open_store(f->run);
        CHECK_OK(uh_store_check(s, &e_));
        uh_candidate_t *rows = NULL;
        size_t n = 0;
        CHECK_OK(uh_store_candidates(s, &rows, &n, &e_));
        assert_true((int64_t)n >= reported); /* nothing reported stored was lost */
        assert_true((int64_t)n >= want);
        for (size_t i = 0; i < n; i++) {
            uh_candidate_t c;
            make_candidate((int)i, &c);
            assert_int_equal(rows[i].id, (int64_t)i + 1);
            assert_same_candidate(&c, &rows[i]);
        }
        uh_store_free_candidates(rows);
        uh_store_close(s);
        total = (int64_t)n;
    }
    /* Adding goes on after the last crash. */
    uh_store_t *s = open_store(f->run);
    assert_string_equal(uh_store_config(s), "{\"crash\":true}");
    uh_candidate_t c;
    make_candidate((int)total, &c);
    int64_t id = 0;
    CHECK_OK(uh_store_add_candidate(s, &c, &id, &e_));
    assert_int_equal(id, total + 1);
    uh_store_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_open_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_hash_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_find_hash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_candidates_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_generations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta, setup, teardown),
        cmocka_unit_test_setup_teardown(test_test_results, setup, teardown),
        cmocka_unit_test_setup_teardown(test_weights, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replace_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv_export, setup, teardown),
        cmocka_unit_test_setup_teardown(test_opens_version1_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rungs_and_weights_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9_loses_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
