/* Private to src/hw: what a physics model needs to read its numbers and the list of models.
 * Backend files are hostile input: every reader checks type, range and the source note. */
#ifndef UHNAS_HW_MODEL_H
#define UHNAS_HW_MODEL_H

#include <cjson/cJSON.h>

#include "uhnas/backend.h"

/* The models compiled in; backend.c keeps the registry. */
extern const uh_backend_model_t uh_model_digital;
extern const uh_backend_model_t uh_model_mzi;
extern const uh_backend_model_t uh_model_crossbar;

/* Reads obj[key] = {"value": number, "source": "non-empty text"} into *out, checking
 * lo <= value <= hi. Absent: *out = dflt when !required, else an error. Errors name the
 * key, e.g. "params.laser_efficiency: must be in 0.01..1, got 3". `where` prefixes it. */
int hw_number(const cJSON *obj, const char *where, const char *key, double lo, double hi,
              int required, double dflt, double *out, uh_error_t *err);

/* Same for a number that must be an integer. */
int hw_integer(const cJSON *obj, const char *where, const char *key, int lo, int hi, int required,
               int dflt, int *out, uh_error_t *err);

/* Reads obj[key] = "one of choices" (plain string, no source needed) into *out (index). */
int hw_choice(const cJSON *obj, const char *where, const char *key, const char *const *choices,
              int n, int required, int dflt, int *out, uh_error_t *err);

/* Refuses keys of obj outside allowed[0..n) (a typo must not silently drop a number). */
int hw_check_keys(const cJSON *obj, const char *where, const char *const *allowed, int n,
                  uh_error_t *err);

/* Values a dense/conv layer presents to hardware, per inference:
 * rows = output features, cols = input features (im2col width for conv), passes = how many
 * matrix-vector products one inference needs (1 for dense, out_h·out_w for conv). */
typedef struct {
    int rows, cols;
    long passes;
} hw_mvm_t;

/* 1 and fills m when layer i is a dense/conv layer, 0 otherwise. */
int hw_layer_mvm(const uh_arch_t *arch, int i, hw_mvm_t *m);

/* Count of elementwise activation evaluations and pooling window reads of layer i, per
 * inference (0 when the layer has none). */
long hw_layer_activations(const uh_arch_t *arch, int i);
long hw_layer_pool_reads(const uh_arch_t *arch, int i);

/* Shared signal helpers for the simulators. */
float hw_max_abs(const float *x, size_t n);
/* Rounds to 2^(bits-1)-1 levels each side of zero over [-full_scale, full_scale], clipping
 * outside; bits <= 0 or >= 32 leaves x unchanged. */
void hw_quantize_symmetric(float *x, size_t n, int bits, float full_scale);
void hw_add_gaussian(float *x, size_t n, float sigma, uh_rng_t *rng);

#endif
