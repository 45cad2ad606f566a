/* view_act.c - screen 3: a sample through the model; one channel's values
 * before and after ReLU + N:M (kept, dropped by N:M, zero), and measured
 * activation density per layer. Draws from wb_act (plain data). */
#include "workbench.h"

#include <math.h>
#include <stdio.h>

/* Draws an h x w map scaled to fit (box): two characters per cell when
 * there is room (a character is about twice as tall as wide, so cells look
 * square), else one, else downsampled by taking the cell at the block's
 * top-left (activation maps are small, 112x112 at most; a line under the
 * map states the step). */
static void draw_map(tui_grid *g, const wb_act *a, int which, int x, int y, int bw, int bh)
{
    const float *v = which ? a->after : a->before;
    int step = 1;
    while (a->w / step > bw || a->h / step > bh)
        step++;
    int mx = step == 1 && 2 * a->w <= bw ? 2 : 1;
    float maxabs = 0;
    for (int i = 0; i < a->h * a->w; i++)
        if (fabsf(a->before[i]) > maxabs)
            maxabs = fabsf(a->before[i]);
    if (maxabs <= 0)
        maxabs = 1;
    for (int r = 0; r * step < a->h && r < bh; r++)
        for (int c = 0; c * step < a->w && c * mx < bw; c++) {
            int i = r * step * a->w + c * step;
            float b = a->before[i], val = v[i];
            uint32_t ch;
            int st;
            if (which && b > 0 && val == 0) {        /* positive, dropped by N:M */
                ch = g->utf8 ? 0x00D7 : 'x';
                st = TUI_S_BAD;
            } else if (val > 0) {
                double f = val / maxabs;
                ch = tui_glyph_ramp(g, 0.3 + 0.7 * f);
                int k = (int)(f * 7 + 0.5);
                st = TUI_S_RAMP0 + (k > 7 ? 7 : k);
            } else if (!which && val < 0) {          /* negative: ReLU drops it */
                ch = g->utf8 ? 0x2212 : '-';
                st = TUI_S_DIM;
            } else {
                ch = g->utf8 ? 0x00B7 : '.';
                st = TUI_S_DIM;
            }
            for (int k = 0; k < mx; k++)
                tui_put(g, x + c * mx + k, y + r, ch, st);
        }
    if (step > 1)
        tui_printf(g, x, y + (a->h + step - 1) / step, bw, TUI_S_WARN, "1 char = %dx%d (top-left)", step, step);
}

void view_activations(tui_grid *g, wb_state *s, int x, int y, int w, int h)
{
    const wb_act *a = &s->act;
    if (!s->have_act) {
        tui_text(g, x + 2, y + 1, w - 4, TUI_S_DIM, a->note[0] ? a->note : "No activations yet.");
        return;
    }
    /* the sample last: on a narrow terminal it is what gets clipped */
    tui_printf(g, x + 1, y, w - 2, TUI_S_ACCENT, "%s channel %d/%d (%dx%d)  |  N:M %d:%d, policy %s (P)  |  %s",
               a->layer, a->channel + 1, a->channels, a->h, a->w, a->n, a->m, a->policy ? "topk" : "first",
               a->sample);
    int mapw = (w * 2 / 3 - 4) / 2, maph = h - 4;
    if (mapw > 60)
        mapw = 60;
    tui_text(g, x + 1, y + 1, mapw, TUI_S_HEADER, "before (input to ReLU)");
    tui_text(g, x + 3 + mapw, y + 1, mapw, TUI_S_HEADER, "after ReLU + N:M");
    draw_map(g, a, 0, x + 1, y + 2, mapw, maph);
    draw_map(g, a, 1, x + 3 + mapw, y + 2, mapw, maph);
    int kept = 0, dropped = 0, pos = 0;
    for (int i = 0; i < a->h * a->w; i++) {
        pos += a->before[i] > 0;
        kept += a->after[i] > 0;
        dropped += a->before[i] > 0 && a->after[i] == 0;
    }
    tui_printf(g, x + 1, y + h - 1, w - 2, TUI_S_NORMAL,
               "%s kept %d  %s dropped by N:M %d  positive %d of %d  %s negative/zero  (Left/Right channel, [ ] layer)",
               g->utf8 ? "\u2593" : "#", kept, g->utf8 ? "\u00D7" : "x", dropped, pos, a->h * a->w,
               g->utf8 ? "\u2212\u00B7" : "-.");
    /* per-layer densities */
    int rx = x + 5 + 2 * mapw, rw = w - (rx - x) - 1;
    if (rw < 24)
        return;
    tui_text(g, rx, y + 1, rw, TUI_S_HEADER, "layer       ReLU   N:M");
    for (int i = 0; i < a->n_layers && y + 2 + i < y + h - 1; i++) {
        int sel = i == a->selected;
        wb_text_elide(g, rx, y + 2 + i, 11, sel ? TUI_S_SELECTED : TUI_S_NORMAL, a->names[i]);
        wb_hit_add(s, rx, y + 2 + i, rw, a->names[i]);
        tui_printf(g, rx + 12, y + 2 + i, rw - 12, TUI_S_NORMAL, "%5.1f%% %5.1f%%", a->relu_density[i] * 100,
                   a->nm_density[i] * 100);
    }
}
