/* uhnas CLI — what `train` and `eval` share: options, data and architecture loading, and the
 * training run itself. */
#ifndef UHNAS_CLI_TRAINING_H
#define UHNAS_CLI_TRAINING_H

#include "args.h"
#include "cli.h"
#include "uhnas/data.h"
#include "uhnas/nn.h"

#define CLI_TRAINING_MAX_OPTS 13

typedef struct {
    const char *arch, *data, *data_dir;
    int epochs, batch, optimizer, seed, threads, limit_train, limit_test;
    double lr, momentum, weight_decay;
} cli_training_t;

typedef struct {
    uh_dataset_t *train, *test;
    uh_arch_t arch;
    uh_train_opts_t opts;
    uh_net_t *net;
    uh_train_result_t result;
} cli_run_t;

/* Sets t's defaults and writes its options into opts (room for CLI_TRAINING_MAX_OPTS);
 * returns how many. */
int cli_training_options(cli_training_t *t, cli_opt_t *opts);
/* Loads data and the architecture and fills the training options; prints its own error
 * and returns the exit code (UH_EXIT_OK on success). */
int cli_training_load(const cli_training_t *t, const char *cmd, cli_run_t *run);
/* Builds the net and trains it, with a progress line on a terminal unless quiet. Returns an
 * exit code. */
int cli_training_run(cli_run_t *run, const char *cmd, int quiet);
void cli_training_free(cli_run_t *run);

#endif
