/* Private to src/llm: prompt templates and the strict reading of a model's reply. */
#ifndef UHNAS_LLM_INTERNAL_H
#define UHNAS_LLM_INTERNAL_H

#include <cjson/cJSON.h>

#include "uhnas/llm.h"
#include "uhnas/limits.h"
#include "uhnas/strbuf.h"

/* The chat messages as the protocol's "messages" array, added to o (client.c). */
void llm_add_messages(cJSON *o, const uh_llm_msg_t *msgs, int n);

/* ---- templates (prompt.c) ---- */

typedef struct {
    const char *name; /* {{NAME}} in a template */
    const char *value;
} llm_var_t;

/* The prompt directory: `given` when set, else $UHNAS_PROMPTS, ./configs/prompts, then the
 * source tree's configs/prompts (the first holding user.txt). */
int llm_prompt_dir(const char *given, char *out, size_t size, uh_error_t *err);
/* Reads dir/file (at most UH_LLM_MAX_TEMPLATE_BYTES). */
int llm_template_load(const char *dir, const char *file, char **text, uh_error_t *err);
/* Replaces every {{NAME}} by its value; a placeholder with no value is an error (a typo in
 * an edited template should not reach the model silently). */
int llm_render(const char *tmpl, const llm_var_t *vars, int n_vars, char **out, uh_error_t *err);

/* The hardware system prompt's facts about a backend, for the given input shape: constraints
 * in words, energies of reference networks, the physics text's file name. */
int llm_backend_constraints(const uh_backend_t *b, uh_strbuf_t *out);
int llm_backend_energy_examples(const uh_backend_t *b, uh_shape_t input, uh_strbuf_t *out);

/* One candidate as a prompt line: id, accuracies, drop, energy, architecture. */
void llm_candidate_line(uh_strbuf_t *out, const uh_candidate_t *c);

/* ---- replies (reply.c) ---- */

typedef struct {
    uh_arch_t arch;
    char hash[17];
    int crossover;
    int n_parents;
    int64_t parents[UH_SEARCH_MAX_PARENTS];
} llm_child_t;

/* What a child must satisfy. */
typedef struct {
    uh_shape_t input;
    const uh_backend_t *backend;
    const int64_t *parent_ids; /* the parents given */
    int n_parent_ids;
    int (*is_known)(const void *ctx, const char *hash);
    const void *known_ctx;
    const llm_child_t *taken; /* children accepted earlier in this generation */
    int n_taken;
    const uh_space_t *space; /* its depth caps (uh_space_within_depth), or NULL: none */
} llm_check_t;

typedef struct {
    llm_child_t *children; /* valid and new, at most `want` */
    int n_children;
    int n_items;          /* entries the reply's "children" array had */
    int invalid;          /* entries rejected as malformed or breaking a constraint */
    int duplicate;        /* entries rejected as already known */
    uh_strbuf_t problems; /* "- child N: why" lines, for the repair prompt and the log */
    char *fatal;          /* the reply as a whole was unusable (no JSON object...), or NULL */
    char *heuristics[UH_LLM_MAX_HEURISTICS];
    int n_heuristics;
} llm_reply_t;

/* Reads a reply: the first JSON object in the text (prose and code fences around it are
 * tolerated), its "children" checked one by one, and its "heuristics" cleaned. Returns an
 * error only when out of memory; everything wrong with the text lands in out. */
int llm_parse_reply(const char *text, const llm_check_t *check, int want, llm_reply_t *out,
                    uh_error_t *err);
void llm_reply_free(llm_reply_t *r);

#endif
