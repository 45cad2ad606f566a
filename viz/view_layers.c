/* view_layers.c - screen 1: the table of layers with density bars. */
#include "workbench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const wb_state *s;
    const nm_layer_stats *st;
} sort_ctx;

static sort_ctx g_sort; /* qsort has no context argument in C17 */

static int cmp_layers(const void *pa, const void *pb)
{
    int a = *(const int *)pa, b = *(const int *)pb;
    const nm_model *m = g_sort.s->model;
    const nm_layer_stats *sa = &g_sort.st[a], *sb = &g_sort.st[b];
    int r = 0;
    switch (g_sort.s->sort) {
    case WB_SORT_NAME: r = strcmp(m->layers[a].name, m->layers[b].name); break;
    case WB_SORT_DENSITY: r = (sa->density > sb->density) - (sa->density < sb->density); break;
    case WB_SORT_MACS: r = (sb->dense_macs > sa->dense_macs) - (sb->dense_macs < sa->dense_macs); break;
    case WB_SORT_PARAMS: r = (sb->params > sa->params) - (sb->params < sa->params); break;
    default: break;
    }
    return r ? r : a - b;
}

void wb_layer_order(const wb_state *s, int *order)
{
    int n = s->model->n_layers;
    for (int i = 0; i < n; i++)
        order[i] = i;
    if (s->sort == WB_SORT_ORDER || n == 0)
        return;
    /* the owner's cache when there is one, else counted here */
    nm_layer_stats *own = NULL;
    if (!s->stats) {
        own = malloc((size_t)n * sizeof *own);
        if (!own)
            return;
        for (int i = 0; i < n; i++)
            nm_layer_stats_get(s->model, i, &own[i]);
    }
    g_sort = (sort_ctx){s, s->stats ? s->stats : own};
    qsort(order, (size_t)n, sizeof *order, cmp_layers);
    free(own);
}

static void shape_text(const nm_layer *l, char *buf, size_t len)
{
    if (l->weight && l->weight->ndim == 4)
        snprintf(buf, len, "%lldx%lldx%lldx%lld", (long long)l->weight->shape[0],
                 (long long)l->weight->shape[1], (long long)l->weight->shape[2],
                 (long long)l->weight->shape[3]);
    else if (l->weight && nm_layer_prunable(l))
        snprintf(buf, len, "%lldx%lld", (long long)l->weight->shape[0], (long long)l->weight->shape[1]);
    else
        snprintf(buf, len, "%dx%dx%d", l->out_c, l->out_h, l->out_w);
}

/* Draws a density bar of `w` cells with the percentage after it. */
static void density_bar(tui_grid *g, int x, int y, int w, double d, int style_fill)
{
    double cells = d * w;
    for (int i = 0; i < w; i++) {
        double f = cells - i;
        uint32_t ch = f >= 1 ? tui_glyph_block(g, 1) : f > 0 ? tui_glyph_block(g, f) : (g->utf8 ? 0x00B7 : '.');
        tui_put(g, x + i, y, ch, f > 0 ? style_fill : TUI_S_BAR_BG);
    }
    tui_printf(g, x + w + 1, y, 6, TUI_S_NORMAL, "%5.1f%%", d * 100);
}

void view_layers(tui_grid *g, wb_state *s, int x, int y, int w, int h)
{
    const nm_model *m = s->model;
    if (!m || m->n_layers == 0) {
        tui_text(g, x + 2, y + 1, w - 4, TUI_S_DIM, "No model loaded.");
        tui_text(g, x + 2, y + 3, w - 4, TUI_S_DIM, "Press o (F4) to open a file or zoo name, or from the console (6):");
        tui_text(g, x + 4, y + 4, w - 6, TUI_S_ACCENT, "model = nm.zoo('resnet18')");
        tui_text(g, x + 4, y + 5, w - 6, TUI_S_ACCENT, "model = assert(nm.load('model.onnx'))");
        return;
    }
    static const char *sort_names[WB_SORT_COUNT] = {"order", "name", "density", "MACs", "params"};
    int has_base = s->base && s->base->n_layers == m->n_layers;
    /* column layout; the name column takes what is left */
    int w_kind = 10, w_shape = 15, w_nm = 5, w_bar = 10, w_dens = w_bar + 8, w_before = has_base ? 8 : 0,
        w_filt = 10, w_macs = 9, w_eff = 9;
    /* the name column takes what is left; narrow terminals drop the
     * "before" column, then effective MACs, to keep names readable */
    int w_name = w - (4 + w_kind + w_shape + w_nm + w_dens + w_before + w_filt + w_macs + w_eff);
    if (w_name < 22 && has_base) {
        w_name += w_before;
        w_before = 0;
        has_base = 0;
    }
    int show_eff = 1;
    if (w_name < 22) {
        w_name += w_eff;
        w_eff = 0;
        show_eff = 0;
    }
    if (w_name < 18) { /* then the shape (the Mask screen shows it too) */
        w_name += w_shape;
        w_shape = 0;
    }
    if (w_name < 12)
        w_name = 12;
    int cx = x;
    /* the sorted column's title carries the direction: names and density
     * ascending, MACs and params (the shape column) descending */
    const char *up = g->utf8 ? "\u25B2" : "^", *down = g->utf8 ? "\u25BC" : "v";
    char t_name[16], t_shape[16], t_dens[16], t_macs[16];
    snprintf(t_name, sizeof t_name, "layer%s", s->sort == WB_SORT_NAME ? up : "");
    snprintf(t_shape, sizeof t_shape, "shape%s", s->sort == WB_SORT_PARAMS ? down : "");
    snprintf(t_dens, sizeof t_dens, "density%s", s->sort == WB_SORT_DENSITY ? up : "");
    snprintf(t_macs, sizeof t_macs, "MACs%s", s->sort == WB_SORT_MACS ? down : "");
    tui_fill(g, x, y, w, 1, ' ', TUI_S_HEADER);
    cx += tui_printf(g, cx, y, 4, TUI_S_HEADER, "  #%s", s->sort == WB_SORT_ORDER ? up : " ");
    tui_text(g, cx, y, w_name, TUI_S_HEADER, t_name);
    cx += w_name;
    tui_text(g, cx, y, w_kind, TUI_S_HEADER, "kind");
    cx += w_kind;
    if (w_shape)
        tui_text(g, cx, y, w_shape, TUI_S_HEADER, t_shape);
    cx += w_shape;
    tui_text(g, cx, y, w_nm, TUI_S_HEADER, "N:M");
    cx += w_nm;
    tui_text(g, cx, y, w_dens, TUI_S_HEADER, t_dens);
    cx += w_dens;
    if (has_base) {
        tui_text(g, cx, y, w_before, TUI_S_HEADER, "before");
        cx += w_before;
    }
    tui_text(g, cx, y, w_filt, TUI_S_HEADER, "filters");
    cx += w_filt;
    tui_text(g, cx, y, w_macs, TUI_S_HEADER, t_macs);
    cx += w_macs;
    if (show_eff)
        tui_text(g, cx, y, w_eff, TUI_S_HEADER, "eff.MACs");
    cx += w_eff;
    if (x + w - cx >= 14)
        tui_printf(g, x + w - 14, y, 14, TUI_S_HEADER, "sort: %s", sort_names[s->sort]);

    int n = m->n_layers, rows = h - 1;
    int *order = malloc((size_t)n * sizeof *order);
    if (!order)
        return;
    wb_layer_order(s, order);
    int sel_row = 0;
    for (int i = 0; i < n; i++)
        if (order[i] == s->selected)
            sel_row = i;
    if (sel_row < s->scroll)
        s->scroll = sel_row;
    if (sel_row >= s->scroll + rows)
        s->scroll = sel_row - rows + 1;
    if (s->scroll < 0)
        s->scroll = 0;
    for (int r = 0; r < rows && s->scroll + r < n; r++) {
        int li = order[s->scroll + r], yy = y + 1 + r;
        const nm_layer *l = &m->layers[li];
        nm_layer_stats st;
        wb_layer_stats(s, li, &st);
        int sel = li == s->selected, style = sel ? TUI_S_SELECTED : TUI_S_NORMAL;
        if (sel)
            tui_fill(g, x, yy, w, 1, ' ', TUI_S_SELECTED);
        char buf[64];
        cx = x;
        tui_printf(g, cx, yy, 4, style, "%c%3d", sel ? '>' : ' ', li + 1);
        cx += 4;
        wb_text_elide(g, cx + 1, yy, w_name - 2, style, l->name);
        cx += w_name;
        tui_text(g, cx, yy, w_kind - 1, nm_layer_prunable(l) ? style : TUI_S_DIM, nm_layer_kind_name(l->kind));
        cx += w_kind;
        shape_text(l, buf, sizeof buf);
        if (w_shape)
            tui_text(g, cx, yy, w_shape - 1, TUI_S_DIM, buf);
        cx += w_shape;
        if (l->wm > 0)
            tui_printf(g, cx, yy, w_nm, TUI_S_ACCENT, "%d:%d", l->wn, l->wm);
        cx += w_nm;
        if (nm_layer_prunable(l)) {
            density_bar(g, cx, yy, w_bar, st.density, st.density < 0.999 ? TUI_S_GOOD : TUI_S_BAR);
            cx += w_dens;
            if (has_base) {
                nm_layer_stats bs;
                wb_base_stats(s, li, &bs);
                tui_printf(g, cx, yy, w_before, TUI_S_DIM, "%5.1f%%", bs.density * 100);
                cx += w_before;
            }
            tui_printf(g, cx, yy, w_filt, st.filters_kept < st.filters ? TUI_S_WARN : style, "%d/%d",
                       st.filters_kept, st.filters);
            cx += w_filt;
        } else {
            cx += w_dens + w_before + w_filt;
        }
        if (st.dense_macs) {
            tui_text(g, cx, yy, w_macs, style, wb_human((double)st.dense_macs, buf, sizeof buf));
            cx += w_macs;
            double eff = st.params ? (double)st.positions * (double)st.nonzeros : (double)st.dense_macs;
            if (show_eff)
                tui_text(g, cx, yy, w_eff, style, wb_human(eff, buf, sizeof buf));
        }
    }
    free(order);
}
