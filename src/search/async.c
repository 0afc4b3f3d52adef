/* The asynchronous steady-state search (uhnas/search.h, "Asynchronous steady state").
 *
 * Two events move the run: a worker asks for a job (next: the queue's first child, deciding
 * a batch when the queue is empty) and a result arrives (done: committed, then merged into
 * the population). Both run one at a time, on whichever thread the executor calls them from.
 * A decision reads the population, which depends on the order results were merged in, so
 * each decision is recorded (a generation row: the ids merged since the record before, in
 * order), written in the commit of the next candidate to be stored, so that it is durable
 * before any row it decided and costs no commit of its own. A decision lost in a crash
 * decided nothing stored, and resume makes it again. `resume` replays the records, then goes
 * on live. */
#include <cjson/cJSON.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search_internal.h"

/* Archive indices waiting for a worker, first in first out: at[head..n). */
typedef struct {
    int *at;
    int head, n, cap;
} queue_t;

typedef struct {
    search_run_t *r;
    job_t *jobs; /* by archive index: the job each member came from */
    int cap_jobs;
    queue_t fresh;    /* new children */
    queue_t promoted; /* under the pruner: members going on to their next rung, served first */
    /* what was merged since the last record, in merge order: ids, or under the pruner
     * id x MERGE_RUNGS + the rung measured */
    int64_t *merged;
    int n_merged, cap_merged;
    int decided;   /* budget slots decided (a slot spent on a duplicate too) */
    int batches;   /* batches decided: the next one's generation number */
    int replaying; /* deciding batches already recorded: nothing is written */
} async_t;

enum { MERGE_RUNGS = 16 }; /* > UH_PRUNER_MAX_RUNGS */

static int grow(void **p, int *cap, int need, size_t size, uh_error_t *err);

static int push(queue_t *q, int i, uh_error_t *err) {
    int rc = grow((void **)&q->at, &q->cap, q->n + 1, sizeof *q->at, err);
    if (!rc) q->at[q->n++] = i;
    return rc;
}

static int pop(queue_t *q) {
    return q->head < q->n ? q->at[q->head++] : -1;
}

static int grow(void **p, int *cap, int need, size_t size, uh_error_t *err) {
    if (need <= *cap) return UH_OK;
    int c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *q = realloc(*p, (size_t)c * size);
    if (!q) return uh_error_set(err, UH_ENOMEM, "out of memory");
    *p = q;
    *cap = c;
    return UH_OK;
}

static int log_merge(async_t *a, int64_t entry, uh_error_t *err) {
    int rc = grow((void **)&a->merged, &a->cap_merged, a->n_merged + 1, sizeof *a->merged, err);
    if (!rc) a->merged[a->n_merged++] = entry;
    return rc;
}

/* Member i's final row joins the run, and the strategy takes it into the population (logged
 * here without the pruner; under it, its last rung's merge was). */
static int merge(async_t *a, int i, uh_error_t *err) {
    search_run_t *r = a->r;
    member_t *m = &r->arc.all[i];
    int rc = r->cfg.pruner == UH_PRUNER_NONE ? log_merge(a, m->row.id, err) : UH_OK;
    if (rc) return rc;
    m->row = a->jobs[i].row;
    m->pending = 0;
    search_member_objectives(r, m);
    return m->ok && r->strategy->merge ? r->strategy->merge(r, r->strategy_state, i, err) : UH_OK;
}

/* Under the pruner, member i's result at rung g joins: it takes part in the rung's ranking
 * from now on, and is decided on at once (the stopping form of asynchronous successive
 * halving): it goes on when it is among the best ceil(N/eta) of the N measured there so far,
 * else its row is final, pruned; after the last rung, or failed, it is final. A stored row
 * keeps its stored fate, and a rung stored after this one means it went on. */
static int merge_rung(async_t *a, int i, int g, uh_error_t *err) {
    search_run_t *r = a->r;
    job_t *job = &a->jobs[i];
    member_t *m = &r->arc.all[i];
    int rc = log_merge(a, (int64_t)m->row.id * MERGE_RUNGS + g, err);
    if (rc) return rc;
    if (job->row.status == UH_CAND_FAILED) return merge(a, i, err); /* committed already */
    m->rung_acc[g][0] = job->rungs[g].accuracy;
    m->rung_acc[g][1] = job->rungs[g].noisy_accuracy;
    m->n_rungs = g + 1;
    int on = g + 1 < job->n_rungs; /* a later rung is stored: it went on */
    if (!on && !job->settled && g + 1 < r->env.n_rung_epochs)
        rc = search_rung_goes_on(r, i, g, &on, err);
    if (rc) return rc;
    if (on) return job->n_rungs == g + 1 ? push(&a->promoted, i, err) : UH_OK;
    rc = search_finish_job(r, job, err); /* ok after the last rung, else pruned */
    return rc ? rc : merge(a, i, err);
}

/* Writes the record of generation r->count.generation: event, the merges since the last. */
static int record(async_t *a, const char *event, uh_error_t *err) {
    search_run_t *r = a->r;
    r->count.event = event;
    r->count.merged = a->merged;
    r->count.n_merged = a->n_merged;
    r->count.merged_rungs = r->cfg.pruner == UH_PRUNER_NONE ? 0 : MERGE_RUNGS;
    int rc = search_end_generation(r, err);
    r->count.event = NULL;
    a->n_merged = 0;
    return rc;
}

/* A replayed decision's counts, and what the operator says it did for it, are in its record:
 * dropped, so that the next record holds its own decision's only. */
static void forget_counts(search_run_t *r) {
    search_reset_counts(r);
    if (r->hooks.op->take_state) {
        char *drained = malloc(UH_SEARCH_OP_STATE_MAX);
        if (drained) r->hooks.op->take_state(r->hooks.op->ctx, drained, UH_SEARCH_OP_STATE_MAX);
        free(drained);
    }
}

/* Merges what the store holds of pending member i and no record has merged: its row, or
 * under the pruner its stored rungs in order (then its row, when it failed before a rung). */
static int merge_stored(async_t *a, int i, uh_error_t *err) {
    const member_t *m = &a->r->arc.all[i];
    const job_t *job = &a->jobs[i];
    if (a->r->cfg.pruner == UH_PRUNER_NONE)
        return m->pending && job->settled ? merge(a, i, err) : UH_OK;
    int rc = UH_OK;
    while (!rc && m->pending && m->n_rungs < job->n_rungs) rc = merge_rung(a, i, m->n_rungs, err);
    if (!rc && m->pending && job->settled) rc = merge_rung(a, i, m->n_rungs, err);
    return rc;
}

/* The batch's jobs join the archive as pending members (settled ones wait for their recorded
 * merge; refused ones are final), the others queue for a worker. */
static int enlist(async_t *a, const batch_t *b, uh_error_t *err) {
    search_run_t *r = a->r;
    int rc = grow((void **)&a->jobs, &a->cap_jobs, r->arc.n_all + b->n_jobs, sizeof *a->jobs, err);
    for (int j = 0; !rc && j < b->n_jobs; j++) {
        job_t *job = &b->jobs[j];
        if (r->cfg.pruner != UH_PRUNER_NONE) search_job_rungs(r, job); /* costs, stored rungs */
        int i = r->arc.n_all;
        if (job->row.id != i + 1) /* a stored row under another id: not this run's record */
            return uh_error_set(err, UH_EFORMAT,
                                "run store: candidate %s is stored as id %lld; replaying the "
                                "run's record makes it id %d (the store was changed?)",
                                job->row.hash, (long long)job->row.id, i + 1);
        a->jobs[i] = *job;
        rc = search_append(r, &job->row, &job->arch, NULL, 0, err);
        if (rc || job->refused) continue;
        member_t *m = &r->arc.all[i];
        m->pending = 1;
        m->ok = 0;
        m->n_rungs = 0; /* its rungs count once merged */
        /* one with stored rungs goes on as their merges decide */
        if (!job->settled && job->n_rungs == 0) rc = push(&a->fresh, i, err);
    }
    /* live, a stored result no record merged (none should exist: a result is stored with the
     * record of its decision) is merged at once rather than left waiting */
    for (int i = r->arc.n_all - b->n_jobs; !rc && !a->replaying && i < r->arc.n_all; i++)
        if (i >= 0) rc = merge_stored(a, i, err);
    return rc;
}

/* Batch g: generation 0's samples, then the strategy's children of the population as it
 * stands (one at a time, a language model's `children` at once), cut to the budget. Recorded
 * before anything of it is stored; a replayed batch finds its stored rows. */
static int decide(async_t *a, int g, uh_error_t *err) {
    search_run_t *r = a->r;
    int n = g == 0 ? r->cfg.population
                   : (uh_strategy_needs_model(r->cfg.strategy) ? r->cfg.children : 1);
    if (n > r->budget - a->decided) n = r->budget - a->decided;
    r->count.generation = g;
    a->batches = g + 1;
    uh_rng_t rng;
    uh_rng_seed_stream(&rng, r->cfg.seed, search_stream(g));
    uh_child_t *children = calloc((size_t)n + 1, sizeof *children);
    const member_t **parents = calloc((size_t)2 * n + 1, sizeof *parents);
    int *slot_job = malloc(((size_t)n + 1) * sizeof *slot_job);
    int *out = malloc(((size_t)n + 1) * sizeof *out);
    batch_t b = {r, calloc((size_t)2 * n + 1, sizeof *b.jobs), 0}; /* a refusal takes two */
    int n_parents = 0;
    int rc = children && parents && slot_job && out && b.jobs
                 ? UH_OK
                 : uh_error_set(err, UH_ENOMEM, "out of memory");
    if (!rc)
        rc = g == 0 ? search_sample_children(r, &rng, n, children, &n_parents, err)
                    : r->strategy->propose(r, r->strategy_state, &rng, n, children, parents,
                                           &n_parents, err);
    if (!rc) rc = search_plan_batch(&b, children, n, parents, n_parents, &rng, slot_job, out, err);
    for (int i = 0; !rc && i < n; i++)
        if (slot_job[i] < 0) r->count.done++; /* a spent slot still counts against the budget */
    a->decided += n;
    if (!rc && !a->replaying) rc = record(a, "decide", err);
    if (!rc && a->replaying) forget_counts(r); /* its record holds them already */
    for (int j = 0; !rc && j < b.n_jobs; j++)  /* settling stores a refusal: its record first */
        if (b.jobs[j].refused) rc = search_flush_generations(r, err);
    if (!rc) rc = search_settle_batch(&b, err);
    if (!rc) rc = enlist(a, &b, err);
    free(children);
    free(parents);
    free(slot_job);
    free(out);
    free(b.jobs);
    return rc;
}

/* The executor asks for a job: the queue's first child, answered from the evaluation cache
 * (committed and merged) when it knows it; an empty queue is a new batch until the budget is
 * decided. */
static int async_next(void *ctx, uh_remote_job_t *job, int *have, uh_error_t *err) {
    async_t *a = ctx;
    search_run_t *r = a->r;
    *have = 0;
    while (!search_stopped(r)) {
        int i = pop(&a->promoted), hit, rc;
        if (i < 0) i = pop(&a->fresh);
        if (i < 0) {
            if (a->decided >= r->budget) break;
            if ((rc = decide(a, a->batches, err))) return rc;
            continue;
        }
        job_t *jb = &a->jobs[i];
        if (r->cfg.pruner == UH_PRUNER_NONE) {
            rc = search_job_from_cache(r, jb, &hit, err);
            if (!rc && hit) rc = merge(a, i, err);
        } else {
            rc = search_rung_from_cache(r, jb, jb->n_rungs, &hit, err);
            if (!rc && hit) rc = merge_rung(a, i, jb->n_rungs - 1, err);
        }
        if (rc) return rc;
        if (hit) continue;
        jb->trained = 1;
        *job = (uh_remote_job_t){.index = i, .arch = jb->row.arch, .seed = jb->row.seed};
        if (r->cfg.pruner != UH_PRUNER_NONE) { /* the next rung, from the weights of the last */
            uh_eval_config_t ec;
            if ((rc = search_rung_eval_config(r, jb, jb->n_rungs, &ec, err))) return rc;
            job->first_epoch = ec.train.first_epoch;
            job->epochs = ec.train.epochs;
            job->mc = ec.mc;
            job->start_weights = ec.start_weights;
            job->n_start_weights = ec.n_start_weights;
        }
        *have = 1;
        break;
    }
    return UH_OK;
}

/* A result arrives: committed like a generational one, then merged. */
static int async_done(void *ctx, uh_remote_result_t *res, uh_error_t *err) {
    async_t *a = ctx;
    search_run_t *r = a->r;
    int i = res->index;
    if (i < 0 || i >= r->arc.n_all || !r->arc.all[i].pending || a->jobs[i].settled)
        return uh_error_set(err, UH_EINVAL, "executor: result for unknown job %d", i);
    job_t *job = &a->jobs[i];
    if (r->cfg.pruner != UH_PRUNER_NONE) { /* a rung: recorded, committed, decided on */
        int g = job->n_rungs;
        uh_error_t eerr;
        search_result_error(res, &eerr);
        int rc = search_rung_measured(r, job, g, &res->result, res->weights, res->n_weights, &eerr,
                                      err); /* returns only the machine failing */
        res->weights = NULL;
        if (!rc)
            rc = job->row.status == UH_CAND_FAILED ? search_finish_job(r, job, err)
                                                   : search_rung_commit(r, job, g, err);
        return rc ? rc : merge_rung(a, i, g, err);
    }
    int rc = search_job_take_result(r, job, res, err);
    if (!rc) rc = search_commit_job(r, job, err);
    return rc ? rc : merge(a, i, err);
}

/* ---- local workers: threads that ask for jobs like MPI ranks -------------------------- */

typedef struct {
    async_t *a;
    pthread_mutex_t lock; /* next, done and everything they touch */
    pthread_cond_t wake;  /* a result is in, or the run is over */
    int running, failed;
    int done_failed; /* results are stored until done itself fails (not after next failed) */
    uh_error_t first;
} local_pool_t;

int uh_search_evaluate_job(const uh_backend_t *b, const uh_dataset_t *train,
                           const uh_dataset_t *val, const uh_eval_config_t *ec,
                           const uh_remote_job_t *job, const char *arch, size_t arch_len,
                           uh_eval_result_t *res, float **weights, size_t *n_weights,
                           uh_error_t *err) {
    *weights = NULL, *n_weights = 0;
    uh_eval_config_t rung = *ec;
    if (job->epochs) rung.train.first_epoch = job->first_epoch, rung.train.epochs = job->epochs;
    if (job->mc) rung.mc = job->mc;
    rung.start_weights = job->start_weights; /* the member's, untouched until this result */
    rung.n_start_weights = job->n_start_weights;
    uh_shape_t in = {train->c, train->h, train->w, train->n_classes};
    uh_arch_t a;
    int rc = uh_arch_parse(arch, arch_len, in, &a, err);
    if (!rc) rc = uh_evaluate(b, &a, train, val, &rung, job->seed, res, weights, n_weights, err);
    if (rc) free(*weights), *weights = NULL, *n_weights = 0;
    return rc;
}

/* One job on a local worker thread, its failure as a result's message. */
static void evaluate(const search_run_t *r, const char *arch, const uh_remote_job_t *job,
                     uh_remote_result_t *out) {
    uh_eval_config_t ec;
    uh_search_eval_config(&r->cfg, &ec);
    uh_error_t e = {0};
    out->ok =
        !uh_search_evaluate_job(r->env.backend, r->env.train, r->env.val, &ec, job, arch,
                                strlen(arch), &out->result, &out->weights, &out->n_weights, &e);
    if (!out->ok) out->code = e.code, snprintf(out->message, sizeof out->message, "%s", e.msg);
}

static void pool_fail(local_pool_t *p, int rc, const uh_error_t *e) {
    if (p->failed) return;
    p->failed = rc;
    p->first = *e;
}

static void *local_worker(void *arg) {
    local_pool_t *p = arg;
    omp_set_num_threads(1); /* the operator's and the training's floats: one thread */
    pthread_mutex_lock(&p->lock);
    while (!p->failed) {
        uh_remote_job_t job;
        uh_error_t e = {0};
        int have = 0, rc = async_next(p->a, &job, &have, &e);
        if (rc) {
            pool_fail(p, rc, &e);
            break;
        }
        if (!have) {
            if (p->running == 0) break; /* nothing to send, nothing to wait for: done */
            pthread_cond_wait(&p->wake, &p->lock);
            continue;
        }
        uh_remote_result_t res = {.index = job.index};
        char *arch = strdup(job.arch); /* the archive may move while this trains */
        if (!arch) {
            uh_error_set(&e, UH_ENOMEM, "out of memory");
            pool_fail(p, UH_ENOMEM, &e);
            break;
        }
        p->running++;
        pthread_mutex_unlock(&p->lock);
        evaluate(p->a->r, arch, &job, &res);
        free(arch);
        pthread_mutex_lock(&p->lock);
        p->running--;
        if (!p->done_failed && (rc = async_done(p->a, &res, &e))) {
            p->done_failed = 1;
            pool_fail(p, rc, &e);
        }
        free(res.weights);
        pthread_cond_broadcast(&p->wake);
    }
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* r->hooks.jobs threads (this one among them) as workers. */
static int run_local(async_t *a, uh_error_t *err) {
    search_run_t *r = a->r;
    int workers = r->hooks.jobs < 1 ? 1 : r->hooks.jobs;
    if (workers > UH_SEARCH_MAX_JOBS) workers = UH_SEARCH_MAX_JOBS;
    local_pool_t p = {.a = a};
    if (pthread_mutex_init(&p.lock, NULL))
        return uh_error_set(err, UH_ENOMEM, "cannot make a lock for the training threads");
    if (pthread_cond_init(&p.wake, NULL)) {
        pthread_mutex_destroy(&p.lock);
        return uh_error_set(err, UH_ENOMEM, "cannot make a condition for the training threads");
    }
    pthread_t helpers[UH_SEARCH_MAX_JOBS];
    int started = 1; /* a thread that cannot be made is a worker less */
    for (; started < workers; started++)
        if (pthread_create(&helpers[started], NULL, local_worker, &p)) break;
    const int own_threads = omp_get_max_threads();
    local_worker(&p);
    omp_set_num_threads(own_threads);
    for (int w = 1; w < started; w++) pthread_join(helpers[w], NULL);
    pthread_cond_destroy(&p.wake);
    pthread_mutex_destroy(&p.lock);
    if (p.failed) {
        if (err) *err = p.first;
        return p.failed;
    }
    return search_stopped(r) ? uh_error_set(err, UH_EINTR, "stopped") : UH_OK;
}

/* ---- replay ------------------------------------------------------------------------- */

/* Record g's event ("decide" or "end") and merged entries (*ids malloc'd): ids, or with
 * rungs > 0 [id, rung] pairs as id × rungs + rung. */
static int read_record(const char *state, int g, int rungs, int *end, int64_t **ids, int *n,
                       uh_error_t *err) {
    cJSON *o = cJSON_Parse(state);
    const cJSON *event = cJSON_GetObjectItemCaseSensitive(o, "event");
    const cJSON *merged = cJSON_GetObjectItemCaseSensitive(o, "merged");
    int rc = UH_OK;
    *ids = NULL;
    *n = 0;
    if (!cJSON_IsString(event) || !cJSON_IsArray(merged) ||
        (strcmp(event->valuestring, "decide") != 0 && strcmp(event->valuestring, "end") != 0))
        rc = uh_error_set(err, UH_EFORMAT,
                          "run store: generation %d is not an asynchronous run's record (event "
                          "\"decide\" or \"end\" and the ids merged)",
                          g);
    int count = rc ? 0 : cJSON_GetArraySize(merged);
    if (!rc && !(*ids = malloc(((size_t)count + 1) * sizeof **ids)))
        rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    const cJSON *id, *list = rc ? NULL : merged;
    cJSON_ArrayForEach(id, list) {
        const cJSON *number = rungs ? cJSON_GetArrayItem(id, 0) : id;
        const cJSON *rung = rungs ? cJSON_GetArrayItem(id, 1) : NULL;
        double v = cJSON_IsNumber(number) ? number->valuedouble : -1;
        double k = rungs ? (cJSON_IsNumber(rung) ? rung->valuedouble : -1) : 0;
        if (!(v >= 1 && v <= 1e12) || v != (double)(int64_t)v ||
            !(k >= 0 && k < UH_PRUNER_MAX_RUNGS) || k != (double)(int)k ||
            (rungs && cJSON_GetArraySize(id) != 2)) {
            rc = uh_error_set(err, UH_EFORMAT, "run store: generation %d merges a bad %s", g,
                              rungs ? "[id, rung]" : "id");
            break;
        }
        (*ids)[(*n)++] = (int64_t)v * (rungs ? rungs : 1) + (int64_t)k;
    }
    if (!rc) *end = strcmp(event->valuestring, "end") == 0;
    cJSON_Delete(o);
    return rc;
}

/* Merges a recorded entry: a stored candidate of the run waiting for its merge (under the
 * pruner, its next rung's stored result, or its stored failure). */
static int merge_recorded(async_t *a, int64_t entry, int g, uh_error_t *err) {
    search_run_t *r = a->r;
    const int pruned = r->cfg.pruner != UH_PRUNER_NONE;
    int64_t i = (pruned ? entry / MERGE_RUNGS : entry) - 1;
    int rung = pruned ? (int)(entry % MERGE_RUNGS) : 0;
    const job_t *job = i >= 0 && i < r->arc.n_all ? &a->jobs[i] : NULL;
    int ok =
        job && r->arc.all[i].pending &&
        (pruned ? rung == r->arc.all[i].n_rungs &&
                      (rung < job->n_rungs || (job->settled && job->row.status == UH_CAND_FAILED))
                : job->settled);
    if (!ok)
        return uh_error_set(err, UH_EFORMAT,
                            "run store: generation %d merges candidate %lld%s, which is not a "
                            "stored result waiting for its merge (the store was changed?)",
                            g, (long long)i + 1, pruned ? " at a rung" : "");
    return pruned ? merge_rung(a, (int)i, rung, err) : merge(a, (int)i, err);
}

/* Replays the recorded batches: *finished when the record ends the run. */
static int replay(async_t *a, int *finished, uh_error_t *err) {
    search_run_t *r = a->r;
    *finished = 0;
    a->replaying = 1;
    int rc = UH_OK;
    for (int g = 0; !rc && !*finished; g++) {
        char *state = NULL;
        rc = uh_store_get_generation(r->env.store, g, &state, NULL, err);
        if (rc == UH_ENOTFOUND) {
            rc = UH_OK;
            break;
        }
        int64_t *ids = NULL;
        int n = 0;
        if (!rc)
            rc = read_record(state, g, r->cfg.pruner == UH_PRUNER_NONE ? 0 : MERGE_RUNGS, finished,
                             &ids, &n, err);
        free(state);
        for (int k = 0; !rc && k < n; k++) rc = merge_recorded(a, ids[k], g, err);
        free(ids);
        a->n_merged = 0;
        if (rc || *finished) break;
        if (a->decided >= r->budget)
            rc = uh_error_set(err, UH_EFORMAT,
                              "run store: generation %d decides beyond the budget (the store "
                              "was changed?)",
                              g);
        else
            rc = decide(a, g, err);
    }
    a->replaying = 0;
    return rc;
}

int search_async_run(search_run_t *r, uh_error_t *err) {
    async_t a = {.r = r};
    r->arc.population = malloc((size_t)(r->cfg.population + 2) * sizeof *r->arc.population);
    if (!r->arc.population) return uh_error_set(err, UH_ENOMEM, "out of memory");
    r->arc.n_population = 0;
    int finished, rc = replay(&a, &finished, err);
    /* results stored after the last record: merged first, in id order (no decision saw them) */
    for (int i = 0; !rc && !finished && i < r->arc.n_all; i++) rc = merge_stored(&a, i, err);
    if (!rc && !finished)
        rc = r->hooks.executor ? search_run_executor(r, async_next, async_done, &a, err)
                               : run_local(&a, err);
    if (!rc && !finished) {
        r->count.generation = a.batches;
        rc = record(&a, "end", err);
    } else if (!rc) {
        rc = search_summarise(r, err); /* a finished run: its figures for the caller */
    }
    if (!rc) rc = search_test_front(r, err);
    for (int i = 0; a.jobs && i < r->arc.n_all; i++) free(a.jobs[i].weights);
    free(a.jobs);
    free(a.fresh.at);
    free(a.promoted.at);
    free(a.merged);
    return rc;
}
