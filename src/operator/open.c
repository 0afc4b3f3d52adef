/* A run's operator from its config (see uhnas/operator.h). */
#include <stdlib.h>
#include <string.h>

#include "uhnas/json.h"
#include "uhnas/lm.h"
#include "uhnas/operator.h"

struct uh_run_operator {
    const struct operator_kind *kind; /* NULL: the classic operator */
    void *state;                      /* the kind's own */
    const uh_operator_t *op;          /* inside state */
};

/* A language model the search can propose with: the member of the stored operator config that
 * names it, how to build it from that config, and the files it keeps in a run directory. */
typedef struct operator_kind {
    const char *key;
    size_t state_size;
    /* builds it from cfg's operator config into state (zeroed, state_size bytes), *op pointing
     * into it; on failure leaves nothing to close */
    int (*open)(const uh_search_config_t *cfg, const uh_llm_overrides_t *overrides,
                const uh_backend_t *backend, const char *run_dir, void *state,
                const uh_operator_t **op, uh_error_t *err);
    void (*close)(void *state); /* what open made; the state's memory is the caller's */
    /* removes what it keeps in run_dir (a replaced run's); cfg is the new run's */
    int (*forget)(const char *run_dir, const uh_search_config_t *cfg, uh_error_t *err);
    /* checks, before a run directory exists, what can be checked of it (NULL: nothing) */
    int (*check)(const uh_search_config_t *cfg, uh_error_t *err);
} operator_kind_t;

/* ---- the built-in model (uhnas/lm.h) ---- */

static int builtin_open(const uh_search_config_t *cfg, const uh_llm_overrides_t *overrides,
                        const uh_backend_t *backend, const char *run_dir, void *state,
                        const uh_operator_t **op, uh_error_t *err) {
    uh_lm_config_t lm;
    int rc = uh_lm_config_parse(cfg->operator_config, &lm, err);
    if (!rc) rc = uh_lm_operator_open(&lm, cfg->seed, run_dir, backend, state, err);
    *op = state;
    return rc;
}

static void builtin_close(void *state) {
    uh_lm_operator_free(state);
}

static int builtin_forget(const char *run_dir, const uh_search_config_t *cfg, uh_error_t *err) {
    return uh_lm_forget(run_dir, err);
}

/* ---- a language model over HTTP or a transcript (uhnas/llm.h) ---- */

static int remote_open(const uh_search_config_t *cfg, const uh_llm_overrides_t *overrides,
                       const uh_backend_t *backend, const char *run_dir, void *state,
                       const uh_operator_t **op, uh_error_t *err) {
    uh_llm_stack_t *s = state;
    uh_llm_config_t c;
    int rc = uh_llm_config_parse(cfg->operator_config, &c, err);
    if (rc) return rc;
    if (overrides) uh_llm_overrides_apply(overrides, &c);
    c.op.clean_objective = cfg->objective == UH_OBJECTIVE_CLEAN;
    *op = &s->op;
    /* a server is asked for its models first: a wrong URL or key stops the run at once */
    return uh_llm_stack_open(&c, run_dir, backend, c.client.url[0] != '\0', s, err);
}

static void remote_close(void *state) {
    uh_llm_stack_close(state);
}

static int remote_forget(const char *run_dir, const uh_search_config_t *cfg, uh_error_t *err) {
    uh_llm_config_t c;
    uh_error_t ignored = {0};
    int replays = uh_llm_config_parse(cfg->operator_config, &c, &ignored) == UH_OK && c.replay[0];
    return uh_llm_forget(run_dir, replays ? c.replay : NULL, err);
}

/* A server (not a replay) must answer and take the key. */
static int remote_check(const uh_search_config_t *cfg, uh_error_t *err) {
    uh_llm_config_t c;
    int rc = uh_llm_config_parse(cfg->operator_config, &c, err);
    if (rc || !c.client.url[0] || c.replay[0]) return rc;
    uh_llm_client_t *client;
    rc = uh_llm_client_new(&c.client, uh_llm_api_key_from_env(), &client, err);
    if (!rc) rc = uh_llm_check_server(client, err);
    uh_llm_client_free(client);
    return rc;
}

static const operator_kind_t KINDS[] = {
    {"builtin", sizeof(uh_operator_t), builtin_open, builtin_close, builtin_forget, NULL},
    {"llm", sizeof(uh_llm_stack_t), remote_open, remote_close, remote_forget, remote_check},
};
#define N_KINDS (int)(sizeof KINDS / sizeof KINDS[0])

/* The kind the stored operator config names: {"KEY": {its settings}}. */
static int find_kind(const uh_search_config_t *cfg, const operator_kind_t **kind, uh_error_t *err) {
    cJSON *o;
    int rc = uh_json_parse(cfg->operator_config, strlen(cfg->operator_config),
                           "run config: operator", &o, err);
    if (rc) return rc;
    const char *key = cJSON_IsObject(o) && cJSON_GetArraySize(o) == 1 ? o->child->string : "";
    for (int i = 0; i < N_KINDS && !*kind; i++)
        if (!strcmp(key, KINDS[i].key)) *kind = &KINDS[i];
    if (!*kind)
        rc = uh_error_set(err, UH_EINVAL,
                          "run config: operator: must be {\"builtin\": {...}} or {\"llm\": {...}}");
    cJSON_Delete(o);
    return rc;
}

int uh_operator_open(const uh_search_config_t *cfg, const uh_llm_overrides_t *overrides,
                     const uh_backend_t *backend, const char *run_dir, uh_run_operator_t **out,
                     uh_error_t *err) {
    *out = NULL;
    uh_run_operator_t *op = calloc(1, sizeof *op);
    if (!op) return uh_error_set(err, UH_ENOMEM, "out of memory");
    int rc = uh_strategy_needs_model(cfg->strategy) ? find_kind(cfg, &op->kind, err) : UH_OK;
    if (!rc && op->kind && !(op->state = calloc(1, op->kind->state_size)))
        rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    if (!rc && op->kind)
        rc = op->kind->open(cfg, overrides, backend, run_dir, op->state, &op->op, err);
    if (rc) {
        free(op->state);
        free(op);
        return rc;
    }
    *out = op;
    return UH_OK;
}

int uh_operator_check(const uh_search_config_t *cfg, uh_error_t *err) {
    const operator_kind_t *kind = NULL;
    int rc = uh_strategy_needs_model(cfg->strategy) ? find_kind(cfg, &kind, err) : UH_OK;
    return !rc && kind && kind->check ? kind->check(cfg, err) : rc;
}

const uh_operator_t *uh_operator_of(const uh_run_operator_t *op) {
    return op ? op->op : NULL;
}

void uh_operator_close(uh_run_operator_t *op) {
    if (!op) return;
    if (op->kind) op->kind->close(op->state);
    free(op->state);
    free(op);
}

int uh_operator_forget(const char *run_dir, const uh_search_config_t *cfg, uh_error_t *err) {
    int rc = UH_OK;
    for (int i = 0; i < N_KINDS && !rc; i++) rc = KINDS[i].forget(run_dir, cfg, err);
    return rc;
}
