/* nm_model_shrink (engine/shrink.c): the shrunk model computes what
 * nm_forward computes for the masked original (random input), and its
 * parameter count equals the kept counts worked out here from the
 * filters vectors; hand-made cases for the residual-add and BN rules. */
#include "../io/export_util.h"
#include "prune.h"
#include "shrink.h"

static int keep(const nm_layer *l)
{
    return nm_keep_count(l->filters, l->out_c);
}

static nm_model *shrink_ok(nm_model *m)
{
    nm_model *s = nm_model_shrink(m);
    cr_assert_not_null(s, "%s", nm_errmsg());
    cr_assert_eq(s->n_layers, m->n_layers);
    for (int i = 0; i < m->n_layers; i++)
        cr_assert_str_eq(s->layers[i].name, m->layers[i].name);
    return s;
}

/* Parameters of a chain network (no adds) after shrinking, from the
 * filters vectors alone: every prunable layer keeps its kept filters and
 * the kept filters of the prunable layer before it (times H*W of a
 * flatten in between); a BN keeps its producer's kept filters. */
static int64_t chain_params(const nm_model *m)
{
    int64_t total = 0;
    int prev = m->in_c, spread = 1;
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        if (l->kind == NM_LAYER_FLATTEN) {
            spread *= l->in_h * l->in_w;
        } else if (l->kind == NM_LAYER_BN) {
            total += 2 * (int64_t)prev;
        } else if (nm_layer_prunable(l)) {
            cr_assert_neq(l->kind, NM_LAYER_DWCONV, "chain_params: no dwconvs");
            int64_t k = l->kind == NM_LAYER_LINEAR ? 1 : (int64_t)l->kh * l->kw;
            int r = keep(l);
            total += (int64_t)r * prev * spread * k + (l->bias ? r : 0);
            prev = r;
            spread = 1;
        }
    }
    return total;
}

static void check_forward(nm_model *m, nm_model *s, int batch)
{
    nm_tensor *x = ex_input(m, batch, 11);
    double d = ex_same_outputs(m, s, x, 1e-5);
    cr_log_info("%s: shrunk vs masked max relative difference %g, params %lld -> %lld", m->name, d,
                (long long)nm_model_params(m), (long long)nm_model_params(s));
    nm_tensor_release(x);
}

Test(shrink, fmnist_cnn_filters)
{
    nm_model *m = ex_zoo("fmnist_cnn", 0, 0);
    ex_randomize_bn(m, 2);
    nm_filter_opts fo;
    nm_filter_opts_init(&fo, 0.4);
    cr_assert_eq(nm_prune_filters(m, &fo), NM_OK, "%s", nm_errmsg());
    nm_nm_opts no;
    nm_nm_opts_init(&no, 2, 4);
    cr_assert_eq(nm_prune_nm_model(m, &no, NULL), NM_OK, "%s", nm_errmsg());
    nm_model *s = shrink_ok(m);
    int64_t want = chain_params(m);
    cr_assert_lt(want, nm_model_params(m), "nothing was pruned");
    cr_assert_eq(nm_model_params(s), want, "%lld params, expected %lld",
                 (long long)nm_model_params(s), (long long)want);
    for (int i = 0; i < m->n_layers; i++)
        if (nm_layer_prunable(&m->layers[i])) {
            cr_assert_eq(s->layers[i].out_c, keep(&m->layers[i]), "%s", m->layers[i].name);
            cr_assert_eq(nm_keep_count(s->layers[i].filters, s->layers[i].out_c), s->layers[i].out_c);
        }
    check_forward(m, s, 3);
    nm_model_free(s);
    nm_model_free(m);
}

/* VGG-style: convs with bias and no BN (a removed filter is 0 because its
 * bias counts as 0), max pools, a classifier of linears; JointNF. */
Test(shrink, vgg_style_jointnf)
{
    nm_model *m = nm_model_new("vggish", 3, 16, 16);
    const int widths[] = {8, 8, 16, 16};
    for (int i = 0; i < 4; i++) {
        char name[32];
        snprintf(name, sizeof name, "features.%d", 3 * i);
        nm_add_conv(m, name, NM_PREV, widths[i], 3, 3, 1, 1, 1, 1);
        snprintf(name, sizeof name, "features.%d", 3 * i + 1);
        nm_add_relu(m, name, NM_PREV, 0);
        snprintf(name, sizeof name, "features.%d", 3 * i + 2);
        nm_add_pool(m, name, NM_PREV, NM_LAYER_MAXPOOL, 2, i % 2 ? 2 : 1, 0);
    }
    nm_add_flatten(m, "flatten", NM_PREV);
    nm_add_linear(m, "classifier.0", NM_PREV, 32, 1);
    nm_add_relu(m, "classifier.1", NM_PREV, 0);
    cr_assert(nm_add_linear(m, "classifier.2", NM_PREV, 10, 1) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 9);
    nm_rng r;
    nm_rng_seed(&r, 4);
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].bias)
            for (int o = 0; o < m->layers[i].out_c; o++)
                nm_f32(m->layers[i].bias)[o] = (float)(0.3 * nm_rng_normal(&r));
    nm_jointnf_opts jo;
    nm_jointnf_opts_init(&jo, 2, 4, 0.4, 2);
    cr_assert_eq(nm_prune_jointnf(m, &jo), NM_OK, "%s", nm_errmsg());
    nm_model *s = shrink_ok(m);
    int64_t want = chain_params(m);
    cr_assert_lt(want, nm_model_params(m));
    cr_assert_eq(nm_model_params(s), want, "%lld params, expected %lld",
                 (long long)nm_model_params(s), (long long)want);
    check_forward(m, s, 2);
    nm_model_free(s);
    nm_model_free(m);
}

/* ResNet-18 without residual channels pruned: only the blocks' conv1 lose
 * filters, and conv2 of the same block loses those input channels. */
Test(shrink, resnet18_blocks)
{
    nm_model *m = ex_zoo("resnet18", 32, 32);
    ex_randomize_bn(m, 3);
    nm_filter_opts fo;
    nm_filter_opts_init(&fo, 0.3);
    fo.global = 0; /* round(0.3 * C_out) from every eligible layer */
    cr_assert_eq(nm_prune_filters(m, &fo), NM_OK, "%s", nm_errmsg());
    nm_model *s = shrink_ok(m);
    int64_t want = nm_model_params(m);
    int pruned_layers = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        if (!nm_layer_prunable(l) || keep(l) == l->out_c)
            continue;
        const char *dot = strrchr(l->name, '.');
        cr_assert(dot && !strcmp(dot, ".conv1"), "%s lost filters", l->name);
        char c2[NM_NAME_MAX];
        snprintf(c2, sizeof c2, "%.*s.conv2", (int)(dot - l->name), l->name);
        const nm_layer *n2 = &m->layers[nm_model_find(m, c2)];
        int64_t removed = l->out_c - keep(l);
        cr_assert_eq(removed, (l->out_c * 3 + 5) / 10, "%s", l->name);
        want -= removed * (l->in_c * l->kh * l->kw + 2) + removed * n2->out_c * n2->kh * n2->kw;
        cr_assert_eq(s->layers[i].out_c, keep(l));
        cr_assert_eq(s->layers[nm_model_find(s, c2)].in_c, keep(l));
        pruned_layers++;
    }
    cr_assert_eq(pruned_layers, 8, "%d blocks' conv1 lost filters, not 8", pruned_layers);
    cr_assert_eq(nm_model_params(s), want, "%lld params, expected %lld",
                 (long long)nm_model_params(s), (long long)want);
    check_forward(m, s, 2);
    nm_model_free(s);
    nm_model_free(m);
}

/* With residual channels pruned too (allow_add): a channel of an add goes
 * only if every side lost it; the outputs still match. */
Test(shrink, resnet18_residual_jointnf)
{
    nm_model *m = ex_zoo("resnet18", 32, 32);
    ex_randomize_bn(m, 8);
    nm_jointnf_opts jo;
    nm_jointnf_opts_init(&jo, 2, 4, 0.5, 1);
    jo.allow_add = 1;
    cr_assert_eq(nm_prune_jointnf(m, &jo), NM_OK, "%s", nm_errmsg());
    nm_model *s = shrink_ok(m);
    cr_assert_lt(nm_model_params(s), nm_model_params(m));
    /* a conv feeding no add keeps exactly its kept filters */
    for (int i = 0; i < m->n_layers; i++)
        if (nm_layer_prunable(&m->layers[i]) && !nm_feeds_add(m, i) && i != m->n_layers - 1)
            cr_assert_eq(s->layers[i].out_c, keep(&m->layers[i]), "%s", m->layers[i].name);
    check_forward(m, s, 2);
    nm_model_free(s);
    nm_model_free(m);
}

/* Channel c of an expand conv "features.N.conv.0.0" survives iff its
 * filter is kept and the block's project conv "features.N.conv.2" reads
 * it (an effective nonzero weight in column c: a heavily pruned project
 * conv may read fewer channels than the expand conv keeps). */
static int expand_survivors(const nm_model *m, const nm_layer *ex, const nm_layer *pr)
{
    int n = 0;
    for (int c = 0; c < ex->out_c; c++) {
        if (ex->filters && !nm_u8(ex->filters)[c])
            continue;
        int read = 0;
        for (int o = 0; o < pr->out_c && !read; o++) {
            int64_t k = (int64_t)o * pr->in_c + c;
            read = (!pr->mask || nm_u8(pr->mask)[k]) && (!pr->filters || nm_u8(pr->filters)[o]) &&
                   (!pr->in_chans || nm_u8(pr->in_chans)[c]) && nm_f32(pr->weight)[k] != 0.0f;
        }
        n += read;
    }
    (void)m;
    return n;
}

Test(shrink, mobilenet_v2_jointnf)
{
    nm_model *m = ex_zoo("mobilenet_v2", 32, 32);
    ex_randomize_bn(m, 5);
    nm_jointnf_opts jo;
    nm_jointnf_opts_init(&jo, 2, 4, 0.3, 1);
    cr_assert_eq(nm_prune_jointnf(m, &jo), NM_OK, "%s", nm_errmsg());
    nm_model *s = shrink_ok(m);
    int blocks = 0;
    for (int b = 2; b <= 17; b++) {
        char en[NM_NAME_MAX], dn[NM_NAME_MAX], pn[NM_NAME_MAX];
        snprintf(en, sizeof en, "features.%d.conv.0.0", b);
        snprintf(dn, sizeof dn, "features.%d.conv.1.0", b);
        snprintf(pn, sizeof pn, "features.%d.conv.2", b);
        int e = nm_model_find(m, en), d = nm_model_find(m, dn), p = nm_model_find(m, pn);
        cr_assert(e >= 0 && d >= 0 && p >= 0, "block %d", b);
        cr_assert_eq(m->layers[d].kind, NM_LAYER_DWCONV);
        int want = expand_survivors(m, &m->layers[e], &m->layers[p]);
        cr_assert_eq(s->layers[e].out_c, want, "%s: %d channels, expected %d", en,
                     s->layers[e].out_c, want);
        cr_assert_eq(s->layers[d].out_c, want);
        cr_assert_eq(s->layers[d].groups, want);
        cr_assert_eq(s->layers[p].in_c, want);
        blocks += want < m->layers[e].out_c;
    }
    cr_assert_gt(blocks, 8, "only %d blocks lost channels", blocks);
    check_forward(m, s, 2);
    nm_model_free(s);
    nm_model_free(m);
}

/* conv a and conv b (filter 1 removed by hand in both) -> add -> bn: the
 * BN turns the zero channel into beta - mean*scale, which the consumer
 * reads, so channel 1 must stay; with beta = gamma = 0 there it goes. */
static nm_model *add_then_bn(float beta1)
{
    nm_model *m = nm_model_new("addbn", 2, 6, 6);
    int a = nm_add_conv(m, "a", NM_INPUT, 4, 3, 3, 1, 1, 1, 1);
    int b = nm_add_conv(m, "b", NM_INPUT, 4, 1, 1, 1, 0, 1, 0);
    nm_add_add(m, "add", a, b);
    int bn = nm_add_bn(m, "bn", NM_PREV);
    nm_add_relu(m, "relu", NM_PREV, 0);
    nm_add_conv(m, "c", NM_PREV, 5, 3, 3, 1, 1, 1, 0);
    nm_add_gap(m, "gap", NM_PREV);
    nm_add_flatten(m, "flat", NM_PREV);
    cr_assert(nm_add_linear(m, "fc", NM_PREV, 3, 1) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 2);
    ex_randomize_bn(m, 3);
    for (int k = 0; k < 2; k++) {
        nm_layer *l = &m->layers[k == 0 ? a : b];
        l->filters = nm_tensor_new4(NM_U8, 1, 4, 0, 0, 0);
        nm_tensor_fill(l->filters, 1);
        nm_u8(l->filters)[1] = 0;
    }
    nm_f32(m->layers[a].bias)[1] = 0.9f; /* counts as 0: the filter is removed */
    nm_f32(m->layers[bn].beta)[1] = beta1;
    if (beta1 == 0.0f)
        nm_f32(m->layers[bn].gamma)[1] = 0.0f;
    return m;
}

Test(shrink, add_then_bn_keeps_a_live_channel)
{
    nm_model *m = add_then_bn(0.5f);
    nm_model *s = shrink_ok(m);
    cr_assert_eq(s->layers[0].out_c, 4, "channel 1 is read after the BN: it must stay");
    cr_assert_eq(nm_model_params(s), nm_model_params(m));
    check_forward(m, s, 2);
    nm_model_free(s);
    nm_model_free(m);
    m = add_then_bn(0.0f);
    s = shrink_ok(m);
    cr_assert_eq(s->layers[0].out_c, 3);
    cr_assert_eq(s->layers[1].out_c, 3);
    cr_assert_eq(s->layers[3].out_c, 3, "the BN loses the channel");
    cr_assert_eq(s->layers[5].in_c, 3);
    /* a: 1 row of 2*9 + bias, b: 1 row of 2, bn: 2, c: 5 * 9 */
    cr_assert_eq(nm_model_params(s), nm_model_params(m) - (18 + 1) - 2 - 2 - 45);
    check_forward(m, s, 2);
    nm_model_free(s);
    nm_model_free(m);
}

/* in_chans alone: the consumer ignores channel 2, so its producer need not
 * compute it (the producer's filter is kept and nonzero). */
Test(shrink, ignored_input_channel_removes_the_row)
{
    nm_model *m = nm_model_new("ign", 3, 5, 5);
    nm_add_conv(m, "p", NM_INPUT, 4, 3, 3, 1, 1, 1, 1);
    nm_add_bn(m, "pbn", NM_PREV);
    nm_add_relu(m, "r", NM_PREV, 6);
    nm_add_conv(m, "q", NM_PREV, 2, 3, 3, 1, 0, 1, 0);
    nm_add_flatten(m, "f", NM_PREV);
    cr_assert(nm_add_linear(m, "fc", NM_PREV, 2, 1) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 5);
    ex_randomize_bn(m, 6);
    nm_layer *q = &m->layers[3];
    q->in_chans = nm_tensor_new4(NM_U8, 1, 4, 0, 0, 0);
    nm_tensor_fill(q->in_chans, 1);
    nm_u8(q->in_chans)[2] = 0;
    nm_model *s = shrink_ok(m);
    cr_assert_eq(s->layers[0].out_c, 3);
    cr_assert_eq(s->layers[3].in_c, 3);
    cr_assert_eq(nm_model_params(s), nm_model_params(m) - (27 + 1) - 2 - 2 * 9);
    check_forward(m, s, 2);
    nm_model_free(s);
    nm_model_free(m);
}

Test(shrink, nothing_pruned_is_identity_and_empty_fails)
{
    nm_model *m = ex_zoo("fmnist_cnn", 0, 0);
    nm_model *s = shrink_ok(m);
    cr_assert_eq(nm_model_params(s), nm_model_params(m));
    check_forward(m, s, 1);
    nm_model_free(s);
    nm_model_free(m);
    m = nm_model_new("empty", 1, 2, 2);
    cr_assert_null(nm_model_shrink(m));
    cr_assert(strstr(nm_errmsg(), "no layers"), "%s", nm_errmsg());
    nm_model_free(m);
}

/* A grouped (not depthwise) conv keeps the channels on both of its sides
 * (removing one would break the groups); elsewhere filters still go. */
Test(shrink, grouped_conv_pins_its_channels)
{
    nm_model *m = nm_model_new("grouped", 3, 6, 6);
    int a = nm_add_conv(m, "a", NM_INPUT, 8, 3, 3, 1, 1, 1, 0);
    nm_add_bn(m, "abn", NM_PREV);
    nm_add_relu(m, "ar", NM_PREV, 0);
    int g = nm_add_conv(m, "g", NM_PREV, 8, 3, 3, 1, 1, 2, 1);
    nm_add_relu(m, "gr", NM_PREV, 0);
    int c = nm_add_conv(m, "c", NM_PREV, 6, 1, 1, 1, 0, 1, 1);
    nm_add_gap(m, "gap", NM_PREV);
    nm_add_flatten(m, "flat", NM_PREV);
    cr_assert(nm_add_linear(m, "fc", NM_PREV, 4, 1) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 12);
    ex_randomize_bn(m, 13);
    cr_assert_eq(nm_remove_filter(m, a, 3), NM_OK, "%s", nm_errmsg());
    cr_assert_eq(nm_remove_filter(m, g, 5), NM_OK, "%s", nm_errmsg());
    cr_assert_eq(nm_remove_filter(m, c, 1), NM_OK, "%s", nm_errmsg());
    nm_model *s = shrink_ok(m);
    cr_assert_eq(s->layers[a].out_c, 8, "a feeds a grouped conv: kept whole");
    cr_assert_eq(s->layers[g].out_c, 8, "g is a grouped conv: kept whole");
    cr_assert_eq(s->layers[c].in_c, 8);
    cr_assert_eq(s->layers[c].out_c, 5, "c's removed filter goes");
    cr_assert_eq(s->layers[m->n_layers - 1].in_c, 5);
    /* c: one row of 8 + bias; fc: one column of 4 */
    cr_assert_eq(nm_model_params(s), nm_model_params(m) - 9 - 4);
    check_forward(m, s, 2);
    nm_model_free(s);
    nm_model_free(m);
}

/* main's graph kinds: a squeeze-excitation scale (a broadcast mul), a
 * concat and an add of a constant keep the channels they touch; filters
 * removed elsewhere still go, and the outputs match. */
Test(shrink, graph_kinds_pin_their_channels)
{
    nm_model *m = nm_model_new("se", 3, 6, 6);
    int a = nm_add_conv(m, "a", NM_INPUT, 6, 3, 3, 1, 1, 1, 1);
    int ar = nm_add_relu(m, "ar", a, 0);
    nm_add_gap(m, "sq", ar);
    int e = nm_add_conv(m, "e", NM_PREV, 6, 1, 1, 1, 0, 1, 1);
    nm_layer l;
    memset(&l, 0, sizeof l);
    snprintf(l.name, sizeof l.name, "sig");
    l.kind = NM_LAYER_SIGMOID, l.n_inputs = 1, l.inputs[0] = e;
    int sig = nm_model_append(m, &l);
    cr_assert(sig >= 0, "%s", nm_errmsg());
    int scale = nm_add_binary(m, "scale", NM_LAYER_MUL, ar, sig);
    cr_assert(scale >= 0, "%s", nm_errmsg());
    int b = nm_add_conv(m, "b", scale, 5, 3, 3, 1, 1, 1, 1);
    int br = nm_add_relu(m, "br", b, 0);
    int c = nm_add_conv(m, "c", br, 4, 1, 1, 1, 0, 1, 1);
    int inputs[2] = {c, b};
    int cat = nm_add_concat(m, "cat", inputs, 2, 0);
    cr_assert(cat >= 0, "%s", nm_errmsg());
    nm_tensor *k = nm_tensor_new4(NM_F32, 3, 9, 1, 1, 0);
    nm_tensor_fill(k, 0.25);
    int kadd = nm_add_binary_const(m, "kadd", NM_LAYER_ADD, cat, k, 0);
    cr_assert(kadd >= 0, "%s", nm_errmsg());
    nm_tensor_release(k);
    int d = nm_add_conv(m, "d", kadd, 7, 1, 1, 1, 0, 1, 1);
    int dr = nm_add_relu(m, "dr", d, 0);
    nm_add_gap(m, "gap", dr);
    nm_add_flatten(m, "flat", NM_PREV);
    cr_assert(nm_add_linear(m, "fc", NM_PREV, 3, 1) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 14);
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].bias)
            nm_tensor_fill(m->layers[i].bias, 0.1);
    int rm[][2] = {{a, 2}, {e, 1}, {b, 0}, {c, 3}, {d, 4}};
    for (size_t i = 0; i < sizeof rm / sizeof rm[0]; i++)
        cr_assert_eq(nm_remove_filter(m, rm[i][0], rm[i][1]), NM_OK, "%s", nm_errmsg());
    nm_model *s = shrink_ok(m);
    cr_assert_eq(s->layers[a].out_c, 6, "a's channels meet the broadcast mul");
    cr_assert_eq(s->layers[e].out_c, 6, "e feeds the sigmoid");
    cr_assert_eq(s->layers[b].out_c, 5, "b feeds the concat");
    cr_assert_eq(s->layers[c].out_c, 4, "c feeds the concat");
    cr_assert_eq(s->layers[d].out_c, 6, "d's removed filter goes");
    check_forward(m, s, 2);
    nm_model_free(s);
    nm_model_free(m);
}
