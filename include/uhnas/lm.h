/* uhnas — the built-in language model as the search's operator (no server, no weights to
 * download): a small GPT (uhnas/gpt.h) that learns, during the search, the architectures the
 * search has measured, written in the language of uhnas/archlang.h and conditioned on the
 * hardware and on the results they got.
 *
 * Every generation the model trains a few steps more on every measured candidate of the run
 * (hardware tokens + the candidate's accuracy, noisy accuracy and energy buckets + its parent,
 * when the model made it → its architecture), then writes each child by grammar-constrained
 * sampling, its parent in context, for a target just beyond that parent (uh_lm_targets_t: by
 * default the parent's accuracy, a little more noisy accuracy, one energy bucket lower). A child
 * that is not new is re-sampled a bounded number of times, then replaced by a classic mutation
 * (counted). Children's origin is "llm-builtin". Every random choice comes from the run's seed and
 * the call, and the model runs on one thread, so a run is the same on any machine with the same CPU
 * and BLAS build (OpenBLAS picks its kernels per CPU). With a run directory, every call's children
 * and the latest trained model are kept there: `resume` answers finished calls from them and
 * continues training from the checkpoint, and the result is the run an uninterrupted search would
 * have made. */
#ifndef UHNAS_LM_H
#define UHNAS_LM_H

#include "uhnas/archlang.h"
#include "uhnas/backend.h"
#include "uhnas/gpt.h"
#include "uhnas/limits.h"
#include "uhnas/search.h"

#define UH_LM_MAX_RESAMPLES 8

/* What each child is asked for, its parent in context (docs/llm.md, "Targets"):
 * CHEAPER  the parent's accuracy, +0.02 noisy accuracy, one energy decile lower: every child
 *          one step down the front (every run before the choice existed);
 * FRONT    accuracies as deciles of the run's own measured candidates (the share below, so
 *          "more accurate" means something on a task where every good network scores
 *          0.80-0.86), and children asked in turn one energy decile cheaper at the parent's
 *          accuracy (even children) and one accuracy decile better at one energy decile more
 *          (odd children): both ways along the front. */
typedef enum { UH_LM_TARGETS_CHEAPER, UH_LM_TARGETS_FRONT } uh_lm_targets_t;
extern const char *const uh_lm_target_names[];   /* "cheaper", "front", NULL */
extern const char *const uh_lm_language_names[]; /* "layers", "edits", NULL: uh_lang_mode_t */

/* The target tokens (accuracy, noisy accuracy, energy: uh_lang_targets) child number `child` of
 * a parent asks for under rule t. acc and noisy are the parent's accuracies as the rule reads
 * them (raw for CHEAPER, the run's shares below for FRONT), energy01 its energy on the
 * hypervolume's scale clipped to [0, 1]. */
void uh_lm_child_targets(uh_lm_targets_t t, double acc, double noisy, double energy01, int child,
                         int out[3]);
/* Whether a child's exact energy (known before any training) went the way rule t asked: under
 * FRONT, below its parent's for even children and above for odd ones (a child that did not is
 * re-sampled, and taken only when none of the re-samples did: the model's own sense of its
 * targets is weak, the cost model's is exact); always under CHEAPER. */
int uh_lm_goes_the_way(uh_lm_targets_t t, int child, double parent_nj, double child_nj);

/* Whether child number `child` of a call is made by the classic operator (a crossover of two
 * parents, then a mutation: uh_operator_classic) rather than written by the model, when a share
 * `classic` (0..1) of the children is: the children whose running count of share crosses a
 * whole number (share 0.5: children 1, 3, 5...; 0: none; 1: all), each a crossover of parents
 * i and i + 1 of the call. By default the model writes from one parent and cannot combine two
 * (see parents below); nsga2's crossover children are a third to a half of its final fronts
 * (docs/strategies.md). Deterministic, so a resumed run makes the same choice. */
int uh_lm_classic_child(double classic, int child);

typedef struct {
    int layers, heads, channels, context;
    int train_steps; /* per generation */
    int batch;
    float lr;
    double temperature;
    int hardware_tokens; /* 0: the ablation without them (--system-prompt none) */
    uh_lm_targets_t targets;
    double classic; /* the share of children made by the classic operator (uh_lm_classic_child) */
    /* how many parents a child of the model is written from (docs/llm.md, "Two parents"):
     * 1 (every run before the choice existed), its parent in context; 2 (UH_LANG_MAX_PARENTS),
     * child number i of a call with parents i and i + 1 of the call in context, the pair a
     * classic child i (above) would cross, and the model's examples with both parents of a
     * child in context where the run's records name two (its own children, classic
     * crossovers). The child is asked for the first parent's targets. A call whose next parent
     * is the same candidate, or a context without room for the pair and a child as long as the
     * longer of them, writes from one. */
    int parents;
    /* how a child is written (docs/llm.md, "Edits"): in full (UH_LANG_LAYERS, every run before
     * the choice existed) or as edits of its parents in context (UH_LANG_EDITS: copy, skip or
     * write each layer; uhnas/archlang.h); a checkpoint it starts from must be pretrained in
     * the same language (its vocabulary tells them apart) */
    uh_lang_mode_t language;
    uint64_t seed;
    /* earlier runs (their directories) whose measured candidates are training data too,
     * each with its own backend's hardware tokens: knowledge carries across runs */
    const char *const *prior;
    int n_prior;
    /* a pretrained checkpoint (uh_lm_pretrain) of this shape the model starts from and
     * fine-tunes (loaded by uh_lm_operator_new; the path is not kept); NULL: fresh weights
     * from the seed */
    const char *start;
    const char *start_digest; /* when not NULL, start must still have this digest */
    /* the run directory: the model's checkpoint and its calls are kept in DIR/lm so that
     * `resume` continues from them (see src/lm/memory.h); NULL = kept in memory only */
    const char *run_dir;
} uh_lm_opts_t;

/* 4 layers, 4 heads, width 128, context UH_LANG_MAX_TOKENS (256; the longest example, a
 * parent and its child, is 130, with two parents about 190), 40 AdamW steps of 8 examples per
 * generation at lr 1e-3, temperature 1, hardware tokens on, targets CHEAPER, no classic
 * children, one parent, children in full (LAYERS), seed 1. */
void uh_lm_opts_default(uh_lm_opts_t *o);

/* Reads the prior runs now (a run that cannot be read is an error naming it). */
int uh_lm_operator_new(const uh_lm_opts_t *opts, const uh_backend_t *backend, uh_operator_t *op,
                       uh_error_t *err);
void uh_lm_operator_free(uh_operator_t *op); /* an operator uh_lm_operator_new made, or {0} */

/* ---- a prior: the model pretrained on measured candidates ----
 * The examples of earlier runs (each with its own backend's hardware tokens: physics
 * numbers, never names) and of corpus files, trained `steps` AdamW steps from the seed and
 * saved as a checkpoint a run can start from (uh_lm_opts_t.start). One thread, seeded:
 * the same inputs give the same checkpoint, byte for byte, on the same CPU and BLAS build. */
typedef struct {
    uh_lm_opts_t model; /* shape, batch, lr, seed, hardware tokens, language; prior: the runs */
    int steps;          /* AdamW steps */
    const char *const *corpus; /* corpus files read too (gzip; src/lm/corpus.h) */
    int n_corpus;
    const char *write_corpus; /* where to write every example read as a corpus, or NULL */
    const char *out;          /* the checkpoint */
    /* the runs' pruned candidates are examples too, with the accuracies of the rung they
     * stopped at (a search's own examples, and --llm-prior DIR's, are its ok candidates) */
    int with_pruned;
} uh_lm_pretrain_t;

typedef struct {
    long examples, steps, train_tokens;
    double first_loss, loss, seconds; /* mean loss of the first and last 5 % of steps */
    size_t params;
} uh_lm_pretrain_stats_t;

int uh_lm_pretrain(const uh_lm_pretrain_t *p, uh_lm_pretrain_stats_t *stats, uh_error_t *err);

/* FNV-1a of a file's bytes as 16 hex digits (a prior checkpoint's identity in a run's
 * config). */
int uh_lm_file_digest(const char *path, char out[17], uh_error_t *err);
/* A prior checkpoint (uh_gpt_load: want may be NULL) and its digest, from one read. */
uh_gpt_t *uh_lm_load_prior(const char *path, int max_b, const uh_gpt_config_t *want,
                           char digest[17], uh_error_t *err);

/* The shipped prior: UH_LM_SHIPPED_PRIOR (pretrained by bench/prior.sh from
 * configs/lm/corpus.gz) in the current directory, else in the source tree, into path; 0 when
 * neither exists. `search --llm-prior shipped` starts from it. */
#define UH_LM_SHIPPED_PRIOR "configs/lm/prior.ckpt"
int uh_lm_shipped_prior(char *path, size_t size);

/* ---- a run's built-in model, as stored in its config ---- */

typedef struct {
    int layers, heads, width, context, train_steps;
    int hardware_tokens;
    int targets;    /* uh_lm_targets_t */
    double classic; /* uh_lm_opts_t.classic */
    int parents;    /* uh_lm_opts_t.parents */
    int language;   /* uh_lang_mode_t */
    int n_prior;
    char prior[UH_LM_MAX_PRIOR][1024]; /* earlier runs' directories */
    char start[1024];                  /* the pretrained checkpoint it starts from, or "" */
    char start_digest[17];             /* uh_lm_file_digest of it when the run began */
} uh_lm_config_t;

/* uh_lm_opts_default's settings, no prior runs. */
void uh_lm_config_default(uh_lm_config_t *c);
/* As stored in the run's config: {"builtin":{"hardware_tokens":B, "prior":[DIR...],
 * "layers":L, "heads":H, "width":C, "context":T, "train_steps":S}}, with "start":FILE and
 * "start_digest":HEX when it starts from a checkpoint, "targets":"front" under that rule,
 * "classic":SHARE when some children are classic, "parents":2 with two parents and
 * "language":"edits" in edits (absent in runs stored before, for the first rule, for none, for
 * one and in full: those runs resume as they began).
 * Caller frees. */
char *uh_lm_config_json(const uh_lm_config_t *c);
/* Strict; UH_ENOTFOUND when the config is not the built-in model's (no "builtin"). */
int uh_lm_config_parse(const char *json, uh_lm_config_t *c, uh_error_t *err);
/* The operator for a run with this config and seed, kept in run_dir (NULL: in memory). A
 * start checkpoint whose digest is no longer the stored one is refused: a run keeps the
 * prior it began with. One no longer at its stored path is found as the shipped prior when
 * that has its digest (a checkout moved since the run began). */
int uh_lm_operator_open(const uh_lm_config_t *c, uint64_t seed, const char *run_dir,
                        const uh_backend_t *backend, uh_operator_t *op, uh_error_t *err);
/* Removes the model's memory from run_dir (its calls and checkpoints); none is fine. */
int uh_lm_forget(const char *run_dir, uh_error_t *err);

#endif
