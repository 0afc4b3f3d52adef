/* The built-in language-model operator (see uhnas/lm.h). */
#include "uhnas/lm.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "uhnas/archlang.h"
#include "uhnas/store.h"

typedef struct {
    uh_lm_opts_t opts;
    const uh_backend_t *backend;
    uh_gpt_t *model; /* made at the first generation (the vocabulary and shapes are known) */
    int hw[5];
    int *prior; /* the prior runs' examples, [n_prior × context], PAD-padded */
    int n_prior;
    /* this generation, for the stored state */
    long examples, steps, valid, resampled, fallback, train_tokens, sample_tokens;
    double loss, train_s, sample_s;
} lm_op_t;

void uh_lm_opts_default(uh_lm_opts_t *o) {
    *o = (uh_lm_opts_t){.layers = 2,
                        .heads = 4,
                        .channels = 64,
                        .context = 80,
                        .train_steps = 40,
                        .batch = 8,
                        .lr = 1e-3f,
                        .temperature = 1.0,
                        .hardware_tokens = 1,
                        .seed = 1};
}

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double energy01(const uh_propose_t *in, double nj) {
    double e = (log10(nj) - in->energy_zero) / UH_HV_ENERGY_DECADES;
    return e < 0 ? 0 : e > 1 ? 1 : e;
}

/* The run's measured candidates as examples [n × T] (inputs and next-token targets). */
static int build_examples(lm_op_t *o, const uh_propose_t *in, int **tokens, int **targets, int *n,
                          uh_error_t *err) {
    const int T = o->opts.context;
    size_t cap = (size_t)(in->n_archive + o->n_prior + 1);
    *tokens = malloc(cap * T * sizeof **tokens);
    *targets = malloc(cap * T * sizeof **targets);
    if (!*tokens || !*targets) return uh_error_set(err, UH_ENOMEM, "out of memory");
    *n = 0;
    for (int i = 0; i < o->n_prior; i++, (*n)++) {
        const int *ex = o->prior + (size_t)i * T;
        int *x = *tokens + (size_t)*n * T, *y = *targets + (size_t)*n * T;
        for (int t = 0; t < T; t++) {
            x[t] = ex[t];
            y[t] = t + 1 < T && ex[t + 1] != UH_TOK_PAD ? ex[t + 1] : -1;
        }
    }
    for (int i = 0; i < in->n_archive; i++) {
        const uh_candidate_t *c = in->archive[i];
        uh_arch_t a;
        if (uh_arch_parse(c->arch, strlen(c->arch), in->space->input, &a, NULL)) continue;
        int tgt[3], ex[UH_LANG_MAX_TOKENS];
        uh_lang_targets(c->accuracy, c->noisy_accuracy, energy01(in, c->energy_nj), tgt);
        int len = uh_lang_example(o->hw, tgt, &a, ex, UH_LANG_MAX_TOKENS);
        if (len < 2 || len > T) continue; /* outside the vocabulary or the context */
        int *x = *tokens + (size_t)*n * T, *y = *targets + (size_t)*n * T;
        for (int t = 0; t < T; t++) {
            x[t] = t < len ? ex[t] : UH_TOK_PAD;
            y[t] = t + 1 < len ? ex[t + 1] : -1;
        }
        (*n)++;
    }
    return UH_OK;
}

static int train(lm_op_t *o, const uh_propose_t *in, uh_rng_t *rng, uh_error_t *err) {
    int *tokens = NULL, *targets = NULL, n = 0;
    int rc = build_examples(o, in, &tokens, &targets, &n, err);
    const int T = o->opts.context, B = o->opts.batch;
    int *bx = malloc((size_t)B * T * sizeof *bx), *by = malloc((size_t)B * T * sizeof *by);
    if (!rc && (!bx || !by)) rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    uh_adamw_t adam;
    uh_adamw_default(&adam);
    adam.lr = o->opts.lr;
    double t0 = seconds();
    for (int s = 0; !rc && n > 0 && s < o->opts.train_steps; s++) {
        for (int b = 0; b < B; b++) { /* a minibatch drawn with replacement */
            int k = (int)uh_rng_below(rng, (uint64_t)n);
            memcpy(bx + (size_t)b * T, tokens + (size_t)k * T, (size_t)T * sizeof *bx);
            memcpy(by + (size_t)b * T, targets + (size_t)k * T, (size_t)T * sizeof *by);
        }
        o->loss = uh_gpt_forward(o->model, bx, by, B, T);
        uh_gpt_backward(o->model);
        uh_gpt_step(o->model, &adam);
        o->steps++;
        o->train_tokens += (long)B * T;
    }
    o->train_s += seconds() - t0;
    o->examples = n;
    free(tokens), free(targets), free(bx), free(by);
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

/* One child for parent p: sampled for a target just beyond it, re-sampled while it is not a
 * valid new architecture. 1 when one was found. */
static int sample_child(lm_op_t *o, const uh_propose_t *in, const uh_candidate_t *p,
                        uh_child_t *out, int made, uh_rng_t *rng) {
    int tgt[3], prompt[16], seq[UH_LANG_MAX_TOKENS];
    uh_lang_targets(p->accuracy, fmin(1.0, p->noisy_accuracy + 0.02),
                    fmax(0.0, energy01(in, p->energy_nj) - 0.1), tgt);
    int n = uh_lang_example(o->hw, tgt, NULL, prompt, 16);
    for (int attempt = 0; attempt <= UH_LM_MAX_RESAMPLES; attempt++) {
        uh_lang_grammar_t g;
        uh_lang_grammar_init(&g, o->backend, in->space->input);
        double t0 = seconds();
        int len = uh_lang_sample(o->model, prompt, n, &g, o->opts.temperature, rng, seq);
        o->sample_s += seconds() - t0;
        if (len > n) o->sample_tokens += len - n;
        uh_arch_t a;
        if (len > n && !uh_lang_result(&g, &a, NULL) && uh_space_valid(in->space, &a) &&
            is_new(in, out, made, &a)) {
            uh_child_t *c = &out[made];
            memset(c, 0, sizeof *c);
            c->arch = a;
            snprintf(c->origin, sizeof c->origin, "llm-builtin");
            c->parents[c->n_parents++] = p->id;
            return 1;
        }
        o->resampled += attempt < UH_LM_MAX_RESAMPLES;
    }
    return 0;
}

static int lm_propose(void *ctx, const uh_propose_t *in, uh_child_t *out, uh_error_t *err) {
    lm_op_t *o = ctx;
    if (!o->model) {
        uh_gpt_config_t cfg = {uh_lang_vocab_size(), o->opts.context, o->opts.layers, o->opts.heads,
                               o->opts.channels};
        if (!(o->model = uh_gpt_new(&cfg, o->opts.batch, o->opts.seed, err)))
            return err ? err->code : UH_ENOMEM;
    }
    uh_rng_t rng; /* from the run's seed and the generation: a replay draws the same */
    uh_rng_seed_stream(&rng, o->opts.seed ^ 0x6c6d, (uint64_t)in->generation);
    int rc = train(o, in, &rng, err);
    int made = 0;
    for (int i = 0; !rc && i < in->n; i++) {
        const uh_candidate_t *p = in->parents[i % in->n_parents];
        if (sample_child(o, in, p, out, made, &rng)) {
            made++, o->valid++;
            continue;
        }
        uh_propose_t one = *in; /* a classic child in its place */
        one.n = 1;
        one.parents = &in->parents[i % in->n_parents];
        one.n_parents = 1;
        one.rng = &rng;
        if ((rc = uh_operator_classic.propose(NULL, &one, &out[made], err))) break;
        snprintf(out[made].origin, sizeof out[made].origin, "llm-builtin-fallback");
        made++, o->fallback++;
    }
    return rc;
}

static void lm_take_state(void *ctx, char *buf, size_t size) {
    lm_op_t *o = ctx;
    cJSON *s = cJSON_CreateObject(), *b = cJSON_AddObjectToObject(s, "llm_builtin");
    cJSON_AddNumberToObject(b, "examples", (double)o->examples);
    cJSON_AddNumberToObject(b, "steps", (double)o->steps);
    cJSON_AddNumberToObject(b, "loss", isfinite(o->loss) ? o->loss : -1);
    cJSON_AddNumberToObject(b, "valid", (double)o->valid);
    cJSON_AddNumberToObject(b, "resampled", (double)o->resampled);
    cJSON_AddNumberToObject(b, "fallback", (double)o->fallback);
    cJSON_AddNumberToObject(b, "train_tokens_per_s",
                            o->train_s > 0 ? (double)o->train_tokens / o->train_s : 0);
    cJSON_AddNumberToObject(b, "sample_tokens_per_s",
                            o->sample_s > 0 ? (double)o->sample_tokens / o->sample_s : 0);
    char *text = cJSON_PrintUnformatted(s);
    cJSON_Delete(s);
    if (text && strlen(text) < size)
        strcpy(buf, text);
    else if (size)
        buf[0] = '\0';
    free(text);
    o->examples = o->steps = o->valid = o->resampled = o->fallback = 0;
    o->train_tokens = o->sample_tokens = 0;
    o->train_s = o->sample_s = 0;
}

/* The measured candidates of the run in dir as examples appended to o->prior. */
static int load_prior(lm_op_t *o, const char *dir, uh_error_t *err) {
    uh_store_t *store;
    int rc = uh_store_open(dir, &store, err);
    if (rc) {
        uh_error_prefix(err, "--llm-prior");
        return rc;
    }
    uh_search_config_t cfg;
    uh_backend_t *b = NULL;
    uh_candidate_t *rows = NULL;
    size_t n = 0;
    uh_dataset_t *train = NULL, *test = NULL;
    uh_data_opts_t d = {.limit_train = 1, .limit_test = 1};
    double zero = 0;
    uh_shape_t in = {0};
    rc = uh_search_config_parse(uh_store_config(store), &cfg, &b, err);
    if (!rc) d.data_dir = cfg.data_dir[0] ? cfg.data_dir : NULL;
    if (!rc) rc = uh_dataset_load(cfg.dataset, &d, &train, &test, err); /* for the shape */
    if (!rc) {
        in = (uh_shape_t){train->c, train->h, train->w, train->n_classes};
        rc = uh_search_energy_zero(b, in, &zero, err);
    }
    if (!rc) rc = uh_store_candidates(store, &rows, &n, err);
    const int T = o->opts.context;
    int *grown = rc ? NULL : realloc(o->prior, ((size_t)o->n_prior + n + 1) * T * sizeof *grown);
    if (!rc && !grown) rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    if (grown) o->prior = grown;
    int hw[5];
    if (!rc) uh_lang_hardware(b, hw);
    for (size_t i = 0; !rc && i < n; i++) {
        const uh_candidate_t *c = &rows[i];
        uh_arch_t a;
        if (c->status != UH_CAND_OK || !(c->energy_nj > 0) ||
            uh_arch_parse(c->arch, strlen(c->arch), in, &a, NULL))
            continue;
        double e = (log10(c->energy_nj) - zero) / UH_HV_ENERGY_DECADES;
        int tgt[3], ex[UH_LANG_MAX_TOKENS];
        uh_lang_targets(c->accuracy, c->noisy_accuracy, e < 0 ? 0 : e > 1 ? 1 : e, tgt);
        int len =
            uh_lang_example(o->opts.hardware_tokens ? hw : o->hw, tgt, &a, ex, UH_LANG_MAX_TOKENS);
        if (len < 2 || len > T) continue;
        int *x = o->prior + (size_t)o->n_prior++ * T;
        for (int t = 0; t < T; t++) x[t] = t < len ? ex[t] : UH_TOK_PAD;
    }
    if (rc) uh_error_prefix(err, "--llm-prior %s", dir);
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
        opts->train_steps < 0)
        return uh_error_set(err, UH_EINVAL, "built-in model: context 16..%d, batch >= 1",
                            UH_LANG_MAX_TOKENS);
    lm_op_t *o = calloc(1, sizeof *o);
    if (!o) return uh_error_set(err, UH_ENOMEM, "out of memory");
    o->opts = *opts;
    o->backend = backend;
    if (opts->hardware_tokens)
        uh_lang_hardware(backend, o->hw);
    else
        for (int i = 0; i < 5; i++) o->hw[i] = UH_TOK_PAD; /* the ablation: no hardware */
    o->opts.prior = NULL, o->opts.n_prior = 0;             /* read now; the paths are not kept */
    for (int i = 0; i < opts->n_prior; i++) {
        int rc = load_prior(o, opts->prior[i], err);
        if (rc) {
            free(o->prior);
            free(o);
            return rc;
        }
    }
    *op = (uh_operator_t){"llm-builtin", lm_propose, lm_take_state, 0, o};
    return UH_OK;
}

void uh_lm_operator_free(uh_operator_t *op) {
    if (!op || op->propose != lm_propose) return;
    lm_op_t *o = op->ctx;
    uh_gpt_free(o->model);
    free(o->prior);
    free(o);
    memset(op, 0, sizeof *op);
}
