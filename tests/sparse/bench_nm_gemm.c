/* bench_nm_gemm: what N:M buys on this CPU. For ResNet-18's conv layers as
 * GEMMs (batch 1 and 32) and ViT-B's 768x3072 MLP linears at 197 tokens,
 * dense OpenBLAS sgemm on the masked weights against the compressed N:M
 * kernel (engine/sparse) for 2:4, 1:4, 2:8, 4:9 and 3:9, both measured in
 * this run on the same X. Prints per case: the shape, the axis, the kept
 * fraction, both times (best of REPS), the measured speed-up, the N:M
 * ideal m/n and the kept-count ideal D/kpr (trailing partial groups keep
 * more than n/m).
 *
 *   bench_nm_gemm [REPS [BATCH [wall|cpu]]]   (default 3, both batches, wall)
 *
 * wall: wall-clock time with every OpenMP thread (OpenBLAS is the OpenMP
 * build: the same threads). cpu: one thread, timed by its CPU time, which
 * stays put when other processes share the cores. */
#include "nmk_helpers.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>


typedef struct {
    const char *name;
    int64_t rows, cin;
    int k;           /* kernel side (0: linear) */
    int64_t P;       /* output positions per sample (tokens for a linear) */
} shape;

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 3;
    int only = argc > 2 ? atoi(argv[2]) : 0;
    nm_clock clk = argc > 3 && strcmp(argv[3], "cpu") == 0 ? NM_CLOCK_CPU : NM_CLOCK_WALL;
    if (reps < 1)
        reps = 1;
    if (clk == NM_CLOCK_CPU)
        omp_set_num_threads(1);
    static const shape shapes[] = {
        {"conv1 7x7/2 (first conv)", 64, 3, 7, 112 * 112},
        {"layer1 3x3 64", 64, 64, 3, 56 * 56},
        {"layer2 3x3 128", 128, 128, 3, 28 * 28},
        {"layer2 down 1x1/2", 128, 64, 1, 28 * 28},
        {"layer3 3x3 256", 256, 256, 3, 14 * 14},
        {"layer4 3x3 512", 512, 512, 3, 7 * 7},
        {"vit fc1 768->3072", 3072, 768, 0, 197},
        {"vit fc2 3072->768", 768, 3072, 0, 197},
    };
    static const int pats[5][2] = {{2, 4}, {1, 4}, {2, 8}, {4, 9}, {3, 9}};
    const int batches[2] = {1, 32};
    printf("bench_nm_gemm: %d threads, %s time, kernel %s, best of %d; time in ms; speed-up = "
           "dense / compressed (> 1: compressed faster)\n",
           omp_get_max_threads(), clk == NM_CLOCK_CPU ? "thread CPU" : "wall-clock",
           nm_isa_name(nm_isa_best()), reps);
    printf("%-26s %5s %6s %6s %7s %6s %-6s %5s %9s %9s %7s %5s %5s\n", "layer", "batch", "rows",
           "D", "cols", "n:m", "axis", "kept", "dense", "nm", "speedup", "m/n", "D/k");
    double tot_d[5] = {0}, tot_s[5] = {0};
    for (int b = 0; b < 2; b++) {
        if (only && batches[b] != only)
            continue;
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const shape *s = &shapes[si];
            int64_t D = s->cin * (s->k ? s->k * s->k : 1), cols = s->P * batches[b];
            float *x = malloc((size_t)(D * cols) * sizeof(float));
            float *yd = malloc((size_t)(s->rows * cols) * sizeof(float));
            float *ys = malloc((size_t)(s->rows * cols) * sizeof(float));
            if (!x || !yd || !ys) {
                printf("%-26s %5d: skipped, no memory for %lld x %lld\n", s->name, batches[b],
                       (long long)D, (long long)cols);
                free(x), free(yd), free(ys);
                continue;
            }
            nm_rng g;
            nm_rng_seed(&g, 5);
            for (int64_t i = 0; i < D * cols; i++)
                x[i] = nmk_rand(&g);
            for (int pi = 0; pi < 5; pi++) {
                int n = pats[pi][0], m = pats[pi][1];
                /* the axis nm.prune.nm takes by default (kernel for kxk, in
                 * for 1x1 and linear), and `in` for the kxk layers too */
                nm_group_axis axes[2] = {s->k > 1 ? NM_GROUP_KERNEL : NM_GROUP_IN, NM_GROUP_IN};
                for (int ai = 0; ai < (s->k > 1 ? 2 : 1); ai++) {
                    nmk_weight w;
                    if (nmk_weight_make(&w, s->rows, s->cin, s->k, s->k, n, m, axes[ai],
                                        NM_INDEX_SIMPLE, 7) != NM_OK) {
                        printf("%-26s: %s\n", s->name, nm_errmsg());
                        nmk_weight_free(&w);
                        continue;
                    }
                    const float *W = nm_f32(w.dense);
                    double td = 1e30, ts = 1e30;
                    for (int r = 0; r <= reps; r++) {   /* the first of each is a warm-up */
                        double t0 = nm_clock_now(clk);
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)s->rows,
                                    (int)cols, (int)D, 1.0f, W, (int)D, x, (int)cols, 0.0f, yd,
                                    (int)cols);
                        double t1 = nm_clock_now(clk);
                        if (nm_nm_gemm(w.p, cols, x, cols, ys, cols) != NM_OK) {
                            printf("%s\n", nm_errmsg());
                            return 1;
                        }
                        double t2 = nm_clock_now(clk);
                        if (r) {
                            td = t1 - t0 < td ? t1 - t0 : td;
                            ts = t2 - t1 < ts ? t2 - t1 : ts;
                        }
                    }
                    /* a result check in passing: the largest difference
                     * relative to the largest |y| */
                    double maxd = 0, maxy = 0;
                    for (int64_t i = 0; i < s->rows * cols; i += 97) {
                        double d = ys[i] - yd[i];
                        maxd = d < 0 ? (-d > maxd ? -d : maxd) : (d > maxd ? d : maxd);
                        maxy = yd[i] < 0 ? (-yd[i] > maxy ? -yd[i] : maxy) : (yd[i] > maxy ? yd[i] : maxy);
                    }
                    if (maxd > 1e-4 * (maxy + 1)) {
                        printf("MISMATCH %s %d:%d: %g\n", s->name, n, m, maxd);
                        return 1;
                    }
                    printf("%-26s %5d %6lld %6lld %7lld %3d:%-2d %-6s %5.3f %9.3f %9.3f %7.2f %5.2f "
                           "%5.2f\n",
                           s->name, batches[b], (long long)s->rows, (long long)D, (long long)cols,
                           n, m, nm_group_axis_name(axes[ai]), (double)w.p->kpr / (double)D,
                           1e3 * td, 1e3 * ts, td / ts, (double)m / n, (double)D / (double)w.p->kpr);
                    fflush(stdout);
                    if (ai == 0) {
                        tot_d[pi] += td;
                        tot_s[pi] += ts;
                    }
                    nmk_weight_free(&w);
                }
            }
            free(x), free(yd), free(ys);
        }
    }
    printf("\ntotals over the layers above (default axis): dense / compressed time\n");
    for (int pi = 0; pi < 5; pi++)
        printf("  %d:%d  dense %.1f ms  nm %.1f ms  speedup %.2f  (m/n %.2f)\n", pats[pi][0],
               pats[pi][1], 1e3 * tot_d[pi], 1e3 * tot_s[pi], tot_d[pi] / tot_s[pi],
               (double)pats[pi][1] / pats[pi][0]);
    return 0;
}
