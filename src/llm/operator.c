/* The language-model operator: prompts in, children out, the knowledge base carried from
 * one generation to the next. What the model gets wrong costs a repair round, then classic
 * children; it never stops the run, except when the model has never answered at all. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm_internal.h"
#include "uhnas/fileio.h"

#define MAX_FAILURES_KEPT 4 /* failure messages per generation in the stored state */

typedef struct {
    long calls, cached, failed, valid, repaired, fallback, duplicate, invalid;
    long prompt_tokens, completion_tokens;
} counts_t;

typedef struct {
    uh_llm_session_t *session;
    const uh_backend_t *backend;
    uh_llm_operator_opts_t opts;
    char dir[1024];
    /* templates */
    char *t_system; /* NULL: no system message */
    char *t_user, *t_repair, *t_format, *t_objectives, *t_physics, *t_llmatic;
    char *mutations[UH_SEARCH_MAX_POPULATION];
    int n_mutations;
    char *crossover;
    char *system; /* rendered once the input shape is known */
    int system_ready;
    /* the knowledge base */
    char *kb[UH_LLM_MAX_HEURISTICS];
    int n_kb;
    /* this generation (reset by take_state) and the whole run */
    counts_t gen, run;
    char *failures[MAX_FAILURES_KEPT];
    int n_failures;
    char last_failure[UH_ERROR_MSG_MAX];
    int answered; /* some call of this run got a reply: the model is reachable */
} llm_op_t;

int uh_llm_system_parse(const char *name, uh_llm_system_t *out) {
    static const char *const names[] = {"hardware", "generic", "none"};
    for (int i = 0; i < 3; i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (uh_llm_system_t)i;
            return UH_OK;
        }
    *out = UH_LLM_SYSTEM_FILE;
    return UH_OK;
}

const char *uh_llm_system_name(uh_llm_system_t s) {
    static const char *const names[] = {"hardware", "generic", "none", "file"};
    return (unsigned)s < 4 ? names[s] : "?";
}

/* ---- set-up ------------------------------------------------------------------------- */

static int load_llmatic(llm_op_t *o, uh_error_t *err) {
    char *text;
    int rc = llm_template_load(o->dir, "llmatic.json", &text, err);
    if (rc) return rc;
    cJSON *j = cJSON_Parse(text);
    free(text);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "mutation");
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, "crossover");
    const cJSON *item;
    if (!cJSON_IsArray(m)) m = NULL;
    cJSON_ArrayForEach(item, m) {
        if (!cJSON_IsString(item) || o->n_mutations == UH_SEARCH_MAX_POPULATION) break;
        if (!(o->mutations[o->n_mutations++] = strdup(item->valuestring))) rc = UH_ENOMEM;
    }
    if (cJSON_IsString(x) && !(o->crossover = strdup(x->valuestring))) rc = UH_ENOMEM;
    int complete = o->n_mutations > 0 && o->crossover && cJSON_GetArraySize(m) == o->n_mutations;
    cJSON_Delete(j);
    if (rc) return uh_error_set(err, UH_ENOMEM, "out of memory");
    return complete ? UH_OK
                    : uh_error_set(err, UH_EFORMAT,
                                   "%s/llmatic.json: needs \"mutation\" (strings) and "
                                   "\"crossover\" (a string)",
                                   o->dir);
}

static int load_templates(llm_op_t *o, uh_error_t *err) {
    int rc = llm_prompt_dir(o->opts.prompts_dir, o->dir, sizeof o->dir, err);
    const char *model = uh_backend_model_name(o->backend);
    char physics[64];
    snprintf(physics, sizeof physics, "physics-%s.txt", model);
    if (!rc) rc = llm_template_load(o->dir, "user.txt", &o->t_user, err);
    if (!rc) rc = llm_template_load(o->dir, "repair.txt", &o->t_repair, err);
    if (!rc) rc = llm_template_load(o->dir, "format.txt", &o->t_format, err);
    if (!rc) rc = llm_template_load(o->dir, "objectives.txt", &o->t_objectives, err);
    if (!rc) rc = llm_template_load(o->dir, "llmatic-user.txt", &o->t_llmatic, err);
    if (!rc) rc = load_llmatic(o, err);
    if (!rc && o->opts.system == UH_LLM_SYSTEM_HARDWARE) {
        rc = llm_template_load(o->dir, "system-hardware.txt", &o->t_system, err);
        if (!rc && llm_template_load(o->dir, physics, &o->t_physics, NULL))
            o->t_physics = strdup(""); /* a model without a physics text: the file says it */
        if (!rc && !o->t_physics) rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    } else if (!rc && o->opts.system == UH_LLM_SYSTEM_GENERIC) {
        rc = llm_template_load(o->dir, "system-generic.txt", &o->t_system, err);
    } else if (!rc && o->opts.system == UH_LLM_SYSTEM_FILE) {
        size_t len;
        rc = uh_read_file(o->opts.system_file, UH_LLM_MAX_TEMPLATE_BYTES, &o->t_system, &len, err);
    }
    return rc;
}

static void op_free(llm_op_t *o) {
    if (!o) return;
    char **texts[] = {&o->t_system,  &o->t_user,    &o->t_repair,  &o->t_format, &o->t_objectives,
                      &o->t_physics, &o->t_llmatic, &o->crossover, &o->system};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) free(*texts[i]);
    for (int i = 0; i < o->n_mutations; i++) free(o->mutations[i]);
    for (int i = 0; i < o->n_kb; i++) free(o->kb[i]);
    for (int i = 0; i < o->n_failures; i++) free(o->failures[i]);
    free(o);
}

/* ---- prompts -------------------------------------------------------------------------- */

/* The format section. DEPTH_CAPS is a sentence where the run caps depth, else empty (so a
 * run stored before the caps asks what it asked). */
static int render_format(const llm_op_t *o, const uh_space_t *space, char **out, uh_error_t *err) {
    char classes[16], max_h[16], caps[128] = "";
    snprintf(classes, sizeof classes, "%d", space->input.n_classes);
    snprintf(max_h, sizeof max_h, "%d", UH_LLM_MAX_HEURISTICS);
    if (space->depth_caps)
        snprintf(caps, sizeof caps, " At most %d conv2d and %d hidden dense layers.",
                 UH_SPACE_MAX_CONV, UH_SPACE_MAX_DENSE);
    llm_var_t vars[] = {{"CLASSES", classes}, {"MAX_HEURISTICS", max_h}, {"DEPTH_CAPS", caps}};
    return llm_render(o->t_format, vars, 3, out, err);
}

static int build_system(llm_op_t *o, uh_shape_t input, uh_error_t *err) {
    o->system_ready = 1;
    if (!o->t_system) return UH_OK;
    char *objectives = NULL;
    llm_var_t acc = {"ACCURACY", o->opts.clean_objective
                                     ? "clean"
                                     : "noisy (under the hardware's non-idealities)"};
    int rc = llm_render(o->t_objectives, &acc, 1, &objectives, err);
    uh_strbuf_t constraints = {0}, energy = {0};
    if (!rc && (llm_backend_constraints(o->backend, &constraints) ||
                llm_backend_energy_examples(o->backend, input, &energy)))
        rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    uh_precision_t prec;
    uh_backend_precision(o->backend, &prec);
    char shape[64], classes[16];
    snprintf(shape, sizeof shape, "%d×%d×%d", input.c, input.h, input.w);
    snprintf(classes, sizeof classes, "%d", input.n_classes);
    llm_var_t vars[] = {{"BACKEND_NAME", uh_backend_name(o->backend)},
                        {"BACKEND_MODEL", uh_backend_model_name(o->backend)},
                        {"BACKEND_DESCRIPTION", uh_backend_description(o->backend)},
                        {"PRECISION", prec.summary},
                        {"PHYSICS", o->t_physics},
                        {"INPUT_SHAPE", shape},
                        {"CLASSES", classes},
                        {"ENERGY_EXAMPLES", energy.buf ? energy.buf : ""},
                        {"CONSTRAINTS", constraints.buf ? constraints.buf : ""},
                        {"BACKEND_FILE", uh_backend_text(o->backend)},
                        {"OBJECTIVES", objectives}};
    if (!rc) rc = llm_render(o->t_system, vars, sizeof vars / sizeof vars[0], &o->system, err);
    if (rc) uh_error_prefix(err, "system prompt");
    free(objectives);
    uh_strbuf_free(&constraints);
    uh_strbuf_free(&energy);
    return rc;
}

/* The parents, each id once. */
static void parent_lines(uh_strbuf_t *b, const uh_propose_t *in) {
    for (int i = 0; i < in->n_parents; i++) {
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) seen = in->parents[j]->id == in->parents[i]->id;
        if (!seen) llm_candidate_line(b, in->parents[i]);
    }
}

static void list_lines(uh_strbuf_t *b, const uh_candidate_t *const *rows, int n) {
    for (int i = 0; i < n; i++) llm_candidate_line(b, rows[i]);
    if (n == 0) uh_strbuf_puts(b, "(none yet)\n");
}

static int build_user(const llm_op_t *o, const uh_propose_t *in, char **out, uh_error_t *err) {
    char *format = NULL;
    int rc = render_format(o, in->space, &format, err);
    uh_strbuf_t parents = {0}, front = {0}, recent = {0}, kb = {0};
    parent_lines(&parents, in);
    char n[16], gen[16];
    snprintf(n, sizeof n, "%d", in->n);
    snprintf(gen, sizeof gen, "%d", in->generation);
    if (in->variant >= 0) { /* llmatic: one prompt from its archive, on its parents */
        const char *instruction =
            in->variant < o->n_mutations ? o->mutations[in->variant] : o->crossover;
        llm_var_t vars[] = {{"INSTRUCTION", instruction},
                            {"PARENTS", parents.buf ? parents.buf : ""},
                            {"FORMAT", format}};
        if (!rc) rc = parents.oom ? UH_ENOMEM : llm_render(o->t_llmatic, vars, 3, out, err);
    } else {
        list_lines(&front, in->front, in->n_front);
        list_lines(&recent, in->recent, in->n_recent);
        for (int i = 0; i < o->n_kb; i++) uh_strbuf_putf(&kb, "- %s\n", o->kb[i]);
        if (o->n_kb == 0) uh_strbuf_puts(&kb, "(empty: this is the first generation you see)\n");
        llm_var_t vars[] = {{"GENERATION", gen},      {"N", n},
                            {"FRONT", front.buf},     {"RECENT", recent.buf},
                            {"PARENTS", parents.buf}, {"KNOWLEDGE", kb.buf},
                            {"FORMAT", format}};
        if (!rc && (parents.oom || front.oom || recent.oom || kb.oom)) rc = UH_ENOMEM;
        if (!rc) rc = llm_render(o->t_user, vars, sizeof vars / sizeof vars[0], out, err);
    }
    if (rc == UH_ENOMEM) uh_error_set(err, UH_ENOMEM, "out of memory");
    free(format);
    uh_strbuf_free(&parents);
    uh_strbuf_free(&front);
    uh_strbuf_free(&recent);
    uh_strbuf_free(&kb);
    return rc;
}

/* ---- a call and its reply ------------------------------------------------------------- */

static void note_failure(llm_op_t *o, const char *msg) {
    o->gen.failed++;
    snprintf(o->last_failure, sizeof o->last_failure, "%s", msg);
    if (o->n_failures < MAX_FAILURES_KEPT) {
        char *copy = strdup(msg);
        if (copy) o->failures[o->n_failures++] = copy;
    }
}

/* A failure that means the model is not there at all: wrong URL, refused key, no model. */
static int unreachable(const uh_llm_call_t *c) {
    return c->fail == UH_LLM_FAIL_CONNECT || c->fail == UH_LLM_FAIL_REPLAY ||
           (c->fail == UH_LLM_FAIL_HTTP && c->http_status >= 400 && c->http_status < 500 &&
            c->http_status != 408 && c->http_status != 429);
}

/* One call; *reply NULL when it failed (counted). Returns an error only to stop the run. */
static int ask(llm_op_t *o, const uh_propose_t *in, const char *what, const uh_llm_msg_t *msgs,
               int n_msgs, char **reply, uh_error_t *err) {
    uh_llm_usage_t usage;
    uh_llm_call_t call;
    uh_error_t e = {0};
    double temperature = isnan(in->temperature) ? o->opts.temperature : in->temperature;
    int rc = uh_llm_session_chat(o->session, in->generation, what, msgs, n_msgs, temperature, reply,
                                 &usage, &call, &e);
    o->gen.calls++;
    o->gen.cached += call.cached;
    o->gen.prompt_tokens += usage.prompt_tokens;
    o->gen.completion_tokens += usage.completion_tokens;
    if (!rc) {
        o->answered = 1;
        return UH_OK;
    }
    if (call.fail == UH_LLM_OK || rc == UH_ENOMEM) { /* the transcript or memory: ours */
        if (err) *err = e;
        return rc;
    }
    note_failure(o, e.msg);
    if (!o->answered && unreachable(&call))
        return uh_error_set(err, UH_EIO, "the language model never answered: %s", e.msg);
    return UH_OK;
}

static void take_heuristics(llm_op_t *o, llm_reply_t *r) {
    if (r->n_heuristics == 0) return;
    for (int i = 0; i < o->n_kb; i++) free(o->kb[i]);
    for (int i = 0; i < r->n_heuristics; i++) o->kb[i] = r->heuristics[i];
    o->n_kb = r->n_heuristics;
    r->n_heuristics = 0; /* moved */
}

static void emit(const llm_child_t *c, const char *origin, uh_child_t *out) {
    memset(out, 0, sizeof *out);
    out->arch = c->arch;
    snprintf(out->origin, sizeof out->origin, "%s", origin);
    out->n_parents = c->n_parents;
    memcpy(out->parents, c->parents, sizeof c->parents);
}

/* The repair request: what was wrong, as precisely as the checks said it. */
static int repair_text(const llm_op_t *o, const llm_reply_t *r, int need, char **out,
                       uh_error_t *err) {
    uh_strbuf_t errors = {0};
    if (r->fatal) uh_strbuf_putf(&errors, "- %s\n", r->fatal);
    if (r->problems.buf) uh_strbuf_puts(&errors, r->problems.buf);
    if (!r->fatal && r->n_items < need + r->n_children)
        uh_strbuf_putf(&errors, "- the reply gave %d children; %d were asked for\n", r->n_items,
                       need + r->n_children);
    char n[16];
    snprintf(n, sizeof n, "%d", need);
    llm_var_t vars[] = {{"ERRORS", errors.buf ? errors.buf : ""}, {"N", n}};
    int rc = errors.oom ? uh_error_set(err, UH_ENOMEM, "out of memory")
                        : llm_render(o->t_repair, vars, 2, out, err);
    uh_strbuf_free(&errors);
    return rc;
}

static void count_reply(llm_op_t *o, const llm_reply_t *r) {
    o->gen.invalid += r->invalid + (r->fatal ? 1 : 0);
    o->gen.duplicate += r->duplicate;
}

/* ---- the operator --------------------------------------------------------------------- */

static int llm_propose(void *ctx, const uh_propose_t *in, uh_child_t *out, uh_error_t *err) {
    llm_op_t *o = ctx;
    int rc = o->system_ready ? UH_OK : build_system(o, in->space->input, err);
    char *user = NULL, *reply = NULL, *fix = NULL, *reply2 = NULL;
    if (!rc) rc = build_user(o, in, &user, err);
    int64_t ids[2 * UH_SEARCH_MAX_POPULATION];
    int n_ids =
        in->n_parents < 2 * UH_SEARCH_MAX_POPULATION ? in->n_parents : 2 * UH_SEARCH_MAX_POPULATION;
    for (int i = 0; i < n_ids; i++) ids[i] = in->parents[i]->id;
    llm_check_t check = {in->space->input, o->backend, ids, n_ids,    in->is_known,
                         in->known_ctx,    NULL,       0,   in->space};
    uh_llm_msg_t msgs[4];
    int n_msgs = 0;
    if (o->system && o->system[0]) msgs[n_msgs++] = (uh_llm_msg_t){"system", o->system};
    msgs[n_msgs++] = (uh_llm_msg_t){"user", user};
    const char *what = in->variant >= 0 ? "llmatic" : "propose";
    if (!rc) rc = ask(o, in, what, msgs, n_msgs, &reply, err);
    llm_reply_t first = {0}, second = {0};
    int made = 0;
    if (!rc && reply) {
        rc = llm_parse_reply(reply, &check, in->n, &first, err);
        if (!rc) {
            count_reply(o, &first);
            for (int i = 0; i < first.n_children; i++)
                emit(&first.children[i], "llm", &out[made++]);
            o->gen.valid += first.n_children;
            if (in->variant < 0) take_heuristics(o, &first);
        }
    }
    if (!rc && reply && made < in->n) { /* one repair round, with the precise errors */
        rc = repair_text(o, &first, in->n - made, &fix, err);
        msgs[n_msgs++] = (uh_llm_msg_t){"assistant", reply};
        msgs[n_msgs++] = (uh_llm_msg_t){"user", fix};
        if (!rc) rc = ask(o, in, "repair", msgs, n_msgs, &reply2, err);
        check.taken = first.children;
        check.n_taken = first.n_children;
        if (!rc && reply2) rc = llm_parse_reply(reply2, &check, in->n - made, &second, err);
        if (!rc && reply2) {
            count_reply(o, &second);
            for (int i = 0; i < second.n_children; i++)
                emit(&second.children[i], "llm-repair", &out[made++]);
            o->gen.repaired += second.n_children;
            if (in->variant < 0 && o->n_kb == 0) take_heuristics(o, &second);
        }
    }
    if (!rc && made < in->n) { /* what is still missing: classic children of the parents */
        uh_propose_t rest = *in;
        rest.n = in->n - made;
        rc = uh_operator_classic.propose(NULL, &rest, out + made, err);
        for (int i = made; !rc && i < in->n; i++)
            snprintf(out[i].origin, sizeof out[i].origin, "llm-fallback");
        o->gen.fallback += in->n - made;
    }
    llm_reply_free(&first);
    llm_reply_free(&second);
    free(user);
    free(reply);
    free(fix);
    free(reply2);
    return rc;
}

static void add_counts(counts_t *to, const counts_t *c) {
    long *t = &to->calls;
    const long *f = &c->calls;
    for (size_t i = 0; i < sizeof *c / sizeof(long); i++) t[i] += f[i];
}

/* The counts as members of o, in counts_t's order. */
static void counts_json(const counts_t *c, cJSON *o) {
    static const char *const keys[] = {"calls",         "cached",           "failed",    "valid",
                                       "repaired",      "fallback",         "duplicate", "invalid",
                                       "prompt_tokens", "completion_tokens"};
    _Static_assert(sizeof keys / sizeof keys[0] == sizeof(counts_t) / sizeof(long),
                   "a name for every count");
    const long *v = &c->calls;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        cJSON_AddNumberToObject(o, keys[i], (double)v[i]);
}

static void llm_take_state(void *ctx, char *buf, size_t size) {
    llm_op_t *o = ctx;
    cJSON *s = cJSON_CreateObject();
    cJSON *l = cJSON_AddObjectToObject(s, "llm");
    counts_json(&o->gen, l);
    cJSON *f = cJSON_AddArrayToObject(l, "failures");
    for (int i = 0; i < o->n_failures; i++)
        cJSON_AddItemToArray(f, cJSON_CreateString(o->failures[i]));
    cJSON *h = cJSON_AddArrayToObject(s, "heuristics");
    for (int i = 0; i < o->n_kb; i++) cJSON_AddItemToArray(h, cJSON_CreateString(o->kb[i]));
    char *text = cJSON_PrintUnformatted(s);
    cJSON_Delete(s);
    size_t len = text ? strlen(text) : 0;
    if (text && len < size)
        memcpy(buf, text, len + 1);
    else if (size)
        buf[0] = '\0'; /* too big for the state: the transcript still has everything */
    free(text);
    add_counts(&o->run, &o->gen);
    memset(&o->gen, 0, sizeof o->gen);
    for (int i = 0; i < o->n_failures; i++) free(o->failures[i]);
    o->n_failures = 0;
}

static int llm_totals(void *ctx, uh_operator_totals_t *t, uh_error_t *err) {
    const llm_op_t *o = ctx;
    counts_t c = o->run;
    add_counts(&c, &o->gen);
    memset(t, 0, sizeof *t);
    t->calls = c.calls, t->failed = c.failed, t->fallback = c.fallback;
    snprintf(t->detail, sizeof t->detail, "%ld invalid, %ld duplicate proposals; %ld repaired",
             c.invalid, c.duplicate, c.repaired);
    snprintf(t->last_failure, sizeof t->last_failure, "%s", o->last_failure);
    cJSON *j = cJSON_CreateObject();
    counts_json(&c, j);
    t->json = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return t->json ? UH_OK : uh_error_set(err, UH_ENOMEM, "out of memory");
}

int uh_llm_operator_new(const uh_llm_operator_opts_t *opts, uh_llm_session_t *session,
                        const uh_backend_t *backend, uh_operator_t *op, uh_error_t *err) {
    memset(op, 0, sizeof *op);
    llm_op_t *o = calloc(1, sizeof *o);
    if (!o) return uh_error_set(err, UH_ENOMEM, "out of memory");
    o->session = session;
    o->backend = backend;
    o->opts = *opts;
    int rc = load_templates(o, err);
    if (rc) {
        op_free(o);
        return rc;
    }
    *op = (uh_operator_t){"llm", llm_propose, llm_take_state, llm_totals, o->n_mutations, o};
    return UH_OK;
}

void uh_llm_operator_free(uh_operator_t *op) {
    if (!op || !op->ctx) return;
    op_free(op->ctx);
    memset(op, 0, sizeof *op);
}

char *uh_llm_operator_system_prompt(const uh_operator_t *op, uh_shape_t input, uh_error_t *err) {
    if (!op || !op->ctx) return NULL;
    llm_op_t *o = op->ctx;
    if (!o->system_ready && build_system(o, input, err)) return NULL;
    return strdup(o->system ? o->system : "");
}
