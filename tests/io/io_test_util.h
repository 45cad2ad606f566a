/* io_test_util.h - helpers for the engine/io tests: a private temporary
 * folder per test, files written byte by byte, little-endian packing,
 * one-tensor files and the check that a failed save left nothing. */
#ifndef NM_IO_TEST_UTIL_H
#define NM_IO_TEST_UTIL_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../test_tmpdir.h"
#include "nmio.h"

/* A fresh folder under /tmp; each Criterion test runs in its own process. */
static inline void tmp_make(char *dir, size_t len)
{
    cr_assert_not_null(tmpdir_new(dir, len, "io"), "cannot make a temporary folder");
}

static inline void tmp_path(char *out, size_t len, const char *dir, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

/* Number of entries in dir (besides . and ..). */
static inline int tmp_count(const char *dir)
{
    int n = tmpdir_count(dir);
    cr_assert(n >= 0, "cannot read %s", dir);
    return n;
}

/* After a save into a folder that does not exist returned rc: it failed,
 * the message names the path, and dir holds nothing (no temporary left). */
static inline void expect_nothing_written(int rc, const char *path, const char *dir)
{
    cr_assert_eq(rc, NM_ERR, "save to %s succeeded", path);
    cr_assert(strstr(nm_errmsg(), path), "message does not name the file: %s", nm_errmsg());
    cr_assert_eq(tmp_count(dir), 0);
}

/* Writes a safetensors file at path holding t alone, named name; takes
 * over the caller's reference to t. */
static inline void write_one_tensor(const char *path, const char *name, nm_tensor *t)
{
    nm_tensor_list tl = {0};
    cr_assert_not_null(t, "%s", nm_errmsg());
    cr_assert_eq(nm_tensor_list_add(&tl, name, t), NM_OK, "%s", nm_errmsg());
    nm_tensor_release(t);
    cr_assert_eq(nm_safetensors_write(path, &tl), NM_OK, "%s", nm_errmsg());
    nm_tensor_list_free(&tl);
}

/* Removes the folder and what is in it. */
static inline void tmp_remove(const char *dir)
{
    cr_assert_eq(tmpdir_remove(dir), 0, "cannot remove %s", dir);
}

/* Writes a fresh file (unlinking first: ext4 flushes a file truncated and
 * rewritten in place on close, which makes loops of rewrites slow). */
static inline void write_bytes(const char *path, const void *data, size_t n)
{
    unlink(path);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

/* Whole file into a malloc'd buffer (caller frees). */
static inline unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)size + 1);
    cr_assert_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    *n = (size_t)size;
    return buf;
}

/* Little-endian packing into a byte buffer. */
static inline size_t put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
    return (size_t)bytes;
}

static inline uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline uint64_t f64_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

/* A safetensors file: 8-byte little-endian length, header text, data. */
static inline void write_st(const char *path, const char *header, const void *data, size_t n)
{
    size_t hl = strlen(header);
    unsigned char *buf = malloc(8 + hl + n + 1);
    put_le(buf, hl, 8);
    memcpy(buf + 8, header, hl);
    if (n)
        memcpy(buf + 8 + hl, data, n);
    write_bytes(path, buf, 8 + hl + n);
    free(buf);
}

#endif
