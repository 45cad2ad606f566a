/* view_energy.c - screen 5: energy by component for several systems side
 * by side, as stacked horizontal bars with a glyph per component (meaning
 * is never carried by colour alone), the switches stated. */
#include "workbench.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char comp_glyph_ascii[] = "#=%@*+o~x&$";

static double component_sum(const wb_energy *e, const double *pj)
{
    double t = 0;
    for (int c = 0; c < e->n_comp; c++)
        t += pj[c];
    return t;
}

/* One stacked bar of components (pj) scaled so that `scale` pJ fills bw. */
static void stacked_bar(tui_grid *g, const wb_energy *e, const double *pj, double scale, int x, int y, int bw)
{
    double acc = 0;
    for (int c = 0; c < e->n_comp; c++) {
        int a0 = (int)(acc / scale * bw + 0.5);
        acc += pj[c];
        int a1 = (int)(acc / scale * bw + 0.5);
        for (int k = a0; k < a1 && k < bw; k++)
            tui_put(g, x + k, y, (uint32_t)comp_glyph_ascii[c % 11], TUI_S_RAMP0 + (c * 3) % 8);
    }
}

/* The selected layer by component per system, then every layer's total
 * per system (rows scrolled to keep the selected one visible), in `rows`
 * lines from y. Returns the line after the last one drawn. */
static int draw_layers(tui_grid *g, wb_state *s, const wb_energy *e, int x, int y, int w, int rows)
{
    if (e->n_layers == 0 || rows < 3)
        return y;
    /* narrow screens: shorter system labels, so the figures keep their room */
    int label_w = w < 100 ? 19 : 22;
    if (e->layer_sel < 0) {
        tui_text(g, x + 1, y, w - 2, TUI_S_DIM, "per layer: select a conv or linear layer ([ ] or screen 1)");
    } else if (rows >= e->n_systems + 2) {
        tui_printf(g, x + 1, y, w - 2, TUI_S_HEADER, "layer %s  ([ ] previous / next)",
                   e->layer_names[e->layer_sel]);
        double maxe = 0;
        for (int i = 0; i < e->n_systems; i++)
            maxe = fmax(maxe, component_sum(e, e->sel_pj[i]));
        /* the figures of each system, then a bar in the room they leave */
        char txt[6][96];
        int tw = 0;
        for (int i = 0; i < e->n_systems && i < 6; i++) {
            double t = component_sum(e, e->sel_pj[i]);
            char cyc[32], st[32];
            if (e->mem)
                snprintf(txt[i], sizeof txt[i], "%.3g uJ (DRAM %.3g) %s cyc stall %s", t * 1e-6,
                         e->sel_mem[i].dram_pj * 1e-6, wb_human((double)e->sel_cycles[i], cyc, sizeof cyc),
                         wb_human((double)e->sel_mem[i].stall, st, sizeof st));
            else
                snprintf(txt[i], sizeof txt[i], "%.3g uJ %s cyc", t * 1e-6,
                         wb_human((double)e->sel_cycles[i], cyc, sizeof cyc));
            int k = tui_text_width(txt[i]);
            tw = k > tw ? k : tw;
        }
        int bar_w = w - label_w - tw - 2;
        if (bar_w > w - label_w - 24)
            bar_w = w - label_w - 24;
        for (int i = 0; i < e->n_systems && i < 6; i++) {
            int bw = bar_w < 1 ? 0 : bar_w;
            wb_text_elide(g, x + 1, y + 1 + i, label_w - 1, TUI_S_ACCENT, e->system[i]);
            stacked_bar(g, e, e->sel_pj[i], maxe > 0 ? maxe : 1, x + label_w, y + 1 + i, bw);
            wb_text_fit(g, x + label_w + bw + (bw ? 1 : 0), y + 1 + i, w - label_w - bw - 1, TUI_S_NORMAL, txt[i]);
        }
        y += e->n_systems + 2;
        rows -= e->n_systems + 2;
    }
    if (rows < 3)
        return y;
    /* the table: each layer's total per system in uJ, and its stall
     * cycles with the memory model; a cell is as wide as its widest
     * figures, and the stall goes (the header says so) when the systems'
     * cells do not fit side by side */
    int ew = 0, sw = 0;
    for (int i = 0; i < e->n_systems; i++)
        for (int k = 0; k < e->n_layers; k++) {
            char b[48];
            int n = snprintf(b, sizeof b, "%.3f", e->layer_pj[i][k] * 1e-6);
            ew = n > ew ? n : ew;
            if (e->mem && e->layer_mem[i])
                n = (int)strlen(wb_human((double)e->layer_mem[i][k].stall, b, sizeof b)), sw = n > sw ? n : sw;
        }
    int avail = w - label_w - 1, ns = e->n_systems ? e->n_systems : 1;
    int show_stall = sw > 0 && ns * (ew + 1 + sw + 1) <= avail;
    int need = show_stall ? ew + 1 + sw + 1 : ew + 1;
    int cw = avail / ns;
    cw = cw > 18 ? (need > 18 ? need : 18) : cw < need ? need : cw;
    if (e->mem && !show_stall)
        tui_text(g, x + 1, y, label_w - 1, TUI_S_HEADER, "layer (uJ)");
    else
        tui_text(g, x + 1, y, label_w - 1, TUI_S_HEADER, e->mem ? "layer (uJ, stall)" : "layer (uJ)");
    for (int i = 0; i < e->n_systems; i++)
        wb_text_elide(g, x + label_w + i * cw, y, cw - 1, TUI_S_HEADER, e->system[i]);
    int n = rows - 1, first = 0;
    if (e->layer_sel >= n)
        first = e->layer_sel - n + 1;
    for (int r = 0; r < n && first + r < e->n_layers; r++) {
        int k = first + r, sel = k == e->layer_sel;
        if (sel)
            tui_fill(g, x + 1, y + 1 + r, label_w - 1 + e->n_systems * cw, 1, ' ', TUI_S_SELECTED);
        wb_text_elide(g, x + 1, y + 1 + r, label_w - 1, sel ? TUI_S_SELECTED : TUI_S_NORMAL, e->layer_names[k]);
        wb_hit_add(s, x + 1, y + 1 + r, label_w - 1 + e->n_systems * cw, e->layer_names[k]);
        for (int i = 0; i < e->n_systems; i++) {
            char st[32];
            int stl = sel ? TUI_S_SELECTED : TUI_S_NORMAL, cx = x + label_w + i * cw;
            if (show_stall && e->layer_mem[i])
                tui_printf(g, cx, y + 1 + r, cw - 1, stl, "%*.3f %*s", cw - 2 - sw, e->layer_pj[i][k] * 1e-6,
                           sw, wb_human((double)e->layer_mem[i][k].stall, st, sizeof st));
            else
                tui_printf(g, cx, y + 1 + r, cw - 1, stl, "%*.3f", cw - 1 < 10 ? cw - 1 : 10,
                           e->layer_pj[i][k] * 1e-6);
        }
    }
    return y + 1 + n;
}

void view_energy(tui_grid *g, wb_state *s, int x, int y, int w, int h)
{
    const wb_energy *e = &s->energy;
    if (!s->have_energy) {
        tui_text(g, x + 2, y + 1, w - 4, TUI_S_DIM, e->note[0] ? e->note : "No simulation yet.");
        return;
    }
    tui_text(g, x + 1, y, w - 2, TUI_S_DIM, e->switches);
    double maxe = 0;
    for (int i = 0; i < e->n_systems; i++)
        maxe = fmax(maxe, component_sum(e, e->pj[i]));
    if (maxe <= 0)
        maxe = 1;
    int label_w = w < 100 ? 19 : 22, bar_w = w - label_w - 24;
    if (bar_w < 10)
        bar_w = 10;
    double first = component_sum(e, e->pj[0]);
    int yy = y + 2;
    if (e->mem) {
        char hd[256];
        snprintf(hd, sizeof hd, "whole model   memory: %s, DRAM energy counted (D: next)", e->mem_desc);
        if (tui_text_width(hd) > w - 2)
            snprintf(hd, sizeof hd, "whole model  memory: %s (D: next)", e->mem_desc);
        wb_text_fit(g, x + 1, yy++, w - 2, TUI_S_HEADER, hd);
    } else {
        tui_text(g, x + 1, yy++, w - 2, TUI_S_HEADER, "whole model");
    }
    for (int i = 0; i < e->n_systems && yy < y + h - 4; i++, yy += 2) {
        double total = component_sum(e, e->pj[i]);
        wb_text_elide(g, x + 1, yy, label_w - 1, TUI_S_ACCENT, e->system[i]);
        stacked_bar(g, e, e->pj[i], maxe, x + label_w, yy, bar_w);
        char cyc[32];
        tui_printf(g, x + label_w + bar_w + 1, yy, 23, TUI_S_NORMAL, "%.3g mJ %s cyc", total * 1e-9,
                   wb_human((double)e->cycles[i], cyc, sizeof cyc));
        if (e->mem) {
            /* the longest form that fits: stall and DRAM in every one */
            char st[32], line[3][256];
            double ratio = first > 0 ? total / first : 0;
            long long stall = (long long)e->total_mem[i].stall;
            double dram = e->total_mem[i].dram_pj * 1e-6;
            wb_human((double)stall, st, sizeof st);
            snprintf(line[0], sizeof line[0], "%.2fx the energy of %s   area %.3f mm2   stall %s cyc (%lld)   DRAM %.4g uJ",
                     ratio, e->system[0], e->area_mm2[i], st, stall, dram);
            snprintf(line[1], sizeof line[1], "%.2fx of %s  area %.3f mm2  stall %s cyc  DRAM %.4g uJ", ratio,
                     e->system[0], e->area_mm2[i], st, dram);
            snprintf(line[2], sizeof line[2], "%.2fx  %.3f mm2  stall %s cyc  DRAM %.4g uJ", ratio,
                     e->area_mm2[i], st, dram);
            int k = 0, lx = x + label_w;
            while (k < 2 && tui_text_width(line[k]) > x + w - 1 - lx)
                k++;
            if (tui_text_width(line[k]) > x + w - 1 - lx)
                lx = x + 3;   /* under the name: the whole width */
            wb_text_fit(g, lx, yy + 1, x + w - 1 - lx, TUI_S_DIM, line[k]);
        } else {
            tui_printf(g, x + label_w, yy + 1, w - label_w - 1, TUI_S_DIM, "%.2fx the energy of %s   area %.3f mm2",
                       first > 0 ? total / first : 0, e->system[0], e->area_mm2[i]);
        }
    }
    yy = draw_layers(g, s, e, x, yy + 1, w, y + h - 3 - (yy + 1));
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
        wb_text_fit(g, x + 1, y + 1, w - 2, TUI_S_WARN, e->note);
}
