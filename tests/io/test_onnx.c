/* ONNX import: models are built here with the protobuf-c API generated from
 * engine/io/onnx.proto, packed to bytes, written to a temporary folder and
 * loaded with nm_onnx_load. Expected shapes, weights and MACs are worked
 * out by hand from the values put into the file. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../test_tmpdir.h"
#include "model.h"
#include "nmio.h"
#include "train.h"
#include "onnx_build.h"
#include "../test_budget.h"

/* Initializer with values 0.01*(i+1)*sign pattern: distinct, exact in f32. */
static float *pattern(int64_t n, float scale)
{
    float *v = ob_malloc((size_t)n * sizeof *v);
    for (int64_t i = 0; i < n; i++)
        v[i] = scale * (float)((i % 7) - 3) + (float)i / 1024.0f;
    return v;
}

/* Temporary folder per test. */
static char tmpdir[64];

static void make_tmp(void)
{
    cr_assert_not_null(tmpdir_new(tmpdir, sizeof tmpdir, "onnx"));
}

/* NM_TEST_KEEP=1 keeps the files for inspection. */
static void rm_tmp(void)
{
    if (getenv("NM_TEST_KEEP"))
        return;
    cr_assert_eq(tmpdir_remove(tmpdir), 0, "cannot remove %s", tmpdir);
}

static char *tmp_path(const char *name)
{
    static char buf[4][128];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 128, "%s/%s", tmpdir, name);
    return p;
}

static void write_bytes(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

/* Packs mp to bytes, writes it to tmpdir/name and frees mp. Returns the path. */
static const char *write_model(Onnx__ModelProto *mp, const char *name)
{
    size_t len = onnx__model_proto__get_packed_size(mp);
    uint8_t *buf = malloc(len + 1);
    cr_assert_eq(onnx__model_proto__pack(mp, buf), len);
    const char *path = tmp_path(name);
    write_bytes(path, buf, len);
    free(buf);
    onnx__model_proto__free_unpacked(mp, NULL);
    return path;
}

static nm_model *load_ok(const char *path, char **warn)
{
    nm_model *m = nm_onnx_load(path, warn);
    cr_assert_not_null(m, "load failed: %s", nm_errmsg());
    return m;
}

/* With {partial = 1}: the layers before the first node that cannot be
 * imported. */
static nm_model *load_partial(const char *path, char **warn)
{
    nm_onnx_opts o = {.partial = 1};
    nm_model *m = nm_onnx_load_opts(path, &o, warn);
    cr_assert_not_null(m, "load failed: %s", nm_errmsg());
    return m;
}

/* Without partial: NULL, no warnings, and a message holding every piece
 * of `what` (NULL-terminated). */
static void load_refused(const char *path, const char *const *what)
{
    char *warn = (char *)1;
    cr_assert_null(nm_onnx_load(path, &warn), "loading %s should fail", path);
    cr_assert_null(warn);
    for (int i = 0; what[i]; i++)
        cr_assert(strstr(nm_errmsg(), what[i]), "message '%s' lacks '%s'", nm_errmsg(), what[i]);
}

static const nm_layer *layer(const nm_model *m, const char *name)
{
    int i = nm_model_find(m, name);
    cr_assert(i >= 0, "no layer '%s'", name);
    return &m->layers[i];
}

static void assert_floats(const nm_tensor *t, const float *want, int64_t n, const char *what)
{
    cr_assert_not_null(t, "%s missing", what);
    cr_assert_eq(t->dtype, NM_F32);
    cr_assert_eq(t->numel, n, "%s: %lld elements, expected %lld", what, (long long)t->numel,
                 (long long)n);
    cr_assert(memcmp(t->data, want, (size_t)n * sizeof(float)) == 0, "%s differs", what);
}

/* ------------------------------------------------------------------ */
/* The small CNN:                                                      */
/*   x[N,3,8,8] -> conv1 (4x3x3x3, pad 1, bias) -> bn1 -> Relu ->      */
/*   pool (max 2x2 s2) -> conv2 (4x4x3x3, pad 1) -> Add(conv2, pool)    */
/*   -> GlobalAveragePool -> Flatten -> fc (Gemm, transB, 10x4, bias)   */

typedef struct {
    float *w1, *b1, *g, *be, *mu, *var, *w2, *wfc, *bfc;
} cnn_vals;

static void cnn_free(cnn_vals *v)
{
    float *p[] = {v->w1, v->b1, v->g, v->be, v->mu, v->var, v->w2, v->wfc, v->bfc};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
        free(p[i]);
}

static Onnx__ModelProto *small_cnn(cnn_vals *v, int raw, int with_vinfo)
{
    Onnx__ModelProto *mp = model_new();
    static const int64_t xin[4] = {-1, 3, 8, 8};
    add_input(mp, "x", 4, xin);
    static const int64_t dw1[4] = {4, 3, 3, 3}, d4[1] = {4}, dw2[4] = {4, 4, 3, 3};
    static const int64_t dfc[2] = {10, 4}, d10[1] = {10};
    v->w1 = pattern(108, 0.05f);
    v->b1 = pattern(4, 0.5f);
    v->g = pattern(4, 0.25f);
    v->be = pattern(4, 0.125f);
    v->mu = pattern(4, 0.0625f);
    v->var = malloc(4 * sizeof(float));
    for (int i = 0; i < 4; i++)
        v->var[i] = 1.0f + (float)i;
    v->w2 = pattern(144, 0.03f);
    v->wfc = pattern(40, 0.1f);
    v->bfc = pattern(10, 0.01f);
    add_init(mp, tensor_f32("W1", 4, dw1, v->w1, raw));
    add_init(mp, tensor_f32("B1", 1, d4, v->b1, raw));
    add_init(mp, tensor_f32("bn.scale", 1, d4, v->g, raw));
    add_init(mp, tensor_f32("bn.bias", 1, d4, v->be, raw));
    add_init(mp, tensor_f32("bn.mean", 1, d4, v->mu, raw));
    add_init(mp, tensor_f32("bn.var", 1, d4, v->var, raw));
    add_init(mp, tensor_f32("W2", 4, dw2, v->w2, raw));
    add_init(mp, tensor_f32("Wfc", 2, dfc, v->wfc, raw));
    add_init(mp, tensor_f32("Bfc", 1, d10, v->bfc, raw));
    /* Old exporters list initializers as graph inputs too. */
    add_input(mp, "W1", 4, dw1);

    Onnx__NodeProto *n = add_node(mp, "Conv", "conv1", "x,W1,B1", "c1");
    attr_ints(n, "kernel_shape", 2, 3, 3);
    attr_ints(n, "pads", 4, 1, 1, 1, 1);
    attr_ints(n, "strides", 2, 1, 1);
    n = add_node(mp, "BatchNormalization", "bn1", "c1,bn.scale,bn.bias,bn.mean,bn.var", "b1");
    attr_f(n, "epsilon", 1e-3f);
    add_node(mp, "Relu", NULL, "b1", "r1");
    n = add_node(mp, "MaxPool", "pool", "r1", "p1");
    attr_ints(n, "kernel_shape", 2, 2, 2);
    attr_ints(n, "strides", 2, 2, 2);
    n = add_node(mp, "Conv", "conv2", "p1,W2", "c2");
    attr_ints(n, "pads", 4, 1, 1, 1, 1);
    add_node(mp, "Add", "add", "c2,p1", "a1");
    add_node(mp, "GlobalAveragePool", "gap", "a1", "g1");
    add_node(mp, "Flatten", NULL, "g1", "f1");
    n = add_node(mp, "Gemm", "fc", "f1,Wfc,Bfc", "y");
    attr_i(n, "transB", 1);
    static const int64_t yout[2] = {-1, 10};
    add_output(mp, "y", 2, yout);
    if (with_vinfo) {
        /* Shapes by the usual formula out = (in + 2p - k) / s + 1. */
        static const int64_t s488[4] = {-1, 4, 8, 8}, s444[4] = {1, 4, 4, 4};
        static const int64_t s411[4] = {-1, 4, 1, 1}, s4[2] = {-1, 4};
        add_vinfo(mp, "c1", 4, s488);
        add_vinfo(mp, "b1", 4, s488);
        add_vinfo(mp, "r1", 4, s488);
        add_vinfo(mp, "p1", 4, s444);
        add_vinfo(mp, "c2", 4, s444);
        add_vinfo(mp, "a1", 4, s444);
        add_vinfo(mp, "g1", 4, s411);
        add_vinfo(mp, "f1", 2, s4);
    }
    return mp;
}

static void check_small_cnn(const nm_model *m, const cnn_vals *v)
{
    cr_assert_eq(m->in_c, 3);
    cr_assert_eq(m->in_h, 8);
    cr_assert_eq(m->in_w, 8);
    cr_assert_eq(m->n_layers, 9);
    static const char *names[9] = {"conv1", "bn1", "Relu_0", "pool", "conv2", "add", "gap",
                                   "Flatten_0", "fc"};
    static const nm_layer_kind kinds[9] = {
        NM_LAYER_CONV, NM_LAYER_BN, NM_LAYER_RELU, NM_LAYER_MAXPOOL, NM_LAYER_CONV,
        NM_LAYER_ADD, NM_LAYER_GAP, NM_LAYER_FLATTEN, NM_LAYER_LINEAR};
    /* (C, H, W) after each layer, by hand. */
    static const int shapes[9][3] = {{4, 8, 8}, {4, 8, 8}, {4, 8, 8}, {4, 4, 4}, {4, 4, 4},
                                     {4, 4, 4}, {4, 1, 1}, {4, 1, 1}, {10, 1, 1}};
    for (int i = 0; i < 9; i++) {
        const nm_layer *l = &m->layers[i];
        cr_assert_str_eq(l->name, names[i]);
        cr_assert_eq(l->kind, kinds[i], "layer %s kind %s", l->name, nm_layer_kind_name(l->kind));
        cr_assert(l->out_c == shapes[i][0] && l->out_h == shapes[i][1] && l->out_w == shapes[i][2],
                  "layer %s is (%d,%d,%d)", l->name, l->out_c, l->out_h, l->out_w);
    }
    /* Producers. */
    int want_in[9][2] = {{NM_INPUT, 0}, {0, 0}, {1, 0}, {2, 0}, {3, 0}, {4, 3}, {5, 0}, {6, 0}, {7, 0}};
    for (int i = 0; i < 9; i++) {
        cr_assert_eq(m->layers[i].inputs[0], want_in[i][0], "layer %d input 0", i);
        if (m->layers[i].kind == NM_LAYER_ADD) {
            cr_assert_eq(m->layers[i].n_inputs, 2);
            cr_assert_eq(m->layers[i].inputs[1], want_in[i][1]);
        }
    }
    const nm_layer *c1 = layer(m, "conv1"), *bn = layer(m, "bn1"), *pool = layer(m, "pool");
    cr_assert(c1->kh == 3 && c1->kw == 3 && c1->pad_h == 1 && c1->pad_w == 1 && c1->stride_h == 1);
    cr_assert(pool->kh == 2 && pool->stride_h == 2 && pool->stride_w == 2 && pool->pad_h == 0);
    assert_floats(c1->weight, v->w1, 108, "conv1.weight");
    cr_assert_eq(c1->weight->shape[1], 3);
    assert_floats(c1->bias, v->b1, 4, "conv1.bias");
    assert_floats(bn->gamma, v->g, 4, "bn1.gamma");
    assert_floats(bn->beta, v->be, 4, "bn1.beta");
    assert_floats(bn->mean, v->mu, 4, "bn1.mean");
    assert_floats(bn->var, v->var, 4, "bn1.var");
    cr_assert_float_eq(bn->eps, 1e-3f, 1e-9);
    const nm_layer *c2 = layer(m, "conv2"), *fc = layer(m, "fc");
    assert_floats(c2->weight, v->w2, 144, "conv2.weight");
    cr_assert_null(c2->bias);
    /* transB = 1: the file's [10, 4] is already [out, in]. */
    assert_floats(fc->weight, v->wfc, 40, "fc.weight");
    cr_assert_eq(fc->weight->shape[0], 10);
    assert_floats(fc->bias, v->bfc, 10, "fc.bias");

    /* Channel graph: conv1's channels reach conv2 (through bn, relu, pool)
     * and, through the residual add, gap and flatten, fc. */
    int out[8], feeds_add;
    int n = nm_model_channel_consumers(m, 0, out, 8, &feeds_add);
    cr_assert_eq(n, 2);
    cr_assert(feeds_add);
    cr_assert((out[0] == 4 && out[1] == 8) || (out[0] == 8 && out[1] == 4));
    n = nm_model_channel_consumers(m, 4, out, 8, &feeds_add);
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0], 8);
    cr_assert(feeds_add);
    int through;
    n = nm_model_channel_producers(m, 8, out, 8, &through);
    cr_assert_eq(n, 2, "fc's channels come from conv1 and conv2");
    cr_assert(through);

    /* Dense MACs per sample: positions x weight elements. */
    int64_t macs = 8 * 8 * (4 * 3 * 3 * 3)  /* conv1 */
                 + 4 * 4 * (4 * 4 * 3 * 3)  /* conv2 */
                 + 1 * (10 * 4);            /* fc */
    cr_assert_eq(nm_model_dense_macs(m), macs);
    cr_assert_eq(macs, 6912 + 2304 + 40);
}

/* Writes the small CNN (weights in raw_data or float_data, with or
 * without value_info) to file, loads it and checks it: no warnings (warn
 * is set, not left as it was), the graph's name, every value. */
static void small_cnn_loads(int raw, int vinfo, const char *file)
{
    cnn_vals v;
    const char *path = write_model(small_cnn(&v, raw, vinfo), file);
    char *warn = (char *)1;
    nm_model *m = load_ok(path, &warn);
    cr_assert_null(warn, "unexpected warnings (raw %d, value_info %d): %s", raw, vinfo, warn);
    cr_assert_str_eq(m->name, "testnet");
    check_small_cnn(m, &v);
    nm_model_free(m);
    cnn_free(&v);
}

Test(onnx, small_cnn_float_data, .init = make_tmp, .fini = rm_tmp)
{
    small_cnn_loads(0, 0, "cnn.onnx");
}

Test(onnx, small_cnn_raw_data, .init = make_tmp, .fini = rm_tmp)
{
    small_cnn_loads(1, 0, "cnn_raw.onnx");
}

Test(onnx, raw_and_float_data_load_the_same, .init = make_tmp, .fini = rm_tmp)
{
    cnn_vals a, b;
    const char *pa = write_model(small_cnn(&a, 0, 0), "a.onnx");
    nm_model *ma = load_ok(pa, NULL);
    const char *pb = write_model(small_cnn(&b, 1, 0), "b.onnx");
    nm_model *mb = load_ok(pb, NULL);
    cr_assert_eq(ma->n_layers, mb->n_layers);
    for (int i = 0; i < ma->n_layers; i++) {
        const nm_layer *x = &ma->layers[i], *y = &mb->layers[i];
        const nm_tensor *tx[] = {x->weight, x->bias, x->gamma, x->beta, x->mean, x->var};
        const nm_tensor *ty[] = {y->weight, y->bias, y->gamma, y->beta, y->mean, y->var};
        for (int k = 0; k < 6; k++) {
            cr_assert_eq(!tx[k], !ty[k]);
            if (tx[k])
                cr_assert(tx[k]->numel == ty[k]->numel &&
                          memcmp(tx[k]->data, ty[k]->data, (size_t)tx[k]->numel * 4) == 0);
        }
    }
    nm_model_free(ma);
    nm_model_free(mb);
    cnn_free(&a);
    cnn_free(&b);
}

Test(onnx, value_info_shapes_match, .init = make_tmp, .fini = rm_tmp)
{
    /* Computed shapes agree with value_info: no warning. */
    small_cnn_loads(0, 1, "vi.onnx");

    /* A wrong declared shape is reported by name (a symbolic batch is fine). */
    cnn_vals v;
    Onnx__ModelProto *mp = small_cnn(&v, 0, 0);
    static const int64_t wrong[4] = {-1, 4, 5, 5}, wrong_f[2] = {2, 5};
    add_vinfo(mp, "p1", 4, wrong);
    add_vinfo(mp, "f1", 2, wrong_f);
    const char *path = write_model(mp, "vi_wrong.onnx");
    char *warn = NULL;
    nm_model *m = load_ok(path, &warn);
    cr_assert_not_null(warn);
    cr_assert(strstr(warn, "'p1' has shape [N, 4, 5, 5]") && strstr(warn, "(4, 4, 4)"), "%s", warn);
    cr_assert(strstr(warn, "'f1' has shape [2, 5]") && strstr(warn, "(4, 1, 1)"), "%s", warn);
    free(warn);
    nm_model_free(m);
    cnn_free(&v);
}

/* ------------------------------------------------------------------ */
/* Other mappings.                                                     */

/* x[N,2,5,5] -> Conv 3x3 (2->6) -> Dropout -> Clip(0,6) ->
 * Flatten -> Gemm (transB = 0, alpha 2) -> ... */
Test(onnx, gemm_without_transb_is_transposed, .init = make_tmp, .fini = rm_tmp)
{
    Onnx__ModelProto *mp = model_new();
    static const int64_t xin[2] = {1, 5}, dw[2] = {5, 3}, db[2] = {1, 3};
    add_input(mp, "x", 2, xin);
    float w[15], b[3] = {0.5f, -1.0f, 2.0f};
    for (int i = 0; i < 15; i++)
        w[i] = (float)(i + 1);  /* w[i][o] = 3*i + o + 1 */
    add_init(mp, tensor_f32("W", 2, dw, w, 1));
    add_init(mp, tensor_f32("B", 2, db, b, 0));
    Onnx__NodeProto *n = add_node(mp, "Gemm", "fc", "x,W,B", "y");
    attr_f(n, "alpha", 2.0f);
    attr_f(n, "beta", 1.0f);
    char *warn = NULL;
    nm_model *m = load_ok(write_model(mp, "gemm.onnx"), &warn);
    cr_assert_eq(m->in_c, 5);
    cr_assert_eq(m->n_layers, 1);
    const nm_layer *l = &m->layers[0];
    cr_assert_eq(l->kind, NM_LAYER_LINEAR);
    cr_assert(l->weight->shape[0] == 3 && l->weight->shape[1] == 5);
    for (int o = 0; o < 3; o++)
        for (int i = 0; i < 5; i++)
            cr_assert_float_eq(nm_f32(l->weight)[o * 5 + i], 2.0f * (float)(3 * i + o + 1), 0,
                               "weight[%d][%d]", o, i);
    assert_floats(l->bias, b, 3, "bias");
    cr_assert(warn && strstr(warn, "alpha 2"), "alpha should be reported: %s", warn);
    free(warn);
    nm_model_free(m);
}

Test(onnx, matmul_add_becomes_linear_with_bias, .init = make_tmp, .fini = rm_tmp)
{
    Onnx__ModelProto *mp = model_new();
    static const int64_t xin[4] = {1, 2, 2, 2}, dw[2] = {8, 3}, db[1] = {3};
    static const int64_t shp[2] = {0, -1};
    add_input(mp, "x", 4, xin);
    float w[24], b[3] = {1.0f, 2.0f, 3.0f};
    for (int i = 0; i < 24; i++)
        w[i] = (float)i * 0.5f;
    add_init(mp, tensor_f32("W", 2, dw, w, 0));
    add_init(mp, tensor_f32("bias", 1, db, b, 0));
    add_init(mp, tensor_i64("shape", 2, shp));
    add_node(mp, "Reshape", "flat", "x,shape", "f");
    add_node(mp, "MatMul", "mm", "f,W", "h");
    add_node(mp, "Add", "addb", "h,bias", "y");
    add_output(mp, "y", 2, (const int64_t[]){1, 3});
    char *warn = NULL;
    nm_model *m = load_ok(write_model(mp, "mm.onnx"), &warn);
    cr_assert_null(warn, "%s", warn);
    cr_assert_eq(m->n_layers, 2, "Reshape -> flatten, MatMul+Add -> one linear");
    cr_assert_eq(m->layers[0].kind, NM_LAYER_FLATTEN);
    cr_assert_eq(m->layers[0].out_c, 8);
    const nm_layer *l = layer(m, "mm");
    cr_assert_eq(l->kind, NM_LAYER_LINEAR);
    cr_assert(l->weight->shape[0] == 3 && l->weight->shape[1] == 8);
    for (int o = 0; o < 3; o++)
        for (int i = 0; i < 8; i++)
            cr_assert_eq(nm_f32(l->weight)[o * 8 + i], w[i * 3 + o]);
    assert_floats(l->bias, b, 3, "folded bias");
    nm_model_free(m);
}

Test(onnx, conv_bias_add_folds_only_when_alone, .init = make_tmp, .fini = rm_tmp)
{
    Onnx__ModelProto *mp = model_new();
    static const int64_t xin[4] = {1, 2, 4, 4}, dw[4] = {3, 2, 1, 1}, db[4] = {1, 3, 1, 1};
    add_input(mp, "x", 4, xin);
    float w[6] = {1, 2, 3, 4, 5, 6}, b[3] = {0.25f, 0.5f, 0.75f};
    add_init(mp, tensor_f32("W", 4, dw, w, 0));
    add_init(mp, tensor_f32("b", 4, db, b, 0));
    add_node(mp, "Conv", "c", "x,W", "c_out");
    add_node(mp, "Identity", "id", "c_out", "c_id");
    add_node(mp, "Add", "addb", "c_id,b", "y");
    /* a second conv whose output also feeds a Relu: not folded */
    add_node(mp, "Conv", "c2", "y,W2", "c2_out");
    static const int64_t dw2[4] = {3, 3, 1, 1};
    float w2[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    add_init(mp, tensor_f32("W2", 4, dw2, w2, 0));
    add_node(mp, "Add", "addb2", "c2_out,b", "z");
    add_node(mp, "Relu", "r", "c2_out", "r_out");
    char *warn = NULL;
    nm_model *m = load_ok(write_model(mp, "fold.onnx"), &warn);
    cr_assert_eq(m->n_layers, 4, "c, c2, addb2, r");
    assert_floats(layer(m, "c")->bias, b, 3, "folded conv bias");
    cr_assert_null(layer(m, "c2")->bias);
    cr_assert_eq(layer(m, "c2")->inputs[0], 0, "Identity and the folded Add alias conv 'c'");
    /* not foldable: an add of the per-channel constant, as its own layer */
    const nm_layer *a = layer(m, "addb2");
    cr_assert_eq(a->kind, NM_LAYER_ADD);
    cr_assert(a->konst && a->konst->shape[0] == 3 && a->konst->shape[1] == 1 &&
              a->konst->shape[2] == 1);
    assert_floats(a->konst, b, 3, "constant operand");
    cr_assert_null(warn, "%s", warn);
    nm_model_free(m);
}

Test(onnx, clip_dropout_dwconv_avgpool_naming, .init = make_tmp, .fini = rm_tmp)
{
    Onnx__ModelProto *mp = model_new();
    static const int64_t xin[4] = {-1, 4, 6, 6}, dw[4] = {4, 1, 3, 3}, sc[1] = {1};
    add_input(mp, "x", 4, xin);
    float w[36];
    for (int i = 0; i < 36; i++)
        w[i] = (float)i;
    float lo = 0.0f, hi = 6.0f;
    add_init(mp, tensor_f32("W", 4, dw, w, 0));
    add_init(mp, tensor_f32("lo", 0, sc, &lo, 0));
    add_init(mp, tensor_f32("hi", 0, sc, &hi, 1));
    Onnx__NodeProto *n = add_node(mp, "Conv", "dup", "x,W", "d");
    attr_i(n, "group", 4);
    attr_s(n, "auto_pad", "SAME_UPPER");
    add_node(mp, "Dropout", "drop", "d", "d2,mask");
    add_node(mp, "Clip", "dup", "d2,lo,hi", "r6");       /* opset 11+: inputs */
    n = add_node(mp, "Clip", "", "r6", "r6b");            /* opset 6: attributes */
    attr_f(n, "min", 0.0f);
    attr_f(n, "max", 6.0f);
    n = add_node(mp, "AveragePool", "ap", "r6b", "p");
    attr_ints(n, "kernel_shape", 2, 3, 3);
    attr_ints(n, "strides", 2, 3, 3);
    char *warn = NULL;
    nm_model *m = load_ok(write_model(mp, "dw.onnx"), &warn);
    cr_assert_null(warn, "%s", warn);
    cr_assert_eq(m->n_layers, 4);
    /* "dup" names two nodes: both get generated names. */
    cr_assert_str_eq(m->layers[0].name, "Conv_0");
    cr_assert_str_eq(m->layers[1].name, "Clip_0");
    cr_assert_str_eq(m->layers[2].name, "Clip_1");
    const nm_layer *d = &m->layers[0];
    cr_assert_eq(d->kind, NM_LAYER_DWCONV);
    cr_assert(d->groups == 4 && d->pad_h == 1 && d->pad_w == 1 && d->out_h == 6);
    assert_floats(d->weight, w, 36, "dwconv weight");
    cr_assert_eq(m->layers[1].kind, NM_LAYER_RELU);
    cr_assert_eq(m->layers[1].inputs[0], 0, "Dropout is skipped");
    cr_assert_float_eq(m->layers[1].clip, 6.0f, 0);
    cr_assert_float_eq(m->layers[2].clip, 6.0f, 0);
    cr_assert_eq(m->layers[3].kind, NM_LAYER_AVGPOOL);
    cr_assert(m->layers[3].out_h == 2 && m->layers[3].out_w == 2);
    /* dwconv MACs: 36 positions x 36 weights */
    cr_assert_eq(nm_model_dense_macs(m), 36 * 36);
    nm_model_free(m);
}

/* ------------------------------------------------------------------ */
/* Unsupported operators.                                              */

static Onnx__ModelProto *conv_net(void)
{
    Onnx__ModelProto *mp = model_new();
    static const int64_t xin[4] = {1, 1, 4, 4}, dw[4] = {2, 1, 1, 1};
    add_input(mp, "x", 4, xin);
    float w[2] = {1.0f, -1.0f};
    add_init(mp, tensor_f32("W", 4, dw, w, 0));
    add_node(mp, "Conv", "conv", "x,W", "c");
    return mp;
}

Test(onnx, unsupported_ops_are_listed, .init = make_tmp, .fini = rm_tmp)
{
    Onnx__ModelProto *mp = conv_net();
    add_node(mp, "LRN", "lrn1", "c", "k1");
    add_node(mp, "Relu", "relu", "c", "r");
    add_node(mp, "LRN", "lrn2", "k1", "k2");
    add_node(mp, "Erf", "erf", "r", "y");
    char *warn = NULL;
    /* nothing reads their outputs: the model loads, and they are listed */
    nm_model *m = load_ok(write_model(mp, "unsup.onnx"), &warn);
    cr_assert_eq(m->n_layers, 2, "conv and relu are built");
    cr_assert_not_null(warn);
    cr_assert(strstr(warn, "unsupported operators: LRN (2), Erf (1)"), "%s", warn);
    free(warn);
    nm_model_free(m);
}

Test(onnx, import_stops_at_a_dependent_node, .init = make_tmp, .fini = rm_tmp)
{
    Onnx__ModelProto *mp = conv_net();
    add_node(mp, "Relu", "relu", "c", "r");
    add_node(mp, "LeakyRelu", "leaky", "r", "l");
    add_node(mp, "MaxPool", "pool", "l", "p");     /* needs the skipped output */
    add_node(mp, "Relu", "after", "r", "r2");       /* never reached */
    const char *path = write_model(mp, "stop.onnx");
    load_refused(path, (const char *const[]){path, "node 'leaky' (LeakyRelu)", "not supported",
                                             "needed by node 'pool'", "partial", NULL});
    char *warn = NULL;
    nm_model *m = load_partial(path, &warn);
    cr_assert_eq(m->n_layers, 2);
    cr_assert_eq(nm_model_find(m, "after"), -1);
    cr_assert(warn && strstr(warn, "LeakyRelu (1)") && strstr(warn, "stopped at node 'pool'") &&
              strstr(warn, "'leaky'"), "%s", warn);
    free(warn);
    nm_model_free(m);
}

Test(onnx, unsupported_settings_are_warned, .init = make_tmp, .fini = rm_tmp)
{
    Onnx__ModelProto *mp = conv_net();
    Onnx__NodeProto *n = add_node(mp, "MaxPool", "pool3d", "c", "p");
    attr_ints(n, "kernel_shape", 3, 2, 2, 2);
    add_node(mp, "Relu", "relu", "c", "r");
    char *warn = NULL;
    nm_model *m = load_ok(write_model(mp, "asym.onnx"), &warn);
    cr_assert_eq(m->n_layers, 2);
    cr_assert(warn && strstr(warn, "'pool3d'") && strstr(warn, "2-D kernels"), "%s", warn);
    free(warn);
    nm_model_free(m);
}

Test(onnx, nothing_importable_is_an_error, .init = make_tmp, .fini = rm_tmp)
{
    Onnx__ModelProto *mp = model_new();
    static const int64_t xin[2] = {1, 10};
    add_input(mp, "x", 2, xin);
    add_node(mp, "Erf", "erf", "x", "y");
    const char *path = write_model(mp, "sm.onnx");
    char *warn = (char *)1;
    cr_assert_null(nm_onnx_load(path, &warn));
    cr_assert_null(warn);
    cr_assert(strstr(nm_errmsg(), path) && strstr(nm_errmsg(), "Erf (1)"), "%s", nm_errmsg());
}

/* ------------------------------------------------------------------ */
/* Bad input: a message naming the file and the problem, never a crash */
/* or an allocation the file does not justify.                         */

static void expect_error(const char *path, const char *what)
{
    char *warn = (char *)1;
    nm_model *m = nm_onnx_load(path, &warn);
    cr_assert_null(m, "loading %s should fail (%s)", path, what);
    cr_assert_null(warn);
    cr_assert(strstr(nm_errmsg(), path), "message does not name the file: %s", nm_errmsg());
    cr_assert(strstr(nm_errmsg(), what), "message '%s' lacks '%s'", nm_errmsg(), what);
}

Test(onnx, bad_files, .init = make_tmp, .fini = rm_tmp)
{
    const char *p = tmp_path("missing.onnx");
    expect_error(p, "No such file");

    p = tmp_path("empty.onnx");
    write_bytes(p, "", 0);
    expect_error(p, "no graph");

    /* field 7 (graph) says 128 bytes follow, none do */
    p = tmp_path("trunc_hdr.onnx");
    write_bytes(p, "\x3a\x80\x01", 3);
    expect_error(p, "corrupt or truncated");

    /* a varint that never ends */
    p = tmp_path("garbage.onnx");
    write_bytes(p, "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 12);
    expect_error(p, "corrupt or truncated");

    /* a real model cut in half */
    cnn_vals v;
    Onnx__ModelProto *mp = small_cnn(&v, 1, 0);
    size_t len = onnx__model_proto__get_packed_size(mp);
    uint8_t *buf = malloc(len);
    onnx__model_proto__pack(mp, buf);
    onnx__model_proto__free_unpacked(mp, NULL);
    cnn_free(&v);
    p = tmp_path("half.onnx");
    write_bytes(p, buf, len / 2);
    free(buf);
    expect_error(p, "corrupt or truncated");

    /* a model without a graph */
    mp = model_new();
    onnx__graph_proto__free_unpacked(mp->graph, NULL);
    mp->graph = NULL;
    expect_error(write_model(mp, "nograph.onnx"), "no graph");
}

Test(onnx, bad_inputs, .init = make_tmp, .fini = rm_tmp)
{
    Onnx__ModelProto *mp = model_new();
    add_input(mp, "x", -1, NULL);
    add_node(mp, "Relu", "r", "x", "y");
    expect_error(write_model(mp, "noshape.onnx"), "input 'x' has no shape");

    mp = model_new();
    add_input(mp, "x", 4, (const int64_t[]){-1, 3, -2, 8});
    add_node(mp, "Relu", "r", "x", "y");
    expect_error(write_model(mp, "symbolic.onnx"), "dimension 2 is symbolic ('H')");

    mp = model_new();
    static const int64_t dw[1] = {2};
    float w[2] = {1, 2};
    add_init(mp, tensor_f32("W", 1, dw, w, 0));
    add_input(mp, "W", 1, dw);
    add_node(mp, "Relu", "r", "W", "y");
    expect_error(write_model(mp, "noinput.onnx"), "no input besides its initializers");
}

Test(onnx, bad_tensors, .init = make_tmp, .fini = rm_tmp)
{
    /* dims promise 10^12 elements, 10 bytes present */
    Onnx__ModelProto *mp = conv_net();
    Onnx__TensorProto *t = mp->graph->initializer[0];
    t->dims[0] = 1000000;
    t->dims[1] = 1000000;
    t->dims[2] = t->dims[3] = 1;
    free(t->float_data);
    t->float_data = NULL;
    t->n_float_data = 0;
    t->has_raw_data = 1;
    t->raw_data.len = 10;
    t->raw_data.data = calloc(1, 10);
    expect_error(write_model(mp, "huge.onnx"), "'W' has dims [1000000, 1000000, 1, 1] "
                                               "(1000000000000 elements of 4 bytes) but holds 10 bytes");

    /* 2 elements declared, 3 float values present */
    mp = conv_net();
    t = mp->graph->initializer[0];
    t->float_data = realloc(t->float_data, 3 * sizeof(float));
    t->float_data[2] = 7.0f;
    t->n_float_data = 3;
    expect_error(write_model(mp, "size.onnx"), "'W' has dims [2, 1, 1, 1] (2 elements) but holds 3 values");

    /* a weight whose dims do not fit the layer: 2 input channels, input has 1 */
    mp = conv_net();
    t = mp->graph->initializer[0];
    t->dims[0] = 1;
    t->dims[1] = 2;
    expect_error(write_model(mp, "fit.onnx"), "node 'conv' (Conv): weight 'W' has dims [1, 2, 1, 1], "
                                              "expected [1, 1, 1, 1]");

    /* BN statistics of the wrong length */
    mp = conv_net();
    float s3[3] = {1, 1, 1};
    static const int64_t d3[1] = {3};
    add_init(mp, tensor_f32("s", 1, d3, s3, 0));
    add_node(mp, "BatchNormalization", "bn", "c,s,s,s,s", "b");
    expect_error(write_model(mp, "bn.onnx"), "scale 's' has dims [3], expected [2]");

    /* a weight of a type nmlab does not read */
    mp = conv_net();
    t = mp->graph->initializer[0];
    t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__STRING;
    expect_error(write_model(mp, "type.onnx"), "data type STRING");
}

/* Deterministic mutations of a valid file (flipped bytes, truncation):
 * every load either succeeds or fails with a message naming the file.
 * Under the sanitizers this also checks memory safety. */
Test(onnx, mutated_files_never_crash, .init = make_tmp, .fini = rm_tmp)
{
    cnn_vals v;
    Onnx__ModelProto *mp = small_cnn(&v, 1, 1);
    size_t len = onnx__model_proto__get_packed_size(mp);
    uint8_t *good = malloc(len), *bad = malloc(len);
    onnx__model_proto__pack(mp, good);
    onnx__model_proto__free_unpacked(mp, NULL);
    cnn_free(&v);
    const char *p = tmp_path("mut.onnx");
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    int loaded = 0, failed = 0;
    for (int round = 0; round < 400; round++) {
        memcpy(bad, good, len);
        size_t n = len;
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        if (round % 4 == 3) {
            n = (size_t)(s % len);
        } else {
            for (int k = 0; k <= round % 3; k++) {
                s ^= s << 13, s ^= s >> 7, s ^= s << 17;
                bad[s % len] ^= (uint8_t)(1u << (s >> 32) % 8);
            }
        }
        write_bytes(p, bad, n);
        char *warn = NULL;
        nm_model *m = nm_onnx_load(p, &warn);
        if (m) {
            loaded++;
            nm_model_free(m);
            free(warn);
        } else {
            failed++;
            cr_assert_null(warn);
            cr_assert(strstr(nm_errmsg(), p), "round %d: %s", round, nm_errmsg());
        }
    }
    cr_assert(loaded > 0 && failed > 0, "loaded %d, failed %d", loaded, failed);
    free(good);
    free(bad);
}

/* DOUBLE weights (raw little-endian and double_data) and a Reshape whose
 * shape comes from a Constant node. */
Test(onnx, double_weights_and_constant_shape, .init = make_tmp, .fini = rm_tmp)
{
    for (int raw = 0; raw < 2; raw++) {
        Onnx__ModelProto *mp = model_new();
        static const int64_t xin[4] = {1, 3, 1, 2}, dw[2] = {6, 2};
        add_input(mp, "x", 4, xin);
        double w[12];
        for (int i = 0; i < 12; i++)
            w[i] = 0.25 * (i - 5);  /* exact in float */
        add_init(mp, tensor_f64("W", 2, dw, w, raw));
        Onnx__NodeProto *n = add_node(mp, "Constant", "k", "", "shape");
        Onnx__AttributeProto *a = attr_new(n, "value", ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR);
        a->t = tensor_i64("shape_value", 2, (const int64_t[]){-1, 6});
        add_node(mp, "Reshape", "flat", "x,shape", "f");
        add_node(mp, "MatMul", "mm", "f,W", "y");
        char *warn = NULL;
        nm_model *m = load_ok(write_model(mp, raw ? "d_raw.onnx" : "d.onnx"), &warn);
        cr_assert_null(warn, "%s", warn);
        cr_assert_eq(m->n_layers, 2);
        cr_assert_eq(m->layers[0].kind, NM_LAYER_FLATTEN);
        const nm_layer *l = layer(m, "mm");
        for (int o = 0; o < 2; o++)
            for (int i = 0; i < 6; i++)
                cr_assert_eq(nm_f32(l->weight)[o * 6 + i], (float)w[i * 2 + o]);
        nm_model_free(m);
    }
}

Test(onnx, reshape_with_computed_shape_stops, .init = make_tmp, .fini = rm_tmp)
{
    /* Shape(c) folds to a constant (the next test); a shape from data
     * (NonZero) cannot be known at import */
    Onnx__ModelProto *mp = conv_net();
    add_node(mp, "NonZero", "nz", "c", "s");
    add_node(mp, "Reshape", "view", "c,s", "v");
    add_node(mp, "Relu", "relu", "v", "r");
    const char *path = write_model(mp, "dyn.onnx");
    load_refused(path, (const char *const[]){"node 'view' (Reshape)", "computed at run time", NULL});
    char *warn = NULL;
    nm_model *m = load_partial(path, &warn);
    cr_assert_eq(m->n_layers, 1);
    cr_assert(warn && strstr(warn, "NonZero (1)") && strstr(warn, "'view' (Reshape) skipped") &&
              strstr(warn, "stopped at node 'relu'"), "%s", warn);
    free(warn);
    nm_model_free(m);
}

Test(onnx, reshape_of_folded_shape_loads, .init = make_tmp, .fini = rm_tmp)
{
    Onnx__ModelProto *mp = conv_net();
    add_node(mp, "Shape", "shape", "c", "s");
    add_node(mp, "Reshape", "view", "c,s", "v");
    add_node(mp, "Relu", "relu", "v", "r");
    char *warn = NULL;
    nm_model *m = load_ok(write_model(mp, "fold_shape.onnx"), &warn);
    cr_assert_null(warn, "%s", warn);
    cr_assert_eq(m->n_layers, 3, "conv, reshape to its own shape, relu");
    cr_assert_eq(m->layers[1].kind, NM_LAYER_RESHAPE);
    cr_assert(m->layers[1].out_c == 2 && m->layers[1].out_h == 4 && m->layers[1].out_w == 4);
    nm_model_free(m);
}

/* ---- progress and cancellation ---- */

typedef struct {
    int calls, stop_at, monotone;
    double first, last;
} onnx_log;

static int log_onnx(void *ud, double fraction, const char *what)
{
    onnx_log *p = ud;
    cr_assert(strcmp(what, "reading") == 0 || strcmp(what, "importing") == 0, "%s", what);
    if (p->calls == 0)
        p->first = fraction;
    if (fraction < p->last || fraction > 1.0)
        p->monotone = 0;
    p->last = fraction;
    return ++p->calls == p->stop_at;
}

/* Reports run from 0 to exactly 1, one per node and more, without changing
 * the import; asking to stop gives NULL, "cancelled" and no warnings. */
Test(onnx, load_reports_progress_and_cancels, .init = make_tmp, .fini = rm_tmp)
{
    cnn_vals v;
    const char *path = write_model(small_cnn(&v, 1, 0), "p.onnx");
    onnx_log p = {0, -1, 1, -1, 0};
    char *warn = (char *)1;
    nm_model *m = nm_onnx_load_progress(path, &warn, log_onnx, &p);
    cr_assert_not_null(m, "%s", nm_errmsg());
    cr_assert_null(warn);
    check_small_cnn(m, &v);
    cr_assert(p.monotone);
    cr_assert_float_eq(p.first, 0.0, 0);
    cr_assert_float_eq(p.last, 1.0, 0);
    cr_assert_geq(p.calls, 3, "only %d reports", p.calls);
    int all = p.calls;
    nm_model_free(m);
    for (int stop = 1; stop <= all; stop++) {
        onnx_log q = {0, stop, 1, -1, 0};
        warn = (char *)1;
        cr_assert_null(nm_onnx_load_progress(path, &warn, log_onnx, &q), "stop at %d of %d", stop, all);
        cr_assert(strstr(nm_errmsg(), "cancelled") && strstr(nm_errmsg(), path), "%s", nm_errmsg());
        cr_assert_null(warn);
        cr_assert_eq(q.calls, stop, "went on after the stop");
    }
    /* nm_model_load passes the progress on for ONNX files */
    onnx_log r = {0, -1, 1, -1, 0};
    m = nm_model_load_progress(path, NULL, log_onnx, &r);
    cr_assert_not_null(m, "%s", nm_errmsg());
    cr_assert_eq(r.calls, all);
    nm_model_free(m);
    cnn_free(&v);
}

/* The file read whole, its unpacked message and the layers' weights are
 * all counted: a budget with room for the weights (590 KB) alone is
 * refused up front, and the engine's peak never passes the budget. */
Test(onnx, memory_budget_refuses_before_copying, .init = make_tmp, .fini = rm_tmp)
{
    Onnx__ModelProto *mp = model_new();
    static const int64_t xin[4] = {1, 64, 8, 8}, dw[4] = {256, 64, 3, 3};
    add_input(mp, "x", 4, xin);
    float *w = calloc(256 * 64 * 9, sizeof *w);
    cr_assert_not_null(w);
    add_init(mp, tensor_f32("W", 4, dw, w, 1));
    free(w);
    add_node(mp, "Conv", "conv", "x,W", "y");
    const char *path = write_model(mp, "big.onnx");
    cap_budget cap = {.cap = 700 * 1024};          /* the file alone is ~590 KB */
    nm_mem_budget b;
    nm_mem_reset_peak();
    int64_t base = nm_mem_live();
    nm_mem_budget_push(&b, cap_ask, &cap);
    char *warn = NULL;
    nm_model *m = nm_onnx_load(path, &warn);
    nm_mem_budget_pop(&b);
    cr_assert_null(m);
    cr_assert(strstr(nm_errmsg(), "not enough memory"), "%s", nm_errmsg());
    cr_assert_leq(nm_mem_peak() - base, cap.cap, "peak %lld", (long long)(nm_mem_peak() - base));
    /* with room for file, message and weights it loads */
    cap_budget room = {.cap = 4 * 1024 * 1024};
    nm_mem_budget_push(&b, cap_ask, &room);
    m = nm_onnx_load(path, &warn);
    nm_mem_budget_pop(&b);
    cr_assert_not_null(m, "%s", nm_errmsg());
    cr_assert_geq(room.asked, 256 * 64 * 9 * 4, "the weights were asked for");
    nm_model_free(m);
    free(warn);
}

/* ---- shape subgraphs folded once the input size is known ---- */

/* ShuffleNet's channel_shuffle and chunk as torch.onnx.export writes them:
 * the 5-D view's dims and the split point come from Shape/Gather/Div/
 * Unsqueeze/Concat. The import folds them: a channel slice, a shuffle
 * layer, and values equal to a reference computed here. */
Test(onnx, shape_subgraphs_fold_to_shuffle_and_slice, .init = make_tmp, .fini = rm_tmp)
{
    Onnx__ModelProto *mp = model_new();
    static const int64_t xin[4] = {1, 6, 2, 3};
    add_input(mp, "x", 4, xin);
    add_init(mp, tensor_i64("i0", 1, (const int64_t[]){0}));
    add_init(mp, tensor_i64("i1", 1, (const int64_t[]){1}));
    add_init(mp, tensor_i64("two", 1, (const int64_t[]){2}));
    add_init(mp, tensor_i64("big", 1, (const int64_t[]){INT64_MAX}));
    add_init(mp, tensor_i64("g", 1, (const int64_t[]){3}));
    /* channels per group = C / 3, from the input's shape */
    add_node(mp, "Shape", "shape", "x", "s");
    Onnx__NodeProto *n = add_node(mp, "Gather", "gc", "s,i1", "c");
    attr_i(n, "axis", 0);
    add_node(mp, "Div", "cpg", "c,g", "cg");                 /* 2 */
    add_node(mp, "Gather", "gn", "s,i0", "nb");
    add_node(mp, "Gather", "gh", "s,two", "hh");
    /* [N, 3, C/3, H, W] */
    n = add_node(mp, "Concat", "shape5", "nb,g,cg,hh,w", "s5");
    attr_i(n, "axis", 0);
    add_init(mp, tensor_i64("w", 1, (const int64_t[]){3}));
    add_node(mp, "Reshape", "view", "x,s5", "v5");
    n = add_node(mp, "Transpose", "swap", "v5", "t5");
    attr_ints(n, "perm", 5, 0, 2, 1, 3, 4);
    add_init(mp, tensor_i64("s4", 4, (const int64_t[]){1, -1, 2, 3}));
    add_node(mp, "Reshape", "back", "t5,s4", "sh");
    /* the second half of the channels: Slice(sh, C/2, big, axis 1) */
    add_node(mp, "Div", "half", "c,two", "h2");
    add_node(mp, "Slice", "chunk", "sh,h2,big,i1", "y");
    add_output(mp, "y", 4, (const int64_t[]){1, 3, 2, 3});
    char *warn = NULL;
    nm_model *m = load_ok(write_model(mp, "shuffle.onnx"), &warn);
    free(warn);
    cr_assert_eq(m->n_layers, 2, "shuffle and slice; the shape arithmetic is folded");
    cr_assert_eq(m->layers[0].kind, NM_LAYER_SHUFFLE);
    cr_assert_eq(m->layers[0].groups, 3);
    cr_assert_eq(m->layers[1].kind, NM_LAYER_SLICE);
    cr_assert(m->layers[1].slice_start == 3 && m->layers[1].out_c == 3);
    nm_tensor *x = nm_tensor_new4(NM_F32, 4, 2, 6, 2, 3);
    for (int64_t i = 0; i < x->numel; i++)
        nm_f32(x)[i] = (float)i;
    nm_tensor *y = NULL;
    cr_assert_eq(nm_forward_outputs(m, x, &y, 1), 1, "%s", nm_errmsg());
    /* shuffle of 3 groups of 2: output channel j*3+i reads input i*2+j;
     * the kept half is output channels 3..5 = inputs 3, 5, 2... computed: */
    for (int s = 0; s < 2; s++)
        for (int oc = 3; oc < 6; oc++) {
            int i = oc % 3, j = oc / 3, ic = i * 2 + j;
            for (int p = 0; p < 6; p++)
                cr_assert_eq(nm_f32(y)[(s * 3 + oc - 3) * 6 + p], nm_f32(x)[(s * 6 + ic) * 6 + p],
                             "sample %d channel %d", s, oc);
        }
    nm_tensor_release(x), nm_tensor_release(y);
    nm_model_free(m);
}

/* Folded constants follow ONNX: Unsqueeze/Squeeze/Cast/ConstantOfShape/
 * Expand/Where/Equal/Slice with negative steps, checked through a Mul by the
 * folded constant (the layer's constant operand holds the values). */
Test(onnx, folded_constants_have_onnx_values, .init = make_tmp, .fini = rm_tmp)
{
    Onnx__ModelProto *mp = model_new();
    add_input(mp, "x", 4, (const int64_t[]){1, 4, 1, 1});
    add_init(mp, tensor_i64("v", 4, (const int64_t[]){10, 20, 30, 40}));
    add_init(mp, tensor_i64("st", 1, (const int64_t[]){-1}));
    add_init(mp, tensor_i64("en", 1, (const int64_t[]){INT64_MIN}));
    add_init(mp, tensor_i64("ax", 1, (const int64_t[]){0}));
    add_init(mp, tensor_i64("stp", 1, (const int64_t[]){-1}));
    add_node(mp, "Slice", "rev", "v,st,en,ax,stp", "r");        /* 40 30 20 10 */
    add_init(mp, tensor_i64("k20", 1, (const int64_t[]){20}));
    add_node(mp, "Equal", "eq", "r,k20", "is20");                  /* 0 0 1 0 */
    add_init(mp, tensor_i64("m1", 1, (const int64_t[]){-1}));
    add_node(mp, "Where", "wh", "is20,m1,r", "sel");               /* 40 30 -1 10 */
    Onnx__NodeProto *n = add_node(mp, "Cast", "cast", "sel", "self");
    attr_i(n, "to", 1);
    add_init(mp, tensor_i64("axes", 3, (const int64_t[]){0, 2, 3}));
    add_node(mp, "Unsqueeze", "unsq", "self,axes", "k4");         /* [1, 4, 1, 1] */
    add_node(mp, "Mul", "mul", "x,k4", "y");
    add_output(mp, "y", 4, (const int64_t[]){1, 4, 1, 1});
    char *warn = NULL;
    nm_model *m = load_ok(write_model(mp, "fold.onnx"), &warn);
    free(warn);
    cr_assert_eq(m->n_layers, 1);
    const nm_layer *l = &m->layers[0];
    cr_assert(l->kind == NM_LAYER_MUL && l->konst && l->konst->shape[0] == 4);
    static const float want[4] = {40, 30, -1, 10};
    assert_floats(l->konst, want, 4, "folded constant");
    nm_model_free(m);
}

/* ---- upsampling: ConvTranspose, Resize, Upsample ---- */

/* x[1,2,3,3] -> ConvTranspose (2->3, 3x3, stride 2, pads 1, output_padding
 * 1, bias) -> Resize (linear pytorch_half_pixel, scales 2, 1.5) ->
 * Upsample (nearest, scales 1, 2) -> ConvTranspose (depthwise, SAME_UPPER,
 * stride 2) -> ConvTranspose (output_shape: one more row and one less
 * column than the full size). */
Test(onnx, convtranspose_resize_upsample_import, .init = make_tmp, .fini = rm_tmp)
{
    Onnx__ModelProto *mp = model_new();
    add_input(mp, "x", 4, (const int64_t[]){1, 2, 3, 3});
    float *w = pattern(2 * 3 * 9, 0.125f), *b = pattern(3, 1.0f), *w2 = pattern(3 * 9, 0.25f);
    add_init(mp, tensor_f32("W", 4, (const int64_t[]){2, 3, 3, 3}, w, 1));
    add_init(mp, tensor_f32("B", 1, (const int64_t[]){3}, b, 0));
    add_init(mp, tensor_f32("W2", 4, (const int64_t[]){3, 1, 3, 3}, w2, 0));
    add_init(mp, tensor_f32("sc", 1, (const int64_t[]){4}, (const float[]){1, 1, 2, 1.5f}, 0));
    add_init(mp, tensor_f32("sc2", 1, (const int64_t[]){4}, (const float[]){1, 1, 1, 2}, 1));
    Onnx__NodeProto *n = add_node(mp, "ConvTranspose", "up", "x,W,B", "u");
    attr_ints(n, "strides", 2, 2, 2);
    attr_ints(n, "pads", 4, 1, 1, 1, 1);
    attr_ints(n, "output_padding", 2, 1, 1);
    n = add_node(mp, "Resize", "rs", "u,,sc", "r");
    attr_s(n, "mode", "linear");
    attr_s(n, "coordinate_transformation_mode", "pytorch_half_pixel");
    n = add_node(mp, "Upsample", "us", "r,sc2", "s");
    n = add_node(mp, "ConvTranspose", "same", "s,W2", "t");
    attr_i(n, "group", 3);
    attr_ints(n, "strides", 2, 2, 2);
    attr_s(n, "auto_pad", "SAME_UPPER");
    n = add_node(mp, "ConvTranspose", "osh", "t,W2", "y");
    attr_i(n, "group", 3);
    attr_ints(n, "strides", 2, 2, 2);
    attr_ints(n, "output_shape", 2, 50, 72);
    add_output(mp, "y", 4, (const int64_t[]){1, 3, 50, 72});
    char *warn = NULL;
    nm_model *m = load_ok(write_model(mp, "up.onnx"), &warn);
    cr_assert_null(warn, "%s", warn);
    cr_assert_eq(m->n_layers, 5);
    const nm_layer *up = layer(m, "up");
    cr_assert_eq(up->kind, NM_LAYER_CONVT);
    /* (3 - 1) * 2 - 1 - 1 + (3 - 1) + 1 + 1 = 6 */
    cr_assert(up->out_c == 3 && up->out_h == 6 && up->out_w == 6, "(%d, %d, %d)", up->out_c,
              up->out_h, up->out_w);
    cr_assert(up->stride_h == 2 && up->pad_h == 1 && !up->pad_asym && up->outpad_h == 1 &&
              up->outpad_w == 1 && up->groups == 1);
    assert_floats(up->weight, w, 2 * 3 * 9, "weight [C_in, C_out, kh, kw] as in the file");
    assert_floats(up->bias, b, 3, "bias");
    const nm_layer *rs = layer(m, "rs");
    cr_assert(rs->kind == NM_LAYER_RESIZE && rs->rs_mode == NM_RESIZE_LINEAR &&
              rs->rs_coord == NM_COORD_PYTORCH_HALF_PIXEL && rs->scale_h == 2 && rs->scale_w == 1.5f);
    cr_assert(rs->out_c == 3 && rs->out_h == 12 && rs->out_w == 9);
    const nm_layer *us = layer(m, "us");
    cr_assert(us->kind == NM_LAYER_RESIZE && us->rs_mode == NM_RESIZE_NEAREST &&
              us->rs_coord == NM_COORD_ASYMMETRIC && us->rs_round == NM_ROUND_FLOOR);
    cr_assert(us->out_h == 12 && us->out_w == 18);
    /* SAME_UPPER: out = in * stride; total crop (12-1)*2 + 3 - 24 = 1 goes after */
    const nm_layer *same = layer(m, "same");
    cr_assert(same->groups == 3 && same->out_h == 24 && same->out_w == 36);
    cr_assert(same->pad_asym && same->pad_h == 0 && same->pad_h2 == 1 && same->pad_w2 == 1);
    /* output_shape against the full (24 - 1) * 2 + 3 = 49 by (36 - 1) * 2 + 3
     * = 73: H 50 is one more (output padding 1), W 72 one less (ONNX's rule
     * without SAME_UPPER crops total - total / 2 = 1 before, 0 after) */
    const nm_layer *osh = layer(m, "osh");
    cr_assert(osh->out_h == 50 && osh->out_w == 72 && osh->outpad_h == 1 && osh->outpad_w == 0 &&
              osh->pad_h == 0 && osh->pad_h2 == 0 && osh->pad_w == 1 && osh->pad_w2 == 0);
    nm_tensor *x = nm_tensor_new4(NM_F32, 4, 1, 2, 3, 3), *y = NULL;
    nm_tensor_fill(x, 1.0f);
    cr_assert_eq(nm_forward_outputs(m, x, &y, 1), 1, "%s", nm_errmsg());
    cr_assert(y->shape[1] == 3 && y->shape[2] == 50 && y->shape[3] == 72);
    nm_tensor_release(x), nm_tensor_release(y);
    free(w), free(b), free(w2);
    nm_model_free(m);
}

/* x[1,2,4,4] -> Resize "rs" (x, roi, scales, sizes) with the given mode and
 * coordinate mapping ("" = the default). */
static Onnx__ModelProto *resize_net(const char *mode, const char *coord, const float *scales,
                                    const int64_t *sizes)
{
    Onnx__ModelProto *mp = model_new();
    add_input(mp, "x", 4, (const int64_t[]){1, 2, 4, 4});
    if (scales)
        add_init(mp, tensor_f32("sc", 1, (const int64_t[]){4}, scales, 0));
    if (sizes)
        add_init(mp, tensor_i64("sz", 4, sizes));
    Onnx__NodeProto *n = add_node(mp, "Resize", "rs", sizes ? "x,,,sz" : "x,,sc", "y");
    if (*mode)
        attr_s(n, "mode", mode);
    if (*coord)
        attr_s(n, "coordinate_transformation_mode", coord);
    add_output(mp, "y", -1, NULL);
    return mp;
}

/* What nmlab does not model is refused with the node, the operator and
 * the setting named; the sizes may come from a folded shape subgraph. */
Test(onnx, resize_and_convtranspose_refusals, .init = make_tmp, .fini = rm_tmp)
{
    static const float two[4] = {1, 1, 2, 2}, chans[4] = {1, 2, 2, 2};
    load_refused(write_model(resize_net("cubic", "", two, NULL), "cubic.onnx"),
                 (const char *const[]){"node 'rs' (Resize)", "mode 'cubic'", NULL});
    load_refused(write_model(resize_net("linear", "tf_crop_and_resize", two, NULL), "crop.onnx"),
                 (const char *const[]){"node 'rs' (Resize)", "tf_crop_and_resize", NULL});
    load_refused(write_model(resize_net("", "", chans, NULL), "chans.onnx"),
                 (const char *const[]){"node 'rs' (Resize)", "scales N and C", NULL});
    load_refused(write_model(resize_net("", "", NULL, (const int64_t[]){1, 3, 8, 8}), "sz.onnx"),
                 (const char *const[]){"node 'rs' (Resize)", "channels", NULL});
    load_refused(write_model(resize_net("linear", "align_corners", (const float[]){1, 1, 1.3f, 2}, NULL),
                             "ac.onnx"),
                 (const char *const[]){"node 'rs' (Resize)", "align_corners", "fractional", NULL});
    /* scales from an activation */
    Onnx__ModelProto *mp = model_new();
    add_input(mp, "x", 4, (const int64_t[]){1, 2, 4, 4});
    add_node(mp, "Relu", "relu", "x", "r");
    add_node(mp, "Resize", "rs", "x,,r", "y");
    add_output(mp, "y", -1, NULL);
    load_refused(write_model(mp, "dyn.onnx"),
                 (const char *const[]){"node 'rs' (Resize)", "computed at run time", NULL});
    /* a 1-D transposed convolution of [N, C, L] */
    mp = model_new();
    add_input(mp, "x", 3, (const int64_t[]){1, 2, 5});
    add_init(mp, tensor_f32("W", 3, (const int64_t[]){2, 1, 3}, (const float[]){1, 2, 3, 4, 5, 6}, 0));
    add_node(mp, "ConvTranspose", "ct", "x,W", "y");
    add_output(mp, "y", -1, NULL);
    load_refused(write_model(mp, "ct1d.onnx"),
                 (const char *const[]){"node 'ct' (ConvTranspose)", "rank 3", NULL});
    /* sizes = Concat(Shape(x)[0:2], Shape(x)[2:4] * 2): folded to [1, 2, 8, 8] */
    mp = model_new();
    add_input(mp, "x", 4, (const int64_t[]){1, 2, 4, 4});
    add_init(mp, tensor_i64("s0", 1, (const int64_t[]){0}));
    add_init(mp, tensor_i64("s2", 1, (const int64_t[]){2}));
    add_init(mp, tensor_i64("s4", 1, (const int64_t[]){4}));
    add_init(mp, tensor_i64("k2", 1, (const int64_t[]){2}));
    add_node(mp, "Shape", "shape", "x", "sh");
    add_node(mp, "Slice", "nc", "sh,s0,s2", "nc");
    add_node(mp, "Slice", "hw", "sh,s2,s4", "hw");
    add_node(mp, "Mul", "hw2", "hw,k2", "hw2");
    Onnx__NodeProto *n = add_node(mp, "Concat", "sizes", "nc,hw2", "sz");
    attr_i(n, "axis", 0);
    add_node(mp, "Resize", "rs", "x,,,sz", "y");
    char *warn = NULL;
    nm_model *m = load_ok(write_model(mp, "folded.onnx"), &warn);
    free(warn);
    cr_assert_eq(m->n_layers, 1);
    cr_assert(m->layers[0].kind == NM_LAYER_RESIZE && m->layers[0].out_h == 8 &&
              m->layers[0].out_w == 8 && m->layers[0].scale_h == 0);
    nm_model_free(m);
}

/* Bit flips and truncations of a ConvTranspose + Resize + Upsample model:
 * each load either succeeds or fails with a message naming the file, and
 * a loaded model runs. */
Test(onnx, mutated_upsample_files_never_crash, .init = make_tmp, .fini = rm_tmp)
{
    Onnx__ModelProto *mp = model_new();
    add_input(mp, "x", 4, (const int64_t[]){1, 2, 3, 3});
    float *w = pattern(2 * 2 * 9, 0.125f);
    add_init(mp, tensor_f32("W", 4, (const int64_t[]){2, 1, 3, 3}, w, 1));
    add_init(mp, tensor_f32("sc", 1, (const int64_t[]){4}, (const float[]){1, 1, 2, 1.5f}, 0));
    add_init(mp, tensor_i64("sz", 4, (const int64_t[]){1, 2, 5, 4}));
    Onnx__NodeProto *n = add_node(mp, "ConvTranspose", "up", "x,W", "u");
    attr_i(n, "group", 2);
    attr_ints(n, "strides", 2, 2, 2);
    attr_ints(n, "output_padding", 2, 1, 0);
    n = add_node(mp, "Resize", "rs", "u,,sc", "r");
    attr_s(n, "mode", "linear");
    add_node(mp, "Resize", "rz", "r,,,sz", "z");
    add_node(mp, "Upsample", "us", "z,sc", "y");
    free(w);
    size_t len = onnx__model_proto__get_packed_size(mp);
    uint8_t *good = malloc(len), *bad = malloc(len);
    onnx__model_proto__pack(mp, good);
    onnx__model_proto__free_unpacked(mp, NULL);
    const char *p = tmp_path("mut_up.onnx");
    nm_tensor *x = nm_tensor_new4(NM_F32, 4, 1, 2, 3, 3);
    nm_tensor_fill(x, 0.5f);
    uint64_t s = 0x2545f4914f6cdd1dULL;
    int loaded = 0, failed = 0, ran = 0;
    for (int round = 0; round < 300; round++) {
        memcpy(bad, good, len);
        size_t sz = len;
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        if (round % 4 == 3) {
            sz = (size_t)(s % len);
        } else {
            for (int k = 0; k <= round % 3; k++) {
                s ^= s << 13, s ^= s >> 7, s ^= s << 17;
                bad[s % len] ^= (uint8_t)(1u << (s >> 32) % 8);
            }
        }
        write_bytes(p, bad, sz);
        char *warn = NULL;
        nm_model *m = nm_onnx_load(p, &warn);
        if (m) {
            loaded++;
            /* run it when small enough; a flip may have made it large */
            int64_t values = 0;
            for (int i = 0; i < m->n_layers; i++)
                values += (int64_t)m->layers[i].out_c * m->layers[i].out_h * m->layers[i].out_w;
            if (nm_model_dense_macs(m) < 100000000 && values < 10000000) {
                nm_tensor *ys[NM_MAX_OUTPUTS];
                int k = nm_forward_outputs(m, x, ys, NM_MAX_OUTPUTS);
                ran += k > 0;
                for (int j = 0; j < k; j++)
                    nm_tensor_release(ys[j]);
            }
            nm_model_free(m);
            free(warn);
        } else {
            failed++;
            cr_assert_null(warn);
            cr_assert(strstr(nm_errmsg(), p), "round %d: %s", round, nm_errmsg());
        }
    }
    cr_assert(loaded > 0 && failed > 0 && ran > 0, "loaded %d, failed %d, ran %d", loaded, failed, ran);
    nm_tensor_release(x);
    free(good);
    free(bad);
}

/* ---- a ViT encoder block as torch.onnx.export writes it ---- */

enum { VT = 2, VS = 3, VF = 8, VH = 2, VD = 4, VM = 16, VK = 4 }; /* patches, tokens, dim, heads, head dim, mlp, classes */

typedef struct {
    float *cls, *pos, *g1, *b1, *win, *bin, *wo, *bo, *g2, *b2, *w1, *bb1, *w2, *bb2, *g3, *b3, *wh, *bh;
} vit_vals;

static void vit_free(vit_vals *v)
{
    float **p = (float **)v;
    for (size_t i = 0; i < sizeof *v / sizeof(float *); i++)
        free(p[i]);
}

static Onnx__TensorProto *scalar_f32(const char *name, float v)
{
    return tensor_f32(name, 0, NULL, &v, 0);
}

static Onnx__TensorProto *scalar_i64(const char *name, int64_t v)
{
    int64_t n;
    Onnx__TensorProto *t = tensor_head(name, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 0, NULL, &n);
    PUSH(t->int64_data, t->n_int64_data, v);
    return t;
}

static size_t find_node(const Onnx__ModelProto *mp, const char *name)
{
    for (size_t k = 0; k < mp->graph->n_node; k++)
        if (mp->graph->node[k]->name && !strcmp(mp->graph->node[k]->name, name))
            return k;
    cr_assert_fail("no node '%s'", name);
    return 0;
}

/* LayerNorm decomposed as exported: x -> out, with prefix p for names. */
static void vit_ln(Onnx__ModelProto *mp, const char *p, const char *x, const char *g, const char *b,
                   const char *out)
{
    char in[256], o[64], nm[64];
#define N2(fmt, ...) (snprintf(in, sizeof in, fmt, __VA_ARGS__), in)
#define O(s) (snprintf(o, sizeof o, "%s_%s", p, s), o)
#define NM(s) (snprintf(nm, sizeof nm, "%s/%s", p, s), nm)
    Onnx__NodeProto *n = add_node(mp, "ReduceMean", NM("mean"), x, O("mu"));
    attr_ints(n, "axes", 1, (int64_t)-1);
    add_node(mp, "Sub", NM("sub"), N2("%s,%s_mu", x, p), O("d"));
    add_node(mp, "Pow", NM("pow"), N2("%s_d,two_f", p), O("d2"));
    n = add_node(mp, "ReduceMean", NM("var"), N2("%s_d2", p), O("va"));
    attr_ints(n, "axes", 1, (int64_t)-1);
    add_node(mp, "Add", NM("eps"), N2("%s_va,eps", p), O("ve"));
    add_node(mp, "Sqrt", NM("sqrt"), N2("%s_ve", p), O("sd"));
    add_node(mp, "Div", NM("div"), N2("%s_d,%s_sd", p, p), O("nx"));
    add_node(mp, "Mul", NM("mul"), N2("%s_nx,%s", p, g), O("gx"));
    add_node(mp, "Add", NM("add"), N2("%s_gx,%s", p, b), out);
#undef N2
#undef O
#undef NM
}

/* tokens x[1, 2, 8] -> class token + positions -> ln_1 -> MHA (2 heads)
 * -> + -> ln_2 -> MLP (GELU) -> + -> ln -> token 0 -> head Gemm [1, 4].
 * `scale` is the divisor of q (2 = sqrt(head dim) as torch writes it);
 * with leak = 1 the attention's softmax is also a graph output; with 2 the
 * Slice of k starts at 0. */
static Onnx__ModelProto *vit_block(vit_vals *v, float scale, int leak)
{
    Onnx__ModelProto *mp = model_new();
    add_input(mp, "x", 3, (const int64_t[]){1, VT, VF});
    v->cls = pattern(VF, 0.25f), v->pos = pattern(VS * VF, 0.125f);
    v->g1 = pattern(VF, 0.5f), v->b1 = pattern(VF, 0.0625f);
    v->win = pattern(VF * 3 * VF, 0.09375f), v->bin = pattern(3 * VF, 0.03125f);
    v->wo = pattern(VF * VF, 0.125f), v->bo = pattern(VF, 0.0625f);
    v->g2 = pattern(VF, 0.375f), v->b2 = pattern(VF, 0.125f);
    v->w1 = pattern(VF * VM, 0.15625f), v->bb1 = pattern(VM, 0.25f);
    v->w2 = pattern(VM * VF, 0.078125f), v->bb2 = pattern(VF, 0.03125f);
    v->g3 = pattern(VF, 0.25f), v->b3 = pattern(VF, 0.5f);
    v->wh = pattern(VK * VF, 0.1875f), v->bh = pattern(VK, 0.125f);
    for (int i = 0; i < VF; i++)   /* gammas around 1 */
        v->g1[i] += 1, v->g2[i] += 1, v->g3[i] += 1;
    add_init(mp, tensor_f32("cls", 3, (const int64_t[]){1, 1, VF}, v->cls, 1));
    add_init(mp, tensor_f32("pos", 3, (const int64_t[]){1, VS, VF}, v->pos, 1));
    add_init(mp, tensor_f32("g1", 1, (const int64_t[]){VF}, v->g1, 1));
    add_init(mp, tensor_f32("b1", 1, (const int64_t[]){VF}, v->b1, 1));
    add_init(mp, tensor_f32("win", 2, (const int64_t[]){VF, 3 * VF}, v->win, 1));
    add_init(mp, tensor_f32("bin", 1, (const int64_t[]){3 * VF}, v->bin, 1));
    add_init(mp, tensor_f32("wo", 2, (const int64_t[]){VF, VF}, v->wo, 1));
    add_init(mp, tensor_f32("bo", 1, (const int64_t[]){VF}, v->bo, 1));
    add_init(mp, tensor_f32("g2", 1, (const int64_t[]){VF}, v->g2, 1));
    add_init(mp, tensor_f32("b2", 1, (const int64_t[]){VF}, v->b2, 1));
    add_init(mp, tensor_f32("w1", 2, (const int64_t[]){VF, VM}, v->w1, 1));
    add_init(mp, tensor_f32("bb1", 1, (const int64_t[]){VM}, v->bb1, 1));
    add_init(mp, tensor_f32("w2", 2, (const int64_t[]){VM, VF}, v->w2, 1));
    add_init(mp, tensor_f32("bb2", 1, (const int64_t[]){VF}, v->bb2, 1));
    add_init(mp, tensor_f32("g3", 1, (const int64_t[]){VF}, v->g3, 1));
    add_init(mp, tensor_f32("b3", 1, (const int64_t[]){VF}, v->b3, 1));
    add_init(mp, tensor_f32("wh", 2, (const int64_t[]){VK, VF}, v->wh, 1));
    add_init(mp, tensor_f32("bh", 1, (const int64_t[]){VK}, v->bh, 1));
    add_init(mp, scalar_f32("two_f", 2.0f));
    add_init(mp, scalar_f32("eps", 1e-6f));
    add_init(mp, scalar_f32("scale", scale));
    add_init(mp, scalar_f32("sqrt2", 1.4142135381698608f));
    add_init(mp, scalar_f32("one", 1.0f));
    add_init(mp, scalar_f32("half", 0.5f));
    add_init(mp, scalar_i64("tok0", 0));
    add_init(mp, tensor_i64("s0", 1, (const int64_t[]){0}));
    add_init(mp, tensor_i64("s1", 1, (const int64_t[]){VF}));
    add_init(mp, tensor_i64("s2", 1, (const int64_t[]){2 * VF}));
    add_init(mp, tensor_i64("s3", 1, (const int64_t[]){3 * VF}));
    add_init(mp, tensor_i64("am1", 1, (const int64_t[]){-1}));
    add_init(mp, tensor_i64("heads3", 3, (const int64_t[]){VS, VH, VD}));
    add_init(mp, tensor_i64("merged", 2, (const int64_t[]){VS, VF}));
    add_init(mp, tensor_i64("tnf", 3, (const int64_t[]){VS, 1, VF}));
    Onnx__NodeProto *n = add_node(mp, "Concat", "/Concat_2", "cls,x", "cat");
    attr_i(n, "axis", 1);
    add_node(mp, "Add", "/encoder/Add", "cat,pos", "e");
    vit_ln(mp, "ln_1", "e", "g1", "b1", "n1");
    /* nn.MultiheadAttention on [T, N, F] */
    n = add_node(mp, "Transpose", "sa/Transpose", "n1", "t");
    attr_ints(n, "perm", 3, 1, 0, 2);
    add_node(mp, "Shape", "sa/Shape", "t", "tshape");   /* read inside the block only */
    add_node(mp, "MatMul", "sa/MatMul", "t,win", "mm");
    add_node(mp, "Add", "sa/Add", "bin,mm", "qkv");
    add_node(mp, "Slice", "sa/Slice", "qkv,s0,s1,am1", "q");
    add_node(mp, "Slice", "sa/Slice_1", "qkv,s1,s2,am1", "k");
    add_node(mp, "Slice", "sa/Slice_2", "qkv,s2,s3,am1", "v");
    add_node(mp, "Reshape", "sa/Reshape", "q,heads3", "qr");
    n = add_node(mp, "Transpose", "sa/Transpose_1", "qr", "qt");
    attr_ints(n, "perm", 3, 1, 0, 2);
    add_node(mp, "Reshape", "sa/Reshape_1", "k,heads3", "kr");
    add_node(mp, "Reshape", "sa/Reshape_2", "v,heads3", "vr");
    n = add_node(mp, "Transpose", "sa/Transpose_2", "vr", "vt");
    attr_ints(n, "perm", 3, 1, 0, 2);
    add_node(mp, "Div", "sa/Div_2", "qt,scale", "qs");
    n = add_node(mp, "Transpose", "sa/Transpose_3", "kr", "kt");
    attr_ints(n, "perm", 3, 1, 2, 0);
    add_node(mp, "MatMul", "sa/MatMul_1", "qs,kt", "sc");
    n = add_node(mp, "Softmax", "sa/Softmax", "sc", "sm");
    attr_i(n, "axis", -1);
    add_node(mp, "MatMul", "sa/MatMul_2", "sm,vt", "av");
    n = add_node(mp, "Transpose", "sa/Transpose_4", "av", "avt");
    attr_ints(n, "perm", 3, 1, 0, 2);
    add_node(mp, "Reshape", "sa/Reshape_3", "avt,merged", "avm");
    n = add_node(mp, "Gemm", "sa/Gemm", "avm,wo,bo", "op");
    attr_i(n, "transB", 1);
    add_node(mp, "Reshape", "sa/Reshape_4", "op,tnf", "opr");
    n = add_node(mp, "Transpose", "sa/Transpose_5", "opr", "a");
    attr_ints(n, "perm", 3, 1, 0, 2);
    add_node(mp, "Add", "res1", "a,e", "r1");
    vit_ln(mp, "ln_2", "r1", "g2", "b2", "n2");
    add_node(mp, "MatMul", "mlp0", "n2,w1", "h1");
    add_node(mp, "Add", "mlp0b", "bb1,h1", "h");
    add_node(mp, "Div", "gelu/Div", "h,sqrt2", "hd");
    add_node(mp, "Erf", "gelu/Erf", "hd", "he");
    add_node(mp, "Add", "gelu/Add", "he,one", "he1");
    add_node(mp, "Mul", "gelu/Mul", "h,he1", "hm");
    add_node(mp, "Mul", "gelu/Mul_1", "hm,half", "gl");
    add_node(mp, "MatMul", "mlp3", "gl,w2", "h3");
    add_node(mp, "Add", "mlp3b", "bb2,h3", "m");
    add_node(mp, "Add", "res2", "r1,m", "r2");
    vit_ln(mp, "ln", "r2", "g3", "b3", "n3");
    n = add_node(mp, "Gather", "/Gather_4", "n3,tok0", "c0");
    attr_i(n, "axis", 1);
    n = add_node(mp, "Gemm", "head", "c0,wh,bh", "logits");
    attr_i(n, "transB", 1);
    add_output(mp, "logits", 2, (const int64_t[]){1, VK});
    if (leak == 1)
        add_output(mp, "sm", 3, (const int64_t[]){VH, VS, VS});
    if (leak == 2) {   /* k's Slice starts at 0: not the q, k, v order */
        Onnx__NodeProto *sk = mp->graph->node[find_node(mp, "sa/Slice_1")];
        free(sk->input[1]);
        sk->input[1] = strdup("s0");
    }
    return mp;
}

/* LayerNorm over rows of [rows][VF] in place (double). */
static void ref_ln(double *x, int rows, const float *g, const float *b)
{
    for (int r = 0; r < rows; r++) {
        double mu = 0, var = 0, *v = x + r * VF;
        for (int i = 0; i < VF; i++)
            mu += v[i] / VF;
        for (int i = 0; i < VF; i++)
            var += (v[i] - mu) * (v[i] - mu) / VF;
        for (int i = 0; i < VF; i++)
            v[i] = (v[i] - mu) / sqrt(var + 1e-6) * g[i] + b[i];
    }
}

/* The block's logits for one sample x[VT][VF], computed directly. */
static void ref_vit(const vit_vals *v, const float *x, double *logits)
{
    double e[VS][VF], n[VS][VF], qkv[VS][3 * VF], ctx[VS][VF], r1[VS][VF], h[VS][VM];
    for (int i = 0; i < VF; i++)
        e[0][i] = v->cls[i] + v->pos[i];
    for (int t = 1; t < VS; t++)
        for (int i = 0; i < VF; i++)
            e[t][i] = x[(t - 1) * VF + i] + v->pos[t * VF + i];
    memcpy(n, e, sizeof n);
    ref_ln(&n[0][0], VS, v->g1, v->b1);
    for (int t = 0; t < VS; t++)
        for (int o = 0; o < 3 * VF; o++) {
            qkv[t][o] = v->bin[o];
            for (int i = 0; i < VF; i++)
                qkv[t][o] += n[t][i] * v->win[i * 3 * VF + o];
        }
    for (int hh = 0; hh < VH; hh++)
        for (int t = 0; t < VS; t++) {
            double s[VS], mx = -1e300, z = 0;
            for (int j = 0; j < VS; j++) {
                s[j] = 0;
                for (int d = 0; d < VD; d++)
                    s[j] += qkv[t][hh * VD + d] * qkv[j][VF + hh * VD + d] / sqrt((double)VD);
                mx = s[j] > mx ? s[j] : mx;
            }
            for (int j = 0; j < VS; j++)
                z += (s[j] = exp(s[j] - mx));
            for (int d = 0; d < VD; d++) {
                ctx[t][hh * VD + d] = 0;
                for (int j = 0; j < VS; j++)
                    ctx[t][hh * VD + d] += s[j] / z * qkv[j][2 * VF + hh * VD + d];
            }
        }
    for (int t = 0; t < VS; t++)
        for (int o = 0; o < VF; o++) {
            r1[t][o] = e[t][o] + v->bo[o];
            for (int i = 0; i < VF; i++)
                r1[t][o] += ctx[t][i] * v->wo[o * VF + i];
        }
    memcpy(n, r1, sizeof n);
    ref_ln(&n[0][0], VS, v->g2, v->b2);
    for (int t = 0; t < VS; t++) {
        for (int o = 0; o < VM; o++) {
            double a = v->bb1[o];
            for (int i = 0; i < VF; i++)
                a += n[t][i] * v->w1[i * VM + o];
            h[t][o] = 0.5 * a * (1 + erf(a / sqrt(2.0)));
        }
        for (int o = 0; o < VF; o++) {
            double a = v->bb2[o];
            for (int i = 0; i < VM; i++)
                a += h[t][i] * v->w2[i * VF + o];
            r1[t][o] += a;
        }
    }
    ref_ln(&r1[0][0], VS, v->g3, v->b3);
    for (int k = 0; k < VK; k++) {
        logits[k] = v->bh[k];
        for (int i = 0; i < VF; i++)
            logits[k] += r1[0][i] * v->wh[k * VF + i];
    }
}

/* The exported block maps onto embed, layernorm, linear + 3 slices +
 * matmul qk + softmax + matmul av + linear, gelu and a token slice, and
 * its logits for two samples equal the reference computed above. */
Test(onnx, vit_block_as_exported_matches_reference, .init = make_tmp, .fini = rm_tmp)
{
    vit_vals v;
    char *warn = NULL;
    nm_model *m = load_ok(write_model(vit_block(&v, 2.0f, 0), "vit.onnx"), &warn);
    cr_assert(!warn || !strstr(warn, "unsupported"), "the fused Erf/Softmax/Pow/Sqrt are not "
              "unsupported: %s", warn);
    free(warn);
    static const nm_layer_kind want[] = {
        NM_LAYER_EMBED, NM_LAYER_LAYERNORM, NM_LAYER_LINEAR, NM_LAYER_SLICE, NM_LAYER_SLICE,
        NM_LAYER_SLICE, NM_LAYER_MATMUL, NM_LAYER_SOFTMAX, NM_LAYER_MATMUL, NM_LAYER_LINEAR,
        NM_LAYER_ADD, NM_LAYER_LAYERNORM, NM_LAYER_LINEAR, NM_LAYER_GELU, NM_LAYER_LINEAR,
        NM_LAYER_ADD, NM_LAYER_LAYERNORM, NM_LAYER_SLICE, NM_LAYER_LINEAR};
    cr_assert_eq(m->n_layers, (int)(sizeof want / sizeof want[0]), "%d layers", m->n_layers);
    for (int i = 0; i < m->n_layers; i++)
        cr_assert_eq(m->layers[i].kind, want[i], "layer %d '%s'", i, m->layers[i].name);
    cr_assert_eq(m->layers[6].heads, VH);
    cr_assert_float_eq(m->layers[6].alpha, 0.5f, 1e-7);
    cr_assert_eq(m->layers[7].heads, VH);
    cr_assert_float_eq(m->layers[1].eps, 1e-6f, 1e-12);
    /* nmlab holds a token value [N, T, F] as (F, T, 1) per sample */
    nm_tensor *x = nm_tensor_new4(NM_F32, 4, 2, VF, VT, 1);
    float tok[2][VT * VF];
    for (int s = 0; s < 2; s++)
        for (int t = 0; t < VT; t++)
            for (int f = 0; f < VF; f++)
                nm_f32(x)[(s * VF + f) * VT + t] = tok[s][t * VF + f] =
                    (float)sin(0.7 * (s * 16 + t * VF + f)) * 1.5f;
    nm_tensor *y = NULL;
    cr_assert_eq(nm_forward_outputs(m, x, &y, 1), 1, "%s", nm_errmsg());
    cr_assert_eq(y->numel, 2 * VK);
    for (int s = 0; s < 2; s++) {
        double ref[VK];
        ref_vit(&v, tok[s], ref);
        for (int k = 0; k < VK; k++)
            cr_assert(fabs(nm_f32(y)[s * VK + k] - ref[k]) <= 1e-5 * (1 + fabs(ref[k])),
                      "sample %d logit %d: %g vs %g", s, k, nm_f32(y)[s * VK + k], ref[k]);
    }
    nm_tensor_release(x), nm_tensor_release(y);
    nm_model_free(m);
    vit_free(&v);
}

/* A scale that does not split the features into heads (torch divides q by
 * sqrt(head dim)), or a value of the block read outside it, refuses the
 * block, naming the node. */
Test(onnx, vit_block_bad_scale_refused, .init = make_tmp, .fini = rm_tmp)
{
    vit_vals v;
    load_refused(write_model(vit_block(&v, 3.0f, 0), "vit3.onnx"),
                 (const char *const[]){"sa/Transpose", "nn.MultiheadAttention", "heads", NULL});
    vit_free(&v);
    /* a value inside the block read outside it: not fused, refused */
    load_refused(write_model(vit_block(&v, 2.0f, 1), "vitleak.onnx"),
                 (const char *const[]){"sa/Transpose", "read outside", NULL});
    vit_free(&v);
    load_refused(write_model(vit_block(&v, 2.0f, 2), "vitorder.onnx"),
                 (const char *const[]){"sa/Transpose", "q, k, v in that order", NULL});
    vit_free(&v);
}

/* Reshape of [N, C, H, W] to [N, C, L] keeps a rank-3 [N, C, L] value (not
 * tokens): the graph output has that shape and the values in order; a
 * Transpose(0, 2, 1) then reads it as a token sequence [N, L, C]. */
Test(onnx, reshape_to_channels_by_length, .init = make_tmp, .fini = rm_tmp)
{
    Onnx__ModelProto *mp = conv_net();                 /* c: [1, 2, 4, 4] */
    add_init(mp, tensor_i64("s3", 3, (const int64_t[]){0, 2, -1}));
    add_node(mp, "Reshape", "flat", "c,s3", "f");
    Onnx__NodeProto *n = add_node(mp, "Transpose", "tok", "f", "t");
    attr_ints(n, "perm", 3, 0, 2, 1);
    add_output(mp, "f", 3, (const int64_t[]){1, 2, 16});
    add_output(mp, "t", 3, (const int64_t[]){1, 16, 2});
    char *warn = NULL;
    nm_model *m = load_ok(write_model(mp, "cl.onnx"), &warn);
    free(warn);
    cr_assert_eq(m->n_outputs, 2);
    cr_assert_eq(m->out_rank[0], 3, "[N, C, L]");
    nm_tensor *x = nm_tensor_new4(NM_F32, 4, 1, 1, 4, 4);
    for (int i = 0; i < 16; i++)
        nm_f32(x)[i] = (float)i;
    nm_tensor *y[2];
    cr_assert_eq(nm_forward_outputs(m, x, y, 2), 2, "%s", nm_errmsg());
    cr_assert(y[0]->ndim == 3 && y[0]->shape[1] == 2 && y[0]->shape[2] == 16);
    for (int ch = 0; ch < 2; ch++)          /* conv_net's filters are 1 and -1 */
        for (int p = 0; p < 16; p++)
            cr_assert_eq(nm_f32(y[0])[ch * 16 + p], (ch ? -1.0f : 1.0f) * (float)p);
    /* tokens come back as nmlab's (F, T, 1): the same values */
    cr_assert_eq(y[1]->numel, 32);
    cr_assert_eq(memcmp(y[0]->data, y[1]->data, 32 * sizeof(float)), 0);
    nm_tensor_release(x), nm_tensor_release(y[0]), nm_tensor_release(y[1]);
    nm_model_free(m);
}

/* Shape of a [N, C, L] value has its three dims (it once read past its
 * four-entry array: a fuzz finding): reshaping the value to its own shape
 * leaves it as it is, and a Slice of its L axis (not channels) is refused. */
Test(onnx, shape_of_channels_by_length, .init = make_tmp, .fini = rm_tmp)
{
    Onnx__ModelProto *mp = conv_net();                 /* c: [1, 2, 4, 4] */
    add_init(mp, tensor_i64("s3", 3, (const int64_t[]){0, 2, -1}));
    add_node(mp, "Reshape", "flat", "c,s3", "f");
    add_node(mp, "Shape", "shape", "f", "fs");
    add_node(mp, "Reshape", "same", "f,fs", "g");
    add_output(mp, "g", 3, (const int64_t[]){1, 2, 16});
    char *warn = NULL;
    nm_model *m = load_ok(write_model(mp, "cls.onnx"), &warn);
    cr_assert(!warn, "%s", warn);
    int g = nm_model_find(m, "same");
    cr_assert(g >= 0);
    cr_assert(m->layers[g].out_c == 2 && m->layers[g].out_h == 16 && m->layers[g].out_w == 1,
              "(%d, %d, %d)", m->layers[g].out_c, m->layers[g].out_h, m->layers[g].out_w);
    cr_assert_eq(m->out_rank[0], 3);
    nm_model_free(m);
    mp = conv_net();
    add_init(mp, tensor_i64("s3", 3, (const int64_t[]){0, 2, -1}));
    add_init(mp, tensor_i64("b", 1, (const int64_t[]){1}));
    add_init(mp, tensor_i64("e", 1, (const int64_t[]){3}));
    add_init(mp, tensor_i64("ax", 1, (const int64_t[]){2}));
    add_node(mp, "Reshape", "flat", "c,s3", "f");
    add_node(mp, "Slice", "cut", "f,b,e,ax", "h");
    add_output(mp, "h", 3, (const int64_t[]){1, 2, 2});
    load_refused(write_model(mp, "clslice.onnx"),
                 (const char *const[]){"'cut' (Slice)", "slice of channels", NULL});
}

/* BlazeFace pads channels with a Concat of a constant of zeros: a pad
 * layer; a classifier's Softmax over [N, C]: a softmax layer. Values
 * checked against the definitions. */
Test(onnx, concat_constant_is_pad_and_softmax, .init = make_tmp, .fini = rm_tmp)
{
    Onnx__ModelProto *mp = conv_net();                 /* c: [1, 2, 4, 4] */
    static const int64_t dz[4] = {1, 3, 4, 4};
    float z[48] = {0};
    add_init(mp, tensor_f32("zeros", 4, dz, z, 1));
    Onnx__NodeProto *n = add_node(mp, "Concat", "padc", "c,zeros", "cz");
    attr_i(n, "axis", 1);
    add_node(mp, "GlobalAveragePool", "gap", "cz", "g");
    add_node(mp, "Flatten", "flat", "g", "f");
    add_node(mp, "Softmax", "sm", "f", "y");
    add_output(mp, "y", 2, (const int64_t[]){1, 5});
    char *warn = NULL;
    nm_model *m = load_ok(write_model(mp, "padc.onnx"), &warn);
    free(warn);
    const nm_layer *p = layer(m, "padc");
    cr_assert(p->kind == NM_LAYER_PAD && p->pads[3] == 3 && p->pads[0] == 0 && p->out_c == 5);
    cr_assert_eq(layer(m, "sm")->kind, NM_LAYER_SOFTMAX);
    nm_tensor *x = nm_tensor_new4(NM_F32, 4, 2, 1, 4, 4);
    for (int i = 0; i < 32; i++)
        nm_f32(x)[i] = 0.1f * (float)i;
    nm_tensor *y = NULL;
    cr_assert_eq(nm_forward_outputs(m, x, &y, 1), 1, "%s", nm_errmsg());
    cr_assert(y->ndim == 2 && y->shape[1] == 5);
    for (int s = 0; s < 2; s++) {
        double mean = 0;
        for (int i = 0; i < 16; i++)
            mean += nm_f32(x)[s * 16 + i];
        mean /= 16;
        double e[5] = {exp(mean), exp(-mean), 1, 1, 1}, sum = e[0] + e[1] + 3;
        for (int k = 0; k < 5; k++)
            cr_assert(fabs(nm_f32(y)[s * 5 + k] - e[k] / sum) < 1e-6, "sample %d class %d", s, k);
    }
    nm_tensor_release(x), nm_tensor_release(y);
    nm_model_free(m);
}

/* Two graph inputs, x and mask [N, 2, 3, 3] (N symbolic), and an int64
 * input z nothing reads: cat = Concat(x * mask, x + mask) on channels,
 * y = Conv1x1(cat) + B; outputs y and s = x + mask. */
static Onnx__ModelProto *two_input_net(const float *w, const float *bias, const int64_t *mask_dims)
{
    Onnx__ModelProto *mp = model_new();
    static const int64_t xd[4] = {-1, 2, 3, 3}, dw[4] = {2, 4, 1, 1}, db[1] = {2}, zd[1] = {2};
    add_input(mp, "x", 4, xd);
    add_input(mp, "mask", 4, mask_dims ? mask_dims : xd);
    add_input(mp, "z", 1, zd);
    mp->graph->input[2]->type->tensor_type->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    add_init(mp, tensor_f32("W", 4, dw, w, 0));
    add_init(mp, tensor_f32("B", 1, db, bias, 0));
    add_node(mp, "Mul", "mul", "x,mask", "xm");
    add_node(mp, "Add", "add", "x,mask", "s");
    Onnx__NodeProto *n = add_node(mp, "Concat", "cat", "xm,s", "cat");
    attr_i(n, "axis", 1);
    add_node(mp, "Conv", "conv", "cat,W,B", "y");
    add_output(mp, "y", 4, (const int64_t[]){-1, 2, 3, 3});
    add_output(mp, "s", 4, xd);
    return mp;
}

Test(onnx, two_inputs_load_and_run, .init = make_tmp, .fini = rm_tmp)
{
    float w[8], bias[2] = {0.5f, -0.25f};
    for (int i = 0; i < 8; i++)
        w[i] = 0.125f * (float)(i + 1) * (i % 3 ? 1.0f : -1.0f);
    char *warn = NULL;
    nm_model *m = load_ok(write_model(two_input_net(w, bias, NULL), "two.onnx"), &warn);
    cr_assert_eq(nm_model_n_inputs(m), 2, "the int64 input is left out");
    cr_expect_str_eq(nm_model_input_name(m, 0), "x");
    cr_expect_str_eq(nm_model_input_name(m, 1), "mask");
    int c, h, w3;
    nm_model_input_shape(m, 1, &c, &h, &w3);
    cr_expect(c == 2 && h == 3 && w3 == 3, "(%d, %d, %d)", c, h, w3);
    cr_assert_not_null(warn);
    cr_expect(strstr(warn, "graph input 'z' ignored"), "%s", warn);
    free(warn);
    cr_expect_eq(layer(m, "mul")->inputs[1], NM_INPUT_K(1));
    cr_expect_eq(layer(m, "add")->inputs[0], NM_INPUT);

    enum { NB = 2, P = 9 };
    nm_tensor *x = nm_tensor_new4(NM_F32, 4, NB, 2, 3, 3), *mk = nm_tensor_new4(NM_F32, 4, NB, 2, 3, 3);
    for (int i = 0; i < NB * 2 * P; i++) {
        nm_f32(x)[i] = (float)sin(0.3 * (i + 1));
        nm_f32(mk)[i] = (float)((i % 4) ? 1.0 : 0.0) + 0.1f * (float)(i % 3);
    }
    const nm_tensor *xs[2] = {x, mk};
    nm_tensor *ys[NM_MAX_OUTPUTS];
    cr_assert_eq(nm_forward_inputs(m, xs, 2, ys, NM_MAX_OUTPUTS), 2, "%s", nm_errmsg());
    const float *xv = nm_f32(x), *mv = nm_f32(mk);
    for (int s = 0; s < NB; s++)
        for (int p = 0; p < P; p++) {
            double cat[4];
            for (int ch = 0; ch < 2; ch++) {
                int i = (s * 2 + ch) * P + p;
                cat[ch] = (double)xv[i] * mv[i];
                cat[2 + ch] = (double)xv[i] + mv[i];
                cr_expect_float_eq(nm_f32(ys[1])[i], xv[i] + mv[i], 1e-6, "s[%d]", i);
            }
            for (int o = 0; o < 2; o++) {
                double y = bias[o];
                for (int k = 0; k < 4; k++)
                    y += (double)w[o * 4 + k] * cat[k];
                cr_expect_float_eq(nm_f32(ys[0])[(s * 2 + o) * P + p], y, 1e-5, "y[%d, %d, %d]", s, o, p);
            }
        }
    nm_tensor_release(ys[0]), nm_tensor_release(ys[1]);
    /* one tensor for two inputs, a mask of another batch size */
    cr_expect_null(nm_forward(m, x));
    cr_expect(strstr(nm_errmsg(), "takes 2 inputs ('x', 'mask'), got 1"), "%s", nm_errmsg());
    nm_tensor *m3 = nm_tensor_new4(NM_F32, 4, 3, 2, 3, 3);
    xs[1] = m3;
    cr_expect_eq(nm_forward_inputs(m, xs, 2, ys, NM_MAX_OUTPUTS), -1);
    cr_expect(strstr(nm_errmsg(), "input 'mask' of model 'testnet' has 3 samples but input 'x' has 2"),
              "%s", nm_errmsg());
    nm_tensor_release(x), nm_tensor_release(mk), nm_tensor_release(m3);
    nm_model_free(m);
}

Test(onnx, second_input_sizes_and_refusals, .init = make_tmp, .fini = rm_tmp)
{
    float w[8] = {1, 2, 3, 4, 5, 6, 7, 8}, bias[2] = {0, 0};
    static const int64_t sym[4] = {-1, 2, -2, 3};
    const char *path = write_model(two_input_net(w, bias, sym), "sym.onnx");
    load_refused(path, (const char *const[]){"input 'mask' (graph input 1) dimension 2 is symbolic ('H')",
                                             "{input = {{C, H, W}, {C, H, W}, ...}}", NULL});
    nm_onnx_opts o = {0};
    o.xin_size[0][0] = 2, o.xin_size[0][1] = 3, o.xin_size[0][2] = 3;
    nm_model *m = nm_onnx_load_opts(path, &o, NULL);
    cr_assert_not_null(m, "%s", nm_errmsg());
    cr_expect_eq(nm_model_n_inputs(m), 2);
    nm_model_free(m);
    o.xin_size[0][1] = 4;   /* H given where the file says 3 for x: mask's H is free, the Mul is not */
    cr_expect_null(nm_onnx_load_opts(path, &o, NULL));

    /* a node reading the int64 input refuses the model, naming it */
    Onnx__ModelProto *mp = model_new();
    static const int64_t xd[2] = {1, 2}, zd[2] = {1, 2};
    add_input(mp, "x", 2, xd);
    add_input(mp, "z", 2, zd);
    mp->graph->input[1]->type->tensor_type->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    add_node(mp, "Add", "add", "x,z", "y");
    add_output(mp, "y", 2, xd);
    load_refused(write_model(mp, "int_input.onnx"), (const char *const[]){"'z'", "cannot run", NULL});

    /* only constants: refused saying why */
    mp = model_new();
    static const int64_t d1[1] = {2};
    add_init(mp, tensor_f32("k", 1, d1, w, 0));
    add_node(mp, "Identity", "id", "k", "y");
    add_output(mp, "y", 1, d1);
    load_refused(write_model(mp, "consts.onnx"),
                 (const char *const[]){"no input besides its initializers", "a graph of constants only", NULL});
}

/* nm_onnx_save writes every graph input; loading it back gives the same
 * inputs and the same outputs (checked against loops). */
Test(onnx, two_inputs_export_roundtrip, .init = make_tmp, .fini = rm_tmp)
{
    /* y = conv1x1(concat(a, mask)) = 0.5 a0 + a1 + 1.5 m0 + 2 m1 */
    nm_model *m = nm_model_new("pair", 2, 2, 2);
    int b = nm_model_add_input(m, "mask", 2, 2, 2);
    int ins[2] = {NM_INPUT, b};
    int cat = nm_add_concat(m, "cat", ins, 2, 0);
    int conv = nm_add_conv(m, "conv", cat, 1, 1, 1, 1, 0, 1, 0);
    cr_assert(cat >= 0 && conv >= 0, "%s", nm_errmsg());
    float *wv = nm_f32(m->layers[conv].weight);
    for (int i = 0; i < 4; i++)
        wv[i] = (float)(i + 1) * 0.5f;
    const char *path = tmp_path("pair.onnx");
    cr_assert_eq(nm_onnx_save(m, path, NULL, NULL), NM_OK, "%s", nm_errmsg());
    nm_model *l = load_ok(path, NULL);
    cr_assert_eq(nm_model_n_inputs(l), 2);
    cr_expect_str_eq(nm_model_input_name(l, 1), "mask");
    nm_tensor *a = nm_tensor_new4(NM_F32, 4, 3, 2, 2, 2), *mk = nm_tensor_new4(NM_F32, 4, 3, 2, 2, 2);
    for (int i = 0; i < 24; i++)
        nm_f32(a)[i] = (float)cos(0.4 * i), nm_f32(mk)[i] = (float)(i % 5) - 2.0f;
    const nm_tensor *xs[2] = {a, mk};
    nm_tensor *ys[NM_MAX_OUTPUTS];
    cr_assert_eq(nm_forward_inputs(l, xs, 2, ys, NM_MAX_OUTPUTS), 1, "%s", nm_errmsg());
    for (int s = 0; s < 3; s++)
        for (int p = 0; p < 4; p++) {
            const float *av = nm_f32(a) + s * 8, *mv = nm_f32(mk) + s * 8;
            double y = 0.5 * av[p] + 1.0 * av[4 + p] + 1.5 * mv[p] + 2.0 * mv[4 + p];
            cr_expect_float_eq(nm_f32(ys[0])[s * 4 + p], y, 1e-5, "y[%d, %d]", s, p);
        }
    nm_tensor_release(ys[0]);
    nm_tensor_release(a), nm_tensor_release(mk);
    nm_model_free(l);
    nm_model_free(m);
}
