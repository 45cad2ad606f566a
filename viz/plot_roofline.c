/* plot_roofline.c - the classic roofline on log-log axes: operational
 * intensity (x) against attained performance (y) per point (a layer),
 * under the roof min(peak, bandwidth * x); each point is drawn by the
 * bound its caller says holds (compute: blue circle, memory: vermillion
 * square), so the marking never rests on colour alone. */
#include "plot_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_POINTS 100000

static int check_roof(const plot_roof_data *d)
{
    const char *w = "plot_roofline";
    if (!d)
        return nm_seterr("%s: no data", w);
    if (d->n < 1 || d->n > MAX_POINTS)
        return nm_seterr("%s: %d points (1..%d allowed)", w, d->n, MAX_POINTS);
    if (!d->intensity || !d->perf)
        return nm_seterr("%s: no intensity or performance values", w);
    if (!(d->peak > 0) || !isfinite(d->peak))
        return nm_seterr("%s: peak = %g: must be a positive finite number", w, d->peak);
    if (!(d->bandwidth >= 0) || !isfinite(d->bandwidth))
        return nm_seterr("%s: bandwidth = %g: must be a positive finite number (or 0: none)", w,
                         d->bandwidth);
    for (int i = 0; i < d->n; i++) {
        if (!(d->intensity[i] > 0) || !isfinite(d->intensity[i]))
            return nm_seterr("%s: intensity[%d] = %g: must be a positive finite number", w, i,
                             d->intensity[i]);
        if (!(d->perf[i] > 0) || !isfinite(d->perf[i]))
            return nm_seterr("%s: performance[%d] = %g: must be a positive finite number", w, i,
                             d->perf[i]);
    }
    if (d->label_points && d->names && plot_check_names(w, d->names, d->n) != NM_OK)
        return nm_seterr("%s: every point needs a name to be labelled", w);
    return NM_OK;
}

/* Decade k as a tick label: plain numbers from 0.001 to 10000, else 10
 * with a superscript exponent. */
static void decade_label(int k, char *buf, size_t len)
{
    if (k >= -3 && k <= 4) {
        snprintf(buf, len, "%.*f", k < 0 ? -k : 0, pow(10.0, k));
        return;
    }
    static const char *sup[10] = {"\xe2\x81\xb0", "\xc2\xb9", "\xc2\xb2", "\xc2\xb3",
                                  "\xe2\x81\xb4", "\xe2\x81\xb5", "\xe2\x81\xb6", "\xe2\x81\xb7",
                                  "\xe2\x81\xb8", "\xe2\x81\xb9"};
    char e[64] = "";
    int a = k < 0 ? -k : k;
    char digits[16];
    snprintf(digits, sizeof digits, "%d", a);
    if (k < 0)
        strcat(e, "\xe2\x81\xbb");   /* superscript minus */
    for (const char *c = digits; *c; c++)
        strcat(e, sup[*c - '0']);
    snprintf(buf, len, "10%s", e);
}

/* A log axis over whole decades [lo, hi] (10^lo .. 10^hi), at least one. */
static void decades(double vmin, double vmax, int *lo, int *hi)
{
    *lo = (int)floor(log10(vmin) + 1e-9);
    *hi = (int)ceil(log10(vmax) - 1e-9);
    if (*hi <= *lo)
        *hi = *lo + 1;
}

/* Every `step`-th decade is labelled, so labels stay `min_gap` px apart. */
static int decade_step(int lo, int hi, double avail, double min_gap)
{
    int step = 1;
    while (step < hi - lo && avail / ((double)(hi - lo) / step) < min_gap)
        step++;
    return step;
}

static double max_decade_label_w(plot *p, int lo, int hi)
{
    char buf[64];
    double w = 0;
    for (int k = lo; k <= hi; k++) {
        decade_label(k, buf, sizeof buf);
        w = fmax(w, plot_text_width(p, PT_TICK, buf));
    }
    return w;
}

static int line_px(const plot *p)
{
    int w = (int)lround(plot_px(p, 0.75));
    return w < 1 ? 1 : w;
}

/* Gridlines and labels of both log axes in box b. */
static void draw_log_axes(plot *p, const plot_box *b, int xlo, int xhi, int ylo, int yhi,
                          int xstep, int ystep)
{
    int lw = line_px(p);
    char buf[64];
    for (int k = xlo; k <= xhi; k++)
        for (int m = 1; m <= 9 && (k < xhi || m == 1); m++) {
            double v = log10(m) + k;
            int x = (int)lround(plot_map(v, xlo, xhi, b->x0, b->x1));
            int major = m == 1;
            if (major)
                plot_fill_px(p, x, (int)lround(b->y0), x + lw, (int)lround(b->y1), p->col.grid);
            plot_fill_px(p, x, (int)lround(b->y1), x + lw, (int)lround(b->y1) + lw * (major ? 4 : 2),
                         p->col.axis);
            if (major && (k - xlo) % xstep == 0) {
                decade_label(k, buf, sizeof buf);
                plot_text(p, PT_TICK, buf, x + lw / 2.0, b->y1 + lw * 6, 0.5, 0, 0, p->col.fg);
            }
        }
    for (int k = ylo; k <= yhi; k++)
        for (int m = 1; m <= 9 && (k < yhi || m == 1); m++) {
            double v = log10(m) + k;
            int y = (int)lround(plot_map(v, ylo, yhi, b->y1, b->y0));
            int major = m == 1;
            if (major)
                plot_fill_px(p, (int)lround(b->x0), y, (int)lround(b->x1), y + lw, p->col.grid);
            plot_fill_px(p, (int)lround(b->x0) - lw * (major ? 4 : 2), y, (int)lround(b->x0), y + lw,
                         p->col.axis);
            if (major && (k - ylo) % ystep == 0) {
                decade_label(k, buf, sizeof buf);
                plot_text(p, PT_TICK, buf, b->x0 - lw * 6, y + lw / 2.0, 1, 0.5, 0, p->col.fg);
            }
        }
    plot_fill_px(p, (int)lround(b->x0) - lw, (int)lround(b->y0), (int)lround(b->x0),
                 (int)lround(b->y1) + lw, p->col.axis);
    plot_fill_px(p, (int)lround(b->x0) - lw, (int)lround(b->y1), (int)lround(b->x1),
                 (int)lround(b->y1) + lw, p->col.axis);
}

/* Legend: the roof as a line, then the bounds present as markers. */
typedef struct {
    const char *text[3];
    int kind[3];        /* 0 line, 1 compute marker, 2 memory marker */
    int n;
} roof_legend;

static double legend_w(plot *p, const roof_legend *lg)
{
    double w = 0;
    for (int i = 0; i < lg->n; i++)
        w = fmax(w, plot_text_width(p, PT_LEGEND, lg->text[i]));
    return plot_px(p, 10) + plot_px(p, 20) + plot_px(p, 5) + w;
}

static void draw_legend(plot *p, double x, double y, const roof_legend *lg, plot_rgb ccol,
                        plot_rgb mcol)
{
    double lh = plot_line_height(p, PT_LEGEND), row = lh * 1.35, sw = plot_px(p, 20);
    x += plot_px(p, 10);
    for (int i = 0; i < lg->n; i++) {
        double cy = y + row * i + lh / 2;
        if (lg->kind[i] == 0) {
            cairo_set_line_width(p->cr, plot_px(p, 1.5));
            plot_set_rgb(p, p->col.fg);
            cairo_move_to(p->cr, x, cy);
            cairo_line_to(p->cr, x + sw, cy);
            cairo_stroke(p->cr);
        } else {
            plot_marker(p, lg->kind[i] == 1 ? 0 : 1, x + sw / 2, cy, plot_px(p, 3),
                        lg->kind[i] == 1 ? ccol : mcol);
        }
        plot_text(p, PT_LEGEND, lg->text[i], x + sw + plot_px(p, 5), cy, 0, 0.5, 0, p->col.fg);
    }
}

static int draw_roofline(plot *p, const plot_roof_data *d)
{
    if (!p)
        return nm_seterr("plot_roofline: no plot");
    if (check_roof(d) != NM_OK)
        return NM_ERR;
    double xmin = INFINITY, xmax = -INFINITY, ymin = d->peak, ymax = d->peak;
    int n_mem = 0;
    for (int i = 0; i < d->n; i++) {
        xmin = fmin(xmin, d->intensity[i]);
        xmax = fmax(xmax, d->intensity[i]);
        ymin = fmin(ymin, d->perf[i]);
        ymax = fmax(ymax, d->perf[i]);
        n_mem += d->memory_bound && d->memory_bound[i];
    }
    if (d->bandwidth > 0) {   /* show the ridge point */
        double ridge = d->peak / d->bandwidth;
        xmin = fmin(xmin, ridge);
        xmax = fmax(xmax, ridge);
    }
    int xlo, xhi, ylo, yhi;
    decades(xmin, xmax, &xlo, &xhi);
    decades(ymin, ymax * 1.05, &ylo, &yhi);

    int W = plot_default_width(p), H = plot_default_height(p);
    if (plot_canvas(p, W, H, "roofline") != NM_OK)
        return NM_ERR;
    char peak_txt[96], bw_txt[96], c_txt[64], m_txt[64];
    snprintf(peak_txt, sizeof peak_txt, "compute roof: %.4g / cycle", d->peak);
    snprintf(bw_txt, sizeof bw_txt, "bandwidth: %.4g words / cycle", d->bandwidth);
    snprintf(c_txt, sizeof c_txt, "compute-bound (%d)", d->n - n_mem);
    snprintf(m_txt, sizeof m_txt, "memory-bound (%d)", n_mem);
    roof_legend lg = {.n = 0};
    lg.text[lg.n] = peak_txt, lg.kind[lg.n++] = 0;
    if (d->n - n_mem > 0)
        lg.text[lg.n] = c_txt, lg.kind[lg.n++] = 1;
    if (n_mem > 0)
        lg.text[lg.n] = m_txt, lg.kind[lg.n++] = 2;

    double pad = plot_px(p, 8), gap = plot_px(p, 4);
    double top = plot_draw_title(p) + plot_line_height(p, PT_TICK) / 2 + gap;
    double legw = legend_w(p, &lg);
    if (d->bandwidth > 0)
        legw = fmax(legw, plot_px(p, 10) + plot_text_width(p, PT_LEGEND, bw_txt));
    int below = legw > 0.3 * W;
    double lrow = plot_line_height(p, PT_LEGEND) * 1.35;
    double leg_h = below ? lrow * (lg.n + (d->bandwidth > 0)) + gap : 0;
    double bottom = H - pad - ((p->xlabel && *p->xlabel) ? plot_line_height(p, PT_LABEL) * 1.3 : 0) -
                    plot_line_height(p, PT_TICK) - gap * 2 - leg_h;
    double left = pad + ((p->ylabel && *p->ylabel) ? plot_line_height(p, PT_LABEL) * 1.3 : 0) +
                  max_decade_label_w(p, ylo, yhi) + gap * 2;
    double right = W - pad - (below ? 0 : legw) -
                   max_decade_label_w(p, xhi, xhi) / 2;
    if (right - left < plot_px(p, 40) || bottom - top < plot_px(p, 40))
        return nm_seterr("plot_roofline: the figure (%d x %d) leaves no room for the chart", W, H);
    plot_box b = {left, top, right, bottom};
    int xstep = decade_step(xlo, xhi, right - left, max_decade_label_w(p, xlo, xhi) + plot_px(p, 6));
    int ystep = decade_step(ylo, yhi, bottom - top, plot_line_height(p, PT_TICK) * 1.6);
    draw_log_axes(p, &b, xlo, xhi, ylo, yhi, xstep, ystep);

    cairo_t *cr = p->cr;
    cairo_save(cr);
    cairo_rectangle(cr, left, top, right - left, bottom - top);
    cairo_clip(cr);
    /* the roof: min(peak, bandwidth * x), sampled at the ends and the ridge */
#define PX(v) plot_map(log10(v), xlo, xhi, left, right)
#define PY(v) plot_map(log10(v), ylo, yhi, bottom, top)
    plot_set_rgb(p, p->col.fg);
    cairo_set_line_width(cr, plot_px(p, 1.5));
    double x0 = pow(10.0, xlo), x1 = pow(10.0, xhi);
    if (d->bandwidth > 0) {
        double ridge = d->peak / d->bandwidth;
        cairo_move_to(cr, PX(x0), PY(fmin(d->peak, d->bandwidth * x0)));
        if (ridge > x0 && ridge < x1)
            cairo_line_to(cr, PX(ridge), PY(d->peak));
        cairo_line_to(cr, PX(x1), PY(fmin(d->peak, d->bandwidth * x1)));
    } else {
        cairo_move_to(cr, PX(x0), PY(d->peak));
        cairo_line_to(cr, PX(x1), PY(d->peak));
    }
    cairo_stroke(cr);
    /* points: compute-bound first, memory-bound on top */
    plot_rgb ccol = plot_category_color(p->theme, 0), mcol = plot_category_color(p->theme, 3);
    double mr = plot_px(p, 3);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < d->n; i++) {
            int mem = d->memory_bound && d->memory_bound[i];
            if (mem != pass)
                continue;
            plot_marker(p, mem ? 1 : 0, PX(d->intensity[i]), PY(d->perf[i]), mr, mem ? mcol : ccol);
        }
    if (d->label_points && d->names)
        for (int i = 0; i < d->n; i++) {
            char lab[40];
            plot_clip_label(d->names[i], 24, lab, sizeof lab);
            plot_text(p, PT_NOTE, lab, PX(d->intensity[i]) + mr * 1.6, PY(d->perf[i]) - mr, 0, 1, 0,
                      p->col.fg);
        }
#undef PX
#undef PY
    cairo_restore(cr);
    double ly = below ? H - pad - leg_h + gap : top;
    double lx = below ? left - plot_px(p, 10) : right + max_decade_label_w(p, xhi, xhi) / 2;
    draw_legend(p, lx, ly, &lg, ccol, mcol);
    if (d->bandwidth > 0)
        plot_text(p, PT_LEGEND, bw_txt, lx + plot_px(p, 10),
                  ly + lrow * lg.n + plot_line_height(p, PT_LEGEND) / 2, 0, 0.5, 0, p->col.fg);
    plot_draw_axis_labels(p, &b, pad, H - pad - leg_h);
    p->data = (plot_rect){(int)lround(left), (int)lround(top), (int)lround(right - left),
                          (int)lround(bottom - top)};
    return plot_check_cairo(p, "plot_roofline");
}

int plot_roofline(plot *p, const plot_roof_data *d)
{
    int before = p && p->kind;
    int st = draw_roofline(p, d);
    return plot_finish(p, before, st);
}
