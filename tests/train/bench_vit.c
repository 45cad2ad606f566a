/* bench_vit - ViT-B/16 (the zoo's vit_b16) forward time for one 3x224x224
 * image through nm_forward, next to a baseline measured in the same run:
 * bare cblas_sgemm on exactly the matrix products that forward multiplies
 * (patch conv, the linear layers over 197 tokens, 12 heads x (Q K^T, A V)
 * per block, the head on the class token). The ratio says how much the
 * rest (building the executor, masking weights, layer norm, softmax, GELU,
 * copies) adds to the bare products. Usage: bench_vit [reps]. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "train.h"
#include "zoo.h"

typedef struct { int m, n, k, ta, count; } shape;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The GEMMs of one forward pass of one image, from the model's layers. */
static int forward_shapes(const nm_model *m, shape *s, double *flops)
{
    int c = 0;
    *flops = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        const int t = l->out_h * l->out_w;
        if (nm_layer_prunable(l))
            s[c++] = (shape){l->out_c, t, (int)nm_layer_cols(l), 0, 1};
        else if (l->kind == NM_LAYER_MATMUL && l->groups == 1)
            s[c++] = (shape){t, t, l->in_c / l->heads, 1, l->heads};
        else if (l->kind == NM_LAYER_MATMUL)
            s[c++] = (shape){l->out_c / l->heads, t, t, 0, l->heads};
        else
            continue;
        *flops += 2.0 * s[c - 1].m * s[c - 1].n * s[c - 1].k * s[c - 1].count;
    }
    return c;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 3;
    if (reps <= 0)
        reps = 3;
    nm_model *m = nm_zoo("vit_b16", 1);
    nm_tensor *x = nm_tensor_new4(NM_F32, 4, 1, 3, 224, 224);
    if (!m || !x) {
        fprintf(stderr, "bench_vit: %s\n", nm_errmsg());
        return 1;
    }
    nm_rng r;
    nm_rng_seed(&r, 3);
    for (int64_t i = 0; i < x->numel; i++)
        nm_f32(x)[i] = (float)nm_rng_normal(&r);

    /* baseline: the same GEMMs on preallocated buffers */
    static shape s[256];
    double flops;
    int ns = forward_shapes(m, s, &flops);
    size_t big = 0;
    for (int i = 0; i < ns; i++) {
        size_t a = (size_t)s[i].m * s[i].k, b = (size_t)s[i].k * s[i].n, c = (size_t)s[i].m * s[i].n;
        big = a > big ? a : big, big = b > big ? b : big, big = c > big ? c : big;
    }
    float *A = calloc(big, sizeof(float)), *B = calloc(big, sizeof(float)), *C = calloc(big, sizeof(float));
    double *tf = malloc(sizeof(double) * (size_t)reps), *tg = malloc(sizeof(double) * (size_t)reps);
    if (!A || !B || !C || !tf || !tg)
        return 1;
    for (int i = 0; i < (int)big; i++)
        A[i] = (float)(i % 7) * 0.1f, B[i] = (float)(i % 5) * 0.1f;
    nm_tensor *y = nm_forward(m, x);   /* warm-up (page cache, BLAS threads) */
    nm_tensor_release(y);
    for (int rep = 0; rep < reps; rep++) {
        double t0 = now();
        for (int i = 0; i < ns; i++)
            for (int h = 0; h < s[i].count; h++)
                cblas_sgemm(CblasRowMajor, s[i].ta ? CblasTrans : CblasNoTrans, CblasNoTrans,
                            s[i].m, s[i].n, s[i].k, 1.0f, A, s[i].ta ? s[i].m : s[i].k, B,
                            s[i].n, 0.0f, C, s[i].n);
        tg[rep] = now() - t0;
        t0 = now();
        y = nm_forward(m, x);
        tf[rep] = now() - t0;
        if (!y) {
            fprintf(stderr, "bench_vit: %s\n", nm_errmsg());
            return 1;
        }
        nm_tensor_release(y);
    }
    qsort(tf, (size_t)reps, sizeof *tf, cmp);
    qsort(tg, (size_t)reps, sizeof *tg, cmp);
    printf("vit_b16 forward, one 3x224x224 image (%.2f GFLOP in %d GEMM shapes), %d runs:\n",
           flops * 1e-9, ns, reps);
    printf("  nm_forward   min %.3f s  median %.3f s  (%.1f GFLOP/s)\n", tf[0], tf[reps / 2],
           flops * 1e-9 / tf[0]);
    printf("  bare sgemm   min %.3f s  median %.3f s  (%.1f GFLOP/s)  [baseline, same run]\n",
           tg[0], tg[reps / 2], flops * 1e-9 / tg[0]);
    printf("  ratio (median) %.2f\n", tf[reps / 2] / tg[reps / 2]);
    free(A), free(B), free(C), free(tf), free(tg);
    nm_tensor_release(x);
    nm_model_free(m);
    return 0;
}
