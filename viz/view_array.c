/* view_array.c - screen 4: the systolic array cycle by cycle, per-PE
 * utilization, per-layer utilization and cycles; or the nm-MAC teaching
 * walk-through. Draws from wb_array (plain data the app fills). */
#include "workbench.h"

#include <stdio.h>
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
 * which bounds the layer; the whole switch line above it. */
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
    tui_text(g, x + 1, ++yy, w - 2, TUI_S_HEADER,
             "layer                    compute       memory       stall    DRAM words  MACs/word    DRAM uJ  bound");
    yy++;
    int rows = y + h - 2 - yy, first = 0, sel = -1;
    for (int i = 0; i < a->n_layers; i++)
        if (strcmp(a->layer_names[i], a->layer) == 0)
            sel = i;
    if (rows < 1)
        return;
    if (sel >= rows)
        first = sel - rows + 1;
    for (int r = 0; r < rows && first + r < a->n_layers; r++) {
        int i = first + r;
        const wb_layer_mem *m = &a->layer_mem[i];
        int st = i == sel ? TUI_S_SELECTED : TUI_S_NORMAL;
        wb_text_elide(g, x + 1, yy, 20, st, a->layer_names[i]);
        wb_hit_add(s, x + 1, yy, w - 2, a->layer_names[i]);
        tui_printf(g, x + 22, yy, w - 23, st, "%12lld %12.1f %11lld %13.0f %10.2f %10.4f  %s",
                   (long long)m->compute, m->mem_cycles, (long long)m->stall, m->dram_words,
                   m->intensity, m->dram_pj * 1e-6, m->mem_bound ? "memory" : "compute");
        yy++;
    }
    const wb_layer_mem *t = &a->total_mem;
    int nmem = 0;
    for (int i = 0; i < a->n_layers; i++)
        nmem += a->layer_mem[i].mem_bound;
    tui_printf(g, x + 1, y + h - 2, w - 2, TUI_S_ACCENT,
               "total                %12lld %12.1f %11lld %13.0f %10.2f %10.4f  %d of %d memory-bound",
               (long long)t->compute, t->mem_cycles, (long long)t->stall, t->dram_words, t->intensity,
               t->dram_pj * 1e-6, nmem, a->n_layers);
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
        tui_printf(g, gx, gy + rows_shown, left_w, TUI_S_WARN, "clipped: %dx%d of %dx%d PEs shown",
                   rows_shown, cols_shown, a->rows, a->cols);
    tui_printf(g, gx, y + 2, left_w, TUI_S_DIM, "%s busy  %s idle  %s loading   %d/%d busy now",
               g->utf8 ? "\u25A0" : "#", g->utf8 ? "\u00B7" : ".", g->utf8 ? "\u25AB" : "l", busy_now,
               a->rows * a->cols);

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
    if (a->mem && a->layer_mem) {
        /* with the memory model: util, cycles (stalls included), stall
         * cycles and DRAM energy per layer, and the total */
        tui_text(g, rx, ly++, rw, TUI_S_HEADER, "layer        util  cycles  stall  DRAM uJ");
        int last = y + h - 2;   /* the total's row, above the note */
        for (int i = 0; i < a->n_layers && ly < last; i++, ly++) {
            int sel = a->layer_names && strcmp(a->layer_names[i], a->layer) == 0;
            char c1[32], c2[32];
            const wb_layer_mem *m = &a->layer_mem[i];
            wb_text_elide(g, rx, ly, 12, sel ? TUI_S_SELECTED : TUI_S_NORMAL, a->layer_names[i]);
            wb_hit_add(s, rx, ly, rw, a->layer_names[i]);
            double u = a->layer_util[i];
            for (int k = 0; k < 5; k++)
                tui_put(g, rx + 13 + k, ly, tui_glyph_block(g, u * 5 - k), TUI_S_BAR);
            tui_printf(g, rx + 18, ly, rw - 18, m->mem_bound ? TUI_S_WARN : TUI_S_NORMAL, "%3.0f%% %6s %6s %8.3f",
                       u * 100, wb_human((double)a->layer_cycles[i], c1, sizeof c1),
                       wb_human((double)m->stall, c2, sizeof c2), m->dram_pj * 1e-6);
        }
        char c1[32], c2[32];
        tui_printf(g, rx, last, rw, TUI_S_ACCENT, "total             %6s %6s %8.3f",
                   wb_human((double)(a->total_mem.compute + a->total_mem.stall), c1, sizeof c1),
                   wb_human((double)a->total_mem.stall, c2, sizeof c2), a->total_mem.dram_pj * 1e-6);
        if (a->note[0])
            tui_text(g, x + 1, y + h - 1, w - 2, TUI_S_DIM, a->note);
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
        tui_text(g, x + 1, y + h - 1, w - 2, TUI_S_DIM, a->note);
}
