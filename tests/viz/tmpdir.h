/* tmpdir.h - test helper: a fresh temporary folder and a count of what is in it. */
#ifndef TESTS_VIZ_TMPDIR_H
#define TESTS_VIZ_TMPDIR_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Creates /tmp/nmviz.XXXXXX into buf (at least 64 bytes). */
static inline const char *test_tmpdir(char *buf)
{
    strcpy(buf, "/tmp/nmviz.XXXXXX");
    return mkdtemp(buf);
}

/* Entries in dir other than . and .. */
static inline int test_dir_count(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

/* Removes the files in dir, then dir. */
static inline void test_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

#endif
