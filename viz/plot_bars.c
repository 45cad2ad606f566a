/* plot_bars.c - grouped and stacked bar charts over named categories. */
#include "plot_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_GROUPS 10000
#define LABEL_CHARS 24

static int check_bars(const plot_bar_data *d, int stacked, const char *what)
{
    if (!d)
        return nm_seterr("%s: no data", what);
    if (d->n_groups < 1 || d->n_groups > MAX_GROUPS)
        return nm_seterr("%s: %d groups (1..%d allowed)", what, d->n_groups, MAX_GROUPS);
    if (d->n_series < 1 || d->n_series > PLOT_MAX_SERIES)
        return nm_seterr("%s: %d series (1..%d allowed)", what, d->n_series, PLOT_MAX_SERIES);
    if (!d->groups || plot_check_names(what, d->groups, d->n_groups) != NM_OK)
        return nm_seterr("%s: every group needs a name", what);
    if (d->n_series > 1 && !d->series)
        return nm_seterr("%s: %d series need names for the legend", what, d->n_series);
    if (d->series && plot_check_names(what, d->series, d->n_series) != NM_OK)
        return nm_seterr("%s: every series needs a name", what);
    if (!d->values)
        return nm_seterr("%s: no values", what);
    int64_t n = (int64_t)d->n_groups * d->n_series;
    if (plot_check_finite(what, d->values, n) != NM_OK)
        return NM_ERR;
    if (stacked)
        for (int64_t i = 0; i < n; i++)
            if (d->values[i] < 0)
                return nm_seterr("%s: value %lld is negative (%g); stacked bars need values >= 0",
                                 what, (long long)i, d->values[i]);
    if (d->labels && plot_check_names(what, d->labels, stacked ? d->n_groups : (int)n) != NM_OK)
        return nm_seterr("%s: a value label is NULL", what);
    if (!isfinite(d->ymax) || d->ymax < 0)
        return nm_seterr("%s: ymax %g must be finite and >= 0 (0 = automatic)", what, d->ymax);
    return NM_OK;
}

/* Height of the bar or stack top in group g, and the lowest value. */
static void data_range(const plot_bar_data *d, int stacked, double *lo, double *hi)
{
    *lo = 0;
    *hi = 0;
    for (int g = 0; g < d->n_groups; g++) {
        double sum = 0;
        for (int s = 0; s < d->n_series; s++) {
            double v = d->values[(int64_t)s * d->n_groups + g];
            sum += v;
            if (!stacked && v > *hi)
                *hi = v;
            if (v < *lo)
                *lo = v;
        }
        if (stacked && sum > *hi)
            *hi = sum;
    }
}

static void label_text(const plot_bar_data *d, int idx, double v, char *buf, int len)
{
    if (d->labels)
        snprintf(buf, (size_t)len, "%s", d->labels[idx]);
    else   /* a true minus sign (U+2212), as on the axis */
        snprintf(buf, (size_t)len, "%s%.3g", v < 0 ? "\xe2\x88\x92" : "", fabs(v));
}

/* Copies s into buf, at most max_chars UTF-8 characters: a longer name
 * keeps its start and its end with "..." between, so names that differ
 * only at the end (layer4.0.conv1, layer4.0.conv2) stay apart. */
static void elide_middle(const char *s, int max_chars, char *buf, int len)
{
    int n = 0;
    for (const char *c = s; *c; c++)
        n += ((unsigned char)*c & 0xC0) != 0x80;
    if (n <= max_chars) {
        snprintf(buf, (size_t)len, "%s", s);
        return;
    }
    int head = (max_chars - 3) / 2, tail = max_chars - 3 - head;
    /* byte offsets of the head's end and the tail's start */
    size_t hb = 0, tb = 0;
    int k = 0;
    for (size_t i = 0; s[i]; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (k == head)
                hb = i;
            if (k == n - tail)
                tb = i;
            k++;
        }
    snprintf(buf, (size_t)len, "%.*s...%s", (int)hb, s, s + tb);
}

/* "2nd", "3rd", "4th" ... into buf. */
static const char *ordinal(int k, char *buf, int len)
{
    const char *suf = k % 100 >= 11 && k % 100 <= 13 ? "th"
                      : k % 10 == 1 ? "st" : k % 10 == 2 ? "nd" : k % 10 == 3 ? "rd" : "th";
    snprintf(buf, (size_t)len, "%d%s", k, suf);
    return buf;
}

/* How the category labels go: font size, angle, clipping, thinning. */
typedef struct {
    double pt;        /* font size */
    int angle;        /* 0, 45 or 90 degrees */
    int clip;         /* characters kept (middle elided) */
    int every;        /* 1 = every label; k = every k-th, said in a note */
    double maxw;      /* widest label, px */
} xlabels;

/* Widest label at size pt, names elided to clip characters. */
static double labels_width(plot *p, const plot_bar_data *d, double pt, int clip)
{
    char buf[256];
    double maxw = 0;
    for (int g = 0; g < d->n_groups; g++) {
        elide_middle(d->groups[g], clip, buf, sizeof buf);
        maxw = fmax(maxw, plot_text_width(p, pt, buf));
    }
    return maxw;
}

/* Characters to keep so that labels at size pt, whose extent across the
 * axis is maxw * k + lh * c, stay within `room` px (fills xl->maxw). */
static void clip_to(plot *p, const plot_bar_data *d, xlabels *xl, double k, double c, double room)
{
    double lh = plot_line_height(p, xl->pt);
    xl->clip = LABEL_CHARS;
    xl->maxw = labels_width(p, d, xl->pt, xl->clip);
    while (xl->maxw * k + lh * c > room && xl->clip > 8) {
        xl->clip = xl->clip * 2 / 3;
        xl->maxw = labels_width(p, d, xl->pt, xl->clip);
    }
}

/* Decides the category labels for slots of *slot px: horizontal if they
 * fit, else turned 45 degrees (when the first one does not run off the
 * figure's left edge), else upright, first at the tick size, then smaller
 * down to PT_TICK_MIN. If even that does not fit, a figure of automatic
 * width (p->width 0) is widened until it does (*W, *slot updated, up to
 * PLOT_MAX_SIDE); only a figure of fixed width thins the labels to every
 * k-th, which the caller notes under the chart. Names longer than
 * LABEL_CHARS, or reaching more than 35% of the figure's height below the
 * axis, lose their middle. */
static int x_labels_fit(plot *p, const plot_bar_data *d, xlabels *xl, double *slot, int *W,
                        int H, double left, double pad, double legw)
{
    xl->every = 1;
    double room = H * 0.35;
    char buf[256];
    for (double pt = PT_TICK; pt >= PT_TICK_MIN - 1e-9; pt -= 0.5) {
        xl->pt = pt;
        double lh = plot_line_height(p, pt);
        if (pt == PT_TICK) {
            clip_to(p, d, xl, 0, 1, room);
            if (xl->maxw <= *slot * 0.92) {
                xl->angle = 0;
                return NM_OK;
            }
            clip_to(p, d, xl, M_SQRT1_2, M_SQRT1_2, room);
            elide_middle(d->groups[0], xl->clip, buf, sizeof buf);
            double first = (plot_text_width(p, pt, buf) + lh / 2) * M_SQRT1_2;
            if (lh * 1.2 * M_SQRT2 <= *slot && first <= left + *slot / 2 - pad / 2) {
                xl->angle = 45;
                return NM_OK;
            }
        }
        xl->angle = 90;
        clip_to(p, d, xl, 1, 0, room);
        if (lh * 1.1 <= *slot)
            return NM_OK;
    }
    /* at the smallest size, upright: widen or thin */
    double pitch = plot_line_height(p, xl->pt) * 1.1;
    if (p->width == 0) {
        double need = left + pitch * d->n_groups + pad + legw;
        if (need <= PLOT_MAX_SIDE) {
            *W = (int)ceil(need);
            *slot = (*W - pad - legw - left) / d->n_groups;
            return NM_OK;
        }
    }
    xl->every = (int)ceil(pitch / *slot);
    return NM_OK;
}

static int draw_bars(plot *p, const plot_bar_data *d, int stacked)
{
    const char *what = stacked ? "plot_stacked" : "plot_bars";
    if (!p)
        return nm_seterr("%s: no plot", what);
    if (check_bars(d, stacked, what) != NM_OK)
        return NM_ERR;
    double dlo, dhi;
    data_range(d, stacked, &dlo, &dhi);
    if (d->ymax > 0 && d->ymax < dhi)
        return nm_seterr("%s: ymax %g is below the largest %s %g", what, d->ymax,
                         stacked ? "stack" : "value", dhi);
    plot_ticks t;
    /* the plot area's height is not known yet: about 55% of the figure */
    plot_y_ticks(p, dlo, d->ymax > 0 ? d->ymax : dhi, 0.55 * plot_default_height(p), &t);
    double vlo = t.lo, vhi = d->ymax > 0 ? d->ymax : t.hi;

    int W = plot_default_width(p), H = plot_default_height(p);

    /* Layout (before the canvas, which it may widen): title, legend column
     * on the right, y ticks on the left, category labels at the bottom. */
    double pad = plot_px(p, 8), gap = plot_px(p, 4);
    double top = plot_title_bottom(p, W);
    /* a legend wider than a quarter of the figure goes under the chart */
    int legend = d->series != NULL;
    int below = legend && plot_legend_below(p, d->series, d->n_series, 0, W);
    double legw = legend && !below ? plot_legend_width(p, d->series, d->n_series, 0) : 0;
    double left = pad + ((p->ylabel && *p->ylabel) ? plot_line_height(p, PT_LABEL) * 1.3 : 0) +
                  plot_ticks_max_width(p, &t) + gap * 2;
    double right = W - pad - legw;
    double slot = (right - left) / d->n_groups;
    if (slot * 0.8 < d->n_series * 2)
        return nm_seterr("%s: %d groups of %d bars need at least %d pixels of width; the plot "
                         "area has %.0f (make the figure wider)",
                         what, d->n_groups, d->n_series, (int)ceil(d->n_groups * d->n_series * 2.5),
                         right - left);
    char buf[256];
    xlabels xl;
    if (x_labels_fit(p, d, &xl, &slot, &W, H, left, pad, legw) != NM_OK)
        return NM_ERR;
    right = W - pad - legw;
    double tick_h = plot_line_height(p, xl.pt), note_h = plot_line_height(p, PT_NOTE);
    double xlab_h = xl.angle == 90 ? xl.maxw + gap : xl.angle == 45 ? (xl.maxw + tick_h) * M_SQRT1_2
                                                                      : tick_h;
    /* Bar width, then room above the tallest bar for its label. */
    double bw = slot * 0.8 / d->n_series;
    double lab_w = 0;
    if (d->value_labels) {
        int n = stacked ? d->n_groups : d->n_groups * d->n_series;
        for (int i = 0; i < n; i++) {
            label_text(d, i, d->values[i], buf, sizeof buf);
            double w = plot_text_width(p, PT_VALUE, buf);
            lab_w = w > lab_w ? w : lab_w;
        }
    }
    double lab_room = stacked ? slot * 0.8 : bw;
    double vh = plot_line_height(p, PT_VALUE);
    int lab_rot = d->value_labels && lab_w > lab_room * 1.05;
    int labels_on = d->value_labels && (!lab_rot || lab_room >= vh * 0.9);
    /* a note line when labels or values are left out */
    int noted = xl.every > 1 || (d->value_labels && !labels_on);
    double leg_h = below ? plot_legend_rows_height(p, d->series, d->n_series, 0, W - 2 * pad) + gap
                         : 0;
    double note_room = noted ? note_h * 1.3 : 0;
    double bottom = H - pad - ((p->xlabel && *p->xlabel) ? plot_line_height(p, PT_LABEL) * 1.3 : 0) -
                    xlab_h - gap * 2 - note_room - leg_h;
    if (bottom - top < plot_px(p, 40))
        return nm_seterr("%s: the figure (%d x %d) leaves no room for the bars under the "
                         "title and labels (make it taller)", what, W, H);
    if (plot_canvas(p, W, H, stacked ? "stacked" : "bars") != NM_OK)
        return NM_ERR;
    plot_draw_title(p);

    if (labels_on && d->ymax == 0) {
        double need = (lab_rot ? lab_w : vh) + gap;
        double ha = bottom - top;
        if (ha > need * 1.5 && dhi > 0) {
            double want = (dhi * ha - need * vlo) / (ha - need);
            if (want > vhi)
                vhi = want;
        }
    }

    plot_box b = {left, top, right, bottom};
    plot_draw_yaxis(p, &b, &t, vlo, vhi);
    int ybase = (int)lround(plot_map(0, vlo, vhi, bottom, top));
    for (int g = 0; g < d->n_groups; g++) {
        double sx = left + g * slot + slot * 0.1;
        double cum = 0;
        for (int s = 0; s < d->n_series; s++) {
            int idx = s * d->n_groups + g;
            double v = d->values[idx];
            plot_rgb c = plot_category_color(p->theme, s);
            if (stacked) {
                int ya = (int)lround(plot_map(cum, vlo, vhi, bottom, top));
                int yb = (int)lround(plot_map(cum + v, vlo, vhi, bottom, top));
                plot_fill_px(p, (int)lround(sx), yb, (int)lround(sx + slot * 0.8), ya, c);
                cum += v;
                continue;
            }
            int x0 = (int)lround(sx + s * bw), x1 = (int)lround(sx + (s + 1) * bw);
            int yv = (int)lround(plot_map(v, vlo, vhi, bottom, top));
            if (v >= 0)
                plot_fill_px(p, x0, yv, x1, ybase, c);
            else
                plot_fill_px(p, x0, ybase, x1, yv, c);
            if (labels_on) {
                label_text(d, idx, v, buf, sizeof buf);
                double ly = (v >= 0 ? yv : ybase) - gap;
                if (lab_rot)
                    plot_text(p, PT_VALUE, buf, (x0 + x1) / 2.0, ly, 0, 0.5, -M_PI / 2, p->col.fg);
                else
                    plot_text(p, PT_VALUE, buf, (x0 + x1) / 2.0, ly, 0.5, 1, 0, p->col.fg);
            }
        }
        if (stacked && labels_on) {
            label_text(d, g, cum, buf, sizeof buf);
            double ly = plot_map(cum, vlo, vhi, bottom, top) - gap;
            double cx = sx + slot * 0.4;
            if (lab_rot)
                plot_text(p, PT_VALUE, buf, cx, ly, 0, 0.5, -M_PI / 2, p->col.fg);
            else
                plot_text(p, PT_VALUE, buf, cx, ly, 0.5, 1, 0, p->col.fg);
        }
        if (g % xl.every == 0) {
            elide_middle(d->groups[g], xl.clip, buf, sizeof buf);
            double cx = left + (g + 0.5) * slot, ly = bottom + gap * 2;
            if (xl.angle == 90)
                plot_text(p, xl.pt, buf, cx, ly, 1, 0.5, -M_PI / 2, p->col.fg);
            else if (xl.angle == 45)
                plot_text(p, xl.pt, buf, cx, ly, 1, 0.5, -M_PI / 4, p->col.fg);
            else
                plot_text(p, xl.pt, buf, cx, ly, 0.5, 0, 0, p->col.fg);
        }
    }
    /* baseline over the bars' feet */
    int lw = (int)fmax(1, lround(plot_px(p, 0.75)));
    plot_fill_px(p, (int)lround(left), ybase, (int)lround(right), ybase + lw, p->col.axis);
    if (legend) {
        plot_rgb cols[PLOT_MAX_SERIES];
        for (int s = 0; s < d->n_series; s++)
            cols[s] = plot_category_color(p->theme, s);
        if (below)
            plot_draw_legend_rows(p, pad, H - pad - note_room - leg_h + gap, W - 2 * pad,
                                  d->series, cols, d->n_series, 0);
        else
            plot_draw_legend(p, right, top, d->series, cols, d->n_series, 0);
    }
    /* what was left out is said under the chart, never dropped silently */
    char note[256] = "", ord[16];
    int drawn = (d->n_groups + xl.every - 1) / xl.every;
    if (xl.every > 1)
        snprintf(note, sizeof note, "x labels: every %s of %d shown (1, %d, %d, ...)",
                 ordinal(xl.every, ord, sizeof ord), d->n_groups, 1 + xl.every, 1 + 2 * xl.every);
    if (d->value_labels && !labels_on)
        snprintf(note + strlen(note), sizeof note - strlen(note), "%sbar values left out (bars "
                 "narrower than a line of text)", note[0] ? "; " : "");
    if (note[0])
        plot_text(p, PT_NOTE, note, left, H - pad, 0, 1, 0, p->col.fg);
    plot_draw_axis_labels(p, &b, pad, H - pad - note_room - leg_h);
    p->data = (plot_rect){(int)lround(left), (int)lround(top), (int)lround(right - left),
                          (int)lround(bottom - top)};
    p->info.x_labels = d->n_groups;
    p->info.x_labels_drawn = drawn;
    p->info.x_label_angle = xl.angle;
    p->info.x_label_pt = xl.pt;
    return plot_check_cairo(p, what);
}

int plot_bars(plot *p, const plot_bar_data *d)
{
    int before = p && p->kind;
    int st = draw_bars(p, d, 0);
    return plot_finish(p, before, st);
}

int plot_stacked(plot *p, const plot_bar_data *d)
{
    int before = p && p->kind;
    int st = draw_bars(p, d, 1);
    return plot_finish(p, before, st);
}
