/* The classic operator, the strategies nsga2, random and evolution (one generation each), and
 * the table of every strategy. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search_internal.h"
#include "uhnas/pareto.h"

/* ---- the classic operator ------------------------------------------------------------ */

/* Child i uses parents 2i and 2i+1 (cyclically): crossover then mutation with probability
 * crossover_prob when there are two, else a mutation of the first. */
static int classic_propose(void *ctx, const uh_propose_t *in, uh_child_t *out, uh_error_t *err) {
    const uh_space_t *space = in->space;
    for (int i = 0; i < in->n; i++) {
        uh_child_t *c = &out[i];
        memset(c, 0, sizeof *c);
        const uh_candidate_t *a = in->parents[(2 * i) % in->n_parents];
        const uh_candidate_t *b = in->parents[(2 * i + 1) % in->n_parents];
        uh_arch_t pa, pb;
        uh_shape_t shape = space->input;
        int rc = uh_arch_parse(a->arch, strlen(a->arch), shape, &pa, err);
        if (rc) return rc;
        c->parents[c->n_parents++] = a->id;
        const char *what;
        if (in->n_parents > 1 && a != b && uh_rng_uniform(in->rng) < in->crossover_prob) {
            if ((rc = uh_arch_parse(b->arch, strlen(b->arch), shape, &pb, err)) ||
                (rc = uh_space_crossover(space, &pa, &pb, in->rng, &c->arch, err)))
                return rc;
            c->parents[c->n_parents++] = b->id;
            uh_arch_t crossed = c->arch;
            if ((rc = uh_space_mutate(space, &crossed, in->rng, &c->arch, &what, err))) return rc;
            snprintf(c->origin, sizeof c->origin, "crossover");
        } else {
            if ((rc = uh_space_mutate(space, &pa, in->rng, &c->arch, &what, err))) return rc;
            snprintf(c->origin, sizeof c->origin, "mutate");
        }
    }
    return UH_OK;
}

const uh_operator_t uh_operator_classic = {"classic", classic_propose, NULL, NULL, 0, NULL};

static int known_hash(const void *ctx, const char *hash) {
    return search_find(ctx, hash) >= 0;
}

/* The archive's front and its latest ok members, as the operator sees them (caller frees
 * *front and *recent). */
static int run_view(const search_run_t *r, const uh_candidate_t ***front, int *n_front,
                    const uh_candidate_t ***recent, int *n_recent, uh_error_t *err) {
    int *idx = NULL, n = 0;
    int rc = search_archive_front(r, &idx, &n, err);
    if (rc) return rc;
    *front = malloc((size_t)(n + 1) * sizeof **front);
    *recent = malloc((UH_SEARCH_RECENT + 1) * sizeof **recent);
    if (!*front || !*recent) {
        free(idx);
        return uh_error_set(err, UH_ENOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) (*front)[i] = &r->arc.all[idx[i]].row;
    *n_front = n;
    free(idx);
    int k = 0; /* newest first, then reversed */
    for (int i = r->arc.n_all - 1; i >= 0 && k < UH_SEARCH_RECENT; i--)
        if (r->arc.all[i].ok) (*recent)[k++] = &r->arc.all[i].row;
    for (int i = 0; i < k / 2; i++) {
        const uh_candidate_t *t = (*recent)[i];
        (*recent)[i] = (*recent)[k - 1 - i];
        (*recent)[k - 1 - i] = t;
    }
    *n_recent = k;
    return UH_OK;
}

/* Asks the operator again, for up to UH_SEARCH_REASKS rounds, in place of children that
 * are duplicates or near-duplicates (uhnas/search.h, UH_SEARCH_MIN_DISTANCE) of the run or of
 * the children before them; each refusal counted. What is left is the batch's to refuse
 * (counted there) and replace. A
 * slot asked again keeps its parents (the classic operator's child i takes parents 2i and
 * 2i + 1). */
static int reask(search_run_t *r, const uh_propose_t *first, uh_child_t *out, uh_error_t *err) {
    int n = first->n, *slot = malloc((size_t)(n + 1) * sizeof *slot);
    novelty_key_t *keys = malloc((size_t)(n + 1) * sizeof *keys);
    const novelty_key_t **before = malloc((size_t)(n + 1) * sizeof *before);
    const uh_candidate_t **parents = malloc((size_t)(2 * n + 1) * sizeof *parents);
    uh_child_t *again = malloc((size_t)(n + 1) * sizeof *again);
    int rc = slot && keys && before && parents && again
                 ? UH_OK
                 : uh_error_set(err, UH_ENOMEM, "out of memory");
    for (int round = 0; !rc && round < UH_SEARCH_REASKS; round++) {
        int k = 0;
        for (int i = 0; i < n; i++) {
            search_novelty_key(&out[i].arch, &keys[i]);
            before[i] = &keys[i];
        }
        for (int i = 0; i < n; i++) {
            novelty_t v = search_novelty(r, &keys[i], before, i);
            if (v == NOVEL) continue;
            if (v == NOVEL_NEAR)
                r->count.near_duplicates++;
            else
                r->count.duplicates++;
            slot[k] = i;
            parents[2 * k] = first->parents[(2 * i) % first->n_parents];
            parents[2 * k + 1] = first->parents[(2 * i + 1) % first->n_parents];
            k++;
        }
        if (k == 0) break;
        uh_propose_t in = *first;
        in.n = k;
        in.parents = parents;
        in.n_parents = first->n_parents > 1 ? 2 * k : 1;
        rc = r->hooks.op->propose(r->hooks.op->ctx, &in, again, err);
        for (int j = 0; !rc && j < k; j++) out[slot[j]] = again[j];
    }
    free(slot), free(keys), free(before), free(parents), free(again);
    return rc;
}

int search_propose_variant(search_run_t *r, const member_t *const *parents, int n_parents, int n,
                           int variant, double temperature, uh_rng_t *rng, uh_child_t *out,
                           uh_error_t *err) {
    const uh_candidate_t **rows = malloc((size_t)(n_parents + 1) * sizeof *rows);
    const uh_candidate_t **front = NULL, **recent = NULL;
    const uh_candidate_t **archive = malloc((size_t)(r->arc.n_all + 1) * sizeof *archive);
    int n_front = 0, n_recent = 0, n_archive = 0;
    int rc = rows && archive ? run_view(r, &front, &n_front, &recent, &n_recent, err)
                             : uh_error_set(err, UH_ENOMEM, "out of memory");
    for (int i = 0; !rc && i < r->arc.n_all; i++)
        if (r->arc.all[i].ok) archive[n_archive++] = &r->arc.all[i].row;
    if (!rc) {
        for (int i = 0; i < n_parents; i++) rows[i] = &parents[i]->row;
        uh_propose_t in = {.generation = r->count.generation,
                           .n = n,
                           .space = &r->env.space,
                           .parents = rows,
                           .n_parents = n_parents,
                           .front = front,
                           .n_front = n_front,
                           .recent = recent,
                           .n_recent = n_recent,
                           .archive = archive,
                           .n_archive = n_archive,
                           .energy_zero = r->env.zero[0],
                           .crossover_prob = r->cfg.crossover_prob,
                           .is_known = known_hash,
                           .known_ctx = r,
                           .variant = variant,
                           .temperature = temperature,
                           .rng = rng};
        rc = r->hooks.op->propose(r->hooks.op->ctx, &in, out, err);
        if (!rc && r->cfg.min_distance > 0) rc = reask(r, &in, out, err);
    }
    free(rows);
    free(front);
    free(recent);
    free(archive);
    return rc;
}

int search_propose(search_run_t *r, const member_t *const *parents, int n_parents, int n,
                   uh_rng_t *rng, uh_child_t *out, uh_error_t *err) {
    return search_propose_variant(r, parents, n_parents, n, -1, NAN, rng, out, err);
}

int search_mutate(search_run_t *r, const member_t *parent, uh_rng_t *rng, uh_child_t *out,
                  uh_error_t *err) {
    const uh_candidate_t *row = &parent->row;
    uh_propose_t in = {.generation = r->count.generation,
                       .n = 1,
                       .space = &r->env.space,
                       .parents = &row,
                       .n_parents = 1,
                       .crossover_prob = r->cfg.crossover_prob,
                       .variant = -1,
                       .temperature = NAN,
                       .rng = rng};
    return classic_propose(NULL, &in, out, err);
}

/* ---- NSGA-II -------------------------------------------------------------------------- */

int search_rank_crowding(const search_run_t *r, const int *idx, int n, int *rank, double *crowd,
                         uh_error_t *err) {
    int k = r->k;
    double *p = malloc((size_t)(n + 1) * k * sizeof *p);
    if (!p) return uh_error_set(err, UH_ENOMEM, "out of memory");
    for (int i = 0; i < n; i++)
        for (int j = 0; j < k; j++) p[k * i + j] = r->arc.all[idx[i]].obj[j];
    int rc = uh_nsga2_assign(p, n, k, rank, crowd, err);
    free(p);
    return rc;
}

/* Binary tournament on (rank, crowding): the population position of the winner. */
int search_tournament(int n, const int *rank, const double *crowd, uh_rng_t *rng) {
    int a = (int)uh_rng_below(rng, (uint64_t)n), b = (int)uh_rng_below(rng, (uint64_t)n);
    int c = uh_nsga2_better(rank[a], crowd[a], rank[b], crowd[b]);
    return c > 0 ? a : c < 0 ? b : (a < b ? a : b);
}

/* Appends the ok, not yet listed members of add[0..n) to list (size *m). */
static void merge(const search_run_t *r, int *list, int *m, const int *add, int n) {
    for (int i = 0; i < n; i++) {
        if (add[i] < 0 || !r->arc.all[add[i]].ok) continue;
        int seen = 0;
        for (int j = 0; j < *m && !seen; j++) seen = list[j] == add[i];
        if (!seen) list[(*m)++] = add[i];
    }
}

int search_select_population(search_run_t *r, const int *add, int n_add, uh_error_t *err) {
    int cap = r->arc.n_population + n_add;
    int *pool = malloc((size_t)(cap + 1) * sizeof *pool);
    int *chosen = malloc((size_t)(cap + 1) * sizeof *chosen);
    int k = r->k;
    double *pts = malloc((size_t)(cap + 1) * k * sizeof *pts);
    int rc = UH_OK, m = 0;
    if (!pool || !chosen || !pts) rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    if (!rc) {
        merge(r, pool, &m, r->arc.population, r->arc.n_population);
        merge(r, pool, &m, add, n_add);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < k; j++) pts[k * i + j] = r->arc.all[pool[i]].obj[j];
        int want = m < r->cfg.population ? m : r->cfg.population;
        rc = uh_nsga2_select(pts, m, k, want, chosen, err);
        for (int i = 0; !rc && i < want; i++) r->arc.population[i] = pool[chosen[i]];
        if (!rc) r->arc.n_population = want;
    }
    free(pool);
    free(chosen);
    free(pts);
    return rc;
}

int search_sample_children(search_run_t *r, uh_rng_t *rng, int n, uh_child_t *out, int *n_parents,
                           uh_error_t *err) {
    *n_parents = 0;
    for (int i = 0; i < n; i++) {
        memset(&out[i], 0, sizeof out[i]);
        int rc = uh_space_sample(&r->env.space, rng, &out[i].arch, err);
        if (rc) return rc;
        snprintf(out[i].origin, sizeof out[i].origin, "sample");
    }
    return UH_OK;
}

/* NSGA-II's n children: 2n binary tournaments on (rank, crowding) over the population pick
 * parents[0..2n), and the operator makes the children from them. */
static int nsga2_propose(search_run_t *r, void *state, uh_rng_t *rng, int n, uh_child_t *out,
                         const member_t **parents, int *n_parents, uh_error_t *err) {
    (void)state;
    int m = r->arc.n_population;
    if (m == 0) return search_sample_children(r, rng, n, out, n_parents, err);
    int *rank = malloc((size_t)m * sizeof *rank);
    double *crowd = malloc((size_t)m * sizeof *crowd);
    int rc = rank && crowd ? search_rank_crowding(r, r->arc.population, m, rank, crowd, err)
                           : uh_error_set(err, UH_ENOMEM, "out of memory");
    for (int i = 0; !rc && i < 2 * n; i++)
        parents[i] = &r->arc.all[r->arc.population[search_tournament(m, rank, crowd, rng)]];
    *n_parents = 2 * n;
    if (!rc) rc = search_propose(r, parents, 2 * n, n, rng, out, err);
    free(rank);
    free(crowd);
    return rc;
}

/* The steady state's merge: the best `population` of the population and the newcomer. */
static int nsga2_merge(search_run_t *r, void *state, int i, uh_error_t *err) {
    (void)state;
    return search_select_population(r, &i, 1, err);
}

/* A strategy's generation from its propose: `children` children, trained together, then
 * join for each new ok one in slot order (select: instead, one environmental selection of
 * them all, NSGA-II's). Samples made because the population was empty (everything failed so
 * far) join nothing, as in runs stored before. */
static int generation_of(search_run_t *r, void *state, uh_rng_t *rng, int select,
                         int (*join)(search_run_t *, void *, int, uh_error_t *), uh_error_t *err) {
    int C = r->cfg.children, n_parents = 0, first_new = r->arc.n_all;
    const int was_empty = r->arc.n_population == 0;
    const member_t **parents = calloc((size_t)2 * C + 1, sizeof *parents);
    uh_child_t *children = malloc((size_t)C * sizeof *children);
    int *out = malloc((size_t)C * sizeof *out);
    int rc = !parents || !children || !out ? uh_error_set(err, UH_ENOMEM, "out of memory") : UH_OK;
    if (!rc) rc = r->strategy->propose(r, state, rng, C, children, parents, &n_parents, err);
    if (!rc) rc = search_take_children(r, children, C, parents, n_parents, rng, out, err);
    if (!rc && select && !was_empty) rc = search_select_population(r, out, C, err);
    for (int c = 0; !rc && join && !was_empty && c < C; c++)
        if (out[c] >= first_new && r->arc.all[out[c]].ok) /* not failed, nor an old duplicate */
            rc = join(r, state, out[c], err);
    free(parents);
    free(children);
    free(out);
    return rc;
}

int strategy_nsga2(search_run_t *r, void *state, uh_rng_t *rng, uh_error_t *err) {
    return generation_of(r, state, rng, 1, NULL, err);
}

/* ---- random search -------------------------------------------------------------------- */

static int random_propose(search_run_t *r, void *state, uh_rng_t *rng, int n, uh_child_t *out,
                          const member_t **parents, int *n_parents, uh_error_t *err) {
    (void)state, (void)parents;
    return search_sample_children(r, rng, n, out, n_parents, err);
}

int strategy_random(search_run_t *r, void *state, uh_rng_t *rng, uh_error_t *err) {
    (void)state;
    return search_take_samples(r, r->cfg.children, rng, NULL, err);
}

/* ---- regularized (aging) evolution ----------------------------------------------------- */

static double scalar(const search_run_t *r, const member_t *m) {
    double acc = r->cfg.objective == UH_OBJECTIVE_CLEAN ? m->row.accuracy : m->row.noisy_accuracy;
    return acc - r->cfg.energy_weight * log10(m->row.energy_nj);
}

/* n tournaments of `tournament` random members of the population, each winner's mutation. */
static int evolution_propose(search_run_t *r, void *state, uh_rng_t *rng, int n, uh_child_t *out,
                             const member_t **parents, int *n_parents, uh_error_t *err) {
    (void)state;
    int m = r->arc.n_population;
    if (m == 0) return search_sample_children(r, rng, n, out, n_parents, err);
    *n_parents = n;
    for (int c = 0; c < n; c++) {
        const member_t *best = NULL;
        for (int t = 0; t < r->cfg.tournament; t++) {
            const member_t *x = &r->arc.all[r->arc.population[uh_rng_below(rng, (uint64_t)m)]];
            if (!best || scalar(r, x) > scalar(r, best)) best = x;
        }
        parents[c] = best;
        int rc = search_mutate(r, best, rng, &out[c], err);
        if (rc) return rc;
    }
    return UH_OK;
}

/* The newcomer joins, and when the population is full its oldest member leaves (the
 * population is kept oldest first). */
static int evolution_merge(search_run_t *r, void *state, int i, uh_error_t *err) {
    (void)state, (void)err;
    int n = r->arc.n_population;
    if (n >= r->cfg.population) {
        memmove(r->arc.population, r->arc.population + 1,
                (size_t)(n - 1) * sizeof *r->arc.population);
        n--;
    }
    r->arc.population[n++] = i;
    r->arc.n_population = n;
    return UH_OK;
}

/* One generation = `children` tournaments on the population as it stands, their mutations
 * trained together, then each new child joins in turn while the oldest member leaves. Real et
 * al. run the tournaments asynchronously on free workers (search --async does); drawing a
 * generation's tournaments at once is the same algorithm made deterministic for any number
 * of workers. */
int strategy_evolution(search_run_t *r, void *state, uh_rng_t *rng, uh_error_t *err) {
    return generation_of(r, state, rng, 0, evolution_merge, err);
}

/* ---- the table ------------------------------------------------------------------------ */

const search_strategy_t SEARCH_STRATEGIES[UH_STRATEGY_COUNT] = {
    [UH_STRATEGY_NSGA2] = {"nsga2", 0, NULL, strategy_nsga2, NULL, nsga2_propose, nsga2_merge},
    [UH_STRATEGY_RANDOM] = {"random", 0, NULL, strategy_random, NULL, random_propose, NULL},
    [UH_STRATEGY_EVOLUTION] = {"evolution", 0, NULL, strategy_evolution, NULL, evolution_propose,
                               evolution_merge},
    [UH_STRATEGY_LINAS] = {"linas", 0, NULL, strategy_linas, NULL},
    /* NSGA-II with a language model as the operator */
    [UH_STRATEGY_LLM] = {"llm", 1, NULL, strategy_nsga2, NULL, nsga2_propose, nsga2_merge},
    [UH_STRATEGY_LLMATIC] = {"llmatic", 1, strategy_llmatic_init, strategy_llmatic,
                             strategy_llmatic_free},
};

const char *uh_strategy_name(uh_strategy_t s) {
    return s >= 0 && s < UH_STRATEGY_COUNT ? SEARCH_STRATEGIES[s].name : "?";
}

int uh_strategy_parse(const char *name, uh_strategy_t *out) {
    for (int i = 0; i < UH_STRATEGY_COUNT; i++)
        if (name && strcmp(name, SEARCH_STRATEGIES[i].name) == 0) {
            *out = (uh_strategy_t)i;
            return UH_OK;
        }
    return UH_EINVAL;
}

void uh_strategy_names(char *buf, size_t size, const char *sep) {
    size_t used = 0;
    if (size) buf[0] = '\0';
    for (int i = 0; i < UH_STRATEGY_COUNT && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%s", i ? sep : "", SEARCH_STRATEGIES[i].name);
        used += n > 0 ? (size_t)n : 0;
    }
}

int uh_strategy_needs_model(uh_strategy_t s) {
    return s >= 0 && s < UH_STRATEGY_COUNT && SEARCH_STRATEGIES[s].needs_model;
}
