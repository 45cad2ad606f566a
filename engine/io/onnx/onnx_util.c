/* onnx_util.c - growable text, name maps, messages, initializer tensors,
 * node inputs and attributes for the ONNX importer. */
#include "onnx_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Growable text for the warnings.                                     */


void ox_sb_vprintf(sbuf *b, const char *fmt, va_list ap)
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

void ox_sb_printf(sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ox_sb_vprintf(b, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ */
/* String -> int map (open addressing). Keys are borrowed: they point  */
/* into the unpacked protobuf message, which outlives the map.         */


size_t ox_str_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (size_t)h;
}

int *ox_map_ref(const name_map *mp, const char *key)
{
    if (!mp->cap)
        return NULL;
    for (size_t i = ox_str_hash(key) & (mp->cap - 1);; i = (i + 1) & (mp->cap - 1)) {
        if (!mp->key[i])
            return NULL;
        if (strcmp(mp->key[i], key) == 0)
            return &mp->val[i];
    }
}

int ox_map_put(name_map *mp, const char *key, int val);

int ox_map_grow(name_map *mp)
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
            ox_map_put(&big, mp->key[i], mp->val[i]);
    free(mp->key);
    free(mp->val);
    *mp = big;
    return NM_OK;
}

/* Inserts or overwrites. NM_ERR only when out of memory. */
int ox_map_put(name_map *mp, const char *key, int val)
{
    int *ref = ox_map_ref(mp, key);
    if (ref) {
        *ref = val;
        return NM_OK;
    }
    if ((mp->count + 1) * 2 > mp->cap && ox_map_grow(mp) != NM_OK)
        return NM_ERR;
    size_t i = ox_str_hash(key) & (mp->cap - 1);
    while (mp->key[i])
        i = (i + 1) & (mp->cap - 1);
    mp->key[i] = key;
    mp->val[i] = val;
    mp->count++;
    return NM_OK;
}

int ox_map_get(const name_map *mp, const char *key, int dflt)
{
    const int *ref = ox_map_ref(mp, key);
    return ref ? *ref : dflt;
}

void ox_map_free(name_map *mp)
{
    free(mp->key);
    free(mp->val);
    memset(mp, 0, sizeof *mp);
}

/* ------------------------------------------------------------------ */
/* The importer's state.                                               */


const char *ox_str_or(const char *s, const char *dflt)
{
    return s && *s ? s : dflt;
}

const char *ox_node_label(const Onnx__NodeProto *n, int k, char *buf, size_t len)
{
    if (n->name && *n->name)
        snprintf(buf, len, "node '%s' (%s)", n->name, ox_str_or(n->op_type, "?"));
    else
        snprintf(buf, len, "node #%d (%s)", k, ox_str_or(n->op_type, "?"));
    return buf;
}

/* Sets the message "<where>: <fmt...>". Returns NM_ERR. */
int ox_node_err(importer *im, const char *fmt, ...)
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
int ox_node_skip(importer *im, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    ox_sb_printf(&im->warn, "%s skipped: %s\n", im->where, why);
    if (im->skip_why && !im->skip_why[im->node_k])
        im->skip_why[im->node_k] = strdup(why);
    return R_SKIP;
}

void ox_warn(importer *im, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ox_sb_vprintf(&im->warn, fmt, ap);
    ox_sb_printf(&im->warn, "\n");
    va_end(ap);
}

const char *ox_dims_str(const int64_t *d, size_t n, char *buf, size_t len)
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

const char *ox_tname(const Onnx__TensorProto *t)
{
    return ox_str_or(t->name, "(unnamed)");
}

/* Element count from t's dims: each non-negative, the product at most
 * 2^40 (checked without overflow). The data is checked separately. */
int ox_tensor_count(importer *im, const Onnx__TensorProto *t, int64_t *count)
{
    int64_t c = 1;
    if (t->n_dims > 8)
        return ox_node_err(im, "tensor '%s' has %zu dimensions", ox_tname(t), t->n_dims);
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0)
            return ox_node_err(im, "tensor '%s' has negative dimension %lld", ox_tname(t),
                            (long long)t->dims[i]);
        if (t->dims[i] && c > ((int64_t)1 << 40) / t->dims[i])
            return ox_node_err(im, "tensor '%s' has impossibly large dims", ox_tname(t));
        c *= t->dims[i];
    }
    *count = c;
    return NM_OK;
}

const char *ox_dtype_name(int32_t dt)
{
    static const char *names[] = {"UNDEFINED", "FLOAT", "UINT8", "INT8", "UINT16", "INT16",
                                  "INT32", "INT64", "STRING", "BOOL", "FLOAT16", "DOUBLE",
                                  "UINT32", "UINT64", "COMPLEX64", "COMPLEX128", "BFLOAT16"};
    return dt >= 0 && dt < (int32_t)(sizeof names / sizeof names[0]) ? names[dt] : "unknown";
}

/* Bytes per element of ONNX data type dt, and how many elements its typed
 * field holds (*typed = -1 when that field is not one onnx.proto reads).
 * 0 for types without a fixed width (STRING, UNDEFINED, unknown). */
size_t ox_dtype_width(const Onnx__TensorProto *t, int64_t *typed)
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

int ox_is_external(const Onnx__TensorProto *t)
{
    return t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
}

/* Checks that t's data holds exactly the `count` elements its dims promise,
 * in raw_data (then *raw = 1) or in its typed field. Tensors whose size
 * cannot be told (strings, external data) pass. */
int ox_tensor_size_check(importer *im, const Onnx__TensorProto *t, int64_t count, int *raw)
{
    int64_t typed;
    size_t width = ox_dtype_width(t, &typed);
    char db[96];
    *raw = t->raw_data.len > 0;
    if (!width || ox_is_external(t))
        return NM_OK;
    if (*raw) {
        if ((uint64_t)t->raw_data.len != (uint64_t)count * width)
            return ox_node_err(im, "tensor '%s' has dims %s (%lld elements of %zu bytes) but holds %zu bytes",
                            ox_tname(t), ox_dims_str(t->dims, t->n_dims, db, sizeof db),
                            (long long)count, width, t->raw_data.len);
    } else if (typed >= 0 && typed != count) {
        return ox_node_err(im, "tensor '%s' has dims %s (%lld elements) but holds %lld values",
                        ox_tname(t), ox_dims_str(t->dims, t->n_dims, db, sizeof db), (long long)count,
                        (long long)typed);
    }
    return NM_OK;
}

/* Checks that t is of a type in the `ok` set (bit per ONNX data type),
 * stored in the file, and holds exactly `count` elements. */
int ox_tensor_check_data(importer *im, const Onnx__TensorProto *t, int64_t count,
                             unsigned ok, int *raw)
{
    int32_t dt = t->data_type;
    if (ox_is_external(t))
        return ox_node_err(im, "tensor '%s' is stored in an external file, which nmlab does not read",
                        ox_tname(t));
    if (dt < 0 || dt > 31 || !(ok & (1u << dt)))
        return ox_node_err(im, "tensor '%s' has data type %s (%d), which nmlab does not read here",
                        ox_tname(t), ox_dtype_name(dt), (int)dt);
    return ox_tensor_size_check(im, t, count, raw);
}

uint64_t ox_le_bytes(const uint8_t *p, size_t width)
{
    uint64_t v = 0;
    for (size_t i = width; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}


/* Element i of a checked FLOAT or DOUBLE tensor. */
float ox_tensor_float_at(const Onnx__TensorProto *t, int raw, int64_t i)
{
    int dbl = t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;
    if (!raw)
        return dbl ? (float)t->double_data[i] : t->float_data[i];
    if (dbl) {
        uint64_t b = ox_le_bytes(t->raw_data.data + 8 * i, 8);
        double d;
        memcpy(&d, &b, sizeof d);
        return (float)d;
    }
    uint32_t b = (uint32_t)ox_le_bytes(t->raw_data.data + 4 * i, 4);
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

/* Element i of a checked INT64 or INT32 tensor. */
int64_t ox_tensor_int_at(const Onnx__TensorProto *t, int raw, int64_t i)
{
    int i64 = t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    if (!raw)
        return i64 ? t->int64_data[i] : t->int32_data[i];
    if (i64)
        return (int64_t)ox_le_bytes(t->raw_data.data + 8 * i, 8);
    return (int32_t)(uint32_t)ox_le_bytes(t->raw_data.data + 4 * i, 4);
}

/* A new f32 tensor with t's elements and the shape `want` (ndim dims),
 * which t's own dims must equal exactly. `role` names the parameter in
 * messages ("weight", "bias"). */
nm_tensor *ox_param_tensor(importer *im, const Onnx__TensorProto *t, const char *role,
                               int ndim, const int64_t *want)
{
    int64_t count;
    int raw;
    if (ox_tensor_count(im, t, &count) != NM_OK)
        return NULL;
    int same = t->n_dims == (size_t)ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->dims[i] == want[i];
    if (!same) {
        char a[96], b[96];
        ox_node_err(im, "%s '%s' has dims %s, expected %s", role, ox_tname(t),
                 ox_dims_str(t->dims, t->n_dims, a, sizeof a), ox_dims_str(want, (size_t)ndim, b, sizeof b));
        return NULL;
    }
    if (ox_tensor_check_data(im, t, count, FLOAT_TYPES, &raw) != NM_OK)
        return NULL;
    nm_tensor *out = nm_tensor_new(NM_F32, ndim, want);
    if (!out) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", nm_errmsg());
        ox_node_err(im, "%s '%s': %s", role, ox_tname(t), msg);
        return NULL;
    }
    float *d = nm_f32(out);
    const uint16_t one = 1;
    if (raw && t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT && *(const uint8_t *)&one) {
        memcpy(d, t->raw_data.data, (size_t)count * sizeof *d); /* little-endian host */
        return out;
    }
    for (int64_t i = 0; i < count; i++)
        d[i] = ox_tensor_float_at(t, raw, i);
    return out;
}

/* ------------------------------------------------------------------ */
/* Node inputs and attributes.                                         */

const char *ox_input_name(const Onnx__NodeProto *n, int i)
{
    return (size_t)i < n->n_input && n->input[i] && *n->input[i] ? n->input[i] : NULL;
}

const Onnx__TensorProto *ox_const_of(const importer *im, const char *name)
{
    int k = name ? ox_map_get(&im->consts, name, -1) : -1;
    return k >= 0 ? im->ctab[k] : NULL;
}

int ox_ctab_add(importer *im, const char *name, const Onnx__TensorProto *t)
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
    return ox_map_put(&im->consts, name, im->n_ctab++);
}

/* The layer (or graph input) behind activation input i of the current node.
 * R_STOP with a warning when it comes from a skipped node or nowhere. */
int ox_act_input(importer *im, int i, int *idx)
{
    const Onnx__NodeProto *n = im->node;
    const char *name = ox_input_name(n, i);
    if (!name)
        return ox_node_err(im, "input %d is missing", i);
    int v = ox_map_get(&im->values, name, VAL_DEAD0 + 1);
    if (v >= 0 || nm_is_input(v)) {
        *idx = v;
        return NM_OK;
    }
    if (!im->opts->partial) {
        if (v == VAL_DEAD0 + 1)
            return ox_node_err(im, "its input '%s' is not produced by any earlier node (a cycle, or "
                            "a dangling name)", name);
        if (v == VAL_EXTRA_INPUT)
            return ox_node_err(im, "its input '%s' is a graph input nmlab cannot run (see the "
                               "warning: not float32 of rank 2 to 4)", name);
        char lb[160];
        int k = VAL_DEAD0 - v;
        const char *why = im->skip_why && im->skip_why[k] ? im->skip_why[k] : "not imported";
        return nm_seterr("%s cannot be imported: %s (needed by %s; {partial = true} keeps the "
                         "layers before it)", ox_node_label(im->g->node[k], k, lb, sizeof lb), why,
                         im->where);
    }
    if (v == VAL_DEAD0 + 1)
        ox_warn(im, "import stopped at %s: its input '%s' is not produced by any earlier node", im->where, name);
    else if (v == VAL_EXTRA_INPUT)
        ox_warn(im, "import stopped at %s: its input '%s' is a graph input nmlab cannot run",
             im->where, name);
    else {
        char lb[160];
        int k = VAL_DEAD0 - v;
        ox_warn(im, "import stopped at %s: its input '%s' comes from skipped %s", im->where, name,
             ox_node_label(im->g->node[k], k, lb, sizeof lb));
    }
    return R_STOP;
}

/* The constant tensor at input i, or NULL (no message). */
const Onnx__TensorProto *ox_const_input(const importer *im, int i)
{
    return ox_const_of(im, ox_input_name(im->node, i));
}

const Onnx__AttributeProto *ox_attr_find(const Onnx__NodeProto *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && strcmp(n->attribute[i]->name, name) == 0)
            return n->attribute[i];
    return NULL;
}

int ox_attr_is(const Onnx__AttributeProto *a, Onnx__AttributeProto__AttributeType t, int has)
{
    return a->has_type ? a->type == t : has;
}

int ox_attr_int(importer *im, const char *name, int64_t dflt, int64_t *out)
{
    const Onnx__AttributeProto *a = ox_attr_find(im->node, name);
    *out = dflt;
    if (!a)
        return NM_OK;
    if (!ox_attr_is(a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT, a->has_i))
        return ox_node_err(im, "attribute '%s' is not an integer", name);
    *out = a->i;
    return NM_OK;
}

int ox_attr_float(importer *im, const char *name, float dflt, float *out, int *present)
{
    const Onnx__AttributeProto *a = ox_attr_find(im->node, name);
    *out = dflt;
    if (present)
        *present = a != NULL;
    if (!a)
        return NM_OK;
    if (!ox_attr_is(a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT, a->has_f))
        return ox_node_err(im, "attribute '%s' is not a float", name);
    *out = a->f;
    return NM_OK;
}

/* A list of ints; *count = 0 when absent. */
int ox_attr_ints(importer *im, const char *name, const int64_t **v, size_t *count)
{
    const Onnx__AttributeProto *a = ox_attr_find(im->node, name);
    *v = NULL;
    *count = 0;
    if (!a)
        return NM_OK;
    if (!ox_attr_is(a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS, a->n_ints > 0))
        return ox_node_err(im, "attribute '%s' is not a list of integers", name);
    *v = a->ints;
    *count = a->n_ints;
    return NM_OK;
}

/* A string attribute copied into buf ("" when absent). */
int ox_attr_str(importer *im, const char *name, char *buf, size_t len)
{
    const Onnx__AttributeProto *a = ox_attr_find(im->node, name);
    buf[0] = '\0';
    if (!a)
        return NM_OK;
    if (!ox_attr_is(a, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING, a->has_s))
        return ox_node_err(im, "attribute '%s' is not a string", name);
    size_t n = a->s.len < len - 1 ? a->s.len : len - 1;
    if (n)  /* an empty string attribute may have no data at all */
        memcpy(buf, a->s.data, n);
    buf[n] = '\0';
    return NM_OK;
}
