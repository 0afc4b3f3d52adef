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
}

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
    int given = a->url || a->model || a->replay || a->system || a->prior ||
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
    if (a->prior) {
        snprintf(msg, size, "--llm-prior is for the built-in model (no --llm-url/--llm-replay)");
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

/* The built-in model's stored settings: {"builtin":{"hardware_tokens":B,"prior":[DIR...]}}.
 * *hardware = −1 when the config is not the built-in model's. prior[] point into *doc. */
#define MAX_PRIOR 16
static int builtin_config(const char *json, int *hardware, const char **prior, int *n_prior,
                          cJSON **doc, uh_error_t *err) {
    cJSON *o = cJSON_Parse(json);
    *doc = o;
    *n_prior = 0;
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "builtin");
    const cJSON *hw = cJSON_GetObjectItemCaseSensitive(b, "hardware_tokens");
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(b, "prior"), *d;
    if (!b) {
        *hardware = -1;
        return UH_OK;
    }
    int ok = cJSON_IsBool(hw) && cJSON_IsArray(pr) && cJSON_GetArraySize(b) == 2 &&
             cJSON_GetArraySize(pr) <= MAX_PRIOR;
    if (!ok) pr = NULL;
    cJSON_ArrayForEach(d, pr) {
        if (!cJSON_IsString(d))
            ok = 0;
        else
            prior[(*n_prior)++] = d->valuestring;
    }
    if (!ok)
        return uh_error_set(err, UH_EINVAL,
                            "run config: operator.builtin: expected "
                            "{\"hardware_tokens\": true|false, \"prior\": [DIR, ...]}");
    *hardware = cJSON_IsTrue(hw);
    return UH_OK;
}

int cli_operator_open(const uh_search_config_t *cfg, const cli_llm_args_t *overrides,
                      const uh_backend_t *backend, const char *dir, cli_operator_t *op,
                      uh_error_t *err) {
    memset(op, 0, sizeof *op);
    if (cfg->strategy != UH_STRATEGY_LLM && cfg->strategy != UH_STRATEGY_LLMATIC) return UH_OK;
    int hardware = -1, n_prior = 0;
    const char *prior[MAX_PRIOR];
    cJSON *doc = NULL;
    int rc = builtin_config(cfg->operator_config, &hardware, prior, &n_prior, &doc, err);
    if (!rc && hardware >= 0) {
        uh_lm_opts_t o;
        uh_lm_opts_default(&o);
        o.hardware_tokens = hardware;
        o.seed = cfg->seed;
        o.prior = prior;
        o.n_prior = n_prior;
        rc = uh_lm_operator_new(&o, backend, &op->builtin, err);
        if (!rc) op->kind = CLI_OP_BUILTIN;
    }
    cJSON_Delete(doc);
    if (rc || hardware >= 0) return rc;
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
