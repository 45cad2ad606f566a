/* test_inputs_prune.c - pruning groups, filter pruning, JointNF, N:M and
 * shrink on models with several graph inputs. Every graph input is a
 * channel source nothing prunes: the groups are checked against lists
 * written by hand, the shrunk model's outputs against the masked model's
 * (nm_forward_inputs on the same two inputs), the kept shapes against
 * counts worked out from the filters vectors, and N:M masks by counting
 * every weight group (helpers.h's independent enumeration). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"
#include "model.h"
#include "prune.h"
#include "shrink.h"
#include "train.h"

/* "cat2": inputs a (3, 6, 6) and b (2, 6, 6).
 *   c1 = conv3x3(a) -> 4, r1 = relu     c2 = conv3x3(b) -> 4, r2 = relu
 *   cat = concat(r1, r2) -> 8, c3 = conv3x3(cat) -> 6, r3 = relu
 *   side = conv1x1(b) -> 6 (reads input b again), sum = r3 + side
 *   gap, flat, fc -> 3 (the graph output) */
static nm_model *cat2(void)
{
    nm_model *m = nm_model_new("cat2", 3, 6, 6);
    cr_assert_not_null(m);
    snprintf(m->in_name, sizeof m->in_name, "a");
    int b = nm_model_add_input(m, "b", 2, 6, 6);
    cr_assert_eq(b, NM_INPUT_K(1), "%s", nm_errmsg());
    int c1 = nm_add_conv(m, "c1", NM_INPUT, 4, 3, 3, 1, 1, 1, 1);
    int r1 = nm_add_relu(m, "r1", c1, 0);
    int c2 = nm_add_conv(m, "c2", b, 4, 3, 3, 1, 1, 1, 1);
    int r2 = nm_add_relu(m, "r2", c2, 0);
    int ins[2] = {r1, r2};
    int cat = nm_add_concat(m, "cat", ins, 2, 0);
    int c3 = nm_add_conv(m, "c3", cat, 6, 3, 3, 1, 1, 1, 1);
    int r3 = nm_add_relu(m, "r3", c3, 0);
    int side = nm_add_conv(m, "side", b, 6, 1, 1, 1, 0, 1, 1);
    int sum = nm_add_add(m, "sum", r3, side);
    int gap = nm_add_gap(m, "gap", sum);
    int flat = nm_add_flatten(m, "flat", gap);
    int fc = nm_add_linear(m, "fc", flat, 3, 1);
    cr_assert(fc == 11 && c3 >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 7);
    return m;
}

/* "gate2": inputs a (4, 5, 5) and g (5, 1, 1), a squeeze-excitation-like
 * scale from outside: c1 = conv3x3(a) -> 6, r1, c2 = conv3x3 -> 5,
 * scaled = c2 * g, c3 = conv1x1(scaled) -> 5, r3, gap, flat, fc -> 3. */
static nm_model *gate2(void)
{
    nm_model *m = nm_model_new("gate2", 4, 5, 5);
    cr_assert_not_null(m);
    int g = nm_model_add_input(m, "g", 5, 1, 1);
    cr_assert_eq(g, NM_INPUT_K(1), "%s", nm_errmsg());
    int c1 = nm_add_conv(m, "c1", NM_INPUT, 6, 3, 3, 1, 1, 1, 1);
    nm_add_relu(m, "r1", c1, 0);
    int c2 = nm_add_conv(m, "c2", NM_PREV, 5, 3, 3, 1, 1, 1, 1);
    int sc = nm_add_binary(m, "scaled", NM_LAYER_MUL, c2, g);
    nm_add_conv(m, "c3", sc, 5, 1, 1, 1, 0, 1, 1);
    nm_add_relu(m, "r3", NM_PREV, 0);
    nm_add_gap(m, "gap", NM_PREV);
    nm_add_flatten(m, "flat", NM_PREV);
    int fc = nm_add_linear(m, "fc", NM_PREV, 3, 1);
    cr_assert(fc == 8, "%s", nm_errmsg());
    nm_model_init_weights(m, 5);
    return m;
}

/* Input k of m for a batch of n, deterministic values in [-1, 1]. */
static nm_tensor *input_k(const nm_model *m, int k, int n, double f)
{
    int c, h, w;
    nm_model_input_shape(m, k, &c, &h, &w);
    nm_tensor *t = nm_tensor_new4(NM_F32, 4, n, c, h, w);
    cr_assert_not_null(t);
    for (int64_t i = 0; i < t->numel; i++)
        nm_f32(t)[i] = (float)sin(f * (double)(i + 1) + 0.3 * k);
    return t;
}

/* The largest relative difference of the outputs of a and b (batch 3). */
static double same_outputs(nm_model *a, nm_model *b, double tol)
{
    nm_tensor *x0 = input_k(a, 0, 3, 0.37), *x1 = input_k(a, 1, 3, 0.91);
    const nm_tensor *xs[2] = {x0, x1};
    nm_tensor *ya[NM_MAX_OUTPUTS], *yb[NM_MAX_OUTPUTS];
    int na = nm_forward_inputs(a, xs, 2, ya, NM_MAX_OUTPUTS);
    cr_assert_gt(na, 0, "%s", nm_errmsg());
    int nb = nm_forward_inputs(b, xs, 2, yb, NM_MAX_OUTPUTS);
    cr_assert_eq(nb, na, "%s", nm_errmsg());
    double worst = 0, scale = 0;
    for (int o = 0; o < na; o++) {
        cr_assert_eq(ya[o]->numel, yb[o]->numel);
        for (int64_t i = 0; i < ya[o]->numel; i++)
            scale = fmax(scale, fabs(nm_f32(ya[o])[i]));
    }
    cr_assert_gt(scale, 1e-3, "outputs are not all zero");
    for (int o = 0; o < na; o++) {
        for (int64_t i = 0; i < ya[o]->numel; i++) {
            double d = fabs((double)nm_f32(ya[o])[i] - nm_f32(yb[o])[i]) / scale;
            worst = fmax(worst, d);
        }
        nm_tensor_release(ya[o]), nm_tensor_release(yb[o]);
    }
    nm_tensor_release(x0), nm_tensor_release(x1);
    cr_expect_leq(worst, tol, "shrunk vs masked: %g", worst);
    return worst;
}

/* Members of group g as "layer:axis:index ...". */
static void members(const nm_model *m, const nm_group_set *s, int g, char *buf, size_t cap)
{
    const nm_channel_group *G = &s->groups[g];
    buf[0] = 0;
    for (int k = 0; k < G->count; k++) {
        const nm_group_member *mb = &s->members[G->first + k];
        size_t l = strlen(buf);
        snprintf(buf + l, cap - l, "%s%s:%s:%d", k ? " " : "", m->layers[mb->layer].name,
                 nm_gm_axis_name(mb->axis), mb->index);
    }
}

static int kept(const nm_layer *l) { return nm_keep_count(l->filters, l->out_c); }

Test(inputs_prune, groups_of_two_stems)
{
    nm_model *m = cat2();
    nm_group_opts o;
    nm_group_opts_init(&o);
    o.scope.include_first = 1;
    nm_group_set *s = nm_prune_groups(m, &o);
    cr_assert_not_null(s, "%s", nm_errmsg());
    /* c1's 4 rows (concat offset 0), c2's 4 (offset 4), c3's and side's
     * rows tied by the add (6), fc's 3 */
    cr_assert_eq(s->n_groups, 4 + 4 + 6 + 3);
    char got[512], want[512];
    for (int c = 0; c < 4; c++) {
        members(m, s, c, got, sizeof got);
        snprintf(want, sizeof want, "c1:out:%d c3:in:%d", c, c);
        cr_expect_str_eq(got, want);
        cr_expect(s->groups[c].prunable, "c1 row %d: %s", c, s->groups[c].why);
        members(m, s, 4 + c, got, sizeof got);
        snprintf(want, sizeof want, "c2:out:%d c3:in:%d", c, 4 + c);
        cr_expect_str_eq(got, want);
        cr_expect(s->groups[4 + c].prunable, "c2 row %d: %s", c, s->groups[4 + c].why);
    }
    for (int c = 0; c < 6; c++) {
        const nm_channel_group *G = &s->groups[8 + c];
        members(m, s, 8 + c, got, sizeof got);
        snprintf(want, sizeof want, "c3:out:%d side:out:%d fc:in:%d", c, c, c);
        cr_expect_str_eq(got, want);
        cr_expect_eq(G->rows, 2);
        cr_expect(G->residual && !G->prunable);
        cr_expect_str_eq(G->why, "residual stream (allow_add)");
    }
    for (int c = 0; c < 3; c++)
        cr_expect_str_eq(s->groups[14 + c].why, "graph output");
    /* nodes: layers, then input a (node 12) and b (node 13), all kept */
    cr_expect_eq(s->n_nodes, m->n_layers + 2);
    cr_expect_eq(s->size[12], 3);
    cr_expect_eq(s->size[13], 2);
    nm_group_set_free(s);
    /* the default scope skips the first conv (c1) but not c2 */
    nm_group_opts_init(&o);
    s = nm_prune_groups(m, &o);
    cr_assert_not_null(s, "%s", nm_errmsg());
    cr_expect(!s->groups[0].prunable && s->groups[4].prunable);
    nm_group_set_free(s);
    nm_model_free(m);
}

Test(inputs_prune, gate_from_an_input_pins_its_channels)
{
    nm_model *m = gate2();
    nm_group_opts o;
    nm_group_opts_init(&o);
    o.scope.include_first = 1;
    nm_group_set *s = nm_prune_groups(m, &o);
    cr_assert_not_null(s, "%s", nm_errmsg());
    cr_assert_eq(s->n_groups, 6 + 5 + 5 + 3);
    char got[512], want[512];
    for (int c = 0; c < 6; c++) {
        members(m, s, c, got, sizeof got);
        snprintf(want, sizeof want, "c1:out:%d c2:in:%d", c, c);
        cr_expect_str_eq(got, want);
        cr_expect(s->groups[c].prunable);
    }
    for (int c = 0; c < 5; c++) {
        /* c2's channel c is scaled by g's channel c: a graph input */
        members(m, s, 6 + c, got, sizeof got);
        snprintf(want, sizeof want, "c2:out:%d c3:in:%d", c, c);
        cr_expect_str_eq(got, want);
        cr_expect(s->groups[6 + c].pinned && !s->groups[6 + c].prunable);
        cr_expect_str_eq(s->groups[6 + c].why, "model input");
        members(m, s, 11 + c, got, sizeof got);
        snprintf(want, sizeof want, "c3:out:%d fc:in:%d", c, c);
        cr_expect_str_eq(got, want);
        cr_expect(s->groups[11 + c].prunable);
    }
    nm_group_set_free(s);
    nm_model_free(m);
}

/* Filter pruning then shrink: the shrunk model computes the masked one. */
Test(inputs_prune, filters_then_shrink_two_stems)
{
    nm_model *m = cat2();
    nm_filter_opts o;
    nm_filter_opts_init(&o, 0.5);
    o.scope.include_first = 1;
    o.allow_add = 1;
    cr_assert_eq(nm_prune_filters(m, &o), NM_OK, "%s", nm_errmsg());
    const nm_layer *c1 = &m->layers[0], *c2 = &m->layers[2], *c3 = &m->layers[5];
    const nm_layer *side = &m->layers[7], *fc = &m->layers[11];
    int k1 = kept(c1), k2 = kept(c2), k3 = kept(c3);
    cr_expect_lt(k1 + k2 + k3, 4 + 4 + 6, "something was removed");
    cr_expect_eq(kept(side), k3, "side follows c3 through the add");
    /* c3 reads the concat: it lost exactly the removed rows of c1 and c2 */
    for (int c = 0; c < 8; c++) {
        const nm_layer *p = c < 4 ? c1 : c2;
        int alive = !p->filters || nm_u8(p->filters)[c % 4];
        int in = !c3->in_chans || nm_u8(c3->in_chans)[c];
        cr_expect_eq(in, alive, "c3 input channel %d", c);
    }
    cr_expect(!c2->in_chans || nm_tensor_nnz(c2->in_chans) == 2, "input b's channels are kept");
    cr_expect(!side->in_chans || nm_tensor_nnz(side->in_chans) == 2);
    nm_model *s = nm_model_shrink(m);
    cr_assert_not_null(s, "%s", nm_errmsg());
    cr_assert_eq(nm_model_n_inputs(s), 2);
    cr_expect_str_eq(nm_model_input_name(s, 0), "a");
    cr_expect_str_eq(nm_model_input_name(s, 1), "b");
    cr_expect_eq(s->layers[0].weight->shape[0], k1);
    cr_expect_eq(s->layers[0].weight->shape[1], 3);
    cr_expect_eq(s->layers[2].weight->shape[0], k2);
    cr_expect_eq(s->layers[2].weight->shape[1], 2, "c2 keeps input b's 2 channels");
    cr_expect_eq(s->layers[5].weight->shape[0], k3);
    cr_expect_eq(s->layers[5].weight->shape[1], k1 + k2);
    cr_expect_eq(s->layers[7].weight->shape[1], 2, "side keeps input b's 2 channels");
    cr_expect_eq(s->layers[11].weight->shape[1], kept(side));
    cr_expect_eq(fc->out_c, s->layers[11].out_c);
    cr_expect_lt(nm_model_params(s), nm_model_params(m));
    same_outputs(m, s, 1e-5);
    nm_model_free(s);
    nm_model_free(m);
}

Test(inputs_prune, filters_then_shrink_gate)
{
    nm_model *m = gate2();
    nm_filter_opts o;
    nm_filter_opts_init(&o, 0.4);
    o.scope.include_first = 1;
    cr_assert_eq(nm_prune_filters(m, &o), NM_OK, "%s", nm_errmsg());
    cr_expect_eq(kept(&m->layers[2]), 5, "c2 is scaled by input g: never pruned");
    int k1 = kept(&m->layers[0]), k3 = kept(&m->layers[4]);
    cr_expect_lt(k1 + k3, 6 + 5);
    nm_model *s = nm_model_shrink(m);
    cr_assert_not_null(s, "%s", nm_errmsg());
    cr_expect_eq(s->layers[0].weight->shape[0], k1);
    cr_expect_eq(s->layers[2].weight->shape[0], 5);
    cr_expect_eq(s->layers[2].weight->shape[1], k1);
    cr_expect_eq(s->layers[4].weight->shape[0], k3);
    cr_expect_eq(s->layers[4].weight->shape[1], 5);
    cr_expect_eq(s->layers[8].weight->shape[1], k3);
    int c, h, w;
    nm_model_input_shape(s, 1, &c, &h, &w);
    cr_expect(c == 5 && h == 1 && w == 1);
    same_outputs(m, s, 1e-5);
    nm_model_free(s);
    nm_model_free(m);
}

Test(inputs_prune, jointnf_then_shrink)
{
    nm_model *models[2] = {cat2(), gate2()};
    for (int i = 0; i < 2; i++) {
        nm_model *m = models[i];
        nm_jointnf_opts o;
        nm_jointnf_opts_init(&o, 2, 4, 0.3, 2);
        o.scope.include_first = 1;
        o.allow_add = 1;
        cr_assert_eq(nm_prune_jointnf(m, &o), NM_OK, "%s: %s", m->name, nm_errmsg());
        int removed = 0;
        for (int l = 0; l < m->n_layers; l++)
            if (m->layers[l].kind == NM_LAYER_CONV)
                removed += m->layers[l].out_c - kept(&m->layers[l]);
        cr_expect_gt(removed, 0, "%s: filters removed", m->name);
        nm_model *s = nm_model_shrink(m);
        cr_assert_not_null(s, "%s: %s", m->name, nm_errmsg());
        cr_expect_lt(nm_model_params(s), nm_model_params(m));
        same_outputs(m, s, 1e-5);
        nm_model_free(s);
        nm_model_free(m);
    }
}

struct nm_count {
    const uint8_t *mask;
    int n, bad, groups;
    int64_t want; /* sum of min(len, n): the kept count when no weight is 0 */
};

static void count_group(const int64_t *idx, int len, void *ud)
{
    struct nm_count *c = ud;
    int nz = 0;
    for (int i = 0; i < len; i++)
        nz += c->mask[idx[i]] != 0;
    c->bad += nz > c->n;
    c->groups++;
    c->want += len < c->n ? len : c->n;
}

/* N:M needs no groups: every eligible layer of a two-input model, with
 * every group of its mask counted here. */
Test(inputs_prune, nm_on_two_inputs)
{
    nm_model *m = cat2();
    nm_nm_opts o;
    nm_nm_opts_init(&o, 2, 4);
    o.scope.include_first = 1;
    nm_prune_report *r = NULL;
    cr_assert_eq(nm_prune_nm_model(m, &o, &r), NM_OK, "%s", nm_errmsg());
    int pruned = 0;
    for (int i = 0; i < r->n_layers; i++) {
        const nm_prune_layer_info *li = &r->layers[i];
        if (!li->pruned)
            continue;
        pruned++;
        const nm_layer *l = &m->layers[li->layer];
        cr_assert_not_null(l->mask, "%s", l->name);
        struct nm_count c = {nm_u8(l->mask), 2, 0, 0, 0};
        const int64_t *sh = l->weight->shape;
        each_group(sh[0], sh[1], l->weight->ndim == 4 ? sh[2] : 1, l->weight->ndim == 4 ? sh[3] : 1,
                   4, li->axis, count_group, &c);
        cr_expect_gt(c.groups, 0);
        cr_expect_eq(c.bad, 0, "%s: %d of %d groups hold more than 2", l->name, c.bad, c.groups);
        cr_expect(li->nm_holds);
        cr_expect_eq(nm_tensor_nnz(l->mask), c.want, "%s: the n largest of every group", l->name);
    }
    cr_expect_eq(pruned, 4, "c1, c2, c3 and side (fc is the classifier)");
    nm_prune_report_free(r);
    /* it still runs on both inputs, and shrink keeps it as it is */
    nm_model *s = nm_model_shrink(m);
    cr_assert_not_null(s, "%s", nm_errmsg());
    cr_expect_eq(nm_model_params(s), nm_model_params(m));
    same_outputs(m, s, 1e-6);
    nm_model_free(s);
    nm_model_free(m);
}

/* NFFS with propagation: c2 (reads input b) goes through its groups; c3's
 * rows are tied to side's by the add (a residual stream NFFS keeps), so
 * they go alone. Either way shrink computes the masked model. */
Test(inputs_prune, nffs_then_shrink)
{
    nm_model *m = cat2();
    cr_assert_eq(nm_prune_nffs(m, 2, 2, 4, NM_GROUP_AUTO, 2, 1), NM_OK, "%s", nm_errmsg());
    cr_assert_eq(nm_prune_nffs(m, 5, 2, 4, NM_GROUP_AUTO, 3, 1), NM_OK, "%s", nm_errmsg());
    cr_expect_eq(kept(&m->layers[2]), 2);
    cr_expect_eq(kept(&m->layers[5]), 3);
    cr_expect_eq(kept(&m->layers[7]), 6, "side keeps its rows");
    const nm_layer *c3 = &m->layers[5];
    for (int c = 0; c < 4; c++) /* c3 lost the input channels of c2's removed rows */
        cr_expect_eq(!c3->in_chans || nm_u8(c3->in_chans)[4 + c], nm_u8(m->layers[2].filters)[c]);
    nm_model *s = nm_model_shrink(m);
    cr_assert_not_null(s, "%s", nm_errmsg());
    cr_expect_eq(s->layers[2].weight->shape[0], 2);
    cr_expect_eq(s->layers[2].weight->shape[1], 2, "c2 keeps input b's channels");
    cr_expect_eq(s->layers[5].weight->shape[1], 4 + 2);
    same_outputs(m, s, 1e-5);
    nm_model_free(s);
    nm_model_free(m);
}
