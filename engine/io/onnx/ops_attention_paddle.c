/* ops_attention_paddle.c - the token patterns of PaddleOCR's SVTR neck as
 * paddle2onnx writes them (PP-OCRv4 recogniser, opset 9 and later):
 *   - packed attention: tokens [N, T, 3F] (a linear's output) -> Reshape
 *     [N, T, 3, H, d] -> Transpose(2, 0, 3, 1, 4) -> for q, k, v a Slice of
 *     axis 0 (i .. i+1) and a Squeeze of axis 0, giving [N, H, T, d] ->
 *     [Mul or Div of q by a constant scale] -> Transpose(0, 1, 3, 2) of k ->
 *     MatMul(q, k^T) -> Softmax (last axis) -> MatMul with v ->
 *     Transpose(0, 2, 1, 3) -> Reshape [N, T, F]; mapped onto 3 channel
 *     SLICEs of the packed tokens (head h = channels h*d .. of q, k, v) +
 *     MATMUL qk (heads, alpha = the scale) + SOFTMAX (heads) + MATMUL av.
 *     The final Reshape's shape is usually computed by nodes after the
 *     pattern's first one, so it is not claimed: the merged heads are
 *     recorded in im->merge and the Reshape, when the walk reaches it,
 *     binds its output to the MATMUL av layer (ox_paddle_merge);
 *   - tokens back to an image: Reshape [N, T, F] -> [N, H, W, F] with
 *     H * W = T, then Transpose(0, 3, 1, 2): a RESHAPE layer to (F, H, W),
 *     the same memory as nmlab's token value (F, T, 1).
 * Both start at a Reshape of a token value (op_reshape), which nmlab does
 * not model otherwise, so a pattern that does not match is refused naming
 * the Reshape and the step that differs. */
#include "onnx_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int refuse(importer *im, const char *what)
{
    return ox_node_skip(im, "looks like Paddle's packed attention (tokens reshaped to "
                        "[N, T, 3, H, d]) but %s", what);
}

/* The integer list of node k from constant input `input` or, when that
 * input is absent, attribute `attr`: the count, -1 when neither is there,
 * -2 when the input is not a constant nmlab can read (or holds more than
 * cap values). */
static int ints_of(importer *im, int k, size_t input, const char *attr, int64_t *v, int cap)
{
    const Onnx__NodeProto *n = ox_node_at(im, k);
    if (input < n->n_input && n->input[input] && *n->input[input]) {
        const Onnx__TensorProto *t = ox_konst(im, n->input[input]);
        int64_t count;
        int raw;
        if (!t || ox_tensor_count(im, t, &count) || count > cap ||
            ox_tensor_check_data(im, t, count, INT_TYPES, &raw))
            return -2;
        for (int64_t i = 0; i < count; i++)
            v[i] = ox_tensor_int_at(t, raw, i);
        return (int)count;
    }
    const Onnx__AttributeProto *a = attr ? ox_attr_find(n, attr) : NULL;
    if (!a)
        return -1;
    if (a->n_ints > (size_t)cap)
        return -2;
    if (a->n_ints)   /* an empty list has no array */
        memcpy(v, a->ints, a->n_ints * sizeof *v);
    return (int)a->n_ints;
}

/* Which of q, k, v (0, 1, 2) Slice node k cuts from the [3, N, H, T, d]
 * value: one index of axis 0 with step 1; -1 for any other slice. Inputs
 * (opset 10+) or attributes (opset < 10). */
static int qkv_index(importer *im, int k)
{
    int64_t st[2], en[2], ax[2] = {0}, sp[2] = {1};
    int ns = ints_of(im, k, 1, "starts", st, 2), ne = ints_of(im, k, 2, "ends", en, 2);
    int na = ints_of(im, k, 3, "axes", ax, 2), np = ints_of(im, k, 4, "steps", sp, 2);
    if (ns != 1 || ne != 1 || na < -1 || na == 0 || na > 1 || np < -1 || np == 0 || np > 1)
        return -1;
    if ((ax[0] != 0 && ax[0] != -5) || sp[0] != 1)
        return -1;
    int64_t s = st[0] < 0 ? st[0] + 3 : st[0], e = en[0] < 0 ? en[0] + 3 : en[0];
    if (s < 0 || s > 2 || (e != s + 1 && !(s == 2 && e > 3)))
        return -1;
    return (int)s;
}

/* 1 when Squeeze node k drops axis 0 only (of a rank-5 value). */
static int squeezes_axis0(importer *im, int k)
{
    int64_t ax[2];
    int n = ints_of(im, k, 1, "axes", ax, 2);
    return n == 1 && (ax[0] == 0 || ax[0] == -5);
}

/* Starts layer l of kind `kind` reading `a` (and `b` when >= 0), named
 * after node k. */
static int add_at(importer *im, int k, nm_layer *l, int kind, int a, int b)
{
    const Onnx__NodeProto *save = im->node;
    im->node = ox_node_at(im, k);
    int rc = ox_start_layer(im, l, kind, a);
    im->node = save;
    if (rc)
        return NM_ERR;
    if (b >= 0)
        l->n_inputs = 2, l->inputs[1] = b;
    return NM_OK;
}

/* Adds l as node k's layer (tokens, rank 3), bound to value `out` too. */
static int bind_at(importer *im, int k, nm_layer *l, const char *out)
{
    const Onnx__NodeProto *save = im->node;
    im->node = ox_node_at(im, k);
    int rc = ox_add_bound(im, l, 3, out);
    im->node = save;
    return rc;
}

/* The current node is Reshape(x, s) with x tokens [N, T, 3F] and s of
 * rank 5 (its zeros already copied from x's dims). */
int ox_match_paddle_mha(importer *im, int x, const int64_t *s, int n)
{
    int k0 = im->node_k;
    int c, t, w;
    nm_model_out_shape(im->m, x, &c, &t, &w);
    if (n != 5)
        return R_SKIP;
    if (s[2] != 3 || s[3] < 1 || s[4] < 1 || s[3] > c || s[4] > c || 3 * s[3] * s[4] != c ||
        (s[1] != t && s[1] != -1))
        return refuse(im, "its shape is not [N, T, 3, H, d] with 3 * H * d the features");
    int heads = (int)s[3], f = heads * (int)s[4];
    static const int64_t p5[5] = {2, 0, 3, 1, 4}, p4k[4] = {0, 1, 3, 2}, p4m[4] = {0, 2, 1, 3};
    int kt = ox_reader(im, ox_out_of(im, k0), k0, "Transpose");
    if (kt < 0 || !ox_perm_is(im, kt, p5, 5))
        return refuse(im, "it is not transposed by (2, 0, 3, 1, 4)");
    const char *packed = ox_out_of(im, kt);
    int ks[3] = {-1, -1, -1}, kq[3], from = kt;   /* Slice and Squeeze of q, k, v */
    for (int i = 0; i < 3; i++) {
        int k = ox_reader(im, packed, from, "Slice");
        int which = k < 0 ? -1 : qkv_index(im, k);
        if (which < 0 || ks[which] >= 0)
            return refuse(im, "q, k and v are not cut by three Slices of axis 0");
        ks[which] = from = k;
    }
    const char *sq[3];
    for (int i = 0; i < 3; i++) {
        kq[i] = ox_reader(im, ox_out_of(im, ks[i]), ks[i], "Squeeze");
        if (kq[i] < 0 || !squeezes_axis0(im, kq[i]))
            return refuse(im, "a Slice of q, k or v is not squeezed on axis 0");
        sq[i] = ox_out_of(im, kq[i]);
    }
    /* q, optionally scaled by a constant: Mul (Paddle) or Div */
    int ksc = ox_reader(im, sq[0], kq[0], "Mul"), list[16], nl = 0;
    double scale = 1, v = 0;
    if (ksc >= 0) {
        if (!ox_scalar(im, ox_other_in(im, ksc, sq[0]), &v))
            return refuse(im, "q is multiplied by something other than a constant");
        scale = v;
    } else if ((ksc = ox_reader(im, sq[0], kq[0], "Div")) >= 0) {
        if (strcmp(ox_in_of(im, ksc, 0), sq[0]) || !ox_scalar(im, ox_in_of(im, ksc, 1), &v) || v == 0)
            return refuse(im, "q is divided by something other than a constant");
        scale = 1 / v;
    }
    const char *q = ksc >= 0 ? ox_out_of(im, ksc) : sq[0];
    if (!isfinite(scale) || scale == 0 || fabs(scale) > 1e30)
        return refuse(im, "its scale is not a finite non-zero number");
    int kk = ox_reader(im, sq[1], kq[1], "Transpose");
    if (kk < 0 || !ox_perm_is(im, kk, p4k, 4))
        return refuse(im, "k is not transposed by (0, 1, 3, 2)");
    int kqk = ox_reader(im, q, ksc >= 0 ? ksc : kq[0], "MatMul");
    if (kqk < 0 || strcmp(ox_in_of(im, kqk, 0), q) || strcmp(ox_in_of(im, kqk, 1), ox_out_of(im, kk)))
        return refuse(im, "the scores are not MatMul(q, k^T)");
    int ksm = ox_reader(im, ox_out_of(im, kqk), kqk, "Softmax");
    if (ksm < 0 || !ox_attr_one_of(im, ksm, "axis", -1, 3))
        return refuse(im, "the scores are not followed by a Softmax with axis 3 (the keys)");
    int kav = ox_reader(im, ox_out_of(im, ksm), ksm, "MatMul");
    if (kav < 0 || strcmp(ox_in_of(im, kav, 0), ox_out_of(im, ksm)) || strcmp(ox_in_of(im, kav, 1), sq[2]))
        return refuse(im, "the Softmax is not multiplied by v");
    int km = ox_reader(im, ox_out_of(im, kav), kav, "Transpose");
    if (km < 0 || !ox_perm_is(im, km, p4m, 4))
        return refuse(im, "the context is not transposed by (0, 2, 1, 3)");
    const char *merged = ox_out_of(im, km);
    if (ox_map_get(&im->uses, merged, 0) != 1 || ox_reader(im, merged, km, "Reshape") < 0)
        return refuse(im, "the merged heads are not read by exactly one Reshape");
    list[nl++] = k0, list[nl++] = kt;
    for (int i = 0; i < 3; i++)
        list[nl++] = ks[i], list[nl++] = kq[i];
    if (ksc >= 0)
        list[nl++] = ksc;
    list[nl++] = kk, list[nl++] = kqk, list[nl++] = ksm, list[nl++] = kav, list[nl++] = km;
    int cl = ox_claim_list(im, list, nl, merged);
    if (cl <= 0)
        return cl < 0 ? NM_ERR : refuse(im, "a value inside it is read outside it");
    /* 3 channel slices of the packed tokens, qk, softmax, av */
    nm_layer l;
    int sl[3];
    for (int i = 0; i < 3; i++) {
        if (add_at(im, ks[i], &l, NM_LAYER_SLICE, x, -1))
            return NM_ERR;
        l.slice_axis = NM_AXIS_CHANNEL;
        l.slice_start = i * f;
        l.out_c = f;
        if (bind_at(im, ks[i], &l, sq[i]))
            return NM_ERR;
        sl[i] = im->m->n_layers - 1;
    }
    if (add_at(im, kqk, &l, NM_LAYER_MATMUL, sl[0], sl[1]))
        return NM_ERR;
    l.heads = heads, l.groups = 1, l.alpha = (float)scale;
    if (bind_at(im, kqk, &l, ox_out_of(im, kqk)) ||
        add_at(im, ksm, &l, NM_LAYER_SOFTMAX, im->m->n_layers - 1, -1))
        return NM_ERR;
    l.heads = heads;
    if (bind_at(im, ksm, &l, ox_out_of(im, ksm)) ||
        add_at(im, kav, &l, NM_LAYER_MATMUL, im->m->n_layers - 1, sl[2]))
        return NM_ERR;
    l.heads = heads, l.groups = 0;
    if (bind_at(im, kav, &l, ox_out_of(im, kav)))
        return NM_ERR;
    return ox_map_put(&im->merge, merged, im->m->n_layers - 1);
}

/* The current node is Reshape(merged heads, s) (see above; `av` is their
 * MATMUL av layer): to [N, T, F] it is that layer's value. */
int ox_paddle_merge(importer *im, int av, const int64_t *s, int n)
{
    int c, h, w;
    nm_model_out_shape(im->m, av, &c, &h, &w);
    /* 0 copies N or T of [N, T, H, d]; at most one -1 */
    int ok = n == 3 && (s[1] == h || s[1] == 0 || s[1] == -1) && (s[2] == c || s[2] == -1) &&
             !(s[1] == -1 && s[2] == -1);
    if (!ok)
        return ox_node_skip(im, "the attention heads [N, T, H, d] are only modelled merged into "
                            "[N, T, %d]", c);
    return ox_bind(im, ox_output_name(im->node), av);
}

/* The current node is Reshape(x, s), x tokens [N, T, F], s of rank 4: to
 * [N, H, W, F] with H * W = T followed by Transpose(0, 3, 1, 2), a RESHAPE
 * layer to (F, H, W) bound to the Transpose's output. */
int ox_match_tokens_to_image(importer *im, int x, const int64_t *s, int n)
{
    int c, t, w;
    nm_model_out_shape(im->m, x, &c, &t, &w);
    if (n != 4)
        return R_SKIP;
    int64_t hh = s[1], ww = s[2];
    if (s[3] != c && s[3] != -1)
        return ox_node_skip(im, "a token sequence [N, T, F] is only modelled reshaped to "
                            "[N, H, W, F] (here the last axis is %lld, not %d)", (long long)s[3], c);
    if (hh == -1 && ww > 0 && t % ww == 0)
        hh = t / ww;
    else if (ww == -1 && hh > 0 && t % hh == 0)
        ww = t / hh;
    if (hh < 1 || ww < 1 || hh > t || ww > t || hh * ww != t)   /* bounded before the product */
        return ox_node_skip(im, "a token sequence of %d tokens reshaped to [N, %lld, %lld, F]", t,
                            (long long)s[1], (long long)s[2]);
    static const int64_t p[4] = {0, 3, 1, 2};
    int k0 = im->node_k, kt = ox_reader(im, ox_out_of(im, k0), k0, "Transpose");
    if (kt < 0 || !ox_perm_is(im, kt, p, 4) || ox_map_get(&im->uses, ox_out_of(im, k0), 0) != 1)
        return ox_node_skip(im, "tokens reshaped to [N, H, W, F] are only modelled when only a "
                            "Transpose(0, 3, 1, 2) to [N, F, H, W] reads them");
    int ks[2] = {k0, kt};
    int cl = ox_claim_list(im, ks, 2, ox_out_of(im, kt));
    if (cl <= 0)
        return cl < 0 ? NM_ERR : ox_node_skip(im, "its value is read outside the transpose");
    nm_layer l;
    if (ox_start_layer(im, &l, NM_LAYER_RESHAPE, x))
        return NM_ERR;
    l.out_c = c, l.out_h = (int)hh, l.out_w = (int)ww;
    if (ox_add_layer_rank(im, &l, 4))
        return NM_ERR;
    return ox_bind(im, ox_out_of(im, kt), im->m->n_layers - 1);
}
