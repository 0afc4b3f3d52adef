/* Strict JSON reading (see uhnas/json.h).
 *
 * The wording of the messages is the architecture format's, and it must stay as it is: an
 * architecture's errors are sent back to a language model in its repair request, and the
 * request's text is part of a transcript's key, so other words would make a stored run resume
 * differently. */
#include "uhnas/json.h"

#include <stdio.h>
#include <string.h>

#include "uhnas/strbuf.h"

/* ---- parsing ---------------------------------------------------------------------------- */

/* 1 + the deepest nesting below item (0 for a number, string, true, false or null). cJSON
 * stops at 1000 levels, which bounds the recursion. */
static int depth(const cJSON *item) {
    int deepest = 0;
    for (const cJSON *c = item->child; c; c = c->next) {
        int d = depth(c);
        if (d > deepest) deepest = d;
    }
    return cJSON_IsArray(item) || cJSON_IsObject(item) ? deepest + 1 : 0;
}

/* "name:LINE:COLUMN: what" for the byte at `at`; columns count characters, not bytes. */
static int syntax_error(const char *text, const char *at, const char *name, const char *what,
                        uh_error_t *err) {
    int line = 1, column = 1;
    for (const char *p = text; p && p < at; p++) {
        if (*p == '\n')
            line++, column = 1;
        else if (((unsigned char)*p & 0xC0) != 0x80) /* not a UTF-8 continuation byte */
            column++;
    }
    return uh_error_set(err, UH_EINVAL, "%s:%d:%d: %s", name, line, column, what);
}

int uh_json_parse(const char *text, size_t len, const char *name, cJSON **out, uh_error_t *err) {
    *out = NULL;
    if (len > (size_t)UH_JSON_MAX_BYTES)
        return uh_error_set(err, UH_ELIMIT, "%s: %zu bytes, more than the limit of %ld", name, len,
                            UH_JSON_MAX_BYTES);
    const char *end = NULL;
    cJSON *root = text ? cJSON_ParseWithLengthOpts(text, len, &end, 0) : NULL;
    if (!root) return syntax_error(text, end ? end : text, name, "invalid JSON", err);
    /* cJSON stops after the first value: whatever follows but whitespace is an error */
    while (end < text + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')) end++;
    int rc = UH_OK;
    if (end < text + len)
        rc = syntax_error(text, end, name, "invalid JSON: unexpected text after the value", err);
    else if (depth(root) > UH_JSON_MAX_DEPTH)
        rc = uh_error_set(err, UH_ELIMIT, "%s: nested deeper than %d levels", name,
                          UH_JSON_MAX_DEPTH);
    if (rc) {
        cJSON_Delete(root);
        return rc;
    }
    *out = root;
    return UH_OK;
}

/* ---- one value ---------------------------------------------------------------------------- */

static int number(const cJSON *v, const uh_json_field_t *f, char *at, const char *name,
                  uh_error_t *err) {
    int integral = f->type == UH_JSON_INT || f->type == UH_JSON_LONG;
    if (!cJSON_IsNumber(v))
        return integral ? uh_error_set(err, UH_EINVAL,
                                       "%s: must be an integer in %.0f..%.0f, got a non-number",
                                       name, f->lo, f->hi)
                        : uh_error_set(err, UH_EINVAL,
                                       "%s: must be a number in %g..%g, got a non-number", name,
                                       f->lo, f->hi);
    double x = v->valuedouble;
    if (integral && (!isfinite(x) || x != floor(x) || x < f->lo || x > f->hi))
        return uh_error_set(err, UH_EINVAL, "%s: must be an integer in %.0f..%.0f, got %g", name,
                            f->lo, f->hi, x);
    if (!(x >= f->lo && x <= f->hi))
        return uh_error_set(err, UH_EINVAL, "%s: must be in %g..%g, got %g", name, f->lo, f->hi, x);
    if (f->type == UH_JSON_NUMBER) *(double *)at = x;
    if (f->type == UH_JSON_FLOAT) *(float *)at = (float)x;
    if (f->type == UH_JSON_INT) *(int *)at = (int)x;
    if (f->type == UH_JSON_LONG) *(long *)at = (long)x;
    return UH_OK;
}

/* A hardware number: {"value": x, "source": "..."}; x is checked as the field itself. */
typedef struct {
    const cJSON *value, *source;
} sourced_t;

static const uh_json_field_t SOURCED_FIELDS[] = {
    {"value", UH_JSON_ANY, offsetof(sourced_t, value), .required = 0},
    {"source", UH_JSON_ANY, offsetof(sourced_t, source), .required = 0},
    {NULL}};

static int sourced_number(const cJSON *v, const uh_json_field_t *f, char *at, const char *name,
                          uh_error_t *err) {
    if (!cJSON_IsObject(v))
        return uh_error_set(err, UH_EINVAL, "%s: must be {\"value\": number, \"source\": \"...\"}",
                            name);
    sourced_t s;
    int rc = uh_json_read(v, name, SOURCED_FIELDS, &s, 0, err);
    if (rc) return rc;
    if (!cJSON_IsString(s.source) || strlen(s.source->valuestring) < 3)
        return uh_error_set(err, UH_EINVAL,
                            "%s: needs a \"source\" (paper, datasheet, or \"assumed: why\")", name);
    return number(s.value, f, at, name, err);
}

static int choice(const cJSON *v, const uh_json_field_t *f, int *at, const char *name,
                  uh_error_t *err) {
    for (int i = 0; cJSON_IsString(v) && f->choices[i]; i++)
        if (!strcmp(v->valuestring, f->choices[i])) {
            *at = i;
            return UH_OK;
        }
    char allowed[256] = "";
    for (int i = 0; f->choices[i]; i++) {
        size_t used = strlen(allowed);
        snprintf(allowed + used, sizeof allowed - used, "%s\"%s\"", i ? ", " : "", f->choices[i]);
    }
    if (!cJSON_IsString(v))
        return uh_error_set(err, UH_EINVAL, "%s: must be a string, one of %s", name, allowed);
    return uh_error_set(err, UH_EINVAL, "%s: unknown value \"%.40s\"; expected one of %s", name,
                        v->valuestring, allowed);
}

static void set_default(const uh_json_field_t *f, char *at) {
    if (isnan(f->dflt)) return; /* UH_JSON_KEEP */
    if (f->type == UH_JSON_NUMBER) *(double *)at = f->dflt;
    if (f->type == UH_JSON_FLOAT) *(float *)at = (float)f->dflt;
    if (f->type == UH_JSON_INT || f->type == UH_JSON_BOOL || f->type == UH_JSON_CHOICE)
        *(int *)at = (int)f->dflt;
    if (f->type == UH_JSON_LONG) *(long *)at = (long)f->dflt;
}

int uh_json_value(const cJSON *v, const uh_json_field_t *f, void *dest, const char *name,
                  unsigned flags, uh_error_t *err) {
    char *at = (char *)dest + f->offset;
    if (!v && f->required) return uh_error_set(err, UH_EINVAL, "%s: is required", name);
    if (!v && f->type == UH_JSON_OBJECT) return uh_json_read(NULL, name, f->fields, at, flags, err);
    if (!v && f->type == UH_JSON_ANY) *(const cJSON **)at = NULL;
    if (!v) {
        set_default(f, at);
        return UH_OK;
    }
    switch (f->type) {
    case UH_JSON_NUMBER:
    case UH_JSON_FLOAT:
    case UH_JSON_INT:
    case UH_JSON_LONG:
        return flags & UH_JSON_SOURCED ? sourced_number(v, f, at, name, err)
                                       : number(v, f, at, name, err);
    case UH_JSON_BOOL:
        if (!cJSON_IsBool(v))
            return uh_error_set(err, UH_EINVAL, "%s: must be true or false", name);
        *(int *)at = cJSON_IsTrue(v);
        return UH_OK;
    case UH_JSON_STRING:
        if (!cJSON_IsString(v)) return uh_error_set(err, UH_EINVAL, "%s: must be a string", name);
        if (strlen(v->valuestring) >= (size_t)f->hi)
            return uh_error_set(err, UH_EINVAL, "%s: longer than %.0f bytes", name, f->hi - 1);
        strcpy(at, v->valuestring);
        return UH_OK;
    case UH_JSON_CHOICE:
        return choice(v, f, (int *)at, name, err);
    case UH_JSON_OBJECT:
        return uh_json_read(v, name, f->fields, at, flags, err);
    case UH_JSON_ANY:
        *(const cJSON **)at = v;
        return UH_OK;
    case UH_JSON_CUSTOM:
        return f->read(v, dest, name, err);
    }
    return UH_OK;
}

/* ---- a table ------------------------------------------------------------------------------ */

static void key_name(char *buf, size_t size, const char *path, const char *key, unsigned flags) {
    int top = !path || !*path;
    if (flags & UH_JSON_FIELD_NAMES)
        snprintf(buf, size, "%s%sfield \"%s\"", top ? "" : path, top ? "" : ": ", key);
    else
        snprintf(buf, size, "%s%s%s", top ? "" : path, top ? "" : ".", key);
}

static const uh_json_field_t *find(const uh_json_field_t *fields, const char *key) {
    for (const uh_json_field_t *f = fields; f->key; f++)
        if (key && !strcmp(key, f->key)) return f;
    return NULL;
}

/* Refuses keys outside the table and keys given twice (cJSON keeps both and would read the
 * first). */
static int check_keys(const cJSON *obj, const char *path, const uh_json_field_t *fields,
                      unsigned flags, uh_error_t *err) {
    char name[256];
    for (const cJSON *c = obj->child; c; c = c->next) {
        key_name(name, sizeof name, path, c->string ? c->string : "?", flags);
        if (!find(fields, c->string)) {
            char list[256] = "";
            for (const uh_json_field_t *f = fields; f->key; f++) {
                size_t used = strlen(list);
                snprintf(list + used, sizeof list - used, "%s%s", f == fields ? "" : ", ", f->key);
            }
            if (strlen(list) == sizeof list - 1) strcpy(list + sizeof list - 4, "...");
            const char *keys[128];
            int n = 0;
            for (const uh_json_field_t *f = fields; f->key && n < 128; f++) keys[n++] = f->key;
            /* no hint in an architecture's words (see the top: they are a transcript's key) */
            const char *near =
                c->string && !(flags & UH_JSON_FIELD_NAMES) ? uh_nearest(c->string, keys, n) : NULL;
            return uh_error_set(err, UH_EINVAL, "%s: unknown key%s%s%s; allowed keys are: %s", name,
                                near ? " (did you mean \"" : "", near ? near : "",
                                near ? "\"?)" : "", list);
        }
        for (const cJSON *d = obj->child; d != c; d = d->next)
            if (!strcmp(d->string, c->string))
                return uh_error_set(err, UH_EINVAL, "%s: given more than once", name);
    }
    return UH_OK;
}

int uh_json_read(const cJSON *obj, const char *path, const uh_json_field_t *fields, void *dest,
                 unsigned flags, uh_error_t *err) {
    if (obj && !cJSON_IsObject(obj))
        return path && *path ? uh_error_set(err, UH_EINVAL, "%s: must be an object", path)
                             : uh_error_set(err, UH_EINVAL, "must be a JSON object");
    int rc = obj ? check_keys(obj, path, fields, flags, err) : UH_OK;
    char name[256];
    for (const uh_json_field_t *f = fields; !rc && f->key; f++) {
        key_name(name, sizeof name, path, f->key, flags);
        const cJSON *v = obj ? cJSON_GetObjectItemCaseSensitive(obj, f->key) : NULL;
        rc = uh_json_value(v, f, dest, name, flags, err);
    }
    return rc;
}
