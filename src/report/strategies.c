/* Strategies compared over seeds: hypervolume against evaluations (mean and 95 % bootstrap
 * interval), the final hypervolume with Mann-Whitney U against random and nsga2, the front's
 * diversity and robustness, the proposals' spread in energy, and what each run cost. The
 * same figures go to the page and to CSV. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "report_internal.h"
#include "uhnas/pareto.h"
#include "uhnas/search.h"

#define BOOTSTRAP_RESAMPLES 2000 /* assumed: the 2.5 % point moves < 1 % of the width */
#define BOOTSTRAP_SEED 0x5eed    /* fixed: the page is a function of the runs */
#define GRID_CELLS 10            /* the energy x accuracy grid is GRID_CELLS squared */

/* One run's figures (NaN where it has none). */
typedef struct {
    double hv, front, front_distance, coverage, median_energy, drop;
    double spread; /* decades between the proposals' 10th and 90th energy percentiles */
    double train_s, epochs, tokens, operator_s, cached;
    double rho; /* Spearman's ρ of clean against noisy accuracy over the measured networks */
} run_stats_t;

static const char *const STAT_NAMES[] = {"final_hypervolume",
                                         "front_size",
                                         "front_genome_distance",
                                         "grid_coverage",
                                         "proposal_energy_p10_p90_decades",
                                         "proposal_energy_median_log10_nj",
                                         "front_drop",
                                         "training_seconds",
                                         "epochs_trained",
                                         "model_tokens",
                                         "operator_seconds",
                                         "cached",
                                         "clean_noisy_spearman"};
#define N_STATS ((int)(sizeof STAT_NAMES / sizeof *STAT_NAMES))

static double stat_of(const run_stats_t *s, int k) {
    const double v[] = {s->hv,     s->front,         s->front_distance, s->coverage,
                        s->spread, s->median_energy, s->drop,           s->train_s,
                        s->epochs, s->tokens,        s->operator_s,     s->cached,
                        s->rho};
    return v[k];
}

/* The q-quantile of sorted v[0..n) by linear interpolation. */
static double quantile(const double *v, int n, double q) {
    if (n < 1) return NAN;
    double at = q * (n - 1);
    int i = (int)at;
    return i + 1 < n ? v[i] + (at - i) * (v[i + 1] - v[i]) : v[n - 1];
}

static double genome_distance(void *ctx, int i, int j) {
    const double *g = ctx;
    return uh_space_distance(g + (size_t)i * UH_SPACE_FEATURES, g + (size_t)j * UH_SPACE_FEATURES);
}

/* Diversity of the front: mean pairwise genome distance of its members. */
static double front_distance(const uh_run_data_t *r, int n_front) {
    double *g = malloc(((size_t)n_front + 1) * UH_SPACE_FEATURES * sizeof *g);
    int m = 0;
    for (size_t i = 0; g && i < r->n_rows; i++) {
        uh_arch_t a;
        uh_error_t ignored = {0};
        if (!r->on_front[i] ||
            uh_arch_parse(r->rows[i].arch, strlen(r->rows[i].arch), r->input, &a, &ignored))
            continue;
        uh_space_encode(&a, g + (size_t)m++ * UH_SPACE_FEATURES);
    }
    double d = g ? uh_mean_pairwise(m, genome_distance, g) : NAN;
    free(g);
    return d;
}

/* The paper's robustness ablation: does clean accuracy rank the networks as the hardware's
 * noise does? Spearman's ρ over the run's fully measured networks. */
static double clean_noisy_rho(const uh_run_data_t *r) {
    double *x = malloc((r->n_rows + 1) * sizeof *x), *y = malloc((r->n_rows + 1) * sizeof *y);
    int n = 0;
    for (size_t i = 0; x && y && i < r->n_rows; i++)
        if (r->rows[i].status == UH_CAND_OK && isfinite(r->rows[i].accuracy) &&
            isfinite(r->rows[i].noisy_accuracy)) {
            x[n] = r->rows[i].accuracy;
            y[n++] = r->rows[i].noisy_accuracy;
        }
    double rho = x && y ? uh_spearman_rho(x, y, n) : NAN;
    free(x), free(y);
    return rho;
}

/* The run's hypervolume curve: of its own objective, or (deployed) of the front it hands over
 * scored on noisy accuracy. */
static const double *hv_curve(const uh_run_data_t *r, int deployed) {
    return deployed ? r->hv_deployed_by_eval : r->hv_by_eval;
}

/* deployed: every figure on noisy accuracy (runs of both objectives compared) */
static void run_stats(const uh_run_data_t *r, int deployed, run_stats_t *s) {
    memset(s, 0, sizeof *s);
    s->hv = r->n_evals > 0 ? hv_curve(r, deployed)[r->n_evals] : NAN;
    double drop = 0, chance = 1.0 / r->n_classes;
    int cells[GRID_CELLS][GRID_CELLS] = {{0}}, n_front = 0, n_energy = 0;
    double *energy = malloc((r->n_rows + 1) * sizeof *energy);
    for (size_t i = 0; i < r->n_rows; i++) {
        const uh_candidate_t *c = &r->rows[i];
        if (r->on_front[i]) n_front++, drop += c->accuracy - c->noisy_accuracy;
        /* the proposals: every child the strategy made (generation 0 is the same random
         * population for all), refused ones included */
        if (energy && c->generation > 0 && c->energy_nj > 0)
            energy[n_energy++] = log10(c->energy_nj);
        if (c->status == UH_CAND_OK && c->energy_nj > 0) {
            double acc = deployed ? c->noisy_accuracy : uh_run_accuracy(r, c);
            double x = (log10(c->energy_nj) - r->energy_zero) / UH_HV_ENERGY_DECADES;
            double y = (acc - chance) / (1 - chance);
            if (y > 0 && isfinite(x)) {
                int cx = x <= 0 ? 0 : x >= 1 ? GRID_CELLS - 1 : (int)(x * GRID_CELLS);
                int cy = y >= 1 ? GRID_CELLS - 1 : (int)(y * GRID_CELLS);
                cells[cx][cy] = 1;
            }
        }
        if (c->train_seconds > 0) s->train_s += c->train_seconds;
        if (c->epochs_trained > 0) s->epochs += c->epochs_trained;
    }
    int covered = 0;
    for (int x = 0; x < GRID_CELLS; x++)
        for (int y = 0; y < GRID_CELLS; y++) covered += cells[x][y];
    s->coverage = (double)covered / (GRID_CELLS * GRID_CELLS);
    s->front = n_front;
    s->drop = n_front ? drop / n_front : NAN;
    s->rho = clean_noisy_rho(r);
    s->front_distance = front_distance(r, n_front);
    if (energy) qsort(energy, (size_t)n_energy, sizeof *energy, uh_compare_doubles);
    s->spread = energy && n_energy
                    ? quantile(energy, n_energy, 0.9) - quantile(energy, n_energy, 0.1)
                    : NAN;
    s->median_energy = energy ? quantile(energy, n_energy, 0.5) : NAN;
    free(energy);
    for (int g = 0; g < r->n_gens; g++) {
        s->cached += r->gens[g].cached;
        for (int k = 0; k < r->gens[g].n_counts; k++) {
            const char *name = r->gens[g].counts[k].name;
            size_t len = strlen(name);
            if (len >= 7 && strcmp(name + len - 7, "_tokens") == 0)
                s->tokens += r->gens[g].counts[k].value;
            if (len >= 8 && strcmp(name + len - 8, "_seconds") == 0) /* the model's own time */
                s->operator_s += r->gens[g].counts[k].value;
        }
    }
}

/* The objective ablation of a strategy searched on clean accuracy, against its runs' twins on
 * the noisy objective (NaN where it has none). */
typedef struct {
    int pairs;
    double lost, lost_lo, lost_hi;       /* hypervolume lost: 1 − handed over / twin's */
    double missed, missed_lo, missed_hi; /* share of the twin's front not reached */
    double p;                            /* Mann-Whitney U: handed over against twins' */
} ablation_t;

/* A strategy: its runs (indices into the compared runs). */
typedef struct {
    char name[96]; /* first: report_find_name; a run's label and " (clean objective)" */
    int *runs, n;
    run_stats_t *stats;
    int clean; /* its runs searched on clean accuracy */
    ablation_t ablation;
} group_t;

static const char *group_name(const uh_run_data_t *r, int by_parent, char *buf, size_t size) {
    if (!by_parent) return r->strategy;
    /* the parent folder's name: bench/strategies.sh keeps OUT/.../LABEL/sSEED */
    char path[sizeof r->dir];
    snprintf(path, sizeof path, "%s", r->dir);
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') path[--n] = '\0';
    char *slash = strrchr(path, '/');
    if (!slash) return "."; /* a run in the current directory */
    *slash = '\0';
    slash = strrchr(path, '/');
    snprintf(buf, size, "%s", slash ? slash + 1 : path);
    return buf;
}

/* The values of statistic k over group g's runs. */
static int values(const group_t *g, int k, double *out) {
    int m = 0;
    for (int i = 0; i < g->n; i++) {
        double v = stat_of(&g->stats[i], k);
        if (isfinite(v)) out[m++] = v;
    }
    return m;
}

static double mean_of(const double *v, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += v[i];
    return n ? s / n : NAN;
}

/* Hypervolume against evaluations, mean and 95 % bootstrap band per strategy; the curves'
 * CSV. A run past its last evaluation holds its final value. */
static void hv_curves(uh_strbuf_t *b, uh_strbuf_t *csv, const uh_run_data_t *const *runs,
                      const group_t *groups, int n_groups, int deployed) {
    int E = 0;
    for (int s = 0; s < n_groups; s++)
        for (int i = 0; i < groups[s].n; i++)
            if (runs[groups[s].runs[i]]->n_evals > E) E = runs[groups[s].runs[i]]->n_evals;
    if (E < 1) return;
    size_t cells = (size_t)n_groups * (E + 1);
    double *mean = malloc(cells * sizeof *mean), *lo = malloc(cells * sizeof *lo);
    double *hi = malloc(cells * sizeof *hi), *x = malloc((E + 1) * sizeof *x);
    double *v = malloc((UH_REPORT_MAX_RUNS + 1) * sizeof *v);
    if (!mean || !lo || !hi || !x || !v) {
        b->oom = 1;
        free(mean), free(lo), free(hi), free(x), free(v);
        return;
    }
    uh_strbuf_puts(csv, "strategy,evaluations,runs,mean_hypervolume,ci95_low,ci95_high\n");
    double y0 = INFINITY, y1 = -INFINITY;
    for (int s = 0; s < n_groups; s++)
        for (int e = 0; e <= E; e++) {
            for (int i = 0; i < groups[s].n; i++) {
                const uh_run_data_t *r = runs[groups[s].runs[i]];
                v[i] = hv_curve(r, deployed)[e < r->n_evals ? e : r->n_evals];
            }
            size_t at = (size_t)s * (E + 1) + e;
            mean[at] = mean_of(v, groups[s].n);
            uh_bootstrap_mean_ci(v, groups[s].n, BOOTSTRAP_RESAMPLES, 0.95, BOOTSTRAP_SEED, &lo[at],
                                 &hi[at]);
            y0 = fmin(y0, lo[at]), y1 = fmax(y1, hi[at]);
            if (e > 0)
                uh_strbuf_putf(csv, "%s,%d,%d,%.6f,%.6f,%.6f\n", groups[s].name, e, groups[s].n,
                               mean[at], lo[at], hi[at]);
        }
    double range[2] = {y0, y1};
    report_range(range, 2, 0, &y0, &y1);
    for (int e = 0; e <= E; e++) x[e] = e;
    plot_t p;
    plot_begin(&p, b, "compare-hv",
               deployed ? "Hypervolume on noisy accuracy of the front each search hands over, "
                          "against evaluations (mean and 95 % bootstrap interval over seeds)"
                        : "Hypervolume against evaluations (mean and 95 % bootstrap interval "
                          "over seeds)",
               "candidates evaluated", "hypervolume", 0, E, y0, y1, 0);
    const char *names[UH_REPORT_MAX_RUNS], *colors[UH_REPORT_MAX_RUNS];
    mark_t marks[UH_REPORT_MAX_RUNS];
    int dashed[UH_REPORT_MAX_RUNS];
    for (int s = 0; s < n_groups; s++) {
        const char *color = REPORT_COLORS[s % REPORT_N_COLORS];
        size_t at = (size_t)s * (E + 1);
        plot_band(&p, x, lo + at, hi + at, E + 1, color);
        plot_line(&p, x, mean + at, E + 1, color, s % 2, 0);
        char tip[160];
        snprintf(tip, sizeof tip, "%.60s after %d: %.4f [%.4f, %.4f] (%d runs)", groups[s].name, E,
                 mean[at + E], lo[at + E], hi[at + E], groups[s].n);
        plot_point(&p, E, mean[at + E], color, (mark_t)(s % MARK_COUNT), 1, "gen", tip);
        names[s] = groups[s].name;
        colors[s] = color;
        marks[s] = (mark_t)(s % MARK_COUNT);
        dashed[s] = s % 2;
    }
    plot_legend(&p, LEGEND_BOTTOM_RIGHT, names, colors, marks, dashed, n_groups);
    plot_end(&p);
    free(mean), free(lo), free(hi), free(x), free(v);
}

static int by_hash(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Distinct architectures measured over a group's runs (-1 when out of memory): how much of
 * the space the strategy saw across its seeds. */
static long distinct_networks(const uh_run_data_t *const *runs, const group_t *g) {
    size_t total = 0;
    for (int i = 0; i < g->n; i++) total += runs[g->runs[i]]->n_rows;
    const char **h = malloc((total + 1) * sizeof *h);
    if (!h) return -1;
    size_t m = 0;
    for (int i = 0; i < g->n; i++) {
        const uh_run_data_t *r = runs[g->runs[i]];
        for (size_t k = 0; k < r->n_rows; k++)
            if (r->rows[k].status != UH_CAND_INVALID) h[m++] = r->rows[k].hash;
    }
    qsort(h, m, sizeof *h, by_hash);
    long distinct = 0;
    for (size_t k = 0; k < m; k++) distinct += k == 0 || strcmp(h[k], h[k - 1]) != 0;
    free(h);
    return distinct;
}

/* p of Mann-Whitney U between the final hypervolumes of groups a and b; NaN when either is
 * absent or a is b. */
static double p_against(const group_t *groups, int a, int b, double *va, double *vb) {
    if (a < 0 || b < 0 || a == b) return NAN;
    int na = values(&groups[a], 0, va), nb = values(&groups[b], 0, vb);
    return uh_mann_whitney_p(va, na, vb, nb, NULL);
}

static void put_p(uh_strbuf_t *b, double p) {
    if (isnan(p))
        uh_strbuf_puts(b, "<td>–</td>");
    else
        uh_strbuf_putf(b, "<td%s>%.3g</td>", p < 0.05 ? " class=\"sig\"" : "", p);
}

/* The statistics table and its CSV. */
static void stats_table(uh_strbuf_t *b, uh_strbuf_t *csv, const uh_run_data_t *const *runs,
                        const group_t *groups, int n_groups, int deployed) {
    int random = report_find_name(groups, sizeof *groups, n_groups, "random");
    int nsga2 = report_find_name(groups, sizeof *groups, n_groups, "nsga2");
    double *va = malloc((UH_REPORT_MAX_RUNS + 1) * sizeof *va);
    double *vb = malloc((UH_REPORT_MAX_RUNS + 1) * sizeof *vb);
    if (!va || !vb) {
        b->oom = 1;
        free(va), free(vb);
        return;
    }
    uh_strbuf_puts(csv, "strategy,runs,seeds,distinct_networks,p_vs_random,p_vs_nsga2");
    for (int k = 0; k < N_STATS; k++) uh_strbuf_putf(csv, ",%s_mean", STAT_NAMES[k]);
    uh_strbuf_puts(csv, ",final_hypervolume_ci95_low,final_hypervolume_ci95_high"
                        ",clean_noisy_spearman_ci95_low,clean_noisy_spearman_ci95_high"
                        ",objective,objective_pairs,hypervolume_lost_mean,hypervolume_lost_ci95_low"
                        ",hypervolume_lost_ci95_high,noisy_front_missed_mean"
                        ",noisy_front_missed_ci95_low,noisy_front_missed_ci95_high"
                        ",p_vs_noisy_objective\n");
    uh_strbuf_puts(b,
                   "<table class=\"hv\"><tr><th class=\"l\">strategy</th><th>runs</th>"
                   "<th>final hypervolume: mean [95 % interval]</th><th>p against random</th>"
                   "<th>p against nsga2</th><th>front size</th><th>front genome distance</th>"
                   "<th>grid coverage</th><th>proposals' energy: median, 10–90 % (decades)</th>"
                   "<th>front drop (clean − noisy)</th><th>training (s)</th><th>epochs</th>"
                   "<th>model tokens</th><th>model (s)</th><th>cached</th>"
                   "<th>distinct networks, all runs</th><th>ρ clean vs noisy [95 %]</th></tr>\n");
    for (int s = 0; s < n_groups; s++) {
        const group_t *g = &groups[s];
        double m[N_STATS], lo, hi;
        for (int k = 0; k < N_STATS; k++) {
            int n = values(g, k, va);
            m[k] = mean_of(va, n);
        }
        double rho_lo, rho_hi;
        int n_rho = values(g, 12, va);
        uh_bootstrap_mean_ci(va, n_rho, BOOTSTRAP_RESAMPLES, 0.95, BOOTSTRAP_SEED, &rho_lo,
                             &rho_hi);
        int n_hv = values(g, 0, va);
        uh_bootstrap_mean_ci(va, n_hv, BOOTSTRAP_RESAMPLES, 0.95, BOOTSTRAP_SEED, &lo, &hi);
        double p_random = p_against(groups, s, random, va, vb);
        double p_nsga2 = p_against(groups, s, nsga2, va, vb);
        int seeds = 0;
        for (int i = 0; i < g->n; i++) {
            int seen = 0;
            for (int j = 0; j < i; j++) seen |= runs[g->runs[j]]->seed == runs[g->runs[i]]->seed;
            seeds += !seen;
        }
        long distinct = distinct_networks(runs, g);
        uh_strbuf_putf(csv, "%s,%d,%d,%ld,%.6g,%.6g", g->name, g->n, seeds, distinct, p_random,
                       p_nsga2);
        for (int k = 0; k < N_STATS; k++) uh_strbuf_putf(csv, ",%.6g", m[k]);
        const ablation_t *ab = &g->ablation;
        uh_strbuf_putf(csv, ",%.6g,%.6g,%.6g,%.6g,%s,%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g\n", lo,
                       hi, rho_lo, rho_hi, g->clean ? "clean" : "noisy", ab->pairs, ab->lost,
                       ab->lost_lo, ab->lost_hi, ab->missed, ab->missed_lo, ab->missed_hi, ab->p);
        uh_strbuf_puts(b, "<tr><td class=\"l\">");
        html_text(b, g->name);
        uh_strbuf_putf(b, "</td><td>%d</td><td>%.4f [%.4f, %.4f]", g->n, m[0], lo, hi);
        /* runs of one seed repeat one search: a spread of 0 says nothing about seeds */
        if (g->n > 1 && seeds < g->n)
            uh_strbuf_putf(b,
                           " <span class=\"note\">(%d runs, %d seed%s: runs of one seed "
                           "repeat one search, so the spread is not over seeds)</span>",
                           g->n, seeds, seeds == 1 ? "" : "s");
        uh_strbuf_puts(b, "</td>");
        put_p(b, p_random);
        put_p(b, p_nsga2);
        uh_strbuf_putf(b,
                       "<td>%.1f</td><td>%.3f</td><td>%.2f</td><td>%.3g nJ, %.2f</td>"
                       "<td>%.4f</td><td>%.0f</td><td>%.0f</td><td>%.0f</td><td>%.1f</td>"
                       "<td>%.1f</td><td>%ld</td><td>%.3f [%.3f, %.3f]</td></tr>\n",
                       m[1], m[2], m[3], pow(10, m[5]), m[4], m[6], m[7], m[8], m[9], m[10], m[11],
                       distinct, m[12], rho_lo, rho_hi);
    }
    uh_strbuf_puts(
        b, "</table>\n<p class=\"note\">Means over a strategy's runs. p: two-sided Mann-Whitney U "
           "of the final hypervolumes (exact up to 16 runs a side without ties; below 0.05 "
           "marked). Interval: percentile bootstrap of the mean, 2000 resamples. Front genome "
           "distance: mean pairwise distance of the front's encodings (uh_space_distance). "
           "Grid coverage: share of a 10 × 10 grid over energy (the hypervolume's 4 decades) "
           "and accuracy (chance to 1) holding a measured network. Proposals: the children "
           "(generation 1 on), refused ones included; their energy's median and 10–90 % range "
           "in decades (a narrow range: the operator explores a narrow band). Training and "
           "epochs are what the runs' candidates cost, cached ones included; model (s): the "
           "language model's own training and sampling; cached: answered from the evaluation "
           "cache; distinct networks: different architectures measured over all the "
           "strategy's runs. ρ: Spearman's rank correlation of clean and noisy validation "
           "accuracy over a run's fully measured networks (the paper's robustness ablation: "
           "below 1, clean accuracy misranks networks on this hardware).");
    if (deployed)
        uh_strbuf_puts(b, " Runs on both objectives: every figure is on noisy accuracy, and a "
                          "search on clean accuracy is scored by the front it hands over (chosen "
                          "on clean accuracy, measured under noise).");
    uh_strbuf_puts(b, "</p>\n");
    free(va), free(vb);
}

/* Share of twin's front (a search on noisy accuracy) that the front run c hands over does not
 * reach on noisy accuracy: a point is reached by a member of c's front at least as accurate
 * under noise and at most as costly in energy. NaN when the twin has no front. */
static double front_missed(const uh_run_data_t *twin, const uh_run_data_t *c) {
    int n = 0, missed = 0;
    for (size_t i = 0; i < twin->n_rows; i++) {
        if (!twin->on_front[i]) continue;
        const uh_candidate_t *a = &twin->rows[i];
        int reached = 0;
        for (size_t k = 0; k < c->n_rows && !reached; k++)
            reached = c->on_front[k] && c->rows[k].noisy_accuracy >= a->noisy_accuracy &&
                      c->rows[k].energy_nj <= a->energy_nj;
        n++;
        missed += !reached;
    }
    return n ? (double)missed / n : NAN;
}

/* Each clean-objective run's twin: a run on the noisy objective whose stored config is equal
 * in everything else (seed included); −1 when none. */
static void find_twins(const uh_run_data_t *const *runs, int n, int *twin) {
    cJSON *cfg[UH_REPORT_MAX_RUNS];
    for (int i = 0; i < n; i++) {
        twin[i] = -1;
        cfg[i] = cJSON_Parse(runs[i]->config);
        cJSON_DeleteItemFromObjectCaseSensitive(cfg[i], "objective");
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; cfg[i] && twin[i] < 0 && strcmp(runs[i]->objective, "clean") == 0 && j < n;
             j++)
            if (strcmp(runs[j]->objective, "clean") != 0 && cJSON_Compare(cfg[i], cfg[j], 1))
                twin[i] = j;
    for (int i = 0; i < n; i++) cJSON_Delete(cfg[i]);
}

/* The objective ablation of clean group g from its runs' twins. */
static void ablation(const uh_run_data_t *const *runs, const int *twin, group_t *g, double *va,
                     double *vb) {
    ablation_t *ab = &g->ablation;
    double *lost = malloc(((size_t)g->n + 1) * sizeof *lost);
    double *missed = malloc(((size_t)g->n + 1) * sizeof *missed);
    int n_lost = 0, n_missed = 0;
    for (int i = 0; lost && missed && i < g->n; i++) {
        int t = twin[g->runs[i]];
        if (t < 0) continue;
        const uh_run_data_t *c = runs[g->runs[i]], *q = runs[t];
        double handed = c->hv_deployed_by_eval[c->n_evals], own = q->hv_by_eval[q->n_evals];
        va[ab->pairs] = handed;
        vb[ab->pairs++] = own;
        if (own > 0) lost[n_lost++] = 1 - handed / own;
        double m = front_missed(q, c);
        if (isfinite(m)) missed[n_missed++] = m;
    }
    if (ab->pairs) {
        ab->lost = mean_of(lost, n_lost);
        uh_bootstrap_mean_ci(lost, n_lost, BOOTSTRAP_RESAMPLES, 0.95, BOOTSTRAP_SEED, &ab->lost_lo,
                             &ab->lost_hi);
        ab->missed = mean_of(missed, n_missed);
        uh_bootstrap_mean_ci(missed, n_missed, BOOTSTRAP_RESAMPLES, 0.95, BOOTSTRAP_SEED,
                             &ab->missed_lo, &ab->missed_hi);
        ab->p = uh_mann_whitney_p(va, ab->pairs, vb, ab->pairs, NULL);
    }
    free(lost), free(missed);
}

/* The objective ablation's table (runs on both objectives compared). */
static void ablation_table(uh_strbuf_t *b, const group_t *groups, int n_groups) {
    uh_strbuf_puts(b, "<h2>Searching on clean accuracy: what the noisy hardware loses</h2>\n"
                      "<table class=\"hv\"><tr><th class=\"l\">strategy</th><th>pairs</th>"
                      "<th>hypervolume lost [95 %]</th><th>noisy front missed [95 %]</th>"
                      "<th>p against the noisy objective</th></tr>\n");
    for (int s = 0; s < n_groups; s++) {
        const ablation_t *ab = &groups[s].ablation;
        if (!groups[s].clean) continue;
        uh_strbuf_puts(b, "<tr><td class=\"l\">");
        html_text(b, groups[s].name);
        uh_strbuf_putf(b,
                       "</td><td>%d</td><td>%.1f %% [%.1f, %.1f]</td><td>%.1f %% [%.1f, %.1f]</td>",
                       ab->pairs, 100 * ab->lost, 100 * ab->lost_lo, 100 * ab->lost_hi,
                       100 * ab->missed, 100 * ab->missed_lo, 100 * ab->missed_hi);
        put_p(b, ab->p);
        uh_strbuf_puts(b, "</tr>\n");
    }
    uh_strbuf_puts(
        b, "</table>\n<p class=\"note\">Each run on the clean objective is paired with its twin: "
           "the run on the noisy objective whose settings are otherwise equal, seed included "
           "(no twin: no pair). Hypervolume lost: 1 − the hypervolume, on noisy accuracy, of the "
           "front the clean search hands over (chosen on clean accuracy) over its twin's. Noisy "
           "front missed: the share of the twin's front that no member of the handed-over front "
           "reaches (as accurate under noise at no more energy). p: Mann-Whitney U of the two "
           "hypervolumes over the pairs.</p>\n");
}

int report_strategies(uh_strbuf_t *plots, uh_strbuf_t *table, uh_strbuf_t *csv, uh_strbuf_t *curves,
                      const uh_run_data_t *const *runs, int n, int by_parent) {
    group_t groups[UH_REPORT_MAX_RUNS];
    int n_groups = 0;
    run_stats_t *stats = malloc(((size_t)n + 1) * sizeof *stats);
    int *order = malloc(((size_t)n + 1) * sizeof *order);
    if (!stats || !order) {
        free(stats), free(order);
        return UH_ENOMEM;
    }
    int group[UH_REPORT_MAX_RUNS]; /* each run's */
    /* runs on both objectives: every figure on noisy accuracy, and clean ones a group apart */
    int mixed = 0;
    for (int i = 1; i < n; i++) mixed |= strcmp(runs[i]->objective, runs[0]->objective) != 0;
    for (int i = 0; i < n; i++) {
        char buf[64], clean[sizeof groups->name];
        const char *name = group_name(runs[i], by_parent, buf, sizeof buf);
        int is_clean = mixed && strcmp(runs[i]->objective, "clean") == 0;
        if (is_clean) {
            snprintf(clean, sizeof clean, "%s (clean objective)", name);
            name = clean;
        }
        int s = report_find_name(groups, sizeof *groups, n_groups, name);
        if (s < 0) {
            s = n_groups++;
            memset(&groups[s], 0, sizeof groups[s]);
            snprintf(groups[s].name, sizeof groups[s].name, "%s", name);
            groups[s].clean = is_clean;
        }
        groups[s].n++;
        group[i] = s;
    }
    /* each group's runs and stats as contiguous slices, in the runs' order */
    int at = 0;
    for (int s = 0; s < n_groups; s++) {
        groups[s].runs = order + at;
        groups[s].stats = stats + at;
        at += groups[s].n;
        groups[s].n = 0;
    }
    for (int i = 0; i < n; i++) {
        group_t *g = &groups[group[i]];
        g->runs[g->n] = i;
        run_stats(runs[i], mixed, &g->stats[g->n]);
        g->n++;
    }
    int twin[UH_REPORT_MAX_RUNS];
    find_twins(runs, n, twin);
    double *va = malloc((UH_REPORT_MAX_RUNS + 1) * sizeof *va);
    double *vb = malloc((UH_REPORT_MAX_RUNS + 1) * sizeof *vb);
    for (int s = 0; s < n_groups; s++) {
        groups[s].ablation = (ablation_t){0, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
        if (va && vb && groups[s].clean) ablation(runs, twin, &groups[s], va, vb);
    }
    free(va), free(vb);
    hv_curves(plots, curves, runs, groups, n_groups, mixed);
    stats_table(table, csv, runs, groups, n_groups, mixed);
    if (mixed) ablation_table(table, groups, n_groups);
    free(stats), free(order);
    return UH_OK;
}
