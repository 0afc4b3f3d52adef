/* uhnas — the search: strategies, the operator slot, the run loop and its metrics.
 *
 * One loop serves every strategy and every backend. A run is a pure function of its config
 * (seed included) and of its candidates' measured results: every random choice comes from
 * streams derived from the seed, and a candidate's training seed from (run seed, its hash).
 * That is how a run survives kill -9: `resume` replays the loop from the start, and every
 * candidate whose hash is already in the store is answered from the store instead of being
 * trained, so no finished work is repeated and the decisions — hence the final front — are
 * the same as in an uninterrupted run. Duplicates (same hash) are never trained twice.
 *
 * Threads: a generation's children are trained concurrently, one core each, and committed as
 * they finish under ids fixed beforehand (their place in the run). Decisions never wait on a
 * half-finished generation, and every number is computed on one thread (OpenBLAS's threaded
 * SGEMM rounds differently from its single-threaded one), so the rows, ids and fronts are the
 * same for any number of jobs. They are the same on another machine only with the same CPU
 * and BLAS build: OpenBLAS picks its kernels for the CPU at run time, and kernels round
 * differently.
 *
 * Strategies (the budget is population + generations × children candidates for all):
 *   nsga2      NSGA-II (Deb et al. 2002): binary tournaments on (rank, crowding) pick parents,
 *              an operator makes children, parents ∪ children are cut back to the population
 *              by non-dominated sorting and crowding distance.
 *   random     random samples of the same space, `children` per generation.
 *   evolution  regularized (aging) evolution (Real et al. 2019): per child, a tournament of
 *              `tournament` random members of the population picks the best on a scalarized
 *              objective, its mutation joins, the oldest member leaves. A generation's
 *              `children` tournaments are drawn together, so they train concurrently.
 *   linas      the predictor cycle of DyNAS-T: regressors fitted on every candidate measured
 *              so far predict clean and noisy accuracy from an architecture encoding (energy is
 *              exact: the backend computes it), NSGA-II runs `predictor_generations`
 *              generations on the predictions, and the best unmeasured members of its final
 *              population are trained for real; repeat. Predictor quality (Kendall τ,
 *              Spearman ρ, MAE of predicted vs measured) is recorded per cycle.
 *
 * Objectives (all minimised inside; reported as accuracies): a run chooses two or three of
 *   error    1 − noisy accuracy (clean accuracy with objective "clean")
 *   energy   energy per inference (nJ)
 *   latency  latency per inference under the backend's mapping (ns)
 *   area     the mapping's footprint (mm²)
 *   drop     robustness drop, clean − noisy accuracy (a negative drop is noise: 0)
 * (config `objectives`, default error,energy). NSGA-II's ranking and crowding, LINAS's
 * predicted search, the archive's Pareto front (hence the final front, the operators' view
 * and the weights kept) and the hypervolume use the chosen ones; evolution keeps its scalar
 * (accuracy − w·log10 energy). The legacy three-objective hypervolume (error, energy, drop) is
 * reported beside the chosen one.
 *
 * Hypervolume reference: objectives are normalised per run to
 *   error, drop ∈ [0, 1] (linear),
 *   energy  log10(E / E_lin) / UH_HV_ENERGY_DECADES,
 *   latency log10(L / L_lin) / UH_HV_LATENCY_DECADES,
 *   area    log10(A / A_lin) / UH_HV_AREA_DECADES,
 * where X_lin is the backend's cost for the smallest network of the task (one dense layer,
 * inputs → classes). NSGA-II's ranking, the front and LINAS use these values. The
 * hypervolume (config `hypervolume` "chance", the default) measures them in a fixed box, so
 * that no network can add volume by being useless: the error is divided by the task's chance
 * error (1 − 1/classes) and each cost is clipped to [0, 1] (a network cheaper than the linear
 * classifier counts as costing what it costs); the reference point is 1 in every objective.
 * A network at or below chance (error ≥ chance error) adds nothing, and is never on the front
 * (nor are its weights kept for it). A cost the backend does not model (0 for the linear
 * classifier or for the candidate) normalises to 0: it neither ranks nor adds volume. The
 * same backend and data give the same box, so runs of different strategies compare directly;
 * `report` and `compare` re-score every run with it (uh_search_rows_hypervolume). Runs stored
 * before it ("legacy") resume with their rule: the normalised values themselves, reference 1,
 * below-chance networks on the front. Hypervolume is of every candidate measured up to that
 * generation (the archive), exact in 2-D and 3-D.
 *
 * Limits (config `limits`: max_energy_nj, max_latency_ns, max_area_mm2; 0 = none) are hard:
 * the space's operators only return networks within them (uhnas/space.h), and a child an
 * operator proposes beyond one (e.g. a language model's) is refused before training like an
 * invalid child: counted in the generation's "invalid" and "over_limit" counts, stored with
 * status invalid and a message naming the limit, and replaced. Such rows do not count against
 * the budget. */
#ifndef UHNAS_SEARCH_H
#define UHNAS_SEARCH_H

#include <stdatomic.h>
#include <stdint.h>

#include "uhnas/backend.h"
#include "uhnas/cache.h"
#include "uhnas/data.h"
#include "uhnas/evaluate.h"
#include "uhnas/limits.h"
#include "uhnas/space.h"
#include "uhnas/store.h"

#define UH_HV_ENERGY_DECADES 4.0
#define UH_HV_LATENCY_DECADES 4.0
#define UH_HV_AREA_DECADES 4.0
/* Attempts at a child that is new (not a duplicate) before a fresh sample takes its place. */
#define UH_SEARCH_MAX_DUPLICATE_TRIES 16
/* Near-duplicates (config "min_distance"): a child closer than this to a candidate the run
 * has met (uh_space_distance of their encodings) is refused before training, counted as
 * "near_duplicates" in the generation's state, and the operator is asked again for that slot
 * (UH_SEARCH_REASKS rounds, then the fallback mutations). Assumed: 0.1 is below the space's
 * smallest step (0.125: bits 6 -> 8 or a doubling of units or filters; a step also moves the
 * log counts), so only proposals off the space's grid that train like a network already
 * measured (30 units beside 32) are refused, never a neighbour the space itself offers. */
#define UH_SEARCH_MIN_DISTANCE 0.1
#define UH_SEARCH_REASKS 2

typedef enum {
    UH_STRATEGY_NSGA2,
    UH_STRATEGY_RANDOM,
    UH_STRATEGY_EVOLUTION,
    UH_STRATEGY_LINAS,
    UH_STRATEGY_LLM,     /* NSGA-II with a language-model operator (given in uh_search_opts_t) */
    UH_STRATEGY_LLMATIC, /* LLMatic's quality-diversity search with the same operator */
    UH_STRATEGY_COUNT
} uh_strategy_t;

typedef enum { UH_OBJECTIVE_NOISY, UH_OBJECTIVE_CLEAN } uh_objective_t;

/* Multi-fidelity (config `pruner`):
 *   none   every candidate trains its full epochs.
 *   asha   Pareto-aware successive halving: a batch of new candidates (a generation's, or the
 *          initial population) trains in rungs of ..., epochs/η², epochs/η and epochs (η =
 *          UH_PRUNER_ETA), rounded to the nearest epoch (config `rung_rounding` "nearest"),
 *          down to the first that rounds to one epoch: 1, 2, 7, 20 for 20 epochs; 1, 3, 9 for
 *          9. Runs stored before "rung_rounding" existed ("down") have three rungs at most,
 *          rounded down: 2, 6, 20 for 20 epochs. Rungs equal to the one before are dropped.
 *          After each rung but the last, the batch's candidates are ranked by non-dominated
 *          sorting and crowding on the run's objectives with the error measured at that rung
 *          (costs are exact before training), together with every earlier candidate of the
 *          run that has a result at that rung; a candidate goes on when it is among the best
 *          ceil(N/η) of those N (no quota per batch, as in ASHA), continuing from its
 *          weights (data order and training noise go on as in one run; the optimizer's state
 *          starts afresh at each rung). A rung before the last measures the noisy accuracy
 *          with `rung_mc` hardware samples (default 1; 0, as in runs stored before it, means
 *          `mc`): it only has to rank, and the spread between samples (~0.002 on MZI) is
 *          far below the gaps that decide. The others are stored with status pruned and their
 *          rung's accuracies and epochs_trained: they may parent children, never enter the
 *          front, the hypervolume or a predictor's training set. Each rung's result is stored
 *          the moment it is measured (with the weights to continue from), so a resumed run
 *          loses no finished rung and makes the same decisions. */
typedef enum { UH_PRUNER_NONE, UH_PRUNER_ASHA } uh_pruner_t;
typedef enum { UH_HV_LEGACY, UH_HV_CHANCE } uh_hv_rule_t; /* see Hypervolume reference */
typedef enum { UH_RUNGS_DOWN, UH_RUNGS_NEAREST } uh_rung_rounding_t;
/* Where a candidate's randomness comes from (config "seeding"). "evaluation": its training
 * seed mixes its architecture's hash with uh_search_eval_digest, and the validation split is
 * UH_SEARCH_EVAL_SPLIT_SEED's: the same architecture under the same evaluation gets the same
 * rows in any run, whatever the run seed, so runs can be compared and share results. "run"
 * (runs stored before the field existed): the run seed in both. */
typedef enum { UH_SEED_RUN, UH_SEED_EVALUATION } uh_seeding_t;
#define UH_SEARCH_EVAL_SPLIT_SEED 0x73706c6974ull /* "split"; any fixed value */
#define UH_PRUNER_ETA 3
#define UH_PRUNER_MAX_RUNGS 8
const char *uh_pruner_name(uh_pruner_t p);               /* "none", "asha" */
int uh_pruner_parse(const char *name, uh_pruner_t *out); /* 0 or UH_EINVAL */
const char *uh_objective_name(uh_objective_t o);         /* "noisy", "clean" */

/* The quantities a run may minimise (see Objectives above). */
typedef enum {
    UH_GOAL_ERROR,
    UH_GOAL_ENERGY,
    UH_GOAL_LATENCY,
    UH_GOAL_AREA,
    UH_GOAL_DROP,
    UH_GOAL_COUNT
} uh_goal_t;

const char *uh_goal_name(uh_goal_t g); /* "error", "energy", "latency", "area", "drop" */
/* "error,energy,latency" → goals[0..*n): two or three distinct names, comma-separated. On a
 * bad list returns UH_EINVAL with the reason in msg. */
int uh_goals_parse(const char *list, uh_goal_t goals[UH_SEARCH_MAX_OBJECTIVES], int *n, char *msg,
                   size_t cap);
/* The list back as text ("error,energy"). */
void uh_goals_format(const uh_goal_t *goals, int n, char *buf, size_t cap);

typedef struct {
    uh_strategy_t strategy;
    uh_objective_t objective;
    /* the objectives: 2 or 3 distinct uh_goal_t (default error, energy) */
    int n_goals;
    uh_goal_t goals[UH_SEARCH_MAX_OBJECTIVES];
    /* hard limits on a candidate's costs (default none) */
    uh_limits_t limits;
    int population;  /* the initial random population and NSGA-II's population size */
    int children;    /* children per generation */
    int generations; /* generations after the initial population */
    uint64_t seed;
    /* evaluation of one candidate */
    uh_train_opts_t train; /* epochs, batch, optimizer, lr... (seed is per candidate) */
    int mc;                /* Monte-Carlo hardware samples (validation and test) */
    int noise_aware;
    /* data: validation is a seeded split of the training set; the test set is used only for
     * the final front */
    char dataset[32];
    char data_dir[512]; /* "" = defaults */
    int limit_train, limit_test;
    double val_fraction;
    /* strategy parameters */
    double crossover_prob;     /* nsga2: share of children made by crossover (then mutated) */
    int tournament;            /* evolution: members per tournament */
    double energy_weight;      /* evolution's scalar: accuracy − energy_weight · log10(E / nJ) */
    int predictor_generations; /* linas: NSGA-II generations on the predictors per cycle */
    uh_pruner_t pruner;        /* multi-fidelity (see above) */
    uh_rung_rounding_t rung_rounding; /* asha's rungs (see above; "rung_rounding") */
    int rung_mc;                      /* asha: hardware samples at rungs before the last; 0 = mc */
    uh_hv_rule_t hypervolume;         /* the hypervolume's box and the front's chance rule */
    uh_sampler_t sampler;             /* how random samples are drawn (uhnas/space.h; "sampler") */
    int depth_caps;        /* the operators' depth caps (uh_space_t.depth_caps; "depth_caps"): 1, or
                            * 0 as in runs stored before */
    uh_seeding_t seeding;  /* candidates' seeds and the split (see above) */
    char blas_kernels[32]; /* the kernels its candidates trained with (uh_nn_blas_kernels;
                            * "blas_kernels"): this process's, or "" in runs stored before */
    double min_distance;   /* near-duplicate threshold (above); 0 = off, as in runs stored before */
    /* 1: asynchronous steady state (see Asynchronous below; "async"); 0: generations, as in
     * runs stored before */
    int async;
    /* 0: weights are kept only for candidates on the running front (deleted when they leave
     * it; the final front's serve its test measurement and export); 1: for every candidate
     * that was on the front when measured ("keep_weights": "front" or "all") */
    int keep_all_weights;
    /* the operator's own settings (a language model's URL, model, temperature...) as JSON
     * object text, stored with the run so `resume` can rebuild it; "" = none */
    char operator_config[4096];
} uh_search_config_t;

/* Asynchronous steady state (config "async", `search --async`; src/search/async.c). No
 * generation barrier: whenever a worker is free it gets the next child, made from the
 * population as it stands, and each result is merged into the population the moment it
 * arrives (nsga2 and llm: the best `population` of the population and the newcomer by
 * non-dominated sorting and crowding; evolution: the newcomer joins, the oldest leaves; random:
 * nothing to merge). The initial `population` samples are generation 0's, as in a generational
 * run; until a result is in, a free worker gets a fresh sample. The classic operator is asked
 * for one child at a time; a language model for `children` at once (one call per `children`
 * candidates, so that workers seldom wait on it). Each decision is a "generation" row (a
 * batch) written before its children are sent: the ids merged since the decision before, in
 * merge order ("merged"), then the archive's metrics; a last row ("event": "end") holds the
 * merges after the last decision. `resume` replays the rows: merges each recorded id in its
 * order, re-makes each batch from the population it saw (its random stream is the batch's),
 * and goes on live, so the resumed run's rows are what the interrupted run stored; a finished
 * candidate is never trained twice. With one worker each child is made after every earlier
 * result is merged: the steady-state algorithm's definition. Under the pruner each rung is a
 * job of its own, and each rung's result is decided on the moment it is merged (the stopping
 * form of asynchronous successive halving: Li et al., "A System for Massively Parallel
 * Hyperparameter Tuning", MLSys 2020): the candidate goes on to its next rung, served before
 * new children, when it is among the best ceil(N/η) of the N candidates measured at that rung
 * so far, else it stops there for good; "merged" then holds [id, rung] pairs. linas and
 * llmatic work in batches and have no asynchronous form. */

/* UH_EINVAL with the reason when cfg asks for the asynchronous search with a strategy it
 * cannot run (above); UH_OK otherwise. */
int uh_search_async_check(const uh_search_config_t *cfg, uh_error_t *err);

/* Defaults (the paper's budget): nsga2 on noisy accuracy, objectives error and energy, no
 * limits, population 20, 8 children, 30
 * generations, seed 1, 20 epochs of Adam at lr 1e-3 (batch 128), mc 5, noise-aware, all of
 * fashion-mnist, validation 0.2, crossover 0.5, tournament 4, energy weight 0.05, predictor
 * generations 500, pruner asha (a stored config without "pruner" reads as none). */
void uh_search_config_default(uh_search_config_t *cfg);

/* asha's rungs for cfg (the epochs trained in all at each, see Multi-fidelity above) into
 * out; their count. */
int uh_pruner_rungs(const uh_search_config_t *cfg, int out[UH_PRUNER_MAX_RUNGS]);
/* The Monte-Carlo samples measured at rung g of n: cfg->mc at the last, else rung_mc. */
int uh_pruner_rung_mc(const uh_search_config_t *cfg, int g, int n);

const char *uh_strategy_name(uh_strategy_t s);
int uh_strategy_parse(const char *name, uh_strategy_t *out); /* 0 or UH_EINVAL */
/* The names joined by sep ("nsga2|random|..."), cut to size. */
void uh_strategy_names(char *buf, size_t size, const char *sep);
/* Whether strategy s proposes through a language-model operator (llm, llmatic) rather than
 * the classic one. */
int uh_strategy_needs_model(uh_strategy_t s);

/* The run's config as JSON text (backend name and its file's full text included), and
 * back. Parsing is strict: the text comes from a file that may have been edited. Returns
 * NULL when out of memory or when operator_config is not a JSON object. */
char *uh_search_config_json(const uh_search_config_t *cfg, const uh_backend_t *backend);
int uh_search_config_parse(const char *json, uh_search_config_t *cfg, uh_backend_t **backend,
                           uh_error_t *err);

/* ---- the operator slot ----
 * An operator turns parents into children; selection is the loop's. The classic operator
 * (mutation and crossover on the space) is built in; language-model operators plug in here.
 * The loop re-checks every child (validity, duplicates) and replaces what fails. */

#define UH_SEARCH_RECENT 16 /* candidates shown to an operator as "recent" */

typedef struct {
    uh_arch_t arch;
    char origin[UH_STORE_ORIGIN_MAX]; /* "mutate", "crossover", "llm", "llm-repair"... */
    int n_parents;
    int64_t parents[UH_SEARCH_MAX_PARENTS]; /* candidate ids */
} uh_child_t;

/* What an operator is asked: n children from the parents, knowing the run so far. */
typedef struct {
    int generation;
    int n; /* children wanted */
    const uh_space_t *space;
    const uh_candidate_t *const *parents; /* ok candidates, in tournament order */
    int n_parents;
    const uh_candidate_t *const *front; /* the archive's current Pareto front */
    int n_front;
    const uh_candidate_t *const *recent; /* the latest ok candidates, oldest first */
    int n_recent;
    const uh_candidate_t *const *archive; /* every ok candidate so far, in run order */
    int n_archive;
    double energy_zero;    /* log10 of the energy the hypervolume's scale starts at (E_lin):
                              normalised energy = uh_search_energy_scaled(energy_zero, E) */
    double crossover_prob; /* the run's share of children made by crossover (config) */
    /* whether an architecture hash is already in the run (measured or proposed) */
    int (*is_known)(const void *ctx, const char *hash);
    const void *known_ctx;
    /* a strategy's request for one of the operator's variants (llmatic: a prompt and a
     * temperature); variant −1 and temperature NaN = the operator's own choice */
    int variant;
    double temperature;
    uh_rng_t *rng;
} uh_propose_t;

/* An operator's totals over a run: what a user is warned about, and every count it keeps. */
typedef struct {
    long calls;       /* requests to its model (0: nothing to report) */
    long failed;      /* requests that got no usable answer */
    long fallback;    /* children made by the classic operator in place of its own */
    char detail[256]; /* more for the warning ("3 invalid proposals"), or "" */
    char last_failure[UH_ERROR_MSG_MAX]; /* the latest failure's message, or "" */
    char *json; /* every count (tokens, loss...) as one JSON object; malloc'd, caller frees */
} uh_operator_totals_t;

typedef struct {
    const char *name;
    /* Makes in->n children into out[0..n). An error stops the run: return one only when
     * going on is pointless (e.g. a language model that never answered); otherwise make
     * children some other way and count it in the state. */
    int (*propose)(void *ctx, const uh_propose_t *in, uh_child_t *out, uh_error_t *err);
    /* Optional: JSON members describing what the operator did since the last call (counts,
     * tokens, knowledge), written into the generation's stored state; "" when nothing. By
     * convention one member, named after the operator, holds its counts as numbers (the
     * report tabulates it), beside anything else (a knowledge base). */
    void (*take_state)(void *ctx, char *buf, size_t size);
    /* Optional: what the operator did over the whole run so far (the end-of-run summary). */
    int (*totals)(void *ctx, uh_operator_totals_t *out, uh_error_t *err);
    int n_variants; /* mutation variants a strategy may ask for (0 = none) */
    void *ctx;
} uh_operator_t;

/* The classic operator: with probability in->crossover_prob a one-point crossover of the
 * first two parents followed by a mutation, otherwise a mutation of the first parent. No
 * ctx. Other operators call its propose for their fallback children. */
extern const uh_operator_t uh_operator_classic;

/* ---- running ---- */

typedef struct {
    int generation, generations;
    int done, budget;           /* candidates finished (stored or reused) and the total */
    const uh_candidate_t *last; /* the candidate just finished, or NULL */
    int reused;                 /* 1 when `last` came from the store (resume) */
    double hypervolume;         /* of the archive, after a generation; NaN inside one */
    int cached;                 /* 1 when `last` came from the evaluation cache, untrained */
} uh_search_progress_t;

typedef void (*uh_search_progress_fn)(void *ctx, const uh_search_progress_t *p);

typedef struct {
    double hypervolume;  /* over the run's objectives (2-D or 3-D) */
    double hypervolume3; /* over (error, energy, drop), whatever the objectives */
    int front_size;
    int candidates; /* rows with status ok */
    int rejected;   /* rows refused before training for exceeding a limit */
    int trained;    /* candidates trained by this call (0 when everything was stored) */
    int reused;     /* candidates answered from the store */
    int cached;     /* candidates answered from the evaluation cache, untrained */
} uh_search_summary_t;

/* ---- remote evaluation ----
 * An executor trains a batch of candidates elsewhere (MPI workers) and hands each result
 * back as it arrives, in any order, on the calling thread. The loop fixes every decision
 * (ids, seeds) before the batch starts, so where and when a candidate ran does not change
 * the run. Workers evaluate with uh_search_load_data's data and uh_search_eval_config, one
 * thread each, exactly as the loop would; under the pruner a job is one rung, continuing from
 * the weights it is sent with. */
typedef struct {
    int index;        /* in the batch */
    const char *arch; /* canonical JSON */
    uint64_t seed;
    /* the pruner's rungs: train epochs first_epoch..first_epoch+epochs from start_weights
     * (n_start_weights floats, or NULL to start afresh); epochs 0 = the run's; mc: the
     * hardware samples to measure (0 = the run's) */
    int first_epoch, epochs, mc;
    const float *start_weights;
    size_t n_start_weights;
} uh_remote_job_t;

typedef struct {
    int index;
    int ok;   /* 0: the evaluation failed; message says why */
    int code; /* then its UH_E* code: UH_ENOMEM or UH_EIO is the worker's machine failing (the
               * run stops, resumable, as on a local failure), any other the candidate's */
    char message[UH_ERROR_MSG_MAX];
    uh_eval_result_t result;
    float *weights; /* malloc'd (may be NULL): the callback may take them, setting weights to
                     * NULL; the executor frees what is left */
    size_t n_weights;
} uh_remote_result_t;

/* Trains one job as every worker does (the local pool's threads, MPI ranks): the run's
 * evaluation ec (uh_search_eval_config) with the job's rung, hardware samples and start
 * weights; its architecture is arch[0..arch_len) (job->arch is not read), parsed for the
 * data's input. *weights: malloc'd, the caller frees them (NULL on failure). */
int uh_search_evaluate_job(const uh_backend_t *b, const uh_dataset_t *train,
                           const uh_dataset_t *val, const uh_eval_config_t *ec,
                           const uh_remote_job_t *job, const char *arch, size_t arch_len,
                           uh_eval_result_t *res, float **weights, size_t *n_weights,
                           uh_error_t *err);

typedef int (*uh_remote_done_fn)(void *ctx, uh_remote_result_t *r, uh_error_t *err);
/* The next job for a free worker: *have = 1 with *job filled (its arch and weights need only
 * last until the executor has sent it), or *have = 0 when there is none now: the executor
 * asks again after the next result, and ends when nothing runs either. */
typedef int (*uh_remote_next_fn)(void *ctx, uh_remote_job_t *job, int *have, uh_error_t *err);

typedef struct {
    /* Keeps every worker busy: whenever one is free it asks next for a job and sends it, and
     * calls done for each result as it arrives, in any order; next and done run on the
     * calling thread, one at a time. Ends when next has no job and none runs; once *stop (may
     * be NULL) is set, sends no new job but waits for those running. Once next fails no job
     * is sent either, but the results of those running still go to done (trained work is
     * kept) until done fails. Returns the first error of the executor, next or done. A batch
     * is a next that hands out an array; a steady-state search decides each job when a
     * worker asks. */
    int (*run)(void *ctx, uh_remote_next_fn next, uh_remote_done_fn done, void *cb_ctx,
               atomic_int *stop, uh_error_t *err);
    /* Optional: JSON members about the executor's work since the last call (per-worker
     * throughput, idle time), stored in each generation's state. */
    void (*take_state)(void *ctx, char *buf, size_t size);
    void *ctx;
} uh_executor_t;

/* The run's data as the loop sees it: training and validation (a seeded split of the
 * training set) and the test set. */
int uh_search_load_data(const uh_search_config_t *cfg, uh_dataset_t **train, uh_dataset_t **val,
                        uh_dataset_t **test, uh_error_t *err);
/* log10 of the energy of the smallest network of the task (one dense layer, inputs →
 * classes) on b: the zero of the hypervolume's energy scale. */
int uh_search_energy_zero(const uh_backend_t *b, uh_shape_t in, double *log_e_lin, uh_error_t *err);
/* The same network's zeros of all three cost scales: log10 of its energy (nJ), latency (ns)
 * and area (mm²); NaN for latency or area when the backend does not model them (0). */
int uh_search_cost_zero(const uh_backend_t *b, uh_shape_t in, double zero[3], uh_error_t *err);

/* A candidate's energy on the hypervolume's scale: (log10 E − energy_zero) /
 * UH_HV_ENERGY_DECADES, 0 at the task's linear classifier (see Objectives above). */
double uh_search_energy_scaled(double energy_zero, double energy_nj);

/* The normalised value of goal g (minimised; see Objectives above) for a candidate with
 * these accuracies and costs, given the run's objective accuracy and cost zeros. */
double uh_search_goal_value(uh_goal_t g, uh_objective_t objective, const double zero[3],
                            double accuracy, double noisy_accuracy, double energy_nj,
                            double latency_ns, double area_mm2);

/* Goal g's value v (uh_search_goal_value) as the "chance" hypervolume measures it: an error
 * divided by chance_error, a cost clipped to [0, 1], a drop as it is. */
double uh_search_hv_value(uh_goal_t g, double v, double chance_error);
/* The "chance" hypervolume, over cfg's objectives, of the rows with status ok and generation
 * ≤ upto (zero: uh_search_cost_zero; n_classes: the task's). What `report` and `compare`
 * show for every run, whatever rule it ran with. */
int uh_search_rows_hypervolume(const uh_search_config_t *cfg, const double zero[3], int n_classes,
                               const uh_candidate_t *rows, size_t n, int upto, double *hv,
                               uh_error_t *err);
/* The same, of the front the run hands over: the rows nondominated on cfg's objectives with
 * cfg's accuracy objective, scored on noisy accuracy (the robustness ablation: what a search
 * on the clean objective delivers on the noisy hardware). Equal to uh_search_rows_hypervolume
 * for a run on the noisy objective. */
int uh_search_rows_deployed_hypervolume(const uh_search_config_t *cfg, const double zero[3],
                                        int n_classes, const uh_candidate_t *rows, size_t n,
                                        int upto, double *hv, uh_error_t *err);

/* How the loop evaluates one candidate (training options, mc, noise-aware, one thread). */
void uh_search_eval_config(const uh_search_config_t *cfg, uh_eval_config_t *ec);

/* How to run a search; none of it changes the result (it is not part of the stored config). */
typedef struct {
    const uh_operator_t *op;        /* NULL = the classic operator */
    uh_search_progress_fn progress; /* optional, called on the calling thread's behalf, one
                                       call at a time */
    void *progress_ctx;
    atomic_int *stop; /* optional: stops early (UH_EINTR) once non-zero; read by
                         the training threads (a signal handler may set it: an
                         atomic_int is lock-free where uhnas builds) */
    int jobs;         /* candidates trained at once; 0 = one per free core (uhnas/threads.h) */
    const uh_executor_t *executor; /* NULL = local threads (jobs) */
    const char *data_dir; /* where the data files are, for the stored config's (the same files
                             on another machine, or moved); NULL = the stored one */
    /* results other runs measured, and where this one adds its own (uhnas/cache.h); NULL =
     * none. The caller's: open before, closed after. */
    uh_cache_t *cache;
} uh_search_opts_t;

/* Runs (or resumes) the search whose store is open: the config is the store's. The children
 * of a generation (and the initial population) are trained up to opts->jobs at a time, each
 * committed as it finishes; the rows, ids and front are the same for any number of jobs.
 * When *stop becomes non-zero no new candidate starts, those in training finish and are
 * committed, and UH_EINTR is returned. opts may be NULL (defaults). The process's OpenMP
 * thread count is the caller's again on return. */
int uh_search_run(uh_store_t *store, const uh_search_opts_t *opts, uh_search_summary_t *summary,
                  uh_error_t *err);

/* The per-candidate training seed: a mix of `base` (the run seed, or the evaluation's digest:
 * see uh_seeding_t) and the architecture's hash. */
uint64_t uh_search_candidate_seed(uint64_t base, const char *hash);

/* A digest of everything that decides a candidate's result besides its architecture: the
 * training settings, hardware samples, noise-aware training, the data (dataset, training
 * samples, validation share; not its directory) and the backend file's text. */
uint64_t uh_search_eval_digest(const uh_search_config_t *cfg, const uh_backend_t *backend);

/* The seeds of a run's candidates and of its validation split, by cfg->seeding. */
uint64_t uh_search_seed_base(const uh_search_config_t *cfg, const uh_backend_t *backend);
uint64_t uh_search_split_seed(const uh_search_config_t *cfg);

/* ---- the cost of a run, estimated before it starts (src/search/estimate.c) ----
 * A run costs about candidates × (epochs × n_train training samples + n_val held-out
 * samples through the clean and Monte-Carlo passes) of networks as costly as the space's
 * random samples; under the pruner, of the share of them a candidate trains and measures
 * when a third goes on at each rung (its target, not a measurement). The rates are measured at
 * start: UH_ESTIMATE_PROBES networks of the space (at the midpoints of equal-count strata of
 * UH_ESTIMATE_SAMPLES samples sorted by MACs) train on UH_ESTIMATE_PROBE_TRAIN samples and are
 * evaluated on UH_ESTIMATE_PROBE_VAL, on one thread, with the run's training and evaluation
 * settings (docs/user-guide.md, "The cost of a run"). */
#define UH_ESTIMATE_SAMPLES 128
#define UH_ESTIMATE_PROBES 4
#define UH_ESTIMATE_PROBE_TRAIN 256
#define UH_ESTIMATE_PROBE_VAL 128

typedef struct {
    /* measured (uh_search_estimate) or given (tests) */
    int n_train, n_val;      /* training samples per epoch (after the split), held-out ones */
    double mean_macs;        /* mean MACs of the space's random samples */
    double train_macs_per_s; /* training throughput: sample-MACs per second, one thread */
    double eval_macs_per_s;  /* held-out throughput (clean + mc noisy passes), one thread */
    /* derived (uh_search_estimate_compute) */
    double epoch_share; /* of the epochs a mean candidate trains: 1, or asha's Σ Δe_k η^-k / E */
    double eval_share;  /* held-out passes per candidate: 1, or asha's Σ η^-k over its rungs */
    int candidates, parallel; /* the budget; candidates trained at once */
    double candidate_s;       /* one mean candidate, one thread */
    double cpu_s, wall_s;     /* all candidates on one core; on `parallel` cores */
} uh_search_estimate_t;

/* The formula: candidate_s = mean_macs × (epoch_share × epochs × n_train / train_macs_per_s +
 * eval_share × n_val / eval_macs_per_s); cpu_s = budget × candidate_s; wall_s = candidate_s ×
 * (population / p0 + generations × children / p1) with p0 = min(jobs, population), p1 = min(jobs,
 * children): a generation's children train at once, one core each; asynchronous (cfg->async),
 * candidate_s × budget / jobs: no generation holds a core back. Pure: jobs < 1 counts as 1. */
void uh_search_estimate_compute(const uh_search_config_t *cfg, int jobs, uh_search_estimate_t *e);
/* Measures the rates for cfg on backend (loads the run's data; about a second) and computes
 * the estimate for `jobs` at once (0: the search's default, one per free core). The
 * process's OpenMP thread count is the caller's again on return. */
int uh_search_estimate(const uh_search_config_t *cfg, const uh_backend_t *backend, int jobs,
                       uh_search_estimate_t *e, uh_error_t *err);
/* One line: "estimate: ~28 candidates x ~3.1 s = ~1.4 min on one core, ~45 s on 2 (...)". */
void uh_search_estimate_format(const uh_search_estimate_t *e, char *buf, size_t cap);

#endif
