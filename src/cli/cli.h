/* uhnas CLI — shared pieces of the command programs. Only the CLI prints and exits. */
#ifndef UHNAS_CLI_H
#define UHNAS_CLI_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "args.h"
#include "uhnas/arch.h"
#include "uhnas/backend.h"
#include "uhnas/dist.h"

/* Exit codes, documented by CLI_EXIT_CODES in `uhnas --help` and every command's --help. */
enum {
    UH_EXIT_OK = 0,
    UH_EXIT_FAIL = 1,  /* failure while running: memory, file I/O, a damaged file, ... */
    UH_EXIT_USAGE = 2, /* bad command line, invalid architecture or backend, violations */
};
#define CLI_EXIT_CODES                                                                             \
    "exit codes: 0 success; 1 failure while running (memory, file I/O, a damaged file,\n"          \
    "missing data files); 2 bad usage or input (an option, or an architecture, backend or\n"       \
    "run directory that is invalid, too large or absent)\n"

/* The one table from a library error code to an exit code: UH_EINVAL, UH_ELIMIT and
 * UH_ENOTFOUND (what the command line names is invalid, too large or absent) give
 * UH_EXIT_USAGE; UH_ENOMEM, UH_EIO, UH_EFORMAT and UH_EINTR give UH_EXIT_FAIL. Commands use
 * it for whatever they load; a failure of the work itself (training, a search, writing the
 * result) is UH_EXIT_FAIL. */
int cli_exit_code(int code);

/* Parses a command's options (cli_parse); --help prints usage, the options and
 * CLI_EXIT_CODES on stdout. Returns CLI_GO_ON when the command should go on, else the exit
 * code to return: UH_EXIT_OK after --help, UH_EXIT_USAGE after a parse error (printed as
 * "cmd: error"). */
#define CLI_GO_ON (-1)
int cli_command_args(int argc, char **argv, const cli_opt_t *opts, int n_opts, const char *cmd,
                     const char *usage);

/* What a command may need of the process beyond its arguments. */
typedef struct {
    uh_mpi_t *mpi; /* this process's MPI ranks when started by mpirun, else NULL */
} cli_env_t;

/* One command: `uhnas NAME ARGS...`. argv[0] is the command name. */
typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv, const cli_env_t *env);
} uh_command_t;

int uh_cmd_train(int argc, char **argv, const cli_env_t *env);
int uh_cmd_backends(int argc, char **argv, const cli_env_t *env);
int uh_cmd_energy(int argc, char **argv, const cli_env_t *env);
int uh_cmd_eval(int argc, char **argv, const cli_env_t *env);
int uh_cmd_search(int argc, char **argv, const cli_env_t *env);
int uh_cmd_resume(int argc, char **argv, const cli_env_t *env);
int uh_cmd_report(int argc, char **argv, const cli_env_t *env);
int uh_cmd_compare(int argc, char **argv, const cli_env_t *env);
int uh_cmd_export(int argc, char **argv, const cli_env_t *env);
int uh_cmd_pretrain(int argc, char **argv, const cli_env_t *env);

/* Prints "uhnas: <message>" on stderr and returns code, for `return cli_fail(...)`. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* --arch is JSON text when it starts with '{', a file name otherwise. */
int cli_load_arch(const char *arg, uh_shape_t shape, uh_arch_t *arch, uh_error_t *err);

/* An --arch with no dataset to take its shape from (energy, export): the input shape as
 * --input CxHxW and the classes as --classes N, both options, then cli_load_arch_shaped. */
/* clang-format off */
#define CLI_SHAPE_OPTIONS(input, classes)                                                       \
    {"input", OPT_STRING, &(input), 0, 0, NULL, "CxHxW", "input shape (default 1x28x28)"},      \
    {"classes", OPT_INT, &(classes), 2, 256, NULL, "N", "number of classes (default 10)"}
/* clang-format on */
/* cli_load_arch for input "CxHxW" (UH_EINVAL when malformed) and `classes` classes. */
int cli_load_arch_shaped(const char *arg, const char *input, int classes, uh_arch_t *arch,
                         uh_error_t *err);

/* names[0..NULL) joined by "|" into buf, as an OPT_CHOICE lists them. */
void cli_join_names(const char *const *names, char *buf, size_t size);

double cli_now(void);

/* A progress bar of `width` '#'/'.' characters for done ∈ [0, 1] into out[width + 1]. */
void cli_bar(char *out, int width, double done);
/* "42s", "14m03s" or "2h05m". */
void cli_duration(char *out, size_t size, double seconds);

/* Progress line with ETA, redrawn in place at most ten times a second (a uh_progress_fn). */
typedef struct {
    int epochs;
    double start, last_draw;
} cli_progress_t;
int cli_progress(void *ctx, int epoch, int batch, int n_batches, float loss);

/* The reference network `uhnas backends` costs on every backend (and `search` asks about):
 * the demo CNN of configs/demo-arch.json — conv 8 filters 3x3 (ReLU), max-pool 2, dense 32
 * (ReLU), dense 10 — on one 1x28x28 image. Defined once, in common.c. */
#define CLI_REFERENCE_NAME "the demo CNN of configs/demo-arch.json on one 28x28 image"
int cli_reference_cost(const uh_backend_t *b, uh_energy_t *e, uh_error_t *err);

cJSON *cli_energy_json(const uh_arch_t *arch, const uh_energy_t *e);
/* {"area_mm2", "mzis", "tiles", "devices"} */
cJSON *cli_footprint_json(const uh_footprint_t *f);
/* Adds energy_nj, latency_ns, footprint and breakdown to o. */
void cli_add_cost_json(cJSON *o, const uh_arch_t *arch, const uh_energy_t *e);
void cli_print_energy(FILE *out, const uh_arch_t *arch, const uh_energy_t *e);
cJSON *cli_violations_json(const uh_violations_t *v);
void cli_print_violations(FILE *out, const uh_violations_t *v);
/* Prints o on one line and frees it; returns an exit code. */
int cli_print_json(cJSON *o);

#endif
