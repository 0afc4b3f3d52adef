/* Prompt templates (the .txt files in configs/prompts) and the facts about a backend they are
 * filled with. Templates are plain text with {{NAME}} placeholders, so users can edit them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "llm_internal.h"
#include "uhnas/fileio.h"

int llm_prompt_dir(const char *given, char *out, size_t size, uh_error_t *err) {
    const char *dirs[4];
    int n = 0;
    if (given && *given) {
        dirs[n++] = given;
    } else {
        const char *env = getenv("UHNAS_PROMPTS");
        if (env && *env) dirs[n++] = env;
        dirs[n++] = "configs/prompts";
        dirs[n++] = UHNAS_SOURCE_DIR "/configs/prompts";
    }
    for (int i = 0; i < n; i++) {
        char probe[1200];
        struct stat st;
        snprintf(probe, sizeof probe, "%s/user.txt", dirs[i]);
        if (stat(probe, &st) == 0 && S_ISREG(st.st_mode)) {
            if ((size_t)snprintf(out, size, "%s", dirs[i]) >= size)
                return uh_error_set(err, UH_ELIMIT, "prompt directory path too long");
            return UH_OK;
        }
    }
    return uh_error_set(err, UH_ENOTFOUND,
                        "no prompt templates (user.txt) in %s%s; set UHNAS_PROMPTS", dirs[0],
                        n > 1 ? " or the standard places" : "");
}

int llm_template_load(const char *dir, const char *file, char **text, uh_error_t *err) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    size_t len;
    int rc = uh_read_file(path, UH_LLM_MAX_TEMPLATE_BYTES, text, &len, err);
    if (!rc && strlen(*text) != len) {
        free(*text);
        *text = NULL;
        rc = uh_error_set(err, UH_EFORMAT, "%s: holds a NUL byte", path);
    }
    return rc;
}

int llm_render(const char *tmpl, const llm_var_t *vars, int n_vars, char **out, uh_error_t *err) {
    uh_strbuf_t b = {0};
    const char *p = tmpl;
    for (const char *open = strstr(p, "{{"); open; open = strstr(p, "{{")) {
        const char *close = strstr(open + 2, "}}");
        if (!close) break;
        size_t len = (size_t)(close - open - 2);
        int found = -1;
        for (int i = 0; i < n_vars && found < 0; i++)
            if (strlen(vars[i].name) == len && memcmp(vars[i].name, open + 2, len) == 0) found = i;
        if (found < 0) {
            uh_strbuf_free(&b);
            return uh_error_set(err, UH_EINVAL, "prompt template: unknown placeholder {{%.*s}}",
                                (int)(len < 40 ? len : 40), open + 2);
        }
        uh_strbuf_put(&b, p, (size_t)(open - p));
        uh_strbuf_puts(&b, vars[found].value ? vars[found].value : "");
        p = close + 2;
    }
    uh_strbuf_puts(&b, p);
    *out = uh_strbuf_take(&b);
    return *out ? UH_OK : uh_error_set(err, UH_ENOMEM, "out of memory");
}

/* "a, b, c" of the names whose bit is set in mask. */
static void names(uh_strbuf_t *out, unsigned mask, int count, const char *(*name)(int)) {
    int first = 1;
    for (int i = 0; i < count; i++)
        if (mask & (1u << i)) {
            uh_strbuf_putf(out, "%s%s", first ? "" : ", ", name(i));
            first = 0;
        }
}

static const char *layer_name(int t) {
    return uh_layer_type_name((uh_layer_type_t)t);
}
static const char *act_name(int a) {
    return uh_act_name((uh_act_t)a);
}

int llm_backend_constraints(const uh_backend_t *b, uh_strbuf_t *out) {
    const uh_constraints_t *c = uh_backend_constraints(b);
    uh_strbuf_puts(out, "- layer types: ");
    names(out, c->layer_types, UH_LAYER_FLATTEN + 1, layer_name);
    uh_strbuf_puts(out, "\n- activations: ");
    names(out, c->activations, UH_ACT_COUNT, act_name);
    uh_strbuf_puts(out, "\n");
    if (c->min_bits > 0)
        uh_strbuf_putf(out, "- \"bits\": %d..%d (or absent for the hardware's own precision)\n",
                       c->min_bits, c->max_bits);
    if (c->min_tile > 0)
        uh_strbuf_putf(out, "- \"tile\": %d..%d (or absent for the default)\n", c->min_tile,
                       c->max_tile);
    else
        uh_strbuf_puts(out, "- no \"tile\" (the hardware has no tiles)\n");
    if (c->max_units > 0) uh_strbuf_putf(out, "- at most %d units per dense layer\n", c->max_units);
    if (c->max_filters > 0)
        uh_strbuf_putf(out, "- at most %d filters per conv2d layer\n", c->max_filters);
    if (c->max_kernel > 0) uh_strbuf_putf(out, "- kernels up to %d\n", c->max_kernel);
    if (c->max_params > 0) uh_strbuf_putf(out, "- at most %ld parameters\n", c->max_params);
    if (c->max_macs > 0) uh_strbuf_putf(out, "- at most %ld MACs per inference\n", c->max_macs);
    return out->oom ? UH_ENOMEM : UH_OK;
}

/* Reference networks, in the format the model writes; {C} is the class count. */
static const char *const EXAMPLES[] = {
    "{\"layers\":[{\"type\":\"dense\",\"units\":%d}]}",
    "{\"layers\":[{\"type\":\"dense\",\"units\":64,\"activation\":\"relu\"},"
    "{\"type\":\"dense\",\"units\":%d}]}",
    "{\"layers\":[{\"type\":\"dense\",\"units\":64,\"activation\":\"relu\",\"bits\":4},"
    "{\"type\":\"dense\",\"units\":%d}]}",
    "{\"layers\":[{\"type\":\"dense\",\"units\":64,\"activation\":\"relu\",\"tile\":8},"
    "{\"type\":\"dense\",\"units\":%d}]}",
    "{\"layers\":[{\"type\":\"dense\",\"units\":64,\"activation\":\"relu\",\"tile\":32},"
    "{\"type\":\"dense\",\"units\":%d}]}",
    "{\"layers\":[{\"type\":\"dense\",\"units\":256,\"activation\":\"relu\"},"
    "{\"type\":\"dense\",\"units\":%d}]}",
    "{\"layers\":[{\"type\":\"conv2d\",\"filters\":8,\"kernel\":3,\"activation\":\"relu\"},"
    "{\"type\":\"pool\",\"kind\":\"max\",\"size\":2},{\"type\":\"dense\",\"units\":32,"
    "\"activation\":\"relu\"},{\"type\":\"dense\",\"units\":%d}]}",
};

int llm_backend_energy_examples(const uh_backend_t *b, uh_shape_t input, uh_strbuf_t *out) {
    for (size_t i = 0; i < sizeof EXAMPLES / sizeof EXAMPLES[0]; i++) {
        char json[512];
        snprintf(json, sizeof json, EXAMPLES[i], input.n_classes);
        uh_arch_t a;
        uh_violations_t v;
        uh_energy_t e;
        if (uh_arch_parse(json, strlen(json), input, &a, NULL) || uh_backend_check(b, &a, &v) ||
            uh_backend_energy(b, &a, &e, NULL))
            continue; /* not buildable on this hardware: no example */
        int big = 0;
        for (int k = 1; k < e.n_parts; k++)
            if (e.parts[k].nj > e.parts[big].nj) big = k;
        uh_strbuf_putf(out, "- %s: %.4g nJ (%ld MACs, %ld parameters; largest share %s %.0f%%)\n",
                       json, e.total_nj, a.macs, a.params, e.n_parts ? e.parts[big].name : "-",
                       e.n_parts && e.total_nj > 0 ? 100 * e.parts[big].nj / e.total_nj : 0.0);
    }
    return out->oom ? UH_ENOMEM : UH_OK;
}

void llm_candidate_line(uh_strbuf_t *out, const uh_candidate_t *c) {
    uh_strbuf_putf(out,
                   "- id %lld: accuracy %.4f, noisy %.4f, drop %.4f, energy %.4g nJ, %ld params: "
                   "%s\n",
                   (long long)c->id, c->accuracy, c->noisy_accuracy,
                   c->accuracy - c->noisy_accuracy, c->energy_nj, c->params, c->arch);
}
