/* Chart kinds, checked on the decoded pixels: bar heights against the
 * values, mask cells against the mask, ramp ends against viridis, block
 * reduction of large masks; validation leaves no file behind. */
#include <criterion/criterion.h>
#include <math.h>

#include "plot.h"
#include "plot_internal.h"
#include "helpers.h"

/* Vertical runs of colour c in column x: top row and height of the first. */
static int column_run(const test_png *im, int x, uint32_t c, int *top)
{
    int y = 0;
    while (y < im->h && test_px(im, x, y) != c)
        y++;
    *top = y;
    int h = 0;
    while (y < im->h && test_px(im, x, y) == c) {
        y++;
        h++;
    }
    return h;
}

/* Heights of the bars of colour c, left to right, found by scanning pixel
 * columns: a bar is a run of adjacent columns holding the colour. */
static int bar_heights(const test_png *im, int x0, int x1, uint32_t c, int *heights, int *bottoms,
                       int cap)
{
    int n = 0, in = 0;
    for (int x = x0; x < x1; x++) {
        int top, h = column_run(im, x, c, &top);
        if (h > 0 && !in && n < cap) {
            heights[n] = h;
            bottoms[n] = top + h;
            n++;
        }
        in = h > 0;
    }
    return n;
}

Test(plot, bar_heights_follow_values, .init = setup, .fini = teardown)
{
    const char *g[] = {"a", "b", "c"};
    double v[3] = {0.2, 0.8, 0.5};
    plot_bar_data d = {.n_groups = 3, .groups = g, .n_series = 1, .values = v, .value_labels = 1};
    plot_opts o = plot_defaults();
    o.title = "bars";
    plot *p = plot_begin(&o);
    cr_assert_not_null(p, "%s", nm_errmsg());
    cr_assert_eq(plot_bars(p, &d), NM_OK, "%s", nm_errmsg());
    test_png im;
    test_save_load(p, NULL, &im);
    int h[8], b[8];
    int n = bar_heights(&im, 0, im.w, BLUE, h, b, 8);
    cr_assert_eq(n, 3, "found %d bars", n);
    cr_assert(h[0] > 20, "bar too small to measure: %d", h[0]);
    cr_assert(fabs(h[1] - 4.0 * h[0]) <= 4.0, "0.8 bar %d px vs 0.2 bar %d px", h[1], h[0]);
    cr_assert(fabs(h[0] - h[1] / 4.0) <= 1.0, "0.2 bar within a pixel of a quarter of 0.8's");
    cr_assert(fabs(h[2] - 2.5 * h[0]) <= 3.0, "0.5 bar %d px", h[2]);
    cr_assert(b[0] == b[1] && b[1] == b[2], "common baseline");
    test_png_free(&im);
}

Test(plot, grouped_and_stacked_series, .init = setup, .fini = teardown)
{
    const char *g[] = {"sysA", "sysB"};
    const char *s[] = {"compute", "memory"};
    double v[4] = {0.3, 0.1, 0.6, 0.2};   /* series-major: compute {0.3,0.1}, memory {0.6,0.2} */
    plot_bar_data d = {.n_groups = 2, .groups = g, .n_series = 2, .series = s, .values = v};
    plot *p = plot_begin(NULL);
    cr_assert_eq(plot_stacked(p, &d), NM_OK, "%s", nm_errmsg());
    plot_rect r;
    test_png im;
    test_save_load(p, &r, &im);
    /* in the middle of group A's stack: compute (blue) below memory (orange) */
    int x = r.x + r.w / 4, tb, to;
    int hb = column_run(&im, x, BLUE, &tb), ho = column_run(&im, x, ORANGE, &to);
    cr_assert(hb > 10 && ho > 10, "%d %d", hb, ho);
    cr_assert(fabs(ho - 2.0 * hb) <= 2.0, "0.6 segment %d px, 0.3 segment %d px", ho, hb);
    cr_assert_eq(to + ho, tb, "memory sits on compute");
    test_png_free(&im);

    /* grouped: the same data side by side, equal baselines */
    p = plot_begin(NULL);
    d.value_labels = 1;
    cr_assert_eq(plot_bars(p, &d), NM_OK, "%s", nm_errmsg());
    test_save_load(p, &r, &im);
    int h[4], b[4];   /* within the data area: the legend has swatches too */
    cr_assert_eq(bar_heights(&im, r.x, r.x + r.w, BLUE, h, b, 4), 2);
    int h2[4], b2[4];
    cr_assert_eq(bar_heights(&im, r.x, r.x + r.w, ORANGE, h2, b2, 4), 2);
    cr_assert(fabs(h2[0] - 2.0 * h[0]) <= 2.0);
    cr_assert(fabs(h[0] - 3.0 * h[1]) <= 3.0);
    cr_assert_eq(b[0], b2[1]);
    test_png_free(&im);
}

Test(plot, mask_cells_have_kept_and_pruned_colours, .init = setup, .fini = teardown)
{
    enum { R = 8, C = 16 };
    uint8_t mask[R * C], removed[R] = {0};
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            mask[r * C + c] = ((c + r) % 4) < 2;   /* 2:4 pattern, shifted per row */
    removed[5] = 1;
    plot_heat_data d = {.rows = R, .cols = C, .mask = mask, .rows_removed = removed, .group_m = 4};
    plot *p = plot_begin(NULL);
    cr_assert_eq(plot_heatmap(p, &d), NM_OK, "%s", nm_errmsg());
    plot_rect rc;
    test_png im;
    test_save_load(p, &rc, &im);
    cr_assert(rc.w >= C * 3 && rc.h >= R * 3, "cells are drawn at least 3 px wide");
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) {
            uint32_t want = mask[r * C + c] ? BLUE : PRUNED;
            cr_assert_eq(test_cell_px(&im, rc, R, C, r, c), want, "cell %d,%d is %06x", r, c,
                         test_cell_px(&im, rc, R, C, r, c));
        }
    /* removed row 5 has the marker left of the matrix, row 4 has not */
    int found5 = 0, found4 = 0;
    for (int x = rc.x - 1; x >= 0 && x > rc.x - 40; x--) {
        found5 |= test_px(&im, x, rc.y + (int)(5.5 * rc.h / R)) == VERMILLION;
        found4 |= test_px(&im, x, rc.y + (int)(4.5 * rc.h / R)) == VERMILLION;
    }
    cr_assert(found5 && !found4);
    test_png_free(&im);
}

Test(plot, heatmap_ramp_ends_are_viridis, .init = setup, .fini = teardown)
{
    enum { R = 4, C = 5 };
    double v[R * C];
    for (int i = 0; i < R * C; i++)
        v[i] = -3.0 + i * 0.5;
    plot_heat_data d = {.rows = R, .cols = C, .values = v, .value_label = "value"};
    plot *p = plot_begin(NULL);
    cr_assert_eq(plot_heatmap(p, &d), NM_OK, "%s", nm_errmsg());
    plot_rect rc;
    test_png im;
    test_save_load(p, &rc, &im);
    cr_assert_eq(test_cell_px(&im, rc, R, C, 0, 0), VIRIDIS_LO);
    cr_assert_eq(test_cell_px(&im, rc, R, C, R - 1, C - 1), VIRIDIS_HI);
    /* the colour bar to the right holds both ends too */
    int lo = 0, hi = 0;
    for (int x = rc.x + rc.w; x < im.w; x++)
        for (int y = rc.y; y < rc.y + rc.h; y++) {
            lo |= test_px(&im, x, y) == VIRIDIS_LO;
            hi |= test_px(&im, x, y) == VIRIDIS_HI;
        }
    cr_assert(lo && hi, "colour bar");
    test_png_free(&im);
}

/* 40 x 6000 mask: left 4000 columns kept, the rest pruned. Too wide for the
 * area, so it is reduced by blocks; no column is dropped: the rightmost
 * cells are fully pruned (ramp low end), the leftmost fully kept. */
Test(plot, large_mask_is_reduced_not_truncated, .init = setup, .fini = teardown)
{
    enum { R = 40, C = 6000 };
    uint8_t *mask = malloc(R * C);
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++)
            mask[r * C + c] = c < 4000;
    plot_heat_data d = {.rows = R, .cols = C, .mask = mask};
    plot *p = plot_begin(NULL);
    cr_assert_eq(plot_heatmap(p, &d), NM_OK, "%s", nm_errmsg());
    plot_rect rc;
    test_png im;
    test_save_load(p, &rc, &im);
    free(mask);
    cr_assert(rc.w < C);
    int y = rc.y + rc.h / 2;
    cr_assert_eq(test_px(&im, rc.x, y), VIRIDIS_HI);
    cr_assert_eq(test_px(&im, rc.x + rc.w - 1, y), VIRIDIS_LO);
    /* the kept/pruned edge sits at 4000/6000 of the width (within a block) */
    int edge = rc.x;
    while (edge < rc.x + rc.w && test_px(&im, edge, y) == VIRIDIS_HI)
        edge++;
    double want = rc.x + rc.w * 4000.0 / 6000.0;
    cr_assert(fabs(edge - want) <= 1.0 + rc.w / 200.0, "edge at %d, expected %.1f", edge, want);
    test_png_free(&im);
}

Test(plot, lines_and_table_render, .init = setup, .fini = teardown)
{
    double x[4] = {1, 2, 4, 8}, y[8] = {1, 2, 3, 4, 4, 3, 2, 1};
    const char *s[2] = {"up", "down"};
    plot_line_data d = {.n_points = 4, .x = x, .n_series = 2, .series = s, .y = y, .markers = 1};
    plot_opts o = plot_defaults();
    o.xlabel = "x";
    o.ylabel = "y";
    plot *p = plot_begin(&o);
    cr_assert_eq(plot_lines(p, &d), NM_OK, "%s", nm_errmsg());
    test_png im;
    test_save_load(p, NULL, &im);
    cr_assert_eq(im.w, 800);
    cr_assert_eq(im.h, 500);
    int blue = 0, orange = 0;
    for (int i = 0; i < im.w * im.h; i++) {
        blue += test_px(&im, i % im.w, i / im.w) == BLUE;
        orange += test_px(&im, i % im.w, i / im.w) == ORANGE;
    }
    cr_assert(blue > 100 && orange > 100, "%d %d", blue, orange);
    test_png_free(&im);

    const char *cells[6] = {"layer", "density", "conv1", "50%", "fc", "12.5%"};
    p = plot_begin(NULL);
    cr_assert_eq(plot_table(p, 3, 2, cells), NM_OK, "%s", nm_errmsg());
    test_save_load(p, NULL, &im);
    /* sized to fit, at print resolution (300 dpi when the dpi is left 0) */
    cr_assert(im.w >= 64 && im.w < 1200 && im.h >= 64 && im.h < 600, "%d x %d", im.w, im.h);
    cr_assert_float_eq(im.dpi, 300, 0.5);
    test_png_free(&im);

    o = plot_defaults();
    o.width = 64;
    o.height = 64;
    p = plot_begin(&o);
    const char *wide[2] = {"a very long header that cannot fit in 64 pixels", "x"};
    cr_assert_eq(plot_table(p, 1, 2, wide), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "needs"), "%s", nm_errmsg());
    plot_end(p);
}

/* The tick rule, checked on many ranges: the step is 1, 2 or 5 times a
 * power of ten, ticks enclose the data, and there are 3..12 of them. */
Test(plot, nice_ticks_are_1_2_5)
{
    double los[] = {0, 0, -3.7, 0.013, 12, -7e5, 0.5, 0};
    double his[] = {0.8, 1, 3.7, 0.0131, 99, 1e6, 0.5, 0};
    for (int i = 0; i < 8; i++) {
        plot_ticks t;
        plot_nice_ticks(los[i], his[i], 5, &t);
        double e = floor(log10(t.step));
        double m = t.step / pow(10, e);
        cr_assert(fabs(m - 1) < 1e-9 || fabs(m - 2) < 1e-9 || fabs(m - 5) < 1e-9,
                  "range %d: step %g", i, t.step);
        cr_assert(t.lo <= los[i] + 1e-12 && t.hi >= his[i] - 1e-12, "range %d: [%g, %g]", i,
                  t.lo, t.hi);
        cr_assert(t.n >= 3 && t.n <= 12, "range %d: %d ticks", i, t.n);
        double k = t.lo / t.step;
        cr_assert(fabs(k - round(k)) < 1e-6, "first tick on the step grid");
    }
    plot_ticks t;
    plot_nice_ticks(0, 0.8, 5, &t);
    cr_assert_float_eq(t.step, 0.2, 1e-12);   /* 0, 0.2, ..., 0.8 */
    cr_assert_eq(t.n, 5);
    char buf[32];
    plot_tick_label(&t, 3, buf, sizeof buf);
    cr_assert_str_eq(buf, "0.6");
    /* negative ticks carry a true minus sign (U+2212), not a hyphen */
    plot_nice_ticks(-3.7, 3.7, 5, &t);
    plot_tick_label(&t, 0, buf, sizeof buf);
    cr_assert_str_eq(buf, "\xe2\x88\x92" "4");
    plot_tick_label(&t, t.n / 2, buf, sizeof buf);
    cr_assert_str_eq(buf, "0");
}

/* Every bad argument: NM_ERR, a message naming the problem, no file. */
Test(plot, bad_arguments_leave_no_file, .init = setup, .fini = teardown)
{
    const char *g[] = {"a", "b"};
    double nanv[2] = {0.5, NAN}, infv[2] = {INFINITY, 1}, neg[2] = {-1, 1};
    plot *p = plot_begin(NULL);

    plot_bar_data d = {.n_groups = 0, .groups = g, .n_series = 1, .values = nanv};
    cr_assert_eq(plot_bars(p, &d), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "0 groups"), "%s", nm_errmsg());
    d.n_groups = 2;
    cr_assert_eq(plot_bars(p, &d), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "NaN"), "%s", nm_errmsg());
    d.values = infv;
    cr_assert_eq(plot_bars(p, &d), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "infinite"), "%s", nm_errmsg());
    d.values = neg;
    cr_assert_eq(plot_stacked(p, &d), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "negative"), "%s", nm_errmsg());
    d.n_series = 2;   /* two series without names */
    cr_assert_eq(plot_bars(p, &d), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "names"), "%s", nm_errmsg());
    d.n_series = 9;
    cr_assert_eq(plot_bars(p, &d), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "9 series"), "%s", nm_errmsg());

    double y[3] = {1, NAN, 3};
    plot_line_data ld = {.n_points = 3, .n_series = 1, .y = y};
    cr_assert_eq(plot_lines(p, &ld), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "NaN"), "%s", nm_errmsg());
    ld.n_points = 0;
    cr_assert_eq(plot_lines(p, &ld), NM_ERR);

    plot_heat_data hd = {.rows = 1 << 20, .cols = 1 << 20, .values = nanv};
    cr_assert_eq(plot_heatmap(p, &hd), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "out of range"), "%s", nm_errmsg());
    hd.rows = 0;
    cr_assert_eq(plot_heatmap(p, &hd), NM_ERR);
    hd.rows = 1;
    hd.cols = 2;
    cr_assert_eq(plot_heatmap(p, &hd), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "NaN"), "%s", nm_errmsg());
    hd.values = NULL;
    cr_assert_eq(plot_heatmap(p, &hd), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "neither"), "%s", nm_errmsg());

    /* too many groups for the width */
    enum { NG = 2000 };
    const char *many[NG];
    double mv[NG];
    for (int i = 0; i < NG; i++) {
        many[i] = "g";
        mv[i] = 1;
    }
    plot_bar_data md = {.n_groups = NG, .groups = many, .n_series = 1, .values = mv};
    cr_assert_eq(plot_bars(p, &md), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "wider"), "%s", nm_errmsg());

    /* nothing was drawn, so nothing is saved */
    cr_assert_eq(plot_save(p, path), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "nothing drawn"), "%s", nm_errmsg());
    plot_end(p);
    cr_assert_eq(tmpdir_count(dir), 0, "no file, no temporary file");

    /* absurd figure sizes and dpi */
    plot_opts o = plot_defaults();
    o.width = 100000;
    cr_assert_null(plot_begin(&o));
    cr_assert(strstr(nm_errmsg(), "width 100000"), "%s", nm_errmsg());
    o = plot_defaults();
    o.dpi = 1e6;
    cr_assert_null(plot_begin(&o));
    cr_assert(strstr(nm_errmsg(), "dpi"), "%s", nm_errmsg());
    o.dpi = NAN;
    cr_assert_null(plot_begin(&o));
    o = plot_defaults();
    o.title = "bad \xff\xfe";
    cr_assert_null(plot_begin(&o));
    cr_assert(strstr(nm_errmsg(), "title is not valid UTF-8"), "%s", nm_errmsg());
    o.title = "ok";
    o.params = "\xed\xa0\x80";   /* a UTF-16 surrogate */
    cr_assert_null(plot_begin(&o));
    cr_assert(strstr(nm_errmsg(), "params"), "%s", nm_errmsg());

    /* a bad string inside a chart (group name) is caught by cairo */
    const char *badg[] = {"a", "\xc0\x80"};
    double ok[2] = {1, 2};
    p = plot_begin(NULL);
    plot_bar_data bd = {.n_groups = 2, .groups = badg, .n_series = 1, .values = ok};
    cr_assert_eq(plot_bars(p, &bd), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "cairo"), "%s", nm_errmsg());
    cr_assert_eq(plot_save(p, path), NM_ERR);
    plot_end(p);
    cr_assert_eq(tmpdir_count(dir), 0);
}

Test(plot, one_chart_per_figure)
{
    const char *g[] = {"a"};
    double v[1] = {1};
    plot_bar_data d = {.n_groups = 1, .groups = g, .n_series = 1, .values = v};
    plot *p = plot_begin(NULL);
    cr_assert_eq(plot_bars(p, &d), NM_OK);
    cr_assert_eq(plot_bars(p, &d), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "already holds"), "%s", nm_errmsg());
    plot_end(p);
    /* the default 8 x 5 inches at 1200 dpi is 9600 x 6000: too many pixels */
    plot_opts o = plot_defaults();
    o.dpi = 1200;
    p = plot_begin(&o);
    cr_assert_eq(plot_bars(p, &d), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "9600 x 6000"), "%s", nm_errmsg());
    plot_end(p);
}
