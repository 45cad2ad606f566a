/* ops_linear.c - Gemm, MatMul with a constant operand, BatchNormalization. */
#include "onnx_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Gemm: Y = alpha * A * B' + beta * C with B' = B^T when transB; nmlab's
 * linear weight is [out, in], so B is transposed when transB = 0. alpha
 * and beta other than 1 are folded into the weight and bias (warned). */
int op_gemm(importer *im)
{
    int x, rc = ox_act_input(im, 0, &x);
    if (rc)
        return rc;
    int64_t ta, tb;
    float alpha, beta;
    if (ox_attr_int(im, "transA", 0, &ta) || ox_attr_int(im, "transB", 0, &tb) ||
        ox_attr_float(im, "alpha", 1.0f, &alpha, NULL) || ox_attr_float(im, "beta", 1.0f, &beta, NULL))
        return NM_ERR;
    if (ta)
        return ox_node_skip(im, "transA=1 is not modelled");
    const Onnx__TensorProto *B = ox_const_input(im, 1);
    if (!B)
        return ox_node_skip(im, "its weight '%s' is not an initializer",
                         ox_str_or(ox_input_name(im->node, 1), "(none)"));
    if (B->n_dims != 2)
        return ox_node_err(im, "weight '%s' has %zu dimensions, Gemm needs 2", ox_tname(B), B->n_dims);
    int c, h, w;
    nm_model_out_shape(im->m, x, &c, &h, &w);
    int64_t in = tb ? B->dims[1] : B->dims[0], out = tb ? B->dims[0] : B->dims[1];
    if (in != c)
        return ox_node_err(im, "weight '%s' expects %lld inputs but its input has %d features",
                        ox_tname(B), (long long)in, c);
    if (out < 1 || out > ONNX_MAX_DIM)
        return ox_node_err(im, "weight '%s' has %lld outputs", ox_tname(B), (long long)out);
    nm_layer l;
    if (ox_start_layer(im, &l, NM_LAYER_LINEAR, x))
        return NM_ERR;
    l.out_c = (int)out;
    int64_t bshape[2] = {B->dims[0], B->dims[1]};
    nm_tensor *bt = ox_param_tensor(im, B, "weight", 2, bshape);
    if (!bt)
        return NM_ERR;
    if (tb) {
        l.weight = bt;
    } else {
        l.weight = nm_tensor_new4(NM_F32, 2, out, in, 0, 0);
        if (!l.weight) {
            nm_tensor_release(bt);
            return NM_ERR;
        }
        const float *s = nm_f32(bt);
        float *d = nm_f32(l.weight);
        for (int64_t i = 0; i < in; i++)
            for (int64_t o = 0; o < out; o++)
                d[o * in + i] = s[i * out + o];
        nm_tensor_release(bt);
    }
    if (alpha != 1.0f) {
        ox_warn(im, "%s: alpha %g folded into the weight", im->where, (double)alpha);
        float *d = nm_f32(l.weight);
        for (int64_t i = 0; i < l.weight->numel; i++)
            d[i] *= alpha;
    }
    const char *cname = ox_input_name(im->node, 2);
    if (cname) {
        const Onnx__TensorProto *C = ox_const_of(im, cname);
        if (!C) {
            ox_layer_drop(&l);
            return ox_node_skip(im, "its bias '%s' is not an initializer", cname);
        }
        int64_t count;
        if (ox_tensor_count(im, C, &count)) {
            ox_layer_drop(&l);
            return NM_ERR;
        }
        /* C broadcasts to [batch, out]: [out], [1, out], or a scalar. */
        int ok = (C->n_dims == 1 && C->dims[0] == out) ||
                 (C->n_dims == 2 && C->dims[0] == 1 && C->dims[1] == out) || count == 1;
        if (!ok) {
            char db[96];
            ox_layer_drop(&l);
            return ox_node_err(im, "bias '%s' has dims %s, expected [%lld]", ox_tname(C),
                            ox_dims_str(C->dims, C->n_dims, db, sizeof db), (long long)out);
        }
        int64_t one = 1;
        nm_tensor *ct = ox_param_tensor(im, C, "bias", (int)C->n_dims, C->n_dims ? C->dims : &one);
        if (!ct) {
            ox_layer_drop(&l);
            return NM_ERR;
        }
        if (!(l.bias = nm_tensor_new4(NM_F32, 1, out, 0, 0, 0))) {
            nm_tensor_release(ct);
            ox_layer_drop(&l);
            return NM_ERR;
        }
        if (beta != 1.0f)
            ox_warn(im, "%s: beta %g folded into the bias", im->where, (double)beta);
        for (int64_t o = 0; o < out; o++)
            nm_f32(l.bias)[o] = beta * nm_f32(ct)[ct->numel == 1 ? 0 : o];
        nm_tensor_release(ct);
    }
    return ox_add_layer(im, &l);
}

/* MatMul(activation, initializer [in, out]) is a bias-free linear layer. */
int op_matmul(importer *im)
{
    const Onnx__TensorProto *B = ox_const_input(im, 1);
    if (ox_const_input(im, 0))
        return ox_node_skip(im, "its first operand is a constant");
    if (!B)
        return ox_node_skip(im, "MatMul of two activations (attention) is not imported");
    int x, rc = ox_act_input(im, 0, &x);
    if (rc)
        return rc;
    if (B->n_dims != 2)
        return ox_node_skip(im, "weight '%s' has %zu dimensions; nmlab models 2-D weights",
                         ox_tname(B), B->n_dims);
    int c, h, w;
    nm_model_out_shape(im->m, x, &c, &h, &w);
    int64_t in = B->dims[0], out = B->dims[1];
    if (in != c)
        return ox_node_err(im, "weight '%s' expects %lld inputs but its input has %d features",
                        ox_tname(B), (long long)in, c);
    if (out < 1 || out > ONNX_MAX_DIM)
        return ox_node_err(im, "weight '%s' has %lld outputs", ox_tname(B), (long long)out);
    nm_tensor *bt = ox_param_tensor(im, B, "weight", 2, B->dims);
    if (!bt)
        return NM_ERR;
    nm_layer l;
    if (ox_start_layer(im, &l, NM_LAYER_LINEAR, x) ||
        !(l.weight = nm_tensor_new4(NM_F32, 2, out, in, 0, 0))) {
        nm_tensor_release(bt);
        return NM_ERR;
    }
    l.out_c = (int)out;
    const float *s = nm_f32(bt);
    float *d = nm_f32(l.weight);
    for (int64_t i = 0; i < in; i++)
        for (int64_t o = 0; o < out; o++)
            d[o * in + i] = s[i * out + o];
    nm_tensor_release(bt);
    return ox_add_layer(im, &l);
}

/* BatchNormalization(X, scale, B, mean, var): inference statistics. */
int op_bn(importer *im)
{
    int x, rc = ox_act_input(im, 0, &x);
    if (rc)
        return rc;
    static const char *roles[4] = {"scale", "bias", "mean", "var"};
    const Onnx__TensorProto *t[4];
    for (int i = 0; i < 4; i++)
        if (!(t[i] = ox_const_input(im, i + 1)))
            return ox_node_skip(im, "its %s '%s' is not an initializer", roles[i],
                             ox_str_or(ox_input_name(im->node, i + 1), "(none)"));
    float eps;
    int64_t training;
    if (ox_attr_float(im, "epsilon", 1e-5f, &eps, NULL) || ox_attr_int(im, "training_mode", 0, &training))
        return NM_ERR;
    if (training)
        return ox_node_skip(im, "training_mode=1 (batch statistics) is not modelled; nmlab runs "
                         "inference with the running statistics");
    int c, h, w;
    nm_model_out_shape(im->m, x, &c, &h, &w);
    nm_layer l;
    if (ox_start_layer(im, &l, NM_LAYER_BN, x))
        return NM_ERR;
    l.eps = eps;
    int64_t cc = c;
    nm_tensor **slot[4] = {&l.gamma, &l.beta, &l.mean, &l.var};
    for (int i = 0; i < 4; i++)
        if (!(*slot[i] = ox_param_tensor(im, t[i], roles[i], 1, &cc))) {
            ox_layer_drop(&l);
            return NM_ERR;
        }
    /* Keep only output 0 (training-mode running statistics are not used). */
    if (ox_kill_outputs(im, im->node, im->node_k, 1))
        return NM_ERR;
    return ox_add_layer(im, &l);
}
