/* A run's operator from its config (see uhnas/operator.h). */
#include <stdlib.h>

#include "uhnas/lm.h"
#include "uhnas/operator.h"

struct uh_run_operator {
    enum { OP_CLASSIC, OP_REMOTE, OP_BUILTIN } kind;
    uh_llm_stack_t remote;
    uh_operator_t builtin;
};

/* The stored settings name the model: the built-in one's, else a remote one's. */
static int open_model(uh_run_operator_t *op, const uh_search_config_t *cfg,
                      const uh_llm_overrides_t *overrides, const uh_backend_t *backend,
                      const char *run_dir, uh_error_t *err) {
    uh_lm_config_t lm;
    int rc = uh_lm_config_parse(cfg->operator_config, &lm, err);
    if (rc == UH_OK) {
        rc = uh_lm_operator_open(&lm, cfg->seed, run_dir, backend, &op->builtin, err);
        if (!rc) op->kind = OP_BUILTIN;
        return rc;
    }
    if (rc != UH_ENOTFOUND) return rc;
    uh_llm_config_t c;
    if ((rc = uh_llm_config_parse(cfg->operator_config, &c, err))) return rc;
    if (overrides) uh_llm_overrides_apply(overrides, &c);
    c.op.clean_objective = cfg->objective == UH_OBJECTIVE_CLEAN;
    rc = uh_llm_stack_open(&c, run_dir, backend, c.client.url[0] != '\0', &op->remote, err);
    if (!rc) op->kind = OP_REMOTE;
    return rc;
}

int uh_operator_open(const uh_search_config_t *cfg, const uh_llm_overrides_t *overrides,
                     const uh_backend_t *backend, const char *run_dir, uh_run_operator_t **out,
                     uh_error_t *err) {
    *out = NULL;
    uh_run_operator_t *op = calloc(1, sizeof *op);
    if (!op) return uh_error_set(err, UH_ENOMEM, "out of memory");
    int rc = uh_strategy_needs_model(cfg->strategy)
                 ? open_model(op, cfg, overrides, backend, run_dir, err)
                 : UH_OK; /* the classic operator */
    if (rc) {
        free(op);
        return rc;
    }
    *out = op;
    return UH_OK;
}

const uh_operator_t *uh_operator_of(const uh_run_operator_t *op) {
    return !op                      ? NULL
           : op->kind == OP_REMOTE  ? &op->remote.op
           : op->kind == OP_BUILTIN ? &op->builtin
                                    : NULL;
}

void uh_operator_close(uh_run_operator_t *op) {
    if (!op) return;
    if (op->kind == OP_REMOTE) uh_llm_stack_close(&op->remote);
    if (op->kind == OP_BUILTIN) uh_lm_operator_free(&op->builtin);
    free(op);
}
