/* uhnas — the evaluation cache: what candidates measured, shared by any number of runs and
 * processes (`uhnas search --cache FILE`).
 *
 * A candidate's result is a function of its architecture and its evaluation (uhnas/search.h,
 * uh_seeding_t), so a run can take a result another run measured instead of training the
 * network again: a tabular NAS benchmark, filled on demand. An entry is found by a
 * description of the evaluation that the search writes (settings, the OpenBLAS kernels that
 * compute it, backend and data digests, seed, rung, canonical architecture: a result computed
 * with other kernels differs in its last digits, so it is not this machine's). The cache keeps the
 * description whole and compares it on every hit: a key collision or an edited row reads as a miss,
 * never as a wrong result. Entries carry the trained weights, so that a run can continue training
 * from them (the pruner's rungs) and keep its front's.
 *
 * The file is SQLite (application_id UH_CACHE_APP_ID) in WAL mode with a busy timeout, so
 * runs in several processes read and write it at once; each entry is written in one
 * transaction, so kill -9 loses at most the entry being written. A file that is not a cache
 * is refused with its name and the reason; a damaged entry is a miss and is replaced by the
 * next result for it. One handle may be used by several threads (SQLite's serialized mode). */
#ifndef UHNAS_CACHE_H
#define UHNAS_CACHE_H

#include <stddef.h>

#include "uhnas/error.h"

#define UH_CACHE_APP_ID 0x75684341 /* "uhCA" */
#define UH_CACHE_SCHEMA_VERSION 1

typedef struct uh_cache uh_cache_t;

/* The measured part of an entry (costs are exact, from the backend: not cached). */
typedef struct {
    double accuracy, noisy_accuracy, noisy_std; /* as in uh_eval_result_t */
    double train_seconds;                       /* what training took when it was measured */
} uh_cache_entry_t;

/* Opens the cache at path, creating it when the file does not exist or is empty (several
 * processes may do so at once). */
int uh_cache_open(const char *path, uh_cache_t **out, uh_error_t *err);
void uh_cache_close(uh_cache_t *cache); /* NULL is fine */
const char *uh_cache_path(const uh_cache_t *cache);

/* The entry described by `description`: *found 1 with *entry and the weights (*w malloc'd,
 * *n floats; w may be NULL when they are not wanted), or 0. Errors are the file's (I/O,
 * a lock held past the timeout), never the entry's. */
int uh_cache_get(uh_cache_t *cache, const char *description, uh_cache_entry_t *entry, float **w,
                 size_t *n, int *found, uh_error_t *err);

/* Stores an entry with its weights (n >= 1 floats), replacing one of the same description. */
int uh_cache_put(uh_cache_t *cache, const char *description, const uh_cache_entry_t *entry,
                 const float *w, size_t n, uh_error_t *err);

/* The number of entries. */
int uh_cache_count(uh_cache_t *cache, long *n, uh_error_t *err);

#endif
