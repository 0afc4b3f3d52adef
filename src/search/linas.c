/* linas: one predictor cycle per generation (DyNAS-T's LINAS). Regressors fitted on every
 * measured candidate predict clean and noisy accuracy from uh_space_encode; NSGA-II runs
 * predictor_generations generations on the run's objectives (accuracy and drop predicted,
 * energy, latency and area exact); the best
 * unmeasured members of its final population are trained for real. Predictor quality on
 * those (predicted before, measured after) goes into the generation's state. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search_internal.h"
#include "uhnas/pareto.h"
#include "uhnas/predict.h"

enum { TARGET_CLEAN, TARGET_NOISY, TARGETS };

typedef struct {
    uh_arch_t arch;
    char hash[17];
    double obj[UH_SEARCH_MAX_OBJECTIVES];
    double pred[TARGETS];
} proposal_t;

typedef struct {
    uh_predictor_t *model[TARGETS];
    uh_pred_cv_t cv[TARGETS];
} predictors_t;

static void predictors_free(predictors_t *p) {
    for (int t = 0; t < TARGETS; t++) uh_predictor_free(p->model[t]);
}

static int fit(search_run_t *r, predictors_t *p, uh_error_t *err) {
    int n = 0;
    for (int i = 0; i < r->arc.n_all; i++) n += search_final(&r->arc.all[i]);
    double *X = malloc((size_t)(n + 1) * UH_SPACE_FEATURES * sizeof *X);
    double *y = malloc((size_t)(n + 1) * TARGETS * sizeof *y);
    int rc = !X || !y ? uh_error_set(err, UH_ENOMEM, "out of memory") : UH_OK;
    for (int i = 0, k = 0; !rc && i < r->arc.n_all; i++) {
        const member_t *m = &r->arc.all[i];
        if (!search_final(m)) continue; /* a pruned row's accuracy is a rung's */
        memcpy(X + (size_t)k * UH_SPACE_FEATURES, m->genome, sizeof m->genome);
        y[k] = m->row.accuracy;
        y[n + k] = m->row.noisy_accuracy;
        k++;
    }
    uint64_t seed = r->cfg.seed ^ (0x6c696e6173ull + (uint64_t)r->count.generation);
    for (int t = 0; !rc && t < TARGETS; t++)
        rc = uh_predictor_fit_best(X, y + (size_t)t * n, n, UH_SPACE_FEATURES, 0, seed,
                                   &p->model[t], &p->cv[t], err);
    free(X);
    free(y);
    return rc;
}

/* Fills a proposal's predictions and objectives (the costs are exact). */
static int score(const search_run_t *r, const predictors_t *p, proposal_t *q, uh_error_t *err) {
    double f[UH_SPACE_FEATURES];
    uh_space_encode(&q->arch, f);
    for (int t = 0; t < TARGETS; t++) q->pred[t] = uh_predictor_predict(p->model[t], f);
    uh_energy_t e;
    int rc = uh_backend_energy(r->env.backend, &q->arch, &e, err);
    if (rc) return rc;
    search_goals(r, q->pred[TARGET_CLEAN], q->pred[TARGET_NOISY], e.total_nj, e.latency_ns,
                 e.footprint.area_mm2, q->obj);
    uh_arch_hash(&q->arch, q->hash);
    return UH_OK;
}

static int in_pool(const proposal_t *pool, int n, const char *hash) {
    for (int i = 0; i < n; i++)
        if (strcmp(pool[i].hash, hash) == 0) return 1;
    return 0;
}

/* pool[0..*n) ← its best `want` by (rank, crowding), in that order. */
static int select_pool(const search_run_t *r, proposal_t *pool, int *n, int want,
                       proposal_t *scratch, uh_error_t *err) {
    int k = r->k;
    double *pts = malloc((size_t)(*n + 1) * k * sizeof *pts);
    int *chosen = malloc((size_t)(*n + 1) * sizeof *chosen);
    int rc = !pts || !chosen ? uh_error_set(err, UH_ENOMEM, "out of memory") : UH_OK;
    if (want > *n) want = *n;
    for (int i = 0; !rc && i < *n; i++)
        for (int j = 0; j < k; j++) pts[k * i + j] = pool[i].obj[j];
    if (!rc) rc = uh_nsga2_select(pts, *n, k, want, chosen, err);
    if (!rc) {
        for (int i = 0; i < want; i++) scratch[i] = pool[chosen[i]];
        memcpy(pool, scratch, (size_t)want * sizeof *pool);
        *n = want;
    }
    free(pts);
    free(chosen);
    return rc;
}

/* NSGA-II on the predictors: mutation and crossover from the classic space operators. */
static int predicted_search(search_run_t *r, const predictors_t *p, uh_rng_t *rng, proposal_t *pool,
                            int *n_pool, uh_error_t *err) {
    int P = r->cfg.population > 2 ? r->cfg.population : 2;
    proposal_t *scratch = malloc((size_t)(2 * P + 1) * sizeof *scratch);
    int *rank = malloc((size_t)(2 * P + 1) * sizeof *rank);
    double *crowd = malloc((size_t)(2 * P + 1) * sizeof *crowd);
    int k = r->k;
    double *pts = malloc((size_t)(2 * P + 1) * k * sizeof *pts);
    int rc =
        !scratch || !rank || !crowd || !pts ? uh_error_set(err, UH_ENOMEM, "out of memory") : UH_OK;
    for (int g = 0; !rc && g < r->cfg.predictor_generations; g++) {
        int n = *n_pool;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < k; j++) pts[k * i + j] = pool[i].obj[j];
        if ((rc = uh_nsga2_assign(pts, n, k, rank, crowd, err))) break;
        for (int c = 0; !rc && c < P; c++) {
            int pick[2];
            pick[0] = search_tournament(n, rank, crowd, rng); /* in order: the rng's draws */
            pick[1] = search_tournament(n, rank, crowd, rng);
            proposal_t *q = &pool[*n_pool];
            const char *what;
            if (pick[0] != pick[1] && uh_rng_uniform(rng) < r->cfg.crossover_prob) {
                uh_arch_t crossed;
                rc = uh_space_crossover(&r->env.space, &pool[pick[0]].arch, &pool[pick[1]].arch,
                                        rng, &crossed, err);
                if (!rc) rc = uh_space_mutate(&r->env.space, &crossed, rng, &q->arch, &what, err);
            } else {
                rc = uh_space_mutate(&r->env.space, &pool[pick[0]].arch, rng, &q->arch, &what, err);
            }
            if (!rc) rc = score(r, p, q, err);
            if (!rc && !in_pool(pool, *n_pool, q->hash)) (*n_pool)++;
        }
        if (!rc) rc = select_pool(r, pool, n_pool, P, scratch, err);
    }
    free(scratch);
    free(rank);
    free(crowd);
    free(pts);
    return rc;
}

/* A number for JSON, which has no NaN: an undefined measure (too few points) is null. */
static const char *json_number(char *buf, size_t cap, double v) {
    if (isfinite(v))
        snprintf(buf, cap, "%.6g", v);
    else
        snprintf(buf, cap, "null");
    return buf;
}

static void quality_json(char *buf, size_t cap, const char *name, const uh_pred_cv_t *cv,
                         const double *pred, const double *meas, int n) {
    char mse[32], tau[32], rho[32], mae[32];
    snprintf(buf, cap,
             "\"%s\":{\"model\":\"%s\",\"cv_mse\":%s,\"kendall_tau\":%s,"
             "\"spearman_rho\":%s,\"mae\":%s,\"n\":%d}",
             name, uh_pred_kind_name(cv->chosen.kind),
             json_number(mse, sizeof mse, cv->cv_mse[cv->chosen.kind]),
             json_number(tau, sizeof tau, uh_kendall_tau(pred, meas, n)),
             json_number(rho, sizeof rho, uh_spearman_rho(pred, meas, n)),
             json_number(mae, sizeof mae, n > 0 ? uh_mae(pred, meas, n) : NAN), n);
}

int strategy_linas(search_run_t *r, void *state, uh_rng_t *rng, uh_error_t *err) {
    int C = r->cfg.children, P = r->cfg.population > 2 ? r->cfg.population : 2;
    if (r->arc.n_population == 0) return search_take_samples(r, C, rng, NULL, err);
    predictors_t p = {0};
    proposal_t *pool = malloc((size_t)(2 * P + r->arc.n_population + 1) * sizeof *pool);
    uh_child_t *children = malloc((size_t)C * sizeof *children);
    const member_t **parents = malloc((size_t)(r->arc.n_population + 1) * sizeof *parents);
    int *out = malloc((size_t)C * sizeof *out);
    double *pred = malloc((size_t)(C + 1) * TARGETS * sizeof *pred);
    double *meas = malloc((size_t)(C + 1) * TARGETS * sizeof *meas);
    int rc = !pool || !children || !parents || !out || !pred || !meas
                 ? uh_error_set(err, UH_ENOMEM, "out of memory")
                 : UH_OK;
    if (!rc) rc = fit(r, &p, err);
    int n_pool = 0;
    for (int i = 0; !rc && i < r->arc.n_population; i++) {
        parents[i] = &r->arc.all[r->arc.population[i]];
        pool[n_pool].arch = parents[i]->arch;
        rc = score(r, &p, &pool[n_pool], err);
        if (!rc && !in_pool(pool, n_pool, pool[n_pool].hash)) n_pool++;
    }
    if (!rc) rc = predicted_search(r, &p, rng, pool, &n_pool, err);
    /* the best unmeasured proposals, in selection order; the loop replaces what is missing */
    int n_new = 0;
    for (int i = 0; !rc && i < n_pool && n_new < C; i++) {
        if (search_find(r, pool[i].hash) >= 0) continue;
        uh_child_t *c = &children[n_new];
        memset(c, 0, sizeof *c);
        c->arch = pool[i].arch;
        snprintf(c->origin, sizeof c->origin, "linas");
        for (int t = 0; t < TARGETS; t++) pred[t * C + n_new] = pool[i].pred[t];
        n_new++;
    }
    for (int i = n_new; !rc && i < C; i++) { /* too few: mutations of the population */
        rc = search_mutate(r, parents[i % r->arc.n_population], rng, &children[i], err);
    }
    if (!rc) rc = search_take_children(r, children, C, parents, r->arc.n_population, rng, out, err);
    int n_q = 0; /* predictions of children trained as proposed */
    for (int i = 0; !rc && i < n_new; i++) {
        if (out[i] < 0 || !search_final(&r->arc.all[out[i]]) ||
            strcmp(r->arc.all[out[i]].row.origin, "linas") != 0)
            continue;
        for (int t = 0; t < TARGETS; t++) pred[t * C + n_q] = pred[t * C + i];
        meas[n_q] = r->arc.all[out[i]].row.accuracy;
        meas[C + n_q] = r->arc.all[out[i]].row.noisy_accuracy;
        n_q++;
    }
    if (!rc) {
        char clean[512], noisy[512];
        quality_json(clean, sizeof clean, "clean", &p.cv[TARGET_CLEAN], pred, meas, n_q);
        quality_json(noisy, sizeof noisy, "noisy", &p.cv[TARGET_NOISY], pred + C, meas + C, n_q);
        snprintf(r->count.extra_state, sizeof r->count.extra_state,
                 "{\"linas\":{%s,%s,\"proposed\":%d}}", clean, noisy, n_new);
        rc = search_select_population(r, out, C, err);
    }
    predictors_free(&p);
    free(pool);
    free(children);
    free(parents);
    free(out);
    free(pred);
    free(meas);
    return rc;
}
