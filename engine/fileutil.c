/* fileutil.c - atomic writes through a temporary file, bounded reads of
 * regular files only. See fileutil.h. */
#define _GNU_SOURCE 1          /* O_TMPFILE, linkat with AT_SYMLINK_FOLLOW */
#include "fileutil.h"
#include "error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TMP_TAG ".tmp."
#define TMP_RAND 6             /* characters after TMP_TAG, as mkstemp */

static _Atomic long long budget_left = -1;   /* < 0: no budget */
static long long budget_total = -1;

void nm_write_budget_set(long long bytes)
{
    budget_total = bytes;
    atomic_store(&budget_left, bytes);
}

int nm_write_budget_take(long long bytes)
{
    long long left = atomic_load(&budget_left);
    do {
        if (left < 0)
            return NM_OK;
        if (bytes > left)
            return nm_seterr("the disk write cap of %lld bytes is reached (%lld left, %lld "
                             "more asked)", budget_total, left, bytes);
    } while (!atomic_compare_exchange_weak(&budget_left, &left, left - bytes));
    return NM_OK;
}

/* What a file that is not a regular one is, for messages. */
static const char *kind_of(mode_t m)
{
    if (S_ISDIR(m))
        return "is a folder";
    if (S_ISFIFO(m))
        return "is a FIFO (named pipe)";
    if (S_ISCHR(m) || S_ISBLK(m))
        return "is a device";
    if (S_ISSOCK(m))
        return "is a socket";
    return "is not a regular file";
}

/* Splits path into its folder (dir, "." if none) and last component. */
static int split_path(const char *path, char *dir, size_t dlen, const char **base)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        *base = path;
        snprintf(dir, dlen, ".");
        return NM_OK;
    }
    *base = slash + 1;
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    if (n >= dlen)
        return NM_ERR;
    memcpy(dir, path, n);
    dir[n] = '\0';
    return NM_OK;
}

/* Follows symlinks from `path` to the file a save must replace, written
 * into out. *exists tells whether it exists (then *st describes it).
 * A dangling link resolves to the file it names (the save creates it).
 * Refuses folders, FIFOs, devices and link loops. */
static int resolve_target(const char *path, char *out, size_t outlen, int *exists, struct stat *st)
{
    char cur[4096], link[4096], dir[4096];
    if ((size_t)snprintf(cur, sizeof cur, "%s", path) >= sizeof cur)
        return nm_seterr("%s: path too long", path);
    for (int hops = 0; hops < 40; hops++) {
        if (lstat(cur, st) != 0) {
            if (errno != ENOENT)
                return nm_seterr("%s: %s", path, strerror(errno));
            *exists = 0;
            break;
        }
        if (!S_ISLNK(st->st_mode)) {
            if (!S_ISREG(st->st_mode))
                return nm_seterr("%s: %s, not written", path, kind_of(st->st_mode));
            *exists = 1;
            break;
        }
        ssize_t n = readlink(cur, link, sizeof link - 1);
        if (n < 0)
            return nm_seterr("%s: %s", path, strerror(errno));
        link[n] = '\0';
        const char *base;
        if (link[0] == '/' || split_path(cur, dir, sizeof dir, &base) != NM_OK ||
            strcmp(dir, ".") == 0) {
            if ((size_t)n >= sizeof cur)
                return nm_seterr("%s: path too long", path);
            memcpy(cur, link, (size_t)n + 1);
        } else if ((size_t)snprintf(cur, sizeof cur, "%s/%s", dir, link) >= sizeof cur) {
            return nm_seterr("%s: path too long", path);
        }
        if (hops == 39)
            return nm_seterr("%s: %s", path, strerror(ELOOP));
    }
    if (strlen(cur) + sizeof TMP_TAG + TMP_RAND + 1 > outlen)
        return nm_seterr("%s: path too long", path);
    snprintf(out, outlen, "%s", cur);
    return NM_OK;
}

/* Removes the temporary files of target that no save holds any more: those
 * a killed save left behind ("<target>.tmp.XXXXXX"). A save in progress
 * keeps an exclusive flock on its file (a killed one's lock went with it),
 * so another process's live temporary file is never taken. */
static void remove_stale(const char *target)
{
    char dir[4096], full[4096 + 256];
    const char *base;
    if (split_path(target, dir, sizeof dir, &base) != NM_OK)
        return;
    size_t blen = strlen(base), tlen = strlen(TMP_TAG);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        if (strlen(name) != blen + tlen + TMP_RAND || strncmp(name, base, blen) != 0 ||
            strncmp(name + blen, TMP_TAG, tlen) != 0)
            continue;
        if ((size_t)snprintf(full, sizeof full, "%s/%s", dir, name) >= sizeof full)
            continue;
        int fd = open(full, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
            continue;
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && flock(fd, LOCK_EX | LOCK_NB) == 0)
            unlink(full);
        close(fd);
    }
    closedir(d);
}

/* Opens an unnamed file in dir (O_TMPFILE, Linux 3.11+, most local file
 * systems) or returns -1 when the system or file system has none (then a
 * named temporary file is used). The file only gets a name in
 * nm_atomic_commit (linkat through /proc/self/fd), so a save killed while
 * writing leaves nothing on disk. Mode 0666 less the umask. */
static _Atomic int use_tmpfile = 1;

void nm_atomic_use_tmpfile(int on)
{
    atomic_store(&use_tmpfile, on);
}

static int open_anonymous(const char *dir)
{
#ifdef O_TMPFILE
    if (!atomic_load(&use_tmpfile) || access("/proc/self/fd", X_OK) != 0)
        return -1;   /* linkat needs /proc to give the file a name */
    return open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
#else
    (void)dir;
    return -1;
#endif
}

/* Gives the open unnamed file fd the name af->tmp ("<path>.tmp.XXXXXX",
 * a fresh random suffix). */
static int link_anonymous(nm_atomic_file *af, int fd)
{
    static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 20 ^ (uint64_t)getpid() << 40 ^
                 (uint64_t)(uintptr_t)af;
    for (int tries = 0; tries < 100; tries++) {
        size_t n = (size_t)snprintf(af->tmp, sizeof af->tmp, "%s" TMP_TAG, af->path);
        if (n + TMP_RAND >= sizeof af->tmp) {
            errno = ENAMETOOLONG;
            break;
        }
        for (int i = 0; i < TMP_RAND; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            af->tmp[n + (size_t)i] = chars[(x >> 33) % (sizeof chars - 1)];
        }
        af->tmp[n + TMP_RAND] = '\0';
        if (linkat(AT_FDCWD, proc, AT_FDCWD, af->tmp, AT_SYMLINK_FOLLOW) == 0)
            return NM_OK;
        if (errno != EEXIST)
            break;
    }
    int err = errno;
    af->tmp[0] = '\0';
    errno = err;
    return NM_ERR;
}

int nm_atomic_begin(nm_atomic_file *af, const char *path)
{
    memset(af, 0, sizeof *af);
    struct stat st;
    int exists = 0;
    if (resolve_target(path, af->path, sizeof af->path, &exists, &st) != NM_OK)
        return NM_ERR;
    char dir[4096];
    const char *base;
    if (split_path(af->path, dir, sizeof dir, &base) != NM_OK || !*base)
        return nm_seterr("%s: not a file name", path);
    remove_stale(af->path);
    int fd = open_anonymous(dir);
    if (fd >= 0) {
        af->anon = 1;
    } else {
        if ((size_t)snprintf(af->tmp, sizeof af->tmp, "%s" TMP_TAG "XXXXXX", af->path) >=
            sizeof af->tmp) {
            af->tmp[0] = '\0';
            return nm_seterr("%s: path too long", path);
        }
        fd = mkostemp(af->tmp, O_CLOEXEC);
        if (fd < 0) {
            af->tmp[0] = '\0';
            return nm_seterr("%s: cannot create: %s", path, strerror(errno));
        }
        if (!exists) {   /* mkstemp made it 0600; a new file gets 0666 & ~umask */
            mode_t mask = umask(022);   /* (read the umask: not thread-safe) */
            umask(mask);
            fchmod(fd, 0666 & ~mask);
        }
    }
    /* Marks the file as in use, so that remove_stale in another save of
     * the same target leaves it alone. */
    flock(fd, LOCK_EX | LOCK_NB);
    if (exists) {
        fchmod(fd, st.st_mode & 07777);
        if (fchown(fd, (uid_t)-1, st.st_gid) != 0) {
            /* not a member of the target's group: the file keeps ours */
        }
    }
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        int err = errno;
        close(fd);
        if (af->tmp[0])
            unlink(af->tmp);
        af->tmp[0] = '\0';
        return nm_seterr("%s: cannot open: %s", path, strerror(err));
    }
    return NM_OK;
}

/* Syncs the folder of path, so that the rename survives a crash. Some file
 * systems cannot sync a folder (EINVAL): that is not an error. */
static int sync_dir(const char *path)
{
    char dir[4096];
    const char *base;
    if (split_path(path, dir, sizeof dir, &base) != NM_OK)
        return NM_OK;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return NM_OK;
    int rc = fsync(fd) == 0 || errno == EINVAL || errno == EROFS ? NM_OK : NM_ERR;
    int err = errno;
    close(fd);
    errno = err;
    return rc;
}

int nm_atomic_commit(nm_atomic_file *af)
{
    if (!af->f)
        return nm_seterr("%s: not open for writing", af->path);
    int fd = fileno(af->f);
    int bad = ferror(af->f) || fflush(af->f) != 0 || fsync(fd) != 0;
    int err = errno;
    struct stat st;
    if (!bad && fstat(fd, &st) == 0 && nm_write_budget_take((long long)st.st_size) != NM_OK) {
        fclose(af->f);
        af->f = NULL;
        if (af->tmp[0])
            unlink(af->tmp);
        af->tmp[0] = '\0';
        return nm_preperr(af->path);
    }
    if (!bad && af->anon && link_anonymous(af, fd) != NM_OK) {
        bad = 1;
        err = errno;
    }
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
        if (af->tmp[0])
            unlink(af->tmp);
        af->tmp[0] = '\0';
        return nm_seterr("%s: write failed: %s", af->path, strerror(err));
    }
    af->tmp[0] = '\0';
    if (sync_dir(af->path) != NM_OK)
        return nm_seterr("%s: written, but syncing its folder failed: %s", af->path,
                         strerror(errno));
    return NM_OK;
}

void nm_atomic_abort(nm_atomic_file *af)
{
    if (af->f)
        fclose(af->f);   /* an unnamed file disappears here */
    af->f = NULL;
    if (af->tmp[0])
        unlink(af->tmp);
    af->tmp[0] = '\0';
}

int nm_open_read(const char *path)
{
    /* stat first so that a device is not even opened (opening one can have
     * effects); then open without blocking (a FIFO would wait for a
     * writer) and check the descriptor itself, which no rename can swap. */
    struct stat st;
    if (stat(path, &st) != 0)
        return nm_seterr("%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return nm_seterr("%s: %s, not a file nmlab can read", path, kind_of(st.st_mode));
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return nm_seterr("%s: %s", path, strerror(errno));
    int flags;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int err = errno;
        close(fd);
        return S_ISREG(st.st_mode) ? nm_seterr("%s: %s", path, strerror(err))
                                   : nm_seterr("%s: %s, not a file nmlab can read", path,
                                               kind_of(st.st_mode));
    }
    if ((flags = fcntl(fd, F_GETFL)) == -1 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == -1) {
        int err = errno;
        close(fd);
        return nm_seterr("%s: %s", path, strerror(err));
    }
    return fd;
}

FILE *nm_fopen_read(const char *path)
{
    int fd = nm_open_read(path);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        nm_seterr("%s: %s", path, strerror(errno));
        close(fd);
    }
    return f;
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
    FILE *f = nm_fopen_read(path);
    if (!f)
        return NM_ERR;
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
