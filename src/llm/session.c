/* The run's conversation: transcript lines, resume and replay (see uhnas/llm.h).
 *
 * One JSON object per line:
 *   {"seq":N, "generation":G, "what":"propose", "key":"<16 hex>", "model":"...",
 *    "temperature":T, "messages":[{"role":..., "content":...}, ...],
 *    "reply":"..." | null, "fail":"ok" | "timeout" | ..., "error":"..." | null,
 *    "http_status":200, "usage":{"prompt_tokens":P, "completion_tokens":C},
 *    "attempts":A, "seconds":S}
 * The key is a hash of the messages and the temperature: the same request finds the same
 * reply. Failures are recorded too, so a resumed or replayed run meets them again and makes
 * the same fallbacks. */
#include <cjson/cJSON.h>
#include <math.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "uhnas/fileio.h"
#include "uhnas/hash.h"
#include "llm_internal.h"

#define REDACTED "[REDACTED]"

typedef struct {
    char key[17];
    char *reply; /* NULL for a failed call */
    char *error;
    int code; /* the failed call's error code */
    uh_llm_fail_t fail;
    int http_status;
    uh_llm_usage_t usage;
    int own;  /* read from this run's transcript (not to be appended again) */
    int used; /* answered a call of this session already */
} entry_t;

struct uh_llm_session {
    uh_llm_client_t *client; /* NULL = replay only */
    FILE *out;               /* the run's transcript, or NULL */
    char *out_path;          /* its name, for errors */
    char *replay_path;
    entry_t *entries;
    int n, cap;
    long seq;
    char *secret; /* the API key, for redaction; NULL when none */
};

/* Characters API keys are made of: an occurrence of the key inside a longer run of them is
 * another word ("k" in "kernel"), not the key. */
static int key_char(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
           c == '_';
}

/* The next occurrence of secret (k bytes) at or after p that is a whole token of text. */
static const char *find_token(const char *text, const char *p, const char *secret, size_t k) {
    for (const char *q = strstr(p, secret); q; q = strstr(q + 1, secret))
        if ((q == text || !key_char(q[-1])) && !key_char(q[k])) return q;
    return NULL;
}

char *uh_llm_redact(const char *text, const char *secret) {
    size_t n = strlen(text), k = secret ? strlen(secret) : 0;
    if (k == 0) return strdup(text);
    size_t hits = 0;
    for (const char *p = find_token(text, text, secret, k); p;
         p = find_token(text, p + k, secret, k))
        hits++;
    size_t r = sizeof REDACTED - 1;
    char *out = malloc(n + hits * (r > k ? r - k : 0) + 1), *o = out;
    if (!out) return NULL;
    const char *p = text;
    for (const char *q = find_token(text, p, secret, k); q; q = find_token(text, p, secret, k)) {
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        memcpy(o, REDACTED, r);
        o += r;
        p = q + k;
    }
    strcpy(o, p);
    return out;
}

static void request_key(const uh_llm_msg_t *msgs, int n, double temperature, char key[17]) {
    uint64_t h = UH_FNV1A_BASIS;
    char t[32];
    snprintf(t, sizeof t, "%.6g", temperature);
    const char *parts[2];
    for (int i = -1; i < n; i++) {
        parts[0] = i < 0 ? t : msgs[i].role;
        parts[1] = i < 0 ? "" : msgs[i].content;
        for (int j = 0; j < 2; j++) /* each part ends with its NUL: no two splits collide */
            h = uh_fnv1a(h, parts[j], strlen(parts[j]) + 1);
    }
    snprintf(key, 17, "%016llx", (unsigned long long)h);
}

static void entry_clear(entry_t *e) {
    free(e->reply);
    free(e->error);
}

void uh_llm_session_free(uh_llm_session_t *s) {
    if (!s) return;
    if (s->out) fclose(s->out);
    for (int i = 0; i < s->n; i++) entry_clear(&s->entries[i]);
    free(s->entries);
    free(s->replay_path);
    free(s->out_path);
    if (s->secret) {
        volatile char *p = s->secret;
        while (*p) *p++ = 0;
        free(s->secret);
    }
    free(s);
}

static int push(uh_llm_session_t *s, entry_t *e, uh_error_t *err) {
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 64;
        entry_t *m = realloc(s->entries, (size_t)cap * sizeof *m);
        if (!m) return uh_error_set(err, UH_ENOMEM, "out of memory");
        s->entries = m;
        s->cap = cap;
    }
    s->entries[s->n++] = *e;
    return UH_OK;
}

static uh_llm_fail_t fail_from_name(const char *name) {
    for (int f = UH_LLM_OK; f <= UH_LLM_FAIL_REPLAY; f++)
        if (strcmp(name, uh_llm_fail_name((uh_llm_fail_t)f)) == 0) return (uh_llm_fail_t)f;
    return UH_LLM_FAIL_REPLY;
}

/* One transcript line into an entry; 0 when the line is not a usable call record. */
static int parse_line(const char *line, size_t len, entry_t *e) {
    memset(e, 0, sizeof *e);
    cJSON *o = cJSON_ParseWithLength(line, len);
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(o, "key");
    const cJSON *reply = cJSON_GetObjectItemCaseSensitive(o, "reply");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(o, "error");
    const cJSON *fail = cJSON_GetObjectItemCaseSensitive(o, "fail");
    int ok = cJSON_IsString(key) && strlen(key->valuestring) == 16 &&
             strspn(key->valuestring, "0123456789abcdef") == 16 &&
             (cJSON_IsString(reply) || (cJSON_IsString(error) && cJSON_IsString(fail)));
    if (ok) {
        memcpy(e->key, key->valuestring, 17);
        if (cJSON_IsString(reply)) {
            e->reply = strdup(reply->valuestring);
            ok = e->reply != NULL;
        } else {
            e->error = strdup(error->valuestring);
            e->fail = fail_from_name(fail->valuestring);
            if (e->fail == UH_LLM_OK) e->fail = UH_LLM_FAIL_REPLY; /* an error is a failure */
            e->code = e->fail == UH_LLM_FAIL_SIZE ? UH_ELIMIT : UH_EIO;
            ok = e->error != NULL;
        }
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(o, "usage");
        const cJSON *pt = cJSON_GetObjectItemCaseSensitive(u, "prompt_tokens");
        const cJSON *ct = cJSON_GetObjectItemCaseSensitive(u, "completion_tokens");
        /* counts as the client reads them (below 1e12), a status below 1000; anything else,
         * e.g. an edited 1e30 that no integer holds, is taken as absent */
        if (cJSON_IsNumber(pt) && pt->valuedouble >= 0 && pt->valuedouble < 1e12)
            e->usage.prompt_tokens = (long)pt->valuedouble;
        if (cJSON_IsNumber(ct) && ct->valuedouble >= 0 && ct->valuedouble < 1e12)
            e->usage.completion_tokens = (long)ct->valuedouble;
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "http_status");
        if (cJSON_IsNumber(st) && st->valuedouble >= 0 && st->valuedouble < 1000)
            e->http_status = (int)st->valuedouble;
    }
    cJSON_Delete(o);
    if (!ok) entry_clear(e);
    return ok;
}

/* Reads a transcript's calls into s; a missing file is empty when `optional`. */
static int load(uh_llm_session_t *s, const char *path, int own, int optional, uh_error_t *err) {
    char *text;
    size_t len;
    int rc = uh_read_file(path, UH_LLM_MAX_TRANSCRIPT_BYTES, &text, &len, err);
    if (rc == UH_ENOTFOUND && optional) return UH_OK;
    if (rc) return rc;
    for (size_t i = 0; i < len && !rc;) {
        size_t j = i;
        while (j < len && text[j] != '\n') j++;
        entry_t e;
        if (j > i && parse_line(text + i, j - i, &e)) {
            e.own = own;
            if ((rc = push(s, &e, err))) entry_clear(&e);
            if (own) s->seq++;
        }
        i = j + 1;
    }
    free(text);
    return rc;
}

int uh_llm_session_new(uh_llm_client_t *client, const char *transcript_path,
                       const char *replay_path, uh_llm_session_t **out, uh_error_t *err) {
    *out = NULL;
    if (!client && !replay_path)
        return uh_error_set(err, UH_EINVAL, "a language model needs a URL or a transcript");
    uh_llm_session_t *s = calloc(1, sizeof *s);
    if (!s) return uh_error_set(err, UH_ENOMEM, "out of memory");
    s->client = client;
    const char *key = uh_llm_api_key_from_env();
    int rc = UH_OK;
    if (key && !(s->secret = strdup(key))) rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    if (!rc && replay_path && !(s->replay_path = strdup(replay_path)))
        rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    if (!rc && transcript_path) rc = load(s, transcript_path, 1, 1, err);
    if (!rc && replay_path) rc = load(s, replay_path, 0, 0, err);
    if (!rc && transcript_path && !(s->out_path = strdup(transcript_path)))
        rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    if (!rc && transcript_path && !(s->out = fopen(transcript_path, "a")))
        rc = uh_error_set(err, UH_EIO, "%s: cannot append: %s", transcript_path, strerror(errno));
    if (rc) {
        uh_llm_session_free(s);
        return rc;
    }
    *out = s;
    return UH_OK;
}

static entry_t *find(uh_llm_session_t *s, const char *key) {
    for (int i = 0; i < s->n; i++)
        if (!s->entries[i].used && strcmp(s->entries[i].key, key) == 0) return &s->entries[i];
    return NULL;
}

/* Appends one call; the line as a whole is redacted, then written and synced, so a crash
 * leaves at most a truncated last line (skipped on reading). */
static int append(uh_llm_session_t *s, int generation, const char *what, const char *key,
                  const uh_llm_msg_t *msgs, int n_msgs, double temperature, const char *reply,
                  const uh_error_t *failure, const uh_llm_call_t *call, const uh_llm_usage_t *usage,
                  uh_error_t *err) {
    if (!s->out) return UH_OK;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "seq", (double)s->seq);
    cJSON_AddNumberToObject(o, "generation", generation);
    cJSON_AddStringToObject(o, "what", what);
    cJSON_AddStringToObject(o, "key", key);
    cJSON_AddStringToObject(o, "model", s->client ? uh_llm_client_opts(s->client)->model : "");
    cJSON_AddNumberToObject(o, "temperature", temperature);
    llm_add_messages(o, msgs, n_msgs);
    if (reply)
        cJSON_AddStringToObject(o, "reply", reply);
    else
        cJSON_AddNullToObject(o, "reply");
    cJSON_AddStringToObject(o, "fail", uh_llm_fail_name(call->fail));
    if (failure)
        cJSON_AddStringToObject(o, "error", failure->msg);
    else
        cJSON_AddNullToObject(o, "error");
    cJSON_AddNumberToObject(o, "http_status", call->http_status);
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)usage->prompt_tokens);
    cJSON_AddNumberToObject(u, "completion_tokens", (double)usage->completion_tokens);
    cJSON_AddNumberToObject(o, "attempts", call->attempts);
    cJSON_AddNumberToObject(o, "seconds", call->seconds);
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *safe = line ? uh_llm_redact(line, s->secret) : NULL;
    free(line);
    if (!safe) return uh_error_set(err, UH_ENOMEM, "out of memory");
    int ok = fputs(safe, s->out) >= 0 && fputc('\n', s->out) != EOF && fflush(s->out) == 0 &&
             fsync(fileno(s->out)) == 0;
    int e = errno;
    free(safe);
    s->seq++;
    return ok ? UH_OK : uh_error_set(err, UH_EIO, "%s: write failed: %s", s->out_path, strerror(e));
}

/* Copies text redacted into *out (NULL stays NULL). */
static int redacted(const uh_llm_session_t *s, const char *text, char **out, uh_error_t *err) {
    *out = NULL;
    if (!text) return UH_OK;
    *out = uh_llm_redact(text, s->secret);
    return *out ? UH_OK : uh_error_set(err, UH_ENOMEM, "out of memory");
}

int uh_llm_session_chat(uh_llm_session_t *s, int generation, const char *what,
                        const uh_llm_msg_t *msgs, int n_msgs, double temperature, char **content,
                        uh_llm_usage_t *usage, uh_llm_call_t *call, uh_error_t *err) {
    *content = NULL;
    memset(usage, 0, sizeof *usage);
    memset(call, 0, sizeof *call);
    if (isnan(temperature))
        temperature = s->client ? uh_llm_client_opts(s->client)->temperature : 0.7;
    char key[17];
    request_key(msgs, n_msgs, temperature, key);
    entry_t *e = find(s, key);
    if (e) { /* answered before: resume or replay */
        e->used = 1;
        call->cached = 1;
        call->fail = e->fail;
        call->http_status = e->http_status;
        *usage = e->usage;
        uh_error_t failure = {0};
        if (e->error) uh_error_set(&failure, e->code, "%s", e->error);
        int rc = e->own ? UH_OK
                        : append(s, generation, what, key, msgs, n_msgs, temperature, e->reply,
                                 e->error ? &failure : NULL, call, usage, err);
        if (rc) return rc;
        if (e->error) {
            if (err) *err = failure;
            return failure.code;
        }
        return redacted(s, e->reply, content, err);
    }
    char *reply = NULL;
    uh_error_t failure = {0};
    int rc;
    if (s->client) {
        rc = uh_llm_chat(s->client, msgs, n_msgs, temperature, &reply, usage, call, &failure);
    } else {
        call->fail = UH_LLM_FAIL_REPLAY;
        rc =
            uh_error_set(&failure, UH_EIO, "this call is not in the transcript %s", s->replay_path);
    }
    char *safe_reply = NULL, *safe_error = NULL;
    int wrc = redacted(s, reply, &safe_reply, err);
    free(reply);
    if (!wrc) wrc = redacted(s, rc ? failure.msg : NULL, &safe_error, err);
    if (safe_error) snprintf(failure.msg, sizeof failure.msg, "%s", safe_error);
    free(safe_error);
    if (!wrc)
        wrc = append(s, generation, what, key, msgs, n_msgs, temperature, safe_reply,
                     rc ? &failure : NULL, call, usage, err);
    if (wrc) {
        free(safe_reply);
        call->fail = UH_LLM_OK;
        return wrc;
    }
    if (rc) {
        if (err) *err = failure;
        return rc;
    }
    *content = safe_reply;
    return UH_OK;
}
