/* NMReLU made from a ReLU6: clip, then N:M (JOINTNF.md section 9), worked
 * by hand; nm_layer_set_nmrelu on MobileNet-v2's ReLU6 layers. */
#include <criterion/criterion.h>
#include <string.h>

#include "kernels.h"
#include "model.h"
#include "zoo_builder.h"

static void expect_vec(const float *got, const float *want, int n, const char *what)
{
    for (int i = 0; i < n; i++)
        cr_expect_eq(got[i], want[i], "%s[%d] = %g, expected %g", what, i, got[i], want[i]);
}

/* One channel, one image, a plane of 8 = two 2:4 groups.
 * first: group 1 [-1, 7, 3, 8] -> clip [0, 6, 3, 6] -> the first two
 *        positives [0, 6, 3, 0]; group 2 [9, 9, 9, 0.5] -> [6, 6, 0, 0].
 * topk:  group 1 [6.5, 2, 9, 7] -> clip [6, 2, 6, 6]: three tie at 6, the
 *        two lower indices win: [6, 0, 6, 0]. N:M first and clip after
 *        would keep 9 and 7 instead: [0, 0, 6, 6]. Group 2 [1, 5, 0.5, -3]
 *        (nothing clipped) -> [1, 5, 0, 0]. */
Test(relu6_nm, clip_then_nm_by_hand)
{
    const float xf[8] = {-1, 7, 3, 8, 9, 9, 9, 0.5f};
    const float wf[8] = {0, 6, 3, 0, 6, 6, 0, 0};
    float y[8];
    nm_train_nmrelu_forward_clip(1, 1, 8, 2, 4, NM_POLICY_FIRST, NM_AXIS_POSITION, 6.0f, xf, y);
    expect_vec(y, wf, 8, "first");

    const float xt[8] = {6.5f, 2, 9, 7, 1, 5, 0.5f, -3};
    const float wt[8] = {6, 0, 6, 0, 1, 5, 0, 0};
    nm_train_nmrelu_forward_clip(1, 1, 8, 2, 4, NM_POLICY_TOPK, NM_AXIS_POSITION, 6.0f, xt, y);
    expect_vec(y, wt, 8, "topk");
    /* the other order, by hand, differs: this is what the test tells apart */
    const float other[4] = {0, 0, 6, 6};
    cr_expect(memcmp(y, other, sizeof other) != 0);

    /* in place (the training buffers may be the same) */
    float inplace[8];
    memcpy(inplace, xt, sizeof inplace);
    nm_train_nmrelu_forward_clip(1, 1, 8, 2, 4, NM_POLICY_TOPK, NM_AXIS_POSITION, 6.0f, inplace,
                                 inplace);
    expect_vec(inplace, wt, 8, "topk in place");

    /* clip 0: the plain NMReLU (group 1 topk keeps 9 and 7) */
    const float plain[8] = {0, 0, 9, 7, 1, 5, 0, 0};
    nm_train_nmrelu_forward_clip(1, 1, 8, 2, 4, NM_POLICY_TOPK, NM_AXIS_POSITION, 0.0f, xt, y);
    expect_vec(y, plain, 8, "no clip");
}

/* Gradient: through kept values below the clip. y = [6, 0, 6, 0, 1, 5, 0,
 * 0] (the topk output above), dy = 1..8: dx = [0, 0, 0, 0, 5, 6, 0, 0]
 * (the 6s are clipped, the zeros dropped). Accumulates into dx. */
Test(relu6_nm, backward_by_hand)
{
    const float y[8] = {6, 0, 6, 0, 1, 5, 0, 0};
    const float dy[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    float dx[8] = {0};
    nm_train_nmrelu_backward_clip(8, 6.0f, y, dy, dx);
    const float want[8] = {0, 0, 0, 0, 5, 6, 0, 0};
    expect_vec(dx, want, 8, "dx");
    nm_train_nmrelu_backward_clip(8, 0.0f, y, dy, dx);   /* no clip: every y > 0, added */
    const float want2[8] = {1, 0, 3, 0, 10, 12, 0, 0};
    expect_vec(dx, want2, 8, "dx no clip");
}

/* MobileNet-v2's ReLU6 layers take the NMReLU: 35 of them (the stem, the
 * first block's depthwise conv, two per expanding block x 16, and the
 * 1280-wide last conv), each keeping clip 6; n = 0 makes them ReLU6 again.
 * Other kinds are refused with the layer named, the layer unchanged. */
Test(relu6_nm, mobilenet_v2_relu6_layers)
{
    nm_model *m = zoo_mobilenet_v2();
    cr_assert_not_null(m);
    int relu6 = 0;
    for (int i = 0; i < m->n_layers; i++) {
        nm_layer *l = &m->layers[i];
        if (l->kind != NM_LAYER_RELU)
            continue;
        cr_expect_eq(l->clip, 6.0f, "%s", l->name);
        cr_assert_eq(nm_layer_set_nmrelu(l, 4, 9, NM_POLICY_FIRST, NM_AXIS_POSITION), NM_OK, "%s",
                     nm_errmsg());
        cr_expect(l->kind == NM_LAYER_NMRELU && l->act_n == 4 && l->act_m == 9 && l->clip == 6.0f);
        relu6++;
    }
    cr_expect_eq(relu6, 35);
    /* now data N:M comes from the model itself, without any option */
    int applied = 0;
    for (int i = 0; i < m->n_layers; i++) {
        nm_act_info a;
        if (nm_layer_prunable(&m->layers[i]) && nm_layer_act_source(m, i, 0, 0, 0, &a)) {
            applied++;
            cr_expect(a.from == NM_ACT_FROM_NMRELU && a.n == 4 && a.m == 9);
        }
    }
    cr_expect_eq(applied, 35);
    int back = 0;
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == NM_LAYER_NMRELU) {
            cr_assert_eq(nm_layer_set_nmrelu(&m->layers[i], 0, 0, 0, 0), NM_OK);
            back += m->layers[i].kind == NM_LAYER_RELU && m->layers[i].clip == 6.0f;
        }
    cr_expect_eq(back, 35);
    nm_layer *conv = &m->layers[nm_model_find(m, "features.0.0")];
    cr_expect_eq(nm_layer_set_nmrelu(conv, 4, 9, NM_POLICY_FIRST, NM_AXIS_POSITION), NM_ERR);
    cr_expect(strstr(nm_errmsg(), "features.0.0") && strstr(nm_errmsg(), "not a ReLU"), "%s",
              nm_errmsg());
    cr_expect_eq(conv->kind, NM_LAYER_CONV);
    nm_layer *r = &m->layers[nm_model_find(m, "features.0.2")];
    cr_expect_eq(nm_layer_set_nmrelu(r, 5, 4, NM_POLICY_FIRST, NM_AXIS_POSITION), NM_ERR);
    cr_expect(r->kind == NM_LAYER_RELU && r->clip == 6.0f, "unchanged after a refusal");
    nm_model_free(m);
}

/* An ONNX-style Clip(0, 6) is a ReLU6 too: it becomes NMReLU with clip 6. */
Test(relu6_nm, clip_layer)
{
    nm_model *m = nm_model_new("c", 2, 4, 4);
    int c = nm_add_unary(m, "clip", NM_LAYER_CLIP, NM_INPUT, 0.0f, 6.0f);
    int d = nm_add_unary(m, "clipneg", NM_LAYER_CLIP, NM_INPUT, -1.0f, 1.0f);
    cr_assert(c >= 0 && d >= 0);
    cr_assert_eq(nm_layer_set_nmrelu(&m->layers[c], 2, 4, NM_POLICY_TOPK, NM_AXIS_CHANNEL), NM_OK);
    const nm_layer *l = &m->layers[c];
    cr_expect(l->kind == NM_LAYER_NMRELU && l->clip == 6.0f && l->act_policy == NM_POLICY_TOPK &&
              l->act_axis == NM_AXIS_CHANNEL);
    cr_expect_eq(nm_layer_set_nmrelu(&m->layers[d], 2, 4, NM_POLICY_TOPK, NM_AXIS_CHANNEL), NM_ERR);
    nm_model_free(m);
}
