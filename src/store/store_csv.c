/* The run store's CSV export (RFC 4180: CRLF line ends, fields quoted when they hold a comma,
 * a quote or a line break, quotes doubled). */
#include "store_internal.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uhnas/fileio.h"
#include "uhnas/strbuf.h"

/* Every field but a row's first (the id) has a comma before it. */
static void comma(uh_strbuf_t *b) {
    uh_strbuf_put(b, ",", 1);
}

static void put_text(uh_strbuf_t *b, const char *s) {
    comma(b);
    if (!strpbrk(s, ",\"\r\n")) {
        uh_strbuf_put(b, s, strlen(s));
        return;
    }
    uh_strbuf_put(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        const char *q = strchr(p, '"');
        if (!q) {
            uh_strbuf_put(b, p, strlen(p));
            break;
        }
        uh_strbuf_put(b, p, (size_t)(q - p) + 1);
        uh_strbuf_put(b, "\"", 1);
        p = q;
    }
    uh_strbuf_put(b, "\"", 1);
}

/* %.17g reads back to the same double; NaN (not measured) is an empty field. */
static void put_real(uh_strbuf_t *b, double v) {
    comma(b);
    if (!isnan(v)) uh_strbuf_putf(b, "%.17g", v);
}

static void put_long(uh_strbuf_t *b, long v) {
    comma(b);
    if (v >= 0) uh_strbuf_putf(b, "%ld", v);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The subset to export, sorted for bsearch; every hash must be stored. */
static int select_hashes(uh_store_t *store, const char *const *hashes, size_t n,
                         const char ***sorted, uh_error_t *err) {
    *sorted = NULL;
    if (n == 0) return UH_OK;
    const char **a = malloc(n * sizeof *a);
    if (!a) return uh_error_set(err, UH_ENOMEM, "%s: out of memory", store->path);
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        int rc = uh_store_find_hash(store, hashes[i], NULL, &found, err);
        if (!rc && !found)
            rc = uh_error_set(err, UH_ENOTFOUND, "%s: candidate %s is not stored", store->path,
                              hashes[i]);
        if (rc) {
            free(a);
            return rc;
        }
        a[i] = hashes[i];
    }
    qsort(a, n, sizeof *a, cmp_str);
    *sorted = a;
    return UH_OK;
}

int uh_store_export_csv(uh_store_t *store, const char *path, const char *const *hashes,
                        size_t n_hashes, uh_error_t *err) {
    if (!path || !*path) return uh_error_set(err, UH_EINVAL, "CSV export: no output path");
    if (!hashes) n_hashes = 0;
    const char **subset = NULL;
    int rc = select_hashes(store, hashes, n_hashes, &subset, err);
    if (rc) return rc;
    sqlite3_stmt *st;
    rc = store_prepare(store,
                       "SELECT cand.*, t.accuracy, t.noisy_accuracy, t.noisy_accuracy_std "
                       "FROM (SELECT " STORE_CANDIDATE_COLUMNS " FROM candidates) AS cand "
                       "LEFT JOIN test_results AS t ON t.hash = cand.hash ORDER BY cand.id",
                       &st, err);
    uh_candidate_t *c = rc ? NULL : malloc(sizeof *c);
    if (!rc && !c) rc = uh_error_set(err, UH_ENOMEM, "%s: out of memory", store->path);
    uh_strbuf_t b = {0};
    static const char header[] =
        "id,generation,origin,status,hash,accuracy,noisy_accuracy,noisy_accuracy_std,energy_nj,"
        "latency_ns,area_mm2,params,macs,train_seconds,epochs_trained,seed,created_at,test_"
        "accuracy,"
        "test_noisy_accuracy,test_noisy_accuracy_std,message,arch,parents\r\n";
    uh_strbuf_put(&b, header, sizeof header - 1);
    int step = SQLITE_DONE;
    while (!rc && (step = sqlite3_step(st)) == SQLITE_ROW) {
        rc = store_read_candidate(store, st, 0, c, err);
        double test[3];
        for (int k = 0; !rc && k < 3; k++)
            rc = store_read_real(store, st, STORE_CANDIDATE_NCOLS + k, "test_results", &test[k],
                                 err);
        if (rc) break;
        const char *key = c->hash;
        if (subset && !bsearch(&key, subset, n_hashes, sizeof *subset, cmp_str)) continue;
        uh_strbuf_putf(&b, "%" PRId64, c->id);
        comma(&b);
        uh_strbuf_putf(&b, "%d", c->generation);
        put_text(&b, c->origin);
        put_text(&b, uh_cand_status_name(c->status));
        put_text(&b, c->hash);
        put_real(&b, c->accuracy);
        put_real(&b, c->noisy_accuracy);
        put_real(&b, c->noisy_accuracy_std);
        put_real(&b, c->energy_nj);
        put_real(&b, c->latency_ns);
        put_real(&b, c->area_mm2);
        put_long(&b, c->params);
        put_long(&b, c->macs);
        put_real(&b, c->train_seconds);
        put_long(&b, c->epochs_trained);
        comma(&b);
        uh_strbuf_putf(&b, "%" PRIu64, c->seed);
        put_text(&b, c->created_at);
        for (int k = 0; k < 3; k++) put_real(&b, test[k]);
        put_text(&b, c->message);
        put_text(&b, c->arch);
        char parents[STORE_PARENTS_TEXT_MAX];
        store_parents_text(c, parents);
        put_text(&b, parents);
        uh_strbuf_put(&b, "\r\n", 2);
    }
    if (!rc && step != SQLITE_DONE) rc = store_sql_error(store, "reading candidates", err);
    if (!rc && b.oom) rc = uh_error_set(err, UH_ENOMEM, "%s: out of memory", path);
    if (!rc) rc = uh_write_file_atomic(path, b.buf, b.len, err);
    sqlite3_finalize(st);
    free(b.buf);
    free(c);
    free(subset);
    return rc;
}
