/* SCALE-Sim topology reader: the real files shipped with SCALE-Sim, checked
 * row by row against a plain sscanf reading of the same file, and every
 * kind of bad input with small files written here. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../test_budget.h"
#include "../test_tmpdir.h"
#include "nmio.h"

/* ---- the shipped files ---- */

static void shared_path(char *out, size_t cap, const char *file)
{
    const char *shared = getenv("NMLAB_SHARED");
    if (!shared)
        cr_skip_test("NMLAB_SHARED unset: ../shared/data/scalesim is not beside the source tree");
    snprintf(out, cap, "%s/data/scalesim/%s", shared, file);
}

typedef struct {
    char name[64];
    int ih, iw, fh, fw, c, nf, s, n, m;
} ref_row;

/* Reads the file the simplest way (one sscanf per line after the header). */
static int ref_read(const char *path, ref_row *rows, int cap)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    char line[512];
    int n = 0;
    cr_assert_not_null(fgets(line, sizeof line, f)); /* header */
    while (fgets(line, sizeof line, f)) {
        ref_row r = {.n = 0, .m = 0};
        int got = sscanf(line, "%63[^,],%d,%d,%d,%d,%d,%d,%d,%d:%d", r.name, &r.ih, &r.iw,
                         &r.fh, &r.fw, &r.c, &r.nf, &r.s, &r.n, &r.m);
        if (got < 8)
            continue;
        cr_assert_lt(n, cap);
        rows[n++] = r;
    }
    fclose(f);
    return n;
}

/* The model matches the reference reading field by field, and its MACs are
 * the output size (no padding) times the filter volume. */
static nm_model *check_against_file(const char *file, int want_rows)
{
    char path[4096];
    shared_path(path, sizeof path, file);
    static ref_row rows[256];
    int n = ref_read(path, rows, 256);
    cr_assert_eq(n, want_rows, "%s: reference reading found %d rows", file, n);
    nm_model *m = nm_scalesim_load(path, 7);
    cr_assert_not_null(m, "%s", nm_errmsg());
    cr_assert_eq(m->n_layers, n);
    int64_t macs = 0;
    for (int i = 0; i < n; i++) {
        const ref_row *r = &rows[i];
        const nm_layer *l = &m->layers[i];
        cr_expect_str_eq(l->name, r->name);
        cr_expect_eq(l->n_inputs, 0, "%s is detached", l->name);
        cr_expect(l->in_c == r->c && l->in_h == r->ih && l->in_w == r->iw, "%s input", l->name);
        cr_expect_eq(l->out_c, r->nf, "%s filters", l->name);
        cr_expect_eq(nm_layer_rows(l), r->nf);
        cr_expect_eq(nm_layer_cols(l), (int64_t)r->c * r->fh * r->fw);
        /* a convolution without padding; SCALE-Sim's own ceil((H - R + s) / s)
         * counts one more row where (H - R) % s != 0 (see scalesim_csv.c) */
        int oh = (r->ih - r->fh) / r->s + 1;
        int ow = (r->iw - r->fw) / r->s + 1;
        cr_expect(l->out_h == oh && l->out_w == ow, "%s: out %dx%d, expected %dx%d", l->name,
                  l->out_h, l->out_w, oh, ow);
        cr_expect(l->pad_h == 0 && l->pad_w == 0);
        cr_expect(l->wn == r->n && l->wm == r->m, "%s: N:M %d:%d, file %d:%d", l->name, l->wn,
                  l->wm, r->n, r->m);
        if (r->ih == 1 && r->iw == 1 && r->fh == 1 && r->fw == 1) {
            cr_expect_eq(l->kind, NM_LAYER_LINEAR, "%s: classifier row", l->name);
        } else {
            cr_expect_eq(l->kind, NM_LAYER_CONV, "%s", l->name);
            cr_expect(l->kh == r->fh && l->kw == r->fw && l->stride_h == r->s);
        }
        macs += (int64_t)oh * ow * r->nf * r->c * r->fh * r->fw;
    }
    cr_expect_eq(nm_model_dense_macs(m), macs);
    return m;
}

Test(scalesim, resnet18)
{
    nm_model *m = check_against_file("resnet18.csv", 21);
    cr_expect_str_eq(m->name, "resnet18");
    cr_expect(m->in_c == 3 && m->in_h == 224 && m->in_w == 224);
    /* values as they stand in the file */
    const nm_layer *c1 = &m->layers[0];
    cr_expect_str_eq(c1->name, "Conv1");
    cr_expect(c1->kh == 7 && c1->kw == 7 && c1->stride_h == 2 && c1->out_c == 64);
    cr_expect(c1->out_h == 109 && c1->out_w == 109); /* (224 - 7) / 2 + 1, no padding */
    const nm_layer *s3 = &m->layers[nm_model_find(m, "Conv3_s")];
    cr_expect(s3->in_c == 64 && s3->in_h == 56 && s3->kh == 1 && s3->out_c == 128);
    cr_expect(s3->out_h == 28);
    const nm_layer *fc = &m->layers[20];
    cr_expect_str_eq(fc->name, "FC");
    cr_expect_eq(fc->kind, NM_LAYER_LINEAR);
    cr_expect(fc->weight->ndim == 2 && fc->weight->shape[0] == 1000 && fc->weight->shape[1] == 512);
    for (int i = 0; i < m->n_layers; i++)
        cr_expect(m->layers[i].wn == 0 && m->layers[i].wm == 0);
    nm_model_free(m);
}

Test(scalesim, resnet18_nm24)
{
    nm_model *m = check_against_file("resnet18_nm24.csv", 21);
    for (int i = 0; i < m->n_layers; i++)
        cr_expect(m->layers[i].wn == 2 && m->layers[i].wm == 4, "%s", m->layers[i].name);
    nm_model_free(m);
}

Test(scalesim, resnet50)
{
    nm_model *m = check_against_file("resnet50.csv", 54);
    const nm_layer *l = &m->layers[nm_model_find(m, "CB4s")];
    cr_expect(l->in_c == 512 && l->in_h == 28 && l->out_c == 1024 && l->stride_h == 2);
    cr_expect_eq(l->out_h, 14);
    const nm_layer *fc = &m->layers[nm_model_find(m, "FC6")];
    cr_expect(fc->kind == NM_LAYER_LINEAR && fc->in_c == 2048 && fc->out_c == 1000);
    nm_model_free(m);
}

/* ---- small files written here ---- */

static char tmpdir[64];

static void make_tmpdir(void)
{
    cr_assert_not_null(tmpdir_new(tmpdir, sizeof tmpdir, "scalesim"));
}

static void remove_tmpdir(void)
{
    cr_expect_eq(tmpdir_remove(tmpdir), 0, "cannot remove %s", tmpdir);
}

TestSuite(scalesim_tmp, .init = make_tmpdir, .fini = remove_tmpdir);

/* Writes `len` bytes of `text` to <tmpdir>/<file> and returns the path. */
static const char *write_file(const char *file, const char *text, size_t len)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, file);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
    return path;
}

#define HEADER "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
#define HEADER_NM "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides, Sparsity,\n"

/* Loading `text` fails with a message naming the file and containing every
 * one of the NULL-terminated fragments (line, column, what was wrong). */
static void expect_fail(const char *text, ...)
{
    const char *path = write_file("bad.csv", text, strlen(text));
    nm_model *m = nm_scalesim_load(path, 1);
    cr_assert_null(m, "loaded: %s", text);
    const char *msg = nm_errmsg();
    cr_expect(strstr(msg, path), "message does not name the file: %s", msg);
    va_list ap;
    va_start(ap, text);
    for (const char *frag; (frag = va_arg(ap, const char *));)
        cr_expect(strstr(msg, frag), "'%s' missing from: %s", frag, msg);
    va_end(ap);
}

Test(scalesim_tmp, header_problems)
{
    expect_fail("", "empty", NULL);
    expect_fail("\n  \n", "empty", NULL);
    expect_fail(HEADER, "no layers", NULL);
    expect_fail(HEADER "\n\n", "no layers", NULL);
    expect_fail("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                "Num Filter,\nC1,8,8,3,3,4,4,\n",
                "bad.csv:1:", "column 8 (Strides)", "missing", NULL);
    expect_fail("Layer name, IFMAP Height, IFMAP Width, Filter Width, Filter Height, Channels, "
                "Num Filter, Strides,\n",
                ":1:", "column 4", "'Filter Width'", "expected 'Filter Height'", NULL);
    expect_fail("Conv1,224,224,7,7,3,64,2,\n", ":1:", "column 1", "expected 'Layer name'", NULL);
    expect_fail("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
                "Num Filter, Strides, Sparsity, Extra,\n",
                ":1:", "column 10", "Extra", NULL);
}

Test(scalesim_tmp, row_values)
{
    expect_fail(HEADER "C1,8,8,3,3,4,4,\n", "bad.csv:2:", "column 8 (Strides)", "missing", NULL);
    expect_fail(HEADER "C1,8,8,3,3\n", ":2:", "column 6 (Channels)", "missing", NULL);
    expect_fail(HEADER "C1,8,abc,3,3,4,4,1,\n", ":2:", "column 3 (IFMAP Width)", "'abc'", NULL);
    expect_fail(HEADER "C1,8,8,3,3,4,4,1.5,\n", ":2:", "column 8", "'1.5'", NULL);
    expect_fail(HEADER "C1,8,8,3,3,4x,4,1,\n", ":2:", "column 6", "'4x'", NULL);
    expect_fail(HEADER "C1,8,8,3,3,0,4,1,\n", ":2:", "column 6 (Channels)", "positive", NULL);
    expect_fail(HEADER "C1,8,8,3,3,4,4,-1,\n", ":2:", "column 8 (Strides)", "positive", NULL);
    expect_fail(HEADER "C1,8,8,3,3,4,-4,1,\n", ":2:", "column 7 (Num Filter)", NULL);
    expect_fail(HEADER "C1,8,,3,3,4,4,1,\n", ":2:", "column 3", "empty", NULL);
    expect_fail(HEADER ",8,8,3,3,4,4,1,\n", ":2:", "column 1", "empty layer name", NULL);
    expect_fail(HEADER "C1,8,8,3,3,4,4,1,\nC2,5,5,7,3,4,4,1,\n", ":3:", "column 4 (Filter Height)",
                "larger", NULL);
    expect_fail(HEADER "C1,8,5,3,7,4,4,1,\n", ":2:", "column 5 (Filter Width)", "larger", NULL);
    expect_fail(HEADER "C1,8,8,3,3,4,4,1,7,\n", ":2:", "column 9", "'7'", NULL);
    expect_fail(HEADER "C1,8,8,3,3,4,4,1,\nC1,8,8,3,3,4,4,1,\n", ":3:", "column 1",
                "'C1' is used twice", NULL);
}

Test(scalesim_tmp, impossible_nm)
{
    expect_fail(HEADER_NM "C1,8,8,3,3,4,4,1,5:4,\n", ":2:", "column 9 (Sparsity)", "5:4",
                "impossible", NULL);
    expect_fail(HEADER_NM "C1,8,8,3,3,4,4,1,2:0,\n", ":2:", "column 9", "impossible", NULL);
    expect_fail(HEADER_NM "C1,8,8,3,3,4,4,1,0:4,\n", ":2:", "column 9", "impossible", NULL);
    expect_fail(HEADER_NM "C1,8,8,3,3,4,4,1,-1:4,\n", ":2:", "column 9", NULL);
    expect_fail(HEADER_NM "C1,8,8,3,3,4,4,1,2-4,\n", ":2:", "column 9", "not N:M", NULL);
    expect_fail(HEADER_NM "C1,8,8,3,3,4,4,1,2:4x,\n", ":2:", "column 9", "not N:M", NULL);
    expect_fail(HEADER_NM "C1,8,8,3,3,4,4,1,2:4,\nC2,8,8,3,3,4,4,1,:4,\n", ":3:", "column 9",
                NULL);
}

Test(scalesim_tmp, absurd_sizes)
{
    /* a single value over 2^20 */
    expect_fail(HEADER "C1,8,8,3,3,4,2000000,1,\n", ":2:", "column 7 (Num Filter)", "absurd", NULL);
    expect_fail(HEADER "C1,99999999999999999999,8,3,3,4,4,1,\n", ":2:", "column 2", "absurd", NULL);
    /* each value allowed, the weights (2^20 x 2^20) are not */
    expect_fail(HEADER "FC,1,1,1,1,1048576,1048576,1,\n", ":2:", "column 7", "weights", NULL);
    /* an ifmap of 2^20 x 2^20 x 3 */
    expect_fail(HEADER "C1,1048576,1048576,1,1,3,1,1,\n", ":2:", "column 6", "ifmap", NULL);
    /* the limit is over the whole file: 3 rows of 2^30 weights */
    expect_fail(HEADER "A,1,1,1,1,32768,32768,1,\nB,1,1,1,1,32768,32768,1,\n"
                       "C,1,1,1,1,32768,32768,1,\n",
                ":4:", "column 7", NULL);
}

/* The issue-13 file: 126 bytes asking for 16384 x 16384 synthetic weights
 * (1 GiB). Under a 64 MB budget it is refused before anything is allocated,
 * naming the file, the weights, the bytes and the limit; under a budget that
 * fits it, exactly the weights' bytes are reserved up front. */
Test(scalesim_tmp, synthetic_weights_reserved_against_the_budget)
{
    const char *text = HEADER "big,1,1,1,1,16384,16384,1,\n";
    cr_assert_eq(strlen(text), 126);
    const char *path = write_file("big.csv", text, strlen(text));
    int64_t live = nm_mem_live();
    nm_mem_reset_peak();
    cap_budget c = {.cap = 64 << 20};
    nm_mem_budget b;
    nm_mem_budget_push(&b, cap_ask, &c);
    nm_model *m = nm_scalesim_load(path, 1);
    nm_mem_budget_pop(&b);
    cr_assert_null(m);
    cr_assert(b.refused);
    cr_assert_eq(nm_mem_peak(), live, "weights allocated before the refusal");
    cr_assert_eq(c.asked, (int64_t)16384 * 16384 * 4);
    const char *msg = nm_errmsg();
    cr_expect(strstr(msg, path) && strstr(msg, "268435456 synthetic weights") &&
              strstr(msg, "not enough memory") && strstr(msg, "1073741824") &&
              strstr(msg, "67108864"), "%s", msg);

    /* a small topology: its 4 x 8 x 3 x 3 weights reserved in one ask */
    text = HEADER "C1,8,8,3,3,4,8,1,\n";
    path = write_file("small.csv", text, strlen(text));
    cap_budget c2 = {.cap = 64 << 20};
    nm_mem_budget_push(&b, cap_ask, &c2);
    m = nm_scalesim_load(path, 1);
    nm_mem_budget_pop(&b);
    cr_assert_not_null(m, "%s", nm_errmsg());
    cr_assert_eq(c2.calls, 1);
    cr_assert_eq(c2.granted, 4 * 8 * 3 * 3 * 4);
    cr_assert_eq(nm_mem_live() - live, c2.granted);
    nm_model_free(m);
}

Test(scalesim_tmp, overlong_line_and_binary)
{
    size_t n = 5000;
    char *text = malloc(sizeof HEADER + n + 2);
    strcpy(text, HEADER);
    memset(text + strlen(HEADER), 'x', n);
    strcpy(text + strlen(HEADER) + n, "\n");
    expect_fail(text, ":2:", "longer than 4096", NULL);
    strcpy(text + strlen(HEADER), "C1,8,8,3,3,4,4,1,"); /* too many columns */
    for (int i = 0; i < 40; i++)
        strcat(text, "7,");
    expect_fail(text, ":2:", "column", NULL);
    free(text);
    const char bin[] = HEADER "C1,8,8,3,3\0,4,4,1,\n";
    const char *path = write_file("bin.csv", bin, sizeof bin - 1);
    cr_assert_null(nm_scalesim_load(path, 1));
    cr_expect(strstr(nm_errmsg(), path) && strstr(nm_errmsg(), ":2:") && strstr(nm_errmsg(), "NUL"),
              "%s", nm_errmsg());
}

Test(scalesim_tmp, missing_file)
{
    char path[128];
    snprintf(path, sizeof path, "%s/none.csv", tmpdir);
    cr_assert_null(nm_scalesim_load(path, 1));
    cr_expect(strstr(nm_errmsg(), path), "%s", nm_errmsg());
}

/* What the reader tolerates: spacing, case, no final comma, CRLF, blank
 * lines, a byte order mark, an empty Sparsity cell (dense). */
Test(scalesim_tmp, tolerant_input)
{
    const char *text = "\xEF\xBB\xBF  layer NAME ,IFMAP Height,ifmap width ,Filter Height,"
                       "Filter Width,Channels,Num Filter,  Strides ,Sparsity\r\n"
                       "\r\n"
                       "  conv_a , 16 ,16, 3,3 , 8, 16 , 1 , 1:4 \r\n"
                       "conv_b,14,14,3,3,16,32,2\r\n"
                       "   \n"
                       "fc,1,1,1,1,32,10,1,,\n";
    const char *path = write_file("ok.csv", text, strlen(text));
    nm_model *m = nm_scalesim_load(path, 3);
    cr_assert_not_null(m, "%s", nm_errmsg());
    cr_assert_eq(m->n_layers, 3);
    cr_expect_str_eq(m->name, "ok");
    const nm_layer *a = &m->layers[0], *b = &m->layers[1], *fc = &m->layers[2];
    cr_expect_str_eq(a->name, "conv_a");
    cr_expect(a->wn == 1 && a->wm == 4 && a->out_h == 14 && a->out_c == 16);
    cr_expect(b->wn == 0 && b->wm == 0);
    cr_expect(b->out_h == 6 && b->out_w == 6); /* (14 - 3) / 2 + 1 */
    cr_expect(fc->kind == NM_LAYER_LINEAR && fc->out_c == 10 && fc->in_c == 32);
    nm_model_free(m);
}

Test(scalesim_tmp, weights_follow_the_seed)
{
    const char *text = HEADER "a,16,16,3,3,8,16,1,\nb,14,14,3,3,16,32,2,\nfc,1,1,1,1,32,10,1,\n";
    const char *path = write_file("seed.csv", text, strlen(text));
    nm_model *a = nm_scalesim_load(path, 1), *b = nm_scalesim_load(path, 1),
             *c = nm_scalesim_load(path, 2);
    cr_assert(a && b && c, "%s", nm_errmsg());
    cr_expect_eq(a->seed, 1);
    for (int i = 0; i < 3; i++) {
        const nm_tensor *wa = a->layers[i].weight, *wb = b->layers[i].weight,
                        *wc = c->layers[i].weight;
        cr_expect_eq(memcmp(wa->data, wb->data, (size_t)wa->numel * 4), 0);
        cr_expect_neq(memcmp(wa->data, wc->data, (size_t)wa->numel * 4), 0);
        cr_expect_eq(nm_tensor_nnz(wa), wa->numel, "normal samples are never 0");
    }
    nm_model_free(a);
    nm_model_free(b);
    nm_model_free(c);
}

/* Every prefix of a valid file, and every single-byte corruption of it,
 * either loads or fails with a message naming the file (never a crash:
 * this runs under ASan/UBSan too). */
Test(scalesim_tmp, truncated_and_corrupted)
{
    const char *text = HEADER_NM "a,16,16,3,3,8,16,1,2:4,\nb,14,14,3,3,16,32,2,1:2,\n"
                                 "fc,1,1,1,1,32,10,1,,\n";
    size_t len = strlen(text);
    static const char junk[] = {'\0', ',', ':', 'x'};
    char *buf = malloc(len);
    for (size_t cut = 0; cut <= len; cut++) {
        for (size_t j = 0; j <= sizeof junk; j++) {
            memcpy(buf, text, len);
            size_t n = cut;
            if (j < sizeof junk) { /* corrupt byte `cut`, keep the length */
                if (cut == len)
                    continue;
                buf[cut] = junk[j];
                n = len;
            }
            const char *path = write_file("cut.csv", buf, n);
            nm_model *m = nm_scalesim_load(path, 1);
            if (m)
                cr_expect(m->n_layers >= 1 && m->n_layers <= 3);
            else
                cr_expect(strstr(nm_errmsg(), path), "%s", nm_errmsg());
            nm_model_free(m);
        }
    }
    free(buf);
}
