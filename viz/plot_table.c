/* plot_table.c - a table of strings rendered as an image. */
#include "plot_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROWS 2000
#define MAX_COLS 64

/* "12", "-3.5", "1e-3", "45%", "0.91x" read as numbers: right-aligned. */
static int looks_numeric(const char *s)
{
    char *end;
    if (!*s)
        return 0;
    strtod(s, &end);
    if (end == s)
        return 0;
    return *end == '\0' || ((*end == '%' || *end == 'x') && end[1] == '\0');
}

static int draw_table(plot *p, int rows, int cols, const char *const *cells)
{
    const char *w = "plot_table";
    if (!p)
        return nm_seterr("%s: no plot", w);
    if (rows < 1 || rows > MAX_ROWS || cols < 1 || cols > MAX_COLS)
        return nm_seterr("%s: %d x %d cells (1..%d rows, 1..%d columns allowed)", w, rows, cols,
                         MAX_ROWS, MAX_COLS);
    if (!cells)
        return nm_seterr("%s: no cells", w);
    for (int i = 0; i < rows * cols; i++)
        if (!cells[i])
            return nm_seterr("%s: cell at row %d, column %d is NULL", w, i / cols, i % cols);

    double pad = plot_px(p, 8), cpad = plot_px(p, 6);
    double lh = plot_line_height(p, PT_TABLE), rowh = lh * 1.5;
    double colw[MAX_COLS], tw = 0;
    for (int c = 0; c < cols; c++) {
        colw[c] = 0;
        for (int r = 0; r < rows; r++)
            colw[c] = fmax(colw[c], plot_text_width(p, PT_TABLE, cells[r * cols + c]));
        colw[c] += 2 * cpad;
        tw += colw[c];
    }
    double title_h = (p->title && *p->title) ? plot_line_height(p, PT_TITLE) * 1.4 : 0;
    double need_w = tw + 2 * pad, need_h = pad + title_h + rows * rowh + pad;
    if (p->title && *p->title)
        need_w = fmax(need_w, plot_text_width(p, PT_TITLE, p->title) + 2 * pad);
    int W = p->width ? p->width : (int)ceil(need_w);
    int H = p->height ? p->height : (int)ceil(need_h);
    if (W < 64)
        W = 64;
    if (H < 64)
        H = 64;
    if (W < need_w || H < need_h)
        return nm_seterr("%s: the table needs %d x %d pixels but the figure is %d x %d "
                         "(give width/height 0 to fit it)", w, (int)ceil(need_w),
                         (int)ceil(need_h), W, H);
    if (plot_canvas(p, W, H, "table") != NM_OK)
        return NM_ERR;
    double top = plot_draw_title(p);
    double x0 = floor((W - tw) / 2);
    /* the header of a column of numbers is right-aligned over them */
    int num_col[MAX_COLS];
    for (int c = 0; c < cols; c++) {
        num_col[c] = rows > 1;
        for (int r = 1; r < rows; r++)
            num_col[c] &= looks_numeric(cells[r * cols + c]);
    }
    int lw = (int)fmax(1, lround(plot_px(p, 0.75)));
    /* header band, then rules under the header and at the bottom */
    plot_fill_px(p, (int)x0, (int)lround(top), (int)lround(x0 + tw), (int)lround(top + rowh),
                 p->col.grid);
    for (int r = 0; r < rows; r++) {
        double y = top + r * rowh, x = x0;
        if (r > 1 && r % 2 == 0) {
            /* faint band on every other body row, lighter than the header */
            plot_rgb c = {(p->col.grid.r + p->col.bg.r) / 2, (p->col.grid.g + p->col.bg.g) / 2,
                          (p->col.grid.b + p->col.bg.b) / 2};
            plot_fill_px(p, (int)x0, (int)lround(y), (int)lround(x0 + tw), (int)lround(y + rowh), c);
        }
        for (int c = 0; c < cols; c++) {
            const char *s = cells[r * cols + c];
            if (r > 0 ? looks_numeric(s) : num_col[c])
                plot_text(p, PT_TABLE, s, x + colw[c] - cpad, y + rowh / 2, 1, 0.5, 0, p->col.fg);
            else
                plot_text(p, PT_TABLE, s, x + cpad, y + rowh / 2, 0, 0.5, 0, p->col.fg);
            x += colw[c];
        }
    }
    plot_fill_px(p, (int)x0, (int)lround(top + rowh) - lw, (int)lround(x0 + tw),
                 (int)lround(top + rowh), p->col.axis);
    plot_fill_px(p, (int)x0, (int)lround(top + rows * rowh), (int)lround(x0 + tw),
                 (int)lround(top + rows * rowh) + lw, p->col.axis);
    p->data = (plot_rect){(int)x0, (int)lround(top), (int)lround(tw), (int)lround(rows * rowh)};
    return plot_check_cairo(p, w);
}

int plot_table(plot *p, int rows, int cols, const char *const *cells)
{
    int before = p && p->kind;
    /* A table fitted to its content with the dpi left 0 is drawn at print
     * resolution: its size in inches is that of its 9 pt text, so more
     * pixels only make it sharper (at 100 dpi a small table was ~480 px
     * wide, too coarse to print). */
    double dpi = p ? p->dpi : 0;
    int print = p && !before && p->dpi_auto && p->width == 0 && p->height == 0;
    if (print) {
        p->dpi = PLOT_TABLE_DPI;
        p->px_per_pt = p->dpi / 72.0;
    }
    int st = draw_table(p, rows, cols, cells);
    if (print && st != NM_OK) {
        p->dpi = dpi;
        p->px_per_pt = dpi / 72.0;
    }
    return plot_finish(p, before, st);
}
