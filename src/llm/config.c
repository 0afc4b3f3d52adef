/* The language-model settings as stored with a run (the search config's "operator" object),
 * so `resume` rebuilds the same operator. Never the API key. Parsing is strict. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uhnas/llm.h"

char *uh_llm_config_json(const uh_llm_config_t *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON *l = cJSON_AddObjectToObject(o, "llm");
    cJSON_AddStringToObject(l, "url", c->client.url);
    cJSON_AddStringToObject(l, "model", c->client.model);
    cJSON_AddNumberToObject(l, "temperature", c->client.temperature);
    cJSON_AddNumberToObject(l, "max_tokens", c->client.max_tokens);
    cJSON_AddNumberToObject(l, "timeout_s", c->client.timeout_s);
    cJSON_AddNumberToObject(l, "retries", c->client.retries);
    cJSON_AddStringToObject(l, "system_prompt", uh_llm_system_name(c->op.system));
    cJSON_AddStringToObject(l, "system_file", c->op.system_file);
    cJSON_AddStringToObject(l, "replay", c->replay);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static int bad(uh_error_t *err, const char *key, const char *what) {
    return uh_error_set(err, UH_EINVAL, "run config: operator.llm.%s: %s", key, what);
}

static int get_text(const cJSON *l, const char *key, char *out, size_t size, uh_error_t *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(l, key);
    if (!cJSON_IsString(v)) return bad(err, key, "missing or not a string");
    if (strlen(v->valuestring) >= size) return bad(err, key, "too long");
    strcpy(out, v->valuestring);
    return UH_OK;
}

static int get_real(const cJSON *l, const char *key, double lo, double hi, double *out,
                    uh_error_t *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(l, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi))
        return bad(err, key, "missing or out of range");
    *out = v->valuedouble;
    return UH_OK;
}

int uh_llm_config_parse(const char *json, uh_llm_config_t *c, uh_error_t *err) {
    uh_llm_config_default(c);
    cJSON *o = cJSON_Parse(json);
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "llm");
    static const char *const keys[] = {"url",           "model",       "temperature",
                                       "max_tokens",    "timeout_s",   "retries",
                                       "system_prompt", "system_file", "replay"};
    int rc =
        cJSON_IsObject(l) ? UH_OK : uh_error_set(err, UH_EINVAL, "run config: no operator.llm");
    for (const cJSON *k = l ? l->child : NULL; !rc && k; k = k->next) {
        int known = 0;
        for (size_t i = 0; i < sizeof keys / sizeof keys[0] && !known; i++)
            known = strcmp(k->string, keys[i]) == 0;
        if (!known) rc = bad(err, k->string, "unknown key");
    }
    double max_tokens = 0, retries = 0;
    char system[16];
    if (!rc) rc = get_text(l, "url", c->client.url, sizeof c->client.url, err);
    if (!rc) rc = get_text(l, "model", c->client.model, sizeof c->client.model, err);
    if (!rc) rc = get_real(l, "temperature", 0, 2, &c->client.temperature, err);
    if (!rc) rc = get_real(l, "max_tokens", 1, 1e6, &max_tokens, err);
    if (!rc) rc = get_real(l, "timeout_s", 0.001, 86400, &c->client.timeout_s, err);
    if (!rc) rc = get_real(l, "retries", 0, 100, &retries, err);
    if (!rc) rc = get_text(l, "system_prompt", system, sizeof system, err);
    if (!rc) rc = get_text(l, "system_file", c->op.system_file, sizeof c->op.system_file, err);
    if (!rc) rc = get_text(l, "replay", c->replay, sizeof c->replay, err);
    if (!rc && (max_tokens != floor(max_tokens) || retries != floor(retries)))
        rc = bad(err, "max_tokens/retries", "not an integer");
    if (!rc && uh_llm_system_parse(system, &c->op.system) == UH_OK &&
        c->op.system == UH_LLM_SYSTEM_FILE && strcmp(system, "file") != 0)
        rc = bad(err, "system_prompt", "not hardware, generic, none or file");
    c->client.max_tokens = (int)max_tokens;
    c->client.retries = (int)retries;
    c->op.temperature = c->client.temperature;
    cJSON_Delete(o);
    return rc;
}

void uh_llm_config_default(uh_llm_config_t *c) {
    memset(c, 0, sizeof *c);
    uh_llm_opts_default(&c->client);
    c->op.system = UH_LLM_SYSTEM_HARDWARE;
    c->op.temperature = NAN;
}

int uh_llm_stack_open(const uh_llm_config_t *c, const char *run_dir, const uh_backend_t *backend,
                      int check_server, uh_llm_stack_t *s, uh_error_t *err) {
    memset(s, 0, sizeof *s);
    int rc = UH_OK;
    if (c->client.url[0]) {
        rc = uh_llm_client_new(&c->client, uh_llm_api_key_from_env(), &s->client, err);
        if (!rc && check_server) rc = uh_llm_check_server(s->client, err);
    }
    char transcript[1200];
    snprintf(transcript, sizeof transcript, "%s/llm.jsonl", run_dir);
    if (!rc)
        rc = uh_llm_session_new(s->client, transcript, c->replay[0] ? c->replay : NULL, &s->session,
                                err);
    if (!rc) rc = uh_llm_operator_new(&c->op, s->session, backend, &s->op, err);
    if (rc) uh_llm_stack_close(s);
    return rc;
}

void uh_llm_stack_close(uh_llm_stack_t *s) {
    uh_llm_operator_free(&s->op);
    uh_llm_session_free(s->session);
    uh_llm_client_free(s->client);
    memset(s, 0, sizeof *s);
}
