/* Architecture descriptions: strict JSON parsing, shape resolution, canonical form, hash. */
#include "uhnas/arch.h"
#include "uhnas/hash.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "uhnas/json.h"

static const char *const ACT_NAMES[UH_ACT_COUNT + 1] = {
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

/* ---- parsing -------------------------------------------------------------------------- */

/* The messages below, and the reader's (uhnas/json.h), reach a language model in its repair
 * request, whose text is part of a transcript's key: they stay as they are, byte for byte, so
 * that a stored run resumes to the same rows. */

static const char *const TYPE_NAMES[] = {"dense", "conv2d", "pool", "flatten", NULL};
static const char *const POOL_NAMES[] = {"max", "avg", NULL};
static const char *const PADDING_NAMES[] = {"valid", "same", NULL};

/* "bits": 2..16, or 32 (full precision, stored as 0). */
static int read_bits(const cJSON *v, void *dest, const char *name, uh_error_t *err) {
    static const uh_json_field_t any =
        UH_JSON_ROW("bits", UH_JSON_INT, uh_layer_t, bits, 0, UH_ARCH_MIN_BITS, 32, 0);
    uh_layer_t *l = dest;
    int rc = uh_json_value(v, &any, l, name, 0, err);
    if (rc) return rc;
    if (l->bits > UH_ARCH_MAX_BITS && l->bits != 32)
        return uh_error_set(err, UH_EINVAL,
                            "%s: must be in %d..%d, or 32 for full precision, got %d", name,
                            UH_ARCH_MIN_BITS, UH_ARCH_MAX_BITS, l->bits);
    if (l->bits == 32) l->bits = 0;
    return UH_OK;
}

/* "padding" is an integer below the kernel, or "valid" (0) or "same" (kernel/2, odd kernels,
 * stride 1); kernel and stride are read before it. */
static int read_padding(const cJSON *v, void *dest, const char *name, uh_error_t *err) {
    uh_layer_t *l = dest;
    if (cJSON_IsString(v)) {
        static const uh_json_field_t names = {"padding", UH_JSON_CHOICE, 0, 0,
                                              .choices = PADDING_NAMES};
        int same, rc = uh_json_value(v, &names, &same, name, 0, err);
        if (rc || !same) return rc;
        if (l->kernel % 2 == 0 || l->stride != 1)
            return uh_error_set(err, UH_EINVAL,
                                "%s: \"same\" needs an odd kernel and stride 1 (kernel %d, stride "
                                "%d); give an integer padding instead",
                                name, l->kernel, l->stride);
        l->padding = l->kernel / 2;
        return UH_OK;
    }
    int hi = l->kernel - 1 < UH_ARCH_MAX_PADDING ? l->kernel - 1 : UH_ARCH_MAX_PADDING;
    const uh_json_field_t below =
        UH_JSON_ROW("padding", UH_JSON_INT, uh_layer_t, padding, 0, 0, hi, 0);
    return uh_json_value(v, &below, l, name, 0, err);
}

#define INT(key, m, req, lo, hi, dflt)                                                             \
    UH_JSON_ROW(key, UH_JSON_INT, uh_layer_t, m, req, lo, hi, dflt)
#define TYPE                                                                                       \
    { "type", UH_JSON_CHOICE, offsetof(uh_layer_t, type), 1, .choices = TYPE_NAMES }
#define ACTIVATION                                                                                 \
    {                                                                                              \
        "activation", UH_JSON_CHOICE, offsetof(uh_layer_t, act), 0, 0, 0, UH_ACT_NONE,             \
            .choices = ACT_NAMES                                                                   \
    }
#define BITS                                                                                       \
    { "bits", UH_JSON_CUSTOM, .read = read_bits }
#define TILE INT("tile", tile, 0, UH_ARCH_MIN_TILE, UH_ARCH_MAX_TILE, 0)

/* Each type's keys, in the order they are read. */
static const uh_json_field_t DENSE_FIELDS[] = {
    TYPE, INT("units", units, 1, 1, UH_ARCH_MAX_UNITS, 0), ACTIVATION, BITS, TILE, {NULL}};
static const uh_json_field_t CONV2D_FIELDS[] = {
    TYPE,
    INT("filters", filters, 1, 1, UH_ARCH_MAX_FILTERS, 0),
    INT("kernel", kernel, 1, 1, UH_ARCH_MAX_KERNEL, 0),
    INT("stride", stride, 0, 1, UH_ARCH_MAX_STRIDE, 1),
    {"padding", UH_JSON_CUSTOM, .read = read_padding},
    ACTIVATION,
    BITS,
    TILE,
    {NULL}};
/* a pool's stride defaults to its size: absent, it stays 0 and is set after reading */
static const uh_json_field_t POOL_FIELDS[] = {
    TYPE,
    {"kind", UH_JSON_CHOICE, offsetof(uh_layer_t, pool_kind), 1, .choices = POOL_NAMES},
    INT("size", size, 1, 1, UH_ARCH_MAX_KERNEL, 0),
    INT("stride", stride, 0, 1, UH_ARCH_MAX_STRIDE, UH_JSON_KEEP),
    {NULL}};
static const uh_json_field_t FLATTEN_FIELDS[] = {TYPE, {NULL}};
static const uh_json_field_t *const LAYER_FIELDS[] = {[UH_LAYER_DENSE] = DENSE_FIELDS,
                                                      [UH_LAYER_CONV2D] = CONV2D_FIELDS,
                                                      [UH_LAYER_POOL] = POOL_FIELDS,
                                                      [UH_LAYER_FLATTEN] = FLATTEN_FIELDS};

static int parse_layer(const cJSON *obj, int index, uh_layer_t *l, uh_error_t *err) {
    memset(l, 0, sizeof *l);
    if (!cJSON_IsObject(obj))
        return uh_error_set(err, UH_EINVAL, "layer %d: must be a JSON object", index);
    /* the type decides which keys the layer may have */
    char where[64];
    snprintf(where, sizeof where, "layer %d (?): field \"type\"", index);
    static const uh_json_field_t type = TYPE;
    int rc = uh_json_value(cJSON_GetObjectItemCaseSensitive(obj, "type"), &type, l, where, 0, err);
    if (rc) return rc;
    snprintf(where, sizeof where, "layer %d (%s)", index, TYPE_NAMES[l->type]);
    rc = uh_json_read(obj, where, LAYER_FIELDS[l->type], l, UH_JSON_FIELD_NAMES, err);
    if (!rc && l->type == UH_LAYER_POOL && !l->stride) l->stride = l->size;
    return rc;
}

typedef struct {
    const cJSON *layers;
} arch_file_t;

static const uh_json_field_t TOP_FIELDS[] = {
    {"layers", UH_JSON_ANY, offsetof(arch_file_t, layers), .required = 0}, {NULL}};

int uh_arch_parse(const char *json, size_t len, uh_shape_t input, uh_arch_t *arch,
                  uh_error_t *err) {
    memset(arch, 0, sizeof *arch);
    if (!json || len == 0) return uh_error_set(err, UH_EINVAL, "architecture: empty text");
    if (len > UH_ARCH_MAX_JSON_BYTES)
        return uh_error_set(err, UH_ELIMIT, "architecture: %zu bytes, more than the limit of %d",
                            len, UH_ARCH_MAX_JSON_BYTES);
    /* not uh_json_parse: its line:column would change the repair requests' text (above) */
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
    arch_file_t top;
    if (!cJSON_IsObject(root)) {
        rc = uh_error_set(err, UH_EINVAL, "architecture: must be a JSON object {\"layers\":[...]}");
    } else if ((rc = uh_json_read(root, NULL, TOP_FIELDS, &top, UH_JSON_FIELD_NAMES, err))) {
    } else if (!cJSON_IsArray(top.layers)) {
        rc = uh_error_set(err, UH_EINVAL, "field \"layers\": must be an array of layer objects");
    } else {
        int n = cJSON_GetArraySize(top.layers);
        if (n == 0) {
            rc = uh_error_set(err, UH_EINVAL, "field \"layers\": is empty");
        } else if (n > UH_ARCH_MAX_LAYERS) {
            rc = uh_error_set(err, UH_ELIMIT,
                              "field \"layers\": %d layers, more than the limit of %d", n,
                              UH_ARCH_MAX_LAYERS);
        } else {
            const cJSON *obj;
            int i = 0;
            cJSON_ArrayForEach(obj, top.layers) {
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
    uint64_t h = uh_fnv1a(UH_FNV1A_BASIS, canon, n > 0 ? (size_t)n : 0);
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
