/* test_tmpdir.h - a private temporary folder for a test, shared by the test
 * areas (tests/io, tests/viz, tests/train, tests/zoo; include it as
 * "../test_tmpdir.h"). Plain C, no Criterion: the callers assert. */
#ifndef NM_TESTS_TMPDIR_H
#define NM_TESTS_TMPDIR_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Creates a fresh folder /tmp/nmlab-<tag>.XXXXXX, its name written into
 * buf (len bytes). Returns buf, or NULL if it could not be made. */
static inline char *tmpdir_new(char *buf, size_t len, const char *tag)
{
    if ((size_t)snprintf(buf, len, "/tmp/nmlab-%s.XXXXXX", tag) >= len)
        return NULL;
    return mkdtemp(buf);
}

/* Entries in dir other than . and .., or -1 if it cannot be read. */
static inline int tmpdir_count(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* Removes dir and everything below it (links are removed, not followed).
 * Returns 0, or -1 if something could not be removed. */
static inline int tmpdir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int rc = 0;
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        struct stat st;
        if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= sizeof p || lstat(p, &st) != 0)
            rc = -1;
        else if (S_ISDIR(st.st_mode) ? tmpdir_remove(p) != 0 : unlink(p) != 0)
            rc = -1;
    }
    closedir(d);
    return rmdir(dir) == 0 ? rc : -1;
}

#endif
