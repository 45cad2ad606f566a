/* The fused and batch-parallel backward kernels against independent
 * references: nm_conv_backward against a brute-force convolution adjoint
 * (batch-parallel on 1-3 threads, with workspace room for 3 or 2), the fused
 * BN + ReLU/NMReLU backward against the unfused passes and against a
 * double-precision BN gradient computed from scratch, and the acc = 0
 * (overwrite) modes against acc = 1 on a zeroed buffer; the fused BN-train
 * + ReLU forward against the two passes. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "net.h"
#include "optim.h"

static void fill(float *v, int64_t n, uint64_t seed)
{
    nm_rng r;
    nm_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++)
        v[i] = (float)nm_rng_normal(&r);
}

static void expect_close(const float *got, const double *want, int64_t n, double tol,
                         const char *what)
{
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs(got[i] - want[i]), lim = tol * (1 + fabs(want[i]));
        if (!(e <= lim) && bad++ < 5)
            cr_log_error("%s[%lld] = %.7g, expected %.7g", what, (long long)i, got[i], want[i]);
    }
    cr_expect_eq(bad, 0, "%s: %d values differ", what, bad);
}

/* Brute-force adjoint of the convolution (no groups): dw[o, c, ki, kj] and
 * dx[c, s, ih, iw] in double, CNHW like the kernels. */
static void conv_backward_ref(const nm_conv_geom *g, int n, const float *x, const float *w,
                              const float *dy, double *dx, double *dw)
{
    const int64_t hw = (int64_t)g->h * g->w, p = (int64_t)g->oh * g->ow;
    memset(dx, 0, sizeof(double) * (size_t)(g->cin * n * hw));
    memset(dw, 0, sizeof(double) * (size_t)(g->cout * g->cin * g->kh * g->kw));
    for (int o = 0; o < g->cout; o++)
        for (int s = 0; s < n; s++)
            for (int oh = 0; oh < g->oh; oh++)
                for (int ow = 0; ow < g->ow; ow++) {
                    const double d = dy[((int64_t)o * n + s) * p + oh * g->ow + ow];
                    for (int c = 0; c < g->cin; c++)
                        for (int ki = 0; ki < g->kh; ki++)
                            for (int kj = 0; kj < g->kw; kj++) {
                                int ih = oh * g->sh - g->ph + ki * g->dh;
                                int iw = ow * g->sw - g->pw + kj * g->dw;
                                if (ih < 0 || ih >= g->h || iw < 0 || iw >= g->w)
                                    continue;
                                int64_t xi = ((int64_t)c * n + s) * hw + ih * g->w + iw;
                                int64_t wi = (((int64_t)o * g->cin + c) * g->kh + ki) * g->kw + kj;
                                dw[wi] += d * x[xi];
                                dx[xi] += d * w[wi];
                            }
                }
}

/* One geometry: 1-3 threads with room for 3 or for 2 in the workspace
 * (threads added after the net was built), acc 0 and 1. */
static void check_conv(nm_conv_geom g, int n)
{
    const int64_t xn = (int64_t)g.cin * n * g.h * g.w, yn = (int64_t)g.cout * n * g.oh * g.ow;
    const int64_t wn = (int64_t)g.cout * g.cin * g.kh * g.kw;
    float *x = malloc(sizeof(float) * xn), *w = malloc(sizeof(float) * wn);
    float *dy = malloc(sizeof(float) * yn), *dx = malloc(sizeof(float) * xn);
    float *dw = malloc(sizeof(float) * wn);
    double *rdx = malloc(sizeof(double) * xn), *rdw = malloc(sizeof(double) * wn);
    double *want = malloc(sizeof(double) * (xn > wn ? xn : wn));   /* dx's, then dw's */
    fill(x, xn, 1), fill(w, wn, 2), fill(dy, yn, 3);
    conv_backward_ref(&g, n, x, w, dy, rdx, rdw);
    const size_t full = nm_conv_backward_work_floats(&g, n, 3);
    const size_t two = nm_conv_backward_work_floats(&g, n, 2);   /* room for 2 threads */
    float *work = malloc(sizeof(float) * full);
    const int saved = omp_get_max_threads();
    for (int threads = 1; threads <= 3; threads++)
        for (int small = 0; small < 2; small++)
            for (int acc = 0; acc < 2; acc++) {
                omp_set_num_threads(threads);
                for (int64_t i = 0; i < xn; i++)   /* overwritten, or the base of the sum */
                    dx[i] = acc ? 0.5f * (float)(i % 7) : 1e30f;
                for (int64_t i = 0; i < wn; i++)
                    dw[i] = 0.25f;
                nm_conv_backward(&g, n, x, w, dy, dx, acc, dw, NULL, work, small ? two : full);
                for (int64_t i = 0; i < xn; i++)
                    want[i] = (acc ? 0.5 * (double)(i % 7) : 0.0) + rdx[i];
                char what[64];
                snprintf(what, sizeof what, "dx (threads %d, %s, acc %d)", threads,
                         small ? "room for 2" : "room for 3", acc);
                expect_close(dx, want, xn, 1e-4, what);
                for (int64_t i = 0; i < wn; i++)
                    want[i] = 0.25 + rdw[i];
                snprintf(what, sizeof what, "dw (threads %d, %s, acc %d)", threads,
                         small ? "room for 2" : "room for 3", acc);
                expect_close(dw, want, wn, 1e-4, what);
            }
    omp_set_num_threads(saved);
    /* dx = NULL: only the weight gradient */
    for (int64_t i = 0; i < wn; i++)
        dw[i] = 0;
    nm_conv_backward(&g, n, x, w, dy, NULL, 0, dw, NULL, work, full);
    expect_close(dw, rdw, wn, 1e-4, "dw without dx");
    free(x), free(w), free(dy), free(dx), free(dw), free(rdx), free(rdw), free(want), free(work);
}

static nm_conv_geom geom(int cin, int h, int w, int cout, int k, int s, int pad, int dil)
{
    nm_conv_geom g = {.cin = cin, .h = h, .w = w, .cout = cout, .kh = k, .kw = k, .sh = s,
                      .sw = s, .ph = pad, .pw = pad, .groups = 1, .dh = dil, .dw = dil};
    g.oh = (h + 2 * pad - dil * (k - 1) - 1) / s + 1;
    g.ow = (w + 2 * pad - dil * (k - 1) - 1) / s + 1;
    return g;
}

/* 8 x 9 rows of 48 x 48 positions: one sample per task, 5 tasks. */
Test(backward, conv_3x3_many_tasks_matches_brute_force)
{
    nm_conv_geom g = geom(8, 48, 48, 6, 3, 1, 1, 1);
    check_conv(g, 5);
}

/* Stride 1, undilated: with AVX-512 the input gradient runs as a forward
 * conv of dy with flipped, transposed kernels (dx_as_conv in conv.c); the
 * same shapes with that kernel off take W^T dy and col2im. Both against
 * the brute-force adjoint: rectangular kernels and planes, no padding,
 * padding that differs per axis, 5x5, and a 1-row output. */
Test(backward, conv_stride1_input_gradient_both_paths)
{
    nm_conv_geom gs[6] = {geom(7, 13, 10, 20, 3, 1, 1, 1), geom(4, 9, 9, 5, 3, 1, 0, 1),
                          geom(3, 12, 11, 17, 5, 1, 2, 1), geom(6, 8, 8, 4, 5, 1, 1, 1)};
    gs[4] = (nm_conv_geom){.cin = 5, .h = 10, .w = 7, .cout = 9, .kh = 3, .kw = 1, .sh = 1,
                           .sw = 1, .ph = 1, .pw = 0, .groups = 1, .dh = 1, .dw = 1,
                           .oh = 10, .ow = 7};
    gs[5] = (nm_conv_geom){.cin = 4, .h = 3, .w = 20, .cout = 6, .kh = 3, .kw = 3, .sh = 1,
                           .sw = 1, .ph = 0, .pw = 1, .groups = 1, .dh = 1, .dw = 1,
                           .oh = 1, .ow = 20};
    const int was = nm_conv_fast_enable(1);
    for (int fast = 1; fast >= 0; fast--) {
        nm_conv_fast_enable(fast);
        for (int i = 0; i < 6; i++)
            check_conv(gs[i], 3);
    }
    nm_conv_fast_enable(was);
}

/* Stride 2, dilation 2, no padding; small planes: several samples a task. */
Test(backward, conv_strided_dilated_matches_brute_force)
{
    check_conv(geom(3, 11, 9, 4, 3, 2, 0, 2), 7);
    check_conv(geom(5, 7, 7, 3, 3, 2, 1, 1), 4);
}

/* BN backward from scratch in double: xhat from the batch statistics of x,
 * g = dy masked by 0 < r < clip (r = NULL: unmasked). */
static void bn_backward_ref(int c, int64_t cols, const float *x, const float *gamma,
                            const float *r, float clip, const float *dy, double *dx,
                            double *dgamma, double *dbeta)
{
    const double top = clip > 0 ? clip : INFINITY;
    for (int ch = 0; ch < c; ch++) {
        const float *xr = x + ch * cols;
        double mean = 0, var = 0;
        for (int64_t i = 0; i < cols; i++)
            mean += xr[i];
        mean /= (double)cols;
        for (int64_t i = 0; i < cols; i++)
            var += (xr[i] - mean) * (xr[i] - mean);
        var /= (double)cols;
        const double is = 1 / sqrt(var + 1e-5);
        double sg = 0, sgh = 0;
        for (int64_t i = 0; i < cols; i++) {
            int64_t e = ch * cols + i;
            double g = (!r || (r[e] > 0 && r[e] < top)) ? dy[e] : 0;
            sg += g, sgh += g * (xr[i] - mean) * is;
        }
        dgamma[ch] = sgh, dbeta[ch] = sg;
        for (int64_t i = 0; i < cols; i++) {
            int64_t e = ch * cols + i;
            double g = (!r || (r[e] > 0 && r[e] < top)) ? dy[e] : 0;
            dx[e] = gamma[ch] * is / (double)cols *
                    ((double)cols * g - sg - (xr[i] - mean) * is * sgh);
        }
    }
}

/* Fused BN + activation backward: against the reference and against the
 * unfused passes (nm_relu_backward into a buffer, then nm_bn_backward),
 * for ReLU, ReLU6 and a dead channel, acc 0 and 1. */
Test(backward, bn_act_fused_matches_unfused_and_reference)
{
    enum { C = 3, COLS = 1500 };
    float x[C * COLS], y[C * COLS], r[C * COLS], dy[C * COLS], gy[C * COLS];
    float gamma[C] = {1.3f, -0.7f, 0.9f}, beta[C] = {0.2f, 0.1f, -0.4f};
    float rm[C] = {0}, rv[C] = {1, 1, 1}, mean[C], is[C];
    float dx[C * COLS], dxu[C * COLS], dg[C], db[C], dgu[C], dbu[C];
    double rdx[C * COLS], rdg[C], rdb[C], want[C * COLS];
    fill(x, C * COLS, 11), fill(dy, C * COLS, 12);
    for (int i = 0; i < C * COLS; i++)
        x[i] = 3.0f + 2.0f * x[i];   /* an offset mean: the shifted sums must not cancel */
    for (int dead_on = 0; dead_on < 2; dead_on++)
        for (int ci = 0; ci < 2; ci++) {
            const float clip = ci ? 1.0f : 0.0f;
            const uint8_t dead[C] = {0, (uint8_t)dead_on, 0};
            nm_bn_forward_train(C, COLS, x, gamma, beta, rm, rv, 1e-5f, 0.1f, dead, y, mean, is);
            nm_relu_forward(C * COLS, clip, y, r);
            bn_backward_ref(C, COLS, x, gamma, r, clip, dy, rdx, rdg, rdb);
            for (int acc = 0; acc < 2; acc++) {
                for (int i = 0; i < C * COLS; i++)
                    dx[i] = acc ? 1.0f : -7e20f, dxu[i] = acc ? 1.0f : 0.0f, gy[i] = 0;
                memset(dg, 0, sizeof dg), memset(db, 0, sizeof db);
                memset(dgu, 0, sizeof dgu), memset(dbu, 0, sizeof dbu);
                nm_bn_act_backward(C, COLS, x, mean, is, gamma, dead, r, clip, dy, dx, acc, dg, db);
                nm_relu_backward(C * COLS, clip, r, dy, gy, 1);
                nm_bn_backward(C, COLS, x, mean, is, gamma, dead, gy, dxu, 1, dgu, dbu);
                for (int i = 0; i < C * COLS; i++) {
                    const int ch = i / COLS;
                    want[i] = (acc ? 1.0 : 0.0) + (dead[ch] ? 0.0 : rdx[i]);
                    cr_expect(fabsf(dx[i] - dxu[i]) <= 1e-4f * (1 + fabsf(dxu[i])),
                              "fused %g vs unfused %g at %d", dx[i], dxu[i], i);
                }
                expect_close(dx, want, C * COLS, 1e-3, "fused dx vs reference");
                for (int ch = 0; ch < C; ch++) {
                    double wg = dead[ch] ? 0 : rdg[ch], wb = dead[ch] ? 0 : rdb[ch];
                    cr_expect(fabs(dg[ch] - wg) <= 1e-3 * (1 + fabs(wg)), "dgamma[%d] %g vs %g",
                              ch, dg[ch], wg);
                    cr_expect(fabs(db[ch] - wb) <= 1e-3 * (1 + fabs(wb)), "dbeta[%d] %g vs %g",
                              ch, db[ch], wb);
                    cr_expect_eq(dg[ch], dgu[ch]);
                    cr_expect_eq(db[ch], dbu[ch]);
                }
            }
        }
}

/* One-pass statistics keep their precision on a large offset. */
Test(backward, bn_forward_stats_with_offset)
{
    enum { COLS = 4096 };
    static float x[COLS], y[COLS];
    float g = 1, b = 0, rm = 0, rv = 1, mean, is;
    for (int i = 0; i < COLS; i++)
        x[i] = 1000.0f + (float)(i % 2 ? 0.5 : -0.5);   /* mean 1000, variance 0.25 */
    nm_bn_forward_train(1, COLS, x, &g, &b, &rm, &rv, 0.0f, 1.0f, NULL, y, &mean, &is);
    cr_expect_float_eq(mean, 1000.0f, 1e-3);
    cr_expect_float_eq(is, 2.0f, 1e-4);
    cr_expect_float_eq(y[0], -1.0f, 1e-4);
    cr_expect_float_eq(rv, 0.25 * COLS / (COLS - 1), 1e-5);
}

/* acc = 0 overwrites whatever dx held; acc = 1 adds: the same as adding
 * onto zeros. ReLU (clipped and not), max and average pooling. */
Test(backward, overwrite_equals_add_onto_zeros)
{
    enum { PL = 6, H = 6, W = 6, N = PL * H * W };
    float x[N], y[N], dy[N], a[N], b[N];
    fill(x, N, 21), fill(dy, N, 22);
    for (int ci = 0; ci < 2; ci++) {
        const float clip = ci ? 0.5f : 0.0f;
        nm_relu_forward(N, clip, x, y);
        for (int i = 0; i < N; i++)
            a[i] = 99.0f, b[i] = 0.0f;
        nm_relu_backward(N, clip, y, dy, a, 0);
        nm_relu_backward(N, clip, y, dy, b, 1);
        cr_expect(memcmp(a, b, sizeof a) == 0, "relu clip %g", clip);
        for (int i = 0; i < N; i++) {
            float want = (y[i] > 0 && (clip <= 0 || y[i] < clip)) ? dy[i] : 0.0f;
            cr_expect_eq(b[i], want);
        }
    }
    nm_pool_geom g = {.h = H, .w = W, .oh = 3, .ow = 3, .kh = 3, .kw = 3, .sh = 2, .sw = 2,
                      .ph = 1, .pw = 1, .ph2 = 1, .pw2 = 1, .dh = 1, .dw = 1};
    float py[PL * 9], pdy[PL * 9];
    int32_t arg[PL * 9];
    fill(pdy, PL * 9, 23);
    nm_maxpool_forward(&g, PL, x, py, arg);
    for (int i = 0; i < N; i++)
        a[i] = 99.0f, b[i] = 0.0f;
    nm_maxpool_backward(&g, PL, arg, pdy, a, 0);
    nm_maxpool_backward(&g, PL, arg, pdy, b, 1);
    cr_expect(memcmp(a, b, sizeof a) == 0, "maxpool");
    double s = 0, t = 0;
    for (int i = 0; i < N; i++)
        s += b[i];
    for (int i = 0; i < PL * 9; i++)
        t += pdy[i];
    cr_expect_float_eq(s, t, 1e-4, "max pool routes every gradient once");
    for (int i = 0; i < N; i++)
        a[i] = 99.0f, b[i] = 0.0f;
    nm_avgpool_backward(&g, PL, pdy, a, 0);
    nm_avgpool_backward(&g, PL, pdy, b, 1);
    cr_expect(memcmp(a, b, sizeof a) == 0, "avgpool");
}

/* BN-train + ReLU in one pass: the same y, statistics and running
 * statistics as nm_bn_forward_train, and r = nm_relu_forward(y), clipped
 * or not, with a dead channel. */
Test(backward, bn_relu_forward_fused_matches_unfused)
{
    enum { C = 3, COLS = 777 };
    float x[C * COLS], y1[C * COLS], y2[C * COLS], r1[C * COLS], r2[C * COLS];
    float g[C] = {0.8f, 1.1f, -0.5f}, b[C] = {0.3f, -0.2f, 0.1f};
    const uint8_t dead[C] = {0, 0, 1};
    fill(x, C * COLS, 41);
    for (int ci = 0; ci < 2; ci++) {
        const float clip = ci ? 0.6f : 0.0f;
        float rm1[C] = {0.1f, 0.2f, 0.3f}, rv1[C] = {1, 2, 3}, rm2[C], rv2[C];
        float m1[C], m2[C], is1[C], is2[C];
        memcpy(rm2, rm1, sizeof rm1), memcpy(rv2, rv1, sizeof rv1);
        for (int i = 0; i < C * COLS; i++)
            r2[i] = 5.0f;   /* overwritten */
        nm_bn_forward_train(C, COLS, x, g, b, rm1, rv1, 1e-5f, 0.1f, dead, y1, m1, is1);
        nm_relu_forward(C * COLS, clip, y1, r1);
        nm_bn_relu_forward_train(C, COLS, x, g, b, rm2, rv2, 1e-5f, 0.1f, dead, y2, m2, is2, clip,
                                 r2);
        cr_expect(memcmp(y1, y2, sizeof y1) == 0, "y");
        cr_expect(memcmp(r1, r2, sizeof r1) == 0, "r (clip %g)", clip);
        cr_expect(memcmp(m1, m2, sizeof m1) == 0 && memcmp(is1, is2, sizeof is1) == 0);
        cr_expect(memcmp(rm1, rm2, sizeof rm1) == 0 && memcmp(rv1, rv2, sizeof rv1) == 0);
        int pos = 0, top = 0;
        for (int i = 0; i < C * COLS; i++)
            pos += r2[i] > 0, top += clip > 0 && r2[i] == clip;
        cr_expect(pos > COLS / 2 && (clip <= 0 || top > 10), "the cases are exercised");
    }
}

/* In a training net the fused ReLU's output (written by its BN) is
 * relu(BN output), clipped for a ReLU6, on every batch size used. */
Test(backward, net_training_forward_fused_relu)
{
    nm_model *m = nm_model_new("t", 2, 5, 5);
    nm_add_conv(m, "c", NM_INPUT, 4, 3, 3, 1, 1, 1, 0);
    int bn = nm_add_bn(m, "bn", NM_PREV);
    int r = nm_add_relu(m, "r", NM_PREV, 0.7f);
    nm_add_flatten(m, "f", NM_PREV);
    cr_assert(nm_add_linear(m, "fc", NM_PREV, 3, 1) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 5);
    nm_net *net = nm_net_new(m, 6, NM_NET_TRAIN);
    cr_assert_not_null(net, "%s", nm_errmsg());
    fill(nm_net_input(net), 2 * 25 * 6, 51);
    for (int n = 6; n >= 2; n -= 4) {
        nm_net_forward(net, n, 1);
        const float *y = nm_net_act(net, bn), *a = nm_net_act(net, r);
        int pos = 0;
        for (int i = 0; i < 4 * 25 * n; i++) {
            float want = y[i] > 0 ? (y[i] < 0.7f ? y[i] : 0.7f) : 0.0f;
            cr_expect_eq(a[i], want, "n %d: relu[%d] = %g, bn %g", n, i, a[i], y[i]);
            pos += a[i] > 0;
        }
        cr_expect(pos > 0);
    }
    nm_net_free(net);
    nm_model_free(m);
}

/* The optimizer's single pass over every parameter: two SGD steps against
 * the update written out element by element (momentum, weight decay on
 * weights, BN-L1 on gamma, masked entries at 0 with zero momentum), on
 * parameters of several spans; SR-STE keeps pruned entries training. */
Test(backward, sgd_step_matches_elementwise_reference)
{
    enum { NW = 40000, NG = 37 };
    for (int ste = 0; ste < 2; ste++) {
        static float w[NW], gw[NW], g[NG], gg[NG];
        static double rw[NW], rm[NW], rg[NG], rmg[NG];
        static uint8_t mask[NW];
        fill(w, NW, 61), fill(gw, NW, 62), fill(g, NG, 63), fill(gg, NG, 64);
        for (int i = 0; i < NW; i++)
            mask[i] = i % 3 != 0, rw[i] = w[i], rm[i] = 0;
        for (int i = 0; i < NG; i++)
            rg[i] = g[i], rmg[i] = 0;
        nm_param ps[2] = {{NM_PARAM_WEIGHT, 0, NW, w, gw, mask}, {NM_PARAM_GAMMA, 1, NG, g, gg, NULL}};
        nm_train_opts o;
        nm_train_opts_default(&o);
        o.l1_bn = 0.01, o.srste = ste ? 0.002 : 0, o.srste_n = 2, o.srste_m = 4;
        nm_optim *op = nm_optim_new(ps, 2, &o);
        cr_assert_not_null(op);
        for (int step = 0; step < 2; step++) {
            const double lr = 0.1 / (step + 1);
            nm_optim_step(op, lr);
            for (int i = 0; i < NW; i++) {
                if (!mask[i] && !ste) {
                    rw[i] = 0, rm[i] = 0;
                    continue;
                }
                double gr = gw[i] + o.weight_decay * rw[i] + (mask[i] ? 0 : o.srste * rw[i]);
                rm[i] = o.momentum * rm[i] + gr;
                rw[i] -= lr * rm[i];
            }
            for (int i = 0; i < NG; i++) {
                double gr = gg[i] + (rg[i] > 0 ? o.l1_bn : rg[i] < 0 ? -o.l1_bn : 0);
                rmg[i] = o.momentum * rmg[i] + gr;
                rg[i] -= lr * rmg[i];
            }
        }
        expect_close(w, rw, NW, 1e-5, ste ? "weights (SR-STE)" : "weights");
        expect_close(g, rg, NG, 1e-5, "gamma");
        int zeros = 0;
        for (int i = 0; i < NW; i++)
            zeros += w[i] == 0.0f;
        cr_expect_eq(zeros, ste ? 0 : (NW + 2) / 3, "masked entries exactly 0 without SR-STE");
        nm_optim_free(op);
    }
}
