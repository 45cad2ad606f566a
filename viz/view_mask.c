/* view_mask.c - screen 2: the selected layer's weight matrix (C_out x D in
 * im2col order) as a heatmap of |w| with pruned cells marked.
 *
 * In colour mode each character shows two matrix rows (upper half block:
 * foreground = top, background = bottom). Without colour each character
 * shows one block with a density glyph. When the matrix is larger than the
 * screen, each character summarises a block of cells and shows its density
 * (kept fraction); the title says so, nothing is cut silently. Small
 * matrices are magnified to use the screen. */
#include "workbench.h"
#include "prune.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

#define MASK_MAG_MAX 8

static int ramp_style(double v)
{
    int k = (int)(v * 7 + 0.5);
    return TUI_S_RAMP0 + (k < 0 ? 0 : k > 7 ? 7 : k);
}

/* Fit scales the axes apart (a 64 x 576 matrix uses the screen's height
 * too) and magnifies small matrices with square-looking cells: a character
 * is about two sub-rows tall in colour mode and two columns tall without. */
wb_mask_scale wb_mask_scale_for(const wb_state *s, int64_t rows, int64_t cols, int aw, int ah)
{
    /* presentation mode: one matrix row per character (no half blocks), so
     * cells are twice as tall */
    wb_mask_scale k = {1, 1, 1, 1, s->color && !s->present ? 2 : 1};
    int aspect = k.sub == 2 ? 1 : 2; /* characters wide per sub-row tall */
    int64_t hr = (int64_t)ah * k.sub;
    if (aw < 1 || hr < 1 || rows < 1 || cols < 1)
        return k;
    if (s->zoom > 0) {
        k.zc = k.zr = s->zoom;
    } else if (s->zoom < 0) {
        k.mr = -s->zoom;
        k.mc = aspect * k.mr;
    } else {
        k.zc = ceil_div(cols, aw);
        k.zr = ceil_div(rows, hr);
        if (k.zc == 1 && k.zr == 1) {
            int64_t m = hr / rows, mw = aw / (aspect * cols);
            if (mw < m)
                m = mw;
            if (m > MASK_MAG_MAX)
                m = MASK_MAG_MAX;
            if (m >= 1) {
                k.mr = (int)m;
                k.mc = aspect * (int)m;
            }
        }
    }
    return k;
}

void wb_mask_cell_at(const wb_state *s, int i, int j, int64_t *r, int64_t *c)
{
    const wb_mask_scale *k = &s->mask_scale;
    int64_t u = (int64_t)j * (k->sub > 0 ? k->sub : 1);
    *c = s->view_c + (k->mc > 1 ? i / k->mc : (int64_t)i * k->zc);
    *r = s->view_r + (k->mr > 1 ? u / k->mr : u * k->zr);
}

/* The Mask screen's legend on row y: what the colours (or, without
 * colours, the glyphs) and the ruler's marks mean. */
static void mask_legend(tui_grid *g, const wb_state *s, int x, int y, int w, int exact)
{
    int cx = x + tui_text(g, x, y, w, TUI_S_DIM, " legend: ");
    int end = x + w;
    if (s->color) {
        cx += tui_text(g, cx, y, end - cx, TUI_S_DIM, "low ");
        for (int k = 0; k < 8 && cx < end; k++)
            tui_put(g, cx++, y, tui_glyph_block(g, 1), TUI_S_RAMP0 + k);
        cx += tui_text(g, cx, y, end - cx, TUI_S_DIM, exact ? " high |w| " : " high kept fraction ");
        if (cx < end)
            tui_put(g, cx++, y, tui_glyph_block(g, 1), TUI_S_BAD);
        cx += tui_text(g, cx, y, end - cx, TUI_S_DIM, " pruned ");
        if (cx < end)
            tui_put(g, cx++, y, tui_glyph_block(g, 1), TUI_S_CURSOR);
        cx += tui_text(g, cx, y, end - cx, TUI_S_DIM, " cursor ");
    } else {
        cx += tui_text(g, cx, y, end - cx, TUI_S_DIM, g->utf8 ? "\u2588 kept \u2591\u2592\u2593 partly \u00B7 pruned \u25C6 cursor "
                                                              : "# kept :+ partly . pruned @ cursor ");
    }
    tui_text(g, cx, y, end - cx, TUI_S_DIM,
             g->utf8 ? "\u2717 filter removed \u2502 kernel/group \u2577 group in kernel \u25BE cursor's group"
                     : "x filter removed | kernel/group ' group in kernel v cursor's group");
}

void view_mask(tui_grid *g, wb_state *s, int x, int y, int w, int h)
{
    const nm_model *m = s->model;
    if (!m || s->selected < 0 || s->selected >= m->n_layers) {
        tui_text(g, x + 2, y + 1, w - 4, TUI_S_DIM, "No layer selected.");
        return;
    }
    const nm_layer *l = &m->layers[s->selected];
    if (!nm_layer_prunable(l) || !l->weight) {
        tui_printf(g, x + 2, y + 1, w - 4, TUI_S_DIM, "%s (%s) has no weight matrix; pick a conv or linear layer.",
                   l->name, nm_layer_kind_name(l->kind));
        return;
    }
    int64_t rows = nm_layer_rows(l), cols = nm_layer_cols(l);
    int aw = w - 3, ah = h - 4; /* gutter, title, ruler, legend, info */
    if (aw < 1 || ah < 1)
        return;
    if (aw > 512)
        aw = 512;
    wb_mask_scale k = wb_mask_scale_for(s, rows, cols, aw, ah);
    s->mask_scale = k;
    int half = k.sub == 2; /* two matrix sub-rows per character */
    int64_t hr = (int64_t)ah * k.sub;
    /* keep the cursor inside the matrix and on screen */
    if (s->cur_r >= rows) s->cur_r = rows - 1;
    if (s->cur_c >= cols) s->cur_c = cols - 1;
    if (s->cur_r < 0) s->cur_r = 0;
    if (s->cur_c < 0) s->cur_c = 0;
    int64_t vis_c = k.mc > 1 ? aw / k.mc : (int64_t)aw * k.zc;
    int64_t vis_r = k.mr > 1 ? hr / k.mr : hr * k.zr;
    if (s->cur_c < s->view_c) s->view_c = s->cur_c / k.zc * k.zc;
    if (s->cur_c >= s->view_c + vis_c) s->view_c = (s->cur_c - vis_c + k.zc) / k.zc * k.zc;
    if (s->cur_r < s->view_r) s->view_r = s->cur_r / k.zr * k.zr;
    if (s->cur_r >= s->view_r + vis_r) s->view_r = (s->cur_r - vis_r + k.zr) / k.zr * k.zr;
    if (s->view_c < 0) s->view_c = 0;
    if (s->view_r < 0) s->view_r = 0;

    /* the columns under each character, and the rows under each sub-row */
    int64_t c0[512], c1[512];
    int ncols = 0;
    for (; ncols < aw; ncols++) {
        c0[ncols] = s->view_c + (k.mc > 1 ? ncols / k.mc : (int64_t)ncols * k.zc);
        if (c0[ncols] >= cols)
            break;
        c1[ncols] = k.mc > 1 ? c0[ncols] + 1 : (c0[ncols] + k.zc < cols ? c0[ncols] + k.zc : cols);
    }
    int exact = k.zc == 1 && k.zr == 1; /* one cell per character or more */

    /* N:M groups as the pruning engine forms them (nm_groups_make):
     * kernel: M consecutive weights inside each kh*kw kernel, restarting at
     * every kernel; in: M consecutive input channels at one (kh, kw), so a
     * group's columns are kh*kw apart; row: M consecutive columns */
    int khw = l->kh * l->kw > 0 && l->kind != NM_LAYER_LINEAR ? l->kh * l->kw : 1;
    int gm = l->wm > 0 ? l->wm : 0;
    int axis = s->mask_axis > 0 ? s->mask_axis - 1 : (int)nm_group_axis_default(l);
    char groups[96] = "";
    if (gm > 0 && axis == NM_GROUP_KERNEL && khw > 1)
        snprintf(groups, sizeof groups, "  %d:%d in each %dx%d kernel%s", l->wn, gm, l->kh, l->kw,
                 gm < khw ? " (restarts every kernel)" : "");
    else if (gm > 0 && axis == NM_GROUP_IN && khw > 1)
        snprintf(groups, sizeof groups, "  %d:%d along c_in (a group's columns are %d apart)", l->wn, gm, khw);
    else if (gm > 0)
        snprintf(groups, sizeof groups, "  %d:%d groups of %d columns", l->wn, gm, gm);
    else if (khw > 1)
        snprintf(groups, sizeof groups, "  kernels of %d", khw);
    char scale[96];
    if (exact && k.mc == 1)
        snprintf(scale, sizeof scale, "%s", half ? "1 char = 1x2 cells, shade = |w|" : "1 char = 1 cell, shade = |w|");
    else if (exact)
        snprintf(scale, sizeof scale, half ? "magnified x%d, shade = |w|" : "magnified: 1 cell = %dx%d chars, shade = |w|",
                 k.mr, k.mc);
    else
        snprintf(scale, sizeof scale, "downsampled %lldx%lld cells per %s, shade = kept fraction",
                 (long long)k.zr, (long long)k.zc, half ? "half-char" : "char");
    tui_printf(g, x, y, w, TUI_S_ACCENT, " %s  [%lld x %lld]%s  |  %s", l->name, (long long)rows,
               (long long)cols, groups, scale);

    /* ruler, when columns are 1:1 or magnified: a tick where each kernel
     * (or c_in block of an `in` group) starts, a short tick where an N:M
     * group starts inside a kernel, and a mark over the columns of the
     * cursor's group */
    int64_t gcols[64];
    int ng = gm > 0 ? wb_nm_group_cols(l, axis, gm, s->cur_c, gcols, 64) : 0;
    if (k.zc == 1) {
        for (int i = 0; i < ncols; i++) {
            if (i > 0 && c0[i - 1] == c0[i])
                continue;
            int64_t c = c0[i];
            uint32_t ch = 0;
            if (gm > 0 && axis == NM_GROUP_IN)
                ch = c % ((int64_t)gm * khw) == 0 ? (g->utf8 ? 0x2502 : '|') : 0;
            else if (gm > 0 && axis == NM_GROUP_ROW)
                ch = c % gm == 0 ? (g->utf8 ? 0x2502 : '|') : 0;
            else if (c % khw == 0 && khw > 1)
                ch = g->utf8 ? 0x2502 : '|';
            else if (gm > 0 && khw > 1 && (c % khw) % gm == 0)
                ch = g->utf8 ? 0x2577 : '\''; /* a group starts inside the kernel */
            for (int j = 0; j < ng; j++)
                if (gcols[j] == c)
                    ch = g->utf8 ? 0x25BE : 'v';
            if (ch)
                tui_put(g, x + 2 + i, y + 1, ch, ch == (g->utf8 ? 0x25BE : 'v') ? TUI_S_ACCENT : TUI_S_DIM);
        }
    }

    const float *wt = nm_f32(l->weight);
    const uint8_t *km = l->mask ? nm_u8(l->mask) : NULL;
    const uint8_t *filt = l->filters ? nm_u8(l->filters) : NULL;
    int nrows = 0;
    while (nrows < ah) {
        int64_t u = (int64_t)nrows * k.sub;
        if (s->view_r + (k.mr > 1 ? u / k.mr : u * k.zr) >= rows)
            break;
        nrows++;
    }
    double maxmag = 0;
    if (exact) { /* scale shades to the visible cells */
        int64_t r_end = s->view_r + vis_r < rows ? s->view_r + vis_r : rows;
        int64_t c_end = ncols ? c1[ncols - 1] : s->view_c;
        for (int64_t r = s->view_r; r < r_end; r++)
            for (int64_t c = s->view_c; c < c_end; c++)
                if (fabsf(wt[r * cols + c]) > maxmag)
                    maxmag = fabsf(wt[r * cols + c]);
    }
    if (maxmag <= 0)
        maxmag = 1;
    /* Each character row aggregates its blocks in one sequential pass over
     * its matrix rows; rows are independent, so both cores share them. */
#pragma omp parallel for schedule(dynamic, 1) if ((int64_t)nrows * k.sub * k.zr * cols > (1 << 18))
    for (int j = 0; j < nrows; j++) {
        int st[2][512];
        double dens[2][512];
        int64_t ra[2] = {0, 0}, rb[2] = {0, 0};
        for (int part = 0; part < k.sub; part++) {
            int64_t u = (int64_t)j * k.sub + part;
            ra[part] = s->view_r + (k.mr > 1 ? u / k.mr : u * k.zr);
            rb[part] = k.mr > 1 ? ra[part] + 1 : ra[part] + k.zr;
            if (rb[part] > rows)
                rb[part] = rows;
        }
        int removed = 0;
        for (int64_t r = ra[0]; filt && r < rb[k.sub - 1]; r++)
            removed += !filt[r];
        if (removed)
            tui_put(g, x, y + 2 + j, g->utf8 ? 0x2717 : 'x', TUI_S_BAD);
        for (int part = 0; part < k.sub; part++) {
            int64_t kept[512] = {0};
            double msum[512] = {0};
            for (int64_t r = ra[part]; r < rb[part]; r++) {
                const float *wr = wt + r * cols;
                const uint8_t *kr = km ? km + r * cols : NULL;
                for (int i = 0; i < ncols; i++) {
                    int64_t cnt = 0;
                    if (kr)
                        for (int64_t c = c0[i]; c < c1[i]; c++)
                            cnt += (wr[c] != 0.0f) & (kr[c] != 0);
                    else
                        for (int64_t c = c0[i]; c < c1[i]; c++)
                            cnt += wr[c] != 0.0f;
                    kept[i] += cnt;
                    if (exact && cnt)
                        msum[i] += fabsf(wr[c0[i]]);
                }
            }
            for (int i = 0; i < ncols; i++) {
                int64_t n = ra[part] < rows ? (rb[part] - ra[part]) * (c1[i] - c0[i]) : 0;
                double d = n ? (double)kept[i] / (double)n : 0;
                int cursor = s->cur_r >= ra[part] && s->cur_r < rb[part] && s->cur_c >= c0[i] && s->cur_c < c1[i];
                dens[part][i] = d;
                st[part][i] = cursor            ? TUI_S_CURSOR
                              : ra[part] >= rows ? TUI_S_NORMAL
                              : d == 0          ? TUI_S_BAD
                              : exact           ? ramp_style(0.15 + 0.85 * msum[i] / maxmag)
                                                : ramp_style(d);
            }
        }
        for (int i = 0; i < ncols; i++) {
            if (half) {
                tui_put2(g, x + 2 + i, y + 2 + j, tui_glyph_upper_half(g), st[0][i], st[1][i]);
            } else {
                int cursor = st[0][i] == TUI_S_CURSOR;
                uint32_t ch = dens[0][i] == 0 ? (g->utf8 ? 0x00B7 : '.') : tui_glyph_ramp(g, 0.25 + 0.75 * dens[0][i]);
                tui_put(g, x + 2 + i, y + 2 + j, cursor ? (g->utf8 ? 0x25C6 : '@') : ch, st[0][i]);
            }
        }
    }
    /* info line: the value under the cursor */
    int64_t idx = s->cur_r * cols + s->cur_c;
    float v = nm_f32(l->weight)[idx];
    int is_kept = (!l->mask || nm_u8(l->mask)[idx]) && v != 0.0f;
    char where[140];
    /* 1-based, as the Lua API and the plots count: w[r, c] of the im2col
     * matrix is weight:get(r, c_in, kh, kw) */
    if (l->kind == NM_LAYER_LINEAR)
        snprintf(where, sizeof where, "in %lld", (long long)s->cur_c + 1);
    else
        snprintf(where, sizeof where, "c_in %lld, kh %lld, kw %lld", (long long)(s->cur_c / khw) + 1,
                 (long long)(s->cur_c % khw / (l->kw ? l->kw : 1)) + 1,
                 (long long)(s->cur_c % (l->kw ? l->kw : 1)) + 1);
    if (ng > 0) { /* how full the cursor's group is */
        int kept = 0;
        for (int j = 0; j < ng; j++) {
            int64_t e = s->cur_r * cols + gcols[j];
            kept += nm_f32(l->weight)[e] != 0.0f && (!l->mask || nm_u8(l->mask)[e]);
        }
        size_t used = strlen(where);
        snprintf(where + used, sizeof where - used, "; its group keeps %d of %d", kept, ng);
    }
    mask_legend(g, s, x, y + h - 2, w, exact);
    int info_w = tui_printf(g, x, y + h - 1, w, is_kept ? TUI_S_GOOD : TUI_S_BAD,
                            " w[%lld, %lld] = %+.5f  %s  (%s)%s", (long long)s->cur_r + 1, (long long)s->cur_c + 1,
                            (double)v, is_kept ? "kept" : "pruned", where,
                            filt && !filt[s->cur_r] ? "  filter removed" : "");
    char zl[40];
    if (s->zoom == 0)
        snprintf(zl, sizeof zl, "fit  (+ - zoom)");
    else if (s->zoom > 0)
        snprintf(zl, sizeof zl, "zoom 1:%d  (+ - f=fit)", s->zoom);
    else
        snprintf(zl, sizeof zl, "zoom %d:1  (+ - f=fit)", -s->zoom);
    int zw = tui_text_width(zl);
    if (info_w + zw + 2 <= w)
        tui_text(g, x + w - zw - 1, y + h - 1, zw, exact ? TUI_S_DIM : TUI_S_WARN, zl);
}

int wb_nm_group_cols(const nm_layer *l, int axis, int m, int64_t c, int64_t *out, int max)
{
    int64_t D = nm_layer_cols(l);
    int64_t K = l->kh * l->kw > 0 && l->kind != NM_LAYER_LINEAR ? (int64_t)l->kh * l->kw : 1;
    if (m < 1 || c < 0 || c >= D)
        return 0;
    int n = 0;
    if (axis == NM_GROUP_IN) {
        int64_t C = D / K, cin = c / K, kk = c % K, first = cin / m * m;
        for (int64_t j = first; j < first + m && j < C && n < max; j++)
            out[n++] = j * K + kk;
    } else if (axis == NM_GROUP_ROW) {
        int64_t first = c / m * m;
        for (int64_t j = first; j < first + m && j < D && n < max; j++)
            out[n++] = j;
    } else { /* kernel */
        int64_t base = c / K * K, first = base + (c % K) / m * m;
        for (int64_t j = first; j < first + m && j < base + K && n < max; j++)
            out[n++] = j;
    }
    return n;
}
