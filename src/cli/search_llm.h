/* uhnas CLI — the language-model options shared by `search` and `resume`, and what the user
 * is told about the run's operator. */
#ifndef UHNAS_CLI_SEARCH_LLM_H
#define UHNAS_CLI_SEARCH_LLM_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "args.h"
#include "uhnas/llm.h"
#include "uhnas/search.h"

/* What the command line gave; unset = NULL / NaN / −1 (resume keeps the stored value). */
typedef struct {
    uh_llm_overrides_t remote; /* a remote model's settings */
    const char *system;
    const char *prior; /* the built-in model's earlier runs: DIR[,DIR...] */
    int targets;       /* the built-in model's targets rule (uh_lm_targets_t), -1 unset */
    double classic;    /* the built-in model's share of classic children, NaN unset */
    int parents;       /* the built-in model's parents in a child's context, -1 unset */
    int language;      /* the built-in model's language (uh_lang_mode_t), -1 unset */
    int size[5];       /* the built-in model's layers, heads, width, context, train steps */
} cli_llm_args_t;

void cli_llm_args_unset(cli_llm_args_t *a);

/* The options that both commands accept (search adds --system-prompt). */
/* clang-format off */
#define CLI_LLM_OPTIONS(a)                                                                      \
    {"llm-url", OPT_STRING, &(a).remote.url, 0, 0, NULL, "URL",                                 \
     "OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1 (key from UHNAS_LLM_API_KEY or "  \
     "OPENAI_API_KEY)"},                                                                        \
    {"llm-model", OPT_STRING, &(a).remote.model, 0, 0, NULL, "NAME", "model name sent to it"},  \
    {"llm-temperature", OPT_REAL, &(a).remote.temperature, 0, 2, NULL, "T",                     \
     "sampling temperature (default 0.7)"},                                                     \
    {"llm-max-tokens", OPT_INT, &(a).remote.max_tokens, 1, 1000000, NULL, "N",                  \
     "longest reply in tokens (default 4096)"},                                                 \
    {"llm-timeout", OPT_REAL, &(a).remote.timeout_s, 0.001, 86400, NULL, "SECONDS",             \
     "per request attempt (default 120)"},                                                      \
    {"llm-retries", OPT_INT, &(a).remote.retries, 0, 100, NULL, "N",                            \
     "retries on connection errors, timeouts, 429 and 5xx (default 3)"},                        \
    {"llm-replay", OPT_STRING, &(a).remote.replay, 0, 0, NULL, "FILE",                          \
     "answer from a recorded transcript (llm.jsonl) instead of the network"}
/* clang-format on */

/* For a new run: checks the options against the strategy and stores the language-model
 * settings in cfg->operator_config. Non-zero with a message in msg on a usage error. */
int cli_llm_new_config(const cli_llm_args_t *a, uh_strategy_t strategy, uh_search_config_t *cfg,
                       char *msg, size_t size);

/* The end-of-run warning on stderr when the operator's calls failed or children fell back. */
void cli_operator_warn(const uh_operator_t *op);
/* Its totals as JSON (caller frees), or NULL when it keeps none. */
cJSON *cli_operator_json(const uh_operator_t *op);

#endif
