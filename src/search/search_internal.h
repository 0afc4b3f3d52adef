/* Private to src/search: the run's state shared by the loop (search.c) and the strategies
 * (strategies.c, linas.c, llmatic.c). */
#ifndef UHNAS_SEARCH_INTERNAL_H
#define UHNAS_SEARCH_INTERNAL_H

#include "uhnas/search.h"

/* One candidate of this run, in the order the loop met it. */
typedef struct {
    uh_candidate_t row; /* as stored */
    uh_arch_t arch;     /* resolved */
    /* the run's objectives (cfg.goals), normalised and minimised */
    double obj[UH_SEARCH_MAX_OBJECTIVES];
    /* error, normalised log energy, robustness drop: the legacy 3-D hypervolume's */
    double base[3];
    int ok;        /* measured (status ok or pruned): takes part in selection */
    int pruned;    /* stopped at a rung: never on the front, in metrics or in a predictor */
    int at_chance; /* at or below chance under the "chance" rule: never on the front */
    int off_front; /* left the running front: its weights were deleted (keep_weights front) */
    int pending;   /* decided and not merged yet (the asynchronous search): not ok, so no
                      selection, front or metric sees it; novelty does */
    /* the pruner's results at rungs 0..n_rungs): clean and noisy accuracy */
    int n_rungs;
    double rung_acc[UH_PRUNER_MAX_RUNGS][2];
    double genome[UH_SPACE_FEATURES]; /* uh_space_encode of arch: near-duplicates, diversity */
} member_t;

/* resources: what the run reads and writes */
typedef struct {
    uh_backend_t *backend;
    uh_store_t *store;
    uh_space_t space;
    uh_dataset_t *train, *val, *test;
    double zero[3];      /* log10 of the smallest network's energy, latency and area: the cost
                          * scales' zeros (NaN: not modelled) */
    double chance_error; /* 1 − 1/classes */
    uint64_t seed_base;  /* what candidates' seeds mix with their hash (uh_search_seed_base) */
    /* with a cache: FNV-1a of the backend's text and of the training and validation data */
    uint64_t backend_digest, data_digest;
    uh_rung_t *rungs; /* the pruner's rung results stored before this call, by hash */
    size_t n_rungs;
    /* the pruner's rungs: total epochs at each (the last is the config's epochs) */
    int n_rung_epochs;
    int rung_epochs[UH_PRUNER_MAX_RUNGS];
} search_env_t;

/* population: every candidate met, and the strategy's current population */
typedef struct {
    member_t *all;
    int n_all, cap_all;
    int *population; /* indices into all */
    int n_population;
} search_archive_t;

/* counters: where the run is, and this generation's counts (written to its state, then
 * reset; over_limit: the invalid children refused for each limit) */
typedef struct {
    int generation;
    int done; /* candidates finished, against the budget */
    int duplicates, fallbacks, invalid;
    int near_duplicates; /* children refused for cfg.min_distance (uhnas/search.h) */
    int cached;          /* candidates answered from the evaluation cache */
    int over_limit[UH_LIMIT_COUNT];
    char extra_state[2048]; /* strategy's JSON members for this generation's state, or "" */
    /* the asynchronous search's record (async.c): "decide" or "end", and the ids merged since
     * the record before, in merge order; event NULL in a generational run */
    const char *event;
    const int64_t *merged;
    int n_merged;
    int merged_rungs; /* 0: merged holds ids; k > 0: id × k + rung, written as [id, rung] */
} search_counts_t;

/* callbacks: how the run is driven and reported (none of it changes the result) */
typedef struct {
    const uh_operator_t *op;
    const uh_executor_t *executor; /* remote workers, or NULL */
    uh_search_progress_fn progress;
    void *progress_ctx;
    atomic_int *stop;
    int jobs; /* candidates trained at once */
    uh_search_summary_t *summary;
    uh_cache_t *cache; /* or NULL */
} search_hooks_t;

typedef struct search_strategy search_strategy_t;

/* A generation's record waiting for the next commit (the asynchronous search's decisions). */
typedef struct {
    int generation;
    char *text; /* its state JSON, malloc'd */
    uh_gen_metrics_t metrics;
} deferred_record_t;

typedef struct {
    /* config: the store's, and what follows from it */
    uh_search_config_t cfg;
    int k;      /* cfg.n_goals */
    int budget; /* candidates: population + generations × children */
    search_env_t env;
    search_archive_t arc;
    search_counts_t count;
    search_hooks_t hooks;
    const search_strategy_t *strategy;
    void *strategy_state;    /* the strategy's own, kept across generations (or NULL) */
    atomic_int threads_live; /* the threads each training task may use now (run_tasks) */
    /* records of decisions not written yet: each goes into the next candidate's commit, so a
     * decision costs no commit of its own and is durable before any row it decided */
    deferred_record_t *deferred;
    int n_deferred, cap_deferred;
} search_run_t;

/* A strategy: one generation g ≥ 1 each (generation 0 is the shared random start). Adding
 * one is an entry in SEARCH_STRATEGIES (strategies.c) and its functions. */
struct search_strategy {
    const char *name; /* in configs and on the command line */
    int needs_model;  /* its operator must be a language model's (not the classic one) */
    /* Optional: makes the strategy's state before its first generation. */
    int (*init)(search_run_t *r, void **state, uh_error_t *err);
    int (*generation)(search_run_t *r, void *state, uh_rng_t *rng, uh_error_t *err);
    void (*free)(void *state); /* optional */
    /* Optional, the asynchronous steady state (config "async"; async.c): propose makes n
     * children from the population as it stands, untrained, with the parents they came from
     * (*n_parents ≤ 2n; 0 for fresh samples); merge takes member i's result, the moment it
     * is in, into the population (NULL: random search keeps none). A strategy without
     * propose has no asynchronous form. */
    int (*propose)(search_run_t *r, void *state, uh_rng_t *rng, int n, uh_child_t *out,
                   const member_t **parents, int *n_parents, uh_error_t *err);
    int (*merge)(search_run_t *r, void *state, int i, uh_error_t *err);
};

/* Indexed by uh_strategy_t. */
extern const search_strategy_t SEARCH_STRATEGIES[UH_STRATEGY_COUNT];

/* Evaluates (or finds in the store) `n` children and appends them; out[i] receives each
 * child's index in all (a duplicate or an invalid child is replaced first, see search.c). */
int search_take_children(search_run_t *r, uh_child_t *children, int n,
                         const member_t *const *parents, int n_parents, uh_rng_t *rng, int *out,
                         uh_error_t *err);

/* n fresh samples of the space as children (origin "sample", no parents: *n_parents = 0):
 * a strategy's start, or its fallback when the population is empty. */
int search_sample_children(search_run_t *r, uh_rng_t *rng, int n, uh_child_t *out, int *n_parents,
                           uh_error_t *err);

/* n fresh random samples into all; out may be NULL. */
int search_take_samples(search_run_t *r, int n, uh_rng_t *rng, int *out, uh_error_t *err);

/* Candidates trained at once when the caller gives no number: one per core that no other
 * process holds (a loaded machine: uhnas/threads.h). The search and its estimate both use it. */
int search_default_jobs(void);

/* Index of the member with this hash, or -1. */
int search_find(const search_run_t *r, const char *hash);
/* An architecture as novelty compares it: its hash and genome (uh_space_encode), computed
 * once by whoever holds it. */
typedef struct {
    char hash[17];
    double genome[UH_SPACE_FEATURES];
} novelty_key_t;
void search_novelty_key(const uh_arch_t *a, novelty_key_t *key);
/* Whether a is new to the run: not the hash of a member nor of *others[0..n_others)
 * (NOVEL_NOT otherwise), and not within cfg.min_distance of one (NOVEL_NEAR). */
typedef enum { NOVEL, NOVEL_NOT, NOVEL_NEAR } novelty_t;
novelty_t search_novelty(const search_run_t *r, const novelty_key_t *a,
                         const novelty_key_t *const *others, int n_others);

/* ---- batches (search.c): a batch is settled in three steps, see there ---- */

/* One candidate in the making: its row, and what its training has produced so far. */
typedef struct {
    uh_arch_t arch;
    novelty_key_t key; /* its hash, and its genome for the novelty of later children */
    uh_candidate_t row;
    float *weights; /* trained parameters until the row is committed */
    size_t n_weights;
    int settled; /* row is final (read back or committed) */
    int refused; /* beyond a limit: stored as invalid, never trained */
    /* the pruner's: results at rungs 0..n_rungs) and whether it trains on */
    uh_rung_t rungs[UH_PRUNER_MAX_RUNGS];
    int n_rungs;
    int active;
    int trained, cached; /* results (rungs) trained here, and taken from the cache */
    int cached_rung;     /* the rung just taken from the cache (not added back), or -1 */
} job_t;

typedef struct {
    search_run_t *r;
    job_t *jobs;
    int n_jobs;
} batch_t;

/* Step one: the slots' architectures, ids (archive index + 1, in slot order) and jobs;
 * slot_job[i] the job of slot i, or −1 for a slot spent on a duplicate (see search.c). */
int search_plan_batch(batch_t *b, uh_child_t *children, int n, const member_t *const *parents,
                      int n_parents, uh_rng_t *rng, int *slot_job, int *out, uh_error_t *err);
/* Step two: jobs whose hash the store holds are read back (settled); those refused for a
 * limit are stored. */
int search_settle_batch(batch_t *b, uh_error_t *err);
/* A job's row from its evaluation (status ok, all epochs), or from its failure (a failure of
 * the machine, UH_ENOMEM or UH_EIO, is returned instead). */
void search_job_measured(const search_run_t *r, job_t *job, const uh_eval_result_t *res);
int search_job_failed(job_t *job, const uh_error_t *eerr, uh_error_t *err);
/* A worker's result: its failure as an error (code 0 when it measured). */
void search_result_error(const uh_remote_result_t *res, uh_error_t *eerr);
/* A worker's full-fidelity result into the job's row (search_job_measured or
 * search_job_failed: the machine failing is returned), its weights taken from res. */
int search_job_take_result(const search_run_t *r, job_t *job, uh_remote_result_t *res,
                           uh_error_t *err);
/* Commits a measured job's row (with its weights when it may end on the front) and adds it
 * to the evaluation cache; a no-op for a settled job. */
int search_commit_job(search_run_t *r, job_t *job, uh_error_t *err);
/* Answers an unsettled job from the evaluation cache, committing it, when the cache has it. */
int search_job_from_cache(search_run_t *r, job_t *job, int *hit, uh_error_t *err);
/* The pruner's steps for one job (search.c, "the pruner"): its rungs stored by an earlier
 * process and its costs (before it trains); rung g's evaluation (from the job's weights);
 * rung g's result taking w as the weights to continue from (failed when eerr is set); its
 * commit (with the weights, and to the cache); rung g from the cache (*hit); the job's final
 * row (ok after the last rung, else pruned), committed. */
void search_job_rungs(search_run_t *r, job_t *job);
int search_rung_eval_config(search_run_t *r, job_t *job, int g, uh_eval_config_t *ec,
                            uh_error_t *err);
int search_rung_measured(search_run_t *r, job_t *job, int g, const uh_eval_result_t *res, float *w,
                         size_t n_w, const uh_error_t *eerr, uh_error_t *err);
int search_rung_commit(search_run_t *r, job_t *job, int g, uh_error_t *err);
int search_rung_from_cache(search_run_t *r, job_t *job, int g, int *hit, uh_error_t *err);
int search_finish_job(search_run_t *r, job_t *job, uh_error_t *err);
/* Whether member i, measured at rung g, goes on: it is among the best ceil(N/η) of the N
 * members measured there (non-dominated sorting and crowding, ties by archive order). */
int search_rung_goes_on(const search_run_t *r, int i, int g, int *on, uh_error_t *err);
/* Appends a row to the archive (its objectives and stored rungs filled in). */
int search_append(search_run_t *r, const uh_candidate_t *row, const uh_arch_t *arch,
                  const uh_rung_t *rungs, size_t n_rungs, uh_error_t *err);
/* m's ok, pruned, at_chance flags and objectives from its row. */
void search_member_objectives(const search_run_t *r, member_t *m);
/* A finished row: counted against the budget (unless refused) and shown to the progress. */
void search_report_row(search_run_t *r, const uh_candidate_t *row, int reused, int cached);
/* Whether the run was told to stop. */
int search_stopped(const search_run_t *r);
/* Runs the executor with next and done (ctx), UH_EINTR when stopped meanwhile. */
int search_run_executor(search_run_t *r, uh_remote_next_fn next, uh_remote_done_fn done, void *ctx,
                        uh_error_t *err);
/* Stores generation r->count.generation's state and metrics, then resets its counts. A
 * "decide" record (async.c) is queued instead: written inside the next candidate's (or rung
 * result's) commit (the weights of members that left the front are then dropped at the end,
 * not now). */
int search_end_generation(search_run_t *r, uh_error_t *err);
/* The run summary's hypervolume, front and counts from the archive as it stands (what
 * search_end_generation sets; a resumed run that writes no generation needs it). */
int search_summarise(search_run_t *r, uh_error_t *err);
/* Forgets the generation's counts (duplicates, fallbacks, invalid...: a record holds them). */
void search_reset_counts(search_run_t *r);
/* Writes the queued records now, in one commit. */
int search_flush_generations(search_run_t *r, uh_error_t *err);
/* Measures the final front's members on the test set (those not measured yet). */
int search_test_front(search_run_t *r, uh_error_t *err);
/* The random stream of generation (or batch) g. */
uint64_t search_stream(int g);
/* The asynchronous steady-state search (async.c): the whole run when cfg.async. */
int search_async_run(search_run_t *r, uh_error_t *err);

/* The strategies' generations and states (strategies.c, linas.c, llmatic.c). */
int strategy_nsga2(search_run_t *r, void *state, uh_rng_t *rng, uh_error_t *err);
int strategy_random(search_run_t *r, void *state, uh_rng_t *rng, uh_error_t *err);
int strategy_evolution(search_run_t *r, void *state, uh_rng_t *rng, uh_error_t *err);
int strategy_linas(search_run_t *r, void *state, uh_rng_t *rng, uh_error_t *err);
int strategy_llmatic_init(search_run_t *r, void **state, uh_error_t *err);
int strategy_llmatic(search_run_t *r, void *state, uh_rng_t *rng, uh_error_t *err);
void strategy_llmatic_free(void *state);

/* NSGA-II bookkeeping over members idx[0..n): rank and crowding per member (arrays of n). */
int search_rank_crowding(const search_run_t *r, const int *idx, int n, int *rank, double *crowd,
                         uh_error_t *err);

/* Binary tournament on (rank, crowding) among n: the winner's position (ties: the lower). */
int search_tournament(int n, const int *rank, const double *crowd, uh_rng_t *rng);

/* NSGA-II environmental selection: the population becomes the best `population` of itself ∪
 * add[0..n_add) (ok members only, each once). */
int search_select_population(search_run_t *r, const int *add, int n_add, uh_error_t *err);

/* Runs r's operator on parents. */
int search_propose(search_run_t *r, const member_t *const *parents, int n_parents, int n,
                   uh_rng_t *rng, uh_child_t *out, uh_error_t *err);
/* The same, asking for one of the operator's variants at a temperature (llmatic). */
int search_propose_variant(search_run_t *r, const member_t *const *parents, int n_parents, int n,
                           int variant, double temperature, uh_rng_t *rng, uh_child_t *out,
                           uh_error_t *err);
/* One classic mutation of parent (whatever r's operator is). */
int search_mutate(search_run_t *r, const member_t *parent, uh_rng_t *rng, uh_child_t *out,
                  uh_error_t *err);

/* A proposal's objectives (the run's goals, normalised) from its accuracies and costs. */
void search_goals(const search_run_t *r, double accuracy, double noisy_accuracy, double energy_nj,
                  double latency_ns, double area_mm2, double *obj);

/* Whether member m counts as measured at full fidelity (ok and not pruned): the front,
 * metrics and predictors use only these. */
int search_final(const member_t *m);

/* The archive's Pareto front over the run's objectives as member indices (caller frees
 * *front). */
int search_archive_front(const search_run_t *r, int **front, int *n_front, uh_error_t *err);

#endif
