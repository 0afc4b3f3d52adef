/* uhnas search / uhnas resume — run a search into a run directory, or continue one. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "search_llm.h"
#include "uhnas/archlang.h"
#include "uhnas/lm.h"
#include "uhnas/nn.h"
#include "uhnas/operator.h"
#include "uhnas/report.h"
#include "uhnas/search.h"

/* The one piece of global state in the CLI: a signal handler can reach nothing else.
 * g_signalled is the handler's own (volatile sig_atomic_t, what C lets a handler keep);
 * g_stop is what the search's training threads read between candidates (an atomic_int, which
 * a handler may set because it is lock-free). Everything finished is already in the store. */
static volatile sig_atomic_t g_signalled;
static atomic_int g_stop;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "a signal handler may set only a lock-free atomic");

/* The first Ctrl-C (or SIGTERM, SIGHUP) lets the candidates in training finish; a second one
 * quits at once (what is committed is safe either way). */
static void on_signal(int sig) {
    static const char msg[] = "\nuhnas: stopping once the candidates in training are stored "
                              "(Ctrl-C again quits now)\n";
    if (g_signalled) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    g_signalled = 1;
    atomic_store(&g_stop, 1);
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
}

static void catch_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* a closed terminal stops the run cleanly, unless the run was started to outlive it
     * (nohup: SIGHUP ignored, and kept so) */
    struct sigaction hup;
    if (sigaction(SIGHUP, NULL, &hup) == 0 && hup.sa_handler != SIG_IGN)
        sigaction(SIGHUP, &sa, NULL);
}

/* What the user sees while a search runs. On a terminal a status bar (done/budget, ETA, the
 * best accuracy so far and the archive's hypervolume) is redrawn under the candidates'
 * lines; elsewhere (logs, CI) there are only the lines, each with its ETA. With --json the
 * progress goes to stderr and stdout carries only the final JSON object. */
typedef struct {
    FILE *out;
    int quiet, tty;
    double run_start;
    double generation_start;  /* when the generation now training began (this process) */
    int generation_first;     /* candidates done when it began */
    int generation_trained;   /* whether it trained any (not all read back by resume) */
    double paced_seconds;     /* the generations this process trained: their time, */
    int paced_candidates;     /* and their candidates */
    double best_acc, best_nj; /* the best accuracy seen (noisy; clean with --objective clean) */
    int clean;
    int async;         /* no generations: the pace is per candidate, and no "gen g/G" */
    int workers_every; /* async under MPI: the workers' lines after every so many candidates */
    double hypervolume;
    int bar_shown;
    uh_mpi_t *mpi; /* workers to report on, or NULL */
} progress_t;

/* Seconds left, from the pace of whole generations this process trained: under the pruner a
 * generation's candidates finish in bursts (two thirds at the first rung's decision, the last
 * after their full training), so the pace of single candidates says nothing until a
 * generation ends. */
static double eta(const progress_t *pr, const uh_search_progress_t *p) {
    if (p->reused || pr->paced_candidates == 0) return NAN;
    return pr->paced_seconds / pr->paced_candidates * (p->budget - p->done);
}

/* At a generation's end: its time and candidates join the pace when it trained any. */
static void generation_ended(progress_t *pr, const uh_search_progress_t *p) {
    double now = cli_now();
    if (pr->generation_trained) {
        pr->paced_seconds += now - pr->generation_start;
        pr->paced_candidates += p->done - pr->generation_first;
    }
    pr->generation_start = now;
    pr->generation_first = p->done;
    pr->generation_trained = 0;
}

static void clear_bar(progress_t *pr) {
    if (pr->bar_shown) fputs("\r\033[K", pr->out);
    pr->bar_shown = 0;
}

static void draw_bar(progress_t *pr, const uh_search_progress_t *p, double left) {
    char bar[25], when[32] = "--", best[64] = "best --", hv[32] = "HV --";
    cli_bar(bar, 24, p->budget > 0 ? (double)p->done / p->budget : 1);
    if (isfinite(left)) cli_duration(when, sizeof when, left);
    if (isfinite(pr->best_acc))
        snprintf(best, sizeof best, "best %s %.4f @ %.4g nJ", pr->clean ? "acc" : "noisy",
                 pr->best_acc, pr->best_nj);
    if (isfinite(pr->hypervolume)) snprintf(hv, sizeof hv, "HV %.4f", pr->hypervolume);
    char gen[32] = "";
    if (!pr->async) snprintf(gen, sizeof gen, "  gen %d/%d", p->generation, p->generations);
    fprintf(pr->out, "\r\033[K[%s] %d/%d%s  %s  %s  ETA %s", bar, p->done, p->budget, gen, best, hv,
            when);
    pr->bar_shown = 1;
}

static void on_progress(void *ctx, const uh_search_progress_t *p) {
    progress_t *pr = ctx;
    const uh_candidate_t *c = p->last;
    if (!c) {
        pr->hypervolume = p->hypervolume;
    } else if (c->status == UH_CAND_OK) {
        double acc = pr->clean ? c->accuracy : c->noisy_accuracy;
        if (!isfinite(pr->best_acc) || acc > pr->best_acc ||
            (acc == pr->best_acc && c->energy_nj < pr->best_nj))
            pr->best_acc = acc, pr->best_nj = c->energy_nj;
    }
    if (c && !p->reused) pr->generation_trained = 1;
    if (c && pr->async) generation_ended(pr, p); /* candidates end one by one */
    if (pr->quiet) {
        if (!c) generation_ended(pr, p);
        return;
    }
    double left = eta(pr, p);
    clear_bar(pr);
    if (!c) {
        char took[24], all[24];
        cli_duration(took, sizeof took, cli_now() - pr->generation_start);
        cli_duration(all, sizeof all, cli_now() - pr->run_start);
        if (pr->async) /* called once, at the end */
            fprintf(pr->out, "all %d/%d candidates merged: hypervolume %.4f (%s in all)\n", p->done,
                    p->budget, p->hypervolume, all);
        else
            fprintf(pr->out,
                    "generation %d/%d done in %s: %d/%d candidates, hypervolume %.4f (%s in all)\n",
                    p->generation, p->generations, took, p->done, p->budget, p->hypervolume, all);
        generation_ended(pr, p);
        left = eta(pr, p);
        uh_mpi_print_workers(pr->mpi, pr->out);
    } else {
        char when[32] = "";
        if (!pr->tty && isfinite(left)) {
            char d[24];
            cli_duration(d, sizeof d, left);
            snprintf(when, sizeof when, "  ETA %s", d);
        }
        char pruned[40] = ""; /* a pruned row's accuracies are those of its last rung */
        if (c->status == UH_CAND_PRUNED)
            snprintf(pruned, sizeof pruned, "  pruned after %d epoch%s", c->epochs_trained,
                     c->epochs_trained == 1 ? "" : "s");
        if (c->status == UH_CAND_OK || c->status == UH_CAND_PRUNED)
            fprintf(
                pr->out,
                "  [%d/%d] gen %d %-16s %-15s acc %.4f noisy %.4f %10.4g nJ %8ld params%s%s%s\n",
                p->done, p->budget, c->generation, c->hash, c->origin, c->accuracy,
                c->noisy_accuracy, c->energy_nj, c->params, pruned,
                p->reused   ? "  (stored)"
                : p->cached ? "  (cached)"
                            : "",
                when);
        else
            fprintf(pr->out, "  [%d/%d] gen %d %-16s %-15s %s: %s%s\n", p->done, p->budget,
                    c->generation, c->hash, c->origin, uh_cand_status_name(c->status), c->message,
                    p->reused ? "  (stored)" : "");
    }
    if (c && pr->async && !p->reused && p->done % pr->workers_every == 0)
        uh_mpi_print_workers(pr->mpi, pr->out); /* no generations to print them after */
    if (pr->tty && p->done < p->budget) draw_bar(pr, p, left);
    fflush(pr->out);
}

/* Rank 0's coordination cost: what the bench and the closing arithmetic use. */
static void mpi_summary(const uh_mpi_t *mpi, FILE *out) {
    uh_mpi_stats_t st;
    uh_mpi_stats(mpi, &st);
    fprintf(out,
            "mpi: %d workers, %ld candidates in %.1f s; rank 0 coordinating %.3f s (%.2f%% of "
            "its time, %.2f ms per candidate), waiting %.1f s\n",
            st.workers, st.candidates, st.wall_s, st.coordination_s,
            st.wall_s > 0 ? 100 * st.coordination_s / st.wall_s : 0,
            st.candidates ? 1000 * st.coordination_s / (double)st.candidates : 0, st.blocked_s);
}

/* The final front is the rows measured on the test set (has_test). */
static void print_front(const uh_run_data_t *f, const uh_search_summary_t *sum,
                        const uh_search_config_t *cfg) {
    char goals[64];
    uh_goals_format(cfg->goals, cfg->n_goals, goals, sizeof goals);
    /* sum->candidates counts the rows that may be on the front: not pruned, above chance */
    printf("\n%d candidates (%d trained now, %d from the store",
           sum->trained + sum->reused + sum->cached, sum->trained, sum->reused);
    if (sum->cached) printf(", %d from the cache", sum->cached);
    printf("; %d trained fully and above chance", sum->candidates);
    if (sum->rejected) printf("; %d refused for a limit", sum->rejected);
    printf("); hypervolume %.4f (%s), %.4f (error,energy,drop); front of %d:\n", sum->hypervolume,
           goals, sum->hypervolume3, sum->front_size);
    /* cheapest first, by the id `export --candidate` takes; one-word column names */
    printf("  %6s %10s %10s %9s %10s %11s %11s %9s %9s  %-15s %s\n", "id", "energy_nJ", "val_noisy",
           "val_clean", "test_noisy", "test_clean", "latency_ns", "area_mm2", "params", "origin",
           "hash");
    for (size_t shown = 0, last = (size_t)-1;; shown++) {
        size_t k = (size_t)-1; /* the next cheapest after `last` (ties by place) */
        for (size_t j = 0; j < f->n_rows; j++) {
            if (!f->has_test[j]) continue;
            const uh_candidate_t *c = &f->rows[j];
            int after = last == (size_t)-1 || c->energy_nj > f->rows[last].energy_nj ||
                        (c->energy_nj == f->rows[last].energy_nj && j > last);
            if (after && (k == (size_t)-1 || c->energy_nj < f->rows[k].energy_nj)) k = j;
        }
        if (k == (size_t)-1) break;
        const uh_candidate_t *c = &f->rows[k];
        printf("  %6lld %10.4g %10.4f %9.4f %10.4f %11.4f %11.4g %9.4g %9ld  %-15s %s\n",
               (long long)c->id, c->energy_nj, c->noisy_accuracy, c->accuracy,
               f->test[k].noisy_accuracy, f->test[k].accuracy, c->latency_ns, c->area_mm2,
               c->params, c->origin, c->hash);
        last = k;
    }
}

static cJSON *front_json(const uh_run_data_t *f, const uh_search_summary_t *sum, const char *dir,
                         const uh_search_config_t *cfg) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "run", dir);
    cJSON_AddNumberToObject(o, "candidates", sum->candidates);
    cJSON_AddNumberToObject(o, "trained", sum->trained);
    cJSON_AddNumberToObject(o, "reused", sum->reused);
    cJSON_AddNumberToObject(o, "cached", sum->cached);
    cJSON_AddNumberToObject(o, "rejected", sum->rejected);
    cJSON *goals = cJSON_AddArrayToObject(o, "objectives");
    for (int i = 0; i < cfg->n_goals; i++)
        cJSON_AddItemToArray(goals, cJSON_CreateString(uh_goal_name(cfg->goals[i])));
    cJSON *lim = cJSON_AddObjectToObject(o, "limits"); /* 0 = none */
    cJSON_AddNumberToObject(lim, "max_energy_nj", cfg->limits.max_energy_nj);
    cJSON_AddNumberToObject(lim, "max_latency_ns", cfg->limits.max_latency_ns);
    cJSON_AddNumberToObject(lim, "max_area_mm2", cfg->limits.max_area_mm2);
    cJSON_AddNumberToObject(o, "hypervolume", sum->hypervolume);
    cJSON_AddNumberToObject(o, "hypervolume3", sum->hypervolume3);
    cJSON *arr = cJSON_AddArrayToObject(o, "front");
    for (size_t k = 0; k < f->n_rows; k++) {
        if (!f->has_test[k]) continue;
        const uh_candidate_t *c = &f->rows[k];
        cJSON *m = cJSON_CreateObject();
        cJSON_AddNumberToObject(m, "id", (double)c->id);
        cJSON_AddStringToObject(m, "hash", c->hash);
        cJSON_AddStringToObject(m, "origin", c->origin);
        cJSON_AddNumberToObject(m, "generation", c->generation);
        cJSON *arch = cJSON_Parse(c->arch); /* canonical JSON written by us */
        cJSON_AddItemToObject(m, "arch", arch ? arch : cJSON_CreateString(c->arch));
        cJSON_AddNumberToObject(m, "accuracy", c->accuracy);
        cJSON_AddNumberToObject(m, "noisy_accuracy", c->noisy_accuracy);
        cJSON_AddNumberToObject(m, "test_accuracy", f->test[k].accuracy);
        cJSON_AddNumberToObject(m, "test_noisy_accuracy", f->test[k].noisy_accuracy);
        cJSON_AddNumberToObject(m, "energy_nj", c->energy_nj);
        cJSON_AddNumberToObject(m, "latency_ns", c->latency_ns); /* NaN (null): not stored */
        cJSON_AddNumberToObject(m, "area_mm2", c->area_mm2);
        cJSON_AddNumberToObject(m, "params", (double)c->params);
        cJSON_AddNumberToObject(m, "macs", (double)c->macs);
        cJSON_AddItemToArray(arr, m);
    }
    return o;
}

/* DIR/front.csv and DIR/candidates.csv. */
static int write_tables(uh_store_t *store, const uh_run_data_t *f, const char *dir,
                        uh_error_t *err) {
    const char **hashes = malloc((f->n_rows + 1) * sizeof *hashes);
    if (!hashes) return uh_error_set(err, UH_ENOMEM, "out of memory");
    size_t n_front = 0;
    for (size_t k = 0; k < f->n_rows; k++)
        if (f->has_test[k]) hashes[n_front++] = f->rows[k].hash;
    char csv[4096];
    snprintf(csv, sizeof csv, "%s/front.csv", dir);
    int rc = uh_store_export_csv(store, csv, hashes, n_front, err);
    free(hashes);
    snprintf(csv, sizeof csv, "%s/candidates.csv", dir);
    if (!rc) rc = uh_store_export_csv(store, csv, NULL, 0, err);
    return rc;
}

/* How `search` and `resume` run and report, none of it part of the run's config. */
typedef struct {
    int quiet, json, jobs;
    const char *data_dir; /* resume: in place of the stored one */
    const char *cache;    /* the evaluation cache's file, or NULL */
} run_flags_t;

/* clang-format off */
#define RUN_FLAG_OPTIONS(f)                                                                     \
    {"jobs", OPT_INT, &(f).jobs, 0, UH_SEARCH_MAX_JOBS, NULL, "N",                              \
     "candidates trained at once, on N threads in all: the last of a rung gets the cores the "    \
     "others have left (default 0: one per free core; under mpirun the workers train them); the " \
     "result does not depend on it"},                                                            \
    {"cache", OPT_STRING, &(f).cache, 0, 0, NULL, "FILE",                                       \
     "evaluation cache shared with other runs (created when missing): candidates it knows are " \
     "answered from it untrained, with the same rows; what this run trains is added"},           \
    {"json", OPT_FLAG, &(f).json, 0, 0, NULL, NULL,                                             \
     "print the result as one JSON object on stdout (progress goes to stderr)"},                \
    {"quiet", OPT_FLAG, &(f).quiet, 0, 0, NULL, NULL, "no progress output"}
/* clang-format on */

/* The objectives and limits: part of the run's config. `search` stores them; `resume` accepts
 * them only to refuse a run whose stored ones differ (a run keeps its objectives). */
typedef struct {
    const char *objectives; /* NULL: not given */
    double limit[3];        /* energy nJ, latency ns, area mm2; < 0: not given */
} goal_args_t;

/* clang-format off */
#define GOAL_OPTIONS(g)                                                                         \
    {"objectives", OPT_STRING, &(g).objectives, 0, 0, NULL, "LIST",                             \
     "two or three of error, energy, latency, area, drop (= clean - noisy accuracy), "          \
     "comma-separated (default error,energy); NSGA-II's ranking and crowding, LINAS, the front " \
     "and the hypervolume use them (energy, latency, area on log10 scales)"},                   \
    {"max-energy-nj", OPT_REAL, &(g).limit[0], 0, 1e300, NULL, "X",                             \
     "hard limit: a network above X nJ per inference is never trained (default 0: none)"},      \
    {"max-latency-ns", OPT_REAL, &(g).limit[1], 0, 1e300, NULL, "X",                            \
     "hard limit on the latency per inference, ns (default 0: none)"},                          \
    {"max-area-mm2", OPT_REAL, &(g).limit[2], 0, 1e300, NULL, "X",                              \
     "hard limit on the hardware area the network needs, mm2 (default 0: none)"}
/* clang-format on */

static void goal_args_unset(goal_args_t *g) {
    g->objectives = NULL;
    for (int i = 0; i < 3; i++) g->limit[i] = -1;
}

static double *limit_field(uh_limits_t *l, int i) {
    return i == 0 ? &l->max_energy_nj : i == 1 ? &l->max_latency_ns : &l->max_area_mm2;
}

/* Applies the given settings to cfg; UH_EINVAL with msg on a bad list. */
static int goal_args_apply(const goal_args_t *g, uh_search_config_t *cfg, char *msg, size_t cap) {
    if (g->objectives && uh_goals_parse(g->objectives, cfg->goals, &cfg->n_goals, msg, cap))
        return UH_EINVAL;
    for (int i = 0; i < 3; i++)
        if (g->limit[i] >= 0) *limit_field(&cfg->limits, i) = g->limit[i];
    return UH_OK;
}

/* resume: the given settings must be the stored ones. */
static int goal_args_match(const goal_args_t *g, const uh_search_config_t *stored, char *msg,
                           size_t cap) {
    uh_search_config_t want = *stored;
    if (goal_args_apply(g, &want, msg, cap)) return UH_EINVAL;
    char a[64], b[64];
    uh_goals_format(stored->goals, stored->n_goals, a, sizeof a);
    uh_goals_format(want.goals, want.n_goals, b, sizeof b);
    if (strcmp(a, b) != 0) {
        snprintf(msg, cap, "--objectives %s differs from the run's objectives %s", b, a);
        return UH_EINVAL;
    }
    static const char *const names[] = {"--max-energy-nj", "--max-latency-ns", "--max-area-mm2"};
    for (int i = 0; i < 3; i++) {
        double was = *limit_field((uh_limits_t *)&stored->limits, i);
        if (*limit_field(&want.limits, i) != was) {
            snprintf(msg, cap, "%s %g differs from the run's (%g%s)", names[i],
                     *limit_field(&want.limits, i), was, was > 0 ? "" : ": none");
            return UH_EINVAL;
        }
    }
    return UH_OK;
}

/* A warning when an objective or a limit asks about a cost the backend does not model (0 for
 * the reference network): it would neither rank nor limit anything. */
static void warn_unmodelled(const uh_search_config_t *cfg, const uh_backend_t *b) {
    uh_energy_t e;
    if (cli_reference_cost(b, &e, NULL)) return;
    const struct {
        uh_goal_t goal;
        double limit, value;
        const char *unit;
    } costs[] = {{UH_GOAL_LATENCY, cfg->limits.max_latency_ns, e.latency_ns, "latency"},
                 {UH_GOAL_AREA, cfg->limits.max_area_mm2, e.footprint.area_mm2, "area"}};
    for (int i = 0; i < 2; i++) {
        int wanted = costs[i].limit > 0;
        for (int j = 0; j < cfg->n_goals; j++) wanted |= cfg->goals[j] == costs[i].goal;
        if (wanted && !(costs[i].value > 0))
            fprintf(stderr,
                    "uhnas: warning: backend %s does not model %s (0 for the reference network): "
                    "as an objective or a limit it has no effect\n",
                    uh_backend_name(b), costs[i].unit);
    }
}

/* Runs the search in the open store, then prints the final front and writes the CSV. */
static int run_and_report(uh_store_t *store, const char *dir, const run_flags_t *flags,
                          const uh_search_config_t *cfg, const uh_backend_t *backend,
                          const uh_operator_t *op, uh_mpi_t *mpi) {
    uh_error_t err = {0};
    uh_search_summary_t sum;
    FILE *log = flags->json ? stderr : stdout;
    progress_t pr = {.out = log,
                     .quiet = flags->quiet,
                     .tty = isatty(fileno(log)),
                     .run_start = cli_now(),
                     .generation_start = cli_now(),
                     .best_acc = NAN,
                     .best_nj = NAN,
                     .clean = cfg->objective == UH_OBJECTIVE_CLEAN,
                     .async = cfg->async,
                     .workers_every = cfg->children,
                     .hypervolume = NAN};
    catch_signals();
    uh_search_opts_t opts = {.op = op,
                             .progress = on_progress,
                             .progress_ctx = &pr,
                             .stop = &g_stop,
                             .jobs = flags->jobs,
                             .data_dir = flags->data_dir};
    uh_executor_t workers;
    int rc = UH_OK;
    if (uh_mpi_size(mpi) > 1) { /* rank 0: the other ranks train */
        /* with their data where this run finds it now (cfg has the new directory) */
        char *moved = flags->data_dir ? uh_search_config_json(cfg, backend) : NULL;
        if (flags->data_dir && !moved) rc = uh_error_set(&err, UH_ENOMEM, "out of memory");
        if (!rc) rc = uh_mpi_start(mpi, moved ? moved : uh_store_config(store), &workers, &err);
        free(moved);
        opts.executor = &workers;
        pr.mpi = mpi;
    }
    uh_cache_t *cache = NULL;
    if (!rc && flags->cache) {
        rc = uh_cache_open(flags->cache, &cache, &err);
        opts.cache = cache;
    }
    if (!rc) rc = uh_search_run(store, &opts, &sum, &err);
    uh_cache_close(cache);
    clear_bar(&pr);
    cli_operator_warn(op);
    if (pr.mpi && !flags->quiet) mpi_summary(mpi, log);
    if (rc == UH_EINTR) {
        fprintf(stderr,
                "uhnas: stopped; every finished candidate is stored. Continue with: uhnas "
                "resume %s\n",
                dir);
        return UH_EXIT_FAIL;
    }
    if (rc == UH_ENOTFOUND) /* the data are not where the run found them */
        return cli_fail(UH_EXIT_FAIL,
                        "search: %s (once they are found, continue with: uhnas resume %s, with "
                        "--data-dir DIR if they moved)",
                        err.msg, dir);
    if (rc)
        return cli_fail(UH_EXIT_FAIL, "search: %s (continue with: uhnas resume %s)", err.msg, dir);
    uh_run_data_t *f;
    if ((rc = uh_run_load(dir, &f, &err)) == UH_OK) rc = write_tables(store, f, dir, &err);
    if (rc) {
        uh_run_free(f);
        return cli_fail(UH_EXIT_FAIL, "search: %s", err.msg);
    }
    int code = UH_EXIT_OK;
    if (flags->json) {
        cJSON *o = front_json(f, &sum, dir, cfg);
        cJSON *totals = cli_operator_json(op);
        if (totals) cJSON_AddItemToObject(o, op->name, totals);
        if (pr.mpi) {
            uh_mpi_stats_t st;
            uh_mpi_stats(mpi, &st);
            cJSON *m = cJSON_AddObjectToObject(o, "mpi");
            cJSON_AddNumberToObject(m, "workers", st.workers);
            cJSON_AddNumberToObject(m, "candidates", (double)st.candidates);
            cJSON_AddNumberToObject(m, "wall_s", st.wall_s);
            cJSON_AddNumberToObject(m, "coordination_s", st.coordination_s);
            cJSON_AddNumberToObject(m, "blocked_s", st.blocked_s);
        }
        code = cli_print_json(o);
    } else {
        print_front(f, &sum, cfg);
        printf("run store %s/%s; tables %s/front.csv, %s/candidates.csv\n", dir, UH_STORE_FILE, dir,
               dir);
    }
    uh_run_free(f);
    return code;
}

/* The run with its operator: the classic one, or a language model built from the config. */
static int run_in_store(uh_store_t *store, const char *dir, const run_flags_t *flags,
                        const uh_search_config_t *cfg, const uh_backend_t *backend,
                        const cli_llm_args_t *overrides, const char *command, uh_mpi_t *mpi) {
    uh_run_operator_t *op;
    uh_error_t err = {0};
    if (uh_operator_open(cfg, &overrides->remote, backend, dir, &op, &err))
        return cli_fail(UH_EXIT_USAGE, "%s: language model: %s (fix it, then: uhnas resume %s)",
                        command, err.msg, dir);
    int code = run_and_report(store, dir, flags, cfg, backend, uh_operator_of(op), mpi);
    uh_operator_close(op);
    return code;
}

static void search_usage(FILE *out, const cli_opt_t *opts, int n) {
    fprintf(out,
            "usage: uhnas search --backend NAME [--out DIR] [OPTIONS]\n\n"
            "Searches architectures that are accurate under the backend's physics and cheap in\n"
            "energy on it. Every candidate is trained (noise-aware), measured on a validation\n"
            "split (clean and Monte-Carlo noisy accuracy) and committed to DIR/run.sqlite the\n"
            "moment it finishes; the final Pareto front is measured once on the test set.\n"
            "Budget: population + generations x children candidates, trained --jobs at a\n"
            "time. On a terminal a status bar shows progress, ETA, the best accuracy so far\n"
            "and the hypervolume. Ctrl-C starts no new candidate (those training finish and\n"
            "are stored); `uhnas resume DIR` continues (also after kill -9) without\n"
            "retraining anything finished, to the same result as an uninterrupted run.\n"
            "At the end: the front as a table (or JSON with --json), DIR/front.csv and\n"
            "DIR/candidates.csv.\n"
            "Objectives (--objectives): two or three of error (1 - accuracy), energy (nJ),\n"
            "latency (ns), area (mm2) and drop (clean - noisy accuracy); default\n"
            "error,energy. Costs are normalised on log10 scales from the task's linear\n"
            "classifier, error and drop linearly; the hypervolume (exact in 2-D and 3-D) is\n"
            "over the chosen ones, in a box: error / chance error, costs clipped to [0, 1].\n"
            "A network at or below chance counts for nothing and is never on the front.\n"
            "Limits (--max-energy-nj, --max-latency-ns, --max-area-mm2) are hard: networks\n"
            "beyond one are never trained; one a language model proposes is stored as\n"
            "invalid, with the limit named. Both are stored with the run.\n"
            "\noptions:\n");
    cli_print_options(out, opts, n);
    fprintf(out, "\n" CLI_EXIT_CODES);
}

int uh_cmd_search(int argc, char **argv, const cli_env_t *env) {
    uh_search_config_t cfg;
    uh_search_config_default(&cfg);
    const char *backend = NULL, *out = NULL, *data = NULL, *data_dir = NULL;
    int strategy = 0, objective = 0, optimizer = (int)cfg.train.optimizer, replace = 0;
    int pruner = (int)cfg.pruner, keep_weights = cfg.keep_all_weights, sampler = (int)cfg.sampler;
    run_flags_t flags = {0};
    cli_llm_args_t llm_args;
    cli_llm_args_unset(&llm_args);
    int plain = 0;
    int seed = 1;
    double lr = cfg.train.lr, momentum = cfg.train.momentum;
    goal_args_t goal_args;
    goal_args_unset(&goal_args);
    char strategies[128];
    uh_strategy_names(strategies, sizeof strategies, "|");
    char targets[64], languages[64]; /* in uh_lm_targets_t's and uh_lang_mode_t's order */
    cli_join_names(uh_lm_target_names, targets, sizeof targets);
    cli_join_names(uh_lm_language_names, languages, sizeof languages);
    cli_opt_t opts[] = {
        {"backend", OPT_STRING, &backend, 0, 0, NULL, "NAME_OR_FILE", "backend (required)"},
        {"out", OPT_STRING, &out, 0, 0, NULL, "DIR",
         "run directory (default runs/BACKEND-STRATEGY-sSEED)"},
        {"strategy", OPT_CHOICE, &strategy, 0, 0, strategies, "NAME",
         "search strategy (default nsga2; llm: --llm-url or --llm-replay, else the built-in model; "
         "llmatic: --llm-url or --llm-replay)"},
        {"objective", OPT_CHOICE, &objective, 0, 0, "noisy|clean", "WHICH",
         "accuracy to maximise (default noisy)"},
        GOAL_OPTIONS(goal_args),
        {"population", OPT_INT, &cfg.population, 2, UH_SEARCH_MAX_POPULATION, NULL, "N",
         "initial random candidates and NSGA-II population (default 20)"},
        {"children", OPT_INT, &cfg.children, 1, UH_SEARCH_MAX_POPULATION, NULL, "N",
         "children per generation (default 8)"},
        {"generations", OPT_INT, &cfg.generations, 0, UH_SEARCH_MAX_GENERATIONS, NULL, "N",
         "generations after the initial population (default 30)"},
        {"seed", OPT_INT, &seed, 0, 2147483647, NULL, "N", "run seed (default 1)"},
        {"epochs", OPT_INT, &cfg.train.epochs, 1, 10000, NULL, "N",
         "training epochs per candidate (default 20)"},
        {"batch", OPT_INT, &cfg.train.batch, 1, 65536, NULL, "N", "mini-batch (default 128)"},
        {"optimizer", OPT_CHOICE, &optimizer, 0, 0, "sgd|adam", "NAME", "default adam"},
        {"lr", OPT_REAL, &lr, 0, 10, NULL, "X", "learning rate (default 0.001)"},
        {"momentum", OPT_REAL, &momentum, 0, 1, NULL, "X",
         "SGD momentum (default 0.9; unused by adam)"},
        {"mc", OPT_INT, &cfg.mc, 1, 100000, NULL, "N",
         "Monte-Carlo hardware samples per candidate (default 5)"},
        {"no-noise-aware", OPT_FLAG, &plain, 0, 0, NULL, NULL,
         "train without the backend's noise model"},
        {"data", OPT_STRING, &data, 0, 0, NULL, "NAME", "fashion-mnist (default), mnist or tiny"},
        {"data-dir", OPT_STRING, &data_dir, 0, 0, NULL, "DIR", "where the IDX files are"},
        {"limit-train", OPT_INT, &cfg.limit_train, 0, 100000000, NULL, "N",
         "training samples before the validation split; 0 = all (default)"},
        {"limit-test", OPT_INT, &cfg.limit_test, 0, 100000000, NULL, "N",
         "test samples for the final front; 0 = all (default)"},
        {"val-fraction", OPT_REAL, &cfg.val_fraction, 0.01, 0.9, NULL, "X",
         "share of training samples held out for validation (default 0.2)"},
        {"crossover", OPT_REAL, &cfg.crossover_prob, 0, 1, NULL, "P",
         "nsga2/linas: share of children made by crossover (default 0.5)"},
        {"tournament", OPT_INT, &cfg.tournament, 1, UH_SEARCH_MAX_POPULATION, NULL, "N",
         "evolution: tournament size (default 4)"},
        {"energy-weight", OPT_REAL, &cfg.energy_weight, 0, 100, NULL, "W",
         "evolution: fitness = accuracy - W*log10(energy nJ) (default 0.05)"},
        {"predictor-generations", OPT_INT, &cfg.predictor_generations, 1, UH_SEARCH_MAX_GENERATIONS,
         NULL, "N", "linas: NSGA-II generations on the predictors per cycle (default 500)"},
        {"pruner", OPT_CHOICE, &pruner, 0, 0, "none|asha", "WHICH",
         "multi-fidelity (default asha): asha trains in rungs (epochs/3^k "
         "rounded, from one "
         "epoch: 1, 2, 7, 20 for 20 epochs) and goes on with a candidate only while it is in "
         "the best third of its rung; none trains every candidate fully"},
        {"async", OPT_FLAG, &cfg.async, 0, 0, NULL, NULL,
         "asynchronous steady state (nsga2, llm, evolution, random): no generations; a free "
         "worker (--jobs thread or MPI rank) gets a child of the population as it stands, and "
         "each result joins the population as it arrives; under the pruner each rung's result "
         "is decided on as it arrives (go on or stop); resume replays the recorded order "
         "(docs/mpi.md)"},
        {"rung-mc", OPT_INT, &cfg.rung_mc, 0, 100000, NULL, "N",
         "asha: hardware samples for the noisy accuracy at rungs before the last (default 1; "
         "0 = --mc)"},
        {"sampler", OPT_CHOICE, &sampler, 0, 0, "uniform|cost-spread", "WHICH",
         "random samples: uniform choices of structure (default), or cost-spread (log-uniform "
         "in MACs over 2.5 decades above the linear classifier: fewer very large networks)"},
        {"min-distance", OPT_REAL, &cfg.min_distance, 0, 10, NULL, "X",
         "children closer than X to a network the run has met (genome distance: each choice "
         "scaled by its range; the space's smallest step is 0.125) are refused untrained and "
         "the operator asked again (default 0.1; 0: only exact duplicates)"},
        {"keep-weights", OPT_CHOICE, &keep_weights, 0, 0, "front|all", "WHICH",
         "weights stored for the running front only (default) or for every candidate that was "
         "on it"},
        {"replace", OPT_FLAG, &replace, 0, 0, NULL, NULL,
         "delete a run already in DIR and start again"},
        RUN_FLAG_OPTIONS(flags),
        CLI_LLM_OPTIONS(llm_args),
        {"llm-prior", OPT_STRING, &llm_args.prior, 0, 0, NULL, "none|shipped|FILE|DIR,...",
         "built-in model: start from a pretrained checkpoint FILE (uhnas pretrain; its sizes "
         "become the model's) or the shipped one (configs/lm/prior.ckpt) and fine-tune it on "
         "the run, and/or also learn from these earlier runs DIR (any backend); none: neither "
         "(default: the shipped prior helped on a backend it never saw, not on the presets it "
         "learnt from; docs/llm.md)"},
        {"llm-layers", OPT_INT, &llm_args.size[0], 1, 16, NULL, "N",
         "built-in model: transformer blocks (default 4)"},
        {"llm-heads", OPT_INT, &llm_args.size[1], 1, 64, NULL, "N",
         "built-in model: attention heads, dividing the width (default 4)"},
        {"llm-width", OPT_INT, &llm_args.size[2], 1, 1024, NULL, "N",
         "built-in model: channels (default 128)"},
        {"llm-context", OPT_INT, &llm_args.size[3], 16, UH_LANG_MAX_TOKENS, NULL, "N",
         "built-in model: context in tokens (default 256; a parent and child take at most 130, "
         "two parents and a child about 190)"},
        {"llm-train-steps", OPT_INT, &llm_args.size[4], 0, 100000, NULL, "N",
         "built-in model: AdamW steps of 8 examples per generation (default 40)"},
        {"llm-targets", OPT_CHOICE, &llm_args.targets, 0, 0, targets, "RULE",
         "built-in model: what each child is asked for: cheaper, the parent's accuracy one energy "
         "decile lower (default); front, by the run's own accuracy deciles, alternately cheaper "
         "and one decile more accurate (docs/llm.md)"},
        {"llm-classic", OPT_REAL, &llm_args.classic, 0, 1, NULL, "SHARE",
         "built-in model: the share of each call's children (rounded down) made by nsga2's classic "
         "operator (a crossover of two parents at the run's --crossover P, then a mutation) "
         "instead of the model (default 0; docs/llm.md)"},
        {"llm-parents", OPT_INT, &llm_args.parents, 1, UH_LANG_MAX_PARENTS, NULL, "N",
         "built-in model: parents in each child's context: 1 (default) or 2, the child's and the "
         "next, the pair --llm-classic would cross (docs/llm.md)"},
        {"llm-language", OPT_CHOICE, &llm_args.language, 0, 0, languages, "NAME",
         "built-in model: how it writes a child: layers, in full (default); edits, as copies and "
         "skips of its parents' layers and new layers (a checkpoint must be pretrained in "
         "edits; docs/llm.md)"},
        {"system-prompt", OPT_STRING, &llm_args.system, 0, 0, NULL, "WHICH",
         "hardware (default for llm), generic, none (default for llmatic) or a template FILE"},
    };
    int n = (int)(sizeof opts / sizeof opts[0]);
    char msg[256];
    int prc = cli_parse(argc, argv, opts, n, msg, sizeof msg);
    if (prc == 2) {
        search_usage(stdout, opts, n);
        return UH_EXIT_OK;
    }
    if (prc) return cli_fail(UH_EXIT_USAGE, "search: %s", msg);
    if (!backend) return cli_fail(UH_EXIT_USAGE, "search: --backend is required (see --help)");
    cfg.strategy = (uh_strategy_t)strategy;
    cfg.objective = (uh_objective_t)objective;
    cfg.pruner = pruner >= 0 ? (uh_pruner_t)pruner : cfg.pruner;
    cfg.sampler = (uh_sampler_t)sampler;
    cfg.keep_all_weights = keep_weights;
    cfg.train.optimizer = (uh_optimizer_t)optimizer;
    cfg.train.lr = (float)lr;
    cfg.train.momentum = (float)momentum;
    cfg.noise_aware = !plain;
    cfg.seed = (uint64_t)seed;
    if (goal_args_apply(&goal_args, &cfg, msg, sizeof msg))
        return cli_fail(UH_EXIT_USAGE, "search: --objectives: %s", msg);
    uh_error_t err = {0};
    if (uh_search_async_check(&cfg, &err))
        return cli_fail(UH_EXIT_USAGE, "search: --async: %s", err.msg);
    if (data && snprintf(cfg.dataset, sizeof cfg.dataset, "%s", data) >= (int)sizeof cfg.dataset)
        return cli_fail(UH_EXIT_USAGE, "search: --data: name too long");
    if (data_dir &&
        snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", data_dir) >= (int)sizeof cfg.data_dir)
        return cli_fail(UH_EXIT_USAGE, "search: --data-dir: path too long");

    uh_backend_t *b;
    if (uh_backend_load(backend, &b, &err))
        return cli_fail(cli_exit_code(err.code), "search: %s", err.msg);
    char dir[1024];
    if (out)
        snprintf(dir, sizeof dir, "%s", out);
    else
        snprintf(dir, sizeof dir, "runs/%s-%s-s%d", uh_backend_name(b),
                 uh_strategy_name(cfg.strategy), seed);
    if (cli_llm_new_config(&llm_args, cfg.strategy, &cfg, msg, sizeof msg)) {
        uh_backend_free(b);
        return cli_fail(UH_EXIT_USAGE, "search: %s", msg);
    }
    char *config = uh_search_config_json(&cfg, b);
    if (!config) {
        uh_backend_free(b);
        return cli_fail(UH_EXIT_FAIL, "search: out of memory");
    }
    /* the data are found and read before the run directory exists: a wrong --data-dir
     * leaves nothing behind */
    uh_dataset_t *sets[3];
    int rc = uh_search_load_data(&cfg, &sets[0], &sets[1], &sets[2], &err);
    for (int i = 0; !rc && i < 3; i++) uh_dataset_free(sets[i]);
    if (rc) {
        uh_backend_free(b);
        free(config);
        return cli_fail(UH_EXIT_FAIL, "search: %s", err.msg); /* missing data: 1, as documented */
    }
    /* ... and so is the cache (created now when missing: it outlives the run anyway) */
    uh_cache_t *cache = NULL;
    if (flags.cache && (rc = uh_cache_open(flags.cache, &cache, &err)) == UH_OK)
        uh_cache_close(cache);
    if (rc) {
        uh_backend_free(b);
        free(config);
        return cli_fail(UH_EXIT_FAIL, "search: %s", err.msg);
    }
    /* ... and so is the language model's server: a wrong URL, key or model is bad input */
    if ((rc = uh_operator_check(&cfg, &err))) {
        uh_backend_free(b);
        free(config);
        return cli_fail(UH_EXIT_USAGE, "search: %s", err.msg);
    }
    uh_store_t *store;
    /* the replaced run's transcript and model memory go with it */
    rc = replace ? uh_operator_forget(dir, &cfg, &err) : UH_OK;
    if (!rc) rc = uh_store_create(dir, config, replace ? UH_STORE_REPLACE : 0, &store, &err);
    free(config);
    if (rc) {
        uh_backend_free(b);
        return cli_fail(cli_exit_code(rc), "search: %s%s", err.msg,
                        rc == UH_EINVAL ? " (continue it with `uhnas resume DIR`, or --replace)"
                                        : "");
    }
    warn_unmodelled(&cfg, b);
    if (!flags.quiet) {
        char goals[64];
        uh_goals_format(cfg.goals, cfg.n_goals, goals, sizeof goals);
        fprintf(flags.json ? stderr : stdout,
                "run %s: %s on %s, objectives %s, budget %d candidates\n", dir,
                uh_strategy_name(cfg.strategy), backend, goals,
                cfg.population + cfg.generations * cfg.children);
    }
    if (!flags.quiet) { /* the cost before anything trains (docs/user-guide.md) */
        uh_search_estimate_t est;
        int at_once = uh_mpi_size(env->mpi) > 1 ? uh_mpi_size(env->mpi) - 1 : flags.jobs;
        char line[512];
        if (uh_search_estimate(&cfg, b, at_once, &est, &err) == UH_OK) {
            uh_search_estimate_format(&est, line, sizeof line);
            fprintf(flags.json ? stderr : stdout, "%s\n", line);
        } else {
            fprintf(stderr, "uhnas: warning: no cost estimate: %s\n", err.msg);
        }
    }
    cli_llm_args_t stored; /* the settings are in the config now */
    cli_llm_args_unset(&stored);
    int code = run_in_store(store, dir, &flags, &cfg, b, &stored, "search", env->mpi);
    uh_backend_free(b);
    uh_store_close(store);
    return code;
}

int uh_cmd_resume(int argc, char **argv, const cli_env_t *env) {
    const char *dir = NULL;
    run_flags_t flags = {0};
    cli_llm_args_t overrides;
    cli_llm_args_unset(&overrides);
    goal_args_t goal_args;
    goal_args_unset(&goal_args);
    cli_opt_t opts[] = {RUN_FLAG_OPTIONS(flags),
                        CLI_LLM_OPTIONS(overrides),
                        GOAL_OPTIONS(goal_args),
                        {"data-dir", OPT_STRING, &flags.data_dir, 0, 0, NULL, "DIR",
                         "where the data files are now, in place of the stored directory (the "
                         "same files: another machine, or moved)"}};
    int n = (int)(sizeof opts / sizeof opts[0]);
    /* the run directory is the one positional argument */
    if (argc >= 2 && argv[1][0] != '-') {
        dir = argv[1];
        argv[1] = argv[0];
        argv++, argc--;
    }
    char msg[256];
    int prc = cli_parse(argc, argv, opts, n, msg, sizeof msg);
    if (prc == 2) {
        printf("usage: uhnas resume DIR [OPTIONS]\n\n"
               "Continues the search stored in DIR/run.sqlite with its own config: finished\n"
               "candidates are read back, not retrained, and the result is the one an\n"
               "uninterrupted run would have given. Calls to a language model that are in\n"
               "DIR/llm.jsonl are answered from it; the --llm-* options replace the stored\n"
               "ones (e.g. a server that moved), --data-dir the data's directory, --jobs\n"
               "the candidates trained at once, --cache an evaluation cache (none of these\n"
               "changes a result). --objectives and --max-* are the run's own:\n"
               "given here, they must equal the stored ones (a mismatch is refused).\n"
               "\noptions:\n");
        cli_print_options(stdout, opts, n);
        printf("\n" CLI_EXIT_CODES);
        return UH_EXIT_OK;
    }
    if (prc && strstr(msg, "unknown option"))
        return cli_fail(UH_EXIT_USAGE,
                        "resume: %s; a run keeps its config, so resume takes only what cannot "
                        "change its result (a new run: uhnas search)",
                        msg);
    if (prc) return cli_fail(UH_EXIT_USAGE, "resume: %s", msg);
    if (!dir) return cli_fail(UH_EXIT_USAGE, "resume: which run directory? (uhnas resume DIR)");
    uh_error_t err = {0};
    uh_store_t *store;
    if (uh_store_open(dir, &store, &err))
        return cli_fail(cli_exit_code(err.code), "resume: %s", err.msg);
    uh_search_config_t cfg;
    uh_backend_t *backend = NULL;
    if (uh_search_config_parse(uh_store_config(store), &cfg, &backend, &err)) {
        uh_store_close(store);
        return cli_fail(cli_exit_code(err.code), "resume: %s: %s", dir, err.msg);
    }
    if (flags.data_dir && snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", flags.data_dir) >=
                              (int)sizeof cfg.data_dir) {
        uh_backend_free(backend);
        uh_store_close(store);
        return cli_fail(UH_EXIT_USAGE, "resume: --data-dir: path too long");
    }
    if (goal_args_match(&goal_args, &cfg, msg, sizeof msg)) {
        uh_backend_free(backend);
        uh_store_close(store);
        return cli_fail(UH_EXIT_USAGE, "resume: %s: %s (a run keeps its objectives and limits)",
                        dir, msg);
    }
    /* not refused: the run's rows stay measurements, but no longer an uninterrupted run's */
    if (cfg.blas_kernels[0] && strcmp(cfg.blas_kernels, uh_nn_blas_kernels()) != 0)
        fprintf(stderr,
                "uhnas: warning: resume: %s was measured with OpenBLAS's %s kernels and this "
                "machine computes with %s: what it trains from here on differs in the last digits "
                "from an uninterrupted run (OPENBLAS_CORETYPE=%s chooses that run's kernels, where "
                "the CPU has their instructions; docs/user-guide.md, Reproducibility)\n",
                dir, cfg.blas_kernels, uh_nn_blas_kernels(), cfg.blas_kernels);
    int code = run_in_store(store, dir, &flags, &cfg, backend, &overrides, "resume", env->mpi);
    uh_backend_free(backend);
    uh_store_close(store);
    return code;
}
