/* plot_axis.c - ticks, axes, titles, legends and markers shared by charts. */
#include "plot_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ticks at multiples of a step of 1, 2 or 5 times a power of ten, chosen so
 * that about `target` intervals cover [lo, hi]; t->lo/t->hi are the first
 * and last tick (they enclose the data). An empty range is widened. */
void plot_nice_ticks(double lo, double hi, int target, plot_ticks *t)
{
    if (target < 1)
        target = 1;
    if (!(hi > lo)) {
        double d = fabs(lo) > 0 ? fabs(lo) * 0.1 : 1.0;
        lo -= d;
        hi += d;
        if (lo < 0 && lo + d >= 0)
            lo = 0;   /* keep a zero baseline when the data sit at 0 */
    }
    double raw = (hi - lo) / target;
    double mag = pow(10.0, floor(log10(raw)));
    double f = raw / mag;
    double nice = f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 5.0 ? 5.0 : 10.0;
    double step = nice * mag;
    t->step = step;
    t->lo = floor(lo / step + 1e-9) * step;
    t->hi = ceil(hi / step - 1e-9) * step;
    t->n = (int)lround((t->hi - t->lo) / step) + 1;
    int dec = (int)-floor(log10(step) + 1e-9);
    t->decimals = dec > 0 ? dec : 0;
}

void plot_y_ticks(plot *p, double lo, double hi, double avail, plot_ticks *t)
{
    double lh = plot_line_height(p, PT_TICK);
    for (int target = 5; target >= 1; target--) {
        plot_nice_ticks(lo, hi, target, t);
        if (t->n <= 2 || avail / (t->n - 1) >= lh * 1.6)
            return;
    }
}

void plot_tick_label(const plot_ticks *t, int i, char *buf, int len)
{
    double v = t->lo + i * t->step;
    if (fabs(v) < t->step * 1e-6)
        v = 0;   /* no "-0" */
    /* negatives with a true minus sign (U+2212), as typeset numbers have */
    snprintf(buf, (size_t)len, "%s%.*f", v < 0 ? "\xe2\x88\x92" : "", t->decimals, fabs(v));
}

double plot_ticks_max_width(plot *p, const plot_ticks *t)
{
    double w = 0;
    char buf[64];
    for (int i = 0; i < t->n; i++) {
        plot_tick_label(t, i, buf, sizeof buf);
        double tw = plot_text_width(p, PT_TICK, buf);
        if (tw > w)
            w = tw;
    }
    return w;
}

/* How the title fits a figure W px wide: its size (PT_TITLE, made smaller
 * down to PT_LABEL if it is wider than the figure less its margins) and,
 * if even that is too wide, the byte where a second line starts (the
 * space nearest the middle), else 0. */
static void title_fit(plot *p, int W, double *pt, size_t *split)
{
    double room = W - 2 * plot_px(p, 8);
    *split = 0;
    for (*pt = PT_TITLE; *pt > PT_LABEL; *pt -= 0.5)
        if (plot_text_width(p, *pt, p->title) <= room)
            return;
    if (plot_text_width(p, *pt, p->title) <= room)
        return;
    size_t n = strlen(p->title), best = 0;
    for (size_t i = 1; i + 1 < n; i++)
        if (p->title[i] == ' ' && (best == 0 || labs((long)(2 * i) - (long)n) <
                                                    labs((long)(2 * best) - (long)n)))
            best = i;
    *split = best;
}

double plot_title_bottom(plot *p, int W)
{
    double pad = plot_px(p, 8);
    if (!p->title || !*p->title)
        return pad;
    double pt;
    size_t split;
    title_fit(p, W, &pt, &split);
    return pad + plot_line_height(p, pt) * (split ? 2.4 : 1.4);
}

double plot_title_width(plot *p, int W)
{
    if (!p->title || !*p->title)
        return 0;
    double pt;
    size_t split;
    title_fit(p, W, &pt, &split);
    if (!split)
        return plot_text_width(p, pt, p->title);
    char line[512];
    snprintf(line, sizeof line, "%.*s", (int)split, p->title);
    return fmax(plot_text_width(p, pt, line), plot_text_width(p, pt, p->title + split + 1));
}

double plot_draw_title(plot *p)
{
    double pad = plot_px(p, 8);
    if (!p->title || !*p->title)
        return pad;
    int W = cairo_image_surface_get_width(p->surf);
    double pt;
    size_t split;
    title_fit(p, W, &pt, &split);
    double h = plot_line_height(p, pt);
    if (!split) {
        plot_text(p, pt, p->title, W / 2.0, pad, 0.5, 0, 0, p->col.fg);
        return pad + h * 1.4;
    }
    char line[512];
    snprintf(line, sizeof line, "%.*s", (int)split, p->title);
    plot_text(p, pt, line, W / 2.0, pad, 0.5, 0, 0, p->col.fg);
    plot_text(p, pt, p->title + split + 1, W / 2.0, pad + h, 0.5, 0, 0, p->col.fg);
    return pad + h * 2.4;
}

static double legend_swatch_w(plot *p, int style)
{
    return style == 1 ? plot_px(p, 20) : plot_line_height(p, PT_LEGEND) * 0.75;
}

double plot_legend_width(plot *p, const char *const *names, int n, int style)
{
    if (!names || n <= 0)
        return 0;
    double w = 0;
    for (int i = 0; i < n; i++) {
        double tw = plot_text_width(p, PT_LEGEND, names[i]);
        if (tw > w)
            w = tw;
    }
    return plot_px(p, 10) + legend_swatch_w(p, style) + plot_px(p, 5) + w;
}

void plot_draw_legend(plot *p, double x, double y, const char *const *names,
                      const plot_rgb *colors, int n, int style)
{
    double lh = plot_line_height(p, PT_LEGEND);
    double row = lh * 1.35;
    double sw = legend_swatch_w(p, style);
    x += plot_px(p, 10);
    for (int i = 0; i < n; i++) {
        double cy = y + row * i + lh / 2;
        if (style == 1) {
            cairo_set_line_width(p->cr, plot_px(p, 1.5));
            plot_set_rgb(p, colors[i]);
            cairo_move_to(p->cr, x, cy);
            cairo_line_to(p->cr, x + sw, cy);
            cairo_stroke(p->cr);
            plot_marker(p, i, x + sw / 2, cy, plot_px(p, 3), colors[i]);
        } else {
            int s = (int)lround(sw);
            plot_fill_px(p, (int)lround(x), (int)lround(cy - s / 2.0),
                         (int)lround(x) + s, (int)lround(cy - s / 2.0) + s, colors[i]);
        }
        plot_text(p, PT_LEGEND, names[i], x + sw + plot_px(p, 5), cy, 0, 0.5, 0, p->col.fg);
    }
}

/* Width of legend item i laid out in a row: swatch, gap, text, spacing. */
static double row_item_w(plot *p, const char *name, int style)
{
    return legend_swatch_w(p, style) + plot_px(p, 5) + plot_text_width(p, PT_LEGEND, name) +
           plot_px(p, 12);
}

int plot_legend_below(plot *p, const char *const *names, int n, int style, int W)
{
    return names && n > 0 && plot_legend_width(p, names, n, style) > 0.25 * W;
}

double plot_legend_rows_height(plot *p, const char *const *names, int n, int style, double w)
{
    if (!names || n <= 0)
        return 0;
    int rows = 1;
    double x = 0;
    for (int i = 0; i < n; i++) {
        double iw = row_item_w(p, names[i], style);
        if (x > 0 && x + iw > w) {
            rows++;
            x = 0;
        }
        x += iw;
    }
    return rows * plot_line_height(p, PT_LEGEND) * 1.35;
}

void plot_draw_legend_rows(plot *p, double x0, double y, double w, const char *const *names,
                           const plot_rgb *colors, int n, int style)
{
    double lh = plot_line_height(p, PT_LEGEND), row = lh * 1.35, sw = legend_swatch_w(p, style);
    int i = 0;
    while (i < n) {
        /* the items of this row, then the row centred in w */
        int j = i;
        double rw = 0;
        while (j < n && (j == i || rw + row_item_w(p, names[j], style) <= w))
            rw += row_item_w(p, names[j++], style);
        double x = x0 + fmax(0, (w - (rw - plot_px(p, 12))) / 2), cy = y + lh / 2;
        for (int k = i; k < j; k++) {
            if (style == 1) {
                cairo_set_line_width(p->cr, plot_px(p, 1.5));
                plot_set_rgb(p, colors[k]);
                cairo_move_to(p->cr, x, cy);
                cairo_line_to(p->cr, x + sw, cy);
                cairo_stroke(p->cr);
                plot_marker(p, k, x + sw / 2, cy, plot_px(p, 3), colors[k]);
            } else {
                int s = (int)lround(sw);
                plot_fill_px(p, (int)lround(x), (int)lround(cy - s / 2.0), (int)lround(x) + s,
                             (int)lround(cy - s / 2.0) + s, colors[k]);
            }
            plot_text(p, PT_LEGEND, names[k], x + sw + plot_px(p, 5), cy, 0, 0.5, 0, p->col.fg);
            x += row_item_w(p, names[k], style);
        }
        y += row;
        i = j;
    }
}

void plot_marker(plot *p, int k, double x, double y, double r, plot_rgb c)
{
    cairo_t *cr = p->cr;
    plot_set_rgb(p, c);
    cairo_new_path(cr);
    switch (k % 8) {
    case 0:
        cairo_arc(cr, x, y, r, 0, 2 * M_PI);
        break;
    case 1:
        cairo_rectangle(cr, x - r * 0.85, y - r * 0.85, r * 1.7, r * 1.7);
        break;
    case 2:
        cairo_move_to(cr, x, y - r * 1.1);
        cairo_line_to(cr, x + r, y + r * 0.75);
        cairo_line_to(cr, x - r, y + r * 0.75);
        cairo_close_path(cr);
        break;
    case 3:
        cairo_move_to(cr, x, y - r * 1.2);
        cairo_line_to(cr, x + r, y);
        cairo_line_to(cr, x, y + r * 1.2);
        cairo_line_to(cr, x - r, y);
        cairo_close_path(cr);
        break;
    case 4:
        cairo_move_to(cr, x, y + r * 1.1);
        cairo_line_to(cr, x + r, y - r * 0.75);
        cairo_line_to(cr, x - r, y - r * 0.75);
        cairo_close_path(cr);
        break;
    case 5: /* plus, stroked */
    case 6: /* cross, stroked */
    case 7: { /* asterisk, stroked */
        cairo_set_line_width(cr, r * 0.55);
        int arms = k % 8 == 7 ? 3 : 2;
        double a0 = k % 8 == 6 ? M_PI / 4 : 0;
        for (int i = 0; i < arms; i++) {
            double a = a0 + i * M_PI / arms;
            cairo_move_to(cr, x - r * 1.1 * cos(a), y - r * 1.1 * sin(a));
            cairo_line_to(cr, x + r * 1.1 * cos(a), y + r * 1.1 * sin(a));
        }
        cairo_stroke(cr);
        return;
    }
    }
    cairo_fill(cr);
}

static int line_px(const plot *p)
{
    int w = (int)lround(plot_px(p, 0.75));
    return w < 1 ? 1 : w;
}

void plot_draw_yaxis(plot *p, const plot_box *b, const plot_ticks *t, double vlo, double vhi)
{
    int lw = line_px(p);
    char buf[64];
    for (int i = 0; i < t->n; i++) {
        double v = t->lo + i * t->step;
        if (v < vlo - 1e-9 * t->step || v > vhi + 1e-9 * t->step)
            continue;
        int y = (int)lround(plot_map(v, vlo, vhi, b->y1, b->y0));
        plot_fill_px(p, (int)lround(b->x0), y, (int)lround(b->x1), y + lw, p->col.grid);
        plot_fill_px(p, (int)lround(b->x0) - lw * 4, y, (int)lround(b->x0), y + lw, p->col.axis);
        plot_tick_label(t, i, buf, sizeof buf);
        plot_text(p, PT_TICK, buf, b->x0 - lw * 6, y + lw / 2.0, 1, 0.5, 0, p->col.fg);
    }
    plot_fill_px(p, (int)lround(b->x0) - lw, (int)lround(b->y0), (int)lround(b->x0),
                 (int)lround(b->y1) + lw, p->col.axis);
}

void plot_draw_xaxis(plot *p, const plot_box *b, const plot_ticks *t, double vlo, double vhi)
{
    int lw = line_px(p);
    char buf[64];
    for (int i = 0; i < t->n; i++) {
        double v = t->lo + i * t->step;
        if (v < vlo - 1e-9 * t->step || v > vhi + 1e-9 * t->step)
            continue;
        int x = (int)lround(plot_map(v, vlo, vhi, b->x0, b->x1));
        plot_fill_px(p, x, (int)lround(b->y0), x + lw, (int)lround(b->y1), p->col.grid);
        plot_fill_px(p, x, (int)lround(b->y1), x + lw, (int)lround(b->y1) + lw * 4, p->col.axis);
        plot_tick_label(t, i, buf, sizeof buf);
        plot_text(p, PT_TICK, buf, x + lw / 2.0, b->y1 + lw * 6, 0.5, 0, 0, p->col.fg);
    }
    plot_fill_px(p, (int)lround(b->x0) - lw, (int)lround(b->y1), (int)lround(b->x1),
                 (int)lround(b->y1) + lw, p->col.axis);
}

void plot_draw_axis_labels(plot *p, const plot_box *b, double ylabel_x, double xlabel_y)
{
    if (p->xlabel && *p->xlabel)
        plot_text(p, PT_LABEL, p->xlabel, (b->x0 + b->x1) / 2, xlabel_y, 0.5, 1, 0, p->col.fg);
    if (p->ylabel && *p->ylabel)
        plot_text(p, PT_LABEL, p->ylabel, ylabel_x, (b->y0 + b->y1) / 2, 0.5, 0, -M_PI / 2,
                  p->col.fg);
}

void plot_clip_label(const char *s, int max_chars, char *buf, int len)
{
    int chars = 0;
    size_t i = 0, cut = 0;
    for (; s[i]; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (chars == max_chars)
                break;
            chars++;
            cut = i;
        }
    }
    if (!s[i]) {
        snprintf(buf, (size_t)len, "%s", s);
        return;
    }
    /* keep max_chars-1 characters, then "..." */
    snprintf(buf, (size_t)len, "%.*s...", (int)cut, s);
}

/* X ticks over [xlo, xhi] for a chart whose plot area starts at `left` and
 * may reach `edge` (the figure's width less its padding): at most 6 ticks,
 * fewer while their labels would touch, and half the widest label (or the
 * legend's width, legw) may hang past the right end. Fills xt; returns the
 * plot area's right end. */
double plot_fit_x_ticks(plot *p, double xlo, double xhi, double left, double edge, double legw,
                        plot_ticks *xt)
{
    char buf[64];
    double right = 0;
    for (int target = 6; target >= 1; target--) {
        plot_nice_ticks(xlo, xhi, target, xt);
        plot_tick_label(xt, xt->n - 1, buf, sizeof buf);
        right = edge - fmax(legw, plot_text_width(p, PT_TICK, buf) / 2);
        double spacing = (right - left) / (xt->n > 1 ? xt->n - 1 : 1);
        if (xt->n <= 2 || plot_ticks_max_width(p, xt) + plot_px(p, 6) <= spacing)
            break;
    }
    return right;
}
