/* safetensors: round trips of every written dtype, hand-written byte
 * fixtures of every read dtype with values decoded by hand, hostile
 * headers, and writes that fail without leaving files behind. */
#include "io_test_util.h"

#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <sys/resource.h>

#include "nmio.h"
#include "../test_budget.h"

static char dir[256];
static void setup(void) { tmp_make(dir, sizeof dir); }
static void teardown(void) { tmp_remove(dir); }
TestSuite(safetensors, .init = setup, .fini = teardown);

/* Expects reading `path` to fail with a message naming the file and
 * containing `what`. */
static void expect_read_error(const char *path, const char *what)
{
    nm_tensor_list tl;
    cr_assert_eq(nm_safetensors_read(path, &tl), NM_ERR, "read of %s succeeded", path);
    cr_assert_eq(tl.count, 0);
    cr_assert_null(tl.tensors);
    cr_assert(strstr(nm_errmsg(), path), "message does not name the file: %s", nm_errmsg());
    cr_assert(strstr(nm_errmsg(), what), "expected \"%s\" in: %s", what, nm_errmsg());
}

/* A header plus `n` zero bytes of data, read back expecting `what`. */
static void expect_header_error(const char *header, size_t n, const char *what)
{
    char p[512];
    tmp_path(p, sizeof p, dir, "bad.safetensors");
    unsigned char *zeros = calloc(n + 1, 1);
    write_st(p, header, zeros, n);
    free(zeros);
    expect_read_error(p, what);
}

Test(safetensors, round_trip_every_written_dtype)
{
    nm_tensor_list tl = {0};
    nm_tensor *f = nm_tensor_new4(NM_F32, 2, 2, 3, 0, 0);
    float fv[6] = {1.5f, -0.0f, NAN, INFINITY, 1e-45f /* subnormal */, -3.25e7f};
    memcpy(f->data, fv, sizeof fv);
    nm_tensor *i8 = nm_tensor_new4(NM_I8, 1, 4, 0, 0, 0);
    int8_t iv[4] = {-128, -1, 0, 127};
    memcpy(i8->data, iv, 4);
    nm_tensor *u8 = nm_tensor_new4(NM_U8, 4, 1, 2, 1, 3);
    for (int k = 0; k < 6; k++)
        nm_u8(u8)[k] = (uint8_t)(k * 51);
    nm_tensor *i32 = nm_tensor_new4(NM_I32, 1, 3, 0, 0, 0);
    int32_t jv[3] = {INT32_MIN, 7, INT32_MAX};
    memcpy(i32->data, jv, sizeof jv);
    nm_tensor *scalar = nm_tensor_new(NM_F32, 0, NULL);
    nm_f32(scalar)[0] = 42.0f;
    nm_tensor *empty = nm_tensor_new4(NM_F32, 2, 0, 5, 0, 0);
    nm_tensor *all[] = {f, i8, u8, i32, scalar, empty};
    const char *names[] = {"layer.0.w", "q", "mask", "ids", "s", "empty"};
    for (int k = 0; k < 6; k++) {
        cr_assert_eq(nm_tensor_list_add(&tl, names[k], all[k]), NM_OK);
        nm_tensor_release(all[k]); /* the list holds the only reference now */
    }
    tl.metadata_json = strdup("{\"note\":\"hello\",\"format\":\"pt\"}");
    char p[512];
    tmp_path(p, sizeof p, dir, "t.safetensors");
    cr_assert_eq(nm_safetensors_write(p, &tl), NM_OK, "%s", nm_errmsg());
    cr_assert_eq(tmp_count(dir), 1, "a temporary file was left behind");

    nm_tensor_list back;
    cr_assert_eq(nm_safetensors_read(p, &back), NM_OK, "%s", nm_errmsg());
    cr_assert_eq(back.count, 6);
    for (int k = 0; k < 6; k++) {
        const nm_tensor *a = tl.tensors[k], *b = back.tensors[k];
        cr_assert_str_eq(back.names[k], names[k]);
        cr_assert_eq(b->dtype, a->dtype, "%s", names[k]);
        cr_assert_eq(b->ndim, a->ndim, "%s", names[k]);
        for (int d = 0; d < NM_MAX_DIMS; d++)
            cr_assert_eq(b->shape[d], a->shape[d], "%s dim %d", names[k], d);
        cr_assert_eq(memcmp(a->data, b->data, (size_t)a->numel * nm_dtype_size(a->dtype)), 0,
                     "%s bytes differ", names[k]);
    }
    json_t *md = json_loads(back.metadata_json, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(md, "note")), "hello");
    cr_assert_str_eq(json_string_value(json_object_get(md, "format")), "pt");
    json_decref(md);
    nm_tensor_list_free(&back);
    nm_tensor_list_free(&tl);
    cr_assert_eq(tl.count, 0);
}

/* The writer's layout checked independently: header length, padding,
 * JSON entries, offsets and little-endian data bytes. */
Test(safetensors, written_layout_by_hand)
{
    nm_tensor_list tl = {0};
    nm_tensor *a = nm_tensor_new4(NM_F32, 1, 2, 0, 0, 0), *b = nm_tensor_new4(NM_I32, 2, 1, 1, 0, 0);
    nm_f32(a)[0] = 1.0f;
    nm_f32(a)[1] = -2.0f;
    nm_i32(b)[0] = -2;
    nm_tensor_list_add(&tl, "a", a);
    nm_tensor_list_add(&tl, "b", b);
    char p[512];
    tmp_path(p, sizeof p, dir, "l.safetensors");
    cr_assert_eq(nm_safetensors_write(p, &tl), NM_OK, "%s", nm_errmsg());
    size_t n;
    unsigned char *buf = slurp(p, &n);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | buf[i];
    cr_assert_eq(hl % 8, 0, "header not padded to 8 bytes");
    cr_assert_eq(n, 8 + hl + 12);
    cr_assert_eq(buf[8], '{');
    json_t *h = json_loadb((const char *)buf + 8, hl, 0, NULL);
    cr_assert_not_null(h);
    json_t *ea = json_object_get(h, "a"), *eb = json_object_get(h, "b");
    cr_assert_str_eq(json_string_value(json_object_get(ea, "dtype")), "F32");
    cr_assert_str_eq(json_string_value(json_object_get(eb, "dtype")), "I32");
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(ea, "shape"), 0)), 2);
    cr_assert_eq(json_array_size(json_object_get(eb, "shape")), 2);
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(ea, "data_offsets"), 0)), 0);
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(ea, "data_offsets"), 1)), 8);
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(eb, "data_offsets"), 0)), 8);
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(eb, "data_offsets"), 1)), 12);
    cr_assert_null(json_object_get(h, "__metadata__"));
    json_decref(h);
    /* 1.0f = 0x3f800000, -2.0f = 0xc0000000, -2 = 0xfffffffe, little-endian */
    const unsigned char want[12] = {0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 0xfe, 0xff, 0xff, 0xff};
    cr_assert_eq(memcmp(buf + 8 + hl, want, 12), 0);
    free(buf);
    nm_tensor_release(a);
    nm_tensor_release(b);
    nm_tensor_list_free(&tl);
}

/* F16 and BF16 written byte by byte; the expected values worked out by hand
 * from sign, exponent and mantissa. */
Test(safetensors, f16_bf16_fixture_decoded_by_hand)
{
    const char *hdr = "{\"h\":{\"dtype\":\"F16\",\"shape\":[11],\"data_offsets\":[0,22]},"
                      "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[22,30]}}";
    const unsigned char data[30] = {
        0x00, 0x3c, /* 1.0 */
        0x00, 0xc0, /* -2.0 */
        0x55, 0x35, /* 2^-2 * (1 + 0x155/1024) = 0.333251953125 */
        0xff, 0x7b, /* 2^15 * (1 + 1023/1024) = 65504 */
        0x01, 0x00, /* smallest subnormal 2^-24 */
        0xff, 0x03, /* largest subnormal 1023 * 2^-24 */
        0x00, 0x04, /* smallest normal 2^-14 */
        0x00, 0x7c, /* +inf */
        0x00, 0x80, /* -0.0 */
        0x00, 0xfe, /* NaN (negative, quiet) */
        0x00, 0xb8, /* -0.5 */
        0x80, 0x3f, /* bf16 1.0 */
        0x49, 0xc0, /* bf16 -2 * (1 + 0x49/128) = -3.140625 */
        0x80, 0x7f, /* bf16 +inf */
        0x01, 0x00, /* bf16 smallest subnormal: f32 bits 0x00010000 = 2^-133 */
    };
    char p[512];
    tmp_path(p, sizeof p, dir, "half.safetensors");
    write_st(p, hdr, data, sizeof data);
    nm_tensor_list tl;
    cr_assert_eq(nm_safetensors_read(p, &tl), NM_OK, "%s", nm_errmsg());
    cr_assert_eq(tl.count, 2);
    cr_assert_str_eq(tl.names[0], "h");
    const nm_tensor *h = tl.tensors[0], *b = tl.tensors[1];
    cr_assert_eq(h->dtype, NM_F32);
    cr_assert_eq(h->numel, 11);
    const float *x = nm_f32(h);
    cr_assert_eq(x[0], 1.0f);
    cr_assert_eq(x[1], -2.0f);
    cr_assert_eq(x[2], 0.333251953125f);
    cr_assert_eq(x[3], 65504.0f);
    cr_assert_eq(x[4], 5.9604644775390625e-08f);
    cr_assert_eq(x[5], 1023 * 5.9604644775390625e-08f);
    cr_assert_eq(x[6], 6.103515625e-05f);
    cr_assert(isinf(x[7]) && x[7] > 0);
    cr_assert(x[8] == 0.0f && signbit(x[8]));
    cr_assert(isnan(x[9]));
    cr_assert_eq(x[10], -0.5f);
    cr_assert_eq(b->ndim, 2);
    cr_assert_eq(b->shape[0], 2);
    cr_assert_eq(b->shape[1], 2);
    const float *y = nm_f32(b);
    cr_assert_eq(y[0], 1.0f);
    cr_assert_eq(y[1], -3.140625f);
    cr_assert(isinf(y[2]) && y[2] > 0);
    cr_assert_eq(y[3], ldexpf(1.0f, -133));
    cr_assert(y[3] > 9.18e-41f && y[3] < 9.19e-41f);
    nm_tensor_list_free(&tl);
}

/* F64, I8, U8, BOOL, I32, I64 fixtures, each with hand-checked values. */
Test(safetensors, other_dtypes_fixture)
{
    const char *hdr =
        "{\"__metadata__\":{\"k\":\"v\"},"
        "\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]},"
        "\"i8\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[16,18]},"
        "\"u8\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[18,20]},"
        "\"bo\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[20,23]},"
        "\"i32\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[23,27]},"
        "\"i64\":{\"dtype\":\"I64\",\"shape\":[3],\"data_offsets\":[27,51]}}";
    const unsigned char data[51] = {
        0, 0, 0, 0, 0, 0, 0xf8, 0x3f,             /* 1.5 = 0x3ff8000000000000 */
        0x9a, 0x99, 0x99, 0x99, 0x99, 0x99, 0xb9, 0xbf, /* -0.1 = 0xbfb999999999999a */
        0x80, 0x7f,                               /* i8 -128, 127 */
        0x00, 0xff,                               /* u8 0, 255 */
        0x00, 0x01, 0x02,                         /* bool: nonzero -> 1 */
        0xfe, 0xff, 0xff, 0x7f,                   /* i32 0x7ffffffe */
        0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* i64 -5 */
        0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0,       /* i64 2147483647 */
        0x00, 0x00, 0x00, 0x80, 0xff, 0xff, 0xff, 0xff, /* i64 -2147483648 */
    };
    char p[512];
    tmp_path(p, sizeof p, dir, "ints.safetensors");
    write_st(p, hdr, data, sizeof data);
    nm_tensor_list tl;
    cr_assert_eq(nm_safetensors_read(p, &tl), NM_OK, "%s", nm_errmsg());
    cr_assert_eq(tl.count, 6);
    cr_assert_str_eq(tl.metadata_json, "{\"k\":\"v\"}");
    cr_assert_eq(tl.tensors[0]->dtype, NM_F32);
    cr_assert_eq(nm_f32(tl.tensors[0])[0], 1.5f);
    cr_assert_eq(nm_f32(tl.tensors[0])[1], (float)-0.1);
    cr_assert_eq(tl.tensors[1]->dtype, NM_I8);
    cr_assert_eq(nm_i8(tl.tensors[1])[0], -128);
    cr_assert_eq(nm_i8(tl.tensors[1])[1], 127);
    cr_assert_eq(tl.tensors[2]->dtype, NM_U8);
    cr_assert_eq(nm_u8(tl.tensors[2])[1], 255);
    cr_assert_eq(tl.tensors[3]->dtype, NM_U8);
    cr_assert_eq(nm_u8(tl.tensors[3])[0], 0);
    cr_assert_eq(nm_u8(tl.tensors[3])[1], 1);
    cr_assert_eq(nm_u8(tl.tensors[3])[2], 1);
    cr_assert_eq(tl.tensors[4]->dtype, NM_I32);
    cr_assert_eq(nm_i32(tl.tensors[4])[0], 0x7ffffffe);
    cr_assert_eq(tl.tensors[5]->dtype, NM_I32);
    cr_assert_eq(nm_i32(tl.tensors[5])[0], -5);
    cr_assert_eq(nm_i32(tl.tensors[5])[1], INT32_MAX);
    cr_assert_eq(nm_i32(tl.tensors[5])[2], INT32_MIN);
    nm_tensor_list_free(&tl);
}

Test(safetensors, i64_outside_int32_is_refused)
{
    unsigned char data[16];
    put_le(data, 1, 8);
    put_le(data + 8, (uint64_t)1 << 31, 8); /* 2147483648 */
    char p[512];
    tmp_path(p, sizeof p, dir, "big.safetensors");
    write_st(p, "{\"labels\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", data, 16);
    expect_read_error(p, "tensor 'labels'");
    cr_assert(strstr(nm_errmsg(), "element 1 is 2147483648"), "%s", nm_errmsg());
}

Test(safetensors, header_length_of_2_to_60)
{
    char p[512];
    tmp_path(p, sizeof p, dir, "huge.safetensors");
    unsigned char buf[64] = {0};
    put_le(buf, (uint64_t)1 << 60, 8);
    memcpy(buf + 8, "{}", 2);
    write_bytes(p, buf, sizeof buf);
    expect_read_error(p, "header claims 1152921504606846976 bytes, more than");
}

Test(safetensors, header_longer_than_file)
{
    char p[512];
    tmp_path(p, sizeof p, dir, "short.safetensors");
    unsigned char buf[40] = {0};
    put_le(buf, 1000, 8);
    memcpy(buf + 8, "{\"a\":1}", 7);
    write_bytes(p, buf, sizeof buf);
    expect_read_error(p, "header claims 1000 bytes but the file has only 32");
}

Test(safetensors, file_shorter_than_length_field)
{
    char p[512];
    tmp_path(p, sizeof p, dir, "tiny.safetensors");
    write_bytes(p, "\x02\x00\x00", 3);
    expect_read_error(p, "file is 3 bytes, too short");
}

Test(safetensors, missing_file)
{
    char p[512];
    tmp_path(p, sizeof p, dir, "nope.safetensors");
    expect_read_error(p, "No such file");
}

Test(safetensors, header_not_json_or_not_object)
{
    expect_header_error("{\"a\": [1, 2", 0, "header is not valid JSON");
    expect_header_error("[1, 2, 3]", 0, "header is not a JSON object");
    expect_header_error("{\"w\": 5}", 0, "tensor 'w': header entry is not a JSON object");
    /* nesting deep enough to exhaust a recursive parser's stack */
    size_t depth = 200000;
    char *deep = malloc(2 * depth + 8);
    size_t n = 0;
    n += (size_t)sprintf(deep, "{\"a\":");
    memset(deep + n, '[', depth);
    memset(deep + n + depth, ']', depth);
    n += 2 * depth;
    strcpy(deep + n, "}");
    expect_header_error(deep, 0, "header is not valid JSON");
    free(deep);
}

Test(safetensors, duplicate_names)
{
    expect_header_error("{\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                        "\"w\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
                        2, "duplicate");
}

Test(safetensors, unknown_dtype)
{
    expect_header_error("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]}}", 4,
                        "tensor 'w' has unknown dtype 'F8_E4M3'");
}

Test(safetensors, bad_shapes)
{
    expect_header_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1,4],\"data_offsets\":[0,16]}}", 16,
                        "tensor 'w': dimension 0 is negative (-1)");
    expect_header_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[1099511627776,1099511627776],"
                        "\"data_offsets\":[0,16]}}", 16, "impossibly large");
    expect_header_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[2147483648,2147483648],"
                        "\"data_offsets\":[0,16]}}", 16, "impossibly large");
    expect_header_error("{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
                        "tensor 'w' has 5 dimensions; nmlab tensors have at most 4");
    expect_header_error("{\"w\":{\"dtype\":\"U8\",\"shape\":[1.5],\"data_offsets\":[0,1]}}", 1,
                        "shape entry 0 is not an integer");
    expect_header_error("{\"w\":{\"dtype\":\"U8\",\"shape\":[99999999999999999999],"
                        "\"data_offsets\":[0,1]}}", 1, "not valid JSON");
}

/* A header claiming terabytes, consistent with its own offsets: refused by
 * comparing with the file's size, without allocating. */
Test(safetensors, huge_tensor_in_small_file)
{
    expect_header_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[1048576,1048576],"
                        "\"data_offsets\":[0,4398046511104]}}", 16,
                        "tensor 'w' needs 4398046511104 bytes at data offset 0 but the file's data "
                        "ends after 16");
}

Test(safetensors, shape_inconsistent_with_byte_range)
{
    expect_header_error("{\"conv1.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],"
                        "\"data_offsets\":[0,12]}}", 16,
                        "tensor 'conv1.weight' of shape [2, 2] F32 needs 16 bytes but its "
                        "data_offsets [0, 12] span 12");
}

Test(safetensors, offsets_bad)
{
    expect_header_error("{\"w\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[100,104]}}", 16,
                        "tensor 'w' needs 4 bytes at data offset 100 but the file's data ends after 16");
    expect_header_error("{\"w\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[8,4]}}", 16,
                        "data_offsets [8, 4] are not an ordered pair");
    expect_header_error("{\"w\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[-1,-1]}}", 16,
                        "not an ordered pair of non-negative offsets");
    expect_header_error("{\"w\":{\"dtype\":\"U8\",\"shape\":[4]}}", 16,
                        "tensor 'w' has no \"data_offsets\"");
    expect_header_error("{\"w\":{\"shape\":[4],\"data_offsets\":[0,4]}}", 16,
                        "tensor 'w' has no \"dtype\"");
}

Test(safetensors, overlapping_tensors)
{
    expect_header_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                        "\"z\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,4]},"
                        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                        24, "tensors 'a' and 'b' overlap");
}

/* Valid file, data cut short: the message gives the sizes. */
Test(safetensors, truncated_data)
{
    char p[512];
    tmp_path(p, sizeof p, dir, "m.safetensors");
    write_one_tensor(p, "conv1.weight", nm_tensor_new4(NM_F32, 2, 4, 4, 0, 0));
    size_t n;
    unsigned char *buf = slurp(p, &n);
    write_bytes(p, buf, n - 54); /* keep 10 of the 64 data bytes */
    free(buf);
    expect_read_error(p, "tensor 'conv1.weight' needs 64 bytes at data offset 0 but the file's "
                         "data ends after 10");
}

Test(safetensors, metadata_must_map_strings_to_strings)
{
    expect_header_error("{\"__metadata__\":{\"epochs\":3}}", 0,
                        "\"__metadata__\" must map strings to strings, but 'epochs' is not a string");
    expect_header_error("{\"__metadata__\":[1]}", 0, "\"__metadata__\" is not a JSON object");
}

Test(safetensors, header_only_file_is_empty_list)
{
    char p[512];
    tmp_path(p, sizeof p, dir, "none.safetensors");
    write_st(p, "{}      ", NULL, 0);
    nm_tensor_list tl;
    cr_assert_eq(nm_safetensors_read(p, &tl), NM_OK, "%s", nm_errmsg());
    cr_assert_eq(tl.count, 0);
    cr_assert_null(tl.metadata_json);
    nm_tensor_list_free(&tl);
}

static void one_tensor_list(nm_tensor_list *tl, const char *name, int64_t n)
{
    memset(tl, 0, sizeof *tl);
    nm_tensor *t = nm_tensor_new4(NM_F32, 1, n, 0, 0, 0);
    for (int64_t i = 0; i < n; i++)
        nm_f32(t)[i] = (float)i;
    cr_assert_eq(nm_tensor_list_add(tl, name, t), NM_OK);
    nm_tensor_release(t);
}

Test(safetensors, write_into_missing_folder_leaves_nothing)
{
    nm_tensor_list tl;
    one_tensor_list(&tl, "w", 4);
    char p[512];
    tmp_path(p, sizeof p, dir, "no/such/dir/x.safetensors");
    expect_nothing_written(nm_safetensors_write(p, &tl), p, dir);
    nm_tensor_list_free(&tl);
}

Test(safetensors, bad_lists_are_refused_before_writing)
{
    nm_tensor_list tl;
    one_tensor_list(&tl, "w", 4);
    cr_assert_eq(nm_tensor_list_add(&tl, "w", tl.tensors[0]), NM_OK);
    char p[512];
    tmp_path(p, sizeof p, dir, "dup.safetensors");
    cr_assert_eq(nm_safetensors_write(p, &tl), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "tensor name 'w' is used twice"), "%s", nm_errmsg());
    nm_tensor_list_free(&tl);

    one_tensor_list(&tl, "__metadata__", 1);
    cr_assert_eq(nm_safetensors_write(p, &tl), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "cannot name a tensor"), "%s", nm_errmsg());
    nm_tensor_list_free(&tl);

    one_tensor_list(&tl, "w", 1);
    tl.metadata_json = strdup("{\"n\": 1}");
    cr_assert_eq(nm_safetensors_write(p, &tl), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "must map strings to strings"), "%s", nm_errmsg());
    free(tl.metadata_json);
    tl.metadata_json = strdup("{oops");
    cr_assert_eq(nm_safetensors_write(p, &tl), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "metadata is not valid JSON"), "%s", nm_errmsg());
    nm_tensor_list_free(&tl);
    cr_assert_eq(tmp_count(dir), 0);
}

/* A write that fails half way (file size limit) keeps the old file intact
 * and removes its temporary file. */
Test(safetensors, failed_overwrite_keeps_old_file)
{
    char p[512];
    tmp_path(p, sizeof p, dir, "keep.safetensors");
    nm_tensor_list small;
    one_tensor_list(&small, "w", 8);
    cr_assert_eq(nm_safetensors_write(p, &small), NM_OK);
    size_t n0;
    unsigned char *before = slurp(p, &n0);

    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {.rlim_cur = 4096, .rlim_max = RLIM_INFINITY};
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    nm_tensor_list big;
    one_tensor_list(&big, "w", 1 << 16); /* 256 KiB of data */
    cr_assert_eq(nm_safetensors_write(p, &big), NM_ERR);
    cr_assert(strstr(nm_errmsg(), p), "%s", nm_errmsg());
    rl.rlim_cur = RLIM_INFINITY;
    setrlimit(RLIMIT_FSIZE, &rl);

    cr_assert_eq(tmp_count(dir), 1, "temporary file left behind");
    size_t n1;
    unsigned char *after = slurp(p, &n1);
    cr_assert_eq(n1, n0);
    cr_assert_eq(memcmp(before, after, n0), 0);
    nm_tensor_list back;
    cr_assert_eq(nm_safetensors_read(p, &back), NM_OK);
    cr_assert_eq(back.tensors[0]->numel, 8);
    nm_tensor_list_free(&back);
    free(before);
    free(after);
    nm_tensor_list_free(&small);
    nm_tensor_list_free(&big);
}

/* Every truncation of a valid file fails with a message naming the file, and
 * every single-byte corruption of its header either reads or fails cleanly
 * (under ASan/UBSan this also proves no overrun or overflow). */
Test(safetensors, every_truncation_and_header_corruption)
{
    nm_tensor_list tl = {0};
    nm_tensor *a = nm_tensor_new4(NM_F32, 2, 3, 2, 0, 0), *b = nm_tensor_new4(NM_U8, 1, 5, 0, 0, 0);
    nm_tensor_list_add(&tl, "a", a);
    nm_tensor_list_add(&tl, "b", b);
    nm_tensor_release(a);
    nm_tensor_release(b);
    tl.metadata_json = strdup("{\"k\":\"v\"}");
    char p[512], q[512];
    tmp_path(p, sizeof p, dir, "ok.safetensors");
    tmp_path(q, sizeof q, dir, "cut.safetensors");
    cr_assert_eq(nm_safetensors_write(p, &tl), NM_OK);
    nm_tensor_list_free(&tl);
    size_t n;
    unsigned char *buf = slurp(p, &n);
    for (size_t len = 0; len < n; len++) {
        write_bytes(q, buf, len);
        cr_assert_eq(nm_safetensors_read(q, &tl), NM_ERR, "truncated to %zu bytes but read", len);
        cr_assert(strstr(nm_errmsg(), q), "%s", nm_errmsg());
    }
    size_t hl = (size_t)buf[0] | (size_t)buf[1] << 8;
    const unsigned char values[] = {0x00, 0xff, '"', '9', '-', '}', '[', ' '};
    for (size_t i = 0; i < 8 + hl; i++)
        for (size_t v = 0; v < sizeof values; v++) {
            unsigned char keep = buf[i];
            buf[i] = values[v];
            write_bytes(q, buf, n);
            buf[i] = keep;
            if (nm_safetensors_read(q, &tl) == NM_OK)
                nm_tensor_list_free(&tl);
            else
                cr_assert(strstr(nm_errmsg(), q), "byte %zu = %02x: %s", i, values[v], nm_errmsg());
        }
    free(buf);
}

/* Under a budget the decoded size of all tensors (11 F16 and 4 BF16 -> 15
 * f32 = 60 bytes, from 30 in the file) is reserved in one ask before the
 * first is allocated; a budget one byte short refuses with nothing
 * allocated and the file named. */
Test(safetensors, reserves_the_decoded_size_first)
{
    const char *hdr = "{\"h\":{\"dtype\":\"F16\",\"shape\":[11],\"data_offsets\":[0,22]},"
                      "\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[22,30]}}";
    unsigned char data[30] = {0};
    char p[512];
    tmp_path(p, sizeof p, dir, "r.safetensors");
    write_st(p, hdr, data, sizeof data);
    int64_t live = nm_mem_live();
    nm_mem_reset_peak();
    nm_tensor_list tl;
    cap_budget c = {.cap = 59};
    nm_mem_budget b;
    nm_mem_budget_push(&b, cap_ask, &c);
    int rc = nm_safetensors_read(p, &tl);
    nm_mem_budget_pop(&b);
    cr_assert_eq(rc, NM_ERR);
    cr_assert(b.refused);
    cr_assert_eq(c.calls, 1);
    cr_assert_eq(nm_mem_peak(), live);
    cr_assert(strstr(nm_errmsg(), "r.safetensors: not enough memory") &&
              strstr(nm_errmsg(), "60 more bytes"), "%s", nm_errmsg());
    cap_budget c2 = {.cap = 60};
    nm_mem_budget_push(&b, cap_ask, &c2);
    rc = nm_safetensors_read(p, &tl);
    nm_mem_budget_pop(&b);
    cr_assert_eq(rc, NM_OK, "%s", nm_errmsg());
    cr_assert_eq(c2.calls, 1);
    cr_assert_eq(c2.granted, 60);
    nm_tensor_list_free(&tl);
}

