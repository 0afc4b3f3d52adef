/* Private to src/report: SVG plots and HTML pieces. */
#ifndef UHNAS_REPORT_INTERNAL_H
#define UHNAS_REPORT_INTERNAL_H

#include "uhnas/report.h"
#include "uhnas/strbuf.h"

/* Okabe & Ito's colour-blind-safe palette, then markers so series differ without colour. */
#define REPORT_N_COLORS 7
extern const char *const REPORT_COLORS[REPORT_N_COLORS];
#define REPORT_FADED "#9a9a9a"

typedef enum { MARK_CIRCLE, MARK_SQUARE, MARK_TRIANGLE, MARK_DIAMOND, MARK_COUNT } mark_t;

typedef struct {
    uh_strbuf_t *out;
    double x0, x1, y0, y1; /* data range */
    int log_x;
    double left, top, width, height; /* the plotting area, in SVG units */
} plot_t;

/* Opens an <svg> with axes, ticks, grid and labels over [x0, x1] × [y0, y1] (x in decades
 * when log_x). `kind` goes to data-plot. */
void plot_begin(plot_t *p, uh_strbuf_t *out, const char *kind, const char *title,
                const char *x_label, const char *y_label, double x0, double x1, double y0,
                double y1, int log_x);
void plot_end(plot_t *p);
/* A point; cls is the circle's class list after "pt" (e.g. "front"); tooltip is escaped. */
void plot_point(plot_t *p, double x, double y, const char *color, mark_t mark, double opacity,
                const char *cls, const char *tooltip);
void plot_line(plot_t *p, const double *x, const double *y, int n, const char *color, int dashed,
               int steps);
/* A shaded band between lo and hi. */
void plot_band(plot_t *p, const double *x, const double *lo, const double *hi, int n,
               const char *color);
/* A legend in a corner of the plot, where the data leaves room. dashed[i]: −1 no line, 0
 * solid, 1 dashed; marks[i] MARK_COUNT: no marker. */
typedef enum { LEGEND_TOP_RIGHT, LEGEND_TOP_LEFT, LEGEND_BOTTOM_RIGHT } legend_corner_t;
void plot_legend(plot_t *p, legend_corner_t corner, const char *const *names,
                 const char *const *colors, const mark_t *marks, const int *dashed, int n);

/* Nice bounds for data in [lo, hi] (with a margin), and decades for log axes. */
void report_range(const double *v, int n, int log_scale, double *lo, double *hi);

/* The indices of r's front members ordered by energy (for step lines and tables); malloc'd,
 * NULL when out of memory. */
int *report_front_by_energy(const uh_run_data_t *r, int *n);

/* The index of the item named name among n items of `stride` bytes that each begin with
 * their name (a char array), or -1: groups of runs by backend or strategy. */
int report_find_name(const void *items, size_t stride, int n, const char *name);

/* Runs of one backend compared as strategies (src/report/strategies.c): the hypervolume-by-
 * evaluation plot into plots, the statistics table into table, both as CSV. Runs are grouped
 * by strategy, or by their directories' parent folders (by_parent). UH_ENOMEM or UH_OK. */
int report_strategies(uh_strbuf_t *plots, uh_strbuf_t *table, uh_strbuf_t *csv, uh_strbuf_t *curves,
                      const uh_run_data_t *const *runs, int n, int by_parent);

/* HTML text escaping (&, <, >, ", '). */
void html_text(uh_strbuf_t *b, const char *s);
/* The page's head (title, style) and foot. */
void html_begin(uh_strbuf_t *b, const char *title, int refresh_s);
void html_end(uh_strbuf_t *b);
/* A compact architecture summary: "conv8k3·relu → pool2 → dense64·relu/4b → dense10". */
void arch_summary(uh_strbuf_t *b, const char *arch_json);
/* The same as a small inline SVG (class "arch"): a box per layer in order, coloured by kind,
 * as tall as log2 of its units or filters, each with its summary as a tooltip. */
void arch_diagram(uh_strbuf_t *b, const char *arch_json);

#endif
