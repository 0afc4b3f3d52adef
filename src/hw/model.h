/* Private to src/hw: what a physics model needs to read its numbers and the list of models.
 * Backend files are hostile input: every reader checks type, range and the source note. */
#ifndef UHNAS_HW_MODEL_H
#define UHNAS_HW_MODEL_H

#include <cjson/cJSON.h>

#include "uhnas/backend.h"
#include "uhnas/json.h"

/* The models compiled in; backend.c keeps the registry. */
extern const uh_backend_model_t uh_model_digital;
extern const uh_backend_model_t uh_model_mzi;
extern const uh_backend_model_t uh_model_crossbar;

/* A model reads its "params" with uh_json_read(params, "params", FIELDS, state,
 * UH_JSON_SOURCED, err): every number carries its source. */

/* Values a dense/conv layer presents to hardware, per inference:
 * rows = output features, cols = input features (im2col width for conv), passes = how many
 * matrix-vector products one inference needs (1 for dense, out_h·out_w for conv). */
typedef struct {
    int rows, cols;
    long passes;
} hw_mvm_t;

/* 1 and fills m when layer i is a dense/conv layer, 0 otherwise. */
int hw_layer_mvm(const uh_arch_t *arch, int i, hw_mvm_t *m);

/* v as JSON that reads back as the same double (cJSON's own printing rounds to 15 digits
 * when that is within its tolerance): the programming files (docs/programming.md). With
 * float_value v is a float, and 9 digits do. Not finite: null. */
cJSON *hw_json_exact(double v, int float_value);
cJSON *hw_json_exact_array(const double *v, int n);

/* A programming file (docs/programming.md): {"format": format, "version": 1, ...} to which
 * the model adds its header, then hw_program_write adds "layers": per dense/conv layer an
 * object with "layer", "type" and "bias" (exact floats) that layer_fn completes from the
 * layer's weight matrix W (m->rows × m->cols, the .uhw order), and prints it into *json
 * (root is consumed). */
typedef int (*hw_program_layer_fn)(const void *state, const uh_layer_t *l, const hw_mvm_t *m,
                                   const float *W, cJSON *layer, uh_error_t *err);
cJSON *hw_program_root(const char *format);
int hw_program_write(cJSON *root, const void *state, const uh_arch_t *arch, const float *weights,
                     hw_program_layer_fn layer_fn, char **json, uh_error_t *err);

/* A layer's converter resolution: its "bits", else the file's (0 = ideal converters). */
int hw_layer_bits(const uh_layer_t *l, int file_bits);

/* Energy of one conversion at `bits` relative to the file's figure, quoted at file_bits:
 * 2^(bits − file_bits) (a constant Walden figure of merit; Murmann's ADC survey). 1 when the
 * file's converter is ideal (file_bits 0). */
double hw_converter_scale(int bits, int file_bits);

/* Count of elementwise activation evaluations and pooling window reads of layer i, per
 * inference (0 when the layer has none). */
long hw_layer_activations(const uh_arch_t *arch, int i);
long hw_layer_pool_reads(const uh_arch_t *arch, int i);

/* Shared signal helpers for the simulators (src/hw/signal.c). Large buffers are processed in
 * chunks of HW_CHUNK values, each with its own random stream (seed, chunk index): parallel
 * under OpenMP, and the same numbers for any thread count. */
#define HW_CHUNK 4096L

float hw_max_abs(const float *x, size_t n);

/* x += N(0, sigma^2) elementwise, seeded by one draw from rng. fast = 1 draws the sum of four
 * uniform bytes (Irwin-Hall) scaled to unit variance: Gaussian but for tails cut at 3.45 sigma
 * and steps of sigma/148, with no logarithm and no rejection, 32 random bits a value --
 * noise injection in training regularises through its variance, and it runs on every batch.
 * fast = 0 draws true normals (evaluation; Box–Muller in blocks, src/hw/gauss.h). */
void hw_add_normal(float *x, size_t n, float sigma, uh_rng_t *rng, int fast);

/* An ADC reading a layer's pre-activation outputs z (a batch): the range is the batch's max |z|
 * (an ideally ranged converter), z is rounded to 2^(bits-1)-1 levels each side (bits 0 = no
 * rounding), then each value gets Gaussian noise. Each output is the digital sum of
 * `conversions` ADC readings (one per row-tile or input block), so the noise variance is
 * conversions * (sigma_abs^2 + (sigma_rel * FS)^2) plus (conversions - 1) * LSB^2 / 12 for the
 * other readings' rounding. *lo and *hi receive the converted values' range. rng NULL = no
 * noise. */
void hw_convert_outputs(float *z, size_t count, int bits, double sigma_abs, double sigma_rel,
                        int conversions, uh_rng_t *rng, int fast, float *lo, float *hi);

/* The same ADC reading outputs that are each the digital sum of `conversions` blocks' partial
 * sums, every block converted at its own full scale (an optical block's receiver and ADC are
 * ranged to that block's outputs). A block's full scale is estimated from the batch's max |z|
 * as max|z| / sqrt(conversions), the spread of a sum of that many independent partial sums of
 * equal scale: each conversion rounds to 2^(bits-1)-1 levels of it and adds N(0, (sigma_rel ·
 * FS_block)^2), so the sum's noise variance is conversions · (sigma_rel · FS_block)^2 =
 * (sigma_rel · max|z|)^2 and its rounding conversions · LSB_block^2 / 12. */
void hw_convert_blocks(float *z, size_t count, int bits, double sigma_rel, int conversions,
                       uh_rng_t *rng, int fast, float *lo, float *hi);

/* The largest |act(z)| over z in [lo, hi]: |act| peaks at an end of the range for every
 * activation. */
float hw_act_max(uh_act_t act, float lo, float hi);

/* The root mean square of x (0 for n = 0), accumulated in double; the same for any thread
 * count. */
float hw_rms(const float *x, size_t n);

/* Noise-aware training's stand-in for a model's weight physics: one relative σ such that
 * w + N(0, (σ·S(W))²) has the hardware's error variance, S = max|W| or RMS(W) (whichever the
 * physics scales with: a crossbar maps the layer's max |w| to G_max; an MZI block's error
 * follows its own largest singular value, which tracks RMS(W), not a large layer's max).
 * Measured by running the model's own EVAL perturbation (the hook's perturb_weights, called
 * with `layer`) on a rows × cols matrix of standard normals drawn from `seed` (trained weights
 * are bell-shaped), over `samples` hardware samples (sample t draws stream (seed, t + 1)):
 * σ = RMS(w_hw − w) ÷ S(w). Below 1e-6 (float rounding of an exact mapping) it is 0:
 * noiseless hardware. The same seed gives the same σ on every run and thread count. */
typedef enum { HW_SCALE_MAX, HW_SCALE_RMS } hw_scale_t;
typedef void (*hw_perturb_fn)(void *ctx, int layer, float *w, int rows, int cols, uh_rng_t *rng);
int hw_calibrate_weight_noise(hw_perturb_fn perturb, void *ctx, int layer, int rows, int cols,
                              int samples, uint64_t seed, hw_scale_t scale, float *sigma,
                              uh_error_t *err);

#endif
