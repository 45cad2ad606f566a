/* ops_upsample.c - ConvTranspose, Resize and Upsample (opset < 10), the
 * upsampling operators of detection and segmentation heads, as CONVT and
 * RESIZE layers (model.h). Only the H and W axes of [N, C, H, W] values are
 * modelled; anything else is skipped with the reason. */
#include "onnx_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* ConvTranspose.                                                      */

/* Two values of a 2-D attribute in [lo, ONNX_MAX_KERNEL] (absent: dflt). */
static int attr_pair(importer *im, const char *name, int lo, int dflt, int out[2], int *present)
{
    const int64_t *v;
    size_t n;
    if (ox_attr_ints(im, name, &v, &n))
        return NM_ERR;
    out[0] = out[1] = dflt;
    if (present)
        *present = n > 0;
    if (!n)
        return NM_OK;
    if (n != 2 || v[0] < lo || v[1] < lo || v[0] > ONNX_MAX_KERNEL || v[1] > ONNX_MAX_KERNEL)
        return ox_node_err(im, "%s must be two values in %d..%d", name, lo, ONNX_MAX_KERNEL);
    out[0] = (int)v[0], out[1] = (int)v[1];
    return NM_OK;
}

/* Splits a total crop of an output axis into before/after (upper: the odd
 * one after); a negative total (the wanted output is larger than the full
 * one) becomes output padding at the end. */
static void split_total(int64_t total, int upper, int *p0, int *p1, int *outpad)
{
    if (total < 0) {
        *p0 = *p1 = 0;
        *outpad += (int)-total;
        return;
    }
    *p0 = (int)(upper ? total / 2 : total - total / 2);
    *p1 = (int)(total - *p0);
}

/* ConvTranspose: weight [C_in, C_out/group, kh, kw], optional bias
 * [C_out]; strides, pads, dilations, output_padding, group, auto_pad and
 * output_shape (which sets the pads: ONNX's total_padding rule). */
int op_convtranspose(importer *im)
{
    int x, rc = ox_act_input(im, 0, &x);
    if (rc)
        return rc;
    if (ox_rank_of(im, x) != 4)
        return ox_node_skip(im, "its input has rank %d; nmlab models 2-D transposed convolutions of "
                            "[N, C, H, W] values", ox_axes(ox_rank_of(im, x)));
    const Onnx__TensorProto *W = ox_const_input(im, 1);
    if (!W)
        return ox_node_skip(im, "its weight '%s' is not an initializer",
                            ox_str_or(ox_input_name(im->node, 1), "(none)"));
    if (W->n_dims != 4)
        return ox_node_skip(im, "weight '%s' has %zu dimensions; nmlab models 2-D transposed "
                            "convolutions", ox_tname(W), W->n_dims);
    int c, h, w;
    nm_model_out_shape(im->m, x, &c, &h, &w);
    int64_t group;
    if (ox_attr_int(im, "group", 1, &group))
        return NM_ERR;
    if (group < 1 || group > c || c % group)
        return ox_node_err(im, "group %lld does not divide the %d input channels", (long long)group, c);
    if (W->dims[0] != c)
        return ox_node_err(im, "weight '%s' has %lld input channels, the input %d", ox_tname(W),
                           (long long)W->dims[0], c);
    if (W->dims[1] < 1 || W->dims[1] > ONNX_MAX_DIM / group || W->dims[2] < 1 || W->dims[3] < 1 ||
        W->dims[2] > ONNX_MAX_KERNEL || W->dims[3] > ONNX_MAX_KERNEL)
        return ox_node_err(im, "weight '%s' has impossible dimensions", ox_tname(W));
    int k[2] = {(int)W->dims[2], (int)W->dims[3]}, ks[2], s[2], d[2], op[2], os[2], has_ks, has_os;
    if (attr_pair(im, "kernel_shape", 1, 0, ks, &has_ks) || attr_pair(im, "strides", 1, 1, s, NULL) ||
        attr_pair(im, "dilations", 1, 1, d, NULL) || attr_pair(im, "output_padding", 0, 0, op, NULL))
        return NM_ERR;
    if (has_ks && (ks[0] != k[0] || ks[1] != k[1]))
        return ox_node_err(im, "kernel_shape [%d, %d] differs from the weight's %dx%d", ks[0], ks[1],
                           k[0], k[1]);
    const int64_t *osv, *pv;
    size_t nos, np;
    char autopad[32];
    if (ox_attr_ints(im, "output_shape", &osv, &nos) || ox_attr_ints(im, "pads", &pv, &np) ||
        ox_attr_str(im, "auto_pad", autopad, sizeof autopad))
        return NM_ERR;
    has_os = nos > 0;
    if (has_os) { /* the spatial shape; [N, C, H, W] is read as such too */
        if ((nos != 2 && nos != 4) || osv[nos - 2] < 1 || osv[nos - 1] < 1 ||
            osv[nos - 2] > ONNX_MAX_DIM || osv[nos - 1] > ONNX_MAX_DIM)
            return ox_node_err(im, "output_shape must be two sizes in 1..%d", ONNX_MAX_DIM);
        os[0] = (int)osv[nos - 2], os[1] = (int)osv[nos - 1];
    }
    int same = strcmp(autopad, "SAME_UPPER") == 0 || strcmp(autopad, "SAME_LOWER") == 0;
    if (autopad[0] && !same && strcmp(autopad, "NOTSET") != 0 && strcmp(autopad, "VALID") != 0)
        return ox_node_err(im, "unknown auto_pad '%s'", autopad);
    int in[2] = {h, w}, p0[2] = {0, 0}, p1[2] = {0, 0};
    if (has_os || same) {
        /* total crop = the full output - the wanted one (in * stride for SAME) */
        int upper = strcmp(autopad, "SAME_UPPER") == 0;
        for (int a = 0; a < 2; a++) {
            int64_t want = has_os ? os[a] : (int64_t)in[a] * s[a];
            int64_t full = ((int64_t)in[a] - 1) * s[a] + op[a] + (int64_t)(k[a] - 1) * d[a] + 1;
            split_total(full - want, upper, &p0[a], &p1[a], &op[a]);
        }
    } else if (np && strcmp(autopad, "VALID") != 0) {
        if (np != 4)
            return ox_node_err(im, "pads has %zu values, expected 4", np);
        for (int i = 0; i < 4; i++)
            if (pv[i] < 0 || pv[i] > ONNX_MAX_KERNEL)
                return ox_node_err(im, "pad %lld is out of range", (long long)pv[i]);
        p0[0] = (int)pv[0], p0[1] = (int)pv[1], p1[0] = (int)pv[2], p1[1] = (int)pv[3];
    }
    int64_t cout = W->dims[1] * group;
    nm_layer l;
    if (ox_start_layer(im, &l, NM_LAYER_CONVT, x))
        return NM_ERR;
    l.out_c = (int)cout;
    l.groups = (int)group;
    l.kh = k[0], l.kw = k[1], l.stride_h = s[0], l.stride_w = s[1];
    l.pad_h = p0[0], l.pad_w = p0[1], l.pad_h2 = p1[0], l.pad_w2 = p1[1];
    l.pad_asym = p0[0] != p1[0] || p0[1] != p1[1];
    l.dil_h = d[0] > 1 ? d[0] : 0, l.dil_w = d[1] > 1 ? d[1] : 0;
    l.outpad_h = op[0], l.outpad_w = op[1];
    int64_t wshape[4] = {c, W->dims[1], k[0], k[1]};
    if (!(l.weight = ox_param_tensor(im, W, "weight", 4, wshape)))
        return NM_ERR;
    return ox_add_conv_layer(im, &l, cout);
}

/* ------------------------------------------------------------------ */
/* Resize and Upsample.                                                */

/* Index of s in names[0..n), or -1. */
static int name_index(const char *s, const char *const *names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

/* The constant input i as `count` values (float or int); *n = 0 when the
 * input is absent or empty. R_SKIP when it is computed at run time. */
static int const_values(importer *im, int i, const char *what, unsigned types, double *v, int cap,
                        int *n)
{
    *n = 0;
    const char *name = ox_input_name(im->node, i);
    if (!name)
        return NM_OK;
    const Onnx__TensorProto *t = ox_const_input(im, i);
    if (!t)
        return ox_node_skip(im, "its %s '%s' are computed at run time (nmlab needs constants)", what,
                            name);
    int64_t count;
    int raw;
    if (ox_tensor_count(im, t, &count) || ox_tensor_check_data(im, t, count, types, &raw))
        return NM_ERR;
    if (count > cap)
        return ox_node_skip(im, "its %s '%s' have %lld values; nmlab resizes [N, C, H, W] values",
                            what, name, (long long)count);
    for (int64_t k = 0; k < count; k++)
        v[k] = types == FLOAT_TYPES ? (double)ox_tensor_float_at(t, raw, k)
                                    : (double)ox_tensor_int_at(t, raw, k);
    *n = (int)count;
    return NM_OK;
}

/* Upsample's scales attribute (opset 7..8): a list of floats. */
static int attr_scales(importer *im, double *v, int *n)
{
    const Onnx__AttributeProto *a = ox_attr_find(im->node, "scales");
    *n = 0;
    if (!a)
        return NM_OK;
    if (!ox_attr_is(a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS, a->n_floats > 0))
        return ox_node_err(im, "attribute 'scales' is not a list of floats");
    if (a->n_floats > 4)
        return ox_node_skip(im, "scales has %zu values; nmlab resizes [N, C, H, W] values", a->n_floats);
    for (size_t k = 0; k < a->n_floats; k++)
        v[k] = a->floats[k];
    *n = (int)a->n_floats;
    return NM_OK;
}

static const char *const coord_modes[] = {"half_pixel", "pytorch_half_pixel", "align_corners",
                                          "asymmetric", "tf_half_pixel_for_nn"};
static const char *const round_modes[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};

/* Resize (opset 10: X, scales; 11+: X, roi, scales, sizes) and, with
 * upsample set, Upsample (scales as an attribute, opset 7, or input 1).
 * The older forms (Upsample, Resize-10) map source coordinates as
 * 'asymmetric' and round nearest down (onnxruntime's rule when
 * upsampling); they are refused when a nearest resize shrinks. */
int op_resize(importer *im, int upsample)
{
    int x, rc = ox_act_input(im, 0, &x);
    if (rc)
        return rc;
    if (ox_rank_of(im, x) != 4)
        return ox_node_skip(im, "its input has rank %d; nmlab resizes the H and W of [N, C, H, W] "
                            "values", ox_axes(ox_rank_of(im, x)));
    int c, h, w;
    nm_model_out_shape(im->m, x, &c, &h, &w);
    char mode[32], coord[32], round_mode[32], policy[32];
    int64_t antialias;
    if (ox_attr_str(im, "mode", mode, sizeof mode) ||
        ox_attr_str(im, "coordinate_transformation_mode", coord, sizeof coord) ||
        ox_attr_str(im, "nearest_mode", round_mode, sizeof round_mode) ||
        ox_attr_str(im, "keep_aspect_ratio_policy", policy, sizeof policy) ||
        ox_attr_int(im, "antialias", 0, &antialias))
        return NM_ERR;
    nm_layer l;
    memset(&l, 0, sizeof l);
    if (!mode[0] || strcmp(mode, "nearest") == 0)
        l.rs_mode = NM_RESIZE_NEAREST;
    else if (strcmp(mode, "linear") == 0 || (upsample && strcmp(mode, "bilinear") == 0))
        l.rs_mode = NM_RESIZE_LINEAR;
    else
        return ox_node_skip(im, "mode '%s' (nmlab resizes 'nearest' or 'linear')", mode);
    if (ox_attr_find(im->node, "axes"))
        return ox_node_skip(im, "attribute 'axes' (nmlab resizes H and W given for all four axes)");
    if (antialias)
        return ox_node_skip(im, "antialias = %lld (nmlab does not filter before resizing)",
                            (long long)antialias);
    if (policy[0] && strcmp(policy, "stretch") != 0)
        return ox_node_skip(im, "keep_aspect_ratio_policy '%s' (nmlab stretches to the sizes)", policy);
    int legacy = upsample || im->node->n_input == 2; /* Upsample, Resize-10 */
    if (legacy) {
        l.rs_coord = NM_COORD_ASYMMETRIC;
        l.rs_round = NM_ROUND_FLOOR;
    } else {
        int k = coord[0] ? name_index(coord, coord_modes, 5) : 0;
        if (k < 0)
            return ox_node_skip(im, "coordinate_transformation_mode '%s' (nmlab maps half_pixel, "
                                "pytorch_half_pixel, align_corners, asymmetric, tf_half_pixel_for_nn)",
                                coord);
        l.rs_coord = (nm_resize_coord)k;
        k = round_mode[0] ? name_index(round_mode, round_modes, 4) : 0;
        if (k < 0)
            return ox_node_skip(im, "nearest_mode '%s' (nmlab rounds round_prefer_floor, "
                                "round_prefer_ceil, floor, ceil)", round_mode);
        l.rs_round = (nm_resize_round)k;
    }
    double scales[4], sizes[4];
    int ns = 0, nz = 0;
    if (upsample && !ox_input_name(im->node, 1))
        rc = attr_scales(im, scales, &ns);
    else
        rc = const_values(im, legacy ? 1 : 2, "scales", FLOAT_TYPES, scales, 4, &ns);
    if (rc == NM_OK && !legacy)
        rc = const_values(im, 3, "sizes", INT_TYPES, sizes, 4, &nz);
    if (rc)
        return rc;
    if (ns && nz)
        return ox_node_err(im, "both scales and sizes are given");
    if (!ns && !nz)
        return ox_node_err(im, "neither scales nor sizes is given");
    if ((ns && ns != 4) || (nz && nz != 4))
        return ox_node_skip(im, "its %s have %d values; nmlab resizes [N, C, H, W] values",
                            ns ? "scales" : "sizes", ns ? ns : nz);
    int64_t oh, ow;
    if (ns) {
        for (int a = 0; a < 4; a++)
            if (!(scales[a] > 0) || scales[a] > ONNX_MAX_DIM)
                return ox_node_err(im, "scale %g is not a positive number", scales[a]);
        if (scales[0] != 1 || scales[1] != 1)
            return ox_node_skip(im, "it scales N and C by %g and %g; nmlab resizes H and W only",
                                scales[0], scales[1]);
        oh = (int64_t)floor(h * scales[2]), ow = (int64_t)floor(w * scales[3]);
        /* align_corners divides by the output length less 1: ONNX's
         * reference takes in * scale, onnxruntime and PyTorch the integer */
        if (l.rs_coord == NM_COORD_ALIGN_CORNERS && (oh != h * scales[2] || ow != w * scales[3]))
            return ox_node_skip(im, "align_corners with scales %g, %g giving a fractional output "
                                "size (%g x %g; runtimes differ: give sizes instead)", scales[2],
                                scales[3], h * scales[2], w * scales[3]);
        l.scale_h = (float)scales[2], l.scale_w = (float)scales[3];
    } else {
        /* sizes[0] is the batch, which a resize keeps: not checked */
        if (!(sizes[2] >= 1 && sizes[2] <= ONNX_MAX_DIM && sizes[3] >= 1 && sizes[3] <= ONNX_MAX_DIM))
            return ox_node_err(im, "sizes %g x %g are out of range (1..%d)", sizes[2], sizes[3],
                               ONNX_MAX_DIM);
        if (sizes[1] != c)
            return ox_node_skip(im, "it resizes the %d channels to %g; nmlab resizes H and W only", c,
                                sizes[1]);
        oh = (int64_t)sizes[2], ow = (int64_t)sizes[3];
    }
    if (oh < 1 || ow < 1 || oh > ONNX_MAX_DIM || ow > ONNX_MAX_DIM)
        return ox_node_err(im, "output size %lldx%lld is out of range (1..%d)", (long long)oh,
                           (long long)ow, ONNX_MAX_DIM);
    if (legacy && l.rs_mode == NM_RESIZE_NEAREST && (oh < h || ow < w))
        return ox_node_skip(im, "a nearest %s that shrinks (runtimes round differently)",
                            upsample ? "Upsample" : "opset-10 Resize");
    nm_resize_mode rm = l.rs_mode;
    nm_resize_coord rcd = l.rs_coord;
    nm_resize_round rr = l.rs_round;
    float sh = l.scale_h, sw = l.scale_w;
    if (ox_start_layer(im, &l, NM_LAYER_RESIZE, x))
        return NM_ERR;
    l.rs_mode = rm, l.rs_coord = rcd, l.rs_round = rr, l.scale_h = sh, l.scale_w = sw;
    l.out_h = (int)oh, l.out_w = (int)ow;
    return ox_add_layer(im, &l);
}
