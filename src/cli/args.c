#include "args.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "uhnas/strbuf.h"

/* Index of `value` among the "|"-separated names, or -1. */
static int choice_index(const char *choices, const char *value) {
    size_t vlen = strlen(value);
    int i = 0;
    for (const char *p = choices; *p; i++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == vlen && strncmp(p, value, len) == 0) return i;
        if (!bar) break;
        p = bar + 1;
    }
    return -1;
}

/* "; did you mean X?" when value is a typo of one of the "|"-separated choices, else "". */
static const char *choice_hint(const char *choices, const char *value, char *buf, size_t size) {
    char names[512];
    const char *list[64];
    int n = 0;
    snprintf(names, sizeof names, "%s", choices);
    for (char *p = strtok(names, "|"); p && n < 64; p = strtok(NULL, "|")) list[n++] = p;
    const char *near = uh_nearest(value, list, n);
    if (!near) return "";
    snprintf(buf, size, "; did you mean %s?", near);
    return buf;
}

static int set_value(const cli_opt_t *o, const char *value, char *msg, size_t cap) {
    char *end = NULL;
    errno = 0;
    switch (o->kind) {
    case OPT_FLAG:
        break;
    case OPT_INT: {
        long v = strtol(value, &end, 10);
        if (end == value || *end || errno || v < o->lo || v > o->hi) {
            snprintf(msg, cap, "--%s: expected an integer in %.0f..%.0f, got '%s'", o->name, o->lo,
                     o->hi, value);
            return 1;
        }
        *(int *)o->dest = (int)v;
        return 0;
    }
    case OPT_REAL: {
        double v = strtod(value, &end);
        if (end == value || *end || errno || !isfinite(v) || v < o->lo || v > o->hi) {
            snprintf(msg, cap, "--%s: expected a number in %g..%g, got '%s'", o->name, o->lo, o->hi,
                     value);
            return 1;
        }
        *(double *)o->dest = v;
        return 0;
    }
    case OPT_STRING:
        if (!*value) {
            snprintf(msg, cap, "--%s: needs a non-empty value", o->name);
            return 1;
        }
        *(const char **)o->dest = value;
        return 0;
    case OPT_CHOICE: {
        int i = choice_index(o->choices, value);
        if (i < 0) {
            char hint[128];
            snprintf(msg, cap, "--%s: expected one of %s, got '%s'%s", o->name, o->choices, value,
                     choice_hint(o->choices, value, hint, sizeof hint));
            return 1;
        }
        *(int *)o->dest = i;
        return 0;
    }
    }
    return 0;
}

int cli_parse(int argc, char **argv, const cli_opt_t *opts, int n_opts, char *msg, size_t cap) {
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) return 2;
        if (strncmp(arg, "--", 2) != 0) {
            snprintf(msg, cap, "unexpected argument '%s'", arg);
            return 1;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        const cli_opt_t *o = NULL;
        for (int k = 0; k < n_opts; k++)
            if (strlen(opts[k].name) == name_len && !strncmp(opts[k].name, name, name_len))
                o = &opts[k];
        if (!o) {
            const char *names[128];
            char word[UH_NEAREST_MAX + 1];
            int n = 0;
            for (int k = 0; k < n_opts && n < 128; k++) names[n++] = opts[k].name;
            snprintf(word, sizeof word, "%.*s", (int)name_len, name);
            const char *near = uh_nearest(word, names, n);
            snprintf(msg, cap, "unknown option '%.*s'%s%s%s (see --help)", (int)(name_len + 2), arg,
                     near ? "; did you mean --" : "", near ? near : "", near ? "?" : "");
            return 1;
        }
        if (o->kind == OPT_FLAG) {
            if (eq) {
                snprintf(msg, cap, "--%s takes no value", o->name);
                return 1;
            }
            *(int *)o->dest = 1;
            continue;
        }
        const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!value) {
            snprintf(msg, cap, "--%s needs a value", o->name);
            return 1;
        }
        if (set_value(o, value, msg, cap)) return 1;
    }
    return 0;
}

void cli_print_options(FILE *out, const cli_opt_t *opts, int n_opts) {
    for (int k = 0; k < n_opts; k++) {
        const cli_opt_t *o = &opts[k];
        char left[64];
        if (o->kind == OPT_FLAG)
            snprintf(left, sizeof left, "--%s", o->name);
        else
            snprintf(left, sizeof left, "--%s %s", o->name,
                     o->kind == OPT_CHOICE ? o->choices : o->metavar);
        fprintf(out, "  %-28s %s\n", left, o->help);
    }
    fprintf(out, "  %-28s %s\n", "-h, --help", "show this help");
}
