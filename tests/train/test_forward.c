/* Forward passes against independent references: a direct convolution
 * written loop by loop in NCHW, hand-worked NMReLU windows and a sort-based
 * top-k, pools, BN formulas, and masks against weights zeroed by hand. The
 * references never call the training kernels. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "net.h"
#include "train.h"

static nm_tensor *rand_input(int n, int c, int h, int w, uint64_t seed)
{
    nm_tensor *x = nm_tensor_new4(NM_F32, 4, n, c, h, w);
    nm_rng r;
    nm_rng_seed(&r, seed);
    for (int64_t i = 0; i < x->numel; i++)
        nm_f32(x)[i] = (float)nm_rng_normal(&r);
    return x;
}

static void randomize_bias(nm_model *m, uint64_t seed)
{
    nm_rng r;
    nm_rng_seed(&r, seed);
    for (int i = 0; i < m->n_layers; i++)
        for (int64_t j = 0; m->layers[i].bias && j < m->layers[i].bias->numel; j++)
            nm_f32(m->layers[i].bias)[j] = (float)nm_rng_normal(&r);
}

/* Direct convolution, NCHW, straight from the definition. */
static double ref_conv(const nm_layer *l, const nm_tensor *x, int s, int o, int oh, int ow)
{
    int cin_g = l->in_c / l->groups, cout_g = l->out_c / l->groups, g = o / cout_g;
    double acc = l->bias ? nm_f32(l->bias)[o] : 0;
    for (int ci = 0; ci < cin_g; ci++)
        for (int ki = 0; ki < l->kh; ki++)
            for (int kj = 0; kj < l->kw; kj++) {
                int ih = oh * l->stride_h - l->pad_h + ki, iw = ow * l->stride_w - l->pad_w + kj;
                if (ih < 0 || ih >= l->in_h || iw < 0 || iw >= l->in_w)
                    continue;
                int c = g * cin_g + ci;
                double xv = nm_f32(x)[(((int64_t)s * l->in_c + c) * l->in_h + ih) * l->in_w + iw];
                double wv = nm_f32(l->weight)[(((int64_t)o * cin_g + ci) * l->kh + ki) * l->kw + kj];
                acc += xv * wv;
            }
    return acc;
}

static void check_conv(int cin, int h, int w, int cout, int kh, int kw, int sh, int sw, int ph,
                       int pw, int groups, int n)
{
    nm_model *m = nm_model_new("c", cin, h, w);
    nm_layer l;
    memset(&l, 0, sizeof l);
    snprintf(l.name, sizeof l.name, "conv");
    l.kind = NM_LAYER_CONV, l.n_inputs = 1, l.inputs[0] = NM_INPUT;
    l.out_c = cout, l.kh = kh, l.kw = kw, l.stride_h = sh, l.stride_w = sw;
    l.pad_h = ph, l.pad_w = pw, l.groups = groups;
    l.bias = nm_tensor_new4(NM_F32, 1, cout, 0, 0, 0);
    cr_assert(nm_model_append(m, &l) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 11);
    randomize_bias(m, 12);
    nm_tensor *x = rand_input(n, cin, h, w, 13);
    nm_tensor *y = nm_forward(m, x);
    cr_assert_not_null(y, "%s", nm_errmsg());
    const nm_layer *c = &m->layers[0];
    cr_assert_eq(y->shape[1], cout);
    for (int s = 0; s < n; s++)
        for (int o = 0; o < cout; o++)
            for (int i = 0; i < c->out_h; i++)
                for (int j = 0; j < c->out_w; j++) {
                    double want = ref_conv(c, x, s, o, i, j);
                    float got = nm_f32(y)[(((int64_t)s * cout + o) * c->out_h + i) * c->out_w + j];
                    cr_assert(fabs(got - want) < 1e-4 * (1 + fabs(want)),
                              "conv s%d o%d (%d,%d): %f vs %f", s, o, i, j, got, want);
                }
    nm_tensor_release(x), nm_tensor_release(y);
    nm_model_free(m);
}

/* Every shape runs on both convolution paths: the AVX-512 kernel (where
 * the CPU has it: conv_fast.c) and im2col + sgemm / Winograd. */
static void check_conv_both(int cin, int h, int w, int cout, int kh, int kw, int sh, int sw,
                            int ph, int pw, int groups, int n)
{
    for (int on = 1; on >= 0; on--) {
        const int was = nm_conv_fast_enable(on);
        check_conv(cin, h, w, cout, kh, kw, sh, sw, ph, pw, groups, n);
        nm_conv_fast_enable(was);
    }
}
#define check_conv check_conv_both

Test(forward, conv_matches_direct_definition)
{
    check_conv(3, 4, 4, 9, 3, 3, 1, 1, 1, 1, 1, 1);      /* 16 positions: one partial panel */
    check_conv(5, 30, 31, 17, 3, 3, 1, 1, 1, 1, 1, 3);   /* 58 panels, 17 rows: tails */
    check_conv(6, 12, 11, 10, 7, 7, 2, 2, 3, 3, 1, 2);   /* 7x7 stride 2 */
    check_conv(4, 10, 10, 8, 1, 1, 2, 2, 0, 0, 1, 2);    /* 1x1 stride 2 */
    check_conv(2, 7, 6, 3, 3, 2, 2, 1, 1, 0, 1, 2);      /* stride 2 down, 1 across */
    check_conv(3, 7, 6, 5, 3, 3, 1, 1, 1, 1, 1, 2);
    check_conv(2, 9, 8, 4, 3, 2, 2, 3, 1, 0, 1, 3);
    check_conv(4, 6, 6, 6, 3, 3, 1, 1, 1, 1, 2, 2);    /* groups */
    check_conv(3, 7, 7, 3, 3, 3, 2, 2, 1, 1, 3, 2);    /* depthwise shape */
    check_conv(32, 32, 32, 3, 3, 3, 1, 1, 1, 1, 1, 17); /* batch split into chunks */
    check_conv(8, 5, 5, 4, 1, 1, 1, 1, 0, 0, 1, 600);
    check_conv(4, 5, 5, 6, 1, 1, 1, 1, 0, 0, 2, 3);    /* pointwise, no unfolding, groups */
    check_conv(3, 7, 8, 6, 3, 3, 2, 1, 1, 1, 3, 2);    /* depthwise, channel multiplier 2 */
    check_conv(5, 6, 9, 5, 5, 3, 1, 2, 2, 0, 5, 2);    /* depthwise 5x3, strides, pads */
    check_conv(128, 9, 9, 128, 3, 3, 1, 1, 1, 1, 1, 2); /* Winograd F(2x2,3x3), odd plane */
    check_conv(128, 9, 8, 136, 3, 3, 1, 1, 0, 0, 1, 3); /* Winograd, no padding, odd rows */
}

/* model:forward keeps its executor between calls (infer.c). Whatever
 * changes in between (weights in place, mask bytes in place, a removed
 * filter, a layer added, the batch) must show in the next output: each is
 * compared with a clone of the model, which has no kept executor. The conv
 * is large enough for Winograd, whose transformed kernels are kept too. */
static void expect_same_as_fresh(nm_model *m, const nm_tensor *x, const char *what)
{
    nm_model *fresh = nm_model_clone(m);
    cr_assert_not_null(fresh, "%s", nm_errmsg());
    cr_assert_null(fresh->fwd_cache);
    nm_tensor *ya = nm_forward(m, x), *yb = nm_forward(fresh, x);
    cr_assert(ya && yb, "%s: %s", what, nm_errmsg());
    cr_assert_eq(ya->numel, yb->numel, "%s", what);
    for (int64_t i = 0; i < ya->numel; i++)
        cr_assert_float_eq(nm_f32(ya)[i], nm_f32(yb)[i], 1e-5, "%s: output %lld", what,
                           (long long)i);
    cr_assert_not_null(m->fwd_cache, "%s: the executor was not kept", what);
    nm_tensor_release(ya), nm_tensor_release(yb);
    nm_model_free(fresh);
}

static void kept_executor_checks(void);

Test(forward, kept_executor_follows_every_change)
{
    kept_executor_checks();             /* the AVX-512 path where the CPU has it */
    const int was = nm_conv_fast_enable(0);
    kept_executor_checks();             /* Winograd, whose kernels are kept */
    nm_conv_fast_enable(was);
}

static void kept_executor_checks(void)
{
    nm_model *m = nm_model_new("keep", 128, 10, 10);   /* 2 x 25 tiles: Winograd */
    int c = nm_add_conv(m, "c", NM_INPUT, 128, 3, 3, 1, 1, 1, 1);
    nm_add_relu(m, "r", NM_PREV, 0);
    nm_add_gap(m, "g", NM_PREV);
    nm_add_flatten(m, "f", NM_PREV);
    int fc = nm_add_linear(m, "fc", NM_PREV, 5, 1);
    cr_assert(fc >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 21);
    randomize_bias(m, 22);
    nm_tensor *x = rand_input(2, 128, 10, 10, 23);
    const int64_t live0 = nm_mem_live();
    expect_same_as_fresh(m, x, "first call");
    const int64_t kept = nm_forward_cache_bytes(m);
    if (!nm_conv_fast_available())
        cr_assert_gt(kept, 128 * 128 * 9 * 4, "the kept executor holds the Winograd kernels");
    cr_assert_eq(nm_mem_live() - live0, kept, "kept buffers are counted in nm_mem_live");

    nm_f32(m->layers[c].weight)[1234] += 0.75f;      /* one weight, in place */
    expect_same_as_fresh(m, x, "weight changed in place");
    nm_layer_ensure_mask(&m->layers[c]);             /* a new mask tensor */
    expect_same_as_fresh(m, x, "mask added");
    for (int64_t k = 0; k < m->layers[c].mask->numel; k += 3)
        nm_u8(m->layers[c].mask)[k] = 0;             /* mask bytes, in place */
    expect_same_as_fresh(m, x, "mask bytes changed in place");
    m->layers[c].filters = nm_tensor_new4(NM_U8, 1, 128, 0, 0, 0);
    memset(m->layers[c].filters->data, 1, 128);
    expect_same_as_fresh(m, x, "filters added");
    nm_u8(m->layers[c].filters)[7] = 0;              /* a filter removed in place */
    expect_same_as_fresh(m, x, "filter removed in place");
    nm_f32(m->layers[fc].bias)[2] = 9.0f;
    expect_same_as_fresh(m, x, "bias changed");
    nm_tensor *x5 = rand_input(5, 128, 10, 10, 24);    /* a larger batch */
    expect_same_as_fresh(m, x5, "larger batch");
    cr_assert(nm_add_relu(m, "r2", NM_PREV, 0) >= 0);  /* a layer added */
    expect_same_as_fresh(m, x, "layer added");

    const int64_t live1 = nm_mem_live(), held = nm_forward_cache_bytes(m);
    nm_forward_release(m);
    cr_assert_eq(nm_forward_cache_bytes(m), 0);
    cr_assert_eq(nm_mem_live(), live1 - held, "released buffers are uncounted");
    nm_tensor_release(x), nm_tensor_release(x5);
    nm_model_free(m);
}

/* One channel, one image of 1 x 8 positions: two 2:4 windows. */
static void nm_window(nm_act_policy pol, const float *in, const float *want, int keep, int mm,
                      int len)
{
    float out[16];
    nm_train_nmrelu_forward(1, 1, len, keep, mm, pol, NM_AXIS_POSITION, in, out);
    for (int i = 0; i < len; i++)
        cr_assert_eq(out[i], want[i], "policy %d, %d:%d, position %d: %g, want %g", (int)pol, keep,
                     mm, i, out[i], want[i]);
}

Test(forward, nmrelu_hand_worked_windows)
{
    /* JOINTNF.md: [1, 5, 3, -2] under 2:4 -> first [1, 5, 0, 0], topk [0, 5, 3, 0] */
    const float in[8] = {1, 5, 3, -2, -1, 2, 2, 7};
    const float first[8] = {1, 5, 0, 0, 0, 2, 2, 0};
    const float topk[8] = {0, 5, 3, 0, 0, 2, 0, 7};   /* tie 2 = 2: the lower index wins */
    nm_window(NM_POLICY_FIRST, in, first, 2, 4, 8);
    nm_window(NM_POLICY_TOPK, in, topk, 2, 4, 8);
    /* trailing partial group of 2 under 3:4 keeps min(3, 2) = 2 */
    const float in6[6] = {4, 3, 2, 1, 9, 8};
    const float want6[6] = {4, 3, 2, 0, 9, 8};
    nm_window(NM_POLICY_TOPK, in6, want6, 3, 4, 6);
    nm_window(NM_POLICY_FIRST, in6, want6, 3, 4, 6);
}

/* Sort-based reference for topk on random data: rank by value, stable. */
static int cmp_desc(const void *a, const void *b)
{
    const float *x = *(const float *const *)a, *y = *(const float *const *)b;
    if (*x != *y)
        return *x < *y ? 1 : -1;
    return x < y ? -1 : 1;
}

Test(forward, nmrelu_topk_and_axes_against_reference)
{
    enum { C = 5, N = 3, P = 7, M = 4, K = 2 };
    float x[C * N * P], y[C * N * P], ref[C * N * P];
    nm_rng r;
    nm_rng_seed(&r, 5);
    for (int i = 0; i < C * N * P; i++)
        x[i] = (float)((int)(nm_rng_uniform(&r) * 9) - 3);   /* many ties and negatives */
    /* position axis, topk: per channel, per image, windows of M positions */
    nm_train_nmrelu_forward(C, N, P, K, M, NM_POLICY_TOPK, NM_AXIS_POSITION, x, y);
    for (int i = 0; i < C * N * P; i++)
        ref[i] = x[i] > 0 ? x[i] : 0;
    for (int c = 0; c < C; c++)
        for (int s = 0; s < N; s++)
            for (int g0 = 0; g0 < P; g0 += M) {
                float *v[M];
                int len = P - g0 < M ? P - g0 : M;
                for (int i = 0; i < len; i++)
                    v[i] = &ref[(c * N + s) * P + g0 + i];
                qsort(v, (size_t)len, sizeof v[0], cmp_desc);
                for (int i = K; i < len; i++)
                    *v[i] = 0;
            }
    for (int i = 0; i < C * N * P; i++)
        cr_assert_eq(y[i], ref[i], "position axis, element %d", i);
    /* channel axis, first: at each (sample, position) windows of M channels */
    nm_train_nmrelu_forward(C, N, P, K, M, NM_POLICY_FIRST, NM_AXIS_CHANNEL, x, y);
    for (int j = 0; j < N * P; j++)
        for (int c0 = 0; c0 < C; c0 += M) {
            int seen = 0;
            for (int c = c0; c < C && c < c0 + M; c++) {
                float v = x[c * N * P + j] > 0 ? x[c * N * P + j] : 0;
                float want = (v > 0 && seen++ < K) ? v : 0;
                cr_assert_eq(y[c * N * P + j], want, "channel axis c%d j%d", c, j);
            }
        }
    /* 1x1 planes: the window runs along the batch (12 samples, 3 windows) */
    float xb[12] = {1, 2, 3, 4, -1, 5, 5, 0, 6, 1, 2, 3}, yb[12];
    const float wb[12] = {1, 2, 0, 0, 0, 5, 5, 0, 6, 1, 0, 0};
    nm_train_nmrelu_forward(1, 12, 1, 2, 4, NM_POLICY_FIRST, NM_AXIS_POSITION, xb, yb);
    for (int i = 0; i < 12; i++)
        cr_assert_eq(yb[i], wb[i], "batch window %d", i);
}

Test(forward, pools_and_gap_against_loops)
{
    nm_model *m = nm_model_new("p", 2, 5, 6);
    int mp = nm_add_pool(m, "mp", NM_INPUT, NM_LAYER_MAXPOOL, 3, 2, 1);
    cr_assert(mp >= 0, "%s", nm_errmsg());
    nm_tensor *x = rand_input(2, 2, 5, 6, 3);
    nm_tensor *y = nm_forward(m, x);
    const nm_layer *l = &m->layers[0];
    cr_assert_eq(l->out_h, 3);
    cr_assert_eq(l->out_w, 3);
    for (int pl = 0; pl < 4; pl++)
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                float best = -INFINITY;
                for (int a = 2 * i - 1; a <= 2 * i + 1; a++)
                    for (int b = 2 * j - 1; b <= 2 * j + 1; b++)
                        if (a >= 0 && a < 5 && b >= 0 && b < 6)
                            best = fmaxf(best, nm_f32(x)[pl * 30 + a * 6 + b]);
                cr_assert_eq(nm_f32(y)[pl * 9 + i * 3 + j], best);
            }
    nm_tensor_release(y);
    nm_model_free(m);

    m = nm_model_new("g", 2, 5, 6);
    nm_add_gap(m, "gap", NM_INPUT);
    y = nm_forward(m, x);
    for (int pl = 0; pl < 4; pl++) {
        double s = 0;
        for (int k = 0; k < 30; k++)
            s += nm_f32(x)[pl * 30 + k];
        cr_assert_float_eq(nm_f32(y)[pl], s / 30, 1e-5);
    }
    nm_tensor_release(y), nm_tensor_release(x);
    nm_model_free(m);
}

Test(forward, batchnorm_train_stats_and_eval)
{
    enum { C = 2, COLS = 6 };
    float x[C * COLS] = {1, 2, 3, 4, 5, 9, -1, -1, 0, 2, 2, 4};
    float g[C] = {2, 0.5f}, b[C] = {1, -1}, rm[C] = {0, 1}, rv[C] = {1, 2};
    float y[C * COLS], mu[C], is[C];
    nm_bn_forward_train(C, COLS, x, g, b, rm, rv, 1e-5f, 0.1f, NULL, y, mu, is);
    /* channel 0: mean 4, biased var (9+4+1+0+1+25)/6 = 40/6, unbiased 8 */
    double sd = sqrt(40.0 / 6 + 1e-5);
    cr_assert_float_eq(y[0], 2 * (1 - 4) / sd + 1, 1e-5);
    cr_assert_float_eq(mu[0], 4, 1e-6);
    cr_assert_float_eq(is[0], 1 / sd, 1e-6);
    cr_assert_float_eq(mu[1], 1, 1e-6);
    cr_assert_float_eq(is[1], 1 / sqrt(20.0 / 6 + 1e-5), 1e-6);
    cr_assert_float_eq(rm[0], 0.1 * 4, 1e-6);
    cr_assert_float_eq(rv[0], 0.9 * 1 + 0.1 * 8, 1e-6);
    /* channel 1: mean 1, biased var (4+4+1+1+1+9)/6 = 20/6, unbiased 4 */
    cr_assert_float_eq(rm[1], 0.9 * 1 + 0.1 * 1, 1e-6);
    cr_assert_float_eq(rv[1], 0.9 * 2 + 0.1 * 4, 1e-6);
    nm_bn_forward_eval(C, COLS, x, g, b, rm, rv, 1e-5f, NULL, y);
    cr_assert_float_eq(y[5], 2 * (9 - rm[0]) / sqrt(rv[0] + 1e-5) + 1, 1e-5);
    uint8_t dead[C] = {0, 1};
    nm_bn_forward_eval(C, COLS, x, g, b, rm, rv, 1e-5f, dead, y);
    for (int i = 0; i < COLS; i++)
        cr_assert_eq(y[COLS + i], 0.0f, "dead channel outputs 0");
}

/* conv(1->4) bn relu flatten fc: masks, removed filters and removed input
 * channels must give the same outputs as weights zeroed by hand, with the
 * BN channel of a removed filter silenced. */
Test(forward, masks_filters_in_chans_match_zeroed_weights)
{
    nm_model *m = nm_model_new("m", 2, 4, 4);
    int c = nm_add_conv(m, "c", NM_INPUT, 4, 3, 3, 1, 1, 1, 1);
    int bn = nm_add_bn(m, "bn", c);
    nm_add_relu(m, "r", NM_PREV, 0);
    nm_add_flatten(m, "f", NM_PREV);
    int fc = nm_add_linear(m, "fc", NM_PREV, 3, 1);
    cr_assert(fc >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 3);
    randomize_bias(m, 4);
    for (int k = 0; k < 4; k++)
        nm_f32(m->layers[bn].beta)[k] = 0.3f * (k + 1);
    nm_layer *lc = &m->layers[c], *lf = &m->layers[fc];
    nm_layer_ensure_mask(lc);
    for (int64_t k = 0; k < lc->mask->numel; k++)
        nm_u8(lc->mask)[k] = (k * 7) % 3 != 0;
    lc->filters = nm_tensor_new4(NM_U8, 1, 4, 0, 0, 0);
    memset(lc->filters->data, 1, 4);
    nm_u8(lc->filters)[2] = 0;                        /* filter 2 removed */
    lc->in_chans = nm_tensor_new4(NM_U8, 1, 2, 0, 0, 0);
    nm_u8(lc->in_chans)[0] = 1;                       /* input channel 1 removed */
    lf->in_chans = nm_tensor_new4(NM_U8, 1, 64, 0, 0, 0);
    for (int k = 0; k < 64; k++)
        nm_u8(lf->in_chans)[k] = k / 16 != 2;         /* feature map 2 removed */

    nm_model *h = nm_model_clone(m);   /* reference: zero by hand, no masks */
    nm_layer *hc = &h->layers[c], *hf = &h->layers[fc];
    for (int o = 0; o < 4; o++)
        for (int ci = 0; ci < 2; ci++)
            for (int k = 0; k < 9; k++) {
                int64_t e = (o * 2 + ci) * 9 + k;
                if (!nm_u8(lc->mask)[e] || o == 2 || ci == 1)
                    nm_f32(hc->weight)[e] = 0;
            }
    nm_f32(hc->bias)[2] = 0;
    nm_f32(h->layers[bn].beta)[2] = 0;   /* channel removed: BN gives 0 */
    for (int o = 0; o < 3; o++)
        for (int k = 32; k < 48; k++)
            nm_f32(hf->weight)[o * 64 + k] = 0;
    nm_tensor_release(hc->mask), nm_tensor_release(hc->filters), nm_tensor_release(hc->in_chans);
    nm_tensor_release(hf->in_chans);
    hc->mask = hc->filters = hc->in_chans = hf->in_chans = NULL;

    nm_tensor *x = rand_input(3, 2, 4, 4, 9);
    nm_tensor *ya = nm_forward(m, x), *yb = nm_forward(h, x);
    cr_assert_not_null(ya, "%s", nm_errmsg());
    for (int64_t i = 0; i < ya->numel; i++)
        cr_assert_float_eq(nm_f32(ya)[i], nm_f32(yb)[i], 1e-5, "output %lld", (long long)i);
    nm_tensor_release(x), nm_tensor_release(ya), nm_tensor_release(yb);
    nm_model_free(m), nm_model_free(h);
}

Test(forward, evaluate_density_and_accuracy_by_count)
{
    nm_model *m = nm_model_new("d", 1, 2, 2);
    nm_add_relu(m, "r", NM_INPUT, 0);
    nm_add_flatten(m, "f", NM_PREV);
    nm_tensor *x = rand_input(50, 1, 2, 2, 17);
    nm_tensor *lab = nm_tensor_new4(NM_I32, 1, 50, 0, 0, 0);
    int64_t pos = 0, right = 0;
    for (int s = 0; s < 50; s++) {
        const float *v = nm_f32(x) + s * 4;
        int best = 0;
        for (int k = 0; k < 4; k++) {
            pos += v[k] > 0;
            if ((v[k] > 0 ? v[k] : 0) > (v[best] > 0 ? v[best] : 0))
                best = k;
        }
        nm_i32(lab)[s] = s % 4;
        right += best == s % 4;
    }
    nm_dataset *d = nm_dataset_new("d", x, lab, 4);
    cr_assert_not_null(d, "%s", nm_errmsg());
    double acc, dens[2];
    cr_assert_eq(nm_evaluate(m, d, 16, &acc, NULL, dens), NM_OK, "%s", nm_errmsg());
    cr_assert_float_eq(dens[0], pos / 200.0, 1e-12);
    cr_assert_float_eq(dens[1], pos / 200.0, 1e-12);
    cr_assert_float_eq(acc, right / 50.0, 1e-12);
    nm_dataset_free(d);
    nm_tensor_release(x), nm_tensor_release(lab);
    nm_model_free(m);
}

Test(forward, bad_inputs_get_messages)
{
    nm_model *m = nm_model_new("b", 1, 4, 4);
    nm_add_relu(m, "r", NM_INPUT, 0);
    nm_tensor *x = rand_input(2, 2, 4, 4, 1);
    cr_assert_null(nm_forward(m, x));
    cr_assert(strstr(nm_errmsg(), "does not match"), "%s", nm_errmsg());
    nm_tensor_release(x);
    /* a gelu runs for inference (it was refused before vit_ops.c); training
     * through it is refused naming the layer */
    nm_add_gelu(m, "g", NM_PREV);
    x = rand_input(2, 1, 4, 4, 1);
    nm_tensor *y = nm_forward(m, x);
    cr_assert_not_null(y, "%s", nm_errmsg());
    for (int64_t k = 0; k < x->numel; k++) {
        double v = fmax(nm_f32(x)[k], 0.0);
        cr_assert_float_eq(nm_f32(y)[k], 0.5 * v * (1 + erf(v / sqrt(2.0))), 1e-6);
    }
    nm_tensor_release(y);
    cr_assert_null(nm_net_new(m, 2, 1));
    cr_assert(strstr(nm_errmsg(), "'g' (gelu)") && strstr(nm_errmsg(), "inference only"), "%s",
              nm_errmsg());
    nm_tensor *lab = nm_tensor_new4(NM_I32, 1, 2, 0, 0, 0);
    nm_i32(lab)[1] = 7;
    cr_assert_null(nm_dataset_new("bad", x, lab, 5));
    cr_assert(strstr(nm_errmsg(), "label 7 of sample 1"), "%s", nm_errmsg());
    nm_tensor_release(x), nm_tensor_release(lab);
    nm_model_free(m);
}

/* Lean nets (model:forward) compute conv -> BN -> ReLU in the conv's
 * epilogue (net.c plan_fusion). Against an NM_NET_EVAL net of the same
 * model, which runs every layer on its own: runs with a bias, a clip
 * (ReLU6), removed filters, a conv read twice (not fused), a BN alone, a
 * depthwise conv, and a NaN in the input (ReLU gives 0, as unfused). */
static void fused_vs_layerwise(int fast)
{
    const int was = nm_conv_fast_enable(fast);
    nm_model *m = nm_model_new("fuse", 3, 12, 12);
    nm_add_conv(m, "c1", NM_INPUT, 16, 3, 3, 1, 1, 1, 1);
    nm_add_bn(m, "b1", NM_PREV);
    nm_add_relu(m, "r1", NM_PREV, 6.0f);
    int c2 = nm_add_conv(m, "c2", NM_PREV, 24, 3, 3, 2, 1, 1, 0);
    nm_add_bn(m, "b2", NM_PREV);
    int r2 = nm_add_relu(m, "r2", NM_PREV, 0);
    nm_add_conv(m, "c3", r2, 24, 1, 1, 1, 0, 1, 1);       /* r2 has two readers */
    int a = nm_add_add(m, "add", NM_PREV, r2);
    nm_add_dwconv(m, "dw", a, 3, 1, 1);
    nm_add_bn(m, "b3", NM_PREV);                          /* conv -> BN, no ReLU */
    nm_add_gap(m, "gap", NM_PREV);
    nm_add_flatten(m, "flat", NM_PREV);
    int fc = nm_add_linear(m, "fc", NM_PREV, 7, 1);
    cr_assert(fc >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 31);
    randomize_bias(m, 32);
    nm_rng r;
    nm_rng_seed(&r, 33);
    for (int i = 0; i < m->n_layers; i++) {
        nm_layer *l = &m->layers[i];
        if (l->kind != NM_LAYER_BN)
            continue;
        for (int c = 0; c < l->out_c; c++) {
            nm_f32(l->gamma)[c] = (float)(0.5 + nm_rng_uniform(&r));
            nm_f32(l->beta)[c] = (float)nm_rng_normal(&r);
            nm_f32(l->mean)[c] = (float)(0.3 * nm_rng_normal(&r));
            nm_f32(l->var)[c] = (float)(0.2 + nm_rng_uniform(&r));
        }
    }
    nm_layer *l2 = &m->layers[c2];
    l2->filters = nm_tensor_new4(NM_U8, 1, l2->out_c, 0, 0, 0);
    memset(l2->filters->data, 1, (size_t)l2->out_c);
    nm_u8(l2->filters)[3] = nm_u8(l2->filters)[10] = 0;
    const int n = 3;
    nm_tensor *x = rand_input(n, 3, 12, 12, 34);
    nm_f32(x)[40] = NAN;
    nm_tensor *y = nm_forward(m, x);
    cr_assert_not_null(y, "%s", nm_errmsg());

    nm_net *net = nm_net_new(m, n, NM_NET_EVAL);
    cr_assert_not_null(net, "%s", nm_errmsg());
    float *in = nm_net_input(net);
    const int64_t hw = 12 * 12;
    for (int s = 0; s < n; s++)                          /* NCHW -> CNHW */
        for (int c = 0; c < 3; c++)
            memcpy(in + ((int64_t)c * n + s) * hw, nm_f32(x) + ((int64_t)s * 3 + c) * hw,
                   sizeof(float) * (size_t)hw);
    const float *want = nm_net_forward(net, n, 0);
    cr_assert_eq(y->numel, 7 * n);
    int finite = 0;
    for (int s = 0; s < n; s++)
        for (int o = 0; o < 7; o++) {
            float got = nm_f32(y)[s * 7 + o], ref = want[o * n + s];
            finite += isfinite(got) != 0;
            cr_assert(fabsf(got - ref) <= 1e-4f * (1 + fabsf(ref)) || (isnan(got) && isnan(ref)),
                      "fast=%d sample %d logit %d: fused %g, layer by layer %g", fast, s, o, got,
                      ref);
        }
    cr_assert_eq(finite, 7 * n, "c1's ReLU turns the NaN into 0: every logit is finite");
    nm_net_free(net);
    nm_tensor_release(x), nm_tensor_release(y);
    nm_model_free(m);
    nm_conv_fast_enable(was);
}

Test(forward, fused_conv_bn_relu_equals_layer_by_layer)
{
    fused_vs_layerwise(1);
    fused_vs_layerwise(0);
}

/* nm_linear_forward on both paths (AVX-512 panels where the CPU has it, and
 * cblas_sgemm) against a double-precision loop: odd sizes, a partial panel,
 * 15 columns (below the fast path's 16) and no bias. */
Test(forward, linear_both_paths_against_loops)
{
    const int shapes[][3] = {{37, 19, 61}, {5, 9, 16}, {64, 8, 15}, {300, 33, 100}};
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        const int in = shapes[si][0], out = shapes[si][1], cols = shapes[si][2];
        nm_rng r;
        nm_rng_seed(&r, 40 + si);
        float *x = malloc(sizeof(float) * in * cols), *w = malloc(sizeof(float) * in * out);
        float *b = malloc(sizeof(float) * out), *y = malloc(sizeof(float) * out * cols);
        size_t wf = nm_linear_work_floats(in, out, cols);
        float *work = malloc(sizeof(float) * (wf ? wf : 1));
        for (int i = 0; i < in * cols; i++)
            x[i] = (float)nm_rng_normal(&r);
        for (int i = 0; i < in * out; i++)
            w[i] = (float)nm_rng_normal(&r);
        for (int i = 0; i < out; i++)
            b[i] = (float)nm_rng_normal(&r);
        for (int on = 1; on >= 0; on--)
            for (int with_b = 0; with_b < 2; with_b++) {
                const int was = nm_conv_fast_enable(on);
                nm_linear_forward(in, out, cols, x, w, with_b ? b : NULL, y, work);
                nm_conv_fast_enable(was);
                for (int o = 0; o < out; o++)
                    for (int c = 0; c < cols; c++) {
                        double want = with_b ? b[o] : 0;
                        for (int k = 0; k < in; k++)
                            want += (double)w[o * in + k] * x[k * cols + c];
                        cr_assert(fabs(y[o * cols + c] - want) < 1e-4 * (1 + fabs(want)),
                                  "in %d out %d cols %d fast %d bias %d: y[%d,%d] %f vs %f", in,
                                  out, cols, on, with_b, o, c, y[o * cols + c], want);
                    }
            }
        free(x), free(w), free(b), free(y), free(work);
    }
}
