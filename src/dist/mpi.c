/* Candidate evaluation over MPI (see uhnas/dist.h). */
#include "uhnas/dist.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef UHNAS_MPI
#include <mpi.h>
#include <omp.h>

#include "uhnas/nn.h"

enum { TAG_JOB = 1, TAG_STOP = 2, TAG_RESULT = 3, TAG_WEIGHTS = 4 };

/* A result's fixed part. */
typedef struct {
    int32_t index, ok, code, reserved; /* code: the failure's UH_E* code when !ok */
    double accuracy, noisy_accuracy, noisy_std, energy_nj, latency_ns, area_mm2, train_seconds;
    uint64_t n_weights;
    char message[UH_ERROR_MSG_MAX];
} result_msg_t;

typedef struct {
    long candidates;
    double busy_s; /* from a job's dispatch to its result */
    double sent_at;
} worker_t;

struct uh_mpi {
    int rank, size;
    int started, finished;
    double start;
    double blocked_s, coordination_s;
    long candidates;
    worker_t *workers; /* [size], rank 0 */
};

static double now_s(void) {
    return MPI_Wtime();
}

/* Waits for a message without spinning: MPI_Probe would hold a core at 100 % for the seconds
 * a candidate trains, taking it from a worker on the same node; a millisecond's poll costs
 * nothing next to that. */
static void wait_message(int source, int tag, MPI_Status *st) {
    for (int flag = 0;;) {
        MPI_Iprobe(source, tag, MPI_COMM_WORLD, &flag, st);
        if (flag) return;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
}

int uh_mpi_library(char *buf, size_t size) {
    char name[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(name, &len);
    name[sizeof name - 1] = '\0';
    char *end = strpbrk(name, ",\n");
    if (end) *end = '\0';
    snprintf(buf, size, "%s", name);
    return 1;
}

int uh_mpi_init(int *argc, char ***argv, uh_mpi_t **out, uh_error_t *err) {
    *out = NULL;
    /* only under a launcher: a plain run must not start an MPI runtime */
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK") && !getenv("PMI_RANK"))
        return UH_OK;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) return uh_error_set(err, UH_EIO, "MPI_Init failed");
    uh_mpi_t *m = calloc(1, sizeof *m);
    if (!m) {
        MPI_Abort(MPI_COMM_WORLD, 1);
        return uh_error_set(err, UH_ENOMEM, "out of memory");
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &m->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &m->size);
    *out = m;
    return UH_OK;
}

int uh_mpi_rank(const uh_mpi_t *m) {
    return m ? m->rank : 0;
}
int uh_mpi_size(const uh_mpi_t *m) {
    return m ? m->size : 1;
}

/* Each worker → rank 0, once it has the config: whether it can train, and with which
 * OpenBLAS kernels (a candidate's floats depend on them, so every rank must use rank 0's). */
typedef struct {
    int32_t code, reserved; /* code: why it cannot train (UH_E*), or 0 */
    char kernels[32];
    char message[UH_ERROR_MSG_MAX];
} ready_msg_t;

/* Rank 0 → all: the config's length and text (length 0: no run, stop). */
static void broadcast_config(const char *config) {
    int64_t len = config ? (int64_t)strlen(config) + 1 : 0;
    MPI_Bcast(&len, 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
    if (len > 0) MPI_Bcast((void *)config, (int)len, MPI_CHAR, 0, MPI_COMM_WORLD);
}

/* ---- rank 0: the executor ----------------------------------------------------------- */

/* A job's message: this header, then arch_len bytes of canonical JSON, then n_weights floats
 * to continue from (the pruner's rungs). */
typedef struct {
    int32_t index, first_epoch, epochs, mc; /* mc 0: the run's */
    uint64_t seed, arch_len, n_weights;
} job_msg_t;

static void send_job(uh_mpi_t *m, int worker, const uh_remote_job_t *job) {
    job_msg_t h = {job->index,
                   job->first_epoch,
                   job->epochs,
                   job->mc,
                   job->seed,
                   strlen(job->arch),
                   job->start_weights ? job->n_start_weights : 0};
    size_t wbytes = (size_t)h.n_weights * sizeof(float), len = sizeof h + h.arch_len + wbytes;
    /* MPI counts are ints; weights are far below (UH_ARCH_MAX_PARAMS floats) */
    if (len > INT_MAX) MPI_Abort(MPI_COMM_WORLD, 2);
    unsigned char *buf = malloc(len);
    if (!buf) MPI_Abort(MPI_COMM_WORLD, 2);
    memcpy(buf, &h, sizeof h);
    memcpy(buf + sizeof h, job->arch, h.arch_len);
    if (wbytes) memcpy(buf + sizeof h + h.arch_len, job->start_weights, wbytes);
    MPI_Send(buf, (int)len, MPI_BYTE, worker, TAG_JOB, MPI_COMM_WORLD);
    free(buf);
    m->workers[worker].sent_at = now_s();
}

/* The next result from any worker: which worker, and the result (weights included). */
static int receive_result(uh_mpi_t *m, int *worker, uh_remote_result_t *r) {
    MPI_Status st;
    double t0 = now_s();
    wait_message(MPI_ANY_SOURCE, TAG_RESULT, &st);
    m->blocked_s += now_s() - t0;
    *worker = st.MPI_SOURCE;
    result_msg_t msg;
    MPI_Recv(&msg, (int)sizeof msg, MPI_BYTE, *worker, TAG_RESULT, MPI_COMM_WORLD,
             MPI_STATUS_IGNORE);
    memset(r, 0, sizeof *r);
    r->index = msg.index;
    r->ok = msg.ok;
    r->code = msg.code;
    msg.message[sizeof msg.message - 1] = '\0';
    snprintf(r->message, sizeof r->message, "%s", msg.message);
    r->result = (uh_eval_result_t){.accuracy = msg.accuracy,
                                   .noisy_accuracy = msg.noisy_accuracy,
                                   .noisy_std = msg.noisy_std,
                                   .energy_nj = msg.energy_nj,
                                   .latency_ns = msg.latency_ns,
                                   .area_mm2 = msg.area_mm2,
                                   .train_seconds = msg.train_seconds};
    if (msg.n_weights > 0) {
        r->weights = malloc((size_t)msg.n_weights * sizeof *r->weights);
        if (!r->weights) return UH_ENOMEM;
        MPI_Recv(r->weights, (int)msg.n_weights, MPI_FLOAT, *worker, TAG_WEIGHTS, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
        r->n_weights = (size_t)msg.n_weights;
    }
    worker_t *w = &m->workers[*worker];
    w->busy_s += now_s() - w->sent_at;
    w->candidates++;
    m->candidates++;
    return UH_OK;
}

/* Sends the next job to worker w if there is one: *sent says whether. */
static int feed(uh_mpi_t *m, int w, uh_remote_next_fn next, void *ctx, atomic_int *stop, int *sent,
                uh_error_t *err) {
    *sent = 0;
    if (stop && atomic_load(stop)) return UH_OK;
    uh_remote_job_t job;
    int rc = next(ctx, &job, sent, err);
    if (!rc && *sent) send_job(m, w, &job);
    return rc;
}

static int mpi_run(void *ctx, uh_remote_next_fn next, uh_remote_done_fn done, void *cb_ctx,
                   atomic_int *stop, uh_error_t *err) {
    uh_mpi_t *m = ctx;
    double t0 = now_s(), blocked0 = m->blocked_s;
    int running = 0, rc = UH_OK, sent = 1, done_failed = 0;
    /* idle[0..n_idle): workers without a job, asked for again after each result */
    int *idle = malloc((size_t)m->size * sizeof *idle), n_idle = 0;
    if (!idle) return uh_error_set(err, UH_ENOMEM, "out of memory");
    for (int w = 1; w < m->size; w++) idle[n_idle++] = w;
    for (;;) {
        while (!rc && n_idle > 0 &&
               (rc = feed(m, idle[n_idle - 1], next, cb_ctx, stop, &sent, err)) == UH_OK && sent) {
            n_idle--;
            running++;
        }
        if (running == 0) break;
        int worker;
        uh_remote_result_t r;
        if (receive_result(m, &worker, &r)) {
            MPI_Abort(MPI_COMM_WORLD, 2); /* cannot drain the message: the job cannot go on */
            free(idle);
            return uh_error_set(err, UH_ENOMEM, "out of memory receiving weights");
        }
        running--;
        idle[n_idle++] = worker; /* fed at the top of the loop, once the result is in: a
                                    steady-state search decides with it */
        if (!done_failed) {      /* after next failed too: a trained result is still stored */
            uh_error_t e = {0};
            int d = done(cb_ctx, &r, &e);
            if (d && !rc && err) *err = e;
            if (d) done_failed = 1, rc = rc ? rc : d;
        }
        free(r.weights);
    }
    free(idle);
    m->coordination_s += (now_s() - t0) - (m->blocked_s - blocked0);
    return rc;
}

static void mpi_take_state(void *ctx, char *buf, size_t size) {
    uh_mpi_t *m = ctx;
    double wall = now_s() - m->start;
    size_t used = (size_t)snprintf(
        buf, size, "{\"wall_s\":%.3f,\"coordination_s\":%.3f,\"ranks\":[", wall, m->coordination_s);
    for (int w = 1; w < m->size && used < size; w++)
        used += (size_t)snprintf(
            buf + used, size - used,
            "%s{\"rank\":%d,\"candidates\":%ld,\"busy_s\":%.3f,\"idle_s\":%.3f}", w > 1 ? "," : "",
            w, m->workers[w].candidates, m->workers[w].busy_s, wall - m->workers[w].busy_s);
    if (used + 3 <= size)
        strcpy(buf + used, "]}");
    else if (size)
        buf[0] = '\0'; /* too many ranks for the state: nothing rather than broken JSON */
}

int uh_mpi_start(uh_mpi_t *m, const char *config_json, uh_executor_t *ex, uh_error_t *err) {
    if (m->rank != 0) return uh_error_set(err, UH_EINVAL, "uh_mpi_start is rank 0's");
    if (m->size < 2) return uh_error_set(err, UH_EINVAL, "no MPI workers (run with -np 2 or more)");
    m->workers = calloc((size_t)m->size, sizeof *m->workers);
    if (!m->workers) return uh_error_set(err, UH_ENOMEM, "out of memory");
    broadcast_config(config_json);
    m->started = 1; /* the workers serve from here on: uh_mpi_finish stops them */
    m->start = now_s();
    ready_msg_t mine = {0}, *ready = calloc((size_t)m->size, sizeof *ready);
    if (!ready) MPI_Abort(MPI_COMM_WORLD, 2); /* the workers wait in the gather */
    MPI_Gather(&mine, (int)sizeof mine, MPI_BYTE, ready, (int)sizeof mine, MPI_BYTE, 0,
               MPI_COMM_WORLD);
    const char *own = uh_nn_blas_kernels();
    int rc = UH_OK;
    for (int w = 1; w < m->size && !rc; w++) {
        ready_msg_t *r = &ready[w];
        r->kernels[sizeof r->kernels - 1] = r->message[sizeof r->message - 1] = '\0';
        if (r->code)
            rc = uh_error_set(err, r->code, "worker %d cannot train: %s", w, r->message);
        else if (strcmp(r->kernels, own) != 0)
            rc = uh_error_set(err, UH_EINVAL,
                              "worker %d computes with OpenBLAS's %s kernels and rank 0 with %s: a "
                              "candidate's result would depend on the rank that trained it (set "
                              "OPENBLAS_CORETYPE=%s on every rank, where the CPUs have its "
                              "instructions; docs/user-guide.md, Reproducibility)",
                              w, r->kernels, own, own);
    }
    free(ready);
    *ex = (uh_executor_t){mpi_run, mpi_take_state, m};
    return rc;
}

void uh_mpi_stats(const uh_mpi_t *m, uh_mpi_stats_t *s) {
    memset(s, 0, sizeof *s);
    if (!m || !m->started) return;
    *s = (uh_mpi_stats_t){m->size - 1, m->candidates, now_s() - m->start, m->blocked_s,
                          m->coordination_s};
}

void uh_mpi_print_workers(const uh_mpi_t *m, FILE *out) {
    if (!m || !m->started) return;
    double wall = now_s() - m->start;
    for (int w = 1; w < m->size; w++) {
        const worker_t *x = &m->workers[w];
        fprintf(out, "  worker %d: %ld candidates, %.2f per minute, idle %.0f%%\n", w,
                x->candidates, wall > 0 ? 60.0 * (double)x->candidates / wall : 0,
                wall > 0 ? 100 * (wall - x->busy_s) / wall : 0);
    }
}

/* ---- workers ------------------------------------------------------------------------- */

typedef struct {
    uh_search_config_t cfg;
    uh_backend_t *backend;
    uh_dataset_t *train, *val, *test;
    uh_eval_config_t ec;
    uh_error_t setup; /* why this worker cannot train (told rank 0, which then refuses) */
} worker_state_t;

static void evaluate_job(worker_state_t *ws, const unsigned char *buf, size_t len, int rank) {
    result_msg_t msg;
    memset(&msg, 0, sizeof msg);
    job_msg_t h;
    memcpy(&h, buf, sizeof h);
    msg.index = h.index;
    uh_error_t e = {0};
    float *w = NULL, *start = NULL;
    size_t n = 0;
    uh_eval_result_t res;
    size_t rest = len - sizeof h;
    int epochs = ws->ec.train.epochs; /* a rung lies within the run's epochs */
    if (h.mc < 0 || h.mc > ws->ec.mc || h.arch_len > rest ||
        h.n_weights != (rest - h.arch_len) / sizeof(float) ||
        (rest - h.arch_len) % sizeof(float) != 0 || h.epochs < 0 || h.epochs > epochs ||
        h.first_epoch < 0 || h.first_epoch > epochs - h.epochs || (!h.epochs && h.first_epoch))
        uh_error_set(&e, UH_EFORMAT, "malformed job message (%zu bytes)", len);
    if (!e.code && h.n_weights) { /* copied: the message's floats need not be aligned */
        start = malloc((size_t)h.n_weights * sizeof *start);
        if (!start)
            uh_error_set(&e, UH_ENOMEM, "out of memory");
        else
            memcpy(start, buf + sizeof h + h.arch_len, (size_t)h.n_weights * sizeof *start);
    }
    if (!e.code) {
        uh_remote_job_t job = {.seed = h.seed,
                               .first_epoch = h.first_epoch,
                               .epochs = h.epochs,
                               .mc = h.mc,
                               .start_weights = start,
                               .n_start_weights = (size_t)h.n_weights};
        uh_search_evaluate_job(ws->backend, ws->train, ws->val, &ws->ec, &job,
                               (const char *)buf + sizeof h, (size_t)h.arch_len, &res, &w, &n, &e);
    }
    free(start);
    if (e.code) {
        msg.code = e.code;
        snprintf(msg.message, sizeof msg.message, "worker %d: %.480s", rank, e.msg);
        free(w);
        w = NULL, n = 0;
    } else {
        msg.ok = 1;
        msg.accuracy = res.accuracy;
        msg.noisy_accuracy = res.noisy_accuracy;
        msg.noisy_std = res.noisy_std;
        msg.energy_nj = res.energy_nj;
        msg.latency_ns = res.latency_ns;
        msg.area_mm2 = res.area_mm2;
        msg.train_seconds = res.train_seconds;
        msg.n_weights = n;
    }
    MPI_Send(&msg, (int)sizeof msg, MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD);
    if (n) MPI_Send(w, (int)n, MPI_FLOAT, 0, TAG_WEIGHTS, MPI_COMM_WORLD);
    free(w);
}

int uh_mpi_serve(uh_mpi_t *m, uh_error_t *err) {
    (void)err;
    int64_t len = 0;
    MPI_Bcast(&len, 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
    if (len <= 0) return UH_OK; /* rank 0 had no run */
    char *config = malloc((size_t)len);
    if (!config) MPI_Abort(MPI_COMM_WORLD, 2);
    MPI_Bcast(config, (int)len, MPI_CHAR, 0, MPI_COMM_WORLD);
    config[len - 1] = '\0';
    worker_state_t ws;
    memset(&ws, 0, sizeof ws);
    omp_set_num_threads(1); /* as the search's own tasks: the same floats */
    if (!uh_search_config_parse(config, &ws.cfg, &ws.backend, &ws.setup))
        uh_search_load_data(&ws.cfg, &ws.train, &ws.val, &ws.test, &ws.setup);
    uh_search_eval_config(&ws.cfg, &ws.ec);
    free(config);
    ready_msg_t ready = {.code = ws.setup.code};
    snprintf(ready.kernels, sizeof ready.kernels, "%s", uh_nn_blas_kernels());
    snprintf(ready.message, sizeof ready.message, "%s", ws.setup.msg);
    MPI_Gather(&ready, (int)sizeof ready, MPI_BYTE, NULL, 0, MPI_BYTE, 0, MPI_COMM_WORLD);
    for (;;) {
        MPI_Status st;
        wait_message(0, MPI_ANY_TAG, &st);
        int count;
        MPI_Get_count(&st, MPI_BYTE, &count);
        unsigned char *buf = malloc((size_t)count + 1);
        if (!buf) MPI_Abort(MPI_COMM_WORLD, 2);
        MPI_Recv(buf, count, MPI_BYTE, 0, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (st.MPI_TAG == TAG_JOB && count >= (int)sizeof(job_msg_t))
            evaluate_job(&ws, buf, (size_t)count, m->rank);
        free(buf);
        if (st.MPI_TAG == TAG_STOP) break;
    }
    uh_dataset_free(ws.train);
    uh_dataset_free(ws.val);
    uh_dataset_free(ws.test);
    uh_backend_free(ws.backend);
    return UH_OK;
}

void uh_mpi_finish(uh_mpi_t *m) {
    if (!m) return;
    if (m->rank == 0) {
        if (!m->started)
            broadcast_config(NULL);
        else
            for (int w = 1; w < m->size; w++)
                MPI_Send(NULL, 0, MPI_BYTE, w, TAG_STOP, MPI_COMM_WORLD);
    }
    free(m->workers);
    free(m);
    MPI_Finalize();
}

#else /* built without MPI: no launch is ever detected */

struct uh_mpi {
    int unused;
};

int uh_mpi_library(char *buf, size_t size) {
    snprintf(buf, size, "off");
    return 0;
}

int uh_mpi_init(int *argc, char ***argv, uh_mpi_t **out, uh_error_t *err) {
    (void)argc, (void)argv, (void)err;
    *out = NULL;
    return UH_OK;
}

int uh_mpi_rank(const uh_mpi_t *m) {
    return (void)m, 0;
}
int uh_mpi_size(const uh_mpi_t *m) {
    return (void)m, 1;
}

int uh_mpi_start(uh_mpi_t *m, const char *config_json, uh_executor_t *ex, uh_error_t *err) {
    (void)m, (void)config_json, (void)ex;
    return uh_error_set(err, UH_EINVAL, "this uhnas was built without MPI");
}

int uh_mpi_serve(uh_mpi_t *m, uh_error_t *err) {
    (void)m;
    return uh_error_set(err, UH_EINVAL, "this uhnas was built without MPI");
}

void uh_mpi_stats(const uh_mpi_t *m, uh_mpi_stats_t *s) {
    (void)m;
    memset(s, 0, sizeof *s);
}

void uh_mpi_print_workers(const uh_mpi_t *m, FILE *out) {
    (void)m, (void)out;
}

void uh_mpi_finish(uh_mpi_t *m) {
    (void)m;
}

#endif
