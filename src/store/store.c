/* The run store: creating, opening (with every check a hostile file needs), transactions. */
#include "store_internal.h"
#include "uhnas/limits.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef UHNAS_VERSION
#define UHNAS_VERSION "unknown"
#endif

/* The run's lock, beside its store (uh_store_lock_run). */
#define STORE_LOCK_FILE "run.lock"
/* How long a write waits for another connection's lock before giving up. */
#define STORE_BUSY_TIMEOUT_MS 30000

/* The candidates table (shared by a new file's schema and the version-3 rebuild, which must
 * give the same table). */
#define CANDIDATES_TABLE                                                                           \
    "("                                                                                            \
    "  id INTEGER PRIMARY KEY,"                                                                    \
    "  generation INTEGER NOT NULL CHECK (generation >= 0),"                                       \
    "  origin TEXT NOT NULL,"                                                                      \
    "  arch TEXT NOT NULL,"                                                                        \
    "  hash TEXT NOT NULL UNIQUE,"                                                                 \
    "  accuracy REAL,"                                                                             \
    "  noisy_accuracy REAL,"                                                                       \
    "  noisy_accuracy_std REAL,"                                                                   \
    "  energy_nj REAL,"                                                                            \
    "  params INTEGER NOT NULL,"                                                                   \
    "  macs INTEGER NOT NULL,"                                                                     \
    "  train_seconds REAL,"                                                                        \
    "  status TEXT NOT NULL CHECK (status IN ('ok', 'failed', 'invalid', 'pruned')),"              \
    "  message TEXT NOT NULL,"                                                                     \
    "  seed INTEGER NOT NULL,"                                                                     \
    "  created_at TEXT NOT NULL,"                                                                  \
    "  latency_ns REAL,"                                                                           \
    "  area_mm2 REAL,"                                                                             \
    "  epochs_trained INTEGER,"                                                                    \
    "  parents TEXT);"

/* Results of candidates at the pruner's rungs, and the weights a candidate in training
 * continues from (NULL once it is final). No foreign key: a rung is stored before its
 * candidate's row. */
#define RUNGS_TABLE                                                                                \
    "CREATE TABLE rungs("                                                                          \
    "  hash TEXT NOT NULL,"                                                                        \
    "  rung INTEGER NOT NULL CHECK (rung >= 0),"                                                   \
    "  epochs INTEGER NOT NULL CHECK (epochs >= 1),"                                               \
    "  accuracy REAL,"                                                                             \
    "  noisy_accuracy REAL,"                                                                       \
    "  noisy_accuracy_std REAL,"                                                                   \
    "  train_seconds REAL,"                                                                        \
    "  n INTEGER,"                                                                                 \
    "  checksum INTEGER,"                                                                          \
    "  data BLOB,"                                                                                 \
    "  PRIMARY KEY (hash, rung));"

static const char SCHEMA[] = "CREATE TABLE run("
                             "  id INTEGER PRIMARY KEY CHECK (id = 1),"
                             "  config TEXT NOT NULL,"
                             "  uhnas_version TEXT NOT NULL,"
                             "  created_at TEXT NOT NULL);"
                             "CREATE TABLE candidates" CANDIDATES_TABLE "CREATE TABLE generations("
                             "  generation INTEGER PRIMARY KEY CHECK (generation >= 0),"
                             "  state TEXT NOT NULL,"
                             "  hypervolume REAL,"
                             "  diversity REAL,"
                             "  front_size INTEGER NOT NULL);"
                             "CREATE TABLE meta("
                             "  key TEXT PRIMARY KEY,"
                             "  value TEXT NOT NULL);"
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
                             "  data BLOB NOT NULL);" RUNGS_TABLE;

/* Every table and column a file must have for this build to read it (columns added by a later
 * schema version are in ADDED, checked once the file has been upgraded). */
static const struct {
    const char *table;
    const char *columns[17];
} EXPECTED[] = {
    {"run", {"id", "config", "uhnas_version", "created_at"}},
    {"candidates",
     {"id", "generation", "origin", "arch", "hash", "accuracy", "noisy_accuracy",
      "noisy_accuracy_std", "energy_nj", "params", "macs", "train_seconds", "status", "message",
      "seed", "created_at"}},
    {"generations", {"generation", "state", "hypervolume", "diversity", "front_size"}},
    {"meta", {"key", "value"}},
    {"test_results", {"hash", "accuracy", "noisy_accuracy", "noisy_accuracy_std", "mc"}},
    {"weights", {"hash", "n", "checksum", "data"}},
};

/* Columns added by later schema versions: a file of that version or newer has them. */
static const struct {
    int version;
    const char *table, *column;
} ADDED[] = {
    {2, "candidates", "latency_ns"},
    {2, "candidates", "area_mm2"},
    {3, "candidates", "epochs_trained"},
    {3, "rungs", "hash"},
    {3, "rungs", "rung"},
    {3, "rungs", "epochs"},
    {3, "rungs", "accuracy"},
    {3, "rungs", "noisy_accuracy"},
    {3, "rungs", "noisy_accuracy_std"},
    {3, "rungs", "train_seconds"},
    {3, "rungs", "n"},
    {3, "rungs", "checksum"},
    {3, "rungs", "data"},
    {4, "candidates", "parents"},
};

/* Each version's statements bring a file of the version before it to that version's
 * tables; upgrade() then sets user_version once, to this build's. */
/* Schema version 2: the statements that add its columns to a version-1 file. */
static const char MIGRATE_V2[] = "ALTER TABLE candidates ADD COLUMN latency_ns REAL;"
                                 "ALTER TABLE candidates ADD COLUMN area_mm2 REAL;";
/* Schema version 3: status 'pruned' (a CHECK constraint, so the table is rebuilt: SQLite's
 * documented way, with foreign keys still off on this handle), candidates.epochs_trained
 * (NULL on earlier rows: not recorded) and the rungs table. The rebuilt table has this
 * build's columns (CANDIDATES_TABLE), so the later versions' ALTERs are skipped after it. */
static const char MIGRATE_V3[] =
    "CREATE TABLE candidates_v3" CANDIDATES_TABLE
    "INSERT INTO candidates_v3(id, generation, origin, arch, hash, accuracy, noisy_accuracy, "
    "noisy_accuracy_std, energy_nj, params, macs, train_seconds, status, message, seed, "
    "created_at, latency_ns, area_mm2) SELECT id, generation, origin, arch, hash, accuracy, "
    "noisy_accuracy, noisy_accuracy_std, energy_nj, params, macs, train_seconds, status, "
    "message, seed, created_at, latency_ns, area_mm2 FROM candidates;"
    "DROP TABLE candidates;"
    "ALTER TABLE candidates_v3 RENAME TO candidates;" RUNGS_TABLE;
/* Schema version 4: candidates.parents (NULL on earlier rows: not recorded). */
static const char MIGRATE_V4[] = "ALTER TABLE candidates ADD COLUMN parents TEXT;";

/* helpers shared by the store's files */

int store_sql_error(const uh_store_t *s, const char *what, uh_error_t *err) {
    int code, rc = sqlite3_errcode(s->db);
    switch (rc) {
    case SQLITE_NOMEM:
        code = UH_ENOMEM;
        break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_MISMATCH:
        code = UH_EFORMAT;
        break;
    case SQLITE_TOOBIG:
        code = UH_ELIMIT;
        break;
    case SQLITE_CONSTRAINT:
    case SQLITE_RANGE:
    case SQLITE_MISUSE:
        code = UH_EINVAL;
        break;
    default:
        code = UH_EIO;
    }
    /* SQLite says "disk I/O error" for a full disk or a file-size limit alike: the system's
     * reason tells the user what to do (free space, raise ulimit -f) */
    int sys = code == UH_EIO || rc == SQLITE_FULL ? sqlite3_system_errno(s->db) : 0;
    return uh_error_set(err, code, "%s: %s%s: %s%s%s", s->path,
                        code == UH_EFORMAT ? "corrupt: " : "", what, sqlite3_errmsg(s->db),
                        sys ? ": " : "", sys ? strerror(sys) : "");
}

int store_prepare(const uh_store_t *s, const char *sql, sqlite3_stmt **st, uh_error_t *err) {
    *st = NULL;
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
        sqlite3_finalize(*st);
        *st = NULL;
        return store_sql_error(s, "preparing a statement", err);
    }
    return UH_OK;
}

int store_check_hash(const char *hash, uh_error_t *err) {
    if (!hash) return uh_error_set(err, UH_EINVAL, "candidate hash is missing");
    size_t n = strnlen(hash, UH_STORE_HASH_MAX + 1);
    if (n == 0) return uh_error_set(err, UH_EINVAL, "candidate hash is empty");
    if (n > UH_STORE_HASH_MAX)
        return uh_error_set(err, UH_ELIMIT, "candidate hash longer than %d characters",
                            UH_STORE_HASH_MAX);
    for (size_t i = 0; i < n; i++) {
        char ch = hash[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')))
            return uh_error_set(err, UH_EINVAL,
                                "candidate hash \"%.*s\": character %zu is not [0-9A-Za-z]", (int)n,
                                hash, i + 1);
    }
    return UH_OK;
}

/* small file-system helpers */

static char *join_path(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t at = a;
    if (a > 0 && dir[a - 1] != '/') p[at++] = '/';
    memcpy(p + at, name, b + 1);
    return p;
}

/* Creates dir and its missing parents (mode 0777 less the umask). */
static int make_dirs(const char *dir, uh_error_t *err) {
    char *p = strdup(dir);
    if (!p) return uh_error_set(err, UH_ENOMEM, "%s: out of memory", dir);
    int rc = UH_OK;
    for (char *q = p + 1; !rc; q++) {
        int end = *q == '\0';
        if (*q != '/' && !end) continue;
        *q = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST)
            rc = uh_error_set(err, UH_EIO, "%s: cannot create directory: %s", p, strerror(errno));
        if (end) break;
        *q = '/';
    }
    free(p);
    if (rc) return rc;
    struct stat st;
    if (stat(dir, &st) != 0)
        return uh_error_set(err, UH_EIO, "%s: cannot create directory: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return uh_error_set(err, UH_EINVAL, "%s: not a directory", dir);
    return UH_OK;
}

static int fsync_path(const char *path, int flags, uh_error_t *err) {
    int fd = open(path, flags);
    if (fd < 0) return uh_error_set(err, UH_EIO, "%s: cannot open: %s", path, strerror(errno));
    int rc = UH_OK;
    if (fsync(fd) != 0)
        rc = uh_error_set(err, UH_EIO, "%s: fsync failed: %s", path, strerror(errno));
    close(fd);
    return rc;
}

/* Removes path + suffix; a missing file is fine. */
static int unlink_side(const char *path, const char *suffix, uh_error_t *err) {
    char *p = malloc(strlen(path) + strlen(suffix) + 1);
    if (!p) return uh_error_set(err, UH_ENOMEM, "%s: out of memory", path);
    strcpy(p, path);
    strcat(p, suffix);
    int rc = UH_OK;
    if (unlink(p) != 0 && errno != ENOENT)
        rc = uh_error_set(err, UH_EIO, "%s: cannot remove: %s", p, strerror(errno));
    free(p);
    return rc;
}

static void unlink_all(const char *path) {
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++)
        unlink_side(path, suffixes[i], NULL);
}

static uint32_t be32(const unsigned char *b) {
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* The checks that need no SQLite, so that SQLite never touches a file that is not ours: the
 * magic string, our application_id, a sane page size, and (when no write-ahead log holds
 * newer pages) a file as long as its header says. */
int store_check_header(const char *path, uint32_t app_id, const char *kind, uh_error_t *err) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return uh_error_set(err, UH_EIO, "%s: cannot open: %s", path, strerror(errno));
    unsigned char h[100];
    size_t got = 0;
    while (got < sizeof h) {
        ssize_t r = read(fd, h + got, sizeof h - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            return uh_error_set(err, UH_EIO, "%s: read error: %s", path, strerror(e));
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    struct stat st;
    int stat_rc = fstat(fd, &st);
    close(fd);
    if (stat_rc != 0)
        return uh_error_set(err, UH_EIO, "%s: cannot stat: %s", path, strerror(errno));
    if (got == 0)
        return uh_error_set(err, UH_EFORMAT, "%s: not a uhnas %s: the file is empty", path, kind);
    if (got < sizeof h || memcmp(h, "SQLite format 3", 16) != 0)
        return uh_error_set(err, UH_EFORMAT,
                            "%s: not a uhnas %s: not an SQLite database (no SQLite header)", path,
                            kind);
    uint32_t file_app_id = be32(h + 68);
    if (file_app_id != app_id)
        return uh_error_set(err, UH_EFORMAT,
                            "%s: not a uhnas %s: SQLite application_id is 0x%08" PRIx32
                            ", expected 0x%08" PRIx32,
                            path, kind, file_app_id, app_id);
    uint32_t page = (uint32_t)h[16] << 8 | h[17];
    if (page == 1) page = 65536;
    if (page < 512 || (page & (page - 1)) != 0)
        return uh_error_set(err, UH_EFORMAT, "%s: corrupt SQLite header: page size %" PRIu32, path,
                            page);
    /* The header's page count is valid only when the change counter matches the
     * version-valid-for number. A non-empty WAL may hold pages the file does not have yet. */
    struct stat wst;
    char *wal = malloc(strlen(path) + 5);
    if (!wal) return uh_error_set(err, UH_ENOMEM, "%s: out of memory", path);
    strcpy(wal, path);
    strcat(wal, "-wal");
    int has_wal = stat(wal, &wst) == 0 && wst.st_size > 0;
    free(wal);
    uint32_t pages = be32(h + 28);
    if (!has_wal && pages > 0 && memcmp(h + 24, h + 92, 4) == 0) {
        long long want = (long long)pages * page;
        if ((long long)st.st_size < want)
            return uh_error_set(err, UH_EFORMAT,
                                "%s: truncated: the header promises %" PRIu32 " pages of %" PRIu32
                                " bytes (%lld bytes), the file has %lld",
                                path, pages, page, want, (long long)st.st_size);
    }
    return UH_OK;
}

/* Runs a statement that needs no parameters and returns no rows we read. */
int store_exec(const uh_store_t *s, const char *sql, const char *what, uh_error_t *err) {
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return store_sql_error(s, what, err);
    return UH_OK;
}

/* Runs a one-value query (a PRAGMA) and returns its integer. */
int store_query_int(const uh_store_t *s, const char *sql, const char *what, int64_t *out,
                    uh_error_t *err) {
    sqlite3_stmt *st;
    int rc = store_prepare(s, sql, &st, err);
    if (rc) return rc;
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER) {
        *out = sqlite3_column_int64(st, 0);
    } else if (step == SQLITE_ROW || step == SQLITE_DONE) {
        rc = uh_error_set(err, UH_EFORMAT, "%s: %s: no integer answer", s->path, what);
    } else {
        rc = store_sql_error(s, what, err);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Runs quick_check or integrity_check: one row "ok", or rows describing faults. */
static int run_check(const uh_store_t *s, const char *sql, const char *what, uh_error_t *err) {
    sqlite3_stmt *st;
    int rc = store_prepare(s, sql, &st, err);
    if (rc) return rc;
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        const char *r = (const char *)sqlite3_column_text(st, 0);
        if (!r || strcmp(r, "ok") != 0)
            rc = uh_error_set(err, UH_EFORMAT, "%s: corrupt: %s failed: %.200s", s->path, what,
                              r ? r : "(no message)");
    } else if (step == SQLITE_DONE) {
        rc = uh_error_set(err, UH_EFORMAT, "%s: corrupt: %s gave no answer", s->path, what);
    } else {
        rc = store_sql_error(s, what, err);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Whether `table` has `column`: 1, 0, or −1 after an SQLite error (set in err). */
static int has_column(const uh_store_t *s, sqlite3_stmt *st, const char *table, const char *column,
                      uh_error_t *err) {
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) return 1;
    if (step == SQLITE_DONE) return 0;
    store_sql_error(s, "reading the schema", err);
    return -1;
}

/* The tables and columns of schema `version` (1 to UH_STORE_SCHEMA_VERSION). */
static int check_tables(const uh_store_t *s, int64_t version, uh_error_t *err) {
    /* Triggers and views would run code of the file's choosing beside ours. */
    int64_t n = 0;
    int rc =
        store_query_int(s, "SELECT count(*) FROM sqlite_schema WHERE type IN ('trigger', 'view')",
                        "reading the schema", &n, err);
    if (rc) return rc;
    if (n > 0)
        return uh_error_set(err, UH_EFORMAT,
                            "%s: not a valid run store: it holds triggers or views", s->path);
    sqlite3_stmt *st;
    rc = store_prepare(s, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", &st, err);
    if (rc) return rc;
    for (size_t t = 0; !rc && t < sizeof EXPECTED / sizeof *EXPECTED; t++) {
        for (size_t c = 0; !rc && EXPECTED[t].columns[c]; c++) {
            int has = has_column(s, st, EXPECTED[t].table, EXPECTED[t].columns[c], err);
            if (has < 0)
                rc = err ? err->code : UH_EIO;
            else if (!has)
                rc = c == 0 ? uh_error_set(err, UH_EFORMAT,
                                           "%s: not a valid run store: table %s is missing",
                                           s->path, EXPECTED[t].table)
                            : uh_error_set(err, UH_EFORMAT,
                                           "%s: not a valid run store: table %s lacks column %s",
                                           s->path, EXPECTED[t].table, EXPECTED[t].columns[c]);
        }
    }
    for (size_t c = 0; !rc && c < sizeof ADDED / sizeof *ADDED; c++) {
        if (version < ADDED[c].version) continue;
        int has = has_column(s, st, ADDED[c].table, ADDED[c].column, err);
        if (has < 0)
            rc = err ? err->code : UH_EIO;
        else if (!has)
            rc =
                uh_error_set(err, UH_EFORMAT, "%s: not a valid run store: table %s lacks column %s",
                             s->path, ADDED[c].table, ADDED[c].column);
    }
    sqlite3_finalize(st);
    return rc;
}

static int load_run(uh_store_t *s, uh_error_t *err) {
    sqlite3_stmt *st;
    int rc = store_prepare(s, "SELECT config FROM run WHERE id = 1", &st, err);
    if (rc) return rc;
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        int bytes = sqlite3_column_bytes(st, 0);
        const char *text = (const char *)sqlite3_column_text(st, 0);
        if (sqlite3_column_type(st, 0) != SQLITE_TEXT || !text) {
            rc = uh_error_set(err, UH_EFORMAT, "%s: run.config is not text", s->path);
        } else if (bytes > UH_STORE_TEXT_MAX) {
            rc = uh_error_set(err, UH_ELIMIT, "%s: run.config is larger than %ld bytes", s->path,
                              UH_STORE_TEXT_MAX);
        } else if (strlen(text) != (size_t)bytes) {
            rc = uh_error_set(err, UH_EFORMAT, "%s: run.config holds a NUL byte", s->path);
        } else if (!(s->config = malloc((size_t)bytes + 1))) {
            rc = uh_error_set(err, UH_ENOMEM, "%s: out of memory", s->path);
        } else {
            memcpy(s->config, text, (size_t)bytes + 1);
        }
    } else if (step == SQLITE_DONE) {
        rc = uh_error_set(err, UH_EFORMAT, "%s: not a valid run store: the run row is missing",
                          s->path);
    } else {
        rc = store_sql_error(s, "reading the run row", err);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Upgrades a checked older store to this version in one transaction. Another process may
 * have done it meanwhile (two readers opening an old run at once): the version is read again
 * under the write lock. */
static int upgrade(uh_store_t *s, uh_error_t *err) {
    int rc = store_exec(s, "BEGIN IMMEDIATE", "upgrading the schema", err);
    if (rc) return rc;
    int64_t v = 0;
    rc = store_query_int(s, "PRAGMA user_version", "reading user_version", &v, err);
    if (!rc && v == 1) rc = store_exec(s, MIGRATE_V2, "upgrading the schema to version 2", err);
    if (!rc && v <= 2) rc = store_exec(s, MIGRATE_V3, "upgrading the schema to version 3", err);
    if (!rc && v == 3) rc = store_exec(s, MIGRATE_V4, "upgrading the schema to version 4", err);
    char version[40];
    snprintf(version, sizeof version, "PRAGMA user_version = %d", UH_STORE_SCHEMA_VERSION);
    if (!rc && v < UH_STORE_SCHEMA_VERSION)
        rc = store_exec(s, version, "upgrading the schema", err);
    if (!rc) rc = store_exec(s, "COMMIT", "committing the schema upgrade", err);
    if (rc) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    return check_tables(s, UH_STORE_SCHEMA_VERSION, err);
}

/* Connection settings every handle gets before it reads anything. */
void store_configure(sqlite3 *db) {
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
    sqlite3_limit(db, SQLITE_LIMIT_LENGTH, UH_STORE_SQL_LENGTH_MAX);
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
#ifdef SQLITE_DBCONFIG_TRUSTED_SCHEMA
    sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
#endif
}

/* Everything uh_store_open promises, on a handle whose file passed check_header. */
static int validate_and_setup(uh_store_t *s, uh_error_t *err) {
    int64_t v = 0;
    int rc = store_exec(s, "PRAGMA cell_size_check = ON", "setting cell_size_check", err);
    if (!rc) rc = store_query_int(s, "PRAGMA application_id", "reading application_id", &v, err);
    if (!rc && v != UH_STORE_APP_ID)
        rc = uh_error_set(err, UH_EFORMAT,
                          "%s: not a uhnas run store: SQLite application_id is 0x%08" PRIx32
                          ", expected 0x%08x",
                          s->path, (uint32_t)v, (unsigned)UH_STORE_APP_ID);
    if (!rc) rc = store_query_int(s, "PRAGMA user_version", "reading user_version", &v, err);
    if (!rc && v > UH_STORE_SCHEMA_VERSION)
        rc = uh_error_set(err, UH_EFORMAT,
                          "%s: schema version %" PRId64
                          " is newer than this build reads (%d): use a newer uhnas",
                          s->path, v, UH_STORE_SCHEMA_VERSION);
    if (!rc && v < 1)
        rc = uh_error_set(err, UH_EFORMAT,
                          "%s: unknown schema version %" PRId64 " (expected 1 to %d)", s->path, v,
                          UH_STORE_SCHEMA_VERSION);
    if (!rc) rc = check_tables(s, v, err);
    if (!rc) rc = run_check(s, "PRAGMA quick_check(1)", "quick_check", err);
    if (!rc) rc = load_run(s, err);
    if (!rc && v < UH_STORE_SCHEMA_VERSION) {
        if (s->readonly) return s->outdated = 1, UH_OK;
        rc = upgrade(s, err);
    }
    if (rc || s->readonly) return rc; /* a reader leaves the journal and sync settings be */

    sqlite3_stmt *st;
    rc = store_prepare(s, "PRAGMA journal_mode = WAL", &st, err);
    if (rc) return rc;
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = store_sql_error(s, "setting WAL mode", err);
    } else {
        const char *mode = (const char *)sqlite3_column_text(st, 0);
        if (!mode || strcmp(mode, "wal") != 0)
            rc = uh_error_set(err, UH_EIO, "%s: cannot use WAL mode (journal mode is %s)", s->path,
                              mode ? mode : "unknown");
    }
    sqlite3_finalize(st);
    if (!rc) rc = store_exec(s, "PRAGMA synchronous = FULL", "setting synchronous", err);
    if (!rc) rc = store_exec(s, "PRAGMA foreign_keys = ON", "enabling foreign keys", err);
    return rc;
}

/* open and close */

/* "file:" URI of path for sqlite3_open_v2 with SQLITE_OPEN_URI (everything but unreserved
 * characters and '/' percent-encoded), with the query q; NULL when out of memory. */
static char *file_uri(const char *path, const char *q) {
    size_t n = strlen(path), at = 0;
    char *u = malloc(5 + 3 * n + strlen(q) + 1);
    if (!u) return NULL;
    at += (size_t)sprintf(u, "file:");
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (isalnum(*p) || strchr("/-._~", *p))
            u[at++] = (char)*p;
        else
            at += (size_t)sprintf(u + at, "%%%02X", *p);
    }
    strcpy(u + at, q);
    return u;
}

/* Opens path read-only: in place when the directory is writable (SQLite may then create the
 * WAL's shared-memory file), else as immutable (a run directory the user cannot write: no
 * process of this user can be changing it). */
static int open_readonly(uh_store_t *s, const char *dir, uh_error_t *err) {
    char *uri = file_uri(s->path, access(dir, W_OK) == 0 ? "?mode=ro" : "?mode=ro&immutable=1");
    if (!uri) return uh_error_set(err, UH_ENOMEM, "%s: out of memory", s->path);
    int ok = sqlite3_open_v2(uri, &s->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
    free(uri);
    return ok == SQLITE_OK ? UH_OK
           : s->db         ? store_sql_error(s, "cannot open", err)
                           : uh_error_set(err, UH_ENOMEM, "%s: out of memory", s->path);
}

static int open_store(const char *dir, int readonly, uh_store_t **out, uh_error_t *err) {
    *out = NULL;
    if (!dir || !*dir) return uh_error_set(err, UH_EINVAL, "run directory is empty");
    struct stat st;
    if (stat(dir, &st) != 0)
        return uh_error_set(err, errno == ENOENT ? UH_ENOTFOUND : UH_EIO, "%s: %s", dir,
                            errno == ENOENT ? "no such run directory" : strerror(errno));
    if (!S_ISDIR(st.st_mode)) return uh_error_set(err, UH_EINVAL, "%s: not a directory", dir);
    uh_store_t *s = calloc(1, sizeof *s);
    if (s) s->lock_fd = -1;
    if (!s || !(s->path = join_path(dir, UH_STORE_FILE))) {
        free(s);
        return uh_error_set(err, UH_ENOMEM, "%s: out of memory", dir);
    }
    int rc = UH_OK;
    if (stat(s->path, &st) != 0) {
        rc = errno == ENOENT
                 ? uh_error_set(err, UH_ENOTFOUND, "%s: no run store here (%s is missing)", dir,
                                UH_STORE_FILE)
                 : uh_error_set(err, UH_EIO, "%s: %s", s->path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        rc = uh_error_set(err, UH_EINVAL, "%s: not a regular file", s->path);
    }
    if (!rc) rc = store_check_header(s->path, UH_STORE_APP_ID, "run store", err);
    s->readonly = readonly;
    if (!rc && readonly) {
        rc = open_readonly(s, dir, err);
    } else if (!rc && sqlite3_open_v2(s->path, &s->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        rc = s->db ? store_sql_error(s, "cannot open", err)
                   : uh_error_set(err, UH_ENOMEM, "%s: out of memory", s->path);
    }
    if (!rc) {
        store_configure(s->db);
        rc = validate_and_setup(s, err);
    }
    if (rc) {
        uh_store_close(s);
        return rc;
    }
    *out = s;
    return UH_OK;
}

int uh_store_open(const char *dir, uh_store_t **out, uh_error_t *err) {
    return open_store(dir, 0, out, err);
}

int uh_store_open_readonly(const char *dir, uh_store_t **out, uh_error_t *err) {
    int rc = open_store(dir, 1, out, err);
    if (rc || !(*out)->outdated) return rc;
    /* an older schema is upgraded first, which needs to write once */
    uh_store_close(*out);
    *out = NULL;
    rc = open_store(dir, 0, out, err);
    if (rc == UH_EIO || rc == UH_EFORMAT)
        uh_error_prefix(err, "a store of an older uhnas is upgraded before it is read, which "
                             "needs write access once");
    uh_store_close(*out);
    *out = NULL;
    return rc ? rc : open_store(dir, 1, out, err);
}

int uh_store_lock_run(uh_store_t *store, uh_error_t *err) {
    if (store->lock_fd >= 0) return UH_OK;
    size_t n = strlen(store->path);
    char *lock = malloc(n + sizeof STORE_LOCK_FILE);
    if (!lock) return uh_error_set(err, UH_ENOMEM, "out of memory");
    memcpy(lock, store->path, n + 1);
    char *slash = strrchr(lock, '/');
    strcpy(slash ? slash + 1 : lock, STORE_LOCK_FILE);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    int rc = UH_OK;
    if (fd < 0)
        rc = uh_error_set(err, UH_EIO, "%s: %s", lock, strerror(errno));
    else if (flock(fd, LOCK_EX | LOCK_NB) != 0)
        rc = uh_error_set(err, UH_EINVAL,
                          "%s: another uhnas process is running this search (wait for it, or "
                          "stop it, then resume)",
                          store->path);
    if (rc && fd >= 0) close(fd);
    if (!rc) store->lock_fd = fd;
    free(lock);
    return rc;
}

int uh_store_run_alive(const char *dir) {
    char *lock = join_path(dir, STORE_LOCK_FILE);
    int fd = lock ? open(lock, O_RDONLY | O_CLOEXEC) : -1;
    free(lock);
    if (fd < 0) return 0;
    /* a shared lock is refused while the run holds its exclusive one; if granted, it is
     * released at once by the close */
    int alive = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    close(fd);
    return alive;
}

void uh_store_close(uh_store_t *store) {
    if (!store) return;
    if (store->lock_fd >= 0) close(store->lock_fd); /* releases the lock */
    if (store->db) {
        if (store->in_tx) sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close_v2(store->db);
    }
    free(store->config);
    free(store->path);
    free(store);
}

/* Builds a complete store in the file tmp (which exists, empty). */
static int build(const char *tmp, const char *config_json, uh_error_t *err) {
    uh_store_t s = {.path = (char *)tmp};
    if (sqlite3_open_v2(tmp, &s.db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        int rc = s.db ? store_sql_error(&s, "cannot open", err)
                      : uh_error_set(err, UH_ENOMEM, "%s: out of memory", tmp);
        sqlite3_close(s.db);
        return rc;
    }
    store_configure(s.db);
    char now[32];
    store_now(now);
    /* The two PRAGMA values are constants of this build, not user data. */
    char pragmas[128];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA application_id = %d; PRAGMA user_version = %d; PRAGMA synchronous = FULL",
             (int)UH_STORE_APP_ID, UH_STORE_SCHEMA_VERSION);
    int rc = store_exec(&s, pragmas, "setting the file's identity", err);
    if (!rc) rc = store_exec(&s, "BEGIN", "starting the schema", err);
    if (!rc) rc = store_exec(&s, SCHEMA, "creating the tables", err);
    sqlite3_stmt *st = NULL;
    if (!rc)
        rc = store_prepare(&s,
                           "INSERT INTO run(id, config, uhnas_version, created_at) "
                           "VALUES (1, ?1, ?2, ?3)",
                           &st, err);
    if (!rc) {
        sqlite3_bind_text(st, 1, config_json, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, UHNAS_VERSION, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) rc = store_sql_error(&s, "storing the config", err);
    }
    sqlite3_finalize(st);
    if (!rc) rc = store_exec(&s, "COMMIT", "committing the schema", err);
    /* WAL mode is recorded in the file header; closing checkpoints and removes the log. */
    if (!rc) rc = store_exec(&s, "PRAGMA journal_mode = WAL", "setting WAL mode", err);
    if (sqlite3_close(s.db) != SQLITE_OK && !rc)
        rc = uh_error_set(err, UH_EIO, "%s: cannot close the new store", tmp);
    return rc;
}

int uh_store_create(const char *dir, const char *config_json, int flags, uh_store_t **out,
                    uh_error_t *err) {
    *out = NULL;
    if (!dir || !*dir) return uh_error_set(err, UH_EINVAL, "run directory is empty");
    if (!config_json) return uh_error_set(err, UH_EINVAL, "%s: run configuration is missing", dir);
    if (strnlen(config_json, (size_t)UH_STORE_TEXT_MAX + 1) > (size_t)UH_STORE_TEXT_MAX)
        return uh_error_set(err, UH_ELIMIT, "%s: run configuration is larger than %ld bytes", dir,
                            UH_STORE_TEXT_MAX);
    if (flags & ~UH_STORE_REPLACE)
        return uh_error_set(err, UH_EINVAL, "uh_store_create: unknown flags 0x%x", flags);
    int rc = make_dirs(dir, err);
    if (rc) return rc;
    char *path = join_path(dir, UH_STORE_FILE);
    char *tmp = path ? malloc(strlen(path) + 16) : NULL;
    if (!tmp) {
        free(path);
        return uh_error_set(err, UH_ENOMEM, "%s: out of memory", dir);
    }
    struct stat st;
    int exists = lstat(path, &st) == 0;
    if (exists && !(flags & UH_STORE_REPLACE)) {
        rc =
            uh_error_set(err, UH_EINVAL, "%s: already holds a run (%s exists)", dir, UH_STORE_FILE);
        goto done;
    }
    if (exists && S_ISDIR(st.st_mode)) {
        rc = uh_error_set(err, UH_EINVAL, "%s: is a directory", path);
        goto done;
    }
    snprintf(tmp, strlen(path) + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        rc = uh_error_set(err, UH_EIO, "%s: cannot create a temporary file: %s", dir,
                          strerror(errno));
        goto done;
    }
    close(fd);
    rc = build(tmp, config_json, err);
    if (!rc) rc = fsync_path(tmp, O_RDONLY, err);
    /* A log or index left beside the name would be read as part of the new file: clear them
     * (and, when replacing, the old run) before the new file takes the name. */
    if (!rc && exists && unlink(path) != 0 && errno != ENOENT)
        rc = uh_error_set(err, UH_EIO, "%s: cannot remove the old run: %s", path, strerror(errno));
    if (!rc) rc = unlink_side(path, "-wal", err);
    if (!rc) rc = unlink_side(path, "-shm", err);
    if (!rc) {
        /* link() refuses an existing name, so a run created meanwhile is never clobbered. */
        if (link(tmp, path) == 0) {
            unlink(tmp);
        } else if (errno == EEXIST) {
            rc = uh_error_set(err, UH_EINVAL, "%s: already holds a run (%s exists)", dir,
                              UH_STORE_FILE);
        } else if (rename(tmp, path) != 0) {
            rc = uh_error_set(err, UH_EIO, "%s: rename failed: %s", path, strerror(errno));
        }
    }
    if (!rc) rc = fsync_path(dir, O_RDONLY | O_DIRECTORY, err);
    if (rc) unlink_all(tmp);
    if (!rc) rc = uh_store_open(dir, out, err);
done:
    free(tmp);
    free(path);
    return rc;
}

const char *uh_store_path(const uh_store_t *store) {
    return store->path;
}

const char *uh_store_config(const uh_store_t *store) {
    return store->config;
}

int uh_store_check(uh_store_t *store, uh_error_t *err) {
    int rc = run_check(store, "PRAGMA integrity_check(1)", "integrity_check", err);
    if (rc) return rc;
    sqlite3_stmt *st;
    rc = store_prepare(store, "PRAGMA foreign_key_check", &st, err);
    if (rc) return rc;
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        const char *table = (const char *)sqlite3_column_text(st, 0);
        const char *parent = (const char *)sqlite3_column_text(st, 2);
        rc = uh_error_set(err, UH_EFORMAT,
                          "%s: corrupt: row %lld of %s refers to a missing row of %s", store->path,
                          (long long)sqlite3_column_int64(st, 1), table ? table : "?",
                          parent ? parent : "?");
    } else if (step != SQLITE_DONE) {
        rc = store_sql_error(store, "foreign_key_check", err);
    }
    sqlite3_finalize(st);
    return rc;
}

/* transactions */

int uh_store_begin(uh_store_t *store, uh_error_t *err) {
    if (store->in_tx)
        return uh_error_set(err, UH_EINVAL, "%s: a transaction is already open", store->path);
    /* IMMEDIATE takes the write lock now, so a commit never fails for a lock taken later. */
    int rc = store_exec(store, "BEGIN IMMEDIATE", "beginning a transaction", err);
    if (!rc) store->in_tx = 1;
    return rc;
}

int uh_store_commit(uh_store_t *store, uh_error_t *err) {
    if (!store->in_tx)
        return uh_error_set(err, UH_EINVAL, "%s: commit without a transaction", store->path);
    if (sqlite3_get_autocommit(store->db)) {
        /* SQLite rolled back on its own (a full disk, an I/O error). */
        store->in_tx = 0;
        return uh_error_set(err, UH_EIO, "%s: the transaction was rolled back by an earlier error",
                            store->path);
    }
    int rc = store_exec(store, "COMMIT", "committing", err);
    if (rc) {
        sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
    }
    store->in_tx = 0;
    return rc;
}

void uh_store_rollback(uh_store_t *store) {
    if (!store->in_tx) return;
    if (!sqlite3_get_autocommit(store->db)) sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
    store->in_tx = 0;
}
