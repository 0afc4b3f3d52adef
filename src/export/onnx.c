/* ONNX export (see uhnas/export.h): the ModelProto written by hand in protocol buffers' wire
 * format (onnx/onnx.proto: field numbers below), opset 13.
 *
 * The graph computes what uhnas computes: input "input" [N, C, H, W] (pixels / 255), output
 * "logits" [N, classes]. Conv / Gemm (after Flatten where a dense layer reads a spatial
 * input) with the weights as initializers, the activation, pooling. A layer with "bits" has
 * its weights quantized as uhnas quantizes them (folded into the initializer: the same floats)
 * and its outputs quantized per sample in the graph: m = max |x| over the sample, and where
 * m > 0, x ← round(x · (L/m)) · (m/L), L = 2^(bits-1) − 1, halves away from zero as
 * sign(v) · floor(|v| + 0.5). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uhnas/export.h"
#include "uhnas/nn.h"
#include "uhnas/strbuf.h"

#define OPSET 13
#define IR_VERSION 7
enum { WIRE_VARINT = 0, WIRE_BYTES = 2, WIRE_FIXED32 = 5 };
enum { TENSOR_FLOAT = 1 };                            /* TensorProto.DataType */
enum { ATTR_FLOAT = 1, ATTR_INT = 2, ATTR_INTS = 7 }; /* AttributeProto.AttributeType */

/* ---- wire format ---------------------------------------------------------------------- */

static void varint(uh_strbuf_t *b, uint64_t v) {
    unsigned char buf[10];
    size_t n = 0;
    do {
        buf[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v) buf[n] |= 0x80;
        n++;
    } while (v);
    uh_strbuf_put(b, (const char *)buf, n);
}

static void key(uh_strbuf_t *b, int field, int wire) {
    varint(b, (uint64_t)field << 3 | (uint64_t)wire);
}

static void field_int(uh_strbuf_t *b, int field, int64_t v) {
    key(b, field, WIRE_VARINT);
    varint(b, (uint64_t)v);
}

static void field_bytes(uh_strbuf_t *b, int field, const void *data, size_t n) {
    key(b, field, WIRE_BYTES);
    varint(b, n);
    uh_strbuf_put(b, data, n);
}

static void field_string(uh_strbuf_t *b, int field, const char *s) {
    field_bytes(b, field, s, strlen(s));
}

/* A nested message m as field `field` of b; m is emptied. */
static void field_message(uh_strbuf_t *b, int field, uh_strbuf_t *m) {
    b->oom |= m->oom;
    field_bytes(b, field, m->buf ? m->buf : "", m->len);
    uh_strbuf_free(m);
}

/* ---- ONNX messages -------------------------------------------------------------------- */

/* TensorProto: dims (1), data_type (2), name (8), raw_data (9: little-endian floats). */
static void tensor(uh_strbuf_t *graph, const char *name, const int64_t *dims, int n_dims,
                   const float *v, size_t n) {
    uh_strbuf_t t = {0};
    for (int i = 0; i < n_dims; i++) field_int(&t, 1, dims[i]);
    field_int(&t, 2, TENSOR_FLOAT);
    field_string(&t, 8, name);
    key(&t, 9, WIRE_BYTES);
    varint(&t, 4 * n);
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], 4);
        unsigned char le[4] = {(unsigned char)bits, (unsigned char)(bits >> 8),
                               (unsigned char)(bits >> 16), (unsigned char)(bits >> 24)};
        uh_strbuf_put(&t, (const char *)le, 4);
    }
    field_message(graph, 5, &t); /* GraphProto.initializer */
}

/* ValueInfoProto of a float tensor [N, dims...] (N symbolic) as GraphProto field `field`. */
static void value_info(uh_strbuf_t *graph, int field, const char *name, const int *dims, int n) {
    uh_strbuf_t shape = {0}, tensor_type = {0}, type = {0}, info = {0}, dim = {0};
    field_string(&dim, 2, "N"); /* Dimension.dim_param */
    field_message(&shape, 1, &dim);
    for (int i = 0; i < n; i++) {
        field_int(&dim, 1, dims[i]); /* Dimension.dim_value */
        field_message(&shape, 1, &dim);
    }
    field_int(&tensor_type, 1, TENSOR_FLOAT); /* TypeProto.Tensor.elem_type */
    field_message(&tensor_type, 2, &shape);
    field_message(&type, 1, &tensor_type); /* TypeProto.tensor_type */
    field_string(&info, 1, name);
    field_message(&info, 2, &type);
    field_message(graph, field, &info);
}

/* AttributeProto: name (1), f (2), i (3), ints (8), type (20). */
static void attr_ints(uh_strbuf_t *node, const char *name, const int64_t *v, int n) {
    uh_strbuf_t a = {0};
    field_string(&a, 1, name);
    for (int i = 0; i < n; i++) field_int(&a, 8, v[i]);
    field_int(&a, 20, ATTR_INTS);
    field_message(node, 5, &a);
}

static void attr_int(uh_strbuf_t *node, const char *name, int64_t v) {
    uh_strbuf_t a = {0};
    field_string(&a, 1, name);
    field_int(&a, 3, v);
    field_int(&a, 20, ATTR_INT);
    field_message(node, 5, &a);
}

static void attr_float(uh_strbuf_t *node, const char *name, float v) {
    uh_strbuf_t a = {0};
    uint32_t bits;
    memcpy(&bits, &v, 4);
    unsigned char le[4] = {(unsigned char)bits, (unsigned char)(bits >> 8),
                           (unsigned char)(bits >> 16), (unsigned char)(bits >> 24)};
    field_string(&a, 1, name);
    key(&a, 2, WIRE_FIXED32);
    uh_strbuf_put(&a, (const char *)le, 4);
    field_int(&a, 20, ATTR_FLOAT);
    field_message(node, 5, &a);
}

/* The graph under construction: its nodes and initializers, and the names of the tensors its
 * nodes made (t0, t1, ...), which stay put while it grows. */
/* the most one layer makes: Flatten, Gemm, its activation and 14 nodes of output quantization */
#define NODES_PER_LAYER 17
typedef struct {
    uh_strbuf_t g;
    char (*names)[16];
    int next, cap;
} graph_t;

/* A fresh tensor name; "" once cap is spent (the graph is then refused as too large). */
static const char *fresh(graph_t *G) {
    if (G->next == G->cap) return "";
    snprintf(G->names[G->next], sizeof G->names[0], "t%d", G->next);
    return G->names[G->next++];
}

/* NodeProto: input (1), output (2), name (3), op_type (4), the attributes the caller wrote
 * into *attrs (may be NULL); its output is named out. */
static const char *node_named(graph_t *G, const char *op, const char *const *in, int n_in,
                              uh_strbuf_t *attrs, const char *out) {
    uh_strbuf_t n = {0};
    for (int i = 0; i < n_in; i++) field_string(&n, 1, in[i]);
    field_string(&n, 2, out);
    field_string(&n, 3, out);
    field_string(&n, 4, op);
    if (attrs) {
        n.oom |= attrs->oom;
        if (attrs->buf) uh_strbuf_put(&n, attrs->buf, attrs->len);
        uh_strbuf_free(attrs);
    }
    field_message(&G->g, 1, &n); /* GraphProto.node */
    return out;
}

/* The same with a fresh output name. */
static const char *node(graph_t *G, const char *op, const char *const *in, int n_in,
                        uh_strbuf_t *attrs) {
    return node_named(G, op, in, n_in, attrs, fresh(G));
}

static const char *node1(graph_t *G, const char *op, const char *a) {
    return node(G, op, &a, 1, NULL);
}

static const char *node2(graph_t *G, const char *op, const char *a, const char *b) {
    const char *in[2] = {a, b};
    return node(G, op, in, 2, NULL);
}

/* Layer i's outputs x quantized per sample (rank: x's, the sample's dimensions after the first),
 * as the header says. */
static const char *quantize_outputs(graph_t *G, int i, const char *x, int rank, int bits) {
    char lv[16];
    snprintf(lv, sizeof lv, "levels%d", i);
    const float levels = (float)((1 << (bits - 1)) - 1);
    tensor(&G->g, lv, NULL, 0, &levels, 1);
    uh_strbuf_t attrs = {0};
    int64_t axes[3] = {1, 2, 3};
    attr_ints(&attrs, "axes", axes, rank - 1);
    attr_int(&attrs, "keepdims", 1);
    const char *a = node1(G, "Abs", x);
    const char *m = node(G, "ReduceMax", &a, 1, &attrs);
    const char *pos = node2(G, "Greater", m, "zero");
    const char *w[3] = {pos, m, "one"};
    const char *safe = node(G, "Where", w, 3, NULL);
    const char *scale = node2(G, "Div", safe, lv), *inv = node2(G, "Div", lv, safe);
    const char *v = node2(G, "Mul", x, inv);
    const char *r = node2(G, "Add", node1(G, "Abs", v), "half");
    const char *q =
        node2(G, "Mul", node2(G, "Mul", node1(G, "Sign", v), node1(G, "Floor", r)), scale);
    const char *sel[3] = {pos, q, x};
    return node(G, "Where", sel, 3, NULL);
}

static const char *activation(graph_t *G, const char *x, uh_act_t act) {
    switch (act) {
    case UH_ACT_RELU:
        return node1(G, "Relu", x);
    case UH_ACT_LEAKY_RELU: {
        uh_strbuf_t attrs = {0};
        attr_float(&attrs, "alpha", 0.01f);
        return node(G, "LeakyRelu", &x, 1, &attrs);
    }
    case UH_ACT_TANH:
        return node1(G, "Tanh", x);
    case UH_ACT_SIGMOID:
        return node1(G, "Sigmoid", x);
    case UH_ACT_ABS:
        return node1(G, "Abs", x);
    case UH_ACT_SQUARE:
        return node2(G, "Mul", x, x);
    default:
        return x;
    }
}

int uh_export_onnx(const uh_arch_t *arch, const float *weights, size_t n_weights, char **bytes,
                   size_t *len, uh_error_t *err) {
    *bytes = NULL, *len = 0;
    if (!weights || n_weights != (size_t)arch->params)
        return uh_error_set(err, UH_EINVAL, "onnx: %zu weights for a network of %ld parameters",
                            weights ? n_weights : 0, arch->params);
    graph_t G = {.cap = NODES_PER_LAYER * arch->n_layers + 1};
    if (!(G.names = malloc((size_t)G.cap * sizeof *G.names)))
        return uh_error_set(err, UH_ENOMEM, "out of memory");
    const float one = 1.0f, zero = 0.0f, half = 0.5f;
    tensor(&G.g, "one", NULL, 0, &one, 1);
    tensor(&G.g, "zero", NULL, 0, &zero, 1);
    tensor(&G.g, "half", NULL, 0, &half, 1);
    char wname[16], bname[16];
    const char *x = "input";
    int spatial = 1;
    long offset = 0;
    float *qw = NULL;
    int rc = UH_OK;
    for (int i = 0; !rc && i < arch->n_layers; offset += arch->layers[i].params, i++) {
        const uh_layer_t *l = &arch->layers[i];
        if (l->type == UH_LAYER_POOL) {
            uh_strbuf_t attrs = {0};
            int64_t k[2] = {l->size, l->size}, s[2] = {l->stride, l->stride};
            attr_ints(&attrs, "kernel_shape", k, 2);
            attr_ints(&attrs, "strides", s, 2);
            x = node(&G, l->pool_kind == UH_POOL_MAX ? "MaxPool" : "AveragePool", &x, 1, &attrs);
            continue;
        }
        if (l->type == UH_LAYER_FLATTEN || (l->type == UH_LAYER_DENSE && spatial)) {
            uh_strbuf_t attrs = {0};
            attr_int(&attrs, "axis", 1);
            x = node(&G, "Flatten", &x, 1, &attrs);
            spatial = 0;
            if (l->type == UH_LAYER_FLATTEN) continue;
        }
        /* dense or conv2d: weights [rows × cols] then biases [rows], quantized as uhnas does */
        int rows = l->type == UH_LAYER_DENSE ? l->units : l->filters;
        size_t n_w = (size_t)(l->params - rows);
        free(qw);
        if (!(qw = malloc((n_w + 1) * sizeof *qw))) {
            rc = uh_error_set(err, UH_ENOMEM, "out of memory");
            break;
        }
        memcpy(qw, weights + offset, n_w * sizeof *qw);
        if (l->bits) uh_fake_quant(qw, n_w, l->bits);
        snprintf(wname, sizeof wname, "w%d", i);
        snprintf(bname, sizeof bname, "b%d", i);
        int64_t bdim[1] = {rows};
        tensor(&G.g, bname, bdim, 1, weights + offset + n_w, (size_t)rows);
        const char *in[3] = {x, wname, bname};
        uh_strbuf_t attrs = {0};
        if (l->type == UH_LAYER_DENSE) {
            int64_t wdim[2] = {rows, (int64_t)(n_w / (size_t)rows)};
            tensor(&G.g, wname, wdim, 2, qw, n_w);
            attr_int(&attrs, "transB", 1);
            x = node(&G, "Gemm", in, 3, &attrs);
        } else {
            int64_t wdim[4] = {rows, l->in_c, l->kernel, l->kernel};
            int64_t k[2] = {l->kernel, l->kernel}, s[2] = {l->stride, l->stride};
            int64_t p[4] = {l->padding, l->padding, l->padding, l->padding};
            tensor(&G.g, wname, wdim, 4, qw, n_w);
            attr_ints(&attrs, "kernel_shape", k, 2);
            attr_ints(&attrs, "strides", s, 2);
            attr_ints(&attrs, "pads", p, 4);
            x = node(&G, "Conv", in, 3, &attrs);
        }
        x = activation(&G, x, l->act);
        if (l->bits) x = quantize_outputs(&G, i, x, spatial ? 4 : 2, l->bits);
    }
    free(qw);
    const char *last = node_named(&G, "Identity", &x, 1, NULL, "logits");
    uh_strbuf_t model = {0}, opset = {0};
    if (!rc) {
        field_string(&G.g, 2, "uhnas"); /* GraphProto.name */
        int in_dims[3] = {arch->input.c, arch->input.h, arch->input.w};
        int out_dims[1] = {arch->input.n_classes};
        value_info(&G.g, 11, "input", in_dims, 3);
        value_info(&G.g, 12, last, out_dims, 1);
        field_int(&model, 1, IR_VERSION);
        field_string(&model, 2, "uhnas");
        field_string(&model, 3, UHNAS_VERSION);
        field_message(&model, 7, &G.g);
        field_string(&opset, 1, "");
        field_int(&opset, 2, OPSET);
        field_message(&model, 8, &opset);
    }
    if (!rc && G.next == G.cap) /* a layer made more nodes than NODES_PER_LAYER says */
        rc = uh_error_set(err, UH_ELIMIT, "onnx: more nodes than %d a layer", NODES_PER_LAYER);
    uh_strbuf_free(&G.g);
    free(G.names);
    if (!rc && model.oom) rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    if (rc) {
        uh_strbuf_free(&model);
        return rc;
    }
    *len = model.len;
    *bytes = model.buf;
    return UH_OK;
}
