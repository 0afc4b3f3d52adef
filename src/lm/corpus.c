/* The pretraining corpus file (see corpus.h). */
#include "corpus.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "uhnas/limits.h"
#include "uhnas/lm.h"

#define CORPUS_MAGIC "uhnas-lm-corpus 1 vocab"
#define CORPUS_LINE_MAX (UH_LANG_MAX_TOKENS * 6 + 16) /* tokens < 10^5, a space each */

int lm_corpus_write(const char *path, uh_lang_mode_t language, const lm_example_t *ex, int n,
                    uh_error_t *err) {
    /* written beside, then renamed: a reader never meets half a corpus */
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return uh_error_set(err, UH_EINVAL, "%s: path too long", path);
    /* zlib's gzip header has no name and mtime 0: the same examples give the same bytes */
    gzFile f = gzopen(tmp, "wb9");
    if (!f) return uh_error_set(err, UH_EIO, "%s: %s", tmp, strerror(errno));
    int ok = gzprintf(f, "%s %d\n", CORPUS_MAGIC, uh_lang_vocab_size(language)) > 0;
    for (int i = 0; ok && i < n; i++) {
        ok = gzprintf(f, "%d", ex[i].len) > 0;
        for (int t = 0; ok && t < ex[i].len; t++) ok = gzprintf(f, " %d", ex[i].tok[t]) > 0;
        ok = ok && gzputc(f, '\n') == '\n';
    }
    ok = gzclose(f) == Z_OK && ok;
    if (ok && rename(tmp, path) == 0) return UH_OK;
    int e = errno;
    unlink(tmp);
    return uh_error_set(err, UH_EIO, "%s: cannot write the corpus (%s)", path,
                        e ? strerror(e) : "compression failed");
}

/* One example line into ex; 0 or why not. */
static const char *parse_line(char *line, int vocab, int context, lm_example_t *ex) {
    char *p = line, *end;
    errno = 0;
    long len = strtol(p, &end, 10);
    if (end == p || errno) return "no length";
    if (len < 2 || len > context) return "length outside 2..context";
    for (long t = 0; t < len; t++) {
        p = end;
        if (*p != ' ') return "fewer tokens than its length";
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || v < 0 || v >= vocab) return "a token out of range";
        ex->tok[t] = (int)v;
    }
    if (*end != '\n' && *end != '\0') return "more than its length";
    ex->len = (int)len;
    return NULL;
}

int lm_corpus_read(const char *path, uh_lang_mode_t language, int context, lm_example_t **ex,
                   int *n, uh_error_t *err) {
    gzFile f = gzopen(path, "rb");
    if (!f) return uh_error_set(err, UH_EINVAL, "%s: %s", path, strerror(errno ? errno : ENOENT));
    char line[CORPUS_LINE_MAX + 2], want[64];
    snprintf(want, sizeof want, "%s %d\n", CORPUS_MAGIC, uh_lang_vocab_size(language));
    int rc = UH_OK, cap = *n, vocab = -1, end = 0;
    int got = gzgets(f, line, sizeof line) != NULL;
    /* the header of the other language's corpus: said so, with the option that reads it */
    int other =
        got && sscanf(line, CORPUS_MAGIC " %d%n", &vocab, &end) == 1 && !strcmp(line + end, "\n")
            ? uh_lang_of_vocab(vocab)
            : -1;
    if (other >= 0 && other != (int)language)
        rc = uh_error_set(err, UH_EFORMAT,
                          "%s: a corpus in the %s language, and the model writes %s (give "
                          "--llm-language %s to pretrain on it)",
                          path, uh_lm_language_names[other], uh_lm_language_names[language],
                          uh_lm_language_names[other]);
    else if (!got || strcmp(line, want) != 0)
        rc = uh_error_set(err, UH_EFORMAT,
                          "%s: not a corpus of this build (its first line must be \"%.*s\")", path,
                          (int)strlen(want) - 1, want);
    for (long no = 2; !rc && gzgets(f, line, sizeof line); no++) {
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            rc = uh_error_set(err, UH_EFORMAT, "%s:%ld: line too long", path, no);
            break;
        }
        if (*n >= UH_LM_MAX_CORPUS) {
            rc = uh_error_set(err, UH_EFORMAT, "%s: more than %d examples", path, UH_LM_MAX_CORPUS);
            break;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 1024;
            lm_example_t *grown = realloc(*ex, (size_t)cap * sizeof *grown);
            if (!grown) {
                rc = uh_error_set(err, UH_ENOMEM, "out of memory");
                break;
            }
            *ex = grown;
        }
        const char *why = parse_line(line, uh_lang_vocab_size(language), context, &(*ex)[*n]);
        if (why)
            rc = uh_error_set(err, UH_EFORMAT, "%s:%ld: %s", path, no, why);
        else
            (*n)++;
    }
    int zerr;
    const char *zmsg = gzerror(f, &zerr);
    if (!rc && zerr != Z_OK && zerr != Z_STREAM_END)
        rc = uh_error_set(err, UH_EFORMAT, "%s: damaged (%s)", path, zmsg);
    gzclose(f);
    return rc;
}
