/* The built-in model's files in a run directory (see memory.h).
 *
 * A line of calls.jsonl:
 *   {"call":N, "generation":G,
 *    "children":[{"arch":"<canonical JSON>", "origin":"llm-builtin", "parents":[ID...]}...],
 *    "stats":{"examples":E, "steps":S, ...}} */
#include "memory.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "uhnas/fileio.h"
#include "uhnas/json.h"
#include "uhnas/lm.h"

/* The stats' members, for writing, reading and summing them alike. A record's numbers are
 * finite and at most 1e15 in size (a non-finite one is written as -1). */
#define STAT(key, type, m) UH_JSON_ROW(key, type, lm_stats_t, m, 1, -1e15, 1e15, 0)
static const uh_json_field_t STAT_FIELDS[] = {
    STAT("examples", UH_JSON_LONG, examples),
    STAT("steps", UH_JSON_LONG, steps),
    STAT("valid", UH_JSON_LONG, valid),
    STAT("resampled", UH_JSON_LONG, resampled),
    STAT("fallback", UH_JSON_LONG, fallback),
    STAT("train_tokens", UH_JSON_LONG, train_tokens),
    STAT("sample_tokens", UH_JSON_LONG, sample_tokens),
    STAT("replayed", UH_JSON_LONG, replayed),
    STAT("restored", UH_JSON_LONG, restored),
    STAT("loss", UH_JSON_NUMBER, loss),
    STAT("train_seconds", UH_JSON_NUMBER, train_s),
    STAT("sample_seconds", UH_JSON_NUMBER, sample_s),
    /* optional: records before it made none */
    UH_JSON_ROW("classic", UH_JSON_LONG, lm_stats_t, classic, 0, 0, 1e15, 0),
    /* optional: records before it had none */
    UH_JSON_ROW("two_parents", UH_JSON_LONG, lm_stats_t, two_parents, 0, 0, 1e15, 0),
    /* optional: records before it copied none */
    UH_JSON_ROW("copied", UH_JSON_LONG, lm_stats_t, copied, 0, 0, 1e15, 0),
    {NULL}};

static long *long_field(lm_stats_t *s, const uh_json_field_t *f) {
    return (long *)((char *)s + f->offset);
}
static double *real_field(lm_stats_t *s, const uh_json_field_t *f) {
    return (double *)((char *)s + f->offset);
}

void lm_stats_add(lm_stats_t *sum, const lm_stats_t *add) {
    lm_stats_t a = *add;
    for (const uh_json_field_t *f = STAT_FIELDS; f->key; f++) {
        if (f->type == UH_JSON_LONG)
            *long_field(sum, f) += *long_field(&a, f);
        else if (strcmp(f->key, "loss") != 0)
            *real_field(sum, f) += *real_field(&a, f);
    }
    if (a.steps > 0) sum->loss = a.loss; /* the latest training's */
}

/* The members without rates: what a record stores. */
static void stats_members(const lm_stats_t *s, cJSON *o) {
    lm_stats_t c = *s;
    for (const uh_json_field_t *f = STAT_FIELDS; f->key; f++) {
        double v = f->type == UH_JSON_LONG ? (double)*long_field(&c, f) : *real_field(&c, f);
        cJSON_AddNumberToObject(o, f->key, isfinite(v) ? v : -1);
    }
}

void lm_stats_json(const lm_stats_t *s, cJSON *o) {
    stats_members(s, o);
    cJSON_AddNumberToObject(o, "train_tokens_per_s",
                            s->train_s > 0 ? (double)s->train_tokens / s->train_s : 0);
    cJSON_AddNumberToObject(o, "sample_tokens_per_s",
                            s->sample_s > 0 ? (double)s->sample_tokens / s->sample_s : 0);
}

static void lm_path(const char *dir, const char *file, char *buf, size_t size) {
    snprintf(buf, size, "%s/" LM_DIR "/%s", dir, file);
}

static int ensure_dir(const char *dir, uh_error_t *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/" LM_DIR, dir);
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return uh_error_set(err, UH_EIO, "%s: cannot create: %s", path, strerror(errno));
    return UH_OK;
}

/* One record as a line (without the newline); NULL when out of memory. */
static char *record_line(long call, const lm_record_t *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "call", (double)call);
    cJSON_AddNumberToObject(o, "generation", r->generation);
    cJSON *children = cJSON_AddArrayToObject(o, "children");
    for (int i = 0; i < r->n; i++) {
        const uh_child_t *c = &r->children[i];
        char arch[UH_ARCH_CANON_MAX];
        cJSON *j = cJSON_CreateObject();
        cJSON_AddItemToArray(children, j);
        cJSON_AddStringToObject(j, "arch",
                                uh_arch_canonical(&c->arch, arch, sizeof arch) > 0 ? arch : "");
        cJSON_AddStringToObject(j, "origin", c->origin);
        cJSON *parents = cJSON_AddArrayToObject(j, "parents");
        for (int p = 0; p < c->n_parents; p++)
            cJSON_AddItemToArray(parents, cJSON_CreateNumber((double)c->parents[p]));
    }
    stats_members(&r->stats, cJSON_AddObjectToObject(o, "stats"));
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return line;
}

/* A line of calls.jsonl, and each of its children, as read. */
typedef struct {
    long call;
    int generation;
    const cJSON *children;
    lm_stats_t stats;
} line_t;

typedef struct {
    const cJSON *arch, *parents;
    char origin[sizeof((uh_child_t *)0)->origin];
} child_line_t;

static const uh_json_field_t LINE_FIELDS[] = {
    UH_JSON_ROW("call", UH_JSON_LONG, line_t, call, 1, 0, 1e15, 0),
    UH_JSON_ROW("generation", UH_JSON_INT, line_t, generation, 1, 0, UH_SEARCH_MAX_GENERATIONS, 0),
    {"children", UH_JSON_ANY, offsetof(line_t, children), .required = 1},
    {"stats", UH_JSON_OBJECT, offsetof(line_t, stats), 1, .fields = STAT_FIELDS},
    {NULL}};
static const uh_json_field_t CHILD_FIELDS[] = {
    {"arch", UH_JSON_ANY, offsetof(child_line_t, arch), .required = 1},
    UH_JSON_ROW("origin", UH_JSON_STRING, child_line_t, origin, 1, 0,
                sizeof((child_line_t *)0)->origin, 0),
    {"parents", UH_JSON_ANY, offsetof(child_line_t, parents), .required = 1},
    {NULL}};

/* One child of a record; 0 when it is valid. */
static int child_parse(const cJSON *j, uh_shape_t input, uh_child_t *child) {
    child_line_t c;
    const cJSON *p;
    if (uh_json_read(j, NULL, CHILD_FIELDS, &c, 0, NULL) || !cJSON_IsString(c.arch) ||
        !cJSON_IsArray(c.parents) || cJSON_GetArraySize(c.parents) > UH_SEARCH_MAX_PARENTS ||
        uh_arch_parse(c.arch->valuestring, strlen(c.arch->valuestring), input, &child->arch, NULL))
        return -1;
    cJSON_ArrayForEach(p, c.parents) {
        if (!cJSON_IsNumber(p) || p->valuedouble < 0 || p->valuedouble > 1e15) return -1;
        child->parents[child->n_parents++] = (int64_t)p->valuedouble;
    }
    strcpy(child->origin, c.origin);
    return 0;
}

/* Parses one line as the record of call `call`; −1 when it is not one. */
static int record_parse(const char *text, size_t len, long call, uh_shape_t input, lm_record_t *r) {
    memset(r, 0, sizeof *r);
    cJSON *o = NULL;
    line_t l;
    int ok = !uh_json_parse(text, len, LM_CALLS_FILE, &o, NULL) && cJSON_IsObject(o) &&
             !uh_json_read(o, NULL, LINE_FIELDS, &l, 0, NULL) && l.call == call &&
             cJSON_IsArray(l.children) &&
             cJSON_GetArraySize(l.children) <= UH_LM_MAX_CHILDREN_PER_CALL;
    int n = ok ? cJSON_GetArraySize(l.children) : 0;
    if (ok && n > 0 && !(r->children = calloc((size_t)n, sizeof *r->children))) ok = 0;
    const cJSON *j;
    cJSON_ArrayForEach(j, (ok ? l.children : NULL)) {
        if ((ok = !child_parse(j, input, &r->children[r->n]))) r->n++;
        if (!ok) break;
    }
    cJSON_Delete(o);
    if (!ok) {
        free(r->children);
        memset(r, 0, sizeof *r);
        return -1;
    }
    r->generation = l.generation;
    r->stats = l.stats;
    return 0;
}

int lm_records_read(const char *dir, uh_shape_t input, lm_record_t **out, int *n, int *rest,
                    uh_error_t *err) {
    *out = NULL, *n = 0;
    if (rest) *rest = 0;
    char path[4200];
    lm_path(dir, LM_CALLS_FILE, path, sizeof path);
    if (access(path, F_OK) != 0) return UH_OK;
    char *text = NULL;
    size_t len = 0;
    int rc = uh_read_file(path, (size_t)UH_LM_MAX_CALLS_BYTES, &text, &len, err);
    if (rc) return rc;
    int cap = 0;
    const char *line = text;
    while (line < text + len) {
        const char *end = memchr(line, '\n', (size_t)(text + len - line));
        if (!end) break; /* a line cut by a crash */
        lm_record_t r;
        if (record_parse(line, (size_t)(end - line), *n, input, &r)) break;
        if (*n == cap) {
            lm_record_t *grown = realloc(*out, (size_t)(cap = 2 * cap + 8) * sizeof *grown);
            if (!grown) {
                free(r.children);
                rc = uh_error_set(err, UH_ENOMEM, "out of memory");
                break;
            }
            *out = grown;
        }
        (*out)[(*n)++] = r;
        line = end + 1;
    }
    if (rest) *rest = line < text + len;
    free(text);
    if (rc) {
        lm_records_free(*out, *n);
        *out = NULL, *n = 0;
    }
    return rc;
}

int lm_record_append(const char *dir, long call, const lm_record_t *r, uh_error_t *err) {
    char path[4200];
    lm_path(dir, LM_CALLS_FILE, path, sizeof path);
    int rc = ensure_dir(dir, err);
    char *line = rc ? NULL : record_line(call, r);
    if (!rc && !line) rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    FILE *f = rc ? NULL : fopen(path, "a");
    if (!rc && !f) rc = uh_error_set(err, UH_EIO, "%s: cannot append: %s", path, strerror(errno));
    if (f) {
        int ok =
            fputs(line, f) >= 0 && fputc('\n', f) != EOF && fflush(f) == 0 && fsync(fileno(f)) == 0;
        int e = errno; /* the failed call's reason: fclose must not replace it */
        if (fclose(f) != 0 && ok) ok = 0, e = errno;
        if (!ok) rc = uh_error_set(err, UH_EIO, "%s: write failed: %s", path, strerror(e));
    }
    free(line);
    return rc;
}

int lm_records_write(const char *dir, const lm_record_t *records, int n, uh_error_t *err) {
    char path[4200];
    lm_path(dir, LM_CALLS_FILE, path, sizeof path);
    int rc = ensure_dir(dir, err);
    char *text = NULL;
    size_t len = 0;
    FILE *mem = rc ? NULL : open_memstream(&text, &len);
    if (!rc && !mem) rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    for (int i = 0; mem && !rc && i < n; i++) {
        char *line = record_line(i, &records[i]);
        if (!line) rc = uh_error_set(err, UH_ENOMEM, "out of memory");
        if (line) fprintf(mem, "%s\n", line);
        free(line);
    }
    if (mem && fclose(mem) != 0 && !rc) rc = uh_error_set(err, UH_ENOMEM, "out of memory");
    if (!rc) rc = uh_write_file_atomic(path, text ? text : "", len, err);
    free(text);
    return rc;
}

void lm_records_free(lm_record_t *records, int n) {
    for (int i = 0; records && i < n; i++) free(records[i].children);
    free(records);
}

void lm_checkpoint_path(const char *dir, long call, char *buf, size_t size) {
    char file[64];
    snprintf(file, sizeof file, "model-%06ld.bin", call);
    lm_path(dir, file, buf, size);
}

int lm_checkpoint_save(const char *dir, long call, const uh_gpt_t *m, uh_error_t *err) {
    char path[4200], old[4200];
    lm_checkpoint_path(dir, call, path, sizeof path);
    lm_checkpoint_path(dir, call - 1, old, sizeof old);
    int rc = ensure_dir(dir, err);
    if (!rc) rc = uh_gpt_save(m, path, err);
    if (!rc && call > 0) remove(old); /* the new one is on disk */
    return rc;
}

/* 0 and *call when name is a checkpoint's (model-NNNNNN.bin), else -1. */
static int lm_checkpoint_call(const char *name, long *call) {
    char tail[8];
    return sscanf(name, "model-%6ld%7s", call, tail) == 2 && strcmp(tail, ".bin") == 0 &&
                   strlen(name) == 16
               ? 0
               : -1;
}

long lm_latest_checkpoint(const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/" LM_DIR, dir);
    DIR *d = opendir(path);
    long latest = -1;
    for (struct dirent *e = d ? readdir(d) : NULL; e; e = readdir(d)) {
        long call;
        if (lm_checkpoint_call(e->d_name, &call) == 0 && call > latest) latest = call;
    }
    if (d) closedir(d);
    return latest;
}

/* Only the files this module writes go; a directory the user put more in stays. */
int uh_lm_forget(const char *run_dir, uh_error_t *err) {
    char path[4200];
    snprintf(path, sizeof path, "%s/" LM_DIR, run_dir);
    DIR *d = opendir(path);
    if (!d) return UH_OK; /* no memory */
    int rc = UH_OK;
    for (struct dirent *e = readdir(d); e && !rc; e = readdir(d)) {
        long call;
        char file[4200];
        if (strcmp(e->d_name, LM_CALLS_FILE) != 0 && lm_checkpoint_call(e->d_name, &call) != 0)
            continue;
        lm_path(run_dir, e->d_name, file, sizeof file);
        if (unlink(file) != 0 && errno != ENOENT)
            rc = uh_error_set(err, UH_EIO, "%s: cannot remove: %s", file, strerror(errno));
    }
    closedir(d);
    if (!rc && rmdir(path) != 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
        rc = uh_error_set(err, UH_EIO, "%s: cannot remove: %s", path, strerror(errno));
    return rc;
}
