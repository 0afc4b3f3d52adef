/* uhnas backends — list the hardware backends and their key numbers. */
#include <stdio.h>

#include "args.h"
#include "cli.h"

int uh_cmd_backends(int argc, char **argv, const cli_env_t *env) {
    (void)env;
    int json = 0;
    const cli_opt_t opts[] = {
        {"json", OPT_FLAG, &json, 0, 0, NULL, NULL, "print one JSON object per line"},
    };
    char msg[256];
    int prc = cli_parse(argc, argv, opts, 1, msg, sizeof msg);
    if (prc == 2) {
        printf("usage: uhnas backends [--json]\n\n"
               "Lists the backend files found in $UHNAS_BACKENDS, ./configs/backends and the\n"
               "installed configs/backends: name, physics model, precision, energy per MAC (or\n"
               "its equivalent for analog hardware) and the file.\n\noptions:\n");
        cli_print_options(stdout, opts, 1);
        return UH_EXIT_OK;
    }
    if (prc) return cli_fail(UH_EXIT_USAGE, "backends: %s", msg);
    char names[UH_BACKEND_MAX_LIST][UH_BACKEND_MAX_NAME];
    int n = uh_backend_list(names, UH_BACKEND_MAX_LIST);
    if (n == 0) return cli_fail(UH_EXIT_FAIL, "backends: no backend files found");
    if (!json)
        printf("%-22s %-9s %-12s %-44s %s\n", "name", "model", "pJ/MAC", "precision", "file");
    int code = UH_EXIT_OK;
    for (int i = 0; i < n; i++) {
        uh_backend_t *b;
        uh_error_t err = {0};
        if (uh_backend_load(names[i], &b, &err)) {
            code = cli_fail(UH_EXIT_FAIL, "backends: %s", err.msg);
            continue;
        }
        uh_precision_t p;
        uh_backend_precision(b, &p);
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", uh_backend_name(b));
            cJSON_AddStringToObject(o, "model", uh_backend_model_name(b));
            cJSON_AddStringToObject(o, "description", uh_backend_description(b));
            cJSON_AddNumberToObject(o, "weight_bits", p.weight_bits);
            cJSON_AddNumberToObject(o, "activation_bits", p.activation_bits);
            cJSON_AddStringToObject(o, "precision", p.summary);
            cJSON_AddNumberToObject(o, "pj_per_mac", uh_backend_pj_per_mac(b));
            cJSON_AddStringToObject(o, "file", uh_backend_path(b));
            cli_print_json(o);
        } else {
            printf("%-22s %-9s %-12.4g %-44.44s %s\n", uh_backend_name(b), uh_backend_model_name(b),
                   uh_backend_pj_per_mac(b), p.summary, uh_backend_path(b));
        }
        uh_backend_free(b);
    }
    return code;
}
