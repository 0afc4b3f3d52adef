/* The built-in model's settings as stored with a run (the search config's "operator"
 * object), so `resume` rebuilds the same model. Parsing is strict. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uhnas/lm.h"

/* The size settings: their names in the stored config, in uh_lm_config_t's order. */
static const char *const SIZE_NAMES[5] = {"layers", "heads", "width", "context", "train_steps"};

static int *size_field(uh_lm_config_t *c, int i) {
    int *fields[5] = {&c->layers, &c->heads, &c->width, &c->context, &c->train_steps};
    return fields[i];
}

void uh_lm_config_default(uh_lm_config_t *c) {
    uh_lm_opts_t d;
    uh_lm_opts_default(&d);
    memset(c, 0, sizeof *c);
    c->layers = d.layers, c->heads = d.heads, c->width = d.channels, c->context = d.context;
    c->train_steps = d.train_steps;
    c->hardware_tokens = d.hardware_tokens;
}

char *uh_lm_config_json(const uh_lm_config_t *c) {
    cJSON *o = cJSON_CreateObject(), *b = cJSON_AddObjectToObject(o, "builtin");
    cJSON_AddBoolToObject(b, "hardware_tokens", c->hardware_tokens);
    cJSON *prior = cJSON_AddArrayToObject(b, "prior");
    for (int i = 0; i < c->n_prior; i++)
        cJSON_AddItemToArray(prior, cJSON_CreateString(c->prior[i]));
    for (int i = 0; i < 5; i++)
        cJSON_AddNumberToObject(b, SIZE_NAMES[i], *size_field((uh_lm_config_t *)c, i));
    char *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return json;
}

int uh_lm_config_parse(const char *json, uh_lm_config_t *c, uh_error_t *err) {
    uh_lm_config_default(c);
    cJSON *root = cJSON_Parse(json);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "builtin");
    if (!b) {
        cJSON_Delete(root);
        return uh_error_set(err, UH_ENOTFOUND, "run config: no operator.builtin");
    }
    const cJSON *hw = cJSON_GetObjectItemCaseSensitive(b, "hardware_tokens");
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(b, "prior"), *d;
    int ok = cJSON_IsBool(hw) && cJSON_IsArray(pr) && cJSON_GetArraySize(b) == 7 &&
             cJSON_GetArraySize(pr) <= UH_LM_MAX_PRIOR;
    for (int i = 0; i < 5; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(b, SIZE_NAMES[i]);
        ok = ok && cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 100000 &&
             v->valuedouble == (int)v->valuedouble;
        *size_field(c, i) = ok ? (int)v->valuedouble : 0;
    }
    cJSON_ArrayForEach(d, (ok ? pr : NULL)) {
        ok = cJSON_IsString(d) && strlen(d->valuestring) < sizeof c->prior[0];
        if (!ok) break;
        strcpy(c->prior[c->n_prior++], d->valuestring);
    }
    if (ok) c->hardware_tokens = cJSON_IsTrue(hw);
    cJSON_Delete(root);
    if (!ok)
        return uh_error_set(err, UH_EINVAL,
                            "run config: operator.builtin: expected {\"hardware_tokens\": "
                            "true|false, \"prior\": [DIR, ...], \"layers\", \"heads\", "
                            "\"width\", \"context\", \"train_steps\": integers}");
    return UH_OK;
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
    o.prior = prior, o.n_prior = c->n_prior;
    o.seed = seed;
    o.run_dir = run_dir;
    return uh_lm_operator_new(&o, backend, op, err);
}
