/* uhnas — entry point: dispatches to one small program per command. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "uhnas/nn.h"
#include "uhnas/strbuf.h"
#include "uhnas/threads.h"

static const uh_command_t COMMANDS[] = {
    {"train", "train one architecture on a dataset and report its accuracy", uh_cmd_train},
    {"backends", "list the hardware backends and their key numbers", uh_cmd_backends},
    {"energy", "energy per inference of an architecture on a backend", uh_cmd_energy},
    {"eval", "train for a backend, then clean and Monte-Carlo noisy accuracy and energy",
     uh_cmd_eval},
    {"search", "search architectures for a backend into a run directory", uh_cmd_search},
    {"resume", "continue a stopped or killed search", uh_cmd_resume},
    {"report", "write a run's HTML report (front, progress, robustness, config)", uh_cmd_report},
    {"compare", "several runs on one HTML page (backends, or strategies over seeds)",
     uh_cmd_compare},
    {"export", "an architecture (and weights) as PyTorch source, JSON or CSV", uh_cmd_export},
    {"pretrain", "the built-in model's prior: pretrain it on measured candidates", uh_cmd_pretrain},
};
#define N_COMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

int cli_fail(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("uhnas: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

int cli_exit_code(int code) {
    switch (code) {
    case UH_OK:
        return UH_EXIT_OK;
    case UH_EINVAL:
    case UH_ELIMIT:
    case UH_ENOTFOUND:
        return UH_EXIT_USAGE;
    default: /* UH_ENOMEM, UH_EIO, UH_EFORMAT, UH_EINTR */
        return UH_EXIT_FAIL;
    }
}

static void print_help(FILE *out) {
    fprintf(out, "usage: uhnas COMMAND [OPTIONS]\n\n"
                 "Hardware-aware, language-model-guided neural architecture search.\n\n"
                 "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
    fprintf(out, "\n`uhnas COMMAND --help` describes a command's options.\n\n"
                 "options:\n"
                 "  -h, --help     show this help\n"
                 "  --version      show the version and build features\n\n" CLI_EXIT_CODES);
}

int main(int argc, char **argv) {
    /* First: OpenMP reads its wait policy when it is loaded, so this runs the program again
     * with waiting threads that sleep (a spinning one costs 10-56x on a shared machine). */
    uh_threads_passive(argv);
    /* A write past the file-size limit (ulimit -f) fails with EFBIG, like a full disk with
     * ENOSPC, instead of killing the process: the error names the file and the run stops
     * with what it committed. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        print_help(stderr);
        return UH_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        print_help(stdout);
        return UH_EXIT_OK;
    }
    if (!strcmp(cmd, "--version")) {
        char mpi[256];
        int on = uh_mpi_library(mpi, sizeof mpi);
        printf("uhnas %s (OpenBLAS, %s kernels; OpenMP; MPI: %s%s)\n", UHNAS_VERSION,
               uh_nn_blas_kernels(), on ? "on, " : "", mpi);
        return UH_EXIT_OK;
    }
    const uh_command_t *command = NULL;
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(cmd, COMMANDS[i].name)) command = &COMMANDS[i];
    if (!command) {
        const char *names[N_COMMANDS];
        for (size_t i = 0; i < N_COMMANDS; i++) names[i] = COMMANDS[i].name;
        const char *near = uh_nearest(cmd, names, (int)N_COMMANDS);
        return cli_fail(UH_EXIT_USAGE, "unknown command '%s'%s%s%s (see uhnas --help)", cmd,
                        near ? "; did you mean " : "", near ? near : "", near ? "?" : "");
    }
    /* Under mpirun, rank 0 runs the command; the other ranks serve its search, if any. */
    cli_env_t env = {0};
    uh_error_t err = {0};
    if (uh_mpi_init(&argc, &argv, &env.mpi, &err)) return cli_fail(UH_EXIT_FAIL, "%s", err.msg);
    int code;
    if (uh_mpi_rank(env.mpi) > 0) {
        code = uh_mpi_serve(env.mpi, &err) ? cli_fail(UH_EXIT_FAIL, "worker: %s", err.msg)
                                           : UH_EXIT_OK;
    } else {
        code = command->run(argc - 1, argv + 1, &env);
    }
    uh_mpi_finish(env.mpi);
    return code;
}
