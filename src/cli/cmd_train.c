/* uhnas train — train one architecture on a dataset and report its test accuracy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "args.h"
#include "cli.h"
#include "uhnas/arch.h"
#include "uhnas/data.h"
#include "uhnas/fileio.h"
#include "uhnas/nn.h"

typedef struct {
    const char *arch;
    const char *data;
    const char *data_dir;
    int epochs, batch, optimizer, seed, threads, limit_train, limit_test, json;
    double lr, momentum, weight_decay;
} train_args_t;

static void usage(FILE *out, const cli_opt_t *opts, int n) {
    fprintf(out,
            "usage: uhnas train --arch FILE_OR_JSON [--data NAME] [OPTIONS]\n\n"
            "Trains one architecture on the training set and reports its accuracy on the\n"
            "test set. --arch takes a file or the JSON text itself, e.g.\n"
            "  '{\"layers\":[{\"type\":\"dense\",\"units\":128,\"activation\":\"relu\"},"
            "{\"type\":\"dense\",\"units\":10}]}'\n"
            "(docs/architecture.md describes the format). Datasets: %s.\n\n"
            "options:\n",
            uh_dataset_names());
    cli_print_options(out, opts, n);
    fprintf(out, "\nexit codes: 0 success, 1 failure while running (e.g. data files), "
                 "2 bad usage or invalid architecture\n");
}

/* --arch is JSON text when it starts with '{', a file name otherwise. */
static int load_arch_text(const char *arg, char **text, size_t *len, uh_error_t *err) {
    const char *p = arg;
    while (*p == ' ' || *p == '\t' || *p == '\n') p++;
    if (*p == '{') {
        *len = strlen(arg);
        *text = malloc(*len + 1);
        if (!*text) return uh_error_set(err, UH_ENOMEM, "out of memory");
        memcpy(*text, arg, *len + 1);
        return UH_OK;
    }
    return uh_read_file(arg, UH_ARCH_MAX_JSON_BYTES, text, len, err);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Progress line with ETA, redrawn in place at most ten times a second. */
typedef struct {
    int epochs;
    double start, last_draw;
} progress_t;

static int draw_progress(void *ctx, int epoch, int batch, int n_batches, float loss) {
    progress_t *p = ctx;
    double now = now_seconds();
    int last = epoch == p->epochs - 1 && batch == n_batches - 1;
    if (!last && now - p->last_draw < 0.1) return 0;
    p->last_draw = now;
    double done = ((double)epoch * n_batches + batch + 1) / ((double)p->epochs * n_batches);
    double elapsed = now - p->start;
    double eta = done > 0 ? elapsed * (1 - done) / done : 0;
    char bar[21];
    int filled = (int)(done * 20);
    for (int i = 0; i < 20; i++) bar[i] = i < filled ? '#' : '.';
    bar[20] = '\0';
    printf("\repoch %d/%d [%s] %3.0f%%  loss %.4f  elapsed %.1fs  ETA %.1fs ", epoch + 1, p->epochs,
           bar, done * 100, loss, elapsed, eta);
    if (last) printf("\n");
    fflush(stdout);
    return 0;
}

static int print_json(const train_args_t *a, const uh_arch_t *arch, const uh_dataset_t *train,
                      const uh_dataset_t *test, const uh_train_result_t *res, double accuracy,
                      const uh_train_opts_t *opts) {
    char canon[UH_ARCH_CANON_MAX], hash[17];
    uh_arch_canonical(arch, canon, sizeof canon);
    uh_arch_hash(arch, hash);
    cJSON *o = cJSON_CreateObject();
    if (!o) return UH_ENOMEM;
    cJSON_AddNumberToObject(o, "test_accuracy", accuracy);
    cJSON_AddNumberToObject(o, "params", (double)arch->params);
    cJSON_AddNumberToObject(o, "macs", (double)arch->macs);
    cJSON_AddNumberToObject(o, "train_seconds", res->train_seconds);
    cJSON_AddNumberToObject(o, "final_loss", res->final_loss);
    cJSON_AddNumberToObject(o, "epochs", res->epochs_done);
    cJSON_AddStringToObject(o, "hash", hash);
    cJSON_AddItemToObject(o, "arch", cJSON_Parse(canon));
    cJSON_AddStringToObject(o, "data", a->data);
    cJSON_AddNumberToObject(o, "n_train", train->n);
    cJSON_AddNumberToObject(o, "n_test", test->n);
    cJSON_AddStringToObject(o, "optimizer", opts->optimizer == UH_OPT_ADAM ? "adam" : "sgd");
    cJSON_AddNumberToObject(o, "lr", opts->lr);
    cJSON_AddNumberToObject(o, "batch", opts->batch);
    cJSON_AddNumberToObject(o, "seed", (double)opts->seed);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text) return UH_ENOMEM;
    puts(text);
    cJSON_free(text);
    return UH_OK;
}

int uh_cmd_train(int argc, char **argv) {
    train_args_t a = {
        .data = "fashion-mnist", .epochs = 5, .batch = 128, .seed = 1, .momentum = 0.9};
    const cli_opt_t opts[] = {
        {"arch", OPT_STRING, &a.arch, 0, 0, NULL, "FILE_OR_JSON", "architecture (required)"},
        {"data", OPT_STRING, &a.data, 0, 0, NULL, "NAME", "dataset (default fashion-mnist)"},
        {"data-dir", OPT_STRING, &a.data_dir, 0, 0, NULL, "DIR",
         "directory holding the IDX files (default: $UHNAS_DATA, then standard places)"},
        {"epochs", OPT_INT, &a.epochs, 1, 10000, NULL, "N", "training epochs (default 5)"},
        {"batch", OPT_INT, &a.batch, 1, 65536, NULL, "B", "mini-batch size (default 128)"},
        {"optimizer", OPT_CHOICE, &a.optimizer, 0, 0, "sgd|adam", NULL,
         "optimizer (default sgd, with momentum)"},
        {"lr", OPT_REAL, &a.lr, 1e-9, 10, NULL, "X",
         "learning rate (default 0.05 sgd, 0.001 adam)"},
        {"momentum", OPT_REAL, &a.momentum, 0, 0.999, NULL, "X", "SGD momentum (default 0.9)"},
        {"weight-decay", OPT_REAL, &a.weight_decay, 0, 1, NULL, "X", "L2 weight decay (default 0)"},
        {"seed", OPT_INT, &a.seed, 0, 2147483647, NULL, "S",
         "seed for weights and shuffling (default 1)"},
        {"threads", OPT_INT, &a.threads, 0, 1024, NULL, "N", "threads (default 0: all cores)"},
        {"limit-train", OPT_INT, &a.limit_train, 0, 100000000, NULL, "N",
         "use only the first N training samples (default all)"},
        {"limit-test", OPT_INT, &a.limit_test, 0, 100000000, NULL, "N",
         "use only the first N test samples (default all)"},
        {"json", OPT_FLAG, &a.json, 0, 0, NULL, NULL,
         "print one JSON object (test_accuracy, params, macs, train_seconds, ...)"},
    };
    const int n_opts = (int)(sizeof opts / sizeof opts[0]);
    char msg[256];
    int prc = cli_parse(argc, argv, opts, n_opts, msg, sizeof msg);
    if (prc == 2) {
        usage(stdout, opts, n_opts);
        return UH_EXIT_OK;
    }
    if (prc) return cli_fail(UH_EXIT_USAGE, "train: %s", msg);
    if (!a.arch) return cli_fail(UH_EXIT_USAGE, "train: --arch is required (see --help)");

    uh_error_t err = {0};
    char *text = NULL;
    size_t len = 0;
    if (load_arch_text(a.arch, &text, &len, &err))
        return cli_fail(UH_EXIT_USAGE, "train: --arch: %s", err.msg);

    uh_data_opts_t dopts = {
        .data_dir = a.data_dir, .limit_train = a.limit_train, .limit_test = a.limit_test};
    uh_dataset_t *train = NULL, *test = NULL;
    if (uh_dataset_load(a.data, &dopts, &train, &test, &err)) {
        free(text);
        return cli_fail(err.code == UH_EINVAL ? UH_EXIT_USAGE : UH_EXIT_FAIL, "train: %s",
                        err.msg);
    }

    int exit_code = UH_EXIT_OK;
    uh_net_t *net = NULL;
    uh_arch_t arch;
    uh_shape_t shape = {train->c, train->h, train->w, train->n_classes};
    if (uh_arch_parse(text, len, shape, &arch, &err)) {
        exit_code = cli_fail(UH_EXIT_USAGE, "train: %s", err.msg);
        goto done;
    }
    uh_train_opts_t topts;
    uh_train_opts_default(&topts);
    topts.optimizer = a.optimizer == 1 ? UH_OPT_ADAM : UH_OPT_SGD;
    topts.lr = (float)(a.lr > 0 ? a.lr : (topts.optimizer == UH_OPT_ADAM ? 1e-3 : 0.05));
    topts.momentum = (float)a.momentum;
    topts.weight_decay = (float)a.weight_decay;
    topts.batch = a.batch;
    topts.epochs = a.epochs;
    topts.seed = (uint64_t)a.seed;
    topts.threads = a.threads;

    net = uh_net_new(&arch, a.batch, (uint64_t)a.seed, &err);
    if (!net) {
        exit_code = cli_fail(UH_EXIT_FAIL, "train: %s", err.msg);
        goto done;
    }
    int show_progress = !a.json && isatty(STDOUT_FILENO);
    if (!a.json) {
        char hash[17];
        uh_arch_hash(&arch, hash);
        printf("architecture %s: %ld params, %ld MACs per inference\n", hash, arch.params,
               arch.macs);
        printf("data %s: %d training, %d test samples; %d epochs, batch %d, %s lr %g\n", a.data,
               train->n, test->n, a.epochs, a.batch,
               topts.optimizer == UH_OPT_ADAM ? "adam" : "sgd", (double)topts.lr);
        fflush(stdout);
    }
    progress_t progress = {a.epochs, now_seconds(), 0};
    uh_train_result_t res = {0};
    if (uh_net_train(net, train, &topts, show_progress ? draw_progress : NULL, &progress, &res,
                     &err)) {
        exit_code = cli_fail(UH_EXIT_FAIL, "train: %s", err.msg);
        goto done;
    }
    double accuracy = 0;
    if (uh_net_evaluate(net, test, 0, &accuracy, &err)) {
        exit_code = cli_fail(UH_EXIT_FAIL, "train: evaluation: %s", err.msg);
        goto done;
    }
    if (a.json) {
        if (print_json(&a, &arch, train, test, &res, accuracy, &topts))
            exit_code = cli_fail(UH_EXIT_FAIL, "train: out of memory writing JSON");
    } else {
        printf("test accuracy %.4f on %d samples; final training loss %.4f; trained in %.2f s\n",
               accuracy, test->n, (double)res.final_loss, res.train_seconds);
    }
done:
    uh_net_free(net);
    uh_dataset_free(train);
    uh_dataset_free(test);
    free(text);
    return exit_code;
}
