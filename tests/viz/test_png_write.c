/* The PNG writer and the figure's file handling: pixel byte order, metadata
 * chunks, no tIME, reproducible bytes, atomic writes, unwritable paths. */
#include <criterion/criterion.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "../test_tmpdir.h"
#include "nmlab_config.h"
#include "plot.h"
#include "png_decode.h"
#include "png_write.h"

/* A 3 x 2 surface with known colours comes back with the same RGB. */
Test(png_write, pixels_round_trip)
{
    char dir[64], path[128];
    cr_assert_not_null(tmpdir_new(dir, sizeof dir, "viz"));
    snprintf(path, sizeof path, "%s/px.png", dir);
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 3, 2);
    uint32_t want[6] = {0xFF0000, 0x00FF00, 0x0000FF, 0x123456, 0xFFFFFF, 0x000000};
    cairo_surface_flush(s);
    unsigned char *d = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    for (int i = 0; i < 6; i++)
        ((uint32_t *)(d + (i / 3) * stride))[i % 3] = want[i];
    cairo_surface_mark_dirty(s);
    viz_png_text t[1] = {{"Software", "test"}};
    cr_assert_eq(viz_png_write(s, path, t, 1, 150), NM_OK, "%s", nm_errmsg());
    cairo_surface_destroy(s);
    test_png im;
    cr_assert_eq(test_png_load(path, &im), 0);
    cr_assert_eq(im.w, 3);
    cr_assert_eq(im.h, 2);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(test_px(&im, i % 3, i / 3), want[i], "pixel %d: %06x", i,
                     test_px(&im, i % 3, i / 3));
    cr_assert_float_eq(im.dpi, 150, 0.05);
    test_png_free(&im);
    cr_assert_eq(tmpdir_remove(dir), 0);
}

Test(png_write, rejects_bad_keyword_and_format)
{
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 4, 4);
    cr_assert_eq(viz_png_write(s, "/tmp/never.png", NULL, 0, 0), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "RGB24"), "%s", nm_errmsg());
    cairo_surface_destroy(s);
    s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 4, 4);
    viz_png_text t[1] = {{"bad  key", "x"}};
    cr_assert_eq(viz_png_write(s, "/tmp/never.png", t, 1, 0), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "keyword"), "%s", nm_errmsg());
    cairo_surface_destroy(s);
    cr_assert_neq(access("/tmp/never.png", F_OK), 0);
}

static const char *groups2[] = {"conv1", "conv2"};

/* A one-series bar chart of {0.2, 0.8} saved at path. */
static int save_bars(const char *path, const plot_opts *o)
{
    double v[2] = {0.2, 0.8};
    plot_bar_data d = {.n_groups = 2, .groups = groups2, .n_series = 1, .values = v,
                       .value_labels = 1};
    plot *p = plot_begin(o);
    if (!p)
        return NM_ERR;
    int st = plot_bars(p, &d);
    if (st == NM_OK)
        st = plot_save(p, path);
    plot_end(p);
    return st;
}

Test(png_write, metadata_size_and_background)
{
    char dir[64], path[128];
    cr_assert_not_null(tmpdir_new(dir, sizeof dir, "viz"));
    snprintf(path, sizeof path, "%s/meta.png", dir);
    plot_opts o = plot_defaults();
    o.width = 640;
    o.height = 400;
    o.dpi = 120;
    o.title = "Density";
    o.params = "model=resnet18 n=2 m=4 µ=0.5";
    cr_assert_eq(save_bars(path, &o), NM_OK, "%s", nm_errmsg());
    test_png im;
    cr_assert_eq(test_png_load(path, &im), 0);
    cr_assert_eq(im.w, 640);
    cr_assert_eq(im.h, 400);
    cr_assert_str_eq(test_png_text(&im, "Software"), "nmlab " NMLAB_VERSION);
    cr_assert_str_eq(test_png_text(&im, "Title"), "Density");
    cr_assert_str_eq(test_png_text(&im, "Parameters"), "model=resnet18 n=2 m=4 µ=0.5");
    cr_assert_eq(im.has_time, 0);
    cr_assert_eq(test_png_count_chunks(path, "tIME"), 0);
    cr_assert_eq(test_png_count_chunks(path, "tEXt"), 2, "Software and Title are ASCII");
    cr_assert_eq(test_png_count_chunks(path, "iTXt"), 1, "Parameters has a non-ASCII letter");
    cr_assert_float_eq(im.dpi, 120, 0.05);
    /* light theme: white corners */
    cr_assert_eq(test_px(&im, 0, 0), 0xFFFFFF);
    cr_assert_eq(test_px(&im, im.w - 1, im.h - 1), 0xFFFFFF);
    test_png_free(&im);

    o.theme = PLOT_THEME_DARK;
    cr_assert_eq(save_bars(path, &o), NM_OK, "%s", nm_errmsg());
    cr_assert_eq(test_png_load(path, &im), 0);
    cr_assert_eq(test_px(&im, 0, 0), 0x1E1E1E);
    test_png_free(&im);
    cr_assert_eq(tmpdir_remove(dir), 0);
}

static unsigned char *slurp(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    *len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)*len);
    cr_assert_eq(fread(b, 1, (size_t)*len, f), (size_t)*len);
    fclose(f);
    return b;
}

Test(png_write, same_input_same_bytes)
{
    char dir[64], a[128], b[128];
    cr_assert_not_null(tmpdir_new(dir, sizeof dir, "viz"));
    snprintf(a, sizeof a, "%s/a.png", dir);
    snprintf(b, sizeof b, "%s/b.png", dir);
    plot_opts o = plot_defaults();
    o.title = "Reproducible";
    o.params = "seed=1";
    /* two runs in two processes (a child forked before anything is drawn,
     * then this one): no glyph cache or other state is shared */
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0)
        _exit(save_bars(a, &o) == NM_OK ? 0 : 1);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert_eq(save_bars(b, &o), NM_OK, "%s", nm_errmsg());
    long la, lb;
    unsigned char *da = slurp(a, &la), *db = slurp(b, &lb);
    cr_assert_eq(la, lb);
    cr_assert_eq(memcmp(da, db, (size_t)la), 0);
    free(da);
    free(db);
    cr_assert_eq(tmpdir_remove(dir), 0);
}

Test(png_write, unwritable_path_is_a_clear_error)
{
    plot_opts o = plot_defaults();
    cr_assert_eq(save_bars("/nonexistent-nmlab-dir/x.png", &o), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "/nonexistent-nmlab-dir/x.png"), "%s", nm_errmsg());
    cr_assert(strstr(nm_errmsg(), "No such file"), "%s", nm_errmsg());
    /* a folder where the file should go: rename fails, nothing is left */
    char dir[64], sub[128];
    cr_assert_not_null(tmpdir_new(dir, sizeof dir, "viz"));
    snprintf(sub, sizeof sub, "%s/taken", dir);
    cr_assert_eq(mkdir(sub, 0755), 0);
    cr_assert_eq(save_bars(sub, &o), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "taken"), "%s", nm_errmsg());
    cr_assert_eq(tmpdir_count(dir), 1, "only the folder, no temporary file");
    cr_assert_eq(tmpdir_count(sub), 0);
    cr_assert_eq(tmpdir_remove(dir), 0);
}

Test(png_write, missing_font_is_a_clear_error)
{
    plot_opts o = plot_defaults();
    o.font = "/nonexistent/DejaVuSans.ttf";
    cr_assert_null(plot_begin(&o));
    cr_assert(strstr(nm_errmsg(), "/nonexistent/DejaVuSans.ttf"), "%s", nm_errmsg());
    cr_assert(strstr(nm_errmsg(), "fonts-dejavu-core"), "%s", nm_errmsg());
    o.font = NMLAB_SOURCE_ROOT "/README.md";   /* exists, not a font */
    cr_assert_null(plot_begin(&o));
    cr_assert(strstr(nm_errmsg(), "FreeType"), "%s", nm_errmsg());
}
