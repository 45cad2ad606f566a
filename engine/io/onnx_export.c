/* onnx_export.c - nm_model -> ONNX ModelProto (IR 7, opset 13).
 *
 * The model is walked in its (topological) layer order and every layer
 * becomes one ONNX node, sometimes with a helper node in front (a Flatten
 * before a Gemm that reads a [N, C, 1, 1] value). The message is built
 * with the protobuf-c structs generated from onnx.proto, everything
 * malloc'd, so onnx__model_proto__free_unpacked releases the whole tree;
 * it is packed straight into the atomic temporary file.
 *
 * Values: the graph input is "input" (batch dimension symbolic "N"; further
 * graph inputs follow under their own names, [N, C, H, W] each), each
 * layer's output is named after the layer, initializers "<layer>.weight",
 * ".bias", ... Node names are the layer names, so a layer read from a
 * torch.onnx export ("/layer1/layer1.0/conv1/Conv") keeps its scope name.
 *
 * What is written is what nm_forward computes for the masked model:
 * weights are w * mask with removed filters' rows and removed input
 * channels' columns zeroed, removed filters' biases 0, and a BN fed
 * directly by a pruned layer gets gamma = beta = 0 on the removed channels
 * (nm_forward outputs 0 there, engine/train/README.md, Masks).
 *
 * Also exported: main's graph kinds (binary ops with producers or
 * constants, sigmoid/tanh/hardsigmoid/hardswish/clip, concat, pad,
 * reshape, transpose, channel shuffle as Reshape-Transpose-Reshape, slice),
 * the
 * conv/pool settings (asymmetric pads, dilations, ceil_mode,
 * count_include_pad), and every graph output (nm_model_outputs).
 *
 * Not exported (an error naming the layer): NMReLU (no ONNX operator
 * computes it; exporting a plain Relu would change the outputs), the
 * transformer kinds (matmul, layernorm, gelu, softmax, embed),
 * detached layers of a SCALE-Sim topology, and a few shapes ONNX opset 13
 * cannot say the same way (a dilated average pool, a conv or pool after a
 * flatten). */
#include "nmio.h"

#include "fileutil.h"
#include "onnx.pb-c.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Building the message. Allocation failures set a flag checked at the  */
/* end, so the builders stay short.                                     */

typedef struct {
    Onnx__ModelProto *mp;
    Onnx__GraphProto *g;
    const nm_model *m;
    int oom;
    char **value;      /* per layer: its ONNX output value name */
    int *rank;         /* per layer: rank of that value (4 = NCHW, 2 = NC) */
    const char *input; /* graph input name */
} exporter;

static void *xalloc(exporter *ex, size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (!p)
        ex->oom = 1;
    return p;
}

static char *xstrdup(exporter *ex, const char *s)
{
    char *p = strdup(s);
    if (!p)
        ex->oom = 1;
    return p;
}

static char *xprintf(exporter *ex, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *xprintf(exporter *ex, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return xstrdup(ex, buf);
}

/* Appends v to a protobuf-c repeated field (array + count). */
#define PUSH(ex, arr, n, v)                                                   \
    do {                                                                      \
        void *np_ = realloc((arr), ((n) + 1) * sizeof *(arr));                \
        if (!np_) {                                                           \
            (ex)->oom = 1;                                                    \
        } else {                                                              \
            (arr) = np_;                                                      \
            (arr)[(n)++] = (v);                                               \
        }                                                                     \
    } while (0)

static Onnx__NodeProto *node_new(exporter *ex, const char *op, const char *name)
{
    Onnx__NodeProto *n = xalloc(ex, sizeof *n);
    if (!n)
        return NULL;
    onnx__node_proto__init(n);
    n->op_type = xstrdup(ex, op);
    n->name = xstrdup(ex, name);
    PUSH(ex, ex->g->node, ex->g->n_node, n);
    if (ex->oom) {
        onnx__node_proto__free_unpacked(n, NULL);
        return NULL;
    }
    return n;
}

static void node_in(exporter *ex, Onnx__NodeProto *n, const char *v)
{
    char *s = xstrdup(ex, v);
    if (s)
        PUSH(ex, n->input, n->n_input, s);
    if (ex->oom)
        free(s);
}

static void node_out(exporter *ex, Onnx__NodeProto *n, const char *v)
{
    char *s = xstrdup(ex, v);
    if (s)
        PUSH(ex, n->output, n->n_output, s);
    if (ex->oom)
        free(s);
}

static Onnx__AttributeProto *attr_new(exporter *ex, Onnx__NodeProto *n, const char *name,
                                      Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = xalloc(ex, sizeof *a);
    if (!a)
        return NULL;
    onnx__attribute_proto__init(a);
    a->name = xstrdup(ex, name);
    a->has_type = 1;
    a->type = type;
    PUSH(ex, n->attribute, n->n_attribute, a);
    if (ex->oom) {
        onnx__attribute_proto__free_unpacked(a, NULL);
        return NULL;
    }
    return a;
}

static void attr_int(exporter *ex, Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = attr_new(ex, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    if (a)
        a->has_i = 1, a->i = v;
}

static void attr_float(exporter *ex, Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = attr_new(ex, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    if (a)
        a->has_f = 1, a->f = v;
}

static void attr_ints(exporter *ex, Onnx__NodeProto *n, const char *name, const int64_t *v, int k)
{
    Onnx__AttributeProto *a = attr_new(ex, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    if (!a)
        return;
    if (!(a->ints = xalloc(ex, (size_t)k * sizeof *a->ints)))
        return;
    memcpy(a->ints, v, (size_t)k * sizeof *v);
    a->n_ints = (size_t)k;
}

/* A FLOAT initializer named `name` with dims, holding count floats from
 * data (copied as little-endian raw bytes). */
static void init_f32(exporter *ex, const char *name, int nd, const int64_t *dims, const float *data,
                     int64_t count)
{
    Onnx__TensorProto *t = xalloc(ex, sizeof *t);
    if (!t)
        return;
    onnx__tensor_proto__init(t);
    t->name = xstrdup(ex, name);
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    t->dims = nd > 0 ? xalloc(ex, (size_t)nd * sizeof *t->dims) : NULL;
    if (t->dims) {
        memcpy(t->dims, dims, (size_t)nd * sizeof *dims);
        t->n_dims = (size_t)nd;
    }
    t->has_raw_data = 1;
    t->raw_data.data = xalloc(ex, (size_t)count * 4);
    if (t->raw_data.data) {
        t->raw_data.len = (size_t)count * 4;
        uint8_t *p = t->raw_data.data;
        for (int64_t i = 0; i < count; i++) {
            uint32_t u;
            memcpy(&u, &data[i], 4);
            p[4 * i] = (uint8_t)u, p[4 * i + 1] = (uint8_t)(u >> 8);
            p[4 * i + 2] = (uint8_t)(u >> 16), p[4 * i + 3] = (uint8_t)(u >> 24);
        }
    }
    PUSH(ex, ex->g->initializer, ex->g->n_initializer, t);
    if (ex->oom && (ex->g->n_initializer == 0 || ex->g->initializer[ex->g->n_initializer - 1] != t))
        onnx__tensor_proto__free_unpacked(t, NULL);
}

/* An INT64 initializer (shapes, pads), little-endian raw bytes. */
static void init_i64(exporter *ex, const char *name, int64_t n, const int64_t *v)
{
    Onnx__TensorProto *t = xalloc(ex, sizeof *t);
    if (!t)
        return;
    onnx__tensor_proto__init(t);
    t->name = xstrdup(ex, name);
    t->has_data_type = 1;
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    if ((t->dims = xalloc(ex, sizeof *t->dims))) {
        t->dims[0] = n;
        t->n_dims = 1;
    }
    t->has_raw_data = 1;
    if ((t->raw_data.data = xalloc(ex, (size_t)n * 8))) {
        t->raw_data.len = (size_t)n * 8;
        for (int64_t i = 0; i < n; i++)
            for (int b = 0; b < 8; b++)
                t->raw_data.data[8 * i + b] = (uint8_t)((uint64_t)v[i] >> (8 * b));
    }
    PUSH(ex, ex->g->initializer, ex->g->n_initializer, t);
    if (ex->oom && (ex->g->n_initializer == 0 || ex->g->initializer[ex->g->n_initializer - 1] != t))
        onnx__tensor_proto__free_unpacked(t, NULL);
}

/* A graph input/output description: FLOAT [N, d...]. */
static Onnx__ValueInfoProto *value_info(exporter *ex, const char *name, int nd, const int64_t *dims)
{
    Onnx__ValueInfoProto *v = xalloc(ex, sizeof *v);
    Onnx__TypeProto *tp = xalloc(ex, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = xalloc(ex, sizeof *tt);
    Onnx__TensorShapeProto *sh = xalloc(ex, sizeof *sh);
    if (!v || !tp || !tt || !sh) {
        free(v), free(tp), free(tt), free(sh);
        return NULL;
    }
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    v->name = xstrdup(ex, name);
    v->type = tp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sh;
    sh->dim = xalloc(ex, (size_t)(nd + 1) * sizeof *sh->dim);
    if (!sh->dim)
        return v;
    for (int i = 0; i <= nd; i++) {
        Onnx__TensorShapeProto__Dimension *d = xalloc(ex, sizeof *d);
        if (!d)
            break;
        onnx__tensor_shape_proto__dimension__init(d);
        if (i == 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = xstrdup(ex, "N");
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i - 1];
        }
        sh->dim[sh->n_dim++] = d;
    }
    return v;
}

/* ------------------------------------------------------------------ */
/* Layers.                                                             */

static const char *in_value(const exporter *ex, int src)
{
    int k = nm_input_index(src);
    return k == 0 ? ex->input : k > 0 ? ex->m->xin[k - 1].name : ex->value[src];
}

static int in_rank(const exporter *ex, int src)
{
    return nm_is_input(src) ? 4 : ex->rank[src];
}

/* The effective (masked) weight of a prunable layer and its bias, as
 * nm_forward uses them: malloc'd copies, caller frees. */
static int masked_params(const nm_layer *l, float **w, float **b)
{
    nm_tensor *e = nm_layer_effective_mask(l);
    if (!e)
        return NM_ERR;
    const int64_t rows = nm_layer_rows(l), n = l->weight->numel;
    const uint8_t *ek = nm_u8(e);
    const float *src = nm_f32(l->weight);
    *w = malloc((size_t)n * sizeof **w);
    *b = l->bias ? malloc((size_t)rows * sizeof **b) : NULL;
    if (!*w || (l->bias && !*b)) {
        free(*w), free(*b);
        nm_tensor_release(e);
        return nm_seterr("out of memory");
    }
    for (int64_t k = 0; k < n; k++)
        (*w)[k] = ek[k] ? src[k] : 0.0f;
    for (int64_t o = 0; *b && o < rows; o++)
        (*b)[o] = !l->filters || nm_u8(l->filters)[o] ? nm_f32(l->bias)[o] : 0.0f;
    nm_tensor_release(e);
    return NM_OK;
}

/* ONNX pads [top, left, bottom, right] of a conv or pool. */
static void plane_pads(const nm_layer *l, int64_t p[4])
{
    p[0] = l->pad_h, p[1] = l->pad_w;
    p[2] = l->pad_asym ? l->pad_h2 : l->pad_h;
    p[3] = l->pad_asym ? l->pad_w2 : l->pad_w;
}

static int ex_conv_like(exporter *ex, int i, const char *x)
{
    const nm_layer *l = &ex->m->layers[i];
    float *w, *b;
    if (masked_params(l, &w, &b))
        return NM_ERR;
    Onnx__NodeProto *n = node_new(ex, "Conv", l->name);
    char *wn = xprintf(ex, "%s.weight", l->name), *bn = b ? xprintf(ex, "%s.bias", l->name) : NULL;
    if (n && wn && (!b || bn)) {
        node_in(ex, n, x);
        node_in(ex, n, wn);
        if (b)
            node_in(ex, n, bn);
        node_out(ex, n, ex->value[i]);
        int linear = l->kind == NM_LAYER_LINEAR;  /* per-position linear: a 1x1 conv */
        int64_t k[2] = {linear ? 1 : l->kh, linear ? 1 : l->kw};
        int64_t s[2] = {linear ? 1 : l->stride_h, linear ? 1 : l->stride_w};
        int64_t p[4] = {0, 0, 0, 0};
        if (!linear)
            plane_pads(l, p);
        attr_ints(ex, n, "kernel_shape", k, 2);
        attr_ints(ex, n, "strides", s, 2);
        attr_ints(ex, n, "pads", p, 4);
        if (!linear && (l->dil_h > 1 || l->dil_w > 1)) {
            int64_t d[2] = {l->dil_h > 1 ? l->dil_h : 1, l->dil_w > 1 ? l->dil_w : 1};
            attr_ints(ex, n, "dilations", d, 2);
        }
        attr_int(ex, n, "group", linear ? 1 : (l->groups > 0 ? l->groups : 1));
        int64_t dims[4] = {l->out_c, nm_layer_cols(l) / (k[0] * k[1]), k[0], k[1]};
        init_f32(ex, wn, 4, dims, w, l->weight->numel);
        if (b) {
            int64_t bd = l->out_c;
            init_f32(ex, bn, 1, &bd, b, l->out_c);
        }
    }
    free(wn), free(bn), free(w), free(b);
    ex->rank[i] = 4;
    return NM_OK;
}

/* linear on a [N, C] value: Gemm(x, W, b) with transB = 1 (W is [out, in]);
 * on [N, C, 1, 1] a Flatten comes first. */
static int ex_gemm(exporter *ex, int i, const char *x, int rank)
{
    const nm_layer *l = &ex->m->layers[i];
    char *flat = NULL;
    if (rank == 4) {
        flat = xprintf(ex, "%s/Flatten_input", l->name);
        Onnx__NodeProto *f = flat ? node_new(ex, "Flatten", flat) : NULL;
        if (f) {
            node_in(ex, f, x);
            node_out(ex, f, flat);
            attr_int(ex, f, "axis", 1);
        }
        x = flat ? flat : x;
    }
    float *w, *b;
    if (masked_params(l, &w, &b)) {
        free(flat);
        return NM_ERR;
    }
    Onnx__NodeProto *n = node_new(ex, "Gemm", l->name);
    char *wn = xprintf(ex, "%s.weight", l->name), *bn = b ? xprintf(ex, "%s.bias", l->name) : NULL;
    if (n && wn && (!b || bn)) {
        node_in(ex, n, x);
        node_in(ex, n, wn);
        if (b)
            node_in(ex, n, bn);
        node_out(ex, n, ex->value[i]);
        attr_int(ex, n, "transB", 1);
        int64_t dims[2] = {l->out_c, l->in_c};
        init_f32(ex, wn, 2, dims, w, l->weight->numel);
        if (b) {
            int64_t bd = l->out_c;
            init_f32(ex, bn, 1, &bd, b, l->out_c);
        }
    }
    free(flat), free(wn), free(bn), free(w), free(b);
    ex->rank[i] = 2;
    return NM_OK;
}

static int ex_bn(exporter *ex, int i, const char *x, int rank)
{
    const nm_layer *l = &ex->m->layers[i];
    const nm_model *m = ex->m;
    const int C = l->out_c;
    float *p = malloc((size_t)C * 4 * sizeof *p);
    if (!p)
        return nm_seterr("out of memory");
    memcpy(p, nm_f32(l->gamma), (size_t)C * sizeof *p);
    memcpy(p + C, nm_f32(l->beta), (size_t)C * sizeof *p);
    memcpy(p + 2 * C, nm_f32(l->mean), (size_t)C * sizeof *p);
    memcpy(p + 3 * C, nm_f32(l->var), (size_t)C * sizeof *p);
    /* nm_forward: a BN fed directly by a prunable layer outputs 0 on the
     * producer's removed filters. */
    int src = l->inputs[0];
    if (src >= 0 && nm_layer_prunable(&m->layers[src]) && m->layers[src].filters) {
        const uint8_t *fk = nm_u8(m->layers[src].filters);
        for (int c = 0; c < C; c++)
            if (!fk[c])
                p[c] = p[C + c] = 0.0f;
    }
    static const char *role[4] = {"gamma", "beta", "running_mean", "running_var"};
    Onnx__NodeProto *n = node_new(ex, "BatchNormalization", l->name);
    if (n) {
        node_in(ex, n, x);
        for (int r = 0; r < 4; r++) {
            char *pn = xprintf(ex, "%s.%s", l->name, role[r]);
            if (!pn)
                continue;
            node_in(ex, n, pn);
            int64_t d = C;
            init_f32(ex, pn, 1, &d, p + r * C, C);
            free(pn);
        }
        node_out(ex, n, ex->value[i]);
        attr_float(ex, n, "epsilon", l->eps);
    }
    free(p);
    ex->rank[i] = rank;
    return NM_OK;
}

static int ex_relu(exporter *ex, int i, const char *x, int rank)
{
    const nm_layer *l = &ex->m->layers[i];
    Onnx__NodeProto *n = node_new(ex, l->clip > 0 ? "Clip" : "Relu", l->name);
    if (n) {
        node_in(ex, n, x);
        if (l->clip > 0) {
            float lo = 0.0f, hi = l->clip;
            char *a = xprintf(ex, "%s.min", l->name), *b = xprintf(ex, "%s.max", l->name);
            if (a && b) {
                node_in(ex, n, a);
                node_in(ex, n, b);
                init_f32(ex, a, 0, NULL, &lo, 1);
                init_f32(ex, b, 0, NULL, &hi, 1);
            }
            free(a), free(b);
        }
        node_out(ex, n, ex->value[i]);
    }
    ex->rank[i] = rank;
    return NM_OK;
}

static int ex_pool(exporter *ex, int i, const char *x)
{
    const nm_layer *l = &ex->m->layers[i];
    int max = l->kind == NM_LAYER_MAXPOOL;
    if (!max && (l->dil_h > 1 || l->dil_w > 1))
        return nm_seterr("layer '%s' (avgpool): a dilated average pool needs opset 19; not exported",
                         l->name);
    Onnx__NodeProto *n = node_new(ex, max ? "MaxPool" : "AveragePool", l->name);
    if (n) {
        node_in(ex, n, x);
        node_out(ex, n, ex->value[i]);
        int64_t k[2] = {l->kh, l->kw}, s[2] = {l->stride_h, l->stride_w}, p[4];
        plane_pads(l, p);
        attr_ints(ex, n, "kernel_shape", k, 2);
        attr_ints(ex, n, "strides", s, 2);
        attr_ints(ex, n, "pads", p, 4);
        if (l->ceil_mode)
            attr_int(ex, n, "ceil_mode", 1);
        if (max && (l->dil_h > 1 || l->dil_w > 1)) {
            int64_t d[2] = {l->dil_h > 1 ? l->dil_h : 1, l->dil_w > 1 ? l->dil_w : 1};
            attr_ints(ex, n, "dilations", d, 2);
        }
        if (!max) /* by default nmlab divides by kh*kw, padding included */
            attr_int(ex, n, "count_include_pad", l->exclude_pad ? 0 : 1);
    }
    ex->rank[i] = 4;
    return NM_OK;
}

static int ex_simple(exporter *ex, int i, const char *op, const char *x, const char *y, int rank)
{
    const nm_layer *l = &ex->m->layers[i];
    Onnx__NodeProto *n = node_new(ex, op, l->name);
    if (n) {
        node_in(ex, n, x);
        if (y)
            node_in(ex, n, y);
        node_out(ex, n, ex->value[i]);
        if (!strcmp(op, "Flatten"))
            attr_int(ex, n, "axis", 1);
    }
    ex->rank[i] = rank;
    return NM_OK;
}

static const char *binary_op(nm_layer_kind k)
{
    return k == NM_LAYER_ADD ? "Add" : k == NM_LAYER_MUL ? "Mul" : k == NM_LAYER_SUB ? "Sub" : "Div";
}

/* add/mul/sub/div of two producers (ONNX broadcasting is numpy's, as
 * nmlab's per-axis rule), or of a producer and the constant `konst`. */
static int ex_binary(exporter *ex, int i, const char *x, int rank)
{
    const nm_layer *l = &ex->m->layers[i];
    const char *kind = nm_layer_kind_name(l->kind);
    const char *y = NULL;
    char *kn = NULL;
    if (l->n_inputs == 2) {
        int r2 = in_rank(ex, l->inputs[1]);
        if (r2 != rank)
            return nm_seterr("layer '%s' (%s) combines a rank-%d and a rank-%d value; not exported",
                             l->name, kind, rank, r2);
        y = in_value(ex, l->inputs[1]);
    } else {
        const nm_tensor *k = l->konst;
        if (rank == 2 && (k->shape[1] != 1 || k->shape[2] != 1))
            return nm_seterr("layer '%s' (%s): a constant of (%lld,%lld,%lld) on a flattened value; "
                             "not exported", l->name, kind, (long long)k->shape[0],
                             (long long)k->shape[1], (long long)k->shape[2]);
        if (!(kn = xprintf(ex, "%s.konst", l->name)))
            return nm_seterr("out of memory");
        int64_t d4[4] = {1, k->shape[0], k->shape[1], k->shape[2]}, d2[2] = {1, k->shape[0]};
        init_f32(ex, kn, rank, rank == 4 ? d4 : d2, nm_f32(k), k->numel);
        y = kn;
    }
    Onnx__NodeProto *n = node_new(ex, binary_op(l->kind), l->name);
    if (n) {
        int rev = l->n_inputs == 1 && l->rev;
        node_in(ex, n, rev ? y : x);
        node_in(ex, n, rev ? x : y);
        node_out(ex, n, ex->value[i]);
    }
    free(kn);
    ex->rank[i] = rank;
    return NM_OK;
}

/* sigmoid, tanh, hardsigmoid, hardswish (x * HardSigmoid(1/6, 1/2): opset
 * 13 has no HardSwish), clip(min, max). */
static int ex_unary(exporter *ex, int i, const char *x, int rank)
{
    const nm_layer *l = &ex->m->layers[i];
    ex->rank[i] = rank;
    if (l->kind == NM_LAYER_HARDSWISH) {
        char *hs = xprintf(ex, "%s/HardSigmoid", l->name);
        Onnx__NodeProto *a = hs ? node_new(ex, "HardSigmoid", hs) : NULL;
        if (a) {
            node_in(ex, a, x);
            node_out(ex, a, hs);
            attr_float(ex, a, "alpha", 1.0f / 6.0f);
            attr_float(ex, a, "beta", 0.5f);
        }
        Onnx__NodeProto *b = hs ? node_new(ex, "Mul", l->name) : NULL;
        if (b) {
            node_in(ex, b, x);
            node_in(ex, b, hs);
            node_out(ex, b, ex->value[i]);
        }
        free(hs);
        return NM_OK;
    }
    const char *op = l->kind == NM_LAYER_SIGMOID ? "Sigmoid"
                   : l->kind == NM_LAYER_TANH    ? "Tanh"
                   : l->kind == NM_LAYER_HARDSIGMOID ? "HardSigmoid" : "Clip";
    Onnx__NodeProto *n = node_new(ex, op, l->name);
    if (!n)
        return NM_OK;
    node_in(ex, n, x);
    if (l->kind == NM_LAYER_HARDSIGMOID) {
        attr_float(ex, n, "alpha", l->alpha);
        attr_float(ex, n, "beta", l->beta_);
    } else if (l->kind == NM_LAYER_CLIP) {
        char *a = xprintf(ex, "%s.min", l->name), *b = xprintf(ex, "%s.max", l->name);
        if (a && b) {
            node_in(ex, n, a);
            node_in(ex, n, b);
            init_f32(ex, a, 0, NULL, &l->alpha, 1);
            init_f32(ex, b, 0, NULL, &l->beta_, 1);
        }
        free(a), free(b);
    }
    node_out(ex, n, ex->value[i]);
    return NM_OK;
}

/* Reshape of value x to [-1, dims...] as node `name` with output `out`. */
static void reshape_node(exporter *ex, const char *name, const char *x, const char *out,
                         const int64_t *dims, int nd)
{
    char *sn = xprintf(ex, "%s.shape", name);
    int64_t shape[5] = {-1};
    for (int k = 0; k < nd && k < 4; k++)
        shape[k + 1] = dims[k];
    Onnx__NodeProto *n = sn ? node_new(ex, "Reshape", name) : NULL;
    if (n) {
        node_in(ex, n, x);
        node_in(ex, n, sn);
        node_out(ex, n, out);
        init_i64(ex, sn, nd + 1, shape);
    }
    free(sn);
}

/* slice of channels: Slice on axis 1; of positions (the flattened H*W):
 * Slice on axis 2, after a Reshape to [N, C, H*W, 1] when W > 1. */
static int ex_slice(exporter *ex, int i, const char *x, int rank)
{
    const nm_layer *l = &ex->m->layers[i];
    int chan = l->slice_axis == NM_AXIS_CHANNEL;
    if (!chan && rank != 4)
        return nm_seterr("layer '%s' (slice): positions of a flattened value; not exported", l->name);
    char *flat = NULL;
    if (!chan && l->in_w > 1) {
        if (!(flat = xprintf(ex, "%s/Reshape_positions", l->name)))
            return nm_seterr("out of memory");
        int64_t d[3] = {l->in_c, (int64_t)l->in_h * l->in_w, 1};
        reshape_node(ex, flat, x, flat, d, 3);
        x = flat;
    }
    int64_t count = chan ? l->out_c : l->out_h;
    int64_t st = l->slice_start, en = l->slice_start + count, ax = chan ? 1 : 2;
    char *a = xprintf(ex, "%s.starts", l->name), *b = xprintf(ex, "%s.ends", l->name);
    char *c = xprintf(ex, "%s.axes", l->name);
    Onnx__NodeProto *n = a && b && c ? node_new(ex, "Slice", l->name) : NULL;
    if (n) {
        node_in(ex, n, x);
        node_in(ex, n, a);
        node_in(ex, n, b);
        node_in(ex, n, c);
        node_out(ex, n, ex->value[i]);
        init_i64(ex, a, 1, &st);
        init_i64(ex, b, 1, &en);
        init_i64(ex, c, 1, &ax);
    }
    free(flat), free(a), free(b), free(c);
    ex->rank[i] = rank;
    return NM_OK;
}

/* concat, pad, reshape, transpose, shuffle: on [N, C, H, W] values. */
static int ex_shape_op(exporter *ex, int i, const char *x)
{
    const nm_layer *l = &ex->m->layers[i];
    ex->rank[i] = 4;
    switch (l->kind) {
    case NM_LAYER_CONCAT: {
        Onnx__NodeProto *n = node_new(ex, "Concat", l->name);
        if (!n)
            return NM_OK;
        for (int k = 0; k < l->n_inputs; k++)
            node_in(ex, n, in_value(ex, l->inputs[k]));
        node_out(ex, n, ex->value[i]);
        attr_int(ex, n, "axis", 1 + l->axis);
        return NM_OK;
    }
    case NM_LAYER_PAD: {
        char *pn = xprintf(ex, "%s.pads", l->name), *vn = xprintf(ex, "%s.value", l->name);
        Onnx__NodeProto *n = pn && vn ? node_new(ex, "Pad", l->name) : NULL;
        if (n) {
            int64_t p[8] = {0, l->pads[0], l->pads[1], l->pads[2], 0, l->pads[3], l->pads[4], l->pads[5]};
            node_in(ex, n, x);
            node_in(ex, n, pn);
            node_in(ex, n, vn);
            node_out(ex, n, ex->value[i]);
            init_i64(ex, pn, 8, p);
            init_f32(ex, vn, 0, NULL, &l->pad_value, 1);
        }
        free(pn), free(vn);
        return NM_OK;
    }
    case NM_LAYER_RESHAPE: {
        /* to (F, 1, 1): [N, F], what a flatten gives (and what the
         * importer reads back); else [N, C, H, W] */
        int64_t d[3] = {l->out_c, l->out_h, l->out_w};
        int flat = l->out_h == 1 && l->out_w == 1;
        reshape_node(ex, l->name, x, ex->value[i], d, flat ? 1 : 3);
        ex->rank[i] = flat ? 2 : 4;
        return NM_OK;
    }
    case NM_LAYER_TRANSPOSE: {
        Onnx__NodeProto *n = node_new(ex, "Transpose", l->name);
        if (n) {
            int64_t perm[4] = {0, 1 + l->perm[0], 1 + l->perm[1], 1 + l->perm[2]};
            node_in(ex, n, x);
            node_out(ex, n, ex->value[i]);
            attr_ints(ex, n, "perm", perm, 4);
        }
        return NM_OK;
    }
    default: { /* SHUFFLE: (g, C/g) -> (C/g, g) */
        char *a = xprintf(ex, "%s/Reshape_groups", l->name);
        char *b = xprintf(ex, "%s/Transpose", l->name);
        if (a && b) {
            int64_t d5[4] = {l->groups, l->in_c / l->groups, l->in_h, l->in_w};
            reshape_node(ex, a, x, a, d5, 4);
            Onnx__NodeProto *t = node_new(ex, "Transpose", b);
            if (t) {
                int64_t perm[5] = {0, 2, 1, 3, 4};
                node_in(ex, t, a);
                node_out(ex, t, b);
                attr_ints(ex, t, "perm", perm, 5);
            }
            int64_t d3[3] = {l->out_c, l->out_h, l->out_w};
            reshape_node(ex, l->name, b, ex->value[i], d3, 3);
        }
        free(a), free(b);
        return NM_OK;
    }
    }
}

static int ex_layer(exporter *ex, int i)
{
    const nm_layer *l = &ex->m->layers[i];
    const char *kind = nm_layer_kind_name(l->kind);
    if (l->n_inputs < 1)
        return nm_seterr("layer '%s' (%s) has no producer (a topology's detached layer); "
                         "only connected networks are exported to ONNX", l->name, kind);
    const char *x = in_value(ex, l->inputs[0]);
    int rank = in_rank(ex, l->inputs[0]);
    int need4 = 0;
    switch (l->kind) {
    case NM_LAYER_CONV:
    case NM_LAYER_DWCONV:
    case NM_LAYER_MAXPOOL:
    case NM_LAYER_AVGPOOL:
    case NM_LAYER_GAP:
    case NM_LAYER_PAD:
    case NM_LAYER_TRANSPOSE:
    case NM_LAYER_SHUFFLE:
        need4 = 1;
        break;
    case NM_LAYER_CONCAT:
        for (int k = 0; k < l->n_inputs; k++)
            need4 |= in_rank(ex, l->inputs[k]) != 4;
        if (need4)
            return nm_seterr("layer '%s' (concat) joins flattened values; not exported", l->name);
        break;
    default:
        break;
    }
    if (need4 && rank != 4)
        return nm_seterr("layer '%s' (%s) reads a flattened [N, %d] value; nmlab does not export "
                         "a %s after a flatten or linear layer", l->name, kind, l->in_c, kind);
    switch (l->kind) {
    case NM_LAYER_CONV:
    case NM_LAYER_DWCONV:
        return ex_conv_like(ex, i, x);
    case NM_LAYER_LINEAR:
        if (rank == 4 && l->in_h * l->in_w > 1)
            return ex_conv_like(ex, i, x);
        return ex_gemm(ex, i, x, rank);
    case NM_LAYER_BN:
        return ex_bn(ex, i, x, rank);
    case NM_LAYER_RELU:
        return ex_relu(ex, i, x, rank);
    case NM_LAYER_MAXPOOL:
    case NM_LAYER_AVGPOOL:
        return ex_pool(ex, i, x);
    case NM_LAYER_GAP:
        return ex_simple(ex, i, "GlobalAveragePool", x, NULL, 4);
    case NM_LAYER_FLATTEN:
        return ex_simple(ex, i, "Flatten", x, NULL, 2);
    case NM_LAYER_ADD:
    case NM_LAYER_MUL:
    case NM_LAYER_SUB:
    case NM_LAYER_DIV:
        return ex_binary(ex, i, x, rank);
    case NM_LAYER_SIGMOID:
    case NM_LAYER_HARDSIGMOID:
    case NM_LAYER_HARDSWISH:
    case NM_LAYER_TANH:
    case NM_LAYER_CLIP:
        return ex_unary(ex, i, x, rank);
    case NM_LAYER_CONCAT:
    case NM_LAYER_PAD:
    case NM_LAYER_RESHAPE:
    case NM_LAYER_TRANSPOSE:
    case NM_LAYER_SHUFFLE:
        return ex_shape_op(ex, i, x);
    case NM_LAYER_SLICE:
        return ex_slice(ex, i, x, rank);
    case NM_LAYER_NMRELU:
        return nm_seterr("layer '%s' (nmrelu): ONNX has no N:M activation operator and a plain "
                         "Relu would change the outputs; replace it by a relu before exporting",
                         l->name);
    default:
        return nm_seterr("layer '%s' (%s): nmlab does not export this layer kind to ONNX", l->name,
                         kind);
    }
}

/* ------------------------------------------------------------------ */
/* Writing.                                                            */

typedef struct {
    ProtobufCBuffer base;
    FILE *f;
    int err;
} file_buffer;

static void file_append(ProtobufCBuffer *b, size_t len, const uint8_t *data)
{
    file_buffer *fb = (file_buffer *)b;
    if (!fb->err && len && fwrite(data, 1, len, fb->f) != len)
        fb->err = 1;
}

static int build(exporter *ex, nm_progress_fn progress, void *ud)
{
    const nm_model *m = ex->m;
    Onnx__ModelProto *mp = ex->mp;
    onnx__model_proto__init(mp);
    mp->has_ir_version = 1;
    mp->ir_version = 7;
    mp->producer_name = xstrdup(ex, "nmlab");
    Onnx__OperatorSetIdProto *os = xalloc(ex, sizeof *os);
    if (os) {
        onnx__operator_set_id_proto__init(os);
        os->domain = xstrdup(ex, "");
        os->has_version = 1;
        os->version = 13;
        PUSH(ex, mp->opset_import, mp->n_opset_import, os);
        if (ex->oom && mp->n_opset_import == 0)
            onnx__operator_set_id_proto__free_unpacked(os, NULL);
    }
    if (!(ex->g = mp->graph = xalloc(ex, sizeof *ex->g)))
        return nm_seterr("out of memory");
    onnx__graph_proto__init(ex->g);
    ex->g->name = xstrdup(ex, m->name[0] ? m->name : "nmlab");

    int64_t in_dims[3] = {m->in_c, m->in_h, m->in_w};
    Onnx__ValueInfoProto *vin = value_info(ex, ex->input, 3, in_dims);
    if (vin)
        PUSH(ex, ex->g->input, ex->g->n_input, vin);
    for (int k = 1; k < nm_model_n_inputs(m); k++) {   /* in graph order, [N, C, H, W] each */
        int64_t d[3];
        int c, h, w;
        nm_model_input_shape(m, k, &c, &h, &w);
        d[0] = c, d[1] = h, d[2] = w;
        Onnx__ValueInfoProto *vk = value_info(ex, nm_model_input_name(m, k), 3, d);
        if (vk)
            PUSH(ex, ex->g->input, ex->g->n_input, vk);
    }
    for (int i = 0; i < m->n_layers; i++) {
        if (ex_layer(ex, i))
            return NM_ERR;
        if (ex->oom)
            return nm_seterr("out of memory");
        if (nm_progress(progress, ud, 0.9 * (i + 1) / m->n_layers, "exporting ONNX"))
            return NM_ERR;
    }
    int outs[NM_MAX_OUTPUTS];
    int n_out = nm_model_outputs(m, outs, NM_MAX_OUTPUTS);
    for (int k = 0; k < n_out && k < NM_MAX_OUTPUTS; k++) {
        int o = outs[k];
        if (o < 0)
            return nm_seterr("graph output %d is the model input itself; not exported", k + 1);
        for (int j = 0; j < k; j++)
            if (outs[j] == o)
                return nm_seterr("layer '%s' is listed twice as a graph output; not exported",
                                 m->layers[o].name);
        const nm_layer *l = &m->layers[o];
        int64_t od[3] = {l->out_c, l->out_h, l->out_w};
        Onnx__ValueInfoProto *vout = value_info(ex, ex->value[o], ex->rank[o] == 4 ? 3 : 1, od);
        if (vout)
            PUSH(ex, ex->g->output, ex->g->n_output, vout);
    }
    return ex->oom ? nm_seterr("out of memory") : NM_OK;
}

/* ONNX values must have unique names: a layer's output is named after the
 * layer and its parameters "<layer>.<role>", so a layer called "a.weight"
 * beside a layer "a" would clash. Such names are refused up front. */
static int check_names(const nm_model *m, const char *input)
{
    static const char *roles[] = {".weight", ".bias", ".gamma", ".beta", ".running_mean",
                                  ".running_var", ".min", ".max", ".konst", ".pads", ".value",
                                  ".shape", ".starts", ".ends", ".axes", "/Flatten_input",
                                  "/HardSigmoid", "/Reshape_groups", "/Transpose",
                                  "/Reshape_groups.shape", "/Reshape_positions",
                                  "/Reshape_positions.shape"};
    for (int i = 0; i < m->n_layers; i++) {
        const char *name = m->layers[i].name;
        for (int j = 0; j < m->n_layers; j++) {
            const char *other = m->layers[j].name;
            size_t n = strlen(other);
            if (i == j || strncmp(name, other, n) != 0)
                continue;
            for (size_t r = 0; r < sizeof roles / sizeof roles[0]; r++)
                if (!strcmp(name + n, roles[r]))
                    return nm_seterr("layer names '%s' and '%s' would give two ONNX values "
                                     "the same name; rename one", other, name);
        }
    }
    (void)input; /* chosen not to be a layer name */
    return NM_OK;
}

int nm_onnx_save(const nm_model *m, const char *path, nm_progress_fn progress, void *ud)
{
    if (!m || m->n_layers < 1)
        return nm_seterr("%s: the model has no layers to export", path);
    exporter ex = {.m = m, .input = "input"};
    Onnx__ModelProto *mp = ex.mp = malloc(sizeof *mp);
    if (mp)
        onnx__model_proto__init(mp);
    ex.value = calloc((size_t)m->n_layers, sizeof *ex.value);
    ex.rank = calloc((size_t)m->n_layers, sizeof *ex.rank);
    int rc = NM_ERR, charged = 0;
    int64_t held = 0;
    if (!mp || !ex.value || !ex.rank) {
        nm_seterr("out of memory");
        goto done;
    }
    /* The graph input must not share a name with a layer's output. */
    static const char *inputs[] = {"input", "input.1", "nmlab_input", "nmlab_input.1"};
    for (size_t k = 0; k < sizeof inputs / sizeof inputs[0]; k++) {
        ex.input = inputs[k];
        if (nm_model_find(m, ex.input) < 0)
            break;
    }
    for (int i = 0; i < m->n_layers; i++)
        if (!(ex.value[i] = strdup(m->layers[i].name))) {
            nm_seterr("out of memory");
            goto done;
        }
    /* further graph inputs keep their names, which no value may share */
    for (int k = 1; k < nm_model_n_inputs(m); k++) {
        const char *in = nm_model_input_name(m, k);
        if (!strcmp(in, ex.input) || nm_model_find(m, in) >= 0) {
            nm_seterr("ONNX export: graph input '%s' of model '%s' has the name of %s; rename one", in,
                      m->name, nm_model_find(m, in) >= 0 ? "a layer" : "the first input");
            nm_preperr(path);
            goto done;
        }
    }
    if (check_names(m, ex.input)) {
        nm_preperr(path);
        goto done;
    }
    /* The message holds a copy of every parameter until it is written:
     * charged against the caller's memory budget up front. */
    for (int i = 0; i < m->n_layers; i++) {
        nm_tensor **slots[NM_LAYER_SLOTS];
        nm_layer_slots((nm_layer *)&m->layers[i], slots); /* read only */
        for (int k = 0; k < NM_LAYER_SLOTS; k++)
            if (*slots[k] && (*slots[k])->dtype == NM_F32)
                held += (*slots[k])->numel * 4;
    }
    if (nm_mem_charge(path, held) != NM_OK) {
        rc = NM_ERR;
        goto done;
    }
    charged = 1;
    rc = build(&ex, progress, ud);
    if (rc == NM_OK) {
        nm_atomic_file af;
        if (nm_atomic_begin(&af, path)) {
            rc = NM_ERR;
            goto done;
        }
        file_buffer fb = {.base = {.append = file_append}, .f = af.f};
        onnx__model_proto__pack_to_buffer(mp, &fb.base);
        if (fb.err) {
            nm_atomic_abort(&af);
            rc = nm_seterr("%s: write failed", path);
        } else if (nm_progress(progress, ud, 1.0, "exporting ONNX")) {
            nm_atomic_abort(&af);
            rc = NM_ERR;
        } else {
            rc = nm_atomic_commit(&af);
        }
    } else if (!strstr(nm_errmsg(), path)) {
        nm_preperr(path);
    }
done:
    if (mp)
        onnx__model_proto__free_unpacked(mp, NULL);
    if (charged)
        nm_mem_release(held);
    if (ex.value)
        for (int i = 0; i < m->n_layers; i++)
            free(ex.value[i]);
    free(ex.value);
    free(ex.rank);
    return rc;
}
