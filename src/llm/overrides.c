/* Settings given over a run's stored language-model settings. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "uhnas/llm.h"

void uh_llm_overrides_unset(uh_llm_overrides_t *o) {
    *o = (uh_llm_overrides_t){NULL, NULL, NULL, NAN, NAN, -1, -1};
}

int uh_llm_overrides_any(const uh_llm_overrides_t *o) {
    return o->url || o->model || o->replay || !isnan(o->temperature) || !isnan(o->timeout_s) ||
           o->max_tokens >= 0 || o->retries >= 0;
}

void uh_llm_overrides_apply(const uh_llm_overrides_t *o, uh_llm_config_t *c) {
    if (o->url) snprintf(c->client.url, sizeof c->client.url, "%s", o->url);
    if (o->model) snprintf(c->client.model, sizeof c->client.model, "%s", o->model);
    if (o->replay) snprintf(c->replay, sizeof c->replay, "%s", o->replay);
    if (!isnan(o->temperature)) c->client.temperature = c->op.temperature = o->temperature;
    if (!isnan(o->timeout_s)) c->client.timeout_s = o->timeout_s;
    if (o->max_tokens >= 0) c->client.max_tokens = o->max_tokens;
    if (o->retries >= 0) c->client.retries = o->retries;
}
