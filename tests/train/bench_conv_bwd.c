/* bench_conv_bwd.c - the input gradient of a 3x3 stride-1 convolution two
 * ways in the same run: as a convolution of dy with flipped kernels on the
 * AVX-512 forward kernel (what nm_conv_backward does where the CPU has it)
 * and as W^T dy + col2im (OpenBLAS; NMLAB_NO_AVX512 or another CPU). The
 * shapes are fmnist_cnn's conv2-4 at batch 64 and two of ResNet-18's at
 * batch 32. Each path's CPU time per call (all threads, best of REPS) and
 * the ratio; the two paths' dx must agree (relative 1e-4 of max |dx|).
 *
 * Usage: bench_conv_bwd [REPS]   (OMP_NUM_THREADS applies) */
#include "bench_util.h"
#include "kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Best CPU seconds of reps backward calls (dx and dw) into dx. */
static double best_of(const nm_conv_geom *g, int n, int reps, const float *x, const float *w,
                      const float *dy, float *dx, float *dw, float *work, size_t wf)
{
    double best = INFINITY;
    for (int r = 0; r < reps; r++) {
        double t0 = cpu_now();
        nm_conv_backward(g, n, x, w, dy, dx, 0, dw, NULL, work, wf);
        double t = cpu_now() - t0;
        best = t < best ? t : best;
    }
    return best;
}

int main(int argc, char **argv)
{
    const int reps = argc > 1 && atoi(argv[1]) > 0 ? atoi(argv[1]) : 5;
    const struct { const char *name; int cin, cout, plane, n; } shapes[] = {
        {"fmnist conv2", 32, 32, 28, 64}, {"fmnist conv3", 32, 64, 14, 64},
        {"fmnist conv4", 64, 64, 14, 64}, {"resnet18 layer1", 64, 64, 56, 32},
        {"resnet18 layer3", 256, 256, 14, 32}};
    if (!nm_conv_fast_available()) {
        printf("bench_conv_bwd: no AVX-512 here (or NMLAB_NO_AVX512 set): one path only, skipped\n");
        return 0;
    }
    int bad = 0;
    printf("input+weight gradient of a 3x3 stride-1 conv, CPU ms per call (best of %d)\n", reps);
    printf("%-16s %5s %10s %12s %7s\n", "shape", "batch", "dx as conv", "W^T dy+col2im", "ratio");
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int c = shapes[s].cin, o = shapes[s].cout, p = shapes[s].plane, n = shapes[s].n;
        nm_conv_geom g = {.cin = c, .h = p, .w = p, .cout = o, .oh = p, .ow = p, .kh = 3, .kw = 3,
                          .sh = 1, .sw = 1, .ph = 1, .pw = 1, .groups = 1, .dh = 1, .dw = 1};
        const size_t xn = (size_t)c * n * p * p, yn = (size_t)o * n * p * p, wn = (size_t)o * c * 9;
        const size_t wf = nm_conv_backward_work_floats(&g, n, 8);
        float *x = bench_randoms(xn, 1), *w = bench_randoms(wn, 2), *dy = bench_randoms(yn, 3);
        float *dx1 = malloc(sizeof(float) * xn), *dx2 = malloc(sizeof(float) * xn);
        float *dw = calloc(wn, sizeof(float)), *work = malloc(sizeof(float) * wf);
        if (!x || !w || !dy || !dx1 || !dx2 || !dw || !work) {
            fprintf(stderr, "bench_conv_bwd: out of memory\n");
            return 1;
        }
        double fast = best_of(&g, n, reps, x, w, dy, dx1, dw, work, wf);
        nm_conv_fast_enable(0);
        double blas = best_of(&g, n, reps, x, w, dy, dx2, dw, work, wf);
        nm_conv_fast_enable(1);
        double m = 0, diff = 0;
        for (size_t i = 0; i < xn; i++) {
            m = fabs(dx2[i]) > m ? fabs(dx2[i]) : m;
            diff = fabs(dx1[i] - dx2[i]) > diff ? fabs(dx1[i] - dx2[i]) : diff;
        }
        if (!(diff <= 1e-4 * m)) {
            fprintf(stderr, "bench_conv_bwd: %s: the paths differ by %g (max |dx| %g)\n",
                    shapes[s].name, diff, m);
            bad = 1;
        }
        printf("%-16s %5d %10.2f %12.2f %6.2fx\n", shapes[s].name, n, fast * 1e3, blas * 1e3,
               blas / fast);
        free(x), free(w), free(dy), free(dx1), free(dx2), free(dw), free(work);
    }
    return bad;
}
