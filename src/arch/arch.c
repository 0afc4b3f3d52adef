/* Architecture descriptions: strict JSON parsing, shape resolution, canonical form, hash. */
#include "uhnas/arch.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

static const char *const ACT_NAMES[UH_ACT_COUNT] = {
    [UH_ACT_NONE] = "none",     [UH_ACT_RELU] = "relu",       [UH_ACT_LEAKY_RELU] = "leaky_relu",
    [UH_ACT_TANH] = "tanh",     [UH_ACT_SIGMOID] = "sigmoid", [UH_ACT_ABS] = "abs",
    [UH_ACT_SQUARE] = "square",
};

const char *uh_act_name(uh_act_t act) {
    return (act >= 0 && act < UH_ACT_COUNT) ? ACT_NAMES[act] : "?";
}

const char *uh_layer_type_name(uh_layer_type_t type) {
    switch (type) {
    case UH_LAYER_DENSE:
        return "dense";
    case UH_LAYER_CONV2D:
        return "conv2d";
    case UH_LAYER_POOL:
        return "pool";
    case UH_LAYER_FLATTEN:
        return "flatten";
    }
    return "?";
}

/* ---- strict field readers ------------------------------------------------------------ */

/* Everything a field reader needs to name the culprit in its message. */
typedef struct {
    int index; /* 1-based layer number, 0 for the top level */
    const char *type;
    uh_error_t *err;
} field_ctx_t;

static int field_error(const field_ctx_t *fc, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int field_error(const field_ctx_t *fc, const char *field, const char *fmt, ...) {
    char detail[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    if (fc->index == 0) return uh_error_set(fc->err, UH_EINVAL, "field \"%s\": %s", field, detail);
    return uh_error_set(fc->err, UH_EINVAL, "layer %d (%s): field \"%s\": %s", fc->index, fc->type,
                        field, detail);
}

/* Reads an integer field in [lo, hi]. Absent → *out = dflt (or an error when required). */
static int read_int(const field_ctx_t *fc, const cJSON *obj, const char *field, int lo, int hi,
                    int required, int dflt, int *out) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (!item) {
        if (required) return field_error(fc, field, "is required");
        *out = dflt;
        return UH_OK;
    }
    if (!cJSON_IsNumber(item))
        return field_error(fc, field, "must be an integer in %d..%d, got a non-number", lo, hi);
    double v = item->valuedouble;
    if (!isfinite(v) || v != floor(v) || v < lo || v > hi) {
        return field_error(fc, field, "must be an integer in %d..%d, got %.6g", lo, hi, v);
    }
    *out = (int)v;
    return UH_OK;
}

/* Reads a string field that must be one of names[0..n). Absent → dflt (or error). */
static int read_enum(const field_ctx_t *fc, const cJSON *obj, const char *field,
                     const char *const *names, int n, int required, int dflt, int *out) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, field);
    if (!item) {
        if (required) return field_error(fc, field, "is required");
        *out = dflt;
        return UH_OK;
    }
    char allowed[256] = "";
    for (int i = 0; i < n; i++) {
        size_t used = strlen(allowed);
        snprintf(allowed + used, sizeof allowed - used, "%s\"%s\"", i ? ", " : "", names[i]);
    }
    if (!cJSON_IsString(item))
        return field_error(fc, field, "must be a string, one of %s", allowed);
    for (int i = 0; i < n; i++) {
        if (strcmp(item->valuestring, names[i]) == 0) {
            *out = i;
            return UH_OK;
        }
    }
    return field_error(fc, field, "unknown value \"%.40s\"; expected one of %s", item->valuestring,
                       allowed);
}

/* Rejects keys outside `allowed` and keys given twice (cJSON keeps duplicates and would
 * silently read the first one). */
static int check_keys(const field_ctx_t *fc, const cJSON *obj, const char *const *allowed,
                      int n_allowed) {
    int seen[16] = {0};
    for (const cJSON *child = obj->child; child; child = child->next) {
        int found = -1;
        for (int i = 0; i < n_allowed; i++)
            if (child->string && strcmp(child->string, allowed[i]) == 0) found = i;
        if (found < 0) {
            char list[256] = "";
            for (int i = 0; i < n_allowed; i++) {
                size_t used = strlen(list);
                snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", allowed[i]);
            }
            return field_error(fc, child->string ? child->string : "?",
                               "unknown key; allowed keys are: %s", list);
        }
        if (seen[found]++) return field_error(fc, allowed[found], "given more than once");
    }
    return UH_OK;
}

/* ---- parsing -------------------------------------------------------------------------- */

static const char *const TYPE_NAMES[] = {"dense", "conv2d", "pool", "flatten"};
static const char *const POOL_NAMES[] = {"max", "avg"};
static const char *const PADDING_NAMES[] = {"valid", "same"};

static int read_bits(const field_ctx_t *fc, const cJSON *obj, int *bits) {
    int rc = read_int(fc, obj, "bits", UH_ARCH_MIN_BITS, 32, 0, 0, bits);
    if (rc) return rc;
    if (*bits > UH_ARCH_MAX_BITS && *bits != 32)
        return field_error(fc, "bits", "must be in %d..%d, or 32 for full precision, got %d",
                           UH_ARCH_MIN_BITS, UH_ARCH_MAX_BITS, *bits);
    if (*bits == 32) *bits = 0;
    return UH_OK;
}

static int parse_dense(const field_ctx_t *fc, const cJSON *obj, uh_layer_t *l) {
    static const char *const keys[] = {"type", "units", "activation", "bits", "tile"};
    int act, rc;
    if ((rc = check_keys(fc, obj, keys, 5))) return rc;
    if ((rc = read_int(fc, obj, "units", 1, UH_ARCH_MAX_UNITS, 1, 0, &l->units))) return rc;
    if ((rc = read_enum(fc, obj, "activation", ACT_NAMES, UH_ACT_COUNT, 0, UH_ACT_NONE, &act)))
        return rc;
    l->act = (uh_act_t)act;
    if ((rc = read_bits(fc, obj, &l->bits))) return rc;
    return read_int(fc, obj, "tile", UH_ARCH_MIN_TILE, UH_ARCH_MAX_TILE, 0, 0, &l->tile);
}

/* "padding" is an integer, or "valid" (0) or "same" (kernel/2, odd kernels, stride 1). */
static int read_padding(const field_ctx_t *fc, const cJSON *obj, uh_layer_t *l) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, "padding");
    if (item && cJSON_IsString(item)) {
        int which, rc;
        if ((rc = read_enum(fc, obj, "padding", PADDING_NAMES, 2, 0, 0, &which))) return rc;
        if (which == 0) {
            l->padding = 0;
            return UH_OK;
        }
        if (l->kernel % 2 == 0 || l->stride != 1)
            return field_error(fc, "padding",
                               "\"same\" needs an odd kernel and stride 1 (kernel %d, stride %d); "
                               "give an integer padding instead",
                               l->kernel, l->stride);
        l->padding = l->kernel / 2;
        return UH_OK;
    }
    int hi = l->kernel - 1 < UH_ARCH_MAX_PADDING ? l->kernel - 1 : UH_ARCH_MAX_PADDING;
    return read_int(fc, obj, "padding", 0, hi, 0, 0, &l->padding);
}

static int parse_conv2d(const field_ctx_t *fc, const cJSON *obj, uh_layer_t *l) {
    static const char *const keys[] = {"type",    "filters",    "kernel", "stride",
                                       "padding", "activation", "bits",   "tile"};
    int act, rc;
    if ((rc = check_keys(fc, obj, keys, 8))) return rc;
    if ((rc = read_int(fc, obj, "filters", 1, UH_ARCH_MAX_FILTERS, 1, 0, &l->filters))) return rc;
    if ((rc = read_int(fc, obj, "kernel", 1, UH_ARCH_MAX_KERNEL, 1, 0, &l->kernel))) return rc;
    if ((rc = read_int(fc, obj, "stride", 1, UH_ARCH_MAX_STRIDE, 0, 1, &l->stride))) return rc;
    if ((rc = read_padding(fc, obj, l))) return rc;
    if ((rc = read_enum(fc, obj, "activation", ACT_NAMES, UH_ACT_COUNT, 0, UH_ACT_NONE, &act)))
        return rc;
    l->act = (uh_act_t)act;
    if ((rc = read_bits(fc, obj, &l->bits))) return rc;
    return read_int(fc, obj, "tile", UH_ARCH_MIN_TILE, UH_ARCH_MAX_TILE, 0, 0, &l->tile);
}

static int parse_pool(const field_ctx_t *fc, const cJSON *obj, uh_layer_t *l) {
    static const char *const keys[] = {"type", "kind", "size", "stride"};
    int kind, rc;
    if ((rc = check_keys(fc, obj, keys, 4))) return rc;
    if ((rc = read_enum(fc, obj, "kind", POOL_NAMES, 2, 1, 0, &kind))) return rc;
    l->pool_kind = (uh_pool_kind_t)kind;
    if ((rc = read_int(fc, obj, "size", 1, UH_ARCH_MAX_KERNEL, 1, 0, &l->size))) return rc;
    return read_int(fc, obj, "stride", 1, UH_ARCH_MAX_STRIDE, 0, l->size, &l->stride);
}

static int parse_layer(const cJSON *obj, int index, uh_layer_t *l, uh_error_t *err) {
    field_ctx_t fc = {index, "?", err};
    memset(l, 0, sizeof *l);
    if (!cJSON_IsObject(obj))
        return uh_error_set(err, UH_EINVAL, "layer %d: must be a JSON object", index);
    int type, rc;
    if ((rc = read_enum(&fc, obj, "type", TYPE_NAMES, 4, 1, 0, &type))) return rc;
    l->type = (uh_layer_type_t)type;
    fc.type = TYPE_NAMES[type];
    switch (l->type) {
    case UH_LAYER_DENSE:
        return parse_dense(&fc, obj, l);
    case UH_LAYER_CONV2D:
        return parse_conv2d(&fc, obj, l);
    case UH_LAYER_POOL:
        return parse_pool(&fc, obj, l);
    case UH_LAYER_FLATTEN: {
        static const char *const keys[] = {"type"};
        return check_keys(&fc, obj, keys, 1);
    }
    }
    return UH_OK;
}

int uh_arch_parse(const char *json, size_t len, uh_shape_t input, uh_arch_t *arch,
                  uh_error_t *err) {
    memset(arch, 0, sizeof *arch);
    if (!json || len == 0) return uh_error_set(err, UH_EINVAL, "architecture: empty text");
    if (len > UH_ARCH_MAX_JSON_BYTES)
        return uh_error_set(err, UH_ELIMIT, "architecture: %zu bytes, more than the limit of %d",
                            len, UH_ARCH_MAX_JSON_BYTES);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        size_t at = end && end >= json ? (size_t)(end - json) : 0;
        return uh_error_set(err, UH_EINVAL, "architecture: invalid JSON near byte %zu", at);
    }
    /* cJSON stops at the end of the first value; anything but whitespace after it is junk. */
    for (const char *p = end; p && p < json + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            return uh_error_set(
                err, UH_EINVAL,
                "architecture: invalid JSON: unexpected text after the object at byte %zu",
                (size_t)(p - json));
        }
    }
    int rc = UH_OK;
    field_ctx_t top = {0, "", err};
    static const char *const top_keys[] = {"layers"};
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
    if (!cJSON_IsObject(root)) {
        rc = uh_error_set(err, UH_EINVAL, "architecture: must be a JSON object {\"layers\":[...]}");
    } else if ((rc = check_keys(&top, root, top_keys, 1))) {
    } else if (!cJSON_IsArray(layers)) {
        rc = uh_error_set(err, UH_EINVAL, "field \"layers\": must be an array of layer objects");
    } else {
        int n = cJSON_GetArraySize(layers);
        if (n == 0) {
            rc = uh_error_set(err, UH_EINVAL, "field \"layers\": is empty");
        } else if (n > UH_ARCH_MAX_LAYERS) {
            rc = uh_error_set(err, UH_ELIMIT,
                              "field \"layers\": %d layers, more than the limit of %d", n,
                              UH_ARCH_MAX_LAYERS);
        } else {
            const cJSON *obj;
            int i = 0;
            cJSON_ArrayForEach(obj, layers) {
                if ((rc = parse_layer(obj, i + 1, &arch->layers[i], err))) break;
                i++;
            }
            arch->n_layers = i;
        }
    }
    cJSON_Delete(root);
    if (rc) return rc;
    return uh_arch_resolve(arch, input, err);
}

/* ---- shapes and counts ------------------------------------------------------------------ */

static int layer_error(uh_error_t *err, int code, int index, const uh_layer_t *l, const char *fmt,
                       ...) __attribute__((format(printf, 5, 6)));

static int layer_error(uh_error_t *err, int code, int index, const uh_layer_t *l, const char *fmt,
                       ...) {
    char detail[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    return uh_error_set(err, code, "layer %d (%s): %s", index, uh_layer_type_name(l->type), detail);
}

/* Output side of a sliding window; <= 0 when the window does not fit. */
static int window_out(int in, int k, int stride, int pad) {
    int span = in + 2 * pad - k;
    return span < 0 ? 0 : span / stride + 1;
}

int uh_arch_resolve(uh_arch_t *arch, uh_shape_t input, uh_error_t *err) {
    if (input.c < 1 || input.h < 1 || input.w < 1 || input.n_classes < 2)
        return uh_error_set(err, UH_EINVAL, "input shape %d×%d×%d with %d classes is not valid",
                            input.c, input.h, input.w, input.n_classes);
    if (arch->n_layers < 1 || arch->n_layers > UH_ARCH_MAX_LAYERS)
        return uh_error_set(err, UH_EINVAL, "architecture: needs 1..%d layers, has %d",
                            UH_ARCH_MAX_LAYERS, arch->n_layers);
    arch->input = input;
    arch->params = arch->macs = 0;
    int c = input.c, h = input.h, w = input.w;
    int spatial = 1; /* false once a dense layer has made the data a flat vector */
    for (int i = 0; i < arch->n_layers; i++) {
        uh_layer_t *l = &arch->layers[i];
        int idx = i + 1;
        l->in_c = c, l->in_h = h, l->in_w = w;
        l->params = l->macs = 0;
        switch (l->type) {
        case UH_LAYER_DENSE: {
            if (l->units < 1 || l->units > UH_ARCH_MAX_UNITS)
                return layer_error(err, UH_EINVAL, idx, l, "units must be in 1..%d, got %d",
                                   UH_ARCH_MAX_UNITS, l->units);
            long in = (long)c * h * w;
            l->out_c = l->units, l->out_h = l->out_w = 1;
            l->params = in * l->units + l->units;
            l->macs = in * l->units;
            spatial = 0;
            break;
        }
        case UH_LAYER_CONV2D:
        case UH_LAYER_POOL: {
            if (!spatial)
                return layer_error(err, UH_EINVAL, idx, l,
                                   "needs a 2-D input, but the previous layers made it a flat "
                                   "vector of %d values",
                                   c * h * w);
            int is_conv = l->type == UH_LAYER_CONV2D;
            int k = is_conv ? l->kernel : l->size;
            int pad = is_conv ? l->padding : 0;
            if (k < 1 || k > UH_ARCH_MAX_KERNEL || l->stride < 1 ||
                l->stride > UH_ARCH_MAX_STRIDE || pad < 0 || pad >= k ||
                (is_conv && (l->filters < 1 || l->filters > UH_ARCH_MAX_FILTERS)))
                return layer_error(err, UH_EINVAL, idx, l,
                                   "window %d, stride %d, padding %d out of range", k, l->stride,
                                   pad);
            int oh = window_out(h, k, l->stride, pad), ow = window_out(w, k, l->stride, pad);
            if (oh < 1 || ow < 1)
                return layer_error(err, UH_EINVAL, idx, l,
                                   "window %d×%d (padding %d) does not fit its %d×%d input", k, k,
                                   pad, h, w);
            l->out_c = is_conv ? l->filters : c, l->out_h = oh, l->out_w = ow;
            if (is_conv) {
                long unfolded = (long)c * k * k * oh * ow;
                if (unfolded > UH_ARCH_MAX_IM2COL)
                    return layer_error(err, UH_ELIMIT, idx, l,
                                       "unfolded input of %ld values exceeds the limit of %ld",
                                       unfolded, UH_ARCH_MAX_IM2COL);
                l->params = (long)l->filters * c * k * k + l->filters;
                l->macs = (long)l->filters * c * k * k * oh * ow;
            }
            break;
        }
        case UH_LAYER_FLATTEN:
            l->out_c = c * h * w, l->out_h = l->out_w = 1;
            spatial = 0;
            break;
        }
        long outputs = (long)l->out_c * l->out_h * l->out_w;
        if (outputs > UH_ARCH_MAX_ACTIVATIONS)
            return layer_error(err, UH_ELIMIT, idx, l,
                               "output of %ld values per sample exceeds the limit of %ld", outputs,
                               UH_ARCH_MAX_ACTIVATIONS);
        c = l->out_c, h = l->out_h, w = l->out_w;
        arch->params += l->params;
        arch->macs += l->macs;
        /* Checked per layer: each term is bounded, so the running sums cannot overflow. */
        if (arch->params > UH_ARCH_MAX_PARAMS)
            return layer_error(err, UH_ELIMIT, idx, l,
                               "brings the parameter count to %ld, over the limit of %ld",
                               arch->params, UH_ARCH_MAX_PARAMS);
        if (arch->macs > UH_ARCH_MAX_MACS)
            return layer_error(err, UH_ELIMIT, idx, l,
                               "brings the MACs per inference to %ld, over the limit of %ld",
                               arch->macs, UH_ARCH_MAX_MACS);
    }
    const uh_layer_t *last = &arch->layers[arch->n_layers - 1];
    if (last->type != UH_LAYER_DENSE || last->units != input.n_classes)
        return layer_error(err, UH_EINVAL, arch->n_layers, last,
                           "the last layer must be dense with units = %d (the number of classes)",
                           input.n_classes);
    return UH_OK;
}

/* ---- canonical form, hash, description ---------------------------------------------- */

/* snprintf into a moving cursor; remembers overflow instead of failing at each call. */
typedef struct {
    char *buf;
    size_t cap, len;
    int overflow;
} writer_t;

static void emit(writer_t *wr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void emit(writer_t *wr, const char *fmt, ...) {
    size_t room = wr->len < wr->cap ? wr->cap - wr->len : 0;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(wr->buf + (wr->len < wr->cap ? wr->len : 0), room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room) wr->overflow = 1;
    wr->len += n > 0 ? (size_t)n : 0;
}

int uh_arch_canonical(const uh_arch_t *arch, char *buf, size_t cap) {
    if (cap == 0) return -1;
    writer_t wr = {buf, cap, 0, 0};
    emit(&wr, "{\"layers\":[");
    int first = 1;
    for (int i = 0; i < arch->n_layers; i++) {
        const uh_layer_t *l = &arch->layers[i];
        if (l->type == UH_LAYER_FLATTEN) continue;
        emit(&wr, "%s{\"type\":\"%s\"", first ? "" : ",", uh_layer_type_name(l->type));
        first = 0;
        switch (l->type) {
        case UH_LAYER_DENSE:
            emit(&wr, ",\"units\":%d", l->units);
            break;
        case UH_LAYER_CONV2D:
            emit(&wr, ",\"filters\":%d,\"kernel\":%d,\"stride\":%d,\"padding\":%d", l->filters,
                 l->kernel, l->stride, l->padding);
            break;
        case UH_LAYER_POOL:
            emit(&wr, ",\"kind\":\"%s\",\"size\":%d,\"stride\":%d", POOL_NAMES[l->pool_kind],
                 l->size, l->stride);
            break;
        case UH_LAYER_FLATTEN:
            break;
        }
        if (l->type != UH_LAYER_POOL) {
            emit(&wr, ",\"activation\":\"%s\"", uh_act_name(l->act));
            if (l->bits) emit(&wr, ",\"bits\":%d", l->bits);
            if (l->tile) emit(&wr, ",\"tile\":%d", l->tile);
        }
        emit(&wr, "}");
    }
    emit(&wr, "]}");
    if (wr.overflow) {
        buf[0] = '\0';
        return -1;
    }
    return (int)wr.len;
}

void uh_arch_hash(const uh_arch_t *arch, char out[17]) {
    char canon[UH_ARCH_CANON_MAX];
    int n = uh_arch_canonical(arch, canon, sizeof canon);
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a offset basis */
    for (int i = 0; i < n; i++) {
        h ^= (unsigned char)canon[i];
        h *= 0x100000001b3ull; /* FNV prime */
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

int uh_arch_describe(const uh_arch_t *arch, char *buf, size_t cap) {
    if (cap == 0) return -1;
    writer_t wr = {buf, cap, 0, 0};
    emit(&wr, "input %d×%d×%d, %d classes\n", arch->input.c, arch->input.h, arch->input.w,
         arch->input.n_classes);
    for (int i = 0; i < arch->n_layers; i++) {
        const uh_layer_t *l = &arch->layers[i];
        char spec[96];
        switch (l->type) {
        case UH_LAYER_DENSE:
            snprintf(spec, sizeof spec, "%d units", l->units);
            break;
        case UH_LAYER_CONV2D:
            snprintf(spec, sizeof spec, "%d×%d×%d s%d p%d", l->filters, l->kernel, l->kernel,
                     l->stride, l->padding);
            break;
        case UH_LAYER_POOL:
            snprintf(spec, sizeof spec, "%s %d×%d s%d", POOL_NAMES[l->pool_kind], l->size, l->size,
                     l->stride);
            break;
        case UH_LAYER_FLATTEN:
            spec[0] = '\0';
            break;
        }
        char extra[48] = "";
        if (l->type == UH_LAYER_DENSE || l->type == UH_LAYER_CONV2D) {
            size_t used = (size_t)snprintf(extra, sizeof extra, "%s", uh_act_name(l->act));
            if (l->bits)
                used += (size_t)snprintf(extra + used, sizeof extra - used, " %d-bit", l->bits);
            if (l->tile) snprintf(extra + used, sizeof extra - used, " tile %d", l->tile);
        }
        emit(&wr, "%3d %-7s %-18s %-16s -> %d×%d×%d  params %ld  MACs %ld\n", i + 1,
             uh_layer_type_name(l->type), spec, extra, l->out_c, l->out_h, l->out_w, l->params,
             l->macs);
    }
    emit(&wr, "total params %ld, MACs per inference %ld\n", arch->params, arch->macs);
    if (wr.overflow) {
        buf[0] = '\0';
        return -1;
    }
    return (int)wr.len;
}
