/* plot_heat_parts.c - what a heatmap draws around its cells: the colour
 * bar, index axes, N:M group separators, removal marks, the legend and the
 * note. The layout (plot_heat.h) is decided by plot_heat_draw. */
#include "plot_heat.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Vertical colour bar in [x, x+w] x [y0, y1] for [lo, hi], ticks on its right. */
static void draw_colorbar(plot *p, plot_ramp ramp, double x, double w, double y0, double y1,
                          double lo, double hi, const char *label, double label_x)
{
    cairo_surface_t *bar = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 256);
    unsigned char *data = cairo_image_surface_get_data(bar);
    int stride = cairo_image_surface_get_stride(bar);
    for (int i = 0; i < 256; i++)
        *(uint32_t *)(data + (size_t)i * (size_t)stride) = heat_pack(plot_ramp_color(ramp, 1.0 - i / 255.0));
    cairo_surface_mark_dirty(bar);
    cairo_t *cr = p->cr;
    cairo_save(cr);
    cairo_rectangle(cr, x, y0, w, y1 - y0);
    cairo_clip(cr);
    cairo_translate(cr, x, y0);
    cairo_scale(cr, w, (y1 - y0) / 256.0);
    cairo_set_source_surface(cr, bar, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_paint(cr);
    cairo_restore(cr);
    cairo_surface_destroy(bar);
    plot_ticks t;
    plot_nice_ticks(lo, hi, 5, &t);
    char buf[64];
    int lw = (int)fmax(1, lround(plot_px(p, 0.75)));
    for (int i = 0; i < t.n; i++) {
        double v = t.lo + i * t.step;
        if (v < lo - 1e-9 * t.step || v > hi + 1e-9 * t.step)
            continue;
        int y = (int)lround(plot_map(v, lo, hi, y1, y0));
        plot_fill_px(p, (int)lround(x + w), y, (int)lround(x + w) + lw * 4, y + lw, p->col.axis);
        plot_tick_label(&t, i, buf, sizeof buf);
        plot_text(p, PT_TICK, buf, x + w + lw * 6, y, 0, 0.5, 0, p->col.fg);
    }
    if (label && *label)
        plot_text(p, PT_LABEL, label, label_x, (y0 + y1) / 2, 0.5, 1, -M_PI / 2, p->col.fg);
}

double heat_colorbar_width(plot *p, double lo, double hi, const char *label)
{
    plot_ticks t;
    plot_nice_ticks(lo, hi, 5, &t);
    double w = plot_px(p, 10) + plot_px(p, 12) + plot_px(p, 6) + plot_ticks_max_width(p, &t);
    if (label && *label)
        w += plot_line_height(p, PT_LABEL) * 1.4;
    return w;
}

/* Integer ticks for indices base..base+n-1 at about `target` intervals:
 * nice steps, the first tick moved up to `base` when the nice start falls
 * below it (1, 20, 40, ...). */
static void index_ticks(int64_t n, int base, int target, plot_ticks *t)
{
    plot_nice_ticks(base, (double)(n > 1 ? n - 1 + base : 1 + base), target, t);
    if (t->step < 1) {
        t->step = 1;
        t->lo = base;
        t->n = (int)(n > 1 ? n : 1);
    }
    t->decimals = 0;
}

void heat_index_ticks(int64_t n, int base, plot_ticks *t) { index_ticks(n, base, 5, t); }

/* Index value of tick i (first tick clamped up to base). */
static double index_tick(const plot_ticks *t, int i, int base)
{
    double v = t->lo + i * t->step;
    return v < base ? base : v;
}

static void index_label(double v, char *buf, size_t len) { snprintf(buf, len, "%.0f", v); }

void heat_index_ticks_fit(plot *p, int64_t n, int base, double px, int across, plot_ticks *t)
{
    double lh = plot_line_height(p, PT_TICK);
    char buf[32];
    for (int target = 5; target >= 1; target--) {
        index_ticks(n, base, target, t);
        int ok = 1;
        double prev = -1, prev_w = 0;
        for (int i = 0; i < t->n && ok; i++) {
            double v = index_tick(t, i, base);
            if (v > n - 1 + base)
                break;
            index_label(v, buf, sizeof buf);
            double w = plot_text_width(p, PT_TICK, buf);
            if (prev >= 0) {
                double d = (v - prev) * px / (double)n;
                ok = across ? d >= (w + prev_w) / 2 + plot_px(p, 4) : d >= lh * 1.3;
            }
            prev = v;
            prev_w = w;
        }
        if (ok)
            return;
    }
    /* not even two labels fit: the first index only (the note gives the size) */
    t->lo = base;
    t->step = (double)n;
    t->n = 1;
}

double heat_index_ticks_width(plot *p, const plot_ticks *t, int64_t n, int base)
{
    double w = 0;
    char buf[32];
    for (int i = 0; i < t->n; i++) {
        double v = index_tick(t, i, base);
        if (v > n - 1 + base)
            break;
        index_label(v, buf, sizeof buf);
        w = fmax(w, plot_text_width(p, PT_TICK, buf));
    }
    return w;
}

/* 1 if column c starts an N:M group (or a kernel, where groups restart). */
int heat_group_start(const plot_heat_src *s, int64_t c)
{
    if (s->group_m <= 0)
        return 0;
    if (s->group_restart > 1)
        return c % s->group_restart == 0 || (c % s->group_restart) % s->group_m == 0;
    int64_t span = (int64_t)s->group_m * (s->group_stride > 1 ? s->group_stride : 1);
    return c % span == 0;
}

void heat_draw_separators(plot *p, const plot_heat_src *s, const heat_layout *L)
{
    /* A line in the separator colour over the first pixel(s) of each
     * group's first column: 1 px while cells are under 8 px so most of
     * every cell stays visible, at most a quarter of a cell above. */
    if (!L->group_lines)
        return;
    int lw = (int)fmax(1, lround(plot_px(p, 0.75)));
    int sw = L->sx < 8 ? 1 : (lw < L->sx / 4 ? lw : L->sx / 4);
    for (int64_t c = 1; c < s->cols; c++) {
        if (!heat_group_start(s, c))
            continue;
        int x = L->x0 + (int)c * L->sx - sw / 2;
        plot_fill_px(p, x, L->y0, x + sw, L->y0 + L->ih, p->col.sep);
    }
}

void heat_draw_marks(plot *p, const plot_heat_src *s, const heat_layout *L)
{
    int gap = (int)lround(L->gap), mw = (int)lround(L->mark_w);
    /* removed rows: a mark in the margin beside each (block) row */
    if (s->rows_removed)
        for (int r = 0; r < L->rows_r; r++) {
            int any = 0;
            for (int64_t i = r * L->br; i < (r + 1) * L->br && i < s->rows; i++)
                any |= s->rows_removed[i] != 0;
            if (any)
                plot_fill_px(p, L->x0 - gap - mw, L->y0 + r * L->sy, L->x0 - gap,
                             L->y0 + (r + 1) * L->sy, p->col.marker);
        }
    /* removed columns: a mark above each (block) column */
    if (s->cols_removed)
        for (int c = 0; c < L->cols_r; c++) {
            int any = 0;
            for (int64_t j = c * L->bc; j < (c + 1) * L->bc && j < s->cols; j++)
                any |= s->cols_removed[j] != 0;
            if (any)
                plot_fill_px(p, L->x0 + c * L->sx, L->y0 - gap - mw, L->x0 + (c + 1) * L->sx,
                             L->y0 - gap, p->col.marker);
        }
}

void heat_draw_index_axes(plot *p, const plot_heat_src *s, const heat_layout *L)
{
    /* ticks at cell centres, labelled from index_base */
    int base = p->index_base;
    int lw = (int)fmax(1, lround(plot_px(p, 0.75)));
    char buf[64];
    double tick_x = L->x0 - L->gap * 2 - L->row_mark;
    for (int i = 0; i < L->rt.n; i++) {
        double v = index_tick(&L->rt, i, base);
        if (v > s->rows - 1 + base)
            break;
        double y = L->y0 + (v - base + 0.5) * L->ih / (double)s->rows;
        index_label(v, buf, sizeof buf);
        plot_text(p, PT_TICK, buf, tick_x, y, 1, 0.5, 0, p->col.fg);
    }
    for (int i = 0; i < L->ct.n; i++) {
        double v = index_tick(&L->ct, i, base);
        if (v > s->cols - 1 + base)
            break;
        double x = L->x0 + (v - base + 0.5) * L->iw / (double)s->cols;
        plot_fill_px(p, (int)x, L->y0 + L->ih, (int)x + lw, L->y0 + L->ih + lw * 3, p->col.axis);
        index_label(v, buf, sizeof buf);
        plot_text(p, PT_TICK, buf, x, L->y0 + L->ih + L->gap * 1.5, 0.5, 0, 0, p->col.fg);
    }
}

/* The legend entries beside the matrix: names and colours; returns how many. */
static int side_legend(const plot *p, const heat_layout *L, const char **names, plot_rgb *kp)
{
    int nl = 0, exact_mask = L->has_m && !L->reduced;
    if (exact_mask && !L->has_v) {
        names[nl] = "kept";
        kp[nl++] = p->col.kept;
    }
    if (exact_mask) {
        names[nl] = "pruned";
        kp[nl++] = p->col.pruned;
    }
    if (L->rows_gone > 0 || L->cols_gone > 0) {
        names[nl] = "removed";
        kp[nl++] = p->col.marker;
    }
    return nl;
}

double heat_side_bottom(plot *p, const heat_layout *L)
{
    const char *names[3];
    plot_rgb kp[3];
    int nl = side_legend(p, L, names, kp);
    double ry = L->y0;
    if (nl > 0)
        ry += plot_line_height(p, PT_LEGEND) * 1.35 * nl + L->gap * 2;
    if (!L->has_v && !L->reduced)
        return ry;
    double y1 = fmax(L->y0 + L->ih, ry + plot_px(p, 60));
    return y1 + plot_line_height(p, PT_TICK) / 2;
}

void heat_draw_side(plot *p, const plot_heat_src *s, const heat_layout *L)
{
    double rx = L->x0 + L->iw, ry = L->y0;
    const char *names[3];
    plot_rgb kp[3];
    int nl = side_legend(p, L, names, kp);
    if (nl > 0) {
        plot_draw_legend(p, rx, ry, names, kp, nl, 0);
        ry += plot_line_height(p, PT_LEGEND) * 1.35 * nl + L->gap * 2;
    }
    if (!L->has_v && !L->reduced)
        return;
    int frac = L->has_m && L->reduced;   /* a reduced mask: kept fraction */
    double lo = frac ? 0 : L->lo, hi = frac ? 1 : L->hi;
    const char *label = frac ? "kept fraction" : s->value_label;
    /* as tall as the matrix, at least 60 pt where there is room, 30 pt always */
    double y1 = L->y0 + L->ih;
    if (y1 - ry < plot_px(p, 60))
        y1 = fmin(ry + plot_px(p, 60), L->bottom);
    if (y1 - ry < plot_px(p, 30))
        y1 = ry + plot_px(p, 30);
    draw_colorbar(p, s->ramp, rx + plot_px(p, 10), plot_px(p, 12), ry, y1, lo, hi, label,
                  rx + heat_colorbar_width(p, lo, hi, label));
}

/* Appends "; piece" to the note, starting a new line when the current one
 * would be wider than max_w pixels (unless it is the last allowed). */
static void note_add(plot *p, heat_note *nt, double max_w, int max_lines, const char *piece)
{
    nt->widest_piece = fmax(nt->widest_piece, plot_text_width(p, PT_NOTE, piece));
    char *l = nt->line[nt->n];
    size_t len = strlen(l);
    if (len > 0 && nt->n + 1 < max_lines) {
        char probe[512];
        snprintf(probe, sizeof probe, "%s; %s", l, piece);
        if (plot_text_width(p, PT_NOTE, probe) > max_w) {
            nt->n++;
            l = nt->line[nt->n];
            len = strlen(l);
        }
    }
    snprintf(l + len, sizeof nt->line[0] - len, "%s%s", len > 0 ? "; " : "", piece);
}

void heat_note_build(plot *p, const plot_heat_src *s, const heat_layout *L, double max_w,
                     int max_lines, heat_note *nt)
{
    memset(nt, 0, sizeof *nt);
    if (max_lines > HEAT_NOTE_LINES)
        max_lines = HEAT_NOTE_LINES;
    char piece[160];
    snprintf(piece, sizeof piece, "%lld x %lld", (long long)s->rows, (long long)s->cols);
    note_add(p, nt, max_w, max_lines, piece);
    if (L->reduced) {
        snprintf(piece, sizeof piece, "each cell is a %lld x %lld block (%s)", (long long)L->br,
                 (long long)L->bc, L->has_m ? "kept fraction" : "mean");
        note_add(p, nt, max_w, max_lines, piece);
    }
    if (s->group_m > 0) {
        char what[96];
        if (s->group_restart > 1)
            snprintf(what, sizeof what, "groups of %d restarting every %d-column kernel", s->group_m, s->group_restart);
        else if (s->group_stride > 1)
            snprintf(what, sizeof what, "groups of %d columns %d apart (lines every %d)", s->group_m, s->group_stride,
                     s->group_m * s->group_stride);
        else
            snprintf(what, sizeof what, "groups of %d columns", s->group_m);
        snprintf(piece, sizeof piece, "%s%s", what,
                 L->group_lines || s->group_m >= s->cols ? ""
                 : L->reduced ? " (lines left out: matrix reduced)"
                              : " (lines left out: cells under 3 px)");
        note_add(p, nt, max_w, max_lines, piece);
    }
    if (s->rows_removed) {
        snprintf(piece, sizeof piece, "%lld of %lld rows removed (marked left)",
                 (long long)L->rows_gone, (long long)s->rows);
        note_add(p, nt, max_w, max_lines, piece);
    }
    if (s->cols_removed) {
        int counted = s->cols_removed_total > 0;
        snprintf(piece, sizeof piece, "%lld of %lld %s removed (columns marked above)",
                 (long long)(counted ? s->cols_removed_count : L->cols_gone),
                 (long long)(counted ? s->cols_removed_total : s->cols),
                 s->cols_removed_what ? s->cols_removed_what : "columns");
        note_add(p, nt, max_w, max_lines, piece);
    }
    nt->n++;
}

void heat_draw_note(plot *p, const heat_note *nt, const heat_layout *L, double pad, int dx)
{
    /* x label and note right under the matrix, not at the figure's foot */
    double lab_h = plot_line_height(p, PT_LABEL), note_h = plot_line_height(p, PT_NOTE);
    double below = L->under;
    if (p->xlabel && *p->xlabel) {
        below += lab_h * 1.3;
        plot_text(p, PT_LABEL, p->xlabel, L->xlabel_cx, below, 0.5, 1, 0, p->col.fg);
    }
    for (int i = 0; i < nt->n; i++)
        plot_text(p, PT_NOTE, nt->line[i], nt->x, below + note_h * 1.3 * (i + 1), 0, 1, 0,
                  p->col.fg);
    if (p->ylabel && *p->ylabel)
        plot_text(p, PT_LABEL, p->ylabel, pad + dx, L->ylabel_cy, 0.5, 0, -M_PI / 2, p->col.fg);
}
