/* uhnas — a growable text buffer, and the nearest name for "did you mean". Appends never fail
 * loudly: the first allocation failure sets `oom` and later appends do nothing, so a caller checks
 * once at the end. */
#ifndef UHNAS_STRBUF_H
#define UHNAS_STRBUF_H

#include <stddef.h>

#include "uhnas/limits.h"

typedef struct {
    char *buf; /* NUL-terminated once anything was appended; NULL before */
    size_t len, cap;
    int oom;
} uh_strbuf_t;

void uh_strbuf_put(uh_strbuf_t *b, const char *s, size_t n);
void uh_strbuf_puts(uh_strbuf_t *b, const char *s);
void uh_strbuf_putf(uh_strbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The text, handed over (caller frees): "" when empty, NULL after an allocation failure. */
char *uh_strbuf_take(uh_strbuf_t *b);
void uh_strbuf_free(uh_strbuf_t *b);

/* The name among names[0..n) closest to word by edit distance (insertions, deletions,
 * substitutions and swaps of neighbours), when close enough to be a typo of it: at most 1
 * edit for a word of up to 4 characters, 2 up to 8, 3 beyond, and fewer edits than half the
 * longer one's length; the first of equals; NULL otherwise (or when a word is longer than
 * UH_NEAREST_MAX). For "did you mean" in messages. */
const char *uh_nearest(const char *word, const char *const *names, int n);

#endif
