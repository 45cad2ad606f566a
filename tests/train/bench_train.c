/* bench_train - training and inference speed of fmnist_cnn (batch 64),
 * next to a baseline measured in the same run: the raw cblas_sgemm rate on
 * exactly the matrix shapes one training step multiplies (forward, weight
 * gradient and input gradient of every conv and linear layer). The ratio
 * says how close the whole step (im2col, BN, pools, optimizer...) comes to
 * the bare matrix products. Usage: bench_train [steps] [batch]. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#include "fmnist_nets.h"
#include "kernels.h"
#include "train.h"

typedef struct { int m, n, k, ta, tb; } shape;

/* The GEMMs of one training step (per group, whole batch as one chunk). */
static int step_shapes(const nm_model *m, int batch, shape *s, double *flops)
{
    int c = 0;
    *flops = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        if (!nm_layer_prunable(l))
            continue;
        int rows = (int)nm_layer_rows(l), d = (int)nm_layer_cols(l);
        int cols = batch * l->out_h * l->out_w;
        s[c++] = (shape){rows, cols, d, 0, 0};   /* y = w * col */
        s[c++] = (shape){rows, d, cols, 0, 1};   /* dw = dy * col^T */
        if (i > 0)
            s[c++] = (shape){d, cols, rows, 1, 0};   /* dcol = w^T * dy */
        *flops += 2.0 * rows * d * cols * (i > 0 ? 3 : 2);
    }
    return c;
}

int main(int argc, char **argv)
{
    int steps = argc > 1 ? atoi(argv[1]) : 20, batch = argc > 2 ? atoi(argv[2]) : 64;
    nm_model *m = fmnist_cnn_build(1);
    if (!m || steps <= 0 || batch <= 1) {
        fprintf(stderr, "bench_train: %s\n", m ? "steps > 0 and batch > 1 please" : nm_errmsg());
        return 1;
    }
    /* synthetic images and labels: speed does not depend on content */
    int64_t n = (int64_t)steps * batch;
    nm_tensor *x = nm_tensor_new4(NM_F32, 4, n, 1, 28, 28);
    nm_tensor *y = nm_tensor_new4(NM_I32, 1, n, 0, 0, 0);
    nm_rng r;
    nm_rng_seed(&r, 3);
    for (int64_t i = 0; i < x->numel; i++)
        nm_f32(x)[i] = (float)nm_rng_normal(&r);
    for (int64_t i = 0; i < n; i++)
        nm_i32(y)[i] = (int32_t)(i % 10);
    nm_dataset *d = nm_dataset_new("synthetic", x, y, 10);

    /* baseline: the same GEMMs on preallocated buffers */
    shape s[64];
    double flops;
    int ns = step_shapes(m, batch, s, &flops);
    size_t big = 0;
    for (int i = 0; i < ns; i++) {
        size_t a = (size_t)s[i].m * s[i].k, b = (size_t)s[i].k * s[i].n, c = (size_t)s[i].m * s[i].n;
        big = a > big ? a : big, big = b > big ? b : big, big = c > big ? c : big;
    }
    float *A = calloc(big, sizeof(float)), *B = calloc(big, sizeof(float)), *C = calloc(big, sizeof(float));
    for (size_t i = 0; i < big; i++)
        A[i] = B[i] = (float)(i % 7) * 0.1f;
    double t0 = nm_now();
    for (int it = 0; it < steps; it++)
        for (int i = 0; i < ns; i++)
            cblas_sgemm(CblasRowMajor, s[i].ta ? CblasTrans : CblasNoTrans,
                        s[i].tb ? CblasTrans : CblasNoTrans, s[i].m, s[i].n, s[i].k, 1.0f, A,
                        s[i].ta ? s[i].m : s[i].k, B, s[i].tb ? s[i].k : s[i].n, 0.0f, C, s[i].n);
    double t_gemm = nm_now() - t0;
    double gemm_rate = flops * steps / t_gemm;

    nm_train_opts o;
    nm_train_opts_default(&o);
    o.batch = batch;
    nm_train_progress p;
    t0 = nm_now();
    if (nm_train(m, d, &o, &p) != NM_OK) {
        fprintf(stderr, "bench_train: %s\n", nm_errmsg());
        return 1;
    }
    double t_train = nm_now() - t0;
    t0 = nm_now();
    double acc;
    nm_evaluate(m, d, batch, &acc, NULL, NULL);
    double t_inf = nm_now() - t0;

    double train_ips = n / t_train, train_rate = flops * steps / t_train;
    printf("fmnist_cnn training, batch %d, %d steps (%.1f MFLOP of GEMM per image)\n", batch, steps,
           flops / batch / 1e6);
    printf("  training:  %8.1f images/s  %6.2f GFLOP/s\n", train_ips, train_rate / 1e9);
    printf("  baseline:  %8.1f images/s  %6.2f GFLOP/s  (bare cblas_sgemm, same shapes)\n",
           n / t_gemm, gemm_rate / 1e9);
    printf("  ratio training/baseline: %.2f\n", train_rate / gemm_rate);
    printf("  inference: %8.1f images/s  (forward only, eval mode)\n", n / t_inf);
    free(A), free(B), free(C);
    nm_dataset_free(d);
    nm_tensor_release(x), nm_tensor_release(y);
    nm_model_free(m);
    return 0;
}
