/* uhnas train — train one architecture on a dataset and report its test accuracy. */
#include <stdio.h>

#include "training.h"

static int print_json(const cli_run_t *run, const char *data, double accuracy) {
    const uh_arch_t *arch = &run->arch;
    char canon[UH_ARCH_CANON_MAX], hash[17];
    uh_arch_canonical(arch, canon, sizeof canon);
    uh_arch_hash(arch, hash);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "test_accuracy", accuracy);
    cJSON_AddNumberToObject(o, "params", (double)arch->params);
    cJSON_AddNumberToObject(o, "macs", (double)arch->macs);
    cJSON_AddNumberToObject(o, "train_seconds", run->result.train_seconds);
    cJSON_AddNumberToObject(o, "final_loss", run->result.final_loss);
    cJSON_AddNumberToObject(o, "epochs", run->result.epochs_done);
    cJSON_AddStringToObject(o, "hash", hash);
    cJSON_AddItemToObject(o, "arch", cJSON_Parse(canon));
    cJSON_AddStringToObject(o, "data", data);
    cJSON_AddNumberToObject(o, "n_train", run->train->n);
    cJSON_AddNumberToObject(o, "n_test", run->test->n);
    cJSON_AddStringToObject(o, "optimizer", run->opts.optimizer == UH_OPT_ADAM ? "adam" : "sgd");
    cJSON_AddNumberToObject(o, "lr", run->opts.lr);
    cJSON_AddNumberToObject(o, "batch", run->opts.batch);
    cJSON_AddNumberToObject(o, "seed", (double)run->opts.seed);
    return cli_print_json(o);
}

int uh_cmd_train(int argc, char **argv, const cli_env_t *env) {
    (void)env;
    cli_training_t t;
    int json = 0;
    cli_opt_t opts[CLI_TRAINING_MAX_OPTS + 1];
    int n_opts = cli_training_options(&t, opts);
    opts[n_opts++] = (cli_opt_t){"json",
                                 OPT_FLAG,
                                 &json,
                                 0,
                                 0,
                                 NULL,
                                 NULL,
                                 "print one JSON object (test_accuracy, params, macs, "
                                 "train_seconds, ...)"};
    char usage[1024];
    snprintf(usage, sizeof usage,
             "usage: uhnas train --arch FILE_OR_JSON [--data NAME] [OPTIONS]\n\n"
             "Trains one architecture on the training set and reports its accuracy on the\n"
             "test set. --arch takes a file or the JSON text itself, e.g.\n"
             "  '{\"layers\":[{\"type\":\"dense\",\"units\":128,\"activation\":\"relu\"},"
             "{\"type\":\"dense\",\"units\":10}]}'\n"
             "(docs/architecture.md describes the format). Datasets: %s.\n",
             uh_dataset_names());
    int code = cli_command_args(argc, argv, opts, n_opts, "train", usage);
    if (code != CLI_GO_ON) return code;

    cli_run_t run;
    code = cli_training_load(&t, "train", &run);
    if (code == UH_EXIT_OK && !json) {
        char hash[17];
        uh_arch_hash(&run.arch, hash);
        printf("architecture %s: %ld params, %ld MACs per inference\n", hash, run.arch.params,
               run.arch.macs);
        printf("data %s: %d training, %d test samples; %d epochs, batch %d, %s lr %g\n", t.data,
               run.train->n, run.test->n, t.epochs, t.batch,
               run.opts.optimizer == UH_OPT_ADAM ? "adam" : "sgd", (double)run.opts.lr);
        fflush(stdout);
    }
    if (code == UH_EXIT_OK) code = cli_training_run(&run, "train", json);
    double accuracy = 0;
    uh_error_t err = {0};
    if (code == UH_EXIT_OK && uh_net_evaluate(run.net, run.test, 0, &accuracy, &err))
        code = cli_fail(UH_EXIT_FAIL, "train: evaluation: %s", err.msg);
    if (code == UH_EXIT_OK) {
        if (json)
            code = print_json(&run, t.data, accuracy);
        else
            printf(
                "test accuracy %.4f on %d samples; final training loss %.4f; trained in %.2f s\n",
                accuracy, run.test->n, (double)run.result.final_loss, run.result.train_seconds);
    }
    cli_training_free(&run);
    return code;
}
