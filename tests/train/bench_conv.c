/* bench_conv.c - 3x3 stride-1 convolution on the shapes of ResNet-18's 3x3
 * layers, batch 1 and 32, every path in the same run: the AVX-512 kernel on
 * packed panels (conv_fast.c, where the CPU has it), im2col + sgemm
 * (conv.c), Winograd F(2x2, 3x3) (winograd.c), and the bare sgemm of the
 * im2col product (that path's floor). Prints ms per call (best of the
 * repetitions) and the ratios to the AVX-512 path, and checks that every
 * path agrees with im2col + sgemm.
 *
 * Usage: bench_conv [REPS]   (OMP_NUM_THREADS / OPENBLAS_NUM_THREADS apply) */
#include "bench_util.h"
#include "kernels.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    const int reps = argc > 1 ? atoi(argv[1]) : 5;
    const int shapes[][2] = {{64, 56}, {128, 28}, {256, 14}, {512, 7}};  /* all run, eligible or not */   /* channels, plane */
    const int batches[] = {1, 32};
    int bad = 0;
    const int fast = nm_conv_fast_available();
    printf("AVX-512 path: %s\n", fast ? "yes" : "no (the CPU lacks AVX-512F or NMLAB_NO_AVX512 is set)");
    printf("%-22s %9s %10s %9s %9s %9s %9s %8s\n", "layer (c, hw, batch)", "fast ms", "im2col ms",
           "sgemm ms", "wino ms", "i2c/fast", "wino/fast", "maxdiff");
    for (size_t bi = 0; bi < sizeof batches / sizeof *batches; bi++)
        for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
            const int c = shapes[si][0], hw = shapes[si][1], n = batches[bi];
            nm_conv_geom g = {.cin = c, .h = hw, .w = hw, .cout = c, .oh = hw, .ow = hw,
                              .kh = 3, .kw = 3, .sh = 1, .sw = 1, .ph = 1, .pw = 1,
                              .groups = 1, .dh = 1, .dw = 1};
            const size_t xn = (size_t)c * n * hw * hw, wn = (size_t)c * c * 9;
            const size_t work = nm_conv_work_floats(&g, n), wwork = nm_winograd_work_floats(&g, n);
            float *x = bench_randoms(xn, 1), *w = bench_randoms(wn, 2), *b = bench_randoms((size_t)c, 3);
            float *y1 = calloc(xn, sizeof(float)), *y2 = calloc(xn, sizeof(float));
            float *wk = calloc(work > wwork ? work : wwork, sizeof(float));
            float *u = calloc(nm_winograd_u_floats(&g), sizeof(float));
            float *col = calloc((size_t)9 * c * hw * hw * n, sizeof(float));
            if (!x || !w || !b || !y1 || !y2 || !wk || !u || !col) {
                fprintf(stderr, "bench_conv: out of memory\n");
                return 1;
            }
            nm_winograd_weights(&g, w, u);
            double t_i2c = 1e9, t_gemm = 1e9, t_wino = 1e9, t_fast = 1e9;
            nm_conv_epilogue e = {.shift = b};
            for (int r = 0; r < reps; r++) {
                double t0 = now();
                nm_conv_fast_enable(0);
                nm_conv_forward(&g, n, x, w, b, y1, wk);   /* im2col + cblas_sgemm */
                nm_conv_fast_enable(1);
                double t1 = now();
                nm_conv_winograd_forward(&g, n, x, u, b, y2, wk);
                double t2 = now();
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c, n * hw * hw, 9 * c, 1.0f,
                            w, 9 * c, col, n * hw * hw, 0.0f, y1 + 0 * xn, n * hw * hw);
                double t3 = now();
                if (fast)
                    nm_conv_fast_forward(&g, n, x, w, &e, y2, wk);
                double t4 = now();
                if (t1 - t0 < t_i2c) t_i2c = t1 - t0;
                if (t2 - t1 < t_wino) t_wino = t2 - t1;
                if (t3 - t2 < t_gemm) t_gemm = t3 - t2;
                if (t4 - t3 < t_fast) t_fast = t4 - t3;
            }
            /* every path against im2col + sgemm */
            nm_conv_fast_enable(0);
            nm_conv_forward(&g, n, x, w, b, y1, wk);
            nm_conv_fast_enable(1);
            double md = 0, my = 0;
            for (int path = 0; path < 1 + fast; path++) {
                if (path == 0)
                    nm_conv_winograd_forward(&g, n, x, u, b, y2, wk);
                else
                    nm_conv_fast_forward(&g, n, x, w, &e, y2, wk);
                for (size_t i = 0; i < xn; i++) {
                    md = fmax(md, fabs((double)y1[i] - y2[i]));
                    my = fmax(my, fabs((double)y1[i]));
                }
            }
            if (md > 1e-5 * my + 1e-6)
                bad = 1;
            char name[32];
            snprintf(name, sizeof name, "%d, %dx%d, %d", c, hw, hw, n);
            if (!fast)
                t_fast = NAN;
            printf("%-22s %9.3f %10.3f %9.3f %9.3f %9.2f %9.2f %8.1e\n", name, t_fast * 1e3,
                   t_i2c * 1e3, t_gemm * 1e3, t_wino * 1e3, t_i2c / t_fast, t_wino / t_fast,
                   md / (my > 0 ? my : 1));
            free(x), free(w), free(b), free(y1), free(y2), free(wk), free(u), free(col);
        }
    if (bad)
        fprintf(stderr, "bench_conv: Winograd or the AVX-512 path and im2col disagree beyond 1e-5 of max |y|\n");
    return bad;
}
