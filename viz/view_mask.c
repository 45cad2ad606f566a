/* view_mask.c - screen 2: the selected layer's weight matrix (C_out x D in
 * im2col order) as a heatmap of |w| with pruned cells marked.
 *
 * In colour mode each character shows two matrix rows (upper half block:
 * foreground = top, background = bottom). Without colour each character
 * shows one block with a density glyph. When the matrix is larger than the
 * screen, each character summarises a zoom x zoom block and shows its
 * density (kept fraction); the title says so, nothing is cut silently. */
#include "workbench.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

static int ramp_style(double v)
{
    int k = (int)(v * 7 + 0.5);
    return TUI_S_RAMP0 + (k < 0 ? 0 : k > 7 ? 7 : k);
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
    int half = s->color; /* two matrix rows per character */
    int aw = w - 3, ah = h - 3; /* gutter, title, ruler, info */
    if (aw < 1 || ah < 1)
        return;
    int64_t z = s->zoom;
    if (z <= 0) {
        z = ceil_div(cols, aw);
        int64_t zr = ceil_div(rows, (int64_t)ah * (half ? 2 : 1));
        if (zr > z)
            z = zr;
        if (z < 1)
            z = 1;
    }
    int64_t rpc = z * (half ? 2 : 1); /* matrix rows per character row */
    /* keep the cursor inside the matrix and on screen */
    if (s->cur_r >= rows) s->cur_r = rows - 1;
    if (s->cur_c >= cols) s->cur_c = cols - 1;
    if (s->cur_r < 0) s->cur_r = 0;
    if (s->cur_c < 0) s->cur_c = 0;
    int64_t vis_c = (int64_t)aw * z, vis_r = (int64_t)ah * rpc;
    if (s->cur_c < s->view_c) s->view_c = s->cur_c / z * z;
    if (s->cur_c >= s->view_c + vis_c) s->view_c = (s->cur_c - vis_c + z) / z * z;
    if (s->cur_r < s->view_r) s->view_r = s->cur_r / rpc * rpc;
    if (s->cur_r >= s->view_r + vis_r) s->view_r = (s->cur_r - vis_r + rpc) / rpc * rpc;
    if (s->view_c < 0) s->view_c = 0;
    if (s->view_r < 0) s->view_r = 0;

    int group_m = l->wm > 0 ? l->wm : l->kh * l->kw;
    const char *axis = l->wm > 0 && l->wm == l->kh * l->kw && l->kh * l->kw > 1 ? "kernel groups"
                       : l->wm > 0 ? "N:M groups" : "kernels";
    tui_printf(g, x, y, w, TUI_S_ACCENT, " %s  [%lld x %lld]  %s of %d  |  %s", l->name,
               (long long)rows, (long long)cols, axis, group_m,
               z == 1 ? (half ? "1 char = 1x2 cells, shade = |w|" : "1 char = 1 cell")
                      : "downsampled: shade = kept fraction");
    if (z > 1)
        tui_printf(g, x + w - 28, y, 28, TUI_S_WARN, "zoom 1:%lld (+/- f=fit)", (long long)z);

    /* ruler: a tick where each group (kernel) starts, when visible at 1:1 */
    if (z == 1 && group_m > 1) {
        for (int i = 0; i < aw; i++) {
            int64_t c = s->view_c + i;
            if (c < cols && c % group_m == 0)
                tui_put(g, x + 2 + i, y + 1, g->utf8 ? 0x2502 : '|', TUI_S_DIM);
        }
    }

    double maxmag = 0;
    if (z == 1) { /* scale shades to the visible cells */
        const float *wt = nm_f32(l->weight);
        for (int64_t r = s->view_r; r < rows && r < s->view_r + vis_r; r++)
            for (int64_t c = s->view_c; c < cols && c < s->view_c + vis_c; c++)
                if (fabsf(wt[r * cols + c]) > maxmag)
                    maxmag = fabsf(wt[r * cols + c]);
    }
    if (maxmag <= 0)
        maxmag = 1;
    const uint8_t *filt = l->filters ? nm_u8(l->filters) : NULL;
    const float *wt = nm_f32(l->weight);
    const uint8_t *km = l->mask ? nm_u8(l->mask) : NULL;
    int ncols = aw < 512 ? aw : 512;
    int nrows = 0;
    while (nrows < ah && s->view_r + (int64_t)nrows * rpc < rows)
        nrows++;
    /* Each character row aggregates its blocks in one sequential pass over
     * its matrix rows; rows are independent, so both cores share them. */
#pragma omp parallel for schedule(dynamic, 1) if ((int64_t)nrows * rpc * cols > (1 << 18))
    for (int j = 0; j < nrows; j++) {
        int64_t r0 = s->view_r + (int64_t)j * rpc;
        int removed = 0;
        for (int64_t r = r0; filt && r < r0 + rpc && r < rows; r++)
            removed += !filt[r];
        if (removed)
            tui_put(g, x, y + 2 + j, g->utf8 ? 0x2717 : 'x', TUI_S_BAD);
        int st[2][512];
        double dens[2][512];
        for (int part = 0; part < (half ? 2 : 1); part++) {
            int64_t ra = r0 + part * z, rb = ra + z < rows ? ra + z : rows;
            int64_t kept[512] = {0};
            double msum[512] = {0};
            for (int64_t r = ra; r < rb; r++) {
                const float *wr = wt + r * cols;
                const uint8_t *kr = km ? km + r * cols : NULL;
                for (int i = 0; i < ncols; i++) {
                    int64_t c0 = s->view_c + (int64_t)i * z, c1 = c0 + z < cols ? c0 + z : cols, cnt = 0;
                    if (kr)
                        for (int64_t c = c0; c < c1; c++)
                            cnt += (wr[c] != 0.0f) & (kr[c] != 0);
                    else
                        for (int64_t c = c0; c < c1; c++)
                            cnt += wr[c] != 0.0f;
                    kept[i] += cnt;
                    if (z == 1 && cnt)
                        msum[i] += fabsf(wr[c0]);
                }
            }
            for (int i = 0; i < ncols; i++) {
                int64_t c0 = s->view_c + (int64_t)i * z, c1 = c0 + z < cols ? c0 + z : cols;
                int64_t n = ra < rows && c0 < cols ? (rb - ra) * (c1 - c0) : 0;
                double d = n ? (double)kept[i] / (double)n : 0;
                dens[part][i] = d;
                st[part][i] = ra >= rows ? TUI_S_NORMAL
                              : d == 0   ? TUI_S_BAD
                              : z == 1   ? ramp_style(0.15 + 0.85 * msum[i] / maxmag)
                                         : ramp_style(d);
            }
        }
        for (int i = 0; i < ncols; i++) {
            int64_t c0 = s->view_c + (int64_t)i * z;
            if (c0 >= cols)
                break;
            int64_t c1 = c0 + z < cols ? c0 + z : cols;
            int cursor = s->cur_r >= r0 && s->cur_r < r0 + rpc && s->cur_c >= c0 && s->cur_c < c1;
            if (half) {
                tui_put2(g, x + 2 + i, y + 2 + j, tui_glyph_upper_half(g), cursor ? TUI_S_SELECTED : st[0][i],
                         st[1][i]);
            } else {
                uint32_t ch = dens[0][i] == 0 ? (g->utf8 ? 0x00B7 : '.') : tui_glyph_ramp(g, 0.25 + 0.75 * dens[0][i]);
                tui_put(g, x + 2 + i, y + 2 + j, cursor ? (g->utf8 ? 0x25C6 : '@') : ch,
                        cursor ? TUI_S_SELECTED : st[0][i]);
            }
        }
    }
    /* info line: the value under the cursor */
    int64_t idx = s->cur_r * cols + s->cur_c;
    float v = nm_f32(l->weight)[idx];
    int is_kept = (!l->mask || nm_u8(l->mask)[idx]) && v != 0.0f;
    int khw = l->kh * l->kw > 0 ? l->kh * l->kw : 1;
    char where[96];
    if (l->kind == NM_LAYER_LINEAR)
        snprintf(where, sizeof where, "in %lld", (long long)s->cur_c);
    else
        snprintf(where, sizeof where, "c_in %lld, kh %lld, kw %lld", (long long)(s->cur_c / khw),
                 (long long)(s->cur_c % khw / (l->kw ? l->kw : 1)), (long long)(s->cur_c % (l->kw ? l->kw : 1)));
    tui_printf(g, x, y + h - 1, w, is_kept ? TUI_S_GOOD : TUI_S_BAD, " w[%lld, %lld] = %+.5f  %s  (%s)%s",
               (long long)s->cur_r, (long long)s->cur_c, (double)v, is_kept ? "kept" : "pruned", where,
               filt && !filt[s->cur_r] ? "  filter removed" : "");
}
