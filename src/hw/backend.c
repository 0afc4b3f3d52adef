/* Backends: loading files, the model registry, shared constraints, energy and simulation
 * dispatch, Monte-Carlo evaluation. Knows nothing of any particular physics. */
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "uhnas/fileio.h"
#include "uhnas/rng.h"
#include "uhnas/strbuf.h"

static const uh_backend_model_t *const MODELS[] = {&uh_model_digital, &uh_model_mzi,
                                                   &uh_model_crossbar};
#define N_MODELS (int)(sizeof MODELS / sizeof MODELS[0])

struct uh_backend {
    char name[UH_BACKEND_MAX_NAME];
    char description[UH_BACKEND_MAX_DESCRIPTION];
    char *path;
    char *text;
    const uh_backend_model_t *model;
    void *state;
    uh_constraints_t constraints;
};

struct uh_backend_sim {
    const uh_backend_model_t *model;
    void *state;
    uh_noise_t hook;
    int has_hook;
};

/* ---- small shared pieces ----------------------------------------------------------- */

void uh_energy_add(uh_energy_t *e, int layer, const char *part, double nj) {
    if (layer < 0 || layer >= UH_ARCH_MAX_LAYERS) return;
    uh_energy_layer_t *l = &e->layers[layer];
    int k = 0;
    while (k < l->n_parts && strcmp(l->parts[k].name, part) != 0) k++;
    if (k == l->n_parts && k < UH_ENERGY_MAX_PARTS) {
        snprintf(l->parts[k].name, UH_ENERGY_PART_NAME, "%s", part);
        l->parts[k].nj = 0;
        l->n_parts++;
    }
    if (k < l->n_parts) l->parts[k].nj += nj;
    l->nj += nj;
    int t = 0;
    while (t < e->n_parts && strcmp(e->parts[t].name, part) != 0) t++;
    if (t == e->n_parts && t < UH_ENERGY_MAX_PARTS) {
        snprintf(e->parts[t].name, UH_ENERGY_PART_NAME, "%s", part);
        e->parts[t].nj = 0;
        e->n_parts++;
    }
    if (t < e->n_parts) e->parts[t].nj += nj;
    e->total_nj += nj;
}

void uh_violations_add(uh_violations_t *v, int layer, const char *field, const char *fmt, ...) {
    if (v->n >= UH_MAX_VIOLATIONS) return;
    uh_violation_t *it = &v->items[v->n++];
    it->layer = layer;
    snprintf(it->field, sizeof it->field, "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(it->msg, sizeof it->msg, fmt, ap);
    va_end(ap);
}

int hw_layer_mvm(const uh_arch_t *arch, int i, hw_mvm_t *m) {
    const uh_layer_t *l = &arch->layers[i];
    if (l->type == UH_LAYER_DENSE) {
        m->rows = l->units;
        m->cols = l->in_c * l->in_h * l->in_w;
        m->passes = 1;
        return 1;
    }
    if (l->type == UH_LAYER_CONV2D) {
        m->rows = l->filters;
        m->cols = l->in_c * l->kernel * l->kernel;
        m->passes = (long)l->out_h * l->out_w;
        return 1;
    }
    return 0;
}

long hw_layer_activations(const uh_arch_t *arch, int i) {
    const uh_layer_t *l = &arch->layers[i];
    if ((l->type != UH_LAYER_DENSE && l->type != UH_LAYER_CONV2D) || l->act == UH_ACT_NONE)
        return 0;
    return (long)l->out_c * l->out_h * l->out_w;
}

int hw_layer_bits(const uh_layer_t *l, int file_bits) {
    return l->bits > 0 ? l->bits : file_bits;
}

double hw_converter_scale(int bits, int file_bits) {
    return file_bits > 0 && bits > 0 ? ldexp(1.0, bits - file_bits) : 1.0;
}

long hw_layer_pool_reads(const uh_arch_t *arch, int i) {
    const uh_layer_t *l = &arch->layers[i];
    if (l->type != UH_LAYER_POOL) return 0;
    return (long)l->out_c * l->out_h * l->out_w * l->size * l->size;
}

/* ---- reading backend files ------------------------------------------------------------ */

/* A list of names (layer types, activations) into a bit mask. */
static int read_name_mask(const cJSON *arr, const char *name, const char *(*name_of)(int),
                          int count, unsigned *mask, uh_error_t *err) {
    if (!cJSON_IsArray(arr))
        return uh_error_set(err, UH_EINVAL, "%s: must be an array of names", name);
    *mask = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, arr) {
        int found = -1;
        for (int i = 0; i < count && cJSON_IsString(it); i++)
            if (!strcmp(it->valuestring, name_of(i))) found = i;
        if (found < 0)
            return uh_error_set(err, UH_EINVAL, "%s: unknown name %s%.40s%s", name,
                                cJSON_IsString(it) ? "\"" : "",
                                cJSON_IsString(it) ? it->valuestring : "(not a string)",
                                cJSON_IsString(it) ? "\"" : "");
        *mask |= 1u << found;
    }
    return UH_OK;
}

static const char *type_name_of(int i) {
    return uh_layer_type_name((uh_layer_type_t)i);
}
static const char *act_name_of(int i) {
    return uh_act_name((uh_act_t)i);
}

static int read_layer_types(const cJSON *v, void *c, const char *name, uh_error_t *err) {
    return read_name_mask(v, name, type_name_of, 4, &((uh_constraints_t *)c)->layer_types, err);
}
static int read_activations(const cJSON *v, void *c, const char *name, uh_error_t *err) {
    return read_name_mask(v, name, act_name_of, UH_ACT_COUNT, &((uh_constraints_t *)c)->activations,
                          err);
}

void uh_constraints_default(uh_constraints_t *c) {
    *c = (uh_constraints_t){
        .layer_types = (1u << 4) - 1,
        .activations = (1u << UH_ACT_COUNT) - 1,
        .min_bits = UH_ARCH_MIN_BITS,
        .max_bits = UH_ARCH_MAX_BITS,
        .max_units = UH_ARCH_MAX_UNITS,
        .max_filters = UH_ARCH_MAX_FILTERS,
        .max_kernel = UH_ARCH_MAX_KERNEL,
        .max_params = UH_ARCH_MAX_PARAMS,
        .max_macs = UH_ARCH_MAX_MACS,
    };
}

/* An absent key keeps uh_constraints_default's value. */
#define LIMIT(key, type, m, lo, hi)                                                                \
    UH_JSON_ROW(key, type, uh_constraints_t, m, 0, lo, hi, UH_JSON_KEEP)
static const uh_json_field_t CONSTRAINT_FIELDS[] = {
    {"layer_types", UH_JSON_CUSTOM, .read = read_layer_types},
    {"activations", UH_JSON_CUSTOM, .read = read_activations},
    LIMIT("min_bits", UH_JSON_INT, min_bits, UH_ARCH_MIN_BITS, UH_ARCH_MAX_BITS),
    LIMIT("max_bits", UH_JSON_INT, max_bits, UH_ARCH_MIN_BITS, UH_ARCH_MAX_BITS),
    LIMIT("max_units", UH_JSON_INT, max_units, 1, UH_ARCH_MAX_UNITS),
    LIMIT("max_filters", UH_JSON_INT, max_filters, 1, UH_ARCH_MAX_FILTERS),
    LIMIT("max_kernel", UH_JSON_INT, max_kernel, 1, UH_ARCH_MAX_KERNEL),
    LIMIT("max_params", UH_JSON_LONG, max_params, 1, UH_ARCH_MAX_PARAMS),
    LIMIT("max_macs", UH_JSON_LONG, max_macs, 1, UH_ARCH_MAX_MACS),
    LIMIT("min_tile", UH_JSON_INT, min_tile, 0, UH_ARCH_MAX_TILE),
    LIMIT("max_tile", UH_JSON_INT, max_tile, 0, UH_ARCH_MAX_TILE),
    {NULL}};

static int read_constraints(const cJSON *obj, uh_constraints_t *c, uh_error_t *err) {
    uh_constraints_default(c);
    int rc = uh_json_read(obj, "constraints", CONSTRAINT_FIELDS, c, UH_JSON_SOURCED, err);
    if (rc) return rc;
    if (c->min_bits > c->max_bits)
        return uh_error_set(err, UH_EINVAL, "constraints: min_bits %d > max_bits %d", c->min_bits,
                            c->max_bits);
    if (c->min_tile > c->max_tile)
        return uh_error_set(err, UH_EINVAL, "constraints: min_tile %d > max_tile %d", c->min_tile,
                            c->max_tile);
    return UH_OK;
}

/* ---- loading ----------------------------------------------------------------------- */

static char *dup_text(const char *s, size_t len) {
    char *d = malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

/* Names become file names and appear in reports: keep them to a safe alphabet. */
static int valid_name(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n >= UH_BACKEND_MAX_NAME) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
              ch == '.'))
            return 0;
    }
    return 1;
}

/* The file's top level; the values are checked below. */
typedef struct {
    const cJSON *name, *model, *description, *constraints, *params;
} backend_file_t;

#define TOP(key, m)                                                                                \
    { key, UH_JSON_ANY, offsetof(backend_file_t, m), .required = 0 }
static const uh_json_field_t FILE_FIELDS[] = {TOP("name", name),
                                              TOP("model", model),
                                              TOP("description", description),
                                              TOP("constraints", constraints),
                                              TOP("params", params),
                                              {NULL}};

static int parse_backend(const cJSON *root, uh_backend_t *b, uh_error_t *err) {
    if (!cJSON_IsObject(root)) return uh_error_set(err, UH_EINVAL, "must be a JSON object");
    backend_file_t f;
    int rc = uh_json_read(root, "backend", FILE_FIELDS, &f, 0, err);
    if (rc) return rc;
    if (!cJSON_IsString(f.name) || !valid_name(f.name->valuestring))
        return uh_error_set(err, UH_EINVAL,
                            "backend.name: required; lowercase letters, digits, '-', '_', '.' "
                            "(at most %d)",
                            UH_BACKEND_MAX_NAME - 1);
    snprintf(b->name, sizeof b->name, "%s", f.name->valuestring);
    if (f.description && !cJSON_IsString(f.description))
        return uh_error_set(err, UH_EINVAL, "backend.description: must be a string");
    if (f.description && strlen(f.description->valuestring) >= sizeof b->description)
        return uh_error_set(err, UH_EINVAL, "backend.description: longer than %zu bytes",
                            sizeof b->description - 1);
    snprintf(b->description, sizeof b->description, "%s",
             f.description ? f.description->valuestring : "");
    if (!cJSON_IsString(f.model))
        return uh_error_set(err, UH_EINVAL, "backend.model: required (digital, mzi or crossbar)");
    for (int i = 0; i < N_MODELS; i++)
        if (!strcmp(f.model->valuestring, MODELS[i]->name)) b->model = MODELS[i];
    if (!b->model)
        return uh_error_set(err, UH_EINVAL,
                            "backend.model: unknown model \"%.40s\" (digital, mzi or crossbar)",
                            f.model->valuestring);
    if ((rc = read_constraints(f.constraints, &b->constraints, err))) return rc;
    if (!cJSON_IsObject(f.params))
        return uh_error_set(err, UH_EINVAL, "backend.params: required object");
    return b->model->load(f.params, &b->state, err);
}

int uh_backend_load_text(const char *text, size_t len, const char *origin, uh_backend_t **out,
                         uh_error_t *err) {
    *out = NULL;
    if (len > UH_BACKEND_MAX_FILE_BYTES)
        return uh_error_set(err, UH_ELIMIT, "backend %s: %zu bytes, more than the limit of %d",
                            origin, len, UH_BACKEND_MAX_FILE_BYTES);
    char name[UH_ERROR_MSG_MAX];
    snprintf(name, sizeof name, "backend %s", origin);
    cJSON *root;
    int rc = uh_json_parse(text, len, name, &root, err);
    if (rc) return rc;
    uh_backend_t *b = calloc(1, sizeof *b);
    rc = b ? UH_OK : uh_error_set(err, UH_ENOMEM, "out of memory");
    if (!rc) rc = parse_backend(root, b, err);
    if (!rc) {
        b->text = dup_text(text, len);
        b->path = dup_text(origin, strlen(origin));
        if (!b->text || !b->path) rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    } else {
        uh_error_prefix(err, "%s", name);
    }
    cJSON_Delete(root);
    if (rc) {
        uh_backend_free(b);
        return rc;
    }
    *out = b;
    return UH_OK;
}

int uh_backend_load_file(const char *path, uh_backend_t **out, uh_error_t *err) {
    char *text;
    size_t len;
    int rc = uh_read_file(path, UH_BACKEND_MAX_FILE_BYTES, &text, &len, err);
    if (rc) return rc;
    rc = uh_backend_load_text(text, len, path, out, err);
    free(text);
    return rc;
}

/* The directories searched for NAME.json, in order. */
static int backend_dirs(const char *dirs[3]) {
    int n = 0;
    const char *env = getenv("UHNAS_BACKENDS");
    if (env && *env) dirs[n++] = env;
    dirs[n++] = "configs/backends";
    dirs[n++] = UHNAS_SOURCE_DIR "/configs/backends";
    return n;
}

int uh_backend_load(const char *name_or_path, uh_backend_t **out, uh_error_t *err) {
    *out = NULL;
    size_t len = strlen(name_or_path);
    if (strchr(name_or_path, '/') || (len > 5 && !strcmp(name_or_path + len - 5, ".json")))
        return uh_backend_load_file(name_or_path, out, err);
    if (!valid_name(name_or_path))
        return uh_error_set(err, UH_EINVAL, "backend name \"%.64s\" is not valid", name_or_path);
    const char *dirs[3];
    int n = backend_dirs(dirs);
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.json", dirs[i], name_or_path);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        fclose(f);
        return uh_backend_load_file(path, out, err);
    }
    char names[UH_BACKEND_MAX_LIST][UH_BACKEND_MAX_NAME];
    int count = uh_backend_list(names, UH_BACKEND_MAX_LIST);
    char known[1024] = "";
    for (int i = 0; i < count; i++) {
        size_t used = strlen(known);
        snprintf(known + used, sizeof known - used, "%s%s", i ? ", " : "", names[i]);
    }
    const char *list[UH_BACKEND_MAX_LIST];
    for (int i = 0; i < count; i++) list[i] = names[i];
    const char *near = uh_nearest(name_or_path, list, count);
    return uh_error_set(err, UH_ENOTFOUND, "unknown backend \"%s\"%s%s%s; known: %s", name_or_path,
                        near ? " (did you mean " : "", near ? near : "", near ? "?)" : "",
                        count ? known : "(none found)");
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(a, b);
}

int uh_backend_list(char names[][UH_BACKEND_MAX_NAME], int max) {
    const char *dirs[3];
    int n_dirs = backend_dirs(dirs), count = 0;
    for (int d = 0; d < n_dirs; d++) {
        DIR *dir = opendir(dirs[d]);
        if (!dir) continue;
        struct dirent *ent;
        while ((ent = readdir(dir)) && count < max) {
            size_t len = strlen(ent->d_name);
            if (len <= 5 || strcmp(ent->d_name + len - 5, ".json") != 0) continue;
            if (len - 5 >= UH_BACKEND_MAX_NAME) continue;
            char name[UH_BACKEND_MAX_NAME];
            memcpy(name, ent->d_name, len - 5);
            name[len - 5] = '\0';
            int dup = 0;
            for (int i = 0; i < count; i++) dup |= !strcmp(names[i], name);
            if (!dup && valid_name(name)) memcpy(names[count++], name, sizeof name);
        }
        closedir(dir);
    }
    qsort(names, (size_t)count, UH_BACKEND_MAX_NAME, cmp_names);
    return count;
}

void uh_backend_free(uh_backend_t *b) {
    if (!b) return;
    if (b->model && b->state) b->model->free(b->state);
    free(b->path);
    free(b->text);
    free(b);
}

/* ---- facts ---------------------------------------------------------------------------- */

const char *uh_backend_name(const uh_backend_t *b) {
    return b->name;
}
const char *uh_backend_model_name(const uh_backend_t *b) {
    return b->model->name;
}
const char *uh_backend_description(const uh_backend_t *b) {
    return b->description;
}
const char *uh_backend_path(const uh_backend_t *b) {
    return b->path ? b->path : "";
}
const char *uh_backend_text(const uh_backend_t *b) {
    return b->text ? b->text : "";
}
const uh_constraints_t *uh_backend_constraints(const uh_backend_t *b) {
    return &b->constraints;
}
void uh_backend_precision(const uh_backend_t *b, uh_precision_t *p) {
    memset(p, 0, sizeof *p);
    b->model->precision(b->state, p);
}
double uh_backend_pj_per_mac(const uh_backend_t *b) {
    return b->model->pj_per_mac(b->state);
}

cJSON *hw_json_exact(double v, int float_value) {
    char buf[40];
    if (!isfinite(v)) return cJSON_CreateNull();
    snprintf(buf, sizeof buf, float_value ? "%.9g" : "%.17g", v);
    return cJSON_CreateRaw(buf);
}

cJSON *hw_json_exact_array(const double *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, hw_json_exact(v[i], 0));
    return a;
}

int uh_backend_program_formats(const char **names, int max) {
    int n = 0;
    for (int i = 0; i < N_MODELS; i++)
        if (MODELS[i]->program && n < max) names[n++] = MODELS[i]->program_format;
    return n;
}

cJSON *hw_program_root(const char *format) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "format", format);
    cJSON_AddNumberToObject(root, "version", 1);
    return root;
}

int hw_program_write(cJSON *root, const void *state, const uh_arch_t *arch, const float *weights,
                     hw_program_layer_fn layer_fn, char **json, uh_error_t *err) {
    *json = NULL;
    cJSON *layers = cJSON_AddArrayToObject(root, "layers");
    int rc = layers ? UH_OK : uh_error_set(err, UH_ENOMEM, "out of memory");
    long offset = 0; /* the layer's weights in the .uhw order: weights, then biases */
    for (int i = 0; !rc && i < arch->n_layers; offset += arch->layers[i].params, i++) {
        const uh_layer_t *l = &arch->layers[i];
        hw_mvm_t m;
        if (!hw_layer_mvm(arch, i, &m)) continue;
        const float *W = weights + offset;
        cJSON *layer = cJSON_CreateObject();
        if (!layer || !cJSON_AddItemToArray(layers, layer)) {
            cJSON_Delete(layer);
            rc = uh_error_set(err, UH_ENOMEM, "out of memory");
            break;
        }
        cJSON_AddNumberToObject(layer, "layer", i);
        cJSON_AddStringToObject(layer, "type", l->type == UH_LAYER_DENSE ? "dense" : "conv2d");
        cJSON *bias = cJSON_AddArrayToObject(layer, "bias");
        for (long j = (long)m.rows * m.cols; bias && j < l->params; j++)
            cJSON_AddItemToArray(bias, hw_json_exact(W[j], 1));
        rc = layer_fn(state, l, &m, W, layer, err);
    }
    if (!rc && !(*json = cJSON_Print(root))) rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    cJSON_Delete(root);
    return rc;
}

const char *uh_backend_program_format(const uh_backend_t *b) {
    return b->model->program ? b->model->program_format : NULL;
}

int uh_backend_program(const uh_backend_t *b, const uh_arch_t *arch, const float *weights,
                       char **json, uh_error_t *err) {
    *json = NULL;
    if (!b->model->program)
        return uh_error_set(err, UH_EINVAL, "backend %s (model %s) has no programming file",
                            b->name, b->model->name);
    return b->model->program(b->state, arch, weights, json, err);
}

/* ---- questions about an architecture ------------------------------------------------- */

int uh_backend_energy(const uh_backend_t *b, const uh_arch_t *arch, uh_energy_t *e,
                      uh_error_t *err) {
    memset(e, 0, sizeof *e);
    e->n_layers = arch->n_layers;
    return b->model->energy(b->state, arch, e, err);
}

static void check_shared(const uh_constraints_t *c, const uh_arch_t *arch, uh_violations_t *v) {
    for (int i = 0; i < arch->n_layers; i++) {
        const uh_layer_t *l = &arch->layers[i];
        int idx = i + 1;
        if (l->type != UH_LAYER_FLATTEN && !(c->layer_types & (1u << l->type)))
            uh_violations_add(v, idx, "type", "layer type %s is not available on this hardware",
                              uh_layer_type_name(l->type));
        if (l->type != UH_LAYER_DENSE && l->type != UH_LAYER_CONV2D) continue;
        if (!(c->activations & (1u << l->act)))
            uh_violations_add(v, idx, "activation",
                              "activation %s is not available on this hardware",
                              uh_act_name(l->act));
        if (l->bits && (l->bits < c->min_bits || l->bits > c->max_bits))
            uh_violations_add(v, idx, "bits", "%d bits requested; this hardware supports %d..%d",
                              l->bits, c->min_bits, c->max_bits);
        if (l->type == UH_LAYER_DENSE && l->units > c->max_units)
            uh_violations_add(v, idx, "units", "%d units, more than the %d allowed", l->units,
                              c->max_units);
        if (l->type == UH_LAYER_CONV2D && l->filters > c->max_filters)
            uh_violations_add(v, idx, "filters", "%d filters, more than the %d allowed", l->filters,
                              c->max_filters);
        if (l->type == UH_LAYER_CONV2D && l->kernel > c->max_kernel)
            uh_violations_add(v, idx, "kernel", "kernel %d, larger than the %d allowed", l->kernel,
                              c->max_kernel);
        if (l->tile && c->max_tile == 0)
            uh_violations_add(v, idx, "tile", "this hardware has no tiles; remove \"tile\"");
        else if (l->tile && (l->tile < c->min_tile || l->tile > c->max_tile))
            uh_violations_add(v, idx, "tile", "tile %d outside the supported %d..%d", l->tile,
                              c->min_tile, c->max_tile);
    }
    if (arch->params > c->max_params)
        uh_violations_add(v, 0, "params", "%ld parameters, more than the %ld that fit",
                          arch->params, c->max_params);
    if (arch->macs > c->max_macs)
        uh_violations_add(v, 0, "macs", "%ld MACs per inference, more than the %ld allowed",
                          arch->macs, c->max_macs);
}

int uh_backend_check(const uh_backend_t *b, const uh_arch_t *arch, uh_violations_t *v) {
    v->n = 0;
    check_shared(&b->constraints, arch, v);
    if (b->model->check) b->model->check(b->state, arch, v);
    return v->n;
}

/* ---- simulation ------------------------------------------------------------------------ */

int uh_backend_sim_new(const uh_backend_t *b, const uh_arch_t *arch, uh_sim_mode_t mode,
                       uh_backend_sim_t **out, uh_error_t *err) {
    *out = NULL;
    uh_backend_sim_t *sim = calloc(1, sizeof *sim);
    if (!sim) return uh_error_set(err, UH_ENOMEM, "out of memory");
    sim->model = b->model;
    if (b->model->sim_new) {
        int rc = b->model->sim_new(b->state, arch, mode, &sim->state, &sim->hook, err);
        if (rc) {
            free(sim);
            return rc;
        }
        sim->has_hook = sim->hook.perturb_weights || sim->hook.perturb_outputs;
    }
    *out = sim;
    return UH_OK;
}

const uh_noise_t *uh_backend_sim_hook(const uh_backend_sim_t *sim) {
    return sim && sim->has_hook ? &sim->hook : NULL;
}

void uh_backend_sim_free(uh_backend_sim_t *sim) {
    if (!sim) return;
    if (sim->state && sim->model->sim_free) sim->model->sim_free(sim->state);
    free(sim);
}

int uh_backend_evaluate(const uh_backend_t *b, uh_net_t *net, const uh_dataset_t *ds, int mc,
                        uint64_t seed, uh_mc_result_t *out, uh_error_t *err) {
    memset(out, 0, sizeof *out);
    uh_net_set_noise(net, NULL, 0);
    int rc = uh_net_evaluate(net, ds, 0, &out->clean_accuracy, err);
    if (rc) return rc;
    uh_backend_sim_t *sim;
    if ((rc = uh_backend_sim_new(b, uh_net_arch(net), UH_SIM_EVAL, &sim, err))) return rc;
    const uh_noise_t *hook = uh_backend_sim_hook(sim);
    if (!hook || mc < 1) {
        out->noisy_accuracy = out->clean_accuracy;
        uh_backend_sim_free(sim);
        return UH_OK;
    }
    uh_net_set_noise(net, hook, seed);
    double sum = 0, sum_sq = 0;
    for (int i = 0; i < mc && !rc; i++) {
        double acc;
        rc = uh_net_evaluate(net, ds, (uint64_t)i, &acc, err);
        sum += acc;
        sum_sq += acc * acc;
    }
    uh_net_set_noise(net, NULL, 0);
    uh_backend_sim_free(sim);
    if (rc) return rc;
    out->samples = mc;
    out->noisy_accuracy = sum / mc;
    double var = mc > 1 ? (sum_sq - sum * sum / mc) / (mc - 1) : 0;
    out->noisy_std = var > 0 ? sqrt(var) : 0;
    return UH_OK;
}

/* ---- how noisy the hardware is ------------------------------------------------------------ */

int uh_backend_noise_level(const uh_backend_t *b, double *level, uh_error_t *err) {
    enum { INPUTS = 64, CLASSES = 16, N = 256, SAMPLES = 4 };
    static const char *const ref = "{\"layers\":[{\"type\":\"dense\",\"units\":16}]}";
    *level = 0;
    uh_arch_t arch;
    const uh_shape_t in = {1, 1, INPUTS, CLASSES};
    int rc = uh_arch_parse(ref, strlen(ref), in, &arch, err);
    if (rc) return rc;
    uh_net_t *net = uh_net_new(&arch, N, 1, err);
    float *x = malloc((size_t)N * INPUTS * sizeof *x);
    uint8_t *y = malloc(N);
    if (!net || !x || !y) {
        rc = net ? uh_error_set(err, UH_ENOMEM, "out of memory") : (err ? err->code : UH_ENOMEM);
        goto done;
    }
    uh_rng_t rng;
    uh_rng_seed(&rng, 7);
    for (int i = 0; i < N * INPUTS; i++) x[i] = (float)uh_rng_uniform(&rng);
    const float *z = uh_net_forward(net, x, N); /* the exact classes are the labels */
    for (int i = 0; i < N; i++) {
        int best = 0;
        for (int k = 1; k < CLASSES; k++)
            if (z[i * CLASSES + k] > z[i * CLASSES + best]) best = k;
        y[i] = (uint8_t)best;
    }
    const uh_dataset_t ds = {N, 1, 1, INPUTS, CLASSES, x, y};
    uh_mc_result_t r;
    rc = uh_backend_evaluate(b, net, &ds, SAMPLES, 11, &r, err);
    if (!rc) *level = 1.0 - r.noisy_accuracy;
done:
    uh_net_free(net);
    free(x);
    free(y);
    return rc;
}
