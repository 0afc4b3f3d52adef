/* uhnas — the language of the built-in model: architectures as short token sequences, the
 * hardware and the wanted results as conditioning tokens, and a grammar that says which
 * tokens may come next, so constrained sampling only ever writes architectures that parse.
 *
 * A training example (or a prompt, up to SEP_CHILD):
 *   BOS  HW_* (5 tokens: physics, precision, noise, cost per MAC, tiles)
 *        SEP_TGT ACC_a NOISY_n ENERGY_e
 *        SEP_PARENT <architecture>   (optional; twice for a child of two parents)
 *        SEP_CHILD  <architecture> EOS    (or, in edits, <edits> EOS)
 * An architecture: per conv layer  CONV F<filters> K<kernel> S<stride> P0|PH A<act> B<bits>
 * T<tile> [POOLMAX|POOLAVG Z<size>], per hidden dense layer  DENSE U<units> A B T, then the
 * output layer  OUT A B T. Values come from fixed lists (a superset of the search space's),
 * so the vocabulary is the same for every backend and runs can teach each other.
 *
 * Two languages write the child (uh_lang_mode_t). LAYERS writes it in full. EDITS writes it
 * against the parents in context: at each layer COPY<k> takes parent k's next layer as it is,
 * SKIP<k> passes over it, and any other layer is written in full; what is left of a parent
 * after the output layer is dropped. A mutation is then a few tokens, not the whole network
 * again, and a crossover of two parents is COPY1 ... SKIP2 ... COPY2. A child without parents
 * in context is written in full in both. EDITS' vocabulary is LAYERS' and the four edit
 * tokens after it, so a LAYERS model (the shipped prior, a corpus) keeps its ids. */
#ifndef UHNAS_ARCHLANG_H
#define UHNAS_ARCHLANG_H

#include "uhnas/arch.h"
#include "uhnas/backend.h"
#include "uhnas/gpt.h"
#include "uhnas/limits.h"
#include "uhnas/rng.h"

#define UH_LANG_BUCKETS 10 /* accuracy, noisy accuracy and energy targets */

typedef enum { UH_LANG_LAYERS, UH_LANG_EDITS } uh_lang_mode_t;

/* The vocabulary: token ids and their printable names. */
int uh_lang_vocab_size(uh_lang_mode_t mode);
/* The language whose vocabulary has `vocab` tokens (a checkpoint's, a corpus's), or −1. */
int uh_lang_of_vocab(int vocab);
void uh_lang_token_name(int token, char *buf, size_t size);

enum {
    UH_TOK_PAD,
    UH_TOK_BOS,
    UH_TOK_EOS,
    UH_TOK_SEP_TGT,
    UH_TOK_SEP_PARENT,
    UH_TOK_SEP_CHILD,
};

/* Hardware tokens of a backend (5 tokens into out): its physics kind, weight precision,
 * noise level (uh_backend_noise_level, bucketed at 0.01, 0.05 and 0.2), energy per MAC
 * (decades from 0.1 pJ) and tile limit. Fails only when the noise simulation does. */
int uh_lang_hardware(const uh_backend_t *b, int *out, uh_error_t *err);
/* Target tokens for accuracy, noisy accuracy in [0, 1] and normalised energy (the search's
 * log10(E / E_lin) / 4, clipped to [0, 1]): 3 tokens into out. */
void uh_lang_targets(double accuracy, double noisy, double energy01, int *out);

/* Appends arch's tokens; returns how many, or −1 when a value is outside the vocabulary. */
int uh_lang_encode_arch(const uh_arch_t *arch, int *out, int cap);

/* A whole example: BOS, the 5 hardware tokens, SEP_TGT, the 3 targets, for each of its
 * n_parents parents (0..UH_LANG_MAX_PARENTS; none for a candidate without, e.g. a random
 * sample) SEP_PARENT and its architecture, then SEP_CHILD, the architecture in the mode's
 * language (in EDITS the shortest edits of the parents that write it: fewest tokens, ties to
 * COPY, then SKIP, then a layer in full), EOS. Returns its length, or −1 (a value outside the
 * vocabulary, too long). With arch NULL, the prompt alone (up to SEP_CHILD). */
int uh_lang_example(const int *hardware, const int *targets, const uh_arch_t *const *parents,
                    int n_parents, const uh_arch_t *arch, uh_lang_mode_t mode, int *out, int cap);

/* The grammar, token by token. Limits from the backend's constraints and the input shape. */
typedef struct {
    uh_shape_t input;
    unsigned activations; /* allowed (bit per uh_act_t) */
    int min_bits, max_bits, min_tile, max_tile, max_units, max_filters, max_kernel;
    int allow_conv, allow_pool, out_act_none;
    long max_params, max_macs;
    /* decoding state */
    int field;   /* what the next token is (internal) */
    int c, h, w; /* shape so far */
    int n_conv, n_dense, done;
    long params, macs; /* so far */
    uh_arch_t arch;    /* what has been written */
    /* EDITS: the parents' tokens, where each of their layers starts (and the end), the next
     * layer of each to copy or skip */
    int n_parents;
    int parent_tok[UH_LANG_MAX_PARENTS][UH_LANG_MAX_TOKENS];
    int layer_at[UH_LANG_MAX_PARENTS][UH_ARCH_MAX_LAYERS + 1];
    int n_parent_layers[UH_LANG_MAX_PARENTS], next_layer[UH_LANG_MAX_PARENTS];
    int copied; /* COPY tokens taken */
} uh_lang_grammar_t;

/* A grammar for LAYERS; uh_lang_grammar_parents then makes it EDITS'. */
void uh_lang_grammar_init(uh_lang_grammar_t *g, const uh_backend_t *b, uh_shape_t input);
/* The parents (1..UH_LANG_MAX_PARENTS) the child is written against, before any token; −1
 * when one is outside the vocabulary or there are too many. */
int uh_lang_grammar_parents(uh_lang_grammar_t *g, const uh_arch_t *const *parents, int n);
/* allowed[v] = 1 for the tokens that may come next (v < EDITS' vocab size, which allowed
 * must hold); returns their count. COPY<k> only where parent k's next layer may come next. */
int uh_lang_allowed(const uh_lang_grammar_t *g, unsigned char *allowed);
/* Takes one token (which must be allowed); returns 0, or −1 when it was not. */
int uh_lang_push(uh_lang_grammar_t *g, int token);
/* After EOS: the architecture written, resolved against the input (UH_OK), or why not. */
int uh_lang_result(uh_lang_grammar_t *g, uh_arch_t *out, uh_error_t *err);

/* Samples an architecture from model after prefix[0..n_prefix) (which ends with SEP_CHILD),
 * token by token at the temperature, with every token the grammar forbids masked out, so
 * the result always parses. *g must be freshly initialised; it holds the result after. The
 * whole sequence goes to tokens (cap UH_LANG_MAX_TOKENS); returns its length, or −1 when
 * the context ran out before EOS. Decoding uses the model's key-value cache. */
int uh_lang_sample(uh_gpt_t *model, const int *prefix, int n_prefix, uh_lang_grammar_t *g,
                   double temperature, uh_rng_t *rng, int *tokens);

#endif
