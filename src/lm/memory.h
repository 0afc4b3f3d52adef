/* What the built-in model keeps in a run directory, DIR/lm/ (internal to src/lm):
 *
 *   calls.jsonl         one line per operator call, appended and fsynced when the call ends:
 *                       the children it made (architecture, origin, parent ids) and what it
 *                       did (lm_stats_t). `resume` answers finished calls from here, and
 *                       the children's parents become context in the model's examples.
 *   model-NNNNNN.bin    the model (weights and AdamW state, uhnas/gpt.h's checkpoint) as
 *                       trained in call NNNNNN, written before that call samples; only the
 *                       latest is kept. `resume` continues training from it.
 *
 * Both files are input: a line that does not parse ends the readable part, a checkpoint that
 * does not load is not used, and the model then retrains from the start (same seed, same
 * examples: the same weights), so damage costs time, never a different run. */
#ifndef UHNAS_LM_MEMORY_H
#define UHNAS_LM_MEMORY_H

#include <cjson/cJSON.h>

#include "uhnas/gpt.h"
#include "uhnas/limits.h"
#include "uhnas/search.h"

#define LM_DIR "lm"
#define LM_CALLS_FILE "calls.jsonl"

/* What one call did (summed over a generation's calls in the stored state). */
typedef struct {
    long examples, steps, valid, resampled, fallback, train_tokens, sample_tokens;
    long classic;     /* children the classic operator made by choice (uh_lm_classic_child) */
    long two_parents; /* the run's examples with two parents in context (uh_lm_opts_t.parents) */
    long copied;      /* layers the samples copied from a parent (COPY tokens, in edits) */
    long replayed;    /* calls answered from calls.jsonl */
    long restored;    /* calls whose training came from a checkpoint */
    double loss, train_s, sample_s;
} lm_stats_t;

void lm_stats_add(lm_stats_t *sum, const lm_stats_t *add);
/* Its members as JSON object members of o (with tokens/s rates). */
void lm_stats_json(const lm_stats_t *s, cJSON *o);

/* One call's children. */
typedef struct {
    int generation, n;
    uh_child_t *children;
    lm_stats_t stats;
} lm_record_t;

/* The records of dir/lm/calls.jsonl in call order, read up to the first line that is not a
 * valid record of the next call (architectures resolved against input). A missing file is
 * no records. *rest (when not NULL) is 1 when the file holds more than those records (a line
 * cut by a crash, a damaged one): records appended after it could never be read again. */
int lm_records_read(const char *dir, uh_shape_t input, lm_record_t **out, int *n, int *rest,
                    uh_error_t *err);
/* Appends record r of call `call` and syncs it to disk. */
int lm_record_append(const char *dir, long call, const lm_record_t *r, uh_error_t *err);
/* Replaces the file with records[0..n) atomically. */
int lm_records_write(const char *dir, const lm_record_t *records, int n, uh_error_t *err);
void lm_records_free(lm_record_t *records, int n);

/* dir/lm/model-NNNNNN.bin of call `call`. */
void lm_checkpoint_path(const char *dir, long call, char *buf, size_t size);
/* Saves m as call's checkpoint (creating dir/lm), then removes the previous call's. */
int lm_checkpoint_save(const char *dir, long call, const uh_gpt_t *m, uh_error_t *err);
/* The highest call with a checkpoint file in dir/lm, or −1. */
long lm_latest_checkpoint(const char *dir);

#endif
