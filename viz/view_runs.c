/* view_runs.c - screen 7: a sweep database's points (or their groups over
 * the seeds) as a sortable table, and the Pareto plot of two columns drawn
 * in character cells (points as glyphs, so the front is told by shape as
 * well as colour). Draws from s->runs, which the app fills. */
#include "workbench.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define COL_MAX 28       /* cells of a column, the error column aside */
#define ERR_MAX 60
#define SCAN_MAX 5000    /* rows looked at to size the columns */

static const char *cell_at(const wb_runs *r, int row, int col)
{
    const char *c = r->cells[(size_t)row * (size_t)r->n_cols + (size_t)col];
    return c ? c : "";
}

static int col_width(const wb_runs *r, int c)
{
    int w = tui_text_width(r->col_names[c]) + 1;   /* room for the sort arrow */
    for (int i = 0; i < r->n_rows && i < SCAN_MAX; i++) {
        int cw = tui_text_width(cell_at(r, i, c));
        if (cw > w)
            w = cw;
    }
    int cap = strcmp(r->col_names[c], "error") == 0 ? ERR_MAX : COL_MAX;
    return (w < cap ? w : cap) + 2;
}

/* Keeps the cursor column on screen: column 0 (#) always shows, the rest
 * scroll from r->col_scroll. */
static void clamp_cols(wb_runs *r, const int *cw, int nc, int w)
{
    if (r->cur_col < 1 || r->col_scroll < 1)
        r->col_scroll = 1;
    if (r->cur_col >= 1 && r->cur_col < r->col_scroll)
        r->col_scroll = r->cur_col;
    for (;;) {
        int used = cw[0];
        for (int c = r->col_scroll; c <= r->cur_col && c < nc; c++)
            used += cw[c];
        if (used <= w || r->col_scroll >= r->cur_col)
            break;
        r->col_scroll++;
    }
}

static void draw_table(tui_grid *g, wb_runs *r, int x, int y, int w, int h)
{
    int cw[256];   /* columns past the 256th are not shown */
    int nc = r->n_cols < 256 ? r->n_cols : 256;
    for (int c = 0; c < nc; c++)
        cw[c] = col_width(r, c);
    if (r->cur_col >= nc)
        r->cur_col = nc - 1;
    clamp_cols(r, cw, nc, w);
    const char *up = g->utf8 ? "\u25B2" : "^", *down = g->utf8 ? "\u25BC" : "v";
    tui_fill(g, x, y, w, 1, ' ', TUI_S_HEADER);
    for (int k = 0, cx = x; k < nc && cx < x + w; k++) {
        int c = k == 0 ? 0 : r->col_scroll + k - 1;
        if (c >= nc)
            break;
        char title[96];
        snprintf(title, sizeof title, "%s%s", r->col_names[c],
                 r->sort_col == c ? (r->sort_desc ? down : up) : "");
        tui_text(g, cx + 1, y, x + w - cx - 1, c == r->cur_col ? TUI_S_SELECTED : TUI_S_HEADER, title);
        cx += cw[c];
    }
    int rows = h - 1;
    if (r->selected >= r->n_rows)
        r->selected = r->n_rows - 1;
    if (r->selected < 0)
        r->selected = 0;
    if (r->selected < r->scroll)
        r->scroll = r->selected;
    if (r->selected >= r->scroll + rows)
        r->scroll = r->selected - rows + 1;
    if (r->scroll < 0)
        r->scroll = 0;
    if (r->n_rows == 0)
        tui_text(g, x + 2, y + 1, w - 4, TUI_S_DIM,
                 r->grouped ? "(no ok points to group yet)" : "(no points yet: they show as the sweep finishes them)");
    for (int i = 0; i < rows && r->scroll + i < r->n_rows; i++) {
        int row = r->scroll + i, yy = y + 1 + i, sel = row == r->selected;
        int style = sel ? TUI_S_SELECTED : TUI_S_NORMAL;
        if (sel)
            tui_fill(g, x, yy, w, 1, ' ', TUI_S_SELECTED);
        tui_put(g, x, yy, sel ? '>' : ' ', style);
        for (int k = 0, cx = x; k < nc && cx < x + w; k++) {
            int c = k == 0 ? 0 : r->col_scroll + k - 1;
            if (c >= nc)
                break;
            int st = style;
            if (!sel && r->row_style && strcmp(r->col_names[c], "status") == 0)
                st = r->row_style[row];
            tui_text(g, cx + 1, yy, cw[c] - 2 < x + w - cx - 1 ? cw[c] - 2 : x + w - cx - 1, st,
                     cell_at(r, row, c));
            cx += cw[c];
        }
    }
}

static void draw_plot(tui_grid *g, wb_runs *r, int x, int y, int w, int h)
{
    const char *xn = r->x_col >= 0 && r->x_col < r->n_cols ? r->col_names[r->x_col] : NULL;
    const char *yn = r->y_col >= 0 && r->y_col < r->n_cols ? r->col_names[r->y_col] : NULL;
    const char *dot = g->utf8 ? "\u00b7" : ".", *star = g->utf8 ? "\u25cf" : "*",
               *sel = g->utf8 ? "\u25c6" : "@";
    tui_fill(g, x, y, w, 1, ' ', TUI_S_HEADER);
    if (!xn || !yn) {
        tui_text(g, x + 1, y, w - 2, TUI_S_HEADER, "Pareto plot");
        tui_text(g, x + 2, y + 2, w - 4, TUI_S_DIM,
                 "Choose its axes: Left/Right to a numeric column, x; then another, y. X / Y flip min/max.");
        return;
    }
    int nf = 0;
    for (int i = 0; i < r->n_pts; i++)
        nf += r->front[i] != 0;
    tui_printf(g, x + 1, y, w - 2, TUI_S_HEADER, "Pareto: %s (%s) against %s (%s)   %s front %d of %d   %s other   %s selected row",
               yn, r->y_max ? "max" : "min", xn, r->x_min ? "min" : "max", star, nf, r->n_pts, dot, sel);
    if (r->n_pts == 0) {
        tui_text(g, x + 2, y + 2, w - 4, TUI_S_DIM, "(no row has numbers in both columns)");
        return;
    }
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int i = 0; i < r->n_pts; i++) {
        xlo = fmin(xlo, r->px[i]), xhi = fmax(xhi, r->px[i]);
        ylo = fmin(ylo, r->py[i]), yhi = fmax(yhi, r->py[i]);
    }
    char lo[32], hi[32];
    snprintf(hi, sizeof hi, "%.4g", yhi);
    snprintf(lo, sizeof lo, "%.4g", ylo);
    int lw = (int)(strlen(hi) > strlen(lo) ? strlen(hi) : strlen(lo)) + 1;
    int px0 = x + lw + 1, pw = w - lw - 3, py0 = y + 1, ph = h - 3;
    if (pw < 4 || ph < 2)
        return;
    tui_text(g, x, py0, lw, TUI_S_DIM, hi);
    tui_text(g, x, py0 + ph - 1, lw, TUI_S_DIM, lo);
    for (int j = 0; j < ph; j++)
        tui_put(g, px0 - 1, py0 + j, g->utf8 ? 0x2502 : '|', TUI_S_DIM);
    for (int i = -1; i < pw; i++)
        tui_put(g, px0 + i, py0 + ph, g->utf8 ? (i < 0 ? 0x2514 : 0x2500) : (i < 0 ? '+' : '-'), TUI_S_DIM);
    snprintf(lo, sizeof lo, "%.4g", xlo);
    snprintf(hi, sizeof hi, "%.4g", xhi);
    tui_text(g, px0, py0 + ph + 1, pw, TUI_S_DIM, lo);
    int hw = tui_text_width(hi);
    tui_text(g, px0 + pw - hw, py0 + ph + 1, hw, TUI_S_DIM, hi);
    char ax[200];
    snprintf(ax, sizeof ax, "%s %s", xn, g->utf8 ? "\u2192" : "->");
    int aw = tui_text_width(ax);
    tui_text(g, px0 + (pw - aw) / 2, py0 + ph + 1, aw, TUI_S_DIM, ax);
    /* dominated points, then the front over them, then the selected row */
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < r->n_pts; i++) {
            int on = r->front[i] != 0, is_sel = r->pt_row[i] == r->selected;
            if ((pass == 0 && (on || is_sel)) || (pass == 1 && (!on || is_sel)) || (pass == 2 && !is_sel))
                continue;
            double fx = xhi > xlo ? (r->px[i] - xlo) / (xhi - xlo) : 0.5;
            double fy = yhi > ylo ? (r->py[i] - ylo) / (yhi - ylo) : 0.5;
            int cx = px0 + (int)lround(fx * (pw - 1)), cy = py0 + ph - 1 - (int)lround(fy * (ph - 1));
            tui_text(g, cx, cy, 1, pass == 2 ? TUI_S_SELECTED : pass == 1 ? TUI_S_GOOD : TUI_S_DIM,
                     pass == 2 ? sel : pass == 1 ? star : dot);
        }
}

void view_runs(tui_grid *g, wb_state *s, int x, int y, int w, int h)
{
    wb_runs *r = &s->runs;
    if (!r->open) {
        tui_text(g, x + 2, y + 1, w - 4, TUI_S_DIM, "No sweep database open.");
        tui_text(g, x + 2, y + 3, w - 4, TUI_S_DIM,
                 "Press o (F4) and give a .db file that `nmlab sweep SPEC.lua --db FILE.db` writes,");
        tui_text(g, x + 2, y + 4, w - 4, TUI_S_DIM, "or start the workbench with: nmlab --runs FILE.db");
        tui_text(g, x + 2, y + 6, w - 4, TUI_S_DIM,
                 "The table follows a running sweep (the file is read again every second).");
        if (r->note[0])
            tui_text(g, x + 2, y + 8, w - 4, TUI_S_BAD, r->note);
        return;
    }
    tui_text(g, x + 1, y, w - 2, TUI_S_ACCENT, r->title);
    if (r->note[0])
        tui_text(g, x + 1, y + 1, w - 2, TUI_S_WARN, r->note);
    else
        tui_printf(g, x + 1, y + 1, w - 2, TUI_S_DIM,
                   "%s  Left/Right column, s sort, g %s, v plot, x/y axes, Enter details, e PNG, / search",
                   r->grouped ? (g->utf8 ? "mean\u00b195% CI over seeds of the ok points"
                                         : "mean+-95% CI over seeds of the ok points")
                              : "points",
                   r->grouped ? "points" : "group over seeds");
    int th = h - 2;
    if (r->show_plot && h >= 16)
        th = (h - 2) / 2;
    if (r->n_cols > 0)
        draw_table(g, r, x, y + 2, w, th);
    if (r->show_plot && h >= 16)
        draw_plot(g, r, x, y + 2 + th, w, h - 2 - th);
}
