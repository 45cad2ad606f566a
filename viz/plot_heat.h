/* plot_heat.h - private to the heatmap files: where one matrix went on the
 * figure, and the parts drawn around it (plot_heat_parts.c). */
#ifndef VIZ_PLOT_HEAT_H
#define VIZ_PLOT_HEAT_H

#include "plot_internal.h"

#include <math.h>
#include <stdint.h>

/* A colour as a CAIRO_FORMAT_RGB24 pixel. */
static inline uint32_t heat_pack(plot_rgb c)
{
    return (uint32_t)lround(c.r * 255) << 16 | (uint32_t)lround(c.g * 255) << 8 |
           (uint32_t)lround(c.b * 255);
}

/* The layout of a drawn matrix, decided once by plot_heat_draw. */
typedef struct {
    int has_v, has_m;        /* values on the ramp / a kept-pruned mask */
    double lo, hi;           /* ramp range of the values */
    int64_t br, bc;          /* source cells per drawn cell (1 = exact) */
    int reduced;             /* br > 1 || bc > 1 */
    int rows_r, cols_r;      /* drawn cells */
    int sx, sy;              /* pixels per drawn cell */
    int x0, y0, iw, ih;      /* the matrix, in pixels */
    double gap, mark_w;      /* spacing and removal mark thickness, px */
    double row_mark;         /* margin taken by row marks (0 = none) */
    double bottom;           /* lowest y the matrix area may use */
    double under;            /* where the x label and the note start */
    double xlabel_cx, ylabel_cy;   /* centres of the axis labels: on the
                                      matrix, moved in when it is smaller
                                      than they are */
    int group_lines;         /* N:M separators drawn */
    int64_t rows_gone, cols_gone;   /* flagged rows / columns */
    plot_ticks rt, ct;       /* row and column index ticks */
} heat_layout;

/* The note under a heatmap: "; "-joined pieces in up to HEAT_NOTE_LINES
 * lines, each kept under a width where it can be. */
#define HEAT_NOTE_LINES 4
typedef struct {
    char line[HEAT_NOTE_LINES][256];
    int n;                   /* lines used */
    double x;                /* left edge of the lines */
    double widest_piece;     /* px: no line can be narrower than this */
} heat_note;
/* Builds the note for the decided layout, wrapping at max_w pixels into at
 * most max_lines lines (the last one takes what is left). */
void heat_note_build(plot *p, const plot_heat_src *s, const heat_layout *L, double max_w,
                     int max_lines, heat_note *nt);
/* Lowest y the legend and colour bar beside the matrix reach. */
double heat_side_bottom(plot *p, const heat_layout *L);

/* Index ticks for base..base+n-1 (nice steps, first tick moved up to base)
 * and the widest of their labels. */
void heat_index_ticks(int64_t n, int base, plot_ticks *t);
/* The same once the matrix is px pixels along this axis: fewer ticks while
 * their labels would touch (across = 1: labels side by side under the
 * columns; 0: rows, at least 1.3 lines apart); just the first if even two
 * do not fit. */
void heat_index_ticks_fit(plot *p, int64_t n, int base, double px, int across, plot_ticks *t);
double heat_index_ticks_width(plot *p, const plot_ticks *t, int64_t n, int base);
/* Width of a colour bar with its ticks and rotated label. */
double heat_colorbar_width(plot *p, double lo, double hi, const char *label);

/* Parts drawn once the cells are on the canvas. */
/* 1 if column c starts an N:M group (or a kernel, where groups restart). */
int heat_group_start(const plot_heat_src *s, int64_t c);
void heat_draw_separators(plot *p, const plot_heat_src *s, const heat_layout *L);
void heat_draw_marks(plot *p, const plot_heat_src *s, const heat_layout *L);
void heat_draw_index_axes(plot *p, const plot_heat_src *s, const heat_layout *L);
/* Legend (kept / pruned / removed) and colour bar beside the matrix. */
void heat_draw_side(plot *p, const plot_heat_src *s, const heat_layout *L);
/* Note under the matrix (size, blocks, groups, removals) and axis labels. */
void heat_draw_note(plot *p, const heat_note *nt, const heat_layout *L, double pad, int dx);

#endif
