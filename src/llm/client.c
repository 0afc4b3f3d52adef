/* The chat-completions client over libcurl: one request per attempt, retried with backoff. */
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "llm_internal.h"
#include "uhnas/rng.h"

struct uh_llm_client {
    uh_llm_opts_t opts;
    char *auth_header; /* "Authorization: Bearer KEY", or NULL */
    uh_rng_t jitter;   /* backoff jitter only: it never touches a result */
};

void uh_llm_opts_default(uh_llm_opts_t *o) {
    memset(o, 0, sizeof *o);
    o->temperature = 0.7;
    o->max_tokens = 4096;
    o->timeout_s = 120;
    o->connect_timeout_s = 10;
    o->retries = 3;
    o->backoff_s = 1;
    o->max_wait_s = 60;
    o->max_reply_bytes = UH_LLM_DEFAULT_MAX_REPLY;
}

const char *uh_llm_api_key_from_env(void) {
    const char *k = getenv("UHNAS_LLM_API_KEY");
    if (k && *k) return k;
    k = getenv("OPENAI_API_KEY");
    return k && *k ? k : NULL;
}

const char *uh_llm_fail_name(uh_llm_fail_t f) {
    static const char *const names[] = {"ok",   "connect", "network",   "timeout",
                                        "http", "reply",   "too-large", "not-in-transcript"};
    _Static_assert(sizeof names / sizeof names[0] == UH_LLM_FAIL_REPLAY + 1, "a name per kind");
    return (unsigned)f < sizeof names / sizeof names[0] ? names[f] : "?";
}

int uh_llm_client_new(const uh_llm_opts_t *opts, const char *api_key, uh_llm_client_t **out,
                      uh_error_t *err) {
    *out = NULL;
    if (strncmp(opts->url, "http://", 7) != 0 && strncmp(opts->url, "https://", 8) != 0)
        return uh_error_set(err, UH_EINVAL, "language model URL \"%.200s\": not http(s)://",
                            opts->url);
    for (const char *p = opts->url; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return uh_error_set(err, UH_EINVAL, "language model URL: spaces or control bytes");
    if (!(opts->timeout_s > 0) || !(opts->connect_timeout_s > 0) || opts->retries < 0 ||
        opts->max_reply_bytes < 1024 || opts->max_tokens < 1)
        return uh_error_set(err, UH_EINVAL, "language model options out of range");
    if (api_key)
        for (const char *p = api_key; *p; p++)
            if ((unsigned char)*p < ' ' || *p == 0x7f)
                return uh_error_set(err, UH_EINVAL, "the API key holds control bytes");
    /* reference-counted and thread-safe since libcurl 7.84; paired in uh_llm_client_free */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return uh_error_set(err, UH_EIO, "libcurl failed to initialise");
    uh_llm_client_t *c = calloc(1, sizeof *c);
    if (!c) {
        curl_global_cleanup();
        return uh_error_set(err, UH_ENOMEM, "out of memory");
    }
    c->opts = *opts;
    size_t n = strlen(c->opts.url); /* "…/v1/" and "…/v1" mean the same */
    while (n > 0 && c->opts.url[n - 1] == '/') c->opts.url[--n] = '\0';
    if (api_key && *api_key) {
        size_t len = strlen(api_key) + 32;
        c->auth_header = malloc(len);
        if (!c->auth_header) {
            uh_llm_client_free(c);
            return uh_error_set(err, UH_ENOMEM, "out of memory");
        }
        snprintf(c->auth_header, len, "Authorization: Bearer %s", api_key);
    }
    uh_rng_seed(&c->jitter, (uint64_t)time(NULL));
    *out = c;
    return UH_OK;
}

void uh_llm_client_free(uh_llm_client_t *c) {
    if (!c) return;
    if (c->auth_header) { /* the key should not linger in freed memory */
        volatile char *p = c->auth_header;
        while (*p) *p++ = 0;
        free(c->auth_header);
    }
    free(c);
    curl_global_cleanup();
}

const uh_llm_opts_t *uh_llm_client_opts(const uh_llm_client_t *c) {
    return &c->opts;
}

/* ---- one HTTP exchange ------------------------------------------------------------- */

typedef struct {
    char *data;
    size_t len, cap, limit;
    int overflow;
    double retry_after; /* seconds from a Retry-After header; NaN when none */
} body_t;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ctx) {
    body_t *b = ctx;
    size_t n = size * nmemb;
    if (b->len + n > b->limit) {
        b->overflow = 1;
        return 0; /* libcurl aborts the transfer: CURLE_WRITE_ERROR */
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;
        while (cap < b->len + n + 1) cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) return 0;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ctx) {
    body_t *b = ctx;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    if (n > sizeof name && n < UH_LLM_MAX_HEADER_BYTES &&
        strncasecmp(ptr, name, sizeof name - 1) == 0) {
        char v[UH_LLM_MAX_HEADER_BYTES];
        memcpy(v, ptr + sizeof name - 1, n - (sizeof name - 1));
        v[n - (sizeof name - 1)] = '\0';
        char *end;
        double s = strtod(v, &end);
        if (end != v && s >= 0 && isfinite(s)) {
            b->retry_after = s;
        } else { /* an HTTP date */
            time_t when = curl_getdate(v, NULL);
            if (when > 0)
                b->retry_after = difftime(when, time(NULL)) > 0 ? difftime(when, time(NULL)) : 0;
        }
    }
    return n;
}

/* GET (body NULL) or POST path; fills b and *status. Returns the libcurl code. */
static CURLcode exchange(uh_llm_client_t *c, const char *path, const char *body, double timeout_s,
                         body_t *b, long *status) {
    CURL *h = curl_easy_init();
    if (!h) return CURLE_FAILED_INIT;
    char url[UH_LLM_MAX_URL + 64];
    snprintf(url, sizeof url, "%s%s", c->opts.url, path);
    struct curl_slist *headers = NULL, *tmp;
    const char *lines[] = {"Content-Type: application/json", "Accept: application/json",
                           c->auth_header};
    CURLcode rc = CURLE_OK;
    for (int i = 0; i < 3 && rc == CURLE_OK; i++) {
        if (!lines[i]) continue;
        if (!(tmp = curl_slist_append(headers, lines[i])))
            rc = CURLE_OUT_OF_MEMORY;
        else
            headers = tmp;
    }
    if (rc == CURLE_OK) {
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L); /* the key goes nowhere else */
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(c->opts.connect_timeout_s * 1000));
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout_s * 1000));
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, b);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, b);
        curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)b->limit);
        if (body) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
        }
        rc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    return rc;
}

void llm_add_messages(cJSON *o, const uh_llm_msg_t *msgs, int n) {
    cJSON *arr = cJSON_AddArrayToObject(o, "messages");
    for (int i = 0; i < n; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", msgs[i].role);
        cJSON_AddStringToObject(m, "content", msgs[i].content);
        cJSON_AddItemToArray(arr, m);
    }
}

static char *request_json(const uh_llm_client_t *c, const uh_llm_msg_t *msgs, int n,
                          double temperature) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", c->opts.model);
    llm_add_messages(o, msgs, n);
    cJSON_AddNumberToObject(o, "temperature", temperature);
    cJSON_AddNumberToObject(o, "max_tokens", c->opts.max_tokens);
    cJSON_AddBoolToObject(o, "stream", 0);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static long usage_field(const cJSON *usage, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(usage, key);
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e12 ? (long)v->valuedouble
                                                                             : 0;
}

/* The assistant's content of a 200 reply. */
static int parse_reply(const body_t *b, char **content, uh_llm_usage_t *usage, uh_error_t *err) {
    cJSON *o = cJSON_ParseWithLength(b->data ? b->data : "", b->len);
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(o, "choices");
    const cJSON *first = cJSON_IsArray(choices) ? cJSON_GetArrayItem(choices, 0) : NULL;
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(first, "message");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(msg, "content");
    int rc = UH_OK;
    if (!o)
        rc = uh_error_set(err, UH_EFORMAT, "the reply is not JSON (%zu bytes)", b->len);
    else if (!cJSON_IsString(text))
        rc = uh_error_set(err, UH_EFORMAT, "the reply has no choices[0].message.content");
    else if (!text->valuestring[0])
        rc = uh_error_set(err, UH_EFORMAT, "the reply's content is empty");
    else if (!(*content = strdup(text->valuestring)))
        rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    if (!rc) {
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(o, "usage");
        usage->prompt_tokens = usage_field(u, "prompt_tokens");
        usage->completion_tokens = usage_field(u, "completion_tokens");
    }
    cJSON_Delete(o);
    return rc;
}

/* A short, printable excerpt of an error body (servers explain 4xx there). */
static void excerpt(const body_t *b, char *out, size_t size) {
    size_t j = 0;
    for (size_t i = 0; b->data && i < b->len && j + 1 < size && i < 200; i++)
        out[j++] = (unsigned char)b->data[i] >= ' ' && b->data[i] != 0x7f ? b->data[i] : ' ';
    out[j] = '\0';
}

static void sleep_s(double s) {
    if (!(s > 0)) return;
    struct timespec t = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&t, &t) != 0) {
    }
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* One attempt: its failure kind (UH_LLM_OK on success) and whether to retry. */
static uh_llm_fail_t attempt(uh_llm_client_t *c, const char *body, char **content,
                             uh_llm_usage_t *usage, uh_llm_call_t *call, double *retry_after,
                             int *retry, uh_error_t *err) {
    body_t b = {.limit = c->opts.max_reply_bytes, .retry_after = NAN};
    long status = 0;
    CURLcode cc = exchange(c, "/chat/completions", body, c->opts.timeout_s, &b, &status);
    call->http_status = (int)status;
    *retry_after = b.retry_after;
    *retry = 0;
    uh_llm_fail_t fail = UH_LLM_OK;
    if (b.overflow || cc == CURLE_FILESIZE_EXCEEDED) {
        uh_error_set(err, UH_ELIMIT, "the reply is larger than %zu bytes", c->opts.max_reply_bytes);
        fail = UH_LLM_FAIL_SIZE;
    } else if (cc == CURLE_OPERATION_TIMEDOUT) {
        uh_error_set(err, UH_EIO, "no reply within %.0f s", c->opts.timeout_s);
        fail = UH_LLM_FAIL_TIMEOUT;
        *retry = 1;
    } else if (cc != CURLE_OK) {
        uh_error_set(err, UH_EIO, "%s: %s", c->opts.url, curl_easy_strerror(cc));
        int no_route = cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
                       cc == CURLE_COULDNT_RESOLVE_PROXY || cc == CURLE_SSL_CONNECT_ERROR ||
                       cc == CURLE_PEER_FAILED_VERIFICATION;
        fail = no_route ? UH_LLM_FAIL_CONNECT : UH_LLM_FAIL_NETWORK;
        *retry = cc != CURLE_OUT_OF_MEMORY && cc != CURLE_FAILED_INIT &&
                 cc != CURLE_UNSUPPORTED_PROTOCOL && cc != CURLE_URL_MALFORMAT;
    } else if (status != 200) {
        char text[256];
        excerpt(&b, text, sizeof text);
        uh_error_set(err, UH_EIO, "HTTP %ld from %s/chat/completions: %s", status, c->opts.url,
                     text);
        fail = UH_LLM_FAIL_HTTP;
        *retry = status == 429 || status >= 500;
    } else if (parse_reply(&b, content, usage, err)) {
        fail = UH_LLM_FAIL_REPLY;
    }
    free(b.data);
    return fail;
}

int uh_llm_chat(uh_llm_client_t *c, const uh_llm_msg_t *msgs, int n_msgs, double temperature,
                char **content, uh_llm_usage_t *usage, uh_llm_call_t *call, uh_error_t *err) {
    *content = NULL;
    memset(usage, 0, sizeof *usage);
    memset(call, 0, sizeof *call);
    if (isnan(temperature)) temperature = c->opts.temperature;
    char *body = request_json(c, msgs, n_msgs, temperature);
    if (!body) return uh_error_set(err, UH_ENOMEM, "out of memory");
    double t0 = now_s(), delay = c->opts.backoff_s;
    uh_error_t e = {0};
    for (;;) {
        double retry_after;
        int retry;
        call->attempts++;
        e = (uh_error_t){0};
        call->fail = attempt(c, body, content, usage, call, &retry_after, &retry, &e);
        if (call->fail == UH_LLM_OK || !retry || call->attempts > c->opts.retries) break;
        double wait = delay * (0.5 + uh_rng_uniform(&c->jitter));
        if (!isnan(retry_after)) {
            if (retry_after > c->opts.max_wait_s) {
                uh_error_prefix(&e, "the server asks to wait %.0f s (more than %.0f)", retry_after,
                                c->opts.max_wait_s);
                break;
            }
            wait = retry_after;
        }
        sleep_s(wait < c->opts.max_wait_s ? wait : c->opts.max_wait_s);
        delay *= 2;
    }
    free(body);
    call->seconds = now_s() - t0;
    if (call->fail == UH_LLM_OK) return UH_OK;
    if (call->attempts > 1) uh_error_prefix(&e, "after %d attempts", call->attempts);
    if (err) *err = e;
    return e.code ? e.code : UH_EIO;
}

int uh_llm_check_server(uh_llm_client_t *c, uh_error_t *err) {
    body_t b = {.limit = c->opts.max_reply_bytes, .retry_after = NAN};
    long status = 0;
    double timeout = c->opts.connect_timeout_s + 10;
    CURLcode cc = exchange(c, "/models", NULL, timeout, &b, &status);
    free(b.data);
    if (cc == CURLE_WRITE_ERROR || cc == CURLE_FILESIZE_EXCEEDED) return UH_OK; /* it answered */
    if (cc != CURLE_OK)
        return uh_error_set(err, UH_EIO, "cannot reach the language model at %s: %s", c->opts.url,
                            curl_easy_strerror(cc));
    if (status == 401 || status == 403)
        return uh_error_set(err, UH_EINVAL,
                            "%s refused the API key (HTTP %ld); set UHNAS_LLM_API_KEY or "
                            "OPENAI_API_KEY",
                            c->opts.url, status);
    return UH_OK;
}
