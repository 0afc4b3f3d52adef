/* The --llm-* options of `search` and `resume`, and what the user is told about the run's
 * operator. */
#define _XOPEN_SOURCE 700 /* realpath */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "search_llm.h"
#include "uhnas/gpt.h"
#include "uhnas/lm.h"

void cli_llm_args_unset(cli_llm_args_t *a) {
    memset(a, 0, sizeof *a);
    uh_llm_overrides_unset(&a->remote);
    for (int i = 0; i < 5; i++) a->size[i] = -1;
    a->targets = -1;
    a->classic = NAN;
    a->parents = -1;
    a->language = -1;
}

/* The stored settings (JSON text) into cfg->operator_config; non-zero when they do not fit. */
static int store_settings(char *json, uh_search_config_t *cfg, const char *what, char *msg,
                          size_t size) {
    int fits = json && strlen(json) < sizeof cfg->operator_config;
    if (fits) strcpy(cfg->operator_config, json);
    free(json);
    if (!fits) snprintf(msg, size, "%s", what);
    return !fits;
}

/* A pretrained checkpoint as the built-in model's start: its shape becomes the model's (a
 * size option that says otherwise is refused), its digest is stored. Non-zero: refused. */
static int prior_checkpoint(const char *path, const int given[5], uh_lm_config_t *c, char *msg,
                            size_t size) {
    uh_error_t err = {0};
    uh_gpt_t *m = uh_lm_load_prior(path, 1, NULL, c->start_digest, &err);
    if (!m) {
        snprintf(msg, size, "--llm-prior: %s", err.msg);
        return 1;
    }
    if (c->start[0]) {
        uh_gpt_free(m);
        snprintf(msg, size, "--llm-prior: one checkpoint at most (%.200s and %.200s)", c->start,
                 path);
        return 1;
    }
    const uh_gpt_config_t *g = uh_gpt_config(m);
    const int language = uh_lang_of_vocab(g->vocab);
    if (language != c->language) {
        if (language >= 0)
            snprintf(msg, size,
                     "--llm-prior %.200s: the checkpoint writes children in the %s language and "
                     "the run's model in %s (give --llm-language %s, or --llm-prior none or run "
                     "directories)",
                     path, uh_lm_language_names[language], uh_lm_language_names[c->language],
                     uh_lm_language_names[language]);
        else
            snprintf(msg, size, "--llm-prior %.200s: a vocabulary of %d tokens, not this build's",
                     path, g->vocab);
        uh_gpt_free(m);
        return 1;
    }
    const int shape[4] = {g->layers, g->heads, g->channels, g->max_t};
    static const char *const names[4] = {"--llm-layers", "--llm-heads", "--llm-width",
                                         "--llm-context"};
    int *sizes[4] = {&c->layers, &c->heads, &c->width, &c->context};
    for (int i = 0; i < 4; i++) {
        if (given[i] >= 0 && given[i] != shape[i]) {
            snprintf(msg, size, "--llm-prior %.200s: the checkpoint has %s %d, not %d", path,
                     names[i], shape[i], given[i]);
            uh_gpt_free(m);
            return 1;
        }
        *sizes[i] = shape[i];
    }
    uh_gpt_free(m);
    /* absolute: `resume` from another directory finds it */
    char *abs = realpath(path, NULL);
    int fits = abs && snprintf(c->start, sizeof c->start, "%s", abs) < (int)sizeof c->start;
    free(abs);
    if (!fits) snprintf(msg, size, "--llm-prior: %.200s: path too long", path);
    return !fits;
}

/* The built-in model: --system-prompt hardware or none, its sizes, prior runs and start. */
static int builtin_config(const cli_llm_args_t *a, uh_search_config_t *cfg, char *msg,
                          size_t size) {
    if (a->remote.model || !isnan(a->remote.temperature) || !isnan(a->remote.timeout_s) ||
        a->remote.max_tokens >= 0 || a->remote.retries >= 0) {
        snprintf(msg, size,
                 "the --llm-* options need --llm-url or --llm-replay (without "
                 "them the built-in model is used)");
        return 1;
    }
    const char *sys = a->system ? a->system : "hardware";
    if (strcmp(sys, "hardware") != 0 && strcmp(sys, "none") != 0) {
        snprintf(msg, size, "the built-in model takes --system-prompt hardware or none");
        return 1;
    }
    uh_lm_config_t c;
    uh_lm_config_default(&c);
    c.hardware_tokens = strcmp(sys, "none") != 0;
    if (a->targets >= 0) c.targets = a->targets;
    if (!isnan(a->classic)) c.classic = a->classic;
    if (a->parents >= 0) c.parents = a->parents;
    if (a->language >= 0) c.language = a->language;
    int n_classic = 0; /* of a generation's children */
    for (int i = 0; i < cfg->children; i++) n_classic += uh_lm_classic_child(c.classic, i);
    if (c.classic > 0 && n_classic == 0) {
        snprintf(msg, size,
                 "--llm-classic %g: none of a generation's %d children would be classic (the "
                 "share's count is rounded down); give a larger share or more --children",
                 c.classic, cfg->children);
        return 1;
    }
    int *sizes[5] = {&c.layers, &c.heads, &c.width, &c.context, &c.train_steps};
    for (int i = 0; i < 5; i++)
        if (a->size[i] >= 0) *sizes[i] = a->size[i];
    char items[4096];
    if (a->prior && snprintf(items, sizeof items, "%s", a->prior) >= (int)sizeof items) {
        snprintf(msg, size, "--llm-prior: too long");
        return 1;
    }
    for (char *d = a->prior ? strtok(items, ",") : NULL; d; d = strtok(NULL, ",")) {
        char store[4200], shipped[4096];
        struct stat st;
        snprintf(store, sizeof store, "%s/run.sqlite", d);
        if (strcmp(d, "none") == 0) continue;
        if (strcmp(d, "shipped") == 0) { /* configs/lm/prior.ckpt, wherever uhnas runs */
            if (!uh_lm_shipped_prior(shipped, sizeof shipped)) {
                snprintf(msg, size, "--llm-prior shipped: no %s here or in the source tree",
                         UH_LM_SHIPPED_PRIOR);
                return 1;
            }
            if (prior_checkpoint(shipped, a->size, &c, msg, size)) return 1;
            continue;
        }
        if (stat(d, &st) == 0 && S_ISREG(st.st_mode)) {
            if (prior_checkpoint(d, a->size, &c, msg, size)) return 1;
            continue;
        }
        if (stat(store, &st) != 0) { /* before a run directory is made for nothing */
            snprintf(msg, size,
                     "--llm-prior: %.200s is neither a checkpoint (uhnas pretrain) nor a run "
                     "directory (no run.sqlite)",
                     d);
            return 1;
        }
        if (c.n_prior == UH_LM_MAX_PRIOR || strlen(d) >= sizeof c.prior[0]) {
            snprintf(msg, size, "--llm-prior: too many or too long directories");
            return 1;
        }
        strcpy(c.prior[c.n_prior++], d);
    }
    if (c.start[0] && c.targets == UH_LM_TARGETS_FRONT) { /* before a run directory is made */
        snprintf(msg, size,
                 "--llm-targets front: a pretrained checkpoint learnt the cheaper targets "
                 "(absolute accuracy deciles); give --llm-prior none or run directories");
        return 1;
    }
    return store_settings(uh_lm_config_json(&c), cfg,
                          "--llm-prior: too many or too long directories", msg, size);
}

int cli_llm_new_config(const cli_llm_args_t *a, uh_strategy_t strategy, uh_search_config_t *cfg,
                       char *msg, size_t size) {
    int uses = uh_strategy_needs_model(strategy);
    int sized = 0;
    for (int i = 0; i < 5; i++) sized |= a->size[i] >= 0;
    int builtin_only = a->prior || a->targets >= 0 || !isnan(a->classic) || a->parents >= 0 ||
                       a->language >= 0 || sized;
    int given = uh_llm_overrides_any(&a->remote) || a->system || builtin_only;
    if (!uses) {
        if (given) snprintf(msg, size, "the --llm-* options need --strategy llm or llmatic");
        return given;
    }
    if (!a->remote.url && !a->remote.replay && strategy == UH_STRATEGY_LLM)
        return builtin_config(a, cfg, msg, size);
    if (builtin_only) {
        snprintf(
            msg, size,
            "--llm-prior, --llm-targets, --llm-classic, --llm-parents, --llm-language and "
            "the built-in model's size options are for the built-in model (--strategy llm without "
            "--llm-url/--llm-replay)");
        return 1;
    }
    if (!a->remote.url && !a->remote.replay) {
        snprintf(msg, size,
                 "--strategy %s needs a language model: --llm-url URL (an OpenAI-compatible "
                 "server, e.g. http://127.0.0.1:8080/v1) or --llm-replay FILE",
                 uh_strategy_name(strategy));
        return 1;
    }
    if (a->remote.url && !a->remote.model) {
        snprintf(msg, size, "--llm-url needs --llm-model NAME (any name for llama.cpp's server)");
        return 1;
    }
    uh_llm_config_t c;
    uh_llm_config_default(&c);
    /* LLMatic as published has no system prompt; UH-NAS's operator gets the hardware */
    c.op.system = strategy == UH_STRATEGY_LLMATIC ? UH_LLM_SYSTEM_NONE : UH_LLM_SYSTEM_HARDWARE;
    if (a->system) {
        uh_llm_system_parse(a->system, &c.op.system);
        if (c.op.system == UH_LLM_SYSTEM_FILE &&
            snprintf(c.op.system_file, sizeof c.op.system_file, "%s", a->system) >=
                (int)sizeof c.op.system_file) {
            snprintf(msg, size, "--system-prompt: path too long");
            return 1;
        }
    }
    uh_llm_overrides_apply(&a->remote, &c);
    c.op.clean_objective = cfg->objective == UH_OBJECTIVE_CLEAN;
    return store_settings(uh_llm_config_json(&c), cfg, "language-model settings too long", msg,
                          size);
}

/* The operator's totals; 0 when it keeps none or they could not be had. */
static int totals(const uh_operator_t *op, uh_operator_totals_t *t) {
    memset(t, 0, sizeof *t);
    uh_error_t err = {0};
    if (!op || !op->totals) return 0;
    if (op->totals(op->ctx, t, &err) == UH_OK) return 1;
    fprintf(stderr, "uhnas: warning: operator %s: no totals: %s\n", op->name, err.msg);
    return 0;
}

void cli_operator_warn(const uh_operator_t *op) {
    uh_operator_totals_t t;
    if (!totals(op, &t)) return;
    if (t.calls > 0 && (t.failed || t.fallback))
        fprintf(stderr,
                "uhnas: warning: operator %s: %ld of %ld calls failed, %ld children were classic "
                "fallbacks%s%s%s%s%s\n",
                op->name, t.failed, t.calls, t.fallback, t.detail[0] ? " (" : "", t.detail,
                t.detail[0] ? ")" : "", t.last_failure[0] ? "; last failure: " : "",
                t.last_failure);
    free(t.json);
}

cJSON *cli_operator_json(const uh_operator_t *op) {
    uh_operator_totals_t t;
    if (!totals(op, &t)) return NULL;
    cJSON *o = t.json ? cJSON_Parse(t.json) : NULL;
    free(t.json);
    return o;
}
