/* uhnas — what the data module's IDX reader and dataset loaders share. */
#ifndef UHNAS_DATA_INTERNAL_H
#define UHNAS_DATA_INTERNAL_H

#include <stddef.h>

#include "uhnas/error.h"

/* Reads a whole regular file of at most max bytes into *buf (malloc'd, NUL-terminated after
 * its *len bytes). UH_ENOTFOUND when it does not exist, UH_EIO when it is not a regular file
 * or cannot be read, UH_ELIMIT when it is larger than max. */
int data_read_file(const char *path, long max, char **buf, size_t *len, uh_error_t *err);

#endif
