/* onnx_build.h - building ONNX models in memory with the protobuf-c API
 * generated from engine/io/onnx.proto (used by test_onnx.c). Everything is
 * malloc'd so that onnx__model_proto__free_unpacked releases the whole
 * tree. Out of memory aborts: a crash fails a Criterion test, and the
 * header stays usable from programs that do not link Criterion. */
#ifndef NM_TESTS_ONNX_BUILD_H
#define NM_TESTS_ONNX_BUILD_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"

static inline void *ob_check(void *p)
{
    if (!p) {
        fprintf(stderr, "onnx_build: out of memory\n");
        abort();
    }
    return p;
}

static inline void *ob_malloc(size_t n)
{
    return ob_check(malloc(n ? n : 1));
}

static inline char *S(const char *s)
{
    return ob_check(strdup(s));
}

#define PUSH(arr, n, v)                                                    \
    do {                                                                   \
        (arr) = ob_check(realloc((arr), ((n) + 1) * sizeof *(arr)));       \
        (arr)[(n)++] = (v);                                                \
    } while (0)

/* An empty model (IR 7, opset 13) with a graph named "testnet". */
static inline Onnx__ModelProto *model_new(void)
{
    Onnx__ModelProto *mp = ob_malloc(sizeof *mp);
    Onnx__GraphProto *g = ob_malloc(sizeof *g);
    Onnx__OperatorSetIdProto *os = ob_malloc(sizeof *os);
    onnx__model_proto__init(mp);
    onnx__graph_proto__init(g);
    onnx__operator_set_id_proto__init(os);
    mp->has_ir_version = 1;
    mp->ir_version = 7;
    mp->producer_name = S("nmlab-test");
    os->domain = S("");
    os->has_version = 1;
    os->version = 13;
    PUSH(mp->opset_import, mp->n_opset_import, os);
    g->name = S("testnet");
    mp->graph = g;
    return mp;
}

/* A tensor with its name, data type and dims but no data yet; *numel gets
 * the product of the dims. */
static inline Onnx__TensorProto *tensor_head(const char *name, int32_t data_type, int nd,
                                             const int64_t *dims, int64_t *numel)
{
    Onnx__TensorProto *t = ob_malloc(sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = S(name);
    t->has_data_type = 1;
    t->data_type = data_type;
    int64_t n = 1;
    for (int i = 0; i < nd; i++) {
        PUSH(t->dims, t->n_dims, dims[i]);
        n *= dims[i];
    }
    *numel = n;
    return t;
}

/* raw_data of t: n values of `size` bytes (4 or 8) each, written
 * little-endian byte by byte, independently of the host's byte order. */
static inline void tensor_raw_le(Onnx__TensorProto *t, const void *v, int64_t n, int size)
{
    t->has_raw_data = 1;
    t->raw_data.len = (size_t)n * (size_t)size;
    t->raw_data.data = ob_malloc(t->raw_data.len);
    const unsigned char *src = v;
    for (int64_t i = 0; i < n; i++) {
        uint64_t b = 0;
        if (size == 4) {
            uint32_t b32;
            memcpy(&b32, src + 4 * i, 4);
            b = b32;
        } else {
            memcpy(&b, src + 8 * i, 8);
        }
        for (int k = 0; k < size; k++)
            t->raw_data.data[(size_t)size * (size_t)i + (size_t)k] = (uint8_t)(b >> (8 * k));
    }
}

/* A FLOAT tensor with the given dims and values, in raw_data (raw = 1)
 * or float_data. */
static inline Onnx__TensorProto *tensor_f32(const char *name, int nd, const int64_t *dims,
                                            const float *v, int raw)
{
    int64_t n;
    Onnx__TensorProto *t = tensor_head(name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, nd, dims, &n);
    if (raw) {
        tensor_raw_le(t, v, n, 4);
    } else {
        t->n_float_data = (size_t)n;
        t->float_data = ob_malloc((size_t)n * sizeof(float));
        memcpy(t->float_data, v, (size_t)n * sizeof(float));
    }
    return t;
}

/* A DOUBLE tensor, in raw_data (raw = 1) or double_data. */
static inline Onnx__TensorProto *tensor_f64(const char *name, int nd, const int64_t *dims,
                                            const double *v, int raw)
{
    int64_t n;
    Onnx__TensorProto *t = tensor_head(name, ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE, nd, dims, &n);
    if (raw) {
        tensor_raw_le(t, v, n, 8);
    } else {
        for (int64_t i = 0; i < n; i++)
            PUSH(t->double_data, t->n_double_data, v[i]);
    }
    return t;
}

/* A one-dimensional INT64 tensor of n values in int64_data. */
static inline Onnx__TensorProto *tensor_i64(const char *name, int n, const int64_t *v)
{
    int64_t d = n, numel;
    Onnx__TensorProto *t = tensor_head(name, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 1, &d, &numel);
    for (int i = 0; i < n; i++)
        PUSH(t->int64_data, t->n_int64_data, v[i]);
    return t;
}

static inline Onnx__TensorProto *add_init(Onnx__ModelProto *mp, Onnx__TensorProto *t)
{
    PUSH(mp->graph->initializer, mp->graph->n_initializer, t);
    return t;
}

/* Node op(inputs) -> outputs; inputs and outputs are comma-separated
 * (an empty item is an omitted optional input). name may be NULL. */
static inline Onnx__NodeProto *add_node(Onnx__ModelProto *mp, const char *op, const char *name,
                                        const char *inputs, const char *outputs)
{
    Onnx__NodeProto *n = ob_malloc(sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = S(op);
    if (name)
        n->name = S(name);
    const char *lists[2] = {inputs, outputs};
    for (int l = 0; l < 2; l++) {
        const char *q = lists[l];
        while (*q) {
            const char *e = strchr(q, ',');
            size_t len = e ? (size_t)(e - q) : strlen(q);
            char *item = ob_check(strndup(q, len));
            if (l == 0)
                PUSH(n->input, n->n_input, item);
            else
                PUSH(n->output, n->n_output, item);
            q += len;
            if (*q == ',')
                q++;
        }
    }
    PUSH(mp->graph->node, mp->graph->n_node, n);
    return n;
}

static inline Onnx__AttributeProto *attr_new(Onnx__NodeProto *n, const char *name,
                                             Onnx__AttributeProto__AttributeType type)
{
    Onnx__AttributeProto *a = ob_malloc(sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = S(name);
    a->has_type = 1;
    a->type = type;
    PUSH(n->attribute, n->n_attribute, a);
    return a;
}

static inline void attr_i(Onnx__NodeProto *n, const char *name, int64_t v)
{
    Onnx__AttributeProto *a = attr_new(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1;
    a->i = v;
}

static inline void attr_f(Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = attr_new(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1;
    a->f = v;
}

static inline void attr_s(Onnx__NodeProto *n, const char *name, const char *v)
{
    Onnx__AttributeProto *a = attr_new(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    a->has_s = 1;
    a->s.len = strlen(v);
    a->s.data = (uint8_t *)S(v);
}

static inline void attr_ints(Onnx__NodeProto *n, const char *name, int count, ...)
{
    Onnx__AttributeProto *a = attr_new(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    va_list ap;
    va_start(ap, count);
    for (int i = 0; i < count; i++) {
        int64_t v = va_arg(ap, int);
        PUSH(a->ints, a->n_ints, v);
    }
    va_end(ap);
}

/* A FLOAT tensor ValueInfo; dims < 0 become symbolic (-1 "N", other "H").
 * nd < 0: no type. */
static inline Onnx__ValueInfoProto *value_info(const char *name, int nd, const int64_t *dims)
{
    Onnx__ValueInfoProto *vi = ob_malloc(sizeof *vi);
    onnx__value_info_proto__init(vi);
    vi->name = S(name);
    if (nd < 0)
        return vi;
    Onnx__TypeProto *tp = ob_malloc(sizeof *tp);
    Onnx__TypeProto__Tensor *tt = ob_malloc(sizeof *tt);
    Onnx__TensorShapeProto *sh = ob_malloc(sizeof *sh);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    for (int i = 0; i < nd; i++) {
        Onnx__TensorShapeProto__Dimension *d = ob_malloc(sizeof *d);
        onnx__tensor_shape_proto__dimension__init(d);
        if (dims[i] < 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = S(dims[i] == -1 ? "N" : "H");
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = dims[i];
        }
        PUSH(sh->dim, sh->n_dim, d);
    }
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->type = tp;
    return vi;
}

static inline void add_input(Onnx__ModelProto *mp, const char *name, int nd, const int64_t *dims)
{
    PUSH(mp->graph->input, mp->graph->n_input, value_info(name, nd, dims));
}

static inline void add_output(Onnx__ModelProto *mp, const char *name, int nd, const int64_t *dims)
{
    PUSH(mp->graph->output, mp->graph->n_output, value_info(name, nd, dims));
}

static inline void add_vinfo(Onnx__ModelProto *mp, const char *name, int nd, const int64_t *dims)
{
    PUSH(mp->graph->value_info, mp->graph->n_value_info, value_info(name, nd, dims));
}

#endif
