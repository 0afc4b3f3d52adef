/* uhnas — the language model as the search's operator.
 *
 * Three layers, each usable alone:
 *   client    one chat completion over HTTP (libcurl), in the OpenAI-compatible protocol
 *             that llama.cpp's server, vLLM, Ollama (/v1), OpenAI and most gateways speak:
 *             POST {url}/chat/completions. Timeouts, retries with exponential backoff and
 *             jitter (connection errors, timeouts, 429 with Retry-After, 5xx), a hard cap
 *             on the reply's size. The API key is sent as "Authorization: Bearer KEY" and
 *             never written anywhere.
 *   session   the run's memory of its conversation: every call is appended to a JSON-lines
 *             transcript (DIR/llm.jsonl, the key redacted) and calls already in it — or in
 *             a transcript given for replay — are answered from it, matched by a hash of
 *             their messages and temperature. A resumed run repeats no finished call and a
 *             replayed run needs no network: the run is a deterministic function of its
 *             seed and of the replies, so the same requests come again in the same order.
 *   operator  uh_operator_t for the search: prompts built from the backend (the hardware,
 *             its costs, constraints and non-idealities), the front, recent candidates and
 *             a knowledge base of heuristics the model rewrites every generation; strict
 *             parsing of the reply, one repair round, classic children for what fails.
 *
 * Every reply is untrusted text: it is parsed, never executed; sizes are capped; whatever is
 * wrong with it makes fallbacks, counted, and the run goes on. */
#ifndef UHNAS_LLM_H
#define UHNAS_LLM_H

#include <stddef.h>

#include "uhnas/backend.h"
#include "uhnas/error.h"
#include "uhnas/limits.h"
#include "uhnas/search.h"

/* ---- client ---- */

typedef struct {
    char url[UH_LLM_MAX_URL];     /* base URL, e.g. http://127.0.0.1:8080/v1 */
    char model[UH_LLM_MAX_MODEL]; /* sent as "model"; servers with one model ignore it */
    double temperature;           /* default for calls that do not give one */
    int max_tokens;
    double timeout_s;         /* whole request, per attempt */
    double connect_timeout_s; /* TCP/TLS connect, per attempt */
    int retries;              /* further attempts after a retryable failure */
    double backoff_s;         /* first retry's delay; doubled per retry, ×[0.5, 1.5) jitter */
    double max_wait_s;        /* longest delay (and longest Retry-After) honoured */
    size_t max_reply_bytes;
} uh_llm_opts_t;

/* url "", model "", temperature 0.7, max_tokens 4096, timeout 120 s, connect 10 s, 3
 * retries from 1 s, waits up to 60 s, replies up to UH_LLM_DEFAULT_MAX_REPLY bytes. */
void uh_llm_opts_default(uh_llm_opts_t *o);

/* The key from the environment: UHNAS_LLM_API_KEY, else OPENAI_API_KEY, else NULL. */
const char *uh_llm_api_key_from_env(void);

typedef enum {
    UH_LLM_OK,
    UH_LLM_FAIL_CONNECT, /* no connection (refused, DNS, TLS) */
    UH_LLM_FAIL_NETWORK, /* the connection broke mid-exchange (closed, reset) */
    UH_LLM_FAIL_TIMEOUT,
    UH_LLM_FAIL_HTTP,   /* an HTTP status other than 200 */
    UH_LLM_FAIL_REPLY,  /* 200 but not a chat completion with content */
    UH_LLM_FAIL_SIZE,   /* larger than max_reply_bytes */
    UH_LLM_FAIL_REPLAY, /* replay only, and the transcript has no such call */
} uh_llm_fail_t;

const char *uh_llm_fail_name(uh_llm_fail_t f);

typedef struct {
    long prompt_tokens, completion_tokens; /* from the reply's "usage"; 0 when absent */
} uh_llm_usage_t;

typedef struct {
    uh_llm_fail_t fail;
    int http_status; /* of the last attempt; 0 when none came */
    int attempts;
    double seconds; /* wall time, waits included */
    int cached;     /* answered from a transcript */
} uh_llm_call_t;

typedef struct {
    const char *role; /* "system", "user", "assistant" */
    const char *content;
} uh_llm_msg_t;

typedef struct uh_llm_client uh_llm_client_t;

/* api_key may be NULL (no Authorization header). The key is copied. */
int uh_llm_client_new(const uh_llm_opts_t *opts, const char *api_key, uh_llm_client_t **out,
                      uh_error_t *err);
void uh_llm_client_free(uh_llm_client_t *c);
const uh_llm_opts_t *uh_llm_client_opts(const uh_llm_client_t *c);

/* One chat completion. temperature NaN = the client's. On success *content is the
 * assistant's text (malloc'd, caller frees). On failure the error says why and call->fail
 * what kind; content is NULL. */
int uh_llm_chat(uh_llm_client_t *c, const uh_llm_msg_t *msgs, int n_msgs, double temperature,
                char **content, uh_llm_usage_t *usage, uh_llm_call_t *call, uh_error_t *err);

/* GET {url}/models: a start-up check that the server answers and accepts the key. A server
 * without that endpoint (404) passes. */
int uh_llm_check_server(uh_llm_client_t *c, uh_error_t *err);

/* ---- session: transcript, resume and replay ---- */

typedef struct uh_llm_session uh_llm_session_t;

/* client NULL = replay only. transcript_path (appended, created if needed) may be NULL; its
 * existing calls are reused (resume). replay_path (read only) may be NULL. A truncated last
 * line (a crash mid-write) is skipped. */
int uh_llm_session_new(uh_llm_client_t *client, const char *transcript_path,
                       const char *replay_path, uh_llm_session_t **out, uh_error_t *err);
void uh_llm_session_free(uh_llm_session_t *s);

/* A chat call through the session: from the transcripts when this request was made before
 * (its recorded reply or failure, in order of occurrence), else live and appended. `what`
 * labels the line ("propose", "repair", "llmatic"). The reply and any error text have the
 * API key replaced by "[REDACTED]". Returns UH_OK or the call's error; errors in writing the
 * transcript are returned as UH_EIO with call->fail = UH_LLM_OK. */
int uh_llm_session_chat(uh_llm_session_t *s, int generation, const char *what,
                        const uh_llm_msg_t *msgs, int n_msgs, double temperature, char **content,
                        uh_llm_usage_t *usage, uh_llm_call_t *call, uh_error_t *err);

/* Copies text with every occurrence of secret as a whole token (not inside a longer run of
 * letters, digits, '-' and '_': a key "k" leaves "kernel" alone) replaced by "[REDACTED]"
 * (secret NULL or "": a plain copy). NULL when out of memory. */
char *uh_llm_redact(const char *text, const char *secret);

/* ---- the operator ---- */

typedef enum {
    UH_LLM_SYSTEM_HARDWARE, /* built from the backend (the default for strategy llm) */
    UH_LLM_SYSTEM_GENERIC,  /* NAS in general, no hardware */
    UH_LLM_SYSTEM_NONE,     /* no system message */
    UH_LLM_SYSTEM_FILE,     /* a user's template file */
} uh_llm_system_t;

typedef struct {
    uh_llm_system_t system;
    char system_file[1024]; /* UH_LLM_SYSTEM_FILE */
    char prompts_dir[1024]; /* "" = $UHNAS_PROMPTS, ./configs/prompts, the source tree's */
    double temperature;     /* NaN = the client's */
    int clean_objective;    /* the run maximises clean accuracy (default: noisy) */
} uh_llm_operator_opts_t;

/* Builds the operator over a session (borrowed, as is the backend). Loads and checks the
 * prompt templates. op->name is "llm"; its totals are the counts of its stored state (calls,
 * cached, failed, valid, repaired, fallback, duplicate, invalid, prompt and completion
 * tokens) over the run. */
int uh_llm_operator_new(const uh_llm_operator_opts_t *opts, uh_llm_session_t *session,
                        const uh_backend_t *backend, uh_operator_t *op, uh_error_t *err);
void uh_llm_operator_free(uh_operator_t *op); /* an operator uh_llm_operator_new made, or {0} */

/* The system prompt that operator sends for this input shape ("" for none; caller frees);
 * NULL on error. For `--print-prompt` and tests. */
char *uh_llm_operator_system_prompt(const uh_operator_t *op, uh_shape_t input, uh_error_t *err);

/* "hardware", "generic", "none"; anything else is a template file (UH_LLM_SYSTEM_FILE). */
int uh_llm_system_parse(const char *name, uh_llm_system_t *out);
const char *uh_llm_system_name(uh_llm_system_t s);

/* ---- a run's language model, end to end ---- */

typedef struct {
    uh_llm_opts_t client;
    uh_llm_operator_opts_t op;
    char replay[1024]; /* a transcript to answer from instead of the network; "" = none */
} uh_llm_config_t;

void uh_llm_config_default(uh_llm_config_t *c);
/* As stored in the run's config: {"llm":{...}}, without the key. Caller frees. */
char *uh_llm_config_json(const uh_llm_config_t *c);
int uh_llm_config_parse(const char *json, uh_llm_config_t *c, uh_error_t *err);

/* Settings given over a stored config's (resume with a server that moved...); unset = NULL,
 * NaN or −1. */
typedef struct {
    const char *url, *model, *replay;
    double temperature, timeout_s;
    int max_tokens, retries;
} uh_llm_overrides_t;

void uh_llm_overrides_unset(uh_llm_overrides_t *o);
int uh_llm_overrides_any(const uh_llm_overrides_t *o);
/* The set ones onto c (a temperature is the client's and the operator's). */
void uh_llm_overrides_apply(const uh_llm_overrides_t *o, uh_llm_config_t *c);

typedef struct {
    uh_llm_client_t *client; /* NULL when replaying only */
    uh_llm_session_t *session;
    uh_operator_t op;
} uh_llm_stack_t;

/* Client (key from the environment), session on run_dir/llm.jsonl and operator. With
 * check_server the server is asked for its models first, so a wrong URL or key stops a
 * run before anything is trained. */
int uh_llm_stack_open(const uh_llm_config_t *c, const char *run_dir, const uh_backend_t *backend,
                      int check_server, uh_llm_stack_t *s, uh_error_t *err);
void uh_llm_stack_close(uh_llm_stack_t *s);
/* Removes run_dir's transcript (llm.jsonl) unless it is the file `keep` (NULL: none), a
 * transcript the new run replays from. None is fine. */
int uh_llm_forget(const char *run_dir, const char *keep, uh_error_t *err);

#endif
