/* onnx_svtr_graph.h - PaddleOCR's SVTR neck as paddle2onnx writes it (the
 * PP-OCRv4 recogniser, opset 9), small: an image [N, 6, 2, 3] flattened to
 * tokens, Paddle's packed attention (2 heads of 3; the merging Reshape's
 * shape computed after the block starts), a linear and a residual, tokens
 * back to an image, Concat with the input, a conv to height 1, Squeeze of
 * H, tokens, MatMul + Add, Softmax. Built with onnx_build.h; used by
 * tests/io/test_onnx_svtr.c (against a reference in loops) and by the fuzz
 * seed corpus (tests/fuzz/gen_corpus.c). */
#ifndef NM_TESTS_ONNX_SVTR_GRAPH_H
#define NM_TESTS_ONNX_SVTR_GRAPH_H

#include <math.h>

#include "onnx_build.h"

/* features, heads, head dim, image height and width, tokens, conv outputs, classes */
enum { SV_F = 6, SV_H = 2, SV_D = 3, SV_IH = 2, SV_IW = 3, SV_T = SV_IH * SV_IW, SV_CO = 6,
       SV_K = 5 };
#define SVTR_SCALE 0.4f   /* not 1/sqrt(D): the file's scale must be used */

typedef struct {
    float wqkv[SV_F * 3 * SV_F], bqkv[3 * SV_F], wo[SV_F * SV_F], bo[SV_F];
    float wc[SV_CO * 2 * SV_F * SV_IH], bc[SV_CO], w5[SV_CO * SV_K], b5[SV_K];
} svtr_vals;

/* Values spread over [-s, s], distinct, from a seed. */
static inline void svtr_fill(float *v, int n, float s, int seed)
{
    for (int i = 0; i < n; i++)
        v[i] = s * (float)sin(0.9 * i + 1.7 * seed);
}

/* SVTR_OK: as paddle2onnx writes it (opset 9: Slice and Squeeze settings
 * as attributes); SVTR_INPUTS: the same network with opset 13's inputs for
 * them, v's Slice from -1 to INT64_MAX, the Slices in the order v, q, k.
 * The others break one step. */
enum { SVTR_OK = 0, SVTR_INPUTS, BAD_KT, LEAK, BAD_MERGE, BAD_IMAGE, HUGE_IMAGE };

/* The graph (the caller frees it with onnx__model_proto__free_unpacked);
 * its weights are also written to *v for a reference computation. */
static inline Onnx__ModelProto *svtr_graph(svtr_vals *v, int variant)
{
    Onnx__ModelProto *mp = model_new();
    mp->opset_import[0]->version = 9;
    add_input(mp, "x", 4, (const int64_t[]){-1, SV_F, SV_IH, SV_IW});
    svtr_fill(v->wqkv, SV_F * 3 * SV_F, 0.5f, 1), svtr_fill(v->bqkv, 3 * SV_F, 0.2f, 2);
    svtr_fill(v->wo, SV_F * SV_F, 0.4f, 3), svtr_fill(v->bo, SV_F, 0.1f, 4);
    svtr_fill(v->wc, SV_CO * 2 * SV_F * SV_IH, 0.3f, 5), svtr_fill(v->bc, SV_CO, 0.1f, 6);
    svtr_fill(v->w5, SV_CO * SV_K, 0.6f, 7), svtr_fill(v->b5, SV_K, 0.2f, 8);
    add_init(mp, tensor_f32("wqkv", 2, (const int64_t[]){SV_F, 3 * SV_F}, v->wqkv, 1));
    add_init(mp, tensor_f32("bqkv", 1, (const int64_t[]){3 * SV_F}, v->bqkv, 1));
    add_init(mp, tensor_f32("wo", 2, (const int64_t[]){SV_F, SV_F}, v->wo, 1));
    add_init(mp, tensor_f32("bo", 1, (const int64_t[]){SV_F}, v->bo, 1));
    add_init(mp, tensor_f32("wc", 4, (const int64_t[]){SV_CO, 2 * SV_F, SV_IH, 1}, v->wc, 1));
    add_init(mp, tensor_f32("bc", 1, (const int64_t[]){SV_CO}, v->bc, 1));
    add_init(mp, tensor_f32("w5", 2, (const int64_t[]){SV_CO, SV_K}, v->w5, 1));
    add_init(mp, tensor_f32("b5", 1, (const int64_t[]){SV_K}, v->b5, 1));
    add_init(mp, tensor_f32("scale", 0, NULL, (const float[]){SVTR_SCALE}, 0));
    add_init(mp, tensor_i64("flat", 3, (const int64_t[]){0, SV_F, -1}));
    add_init(mp, tensor_i64("m0", 1, (const int64_t[]){0}));
    add_init(mp, tensor_i64("heads", 3, (const int64_t[]){3, SV_H, SV_D}));
    add_init(mp, tensor_i64("feat", 1, (const int64_t[]){variant == BAD_MERGE ? 2 * SV_F : SV_F}));
    if (variant == HUGE_IMAGE)   /* H * W past int64: refused, not overflowed */
        add_init(mp, tensor_i64("img", 4,
                                (const int64_t[]){0, (int64_t)1 << 40, (int64_t)1 << 40, SV_F}));
    else
        add_init(mp, tensor_i64("img", 4, (const int64_t[]){0, SV_IH, SV_IW, SV_F}));
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
    int inputs = variant == SVTR_INPUTS;
    if (inputs) {
        add_init(mp, tensor_i64("i0", 1, (const int64_t[]){0}));
        add_init(mp, tensor_i64("i1", 1, (const int64_t[]){1}));
        add_init(mp, tensor_i64("i2", 1, (const int64_t[]){2}));
        add_init(mp, tensor_i64("im1", 1, (const int64_t[]){-1}));
        add_init(mp, tensor_i64("imax", 1, (const int64_t[]){INT64_MAX}));
    }
    for (int j = 0; j < 3; j++) {
        int i = inputs ? (j + 2) % 3 : j;
        char name[32], out[32], sq[32], in[64];
        snprintf(name, sizeof name, "attn/Slice_%s", nm[i]);
        snprintf(out, sizeof out, "s_%s", nm[i]);
        snprintf(sq, sizeof sq, "sq_%s", nm[i]);
        snprintf(in, sizeof in, "p5,%s,%s,i0", i == 0 ? "i0" : i == 1 ? "i1" : "im1",
                 i == 0 ? "i1" : i == 1 ? "i2" : "imax");
        n = add_node(mp, "Slice", name, inputs ? in : "p5", out);
        if (!inputs)
            attr_ints(n, "axes", 1, 0), attr_ints(n, "starts", 1, i), attr_ints(n, "ends", 1, i + 1);
        snprintf(name, sizeof name, "attn/Squeeze_%s", nm[i]);
        snprintf(in, sizeof in, "%s,i0", out);
        n = add_node(mp, "Squeeze", name, inputs ? in : out, sq);
        if (!inputs)
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
    attr_ints(n, "kernel_shape", 2, SV_IH, 1);
    n = add_node(mp, "Squeeze", "squeeze", "cv", "cq");
    attr_ints(n, "axes", 1, 2);
    n = add_node(mp, "Transpose", "seq", "cq", "ct");
    attr_ints(n, "perm", 3, 0, 2, 1);
    add_node(mp, "MatMul", "ctc", "ct,w5", "l0");
    add_node(mp, "Add", "ctc_b", "l0,b5", "l1");
    n = add_node(mp, "Softmax", "prob", "l1", "y");
    attr_i(n, "axis", 2);
    add_output(mp, "y", 3, (const int64_t[]){-1, SV_IW, SV_K});
    if (variant == LEAK)
        add_output(mp, "sm", 4, (const int64_t[]){-1, SV_H, SV_T, SV_T});
    return mp;
}

#endif
