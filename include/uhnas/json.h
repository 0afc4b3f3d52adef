/* uhnas — strict reading of JSON that comes from outside: backend files, run configs,
 * architectures, the records of a run directory.
 *
 * Text is parsed by uh_json_parse (size and depth limits; a syntax error names the line and
 * column) and each object is read through a table of its fields, one row per key: every key
 * known (a typo must not silently drop a number), none given twice, every value of its type
 * and in range, an absent one required or defaulted. Errors name the key's path:
 * "params.tile: must be an integer in 2..256, got 1". */
#ifndef UHNAS_JSON_H
#define UHNAS_JSON_H

#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>

#include "uhnas/error.h"
#include "uhnas/limits.h"

/* ---- parsing ---- */

/* Parses text[0..len) as one JSON value followed by nothing but whitespace into *out (free
 * with cJSON_Delete). Errors start with name: "backend x.json:3:14: invalid JSON". */
int uh_json_parse(const char *text, size_t len, const char *name, cJSON **out, uh_error_t *err);

/* ---- field tables ---- */

typedef enum {
    UH_JSON_NUMBER, /* double in lo..hi */
    UH_JSON_FLOAT,  /* float in lo..hi */
    UH_JSON_INT,    /* int (or an enum: int-sized) holding an integer in lo..hi */
    UH_JSON_LONG,   /* long holding an integer in lo..hi */
    UH_JSON_BOOL,   /* int: 0 or 1 */
    UH_JSON_STRING, /* char[hi]; a longer string is refused */
    UH_JSON_CHOICE, /* int: the index of the string in the NULL-ended list `choices` */
    UH_JSON_OBJECT, /* the table `fields`, read into dest + offset; absent = {} */
    UH_JSON_ANY,    /* const cJSON *: the value as it is (NULL when absent), for the caller */
    UH_JSON_CUSTOM, /* read(value, dest, name, err), dest the whole struct, only when present */
} uh_json_type_t;

typedef int (*uh_json_read_fn)(const cJSON *value, void *dest, const char *name, uh_error_t *err);

typedef struct uh_json_field {
    const char *key; /* NULL ends a table */
    uh_json_type_t type;
    size_t offset; /* offsetof the member read into */
    int required;  /* absent: an error, else dflt */
    double lo, hi; /* range of numbers; size of a STRING's buffer */
    double dflt;   /* UH_JSON_KEEP: an absent key leaves the member as the caller set it */
    const char *const *choices;
    const struct uh_json_field *fields;
    uh_json_read_fn read;
} uh_json_field_t;

#define UH_JSON_KEEP NAN
/* A row of a scalar type (T the struct, m its member); others end in .choices, .fields or
 * .read: {"train", UH_JSON_OBJECT, offsetof(T, train), 1, .fields = TRAIN_FIELDS}. */
#define UH_JSON_ROW(key, type, T, m, required, lo, hi, dflt)                                       \
    { (key), (type), offsetof(T, m), (required), (lo), (hi), (dflt), NULL, NULL, NULL }

/* flags */
#define UH_JSON_SOURCED 1u     /* numbers are {"value": x, "source": "paper, datasheet or why"} */
#define UH_JSON_FIELD_NAMES 2u /* keys named 'PATH: field "key"', as architectures say it */

/* Reads the keys of obj (NULL reads as {}) into dest by the table. path is obj's place in the
 * document, put before its keys in errors ("params" gives "params.tile"); NULL at the top. */
int uh_json_read(const cJSON *obj, const char *path, const uh_json_field_t *fields, void *dest,
                 unsigned flags, uh_error_t *err);

/* One value (NULL = absent) by row f into dest + f->offset; errors call it name. */
int uh_json_value(const cJSON *value, const uh_json_field_t *f, void *dest, const char *name,
                  unsigned flags, uh_error_t *err);

#endif
