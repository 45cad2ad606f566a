/* rawio.c - decode little-endian stored elements into engine tensors and
 * encode engine tensors back, a chunk at a time through a small buffer so
 * that no reader needs a second copy of the data. */
#include "rawio.h"
#include "error.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define CHUNK_BYTES (1 << 16)

/* On little-endian hosts F32/I8/U8/I32 are stored exactly as in memory, so
 * they go straight between the file and the tensor without the chunk
 * buffer (one memory pass fewer). Elsewhere they are byte-swapped. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_LE 1
#else
#define HOST_LE 0
#endif

static int native_layout(nm_raw_type r)
{
    return HOST_LE && (r == NM_RAW_F32 || r == NM_RAW_I8 || r == NM_RAW_U8 || r == NM_RAW_I32);
}

static const size_t raw_sizes[NM_RAW_COUNT] = {4, 8, 2, 2, 1, 1, 1, 4, 8};
static const nm_dtype raw_targets[NM_RAW_COUNT] = {
    NM_F32, NM_F32, NM_F32, NM_F32, NM_I8, NM_U8, NM_U8, NM_I32, NM_I32,
};

size_t nm_raw_size(nm_raw_type r)
{
    return (unsigned)r < NM_RAW_COUNT ? raw_sizes[r] : 0;
}

nm_dtype nm_raw_target(nm_raw_type r)
{
    return (unsigned)r < NM_RAW_COUNT ? raw_targets[r] : NM_DTYPE_COUNT;
}

nm_raw_type nm_raw_of_dtype(nm_dtype t)
{
    switch (t) {
    case NM_F32: return NM_RAW_F32;
    case NM_I8: return NM_RAW_I8;
    case NM_U8: return NM_RAW_U8;
    case NM_I32: return NM_RAW_I32;
    default: return NM_RAW_COUNT;
    }
}

int64_t nm_raw_bytes(nm_raw_type r, int64_t numel)
{
    int64_t size = (int64_t)nm_raw_size(r);
    if (numel < 0 || size == 0 || numel > INT64_MAX / size)
        return -1;
    return numel * size;
}

static uint16_t le16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static float bits_to_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* IEEE 754 binary16 -> binary32, exact (every half is a float). */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    if (exp == 0) { /* zero or subnormal: man * 2^-24 */
        float v = ldexpf((float)man, -24);
        return sign ? -v : v;
    }
    if (exp == 31) /* inf or NaN, payload kept */
        return bits_to_float(sign | 0x7f800000u | man << 13);
    return bits_to_float(sign | (exp + 112u) << 23 | man << 13);
}

/* Decodes n elements of r from src into dst (element index `base` onwards
 * of a tensor, used for I64 range messages). */
static int decode(nm_raw_type r, const unsigned char *src, size_t n, void *dst, int64_t base)
{
    size_t i;
    switch (r) {
    case NM_RAW_F32: {
        float *d = dst;
        for (i = 0; i < n; i++)
            d[i] = bits_to_float(le32(src + 4 * i));
        break;
    }
    case NM_RAW_F64: {
        float *d = dst;
        for (i = 0; i < n; i++) {
            uint64_t u = le64(src + 8 * i);
            double v;
            memcpy(&v, &u, sizeof v);
            d[i] = (float)v;
        }
        break;
    }
    case NM_RAW_F16: {
        float *d = dst;
        for (i = 0; i < n; i++)
            d[i] = half_to_float(le16(src + 2 * i));
        break;
    }
    case NM_RAW_BF16: {
        float *d = dst;
        for (i = 0; i < n; i++)
            d[i] = bits_to_float((uint32_t)le16(src + 2 * i) << 16);
        break;
    }
    case NM_RAW_I8:
    case NM_RAW_U8:
        memcpy(dst, src, n);
        break;
    case NM_RAW_BOOL: {
        uint8_t *d = dst;
        for (i = 0; i < n; i++)
            d[i] = src[i] != 0;
        break;
    }
    case NM_RAW_I32: {
        int32_t *d = dst;
        for (i = 0; i < n; i++)
            d[i] = (int32_t)le32(src + 4 * i);
        break;
    }
    case NM_RAW_I64: {
        int32_t *d = dst;
        for (i = 0; i < n; i++) {
            int64_t v = (int64_t)le64(src + 8 * i);
            if (v < INT32_MIN || v > INT32_MAX)
                return nm_seterr("element %lld is %lld, outside the int32 range nmlab keeps integers in",
                                 (long long)(base + (int64_t)i), (long long)v);
            d[i] = (int32_t)v;
        }
        break;
    }
    default:
        return nm_seterr("unknown stored type %d", (int)r);
    }
    return NM_OK;
}

/* Adds n bytes to p and reports when NM_RAW_REPORT_BYTES have passed since
 * the last report, or always with `force`; NM_ERR "cancelled" if asked. */
static int raw_progress(nm_raw_progress *p, int64_t n, int force)
{
    if (!p || !p->fn)
        return NM_OK;
    p->done += n;
    if (!force && p->done - p->reported < NM_RAW_REPORT_BYTES)
        return NM_OK;
    p->reported = p->done;
    return nm_progress(p->fn, p->ud, p->total > 0 ? (double)p->done / (double)p->total : 1.0, p->what);
}

int nm_raw_read(FILE *f, nm_raw_type r, nm_tensor *t, nm_raw_progress *p)
{
    if ((unsigned)r >= NM_RAW_COUNT || t->dtype != raw_targets[r])
        return nm_seterr("cannot decode stored type %d into %s", (int)r, nm_dtype_name(t->dtype));
    size_t esz = raw_sizes[r], per = CHUNK_BYTES / esz, dsz = nm_dtype_size(t->dtype);
    if (native_layout(r)) {
        /* straight into the tensor, in slices so that progress can be seen */
        size_t n = (size_t)t->numel, slice = (size_t)NM_RAW_REPORT_BYTES / esz;
        unsigned char *out = t->data;
        for (size_t done = 0; done < n;) {
            size_t k = n - done < slice ? n - done : slice;
            if (fread(out + done * esz, esz, k, f) != k)
                return ferror(f) ? nm_seterr("read error: %s", strerror(errno))
                                 : nm_seterr("unexpected end of file");
            done += k;
            if (raw_progress(p, (int64_t)(k * esz), done == n) != NM_OK)
                return NM_ERR;
        }
        return n ? NM_OK : raw_progress(p, 0, 1);
    }
    unsigned char buf[CHUNK_BYTES];
    unsigned char *out = t->data;
    for (int64_t done = 0; done < t->numel;) {
        size_t n = (size_t)(t->numel - done < (int64_t)per ? t->numel - done : (int64_t)per);
        size_t got = fread(buf, esz, n, f);
        if (got != n)
            return ferror(f) ? nm_seterr("read error: %s", strerror(errno))
                             : nm_seterr("unexpected end of file");
        if (decode(r, buf, n, out + (size_t)done * dsz, done) != NM_OK)
            return NM_ERR;
        done += (int64_t)n;
        if (raw_progress(p, (int64_t)(n * esz), done == t->numel) != NM_OK)
            return NM_ERR;
    }
    return t->numel ? NM_OK : raw_progress(p, 0, 1);
}

static void put32(unsigned char *p, uint32_t u)
{
    p[0] = (unsigned char)u;
    p[1] = (unsigned char)(u >> 8);
    p[2] = (unsigned char)(u >> 16);
    p[3] = (unsigned char)(u >> 24);
}

int nm_raw_write(FILE *f, const nm_tensor *t, nm_raw_progress *p)
{
    size_t esz = nm_dtype_size(t->dtype);
    if (esz == 0)
        return nm_seterr("cannot write dtype %d", (int)t->dtype);
    if (native_layout(nm_raw_of_dtype(t->dtype))) {
        size_t n = (size_t)t->numel, slice = (size_t)NM_RAW_REPORT_BYTES / esz;
        const unsigned char *in = t->data;
        for (size_t done = 0; done < n;) {
            size_t k = n - done < slice ? n - done : slice;
            if (fwrite(in + done * esz, esz, k, f) != k)
                return nm_seterr("write error: %s", strerror(errno));
            done += k;
            if (raw_progress(p, (int64_t)(k * esz), done == n) != NM_OK)
                return NM_ERR;
        }
        return n ? NM_OK : raw_progress(p, 0, 1);
    }
    unsigned char buf[CHUNK_BYTES];
    size_t per = CHUNK_BYTES / esz;
    const unsigned char *in = t->data;
    for (int64_t done = 0; done < t->numel;) {
        size_t n = (size_t)(t->numel - done < (int64_t)per ? t->numel - done : (int64_t)per);
        const unsigned char *src = in + (size_t)done * esz;
        if (esz == 4) { /* f32 and i32: host words to little-endian bytes */
            for (size_t i = 0; i < n; i++) {
                uint32_t u;
                memcpy(&u, src + 4 * i, 4);
                put32(buf + 4 * i, u);
            }
        } else {
            memcpy(buf, src, n);
        }
        if (fwrite(buf, esz, n, f) != n)
            return nm_seterr("write error: %s", strerror(errno));
        done += (int64_t)n;
        if (raw_progress(p, (int64_t)(n * esz), done == t->numel) != NM_OK)
            return NM_ERR;
    }
    return t->numel ? NM_OK : raw_progress(p, 0, 1);
}
