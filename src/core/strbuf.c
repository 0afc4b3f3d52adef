/* The growable text buffer (uhnas/strbuf.h). */
#include "uhnas/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void uh_strbuf_put(uh_strbuf_t *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n + 1 > cap) cap *= 2;
        char *bigger = realloc(b->buf, cap);
        if (!bigger) {
            b->oom = 1;
            return;
        }
        b->buf = bigger;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

void uh_strbuf_puts(uh_strbuf_t *b, const char *s) {
    uh_strbuf_put(b, s, strlen(s));
}

void uh_strbuf_putf(uh_strbuf_t *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        uh_strbuf_put(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    uh_strbuf_put(b, big, (size_t)n);
    free(big);
}

char *uh_strbuf_take(uh_strbuf_t *b) {
    char *s = b->oom ? NULL : b->buf ? b->buf : strdup("");
    if (b->oom) free(b->buf);
    *b = (uh_strbuf_t){0};
    return s;
}

void uh_strbuf_free(uh_strbuf_t *b) {
    free(b->buf);
    *b = (uh_strbuf_t){0};
}
