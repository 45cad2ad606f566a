/* plot_internal.h - what the plot_*.c files share: the figure struct, the
 * theme, text and axis helpers. Not part of the public API. */
#ifndef VIZ_PLOT_INTERNAL_H
#define VIZ_PLOT_INTERNAL_H

#include "plot.h"

#include <cairo.h>

typedef struct { double r, g, b; } plot_rgb;

typedef struct {
    plot_rgb bg, fg, axis, grid;
    plot_rgb kept, pruned, marker;   /* masks: kept / pruned cells, removed rows */
    plot_rgb sep;                    /* N:M group separators: contrasts with
                                        cells and background */
} plot_colors;

/* Font sizes in points. */
#define PT_TITLE 13.0
#define PT_LABEL 10.0
#define PT_TICK 8.5
#define PT_VALUE 8.0
#define PT_LEGEND 9.0
#define PT_NOTE 8.0
#define PT_TABLE 9.0

struct plot {
    int width, height;          /* requested (0 = default) */
    double dpi, px_per_pt;
    plot_theme theme;
    int index_base;             /* 0 or 1: first heatmap row/column label */
    int dpi_auto;               /* dpi was left 0: tables fitted to their
                                   content then use PLOT_TABLE_DPI */
    double cell_pt;             /* heatmaps: cell side in points, 0 = fit */
    char *title, *xlabel, *ylabel, *params, *font_path;
    plot_colors col;
    cairo_font_face_t *font;
    cairo_surface_t *surf;      /* created by the first chart */
    cairo_t *cr;
    const char *kind;           /* chart drawn, or NULL */
    plot_rect data;             /* where the chart's data went */
    plot_info info;             /* what the chart did (plot_get_info) */
};

/* Tables sized to fit with dpi 0 are drawn at this dpi: print resolution. */
#define PLOT_TABLE_DPI 300.0
/* Bars: category labels are made smaller down to this size (points) before
 * any is left out. */
#define PT_TICK_MIN 6.0

/* floating rectangle, edges */
typedef struct { double x0, y0, x1, y1; } plot_box;

/* Nice axis ticks on 1-2-5 steps: lo, lo+step, ..., hi (n values). */
typedef struct { double lo, hi, step; int n, decimals; } plot_ticks;

/* plot_font.c: loads a TrueType file as a cairo font face (caller destroys
 * it with cairo_font_face_destroy; the FreeType face goes with it). */
cairo_font_face_t *plot_font_load(const char *path);

/* plot_palette.c */
plot_rgb plot_category_color(plot_theme th, int i);   /* Okabe-Ito, i < 8 */
plot_rgb plot_ramp_color(plot_ramp r, double t);      /* t in [0,1], clamped */
void plot_theme_colors(plot_theme th, plot_colors *c);

/* plot.c */
double plot_px(const plot *p, double pt);             /* points -> pixels */
void plot_set_rgb(const plot *p, plot_rgb c);
/* Creates the surface (w x h pixels, checked) and paints the background.
 * Errors if a chart was already drawn. */
int plot_canvas(plot *p, int w, int h, const char *kind);
int plot_default_width(const plot *p);
int plot_default_height(const plot *p);
/* Text width and line height in pixels at size pt. */
double plot_text_width(plot *p, double pt, const char *s);
double plot_line_height(plot *p, double pt);
/* Draws s anchored at (x, y): ha 0/0.5/1 = left/centre/right, va 0/0.5/1 =
 * top/middle/bottom of the line box, rotated by angle (radians) about the
 * anchor. */
void plot_text(plot *p, double pt, const char *s, double x, double y,
               double ha, double va, double angle, plot_rgb c);
/* Checks that cairo is still happy after drawing (invalid UTF-8 etc.). */
int plot_check_cairo(plot *p, const char *what);
/* Fills the integer-pixel rectangle [x0,x1) x [y0,y1) without antialiasing. */
void plot_fill_px(plot *p, int x0, int y0, int x1, int y1, plot_rgb c);

/* Called by each chart function with its status: a chart that failed
 * half-way leaves the figure empty again, so plot_save cannot write it. */
int plot_finish(plot *p, int drawn_before, int status);

/* Validation helpers: NM_ERR with "what: ..." messages. */
int plot_check_finite(const char *what, const double *v, int64_t n);
int plot_check_names(const char *what, const char *const *names, int n);

/* plot_axis.c */
void plot_nice_ticks(double lo, double hi, int target, plot_ticks *t);
void plot_tick_label(const plot_ticks *t, int i, char *buf, int len);
/* Nice ticks for a vertical axis `avail` px tall: about five intervals, fewer
 * when their labels would be closer than 1.6 lines apart. */
void plot_y_ticks(plot *p, double lo, double hi, double avail, plot_ticks *t);
double plot_ticks_max_width(plot *p, const plot_ticks *t);
/* X ticks that fit between left and edge (see plot_axis.c); returns the
 * plot area's right end. */
double plot_fit_x_ticks(plot *p, double xlo, double xhi, double left, double edge, double legw,
                        plot_ticks *xt);
/* Draws the title (if any) and returns the y where the content may start. */
double plot_draw_title(plot *p);
/* That y for a figure W px wide, without drawing (for layouts decided
 * before the canvas). A title wider than the figure is set smaller, down
 * to PT_LABEL, then in two lines. */
double plot_title_bottom(plot *p, int W);
/* Width of the title's widest line as it is set in a figure W px wide. */
double plot_title_width(plot *p, int W);
/* Legend in a column: swatch style 0 = filled square, 1 = line + marker. */
double plot_legend_width(plot *p, const char *const *names, int n, int style);
void plot_draw_legend(plot *p, double x, double y, const char *const *names,
                      const plot_rgb *colors, int n, int style);
/* Whether a legend column would take more than a quarter of a figure W px
 * wide: then it goes in rows under the chart instead. */
int plot_legend_below(plot *p, const char *const *names, int n, int style, int W);
/* Height of the legend in rows wrapped at w px, and drawing it with its
 * top at y, each row centred in [x0, x0 + w]. */
double plot_legend_rows_height(plot *p, const char *const *names, int n, int style, double w);
void plot_draw_legend_rows(plot *p, double x0, double y, double w, const char *const *names,
                           const plot_rgb *colors, int n, int style);
/* Marker shape k (0..7) centred at (x, y), radius r px. */
void plot_marker(plot *p, int k, double x, double y, double r, plot_rgb c);
/* Y axis on the left of box: gridlines across, tick labels, axis label.
 * y_of maps a value to a pixel row. */
void plot_draw_yaxis(plot *p, const plot_box *b, const plot_ticks *t,
                     double vlo, double vhi);
void plot_draw_xaxis(plot *p, const plot_box *b, const plot_ticks *t,
                     double vlo, double vhi);
/* Axis labels: x label centred under the box with its bottom at xlabel_y,
 * y label rotated with its top at ylabel_x. */
void plot_draw_axis_labels(plot *p, const plot_box *b, double ylabel_x, double xlabel_y);
/* Value -> pixel along an axis. */
static inline double plot_map(double v, double vlo, double vhi, double p0, double p1)
{
    return p0 + (v - vlo) / (vhi - vlo) * (p1 - p0);
}
/* Copies at most max_chars UTF-8 characters of s into buf, adding "..." if cut. */
void plot_clip_label(const char *s, int max_chars, char *buf, int len);

/* plot_heatmap.c: a matrix from doubles or floats (|x| if abs_f), with an
 * optional mask; what names the caller in messages. */
typedef struct {
    int64_t rows, cols;
    const double *dv;
    const float *fv;
    int abs_f;
    const uint8_t *mask;
    int all_kept;            /* mask mode without a mask: every cell kept */
    const uint8_t *rows_removed;
    const uint8_t *cols_removed;
    const char *cols_removed_what;   /* note text for marked columns, e.g.
                                        "input channels"; NULL = "columns" */
    int64_t cols_removed_count;      /* what the note counts (0 = the
                                        number of flagged columns) */
    int64_t cols_removed_total;
    int group_m;
    int group_restart;       /* > 1: groups restart every this many columns
                                (N:M along kernel: kh*kw) */
    int group_stride;        /* > 1: a group's columns are this far apart
                                (N:M along in: kh*kw), so one spans
                                group_m * group_stride columns */
    int reserve_marks;       /* keep room for row and column removal marks
                                even when nothing is removed, so masks of
                                one layer under different methods align */
    double vmin, vmax;
    plot_ramp ramp;
    const char *value_label;
    const char *what;
} plot_heat_src;
int plot_heat_draw(plot *p, const plot_heat_src *s);

#endif
