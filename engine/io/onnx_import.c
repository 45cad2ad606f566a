/* onnx_import.c - ONNX model files -> nm_model.
 *
 * The file is read whole (bounded), unpacked with the protobuf-c code that
 * protoc-c generates from onnx.proto, and its graph is walked node by node in
 * the file's (topological) order. Each supported node becomes one nmlab layer
 * or is folded away; every ONNX value name is bound to the layer that
 * produces it, which gives the layers their `inputs` and so the channel
 * graph.
 *
 * Three kinds of trouble, kept apart:
 *   - a broken file (not protobuf, no graph, no input shape, a tensor whose
 *     dims disagree with its bytes or with the layer): NULL and a message;
 *   - an operator or setting nmlab does not model (Softmax, dilated conv,
 *     asymmetric padding): the node is skipped, its outputs become "dead",
 *     and it is named in the warnings;
 *   - a supported node that reads a dead value: the import stops there and
 *     returns the layers built so far, with a warning saying where.
 *
 * Tensor data is only copied after its size has been checked against the
 * bytes actually present, so a hostile file cannot make us allocate more
 * than it holds. */
#include "nmio.h"

#include "fileutil.h"
#include "onnx.pb-c.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* protobuf's own limit for one message is 2 GiB. */
#define ONNX_MAX_FILE (((size_t)1 << 31) - 1)
/* Bounds for geometry attributes; beyond them the file is not a real model. */
#define ONNX_MAX_KERNEL (1 << 16)
#define ONNX_MAX_DIM (1 << 24)
/* Real networks have at most a few thousand layers; building the model
 * costs O(layers^2) name checks, so a hostile file stops here. */
#define ONNX_MAX_LAYERS 8192

/* Handler results besides NM_OK / NM_ERR. */
#define R_SKIP 1    /* node not imported: its outputs are dead */
#define R_STOP 2    /* node needs a dead value: stop the import here */

/* Codes a value name maps to, besides layer indices and NM_INPUT. */
#define VAL_EXTRA_INPUT (-4)   /* a second graph input: not modelled */
#define VAL_DEAD0 (-16)        /* VAL_DEAD0 - k: output of skipped node k */

/* ------------------------------------------------------------------ */
/* Growable text for the warnings.                                     */

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_vprintf(sbuf *b, const char *fmt, va_list ap)
{
    if (b->oom)
        return;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return;
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + (size_t)n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    b->len += (size_t)n;
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(b, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ */
/* String -> int map (open addressing). Keys are borrowed: they point  */
/* into the unpacked protobuf message, which outlives the map.         */

typedef struct {
    const char **key;
    int *val;
    size_t cap, count;
} name_map;

static size_t str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)h;
}

static int *map_ref(const name_map *mp, const char *key)
{
    if (!mp->cap)
        return NULL;
    for (size_t i = str_hash(key) & (mp->cap - 1);; i = (i + 1) & (mp->cap - 1)) {
        if (!mp->key[i])
            return NULL;
        if (strcmp(mp->key[i], key) == 0)
            return &mp->val[i];
    }
}

static int map_put(name_map *mp, const char *key, int val);

static int map_grow(name_map *mp)
{
    name_map big = {0};
    big.cap = mp->cap ? mp->cap * 2 : 64;
    big.key = calloc(big.cap, sizeof *big.key);
    big.val = calloc(big.cap, sizeof *big.val);
    if (!big.key || !big.val) {
        free(big.key);
        free(big.val);
        return nm_seterr("out of memory");
    }
    for (size_t i = 0; i < mp->cap; i++)
        if (mp->key[i])
            map_put(&big, mp->key[i], mp->val[i]);
    free(mp->key);
    free(mp->val);
    *mp = big;
    return NM_OK;
}

/* Inserts or overwrites. NM_ERR only when out of memory. */
static int map_put(name_map *mp, const char *key, int val)
{
    int *ref = map_ref(mp, key);
    if (ref) {
        *ref = val;
        return NM_OK;
    }
    if ((mp->count + 1) * 2 > mp->cap && map_grow(mp) != NM_OK)
        return NM_ERR;
    size_t i = str_hash(key) & (mp->cap - 1);
    while (mp->key[i])
        i = (i + 1) & (mp->cap - 1);
    mp->key[i] = key;
    mp->val[i] = val;
    mp->count++;
    return NM_OK;
}

static int map_get(const name_map *mp, const char *key, int dflt)
{
    const int *ref = map_ref(mp, key);
    return ref ? *ref : dflt;
}

static void map_free(name_map *mp)
{
    free(mp->key);
    free(mp->val);
    memset(mp, 0, sizeof *mp);
}

/* ------------------------------------------------------------------ */
/* The importer's state.                                               */

typedef struct {
    const Onnx__GraphProto *g;
    nm_model *m;
    name_map consts;    /* value name -> index in ctab (initializers, Constant outputs) */
    name_map values;    /* value name -> layer, NM_INPUT, VAL_EXTRA_INPUT or dead */
    name_map uses;      /* value name -> nodes reading it (+1 if a graph output) */
    name_map node_names;/* node name -> how many nodes carry it */
    name_map op_seq;    /* op_type -> next k for generated names "<op>_<k>" */
    name_map shapes;    /* value name -> index in g->value_info, or n_value_info + output index */
    const Onnx__TensorProto **ctab;
    int n_ctab, cap_ctab;
    /* Per layer: how many value names are bound to it and how many reads
     * those names have; a layer whose names have one read besides the
     * alias chain feeds only the node reading it (see fold_bias). */
    int *lay_names, *lay_uses, cap_lay;
    const Onnx__NodeProto *node;    /* node being imported */
    int node_k;
    char where[160];                /* "node 'conv1' (Conv)" */
    sbuf warn;
    nm_progress_fn progress;        /* reported per node, may be NULL */
    void *progress_ud;
} importer;

static const char *str_or(const char *s, const char *dflt)
{
    return s && *s ? s : dflt;
}

static const char *node_label(const Onnx__NodeProto *n, int k, char *buf, size_t len)
{
    if (n->name && *n->name)
        snprintf(buf, len, "node '%s' (%s)", n->name, str_or(n->op_type, "?"));
    else
        snprintf(buf, len, "node #%d (%s)", k, str_or(n->op_type, "?"));
    return buf;
}

/* Sets the message "<where>: <fmt...>". Returns NM_ERR. */
static int node_err(importer *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int node_err(importer *im, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!im->where[0])
        return nm_seterr("%s", msg);
    return nm_seterr("%s: %s", im->where, msg);
}

/* Records why the current node is skipped. Returns R_SKIP. */
static int node_skip(importer *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int node_skip(importer *im, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_printf(&im->warn, "%s skipped: ", im->where);
    sb_vprintf(&im->warn, fmt, ap);
    sb_printf(&im->warn, "\n");
    va_end(ap);
    return R_SKIP;
}

static void warn(importer *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(importer *im, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(&im->warn, fmt, ap);
    sb_printf(&im->warn, "\n");
    va_end(ap);
}

static const char *dims_str(const int64_t *d, size_t n, char *buf, size_t len)
{
    size_t at = 0;
    at += (size_t)snprintf(buf, len, "[");
    for (size_t i = 0; i < n && at < len; i++)
        at += (size_t)snprintf(buf + at, len - at, "%s%lld", i ? ", " : "", (long long)d[i]);
    if (at < len)
        snprintf(buf + at, len - at, "]");
    return buf;
}

/* ------------------------------------------------------------------ */
/* Tensors.                                                            */

static const char *tname(const Onnx__TensorProto *t)
{
    return str_or(t->name, "(unnamed)");
}

/* Element count from t's dims: each non-negative, the product at most
 * 2^40 (checked without overflow). The data is checked separately. */
static int tensor_count(importer *im, const Onnx__TensorProto *t, int64_t *count)
{
    int64_t c = 1;
    if (t->n_dims > 8)
        return node_err(im, "tensor '%s' has %zu dimensions", tname(t), t->n_dims);
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0)
            return node_err(im, "tensor '%s' has negative dimension %lld", tname(t),
                            (long long)t->dims[i]);
        if (t->dims[i] && c > ((int64_t)1 << 40) / t->dims[i])
            return node_err(im, "tensor '%s' has impossibly large dims", tname(t));
        c *= t->dims[i];
    }
    *count = c;
    return NM_OK;
}

static const char *dtype_name(int32_t dt)
{
    static const char *names[] = {"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16",
                                  "INT32", "INT64", "STRING", "BOOL", "FLOAT16", "DOUBLE",
                                  "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16"};
    return dt >= 0 && dt < (int32_t)(sizeof names / sizeof names[0]) ? names[dt] : "unknown";
}

/* Bytes per element of ONNX data type dt, and how many elements its typed
 * field holds (*typed = -1 when that field is not one onnx.proto reads).
 * 0 for types without a fixed width (STRING, UNDEFINED, unknown). */
static size_t dtype_width(const Onnx__TensorProto *t, int64_t *typed)
{
    *typed = (int64_t)t->n_int32_data;
    switch (t->data_type) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
        *typed = (int64_t)t->n_float_data;
        return 4;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
        *typed = (int64_t)t->n_double_data;
        return 8;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
        *typed = (int64_t)t->n_int64_data;
        return 8;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
        return 4;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16: case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16:
        return 2;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL:
        return 1;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32:
        *typed = -1;
        return 4;
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: case ONNX__TENSOR_PROTO__DATA_TYPE__COMPLEX64:
        *typed = -1;
        return 8;
    case ONNX__TENSOR_PROTO__DATA_TYPE__COMPLEX128:
        *typed = -1;
        return 16;
    default:
        *typed = -1;
        return 0;
    }
}

static int is_external(const Onnx__TensorProto *t)
{
    return t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
}

/* Checks that t's data holds exactly the `count` elements its dims promise,
 * in raw_data (then *raw = 1) or in its typed field. Tensors whose size
 * cannot be told (strings, external data) pass. */
static int tensor_size_check(importer *im, const Onnx__TensorProto *t, int64_t count, int *raw)
{
    int64_t typed;
    size_t width = dtype_width(t, &typed);
    char db[96];
    *raw = t->raw_data.len > 0;
    if (!width || is_external(t))
        return NM_OK;
    if (*raw) {
        if ((uint64_t)t->raw_data.len != (uint64_t)count * width)
            return node_err(im, "tensor '%s' has dims %s (%lld elements of %zu bytes) but holds %zu bytes",
                            tname(t), dims_str(t->dims, t->n_dims, db, sizeof db),
                            (long long)count, width, t->raw_data.len);
    } else if (typed >= 0 && typed != count) {
        return node_err(im, "tensor '%s' has dims %s (%lld elements) but holds %lld values",
                        tname(t), dims_str(t->dims, t->n_dims, db, sizeof db), (long long)count,
                        (long long)typed);
    }
    return NM_OK;
}

/* Checks that t is of a type in the `ok` set (bit per ONNX data type),
 * stored in the file, and holds exactly `count` elements. */
static int tensor_check_data(importer *im, const Onnx__TensorProto *t, int64_t count,
                             unsigned ok, int *raw)
{
    int32_t dt = t->data_type;
    if (is_external(t))
        return node_err(im, "tensor '%s' is stored in an external file, which nmlab does not read",
                        tname(t));
    if (dt < 0 || dt > 31 || !(ok & (1u << dt)))
        return node_err(im, "tensor '%s' has data type %s (%d), which nmlab does not read here",
                        tname(t), dtype_name(dt), (int)dt);
    return tensor_size_check(im, t, count, raw);
}

static uint64_t le_bytes(const uint8_t *p, size_t width)
{
    uint64_t v = 0;
    for (size_t i = width; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

#define FLOAT_TYPES ((1u << ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) | (1u << ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE))
#define INT_TYPES ((1u << ONNX__TENSOR_PROTO__DATA_TYPE__INT64) | (1u << ONNX__TENSOR_PROTO__DATA_TYPE__INT32))

/* Element i of a checked FLOAT or DOUBLE tensor. */
static float tensor_float_at(const Onnx__TensorProto *t, int raw, int64_t i)
{
    int dbl = t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;
    if (!raw)
        return dbl ? (float)t->double_data[i] : t->float_data[i];
    if (dbl) {
        uint64_t b = le_bytes(t->raw_data.data + 8 * i, 8);
        double d;
        memcpy(&d, &b, sizeof d);
        return (float)d;
    }
    uint32_t b = (uint32_t)le_bytes(t->raw_data.data + 4 * i, 4);
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

/* Element i of a checked INT64 or INT32 tensor. */
static int64_t tensor_int_at(const Onnx__TensorProto *t, int raw, int64_t i)
{
    int i64 = t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    if (!raw)
        return i64 ? t->int64_data[i] : t->int32_data[i];
    if (i64)
        return (int64_t)le_bytes(t->raw_data.data + 8 * i, 8);
    return (int32_t)(uint32_t)le_bytes(t->raw_data.data + 4 * i, 4);
}

/* A new f32 tensor with t's elements and the shape `want` (ndim dims),
 * which t's own dims must equal exactly. `role` names the parameter in
 * messages ("weight", "bias"). */
static nm_tensor *param_tensor(importer *im, const Onnx__TensorProto *t, const char *role,
                               int ndim, const int64_t *want)
{
    int64_t count;
    int raw;
    if (tensor_count(im, t, &count) != NM_OK)
        return NULL;
    int same = t->n_dims == (size_t)ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->dims[i] == want[i];
    if (!same) {
        char a[96], b[96];
        node_err(im, "%s '%s' has dims %s, expected %s", role, tname(t),
                 dims_str(t->dims, t->n_dims, a, sizeof a), dims_str(want, (size_t)ndim, b, sizeof b));
        return NULL;
    }
    if (tensor_check_data(im, t, count, FLOAT_TYPES, &raw) != NM_OK)
        return NULL;
    nm_tensor *out = nm_tensor_new(NM_F32, ndim, want);
    if (!out) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", nm_errmsg());
        node_err(im, "%s '%s': %s", role, tname(t), msg);
        return NULL;
    }
    float *d = nm_f32(out);
    const uint16_t one = 1;
    if (raw && t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT && *(const uint8_t *)&one) {
        memcpy(d, t->raw_data.data, (size_t)count * sizeof *d); /* little-endian host */
        return out;
    }
    for (int64_t i = 0; i < count; i++)
        d[i] = tensor_float_at(t, raw, i);
    return out;
}

/* ------------------------------------------------------------------ */
/* Node inputs and attributes.                                         */

static const char *input_name(const Onnx__NodeProto *n, int i)
{
    return (size_t)i < n->n_input && n->input[i] && *n->input[i] ? n->input[i] : NULL;
}

static const Onnx__TensorProto *const_of(const importer *im, const char *name)
{
    int k = name ? map_get(&im->consts, name, -1) : -1;
    return k >= 0 ? im->ctab[k] : NULL;
}

static int ctab_add(importer *im, const char *name, const Onnx__TensorProto *t)
{
    if (im->n_ctab == im->cap_ctab) {
        int cap = im->cap_ctab ? im->cap_ctab * 2 : 64;
        const Onnx__TensorProto **p = realloc(im->ctab, (size_t)cap * sizeof *p);
        if (!p)
            return nm_seterr("out of memory");
        im->ctab = p;
        im->cap_ctab = cap;
    }
    im->ctab[im->n_ctab] = t;
    return map_put(&im->consts, name, im->n_ctab++);
}

/* The layer (or NM_INPUT) behind activation input i of the current node.
 * R_STOP with a warning when it comes from a skipped node or nowhere. */
static int act_input(importer *im, int i, int *idx)
{
    const Onnx__NodeProto *n = im->node;
    const char *name = input_name(n, i);
    if (!name)
        return node_err(im, "input %d is missing", i);
    int v = map_get(&im->values, name, VAL_DEAD0 + 1);
    if (v >= NM_INPUT) {
        *idx = v;
        return NM_OK;
    }
    if (v == VAL_DEAD0 + 1)
        warn(im, "import stopped at %s: its input '%s' is not produced by any earlier node", im->where, name);
    else if (v == VAL_EXTRA_INPUT)
        warn(im, "import stopped at %s: its input '%s' is a second graph input, which nmlab does not model",
             im->where, name);
    else {
        char lb[160];
        int k = VAL_DEAD0 - v;
        warn(im, "import stopped at %s: its input '%s' comes from skipped %s", im->where, name,
             node_label(im->g->node[k], k, lb, sizeof lb));
    }
    return R_STOP;
}

/* The constant tensor at input i, or NULL (no message). */
static const Onnx__TensorProto *const_input(const importer *im, int i)
{
    return const_of(im, input_name(im->node, i));
}

static const Onnx__AttributeProto *attr_find(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

static int attr_is(const Onnx__AttributeProto *a, Onnx__AttributeProto__AttributeType t, int has)
{
    return a->has_type ? a->type == t : has;
}

static int attr_int(importer *im, const char *name, int64_t dflt, int64_t *out)
{
    const Onnx__AttributeProto *a = attr_find(im->node, name);
    *out = dflt;
    if (!a)
        return NM_OK;
    if (!attr_is(a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT, a->has_i))
        return node_err(im, "attribute '%s' is not an integer", name);
    *out = a->i;
    return NM_OK;
}

static int attr_float(importer *im, const char *name, float dflt, float *out, int *present)
{
    const Onnx__AttributeProto *a = attr_find(im->node, name);
    *out = dflt;
    if (present)
        *present = a != NULL;
    if (!a)
        return NM_OK;
    if (!attr_is(a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT, a->has_f))
        return node_err(im, "attribute '%s' is not a float", name);
    *out = a->f;
    return NM_OK;
}

/* A list of ints; *count = 0 when absent. */
static int attr_ints(importer *im, const char *name, const int64_t **v, size_t *count)
{
    const Onnx__AttributeProto *a = attr_find(im->node, name);
    *v = NULL;
    *count = 0;
    if (!a)
        return NM_OK;
    if (!attr_is(a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS, a->n_ints > 0))
        return node_err(im, "attribute '%s' is not a list of integers", name);
    *v = a->ints;
    *count = a->n_ints;
    return NM_OK;
}

/* A string attribute copied into buf ("" when absent). */
static int attr_str(importer *im, const char *name, char *buf, size_t len)
{
    const Onnx__AttributeProto *a = attr_find(im->node, name);
    buf[0] = '\0';
    if (!a)
        return NM_OK;
    if (!attr_is(a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING, a->has_s))
        return node_err(im, "attribute '%s' is not a string", name);
    size_t n = a->s.len < len - 1 ? a->s.len : len - 1;
    if (n)  /* an empty string has data == NULL; memcpy(buf, NULL, 0) is UB */
        memcpy(buf, a->s.data, n);
    buf[n] = '\0';
    return NM_OK;
}

/* Spatial geometry of Conv and pools from kernel_shape, strides, pads,
 * dilations, auto_pad (and ceil_mode for pools), for an in_h x in_w input.
 * kh/kw hold the kernel from the weight (0 = must come from kernel_shape).
 * nmlab pads symmetrically: anything else is R_SKIP. */
typedef struct {
    int kh, kw, sh, sw, ph, pw;
} geom;

static int same_pad(int in, int k, int s, int *p)
{
    int64_t out = ((int64_t)in + s - 1) / s;
    int64_t total = (out - 1) * s + k - in;
    if (total < 0)
        total = 0;
    *p = (int)(total / 2);
    return total % 2 == 0;
}

static int read_geom(importer *im, int in_h, int in_w, int pool, geom *g)
{
    const int64_t *ks, *st, *pd, *dl;
    size_t nks, nst, npd, ndl;
    char autopad[32];
    if (attr_ints(im, "kernel_shape", &ks, &nks) || attr_ints(im, "strides", &st, &nst) ||
        attr_ints(im, "pads", &pd, &npd) || attr_ints(im, "dilations", &dl, &ndl) ||
        attr_str(im, "auto_pad", autopad, sizeof autopad))
        return NM_ERR;
    if (nks) {
        if (nks != 2)
            return node_skip(im, "kernel_shape has %zu values; nmlab models 2-D kernels only", nks);
        if (ks[0] < 1 || ks[1] < 1 || ks[0] > ONNX_MAX_KERNEL || ks[1] > ONNX_MAX_KERNEL)
            return node_err(im, "kernel_shape [%lld, %lld] is out of range", (long long)ks[0],
                            (long long)ks[1]);
        if (g->kh && (ks[0] != g->kh || ks[1] != g->kw))
            return node_err(im, "kernel_shape [%lld, %lld] differs from the weight's %dx%d",
                            (long long)ks[0], (long long)ks[1], g->kh, g->kw);
        g->kh = (int)ks[0], g->kw = (int)ks[1];
    } else if (!g->kh) {
        return node_err(im, "attribute 'kernel_shape' is missing");
    }
    g->sh = g->sw = 1;
    if (nst) {
        if (nst != 2 || st[0] < 1 || st[1] < 1 || st[0] > ONNX_MAX_KERNEL || st[1] > ONNX_MAX_KERNEL)
            return node_err(im, "strides must be two values in 1..%d", ONNX_MAX_KERNEL);
        g->sh = (int)st[0], g->sw = (int)st[1];
    }
    for (size_t i = 0; i < ndl; i++)
        if (dl[i] != 1)
            return node_skip(im, "dilation %lld is not modelled", (long long)dl[i]);
    g->ph = g->pw = 0;
    if (strcmp(autopad, "SAME_UPPER") == 0 || strcmp(autopad, "SAME_LOWER") == 0) {
        if (!same_pad(in_h, g->kh, g->sh, &g->ph) || !same_pad(in_w, g->kw, g->sw, &g->pw))
            return node_skip(im, "auto_pad %s needs asymmetric padding here", autopad);
    } else if (autopad[0] && strcmp(autopad, "NOTSET") != 0 && strcmp(autopad, "VALID") != 0) {
        return node_err(im, "unknown auto_pad '%s'", autopad);
    } else if (npd && strcmp(autopad, "VALID") != 0) {
        if (npd != 4)
            return node_err(im, "pads has %zu values, expected 4", npd);
        for (int i = 0; i < 4; i++)
            if (pd[i] < 0 || pd[i] > ONNX_MAX_KERNEL)
                return node_err(im, "pad %lld is out of range", (long long)pd[i]);
        if (pd[0] != pd[2] || pd[1] != pd[3])
            return node_skip(im, "asymmetric pads [%lld, %lld, %lld, %lld] are not modelled",
                             (long long)pd[0], (long long)pd[1], (long long)pd[2], (long long)pd[3]);
        g->ph = (int)pd[0], g->pw = (int)pd[1];
    }
    if (pool) {
        int64_t ceil_mode;
        if (attr_int(im, "ceil_mode", 0, &ceil_mode))
            return NM_ERR;
        /* ceil_mode only matters when the last window is partial. */
        if (ceil_mode && ((in_h + 2 * g->ph - g->kh) % g->sh || (in_w + 2 * g->pw - g->kw) % g->sw))
            return node_skip(im, "ceil_mode=1 changes the output size here, nmlab rounds down");
    }
    return NM_OK;
}

/* ------------------------------------------------------------------ */
/* Binding values to layers.                                           */

/* Checks a layer's computed shape against the file's declared shape of
 * `name` (value_info or graph output) when that is fully known; a mismatch
 * is a warning. */
static void check_declared_shape(importer *im, const char *name, int L)
{
    const Onnx__GraphProto *g = im->g;
    int k = map_get(&im->shapes, name, -1);
    if (k < 0)
        return;
    const Onnx__ValueInfoProto *vi = (size_t)k < g->n_value_info ? g->value_info[k]
                                                                 : g->output[(size_t)k - g->n_value_info];
    if (!vi->type || vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
        !vi->type->tensor_type->shape)
        return;
    const Onnx__TensorShapeProto *s = vi->type->tensor_type->shape;
    int64_t d[4] = {0};
    if (s->n_dim < 2 || s->n_dim > 4)
        return;
    for (size_t i = 1; i < s->n_dim; i++) { /* the batch dimension is ignored */
        if (s->dim[i]->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
            return; /* symbolic: nothing to compare */
        d[i] = s->dim[i]->dim_value;
    }
    int c, h, w;
    nm_model_out_shape(im->m, L, &c, &h, &w);
    int64_t fc, fh, fw; /* the file's shape as nmlab's (C, H, W) */
    if (s->n_dim == 4)
        fc = d[1], fh = d[2], fw = d[3];
    else if (s->n_dim == 3)
        fc = d[2], fh = d[1], fw = 1;   /* [N, T, F] tokens */
    else
        fc = d[1], fh = 1, fw = 1;
    if (fc != c || fh != h || fw != w) {
        char db[96];
        const Onnx__TensorShapeProto__Dimension *b = s->dim[0];
        dims_str(d, s->n_dim, db, sizeof db);
        /* show the batch dimension as the file names it */
        char batch[32] = "N";
        if (b->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
            snprintf(batch, sizeof batch, "%lld", (long long)b->dim_value);
        else if (b->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM && b->dim_param)
            snprintf(batch, sizeof batch, "%s", b->dim_param);
        warn(im, "value '%s' has shape [%s%s in the file but nmlab computes (%d, %d, %d) per sample",
             name, batch, strchr(db, ','), c, h, w);
    }
}

/* Binds value `name` to layer L (or NM_INPUT) and counts it for fold_bias. */
static int bind(importer *im, const char *name, int L)
{
    if (L >= 0 && L >= im->cap_lay) {
        int cap = im->cap_lay ? im->cap_lay * 2 : 64;
        while (cap <= L)
            cap *= 2;
        int *a = realloc(im->lay_names, (size_t)cap * sizeof *a);
        if (a)
            im->lay_names = a;
        int *b = realloc(im->lay_uses, (size_t)cap * sizeof *b);
        if (b)
            im->lay_uses = b;
        if (!a || !b)
            return nm_seterr("out of memory");
        memset(a + im->cap_lay, 0, (size_t)(cap - im->cap_lay) * sizeof *a);
        memset(b + im->cap_lay, 0, (size_t)(cap - im->cap_lay) * sizeof *b);
        im->cap_lay = cap;
    }
    if (!name)
        return NM_OK;
    if (map_put(&im->values, name, L) != NM_OK)
        return NM_ERR;
    if (L < 0)
        return NM_OK;
    im->lay_names[L]++;
    im->lay_uses[L] += map_get(&im->uses, name, 0);
    check_declared_shape(im, name, L);
    return NM_OK;
}

/* Marks every output of node k dead (from `first` on). */
static int kill_outputs(importer *im, const Onnx__NodeProto *n, int k, size_t first)
{
    for (size_t i = first; i < n->n_output; i++)
        if (n->output[i] && *n->output[i] && map_put(&im->values, n->output[i], VAL_DEAD0 - k))
            return NM_ERR;
    return NM_OK;
}

static const char *output_name(const Onnx__NodeProto *n)
{
    return n->n_output && n->output[0] && *n->output[0] ? n->output[0] : NULL;
}

/* The layer name for the current node: its own name when present, short
 * enough and unique in the graph, else "<op_type>_<k>". */
static int layer_name(importer *im, char *buf)
{
    const Onnx__NodeProto *n = im->node;
    if (n->name && *n->name && strlen(n->name) < NM_NAME_MAX &&
        map_get(&im->node_names, n->name, 0) == 1 && nm_model_find(im->m, n->name) < 0) {
        snprintf(buf, NM_NAME_MAX, "%s", n->name);
        return NM_OK;
    }
    const char *op = str_or(n->op_type, "node");
    int k = map_get(&im->op_seq, op, 0);
    for (;; k++) {
        snprintf(buf, NM_NAME_MAX, "%.40s_%d", op, k);
        if (nm_model_find(im->m, buf) < 0 && !map_ref(&im->node_names, buf))
            break;
    }
    return map_put(&im->op_seq, op, k + 1);
}

static void layer_drop(nm_layer *l)
{
    nm_tensor *ts[] = {l->weight, l->bias, l->mask, l->filters, l->in_chans,
                       l->gamma, l->beta, l->mean, l->var};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        nm_tensor_release(ts[i]);
}

/* Appends l (the model adopts its tensors) and binds the node's first
 * output to it. On failure l's tensors are released. */
static int add_layer(importer *im, nm_layer *l)
{
    int L = nm_model_append(im->m, l);
    if (L < 0) {
        char msg[768];
        snprintf(msg, sizeof msg, "%s", nm_errmsg());
        layer_drop(l);
        return node_err(im, "%s", msg);
    }
    return bind(im, output_name(im->node), L);
}

static int start_layer(importer *im, nm_layer *l, nm_layer_kind kind, int input)
{
    memset(l, 0, sizeof *l);
    l->kind = kind;
    l->n_inputs = 1;
    l->inputs[0] = input;
    return layer_name(im, l->name);
}

/* ------------------------------------------------------------------ */
/* Operators.                                                          */

/* Conv: weight [C_out, C_in/group, kh, kw], optional bias [C_out].
 * group = C_in = C_out (> 1) is a depthwise conv. */
static int op_conv(importer *im)
{
    int x, rc = act_input(im, 0, &x);
    if (rc)
        return rc;
    const Onnx__TensorProto *W = const_input(im, 1);
    if (!W)
        return node_skip(im, "its weight '%s' is not an initializer",
                         str_or(input_name(im->node, 1), "(none)"));
    if (W->n_dims != 4)
        return node_skip(im, "weight '%s' has %zu dimensions; nmlab models 2-D convolutions",
                         tname(W), W->n_dims);
    int c, h, w;
    nm_model_out_shape(im->m, x, &c, &h, &w);
    int64_t group;
    if (attr_int(im, "group", 1, &group))
        return NM_ERR;
    if (group < 1 || group > c || c % group)
        return node_err(im, "group %lld does not divide the %d input channels", (long long)group, c);
    int64_t cout = W->dims[0];
    if (cout < 1 || cout > ONNX_MAX_DIM || cout % group)
        return node_err(im, "weight '%s' has %lld filters, which group %lld does not divide",
                        tname(W), (long long)cout, (long long)group);
    if (W->dims[2] < 1 || W->dims[3] < 1 || W->dims[2] > ONNX_MAX_KERNEL || W->dims[3] > ONNX_MAX_KERNEL)
        return node_err(im, "weight '%s' has an impossible kernel size", tname(W));
    geom g = {.kh = (int)W->dims[2], .kw = (int)W->dims[3]};
    if ((rc = read_geom(im, h, w, 0, &g)))
        return rc;
    int dw = group > 1 && group == c && cout == c;
    nm_layer l;
    if (start_layer(im, &l, dw ? NM_LAYER_DWCONV : NM_LAYER_CONV, x))
        return NM_ERR;
    l.out_c = (int)cout;
    l.kh = g.kh, l.kw = g.kw, l.stride_h = g.sh, l.stride_w = g.sw, l.pad_h = g.ph, l.pad_w = g.pw;
    l.groups = (int)group;
    int64_t wshape[4] = {cout, c / group, g.kh, g.kw};
    if (!(l.weight = param_tensor(im, W, "weight", 4, wshape)))
        return NM_ERR;
    if (input_name(im->node, 2)) {
        const Onnx__TensorProto *B = const_input(im, 2);
        if (!B) {
            layer_drop(&l);
            return node_skip(im, "its bias '%s' is not an initializer", input_name(im->node, 2));
        }
        if (!(l.bias = param_tensor(im, B, "bias", 1, &cout))) {
            layer_drop(&l);
            return NM_ERR;
        }
    }
    return add_layer(im, &l);
}

/* Gemm: Y = alpha * A * B' + beta * C with B' = B^T when transB; nmlab's
 * linear weight is [out, in], so B is transposed when transB = 0. alpha
 * and beta other than 1 are folded into the weight and bias (warned). */
static int op_gemm(importer *im)
{
    int x, rc = act_input(im, 0, &x);
    if (rc)
        return rc;
    int64_t ta, tb;
    float alpha, beta;
    if (attr_int(im, "transA", 0, &ta) || attr_int(im, "transB", 0, &tb) ||
        attr_float(im, "alpha", 1.0f, &alpha, NULL) || attr_float(im, "beta", 1.0f, &beta, NULL))
        return NM_ERR;
    if (ta)
        return node_skip(im, "transA=1 is not modelled");
    const Onnx__TensorProto *B = const_input(im, 1);
    if (!B)
        return node_skip(im, "its weight '%s' is not an initializer",
                         str_or(input_name(im->node, 1), "(none)"));
    if (B->n_dims != 2)
        return node_err(im, "weight '%s' has %zu dimensions, Gemm needs 2", tname(B), B->n_dims);
    int c, h, w;
    nm_model_out_shape(im->m, x, &c, &h, &w);
    int64_t in = tb ? B->dims[1] : B->dims[0], out = tb ? B->dims[0] : B->dims[1];
    if (in != c)
        return node_err(im, "weight '%s' expects %lld inputs but its input has %d features",
                        tname(B), (long long)in, c);
    if (out < 1 || out > ONNX_MAX_DIM)
        return node_err(im, "weight '%s' has %lld outputs", tname(B), (long long)out);
    nm_layer l;
    if (start_layer(im, &l, NM_LAYER_LINEAR, x))
        return NM_ERR;
    l.out_c = (int)out;
    int64_t bshape[2] = {B->dims[0], B->dims[1]};
    nm_tensor *bt = param_tensor(im, B, "weight", 2, bshape);
    if (!bt)
        return NM_ERR;
    if (tb) {
        l.weight = bt;
    } else {
        l.weight = nm_tensor_new4(NM_F32, 2, out, in, 0, 0);
        if (!l.weight) {
            nm_tensor_release(bt);
            return NM_ERR;
        }
        const float *s = nm_f32(bt);
        float *d = nm_f32(l.weight);
        for (int64_t i = 0; i < in; i++)
            for (int64_t o = 0; o < out; o++)
                d[o * in + i] = s[i * out + o];
        nm_tensor_release(bt);
    }
    if (alpha != 1.0f) {
        warn(im, "%s: alpha %g folded into the weight", im->where, (double)alpha);
        float *d = nm_f32(l.weight);
        for (int64_t i = 0; i < l.weight->numel; i++)
            d[i] *= alpha;
    }
    const char *cname = input_name(im->node, 2);
    if (cname) {
        const Onnx__TensorProto *C = const_of(im, cname);
        if (!C) {
            layer_drop(&l);
            return node_skip(im, "its bias '%s' is not an initializer", cname);
        }
        int64_t count;
        if (tensor_count(im, C, &count)) {
            layer_drop(&l);
            return NM_ERR;
        }
        /* C broadcasts to [batch, out]: [out], [1, out], or a scalar. */
        int ok = (C->n_dims == 1 && C->dims[0] == out) ||
                 (C->n_dims == 2 && C->dims[0] == 1 && C->dims[1] == out) || count == 1;
        if (!ok) {
            char db[96];
            layer_drop(&l);
            return node_err(im, "bias '%s' has dims %s, expected [%lld]", tname(C),
                            dims_str(C->dims, C->n_dims, db, sizeof db), (long long)out);
        }
        int64_t one = 1;
        nm_tensor *ct = param_tensor(im, C, "bias", (int)C->n_dims, C->n_dims ? C->dims : &one);
        if (!ct) {
            layer_drop(&l);
            return NM_ERR;
        }
        if (!(l.bias = nm_tensor_new4(NM_F32, 1, out, 0, 0, 0))) {
            nm_tensor_release(ct);
            layer_drop(&l);
            return NM_ERR;
        }
        if (beta != 1.0f)
            warn(im, "%s: beta %g folded into the bias", im->where, (double)beta);
        for (int64_t o = 0; o < out; o++)
            nm_f32(l.bias)[o] = beta * nm_f32(ct)[ct->numel == 1 ? 0 : o];
        nm_tensor_release(ct);
    }
    return add_layer(im, &l);
}

/* MatMul(activation, initializer [in, out]) is a bias-free linear layer. */
static int op_matmul(importer *im)
{
    const Onnx__TensorProto *B = const_input(im, 1);
    if (const_input(im, 0))
        return node_skip(im, "its first operand is a constant");
    if (!B)
        return node_skip(im, "MatMul of two activations (attention) is not imported");
    int x, rc = act_input(im, 0, &x);
    if (rc)
        return rc;
    if (B->n_dims != 2)
        return node_skip(im, "weight '%s' has %zu dimensions; nmlab models 2-D weights",
                         tname(B), B->n_dims);
    int c, h, w;
    nm_model_out_shape(im->m, x, &c, &h, &w);
    int64_t in = B->dims[0], out = B->dims[1];
    if (in != c)
        return node_err(im, "weight '%s' expects %lld inputs but its input has %d features",
                        tname(B), (long long)in, c);
    if (out < 1 || out > ONNX_MAX_DIM)
        return node_err(im, "weight '%s' has %lld outputs", tname(B), (long long)out);
    nm_tensor *bt = param_tensor(im, B, "weight", 2, B->dims);
    if (!bt)
        return NM_ERR;
    nm_layer l;
    if (start_layer(im, &l, NM_LAYER_LINEAR, x) ||
        !(l.weight = nm_tensor_new4(NM_F32, 2, out, in, 0, 0))) {
        nm_tensor_release(bt);
        return NM_ERR;
    }
    l.out_c = (int)out;
    const float *s = nm_f32(bt);
    float *d = nm_f32(l.weight);
    for (int64_t i = 0; i < in; i++)
        for (int64_t o = 0; o < out; o++)
            d[o * in + i] = s[i * out + o];
    nm_tensor_release(bt);
    return add_layer(im, &l);
}

/* BatchNormalization(X, scale, B, mean, var): inference statistics. */
static int op_bn(importer *im)
{
    int x, rc = act_input(im, 0, &x);
    if (rc)
        return rc;
    static const char *roles[4] = {"scale", "bias", "mean", "var"};
    const Onnx__TensorProto *t[4];
    for (int i = 0; i < 4; i++)
        if (!(t[i] = const_input(im, i + 1)))
            return node_skip(im, "its %s '%s' is not an initializer", roles[i],
                             str_or(input_name(im->node, i + 1), "(none)"));
    float eps;
    if (attr_float(im, "epsilon", 1e-5f, &eps, NULL))
        return NM_ERR;
    int c, h, w;
    nm_model_out_shape(im->m, x, &c, &h, &w);
    nm_layer l;
    if (start_layer(im, &l, NM_LAYER_BN, x))
        return NM_ERR;
    l.eps = eps;
    int64_t cc = c;
    nm_tensor **slot[4] = {&l.gamma, &l.beta, &l.mean, &l.var};
    for (int i = 0; i < 4; i++)
        if (!(*slot[i] = param_tensor(im, t[i], roles[i], 1, &cc))) {
            layer_drop(&l);
            return NM_ERR;
        }
    /* Keep only output 0 (training-mode running statistics are not used). */
    if (kill_outputs(im, im->node, im->node_k, 1))
        return NM_ERR;
    return add_layer(im, &l);
}

static int op_relu(importer *im, float clip)
{
    int x, rc = act_input(im, 0, &x);
    if (rc)
        return rc;
    nm_layer l;
    if (start_layer(im, &l, NM_LAYER_RELU, x))
        return NM_ERR;
    l.clip = clip;
    return add_layer(im, &l);
}

/* Reads Clip's bound i (1 = min, 2 = max) from its input or attribute. */
static int clip_bound(importer *im, int i, const char *attr, float *v, int *present)
{
    if (attr_float(im, attr, 0.0f, v, present))
        return NM_ERR;
    const char *name = input_name(im->node, i);
    if (!name)
        return NM_OK;
    const Onnx__TensorProto *t = const_of(im, name);
    if (!t)
        return node_skip(im, "its %s '%s' is computed at run time", attr, name);
    int64_t count;
    int raw;
    if (tensor_count(im, t, &count) || tensor_check_data(im, t, count, FLOAT_TYPES, &raw))
        return NM_ERR;
    if (count != 1)
        return node_err(im, "%s '%s' has %lld elements, expected 1", attr, tname(t), (long long)count);
    *v = tensor_float_at(t, raw, 0);
    *present = 1;
    return NM_OK;
}

/* Clip(0, k) is a ReLU clipped at k (ReLU6 for k = 6); min 0 without a max
 * is a plain ReLU. */
static int op_clip(importer *im)
{
    float lo, hi;
    int has_lo, has_hi, rc;
    if ((rc = clip_bound(im, 1, "min", &lo, &has_lo)) || (rc = clip_bound(im, 2, "max", &hi, &has_hi)))
        return rc;
    if (!has_lo || lo != 0.0f || (has_hi && !(hi > 0.0f)))
        return node_skip(im, "only Clip(0, max > 0) maps to a ReLU");
    return op_relu(im, has_hi && isfinite(hi) ? hi : 0.0f);
}

/* Folds constant `t` into the bias of layer L when t is one value per
 * output channel and L's output feeds nothing but the current Add.
 * Returns NM_OK (folded), R_SKIP (not foldable: no message) or NM_ERR. */
static int fold_bias(importer *im, int L, const Onnx__TensorProto *t)
{
    if (L < 0)
        return R_SKIP;
    nm_layer *l = &im->m->layers[L];
    if (!nm_layer_prunable(l) || im->lay_uses[L] != im->lay_names[L])
        return R_SKIP;
    int64_t count;
    if (tensor_count(im, t, &count))
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
    if (tensor_check_data(im, t, count, FLOAT_TYPES, &raw))
        return NM_ERR;
    if (!l->bias && !(l->bias = nm_tensor_new4(NM_F32, 1, l->out_c, 0, 0, 0)))
        return NM_ERR;
    for (int64_t i = 0; i < count; i++)
        nm_f32(l->bias)[i] += tensor_float_at(t, raw, i);
    return NM_OK;
}

/* Add of two activations is a residual add; Add of an activation and a
 * constant is a bias, folded into the producing layer when possible, else
 * ignored with a warning. */
static int op_add(importer *im)
{
    const Onnx__TensorProto *ca = const_input(im, 0), *cb = const_input(im, 1);
    if (ca && cb)
        return node_skip(im, "both operands are constants");
    int a, b, rc;
    if (ca || cb) {
        const Onnx__TensorProto *t = ca ? ca : cb;
        if ((rc = act_input(im, ca ? 1 : 0, &a)))
            return rc;
        rc = fold_bias(im, a, t);
        if (rc == NM_ERR)
            return rc;
        if (rc == R_SKIP)
            warn(im, "%s: adding constant '%s' was ignored (not a per-channel bias of a layer "
                     "used only here)", im->where, tname(t));
        return bind(im, output_name(im->node), a);
    }
    if ((rc = act_input(im, 0, &a)) || (rc = act_input(im, 1, &b)))
        return rc;
    int c1, h1, w1, c2, h2, w2;
    nm_model_out_shape(im->m, a, &c1, &h1, &w1);
    nm_model_out_shape(im->m, b, &c2, &h2, &w2);
    if (c1 != c2 || h1 != h2 || w1 != w2)
        return node_skip(im, "broadcasting (%d,%d,%d) + (%d,%d,%d) is not modelled", c1, h1, w1,
                         c2, h2, w2);
    nm_layer l;
    if (start_layer(im, &l, NM_LAYER_ADD, a))
        return NM_ERR;
    l.n_inputs = 2;
    l.inputs[1] = b;
    return add_layer(im, &l);
}

static int op_pool(importer *im, nm_layer_kind kind)
{
    int x, rc = act_input(im, 0, &x);
    if (rc)
        return rc;
    int c, h, w;
    nm_model_out_shape(im->m, x, &c, &h, &w);
    geom g = {0};
    if ((rc = read_geom(im, h, w, 1, &g)))
        return rc;
    nm_layer l;
    if (start_layer(im, &l, kind, x))
        return NM_ERR;
    l.kh = g.kh, l.kw = g.kw, l.stride_h = g.sh, l.stride_w = g.sw, l.pad_h = g.ph, l.pad_w = g.pw;
    if (kill_outputs(im, im->node, im->node_k, 1)) /* MaxPool's Indices */
        return NM_ERR;
    return add_layer(im, &l);
}

static int op_simple(importer *im, nm_layer_kind kind)
{
    int x, rc = act_input(im, 0, &x);
    if (rc)
        return rc;
    nm_layer l;
    if (start_layer(im, &l, kind, x))
        return NM_ERR;
    return add_layer(im, &l);
}

static int op_flatten(importer *im)
{
    int64_t axis;
    if (attr_int(im, "axis", 1, &axis))
        return NM_ERR;
    if (axis != 1)
        return node_skip(im, "Flatten with axis %lld is not modelled (only axis 1)", (long long)axis);
    return op_simple(im, NM_LAYER_FLATTEN);
}

/* Reshape to [batch, C*H*W] (given as [0|-1|N, -1|C*H*W]) is a flatten. */
static int op_reshape(importer *im)
{
    int x, rc = act_input(im, 0, &x);
    if (rc)
        return rc;
    const Onnx__TensorProto *s = const_input(im, 1);
    if (!s)
        return node_skip(im, "its shape '%s' is computed at run time",
                         str_or(input_name(im->node, 1), "(none)"));
    int64_t count;
    int raw;
    if (tensor_count(im, s, &count) || tensor_check_data(im, s, count, INT_TYPES, &raw))
        return NM_ERR;
    int c, h, w;
    nm_model_out_shape(im->m, x, &c, &h, &w);
    int64_t flat = (int64_t)c * h * w;
    if (count == 2) {
        int64_t d0 = tensor_int_at(s, raw, 0), d1 = tensor_int_at(s, raw, 1);
        if ((d1 == flat && d0 >= -1) || (d1 == -1 && d0 >= 0))
            return op_simple(im, NM_LAYER_FLATTEN);
    }
    return node_skip(im, "only a Reshape to [batch, %lld] (a flatten) is modelled", (long long)flat);
}

/* Identity and Dropout pass their input through: the output name becomes
 * another name of the same layer (or of the same constant). */
static int op_alias(importer *im)
{
    const Onnx__NodeProto *n = im->node;
    const char *in = input_name(n, 0), *out = output_name(n);
    if (!in)
        return node_err(im, "input 0 is missing");
    if (kill_outputs(im, n, im->node_k, 1)) /* Dropout's mask */
        return NM_ERR;
    if (!out)
        return NM_OK;
    const Onnx__TensorProto *t = const_of(im, in);
    if (t)
        return ctab_add(im, out, t);
    int v = map_get(&im->values, in, VAL_DEAD0 + 1);
    if (v == VAL_DEAD0 + 1)
        return node_err(im, "input '%s' is not produced by any earlier node", in);
    return v >= 0 ? bind(im, out, v) : map_put(&im->values, out, v);
}

/* Constant: its value tensor becomes a named constant for later nodes. */
static int op_constant(importer *im)
{
    const Onnx__AttributeProto *a = attr_find(im->node, "value");
    const char *out = output_name(im->node);
    if (!a || !a->t)
        return node_skip(im, "only a Constant with a tensor 'value' is read");
    return out ? ctab_add(im, out, a->t) : NM_OK;
}

/* ------------------------------------------------------------------ */
/* The walk.                                                           */

static const char *supported_ops[] = {
    "Conv", "Gemm", "MatMul", "BatchNormalization", "Relu", "Clip", "Add", "MaxPool",
    "AveragePool", "GlobalAveragePool", "Flatten", "Reshape", "Dropout", "Identity", "Constant",
};

static int op_supported(const Onnx__NodeProto *n)
{
    if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx") != 0)
        return 0;
    for (size_t i = 0; i < sizeof supported_ops / sizeof supported_ops[0]; i++)
        if (n->op_type && strcmp(n->op_type, supported_ops[i]) == 0)
            return 1;
    return 0;
}

static int import_node(importer *im)
{
    const char *op = im->node->op_type;
    if (!strcmp(op, "Conv"))                 return op_conv(im);
    if (!strcmp(op, "Gemm"))                 return op_gemm(im);
    if (!strcmp(op, "MatMul"))               return op_matmul(im);
    if (!strcmp(op, "BatchNormalization"))   return op_bn(im);
    if (!strcmp(op, "Relu"))                 return op_relu(im, 0.0f);
    if (!strcmp(op, "Clip"))                 return op_clip(im);
    if (!strcmp(op, "Add"))                  return op_add(im);
    if (!strcmp(op, "MaxPool"))              return op_pool(im, NM_LAYER_MAXPOOL);
    if (!strcmp(op, "AveragePool"))          return op_pool(im, NM_LAYER_AVGPOOL);
    if (!strcmp(op, "GlobalAveragePool"))    return op_simple(im, NM_LAYER_GAP);
    if (!strcmp(op, "Flatten"))              return op_flatten(im);
    if (!strcmp(op, "Reshape"))              return op_reshape(im);
    if (!strcmp(op, "Dropout") || !strcmp(op, "Identity")) return op_alias(im);
    if (!strcmp(op, "Constant"))             return op_constant(im);
    return R_SKIP;
}

/* "unsupported operators: Softmax (1), Concat (2)" for the whole graph, in
 * order of first appearance; appended to b. */
static int tally_unsupported(const Onnx__GraphProto *g, sbuf *b)
{
    name_map count = {0};
    const Onnx__NodeProto **first = NULL;
    int kinds = 0, rc = NM_OK;
    for (size_t k = 0; k < g->n_node && rc == NM_OK; k++) {
        const Onnx__NodeProto *n = g->node[k];
        if (op_supported(n))
            continue;
        int c = map_get(&count, n->op_type, 0);
        if (c == 0) {
            const Onnx__NodeProto **f = realloc(first, (size_t)(kinds + 1) * sizeof *f);
            if (!f) {
                rc = nm_seterr("out of memory");
                break;
            }
            first = f;
            first[kinds++] = n;
        }
        rc = map_put(&count, n->op_type, c + 1);
    }
    for (int i = 0; i < kinds && rc == NM_OK; i++) {
        const Onnx__NodeProto *n = first[i];
        const char *dom = str_or(n->domain, "");
        int std = !*dom || strcmp(dom, "ai.onnx") == 0;
        sb_printf(b, "%s%s%s%s (%d)", i ? ", " : "unsupported operators: ", std ? "" : dom,
                  std ? "" : ".", n->op_type, map_get(&count, n->op_type, 0));
    }
    if (kinds)
        sb_printf(b, "\n");
    free(first);
    map_free(&count);
    return rc;
}

/* The model input: the first graph input that is not an initializer, with
 * a fixed shape [N, C, H, W], [N, T, F] or [N, F] (N is ignored). */
static int find_input(importer *im, const char **name, int *c, int *h, int *w)
{
    const Onnx__GraphProto *g = im->g;
    const Onnx__ValueInfoProto *vi = NULL;
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *v = g->input[i];
        if (!v->name || !*v->name || const_of(im, v->name))
            continue;
        if (!vi) {
            vi = v;
        } else {
            warn(im, "graph input '%s' ignored: nmlab models one input ('%s')", v->name, vi->name);
            if (map_put(&im->values, v->name, VAL_EXTRA_INPUT))
                return NM_ERR;
        }
    }
    if (!vi)
        return nm_seterr("the graph has no input besides its initializers");
    *name = vi->name;
    if (!vi->type || vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
        !vi->type->tensor_type->shape)
        return nm_seterr("input '%s' has no shape", vi->name);
    const Onnx__TensorShapeProto *s = vi->type->tensor_type->shape;
    if (s->n_dim < 2 || s->n_dim > 4)
        return nm_seterr("input '%s' has rank %zu; nmlab reads [N, C, H, W], [N, T, F] or [N, F]",
                         vi->name, s->n_dim);
    int64_t d[4] = {1, 1, 1, 1};
    for (size_t i = 1; i < s->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *dim = s->dim[i];
        if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM)
            return nm_seterr("input '%s' dimension %zu is symbolic ('%s'); nmlab needs a fixed size",
                             vi->name, i, dim->dim_param ? dim->dim_param : "");
        if (dim->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
            return nm_seterr("input '%s' dimension %zu has no size", vi->name, i);
        if (dim->dim_value < 1 || dim->dim_value > ONNX_MAX_DIM)
            return nm_seterr("input '%s' dimension %zu is %lld", vi->name, i,
                             (long long)dim->dim_value);
        d[i] = dim->dim_value;
    }
    if (d[1] * d[2] * d[3] > INT32_MAX)
        return nm_seterr("input '%s' has more than 2^31 elements per sample", vi->name);
    if (s->n_dim == 4)
        *c = (int)d[1], *h = (int)d[2], *w = (int)d[3];
    else if (s->n_dim == 3)
        *c = (int)d[2], *h = (int)d[1], *w = 1;
    else
        *c = (int)d[1], *h = 1, *w = 1;
    return NM_OK;
}

/* Fills the lookup tables that need the whole graph. */
static int index_graph(importer *im)
{
    const Onnx__GraphProto *g = im->g;
    /* Every initializer's dims are checked against its bytes up front, so
     * a corrupt file fails here whatever uses the tensor. */
    im->where[0] = '\0';
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        int64_t count;
        int raw;
        if (tensor_count(im, t, &count) || tensor_size_check(im, t, count, &raw))
            return NM_ERR;
        if (t->name && *t->name && ctab_add(im, t->name, t))
            return NM_ERR;
    }
    for (size_t k = 0; k < g->n_node; k++) {
        const Onnx__NodeProto *n = g->node[k];
        if (!n->op_type || !*n->op_type)
            return nm_seterr("node #%zu has no op_type", k);
        for (size_t i = 0; i < n->n_input; i++)
            if (n->input[i] && *n->input[i] &&
                map_put(&im->uses, n->input[i], map_get(&im->uses, n->input[i], 0) + 1))
                return NM_ERR;
        if (n->name && *n->name &&
            map_put(&im->node_names, n->name, map_get(&im->node_names, n->name, 0) + 1))
            return NM_ERR;
    }
    for (size_t i = 0; i < g->n_value_info; i++)
        if (g->value_info[i]->name && map_put(&im->shapes, g->value_info[i]->name, (int)i))
            return NM_ERR;
    for (size_t i = 0; i < g->n_output; i++) {
        const char *name = g->output[i]->name;
        if (!name)
            continue;
        if (map_put(&im->uses, name, map_get(&im->uses, name, 0) + 1) ||
            map_put(&im->shapes, name, (int)(g->n_value_info + i)))
            return NM_ERR;
    }
    return NM_OK;
}

static void model_name(const char *path, const Onnx__GraphProto *g, char *buf)
{
    if (g->name && *g->name) {
        snprintf(buf, NM_NAME_MAX, "%s", g->name);
        return;
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(buf, NM_NAME_MAX, "%s", base);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf)
        *dot = '\0';
}

/* Walks the nodes in order. NM_OK (possibly stopped early) or NM_ERR. */
static int walk(importer *im)
{
    const Onnx__GraphProto *g = im->g;
    for (size_t k = 0; k < g->n_node; k++) {
        const Onnx__NodeProto *n = g->node[k];
        if (nm_progress(im->progress, im->progress_ud, 0.5 + 0.5 * (double)k / (double)g->n_node,
                        "importing") != NM_OK)
            return NM_ERR;
        im->node = n;
        im->node_k = (int)k;
        node_label(n, (int)k, im->where, sizeof im->where);
        if (im->m->n_layers >= ONNX_MAX_LAYERS) {
            warn(im, "import stopped at %s: more than %d layers", im->where, ONNX_MAX_LAYERS);
            return NM_OK;
        }
        int rc = op_supported(n) ? import_node(im) : R_SKIP;
        if (rc == NM_ERR)
            return NM_ERR;
        if (rc == R_STOP)
            return NM_OK;
        if (rc == R_SKIP && kill_outputs(im, n, (int)k, 0))
            return NM_ERR;
    }
    return NM_OK;
}

static void importer_free(importer *im)
{
    map_free(&im->consts);
    map_free(&im->values);
    map_free(&im->uses);
    map_free(&im->node_names);
    map_free(&im->op_seq);
    map_free(&im->shapes);
    free(im->ctab);
    free(im->lay_names);
    free(im->lay_uses);
    free(im->warn.p);
}

/* Builds the model from an unpacked ModelProto. On success *warnings
 * receives the warning text (or NULL). */
static nm_model *import_model(const char *path, const Onnx__ModelProto *mp, char **warnings,
                              nm_progress_fn progress, void *ud)
{
    if (!mp->graph) {
        nm_seterr("no graph (empty file, or not an ONNX model)");
        return NULL;
    }
    importer im = {0};
    sbuf out = {0};
    nm_model *m = NULL;
    const char *in_name = NULL;
    int c = 0, h = 0, w = 0;
    char name[NM_NAME_MAX];
    im.g = mp->graph;
    im.progress = progress, im.progress_ud = ud;
    if (index_graph(&im) || find_input(&im, &in_name, &c, &h, &w))
        goto fail;
    model_name(path, im.g, name);
    if (!(m = im.m = nm_model_new(name, c, h, w)) || bind(&im, in_name, NM_INPUT))
        goto fail;
    if (walk(&im) != NM_OK || tally_unsupported(im.g, &out) != NM_OK)
        goto fail;
    if (im.warn.len)
        sb_printf(&out, "%s", im.warn.p);
    if (out.oom || im.warn.oom) {
        nm_seterr("out of memory");
        goto fail;
    }
    if (m->n_layers == 0) {
        /* Say why, on one line. */
        for (size_t i = 0; i < out.len; i++)
            if (out.p[i] == '\n')
                out.p[i] = i + 1 < out.len ? ';' : '\0';
        nm_seterr("no layer could be imported: %s",
                  out.len ? out.p : "no node maps to an nmlab layer");
        goto fail;
    }
    if (warnings)
        *warnings = out.p;
    else
        free(out.p);
    importer_free(&im);
    return m;
fail:
    free(out.p);
    nm_model_free(m);
    importer_free(&im);
    return NULL;
}

nm_model *nm_onnx_load(const char *path, char **warnings)
{
    return nm_onnx_load_progress(path, warnings, NULL, NULL);
}

/* Progress: 0 before reading, 0.5 once the file is read and unpacked (one
 * step, no reports inside), then per node, and 1 at the end. */
nm_model *nm_onnx_load_progress(const char *path, char **warnings, nm_progress_fn progress, void *ud)
{
    if (warnings)
        *warnings = NULL;
    if (nm_progress(progress, ud, 0.0, "reading") != NM_OK) {
        nm_preperr(path);
        return NULL;
    }
    unsigned char *data;
    size_t len;
    if (nm_read_file(path, ONNX_MAX_FILE, &data, &len) != NM_OK)
        return NULL; /* the message already names the file */
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, data);
    free(data);
    if (!mp) {
        nm_seterr("%s: not a valid ONNX file (protobuf data is corrupt or truncated)", path);
        return NULL;
    }
    nm_model *m = nm_progress(progress, ud, 0.5, "importing") == NM_OK
                      ? import_model(path, mp, warnings, progress, ud) : NULL;
    onnx__model_proto__free_unpacked(mp, NULL);
    if (m && nm_progress(progress, ud, 1.0, "importing") != NM_OK) {
        nm_model_free(m);
        m = NULL;
        if (warnings) {
            free(*warnings);
            *warnings = NULL;
        }
    }
    if (!m)
        nm_preperr(path);
    return m;
}
