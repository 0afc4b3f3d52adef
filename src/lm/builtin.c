/* The built-in language-model operator (see uhnas/lm.h). */
#include "uhnas/lm.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "uhnas/archlang.h"
#include "uhnas/fileio.h"
#include "uhnas/hash.h"
#include "uhnas/store.h"
#include "corpus.h"
#include "memory.h"

typedef lm_example_t example_t; /* one training example: tokens[0..len) */

/* Which parents a child came from (−1: none): what the model's examples put in its context. */
typedef struct {
    char hash[17];
    int64_t parent[UH_LANG_MAX_PARENTS];
} lineage_t;

typedef struct {
    uh_lm_opts_t opts;
    char dir[4096]; /* the run directory ("" = nothing kept) */
    const uh_backend_t *backend;
    int hw[5];
    example_t *prior; /* the prior runs' examples */
    int n_prior;
    /* the model and how far it is trained: through call `trained` (−1 = fresh) */
    uh_gpt_t *model;
    long trained;
    /* this run's memory: calls before `checkpoint` are answered from records */
    int opened;
    lm_record_t *records;
    int n_records;
    long checkpoint; /* the call of the model loaded from the run directory, or −1 */
    lineage_t *lineage;
    int n_lineage, cap_lineage;
    long call;      /* calls so far */
    lm_stats_t cur; /* this call's */
    lm_stats_t now; /* the calls' since the last take_state */
    lm_stats_t run; /* the calls' before that */
} lm_op_t;

void uh_lm_opts_default(uh_lm_opts_t *o) {
    *o = (uh_lm_opts_t){.layers = 4,
                        .heads = 4,
                        .channels = 128,
                        .context = UH_LANG_MAX_TOKENS,
                        .train_steps = 40,
                        .batch = 8,
                        .lr = 1e-3f,
                        .temperature = 1.0,
                        .hardware_tokens = 1,
                        .parents = 1,
                        .seed = 1};
}

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The hypervolume's energy scale, clipped to the targets' range. */
static double energy01(double energy_zero, double nj) {
    double e = uh_search_energy_scaled(energy_zero, nj);
    return e < 0 ? 0 : e > 1 ? 1 : e;
}

/* Appends that the candidate `hash` came from parents[0..n_parents) (n_parents >= 1). */
static int add_lineage(lineage_t **l, int *n, int *cap, const char *hash, const int64_t *parents,
                       int n_parents) {
    if (*n == *cap) {
        lineage_t *grown = realloc(*l, (size_t)(*cap = 2 * *cap + 16) * sizeof *grown);
        if (!grown) return UH_ENOMEM;
        *l = grown;
    }
    lineage_t *e = &(*l)[(*n)++];
    snprintf(e->hash, sizeof e->hash, "%s", hash);
    for (int k = 0; k < UH_LANG_MAX_PARENTS; k++) e->parent[k] = k < n_parents ? parents[k] : -1;
    return UH_OK;
}

static int remember_lineage(lineage_t **l, int *n, int *cap, const lm_record_t *r) {
    for (int i = 0; i < r->n; i++) {
        if (r->children[i].n_parents < 1) continue;
        char hash[17];
        uh_arch_hash(&r->children[i].arch, hash);
        if (add_lineage(l, n, cap, hash, r->children[i].parents, r->children[i].n_parents))
            return UH_ENOMEM;
    }
    return UH_OK;
}

static const lineage_t *lineage_of(const lineage_t *l, int n, const char *hash) {
    for (int i = n - 1; i >= 0; i--)
        if (strcmp(l[i].hash, hash) == 0) return &l[i];
    return NULL;
}

static int measured(const uh_candidate_t *c, int with_pruned) {
    return (c->status == UH_CAND_OK || (with_pruned && c->status == UH_CAND_PRUNED)) &&
           c->energy_nj > 0;
}

/* Where x stands among the measured rows' accuracies (noisy ones when noisy): the share
 * below it, ties counting half. The accuracy scale of UH_LM_TARGETS_FRONT. */
static double share_below(const uh_candidate_t *const *rows, int n, int with_pruned, int noisy,
                          double x) {
    double below = 0;
    int count = 0;
    for (int i = 0; i < n; i++) {
        if (!measured(rows[i], with_pruned)) continue;
        double v = noisy ? rows[i]->noisy_accuracy : rows[i]->accuracy;
        below += v < x ? 1 : v == x ? 0.5 : 0;
        count++;
    }
    return count ? below / count : 0;
}

const char *const uh_lm_target_names[] = {"cheaper", "front", NULL};
const char *const uh_lm_language_names[] = {"layers", "edits", NULL};

void uh_lm_child_targets(uh_lm_targets_t t, double acc, double noisy, double energy01, int child,
                         int out[3]) {
    if (t == UH_LM_TARGETS_FRONT && child % 2)
        uh_lang_targets(fmin(1.0, acc + 0.1), fmin(1.0, noisy + 0.1), fmin(1.0, energy01 + 0.1),
                        out);
    else if (t == UH_LM_TARGETS_FRONT)
        uh_lang_targets(acc, noisy, fmax(0.0, energy01 - 0.1), out);
    else
        uh_lang_targets(acc, fmin(1.0, noisy + 0.02), fmax(0.0, energy01 - 0.1), out);
}

/* Candidate c as the model o's example: hardware, its measured results (accuracies as o's
 * targets rule reads them, among rows[0..n_rows)), its first o->parents parents (those known
 * and found among the rows; fewer when the example would not fit the context) and its
 * architecture, in o's language. A pruned
 * candidate is one only with_pruned (its results are those of the rung it stopped at).
 * Returns the parents in context, or −1 when c makes no example. */
static int make_example(const uh_lm_opts_t *o, const int *hw, const uh_candidate_t *c,
                        int with_pruned, double energy_zero, const lineage_t *lineage,
                        int n_lineage, const uh_candidate_t *const *rows, int n_rows,
                        uh_shape_t input, example_t *ex) {
    uh_arch_t a, parent[UH_LANG_MAX_PARENTS];
    if (!measured(c, with_pruned) || uh_arch_parse(c->arch, strlen(c->arch), input, &a, NULL))
        return -1;
    const lineage_t *from = lineage_of(lineage, n_lineage, c->hash);
    const uh_arch_t *pa[UH_LANG_MAX_PARENTS];
    int n_pa = 0;
    for (int k = 0; from && k < o->parents && k < UH_LANG_MAX_PARENTS; k++) {
        int found = 0;
        for (int i = 0; from->parent[k] >= 0 && i < n_rows && !found; i++)
            found =
                rows[i]->id == from->parent[k] &&
                !uh_arch_parse(rows[i]->arch, strlen(rows[i]->arch), input, &parent[n_pa], NULL);
        if (!found) break; /* a second parent only beside the first, as prompts have them */
        pa[n_pa] = &parent[n_pa], n_pa++;
    }
    double acc = c->accuracy, noisy = c->noisy_accuracy;
    if (o->targets == UH_LM_TARGETS_FRONT)
        acc = share_below(rows, n_rows, with_pruned, 0, acc),
        noisy = share_below(rows, n_rows, with_pruned, 1, noisy);
    int tgt[3];
    uh_lang_targets(acc, noisy, energy01(energy_zero, c->energy_nj), tgt);
    do /* fewer parents while the example does not fit */
        ex->len = uh_lang_example(hw, tgt, pa, n_pa, &a, o->language, ex->tok, o->context);
    while (ex->len < 0 && n_pa-- > 0);
    return ex->len >= 2 ? n_pa : -1;
}

/* The prior runs' examples and the run's measured candidates, in that order. */
static int build_examples(lm_op_t *o, const uh_propose_t *in, example_t **out, int *n,
                          uh_error_t *err) {
    *n = 0;
    *out = malloc((size_t)(o->n_prior + in->n_archive + 1) * sizeof **out);
    if (!*out) return uh_error_set(err, UH_ENOMEM, "out of memory");
    if (o->n_prior) memcpy(*out, o->prior, (size_t)o->n_prior * sizeof **out);
    *n = o->n_prior;
    for (int i = 0; i < in->n_archive; i++) {
        int parents =
            make_example(&o->opts, o->hw, in->archive[i], 0, in->energy_zero, o->lineage,
                         o->n_lineage, in->archive, in->n_archive, in->space->input, &(*out)[*n]);
        *n += parents >= 0;
        o->cur.two_parents += parents == 2;
    }
    return UH_OK;
}

/* steps AdamW steps on minibatches of examples drawn with replacement; each batch is as long
 * as its longest example, positions past an example's end count for nothing. */
static int train_examples(uh_gpt_t *m, const example_t *ex, int n, int steps, int B, int T,
                          float lr, uh_rng_t *rng, lm_stats_t *st, uh_error_t *err) {
    int *bx = malloc((size_t)B * T * sizeof *bx), *by = malloc((size_t)B * T * sizeof *by);
    int *pick = malloc((size_t)B * sizeof *pick);
    int rc = bx && by && pick ? UH_OK : uh_error_set(err, UH_ENOMEM, "out of memory");
    uh_adamw_t adam;
    uh_adamw_default(&adam);
    adam.lr = lr;
    double t0 = seconds();
    for (int s = 0; !rc && n > 0 && s < steps; s++) {
        int len = 2;
        for (int b = 0; b < B; b++) {
            pick[b] = (int)uh_rng_below(rng, (uint64_t)n);
            if (ex[pick[b]].len > len) len = ex[pick[b]].len;
        }
        const int t_in = len - 1; /* inputs: all but the last token */
        for (int b = 0; b < B; b++) {
            const example_t *e = &ex[pick[b]];
            for (int t = 0; t < t_in; t++) {
                bx[b * t_in + t] = t + 1 < e->len ? e->tok[t] : UH_TOK_PAD;
                by[b * t_in + t] = t + 1 < e->len ? e->tok[t + 1] : -1;
            }
            st->train_tokens += e->len - 1;
        }
        st->loss = uh_gpt_forward(m, bx, by, B, t_in);
        uh_gpt_backward(m);
        uh_gpt_step(m, &adam);
        st->steps++;
    }
    st->train_s += seconds() - t0;
    st->examples += n;
    free(bx), free(by), free(pick);
    return rc;
}

/* This call's training: train_steps on the prior's examples and the run's measured ones. */
static int train(lm_op_t *o, const uh_propose_t *in, uh_rng_t *rng, uh_error_t *err) {
    example_t *ex = NULL;
    int n = 0;
    int rc = build_examples(o, in, &ex, &n, err);
    if (!rc)
        rc = train_examples(o->model, ex, n, o->opts.train_steps, o->opts.batch, o->opts.context,
                            o->opts.lr, rng, &o->cur, err);
    free(ex);
    return rc;
}

static int is_new(const uh_propose_t *in, const uh_child_t *out, int made, const uh_arch_t *a) {
    char hash[17], other[17];
    uh_arch_hash(a, hash);
    if (in->is_known && in->is_known(in->known_ctx, hash)) return 0;
    for (int i = 0; i < made; i++) {
        uh_arch_hash(&out[i].arch, other);
        if (strcmp(hash, other) == 0) return 0;
    }
    return 1;
}

int uh_lm_goes_the_way(uh_lm_targets_t t, int child, double parent_nj, double child_nj) {
    if (t != UH_LM_TARGETS_FRONT) return 1;
    return child % 2 ? child_nj > parent_nj : child_nj < parent_nj;
}

/* Whether child number `child` of p went the way it was asked, by its exact energy (known
 * before any training; one the backend cannot cost goes on to fail as any other would).
 * Costed only under a rule that asks for a way. */
static int goes_the_way(const lm_op_t *o, const uh_candidate_t *p, int child, const uh_arch_t *a) {
    uh_energy_t e;
    return o->opts.targets == UH_LM_TARGETS_CHEAPER || uh_backend_energy(o->backend, a, &e, NULL) ||
           uh_lm_goes_the_way(o->opts.targets, child, p->energy_nj, e.total_nj);
}

int uh_lm_classic_child(double classic, int child) {
    /* 1e-9: a share such as 0.3 crosses 3 at child 9 despite 10 * 0.3 rounding below 3 */
    return floor((child + 1) * classic + 1e-9) > floor(child * classic + 1e-9);
}

/* The room a prompt with parents[0..k) leaves for the child: with one parent a token and EOS
 * (as every run before --llm-parents); with two, a child as long as the longer parent and EOS,
 * as the examples the model learnt pairs from had (one that does not fit drops its second). */
static int child_room(const uh_arch_t *const *parents, int k) {
    int room = 2, tok[UH_LANG_MAX_TOKENS];
    for (int i = 0; k > 1 && i < k; i++) {
        int len = uh_lang_encode_arch(parents[i], tok, UH_LANG_MAX_TOKENS);
        if (len + 1 > room) room = len + 1;
    }
    return room;
}

/* A child of p, and of q when q was in its context too (NULL: it was not). */
static int take_child(uh_child_t *c, const uh_arch_t *a, const uh_candidate_t *p,
                      const uh_candidate_t *q) {
    memset(c, 0, sizeof *c);
    c->arch = *a;
    snprintf(c->origin, sizeof c->origin, "llm-builtin");
    c->parents[c->n_parents++] = p->id;
    if (q) c->parents[c->n_parents++] = q->id;
    return 1;
}

/* Child number `child` of parent p (and of q, when not NULL): sampled for a target just beyond
 * p (the run's rule), with p (and q, when the prompt fits) in context, re-sampled (hotter each
 * time) while it is not a valid new architecture going the way it was asked; the first valid
 * new one when none went that way. 1 when one was found. */
static int sample_child(lm_op_t *o, const uh_propose_t *in, const uh_candidate_t *p,
                        const uh_candidate_t *q, int child, uh_child_t *out, int made,
                        uh_rng_t *rng) {
    int tgt[3], prompt[UH_LANG_MAX_TOKENS], seq[UH_LANG_MAX_TOKENS];
    double acc = p->accuracy, noisy = p->noisy_accuracy;
    if (o->opts.targets == UH_LM_TARGETS_FRONT) /* as its examples read them */
        acc = share_below(in->archive, in->n_archive, 0, 0, acc),
        noisy = share_below(in->archive, in->n_archive, 0, 1, noisy);
    uh_lm_child_targets(o->opts.targets, acc, noisy, energy01(in->energy_zero, p->energy_nj), child,
                        tgt);
    uh_arch_t parent[UH_LANG_MAX_PARENTS], other;
    const uh_arch_t *in_context[UH_LANG_MAX_PARENTS] = {&parent[0], &parent[1]};
    int k = !uh_arch_parse(p->arch, strlen(p->arch), in->space->input, &parent[0], NULL);
    k += k && q && !uh_arch_parse(q->arch, strlen(q->arch), in->space->input, &parent[1], NULL);
    int n = -1;
    for (; k > 0 && n < 0; k -= n < 0) /* leaving room for a child: fewer parents if need be */
        n = uh_lang_example(o->hw, tgt, in_context, k, NULL, o->opts.language, prompt,
                            o->opts.context - child_room(in_context, k));
    if (n < 0)
        n = uh_lang_example(o->hw, tgt, NULL, 0, NULL, o->opts.language, prompt, o->opts.context);
    if (k < 2) q = NULL; /* not in context: not a parent */
    int has_other = 0;   /* a valid new one that went the other way */
    for (int attempt = 0; n > 0 && attempt <= UH_LM_MAX_RESAMPLES; attempt++) {
        uh_lang_grammar_t g;
        uh_lang_grammar_init(&g, o->backend, in->space->input);
        /* the prompt encoded the k parents, so they are in the vocabulary: this cannot fail */
        if (o->opts.language == UH_LANG_EDITS && k > 0 &&
            uh_lang_grammar_parents(&g, in_context, k))
            break;
        double t0 = seconds();
        /* a model that has learnt the run well writes what it has seen: each re-sample is
         * drawn a little hotter (up to 3x at the last), to leave the known architectures */
        double temperature = o->opts.temperature * (1.0 + 0.25 * attempt);
        int len = uh_lang_sample(o->model, prompt, n, &g, temperature, rng, seq);
        o->cur.sample_s += seconds() - t0;
        if (len > n) o->cur.sample_tokens += len - n;
        o->cur.copied += g.copied;
        uh_arch_t a;
        int usable = len > n && !uh_lang_result(&g, &a, NULL) && uh_space_valid(in->space, &a) &&
                     is_new(in, out, made, &a);
        if (usable && goes_the_way(o, p, child, &a)) return take_child(&out[made], &a, p, q);
        if (usable && !has_other) other = a, has_other = 1;
        o->cur.resampled += attempt < UH_LM_MAX_RESAMPLES;
    }
    return has_other ? take_child(&out[made], &other, p, q) : 0;
}

/* Reads the run's memory at the first call: the records of finished calls and the latest
 * checkpoint. They are used together only when they agree (every call before the
 * checkpoint's recorded, the checkpoint loads with this model's shape); otherwise both are
 * dropped and the model retrains from the start, which gives the same run. */
static int open_memory(lm_op_t *o, const uh_propose_t *in, uh_error_t *err) {
    o->opened = 1;
    o->checkpoint = -1;
    if (!o->dir[0]) return UH_OK;
    int rewrite; /* the file, when it holds more than the records kept */
    int rc = lm_records_read(o->dir, in->space->input, &o->records, &o->n_records, &rewrite, err);
    if (rc) return rc;
    long k = lm_latest_checkpoint(o->dir);
    uh_gpt_t *m = NULL;
    if (k >= 0 && k <= o->n_records) {
        char path[4200];
        lm_checkpoint_path(o->dir, k, path, sizeof path);
        uh_gpt_config_t want = {uh_lang_vocab_size(o->opts.language), o->opts.context,
                                o->opts.layers, o->opts.heads, o->opts.channels};
        m = uh_gpt_load(path, o->opts.batch, &want, NULL);
    }
    if (m) {
        uh_gpt_free(o->model); /* the prior it would have started from */
        o->model = m, o->trained = o->checkpoint = k;
        if (o->n_records > k + 1) { /* calls after the checkpoint are made again */
            for (int i = (int)k + 1; i < o->n_records; i++) free(o->records[i].children);
            o->n_records = (int)k + 1;
            rewrite = 1;
        }
    } else if (o->n_records > 0) {
        for (int i = 0; i < o->n_records; i++) free(o->records[i].children);
        o->n_records = 0;
        rewrite = 1;
    }
    if (rewrite) rc = lm_records_write(o->dir, o->records, o->n_records, err);
    for (int i = 0; !rc && i < o->n_records; i++)
        if (remember_lineage(&o->lineage, &o->n_lineage, &o->cap_lineage, &o->records[i]))
            rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    return rc;
}

/* A finished call from the records: its children again, counted as replayed. */
static int replay(lm_op_t *o, const uh_propose_t *in, const lm_record_t *r, uh_child_t *out,
                  uh_error_t *err) {
    if (r->n != in->n || r->generation != in->generation)
        return uh_error_set(err, UH_EINVAL,
                            "%s/" LM_DIR "/" LM_CALLS_FILE ": call %ld made %d children in "
                            "generation %d, the search asks for %d in generation %d (was the "
                            "run's config edited?)",
                            o->dir, o->call, r->n, r->generation, in->n, in->generation);
    if (r->n) memcpy(out, r->children, (size_t)r->n * sizeof *out);
    lm_stats_t s = r->stats;
    s.replayed = 1;
    lm_stats_add(&o->now, &s);
    return UH_OK;
}

/* The model trained through this call: continued from the previous call's (or from the
 * prior it started as), or as restored from the run directory. The checkpoint is written
 * before anything is sampled. */
static int ready_model(lm_op_t *o, const uh_propose_t *in, long call, uh_error_t *err) {
    if (!o->model) {
        uh_gpt_config_t cfg = {uh_lang_vocab_size(o->opts.language), o->opts.context,
                               o->opts.layers, o->opts.heads, o->opts.channels};
        if (!(o->model = uh_gpt_new(&cfg, o->opts.batch, o->opts.seed, err)))
            return err ? err->code : UH_ENOMEM;
        o->trained = -1;
    }
    if (o->trained == call) {
        o->cur.restored++;
        return UH_OK;
    }
    if (o->trained != call - 1)
        return uh_error_set(err, UH_EINVAL, "built-in model: trained through call %ld, not %ld",
                            o->trained, call - 1);
    uh_rng_t rng; /* the call's own stream: a resumed run draws the same batches */
    uh_rng_seed_stream(&rng, o->opts.seed ^ 0x6c6d, 2 * (uint64_t)call);
    int rc = train(o, in, &rng, err);
    if (rc) return rc;
    o->trained = call;
    return o->dir[0] ? lm_checkpoint_save(o->dir, call, o->model, err) : UH_OK;
}

static int lm_propose(void *ctx, const uh_propose_t *in, uh_child_t *out, uh_error_t *err) {
    lm_op_t *o = ctx;
    int rc = o->opened ? UH_OK : open_memory(o, in, err);
    const long call = o->call++;
    if (!rc && call < o->n_records) return replay(o, in, &o->records[call], out, err);
    memset(&o->cur, 0, sizeof o->cur);
    if (!rc) rc = ready_model(o, in, call, err);
    uh_rng_t rng;
    uh_rng_seed_stream(&rng, o->opts.seed ^ 0x6c6d, 2 * (uint64_t)call + 1);
    int made = 0;
    for (int i = 0; !rc && i < in->n; i++) {
        const uh_candidate_t *p = in->parents[i % in->n_parents];
        const uh_candidate_t *next = in->parents[(i + 1) % in->n_parents];
        const uh_candidate_t *q = o->opts.parents > 1 && next->id != p->id ? next : NULL;
        const int classic = uh_lm_classic_child(o->opts.classic, i);
        if (!classic && sample_child(o, in, p, q, i, out, made, &rng)) {
            made++, o->cur.valid++;
            continue;
        }
        /* a classic child: of this parent and the next (crossover, then a mutation), or in
         * the place of one the model could not write, a mutation of its parent */
        const uh_candidate_t *two[2] = {p, next};
        uh_propose_t one = *in;
        one.n = 1;
        one.parents = two;
        one.n_parents = classic && in->n_parents > 1 ? 2 : 1;
        one.rng = &rng;
        if ((rc = uh_operator_classic.propose(NULL, &one, &out[made], err))) break;
        if (classic) {
            made++, o->cur.classic++;
            continue;
        }
        snprintf(out[made].origin, sizeof out[made].origin, "llm-builtin-fallback");
        made++, o->cur.fallback++;
    }
    if (rc) return rc;
    lm_record_t r = {in->generation, made, out, o->cur};
    lm_stats_add(&o->now, &o->cur);
    lm_record_t *grown = realloc(o->records, (size_t)(o->n_records + 1) * sizeof *grown);
    uh_child_t *copy = malloc((size_t)(made + 1) * sizeof *copy);
    if (!grown || !copy) {
        free(copy);
        if (grown) o->records = grown;
        return uh_error_set(err, UH_ENOMEM, "out of memory");
    }
    o->records = grown;
    memcpy(copy, out, (size_t)made * sizeof *copy);
    r.children = copy;
    o->records[o->n_records++] = r;
    if (remember_lineage(&o->lineage, &o->n_lineage, &o->cap_lineage, &r))
        return uh_error_set(err, UH_ENOMEM, "out of memory");
    return o->dir[0] ? lm_record_append(o->dir, call, &r, err) : UH_OK;
}

static void lm_take_state(void *ctx, char *buf, size_t size) {
    lm_op_t *o = ctx;
    cJSON *s = cJSON_CreateObject();
    lm_stats_json(&o->now, cJSON_AddObjectToObject(s, "llm_builtin"));
    char *text = cJSON_PrintUnformatted(s);
    cJSON_Delete(s);
    if (text && strlen(text) < size)
        strcpy(buf, text);
    else if (size)
        buf[0] = '\0';
    free(text);
    lm_stats_add(&o->run, &o->now);
    memset(&o->now, 0, sizeof o->now);
}

static int lm_totals(void *ctx, uh_operator_totals_t *t, uh_error_t *err) {
    const lm_op_t *o = ctx;
    lm_stats_t all = o->run;
    lm_stats_add(&all, &o->now);
    memset(t, 0, sizeof *t);
    t->calls = o->call; /* it never fails: a child it cannot write is a fallback */
    t->fallback = all.fallback;
    snprintf(t->detail, sizeof t->detail, "%ld valid, %ld re-samples", all.valid, all.resampled);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "calls", (double)o->call);
    lm_stats_json(&all, j);
    t->json = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return t->json ? UH_OK : uh_error_set(err, UH_ENOMEM, "out of memory");
}

/* The measured candidates of the run in dir (its pruned ones too when with_pruned) as examples
 * appended to o->prior, with their parents in context where that run's model records name
 * them, or else its store does (a classic operator's mutations and crossovers: parent ->
 * child pairs from any strategy's runs stored since schema 4). */
static int load_prior(lm_op_t *o, const char *dir, int with_pruned, uh_error_t *err) {
    uh_store_t *store;
    int rc = uh_store_open_readonly(dir, &store, err);
    if (rc) {
        uh_error_prefix(err, "--llm-prior");
        return rc;
    }
    uh_search_config_t cfg;
    uh_backend_t *b = NULL;
    uh_candidate_t *rows = NULL;
    const uh_candidate_t **view = NULL;
    size_t n = 0;
    uh_dataset_t *train = NULL, *test = NULL;
    uh_data_opts_t d = {.limit_train = 1, .limit_test = 1};
    double zero = 0;
    uh_shape_t in = {0};
    lm_record_t *records = NULL;
    int n_records = 0, n_lineage = 0, cap_lineage = 0;
    lineage_t *lineage = NULL;
    rc = uh_search_config_parse(uh_store_config(store), &cfg, &b, err);
    if (!rc) d.data_dir = cfg.data_dir[0] ? cfg.data_dir : NULL;
    if (!rc) rc = uh_dataset_load(cfg.dataset, &d, &train, &test, err); /* for the shape */
    if (!rc) {
        in = (uh_shape_t){train->c, train->h, train->w, train->n_classes};
        rc = uh_search_energy_zero(b, in, &zero, err);
    }
    if (!rc) rc = uh_store_candidates(store, &rows, &n, err);
    if (!rc) rc = lm_records_read(dir, in, &records, &n_records, NULL, err);
    for (int i = 0; !rc && i < n_records; i++)
        if (remember_lineage(&lineage, &n_lineage, &cap_lineage, &records[i]))
            rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    for (size_t i = 0, from_records = (size_t)n_lineage; !rc && i < n; i++)
        if (rows[i].n_parents > 0 && !lineage_of(lineage, (int)from_records, rows[i].hash) &&
            add_lineage(&lineage, &n_lineage, &cap_lineage, rows[i].hash, rows[i].parents,
                        rows[i].n_parents))
            rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    example_t *grown = rc ? NULL : realloc(o->prior, ((size_t)o->n_prior + n + 1) * sizeof *grown);
    view = rc ? NULL : malloc((n + 1) * sizeof *view);
    if (!rc && (!grown || !view)) rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    if (grown) o->prior = grown;
    int hw[5];
    if (!rc) rc = uh_lang_hardware(b, hw, err);
    for (size_t i = 0; !rc && i < n; i++) view[i] = &rows[i];
    for (size_t i = 0; !rc && i < n; i++)
        o->n_prior +=
            make_example(&o->opts, o->opts.hardware_tokens ? hw : o->hw, &rows[i], with_pruned,
                         zero, lineage, n_lineage, view, (int)n, in, &o->prior[o->n_prior]) >= 0;
    if (rc) uh_error_prefix(err, "--llm-prior %s", dir);
    free(view);
    free(lineage);
    lm_records_free(records, n_records);
    uh_store_free_candidates(rows);
    uh_dataset_free(train);
    uh_dataset_free(test);
    uh_backend_free(b);
    uh_store_close(store);
    return rc;
}

int uh_lm_operator_new(const uh_lm_opts_t *opts, const uh_backend_t *backend, uh_operator_t *op,
                       uh_error_t *err) {
    memset(op, 0, sizeof *op);
    if (opts->context < 16 || opts->context > UH_LANG_MAX_TOKENS || opts->batch < 1 ||
        opts->batch > 1024 || opts->train_steps < 0 || opts->layers < 1 || opts->layers > 16 ||
        opts->heads < 1 || opts->channels < opts->heads || opts->channels > 1024 ||
        opts->channels % opts->heads != 0)
        return uh_error_set(err, UH_EINVAL,
                            "built-in model: layers 1..16, heads dividing a width of at most "
                            "1024, context 16..%d, batch 1..1024, train steps >= 0",
                            UH_LANG_MAX_TOKENS);
    if (opts->parents < 1 || opts->parents > UH_LANG_MAX_PARENTS)
        return uh_error_set(err, UH_EINVAL, "built-in model: parents 1..%d, not %d",
                            UH_LANG_MAX_PARENTS, opts->parents);
    if (opts->targets != UH_LM_TARGETS_CHEAPER && opts->targets != UH_LM_TARGETS_FRONT)
        return uh_error_set(err, UH_EINVAL, "built-in model: unknown targets rule %d",
                            (int)opts->targets);
    /* a checkpoint learnt its examples' accuracies as absolute deciles (uhnas pretrain) */
    if (opts->start && opts->targets == UH_LM_TARGETS_FRONT)
        return uh_error_set(err, UH_EINVAL,
                            "built-in model: a pretrained checkpoint learnt the cheaper targets "
                            "(absolute accuracy deciles), not front's (the run's own); give "
                            "--llm-prior none or run directories with --llm-targets front");
    if (opts->language != UH_LANG_LAYERS && opts->language != UH_LANG_EDITS)
        return uh_error_set(err, UH_EINVAL, "built-in model: unknown language %d",
                            (int)opts->language);
    lm_op_t *o = calloc(1, sizeof *o);
    if (!o) return uh_error_set(err, UH_ENOMEM, "out of memory");
    o->opts = *opts;
    o->backend = backend;
    if (opts->run_dir &&
        snprintf(o->dir, sizeof o->dir, "%s", opts->run_dir) >= (int)sizeof o->dir) {
        free(o);
        return uh_error_set(err, UH_EINVAL, "run directory path too long");
    }
    int hw_rc = opts->hardware_tokens ? uh_lang_hardware(backend, o->hw, err) : UH_OK;
    if (hw_rc) {
        free(o);
        return hw_rc;
    }
    if (!opts->hardware_tokens)
        for (int i = 0; i < 5; i++) o->hw[i] = UH_TOK_PAD; /* the ablation: no hardware */
    o->opts.prior = NULL, o->opts.n_prior = 0;             /* read now; the paths are not kept */
    o->opts.run_dir = NULL;
    o->opts.start = NULL;
    o->opts.start_digest = NULL;
    if (opts->start) { /* the model starts as the prior: loaded (or refused) now */
        uh_gpt_config_t want = {uh_lang_vocab_size(opts->language), opts->context, opts->layers,
                                opts->heads, opts->channels};
        char now[17];
        int rc = UH_OK;
        if (!(o->model = uh_lm_load_prior(opts->start, opts->batch, &want, now, err))) {
            uh_error_prefix(err, "--llm-prior");
            rc = err && err->code ? err->code : UH_EINVAL;
        } else if (opts->start_digest && strcmp(now, opts->start_digest) != 0) {
            rc = uh_error_set(err, UH_EINVAL,
                              "--llm-prior %s: the checkpoint changed since the run began "
                              "(digest %s, now %s): a run keeps the prior it started from",
                              opts->start, opts->start_digest, now);
        }
        if (rc) {
            uh_gpt_free(o->model);
            free(o);
            return rc;
        }
        o->trained = -1;
    }
    for (int i = 0; i < opts->n_prior; i++) {
        int rc = load_prior(o, opts->prior[i], 0, err);
        if (rc) {
            uh_gpt_free(o->model);
            free(o->prior);
            free(o);
            return rc;
        }
    }
    *op = (uh_operator_t){"llm-builtin", lm_propose, lm_take_state, lm_totals, 0, o};
    return UH_OK;
}

void uh_lm_operator_free(uh_operator_t *op) {
    if (!op || !op->ctx) return;
    lm_op_t *o = op->ctx;
    uh_gpt_free(o->model);
    free(o->prior);
    lm_records_free(o->records, o->n_records);
    free(o->lineage);
    free(o);
    memset(op, 0, sizeof *op);
}

static void digest_of(const char *bytes, size_t n, char out[17]) {
    snprintf(out, 17, "%016llx", (unsigned long long)uh_fnv1a(UH_FNV1A_BASIS, bytes, n));
}

int uh_lm_file_digest(const char *path, char out[17], uh_error_t *err) {
    char *bytes;
    size_t n;
    int rc = uh_read_file(path, UH_GPT_MAX_CHECKPOINT_BYTES, &bytes, &n, err);
    if (rc) return rc;
    digest_of(bytes, n, out);
    free(bytes);
    return UH_OK;
}

uh_gpt_t *uh_lm_load_prior(const char *path, int max_b, const uh_gpt_config_t *want,
                           char digest[17], uh_error_t *err) {
    char *bytes;
    size_t n;
    if (uh_read_file(path, UH_GPT_MAX_CHECKPOINT_BYTES, &bytes, &n, err)) return NULL;
    digest_of(bytes, n, digest);
    uh_gpt_t *m = uh_gpt_load_bytes(bytes, n, path, max_b, want, err);
    free(bytes);
    return m;
}

/* The mean of v[from..to). */
static double mean_range(const float *v, long from, long to) {
    double s = 0;
    for (long i = from; i < to; i++) s += v[i];
    return to > from ? s / (double)(to - from) : NAN;
}

int uh_lm_pretrain(const uh_lm_pretrain_t *p, uh_lm_pretrain_stats_t *stats, uh_error_t *err) {
    memset(stats, 0, sizeof *stats);
    const uh_lm_opts_t *mo = &p->model;
    if (p->steps < 1 || !p->out)
        return uh_error_set(err, UH_EINVAL, "pretrain: steps >= 1 and an output file");
    uh_lm_opts_t shape = *mo;
    shape.prior = NULL, shape.n_prior = 0, shape.start = NULL, shape.run_dir = NULL;
    shape.hardware_tokens = 0; /* checked for its shape only: needs no backend */
    uh_operator_t op;
    int rc = uh_lm_operator_new(&shape, NULL, &op, err);
    if (rc) return rc;
    lm_op_t *o = op.ctx; /* examples: each prior run's with its own backend's tokens */
    o->opts.hardware_tokens = mo->hardware_tokens;
    for (int i = 0; !rc && i < mo->n_prior; i++)
        rc = load_prior(o, mo->prior[i], p->with_pruned, err);
    for (int i = 0; !rc && i < p->n_corpus; i++)
        rc = lm_corpus_read(p->corpus[i], mo->language, mo->context, &o->prior, &o->n_prior, err);
    if (!rc && o->n_prior == 0)
        rc = uh_error_set(err, UH_EINVAL, "pretrain: no examples (give runs or a corpus)");
    if (!rc && p->write_corpus)
        rc = lm_corpus_write(p->write_corpus, mo->language, o->prior, o->n_prior, err);
    uh_gpt_config_t cfg = {uh_lang_vocab_size(mo->language), mo->context, mo->layers, mo->heads,
                           mo->channels};
    float *losses = rc ? NULL : malloc((size_t)p->steps * sizeof *losses);
    if (!rc && !losses) rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    if (!rc && !(o->model = uh_gpt_new(&cfg, mo->batch, mo->seed, err)))
        rc = err && err->code ? err->code : UH_ENOMEM;
    uh_rng_t rng; /* its own stream: pretraining draws differ from any run's */
    uh_rng_seed_stream(&rng, mo->seed ^ 0x7072696f72ULL, 0);
    /* On one thread, as in a search (search.c): OpenBLAS threads the model's GEMMs on
     * omp_get_max_threads() threads, and the sums' order, so the checkpoint's bytes, would
     * then depend on the machine's cores (and on whether reading runs had set it to one). */
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    for (int s = 0; !rc && s < p->steps; s++) { /* one step at a time: the losses */
        rc = train_examples(o->model, o->prior, o->n_prior, 1, mo->batch, mo->context, mo->lr, &rng,
                            &o->cur, err);
        losses[s] = (float)o->cur.loss;
    }
    omp_set_num_threads(threads);
    if (!rc) rc = uh_gpt_save_weights(o->model, p->out, err);
    if (!rc) {
        long tail = p->steps / 20 > 0 ? p->steps / 20 : 1;
        *stats = (uh_lm_pretrain_stats_t){.examples = o->n_prior,
                                          .steps = o->cur.steps,
                                          .train_tokens = o->cur.train_tokens,
                                          .first_loss = mean_range(losses, 0, tail),
                                          .loss = mean_range(losses, p->steps - tail, p->steps),
                                          .seconds = o->cur.train_s,
                                          .params = uh_gpt_n_params(o->model)};
    }
    free(losses);
    uh_lm_operator_free(&op);
    return rc;
}
