/* Channel dependency groups (engine/prune/groups.c): the members of groups
 * on small hand-built graphs (concat, squeeze-excitation, shuffle,
 * attention) listed here by hand; removal followed by nm_model_shrink
 * computes what the masked model computes (random input) and really
 * removes the channels; the same after filter, NFFS and JointNF pruning on
 * the zoo's models; classifier rows never removed; caps per group; bad
 * options leave the model unchanged. */
#include "../io/export_util.h"
#include "prune.h"
#include "shrink.h"
#include "zoo_builder.h"

#include <math.h>
#include <stdio.h>

static nm_layer *L(nm_model *m, const char *name)
{
    int i = nm_model_find(m, name);
    cr_assert(i >= 0, "no layer %s", name);
    return &m->layers[i];
}

/* Members of group g as "layer:axis:index" strings joined by spaces. */
static void members_str(const nm_model *m, const nm_group_set *s, int g, char *buf, size_t n)
{
    buf[0] = 0;
    const nm_channel_group *G = &s->groups[g];
    for (int k = 0; k < G->count; k++) {
        const nm_group_member *mb = &s->members[G->first + k];
        size_t len = strlen(buf);
        snprintf(buf + len, n - len, "%s%s:%s:%d", k ? " " : "", m->layers[mb->layer].name,
                 nm_gm_axis_name(mb->axis), mb->index);
    }
}

static int group_of(const nm_model *m, const nm_group_set *s, const char *layer, int row)
{
    int g = nm_group_of_row(s, nm_model_find(m, layer), row);
    cr_assert(g >= 0, "row %d of %s has no group", row, layer);
    return g;
}

static void expect_members(const nm_model *m, const nm_group_set *s, const char *layer, int row,
                           const char *want)
{
    char buf[2048];
    members_str(m, s, group_of(m, s, layer, row), buf, sizeof buf);
    cr_assert_str_eq(buf, want, "group of %s row %d", layer, row);
}

static nm_model *shrunk(nm_model *m)
{
    nm_model *s = nm_model_shrink(m);
    cr_assert_not_null(s, "%s", nm_errmsg());
    return s;
}

static void same_forward(nm_model *m, nm_model *s, int batch)
{
    nm_tensor *x = ex_input(m, batch, 5);
    double d = ex_same_outputs(m, s, x, 1e-4);
    cr_log_info("%s: shrunk vs masked max relative difference %g, params %lld -> %lld", m->name,
                d, (long long)nm_model_params(m), (long long)nm_model_params(s));
    nm_tensor_release(x);
}

static void random_biases(nm_model *m, uint64_t seed)
{
    nm_rng r;
    nm_rng_seed(&r, seed);
    for (int i = 0; i < m->n_layers; i++) {
        nm_layer *l = &m->layers[i];
        if (l->bias)
            for (int64_t j = 0; j < l->bias->numel; j++)
                nm_f32(l->bias)[j] = (float)(nm_rng_uniform(&r) - 0.5);
    }
}

/* in -> a (4, 3x3) -> bn_a -> relu_a ; in -> b (3, 1x1) -> relu_b ;
 * concat -> bn_c -> relu_c -> c (5, 3x3) -> relu -> gap -> flat -> fc (2). */
static nm_model *concat_net(void)
{
    nm_model *m = nm_model_new("concat", 3, 6, 6);
    int a = nm_add_conv(m, "a", NM_INPUT, 4, 3, 3, 1, 1, 1, 1);
    nm_add_bn(m, "bn_a", a);
    int ra = nm_add_relu(m, "relu_a", NM_PREV, 0);
    int b = nm_add_conv(m, "b", NM_INPUT, 3, 1, 1, 1, 0, 1, 1);
    int rb = nm_add_relu(m, "relu_b", b, 0);
    int in[2] = {ra, rb};
    nm_add_concat(m, "cat", in, 2, 0);
    nm_add_bn(m, "bn_c", NM_PREV);
    nm_add_relu(m, "relu_c", NM_PREV, 0);
    nm_add_conv(m, "c", NM_PREV, 5, 3, 3, 1, 1, 1, 1);
    nm_add_relu(m, "relu_d", NM_PREV, 0);
    nm_add_gap(m, "gap", NM_PREV);
    nm_add_flatten(m, "flat", NM_PREV);
    cr_assert(nm_add_linear(m, "fc", NM_PREV, 2, 1) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 3);
    ex_randomize_bn(m, 4);
    random_biases(m, 5);
    return m;
}

#ifndef GROUPS_LARGE
Test(groups, concat_offsets)
{
    nm_model *m = concat_net();
    nm_group_opts o;
    nm_group_opts_init(&o);
    o.scope.include_first = 1;
    nm_group_set *s = nm_prune_groups(m, &o);
    cr_assert_not_null(s, "%s", nm_errmsg());
    expect_members(m, s, "a", 2, "a:out:2 bn_a:norm:2 bn_c:norm:2 c:in:2");
    expect_members(m, s, "b", 1, "b:out:1 bn_c:norm:5 c:in:5");
    expect_members(m, s, "c", 4, "c:out:4 fc:in:4");
    cr_assert(s->groups[group_of(m, s, "b", 1)].prunable);
    int fg = group_of(m, s, "fc", 0);
    cr_assert(!s->groups[fg].prunable && !strcmp(s->groups[fg].why, "graph output"));
    cr_assert_eq(s->n_groups, 4 + 3 + 5 + 2);
    /* remove b's channel 1 and a's channel 0: the concat loses offsets 0 and 5 */
    cr_assert_eq(nm_group_remove(m, s, group_of(m, s, "b", 1)), NM_OK);
    cr_assert_eq(nm_group_remove(m, s, group_of(m, s, "a", 0)), NM_OK);
    cr_assert_eq(nm_u8(L(m, "c")->in_chans)[5], 0);
    cr_assert_eq(nm_u8(L(m, "c")->in_chans)[0], 0);
    cr_assert_eq(nm_u8(L(m, "c")->in_chans)[4], 1);
    nm_model *sh = shrunk(m);
    cr_assert_eq(L(sh, "a")->out_c, 3);
    cr_assert_eq(L(sh, "b")->out_c, 2);
    cr_assert_eq(L(sh, "cat")->out_c, 5);
    cr_assert_eq(L(sh, "bn_c")->out_c, 5);
    cr_assert_eq(L(sh, "c")->in_c, 5);
    same_forward(m, sh, 2);
    nm_model_free(sh);
    nm_group_set_free(s);
    nm_model_free(m);
}

/* x (6) -> relu -> [gap -> sq (3) -> relu -> ex (6) -> sigmoid] -> mul ->
 * y (4, 3x3) -> gap -> flat -> fc (2). */
static nm_model *se_net(void)
{
    nm_model *m = nm_model_new("se", 3, 6, 6);
    int x = nm_add_conv(m, "x", NM_INPUT, 6, 3, 3, 1, 1, 1, 1);
    int xr = nm_add_relu(m, "xr", x, 0);
    nm_add_gap(m, "pool", xr);
    nm_add_conv(m, "sq", NM_PREV, 3, 1, 1, 1, 0, 1, 1);
    nm_add_relu(m, "sqr", NM_PREV, 0);
    nm_add_conv(m, "ex", NM_PREV, 6, 1, 1, 1, 0, 1, 1);
    int sig = nm_add_unary(m, "sig", NM_LAYER_SIGMOID, NM_PREV, 0, 0);
    nm_add_binary(m, "scale", NM_LAYER_MUL, xr, sig);
    nm_add_conv(m, "y", NM_PREV, 4, 3, 3, 1, 1, 1, 1);
    nm_add_gap(m, "gap", NM_PREV);
    nm_add_flatten(m, "flat", NM_PREV);
    cr_assert(nm_add_linear(m, "fc", NM_PREV, 2, 1) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 6);
    random_biases(m, 7);
    return m;
}

Test(groups, squeeze_excitation)
{
    nm_model *m = se_net();
    nm_group_opts o;
    nm_group_opts_init(&o);
    o.scope.include_first = 1;
    nm_group_set *s = nm_prune_groups(m, &o);
    cr_assert_not_null(s, "%s", nm_errmsg());
    /* x's channel 1 and the gate's channel 1 scale each other */
    expect_members(m, s, "x", 1, "x:out:1 sq:in:1 ex:out:1 y:in:1");
    expect_members(m, s, "sq", 2, "sq:out:2 ex:in:2");
    int g = group_of(m, s, "ex", 1);
    cr_assert_eq(g, group_of(m, s, "x", 1));
    cr_assert_eq(s->groups[g].rows, 2);
    cr_assert(s->groups[g].prunable && !s->groups[g].residual);
    cr_assert_eq(nm_group_remove(m, s, g), NM_OK);
    cr_assert_eq(nm_group_remove(m, s, group_of(m, s, "sq", 0)), NM_OK);
    nm_model *sh = shrunk(m);
    cr_assert_eq(L(sh, "x")->out_c, 5);
    cr_assert_eq(L(sh, "ex")->out_c, 5);
    cr_assert_eq(L(sh, "sq")->in_c, 5);
    cr_assert_eq(L(sh, "sq")->out_c, 2);
    cr_assert_eq(L(sh, "scale")->out_c, 5);
    cr_assert_eq(L(sh, "y")->in_c, 5);
    same_forward(m, sh, 2);
    nm_model_free(sh);
    nm_group_set_free(s);
    nm_model_free(m);
}

Test(groups, shuffle_pins_and_dwconv_follows)
{
    nm_model *m = nm_model_new("shuf", 3, 6, 6);
    int a = nm_add_conv(m, "a", NM_INPUT, 4, 3, 3, 1, 1, 1, 1);
    nm_layer l;
    memset(&l, 0, sizeof l);
    snprintf(l.name, sizeof l.name, "shuffle");
    l.kind = NM_LAYER_SHUFFLE, l.n_inputs = 1, l.inputs[0] = a, l.groups = 2;
    cr_assert(nm_model_append(m, &l) >= 0, "%s", nm_errmsg());
    nm_add_conv(m, "b", NM_PREV, 6, 1, 1, 1, 0, 1, 1);
    nm_add_bn(m, "bn_b", NM_PREV);
    nm_add_dwconv(m, "dw", NM_PREV, 3, 1, 1);
    nm_add_conv(m, "c", NM_PREV, 3, 1, 1, 1, 0, 1, 1);
    nm_add_gap(m, "gap", NM_PREV);
    nm_add_flatten(m, "flat", NM_PREV);
    cr_assert(nm_add_linear(m, "fc", NM_PREV, 2, 1) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 8);
    random_biases(m, 9);
    nm_group_set *s = nm_prune_groups(m, NULL);
    cr_assert_not_null(s, "%s", nm_errmsg());
    int g = group_of(m, s, "a", 0);
    cr_assert(!s->groups[g].prunable);
    cr_assert_str_eq(s->groups[g].why, "reshape/transpose/shuffle");
    expect_members(m, s, "b", 3, "b:out:3 bn_b:norm:3 dw:out:3 c:in:3");
    cr_assert_eq(nm_group_remove(m, s, group_of(m, s, "b", 3)), NM_OK);
    nm_model *sh = shrunk(m);
    cr_assert_eq(L(sh, "a")->out_c, 4);
    cr_assert_eq(L(sh, "b")->out_c, 5);
    cr_assert_eq(L(sh, "dw")->out_c, 5);
    cr_assert_eq(L(sh, "c")->in_c, 5);
    same_forward(m, sh, 2);
    nm_model_free(sh);
    nm_group_set_free(s);
    nm_model_free(m);
}

Test(groups, flatten_blocks)
{
    nm_model *m = nm_model_new("flat", 2, 4, 4);
    nm_add_conv(m, "a", NM_INPUT, 3, 3, 3, 1, 1, 1, 1);
    nm_add_relu(m, "r", NM_PREV, 0);
    nm_add_flatten(m, "flat", NM_PREV);
    nm_add_linear(m, "fc1", NM_PREV, 5, 1);
    cr_assert(nm_add_linear(m, "fc2", NM_PREV, 2, 1) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 21);
    random_biases(m, 22);
    nm_group_opts o;
    nm_group_opts_init(&o);
    o.scope.include_first = 1;
    nm_group_set *s = nm_prune_groups(m, &o);
    cr_assert_not_null(s, "%s", nm_errmsg());
    /* channel 1 of a is features 16..31 of the flattened 3 x 4 x 4 */
    char want[1024] = "a:out:1";
    for (int f = 16; f < 32; f++)
        snprintf(want + strlen(want), sizeof want - strlen(want), " fc1:in:%d", f);
    expect_members(m, s, "a", 1, want);
    cr_assert_eq(nm_group_remove(m, s, group_of(m, s, "a", 1)), NM_OK);
    cr_assert_eq(nm_group_remove(m, s, group_of(m, s, "fc1", 3)), NM_OK);
    nm_model *sh = shrunk(m);
    cr_assert_eq(L(sh, "a")->out_c, 2);
    cr_assert_eq(L(sh, "fc1")->in_c, 32);
    cr_assert_eq(L(sh, "fc1")->out_c, 4);
    cr_assert_eq(L(sh, "fc2")->in_c, 4);
    same_forward(m, sh, 2);
    nm_model_free(sh);
    nm_group_set_free(s);
    nm_model_free(m);
}

Test(groups, reshape_keeping_channels)
{
    /* a conv map turned into tokens: (4, 4, 4) -> (4, 16, 1) keeps C */
    nm_model *m = nm_model_new("tok", 2, 4, 4);
    nm_add_conv(m, "a", NM_INPUT, 4, 3, 3, 1, 1, 1, 1);
    nm_layer l;
    memset(&l, 0, sizeof l);
    snprintf(l.name, sizeof l.name, "tokens");
    l.kind = NM_LAYER_RESHAPE, l.n_inputs = 1, l.inputs[0] = 0;
    l.out_c = 4, l.out_h = 16, l.out_w = 1;
    cr_assert(nm_model_append(m, &l) >= 0, "%s", nm_errmsg());
    nm_add_linear(m, "tok", NM_PREV, 5, 1);
    nm_add_gelu(m, "g", NM_PREV);
    nm_add_gap(m, "gap", NM_PREV);
    nm_add_flatten(m, "flat", NM_PREV);
    cr_assert(nm_add_linear(m, "fc", NM_PREV, 2, 1) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 31);
    random_biases(m, 32);
    nm_group_opts o;
    nm_group_opts_init(&o);
    o.scope.include_first = 1;
    nm_group_set *s = nm_prune_groups(m, &o);
    cr_assert_not_null(s, "%s", nm_errmsg());
    expect_members(m, s, "a", 2, "a:out:2 tok:in:2");
    cr_assert_eq(nm_group_remove(m, s, group_of(m, s, "a", 2)), NM_OK);
    nm_model *sh = shrunk(m);
    cr_assert_eq(L(sh, "a")->out_c, 3);
    cr_assert_eq(L(sh, "tokens")->out_c, 3);
    cr_assert_eq(L(sh, "tok")->in_c, 3);
    same_forward(m, sh, 2);
    nm_model_free(sh);
    nm_group_set_free(s);
    nm_model_free(m);

    /* a reshape that mixes channels pins */
    m = nm_model_new("mix", 2, 4, 4);
    nm_add_conv(m, "a", NM_INPUT, 4, 3, 3, 1, 1, 1, 1);
    l.out_c = 8, l.out_h = 8, l.out_w = 1;
    cr_assert(nm_model_append(m, &l) >= 0, "%s", nm_errmsg());
    cr_assert(nm_add_linear(m, "tok", NM_PREV, 5, 1) >= 0, "%s", nm_errmsg());
    nm_add_gap(m, "gap", NM_PREV);
    s = nm_prune_groups(m, &o);
    cr_assert_not_null(s, "%s", nm_errmsg());
    int g = group_of(m, s, "a", 0);
    cr_assert_str_eq(s->groups[g].why, "reshape/transpose/shuffle");
    nm_group_set_free(s);
    nm_model_free(m);
}

/* in (8 features x 5 tokens) -> pre (8) -> qkv (24) -> q, k, v (8 each, 2
 * heads of 4) -> scores -> softmax -> context -> out (8) -> add with pre
 * -> fc (3). */
static nm_model *attn_net(void)
{
    nm_model *m = nm_model_new("attn", 8, 5, 1);
    int pre = nm_add_linear(m, "pre", NM_INPUT, 8, 1);
    int qkv = nm_add_linear(m, "qkv", pre, 24, 1);
    int q = nm_add_slice(m, "q", qkv, NM_AXIS_CHANNEL, 0, 8);
    int k = nm_add_slice(m, "k", qkv, NM_AXIS_CHANNEL, 8, 8);
    int v = nm_add_slice(m, "v", qkv, NM_AXIS_CHANNEL, 16, 8);
    nm_add_matmul(m, "scores", q, k, 2, 1);
    int sm = nm_add_softmax_heads(m, "softmax", NM_PREV, 2);
    nm_add_matmul(m, "context", sm, v, 2, 0);
    int out = nm_add_linear(m, "out", NM_PREV, 8, 1);
    nm_add_add(m, "add", out, pre);
    cr_assert(nm_add_linear(m, "fc", NM_PREV, 3, 1) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 10);
    random_biases(m, 11);
    return m;
}

Test(groups, attention_dims_and_heads)
{
    nm_model *m = attn_net();
    nm_group_set *s = nm_prune_groups(m, NULL);
    cr_assert_not_null(s, "%s", nm_errmsg());
    /* head dimension 1 of Q and K in both heads (d = 4) */
    expect_members(m, s, "qkv", 1, "qkv:out:1 qkv:out:5 qkv:out:9 qkv:out:13");
    /* head dimension 2 of V and the context, read by out */
    expect_members(m, s, "qkv", 18, "qkv:out:18 qkv:out:22 out:in:2 out:in:6");
    /* pre's channels: a residual stream with out's, not prunable without allow_add */
    int pg = group_of(m, s, "pre", 0);
    cr_assert_eq(pg, group_of(m, s, "out", 0));
    cr_assert(s->groups[pg].residual && !s->groups[pg].prunable);
    cr_assert(s->groups[group_of(m, s, "qkv", 1)].attention);
    cr_assert_eq(nm_group_remove(m, s, group_of(m, s, "qkv", 1)), NM_OK);
    cr_assert_eq(nm_group_remove(m, s, group_of(m, s, "qkv", 18)), NM_OK);
    nm_model *sh = shrunk(m);
    cr_assert_eq(L(sh, "qkv")->out_c, 18);
    cr_assert_eq(L(sh, "q")->out_c, 6);
    cr_assert_eq(L(sh, "k")->slice_start, 6);
    cr_assert_eq(L(sh, "v")->out_c, 6);
    cr_assert_eq(L(sh, "scores")->heads, 2);
    cr_assert_eq(L(sh, "out")->in_c, 6);
    same_forward(m, sh, 2);
    nm_model_free(sh);
    nm_group_set_free(s);
    nm_model_free(m);

    /* heads mode: head 0 is Q, K, V rows 0..3 and out's inputs 0..3 */
    m = attn_net();
    nm_group_opts o;
    nm_group_opts_init(&o);
    o.heads = 1;
    s = nm_prune_groups(m, &o);
    cr_assert_not_null(s, "%s", nm_errmsg());
    expect_members(m, s, "qkv", 6,
                   "qkv:out:4 qkv:out:5 qkv:out:6 qkv:out:7 qkv:out:12 qkv:out:13 qkv:out:14 "
                   "qkv:out:15 qkv:out:20 qkv:out:21 qkv:out:22 qkv:out:23 out:in:4 out:in:5 "
                   "out:in:6 out:in:7");
    int hg = group_of(m, s, "qkv", 0);
    cr_assert_eq(s->groups[hg].head, 0);
    cr_assert_eq(s->groups[hg].rows, 12);
    cr_assert_eq(nm_group_remove(m, s, hg), NM_OK);
    sh = shrunk(m);
    cr_assert_eq(L(sh, "qkv")->out_c, 12);
    cr_assert_eq(L(sh, "scores")->heads, 1);
    cr_assert_eq(L(sh, "softmax")->heads, 1);
    cr_assert_eq(L(sh, "out")->in_c, 4);
    same_forward(m, sh, 2);
    nm_model_free(sh);
    nm_group_set_free(s);
    nm_model_free(m);
}

Test(groups, nffs_counts_rows_of_multi_row_groups)
{
    /* a Q/K head-dimension group holds 4 rows of qkv: NFFS removes exactly
     * u rows, whole groups where they fit, single rows otherwise */
    for (int u = 1; u <= 7; u++) {
        nm_model *m = attn_net();
        int qkv = nm_model_find(m, "qkv");
        cr_assert_eq(nm_prune_nffs(m, qkv, 2, 4, NM_GROUP_AUTO, u, 1), NM_OK, "%s", nm_errmsg());
        int gone = 0;
        for (int t = 0; t < 24; t++)
            gone += !nm_u8(m->layers[qkv].filters)[t];
        cr_assert_eq(gone, u, "u = %d", u);
        nm_model *sh = shrunk(m);
        same_forward(m, sh, 2);
        nm_model_free(sh);
        nm_model_free(m);
    }
}

/* s (2) -> i (3) -> relu -> p (2) -> add (p + s) -> h (3): the stream
 * groups hold rows of s and p, the inner groups one row of i. */
static nm_model *reduction_net(void)
{
    nm_model *m = nm_model_new("red", 1, 2, 2);
    int sx = nm_add_conv(m, "s", NM_INPUT, 2, 1, 1, 1, 0, 1, 0);
    nm_add_conv(m, "i", sx, 3, 1, 1, 1, 0, 1, 0);
    nm_add_relu(m, "r", NM_PREV, 0);
    int px = nm_add_conv(m, "p", NM_PREV, 2, 1, 1, 1, 0, 1, 0);
    nm_add_add(m, "add", px, sx);
    cr_assert(nm_add_conv(m, "h", NM_PREV, 3, 1, 1, 1, 0, 1, 0) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 40);
    /* mean |w| per row: stream 0 = (0.5 + 1.5) / 2 = 1.0 (sum 2.0, max
     * 1.5), stream 1 = 3 and 3; inner 0 = 1.2, inner 1 = 1.4, inner 2 = 5 */
    float *ws = nm_f32(L(m, "s")->weight), *wp = nm_f32(L(m, "p")->weight);
    float *wi = nm_f32(L(m, "i")->weight);
    ws[0] = 0.5f, ws[1] = 3.0f;
    for (int j = 0; j < 3; j++)
        wp[j] = 1.5f, wp[3 + j] = 3.0f;
    wi[0] = wi[1] = 1.2f, wi[2] = wi[3] = -1.4f, wi[4] = wi[5] = 5.0f;
    return m;
}

Test(groups, reduction_mean_sum_max)
{
    const nm_group_reduction reds[3] = {NM_GRED_MEAN, NM_GRED_SUM, NM_GRED_MAX};
    /* 7 candidate rows (two 2-row streams, three inner rows); 2 go: the
     * mean takes stream 0 (1.0), sum (2.0) and max (1.5) inner 0 and 1 */
    const int stream0_gone[3] = {1, 0, 0};
    for (int k = 0; k < 3; k++) {
        nm_model *m = reduction_net();
        nm_filter_opts o;
        nm_filter_opts_init(&o, 2.0 / 7.0);
        o.allow_add = 1;
        o.reduction = reds[k];
        cr_assert_eq(nm_prune_filters(m, &o), NM_OK, "%s", nm_errmsg());
        const uint8_t *fs = L(m, "s")->filters ? nm_u8(L(m, "s")->filters) : NULL;
        const uint8_t *fi = L(m, "i")->filters ? nm_u8(L(m, "i")->filters) : NULL;
        int s0 = fs && !fs[0], i0 = fi && !fi[0], i1 = fi && !fi[1];
        cr_assert_eq(s0, stream0_gone[k], "%s: stream 0", nm_group_reduction_name(reds[k]));
        cr_assert_eq(i0 + i1, stream0_gone[k] ? 0 : 2, "%s: inner rows",
                     nm_group_reduction_name(reds[k]));
        if (s0)
            cr_assert(!nm_u8(L(m, "p")->filters)[0], "p follows s on the stream");
        nm_model *sh = shrunk(m);
        same_forward(m, sh, 2);
        nm_model_free(sh);
        nm_model_free(m);
    }
}

/* normalize = mean: each group's score over the mean of its family (the
 * groups led by the same layer). reduction_net with inner rows of mean |w|
 * 10, 13, 50 (family mean 73 / 3 = 24.33: 0.411, 0.534, 2.055) and the
 * stream groups at 1.0 and 3.0 (family mean 2: 0.5, 1.5). Two of the 7
 * candidate rows go. Raw scores (none): stream 0 (1.0, two rows). Mean:
 * inner 0 (0.411), then stream 0 (0.5) has 2 rows for the 1 left and is
 * skipped, inner 1 (0.534) goes: the stream stays. */
Test(groups, normalize_mean_by_family)
{
    for (int k = 0; k < 2; k++) {
        nm_model *m = reduction_net();
        float *wi = nm_f32(L(m, "i")->weight);
        wi[0] = wi[1] = 10.0f, wi[2] = wi[3] = -13.0f, wi[4] = wi[5] = 50.0f;
        nm_filter_opts o;
        nm_filter_opts_init(&o, 2.0 / 7.0);
        o.allow_add = 1;
        o.normalize = k ? NM_GNORM_MEAN : NM_GNORM_NONE;
        cr_assert_eq(nm_prune_filters(m, &o), NM_OK, "%s", nm_errmsg());
        const uint8_t *fs = L(m, "s")->filters ? nm_u8(L(m, "s")->filters) : NULL;
        const uint8_t *fi = L(m, "i")->filters ? nm_u8(L(m, "i")->filters) : NULL;
        int s0 = fs && !fs[0], s1 = fs && !fs[1];
        int i0 = fi && !fi[0], i1 = fi && !fi[1], i2 = fi && !fi[2];
        cr_assert_eq(s0, !k, "normalize %d: stream 0", k);
        cr_assert_eq(s1 + i2, 0, "normalize %d: stream 1 and inner 2 stay", k);
        cr_assert_eq(i0, k, "normalize %d: inner 0", k);
        cr_assert_eq(i1, k, "normalize %d: inner 1", k);
        nm_model *sh = shrunk(m);
        same_forward(m, sh, 2);
        nm_model_free(sh);
        nm_model_free(m);
    }
    /* JointNF takes the option too: 1 round, 2:2 (no weight pruned), the
     * same two rows */
    nm_model *m = reduction_net();
    float *wi = nm_f32(L(m, "i")->weight);
    wi[0] = wi[1] = 10.0f, wi[2] = wi[3] = -13.0f, wi[4] = wi[5] = 50.0f;
    nm_jointnf_opts j;
    nm_jointnf_opts_init(&j, 2, 2, 2.0 / 7.0, 1);
    j.allow_add = 1;
    j.normalize = NM_GNORM_MEAN;
    cr_assert_eq(nm_prune_jointnf(m, &j), NM_OK, "%s", nm_errmsg());
    const uint8_t *fi = nm_u8(L(m, "i")->filters);
    cr_assert(!fi[0] && !fi[1] && fi[2], "JointNF, normalize mean: inner 0 and 1 go");
    cr_assert(!L(m, "s")->filters || (nm_u8(L(m, "s")->filters)[0] && nm_u8(L(m, "s")->filters)[1]),
              "JointNF, normalize mean: the stream stays");
    nm_model_free(m);
}

/* Copies of every parameter slot of every layer, to check "unchanged". */
static int same_model(const nm_model *a, const nm_model *b)
{
    for (int i = 0; i < a->n_layers; i++) {
        nm_tensor **sa[NM_LAYER_SLOTS], **sb[NM_LAYER_SLOTS];
        nm_layer_slots(&a->layers[i], sa);
        nm_layer_slots(&b->layers[i], sb);
        for (int k = 0; k < NM_LAYER_SLOTS; k++) {
            if (!*sa[k] != !*sb[k])
                return 0;
            if (*sa[k] && memcmp((*sa[k])->data, (*sb[k])->data,
                                 (size_t)(*sa[k])->numel * nm_dtype_size((*sa[k])->dtype)))
                return 0;
        }
    }
    return 1;
}

Test(groups, heads_bad_options_leave_the_model)
{
    nm_model *m = se_net();
    nm_model *ref = nm_model_clone(m);
    nm_filter_opts fo;
    nm_filter_opts_init(&fo, 0.3);
    fo.heads = 1;
    cr_assert_eq(nm_prune_filters(m, &fo), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "heads = 1") && strstr(nm_errmsg(), "no attention"), "%s",
              nm_errmsg());
    nm_jointnf_opts jo;
    nm_jointnf_opts_init(&jo, 2, 4, 0.3, 2);
    jo.heads = 1;
    cr_assert_eq(nm_prune_jointnf(m, &jo), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "no attention"), "%s", nm_errmsg());
    cr_assert(same_model(m, ref), "the model changed");
    /* a cap that forbids the target */
    nm_filter_opts_init(&fo, 0.3);
    fo.max_sparsity = 0;
    cr_assert_eq(nm_prune_filters(m, &fo), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "max_sparsity 0 forbids"), "%s", nm_errmsg());
    nm_jointnf_opts_init(&jo, 2, 4, 0.3, 2);
    jo.min_density = 1;
    cr_assert_eq(nm_prune_jointnf(m, &jo), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "min_density 1 forbids"), "%s", nm_errmsg());
    cr_assert(same_model(m, ref), "the model changed");
    nm_model_free(m);
    nm_model_free(ref);

    m = attn_net();
    ref = nm_model_clone(m);
    nm_filter_opts_init(&fo, 0.3);
    fo.heads = 2;
    cr_assert_eq(nm_prune_filters(m, &fo), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "'scores'") && strstr(nm_errmsg(), "2 heads"), "%s", nm_errmsg());
    cr_assert(same_model(m, ref), "the model changed");
    /* one head of two goes */
    fo.heads = 1;
    fo.ratio = 0;
    cr_assert_eq(nm_prune_filters(m, &fo), NM_OK, "%s", nm_errmsg());
    int gone = 0;
    for (int t = 0; t < 24; t++)
        gone += !nm_u8(L(m, "qkv")->filters)[t];
    cr_assert_eq(gone, 12);
    nm_model *sh = shrunk(m);
    cr_assert_eq(L(sh, "scores")->heads, 1);
    same_forward(m, sh, 2);
    nm_model_free(sh);
    nm_model_free(m);
    nm_model_free(ref);
}

#endif

/* Every conv/linear keeps at least `floor` of its filters, every tensor at
 * least one channel, and the classifier all its rows. */
static void check_guarantees(const nm_model *m, double min_density, const char *what)
{
    int outs[NM_MAX_OUTPUTS];
    int no = nm_model_outputs(m, outs, NM_MAX_OUTPUTS);
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        int kept = nm_keep_count(l->filters, l->out_c);
        cr_assert_geq(kept, 1, "%s: %s has no filter", what, l->name);
        if (l->kind == NM_LAYER_CONV || l->kind == NM_LAYER_LINEAR)
            cr_assert_geq(kept, (int)ceil(min_density * l->out_c - 1e-9), "%s: %s keeps %d of %d",
                          what, l->name, kept, l->out_c);
        for (int k = 0; k < no; k++)
            if (outs[k] == i)
                cr_assert_eq(kept, l->out_c, "%s: output rows of %s removed", what, l->name);
    }
}

static const zoo_vit_cfg tiny_cfg = {"vit_tiny", 3, 16, 8, 16, 4, 32, 2, 5};

static nm_model *model_of(const char *name)
{
    if (!strcmp(name, "vit_tiny")) {
        nm_model *m = zoo_vit(&tiny_cfg);
        cr_assert(m, "%s", nm_errmsg());
        nm_model_init_weights(m, 12);
        random_biases(m, 13);
        return m;
    }
    int small = strncmp(name, "fmnist", 6) != 0;
    nm_model *m = ex_zoo(name, small ? 32 : 0, small ? 32 : 0);
    ex_randomize_bn(m, 2);
    random_biases(m, 3);
    return m;
}

static int64_t rows_removed(const nm_model *m)
{
    int64_t r = 0;
    for (int i = 0; i < m->n_layers; i++)
        r += m->layers[i].out_c - nm_keep_count(m->layers[i].filters, m->layers[i].out_c);
    return r;
}

/* Prunes with `method` and checks shrink == masked and the guarantees. */
static void zoo_case(const char *name, int method, int allow_add)
{
    nm_model *m = model_of(name);
    char what[96];
    snprintf(what, sizeof what, "%s method %d allow_add %d", name, method, allow_add);
    if (method == 0) {
        nm_filter_opts o;
        nm_filter_opts_init(&o, 0.3);
        o.allow_add = allow_add;
        o.scope.include_last = 1;
        o.min_density = 0.25;
        cr_assert_eq(nm_prune_filters(m, &o), NM_OK, "%s: %s", what, nm_errmsg());
        check_guarantees(m, 0.25, what);
    } else if (method == 1) {
        for (int i = 0; i < m->n_layers; i++) {
            nm_layer *l = &m->layers[i];
            if (((l->kind == NM_LAYER_CONV && l->groups <= 1) || l->kind == NM_LAYER_LINEAR) &&
                i != m->n_layers - 1) {
                int u = nm_nffs_u(l, 0.25);
                cr_assert_eq(nm_prune_nffs(m, i, 2, 4, NM_GROUP_AUTO, u < l->out_c ? u : 0, 1), NM_OK,
                             "%s: %s", what, nm_errmsg());
            }
            if (i > 40)
                break; /* the first blocks are enough */
        }
    } else {
        nm_jointnf_opts o;
        nm_jointnf_opts_init(&o, 2, 4, 0.3, 2);
        o.allow_add = allow_add;
        o.scope.include_last = 1;
        cr_assert_eq(nm_prune_jointnf(m, &o), NM_OK, "%s: %s", what, nm_errmsg());
        check_guarantees(m, 0, what);
        int fc = m->n_layers - 1;
        cr_assert_eq(m->layers[fc].wn, 2, "%s: the classifier's N:M is pruned", what);
    }
    cr_assert_gt(rows_removed(m), 0, "%s: nothing removed", what);
    nm_model *s = shrunk(m);
    cr_assert_lt(nm_model_params(s), nm_model_params(m), "%s: shrink removed nothing", what);
    same_forward(m, s, 2);
    nm_model_free(s);
    nm_model_free(m);
}

#ifndef GROUPS_LARGE
Test(groups, zoo_shrink_equals_masked_small)
{
    const char *names[] = {"fmnist_cnn", "fmnist_resnet", "vit_tiny"};
    for (int n = 0; n < 3; n++)
        for (int method = 0; method < 3; method++)
            for (int add = 0; add < 2; add++)
                zoo_case(names[n], method, add);
}
#endif

#ifndef GROUPS_LARGE
/* JointNF with allow_add on a ViT removes channels of the residual stream
 * (every LayerNorm's keep vector); shrink cuts them, so the embedding width
 * really shrinks, and the result is the masked model's. */
Test(groups, vit_residual_width_shrinks)
{
    nm_model *m = model_of("vit_tiny");
    nm_jointnf_opts o;
    nm_jointnf_opts_init(&o, 2, 4, 0.3, 2);
    o.allow_add = 1;
    cr_assert_eq(nm_prune_jointnf(m, &o), NM_OK, "%s", nm_errmsg());
    int ln = -1;
    for (int i = 0; i < m->n_layers && ln < 0; i++)
        if (m->layers[i].kind == NM_LAYER_LAYERNORM)
            ln = i;
    cr_assert_geq(ln, 0);
    const nm_layer *l = &m->layers[ln];
    cr_assert_not_null(l->filters, "no stream channel removed");
    const int kept = nm_keep_count(l->filters, l->out_c);
    cr_assert_lt(kept, l->out_c);
    nm_model *s = shrunk(m);
    const int sl = nm_model_find(s, l->name);
    cr_assert_geq(sl, 0);
    cr_assert_eq(s->layers[sl].out_c, kept, "the stream was not cut: %d channels, %d kept",
                 s->layers[sl].out_c, kept);
    same_forward(m, s, 2);
    nm_model_free(s);
    nm_model_free(m);
}
#endif

#ifdef GROUPS_LARGE
/* test_groups_zoo (suite slow): the larger zoo models at 32 x 32. */
Test(groups, zoo_shrink_equals_masked_large, .timeout = 900)
{
    const char *names[] = {"resnet18", "mobilenet_v2", "resnet50", "vgg16"};
    for (int n = 0; n < 4; n++)
        for (int method = 0; method < 3; method++)
            for (int add = 0; add < 2; add++)
                if (n < 2 || add == 1)
                    zoo_case(names[n], method, add);
}
#endif

#ifndef GROUPS_LARGE
Test(groups, caps_hold_per_group)
{
    nm_model *m = model_of("mobilenet_v2");
    nm_filter_opts o;
    nm_filter_opts_init(&o, 0.6);
    o.allow_add = 1;
    o.max_sparsity = 0.5;
    int64_t unmet = -1;
    o.unmet = &unmet;
    cr_assert_eq(nm_prune_filters(m, &o), NM_OK, "%s", nm_errmsg());
    check_guarantees(m, 0.5, "mobilenet_v2 capped");
    cr_assert_gt(unmet, 0, "0.6 cannot be met with every layer at most half pruned");
    nm_model_free(m);
}
#endif
