/* npy.c - NumPy .npy files (format versions 1.0, 2.0 and 3.0).
 *
 * Layout: "\x93NUMPY", major and minor version bytes, the header length
 * (2 bytes little-endian in 1.0, 4 bytes in 2.0/3.0), then the header: a
 * Python dict literal {'descr': '<f4', 'fortran_order': False,
 * 'shape': (2, 3), } padded with spaces and a newline, then the raw data.
 * Reading supports C-order little-endian numbers: <f4, <f8 and <f2 (to
 * f32), |i1, |u1 and |b1 (bool to u8), <i4 and <i8 (to i32 when every
 * value fits). Writing uses version 1.0 with the header padded so the data
 * starts at a multiple of 64 bytes, as NumPy does. */
#include "nmio.h"
#include "error.h"
#include "fileutil.h"
#include "rawio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_HEADER_MAX (1 << 20)
#define NPY_ALIGN 64
#define NPY_DIMS_MAX 32 /* parsed before refusing more than NM_MAX_DIMS */

/* What the header dict says. */
typedef struct {
    char descr[64];
    int fortran, ndim;
    int64_t shape[NPY_DIMS_MAX];
    int have_descr, have_fortran, have_shape;
} npy_header;

/* A tiny reader for the dict literal NumPy writes: string keys, and string,
 * True/False or tuple-of-integers values. */
typedef struct {
    const char *p, *end;
} cursor;

static void skip_space(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int accept(cursor *c, char ch)
{
    skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted Python string without escapes into buf. */
static int parse_string(cursor *c, char *buf, size_t len)
{
    skip_space(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return nm_seterr("expected a quoted string");
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || n + 1 >= len)
            return nm_seterr("unsupported or overlong string");
        buf[n++] = *c->p++;
    }
    if (c->p >= c->end)
        return nm_seterr("unterminated string");
    c->p++;
    buf[n] = '\0';
    return NM_OK;
}

static int parse_word(cursor *c, const char *w)
{
    skip_space(c);
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, w, n) == 0) {
        c->p += n;
        return 1;
    }
    return 0;
}

/* "(2, 3)", "(5,)" or "()" into h->shape. */
static int parse_shape(cursor *c, npy_header *h)
{
    if (!accept(c, '('))
        return nm_seterr("'shape' is not a tuple");
    h->ndim = 0;
    for (;;) {
        if (accept(c, ')'))
            return NM_OK;
        skip_space(c);
        if (c->p < c->end && *c->p == '-')
            return nm_seterr("'shape' has a negative dimension");
        if (c->p >= c->end || *c->p < '0' || *c->p > '9')
            return nm_seterr("'shape' holds something other than integers");
        int64_t v = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (v > (INT64_MAX - 9) / 10)
                return nm_seterr("'shape' has an impossibly large dimension");
            v = v * 10 + (*c->p++ - '0');
        }
        if (c->p < c->end && *c->p == 'L') /* Python 2 long */
            c->p++;
        if (h->ndim == NPY_DIMS_MAX)
            return nm_seterr("'shape' has more than %d dimensions", NPY_DIMS_MAX);
        h->shape[h->ndim++] = v;
        if (!accept(c, ',')) {
            if (accept(c, ')'))
                return NM_OK;
            return nm_seterr("'shape' tuple is malformed");
        }
    }
}

static int parse_dict(const char *text, size_t len, npy_header *h)
{
    cursor c = {text, text + len};
    memset(h, 0, sizeof *h);
    if (!accept(&c, '{'))
        return nm_seterr("header is not a Python dict");
    for (;;) {
        if (accept(&c, '}'))
            break;
        char key[32];
        if (parse_string(&c, key, sizeof key) != NM_OK || !accept(&c, ':'))
            return nm_seterr("header dict is malformed");
        if (strcmp(key, "descr") == 0) {
            skip_space(&c);
            if (c.p < c.end && *c.p == '[')
                return nm_seterr("structured dtypes are not supported");
            if (h->have_descr++ || parse_string(&c, h->descr, sizeof h->descr) != NM_OK)
                return nm_seterr("'descr' is repeated or not a string");
        } else if (strcmp(key, "fortran_order") == 0) {
            if (h->have_fortran++)
                return nm_seterr("'fortran_order' is repeated");
            if (parse_word(&c, "True"))
                h->fortran = 1;
            else if (!parse_word(&c, "False"))
                return nm_seterr("'fortran_order' is neither True nor False");
        } else if (strcmp(key, "shape") == 0) {
            if (h->have_shape++)
                return nm_seterr("'shape' is repeated");
            if (parse_shape(&c, h) != NM_OK)
                return NM_ERR;
        } else {
            return nm_seterr("header has unexpected key '%s'", key);
        }
        if (!accept(&c, ',')) {
            if (accept(&c, '}'))
                break;
            return nm_seterr("header dict is malformed");
        }
    }
    if (!h->have_descr || !h->have_fortran || !h->have_shape)
        return nm_seterr("header lacks '%s'", !h->have_descr ? "descr"
                                              : !h->have_fortran ? "fortran_order" : "shape");
    return NM_OK;
}

/* Maps a descr to a stored type, or explains why it is not supported. */
static int descr_type(const char *d, nm_raw_type *r)
{
    static const struct { const char *code; nm_raw_type raw; } types[] = {
        {"f4", NM_RAW_F32}, {"f8", NM_RAW_F64}, {"f2", NM_RAW_F16}, {"i1", NM_RAW_I8},
        {"u1", NM_RAW_U8}, {"b1", NM_RAW_BOOL}, {"i4", NM_RAW_I32}, {"i8", NM_RAW_I64},
    };
    char order = d[0];
    const char *code = d;
    if (order == '<' || order == '>' || order == '|' || order == '=')
        code = d + 1;
    if (strcmp(code, "O") == 0)
        return nm_seterr("object arrays ('%s') cannot be read", d);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (strcmp(code, types[i].code) != 0)
            continue;
        int one_byte = nm_raw_size(types[i].raw) == 1;
        if (!one_byte && order == '>')
            return nm_seterr("dtype '%s' is big-endian; save it little-endian ('<%s')", d, code);
        if (!one_byte && order != '<')
            return nm_seterr("dtype '%s' has no byte order; expected '<%s'", d, code);
        *r = types[i].raw;
        return NM_OK;
    }
    return nm_seterr("unsupported dtype '%s' (nmlab reads <f4, <f8, <f2, |i1, |u1, |b1, <i4, <i8)", d);
}

/* Reads the magic, version and header; leaves f at the data. */
static int read_header(const char *path, FILE *f, long long size, npy_header *h, long long *data_at)
{
    unsigned char pre[12];
    if (size < 10 || fread(pre, 1, 10, f) != 10 || memcmp(pre, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
        return nm_seterr("%s: not a .npy file (no \\x93NUMPY magic)", path);
    int major = pre[6], minor = pre[7];
    uint32_t hlen;
    long long at;
    if (major == 1 && minor == 0) {
        hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8;
        at = 10;
    } else if ((major == 2 || major == 3) && minor == 0) {
        if (size < 12 || fread(pre + 10, 1, 2, f) != 2)
            return nm_seterr("%s: file ends inside the header length", path);
        hlen = (uint32_t)pre[8] | (uint32_t)pre[9] << 8 | (uint32_t)pre[10] << 16 |
               (uint32_t)pre[11] << 24;
        at = 12;
    } else {
        return nm_seterr("%s: .npy format version %d.%d is not supported (1.0, 2.0, 3.0 are)", path,
                         major, minor);
    }
    if (hlen > NPY_HEADER_MAX)
        return nm_seterr("%s: header claims %lu bytes, more than the %d allowed", path,
                         (unsigned long)hlen, NPY_HEADER_MAX);
    if ((long long)hlen > size - at)
        return nm_seterr("%s: header claims %lu bytes but the file has only %lld after it starts",
                         path, (unsigned long)hlen, size - at);
    char *text = malloc(hlen ? hlen : 1);
    if (!text)
        return nm_seterr("%s: out of memory", path);
    if (fread(text, 1, hlen, f) != hlen) {
        free(text);
        return nm_seterr("%s: cannot read the header", path);
    }
    int rc = parse_dict(text, hlen, h);
    free(text);
    if (rc != NM_OK)
        return nm_preperr(path);
    *data_at = at + hlen;
    return NM_OK;
}

/* Loads an array as a new tensor (refcount 1, caller releases). */
nm_tensor *nm_npy_load(const char *path)
{
    FILE *f = nm_fopen_read(path);
    if (!f)
        return NULL;
    nm_tensor *t = NULL;
    npy_header h;
    long long data_at = 0, size = nm_file_size(f);
    nm_raw_type raw = NM_RAW_COUNT;
    if (size < 0) {
        nm_preperr(path);
        goto done;
    }
    if (read_header(path, f, size, &h, &data_at) != NM_OK)
        goto done;
    if (descr_type(h.descr, &raw) != NM_OK) {
        nm_preperr(path);
        goto done;
    }
    if (h.fortran) {
        nm_seterr("%s: array is in Fortran order; save it in C order (np.ascontiguousarray)", path);
        goto done;
    }
    if (h.ndim > NM_MAX_DIMS) {
        nm_seterr("%s: array has %d dimensions; nmlab tensors have at most %d", path, h.ndim,
                  NM_MAX_DIMS);
        goto done;
    }
    int64_t numel = 1;
    for (int i = 0; i < h.ndim; i++) {
        if (h.shape[i] > 0 && numel > INT64_MAX / h.shape[i]) {
            nm_seterr("%s: shape is impossibly large", path);
            goto done;
        }
        numel *= h.shape[i];
    }
    int64_t need = nm_raw_bytes(raw, numel);
    if (need < 0 || need > size - data_at) {
        nm_seterr("%s: a %s array of %lld elements needs %lld bytes of data but the file has %lld "
                  "after the header", path, h.descr, (long long)numel,
                  need < 0 ? (long long)INT64_MAX : (long long)need, size - data_at);
        goto done;
    }
    if (nm_mem_reserve(path, numel * (int64_t)nm_dtype_size(nm_raw_target(raw))) != NM_OK)
        goto done;
    t = nm_tensor_new(nm_raw_target(raw), h.ndim, h.shape);
    if (!t) {
        nm_preperr(path);
        goto done;
    }
    if (nm_raw_read(f, raw, t, NULL) != NM_OK) {
        nm_preperr(path);
        nm_tensor_release(t);
        t = NULL;
    }
done:
    fclose(f);
    return t;
}

/* Writes t as a version 1.0 .npy file (atomically). */
int nm_npy_save(const nm_tensor *t, const char *path)
{
    static const char *descrs[NM_DTYPE_COUNT] = {"<f4", "|i1", "|u1", "<i4"};
    if (!t || (unsigned)t->dtype >= NM_DTYPE_COUNT)
        return nm_seterr("%s: no tensor of a writable dtype to save", path);
    char dict[256];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                     descrs[t->dtype]);
    for (int i = 0; i < t->ndim; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, i ? ", %lld" : "%lld",
                      (long long)t->shape[i]);
    n += snprintf(dict + n, sizeof dict - (size_t)n, "%s), }", t->ndim == 1 ? "," : "");
    /* magic(6) + version(2) + length(2) + dict + spaces + '\n' = k * 64 */
    size_t total = ((size_t)n + 11 + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
    size_t hlen = total - 10;
    char header[320];
    memcpy(header, NPY_MAGIC "\x01\x00", 8);
    header[8] = (char)(hlen & 0xff);
    header[9] = (char)(hlen >> 8);
    memcpy(header + 10, dict, (size_t)n);
    memset(header + 10 + n, ' ', hlen - (size_t)n - 1);
    header[total - 1] = '\n';

    nm_atomic_file af;
    if (nm_atomic_begin(&af, path) != NM_OK)
        return NM_ERR;
    if (fwrite(header, 1, total, af.f) != total) {
        nm_seterr("%s: write failed: %s", path, strerror(errno));
        nm_atomic_abort(&af);
        return NM_ERR;
    }
    if (nm_raw_write(af.f, t, NULL) != NM_OK) {
        nm_preperr(path);
        nm_atomic_abort(&af);
        return NM_ERR;
    }
    return nm_atomic_commit(&af);
}
