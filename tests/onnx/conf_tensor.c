/* conf_tensor.c - TensorProto files of the ONNX test data, read into
 * doubles, and the elementwise comparison of ONNX's test runner. */
#include "conformance.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The test data's tensors are a few MB at most. */
#define CONF_MAX_PB ((size_t)1 << 28)

int conf_read_file(const char *path, size_t max, uint8_t **data, size_t *len, char *err, size_t errlen)
{
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap || cap >= max)
            break;
        uint8_t *p = realloc(buf, cap * 2);
        if (!p) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = p;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad || n >= max) {
        snprintf(err, errlen, "%s: %s", path, !buf ? "out of memory" : bad ? "read error" : "too large");
        free(buf);
        return -1;
    }
    *data = buf;
    *len = n;
    return 0;
}

Onnx__TensorProto *conf_proto_read(const char *path, char *err, size_t errlen)
{
    uint8_t *data;
    size_t len;
    if (conf_read_file(path, CONF_MAX_PB, &data, &len, err, errlen))
        return NULL;
    Onnx__TensorProto *t = onnx__tensor_proto__unpack(NULL, len, data);
    free(data);
    if (!t)
        snprintf(err, errlen, "%s: not a TensorProto", path);
    return t;
}

const char *conf_dtype_name(int32_t dt)
{
    static const char *names[] = {"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16",
                                  "INT32", "INT64", "STRING", "BOOL", "FLOAT16", "DOUBLE",
                                  "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16"};
    return dt >= 0 && dt < (int32_t)(sizeof names / sizeof names[0]) ? names[dt] : "unknown";
}

const char *conf_dims_str(const int64_t *dims, int ndim, char *buf, size_t len)
{
    size_t at = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (at < len)
        snprintf(buf + at, len - at, "]");
    return buf;
}

static uint64_t le(const uint8_t *p, size_t w)
{
    uint64_t v = 0;
    for (size_t i = w; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

/* Element i of raw little-endian data of type dt (width w). */
static double raw_at(int32_t dt, const uint8_t *p, size_t w, int64_t i)
{
    uint64_t b = le(p + (size_t)i * w, w);
    switch (dt) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: {
        uint32_t u = (uint32_t)b;
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
    }
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: {
        double d;
        memcpy(&d, &b, sizeof d);
        return d;
    }
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: return (int8_t)(uint8_t)b;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: return (int16_t)(uint16_t)b;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: return (int32_t)(uint32_t)b;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: return (double)(int64_t)b;
    default: return (double)b;  /* UINT8, UINT16, UINT32, BOOL */
    }
}

static size_t width_of(int32_t dt)
{
    switch (dt) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32:
        return 4;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
        return 8;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16:
        return 2;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL:
        return 1;
    default:
        return 0;
    }
}

int conf_tensor_read(const char *path, conf_tensor *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    Onnx__TensorProto *p = conf_proto_read(path, err, errlen);
    if (!p)
        return -1;
    int rc = -1;
    int32_t dt = p->data_type;
    size_t w = width_of(dt);
    int64_t count = 1;
    if (p->n_dims > 8) {
        snprintf(err, errlen, "%s: %zu dimensions", path, p->n_dims);
        goto out;
    }
    for (size_t i = 0; i < p->n_dims; i++) {
        if (p->dims[i] < 0 || (p->dims[i] && count > ((int64_t)1 << 32) / p->dims[i])) {
            snprintf(err, errlen, "%s: bad dims", path);
            goto out;
        }
        count *= p->dims[i];
        t->dims[i] = p->dims[i];
    }
    t->ndim = (int)p->n_dims;
    t->dtype = dt;
    t->count = count;
    snprintf(t->name, sizeof t->name, "%s", p->name ? p->name : "");
    if (!w) {
        snprintf(err, errlen, "%s: element type %s is not read by the harness", path, conf_dtype_name(dt));
        goto out;
    }
    /* The typed field that holds this type when raw_data is empty. */
    size_t typed;
    switch (dt) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: typed = p->n_float_data; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: typed = p->n_double_data; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: typed = p->n_int64_data; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: typed = 0; break; /* uint64_data: not in onnx.proto */
    default: typed = p->n_int32_data; break;
    }
    int raw = p->raw_data.len > 0 || typed == 0;
    if (raw ? p->raw_data.len != (size_t)count * w : typed != (size_t)count) {
        snprintf(err, errlen, "%s: dims hold %lld elements but the data has %zu %s", path, (long long)count,
                 raw ? p->raw_data.len : typed, raw ? "bytes" : "values");
        goto out;
    }
    t->v = malloc(((size_t)count + 1) * sizeof *t->v);
    if (!t->v) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    for (int64_t i = 0; i < count; i++) {
        if (raw)
            t->v[i] = raw_at(dt, p->raw_data.data, w, i);
        else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
            t->v[i] = p->float_data[i];
        else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE)
            t->v[i] = p->double_data[i];
        else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT64)
            t->v[i] = (double)p->int64_data[i];
        else if (dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT32 || dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT16 ||
                 dt == ONNX__TENSOR_PROTO__DATA_TYPE__INT8)
            t->v[i] = p->int32_data[i];
        else
            t->v[i] = (uint32_t)p->int32_data[i];
    }
    rc = 0;
out:
    onnx__tensor_proto__free_unpacked(p, NULL);
    if (rc) {
        free(t->v);
        t->v = NULL;
    }
    return rc;
}

void conf_tensor_free(conf_tensor *t)
{
    free(t->v);
    memset(t, 0, sizeof *t);
}

/* numpy.isclose with equal_nan, as assert_allclose uses it. */
static int close_enough(double got, double ref, double rtol, double atol)
{
    if (isnan(ref) || isnan(got))
        return isnan(ref) && isnan(got);
    if (isinf(ref) || isinf(got))
        return got == ref;
    return fabs(got - ref) <= atol + rtol * fabs(ref);
}

int conf_compare(const conf_tensor *got, const conf_tensor *ref, double rtol, double atol, char *err,
                 size_t errlen)
{
    char a[96], b[96];
    if (got->count != ref->count) {
        snprintf(err, errlen, "output '%s' has %lld elements %s, expected %lld %s", ref->name,
                 (long long)got->count, conf_dims_str(got->dims, got->ndim, a, sizeof a),
                 (long long)ref->count, conf_dims_str(ref->dims, ref->ndim, b, sizeof b));
        return -1;
    }
    int64_t bad = 0, first = -1;
    double worst = 0;
    for (int64_t i = 0; i < ref->count; i++) {
        if (close_enough(got->v[i], ref->v[i], rtol, atol))
            continue;
        if (first < 0)
            first = i;
        bad++;
        double d = fabs(got->v[i] - ref->v[i]);
        if (!(d <= worst))
            worst = d;
    }
    if (!bad)
        return 0;
    snprintf(err, errlen, "output '%s' %s: %lld of %lld elements differ; first at %lld: got %.9g, expected %.9g "
             "(largest |difference| %.3g)", ref->name, conf_dims_str(ref->dims, ref->ndim, a, sizeof a),
             (long long)bad, (long long)ref->count, (long long)first, got->v[first], ref->v[first], worst);
    return -1;
}
