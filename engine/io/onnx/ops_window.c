/* ops_window.c - Conv and the pools: kernel, strides, pads, dilations,
 * auto_pad, ceil_mode and count_include_pad. */
#include "onnx_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SAME_UPPER / SAME_LOWER: the padding that keeps ceil(in / s) outputs;
 * the odd one goes after (UPPER) or before (LOWER). */
void ox_same_pad(int in, int k, int s, int d, int lower, int *p0, int *p1)
{
    int64_t out = ((int64_t)in + s - 1) / s;
    int64_t total = (out - 1) * s + (int64_t)(k - 1) * d + 1 - in;
    if (total < 0)
        total = 0;
    *p0 = (int)(lower ? total - total / 2 : total / 2);
    *p1 = (int)(total - *p0);
}

int ox_read_geom(importer *im, int in_h, int in_w, int pool, geom *g)
{
    const int64_t *ks, *st, *pd, *dl;
    size_t nks, nst, npd, ndl;
    char autopad[32];
    if (ox_attr_ints(im, "kernel_shape", &ks, &nks) || ox_attr_ints(im, "strides", &st, &nst) ||
        ox_attr_ints(im, "pads", &pd, &npd) || ox_attr_ints(im, "dilations", &dl, &ndl) ||
        ox_attr_str(im, "auto_pad", autopad, sizeof autopad))
        return NM_ERR;
    if (nks) {
        if (nks != 2)
            return ox_node_skip(im, "kernel_shape has %zu values; nmlab models 2-D kernels only", nks);
        if (ks[0] < 1 || ks[1] < 1 || ks[0] > ONNX_MAX_KERNEL || ks[1] > ONNX_MAX_KERNEL)
            return ox_node_err(im, "kernel_shape [%lld, %lld] is out of range", (long long)ks[0],
                            (long long)ks[1]);
        if (g->kh && (ks[0] != g->kh || ks[1] != g->kw))
            return ox_node_err(im, "kernel_shape [%lld, %lld] differs from the weight's %dx%d",
                            (long long)ks[0], (long long)ks[1], g->kh, g->kw);
        g->kh = (int)ks[0], g->kw = (int)ks[1];
    } else if (!g->kh) {
        return ox_node_err(im, "attribute 'kernel_shape' is missing");
    }
    g->sh = g->sw = 1;
    if (nst) {
        if (nst != 2 || st[0] < 1 || st[1] < 1 || st[0] > ONNX_MAX_KERNEL || st[1] > ONNX_MAX_KERNEL)
            return ox_node_err(im, "strides must be two values in 1..%d", ONNX_MAX_KERNEL);
        g->sh = (int)st[0], g->sw = (int)st[1];
    }
    g->dh = g->dw = 1;
    if (ndl) {
        if (ndl != 2 || dl[0] < 1 || dl[1] < 1 || dl[0] > ONNX_MAX_KERNEL || dl[1] > ONNX_MAX_KERNEL)
            return ox_node_err(im, "dilations must be two values in 1..%d", ONNX_MAX_KERNEL);
        g->dh = (int)dl[0], g->dw = (int)dl[1];
    }
    g->ph = g->pw = g->ph2 = g->pw2 = 0;
    if (strcmp(autopad, "SAME_UPPER") == 0 || strcmp(autopad, "SAME_LOWER") == 0) {
        int lower = autopad[5] == 'L';
        ox_same_pad(in_h, g->kh, g->sh, g->dh, lower, &g->ph, &g->ph2);
        ox_same_pad(in_w, g->kw, g->sw, g->dw, lower, &g->pw, &g->pw2);
    } else if (autopad[0] && strcmp(autopad, "NOTSET") != 0 && strcmp(autopad, "VALID") != 0) {
        return ox_node_err(im, "unknown auto_pad '%s'", autopad);
    } else if (npd && strcmp(autopad, "VALID") != 0) {
        if (npd != 4)
            return ox_node_err(im, "pads has %zu values, expected 4", npd);
        for (int i = 0; i < 4; i++)
            if (pd[i] < 0 || pd[i] > ONNX_MAX_KERNEL)
                return ox_node_err(im, "pad %lld is out of range", (long long)pd[i]);
        g->ph = (int)pd[0], g->pw = (int)pd[1], g->ph2 = (int)pd[2], g->pw2 = (int)pd[3];
    }
    g->ceil_mode = g->exclude_pad = 0;
    if (pool) {
        int64_t ceil_mode, include;
        if (ox_attr_int(im, "ceil_mode", 0, &ceil_mode) || ox_attr_int(im, "count_include_pad", 0, &include))
            return NM_ERR;
        g->ceil_mode = ceil_mode != 0;
        g->exclude_pad = include == 0;
    }
    return NM_OK;
}

/* Copies g into a conv or pool layer. */
void ox_set_geom(nm_layer *l, const geom *g)
{
    l->kh = g->kh, l->kw = g->kw, l->stride_h = g->sh, l->stride_w = g->sw;
    l->pad_h = g->ph, l->pad_w = g->pw, l->pad_h2 = g->ph2, l->pad_w2 = g->pw2;
    l->pad_asym = g->ph != g->ph2 || g->pw != g->pw2;
    l->dil_h = g->dh > 1 ? g->dh : 0, l->dil_w = g->dw > 1 ? g->dw : 0;
    l->ceil_mode = g->ceil_mode;
    l->exclude_pad = l->kind == NM_LAYER_AVGPOOL && g->exclude_pad;
}

/* ------------------------------------------------------------------ */
/* Operators.                                                          */

/* Conv: weight [C_out, C_in/group, kh, kw], optional bias [C_out].
 * group = C_in = C_out (> 1) is a depthwise conv. */
int op_conv(importer *im)
{
    int x, rc = ox_act_input(im, 0, &x);
    if (rc)
        return rc;
    const Onnx__TensorProto *W = ox_const_input(im, 1);
    if (!W)
        return ox_node_skip(im, "its weight '%s' is not an initializer",
                         ox_str_or(ox_input_name(im->node, 1), "(none)"));
    if (W->n_dims != 4)
        return ox_node_skip(im, "weight '%s' has %zu dimensions; nmlab models 2-D convolutions",
                         ox_tname(W), W->n_dims);
    int c, h, w;
    nm_model_out_shape(im->m, x, &c, &h, &w);
    int64_t group;
    if (ox_attr_int(im, "group", 1, &group))
        return NM_ERR;
    if (group < 1 || group > c || c % group)
        return ox_node_err(im, "group %lld does not divide the %d input channels", (long long)group, c);
    int64_t cout = W->dims[0];
    if (cout < 1 || cout > ONNX_MAX_DIM || cout % group)
        return ox_node_err(im, "weight '%s' has %lld filters, which group %lld does not divide",
                        ox_tname(W), (long long)cout, (long long)group);
    if (W->dims[2] < 1 || W->dims[3] < 1 || W->dims[2] > ONNX_MAX_KERNEL || W->dims[3] > ONNX_MAX_KERNEL)
        return ox_node_err(im, "weight '%s' has an impossible kernel size", ox_tname(W));
    geom g = {.kh = (int)W->dims[2], .kw = (int)W->dims[3]};
    if ((rc = ox_read_geom(im, h, w, 0, &g)))
        return rc;
    int dw = group > 1 && group == c && cout == c;
    nm_layer l;
    if (ox_start_layer(im, &l, dw ? NM_LAYER_DWCONV : NM_LAYER_CONV, x))
        return NM_ERR;
    l.out_c = (int)cout;
    ox_set_geom(&l, &g);
    l.groups = (int)group;
    int64_t wshape[4] = {cout, c / group, g.kh, g.kw};
    if (!(l.weight = ox_param_tensor(im, W, "weight", 4, wshape)))
        return NM_ERR;
    return ox_add_conv_layer(im, &l, cout);
}

/* Attaches the optional bias [cout] of a Conv or ConvTranspose node (input
 * 2, an initializer) to l, then appends l. On failure l's tensors are
 * released. */
int ox_add_conv_layer(importer *im, nm_layer *l, int64_t cout)
{
    if (ox_input_name(im->node, 2)) {
        const Onnx__TensorProto *B = ox_const_input(im, 2);
        if (!B) {
            ox_layer_drop(l);
            return ox_node_skip(im, "its bias '%s' is not an initializer", ox_input_name(im->node, 2));
        }
        if (!(l->bias = ox_param_tensor(im, B, "bias", 1, &cout))) {
            ox_layer_drop(l);
            return NM_ERR;
        }
    }
    return ox_add_layer(im, l);
}


int op_pool(importer *im, int kind)
{
    int x, rc = ox_act_input(im, 0, &x);
    if (rc)
        return rc;
    int c, h, w;
    nm_model_out_shape(im->m, x, &c, &h, &w);
    geom g = {0};
    if ((rc = ox_read_geom(im, h, w, 1, &g)))
        return rc;
    nm_layer l;
    if (ox_start_layer(im, &l, kind, x))
        return NM_ERR;
    ox_set_geom(&l, &g);
    if (ox_kill_outputs(im, im->node, im->node_k, 1)) /* MaxPool's Indices */
        return NM_ERR;
    return ox_add_layer(im, &l);
}
