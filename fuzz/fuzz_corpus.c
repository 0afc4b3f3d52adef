/* The built-in model's pretraining corpus (uhnas pretrain --corpus): lm_corpus_read. The first
 * byte's bit 0 chooses the reading model's language (layers or edits, whose vocabularies
 * differ); the rest is the file (plain text, as gzopen reads it, or gzip). Whatever is read must
 * hold what the reader promises: lengths in 2..context, tokens in the language's vocabulary. */
#include "../src/lm/corpus.h"
#include "fuzz.h"

#define CONTEXT 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const uh_lang_mode_t language = data[0] & 1 ? UH_LANG_EDITS : UH_LANG_LAYERS;
    const char *path = fuzz_write("corpus.gz", data + 1, size - 1);
    lm_example_t *ex = NULL;
    int n = 0;
    uh_error_t err = {0};
    if (lm_corpus_read(path, language, CONTEXT, &ex, &n, &err) == 0)
        for (int i = 0; i < n; i++) {
            if (ex[i].len < 2 || ex[i].len > CONTEXT) __builtin_trap();
            for (int t = 0; t < ex[i].len; t++)
                if (ex[i].tok[t] < 0 || ex[i].tok[t] >= uh_lang_vocab_size(language))
                    __builtin_trap();
        }
    free(ex);
    return 0;
}
