/* plot_roofline: points land where the log-log axes put them (worked out
 * here from the decades the data span), each bound in its own colour and
 * shape, the roof on the bandwidth slope, bad input refused by name. */
#include <criterion/criterion.h>
#include <math.h>

#include "plot.h"
#include "helpers.h"

/* Centroid of the pixels of colour c inside rectangle rc; their count. */
static int centroid(const test_png *im, plot_rect rc, uint32_t c, double *cx, double *cy)
{
    int n = 0;
    double sx = 0, sy = 0;
    for (int y = rc.y; y < rc.y + rc.h; y++)
        for (int x = rc.x; x < rc.x + rc.w; x++)
            if (test_px(im, x, y) == c)
                n++, sx += x, sy += y;
    if (n)
        *cx = sx / n, *cy = sy / n;
    return n;
}

static int count_colour(const test_png *im, uint32_t c)
{
    int n = 0;
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++)
            n += test_px(im, x, y) == c;
    return n;
}

/* Darkest pixel (sum of channels) within r px of (x, y). */
static int darkest_near(const test_png *im, int x, int y, int r)
{
    int best = 3 * 255;
    for (int j = y - r; j <= y + r; j++)
        for (int i = x - r; i <= x + r; i++) {
            if (i < 0 || j < 0 || i >= im->w || j >= im->h)
                continue;
            uint32_t c = test_px(im, i, j);
            int s = (int)((c >> 16) & 255) + (int)((c >> 8) & 255) + (int)(c & 255);
            best = s < best ? s : best;
        }
    return best;
}

Test(roofline, points_on_log_axes_by_bound, .init = setup, .fini = teardown)
{
    /* peak 100, bandwidth 10 words/cycle: ridge at intensity 10. x spans
     * 2..50 (and the ridge) -> decades 10^0..10^2; y spans 10..100 (peak,
     * with 5 % headroom: 105) -> decades 10^1..10^3. */
    const char *names[2] = {"conv_mem", "conv_cmp"};
    double x[2] = {2, 50}, y[2] = {20, 40};
    uint8_t mem[2] = {1, 0};
    plot_roof_data d = {.n = 2, .names = names, .intensity = x, .perf = y, .memory_bound = mem,
                        .peak = 100, .bandwidth = 10};
    plot_opts o = plot_defaults();
    o.title = "roofline";
    o.xlabel = "intensity";
    o.ylabel = "MACs / cycle";
    o.dpi = 300;
    plot *p = plot_begin(&o);
    cr_assert_not_null(p, "%s", nm_errmsg());
    cr_assert_eq(plot_roofline(p, &d), NM_OK, "%s", nm_errmsg());
    plot_rect rc;
    test_png im;
    test_save_load(p, &rc, &im);
    cr_assert(im.w == 2400 && im.h == 1500, "8 x 5 in at 300 dpi: %d x %d", im.w, im.h);
    double ex[2], ey[2];
    for (int i = 0; i < 2; i++) {
        ex[i] = rc.x + log10(x[i]) / 2 * rc.w;
        ey[i] = rc.y + rc.h - (log10(y[i]) - 1) / 2 * rc.h;
    }
    double cx, cy;
    cr_assert(centroid(&im, rc, VERMILLION, &cx, &cy) > 20, "memory-bound square drawn");
    cr_assert(fabs(cx - ex[0]) < 3 && fabs(cy - ey[0]) < 3, "memory point at %.1f,%.1f, expected %.1f,%.1f",
              cx, cy, ex[0], ey[0]);
    cr_assert(centroid(&im, rc, BLUE, &cx, &cy) > 20, "compute-bound circle drawn");
    cr_assert(fabs(cx - ex[1]) < 3 && fabs(cy - ey[1]) < 3, "compute point at %.1f,%.1f, expected %.1f,%.1f",
              cx, cy, ex[1], ey[1]);
    /* the roof: the slope through (3, 30) and the flat peak at (30, 100) */
    int sx = (int)lround(rc.x + log10(3) / 2 * rc.w), sy = (int)lround(rc.y + rc.h - (log10(30) - 1) / 2 * rc.h);
    cr_assert(darkest_near(&im, sx, sy, 2) < 200, "slope passes (3, 30)");
    int fx = (int)lround(rc.x + log10(30) / 2 * rc.w), fy = (int)lround(rc.y + rc.h - 1.0 / 2 * rc.h);
    cr_assert(darkest_near(&im, fx, fy, 2) < 200, "flat roof at peak");
    /* and nothing dark half a decade under the flat roof */
    int gy = (int)lround(rc.y + rc.h - 0.5 / 2 * rc.h);
    cr_assert(darkest_near(&im, fx, gy, 1) > 600, "no roof where there is none");
    test_png_free(&im);
}

Test(roofline, all_compute_bound_has_no_memory_colour, .init = setup, .fini = teardown)
{
    double x[3] = {5, 20, 80}, y[3] = {50, 90, 60};
    uint8_t mem[3] = {0, 0, 0};
    plot_roof_data d = {.n = 3, .intensity = x, .perf = y, .memory_bound = mem, .peak = 100,
                        .bandwidth = 0};
    plot_opts o = plot_defaults();
    plot *p = plot_begin(&o);
    cr_assert_eq(plot_roofline(p, &d), NM_OK, "%s", nm_errmsg());
    test_png im;
    test_save_load(p, NULL, &im);
    cr_assert_eq(count_colour(&im, VERMILLION), 0, "no memory-bound marker, not even in the legend");
    cr_assert(count_colour(&im, BLUE) > 30);
    test_png_free(&im);
}

Test(roofline, bad_input_named, .init = setup, .fini = teardown)
{
    double x[2] = {1, 2}, y[2] = {1, 2};
    plot_opts o = plot_defaults();
    plot *p = plot_begin(&o);
    plot_roof_data d = {.n = 2, .intensity = x, .perf = y, .peak = 0};
    cr_assert_eq(plot_roofline(p, &d), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "peak"), "%s", nm_errmsg());
    d.peak = 10, d.bandwidth = -1;
    cr_assert_eq(plot_roofline(p, &d), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "bandwidth"), "%s", nm_errmsg());
    d.bandwidth = 1, x[1] = 0;
    cr_assert_eq(plot_roofline(p, &d), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "intensity[1]"), "%s", nm_errmsg());
    x[1] = 2, y[0] = NAN;
    cr_assert_eq(plot_roofline(p, &d), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "performance[0]"), "%s", nm_errmsg());
    cr_assert_eq(plot_save(p, path), NM_ERR, "nothing drawn, nothing saved");
    plot_end(p);
}
