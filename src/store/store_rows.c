/* The run store's rows: candidates, generations, meta, test results, weights. Every value
 * is checked against the header's limits on the way in and again on the way out. */
#include "store_internal.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

static const char *const STATUS_NAMES[] = {"ok", "failed", "invalid", "pruned"};

const char *uh_cand_status_name(uh_cand_status_t s) {
    return (unsigned)s < sizeof STATUS_NAMES / sizeof *STATUS_NAMES ? STATUS_NAMES[s] : "unknown";
}

void store_now(char out[32]) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    char date[32];
    if (!gmtime_r(&ts.tv_sec, &tm) || strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        strcpy(date, "1970-01-01T00:00:00");
    unsigned ms = (unsigned)(ts.tv_nsec / 1000000) % 1000u;
    snprintf(out, 32, "%.19s.%03uZ", date, ms);
}

/* binding */

static void bind_real(sqlite3_stmt *st, int i, double v) {
    if (isnan(v))
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_double(st, i, v);
}

/* Steps a lookup to its one row: UH_OK when there is one, UH_ENOTFOUND when there is none
 * (err: the store's path and the absent message), else the SQLite error (while `what`). */
static int step_one(const uh_store_t *s, sqlite3_stmt *st, const char *what, uh_error_t *err,
                    const char *absent, ...) __attribute__((format(printf, 5, 6)));
static int step_one(const uh_store_t *s, sqlite3_stmt *st, const char *what, uh_error_t *err,
                    const char *absent, ...) {
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) return UH_OK;
    if (step != SQLITE_DONE) return store_sql_error(s, what, err);
    char msg[UH_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, absent);
    vsnprintf(msg, sizeof msg, absent, ap);
    va_end(ap);
    return uh_error_set(err, UH_ENOTFOUND, "%s: %s", s->path, msg);
}

/* Runs a write statement to completion and finalizes it. */
static int step_write(const uh_store_t *s, sqlite3_stmt *st, const char *what, uh_error_t *err) {
    int rc = UH_OK;
    if (sqlite3_step(st) != SQLITE_DONE) rc = store_sql_error(s, what, err);
    sqlite3_finalize(st);
    return rc;
}

/* Length of a string that must end inside cap bytes; cap when it does not. */
static size_t bounded_len(const char *text, size_t cap) {
    return strnlen(text, cap);
}

/* reading, with every check a hostile file needs */

int store_read_real(const uh_store_t *s, sqlite3_stmt *st, int col, const char *what, double *out,
                    uh_error_t *err) {
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_NULL:
        *out = NAN;
        return UH_OK;
    case SQLITE_FLOAT:
    case SQLITE_INTEGER:
        *out = sqlite3_column_double(st, col);
        return UH_OK;
    default:
        return uh_error_set(err, UH_EFORMAT, "%s: %s is not a number", s->path, what);
    }
}

int store_read_int(const uh_store_t *s, sqlite3_stmt *st, int col, const char *what, int64_t lo,
                   int64_t hi, int64_t *out, uh_error_t *err) {
    if (sqlite3_column_type(st, col) != SQLITE_INTEGER)
        return uh_error_set(err, UH_EFORMAT, "%s: %s is not an integer", s->path, what);
    int64_t v = sqlite3_column_int64(st, col);
    if (v < lo || v > hi)
        return uh_error_set(err, UH_EFORMAT, "%s: %s is %" PRId64 ", outside %" PRId64 "..%" PRId64,
                            s->path, what, v, lo, hi);
    *out = v;
    return UH_OK;
}

/* Copies a TEXT column into dst[cap] (NUL included); longer text or a NUL inside is refused. */
static int read_text(const uh_store_t *s, sqlite3_stmt *st, int col, const char *what, char *dst,
                     size_t cap, uh_error_t *err) {
    if (sqlite3_column_type(st, col) != SQLITE_TEXT)
        return uh_error_set(err, UH_EFORMAT, "%s: %s is not text", s->path, what);
    const char *text = (const char *)sqlite3_column_text(st, col);
    int bytes = sqlite3_column_bytes(st, col);
    if (!text) return uh_error_set(err, UH_ENOMEM, "%s: out of memory reading %s", s->path, what);
    if ((size_t)bytes >= cap)
        return uh_error_set(err, UH_ELIMIT, "%s: %s is longer than %zu bytes", s->path, what,
                            cap - 1);
    if (strlen(text) != (size_t)bytes)
        return uh_error_set(err, UH_EFORMAT, "%s: %s holds a NUL byte", s->path, what);
    memcpy(dst, text, (size_t)bytes + 1);
    return UH_OK;
}

/* Like read_text, into a malloc'd copy of at most UH_STORE_TEXT_MAX bytes. */
static int read_text_alloc(const uh_store_t *s, sqlite3_stmt *st, int col, const char *what,
                           char **out, uh_error_t *err) {
    if (sqlite3_column_type(st, col) != SQLITE_TEXT)
        return uh_error_set(err, UH_EFORMAT, "%s: %s is not text", s->path, what);
    const char *text = (const char *)sqlite3_column_text(st, col);
    int bytes = sqlite3_column_bytes(st, col);
    if (!text) return uh_error_set(err, UH_ENOMEM, "%s: out of memory reading %s", s->path, what);
    if (bytes > UH_STORE_TEXT_MAX)
        return uh_error_set(err, UH_ELIMIT, "%s: %s is larger than %ld bytes", s->path, what,
                            UH_STORE_TEXT_MAX);
    if (strlen(text) != (size_t)bytes)
        return uh_error_set(err, UH_EFORMAT, "%s: %s holds a NUL byte", s->path, what);
    char *copy = malloc((size_t)bytes + 1);
    if (!copy) return uh_error_set(err, UH_ENOMEM, "%s: out of memory reading %s", s->path, what);
    memcpy(copy, text, (size_t)bytes + 1);
    *out = copy;
    return UH_OK;
}

void store_parents_text(const uh_candidate_t *c, char *buf) {
    size_t n = 0;
    buf[0] = '\0';
    if (c->n_parents < 0) return;
    buf[n++] = '[';
    for (int i = 0; i < c->n_parents; i++)
        n += (size_t)snprintf(buf + n, STORE_PARENTS_TEXT_MAX - n, "%s%" PRId64, i ? "," : "",
                              c->parents[i]);
    snprintf(buf + n, STORE_PARENTS_TEXT_MAX - n, "]");
}

/* candidates.parents as store_parents_text writes it, and nothing else: "[]" or "[id,...]",
 * at most UH_SEARCH_MAX_PARENTS ids in 1..INT64_MAX without leading zeros. 0 or −1. */
static int parse_parents(const char *text, uh_candidate_t *c) {
    const char *p = text;
    c->n_parents = 0;
    if (*p++ != '[') return -1;
    if (*p == ']') return p[1] ? -1 : 0;
    for (;;) {
        if (c->n_parents == UH_SEARCH_MAX_PARENTS || *p < '1' || *p > '9') return -1;
        int64_t id = 0;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (id > (INT64_MAX - (*p - '0')) / 10) return -1;
            id = 10 * id + (*p - '0');
        }
        c->parents[c->n_parents++] = id;
        if (*p == ']') return p[1] ? -1 : 0;
        if (*p++ != ',') return -1;
    }
}

int store_read_candidate(const uh_store_t *s, sqlite3_stmt *st, int first, uh_candidate_t *c,
                         uh_error_t *err) {
    memset(c, 0, sizeof *c);
    int64_t v = 0;
    int rc = store_read_int(s, st, first, "candidates.id", 1, INT64_MAX, &c->id, err);
    if (rc) return rc;
    char what[64];
    /* Messages name the row: "candidates[17].origin". */
#define WHAT(field) (snprintf(what, sizeof what, "candidates[%" PRId64 "]." field, c->id), what)
    if (!rc) rc = store_read_int(s, st, first + 1, WHAT("generation"), 0, INT_MAX, &v, err);
    c->generation = (int)v;
    if (!rc) rc = read_text(s, st, first + 2, WHAT("origin"), c->origin, sizeof c->origin, err);
    if (!rc) rc = read_text(s, st, first + 3, WHAT("arch"), c->arch, sizeof c->arch, err);
    if (!rc) rc = read_text(s, st, first + 4, WHAT("hash"), c->hash, sizeof c->hash, err);
    if (!rc && store_check_hash(c->hash, NULL))
        rc = uh_error_set(err, UH_EFORMAT, "%s: %s \"%s\" is not [0-9A-Za-z]+", s->path,
                          WHAT("hash"), c->hash);
    if (!rc) rc = store_read_real(s, st, first + 5, WHAT("accuracy"), &c->accuracy, err);
    if (!rc)
        rc = store_read_real(s, st, first + 6, WHAT("noisy_accuracy"), &c->noisy_accuracy, err);
    if (!rc)
        rc = store_read_real(s, st, first + 7, WHAT("noisy_accuracy_std"), &c->noisy_accuracy_std,
                             err);
    if (!rc) rc = store_read_real(s, st, first + 8, WHAT("energy_nj"), &c->energy_nj, err);
    if (!rc) rc = store_read_int(s, st, first + 9, WHAT("params"), -1, LONG_MAX, &v, err);
    c->params = (long)v;
    if (!rc) rc = store_read_int(s, st, first + 10, WHAT("macs"), -1, LONG_MAX, &v, err);
    c->macs = (long)v;
    if (!rc) rc = store_read_real(s, st, first + 11, WHAT("train_seconds"), &c->train_seconds, err);
    char status[16];
    if (!rc) rc = read_text(s, st, first + 12, WHAT("status"), status, sizeof status, err);
    if (!rc) {
        size_t k = 0, n = sizeof STATUS_NAMES / sizeof *STATUS_NAMES;
        while (k < n && strcmp(status, STATUS_NAMES[k]) != 0) k++;
        if (k == n)
            rc = uh_error_set(err, UH_EFORMAT, "%s: %s is \"%s\", not ok/failed/invalid/pruned",
                              s->path, WHAT("status"), status);
        c->status = (uh_cand_status_t)k;
    }
    if (!rc) rc = read_text(s, st, first + 13, WHAT("message"), c->message, sizeof c->message, err);
    if (!rc) rc = store_read_int(s, st, first + 14, WHAT("seed"), INT64_MIN, INT64_MAX, &v, err);
    if (!rc) memcpy(&c->seed, &v, sizeof c->seed);
    if (!rc)
        rc = read_text(s, st, first + 15, WHAT("created_at"), c->created_at, sizeof c->created_at,
                       err);
    if (!rc) rc = store_read_real(s, st, first + 16, WHAT("latency_ns"), &c->latency_ns, err);
    if (!rc) rc = store_read_real(s, st, first + 17, WHAT("area_mm2"), &c->area_mm2, err);
    v = -1; /* NULL: a row from before version 3, epochs not recorded */
    if (!rc && sqlite3_column_type(st, first + 18) != SQLITE_NULL)
        rc = store_read_int(s, st, first + 18, WHAT("epochs_trained"), 0, INT_MAX, &v, err);
    c->epochs_trained = (int)v;
    c->n_parents = -1; /* NULL: a row from before version 4, parents not recorded */
    if (!rc && sqlite3_column_type(st, first + 19) != SQLITE_NULL) {
        char text[STORE_PARENTS_TEXT_MAX];
        rc = read_text(s, st, first + 19, WHAT("parents"), text, sizeof text, err);
        if (!rc && parse_parents(text, c))
            rc = uh_error_set(err, UH_EFORMAT,
                              "%s: %s is \"%s\", not a list of up to %d candidate ids", s->path,
                              WHAT("parents"), text, UH_SEARCH_MAX_PARENTS);
    }
#undef WHAT
    return rc;
}

/* candidates */

static int check_candidate(const uh_candidate_t *c, uh_error_t *err) {
    int rc = store_check_hash(c->hash, err);
    if (rc) return rc;
    if (c->generation < 0)
        return uh_error_set(err, UH_EINVAL, "candidate %s: generation %d is negative", c->hash,
                            c->generation);
    if (bounded_len(c->origin, sizeof c->origin) == sizeof c->origin)
        return uh_error_set(err, UH_ELIMIT, "candidate %s: origin longer than %zu bytes", c->hash,
                            sizeof c->origin - 1);
    if (bounded_len(c->arch, sizeof c->arch) == sizeof c->arch)
        return uh_error_set(err, UH_ELIMIT, "candidate %s: arch longer than %zu bytes", c->hash,
                            sizeof c->arch - 1);
    if (bounded_len(c->message, sizeof c->message) == sizeof c->message)
        return uh_error_set(err, UH_ELIMIT, "candidate %s: message longer than %zu bytes", c->hash,
                            sizeof c->message - 1);
    if (c->params < -1 || c->macs < -1 || c->epochs_trained < -1)
        return uh_error_set(err, UH_EINVAL,
                            "candidate %s: params, macs and epochs_trained must be >= -1", c->hash);
    if (c->n_parents < -1 || c->n_parents > UH_SEARCH_MAX_PARENTS)
        return uh_error_set(err, UH_EINVAL, "candidate %s: %d parents (at most %d)", c->hash,
                            c->n_parents, UH_SEARCH_MAX_PARENTS);
    for (int i = 0; i < c->n_parents; i++)
        if (c->parents[i] < 1)
            return uh_error_set(err, UH_EINVAL, "candidate %s: parent id %" PRId64 " is not >= 1",
                                c->hash, c->parents[i]);
    if ((unsigned)c->status >= sizeof STATUS_NAMES / sizeof *STATUS_NAMES)
        return uh_error_set(err, UH_EINVAL, "candidate %s: unknown status %d", c->hash,
                            (int)c->status);
    return UH_OK;
}

int uh_store_add_candidate(uh_store_t *store, const uh_candidate_t *c, int64_t *id,
                           uh_error_t *err) {
    int rc = check_candidate(c, err);
    if (rc) return uh_error_prefix(err, "%s", store->path);
    sqlite3_stmt *st;
    rc = store_prepare(store,
                       "INSERT INTO candidates(generation, origin, arch, hash, accuracy, "
                       "noisy_accuracy, noisy_accuracy_std, energy_nj, params, macs, "
                       "train_seconds, status, message, seed, created_at, id, latency_ns, "
                       "area_mm2, epochs_trained, parents) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
                       "?16, ?17, ?18, ?19, ?20)",
                       &st, err);
    if (rc) return rc;
    char now[32];
    store_now(now);
    int64_t seed;
    memcpy(&seed, &c->seed, sizeof seed);
    sqlite3_bind_int(st, 1, c->generation);
    sqlite3_bind_text(st, 2, c->origin, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, c->arch, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, c->hash, -1, SQLITE_STATIC);
    bind_real(st, 5, c->accuracy);
    bind_real(st, 6, c->noisy_accuracy);
    bind_real(st, 7, c->noisy_accuracy_std);
    bind_real(st, 8, c->energy_nj);
    sqlite3_bind_int64(st, 9, c->params);
    sqlite3_bind_int64(st, 10, c->macs);
    bind_real(st, 11, c->train_seconds);
    sqlite3_bind_text(st, 12, STATUS_NAMES[c->status], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 13, c->message, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 14, seed);
    sqlite3_bind_text(st, 15, now, -1, SQLITE_STATIC);
    if (c->id > 0)
        sqlite3_bind_int64(st, 16, c->id);
    else
        sqlite3_bind_null(st, 16); /* SQLite picks the next row id */
    bind_real(st, 17, c->latency_ns);
    bind_real(st, 18, c->area_mm2);
    if (c->epochs_trained >= 0)
        sqlite3_bind_int(st, 19, c->epochs_trained);
    else
        sqlite3_bind_null(st, 19);
    char parents[STORE_PARENTS_TEXT_MAX];
    store_parents_text(c, parents);
    if (c->n_parents >= 0)
        sqlite3_bind_text(st, 20, parents, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 20);
    if (sqlite3_step(st) != SQLITE_DONE) {
        int code = sqlite3_extended_errcode(store->db);
        if (code == SQLITE_CONSTRAINT_UNIQUE)
            rc = uh_error_set(err, UH_EINVAL, "%s: candidate %s is already stored", store->path,
                              c->hash);
        else if (code == SQLITE_CONSTRAINT_PRIMARYKEY)
            rc = uh_error_set(err, UH_EINVAL, "%s: candidate id %lld is already taken", store->path,
                              (long long)c->id);
        else
            rc = store_sql_error(store, "storing a candidate", err);
    } else if (id) {
        *id = sqlite3_last_insert_rowid(store->db);
    }
    sqlite3_finalize(st);
    return rc;
}

int uh_store_find_hash(uh_store_t *store, const char *hash, uh_candidate_t *out, int *found,
                       uh_error_t *err) {
    *found = 0;
    int rc = store_check_hash(hash, err);
    if (rc) return uh_error_prefix(err, "%s", store->path);
    sqlite3_stmt *st;
    rc = store_prepare(store, "SELECT " STORE_CANDIDATE_COLUMNS " FROM candidates WHERE hash = ?1",
                       &st, err);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        if (out) {
            rc = store_read_candidate(store, st, 0, out, err);
        }
        if (!rc) *found = 1;
    } else if (step != SQLITE_DONE) {
        rc = store_sql_error(store, "looking up a candidate", err);
    }
    sqlite3_finalize(st);
    return rc;
}

int uh_store_candidates(uh_store_t *store, uh_candidate_t **rows, size_t *n, uh_error_t *err) {
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *st;
    int rc = store_prepare(store, "SELECT " STORE_CANDIDATE_COLUMNS " FROM candidates ORDER BY id",
                           &st, err);
    if (rc) return rc;
    uh_candidate_t *a = NULL;
    size_t len = 0, cap = 0;
    int step = SQLITE_DONE;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            uh_candidate_t *b = realloc(a, ncap * sizeof *a);
            if (!b) {
                rc = uh_error_set(err, UH_ENOMEM, "%s: out of memory reading candidates",
                                  store->path);
                break;
            }
            a = b;
            cap = ncap;
        }
        rc = store_read_candidate(store, st, 0, &a[len], err);
        if (!rc) len++;
    }
    if (!rc && step != SQLITE_DONE) rc = store_sql_error(store, "reading candidates", err);
    sqlite3_finalize(st);
    if (rc) {
        free(a);
        return rc;
    }
    *rows = a;
    *n = len;
    return UH_OK;
}

void uh_store_free_candidates(uh_candidate_t *rows) {
    free(rows);
}

int uh_store_count(uh_store_t *store, int64_t *n, uh_error_t *err) {
    *n = 0;
    sqlite3_stmt *st;
    int rc = store_prepare(store, "SELECT count(*) FROM candidates", &st, err);
    if (rc) return rc;
    if (sqlite3_step(st) == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    else
        rc = store_sql_error(store, "counting candidates", err);
    sqlite3_finalize(st);
    return rc;
}

/* generations */

int uh_store_put_generation(uh_store_t *store, int g, const char *state_json,
                            const uh_gen_metrics_t *m, uh_error_t *err) {
    if (g < 0) return uh_error_set(err, UH_EINVAL, "%s: generation %d is negative", store->path, g);
    if (!state_json)
        return uh_error_set(err, UH_EINVAL, "%s: generation %d: state is missing", store->path, g);
    if (strnlen(state_json, (size_t)UH_STORE_TEXT_MAX + 1) > (size_t)UH_STORE_TEXT_MAX)
        return uh_error_set(err, UH_ELIMIT, "%s: generation %d: state is larger than %ld bytes",
                            store->path, g, UH_STORE_TEXT_MAX);
    uh_gen_metrics_t none = {NAN, NAN, 0};
    if (!m) m = &none;
    if (m->front_size < 0)
        return uh_error_set(err, UH_EINVAL, "%s: generation %d: front size %d is negative",
                            store->path, g, m->front_size);
    sqlite3_stmt *st;
    int rc = store_prepare(store,
                           "INSERT OR REPLACE INTO generations(generation, state, hypervolume, "
                           "diversity, front_size) VALUES (?1, ?2, ?3, ?4, ?5)",
                           &st, err);
    if (rc) return rc;
    sqlite3_bind_int(st, 1, g);
    sqlite3_bind_text(st, 2, state_json, -1, SQLITE_STATIC);
    bind_real(st, 3, m->hypervolume);
    bind_real(st, 4, m->diversity);
    sqlite3_bind_int(st, 5, m->front_size);
    return step_write(store, st, "storing a generation", err);
}

int uh_store_get_generation(uh_store_t *store, int g, char **state_json, uh_gen_metrics_t *m,
                            uh_error_t *err) {
    if (state_json) *state_json = NULL;
    sqlite3_stmt *st;
    int rc = store_prepare(store,
                           "SELECT state, hypervolume, diversity, front_size FROM generations "
                           "WHERE generation = ?1",
                           &st, err);
    if (rc) return rc;
    sqlite3_bind_int(st, 1, g);
    char *state = NULL;
    uh_gen_metrics_t got = {0};
    int64_t front = 0;
    rc = step_one(store, st, "reading a generation", err, "generation %d is not stored", g);
    if (!rc) rc = read_text_alloc(store, st, 0, "generations.state", &state, err);
    if (!rc) rc = store_read_real(store, st, 1, "generations.hypervolume", &got.hypervolume, err);
    if (!rc) rc = store_read_real(store, st, 2, "generations.diversity", &got.diversity, err);
    if (!rc) rc = store_read_int(store, st, 3, "generations.front_size", 0, INT_MAX, &front, err);
    got.front_size = (int)front;
    sqlite3_finalize(st);
    if (rc) {
        free(state);
        return rc;
    }
    if (m) *m = got;
    if (state_json)
        *state_json = state;
    else
        free(state);
    return UH_OK;
}

int uh_store_latest_generation(uh_store_t *store, int *g, uh_error_t *err) {
    *g = -1;
    sqlite3_stmt *st;
    int rc = store_prepare(store, "SELECT max(generation) FROM generations", &st, err);
    if (rc) return rc;
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = store_sql_error(store, "reading the latest generation", err);
    } else if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
        int64_t v;
        rc = store_read_int(store, st, 0, "generations.generation", 0, INT_MAX, &v, err);
        if (!rc) *g = (int)v;
    }
    sqlite3_finalize(st);
    return rc;
}

/* meta */

static int check_key(const uh_store_t *s, const char *key, uh_error_t *err) {
    if (!key || !*key) return uh_error_set(err, UH_EINVAL, "%s: meta key is empty", s->path);
    if (strnlen(key, UH_STORE_KEY_MAX + 1) > UH_STORE_KEY_MAX)
        return uh_error_set(err, UH_ELIMIT, "%s: meta key longer than %d characters", s->path,
                            UH_STORE_KEY_MAX);
    return UH_OK;
}

int uh_store_put_meta(uh_store_t *store, const char *key, const char *value, uh_error_t *err) {
    int rc = check_key(store, key, err);
    if (rc) return rc;
    if (!value)
        return uh_error_set(err, UH_EINVAL, "%s: meta %s: value is missing", store->path, key);
    if (strnlen(value, (size_t)UH_STORE_TEXT_MAX + 1) > (size_t)UH_STORE_TEXT_MAX)
        return uh_error_set(err, UH_ELIMIT, "%s: meta %s: value is larger than %ld bytes",
                            store->path, key, UH_STORE_TEXT_MAX);
    sqlite3_stmt *st;
    rc = store_prepare(store, "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)", &st, err);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    return step_write(store, st, "storing meta", err);
}

int uh_store_get_meta(uh_store_t *store, const char *key, char **value, uh_error_t *err) {
    *value = NULL;
    int rc = check_key(store, key, err);
    if (rc) return rc;
    sqlite3_stmt *st;
    rc = store_prepare(store, "SELECT value FROM meta WHERE key = ?1", &st, err);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    rc = step_one(store, st, "reading meta", err, "meta %s is not stored", key);
    if (!rc) rc = read_text_alloc(store, st, 0, "meta.value", value, err);
    sqlite3_finalize(st);
    return rc;
}

/* final front */

/* A write keyed by hash names a stored candidate; SQLite's foreign key says so. */
static int keyed_write(uh_store_t *s, sqlite3_stmt *st, const char *hash, const char *what,
                       uh_error_t *err) {
    int rc = UH_OK;
    if (sqlite3_step(st) != SQLITE_DONE) {
        if (sqlite3_extended_errcode(s->db) == SQLITE_CONSTRAINT_FOREIGNKEY)
            rc = uh_error_set(err, UH_ENOTFOUND, "%s: %s: candidate %s is not stored", s->path,
                              what, hash);
        else
            rc = store_sql_error(s, what, err);
    }
    sqlite3_finalize(st);
    return rc;
}

int uh_store_put_test_result(uh_store_t *store, const char *hash, const uh_test_result_t *r,
                             uh_error_t *err) {
    int rc = store_check_hash(hash, err);
    if (rc) return uh_error_prefix(err, "%s", store->path);
    if (r->mc < 0)
        return uh_error_set(err, UH_EINVAL, "%s: test result of %s: mc %d is negative", store->path,
                            hash, r->mc);
    sqlite3_stmt *st;
    rc = store_prepare(store,
                       "INSERT OR REPLACE INTO test_results(hash, accuracy, noisy_accuracy, "
                       "noisy_accuracy_std, mc) VALUES (?1, ?2, ?3, ?4, ?5)",
                       &st, err);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    bind_real(st, 2, r->accuracy);
    bind_real(st, 3, r->noisy_accuracy);
    bind_real(st, 4, r->noisy_accuracy_std);
    sqlite3_bind_int(st, 5, r->mc);
    return keyed_write(store, st, hash, "storing a test result", err);
}

int uh_store_get_test_result(uh_store_t *store, const char *hash, uh_test_result_t *r,
                             uh_error_t *err) {
    int rc = store_check_hash(hash, err);
    if (rc) return uh_error_prefix(err, "%s", store->path);
    sqlite3_stmt *st;
    rc = store_prepare(store,
                       "SELECT accuracy, noisy_accuracy, noisy_accuracy_std, mc FROM test_results "
                       "WHERE hash = ?1",
                       &st, err);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    uh_test_result_t got = {0};
    int64_t mc = 0;
    rc = step_one(store, st, "reading a test result", err, "no test result for %s", hash);
    if (!rc) rc = store_read_real(store, st, 0, "test_results.accuracy", &got.accuracy, err);
    if (!rc)
        rc = store_read_real(store, st, 1, "test_results.noisy_accuracy", &got.noisy_accuracy, err);
    if (!rc)
        rc = store_read_real(store, st, 2, "test_results.noisy_accuracy_std",
                             &got.noisy_accuracy_std, err);
    if (!rc) rc = store_read_int(store, st, 3, "test_results.mc", 0, INT_MAX, &mc, err);
    got.mc = (int)mc;
    sqlite3_finalize(st);
    if (!rc) *r = got;
    return rc;
}

/* weights: n little-endian IEEE floats, CRC-32 (zlib) over those bytes */

static int host_is_little_endian(void) {
    uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static uint32_t checksum(const unsigned char *bytes, size_t n) {
    uLong crc = crc32(0L, Z_NULL, 0);
    /* zlib takes uInt lengths: feed large blobs in pieces. */
    while (n > 0) {
        uInt piece = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = crc32(crc, bytes, piece);
        bytes += piece;
        n -= piece;
    }
    return (uint32_t)crc;
}

/* The blob of n floats, little-endian: w itself, or *le (caller frees) on a big-endian host. */
int store_encode_weights(const uh_store_t *store, const char *hash, const float *w, size_t n,
                         const unsigned char **blob, unsigned char **le, uh_error_t *err) {
    *le = NULL;
    *blob = (const unsigned char *)w;
    if (n == 0 || !w)
        return uh_error_set(err, UH_EINVAL, "%s: weights of %s: no weights given", store->path,
                            hash);
    if (n > (size_t)UH_STORE_MAX_WEIGHTS)
        return uh_error_set(err, UH_ELIMIT, "%s: weights of %s: %zu floats, over the limit of %ld",
                            store->path, hash, n, (long)UH_STORE_MAX_WEIGHTS);
    if (host_is_little_endian()) return UH_OK;
    if (!(*le = malloc(n * 4)))
        return uh_error_set(err, UH_ENOMEM, "%s: out of memory encoding weights", store->path);
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &w[i], 4);
        for (int k = 0; k < 4; k++) (*le)[4 * i + (size_t)k] = (unsigned char)(u >> (8 * k));
    }
    *blob = *le;
    return UH_OK;
}

/* Binds (n, checksum, data) of the weights at parameters first.. of st. */
void store_bind_weights(sqlite3_stmt *st, int first, const unsigned char *blob, size_t n) {
    sqlite3_bind_int64(st, first, (sqlite3_int64)n);
    sqlite3_bind_int64(st, first + 1, checksum(blob, n * 4));
    sqlite3_bind_blob64(st, first + 2, blob, n * 4, SQLITE_STATIC);
}

int uh_store_put_weights(uh_store_t *store, const char *hash, const float *w, size_t n,
                         uh_error_t *err) {
    int rc = store_check_hash(hash, err);
    if (rc) return uh_error_prefix(err, "%s", store->path);
    const unsigned char *blob;
    unsigned char *le;
    rc = store_encode_weights(store, hash, w, n, &blob, &le, err);
    sqlite3_stmt *st;
    if (!rc)
        rc = store_prepare(store,
                           "INSERT OR REPLACE INTO weights(hash, n, checksum, data) "
                           "VALUES (?1, ?2, ?3, ?4)",
                           &st, err);
    if (!rc) {
        sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
        store_bind_weights(st, 2, blob, n);
        rc = keyed_write(store, st, hash, "storing weights", err);
    }
    free(le);
    return rc;
}

/* Reads the weights at columns (n, checksum, data) first.. of a stepped row of st. */
int store_read_weights(uh_store_t *store, sqlite3_stmt *st, int first, const char *hash, float **w,
                       size_t *n, uh_error_t *err) {
    int64_t count = 0, sum = 0;
    float *out = NULL;
    char what[96];
    snprintf(what, sizeof what, "weights of %s: n", hash);
    int rc = store_read_int(store, st, first, what, 1, UH_STORE_MAX_WEIGHTS, &count, err);
    snprintf(what, sizeof what, "weights of %s: checksum", hash);
    if (!rc) rc = store_read_int(store, st, first + 1, what, 0, UINT32_MAX, &sum, err);
    if (!rc && sqlite3_column_type(st, first + 2) != SQLITE_BLOB)
        rc = uh_error_set(err, UH_EFORMAT, "%s: weights of %s: data is not a blob", store->path,
                          hash);
    const unsigned char *blob = rc ? NULL : sqlite3_column_blob(st, first + 2);
    size_t bytes = rc ? 0 : (size_t)sqlite3_column_bytes(st, first + 2);
    if (!rc && !blob)
        rc = uh_error_set(err, UH_ENOMEM, "%s: out of memory reading weights", store->path);
    if (!rc && bytes != (size_t)count * 4)
        rc = uh_error_set(err, UH_EFORMAT,
                          "%s: weights of %s: %zu bytes of data for %" PRId64 " floats",
                          store->path, hash, bytes, count);
    uint32_t computed = rc ? 0 : checksum(blob, bytes);
    if (!rc && computed != (uint32_t)sum)
        rc = uh_error_set(err, UH_EFORMAT,
                          "%s: weights of %s are corrupt: checksum 0x%08" PRIx32
                          ", stored 0x%08" PRIx32,
                          store->path, hash, computed, (uint32_t)sum);
    if (!rc && !(out = malloc(bytes)))
        rc = uh_error_set(err, UH_ENOMEM, "%s: out of memory reading weights", store->path);
    if (rc) return rc;
    if (host_is_little_endian()) {
        memcpy(out, blob, bytes);
    } else {
        for (size_t i = 0; i < (size_t)count; i++) {
            const unsigned char *b = blob + 4 * i;
            uint32_t u =
                (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
            memcpy(&out[i], &u, 4);
        }
    }
    *w = out;
    *n = (size_t)count;
    return UH_OK;
}

int uh_store_get_weights(uh_store_t *store, const char *hash, float **w, size_t *n,
                         uh_error_t *err) {
    *w = NULL;
    *n = 0;
    int rc = store_check_hash(hash, err);
    if (rc) return uh_error_prefix(err, "%s", store->path);
    sqlite3_stmt *st;
    rc = store_prepare(store, "SELECT n, checksum, data FROM weights WHERE hash = ?1", &st, err);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    rc = step_one(store, st, "reading weights", err, "no weights for %s", hash);
    if (!rc) rc = store_read_weights(store, st, 0, hash, w, n, err);
    sqlite3_finalize(st);
    return rc;
}

int uh_store_delete_weights(uh_store_t *store, const char *hash, uh_error_t *err) {
    int rc = store_check_hash(hash, err);
    if (rc) return uh_error_prefix(err, "%s", store->path);
    sqlite3_stmt *st;
    rc = store_prepare(store, "DELETE FROM weights WHERE hash = ?1", &st, err);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    return step_write(store, st, "deleting weights", err);
}

/* rungs */

int uh_store_put_rung(uh_store_t *store, const uh_rung_t *r, const float *w, size_t n,
                      uh_error_t *err) {
    int rc = store_check_hash(r->hash, err);
    if (rc) return uh_error_prefix(err, "%s", store->path);
    if (r->rung < 0 || r->epochs < 1)
        return uh_error_set(err, UH_EINVAL, "%s: rung %d of %s: %d epochs", store->path, r->rung,
                            r->hash, r->epochs);
    const unsigned char *blob = NULL;
    unsigned char *le = NULL;
    if (w) rc = store_encode_weights(store, r->hash, w, n, &blob, &le, err);
    sqlite3_stmt *st;
    if (!rc)
        rc = store_prepare(store,
                           "INSERT OR REPLACE INTO rungs(hash, rung, epochs, accuracy, "
                           "noisy_accuracy, noisy_accuracy_std, train_seconds, n, checksum, data) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                           &st, err);
    if (!rc) {
        sqlite3_bind_text(st, 1, r->hash, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 2, r->rung);
        sqlite3_bind_int(st, 3, r->epochs);
        bind_real(st, 4, r->accuracy);
        bind_real(st, 5, r->noisy_accuracy);
        bind_real(st, 6, r->noisy_accuracy_std);
        bind_real(st, 7, r->train_seconds);
        if (w) store_bind_weights(st, 8, blob, n); /* else NULLs */
        rc = step_write(store, st, "storing a rung", err);
    }
    free(le);
    return rc;
}

int uh_store_rungs(uh_store_t *store, uh_rung_t **rows, size_t *n, uh_error_t *err) {
    *rows = NULL;
    *n = 0;
    sqlite3_stmt *st;
    int rc = store_prepare(store,
                           "SELECT hash, rung, epochs, accuracy, noisy_accuracy, "
                           "noisy_accuracy_std, train_seconds FROM rungs ORDER BY hash, rung",
                           &st, err);
    if (rc) return rc;
    uh_rung_t *a = NULL;
    size_t len = 0, cap = 0;
    int step = SQLITE_DONE;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            uh_rung_t *b = realloc(a, ncap * sizeof *a);
            if (!b) {
                rc = uh_error_set(err, UH_ENOMEM, "%s: out of memory reading rungs", store->path);
                break;
            }
            a = b;
            cap = ncap;
        }
        uh_rung_t *r = &a[len];
        int64_t rung = 0, epochs = 0;
        rc = read_text(store, st, 0, "rungs.hash", r->hash, sizeof r->hash, err);
        if (!rc && store_check_hash(r->hash, NULL))
            rc = uh_error_set(err, UH_EFORMAT, "%s: rungs.hash \"%s\" is not [0-9A-Za-z]+",
                              store->path, r->hash);
        if (!rc) rc = store_read_int(store, st, 1, "rungs.rung", 0, INT_MAX, &rung, err);
        if (!rc) rc = store_read_int(store, st, 2, "rungs.epochs", 1, INT_MAX, &epochs, err);
        if (!rc) rc = store_read_real(store, st, 3, "rungs.accuracy", &r->accuracy, err);
        if (!rc)
            rc = store_read_real(store, st, 4, "rungs.noisy_accuracy", &r->noisy_accuracy, err);
        if (!rc)
            rc = store_read_real(store, st, 5, "rungs.noisy_accuracy_std", &r->noisy_accuracy_std,
                                 err);
        if (!rc) rc = store_read_real(store, st, 6, "rungs.train_seconds", &r->train_seconds, err);
        r->rung = (int)rung;
        r->epochs = (int)epochs;
        if (!rc) len++;
    }
    if (!rc && step != SQLITE_DONE) rc = store_sql_error(store, "reading rungs", err);
    sqlite3_finalize(st);
    if (rc) {
        free(a);
        return rc;
    }
    *rows = a;
    *n = len;
    return UH_OK;
}

int uh_store_get_rung_weights(uh_store_t *store, const char *hash, int rung, float **w, size_t *n,
                              uh_error_t *err) {
    *w = NULL;
    *n = 0;
    int rc = store_check_hash(hash, err);
    if (rc) return uh_error_prefix(err, "%s", store->path);
    sqlite3_stmt *st;
    rc = store_prepare(store,
                       "SELECT n, checksum, data FROM rungs "
                       "WHERE hash = ?1 AND rung = ?2 AND data IS NOT NULL",
                       &st, err);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, rung);
    rc = step_one(store, st, "reading rung weights", err, "no weights for %s at rung %d", hash,
                  rung);
    if (!rc) rc = store_read_weights(store, st, 0, hash, w, n, err);
    sqlite3_finalize(st);
    return rc;
}

int uh_store_drop_rung_weights(uh_store_t *store, const char *hash, uh_error_t *err) {
    int rc = store_check_hash(hash, err);
    if (rc) return uh_error_prefix(err, "%s", store->path);
    sqlite3_stmt *st;
    rc = store_prepare(
        store, "UPDATE rungs SET n = NULL, checksum = NULL, data = NULL WHERE hash = ?1", &st, err);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    return step_write(store, st, "dropping rung weights", err);
}
