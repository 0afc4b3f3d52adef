/* Shared by the fuzz targets (docs/fuzzing.md): a scratch directory per process for the
 * inputs only a file can carry (the API reads a path), written again for every input and
 * removed at exit. Nothing here prints. */
#ifndef UHNAS_FUZZ_H
#define UHNAS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "uhnas/arch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input shape architectures are resolved against: Fashion-MNIST's. */
static const uh_shape_t FUZZ_SHAPE = {1, 28, 28, 10};

#define FUZZ_MAX_FILES 8
static char fuzz_dir_path[64];
static char fuzz_files[FUZZ_MAX_FILES][128];
static int fuzz_n_files;

static inline void fuzz_cleanup(void) {
    for (int i = fuzz_n_files - 1; i >= 0; i--) {
        unlink(fuzz_files[i]);
        rmdir(fuzz_files[i]);
    }
    if (fuzz_dir_path[0]) rmdir(fuzz_dir_path);
}

/* The scratch directory, made on first use. */
static inline const char *fuzz_dir(void) {
    if (!fuzz_dir_path[0]) {
        strcpy(fuzz_dir_path, "/tmp/uhnas-fuzz-XXXXXX");
        if (!mkdtemp(fuzz_dir_path)) abort();
        atexit(fuzz_cleanup);
    }
    return fuzz_dir_path;
}

/* dir/name (removed at exit; a name may be a subdirectory, listed before what it holds). */
static inline const char *fuzz_path(const char *name) {
    const char *dir = fuzz_dir();
    for (int i = 0; i < fuzz_n_files; i++)
        if (strcmp(fuzz_files[i] + strlen(dir) + 1, name) == 0) return fuzz_files[i];
    if (fuzz_n_files == FUZZ_MAX_FILES) abort();
    char *p = fuzz_files[fuzz_n_files++];
    snprintf(p, sizeof fuzz_files[0], "%s/%s", dir, name);
    return p;
}

/* Replaces dir/name with the bytes; returns its path. */
static inline const char *fuzz_write(const char *name, const uint8_t *data, size_t size) {
    const char *path = fuzz_path(name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();
    return path;
}

/* The bytes as a NUL-terminated string (malloc'd); NULL bytes inside are kept. */
static inline char *fuzz_string(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    if (size) memcpy(s, data, size);
    s[size] = 0;
    return s;
}

#endif
