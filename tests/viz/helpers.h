/* helpers.h - test helpers shared by the plot tests of tests/viz: the
 * palette colours they look for, a fresh folder per test (setup/teardown,
 * the figure at `path`), and saving a figure then decoding it with libpng
 * (png_decode.h, independent of our writer). Header-only. */
#ifndef TESTS_VIZ_HELPERS_H
#define TESTS_VIZ_HELPERS_H

#include <criterion/criterion.h>
#include <stdio.h>

#include "error.h"
#include "plot.h"
#include "png_decode.h"
#include "../test_tmpdir.h"

#define BLUE 0x0072B2       /* Okabe-Ito blue: series 0, kept cells */
#define ORANGE 0xE69F00     /* series 1 */
#define PRUNED 0xD9D9D9     /* light theme pruned cells */
#define VERMILLION 0xD55E00 /* removed filters and channels */
#define VIRIDIS_LO 0x440154
#define VIRIDIS_HI 0xFDE725

static char dir[64], path[160];

/* .init of each test: a fresh folder, the figure's path inside it. */
static inline void setup(void)
{
    cr_assert_not_null(tmpdir_new(dir, sizeof dir, "viz"));
    snprintf(path, sizeof path, "%s/out.png", dir);
}

/* .fini of each test: removes the folder and what is in it. */
static inline void teardown(void) { tmpdir_remove(dir); }

/* Saves figure p to `path` (asserting it succeeds), ends p and decodes the
 * file into im (the caller frees it with test_png_free). If rc is given,
 * the data rectangle p reports is stored there first, asserting p has one. */
static inline void test_save_load(plot *p, plot_rect *rc, test_png *im)
{
    cr_assert_eq(plot_save(p, path), NM_OK, "%s", nm_errmsg());
    if (rc)
        cr_assert_eq(plot_data_rect(p, rc), NM_OK);
    plot_end(p);
    cr_assert_eq(test_png_load(path, im), 0);
}

/* The pixel at the centre of cell (r, c) of a rows x cols matrix drawn
 * in the data rectangle rc. */
static inline uint32_t test_cell_px(const test_png *im, plot_rect rc, int rows, int cols, int r,
                                    int c)
{
    int x = rc.x + (int)((c + 0.5) * rc.w / cols), y = rc.y + (int)((r + 0.5) * rc.h / rows);
    return test_px(im, x, y);
}

#endif
