/* fileutil.c - atomic writes through a temporary file, bounded reads. */
#include "fileutil.h"
#include "error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int nm_atomic_begin(nm_atomic_file *af, const char *path)
{
    memset(af, 0, sizeof *af);
    if (strlen(path) + 16 > sizeof af->tmp)
        return nm_seterr("%s: path too long", path);
    snprintf(af->path, sizeof af->path, "%s", path);
    snprintf(af->tmp, sizeof af->tmp, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(af->tmp);
    if (fd < 0) {
        af->tmp[0] = '\0';
        return nm_seterr("%s: cannot create: %s", path, strerror(errno));
    }
    fchmod(fd, 0644);
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        close(fd);
        unlink(af->tmp);
        af->tmp[0] = '\0';
        return nm_seterr("%s: cannot open: %s", path, strerror(errno));
    }
    return NM_OK;
}

int nm_atomic_commit(nm_atomic_file *af)
{
    if (!af->f)
        return nm_seterr("%s: not open for writing", af->path);
    int bad = ferror(af->f) || fflush(af->f) != 0 || fsync(fileno(af->f)) != 0;
    int err = errno;
    if (fclose(af->f) != 0 && !bad) {
        bad = 1;
        err = errno;
    }
    af->f = NULL;
    if (!bad && rename(af->tmp, af->path) != 0) {
        bad = 1;
        err = errno;
    }
    if (bad) {
        unlink(af->tmp);
        af->tmp[0] = '\0';
        return nm_seterr("%s: write failed: %s", af->path, strerror(err));
    }
    af->tmp[0] = '\0';
    return NM_OK;
}

void nm_atomic_abort(nm_atomic_file *af)
{
    if (af->f)
        fclose(af->f);
    af->f = NULL;
    if (af->tmp[0])
        unlink(af->tmp);
    af->tmp[0] = '\0';
}

long long nm_file_size(FILE *f)
{
    struct stat st;
    if (fstat(fileno(f), &st) != 0)
        return nm_seterr("cannot stat: %s", strerror(errno));
    return (long long)st.st_size;
}

int nm_read_file(const char *path, size_t max, unsigned char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return nm_seterr("%s: %s", path, strerror(errno));
    long long size = nm_file_size(f);
    if (size < 0) {
        fclose(f);
        return nm_preperr(path);
    }
    if ((unsigned long long)size > max) {
        fclose(f);
        return nm_seterr("%s: file is %lld bytes, more than the %zu allowed", path, size, max);
    }
    unsigned char *buf = malloc((size_t)size + 1);
    if (!buf) {
        fclose(f);
        return nm_seterr("%s: out of memory", path);
    }
    size_t got = fread(buf, 1, (size_t)size, f);
    int rerr = ferror(f);
    fclose(f);
    if (rerr || got != (size_t)size) {
        free(buf);
        return nm_seterr("%s: read error", path);
    }
    buf[got] = '\0';
    *data = buf;
    *len = got;
    return NM_OK;
}
