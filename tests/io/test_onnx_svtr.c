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
#include "onnx_build.h"
#include "train.h"

enum { F = 6, H = 2, D = 3, IH = 2, IW = 3, T = IH * IW, CO = 6, K = 5 };
#define SCALE 0.4f   /* not 1/sqrt(D): the file's scale must be used */

typedef struct {
    float wqkv[F * 3 * F], bqkv[3 * F], wo[F * F], bo[F], wc[CO * 2 * F * IH], bc[CO], w5[CO * K], b5[K];
} svtr_vals;

static char dir[64];
static void setup(void) { tmp_make(dir, sizeof dir); }
static void teardown(void) { tmp_remove(dir); }

/* Values spread over [-s, s], distinct, from a seed. */
static void fill(float *v, int n, float s, int seed)
{
    for (int i = 0; i < n; i++)
        v[i] = s * (float)sin(0.9 * i + 1.7 * seed);
}

static Onnx__TensorProto *ints(const char *name, int n, const int64_t *v)
{
    return tensor_i64(name, n, v);
}

/* What each variant breaks. */
enum { OK = 0, BAD_KT, LEAK, BAD_MERGE, BAD_IMAGE };

static const char *svtr_model(svtr_vals *v, int variant)
{
    Onnx__ModelProto *mp = model_new();
    mp->opset_import[0]->version = 9;
    add_input(mp, "x", 4, (const int64_t[]){-1, F, IH, IW});
    fill(v->wqkv, F * 3 * F, 0.5f, 1), fill(v->bqkv, 3 * F, 0.2f, 2);
    fill(v->wo, F * F, 0.4f, 3), fill(v->bo, F, 0.1f, 4);
    fill(v->wc, CO * 2 * F * IH, 0.3f, 5), fill(v->bc, CO, 0.1f, 6);
    fill(v->w5, CO * K, 0.6f, 7), fill(v->b5, K, 0.2f, 8);
    add_init(mp, tensor_f32("wqkv", 2, (const int64_t[]){F, 3 * F}, v->wqkv, 1));
    add_init(mp, tensor_f32("bqkv", 1, (const int64_t[]){3 * F}, v->bqkv, 1));
    add_init(mp, tensor_f32("wo", 2, (const int64_t[]){F, F}, v->wo, 1));
    add_init(mp, tensor_f32("bo", 1, (const int64_t[]){F}, v->bo, 1));
    add_init(mp, tensor_f32("wc", 4, (const int64_t[]){CO, 2 * F, IH, 1}, v->wc, 1));
    add_init(mp, tensor_f32("bc", 1, (const int64_t[]){CO}, v->bc, 1));
    add_init(mp, tensor_f32("w5", 2, (const int64_t[]){CO, K}, v->w5, 1));
    add_init(mp, tensor_f32("b5", 1, (const int64_t[]){K}, v->b5, 1));
    add_init(mp, tensor_f32("scale", 0, NULL, (const float[]){SCALE}, 0));
    add_init(mp, ints("flat", 3, (const int64_t[]){0, F, -1}));
    add_init(mp, ints("m0", 1, (const int64_t[]){0}));
    add_init(mp, ints("heads", 3, (const int64_t[]){3, H, D}));
    add_init(mp, ints("feat", 1, (const int64_t[]){variant == BAD_MERGE ? 2 * F : F}));
    add_init(mp, ints("img", 4, (const int64_t[]){0, IH, IW, F}));
    /* image -> tokens [N, T, F] */
    add_node(mp, "Reshape", "flatten", "x,flat", "xf");
    Onnx__NodeProto *n = add_node(mp, "Transpose", "to_tokens", "xf", "tok");
    attr_ints(n, "perm", 3, 0, 2, 1);
    /* the qkv linear; T for the reshapes from the tokens' shape */
    add_node(mp, "Shape", "shape", "tok", "tshape");
    n = add_node(mp, "Slice", "shape_t", "tshape", "tdim");
    attr_ints(n, "axes", 1, 0), attr_ints(n, "starts", 1, 1), attr_ints(n, "ends", 1, 2);
    add_node(mp, "MatMul", "qkv", "tok,wqkv", "qkv0");
    add_node(mp, "Add", "qkv_b", "qkv0,bqkv", "qkv1");
    n = add_node(mp, "Concat", "shape5", "m0,tdim,heads", "s5");
    attr_i(n, "axis", 0);
    add_node(mp, "Reshape", "attn/Reshape", "qkv1,s5", "r5");
    n = add_node(mp, "Transpose", "attn/Transpose", "r5", "p5");
    attr_ints(n, "perm", 5, 2, 0, 3, 1, 4);
    static const char *const nm[3] = {"q", "k", "v"};
    for (int i = 0; i < 3; i++) {
        char name[32], out[32], sq[32];
        snprintf(name, sizeof name, "attn/Slice_%s", nm[i]);
        snprintf(out, sizeof out, "s_%s", nm[i]);
        snprintf(sq, sizeof sq, "sq_%s", nm[i]);
        n = add_node(mp, "Slice", name, "p5", out);
        attr_ints(n, "axes", 1, 0), attr_ints(n, "starts", 1, i), attr_ints(n, "ends", 1, i + 1);
        snprintf(name, sizeof name, "attn/Squeeze_%s", nm[i]);
        n = add_node(mp, "Squeeze", name, out, sq);
        attr_ints(n, "axes", 1, 0);
        if (i == 0)
            add_node(mp, "Mul", "attn/Mul", "sq_q,scale", "qs");
    }
    n = add_node(mp, "Transpose", "attn/Transpose_k", "sq_k", "kt");
    if (variant == BAD_KT)
        attr_ints(n, "perm", 4, 0, 1, 2, 3);
    else
        attr_ints(n, "perm", 4, 0, 1, 3, 2);
    add_node(mp, "MatMul", "attn/qk", "qs,kt", "sc");
    n = add_node(mp, "Softmax", "attn/Softmax", "sc", "sm");
    attr_i(n, "axis", 3);
    add_node(mp, "MatMul", "attn/av", "sm,sq_v", "av");
    n = add_node(mp, "Transpose", "attn/Transpose_out", "av", "avt");
    attr_ints(n, "perm", 4, 0, 2, 1, 3);
    /* the merging shape is computed after the block starts, as paddle2onnx
     * writes it */
    n = add_node(mp, "Concat", "shape3", "m0,tdim,feat", "s3");
    attr_i(n, "axis", 0);
    add_node(mp, "Reshape", "attn/Reshape_out", "avt,s3", "att");
    add_node(mp, "MatMul", "proj", "att,wo", "o0");
    add_node(mp, "Add", "proj_b", "o0,bo", "o1");
    add_node(mp, "Add", "residual", "tok,o1", "r");
    /* tokens -> image, concat with the input, conv to height 1 */
    add_node(mp, "Reshape", "to_image", "r,img", "ri");
    n = add_node(mp, "Transpose", "to_nchw", "ri", "im");
    if (variant == BAD_IMAGE)
        attr_ints(n, "perm", 4, 0, 3, 2, 1);
    else
        attr_ints(n, "perm", 4, 0, 3, 1, 2);
    n = add_node(mp, "Concat", "cat", "im,x", "c");
    attr_i(n, "axis", 1);
    n = add_node(mp, "Conv", "conv", "c,wc,bc", "cv");
    attr_ints(n, "kernel_shape", 2, IH, 1);
    n = add_node(mp, "Squeeze", "squeeze", "cv", "cq");
    attr_ints(n, "axes", 1, 2);
    n = add_node(mp, "Transpose", "seq", "cq", "ct");
    attr_ints(n, "perm", 3, 0, 2, 1);
    add_node(mp, "MatMul", "ctc", "ct,w5", "l0");
    add_node(mp, "Add", "ctc_b", "l0,b5", "l1");
    n = add_node(mp, "Softmax", "prob", "l1", "y");
    attr_i(n, "axis", 2);
    add_output(mp, "y", 3, (const int64_t[]){-1, IW, K});
    if (variant == LEAK)
        add_output(mp, "sm", 4, (const int64_t[]){-1, H, T, T});
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
static void ref_svtr(const svtr_vals *v, const float *x, double y[IW][K])
{
    double tok[T][F], qkv[T][3 * F], att[T][F], r[T][F], cat[2 * F][IH][IW], tk[IW][CO];
    for (int t = 0; t < T; t++)
        for (int f = 0; f < F; f++)
            tok[t][f] = x[(f * IH + t / IW) * IW + t % IW];
    for (int t = 0; t < T; t++)
        for (int o = 0; o < 3 * F; o++) {
            qkv[t][o] = v->bqkv[o];
            for (int f = 0; f < F; f++)
                qkv[t][o] += tok[t][f] * v->wqkv[f * 3 * F + o];
        }
    /* [T, 3, H, D]: q, k, v of head h at features s*F + h*D + e */
    for (int h = 0; h < H; h++)
        for (int i = 0; i < T; i++) {
            double p[T];
            for (int j = 0; j < T; j++) {
                p[j] = 0;
                for (int e = 0; e < D; e++)
                    p[j] += SCALE * qkv[i][h * D + e] * qkv[j][F + h * D + e];
            }
            softmax(p, T);
            for (int e = 0; e < D; e++) {
                att[i][h * D + e] = 0;
                for (int j = 0; j < T; j++)
                    att[i][h * D + e] += p[j] * qkv[j][2 * F + h * D + e];
            }
        }
    for (int t = 0; t < T; t++)
        for (int f = 0; f < F; f++) {
            r[t][f] = tok[t][f] + v->bo[f];
            for (int g = 0; g < F; g++)
                r[t][f] += att[t][g] * v->wo[g * F + f];
        }
    for (int f = 0; f < F; f++)
        for (int h = 0; h < IH; h++)
            for (int w = 0; w < IW; w++) {
                cat[f][h][w] = r[h * IW + w][f];
                cat[F + f][h][w] = x[(f * IH + h) * IW + w];
            }
    for (int o = 0; o < CO; o++)
        for (int w = 0; w < IW; w++) {
            tk[w][o] = v->bc[o];
            for (int c = 0; c < 2 * F; c++)
                for (int kh = 0; kh < IH; kh++)
                    tk[w][o] += v->wc[(o * 2 * F + c) * IH + kh] * cat[c][kh][w];
        }
    for (int t = 0; t < IW; t++) {
        for (int k = 0; k < K; k++) {
            y[t][k] = v->b5[k];
            for (int o = 0; o < CO; o++)
                y[t][k] += tk[t][o] * v->w5[o * K + k];
        }
        softmax(y[t], K);
    }
}

/* The block becomes 3 slices + matmul qk (2 heads, alpha = the file's
 * scale) + softmax (2 heads) + matmul av, the token/image reshapes no-op
 * reshape layers, and the model's output for two samples equals the
 * reference. */
Test(onnx_svtr, paddle_attention_matches_reference, .init = setup, .fini = teardown)
{
    svtr_vals v;
    nm_onnx_opts o = {.in_c = F, .in_h = IH, .in_w = IW};
    char *warn = NULL;
    nm_model *m = nm_onnx_load_opts(svtr_model(&v, OK), &o, &warn);
    cr_assert_not_null(m, "load failed: %s", nm_errmsg());
    cr_assert(!warn || !strstr(warn, "skipped"), "warnings: %s", warn);
    free(warn);
    int qk = nm_model_find(m, "attn/qk"), sm = nm_model_find(m, "attn/Softmax");
    int av = nm_model_find(m, "attn/av"), sq = nm_model_find(m, "attn/Slice_k");
    cr_assert(qk >= 0 && sm >= 0 && av >= 0 && sq >= 0, "attention layers missing");
    cr_assert_eq(m->layers[qk].kind, NM_LAYER_MATMUL);
    cr_assert(m->layers[qk].heads == H && m->layers[qk].groups == 1);
    cr_assert_float_eq(m->layers[qk].alpha, SCALE, 1e-7);
    cr_assert(m->layers[sm].kind == NM_LAYER_SOFTMAX && m->layers[sm].heads == H);
    cr_assert(m->layers[av].kind == NM_LAYER_MATMUL && m->layers[av].groups == 0);
    cr_assert(m->layers[sq].kind == NM_LAYER_SLICE && m->layers[sq].slice_start == F &&
              m->layers[sq].out_c == F);
    cr_assert_eq(m->layers[nm_model_find(m, "to_image")].kind, NM_LAYER_RESHAPE);
    cr_assert_eq(m->layers[nm_model_find(m, "squeeze")].kind, NM_LAYER_RESHAPE);
    nm_tensor *x = nm_tensor_new4(NM_F32, 4, 2, F, IH, IW);
    for (int i = 0; i < 2 * F * IH * IW; i++)
        nm_f32(x)[i] = 1.2f * (float)sin(0.53 * i + 0.2);
    nm_tensor *y = NULL;
    cr_assert_eq(nm_forward_outputs(m, x, &y, 1), 1, "%s", nm_errmsg());
    /* a token output [N, T, K] comes back as (K, T, 1) per sample */
    cr_assert_eq(y->numel, 2 * K * IW);
    for (int s = 0; s < 2; s++) {
        double ref[IW][K];
        ref_svtr(&v, nm_f32(x) + s * F * IH * IW, ref);
        for (int t = 0; t < IW; t++)
            for (int k = 0; k < K; k++) {
                float got = nm_f32(y)[(s * K + k) * IW + t];
                cr_assert(fabs(got - ref[t][k]) <= 1e-5, "sample %d token %d class %d: %g vs %g", s,
                          t, k, got, ref[t][k]);
            }
    }
    nm_tensor_release(x), nm_tensor_release(y);
    nm_model_free(m);
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
}
