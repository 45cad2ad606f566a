/* ops_shape.c - Concat, Pad, Transpose, ReduceMean, Flatten, Reshape,
 * Identity/Dropout, Constant, and single-input layers. */
#include "onnx_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Concat of one activation with constants that hold a single value
 * (BlazeFace pads channels by ConstantOfShape + Concat): a pad layer, the
 * constants before the activation padding before, those after it after. */
static int concat_pad(importer *im, int64_t axis)
{
    const Onnx__NodeProto *n = im->node;
    int x = 0, seen = 0, rc;
    int64_t before = 0, after = 0;
    float value = 0;
    int have_value = 0;
    for (size_t i = 0; i < n->n_input; i++)
        if (!ox_const_input(im, (int)i)) {
            if (seen++)
                return ox_node_skip(im, "a concat of activations and constants");
            if ((rc = ox_act_input(im, (int)i, &x)))
                return rc;
        }
    if (!seen)
        return ox_node_skip(im, "a concat of constants only that is not a shape");
    int code = ox_rank_of(im, x), a = ox_nm_axis(code, axis);
    if (a < 0)
        return ox_node_skip(im, "a concat with constants along the batch axis or outside the rank");
    int c, h, w;
    nm_model_out_shape(im->m, x, &c, &h, &w);
    int d[3] = {c, h, w};
    int past = 0;
    for (size_t i = 0; i < n->n_input; i++) {
        const Onnx__TensorProto *t = ox_const_input(im, (int)i);
        if (!t) {
            past = 1;
            continue;
        }
        int64_t count;
        int raw;
        if (ox_tensor_count(im, t, &count) || ox_tensor_check_data(im, t, count, FLOAT_TYPES, &raw))
            return NM_ERR;
        if ((int)t->n_dims != ox_axes(code))
            return ox_node_skip(im, "constant '%s' has rank %zu", ox_tname(t), t->n_dims);
        int64_t along = 0;
        for (int k = 1; k < (int)t->n_dims; k++) {
            int na = ox_nm_axis(code, k);
            if (na == a)
                along = t->dims[k];
            else if (t->dims[k] != d[na])
                return ox_node_err(im, "constant '%s' does not match the activation's other axes",
                                   ox_tname(t));
        }
        if (t->dims[0] != 1)
            return ox_node_skip(im, "constant '%s' varies along the batch axis", ox_tname(t));
        for (int64_t k = 0; k < count; k++) {
            float v = ox_tensor_float_at(t, raw, k);
            if (!have_value)
                value = v, have_value = 1;
            else if (v != value)
                return ox_node_skip(im, "constant '%s' is not one repeated value", ox_tname(t));
        }
        if (along > ONNX_MAX_DIM)
            return ox_node_err(im, "constant '%s' is too large", ox_tname(t));
        *(past ? &after : &before) += along;
    }
    nm_layer l;
    if (ox_start_layer(im, &l, NM_LAYER_PAD, x))
        return NM_ERR;
    l.pads[a] = (int)before, l.pads[a + 3] = (int)after;
    l.pad_value = value;
    return ox_add_layer(im, &l);
}

int op_concat(importer *im)
{
    int folded = ox_fold_concat(im);   /* shape vectors */
    if (folded != R_SKIP || (folded = ox_match_embed(im)) != R_SKIP)
        return folded;
    const Onnx__NodeProto *n = im->node;
    int64_t axis;
    if (ox_attr_int(im, "axis", 0, &axis))
        return NM_ERR;
    if (!ox_attr_find(n, "axis"))
        return ox_node_err(im, "attribute 'axis' is missing");
    if (n->n_input < 1 || n->n_input > NM_MAX_INPUTS)
        return ox_node_skip(im, "%zu inputs (nmlab joins 1 to %d)", n->n_input, NM_MAX_INPUTS);
    nm_layer l;
    memset(&l, 0, sizeof l);
    int n_const = 0;
    for (size_t i = 0; i < n->n_input; i++)
        n_const += ox_const_input(im, (int)i) != NULL;
    if (n_const)
        return concat_pad(im, axis);
    for (size_t i = 0; i < n->n_input; i++) {
        int rc = ox_act_input(im, (int)i, &l.inputs[i]);
        if (rc)
            return rc;
    }
    int rank = ox_rank_of(im, l.inputs[0]), a = ox_nm_axis(rank, axis);
    if (a == -2)
        return ox_node_err(im, "axis %lld is outside rank %d", (long long)axis, rank);
    if (a == -1)
        return ox_node_skip(im, "concatenation along the batch axis");
    int ins[NM_MAX_INPUTS];
    memcpy(ins, l.inputs, sizeof ins);
    if (ox_start_layer(im, &l, NM_LAYER_CONCAT, ins[0]))
        return NM_ERR;
    memcpy(l.inputs, ins, sizeof ins);
    l.n_inputs = (int)n->n_input;
    l.axis = a;
    return ox_add_layer(im, &l);
}

/* Pad (constant mode): pads from the 'pads' input (opset 11+) or attribute. */
int op_pad(importer *im)
{
    int x, rc = ox_act_input(im, 0, &x);
    if (rc)
        return rc;
    char mode[32];
    if (ox_attr_str(im, "mode", mode, sizeof mode))
        return NM_ERR;
    if (mode[0] && strcmp(mode, "constant") != 0)
        return ox_node_skip(im, "mode '%s' (nmlab pads with a constant)", mode);
    int code = ox_rank_of(im, x), rank = ox_axes(code);
    int64_t pads[8];
    size_t np;
    const Onnx__TensorProto *pt = ox_const_input(im, 1);
    if (pt) {
        int64_t count;
        int raw;
        if (ox_tensor_count(im, pt, &count) || ox_tensor_check_data(im, pt, count, INT_TYPES, &raw))
            return NM_ERR;
        if (count != 2 * rank)
            return ox_node_err(im, "pads '%s' has %lld values, expected %d", ox_tname(pt), (long long)count,
                            2 * rank);
        np = (size_t)count;
        for (size_t i = 0; i < np; i++)
            pads[i] = ox_tensor_int_at(pt, raw, (int64_t)i);
    } else if (ox_input_name(im->node, 1)) {
        return ox_node_skip(im, "its pads '%s' are computed at run time", ox_input_name(im->node, 1));
    } else {
        const int64_t *pv;
        if (ox_attr_ints(im, "pads", &pv, &np))
            return NM_ERR;
        if (np != (size_t)(2 * rank))
            return ox_node_err(im, "pads has %zu values, expected %d", np, 2 * rank);
        memcpy(pads, pv, np * sizeof *pads);
    }
    float value = 0.0f;
    int has;
    if (ox_attr_float(im, "value", 0.0f, &value, &has))
        return NM_ERR;
    const Onnx__TensorProto *vt = ox_const_input(im, 2);
    if (vt) {
        int64_t count;
        int raw;
        if (ox_tensor_count(im, vt, &count) || ox_tensor_check_data(im, vt, count, FLOAT_TYPES, &raw))
            return NM_ERR;
        if (count != 1)
            return ox_node_err(im, "constant_value has %lld values", (long long)count);
        value = ox_tensor_float_at(vt, raw, 0);
    } else if (ox_input_name(im->node, 2)) {
        return ox_node_skip(im, "its value is computed at run time");
    }
    nm_layer l;
    if (ox_start_layer(im, &l, NM_LAYER_PAD, x))
        return NM_ERR;
    for (int i = 0; i < rank; i++) {
        int64_t b = pads[i], e = pads[i + rank];
        int a = ox_nm_axis(code, i);
        if (b < 0 || e < 0 || b > ONNX_MAX_DIM || e > ONNX_MAX_DIM)
            return ox_node_skip(im, "pads %lld, %lld on axis %d (nmlab pads by 0 to %d)", (long long)b,
                             (long long)e, i, ONNX_MAX_DIM);
        if (a == -1 && (b || e))
            return ox_node_skip(im, "padding the batch axis");
        if (a >= 0)
            l.pads[a] = (int)b, l.pads[a + 3] = (int)e;
    }
    l.pad_value = value;
    if (!isfinite(value))
        return ox_node_err(im, "pad value is not finite");
    return ox_add_layer(im, &l);
}

/* Transpose of a [N, C, H, W] value that keeps the batch axis first. */
int op_transpose(importer *im)
{
    if (ox_map_get(&im->virt, ox_str_or(ox_input_name(im->node, 0), ""), -1) >= 0)
        return ox_shuffle_step(im, 1);
    int fr = ox_match_mha(im);
    if (fr != R_SKIP || im->skip_why[im->node_k])
        return fr;
    int x, rc = ox_act_input(im, 0, &x);
    if (rc)
        return rc;
    const int64_t *p;
    size_t np;
    if (ox_attr_ints(im, "perm", &p, &np))
        return NM_ERR;
    int rank = ox_rank_of(im, x);
    if (rank == RANK_CL && np == 3 && p[0] == 0 && p[1] == 2 && p[2] == 1) {
        /* [N, C, L] -> [N, L, C]: the same values seen as tokens (F, T, 1) */
        nm_layer l;
        int c, h, w;
        nm_model_out_shape(im->m, x, &c, &h, &w);
        if (ox_start_layer(im, &l, NM_LAYER_RESHAPE, x))
            return NM_ERR;
        l.out_c = c, l.out_h = h, l.out_w = w;
        return ox_add_layer_rank(im, &l, 3);
    }
    if (rank != 4 || (np && np != 4))
        return ox_node_skip(im, "only transposes of [N, C, H, W] values are modelled (rank %d)", rank);
    nm_layer l;
    if (ox_start_layer(im, &l, NM_LAYER_TRANSPOSE, x))
        return NM_ERR;
    int64_t def[4] = {0, 3, 2, 1};
    if (!np)
        return ox_node_skip(im, "a transpose without perm reverses the batch axis");
    (void)def;
    if (p[0] != 0)
        return ox_node_skip(im, "perm moves the batch axis");
    for (int i = 0; i < 3; i++) {
        if (p[i + 1] < 1 || p[i + 1] > 3)
            return ox_node_err(im, "perm [%lld, %lld, %lld, %lld] is not a permutation", (long long)p[0],
                            (long long)p[1], (long long)p[2], (long long)p[3]);
        l.perm[i] = (int)p[i + 1] - 1;
    }
    return ox_add_layer(im, &l);
}

/* ReduceMean over the plane (axes 2 and 3 of [N, C, H, W]) is a global
 * average pool; keepdims = 0 leaves [N, C]. */
int op_reducemean(importer *im)
{
    int fr = ox_match_layernorm(im);
    if (fr != R_SKIP)
        return fr;
    int x, rc = ox_act_input(im, 0, &x);
    if (rc)
        return rc;
    const int64_t *ax;
    size_t nax;
    int64_t keep;
    if (ox_attr_ints(im, "axes", &ax, &nax) || ox_attr_int(im, "keepdims", 1, &keep))
        return NM_ERR;
    int rank = ox_rank_of(im, x), seen = 0;
    for (size_t i = 0; i < nax; i++) {
        int a = ox_nm_axis(rank, ax[i]);
        seen |= a >= 0 ? 1 << a : 8;
    }
    if (rank != 4 || seen != 6)
        return ox_node_skip(im, "only a mean over H and W of [N, C, H, W] is modelled");
    nm_layer l;
    if (ox_start_layer(im, &l, NM_LAYER_GAP, x))
        return NM_ERR;
    return ox_add_layer_rank(im, &l, keep ? 4 : 2);
}

int op_simple(importer *im, int kind)
{
    int x, rc = ox_act_input(im, 0, &x);
    if (rc)
        return rc;
    nm_layer l;
    if (ox_start_layer(im, &l, kind, x))
        return NM_ERR;
    return ox_add_layer_rank(im, &l, kind == NM_LAYER_FLATTEN ? 2 : 0);
}

int op_flatten(importer *im)
{
    int64_t axis;
    if (ox_attr_int(im, "axis", 1, &axis))
        return NM_ERR;
    if (axis != 1)
        return ox_node_skip(im, "Flatten with axis %lld is not modelled (only axis 1)", (long long)axis);
    return op_simple(im, NM_LAYER_FLATTEN);
}


/* Identity and Dropout pass their input through: the output name becomes
 * another name of the same layer (or of the same constant). */
int op_alias(importer *im)
{
    const Onnx__NodeProto *n = im->node;
    const char *in = ox_input_name(n, 0), *out = ox_output_name(n);
    if (!in)
        return ox_node_err(im, "input 0 is missing");
    if (ox_input_name(n, 2)) { /* Dropout's training_mode */
        const Onnx__TensorProto *t = ox_const_input(im, 2);
        int64_t count;
        int raw;
        if (!t)
            return ox_node_skip(im, "its training_mode is computed at run time");
        if (ox_tensor_count(im, t, &count))
            return NM_ERR;
        if (count == 1 && t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__BOOL &&
            ((t->raw_data.len == 1 && t->raw_data.data[0]) || (t->n_int32_data == 1 && t->int32_data[0])))
            return ox_node_skip(im, "training_mode=1 drops values at random; nmlab runs inference");
        (void)raw;
    }
    if (ox_kill_outputs(im, n, im->node_k, 1)) /* Dropout's mask */
        return NM_ERR;
    if (!out)
        return NM_OK;
    const Onnx__TensorProto *t = ox_const_of(im, in);
    if (t)
        return ox_ctab_add(im, out, t);
    int v = ox_map_get(&im->values, in, VAL_DEAD0 + 1);
    if (v == VAL_DEAD0 + 1)
        return ox_node_err(im, "input '%s' is not produced by any earlier node", in);
    return v >= 0 ? ox_bind(im, out, v) : ox_map_put(&im->values, out, v);
}

/* Constant: its value tensor becomes a named constant for later nodes. */
int op_constant(importer *im)
{
    const Onnx__AttributeProto *a = ox_attr_find(im->node, "value");
    const char *out = ox_output_name(im->node);
    if (!a || !a->t)
        return ox_node_skip(im, "only a Constant with a tensor 'value' is read");
    return out ? ox_ctab_add(im, out, a->t) : NM_OK;
}
