/* Gradient checks: every layer's backward pass against central finite
 * differences of its own forward pass, on small random tensors. The loss is
 * L = sum(out * R) for a fixed random R, so dL/dout = R. Inputs of the
 * non-smooth layers (ReLU, NMReLU, pools) are chosen away from their kinks
 * and ties so the differences are well defined. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "net.h"

typedef struct {
    nm_model *m;
    nm_net *net;
    int n;
    int64_t in_count, out_count;
    float *x, *r;
} gc;

static int64_t out_count(const nm_model *m, int n)
{
    const nm_layer *l = &m->layers[m->n_layers - 1];
    return (int64_t)l->out_c * l->out_h * l->out_w * n;
}

/* Random weights, nonzero biases/BN affine, then random input x. spaced:
 * inputs are a shuffled ladder of distinct values with |x| >= 0.1. */
static void gc_init(gc *g, nm_model *m, int n, uint64_t seed, int spaced)
{
    g->m = m;
    g->n = n;
    nm_model_init_weights(m, seed);
    nm_rng r;
    nm_rng_seed(&r, seed + 99);
    for (int i = 0; i < m->n_layers; i++) {
        nm_layer *l = &m->layers[i];
        nm_tensor *ts[] = {l->bias, l->gamma, l->beta};
        for (int k = 0; k < 3; k++)
            for (int64_t j = 0; ts[k] && j < ts[k]->numel; j++)
                nm_f32(ts[k])[j] = (float)((k == 1 ? 1.0 : 0.0) + 0.5 * nm_rng_normal(&r));
    }
    g->net = nm_net_new(m, n, 1);
    cr_assert_not_null(g->net, "%s", nm_errmsg());
    nm_net_want_input_grad(g->net, 1);
    g->in_count = (int64_t)m->in_c * m->in_h * m->in_w * n;
    g->out_count = out_count(m, n);
    g->x = nm_net_input(g->net);
    for (int64_t i = 0; i < g->in_count; i++) {
        if (spaced) {
            double v = 0.1 + 0.07 * (double)i;
            g->x[i] = (float)((i % 2) ? -v : v);
        } else {
            g->x[i] = (float)nm_rng_normal(&r);
        }
    }
    if (spaced)
        for (int64_t i = g->in_count - 1; i > 0; i--) {
            int64_t j = (int64_t)(nm_rng_next(&r) % (uint64_t)(i + 1));
            float t = g->x[i];
            g->x[i] = g->x[j], g->x[j] = t;
        }
    g->r = malloc(sizeof(float) * (size_t)g->out_count);
    for (int64_t i = 0; i < g->out_count; i++)
        g->r[i] = (float)nm_rng_normal(&r);
}

static double gc_loss(gc *g)
{
    const float *y = nm_net_forward(g->net, g->n, 1);
    double s = 0;
    for (int64_t i = 0; i < g->out_count; i++)
        s += (double)y[i] * g->r[i];
    return s;
}

/* Compares analytic and numeric derivatives for up to `samples` entries of
 * v[0..count): returns the number of mismatches. */
static int gc_compare(gc *g, float *v, const float *grad, int64_t count, int samples, float h,
                      const char *what)
{
    int bad = 0;
    int64_t step = count > samples ? count / samples : 1;
    for (int64_t k = 0; k < count; k += step) {
        float keep = v[k];
        v[k] = keep + h;
        double lp = gc_loss(g);
        v[k] = keep - h;
        double lm = gc_loss(g);
        v[k] = keep;
        double num = (lp - lm) / (2.0 * h), ana = grad[k];
        double tol = 2e-3 + 2e-2 * fmax(fabs(num), fabs(ana));
        if (fabs(num - ana) > tol) {
            if (bad < 5)
                cr_log_error("%s[%lld]: analytic %.6f numeric %.6f", what, (long long)k, ana, num);
            bad++;
        }
    }
    return bad;
}

/* Entries sampled per tensor (input, parameters); big cases lower them. */
static int in_samples = 60, param_samples = 40;

/* Full check: input gradient and every parameter's gradient. */
static void gc_run(nm_model *m, int n, uint64_t seed, int spaced, float h)
{
    gc g;
    gc_init(&g, m, n, seed, spaced);
    gc_loss(&g);
    nm_net_zero_grad(g.net);
    nm_net_backward(g.net, g.r);
    float *gin = malloc(sizeof(float) * (size_t)g.in_count);
    memcpy(gin, nm_net_input_grad(g.net), sizeof(float) * (size_t)g.in_count);
    int np;
    nm_param *ps = nm_net_params(g.net, &np);
    float **pg = calloc((size_t)np + 1, sizeof *pg);
    for (int i = 0; i < np; i++) {
        pg[i] = malloc(sizeof(float) * (size_t)ps[i].n);
        memcpy(pg[i], ps[i].g, sizeof(float) * (size_t)ps[i].n);
    }
    int bad = gc_compare(&g, g.x, gin, g.in_count, in_samples, h, "input");
    double gsum = 0;
    for (int64_t i = 0; i < g.in_count; i++)
        gsum += fabs(gin[i]);
    cr_assert(gsum > 0, "input gradient is all zero");
    static const char *kinds[] = {"weight", "bias", "gamma", "beta"};
    for (int i = 0; i < np; i++) {
        char what[96];
        snprintf(what, sizeof what, "%s.%s", m->layers[ps[i].layer].name, kinds[ps[i].kind]);
        bad += gc_compare(&g, ps[i].w, pg[i], ps[i].n, param_samples, h, what);
        free(pg[i]);
    }
    cr_assert_eq(bad, 0, "%d gradient entries differ from finite differences", bad);
    free(pg), free(gin), free(g.r);
    nm_net_free(g.net);
    nm_model_free(m);
}

Test(grad, conv_stride1_pad1_bias)
{
    nm_model *m = nm_model_new("t", 3, 6, 6);
    cr_assert(nm_add_conv(m, "c", NM_INPUT, 4, 3, 3, 1, 1, 1, 1) >= 0, "%s", nm_errmsg());
    gc_run(m, 2, 1, 0, 1e-2f);
}

Test(grad, conv_stride2_rect_kernel)
{
    nm_model *m = nm_model_new("t", 2, 7, 6);
    nm_layer l;
    memset(&l, 0, sizeof l);
    snprintf(l.name, sizeof l.name, "c");
    l.kind = NM_LAYER_CONV, l.n_inputs = 1, l.inputs[0] = NM_INPUT;
    l.out_c = 3, l.kh = 3, l.kw = 2, l.stride_h = 2, l.stride_w = 1, l.pad_h = 1, l.pad_w = 0;
    l.groups = 1;
    cr_assert(nm_model_append(m, &l) >= 0, "%s", nm_errmsg());
    gc_run(m, 2, 2, 0, 1e-2f);
}

Test(grad, conv_groups)
{
    nm_model *m = nm_model_new("t", 4, 5, 5);
    cr_assert(nm_add_conv(m, "c", NM_INPUT, 6, 3, 3, 1, 1, 2, 1) >= 0, "%s", nm_errmsg());
    gc_run(m, 2, 3, 0, 1e-2f);
}

/* 32 channels of 32x32 under a 3x3 kernel need a 288 x 1024 unfolding per
 * sample: the 16-sample batch runs in two chunks (see conv.c). */
Test(grad, conv_batch_in_chunks)
{
    nm_model *m = nm_model_new("t", 32, 32, 32);
    cr_assert(nm_add_conv(m, "c", NM_INPUT, 2, 3, 3, 1, 1, 1, 1) >= 0, "%s", nm_errmsg());
    nm_conv_geom g;
    nm_conv_geom_of(&m->layers[0], &g);
    cr_assert_lt(nm_conv_work_floats(&g, 16), (size_t)288 * 1024 * 16, "must be chunked");
    in_samples = 16, param_samples = 16;
    gc_run(m, 16, 30, 0, 1e-2f);
}

Test(grad, depthwise_stride2)
{
    nm_model *m = nm_model_new("t", 3, 7, 7);
    cr_assert(nm_add_dwconv(m, "dw", NM_INPUT, 3, 2, 1) >= 0, "%s", nm_errmsg());
    gc_run(m, 2, 4, 0, 1e-2f);
}

Test(grad, linear_per_position_and_flattened)
{
    nm_model *m = nm_model_new("t", 3, 2, 2);
    cr_assert(nm_add_linear(m, "lp", NM_INPUT, 4, 1) >= 0);
    nm_add_flatten(m, "f", NM_PREV);
    cr_assert(nm_add_linear(m, "fc", NM_PREV, 5, 1) >= 0, "%s", nm_errmsg());
    gc_run(m, 3, 5, 0, 1e-2f);
}

Test(grad, batchnorm_training_mode)
{
    nm_model *m = nm_model_new("t", 2, 3, 3);
    nm_add_conv(m, "c", NM_INPUT, 3, 3, 3, 1, 1, 1, 0);
    cr_assert(nm_add_bn(m, "bn", NM_PREV) >= 0, "%s", nm_errmsg());
    gc_run(m, 3, 6, 0, 1e-2f);
}

Test(grad, relu_and_relu6)
{
    nm_model *m = nm_model_new("t", 2, 3, 3);
    nm_add_relu(m, "r", NM_INPUT, 0);
    gc_run(m, 2, 7, 1, 1e-3f);
    /* clip 1.52: the ladder avoids 1.52 +- 1e-3 (values are 0.1 + 0.07 k) */
    m = nm_model_new("t", 2, 3, 3);
    nm_add_relu(m, "r6", NM_INPUT, 1.52f);
    gc_run(m, 2, 8, 1, 1e-3f);
}

static void nmrelu_case(int keep, int mm, nm_act_policy pol, nm_act_axis ax, int flat)
{
    nm_model *m = nm_model_new("t", 4, 3, 3);
    if (flat)
        nm_add_flatten(m, "f", NM_INPUT);
    cr_assert(nm_add_nmrelu(m, "nm", flat ? NM_PREV : NM_INPUT, keep, mm, pol, ax) >= 0, "%s",
              nm_errmsg());
    gc_run(m, 4, 9 + keep + mm, 1, 1e-3f);
}

Test(grad, nmrelu_first_and_topk_both_axes)
{
    nmrelu_case(2, 4, NM_POLICY_FIRST, NM_AXIS_POSITION, 0);
    nmrelu_case(2, 4, NM_POLICY_TOPK, NM_AXIS_POSITION, 0);
    nmrelu_case(4, 9, NM_POLICY_TOPK, NM_AXIS_POSITION, 0);
    nmrelu_case(1, 3, NM_POLICY_FIRST, NM_AXIS_CHANNEL, 0);
    nmrelu_case(2, 3, NM_POLICY_TOPK, NM_AXIS_CHANNEL, 0);
    nmrelu_case(2, 4, NM_POLICY_TOPK, NM_AXIS_POSITION, 1);   /* groups along the batch */
}

Test(grad, pools)
{
    nm_model *m = nm_model_new("t", 2, 6, 6);
    nm_add_pool(m, "mp", NM_INPUT, NM_LAYER_MAXPOOL, 2, 2, 0);
    gc_run(m, 2, 20, 1, 1e-3f);
    m = nm_model_new("t", 2, 5, 5);
    nm_add_pool(m, "mp", NM_INPUT, NM_LAYER_MAXPOOL, 3, 2, 1);
    gc_run(m, 2, 21, 1, 1e-3f);
    m = nm_model_new("t", 2, 5, 5);
    nm_add_pool(m, "ap", NM_INPUT, NM_LAYER_AVGPOOL, 3, 2, 1);
    gc_run(m, 2, 22, 0, 1e-2f);
    m = nm_model_new("t", 3, 4, 4);
    nm_add_gap(m, "gap", NM_INPUT);
    gc_run(m, 2, 23, 0, 1e-2f);
}

Test(grad, residual_add_with_shared_producer)
{
    nm_model *m = nm_model_new("t", 2, 4, 4);
    int a = nm_add_conv(m, "a", NM_INPUT, 3, 3, 3, 1, 1, 1, 0);
    int b = nm_add_conv(m, "b", a, 3, 3, 3, 1, 1, 1, 1);
    int s = nm_add_conv(m, "s", a, 3, 1, 1, 1, 0, 1, 0);
    cr_assert(nm_add_add(m, "add", b, s) >= 0, "%s", nm_errmsg());
    gc_run(m, 2, 24, 0, 1e-2f);
}

Test(grad, small_cnn_chain)
{
    nm_model *m = nm_model_new("t", 1, 8, 8);
    nm_add_conv(m, "c1", NM_INPUT, 4, 3, 3, 1, 1, 1, 0);
    nm_add_bn(m, "bn1", NM_PREV);
    nm_add_conv(m, "c2", NM_PREV, 4, 3, 3, 2, 1, 1, 0);
    nm_add_bn(m, "bn2", NM_PREV);
    nm_add_pool(m, "ap", NM_PREV, NM_LAYER_AVGPOOL, 2, 2, 0);
    nm_add_flatten(m, "f", NM_PREV);
    cr_assert(nm_add_linear(m, "fc", NM_PREV, 3, 1) >= 0, "%s", nm_errmsg());
    gc_run(m, 3, 25, 0, 1e-2f);
}

/* BN + ReLU/ReLU6 pairs whose backward runs fused (bn1, bn3), a BN with two
 * consumers that is not fused (bn2 feeds relu6 and the add), and a 1x1 conv
 * (backward without im2col). */
Test(grad, bn_relu_fused_and_shared)
{
    nm_model *m = nm_model_new("t", 2, 6, 6);
    nm_add_conv(m, "c1", NM_INPUT, 4, 3, 3, 1, 1, 1, 0);
    nm_add_bn(m, "bn1", NM_PREV);
    nm_add_relu(m, "r1", NM_PREV, 0);
    nm_add_conv(m, "c2", NM_PREV, 4, 3, 3, 1, 1, 1, 0);
    int bn2 = nm_add_bn(m, "bn2", NM_PREV);
    int r2 = nm_add_relu(m, "r2", bn2, 1.5f);
    cr_assert(nm_add_add(m, "add", r2, bn2) >= 0, "%s", nm_errmsg());
    nm_add_conv(m, "c3", NM_PREV, 3, 1, 1, 1, 0, 1, 1);
    nm_add_bn(m, "bn3", NM_PREV);
    nm_add_relu(m, "r3", NM_PREV, 0);
    nm_add_flatten(m, "f", NM_PREV);
    cr_assert(nm_add_linear(m, "fc", NM_PREV, 3, 1) >= 0, "%s", nm_errmsg());
    gc_run(m, 3, 26, 0, 1e-3f);
}

/* BN then NMReLU (2:4 along positions): fused, the gradient through the
 * kept values only. */
Test(grad, bn_nmrelu_fused)
{
    nm_model *m = nm_model_new("t", 1, 4, 8);
    nm_add_conv(m, "c", NM_INPUT, 3, 3, 3, 1, 1, 1, 0);
    nm_add_bn(m, "bn", NM_PREV);
    cr_assert(nm_add_nmrelu(m, "nm", NM_PREV, 2, 4, NM_POLICY_TOPK, NM_AXIS_POSITION) >= 0, "%s",
              nm_errmsg());
    gc_run(m, 2, 27, 0, 1e-2f);
}

/* The loss: softmax cross-entropy's gradient against finite differences in
 * double, and its value against a hand-computed case. */
Test(grad, softmax_cross_entropy)
{
    enum { K = 4, N = 3 };
    float z[K * N];
    int32_t y[N] = {2, 0, 3};
    nm_rng r;
    nm_rng_seed(&r, 31);
    for (int i = 0; i < K * N; i++)
        z[i] = (float)nm_rng_normal(&r);
    float dz[K * N];
    int ok;
    nm_softmax_xent(K, N, z, y, dz, &ok);
    for (int i = 0; i < K * N; i++) {
        float keep = z[i];
        z[i] = keep + 1e-3f;
        double lp = nm_softmax_xent(K, N, z, y, NULL, NULL);
        z[i] = keep - 1e-3f;
        double lm = nm_softmax_xent(K, N, z, y, NULL, NULL);
        z[i] = keep;
        cr_assert_float_eq((lp - lm) / 2e-3, dz[i], 1e-3, "dlogit %d", i);
    }
    /* two classes, logits (0, ln 3) for one sample with label 0: p0 = 1/4 */
    float z2[2] = {0.0f, logf(3.0f)};
    int32_t y2[1] = {0};
    cr_assert_float_eq(nm_softmax_xent(2, 1, z2, y2, NULL, &ok), log(4.0), 1e-6);
    cr_assert_eq(ok, 0);
}
