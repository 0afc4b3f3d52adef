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

#define MAX_CHILDREN_PER_CALL UH_SEARCH_MAX_POPULATION

/* The stats' members, for writing, reading and summing them alike. */
static const struct {
    const char *name;
    size_t offset;
    int is_long;
} STAT_FIELDS[] = {
    {"examples", offsetof(lm_stats_t, examples), 1},
    {"steps", offsetof(lm_stats_t, steps), 1},
    {"valid", offsetof(lm_stats_t, valid), 1},
    {"resampled", offsetof(lm_stats_t, resampled), 1},
    {"fallback", offsetof(lm_stats_t, fallback), 1},
    {"train_tokens", offsetof(lm_stats_t, train_tokens), 1},
    {"sample_tokens", offsetof(lm_stats_t, sample_tokens), 1},
    {"replayed", offsetof(lm_stats_t, replayed), 1},
    {"restored", offsetof(lm_stats_t, restored), 1},
    {"loss", offsetof(lm_stats_t, loss), 0},
    {"train_seconds", offsetof(lm_stats_t, train_s), 0},
    {"sample_seconds", offsetof(lm_stats_t, sample_s), 0},
};
#define N_STAT_FIELDS (int)(sizeof STAT_FIELDS / sizeof STAT_FIELDS[0])

static long *long_field(lm_stats_t *s, int i) {
    return (long *)((char *)s + STAT_FIELDS[i].offset);
}
static double *real_field(lm_stats_t *s, int i) {
    return (double *)((char *)s + STAT_FIELDS[i].offset);
}

void lm_stats_add(lm_stats_t *sum, const lm_stats_t *add) {
    lm_stats_t a = *add;
    for (int i = 0; i < N_STAT_FIELDS; i++) {
        if (STAT_FIELDS[i].is_long)
            *long_field(sum, i) += *long_field(&a, i);
        else if (strcmp(STAT_FIELDS[i].name, "loss") != 0)
            *real_field(sum, i) += *real_field(&a, i);
    }
    if (a.steps > 0) sum->loss = a.loss; /* the latest training's */
}

/* The members without rates: what a record stores. */
static void stats_members(const lm_stats_t *s, cJSON *o) {
    lm_stats_t c = *s;
    for (int i = 0; i < N_STAT_FIELDS; i++) {
        double v = STAT_FIELDS[i].is_long ? (double)*long_field(&c, i) : *real_field(&c, i);
        cJSON_AddNumberToObject(o, STAT_FIELDS[i].name, isfinite(v) ? v : -1);
    }
}

void lm_stats_json(const lm_stats_t *s, cJSON *o) {
    stats_members(s, o);
    cJSON_AddNumberToObject(o, "train_tokens_per_s",
                            s->train_s > 0 ? (double)s->train_tokens / s->train_s : 0);
    cJSON_AddNumberToObject(o, "sample_tokens_per_s",
                            s->sample_s > 0 ? (double)s->sample_tokens / s->sample_s : 0);
}

static int stats_parse(const cJSON *o, lm_stats_t *s) {
    memset(s, 0, sizeof *s);
    if (!cJSON_IsObject(o) || cJSON_GetArraySize(o) != N_STAT_FIELDS) return -1;
    for (int i = 0; i < N_STAT_FIELDS; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, STAT_FIELDS[i].name);
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || fabs(v->valuedouble) > 1e15)
            return -1;
        if (STAT_FIELDS[i].is_long)
            *long_field(s, i) = (long)v->valuedouble;
        else
            *real_field(s, i) = v->valuedouble;
    }
    return 0;
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

/* Parses one line as the record of call `call`; −1 when it is not one. */
static int record_parse(const char *line, size_t len, long call, uh_shape_t input, lm_record_t *r) {
    memset(r, 0, sizeof *r);
    cJSON *o = cJSON_ParseWithLength(line, len);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "call");
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, "generation");
    const cJSON *children = cJSON_GetObjectItemCaseSensitive(o, "children"), *j;
    int ok = cJSON_IsObject(o) && cJSON_GetArraySize(o) == 4 && cJSON_IsNumber(c) &&
             c->valuedouble == (double)call && cJSON_IsNumber(g) && g->valuedouble >= 0 &&
             g->valuedouble <= UH_SEARCH_MAX_GENERATIONS && cJSON_IsArray(children) &&
             cJSON_GetArraySize(children) <= MAX_CHILDREN_PER_CALL &&
             !stats_parse(cJSON_GetObjectItemCaseSensitive(o, "stats"), &r->stats);
    int n = ok ? cJSON_GetArraySize(children) : 0;
    if (ok) r->generation = (int)g->valuedouble;
    if (ok && n > 0 && !(r->children = calloc((size_t)n, sizeof *r->children))) ok = 0;
    cJSON_ArrayForEach(j, (ok ? children : NULL)) {
        const cJSON *arch = cJSON_GetObjectItemCaseSensitive(j, "arch");
        const cJSON *origin = cJSON_GetObjectItemCaseSensitive(j, "origin");
        const cJSON *parents = cJSON_GetObjectItemCaseSensitive(j, "parents"), *p;
        uh_child_t *child = &r->children[r->n];
        ok =
            cJSON_IsObject(j) && cJSON_GetArraySize(j) == 3 && cJSON_IsString(arch) &&
            cJSON_IsString(origin) && strlen(origin->valuestring) < sizeof child->origin &&
            cJSON_IsArray(parents) && cJSON_GetArraySize(parents) <= UH_SEARCH_MAX_PARENTS &&
            !uh_arch_parse(arch->valuestring, strlen(arch->valuestring), input, &child->arch, NULL);
        cJSON_ArrayForEach(p, (ok ? parents : NULL)) {
            if (!cJSON_IsNumber(p) || p->valuedouble < 0 || p->valuedouble > 1e15) ok = 0;
            if (ok) child->parents[child->n_parents++] = (int64_t)p->valuedouble;
        }
        if (!ok) break;
        strcpy(child->origin, origin->valuestring);
        r->n++;
    }
    cJSON_Delete(o);
    if (!ok) {
        free(r->children);
        memset(r, 0, sizeof *r);
    }
    return ok ? 0 : -1;
}

int lm_records_read(const char *dir, uh_shape_t input, lm_record_t **out, int *n, uh_error_t *err) {
    *out = NULL, *n = 0;
    char path[4200];
    lm_path(dir, LM_CALLS_FILE, path, sizeof path);
    if (access(path, F_OK) != 0) return UH_OK;
    char *text = NULL;
    size_t len = 0;
    int rc = uh_read_file(path, (size_t)LM_CALLS_MAX_BYTES, &text, &len, err);
    if (rc) return rc;
    int cap = 0;
    for (const char *line = text; line < text + len;) {
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
        if (fclose(f) != 0 || !ok) rc = uh_error_set(err, UH_EIO, "%s: write failed", path);
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

long lm_latest_checkpoint(const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/" LM_DIR, dir);
    DIR *d = opendir(path);
    long latest = -1;
    for (struct dirent *e = d ? readdir(d) : NULL; e; e = readdir(d)) {
        long call;
        char tail[8];
        if (sscanf(e->d_name, "model-%6ld%7s", &call, tail) == 2 && strcmp(tail, ".bin") == 0 &&
            strlen(e->d_name) == 16 && call > latest)
            latest = call;
    }
    if (d) closedir(d);
    return latest;
}
