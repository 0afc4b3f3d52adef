/* uhnas — reports: runs as self-contained HTML files (inline SVG, no script, no network), to
 * open from disk, print, or put in a paper.
 *
 * A run is read from its store (read only) into uh_run_data_t: its config, every candidate,
 * the final front's test results, and the per-generation metrics and states. From one run:
 * the Pareto front (validation error % vs energy per inference, log axis; dominated
 * candidates faded), hypervolume and diversity per generation, clean vs noisy accuracy with
 * Spearman's ρ, the front as a table, language-model statistics when the run had them, and
 * the config. From several: their fronts on one plot (backends side by side, as the paper's
 * Figure 1) or, for runs of several strategies on one backend, their statistics over seeds
 * (uh_report_compare).
 *
 * Plots carry machine-readable marks for tests and tools: every SVG has
 * data-plot="front|hypervolume|diversity|robustness|compare-front|compare-hv" and every
 * point circle has class "pt" plus "front" or "dominated". Colours are the Okabe-Ito
 * palette (safe for colour-blind readers) and every series also differs in marker or dash. */
#ifndef UHNAS_REPORT_H
#define UHNAS_REPORT_H

#include <stddef.h>

#include "uhnas/backend.h"
#include "uhnas/error.h"
#include "uhnas/limits.h"
#include "uhnas/store.h"

typedef struct {
    char name[32];
    double value;
} uh_run_count_t;

typedef struct {
    int generation;
    double hypervolume, diversity;
    int front_size;
    /* from the stored state: the operator's counts, the numbers of the object it stores
     * under its name (e.g. "llm", "llm_builtin"), in their stored order; none: n_counts 0 */
    char operator_name[32];
    uh_run_count_t *counts;
    int n_counts;
    char *heuristics; /* the knowledge base after this generation, one per line; or NULL */
    int cached;       /* candidates answered from an evaluation cache (uhnas/cache.h) */
} uh_run_gen_t;

/* One MPI worker rank's work in the latest session of a run (the "workers" of its last state
 * that has them). */
typedef struct {
    int rank;
    long candidates;
    double busy_s, idle_s;
} uh_run_worker_t;

typedef struct {
    char dir[1024];
    char *config; /* the stored config, JSON text */
    char backend[64], strategy[64], objective[16];
    char program_format[32]; /* the backend's programming file (uh_backend_program_format), or "" */
    char dataset[32];
    unsigned long long seed;
    int population, children, generations, epochs, mc, limit_train, limit_test;
    int async; /* the asynchronous steady state: gens are its decisions (uhnas/search.h) */
    /* the workers of the run's latest MPI session (none: n_workers 0), its wall time and rank
     * 0's coordination time */
    uh_run_worker_t *workers;
    int n_workers;
    double workers_wall_s, coordination_s;
    double val_fraction;
    int n_classes;      /* the task's: a network at or below 1/n_classes is at chance */
    uh_shape_t input;   /* the task's input shape (and classes) */
    double energy_zero; /* log10 nJ of the task's linear classifier on the stored backend:
                         * the zero of the hypervolume's energy axis */
    double *hv_by_eval; /* hypervolume after 0..n_evals evaluations (rows not refused before
                         * training, in commit order), with the "chance" rule */
    /* the same for the front the run hands over, scored on noisy accuracy
     * (uh_search_rows_deployed_hypervolume): hv_by_eval's values unless the objective was
     * clean */
    double *hv_deployed_by_eval;
    int n_evals;
    uh_candidate_t *rows; /* ordered by id */
    size_t n_rows;
    int *on_front;          /* per row: on the 2-D Pareto front of ok rows */
    uh_test_result_t *test; /* per row; valid where has_test */
    int *has_test;
    int refresh_s;       /* > 0: the page reloads itself this often (a run still going) */
    double min_accuracy; /* the deployment view shows front networks at least this accurate */
    uh_run_gen_t *gens;  /* hypervolume: re-scored from the rows with the "chance" rule
                          * (uh_search_rows_hypervolume), whatever rule the run used */
    int n_gens;
    /* per row: the stored backend's energy per layer and component, for front rows (NULL
     * for the others, and where the backend cannot cost the row) */
    uh_energy_t **energy;
} uh_run_data_t;

/* Reads the run in dir (refused like `resume` refuses a foreign or damaged store). */
int uh_run_load(const char *dir, uh_run_data_t **out, uh_error_t *err);
void uh_run_free(uh_run_data_t *r);

/* The accuracy the run optimised (noisy unless its objective was clean). */
double uh_run_accuracy(const uh_run_data_t *r, const uh_candidate_t *c);

/* One run's report; *html is malloc'd (caller frees). */
int uh_report_run(const uh_run_data_t *r, char **html, uh_error_t *err);

/* Several runs on one page. Runs must share their data (dataset, limits, validation split);
 * when they all use one backend they are compared as strategies and must also share their
 * budget (population, children, generations, epochs, mc): hypervolume against evaluations
 * (mean and 95 % bootstrap interval over seeds), the final hypervolume with Mann-Whitney U
 * against the strategies named random and nsga2, the front's size, genome distance and drop,
 * coverage of an energy x accuracy grid, the proposals' spread in energy, and cost. Runs on
 * the clean and the noisy objective together are all scored on noisy accuracy (a clean
 * search by the front it hands over), with the objective ablation per clean strategy: the
 * hypervolume lost and the share of the noisy front missed against each run's twin on the
 * noisy objective (equal settings otherwise), and Mann-Whitney U. Otherwise
 * their fronts are drawn per backend. A refusal is UH_EINVAL with the difference named.
 * *csv and *curves (each may be NULL) get the statistics per strategy and the curves as CSV
 * ("" when not comparing strategies); all outputs are malloc'd, the caller frees. */
typedef struct {
    int group_by_parent; /* strategies named by their directories' parent folders (a
                          * strategy run in variants: bench/strategies.sh's layout) */
} uh_compare_opts_t;
int uh_report_compare(const uh_run_data_t *const *runs, int n, const uh_compare_opts_t *opts,
                      char **html, char **csv, char **curves, uh_error_t *err);

#endif
