/* Private to src/store: the handle and the helpers its files share. */
#ifndef UHNAS_STORE_INTERNAL_H
#define UHNAS_STORE_INTERNAL_H

#include <sqlite3.h>

#include "uhnas/store.h"

struct uh_store {
    sqlite3 *db;
    char *path;   /* dir/run.sqlite */
    char *config; /* the run's configuration text, read on open */
    int in_tx;    /* inside uh_store_begin / uh_store_commit */
    int lock_fd;  /* dir/run.lock while this process runs the search, else −1 */
    int readonly; /* opened by uh_store_open_readonly */
    int outdated; /* read-only and of an older schema: to be upgraded by a writable open */
};

/* Turns the connection's last SQLite error into ours: "<path>: <what>: <sqlite message>",
 * with a code from the SQLite one (corrupt → UH_EFORMAT, too big → UH_ELIMIT, ...). */
int store_sql_error(const uh_store_t *s, const char *what, uh_error_t *err);

/* Prepares sql (a constant: user data is always bound, never formatted in). */
int store_prepare(const uh_store_t *s, const char *sql, sqlite3_stmt **st, uh_error_t *err);

/* The current time, UTC, ISO 8601 with milliseconds: "2025-01-31T12:34:56.789Z". */
void store_now(char out[32]);

/* Checks a candidate hash: 1..UH_STORE_HASH_MAX characters of [0-9A-Za-z]. */
int store_check_hash(const char *hash, uh_error_t *err);

/* The candidate columns in the order store_read_candidate reads them, for SELECTs. */
#define STORE_CANDIDATE_COLUMNS                                                                    \
    "id, generation, origin, arch, hash, accuracy, noisy_accuracy, noisy_accuracy_std, "           \
    "energy_nj, params, macs, train_seconds, status, message, seed, created_at, latency_ns, "      \
    "area_mm2, epochs_trained, parents"
#define STORE_CANDIDATE_NCOLS 20

/* The text of c's candidates.parents, "[12,7]", into buf (STORE_PARENTS_TEXT_MAX bytes);
 * "" when n_parents < 0 (not recorded: the column is NULL). */
#define STORE_PARENTS_TEXT_MAX (2 + UH_SEARCH_MAX_PARENTS * 21)
void store_parents_text(const uh_candidate_t *c, char *buf);

/* Reads one candidate row (columns from `first` on, as above) into *c, checking every type,
 * range and length: the file is input. */
int store_read_candidate(const uh_store_t *s, sqlite3_stmt *st, int first, uh_candidate_t *c,
                         uh_error_t *err);

/* Reads a REAL column that may be NULL (→ NaN); other types are refused. */
int store_read_real(const uh_store_t *s, sqlite3_stmt *st, int col, const char *what, double *out,
                    uh_error_t *err);

/* The checks of a file that need no SQLite, so that SQLite never opens one that is not ours:
 * the magic string, application_id app_id (of a `kind`, named in errors: "run store"), a sane
 * page size, and a length that matches the header. */
int store_check_header(const char *path, uint32_t app_id, const char *kind, uh_error_t *err);

/* Connection settings every handle gets before it reads anything (busy timeout, limits,
 * defensive mode). */
void store_configure(sqlite3 *db);

/* Runs a statement without parameters or rows to read. */
int store_exec(const uh_store_t *s, const char *sql, const char *what, uh_error_t *err);

/* Runs a one-value query (a PRAGMA) and returns its integer. */
int store_query_int(const uh_store_t *s, const char *sql, const char *what, int64_t *out,
                    uh_error_t *err);

/* Reads an INTEGER column in [lo, hi]; other types and values are refused. */
int store_read_int(const uh_store_t *s, sqlite3_stmt *st, int col, const char *what, int64_t lo,
                   int64_t hi, int64_t *out, uh_error_t *err);

/* Weights as a blob: n little-endian IEEE floats with a CRC-32 (zlib) of those bytes.
 * store_encode_weights gives the blob of w (w itself, or *le, which the caller frees, on a
 * big-endian host); store_bind_weights binds (n, checksum, data) at parameters first..;
 * store_read_weights reads them back from columns first.. of a stepped row, checking count,
 * length and checksum (*w malloc'd). `hash` names the weights in errors. */
int store_encode_weights(const uh_store_t *store, const char *hash, const float *w, size_t n,
                         const unsigned char **blob, unsigned char **le, uh_error_t *err);
void store_bind_weights(sqlite3_stmt *st, int first, const unsigned char *blob, size_t n);
int store_read_weights(uh_store_t *store, sqlite3_stmt *st, int first, const char *hash, float **w,
                       size_t *n, uh_error_t *err);

#endif
