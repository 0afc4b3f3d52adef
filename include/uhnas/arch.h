/* uhnas — the architecture description (the genome).
 *
 * An architecture is a JSON object {"layers":[...]}: an ordered list of layers that a
 * language model can read and write. It is data, never code. The parser is strict (unknown
 * keys, wrong types, bad sizes and shapes that do not fit are errors naming the layer and
 * field) and bounded (the UH_ARCH_ limits in uhnas/limits.h), so hostile text cannot exhaust
 * memory.
 *
 * Layer objects:
 *   {"type":"dense",  "units":U, "activation":A?, "bits":B?, "tile":T?}
 *   {"type":"conv2d", "filters":F, "kernel":K, "stride":S?(1), "padding":P?(0|"valid"|"same"),
 *                     "activation":A?, "bits":B?, "tile":T?}
 *   {"type":"pool",   "kind":"max"|"avg", "size":K, "stride":S?(=size)}
 *   {"type":"flatten"}   (optional: a dense layer after a spatial one flattens implicitly)
 * Layers are numbered from 1 in messages.
 * Activations: none (default), relu, leaky_relu, tanh, sigmoid, abs, square. The last two are
 * the nonlinearities an optical detector gives for free (|x| from amplitude, x² from intensity).
 * "bits" (2..16) asks for that weight/activation precision; absent or 32 means full precision.
 * "tile" (2..1024) is a mesh/crossbar tile size hint for hardware backends; absent = backend
 * default. The last layer must be dense with units = number of classes. */
#ifndef UHNAS_ARCH_H
#define UHNAS_ARCH_H

#include <stddef.h>
#include <stdint.h>

#include "uhnas/error.h"
#include "uhnas/limits.h"

typedef enum { UH_LAYER_DENSE, UH_LAYER_CONV2D, UH_LAYER_POOL, UH_LAYER_FLATTEN } uh_layer_type_t;

typedef enum {
    UH_ACT_NONE,
    UH_ACT_RELU,
    UH_ACT_LEAKY_RELU, /* slope 0.01 for x < 0 */
    UH_ACT_TANH,
    UH_ACT_SIGMOID,
    UH_ACT_ABS,
    UH_ACT_SQUARE,
    UH_ACT_COUNT
} uh_act_t;

typedef enum { UH_POOL_MAX, UH_POOL_AVG } uh_pool_kind_t;

/* Input tensor shape (channels, height, width) and the number of classes. */
typedef struct {
    int c, h, w;
    int n_classes;
} uh_shape_t;

typedef struct {
    uh_layer_type_t type;
    /* spec, as written (defaults filled in) */
    int units;                /* dense */
    int filters, kernel;      /* conv2d */
    int stride, padding;      /* conv2d, pool */
    uh_pool_kind_t pool_kind; /* pool */
    int size;                 /* pool window */
    uh_act_t act;
    int bits; /* 0 = full precision */
    int tile; /* 0 = backend default */
    /* derived by uh_arch_resolve */
    int in_c, in_h, in_w;
    int out_c, out_h, out_w;
    long params; /* weights + biases */
    long macs;   /* multiply-accumulates per inference */
} uh_layer_t;

typedef struct {
    int n_layers;
    uh_layer_t layers[UH_ARCH_MAX_LAYERS];
    uh_shape_t input; /* set by uh_arch_resolve */
    long params, macs;
} uh_arch_t;

/* parse and validate */

/* Parses JSON text (not necessarily NUL-terminated; len bytes) into arch and resolves it
 * against the input shape. On error returns non-zero with a message such as
 * "layer 2 (conv2d): field \"kernel\": must be an integer in 1..11, got 0". */
int uh_arch_parse(const char *json, size_t len, uh_shape_t input, uh_arch_t *arch, uh_error_t *err);

/* Computes every layer's shapes, params and MACs from its spec and checks that shapes fit
 * and limits hold. Called by uh_arch_parse; call it yourself after editing layers in C. */
int uh_arch_resolve(uh_arch_t *arch, uh_shape_t input, uh_error_t *err);

/* canonical form and identity */

/* Writes the canonical JSON (fixed key order, every default explicit, no whitespace,
 * flatten layers dropped) into buf. Two descriptions of the same network give the same
 * bytes. Returns the length, or -1 if cap is too small. */
int uh_arch_canonical(const uh_arch_t *arch, char *buf, size_t cap);

/* 64-bit FNV-1a of the canonical form, as 16 lowercase hex digits plus NUL. At a few
 * thousand candidates per run the collision chance is ~1e-12. */
void uh_arch_hash(const uh_arch_t *arch, char out[17]);

/* names */

const char *uh_act_name(uh_act_t act);
const char *uh_layer_type_name(uh_layer_type_t type);
/* One line per layer: type, spec, output shape, params, MACs. Returns bytes written or -1. */
int uh_arch_describe(const uh_arch_t *arch, char *buf, size_t cap);

#endif
