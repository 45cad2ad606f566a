/* Benchmark: render a layer mask (512 x 4608, reduced by blocks) at 300 dpi
 * and write it as PNG, against a baseline of zlib-compressing the same
 * pixels at the same level (the floor for any PNG writer). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "plot.h"
#include "plot_internal.h"

int main(void)
{
    enum { R = 512, C = 4608, REPS = 3 };
    uint8_t *mask = malloc((size_t)R * C);
    for (size_t i = 0; i < (size_t)R * C; i++)
        mask[i] = (i % 4) < 2 || (i * 2654435761u >> 9) % 7 == 0;
    char path[] = "/tmp/nmviz-bench.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 1;
    close(fd);
    plot_opts o = plot_defaults();
    o.dpi = 300;
    o.title = "bench";
    double t_draw = 1e9, t_save = 1e9, t_zlib = 1e9;
    int w = 0, h = 0;
    long png_bytes = 0, zlib_bytes = 0;
    for (int rep = 0; rep < REPS; rep++) {
        plot *p = plot_begin(&o);
        plot_heat_data d = {.rows = R, .cols = C, .mask = mask, .group_m = 4};
        double t0 = nm_now();
        if (!p || plot_heatmap(p, &d) != NM_OK) {
            fprintf(stderr, "%s\n", nm_errmsg());
            return 1;
        }
        double t1 = nm_now();
        if (plot_save(p, path) != NM_OK) {
            fprintf(stderr, "%s\n", nm_errmsg());
            return 1;
        }
        double t2 = nm_now();
        /* baseline: the same pixels as RGB rows, deflated at level 6 */
        cairo_surface_t *s = p->surf;
        w = cairo_image_surface_get_width(s);
        h = cairo_image_surface_get_height(s);
        unsigned char *src = cairo_image_surface_get_data(s);
        int stride = cairo_image_surface_get_stride(s);
        size_t n = (size_t)h * (w * 3 + 1);
        unsigned char *raw = malloc(n);
        double t3 = nm_now();
        for (int y = 0; y < h; y++) {
            unsigned char *row = raw + (size_t)y * (w * 3 + 1);
            row[0] = 0;
            for (int x = 0; x < w; x++) {
                uint32_t px = ((uint32_t *)(src + (size_t)y * stride))[x];
                row[1 + x * 3] = px >> 16;
                row[2 + x * 3] = px >> 8;
                row[3 + x * 3] = px;
            }
        }
        uLongf zn = compressBound(n);
        unsigned char *z = malloc(zn);
        compress2(z, &zn, raw, n, 6);
        double t4 = nm_now();
        struct stat st;
        png_bytes = stat(path, &st) == 0 ? (long)st.st_size : -1;
        zlib_bytes = (long)zn;
        free(raw);
        free(z);
        plot_end(p);
        t_draw = t1 - t0 < t_draw ? t1 - t0 : t_draw;
        t_save = t2 - t1 < t_save ? t2 - t1 : t_save;
        t_zlib = t4 - t3 < t_zlib ? t4 - t3 : t_zlib;
    }
    unlink(path);
    free(mask);
    printf("plot: %dx%d mask 512x4608 at 300 dpi: draw %.1f ms; PNG write %.1f ms; "
           "baseline zlib-6 of the same pixels %.1f ms; write/baseline %.2f (best of %d); "
           "PNG %ld bytes, baseline %ld bytes\n",
           w, h, t_draw * 1e3, t_save * 1e3, t_zlib * 1e3, t_save / t_zlib, REPS, png_bytes,
           zlib_bytes);
    return 0;
}
