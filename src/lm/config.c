/* The built-in model's settings as stored with a run (the search config's "operator"
 * object), so `resume` rebuilds the same model. Parsing is strict. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "uhnas/archlang.h"
#include "uhnas/json.h"
#include "uhnas/lm.h"

int uh_lm_shipped_prior(char *path, size_t size) {
    const char *const places[2] = {UH_LM_SHIPPED_PRIOR, UHNAS_SOURCE_DIR "/" UH_LM_SHIPPED_PRIOR};
    for (int i = 0; i < 2; i++) {
        struct stat st;
        if (stat(places[i], &st) == 0 && S_ISREG(st.st_mode) &&
            snprintf(path, size, "%s", places[i]) < (int)size)
            return 1;
    }
    return 0;
}

void uh_lm_config_default(uh_lm_config_t *c) {
    uh_lm_opts_t d;
    uh_lm_opts_default(&d);
    memset(c, 0, sizeof *c);
    c->layers = d.layers, c->heads = d.heads, c->width = d.channels, c->context = d.context;
    c->train_steps = d.train_steps;
    c->hardware_tokens = d.hardware_tokens;
    c->targets = (int)d.targets;
    c->classic = d.classic;
    c->parents = d.parents;
    c->language = (int)d.language;
}

/* "prior": the earlier runs' directories, at most UH_LM_MAX_PRIOR. */
static int read_prior(const cJSON *v, void *dest, const char *name, uh_error_t *err) {
    uh_lm_config_t *c = dest;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) > UH_LM_MAX_PRIOR)
        return uh_error_set(err, UH_EINVAL, "%s: must be a list of at most %d directories", name,
                            UH_LM_MAX_PRIOR);
    const cJSON *d;
    cJSON_ArrayForEach(d, v) {
        if (!cJSON_IsString(d) || strlen(d->valuestring) >= sizeof c->prior[0])
            return uh_error_set(err, UH_EINVAL, "%s: each must be a directory name under %zu bytes",
                                name, sizeof c->prior[0]);
        strcpy(c->prior[c->n_prior++], d->valuestring);
    }
    return UH_OK;
}

#define SIZE(key, m) UH_JSON_ROW(key, UH_JSON_INT, uh_lm_config_t, m, 1, 0, 100000, 0)
static const uh_json_field_t BUILTIN_FIELDS[] = {
    UH_JSON_ROW("hardware_tokens", UH_JSON_BOOL, uh_lm_config_t, hardware_tokens, 1, 0, 1, 0),
    {"prior", UH_JSON_CUSTOM, 0, 1, .read = read_prior},
    SIZE("layers", layers),
    SIZE("heads", heads),
    SIZE("width", width),
    SIZE("context", context),
    SIZE("train_steps", train_steps),
    /* optional: a run stored before them started from fresh weights */
    UH_JSON_ROW("start", UH_JSON_STRING, uh_lm_config_t, start, 0, 0,
                sizeof(((uh_lm_config_t *)0)->start), 0),
    UH_JSON_ROW("start_digest", UH_JSON_STRING, uh_lm_config_t, start_digest, 0, 0,
                sizeof(((uh_lm_config_t *)0)->start_digest), 0),
    /* optional: runs stored before it asked every child for cheaper (written only when not) */
    {"targets", UH_JSON_CHOICE, offsetof(uh_lm_config_t, targets), 0,
     .choices = uh_lm_target_names},
    /* optional: runs stored before it had no classic children (written only when some are) */
    UH_JSON_ROW("classic", UH_JSON_NUMBER, uh_lm_config_t, classic, 0, 0, 1, 0),
    /* optional: runs stored before it wrote from one parent (written only when not) */
    UH_JSON_ROW("parents", UH_JSON_INT, uh_lm_config_t, parents, 0, 1, UH_LANG_MAX_PARENTS, 1),
    /* optional: runs stored before it wrote children in full (written only when not) */
    {"language", UH_JSON_CHOICE, offsetof(uh_lm_config_t, language), 0,
     .choices = uh_lm_language_names},
    {NULL}};
#undef SIZE

/* Written in the table's order, by its rows; an optional integer only when not its default
 * (none of them is UH_JSON_KEEP). */
char *uh_lm_config_json(const uh_lm_config_t *c) {
    cJSON *o = cJSON_CreateObject(), *b = cJSON_AddObjectToObject(o, "builtin");
    for (const uh_json_field_t *f = BUILTIN_FIELDS; f->key; f++) {
        const int *v = (const int *)((const char *)c + f->offset);
        if (f->type == UH_JSON_BOOL) cJSON_AddBoolToObject(b, f->key, *v);
        if (f->type == UH_JSON_INT && (f->required || *v != (int)f->dflt))
            cJSON_AddNumberToObject(b, f->key, *v);
        if (f->type == UH_JSON_STRING && *(const char *)v)
            cJSON_AddStringToObject(b, f->key, (const char *)v);
        if (f->type == UH_JSON_CHOICE && *v) cJSON_AddStringToObject(b, f->key, f->choices[*v]);
        if (f->type == UH_JSON_NUMBER && *(const double *)v != 0)
            cJSON_AddNumberToObject(b, f->key, *(const double *)v);
        if (f->type != UH_JSON_CUSTOM) continue;
        cJSON *prior = cJSON_AddArrayToObject(b, f->key);
        for (int i = 0; i < c->n_prior; i++)
            cJSON_AddItemToArray(prior, cJSON_CreateString(c->prior[i]));
    }
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return json;
}

int uh_lm_config_parse(const char *json, uh_lm_config_t *c, uh_error_t *err) {
    uh_lm_config_default(c);
    cJSON *root;
    int rc = uh_json_parse(json, strlen(json), "run config: operator", &root, err);
    if (rc) return rc;
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "builtin");
    if (!b || cJSON_GetArraySize(root) != 1)
        rc = uh_error_set(err, UH_ENOTFOUND, "run config: operator: not the built-in model's");
    else if ((rc = uh_json_read(b, "operator.builtin", BUILTIN_FIELDS, c, 0, err)))
        uh_error_prefix(err, "run config");
    cJSON_Delete(root);
    return rc;
}

int uh_lm_operator_open(const uh_lm_config_t *c, uint64_t seed, const char *run_dir,
                        const uh_backend_t *backend, uh_operator_t *op, uh_error_t *err) {
    const char *prior[UH_LM_MAX_PRIOR];
    for (int i = 0; i < c->n_prior; i++) prior[i] = c->prior[i];
    uh_lm_opts_t o;
    uh_lm_opts_default(&o);
    o.layers = c->layers, o.heads = c->heads, o.channels = c->width, o.context = c->context;
    o.train_steps = c->train_steps;
    o.hardware_tokens = c->hardware_tokens;
    o.targets = (uh_lm_targets_t)c->targets;
    o.classic = c->classic;
    o.parents = c->parents;
    o.language = (uh_lang_mode_t)c->language;
    o.prior = prior, o.n_prior = c->n_prior;
    o.seed = seed;
    o.run_dir = run_dir;
    char shipped[4096], digest[17];
    struct stat st;
    if (c->start[0]) {
        o.start = c->start, o.start_digest = c->start_digest;
        /* the checkout moved since the run began: the shipped prior, when it is that file */
        if (stat(c->start, &st) != 0 && uh_lm_shipped_prior(shipped, sizeof shipped) &&
            !uh_lm_file_digest(shipped, digest, NULL) && strcmp(digest, c->start_digest) == 0)
            o.start = shipped;
    }
    return uh_lm_operator_new(&o, backend, op, err);
}
