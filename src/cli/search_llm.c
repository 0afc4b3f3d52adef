/* The --llm-* options of `search` and `resume`, and what the user is told about the model. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "search_llm.h"
#include "uhnas/lm.h"

void cli_llm_args_unset(cli_llm_args_t *a) {
    memset(a, 0, sizeof *a);
    a->temperature = a->timeout = NAN;
    a->max_tokens = a->retries = -1;
    for (int i = 0; i < 5; i++) a->size[i] = -1;
}

/* The built-in model's size settings: their names in the stored config and the options. */
static const char *const SIZE_NAMES[5] = {"layers", "heads", "width", "context", "train_steps"};

/* Applies what was given on the command line onto c. */
static void apply(const cli_llm_args_t *a, uh_llm_config_t *c) {
    if (a->url) snprintf(c->client.url, sizeof c->client.url, "%s", a->url);
    if (a->model) snprintf(c->client.model, sizeof c->client.model, "%s", a->model);
    if (a->replay) snprintf(c->replay, sizeof c->replay, "%s", a->replay);
    if (!isnan(a->temperature)) c->client.temperature = c->op.temperature = a->temperature;
    if (!isnan(a->timeout)) c->client.timeout_s = a->timeout;
    if (a->max_tokens >= 0) c->client.max_tokens = a->max_tokens;
    if (a->retries >= 0) c->client.retries = a->retries;
}

int cli_llm_new_config(const cli_llm_args_t *a, uh_strategy_t strategy, uh_search_config_t *cfg,
                       char *msg, size_t size) {
    int uses = strategy == UH_STRATEGY_LLM || strategy == UH_STRATEGY_LLMATIC;
    int sized = 0;
    for (int i = 0; i < 5; i++) sized |= a->size[i] >= 0;
    int given = a->url || a->model || a->replay || a->system || a->prior || sized ||
                !isnan(a->temperature) || !isnan(a->timeout) || a->max_tokens >= 0 ||
                a->retries >= 0;
    if (!uses) {
        if (given) snprintf(msg, size, "the --llm-* options need --strategy llm or llmatic");
        return given;
    }
    if (!a->url && !a->replay && strategy == UH_STRATEGY_LLM) { /* the built-in model */
        if (a->model || !isnan(a->temperature) || !isnan(a->timeout) || a->max_tokens >= 0 ||
            a->retries >= 0) {
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
        cJSON *o = cJSON_CreateObject(), *b = cJSON_AddObjectToObject(o, "builtin");
        cJSON_AddBoolToObject(b, "hardware_tokens", strcmp(sys, "none") != 0);
        cJSON *prior = cJSON_AddArrayToObject(b, "prior");
        uh_lm_opts_t def;
        uh_lm_opts_default(&def);
        const int defaults[5] = {def.layers, def.heads, def.channels, def.context, def.train_steps};
        for (int i = 0; i < 5; i++)
            cJSON_AddNumberToObject(b, SIZE_NAMES[i], a->size[i] >= 0 ? a->size[i] : defaults[i]);
        char dirs[4096];
        if (a->prior && snprintf(dirs, sizeof dirs, "%s", a->prior) < (int)sizeof dirs)
            for (char *d = strtok(dirs, ","); d; d = strtok(NULL, ",")) {
                char store[4200];
                struct stat st;
                snprintf(store, sizeof store, "%s/run.sqlite", d);
                if (stat(store, &st) != 0) { /* before a run directory is made for nothing */
                    cJSON_Delete(o);
                    snprintf(msg, size, "--llm-prior: %.200s holds no run (no run.sqlite)", d);
                    return 1;
                }
                cJSON_AddItemToArray(prior, cJSON_CreateString(d));
            }
        char *json = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        int fits = json && strlen(json) < sizeof cfg->operator_config;
        if (fits) strcpy(cfg->operator_config, json);
        free(json);
        if (!fits) snprintf(msg, size, "--llm-prior: too many or too long directories");
        return !fits;
    }
    if (a->prior || sized) {
        snprintf(msg, size,
                 "--llm-prior and the built-in model's size options are for the built-in model "
                 "(no --llm-url/--llm-replay)");
        return 1;
    }
    if (!a->url && !a->replay) {
        snprintf(msg, size,
                 "--strategy %s needs a language model: --llm-url URL (an OpenAI-compatible "
                 "server, e.g. http://127.0.0.1:8080/v1) or --llm-replay FILE",
                 uh_strategy_name(strategy));
        return 1;
    }
    if (a->url && !a->model) {
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
    apply(a, &c);
    c.op.clean_objective = cfg->objective == UH_OBJECTIVE_CLEAN;
    char *json = uh_llm_config_json(&c);
    int fits = json && strlen(json) < sizeof cfg->operator_config;
    if (fits) strcpy(cfg->operator_config, json);
    free(json);
    if (!fits) snprintf(msg, size, "language-model settings too long");
    return !fits;
}

/* The built-in model's stored settings, {"builtin":{"hardware_tokens":B, "prior":[DIR...],
 * "layers":L, "heads":H, "width":C, "context":T, "train_steps":S}}, onto o (prior[] points
 * into *doc). Returns −1 when the config is not the built-in model's, UH_OK when it is, or
 * an error. */
#define MAX_PRIOR 16
static int builtin_config(const char *json, uh_lm_opts_t *o, const char **prior, cJSON **doc,
                          uh_error_t *err) {
    cJSON *root = cJSON_Parse(json);
    *doc = root;
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "builtin");
    const cJSON *hw = cJSON_GetObjectItemCaseSensitive(b, "hardware_tokens");
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(b, "prior"), *d;
    if (!b) return -1;
    int ok = cJSON_IsBool(hw) && cJSON_IsArray(pr) && cJSON_GetArraySize(b) == 7 &&
             cJSON_GetArraySize(pr) <= MAX_PRIOR;
    int size[5];
    for (int i = 0; i < 5; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, SIZE_NAMES[i]);
        ok = ok && cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 100000 &&
             v->valuedouble == (int)v->valuedouble;
        size[i] = ok ? (int)v->valuedouble : 0;
    }
    o->n_prior = 0;
    cJSON_ArrayForEach(d, (ok ? pr : NULL)) {
        if (!cJSON_IsString(d))
            ok = 0;
        else
            prior[o->n_prior++] = d->valuestring;
    }
    if (!ok)
        return uh_error_set(err, UH_EINVAL,
                            "run config: operator.builtin: expected {\"hardware_tokens\": "
                            "true|false, \"prior\": [DIR, ...], \"layers\", \"heads\", "
                            "\"width\", \"context\", \"train_steps\": integers}");
    o->hardware_tokens = cJSON_IsTrue(hw);
    o->prior = prior;
    o->layers = size[0], o->heads = size[1], o->channels = size[2], o->context = size[3];
    o->train_steps = size[4];
    return 0;
}

int cli_operator_open(const uh_search_config_t *cfg, const cli_llm_args_t *overrides,
                      const uh_backend_t *backend, const char *dir, cli_operator_t *op,
                      uh_error_t *err) {
    memset(op, 0, sizeof *op);
    if (cfg->strategy != UH_STRATEGY_LLM && cfg->strategy != UH_STRATEGY_LLMATIC) return UH_OK;
    const char *prior[MAX_PRIOR];
    cJSON *doc = NULL;
    uh_lm_opts_t o;
    uh_lm_opts_default(&o);
    int rc = builtin_config(cfg->operator_config, &o, prior, &doc, err);
    if (rc == UH_OK) {
        o.seed = cfg->seed;
        o.run_dir = dir;
        rc = uh_lm_operator_new(&o, backend, &op->builtin, err);
        if (!rc) op->kind = CLI_OP_BUILTIN;
    }
    cJSON_Delete(doc);
    if (rc != -1) return rc;
    uh_llm_config_t c;
    if ((rc = uh_llm_config_parse(cfg->operator_config, &c, err))) return rc;
    apply(overrides, &c);
    c.op.clean_objective = cfg->objective == UH_OBJECTIVE_CLEAN;
    rc = uh_llm_stack_open(&c, dir, backend, c.client.url[0] != '\0', &op->remote, err);
    if (!rc) op->kind = CLI_OP_REMOTE;
    return rc;
}

const uh_operator_t *cli_operator(const cli_operator_t *op) {
    return op->kind == CLI_OP_REMOTE    ? &op->remote.op
           : op->kind == CLI_OP_BUILTIN ? &op->builtin
                                        : NULL;
}

void cli_operator_close(cli_operator_t *op) {
    if (op->kind == CLI_OP_REMOTE) uh_llm_stack_close(&op->remote);
    if (op->kind == CLI_OP_BUILTIN) uh_lm_operator_free(&op->builtin);
    op->kind = CLI_OP_CLASSIC;
}

void cli_llm_warn(const uh_operator_t *op) {
    uh_llm_totals_t t;
    uh_llm_operator_totals(op, &t);
    if (t.calls == 0) return;
    if (t.failed || t.fallback)
        fprintf(stderr,
                "uhnas: warning: language model: %ld of %ld calls failed, %ld children were "
                "classic fallbacks (%ld invalid, %ld duplicate proposals; %ld repaired)%s%s\n",
                t.failed, t.calls, t.fallback, t.invalid, t.duplicate, t.repaired,
                t.last_failure[0] ? "; last failure: " : "", t.last_failure);
}

cJSON *cli_llm_json(const uh_operator_t *op) {
    uh_llm_totals_t t;
    uh_llm_operator_totals(op, &t);
    cJSON *o = cJSON_CreateObject();
    const char *keys[] = {"calls",    "cached",    "failed",  "valid",         "repaired",
                          "fallback", "duplicate", "invalid", "prompt_tokens", "completion_tokens"};
    const long values[] = {t.calls,         t.cached,           t.failed,    t.valid,
                           t.repaired,      t.fallback,         t.duplicate, t.invalid,
                           t.prompt_tokens, t.completion_tokens};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        cJSON_AddNumberToObject(o, keys[i], (double)values[i]);
    return o;
}
