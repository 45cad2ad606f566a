/* ONNX export (engine/io/onnx_export.c) and weight masks (io/masks.c):
 * export -> nmlab's own importer -> the same forward pass as the masked
 * model; the file's structure read back with protobuf-c; refusals; the
 * module-path rule; the masks file against masks computed here. */
#include "export_util.h"
#include "fileutil.h"
#include "io_test_util.h"
#include "onnx.pb-c.h"
#include "prune.h"

/* Exports m, imports the file, and checks the forward passes agree. */
static void roundtrip(nm_model *m, int batch)
{
    char dir[256], path[512];
    tmp_make(dir, sizeof dir);
    tmp_path(path, sizeof path, dir, "m.onnx");
    cr_assert_eq(nm_onnx_save(m, path, NULL, NULL), NM_OK, "%s", nm_errmsg());
    char *warn = NULL;
    nm_model *back = nm_onnx_load(path, &warn);
    cr_assert_not_null(back, "%s", nm_errmsg());
    cr_assert_null(warn, "import warnings: %s", warn ? warn : "");
    nm_tensor *x = ex_input(m, batch, 3);
    double d = ex_same_outputs(m, back, x, 1e-5);
    cr_log_info("%s: export/import max relative difference %g", m->name, d);
    /* every prunable layer comes back with the masked weights */
    int checked = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        if (!nm_layer_prunable(l))
            continue;
        int j = nm_model_find(back, l->name);
        cr_assert(j >= 0, "layer %s lost its name", l->name);
        const nm_layer *b = &back->layers[j];
        cr_assert_eq(b->weight->numel, l->weight->numel);
        int64_t cols = l->weight->numel / l->out_c;
        int64_t per = l->kind == NM_LAYER_LINEAR ? 1 : (int64_t)l->kh * l->kw;
        int64_t groups = l->kind == NM_LAYER_LINEAR ? 1 : l->groups;
        for (int64_t k = 0; k < l->weight->numel; k++) {
            int64_t o = k / cols, j = k % cols;
            int64_t ch = o / (l->out_c / groups) * (cols / per) + j / per;
            int kept = (!l->mask || nm_u8(l->mask)[k]) && (!l->filters || nm_u8(l->filters)[o]) &&
                       (!l->in_chans || nm_u8(l->in_chans)[ch]);
            cr_assert_eq(nm_f32(b->weight)[k], kept ? nm_f32(l->weight)[k] : 0.0f,
                         "%s weight %lld", l->name, (long long)k);
        }
        checked++;
    }
    cr_assert_gt(checked, 0);
    nm_tensor_release(x);
    nm_model_free(back);
    tmp_remove(dir);
}

static void prune_some(nm_model *m, int allow_add)
{
    nm_filter_opts fo;
    nm_filter_opts_init(&fo, 0.3);
    fo.global = 0; /* every eligible layer loses filters */
    fo.allow_add = allow_add;
    cr_assert_eq(nm_prune_filters(m, &fo), NM_OK, "%s", nm_errmsg());
    nm_nm_opts no;
    nm_nm_opts_init(&no, 2, 4);
    cr_assert_eq(nm_prune_nm_model(m, &no, NULL), NM_OK, "%s", nm_errmsg());
}

Test(onnx_export, fmnist_cnn_roundtrip)
{
    nm_model *m = ex_zoo("fmnist_cnn", 0, 0);
    ex_randomize_bn(m, 5);
    prune_some(m, 0);
    roundtrip(m, 3);
    nm_model_free(m);
}

Test(onnx_export, resnet18_roundtrip)
{
    nm_model *m = ex_zoo("resnet18", 32, 32);
    ex_randomize_bn(m, 6);
    prune_some(m, 1);
    roundtrip(m, 2);
    nm_model_free(m);
}

Test(onnx_export, mobilenet_v2_roundtrip)
{
    nm_model *m = ex_zoo("mobilenet_v2", 32, 32);
    ex_randomize_bn(m, 7);
    prune_some(m, 0);
    roundtrip(m, 2);
    nm_model_free(m);
}

/* A removed filter whose BN was left with nonzero gamma/beta (filters set
 * by hand, no propagation): nm_forward outputs 0 on that channel, and so
 * must the exported graph. Also a clipped ReLU and an average pool with
 * padding, and a linear without bias. */
Test(onnx_export, dead_bn_channel_clip_avgpool)
{
    nm_model *m = nm_model_new("small", 2, 9, 9);
    nm_add_conv(m, "c1", NM_INPUT, 6, 3, 3, 1, 1, 1, 1);
    nm_add_bn(m, "bn1", NM_PREV);
    nm_add_relu(m, "r1", NM_PREV, 0.5f);
    nm_add_pool(m, "ap", NM_PREV, NM_LAYER_AVGPOOL, 3, 2, 1);
    nm_add_conv(m, "c2", NM_PREV, 4, 1, 1, 1, 0, 1, 0);
    nm_add_gap(m, "gap", NM_PREV);
    cr_assert(nm_add_linear(m, "fc", NM_PREV, 3, 0) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 3);
    ex_randomize_bn(m, 4);
    nm_layer *c1 = &m->layers[0];
    c1->filters = nm_tensor_new4(NM_U8, 1, 6, 0, 0, 0);
    nm_tensor_fill(c1->filters, 1);
    nm_u8(c1->filters)[2] = 0;
    nm_f32(c1->bias)[2] = 0.7f; /* must not leak either */
    roundtrip(m, 2);
    nm_model_free(m);
}

/* A grouped (not depthwise) conv, a linear applied at every position
 * (exported as a 1x1 Conv), an input channel removed by hand, and a model
 * whose layer names would clash in ONNX. */
Test(onnx_export, grouped_conv_positional_linear_and_name_clash)
{
    nm_model *m = nm_model_new("grp", 4, 6, 6);
    nm_add_conv(m, "g", NM_INPUT, 6, 3, 3, 1, 1, 2, 1);
    nm_add_linear(m, "pl", NM_PREV, 5, 1);
    nm_add_relu(m, "r", NM_PREV, 0);
    nm_add_flatten(m, "f", NM_PREV);
    cr_assert(nm_add_linear(m, "fc", NM_PREV, 3, 1) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 8);
    nm_layer *pl = &m->layers[1];
    pl->in_chans = nm_tensor_new4(NM_U8, 1, 6, 0, 0, 0);
    nm_tensor_fill(pl->in_chans, 1);
    nm_u8(pl->in_chans)[4] = 0;
    roundtrip(m, 2);
    nm_model_free(m);

    m = nm_model_new("clash", 1, 4, 4);
    nm_add_conv(m, "a", NM_INPUT, 2, 1, 1, 1, 0, 1, 0);
    cr_assert(nm_add_relu(m, "a.weight", NM_PREV, 0) >= 0);
    char dir[256], path[512];
    tmp_make(dir, sizeof dir);
    tmp_path(path, sizeof path, dir, "c.onnx");
    cr_assert_eq(nm_onnx_save(m, path, NULL, NULL), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "'a'") && strstr(nm_errmsg(), "'a.weight'"), "%s", nm_errmsg());
    cr_assert_eq(tmp_count(dir), 0);
    nm_model_free(m);
    tmp_remove(dir);
}

static int add_kind(nm_model *m, const char *name, nm_layer_kind kind, int in, nm_layer *tmpl)
{
    nm_layer l;
    if (tmpl)
        l = *tmpl;
    else
        memset(&l, 0, sizeof l);
    snprintf(l.name, sizeof l.name, "%s", name);
    l.kind = kind;
    if (!l.n_inputs) {
        l.n_inputs = 1;
        l.inputs[0] = in;
    }
    int i = nm_model_append(m, &l);
    cr_assert(i >= 0, "%s: %s", name, nm_errmsg());
    return i;
}

static nm_tensor *konst(int c, int h, int w, float base)
{
    nm_tensor *k = nm_tensor_new4(NM_F32, 3, c, h, w, 0);
    for (int64_t i = 0; i < k->numel; i++)
        nm_f32(k)[i] = base + 0.25f * (float)i;
    return k;
}

/* The kinds main's importer added (dilated asymmetric conv, ceil_mode and
 * exclude_pad pools, binary ops with producers and constants, sigmoid,
 * hardswish, hardsigmoid, tanh, clip, shuffle, pad, transpose, concat,
 * reshape to (F,1,1) and to a general shape, a channel slice) export and
 * read back to the same outputs, for three graph outputs. */
Test(onnx_export, graph_kinds_roundtrip)
{
    nm_model *m = nm_model_new("kinds", 3, 7, 8);
    nm_layer t;
    memset(&t, 0, sizeof t);
    t.out_c = 4, t.kh = 3, t.kw = 2, t.stride_h = 1, t.stride_w = 1;
    t.pad_h = 1, t.pad_w = 0, t.pad_asym = 1, t.pad_h2 = 2, t.pad_w2 = 1, t.dil_h = 2, t.dil_w = 1;
    int cv = add_kind(m, "cv", NM_LAYER_CONV, NM_INPUT, &t);
    int sg = add_kind(m, "sg", NM_LAYER_SIGMOID, cv, NULL);
    memset(&t, 0, sizeof t);
    t.n_inputs = 2, t.inputs[0] = cv, t.inputs[1] = sg;
    int gate = add_kind(m, "gate", NM_LAYER_MUL, 0, &t);
    memset(&t, 0, sizeof t);
    t.kh = t.kw = 3, t.stride_h = t.stride_w = 2, t.pad_h = t.pad_w = 1, t.ceil_mode = 1;
    t.exclude_pad = 1;
    int ap = add_kind(m, "ap", NM_LAYER_AVGPOOL, gate, &t);
    memset(&t, 0, sizeof t);
    t.kh = t.kw = 2, t.stride_h = t.stride_w = 1;
    int mp = add_kind(m, "mp", NM_LAYER_MAXPOOL, ap, &t);
    int hs = add_kind(m, "hs", NM_LAYER_HARDSWISH, mp, NULL);
    memset(&t, 0, sizeof t);
    t.groups = 2;
    int shf = add_kind(m, "shf", NM_LAYER_SHUFFLE, hs, &t);
    memset(&t, 0, sizeof t);
    t.pads[0] = 1, t.pads[1] = 0, t.pads[2] = 1, t.pads[5] = 2, t.pad_value = 0.5f;
    int pd = add_kind(m, "pd", NM_LAYER_PAD, shf, &t);
    memset(&t, 0, sizeof t);
    t.perm[0] = 0, t.perm[1] = 2, t.perm[2] = 1;
    int tp = add_kind(m, "tp", NM_LAYER_TRANSPOSE, pd, &t);
    int tp2 = add_kind(m, "tp2", NM_LAYER_TRANSPOSE, tp, &t);
    memset(&t, 0, sizeof t);
    t.n_inputs = 2, t.inputs[0] = tp2, t.inputs[1] = pd;
    int cat = add_kind(m, "cat", NM_LAYER_CONCAT, 0, &t);
    int cc = m->layers[cat].out_c;
    memset(&t, 0, sizeof t);
    t.konst = konst(cc, 1, 1, -0.5f);
    t.rev = 1;
    int sk = add_kind(m, "sk", NM_LAYER_SUB, cat, &t);
    memset(&t, 0, sizeof t);
    t.konst = konst(1, 1, 1, 1.5f);
    int dk = add_kind(m, "dk", NM_LAYER_DIV, sk, &t);
    int th = add_kind(m, "th", NM_LAYER_TANH, dk, NULL);
    memset(&t, 0, sizeof t);
    t.alpha = -0.5f, t.beta_ = 0.7f;
    int cl = add_kind(m, "cl", NM_LAYER_CLIP, th, &t);
    t.alpha = 0.3f, t.beta_ = 0.4f;
    int hg = add_kind(m, "hg", NM_LAYER_HARDSIGMOID, sk, &t);
    memset(&t, 0, sizeof t);
    t.n_inputs = 2, t.inputs[0] = cl, t.inputs[1] = hg;
    int sum = add_kind(m, "sum", NM_LAYER_ADD, 0, &t);
    const nm_layer *su = &m->layers[sum];
    memset(&t, 0, sizeof t);
    t.out_c = su->out_c * su->out_h * su->out_w, t.out_h = 1, t.out_w = 1;
    int rs = add_kind(m, "rs", NM_LAYER_RESHAPE, sum, &t);
    memset(&t, 0, sizeof t);
    t.slice_axis = NM_AXIS_CHANNEL, t.slice_start = 2, t.out_c = 5;
    int sl = add_kind(m, "sl", NM_LAYER_SLICE, sum, &t);
    const nm_layer *sll = &m->layers[sl];
    memset(&t, 0, sizeof t);
    t.out_c = sll->out_h, t.out_h = sll->out_c, t.out_w = sll->out_w; /* a general reshape */
    int r4 = add_kind(m, "r4", NM_LAYER_RESHAPE, sl, &t);
    cr_assert(nm_add_linear(m, "fc", rs, 5, 1) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 21);
    m->n_outputs = 3;
    m->outputs[0] = m->n_layers - 1;
    m->outputs[1] = cl;
    m->outputs[2] = r4;
    (void)hs;
    (void)mp;

    char dir[256], path[512];
    tmp_make(dir, sizeof dir);
    tmp_path(path, sizeof path, dir, "k.onnx");
    cr_assert_eq(nm_onnx_save(m, path, NULL, NULL), NM_OK, "%s", nm_errmsg());
    char *warn = NULL;
    nm_model *back = nm_onnx_load(path, &warn);
    cr_assert_not_null(back, "%s", nm_errmsg());
    cr_assert_null(warn, "import warnings: %s", warn ? warn : "");
    nm_tensor *x = ex_input(m, 2, 4);
    nm_tensor *ya[3] = {0}, *yb[3] = {0};
    cr_assert_eq(nm_forward_outputs(m, x, ya, 3), 3, "%s", nm_errmsg());
    cr_assert_eq(nm_forward_outputs(back, x, yb, 3), 3, "%s", nm_errmsg());
    for (int o = 0; o < 3; o++) {
        cr_assert_eq(ya[o]->numel, yb[o]->numel, "output %d", o);
        double big = 1, diff = 0;
        for (int64_t i = 0; i < ya[o]->numel; i++) {
            big = fmax(big, fabs(nm_f32(ya[o])[i]));
            diff = fmax(diff, fabs((double)nm_f32(ya[o])[i] - nm_f32(yb[o])[i]));
        }
        cr_assert(diff <= 1e-5 * big, "output %d differs by %g", o, diff);
        nm_tensor_release(ya[o]);
        nm_tensor_release(yb[o]);
    }
    nm_tensor_release(x);
    nm_model_free(back);
    nm_model_free(m);
    tmp_remove(dir);
}

Test(onnx_export, file_structure)
{
    nm_model *m = nm_model_new("net", 1, 8, 8);
    nm_add_conv(m, "/layer1/layer1.0/conv1/Conv", NM_INPUT, 4, 3, 3, 2, 1, 1, 0);
    nm_add_relu(m, "relu", NM_PREV, 6);
    nm_add_flatten(m, "flat", NM_PREV);
    cr_assert(nm_add_linear(m, "/fc/Gemm", NM_PREV, 5, 1) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 1);
    char dir[256], path[512];
    tmp_make(dir, sizeof dir);
    tmp_path(path, sizeof path, dir, "s.onnx");
    cr_assert_eq(nm_onnx_save(m, path, NULL, NULL), NM_OK, "%s", nm_errmsg());
    cr_assert_eq(tmp_count(dir), 1, "a temporary file was left behind");
    unsigned char *data;
    size_t len;
    cr_assert_eq(nm_read_file(path, 1 << 24, &data, &len), NM_OK);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, data);
    cr_assert_not_null(mp, "protobuf-c cannot parse the file");
    cr_assert(mp->has_ir_version && mp->ir_version == 7);
    cr_assert_eq(mp->n_opset_import, 1);
    cr_assert_str_eq(mp->opset_import[0]->domain, "");
    cr_assert_eq(mp->opset_import[0]->version, 13);
    const Onnx__GraphProto *g = mp->graph;
    cr_assert_eq(g->n_input, 1);
    const Onnx__TensorShapeProto *s = g->input[0]->type->tensor_type->shape;
    cr_assert_eq(s->n_dim, 4);
    cr_assert_eq(s->dim[0]->value_case, ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM);
    cr_assert_str_eq(s->dim[0]->dim_param, "N");
    int64_t want_in[3] = {1, 8, 8};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(s->dim[i + 1]->dim_value, want_in[i]);
    const Onnx__TensorShapeProto *so = g->output[0]->type->tensor_type->shape;
    cr_assert_eq(so->n_dim, 2);
    cr_assert_eq(so->dim[1]->dim_value, 5);
    const char *ops[] = {"Conv", "Clip", "Flatten", "Gemm"};
    const char *names[] = {"/layer1/layer1.0/conv1/Conv", "relu", "flat", "/fc/Gemm"};
    cr_assert_eq(g->n_node, 4);
    for (int i = 0; i < 4; i++) {
        cr_assert_str_eq(g->node[i]->op_type, ops[i]);
        cr_assert_str_eq(g->node[i]->name, names[i]);
    }
    /* Conv's attributes */
    int seen = 0;
    for (size_t a = 0; a < g->node[0]->n_attribute; a++) {
        const Onnx__AttributeProto *at = g->node[0]->attribute[a];
        if (!strcmp(at->name, "strides"))
            { seen++; cr_assert(at->n_ints == 2 && at->ints[0] == 2 && at->ints[1] == 2); }
        if (!strcmp(at->name, "pads"))
            { seen++; cr_assert(at->n_ints == 4 && at->ints[0] == 1 && at->ints[3] == 1); }
        if (!strcmp(at->name, "group"))
            { seen++; cr_assert_eq(at->i, 1); }
    }
    cr_assert_eq(seen, 3);
    /* initializers: conv weight [4,1,3,3], clip bounds, fc weight and bias */
    cr_assert_eq(g->n_initializer, 5);
    cr_assert_eq(g->initializer[0]->n_dims, 4);
    cr_assert_eq(g->initializer[0]->raw_data.len, 4 * 9 * 4);
    onnx__model_proto__free_unpacked(mp, NULL);
    free(data);
    nm_model_free(m);
    tmp_remove(dir);
}

Test(onnx_export, refusals_name_the_layer)
{
    char dir[256], path[512];
    tmp_make(dir, sizeof dir);
    tmp_path(path, sizeof path, dir, "r.onnx");
    nm_model *m = nm_model_new("a", 1, 4, 4);
    nm_add_conv(m, "c", NM_INPUT, 4, 3, 3, 1, 1, 1, 0);
    cr_assert(nm_add_nmrelu(m, "act", NM_PREV, 2, 4, NM_POLICY_TOPK, NM_AXIS_CHANNEL) >= 0);
    cr_assert_eq(nm_onnx_save(m, path, NULL, NULL), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "'act'") && strstr(nm_errmsg(), "nmrelu"), "%s", nm_errmsg());
    cr_assert(strstr(nm_errmsg(), path), "%s", nm_errmsg());
    nm_model_free(m);
    m = nm_model_new("b", 4, 4, 1);
    cr_assert(nm_add_layernorm(m, "ln", NM_INPUT) >= 0);
    cr_assert_eq(nm_onnx_save(m, path, NULL, NULL), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "'ln'") && strstr(nm_errmsg(), "layernorm"), "%s", nm_errmsg());
    nm_model_free(m);
    cr_assert_eq(tmp_count(dir), 0, "a refused export left a file");
    /* an unwritable place */
    m = nm_zoo("fmnist_cnn", 1);
    char bad[600];
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.onnx", dir);
    expect_nothing_written(nm_onnx_save(m, bad, NULL, NULL), bad, dir);
    nm_model_free(m);
    tmp_remove(dir);
}

static int cancel_half(void *ud, double f, const char *what)
{
    (void)what;
    ++*(int *)ud;
    return f > 0.5;
}

Test(onnx_export, cancel_leaves_old_file)
{
    char dir[256], path[512];
    tmp_make(dir, sizeof dir);
    tmp_path(path, sizeof path, dir, "c.onnx");
    FILE *f = fopen(path, "w");
    fputs("old", f);
    fclose(f);
    nm_model *m = nm_zoo("fmnist_cnn", 1);
    int calls = 0;
    cr_assert_eq(nm_onnx_save(m, path, cancel_half, &calls), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "cancelled"), "%s", nm_errmsg());
    cr_assert_gt(calls, 1);
    unsigned char *data;
    size_t len;
    cr_assert_eq(nm_read_file(path, 100, &data, &len), NM_OK);
    cr_assert_str_eq((char *)data, "old");
    cr_assert_eq(tmp_count(dir), 1);
    free(data);
    nm_model_free(m);
    tmp_remove(dir);
}

Test(masks, module_path_rule)
{
    const char *cases[][2] = {
        {"/layer1/layer1.0/conv1/Conv", "layer1.0.conv1"},
        {"/features/features.0/features.0.0/Conv", "features.0.0"},
        {"/fc/Gemm", "fc"},
        {"/classifier/classifier.1/Gemm", "classifier.1"},
        {"/encoder/layers/encoder_layer_0/mlp/mlp.0/MatMul", "encoder.layers.encoder_layer_0.mlp.0"},
        {"/layer4/layer4.1/downsample/downsample.0/Conv", "layer4.1.downsample.0"},
        {"/conv1/Conv", "conv1"},
        {"layer1.0.conv1", "layer1.0.conv1"},
        {"fc", "fc"},
        {"/Conv", "Conv"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[128];
        cr_assert_eq(nm_module_path(cases[i][0], out, sizeof out), NM_OK);
        cr_assert_str_eq(out, cases[i][1], "%s", cases[i][0]);
    }
    char tiny[4];
    cr_assert_eq(nm_module_path("/layer1/layer1.0/conv1/Conv", tiny, sizeof tiny), NM_ERR);
}

static int find_key(const nm_tensor_list *tl, const char *key)
{
    for (int k = 0; k < tl->count; k++)
        if (!strcmp(tl->names[k], key))
            return k;
    return -1;
}

/* Checks tl[key] is u8 of the given shape holding want[]. */
static void expect_mask(const nm_tensor_list *tl, const char *key, const nm_tensor *like,
                        const uint8_t *want)
{
    int found = find_key(tl, key);
    cr_assert(found >= 0, "%s missing", key);
    const nm_tensor *t = tl->tensors[found];
    cr_assert_eq(t->dtype, NM_U8);
    cr_assert_eq(t->ndim, like->ndim);
    for (int d = 0; d < t->ndim; d++)
        cr_assert_eq(t->shape[d], like->shape[d]);
    cr_assert_eq(memcmp(nm_u8(t), want, (size_t)t->numel), 0, "%s differs", key);
}

Test(masks, saved_masks_match_the_model)
{
    nm_model *m = ex_zoo("fmnist_cnn", 0, 0);
    prune_some(m, 0);
    /* torch-style names, to check the key recovery end to end */
    int c2 = nm_model_find(m, "conv2"), b2 = nm_model_find(m, "bn2");
    cr_assert(c2 >= 0 && b2 == c2 + 1);
    snprintf(m->layers[c2].name, NM_NAME_MAX, "/features/features.3/Conv");
    snprintf(m->layers[b2].name, NM_NAME_MAX, "/features/features.4/BatchNormalization");
    char dir[256], path[512];
    tmp_make(dir, sizeof dir);
    tmp_path(path, sizeof path, dir, "masks.safetensors");
    cr_assert_eq(nm_masks_save(m, path), NM_OK, "%s", nm_errmsg());
    nm_tensor_list tl = {0};
    cr_assert_eq(nm_safetensors_read(path, &tl), NM_OK, "%s", nm_errmsg());
    int expected = 0, with_filters = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        if (!nm_layer_prunable(l))
            continue;
        const char *mod = i == c2 ? "features.3" : l->name;
        /* the effective mask, by plain index arithmetic (groups = 1 here) */
        int64_t rows = l->weight->shape[0], cols = l->weight->numel / rows;
        int64_t per = l->kind == NM_LAYER_LINEAR ? 1 : l->kh * l->kw;
        int64_t zeros = 0;
        uint8_t *want = malloc((size_t)l->weight->numel);
        for (int64_t o = 0; o < rows; o++)
            for (int64_t j = 0; j < cols; j++) {
                int64_t k = o * cols + j;
                want[k] = (!l->mask || nm_u8(l->mask)[k]) && (!l->filters || nm_u8(l->filters)[o]) &&
                          (!l->in_chans || nm_u8(l->in_chans)[j / per]);
                zeros += !want[k];
            }
        char key[128];
        snprintf(key, sizeof key, "%s.weight_mask", mod);
        if (!zeros) {
            cr_assert_eq(find_key(&tl, key), -1, "%s has no pruning but is in the file", key);
        } else {
            expected++;
            expect_mask(&tl, key, l->weight, want);
        }
        free(want);
        /* removed filters: the bias and the following BN are masked too */
        snprintf(key, sizeof key, "%s.bias_mask", mod);
        int removed = l->filters && nm_tensor_nnz(l->filters) < l->out_c;
        if (!removed) {
            cr_assert_eq(find_key(&tl, key), -1, "%s without removed filters", key);
            continue;
        }
        with_filters++;
        uint8_t *keep = malloc((size_t)l->out_c);
        for (int o = 0; o < l->out_c; o++)
            keep[o] = nm_u8(l->filters)[o] != 0;
        if (l->bias) {
            expect_mask(&tl, key, l->bias, keep);
            expected++;
        }
        if (i + 1 < m->n_layers && m->layers[i + 1].kind == NM_LAYER_BN) {
            const char *bmod = i == c2 ? "features.4" : m->layers[i + 1].name;
            snprintf(key, sizeof key, "%s.weight_mask", bmod);
            expect_mask(&tl, key, m->layers[i + 1].gamma, keep);
            snprintf(key, sizeof key, "%s.bias_mask", bmod);
            expect_mask(&tl, key, m->layers[i + 1].beta, keep);
            expected += 2;
        }
        free(keep);
    }
    cr_assert_gt(with_filters, 1);
    cr_assert_geq(expected, 3 * with_filters);
    cr_assert_eq(tl.count, expected);
    nm_tensor_list_free(&tl);
    nm_model_free(m);
    tmp_remove(dir);
}
