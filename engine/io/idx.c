/* idx.c - IDX files (the MNIST family's format), plain or gzip-compressed.
 *
 * Layout: two zero bytes, an element type byte (0x08 = unsigned byte, the
 * only one nmlab reads), the number of dimensions, then each dimension as a
 * big-endian 32-bit count, then the elements. zlib's gzread reads plain
 * files unchanged, so one path serves both.
 *
 * Memory: the data stream straight from zlib into the tensor (no second
 * buffer), and only the first `limit` items are read when a limit is given.
 * Before the tensor is allocated its size is (1) reserved against the
 * thread's memory budget (tensor.h) and (2) checked against what the file
 * can hold: a plain file its size, a gzip file at most 1032 times its size
 * (deflate's largest expansion), so a hostile header cannot make us
 * allocate more than the file justifies. A full read then checks the count
 * exactly (truncation, trailing bytes). */
#include "nmio.h"
#include "fileutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
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

/* Deflate's largest expansion: 258 bytes from about 2 bits. */
#define IDX_GZIP_MAX_RATIO 1032

/* Sets "path: what" (with zlib's message for a zlib error), closes f and
 * returns NM_ERR. */
static int fail(gzFile f, const char *path, const char *what)
{
    int zerr = 0;
    const char *zmsg = f ? gzerror(f, &zerr) : "";
    if (zerr < 0 && zerr != Z_BUF_ERROR)
        nm_seterr("%s: %s (zlib: %s)", path, what, zmsg);
    else
        nm_seterr("%s: %s", path, what);
    if (f)
        gzclose(f);
    return NM_ERR;
}

/* Opens path into *fp, left at the data, and reads the header: *ndim and
 * shape[] (dim 0 = items). On failure NM_ERR with the message set and
 * nothing left open. */
static int open_header(const char *path, gzFile *fp, int *ndim_out, int64_t *shape)
{
    int fd = nm_open_read(path);   /* refuses FIFOs, devices, folders */
    if (fd < 0) {
        char why[512];   /* the message is "<path>: <why>" */
        const char *msg = nm_errmsg();
        size_t skip = strlen(path) + 2;
        snprintf(why, sizeof why, "%s", strlen(msg) >= skip ? msg + skip : msg);
        return nm_seterr("%s: cannot open: %s", path, why);
    }
    gzFile f = gzdopen(fd, "rb");
    if (!f) {
        close(fd);
        return nm_seterr("%s: cannot open: out of memory", path);
    }
    unsigned char head[4];
    long long r = read_full(f, head, 4);
    if (r < 0)
        return fail(f, path, "corrupt or truncated gzip data in the header");
    if (r < 4)
        return fail(f, path, "too short for an IDX header (needs 4 bytes)");
    if (head[0] != 0 || head[1] != 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "not an IDX file (magic starts %02x %02x, expected 00 00)",
                 head[0], head[1]);
        return fail(f, path, msg);
    }
    if (head[2] != 0x08) {
        char msg[160];
        snprintf(msg, sizeof msg, "IDX element type 0x%02X (%s) is not supported; nmlab reads "
                 "unsigned-byte (0x08) IDX files", head[2], idx_type_name(head[2]));
        return fail(f, path, msg);
    }
    int ndim = head[3];
    if (ndim < 1 || ndim > NM_MAX_DIMS) {
        char msg[128];
        snprintf(msg, sizeof msg, "IDX file with %d dimensions (nmlab reads 1 to %d)", ndim,
                 NM_MAX_DIMS);
        return fail(f, path, msg);
    }
    unsigned char dims[4 * NM_MAX_DIMS];
    r = read_full(f, dims, 4 * (size_t)ndim);
    if (r < 0)
        return fail(f, path, "corrupt or truncated gzip data in the header");
    if (r < 4 * ndim)
        return fail(f, path, "truncated in the dimension list");
    int64_t numel;
    for (int i = 0; i < ndim; i++)
        shape[i] = (int64_t)dims[4 * i] << 24 | (int64_t)dims[4 * i + 1] << 16 |
                   (int64_t)dims[4 * i + 2] << 8 | (int64_t)dims[4 * i + 3];
    if (nm_shape_numel(NM_U8, ndim, shape, &numel) != NM_OK) {
        char msg[256];
        snprintf(msg, sizeof msg, "impossible dimensions: %s", nm_errmsg());
        return fail(f, path, msg);
    }
    *ndim_out = ndim;
    *fp = f;
    return NM_OK;
}

int nm_idx_shape(const char *path, int *ndim, int64_t shape[NM_MAX_DIMS])
{
    gzFile f;
    if (open_header(path, &f, ndim, shape) != NM_OK)
        return NM_ERR;
    gzclose(f);
    return NM_OK;
}

static void shape_words(int ndim, const int64_t *shape, char *sh, size_t len)
{
    sh[0] = '\0';
    for (int i = 0; i < ndim; i++)
        snprintf(sh + strlen(sh), len - strlen(sh), "%s%lld", i ? " x " : "", (long long)shape[i]);
}

nm_tensor *nm_idx_load(const char *path)
{
    return nm_idx_load_limit(path, 0);
}

nm_tensor *nm_idx_load_limit(const char *path, int64_t limit)
{
    int ndim = 0;
    int64_t shape[NM_MAX_DIMS], numel = 1;
    gzFile f;
    if (open_header(path, &f, &ndim, shape) != NM_OK)
        return NULL;
    int whole = limit <= 0 || limit >= shape[0];
    if (!whole)
        shape[0] = limit;
    for (int i = 0; i < ndim; i++)
        numel *= shape[i];   /* no overflow: the declared shape passed nm_shape_numel */
    /* What the file can hold, before anything is allocated. */
    struct stat st;
    int64_t header = 4 + 4 * (int64_t)ndim;
    if (stat(path, &st) == 0) {
        int plain = gzdirect(f);
        int64_t most = plain ? (int64_t)st.st_size - header
                             : (int64_t)st.st_size * IDX_GZIP_MAX_RATIO;
        if (numel > most) {
            char msg[320], sh[96];
            shape_words(ndim, shape, sh, sizeof sh);
            if (plain)
                snprintf(msg, sizeof msg, "truncated: dimensions %s need %lld data bytes but "
                         "the file holds %lld", sh, (long long)numel, (long long)most);
            else
                snprintf(msg, sizeof msg, "dimensions %s need %lld data bytes but a gzip file "
                         "of %lld bytes holds at most %lld (deflate expands at most %d:1)", sh,
                         (long long)numel, (long long)st.st_size, (long long)most,
                         IDX_GZIP_MAX_RATIO);
            fail(f, path, msg);
            return NULL;
        }
    }
    if (nm_mem_reserve(path, numel) != NM_OK) {
        gzclose(f);
        return NULL;
    }
    nm_tensor *t = nm_tensor_new(NM_U8, ndim, shape);
    if (!t) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", nm_errmsg());
        fail(f, path, msg);
        return NULL;
    }
    long long r = read_full(f, t->data, (size_t)numel);
    unsigned char extra;
    long long more = r == numel && whole ? read_full(f, &extra, 1) : 0;
    if (r < 0 || more < 0) {
        nm_tensor_release(t);
        fail(f, path, "corrupt or truncated gzip data");
        return NULL;
    }
    if (r != numel || more > 0) {
        char msg[256], sh[96];
        shape_words(ndim, shape, sh, sizeof sh);
        if (r < numel)
            snprintf(msg, sizeof msg, "truncated: dimensions %s need %lld data bytes but the "
                     "file holds %lld", sh, (long long)numel, r);
        else
            snprintf(msg, sizeof msg, "trailing bytes after the %lld data bytes of dimensions %s",
                     (long long)numel, sh);
        nm_tensor_release(t);
        fail(f, path, msg);
        return NULL;
    }
    gzclose(f);
    return t;
}
