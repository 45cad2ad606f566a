/* plot_pareto.c - a scatter of points with their Pareto front: every point
 * a marker, the front's points a second colour and shape joined in order
 * of x, with optional error bars (the 95 % interval of a mean over seeds)
 * and text labels. Layout as plot_lines (plot_lines.c). */
#include "plot_internal.h"

#include <math.h>
#include <stdlib.h>

#define MAX_POINTS 1000000

static int check_pareto(const plot_pareto_data *d)
{
    if (!d)
        return nm_seterr("plot_pareto: no data");
    if (d->n < 1 || d->n > MAX_POINTS)
        return nm_seterr("plot_pareto: %d points (1..%d allowed)", d->n, MAX_POINTS);
    if (!d->x || !d->y)
        return nm_seterr("plot_pareto: no x or y values");
    if (plot_check_finite("plot_pareto: x", d->x, d->n) != NM_OK ||
        plot_check_finite("plot_pareto: y", d->y, d->n) != NM_OK)
        return NM_ERR;
    const double *err[2] = {d->xerr, d->yerr};
    for (int k = 0; k < 2; k++) {
        if (!err[k])
            continue;
        if (plot_check_finite(k ? "plot_pareto: yerr" : "plot_pareto: xerr", err[k], d->n) != NM_OK)
            return NM_ERR;
        for (int i = 0; i < d->n; i++)
            if (err[k][i] < 0)
                return nm_seterr("plot_pareto: %cerr[%d] is negative (%g)", k ? 'y' : 'x', i, err[k][i]);
    }
    return NM_OK;
}

/* The half-width of point i's bar in err (0 without bars). */
static double half(const double *err, int i)
{
    return err ? err[i] : 0;
}

/* Draws the error bars of point i at (px, py): whiskers with caps, in c. */
static void draw_bars(plot *p, const plot_pareto_data *d, int i, const plot_ticks *xt,
                      const plot_ticks *yt, const plot_box *b, plot_rgb c)
{
    cairo_t *cr = p->cr;
    double cap = plot_px(p, 2.5);
    double px = plot_map(d->x[i], xt->lo, xt->hi, b->x0, b->x1);
    double py = plot_map(d->y[i], yt->lo, yt->hi, b->y1, b->y0);
    plot_set_rgb(p, c);
    cairo_set_line_width(cr, plot_px(p, 0.8));
    if (half(d->yerr, i) > 0) {
        double y0 = plot_map(d->y[i] - d->yerr[i], yt->lo, yt->hi, b->y1, b->y0);
        double y1 = plot_map(d->y[i] + d->yerr[i], yt->lo, yt->hi, b->y1, b->y0);
        cairo_move_to(cr, px, y0), cairo_line_to(cr, px, y1);
        cairo_move_to(cr, px - cap, y0), cairo_line_to(cr, px + cap, y0);
        cairo_move_to(cr, px - cap, y1), cairo_line_to(cr, px + cap, y1);
    }
    if (half(d->xerr, i) > 0) {
        double x0 = plot_map(d->x[i] - d->xerr[i], xt->lo, xt->hi, b->x0, b->x1);
        double x1 = plot_map(d->x[i] + d->xerr[i], xt->lo, xt->hi, b->x0, b->x1);
        cairo_move_to(cr, x0, py), cairo_line_to(cr, x1, py);
        cairo_move_to(cr, x0, py - cap), cairo_line_to(cr, x0, py + cap);
        cairo_move_to(cr, x1, py - cap), cairo_line_to(cr, x1, py + cap);
    }
    cairo_stroke(cr);
}

static const double *g_x;   /* qsort has no context argument in C17 */

static int cmp_by_x(const void *a, const void *b)
{
    int i = *(const int *)a, j = *(const int *)b;
    return g_x[i] < g_x[j] ? -1 : g_x[i] > g_x[j] ? 1 : (i > j) - (i < j);
}

static int draw_pareto(plot *p, const plot_pareto_data *d)
{
    if (!p)
        return nm_seterr("plot_pareto: no plot");
    if (check_pareto(d) != NM_OK)
        return NM_ERR;
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int i = 0; i < d->n; i++) {
        double hx = half(d->xerr, i), hy = half(d->yerr, i);
        xlo = fmin(xlo, d->x[i] - hx), xhi = fmax(xhi, d->x[i] + hx);
        ylo = fmin(ylo, d->y[i] - hy), yhi = fmax(yhi, d->y[i] + hy);
    }
    int W = plot_default_width(p), H = plot_default_height(p);
    if (plot_canvas(p, W, H, "pareto") != NM_OK)
        return NM_ERR;
    const char *names[2] = {d->points_name ? d->points_name : "points",
                            d->front_name ? d->front_name : "Pareto front"};
    double pad = plot_px(p, 8), gap = plot_px(p, 4);
    double top = plot_draw_title(p) + plot_line_height(p, PT_TICK) / 2 + gap;
    double legw = plot_legend_width(p, names, 2, 1);
    double bottom = H - pad - ((p->xlabel && *p->xlabel) ? plot_line_height(p, PT_LABEL) * 1.3 : 0) -
                    plot_line_height(p, PT_TICK) - gap * 2;
    plot_ticks xt, yt;
    plot_y_ticks(p, ylo, yhi, bottom - top, &yt);
    double left = pad + ((p->ylabel && *p->ylabel) ? plot_line_height(p, PT_LABEL) * 1.3 : 0) +
                  plot_ticks_max_width(p, &yt) + gap * 2;
    double right = plot_fit_x_ticks(p, xlo, xhi, left, W - pad, legw, &xt);
    if (right - left < plot_px(p, 40) || bottom - top < plot_px(p, 40))
        return nm_seterr("plot_pareto: the figure (%d x %d) leaves no room for the chart", W, H);
    plot_box b = {left, top, right, bottom};
    plot_draw_yaxis(p, &b, &yt, yt.lo, yt.hi);
    plot_draw_xaxis(p, &b, &xt, xt.lo, xt.hi);
    int *front = malloc((size_t)d->n * sizeof *front), nf = 0;
    if (!front)
        return nm_seterr("plot_pareto: out of memory");
    for (int i = 0; i < d->n; i++)
        if (d->front && d->front[i])
            front[nf++] = i;
    g_x = d->x;
    qsort(front, (size_t)nf, sizeof *front, cmp_by_x);

    cairo_t *cr = p->cr;
    cairo_save(cr);
    cairo_rectangle(cr, left - gap, top - gap, right - left + 2 * gap, bottom - top + 2 * gap);
    cairo_clip(cr);
    plot_rgb cols[2] = {plot_category_color(p->theme, 0), plot_category_color(p->theme, 1)};
    double mr = plot_px(p, 3);
    if (d->xerr || d->yerr)
        for (int i = 0; i < d->n; i++)
            draw_bars(p, d, i, &xt, &yt, &b, cols[d->front && d->front[i] ? 1 : 0]);
    for (int i = 0; i < d->n; i++)
        if (!d->front || !d->front[i])
            plot_marker(p, 0, plot_map(d->x[i], xt.lo, xt.hi, left, right),
                        plot_map(d->y[i], yt.lo, yt.hi, bottom, top), mr, cols[0]);
    plot_set_rgb(p, cols[1]);
    cairo_set_line_width(cr, plot_px(p, 1.5));
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    for (int k = 0; k < nf; k++) {
        double px = plot_map(d->x[front[k]], xt.lo, xt.hi, left, right);
        double py = plot_map(d->y[front[k]], yt.lo, yt.hi, bottom, top);
        if (k == 0)
            cairo_move_to(cr, px, py);
        else
            cairo_line_to(cr, px, py);
    }
    cairo_stroke(cr);
    for (int k = 0; k < nf; k++)
        plot_marker(p, 1, plot_map(d->x[front[k]], xt.lo, xt.hi, left, right),
                    plot_map(d->y[front[k]], yt.lo, yt.hi, bottom, top), mr * 1.2, cols[1]);
    cairo_restore(cr);
    /* labels above right of their point, or above left where they would
     * pass the chart's right edge (the legend is there) */
    if (d->labels)
        for (int i = 0; i < d->n; i++) {
            if (!d->labels[i] || (d->n > PLOT_PARETO_LABEL_ALL && !(d->front && d->front[i])))
                continue;
            char lab[48];
            plot_clip_label(d->labels[i], 24, lab, sizeof lab);
            double px = plot_map(d->x[i], xt.lo, xt.hi, left, right);
            double py = plot_map(d->y[i], yt.lo, yt.hi, bottom, top) - mr;
            int flip = px + mr * 1.6 + plot_text_width(p, PT_NOTE, lab) > right + gap;
            plot_text(p, PT_NOTE, lab, flip ? px - mr * 1.6 : px + mr * 1.6, py, flip ? 1 : 0, 1, 0,
                      p->col.fg);
        }
    free(front);
    plot_draw_legend(p, right, top, names, cols, 2, 1);
    plot_draw_axis_labels(p, &b, pad, H - pad);
    p->data = (plot_rect){(int)lround(left), (int)lround(top), (int)lround(right - left),
                          (int)lround(bottom - top)};
    return plot_check_cairo(p, "plot_pareto");
}

int plot_pareto(plot *p, const plot_pareto_data *d)
{
    int before = p && p->kind;
    int st = draw_pareto(p, d);
    return plot_finish(p, before, st);
}
