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
    "area_mm2, epochs_trained"
#define STORE_CANDIDATE_NCOLS 19

/* Reads one candidate row (columns from `first` on, as above) into *c, checking every type,
 * range and length: the file is input. */
int store_read_candidate(const uh_store_t *s, sqlite3_stmt *st, int first, uh_candidate_t *c,
                         uh_error_t *err);

/* Reads a REAL column that may be NULL (→ NaN); other types are refused. */
int store_read_real(const uh_store_t *s, sqlite3_stmt *st, int col, const char *what, double *out,
                    uh_error_t *err);

#endif
