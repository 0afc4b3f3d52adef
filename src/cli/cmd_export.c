/* uhnas export — an architecture (and its trained weights) for other tools. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "uhnas/export.h"
#include "uhnas/fileio.h"
#include "uhnas/search.h"
#include "uhnas/strbuf.h"

/* The run's candidate (by id or hash), its input shape, its stored weights (NULL when the run
 * kept none: only the final front's are stored) and the run's backend (*b, caller frees). */
static int from_run(const char *dir, const char *which, uh_arch_t *arch, float **w, size_t *n,
                    uh_backend_t **b, uh_error_t *err) {
    uh_store_t *store;
    int rc = uh_store_open_readonly(dir, &store, err);
    if (rc) return rc;
    uh_search_config_t cfg;
    uh_backend_t *backend = NULL;
    uh_candidate_t *rows = NULL, *c = NULL;
    size_t n_rows = 0;
    uh_dataset_t *train = NULL, *test = NULL;
    rc = uh_search_config_parse(uh_store_config(store), &cfg, &backend, err);
    if (!rc) rc = uh_store_candidates(store, &rows, &n_rows, err);
    for (size_t i = 0; !rc && i < n_rows && !c; i++) {
        char id[24];
        snprintf(id, sizeof id, "%lld", (long long)rows[i].id);
        if (strcmp(which, id) == 0 || strcmp(which, rows[i].hash) == 0) c = &rows[i];
    }
    if (!rc && !c) rc = uh_error_set(err, UH_ENOTFOUND, "%s: no candidate %s", dir, which);
    /* the shape comes from the run's data: one sample is enough */
    uh_data_opts_t o = {
        .data_dir = cfg.data_dir[0] ? cfg.data_dir : NULL, .limit_train = 1, .limit_test = 1};
    if (!rc) rc = uh_dataset_load(cfg.dataset, &o, &train, &test, err);
    if (!rc) {
        uh_shape_t shape = {train->c, train->h, train->w, train->n_classes};
        rc = uh_arch_parse(c->arch, strlen(c->arch), shape, arch, err);
    }
    *w = NULL;
    if (!rc && (rc = uh_store_get_weights(store, c->hash, w, n, err)) == UH_ENOTFOUND)
        rc = UH_OK; /* absent: the weights of the final front only are kept */
    uh_dataset_free(train);
    uh_dataset_free(test);
    uh_store_free_candidates(rows);
    if (rc)
        uh_backend_free(backend);
    else
        *b = backend;
    uh_store_close(store);
    return rc;
}

/* The backend's programming file of arch with weights w, written to out (stdout when NULL). */
static int program_file(const uh_backend_t *b, const char *format, const uh_arch_t *arch,
                        const float *w, const char *out, uh_error_t *err) {
    const char *own = uh_backend_program_format(b);
    if (!own || strcmp(own, format) != 0)
        return uh_error_set(err, UH_EINVAL, "--format %s: backend %s (model %s) %s%s%s", format,
                            uh_backend_name(b), uh_backend_model_name(b),
                            own ? "writes --format " : "has no programming file", own ? own : "",
                            own ? "" : " (its weights are the network's: --format json)");
    if (!w)
        return uh_error_set(err, UH_EINVAL,
                            "--format %s programs trained weights: give --weights, or a "
                            "candidate whose weights the run stored",
                            format);
    char *json;
    int rc = uh_backend_program(b, arch, w, &json, err);
    if (rc) return rc;
    if (out)
        rc = uh_write_file_atomic(out, json, strlen(json), err);
    else
        puts(json);
    free(json);
    return rc;
}

int uh_cmd_export(int argc, char **argv, const cli_env_t *env) {
    (void)env;
    const char *arch_arg = NULL, *weights_arg = NULL, *run = NULL, *candidate = NULL;
    const char *format = "pytorch", *out = NULL, *input = "1x28x28", *backend_name = NULL;
    int classes = 10;
    const cli_opt_t opts[] = {
        {"arch", OPT_STRING, &arch_arg, 0, 0, NULL, "FILE_OR_JSON", "the architecture"},
        {"weights", OPT_STRING, &weights_arg, 0, 0, NULL, "FILE",
         "its weights, a uhnas weight file (.uhw)"},
        {"run", OPT_STRING, &run, 0, 0, NULL, "DIR",
         "take the architecture (and its stored weights) from a run ..."},
        {"candidate", OPT_STRING, &candidate, 0, 0, NULL, "ID_OR_HASH", "... this candidate of it"},
        {"format", OPT_STRING, &format, 0, 0, NULL, "FORMAT",
         "pytorch (default), json, csv, onnx; or the hardware's programming: mzi-phases (an MZI "
         "backend's), crossbar-conductances (a crossbar's); docs/programming.md"},
        {"backend", OPT_STRING, &backend_name, 0, 0, NULL, "NAME_OR_FILE",
         "with --arch and a programming format: the hardware (a run's is its own)"},
        {"out", OPT_STRING, &out, 0, 0, NULL, "FILE",
         "where to write (default stdout); with weights and pytorch, FILE.uhw beside it"},
        CLI_SHAPE_OPTIONS(input, classes),
    };
    const int n_opts = (int)(sizeof opts / sizeof opts[0]);
    int code = cli_command_args(
        argc, argv, opts, n_opts, "export",
        "usage: uhnas export (--arch A [--weights W] [--backend B] | --run DIR --candidate ID)\n"
        "                    [--format FORMAT] [--out FILE]\n\n"
        "Writes an architecture for other tools. pytorch: a torch.nn.Module (same layers,\n"
        "activations and fake quantization as uhnas) with a loader for uhnas weight\n"
        "files; with weights and --out FILE the weights go to FILE.uhw, which\n"
        "build() loads. json: the resolved layers (shapes, params, MACs; weights when\n"
        "given). csv: one row per layer. onnx: an ONNX model (opset 13) with the trained\n"
        "weights and uhnas's fake quantization, input \"input\" [N,C,H,W] (pixels / 255),\n"
        "output \"logits\"; needs --out. mzi-phases: what an MZI chip is programmed with\n"
        "(per layer and block: both meshes' MZI phases and DAC codes, output phases,\n"
        "attenuators, electronic scale); crossbar-conductances: each device pair's G+\n"
        "and G- (uS) per tile with the weight scale; both from trained weights, on the\n"
        "run's backend or --backend (docs/programming.md). A run stores the weights of\n"
        "its final front. The weight file format is in docs/user-guide.md.\n");
    if (code != CLI_GO_ON) return code;
    uh_export_format_t f;
    int onnx = strcmp(format, "onnx") == 0;
    /* a format that is not a network's is a backend model's programming file */
    int programming = !onnx && uh_export_format_parse(format, &f) != UH_OK;
    const char *formats[8];
    int n_formats = uh_backend_program_formats(formats, 8), known = 0;
    for (int i = 0; i < n_formats; i++) known |= strcmp(formats[i], format) == 0;
    if (programming && !known) {
        const char *names[12] = {"pytorch", "json", "csv", "onnx"};
        char list[256] = "pytorch, json, csv, onnx";
        for (int i = 0; i < n_formats; i++) {
            names[4 + i] = formats[i];
            snprintf(list + strlen(list), sizeof list - strlen(list), ", %s", formats[i]);
        }
        const char *near = uh_nearest(format, names, 4 + n_formats);
        return cli_fail(UH_EXIT_USAGE, "export: --format: %s; not '%s'%s%s%s", list, format,
                        near ? " (did you mean " : "", near ? near : "", near ? "?)" : "");
    }
    if (!!arch_arg == !!run || (run && !candidate) || (weights_arg && !arch_arg) ||
        (backend_name && !arch_arg))
        return cli_fail(UH_EXIT_USAGE, "export: give --arch (optionally --weights, --backend), or "
                                       "--run DIR --candidate ID");
    if (onnx && !out)
        return cli_fail(UH_EXIT_USAGE,
                        "export: --format onnx writes a binary file: give --out FILE");
    if (programming && arch_arg && !backend_name)
        return cli_fail(UH_EXIT_USAGE, "export: --format %s: give the hardware, --backend NAME",
                        format);
    uh_error_t err = {0};
    uh_arch_t arch;
    uh_backend_t *backend = NULL;
    float *w = NULL;
    size_t n = 0;
    int rc;
    if (run) {
        rc = from_run(run, candidate, &arch, &w, &n, &backend, &err);
    } else {
        rc = cli_load_arch_shaped(arch_arg, input, classes, &arch, &err);
        if (!rc && weights_arg) rc = uh_weights_read(weights_arg, &w, &n, &err);
        if (!rc && backend_name) rc = uh_backend_load(backend_name, &backend, &err);
    }
    if (!rc && w && n != (size_t)arch.params)
        rc = uh_error_set(&err, UH_EINVAL, "%zu weights for a network of %ld parameters", n,
                          arch.params);
    if (!rc && programming) {
        rc = program_file(backend, format, &arch, w, out, &err);
        if (!rc && out) printf("%s\n", out);
    }
    if (!rc && onnx) {
        char *model = NULL;
        size_t len = 0;
        rc = w ? uh_export_onnx(&arch, w, n, &model, &len, &err)
               : uh_error_set(&err, UH_EINVAL,
                              "--format onnx holds the trained weights: give --weights, or a "
                              "candidate whose weights the run stored");
        if (!rc) rc = uh_write_file_atomic(out, model, len, &err);
        if (!rc) printf("%s\n", out);
        free(model);
    }
    uh_backend_free(backend);
    if (rc || programming || onnx) {
        free(w);
        return rc ? cli_fail(cli_exit_code(rc), "export: %s", err.msg) : UH_EXIT_OK;
    }
    if (run && !w)
        fprintf(stderr,
                "uhnas: export: candidate %s has no stored weights (only the final "
                "front's are kept): the architecture alone\n",
                candidate);
    char weights_path[1100] = "";
    if (w && out && f == UH_EXPORT_PYTORCH) {
        snprintf(weights_path, sizeof weights_path, "%s.uhw", out);
        rc = uh_weights_write(weights_path, w, n, &err);
    }
    char *text = NULL;
    if (!rc)
        rc = uh_export(&arch, f == UH_EXPORT_PYTORCH ? NULL : w, n, f,
                       weights_path[0] ? weights_path : NULL, &text, &err);
    free(w);
    if (rc) return cli_fail(cli_exit_code(rc), "export: %s", err.msg);
    if (out)
        rc = uh_write_file_atomic(out, text, strlen(text), &err);
    else
        fputs(text, stdout);
    free(text);
    if (rc) return cli_fail(UH_EXIT_FAIL, "export: %s", err.msg);
    if (out) printf("%s%s%s\n", out, weights_path[0] ? " " : "", weights_path);
    return UH_EXIT_OK;
}
