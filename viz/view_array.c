/* view_array.c - screen 4: the systolic array cycle by cycle, per-PE
 * utilization, per-layer utilization and cycles; or the nm-MAC teaching
 * walk-through. Draws from wb_array (plain data the app fills). */
#include "workbench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void draw_trace(tui_grid *g, const wb_array *a, int x, int y, int w, int h)
{
    tui_text(g, x + 1, y, w - 2, TUI_S_ACCENT,
             "nm-MAC walk-through (indices from 1): n next step, N back, T back to the array");
    /* steps are separated by blank lines; show steps 0..trace_step */
    const char *p = a->trace ? a->trace : "";
    int step = 0, row = y + 2;
    while (*p && row < y + h) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n == 0) {
            step++;
            if (step > a->trace_step)
                break;
            row++;
        } else {
            char line[512];
            snprintf(line, sizeof line, "%.*s", (int)(n < 511 ? n : 511), p);
            tui_text(g, x + 2, row++, w - 4, step == a->trace_step ? TUI_S_NORMAL : TUI_S_DIM, line);
        }
        p = nl ? nl + 1 : p + n;
    }
    if (!*p)
        tui_text(g, x + 2, y + h - 1, w - 4, TUI_S_GOOD, "(end of the walk-through)");
}

/* text wrapped at spaces into lines of at most w columns, from row y, at
 * most max_lines; returns the lines drawn. */
static int wrap_text(tui_grid *g, int x, int y, int w, int max_lines, int style, const char *text)
{
    int lines = 0;
    const char *p = text;
    while (*p && lines < max_lines && w > 0) {
        size_t n = strlen(p);
        if ((int)n > w) {
            n = (size_t)w;
            while (n > 0 && p[n] != ' ')
                n--;
            if (n == 0)
                n = (size_t)w;
        }
        char line[600];
        snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line - 1 ? n : sizeof line - 1), p);
        tui_text(g, x, y + lines++, w, style, line);
        p += n;
        while (*p == ' ')
            p++;
    }
    return lines;
}

/* Key R: per layer the compute cycles against the DRAM transfer cycles
 * (words / bandwidth), the stall, DRAM words, energy and intensity, and
 * which bounds the layer; the whole switch line above it. The columns fit
 * the width (wb_cols_fit): at 80 columns the layer, compute, stall, DRAM
 * energy and bound stay, the others go whole and the last line says so. */
enum { RC_NAME, RC_COMPUTE, RC_MEM, RC_STALL, RC_WORDS, RC_INT, RC_DRAM, RC_BOUND, RC_N };
#define RC_CELL 32

static void draw_roofline(tui_grid *g, wb_state *s, const wb_array *a, int x, int y, int w, int h)
{
    int yy = y;
    tui_printf(g, x + 1, yy++, w - 2, TUI_S_HEADER, "Roofline per layer (R: back to the array)   memory: %s%s",
               a->mem ? a->mem_desc : "off", a->mem ? "" : "  (D turns the memory model on)");
    yy += wrap_text(g, x + 1, yy, w - 2, 3, TUI_S_DIM, a->config);
    if (!a->layer_mem || a->n_layers == 0) {
        tui_text(g, x + 1, yy + 1, w - 2, TUI_S_DIM, "no model report");
        return;
    }
    /* every row's cells (the layers, then the total), so the widths hold
     * while the rows scroll */
    int n = a->n_layers + 1;
    char (*text)[RC_N][RC_CELL] = malloc((size_t)n * sizeof *text);
    const char **cells = malloc((size_t)n * RC_N * sizeof *cells);
    if (!text || !cells) {
        free(text), free(cells);
        tui_text(g, x + 1, yy + 1, w - 2, TUI_S_WARN, "out of memory");
        return;
    }
    int nmem = 0;
    for (int i = 0; i < n; i++) {
        const wb_layer_mem *m = i < a->n_layers ? &a->layer_mem[i] : &a->total_mem;
        char *t[RC_N];
        for (int c = 0; c < RC_N; c++)
            t[c] = text[i][c], cells[i * RC_N + c] = t[c];
        snprintf(t[RC_NAME], RC_CELL, "%s", i < a->n_layers ? "" : "total");
        if (i < a->n_layers)
            cells[i * RC_N + RC_NAME] = a->layer_names[i];
        snprintf(t[RC_COMPUTE], RC_CELL, "%lld", (long long)m->compute);
        snprintf(t[RC_MEM], RC_CELL, "%.1f", m->mem_cycles);
        snprintf(t[RC_STALL], RC_CELL, "%lld", (long long)m->stall);
        snprintf(t[RC_WORDS], RC_CELL, "%.0f", m->dram_words);
        snprintf(t[RC_INT], RC_CELL, "%.2f", m->intensity);
        snprintf(t[RC_DRAM], RC_CELL, "%.4f", m->dram_pj * 1e-6);
        if (i < a->n_layers) {
            nmem += m->mem_bound;
            snprintf(t[RC_BOUND], RC_CELL, "%s", m->mem_bound ? "memory" : "compute");
        } else {
            snprintf(t[RC_BOUND], RC_CELL, "%d of %d memory-bound", nmem, a->n_layers);
        }
    }
    /* at 120 columns and up: the widths of the first version of this table */
    wb_col cols[RC_N] = {
        [RC_NAME] = {"layer", 0, 1, 0, 12, 20, 20, 0, 0},
        [RC_COMPUTE] = {"compute", 0, 0, 1, 0, 0, 12, 0, 0},
        [RC_MEM] = {"memory", 2, 0, 1, 0, 0, 12, 0, 0},
        [RC_STALL] = {"stall", 0, 0, 1, 0, 0, 11, 0, 0},
        [RC_WORDS] = {"DRAM words", 4, 0, 1, 0, 0, 13, 0, 0},
        [RC_INT] = {"MACs/word", 3, 0, 1, 0, 0, 10, 0, 0},
        [RC_DRAM] = {"DRAM uJ", 1, 0, 1, 0, 0, 10, 0, 0},
        [RC_BOUND] = {"bound", 0, 1, 2, 0, 0, 0, 0, 0},
    };
    int hidden = wb_cols_fit(cols, RC_N, cells, n, w - 2);
    if (hidden) {   /* the total's bound in short, and fit again */
        snprintf(text[n - 1][RC_BOUND], RC_CELL, "%d/%d memory", nmem, a->n_layers);
        hidden = wb_cols_fit(cols, RC_N, cells, n, w - 2);
    }
    int tw = wb_cols_row(g, x + 1, ++yy, cols, RC_N, NULL, TUI_S_HEADER);
    yy++;
    int rows = y + h - 2 - yy, first = 0, sel = -1;
    for (int i = 0; i < a->n_layers; i++)
        if (strcmp(a->layer_names[i], a->layer) == 0)
            sel = i;
    if (sel >= rows && rows > 0)
        first = sel - rows + 1;
    for (int r = 0; r < rows && first + r < a->n_layers; r++) {
        int i = first + r;
        int st = i == sel ? TUI_S_SELECTED : TUI_S_NORMAL;
        if (i == sel)
            tui_fill(g, x + 1, yy, tw, 1, ' ', st);
        wb_cols_row(g, x + 1, yy, cols, RC_N, cells + (size_t)i * RC_N, st);
        wb_hit_add(s, x + 1, yy, w - 2, a->layer_names[i]);
        yy++;
    }
    wb_cols_row(g, x + 1, y + h - 2, cols, RC_N, cells + (size_t)a->n_layers * RC_N, TUI_S_ACCENT);
    if (hidden) {
        char list[128];
        wb_cols_hidden(cols, RC_N, list, sizeof list);
        char line[256];
        snprintf(line, sizeof line, "not shown at this width: %s (a wider terminal shows them)", list);
        if (tui_text_width(line) > w - 2)
            snprintf(line, sizeof line, "not shown at this width: %s", list);
        wb_text_fit(g, x + 1, y + h - 1, w - 2, TUI_S_DIM, line);
    }
    free(text);
    free(cells);
}

/* The per-layer list beside the grid with the memory model: util (bar and
 * percent), cycles (stalls included), stall cycles and DRAM energy per
 * layer, then the total. Its cells and columns: the bar is the first to
 * go when the width is short; the rest always stays (the grid gives up
 * room for it). */
enum { LC_NAME, LC_BAR, LC_UTIL, LC_CYC, LC_STALL, LC_DRAM, LC_N };
typedef struct {
    int n;                  /* rows: layers, then the total */
    char (*text)[LC_N][RC_CELL];
    const char **cells;
    wb_col cols[LC_N];
} layer_list;

static int list_build(const wb_array *a, layer_list *l)
{
    l->n = a->n_layers + 1;
    l->text = malloc((size_t)l->n * sizeof *l->text);
    l->cells = malloc((size_t)l->n * LC_N * sizeof *l->cells);
    if (!l->text || !l->cells) {
        free(l->text), free(l->cells);
        l->text = NULL, l->cells = NULL;
        return -1;
    }
    for (int i = 0; i < l->n; i++) {
        int tot = i == a->n_layers;
        const wb_layer_mem *m = tot ? &a->total_mem : &a->layer_mem[i];
        char (*t)[RC_CELL] = l->text[i];
        const char **c = l->cells + (size_t)i * LC_N;
        for (int k = 0; k < LC_N; k++)
            t[k][0] = 0, c[k] = t[k];
        c[LC_NAME] = tot ? "total" : a->layer_names[i];
        if (!tot)
            snprintf(t[LC_UTIL], RC_CELL, "%.0f%%", a->layer_util[i] * 100);
        wb_human(tot ? (double)(m->compute + m->stall) : (double)a->layer_cycles[i], t[LC_CYC], RC_CELL);
        wb_human((double)m->stall, t[LC_STALL], RC_CELL);
        snprintf(t[LC_DRAM], RC_CELL, "%.3f", m->dram_pj * 1e-6);
    }
    static const wb_col cols[LC_N] = {
        [LC_NAME] = {"layer", 0, 1, 0, 8, 12, 12, 0, 0},
        [LC_BAR] = {"", 2, 1, 1, 5, 0, 5, 0, 0},
        [LC_UTIL] = {"util", 0, 0, 1, 0, 0, 4, 0, 0},
        [LC_CYC] = {"cycles", 0, 0, 1, 0, 0, 6, 0, 0},
        [LC_STALL] = {"stall", 0, 0, 1, 0, 0, 6, 0, 0},
        [LC_DRAM] = {"DRAM uJ", 0, 0, 1, 0, 0, 8, 0, 0},
    };
    memcpy(l->cols, cols, sizeof cols);
    return 0;
}

static void list_free(layer_list *l)
{
    free(l->text);
    free(l->cells);
}

/* The width the list takes at its preferred layout (full) and at its
 * narrowest (core: names at their minimum, the bar gone). */
static void list_widths(layer_list *l, int *full, int *core)
{
    wb_cols_fit(l->cols, LC_N, l->cells, l->n, 1 << 20);
    *full = wb_cols_x(l->cols, LC_N, LC_DRAM) + l->cols[LC_DRAM].width;
    wb_cols_fit(l->cols, LC_N, l->cells, l->n, 0);
    *core = wb_cols_x(l->cols, LC_N, LC_DRAM) + l->cols[LC_DRAM].width;
}

static void list_draw(tui_grid *g, wb_state *s, const wb_array *a, layer_list *l, int rx, int ly,
                      int rw, int last)
{
    wb_cols_fit(l->cols, LC_N, l->cells, l->n, rw);
    wb_cols_row(g, rx, ly++, l->cols, LC_N, NULL, TUI_S_HEADER);
    int bx = wb_cols_x(l->cols, LC_N, LC_BAR);
    for (int i = 0; i < a->n_layers && ly < last; i++, ly++) {
        int sel = a->layer_names && strcmp(a->layer_names[i], a->layer) == 0;
        const char **c = l->cells + (size_t)i * LC_N;
        wb_col name = l->cols[LC_NAME];
        wb_cols_row(g, rx, ly, l->cols, LC_N, c, a->layer_mem[i].mem_bound ? TUI_S_WARN : TUI_S_NORMAL);
        wb_text_elide(g, rx, ly, name.width, sel ? TUI_S_SELECTED : TUI_S_NORMAL, c[LC_NAME]);
        wb_hit_add(s, rx, ly, rw, a->layer_names[i]);
        double u = a->layer_util[i];
        for (int k = 0; bx >= 0 && k < 5; k++)
            tui_put(g, rx + bx + k, ly, tui_glyph_block(g, u * 5 - k), TUI_S_BAR);
    }
    wb_cols_row(g, rx, last, l->cols, LC_N, l->cells + (size_t)a->n_layers * LC_N, TUI_S_ACCENT);
}

/* The compact legend when the full one does not fit in w. */
static void draw_legend(tui_grid *g, int x, int y, int w, int busy_now, int pes)
{
    const char *b = g->utf8 ? "\u25A0" : "#", *i = g->utf8 ? "\u00B7" : ".", *l = g->utf8 ? "\u25AB" : "l";
    char full[128];
    snprintf(full, sizeof full, "%s busy  %s idle  %s loading   %d/%d busy now", b, i, l, busy_now, pes);
    if (tui_text_width(full) <= w)
        tui_text(g, x, y, w, TUI_S_DIM, full);
    else
        tui_printf(g, x, y, w, TUI_S_DIM, "%s busy %s idle %s load %d/%d", b, i, l, busy_now, pes);
}

void view_array(tui_grid *g, wb_state *s, int x, int y, int w, int h)
{
    const wb_array *a = &s->array;
    if (!s->have_array) {
        tui_text(g, x + 2, y + 1, w - 4, TUI_S_DIM, a->note[0] ? a->note : "Select a conv or linear layer.");
        return;
    }
    if (a->teaching) {
        draw_trace(g, a, x, y, w, h);
        return;
    }
    tui_printf(g, x + 1, y, w - 2, TUI_S_ACCENT, "%s  |  %s: E=%lld K=%lld Nf=%lld", a->config, a->layer,
               (long long)a->E, (long long)a->K, (long long)a->Nf);
    if (a->roofline) {
        draw_roofline(g, s, a, x, y + 1, w, h - 1);
        return;
    }
    tui_printf(g, x + 1, y + 1, w - 2, TUI_S_NORMAL, "cycle %lld / %lld   fold %lld / %lld   %s   %s x%d",
               (long long)a->cycle, (long long)a->total_cycles, (long long)a->fold + 1, (long long)a->folds,
               a->phase ? "streaming" : "loading weights", a->playing ? "playing" : "paused", a->speed);
    /* the PE grid: 2 characters per PE when there is room, else 1 */
    int gh = h - 4, gx = x + 1, gy = y + 3;
    int left_w = w * 3 / 5;
    /* with the memory model the per-layer list needs its columns: the grid
     * gives up room (down to 2 characters per PE, then to what the list's
     * narrowest layout leaves) */
    layer_list list = {0};
    int have_list = a->mem && a->layer_mem && list_build(a, &list) == 0;
    if (have_list) {
        int full, core;
        list_widths(&list, &full, &core);
        if (w - left_w - 2 < full) {
            int grid2 = a->cols * 2 + 2;
            left_w = w - 2 - full > (left_w < grid2 ? left_w : grid2) ? w - 2 - full
                                                                      : (left_w < grid2 ? left_w : grid2);
        }
        if (w - left_w - 2 < core)
            left_w = w - 2 - core > 12 ? w - 2 - core : 12;
    }
    int cw = a->cols * 2 <= left_w - 2 ? 2 : 1;
    int cols_shown = a->cols * cw <= left_w - 2 ? a->cols : (left_w - 2) / cw;
    if (a->rows > gh || cols_shown < a->cols)
        gh--; /* a row for saying so, above the note line */
    int rows_shown = a->rows < gh ? a->rows : gh;
    int busy_now = 0;
    for (int r = 0; r < rows_shown; r++)
        for (int c = 0; c < cols_shown; c++) {
            int32_t item = a->grid ? a->grid[r * a->cols + c] : -1;
            int st;
            uint32_t ch;
            if (!a->phase) {
                st = TUI_S_LOAD;
                ch = g->utf8 ? 0x25AB : 'l';   /* small square: loading */
            } else if (item >= 0) {
                st = TUI_S_BUSY;
                ch = g->utf8 ? 0x25A0 : '#';   /* filled square: multiplying */
                busy_now++;
            } else {
                st = TUI_S_IDLE;
                ch = g->utf8 ? 0x00B7 : '.';   /* dot: idle */
            }
            for (int k = 0; k < cw; k++)
                tui_put(g, gx + c * cw + k, gy + r, k == 0 || s->present ? ch : ' ', st); /* presentation: PEs 2 wide */
        }
    if (rows_shown < a->rows || cols_shown < a->cols)
        tui_printf(g, gx, gy + rows_shown, left_w - 1, TUI_S_WARN, "clipped: %dx%d of %dx%d PEs shown",
                   rows_shown, cols_shown, a->rows, a->cols);
    draw_legend(g, gx, y + 2, left_w - 1, busy_now, a->rows * a->cols);   /* a space before the right side */

    /* right: per-PE utilization heatmap so far, then per-layer bars */
    int rx = x + left_w + 1, rw = w - left_w - 2;
    tui_text(g, rx, y + 2, rw, TUI_S_HEADER, "PE utilization so far");
    int hm_rows = (a->rows + 1) / 2, hm_h = hm_rows < 8 ? hm_rows : 8;
    int step_r = (a->rows + hm_h * 2 - 1) / (hm_h * 2), step_c = (a->cols + rw - 1) / (rw > 0 ? rw : 1);
    if (step_c < 1) step_c = 1;
    if (step_r < 1) step_r = 1;
    for (int j = 0; j < hm_h && a->pe_busy && a->cycle > 0; j++)
        for (int i = 0; i * step_c < a->cols && i < rw; i++) {
            int st[2];
            for (int part = 0; part < 2; part++) {
                int r0 = (j * 2 + part) * step_r;
                double sum = 0;
                int n = 0;
                for (int r = r0; r < r0 + step_r && r < a->rows; r++)
                    for (int c = i * step_c; c < (i + 1) * step_c && c < a->cols; c++, n++)
                        sum += a->pe_busy[r * a->cols + c];
                double u = n ? sum / n / (double)a->cycle : 0;
                int k = (int)(u * 7 + 0.5);
                st[part] = n ? TUI_S_RAMP0 + (k > 7 ? 7 : k) : TUI_S_NORMAL;
            }
            tui_put2(g, rx + i, y + 3 + j, tui_glyph_upper_half(g), st[0], st[1]);
        }
    /* the heatmap's scale, and what the per-layer columns count */
    int sx = rx + tui_text(g, rx, y + 3 + hm_h, rw, TUI_S_DIM, "0% ");
    for (int k = 0; k < 8 && sx < rx + rw; k++)
        tui_put(g, sx++, y + 3 + hm_h, s->color ? tui_glyph_block(g, 1) : tui_glyph_ramp(g, k / 7.0), TUI_S_RAMP0 + k);
    tui_text(g, sx, y + 3 + hm_h, rx + rw - sx, TUI_S_DIM, " 100% busy");
    int ly = y + 4 + hm_h;
    if (have_list) {
        list_draw(g, s, a, &list, rx, ly, rw, y + h - 2);   /* the total above the note */
        list_free(&list);
        if (a->note[0])
            wb_text_fit(g, x + 1, y + h - 1, w - 2, TUI_S_DIM, a->note);
        return;
    }
    tui_text(g, rx, ly++, rw, TUI_S_HEADER, "layer        util   mult   cycles");
    for (int i = 0; i < a->n_layers && ly < y + h; i++, ly++) {
        int sel = a->layer_names && strcmp(a->layer_names[i], a->layer) == 0;
        char buf[32];
        wb_text_elide(g, rx, ly, 12, sel ? TUI_S_SELECTED : TUI_S_NORMAL, a->layer_names[i]);
        wb_hit_add(s, rx, ly, rw, a->layer_names[i]);
        int bw = 5;
        double u = a->layer_util[i];
        for (int k = 0; k < bw; k++)
            tui_put(g, rx + 13 + k, ly, tui_glyph_block(g, u * bw - k), TUI_S_BAR);
        tui_printf(g, rx + 13 + bw, ly, 14, TUI_S_NORMAL, "%3.0f%% %3.0f%%", u * 100,
                   a->layer_mult_util[i] * 100);
        tui_text(g, rx + 28, ly, rw - 28, TUI_S_DIM, wb_human((double)a->layer_cycles[i], buf, sizeof buf));
    }
    if (a->note[0])
        wb_text_fit(g, x + 1, y + h - 1, w - 2, TUI_S_DIM, a->note);
}
