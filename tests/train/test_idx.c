/* IDX reader (plain and gzip) on files written here, including hostile
 * ones, and the Fashion-MNIST loader against the raw bytes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "../test_budget.h"
#include "../test_tmpdir.h"
#include "nmio.h"
#include "train.h"

static char dir[64];

static void setup(void)
{
    cr_assert_not_null(tmpdir_new(dir, sizeof dir, "idx"));
}

static void teardown(void)
{
    cr_assert_eq(tmpdir_remove(dir), 0, "cannot remove %s", dir);
}

TestSuite(idx, .init = setup, .fini = teardown);

/* Writes bytes to dir/name (gzip-compressed when gz) and returns the path. */
static const char *put(const char *name, const unsigned char *b, size_t len, int gz)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (gz) {
        gzFile f = gzopen(path, "wb");
        cr_assert_not_null(f);
        if (len)
            cr_assert_eq(gzwrite(f, b, (unsigned)len), (int)len);
        gzclose(f);
    } else {
        FILE *f = fopen(path, "wb");
        cr_assert_not_null(f);
        cr_assert_eq(fwrite(b, 1, len, f), len);
        fclose(f);
    }
    return path;
}

/* header for u8 [2, 3, 2] then 12 data bytes */
static size_t good(unsigned char *b)
{
    const unsigned char head[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 2};
    memcpy(b, head, sizeof head);
    for (int i = 0; i < 12; i++)
        b[16 + i] = (unsigned char)(10 * i + 1);
    return 28;
}

Test(idx, reads_plain_and_gzip)
{
    unsigned char b[64];
    size_t n = good(b);
    for (int gz = 0; gz < 2; gz++) {
        nm_tensor *t = nm_idx_load(put(gz ? "a.gz" : "a", b, n, gz));
        cr_assert_not_null(t, "%s", nm_errmsg());
        cr_assert_eq(t->dtype, NM_U8);
        cr_assert_eq(t->ndim, 3);
        cr_assert(t->shape[0] == 2 && t->shape[1] == 3 && t->shape[2] == 2);
        for (int i = 0; i < 12; i++)
            cr_assert_eq(nm_u8(t)[i], 10 * i + 1);
        nm_tensor_release(t);
    }
}

static void expect_fail(const unsigned char *b, size_t n, int gz, const char *part)
{
    const char *path = put(gz ? "bad.gz" : "bad", b, n, gz);
    nm_tensor *t = nm_idx_load(path);
    cr_assert_null(t, "loaded a bad file (expected '%s')", part);
    cr_assert(strstr(nm_errmsg(), part) && strstr(nm_errmsg(), "bad"), "message: %s (expected '%s')",
              nm_errmsg(), part);
}

Test(idx, rejects_bad_files_with_messages)
{
    unsigned char b[64];
    size_t n = good(b);
    for (int gz = 0; gz < 2; gz++) {
        b[1] = 8;
        expect_fail(b, n, gz, "not an IDX file");
        b[1] = 0, b[2] = 0x0D;
        expect_fail(b, n, gz, "0x0D (float32) is not supported");
        b[2] = 8, b[3] = 0;
        expect_fail(b, n, gz, "0 dimensions");
        b[3] = 5;
        expect_fail(b, n, gz, "5 dimensions");
        b[3] = 3;
        expect_fail(b, n - 1, gz, "truncated: dimensions 2 x 3 x 2 need 12 data bytes but the file holds 11");
        expect_fail(b, 10, gz, "truncated in the dimension list");
        expect_fail(b, 3, gz, "too short");
        expect_fail(b, 0, gz, "too short");
        b[n] = 7;
        expect_fail(b, n + 1, gz, "trailing bytes");
        /* 2^32-1 x 2^32-1 x 2: the product overflows the tensor limit */
        unsigned char h[] = {0, 0, 8, 3, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 2, 1, 2};
        expect_fail(h, sizeof h, gz, "impossible dimensions");
        /* 60000 x 28 x 28 claimed over 2 bytes: refused before any allocation
         * (a gzip file of a few dozen bytes cannot inflate to 47 MB) */
        unsigned char k[] = {0, 0, 8, 3, 0, 0, 0xEA, 0x60, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2};
        int64_t live = nm_mem_live();
        nm_mem_reset_peak();
        expect_fail(k, sizeof k, gz, gz ? "need 47040000 data bytes but a gzip file of"
                                        : "need 47040000 data bytes but the file holds 2");
        cr_assert_eq(nm_mem_peak(), live, "a tensor was allocated for a hostile header");
    }
    cr_assert_null(nm_idx_load("/nonexistent/file.idx"));
    cr_assert(strstr(nm_errmsg(), "/nonexistent/file.idx: cannot open"), "%s", nm_errmsg());
}

Test(idx, truncated_gzip_stream)
{
    unsigned char b[64];
    size_t n = good(b);
    const char *path = put("c.gz", b, n, 1);
    char full[256];
    snprintf(full, sizeof full, "%s", path);
    FILE *f = fopen(full, "rb");
    unsigned char z[256];
    size_t zn = fread(z, 1, sizeof z, f);
    fclose(f);
    put("bad.gz", z, zn - 12, 0);   /* cut inside the deflate stream and trailer */
    snprintf(full, sizeof full, "%s/bad.gz", dir);
    cr_assert_null(nm_idx_load(full));
    cr_assert(strstr(nm_errmsg(), "bad.gz"), "%s", nm_errmsg());
}

Test(idx, fashion_mnist_test_set_matches_raw_bytes)
{
    nm_dataset *d = nm_data_fashion_mnist(NULL, 0, 100);
    cr_assert_not_null(d, "%s", nm_errmsg());
    cr_assert_eq(nm_dataset_size(d), 100);
    cr_assert(d->images->shape[1] == 1 && d->images->shape[2] == 28 && d->images->shape[3] == 28);
    /* raw bytes straight from the package with zlib: header 16 bytes */
    gzFile f = gzopen(NM_FMNIST_DIR "/t10k-images-idx3-ubyte.gz", "rb");
    cr_assert_not_null(f);
    unsigned char raw[16 + 784];
    cr_assert_eq(gzread(f, raw, sizeof raw), (int)sizeof raw);
    gzclose(f);
    for (int k = 0; k < 784; k += 37) {
        float want = (raw[16 + k] / 255.0f - NM_FMNIST_MEAN) / NM_FMNIST_STD;
        cr_assert_float_eq(nm_f32(d->images)[k], want, 1e-5, "pixel %d", k);
    }
    f = gzopen(NM_FMNIST_DIR "/t10k-labels-idx1-ubyte.gz", "rb");
    unsigned char lab[8 + 100];
    cr_assert_eq(gzread(f, lab, sizeof lab), (int)sizeof lab);
    gzclose(f);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(nm_i32(d->labels)[i], lab[8 + i]);
    nm_dataset_free(d);
    cr_assert_null(nm_data_fashion_mnist("/nonexistent/fmnist", 1, 0));
    cr_assert(strstr(nm_errmsg(), "dataset-fashion-mnist"), "%s", nm_errmsg());
}

/* Writes dir/name: a gzip IDX header declaring dims[0..nd-1] followed by
 * only `have` data bytes (byte i = i * 7 mod `mod`). */
static void put_declared(const char *name, int nd, const uint32_t *dims, size_t have, int mod)
{
    unsigned char *b = malloc(4 + 4 * (size_t)nd + have);
    cr_assert_not_null(b);
    b[0] = 0, b[1] = 0, b[2] = 8, b[3] = (unsigned char)nd;
    for (int i = 0; i < nd; i++)
        for (int k = 0; k < 4; k++)
            b[4 + 4 * i + k] = (unsigned char)(dims[i] >> (24 - 8 * k));
    for (size_t i = 0; i < have; i++)
        b[4 + 4 * nd + i] = (unsigned char)(i * 7 % (size_t)mod);
    put(name, b, 4 + 4 * (size_t)nd + have, 1);
    free(b);
}

/* A small gzip IDX set declaring 3 million images (2.35 GB) that holds only
 * 40: with limit = 10, Fashion-MNIST reads and allocates only those 10
 * (checked on the engine's byte counter), and their values are the file's.
 * Without a limit the whole set is refused up front by a 64 MB budget,
 * before anything is allocated. */
Test(idx, limit_reads_only_what_it_needs)
{
    const uint32_t xd[] = {3000000, 28, 28}, yd[] = {3000000};
    put_declared("train-images-idx3-ubyte.gz", 3, xd, 40 * 784, 251);
    put_declared("train-labels-idx1-ubyte.gz", 1, yd, 40, 10);
    int64_t live = nm_mem_live();
    nm_mem_reset_peak();
    nm_dataset *d = nm_data_fashion_mnist(dir, 1, 10);
    cr_assert_not_null(d, "%s", nm_errmsg());
    cr_assert_eq(nm_dataset_size(d), 10);
    /* u8 images and labels as read, plus the f32 / i32 copies */
    int64_t need = 10 * 784 * 5 + 10 * 5;
    cr_assert_leq(nm_mem_peak() - live, need, "peak %lld bytes over %lld",
                  (long long)(nm_mem_peak() - live), (long long)need);
    for (int i = 0; i < 10 * 784; i += 97) {
        float want = (float)(i * 7 % 251) / (255.0f * NM_FMNIST_STD) - NM_FMNIST_MEAN / NM_FMNIST_STD;
        cr_assert_float_eq(nm_f32(d->images)[i], want, 1e-5f, "pixel %d", i);
    }
    for (int i = 0; i < 10; i++)
        cr_assert_eq(nm_i32(d->labels)[i], i * 7 % 10, "label %d", i);
    nm_dataset_free(d);
    cr_assert_eq(nm_mem_live(), live);

    /* nm_idx_load_limit on its own: 10 items, nothing more allocated */
    char path[256];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", dir);
    nm_mem_reset_peak();
    nm_tensor *t = nm_idx_load_limit(path, 10);
    cr_assert_not_null(t, "%s", nm_errmsg());
    cr_assert(t->ndim == 3 && t->shape[0] == 10 && t->shape[1] == 28 && t->shape[2] == 28);
    cr_assert_eq(nm_mem_peak() - live, 10 * 784);
    nm_tensor_release(t);

    /* all 3 million under a 64 MB budget: refused before allocating */
    cap_budget c = {.cap = 64 << 20};
    nm_mem_budget b;
    nm_mem_budget_push(&b, cap_ask, &c);
    nm_mem_reset_peak();
    d = nm_data_fashion_mnist(dir, 1, 0);
    nm_mem_budget_pop(&b);
    cr_assert_null(d);
    cr_assert(b.refused);
    cr_assert_eq(nm_mem_peak(), live, "allocated before refusing");
    cr_assert_eq(c.asked, (int64_t)3000000 * (784 * 5 + 5));
    cr_assert(strstr(nm_errmsg(), "train-images-idx3-ubyte.gz: not enough memory") &&
              strstr(nm_errmsg(), "11775000000") && strstr(nm_errmsg(), "67108864"),
              "%s", nm_errmsg());
}

