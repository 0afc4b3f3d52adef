/* uhnas — bounded file reading and crash-safe writing. */
#ifndef UHNAS_FILEIO_H
#define UHNAS_FILEIO_H

#include <stddef.h>

#include "uhnas/error.h"

/* Reads a whole file into a NUL-terminated malloc'd buffer (caller frees). A file larger
 * than max_bytes is refused with UH_ELIMIT before it is read in full. */
int uh_read_file(const char *path, size_t max_bytes, char **out, size_t *len, uh_error_t *err);

/* Writes len bytes to path atomically: a temporary file in the same directory, fsync,
 * rename. A crash leaves either the old file or the new one, never half of one. */
int uh_write_file_atomic(const char *path, const void *data, size_t len, uh_error_t *err);

#endif
