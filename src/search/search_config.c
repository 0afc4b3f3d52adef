/* The search's config: defaults, names, and its JSON form in the run store. The stored text
 * is what `resume` trusts, so parsing is strict: every key known, every value in range. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uhnas/search.h"

static const char *const STRATEGIES[UH_STRATEGY_COUNT] = {"nsga2", "random", "evolution",
                                                          "linas", "llm",    "llmatic"};
static const char *const OBJECTIVES[] = {"noisy", "clean"};
static const char *const OPTIMIZERS[] = {"sgd", "adam"};
static const char *const GOALS[UH_GOAL_COUNT] = {"error", "energy", "latency", "area", "drop"};
static const char *const LIMIT_KEYS[] = {"max_energy_nj", "max_latency_ns", "max_area_mm2"};

void uh_search_config_default(uh_search_config_t *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->strategy = UH_STRATEGY_NSGA2;
    cfg->objective = UH_OBJECTIVE_NOISY;
    cfg->n_goals = 2;
    cfg->goals[0] = UH_GOAL_ERROR;
    cfg->goals[1] = UH_GOAL_ENERGY;
    cfg->population = 20; /* the paper's budget: 20 + 30 x 8 = 260 candidates */
    cfg->children = 8;
    cfg->generations = 30;
    cfg->seed = 1;
    uh_train_opts_default(&cfg->train);
    cfg->train.epochs = 20;
    /* Adam: the space holds square, sigmoid and low-bit layers, on which SGD at 0.05 with
     * momentum often diverges in the two epochs a candidate gets (Adam at 1e-3 does not) */
    cfg->train.optimizer = UH_OPT_ADAM;
    cfg->train.lr = 1e-3f;
    cfg->mc = 5;
    cfg->noise_aware = 1;
    strcpy(cfg->dataset, "fashion-mnist");
    cfg->limit_train = 0;
    cfg->limit_test = 0;
    cfg->val_fraction = 0.2;
    cfg->crossover_prob = 0.5;
    cfg->tournament = 4;
    cfg->energy_weight = 0.05;
    cfg->predictor_generations = 500;
}

const char *uh_strategy_name(uh_strategy_t s) {
    return s >= 0 && s < UH_STRATEGY_COUNT ? STRATEGIES[s] : "?";
}

int uh_strategy_parse(const char *name, uh_strategy_t *out) {
    for (int i = 0; i < UH_STRATEGY_COUNT; i++)
        if (name && strcmp(name, STRATEGIES[i]) == 0) {
            *out = (uh_strategy_t)i;
            return UH_OK;
        }
    return UH_EINVAL;
}

const char *uh_goal_name(uh_goal_t g) {
    return g >= 0 && g < UH_GOAL_COUNT ? GOALS[g] : "?";
}

static int goal_lookup(const char *name, size_t len) {
    for (int i = 0; i < UH_GOAL_COUNT; i++)
        if (strlen(GOALS[i]) == len && strncmp(name, GOALS[i], len) == 0) return i;
    return -1;
}

int uh_goals_parse(const char *list, uh_goal_t goals[UH_SEARCH_MAX_OBJECTIVES], int *n, char *msg,
                   size_t cap) {
    int count = 0;
    uh_goal_t got[UH_SEARCH_MAX_OBJECTIVES];
    const char *p = list ? list : "";
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int g = goal_lookup(p, len);
        if (g < 0) {
            snprintf(msg, cap,
                     "objective \"%.*s\" is not one of error, energy, latency, area, drop",
                     (int)(len < 32 ? len : 32), p);
            return UH_EINVAL;
        }
        for (int i = 0; i < count; i++)
            if (got[i] == (uh_goal_t)g) {
                snprintf(msg, cap, "objective %s is listed twice", GOALS[g]);
                return UH_EINVAL;
            }
        if (count == UH_SEARCH_MAX_OBJECTIVES) {
            snprintf(msg, cap, "at most %d objectives", UH_SEARCH_MAX_OBJECTIVES);
            return UH_EINVAL;
        }
        got[count++] = (uh_goal_t)g;
        if (!end) break;
        p = end + 1;
    }
    if (count < 2) {
        snprintf(msg, cap, "two or three objectives are needed, e.g. error,energy");
        return UH_EINVAL;
    }
    memcpy(goals, got, (size_t)count * sizeof *got);
    *n = count;
    return UH_OK;
}

void uh_goals_format(const uh_goal_t *goals, int n, char *buf, size_t cap) {
    size_t at = 0;
    if (cap) buf[0] = '\0';
    for (int i = 0; i < n && at < cap; i++) {
        int w = snprintf(buf + at, cap - at, "%s%s", i ? "," : "", uh_goal_name(goals[i]));
        if (w < 0) break;
        at += (size_t)w;
    }
}

char *uh_search_config_json(const uh_search_config_t *cfg, const uh_backend_t *backend) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddStringToObject(o, "strategy", uh_strategy_name(cfg->strategy));
    cJSON_AddStringToObject(o, "objective", OBJECTIVES[cfg->objective]);
    cJSON *goals = cJSON_AddArrayToObject(o, "objectives");
    for (int i = 0; i < cfg->n_goals; i++)
        cJSON_AddItemToArray(goals, cJSON_CreateString(uh_goal_name(cfg->goals[i])));
    cJSON *lim = cJSON_AddObjectToObject(o, "limits");
    const double limits[] = {cfg->limits.max_energy_nj, cfg->limits.max_latency_ns,
                             cfg->limits.max_area_mm2};
    for (int i = 0; i < 3; i++) cJSON_AddNumberToObject(lim, LIMIT_KEYS[i], limits[i]);
    cJSON_AddNumberToObject(o, "population", cfg->population);
    cJSON_AddNumberToObject(o, "children", cfg->children);
    cJSON_AddNumberToObject(o, "generations", cfg->generations);
    /* a 64-bit seed does not fit a JSON number exactly: decimal text */
    char seed[24];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)cfg->seed);
    cJSON_AddStringToObject(o, "seed", seed);
    cJSON *t = cJSON_AddObjectToObject(o, "train");
    cJSON_AddStringToObject(t, "optimizer", OPTIMIZERS[cfg->train.optimizer]);
    cJSON_AddNumberToObject(t, "lr", cfg->train.lr);
    cJSON_AddNumberToObject(t, "momentum", cfg->train.momentum);
    cJSON_AddNumberToObject(t, "weight_decay", cfg->train.weight_decay);
    cJSON_AddNumberToObject(t, "batch", cfg->train.batch);
    cJSON_AddNumberToObject(t, "epochs", cfg->train.epochs);
    cJSON_AddNumberToObject(o, "mc", cfg->mc);
    cJSON_AddBoolToObject(o, "noise_aware", cfg->noise_aware);
    cJSON *d = cJSON_AddObjectToObject(o, "data");
    cJSON_AddStringToObject(d, "dataset", cfg->dataset);
    cJSON_AddStringToObject(d, "data_dir", cfg->data_dir);
    cJSON_AddNumberToObject(d, "limit_train", cfg->limit_train);
    cJSON_AddNumberToObject(d, "limit_test", cfg->limit_test);
    cJSON_AddNumberToObject(d, "val_fraction", cfg->val_fraction);
    cJSON_AddNumberToObject(o, "crossover_prob", cfg->crossover_prob);
    cJSON_AddNumberToObject(o, "tournament", cfg->tournament);
    cJSON_AddNumberToObject(o, "energy_weight", cfg->energy_weight);
    cJSON_AddNumberToObject(o, "predictor_generations", cfg->predictor_generations);
    if (cfg->operator_config[0]) {
        cJSON *op = cJSON_Parse(cfg->operator_config);
        if (!cJSON_IsObject(op)) { /* the caller's bug: refuse rather than store a lie */
            cJSON_Delete(op);
            cJSON_Delete(o);
            return NULL;
        }
        cJSON_AddItemToObject(o, "operator", op);
    }
    cJSON *b = cJSON_AddObjectToObject(o, "backend");
    cJSON_AddStringToObject(b, "name", uh_backend_name(backend));
    cJSON_AddStringToObject(b, "text", uh_backend_text(backend));
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

/* ---- strict reading ----------------------------------------------------------------- */

static int bad(uh_error_t *err, const char *key, const char *what) {
    return uh_error_set(err, UH_EINVAL, "run config: \"%s\": %s", key, what);
}

static int check_keys(const cJSON *o, const char *const *keys, int n, uh_error_t *err) {
    for (const cJSON *c = o->child; c; c = c->next) {
        int known = 0;
        for (int i = 0; i < n && !known; i++) known = strcmp(c->string, keys[i]) == 0;
        if (!known) return bad(err, c->string, "unknown key");
    }
    return UH_OK;
}

static int get_number(const cJSON *o, const char *key, double lo, double hi, double *out,
                      uh_error_t *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) return bad(err, key, "missing or not a number");
    if (!(v->valuedouble >= lo && v->valuedouble <= hi)) return bad(err, key, "out of range");
    *out = v->valuedouble;
    return UH_OK;
}

static int get_int(const cJSON *o, const char *key, int lo, int hi, int *out, uh_error_t *err) {
    double v;
    int rc = get_number(o, key, lo, hi, &v, err);
    if (rc) return rc;
    if (v != floor(v)) return bad(err, key, "not an integer");
    *out = (int)v;
    return UH_OK;
}

static int get_string(const cJSON *o, const char *key, char *buf, size_t cap, uh_error_t *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsString(v)) return bad(err, key, "missing or not a string");
    if (strlen(v->valuestring) >= cap) return bad(err, key, "too long");
    strcpy(buf, v->valuestring);
    return UH_OK;
}

static int get_choice(const cJSON *o, const char *key, const char *const *names, int n, int *out,
                      uh_error_t *err) {
    char s[32];
    int rc = get_string(o, key, s, sizeof s, err);
    if (rc) return rc;
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return UH_OK;
        }
    return bad(err, key, "not a known name");
}

static int get_object(const cJSON *o, const char *key, const cJSON **out, uh_error_t *err) {
    *out = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsObject(*out) ? UH_OK : bad(err, key, "missing or not an object");
}

static int parse_train(const cJSON *t, uh_train_opts_t *opts, uh_error_t *err) {
    static const char *const keys[] = {"optimizer",    "lr",    "momentum",
                                       "weight_decay", "batch", "epochs"};
    double lr, momentum, wd;
    int optimizer = 0, rc;
    if ((rc = check_keys(t, keys, 6, err)) ||
        (rc = get_choice(t, "optimizer", OPTIMIZERS, 2, &optimizer, err)) ||
        (rc = get_number(t, "lr", 0, 10, &lr, err)) ||
        (rc = get_number(t, "momentum", 0, 1, &momentum, err)) ||
        (rc = get_number(t, "weight_decay", 0, 1, &wd, err)) ||
        (rc = get_int(t, "batch", 1, 65536, &opts->batch, err)) ||
        (rc = get_int(t, "epochs", 1, 10000, &opts->epochs, err)))
        return rc;
    opts->optimizer = (uh_optimizer_t)optimizer;
    opts->lr = (float)lr;
    opts->momentum = (float)momentum;
    opts->weight_decay = (float)wd;
    return UH_OK;
}

static int parse_data(const cJSON *d, uh_search_config_t *cfg, uh_error_t *err) {
    static const char *const keys[] = {"dataset", "data_dir", "limit_train", "limit_test",
                                       "val_fraction"};
    int rc;
    if ((rc = check_keys(d, keys, 5, err)) ||
        (rc = get_string(d, "dataset", cfg->dataset, sizeof cfg->dataset, err)) ||
        (rc = get_string(d, "data_dir", cfg->data_dir, sizeof cfg->data_dir, err)) ||
        (rc = get_int(d, "limit_train", 0, 100000000, &cfg->limit_train, err)) ||
        (rc = get_int(d, "limit_test", 0, 100000000, &cfg->limit_test, err)) ||
        (rc = get_number(d, "val_fraction", 0.01, 0.9, &cfg->val_fraction, err)))
        return rc;
    return UH_OK;
}

/* "objectives": optional (a run stored before they existed has error and energy). */
static int parse_goals(const cJSON *o, uh_search_config_t *cfg, uh_error_t *err) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "objectives");
    if (!a) return UH_OK;
    if (!cJSON_IsArray(a)) return bad(err, "objectives", "not an array");
    char list[128] = "", msg[160];
    size_t at = 0;
    for (const cJSON *e = a->child; e; e = e->next) {
        if (!cJSON_IsString(e) || strchr(e->valuestring, ','))
            return bad(err, "objectives", "not an array of names");
        int w = snprintf(list + at, sizeof list - at, "%s%s", at ? "," : "", e->valuestring);
        if (w < 0 || (size_t)w >= sizeof list - at) return bad(err, "objectives", "too long");
        at += (size_t)w;
    }
    if (uh_goals_parse(list, cfg->goals, &cfg->n_goals, msg, sizeof msg))
        return uh_error_set(err, UH_EINVAL, "run config: \"objectives\": %s", msg);
    return UH_OK;
}

/* "limits": optional (none when absent); each value >= 0, 0 = no limit. */
static int parse_limits(const cJSON *o, uh_limits_t *limits, uh_error_t *err) {
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(o, "limits");
    if (!l) return UH_OK;
    if (!cJSON_IsObject(l)) return bad(err, "limits", "not an object");
    int rc = check_keys(l, LIMIT_KEYS, 3, err);
    double *dest[] = {&limits->max_energy_nj, &limits->max_latency_ns, &limits->max_area_mm2};
    for (int i = 0; !rc && i < 3; i++)
        if (cJSON_GetObjectItemCaseSensitive(l, LIMIT_KEYS[i]))
            rc = get_number(l, LIMIT_KEYS[i], 0, 1e300, dest[i], err);
    return rc;
}

static int parse_seed(const cJSON *o, uint64_t *seed, uh_error_t *err) {
    char s[24];
    int rc = get_string(o, "seed", s, sizeof s, err);
    if (rc) return rc;
    char *end;
    if (!s[0] || s[0] == '-') return bad(err, "seed", "not an unsigned integer");
    *seed = strtoull(s, &end, 10);
    return *end ? bad(err, "seed", "not an unsigned integer") : UH_OK;
}

static int parse_config(const cJSON *o, uh_search_config_t *cfg, uh_backend_t **backend,
                        uh_error_t *err) {
    static const char *const keys[] = {"strategy",       "objective",
                                       "population",     "children",
                                       "generations",    "seed",
                                       "train",          "mc",
                                       "noise_aware",    "data",
                                       "crossover_prob", "tournament",
                                       "energy_weight",  "predictor_generations",
                                       "backend",        "operator",
                                       "objectives",     "limits"};
    const cJSON *t, *d, *b;
    int strategy = 0, objective = 0, rc;
    if ((rc = check_keys(o, keys, 18, err)) ||
        (rc = get_choice(o, "strategy", STRATEGIES, UH_STRATEGY_COUNT, &strategy, err)) ||
        (rc = get_choice(o, "objective", OBJECTIVES, 2, &objective, err)) ||
        (rc = parse_goals(o, cfg, err)) || (rc = parse_limits(o, &cfg->limits, err)) ||
        (rc = get_int(o, "population", 2, UH_SEARCH_MAX_POPULATION, &cfg->population, err)) ||
        (rc = get_int(o, "children", 1, UH_SEARCH_MAX_POPULATION, &cfg->children, err)) ||
        (rc = get_int(o, "generations", 0, UH_SEARCH_MAX_GENERATIONS, &cfg->generations, err)) ||
        (rc = parse_seed(o, &cfg->seed, err)) || (rc = get_object(o, "train", &t, err)) ||
        (rc = parse_train(t, &cfg->train, err)) ||
        (rc = get_int(o, "mc", 1, 100000, &cfg->mc, err)) ||
        (rc = get_object(o, "data", &d, err)) || (rc = parse_data(d, cfg, err)) ||
        (rc = get_number(o, "crossover_prob", 0, 1, &cfg->crossover_prob, err)) ||
        (rc = get_int(o, "tournament", 1, UH_SEARCH_MAX_POPULATION, &cfg->tournament, err)) ||
        (rc = get_number(o, "energy_weight", 0, 100, &cfg->energy_weight, err)) ||
        (rc = get_int(o, "predictor_generations", 1, UH_SEARCH_MAX_GENERATIONS,
                      &cfg->predictor_generations, err)) ||
        (rc = get_object(o, "backend", &b, err)))
        return rc;
    const cJSON *na = cJSON_GetObjectItemCaseSensitive(o, "noise_aware");
    if (!cJSON_IsBool(na)) return bad(err, "noise_aware", "missing or not true/false");
    cfg->noise_aware = cJSON_IsTrue(na);
    cfg->strategy = (uh_strategy_t)strategy;
    cfg->objective = (uh_objective_t)objective;
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(o, "operator");
    if (op) { /* the operator checks its own keys when it reads them */
        if (!cJSON_IsObject(op)) return bad(err, "operator", "not an object");
        char *text = cJSON_PrintUnformatted(op);
        size_t len = text ? strlen(text) : 0;
        if (text && len < sizeof cfg->operator_config) memcpy(cfg->operator_config, text, len + 1);
        free(text);
        if (!text) return uh_error_set(err, UH_ENOMEM, "out of memory");
        if (len >= sizeof cfg->operator_config) return bad(err, "operator", "too long");
    }
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(b, "text");
    if (!cJSON_IsString(text)) return bad(err, "backend.text", "missing or not a string");
    return uh_backend_load_text(text->valuestring, strlen(text->valuestring), "run config backend",
                                backend, err);
}

int uh_search_config_parse(const char *json, uh_search_config_t *cfg, uh_backend_t **backend,
                           uh_error_t *err) {
    *backend = NULL;
    uh_search_config_default(cfg);
    cJSON *o = cJSON_Parse(json);
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return uh_error_set(err, UH_EFORMAT, "run config: not a JSON object");
    }
    int rc = parse_config(o, cfg, backend, err);
    cJSON_Delete(o);
    if (rc && *backend) {
        uh_backend_free(*backend);
        *backend = NULL;
    }
    return rc;
}
