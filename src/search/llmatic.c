/* LLMatic (Nasir et al., "LLMatic: Neural Architecture Search via Large Language Models and
 * Quality Diversity Optimization", GECCO 2024) as a strategy over the operator slot.
 *
 * Two MAP-Elites archives:
 *   networks  cells over (log2 of the width-to-depth ratio, log10 of the MACs), each holding
 *             the most accurate network seen with those descriptors, and a curiosity score
 *             per cell: +1 when a child of its network enters the archive, −0.5 when not;
 *   prompts   cells over (prompt, temperature bin), each holding a temperature and a
 *             curiosity score updated the same way from the children the prompt made.
 * Each child: with probability crossover_prob a crossover of two elites (the operator's
 * crossover prompt, variant n_variants), else a mutation of one elite by a prompt chosen from
 * the prompt archive; elites and prompts are picked by binary tournaments on curiosity. A used
 * prompt spawns, into an empty cell, a copy with its temperature perturbed.
 *
 * Where this differs from the original (docs/strategies.md says the same):
 *   - the same budget and initial random population as every other strategy here, instead
 *     of LLMatic's start from one simple network;
 *   - accuracy is the objective accuracy (noisy by default), and the descriptors are computed
 *     on our layer lists (width = widest layer's units or filters);
 *   - one generation's children are proposed together and trained concurrently, as the
 *     loop does for every strategy. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search_internal.h"

enum { RATIO_BINS = 8, MACS_BINS = 10, TEMP_BINS = 5 };
#define MACS_LOG_MIN 3.0 /* 1e3 MACs: the first bin's lower edge */
#define MACS_LOG_SPAN 6.0
#define RATIO_LOG2_MAX 10.0
#define TEMP_MIN 0.05
#define TEMP_MAX 1.0
#define TEMP_STEP 0.1 /* sd of a spawned prompt's temperature change */

typedef struct {
    int member; /* index into the run's archive, −1 = empty */
    double curiosity;
} net_cell_t;

typedef struct {
    int filled;
    double temperature, curiosity;
} prompt_cell_t;

typedef struct {
    net_cell_t nets[RATIO_BINS * MACS_BINS];
    int n_variants;
    prompt_cell_t *prompts; /* [n_variants × TEMP_BINS] */
    int seeded;             /* the initial population is in */
} llmatic_t;

void strategy_llmatic_free(void *state) {
    llmatic_t *q = state;
    if (!q) return;
    free(q->prompts);
    free(q);
}

static int bin(double x, double lo, double span, int bins) {
    int b = (int)floor((x - lo) / span * bins);
    return b < 0 ? 0 : b >= bins ? bins - 1 : b;
}

static double objective_accuracy(const search_run_t *r, const member_t *m) {
    return r->cfg.objective == UH_OBJECTIVE_CLEAN ? m->row.accuracy : m->row.noisy_accuracy;
}

static int net_cell(const member_t *m) {
    int width = 1;
    for (int i = 0; i < m->arch.n_layers; i++) {
        const uh_layer_t *l = &m->arch.layers[i];
        int w = l->type == UH_LAYER_DENSE ? l->units : l->type == UH_LAYER_CONV2D ? l->filters : 0;
        if (w > width) width = w;
    }
    double ratio = log2((double)width / (m->arch.n_layers > 0 ? m->arch.n_layers : 1));
    double macs = log10(m->arch.macs > 1 ? (double)m->arch.macs : 1.0);
    return bin(ratio, 0, RATIO_LOG2_MAX, RATIO_BINS) * MACS_BINS +
           bin(macs, MACS_LOG_MIN, MACS_LOG_SPAN, MACS_BINS);
}

/* Offers member i to the network archive; 1 when it took a cell (new or better). */
static int offer(const search_run_t *r, llmatic_t *q, int i) {
    const member_t *m = &r->arc.all[i];
    if (!m->ok) return 0;
    net_cell_t *c = &q->nets[net_cell(m)];
    if (c->member >= 0 && objective_accuracy(r, &r->arc.all[c->member]) >= objective_accuracy(r, m))
        return 0;
    c->member = i;
    return 1;
}

int strategy_llmatic_init(search_run_t *r, void **state, uh_error_t *err) {
    if (r->hooks.op->n_variants < 1)
        return uh_error_set(err, UH_EINVAL, "llmatic: operator %s has no prompts to choose from",
                            r->hooks.op->name);
    llmatic_t *q = calloc(1, sizeof *q);
    if (q) q->prompts = calloc((size_t)r->hooks.op->n_variants * TEMP_BINS, sizeof *q->prompts);
    if (!q || !q->prompts) {
        strategy_llmatic_free(q);
        return uh_error_set(err, UH_ENOMEM, "out of memory");
    }
    q->n_variants = r->hooks.op->n_variants;
    for (int c = 0; c < RATIO_BINS * MACS_BINS; c++) q->nets[c].member = -1;
    /* every prompt starts in its middle temperature bin */
    for (int v = 0; v < q->n_variants; v++) {
        prompt_cell_t *p = &q->prompts[v * TEMP_BINS + TEMP_BINS / 2];
        p->filled = 1;
        p->temperature = TEMP_MIN + (TEMP_MAX - TEMP_MIN) * (TEMP_BINS / 2 + 0.5) / TEMP_BINS;
    }
    *state = q;
    return UH_OK;
}

/* Binary tournament on curiosity among the filled cells (ties: the first drawn). */
static int pick_net(const llmatic_t *q, const int *filled, int n, uh_rng_t *rng) {
    int a = filled[uh_rng_below(rng, (uint64_t)n)], b = filled[uh_rng_below(rng, (uint64_t)n)];
    return q->nets[b].curiosity > q->nets[a].curiosity ? b : a;
}

static int pick_prompt(const llmatic_t *q, uh_rng_t *rng) {
    int n = q->n_variants * TEMP_BINS, a, b;
    do a = (int)uh_rng_below(rng, (uint64_t)n);
    while (!q->prompts[a].filled);
    do b = (int)uh_rng_below(rng, (uint64_t)n);
    while (!q->prompts[b].filled);
    return q->prompts[b].curiosity > q->prompts[a].curiosity ? b : a;
}

/* A used prompt's child: its temperature perturbed, into that bin's cell if it is empty. */
static void spawn_prompt(llmatic_t *q, int cell, uh_rng_t *rng) {
    double t = q->prompts[cell].temperature + TEMP_STEP * uh_rng_normal(rng);
    t = t < TEMP_MIN ? TEMP_MIN : t > TEMP_MAX ? TEMP_MAX : t;
    int v = cell / TEMP_BINS;
    prompt_cell_t *p =
        &q->prompts[v * TEMP_BINS + bin(t, TEMP_MIN, TEMP_MAX - TEMP_MIN, TEMP_BINS)];
    if (p->filled) return;
    p->filled = 1;
    p->temperature = t;
}

typedef struct {
    int cells[2], n_cells; /* network cells of the parents */
    int prompt;            /* prompt cell, −1 for crossover */
} plan_t;

static int propose_children(search_run_t *r, llmatic_t *q, const int *filled, int n_filled,
                            uh_rng_t *rng, uh_child_t *children, plan_t *plan,
                            const member_t **parents, uh_error_t *err) {
    for (int c = 0; c < r->cfg.children; c++) {
        plan_t *p = &plan[c];
        int cross = n_filled > 1 && uh_rng_uniform(rng) < r->cfg.crossover_prob;
        p->n_cells = cross ? 2 : 1;
        for (int k = 0; k < p->n_cells; k++) p->cells[k] = pick_net(q, filled, n_filled, rng);
        if (cross && p->cells[1] == p->cells[0]) /* two different networks: the next elite */
            for (int k = 0; k < n_filled; k++)
                if (filled[k] == p->cells[0]) {
                    p->cells[1] = filled[(k + 1) % n_filled];
                    break;
                }
        for (int k = 0; k < p->n_cells; k++)
            parents[2 * c + k] = &r->arc.all[q->nets[p->cells[k]].member];
        p->prompt = cross ? -1 : pick_prompt(q, rng);
        int variant = cross ? q->n_variants : p->prompt / TEMP_BINS;
        double temperature = cross ? NAN : q->prompts[p->prompt].temperature;
        int rc = search_propose_variant(r, parents + 2 * c, p->n_cells, 1, variant, temperature,
                                        rng, &children[c], err);
        if (rc) return rc;
    }
    return UH_OK;
}

static void state_json(search_run_t *r, const llmatic_t *q, int added) {
    int nets = 0, prompts = 0;
    double qd = 0;
    for (int c = 0; c < RATIO_BINS * MACS_BINS; c++)
        if (q->nets[c].member >= 0)
            nets++, qd += objective_accuracy(r, &r->arc.all[q->nets[c].member]);
    for (int c = 0; c < q->n_variants * TEMP_BINS; c++) prompts += q->prompts[c].filled;
    snprintf(r->count.extra_state, sizeof r->count.extra_state,
             "{\"llmatic\":{\"network_cells\":%d,\"of\":%d,\"qd_score\":%.6f,\"prompt_cells\":%d,"
             "\"added\":%d}}",
             nets, RATIO_BINS * MACS_BINS, qd, prompts, added);
}

int strategy_llmatic(search_run_t *r, void *state, uh_rng_t *rng, uh_error_t *err) {
    llmatic_t *q = state;
    int rc = UH_OK;
    if (!q->seeded) { /* the initial population, in run order */
        for (int i = 0; i < r->arc.n_all; i++) offer(r, q, i);
        q->seeded = 1;
    }
    int C = r->cfg.children, filled[RATIO_BINS * MACS_BINS], n_filled = 0;
    for (int c = 0; c < RATIO_BINS * MACS_BINS; c++)
        if (q->nets[c].member >= 0) filled[n_filled++] = c;
    if (n_filled == 0) return search_take_samples(r, C, rng, NULL, err);
    uh_child_t *children = calloc((size_t)C, sizeof *children);
    plan_t *plan = calloc((size_t)C, sizeof *plan);
    const member_t **parents = calloc((size_t)2 * C, sizeof *parents);
    int *out = malloc((size_t)C * sizeof *out);
    if (!children || !plan || !parents || !out) rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    if (!rc) rc = propose_children(r, q, filled, n_filled, rng, children, plan, parents, err);
    int first_new = r->arc.n_all;
    if (!rc) rc = search_take_children(r, children, C, parents, 2 * C, rng, out, err);
    int added = 0;
    for (int c = 0; !rc && c < C; c++) {
        int in = out[c] >= first_new && offer(r, q, out[c]);
        added += in;
        double delta = in ? 1.0 : -0.5;
        for (int k = 0; k < plan[c].n_cells; k++) q->nets[plan[c].cells[k]].curiosity += delta;
        if (plan[c].prompt >= 0) {
            q->prompts[plan[c].prompt].curiosity += delta;
            spawn_prompt(q, plan[c].prompt, rng);
        }
    }
    if (!rc) state_json(r, q, added);
    free(children);
    free(plan);
    free(parents);
    free(out);
    return rc;
}
