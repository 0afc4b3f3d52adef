/* The evaluation cache (uhnas/cache.h): one table of entries in an SQLite file of its own,
 * read and written with the run store's helpers and checks. */
#include "uhnas/cache.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store_internal.h"

struct uh_cache {
    uh_store_t db; /* only its connection and path: the helpers' handle */
};

static const char CACHE_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS entries("
    " key TEXT PRIMARY KEY,"      /* 16 hex digits of the description's FNV-1a */
    " description TEXT NOT NULL," /* compared on every hit */
    " accuracy REAL NOT NULL, noisy_accuracy REAL NOT NULL, noisy_std REAL NOT NULL,"
    " train_seconds REAL NOT NULL,"
    " n INTEGER NOT NULL, checksum INTEGER NOT NULL, data BLOB NOT NULL," /* the weights */
    " created_at TEXT NOT NULL)";

/* 16 hex digits of the FNV-1a hash of text */
static void cache_key(const char *text, char out[17]) {
    uint64_t h = 14695981039346656037ULL;
    for (const char *p = text; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* Gives a new (empty) file its identity and table, once: under an immediate transaction, so
 * that of several processes creating it at once one does it and the others find it done. */
static int initialise(uh_cache_t *c, uh_error_t *err) {
    int rc = store_exec(&c->db, "BEGIN IMMEDIATE", "starting the cache's schema", err);
    int64_t app = 0, version = 0;
    if (!rc)
        rc = store_query_int(&c->db, "PRAGMA application_id", "reading application_id", &app, err);
    if (!rc && app == 0) {
        /* constants of this build, not user data */
        char pragmas[96];
        snprintf(pragmas, sizeof pragmas, "PRAGMA application_id = %d; PRAGMA user_version = %d",
                 (int)UH_CACHE_APP_ID, UH_CACHE_SCHEMA_VERSION);
        rc = store_exec(&c->db, pragmas, "setting the cache's identity", err);
        if (!rc) rc = store_exec(&c->db, CACHE_SCHEMA, "creating the cache's table", err);
        app = UH_CACHE_APP_ID;
    }
    if (!rc && app != UH_CACHE_APP_ID)
        rc = uh_error_set(err, UH_EFORMAT,
                          "%s: not a uhnas evaluation cache: SQLite application_id is 0x%08llx",
                          c->db.path, (unsigned long long)app);
    if (!rc)
        rc = store_query_int(&c->db, "PRAGMA user_version", "reading user_version", &version, err);
    if (!rc && version != UH_CACHE_SCHEMA_VERSION)
        rc = uh_error_set(err, UH_EFORMAT,
                          "%s: evaluation cache of schema version %lld; this build reads %d",
                          c->db.path, (long long)version, UH_CACHE_SCHEMA_VERSION);
    if (!rc) rc = store_exec(&c->db, "COMMIT", "committing the cache's schema", err);
    if (rc) sqlite3_exec(c->db.db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* The table has the columns this build reads (a file edited by hand may not). */
static int check_table(uh_cache_t *c, uh_error_t *err) {
    sqlite3_stmt *st;
    int rc = store_prepare(&c->db,
                           "SELECT key, description, accuracy, noisy_accuracy, noisy_std, "
                           "train_seconds, n, checksum, data, created_at FROM entries LIMIT 0",
                           &st, err);
    sqlite3_finalize(st);
    return rc ? uh_error_prefix(err, "%s: not a uhnas evaluation cache", c->db.path) : UH_OK;
}

int uh_cache_open(const char *path, uh_cache_t **out, uh_error_t *err) {
    *out = NULL;
    if (!path || !*path) return uh_error_set(err, UH_EINVAL, "evaluation cache: no file named");
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return uh_error_set(err, UH_EINVAL, "%s: the evaluation cache must be a file", path);
    /* a file with content must be ours before SQLite reads it */
    if (stat(path, &st) == 0 && st.st_size > 0) {
        int rc = store_check_header(path, UH_CACHE_APP_ID, "evaluation cache", err);
        if (rc) return rc;
    }
    uh_cache_t *c = calloc(1, sizeof *c);
    if (!c || !(c->db.path = strdup(path))) {
        free(c);
        return uh_error_set(err, UH_ENOMEM, "%s: out of memory", path);
    }
    int rc = UH_OK;
    if (sqlite3_open_v2(path, &c->db.db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK)
        rc = c->db.db ? store_sql_error(&c->db, "cannot open", err)
                      : uh_error_set(err, UH_ENOMEM, "%s: out of memory", path);
    if (!rc) {
        store_configure(c->db.db);
        rc = initialise(c, err);
    }
    if (!rc) rc = store_exec(&c->db, "PRAGMA journal_mode = WAL", "setting WAL mode", err);
    if (!rc) rc = store_exec(&c->db, "PRAGMA synchronous = FULL", "setting synchronous", err);
    if (!rc) rc = check_table(c, err);
    if (rc) {
        uh_cache_close(c);
        return rc;
    }
    *out = c;
    return UH_OK;
}

void uh_cache_close(uh_cache_t *cache) {
    if (!cache) return;
    sqlite3_close_v2(cache->db.db);
    free(cache->db.path);
    free(cache);
}

const char *uh_cache_path(const uh_cache_t *cache) {
    return cache->db.path;
}

/* Reads the entry of a stepped row (columns description.. of the SELECT below): UH_EFORMAT
 * when anything in it is not what a put writes. */
static int read_entry(uh_cache_t *c, sqlite3_stmt *st, const char *key, uh_cache_entry_t *e,
                      float **w, size_t *n, uh_error_t *err) {
    double v[4];
    static const char *const what[4] = {"accuracy", "noisy_accuracy", "noisy_std", "train_seconds"};
    int rc = UH_OK;
    for (int i = 0; !rc && i < 4; i++) {
        rc = store_read_real(&c->db, st, 1 + i, what[i], &v[i], err);
        if (!rc && !(isfinite(v[i]) && v[i] >= 0 && (i == 3 || v[i] <= 1)))
            rc = uh_error_set(err, UH_EFORMAT, "%s: entry %s: %s is %g", c->db.path, key, what[i],
                              v[i]);
    }
    if (!rc && w) rc = store_read_weights(&c->db, st, 5, key, w, n, err);
    if (!rc) *e = (uh_cache_entry_t){v[0], v[1], v[2], v[3]};
    return rc;
}

int uh_cache_get(uh_cache_t *cache, const char *description, uh_cache_entry_t *entry, float **w,
                 size_t *n, int *found, uh_error_t *err) {
    *found = 0;
    if (w) *w = NULL, *n = 0;
    char key[17];
    cache_key(description, key);
    sqlite3_stmt *st;
    int rc = store_prepare(&cache->db,
                           "SELECT description, accuracy, noisy_accuracy, noisy_std, "
                           "train_seconds, n, checksum, data FROM entries WHERE key = ?1",
                           &st, err);
    if (rc) return rc;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        const char *stored = (const char *)sqlite3_column_text(st, 0);
        uh_error_t damaged = {0};
        /* another description under the key, or a damaged entry: a miss */
        if (sqlite3_column_type(st, 0) == SQLITE_TEXT && stored &&
            strcmp(stored, description) == 0 &&
            read_entry(cache, st, key, entry, w, n, &damaged) == UH_OK)
            *found = 1;
    } else if (step != SQLITE_DONE) {
        rc = store_sql_error(&cache->db, "reading an entry", err);
    }
    sqlite3_finalize(st);
    return rc;
}

int uh_cache_put(uh_cache_t *cache, const char *description, const uh_cache_entry_t *entry,
                 const float *w, size_t n, uh_error_t *err) {
    char key[17], now[32];
    cache_key(description, key);
    store_now(now);
    const unsigned char *blob;
    unsigned char *le;
    int rc = store_encode_weights(&cache->db, key, w, n, &blob, &le, err);
    sqlite3_stmt *st = NULL;
    if (!rc)
        rc = store_prepare(&cache->db,
                           "INSERT OR REPLACE INTO entries(key, description, accuracy, "
                           "noisy_accuracy, noisy_std, train_seconds, n, checksum, data, "
                           "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                           &st, err);
    if (!rc) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, description, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 3, entry->accuracy);
        sqlite3_bind_double(st, 4, entry->noisy_accuracy);
        sqlite3_bind_double(st, 5, entry->noisy_std);
        sqlite3_bind_double(st, 6, entry->train_seconds);
        store_bind_weights(st, 7, blob, n);
        sqlite3_bind_text(st, 10, now, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = store_sql_error(&cache->db, "storing an entry", err);
    }
    sqlite3_finalize(st);
    free(le);
    return rc;
}

int uh_cache_count(uh_cache_t *cache, long *n, uh_error_t *err) {
    int64_t v = 0;
    int rc =
        store_query_int(&cache->db, "SELECT count(*) FROM entries", "counting entries", &v, err);
    *n = rc ? 0 : (long)v;
    return rc;
}
