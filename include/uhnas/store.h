/* uhnas — the run store: one directory per run, holding run.sqlite.
 *
 * Every evaluated candidate is committed the moment it is added, so a run killed with
 * kill -9 (or by a power cut) loses nothing that a call here reported as stored. The file is
 * SQLite in WAL mode with synchronous=FULL: a commit returns only after the write-ahead log
 * is on disk. A file that is not ours (another program's database, a corrupted or truncated
 * one, random bytes) is refused on open with a message naming the file and the reason.
 *
 * Tables (schema version UH_STORE_SCHEMA_VERSION, PRAGMA application_id UH_STORE_APP_ID):
 *   run          one row: the run's full config text, the uhnas version that made it
 *   candidates   one row per evaluated architecture, unique by hash
 *   generations  per generation: opaque resume state (JSON text) and front metrics
 *   meta         key/value text for other modules (e.g. language-model stats)
 *   test_results final-front test-set results, by hash
 *   weights      trained parameters of final-front networks, by hash
 *   rungs        the pruner's results per candidate and rung, with the weights a candidate
 *                still in training continues from
 *
 * A store handle is used by one thread at a time; a second thread opens its own handle
 * (WAL lets a reader work beside the writer). Strings the store returns are owned as each
 * function says; nothing is global. */
#ifndef UHNAS_STORE_H
#define UHNAS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "uhnas/arch.h"
#include "uhnas/error.h"
#include "uhnas/limits.h"

#define UH_STORE_FILE "run.sqlite"
#define UH_STORE_APP_ID 0x75684e41 /* "uhNA": PRAGMA application_id of every run store */
/* PRAGMA user_version; bump with a migration. Version 2 added candidates.latency_ns and
 * candidates.area_mm2, version 3 status 'pruned', candidates.epochs_trained and the rungs
 * table, version 4 candidates.parents. An older store is upgraded in place when opened (one
 * transaction), its earlier rows keeping NULL there (NaN: not measured; epochs_trained and
 * n_parents −1: not recorded). */
#define UH_STORE_SCHEMA_VERSION 4

typedef struct uh_store uh_store_t;

typedef enum {
    UH_CAND_OK,      /* trained and measured */
    UH_CAND_FAILED,  /* evaluation failed (message says why); never retried */
    UH_CAND_INVALID, /* the architecture was refused before training */
    UH_CAND_PRUNED   /* measured at a rung and stopped there by the pruner (uhnas/search.h) */
} uh_cand_status_t;

/* One row of `candidates`. Strings are NUL-terminated inside their buffers. Metrics that were
 * not measured are NaN (stored as NULL); params and macs are -1 when unknown. */
typedef struct {
    int64_t id;                       /* assigned by the store: order of commitment */
    int generation;                   /* >= 0 */
    char origin[UH_STORE_ORIGIN_MAX]; /* the operator that made it: "sample", "mutate", ... */
    /* the ids of the candidates it was made from, as its operator named them (0 for a sample,
     * or a child whose operator does not say); n_parents −1: not recorded (stored as NULL,
     * before schema 4); else stored as a JSON array, "[12,7]" */
    int n_parents;
    int64_t parents[UH_SEARCH_MAX_PARENTS];
    char arch[UH_ARCH_CANON_MAX];     /* canonical JSON */
    char hash[UH_STORE_HASH_MAX + 1]; /* [0-9A-Za-z]+, unique within a run */
    double accuracy;                  /* clean, held-out */
    double noisy_accuracy;            /* mean over Monte-Carlo hardware samples */
    double noisy_accuracy_std;
    double energy_nj;
    double latency_ns; /* of the backend's mapping (uh_energy_t.latency_ns); 0 = not modelled */
    double area_mm2;   /* the mapping's footprint.area_mm2; 0 = not modelled */
    long params, macs;
    double train_seconds;
    int epochs_trained; /* epochs behind the accuracies; 0 = never trained, −1 = not recorded */
    uh_cand_status_t status;
    char message[UH_STORE_MESSAGE_MAX]; /* why it failed; "" when ok */
    uint64_t seed;                      /* stored as its 64-bit pattern */
    char created_at[32];                /* set by the store: UTC, ISO 8601 with milliseconds */
} uh_candidate_t;

/* A generation's front metrics, stored beside its resume state. NaN = not computed. */
typedef struct {
    double hypervolume;
    double diversity;
    int front_size;
} uh_gen_metrics_t;

/* Final-front result on the test set (measured once, at the end of a run). */
typedef struct {
    double accuracy, noisy_accuracy, noisy_accuracy_std;
    int mc; /* Monte-Carlo hardware samples behind noisy_accuracy */
} uh_test_result_t;

/* open and close */

/* uh_store_create flag: replace a run already in dir (its work is deleted). */
#define UH_STORE_REPLACE 1

/* Creates dir (and missing parents) and dir/run.sqlite holding config_json, the run's full
 * configuration (backend file contents included; opaque text to the store). Refuses a dir that
 * already holds a run unless flags has UH_STORE_REPLACE. The file appears whole or not at
 * all: it is built under a temporary name, synced and renamed. */
int uh_store_create(const char *dir, const char *config_json, int flags, uh_store_t **out,
                    uh_error_t *err);
/* Opens the run in dir after checking that dir/run.sqlite is an SQLite file, carries our
 * application_id and a schema version this build reads, has every table and column, and
 * passes SQLite's quick_check. A refused file is left untouched; an accepted store of an
 * older schema version is then upgraded to this one (see UH_STORE_SCHEMA_VERSION). */
int uh_store_open(const char *dir, uh_store_t **out, uh_error_t *err);
/* The same checks, for reading only (report, compare, export, a model's prior runs): nothing in
 * dir is written, and a directory the user cannot write is read as immutable. A store of an
 * older schema is upgraded first (opened writable once). Writing through the handle fails. */
int uh_store_open_readonly(const char *dir, uh_store_t **out, uh_error_t *err);
void uh_store_close(uh_store_t *store); /* NULL is fine */

const char *uh_store_path(const uh_store_t *store); /* dir/run.sqlite, for messages */
/* Claims the run for this process (an advisory lock on dir/run.lock, released when the store
 * closes or the process dies, kill -9 included): a second search or resume of the same run
 * is refused with UH_EINVAL instead of writing beside the first. Readers need no lock. */
int uh_store_lock_run(uh_store_t *store, uh_error_t *err);
/* Whether a process holds dir's run lock now (a search or resume running there): 0 when none
 * does or there is no lock file. Takes no lock itself, and needs no write access. */
int uh_store_run_alive(const char *dir);
const char *uh_store_config(const uh_store_t *store); /* owned by the store */
/* Full PRAGMA integrity_check and foreign_key_check (slower than the check on open). */
int uh_store_check(uh_store_t *store, uh_error_t *err);

/* Several writes as one commit (e.g. a generation's state with its language-model stats).
 * Outside begin/commit every write below is its own transaction, durable when it returns. */
int uh_store_begin(uh_store_t *store, uh_error_t *err);
int uh_store_commit(uh_store_t *store, uh_error_t *err);
void uh_store_rollback(uh_store_t *store); /* no-op outside a transaction */

/* candidates */

/* Commits c and sets *id (may be NULL) to its row id: c->id when it is positive (the search
 * numbers candidates by their place in the run, whatever order they finish in), else the next
 * free one; created_at is ignored. A hash or an id already stored is refused with UH_EINVAL
 * ("already stored" / "already taken"): look it up first. */
int uh_store_add_candidate(uh_store_t *store, const uh_candidate_t *c, int64_t *id,
                           uh_error_t *err);
/* *found = whether hash is stored; when it is and out is not NULL, *out receives the row. */
int uh_store_find_hash(uh_store_t *store, const char *hash, uh_candidate_t *out, int *found,
                       uh_error_t *err);
/* Every row, ordered by id, in a malloc'd array (free with uh_store_free_candidates). */
int uh_store_candidates(uh_store_t *store, uh_candidate_t **rows, size_t *n, uh_error_t *err);
void uh_store_free_candidates(uh_candidate_t *rows);
int uh_store_count(uh_store_t *store, int64_t *n, uh_error_t *err);

const char *uh_cand_status_name(uh_cand_status_t s); /* "ok", "failed", "invalid", "pruned" */

/* generations */

/* Stores (or replaces) generation g's resume state and metrics in one statement. */
int uh_store_put_generation(uh_store_t *store, int g, const char *state_json,
                            const uh_gen_metrics_t *m, uh_error_t *err);
/* *state_json is malloc'd (caller frees); m may be NULL. UH_ENOTFOUND when g is not stored. */
int uh_store_get_generation(uh_store_t *store, int g, char **state_json, uh_gen_metrics_t *m,
                            uh_error_t *err);
/* The highest stored generation, or -1 when none is. */
int uh_store_latest_generation(uh_store_t *store, int *g, uh_error_t *err);

/* meta: key/value text for other modules */

int uh_store_put_meta(uh_store_t *store, const char *key, const char *value, uh_error_t *err);
/* *value is malloc'd (caller frees). UH_ENOTFOUND when key is not stored. */
int uh_store_get_meta(uh_store_t *store, const char *key, char **value, uh_error_t *err);

/* final front: test results and trained weights, keyed by a stored candidate's hash */

int uh_store_put_test_result(uh_store_t *store, const char *hash, const uh_test_result_t *r,
                             uh_error_t *err);
int uh_store_get_test_result(uh_store_t *store, const char *hash, uh_test_result_t *r,
                             uh_error_t *err); /* UH_ENOTFOUND when absent */
/* Weights are stored as little-endian IEEE floats with a checksum verified on reading. */
int uh_store_put_weights(uh_store_t *store, const char *hash, const float *w, size_t n,
                         uh_error_t *err);
/* *w is malloc'd (caller frees). UH_ENOTFOUND when absent. */
int uh_store_get_weights(uh_store_t *store, const char *hash, float **w, size_t *n,
                         uh_error_t *err);

/* Deletes hash's weights (none stored is fine): a candidate that left the running front. */
int uh_store_delete_weights(uh_store_t *store, const char *hash, uh_error_t *err);

/* rungs: a candidate's results at the pruner's rungs (uhnas/search.h) */

typedef struct {
    char hash[UH_STORE_HASH_MAX + 1];
    int rung;   /* 0, 1, ... */
    int epochs; /* trained in all up to this rung */
    double accuracy, noisy_accuracy, noisy_accuracy_std;
    double train_seconds; /* of this rung's epochs */
} uh_rung_t;

/* Stores (or replaces) r with the weights training continues from (w may be NULL: none). */
int uh_store_put_rung(uh_store_t *store, const uh_rung_t *r, const float *w, size_t n,
                      uh_error_t *err);
/* Every rung stored, ordered by hash then rung, malloc'd (caller frees). */
int uh_store_rungs(uh_store_t *store, uh_rung_t **rows, size_t *n, uh_error_t *err);
/* The weights stored with (hash, rung); UH_ENOTFOUND when there are none. */
int uh_store_get_rung_weights(uh_store_t *store, const char *hash, int rung, float **w, size_t *n,
                              uh_error_t *err);
/* Drops the weights kept with hash's rungs (its results stay): the candidate is final. */
int uh_store_drop_rung_weights(uh_store_t *store, const char *hash, uh_error_t *err);

/* export */

/* Writes the candidates (ordered by id; when hashes is not NULL only those n_hashes rows, each
 * of which must be stored) as RFC 4180 CSV with a header row, atomically. Columns: id,
 * generation, origin, status, hash, accuracy, noisy_accuracy, noisy_accuracy_std, energy_nj,
 * latency_ns, area_mm2, params, macs, train_seconds, epochs_trained, seed, created_at,
 * test_accuracy, test_noisy_accuracy, test_noisy_accuracy_std, message, arch. Unknown values are
 * empty fields; numbers are written so that they read back to the same double. */
int uh_store_export_csv(uh_store_t *store, const char *path, const char *const *hashes,
                        size_t n_hashes, uh_error_t *err);

#endif
