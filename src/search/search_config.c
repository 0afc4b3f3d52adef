/* The search's config: defaults, names, and its JSON form in the run store. The stored text
 * is what `resume` trusts, so parsing is strict: every key known, every value in range. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uhnas/json.h"
#include "uhnas/nn.h"
#include "uhnas/search.h"

static const char *const OBJECTIVES[] = {"noisy", "clean", NULL};
static const char *const OPTIMIZERS[] = {"sgd", "adam", NULL};
static const char *const PRUNERS[] = {"none", "asha", NULL};
static const char *const KEEP_WEIGHTS[] = {"front", "all", NULL};
static const char *const RUNG_ROUNDINGS[] = {"down", "nearest", NULL};
static const char *const HV_RULES[] = {"legacy", "chance", NULL};
static const char *const SEEDINGS[] = {"run", "evaluation", NULL};
static const char *const GOALS[UH_GOAL_COUNT] = {"error", "energy", "latency", "area", "drop"};
/* "limits": each >= 0, 0 = no limit; absent = none (a run stored before they existed). */
#define LIMIT(key, m) UH_JSON_ROW(key, UH_JSON_NUMBER, uh_limits_t, m, 0, 0, 1e300, 0)
static const uh_json_field_t LIMIT_FIELDS[] = {LIMIT("max_energy_nj", max_energy_nj),
                                               LIMIT("max_latency_ns", max_latency_ns),
                                               LIMIT("max_area_mm2", max_area_mm2),
                                               {NULL}};

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
    /* asha: at equal candidates a third of the epochs for 0.98 of the hypervolume, at equal
     * wall time more of it (docs/strategies.md, "Multi-fidelity") */
    cfg->pruner = UH_PRUNER_ASHA;
    /* a first rung of one epoch and one hardware sample below the last rung: 0.12 of the
     * epochs at 20 (docs/strategies.md, "Multi-fidelity") */
    cfg->rung_rounding = UH_RUNGS_NEAREST;
    cfg->rung_mc = 1;
    cfg->hypervolume = UH_HV_CHANCE;
    cfg->seeding = UH_SEED_EVALUATION;
    cfg->min_distance = UH_SEARCH_MIN_DISTANCE;
    cfg->depth_caps = 1;
    snprintf(cfg->blas_kernels, sizeof cfg->blas_kernels, "%s", uh_nn_blas_kernels());
    cfg->predictor_generations = 500;
}

const char *uh_pruner_name(uh_pruner_t p) {
    return p == UH_PRUNER_NONE || p == UH_PRUNER_ASHA ? PRUNERS[p] : "?";
}

int uh_pruner_parse(const char *name, uh_pruner_t *out) {
    for (int i = 0; PRUNERS[i]; i++)
        if (strcmp(name, PRUNERS[i]) == 0) {
            *out = (uh_pruner_t)i;
            return UH_OK;
        }
    return UH_EINVAL;
}

const char *uh_objective_name(uh_objective_t o) {
    return o == UH_OBJECTIVE_NOISY || o == UH_OBJECTIVE_CLEAN ? OBJECTIVES[o] : "?";
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
    cJSON_AddStringToObject(o, "objective", uh_objective_name(cfg->objective));
    cJSON *goals = cJSON_AddArrayToObject(o, "objectives");
    for (int i = 0; i < cfg->n_goals; i++)
        cJSON_AddItemToArray(goals, cJSON_CreateString(uh_goal_name(cfg->goals[i])));
    cJSON *lim = cJSON_AddObjectToObject(o, "limits");
    for (const uh_json_field_t *f = LIMIT_FIELDS; f->key; f++)
        cJSON_AddNumberToObject(lim, f->key,
                                *(const double *)((const char *)&cfg->limits + f->offset));
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
    cJSON_AddStringToObject(o, "pruner", PRUNERS[cfg->pruner]);
    cJSON_AddStringToObject(o, "rung_rounding", RUNG_ROUNDINGS[cfg->rung_rounding]);
    cJSON_AddNumberToObject(o, "rung_mc", cfg->rung_mc);
    cJSON_AddStringToObject(o, "hypervolume", HV_RULES[cfg->hypervolume]);
    cJSON_AddStringToObject(o, "seeding", SEEDINGS[cfg->seeding]);
    cJSON_AddNumberToObject(o, "min_distance", cfg->min_distance);
    cJSON_AddBoolToObject(o, "async", cfg->async);
    cJSON_AddStringToObject(o, "sampler", UH_SAMPLER_NAMES[cfg->sampler]);
    cJSON_AddBoolToObject(o, "depth_caps", cfg->depth_caps);
    if (cfg->blas_kernels[0]) cJSON_AddStringToObject(o, "blas_kernels", cfg->blas_kernels);
    cJSON_AddStringToObject(o, "keep_weights", KEEP_WEIGHTS[cfg->keep_all_weights]);
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

/* What the stored text holds: the config, and the backend's file. */
typedef struct {
    uh_search_config_t cfg;
    const cJSON *backend_name, *backend_text;
} stored_t;

/* "objectives": optional (a run stored before they existed has error and energy). */
static int read_goals(const cJSON *a, void *dest, const char *name, uh_error_t *err) {
    uh_search_config_t *cfg = &((stored_t *)dest)->cfg;
    if (!cJSON_IsArray(a)) return uh_error_set(err, UH_EINVAL, "%s: not an array", name);
    char list[128] = "", msg[160];
    size_t at = 0;
    for (const cJSON *e = a->child; e; e = e->next) {
        if (!cJSON_IsString(e) || strchr(e->valuestring, ','))
            return uh_error_set(err, UH_EINVAL, "%s: not an array of names", name);
        int w = snprintf(list + at, sizeof list - at, "%s%s", at ? "," : "", e->valuestring);
        if (w < 0 || (size_t)w >= sizeof list - at)
            return uh_error_set(err, UH_EINVAL, "%s: too long", name);
        at += (size_t)w;
    }
    if (uh_goals_parse(list, cfg->goals, &cfg->n_goals, msg, sizeof msg))
        return uh_error_set(err, UH_EINVAL, "%s: %s", name, msg);
    return UH_OK;
}

/* "seed": decimal text (a 64-bit seed does not fit a JSON number exactly). */
static int read_seed(const cJSON *v, void *dest, const char *name, uh_error_t *err) {
    const char *s = cJSON_IsString(v) ? v->valuestring : "";
    char *end;
    errno = 0;
    unsigned long long seed = strtoull(s, &end, 10);
    if (!s[0] || s[0] == '-' || *end || errno)
        return uh_error_set(err, UH_EINVAL, "%s: must be an unsigned integer as a string", name);
    ((stored_t *)dest)->cfg.seed = seed;
    return UH_OK;
}

/* "strategy": a name in the strategies' table. */
static int read_strategy(const cJSON *v, void *dest, const char *name, uh_error_t *err) {
    if (cJSON_IsString(v) &&
        uh_strategy_parse(v->valuestring, &((stored_t *)dest)->cfg.strategy) == UH_OK)
        return UH_OK;
    char names[128];
    uh_strategy_names(names, sizeof names, ", ");
    return uh_error_set(err, UH_EINVAL, "%s: must be one of %s", name, names);
}

/* "operator": kept as text; the operator checks its own keys when it reads them. */
static int read_operator(const cJSON *op, void *dest, const char *name, uh_error_t *err) {
    uh_search_config_t *cfg = &((stored_t *)dest)->cfg;
    if (!cJSON_IsObject(op)) return uh_error_set(err, UH_EINVAL, "%s: must be an object", name);
    char *text = cJSON_PrintUnformatted(op);
    if (!text) return uh_error_set(err, UH_ENOMEM, "out of memory");
    size_t len = strlen(text);
    if (len < sizeof cfg->operator_config) memcpy(cfg->operator_config, text, len + 1);
    free(text);
    return len < sizeof cfg->operator_config
               ? UH_OK
               : uh_error_set(err, UH_EINVAL, "%s: longer than %zu bytes", name,
                              sizeof cfg->operator_config - 1);
}

#define C(m) offsetof(stored_t, cfg.m)
#define ROW(key, type, m, lo, hi) UH_JSON_ROW(key, type, stored_t, cfg.m, 1, lo, hi, 0)
#define TEXT(key, m) ROW(key, UH_JSON_STRING, m, 0, sizeof((uh_search_config_t *)0)->m)
#define TRAIN(key, type, m, lo, hi) UH_JSON_ROW(key, type, uh_train_opts_t, m, 1, lo, hi, 0)
static const uh_json_field_t TRAIN_FIELDS[] = {
    {"optimizer", UH_JSON_CHOICE, offsetof(uh_train_opts_t, optimizer), 1, .choices = OPTIMIZERS},
    TRAIN("lr", UH_JSON_FLOAT, lr, 0, 10),
    TRAIN("momentum", UH_JSON_FLOAT, momentum, 0, 1),
    TRAIN("weight_decay", UH_JSON_FLOAT, weight_decay, 0, 1),
    TRAIN("batch", UH_JSON_INT, batch, 1, 65536),
    TRAIN("epochs", UH_JSON_INT, epochs, 1, 10000),
    {NULL}};
static const uh_json_field_t DATA_FIELDS[] = {
    TEXT("dataset", dataset),
    TEXT("data_dir", data_dir),
    ROW("limit_train", UH_JSON_INT, limit_train, 0, 100000000),
    ROW("limit_test", UH_JSON_INT, limit_test, 0, 100000000),
    ROW("val_fraction", UH_JSON_NUMBER, val_fraction, 0.01, 0.9),
    {NULL}};
static const uh_json_field_t BACKEND_FIELDS[] = {
    {"name", UH_JSON_ANY, offsetof(stored_t, backend_name), .required = 0}, /* the text's */
    {"text", UH_JSON_ANY, offsetof(stored_t, backend_text), .required = 1},
    {NULL}};
static const uh_json_field_t CONFIG_FIELDS[] = {
    {"strategy", UH_JSON_CUSTOM, 0, 1, .read = read_strategy},
    {"objective", UH_JSON_CHOICE, C(objective), 1, .choices = OBJECTIVES},
    {"objectives", UH_JSON_CUSTOM, .read = read_goals},
    {"limits", UH_JSON_OBJECT, C(limits), 0, .fields = LIMIT_FIELDS},
    ROW("population", UH_JSON_INT, population, 2, UH_SEARCH_MAX_POPULATION),
    ROW("children", UH_JSON_INT, children, 1, UH_SEARCH_MAX_POPULATION),
    ROW("generations", UH_JSON_INT, generations, 0, UH_SEARCH_MAX_GENERATIONS),
    {"seed", UH_JSON_CUSTOM, 0, 1, .read = read_seed},
    {"train", UH_JSON_OBJECT, C(train), 1, .fields = TRAIN_FIELDS},
    ROW("mc", UH_JSON_INT, mc, 1, 100000),
    {"noise_aware", UH_JSON_BOOL, C(noise_aware), .required = 1},
    {"data", UH_JSON_OBJECT, 0, 1, .fields = DATA_FIELDS},
    ROW("crossover_prob", UH_JSON_NUMBER, crossover_prob, 0, 1),
    ROW("tournament", UH_JSON_INT, tournament, 1, UH_SEARCH_MAX_POPULATION),
    ROW("energy_weight", UH_JSON_NUMBER, energy_weight, 0, 100),
    ROW("predictor_generations", UH_JSON_INT, predictor_generations, 1, UH_SEARCH_MAX_GENERATIONS),
    /* optional: a run stored before them trained fully (in 3 rungs rounded down, with mc
     * hardware samples at each, when pruned), kept its front's weights, drew uniform
     * samples, measured the legacy hypervolume, seeded from the run seed, took near
     * duplicates and ran in generations */
    {"pruner", UH_JSON_CHOICE, C(pruner), 0, .choices = PRUNERS},
    {"rung_rounding", UH_JSON_CHOICE, C(rung_rounding), 0, .choices = RUNG_ROUNDINGS},
    UH_JSON_ROW("rung_mc", UH_JSON_INT, stored_t, cfg.rung_mc, 0, 0, 100000, 0),
    {"hypervolume", UH_JSON_CHOICE, C(hypervolume), 0, .choices = HV_RULES},
    {"seeding", UH_JSON_CHOICE, C(seeding), 0, .choices = SEEDINGS},
    UH_JSON_ROW("min_distance", UH_JSON_NUMBER, stored_t, cfg.min_distance, 0, 0, 10, 0),
    {"async", UH_JSON_BOOL, C(async), .required = 0},
    {"sampler", UH_JSON_CHOICE, C(sampler), 0, .choices = UH_SAMPLER_NAMES},
    /* optional: a run stored before it let mutations grow networks past the space's caps */
    {"depth_caps", UH_JSON_BOOL, C(depth_caps), .required = 0},
    /* optional: informative (a run measured with other kernels resumes with a warning) */
    UH_JSON_ROW("blas_kernels", UH_JSON_STRING, stored_t, cfg.blas_kernels, 0, 0,
                sizeof((uh_search_config_t *)0)->blas_kernels, 0),
    {"keep_weights", UH_JSON_CHOICE, C(keep_all_weights), 0, .choices = KEEP_WEIGHTS},
    {"operator", UH_JSON_CUSTOM, .read = read_operator},
    {"backend", UH_JSON_OBJECT, 0, 1, .fields = BACKEND_FIELDS},
    {NULL}};

int uh_search_config_parse(const char *json, uh_search_config_t *cfg, uh_backend_t **backend,
                           uh_error_t *err) {
    *backend = NULL;
    stored_t s;
    uh_search_config_default(&s.cfg);
    s.cfg.pruner = UH_PRUNER_NONE;       /* a run stored before the pruner existed trained fully */
    s.cfg.rung_rounding = UH_RUNGS_DOWN; /* ... and one stored before these, in 3 rungs */
    s.cfg.rung_mc = 0;                   /* with mc samples at each */
    s.cfg.hypervolume = UH_HV_LEGACY;
    s.cfg.seeding = UH_SEED_RUN;
    s.cfg.min_distance = 0;       /* and accepted every child new by its hash */
    s.cfg.depth_caps = 0;         /* and let mutations grow networks past the caps */
    s.cfg.blas_kernels[0] = '\0'; /* and did not say which kernels trained its networks */
    cJSON *o;
    int rc = uh_json_parse(json, strlen(json), "run config", &o, err);
    if (rc) return rc;
    if (!cJSON_IsObject(o)) {
        rc = uh_error_set(err, UH_EFORMAT, "run config: not a JSON object");
    } else if ((rc = uh_json_read(o, NULL, CONFIG_FIELDS, &s, 0, err))) {
        uh_error_prefix(err, "run config");
    } else if (!cJSON_IsString(s.backend_text)) {
        rc = uh_error_set(err, UH_EINVAL, "run config: backend.text: must be a string");
    } else {
        const char *text = s.backend_text->valuestring;
        rc = uh_backend_load_text(text, strlen(text), "run config backend", backend, err);
    }
    cJSON_Delete(o);
    *cfg = s.cfg;
    return rc;
}
