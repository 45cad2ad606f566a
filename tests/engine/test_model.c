/* Models: shape inference, MAC counts by hand, clone, channel graph. */
#include <criterion/criterion.h>
#include <string.h>

#include "model.h"

/* conv(3->8,3x3,p1) bn relu conv(8->16,3x3,s2) bn relu + conv(8->16,1x1,s2) add, gap, fc */
static nm_model *tiny(void)
{
    nm_model *m = nm_model_new("tiny", 3, 8, 8);
    cr_assert_not_null(m);
    int c1 = nm_add_conv(m, "c1", NM_INPUT, 8, 3, 3, 1, 1, 1, 0);
    nm_add_bn(m, "bn1", c1);
    int r1 = nm_add_relu(m, "r1", NM_PREV, 0);
    int c2 = nm_add_conv(m, "c2", r1, 16, 3, 3, 2, 1, 1, 0);
    nm_add_bn(m, "bn2", c2);
    int a = nm_add_relu(m, "r2", NM_PREV, 0);
    int s = nm_add_conv(m, "sc", r1, 16, 1, 1, 2, 0, 1, 0);
    int add = nm_add_add(m, "add", a, s);
    nm_add_gap(m, "gap", add);
    nm_add_flatten(m, "flat", NM_PREV);
    int fc = nm_add_linear(m, "fc", NM_PREV, 10, 1);
    cr_assert(fc >= 0, "%s", nm_errmsg());
    return m;
}

Test(model, shapes_and_macs_by_hand)
{
    nm_model *m = tiny();
    const nm_layer *c2 = &m->layers[nm_model_find(m, "c2")];
    cr_assert_eq(c2->out_h, 4);
    cr_assert_eq(c2->weight->shape[1], 8);
    nm_layer_stats s;
    nm_layer_stats_get(m, nm_model_find(m, "c1"), &s);
    cr_assert_eq(s.dense_macs, 8LL * 8 * 8 * 3 * 9);
    nm_layer_stats_get(m, nm_model_find(m, "c2"), &s);
    cr_assert_eq(s.dense_macs, 4LL * 4 * 16 * 8 * 9);
    int64_t total = 8LL * 8 * 8 * 27 + 16LL * 16 * 72 + 16LL * 16 * 8 + 10 * 16;
    cr_assert_eq(nm_model_dense_macs(m), total);
    nm_model_free(m);
}

Test(model, rejects_bad_layers)
{
    nm_model *m = nm_model_new("bad", 3, 8, 8);
    cr_assert_eq(nm_add_conv(m, "big", NM_INPUT, 4, 11, 11, 1, 0, 1, 0), -1);
    cr_assert(strstr(nm_errmsg(), "does not fit"), "%s", nm_errmsg());
    cr_assert_eq(nm_add_conv(m, "grp", NM_INPUT, 4, 3, 3, 1, 0, 2, 0), -1);
    cr_assert(nm_add_conv(m, "ok", NM_INPUT, 4, 3, 3, 1, 0, 1, 0) >= 0);
    cr_assert_eq(nm_add_conv(m, "ok", NM_INPUT, 4, 3, 3, 1, 0, 1, 0), -1, "duplicate name");
    cr_assert_eq(nm_add_add(m, "add", 0, NM_INPUT), -1, "shape mismatch");
    cr_assert_eq(nm_add_nmrelu(m, "nm", 0, 5, 4, NM_POLICY_FIRST, NM_AXIS_POSITION), -1);
    cr_assert_eq(m->n_layers, 1);
    nm_model_free(m);
}

Test(model, clone_is_deep_and_weights_deterministic)
{
    nm_model *a = tiny(), *b = tiny();
    nm_model_init_weights(a, 7);
    nm_model_init_weights(b, 7);
    const nm_layer *la = &a->layers[0], *lb = &b->layers[0];
    cr_assert_eq(memcmp(la->weight->data, lb->weight->data, (size_t)la->weight->numel * 4), 0);
    nm_model *c = nm_model_clone(a);
    nm_f32(c->layers[0].weight)[0] = 99.0f;
    cr_assert_neq(nm_f32(a->layers[0].weight)[0], 99.0f);
    cr_assert_float_eq(nm_f32(a->layers[1].gamma)[3], 1.0f, 0);
    nm_model_free(a);
    nm_model_free(b);
    nm_model_free(c);
}

Test(model, channel_graph)
{
    nm_model *m = tiny();
    int out[8], flag;
    int n = nm_model_channel_consumers(m, nm_model_find(m, "c1"), out, 8, &flag);
    cr_assert_eq(n, 2); /* c2 and sc, through bn1/r1 */
    cr_assert_eq(flag, 0);
    n = nm_model_channel_consumers(m, nm_model_find(m, "c2"), out, 8, &flag);
    cr_assert_eq(n, 1);
    cr_assert_eq(out[0], nm_model_find(m, "fc"));
    cr_assert_eq(flag, 1, "c2 feeds the residual add");
    n = nm_model_channel_producers(m, nm_model_find(m, "fc"), out, 8, &flag);
    cr_assert_eq(n, 2);
    cr_assert_eq(flag, 1);
    cr_assert_eq(nm_model_bn_of(m, nm_model_find(m, "c1")), nm_model_find(m, "bn1"));
    cr_assert_eq(nm_model_bn_of(m, nm_model_find(m, "sc")), -1);
    nm_model_free(m);
}
