/* plot_pareto's optional parts: error bars drawn where the axes put them
 * (a vertical bar of half-width 4 on the middle of three points on 0..10
 * axes, looked for in the decoded PNG; none without it), labels beside
 * their points, and bad half-widths refused with a message naming them. */
#include "helpers.h"

#include <math.h>
#include <string.h>

static const double X[3] = {0, 5, 10}, Y[3] = {0, 5, 10};

/* Pixels in columns cx-2..cx+2, rows y0..y1, that are blue-dominated (the
 * first category colour, antialiased against the light background; the
 * grid and the text are grey). */
static int blue_in_strip(const test_png *im, int cx, int y0, int y1)
{
    int n = 0;
    for (int y = y0; y <= y1; y++)
        for (int x = cx - 2; x <= cx + 2; x++) {
            uint32_t p = test_px(im, x, y);
            int r = (int)(p >> 16 & 255), b = (int)(p & 255);
            n += b - r > 40;
        }
    return n;
}

/* Draws the three points with yerr (may be NULL) and labels; returns the
 * decoded image and the data rectangle. */
static void draw(const double *yerr, const char *const *labels, test_png *im, plot_rect *rc)
{
    plot_opts o = plot_defaults();
    o.title = "pareto";
    plot *p = plot_begin(&o);
    cr_assert_not_null(p, "%s", nm_errmsg());
    plot_pareto_data d = {.n = 3, .x = X, .y = Y, .yerr = yerr, .labels = labels};
    cr_assert_eq(plot_pareto(p, &d), NM_OK, "%s", nm_errmsg());
    test_save_load(p, rc, im);
}

Test(pareto, error_bars_where_the_axes_put_them, .init = setup, .fini = teardown)
{
    const double yerr[3] = {0, 4, 0};
    test_png a, b;
    plot_rect ra, rb;
    draw(yerr, NULL, &a, &ra);
    draw(NULL, NULL, &b, &rb);
    cr_assert_eq(memcmp(&ra, &rb, sizeof ra), 0, "the bars stay inside 0..10: same axes");
    /* x = 5 in the middle; y from 2.5 to 3.5 (under the marker at 5, above
     * the bar's end at 1, clear of the grid lines at 2 and 4) */
    int cx = ra.x + ra.w / 2;
    int y0 = (int)lround(ra.y + ra.h * (1 - 0.35)), y1 = (int)lround(ra.y + ra.h * (1 - 0.25));
    int with = blue_in_strip(&a, cx, y0, y1), without = blue_in_strip(&b, cx, y0, y1);
    cr_assert_geq(with, y1 - y0, "a bar pixel on every row: %d of %d rows", with, y1 - y0 + 1);
    cr_assert_eq(without, 0);
    /* above the bar's top (y 9.5) nothing */
    int t0 = (int)lround(ra.y + ra.h * (1 - 0.97)), t1 = (int)lround(ra.y + ra.h * (1 - 0.93));
    cr_assert_eq(blue_in_strip(&a, cx, t0, t1), 0, "the bar ends at 9");
    test_png_free(&a);
    test_png_free(&b);
}

Test(pareto, labels_beside_their_points, .init = setup, .fini = teardown)
{
    const char *labels[3] = {"a", "middle", NULL};
    test_png a, b;
    plot_rect ra, rb;
    draw(NULL, labels, &a, &ra);
    draw(NULL, NULL, &b, &rb);
    /* right of and above the middle point: dark text pixels only with labels */
    int cx = ra.x + ra.w / 2, cy = ra.y + ra.h / 2, dark_a = 0, dark_b = 0;
    for (int y = cy - 20; y < cy; y++)
        for (int x = cx + 4; x < cx + 60; x++) {
            uint32_t pa = test_px(&a, x, y), pb = test_px(&b, x, y);
            dark_a += (pa >> 16 & 255) < 100 && (pa & 255) < 100;
            dark_b += (pb >> 16 & 255) < 100 && (pb & 255) < 100;
        }
    cr_assert_gt(dark_a, 20, "%d dark pixels", dark_a);
    cr_assert_eq(dark_b, 0);
    test_png_free(&a);
    test_png_free(&b);
}

Test(pareto, bad_half_widths_named, .init = setup, .fini = teardown)
{
    plot_opts o = plot_defaults();
    plot *p = plot_begin(&o);
    const double neg[3] = {0, -1, 0}, nan3[3] = {0, NAN, 0};
    plot_pareto_data d = {.n = 3, .x = X, .y = Y, .xerr = neg};
    cr_assert_eq(plot_pareto(p, &d), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "xerr[1] is negative"), "%s", nm_errmsg());
    d.xerr = NULL, d.yerr = nan3;
    cr_assert_eq(plot_pareto(p, &d), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "plot_pareto: yerr"), "%s", nm_errmsg());
    cr_assert_eq(plot_save(p, path), NM_ERR, "nothing drawn, nothing saved");
    plot_end(p);
}
