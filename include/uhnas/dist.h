/* uhnas — a search spread over MPI ranks (Open MPI).
 *
 * `mpirun -np N uhnas search …` (or `resume`): rank 0 runs the search and owns the run
 * store; ranks 1..N−1 are workers. Rank 0 broadcasts the run's config; each worker loads the
 * data once and reports that it can train, and with which OpenBLAS kernels (rank 0 refuses
 * to start when one cannot, or computes with other kernels than its own: the rows would then
 * depend on which rank trained what). Then the workers train candidates one at a time,
 * single-threaded, exactly as the
 * search would locally: a job is a candidate's canonical JSON and seed, a result its numbers
 * and trained weights. Rank 0 keeps every worker busy — a free worker gets the next
 * candidate of the batch at once — and commits each result as it arrives under the id the
 * search fixed beforehand, so the rows equal a serial run's. A candidate that fails on a
 * worker (a bad architecture, out of memory) is stored as failed with the worker's message;
 * a dead rank ends the job, and `uhnas resume` (with or without mpirun) continues from the
 * store.
 *
 * Messages (tags): JOB [int32 index][uint64 seed][arch bytes]; STOP; RESULT, a fixed header
 * (same build on every rank); WEIGHTS, float32 values. Built without MPI, uh_mpi_init finds
 * no MPI launch and everything runs locally. */
#ifndef UHNAS_DIST_H
#define UHNAS_DIST_H

#include <stddef.h>
#include <stdio.h>

#include "uhnas/error.h"
#include "uhnas/search.h"

typedef struct uh_mpi uh_mpi_t;

/* The MPI library's name and version ("Open MPI v4.1.4") into buf; 0 when the build has no
 * MPI (buf then says "off"). */
int uh_mpi_library(char *buf, size_t size);

/* When this process was started by mpirun with MPI compiled in: initialises MPI and sets
 * *out (even with one rank); otherwise *out = NULL and nothing happens. */
int uh_mpi_init(int *argc, char ***argv, uh_mpi_t **out, uh_error_t *err);
int uh_mpi_rank(const uh_mpi_t *m);
int uh_mpi_size(const uh_mpi_t *m);

/* Rank 0: gives the workers the run's config and fills ex with the executor that uses them.
 * Fails, naming the worker, when a worker cannot train (its data, its backend) or computes
 * with other OpenBLAS kernels. Call once, before uh_search_run. */
int uh_mpi_start(uh_mpi_t *m, const char *config_json, uh_executor_t *ex, uh_error_t *err);

/* Ranks ≥ 1: waits for rank 0's config, then trains candidates until told to stop. Returns
 * UH_OK also when rank 0 had no run to give (a usage error on rank 0). */
int uh_mpi_serve(uh_mpi_t *m, uh_error_t *err);

typedef struct {
    int workers;
    long candidates;
    double wall_s;         /* since uh_mpi_start */
    double blocked_s;      /* rank 0 waiting for results */
    double coordination_s; /* rank 0 working inside the executor: sending, receiving,
                              committing (its share of wall is the coordination cost) */
} uh_mpi_stats_t;

void uh_mpi_stats(const uh_mpi_t *m, uh_mpi_stats_t *s);
/* One line per worker: candidates, candidates per minute, idle share. */
void uh_mpi_print_workers(const uh_mpi_t *m, FILE *out);

/* Every rank, at exit: rank 0 tells the workers to stop (or that there is no run) and all
 * finalize MPI. NULL is fine. */
void uh_mpi_finish(uh_mpi_t *m);

#endif
