/* Several runs on one page: backends side by side (fronts), or strategies across seeds
 * (hypervolume mean ± std per generation). Comparisons that would mislead are refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

/* The first field in which b's data (or budget) differs from a's; NULL when none. */
static const char *data_difference(const uh_run_data_t *a, const uh_run_data_t *b, char *buf,
                                   size_t size) {
    if (strcmp(a->dataset, b->dataset) != 0)
        snprintf(buf, size, "dataset %s vs %s", a->dataset, b->dataset);
    else if (a->limit_train != b->limit_train)
        snprintf(buf, size, "training samples %d vs %d", a->limit_train, b->limit_train);
    else if (a->limit_test != b->limit_test)
        snprintf(buf, size, "test samples %d vs %d", a->limit_test, b->limit_test);
    else if (a->val_fraction != b->val_fraction)
        snprintf(buf, size, "validation fraction %g vs %g", a->val_fraction, b->val_fraction);
    else
        return NULL;
    return buf;
}

static const char *budget_difference(const uh_run_data_t *a, const uh_run_data_t *b, char *buf,
                                     size_t size) {
    const char *names[] = {"population", "children", "generations", "epochs",
                           "Monte-Carlo samples"};
    const int va[] = {a->population, a->children, a->generations, a->epochs, a->mc};
    const int vb[] = {b->population, b->children, b->generations, b->epochs, b->mc};
    for (int i = 0; i < 5; i++)
        if (va[i] != vb[i]) {
            snprintf(buf, size, "%s %d vs %d", names[i], va[i], vb[i]);
            return buf;
        }
    return NULL; /* the objective may differ: the ablation (report_strategies) */
}

int report_find_name(const void *items, size_t stride, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp((const char *)items + (size_t)i * stride, name) == 0) return i;
    return -1;
}

/* Index of name in list[0..*n), appended when new. */
static int group_of(char list[][64], int *n, const char *name) {
    int i = report_find_name(list, sizeof *list, *n, name);
    if (i >= 0) return i;
    snprintf(list[*n], 64, "%s", name);
    return (*n)++;
}

static void summary_table(uh_strbuf_t *b, const uh_run_data_t *const *runs, int n) {
    uh_strbuf_puts(b,
                   "<table class=\"runs\"><tr><th class=\"l\">run</th><th class=\"l\">backend</th>"
                   "<th class=\"l\">strategy</th><th>seed</th><th>candidates</th>"
                   "<th>front</th><th>energy on the front (nJ)</th><th>best accuracy</th>"
                   "<th>hypervolume</th></tr>\n");
    for (int i = 0; i < n; i++) {
        const uh_run_data_t *r = runs[i];
        double lo = INFINITY, hi = -INFINITY, best = -INFINITY;
        int nf = 0;
        for (size_t k = 0; k < r->n_rows; k++) {
            if (!r->on_front[k]) continue;
            nf++;
            lo = fmin(lo, r->rows[k].energy_nj);
            hi = fmax(hi, r->rows[k].energy_nj);
            best = fmax(best, uh_run_accuracy(r, &r->rows[k]));
        }
        uh_strbuf_puts(b, "<tr><td class=\"l\">");
        html_text(b, r->dir);
        uh_strbuf_puts(b, "</td><td class=\"l\">");
        html_text(b, r->backend);
        uh_strbuf_puts(b, "</td><td class=\"l\">");
        html_text(b, r->strategy);
        uh_strbuf_putf(b,
                       "</td><td>%llu</td><td>%zu</td><td>%d</td><td>%.4g – %.4g</td>"
                       "<td>%.4f</td><td>%.4f</td></tr>\n",
                       r->seed, r->n_rows, nf, lo, hi, best,
                       r->n_gens ? r->gens[r->n_gens - 1].hypervolume : NAN);
    }
    uh_strbuf_puts(b, "</table>\n");
}

/* Every run's front on one plot, one colour and marker per backend (the paper's Figure 1). */
static void fronts_plot(uh_strbuf_t *b, const uh_run_data_t *const *runs, int n) {
    char groups[UH_REPORT_MAX_RUNS][64];
    int n_groups = 0;
    size_t total = 0;
    for (int i = 0; i < n; i++) total += runs[i]->n_rows;
    double *e = calloc(total + 1, sizeof *e), *err = calloc(total + 1, sizeof *err);
    if (!e || !err) {
        b->oom = 1;
        free(e), free(err);
        return;
    }
    size_t m = 0;
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < runs[i]->n_rows; k++)
            if (runs[i]->on_front[k]) {
                e[m] = runs[i]->rows[k].energy_nj;
                err[m++] = 100 * (1 - uh_run_accuracy(runs[i], &runs[i]->rows[k]));
            }
    double x0, x1, y0, y1;
    report_range(e, (int)m, 1, &x0, &x1);
    report_range(err, (int)m, 0, &y0, &y1);
    if (y0 < 0) y0 = 0;
    plot_t p;
    plot_begin(&p, b, "compare-front", "Pareto fronts per backend",
               "energy per inference (nJ, log scale)", "validation error (%)", x0, x1, y0, y1, 1);
    const char *names[UH_REPORT_MAX_RUNS], *colors[UH_REPORT_MAX_RUNS];
    mark_t marks[UH_REPORT_MAX_RUNS];
    int dashed[UH_REPORT_MAX_RUNS];
    for (int i = 0; i < n; i++) {
        const uh_run_data_t *r = runs[i];
        int g = group_of(groups, &n_groups, r->backend);
        const char *color = REPORT_COLORS[g % REPORT_N_COLORS];
        mark_t mark = (mark_t)(g % MARK_COUNT);
        int nf = 0, *front = report_front_by_energy(r, &nf);
        double *fx = malloc((size_t)(nf + 1) * sizeof *fx),
               *fy = malloc((size_t)(nf + 1) * sizeof *fy);
        for (int k = 0; front && fx && fy && k < nf; k++) {
            fx[k] = r->rows[front[k]].energy_nj;
            fy[k] = 100 * (1 - uh_run_accuracy(r, &r->rows[front[k]]));
        }
        if (!front) nf = 0;
        free(front);
        if (fx && fy) plot_line(&p, fx, fy, nf, color, i >= n_groups, 1);
        for (int k = 0; fx && fy && k < nf; k++) {
            char tip[256];
            snprintf(tip, sizeof tip, "%s, %s seed %llu: error %.2f%%, %.4g nJ", r->backend,
                     r->strategy, r->seed, fy[k], fx[k]);
            plot_point(&p, fx[k], fy[k], color, mark, 0.9, "front", tip);
        }
        free(fx), free(fy);
    }
    for (int g = 0; g < n_groups; g++) {
        names[g] = groups[g];
        colors[g] = REPORT_COLORS[g % REPORT_N_COLORS];
        marks[g] = (mark_t)(g % MARK_COUNT);
        dashed[g] = 0;
    }
    plot_legend(&p, LEGEND_TOP_RIGHT, names, colors, marks, dashed, n_groups);
    plot_end(&p);
    free(e), free(err);
}

int uh_report_compare(const uh_run_data_t *const *runs, int n, const uh_compare_opts_t *opts,
                      char **html, char **csv, char **curves, uh_error_t *err) {
    *html = NULL;
    if (csv) *csv = NULL;
    if (curves) *curves = NULL;
    if (n < 1 || n > UH_REPORT_MAX_RUNS)
        return uh_error_set(err, UH_EINVAL, "compare: give 1 to %d run directories",
                            UH_REPORT_MAX_RUNS);
    char why[128];
    int one_backend = 1;
    for (int i = 1; i < n; i++) {
        if (data_difference(runs[0], runs[i], why, sizeof why))
            return uh_error_set(err, UH_EINVAL, "compare: %s and %s used different data (%s)",
                                runs[0]->dir, runs[i]->dir, why);
        one_backend &= strcmp(runs[0]->backend, runs[i]->backend) == 0;
    }
    for (int i = 1; one_backend && i < n; i++)
        if (budget_difference(runs[0], runs[i], why, sizeof why))
            return uh_error_set(err, UH_EINVAL,
                                "compare: strategies on %s can only be compared at one budget; "
                                "%s and %s differ (%s)",
                                runs[0]->backend, runs[0]->dir, runs[i]->dir, why);
    uh_strbuf_t b = {0}, table = {0}, csv_text = {0}, curves_text = {0};
    const char *title = one_backend ? "uhnas: strategies compared" : "uhnas: backends compared";
    html_begin(&b, title, 0);
    uh_strbuf_puts(&b, "<h1>");
    html_text(&b, title);
    uh_strbuf_putf(&b, "</h1>\n<p>%d runs on ", n);
    html_text(&b, runs[0]->dataset);
    uh_strbuf_putf(&b, " (%d training samples%s).</p>\n<div class=\"plots\">\n",
                   runs[0]->limit_train, runs[0]->limit_train ? "" : ": all");
    fronts_plot(&b, runs, n);
    if (one_backend && report_strategies(&b, &table, &csv_text, &curves_text, runs, n,
                                         opts && opts->group_by_parent))
        b.oom = 1;
    uh_strbuf_puts(&b, "</div>\n");
    if (!one_backend)
        uh_strbuf_puts(&b, "<p class=\"note\">Hypervolumes are normalised per backend (energy "
                           "relative to its own linear classifier), so they rank runs on one "
                           "backend, not backends against each other: compare the fronts.</p>\n");
    if (table.buf) uh_strbuf_puts(&b, table.buf);
    uh_strbuf_free(&table);
    summary_table(&b, runs, n);
    html_end(&b);
    int oom = b.oom || csv_text.oom || curves_text.oom;
    *html = oom ? NULL : uh_strbuf_take(&b);
    if (csv && !oom) *csv = uh_strbuf_take(&csv_text);
    if (curves && !oom) *curves = uh_strbuf_take(&curves_text);
    uh_strbuf_free(&b), uh_strbuf_free(&csv_text), uh_strbuf_free(&curves_text);
    if (*html && (!csv || *csv) && (!curves || *curves)) return UH_OK;
    free(*html), *html = NULL;
    if (csv) free(*csv), *csv = NULL;
    if (curves) free(*curves), *curves = NULL;
    return uh_error_set(err, UH_ENOMEM, "out of memory writing the report");
}
