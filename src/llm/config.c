/* The language-model settings as stored with a run (the search config's "operator" object),
 * so `resume` rebuilds the same operator. Never the API key. Parsing is strict. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "uhnas/json.h"
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

/* "system_prompt": the name of the system prompt; a file's path is in "system_file". */
static int read_system(const cJSON *v, void *dest, const char *name, uh_error_t *err) {
    uh_llm_config_t *c = dest;
    if (!cJSON_IsString(v) || uh_llm_system_parse(v->valuestring, &c->op.system) != UH_OK ||
        (c->op.system == UH_LLM_SYSTEM_FILE && strcmp(v->valuestring, "file") != 0))
        return uh_error_set(err, UH_EINVAL, "%s: not hardware, generic, none or file", name);
    return UH_OK;
}

#define ROW(key, type, m, lo, hi) UH_JSON_ROW(key, type, uh_llm_config_t, m, 1, lo, hi, 0)
#define TEXT(key, m) ROW(key, UH_JSON_STRING, m, 0, sizeof((uh_llm_config_t *)0)->m)
static const uh_json_field_t LLM_FIELDS[] = {
    TEXT("url", client.url),
    TEXT("model", client.model),
    ROW("temperature", UH_JSON_NUMBER, client.temperature, 0, 2),
    ROW("max_tokens", UH_JSON_INT, client.max_tokens, 1, 1e6),
    ROW("timeout_s", UH_JSON_NUMBER, client.timeout_s, 0.001, 86400),
    ROW("retries", UH_JSON_INT, client.retries, 0, 100),
    {"system_prompt", UH_JSON_CUSTOM, 0, 1, .read = read_system},
    TEXT("system_file", op.system_file),
    TEXT("replay", replay),
    {NULL}};
static const uh_json_field_t OPERATOR_FIELDS[] = {
    {"llm", UH_JSON_OBJECT, 0, 1, .fields = LLM_FIELDS}, {NULL}};

int uh_llm_config_parse(const char *json, uh_llm_config_t *c, uh_error_t *err) {
    uh_llm_config_default(c);
    cJSON *o;
    int rc = uh_json_parse(json, strlen(json), "run config: operator", &o, err);
    if (!rc && (rc = uh_json_read(o, "operator", OPERATOR_FIELDS, c, 0, err)))
        uh_error_prefix(err, "run config");
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

static void transcript_path(const char *run_dir, char *buf, size_t size) {
    snprintf(buf, size, "%s/llm.jsonl", run_dir);
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
    transcript_path(run_dir, transcript, sizeof transcript);
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

int uh_llm_forget(const char *run_dir, const char *keep, uh_error_t *err) {
    char transcript[1200];
    transcript_path(run_dir, transcript, sizeof transcript);
    struct stat a, b;
    if (keep && stat(transcript, &a) == 0 && stat(keep, &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino)
        return UH_OK; /* the new run replays from it */
    if (unlink(transcript) != 0 && errno != ENOENT)
        return uh_error_set(err, UH_EIO, "%s: cannot remove: %s", transcript, strerror(errno));
    return UH_OK;
}
