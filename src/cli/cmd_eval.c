/* uhnas eval — train an architecture for a backend (noise-aware if asked), then measure its
 * clean accuracy and its accuracy under Monte-Carlo samples of the hardware's physics. */
#include <stdio.h>
#include <unistd.h>

#include "training.h"
#include "uhnas/evaluate.h"

int uh_cmd_eval(int argc, char **argv, const cli_env_t *env) {
    (void)env;
    cli_training_t t;
    const char *backend = NULL;
    int json = 0, mc = 10, noise_aware = 0;
    cli_opt_t opts[CLI_TRAINING_MAX_OPTS + 5];
    int n = cli_training_options(&t, opts);
    opts[n++] =
        (cli_opt_t){"backend", OPT_STRING, &backend,       0,
                    0,         NULL,       "NAME_OR_FILE", "backend name or file (required)"};
    opts[n++] =
        (cli_opt_t){"backend-file", OPT_STRING, &backend, 0, 0, NULL, "PATH", "a backend file"};
    opts[n++] = (cli_opt_t){"mc",   OPT_INT, &mc, 1,
                            100000, NULL,    "N", "Monte-Carlo hardware samples (default 10)"};
    opts[n++] = (cli_opt_t){"noise-aware",
                            OPT_FLAG,
                            &noise_aware,
                            0,
                            0,
                            NULL,
                            NULL,
                            "train with the backend's noise model"};
    opts[n++] = (cli_opt_t){"json",
                            OPT_FLAG,
                            &json,
                            0,
                            0,
                            NULL,
                            NULL,
                            "print one JSON object (clean_accuracy, noisy_accuracy, "
                            "noisy_accuracy_std, energy_nj, latency_ns, footprint, macs, params, "
                            "violations)"};
    int code = cli_command_args(
        argc, argv, opts, n, "eval",
        "usage: uhnas eval --arch FILE_OR_JSON --backend NAME [OPTIONS]\n\n"
        "Checks the architecture against the backend's constraints (violations: exit\n"
        "code 2 and the list), trains it — with the backend's training-time noise model\n"
        "when --noise-aware is given — and reports clean accuracy, noisy accuracy (mean\n"
        "and standard deviation over --mc seeded hardware samples) and energy per\n"
        "inference, on the test set.\n");
    if (code != CLI_GO_ON) return code;
    if (!backend) return cli_fail(UH_EXIT_USAGE, "eval: --backend is required (see --help)");

    uh_error_t err = {0};
    uh_backend_t *b;
    if (uh_backend_load(backend, &b, &err))
        return cli_fail(cli_exit_code(err.code), "eval: %s", err.msg);
    cli_run_t run;
    uh_energy_t energy;
    uh_violations_t v;
    uh_eval_result_t r;
    code = cli_training_load(&t, "eval", &run);
    if (code) goto done;
    if (uh_backend_check(b, &run.arch, &v)) {
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddItemToObject(o, "violations", cli_violations_json(&v));
            cli_print_json(o);
        }
        fprintf(stderr, "uhnas: eval: the architecture violates %s's constraints:\n",
                uh_backend_name(b));
        cli_print_violations(stderr, &v);
        code = UH_EXIT_USAGE;
        goto done;
    }
    if (uh_backend_energy(b, &run.arch, &energy, &err)) {
        code = cli_fail(UH_EXIT_FAIL, "eval: %s", err.msg);
        goto done;
    }
    cli_progress_t progress = {t.epochs, cli_now(), 0};
    uh_eval_config_t cfg = {.train = run.opts,
                            .mc = mc,
                            .noise_aware = noise_aware,
                            .progress = !json && isatty(STDOUT_FILENO) ? cli_progress : NULL,
                            .progress_ctx = &progress};
    if (uh_evaluate(b, &run.arch, run.train, run.test, &cfg, (uint64_t)t.seed, &r, NULL, NULL,
                    &err)) {
        code = cli_fail(UH_EXIT_FAIL, "eval: %s", err.msg);
        goto done;
    }
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "backend", uh_backend_name(b));
        cJSON_AddNumberToObject(o, "clean_accuracy", r.accuracy);
        cJSON_AddNumberToObject(o, "noisy_accuracy", r.noisy_accuracy);
        cJSON_AddNumberToObject(o, "noisy_accuracy_std", r.noisy_std);
        cJSON_AddNumberToObject(o, "mc", mc);
        cli_add_cost_json(o, &run.arch, &energy);
        cJSON_AddNumberToObject(o, "macs", (double)run.arch.macs);
        cJSON_AddNumberToObject(o, "params", (double)run.arch.params);
        cJSON_AddBoolToObject(o, "noise_aware", noise_aware);
        cJSON_AddNumberToObject(o, "train_seconds", r.train_seconds);
        cJSON_AddItemToObject(o, "violations", cli_violations_json(&v));
        code = cli_print_json(o);
    } else {
        printf("backend %s, %s training, %d epochs\n", uh_backend_name(b),
               noise_aware ? "noise-aware" : "plain", t.epochs);
        printf("clean accuracy %.4f; noisy accuracy %.4f ± %.4f over %d hardware samples\n",
               r.accuracy, r.noisy_accuracy, r.noisy_std, mc);
        cli_print_energy(stdout, &run.arch, &energy);
    }
done:
    cli_training_free(&run);
    uh_backend_free(b);
    return code;
}
