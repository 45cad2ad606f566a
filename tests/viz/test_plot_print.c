/* Figures as a paper needs them, checked on the decoded pixels (libpng)
 * and on what the plot reports (plot_get_info):
 *  - masks of one layer under different methods share cell size and axes,
 *    whether or not filters or channels were removed;
 *  - a heatmap sized to its content has tight margins and square cells;
 *  - every bar label is drawn (upright or smaller when needed), or the
 *    figure says which ones are shown;
 *  - a table sized to fit is drawn at print resolution;
 *  - a title wider than the figure is made to fit, not cut at the edges;
 *  - a line chart in a column keeps its tick labels apart and its plot
 *    area wide (a wide legend goes under the chart, bars too);
 *  - the header of a column of numbers is right-aligned over them;
 *  - the index labels of a small matrix do not run into each other;
 *  - figures stacked as panels keep their pixels, left-aligned. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "plot.h"
#include "helpers.h"

#define WHITE 0xFFFFFF

/* A 64-filter 3x3 conv over 64 channels (64 x 576 im2col, as ResNet-18's
 * layer1.0.conv1) with a 4:9 mask kept on the first 4 of every 9. */
static nm_model *conv64(void)
{
    nm_model *m = nm_model_new("c64", 64, 8, 8);
    cr_assert(nm_add_conv(m, "conv", NM_INPUT, 64, 3, 3, 1, 1, 1, 0) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 7);
    nm_layer *l = &m->layers[0];
    cr_assert_eq(nm_layer_ensure_mask(l), NM_OK);
    for (int64_t i = 0; i < l->mask->numel; i++)
        nm_u8(l->mask)[i] = (i % 9) < 4;
    l->wn = 4;
    l->wm = 9;
    return m;
}

/* Draws layer l's mask with options o and returns what the plot reports. */
static plot_info mask_info(const nm_layer *l, const plot_opts *o)
{
    plot *p = plot_begin(o);
    cr_assert_not_null(p, "%s", nm_errmsg());
    cr_assert_eq(plot_layer_mask(p, l, PLOT_MASK_KEPT), NM_OK, "%s", nm_errmsg());
    plot_info in;
    cr_assert_eq(plot_get_info(p, &in), NM_OK);
    test_png im;
    test_save_load(p, NULL, &im);
    cr_assert_eq(im.w, in.width);
    cr_assert_eq(im.h, in.height);
    test_png_free(&im);
    return in;
}

Test(print, masks_of_one_layer_share_scale_and_axes, .init = setup, .fini = teardown)
{
    /* plain N:M, and the same layer with 16 filters and 2 channels removed
     * (as NFFS and JointNF leave it): the removal marks must not move or
     * shrink the matrix */
    nm_model *a = conv64(), *b = conv64();
    nm_layer *lb = &b->layers[0];
    lb->filters = nm_tensor_new4(NM_U8, 1, 64, 0, 0, 0);
    nm_tensor_fill(lb->filters, 1);
    for (int i = 0; i < 64; i += 4)
        nm_u8(lb->filters)[i] = 0;
    lb->in_chans = nm_tensor_new4(NM_U8, 1, 64, 0, 0, 0);
    nm_tensor_fill(lb->in_chans, 1);
    nm_u8(lb->in_chans)[5] = nm_u8(lb->in_chans)[40] = 0;

    /* the fixed size fig_masks used (1400 x 270 at 100 dpi): the plain
     * mask got 2-px cells, the one with removals 1-px cells */
    plot_opts o = plot_defaults();
    o.width = 1400;
    o.height = 270;
    o.title = "layer1.0.conv1: some method";
    plot_info ia = mask_info(&a->layers[0], &o), ib = mask_info(lb, &o);
    cr_assert_eq(ia.cell_w, ib.cell_w, "cells %d vs %d px", ia.cell_w, ib.cell_w);
    cr_assert_eq(ia.cell_h, ib.cell_h);
    cr_assert(ia.data.x == ib.data.x && ia.data.y == ib.data.y && ia.data.w == ib.data.w &&
                  ia.data.h == ib.data.h,
              "matrix at %d,%d %dx%d vs %d,%d %dx%d", ia.data.x, ia.data.y, ia.data.w, ia.data.h,
              ib.data.x, ib.data.y, ib.data.w, ib.data.h);

    /* one cell size given in points (0.72 pt = 3 px at 300 dpi), figures
     * sized to fit: same scale, same matrix rectangle */
    o = plot_defaults();
    o.dpi = 300;
    o.cell = 0.72;
    o.title = "layer1.0.conv1: some method";
    ia = mask_info(&a->layers[0], &o);
    ib = mask_info(lb, &o);
    cr_assert_eq(ia.cell_w, 3);
    cr_assert_eq(ia.cell_h, 3);
    cr_assert_eq(ib.cell_w, 3);
    cr_assert_eq(ia.data.w, 576 * 3);
    cr_assert_eq(ia.data.h, 64 * 3);
    cr_assert(ia.data.x == ib.data.x && ia.data.y == ib.data.y && ia.data.w == ib.data.w &&
                  ia.data.h == ib.data.h,
              "matrix at %d,%d vs %d,%d", ia.data.x, ia.data.y, ib.data.x, ib.data.y);
    cr_assert_eq(ia.width, ib.width, "figures %d and %d px wide", ia.width, ib.width);

    /* a cell size that cannot fit a fixed figure is an error saying so */
    o.width = 800;
    o.height = 500;
    plot *p = plot_begin(&o);
    cr_assert_eq(plot_layer_mask(p, lb, PLOT_MASK_KEPT), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "cell"), "%s", nm_errmsg());
    plot_end(p);
    /* and an absurd one is refused up front */
    o.cell = -1;
    cr_assert_null(plot_begin(&o));
    cr_assert(strstr(nm_errmsg(), "cell"), "%s", nm_errmsg());
    nm_model_free(a);
    nm_model_free(b);
}

/* Blank rows and columns at each edge of the image (background only). */
typedef struct { int left, right, top, bottom; } margins;

static margins blank_edges(const test_png *im, uint32_t bg)
{
    margins m = {0, 0, 0, 0};
    int x0 = im->w, x1 = -1, y0 = im->h, y1 = -1;
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++)
            if (test_px(im, x, y) != bg) {
                x0 = x < x0 ? x : x0;
                x1 = x > x1 ? x : x1;
                y0 = y < y0 ? y : y0;
                y1 = y > y1 ? y : y1;
            }
    cr_assert(x1 >= 0, "blank image");
    m.left = x0;
    m.right = im->w - 1 - x1;
    m.top = y0;
    m.bottom = im->h - 1 - y1;
    return m;
}

/* Draws a heatmap with default options and checks its margins: at most
 * 14 pt (the 8 pt padding, half a tick label's room for the colour bar's
 * top label, what antialiasing leaves blank) and at most
 * max_frac of the figure on each side; cells square. */
static void check_tight(const plot_heat_data *d, const char *title, double max_frac)
{
    plot_opts o = plot_defaults();
    o.title = title;
    plot *p = plot_begin(&o);
    cr_assert_eq(plot_heatmap(p, d), NM_OK, "%s", nm_errmsg());
    plot_info in;
    cr_assert_eq(plot_get_info(p, &in), NM_OK);
    test_png im;
    test_save_load(p, NULL, &im);
    margins m = blank_edges(&im, WHITE);
    double lim = 14 * in.dpi / 72;
    cr_assert(m.left <= lim && m.right <= lim && m.top <= lim && m.bottom <= lim,
              "%lldx%lld: blank margins l%d r%d t%d b%d px (figure %dx%d), over %.0f px",
              (long long)d->rows, (long long)d->cols, m.left, m.right, m.top, m.bottom, im.w,
              im.h, lim);
    cr_assert(m.left + m.right <= max_frac * im.w && m.top + m.bottom <= max_frac * im.h,
              "%lldx%lld: margins l%d r%d t%d b%d px are over %.0f%% of %dx%d", (long long)d->rows,
              (long long)d->cols, m.left, m.right, m.top, m.bottom, max_frac * 100, im.w, im.h);
    cr_assert_eq(in.cell_w, in.cell_h, "cells %d x %d px", in.cell_w, in.cell_h);
    cr_assert_eq(in.data.w, in.cell_w * d->cols);
    cr_assert_eq(in.data.h, in.cell_h * d->rows);
    test_png_free(&im);
}

Test(print, heatmap_sized_to_its_content_has_tight_margins, .init = setup, .fini = teardown)
{
    /* a wide mask (the im2col view of a 3x3 conv), a short one, a narrow
     * matrix of values with a colour bar: the default 8 x 5 in left most
     * of each figure blank */
    static uint8_t wide[64 * 576], shortm[16 * 64];
    for (int i = 0; i < 64 * 576; i++)
        wide[i] = (i % 9) < 4;
    for (int i = 0; i < 16 * 64; i++)
        shortm[i] = (i / 64 + i % 64) % 2;
    double v[20 * 4];
    for (int i = 0; i < 80; i++)
        v[i] = i;
    plot_heat_data d1 = {.rows = 64, .cols = 576, .mask = wide, .group_m = 9};
    plot_heat_data d2 = {.rows = 16, .cols = 64, .mask = shortm};
    plot_heat_data d3 = {.rows = 20, .cols = 4, .values = v, .value_label = "|w|"};
    check_tight(&d1, "a wide mask", 0.2);
    check_tight(&d2, "a short mask", 0.2);
    check_tight(&d3, NULL, 0.2);
    /* a matrix larger than the figure is reduced by square blocks, so the
     * drawing keeps the data's aspect (1000 x 2048 is not drawn 2:3) */
    static uint8_t big[1000 * 2048];
    for (int i = 0; i < 1000 * 2048; i++)
        big[i] = (i % 4) < 2;
    plot_heat_data d4 = {.rows = 1000, .cols = 2048, .mask = big, .group_m = 4};
    plot *p = plot_begin(NULL);
    cr_assert_eq(plot_heatmap(p, &d4), NM_OK, "%s", nm_errmsg());
    plot_info in;
    cr_assert_eq(plot_get_info(p, &in), NM_OK);
    double aspect = (double)in.data.w / in.data.h;
    cr_assert(fabs(aspect / (2048.0 / 1000) - 1) < 0.02, "drawn %d x %d (aspect %.3f, data %.3f)",
              in.data.w, in.data.h, aspect, 2048.0 / 1000);
    plot_end(p);
    /* a title wider than a small matrix is set smaller or split, not a
     * reason for blank space beside the matrix */
    check_tight(&d3, "a title much longer than the narrow matrix and its colour bar", 0.2);
}

/* n category names like a ResNet's layers. */
static void layer_names(int n, char names[][32], const char **ptr)
{
    for (int g = 0; g < n; g++) {
        snprintf(names[g], 32, "layer%d.%d.conv%d", g / 12 + 1, g / 3 % 4, g % 3 + 1);
        ptr[g] = names[g];
    }
}

Test(print, every_bar_label_is_drawn_or_the_figure_says_which, .init = setup, .fini = teardown)
{
    enum { N = 54, BIG = 200 };
    static char names[BIG][32];
    static const char *groups[BIG];
    static double vals[2 * BIG];
    layer_names(BIG, names, groups);
    for (int i = 0; i < 2 * BIG; i++)
        vals[i] = 10 + i % 7;
    const char *series[2] = {"PE", "multiplier"};
    plot_bar_data d = {.n_groups = N, .groups = groups, .n_series = 2, .series = series,
                       .values = vals, .value_labels = 1};

    /* 54 groups in 1100 x 550 px (fig_energy's old size): every other
     * label used to vanish without a word; upright they all fit */
    plot_opts o = plot_defaults();
    o.width = 1100;
    o.height = 550;
    o.title = "Utilization per layer";
    plot *p = plot_begin(&o);
    cr_assert_eq(plot_bars(p, &d), NM_OK, "%s", nm_errmsg());
    plot_info in;
    cr_assert_eq(plot_get_info(p, &in), NM_OK);
    cr_assert_eq(in.x_labels, N);
    cr_assert_eq(in.x_labels_drawn, N, "%d of %d labels drawn", in.x_labels_drawn, N);
    cr_assert(in.x_label_pt >= 6, "labels at %.1f pt", in.x_label_pt);
    /* upright: the label band under the axis has ink under every bar
     * group's centre (column cx +- 1 px, first 2/3 of the band) */
    double slot = in.data.w / (double)N;
    test_png im;
    test_save_load(p, NULL, &im);
    cr_assert_eq(in.x_label_angle, 90);
    int y0 = in.data.y + in.data.h + 6, y1 = y0 + (int)(0.15 * im.h);
    for (int g = 0; g < N; g++) {
        int cx = in.data.x + (int)((g + 0.5) * slot), ink = 0;
        for (int y = y0; y < y1 && !ink; y++)
            for (int x = cx - 1; x <= cx + 1; x++)
                ink |= test_px(&im, x, y) != WHITE;
        cr_assert(ink, "no label under group %d (x=%d)", g + 1, cx);
    }
    /* and none runs off the figure: the outer 4 px below the axis are
     * blank (45-degree labels used to start left of the figure) */
    for (int y = in.data.y + in.data.h; y < im.h; y++)
        for (int x = 0; x < 4; x++) {
            cr_assert_eq(test_px(&im, x, y), WHITE, "label ink at %d,%d", x, y);
            cr_assert_eq(test_px(&im, im.w - 1 - x, y), WHITE, "label ink at %d,%d", im.w - 1 - x, y);
        }
    test_png_free(&im);

    /* 200 groups in a fixed 800 px: even 6 pt upright labels cannot all
     * fit, so every k-th is drawn, and the figure says so */
    d.n_groups = BIG;
    d.n_series = 1;
    d.series = NULL;
    d.value_labels = 0;
    o.width = 800;
    o.height = 500;
    p = plot_begin(&o);
    cr_assert_eq(plot_bars(p, &d), NM_OK, "%s", nm_errmsg());
    cr_assert_eq(plot_get_info(p, &in), NM_OK);
    cr_assert(in.x_labels_drawn < BIG && in.x_labels_drawn > BIG / 10, "%d drawn",
              in.x_labels_drawn);
    int k = (BIG + in.x_labels_drawn - 1) / in.x_labels_drawn;
    cr_assert_eq(in.x_label_pt, 6);
    test_save_load(p, NULL, &im);
    /* the note is the lowest text: ink in the last line above the margin,
     * starting at the plot area's left edge */
    int note_ink = 0;
    for (int y = im.h - 1 - (int)(14 * in.dpi / 72); y < im.h; y++)
        for (int x = in.data.x; x < in.data.x + 40; x++)
            note_ink |= test_px(&im, x, y) != WHITE;
    cr_assert(note_ink, "no note under the chart (every %d-th label drawn)", k);
    test_png_free(&im);

    /* the same with the width left automatic: the figure widens instead */
    o.width = 0;
    p = plot_begin(&o);
    cr_assert_eq(plot_bars(p, &d), NM_OK, "%s", nm_errmsg());
    cr_assert_eq(plot_get_info(p, &in), NM_OK);
    cr_assert_eq(in.x_labels_drawn, BIG);
    cr_assert(in.width > 800, "%d px wide", in.width);
    plot_end(p);
}

Test(print, table_sized_to_fit_is_print_resolution, .init = setup, .fini = teardown)
{
    /* fig_energy's table of totals: 478 x 139 px at 100 dpi before */
    const char *cells[] = {
        "system", "cycles", "speed-up", "PE util.", "mult. util.", "energy (uJ)",
        "pmac", "2087213", "1.00x", "62.3%", "62.3%", "1725.9",
        "bmac-3:9", "1043607", "2.00x", "62.3%", "41.5%", "1419.6",
        "nm-4:9-4:9", "1043607", "2.00x", "62.3%", "46.7%", "1094.5",
    };
    plot_opts o = plot_defaults();
    o.title = "ResNet-18, 32x32 array";
    plot *p = plot_begin(&o);
    cr_assert_eq(plot_table(p, 4, 6, cells), NM_OK, "%s", nm_errmsg());
    test_png im;
    test_save_load(p, NULL, &im);
    /* at least 300 dpi, and a column's width (3.3 in) or more of pixels */
    cr_assert(im.dpi >= 299.5, "%.0f dpi", im.dpi);
    cr_assert(im.w >= 1000, "table is %d x %d px", im.w, im.h);
    /* its size in inches is that of 9 pt text: the same as at 100 dpi */
    plot_opts o100 = o;
    o100.dpi = 100;
    p = plot_begin(&o100);
    cr_assert_eq(plot_table(p, 4, 6, cells), NM_OK, "%s", nm_errmsg());
    plot_info in;
    cr_assert_eq(plot_get_info(p, &in), NM_OK);
    cr_assert(fabs(im.w / 300.0 - in.width / 100.0) < 0.05, "%.2f in vs %.2f in", im.w / 300.0,
              in.width / 100.0);
    plot_end(p);
    test_png_free(&im);
}

Test(print, long_title_fits_the_figure, .init = setup, .fini = teardown)
{
    /* a column-width figure (3.5 in at 300 dpi) with a title longer than
     * the figure at 13 pt: it must be made smaller or split, not cut */
    const char *groups[3] = {"pmac", "bmac-3:9", "nm-4:9-4:9"};
    double v[3] = {1.73, 1.42, 1.09};
    plot_bar_data d = {.n_groups = 3, .groups = groups, .n_series = 1, .values = v,
                       .value_labels = 1};
    plot_opts o = plot_defaults();
    o.dpi = 300;
    o.width = 1050;
    o.height = 750;
    o.title = "Energy per inference of ResNet-18 on a 32 x 32 systolic array of nm-MACs";
    plot *p = plot_begin(&o);
    cr_assert_eq(plot_bars(p, &d), NM_OK, "%s", nm_errmsg());
    plot_rect rc;
    test_png im;
    test_save_load(p, &rc, &im);
    /* no ink in the outer 8 pt on either side, above the plot area */
    int pad = (int)(7 * o.dpi / 72);
    for (int y = 0; y < rc.y; y++)
        for (int x = 0; x < pad; x++) {
            cr_assert_eq(test_px(&im, x, y), WHITE, "title ink at %d,%d", x, y);
            cr_assert_eq(test_px(&im, im.w - 1 - x, y), WHITE, "title ink at %d,%d",
                         im.w - 1 - x, y);
        }
    test_png_free(&im);
}

#define AXIS 0x555555   /* light theme axis and tick marks */

/* Centres of the runs of AXIS pixels along row y (horizontal = 1) or
 * column x, between a and b; returns how many (at most max). */
static int tick_marks(const test_png *im, int horizontal, int at, int a, int b, int *out, int max)
{
    int n = 0;
    for (int i = a; i < b && n < max; i++) {
        uint32_t c = horizontal ? test_px(im, i, at) : test_px(im, at, i);
        if (c != AXIS)
            continue;
        int j = i;
        while (j + 1 < b && (horizontal ? test_px(im, j + 1, at) : test_px(im, at, j + 1)) == AXIS)
            j++;
        out[n++] = (i + j) / 2;
        i = j;
    }
    return n;
}

Test(print, line_chart_in_a_column_keeps_labels_apart, .init = setup, .fini = teardown)
{
    /* a column-width figure (3.5 x 2.5 in at 300 dpi) with four long
     * legend names: the legend used to take most of the width, leaving a
     * sliver where the x tick labels ran into each other and the y tick
     * labels touched */
    double x[10], y[40];
    for (int i = 0; i < 10; i++)
        x[i] = (i + 1) / 10.0;
    for (int s = 0; s < 4; s++)
        for (int i = 0; i < 10; i++)
            y[s * 10 + i] = 90 - (s + 1) * 3 * x[i] - 20 * x[i] * x[i];
    const char *names[4] = {"2:4 along input channels", "4:9 per kernel", "NFFS",
                            "JointNF (3 rounds)"};
    plot_line_data d = {.n_points = 10, .x = x, .n_series = 4, .series = names, .y = y,
                        .markers = 1};
    plot_opts o = plot_defaults();
    o.dpi = 300;
    o.width = 1050;
    o.height = 750;
    o.title = "Top-1 accuracy against sparsity, fmnist_cnn, four methods";
    o.xlabel = "sparsity";
    o.ylabel = "accuracy (%)";
    plot *p = plot_begin(&o);
    cr_assert_eq(plot_lines(p, &d), NM_OK, "%s", nm_errmsg());
    plot_rect rc;
    test_png im;
    test_save_load(p, &rc, &im);
    cr_assert(rc.w >= 0.6 * im.w, "plot area %d of %d px wide", rc.w, im.w);
    int lw = 3;   /* 0.75 pt at 300 dpi */
    double lh = 8.5 * 300 / 72 * 1.16;   /* a tick label's line */
    /* x: between neighbouring ticks, the label band is blank in the middle */
    int t[32];
    int n = tick_marks(&im, 1, rc.y + rc.h + lw * 2, rc.x - lw, rc.x + rc.w + lw, t, 32);
    cr_assert(n >= 3, "%d x ticks", n);
    int band0 = rc.y + rc.h + lw * 6, band1 = band0 + (int)lh;
    for (int i = 0; i + 1 < n; i++) {
        int mid = (t[i] + t[i + 1]) / 2;
        for (int yy = band0; yy < band1; yy++)
            for (int xx = mid - 1; xx <= mid + 1; xx++)
                cr_assert_eq(test_px(&im, xx, yy), WHITE,
                             "x tick labels %d and %d touch (ink at %d,%d)", i, i + 1, xx, yy);
    }
    /* y: tick labels at least 1.3 lines apart */
    n = tick_marks(&im, 0, rc.x - lw * 2, rc.y - lw, rc.y + rc.h + lw, t, 32);
    cr_assert(n >= 3, "%d y ticks", n);
    for (int i = 0; i + 1 < n; i++)
        cr_assert(t[i + 1] - t[i] >= 1.3 * lh, "y ticks %d px apart, a label is %.0f px",
                  t[i + 1] - t[i], lh);
    test_png_free(&im);
}

Test(print, wide_legend_goes_under_the_bars, .init = setup, .fini = teardown)
{
    /* fig_energy's systems chart at column width: six energy parts */
    const char *groups[3] = {"pmac", "bmac-3:9", "nm-4:9-4:9"};
    const char *parts[6] = {"multipliers", "adders", "select", "registers", "SRAM",
                            "accumulators + SFU"};
    double v[18];
    for (int i = 0; i < 18; i++)
        v[i] = 0.1 + (i % 5) * 0.05;
    plot_bar_data d = {.n_groups = 3, .groups = groups, .n_series = 6, .series = parts,
                       .values = v, .value_labels = 1};
    plot_opts o = plot_defaults();
    o.dpi = 300;
    o.width = 1050;
    o.height = 750;
    o.title = "Energy per inference";
    plot *p = plot_begin(&o);
    cr_assert_eq(plot_stacked(p, &d), NM_OK, "%s", nm_errmsg());
    plot_rect rc;
    test_png im;
    test_save_load(p, &rc, &im);
    cr_assert(rc.w >= 0.7 * im.w, "plot area %d of %d px wide", rc.w, im.w);
    /* every part's swatch is under the plot area */
    for (int s = 0; s < 6; s++) {
        uint32_t want[6] = {0x0072B2, 0xE69F00, 0x009E73, 0xD55E00, 0xCC79A7, 0x56B4E9};
        int found = 0;
        for (int yy = rc.y + rc.h + 1; yy < im.h && !found; yy++)
            for (int xx = 0; xx < im.w && !found; xx++)
                found = test_px(&im, xx, yy) == want[s];
        cr_assert(found, "no legend swatch for %s under the chart", parts[s]);
    }
    test_png_free(&im);
}

Test(print, numeric_column_header_is_right_aligned, .init = setup, .fini = teardown)
{
    const char *cells[6] = {"layer", "n", "conv1", "1234567", "fc", "89"};
    plot *p = plot_begin(NULL);
    cr_assert_eq(plot_table(p, 3, 2, cells), NM_OK, "%s", nm_errmsg());
    plot_rect rc;
    test_png im;
    test_save_load(p, &rc, &im);
    /* rightmost ink in the header row and in the first body row */
    int rowh = rc.h / 3, edge[2] = {-1, -1};
    for (int r = 0; r < 2; r++)
        for (int yy = rc.y + r * rowh + 2; yy < rc.y + (r + 1) * rowh - 2; yy++)
            for (int xx = rc.x; xx < rc.x + rc.w; xx++) {
                uint32_t c = test_px(&im, xx, yy);
                /* text is dark; the header band and rules are light grey */
                if (((c >> 16) & 255) < 128 && xx > edge[r])
                    edge[r] = xx;
            }
    cr_assert(edge[0] > 0 && edge[1] > 0);
    cr_assert(abs(edge[0] - edge[1]) <= 4, "header ends at x=%d, numbers at x=%d", edge[0],
              edge[1]);
    test_png_free(&im);
}

Test(print, index_labels_of_a_small_matrix_stay_apart, .init = setup, .fini = teardown)
{
    /* 40 x 10 values in 3-px cells (0.72 pt at 300 dpi): a 30 x 120 px
     * matrix, too small for five index labels a side */
    double v[400];
    for (int i = 0; i < 400; i++)
        v[i] = i % 17;
    plot_heat_data d = {.rows = 40, .cols = 10, .values = v};
    plot_opts o = plot_defaults();
    o.dpi = 300;
    o.cell = 0.72;
    plot *p = plot_begin(&o);
    cr_assert_eq(plot_heatmap(p, &d), NM_OK, "%s", nm_errmsg());
    plot_rect rc;
    test_png im;
    test_save_load(p, &rc, &im);
    cr_assert_eq(rc.w, 30);
    double lh = 8.5 * 300 / 72 * 1.16, digit = 8.5 * 300 / 72 * 0.64;
    /* column labels: the ink under the matrix spans at most two digits
     * (overlapping labels 1, 2, 4, ..., 10 spanned about 55 px) */
    int x0 = im.w, x1 = -1;
    for (int y = rc.y + rc.h + 2; y < rc.y + rc.h + (int)lh; y++)
        for (int x = 0; x < im.w; x++)
            if (test_px(&im, x, y) != WHITE && x > rc.x - 25 && x < rc.x + rc.w + 40) {
                x0 = x < x0 ? x : x0;
                x1 = x > x1 ? x : x1;
            }
    cr_assert(x1 >= x0, "no column label");
    cr_assert(x1 - x0 + 1 <= 2 * digit, "column labels span %d px (two digits: %.0f)",
              x1 - x0 + 1, 2 * digit);
    /* row labels: blocks of ink rows left of the matrix at least 1.3
     * lines apart */
    int prev = -1000, y = rc.y - (int)lh;
    while (y < rc.y + rc.h + (int)lh) {
        int ink = 0;
        for (int x = 0; x < rc.x - 2 && !ink; x++)
            ink = test_px(&im, x, y) != WHITE;
        if (!ink) {
            y++;
            continue;
        }
        int top = y;
        while (y < im.h) {
            int more = 0;
            for (int x = 0; x < rc.x - 2 && !more; x++)
                more = test_px(&im, x, y) != WHITE;
            if (!more)
                break;
            y++;
        }
        int centre = (top + y) / 2;
        cr_assert(centre - prev >= 1.3 * lh, "row labels %d px apart (a line is %.0f)",
                  centre - prev, lh);
        prev = centre;
    }
    test_png_free(&im);
}

Test(print, stacked_panels_share_scale_and_axes, .init = setup, .fini = teardown)
{
    /* the masks of one layer with and without removals, drawn with one
     * cell size, stacked: each panel's pixels land unchanged, left-aligned,
     * so the two matrices start at the same x with the same width */
    nm_model *a = conv64(), *b = conv64();
    nm_layer *lb = &b->layers[0];
    lb->filters = nm_tensor_new4(NM_U8, 1, 64, 0, 0, 0);
    nm_tensor_fill(lb->filters, 1);
    nm_u8(lb->filters)[3] = 0;
    plot_opts o = plot_defaults();
    o.dpi = 150;
    o.cell = 0.96;   /* 2 px */
    o.title = "(a) one method";
    plot *pa = plot_begin(&o);
    o.title = "(b) a method that removes filters, with a longer title";
    plot *pb = plot_begin(&o);
    cr_assert_eq(plot_layer_mask(pa, &a->layers[0], PLOT_MASK_KEPT), NM_OK, "%s", nm_errmsg());
    cr_assert_eq(plot_layer_mask(pb, lb, PLOT_MASK_KEPT), NM_OK, "%s", nm_errmsg());
    plot_info ia, ib;
    cr_assert_eq(plot_get_info(pa, &ia), NM_OK);
    cr_assert_eq(plot_get_info(pb, &ib), NM_OK);
    char pa_path[200], pb_path[200];
    snprintf(pa_path, sizeof pa_path, "%s/a.png", dir);
    snprintf(pb_path, sizeof pb_path, "%s/b.png", dir);
    cr_assert_eq(plot_save(pa, pa_path), NM_OK);
    cr_assert_eq(plot_save(pb, pb_path), NM_OK);

    plot *st = plot_begin(NULL);
    const plot *panels[2] = {pa, pb};
    cr_assert_eq(plot_stack(st, panels, 2), NM_OK, "%s", nm_errmsg());
    plot_info is;
    cr_assert_eq(plot_get_info(st, &is), NM_OK);
    cr_assert_float_eq(is.dpi, 150, 1e-9);   /* the panels' dpi */
    test_png im, ima, imb;
    test_save_load(st, NULL, &im);
    cr_assert_eq(test_png_load(pa_path, &ima), 0);
    cr_assert_eq(test_png_load(pb_path, &imb), 0);
    int gap = (int)round(4 * 150 / 72.0);
    cr_assert_eq(im.w, ima.w > imb.w ? ima.w : imb.w);
    cr_assert_eq(im.h, ima.h + gap + imb.h, "%d vs %d + %d + %d", im.h, ima.h, gap, imb.h);
    for (int y = 0; y < ima.h; y += 3)
        for (int x = 0; x < ima.w; x += 3)
            cr_assert_eq(test_px(&im, x, y), test_px(&ima, x, y), "panel a at %d,%d", x, y);
    int yb = ima.h + gap;
    for (int y = 0; y < imb.h; y += 3)
        for (int x = 0; x < imb.w; x += 3)
            cr_assert_eq(test_px(&im, x, yb + y), test_px(&imb, x, y), "panel b at %d,%d", x, y);
    /* the matrices: same x, same width, one scale */
    cr_assert_eq(ia.data.x, ib.data.x);
    cr_assert_eq(ia.data.w, ib.data.w);
    cr_assert_eq(ia.cell_w, 2);
    cr_assert_eq(ib.cell_w, 2);
    test_png_free(&im);
    test_png_free(&ima);
    test_png_free(&imb);

    /* panels at different dpi, an empty panel: refused, naming the panel */
    plot_opts o2 = plot_defaults();
    o2.dpi = 300;
    plot *pc = plot_begin(&o2);
    st = plot_begin(NULL);
    const plot *bad[2] = {pa, pc};
    cr_assert_eq(plot_stack(st, bad, 2), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "panel 2"), "%s", nm_errmsg());
    cr_assert_eq(plot_layer_mask(pc, lb, PLOT_MASK_KEPT), NM_OK, "%s", nm_errmsg());
    cr_assert_eq(plot_stack(st, bad, 2), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "dpi"), "%s", nm_errmsg());
    cr_assert_eq(plot_save(st, path), NM_ERR);   /* nothing drawn, no file */
    plot_end(st);
    plot_end(pa);
    plot_end(pb);
    plot_end(pc);
    nm_model_free(a);
    nm_model_free(b);
}
