/* uhnas — a run's operator, built from its stored config: the classic one (strategies
 * without a model), a language model over HTTP or a transcript (uhnas/llm.h), or the
 * built-in model (uhnas/lm.h).
 *
 * This module is the one place that names every operator: the search takes whichever it is
 * given through uh_operator_t and never names a model. Dependencies: cli → operator →
 * (search, llm, lm). Adding an operator is its own module plus a case here. */
#ifndef UHNAS_OPERATOR_H
#define UHNAS_OPERATOR_H

#include "uhnas/llm.h"
#include "uhnas/search.h"

typedef struct uh_run_operator uh_run_operator_t;

/* The operator of the run whose config is cfg, kept in run_dir (a language model's
 * transcript, the built-in model's memory). overrides (may be NULL) go over a remote model's
 * stored settings. A remote model's server is asked for its models first (resume included),
 * so a wrong URL or key stops the run before anything is trained. */
int uh_operator_open(const uh_search_config_t *cfg, const uh_llm_overrides_t *overrides,
                     const uh_backend_t *backend, const char *run_dir, uh_run_operator_t **out,
                     uh_error_t *err);
/* Before a new run's directory exists: what can be checked of its operator without one (a
 * remote model's server answers and takes the key; not a replay), so that a wrong URL or key
 * leaves nothing behind. UH_OK for operators with nothing to check. */
int uh_operator_check(const uh_search_config_t *cfg, uh_error_t *err);
/* What uh_search_opts_t.op takes: NULL for the classic operator. */
const uh_operator_t *uh_operator_of(const uh_run_operator_t *op);
void uh_operator_close(uh_run_operator_t *op); /* NULL is fine */
/* Removes what any operator keeps in run_dir (a transcript, a model's memory), for a run
 * that replaces the one there: the new run must not be answered from the old one's calls.
 * cfg is the new run's; a transcript it replays from is kept. */
int uh_operator_forget(const char *run_dir, const uh_search_config_t *cfg, uh_error_t *err);

#endif
