/* ONNX import of PaddleOCR's SVTR neck as paddle2onnx writes it (the
 * PP-OCRv4 recogniser, opset 9): an image flattened to tokens, Paddle's
 * packed attention (Reshape to [N, T, 3, H, d], Transpose(2, 0, 3, 1, 4),
 * Slice + Squeeze of axis 0, Mul of q by a scale, MatMul, Softmax axis 3,
 * MatMul, Transpose(0, 2, 1, 3), Reshape [N, T, F] whose shape is computed
 * after the block starts), tokens reshaped back to an image, Concat with
 * the input, a conv to height 1, Squeeze of H, tokens, MatMul + Add,
 * Softmax. The graph is built here with the protobuf-c API; its output
 * for two samples is checked against the same network written out as
 * loops in double below, and broken variants are refused naming the node. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io_test_util.h"
#include "model.h"
#include "nmio.h"
#include "train.h"

#include "onnx_svtr_graph.h"

static char dir[64];
static void setup(void) { tmp_make(dir, sizeof dir); }
static void teardown(void) { tmp_remove(dir); }

/* Writes variant `variant` of the graph to dir/svtr.onnx; returns the path. */
static const char *svtr_model(svtr_vals *v, int variant)
{
    Onnx__ModelProto *mp = svtr_graph(v, variant);
    size_t len = onnx__model_proto__get_packed_size(mp);
    uint8_t *buf = malloc(len);
    cr_assert_eq(onnx__model_proto__pack(mp, buf), len);
    static char path[128];
    tmp_path(path, sizeof path, dir, "svtr.onnx");
    write_bytes(path, buf, len);
    free(buf);
    onnx__model_proto__free_unpacked(mp, NULL);
    return path;
}

static void softmax(double *v, int n)
{
    double mx = v[0], z = 0;
    for (int i = 1; i < n; i++)
        mx = v[i] > mx ? v[i] : mx;
    for (int i = 0; i < n; i++)
        z += (v[i] = exp(v[i] - mx));
    for (int i = 0; i < n; i++)
        v[i] /= z;
}

/* The network for one sample x[F][IH][IW], written out directly. */
static void ref_svtr(const svtr_vals *v, const float *x, double y[SV_IW][SV_K])
{
    double tok[SV_T][SV_F], qkv[SV_T][3 * SV_F], att[SV_T][SV_F], r[SV_T][SV_F];
    double cat[2 * SV_F][SV_IH][SV_IW], tk[SV_IW][SV_CO];
    for (int t = 0; t < SV_T; t++)
        for (int f = 0; f < SV_F; f++)
            tok[t][f] = x[(f * SV_IH + t / SV_IW) * SV_IW + t % SV_IW];
    for (int t = 0; t < SV_T; t++)
        for (int o = 0; o < 3 * SV_F; o++) {
            qkv[t][o] = v->bqkv[o];
            for (int f = 0; f < SV_F; f++)
                qkv[t][o] += tok[t][f] * v->wqkv[f * 3 * SV_F + o];
        }
    /* [T, 3, H, D]: q, k, v of head h at features s*F + h*D + e */
    for (int h = 0; h < SV_H; h++)
        for (int i = 0; i < SV_T; i++) {
            double p[SV_T];
            for (int j = 0; j < SV_T; j++) {
                p[j] = 0;
                for (int e = 0; e < SV_D; e++)
                    p[j] += SVTR_SCALE * qkv[i][h * SV_D + e] * qkv[j][SV_F + h * SV_D + e];
            }
            softmax(p, SV_T);
            for (int e = 0; e < SV_D; e++) {
                att[i][h * SV_D + e] = 0;
                for (int j = 0; j < SV_T; j++)
                    att[i][h * SV_D + e] += p[j] * qkv[j][2 * SV_F + h * SV_D + e];
            }
        }
    for (int t = 0; t < SV_T; t++)
        for (int f = 0; f < SV_F; f++) {
            r[t][f] = tok[t][f] + v->bo[f];
            for (int g = 0; g < SV_F; g++)
                r[t][f] += att[t][g] * v->wo[g * SV_F + f];
        }
    for (int f = 0; f < SV_F; f++)
        for (int h = 0; h < SV_IH; h++)
            for (int w = 0; w < SV_IW; w++) {
                cat[f][h][w] = r[h * SV_IW + w][f];
                cat[SV_F + f][h][w] = x[(f * SV_IH + h) * SV_IW + w];
            }
    for (int o = 0; o < SV_CO; o++)
        for (int w = 0; w < SV_IW; w++) {
            tk[w][o] = v->bc[o];
            for (int c = 0; c < 2 * SV_F; c++)
                for (int kh = 0; kh < SV_IH; kh++)
                    tk[w][o] += v->wc[(o * 2 * SV_F + c) * SV_IH + kh] * cat[c][kh][w];
        }
    for (int t = 0; t < SV_IW; t++) {
        for (int k = 0; k < SV_K; k++) {
            y[t][k] = v->b5[k];
            for (int o = 0; o < SV_CO; o++)
                y[t][k] += tk[t][o] * v->w5[o * SV_K + k];
        }
        softmax(y[t], SV_K);
    }
}

/* The block becomes 3 slices + matmul qk (2 heads, alpha = the file's
 * scale) + softmax (2 heads) + matmul av, the token/image reshapes no-op
 * reshape layers, and the model's output for two samples equals the
 * reference; in both the opset-9 and the opset-13 spelling. */
static void matches_reference(int variant)
{
    svtr_vals v;
    nm_onnx_opts o = {.in_c = SV_F, .in_h = SV_IH, .in_w = SV_IW};
    char *warn = NULL;
    nm_model *m = nm_onnx_load_opts(svtr_model(&v, variant), &o, &warn);
    cr_assert_not_null(m, "load failed: %s", nm_errmsg());
    cr_assert(!warn || !strstr(warn, "skipped"), "warnings: %s", warn);
    free(warn);
    int qk = nm_model_find(m, "attn/qk"), sm = nm_model_find(m, "attn/Softmax");
    int av = nm_model_find(m, "attn/av"), sq = nm_model_find(m, "attn/Slice_k");
    cr_assert(qk >= 0 && sm >= 0 && av >= 0 && sq >= 0, "attention layers missing");
    cr_assert_eq(m->layers[qk].kind, NM_LAYER_MATMUL);
    cr_assert(m->layers[qk].heads == SV_H && m->layers[qk].groups == 1);
    cr_assert_float_eq(m->layers[qk].alpha, SVTR_SCALE, 1e-7);
    cr_assert(m->layers[sm].kind == NM_LAYER_SOFTMAX && m->layers[sm].heads == SV_H);
    cr_assert(m->layers[av].kind == NM_LAYER_MATMUL && m->layers[av].groups == 0);
    cr_assert(m->layers[sq].kind == NM_LAYER_SLICE && m->layers[sq].slice_start == SV_F &&
              m->layers[sq].out_c == SV_F);
    cr_assert_eq(m->layers[nm_model_find(m, "to_image")].kind, NM_LAYER_RESHAPE);
    cr_assert_eq(m->layers[nm_model_find(m, "squeeze")].kind, NM_LAYER_RESHAPE);
    nm_tensor *x = nm_tensor_new4(NM_F32, 4, 2, SV_F, SV_IH, SV_IW);
    for (int i = 0; i < 2 * SV_F * SV_IH * SV_IW; i++)
        nm_f32(x)[i] = 1.2f * (float)sin(0.53 * i + 0.2);
    nm_tensor *y = NULL;
    cr_assert_eq(nm_forward_outputs(m, x, &y, 1), 1, "%s", nm_errmsg());
    /* a token output [N, T, K] comes back as (K, T, 1) per sample */
    cr_assert_eq(y->numel, 2 * SV_K * SV_IW);
    for (int s = 0; s < 2; s++) {
        double ref[SV_IW][SV_K];
        ref_svtr(&v, nm_f32(x) + s * SV_F * SV_IH * SV_IW, ref);
        for (int t = 0; t < SV_IW; t++)
            for (int k = 0; k < SV_K; k++) {
                float got = nm_f32(y)[(s * SV_K + k) * SV_IW + t];
                cr_assert(fabs(got - ref[t][k]) <= 1e-5, "sample %d token %d class %d: %g vs %g", s,
                          t, k, got, ref[t][k]);
            }
    }
    nm_tensor_release(x), nm_tensor_release(y);
    nm_model_free(m);
}

Test(onnx_svtr, paddle_attention_matches_reference, .init = setup, .fini = teardown)
{
    matches_reference(SVTR_OK);
    matches_reference(SVTR_INPUTS);
}

/* Each broken variant fails to load with a message naming the node. */
static void refused(int variant, const char *const *what)
{
    svtr_vals v;
    nm_onnx_opts o = {0};
    char *warn = (char *)1;
    cr_assert_null(nm_onnx_load_opts(svtr_model(&v, variant), &o, &warn), "variant %d loaded",
                   variant);
    cr_assert_null(warn);
    for (int i = 0; what[i]; i++)
        cr_assert(strstr(nm_errmsg(), what[i]), "variant %d: '%s' lacks '%s'", variant, nm_errmsg(),
                  what[i]);
}

Test(onnx_svtr, broken_patterns_are_refused_naming_the_node, .init = setup, .fini = teardown)
{
    refused(BAD_KT, (const char *const[]){"attn/Reshape", "Paddle's packed attention",
                                          "k is not transposed", NULL});
    refused(LEAK, (const char *const[]){"attn/Reshape", "read outside", NULL});
    refused(BAD_MERGE, (const char *const[]){"attn/Reshape_out", "merged into [N, T, 6]", NULL});
    refused(BAD_IMAGE, (const char *const[]){"to_image", "Transpose(0, 3, 1, 2)", NULL});
    refused(HUGE_IMAGE, (const char *const[]){"to_image", "6 tokens reshaped to", NULL});
}
