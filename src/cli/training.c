/* The data and training options `train` and `eval` share, and the run they share:
 * load data, parse the architecture, train (optionally noise-aware). */
#include <stdio.h>
#include <unistd.h>

#include "training.h"
#include "uhnas/threads.h"

/* The threads to train on: those asked for (--threads, else OMP_NUM_THREADS), else the cores
 * other processes leave free, so that a busy machine does not make a run slower than one
 * thread would. More than the free cores is the user's choice, with a warning. Measured
 * before the data is loaded: no thread of this process is busy yet. */
static int training_threads(int option, const char *cmd) {
    uh_cpu_share_t share;
    uh_cpu_share(&share);
    int asked = uh_threads_asked(option);
    if (!asked) return share.free;
    if (asked > share.free)
        fprintf(stderr,
                "uhnas: warning: %s: %d threads asked for, more than the free cores (%d of %d%s): "
                "training may be slower than on %d thread%s; leave --threads out (and "
                "OMP_NUM_THREADS unset) to use the free cores\n",
                cmd, asked, share.free, share.cores,
                share.free < share.cores ? "; other processes hold the rest" : "", share.free,
                share.free == 1 ? "" : "s");
    return asked;
}

int cli_training_options(cli_training_t *t, cli_opt_t *opts) {
    /* Adam at 1e-3, as search trains its candidates: re-training a found network with
     * `train` or `eval` trains it the same way */
    *t = (cli_training_t){.data = "fashion-mnist",
                          .epochs = 5,
                          .batch = 128,
                          .optimizer = 1,
                          .seed = 1,
                          .momentum = 0.9};
    const cli_opt_t list[] = {
        {"arch", OPT_STRING, &t->arch, 0, 0, NULL, "FILE_OR_JSON", "architecture (required)"},
        {"data", OPT_STRING, &t->data, 0, 0, NULL, "NAME", "dataset (default fashion-mnist)"},
        {"data-dir", OPT_STRING, &t->data_dir, 0, 0, NULL, "DIR",
         "directory holding the IDX files (default: $UHNAS_DATA, then standard places)"},
        {"epochs", OPT_INT, &t->epochs, 1, 10000, NULL, "N", "training epochs (default 5)"},
        {"batch", OPT_INT, &t->batch, 1, 65536, NULL, "B", "mini-batch size (default 128)"},
        {"optimizer", OPT_CHOICE, &t->optimizer, 0, 0, "sgd|adam", NULL,
         "optimizer (default adam, as search trains; sgd with momentum)"},
        {"lr", OPT_REAL, &t->lr, 1e-9, 10, NULL, "X",
         "learning rate (default 0.05 sgd, 0.001 adam)"},
        {"momentum", OPT_REAL, &t->momentum, 0, 0.999, NULL, "X", "SGD momentum (default 0.9)"},
        {"weight-decay", OPT_REAL, &t->weight_decay, 0, 1, NULL, "X",
         "L2 weight decay (default 0)"},
        {"seed", OPT_INT, &t->seed, 0, 2147483647, NULL, "S",
         "seed for weights and shuffling (default 1)"},
        {"threads", OPT_INT, &t->threads, 0, 1024, NULL, "N",
         "threads (default 0: the cores no other process holds)"},
        {"limit-train", OPT_INT, &t->limit_train, 0, 100000000, NULL, "N",
         "use only the first N training samples (default all)"},
        {"limit-test", OPT_INT, &t->limit_test, 0, 100000000, NULL, "N",
         "use only the first N test samples (default all)"},
    };
    int n = (int)(sizeof list / sizeof list[0]);
    for (int i = 0; i < n; i++) opts[i] = list[i];
    return n;
}

int cli_training_load(const cli_training_t *t, const char *cmd, cli_run_t *run) {
    *run = (cli_run_t){0};
    uh_error_t err = {0};
    if (!t->arch) return cli_fail(UH_EXIT_USAGE, "%s: --arch is required (see --help)", cmd);
    int threads = training_threads(t->threads, cmd);
    uh_data_opts_t dopts = {
        .data_dir = t->data_dir, .limit_train = t->limit_train, .limit_test = t->limit_test};
    /* A known dataset's missing files are the installation's fault, not the command line's:
     * a failure while running (CLI_EXIT_CODES: "missing data files"). */
    if (uh_dataset_load(t->data, &dopts, &run->train, &run->test, &err))
        return cli_fail(err.code == UH_ENOTFOUND ? UH_EXIT_FAIL : cli_exit_code(err.code), "%s: %s",
                        cmd, err.msg);
    uh_shape_t shape = {run->train->c, run->train->h, run->train->w, run->train->n_classes};
    if (cli_load_arch(t->arch, shape, &run->arch, &err))
        return cli_fail(cli_exit_code(err.code), "%s: %s", cmd, err.msg);
    uh_train_opts_default(&run->opts);
    run->opts.optimizer = t->optimizer == 1 ? UH_OPT_ADAM : UH_OPT_SGD;
    run->opts.lr = (float)(t->lr > 0 ? t->lr : (run->opts.optimizer == UH_OPT_ADAM ? 1e-3 : 0.05));
    run->opts.momentum = (float)t->momentum;
    run->opts.weight_decay = (float)t->weight_decay;
    run->opts.batch = t->batch;
    run->opts.epochs = t->epochs;
    run->opts.seed = (uint64_t)t->seed;
    run->opts.threads = threads;
    return UH_EXIT_OK;
}

int cli_training_run(cli_run_t *run, const char *cmd, int quiet) {
    uh_error_t err = {0};
    run->net = uh_net_new(&run->arch, run->opts.batch, run->opts.seed, &err);
    if (!run->net) return cli_fail(UH_EXIT_FAIL, "%s: %s", cmd, err.msg);
    int show_progress = !quiet && isatty(STDOUT_FILENO);
    cli_progress_t progress = {run->opts.epochs, cli_now(), 0};
    int rc = uh_net_train(run->net, run->train, &run->opts, show_progress ? cli_progress : NULL,
                          &progress, &run->result, &err);
    if (rc) return cli_fail(UH_EXIT_FAIL, "%s: %s", cmd, err.msg);
    return UH_EXIT_OK;
}

void cli_training_free(cli_run_t *run) {
    uh_net_free(run->net);
    uh_dataset_free(run->train);
    uh_dataset_free(run->test);
    *run = (cli_run_t){0};
}
