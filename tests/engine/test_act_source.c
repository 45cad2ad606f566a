/* nm_layer_act_source / nm_layer_act_sink: where data (activation) N:M
 * exists (JOINTNF.md section 9), on small graphs whose answer is read off
 * the drawing, and on the zoo's ResNet-18, MobileNet-v2 and ViT-B/16. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model.h"
#include "zoo_builder.h"

static int ok(int idx)
{
    cr_assert(idx >= 0, "builder: %s", nm_errmsg());
    return idx;
}

/* Applied or not, from which kind, with which N:M. */
static void expect_act(const nm_model *m, int idx, int opt_n, int opt_m, int declare, int applied,
                       nm_act_from from, int n, int mm)
{
    nm_act_info a;
    int r = nm_layer_act_source(m, idx, opt_n, opt_m, declare, &a);
    const char *name = m->layers[idx].name;
    cr_expect_eq(r, applied, "%s: applied %d, expected %d (%s)", name, r, applied, a.why);
    cr_expect_eq(a.applied, applied, "%s", name);
    cr_expect_eq(a.from, from, "%s: from %s, expected %s (%s)", name, nm_act_from_name(a.from),
                 nm_act_from_name(from), a.why);
    cr_expect(a.n == n && a.m == mm, "%s: %d:%d, expected %d:%d", name, a.n, a.m, n, mm);
    cr_expect(strlen(a.why) > 5, "%s: no reason given", name);
}

/* input -> conv1 -> relu -> maxpool -> conv2 -> nmrelu 2:4 -> flatten -> fc1
 *   -> gelu -> fc2 -> layernorm -> fc3; fc1 + fc3 -> add -> fc4 */
Test(act_source, a_chain_by_hand)
{
    nm_model *m = nm_model_new("chain", 3, 8, 8);
    int c1 = ok(nm_add_conv(m, "conv1", NM_INPUT, 4, 3, 3, 1, 1, 1, 0));
    ok(nm_add_relu(m, "relu", NM_PREV, 0));
    ok(nm_add_pool(m, "pool", NM_PREV, NM_LAYER_MAXPOOL, 2, 2, 0));
    int c2 = ok(nm_add_conv(m, "conv2", NM_PREV, 4, 3, 3, 1, 1, 1, 0));
    int nr = ok(nm_add_nmrelu(m, "nmrelu", NM_PREV, 2, 4, NM_POLICY_FIRST, NM_AXIS_POSITION));
    cr_expect(nm_layer_act_sink(m, c2) && m->layers[nr].kind == NM_LAYER_NMRELU);
    ok(nm_add_flatten(m, "flat", NM_PREV));
    int f1 = ok(nm_add_linear(m, "fc1", NM_PREV, 8, 0));
    ok(nm_add_gelu(m, "gelu", NM_PREV));
    int f2 = ok(nm_add_linear(m, "fc2", NM_PREV, 8, 0));
    ok(nm_add_layernorm(m, "ln", NM_PREV));
    int f3 = ok(nm_add_linear(m, "fc3", NM_PREV, 8, 0));
    int add = ok(nm_add_add(m, "add", f1, f3));
    int f4 = ok(nm_add_linear(m, "fc4", add, 8, 0));

    /* no option: only the NMReLU's own N:M */
    expect_act(m, c1, 0, 0, 0, 0, NM_ACT_FROM_INPUT, 0, 0);
    expect_act(m, c2, 0, 0, 0, 0, NM_ACT_FROM_RELU, 0, 0);
    expect_act(m, f1, 0, 0, 0, 1, NM_ACT_FROM_NMRELU, 2, 4);
    expect_act(m, f2, 0, 0, 0, 0, NM_ACT_FROM_OTHER, 0, 0);
    expect_act(m, f3, 0, 0, 0, 0, NM_ACT_FROM_OTHER, 0, 0);
    expect_act(m, f4, 0, 0, 0, 0, NM_ACT_FROM_OTHER, 0, 0);
    /* act 4:9: the ReLU becomes NMReLU 4:9; the NMReLU keeps its 2:4; the
     * model input, GELU, LayerNorm and the add stay dense */
    expect_act(m, c1, 4, 9, 0, 0, NM_ACT_FROM_INPUT, 0, 0);
    expect_act(m, c2, 4, 9, 0, 1, NM_ACT_FROM_RELU, 4, 9);
    expect_act(m, f1, 4, 9, 0, 1, NM_ACT_FROM_NMRELU, 2, 4);
    expect_act(m, f2, 4, 9, 0, 0, NM_ACT_FROM_OTHER, 0, 0);
    expect_act(m, f4, 4, 9, 0, 0, NM_ACT_FROM_OTHER, 0, 0);
    /* declared by the user: everywhere, at the option's N:M (an NMReLU
     * source still gives its own) */
    expect_act(m, c1, 4, 9, 1, 1, NM_ACT_FROM_INPUT, 4, 9);
    expect_act(m, f2, 4, 9, 1, 1, NM_ACT_FROM_OTHER, 4, 9);
    expect_act(m, f1, 4, 9, 1, 1, NM_ACT_FROM_NMRELU, 2, 4);
    /* declare without an N:M declares nothing */
    expect_act(m, f2, 0, 0, 1, 0, NM_ACT_FROM_OTHER, 0, 0);
    /* the reason names the source layer */
    nm_act_info a;
    nm_layer_act_source(m, f2, 0, 0, 0, &a);
    cr_expect(strstr(a.why, "gelu"), "%s", a.why);
    cr_expect_eq(a.layer, nm_model_find(m, "gelu"));
    nm_layer_act_source(m, c2, 0, 0, 0, &a);
    cr_expect_eq(a.layer, nm_model_find(m, "relu"), "the walk crosses the max pool");

    /* sinks: conv1's output goes straight to a ReLU, conv2's to an NMReLU,
     * fc1's to a GELU, fc4's nowhere */
    cr_expect(nm_layer_act_sink(m, c1));
    cr_expect(nm_layer_act_sink(m, c2));
    cr_expect(!nm_layer_act_sink(m, f1));
    cr_expect(!nm_layer_act_sink(m, f4));
    nm_model_free(m);
}

/* Concats of branches that agree pass their source through; a mix does
 * not. ReLU6 (clip) and Clip(0, 6) count as ReLUs; Clip(-1, 1) does not;
 * BN between the ReLU and the conv ends the walk; channel slices pass,
 * position slices do not. */
Test(act_source, concat_clip_bn_slice)
{
    nm_model *m = nm_model_new("branches", 4, 6, 6);
    int a = ok(nm_add_conv(m, "a", NM_INPUT, 4, 1, 1, 1, 0, 1, 0));
    int ra = ok(nm_add_nmrelu(m, "ra", a, 4, 9, NM_POLICY_FIRST, NM_AXIS_POSITION));
    int b = ok(nm_add_conv(m, "b", NM_INPUT, 4, 1, 1, 1, 0, 1, 0));
    int rb = ok(nm_add_nmrelu(m, "rb", b, 4, 9, NM_POLICY_FIRST, NM_AXIS_POSITION));
    int rc = ok(nm_add_nmrelu(m, "rc", b, 2, 9, NM_POLICY_FIRST, NM_AXIS_POSITION));
    int same[2] = {ra, rb}, mixed[2] = {ra, rc};
    int cs = ok(nm_add_concat(m, "cat_same", same, 2, 0));
    int cm = ok(nm_add_concat(m, "cat_mixed", mixed, 2, 0));
    int u1 = ok(nm_add_conv(m, "after_same", cs, 4, 1, 1, 1, 0, 1, 0));
    int u2 = ok(nm_add_conv(m, "after_mixed", cm, 4, 1, 1, 1, 0, 1, 0));
    int r6 = ok(nm_add_relu(m, "relu6", a, 6.0f));
    int u3 = ok(nm_add_conv(m, "after_relu6", r6, 4, 1, 1, 1, 0, 1, 0));
    int cl = ok(nm_add_unary(m, "clip06", NM_LAYER_CLIP, a, 0.0f, 6.0f));
    int u4 = ok(nm_add_conv(m, "after_clip06", cl, 4, 1, 1, 1, 0, 1, 0));
    int cn = ok(nm_add_unary(m, "clip11", NM_LAYER_CLIP, a, -1.0f, 1.0f));
    int u5 = ok(nm_add_conv(m, "after_clip11", cn, 4, 1, 1, 1, 0, 1, 0));
    int bn = ok(nm_add_bn(m, "bn", r6));
    int u6 = ok(nm_add_conv(m, "after_bn", bn, 4, 1, 1, 1, 0, 1, 0));
    int sl = ok(nm_add_slice(m, "half", ra, NM_AXIS_CHANNEL, 0, 2));
    int u7 = ok(nm_add_conv(m, "after_slice", sl, 4, 1, 1, 1, 0, 1, 0));
    int sp = ok(nm_add_slice(m, "pos", ra, NM_AXIS_POSITION, 0, 1));
    int u8 = ok(nm_add_conv(m, "after_pos_slice", sp, 4, 1, 1, 1, 0, 1, 0));

    expect_act(m, u1, 0, 0, 0, 1, NM_ACT_FROM_NMRELU, 4, 9);
    expect_act(m, u2, 0, 0, 0, 0, NM_ACT_FROM_OTHER, 0, 0);
    expect_act(m, u3, 6, 9, 0, 1, NM_ACT_FROM_RELU, 6, 9);
    expect_act(m, u4, 6, 9, 0, 1, NM_ACT_FROM_RELU, 6, 9);
    expect_act(m, u5, 6, 9, 0, 0, NM_ACT_FROM_OTHER, 0, 0);
    expect_act(m, u6, 6, 9, 0, 0, NM_ACT_FROM_OTHER, 0, 0);
    expect_act(m, u7, 0, 0, 0, 1, NM_ACT_FROM_NMRELU, 4, 9);
    expect_act(m, u8, 0, 0, 0, 0, NM_ACT_FROM_OTHER, 0, 0);
    float clip = -1;
    cr_expect(nm_layer_is_relu_like(&m->layers[r6], &clip) && clip == 6.0f);
    cr_expect(nm_layer_is_relu_like(&m->layers[cl], &clip) && clip == 6.0f);
    cr_expect(!nm_layer_is_relu_like(&m->layers[cn], &clip));
    /* the relu6's output feeds BN and a conv: two consumers, no sink */
    cr_expect(!nm_layer_act_sink(m, r6));
    cr_expect(!nm_layer_act_sink(m, b), "b feeds two NMReLUs: not one sink");
    nm_model_free(m);
}

/* Layers with MACs, and how many of them get data N:M under act 4:9. */
static int count_applied(const nm_model *m, int *with_macs, const char **first_dense)
{
    int n = 0;
    *with_macs = 0;
    *first_dense = NULL;
    for (int i = 0; i < m->n_layers; i++) {
        if (!nm_layer_prunable(&m->layers[i]))
            continue;
        (*with_macs)++;
        nm_act_info a;
        if (nm_layer_act_source(m, i, 4, 9, 0, &a))
            n++;
        else if (!*first_dense)
            *first_dense = m->layers[i].name;
    }
    return n;
}

/* ResNet-18: all 21 conv/linear layers but conv1 (the image). ViT-B/16:
 * none of its 50 (GELU, LayerNorm, softmax, adds). MobileNet-v2, by the
 * drawing of an inverted residual (expand 1x1 - BN - ReLU6 - dw 3x3 - BN -
 * ReLU6 - project 1x1 - BN [- add]): the dw and project convs read a ReLU6,
 * the expand conv reads the previous block's BN or add. Stem: dense (the
 * image); block 1 (no expansion): 2 applied; blocks 2-17: 2 of 3 each;
 * features.18 (1x1 to 1280) reads block 17's BN: dense; the classifier
 * reads the last ReLU6 through the pool and flatten: applied. 35 of 53. */
Test(act_source, zoo_models)
{
    const char *first;
    int total;
    nm_model *r = zoo_resnet18();
    cr_assert_not_null(r);
    cr_expect_eq(count_applied(r, &total, &first), 20);
    cr_expect_eq(total, 21);
    cr_expect_str_eq(first, "conv1");
    nm_model_free(r);

    nm_model *v = zoo_vit_b16();
    cr_assert_not_null(v);
    cr_expect_eq(count_applied(v, &total, &first), 0);
    cr_expect_eq(total, 50);
    nm_model_free(v);

    nm_model *mb = zoo_mobilenet_v2();
    cr_assert_not_null(mb);
    cr_expect_eq(count_applied(mb, &total, &first), 35);
    cr_expect_eq(total, 53);
    cr_expect_str_eq(first, "features.0.0");
    nm_act_info a;
    int cls = nm_model_find(mb, "classifier.1"), f18 = nm_model_find(mb, "features.18.0");
    cr_assert(cls >= 0 && f18 >= 0);
    cr_expect(nm_layer_act_source(mb, cls, 4, 9, 0, &a), "%s", a.why);
    cr_expect(!nm_layer_act_source(mb, f18, 4, 9, 0, &a), "%s", a.why);
    nm_model_free(mb);
}

/* A topology's layers (SCALE-Sim CSV) name no producers: the first reads
 * the model input, the others come from an unknown place; dense unless
 * declared. Out-of-range indices answer "no" with a reason. */
Test(act_source, topology_and_bad_index)
{
    nm_model *m = nm_model_new("topo", 3, 8, 8);
    int a = ok(nm_add_conv(m, "a", NM_INPUT, 4, 3, 3, 1, 1, 1, 0));
    int b = ok(nm_add_conv(m, "b", NM_PREV, 4, 3, 3, 1, 1, 1, 0));
    m->layers[a].n_inputs = m->layers[b].n_inputs = 0;   /* as the topology reader leaves them */
    expect_act(m, a, 4, 9, 0, 0, NM_ACT_FROM_INPUT, 0, 0);
    expect_act(m, b, 4, 9, 0, 0, NM_ACT_FROM_UNKNOWN, 0, 0);
    expect_act(m, b, 4, 9, 1, 1, NM_ACT_FROM_UNKNOWN, 4, 9);
    nm_act_info info;
    cr_expect_eq(nm_layer_act_source(m, 7, 4, 9, 1, &info), 0);
    cr_expect_eq(nm_layer_act_source(m, -1, 4, 9, 1, &info), 0);
    cr_expect_eq(nm_layer_act_source(NULL, 0, 4, 9, 1, &info), 0);
    /* an impossible option is no option */
    cr_expect_eq(nm_layer_act_source(m, b, 9, 4, 1, &info), 0);
    nm_model_free(m);
}

/* Concats of concats of NMReLU branches pass (the walk recurses). A wide
 * fan of nested concats (6 levels of 8-way concats of the level below,
 * 8^6 = 262144 paths) is cut off by the walk's budget of 4096 steps
 * (level 3 alone takes 1 + 8 * 585 = 4681) and answered conservatively:
 * dense, "other". */
Test(act_source, nested_concats)
{
    nm_model *m = nm_model_new("nest", 2, 4, 4);
    int a = ok(nm_add_conv(m, "a", NM_INPUT, 1, 1, 1, 1, 0, 1, 0));
    int r = ok(nm_add_nmrelu(m, "r", a, 2, 4, NM_POLICY_FIRST, NM_AXIS_POSITION));
    int two[2] = {r, r};
    int c1 = ok(nm_add_concat(m, "c1", two, 2, 0));
    int two2[2] = {c1, r};
    int c2 = ok(nm_add_concat(m, "c2", two2, 2, 0));
    int u = ok(nm_add_conv(m, "u", c2, 1, 1, 1, 1, 0, 1, 0));
    expect_act(m, u, 0, 0, 0, 1, NM_ACT_FROM_NMRELU, 2, 4);
    int prev = r;
    for (int lv = 0; lv < 6; lv++) {
        int eight[8];
        for (int k = 0; k < 8; k++)
            eight[k] = prev;
        char name[16];
        snprintf(name, sizeof name, "fan%d", lv);
        prev = ok(nm_add_concat(m, name, eight, 8, 0));
    }
    int g = ok(nm_add_gap(m, "gap", prev));
    int v = ok(nm_add_linear(m, "v", g, 1, 0));
    nm_act_info info;
    cr_expect_eq(nm_layer_act_source(m, v, 0, 0, 0, &info), 0);
    cr_expect_eq(info.from, NM_ACT_FROM_OTHER, "%s", info.why);
    /* two levels of the same fan fit the budget: the NMReLU's 2:4 */
    int w = ok(nm_add_linear(m, "w", nm_model_find(m, "fan1"), 1, 0));
    expect_act(m, w, 0, 0, 0, 1, NM_ACT_FROM_NMRELU, 2, 4);
    nm_model_free(m);
}
