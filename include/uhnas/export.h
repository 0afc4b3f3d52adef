/* uhnas — taking a found network into other tools.
 *
 * Formats:
 *   pytorch  Python source of a torch.nn.Module that computes what uhnas computes (same
 *            layers, activations, the same fake quantization for layers with "bits"), with
 *            a loader for uhnas weight files;
 *   json     the resolved architecture: per layer its shapes, parameter shapes, params and
 *            MACs (and the weights, when given, as float32-exact decimals);
 *   csv      one row per layer;
 *   onnx     an ONNX model with the weights (uh_export_onnx).
 *
 * Weight file (".uhw"): the 8 bytes "UHNASWT1", the parameter count as an unsigned 64-bit
 * little-endian integer, then that many IEEE-754 float32 values, little-endian. Order: layer
 * by layer, each layer's weights then its biases. Weights are laid out as PyTorch's: dense
 * [units × inputs], conv2d [filters × channels × kernel × kernel]; a dense layer after a
 * spatial one reads its input flattened channel-major (C, H, W), as torch.flatten does. */
#ifndef UHNAS_EXPORT_H
#define UHNAS_EXPORT_H

#include <stddef.h>

#include "uhnas/arch.h"
#include "uhnas/error.h"

typedef enum { UH_EXPORT_PYTORCH, UH_EXPORT_JSON, UH_EXPORT_CSV } uh_export_format_t;

int uh_export_format_parse(const char *name, uh_export_format_t *out); /* UH_EINVAL if unknown */

/* The text of arch (resolved) in format f; weights (n = arch->params floats) may be NULL.
 * For pytorch, the file named like weights_path (may be NULL) in the module's own directory is
 * what the generated code loads by default (export writes it there), and preprocess() scales
 * uint8 images as uhnas does (/ 255). *text is malloc'd (caller frees). */
int uh_export(const uh_arch_t *arch, const float *weights, size_t n_weights, uh_export_format_t f,
              const char *weights_path, char **text, uh_error_t *err);

/* arch with its weights (n = arch->params floats, required) as an ONNX model (opset 13): input
 * "input" [N, C, H, W] (pixels / 255), output "logits" [N, classes]; weights of layers with
 * "bits" quantized as uhnas quantizes them, their outputs quantized per sample in the graph
 * (src/export/onnx.c). *bytes (malloc'd, *len bytes) is binary protobuf. */
int uh_export_onnx(const uh_arch_t *arch, const float *weights, size_t n, char **bytes, size_t *len,
                   uh_error_t *err);

/* Weight files (format above), written atomically; reading checks magic, count and size. */
int uh_weights_write(const char *path, const float *w, size_t n, uh_error_t *err);
int uh_weights_read(const char *path, float **w, size_t *n, uh_error_t *err);

#endif
