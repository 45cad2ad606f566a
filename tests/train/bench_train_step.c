/* bench_train_step - where one training step of fmnist_cnn spends its time:
 * forward, loss, zero_grad, backward and optimizer, on a net built once and
 * warmed up (no first-touch page faults), next to the bare cblas_sgemm on
 * exactly the step's matrix shapes, measured in the same run.
 *
 * Times are the process's CPU time (CLOCK_PROCESS_CPUTIME_ID), not wall
 * time: with OMP_NUM_THREADS=1 they measure the work itself and hardly move
 * when other programs load the machine (wall time does, and with two
 * threads the spin-waiting of a thread the OS holds back counts too).
 * Usage: bench_train_step [steps] [batch]. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "fmnist_nets.h"
#include "kernels.h"
#include "net.h"
#include "optim.h"
#include "train.h"

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

typedef struct { int m, n, k, ta, tb; } shape;

/* The GEMMs of one step, whole batch (as bench_train's baseline). */
static int step_shapes(const nm_model *m, int batch, shape *s)
{
    int c = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        if (!nm_layer_prunable(l))
            continue;
        int rows = (int)nm_layer_rows(l), d = (int)nm_layer_cols(l);
        int cols = batch * l->out_h * l->out_w;
        s[c++] = (shape){rows, cols, d, 0, 0};
        s[c++] = (shape){rows, d, cols, 0, 1};
        if (i > 0)
            s[c++] = (shape){d, cols, rows, 1, 0};
    }
    return c;
}

int main(int argc, char **argv)
{
    const int steps = argc > 1 ? atoi(argv[1]) : 20, batch = argc > 2 ? atoi(argv[2]) : 64;
    nm_model *m = fmnist_cnn_build(1);
    nm_net *net = m && steps > 0 && batch > 1 ? nm_net_new(m, batch, NM_NET_TRAIN) : NULL;
    if (!net) {
        fprintf(stderr, "bench_train_step: %s\n",
                m && steps > 0 && batch > 1 ? nm_errmsg() : "steps > 0 and batch > 1 please");
        nm_model_free(m);
        return 1;
    }
    nm_rng r;
    nm_rng_seed(&r, 3);
    float *in = nm_net_input(net);
    for (int i = 0; i < batch * 28 * 28; i++)
        in[i] = (float)nm_rng_normal(&r);
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)batch);
    float *dlogits = malloc(sizeof(float) * 10 * (size_t)batch);
    for (int i = 0; i < batch; i++)
        labels[i] = i % 10;
    nm_train_opts o;
    nm_train_opts_default(&o);
    int np;
    nm_param *ps = nm_net_params(net, &np);
    nm_optim *op = nm_optim_new(ps, np, &o);
    if (!labels || !dlogits || !op) {
        fprintf(stderr, "bench_train_step: out of memory\n");
        return 1;
    }
    double t[5] = {0}, w0 = nm_now();
    for (int s = -3; s < steps; s++) {   /* three warm-up steps */
        double c0 = cpu_now();
        const float *logits = nm_net_forward(net, batch, 1);
        double c1 = cpu_now();
        int ok;
        nm_softmax_xent(10, batch, logits, labels, dlogits, &ok);
        double c2 = cpu_now();
        nm_net_zero_grad(net);
        double c3 = cpu_now();
        nm_net_backward(net, dlogits);
        double c4 = cpu_now();
        nm_optim_step(op, 0.01);
        double c5 = cpu_now();
        if (s < 0) {
            w0 = nm_now();
            continue;
        }
        t[0] += c1 - c0, t[1] += c2 - c1, t[2] += c3 - c2, t[3] += c4 - c3, t[4] += c5 - c4;
    }
    const double wall = nm_now() - w0;

    shape sh[64];
    const int ns = step_shapes(m, batch, sh);
    size_t big = 0;
    for (int i = 0; i < ns; i++) {
        size_t a = (size_t)sh[i].m * sh[i].k, b = (size_t)sh[i].k * sh[i].n;
        size_t c = (size_t)sh[i].m * sh[i].n;
        big = a > big ? a : big, big = b > big ? b : big, big = c > big ? c : big;
    }
    float *A = malloc(sizeof(float) * big), *B = malloc(sizeof(float) * big);
    float *C = malloc(sizeof(float) * big);
    if (!A || !B || !C) {
        fprintf(stderr, "bench_train_step: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < big; i++)
        A[i] = B[i] = C[i] = (float)(i % 7) * 0.1f;
    double tg = 0;
    for (int it = -1; it < steps; it++) {   /* one warm-up round */
        double c0 = cpu_now();
        for (int i = 0; i < ns; i++)
            cblas_sgemm(CblasRowMajor, sh[i].ta ? CblasTrans : CblasNoTrans,
                        sh[i].tb ? CblasTrans : CblasNoTrans, sh[i].m, sh[i].n, sh[i].k, 1.0f, A,
                        sh[i].ta ? sh[i].m : sh[i].k, B, sh[i].tb ? sh[i].k : sh[i].n, 0.0f, C,
                        sh[i].n);
        if (it >= 0)
            tg += cpu_now() - c0;
    }
    const double total = t[0] + t[1] + t[2] + t[3] + t[4];
    printf("fmnist_cnn training step, batch %d, %d steps, CPU ms per step:\n", batch, steps);
    printf("  forward %.2f  loss %.3f  zero_grad %.3f  backward %.2f  optimizer %.3f\n",
           t[0] / steps * 1e3, t[1] / steps * 1e3, t[2] / steps * 1e3, t[3] / steps * 1e3,
           t[4] / steps * 1e3);
    printf("  step:      %8.2f ms CPU (%.0f images per CPU-second; wall %.2f ms)\n",
           total / steps * 1e3, batch * steps / total, wall / steps * 1e3);
    printf("  baseline:  %8.2f ms CPU (bare cblas_sgemm, same shapes)\n", tg / steps * 1e3);
    printf("  ratio baseline/step: %.2f\n", tg / total);
    free(A), free(B), free(C), free(labels), free(dlogits);
    nm_optim_free(op);
    nm_net_free(net);
    nm_model_free(m);
    return 0;
}
