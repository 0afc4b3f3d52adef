/* uhnas — a growable text buffer. Appends never fail loudly: the first allocation failure
 * sets `oom` and later appends do nothing, so a caller checks once at the end. */
#ifndef UHNAS_STRBUF_H
#define UHNAS_STRBUF_H

#include <stddef.h>

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

#endif
