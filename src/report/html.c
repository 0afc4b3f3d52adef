/* One run's report. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"
#include "uhnas/pareto.h"

int *report_front_by_energy(const uh_run_data_t *r, int *n) {
    int *idx = malloc((r->n_rows + 1) * sizeof *idx);
    *n = 0;
    if (!idx) return NULL;
    for (size_t i = 0; i < r->n_rows; i++)
        if (r->on_front[i]) idx[(*n)++] = (int)i;
    for (int i = 1; i < *n; i++) /* insertion sort: fronts are small */
        for (int j = i; j > 0 && r->rows[idx[j]].energy_nj < r->rows[idx[j - 1]].energy_nj; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
    return idx;
}

static int plottable(const uh_run_data_t *r, const uh_candidate_t *c) {
    return c->status == UH_CAND_OK && isfinite(uh_run_accuracy(r, c)) && c->energy_nj > 0;
}

static void tooltip(char *buf, size_t size, const uh_run_data_t *r, const uh_candidate_t *c) {
    snprintf(buf, size, "#%lld %s (%s, generation %d): accuracy %.4f, noisy %.4f, %.4g nJ",
             (long long)c->id, c->hash, c->origin, c->generation, c->accuracy, c->noisy_accuracy,
             c->energy_nj);
    (void)r;
}

static void front_plot(uh_strbuf_t *b, const uh_run_data_t *r) {
    int n = (int)r->n_rows, nf = 0;
    double *e = malloc((size_t)(n + 1) * sizeof *e), *err = malloc((size_t)(n + 1) * sizeof *err);
    int *front = report_front_by_energy(r, &nf);
    if (!e || !err || !front) {
        b->oom = 1;
        free(e), free(err), free(front);
        return;
    }
    for (int i = 0; i < n; i++) {
        const uh_candidate_t *c = &r->rows[i];
        e[i] = plottable(r, c) ? c->energy_nj : NAN;
        err[i] = plottable(r, c) ? 100 * (1 - uh_run_accuracy(r, c)) : NAN;
    }
    double x0, x1, y0, y1;
    report_range(e, n, 1, &x0, &x1);
    report_range(err, n, 0, &y0, &y1);
    if (y0 < 0) y0 = 0;
    char ylabel[64];
    snprintf(ylabel, sizeof ylabel, "validation error, %s (%%)",
             strcmp(r->objective, "clean") == 0 ? "clean" : "noisy");
    plot_t p;
    plot_begin(&p, b, "front", "Pareto front: error vs energy per inference",
               "energy per inference (nJ, log scale)", ylabel, x0, x1, y0, y1, 1);
    char tip[256];
    for (int i = 0; i < n; i++)
        if (!r->on_front[i] && isfinite(e[i])) {
            tooltip(tip, sizeof tip, r, &r->rows[i]);
            plot_point(&p, e[i], err[i], REPORT_FADED, MARK_CIRCLE, 0.45, "dominated", tip);
        }
    double *fx = malloc((size_t)(nf + 1) * sizeof *fx), *fy = malloc((size_t)(nf + 1) * sizeof *fy);
    for (int k = 0; fx && fy && k < nf; k++) fx[k] = e[front[k]], fy[k] = err[front[k]];
    if (fx && fy) plot_line(&p, fx, fy, nf, REPORT_COLORS[0], 0, 1);
    for (int k = 0; k < nf; k++) {
        tooltip(tip, sizeof tip, r, &r->rows[front[k]]);
        plot_point(&p, e[front[k]], err[front[k]], REPORT_COLORS[0], MARK_CIRCLE, 1, "front", tip);
    }
    const char *names[] = {"Pareto front", "dominated"};
    const char *colors[] = {REPORT_COLORS[0], REPORT_FADED};
    const mark_t marks[] = {MARK_CIRCLE, MARK_CIRCLE};
    const int dashed[] = {0, -1};
    plot_legend(&p, LEGEND_TOP_RIGHT, names, colors, marks, dashed, 2);
    plot_end(&p);
    free(fx), free(fy), free(e), free(err), free(front);
}

static void generation_plot(uh_strbuf_t *b, const uh_run_data_t *r, int diversity) {
    int n = r->n_gens;
    double *x = calloc((size_t)n + 1, sizeof *x), *y = calloc((size_t)n + 1, sizeof *y);
    if (!x || !y) {
        b->oom = 1;
        free(x), free(y);
        return;
    }
    for (int g = 0; g < n; g++) {
        x[g] = r->gens[g].generation;
        y[g] = diversity ? r->gens[g].diversity : r->gens[g].hypervolume;
    }
    double x0 = 0, x1 = n > 1 ? x[n - 1] : 1, y0, y1;
    report_range(y, n, 0, &y0, &y1);
    plot_t p;
    plot_begin(&p, b, diversity ? "diversity" : "hypervolume",
               diversity ? "Diversity of the front per generation"
                         : "Hypervolume of all candidates per generation",
               "generation",
               diversity ? "mean pairwise genome distance on the front"
                         : "hypervolume (error / chance error × log energy, clipped)",
               x0, x1, y0, y1, 0);
    plot_line(&p, x, y, n, REPORT_COLORS[diversity ? 2 : 0], 0, 0);
    for (int g = 0; g < n; g++) {
        char tip[96];
        snprintf(tip, sizeof tip, "generation %d: %.4f", (int)x[g], y[g]);
        plot_point(&p, x[g], y[g], REPORT_COLORS[diversity ? 2 : 0],
                   diversity ? MARK_SQUARE : MARK_CIRCLE, 1, "gen", tip);
    }
    plot_end(&p);
    free(x), free(y);
}

static void robustness_plot(uh_strbuf_t *b, const uh_run_data_t *r) {
    int n = (int)r->n_rows, m = 0;
    double *clean = malloc((size_t)(n + 1) * sizeof *clean);
    double *noisy = malloc((size_t)(n + 1) * sizeof *noisy);
    if (!clean || !noisy) {
        b->oom = 1;
        free(clean), free(noisy);
        return;
    }
    for (int i = 0; i < n; i++)
        if (plottable(r, &r->rows[i])) {
            clean[m] = 100 * r->rows[i].accuracy;
            noisy[m++] = 100 * r->rows[i].noisy_accuracy;
        }
    double rho = uh_spearman_rho(clean, noisy, m);
    double both[2], lo, hi, l2, h2;
    report_range(clean, m, 0, &lo, &hi);
    report_range(noisy, m, 0, &l2, &h2);
    both[0] = fmin(lo, l2), both[1] = fmax(hi, h2);
    char title[96];
    if (isfinite(rho))
        snprintf(title, sizeof title, "Clean vs noisy accuracy (Spearman ρ = %.3f, n = %d)", rho,
                 m);
    else
        snprintf(title, sizeof title, "Clean vs noisy accuracy (n = %d)", m);
    plot_t p;
    plot_begin(&p, b, "robustness", title, "clean validation accuracy (%)",
               "noisy validation accuracy (%)", both[0], both[1], both[0], both[1], 0);
    plot_line(&p, both, both, 2, REPORT_FADED, 1, 0); /* y = x: no loss to the hardware */
    for (int i = 0, k = 0; i < n; i++)
        if (plottable(r, &r->rows[i])) {
            char tip[256];
            tooltip(tip, sizeof tip, r, &r->rows[i]);
            plot_point(&p, clean[k], noisy[k], REPORT_COLORS[r->on_front[i] ? 0 : 1],
                       r->on_front[i] ? MARK_CIRCLE : MARK_TRIANGLE, 0.8,
                       r->on_front[i] ? "front" : "dominated", tip);
            k++;
        }
    const char *names[] = {"on the front", "dominated", "no loss (y = x)"};
    const char *colors[] = {REPORT_COLORS[0], REPORT_COLORS[1], REPORT_FADED};
    const mark_t marks[] = {MARK_CIRCLE, MARK_TRIANGLE, MARK_COUNT};
    const int dashed[] = {-1, -1, 1};
    plot_legend(&p, LEGEND_TOP_LEFT, names, colors, marks, dashed, 3);
    plot_end(&p);
    free(clean), free(noisy);
}

static void front_table(uh_strbuf_t *b, const uh_run_data_t *r) {
    int nf = 0, *front = report_front_by_energy(r, &nf);
    if (!front) {
        b->oom = 1;
        return;
    }
    uh_strbuf_puts(b, "<table class=\"front\"><tr><th>id</th><th class=\"l\">architecture</th>"
                      "<th class=\"l\">origin</th><th>gen</th><th>params</th><th>MACs</th>"
                      "<th>val acc</th><th>noisy</th><th>drop</th><th>test acc</th>"
                      "<th>test noisy</th><th>energy (nJ)</th></tr>\n");
    for (int k = 0; k < nf; k++) {
        const uh_candidate_t *c = &r->rows[front[k]];
        uh_strbuf_putf(b, "<tr><td>%lld</td><td class=\"l\"><span title=\"", (long long)c->id);
        html_text(b, c->arch);
        uh_strbuf_puts(b, "\">");
        arch_summary(b, c->arch);
        uh_strbuf_puts(b, "</span></td><td class=\"l\">");
        html_text(b, c->origin);
        uh_strbuf_putf(b,
                       "</td><td>%d</td><td>%ld</td><td>%ld</td><td>%.4f</td><td>%.4f</td>"
                       "<td>%.4f</td>",
                       c->generation, c->params, c->macs, c->accuracy, c->noisy_accuracy,
                       c->accuracy - c->noisy_accuracy);
        if (r->has_test[front[k]])
            uh_strbuf_putf(b, "<td>%.4f</td><td>%.4f</td>", r->test[front[k]].accuracy,
                           r->test[front[k]].noisy_accuracy);
        else
            uh_strbuf_puts(b, "<td>–</td><td>–</td>");
        uh_strbuf_putf(b, "<td>%.4g</td></tr>\n", c->energy_nj);
    }
    uh_strbuf_puts(b, "</table>\n");
    free(front);
}

/* ---- deploying a front network ---- */

/* The knee of the front members idx[0..n) (cheapest first): the one farthest below the line
 * through the two ends, with error and log10 energy each scaled to [0, 1] over the front
 * (I. Das, "On characterizing the 'knee' of the Pareto curve based on normal-boundary
 * intersection", Structural Optimization 18, 1999). -1 with fewer than three members. */
static int front_knee(const uh_run_data_t *r, const int *idx, int n) {
    if (n < 3) return -1;
    double x[3], y[3]; /* ends, then the member */
    const uh_candidate_t *a = &r->rows[idx[0]], *z = &r->rows[idx[n - 1]];
    double x0 = log10(a->energy_nj), x1 = log10(z->energy_nj);
    double y0 = 1 - uh_run_accuracy(r, a), y1 = 1 - uh_run_accuracy(r, z);
    if (!(x1 > x0) || !(y0 > y1)) return -1;
    x[0] = 0, y[0] = 1, x[1] = 1, y[1] = 0; /* the ends, scaled */
    int best = -1;
    double best_d = 0;
    for (int k = 1; k + 1 < n; k++) {
        const uh_candidate_t *c = &r->rows[idx[k]];
        x[2] = (log10(c->energy_nj) - x0) / (x1 - x0);
        y[2] = (1 - uh_run_accuracy(r, c) - y1) / (y0 - y1);
        double d = (1 - x[2] - y[2]) / sqrt(2.0); /* below the line x + y = 1 */
        if (d > best_d) best_d = d, best = k;
    }
    return best;
}

/* s as one shell word: as it is when it is plain, else in single quotes. */
static void shell_word(uh_strbuf_t *b, const char *s) {
    int plain = *s != '\0';
    for (const char *p = s; *p; p++)
        plain &= (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 strchr("/._-+:,=", *p) != NULL;
    if (plain) {
        html_text(b, s);
        return;
    }
    uh_strbuf_puts(b, "'");
    for (const char *p = s; *p; p++) {
        char one[2] = {*p, '\0'};
        html_text(b, *p == '\'' ? "'\\''" : one);
    }
    uh_strbuf_puts(b, "'");
}

/* A bar of the energy per layer, in layer order, each segment's title its components. */
static void energy_bar(uh_strbuf_t *b, const uh_energy_t *e) {
    static const char *const colors[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759",
                                         "#76b7b2", "#edc948", "#b07aa1", "#9c755f"};
    uh_strbuf_puts(b, "<div class=\"bar\">");
    for (int l = 0; l < e->n_layers; l++) {
        const uh_energy_layer_t *L = &e->layers[l];
        if (!(L->nj > 0) || !(e->total_nj > 0)) continue;
        uh_strbuf_putf(
            b, "<span style=\"width:%.2f%%;background:%s\" title=\"layer %d: %.4g nJ (%.1f%%)",
            100 * L->nj / e->total_nj, colors[l % 8], l + 1, L->nj, 100 * L->nj / e->total_nj);
        for (int k = 0; k < L->n_parts; k++) {
            uh_strbuf_puts(b, k ? ", " : ": ");
            html_text(b, L->parts[k].name);
            uh_strbuf_putf(b, " %.3g", L->parts[k].nj);
        }
        uh_strbuf_puts(b, "\"></span>");
    }
    uh_strbuf_puts(b, "</div>");
}

/* The accuracy the deployment view shows and filters on: the run objective's, on the test
 * set where the row was measured there, else on validation. */
static double deploy_accuracy(const uh_run_data_t *r, int i) {
    if (!r->has_test[i]) return uh_run_accuracy(r, &r->rows[i]);
    return strcmp(r->objective, "clean") == 0 ? r->test[i].accuracy : r->test[i].noisy_accuracy;
}

/* What choosing a network for the chip needs: per front network at least r->min_accuracy
 * accurate, where its energy goes, latency, area, accuracy, the command that exports it; the
 * knee of those suggested. */
static void deploy_section(uh_strbuf_t *b, const uh_run_data_t *r) {
    int nf = 0, *front = report_front_by_energy(r, &nf);
    if (!front) {
        b->oom = 1;
        return;
    }
    int n = 0; /* the front members above the minimum, cheapest first */
    for (int k = 0; k < nf; k++)
        if (deploy_accuracy(r, front[k]) >= r->min_accuracy) front[n++] = front[k];
    int knee = front_knee(r, front, n);
    uh_strbuf_puts(b, "<h2>Deploying a network</h2>\n<p>Each front network's energy per "
                      "inference on ");
    html_text(b, r->backend);
    uh_strbuf_puts(b, " by layer (segments in layer order; hover for the components), its "
                      "latency and area, and the command that exports it with its weights. "
                      "Accuracy: the run's objective, on the test set (else validation).");
    if (r->min_accuracy > 0)
        uh_strbuf_putf(b,
                       " Networks below %.4f are left out (<code>--min-accuracy</code>): "
                       "%d of %d shown.",
                       r->min_accuracy, n, nf);
    if (knee >= 0)
        uh_strbuf_putf(b,
                       " Suggested: <b>#%lld</b> (highlighted), the knee of these: the network "
                       "farthest below the line between the cheapest and the most accurate, "
                       "with error and log energy scaled to their range.",
                       (long long)r->rows[front[knee]].id);
    uh_strbuf_puts(b, "</p>\n<table class=\"deploy\"><tr><th>id</th><th class=\"l\">network</th>"
                      "<th>accuracy</th><th>energy (nJ)</th><th>latency (ns)</th>"
                      "<th>area (mm²)</th><th class=\"l\">energy by layer</th>"
                      "<th class=\"l\">export</th></tr>\n");
    for (int k = 0; k < n; k++) {
        const int i = front[k];
        const uh_candidate_t *c = &r->rows[i];
        uh_strbuf_putf(b, "<tr%s><td>%lld</td><td class=\"l\">", k == knee ? " class=\"knee\"" : "",
                       (long long)c->id);
        arch_summary(b, c->arch);
        arch_diagram(b, c->arch);
        uh_strbuf_putf(
            b, "</td><td>%.4f%s</td><td>%.4g</td><td>%.4g</td><td>%.4g</td><td class=\"l\">",
            deploy_accuracy(r, i), r->has_test[i] ? "" : " (val)", c->energy_nj, c->latency_ns,
            c->area_mm2);
        if (r->energy && r->energy[i]) energy_bar(b, r->energy[i]);
        uh_strbuf_puts(b, "</td><td class=\"l\"><code>uhnas export --run ");
        shell_word(b, r->dir);
        uh_strbuf_putf(b, " --candidate %lld --out net-%lld.py</code>", (long long)c->id,
                       (long long)c->id);
        if (r->program_format[0]) { /* the chip's programming (docs/programming.md) */
            uh_strbuf_puts(b, "<br><code>uhnas export --run ");
            shell_word(b, r->dir);
            uh_strbuf_putf(b, " --candidate %lld --format %s --out chip-%lld.json</code>",
                           (long long)c->id, r->program_format, (long long)c->id);
        }
        uh_strbuf_puts(b, "</td></tr>\n");
    }
    uh_strbuf_puts(b, "</table>\n");
    free(front);
}

#define MAX_COLUMNS 32

/* Column c's value in generation x: NAN when x has no such count. */
static double count_of(const uh_run_gen_t *x, const char *name) {
    for (int i = 0; i < x->n_counts; i++)
        if (strcmp(x->counts[i].name, name) == 0) return x->counts[i].value;
    return NAN;
}

static void put_number(uh_strbuf_t *b, const char *cell, double v) {
    if (isnan(v))
        uh_strbuf_putf(b, "<%s>–</%s>", cell, cell);
    else if (v == floor(v) && fabs(v) < 1e15)
        uh_strbuf_putf(b, "<%s>%.0f</%s>", cell, v, cell);
    else
        uh_strbuf_putf(b, "<%s>%.4g</%s>", cell, v, cell);
}

/* The operator's counts per generation, whatever the operator: one column per count it
 * stored (calls and failures first, then in their stored order), totals where every value
 * is a whole number (a sum of losses or rates means nothing), and its knowledge base. */
static void operator_section(uh_strbuf_t *b, const uh_run_data_t *r) {
    const char *cols[MAX_COLUMNS], *first[] = {"calls", "failed"}, *name = NULL;
    int n_cols = 0;
    for (int pass = 0; pass < 3; pass++)
        for (int g = 0; g < r->n_gens; g++)
            for (int i = 0; i < r->gens[g].n_counts && n_cols < MAX_COLUMNS; i++) {
                const char *c = r->gens[g].counts[i].name;
                int seen = pass < 2 && strcmp(c, first[pass]) != 0;
                for (int k = 0; k < n_cols && !seen; k++) seen = strcmp(cols[k], c) == 0;
                if (!seen) cols[n_cols++] = c, name = r->gens[g].operator_name;
            }
    if (n_cols == 0) return;
    uh_strbuf_puts(b, "<h2>Operator: ");
    html_text(b, name);
    uh_strbuf_puts(b, "</h2>\n<table class=\"llm\"><tr><th>generation</th>");
    for (int k = 0; k < n_cols; k++) {
        uh_strbuf_puts(b, "<th>");
        for (const char *p = cols[k]; *p; p++) /* prompt_tokens → prompt tokens */
            uh_strbuf_putf(b, "%c", *p == '_' ? ' ' : *p);
        uh_strbuf_puts(b, "</th>");
    }
    uh_strbuf_puts(b, "</tr>\n");
    double tot[MAX_COLUMNS] = {0};
    const char *last_kb = NULL;
    for (int g = 0; g < r->n_gens; g++) {
        const uh_run_gen_t *x = &r->gens[g];
        if (x->n_counts == 0) continue;
        uh_strbuf_putf(b, "<tr><td>%d</td>", x->generation);
        for (int k = 0; k < n_cols; k++) {
            double v = count_of(x, cols[k]);
            put_number(b, "td", v);
            if (!isnan(v)) tot[k] = v == floor(v) ? tot[k] + v : NAN;
        }
        uh_strbuf_puts(b, "</tr>\n");
        if (x->heuristics) last_kb = x->heuristics;
    }
    uh_strbuf_puts(b, "<tr><th>total</th>");
    for (int k = 0; k < n_cols; k++) put_number(b, "th", tot[k]);
    uh_strbuf_puts(b, "</tr></table>\n");
    if (last_kb) {
        uh_strbuf_puts(b, "<p>The knowledge base at the end (written by the model):</p><pre>");
        html_text(b, last_kb);
        uh_strbuf_puts(b, "</pre>\n");
    }
}

/* The MPI workers of the run's latest session: throughput and idle share per rank, and rank
 * 0's coordination. */
static void workers_section(uh_strbuf_t *b, const uh_run_data_t *r) {
    if (r->n_workers == 0) return;
    double wall = r->workers_wall_s;
    uh_strbuf_putf(b,
                   "<h2>Workers</h2>\n<p>The latest MPI session: %d worker ranks over %.1f s; rank "
                   "0 coordinated (dispatch, receive, commit) for %.2f s.</p>\n<table><tr><th>rank"
                   "</th><th>candidates</th><th>per minute</th><th>busy s</th><th>idle</th></tr>\n",
                   r->n_workers, wall, r->coordination_s);
    for (int i = 0; i < r->n_workers; i++) {
        const uh_run_worker_t *w = &r->workers[i];
        uh_strbuf_putf(
            b, "<tr><td>%d</td><td>%ld</td><td>%.2f</td><td>%.1f</td><td>%.0f %%</td></tr>\n",
            w->rank, w->candidates, wall > 0 ? 60 * (double)w->candidates / wall : 0, w->busy_s,
            wall > 0 ? 100 * w->idle_s / wall : 0);
    }
    uh_strbuf_puts(b, "</table>\n");
}

int uh_report_run(const uh_run_data_t *r, char **html, uh_error_t *err) {
    uh_strbuf_t b = {0};
    char title[400];
    snprintf(title, sizeof title, "uhnas run: %.160s, %s on %s", r->dir, r->strategy, r->backend);
    html_begin(&b, title, r->refresh_s);
    uh_strbuf_puts(&b, "<h1>");
    html_text(&b, title);
    uh_strbuf_puts(&b, "</h1>\n<p>");
    int ok = 0, nf = 0;
    for (size_t i = 0; i < r->n_rows; i++)
        ok += r->rows[i].status == UH_CAND_OK, nf += r->on_front[i];
    const uh_run_gen_t *last = r->n_gens ? &r->gens[r->n_gens - 1] : NULL;
    uh_strbuf_putf(&b,
                   "Strategy <b>%s</b>, seed %llu, objective %s accuracy; budget %d + %d × %d "
                   "candidates, %d epochs, %d Monte-Carlo samples; data ",
                   r->strategy, r->seed, r->objective, r->population, r->generations, r->children,
                   r->epochs, r->mc);
    html_text(&b, r->dataset);
    int cached = 0;
    for (int g = 0; g < r->n_gens; g++) cached += r->gens[g].cached;
    uh_strbuf_putf(&b, ".<br>%zu candidates (%d measured", r->n_rows, ok);
    if (cached) uh_strbuf_putf(&b, "; %d answered from an evaluation cache, untrained", cached);
    if (r->async) /* its generations are decisions, one child at a time */
        uh_strbuf_putf(&b,
                       "), %d on the front; asynchronous steady state, %d decisions recorded; "
                       "hypervolume %.4f (networks at chance count for nothing).</p>\n",
                       nf, r->n_gens, last ? last->hypervolume : NAN);
    else
        uh_strbuf_putf(&b,
                       "), %d on the front; %d of %d generations "
                       "stored; hypervolume %.4f (networks at chance count for nothing).</p>\n",
                       nf, r->n_gens, r->generations + 1, last ? last->hypervolume : NAN);
    uh_strbuf_puts(&b, "<h2>Front and progress</h2>\n<div class=\"plots\">\n");
    front_plot(&b, r);
    robustness_plot(&b, r);
    generation_plot(&b, r, 0);
    generation_plot(&b, r, 1);
    uh_strbuf_puts(&b, "</div>\n<p class=\"note\">Hypervolume: objectives (1 − accuracy, "
                       "log10(E / E_linear) / 4), reference point (1, 1); E_linear is the "
                       "backend's energy for one dense layer from inputs to classes.</p>\n");
    uh_strbuf_puts(&b, "<h2>The front</h2>\n");
    front_table(&b, r);
    deploy_section(&b, r);
    operator_section(&b, r);
    workers_section(&b, r);
    uh_strbuf_puts(&b, "<h2>Config</h2>\n<details><summary>the run's full config (backend file "
                       "included)</summary><pre>");
    html_text(&b, r->config);
    uh_strbuf_puts(&b, "</pre></details>\n");
    html_end(&b);
    *html = uh_strbuf_take(&b);
    return *html ? UH_OK : uh_error_set(err, UH_ENOMEM, "out of memory writing the report");
}
