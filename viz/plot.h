/* plot.h - publication-quality PNG plots from plain C arrays.
 *
 * A plot is one figure holding one chart. Usage, raylib-style paired names:
 *
 *     plot_opts o = plot_defaults();
 *     o.title = "Density per layer";
 *     plot *p = plot_begin(&o);              // NULL + nm_errmsg() on bad opts
 *     if (!p || plot_bars(p, &bars) != NM_OK || plot_save(p, "d.png") != NM_OK)
 *         fprintf(stderr, "%s\n", nm_errmsg());
 *     plot_end(p);
 *
 * Every drawing call checks its input first (empty series, NaN/inf values,
 * mismatched lengths, absurd sizes) and returns NM_ERR with a message that
 * names the problem, drawing nothing. plot_save writes atomically: on any
 * error no file and no temporary file is left. Colours are colour-blind safe
 * (Okabe-Ito for categories, viridis/cividis for ramps); series also differ
 * by marker shape, so meaning never rests on colour alone. Text uses a fixed
 * font file (DejaVu Sans) through cairo-ft, so output is the same bytes on
 * every run: the PNG carries Software/Title/Parameters text chunks and no
 * time stamp. See docs/plots.md. */
#ifndef VIZ_PLOT_H
#define VIZ_PLOT_H

#include "error.h"

#include <stdint.h>

#define PLOT_DEFAULT_FONT "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
#define PLOT_MAX_SERIES 8        /* Okabe-Ito has 8 distinguishable colours */
#define PLOT_MAX_SIDE 10000      /* pixels, per side */
#define PLOT_MAX_PIXELS (40 * 1000 * 1000)

typedef enum { PLOT_THEME_LIGHT = 0, PLOT_THEME_DARK } plot_theme;
typedef enum { PLOT_RAMP_VIRIDIS = 0, PLOT_RAMP_CIVIDIS } plot_ramp;

/* Figure options. Strings are copied by plot_begin; NULL means none. */
typedef struct {
    int width, height;   /* pixels; 0 = 8 x 5 inches at dpi (heatmaps: at most
                            that, shrunk to the content; tables: fit content) */
    double dpi;          /* text and lines scale with it (1 pt = dpi/72 px);
                            0 = 100, or PLOT_TABLE_DPI (300) for a table
                            sized to fit */
    plot_theme theme;
    const char *title;
    const char *xlabel, *ylabel;
    const char *params;  /* written to the PNG "Parameters" text chunk */
    const char *font;    /* TrueType file; NULL = PLOT_DEFAULT_FONT */
    int index_base;      /* first row/column label of heatmaps and masks:
                            0 (C, default) or 1 (Lua's counting) */
    double cell;         /* heatmaps and masks: side of one cell in points,
                            rounded to whole pixels (>= 1); 0 = the largest
                            that fits. Figures drawn with the same cell,
                            dpi and matrix shape share scale and axes */
} plot_opts;

typedef struct plot plot;

/* Pixel rectangle of the data area (where bars/cells/lines are drawn). */
typedef struct { int x, y, w, h; } plot_rect;

/* Options with every field at its default. */
plot_opts plot_defaults(void);

/* Checks the options, loads the font and returns a new plot (caller ends it
 * with plot_end), or NULL with a message (bad size or dpi, font missing). */
plot *plot_begin(const plot_opts *o);
/* Frees the plot. NULL is allowed. */
void plot_end(plot *p);
/* Writes the figure as PNG to `path` (atomically). NM_ERR if nothing has
 * been drawn or the file cannot be written (message names the path). */
int plot_save(plot *p, const char *path);
/* Where the chart's data went; NM_ERR before a chart is drawn. */
int plot_data_rect(const plot *p, plot_rect *r);

/* What a drawn chart did with its space, for callers and tests. */
typedef struct {
    int width, height;       /* figure, pixels */
    double dpi;
    plot_rect data;          /* as plot_data_rect */
    int cell_w, cell_h;      /* heatmaps: pixels per drawn cell (0 otherwise) */
    int x_labels;            /* bars: category labels to draw (n_groups) */
    int x_labels_drawn;      /* ... and how many were drawn; when fewer, a
                                note under the chart says which */
    double x_label_angle;    /* degrees: 0, 45 or 90 */
    double x_label_pt;       /* their font size in points */
} plot_info;
/* Fills *i for a drawn chart; NM_ERR before a chart is drawn. */
int plot_get_info(const plot *p, plot_info *i);

/* Grouped or stacked bars. values[s * n_groups + g] is series s in group g.
 * Every group name is drawn (turned, made smaller down to 6 pt, the figure
 * widened when width is 0); only a fixed width shows every k-th, said in a
 * note under the chart (plot_info.x_labels_drawn). */
typedef struct {
    int n_groups;
    const char *const *groups;   /* n_groups category names (x axis) */
    int n_series;                /* 1..PLOT_MAX_SERIES */
    const char *const *series;   /* n_series legend names; may be NULL if 1 series */
    const double *values;
    const char *const *labels;   /* optional text above each bar (grouped) or
                                    stack (stacked: n_groups entries); NULL =
                                    the value printed with %.3g */
    int value_labels;            /* 0 = no text above bars */
    double ymax;                 /* 0 = automatic (nice number above the data) */
} plot_bar_data;

/* Grouped bars: one bar per series side by side in each group, with an
 * optional value label above each bar. Values may be negative. */
int plot_bars(plot *p, const plot_bar_data *d);
/* Stacked bars: series stacked bottom-up in each group (values >= 0); the
 * labels, if any, go above each stack (one per group). */
int plot_stacked(plot *p, const plot_bar_data *d);

/* Heatmap of a rows x cols matrix, one pixel per cell scaled up with nearest
 * neighbour to whole pixels per cell (opts.cell, or the largest that fits).
 * With width/height 0 the figure shrinks to the matrix and what goes around
 * it; in a fixed size the matrix is centred in the space left by the title,
 * axes and the colour bar or legend (which sit right beside it). Modes:
 *   values only         ramp + labelled colour bar;
 *   mask only           kept / pruned cells in two colours + legend;
 *   values and mask     kept cells on the ramp, pruned cells in the pruned colour.
 * A matrix larger than the data area is reduced by blocks (mean value; kept
 * fraction for masks, then drawn on the ramp) and the block size is printed
 * under the chart: nothing is dropped silently. */
typedef struct {
    int64_t rows, cols;
    const double *values;        /* rows*cols row-major, or NULL */
    const uint8_t *mask;         /* rows*cols, nonzero = kept, or NULL */
    const uint8_t *rows_removed; /* rows flags (nonzero = removed row), marked
                                    in the left margin; or NULL */
    const uint8_t *cols_removed; /* cols flags (nonzero = removed column),
                                    marked above the matrix; or NULL */
    int group_m;                 /* > 0: a separator every group_m columns
                                    (N:M), in a contrasting colour, 1 px at
                                    small cell sizes; left out (and said so
                                    in the note) when cells are under 3 px */
    double vmin, vmax;           /* ramp range; both 0 = data range */
    plot_ramp ramp;
    const char *value_label;     /* colour bar label, e.g. "|w|" */
} plot_heat_data;

int plot_heatmap(plot *p, const plot_heat_data *d);

/* Line series over a shared x, each with its own marker shape. */
typedef struct {
    int n_points;                /* >= 1 */
    const double *x;             /* n_points, or NULL for 0..n_points-1 */
    int n_series;                /* 1..PLOT_MAX_SERIES */
    const char *const *series;   /* legend names; may be NULL if 1 series */
    const double *y;             /* y[s * n_points + i] */
    int markers;                 /* 0 = lines only */
} plot_line_data;

int plot_lines(plot *p, const plot_line_data *d);

/* The roofline on log-log axes: per point (a layer) its operational
 * intensity (x: operations per DRAM word) and attained performance (y:
 * operations per cycle), both positive, under the roof min(peak,
 * bandwidth * x) (bandwidth 0: the compute roof alone). The caller says
 * which bound holds per point (memory_bound[i] nonzero: memory-bound,
 * drawn as vermillion squares; else compute-bound, blue circles); the
 * legend counts each kind and states the roof. Points are labelled with
 * their names (clipped to 24 characters) when label_points is set. */
typedef struct {
    int n;                       /* points, >= 1 */
    const char *const *names;    /* n names, or NULL */
    const double *intensity;     /* n values > 0 */
    const double *perf;          /* n values > 0 */
    const uint8_t *memory_bound; /* n flags, or NULL: all compute-bound */
    double peak;                 /* the compute roof, > 0 */
    double bandwidth;            /* words per cycle, > 0; 0 = no slope */
    int label_points;
} plot_roof_data;

int plot_roofline(plot *p, const plot_roof_data *d);

/* A scatter of n points with their Pareto front (front[i] != 0: on it,
 * computed by the caller; NULL: none): the others as circles, the front
 * as squares in a second colour joined in order of x; a legend says which.
 * Values must be finite. Optional: error bars (xerr/yerr: half-widths,
 * finite and >= 0, e.g. 95 % intervals of means; the axes include them),
 * a text label per point (labels[i] may be NULL; every point is labelled
 * when there are at most 30, else only the front's) and the legend names
 * of the two kinds (NULL: "points", "Pareto front"). */
typedef struct {
    int n;                       /* >= 1 */
    const double *x, *y;
    const unsigned char *front;
    const double *xerr, *yerr;   /* n half-widths each, or NULL */
    const char *const *labels;   /* n labels, or NULL */
    const char *points_name, *front_name;
} plot_pareto_data;

/* Points labelled beyond the front when labels are given: all up to this. */
#define PLOT_PARETO_LABEL_ALL 30

int plot_pareto(plot *p, const plot_pareto_data *d);

/* A table rendered as an image: cells[r * cols + c], row 0 is the header.
 * Cells that look like numbers are right-aligned. With width/height 0 in the
 * options the figure is sized to the table; otherwise it must fit. */
int plot_table(plot *p, int rows, int cols, const char *const *cells);

/* Stacks n figures already drawn (1..64 panels, each still owned by the
 * caller) top to bottom into p, left-aligned, 4 pt apart, under p's title
 * if it has one. With width/height 0 the figure is the widest panel wide
 * and as tall as all; a fixed size must hold them. Panels drawn with the
 * same options (cell size, dpi) keep their matrices at the same x: one
 * scale, aligned axes. Panels must share dpi and theme; the figure takes
 * them (its own dpi if set). The data rectangle is the first panel's. */
int plot_stack(plot *p, const plot *const *panels, int n);

/* Engine helpers (plot_model.c). */
struct nm_model;
struct nm_layer;

/* Grouped bars of the density (nonzero % of weights kept) of every prunable
 * layer, before and after pruning. The models must have the same prunable
 * layers in the same order (checked by name). */
int plot_model_density(plot *p, const struct nm_model *before,
                       const struct nm_model *after);

typedef enum { PLOT_MASK_KEPT = 0, PLOT_MASK_MAGNITUDE } plot_mask_view;
/* The im2col view (C_out x D) of a prunable layer's mask: kept/pruned cells
 * (PLOT_MASK_KEPT) or |w| of kept weights on the ramp with pruned cells in
 * the pruned colour (PLOT_MASK_MAGNITUDE). Gridlines every M columns when
 * the layer declares N:M; removed filters (rows) and removed input channels
 * (in_chans == 0: the columns of that channel's kh x kw block) are marked.
 * Large layers are reduced to kept fraction per block, read straight from
 * the tensors. */
int plot_layer_mask(plot *p, const struct nm_layer *l, plot_mask_view view);

#endif
