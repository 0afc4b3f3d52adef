/* The search loop: data, the archive of candidates, evaluation through the store (reuse on
 * resume, commit at once), generations, metrics and the final front's test evaluation. How
 * determinism gives resume is explained in uhnas/search.h. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search_internal.h"
#include "uhnas/pareto.h"

/* Random streams of a run, one per (generation, purpose), all from the run seed. */
enum { STREAM_GENERATION = 1, STREAM_SPLIT = 2 };

uint64_t uh_search_candidate_seed(uint64_t run_seed, const char *hash) {
    uint64_t h = 14695981039346656037ULL ^ run_seed;
    for (const char *p = hash; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    /* splitmix64 finaliser: nearby run seeds give unrelated candidate seeds */
    h ^= h >> 30, h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27, h *= 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

/* ---- the archive -------------------------------------------------------------------- */

int search_find(const search_run_t *r, const char *hash) {
    for (int i = 0; i < r->n_all; i++)
        if (strcmp(r->all[i].row.hash, hash) == 0) return i;
    return -1;
}

static void member_objectives(const search_run_t *r, member_t *m) {
    const uh_candidate_t *c = &m->row;
    m->ok = c->status == UH_CAND_OK && isfinite(c->accuracy) && isfinite(c->noisy_accuracy) &&
            c->energy_nj > 0;
    if (!m->ok) return;
    double acc = r->cfg.objective == UH_OBJECTIVE_CLEAN ? c->accuracy : c->noisy_accuracy;
    m->obj[0] = 1 - acc;
    m->obj[1] = (log10(c->energy_nj) - r->log_e_lin) / UH_HV_ENERGY_DECADES;
    m->obj[2] = c->accuracy - c->noisy_accuracy;
}

static int append(search_run_t *r, const uh_candidate_t *row, const uh_arch_t *arch,
                  uh_error_t *err) {
    if (r->n_all == r->cap_all) {
        int cap = r->cap_all ? 2 * r->cap_all : 64;
        member_t *m = realloc(r->all, (size_t)cap * sizeof *m);
        if (!m) return uh_error_set(err, UH_ENOMEM, "out of memory");
        r->all = m;
        r->cap_all = cap;
    }
    member_t *m = &r->all[r->n_all++];
    memset(m, 0, sizeof *m);
    m->row = *row;
    m->arch = *arch;
    member_objectives(r, m);
    return UH_OK;
}

/* Whether an ok member with objectives (e, g) would be dominated by the archive so far. */
static int dominated(const search_run_t *r, const double *obj) {
    for (int i = 0; i < r->n_all; i++) {
        const member_t *m = &r->all[i];
        if (m->ok && m->obj[0] <= obj[0] && m->obj[1] <= obj[1] &&
            (m->obj[0] < obj[0] || m->obj[1] < obj[1]))
            return 1;
    }
    return 0;
}

static void report(search_run_t *r, const member_t *last, int reused) {
    if (!r->progress) return;
    uh_search_progress_t p = {r->generation,
                              r->cfg.generations,
                              r->done,
                              r->budget,
                              last ? &last->row : NULL,
                              reused,
                              NAN};
    r->progress(r->progress_ctx, &p);
}

/* Trains and measures arch, then commits its row (and, while it is on the archive's front,
 * its weights: the final front's members all were on the front when they arrived, so their
 * weights are stored for the test evaluation and for export). */
static int evaluate_and_store(search_run_t *r, const uh_arch_t *arch, const char *origin,
                              uh_candidate_t *row, uh_error_t *err) {
    memset(row, 0, sizeof *row);
    row->generation = r->generation;
    snprintf(row->origin, sizeof row->origin, "%s", origin);
    if (uh_arch_canonical(arch, row->arch, sizeof row->arch) < 0)
        return uh_error_set(err, UH_ELIMIT, "canonical architecture too long");
    char hash[17];
    uh_arch_hash(arch, hash);
    memcpy(row->hash, hash, sizeof hash);
    row->seed = uh_search_candidate_seed(r->cfg.seed, hash);
    row->params = arch->params;
    row->macs = arch->macs;
    uh_eval_config_t ec = {
        .train = r->cfg.train, .mc = r->cfg.mc, .noise_aware = r->cfg.noise_aware};
    uh_eval_result_t res;
    float *weights = NULL;
    size_t n_weights = 0;
    uh_error_t eerr = {0};
    if (uh_evaluate(r->backend, arch, r->train, r->val, &ec, row->seed, &res, &weights, &n_weights,
                    &eerr)) {
        if (eerr.code == UH_ENOMEM || eerr.code == UH_EIO) { /* the machine, not the candidate */
            if (err) *err = eerr;
            return eerr.code;
        }
        row->status = UH_CAND_FAILED;
        snprintf(row->message, sizeof row->message, "%s", eerr.msg);
        row->accuracy = row->noisy_accuracy = row->noisy_accuracy_std = NAN;
        row->energy_nj = row->train_seconds = NAN;
    } else {
        row->status = UH_CAND_OK;
        row->accuracy = res.accuracy;
        row->noisy_accuracy = res.noisy_accuracy;
        row->noisy_accuracy_std = res.noisy_std;
        row->energy_nj = res.energy_nj;
        row->train_seconds = res.train_seconds;
    }
    member_t probe = {.row = *row};
    member_objectives(r, &probe);
    int keep_weights = probe.ok && weights && !dominated(r, probe.obj);
    int rc = uh_store_begin(r->store, err);
    if (!rc) rc = uh_store_add_candidate(r->store, row, &row->id, err);
    if (!rc && keep_weights) rc = uh_store_put_weights(r->store, hash, weights, n_weights, err);
    if (!rc) rc = uh_store_commit(r->store, err);
    if (rc) uh_store_rollback(r->store);
    free(weights);
    if (r->summary && !rc) r->summary->trained++;
    return rc;
}

/* Adds one architecture: from the store when it is there (resume), else trained and
 * committed. The caller has checked it is valid and not yet in the archive. */
static int take(search_run_t *r, const uh_arch_t *arch, const char *origin, int *index,
                uh_error_t *err) {
    if (r->stop && *r->stop) return uh_error_set(err, UH_EINTR, "stopped");
    char hash[17];
    uh_arch_hash(arch, hash);
    uh_candidate_t row;
    int found = 0;
    int rc = uh_store_find_hash(r->store, hash, &row, &found, err);
    if (rc) return rc;
    if (!found && (rc = evaluate_and_store(r, arch, origin, &row, err))) return rc;
    if ((rc = append(r, &row, arch, err))) return rc;
    *index = r->n_all - 1;
    r->done++;
    if (found && r->summary) r->summary->reused++;
    report(r, &r->all[*index], found);
    return UH_OK;
}

static int is_new(const search_run_t *r, const uh_arch_t *a) {
    char hash[17];
    uh_arch_hash(a, hash);
    return search_find(r, hash) < 0;
}

/* A new valid architecture near the parents: mutations of random parents, then fresh
 * samples. Duplicates are counted by the caller. */
static int fallback(search_run_t *r, const member_t *const *parents, int n_parents, uh_rng_t *rng,
                    uh_arch_t *out, const char **origin, uh_error_t *err) {
    for (int t = 0; t < UH_SEARCH_MAX_DUPLICATE_TRIES; t++) {
        const char *what;
        int rc;
        if (n_parents > 0 && t < UH_SEARCH_MAX_DUPLICATE_TRIES / 2) {
            const member_t *p = parents[uh_rng_below(rng, (uint64_t)n_parents)];
            rc = uh_space_mutate(&r->space, &p->arch, rng, out, &what, err);
            *origin = "fallback-mutate";
        } else {
            rc = uh_space_sample(&r->space, rng, out, err);
            *origin = "fallback-sample";
        }
        if (rc) return rc;
        if (is_new(r, out)) return UH_OK;
    }
    *origin = NULL; /* the space around here is exhausted */
    return UH_OK;
}

int search_take_children(search_run_t *r, uh_child_t *children, int n,
                         const member_t *const *parents, int n_parents, uh_rng_t *rng, int *out,
                         uh_error_t *err) {
    for (int i = 0; i < n; i++) {
        uh_arch_t *a = &children[i].arch;
        const char *origin = children[i].origin;
        int valid = uh_space_valid(&r->space, a);
        int fresh = valid && is_new(r, a);
        if (!valid)
            r->invalid++;
        else if (!fresh)
            r->duplicates++;
        if (!fresh) {
            r->fallbacks++;
            uh_arch_t alt;
            int rc = fallback(r, parents, n_parents, rng, &alt, &origin, err);
            if (rc) return rc;
            if (!origin) { /* nothing new to be had: the slot is spent on the duplicate */
                char hash[17];
                uh_arch_hash(a, hash);
                out[i] = valid ? search_find(r, hash) : -1;
                r->done++;
                continue;
            }
            *a = alt;
        }
        int rc = take(r, a, origin, &out[i], err);
        if (rc) return rc;
    }
    return UH_OK;
}

int search_take_samples(search_run_t *r, int n, uh_rng_t *rng, int *out, uh_error_t *err) {
    for (int i = 0; i < n; i++) {
        uh_child_t c = {0};
        int rc = uh_space_sample(&r->space, rng, &c.arch, err);
        if (rc) return rc;
        snprintf(c.origin, sizeof c.origin, "sample");
        int index;
        if ((rc = search_take_children(r, &c, 1, NULL, 0, rng, &index, err))) return rc;
        if (out) out[i] = index;
    }
    return UH_OK;
}

/* ---- metrics ------------------------------------------------------------------------ */

typedef struct {
    double hv2, hv3, diversity;
    int front_size, ok;
} metrics_t;

/* Indices of the archive's ok members; caller frees. */
static int ok_members(const search_run_t *r, int **idx, int *n, uh_error_t *err) {
    *idx = malloc((size_t)(r->n_all + 1) * sizeof **idx);
    if (!*idx) return uh_error_set(err, UH_ENOMEM, "out of memory");
    *n = 0;
    for (int i = 0; i < r->n_all; i++)
        if (r->all[i].ok) (*idx)[(*n)++] = i;
    return UH_OK;
}

static double pair_distance(void *ctx, int i, int j) {
    const double *f = ctx;
    return uh_space_distance(f + (size_t)i * UH_SPACE_FEATURES, f + (size_t)j * UH_SPACE_FEATURES);
}

/* Points of members idx[0..n) with k objectives, clipped to the reference box for k = 3's
 * drop (a negative drop is noise: it counts as none). */
static double *points(const search_run_t *r, const int *idx, int n, int k) {
    double *p = malloc((size_t)(n + 1) * k * sizeof *p);
    if (!p) return NULL;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < k; j++) {
            double v = r->all[idx[i]].obj[j];
            p[i * k + j] = j == 2 && v < 0 ? 0 : v;
        }
    return p;
}

/* The archive's 2-D front as member indices (caller frees). */
static int archive_front(const search_run_t *r, int **front, int *n_front, uh_error_t *err) {
    int *idx, n, rc = ok_members(r, &idx, &n, err);
    if (rc) return rc;
    double *p = points(r, idx, n, 2);
    int *rank = malloc((size_t)(n + 1) * sizeof *rank);
    if (!p || !rank) rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    if (!rc && n > 0) rc = uh_pareto_sort(p, n, 2, rank, err);
    *n_front = 0;
    for (int i = 0; !rc && i < n; i++)
        if (rank[i] == 0) idx[(*n_front)++] = idx[i];
    free(p);
    free(rank);
    if (rc) {
        free(idx);
        return rc;
    }
    *front = idx;
    return UH_OK;
}

static int compute_metrics(const search_run_t *r, metrics_t *m, uh_error_t *err) {
    memset(m, 0, sizeof *m);
    int *idx, n, rc = ok_members(r, &idx, &n, err);
    if (rc) return rc;
    m->ok = n;
    static const double ref[3] = {1, 1, 1};
    double *p2 = points(r, idx, n, 2), *p3 = points(r, idx, n, 3);
    if (!p2 || !p3) rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    if (!rc && n > 0) rc = uh_hypervolume(p2, n, 2, ref, &m->hv2, err);
    if (!rc && n > 0) rc = uh_hypervolume(p3, n, 3, ref, &m->hv3, err);
    free(p2);
    free(p3);
    free(idx);
    int *front = NULL, nf = 0;
    if (!rc) rc = archive_front(r, &front, &nf, err);
    double *f = rc ? NULL : malloc((size_t)(nf + 1) * UH_SPACE_FEATURES * sizeof *f);
    if (!rc && !f) rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    if (!rc) {
        for (int i = 0; i < nf; i++)
            uh_space_encode(&r->all[front[i]].arch, f + (size_t)i * UH_SPACE_FEATURES);
        m->front_size = nf;
        m->diversity = uh_mean_pairwise(nf, pair_distance, f);
    }
    free(f);
    free(front);
    return rc;
}

static int end_generation(search_run_t *r, uh_error_t *err) {
    metrics_t m;
    int rc = compute_metrics(r, &m, err);
    if (rc) return rc;
    cJSON *s = cJSON_CreateObject();
    cJSON *pop = cJSON_AddArrayToObject(s, "population");
    for (int i = 0; i < r->n_population; i++)
        cJSON_AddItemToArray(pop, cJSON_CreateNumber((double)r->all[r->population[i]].row.id));
    cJSON_AddNumberToObject(s, "hypervolume3", m.hv3);
    cJSON_AddNumberToObject(s, "candidates_ok", m.ok);
    cJSON_AddNumberToObject(s, "duplicates", r->duplicates);
    cJSON_AddNumberToObject(s, "invalid", r->invalid);
    cJSON_AddNumberToObject(s, "fallbacks", r->fallbacks);
    if (r->extra_state[0]) {
        cJSON *extra = cJSON_Parse(r->extra_state);
        if (extra) cJSON_AddItemToObject(s, "strategy", extra);
    }
    char *text = cJSON_PrintUnformatted(s);
    cJSON_Delete(s);
    if (!text) return uh_error_set(err, UH_ENOMEM, "out of memory");
    uh_gen_metrics_t gm = {m.hv2, m.diversity, m.front_size};
    rc = uh_store_put_generation(r->store, r->generation, text, &gm, err);
    free(text);
    r->duplicates = r->fallbacks = r->invalid = 0;
    r->extra_state[0] = '\0';
    if (r->summary) {
        r->summary->hypervolume = m.hv2;
        r->summary->hypervolume3 = m.hv3;
        r->summary->front_size = m.front_size;
        r->summary->candidates = m.ok;
    }
    if (!rc && r->progress) {
        uh_search_progress_t p = {r->generation, r->cfg.generations, r->done, r->budget, NULL, 0,
                                  m.hv2};
        r->progress(r->progress_ctx, &p);
    }
    return rc;
}

/* ---- the final front on the test set -------------------------------------------------- */

static int test_member(search_run_t *r, const member_t *m, uh_error_t *err) {
    uh_test_result_t tr;
    uh_error_t nf = {0};
    if (uh_store_get_test_result(r->store, m->row.hash, &tr, &nf) == UH_OK) return UH_OK;
    float *w = NULL;
    size_t n = 0;
    int rc = uh_store_get_weights(r->store, m->row.hash, &w, &n, err);
    if (rc) return rc;
    uh_net_t *net = uh_net_new(&m->arch, r->cfg.train.batch, m->row.seed, err);
    if (!net)
        rc = err ? err->code : UH_ENOMEM;
    else if (n != uh_net_n_params(net))
        rc = uh_error_set(err, UH_EFORMAT, "stored weights of %s: %zu values, the network has %zu",
                          m->row.hash, n, uh_net_n_params(net));
    uh_mc_result_t mc;
    if (!rc) {
        memcpy(uh_net_params(net), w, n * sizeof *w);
        rc = uh_backend_evaluate(r->backend, net, r->test, r->cfg.mc, m->row.seed ^ 0x74657374ull,
                                 &mc, err);
    }
    if (!rc) {
        tr = (uh_test_result_t){mc.clean_accuracy, mc.noisy_accuracy, mc.noisy_std, r->cfg.mc};
        rc = uh_store_put_test_result(r->store, m->row.hash, &tr, err);
    }
    uh_net_free(net);
    free(w);
    return rc;
}

static int test_front(search_run_t *r, uh_error_t *err) {
    int *front, n, rc = archive_front(r, &front, &n, err);
    for (int i = 0; !rc && i < n; i++) rc = test_member(r, &r->all[front[i]], err);
    free(front);
    return rc;
}

/* ---- set-up and the loop ------------------------------------------------------------ */

static int load_data(search_run_t *r, uh_error_t *err) {
    uh_data_opts_t o = {.data_dir = r->cfg.data_dir[0] ? r->cfg.data_dir : NULL,
                        .limit_train = r->cfg.limit_train,
                        .limit_test = r->cfg.limit_test};
    uh_dataset_t *full = NULL;
    int rc = uh_dataset_load(r->cfg.dataset, &o, &full, &r->test, err);
    if (!rc)
        rc = uh_dataset_split(full, r->cfg.val_fraction, r->cfg.seed ^ STREAM_SPLIT, &r->train,
                              &r->val, err);
    uh_dataset_free(full);
    return rc;
}

static int energy_scale(search_run_t *r, uh_error_t *err) {
    uh_shape_t in = {r->train->c, r->train->h, r->train->w, r->train->n_classes};
    uh_arch_t lin = {0};
    lin.n_layers = 1;
    lin.layers[0].type = UH_LAYER_DENSE;
    lin.layers[0].units = in.n_classes;
    uh_energy_t e;
    int rc = uh_arch_resolve(&lin, in, err);
    if (!rc) rc = uh_backend_energy(r->backend, &lin, &e, err);
    if (!rc && !(e.total_nj > 0))
        rc = uh_error_set(err, UH_EINVAL, "backend %s gives no energy for a linear classifier",
                          uh_backend_name(r->backend));
    if (!rc) r->log_e_lin = log10(e.total_nj);
    return rc;
}

static int run_loop(search_run_t *r, uh_error_t *err) {
    typedef int (*strategy_fn)(search_run_t *, uh_rng_t *, uh_error_t *);
    static const strategy_fn STRATEGY[UH_STRATEGY_COUNT] = {strategy_nsga2, strategy_random,
                                                            strategy_evolution, strategy_linas};
    uh_rng_t rng;
    uh_rng_seed_stream(&rng, r->cfg.seed, STREAM_GENERATION);
    r->population = malloc((size_t)(r->cfg.population + r->cfg.children + 1) * sizeof(int));
    if (!r->population) return uh_error_set(err, UH_ENOMEM, "out of memory");
    int rc = search_take_samples(r, r->cfg.population, &rng, r->population, err);
    r->n_population = 0;
    for (int i = 0; !rc && i < r->cfg.population; i++) /* failed candidates never breed */
        if (r->population[i] >= 0 && r->all[r->population[i]].ok)
            r->population[r->n_population++] = r->population[i];
    if (!rc) rc = end_generation(r, err);
    for (int g = 1; !rc && g <= r->cfg.generations; g++) {
        r->generation = g;
        uh_rng_seed_stream(&rng, r->cfg.seed, (uint64_t)STREAM_GENERATION + 16 * (uint64_t)g);
        rc = STRATEGY[r->cfg.strategy](r, &rng, err);
        if (!rc) rc = end_generation(r, err);
    }
    if (!rc) rc = test_front(r, err);
    return rc;
}

int uh_search_run(uh_store_t *store, const uh_operator_t *op, uh_search_progress_fn progress,
                  void *progress_ctx, volatile int *stop, uh_search_summary_t *summary,
                  uh_error_t *err) {
    search_run_t r = {.store = store,
                      .op = op ? op : &uh_operator_classic,
                      .progress = progress,
                      .progress_ctx = progress_ctx,
                      .stop = stop,
                      .summary = summary};
    if (summary) memset(summary, 0, sizeof *summary);
    int rc = uh_search_config_parse(uh_store_config(store), &r.cfg, &r.backend, err);
    if (rc) return rc;
    r.budget = r.cfg.population + r.cfg.generations * r.cfg.children;
    if (!(rc = load_data(&r, err)) && !(rc = energy_scale(&r, err))) {
        uh_shape_t in = {r.train->c, r.train->h, r.train->w, r.train->n_classes};
        rc = uh_space_init(&r.space, r.backend, in, err);
    }
    if (!rc) rc = run_loop(&r, err);
    free(r.population);
    free(r.all);
    uh_dataset_free(r.train);
    uh_dataset_free(r.val);
    uh_dataset_free(r.test);
    uh_backend_free(r.backend);
    return rc;
}
