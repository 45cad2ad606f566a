/* plot_lines.c - line series over a shared numeric x axis, with markers. */
#include "plot_internal.h"

#include <math.h>
#include <stddef.h>

#define MAX_POINTS 1000000

static int check_lines(const plot_line_data *d)
{
    const char *w = "plot_lines";
    if (!d)
        return nm_seterr("%s: no data", w);
    if (d->n_points < 1 || d->n_points > MAX_POINTS)
        return nm_seterr("%s: %d points per series (1..%d allowed)", w, d->n_points, MAX_POINTS);
    if (d->n_series < 1 || d->n_series > PLOT_MAX_SERIES)
        return nm_seterr("%s: %d series (1..%d allowed)", w, d->n_series, PLOT_MAX_SERIES);
    if (d->n_series > 1 && !d->series)
        return nm_seterr("%s: %d series need names for the legend", w, d->n_series);
    if (d->series && plot_check_names(w, d->series, d->n_series) != NM_OK)
        return nm_seterr("%s: every series needs a name", w);
    if (!d->y)
        return nm_seterr("%s: no y values", w);
    if (d->x && plot_check_finite("plot_lines: x", d->x, d->n_points) != NM_OK)
        return NM_ERR;
    if (plot_check_finite("plot_lines: y", d->y, (int64_t)d->n_points * d->n_series) != NM_OK)
        return NM_ERR;
    return NM_OK;
}

static double x_at(const plot_line_data *d, int i) { return d->x ? d->x[i] : i; }

static int draw_lines(plot *p, const plot_line_data *d)
{
    if (!p)
        return nm_seterr("plot_lines: no plot");
    if (check_lines(d) != NM_OK)
        return NM_ERR;
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int i = 0; i < d->n_points; i++) {
        xlo = fmin(xlo, x_at(d, i));
        xhi = fmax(xhi, x_at(d, i));
    }
    for (int64_t i = 0; i < (int64_t)d->n_points * d->n_series; i++) {
        ylo = fmin(ylo, d->y[i]);
        yhi = fmax(yhi, d->y[i]);
    }
    plot_ticks xt, yt;
    plot_nice_ticks(xlo, xhi, 6, &xt);

    int W = plot_default_width(p), H = plot_default_height(p);
    if (plot_canvas(p, W, H, "lines") != NM_OK)
        return NM_ERR;
    double pad = plot_px(p, 8), gap = plot_px(p, 4);
    /* below the title (or the figure's edge), half a tick label of room
     * so the top tick label is not cut */
    double top = plot_draw_title(p) + plot_line_height(p, PT_TICK) / 2 + gap;
    /* a legend wider than a quarter of the figure goes under the chart */
    int legend = d->series != NULL;
    int below = legend && plot_legend_below(p, d->series, d->n_series, 1, W);
    double legw = legend && !below ? plot_legend_width(p, d->series, d->n_series, 1) : 0;
    double leg_h = below ? plot_legend_rows_height(p, d->series, d->n_series, 1, W - 2 * pad) + gap
                         : 0;
    double bottom = H - pad - ((p->xlabel && *p->xlabel) ? plot_line_height(p, PT_LABEL) * 1.3 : 0) -
                    plot_line_height(p, PT_TICK) - gap * 2 - leg_h;
    plot_y_ticks(p, ylo, yhi, bottom - top, &yt);
    /* Headroom: the top tick stays at least 5% of the range above the
     * highest point, so markers never sit on the chart's top edge. */
    if (yt.hi - yhi < 0.05 * (yt.hi - yt.lo)) {
        yt.hi += yt.step;
        yt.n++;
    }
    double left = pad + ((p->ylabel && *p->ylabel) ? plot_line_height(p, PT_LABEL) * 1.3 : 0) +
                  plot_ticks_max_width(p, &yt) + gap * 2;
    /* x ticks: fewer when their labels would touch; half the widest
     * label may hang past the right end */
    double right = plot_fit_x_ticks(p, xlo, xhi, left, W - pad, legw, &xt);
    if (right - left < plot_px(p, 40) || bottom - top < plot_px(p, 40))
        return nm_seterr("plot_lines: the figure (%d x %d) leaves no room for the chart", W, H);
    plot_box b = {left, top, right, bottom};
    plot_draw_yaxis(p, &b, &yt, yt.lo, yt.hi);
    plot_draw_xaxis(p, &b, &xt, xt.lo, xt.hi);

    cairo_t *cr = p->cr;
    cairo_save(cr);
    cairo_rectangle(cr, left - gap, top - gap, right - left + 2 * gap, bottom - top + 2 * gap);
    cairo_clip(cr);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    plot_rgb cols[PLOT_MAX_SERIES];
    double mr = plot_px(p, 3);
    for (int s = 0; s < d->n_series; s++) {
        cols[s] = plot_category_color(p->theme, s);
        const double *y = d->y + (int64_t)s * d->n_points;
        plot_set_rgb(p, cols[s]);
        cairo_set_line_width(cr, plot_px(p, 1.5));
        for (int i = 0; i < d->n_points; i++) {
            double px = plot_map(x_at(d, i), xt.lo, xt.hi, left, right);
            double py = plot_map(y[i], yt.lo, yt.hi, bottom, top);
            if (i == 0)
                cairo_move_to(cr, px, py);
            else
                cairo_line_to(cr, px, py);
        }
        cairo_stroke(cr);
        if (d->markers || d->n_points == 1)
            for (int i = 0; i < d->n_points; i++)
                plot_marker(p, s, plot_map(x_at(d, i), xt.lo, xt.hi, left, right),
                            plot_map(y[i], yt.lo, yt.hi, bottom, top), mr, cols[s]);
    }
    cairo_restore(cr);
    if (below)
        plot_draw_legend_rows(p, pad, H - pad - leg_h + gap, W - 2 * pad, d->series, cols,
                              d->n_series, 1);
    else if (legend)
        plot_draw_legend(p, right, top, d->series, cols, d->n_series, 1);
    plot_draw_axis_labels(p, &b, pad, H - pad - leg_h);
    p->data = (plot_rect){(int)lround(left), (int)lround(top), (int)lround(right - left),
                          (int)lround(bottom - top)};
    return plot_check_cairo(p, "plot_lines");
}

int plot_lines(plot *p, const plot_line_data *d)
{
    int before = p && p->kind;
    int st = draw_lines(p, d);
    return plot_finish(p, before, st);
}
