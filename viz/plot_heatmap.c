/* plot_heatmap.c - matrices and masks as one pixel per cell, scaled up with
 * nearest-neighbour filtering, with a labelled colour bar or a kept/pruned
 * legend.
 *
 * A matrix larger than the data area is reduced by whole blocks (br x bc
 * source cells per drawn cell: the mean value, or the kept fraction for a
 * mask); the note under the chart gives the block size, so nothing is
 * dropped silently. */
#include "plot_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SIDE ((int64_t)1 << 24)
#define MAX_CELLS ((int64_t)1 << 31)

static double src_value(const plot_heat_src *s, int64_t i)
{
    if (s->dv)
        return s->dv[i];
    return s->abs_f ? fabsf(s->fv[i]) : s->fv[i];
}

/* Kept flag of cell i (1 when there is no mask). */
static int src_kept(const plot_heat_src *s, int64_t i) { return s->mask ? s->mask[i] != 0 : 1; }

static int check_src(const plot_heat_src *s)
{
    const char *w = s->what;
    if (s->rows < 1 || s->cols < 1 || s->rows > MAX_SIDE || s->cols > MAX_SIDE ||
        s->rows * s->cols > MAX_CELLS)
        return nm_seterr("%s: a %lld x %lld matrix is out of range (1..%lld per side, %lld cells)",
                         w, (long long)s->rows, (long long)s->cols, (long long)MAX_SIDE,
                         (long long)MAX_CELLS);
    if (!s->dv && !s->fv && !s->mask && !s->all_kept)
        return nm_seterr("%s: neither values nor a mask given", w);
    if (s->group_m < 0)
        return nm_seterr("%s: group_m %d is negative", w, s->group_m);
    if (s->ramp != PLOT_RAMP_VIRIDIS && s->ramp != PLOT_RAMP_CIVIDIS)
        return nm_seterr("%s: unknown ramp %d", w, (int)s->ramp);
    int auto_range = s->vmin == 0 && s->vmax == 0;
    if (!auto_range && (!isfinite(s->vmin) || !isfinite(s->vmax) || !(s->vmax > s->vmin)))
        return nm_seterr("%s: value range [%g, %g] must be finite with vmin < vmax "
                         "(both 0 = the data's range)", w, s->vmin, s->vmax);
    int64_t n = s->rows * s->cols;
    if (s->dv || s->fv)
        for (int64_t i = 0; i < n; i++) {
            double v = src_value(s, i);
            if (!isfinite(v))
                return nm_seterr("%s: value at row %lld, column %lld is %s", w,
                                 (long long)(i / s->cols), (long long)(i % s->cols),
                                 isnan(v) ? "NaN" : "infinite");
        }
    return NM_OK;
}

/* Range of the values drawn on the ramp (kept cells only with a mask). */
static void value_range(const plot_heat_src *s, double *lo, double *hi)
{
    if (!(s->vmin == 0 && s->vmax == 0)) {
        *lo = s->vmin;
        *hi = s->vmax;
        return;
    }
    double a = INFINITY, b = -INFINITY;
    int64_t n = s->rows * s->cols;
    for (int64_t i = 0; i < n; i++) {
        if (!src_kept(s, i))
            continue;
        double v = src_value(s, i);
        a = v < a ? v : a;
        b = v > b ? v : b;
    }
    if (!(b >= a)) {
        a = 0;
        b = 1;
    }
    if (b == a) {
        double d = a != 0 ? fabs(a) * 0.5 : 0.5;
        a -= d;
        b += d;
    }
    *lo = a;
    *hi = b;
}

static uint32_t pack(plot_rgb c)
{
    return (uint32_t)lround(c.r * 255) << 16 | (uint32_t)lround(c.g * 255) << 8 |
           (uint32_t)lround(c.b * 255);
}

/* Fills the rows_r x cols_r RGB24 image, one pixel per drawn cell. Returns
 * NM_ERR on out of memory. */
static int fill_cells(const plot *p, const plot_heat_src *s, int64_t br, int64_t bc,
                      int rows_r, int cols_r, double lo, double hi, cairo_surface_t *img)
{
    int has_v = s->dv || s->fv, has_m = s->mask || s->all_kept;
    int reduced = br > 1 || bc > 1;
    unsigned char *data = cairo_image_surface_get_data(img);
    int stride = cairo_image_surface_get_stride(img);
    if (!reduced) {
        uint32_t kept = pack(p->col.kept), pruned = pack(p->col.pruned);
        for (int r = 0; r < rows_r; r++) {
            uint32_t *row = (uint32_t *)(data + (size_t)r * (size_t)stride);
            for (int c = 0; c < cols_r; c++) {
                int64_t i = (int64_t)r * s->cols + c;
                if (has_m && !src_kept(s, i))
                    row[c] = pruned;
                else if (has_v)
                    row[c] = pack(plot_ramp_color(s->ramp, (src_value(s, i) - lo) / (hi - lo)));
                else
                    row[c] = kept;
            }
        }
        return NM_OK;
    }
    /* Block sums: values (no mask) or kept counts (mask). */
    double *sum = calloc((size_t)cols_r, sizeof *sum);
    int64_t *cnt = calloc((size_t)cols_r, sizeof *cnt);
    if (!sum || !cnt) {
        free(sum);
        free(cnt);
        return nm_seterr("%s: out of memory reducing the matrix", s->what);
    }
    for (int r = 0; r < rows_r; r++) {
        memset(sum, 0, (size_t)cols_r * sizeof *sum);
        memset(cnt, 0, (size_t)cols_r * sizeof *cnt);
        int64_t r0 = r * br, r1 = r0 + br < s->rows ? r0 + br : s->rows;
        for (int64_t i = r0; i < r1; i++) {
            int64_t base = i * s->cols;
            int c = 0;
            int64_t k = 0;
            for (int64_t j = 0; j < s->cols; j++) {
                if (has_m)
                    sum[c] += src_kept(s, base + j);
                else
                    sum[c] += src_value(s, base + j);
                cnt[c]++;
                if (++k == bc) {
                    k = 0;
                    c++;
                }
            }
        }
        uint32_t *row = (uint32_t *)(data + (size_t)r * (size_t)stride);
        for (int c = 0; c < cols_r; c++) {
            double v = sum[c] / (double)cnt[c];
            double t = has_m ? v : (v - lo) / (hi - lo);
            row[c] = pack(plot_ramp_color(s->ramp, t));
        }
    }
    free(sum);
    free(cnt);
    (void)has_v;
    return NM_OK;
}

/* Vertical colour bar in [x, x+w] x [y0, y1] for [lo, hi], ticks on its right. */
static void draw_colorbar(plot *p, plot_ramp ramp, double x, double w, double y0, double y1,
                          double lo, double hi, const char *label, double label_x)
{
    cairo_surface_t *bar = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 256);
    unsigned char *data = cairo_image_surface_get_data(bar);
    int stride = cairo_image_surface_get_stride(bar);
    for (int i = 0; i < 256; i++)
        *(uint32_t *)(data + (size_t)i * (size_t)stride) = pack(plot_ramp_color(ramp, 1.0 - i / 255.0));
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

static double colorbar_width(plot *p, double lo, double hi, const char *label)
{
    plot_ticks t;
    plot_nice_ticks(lo, hi, 5, &t);
    double w = plot_px(p, 10) + plot_px(p, 12) + plot_px(p, 6) + plot_ticks_max_width(p, &t);
    if (label && *label)
        w += plot_line_height(p, PT_LABEL) * 1.4;
    return w;
}

/* Integer ticks for indices base..base+n-1: nice steps, the first tick
 * moved up to `base` when the nice start falls below it (1, 20, 40, ...). */
static void index_ticks(int64_t n, int base, plot_ticks *t)
{
    plot_nice_ticks(base, (double)(n > 1 ? n - 1 + base : 1 + base), 5, t);
    if (t->step < 1) {
        t->step = 1;
        t->lo = base;
        t->n = (int)(n > 1 ? n : 1);
    }
    t->decimals = 0;
}

/* Index value of tick i (first tick clamped up to base). */
static double index_tick(const plot_ticks *t, int i, int base)
{
    double v = t->lo + i * t->step;
    return v < base ? base : v;
}

static void index_label(double v, char *buf, size_t len) { snprintf(buf, len, "%.0f", v); }

static double index_ticks_width(plot *p, const plot_ticks *t, int64_t n, int base)
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

static int64_t count_flags(const uint8_t *f, int64_t n)
{
    int64_t k = 0;
    for (int64_t i = 0; f && i < n; i++)
        k += f[i] != 0;
    return k;
}

/* Appends "; text" pieces to the note, starting a second line when the
 * first would be wider than max_w pixels. */
typedef struct {
    char line[2][256];
    int n;
} heat_note;

static void note_add(plot *p, heat_note *nt, double max_w, const char *piece)
{
    char *l = nt->line[nt->n];
    size_t len = strlen(l);
    if (len > 0 && nt->n == 0) {
        char probe[512];
        snprintf(probe, sizeof probe, "%s; %s", l, piece);
        if (plot_text_width(p, PT_NOTE, probe) > max_w) {
            nt->n = 1;
            l = nt->line[1];
            len = strlen(l);
        }
    }
    snprintf(l + len, sizeof nt->line[0] - len, "%s%s", len > 0 ? "; " : "", piece);
}

int plot_heat_draw(plot *p, const plot_heat_src *s)
{
    const char *w = s->what;
    if (!p)
        return nm_seterr("%s: no plot", w);
    if (check_src(s) != NM_OK)
        return NM_ERR;
    int has_v = s->dv || s->fv, has_m = s->mask || s->all_kept;
    double lo = 0, hi = 1;
    if (has_v)
        value_range(s, &lo, &hi);
    int base = p->index_base;
    int64_t rows_gone = count_flags(s->rows_removed, s->rows);
    int64_t cols_gone = count_flags(s->cols_removed, s->cols);
    int marks = rows_gone > 0 || cols_gone > 0;

    int W = plot_default_width(p), H = plot_default_height(p);
    if (plot_canvas(p, W, H, "heatmap") != NM_OK)
        return NM_ERR;
    double pad = plot_px(p, 8), gap = plot_px(p, 4);
    double mark_w = plot_px(p, 6);
    double top = plot_draw_title(p) + gap * 1.5;
    if (s->cols_removed)
        top += mark_w + gap;   /* removed columns are marked above */
    double tick_h = plot_line_height(p, PT_TICK), lab_h = plot_line_height(p, PT_LABEL);
    double note_h = plot_line_height(p, PT_NOTE);
    plot_ticks rt, ct;
    index_ticks(s->rows, base, &rt);
    index_ticks(s->cols, base, &ct);
    double row_mark = s->rows_removed ? mark_w + gap : 0;
    double left = pad + ((p->ylabel && *p->ylabel) ? lab_h * 1.3 : 0) +
                  index_ticks_width(p, &rt, s->rows, base) + gap * 2 + row_mark;
    double xlabel_y = H - pad - note_h * 1.3 * 2;   /* room for two note lines */
    double bottom = xlabel_y - ((p->xlabel && *p->xlabel) ? lab_h * 1.3 : 0) - tick_h - gap * 2;

    /* Right column: legend for exact masks and removal marks, colour bar
     * for values or reduced masks. Decide reduction with the legend only,
     * then again if a colour bar has to be added. */
    const char *names_all[3] = {"kept", "pruned", "removed"};
    double leg_w = has_m || marks ? plot_legend_width(p, names_all, 3, 0) : 0;
    double cb_w = has_v ? colorbar_width(p, lo, hi, s->value_label) : 0;
    double right = W - pad - fmax(leg_w, cb_w);
    int64_t br = 1, bc = 1;
    for (int pass = 0; pass < 2; pass++) {
        double aw = floor(right - left), ah = floor(bottom - top);
        if (aw < 16 || ah < 16)
            return nm_seterr("%s: the figure (%d x %d) leaves no room for the matrix (make it "
                             "larger)", w, W, H);
        bc = (s->cols + (int64_t)aw - 1) / (int64_t)aw;
        br = (s->rows + (int64_t)ah - 1) / (int64_t)ah;
        if (!(br > 1 || bc > 1) || !has_m || has_v)
            break;
        cb_w = colorbar_width(p, 0, 1, "kept fraction");
        right = W - pad - fmax(leg_w, cb_w);
    }
    int reduced = br > 1 || bc > 1;
    int rows_r = (int)((s->rows + br - 1) / br), cols_r = (int)((s->cols + bc - 1) / bc);
    int sx = (int)floor((right - left) / cols_r), sy = (int)floor((bottom - top) / rows_r);
    {
        /* Square cells, unless that leaves the matrix a thin strip: then the
         * short side is stretched to 40% of the area (cells stay integer). */
        int sq = sx < sy ? sx : sy;
        int want_y = (int)ceil(0.4 * (bottom - top) / rows_r);
        int want_x = (int)ceil(0.4 * (right - left) / cols_r);
        int ny = sq * rows_r < 0.4 * (bottom - top) ? (want_y < sy ? want_y : sy) : sq;
        int nx = sq * cols_r < 0.4 * (right - left) ? (want_x < sx ? want_x : sx) : sq;
        sx = nx;
        sy = ny;
    }
    int iw = cols_r * sx, ih = rows_r * sy;
    /* Centre the matrix (with its margins and right column) in the space. */
    int dx = (int)floor((right - left - iw) / 2), dy = (int)floor((bottom - top - ih) / 2);
    int x0 = (int)lround(left) + dx, y0 = (int)lround(top) + dy;

    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, cols_r, rows_r);
    if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(img);
        return nm_seterr("%s: cannot create a %d x %d cell image", w, cols_r, rows_r);
    }
    cairo_surface_flush(img);
    if (fill_cells(p, s, br, bc, rows_r, cols_r, lo, hi, img) != NM_OK) {
        cairo_surface_destroy(img);
        return NM_ERR;
    }
    cairo_surface_mark_dirty(img);
    cairo_t *cr = p->cr;
    cairo_save(cr);
    cairo_translate(cr, x0, y0);
    cairo_scale(cr, sx, sy);
    cairo_set_source_surface(cr, img, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_rectangle(cr, 0, 0, cols_r, rows_r);
    cairo_fill(cr);
    cairo_restore(cr);
    cairo_surface_destroy(img);

    /* N:M group boundaries: a line in the separator colour over the first
     * pixel(s) of each group's first column; 1 px while cells are under 8 px
     * so most of every cell stays visible, at most a quarter of a cell
     * above. Cells under 3 px (or reduced blocks) get no lines. */
    int lw = (int)fmax(1, lround(plot_px(p, 0.75)));
    int group_lines = s->group_m > 0 && s->group_m < s->cols && !reduced && sx >= 3;
    if (group_lines) {
        int sw = sx < 8 ? 1 : (lw < sx / 4 ? lw : sx / 4);
        for (int64_t c = s->group_m; c < s->cols; c += s->group_m) {
            int x = x0 + (int)c * sx - sw / 2;
            plot_fill_px(p, x, y0, x + sw, y0 + ih, p->col.sep);
        }
    }
    /* removed rows: a mark in the margin beside each (block) row */
    if (s->rows_removed) {
        int mx1 = x0 - (int)lround(gap), mx0 = mx1 - (int)lround(mark_w);
        for (int r = 0; r < rows_r; r++) {
            int any = 0;
            for (int64_t i = r * br; i < (r + 1) * br && i < s->rows; i++)
                any |= s->rows_removed[i] != 0;
            if (any)
                plot_fill_px(p, mx0, y0 + r * sy, mx1, y0 + (r + 1) * sy, p->col.marker);
        }
    }
    /* removed columns: a mark above each (block) column */
    if (s->cols_removed) {
        int my1 = y0 - (int)lround(gap), my0 = my1 - (int)lround(mark_w);
        for (int c = 0; c < cols_r; c++) {
            int any = 0;
            for (int64_t j = c * bc; j < (c + 1) * bc && j < s->cols; j++)
                any |= s->cols_removed[j] != 0;
            if (any)
                plot_fill_px(p, x0 + c * sx, my0, x0 + (c + 1) * sx, my1, p->col.marker);
        }
    }
    /* index ticks at cell centres, labelled from index_base */
    char buf[64];
    double tick_x = x0 - gap * 2 - row_mark;
    for (int i = 0; i < rt.n; i++) {
        double v = index_tick(&rt, i, base);
        if (v > s->rows - 1 + base)
            break;
        double y = y0 + (v - base + 0.5) * ih / (double)s->rows;
        index_label(v, buf, sizeof buf);
        plot_text(p, PT_TICK, buf, tick_x, y, 1, 0.5, 0, p->col.fg);
    }
    for (int i = 0; i < ct.n; i++) {
        double v = index_tick(&ct, i, base);
        if (v > s->cols - 1 + base)
            break;
        double x = x0 + (v - base + 0.5) * iw / (double)s->cols;
        plot_fill_px(p, (int)x, y0 + ih, (int)x + lw, y0 + ih + lw * 3, p->col.axis);
        index_label(v, buf, sizeof buf);
        plot_text(p, PT_TICK, buf, x, y0 + ih + gap * 1.5, 0.5, 0, 0, p->col.fg);
    }

    /* right column, right beside the matrix: legend, then colour bar */
    double rx = x0 + iw, ry = y0;
    const char *names[3];
    plot_rgb kp[3];
    int nl = 0;
    if (has_m && !reduced && !has_v) {
        names[nl] = "kept";
        kp[nl++] = p->col.kept;
    }
    if (has_m && !reduced) {
        names[nl] = "pruned";
        kp[nl++] = p->col.pruned;
    }
    if (marks) {
        names[nl] = "removed";
        kp[nl++] = p->col.marker;
    }
    if (nl > 0) {
        plot_draw_legend(p, rx, ry, names, kp, nl, 0);
        ry += plot_line_height(p, PT_LEGEND) * 1.35 * nl + gap * 2;
    }
    if (has_v || reduced) {
        double cb_lo = has_m && reduced ? 0 : lo, cb_hi = has_m && reduced ? 1 : hi;
        const char *cb_label = has_m && reduced ? "kept fraction" : s->value_label;
        double cy1 = y0 + ih;
        if (cy1 - ry < plot_px(p, 60))
            cy1 = fmin(ry + plot_px(p, 60), bottom);
        if (cy1 - ry < plot_px(p, 30))
            cy1 = ry + plot_px(p, 30);
        draw_colorbar(p, s->ramp, rx + plot_px(p, 10), plot_px(p, 12), ry, cy1, cb_lo, cb_hi,
                      cb_label, rx + colorbar_width(p, cb_lo, cb_hi, cb_label));
    }

    /* note: size, block size, N:M groups, removed rows and columns */
    heat_note nt;
    memset(&nt, 0, sizeof nt);
    double note_w = W - pad - x0;
    char piece[160];
    snprintf(piece, sizeof piece, "%lld x %lld", (long long)s->rows, (long long)s->cols);
    note_add(p, &nt, note_w, piece);
    if (reduced) {
        snprintf(piece, sizeof piece, "each cell is a %lld x %lld block (%s)", (long long)br,
                 (long long)bc, has_m ? "kept fraction" : "mean");
        note_add(p, &nt, note_w, piece);
    }
    if (s->group_m > 0) {
        snprintf(piece, sizeof piece, "groups of %d columns%s", s->group_m,
                 group_lines || s->group_m >= s->cols ? ""
                 : reduced ? " (lines left out: matrix reduced)"
                           : " (lines left out: cells under 3 px)");
        note_add(p, &nt, note_w, piece);
    }
    if (s->rows_removed) {
        snprintf(piece, sizeof piece, "%lld of %lld rows removed (marked left)",
                 (long long)rows_gone, (long long)s->rows);
        note_add(p, &nt, note_w, piece);
    }
    if (s->cols_removed) {
        int64_t n = s->cols_removed_total > 0 ? s->cols_removed_total : s->cols;
        int64_t k = s->cols_removed_total > 0 ? s->cols_removed_count : cols_gone;
        snprintf(piece, sizeof piece, "%lld of %lld %s removed (columns marked above)",
                 (long long)k, (long long)n,
                 s->cols_removed_what ? s->cols_removed_what : "columns");
        note_add(p, &nt, note_w, piece);
    }
    /* x label and note right under the matrix, not at the figure's foot */
    double below = y0 + ih + gap * 2 + tick_h;
    if (p->xlabel && *p->xlabel)
        below += lab_h * 1.3;
    for (int i = 0; i <= nt.n; i++)
        plot_text(p, PT_NOTE, nt.line[i], x0, below + note_h * 1.3 * (i + 1), 0, 1, 0, p->col.fg);
    plot_box b = {x0, y0, x0 + iw, y0 + ih};
    plot_draw_axis_labels(p, &b, pad + dx, below);
    p->data = (plot_rect){x0, y0, iw, ih};
    return plot_check_cairo(p, w);
}

int plot_heatmap(plot *p, const plot_heat_data *d)
{
    if (!d)
        return nm_seterr("plot_heatmap: no data");
    plot_heat_src s = {
        .rows = d->rows, .cols = d->cols, .dv = d->values, .mask = d->mask,
        .rows_removed = d->rows_removed, .cols_removed = d->cols_removed, .group_m = d->group_m, .vmin = d->vmin,
        .vmax = d->vmax, .ramp = d->ramp, .value_label = d->value_label,
        .what = "plot_heatmap",
    };
    int before = p && p->kind;
    return plot_finish(p, before, plot_heat_draw(p, &s));
}
