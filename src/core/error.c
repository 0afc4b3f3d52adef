#include "uhnas/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int uh_error_set(uh_error_t *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

int uh_error_prefix(uh_error_t *err, const char *fmt, ...) {
    if (!err) return UH_OK;
    /* Room for both whole parts, then cut to the message size: truncation is acceptable,
     * a lost prefix is not, so the prefix goes first. */
    char prefix[UH_ERROR_MSG_MAX], joined[2 * UH_ERROR_MSG_MAX + 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    snprintf(joined, sizeof joined, "%s: %s", prefix, err->msg);
    memcpy(err->msg, joined, sizeof err->msg - 1);
    err->msg[sizeof err->msg - 1] = '\0';
    return err->code;
}

void uh_error_clear(uh_error_t *err) {
    if (!err) return;
    err->code = UH_OK;
    err->msg[0] = '\0';
}

const char *uh_error_name(int code) {
    static const char *const names[] = {[UH_OK] = "ok",
                                        [UH_EINVAL] = "invalid input",
                                        [UH_ENOMEM] = "out of memory",
                                        [UH_EIO] = "i/o error",
                                        [UH_EFORMAT] = "corrupt data",
                                        [UH_ELIMIT] = "limit exceeded",
                                        [UH_ENOTFOUND] = "not found",
                                        [UH_EINTR] = "interrupted"};
    return (unsigned)code < sizeof names / sizeof *names && names[code] ? names[code]
                                                                        : "unknown error";
}
