/* The built-in model's pretraining corpus (internal to src/lm): measured candidates as
 * training examples, already in tokens (uhnas/archlang.h: hardware, targets, parent → child),
 * so that a checkpoint can be rebuilt from the corpus alone, without the runs it came from.
 *
 * A gzip-compressed text file:
 *
 *   uhnas-lm-corpus 1 vocab V
 *   LEN TOKEN TOKEN ...            one example per line, LEN tokens, each in [0, V)
 *
 * V is the vocabulary of the language the examples are in (uh_lang_vocab_size: the children in
 * full, or as edits). Reading is strict (the file is input): the header must match the
 * reading model's vocabulary (the other language's is refused as such), every line must hold
 * exactly LEN tokens in range with 2 ≤ LEN ≤ context, and at most UH_LM_MAX_CORPUS examples;
 * anything else is refused with the file and line named. */
#ifndef UHNAS_LM_CORPUS_H
#define UHNAS_LM_CORPUS_H

#include "uhnas/archlang.h"
#include "uhnas/error.h"

typedef struct {
    int len;
    int tok[UH_LANG_MAX_TOKENS];
} lm_example_t;

int lm_corpus_write(const char *path, uh_lang_mode_t language, const lm_example_t *ex, int n,
                    uh_error_t *err);
/* Appends the file's examples to *ex (realloc'd; *n counts them). */
int lm_corpus_read(const char *path, uh_lang_mode_t language, int context, lm_example_t **ex,
                   int *n, uh_error_t *err);

#endif
