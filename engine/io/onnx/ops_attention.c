/* ops_attention.c - transformer blocks as torch.onnx.export writes them
 * (torchvision's ViT, opset 13), matched node by node and mapped onto
 * nmlab's ViT layer kinds:
 *   - Concat(class token, tokens) on the token axis [+ Add of the position
 *     constant] -> one EMBED layer;
 *   - LayerNorm in decomposed form (ReduceMean over the features, Sub, Pow 2,
 *     ReduceMean, Add eps, Sqrt, Div [, Mul gamma] [, Add beta]) -> LAYERNORM;
 *   - GELU as Div(sqrt 2), Erf, Add 1, Mul x, Mul 0.5 -> GELU;
 *   - nn.MultiheadAttention (Transpose to [T, N, F], in_proj MatMul + Add,
 *     three Slices, head split reshapes, Div by sqrt(head dim), MatMul,
 *     Softmax, MatMul, reshapes back, out_proj Gemm, Transpose back) ->
 *     LINEAR (packed qkv) + 3 SLICE + MATMUL qk + SOFTMAX + MATMUL av + LINEAR;
 *   - Gather of one token (axis 1 of a token value) -> SLICE of positions.
 * A matcher starts at the pattern's first node; the other nodes it consumes
 * are marked in im->fused and skipped by the walk. A value made inside a
 * pattern must not be read outside it, or the match is refused. When the
 * nodes after the first do not match, the first node is imported as usual
 * (R_SKIP from the matcher means "no match, no message"). */
#include "onnx_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- LayerNorm ---- */

/* 1 when node k keeps the reduced axis (keepdims absent or 1). */
static int keeps_dims(const importer *im, int k)
{
    const Onnx__AttributeProto *a = ox_attr_find(ox_node_at(im, k), "keepdims");
    return !a || a->i == 1;
}

int ox_match_layernorm(importer *im)
{
    int x, rc = ox_act_input(im, 0, &x);
    if (rc || ox_rank_of(im, x) != 3 || !ox_attr_one_of(im, im->node_k, "axes", -1, 2) ||
        !keeps_dims(im, im->node_k))
        return R_SKIP;
    const char *xs = ox_in_of(im, im->node_k, 0), *mean = ox_out_of(im, im->node_k);
    int ks[9], n = 0;
    double two, eps, dummy;
    ks[n++] = im->node_k;
    int k1 = ox_reader(im, mean, ks[0], "Sub");
    if (k1 < 0 || strcmp(ox_in_of(im, k1, 0), xs) || strcmp(ox_in_of(im, k1, 1), mean))
        return R_SKIP;
    const char *d = ox_out_of(im, k1);
    int k2 = ox_reader(im, d, k1, "Pow");
    if (k2 < 0 || strcmp(ox_in_of(im, k2, 0), d) || !ox_scalar(im, ox_in_of(im, k2, 1), &two) || two != 2.0)
        return R_SKIP;
    int k3 = ox_reader(im, ox_out_of(im, k2), k2, "ReduceMean");
    if (k3 < 0 || !ox_attr_one_of(im, k3, "axes", -1, 2) || !keeps_dims(im, k3))
        return R_SKIP;
    int k4 = ox_reader(im, ox_out_of(im, k3), k3, "Add");
    if (k4 < 0 || !ox_scalar(im, ox_other_in(im, k4, ox_out_of(im, k3)), &eps) || !(eps > 0) || eps > 1)
        return R_SKIP;
    int k5 = ox_reader(im, ox_out_of(im, k4), k4, "Sqrt");
    int k6 = k5 < 0 ? -1 : ox_reader(im, ox_out_of(im, k5), k5, "Div");
    if (k6 < 0 || strcmp(ox_in_of(im, k6, 0), d) || strcmp(ox_in_of(im, k6, 1), ox_out_of(im, k5)))
        return R_SKIP;
    ks[n++] = k1, ks[n++] = k2, ks[n++] = k3, ks[n++] = k4, ks[n++] = k5, ks[n++] = k6;
    int c, h, w;
    nm_model_out_shape(im->m, x, &c, &h, &w);
    const Onnx__TensorProto *gamma = NULL, *beta = NULL;
    int last = k6;
    int k7 = ox_reader(im, ox_out_of(im, k6), k6, "Mul");
    if (k7 >= 0 && (gamma = ox_konst(im, ox_other_in(im, k7, ox_out_of(im, k6)))) && gamma->n_dims == 1 &&
        gamma->dims[0] == c && ox_map_get(&im->uses, ox_out_of(im, k6), 0) == 1) {
        ks[n++] = last = k7;
        int k8 = ox_reader(im, ox_out_of(im, k7), k7, "Add");
        if (k8 >= 0 && (beta = ox_konst(im, ox_other_in(im, k8, ox_out_of(im, k7)))) && beta->n_dims == 1 &&
            beta->dims[0] == c && ox_map_get(&im->uses, ox_out_of(im, k7), 0) == 1)
            ks[n++] = last = k8;
        else
            beta = NULL;
    } else {
        gamma = NULL;
    }
    (void)dummy;
    int cl = ox_claim_list(im, ks, n, ox_out_of(im, last));
    if (cl <= 0)
        return cl < 0 ? NM_ERR : R_SKIP;
    nm_layer l;
    if (ox_start_layer(im, &l, NM_LAYER_LAYERNORM, x))
        return NM_ERR;
    l.eps = (float)eps;
    int64_t want = c;
    l.gamma = gamma ? ox_param_tensor(im, gamma, "gamma", 1, &want) : nm_tensor_new4(NM_F32, 1, c, 0, 0, 0);
    l.beta = beta ? ox_param_tensor(im, beta, "beta", 1, &want) : nm_tensor_new4(NM_F32, 1, c, 0, 0, 0);
    if (!l.gamma || !l.beta) {
        ox_layer_drop(&l);
        return NM_ERR;
    }
    if (!gamma)
        nm_tensor_fill(l.gamma, 1);
    if (!beta)
        nm_tensor_fill(l.beta, 0);
    return ox_add_bound(im, &l, 3, ox_out_of(im, last));
}

/* ---- GELU: x / sqrt2 -> Erf -> + 1 -> * x -> * 0.5 ---- */

int ox_match_gelu(importer *im)
{
    int k0 = im->node_k;
    double s, one, half;
    const char *xs = ox_in_of(im, k0, 0);
    if (!ox_scalar(im, ox_in_of(im, k0, 1), &s) || fabs(s - sqrt(2.0)) > 1e-5)
        return R_SKIP;
    int k1 = ox_reader(im, ox_out_of(im, k0), k0, "Erf");
    int k2 = k1 < 0 ? -1 : ox_reader(im, ox_out_of(im, k1), k1, "Add");
    if (k2 < 0 || !ox_scalar(im, ox_other_in(im, k2, ox_out_of(im, k1)), &one) || one != 1.0)
        return R_SKIP;
    int k3 = ox_reader(im, ox_out_of(im, k2), k2, "Mul");
    if (k3 < 0 || strcmp(ox_other_in(im, k3, ox_out_of(im, k2)), xs))
        return R_SKIP;
    int k4 = ox_reader(im, ox_out_of(im, k3), k3, "Mul");
    if (k4 < 0 || !ox_scalar(im, ox_other_in(im, k4, ox_out_of(im, k3)), &half) || half != 0.5)
        return R_SKIP;
    int x, rc = ox_act_input(im, 0, &x);
    if (rc)
        return R_SKIP;
    int ks[5] = {k0, k1, k2, k3, k4};
    int cl = ox_claim_list(im, ks, 5, ox_out_of(im, k4));
    if (cl <= 0)
        return cl < 0 ? NM_ERR : R_SKIP;
    nm_layer l;
    if (ox_start_layer(im, &l, NM_LAYER_GELU, x))
        return NM_ERR;
    return ox_add_bound(im, &l, 0, ox_out_of(im, k4));
}

/* ---- Class token + position embedding ---- */

int ox_match_embed(importer *im)
{
    int k0 = im->node_k;
    const Onnx__NodeProto *n = im->node;
    if (n->n_input != 2 || !ox_attr_one_of(im, k0, "axis", 1, -2))
        return R_SKIP;
    const Onnx__TensorProto *cls = ox_const_of(im, ox_in_of(im, k0, 0));
    if (!cls || ox_const_of(im, ox_in_of(im, k0, 1)))
        return R_SKIP;
    int x, rc = ox_act_input(im, 1, &x);
    if (rc)
        return rc;
    int c, h, w;
    nm_model_out_shape(im->m, x, &c, &h, &w);
    int64_t count;
    if (ox_rank_of(im, x) != 3 || ox_tensor_count(im, cls, &count) || count != c ||
        cls->n_dims != 3 || cls->dims[0] != 1 || cls->dims[1] != 1)
        return R_SKIP;
    int64_t T = (int64_t)h * w + 1;
    const Onnx__TensorProto *pos = NULL;
    int k1 = ox_reader(im, ox_out_of(im, k0), k0, "Add"), last = k0;
    int64_t pd[3] = {1, T, c};
    if (k1 >= 0 && ox_map_get(&im->uses, ox_out_of(im, k0), 0) == 1 &&
        (pos = ox_konst(im, ox_other_in(im, k1, ox_out_of(im, k0)))) && pos->n_dims == 3 &&
        pos->dims[0] == 1 && pos->dims[1] == T && pos->dims[2] == c)
        last = k1;
    else
        pos = NULL;
    int ks[2] = {k0, k1};
    int cl = ox_claim_list(im, ks, last == k0 ? 1 : 2, ox_out_of(im, last));
    if (cl <= 0)
        return cl < 0 ? NM_ERR : R_SKIP;
    nm_layer l;
    if (ox_start_layer(im, &l, NM_LAYER_EMBED, x))
        return NM_ERR;
    nm_tensor *p3 = pos ? ox_param_tensor(im, pos, "position embedding", 3, pd) : NULL;
    nm_tensor *c3 = ox_param_tensor(im, cls, "class token", 3, (int64_t[]){1, 1, c});
    l.weight = nm_tensor_new4(NM_F32, 2, T, c, 0, 0);
    l.bias = nm_tensor_new4(NM_F32, 1, c, 0, 0, 0);
    if ((pos && !p3) || !c3 || !l.weight || !l.bias) {
        nm_tensor_release(p3), nm_tensor_release(c3);
        ox_layer_drop(&l);
        return NM_ERR;
    }
    if (p3)
        memcpy(nm_f32(l.weight), nm_f32(p3), (size_t)(T * c) * sizeof(float));
    else
        nm_tensor_fill(l.weight, 0);
    memcpy(nm_f32(l.bias), nm_f32(c3), (size_t)c * sizeof(float));
    nm_tensor_release(p3), nm_tensor_release(c3);
    return ox_add_bound(im, &l, 3, ox_out_of(im, last));
}

/* ---- Gather of one token ---- */

int ox_match_gather_token(importer *im)
{
    int k0 = im->node_k;
    const Onnx__TensorProto *t = ox_konst(im, ox_in_of(im, k0, 1));
    if (ox_const_of(im, ox_in_of(im, k0, 0)) || !t || !ox_attr_one_of(im, k0, "axis", 1, -2))
        return R_SKIP;
    int x, rc = ox_act_input(im, 0, &x);
    if (rc)
        return rc;
    int64_t count;
    int raw;
    if (ox_rank_of(im, x) != 3 || ox_tensor_count(im, t, &count) || count != 1 || t->n_dims != 0 ||
        ox_tensor_check_data(im, t, count, INT_TYPES, &raw))
        return R_SKIP;
    int c, h, w;
    nm_model_out_shape(im->m, x, &c, &h, &w);
    int64_t i = ox_tensor_int_at(t, raw, 0);
    if (i < 0)
        i += (int64_t)h * w;
    if (i < 0 || i >= (int64_t)h * w)
        return ox_node_err(im, "token %lld of %d", (long long)i, h * w);
    nm_layer l;
    if (ox_start_layer(im, &l, NM_LAYER_SLICE, x))
        return NM_ERR;
    l.slice_axis = NM_AXIS_POSITION;
    l.slice_start = (int)i;
    l.out_h = 1;
    return ox_add_layer_rank(im, &l, 2);
}

/* ---- nn.MultiheadAttention ---- */

static int mha_refuse(importer *im, const char *what)
{
    return ox_node_skip(im, "looks like nn.MultiheadAttention but %s", what);
}

/* Runs handler fn as if walking node k (names, bindings, messages). */
static int as_node(importer *im, int k, int (*fn)(importer *, int), int arg)
{
    const Onnx__NodeProto *save = im->node;
    int save_k = im->node_k;
    char where[sizeof im->where];
    memcpy(where, im->where, sizeof where);
    im->node = ox_node_at(im, k), im->node_k = k;
    ox_node_label(im->node, k, im->where, sizeof im->where);
    int rc = fn(im, arg);
    im->node = save, im->node_k = save_k;
    memcpy(im->where, where, sizeof where);
    return rc;
}

static int matmul_h(importer *im, int arg) { (void)arg; return op_matmul(im); }
static int gemm_h(importer *im, int arg) { (void)arg; return op_gemm(im); }

/* The value after Reshape then Transpose of value v (the head split), or
 * NULL; *kt receives the Transpose. */
static const char *head_split(const importer *im, const char *v, int from, int *kt)
{
    int kr = ox_reader(im, v, from, "Reshape");
    *kt = kr < 0 ? -1 : ox_reader(im, ox_out_of(im, kr), kr, "Transpose");
    return *kt < 0 ? NULL : ox_out_of(im, *kt);
}

int ox_match_mha(importer *im)
{
    int k0 = im->node_k;
    int x, rc = ox_act_input(im, 0, &x);
    if (rc || ox_rank_of(im, x) != 3)
        return R_SKIP;
    const Onnx__AttributeProto *pa = ox_attr_find(im->node, "perm");
    if (!pa || pa->n_ints != 3 || pa->ints[0] != 1 || pa->ints[1] != 0 || pa->ints[2] != 2)
        return R_SKIP;
    int c, h, w;
    nm_model_out_shape(im->m, x, &c, &h, &w);
    const char *t0 = ox_out_of(im, k0);
    int kq = ox_reader(im, t0, k0, "MatMul");
    const Onnx__TensorProto *W = kq < 0 ? NULL : ox_konst(im, ox_in_of(im, kq, 1));
    if (!W || W->n_dims != 2 || W->dims[0] != c || W->dims[1] != 3 * (int64_t)c)
        return mha_refuse(im, "no in_proj MatMul with a [F, 3F] weight reads it");
    int ka = ox_reader(im, ox_out_of(im, kq), kq, "Add");
    const Onnx__TensorProto *B = ka < 0 ? NULL : ox_konst(im, ox_other_in(im, ka, ox_out_of(im, kq)));
    int64_t bc;
    if (!B || ox_tensor_count(im, B, &bc) || bc != 3 * (int64_t)c)
        return mha_refuse(im, "the in_proj MatMul is not followed by an Add of a [3F] bias");
    const char *qkv = ox_out_of(im, ka);
    int ks[3], from = ka;
    for (int i = 0; i < 3; i++) {
        if ((ks[i] = ox_reader(im, qkv, from, "Slice")) < 0)
            return mha_refuse(im, "the packed q, k, v are not cut by three Slices");
        from = ks[i];
    }
    for (int i = 0; i < 3; i++) {   /* starts folded or written as constants must be q, k, v */
        const Onnx__TensorProto *st = ox_konst(im, ox_in_of(im, ks[i], 1));
        int64_t sc;
        int raw;
        if (st && (ox_tensor_count(im, st, &sc) || sc != 1 ||
                   ox_tensor_check_data(im, st, sc, INT_TYPES, &raw) ||
                   ox_tensor_int_at(st, raw, 0) != (int64_t)i * c))
            return mha_refuse(im, "its Slices do not cut q, k, v in that order");
    }
    int ktq, ktk, ktv;
    const char *q = head_split(im, ox_out_of(im, ks[0]), ks[0], &ktq);
    const char *kk = head_split(im, ox_out_of(im, ks[1]), ks[1], &ktk);
    const char *v = head_split(im, ox_out_of(im, ks[2]), ks[2], &ktv);
    if (!q || !kk || !v)
        return mha_refuse(im, "q, k and v are not each reshaped and transposed");
    int kd = ox_reader(im, q, ktq, "Div");
    double div;
    if (kd < 0 || !ox_scalar(im, ox_in_of(im, kd, 1), &div) || !(div > 0))
        return mha_refuse(im, "q is not divided by a constant scale");
    int kqk = ox_reader(im, ox_out_of(im, kd), kd, "MatMul");
    if (kqk < 0 || strcmp(ox_in_of(im, kqk, 1), kk))
        return mha_refuse(im, "the scores are not MatMul(q, k^T)");
    int ksm = ox_reader(im, ox_out_of(im, kqk), kqk, "Softmax");
    if (ksm < 0 || !ox_attr_one_of(im, ksm, "axis", -1, 2))
        return mha_refuse(im, "the scores are not followed by a Softmax over the keys");
    int kav = ox_reader(im, ox_out_of(im, ksm), ksm, "MatMul");
    if (kav < 0 || strcmp(ox_in_of(im, kav, 1), v))
        return mha_refuse(im, "the Softmax is not multiplied by v");
    int kt4 = ox_reader(im, ox_out_of(im, kav), kav, "Transpose");
    int kr3 = kt4 < 0 ? -1 : ox_reader(im, ox_out_of(im, kt4), kt4, "Reshape");
    int ko = kr3 < 0 ? -1 : ox_reader(im, ox_out_of(im, kr3), kr3, "Gemm");
    const Onnx__TensorProto *Wo = ko < 0 ? NULL : ox_konst(im, ox_in_of(im, ko, 1));
    if (!Wo || Wo->n_dims != 2 || Wo->dims[0] != c || Wo->dims[1] != c)
        return mha_refuse(im, "the heads are not merged into an out_proj Gemm with a [F, F] weight");
    int kr4 = ox_reader(im, ox_out_of(im, ko), ko, "Reshape");
    int kend = kr4 < 0 ? -1 : ox_reader(im, ox_out_of(im, kr4), kr4, "Transpose");
    if (kend < 0 || !(pa = ox_attr_find(ox_node_at(im, kend), "perm")) || pa->n_ints != 3 ||
        pa->ints[0] != 1 || pa->ints[1] != 0 || pa->ints[2] != 2)
        return mha_refuse(im, "the out_proj result is not transposed back to [N, T, F]");
    /* torch scales q by 1/sqrt(head dim): that gives the heads */
    double hd = div * div;
    if (!(hd >= 1) || hd > c)
        return mha_refuse(im, "its scale does not divide the features into heads of 1/scale^2");
    int heads = (int)lround(c / hd);
    if (heads < 1 || fabs(hd - lround(hd)) > 1e-3 || (int64_t)heads * lround(hd) != c)
        return mha_refuse(im, "its scale does not divide the features into heads of 1/scale^2");
    int cl = ox_claim(im, k0, kend, ox_out_of(im, kend), NULL);
    if (cl <= 0)
        return cl < 0 ? NM_ERR : mha_refuse(im, "a value inside it is read outside it");
    /* LINEAR qkv (MatMul + bias), three slices, qk, softmax, av, out_proj */
    if (ox_bind(im, t0, x) || (rc = as_node(im, kq, matmul_h, 0)) ||
        (rc = as_node(im, ka, op_binary, NM_LAYER_ADD)))
        return rc ? rc : NM_ERR;
    int lin = im->m->n_layers - 1, sl[3];
    for (int i = 0; i < 3; i++) {
        nm_layer l;
        const Onnx__NodeProto *save = im->node;
        im->node = ox_node_at(im, ks[i]);
        rc = ox_start_layer(im, &l, NM_LAYER_SLICE, lin);
        im->node = save;
        if (rc)
            return NM_ERR;
        l.slice_axis = NM_AXIS_CHANNEL;
        l.slice_start = i * c;
        l.out_c = c;
        if (ox_add_bound(im, &l, 3, ox_out_of(im, ks[i])))
            return NM_ERR;
        sl[i] = im->m->n_layers - 1;
    }
    nm_layer l;
    im->node = ox_node_at(im, kqk);
    rc = ox_start_layer(im, &l, NM_LAYER_MATMUL, sl[0]);
    l.n_inputs = 2, l.inputs[1] = sl[1], l.heads = heads, l.groups = 1, l.alpha = (float)(1.0 / div);
    if (rc || ox_add_bound(im, &l, 3, ox_out_of(im, kqk)))
        goto fail;
    im->node = ox_node_at(im, ksm);
    rc = ox_start_layer(im, &l, NM_LAYER_SOFTMAX, im->m->n_layers - 1);
    l.heads = heads;
    if (rc || ox_add_bound(im, &l, 3, ox_out_of(im, ksm)))
        goto fail;
    im->node = ox_node_at(im, kav);
    rc = ox_start_layer(im, &l, NM_LAYER_MATMUL, im->m->n_layers - 1);
    l.n_inputs = 2, l.inputs[1] = sl[2], l.heads = heads, l.groups = 0;
    if (rc || ox_add_bound(im, &l, 3, ox_out_of(im, kav)))
        goto fail;
    im->node = ox_node_at(im, k0);
    if (ox_bind(im, ox_out_of(im, kr3), im->m->n_layers - 1) || (rc = as_node(im, ko, gemm_h, 0)))
        return rc ? rc : NM_ERR;
    im->lay_rank[im->m->n_layers - 1] = 3;
    return ox_bind(im, ox_out_of(im, kend), im->m->n_layers - 1);
fail:
    im->node = ox_node_at(im, k0);
    return NM_ERR;
}
