/* test_upsample_ops.c - forward passes of the upsampling kinds (transposed
 * convolution, nearest and bilinear resize) against references written
 * here in [N, C, H, W] order: a scatter-add transposed convolution in
 * double, and a separable resize computed from ONNX's formulas (rounding
 * by a different route than the kernel's); a hand-worked bilinear example
 * (ONNX's documented upsample_scales_linear values); and the safetensors
 * round trip of both kinds. */
#include <criterion/criterion.h>

#include "model.h"
#include "nmio.h"
#include "train.h"
#include "../test_tmpdir.h"
#include "nchw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fill_random(nm_tensor *t, uint64_t seed)
{
    nm_rng r;
    nm_rng_seed(&r, seed);
    for (int64_t i = 0; i < t->numel; i++)
        nm_f32(t)[i] = (float)(nm_rng_uniform(&r) - 0.5);
}

static nm_tensor *forward(nm_model *m, const nm_tensor *x)
{
    nm_tensor *y = NULL;
    cr_assert_eq(nm_forward_outputs(m, x, &y, 1), 1, "%s", nm_errmsg());
    return y;
}

/* ---- transposed convolution ---- */

typedef struct {
    int cin, cout, h, w, kh, kw, sh, sw, ph, pw, ph2, pw2, dh, dw, oph, opw, groups, bias;
} convt_case;

static nm_model *convt_model(const convt_case *k, int *layer)
{
    nm_model *m = nm_model_new("ct", k->cin, k->h, k->w);
    nm_layer l;
    memset(&l, 0, sizeof l);
    snprintf(l.name, sizeof l.name, "up");
    l.kind = NM_LAYER_CONVT;
    l.n_inputs = 1;
    l.inputs[0] = NM_INPUT;
    l.out_c = k->cout, l.kh = k->kh, l.kw = k->kw, l.stride_h = k->sh, l.stride_w = k->sw;
    l.pad_h = k->ph, l.pad_w = k->pw, l.pad_h2 = k->ph2, l.pad_w2 = k->pw2;
    l.pad_asym = k->ph != k->ph2 || k->pw != k->pw2;
    l.dil_h = k->dh, l.dil_w = k->dw, l.outpad_h = k->oph, l.outpad_w = k->opw;
    l.groups = k->groups;
    if (k->bias)
        l.bias = nm_tensor_new4(NM_F32, 1, k->cout, 0, 0, 0);
    *layer = nm_model_append(m, &l);
    cr_assert(*layer >= 0, "%s", nm_errmsg());
    nm_layer *a = &m->layers[*layer];
    fill_random(a->weight, 3);
    if (a->bias)
        fill_random(a->bias, 4);
    return m;
}

/* Every input value times every kernel tap, added where it lands. */
static double *convt_scatter(const nm_layer *l, const nm_tensor *x, int n)
{
    const int oh = l->out_h, ow = l->out_w, cog = l->out_c / l->groups, cig = l->in_c / l->groups;
    const int dh = l->dil_h ? l->dil_h : 1, dw = l->dil_w ? l->dil_w : 1;
    double *y = calloc((size_t)n * l->out_c * oh * ow, sizeof *y);
    cr_assert(y);
    for (int s = 0; s < n; s++)
        for (int co = 0; co < l->out_c; co++)
            for (int p = 0; p < oh * ow; p++)
                y[((size_t)s * l->out_c + co) * oh * ow + p] = l->bias ? nm_f32(l->bias)[co] : 0;
    for (int s = 0; s < n; s++)
        for (int ci = 0; ci < l->in_c; ci++)
            for (int i = 0; i < l->in_h; i++)
                for (int j = 0; j < l->in_w; j++)
                    for (int oc = 0; oc < cog; oc++)
                        for (int a = 0; a < l->kh; a++)
                            for (int b = 0; b < l->kw; b++) {
                                int r = i * l->stride_h - l->pad_h + a * dh;
                                int c = j * l->stride_w - l->pad_w + b * dw;
                                if (r < 0 || r >= oh || c < 0 || c >= ow)
                                    continue;
                                int co = ci / cig * cog + oc;
                                double wv = nm_f32(l->weight)[((ci * cog + oc) * l->kh + a) * l->kw + b];
                                y[(((size_t)s * l->out_c + co) * oh + r) * ow + c] +=
                                    wv * v4(x, s, ci, i, j);
                            }
    return y;
}

Test(upsample_ops, convt_matches_scatter_add)
{
    static const convt_case cases[] = {
        /* cin cout h w kh kw sh sw ph pw ph2 pw2 dh dw oph opw groups bias */
        {3, 4, 5, 4, 3, 3, 2, 2, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1},   /* U-Net/FCN-style 2x */
        {4, 6, 3, 5, 2, 3, 1, 3, 0, 2, 1, 0, 2, 0, 0, 2, 2, 0},   /* asym pads, dilation, groups */
        {2, 2, 4, 4, 4, 4, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0, 2, 1},   /* depthwise 4x4 s2 */
        {1, 3, 2, 3, 1, 1, 3, 2, 0, 0, 0, 0, 0, 0, 2, 1, 1, 1},   /* 1x1 kernel: gaps get the bias */
    };
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        const convt_case *k = &cases[t];
        int li;
        nm_model *m = convt_model(k, &li);
        const nm_layer *l = &m->layers[li];
        /* (in - 1) * s - p0 - p1 + d * (k - 1) + outpad + 1, by hand for case 0 */
        if (t == 0)
            cr_assert(l->out_h == 10 && l->out_w == 8, "%dx%d", l->out_h, l->out_w);
        int dh = k->dh ? k->dh : 1, dw = k->dw ? k->dw : 1;
        cr_assert_eq(l->out_h, (k->h - 1) * k->sh - k->ph - k->ph2 + dh * (k->kh - 1) + k->oph + 1);
        cr_assert_eq(l->out_w, (k->w - 1) * k->sw - k->pw - k->pw2 + dw * (k->kw - 1) + k->opw + 1);
        cr_assert_eq(nm_layer_dense_macs(l), (int64_t)k->h * k->w * l->weight->numel);
        cr_assert(!nm_layer_prunable(l));
        nm_tensor *x = random_input(2, k->cin, k->h, k->w, 11 + t);
        nm_tensor *y = forward(m, x);
        cr_assert(y->shape[0] == 2 && y->shape[1] == k->cout && y->shape[2] == l->out_h &&
                  y->shape[3] == l->out_w);
        double *ref = convt_scatter(l, x, 2);
        for (int64_t i = 0; i < y->numel; i++)
            cr_assert(fabs(nm_f32(y)[i] - ref[i]) <= 1e-5 + 1e-5 * fabs(ref[i]),
                      "case %zu [%lld]: got %g, want %g", t, (long long)i, (double)nm_f32(y)[i], ref[i]);
        free(ref);
        nm_tensor_release(x), nm_tensor_release(y);
        nm_model_free(m);
    }
}

Test(upsample_ops, convt_bad_geometry_is_refused)
{
    convt_case k = {3, 4, 2, 2, 3, 3, 1, 1, 2, 2, 2, 2, 0, 0, 0, 0, 1, 0};
    nm_model *m = nm_model_new("ct", 3, 2, 2);
    nm_layer l;
    memset(&l, 0, sizeof l);
    snprintf(l.name, sizeof l.name, "up");
    l.kind = NM_LAYER_CONVT, l.n_inputs = 1, l.inputs[0] = NM_INPUT;
    l.out_c = k.cout, l.kh = l.kw = 3, l.stride_h = l.stride_w = 1, l.pad_h = l.pad_w = 2;
    cr_assert_eq(nm_model_append(m, &l), -1, "a 2x2 input padded away by 2+2 gives a 0x0 output");
    cr_assert(strstr(nm_errmsg(), "'up'"), "%s", nm_errmsg());
    l.pad_h = l.pad_w = 0, l.groups = 2;
    cr_assert_eq(nm_model_append(m, &l), -1, "3 channels in 2 groups");
    cr_assert(strstr(nm_errmsg(), "groups"), "%s", nm_errmsg());
    nm_model_free(m);
}

/* ---- resize ---- */

/* ONNX's coordinate transformation (model.h), written out again here. */
static double ref_coord(int mode, int x, int in, int out, double scale)
{
    if (mode == NM_COORD_HALF_PIXEL)
        return (x + 0.5) / scale - 0.5;
    if (mode == NM_COORD_PYTORCH_HALF_PIXEL)
        return out > 1 ? (x + 0.5) / scale - 0.5 : 0;
    if (mode == NM_COORD_ALIGN_CORNERS)
        return out == 1 ? 0 : x * (double)(in - 1) / (double)(out - 1);
    if (mode == NM_COORD_ASYMMETRIC)
        return x / scale;
    return (x + 0.5) / scale; /* tf_half_pixel_for_nn */
}

static int ref_clamp(long v, int in)
{
    return v < 0 ? 0 : v > in - 1 ? in - 1 : (int)v;
}

/* Rounding by +-0.5 then ceil/floor (the kernel compares the fraction). */
static int ref_nearest(double v, int round, int in)
{
    long i;
    if (round == NM_ROUND_PREFER_FLOOR)
        i = (long)ceil(v - 0.5);
    else if (round == NM_ROUND_PREFER_CEIL)
        i = (long)floor(v + 0.5);
    else if (round == NM_ROUND_FLOOR)
        i = (long)floor(v);
    else
        i = (long)ceil(v);
    return ref_clamp(i, in);
}

/* 1-D resize of in[0..n) (stride st) to out[0..m): nearest, or linear
 * between the two neighbours with indices clamped to the edge. */
static void ref_axis(const nm_layer *l, const double *in, int n, int st, double *out, int m, int ost,
                     double scale)
{
    for (int x = 0; x < m; x++) {
        double v = ref_coord(l->rs_coord, x, n, m, scale);
        if (l->rs_mode == NM_RESIZE_NEAREST) {
            out[x * ost] = in[ref_nearest(v, l->rs_round, n) * st];
        } else {
            double f = floor(v), t = v - f;
            out[x * ost] = (1 - t) * in[ref_clamp((long)f, n) * st] + t * in[ref_clamp((long)f + 1, n) * st];
        }
    }
}

/* Separable: rows first (W), then columns (H), per plane. */
static double *resize_ref(const nm_layer *l, const nm_tensor *x, int n)
{
    const int h = l->in_h, w = l->in_w, oh = l->out_h, ow = l->out_w;
    const double sh = l->scale_h > 0 ? l->scale_h : (double)oh / h;
    const double sw = l->scale_w > 0 ? l->scale_w : (double)ow / w;
    double *y = calloc((size_t)n * l->out_c * oh * ow, sizeof *y);
    double *plane = malloc(sizeof(double) * (size_t)h * w), *mid = malloc(sizeof(double) * (size_t)h * ow);
    cr_assert(y && plane && mid);
    for (int s = 0; s < n; s++)
        for (int c = 0; c < l->out_c; c++) {
            for (int i = 0; i < h * w; i++)
                plane[i] = v4(x, s, c, i / w, i % w);
            for (int r = 0; r < h; r++)
                ref_axis(l, plane + r * w, w, 1, mid + r * ow, ow, 1, sw);
            double *out = y + ((size_t)s * l->out_c + c) * oh * ow;
            for (int col = 0; col < ow; col++)
                ref_axis(l, mid + col, h, ow, out + col, oh, ow, sh);
        }
    free(plane), free(mid);
    return y;
}

static int add_resize(nm_model *m, const char *name, int input, nm_resize_mode mode, int coord,
                      int round, int oh, int ow, float sh, float sw)
{
    nm_layer l;
    memset(&l, 0, sizeof l);
    snprintf(l.name, sizeof l.name, "%s", name);
    l.kind = NM_LAYER_RESIZE, l.n_inputs = 1, l.inputs[0] = input;
    l.rs_mode = mode, l.rs_coord = (nm_resize_coord)coord, l.rs_round = (nm_resize_round)round;
    l.out_h = oh, l.out_w = ow, l.scale_h = sh, l.scale_w = sw;
    return nm_model_append(m, &l);
}

/* Every mode, coordinate mapping and rounding, growing and shrinking, with
 * scales (kept as given) and with sizes (scale = out / in). */
Test(upsample_ops, resize_matches_formulas)
{
    static const struct { int h, w, oh, ow; float sh, sw; } geo[] = {
        {3, 4, 7, 6, 2.5f, 1.5f},   /* floor(3 * 2.5) = 7, floor(4 * 1.5) = 6 */
        {5, 6, 3, 2, 0.6f, 0.4f},
        {4, 3, 9, 5, 0, 0},         /* sizes */
        {3, 5, 1, 2, 0, 0},         /* to one row */
    };
    int checked = 0;
    for (size_t g = 0; g < sizeof geo / sizeof geo[0]; g++)
        for (int mode = 0; mode < 2; mode++)
            for (int coord = 0; coord <= NM_COORD_TF_HALF_PIXEL_FOR_NN; coord++)
                for (int round = 0; round <= (mode ? 0 : NM_ROUND_CEIL); round++) {
                    nm_model *m = nm_model_new("rs", 2, geo[g].h, geo[g].w);
                    int li = add_resize(m, "rs", NM_INPUT, (nm_resize_mode)mode, coord, round,
                                        geo[g].oh, geo[g].ow, geo[g].sh, geo[g].sw);
                    cr_assert(li >= 0, "%s", nm_errmsg());
                    nm_tensor *x = random_input(3, 2, geo[g].h, geo[g].w, 40 + g);
                    nm_tensor *y = forward(m, x);
                    double *ref = resize_ref(&m->layers[li], x, 3);
                    for (int64_t i = 0; i < y->numel; i++)
                        cr_assert(fabs(nm_f32(y)[i] - ref[i]) <= 1e-5 + 1e-5 * fabs(ref[i]),
                                  "geo %zu mode %d coord %d round %d [%lld]: got %g, want %g", g, mode,
                                  coord, round, (long long)i, (double)nm_f32(y)[i], ref[i]);
                    checked++;
                    free(ref);
                    nm_tensor_release(x), nm_tensor_release(y);
                    nm_model_free(m);
                }
    cr_assert_eq(checked, 4 * (5 * 4 + 5));
}

/* Hand-worked: [[1, 2], [3, 4]] doubled, bilinear half_pixel (ONNX's
 * Resize documentation, upsample_scales_linear), and nearest asymmetric
 * floor (each value repeated). */
Test(upsample_ops, resize_hand_worked)
{
    nm_model *m = nm_model_new("rs", 1, 2, 2);
    int lin = add_resize(m, "lin", NM_INPUT, NM_RESIZE_LINEAR, NM_COORD_HALF_PIXEL, 0, 4, 4, 2, 2);
    int nn = add_resize(m, "nn", NM_INPUT, NM_RESIZE_NEAREST, NM_COORD_ASYMMETRIC, NM_ROUND_FLOOR, 4, 6,
                        2, 3);
    cr_assert(lin >= 0 && nn >= 0, "%s", nm_errmsg());
    nm_tensor *x = nm_tensor_new4(NM_F32, 4, 1, 1, 2, 2);
    for (int i = 0; i < 4; i++)
        nm_f32(x)[i] = (float)(i + 1);
    static const float want_lin[16] = {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f,
                                       2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4};
    static const float want_nn[24] = {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2,
                                      3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4};
    m->n_outputs = 2, m->outputs[0] = lin, m->outputs[1] = nn;
    nm_tensor *y[2];
    cr_assert_eq(nm_forward_outputs(m, x, y, 2), 2, "%s", nm_errmsg());
    for (int i = 0; i < 16; i++)
        cr_assert_float_eq(nm_f32(y[0])[i], want_lin[i], 1e-6, "linear [%d]", i);
    for (int i = 0; i < 24; i++)
        cr_assert_eq(nm_f32(y[1])[i], want_nn[i], "nearest [%d]", i);
    nm_tensor_release(y[0]), nm_tensor_release(y[1]), nm_tensor_release(x);
    nm_model_free(m);
}

Test(upsample_ops, resize_bad_settings_are_refused)
{
    nm_model *m = nm_model_new("rs", 2, 3, 3);
    cr_assert_eq(add_resize(m, "a", NM_INPUT, NM_RESIZE_LINEAR, 7, 0, 6, 6, 0, 0), -1);
    cr_assert(strstr(nm_errmsg(), "'a'") && strstr(nm_errmsg(), "coordinate"), "%s", nm_errmsg());
    cr_assert_eq(add_resize(m, "b", NM_INPUT, NM_RESIZE_LINEAR, 0, 0, 0, 6, 0, 0), -1);
    cr_assert_eq(add_resize(m, "c", NM_INPUT, NM_RESIZE_LINEAR, 0, 0, 6, 6, -2, 2), -1);
    nm_model_free(m);
}

/* ---- safetensors ---- */

Test(upsample_ops, safetensors_round_trip)
{
    convt_case k = {4, 6, 3, 5, 2, 3, 2, 3, 0, 2, 1, 0, 2, 0, 1, 2, 2, 1};
    int ct;
    nm_model *m = convt_model(&k, &ct);
    /* (7, 15) -> floor(7 * 1.75) = 12, floor(15 * 1.25) = 18 */
    int a = add_resize(m, "lin", ct, NM_RESIZE_LINEAR, NM_COORD_HALF_PIXEL, 0, 12, 18, 1.75f, 1.25f);
    int b = add_resize(m, "nn", a, NM_RESIZE_NEAREST, NM_COORD_TF_HALF_PIXEL_FOR_NN, NM_ROUND_CEIL, 5,
                       7, 0, 0);
    cr_assert(a >= 0 && b >= 0, "%s", nm_errmsg());
    m->n_outputs = 2, m->outputs[0] = b, m->outputs[1] = a;
    char dir[256], path[300];
    cr_assert(tmpdir_new(dir, sizeof dir, "upsample_ops"));
    snprintf(path, sizeof path, "%s/rt.safetensors", dir);
    cr_assert_eq(nm_safetensors_save_model(m, path), NM_OK, "%s", nm_errmsg());
    nm_model *r = nm_safetensors_load_model(path);
    cr_assert(r, "%s", nm_errmsg());
    cr_assert_eq(r->n_layers, 3);
    const nm_layer *c0 = &m->layers[ct], *c1 = &r->layers[ct];
    cr_assert_eq(c1->kind, NM_LAYER_CONVT);
    cr_assert(c1->stride_h == 2 && c1->stride_w == 3 && c1->pad_asym && c1->pad_h == 0 &&
              c1->pad_w == 2 && c1->pad_h2 == 1 && c1->pad_w2 == 0 && c1->dil_h == 2 &&
              c1->dil_w == 0 && c1->outpad_h == 1 && c1->outpad_w == 2 && c1->groups == 2);
    cr_assert(c1->out_c == c0->out_c && c1->out_h == c0->out_h && c1->out_w == c0->out_w);
    cr_assert(nm_tensor_same_shape(c1->weight, c0->weight) && c1->bias);
    for (int i = 1; i < 3; i++) {
        const nm_layer *p = &m->layers[i], *q = &r->layers[i];
        cr_assert_eq(q->kind, NM_LAYER_RESIZE);
        cr_assert(q->rs_mode == p->rs_mode && q->rs_coord == p->rs_coord && q->rs_round == p->rs_round &&
                  q->scale_h == p->scale_h && q->scale_w == p->scale_w && q->out_h == p->out_h &&
                  q->out_w == p->out_w, "layer %d", i);
    }
    nm_tensor *x = random_input(2, 4, 3, 5, 19);
    nm_tensor *y1[2], *y2[2];
    cr_assert_eq(nm_forward_outputs(m, x, y1, 2), 2, "%s", nm_errmsg());
    cr_assert_eq(nm_forward_outputs(r, x, y2, 2), 2, "%s", nm_errmsg());
    for (int o = 0; o < 2; o++) {
        cr_assert(nm_tensor_same_shape(y1[o], y2[o]));
        cr_assert_eq(memcmp(y1[o]->data, y2[o]->data, (size_t)y1[o]->numel * 4), 0);
        nm_tensor_release(y1[o]), nm_tensor_release(y2[o]);
    }
    nm_tensor_release(x);
    nm_model_free(m), nm_model_free(r);
    tmpdir_remove(dir);
}
