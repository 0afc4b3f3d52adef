/* The search loop: data, the archive of candidates, evaluation through the store (reuse on
 * resume, commit at once), generations, metrics and the final front's test evaluation. How
 * determinism gives resume is explained in uhnas/search.h. */
#include <cjson/cJSON.h>
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uhnas/hash.h"
#include "uhnas/nn.h"
#include "search_internal.h"
#include "uhnas/pareto.h"
#include "uhnas/threads.h"

/* Random streams of a run, one per (generation, purpose), all from the run seed. */
enum { STREAM_GENERATION = 1, STREAM_SPLIT = 2 };

/* FNV-1a of text after h */
static uint64_t fnv1a(uint64_t h, const char *text) {
    return uh_fnv1a(h, text, strlen(text));
}

uint64_t uh_search_candidate_seed(uint64_t base, const char *hash) {
    uint64_t h = fnv1a(UH_FNV1A_BASIS ^ base, hash);
    /* splitmix64 finaliser: nearby bases give unrelated candidate seeds */
    h ^= h >> 30, h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27, h *= 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

/* The evaluation settings of uh_search_eval_digest as text. */
static void eval_text(const uh_search_config_t *cfg, char *out, size_t cap) {
    const uh_train_opts_t *t = &cfg->train;
    /* floats as %a: exact, and the same on every machine */
    snprintf(out, cap,
             "optimizer %d lr %a momentum %a beta1 %a beta2 %a eps %a decay %a batch %d "
             "epochs %d mc %d noise_aware %d data %s limit %d val %a\n",
             (int)t->optimizer, (double)t->lr, (double)t->momentum, (double)t->beta1,
             (double)t->beta2, (double)t->eps, (double)t->weight_decay, t->batch, t->epochs,
             cfg->mc, cfg->noise_aware, cfg->dataset, cfg->limit_train, cfg->val_fraction);
}

uint64_t uh_search_eval_digest(const uh_search_config_t *cfg, const uh_backend_t *backend) {
    char text[512];
    eval_text(cfg, text, sizeof text);
    return fnv1a(fnv1a(UH_FNV1A_BASIS, text), uh_backend_text(backend));
}

/* FNV-1a of a dataset's shape, pixels and labels after h. */
static uint64_t data_digest(const uh_dataset_t *ds, uint64_t h) {
    char shape[64];
    snprintf(shape, sizeof shape, "%d %d %d %d %d\n", ds->n, ds->c, ds->h, ds->w, ds->n_classes);
    h = fnv1a(h, shape);
    const unsigned char *x = (const unsigned char *)ds->x;
    const size_t bytes = (size_t)ds->n * ds->c * ds->h * ds->w * sizeof *ds->x;
    h = uh_fnv1a(h, x, bytes);
    for (int i = 0; i < ds->n; i++) h = (h ^ ds->y[i]) * UH_FNV1A_PRIME;
    return h;
}

uint64_t uh_search_seed_base(const uh_search_config_t *cfg, const uh_backend_t *backend) {
    return cfg->seeding == UH_SEED_EVALUATION ? uh_search_eval_digest(cfg, backend) : cfg->seed;
}

uint64_t uh_search_split_seed(const uh_search_config_t *cfg) {
    return cfg->seeding == UH_SEED_EVALUATION ? UH_SEARCH_EVAL_SPLIT_SEED
                                              : cfg->seed ^ STREAM_SPLIT;
}

/* ---- the archive -------------------------------------------------------------------- */

uint64_t search_stream(int g) {
    return g == 0 ? STREAM_GENERATION : (uint64_t)STREAM_GENERATION + 16 * (uint64_t)g;
}

int search_find(const search_run_t *r, const char *hash) {
    for (int i = 0; i < r->arc.n_all; i++)
        if (strcmp(r->arc.all[i].row.hash, hash) == 0) return i;
    return -1;
}

void search_novelty_key(const uh_arch_t *a, novelty_key_t *key) {
    uh_arch_hash(a, key->hash);
    uh_space_encode(a, key->genome);
}

novelty_t search_novelty(const search_run_t *r, const novelty_key_t *a,
                         const novelty_key_t *const *others, int n_others) {
    if (search_find(r, a->hash) >= 0) return NOVEL_NOT;
    for (int j = 0; j < n_others; j++)
        if (strcmp(a->hash, others[j]->hash) == 0) return NOVEL_NOT;
    if (!(r->cfg.min_distance > 0)) return NOVEL;
    for (int i = 0; i < r->arc.n_all; i++)
        if (uh_space_distance(a->genome, r->arc.all[i].genome) < r->cfg.min_distance)
            return NOVEL_NEAR;
    for (int j = 0; j < n_others; j++)
        if (uh_space_distance(a->genome, others[j]->genome) < r->cfg.min_distance)
            return NOVEL_NEAR;
    return NOVEL;
}

/* A cost on a log10 scale from its zero; 0 when the backend does not model it. */
static double cost_scale(double x, double zero, double decades) {
    if (!(x > 0) || !isfinite(zero)) return 0;
    return (log10(x) - zero) / decades;
}

double uh_search_energy_scaled(double energy_zero, double energy_nj) {
    return (log10(energy_nj) - energy_zero) / UH_HV_ENERGY_DECADES;
}

double uh_search_goal_value(uh_goal_t g, uh_objective_t objective, const double zero[3],
                            double accuracy, double noisy_accuracy, double energy_nj,
                            double latency_ns, double area_mm2) {
    switch (g) {
    case UH_GOAL_ERROR:
        return 1 - (objective == UH_OBJECTIVE_CLEAN ? accuracy : noisy_accuracy);
    case UH_GOAL_ENERGY: /* energy is always modelled: a candidate without it is not ok */
        return uh_search_energy_scaled(zero[0], energy_nj);
    case UH_GOAL_LATENCY:
        return cost_scale(latency_ns, zero[1], UH_HV_LATENCY_DECADES);
    case UH_GOAL_AREA:
        return cost_scale(area_mm2, zero[2], UH_HV_AREA_DECADES);
    case UH_GOAL_DROP: {
        double d = accuracy - noisy_accuracy;
        return d < 0 ? 0 : d; /* a negative drop is noise: none */
    }
    default:
        return NAN;
    }
}

void search_goals(const search_run_t *r, double accuracy, double noisy_accuracy, double energy_nj,
                  double latency_ns, double area_mm2, double *obj) {
    for (int j = 0; j < r->k; j++)
        obj[j] = uh_search_goal_value(r->cfg.goals[j], r->cfg.objective, r->env.zero, accuracy,
                                      noisy_accuracy, energy_nj, latency_ns, area_mm2);
}

int search_final(const member_t *m) {
    return m->ok && !m->pruned;
}

/* Whether m may be on the front: final, and above chance under the "chance" rule. */
static int front_eligible(const member_t *m) {
    return search_final(m) && !m->at_chance;
}

double uh_search_hv_value(uh_goal_t g, double v, double chance_error) {
    switch (g) {
    case UH_GOAL_ERROR:
        return v / chance_error;
    case UH_GOAL_ENERGY:
    case UH_GOAL_LATENCY:
    case UH_GOAL_AREA:
        return v < 0 ? 0 : v > 1 ? 1 : v;
    default:
        return v;
    }
}

/* The "chance" hypervolume's points of the ok rows of generation ≤ upto, their accuracy
 * taken as `objective` says, into p[0..m·k) (rows' indices into idx when not NULL); m. */
static int hv_points(const uh_search_config_t *cfg, uh_objective_t objective, const double zero[3],
                     double chance, const uh_candidate_t *rows, size_t n, int upto, double *p,
                     int *idx) {
    const int k = cfg->n_goals;
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        const uh_candidate_t *c = &rows[i];
        if (c->status != UH_CAND_OK || c->generation > upto || !isfinite(c->accuracy) ||
            !isfinite(c->noisy_accuracy) || !(c->energy_nj > 0))
            continue;
        for (int j = 0; j < k; j++)
            p[m * k + j] = uh_search_hv_value(
                cfg->goals[j],
                uh_search_goal_value(cfg->goals[j], objective, zero, c->accuracy, c->noisy_accuracy,
                                     c->energy_nj, c->latency_ns, c->area_mm2),
                chance);
        if (idx) idx[m] = (int)i;
        m++;
    }
    return m;
}

int uh_search_rows_hypervolume(const uh_search_config_t *cfg, const double zero[3], int n_classes,
                               const uh_candidate_t *rows, size_t n, int upto, double *hv,
                               uh_error_t *err) {
    *hv = 0;
    if (n_classes < 2) return uh_error_set(err, UH_EINVAL, "a task of %d classes", n_classes);
    const double ref[UH_SEARCH_MAX_OBJECTIVES] = {1, 1, 1};
    double *p = malloc((n + 1) * (size_t)cfg->n_goals * sizeof *p);
    if (!p) return uh_error_set(err, UH_ENOMEM, "out of memory");
    int m = hv_points(cfg, cfg->objective, zero, 1 - 1.0 / n_classes, rows, n, upto, p, NULL);
    int rc = m > 0 ? uh_hypervolume(p, m, cfg->n_goals, ref, hv, err) : UH_OK;
    free(p);
    return rc;
}

int uh_search_rows_deployed_hypervolume(const uh_search_config_t *cfg, const double zero[3],
                                        int n_classes, const uh_candidate_t *rows, size_t n,
                                        int upto, double *hv, uh_error_t *err) {
    if (cfg->objective == UH_OBJECTIVE_NOISY)
        return uh_search_rows_hypervolume(cfg, zero, n_classes, rows, n, upto, hv, err);
    *hv = 0;
    if (n_classes < 2) return uh_error_set(err, UH_EINVAL, "a task of %d classes", n_classes);
    const int k = cfg->n_goals;
    const double chance = 1 - 1.0 / n_classes, ref[UH_SEARCH_MAX_OBJECTIVES] = {1, 1, 1};
    double *own = malloc((n + 1) * (size_t)k * sizeof *own);
    double *noisy = malloc((n + 1) * (size_t)k * sizeof *noisy);
    int *idx = malloc((n + 1) * sizeof *idx), *rank = malloc((n + 1) * sizeof *rank);
    int rc = own && noisy && idx && rank ? UH_OK : uh_error_set(err, UH_ENOMEM, "out of memory");
    int m = rc ? 0 : hv_points(cfg, cfg->objective, zero, chance, rows, n, upto, own, idx);
    if (m > 0) rc = uh_pareto_sort(own, m, k, rank, err);
    /* the front the search hands over (chosen on its own objective), then scored on noisy
     * accuracy; a point at or past the reference on its own objective adds nothing there and
     * is no member either */
    int f = 0;
    for (int i = 0; !rc && i < m; i++) {
        int inside = 1;
        for (int j = 0; j < k; j++) inside &= own[i * k + j] < ref[j];
        if (rank[i] != 0 || !inside) continue;
        hv_points(cfg, UH_OBJECTIVE_NOISY, zero, chance, &rows[idx[i]], 1, upto, noisy + f * k,
                  NULL);
        f++;
    }
    if (!rc && f > 0) rc = uh_hypervolume(noisy, f, k, ref, hv, err);
    free(own), free(noisy), free(idx), free(rank);
    return rc;
}

void search_member_objectives(const search_run_t *r, member_t *m) {
    const uh_candidate_t *c = &m->row;
    m->pruned = c->status == UH_CAND_PRUNED;
    m->ok = (c->status == UH_CAND_OK || m->pruned) && isfinite(c->accuracy) &&
            isfinite(c->noisy_accuracy) && c->energy_nj > 0;
    if (!m->ok) return;
    const uh_goal_t base_goals[2] = {UH_GOAL_ERROR, UH_GOAL_ENERGY};
    for (int j = 0; j < 2; j++)
        m->base[j] =
            uh_search_goal_value(base_goals[j], r->cfg.objective, r->env.zero, c->accuracy,
                                 c->noisy_accuracy, c->energy_nj, c->latency_ns, c->area_mm2);
    m->base[2] = c->accuracy - c->noisy_accuracy;
    search_goals(r, c->accuracy, c->noisy_accuracy, c->energy_nj, c->latency_ns, c->area_mm2,
                 m->obj);
    m->at_chance = r->cfg.hypervolume == UH_HV_CHANCE && m->base[0] >= r->env.chance_error;
}

/* Fills m's rung results from rungs[0..n) (any order; other hashes are skipped). */
static void member_rungs(member_t *m, const uh_rung_t *rungs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const uh_rung_t *g = &rungs[i];
        if (g->rung >= UH_PRUNER_MAX_RUNGS || strcmp(g->hash, m->row.hash) != 0) continue;
        m->rung_acc[g->rung][0] = g->accuracy;
        m->rung_acc[g->rung][1] = g->noisy_accuracy;
        if (g->rung + 1 > m->n_rungs) m->n_rungs = g->rung + 1;
    }
}

int search_append(search_run_t *r, const uh_candidate_t *row, const uh_arch_t *arch,
                  const uh_rung_t *rungs, size_t n_rungs, uh_error_t *err) {
    if (r->arc.n_all == r->arc.cap_all) {
        int cap = r->arc.cap_all ? 2 * r->arc.cap_all : 64;
        member_t *m = realloc(r->arc.all, (size_t)cap * sizeof *m);
        if (!m) return uh_error_set(err, UH_ENOMEM, "out of memory");
        r->arc.all = m;
        r->arc.cap_all = cap;
    }
    member_t *m = &r->arc.all[r->arc.n_all++];
    memset(m, 0, sizeof *m);
    m->row = *row;
    m->arch = *arch;
    uh_space_encode(arch, m->genome);
    search_member_objectives(r, m);
    member_rungs(m, r->env.rungs, r->env.n_rungs);
    member_rungs(m, rungs, n_rungs);
    return UH_OK;
}

/* ---- batches of children ------------------------------------------------------------
 * A batch is settled in three steps. First, in order and on one thread, every slot gets an
 * architecture that is valid and new (replacing invalid children and duplicates, also of
 * earlier slots of the batch), and its id: its place in the archive. Second, slots whose
 * hash is in the store are read back (resume). Third, the others are trained, up to `jobs`
 * at once; each one is committed the moment it finishes, under its precomputed id, so the
 * store's rows do not depend on which finished first. Nothing a decision reads (the
 * archive, the random streams) changes while candidates train, and a network's training is
 * the same float by float on any number of threads (src/nn/layers.h), so the run's result
 * does not depend on `jobs`. */

static int in_batch(const batch_t *b, const char *hash) {
    for (int j = 0; j < b->n_jobs; j++)
        if (strcmp(b->jobs[j].key.hash, hash) == 0) return j;
    return -1;
}

/* a's novelty against the run and the batch's jobs */
static novelty_t batch_novelty(const batch_t *b, const uh_arch_t *a) {
    const novelty_key_t *others[2 * UH_SEARCH_MAX_POPULATION + 1];
    int n = 0;
    for (int j = 0; j < b->n_jobs && n < (int)(sizeof others / sizeof *others); j++)
        others[n++] = &b->jobs[j].key;
    novelty_key_t key;
    search_novelty_key(a, &key);
    return search_novelty(b->r, &key, others, n);
}

/* A new valid architecture near the parents, into out (its origin and parent too):
 * mutations of random parents, then fresh samples. out->origin is "" when nothing new was
 * found (the space around here is spent). */
static int fallback(const batch_t *b, const member_t *const *parents, int n_parents, uh_rng_t *rng,
                    uh_child_t *out, uh_error_t *err) {
    const search_run_t *r = b->r;
    memset(out, 0, sizeof *out);
    for (int t = 0; t < UH_SEARCH_MAX_DUPLICATE_TRIES; t++) {
        const char *what;
        int rc;
        if (n_parents > 0 && t < UH_SEARCH_MAX_DUPLICATE_TRIES / 2) {
            const member_t *p = parents[uh_rng_below(rng, (uint64_t)n_parents)];
            rc = uh_space_mutate(&r->env.space, &p->arch, rng, &out->arch, &what, err);
            snprintf(out->origin, sizeof out->origin, "fallback-mutate");
            out->n_parents = 1, out->parents[0] = p->row.id;
        } else {
            rc = uh_space_sample(&r->env.space, rng, &out->arch, err);
            snprintf(out->origin, sizeof out->origin, "fallback-sample");
            out->n_parents = 0;
        }
        if (rc) return rc;
        if (batch_novelty(b, &out->arch) == NOVEL) return UH_OK;
    }
    out->origin[0] = '\0';
    return UH_OK;
}

/* Step one for a job: its row as far as it is known before training. */
static int open_job(search_run_t *r, job_t *job, const uh_child_t *child, int64_t id,
                    uh_error_t *err) {
    const uh_arch_t *arch = &child->arch;
    memset(job, 0, sizeof *job);
    job->arch = *arch;
    search_novelty_key(arch, &job->key);
    uh_candidate_t *row = &job->row;
    row->id = id;
    row->generation = r->count.generation;
    snprintf(row->origin, sizeof row->origin, "%s", child->origin);
    /* as the operator named them (an operator that names none: 0) */
    row->n_parents =
        child->n_parents > 0 && child->n_parents <= UH_SEARCH_MAX_PARENTS ? child->n_parents : 0;
    memcpy(row->parents, child->parents, (size_t)row->n_parents * sizeof *row->parents);
    if (uh_arch_canonical(arch, row->arch, sizeof row->arch) < 0)
        return uh_error_set(err, UH_ELIMIT, "canonical architecture too long");
    memcpy(row->hash, job->key.hash, sizeof job->key.hash);
    row->seed = uh_search_candidate_seed(r->env.seed_base, job->key.hash);
    job->cached_rung = -1;
    row->params = arch->params;
    row->macs = arch->macs;
    return UH_OK;
}

/* Runs work(r, ctx, i) for every i in [0, n), up to r->hooks.jobs at once, and commit(r, ctx, i)
 * as each one finishes, one commit at a time. Once a task fails or the run is told to stop,
 * no new task starts.
 *
 * The workers share r->hooks.jobs threads: each task's kernels run on jobs ÷ (workers still
 * busy) of them, read again before every mini-batch (uh_train_opts_t.threads_live), so the
 * last candidate of a rung gets the cores the others have finished with. The floats do not
 * depend on the thread count (src/nn/layers.h), so neither do the rows. Workers are threads
 * of their own, not an OpenMP team: each then has its own OpenMP pool, and a task's parallel
 * regions are not nested ones. */
typedef int (*task_fn)(search_run_t *r, void *ctx, int i, uh_error_t *err);

int search_stopped(const search_run_t *r) {
    return r->hooks.stop && atomic_load(r->hooks.stop);
}

typedef struct {
    search_run_t *r;
    int n;
    task_fn work, commit;
    void *ctx;
    atomic_int next, failed;
    pthread_mutex_t lock; /* commits, the first error and the share */
    int busy;             /* workers not yet out of tasks */
    uh_error_t first;
} task_pool_t;

static void *task_worker(void *arg) {
    task_pool_t *p = arg;
    search_run_t *r = p->r;
    for (;;) {
        int i = atomic_fetch_add(&p->next, 1);
        if (i >= p->n || atomic_load(&p->failed) || search_stopped(r)) break;
        omp_set_num_threads(atomic_load(&r->threads_live));
        uh_error_t e = {0};
        int rc = p->work(r, p->ctx, i, &e);
        pthread_mutex_lock(&p->lock);
        if (!rc && !atomic_load(&p->failed)) rc = p->commit(r, p->ctx, i, &e);
        if (rc && !atomic_load(&p->failed)) {
            p->first = e;
            atomic_store(&p->failed, rc);
        }
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_lock(&p->lock);
    if (--p->busy > 0) atomic_store(&r->threads_live, r->hooks.jobs / p->busy);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static int run_tasks(search_run_t *r, int n, task_fn work, task_fn commit, void *ctx,
                     uh_error_t *err) {
    int workers = r->hooks.jobs < n ? r->hooks.jobs : n;
    if (workers < 1) workers = 1;
    task_pool_t p = {.r = r, .n = n, .work = work, .commit = commit, .ctx = ctx};
    pthread_t helpers[UH_SEARCH_MAX_JOBS];
    if (workers > UH_SEARCH_MAX_JOBS) workers = UH_SEARCH_MAX_JOBS;
    if (pthread_mutex_init(&p.lock, NULL))
        return uh_error_set(err, UH_ENOMEM, "cannot make a lock for the training threads");
    /* this thread is worker 0; a thread that cannot be made is a worker less */
    int started = 1;
    atomic_store(&r->threads_live, r->hooks.jobs / workers > 0 ? r->hooks.jobs / workers : 1);
    p.busy = workers;
    for (; started < workers; started++)
        if (pthread_create(&helpers[started], NULL, task_worker, &p)) break;
    pthread_mutex_lock(&p.lock);
    p.busy -= workers - started;
    pthread_mutex_unlock(&p.lock);
    const int own_threads = omp_get_max_threads();
    task_worker(&p);
    omp_set_num_threads(own_threads);
    for (int w = 1; w < started; w++) pthread_join(helpers[w], NULL);
    pthread_mutex_destroy(&p.lock);
    if (p.failed) {
        if (err) *err = p.first;
        return p.failed;
    }
    return search_stopped(r) ? uh_error_set(err, UH_EINTR, "stopped") : UH_OK;
}

/* Whether an ok member with these objectives would be dominated by the archive. */
static int dominated(const search_run_t *r, const double *obj) {
    for (int i = 0; i < r->arc.n_all; i++) {
        const member_t *m = &r->arc.all[i];
        if (!front_eligible(m)) continue;
        int le = 1, lt = 0;
        for (int j = 0; j < r->k; j++) {
            le &= m->obj[j] <= obj[j];
            lt |= m->obj[j] < obj[j];
        }
        if (le && lt) return 1;
    }
    return 0;
}

/* A row is finished; refused rows (status invalid) do not count against the budget. */
void search_report_row(search_run_t *r, const uh_candidate_t *row, int reused, int cached) {
    if (row->status != UH_CAND_INVALID) r->count.done++;
    if (!r->hooks.progress) return;
    uh_search_progress_t p = {r->count.generation,
                              r->cfg.generations,
                              r->count.done,
                              r->budget,
                              row,
                              reused,
                              NAN,
                              cached};
    r->hooks.progress(r->hooks.progress_ctx, &p);
}

/* Fills the job's failed row from an evaluation error (or returns a machine's failure). */
int search_job_failed(job_t *job, const uh_error_t *eerr, uh_error_t *err) {
    if (eerr->code == UH_ENOMEM || eerr->code == UH_EIO) {
        if (err) *err = *eerr;
        return eerr->code;
    }
    uh_candidate_t *row = &job->row;
    row->status = UH_CAND_FAILED;
    snprintf(row->message, sizeof row->message, "%s", eerr->msg);
    row->accuracy = row->noisy_accuracy = row->noisy_accuracy_std = NAN;
    row->energy_nj = row->latency_ns = row->area_mm2 = row->train_seconds = NAN;
    job->active = 0;
    return UH_OK;
}

void search_result_error(const uh_remote_result_t *res, uh_error_t *eerr) {
    *eerr = (uh_error_t){0};
    if (!res->ok) uh_error_set(eerr, res->code ? res->code : UH_EINVAL, "%s", res->message);
}

int search_job_take_result(const search_run_t *r, job_t *job, uh_remote_result_t *res,
                           uh_error_t *err) {
    uh_error_t eerr;
    search_result_error(res, &eerr);
    int rc = eerr.code ? search_job_failed(job, &eerr, err) : UH_OK;
    if (rc) return rc;
    if (!eerr.code) search_job_measured(r, job, &res->result);
    free(job->weights);
    job->weights = res->weights;
    job->n_weights = res->n_weights;
    res->weights = NULL;
    return UH_OK;
}

/* Fills the job's row from its finished evaluation: status ok, accuracies, costs, all epochs. */
void search_job_measured(const search_run_t *r, job_t *job, const uh_eval_result_t *res) {
    uh_candidate_t *row = &job->row;
    row->status = UH_CAND_OK;
    row->accuracy = res->accuracy;
    row->noisy_accuracy = res->noisy_accuracy;
    row->noisy_accuracy_std = res->noisy_std;
    row->energy_nj = res->energy_nj;
    row->latency_ns = res->latency_ns;
    row->area_mm2 = res->area_mm2;
    row->train_seconds = res->train_seconds;
    row->epochs_trained = r->cfg.train.epochs;
}

/* ---- the evaluation cache (uhnas/cache.h) --------------------------------------------
 * A job's result is looked up before it would train (after its rung g under the pruner, or
 * trained fully), and what a job trains is added when it is committed. A hit is stored in
 * the run like a trained result, so the run's store stays whole without the cache. */

/* What decides job's result after rung g (g < 0: trained fully, without the pruner): the
 * settings, backend, data, seed, schedule and architecture, as text (*out malloc'd). */
static int cache_description(const search_run_t *r, const job_t *job, int g, char **out,
                             uh_error_t *err) {
    char eval[512], schedule[160];
    eval_text(&r->cfg, eval, sizeof eval);
    if (g < 0) {
        snprintf(schedule, sizeof schedule, "full mc %d", r->cfg.mc);
    } else {
        int n = snprintf(schedule, sizeof schedule, "rungs");
        for (int k = 0; k <= g; k++)
            n += snprintf(schedule + n, sizeof schedule - (size_t)n, " %d", r->env.rung_epochs[k]);
        snprintf(schedule + n, sizeof schedule - (size_t)n, " mc %d",
                 uh_pruner_rung_mc(&r->cfg, g, r->env.n_rung_epochs));
    }
    size_t cap = strlen(eval) + strlen(schedule) + strlen(job->row.arch) + 128;
    if (!(*out = malloc(cap))) return uh_error_set(err, UH_ENOMEM, "out of memory");
    snprintf(*out, cap,
             "uhnas evaluation 2\n%skernels %s\nbackend %016llx\ndata %016llx\nseed %016llx\n%s\n"
             "arch %s\n",
             eval, uh_nn_blas_kernels(), (unsigned long long)r->env.backend_digest,
             (unsigned long long)r->env.data_digest, (unsigned long long)job->row.seed, schedule,
             job->row.arch);
    return UH_OK;
}

/* Job's result after rung g from the cache: *hit, with res (its costs from the backend:
 * exact) and the weights (*w malloc'd). An entry whose weights do not fit the network is a
 * miss. */
static int cache_lookup(search_run_t *r, const job_t *job, int g, uh_eval_result_t *res, float **w,
                        size_t *n, int *hit, uh_error_t *err) {
    *hit = 0;
    *w = NULL;
    if (!r->hooks.cache) return UH_OK;
    char *d;
    int rc = cache_description(r, job, g, &d, err);
    uh_cache_entry_t e;
    if (!rc) rc = uh_cache_get(r->hooks.cache, d, &e, w, n, hit, err);
    free(d);
    uh_energy_t energy;
    uh_error_t ignored = {0};
    if (!rc && *hit &&
        (*n != (size_t)job->arch.params ||
         uh_backend_energy(r->env.backend, &job->arch, &energy, &ignored))) {
        free(*w);
        *w = NULL;
        *hit = 0;
    }
    if (rc || !*hit) return rc;
    *res = (uh_eval_result_t){.accuracy = e.accuracy,
                              .noisy_accuracy = e.noisy_accuracy,
                              .noisy_std = e.noisy_std,
                              .energy_nj = energy.total_nj,
                              .latency_ns = energy.latency_ns,
                              .area_mm2 = energy.footprint.area_mm2,
                              .train_seconds = e.train_seconds,
                              .params = job->arch.params,
                              .macs = job->arch.macs};
    return UH_OK;
}

/* Adds what job measured after rung g (its weights now in job->weights) to the cache. */
static int cache_add(search_run_t *r, const job_t *job, int g, double accuracy,
                     double noisy_accuracy, double noisy_std, double train_seconds,
                     uh_error_t *err) {
    if (!r->hooks.cache || !job->weights) return UH_OK;
    char *d;
    int rc = cache_description(r, job, g, &d, err);
    uh_cache_entry_t e = {accuracy, noisy_accuracy, noisy_std, train_seconds};
    if (!rc) rc = uh_cache_put(r->hooks.cache, d, &e, job->weights, job->n_weights, err);
    free(d);
    return rc;
}

/* Task: trains and measures the batch's unsettled job i. A failure of the candidate becomes
 * its row's status; only a failure of the machine (memory, I/O) is returned. */
static int train_job(search_run_t *r, void *ctx, int i, uh_error_t *err) {
    job_t *job = &((batch_t *)ctx)->jobs[i];
    if (job->settled) return UH_OK;
    uh_eval_config_t ec;
    uh_search_eval_config(&r->cfg, &ec);
    ec.train.threads_live = &r->threads_live;
    uh_eval_result_t res;
    uh_error_t eerr = {0};
    job->trained = 1;
    if (uh_evaluate(r->env.backend, &job->arch, r->env.train, r->env.val, &ec, job->row.seed, &res,
                    &job->weights, &job->n_weights, &eerr))
        return search_job_failed(job, &eerr, err);
    search_job_measured(r, job, &res);
    return UH_OK;
}

/* Writes the deferred records (inside the caller's transaction) and forgets them. */
static int write_deferred(search_run_t *r, uh_error_t *err) {
    int rc = UH_OK;
    for (int i = 0; !rc && i < r->n_deferred; i++)
        rc = uh_store_put_generation(r->env.store, r->deferred[i].generation, r->deferred[i].text,
                                     &r->deferred[i].metrics, err);
    if (rc) return rc;
    for (int i = 0; i < r->n_deferred; i++) free(r->deferred[i].text);
    r->n_deferred = 0;
    return UH_OK;
}

int search_flush_generations(search_run_t *r, uh_error_t *err) {
    if (r->n_deferred == 0) return UH_OK;
    int rc = uh_store_begin(r->env.store, err);
    if (!rc) rc = write_deferred(r, err);
    if (!rc) rc = uh_store_commit(r->env.store, err);
    if (rc) uh_store_rollback(r->env.store);
    return rc;
}

/* Queues generation g's record (text taken) for the next commit. */
static int defer_generation(search_run_t *r, int g, char *text, const uh_gen_metrics_t *m,
                            uh_error_t *err) {
    if (r->n_deferred == r->cap_deferred) {
        int cap = r->cap_deferred ? 2 * r->cap_deferred : 16;
        deferred_record_t *d = realloc(r->deferred, (size_t)cap * sizeof *d);
        if (!d) {
            free(text);
            return uh_error_set(err, UH_ENOMEM, "out of memory");
        }
        r->deferred = d;
        r->cap_deferred = cap;
    }
    r->deferred[r->n_deferred++] = (deferred_record_t){g, text, *m};
    return UH_OK;
}

/* Commits a trained job's final row in one transaction: with its weights when keep_weights,
 * without the weights kept for its rungs (the pruner's). */
static int store_row(search_run_t *r, job_t *job, int keep_weights, uh_error_t *err) {
    int rc = uh_store_begin(r->env.store, err);
    if (!rc) rc = uh_store_add_candidate(r->env.store, &job->row, NULL, err);
    if (!rc && keep_weights)
        rc = uh_store_put_weights(r->env.store, job->key.hash, job->weights, job->n_weights, err);
    if (!rc) rc = write_deferred(r, err); /* the decision records before this row (async.c) */
    if (!rc && r->cfg.pruner == UH_PRUNER_ASHA)
        rc = uh_store_drop_rung_weights(r->env.store, job->key.hash, err);
    if (!rc) rc = uh_store_commit(r->env.store, err);
    free(job->weights);
    job->weights = NULL;
    if (rc) {
        uh_store_rollback(r->env.store);
        return rc;
    }
    job->settled = 1;
    /* answered from the cache only when nothing of it was trained here */
    const int cached = job->cached && !job->trained;
    if (r->hooks.summary) *(cached ? &r->hooks.summary->cached : &r->hooks.summary->trained) += 1;
    r->count.cached += cached;
    search_report_row(r, &job->row, 0, cached);
    return UH_OK;
}

/* Commit of train_job: the row (and its weights when it may end on the front: every member
 * of the final front was undominated when its batch began, so the final front's weights are
 * all stored for the test evaluation and for export). */
int search_commit_job(search_run_t *r, job_t *job, uh_error_t *err) {
    if (job->settled) return UH_OK;
    const uh_candidate_t *row = &job->row;
    int rc = job->trained && row->status == UH_CAND_OK
                 ? cache_add(r, job, -1, row->accuracy, row->noisy_accuracy,
                             row->noisy_accuracy_std, row->train_seconds, err)
                 : UH_OK;
    if (rc) return rc;
    member_t probe = {.row = job->row};
    search_member_objectives(r, &probe);
    return store_row(r, job, front_eligible(&probe) && job->weights && !dominated(r, probe.obj),
                     err);
}

static int commit_job(search_run_t *r, void *ctx, int i, uh_error_t *err) {
    return search_commit_job(r, &((batch_t *)ctx)->jobs[i], err);
}

int search_job_from_cache(search_run_t *r, job_t *job, int *hit, uh_error_t *err) {
    *hit = 0;
    if (!r->hooks.cache || job->settled || job->refused) return UH_OK;
    uh_eval_result_t res;
    int rc = cache_lookup(r, job, -1, &res, &job->weights, &job->n_weights, hit, err);
    if (!rc && *hit) {
        job->cached = 1;
        search_job_measured(r, job, &res);
        rc = search_commit_job(r, job, err);
    }
    return rc;
}

/* Step three without the pruner, first: the jobs the cache knows, committed as if trained. */
static int answer_from_cache(search_run_t *r, batch_t *b, uh_error_t *err) {
    int rc = UH_OK, hit;
    for (int j = 0; !rc && j < b->n_jobs; j++)
        rc = search_job_from_cache(r, &b->jobs[j], &hit, err);
    return rc;
}

/* A remote result's failure as a local evaluation's error (eerr), and whether it names one of
 * the batch's jobs (else an error: the executor is broken). */
static int remote_index(const batch_t *b, const uh_remote_result_t *res, uh_error_t *err) {
    if (res->index < 0 || res->index >= b->n_jobs)
        return uh_error_set(err, UH_EINVAL, "executor: result for unknown job %d", res->index);
    return UH_OK;
}

/* Fills job's row from a remote result, then commits it like a local one. */
static int remote_done(void *ctx, uh_remote_result_t *res, uh_error_t *err) {
    batch_t *b = ctx;
    int rc = remote_index(b, res, err);
    if (rc) return rc;
    b->jobs[res->index].trained = 1;
    rc = search_job_take_result(b->r, &b->jobs[res->index], res, err);
    return rc ? rc : commit_job(b->r, b, res->index, err);
}

/* A batch as the executor asks for it: jobs[0..n) in order, each result to done. */
typedef struct {
    const uh_remote_job_t *jobs;
    int n, sent;
    uh_remote_done_fn done;
    void *done_ctx;
} job_list_t;

static int list_next(void *ctx, uh_remote_job_t *job, int *have, uh_error_t *err) {
    job_list_t *l = ctx;
    (void)err;
    *have = l->sent < l->n;
    if (*have) *job = l->jobs[l->sent++];
    return UH_OK;
}

static int list_done(void *ctx, uh_remote_result_t *res, uh_error_t *err) {
    const job_list_t *l = ctx;
    return l->done(l->done_ctx, res, err);
}

int search_run_executor(search_run_t *r, uh_remote_next_fn next, uh_remote_done_fn done, void *ctx,
                        uh_error_t *err) {
    int rc = r->hooks.executor->run(r->hooks.executor->ctx, next, done, ctx, r->hooks.stop, err);
    if (!rc && search_stopped(r)) rc = uh_error_set(err, UH_EINTR, "stopped");
    return rc;
}

/* Hands jobs[0..n) (malloc'd, freed here) to the executor, each result to done(ctx); a stop
 * asked for meanwhile is returned as UH_EINTR, as run_tasks does. */
static int run_on_executor(search_run_t *r, uh_remote_job_t *jobs, int n, uh_remote_done_fn done,
                           void *ctx, uh_error_t *err) {
    job_list_t list = {jobs, n, 0, done, ctx};
    int rc = n ? search_run_executor(r, list_next, list_done, &list, err) : UH_OK;
    free(jobs);
    return rc;
}

/* Step three through the executor: the unsettled jobs, as canonical JSON and seeds. */
static int run_remote(search_run_t *r, batch_t *b, uh_error_t *err) {
    uh_remote_job_t *jobs = malloc((size_t)(b->n_jobs + 1) * sizeof *jobs);
    if (!jobs) return uh_error_set(err, UH_ENOMEM, "out of memory");
    int n = 0;
    for (int j = 0; j < b->n_jobs; j++)
        if (!b->jobs[j].settled)
            jobs[n++] = (uh_remote_job_t){
                .index = j, .arch = b->jobs[j].row.arch, .seed = b->jobs[j].row.seed};
    return run_on_executor(r, jobs, n, remote_done, b, err);
}

/* ---- the pruner (uhnas/search.h, "Multi-fidelity") ------------------------------------
 * A batch's rungs are barriers: every active job trains to the rung (up to `jobs` at once,
 * each rung committed as it finishes, with its weights), then the decision of who goes on
 * is taken on one thread from the rung's results in job order. Nothing a decision reads
 * depends on finishing order, and a resumed run finds each stored rung instead of training
 * it, so the rows are the same for any `jobs` and after kill -9. */

int uh_pruner_rungs(const uh_search_config_t *cfg, int out[UH_PRUNER_MAX_RUNGS]) {
    const int nearest = cfg->rung_rounding == UH_RUNGS_NEAREST, epochs = cfg->train.epochs;
    int n = 0;
    for (int k = nearest ? UH_PRUNER_MAX_RUNGS - 1 : 2; k >= 0; k--) {
        int d = 1;
        for (int i = 0; i < k; i++) d *= UH_PRUNER_ETA;
        int x = nearest ? (int)((2L * epochs + d) / (2L * d)) : epochs / d; /* halves up */
        if (x >= 1 && (n == 0 || x > out[n - 1])) out[n++] = x;
    }
    return n;
}

int uh_pruner_rung_mc(const uh_search_config_t *cfg, int g, int n) {
    if (g + 1 >= n || cfg->rung_mc <= 0) return cfg->mc;
    return cfg->rung_mc < cfg->mc ? cfg->rung_mc : cfg->mc;
}

typedef struct {
    batch_t *b;
    int rung;
} rung_ctx_t;

/* Whether job trains at rung g: active, not final, and rung g not measured yet. */
static int rung_due(const job_t *job, int g) {
    return job->active && !job->settled && job->n_rungs <= g;
}

/* The evaluation of rung g: the epochs after the previous rung's, from the job's weights
 * there (in memory, or read back from the store when an earlier process trained them). */
int search_rung_eval_config(search_run_t *r, job_t *job, int g, uh_eval_config_t *ec,
                            uh_error_t *err) {
    uh_search_eval_config(&r->cfg, ec);
    ec->train.threads_live = &r->threads_live;
    ec->train.first_epoch = g ? r->env.rung_epochs[g - 1] : 0;
    ec->train.epochs = r->env.rung_epochs[g] - ec->train.first_epoch;
    ec->mc = uh_pruner_rung_mc(&r->cfg, g, r->env.n_rung_epochs);
    if (g > 0 && !job->weights) {
        int rc = uh_store_get_rung_weights(r->env.store, job->key.hash, g - 1, &job->weights,
                                           &job->n_weights, err);
        if (rc) return rc;
    }
    ec->start_weights = job->weights;
    ec->n_start_weights = job->n_weights;
    return UH_OK;
}

/* Records job's evaluation at rung g (failed when eerr is set) and takes w (n_w floats,
 * malloc'd) as the weights to continue from. */
int search_rung_measured(search_run_t *r, job_t *job, int g, const uh_eval_result_t *res, float *w,
                         size_t n_w, const uh_error_t *eerr, uh_error_t *err) {
    free(job->weights);
    job->weights = w;
    job->n_weights = n_w;
    if (eerr->code) return search_job_failed(job, eerr, err);
    uh_rung_t *m = &job->rungs[g];
    *m = (uh_rung_t){.rung = g,
                     .epochs = r->env.rung_epochs[g],
                     .accuracy = res->accuracy,
                     .noisy_accuracy = res->noisy_accuracy,
                     .noisy_accuracy_std = res->noisy_std,
                     .train_seconds = res->train_seconds};
    memcpy(m->hash, job->key.hash, sizeof job->key.hash);
    return UH_OK;
}

/* Task: trains active job i to this rung. */
static int train_rung(search_run_t *r, void *ctx, int i, uh_error_t *err) {
    rung_ctx_t *c = ctx;
    job_t *job = &c->b->jobs[i];
    if (!rung_due(job, c->rung)) return UH_OK;
    uh_eval_config_t ec;
    int rc = search_rung_eval_config(r, job, c->rung, &ec, err);
    if (rc) return rc;
    float *w = NULL;
    size_t n_w = 0;
    uh_eval_result_t res;
    uh_error_t eerr = {0};
    job->trained = 1;
    uh_evaluate(r->env.backend, &job->arch, r->env.train, r->env.val, &ec, job->row.seed, &res, &w,
                &n_w, &eerr);
    return search_rung_measured(r, job, c->rung, &res, w, n_w, &eerr, err);
}

/* Commit of train_rung: the rung's result and the weights to continue from, at once. */
int search_rung_commit(search_run_t *r, job_t *job, int g, uh_error_t *err) {
    const uh_rung_t *m = &job->rungs[g];
    int rc = job->row.status == UH_CAND_FAILED || job->cached_rung == g
                 ? UH_OK
                 : cache_add(r, job, g, m->accuracy, m->noisy_accuracy, m->noisy_accuracy_std,
                             m->train_seconds, err);
    /* with the decision records before it (async.c; none in generations), in one commit */
    if (!rc) rc = uh_store_begin(r->env.store, err);
    if (!rc) rc = write_deferred(r, err);
    if (!rc) rc = uh_store_put_rung(r->env.store, m, job->weights, job->n_weights, err);
    if (!rc) rc = uh_store_commit(r->env.store, err);
    if (rc) uh_store_rollback(r->env.store);
    if (!rc) job->n_rungs = g + 1;
    return rc;
}

static int commit_rung(search_run_t *r, void *ctx, int i, uh_error_t *err) {
    rung_ctx_t *c = ctx;
    job_t *job = &c->b->jobs[i];
    return rung_due(job, c->rung) ? search_rung_commit(r, job, c->rung, err) : UH_OK;
}

/* Before rung g trains: the due jobs the cache knows at g, committed as if trained there. */
int search_rung_from_cache(search_run_t *r, job_t *job, int g, int *hit, uh_error_t *err) {
    uh_eval_result_t res;
    float *w;
    size_t n_w = 0;
    *hit = 0;
    int rc = r->hooks.cache ? cache_lookup(r, job, g, &res, &w, &n_w, hit, err) : UH_OK;
    if (!rc && *hit) {
        uh_error_t none = {0};
        job->cached = 1;
        job->cached_rung = g;
        rc = search_rung_measured(r, job, g, &res, w, n_w, &none, err);
        if (!rc) rc = search_rung_commit(r, job, g, err);
    }
    return rc;
}

static int rung_from_cache(search_run_t *r, rung_ctx_t *c, uh_error_t *err) {
    int rc = UH_OK, hit;
    for (int j = 0; !rc && r->hooks.cache && j < c->b->n_jobs; j++)
        if (rung_due(&c->b->jobs[j], c->rung))
            rc = search_rung_from_cache(r, &c->b->jobs[j], c->rung, &hit, err);
    return rc;
}

/* A rung's result from the executor: recorded and committed like a local one. */
static int remote_rung_done(void *ctx, uh_remote_result_t *res, uh_error_t *err) {
    rung_ctx_t *c = ctx;
    uh_error_t eerr;
    int rc = remote_index(c->b, res, err);
    if (rc) return rc;
    search_result_error(res, &eerr);
    rc =
        search_rung_measured(c->b->r, &c->b->jobs[res->index], c->rung, &res->result, res->weights,
                             res->n_weights, &eerr, err); /* a failure of the machine is returned */
    res->weights = NULL;
    return rc ? rc : commit_rung(c->b->r, c, res->index, err);
}

/* Trains the batch's due jobs to rung g: on local threads, or through the executor (each job
 * sent with the weights it continues from). */
static int train_to_rung(search_run_t *r, batch_t *b, int g, uh_error_t *err) {
    rung_ctx_t c = {b, g};
    int rc = rung_from_cache(r, &c, err);
    if (rc) return rc;
    if (!r->hooks.executor) return run_tasks(r, b->n_jobs, train_rung, commit_rung, &c, err);
    uh_remote_job_t *jobs = malloc((size_t)(b->n_jobs + 1) * sizeof *jobs);
    if (!jobs) return uh_error_set(err, UH_ENOMEM, "out of memory");
    int n = 0;
    for (int j = 0; !rc && j < b->n_jobs; j++) {
        job_t *job = &b->jobs[j];
        uh_eval_config_t ec;
        if (!rung_due(job, g) || (rc = search_rung_eval_config(r, job, g, &ec, err))) continue;
        job->trained = 1;
        jobs[n++] = (uh_remote_job_t){.index = j,
                                      .arch = job->row.arch,
                                      .seed = job->row.seed,
                                      .first_epoch = ec.train.first_epoch,
                                      .epochs = ec.train.epochs,
                                      .mc = ec.mc,
                                      .start_weights = ec.start_weights,
                                      .n_start_weights = ec.n_start_weights};
    }
    if (rc) {
        free(jobs);
        return rc;
    }
    return run_on_executor(r, jobs, n, remote_rung_done, &c, err);
}

/* The job's final row: its last rung's accuracies (status ok after the last rung, else
 * pruned), committed with its weights when it may end on the front; the weights kept for
 * its rungs go. A failed job's row is committed as it is. */
int search_finish_job(search_run_t *r, job_t *job, uh_error_t *err) {
    job->active = 0;
    if (job->settled) return UH_OK;
    uh_candidate_t *row = &job->row;
    if (row->status != UH_CAND_FAILED) {
        const uh_rung_t *g = &job->rungs[job->n_rungs - 1];
        row->status = job->n_rungs == r->env.n_rung_epochs ? UH_CAND_OK : UH_CAND_PRUNED;
        row->accuracy = g->accuracy;
        row->noisy_accuracy = g->noisy_accuracy;
        row->noisy_accuracy_std = g->noisy_accuracy_std;
        row->epochs_trained = g->epochs;
        row->train_seconds = 0;
        for (int k = 0; k < job->n_rungs; k++) row->train_seconds += job->rungs[k].train_seconds;
    }
    member_t probe = {.row = *row};
    search_member_objectives(r, &probe);
    int keep_weights = front_eligible(&probe) && !dominated(r, probe.obj), rc = UH_OK;
    if (keep_weights && !job->weights)
        rc = uh_store_get_rung_weights(r->env.store, job->key.hash, job->n_rungs - 1, &job->weights,
                                       &job->n_weights, err);
    return rc ? rc : store_row(r, job, keep_weights, err);
}

/* The run's objectives of a member or job at rung g: its accuracies there, its exact costs. */
static void rung_point(const search_run_t *r, const double acc[2], const uh_candidate_t *row,
                       double *obj) {
    search_goals(r, acc[0], acc[1], row->energy_nj, row->latency_ns, row->area_mm2, obj);
}

/* Whether an earlier candidate takes part in rung g's ranking: measured there (a row that
 * failed later has no costs). */
static int rung_ranked(const member_t *m, int g) {
    return m->n_rungs > g && m->row.energy_nj > 0;
}

/* The archive's points at rung g (its members measured there, in archive order) into p, with
 * room for every member; their count. *me: where member i went (−1: not measured there). */
static int archive_rung_points(const search_run_t *r, int g, int i, double *p, int *me) {
    int at = 0;
    *me = -1;
    for (int j = 0; j < r->arc.n_all; j++) {
        const member_t *m = &r->arc.all[j];
        if (!rung_ranked(m, g)) continue;
        if (j == i) *me = at;
        rung_point(r, m->rung_acc[g], &m->row, p + (size_t)r->k * at++);
    }
    return at;
}

/* The pruner's rule at a rung: whether point a of the n points there, ranked by
 * uh_nsga2_assign, is among the best ceil(n/η), ties by the points' order. */
static int rung_promotes(const int *rank, const double *crowd, int n, int a) {
    int ahead = 0;
    for (int c = 0; c < n; c++) {
        int order = uh_nsga2_better(rank[c], crowd[c], rank[a], crowd[a]);
        ahead += order > 0 || (order == 0 && c < a);
    }
    return ahead < (n + UH_PRUNER_ETA - 1) / UH_PRUNER_ETA;
}

/* After rung g: a batch's job goes on when it is among the best ceil(N/η) of the N candidates
 * of the run measured at rung g (the archive's, then the batch's), ranked by non-dominated
 * sorting and crowding, ties by that order; the others are finished as pruned. As in ASHA, a
 * rung promotes by standing against everything measured there, not a quota per batch: a
 * batch of poor children may send none on, a strong one several, and a batch of one is not
 * always promoted. */
static int prune_after(search_run_t *r, batch_t *b, int g, uh_error_t *err) {
    int k = r->k, n_all = r->arc.n_all, n = 0, unused;
    for (int j = 0; j < b->n_jobs; j++) n += b->jobs[j].active;
    double *p = malloc((size_t)(n_all + n + 1) * k * sizeof *p);
    int *rank = malloc((size_t)(n_all + n + 1) * sizeof *rank);
    double *crowd = malloc((size_t)(n_all + n + 1) * sizeof *crowd);
    int *who = malloc((size_t)(n + 1) * sizeof *who);
    int rc = !p || !rank || !crowd || !who ? uh_error_set(err, UH_ENOMEM, "out of memory") : 0;
    int n_old = rc ? 0 : archive_rung_points(r, g, -1, p, &unused), at = n_old;
    for (int j = 0, w = 0; !rc && j < b->n_jobs; j++) {
        const job_t *job = &b->jobs[j];
        if (!job->active) continue;
        double acc[2] = {job->rungs[g].accuracy, job->rungs[g].noisy_accuracy};
        rung_point(r, acc, &job->row, p + (size_t)k * at++);
        who[w++] = j;
    }
    if (!rc && at > 0) rc = uh_nsga2_assign(p, at, k, rank, crowd, err);
    for (int w = 0; !rc && w < n; w++)
        if (!rung_promotes(rank, crowd, at, n_old + w))
            rc = search_finish_job(r, &b->jobs[who[w]], err);
    free(p);
    free(rank);
    free(crowd);
    free(who);
    return rc;
}

/* Step three under the pruner: the batch's jobs through the rungs. A job's rungs stored by an
 * earlier process are read back (their results; their weights when it trains on). */
void search_job_rungs(search_run_t *r, job_t *job) {
    for (size_t i = 0; i < r->env.n_rungs; i++) {
        const uh_rung_t *g = &r->env.rungs[i];
        if (strcmp(g->hash, job->key.hash) != 0 || g->rung >= r->env.n_rung_epochs) continue;
        job->rungs[g->rung] = *g;
        if (g->rung + 1 > job->n_rungs) job->n_rungs = g->rung + 1;
    }
    /* a row stored by an earlier process takes part in the rungs it was measured at */
    job->active = !job->refused && (!job->settled || job->n_rungs > 0);
    /* the costs rank it from rung 0 on, also when its rungs were all read back (a backend
     * that cannot cost it fails it at rung 0 instead) */
    uh_energy_t e;
    uh_error_t ignored = {0};
    if (job->active && !job->settled &&
        !uh_backend_energy(r->env.backend, &job->arch, &e, &ignored)) {
        job->row.energy_nj = e.total_nj;
        job->row.latency_ns = e.latency_ns;
        job->row.area_mm2 = e.footprint.area_mm2;
    }
}

int search_rung_goes_on(const search_run_t *r, int i, int g, int *on, uh_error_t *err) {
    int n_all = r->arc.n_all, me = -1;
    double *p = malloc((size_t)(n_all + 1) * r->k * sizeof *p);
    int *rank = malloc((size_t)(n_all + 1) * sizeof *rank);
    double *crowd = malloc((size_t)(n_all + 1) * sizeof *crowd);
    int rc = !p || !rank || !crowd ? uh_error_set(err, UH_ENOMEM, "out of memory") : UH_OK;
    int n = rc ? 0 : archive_rung_points(r, g, i, p, &me);
    if (!rc && me < 0)
        rc = uh_error_set(err, UH_EINVAL, "member %d has no result at rung %d", i, g);
    if (!rc) rc = uh_nsga2_assign(p, n, r->k, rank, crowd, err);
    if (!rc) *on = rung_promotes(rank, crowd, n, me);
    free(p);
    free(rank);
    free(crowd);
    return rc;
}

static int run_rungs(search_run_t *r, batch_t *b, uh_error_t *err) {
    for (int j = 0; j < b->n_jobs; j++) search_job_rungs(r, &b->jobs[j]);
    int rc = UH_OK;
    for (int g = 0; !rc && g < r->env.n_rung_epochs; g++) {
        rc = train_to_rung(r, b, g, err);
        for (int j = 0; !rc && j < b->n_jobs; j++) /* failed at this rung: final now */
            if (!b->jobs[j].settled && b->jobs[j].row.status == UH_CAND_FAILED)
                rc = search_finish_job(r, &b->jobs[j], err);
        /* a stored row that stopped before this rung (failed) was not measured here */
        for (int j = 0; j < b->n_jobs; j++)
            if (b->jobs[j].settled && b->jobs[j].n_rungs <= g) b->jobs[j].active = 0;
        if (!rc && g + 1 < r->env.n_rung_epochs) rc = prune_after(r, b, g, err);
    }
    for (int j = 0; !rc && j < b->n_jobs; j++)
        if (b->jobs[j].active) rc = search_finish_job(r, &b->jobs[j], err);
    return rc;
}

/* A new child beyond one of the run's limits becomes a job of its own, refused before
 * training: status invalid, a message naming the limit, its costs. *fresh becomes 0 (the
 * slot is then filled like an invalid child's). */
static int refuse_over_limit(batch_t *b, const uh_child_t *child, int *fresh, uh_error_t *err) {
    search_run_t *r = b->r;
    double cost[3];
    char why[200];
    uh_limit_t which = uh_space_over_limit(&r->env.space, &child->arch, cost, why, sizeof why);
    if (which == UH_LIMIT_NONE) return UH_OK;
    r->count.invalid++;
    r->count.over_limit[which]++;
    *fresh = 0;
    job_t *job = &b->jobs[b->n_jobs];
    int rc = open_job(r, job, child, (int64_t)r->arc.n_all + b->n_jobs + 1, err);
    if (rc) return rc;
    uh_candidate_t *row = &job->row;
    row->status = UH_CAND_INVALID;
    snprintf(row->message, sizeof row->message, "refused before training: %s", why);
    row->accuracy = row->noisy_accuracy = row->noisy_accuracy_std = row->train_seconds = NAN;
    row->energy_nj = cost[0];
    row->latency_ns = cost[1];
    row->area_mm2 = cost[2];
    job->refused = 1;
    b->n_jobs++;
    return UH_OK;
}

/* Step one: the slots' architectures and ids. slot_job[i] is the job of slot i, or −1 when
 * the slot is spent on a duplicate because nothing new was found near it; out[i] then already
 * holds the duplicate's archive index (−1 for an invalid child). A child refused for a limit
 * is a job of its own (committed by step two, never trained), followed by the job that takes
 * its slot. */
int search_plan_batch(batch_t *b, uh_child_t *children, int n, const member_t *const *parents,
                      int n_parents, uh_rng_t *rng, int *slot_job, int *out, uh_error_t *err) {
    search_run_t *r = b->r;
    for (int i = 0; i < n; i++) {
        uh_arch_t *a = &children[i].arch;
        /* the operators keep to the depth caps; a language model's child may not */
        int valid = uh_space_valid_hardware(&r->env.space, a) &&
                    uh_space_within_depth(&r->env.space, a, NULL, 0);
        novelty_t novelty = valid ? batch_novelty(b, a) : NOVEL_NOT;
        int fresh = novelty == NOVEL;
        if (!valid)
            r->count.invalid++;
        else if (novelty == NOVEL_NOT)
            r->count.duplicates++;
        else if (novelty == NOVEL_NEAR)
            r->count.near_duplicates++;
        else {
            int rc = refuse_over_limit(b, &children[i], &fresh, err);
            if (rc) return rc;
        }
        if (!fresh) {
            r->count.fallbacks++;
            uh_child_t alt;
            int rc = fallback(b, parents, n_parents, rng, &alt, err);
            if (rc) return rc;
            if (!alt.origin[0]) {
                char hash[17];
                uh_arch_hash(a, hash);
                int old = valid ? search_find(r, hash) : -1, j = valid ? in_batch(b, hash) : -1;
                out[i] = j >= 0 ? r->arc.n_all + j : old;
                slot_job[i] = -1;
                continue;
            }
            children[i] = alt;
        }
        job_t *job = &b->jobs[b->n_jobs];
        int rc = open_job(r, job, &children[i], (int64_t)r->arc.n_all + b->n_jobs + 1, err);
        if (rc) return rc;
        slot_job[i] = b->n_jobs++;
    }
    return UH_OK;
}

int search_settle_batch(batch_t *b, uh_error_t *err) {
    search_run_t *r = b->r;
    for (int j = 0; j < b->n_jobs; j++) {
        job_t *job = &b->jobs[j];
        uh_candidate_t stored;
        int found = 0;
        int rc = uh_store_find_hash(r->env.store, job->key.hash, &stored, &found, err);
        if (rc) return rc;
        if (found) {
            job->row = stored;
            job->settled = 1;
            if (r->hooks.summary && !job->refused) r->hooks.summary->reused++;
            search_report_row(r, &stored, 1, 0);
        } else if (job->refused) { /* nothing to train: stored at once */
            rc = uh_store_add_candidate(r->env.store, &job->row, NULL, err);
            if (rc) return rc;
            job->settled = 1;
            search_report_row(r, &job->row, 0, 0);
        }
    }
    return UH_OK;
}

int search_take_children(search_run_t *r, uh_child_t *children, int n,
                         const member_t *const *parents, int n_parents, uh_rng_t *rng, int *out,
                         uh_error_t *err) {
    if (search_stopped(r)) return uh_error_set(err, UH_EINTR, "stopped");
    /* a slot takes two jobs when its child is refused for a limit */
    batch_t b = {r, malloc((size_t)(2 * n + 1) * sizeof *b.jobs), 0};
    int *slot_job = malloc((size_t)(n + 1) * sizeof *slot_job);
    int rc = !b.jobs || !slot_job ? uh_error_set(err, UH_ENOMEM, "out of memory") : UH_OK;
    if (!rc) rc = search_plan_batch(&b, children, n, parents, n_parents, rng, slot_job, out, err);
    if (!rc) rc = search_settle_batch(&b, err);
    if (!rc)
        rc = r->cfg.pruner == UH_PRUNER_ASHA        ? run_rungs(r, &b, err)
             : (rc = answer_from_cache(r, &b, err)) ? rc
             : r->hooks.executor                    ? run_remote(r, &b, err)
                                 : run_tasks(r, b.n_jobs, train_job, commit_job, &b, err);
    int first = r->arc.n_all; /* jobs join the archive in slot order: job j at first + j */
    for (int j = 0; !rc && j < b.n_jobs; j++)
        rc = search_append(r, &b.jobs[j].row, &b.jobs[j].arch, b.jobs[j].rungs,
                           (size_t)b.jobs[j].n_rungs, err);
    for (int i = 0; !rc && i < n; i++) {
        if (slot_job[i] >= 0)
            out[i] = first + slot_job[i];
        else
            r->count.done++; /* a spent slot still counts against the budget */
    }
    for (int j = 0; b.jobs && j < b.n_jobs; j++) free(b.jobs[j].weights); /* after a failure */
    free(b.jobs);
    free(slot_job);
    return rc;
}

int search_take_samples(search_run_t *r, int n, uh_rng_t *rng, int *out, uh_error_t *err) {
    uh_child_t *c = calloc((size_t)n + 1, sizeof *c);
    int *index = out ? out : malloc((size_t)(n + 1) * sizeof *index);
    int rc = !c || !index ? uh_error_set(err, UH_ENOMEM, "out of memory") : UH_OK;
    for (int i = 0; !rc && i < n; i++) {
        rc = uh_space_sample(&r->env.space, rng, &c[i].arch, err);
        snprintf(c[i].origin, sizeof c[i].origin, "sample");
    }
    if (!rc) rc = search_take_children(r, c, n, NULL, 0, rng, index, err);
    free(c);
    if (!out) free(index);
    return rc;
}

/* ---- metrics ------------------------------------------------------------------------ */

typedef struct {
    double hv, hv3, diversity; /* hv: over the run's objectives; hv3: (error, energy, drop) */
    int front_size, ok, refused;
} metrics_t;

/* Indices of the archive's members that may be on the front (measured at full fidelity,
 * above chance under the "chance" rule); caller frees. */
static int ok_members(const search_run_t *r, int **idx, int *n, uh_error_t *err) {
    *idx = malloc((size_t)(r->arc.n_all + 1) * sizeof **idx);
    if (!*idx) return uh_error_set(err, UH_ENOMEM, "out of memory");
    *n = 0;
    for (int i = 0; i < r->arc.n_all; i++)
        if (front_eligible(&r->arc.all[i])) (*idx)[(*n)++] = i;
    return UH_OK;
}

/* The genome distance of members front[i] and front[j] (ctx: the run and the indices). */
typedef struct {
    const search_run_t *r;
    const int *front;
} front_view_t;

static double pair_distance(void *ctx, int i, int j) {
    const front_view_t *v = ctx;
    return uh_space_distance(v->r->arc.all[v->front[i]].genome, v->r->arc.all[v->front[j]].genome);
}

/* Points of members idx[0..n): the run's r->k objectives, or with `legacy` the three of
 * (error, energy, drop), the drop clipped to the reference box (a negative drop is noise: it
 * counts as none). With `box`, as the run's hypervolume rule measures them. */
static double *points(const search_run_t *r, const int *idx, int n, int legacy, int box) {
    static const uh_goal_t legacy_goals[3] = {UH_GOAL_ERROR, UH_GOAL_ENERGY, UH_GOAL_DROP};
    int k = legacy ? 3 : r->k;
    box = box && r->cfg.hypervolume == UH_HV_CHANCE;
    double *p = malloc((size_t)(n + 1) * k * sizeof *p);
    if (!p) return NULL;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < k; j++) {
            const member_t *m = &r->arc.all[idx[i]];
            double v = legacy ? m->base[j] : m->obj[j];
            if (legacy && j == 2 && v < 0) v = 0;
            p[i * k + j] = box ? uh_search_hv_value(legacy ? legacy_goals[j] : r->cfg.goals[j], v,
                                                    r->env.chance_error)
                               : v;
        }
    return p;
}

/* The archive's front over the run's objectives as member indices (caller frees). */
int search_archive_front(const search_run_t *r, int **front, int *n_front, uh_error_t *err) {
    int *idx, n, rc = ok_members(r, &idx, &n, err);
    if (rc) return rc;
    double *p = points(r, idx, n, 0, 0);
    int *rank = malloc((size_t)(n + 1) * sizeof *rank);
    if (!p || !rank) rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    if (!rc && n > 0) rc = uh_pareto_sort(p, n, r->k, rank, err);
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
    for (int i = 0; i < r->arc.n_all; i++)
        m->refused += r->arc.all[i].row.status == UH_CAND_INVALID;
    static const double ref[3] = {1, 1, 1};
    double *pk = points(r, idx, n, 0, 1), *p3 = points(r, idx, n, 1, 1);
    if (!pk || !p3) rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    if (!rc && n > 0) rc = uh_hypervolume(pk, n, r->k, ref, &m->hv, err);
    if (!rc && n > 0) rc = uh_hypervolume(p3, n, 3, ref, &m->hv3, err);
    free(pk);
    free(p3);
    free(idx);
    int *front = NULL, nf = 0;
    if (!rc) rc = search_archive_front(r, &front, &nf, err);
    if (!rc) {
        front_view_t view = {r, front};
        m->front_size = nf;
        m->diversity = uh_mean_pairwise(nf, pair_distance, &view);
    }
    free(front);
    return rc;
}

/* Small stores: the weights of members that left the running front go, in one commit (the
 * final front's members never left it, so their weights stay for the test measurement). */
static int drop_weights_off_front(search_run_t *r, uh_error_t *err) {
    int *front = NULL, nf, rc = search_archive_front(r, &front, &nf, err);
    if (!rc) rc = uh_store_begin(r->env.store, err);
    for (int i = 0, f = 0; !rc && i < r->arc.n_all; i++) {
        member_t *m = &r->arc.all[i];
        while (f < nf && front[f] < i) f++; /* front is ascending */
        if (m->off_front || !search_final(m) || (f < nf && front[f] == i)) continue;
        rc = uh_store_delete_weights(r->env.store, m->row.hash, err);
        m->off_front = 1;
    }
    if (!rc) rc = uh_store_commit(r->env.store, err);
    if (rc) uh_store_rollback(r->env.store);
    free(front);
    return rc;
}

/* The summary's figures of the archive as it stands. */
static void summarise(search_run_t *r, const metrics_t *m) {
    if (!r->hooks.summary) return;
    r->hooks.summary->hypervolume = m->hv;
    r->hooks.summary->hypervolume3 = m->hv3;
    r->hooks.summary->front_size = m->front_size;
    r->hooks.summary->candidates = m->ok;
    r->hooks.summary->rejected = m->refused;
}

int search_summarise(search_run_t *r, uh_error_t *err) {
    metrics_t m;
    int rc = compute_metrics(r, &m, err);
    if (!rc) summarise(r, &m);
    return rc;
}

void search_reset_counts(search_run_t *r) {
    r->count.duplicates = r->count.fallbacks = r->count.invalid = r->count.cached = 0;
    r->count.near_duplicates = 0;
    memset(r->count.over_limit, 0, sizeof r->count.over_limit);
    r->count.extra_state[0] = '\0';
}

int search_end_generation(search_run_t *r, uh_error_t *err) {
    /* the asynchronous search's decisions are written with the next commit (async.c) */
    const int defer = r->count.event && strcmp(r->count.event, "decide") == 0;
    metrics_t m;
    int rc = compute_metrics(r, &m, err);
    if (!rc && !r->cfg.keep_all_weights && !defer) rc = drop_weights_off_front(r, err);
    if (rc) return rc;
    cJSON *s = cJSON_CreateObject();
    cJSON *pop = cJSON_AddArrayToObject(s, "population");
    for (int i = 0; i < r->arc.n_population; i++)
        cJSON_AddItemToArray(pop,
                             cJSON_CreateNumber((double)r->arc.all[r->arc.population[i]].row.id));
    cJSON_AddNumberToObject(s, "hypervolume3", m.hv3);
    cJSON_AddNumberToObject(s, "candidates_ok", m.ok);
    cJSON_AddNumberToObject(s, "duplicates", r->count.duplicates);
    cJSON_AddNumberToObject(s, "near_duplicates", r->count.near_duplicates);
    cJSON_AddNumberToObject(s, "cached", r->count.cached);
    cJSON_AddNumberToObject(s, "invalid", r->count.invalid);
    cJSON_AddNumberToObject(s, "fallbacks", r->count.fallbacks);
    if (r->count.event) { /* the asynchronous search's record (async.c) */
        cJSON_AddStringToObject(s, "event", r->count.event);
        cJSON *merged = cJSON_AddArrayToObject(s, "merged");
        const int64_t k = r->count.merged_rungs;
        for (int i = 0; i < r->count.n_merged; i++) {
            int64_t e = r->count.merged[i];
            if (!k) {
                cJSON_AddItemToArray(merged, cJSON_CreateNumber((double)e));
                continue;
            }
            cJSON *pair = cJSON_CreateArray(); /* under the pruner: [id, rung] */
            cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)(e / k)));
            cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)(e % k)));
            cJSON_AddItemToArray(merged, pair);
        }
    }
    if (uh_limits_any(&r->cfg.limits)) { /* which limits the invalid children broke */
        cJSON *o = cJSON_AddObjectToObject(s, "over_limit");
        for (int k = UH_LIMIT_ENERGY; k < UH_LIMIT_COUNT; k++)
            cJSON_AddNumberToObject(o, uh_limit_name((uh_limit_t)k), r->count.over_limit[k]);
    }
    if (r->count.extra_state[0]) {
        cJSON *extra = cJSON_Parse(r->count.extra_state);
        if (extra) cJSON_AddItemToObject(s, "strategy", extra);
    }
    if (r->hooks.executor && r->hooks.executor->take_state) {
        char ex_state[UH_SEARCH_OP_STATE_MAX] = "";
        r->hooks.executor->take_state(r->hooks.executor->ctx, ex_state, sizeof ex_state);
        cJSON *o = ex_state[0] ? cJSON_Parse(ex_state) : NULL;
        if (o) cJSON_AddItemToObject(s, "workers", o);
    }
    if (r->hooks.op->take_state) {
        char op_state[UH_SEARCH_OP_STATE_MAX] = "";
        r->hooks.op->take_state(r->hooks.op->ctx, op_state, sizeof op_state);
        cJSON *o = op_state[0] ? cJSON_Parse(op_state) : NULL;
        if (o) cJSON_AddItemToObject(s, "operator", o);
    }
    char *text = cJSON_PrintUnformatted(s);
    cJSON_Delete(s);
    if (!text) return uh_error_set(err, UH_ENOMEM, "out of memory");
    uh_gen_metrics_t gm = {m.hv, m.diversity, m.front_size};
    if (defer) {
        rc = defer_generation(r, r->count.generation, text, &gm, err);
    } else {
        rc = search_flush_generations(r, err);
        if (!rc) rc = uh_store_put_generation(r->env.store, r->count.generation, text, &gm, err);
        free(text);
    }
    search_reset_counts(r);
    summarise(r, &m);
    if (!rc && r->hooks.progress && !(r->count.event && strcmp(r->count.event, "end") != 0)) {
        uh_search_progress_t p = {
            r->count.generation, r->cfg.generations, r->count.done, r->budget, NULL, 0, m.hv, 0};
        r->hooks.progress(r->hooks.progress_ctx, &p);
    }
    return rc;
}

/* ---- the final front on the test set -------------------------------------------------- */

typedef struct {
    const member_t *m;
    float *weights; /* stored weights, read before the tasks start */
    size_t n_weights;
    uh_test_result_t result;
} front_test_t;

static int test_member(search_run_t *r, void *ctx, int i, uh_error_t *err) {
    front_test_t *t = &((front_test_t *)ctx)[i];
    const member_t *m = t->m;
    uh_net_t *net = uh_net_new(&m->arch, r->cfg.train.batch, m->row.seed, err);
    if (!net) return err ? err->code : UH_ENOMEM;
    int rc = UH_OK;
    if (t->n_weights != uh_net_n_params(net))
        rc = uh_error_set(err, UH_EFORMAT, "stored weights of %s: %zu values, the network has %zu",
                          m->row.hash, t->n_weights, uh_net_n_params(net));
    uh_mc_result_t mc;
    if (!rc) {
        memcpy(uh_net_params(net), t->weights, t->n_weights * sizeof *t->weights);
        rc = uh_backend_evaluate(r->env.backend, net, r->env.test, r->cfg.mc,
                                 m->row.seed ^ 0x74657374ull, &mc, err);
    }
    if (!rc)
        t->result =
            (uh_test_result_t){mc.clean_accuracy, mc.noisy_accuracy, mc.noisy_std, r->cfg.mc};
    uh_net_free(net);
    return rc;
}

static int store_test_result(search_run_t *r, void *ctx, int i, uh_error_t *err) {
    front_test_t *t = &((front_test_t *)ctx)[i];
    return uh_store_put_test_result(r->env.store, t->m->row.hash, &t->result, err);
}

/* The final front's members not yet measured on the test set, from their stored weights. */
int search_test_front(search_run_t *r, uh_error_t *err) {
    int *front, n, rc = search_archive_front(r, &front, &n, err);
    if (rc) return rc;
    front_test_t *todo = calloc((size_t)n + 1, sizeof *todo);
    int n_todo = 0;
    if (!todo) rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    for (int i = 0; !rc && i < n; i++) {
        front_test_t *t = &todo[n_todo];
        t->m = &r->arc.all[front[i]];
        rc = uh_store_get_test_result(r->env.store, t->m->row.hash, &t->result, err);
        if (rc != UH_ENOTFOUND) continue; /* measured already, or a damaged row: an error */
        rc = uh_store_get_weights(r->env.store, t->m->row.hash, &t->weights, &t->n_weights, err);
        if (!rc) n_todo++;
    }
    if (!rc) rc = run_tasks(r, n_todo, test_member, store_test_result, todo, err);
    for (int i = 0; todo && i < n_todo; i++) free(todo[i].weights);
    free(todo);
    free(front);
    return rc;
}

/* ---- set-up and the loop ------------------------------------------------------------ */

int uh_search_load_data(const uh_search_config_t *cfg, uh_dataset_t **train, uh_dataset_t **val,
                        uh_dataset_t **test, uh_error_t *err) {
    uh_data_opts_t o = {.data_dir = cfg->data_dir[0] ? cfg->data_dir : NULL,
                        .limit_train = cfg->limit_train,
                        .limit_test = cfg->limit_test};
    uh_dataset_t *full = NULL;
    *train = *val = *test = NULL;
    int rc = uh_dataset_load(cfg->dataset, &o, &full, test, err);
    if (!rc)
        rc = uh_dataset_split(full, cfg->val_fraction, uh_search_split_seed(cfg), train, val, err);
    uh_dataset_free(full);
    return rc;
}

void uh_search_eval_config(const uh_search_config_t *cfg, uh_eval_config_t *ec) {
    *ec = (uh_eval_config_t){.train = cfg->train, .mc = cfg->mc, .noise_aware = cfg->noise_aware};
    ec->train.threads = 0; /* the caller's one thread: see run_tasks */
}

int uh_search_cost_zero(const uh_backend_t *b, uh_shape_t in, double zero[3], uh_error_t *err) {
    uh_arch_t lin = {0};
    lin.n_layers = 1;
    lin.layers[0].type = UH_LAYER_DENSE;
    lin.layers[0].units = in.n_classes;
    uh_energy_t e;
    int rc = uh_arch_resolve(&lin, in, err);
    if (!rc) rc = uh_backend_energy(b, &lin, &e, err);
    if (!rc && !(e.total_nj > 0))
        rc = uh_error_set(err, UH_EINVAL, "backend %s gives no energy for a linear classifier",
                          uh_backend_name(b));
    if (!rc) {
        zero[0] = log10(e.total_nj);
        zero[1] = e.latency_ns > 0 ? log10(e.latency_ns) : NAN;
        zero[2] = e.footprint.area_mm2 > 0 ? log10(e.footprint.area_mm2) : NAN;
    }
    return rc;
}

int uh_search_energy_zero(const uh_backend_t *b, uh_shape_t in, double *log_e_lin,
                          uh_error_t *err) {
    double zero[3];
    int rc = uh_search_cost_zero(b, in, zero, err);
    if (!rc) *log_e_lin = zero[0];
    return rc;
}

static int energy_scale(search_run_t *r, uh_error_t *err) {
    uh_shape_t in = {r->env.train->c, r->env.train->h, r->env.train->w, r->env.train->n_classes};
    r->env.chance_error = 1 - 1.0 / in.n_classes;
    return uh_search_cost_zero(r->env.backend, in, r->env.zero, err);
}

static int run_loop(search_run_t *r, uh_error_t *err) {
    if (r->cfg.async) return search_async_run(r, err);
    uh_rng_t rng;
    uh_rng_seed_stream(&rng, r->cfg.seed, search_stream(0));
    r->arc.population = malloc((size_t)(r->cfg.population + r->cfg.children + 1) * sizeof(int));
    if (!r->arc.population) return uh_error_set(err, UH_ENOMEM, "out of memory");
    int rc = search_take_samples(r, r->cfg.population, &rng, r->arc.population, err);
    r->arc.n_population = 0;
    for (int i = 0; !rc && i < r->cfg.population; i++) /* failed candidates never breed */
        if (r->arc.population[i] >= 0 && r->arc.all[r->arc.population[i]].ok)
            r->arc.population[r->arc.n_population++] = r->arc.population[i];
    if (!rc) rc = search_end_generation(r, err);
    const search_strategy_t *s = r->strategy;
    for (int g = 1; !rc && g <= r->cfg.generations; g++) {
        r->count.generation = g;
        uh_rng_seed_stream(&rng, r->cfg.seed, search_stream(g));
        if (g == 1 && s->init) rc = s->init(r, &r->strategy_state, err);
        if (!rc) rc = s->generation(r, r->strategy_state, &rng, err);
        if (!rc) rc = search_end_generation(r, err);
    }
    if (!rc) rc = search_test_front(r, err);
    return rc;
}

/* Everything but the loop: the config, data, scales and space (on the caller's threads). */
static int set_up(search_run_t *r, uh_store_t *store, const uh_search_opts_t *opts,
                  uh_error_t *err) {
    int rc = uh_store_lock_run(store, err);
    if (!rc) rc = uh_search_config_parse(uh_store_config(store), &r->cfg, &r->env.backend, err);
    if (!rc && opts->data_dir &&
        snprintf(r->cfg.data_dir, sizeof r->cfg.data_dir, "%s", opts->data_dir) >=
            (int)sizeof r->cfg.data_dir)
        rc = uh_error_set(err, UH_EINVAL, "data directory: path too long");
    if (rc) return rc;
    r->budget = r->cfg.population + r->cfg.generations * r->cfg.children;
    r->k = r->cfg.n_goals;
    r->env.seed_base = uh_search_seed_base(&r->cfg, r->env.backend);
    r->strategy = &SEARCH_STRATEGIES[r->cfg.strategy];
    if ((rc = uh_search_async_check(&r->cfg, err))) return rc;
    if (uh_strategy_needs_model(r->cfg.strategy) && !opts->op) /* NULL: the classic one */
        return uh_error_set(err, UH_EINVAL, "strategy %s needs a language-model operator",
                            uh_strategy_name(r->cfg.strategy));
    rc = uh_search_load_data(&r->cfg, &r->env.train, &r->env.val, &r->env.test, err);
    if (!rc && opts->cache) { /* what the cache's descriptions name the backend and data by */
        r->env.backend_digest = fnv1a(UH_FNV1A_BASIS, uh_backend_text(r->env.backend));
        r->env.data_digest = data_digest(r->env.val, data_digest(r->env.train, UH_FNV1A_BASIS));
    }
    if (!rc) rc = energy_scale(r, err);
    r->env.n_rung_epochs = uh_pruner_rungs(&r->cfg, r->env.rung_epochs);
    if (!rc && r->cfg.pruner == UH_PRUNER_ASHA)
        rc = uh_store_rungs(store, &r->env.rungs, &r->env.n_rungs, err);
    if (!rc) {
        uh_shape_t in = {r->env.train->c, r->env.train->h, r->env.train->w,
                         r->env.train->n_classes};
        rc = uh_space_init(&r->env.space, r->env.backend, in, err);
        r->env.space.limits = r->cfg.limits;
        r->env.space.sampler = r->cfg.sampler;
        r->env.space.depth_caps = r->cfg.depth_caps;
    }
    return rc;
}

int uh_search_async_check(const uh_search_config_t *cfg, uh_error_t *err) {
    if (!cfg->async) return UH_OK;
    if (!SEARCH_STRATEGIES[cfg->strategy].propose)
        return uh_error_set(err, UH_EINVAL,
                            "asynchronous search: strategy %s has none (it decides a batch at a "
                            "time); nsga2, llm, evolution and random have",
                            uh_strategy_name(cfg->strategy));
    return UH_OK;
}

int search_default_jobs(void) {
    uh_cpu_share_t share;
    uh_cpu_share(&share);
    return share.free;
}

int uh_search_run(uh_store_t *store, const uh_search_opts_t *opts, uh_search_summary_t *summary,
                  uh_error_t *err) {
    static const uh_search_opts_t defaults = {0};
    if (!opts) opts = &defaults;
    search_run_t r = {.env.store = store,
                      .hooks = {.op = opts->op ? opts->op : &uh_operator_classic,
                                .executor = opts->executor,
                                .progress = opts->progress,
                                .progress_ctx = opts->progress_ctx,
                                .stop = opts->stop,
                                .jobs = opts->jobs > 0 ? opts->jobs : search_default_jobs(),
                                .cache = opts->cache,
                                .summary = summary}};
    if (summary) memset(summary, 0, sizeof *summary);
    /* Everything outside run_tasks (predictor fits included) runs on this one thread too, so
     * no decision depends on the machine's core count; the caller gets its count back. */
    int threads = omp_get_max_threads();
    int rc = set_up(&r, store, opts, err);
    omp_set_num_threads(1);
    if (!rc) rc = run_loop(&r, err);
    omp_set_num_threads(threads);
    if (r.strategy && r.strategy->free) r.strategy->free(r.strategy_state);
    free(r.arc.population);
    free(r.arc.all);
    free(r.env.rungs);
    for (int i = 0; i < r.n_deferred; i++) free(r.deferred[i].text);
    free(r.deferred);
    uh_dataset_free(r.env.train);
    uh_dataset_free(r.env.val);
    uh_dataset_free(r.env.test);
    uh_backend_free(r.env.backend);
    return rc;
}
