/* plot_pareto.c - a scatter of points with their Pareto front: every point
 * a marker, the front's points a second colour and shape joined in order
 * of x. Layout as plot_lines (plot_lines.c). */
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
    return NM_OK;
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
        xlo = fmin(xlo, d->x[i]), xhi = fmax(xhi, d->x[i]);
        ylo = fmin(ylo, d->y[i]), yhi = fmax(yhi, d->y[i]);
    }
    int W = plot_default_width(p), H = plot_default_height(p);
    if (plot_canvas(p, W, H, "pareto") != NM_OK)
        return NM_ERR;
    const char *names[2] = {"points", "Pareto front"};
    double pad = plot_px(p, 8), gap = plot_px(p, 4);
    double top = plot_draw_title(p) + plot_line_height(p, PT_TICK) / 2 + gap;
    double legw = plot_legend_width(p, names, 2, 1);
    double bottom = H - pad - ((p->xlabel && *p->xlabel) ? plot_line_height(p, PT_LABEL) * 1.3 : 0) -
                    plot_line_height(p, PT_TICK) - gap * 2;
    plot_ticks xt, yt;
    plot_y_ticks(p, ylo, yhi, bottom - top, &yt);
    double left = pad + ((p->ylabel && *p->ylabel) ? plot_line_height(p, PT_LABEL) * 1.3 : 0) +
                  plot_ticks_max_width(p, &yt) + gap * 2;
    char buf[64];
    double right = 0;
    for (int target = 6; target >= 1; target--) {
        plot_nice_ticks(xlo, xhi, target, &xt);
        plot_tick_label(&xt, xt.n - 1, buf, sizeof buf);
        right = W - pad - fmax(legw, plot_text_width(p, PT_TICK, buf) / 2);
        double spacing = (right - left) / (xt.n > 1 ? xt.n - 1 : 1);
        if (xt.n <= 2 || plot_ticks_max_width(p, &xt) + plot_px(p, 6) <= spacing)
            break;
    }
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
