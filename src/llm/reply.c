/* Strict reading of a language model's reply. The text is hostile until proven otherwise:
 * bounded scans, cJSON for the syntax, our own parser and the backend's check for every
 * architecture, and nothing from it is ever executed or trusted as an instruction. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm_internal.h"

#define MAX_PROBLEM_LINES 24

/* The end (one past '}') of the object starting at text[i], or 0 when it does not close. */
static size_t object_end(const char *text, size_t len, size_t i) {
    int depth = 0, in_string = 0;
    for (size_t j = i; j < len; j++) {
        char c = text[j];
        if (in_string) {
            if (c == '\\')
                j++;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > UH_LLM_MAX_REPLY_DEPTH) return 0;
        } else if (c == '}' || c == ']') {
            if (--depth == 0) return c == '}' ? j + 1 : 0;
            if (depth < 0) return 0;
        }
    }
    return 0;
}

/* The first JSON object in text with a "children" member, else the first JSON object. */
static cJSON *find_object(const char *text) {
    size_t len = strlen(text);
    cJSON *first = NULL;
    int tries = 0;
    for (const char *p = strchr(text, '{'); p && tries < UH_LLM_MAX_OBJECT_STARTS;
         p = strchr(p + 1, '{'), tries++) {
        size_t start = (size_t)(p - text), end = object_end(text, len, start);
        if (!end) continue;
        cJSON *o = cJSON_ParseWithLength(p, end - start);
        if (!cJSON_IsObject(o)) {
            cJSON_Delete(o);
            continue;
        }
        if (cJSON_GetObjectItemCaseSensitive(o, "children")) {
            cJSON_Delete(first);
            return o;
        }
        if (!first)
            first = o;
        else
            cJSON_Delete(o);
    }
    return first;
}

static void problem(llm_reply_t *r, int item, const char *fmt, const char *detail) {
    if (r->invalid + r->duplicate > MAX_PROBLEM_LINES) return;
    uh_strbuf_putf(&r->problems, "- child %d: ", item + 1);
    uh_strbuf_putf(&r->problems, fmt, detail);
    uh_strbuf_puts(&r->problems, "\n");
}

static int parent_given(const llm_check_t *c, double id) {
    for (int i = 0; i < c->n_parent_ids; i++)
        if ((double)c->parent_ids[i] == id) return 1;
    return 0;
}

/* The child's op and parents into ch; an error message or NULL. */
static const char *read_lineage(const cJSON *item, const llm_check_t *c, llm_child_t *ch, char *why,
                                size_t size) {
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(item, "op");
    if (op && !(cJSON_IsString(op) && (strcmp(op->valuestring, "mutate") == 0 ||
                                       strcmp(op->valuestring, "crossover") == 0)))
        return "\"op\" must be \"mutate\" or \"crossover\"";
    ch->crossover = op && strcmp(op->valuestring, "crossover") == 0;
    const cJSON *parents = cJSON_GetObjectItemCaseSensitive(item, "parents");
    if (parents && !cJSON_IsArray(parents)) return "\"parents\" must be an array of ids";
    const cJSON *p;
    cJSON_ArrayForEach(p, parents) {
        if (!cJSON_IsNumber(p)) return "\"parents\" must hold candidate ids (numbers)";
        if (!parent_given(c, p->valuedouble)) {
            snprintf(why, size, "parent %.0f is not one of the parents given", p->valuedouble);
            return why;
        }
        if (ch->n_parents == UH_SEARCH_MAX_PARENTS) return "more than 4 parents";
        ch->parents[ch->n_parents++] = (int64_t)p->valuedouble;
    }
    if (ch->n_parents == 0 && c->n_parent_ids > 0) ch->parents[ch->n_parents++] = c->parent_ids[0];
    return NULL;
}

static int known(const llm_check_t *c, const llm_reply_t *r, const char *hash) {
    if (c->is_known && c->is_known(c->known_ctx, hash)) return 1;
    for (int i = 0; i < c->n_taken; i++)
        if (strcmp(c->taken[i].hash, hash) == 0) return 1;
    for (int i = 0; i < r->n_children; i++)
        if (strcmp(r->children[i].hash, hash) == 0) return 1;
    return 0;
}

/* Checks one "children" entry; appends it to r when it is valid and new. */
static int read_child(const cJSON *item, int index, const llm_check_t *c, int want,
                      llm_reply_t *r) {
    llm_child_t ch;
    memset(&ch, 0, sizeof ch);
    char why[UH_ERROR_MSG_MAX];
    const char *bad = cJSON_IsObject(item) ? NULL : "not a JSON object";
    if (!bad) bad = read_lineage(item, c, &ch, why, sizeof why);
    const cJSON *arch = bad ? NULL : cJSON_GetObjectItemCaseSensitive(item, "arch");
    char *text = NULL;
    if (!bad && cJSON_IsString(arch)) /* some models quote the object: accept its text */
        text = strdup(arch->valuestring);
    else if (!bad && cJSON_IsObject(arch))
        text = cJSON_PrintUnformatted(arch);
    else if (!bad)
        bad = "no \"arch\" object";
    if (!bad && !text) return UH_ENOMEM;
    uh_error_t e = {0};
    if (!bad && uh_arch_parse(text, strlen(text), c->input, &ch.arch, &e)) {
        snprintf(why, sizeof why, "%s", e.msg);
        bad = why;
    }
    free(text);
    uh_violations_t v;
    if (!bad && c->backend && uh_backend_check(c->backend, &ch.arch, &v)) {
        snprintf(why, sizeof why, "breaks the hardware's constraints: layer %d, %s: %s%s",
                 v.items[0].layer, v.items[0].field, v.items[0].msg, v.n > 1 ? " (and more)" : "");
        bad = why;
    }
    if (!bad && c->space && !uh_space_within_depth(c->space, &ch.arch, why, sizeof why)) bad = why;
    if (bad) {
        problem(r, index, "%s", bad);
        r->invalid++;
        return UH_OK;
    }
    uh_arch_hash(&ch.arch, ch.hash);
    if (known(c, r, ch.hash)) {
        problem(r, index, "%s", "duplicates an architecture already measured or proposed");
        r->duplicate++;
        return UH_OK;
    }
    if (r->n_children < want) r->children[r->n_children++] = ch;
    return UH_OK;
}

/* A heuristic as stored: control bytes become spaces, at most UH_LLM_MAX_HEURISTIC_LEN bytes
 * (never cutting a UTF-8 character), trimmed; NULL when nothing is left. */
static char *clean_heuristic(const char *s) {
    size_t n = strlen(s);
    if (n > UH_LLM_MAX_HEURISTIC_LEN) {
        n = UH_LLM_MAX_HEURISTIC_LEN;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--; /* s[n]: first byte cut */
    }
    while (n > 0 && (unsigned char)s[n - 1] <= ' ') n--;
    while (n > 0 && (unsigned char)*s <= ' ') s++, n--;
    if (n == 0) return NULL;
    char *out = malloc(n + 1);
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) out[i] = (unsigned char)s[i] < ' ' || s[i] == 0x7f ? ' ' : s[i];
    out[n] = '\0';
    return out;
}

void llm_reply_free(llm_reply_t *r) {
    free(r->children);
    uh_strbuf_free(&r->problems);
    free(r->fatal);
    for (int i = 0; i < r->n_heuristics; i++) free(r->heuristics[i]);
    memset(r, 0, sizeof *r);
}

int llm_parse_reply(const char *text, const llm_check_t *check, int want, llm_reply_t *out,
                    uh_error_t *err) {
    memset(out, 0, sizeof *out);
    out->children = calloc((size_t)(want > 0 ? want : 1), sizeof *out->children);
    if (!out->children) return uh_error_set(err, UH_ENOMEM, "out of memory");
    cJSON *o = find_object(text);
    const cJSON *children = cJSON_GetObjectItemCaseSensitive(o, "children");
    const char *fatal = !o ? "the reply holds no JSON object"
                        : !cJSON_IsArray(children)
                            ? "the reply's JSON object has no \"children\" array"
                            : NULL;
    int rc = fatal && !(out->fatal = strdup(fatal)) ? UH_ENOMEM : UH_OK;
    const cJSON *item;
    cJSON_ArrayForEach(item, children) {
        if (out->n_items == UH_LLM_MAX_REPLY_ITEMS || rc) break;
        rc = read_child(item, out->n_items++, check, want, out);
    }
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(o, "heuristics");
    if (!cJSON_IsArray(h)) h = NULL;
    cJSON_ArrayForEach(item, h) {
        if (out->n_heuristics == UH_LLM_MAX_HEURISTICS) break;
        char *clean = cJSON_IsString(item) ? clean_heuristic(item->valuestring) : NULL;
        if (clean) out->heuristics[out->n_heuristics++] = clean;
    }
    cJSON_Delete(o);
    if (rc || out->problems.oom) {
        llm_reply_free(out);
        return uh_error_set(err, UH_ENOMEM, "out of memory");
    }
    return UH_OK;
}
