/* Pieces several commands share: reading --arch, progress lines, JSON for energy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "uhnas/fileio.h"
#include "uhnas/json.h"

/* A user's file or text: a syntax error names its line and column (uh_json_parse) before the
 * architecture's own reader, whose wording is part of the language models' transcripts. */
static int parse_arch(const char *text, size_t len, const char *name, uh_shape_t shape,
                      uh_arch_t *arch, uh_error_t *err) {
    cJSON *root;
    int rc = uh_json_parse(text, len, name, &root, err);
    cJSON_Delete(root);
    return rc ? rc : uh_arch_parse(text, len, shape, arch, err);
}

int cli_load_arch(const char *arg, uh_shape_t shape, uh_arch_t *arch, uh_error_t *err) {
    const char *p = arg;
    while (*p == ' ' || *p == '\t' || *p == '\n') p++;
    if (*p == '{') return parse_arch(arg, strlen(arg), "--arch", shape, arch, err);
    char *text;
    size_t len;
    int rc = uh_read_file(arg, UH_ARCH_MAX_JSON_BYTES, &text, &len, err);
    if (rc) return rc;
    rc = parse_arch(text, len, arg, shape, arch, err);
    free(text);
    if (rc && !strstr(err->msg, arg)) uh_error_prefix(err, "%s", arg);
    return rc;
}

int cli_command_args(int argc, char **argv, const cli_opt_t *opts, int n_opts, const char *cmd,
                     const char *usage) {
    char msg[256];
    int prc = cli_parse(argc, argv, opts, n_opts, msg, sizeof msg);
    if (prc == 2) {
        fputs(usage, stdout);
        printf("\noptions:\n");
        cli_print_options(stdout, opts, n_opts);
        printf("\n" CLI_EXIT_CODES);
        return UH_EXIT_OK;
    }
    return prc ? cli_fail(UH_EXIT_USAGE, "%s: %s", cmd, msg) : CLI_GO_ON;
}

int cli_load_arch_shaped(const char *arg, const char *input, int classes, uh_arch_t *arch,
                         uh_error_t *err) {
    int c, h, w;
    char x1, x2, tail;
    if (sscanf(input, "%d%c%d%c%d%c", &c, &x1, &h, &x2, &w, &tail) != 5 ||
        (x1 != 'x' && x1 != 'X') || (x2 != 'x' && x2 != 'X') || c < 1 || c > 64 || h < 1 ||
        h > 1024 || w < 1 || w > 1024)
        return uh_error_set(err, UH_EINVAL, "--input: expected CxHxW, e.g. 1x28x28, got '%s'",
                            input);
    return cli_load_arch(arg, (uh_shape_t){c, h, w, classes}, arch, err);
}

void cli_join_names(const char *const *names, char *buf, size_t size) {
    buf[0] = '\0';
    for (int i = 0; names[i]; i++)
        snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", i ? "|" : "", names[i]);
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void cli_bar(char *out, int width, double done) {
    int filled = (int)(done * width);
    for (int i = 0; i < width; i++) out[i] = i < filled ? '#' : '.';
    out[width] = '\0';
}

void cli_duration(char *out, size_t size, double seconds) {
    long s = seconds > 0 && seconds < 1e9 ? (long)(seconds + 0.5) : 0;
    if (s >= 3600)
        snprintf(out, size, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else if (s >= 60)
        snprintf(out, size, "%ldm%02lds", s / 60, s % 60);
    else
        snprintf(out, size, "%lds", s);
}

int cli_progress(void *ctx, int epoch, int batch, int n_batches, float loss) {
    cli_progress_t *p = ctx;
    double now = cli_now();
    int last = epoch == p->epochs - 1 && batch == n_batches - 1;
    if (!last && now - p->last_draw < 0.1) return 0;
    p->last_draw = now;
    double done = ((double)epoch * n_batches + batch + 1) / ((double)p->epochs * n_batches);
    double elapsed = now - p->start;
    double eta = done > 0 ? elapsed * (1 - done) / done : 0;
    char bar[21];
    cli_bar(bar, 20, done);
    printf("\repoch %d/%d [%s] %3.0f%%  loss %.4f  elapsed %.1fs  ETA %.1fs ", epoch + 1, p->epochs,
           bar, done * 100, loss, elapsed, eta);
    if (last) printf("\n");
    fflush(stdout);
    return 0;
}

int cli_reference_cost(const uh_backend_t *b, uh_energy_t *e, uh_error_t *err) {
    /* the same network as configs/demo-arch.json (tests/test_objectives_cli.sh checks it) */
    static const char arch_json[] =
        "{\"layers\":[{\"type\":\"conv2d\",\"filters\":8,\"kernel\":3,\"stride\":1,"
        "\"activation\":\"relu\"},{\"type\":\"pool\",\"kind\":\"max\",\"size\":2},"
        "{\"type\":\"dense\",\"units\":32,\"activation\":\"relu\"},"
        "{\"type\":\"dense\",\"units\":10,\"activation\":\"none\"}]}";
    uh_shape_t shape = {1, 28, 28, 10};
    uh_arch_t arch;
    int rc = uh_arch_parse(arch_json, sizeof arch_json - 1, shape, &arch, err);
    return rc ? rc : uh_backend_energy(b, &arch, e, err);
}

cJSON *cli_energy_json(const uh_arch_t *arch, const uh_energy_t *e) {
    cJSON *o = cJSON_CreateObject();
    cJSON *total = cJSON_AddObjectToObject(o, "total");
    for (int k = 0; k < e->n_parts; k++)
        cJSON_AddNumberToObject(total, e->parts[k].name, e->parts[k].nj);
    cJSON *layers = cJSON_AddArrayToObject(o, "layers");
    for (int i = 0; i < e->n_layers; i++) {
        cJSON *l = cJSON_CreateObject();
        cJSON_AddNumberToObject(l, "layer", i + 1);
        cJSON_AddStringToObject(l, "type", uh_layer_type_name(arch->layers[i].type));
        cJSON_AddNumberToObject(l, "nj", e->layers[i].nj);
        cJSON *parts = cJSON_AddObjectToObject(l, "parts");
        for (int k = 0; k < e->layers[i].n_parts; k++)
            cJSON_AddNumberToObject(parts, e->layers[i].parts[k].name, e->layers[i].parts[k].nj);
        cJSON_AddItemToArray(layers, l);
    }
    return o;
}

cJSON *cli_footprint_json(const uh_footprint_t *f) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "area_mm2", f->area_mm2);
    cJSON_AddNumberToObject(o, "mzis", (double)f->mzis);
    cJSON_AddNumberToObject(o, "tiles", (double)f->tiles);
    cJSON_AddNumberToObject(o, "devices", (double)f->devices);
    return o;
}

void cli_add_cost_json(cJSON *o, const uh_arch_t *arch, const uh_energy_t *e) {
    cJSON_AddNumberToObject(o, "energy_nj", e->total_nj);
    cJSON_AddNumberToObject(o, "latency_ns", e->latency_ns);
    cJSON_AddItemToObject(o, "footprint", cli_footprint_json(&e->footprint));
    cJSON_AddItemToObject(o, "breakdown", cli_energy_json(arch, e));
}

void cli_print_energy(FILE *out, const uh_arch_t *arch, const uh_energy_t *e) {
    fprintf(out, "energy per inference: %.6g nJ\n", e->total_nj);
    fprintf(out, "latency: %.6g ns; area: %.6g mm2", e->latency_ns, e->footprint.area_mm2);
    if (e->footprint.tiles) fprintf(out, "; %ld tiles", e->footprint.tiles);
    if (e->footprint.mzis) fprintf(out, "; %ld MZIs", e->footprint.mzis);
    if (e->footprint.devices) fprintf(out, "; %ld devices", e->footprint.devices);
    fprintf(out, "\n");
    for (int k = 0; k < e->n_parts; k++)
        fprintf(out, "  %-14s %12.6g nJ  %5.1f%%\n", e->parts[k].name, e->parts[k].nj,
                e->total_nj > 0 ? 100 * e->parts[k].nj / e->total_nj : 0);
    fprintf(out, "per layer:\n");
    for (int i = 0; i < e->n_layers; i++) {
        if (e->layers[i].nj == 0) continue;
        fprintf(out, "  %2d %-8s %12.6g nJ:", i + 1, uh_layer_type_name(arch->layers[i].type),
                e->layers[i].nj);
        for (int k = 0; k < e->layers[i].n_parts; k++)
            fprintf(out, " %s %.4g", e->layers[i].parts[k].name, e->layers[i].parts[k].nj);
        fputc('\n', out);
    }
}

void cli_print_violations(FILE *out, const uh_violations_t *v) {
    for (int i = 0; i < v->n; i++) {
        const uh_violation_t *it = &v->items[i];
        if (it->layer)
            fprintf(out, "  layer %d, %s: %s\n", it->layer, it->field, it->msg);
        else
            fprintf(out, "  network, %s: %s\n", it->field, it->msg);
    }
}

cJSON *cli_violations_json(const uh_violations_t *v) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < v->n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "layer", v->items[i].layer);
        cJSON_AddStringToObject(o, "field", v->items[i].field);
        cJSON_AddStringToObject(o, "message", v->items[i].msg);
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

int cli_print_json(cJSON *o) {
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!text) return cli_fail(UH_EXIT_FAIL, "out of memory writing JSON");
    puts(text);
    cJSON_free(text);
    return UH_EXIT_OK;
}
