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

/* The optimal-string-alignment distance of a and b (both at most UH_NEAREST_MAX long). */
static int edit_distance(const char *a, size_t la, const char *b, size_t lb) {
    int d[UH_NEAREST_MAX + 1][UH_NEAREST_MAX + 1];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

const char *uh_nearest(const char *word, const char *const *names, int n) {
    size_t lw = strlen(word);
    if (lw > UH_NEAREST_MAX) return NULL;
    int limit = lw <= 4 ? 1 : lw <= 8 ? 2 : 3, best = limit + 1;
    const char *found = NULL;
    for (int i = 0; i < n; i++) {
        size_t ln = names[i] ? strlen(names[i]) : UH_NEAREST_MAX + 1;
        if (ln > UH_NEAREST_MAX) continue;
        int dist = edit_distance(word, lw, names[i], ln);
        /* more alike than not: one letter is no typo of another */
        if (dist < best && 2 * dist < (int)(lw > ln ? lw : ln)) best = dist, found = names[i];
    }
    return found;
}

void uh_strbuf_free(uh_strbuf_t *b) {
    free(b->buf);
    *b = (uh_strbuf_t){0};
}
