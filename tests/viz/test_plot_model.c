/* Plots from engine objects: density bars of a model before/after a
 * hand-made pruning, and a layer's mask with a removed filter. */
#include <criterion/criterion.h>
#include <math.h>

#include "model.h"
#include "plot.h"
#include "prune.h"
#include "helpers.h"

static nm_model *small_net(void)
{
    nm_model *m = nm_model_new("small", 2, 8, 8);
    nm_add_conv(m, "c1", NM_INPUT, 4, 3, 3, 1, 1, 1, 0);
    nm_add_relu(m, "r1", NM_PREV, 0);
    nm_add_conv(m, "c2", NM_PREV, 8, 3, 3, 1, 1, 1, 0);
    nm_add_gap(m, "gap", NM_PREV);
    nm_add_flatten(m, "flat", NM_PREV);
    cr_assert(nm_add_linear(m, "fc", NM_PREV, 10, 1) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 3);
    return m;
}

/* Keeps the first `keep` of every 4 weights of layer idx (a hand-made N:4). */
static void prune_n4(nm_model *m, int idx, int keep)
{
    nm_layer *l = &m->layers[idx];
    cr_assert_eq(nm_layer_ensure_mask(l), NM_OK);
    for (int64_t i = 0; i < l->mask->numel; i++)
        nm_u8(l->mask)[i] = (i % 4) < keep;
    l->wn = keep;
    l->wm = 4;
}

/* Draws layer l's mask in the given view, saves and decodes it into im;
 * returns the data rectangle. */
static plot_rect draw_mask(const nm_layer *l, plot_mask_view view, test_png *im)
{
    plot *p = plot_begin(NULL);
    cr_assert_eq(plot_layer_mask(p, l, view), NM_OK, "%s", nm_errmsg());
    plot_rect rc;
    test_save_load(p, &rc, im);
    return rc;
}

static int column_height(const test_png *im, int x, uint32_t c)
{
    int h = 0;
    for (int y = 0; y < im->h; y++)
        h += test_px(im, x, y) == c;
    return h;
}

Test(plot_model, density_before_after, .init = setup, .fini = teardown)
{
    nm_model *a = small_net(), *b = nm_model_clone(a);
    prune_n4(b, nm_model_find(b, "c2"), 1);   /* 25% kept: 72 cols, multiple of 4 */
    prune_n4(b, nm_model_find(b, "fc"), 2);   /* 50% */
    plot *p = plot_begin(NULL);
    cr_assert_eq(plot_model_density(p, a, b), NM_OK, "%s", nm_errmsg());
    plot_rect r;
    test_png im;
    test_save_load(p, &r, &im);
    /* group g spans [r.x + g*r.w/3, ...): before bar on the left half of the
     * inner 80%, after bar on the right half */
    double slot = r.w / 3.0;
    double want[3] = {1.0, 0.25, 0.5};
    int full = column_height(&im, (int)(r.x + 0.3 * slot), BLUE);
    cr_assert(full > 100, "before bar of c1: %d px", full);
    for (int g = 0; g < 3; g++) {
        int hb = column_height(&im, (int)(r.x + g * slot + 0.3 * slot), BLUE);
        int ha = column_height(&im, (int)(r.x + g * slot + 0.7 * slot), ORANGE);
        cr_assert(abs(hb - full) <= 1, "group %d before %d px", g, hb);
        cr_assert(fabs(ha - want[g] * full) <= 1.5, "group %d after %d px, want %.1f", g, ha,
                  want[g] * full);
    }
    test_png_free(&im);

    /* models with different layers */
    nm_model *c = nm_model_new("other", 2, 8, 8);
    nm_add_conv(c, "x1", NM_INPUT, 4, 3, 3, 1, 1, 1, 0);
    p = plot_begin(NULL);
    cr_assert_eq(plot_model_density(p, a, c), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "prunable layers"), "%s", nm_errmsg());
    cr_assert_eq(plot_save(p, path), NM_ERR);
    plot_end(p);
    nm_model_free(a);
    nm_model_free(b);
    nm_model_free(c);
}

Test(plot_model, layer_mask_cells_and_removed_filter, .init = setup, .fini = teardown)
{
    nm_model *m = small_net();
    int idx = nm_model_find(m, "c2");
    prune_n4(m, idx, 2);
    nm_layer *l = &m->layers[idx];
    l->filters = nm_tensor_new4(NM_U8, 1, 8, 0, 0, 0);
    nm_tensor_fill(l->filters, 1);
    nm_u8(l->filters)[3] = 0;
    int rows = (int)nm_layer_rows(l), cols = (int)nm_layer_cols(l);
    cr_assert_eq(rows, 8);
    cr_assert_eq(cols, 36);

    for (int view = 0; view < 2; view++) {
        test_png im;
        plot_rect rc = draw_mask(l, (plot_mask_view)view, &im);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) {
                uint32_t px = test_cell_px(&im, rc, rows, cols, r, c);
                int kept = (c % 4) < 2;   /* flat index % 4 == c % 4 since cols % 4 == 0 */
                if (!kept)
                    cr_assert_eq(px, PRUNED, "view %d cell %d,%d: %06x", view, r, c, px);
                else if (view == 0)
                    cr_assert_eq(px, BLUE, "cell %d,%d: %06x", r, c, px);
                else
                    cr_assert(px != PRUNED && px != BLUE, "kept cell on the ramp");
            }
        if (view == 1) {
            /* the kept weights with the largest and smallest |w| sit at the
             * ramp's ends */
            int64_t imax = -1, imin = -1;
            const float *wt = nm_f32(l->weight);
            for (int64_t i = 0; i < l->weight->numel; i++) {
                if (!nm_u8(l->mask)[i])
                    continue;
                if (imax < 0 || fabsf(wt[i]) > fabsf(wt[imax]))
                    imax = i;
                if (imin < 0 || fabsf(wt[i]) < fabsf(wt[imin]))
                    imin = i;
            }
            int64_t ends[2] = {imax, imin};
            uint32_t want[2] = {VIRIDIS_HI, VIRIDIS_LO};
            for (int k = 0; k < 2; k++) {
                int r = (int)(ends[k] / cols), c = (int)(ends[k] % cols);
                uint32_t px = test_cell_px(&im, rc, rows, cols, r, c);
                cr_assert_eq(px, want[k], "end %d: %06x", k, px);
            }
        }
        int mark = 0;
        for (int x = rc.x - 1; x > rc.x - 40 && x >= 0; x--)
            mark |= test_px(&im, x, rc.y + (int)(3.5 * rc.h / rows)) == VERMILLION;
        cr_assert(mark, "filter 3 is marked removed");
        test_png_free(&im);
    }

    /* a layer without a mask: every cell kept, no marks */
    const nm_layer *c1 = &m->layers[nm_model_find(m, "c1")];
    test_png im;
    plot_rect rc = draw_mask(c1, PLOT_MASK_KEPT, &im);
    int rows1 = (int)nm_layer_rows(c1), cols1 = (int)nm_layer_cols(c1);
    for (int r = 0; r < rows1; r++)
        for (int c = 0; c < cols1; c++)
            cr_assert_eq(test_cell_px(&im, rc, rows1, cols1, r, c), BLUE);
    test_png_free(&im);

    /* a weightless layer is refused */
    plot *p = plot_begin(NULL);
    cr_assert_eq(plot_layer_mask(p, &m->layers[nm_model_find(m, "r1")], PLOT_MASK_KEPT), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "r1"), "%s", nm_errmsg());
    plot_end(p);
    nm_model_free(m);
}

/* Columns above the matrix holding a vermillion mark, as flags per column
 * (read in the band between the title and the matrix). */
static void column_marks(const test_png *im, plot_rect rc, int cols, int *flags)
{
    for (int c = 0; c < cols; c++) {
        int x = rc.x + (int)((c + 0.5) * rc.w / cols);
        flags[c] = 0;
        for (int y = rc.y - 1; y >= 0 && y > rc.y - 40; y--)
            flags[c] |= test_px(im, x, y) == VERMILLION;
    }
}

Test(plot_model, removed_input_channels_are_marked, .init = setup, .fini = teardown)
{
    nm_model *m = small_net();
    int idx = nm_model_find(m, "c2");   /* 4 input channels, 3 x 3: 36 columns */
    prune_n4(m, idx, 2);
    nm_layer *l = &m->layers[idx];
    l->in_chans = nm_tensor_new4(NM_U8, 1, 4, 0, 0, 0);
    nm_tensor_fill(l->in_chans, 1);
    nm_u8(l->in_chans)[1] = 0;
    int cols = (int)nm_layer_cols(l);
    cr_assert_eq(cols, 36);
    for (int view = 0; view < 2; view++) {
        test_png im;
        plot_rect rc = draw_mask(l, (plot_mask_view)view, &im);
        int f[36];
        column_marks(&im, rc, cols, f);
        for (int c = 0; c < cols; c++)
            cr_assert_eq(f[c], c / 9 == 1, "view %d column %d (channel %d) mark %d", view, c,
                         c / 9, f[c]);
        /* the legend beside the matrix has a "removed" swatch */
        int swatch = 0;
        for (int x = rc.x + rc.w; x < rc.x + rc.w + 40 && x < im.w; x++)
            for (int y = rc.y; y < rc.y + rc.h; y++)
                swatch |= test_px(&im, x, y) == VERMILLION;
        cr_assert(swatch, "view %d: no 'removed' legend swatch", view);
        test_png_free(&im);
    }

    /* groups of 2: channel 1 removed in group 0 only marks nothing; with
     * its twin (channel 3) in group 1 removed too, columns 9..17 are marked */
    nm_model *g = nm_model_new("g", 4, 8, 8);
    nm_add_conv(g, "cg", NM_INPUT, 4, 3, 3, 1, 1, 2, 0);
    nm_model_init_weights(g, 5);
    nm_layer *lg = &g->layers[0];
    cr_assert_eq(nm_layer_cols(lg), 18);
    lg->in_chans = nm_tensor_new4(NM_U8, 1, 4, 0, 0, 0);
    nm_tensor_fill(lg->in_chans, 1);
    for (int pass = 0; pass < 2; pass++) {
        nm_u8(lg->in_chans)[1] = 0;
        if (pass == 1)
            nm_u8(lg->in_chans)[3] = 0;
        test_png im;
        plot_rect rc = draw_mask(lg, PLOT_MASK_KEPT, &im);
        int f[18];
        column_marks(&im, rc, 18, f);
        for (int c = 0; c < 18; c++)
            cr_assert_eq(f[c], pass == 1 && c >= 9, "pass %d column %d mark %d", pass, c, f[c]);
        test_png_free(&im);
    }
    /* an in_chans vector of the wrong length is refused, naming the layer */
    nm_tensor_release(lg->in_chans);
    lg->in_chans = nm_tensor_new4(NM_U8, 1, 3, 0, 0, 0);
    plot *p = plot_begin(NULL);
    cr_assert_eq(plot_layer_mask(p, lg, PLOT_MASK_KEPT), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "cg") && strstr(nm_errmsg(), "in_chans"), "%s", nm_errmsg());
    plot_end(p);
    nm_model_free(g);
    nm_model_free(m);
}

/* Column boundaries (1..cols-1) with a group separator across the middle
 * row of the matrix, as flags per boundary. */
static void separators(const test_png *im, plot_rect rc, int rows, int cols, uint32_t sep, int *flags)
{
    int y = rc.y + (int)((rows / 2 + 0.5) * rc.h / rows);
    for (int c = 1; c < cols; c++) {
        int x = rc.x + (int)((double)c * rc.w / cols);
        flags[c] = test_px(im, x, y) == sep || test_px(im, x - 1, y) == sep;
    }
}

/* The separators follow the engine's grouping: along kernel a 2:4 group
 * restarts at every 3x3 kernel (lines at kernel starts and 4 columns into
 * each kernel), along in a group is 4 channels at one (kh, kw), 36
 * columns wide in this 4-channel layer (no line inside); they were drawn
 * every 4 columns whatever the grouping. */
Test(plot_model, group_separators_follow_the_grouping, .init = setup, .fini = teardown)
{
    nm_group_axis axes[2] = {NM_GROUP_KERNEL, NM_GROUP_IN};
    for (int k = 0; k < 2; k++) {
        nm_model *m = small_net();   /* a fresh mask for each grouping */
        nm_layer *l = &m->layers[nm_model_find(m, "c2")];
        int rows = (int)nm_layer_rows(l), cols = (int)nm_layer_cols(l);
        cr_assert_eq(cols, 36);
        cr_assert_eq(nm_prune_nm_layer(l, 2, 4, axes[k]), NM_OK, "%s", nm_errmsg());
        test_png im;
        plot_rect rc = draw_mask(l, PLOT_MASK_KEPT, &im);
        int flags[36] = {0};
        separators(&im, rc, rows, cols, 0x000000, flags);
        for (int c = 1; c < cols; c++) {
            int want = k == 0 ? (c % 9 == 0 || (c % 9) % 4 == 0) : 0;
            cr_assert_eq(flags[c], want, "%s: boundary before column %d: line %d, want %d",
                         k == 0 ? "kernel" : "in", c, flags[c], want);
        }
        test_png_free(&im);
        nm_model_free(m);
    }
}
