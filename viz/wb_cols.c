/* wb_cols.c - tables whose columns fit the terminal's width: each column
 * as wide as its widest cell, the least important dropped whole when the
 * width is short (never a number cut in the middle), and a line saying
 * which are hidden. See wb_col in workbench.h. */
#include "workbench.h"

#include <stdio.h>
#include <string.h>

/* The width of column c at its natural size: its header and widest cell,
 * a left-aligned column between min_w and max_w. */
static int natural(const wb_col *col, int c, int nc, const char *const *cells, int n)
{
    int wd = col->head ? tui_text_width(col->head) : 0;
    for (int r = 0; r < n; r++) {
        const char *s = cells[r * nc + c];
        int k = s ? tui_text_width(s) : 0;
        wd = k > wd ? k : wd;
    }
    if (col->max_w > 0 && wd > col->max_w)
        wd = col->max_w;
    return wd < col->min_w ? col->min_w : wd;
}

static int total(const wb_col *cols, int nc, int use_pref)
{
    int t = 0, first = 1;
    for (int c = 0; c < nc; c++) {
        if (!cols[c].shown)
            continue;
        int wd = cols[c].width;
        if (use_pref && cols[c].pref > wd)
            wd = cols[c].pref;
        t += (first ? 0 : cols[c].gap) + wd;
        first = 0;
    }
    return t;
}

int wb_cols_fit(wb_col *cols, int nc, const char *const *cells, int n, int w)
{
    for (int c = 0; c < nc; c++) {
        cols[c].shown = 1;
        cols[c].width = natural(&cols[c], c, nc, cells, n);
    }
    if (total(cols, nc, 1) <= w) {   /* room for the preferred layout */
        for (int c = 0; c < nc; c++)
            if (cols[c].pref > cols[c].width)
                cols[c].width = cols[c].pref;
        return 0;
    }
    /* elided names first (down to min_w), then whole columns, highest
     * priority first */
    for (int c = 0; c < nc && total(cols, nc, 0) > w; c++)
        if (cols[c].left && cols[c].max_w > 0) {
            int over = total(cols, nc, 0) - w, room = cols[c].width - cols[c].min_w;
            cols[c].width -= over < room ? over : room;
        }
    int hidden = 0;
    while (total(cols, nc, 0) > w) {
        int drop = -1;
        for (int c = 0; c < nc; c++)
            if (cols[c].shown && cols[c].prio > 0 && (drop < 0 || cols[c].prio >= cols[drop].prio))
                drop = c;
        if (drop < 0)
            break;
        cols[drop].shown = 0;
        hidden++;
    }
    /* room a dropped column left goes back to the names, up to their
     * natural width */
    for (int c = 0; c < nc; c++)
        if (cols[c].shown && cols[c].left && cols[c].max_w > 0) {
            int spare = w - total(cols, nc, 0), want = natural(&cols[c], c, nc, cells, n) - cols[c].width;
            if (spare > 0 && want > 0)
                cols[c].width += spare < want ? spare : want;
        }
    return hidden;
}

int wb_cols_x(const wb_col *cols, int nc, int c)
{
    if (c < 0 || c >= nc || !cols[c].shown)
        return -1;
    int x = 0, first = 1;
    for (int k = 0; k < c; k++)
        if (cols[k].shown) {
            x += (first ? 0 : cols[k].gap) + cols[k].width;
            first = 0;
        }
    return first ? 0 : x + cols[c].gap;
}

int wb_cols_row(tui_grid *g, int x, int y, const wb_col *cols, int nc, const char *const *row,
                int style)
{
    int end = 0;
    for (int c = 0; c < nc; c++) {
        int cx = wb_cols_x(cols, nc, c);
        if (cx < 0)
            continue;
        const char *s = row ? row[c] : cols[c].head;
        if (s && *s) {
            int k = tui_text_width(s);
            if (cols[c].left)
                wb_text_elide(g, x + cx, y, cols[c].width, style, s);
            else
                tui_text(g, x + cx + (k < cols[c].width ? cols[c].width - k : 0), y, cols[c].width,
                         style, s);
        }
        end = cx + cols[c].width;
    }
    return end;
}

void wb_cols_hidden(const wb_col *cols, int nc, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = 0;
    for (int c = 0; c < nc; c++)
        if (!cols[c].shown && len < n) {
            int k = snprintf(buf + len, n - len, "%s%s", len ? ", " : "", cols[c].head ? cols[c].head : "?");
            len += k > 0 ? (size_t)k : 0;
        }
}

int wb_text_fit(tui_grid *g, int x, int y, int w, int style, const char *text)
{
    int cells = tui_text_width(text);
    if (w <= 0 || cells <= w)
        return tui_text(g, x, y, w, style, text);
    /* the longest head of whole words that leaves a cell for the ellipsis */
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", text);
    int cut = -1, k = 0;
    for (char *p = buf; *p && k < w; p++) {
        if ((*p & 0xC0) == 0x80)
            continue;   /* inside a code point */
        if (*p == ' ' && k > 0)
            cut = (int)(p - buf);
        k++;
    }
    if (cut <= 0) {   /* one long word: cut it, then the ellipsis */
        int n = tui_text(g, x, y, w - 1, style, text);
        return n + tui_text(g, x + n, y, 1, style, g->utf8 ? "\u2026" : "~");
    }
    while (cut > 0 && (buf[cut - 1] == ' ' || buf[cut - 1] == ',' || buf[cut - 1] == ';' ||
                       buf[cut - 1] == '(' || buf[cut - 1] == '='))
        cut--;
    buf[cut] = 0;
    int n = tui_text(g, x, y, w - 1, style, buf);
    return n + tui_text(g, x + n, y, 1, style, g->utf8 ? "\u2026" : "~");
}
