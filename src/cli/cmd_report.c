/* uhnas report / uhnas compare — runs as self-contained HTML. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "uhnas/fileio.h"
#include "uhnas/report.h"

static int write_html(const char *path, char *html, const char *command) {
    uh_error_t err = {0};
    int rc = uh_write_file_atomic(path, html, strlen(html), &err);
    free(html);
    if (rc) return cli_fail(UH_EXIT_FAIL, "%s: %s", command, err.msg);
    printf("%s\n", path);
    return UH_EXIT_OK;
}

/* Both commands' arguments: run directories (at most max, into dirs, counted in *n_dirs),
 * then --out FILE. Returns CLI_GO_ON or the exit code (see cli_command_args). */
static int dirs_and_out(int argc, char **argv, const char **dirs, int max, int *n_dirs,
                        const char **out, const char *out_help, const char *cmd,
                        const char *usage) {
    int n = 0;
    while (argc >= 2 && argv[1][0] != '-' && n < max) {
        dirs[n++] = argv[1];
        argv[1] = argv[0];
        argv++, argc--;
    }
    *n_dirs = n;
    const cli_opt_t opts[] = {{"out", OPT_STRING, out, 0, 0, NULL, "FILE", out_help}};
    return cli_command_args(argc, argv, opts, 1, cmd, usage);
}

int uh_cmd_report(int argc, char **argv, const cli_env_t *env) {
    (void)env;
    const char *dirs[1], *out = NULL;
    int n_dirs;
    int code = dirs_and_out(
        argc, argv, dirs, 1, &n_dirs, &out, "where to write (default DIR/report.html)", "report",
        "usage: uhnas report DIR [--out FILE]\n\n"
        "Writes one self-contained HTML file about the run in DIR (inline SVG, opens\n"
        "from disk): the Pareto front of validation error vs energy per inference,\n"
        "hypervolume and diversity per generation, clean vs noisy accuracy with\n"
        "Spearman's rho, the front as a table, language-model statistics when the run\n"
        "had a model, and the run's config. Prints the file's path.\n");
    if (code != CLI_GO_ON) return code;
    if (n_dirs != 1)
        return cli_fail(UH_EXIT_USAGE, "report: which run directory? (uhnas report DIR)");
    uh_error_t err = {0};
    uh_run_data_t *run;
    if (uh_run_load(dirs[0], &run, &err))
        return cli_fail(cli_exit_code(err.code), "report: %s", err.msg);
    char *html = NULL;
    int rc = uh_report_run(run, &html, &err);
    uh_run_free(run);
    if (rc) return cli_fail(UH_EXIT_FAIL, "report: %s", err.msg);
    char path[1100];
    snprintf(path, sizeof path, "%s/report.html", dirs[0]);
    return write_html(out ? out : path, html, "report");
}

int uh_cmd_compare(int argc, char **argv, const cli_env_t *env) {
    (void)env;
    const char *dirs[UH_REPORT_MAX_RUNS], *out = "compare.html";
    int n_dirs;
    int code = dirs_and_out(
        argc, argv, dirs, UH_REPORT_MAX_RUNS, &n_dirs, &out,
        "where to write (default compare.html)", "compare",
        "usage: uhnas compare DIR... [--out FILE]\n\n"
        "Puts several runs on one HTML page. Runs on different backends: their Pareto\n"
        "fronts on one plot (the paper's Figure 1). Runs of different strategies on one\n"
        "backend: hypervolume per generation, mean and standard deviation over seeds.\n"
        "Runs must share their data; strategies must also share their budget\n"
        "(population, children, generations, epochs, mc), or compare refuses (exit code 2).\n");
    if (code != CLI_GO_ON) return code;
    if (n_dirs < 1) return cli_fail(UH_EXIT_USAGE, "compare: which run directories?");
    uh_run_data_t *runs[UH_REPORT_MAX_RUNS];
    uh_error_t err = {0};
    int rc = UH_OK, loaded = 0;
    for (; loaded < n_dirs && !rc; loaded++)
        if ((rc = uh_run_load(dirs[loaded], &runs[loaded], &err))) break;
    char *html = NULL;
    if (!rc) rc = uh_report_compare((const uh_run_data_t *const *)runs, n_dirs, &html, &err);
    for (int i = 0; i < loaded; i++) uh_run_free(runs[i]);
    if (rc) return cli_fail(cli_exit_code(rc), "%s", err.msg);
    return write_html(out, html, "compare");
}
