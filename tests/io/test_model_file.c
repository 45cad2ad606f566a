/* Models in safetensors: a model built with the core builders (masks,
 * filter and channel keep vectors, BN statistics, NMReLU, detached layers,
 * attention layers) reloads with every field and every byte identical;
 * damaged model files are refused with a message naming the problem. */
#include "io_test_util.h"

#include <jansson.h>
#include <math.h>

#include "nmio.h"

static char dir[256];
static void setup(void) { tmp_make(dir, sizeof dir); }
static void teardown(void) { tmp_remove(dir); }
TestSuite(model_file, .init = setup, .fini = teardown);

static void fill_random(nm_tensor *t, nm_rng *r)
{
    for (int64_t i = 0; i < t->numel; i++)
        nm_tensor_setd(t, i, t->dtype == NM_F32 ? nm_rng_normal(r) : (double)(nm_rng_next(r) % 2));
}

static nm_tensor *keep_vector(int64_t n, nm_rng *r)
{
    nm_tensor *t = nm_tensor_new4(NM_U8, 1, n, 0, 0, 0);
    fill_random(t, r);
    nm_u8(t)[0] = 1;
    return t;
}

/* A small CNN touching every CNN layer kind, plus two detached layers. */
static nm_model *cnn(void)
{
    nm_model *m = nm_model_new("cnn test", 3, 8, 8);
    int c1 = nm_add_conv(m, "c1", NM_INPUT, 8, 3, 3, 1, 1, 1, 1);
    int bn = nm_add_bn(m, "bn1", c1);
    nm_add_relu(m, "r1", bn, 6.0f);
    nm_add_nmrelu(m, "nm1", NM_PREV, 2, 4, NM_POLICY_TOPK, NM_AXIS_CHANNEL);
    int mp = nm_add_pool(m, "mp", NM_PREV, NM_LAYER_MAXPOOL, 2, 2, 0);
    int c2 = nm_add_conv(m, "block.0.c2", mp, 8, 3, 3, 1, 1, 2, 0);
    nm_add_dwconv(m, "dw", c2, 3, 1, 1);
    nm_add_pool(m, "ap", NM_PREV, NM_LAYER_AVGPOOL, 3, 1, 1);
    int add = nm_add_add(m, "add", NM_PREV, mp);
    nm_add_gap(m, "gap", add);
    nm_add_flatten(m, "flat", NM_PREV);
    int fc = nm_add_linear(m, "fc", NM_PREV, 10, 1);
    cr_assert(fc >= 0, "%s", nm_errmsg());

    /* detached layers, as a topology reader makes them */
    nm_layer d = {0};
    snprintf(d.name, sizeof d.name, "detached conv");
    d.kind = NM_LAYER_CONV;
    d.in_c = 16, d.in_h = 14, d.in_w = 12;
    d.out_c = 32, d.kh = 3, d.kw = 1, d.stride_h = 2, d.stride_w = 1, d.pad_h = 0, d.pad_w = 1;
    d.wn = 1, d.wm = 4;
    cr_assert(nm_model_append(m, &d) >= 0, "%s", nm_errmsg());
    nm_layer e = {0};
    snprintf(e.name, sizeof e.name, "detached fc");
    e.kind = NM_LAYER_LINEAR;
    e.in_c = 64, e.in_h = 1, e.in_w = 1, e.out_c = 5;
    cr_assert(nm_model_append(m, &e) >= 0, "%s", nm_errmsg());

    nm_model_init_weights(m, 0xFEDCBA9876543210ULL); /* above INT64_MAX */
    nm_rng r;
    nm_rng_seed(&r, 99);
    nm_layer *L = m->layers;
    fill_random(L[c1].bias, &r);
    L[c1].filters = keep_vector(8, &r);
    L[c2].in_chans = keep_vector(8, &r);
    L[c2].filters = keep_vector(8, &r);
    L[c2].wn = 2, L[c2].wm = 4;
    fill_random(L[bn].gamma, &r);
    fill_random(L[bn].beta, &r);
    fill_random(L[bn].mean, &r);
    fill_random(L[bn].var, &r);
    L[bn].eps = 1e-3f;
    int masked[] = {c1, c2, nm_model_find(m, "dw"), fc, nm_model_find(m, "detached conv")};
    for (size_t i = 0; i < sizeof masked / sizeof masked[0]; i++) {
        cr_assert_eq(nm_layer_ensure_mask(&L[masked[i]]), NM_OK);
        fill_random(L[masked[i]].mask, &r);
    }
    nm_model_apply_masks(m);
    nm_f32(L[c1].weight)[1] = NAN; /* every bit pattern survives */
    nm_f32(L[c1].weight)[2] = -0.0f;
    nm_f32(L[c1].weight)[3] = 1e-42f;
    L[nm_model_find(m, "r1")].clip = 0.1f; /* not a short decimal */
    return m;
}

/* Embedding, layer norms, attention matmuls, softmax, GELU. */
static nm_model *vit(void)
{
    nm_model *m = nm_model_new("vit", 8, 2, 2);
    int emb = nm_add_embed(m, "embed", NM_INPUT);
    int ln = nm_add_layernorm(m, "ln1", emb);
    int q = nm_add_linear(m, "q", ln, 8, 1);
    int k = nm_add_linear(m, "k", ln, 8, 1);
    int v = nm_add_linear(m, "v", ln, 8, 0);
    int s = nm_add_matmul(m, "qk", q, k, 2, 1);
    int sm = nm_add_softmax(m, "softmax", s);
    int ctx = nm_add_matmul(m, "av", sm, v, 2, 0);
    nm_add_gelu(m, "gelu", ctx);
    nm_add_add(m, "res", NM_PREV, emb);
    int ln2 = nm_add_layernorm(m, "ln2", NM_PREV);
    cr_assert(ln2 >= 0, "%s", nm_errmsg());
    m->layers[ln2].eps = 1e-6f;
    nm_model_init_weights(m, 5);
    nm_rng r;
    nm_rng_seed(&r, 3);
    fill_random(m->layers[ln].beta, &r);
    fill_random(m->layers[q].bias, &r);
    return m;
}

static void same_tensor(const nm_tensor *a, const nm_tensor *b, const char *layer, const char *what)
{
    if (!a || !b) {
        cr_assert(!a && !b, "layer '%s': %s present in only one model", layer, what);
        return;
    }
    cr_assert_eq(a->dtype, b->dtype, "%s.%s dtype", layer, what);
    cr_assert_eq(a->ndim, b->ndim, "%s.%s ndim", layer, what);
    cr_assert_eq(a->numel, b->numel, "%s.%s numel", layer, what);
    for (int d = 0; d < NM_MAX_DIMS; d++)
        cr_assert_eq(a->shape[d], b->shape[d], "%s.%s shape", layer, what);
    cr_assert_eq(memcmp(a->data, b->data, (size_t)a->numel * nm_dtype_size(a->dtype)), 0,
                 "%s.%s bytes differ", layer, what);
}

/* Every field of the model and of each layer, floats compared bit by bit. */
static void same_model(const nm_model *a, const nm_model *b)
{
    cr_assert_str_eq(a->name, b->name);
    cr_assert_eq(a->in_c, b->in_c);
    cr_assert_eq(a->in_h, b->in_h);
    cr_assert_eq(a->in_w, b->in_w);
    cr_assert_eq(a->seed, b->seed);
    cr_assert_eq(a->n_layers, b->n_layers);
    for (int i = 0; i < a->n_layers; i++) {
        const nm_layer *x = &a->layers[i], *y = &b->layers[i];
        const char *n = x->name;
        cr_assert_str_eq(x->name, y->name);
#define SAME(f) cr_assert_eq(x->f, y->f, "layer '%s': " #f " %lld vs %lld", n, \
                             (long long)x->f, (long long)y->f)
        SAME(kind); SAME(n_inputs);
        for (int k = 0; k < x->n_inputs; k++)
            SAME(inputs[k]);
        SAME(in_c); SAME(in_h); SAME(in_w); SAME(out_c); SAME(out_h); SAME(out_w);
        SAME(kh); SAME(kw); SAME(stride_h); SAME(stride_w); SAME(pad_h); SAME(pad_w);
        SAME(groups); SAME(wn); SAME(wm); SAME(act_n); SAME(act_m); SAME(act_policy);
        SAME(act_axis); SAME(heads); SAME(matmul_macs); SAME(slice_start); SAME(slice_axis);
        SAME(out_c); SAME(out_h); SAME(out_w);
#undef SAME
        cr_assert_eq(f32_bits(x->eps), f32_bits(y->eps), "layer '%s': eps", n);
        cr_assert_eq(f32_bits(x->clip), f32_bits(y->clip), "layer '%s': clip", n);
        same_tensor(x->weight, y->weight, n, "weight");
        same_tensor(x->bias, y->bias, n, "bias");
        same_tensor(x->mask, y->mask, n, "mask");
        same_tensor(x->filters, y->filters, n, "filters");
        same_tensor(x->in_chans, y->in_chans, n, "in_chans");
        same_tensor(x->gamma, y->gamma, n, "gamma");
        same_tensor(x->beta, y->beta, n, "beta");
        same_tensor(x->mean, y->mean, n, "running_mean");
        same_tensor(x->var, y->var, n, "running_var");
    }
}

static void round_trip(nm_model *m, const char *file)
{
    char p[512], p2[512];
    tmp_path(p, sizeof p, dir, file);
    cr_assert_eq(nm_safetensors_save_model(m, p), NM_OK, "%s", nm_errmsg());
    nm_model *back = nm_safetensors_load_model(p);
    cr_assert_not_null(back, "%s", nm_errmsg());
    same_model(m, back);
    /* saving the reloaded model gives the same bytes */
    tmp_path(p2, sizeof p2, dir, "again.safetensors");
    cr_assert_eq(nm_safetensors_save_model(back, p2), NM_OK, "%s", nm_errmsg());
    size_t n1, n2;
    unsigned char *b1 = slurp(p, &n1), *b2 = slurp(p2, &n2);
    cr_assert_eq(n1, n2);
    cr_assert_eq(memcmp(b1, b2, n1), 0);
    free(b1);
    free(b2);
    nm_model_free(back);
}

Test(model_file, cnn_reloads_exactly)
{
    nm_model *m = cnn();
    round_trip(m, "cnn.safetensors");
    nm_model_free(m);
}

Test(model_file, attention_model_reloads_exactly)
{
    nm_model *m = vit();
    round_trip(m, "vit.safetensors");
    nm_model_free(m);
}

/* ViT-style slices: channel slices of a qkv output and a position slice
 * (the class token) must reload with their ranges. */
Test(model_file, slices_reload_exactly)
{
    nm_model *m = nm_model_new("sl", 8, 4, 1);
    int qkv = nm_add_linear(m, "qkv", NM_INPUT, 24, 1);
    cr_assert(nm_add_slice(m, "k", qkv, NM_AXIS_CHANNEL, 8, 8) >= 0, "%s", nm_errmsg());
    cr_assert(nm_add_slice(m, "cls", qkv, NM_AXIS_POSITION, 0, 1) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 5);
    round_trip(m, "slices.safetensors");
    nm_model_free(m);
}

/* The file is an ordinary safetensors file: tensor names and metadata as
 * documented in docs/formats.md. */
Test(model_file, layout_is_documented_names)
{
    nm_model *m = cnn();
    char p[512];
    tmp_path(p, sizeof p, dir, "cnn.safetensors");
    cr_assert_eq(nm_safetensors_save_model(m, p), NM_OK, "%s", nm_errmsg());
    nm_tensor_list tl;
    cr_assert_eq(nm_safetensors_read(p, &tl), NM_OK, "%s", nm_errmsg());
    int expect = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        const nm_tensor *ts[] = {l->weight, l->bias, l->mask, l->filters, l->in_chans,
                                 l->gamma, l->beta, l->mean, l->var};
        for (int k = 0; k < 9; k++)
            expect += ts[k] != NULL;
    }
    cr_assert_eq(tl.count, expect);
    const char *want[] = {"c1.weight", "c1.bias", "c1.mask", "c1.filters", "bn1.gamma", "bn1.beta",
                          "bn1.running_mean", "bn1.running_var", "block.0.c2.in_chans",
                          "detached conv.mask", "fc.bias"};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        int found = 0;
        for (int i = 0; i < tl.count; i++)
            found |= strcmp(tl.names[i], want[k]) == 0;
        cr_assert(found, "tensor '%s' missing", want[k]);
    }
    json_t *md = json_loads(tl.metadata_json, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(md, "format")), "nmlab-1");
    cr_assert_not_null(json_string_value(json_object_get(md, "nmlab.version")));
    json_t *desc = json_loads(json_string_value(json_object_get(md, "nmlab.model")), 0, NULL);
    cr_assert_not_null(desc);
    cr_assert_str_eq(json_string_value(json_object_get(desc, "seed")), "18364758544493064720");
    json_t *l0 = json_array_get(json_object_get(desc, "layers"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(l0, "kind")), "conv");
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(l0, "inputs"), 0)), -1);
    json_decref(desc);
    json_decref(md);
    nm_tensor_list_free(&tl);
    nm_model_free(m);
}

Test(model_file, plain_tensors_are_not_a_model)
{
    char p[512];
    tmp_path(p, sizeof p, dir, "plain.safetensors");
    write_one_tensor(p, "w", nm_tensor_new4(NM_F32, 1, 3, 0, 0, 0));
    cr_assert_null(nm_safetensors_load_model(p));
    cr_assert(strstr(nm_errmsg(), p), "%s", nm_errmsg());
    cr_assert(strstr(nm_errmsg(), "has no nmlab model metadata; read it as tensors"), "%s",
              nm_errmsg());
}

/* ---- damaged model files ---- */

typedef void (*edit_fn)(json_t *desc, json_t *md, nm_tensor_list *tl);
static int keep_description_text; /* set by edits that replace the text itself */

/* Saves the CNN, applies `edit` to its description / metadata / tensors,
 * writes the result, and expects loading it to fail with `what`. */
static void expect_damaged(edit_fn edit, const char *what)
{
    nm_model *m = cnn();
    char p[512];
    tmp_path(p, sizeof p, dir, "damaged.safetensors");
    cr_assert_eq(nm_safetensors_save_model(m, p), NM_OK, "%s", nm_errmsg());
    nm_model_free(m);
    nm_tensor_list tl;
    cr_assert_eq(nm_safetensors_read(p, &tl), NM_OK, "%s", nm_errmsg());
    json_t *md = json_loads(tl.metadata_json, 0, NULL);
    json_t *desc = json_loads(json_string_value(json_object_get(md, "nmlab.model")), 0, NULL);
    cr_assert(md && desc);
    edit(desc, md, &tl);
    if (!keep_description_text) {
        char *text = json_dumps(desc, JSON_COMPACT);
        json_object_set_new(md, "nmlab.model", json_string(text));
        free(text);
    }
    free(tl.metadata_json);
    tl.metadata_json = json_dumps(md, JSON_COMPACT);
    json_decref(md);
    json_decref(desc);
    cr_assert_eq(nm_safetensors_write(p, &tl), NM_OK, "%s", nm_errmsg());
    nm_tensor_list_free(&tl);
    cr_assert_null(nm_safetensors_load_model(p), "damaged model loaded (%s)", what);
    cr_assert(strstr(nm_errmsg(), p), "message does not name the file: %s", nm_errmsg());
    cr_assert(strstr(nm_errmsg(), what), "expected \"%s\" in: %s", what, nm_errmsg());
}

static json_t *layer(json_t *desc, size_t i)
{
    return json_array_get(json_object_get(desc, "layers"), i);
}

static int find_tensor(nm_tensor_list *tl, const char *name)
{
    for (int i = 0; i < tl->count; i++)
        if (strcmp(tl->names[i], name) == 0)
            return i;
    cr_assert_fail("no tensor %s", name);
    return -1;
}

static void replace_tensor(nm_tensor_list *tl, const char *name, nm_tensor *t)
{
    int i = find_tensor(tl, name);
    nm_tensor_release(tl->tensors[i]);
    tl->tensors[i] = t;
}

static void e_kind(json_t *d, json_t *md, nm_tensor_list *tl)
{
    (void)md, (void)tl;
    json_object_set_new(layer(d, 0), "kind", json_string("warp"));
}
static void e_forward(json_t *d, json_t *md, nm_tensor_list *tl)
{
    (void)md, (void)tl;
    json_object_set_new(layer(d, 1), "inputs", json_pack("[i]", 5));
}
static void e_missing(json_t *d, json_t *md, nm_tensor_list *tl)
{
    (void)d, (void)md;
    int i = find_tensor(tl, "c1.weight");
    free(tl->names[i]);
    nm_tensor_release(tl->tensors[i]);
    tl->names[i] = tl->names[tl->count - 1];
    tl->tensors[i] = tl->tensors[tl->count - 1];
    tl->count--;
}
static void e_extra(json_t *d, json_t *md, nm_tensor_list *tl)
{
    (void)d, (void)md;
    nm_tensor *t = nm_tensor_new4(NM_F32, 1, 2, 0, 0, 0);
    nm_tensor_list_add(tl, "ghost.weight", t);
    nm_tensor_release(t);
}
static void e_not_allowed(json_t *d, json_t *md, nm_tensor_list *tl)
{
    (void)d, (void)md;
    nm_tensor *t = nm_tensor_new4(NM_F32, 1, 2, 0, 0, 0);
    nm_tensor_list_add(tl, "r1.weight", t);
    nm_tensor_release(t);
}
static void e_shape(json_t *d, json_t *md, nm_tensor_list *tl)
{
    (void)d, (void)md;
    replace_tensor(tl, "c1.weight", nm_tensor_new4(NM_F32, 4, 8, 3, 5, 5));
}
static void e_mask_dtype(json_t *d, json_t *md, nm_tensor_list *tl)
{
    (void)d, (void)md;
    replace_tensor(tl, "c1.mask", nm_tensor_new4(NM_F32, 4, 8, 3, 3, 3));
}
static void e_out(json_t *d, json_t *md, nm_tensor_list *tl)
{
    (void)md, (void)tl;
    json_object_set_new(layer(d, 0), "out", json_pack("[i, i, i]", 8, 9, 9));
}
static void e_nm(json_t *d, json_t *md, nm_tensor_list *tl)
{
    (void)md, (void)tl;
    json_object_set_new(layer(d, 3), "act_n", json_integer(5));
}
static void e_format(json_t *d, json_t *md, nm_tensor_list *tl)
{
    (void)d, (void)tl;
    json_object_set_new(md, "format", json_string("nmlab-2"));
}
static void e_json(json_t *d, json_t *md, nm_tensor_list *tl)
{
    (void)d, (void)tl;
    json_object_set_new(md, "nmlab.model", json_string("{\"name\": "));
    keep_description_text = 1;
}
static void e_seed(json_t *d, json_t *md, nm_tensor_list *tl)
{
    (void)md, (void)tl;
    json_object_set_new(d, "seed", json_string("-3"));
}
static void e_input(json_t *d, json_t *md, nm_tensor_list *tl)
{
    (void)md, (void)tl;
    json_object_set_new(d, "input", json_pack("[i, i]", 3, 8));
}
static void e_policy(json_t *d, json_t *md, nm_tensor_list *tl)
{
    (void)md, (void)tl;
    json_object_set_new(layer(d, 3), "act_policy", json_string("random"));
}
static void e_dup_layer(json_t *d, json_t *md, nm_tensor_list *tl)
{
    (void)md, (void)tl;
    json_object_set_new(layer(d, 2), "name", json_string("bn1"));
}

Test(model_file, unknown_kind) { expect_damaged(e_kind, "layer 0 ('c1'): unknown kind 'warp'"); }
Test(model_file, input_after_layer) { expect_damaged(e_forward, "layer 1 ('bn1'): 'inputs' must hold integers from -1 to 0"); }
Test(model_file, missing_tensor) { expect_damaged(e_missing, "tensor 'c1.weight' is missing"); }
Test(model_file, extra_tensor) { expect_damaged(e_extra, "tensor 'ghost.weight' belongs to no layer"); }
Test(model_file, parameter_of_weightless_kind) { expect_damaged(e_not_allowed, "tensor 'r1.weight': a relu layer has no weight"); }
Test(model_file, wrong_weight_shape) { expect_damaged(e_shape, "layer 'c1': weight has shape [8, 3, 5, 5]"); }
Test(model_file, mask_not_uint8) { expect_damaged(e_mask_dtype, "layer 'c1': mask must be uint8"); }
Test(model_file, stored_shape_disagrees) { expect_damaged(e_out, "layer 'c1': stored shapes"); }
Test(model_file, impossible_nmrelu) { expect_damaged(e_nm, "impossible N:M 5:4"); }
Test(model_file, newer_format) { expect_damaged(e_format, "model format 'nmlab-2' is not supported"); }
Test(model_file, description_not_json) { expect_damaged(e_json, "nmlab.model is not valid JSON"); }
Test(model_file, bad_seed) { expect_damaged(e_seed, "'seed' must be a decimal string"); }
Test(model_file, bad_input_shape) { expect_damaged(e_input, "'input' must be 3 positive integers"); }
Test(model_file, bad_policy) { expect_damaged(e_policy, "'act_policy' must be \"first\" or \"topk\""); }
Test(model_file, duplicate_layer_name) { expect_damaged(e_dup_layer, "layer name 'bn1' is used twice"); }

Test(model_file, save_into_missing_folder_leaves_nothing)
{
    nm_model *m = vit();
    char p[512];
    tmp_path(p, sizeof p, dir, "missing/m.safetensors");
    expect_nothing_written(nm_safetensors_save_model(m, p), p, dir);
    nm_model_free(m);
}

/* Single-byte corruptions of a small model file's header (model JSON
 * included) either load or fail with a message naming the file. */
Test(model_file, header_corruption_fails_cleanly)
{
    nm_model *m = nm_model_new("small", 2, 4, 4);
    nm_add_conv(m, "c", NM_INPUT, 4, 3, 3, 1, 1, 1, 1);
    nm_add_bn(m, "bn", NM_PREV);
    nm_add_nmrelu(m, "nm", NM_PREV, 1, 2, NM_POLICY_FIRST, NM_AXIS_POSITION);
    nm_add_gap(m, "gap", NM_PREV);
    cr_assert(nm_add_linear(m, "fc", NM_PREV, 3, 1) >= 0, "%s", nm_errmsg());
    char p[512], q[512];
    tmp_path(p, sizeof p, dir, "ok.safetensors");
    tmp_path(q, sizeof q, dir, "bad.safetensors");
    cr_assert_eq(nm_safetensors_save_model(m, p), NM_OK, "%s", nm_errmsg());
    nm_model_free(m);
    size_t n;
    unsigned char *buf = slurp(p, &n);
    size_t hl = (size_t)buf[0] | (size_t)buf[1] << 8 | (size_t)buf[2] << 16;
    const unsigned char values[] = {'9', '-', '"', 0xff};
    int loaded = 0, refused = 0;
    for (size_t i = 0; i < 8 + hl; i++)
        for (size_t v = 0; v < sizeof values; v++) {
            unsigned char keep = buf[i];
            buf[i] = values[v];
            write_bytes(q, buf, n);
            buf[i] = keep;
            nm_model *b = nm_safetensors_load_model(q);
            if (b) {
                loaded++;
                nm_model_free(b);
            } else {
                refused++;
                cr_assert(strstr(nm_errmsg(), q), "byte %zu = %02x: %s", i, values[v], nm_errmsg());
            }
        }
    cr_assert(loaded > 0 && refused > 0);
    free(buf);
}

/* ---- progress and cancellation of model files ---- */

typedef struct {
    int calls, stop_at, monotone;
    double last;
    char what[16];
} io_log;

static int log_io(void *ud, double fraction, const char *what)
{
    io_log *p = ud;
    if (fraction < p->last || fraction > 1.0)
        p->monotone = 0;
    p->last = fraction;
    snprintf(p->what, sizeof p->what, "%s", what);
    return ++p->calls == p->stop_at;
}

/* A model with one 21 MB weight (2048 x 2560 linear) and a small conv: the
 * big tensor alone crosses the 16 MB report step, so a save or load reports
 * inside it as well as at the end of each tensor. */
static nm_model *big_fc(void)
{
    nm_model *m = nm_model_new("big fc", 2560, 1, 1);
    cr_assert(nm_add_flatten(m, "flat", NM_INPUT) >= 0);
    cr_assert(nm_add_linear(m, "fc", NM_PREV, 2048, 1) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 3);
    return m;
}

/* Progress does not change the bytes; fractions rise to exactly 1; there
 * are more reports than tensors (the 21 MB weight reports twice inside). */
Test(model_file, save_and_load_report_progress)
{
    nm_model *m = big_fc();
    char a[512], b[512];
    tmp_path(a, sizeof a, dir, "plain.safetensors");
    tmp_path(b, sizeof b, dir, "progress.safetensors");
    cr_assert_eq(nm_safetensors_save_model(m, a), NM_OK, "%s", nm_errmsg());
    io_log w = {0, -1, 1, 0, ""};
    cr_assert_eq(nm_safetensors_save_model_progress(m, b, log_io, &w), NM_OK, "%s", nm_errmsg());
    size_t na, nb;
    unsigned char *ba = slurp(a, &na), *bb = slurp(b, &nb);
    cr_assert(na == nb && memcmp(ba, bb, na) == 0, "progress changed the file");
    free(ba), free(bb);
    cr_assert(w.monotone);
    cr_assert_float_eq(w.last, 1.0, 1e-12);
    cr_assert_str_eq(w.what, "writing");
    cr_assert_geq(w.calls, 3, "weight (2 slices) + bias: %d reports", w.calls);

    io_log r = {0, -1, 1, 0, ""};
    char *warn = NULL;
    nm_model *back = nm_model_load_progress(b, &warn, log_io, &r);
    cr_assert_not_null(back, "%s", nm_errmsg());
    same_model(m, back);
    cr_assert(r.monotone);
    cr_assert_float_eq(r.last, 1.0, 1e-12);
    cr_assert_str_eq(r.what, "reading");
    cr_assert_geq(r.calls, 3);
    nm_model_free(back);
    nm_model_free(m);
}

/* Asking to stop: the load fails with "cancelled"; a cancelled save leaves
 * no file where there was none, and an older file byte for byte. */
Test(model_file, cancelled_save_and_load)
{
    nm_model *m = big_fc();
    char p[512], q[512];
    tmp_path(p, sizeof p, dir, "m.safetensors");
    cr_assert_eq(nm_safetensors_save_model(m, p), NM_OK, "%s", nm_errmsg());

    io_log r = {0, 1, 1, 0, ""};
    cr_assert_null(nm_model_load_progress(p, NULL, log_io, &r));
    cr_assert(strstr(nm_errmsg(), "cancelled"), "%s", nm_errmsg());
    cr_assert_eq(r.calls, 1, "went on after the stop");

    tmp_path(q, sizeof q, dir, "new.safetensors");
    io_log w = {0, 1, 1, 0, ""};
    cr_assert_eq(nm_safetensors_save_model_progress(m, q, log_io, &w), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "cancelled"), "%s", nm_errmsg());
    cr_assert_eq(access(q, F_OK), -1, "a cancelled save left %s", q);
    cr_assert_eq(tmp_count(dir), 1, "a temporary file was left behind");

    size_t n0, n1;
    unsigned char *before = slurp(p, &n0);
    nm_f32(m->layers[1].weight)[0] += 1.0f; /* a different model, same path */
    io_log w2 = {0, 2, 1, 0, ""};
    cr_assert_eq(nm_safetensors_save_model_progress(m, p, log_io, &w2), NM_ERR);
    unsigned char *after = slurp(p, &n1);
    cr_assert(n0 == n1 && memcmp(before, after, n0) == 0, "the older file changed");
    free(before), free(after);
    nm_model_free(m);
}
