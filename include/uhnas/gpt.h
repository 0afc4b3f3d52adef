/* uhnas — a small GPT-style decoder in C, the core of the built-in language model.
 *
 * Token and position embeddings, L blocks of (layer norm → causal multi-head self-attention
 * → residual, layer norm → MLP with GELU → residual), a final layer norm and an output head
 * tied to the token embedding. Forward and backward are plain loops and SGEMMs in the style
 * of karpathy's llm.c; training is AdamW with global gradient-norm clipping. Everything is
 * single-threaded and seeded, so the same seed gives the same model on the same CPU and BLAS
 * build (OpenBLAS picks its SGEMM kernel for the CPU at run time).
 *
 * Shapes: B sequences of T ≤ max_t tokens; C channels; H heads of C / H; V tokens. */
#ifndef UHNAS_GPT_H
#define UHNAS_GPT_H

#include <stddef.h>
#include <stdint.h>

#include "uhnas/error.h"

typedef struct {
    int vocab;  /* V */
    int max_t;  /* context length */
    int layers; /* L */
    int heads;  /* H, divides channels */
    int channels;
} uh_gpt_config_t;

typedef struct uh_gpt uh_gpt_t;

/* A model for batches of up to max_b sequences; weights from seed (normal, sd 0.02, the
 * residual projections scaled by 1/sqrt(2L), as GPT-2). */
uh_gpt_t *uh_gpt_new(const uh_gpt_config_t *cfg, int max_b, uint64_t seed, uh_error_t *err);
void uh_gpt_free(uh_gpt_t *m);

size_t uh_gpt_n_params(const uh_gpt_t *m);
int uh_gpt_max_t(const uh_gpt_t *m);
float *uh_gpt_params(uh_gpt_t *m);
float *uh_gpt_grads(uh_gpt_t *m);
/* Parameter tensor i (0, 1, … while it returns 0; -1 past the last): its name ("wte", "qkvw",
 * …, as in llm.c) and the floats [offset, offset + count) it holds in uh_gpt_params and
 * uh_gpt_grads. For tests and tools that look inside a model without knowing its layout. */
int uh_gpt_tensor(const uh_gpt_t *m, int i, const char **name, size_t *offset, size_t *count);

/* Forward pass of tokens [B × T]; with targets (same shape; −1 = no loss at that position)
 * returns the mean cross-entropy over the counted positions, else 0. Logits of position
 * (b, t) are at uh_gpt_logits(m) + (b·T + t)·V until the next call. */
float uh_gpt_forward(uh_gpt_t *m, const int *tokens, const int *targets, int B, int T);
const float *uh_gpt_logits(const uh_gpt_t *m);

/* Backward pass of the last forward (which had targets): fills the gradients (overwritten). */
void uh_gpt_backward(uh_gpt_t *m);

typedef struct {
    float lr, beta1, beta2, eps, weight_decay; /* decay on matrices only, not biases/norms */
    float clip;                                /* global gradient-norm cap; 0 = none */
} uh_adamw_t;

/* Cached decoding of one sequence, a token at a time: the logits (V floats, valid until the
 * next call) of position pos after token. Position 0 starts a sequence; pos must be at most
 * the number of positions decoded since (keys and values of earlier positions are kept, so
 * a token costs O(pos) instead of a whole forward pass). A training step forgets the cache.
 * NULL for a bad token or position. Same numbers as uh_gpt_forward up to float rounding. */
const float *uh_gpt_decode(uh_gpt_t *m, int token, int pos);

/* lr 3e-4, betas 0.9/0.95, eps 1e-8, weight decay 0.1, clip 1. */
void uh_adamw_default(uh_adamw_t *o);
/* One AdamW step; returns the gradient norm before clipping. */
float uh_gpt_step(uh_gpt_t *m, const uh_adamw_t *o);

/* Checkpoints: weights, AdamW moments and step count, so training continues exactly where it
 * stopped. Written atomically (uhnas/fileio.h); a load checks magic, byte order, size and a
 * CRC-32, and refuses damage with the file's name. Given `want`, a load also refuses a
 * checkpoint of another shape before allocating anything for it (its header could ask for
 * activations far larger than the file: a long context with few weights). */
const uh_gpt_config_t *uh_gpt_config(const uh_gpt_t *m);
int uh_gpt_save(const uh_gpt_t *m, const char *path, uh_error_t *err);
/* The weights alone (a third of the size): a model loaded from it trains as from fresh
 * weights, AdamW's moments and steps at 0 (a prior, uhnas/lm.h). */
int uh_gpt_save_weights(const uh_gpt_t *m, const char *path, uh_error_t *err);
uh_gpt_t *uh_gpt_load(const char *path, int max_b, const uh_gpt_config_t *want, uh_error_t *err);
/* The same from a file's bytes already read (name: what errors call it). */
uh_gpt_t *uh_gpt_load_bytes(const void *bytes, size_t len, const char *name, int max_b,
                            const uh_gpt_config_t *want, uh_error_t *err);

#endif
