/* uhnas — errors travel as values.
 *
 * Every function that can fail returns an int status (UH_OK on success) and fills an
 * optional uh_error_t with a one-line, human-readable message. Deep code never prints
 * and never exits; the CLI decides what the user sees. */
#ifndef UHNAS_ERROR_H
#define UHNAS_ERROR_H

#include <stddef.h>

#include "uhnas/limits.h"

enum {
    UH_OK = 0,
    UH_EINVAL = 1,    /* bad argument or malformed input (JSON, options) */
    UH_ENOMEM = 2,    /* allocation failed */
    UH_EIO = 3,       /* file could not be opened / read / written */
    UH_EFORMAT = 4,   /* file read fine but its content is corrupt or truncated */
    UH_ELIMIT = 5,    /* input exceeds a documented hard limit */
    UH_ENOTFOUND = 6, /* a named thing (dataset, file) does not exist */
    UH_EINTR = 7,     /* stopped on request (a signal) before the work was done */
};

typedef struct {
    int code;
    char msg[UH_ERROR_MSG_MAX];
} uh_error_t;

/* Records code and a printf-style message into err (which may be NULL); returns code so
 * callers can write `return uh_error_set(err, UH_EINVAL, "...")`. */
int uh_error_set(uh_error_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to an existing message, for adding context on the way up. */
int uh_error_prefix(uh_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void uh_error_clear(uh_error_t *err);

/* A short name for a code ("invalid input", "out of memory", ...). */
const char *uh_error_name(int code);

#endif
