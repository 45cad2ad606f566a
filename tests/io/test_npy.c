/* .npy: files written byte by byte the way NumPy writes them (versions 1.0,
 * 2.0, 3.0, every supported dtype), the writer's bytes against a
 * hand-written file, round trips, and every refused case. */
#include "io_test_util.h"

#include <math.h>

#include "nmio.h"
#include "../test_budget.h"

static char dir[256];
static void setup(void) { tmp_make(dir, sizeof dir); }
static void teardown(void) { tmp_remove(dir); }
TestSuite(npy, .init = setup, .fini = teardown);

/* NumPy's layout: magic, version, header length (2 bytes in 1.0, 4 in
 * 2.0/3.0), the dict, spaces, '\n' so the data starts at a multiple of 64. */
static void write_npy(const char *path, int major, const char *dict, const void *data, size_t n)
{
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t total = (pre + dl + 1 + 63) / 64 * 64, hlen = total - pre;
    unsigned char *buf = malloc(total + n + 1);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    put_le(buf + 8, hlen, major == 1 ? 2 : 4);
    memcpy(buf + pre, dict, dl);
    memset(buf + pre + dl, ' ', hlen - dl - 1);
    buf[total - 1] = '\n';
    if (n)
        memcpy(buf + total, data, n);
    write_bytes(path, buf, total + n);
    free(buf);
}

static nm_tensor *load_fixture(int major, const char *dict, const void *data, size_t n)
{
    char p[512];
    tmp_path(p, sizeof p, dir, "a.npy");
    write_npy(p, major, dict, data, n);
    nm_tensor *t = nm_npy_load(p);
    cr_assert_not_null(t, "%s", nm_errmsg());
    return t;
}

static void expect_error(int major, const char *dict, size_t n, const char *what)
{
    char p[512];
    tmp_path(p, sizeof p, dir, "bad.npy");
    unsigned char *zeros = calloc(n + 1, 1);
    write_npy(p, major, dict, zeros, n);
    free(zeros);
    cr_assert_null(nm_npy_load(p), "loaded although %s", what);
    cr_assert(strstr(nm_errmsg(), p), "message does not name the file: %s", nm_errmsg());
    cr_assert(strstr(nm_errmsg(), what), "expected \"%s\" in: %s", what, nm_errmsg());
}

/* A file of exactly these bytes fails to load with a message naming the
 * file and containing what. */
static void expect_bytes_error(const void *bytes, size_t n, const char *what)
{
    char p[512];
    tmp_path(p, sizeof p, dir, "raw.npy");
    write_bytes(p, bytes, n);
    cr_assert_null(nm_npy_load(p), "loaded although %s", what);
    cr_assert(strstr(nm_errmsg(), p), "message does not name the file: %s", nm_errmsg());
    cr_assert(strstr(nm_errmsg(), what), "expected \"%s\" in: %s", what, nm_errmsg());
}

/* A complete version 1.0 file for np.array([[1, -2.5, 0.1], [0, 3e38, -1e-40]], '<f4'),
 * typed out: 128 bytes of header, then 6 little-endian floats. */
static const char f4_header[] =
    "\x93NUMPY\x01\x00\x76\x00"
    "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"
    "                                                          \n";
static const unsigned char f4_data[24] = {
    0x00, 0x00, 0x80, 0x3f, /* 1.0 */
    0x00, 0x00, 0x20, 0xc0, /* -2.5 = -(1.25 * 2^1) */
    0xcd, 0xcc, 0xcc, 0x3d, /* 0.1f = 0x3dcccccd */
    0x00, 0x00, 0x00, 0x00, /* 0 */
    0xe6, 0xb1, 0x61, 0x7f, /* 3e38f = 0x7f61b1e6: 2^127 * (1 + 6402534 / 2^23) */
    0xc2, 0x16, 0x01, 0x80, /* -1e-40f, subnormal: -71362 * 2^-149 = 0x800116c2 */
};

Test(npy, numpy_f4_file_typed_out)
{
    cr_assert_eq(sizeof f4_header - 1, 128);
    unsigned char file[152];
    memcpy(file, f4_header, 128);
    memcpy(file + 128, f4_data, 24);
    char p[512];
    tmp_path(p, sizeof p, dir, "f4.npy");
    write_bytes(p, file, sizeof file);
    nm_tensor *t = nm_npy_load(p);
    cr_assert_not_null(t, "%s", nm_errmsg());
    cr_assert_eq(t->dtype, NM_F32);
    cr_assert_eq(t->ndim, 2);
    cr_assert_eq(t->shape[0], 2);
    cr_assert_eq(t->shape[1], 3);
    const float *x = nm_f32(t);
    cr_assert_eq(x[0], 1.0f);
    cr_assert_eq(x[1], -2.5f);
    cr_assert_eq(x[2], 0.1f);
    cr_assert_eq(x[3], 0.0f);
    cr_assert_eq(x[4], 3e38f);
    cr_assert_eq(x[5], -1e-40f);
    nm_tensor_release(t);
}

/* The writer produces exactly the typed-out file above. */
Test(npy, save_writes_numpy_bytes)
{
    nm_tensor *t = nm_tensor_new4(NM_F32, 2, 2, 3, 0, 0);
    const float v[6] = {1.0f, -2.5f, 0.1f, 0.0f, 3e38f, -1e-40f};
    memcpy(t->data, v, sizeof v);
    char p[512];
    tmp_path(p, sizeof p, dir, "out.npy");
    cr_assert_eq(nm_npy_save(t, p), NM_OK, "%s", nm_errmsg());
    size_t n;
    unsigned char *buf = slurp(p, &n);
    cr_assert_eq(n, 152);
    cr_assert_eq(memcmp(buf, f4_header, 128), 0, "header differs: %.128s", buf);
    cr_assert_eq(memcmp(buf + 128, f4_data, 24), 0);
    cr_assert_eq(tmp_count(dir), 1);
    free(buf);
    nm_tensor_release(t);
}

Test(npy, version_2_f8_and_version_3_b1)
{
    unsigned char d[24];
    put_le(d, f64_bits(0.5), 8);
    put_le(d + 8, f64_bits(-1e300), 8); /* overflows float: -inf */
    put_le(d + 16, f64_bits(1.0 / 3.0), 8);
    nm_tensor *t = load_fixture(2, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", d, 24);
    cr_assert_eq(t->dtype, NM_F32);
    cr_assert_eq(t->ndim, 1);
    cr_assert_eq(nm_f32(t)[0], 0.5f);
    cr_assert(isinf(nm_f32(t)[1]) && nm_f32(t)[1] < 0);
    cr_assert_eq(nm_f32(t)[2], (float)(1.0 / 3.0));
    nm_tensor_release(t);

    const unsigned char b[4] = {1, 0, 0, 1};
    t = load_fixture(3, "{'descr': '|b1', 'fortran_order': False, 'shape': (2, 2), }", b, 4);
    cr_assert_eq(t->dtype, NM_U8);
    cr_assert_eq(nm_u8(t)[0], 1);
    cr_assert_eq(nm_u8(t)[1], 0);
    cr_assert_eq(nm_u8(t)[3], 1);
    nm_tensor_release(t);
}

Test(npy, integer_dtypes)
{
    const unsigned char i1[3] = {0x80, 0xff, 0x7f};
    nm_tensor *t = load_fixture(1, "{'descr': '|i1', 'fortran_order': False, 'shape': (3,), }", i1, 3);
    cr_assert_eq(t->dtype, NM_I8);
    cr_assert_eq(nm_i8(t)[0], -128);
    cr_assert_eq(nm_i8(t)[1], -1);
    cr_assert_eq(nm_i8(t)[2], 127);
    nm_tensor_release(t);

    t = load_fixture(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 1, 1, 3), }", i1, 3);
    cr_assert_eq(t->dtype, NM_U8);
    cr_assert_eq(t->ndim, 4);
    cr_assert_eq(t->shape[3], 3);
    cr_assert_eq(nm_u8(t)[0], 128);
    nm_tensor_release(t);

    const unsigned char i4[8] = {0xfe, 0xff, 0xff, 0xff, 0x00, 0x01, 0x00, 0x00};
    t = load_fixture(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", i4, 8);
    cr_assert_eq(t->dtype, NM_I32);
    cr_assert_eq(nm_i32(t)[0], -2);
    cr_assert_eq(nm_i32(t)[1], 256);
    nm_tensor_release(t);

    /* NumPy's default integer: labels saved as int64 */
    unsigned char i8[16];
    put_le(i8, 9, 8);
    put_le(i8 + 8, (uint64_t)-7, 8);
    t = load_fixture(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", i8, 16);
    cr_assert_eq(t->dtype, NM_I32);
    cr_assert_eq(nm_i32(t)[0], 9);
    cr_assert_eq(nm_i32(t)[1], -7);
    nm_tensor_release(t);

    const unsigned char f2[4] = {0x00, 0x3c, 0x00, 0xc4}; /* 1.0, -4.0 */
    t = load_fixture(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", f2, 4);
    cr_assert_eq(nm_f32(t)[0], 1.0f);
    cr_assert_eq(nm_f32(t)[1], -4.0f);
    nm_tensor_release(t);
}

/* Key order and spacing vary between writers; scalars have shape (). */
Test(npy, header_variants)
{
    const unsigned char f4[4] = {0x00, 0x00, 0x40, 0x40}; /* 3.0 */
    nm_tensor *t = load_fixture(1, "{\"shape\":(),\"fortran_order\":False,\"descr\":\"<f4\"}", f4, 4);
    cr_assert_eq(t->ndim, 0);
    cr_assert_eq(t->numel, 1);
    cr_assert_eq(nm_f32(t)[0], 3.0f);
    nm_tensor_release(t);
    t = load_fixture(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }", f4, 0);
    cr_assert_eq(t->numel, 0);
    cr_assert_eq(t->shape[1], 4);
    nm_tensor_release(t);
    t = load_fixture(1, "{'descr':'<f4','fortran_order':False,'shape':(1L,1L)}", f4, 4);
    cr_assert_eq(t->numel, 1);
    nm_tensor_release(t);
}

Test(npy, round_trips)
{
    nm_rng r;
    nm_rng_seed(&r, 11);
    const int64_t shapes[][4] = {{5, 0, 0, 0}, {3, 4, 0, 0}, {2, 1, 3, 2}, {0, 0, 0, 0}};
    const int ndims[] = {1, 2, 4, 0};
    for (int dt = 0; dt < NM_DTYPE_COUNT; dt++)
        for (int s = 0; s < 4; s++) {
            nm_tensor *t = nm_tensor_new((nm_dtype)dt, ndims[s], shapes[s]);
            for (int64_t i = 0; i < t->numel; i++)
                nm_tensor_setd(t, i, dt == NM_F32 ? nm_rng_normal(&r) : (double)(nm_rng_next(&r) % 100));
            char p[512];
            tmp_path(p, sizeof p, dir, "rt.npy");
            cr_assert_eq(nm_npy_save(t, p), NM_OK, "%s", nm_errmsg());
            size_t n;
            unsigned char *buf = slurp(p, &n);
            size_t hlen = (size_t)(buf[8] | buf[9] << 8);
            cr_assert_eq((10 + hlen) % 64, 0, "data not 64-byte aligned");
            cr_assert_eq(buf[10 + hlen - 1], '\n');
            cr_assert_eq(n, 10 + hlen + (size_t)t->numel * nm_dtype_size(t->dtype));
            free(buf);
            nm_tensor *b = nm_npy_load(p);
            cr_assert_not_null(b, "%s", nm_errmsg());
            cr_assert_eq(b->dtype, t->dtype);
            cr_assert_eq(b->ndim, t->ndim);
            for (int d = 0; d < NM_MAX_DIMS; d++)
                cr_assert_eq(b->shape[d], t->shape[d]);
            cr_assert_eq(memcmp(b->data, t->data, (size_t)t->numel * nm_dtype_size(t->dtype)), 0);
            nm_tensor_release(b);
            nm_tensor_release(t);
        }
}

Test(npy, refused_layouts_and_dtypes)
{
    expect_error(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16,
                 "Fortran order");
    expect_error(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8,
                 "dtype '>f4' is big-endian");
    expect_error(1, "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", 16,
                 "object arrays ('|O') cannot be read");
    expect_error(1, "{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", 16,
                 "unsupported dtype '<c8'");
    expect_error(1, "{'descr': '<U3', 'fortran_order': False, 'shape': (2,), }", 24,
                 "unsupported dtype '<U3'");
    expect_error(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8,
                 "structured dtypes are not supported");
    expect_error(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 2), }", 8,
                 "array has 5 dimensions; nmlab tensors have at most 4");
    unsigned char big[16];
    put_le(big, (uint64_t)1 << 40, 8);
    put_le(big + 8, (uint64_t)1 << 31, 8);
    char p[512];
    tmp_path(p, sizeof p, dir, "i8.npy");
    write_npy(p, 1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", big, 16);
    cr_assert_null(nm_npy_load(p));
    cr_assert(strstr(nm_errmsg(), "element 0 is 1099511627776"), "%s", nm_errmsg());
}

Test(npy, refused_sizes)
{
    expect_error(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1000,), }", 8,
                 "a <f4 array of 1000 elements needs 4000 bytes of data but the file has 8");
    expect_error(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, "
                    "1099511627776), }", 8, "impossibly large");
    expect_error(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904,), }",
                 8, "needs 9223372036854775807 bytes");
    expect_error(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }", 8,
                 "negative dimension");
    expect_error(1, "{'descr': '<f4', 'fortran_order': False, 'shape': "
                    "(99999999999999999999999,), }", 8, "impossibly large dimension");
}

Test(npy, refused_headers)
{
    expect_error(1, "{'descr': '<f4', 'shape': (2,), }", 8, "header lacks 'fortran_order'");
    expect_error(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 8,
                 "unexpected key 'x'");
    expect_error(1, "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }", 8,
                 "'fortran_order' is neither True nor False");
    expect_error(1, "{'descr': '<f4', 'fortran_order': False, 'shape': [2], }", 8,
                 "'shape' is not a tuple");
    expect_error(1, "{'descr': '<f4' 'fortran_order': False}", 8, "header dict is malformed");
    expect_error(1, "not a dict", 8, "header is not a Python dict");
    expect_error(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2", 8,
                 "'shape' tuple is malformed");

    static const char zip[] = "PK\x03\x04 this is a zip";
    expect_bytes_error(zip, sizeof zip - 1, "not a .npy file");

    unsigned char v4[80] = "\x93NUMPY\x04\x00";
    expect_bytes_error(v4, sizeof v4, "version 4.0 is not supported");

    unsigned char longhdr[64] = "\x93NUMPY\x02\x00";
    put_le(longhdr + 8, 0xfffffff0u, 4);
    expect_bytes_error(longhdr, sizeof longhdr, "header claims 4294967280 bytes, more than");

    unsigned char shorthdr[64] = "\x93NUMPY\x01\x00";
    put_le(shorthdr + 8, 500, 2);
    expect_bytes_error(shorthdr, sizeof shorthdr, "header claims 500 bytes but the file has only 54");
}

Test(npy, save_into_missing_folder_leaves_nothing)
{
    nm_tensor *t = nm_tensor_new4(NM_U8, 1, 3, 0, 0, 0);
    char p[512];
    tmp_path(p, sizeof p, dir, "nowhere/x.npy");
    expect_nothing_written(nm_npy_save(t, p), p, dir);
    nm_tensor_release(t);
}

/* Every truncation fails; every single-byte corruption of the header loads
 * or fails with a message naming the file. */
Test(npy, every_truncation_and_header_corruption)
{
    char p[512];
    tmp_path(p, sizeof p, dir, "c.npy");
    unsigned char file[152];
    memcpy(file, f4_header, 128);
    memcpy(file + 128, f4_data, 24);
    for (size_t len = 0; len < sizeof file; len++) {
        write_bytes(p, file, len);
        cr_assert_null(nm_npy_load(p), "truncated to %zu bytes but loaded", len);
        cr_assert(strstr(nm_errmsg(), p), "%s", nm_errmsg());
    }
    const unsigned char values[] = {0x00, 0xff, '\'', '9', '-', ')', ',', '('};
    for (size_t i = 0; i < 128; i++)
        for (size_t v = 0; v < sizeof values; v++) {
            unsigned char keep = file[i];
            file[i] = values[v];
            write_bytes(p, file, sizeof file);
            file[i] = keep;
            nm_tensor *t = nm_npy_load(p);
            if (t)
                nm_tensor_release(t);
            else
                cr_assert(strstr(nm_errmsg(), p), "byte %zu = %02x: %s", i, values[v], nm_errmsg());
        }
}

/* Under a budget the decoded size (f2 doubles to f32) is reserved before
 * the tensor is allocated: one ask for exactly those bytes when it fits; a
 * refusal allocates nothing and names the file, the bytes and the limit. */
Test(npy, reserves_the_decoded_size_first)
{
    char p[512];
    tmp_path(p, sizeof p, dir, "h.npy");
    uint16_t half[3000];
    for (int i = 0; i < 3000; i++)
        half[i] = 0x3C00;   /* 1.0 */
    write_npy(p, 1, "{'descr': '<f2', 'fortran_order': False, 'shape': (3000,), }", half,
              sizeof half);
    int64_t live = nm_mem_live();
    nm_mem_reset_peak();
    cap_budget c = {.cap = 11999};
    nm_mem_budget b;
    nm_mem_budget_push(&b, cap_ask, &c);
    nm_tensor *t = nm_npy_load(p);
    nm_mem_budget_pop(&b);
    cr_assert_null(t);
    cr_assert(b.refused);
    cr_assert_eq(nm_mem_peak(), live);
    cr_assert(strstr(nm_errmsg(), "h.npy: not enough memory") && strstr(nm_errmsg(), "12000") &&
              strstr(nm_errmsg(), "11999"), "%s", nm_errmsg());
    cap_budget c2 = {.cap = 12000};
    nm_mem_budget_push(&b, cap_ask, &c2);
    t = nm_npy_load(p);
    nm_mem_budget_pop(&b);
    cr_assert_not_null(t, "%s", nm_errmsg());
    cr_assert_eq(c2.calls, 1);
    cr_assert_eq(c2.granted, 12000);
    cr_assert_float_eq(nm_f32(t)[2999], 1.0f, 0);
    nm_tensor_release(t);
}

