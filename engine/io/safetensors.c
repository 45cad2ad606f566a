/* safetensors.c - read and write the safetensors format.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON (an
 * object mapping each tensor name to {"dtype", "shape", "data_offsets"}
 * plus an optional "__metadata__" object of strings), then the data
 * buffer; data_offsets [begin, end) are relative to the buffer's start.
 *
 * The reader validates the whole header against the file's size before it
 * allocates any tensor, so a hostile header cannot make it allocate more
 * than the file holds (a 2-byte F16 element becomes a 4-byte f32, so at
 * most twice a tensor's bytes). */
#include "nmio.h"
#include "error.h"
#include "fileutil.h"
#include "rawio.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest header accepted (the official implementation uses 100 MB too). */
#define ST_HEADER_MAX ((uint64_t)100 << 20)

static const char *raw_names[NM_RAW_COUNT] = {
    "F32", "F64", "F16", "BF16", "I8", "U8", "BOOL", "I32", "I64",
};

/* One header entry, validated. `name` points into the parsed JSON. */
typedef struct {
    const char *name;
    nm_raw_type raw;
    int ndim;
    int64_t shape[NM_MAX_DIMS];
    int64_t numel;
    int64_t begin, end;
} st_entry;

/* Prefixes the current message with "path: tensor 'name'". Returns NM_ERR. */
static int tensor_err(const char *path, const char *name)
{
    char ctx[512];
    snprintf(ctx, sizeof ctx, "%s: tensor '%s'", path, name);
    return nm_preperr(ctx);
}

static int raw_from_name(const char *s)
{
    for (int i = 0; i < NM_RAW_COUNT; i++)
        if (strcmp(raw_names[i], s) == 0)
            return i;
    return -1;
}

static void shape_text(const int64_t *shape, int ndim, char *buf, size_t len)
{
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (used < len)
        snprintf(buf + used, len - used, "]");
}

/* Validates one tensor entry of the header against the data buffer's
 * length (data_len) and fills *e. Messages name the file and the tensor. */
static int parse_entry(const char *path, const char *name, json_t *v, int64_t data_len, st_entry *e)
{
    memset(e, 0, sizeof *e);
    e->name = name;
    if (!json_is_object(v))
        return nm_seterr("%s: tensor '%s': header entry is not a JSON object", path, name);

    json_t *dt = json_object_get(v, "dtype");
    if (!json_is_string(dt))
        return nm_seterr("%s: tensor '%s' has no \"dtype\" string", path, name);
    int raw = raw_from_name(json_string_value(dt));
    if (raw < 0)
        return nm_seterr("%s: tensor '%s' has unknown dtype '%s' (nmlab reads F32, F64, F16, BF16, "
                         "I8, U8, BOOL, I32, I64)", path, name, json_string_value(dt));
    e->raw = (nm_raw_type)raw;

    json_t *shape = json_object_get(v, "shape");
    if (!json_is_array(shape))
        return nm_seterr("%s: tensor '%s' has no \"shape\" array", path, name);
    size_t nd = json_array_size(shape);
    if (nd > NM_MAX_DIMS)
        return nm_seterr("%s: tensor '%s' has %zu dimensions; nmlab tensors have at most %d",
                         path, name, nd, NM_MAX_DIMS);
    e->ndim = (int)nd;
    e->numel = 1;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(shape, i);
        if (!json_is_integer(d))
            return nm_seterr("%s: tensor '%s': shape entry %zu is not an integer", path, name, i);
        long long x = json_integer_value(d);
        if (x < 0)
            return nm_seterr("%s: tensor '%s': dimension %zu is negative (%lld)", path, name, i, x);
        e->shape[i] = x;
    }
    for (size_t i = 0; i < nd; i++) {
        if (e->shape[i] > 0 && e->numel > INT64_MAX / e->shape[i]) {
            char s[128];
            shape_text(e->shape, e->ndim, s, sizeof s);
            return nm_seterr("%s: tensor '%s': shape %s is impossibly large", path, name, s);
        }
        e->numel *= e->shape[i];
    }
    for (int i = (int)nd; i < NM_MAX_DIMS; i++)
        e->shape[i] = 1;

    json_t *off = json_object_get(v, "data_offsets");
    if (!json_is_array(off) || json_array_size(off) != 2 ||
        !json_is_integer(json_array_get(off, 0)) || !json_is_integer(json_array_get(off, 1)))
        return nm_seterr("%s: tensor '%s' has no \"data_offsets\" pair of integers", path, name);
    e->begin = json_integer_value(json_array_get(off, 0));
    e->end = json_integer_value(json_array_get(off, 1));
    if (e->begin < 0 || e->end < e->begin)
        return nm_seterr("%s: tensor '%s': data_offsets [%lld, %lld] are not an ordered pair of "
                         "non-negative offsets", path, name, (long long)e->begin, (long long)e->end);

    int64_t need = nm_raw_bytes(e->raw, e->numel);
    char s[128];
    shape_text(e->shape, e->ndim, s, sizeof s);
    if (need < 0)
        return nm_seterr("%s: tensor '%s': shape %s is impossibly large", path, name, s);
    if (need != e->end - e->begin)
        return nm_seterr("%s: tensor '%s' of shape %s %s needs %lld bytes but its data_offsets "
                         "[%lld, %lld] span %lld", path, name, s, raw_names[e->raw],
                         (long long)need, (long long)e->begin, (long long)e->end,
                         (long long)(e->end - e->begin));
    if (e->end > data_len)
        return nm_seterr("%s: tensor '%s' needs %lld bytes at data offset %lld but the file's data "
                         "ends after %lld", path, name, (long long)need, (long long)e->begin,
                         (long long)data_len);
    return NM_OK;
}

static int cmp_begin(const void *a, const void *b)
{
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

/* Fails if two non-empty byte ranges overlap. */
static int check_overlaps(const char *path, st_entry *es, size_t n)
{
    if (n < 2)
        return NM_OK;
    st_entry **order = malloc(n * sizeof *order);
    if (!order)
        return nm_seterr("%s: out of memory", path);
    for (size_t i = 0; i < n; i++)
        order[i] = &es[i];
    qsort(order, n, sizeof *order, cmp_begin);
    const st_entry *last = NULL; /* the non-empty range reaching furthest so far */
    int rc = NM_OK;
    for (size_t i = 0; i < n && rc == NM_OK; i++) {
        const st_entry *e = order[i];
        if (e->end == e->begin)
            continue;
        if (last && e->begin < last->end)
            rc = nm_seterr("%s: tensors '%s' and '%s' overlap (data_offsets [%lld, %lld] and "
                           "[%lld, %lld])", path, last->name, e->name, (long long)last->begin,
                           (long long)last->end, (long long)e->begin, (long long)e->end);
        if (!last || e->end > last->end)
            last = e;
    }
    free(order);
    return rc;
}

/* Checks that a "__metadata__" value maps strings to strings. */
static int check_metadata(const char *path, json_t *md)
{
    if (!json_is_object(md))
        return nm_seterr("%s: \"__metadata__\" is not a JSON object", path);
    const char *k;
    json_t *v;
    json_object_foreach(md, k, v) {
        if (!json_is_string(v))
            return nm_seterr("%s: \"__metadata__\" must map strings to strings, but '%s' is not a "
                             "string", path, k);
    }
    return NM_OK;
}

/* Reads and checks the 8-byte length and the JSON header. On success *root
 * is the parsed header (caller decrefs) and *data_start, *data_len locate
 * the data buffer. */
static int read_header(const char *path, FILE *f, json_t **root, int64_t *data_start,
                       int64_t *data_len)
{
    long long size = nm_file_size(f);
    if (size < 0)
        return nm_preperr(path);
    if (size < 8)
        return nm_seterr("%s: file is %lld bytes, too short for a safetensors header", path, size);
    unsigned char lenb[8];
    if (fread(lenb, 1, 8, f) != 8)
        return nm_seterr("%s: cannot read the header length", path);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | lenb[i];
    if (n > ST_HEADER_MAX)
        return nm_seterr("%s: header claims %llu bytes, more than the %llu allowed (not a "
                         "safetensors file?)", path, (unsigned long long)n,
                         (unsigned long long)ST_HEADER_MAX);
    if (n > (uint64_t)size - 8)
        return nm_seterr("%s: header claims %llu bytes but the file has only %lld after the length",
                         path, (unsigned long long)n, size - 8);
    if (n == 0)
        return nm_seterr("%s: header is empty", path);
    char *text = malloc((size_t)n);
    if (!text)
        return nm_seterr("%s: out of memory reading a %llu-byte header", path, (unsigned long long)n);
    if (fread(text, 1, (size_t)n, f) != (size_t)n) {
        free(text);
        return nm_seterr("%s: cannot read the %llu-byte header", path, (unsigned long long)n);
    }
    json_error_t jerr;
    *root = json_loadb(text, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (!*root)
        return nm_seterr("%s: header is not valid JSON: %s (line %d, column %d)", path, jerr.text,
                         jerr.line, jerr.column);
    if (!json_is_object(*root)) {
        json_decref(*root);
        *root = NULL;
        return nm_seterr("%s: header is not a JSON object", path);
    }
    *data_start = 8 + (int64_t)n;
    *data_len = size - *data_start;
    return NM_OK;
}

/* Validates every entry, then allocates and reads the tensors in header
 * order into out. */
static int read_tensors(const char *path, FILE *f, json_t *root, int64_t data_start,
                        int64_t data_len, nm_tensor_list *out, nm_raw_progress *p)
{
    size_t cap = json_object_size(root);
    st_entry *es = malloc((cap ? cap : 1) * sizeof *es);
    if (!es)
        return nm_seterr("%s: out of memory", path);
    size_t n = 0;
    int rc = NM_OK;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "__metadata__") == 0) {
            if (check_metadata(path, v) != NM_OK) {
                rc = NM_ERR;
                break;
            }
            out->metadata_json = json_dumps(v, JSON_COMPACT);
            if (!out->metadata_json) {
                rc = nm_seterr("%s: out of memory", path);
                break;
            }
            continue;
        }
        if (parse_entry(path, key, v, data_len, &es[n]) != NM_OK) {
            rc = NM_ERR;
            break;
        }
        n++;
    }
    if (rc == NM_OK)
        rc = check_overlaps(path, es, n);
    for (size_t i = 0; i < n && p; i++)
        p->total += es[i].end - es[i].begin;
    /* What the tensors take once decoded (F16/BF16 double, F64/I64 halve),
     * reserved before the first is allocated. Each entry's size was checked
     * against the file, so the sum cannot overflow. */
    int64_t decoded = 0;
    for (size_t i = 0; i < n; i++)
        decoded += es[i].numel * (int64_t)nm_dtype_size(nm_raw_target(es[i].raw));
    if (rc == NM_OK && nm_mem_reserve(path, decoded) != NM_OK)
        rc = NM_ERR;
    for (size_t i = 0; i < n && rc == NM_OK; i++) {
        const st_entry *e = &es[i];
        nm_tensor *t = nm_tensor_new(nm_raw_target(e->raw), e->ndim, e->shape);
        if (!t) {
            rc = tensor_err(path, e->name);
            break;
        }
        if (fseeko(f, (off_t)(data_start + e->begin), SEEK_SET) != 0)
            rc = nm_seterr("%s: tensor '%s': cannot seek: %s", path, e->name, strerror(errno));
        else if (nm_raw_read(f, e->raw, t, p) != NM_OK)
            rc = tensor_err(path, e->name);
        else if (nm_tensor_list_add(out, e->name, t) != NM_OK)
            rc = nm_preperr(path);
        nm_tensor_release(t);
    }
    free(es);
    return rc;
}

/* Reads every tensor of a safetensors file into *out (overwritten, not
 * appended to; free with nm_tensor_list_free). On failure *out is empty. */
int nm_safetensors_read(const char *path, nm_tensor_list *out)
{
    return nm_safetensors_read_progress(path, out, NULL, NULL);
}

int nm_safetensors_read_progress(const char *path, nm_tensor_list *out, nm_progress_fn progress, void *ud)
{
    nm_raw_progress p = {progress, ud, 0, 0, 0, "reading"};
    memset(out, 0, sizeof *out);
    FILE *f = nm_fopen_read(path);
    if (!f)
        return NM_ERR;
    json_t *root = NULL;
    int64_t data_start = 0, data_len = 0;
    int rc = read_header(path, f, &root, &data_start, &data_len);
    if (rc == NM_OK)
        rc = read_tensors(path, f, root, data_start, data_len, out, &p);
    json_decref(root);
    fclose(f);
    if (rc != NM_OK)
        nm_tensor_list_free(out);
    return rc;
}

/* Builds the header object for tl; the data follows in list order. */
static json_t *build_header(const char *path, const nm_tensor_list *tl)
{
    json_t *root = json_object();
    if (!root) {
        nm_seterr("%s: out of memory", path);
        return NULL;
    }
    if (tl->metadata_json) {
        json_error_t jerr;
        json_t *md = json_loads(tl->metadata_json, JSON_REJECT_DUPLICATES, &jerr);
        if (!md) {
            nm_seterr("%s: metadata is not valid JSON: %s", path, jerr.text);
            goto fail;
        }
        if (json_object_set_new(root, "__metadata__", md) != 0) {
            nm_seterr("%s: out of memory", path);
            goto fail;
        }
        if (check_metadata(path, md) != NM_OK)
            goto fail;
    }
    int64_t offset = 0;
    for (int i = 0; i < tl->count; i++) {
        const char *name = tl->names[i];
        const nm_tensor *t = tl->tensors[i];
        nm_raw_type raw = t ? nm_raw_of_dtype(t->dtype) : NM_RAW_COUNT;
        if (!name[0] || strcmp(name, "__metadata__") == 0) {
            nm_seterr("%s: '%s' cannot name a tensor", path, name);
            goto fail;
        }
        if (raw == NM_RAW_COUNT) {
            nm_seterr("%s: tensor '%s' has no data of a writable dtype", path, name);
            goto fail;
        }
        if (json_object_get(root, name)) {
            nm_seterr("%s: tensor name '%s' is used twice", path, name);
            goto fail;
        }
        int64_t bytes = nm_raw_bytes(raw, t->numel);
        json_t *shape = json_array();
        for (int d = 0; shape && d < t->ndim; d++)
            json_array_append_new(shape, json_integer(t->shape[d]));
        json_t *entry = json_pack("{s:s, s:o, s:[I, I]}", "dtype", raw_names[raw], "shape", shape,
                                  "data_offsets", (json_int_t)offset, (json_int_t)(offset + bytes));
        if (!entry || json_object_set_new(root, name, entry) != 0) {
            nm_seterr("%s: cannot add tensor '%s' to the header (name not UTF-8?)", path, name);
            goto fail;
        }
        offset += bytes;
    }
    return root;
fail:
    json_decref(root);
    return NULL;
}

/* Writes tl atomically: F32, I8, U8, I32 tensors in list order, header
 * padded with spaces to a multiple of 8 bytes so the data is aligned. */
int nm_safetensors_write(const char *path, const nm_tensor_list *tl)
{
    return nm_safetensors_write_progress(path, tl, NULL, NULL);
}

int nm_safetensors_write_progress(const char *path, const nm_tensor_list *tl, nm_progress_fn progress,
                                  void *ud)
{
    nm_raw_progress p = {progress, ud, 0, 0, 0, "writing"};
    for (int i = 0; i < tl->count; i++)
        if (tl->tensors[i])
            p.total += tl->tensors[i]->numel * (int64_t)nm_dtype_size(tl->tensors[i]->dtype);
    json_t *root = build_header(path, tl);
    if (!root)
        return NM_ERR;
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text)
        return nm_seterr("%s: out of memory", path);
    size_t len = strlen(text), padded = (len + 7) / 8 * 8;
    unsigned char lenb[8];
    for (int i = 0; i < 8; i++)
        lenb[i] = (unsigned char)((uint64_t)padded >> (8 * i));

    nm_atomic_file af;
    if (nm_atomic_begin(&af, path) != NM_OK) {
        free(text);
        return NM_ERR;
    }
    int ok = fwrite(lenb, 1, 8, af.f) == 8 && fwrite(text, 1, len, af.f) == len;
    for (size_t i = len; ok && i < padded; i++)
        ok = fputc(' ', af.f) != EOF;
    free(text);
    if (!ok) {
        nm_seterr("%s: write failed: %s", path, strerror(errno));
        nm_atomic_abort(&af);
        return NM_ERR;
    }
    for (int i = 0; i < tl->count; i++) {
        if (nm_raw_write(af.f, tl->tensors[i], &p) != NM_OK) {
            tensor_err(path, tl->names[i]);
            nm_atomic_abort(&af);
            return NM_ERR;
        }
    }
    return nm_atomic_commit(&af);
}
