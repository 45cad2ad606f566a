/* plot_heatmap.c - matrices and masks as one pixel per cell, scaled up with
 * nearest-neighbour filtering, with a labelled colour bar or a kept/pruned
 * legend right beside them. This file checks the input, decides the layout
 * (reduction, cell size, the matrix centred in the free space) and fills
 * the cells; plot_heat_parts.c draws what goes around them.
 *
 * A matrix larger than the data area is reduced by whole blocks (br x bc
 * source cells per drawn cell: the mean value, or the kept fraction for a
 * mask); the note under the chart gives the block size, so nothing is
 * dropped silently. */
#include "plot_heat.h"

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
        uint32_t kept = heat_pack(p->col.kept), pruned = heat_pack(p->col.pruned);
        for (int r = 0; r < rows_r; r++) {
            uint32_t *row = (uint32_t *)(data + (size_t)r * (size_t)stride);
            for (int c = 0; c < cols_r; c++) {
                int64_t i = (int64_t)r * s->cols + c;
                if (has_m && !src_kept(s, i))
                    row[c] = pruned;
                else if (has_v)
                    row[c] = heat_pack(plot_ramp_color(s->ramp, (src_value(s, i) - lo) / (hi - lo)));
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
            row[c] = heat_pack(plot_ramp_color(s->ramp, t));
        }
    }
    free(sum);
    free(cnt);
    (void)has_v;
    return NM_OK;
}

static int64_t count_flags(const uint8_t *f, int64_t n)
{
    int64_t k = 0;
    for (int64_t i = 0; f && i < n; i++)
        k += f[i] != 0;
    return k;
}

/* Cell sizes: the largest that fit, square. In a figure of fixed size,
 * unless square cells leave the matrix a thin strip: then the short side
 * is stretched to 40% of the area (cells stay whole pixels). A figure
 * sized to its content (width or height 0) keeps square cells: it shrinks
 * around the matrix instead. */
static void cell_size(heat_layout *L, double aw, double ah, int fit)
{
    int sx = (int)floor(aw / L->cols_r), sy = (int)floor(ah / L->rows_r);
    int sq = sx < sy ? sx : sy;
    if (fit) {
        L->sx = L->sy = sq;
        return;
    }
    int want_y = (int)ceil(0.4 * ah / L->rows_r), want_x = (int)ceil(0.4 * aw / L->cols_r);
    L->sy = sq * L->rows_r < 0.4 * ah ? (want_y < sy ? want_y : sy) : sq;
    L->sx = sq * L->cols_r < 0.4 * aw ? (want_x < sx ? want_x : sx) : sq;
}

/* Draws the rows_r x cols_r cell image scaled to the matrix rectangle. */
static int draw_cells(plot *p, const plot_heat_src *s, const heat_layout *L)
{
    cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, L->cols_r, L->rows_r);
    if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(img);
        return nm_seterr("%s: cannot create a %d x %d cell image", s->what, L->cols_r, L->rows_r);
    }
    cairo_surface_flush(img);
    if (fill_cells(p, s, L->br, L->bc, L->rows_r, L->cols_r, L->lo, L->hi, img) != NM_OK) {
        cairo_surface_destroy(img);
        return NM_ERR;
    }
    cairo_surface_mark_dirty(img);
    cairo_t *cr = p->cr;
    cairo_save(cr);
    cairo_translate(cr, L->x0, L->y0);
    cairo_scale(cr, L->sx, L->sy);
    cairo_set_source_surface(cr, img, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
    cairo_rectangle(cr, 0, 0, L->cols_r, L->rows_r);
    cairo_fill(cr);
    cairo_restore(cr);
    cairo_surface_destroy(img);
    return NM_OK;
}

int plot_heat_draw(plot *p, const plot_heat_src *s)
{
    const char *w = s->what;
    if (!p)
        return nm_seterr("%s: no plot", w);
    if (check_src(s) != NM_OK)
        return NM_ERR;
    heat_layout L;
    memset(&L, 0, sizeof L);
    L.has_v = s->dv || s->fv;
    L.has_m = s->mask || s->all_kept;
    L.lo = 0;
    L.hi = 1;
    if (L.has_v)
        value_range(s, &L.lo, &L.hi);
    int base = p->index_base;
    L.rows_gone = count_flags(s->rows_removed, s->rows);
    L.cols_gone = count_flags(s->cols_removed, s->cols);

    /* Layout first, canvas after: a figure of width or height 0 is the
     * default 8 x 5 inches at most, then shrinks to what it holds. */
    int W = plot_default_width(p), H = plot_default_height(p);
    int fit_w = p->width == 0, fit_h = p->height == 0;
    double pad = plot_px(p, 8);
    L.gap = plot_px(p, 4);
    L.mark_w = plot_px(p, 6);
    double tick_h = plot_line_height(p, PT_TICK), lab_h = plot_line_height(p, PT_LABEL);
    /* under the title a gap; without one, room for half the colour bar's
     * top tick label */
    double top = plot_title_bottom(p, fit_w ? PLOT_MAX_SIDE : W) +
                 (p->title && *p->title ? L.gap * 1.5 : L.has_v ? tick_h / 2 : 0);
    if (s->cols_removed || s->reserve_marks)
        top += L.mark_w + L.gap;   /* removed columns are marked above */
    double note_h = plot_line_height(p, PT_NOTE);
    double xlab_h = (p->xlabel && *p->xlabel) ? lab_h * 1.3 : 0;
    heat_index_ticks(s->rows, base, &L.rt);
    heat_index_ticks(s->cols, base, &L.ct);
    L.row_mark = s->rows_removed || s->reserve_marks ? L.mark_w + L.gap : 0;
    double left = pad + ((p->ylabel && *p->ylabel) ? lab_h * 1.3 : 0) +
                  heat_index_ticks_width(p, &L.rt, s->rows, base) + L.gap * 2 + L.row_mark;
    double xlabel_y = H - pad - note_h * 1.3 * 2;   /* room for two note lines */
    L.bottom = xlabel_y - xlab_h - tick_h - L.gap * 2;

    /* Right column: legend for exact masks and removal marks, colour bar
     * for values or reduced masks. Decide reduction with the legend only,
     * then again if a colour bar has to be added. */
    const char *names_all[3] = {"kept", "pruned", "removed"};
    int marks = L.rows_gone > 0 || L.cols_gone > 0 || s->reserve_marks;
    double leg_w = L.has_m || marks ? plot_legend_width(p, names_all, marks ? 3 : 2, 0) : 0;
    double cb_w = L.has_v ? heat_colorbar_width(p, L.lo, L.hi, s->value_label) : 0;
    double right = W - pad - fmax(leg_w, cb_w);
    int cell = p->cell_pt > 0 ? (int)fmax(1, lround(plot_px(p, p->cell_pt))) : 0;
    if (cell) {
        /* the caller's cell size: every cell drawn, never reduced */
        L.br = L.bc = 1;
        double need_w = (double)s->cols * cell, need_h = (double)s->rows * cell;
        if ((!fit_w && need_w > floor(right - left)) || (!fit_h && need_h > floor(L.bottom - top)) ||
            left + need_w + W - right > PLOT_MAX_SIDE || top + need_h + H - L.bottom > PLOT_MAX_SIDE)
            return nm_seterr("%s: %lld x %lld cells of %d px need a matrix area of %.0f x %.0f px; "
                             "the figure (%s%d x %s%d) has %.0f x %.0f (lower the cell size or the "
                             "dpi, or give width and height 0 to fit)",
                             w, (long long)s->rows, (long long)s->cols, cell, need_w, need_h,
                             fit_w ? "at most " : "", fit_w ? PLOT_MAX_SIDE : W,
                             fit_h ? "at most " : "", fit_h ? PLOT_MAX_SIDE : H,
                             fit_w ? PLOT_MAX_SIDE - left - (W - right) : floor(right - left),
                             fit_h ? PLOT_MAX_SIDE - top - (H - L.bottom) : floor(L.bottom - top));
        L.rows_r = (int)s->rows;
        L.cols_r = (int)s->cols;
        L.sx = L.sy = cell;
    } else {
        for (int pass = 0; pass < 2; pass++) {
            double aw = floor(right - left), ah = floor(L.bottom - top);
            if (aw < 16 || ah < 16)
                return nm_seterr("%s: the figure (%d x %d) leaves no room for the matrix (make it "
                                 "larger)", w, W, H);
            L.bc = (s->cols + (int64_t)aw - 1) / (int64_t)aw;
            L.br = (s->rows + (int64_t)ah - 1) / (int64_t)ah;
            if (fit_w || fit_h) {   /* square blocks keep the data's aspect */
                L.bc = L.br > L.bc ? L.br : L.bc;
                L.br = L.bc;
            }
            if (!(L.br > 1 || L.bc > 1) || !L.has_m || L.has_v)
                break;
            cb_w = heat_colorbar_width(p, 0, 1, "kept fraction");
            right = W - pad - fmax(leg_w, cb_w);
        }
        L.rows_r = (int)((s->rows + L.br - 1) / L.br);
        L.cols_r = (int)((s->cols + L.bc - 1) / L.bc);
        cell_size(&L, right - left, L.bottom - top, fit_w || fit_h);
    }
    L.reduced = L.br > 1 || L.bc > 1;
    if (L.reduced && L.has_m && !L.has_v)
        cb_w = heat_colorbar_width(p, 0, 1, "kept fraction");
    L.iw = L.cols_r * L.sx;
    L.ih = L.rows_r * L.sy;
    /* A fixed figure centres the matrix, with its margins and right column,
     * in the space; a fitted one starts it at the margins and ends there. */
    int dx = fit_w ? 0 : (int)floor((right - left - L.iw) / 2);
    int dy = fit_h ? 0 : (int)floor((L.bottom - top - L.ih) / 2);
    L.x0 = (int)lround(left) + dx;
    L.y0 = (int)lround(top) + dy;
    /* index labels as many as the matrix's size leaves apart */
    heat_index_ticks_fit(p, s->rows, base, L.ih, 0, &L.rt);
    heat_index_ticks_fit(p, s->cols, base, L.iw, 1, &L.ct);
    /* N:M separators need whole cells of 3 px or more */
    L.group_lines = s->group_m > 0 && s->group_m < s->cols && !L.reduced && L.sx >= 3;
    if (fit_w) {
        double need = L.x0 + L.iw + fmax(leg_w, cb_w) + pad;
        if (p->title && *p->title && fit_h) {
            /* a title wider than the content is set smaller or in two
             * lines (the matrix moves down for the second), and widens
             * the figure only by what still does not fit */
            double tb = plot_title_bottom(p, PLOT_MAX_SIDE);
            need = fmax(need, plot_title_width(p, (int)ceil(need)) + 2 * pad);
            int shift = (int)ceil(plot_title_bottom(p, (int)ceil(need)) - tb);
            L.y0 += shift;
        } else if (p->title && *p->title) {
            need = fmax(need, plot_text_width(p, PT_TITLE, p->title) + 2 * pad);
        }
        if (p->xlabel && *p->xlabel)
            need = fmax(need, plot_text_width(p, PT_LABEL, p->xlabel) + 2 * pad);
        W = (int)ceil(need);
    }
    heat_note nt;
    heat_note_build(p, s, &L, W - pad - L.x0, fit_h ? HEAT_NOTE_LINES : 2, &nt);
    if (fit_w && L.x0 + nt.widest_piece + pad > W) {
        W = (int)ceil(L.x0 + nt.widest_piece + pad);
        heat_note_build(p, s, &L, W - pad - L.x0, fit_h ? HEAT_NOTE_LINES : 2, &nt);
    }
    /* the note starts under the matrix; a line that would run past the
     * right edge widens a fitted figure, or moves the note left */
    double note_w = 0;
    for (int i = 0; i < nt.n; i++)
        note_w = fmax(note_w, plot_text_width(p, PT_NOTE, nt.line[i]));
    if (fit_w && L.x0 + note_w + pad > W)
        W = (int)ceil(L.x0 + note_w + pad);
    nt.x = fmax(pad, fmin(L.x0, W - pad - note_w));
    /* x label and note under the column labels; in a fitted figure also
     * under a colour bar reaching below a short matrix */
    L.under = L.y0 + L.ih + L.gap * 2 + tick_h;
    if (fit_h)
        L.under = fmax(L.under, heat_side_bottom(p, &L) + L.gap);
    double xw = (p->xlabel && *p->xlabel) ? plot_text_width(p, PT_LABEL, p->xlabel) : 0;
    double yw = (p->ylabel && *p->ylabel) ? plot_text_width(p, PT_LABEL, p->ylabel) : 0;
    L.xlabel_cx = fmax(pad + xw / 2, fmin(L.x0 + L.iw / 2.0, W - pad - xw / 2));
    L.ylabel_cy = fmax(L.y0 + L.ih / 2.0, plot_title_bottom(p, W) + yw / 2);
    if (fit_h) {
        double below = L.under + xlab_h + note_h * 1.3 * nt.n;
        L.bottom = fmax(fmax(below, heat_side_bottom(p, &L)), L.ylabel_cy + yw / 2);
        H = (int)ceil(L.bottom + pad);
    }
    W = W < 64 ? 64 : W;
    H = H < 64 ? 64 : H;
    if (plot_canvas(p, W, H, "heatmap") != NM_OK)
        return NM_ERR;
    plot_draw_title(p);

    if (draw_cells(p, s, &L) != NM_OK)
        return NM_ERR;
    heat_draw_separators(p, s, &L);
    heat_draw_marks(p, s, &L);
    heat_draw_index_axes(p, s, &L);
    heat_draw_side(p, s, &L);
    heat_draw_note(p, &nt, &L, pad, dx);
    p->data = (plot_rect){L.x0, L.y0, L.iw, L.ih};
    p->info.cell_w = L.sx;
    p->info.cell_h = L.sy;
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
