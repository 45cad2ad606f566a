/* idx.c - IDX files (the MNIST family's format), plain or gzip-compressed.
 *
 * Layout: two zero bytes, an element type byte (0x08 = unsigned byte, the
 * only one nmlab reads), the number of dimensions, then each dimension as a
 * big-endian 32-bit count, then the elements. zlib's gzread reads plain
 * files unchanged, so one path serves both. The data are read into a buffer
 * that grows only as bytes actually arrive, so a hostile header cannot make
 * us allocate more than the file holds; the count is then checked exactly. */
#include "nmio.h"
#include "fileutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static const char *idx_type_name(int t)
{
    switch (t) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "unknown";
    }
}

/* Reads up to len bytes; returns the count read, -1 on a zlib error. */
static long long read_full(gzFile f, unsigned char *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        unsigned chunk = len - got > (1u << 30) ? (1u << 30) : (unsigned)(len - got);
        int r = gzread(f, buf + got, chunk);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (long long)got;
}

static nm_tensor *fail(gzFile f, const char *path, unsigned char *buf, const char *what)
{
    int zerr = 0;
    const char *zmsg = f ? gzerror(f, &zerr) : "";
    if (zerr < 0 && zerr != Z_BUF_ERROR)
        nm_seterr("%s: %s (zlib: %s)", path, what, zmsg);
    else
        nm_seterr("%s: %s", path, what);
    free(buf);
    if (f)
        gzclose(f);
    return NULL;
}

nm_tensor *nm_idx_load(const char *path)
{
    int fd = nm_open_read(path);   /* refuses FIFOs, devices, folders */
    if (fd < 0) {
        char why[512];   /* the message is "<path>: <why>" */
        const char *msg = nm_errmsg();
        size_t skip = strlen(path) + 2;
        snprintf(why, sizeof why, "%s", strlen(msg) >= skip ? msg + skip : msg);
        nm_seterr("%s: cannot open: %s", path, why);
        return NULL;
    }
    gzFile f = gzdopen(fd, "rb");
    if (!f) {
        close(fd);
        nm_seterr("%s: cannot open: out of memory", path);
        return NULL;
    }
    unsigned char head[4];
    long long r = read_full(f, head, 4);
    if (r < 0)
        return fail(f, path, NULL, "corrupt or truncated gzip data in the header");
    if (r < 4)
        return fail(f, path, NULL, "too short for an IDX header (needs 4 bytes)");
    if (head[0] != 0 || head[1] != 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "not an IDX file (magic starts %02x %02x, expected 00 00)",
                 head[0], head[1]);
        return fail(f, path, NULL, msg);
    }
    if (head[2] != 0x08) {
        char msg[160];
        snprintf(msg, sizeof msg, "IDX element type 0x%02X (%s) is not supported; nmlab reads "
                 "unsigned-byte (0x08) IDX files", head[2], idx_type_name(head[2]));
        return fail(f, path, NULL, msg);
    }
    int ndim = head[3];
    if (ndim < 1 || ndim > NM_MAX_DIMS) {
        char msg[128];
        snprintf(msg, sizeof msg, "IDX file with %d dimensions (nmlab reads 1 to %d)", ndim,
                 NM_MAX_DIMS);
        return fail(f, path, NULL, msg);
    }
    unsigned char dims[4 * NM_MAX_DIMS];
    r = read_full(f, dims, 4 * (size_t)ndim);
    if (r < 0)
        return fail(f, path, NULL, "corrupt or truncated gzip data in the header");
    if (r < 4 * ndim)
        return fail(f, path, NULL, "truncated in the dimension list");
    int64_t shape[NM_MAX_DIMS], numel;
    for (int i = 0; i < ndim; i++)
        shape[i] = (int64_t)dims[4 * i] << 24 | (int64_t)dims[4 * i + 1] << 16 |
                   (int64_t)dims[4 * i + 2] << 8 | (int64_t)dims[4 * i + 3];
    if (nm_shape_numel(NM_U8, ndim, shape, &numel) != NM_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "impossible dimensions: %s", nm_errmsg());
        return fail(f, path, NULL, msg);
    }
    /* Read numel bytes plus one (to detect trailing data), growing the
     * buffer only as data arrive. */
    size_t cap = 0, len = 0, want = (size_t)numel + 1;
    unsigned char *buf = NULL;
    while (len < want) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            if (ncap > want)
                ncap = want;
            unsigned char *nb = realloc(buf, ncap);
            if (!nb)
                return fail(f, path, buf, "out of memory reading the data");
            buf = nb, cap = ncap;
        }
        r = read_full(f, buf + len, cap - len);
        if (r < 0)
            return fail(f, path, buf, "corrupt or truncated gzip data");
        len += (size_t)r;
        if (len < cap)
            break;   /* end of file */
    }
    if (len != (size_t)numel) {
        char msg[256], sh[96] = "";
        for (int i = 0; i < ndim; i++)
            snprintf(sh + strlen(sh), sizeof sh - strlen(sh), "%s%lld", i ? " x " : "",
                     (long long)shape[i]);
        if (len < (size_t)numel)
            snprintf(msg, sizeof msg, "truncated: dimensions %s need %lld data bytes but the "
                     "file holds %zu", sh, (long long)numel, len);
        else
            snprintf(msg, sizeof msg, "trailing bytes after the %lld data bytes of dimensions %s",
                     (long long)numel, sh);
        return fail(f, path, buf, msg);
    }
    gzclose(f);
    nm_tensor *t = nm_tensor_new(NM_U8, ndim, shape);
    if (t)
        memcpy(t->data, buf, (size_t)numel);
    free(buf);
    return t;
}
