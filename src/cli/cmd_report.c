/* uhnas report / uhnas compare — runs as self-contained HTML. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "uhnas/fileio.h"
#include "uhnas/report.h"

/* Writes html (freed here) to path and prints the path unless quiet. */
static int write_html(const char *path, char *html, const char *command, int quiet) {
    uh_error_t err = {0};
    int rc = uh_write_file_atomic(path, html, strlen(html), &err);
    free(html);
    if (rc) return cli_fail(UH_EXIT_FAIL, "%s: %s", command, err.msg);
    if (!quiet) printf("%s\n", path);
    fflush(stdout);
    return UH_EXIT_OK;
}

/* Both commands' arguments: run directories (at most max, into dirs, counted in *n_dirs),
 * then the options. Returns CLI_GO_ON or the exit code (see cli_command_args). */
static int dirs_and_options(int argc, char **argv, const char **dirs, int max, int *n_dirs,
                            const cli_opt_t *opts, int n_opts, const char *cmd, const char *usage) {
    int n = 0;
    while (argc >= 2 && argv[1][0] != '-' && n < max) {
        dirs[n++] = argv[1];
        argv[1] = argv[0];
        argv++, argc--;
    }
    *n_dirs = n;
    return cli_command_args(argc, argv, opts, n_opts, cmd, usage);
}

/* The report of the run in dir into path; refresh_s > 0 makes the page reload itself. */
static int write_report(const char *dir, const char *path, int refresh_s, int quiet,
                        double min_accuracy) {
    uh_error_t err = {0};
    uh_run_data_t *run;
    if (uh_run_load(dir, &run, &err))
        return cli_fail(cli_exit_code(err.code), "report: %s", err.msg);
    run->refresh_s = refresh_s;
    run->min_accuracy = min_accuracy;
    char *html = NULL;
    int rc = uh_report_run(run, &html, &err);
    uh_run_free(run);
    if (rc) return cli_fail(UH_EXIT_FAIL, "report: %s", err.msg);
    return write_html(path, html, "report", quiet);
}

/* The last generation stored in dir, or -1 (none yet, or the store cannot be read now). */
static int last_generation(const char *dir) {
    uh_store_t *s;
    uh_error_t err = {0};
    int g = -1;
    if (uh_store_open_readonly(dir, &s, &err)) return -1;
    if (uh_store_latest_generation(s, &g, &err)) g = -1;
    uh_store_close(s);
    return g;
}

/* --watch: the report again after every generation while a search runs in dir, the page
 * reloading itself; once the run has ended (or was never running), one last report without
 * the reload, and done. The run's liveness is read before its data, so the last report
 * always holds everything the run stored. */
static int watch_report(const char *dir, const char *path, int every_s, double min_accuracy) {
    for (int written = -2;;) {
        int alive = uh_store_run_alive(dir), g = last_generation(dir);
        if (!alive) return write_report(dir, path, 0, 0, min_accuracy);
        if (g != written) {
            int code = write_report(dir, path, every_s, 1, min_accuracy);
            if (code != UH_EXIT_OK) return code;
            written = g;
        }
        sleep((unsigned)every_s);
    }
}

int uh_cmd_report(int argc, char **argv, const cli_env_t *env) {
    (void)env;
    const char *dirs[1], *out = NULL;
    int n_dirs, watch = 0, every = 10;
    double min_accuracy = 0;
    const cli_opt_t opts[] = {
        {"out", OPT_STRING, &out, 0, 0, NULL, "FILE", "where to write (default DIR/report.html)"},
        {"watch", OPT_FLAG, &watch, 0, 0, NULL, NULL,
         "while a search runs in DIR: write the report again after every generation, as a page "
         "that reloads itself; stop when the run ends (with a last report)"},
        {"every", OPT_INT, &every, 1, 3600, NULL, "SECONDS",
         "--watch: how often to look, and the page's reload interval (default 10)"},
        {"min-accuracy", OPT_REAL, &min_accuracy, 0, 1, NULL, "A",
         "the deployment view shows only front networks at least this accurate, and suggests "
         "the knee of those (default 0: all)"}};
    int code = dirs_and_options(
        argc, argv, dirs, 1, &n_dirs, opts, (int)(sizeof opts / sizeof opts[0]), "report",
        "usage: uhnas report DIR [--out FILE] [--min-accuracy A] [--watch [--every SECONDS]]\n\n"
        "Writes one self-contained HTML file about the run in DIR (inline SVG, opens\n"
        "from disk): the Pareto front of validation error vs energy per inference,\n"
        "hypervolume and diversity per generation, clean vs noisy accuracy with\n"
        "Spearman's rho, the front as a table, the deployment view (per front network:\n"
        "energy by layer, latency, area, the export commands: the network, and the\n"
        "chip's programming file where the backend has one; the knee suggested),\n"
        "language-model statistics when the run had a model, and the run's config.\n"
        "Prints the file's path. With --watch it follows a search that is running in\n"
        "DIR until it ends.\n");
    if (code != CLI_GO_ON) return code;
    if (n_dirs != 1)
        return cli_fail(UH_EXIT_USAGE, "report: which run directory? (uhnas report DIR)");
    char path[1100];
    snprintf(path, sizeof path, "%s/report.html", dirs[0]);
    if (watch) return watch_report(dirs[0], out ? out : path, every, min_accuracy);
    return write_report(dirs[0], out ? out : path, 0, 0, min_accuracy);
}

/* text into path when path is set (text freed either way); 0 or the exit code */
static int write_csv(const char *path, char *text, const char *what) {
    uh_error_t err = {0};
    int rc = path && uh_write_file_atomic(path, text, strlen(text), &err);
    free(text);
    if (rc) return cli_fail(UH_EXIT_FAIL, "compare: %s: %s", what, err.msg);
    if (path) printf("%s\n", path);
    return UH_EXIT_OK;
}

int uh_cmd_compare(int argc, char **argv, const cli_env_t *env) {
    (void)env;
    const char *dirs[UH_REPORT_MAX_RUNS], *out = "compare.html", *csv_path = NULL;
    const char *curves_path = NULL;
    int n_dirs, by_parent = 0;
    const cli_opt_t opts[] = {
        {"out", OPT_STRING, &out, 0, 0, NULL, "FILE", "where to write (default compare.html)"},
        {"csv", OPT_STRING, &csv_path, 0, 0, NULL, "FILE",
         "strategies: also write their statistics per strategy as CSV"},
        {"curves", OPT_STRING, &curves_path, 0, 0, NULL, "FILE",
         "strategies: also write hypervolume against evaluations (mean, 95 % interval) as CSV"},
        {"group-by-parent", OPT_FLAG, &by_parent, 0, 0, NULL, NULL,
         "name strategies by their run directories' parent folders, not by their strategy "
         "(variants of one strategy: bench/strategies.sh's OUT/.../LABEL/sSEED)"}};
    int code = dirs_and_options(
        argc, argv, dirs, UH_REPORT_MAX_RUNS, &n_dirs, opts, 4, "compare",
        "usage: uhnas compare DIR... [--out FILE] [--csv FILE] [--curves FILE]\n"
        "                     [--group-by-parent]\n\n"
        "Puts several runs on one HTML page. Runs on different backends: their Pareto\n"
        "fronts on one plot (the paper's Figure 1). Runs of different strategies on one\n"
        "backend, over seeds: hypervolume against candidates evaluated (mean and 95 %\n"
        "bootstrap interval), and per strategy the final hypervolume with the p of a\n"
        "Mann-Whitney U test against random and against nsga2, the front's size, genome\n"
        "distance and drop (clean - noisy), coverage of an energy x accuracy grid, the\n"
        "spread of the proposals' energy, and cost (training time, epochs, model tokens,\n"
        "cached candidates). Runs must share their data; strategies must also share their\n"
        "budget (population, children, generations, epochs, mc), or compare refuses (exit\n"
        "code 2). Hypervolumes are re-scored from the rows with today's rule.\n");
    if (code != CLI_GO_ON) return code;
    if (n_dirs < 1) return cli_fail(UH_EXIT_USAGE, "compare: which run directories?");
    uh_run_data_t *runs[UH_REPORT_MAX_RUNS];
    uh_error_t err = {0};
    int rc = UH_OK, loaded = 0;
    for (; loaded < n_dirs && !rc; loaded++)
        if ((rc = uh_run_load(dirs[loaded], &runs[loaded], &err))) break;
    char *html = NULL, *csv = NULL, *curves = NULL;
    uh_compare_opts_t how = {.group_by_parent = by_parent};
    if (!rc)
        rc = uh_report_compare((const uh_run_data_t *const *)runs, n_dirs, &how, &html, &csv,
                               &curves, &err);
    for (int i = 0; i < loaded; i++) uh_run_free(runs[i]);
    if (rc) return cli_fail(cli_exit_code(rc), "%s", err.msg);
    if ((csv_path || curves_path) && !csv[0]) {
        free(html), free(csv), free(curves);
        return cli_fail(UH_EXIT_USAGE, "compare: --csv and --curves are for strategies on one "
                                       "backend; these runs use several backends");
    }
    code = write_csv(csv_path, csv, "--csv");
    if (!code)
        code = write_csv(curves_path, curves, "--curves");
    else
        free(curves);
    if (code) {
        free(html);
        return code;
    }
    return write_html(out, html, "compare", 0);
}
