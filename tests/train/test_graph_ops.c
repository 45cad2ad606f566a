/* test_graph_ops.c - forward passes of the imported-graph kinds (binary ops
 * with broadcasting, activations, concat, pad, reshape, transpose, shuffle,
 * dilated/asymmetric conv, ceil_mode/exclude_pad pools) against direct
 * per-sample references written here in [N, C, H, W] order, and the
 * safetensors round trip of a model holding every one of them. */
#include <criterion/criterion.h>

#include "model.h"
#include "nmio.h"
#include "train.h"
#include "net.h"
#include "../test_tmpdir.h"
#include "nchw.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static nm_tensor *forward_layer(nm_model *m, int layer, const nm_tensor *x)
{
    m->n_outputs = 1;
    m->outputs[0] = layer;
    m->out_rank[0] = 0;
    nm_tensor *y = NULL;
    cr_assert_eq(nm_forward_outputs(m, x, &y, 1), 1, "%s", nm_errmsg());
    return y;
}

static void expect_close(float got, float want, const char *what, int i)
{
    cr_assert(fabsf(got - want) <= 1e-5f + 1e-5f * fabsf(want), "%s[%d]: got %g, want %g", what, i,
              (double)got, (double)want);
}

Test(graph_ops, binary_broadcasting)
{
    nm_model *m = nm_model_new("b", 3, 4, 5);
    nm_tensor *kc = nm_tensor_new4(NM_F32, 3, 3, 1, 1, 0), *kp = nm_tensor_new4(NM_F32, 3, 1, 4, 5, 0);
    for (int i = 0; i < 3; i++)
        nm_f32(kc)[i] = (float)(i + 1) * 0.5f;
    for (int i = 0; i < 20; i++)
        nm_f32(kp)[i] = 1.0f + (float)i * 0.25f;
    int mul = nm_add_binary_const(m, "mul", NM_LAYER_MUL, NM_INPUT, kc, 0);
    int sub = nm_add_binary_const(m, "sub", NM_LAYER_SUB, NM_INPUT, kp, 1);   /* kp - x */
    int gap = nm_add_gap(m, "gap", NM_INPUT);
    int div = nm_add_binary(m, "div", NM_LAYER_DIV, NM_INPUT, gap);         /* x / mean(x) */
    int add = nm_add_binary(m, "add", NM_LAYER_ADD, gap, mul);              /* (3,1,1)+(3,4,5) */
    cr_assert(mul >= 0 && sub >= 0 && gap >= 0 && div >= 0 && add >= 0, "%s", nm_errmsg());
    cr_assert_eq(m->layers[add].out_h, 4);
    nm_tensor *x = random_input(2, 3, 4, 5, 7);
    nm_tensor *ym = forward_layer(m, mul, x), *ys = forward_layer(m, sub, x);
    nm_tensor *yd = forward_layer(m, div, x), *ya = forward_layer(m, add, x);
    int i = 0;
    for (int s = 0; s < 2; s++)
        for (int c = 0; c < 3; c++) {
            double mean = 0;
            for (int h = 0; h < 4; h++)
                for (int w = 0; w < 5; w++)
                    mean += v4(x, s, c, h, w);
            mean /= 20;
            for (int h = 0; h < 4; h++)
                for (int w = 0; w < 5; w++, i++) {
                    float xv = v4(x, s, c, h, w);
                    expect_close(v4(ym, s, c, h, w), xv * nm_f32(kc)[c], "mul", i);
                    expect_close(v4(ys, s, c, h, w), nm_f32(kp)[h * 5 + w] - xv, "sub", i);
                    expect_close(v4(yd, s, c, h, w), xv / (float)mean, "div", i);
                    expect_close(v4(ya, s, c, h, w), (float)mean + xv * nm_f32(kc)[c], "add", i);
                }
        }
    nm_tensor *bad = nm_tensor_new4(NM_F32, 3, 2, 1, 1, 0);
    cr_assert_lt(nm_add_binary_const(m, "bad", NM_LAYER_MUL, NM_INPUT, bad, 0), 0);
    cr_assert(strstr(nm_errmsg(), "cannot broadcast"), "%s", nm_errmsg());
    nm_tensor_release(bad), nm_tensor_release(kc), nm_tensor_release(kp);
    nm_tensor_release(x), nm_tensor_release(ym), nm_tensor_release(ys);
    nm_tensor_release(yd), nm_tensor_release(ya);
    nm_model_free(m);
}

Test(graph_ops, activations)
{
    nm_model *m = nm_model_new("a", 2, 3, 3);
    int k[5];
    k[0] = nm_add_unary(m, "sig", NM_LAYER_SIGMOID, NM_INPUT, 0, 0);
    k[1] = nm_add_unary(m, "hsig", NM_LAYER_HARDSIGMOID, NM_INPUT, 0.2f, 0.5f);
    k[2] = nm_add_unary(m, "hswish", NM_LAYER_HARDSWISH, NM_INPUT, 0, 0);
    k[3] = nm_add_unary(m, "tanh", NM_LAYER_TANH, NM_INPUT, 0, 0);
    k[4] = nm_add_unary(m, "clip", NM_LAYER_CLIP, NM_INPUT, -0.5f, 1.0f);
    for (int j = 0; j < 5; j++)
        cr_assert(k[j] >= 0, "%s", nm_errmsg());
    cr_assert_lt(nm_add_unary(m, "empty", NM_LAYER_CLIP, NM_INPUT, 2.0f, 1.0f), 0);
    nm_tensor *x = random_input(3, 2, 3, 3, 11);
    for (int j = 0; j < 5; j++) {
        nm_tensor *y = forward_layer(m, k[j], x);
        for (int64_t i = 0; i < x->numel; i++) {
            double v = nm_f32(x)[i], want;
            switch (j) {
            case 0: want = 1 / (1 + exp(-v)); break;
            case 1: want = v * 0.2 + 0.5 < 0 ? 0 : v * 0.2 + 0.5 > 1 ? 1 : v * 0.2 + 0.5; break;
            case 2: want = v * (v + 3 < 0 ? 0 : v + 3 > 6 ? 6 : v + 3) / 6; break;
            case 3: want = tanh(v); break;
            default: want = v < -0.5 ? -0.5 : v > 1 ? 1 : v; break;
            }
            expect_close(nm_f32(y)[i], (float)want, m->layers[k[j]].name, (int)i);
        }
        nm_tensor_release(y);
    }
    nm_tensor_release(x);
    nm_model_free(m);
}

Test(graph_ops, concat_every_axis)
{
    for (int axis = 0; axis < 3; axis++) {
        nm_model *m = nm_model_new("c", 2, 3, 4);
        /* a second operand of another size along `axis`: pad it by one there */
        nm_layer l;
        memset(&l, 0, sizeof l);
        snprintf(l.name, sizeof l.name, "pad");
        l.kind = NM_LAYER_PAD;
        l.n_inputs = 1;
        l.inputs[0] = NM_INPUT;
        l.pads[axis] = 1;             /* one before */
        l.pad_value = 9.0f;
        int pad = nm_model_append(m, &l);
        cr_assert(pad >= 0, "%s", nm_errmsg());
        int ins[3] = {NM_INPUT, pad, NM_INPUT};
        int cat = nm_add_concat(m, "cat", ins, 3, axis);
        cr_assert(cat >= 0, "%s", nm_errmsg());
        int d[3] = {2, 3, 4};
        int o[3] = {2, 3, 4};
        o[axis] = 3 * d[axis] + 1;
        cr_assert(m->layers[cat].out_c == o[0] && m->layers[cat].out_h == o[1] &&
                  m->layers[cat].out_w == o[2]);
        nm_tensor *x = random_input(2, 2, 3, 4, 3 + (uint64_t)axis);
        nm_tensor *y = forward_layer(m, cat, x);
        for (int s = 0; s < 2; s++)
            for (int c = 0; c < o[0]; c++)
                for (int h = 0; h < o[1]; h++)
                    for (int w = 0; w < o[2]; w++) {
                        int p[3] = {c, h, w};
                        int t = p[axis];
                        float want;
                        if (t < d[axis]) {
                            want = v4(x, s, p[0], p[1], p[2]);
                        } else if (t < 2 * d[axis] + 1) {
                            p[axis] = t - d[axis] - 1;   /* inside the padded copy */
                            want = p[axis] < 0 ? 9.0f : v4(x, s, p[0], p[1], p[2]);
                        } else {
                            p[axis] = t - 2 * d[axis] - 1;
                            want = v4(x, s, p[0], p[1], p[2]);
                        }
                        expect_close(v4(y, s, c, h, w), want, "concat", axis);
                    }
        nm_tensor_release(x), nm_tensor_release(y);
        nm_model_free(m);
    }
}

Test(graph_ops, reshape_transpose_shuffle)
{
    nm_model *m = nm_model_new("r", 6, 2, 3);
    nm_layer l;
    memset(&l, 0, sizeof l);
    snprintf(l.name, sizeof l.name, "reshape");
    l.kind = NM_LAYER_RESHAPE;
    l.n_inputs = 1;
    l.inputs[0] = NM_INPUT;
    l.out_c = 4, l.out_h = 9, l.out_w = 1;
    int rs = nm_model_append(m, &l);
    cr_assert(rs >= 0, "%s", nm_errmsg());
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    int tr[6];
    for (int p = 0; p < 6; p++) {
        memset(&l, 0, sizeof l);
        snprintf(l.name, sizeof l.name, "t%d", p);
        l.kind = NM_LAYER_TRANSPOSE;
        l.n_inputs = 1;
        l.inputs[0] = NM_INPUT;
        memcpy(l.perm, perms[p], sizeof l.perm);
        tr[p] = nm_model_append(m, &l);
        cr_assert(tr[p] >= 0, "%s", nm_errmsg());
    }
    memset(&l, 0, sizeof l);
    snprintf(l.name, sizeof l.name, "shuffle");
    l.kind = NM_LAYER_SHUFFLE;
    l.n_inputs = 1;
    l.inputs[0] = NM_INPUT;
    l.groups = 2;
    int sh = nm_model_append(m, &l);
    cr_assert(sh >= 0, "%s", nm_errmsg());
    nm_tensor *x = random_input(2, 6, 2, 3, 5);
    nm_tensor *y = forward_layer(m, rs, x);
    for (int64_t i = 0; i < x->numel; i++)   /* the same values in the same order */
        expect_close(nm_f32(y)[i], nm_f32(x)[i], "reshape", (int)i);
    nm_tensor_release(y);
    for (int p = 0; p < 6; p++) {
        y = forward_layer(m, tr[p], x);
        int d[3] = {6, 2, 3}, o[3] = {d[perms[p][0]], d[perms[p][1]], d[perms[p][2]]};
        for (int s = 0; s < 2; s++)
            for (int a = 0; a < o[0]; a++)
                for (int b = 0; b < o[1]; b++)
                    for (int c = 0; c < o[2]; c++) {
                        int src[3];
                        src[perms[p][0]] = a, src[perms[p][1]] = b, src[perms[p][2]] = c;
                        expect_close(v4(y, s, a, b, c), v4(x, s, src[0], src[1], src[2]), "transpose", p);
                    }
        nm_tensor_release(y);
    }
    /* shuffle of 2 groups of 3: output channels 0..5 read 0,3,1,4,2,5 */
    y = forward_layer(m, sh, x);
    static const int from[6] = {0, 3, 1, 4, 2, 5};
    for (int s = 0; s < 2; s++)
        for (int c = 0; c < 6; c++)
            for (int h = 0; h < 2; h++)
                for (int w = 0; w < 3; w++)
                    expect_close(v4(y, s, c, h, w), v4(x, s, from[c], h, w), "shuffle", c);
    nm_tensor_release(y), nm_tensor_release(x);
    nm_model_free(m);
}

/* Direct convolution (one group), dilation and padding before (pt, pl). */
static float conv_ref(const nm_tensor *x, const nm_layer *l, int s, int o, int oh, int ow)
{
    double acc = l->bias ? nm_f32(l->bias)[o] : 0;
    int dh = l->dil_h ? l->dil_h : 1, dw = l->dil_w ? l->dil_w : 1;
    for (int c = 0; c < l->in_c; c++)
        for (int i = 0; i < l->kh; i++)
            for (int j = 0; j < l->kw; j++) {
                int ih = oh * l->stride_h - l->pad_h + i * dh, iw = ow * l->stride_w - l->pad_w + j * dw;
                if (ih < 0 || iw < 0 || ih >= l->in_h || iw >= l->in_w)
                    continue;
                acc += v4(x, s, c, ih, iw) * nm_f32(l->weight)[((o * l->in_c + c) * l->kh + i) * l->kw + j];
            }
    return (float)acc;
}

Test(graph_ops, conv_dilated_asymmetric)
{
    nm_model *m = nm_model_new("cv", 2, 7, 8);
    nm_layer l;
    memset(&l, 0, sizeof l);
    snprintf(l.name, sizeof l.name, "conv");
    l.kind = NM_LAYER_CONV;
    l.n_inputs = 1;
    l.inputs[0] = NM_INPUT;
    l.out_c = 3, l.kh = 3, l.kw = 2, l.stride_h = 2, l.stride_w = 1;
    l.pad_h = 1, l.pad_w = 0, l.pad_asym = 1, l.pad_h2 = 2, l.pad_w2 = 1;
    l.dil_h = 2, l.dil_w = 3;
    int cv = nm_model_append(m, &l);
    cr_assert(cv >= 0, "%s", nm_errmsg());
    const nm_layer *c = &m->layers[cv];
    /* (7 + 1 + 2 - 5) / 2 + 1 = 3 rows; (8 + 0 + 1 - 4) / 1 + 1 = 6 columns */
    cr_assert(c->out_h == 3 && c->out_w == 6, "got %dx%d", c->out_h, c->out_w);
    nm_model_init_weights(m, 3);
    nm_tensor *x = random_input(2, 2, 7, 8, 9);
    nm_tensor *y = forward_layer(m, cv, x);
    for (int s = 0; s < 2; s++)
        for (int o = 0; o < 3; o++)
            for (int oh = 0; oh < 3; oh++)
                for (int ow = 0; ow < 6; ow++)
                    expect_close(v4(y, s, o, oh, ow), conv_ref(x, c, s, o, oh, ow), "conv", ow);
    nm_tensor_release(x), nm_tensor_release(y);
    nm_model_free(m);
}

Test(graph_ops, pools_ceil_exclude_pad_dilation)
{
    nm_model *m = nm_model_new("p", 1, 5, 5);
    nm_layer l;
    memset(&l, 0, sizeof l);
    snprintf(l.name, sizeof l.name, "avg");
    l.kind = NM_LAYER_AVGPOOL;
    l.n_inputs = 1;
    l.inputs[0] = NM_INPUT;
    l.kh = l.kw = 3, l.stride_h = l.stride_w = 2, l.pad_h = l.pad_w = 1;
    l.ceil_mode = 1, l.exclude_pad = 1;
    int avg = nm_model_append(m, &l);
    cr_assert(avg >= 0, "%s", nm_errmsg());
    /* (5 + 2 - 3) / 2 + 1 = 3 with or without ceil */
    cr_assert_eq(m->layers[avg].out_h, 3);
    snprintf(l.name, sizeof l.name, "max");
    l.kind = NM_LAYER_MAXPOOL;
    l.kh = l.kw = 2, l.stride_h = l.stride_w = 2, l.pad_h = l.pad_w = 0, l.dil_h = l.dil_w = 2;
    l.exclude_pad = 0;
    int mx = nm_model_append(m, &l);
    cr_assert(mx >= 0, "%s", nm_errmsg());
    /* span 3: ceil((5 - 3) / 2) + 1 = 2 */
    cr_assert_eq(m->layers[mx].out_h, 2);
    nm_tensor *x = random_input(1, 1, 5, 5, 13);
    nm_tensor *ya = forward_layer(m, avg, x), *ym = forward_layer(m, mx, x);
    for (int oh = 0; oh < 3; oh++)
        for (int ow = 0; ow < 3; ow++) {
            double sum = 0;
            int cnt = 0;
            for (int i = oh * 2 - 1; i < oh * 2 + 2; i++)
                for (int j = ow * 2 - 1; j < ow * 2 + 2; j++)
                    if (i >= 0 && j >= 0 && i < 5 && j < 5)
                        sum += v4(x, 0, 0, i, j), cnt++;
            expect_close(v4(ya, 0, 0, oh, ow), (float)(sum / cnt), "avg", oh * 3 + ow);
        }
    for (int oh = 0; oh < 2; oh++)
        for (int ow = 0; ow < 2; ow++) {
            float best = -1e30f;
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++) {
                    float v = v4(x, 0, 0, oh * 2 + 2 * i, ow * 2 + 2 * j);
                    best = v > best ? v : best;
                }
            expect_close(v4(ym, 0, 0, oh, ow), best, "max", oh * 2 + ow);
        }
    nm_tensor_release(x), nm_tensor_release(ya), nm_tensor_release(ym);
    nm_model_free(m);
}

/* Every new kind survives save -> load: same graph outputs, same values. */
Test(graph_ops, safetensors_round_trip)
{
    nm_model *m = nm_model_new("rt", 4, 4, 4);
    nm_tensor *k = nm_tensor_new4(NM_F32, 3, 4, 1, 1, 0);
    for (int i = 0; i < 4; i++)
        nm_f32(k)[i] = 0.5f + (float)i;
    int a = nm_add_conv(m, "conv", NM_INPUT, 4, 3, 3, 1, 1, 1, 1);
    int b = nm_add_unary(m, "hs", NM_LAYER_HARDSWISH, a, 0, 0);
    int c = nm_add_binary_const(m, "div", NM_LAYER_DIV, b, k, 1);
    int d = nm_add_unary(m, "clip", NM_LAYER_CLIP, c, -INFINITY, 6.0f);
    int ins[2] = {d, a};
    int e = nm_add_concat(m, "cat", ins, 2, 0);
    nm_layer l;
    memset(&l, 0, sizeof l);
    snprintf(l.name, sizeof l.name, "shuffle");
    l.kind = NM_LAYER_SHUFFLE;
    l.n_inputs = 1;
    l.inputs[0] = e;
    l.groups = 2;
    int f = nm_model_append(m, &l);
    memset(&l, 0, sizeof l);
    snprintf(l.name, sizeof l.name, "pool");
    l.kind = NM_LAYER_MAXPOOL;
    l.n_inputs = 1;
    l.inputs[0] = f;
    l.kh = l.kw = 2, l.stride_h = l.stride_w = 2, l.pad_asym = 1, l.pad_h2 = 1, l.pad_w2 = 1;
    l.ceil_mode = 1;
    int g = nm_model_append(m, &l);
    cr_assert(a >= 0 && b >= 0 && c >= 0 && d >= 0 && e >= 0 && f >= 0 && g >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 5);
    m->n_outputs = 2;
    m->outputs[0] = g, m->outputs[1] = c;
    char dir[256], path[300];
    cr_assert(tmpdir_new(dir, sizeof dir, "graph_ops"));
    snprintf(path, sizeof path, "%s/rt.safetensors", dir);
    cr_assert_eq(nm_safetensors_save_model(m, path), NM_OK, "%s", nm_errmsg());
    nm_model *r = nm_safetensors_load_model(path);
    cr_assert(r, "%s", nm_errmsg());
    cr_assert_eq(r->n_outputs, 2);
    cr_assert(r->layers[d].alpha == -INFINITY && r->layers[d].beta_ == 6.0f);
    nm_tensor *x = random_input(2, 4, 4, 4, 17);
    nm_tensor *y1[2], *y2[2];
    cr_assert_eq(nm_forward_outputs(m, x, y1, 2), 2, "%s", nm_errmsg());
    cr_assert_eq(nm_forward_outputs(r, x, y2, 2), 2, "%s", nm_errmsg());
    for (int o = 0; o < 2; o++) {
        cr_assert(nm_tensor_same_shape(y1[o], y2[o]));
        cr_assert_eq(memcmp(y1[o]->data, y2[o]->data, (size_t)y1[o]->numel * 4), 0);
        nm_tensor_release(y1[o]), nm_tensor_release(y2[o]);
    }
    nm_tensor_release(x), nm_tensor_release(k);
    nm_model_free(m), nm_model_free(r);
    tmpdir_remove(dir);
}

/* The lean forward (buffers shared by liveness) computes what the net that
 * keeps every activation computes, on a graph whose values are read far
 * from where they are made (residual adds, a concat of early layers). */
Test(graph_ops, lean_forward_equals_full)
{
    nm_model *m = nm_model_new("dense", 3, 8, 8);
    int a = nm_add_conv(m, "c1", NM_INPUT, 4, 3, 3, 1, 1, 1, 1);
    int b = nm_add_relu(m, "r1", a, 0);
    int c = nm_add_conv(m, "c2", b, 4, 3, 3, 1, 1, 1, 1);
    int d = nm_add_binary(m, "add", NM_LAYER_ADD, c, a);       /* a is read again here */
    int e = nm_add_unary(m, "sig", NM_LAYER_SIGMOID, d, 0, 0);
    int ins[3] = {a, e, b};                                    /* and again here */
    int f = nm_add_concat(m, "cat", ins, 3, 0);
    int g = nm_add_conv(m, "c3", f, 5, 1, 1, 1, 0, 1, 1);
    int h = nm_add_gap(m, "gap", g);
    cr_assert(h >= 0 && d >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 11);
    nm_tensor *x = random_input(3, 3, 8, 8, 23);
    nm_tensor *y = nm_forward(m, x);   /* lean */
    cr_assert(y, "%s", nm_errmsg());
    nm_net *net = nm_net_new(m, 3, NM_NET_EVAL);
    cr_assert(net, "%s", nm_errmsg());
    /* [N, C, H, W] -> CNHW */
    float *in = nm_net_input(net);
    for (int s = 0; s < 3; s++)
        for (int ch = 0; ch < 3; ch++)
            memcpy(in + ((int64_t)ch * 3 + s) * 64, nm_f32(x) + (s * 3 + ch) * 64, 64 * sizeof(float));
    const float *o = nm_net_forward(net, 3, 0);
    for (int s = 0; s < 3; s++)
        for (int ch = 0; ch < 5; ch++)
            cr_assert_eq(nm_f32(y)[s * 5 + ch], o[ch * 3 + s], "sample %d channel %d", s, ch);
    nm_net_free(net);
    nm_tensor_release(x), nm_tensor_release(y);
    nm_model_free(m);
}

/* nm_evaluate keeps every layer's activations; its batch shrinks to fit
 * the budget: hand-counted bytes per sample of a two-layer model. */
Test(graph_ops, evaluate_batch_fits_the_budget)
{
    nm_model *m = nm_model_new("big", 4, 64, 64);
    cr_assert(nm_add_conv(m, "c", NM_INPUT, 16, 3, 3, 1, 1, 1, 0) >= 0, "%s", nm_errmsg());
    cr_assert(nm_add_relu(m, "r", 0, 0) >= 0, "%s", nm_errmsg());
    const size_t per = 2 * 16 * 64 * 64 * sizeof(float);   /* 512 KiB a sample */
    cr_assert_eq(nm_eval_batch(m, 256, 10 * per), 10);
    cr_assert_eq(nm_eval_batch(m, 256, 10 * per + per / 2), 10);
    cr_assert_eq(nm_eval_batch(m, 8, 10 * per), 8, "a smaller request stands");
    cr_assert_eq(nm_eval_batch(m, 256, per / 4), 1, "at least one sample");
    cr_assert_eq(nm_eval_batch(m, 256, NM_EVAL_ACT_BUDGET), 256, "small models keep 256");
    nm_model_free(m);
}
