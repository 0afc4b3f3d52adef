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
    int code = cli_command_args(
        argc, argv, opts, 1, "backends",
        "usage: uhnas backends [--json]\n\n"
        "Lists the backend files found in $UHNAS_BACKENDS, ./configs/backends and the\n"
        "installed configs/backends: name, physics model, energy per MAC (or its\n"
        "equivalent for analog hardware), the file and its precision. Beside pJ/MAC (which\n"
        "hides static power: lasers, heaters, DAC/ADC idle), the energy (nJ), latency\n"
        "(ns) and area (mm2) of one reference network,\n"
        "  " CLI_REFERENCE_NAME "\n"
        "  (conv 8 3x3, max-pool 2, dense 32, dense 10).\n"
        "A 0 is a cost the backend does not model; \"-\" a network it cannot cost.\n");
    if (code != CLI_GO_ON) return code;
    char names[UH_BACKEND_MAX_LIST][UH_BACKEND_MAX_NAME];
    int n = uh_backend_list(names, UH_BACKEND_MAX_LIST);
    if (n == 0) return cli_fail(UH_EXIT_FAIL, "backends: no backend files found");
    if (!json) {
        printf("reference network: %s\n", CLI_REFERENCE_NAME);
        /* precision last and whole: it is the longest column, and cut it misleads */
        printf("%-22s %-9s %-10s %-10s %-10s %-10s %-40s %s\n", "name", "model", "pJ/MAC", "ref nJ",
               "ref ns", "ref mm2", "file", "precision");
    }
    code = UH_EXIT_OK;
    for (int i = 0; i < n; i++) {
        uh_backend_t *b;
        uh_error_t err = {0};
        if (uh_backend_load(names[i], &b, &err)) {
            code = cli_fail(UH_EXIT_FAIL, "backends: %s", err.msg);
            continue;
        }
        uh_precision_t p;
        uh_backend_precision(b, &p);
        uh_energy_t ref;
        uh_error_t ref_err = {0};
        int costed = cli_reference_cost(b, &ref, &ref_err) == UH_OK;
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", uh_backend_name(b));
            cJSON_AddStringToObject(o, "model", uh_backend_model_name(b));
            cJSON_AddStringToObject(o, "description", uh_backend_description(b));
            cJSON_AddNumberToObject(o, "weight_bits", p.weight_bits);
            cJSON_AddNumberToObject(o, "activation_bits", p.activation_bits);
            cJSON_AddStringToObject(o, "precision", p.summary);
            cJSON_AddNumberToObject(o, "pj_per_mac", uh_backend_pj_per_mac(b));
            cJSON *r = cJSON_AddObjectToObject(o, "reference");
            cJSON_AddStringToObject(r, "network", CLI_REFERENCE_NAME);
            if (costed) {
                cJSON_AddNumberToObject(r, "energy_nj", ref.total_nj);
                cJSON_AddNumberToObject(r, "latency_ns", ref.latency_ns);
                cJSON_AddNumberToObject(r, "area_mm2", ref.footprint.area_mm2);
            } else {
                cJSON_AddStringToObject(r, "error", ref_err.msg);
            }
            cJSON_AddStringToObject(o, "file", uh_backend_path(b));
            cli_print_json(o);
        } else {
            char nj[16] = "-", ns[16] = "-", mm2[16] = "-";
            if (costed) {
                snprintf(nj, sizeof nj, "%.4g", ref.total_nj);
                snprintf(ns, sizeof ns, "%.4g", ref.latency_ns);
                snprintf(mm2, sizeof mm2, "%.4g", ref.footprint.area_mm2);
            }
            printf("%-22s %-9s %-10.4g %-10s %-10s %-10s %-40s %s\n", uh_backend_name(b),
                   uh_backend_model_name(b), uh_backend_pj_per_mac(b), nj, ns, mm2,
                   uh_backend_path(b), p.summary);
        }
        uh_backend_free(b);
    }
    return code;
}
