/* ops_elementwise.c - ReLU and Clip, Add/Sub/Mul/Div with broadcasting or
 * a constant operand (and bias folding), Sigmoid, HardSigmoid, HardSwish, Tanh. */
#include "onnx_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int op_relu(importer *im, float clip)
{
    int x, rc = ox_act_input(im, 0, &x);
    if (rc)
        return rc;
    nm_layer l;
    if (ox_start_layer(im, &l, NM_LAYER_RELU, x))
        return NM_ERR;
    l.clip = clip;
    return ox_add_layer(im, &l);
}

/* Reads Clip's bound i (1 = min, 2 = max) from its input or attribute. */
int ox_clip_bound(importer *im, int i, const char *attr, float *v, int *present)
{
    if (ox_attr_float(im, attr, 0.0f, v, present))
        return NM_ERR;
    const char *name = ox_input_name(im->node, i);
    if (!name)
        return NM_OK;
    const Onnx__TensorProto *t = ox_const_of(im, name);
    if (!t)
        return ox_node_skip(im, "its %s '%s' is computed at run time", attr, name);
    int64_t count;
    int raw;
    if (ox_tensor_count(im, t, &count) || ox_tensor_check_data(im, t, count, FLOAT_TYPES, &raw))
        return NM_ERR;
    if (count != 1)
        return ox_node_err(im, "%s '%s' has %lld elements, expected 1", attr, ox_tname(t), (long long)count);
    *v = ox_tensor_float_at(t, raw, 0);
    *present = 1;
    return NM_OK;
}


int ox_fold_bias(importer *im, int L, const Onnx__TensorProto *t);

/* ---- Imported-graph operators: elementwise, activations, concat, pad,
 * transpose, reshape, reductions. Values of rank 4 are [N, C, H, W]; rank 2
 * [N, C]; rank 3 are token sequences [N, T, F] (nmlab's (F, T, 1)), and
 * RANK_CL [N, C, L] (nmlab's (C, L, 1)). ---- */

/* nmlab's axis (0 = C, 1 = H, 2 = W) of ONNX axis `axis` (negative counts
 * from the end) of a value of rank `rank`; -1 for the batch axis, -2 if out
 * of range. */
int ox_nm_axis(int code, int64_t axis)
{
    int rank = ox_axes(code);
    if (axis < 0)
        axis += rank;
    if (axis < 0 || axis >= rank)
        return -2;
    if (axis == 0)
        return -1;
    if (code == 3)
        return axis == 1 ? 1 : 0;
    return (int)axis - 1;
}

/* A constant operand broadcast against a value of rank `rank`, as an f32
 * [c, h, w] tensor with 1 on every axis it does not vary along. NULL with
 * R_SKIP/NM_ERR in *rc when it varies along the batch axis or cannot be read. */
nm_tensor *ox_const_operand(importer *im, const Onnx__TensorProto *t, int code, int *rc)
{
    int rank = ox_axes(code);
    int64_t count;
    int raw;
    *rc = NM_ERR;
    if (ox_tensor_count(im, t, &count) || ox_tensor_check_data(im, t, count, FLOAT_TYPES | INT_TYPES, &raw))
        return NULL;
    if ((int)t->n_dims > rank) {
        *rc = ox_node_skip(im, "constant '%s' has rank %zu, more than its operand's %d", ox_tname(t),
                        t->n_dims, rank);
        return NULL;
    }
    int64_t d[3] = {1, 1, 1};
    int off = rank - (int)t->n_dims;     /* ONNX broadcasting aligns the last axes */
    for (int i = 0; i < (int)t->n_dims; i++) {
        int a = ox_nm_axis(code, off + i);
        if (a == -1) {
            if (t->dims[i] != 1) {
                *rc = ox_node_skip(im, "constant '%s' varies along the batch axis (dim 0 = %lld); "
                                "nmlab applies constants per sample", ox_tname(t), (long long)t->dims[i]);
                return NULL;
            }
            continue;
        }
        d[a] = t->dims[i];
    }
    nm_tensor *k = nm_tensor_new4(NM_F32, 3, d[0], d[1], d[2], 0);
    if (!k)
        return NULL;
    /* ONNX order is row-major over its axes; for a token value (rank 3) the
     * two per-sample axes are swapped in nmlab's (F, T, 1). */
    const int64_t nd = (int64_t)t->n_dims;
    for (int64_t i = 0; i < count; i++) {
        int64_t idx[3] = {0, 0, 0}, r = i;
        for (int64_t a = nd - 1; a >= 0; a--) {
            int na = ox_nm_axis(code, off + a);
            if (na >= 0)
                idx[na] = r % t->dims[a];
            r /= t->dims[a];
        }
        nm_f32(k)[(idx[0] * d[1] + idx[1]) * d[2] + idx[2]] =
            raw >= 0 && (t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ||
                         t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT32)
                ? (float)ox_tensor_int_at(t, raw, i) : ox_tensor_float_at(t, raw, i);
    }
    *rc = NM_OK;
    return k;
}

/* Add, Sub, Mul, Div of two activations (broadcast per axis) or of an
 * activation and a constant. Add of a per-channel constant right after a
 * layer used only here is folded into that layer's bias. */
int op_binary(importer *im, int kind)
{
    const Onnx__TensorProto *ca = ox_const_input(im, 0), *cb = ox_const_input(im, 1);
    if (ca && cb) { /* shape arithmetic */
        static const char *names[] = {[NM_LAYER_ADD] = "Add", [NM_LAYER_SUB] = "Sub",
                                      [NM_LAYER_MUL] = "Mul", [NM_LAYER_DIV] = "Div"};
        return ox_fold_binary(im, names[kind]);
    }
    int a, b, rc;
    nm_layer l;
    if (kind == NM_LAYER_DIV && cb && (rc = ox_match_gelu(im)) != R_SKIP)
        return rc;
    if (ca || cb) {
        const Onnx__TensorProto *t = ca ? ca : cb;
        if ((rc = ox_act_input(im, ca ? 1 : 0, &a)))
            return rc;
        if (kind == NM_LAYER_ADD) {
            rc = ox_fold_bias(im, a, t);
            if (rc != R_SKIP)
                return rc == NM_OK ? ox_bind(im, ox_output_name(im->node), a) : rc;
        }
        nm_tensor *k = ox_const_operand(im, t, ox_rank_of(im, a), &rc);
        if (!k)
            return rc;
        if (ox_start_layer(im, &l, kind, a)) {
            nm_tensor_release(k);
            return NM_ERR;
        }
        l.konst = k;
        l.rev = ca != NULL;
        return ox_add_layer(im, &l);
    }
    if ((rc = ox_act_input(im, 0, &a)) || (rc = ox_act_input(im, 1, &b)))
        return rc;
    if (ox_rank_of(im, a) != ox_rank_of(im, b))
        return ox_node_skip(im, "operands of rank %d and %d", ox_rank_of(im, a), ox_rank_of(im, b));
    if (ox_start_layer(im, &l, kind, a))
        return NM_ERR;
    l.n_inputs = 2;
    l.inputs[1] = b;
    return ox_add_layer(im, &l);
}

int op_unary(importer *im, int kind)
{
    int x, rc = ox_act_input(im, 0, &x);
    if (rc)
        return rc;
    nm_layer l;
    if (ox_start_layer(im, &l, kind, x))
        return NM_ERR;
    if (kind == NM_LAYER_HARDSIGMOID &&
        (ox_attr_float(im, "alpha", 0.2f, &l.alpha, NULL) || ox_attr_float(im, "beta", 0.5f, &l.beta_, NULL)))
        return NM_ERR;
    return ox_add_layer(im, &l);
}

/* Clip(0, k) is a ReLU clipped at k (ReLU6 for k = 6); other bounds make a
 * clip layer. */
int op_clip(importer *im)
{
    float lo, hi;
    int has_lo, has_hi, rc;
    if ((rc = ox_clip_bound(im, 1, "min", &lo, &has_lo)) || (rc = ox_clip_bound(im, 2, "max", &hi, &has_hi)))
        return rc;
    if (has_lo && lo == 0.0f && (!has_hi || hi > 0.0f))
        return op_relu(im, has_hi && isfinite(hi) ? hi : 0.0f);
    int x;
    if ((rc = ox_act_input(im, 0, &x)))
        return rc;
    nm_layer l;
    if (ox_start_layer(im, &l, NM_LAYER_CLIP, x))
        return NM_ERR;
    l.alpha = has_lo ? lo : -INFINITY;
    l.beta_ = has_hi ? hi : INFINITY;
    if (isnan(l.alpha) || isnan(l.beta_))
        return ox_node_err(im, "a clip bound is NaN");
    return ox_add_layer(im, &l);
}

/* Folds constant `t` into the bias of layer L when t is one value per
 * output channel and L's output feeds nothing but the current Add.
 * Returns NM_OK (folded), R_SKIP (not foldable: no message) or NM_ERR. */
int ox_fold_bias(importer *im, int L, const Onnx__TensorProto *t)
{
    if (L < 0)
        return R_SKIP;
    nm_layer *l = &im->m->layers[L];
    if (!nm_layer_prunable(l) || im->lay_uses[L] != im->lay_names[L])
        return R_SKIP;
    int64_t count;
    if (ox_tensor_count(im, t, &count))
        return NM_ERR;
    if (count != l->out_c)
        return R_SKIP;
    /* Channels are axis 1 of [N, C, H, W] after a conv, the last axis after
     * a linear layer; the constant must vary along that axis only. */
    int nd = (int)t->n_dims, axis;
    if (l->kind == NM_LAYER_LINEAR)
        axis = nd - 1;
    else
        axis = nd - 3;
    if (axis < 0 || nd > 4 || (l->kind != NM_LAYER_LINEAR && nd == 4 && t->dims[0] != 1))
        return R_SKIP;
    for (int i = 0; i < nd; i++)
        if (i != axis && t->dims[i] != 1)
            return R_SKIP;
    int raw;
    if (ox_tensor_check_data(im, t, count, FLOAT_TYPES, &raw))
        return NM_ERR;
    if (!l->bias && !(l->bias = nm_tensor_new4(NM_F32, 1, l->out_c, 0, 0, 0)))
        return NM_ERR;
    for (int64_t i = 0; i < count; i++)
        nm_f32(l->bias)[i] += ox_tensor_float_at(t, raw, i);
    return NM_OK;
}

/* Softmax (opset 13: one axis, default -1) over nmlab's channel axis:
 * [N, C] and [N, C, H, W] with axis 1, tokens [N, T, F] with axis -1. */
int op_softmax(importer *im)
{
    int x, rc = ox_act_input(im, 0, &x);
    if (rc)
        return rc;
    int64_t axis;
    if (ox_attr_int(im, "axis", -1, &axis))
        return NM_ERR;
    int code = ox_rank_of(im, x), a = ox_nm_axis(code, axis);
    if (a != 0)
        return ox_node_skip(im, "a softmax over axis %lld of a rank-%d value (nmlab's runs over "
                            "channels)", (long long)axis, ox_axes(code));
    nm_layer l;
    if (ox_start_layer(im, &l, NM_LAYER_SOFTMAX, x))
        return NM_ERR;
    return ox_add_layer(im, &l);
}
