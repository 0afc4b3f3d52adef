/* Inline SVG plots: axes with nice ticks (linear or decades), points with tooltips, lines,
 * bands and legends. Plain text out; nothing here reads data files. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report_internal.h"

const char *const REPORT_COLORS[REPORT_N_COLORS] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                                    "#E69F00", "#56B4E9", "#000000"};

enum { SVG_W = 640, SVG_H = 400, MARGIN_L = 72, MARGIN_R = 24, MARGIN_T = 36, MARGIN_B = 56 };

void html_text(uh_strbuf_t *b, const char *s) {
    for (const char *p = s; *p; p++) {
        const char *entity = *p == '&'    ? "&amp;"
                             : *p == '<'  ? "&lt;"
                             : *p == '>'  ? "&gt;"
                             : *p == '"'  ? "&quot;"
                             : *p == '\'' ? "&#39;"
                                          : NULL;
        if (entity)
            uh_strbuf_puts(b, entity);
        else
            uh_strbuf_put(b, p, 1);
    }
}

static double px(const plot_t *p, double x) {
    double t = p->log_x ? (log10(x) - log10(p->x0)) / (log10(p->x1) - log10(p->x0))
                        : (x - p->x0) / (p->x1 - p->x0);
    return p->left + t * p->width;
}

static double py(const plot_t *p, double y) {
    return p->top + (1 - (y - p->y0) / (p->y1 - p->y0)) * p->height;
}

/* A step of 1, 2 or 5 × 10^k giving about `want` ticks over span. */
static double nice_step(double span, int want) {
    double raw = span / want, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

void report_range(const double *v, int n, int log_scale, double *lo, double *hi) {
    double a = INFINITY, b = -INFINITY;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i]) && (!log_scale || v[i] > 0)) a = fmin(a, v[i]), b = fmax(b, v[i]);
    if (!(a <= b)) a = log_scale ? 1 : 0, b = log_scale ? 10 : 1;
    if (log_scale) {
        *lo = pow(10, floor(log10(a)));
        *hi = pow(10, ceil(log10(b)));
        if (*hi <= *lo) *hi = *lo * 10;
        return;
    }
    double pad = b > a ? 0.05 * (b - a) : fabs(a) > 0 ? 0.05 * fabs(a) : 1;
    double step = nice_step(b - a + 2 * pad, 5);
    *lo = floor((a - pad) / step) * step;
    *hi = ceil((b + pad) / step) * step;
}

static void tick_label(char *buf, size_t size, double v) {
    if (v != 0 && (fabs(v) >= 1e5 || fabs(v) < 1e-3))
        snprintf(buf, size, "%.0e", v);
    else
        snprintf(buf, size, "%g", v);
}

static void axes(plot_t *p, const char *x_label, const char *y_label) {
    uh_strbuf_t *b = p->out;
    char label[32];
    uh_strbuf_puts(b, "<g class=\"axes\" font-size=\"12\" fill=\"#222\">\n");
    if (p->log_x) {
        for (double d = p->x0; d <= p->x1 * 1.0001; d *= 10) {
            double x = px(p, d);
            tick_label(label, sizeof label, d);
            uh_strbuf_putf(
                b,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                x, p->top, x, p->top + p->height, x, p->top + p->height + 18, label);
            for (int k = 2; k < 10 && d * k < p->x1; k++) /* minor ticks */
                uh_strbuf_putf(b,
                               "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                               "stroke=\"#888\"/>\n",
                               px(p, d * k), p->top + p->height, px(p, d * k),
                               p->top + p->height + 4);
        }
    } else {
        double step = nice_step(p->x1 - p->x0, 6);
        for (double v = ceil(p->x0 / step) * step; v <= p->x1 + step * 1e-9; v += step) {
            tick_label(label, sizeof label, fabs(v) < step * 1e-9 ? 0 : v);
            uh_strbuf_putf(
                b,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                px(p, v), p->top, px(p, v), p->top + p->height, px(p, v), p->top + p->height + 18,
                label);
        }
    }
    double step = nice_step(p->y1 - p->y0, 5);
    for (double v = ceil(p->y0 / step) * step; v <= p->y1 + step * 1e-9; v += step) {
        tick_label(label, sizeof label, fabs(v) < step * 1e-9 ? 0 : v);
        uh_strbuf_putf(b,
                       "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
                       "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                       p->left, py(p, v), p->left + p->width, py(p, v), p->left - 6, py(p, v) + 4,
                       label);
    }
    uh_strbuf_putf(b,
                   "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                   "stroke=\"#444\"/>\n",
                   p->left, p->top, p->width, p->height);
    uh_strbuf_putf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"13\">",
                   p->left + p->width / 2, SVG_H - 12);
    html_text(b, x_label);
    uh_strbuf_putf(b,
                   "</text>\n<text transform=\"translate(18 %.1f) rotate(-90)\" "
                   "text-anchor=\"middle\" font-size=\"13\">",
                   p->top + p->height / 2);
    html_text(b, y_label);
    uh_strbuf_puts(b, "</text>\n</g>\n");
}

void plot_begin(plot_t *p, uh_strbuf_t *out, const char *kind, const char *title,
                const char *x_label, const char *y_label, double x0, double x1, double y0,
                double y1, int log_x) {
    *p = (plot_t){out,
                  x0,
                  x1,
                  y0,
                  y1,
                  log_x,
                  MARGIN_L,
                  MARGIN_T,
                  SVG_W - MARGIN_L - MARGIN_R,
                  SVG_H - MARGIN_T - MARGIN_B};
    uh_strbuf_putf(out,
                   "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" "
                   "height=\"%d\" data-plot=\"%s\" role=\"img\" aria-label=\"",
                   SVG_W, SVG_H, SVG_W, SVG_H, kind);
    html_text(out, title);
    uh_strbuf_putf(out, "\">\n<text x=\"%d\" y=\"22\" font-size=\"15\" font-weight=\"bold\">",
                   MARGIN_L);
    html_text(out, title);
    uh_strbuf_puts(out, "</text>\n");
    axes(p, x_label, y_label);
}

void plot_end(plot_t *p) {
    uh_strbuf_puts(p->out, "</svg>\n");
}

static void marker(uh_strbuf_t *b, double x, double y, mark_t m, const char *color, double opacity,
                   const char *cls) {
    const double r = 4.5;
    switch (m) {
    case MARK_SQUARE:
        uh_strbuf_putf(b, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"",
                       cls, x - r, y - r, 2 * r, 2 * r);
        break;
    case MARK_TRIANGLE:
        uh_strbuf_putf(b, "<polygon class=\"%s\" points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\"", cls, x,
                       y - r - 1, x - r - 0.5, y + r, x + r + 0.5, y + r);
        break;
    case MARK_DIAMOND:
        uh_strbuf_putf(b,
                       "<polygon class=\"%s\" points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f\"",
                       cls, x, y - r - 1, x + r + 1, y, x, y + r + 1, x - r - 1, y);
        break;
    default:
        uh_strbuf_putf(b, "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\"", cls, x, y, r);
    }
    uh_strbuf_putf(b, " fill=\"%s\" fill-opacity=\"%.2f\" stroke=\"%s\" stroke-opacity=\"%.2f\">",
                   color, opacity, color, opacity < 1 ? opacity : 1.0);
}

static const char *const MARK_TAG[MARK_COUNT] = {"circle", "rect", "polygon", "polygon"};

void plot_point(plot_t *p, double x, double y, const char *color, mark_t mark, double opacity,
                const char *cls, const char *tooltip) {
    if (!isfinite(x) || !isfinite(y) || (p->log_x && !(x > 0))) return;
    char classes[64];
    snprintf(classes, sizeof classes, "pt %s", cls);
    marker(p->out, px(p, x), py(p, y), mark, color, opacity, classes);
    if (tooltip) {
        uh_strbuf_puts(p->out, "<title>");
        html_text(p->out, tooltip);
        uh_strbuf_puts(p->out, "</title>");
    }
    uh_strbuf_putf(p->out, "</%s>\n", MARK_TAG[mark]);
}

void plot_line(plot_t *p, const double *x, const double *y, int n, const char *color, int dashed,
               int steps) {
    uh_strbuf_putf(p->out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"",
                   color, dashed ? " stroke-dasharray=\"6 4\"" : "");
    double last_y = NAN;
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i]) || (p->log_x && !(x[i] > 0))) continue;
        if (steps && isfinite(last_y)) /* a front: horizontal, then down */
            uh_strbuf_putf(p->out, "%.1f,%.1f ", px(p, x[i]), py(p, last_y));
        uh_strbuf_putf(p->out, "%.1f,%.1f ", px(p, x[i]), py(p, y[i]));
        last_y = y[i];
    }
    uh_strbuf_puts(p->out, "\"/>\n");
}

void plot_band(plot_t *p, const double *x, const double *lo, const double *hi, int n,
               const char *color) {
    uh_strbuf_putf(p->out, "<polygon fill=\"%s\" fill-opacity=\"0.18\" stroke=\"none\" points=\"",
                   color);
    for (int i = 0; i < n; i++) uh_strbuf_putf(p->out, "%.1f,%.1f ", px(p, x[i]), py(p, hi[i]));
    for (int i = n - 1; i >= 0; i--)
        uh_strbuf_putf(p->out, "%.1f,%.1f ", px(p, x[i]), py(p, lo[i]));
    uh_strbuf_puts(p->out, "\"/>\n");
}

void plot_legend(plot_t *p, legend_corner_t corner, const char *const *names,
                 const char *const *colors, const mark_t *marks, const int *dashed, int n) {
    double x = corner == LEGEND_TOP_LEFT ? p->left + 14 : p->left + p->width - 190;
    double y = corner == LEGEND_BOTTOM_RIGHT ? p->top + p->height - 18 * n - 12 : p->top + 10;
    uh_strbuf_putf(p->out,
                   "<g class=\"legend\" font-size=\"12\"><rect x=\"%.1f\" y=\"%.1f\" width=\"182\" "
                   "height=\"%d\" fill=\"#fff\" fill-opacity=\"0.85\" stroke=\"#bbb\"/>\n",
                   x - 6, y - 4, 18 * n + 6);
    for (int i = 0; i < n; i++) {
        double yy = y + 18 * i + 8;
        if (dashed && dashed[i] >= 0)
            uh_strbuf_putf(p->out,
                           "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                           "stroke-width=\"2\"%s/>\n",
                           x, yy, x + 22, yy, colors[i],
                           dashed[i] ? " stroke-dasharray=\"6 4\"" : "");
        if (marks && marks[i] < MARK_COUNT) { /* MARK_COUNT: a line only */
            marker(p->out, x + 11, yy, marks[i], colors[i], 1, "legend-mark");
            uh_strbuf_putf(p->out, "</%s>\n", MARK_TAG[marks[i]]);
        }
        uh_strbuf_putf(p->out, "<text x=\"%.1f\" y=\"%.1f\">", x + 30, yy + 4);
        html_text(p->out, names[i]);
        uh_strbuf_puts(p->out, "</text>\n");
    }
    uh_strbuf_puts(p->out, "</g>\n");
}

void html_begin(uh_strbuf_t *b, const char *title, int refresh_s) {
    uh_strbuf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    if (refresh_s > 0)
        uh_strbuf_putf(b, "<meta http-equiv=\"refresh\" content=\"%d\">\n", refresh_s);
    uh_strbuf_puts(b, "<title>");
    html_text(b, title);
    uh_strbuf_puts(
        b, "</title>\n<style>\n"
           "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;"
           "max-width:1340px;padding:0 1em;color:#222;line-height:1.45}\n"
           "h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}\n"
           "table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;"
           "padding:.25em .5em;text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}\n"
           ".plots{display:flex;flex-wrap:wrap;gap:1em}svg{max-width:100%;height:auto;"
           "background:#fff}\n"
           "pre{background:#f7f7f7;padding:.8em;overflow:auto;font-size:.85em;max-height:32em}\n"
           ".note{color:#555;font-size:.9em}code{font-size:.9em}\n"
           ".bar{display:flex;width:18em;height:1em;border:1px solid #bbb}.bar span{height:100%}\n"
           "tr.knee{background:#fff6d5}svg.arch{display:block;margin-top:.3em}\n"
           "</style></head><body>\n");
}

void html_end(uh_strbuf_t *b) {
    uh_strbuf_puts(b, "<p class=\"note\">Made by uhnas " UHNAS_VERSION
                      ". Plots are inline SVG; the page needs no network.</p>\n</body></html>\n");
}

static const char *layer_short(const cJSON *l, char *buf, size_t size) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(l, "type");
    const char *t = cJSON_IsString(type) ? type->valuestring : "?";
    int units = 0, filters = 0, kernel = 0, bits = 0, tile = 0, psize = 0;
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(l, "units")) && cJSON_IsNumber(v))
        units = v->valueint;
    if ((v = cJSON_GetObjectItemCaseSensitive(l, "filters")) && cJSON_IsNumber(v))
        filters = v->valueint;
    if ((v = cJSON_GetObjectItemCaseSensitive(l, "kernel")) && cJSON_IsNumber(v))
        kernel = v->valueint;
    if ((v = cJSON_GetObjectItemCaseSensitive(l, "bits")) && cJSON_IsNumber(v)) bits = v->valueint;
    if ((v = cJSON_GetObjectItemCaseSensitive(l, "tile")) && cJSON_IsNumber(v)) tile = v->valueint;
    if ((v = cJSON_GetObjectItemCaseSensitive(l, "size")) && cJSON_IsNumber(v)) psize = v->valueint;
    const cJSON *act = cJSON_GetObjectItemCaseSensitive(l, "activation");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(l, "kind");
    int n = 0;
    if (strcmp(t, "dense") == 0)
        n = snprintf(buf, size, "dense%d", units);
    else if (strcmp(t, "conv2d") == 0)
        n = snprintf(buf, size, "conv%dk%d", filters, kernel);
    else if (strcmp(t, "pool") == 0)
        n = snprintf(buf, size, "%spool%d", cJSON_IsString(kind) ? kind->valuestring : "", psize);
    else
        n = snprintf(buf, size, "%s", t);
    if (n > 0 && (size_t)n < size && cJSON_IsString(act) && strcmp(act->valuestring, "none") != 0)
        n += snprintf(buf + n, size - (size_t)n, "·%s", act->valuestring);
    if (n > 0 && (size_t)n < size && bits) n += snprintf(buf + n, size - (size_t)n, "/%db", bits);
    if (n > 0 && (size_t)n < size && tile) snprintf(buf + n, size - (size_t)n, "/t%d", tile);
    return buf;
}

void arch_diagram(uh_strbuf_t *b, const char *arch_json) {
    enum { BOX = 12, GAP = 4, TALL = 40 }; /* px: a box's width, the gap, the tallest box */
    cJSON *o = cJSON_Parse(arch_json);
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(o, "layers"), *l;
    int n = cJSON_GetArraySize(layers);
    if (!cJSON_IsArray(layers) || n < 1) {
        cJSON_Delete(o);
        return;
    }
    uh_strbuf_putf(b, "<svg class=\"arch\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">",
                   n * (BOX + GAP), TALL, n * (BOX + GAP), TALL);
    int x = 0;
    cJSON_ArrayForEach(l, layers) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(l, "type");
        const char *t = cJSON_IsString(type) ? type->valuestring : "";
        const cJSON *size =
            cJSON_GetObjectItemCaseSensitive(l, strcmp(t, "conv2d") == 0 ? "filters" : "units");
        double width = cJSON_IsNumber(size) && size->valuedouble >= 1 ? size->valuedouble : 1;
        /* 4 px a doubling, from 6 px for one unit (pooling and flattening have none) */
        double h = fmin(TALL, 6 + 4 * log2(width));
        const char *fill = strcmp(t, "conv2d") == 0  ? "#4c78a8"
                           : strcmp(t, "dense") == 0 ? "#f58518"
                           : strcmp(t, "pool") == 0  ? "#9d9d9d"
                                                     : "#d0d0d0";
        char tip[96];
        uh_strbuf_putf(b,
                       "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" fill=\"%s\"><title>",
                       x, (TALL - h) / 2, BOX, h, fill);
        html_text(b, layer_short(l, tip, sizeof tip));
        uh_strbuf_puts(b, "</title></rect>");
        x += BOX + GAP;
    }
    uh_strbuf_puts(b, "</svg>");
    cJSON_Delete(o);
}

void arch_summary(uh_strbuf_t *b, const char *arch_json) {
    cJSON *o = cJSON_Parse(arch_json);
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(o, "layers"), *l;
    if (!cJSON_IsArray(layers)) {
        html_text(b, arch_json);
        cJSON_Delete(o);
        return;
    }
    int first = 1;
    cJSON_ArrayForEach(l, layers) {
        char buf[96];
        if (!first) uh_strbuf_puts(b, " → ");
        html_text(b, layer_short(l, buf, sizeof buf));
        first = 0;
    }
    cJSON_Delete(o);
}
