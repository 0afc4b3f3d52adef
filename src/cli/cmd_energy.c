/* uhnas energy — energy per inference of an architecture on a backend, without training. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"

int uh_cmd_energy(int argc, char **argv, const cli_env_t *env) {
    (void)env;
    const char *arch_arg = NULL, *backend = NULL, *input = "1x28x28";
    int classes = 10, json = 0;
    const cli_opt_t opts[] = {
        {"arch", OPT_STRING, &arch_arg, 0, 0, NULL, "FILE_OR_JSON", "architecture (required)"},
        {"backend", OPT_STRING, &backend, 0, 0, NULL, "NAME_OR_FILE",
         "backend name (see uhnas backends) or a backend file (required)"},
        {"backend-file", OPT_STRING, &backend, 0, 0, NULL, "PATH", "a backend file"},
        CLI_SHAPE_OPTIONS(input, classes),
        {"json", OPT_FLAG, &json, 0, 0, NULL, NULL,
         "print one JSON object with energy_nj, latency_ns, footprint, breakdown and violations"},
    };
    const int n_opts = (int)(sizeof opts / sizeof opts[0]);
    int code = cli_command_args(
        argc, argv, opts, n_opts, "energy",
        "usage: uhnas energy --arch FILE_OR_JSON --backend NAME [OPTIONS]\n\n"
        "Energy per inference (nJ), latency (ns) and footprint (area, MZIs, tiles, devices)\n"
        "of an architecture on a backend, with the energy broken down per\n"
        "component and per layer. Nothing is trained. Constraint violations are listed\n"
        "(and make the exit code 2), but the energy is still computed.\n");
    if (code != CLI_GO_ON) return code;
    if (!arch_arg || !backend)
        return cli_fail(UH_EXIT_USAGE, "energy: --arch and --backend are required (see --help)");
    uh_error_t err = {0};
    uh_arch_t arch;
    if (cli_load_arch_shaped(arch_arg, input, classes, &arch, &err))
        return cli_fail(cli_exit_code(err.code), "energy: %s", err.msg);
    uh_backend_t *b;
    if (uh_backend_load(backend, &b, &err))
        return cli_fail(cli_exit_code(err.code), "energy: %s", err.msg);
    uh_energy_t e;
    uh_violations_t v;
    code = UH_EXIT_OK;
    if (uh_backend_energy(b, &arch, &e, &err)) {
        code = cli_fail(UH_EXIT_FAIL, "energy: %s", err.msg);
    } else {
        uh_backend_check(b, &arch, &v);
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "backend", uh_backend_name(b));
            cli_add_cost_json(o, &arch, &e);
            cJSON_AddNumberToObject(o, "macs", (double)arch.macs);
            cJSON_AddNumberToObject(o, "params", (double)arch.params);
            cJSON_AddItemToObject(o, "violations", cli_violations_json(&v));
            code = cli_print_json(o);
        } else {
            printf("backend %s: %ld params, %ld MACs\n", uh_backend_name(b), arch.params,
                   arch.macs);
            cli_print_energy(stdout, &arch, &e);
            if (v.n) {
                printf("violations:\n");
                cli_print_violations(stdout, &v);
            }
        }
        if (v.n && code == UH_EXIT_OK) code = UH_EXIT_USAGE;
    }
    uh_backend_free(b);
    return code;
}
