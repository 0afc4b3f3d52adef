/* Reading a run for reports: the store's config, rows, test results and generations. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uhnas/llm.h"
#include "uhnas/lm.h"
#include "uhnas/pareto.h"
#include "uhnas/report.h"
#include "uhnas/search.h"

void uh_run_free(uh_run_data_t *r) {
    if (!r) return;
    free(r->config);
    uh_store_free_candidates(r->rows);
    free(r->on_front);
    free(r->test);
    free(r->has_test);
    for (size_t i = 0; r->energy && i < r->n_rows; i++) free(r->energy[i]);
    free(r->energy);
    for (int g = 0; g < r->n_gens; g++) free(r->gens[g].heuristics), free(r->gens[g].counts);
    free(r->gens);
    free(r->workers);
    free(r->hv_by_eval);
    free(r->hv_deployed_by_eval);
    free(r);
}

double uh_run_accuracy(const uh_run_data_t *r, const uh_candidate_t *c) {
    return strcmp(r->objective, "clean") == 0 ? c->accuracy : c->noisy_accuracy;
}

/* The fewest significant digits that read back as v (0.5 as "0.5", and shares that differ
 * only in their 7th digit apart, which %g would merge into one label). */
static const char *shortest(double v, char buf[32]) {
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, 32, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) break;
    }
    return buf;
}

/* Appends to the run's strategy label (cut at its size). */
static void label_append(uh_run_data_t *r, const char *fmt, ...) {
    size_t n = strlen(r->strategy);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->strategy + n, sizeof r->strategy - n, fmt, ap);
    va_end(ap);
}

/* The config's facts a report shows and compare checks, from the stored config as parsed
 * (as strictly as `resume` reads it: a config the search would refuse is refused here too). */
static int read_config(uh_run_data_t *r, const uh_search_config_t *cfg, const uh_backend_t *b,
                       uh_error_t *err) {
    int rc;
    snprintf(r->backend, sizeof r->backend, "%s", uh_backend_name(b));
    const char *program = uh_backend_program_format(b);
    snprintf(r->program_format, sizeof r->program_format, "%s", program ? program : "");
    snprintf(r->strategy, sizeof r->strategy, "%s", uh_strategy_name(cfg->strategy));
    /* a language-model run is labelled with its system prompt: the paper's ablation compares
     * runs that differ only in it */
    cJSON *op = cfg->operator_config[0] ? cJSON_Parse(cfg->operator_config) : NULL;
    int remote = cJSON_HasObjectItem(op, "llm"), builtin = cJSON_HasObjectItem(op, "builtin");
    cJSON_Delete(op);
    if (remote) {
        uh_llm_config_t llm;
        if ((rc = uh_llm_config_parse(cfg->operator_config, &llm, err))) return rc;
        label_append(r, "/%s", uh_llm_system_name(llm.op.system));
    }
    if (builtin) { /* and the built-in model's settings that change what it proposes, each only
                    * when not the default: no hardware tokens (the ablation; not "/none",
                    * which a remote model's run without a system prompt is labelled), a prior,
                    * the targets rule, a share of classic children, two parents, edits */
        uh_lm_config_t lm;
        char share[32];
        if ((rc = uh_lm_config_parse(cfg->operator_config, &lm, err))) return rc;
        if (!lm.hardware_tokens) label_append(r, "/nohardware");
        if (lm.start[0] || lm.n_prior) label_append(r, "/prior");
        if (lm.targets) label_append(r, "/%s", uh_lm_target_names[lm.targets]);
        if (lm.classic > 0) label_append(r, "/classic%s", shortest(lm.classic, share));
        if (lm.parents > 1) label_append(r, "/parents%d", lm.parents);
        if (lm.language) label_append(r, "/%s", uh_lm_language_names[lm.language]);
    }
    if (cfg->async) label_append(r, "-async"); /* another algorithm than the generational one */
    snprintf(r->objective, sizeof r->objective, "%s", uh_objective_name(cfg->objective));
    /* the budget */
    r->population = cfg->population;
    r->children = cfg->children;
    r->generations = cfg->generations;
    r->async = cfg->async;
    r->mc = cfg->mc;
    r->epochs = cfg->train.epochs;
    /* the data, and the seed of every random draw */
    snprintf(r->dataset, sizeof r->dataset, "%s", cfg->dataset);
    r->limit_train = cfg->limit_train;
    r->limit_test = cfg->limit_test;
    r->val_fraction = cfg->val_fraction;
    r->seed = cfg->seed;
    return UH_OK;
}

/* The operator's counts (its state's first object member, whichever operator it was) and
 * knowledge base of one generation's state, when present. */
static void read_state(uh_run_gen_t *g, const char *state) {
    cJSON *o = cJSON_Parse(state);
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(o, "operator"), *counts = NULL, *c;
    const cJSON *cached = cJSON_GetObjectItemCaseSensitive(o, "cached");
    if (cJSON_IsNumber(cached) && cached->valuedouble >= 0 && cached->valuedouble <= INT_MAX)
        g->cached = (int)cached->valuedouble;
    for (const cJSON *m = cJSON_IsObject(op) ? op->child : NULL; m && !counts; m = m->next)
        if (cJSON_IsObject(m)) counts = m;
    if (counts) {
        snprintf(g->operator_name, sizeof g->operator_name, "%s", counts->string);
        g->counts = malloc(((size_t)cJSON_GetArraySize(counts) + 1) * sizeof *g->counts);
    }
    if (!g->counts) counts = NULL; /* out of memory: no counts shown */
    cJSON_ArrayForEach(c, counts) {
        if (!cJSON_IsNumber(c)) continue;
        uh_run_count_t *k = &g->counts[g->n_counts++];
        snprintf(k->name, sizeof k->name, "%s", c->string);
        k->value = c->valuedouble;
    }
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(op, "heuristics"), *item;
    size_t len = 0;
    if (!cJSON_IsArray(h)) h = NULL;
    cJSON_ArrayForEach(item, h) if (cJSON_IsString(item)) len += strlen(item->valuestring) + 1;
    if (len && (g->heuristics = malloc(len + 1))) {
        g->heuristics[0] = '\0';
        cJSON_ArrayForEach(item, h) if (cJSON_IsString(item)) {
            strcat(g->heuristics, item->valuestring);
            strcat(g->heuristics, "\n");
        }
    }
    cJSON_Delete(o);
}

/* The MPI workers of a state that has them (uh_mpi's "workers": wall_s, coordination_s and
 * per rank candidates, busy_s, idle_s), replacing those of earlier states. */
static void read_workers(uh_run_data_t *r, const char *state) {
    cJSON *o = cJSON_Parse(state);
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(o, "workers");
    const cJSON *ranks = cJSON_GetObjectItemCaseSensitive(w, "ranks"), *x;
    const cJSON *wall = cJSON_GetObjectItemCaseSensitive(w, "wall_s");
    const cJSON *coord = cJSON_GetObjectItemCaseSensitive(w, "coordination_s");
    int n = cJSON_IsArray(ranks) ? cJSON_GetArraySize(ranks) : 0;
    uh_run_worker_t *list = n > 0 && cJSON_IsNumber(wall) && cJSON_IsNumber(coord)
                                ? calloc((size_t)n, sizeof *list)
                                : NULL;
    int k = 0;
    const cJSON *each = list ? ranks : NULL;
    cJSON_ArrayForEach(x, each) {
        const cJSON *rank = cJSON_GetObjectItemCaseSensitive(x, "rank");
        const cJSON *cands = cJSON_GetObjectItemCaseSensitive(x, "candidates");
        const cJSON *busy = cJSON_GetObjectItemCaseSensitive(x, "busy_s");
        const cJSON *idle = cJSON_GetObjectItemCaseSensitive(x, "idle_s");
        if (!cJSON_IsNumber(rank) || !cJSON_IsNumber(cands) || !cJSON_IsNumber(busy) ||
            !cJSON_IsNumber(idle) || !(cands->valuedouble >= 0 && cands->valuedouble < 1e15))
            continue; /* a damaged entry is left out */
        list[k++] = (uh_run_worker_t){rank->valueint, (long)cands->valuedouble, busy->valuedouble,
                                      idle->valuedouble};
    }
    if (k > 0) {
        free(r->workers);
        r->workers = list;
        r->n_workers = k;
        r->workers_wall_s = wall->valuedouble;
        r->coordination_s = coord->valuedouble;
    } else {
        free(list);
    }
    cJSON_Delete(o);
}

static int read_generations(uh_run_data_t *r, uh_store_t *s, uh_error_t *err) {
    int last;
    int rc = uh_store_latest_generation(s, &last, err);
    if (rc) return rc;
    r->gens = calloc((size_t)last + 2, sizeof *r->gens);
    if (!r->gens) return uh_error_set(err, UH_ENOMEM, "out of memory");
    for (int g = 0; g <= last; g++) {
        char *state;
        uh_gen_metrics_t m;
        rc = uh_store_get_generation(s, g, &state, &m, err);
        if (rc == UH_ENOTFOUND) continue; /* a gap (a run stopped mid-way): skip */
        if (rc) return rc;
        uh_run_gen_t *x = &r->gens[r->n_gens++];
        x->generation = g;
        x->hypervolume = m.hypervolume;
        x->diversity = m.diversity;
        x->front_size = m.front_size;
        read_state(x, state);
        read_workers(r, state);
        free(state);
    }
    return UH_OK;
}

/* The hypervolume after each evaluation (rows in commit order, those refused before training
 * skipped), of all the rows and of the front handed over: every one up to UH_REPORT_HV_POINTS
 * evaluations, then at as many evenly spaced counts, each value held until the next (a run's
 * curve stays cheap to draw at any size). */
static int hv_by_evaluations(uh_run_data_t *r, const uh_search_config_t *cfg, const double zero[3],
                             uh_error_t *err) {
    int n = 0;
    for (size_t i = 0; i < r->n_rows; i++) n += r->rows[i].status != UH_CAND_INVALID;
    r->hv_by_eval = calloc((size_t)n + 1, sizeof *r->hv_by_eval);
    r->hv_deployed_by_eval = calloc((size_t)n + 1, sizeof *r->hv_deployed_by_eval);
    if (!r->hv_by_eval || !r->hv_deployed_by_eval)
        return uh_error_set(err, UH_ENOMEM, "out of memory");
    r->n_evals = n;
    int step = n > UH_REPORT_HV_POINTS ? (n + UH_REPORT_HV_POINTS - 1) / UH_REPORT_HV_POINTS : 1;
    double hv = 0, deployed = 0;
    int e = 0, rc = UH_OK;
    for (size_t i = 0; !rc && i < r->n_rows; i++) {
        if (r->rows[i].status == UH_CAND_INVALID) continue;
        e++;
        if (e % step == 0 || e == n) {
            rc = uh_search_rows_hypervolume(cfg, zero, r->n_classes, r->rows, i + 1, INT_MAX, &hv,
                                            err);
            deployed = hv;
            if (!rc && cfg->objective != UH_OBJECTIVE_NOISY)
                rc = uh_search_rows_deployed_hypervolume(cfg, zero, r->n_classes, r->rows, i + 1,
                                                         INT_MAX, &deployed, err);
        }
        r->hv_by_eval[e] = hv;
        r->hv_deployed_by_eval[e] = deployed;
    }
    return rc;
}

/* Every generation's hypervolume with today's rule (uhnas/search.h, Hypervolume reference),
 * from the rows: a run stored with the legacy rule is measured like any other. The scales'
 * zeros come from the stored backend and the task's shape, as the search computed them. */
static int rescore(uh_run_data_t *r, const uh_search_config_t *cfg, const uh_backend_t *b,
                   uh_error_t *err) {
    uh_shape_t in;
    double zero[3];
    int rc = uh_dataset_shape(cfg->dataset, &in.c, &in.h, &in.w, &in.n_classes, err);
    if (!rc) rc = uh_search_cost_zero(b, in, zero, err);
    if (!rc) r->n_classes = in.n_classes, r->input = in, r->energy_zero = zero[0];
    for (int g = 0; !rc && g < r->n_gens; g++)
        rc = uh_search_rows_hypervolume(cfg, zero, in.n_classes, r->rows, r->n_rows,
                                        r->gens[g].generation, &r->gens[g].hypervolume, err);
    return rc ? rc : hv_by_evaluations(r, cfg, zero, err);
}

/* The 2-D front (objective error, log energy) of the ok rows above chance. */
static int mark_front(uh_run_data_t *r, uh_error_t *err) {
    size_t n = r->n_rows;
    double *p = malloc((n + 1) * 2 * sizeof *p);
    int *idx = malloc((n + 1) * sizeof *idx), *rank = malloc((n + 1) * sizeof *rank), m = 0;
    int rc = p && idx && rank ? UH_OK : uh_error_set(err, UH_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        const uh_candidate_t *c = &r->rows[i];
        double acc = uh_run_accuracy(r, c);
        if (c->status != UH_CAND_OK || !isfinite(acc) || !(c->energy_nj > 0) ||
            1 - acc >= 1 - 1.0 / r->n_classes) /* at chance, as the search decides */
            continue;
        p[2 * m] = 1 - acc;
        p[2 * m + 1] = log10(c->energy_nj);
        idx[m++] = (int)i;
    }
    if (!rc && m > 0) rc = uh_pareto_sort(p, m, 2, rank, err);
    for (int k = 0; !rc && k < m; k++) r->on_front[idx[k]] = rank[k] == 0;
    free(p);
    free(idx);
    free(rank);
    return rc;
}

/* The energy breakdown of every front row, from the stored backend (what a deployment
 * decision reads: where the energy goes). */
static int front_energy(uh_run_data_t *r, const uh_search_config_t *cfg, const uh_backend_t *b,
                        uh_error_t *err) {
    uh_shape_t in;
    int rc = uh_dataset_shape(cfg->dataset, &in.c, &in.h, &in.w, &in.n_classes, err);
    if (!rc && !(r->energy = calloc(r->n_rows + 1, sizeof *r->energy)))
        rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < r->n_rows; i++) {
        if (!r->on_front[i]) continue;
        uh_arch_t arch;
        uh_error_t ignored = {0}; /* a row the backend cannot cost shows no breakdown */
        if (uh_arch_parse(r->rows[i].arch, strlen(r->rows[i].arch), in, &arch, &ignored)) continue;
        if (!(r->energy[i] = malloc(sizeof *r->energy[i])))
            rc = uh_error_set(err, UH_ENOMEM, "out of memory");
        else if (uh_backend_energy(b, &arch, r->energy[i], &ignored))
            free(r->energy[i]), r->energy[i] = NULL;
    }
    return rc;
}

int uh_run_load(const char *dir, uh_run_data_t **out, uh_error_t *err) {
    *out = NULL;
    uh_store_t *s;
    int rc = uh_store_open_readonly(dir, &s, err);
    if (rc) return rc;
    uh_run_data_t *r = calloc(1, sizeof *r);
    uh_search_config_t cfg;
    uh_backend_t *b = NULL;
    if (!r || !(r->config = strdup(uh_store_config(s))))
        rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    if (!rc) {
        snprintf(r->dir, sizeof r->dir, "%s", dir);
        rc = uh_search_config_parse(r->config, &cfg, &b, err);
        if (!rc) rc = read_config(r, &cfg, b, err);
        if (!rc) rc = uh_store_candidates(s, &r->rows, &r->n_rows, err);
    }
    if (!rc) {
        r->on_front = calloc(r->n_rows + 1, sizeof *r->on_front);
        r->has_test = calloc(r->n_rows + 1, sizeof *r->has_test);
        r->test = calloc(r->n_rows + 1, sizeof *r->test);
        if (!r->on_front || !r->has_test || !r->test)
            rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    }
    for (size_t i = 0; !rc && i < r->n_rows; i++) { /* absent: not on the final front */
        rc = uh_store_get_test_result(s, r->rows[i].hash, &r->test[i], err);
        r->has_test[i] = rc == UH_OK;
        if (rc == UH_ENOTFOUND) rc = UH_OK;
    }
    if (!rc) rc = read_generations(r, s, err);
    if (!rc) rc = rescore(r, &cfg, b, err);
    if (!rc) rc = mark_front(r, err);
    if (!rc) rc = front_energy(r, &cfg, b, err);
    uh_backend_free(b);
    uh_store_close(s);
    if (rc) {
        uh_run_free(r);
        return rc;
    }
    *out = r;
    return UH_OK;
}
