/* ops_fold.c - shape subgraphs folded to constants once the input size is
 * known (Shape, Gather, Unsqueeze, Squeeze, Cast, ConstantOfShape, Expand,
 * Slice, Equal, Where and arithmetic or Concat of constants), and the
 * activation forms of Slice (a range of channels), Squeeze/Unsqueeze and
 * general Reshape, including the channel shuffle of ShuffleNet
 * (Reshape to [N, g, C/g, H, W], Transpose(0, 2, 1, 3, 4), Reshape back).
 *
 * Folded values are small dense arrays (cval, at most FOLD_MAX elements);
 * each becomes a TensorProto owned by the importer and registered like an
 * initializer, so every other operator reads it as a constant. */
#include "onnx_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FOLD_MAX (1 << 20)   /* elements of one folded constant */
#define FOLD_RANK 8

typedef struct {
    int32_t dtype;           /* ONNX type it stands for: FLOAT, INT64 or BOOL */
    int ndim;
    int64_t dims[FOLD_RANK];
    int64_t count;
    double *v;               /* count values (malloc'd) */
} cval;

#define T_FLOAT ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT
#define T_DOUBLE ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE
#define T_INT64 ONNX__TENSOR_PROTO__DATA_TYPE__INT64
#define T_INT32 ONNX__TENSOR_PROTO__DATA_TYPE__INT32
#define T_BOOL ONNX__TENSOR_PROTO__DATA_TYPE__BOOL

static int is_int(int32_t dt)
{
    return dt == T_INT64 || dt == T_INT32 || dt == T_BOOL;
}

/* A folded value as an integer; the int64 limits (Slice's "to the end")
 * survive the trip through double. */
static int64_t to_i64(double v)
{
    if (v >= 9.2e18)
        return INT64_MAX;
    if (v <= -9.2e18)
        return INT64_MIN;
    return (int64_t)v;
}

static void cval_free(cval *c)
{
    free(c->v);
    c->v = NULL;
}

/* Allocates c's values for its dims. NM_ERR past FOLD_MAX. */
static int cval_alloc(importer *im, cval *c)
{
    int64_t n = 1;
    for (int i = 0; i < c->ndim; i++) {
        if (c->dims[i] < 0 || (c->dims[i] > 0 && n > FOLD_MAX / c->dims[i]))
            return ox_node_err(im, "a folded constant of more than %d values", FOLD_MAX);
        n *= c->dims[i];
    }
    c->count = n;
    c->v = calloc((size_t)(n ? n : 1), sizeof *c->v);
    return c->v ? NM_OK : nm_seterr("out of memory");
}

/* The constant at input i as a cval: 1 if it is one, 0 if the input is an
 * activation (or missing), NM_ERR for a constant nmlab cannot read. */
static int fold_get(importer *im, int i, cval *c)
{
    memset(c, 0, sizeof *c);
    const Onnx__TensorProto *t = ox_const_input(im, i);
    if (!t)
        return 0;
    int64_t count;
    int raw;
    unsigned ok = 1u << T_FLOAT | 1u << T_DOUBLE | 1u << T_INT64 | 1u << T_INT32 | 1u << T_BOOL;
    if (ox_tensor_count(im, t, &count) || ox_tensor_check_data(im, t, count, ok, &raw))
        return NM_ERR;
    if (t->n_dims > FOLD_RANK || count > FOLD_MAX)
        return ox_node_err(im, "constant '%s' is too large to fold", ox_tname(t));
    c->dtype = is_int(t->data_type) ? (t->data_type == T_BOOL ? T_BOOL : T_INT64) : T_FLOAT;
    c->ndim = (int)t->n_dims;
    for (int k = 0; k < c->ndim; k++)
        c->dims[k] = t->dims[k];
    if (cval_alloc(im, c))
        return NM_ERR;
    for (int64_t k = 0; k < count; k++) {
        if (t->data_type == T_BOOL)
            c->v[k] = raw ? t->raw_data.data[k] != 0 : t->int32_data[k] != 0;
        else if (is_int(t->data_type))
            c->v[k] = (double)ox_tensor_int_at(t, raw, k);
        else
            c->v[k] = ox_tensor_float_at(t, raw, k);
    }
    return 1;
}

/* The importer takes t (freed with it). */
int ox_own(importer *im, Onnx__TensorProto *t)
{
    if (im->n_owned == im->cap_owned) {
        int cap = im->cap_owned ? im->cap_owned * 2 : 32;
        Onnx__TensorProto **p = realloc(im->owned, (size_t)cap * sizeof *p);
        if (!p)
            return nm_seterr("out of memory");
        im->owned = p;
        im->cap_owned = cap;
    }
    im->owned[im->n_owned++] = t;
    return NM_OK;
}

/* Registers c (consumed) as the constant named by the node's output o. */
static int fold_put(importer *im, int o, cval *c)
{
    const Onnx__NodeProto *n = im->node;
    const char *name = (size_t)o < n->n_output && n->output[o] && *n->output[o] ? n->output[o] : NULL;
    if (!name) {
        cval_free(c);
        return NM_OK;
    }
    Onnx__TensorProto *t = calloc(1, sizeof *t);
    int64_t *dims = calloc((size_t)(c->ndim ? c->ndim : 1), sizeof *dims);
    if (!t || !dims) {
        free(t), free(dims), cval_free(c);
        return nm_seterr("out of memory");
    }
    onnx__tensor_proto__init(t);
    if (ox_own(im, t) != NM_OK) {
        free(t), free(dims), cval_free(c);
        return NM_ERR;
    }
    t->name = NULL;
    t->data_type = c->dtype;
    t->has_data_type = 1;
    memcpy(dims, c->dims, sizeof(int64_t) * (size_t)c->ndim);
    t->dims = dims, t->n_dims = (size_t)c->ndim;
    size_t n_el = (size_t)(c->count ? c->count : 0);
    if (c->dtype == T_FLOAT) {
        t->float_data = calloc(n_el ? n_el : 1, sizeof *t->float_data);
        t->n_float_data = n_el;
        for (size_t k = 0; t->float_data && k < n_el; k++)
            t->float_data[k] = (float)c->v[k];
        if (!t->float_data)
            return cval_free(c), nm_seterr("out of memory");
    } else if (c->dtype == T_BOOL) {
        t->int32_data = calloc(n_el ? n_el : 1, sizeof *t->int32_data);
        t->n_int32_data = n_el;
        for (size_t k = 0; t->int32_data && k < n_el; k++)
            t->int32_data[k] = c->v[k] != 0;
        if (!t->int32_data)
            return cval_free(c), nm_seterr("out of memory");
    } else {
        t->int64_data = calloc(n_el ? n_el : 1, sizeof *t->int64_data);
        t->n_int64_data = n_el;
        for (size_t k = 0; t->int64_data && k < n_el; k++)
            t->int64_data[k] = to_i64(c->v[k]);
        if (!t->int64_data)
            return cval_free(c), nm_seterr("out of memory");
    }
    cval_free(c);
    return ox_ctab_add(im, name, t);
}


/* Reads a list of integers from input i (or, when absent, attribute
 * `attr`); *n = -1 when neither is there. */
static int fold_ints(importer *im, int i, const char *attr, int64_t *out, int cap, int *n)
{
    *n = -1;
    if (ox_input_name(im->node, i)) {
        cval c;
        int rc = fold_get(im, i, &c);
        if (rc == NM_ERR)
            return NM_ERR;
        if (rc == 0)
            return ox_node_skip(im, "its %s are computed at run time", attr);
        if (c.count > cap) {
            cval_free(&c);
            return ox_node_err(im, "%s has %lld values", attr, (long long)c.count);
        }
        for (int64_t k = 0; k < c.count; k++)
            out[k] = to_i64(c.v[k]);
        *n = (int)c.count;
        cval_free(&c);
        return NM_OK;
    }
    const int64_t *v;
    size_t cnt;
    if (attr && ox_attr_find(im->node, attr)) {
        if (ox_attr_ints(im, attr, &v, &cnt))
            return NM_ERR;
        if (cnt > (size_t)cap)
            return ox_node_err(im, "%s has %zu values", attr, cnt);
        if (cnt)   /* an empty list has no array */
            memcpy(out, v, cnt * sizeof *v);
        *n = (int)cnt;
    }
    return NM_OK;
}

/* The required 'shape' input (input 1) of Reshape and Expand. */
static int shape_input(importer *im, int64_t *s, int *n)
{
    int rc = fold_ints(im, 1, "shape", s, FOLD_RANK, n);
    if (rc == NM_OK && *n < 0)
        return ox_node_err(im, "input 'shape' is missing");
    return rc;
}

/* The batch size the graph was traced with (its input's dim 0), or 1. */
static int64_t traced_batch(const importer *im)
{
    const Onnx__GraphProto *g = im->g;
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *v = g->input[i];
        if (!v->name || ox_const_of(im, v->name) || !v->type || !v->type->tensor_type ||
            !v->type->tensor_type->shape || !v->type->tensor_type->shape->n_dim)
            continue;
        const Onnx__TensorShapeProto__Dimension *d = v->type->tensor_type->shape->dim[0];
        return d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value > 0
                   ? d->dim_value : 1;
    }
    return 1;
}

/* The ONNX shape (batch included) of the value behind layer L; returns
 * its number of axes (3 for [N, C, L] too: the rank code is
 * ox_rank_of's). */
static int value_dims(const importer *im, int L, int64_t *d)
{
    int c, h, w, r = ox_rank_of(im, L);
    nm_model_out_shape(im->m, L, &c, &h, &w);
    d[0] = traced_batch(im);
    if (r == 3)
        d[1] = h, d[2] = c;     /* tokens [N, T, F] */
    else
        d[1] = c, d[2] = h, d[3] = w;
    return ox_axes(r);
}

/* Shape(x [, start, end]). */
int op_shape(importer *im)
{
    int64_t d[4];
    int r;
    cval c0;
    int rc = fold_get(im, 0, &c0);
    if (rc == NM_ERR)
        return NM_ERR;
    if (rc == 1) {
        r = c0.ndim;
        for (int k = 0; k < r && k < 4; k++)
            d[k] = c0.dims[k];
        cval_free(&c0);
        if (r > 4)
            return ox_node_skip(im, "the shape of a rank-%d constant", r);
    } else {
        int x;
        if ((rc = ox_act_input(im, 0, &x)))
            return rc;
        r = value_dims(im, x, d);
    }
    int64_t start, end;
    if (ox_attr_int(im, "start", 0, &start) || ox_attr_int(im, "end", r, &end))
        return NM_ERR;
    if (start < 0)
        start += r;
    if (end < 0)
        end += r;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < start ? start : end > r ? r : end;
    cval c = {.dtype = T_INT64, .ndim = 1, .dims = {end - start}};
    if (cval_alloc(im, &c))
        return NM_ERR;
    for (int64_t k = start; k < end; k++)
        c.v[k - start] = (double)d[k];
    return fold_put(im, 0, &c);
}

/* Row-major strides of dims. */
static void strides_of(const cval *c, int64_t *s)
{
    int64_t acc = 1;
    for (int k = c->ndim - 1; k >= 0; k--) {
        s[k] = acc;
        acc *= c->dims[k];
    }
}

/* Gather(data, indices, axis) of constants. */
static int gather_const(importer *im, cval *data, cval *idx)
{
    int64_t axis;
    if (ox_attr_int(im, "axis", 0, &axis))
        return NM_ERR;
    if (axis < 0)
        axis += data->ndim;
    if (axis < 0 || axis >= data->ndim || data->ndim + idx->ndim - 1 > FOLD_RANK)
        return ox_node_err(im, "axis %lld does not fit the data's rank %d", (long long)axis, data->ndim);
    cval out = {.dtype = data->dtype, .ndim = data->ndim + idx->ndim - 1};
    int k = 0;
    for (int a = 0; a < axis; a++)
        out.dims[k++] = data->dims[a];
    for (int a = 0; a < idx->ndim; a++)
        out.dims[k++] = idx->dims[a];
    for (int a = (int)axis + 1; a < data->ndim; a++)
        out.dims[k++] = data->dims[a];
    if (cval_alloc(im, &out))
        return NM_ERR;
    int64_t outer = 1, inner = 1, n = data->dims[axis];
    for (int a = 0; a < axis; a++)
        outer *= data->dims[a];
    for (int a = (int)axis + 1; a < data->ndim; a++)
        inner *= data->dims[a];
    int64_t at = 0;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < idx->count; j++) {
            int64_t i = to_i64(idx->v[j]);
            if (i < 0)
                i += n;
            if (i < 0 || i >= n) {
                cval_free(&out);
                return ox_node_err(im, "index %lld is outside 0..%lld", (long long)idx->v[j],
                                   (long long)n - 1);
            }
            for (int64_t q = 0; q < inner; q++)
                out.v[at++] = data->v[(o * n + i) * inner + q];
        }
    return fold_put(im, 0, &out);
}

int op_gather(importer *im)
{
    cval data, idx;
    int rd = fold_get(im, 0, &data);
    if (rd == NM_ERR)
        return NM_ERR;
    int ri = fold_get(im, 1, &idx);
    if (ri == NM_ERR) {
        cval_free(&data);
        return NM_ERR;
    }
    int rc;
    if (rd == 1 && ri == 1)
        rc = gather_const(im, &data, &idx);
    else if ((rc = ox_match_gather_token(im)) == R_SKIP)
        rc = ox_node_skip(im, "Gather of an activation is not modelled (only one token of [N, T, F])");
    cval_free(&data), cval_free(&idx);
    return rc;
}

/* Unsqueeze / Squeeze of a constant (axes from the input or attribute). */
static int squeeze_const(importer *im, cval *c, int unsqueeze)
{
    int64_t axes[FOLD_RANK];
    int n;
    int frc = fold_ints(im, 1, "axes", axes, FOLD_RANK, &n);
    if (frc)
        return frc;
    cval out = {.dtype = c->dtype};
    if (unsqueeze) {
        out.ndim = c->ndim + (n < 0 ? 0 : n);
        if (out.ndim > FOLD_RANK)
            return ox_node_err(im, "rank %d after unsqueeze", out.ndim);
        int ins[FOLD_RANK] = {0};
        for (int k = 0; k < n; k++) {
            int64_t a = axes[k] < 0 ? axes[k] + out.ndim : axes[k];
            if (a < 0 || a >= out.ndim)
                return ox_node_err(im, "axis %lld is outside rank %d", (long long)axes[k], out.ndim);
            ins[a] = 1;
        }
        for (int k = 0, j = 0; k < out.ndim; k++)
            out.dims[k] = ins[k] ? 1 : c->dims[j++];
    } else {
        int drop[FOLD_RANK] = {0};
        for (int k = 0; k < n; k++) {
            int64_t a = axes[k] < 0 ? axes[k] + c->ndim : axes[k];
            if (a < 0 || a >= c->ndim || c->dims[a] != 1)
                return ox_node_err(im, "cannot squeeze axis %lld", (long long)axes[k]);
            drop[a] = 1;
        }
        for (int k = 0; k < c->ndim; k++)
            if (!(n < 0 ? c->dims[k] == 1 : drop[k]))
                out.dims[out.ndim++] = c->dims[k];
    }
    if (cval_alloc(im, &out))
        return NM_ERR;
    memcpy(out.v, c->v, sizeof(double) * (size_t)c->count);
    return fold_put(im, 0, &out);
}

/* Reshape of an activation L to the ONNX shape s (batch first) as a RESHAPE
 * layer, keeping the per-sample values in row-major order. */
static int reshape_act(importer *im, int x, const int64_t *s, int n)
{
    int c, h, w;
    nm_model_out_shape(im->m, x, &c, &h, &w);
    int64_t per = (int64_t)c * h * w, d[4] = {1, 1, 1, 1};
    if (ox_rank_of(im, x) == 3 && h > 1 && c > 1)
        return ox_node_skip(im, "reshaping a token sequence [N, T, F] is not modelled");
    if (n < 2 || n > 4)
        return ox_node_skip(im, "a reshape to rank %d (nmlab keeps [N, C], [N, C, L] or "
                            "[N, C, H, W] values)", n);
    int64_t known = 1;
    int infer = -1;
    for (int k = 1; k < n; k++) {
        if (s[k] == -1 && infer < 0)
            infer = k;
        else if (s[k] <= 0)
            return ox_node_skip(im, "shape value %lld", (long long)s[k]);
        else if (s[k] > per / known)   /* more values than the input has */
            return ox_node_err(im, "cannot reshape %lld values per sample to that shape",
                               (long long)per);
        else
            known *= s[k], d[k] = s[k];
    }
    if (infer > 0) {
        if (known <= 0 || per % known)
            return ox_node_err(im, "cannot infer a dimension of %lld values", (long long)per);
        d[infer] = per / known;
    }
    if (d[1] * d[2] * d[3] != per)
        return ox_node_err(im, "cannot reshape %lld values per sample to that shape", (long long)per);
    if (n == 2)
        return op_simple(im, NM_LAYER_FLATTEN);
    nm_layer l;
    if (ox_start_layer(im, &l, NM_LAYER_RESHAPE, x))
        return NM_ERR;
    l.out_c = (int)d[1], l.out_h = (int)d[2], l.out_w = (int)d[3];
    return ox_add_layer_rank(im, &l, n == 3 ? RANK_CL : 4);   /* rank 3 here is [N, C, L] */
}

int op_unsqueeze(importer *im)
{
    cval c;
    int rc = fold_get(im, 0, &c);
    if (rc == NM_ERR)
        return NM_ERR;
    if (rc == 1) {
        rc = squeeze_const(im, &c, 1);
        cval_free(&c);
        return rc;
    }
    return ox_node_skip(im, "Unsqueeze of an activation is not modelled");
}

int op_squeeze(importer *im)
{
    cval c;
    int rc = fold_get(im, 0, &c);
    if (rc == NM_ERR)
        return NM_ERR;
    if (rc == 1) {
        rc = squeeze_const(im, &c, 0);
        cval_free(&c);
        return rc;
    }
    int x;
    if ((rc = ox_act_input(im, 0, &x)))
        return rc;
    /* [N, C, 1, 1] -> [N, C]: a flatten; [N, C, 1, W] -> [N, C, W] (or
     * [N, C, H, 1] -> [N, C, H]): the same memory as (C, L, 1) */
    int ch, h, w;
    nm_model_out_shape(im->m, x, &ch, &h, &w);
    int64_t axes[FOLD_RANK];
    int na, drop = 0;
    if ((rc = fold_ints(im, 1, "axes", axes, FOLD_RANK, &na)))
        return rc;
    for (int k = 0; k < na; k++)
        drop |= axes[k] == 2 || axes[k] == -2 ? 1 : axes[k] == 3 || axes[k] == -1 ? 2 : 4;
    if (na < 0)   /* no axes: every axis of size 1 */
        drop = (h == 1) | (w == 1) << 1;
    if (ox_rank_of(im, x) != 4 || drop & 4 || !drop || ((drop & 1) && h != 1) || ((drop & 2) && w != 1))
        return ox_node_skip(im, "only a squeeze of H or W (of size 1) of [N, C, H, W] is modelled");
    if (drop == 3)
        return op_simple(im, NM_LAYER_FLATTEN);
    nm_layer l;
    if (ox_start_layer(im, &l, NM_LAYER_RESHAPE, x))
        return NM_ERR;
    l.out_c = ch, l.out_h = drop == 1 ? w : h, l.out_w = 1;
    return ox_add_layer_rank(im, &l, RANK_CL);
}

int op_cast(importer *im)
{
    cval c;
    int rc = fold_get(im, 0, &c);
    if (rc == NM_ERR)
        return NM_ERR;
    int64_t to;
    if (ox_attr_int(im, "to", T_FLOAT, &to)) {
        cval_free(&c);
        return NM_ERR;
    }
    if (rc == 1) {
        c.dtype = to == T_BOOL ? T_BOOL : is_int((int32_t)to) ? T_INT64 : T_FLOAT;
        for (int64_t k = 0; k < c.count; k++)
            c.v[k] = c.dtype == T_BOOL ? c.v[k] != 0 : c.dtype == T_INT64 ? trunc(c.v[k]) : c.v[k];
        return fold_put(im, 0, &c);
    }
    if (to != T_FLOAT)
        return ox_node_skip(im, "a cast of an activation to type %lld", (long long)to);
    int x;
    if ((rc = ox_act_input(im, 0, &x)))
        return rc;
    return ox_bind(im, ox_output_name(im->node), x);   /* float to float */
}

int op_constantofshape(importer *im)
{
    int64_t s[FOLD_RANK];
    int n;
    int frc = fold_ints(im, 0, "input", s, FOLD_RANK, &n);
    if (frc)
        return frc;
    if (n < 0)
        return ox_node_err(im, "input 0 is missing");
    cval c = {.dtype = T_FLOAT, .ndim = n};
    for (int k = 0; k < n; k++)
        c.dims[k] = s[k];
    double value = 0;
    const Onnx__AttributeProto *a = ox_attr_find(im->node, "value");
    if (a && a->t) {
        const Onnx__TensorProto *t = a->t;
        int64_t count;
        int raw;
        unsigned ok = 1u << T_FLOAT | 1u << T_DOUBLE | 1u << T_INT64 | 1u << T_INT32;
        if (ox_tensor_count(im, t, &count) || ox_tensor_check_data(im, t, count, ok, &raw))
            return NM_ERR;
        if (count != 1)
            return ox_node_err(im, "value has %lld elements", (long long)count);
        c.dtype = is_int(t->data_type) ? T_INT64 : T_FLOAT;
        value = is_int(t->data_type) ? (double)ox_tensor_int_at(t, raw, 0) : ox_tensor_float_at(t, raw, 0);
    }
    if (cval_alloc(im, &c))
        return NM_ERR;
    for (int64_t k = 0; k < c.count; k++)
        c.v[k] = value;
    return fold_put(im, 0, &c);
}

/* Multidirectional broadcast of a and b into out (shape set here). */
static int broadcast_shape(importer *im, const cval *a, const cval *b, cval *out)
{
    out->ndim = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int k = 0; k < out->ndim; k++) {
        int ia = k - (out->ndim - a->ndim), ib = k - (out->ndim - b->ndim);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return ox_node_err(im, "constants of dims %lld and %lld do not broadcast", (long long)da,
                               (long long)db);
        out->dims[k] = da == 1 ? db : da;
    }
    return cval_alloc(im, out);
}

/* Index into x (broadcast to out) of out's flat index i. */
static int64_t bc_index(const cval *x, const cval *out, int64_t i)
{
    int64_t idx = 0, mul = 1;
    for (int k = out->ndim - 1; k >= 0; k--) {
        int64_t coord = i % out->dims[k];
        i /= out->dims[k];
        int kx = k - (out->ndim - x->ndim);
        if (kx >= 0) {
            if (x->dims[kx] != 1)
                idx += coord * mul;
            mul *= x->dims[kx];
        }
    }
    return idx;
}

/* Elementwise op of two constants (shape arithmetic). op: ONNX name. */
int ox_fold_binary(importer *im, const char *op)
{
    cval a, b, out = {0};
    if (fold_get(im, 0, &a) != 1)
        return NM_ERR;
    if (fold_get(im, 1, &b) != 1) {
        cval_free(&a);
        return NM_ERR;
    }
    int ints = a.dtype != T_FLOAT && b.dtype != T_FLOAT;
    out.dtype = !strcmp(op, "Equal") ? T_BOOL : ints ? T_INT64 : T_FLOAT;
    int rc = broadcast_shape(im, &a, &b, &out);
    for (int64_t i = 0; rc == NM_OK && i < out.count; i++) {
        double x = a.v[bc_index(&a, &out, i)], y = b.v[bc_index(&b, &out, i)];
        double r;
        switch (op[0]) {
        case 'A': r = x + y; break;
        case 'S': r = x - y; break;
        case 'M': r = x * y; break;
        case 'E': r = x == y; break;
        default:  /* Div: integer division truncates */
            if (ints && y == 0)
                rc = ox_node_err(im, "integer division by zero");
            r = ints ? (y != 0 ? trunc(x / y) : 0) : x / y;
            break;
        }
        out.v[i] = r;
    }
    cval_free(&a), cval_free(&b);
    if (rc != NM_OK) {
        cval_free(&out);
        return rc;
    }
    return fold_put(im, 0, &out);
}

int op_equal(importer *im)
{
    if (!ox_const_input(im, 0) || !ox_const_input(im, 1))
        return ox_node_skip(im, "Equal of activations is not modelled");
    return ox_fold_binary(im, "Equal");
}

int op_where(importer *im)
{
    cval c, x, y, out = {0};
    if (!ox_const_input(im, 0) || !ox_const_input(im, 1) || !ox_const_input(im, 2))
        return ox_node_skip(im, "Where of activations is not modelled");
    if (fold_get(im, 0, &c) != 1)
        return NM_ERR;
    if (fold_get(im, 1, &x) != 1) {
        cval_free(&c);
        return NM_ERR;
    }
    if (fold_get(im, 2, &y) != 1) {
        cval_free(&c), cval_free(&x);
        return NM_ERR;
    }
    cval cx = {0};
    int rc = broadcast_shape(im, &c, &x, &cx);
    if (rc == NM_OK) {
        out.dtype = x.dtype == T_FLOAT || y.dtype == T_FLOAT ? T_FLOAT : T_INT64;
        rc = broadcast_shape(im, &cx, &y, &out);
    }
    for (int64_t i = 0; rc == NM_OK && i < out.count; i++)
        out.v[i] = c.v[bc_index(&c, &out, i)] != 0 ? x.v[bc_index(&x, &out, i)] : y.v[bc_index(&y, &out, i)];
    cval_free(&c), cval_free(&x), cval_free(&y), cval_free(&cx);
    if (rc != NM_OK) {
        cval_free(&out);
        return rc;
    }
    return fold_put(im, 0, &out);
}

/* Expand(x, shape): of a constant, folded; of an activation that already
 * has the target shape (batch aside), the same value. */
int op_expand(importer *im)
{
    int64_t s[FOLD_RANK];
    int n;
    int frc = shape_input(im, s, &n);
    if (frc)
        return frc;
    cval c;
    int rc = fold_get(im, 0, &c);
    if (rc == NM_ERR)
        return NM_ERR;
    if (rc == 0) {
        int x;
        if ((rc = ox_act_input(im, 0, &x)))
            return rc;
        int64_t d[4];
        int r = value_dims(im, x, d);
        int same = n == r;
        for (int k = 1; same && k < n; k++)
            same = s[k] == 1 || s[k] == d[k];
        if (!same)
            return ox_node_skip(im, "Expand of an activation to another shape is not modelled");
        return ox_bind(im, ox_output_name(im->node), x);
    }
    cval shape = {.dtype = T_INT64, .ndim = 1, .dims = {n}}, out = {.dtype = c.dtype};
    if (cval_alloc(im, &shape)) {
        cval_free(&c);
        return NM_ERR;
    }
    for (int k = 0; k < n; k++)
        shape.v[k] = (double)s[k];
    /* the target: broadcast of c's dims and the shape's values */
    cval target = {.ndim = n};
    for (int k = 0; k < n; k++)
        target.dims[k] = s[k];
    rc = broadcast_shape(im, &c, &target, &out);
    cval_free(&target);
    for (int64_t i = 0; rc == NM_OK && i < out.count; i++)
        out.v[i] = c.v[bc_index(&c, &out, i)];
    cval_free(&c), cval_free(&shape);
    if (rc != NM_OK) {
        cval_free(&out);
        return rc;
    }
    return fold_put(im, 0, &out);
}

/* Concat of constants only (shape vectors); returns R_SKIP when an input
 * is an activation so op_concat handles it. */
int ox_fold_concat(importer *im)
{
    const Onnx__NodeProto *n = im->node;
    for (size_t i = 0; i < n->n_input; i++)
        if (!ox_const_input(im, (int)i))
            return R_SKIP;
    int64_t axis;
    if (ox_attr_int(im, "axis", 0, &axis))
        return NM_ERR;
    cval out = {0};
    cval *in = calloc(n->n_input ? n->n_input : 1, sizeof *in);
    if (!in)
        return nm_seterr("out of memory");
    int rc = NM_OK;
    size_t got = 0;
    for (; got < n->n_input && rc == NM_OK; got++)
        if (fold_get(im, (int)got, &in[got]) != 1)
            rc = NM_ERR;
    if (rc == NM_OK) {
        out = in[0];
        out.v = NULL;
        if (axis < 0)
            axis += out.ndim;
        if (axis < 0 || axis >= out.ndim)
            rc = ox_node_err(im, "axis %lld is outside rank %d", (long long)axis, out.ndim);
        for (size_t i = 1; rc == NM_OK && i < n->n_input; i++) {
            if (in[i].ndim != out.ndim)
                rc = ox_node_err(im, "constants of rank %d and %d", in[0].ndim, in[i].ndim);
            else
                out.dims[axis] += in[i].dims[axis];
            if (in[i].dtype == T_FLOAT)
                out.dtype = T_FLOAT;
        }
    }
    if (rc == NM_OK)
        rc = cval_alloc(im, &out);
    if (rc == NM_OK) {
        int64_t outer = 1;
        for (int a = 0; a < axis; a++)
            outer *= out.dims[a];
        int64_t at = 0;
        for (int64_t o = 0; o < outer; o++)
            for (size_t i = 0; i < n->n_input; i++) {
                int64_t block = outer ? in[i].count / outer : 0;
                memcpy(out.v + at, in[i].v + o * block, sizeof(double) * (size_t)block);
                at += block;
            }
    }
    for (size_t i = 0; i < got; i++)
        cval_free(&in[i]);
    free(in);
    if (rc != NM_OK) {
        cval_free(&out);
        return rc;
    }
    return fold_put(im, 0, &out);
}

/* Slice: of a constant (any axes, steps), folded; of an activation, a
 * range of channels with step 1 (the chunks of ShuffleNet's split). */
int op_slice(importer *im)
{
    int64_t st[FOLD_RANK], en[FOLD_RANK], ax[FOLD_RANK], sp[FOLD_RANK];
    int ns, ne, na, np;
    int frc;
    if ((frc = fold_ints(im, 1, "starts", st, FOLD_RANK, &ns)) ||
        (frc = fold_ints(im, 2, "ends", en, FOLD_RANK, &ne)) ||
        (frc = fold_ints(im, 3, "axes", ax, FOLD_RANK, &na)) ||
        (frc = fold_ints(im, 4, "steps", sp, FOLD_RANK, &np)))
        return frc;
    if (ns < 0 || ne != ns || (na >= 0 && na != ns) || (np >= 0 && np != ns))
        return ox_node_err(im, "starts, ends, axes and steps disagree in length");
    cval c;
    int rc = fold_get(im, 0, &c);
    if (rc == NM_ERR)
        return NM_ERR;
    if (rc == 0) {
        int x;
        if ((rc = ox_act_input(im, 0, &x)))
            return rc;
        int64_t d[4];
        int r = value_dims(im, x, d);
        nm_layer l;
        int axis = -2;
        int64_t s0 = 0, e0 = 0;
        for (int k = 0; k < ns; k++) {
            int64_t a = na >= 0 ? ax[k] : k;
            if (a < 0)
                a += r;
            if (a < 0 || a >= r)
                return ox_node_err(im, "axis %lld is outside rank %d", (long long)ax[k], r);
            int64_t s = st[k] < 0 ? st[k] + d[a] : st[k], e = en[k] < 0 ? en[k] + d[a] : en[k];
            s = s < 0 ? 0 : s > d[a] ? d[a] : s;
            e = e < 0 ? 0 : e > d[a] ? d[a] : e;
            if (s == 0 && e == d[a] && (np < 0 || sp[k] == 1))
                continue;   /* the whole axis */
            if (axis != -2 || (np >= 0 && sp[k] != 1) || ox_nm_axis(ox_rank_of(im, x), a) != 0)
                return ox_node_skip(im, "only a slice of channels with step 1 is modelled");
            axis = 0, s0 = s, e0 = e;
        }
        if (axis == -2)
            return ox_bind(im, ox_output_name(im->node), x);
        if (e0 <= s0)
            return ox_node_err(im, "an empty slice");
        if (ox_start_layer(im, &l, NM_LAYER_SLICE, x))
            return NM_ERR;
        l.slice_axis = NM_AXIS_CHANNEL;
        l.slice_start = (int)s0;
        l.out_c = (int)(e0 - s0);
        return ox_add_layer(im, &l);
    }
    int64_t lo[FOLD_RANK], step[FOLD_RANK];
    cval out = {.dtype = c.dtype, .ndim = c.ndim};
    for (int k = 0; k < c.ndim; k++)
        lo[k] = 0, step[k] = 1, out.dims[k] = c.dims[k];
    for (int k = 0; k < ns && rc != NM_ERR; k++) {
        int64_t a = na >= 0 ? ax[k] : k, p = np >= 0 ? sp[k] : 1;
        if (a < 0)
            a += c.ndim;
        if (a < 0 || a >= c.ndim || p == 0) {
            rc = ox_node_err(im, "slice axis %lld or step %lld", (long long)a, (long long)p);
            break;
        }
        int64_t dim = c.dims[a], s = st[k], e = en[k];
        if (s < 0) s += dim;
        if (e < 0) e += dim;
        if (p > 0) {
            s = s < 0 ? 0 : s > dim ? dim : s;
            e = e < 0 ? 0 : e > dim ? dim : e;
            out.dims[a] = e > s ? (e - s + p - 1) / p : 0;
        } else {
            s = s < 0 ? -1 : s > dim - 1 ? dim - 1 : s;
            e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
            out.dims[a] = s > e ? (s - e + (-p) - 1) / (-p) : 0;
        }
        lo[a] = s, step[a] = p;
    }
    if (rc != NM_ERR && cval_alloc(im, &out) == NM_OK) {
        int64_t cs[FOLD_RANK];
        strides_of(&c, cs);
        for (int64_t i = 0; i < out.count; i++) {
            int64_t rem = i, src = 0;
            for (int k = out.ndim - 1; k >= 0; k--) {
                int64_t coord = rem % out.dims[k];
                rem /= out.dims[k];
                src += (lo[k] + coord * step[k]) * cs[k];
            }
            out.v[i] = c.v[src];
        }
        cval_free(&c);
        return fold_put(im, 0, &out);
    }
    cval_free(&c);
    return NM_ERR;
}

/* Channel shuffle, step 1: the Reshape of layer x ([N, C, H, W]) to
 * [N, g, C/g, H, W] names a value that only a Transpose(0, 2, 1, 3, 4) and
 * a Reshape back may read. */
/* Appends a step of a channel shuffle and names it by the node's output. */
static int shuffle_push(importer *im, int src, int groups, int stage)
{
    const char *out = ox_output_name(im->node);
    if (!out)
        return NM_OK;
    if (im->n_shuffle == im->cap_shuffle) {
        int cap = im->cap_shuffle ? im->cap_shuffle * 2 : 16;
        void *p = realloc(im->shuffle, (size_t)cap * sizeof *im->shuffle);
        if (!p)
            return nm_seterr("out of memory");
        im->shuffle = p;
        im->cap_shuffle = cap;
    }
    im->shuffle[im->n_shuffle].src = src;
    im->shuffle[im->n_shuffle].groups = groups;
    im->shuffle[im->n_shuffle].stage = stage;
    return ox_map_put(&im->virt, out, im->n_shuffle++);
}

int ox_shuffle_begin(importer *im, int x, int groups)
{
    return shuffle_push(im, x, groups, 1);
}

/* Steps 2 (transpose = 1: the Transpose) and 3 (the Reshape back to
 * [N, C, H, W], which makes the shuffle layer). */
int ox_shuffle_step(importer *im, int transpose)
{
    const char *in = ox_input_name(im->node, 0);
    int k = ox_map_get(&im->virt, in, -1);
    if (transpose) {
        const int64_t *p;
        size_t np;
        if (ox_attr_ints(im, "perm", &p, &np))
            return NM_ERR;
        static const int64_t swap[5] = {0, 2, 1, 3, 4};
        if (im->shuffle[k].stage != 1 || np != 5 || memcmp(p, swap, sizeof swap))
            return ox_node_skip(im, "only the transpose (0, 2, 1, 3, 4) of a channel shuffle is "
                                "modelled on 5-D values");
        return shuffle_push(im, im->shuffle[k].src, im->shuffle[k].groups, 2);
    }
    int64_t s[FOLD_RANK], d[4];
    int n;
    int frc = fold_ints(im, 1, "shape", s, FOLD_RANK, &n);
    if (frc)
        return frc;
    int x = im->shuffle[k].src;
    value_dims(im, x, d);
    int back = n == 4 && (s[1] == d[1] || s[1] == -1) && (s[2] == d[2] || s[2] == 0) &&
               (s[3] == d[3] || s[3] == 0);
    if (im->shuffle[k].stage != 2 || !back)
        return ox_node_skip(im, "a 5-D value is only modelled inside a channel shuffle");
    nm_layer l;
    if (ox_start_layer(im, &l, NM_LAYER_SHUFFLE, x))
        return NM_ERR;
    l.groups = im->shuffle[k].groups;
    return ox_add_layer(im, &l);
}

/* Reshape: to [batch, features] a flatten; to another shape of rank 2 to
 * 4 a reshape layer; to [N, g, C/g, H, W] the first step of a channel
 * shuffle (see ox_shuffle_*). */
int op_reshape(importer *im)
{
    if (ox_map_get(&im->virt, ox_str_or(ox_input_name(im->node, 0), ""), -1) >= 0)
        return ox_shuffle_step(im, 0);
    int64_t s[FOLD_RANK];
    int n;
    int frc = shape_input(im, s, &n);
    if (frc)
        return frc;
    cval c;
    int rc = fold_get(im, 0, &c);
    if (rc == NM_ERR)
        return NM_ERR;
    if (rc == 1) { /* a constant reshaped: same values, new dims */
        cval out = {.dtype = c.dtype, .ndim = n};
        int64_t known = 1;
        int infer = -1;
        for (int k = 0; k < n; k++) {
            out.dims[k] = s[k] == 0 && k < c.ndim ? c.dims[k] : s[k];
            if (out.dims[k] == -1)
                infer = k;
            else if (out.dims[k] < 0 || __builtin_mul_overflow(known, out.dims[k], &known) ||
                     known > c.count)
                known = -1;   /* no such shape: refused below */
        }
        if (known < 0) {
            cval_free(&c);
            return ox_node_err(im, "cannot reshape a constant of %lld values to that shape",
                               (long long)c.count);
        }
        if (infer >= 0)
            out.dims[infer] = known ? c.count / known : 0;
        if (cval_alloc(im, &out) || out.count != c.count) {
            cval_free(&c), cval_free(&out);
            return ox_node_err(im, "cannot reshape a constant of %lld values", (long long)c.count);
        }
        memcpy(out.v, c.v, sizeof(double) * (size_t)c.count);
        cval_free(&c);
        return fold_put(im, 0, &out);
    }
    int x, av = ox_map_get(&im->merge, ox_str_or(ox_input_name(im->node, 0), ""), -1);
    if (av >= 0)   /* Paddle's attention heads merged (ops_attention_paddle.c) */
        return ox_paddle_merge(im, av, s, n);
    if ((rc = ox_act_input(im, 0, &x)))
        return rc;
    int64_t d[4];
    int r = value_dims(im, x, d);
    for (int k = 0; k < n; k++)   /* 0 copies the input's dim */
        if (s[k] == 0 && k < r)
            s[k] = d[k];
    if (n == 5 && r == 4 && s[1] > 0 && s[2] > 0 && s[1] * s[2] == d[1] && s[3] == d[2] && s[4] == d[3])
        return ox_shuffle_begin(im, x, (int)s[1]);
    if (ox_rank_of(im, x) == 3 && d[1] > 1 && d[2] > 1) {   /* tokens: Paddle's SVTR patterns */
        int fr = n == 5 ? ox_match_paddle_mha(im, x, s, n) : ox_match_tokens_to_image(im, x, s, n);
        if (fr != R_SKIP || im->skip_why[im->node_k])
            return fr;
    }
    return reshape_act(im, x, s, n);
}
