/* The cost of a run, estimated before it starts: the formula, the measured rates behind it
 * and the line `search` prints (uhnas/search.h). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "search_internal.h"

static int min_int(int a, int b) {
    return a < b ? a : b;
}

void uh_search_estimate_compute(const uh_search_config_t *cfg, int jobs, uh_search_estimate_t *e) {
    if (jobs < 1) jobs = 1; /* a pure formula: uh_search_estimate resolves the default */
    e->candidates = cfg->population + cfg->generations * cfg->children;
    /* asynchronous: every worker busy on any candidate; generational: a generation at most */
    e->parallel = cfg->async ? jobs
                             : min_int(jobs, cfg->population > cfg->children ? cfg->population
                                                                             : cfg->children);
    e->epoch_share = e->eval_share = 1;
    if (cfg->pruner == UH_PRUNER_ASHA && cfg->train.epochs > 0) {
        int rungs[UH_PRUNER_MAX_RUNGS], n = uh_pruner_rungs(cfg, rungs);
        double going_on = 1, epochs = 0, evals = 0; /* share of a batch reaching rung k */
        for (int k = 0; k < n; k++, going_on /= UH_PRUNER_ETA) {
            epochs += going_on * (rungs[k] - (k ? rungs[k - 1] : 0));
            /* a clean pass and mc noisy ones, each costed alike (noisy ones cost more) */
            evals += going_on * (1.0 + uh_pruner_rung_mc(cfg, k, n)) / (1.0 + cfg->mc);
        }
        e->epoch_share = epochs / cfg->train.epochs;
        e->eval_share = evals;
    }
    e->candidate_s =
        e->mean_macs * (e->epoch_share * cfg->train.epochs * e->n_train / e->train_macs_per_s +
                        e->eval_share * e->n_val / e->eval_macs_per_s);
    e->cpu_s = e->candidates * e->candidate_s;
    double waves =
        cfg->async ? (double)e->candidates / jobs
                   : (double)cfg->population / min_int(jobs, cfg->population) +
                         (double)cfg->generations * cfg->children / min_int(jobs, cfg->children);
    e->wall_s = e->candidate_s * waves;
}

/* "45 s", "12 min", "3.4 h": what a person plans with. */
static void duration(char *buf, size_t cap, double s) {
    if (s < 90)
        snprintf(buf, cap, "%.2g s", s);
    else if (s < 5400)
        snprintf(buf, cap, "%.2g min", s / 60);
    else
        snprintf(buf, cap, "%.2g h", s / 3600);
}

void uh_search_estimate_format(const uh_search_estimate_t *e, char *buf, size_t cap) {
    char one[32], cpu[32], wall[32], pruned[64] = "";
    duration(one, sizeof one, e->candidate_s);
    duration(cpu, sizeof cpu, e->cpu_s);
    duration(wall, sizeof wall, e->wall_s);
    if (e->epoch_share < 1)
        snprintf(pruned, sizeof pruned, "; the pruner's target: ~%.2f of the epochs",
                 e->epoch_share);
    snprintf(buf, cap,
             "estimate: ~%d candidates x ~%s = ~%s on one core, ~%s with %d at once (mean "
             "%.2g MACs per network; measured %.2g training and %.2g held-out MAC/s per core%s)",
             e->candidates, one, cpu, wall, e->parallel, e->mean_macs, e->train_macs_per_s,
             e->eval_macs_per_s, pruned);
}

static int cmp_macs(const void *a, const void *b) {
    long x = ((const uh_arch_t *)a)->macs, y = ((const uh_arch_t *)b)->macs;
    return (x > y) - (x < y);
}

/* The space's mean MACs over UH_ESTIMATE_SAMPLES samples (from the run's seed, on a stream
 * of its own: the run's draws are not touched), and the probes at the midpoints of
 * UH_ESTIMATE_PROBES equal-count strata of them sorted by MACs. */
static int draw_probes(const uh_space_t *space, uint64_t seed, uh_arch_t probes[UH_ESTIMATE_PROBES],
                       double *mean_macs, uh_error_t *err) {
    uh_arch_t *s = malloc(UH_ESTIMATE_SAMPLES * sizeof *s);
    if (!s) return uh_error_set(err, UH_ENOMEM, "out of memory");
    uh_rng_t rng;
    uh_rng_seed(&rng, seed);
    double sum = 0;
    int rc = UH_OK;
    for (int i = 0; !rc && i < UH_ESTIMATE_SAMPLES; i++) {
        rc = uh_space_sample(space, &rng, &s[i], err);
        sum += (double)s[i].macs;
    }
    if (!rc) {
        qsort(s, UH_ESTIMATE_SAMPLES, sizeof *s, cmp_macs);
        for (int k = 0; k < UH_ESTIMATE_PROBES; k++)
            probes[k] = s[(2 * k + 1) * UH_ESTIMATE_SAMPLES / (2 * UH_ESTIMATE_PROBES)];
        *mean_macs = sum / UH_ESTIMATE_SAMPLES;
    }
    free(s);
    return rc;
}

/* Trains and evaluates the probes on the (truncated) data; the rates are MAC-weighted:
 * total sample-MACs over total seconds. */
static int time_probes(const uh_search_config_t *cfg, const uh_backend_t *backend,
                       const uh_arch_t probes[UH_ESTIMATE_PROBES], const uh_dataset_t *train,
                       const uh_dataset_t *val, uh_search_estimate_t *e, uh_error_t *err) {
    uh_eval_config_t ec;
    uh_search_eval_config(cfg, &ec);
    ec.train.epochs = 1;
    double macs = 0, train_s = 0, eval_s = 0;
    for (int k = 0; k < UH_ESTIMATE_PROBES; k++) {
        uh_eval_result_t r;
        double t0 = omp_get_wtime();
        int rc = uh_evaluate(backend, &probes[k], train, val, &ec, cfg->seed, &r, NULL, NULL, err);
        if (rc) return rc;
        train_s += r.train_seconds;
        eval_s += omp_get_wtime() - t0 - r.train_seconds;
        macs += (double)probes[k].macs;
    }
    e->train_macs_per_s = macs * train->n / fmax(train_s, 1e-9);
    e->eval_macs_per_s = macs * val->n / fmax(eval_s, 1e-9);
    return UH_OK;
}

int uh_search_estimate(const uh_search_config_t *cfg, const uh_backend_t *backend, int jobs,
                       uh_search_estimate_t *e, uh_error_t *err) {
    *e = (uh_search_estimate_t){0};
    uh_dataset_t *train, *val, *test;
    int rc = uh_search_load_data(cfg, &train, &val, &test, err);
    uh_space_t space;
    uh_arch_t probes[UH_ESTIMATE_PROBES];
    if (!rc) {
        e->n_train = train->n, e->n_val = val->n;
        rc = uh_space_init(&space, backend,
                           (uh_shape_t){train->c, train->h, train->w, train->n_classes}, err);
        space.limits = cfg->limits;
        space.sampler = cfg->sampler;
    }
    if (!rc) rc = draw_probes(&space, cfg->seed, probes, &e->mean_macs, err);
    if (!rc) {
        /* one thread, as every candidate trains in the search */
        int threads = omp_get_max_threads();
        omp_set_num_threads(1);
        uh_dataset_truncate(train, UH_ESTIMATE_PROBE_TRAIN);
        uh_dataset_truncate(val, UH_ESTIMATE_PROBE_VAL);
        rc = time_probes(cfg, backend, probes, train, val, e, err);
        omp_set_num_threads(threads);
    }
    if (!rc) uh_search_estimate_compute(cfg, jobs > 0 ? jobs : search_default_jobs(), e);
    uh_dataset_free(train);
    uh_dataset_free(val);
    uh_dataset_free(test);
    return rc;
}
