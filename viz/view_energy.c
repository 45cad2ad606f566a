/* view_energy.c - screen 5: energy by component for several systems side
 * by side, as stacked horizontal bars with a glyph per component (meaning
 * is never carried by colour alone), the switches stated. */
#include "workbench.h"

#include <stdio.h>

static const char comp_glyph_ascii[] = "#=%@*+o~x&$";

void view_energy(tui_grid *g, wb_state *s, int x, int y, int w, int h)
{
    const wb_energy *e = &s->energy;
    if (!s->have_energy) {
        tui_text(g, x + 2, y + 1, w - 4, TUI_S_DIM, e->note[0] ? e->note : "No simulation yet.");
        return;
    }
    tui_text(g, x + 1, y, w - 2, TUI_S_DIM, e->switches);
    double maxe = 0;
    for (int i = 0; i < e->n_systems; i++) {
        double t = 0;
        for (int c = 0; c < e->n_comp; c++)
            t += e->pj[i][c];
        if (t > maxe)
            maxe = t;
    }
    if (maxe <= 0)
        maxe = 1;
    int label_w = 22, bar_w = w - label_w - 24;
    if (bar_w < 10)
        bar_w = 10;
    double first = 0;
    for (int c = 0; c < e->n_comp; c++)
        first += e->pj[0][c];
    int yy = y + 2;
    for (int i = 0; i < e->n_systems && yy < y + h - 4; i++, yy += 2) {
        double total = 0;
        for (int c = 0; c < e->n_comp; c++)
            total += e->pj[i][c];
        tui_text(g, x + 1, yy, label_w - 1, TUI_S_ACCENT, e->system[i]);
        double acc = 0;
        for (int c = 0; c < e->n_comp; c++) {
            int a0 = (int)(acc / maxe * bar_w + 0.5);
            acc += e->pj[i][c];
            int a1 = (int)(acc / maxe * bar_w + 0.5);
            for (int k = a0; k < a1; k++)
                tui_put(g, x + label_w + k, yy, (uint32_t)comp_glyph_ascii[c % 11], TUI_S_RAMP0 + (c * 3) % 8);
        }
        char cyc[32];
        tui_printf(g, x + label_w + bar_w + 1, yy, 23, TUI_S_NORMAL, "%.3g mJ %s cyc", total * 1e-9,
                   wb_human((double)e->cycles[i], cyc, sizeof cyc));
        tui_printf(g, x + label_w, yy + 1, bar_w, TUI_S_DIM, "%.2fx the energy of %s   area %.3f mm2",
                   first > 0 ? total / first : 0, e->system[0], e->area_mm2[i]);
    }
    /* legend */
    int lx = x + 1, ly = y + h - 2;
    for (int c = 0; c < e->n_comp; c++) {
        if (lx + 14 > x + w) {
            lx = x + 1;
            ly++;
        }
        tui_put(g, lx, ly, (uint32_t)comp_glyph_ascii[c % 11], TUI_S_RAMP0 + (c * 3) % 8);
        tui_text(g, lx + 2, ly, 12, TUI_S_NORMAL, e->comp[c]);
        lx += 14;
    }
    if (e->note[0])
        tui_text(g, x + 1, y + 1, w - 2, TUI_S_WARN, e->note);
}
