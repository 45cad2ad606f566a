/* Layout of heatmaps and line charts, checked on the decoded pixels: the
 * colour bar and its label sit beside the matrix, a matrix shorter than the
 * space is centred with square cells, N:M separators are visible without
 * hiding cells, line charts keep headroom above the data, index_base
 * changes the index labels. */
#include <criterion/criterion.h>
#include <math.h>

#include "plot.h"
#include "helpers.h"

#define WHITE 0xFFFFFF
#define DARK_BG 0x1E1E1E
#define DARK_KEPT 0x56B4E9
#define DARK_PRUNED 0x4A4A4A

/* Draws a heatmap with options o (NULL = defaults), saves it, decodes it
 * into im and returns the data rectangle the plot reports. */
static plot_rect heat(const plot_opts *o, const plot_heat_data *d, test_png *im)
{
    plot *p = plot_begin(o);
    cr_assert_not_null(p, "%s", nm_errmsg());
    cr_assert_eq(plot_heatmap(p, d), NM_OK, "%s", nm_errmsg());
    plot_rect rc;
    test_save_load(p, &rc, im);
    return rc;
}

/* Rightmost column holding a non-background pixel in rows [ya, yb). */
static int rightmost_ink(const test_png *im, int ya, int yb, uint32_t bg)
{
    for (int x = im->w - 1; x >= 0; x--)
        for (int y = ya; y < yb; y++)
            if (test_px(im, x, y) != bg)
                return x;
    return -1;
}

Test(layout, colour_bar_and_label_beside_a_narrow_matrix, .init = setup, .fini = teardown)
{
    /* 20 x 4 values: square cells make the matrix far narrower than the
     * figure, so the bar and its label must follow it, not the edge */
    double v[80];
    for (int i = 0; i < 80; i++)
        v[i] = i;
    plot_heat_data d = {.rows = 20, .cols = 4, .values = v, .value_label = "|w|"};
    test_png im;
    plot_opts o = plot_defaults();   /* a fixed size: a fitted one ends at the bar */
    o.width = 800;
    o.height = 500;
    plot_rect rc = heat(&o, &d, &im);
    int mx1 = rc.x + rc.w;
    cr_assert(rc.w < im.w / 2, "matrix %d px wide: not narrow, test meaningless", rc.w);
    /* the bar: its top colour starts within 20 px right of the matrix */
    int bar = -1;
    for (int x = mx1; x < im.w && bar < 0; x++)
        for (int y = rc.y; y < rc.y + rc.h; y++)
            if (test_px(&im, x, y) == VIRIDIS_HI) {
                bar = x;
                break;
            }
    cr_assert(bar >= mx1 && bar - mx1 <= 20, "colour bar at x=%d, matrix ends at %d", bar, mx1);
    /* the label is the rightmost ink beside the matrix: past the tick
     * labels, but close (bar 12 pt + ticks + one rotated line) */
    int ink = rightmost_ink(&im, rc.y, rc.y + rc.h, WHITE);
    cr_assert(ink - mx1 > 50 && ink - mx1 < 130, "label ink ends %d px right of the matrix",
              ink - mx1);
    cr_assert(im.w - ink > 200, "label at the figure's edge (x=%d of %d)", ink, im.w);
    test_png_free(&im);
}

Test(layout, short_matrix_is_centred_with_square_cells, .init = setup, .fini = teardown)
{
    /* 16 x 64 checkerboard mask: each cell one colour, neighbours differ */
    enum { R = 16, C = 64 };
    static uint8_t m[R * C];
    for (int i = 0; i < R * C; i++)
        m[i] = (i / C + i % C) % 2 == 0;
    plot_opts o = plot_defaults();
    o.title = "centred";
    plot_heat_data d = {.rows = R, .cols = C, .mask = m};
    test_png im;
    plot_rect rc = heat(&o, &d, &im);
    /* the reported rectangle starts where the cells start (background
     * just outside), then its size is measured by walking the pixels
     * (antialiased grey text may share the pruned grey, so no bounding box
     * over the whole image) */
    int x0 = rc.x, y0 = rc.y;
    cr_assert_eq(test_px(&im, x0, y0), BLUE);
    cr_assert_eq(test_px(&im, x0 - 1, y0 + 1), WHITE);
    cr_assert_eq(test_px(&im, x0 + 1, y0 - 1), WHITE);
    int xe = x0, yb = y0;
    while (xe + 1 < im.w && (test_px(&im, xe + 1, y0) == BLUE || test_px(&im, xe + 1, y0) == PRUNED))
        xe++;
    while (yb + 1 < im.h && (test_px(&im, x0, yb + 1) == BLUE || test_px(&im, x0, yb + 1) == PRUNED))
        yb++;
    int w = xe - x0 + 1, h = yb - y0 + 1;
    cr_assert_eq(w % C, 0, "matrix width %d", w);
    cr_assert_eq(h % R, 0, "matrix height %d", h);
    int sx = w / C, sy = h / R;
    cr_assert_eq(sx, sy, "cells %d x %d px are not square", sx, sy);
    /* cell size from a run of one colour along the first row */
    int run = 1;
    while (test_px(&im, x0 + run, y0) == test_px(&im, x0, y0))
        run++;
    cr_assert_eq(run, sx, "first cell run %d px vs %d", run, sx);
    /* space above and below the matrix within a tenth of the height */
    int above = y0, below = im.h - 1 - yb;
    cr_assert(abs(above - below) < im.h / 10, "matrix rows %d..%d of %d: %d px above, %d below",
              y0, yb, im.h, above, below);
    test_png_free(&im);
}

/* Fills m (R * C bytes) with the stripe mask i % 4 < 2 (with C a multiple
 * of 4: columns 0 and 1 of every group of 4 kept) and describes it as a
 * heatmap with group_m 4. */
static plot_heat_data stripes(uint8_t *m, int R, int C)
{
    for (int i = 0; i < R * C; i++)
        m[i] = (i % 4) < 2;
    return (plot_heat_data){.rows = R, .cols = C, .mask = m, .group_m = 4};
}

Test(layout, wide_matrix_thin_strip_is_centred, .init = setup, .fini = teardown)
{
    enum { R = 64, C = 576 };
    static uint8_t m[R * C];
    plot_heat_data d = stripes(m, R, C);
    test_png im;
    plot_opts o = plot_defaults();   /* a fixed size: a fitted figure keeps cells square */
    o.width = 800;
    o.height = 500;
    plot_rect rc = heat(&o, &d, &im);
    int yb = rc.y;
    while (yb + 1 < im.h && test_px(&im, rc.x, yb + 1) == BLUE)
        yb++;
    int h = yb - rc.y + 1;
    cr_assert_eq(h, rc.h, "kept column is %d px tall, data rect %d", h, rc.h);
    cr_assert(h >= im.h / 4, "strip %d px tall: too thin", h);
    int above = rc.y, below = im.h - 1 - yb;
    cr_assert(abs(above - below) < im.h / 8, "%d px above, %d below", above, below);
    /* 1-px cells: no separator pixels inside the matrix (note says so) */
    for (int y = rc.y; y < rc.y + rc.h; y += 7)
        for (int x = rc.x; x < rc.x + rc.w; x++) {
            uint32_t c = test_px(&im, x, y);
            cr_assert(c == BLUE || c == PRUNED, "pixel %d,%d is %06x", x, y, c);
        }
    test_png_free(&im);
}

/* Colour distance, max over channels. */
static int cdist(uint32_t a, uint32_t b)
{
    int m = 0;
    for (int s = 0; s < 24; s += 8) {
        int d = abs((int)((a >> s) & 255) - (int)((b >> s) & 255));
        m = d > m ? d : m;
    }
    return m;
}

/* Checks the separators of a R x C mask (i % 4 < 2) with group_m 4 along
 * the middle row: one run of at most max_w px of a colour unlike kept,
 * pruned and background at each boundary, none elsewhere, and every cell
 * still shows its own colour at its centre. */
static void check_separators(const test_png *im, plot_rect rc, int R, int C, uint32_t kept,
                             uint32_t pruned, uint32_t bg, int max_w)
{
    int sx = rc.w / C, y = rc.y + rc.h / 2;
    uint32_t sep = 0;
    int runs = 0;
    for (int x = rc.x; x < rc.x + rc.w;) {
        uint32_t c = test_px(im, x, y);
        if (c == kept || c == pruned) {
            x++;
            continue;
        }
        int w = 0;
        while (x + w < rc.x + rc.w && test_px(im, x + w, y) == c)
            w++;
        cr_assert(w <= max_w, "separator at x=%d is %d px wide (max %d)", x, w, max_w);
        cr_assert(cdist(c, kept) >= 100 && cdist(c, pruned) >= 100 && cdist(c, bg) >= 100,
                  "separator %06x does not contrast with %06x/%06x/%06x", c, kept, pruned, bg);
        /* at a group boundary: x within 1 px of column 4k's left edge */
        int col = (int)lround((double)(x - rc.x) / sx);
        cr_assert(col % 4 == 0 && col > 0 && abs(x - (rc.x + col * sx)) <= max_w,
                  "separator at x=%d is not on a group boundary (column %d)", x, col);
        sep = c;
        runs++;
        x += w;
    }
    cr_assert_eq(runs, C / 4 - 1, "%d separators for %d groups", runs, C / 4);
    (void)sep;
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            uint32_t px = test_px(im, rc.x + c * sx + sx / 2, rc.y + (int)((r + 0.5) * rc.h / R));
            cr_assert_eq(px, c % 4 < 2 ? kept : pruned, "cell %d,%d hidden: %06x", r, c, px);
        }
}

Test(layout, group_separators_contrast_and_leave_cells_visible, .init = setup, .fini = teardown)
{
    enum { R = 16, C = 64 };
    static uint8_t m[R * C];
    plot_heat_data d = stripes(m, R, C);
    test_png im;
    plot_rect rc = heat(NULL, &d, &im);
    check_separators(&im, rc, R, C, BLUE, PRUNED, WHITE, 1);
    test_png_free(&im);

    plot_opts o = plot_defaults();
    o.theme = PLOT_THEME_DARK;
    rc = heat(&o, &d, &im);
    check_separators(&im, rc, R, C, DARK_KEPT, DARK_PRUNED, DARK_BG, 1);
    test_png_free(&im);

    /* 3-px cells (200 columns in ~640 px): still 1-px lines */
    enum { C3 = 200 };
    static uint8_t m3[R * C3];
    plot_heat_data d3 = stripes(m3, R, C3);
    rc = heat(NULL, &d3, &im);
    cr_assert_eq(rc.w / C3, 3, "cells %d px (test wants 3)", rc.w / C3);
    check_separators(&im, rc, R, C3, BLUE, PRUNED, WHITE, 1);
    test_png_free(&im);

    /* print size: big cells get lines at most a quarter of a cell wide */
    o = plot_defaults();
    o.dpi = 300;
    rc = heat(&o, &d, &im);
    int sx = rc.w / C;
    cr_assert(sx >= 12, "cells %d px at 300 dpi", sx);
    check_separators(&im, rc, R, C, BLUE, PRUNED, WHITE, sx / 4);
    test_png_free(&im);
}

Test(layout, line_chart_has_headroom_without_title, .init = setup, .fini = teardown)
{
    /* the top point sits exactly on a nice tick (10) */
    double x[5] = {0, 1, 2, 3, 4}, y[5] = {1, 3, 2, 5, 10};
    plot_line_data d = {.n_points = 5, .x = x, .n_series = 1, .y = y, .markers = 1};
    plot *p = plot_begin(NULL);
    cr_assert_eq(plot_lines(p, &d), NM_OK, "%s", nm_errmsg());
    plot_rect rc;
    test_png im;
    test_save_load(p, &rc, &im);
    int top = -1;
    for (int yy = 0; yy < im.h && top < 0; yy++)
        for (int xx = 0; xx < im.w; xx++)
            if (test_px(&im, xx, yy) == BLUE) {
                top = yy;
                break;
            }
    cr_assert(top >= 0, "no series pixels");
    cr_assert(top >= 15, "series touches the top edge: first pixel at row %d", top);
    /* the point y=10 lies at least 5% of the axis below its top */
    cr_assert(top - rc.y >= 0.05 * rc.h - 100 / 72.0 * 3 - 2,
              "top marker at %d, axis %d..%d", top, rc.y, rc.y + rc.h);
    cr_assert(top > rc.y, "top marker at %d above the axis top %d", top, rc.y);
    test_png_free(&im);
}

/* The pixels of the row label of row r (left of the matrix, one row tall). */
static void label_crop(const test_png *im, plot_rect rc, int rows, int r, uint32_t *out, int w)
{
    int h = rc.h / rows;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            out[y * w + x] = test_px(im, rc.x - w + x, rc.y + r * h + y);
}

Test(layout, index_base_shifts_the_labels, .init = setup, .fini = teardown)
{
    /* 5 rows: every row labelled; base 0 reads 0..4, base 1 reads 1..5, so
     * base 1's first label is drawn exactly like base 0's second */
    double v[5 * 3];
    for (int i = 0; i < 15; i++)
        v[i] = i;
    plot_heat_data d = {.rows = 5, .cols = 3, .values = v};
    plot_opts o = plot_defaults();
    test_png a, b;
    plot_rect ra = heat(&o, &d, &a);
    o.index_base = 1;
    plot_rect rb = heat(&o, &d, &b);
    cr_assert(ra.h == rb.h && ra.y == rb.y, "layouts differ");
    enum { W = 40 };
    int h = ra.h / 5;
    uint32_t *c0 = calloc((size_t)(W * h), 4), *c1 = calloc((size_t)(W * h), 4),
             *c2 = calloc((size_t)(W * h), 4);
    label_crop(&b, rb, 5, 0, c0, W);   /* base 1, row 0: "1" */
    label_crop(&a, ra, 5, 1, c1, W);   /* base 0, row 1: "1" */
    label_crop(&a, ra, 5, 0, c2, W);   /* base 0, row 0: "0" */
    int ink = 0;
    for (int i = 0; i < W * h; i++)
        ink += c0[i] != WHITE;
    cr_assert(ink > 5, "no label found");
    int shift = rb.x - ra.x;   /* label widths may move the matrix */
    cr_assert_eq(shift, 0, "matrix moved by %d px", shift);
    cr_assert(memcmp(c0, c1, (size_t)(W * h) * 4) == 0, "base 1 row 0 is not labelled 1");
    cr_assert(memcmp(c0, c2, (size_t)(W * h) * 4) != 0, "base 1 row 0 still labelled 0");
    free(c0);
    free(c1);
    free(c2);
    test_png_free(&a);
    test_png_free(&b);

    o.index_base = 2;
    cr_assert_null(plot_begin(&o));
    cr_assert(strstr(nm_errmsg(), "index_base"), "%s", nm_errmsg());
}
