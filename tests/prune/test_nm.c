/* N:M masks: a hand-worked 4x4 2:4 example, property tests against a
 * brute-force per-group reference, the checker, and model-wide N:M. */
#include "helpers.h"

Test(nm, hand_worked_4x4_2_4)
{
    const float W[16] = {0.1f, -0.9f, 0.5f, 0.3f,
                         2.0f, -2.0f, 1.0f, 0.0f,
                         0.0f, 0.0f, 0.0f, 0.7f,
                         -0.4f, 0.4f, 0.4f, -0.8f};
    /* row 0: -0.9 and 0.5; row 1: the two 2s; row 2: 0.7 and the first 0;
     * row 3: -0.8 and the first of the three 0.4s */
    const uint8_t want[16] = {0, 1, 1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 1, 0, 0, 1};
    for (int axis = NM_GROUP_IN; axis <= NM_GROUP_ROW; axis++) {
        nm_tensor *w = nm_tensor_new4(NM_F32, 2, 4, 4, 0, 0);
        nm_tensor *mk = nm_tensor_new4(NM_U8, 2, 4, 4, 0, 0);
        memcpy(w->data, W, sizeof W);
        memset(mk->data, 1, 16);
        cr_assert_eq(nm_prune_nm_tensor(w, mk, 2, 4, axis), NM_OK, "%s", nm_errmsg());
        for (int i = 0; i < 16; i++)
            cr_assert_eq(nm_u8(mk)[i], want[i], "axis %d entry %d", axis, i);
        int64_t bad = -1, groups = -1;
        cr_assert_eq(nm_check_nm(w, mk, 2, 4, axis, &bad, &groups), NM_OK);
        cr_assert_eq(bad, 0);
        cr_assert_eq(groups, 4);
        /* without the mask rows 0, 1, 3 have 4 nonzeros and row 2 has 1 */
        nm_check_nm(w, NULL, 2, 4, axis, &bad, NULL);
        cr_assert_eq(bad, 3);
        nm_tensor_release(w);
        nm_tensor_release(mk);
    }
}

Test(nm, kernel_axis_3x3_by_hand)
{
    /* one 3x3 kernel, 4:9: keep the four largest |w|; one 2x2 kernel, M=4 */
    nm_tensor *w = nm_tensor_new4(NM_F32, 4, 1, 2, 3, 3);
    nm_tensor *mk = nm_tensor_new4(NM_U8, 4, 1, 2, 3, 3);
    const float a[18] = {1, -9, 2, 8, 3, -7, 4, 6, 5,  /* keep -9 8 -7 6 */
                         1, 1, 1, 1, 1, 1, 1, 1, 1};   /* all tied: first four */
    memcpy(w->data, a, sizeof a);
    memset(mk->data, 1, 18);
    cr_assert_eq(nm_prune_nm_tensor(w, mk, 4, 9, NM_GROUP_KERNEL), NM_OK);
    const uint8_t want[18] = {0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0};
    for (int i = 0; i < 18; i++)
        cr_assert_eq(nm_u8(mk)[i], want[i], "entry %d", i);
    /* `in` axis, M=2 across the 2 channels at each (ky,kx): keep the larger
     * (ties: channel 0) -- with the mask above already ANDed in */
    memset(mk->data, 1, 18);
    cr_assert_eq(nm_prune_nm_tensor(w, mk, 1, 2, NM_GROUP_IN), NM_OK);
    for (int k = 0; k < 9; k++) {
        int c0 = fabsf(a[k]) >= fabsf(a[9 + k]);
        cr_assert_eq(nm_u8(mk)[k], c0, "pos %d", k);
        cr_assert_eq(nm_u8(mk)[9 + k], !c0, "pos %d", k);
    }
    nm_tensor_release(w);
    nm_tensor_release(mk);
}

typedef struct {
    const float *w;
    const uint8_t *before, *after;
    int n, fails, violations;
} ref_ctx;

/* Independent per-group reference: entry i survives iff it survived
 * before and fewer than N survivors of its group beat it. */
static void ref_group(const int64_t *idx, int len, void *ud)
{
    ref_ctx *c = ud;
    int kept = 0;
    for (int i = 0; i < len; i++) {
        int better = 0;
        for (int j = 0; j < len; j++) {
            if (j == i || !c->before[idx[j]])
                continue;
            float aj = fabsf(c->w[idx[j]]), ai = fabsf(c->w[idx[i]]);
            better += aj > ai || (aj == ai && j < i);
        }
        int want = c->before[idx[i]] && better < c->n;
        if (want != c->after[idx[i]])
            c->fails++;
        kept += c->after[idx[i]] && c->w[idx[i]] != 0.0f;
    }
    c->violations += kept > c->n;
}

Test(nm, property_random_shapes)
{
    nm_rng r;
    nm_rng_seed(&r, 12345);
    for (int trial = 0; trial < 600; trial++) {
        /* half the trials: wider layers and the common M, which take the
         * four-lane vector paths (adjacent, transposed, across segments) */
        static const int common[] = {2, 4, 8, 9, 16};
        int wide = trial % 2;
        int64_t O = 1 + nm_rng_next(&r) % 6, C = 1 + nm_rng_next(&r) % (wide ? 40 : 9);
        int64_t KH = 1 + nm_rng_next(&r) % 3, KW = 1 + nm_rng_next(&r) % 3;
        int m = wide ? common[nm_rng_next(&r) % 5] : 1 + (int)(nm_rng_next(&r) % 12);
        int n = (int)(nm_rng_next(&r) % (m + 1));
        nm_group_axis axis = (nm_group_axis)(nm_rng_next(&r) % 3);
        nm_tensor *w = nm_tensor_new4(NM_F32, 4, O, C, KH, KW);
        nm_tensor *mk = nm_tensor_new4(NM_U8, 4, O, C, KH, KW);
        fill_random(w, &r, (trial / 2) % 2);
        for (int64_t i = 0; i < mk->numel; i++)
            nm_u8(mk)[i] = nm_rng_uniform(&r) > 0.2;
        nm_tensor *before = nm_tensor_clone(mk);
        cr_assert_eq(nm_prune_nm_tensor(w, mk, n, m, axis), NM_OK, "%s", nm_errmsg());
        ref_ctx c = {nm_f32(w), nm_u8(before), nm_u8(mk), n, 0, 0};
        each_group(O, C, KH, KW, m, axis, ref_group, &c);
        cr_assert_eq(c.fails, 0, "trial %d: %lldx%lldx%lldx%lld %d:%d axis %s: %d entries differ",
                     trial, (long long)O, (long long)C, (long long)KH, (long long)KW, n, m,
                     nm_group_axis_name(axis), c.fails);
        cr_assert_eq(c.violations, 0);
        int64_t bad = -1;
        nm_check_nm(w, mk, n, m, axis, &bad, NULL);
        cr_assert_eq(bad, 0);
        /* no resurrection */
        for (int64_t i = 0; i < mk->numel; i++)
            cr_assert(nm_u8(mk)[i] <= nm_u8(before)[i]);
        /* idempotent */
        nm_tensor *again = nm_tensor_clone(mk);
        nm_prune_nm_tensor(w, again, n, m, axis);
        cr_assert_eq(memcmp(again->data, mk->data, (size_t)mk->numel), 0, "trial %d not idempotent", trial);
        nm_tensor_release(again);
        nm_tensor_release(before);
        nm_tensor_release(w);
        nm_tensor_release(mk);
    }
}

/* Rows that are runs of contiguous groups (kernel axis of 3x3 convs with
 * M = 9, in axis of 1x1 convs and linears with M = 4 or 9): the eight-lane
 * path, its four-lane and single-group remainders and a partial last
 * group, with ties and a partly cleared mask, against the reference. */
Test(nm, contiguous_groups_eight_lanes)
{
    nm_rng r;
    nm_rng_seed(&r, 777);
    for (int trial = 0; trial < 240; trial++) {
        int m = trial % 2 ? 9 : 4, n = (int)(nm_rng_next(&r) % m);
        int k3 = m == 9 && trial % 4 == 1; /* 3x3 kernel axis, else 1x1 in axis */
        int64_t O = 1 + nm_rng_next(&r) % 4, C = 1 + nm_rng_next(&r) % 120;
        int64_t K = k3 ? 3 : 1;
        nm_group_axis axis = k3 ? NM_GROUP_KERNEL : NM_GROUP_IN;
        nm_tensor *w = nm_tensor_new4(NM_F32, 4, O, C, K, K);
        nm_tensor *mk = nm_tensor_new4(NM_U8, 4, O, C, K, K);
        fill_random(w, &r, trial % 3 != 0);
        for (int64_t i = 0; i < mk->numel; i++)
            nm_u8(mk)[i] = trial % 5 == 0 || nm_rng_uniform(&r) > 0.2;
        nm_tensor *before = nm_tensor_clone(mk);
        cr_assert_eq(nm_prune_nm_tensor(w, mk, n, m, axis), NM_OK, "%s", nm_errmsg());
        ref_ctx c = {nm_f32(w), nm_u8(before), nm_u8(mk), n, 0, 0};
        each_group(O, C, K, K, m, axis, ref_group, &c);
        cr_assert_eq(c.fails, 0, "trial %d: %lldx%lldx%lldx%lld %d:%d axis %s: %d entries differ",
                     trial, (long long)O, (long long)C, (long long)K, (long long)K, n, m,
                     nm_group_axis_name(axis), c.fails);
        nm_tensor_release(before);
        nm_tensor_release(w);
        nm_tensor_release(mk);
    }
}

Test(nm, large_m_uses_quickselect_path)
{
    nm_rng r;
    nm_rng_seed(&r, 99);
    for (int trial = 0; trial < 60; trial++) {
        int m = 17 + (int)(nm_rng_next(&r) % 48), n = (int)(nm_rng_next(&r) % (m + 1));
        nm_tensor *w = nm_tensor_new4(NM_F32, 2, 3, 150, 0, 0);
        nm_tensor *mk = nm_tensor_new4(NM_U8, 2, 3, 150, 0, 0);
        fill_random(w, &r, trial % 2);
        memset(mk->data, 1, (size_t)mk->numel);
        nm_tensor *before = nm_tensor_clone(mk);
        cr_assert_eq(nm_prune_nm_tensor(w, mk, n, m, NM_GROUP_ROW), NM_OK);
        ref_ctx c = {nm_f32(w), nm_u8(before), nm_u8(mk), n, 0, 0};
        each_group(3, 150, 1, 1, m, NM_GROUP_ROW, ref_group, &c);
        cr_assert_eq(c.fails, 0, "trial %d %d:%d", trial, n, m);
        nm_tensor_release(before);
        nm_tensor_release(w);
        nm_tensor_release(mk);
    }
}

Test(nm, checker_counts_violations)
{
    nm_tensor *w = nm_tensor_new4(NM_F32, 2, 2, 6, 0, 0);
    /* row 0: groups [1 1 1] [0 0 1]; row 1: [1 1 0] [1 1 1], 2:3 */
    const float a[12] = {1, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1};
    memcpy(w->data, a, sizeof a);
    int64_t bad, groups;
    cr_assert_eq(nm_check_nm(w, NULL, 2, 3, NM_GROUP_ROW, &bad, &groups), NM_OK);
    cr_assert_eq(groups, 4);
    cr_assert_eq(bad, 2);
    /* trailing partial groups keep min(N, L): M=4 gives [1 1 1 0] [0 1] ... */
    cr_assert_eq(nm_check_nm(w, NULL, 1, 4, NM_GROUP_ROW, &bad, &groups), NM_OK);
    cr_assert_eq(groups, 4);
    cr_assert_eq(bad, 3); /* [1110]:3>1, [01]:1 ok, [1101]:3>1, [11]:2>1 */
    nm_tensor_release(w);
}

Test(nm, bad_arguments_fail_cleanly)
{
    nm_tensor *w = nm_tensor_new4(NM_F32, 2, 2, 4, 0, 0);
    nm_tensor *mk = nm_tensor_new4(NM_U8, 2, 2, 4, 0, 0);
    nm_tensor *wrong = nm_tensor_new4(NM_U8, 2, 2, 3, 0, 0);
    cr_assert_eq(nm_prune_nm_tensor(w, mk, 5, 4, NM_GROUP_ROW), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "impossible N:M 5:4"), "%s", nm_errmsg());
    cr_assert_eq(nm_prune_nm_tensor(w, mk, 0, 0, NM_GROUP_ROW), NM_ERR);
    cr_assert_eq(nm_prune_nm_tensor(w, mk, 2, 4, (nm_group_axis)7), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "axis"), "%s", nm_errmsg());
    cr_assert_eq(nm_prune_nm_tensor(w, wrong, 2, 4, NM_GROUP_ROW), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "mask"), "%s", nm_errmsg());
    cr_assert_eq(nm_prune_nm_tensor(w, mk, 2, 65, NM_GROUP_ROW), NM_ERR);
    cr_assert_eq(nm_group_axis_from_name("kernel"), NM_GROUP_KERNEL);
    cr_assert_eq(nm_group_axis_from_name("in"), NM_GROUP_IN);
    cr_assert_eq(nm_group_axis_from_name("nope"), -2);
    nm_tensor_release(w);
    nm_tensor_release(mk);
    nm_tensor_release(wrong);
}

static const nm_prune_layer_info *info(const nm_prune_report *r, const char *name)
{
    for (int i = 0; i < r->n_layers; i++)
        if (strcmp(r->layers[i].name, name) == 0)
            return &r->layers[i];
    cr_assert_fail("no layer %s in report", name);
    return NULL;
}

Test(nm, model_defaults_skips_overrides_and_report)
{
    nm_model *m = small_resnet(3);
    nm_layer_override ov[] = {
        {.layer = "b1c2", .skip = 1, .axis = NM_GROUP_AUTO},
        {.layer = "fc", .force = 1, .axis = NM_GROUP_ROW, .n = 1, .m = 4},
    };
    nm_nm_opts o;
    nm_nm_opts_init(&o, 2, 4);
    o.scope.overrides = ov;
    o.scope.n_overrides = 2;
    nm_prune_report *rep = NULL;
    cr_assert_eq(nm_prune_nm_model(m, &o, &rep), NM_OK, "%s", nm_errmsg());
    cr_assert_eq(rep->n_layers, 10);
    const nm_prune_layer_info *e = info(rep, "stem");
    cr_assert_eq(e->pruned, 0);
    cr_assert_str_eq(e->skip_reason, "first conv");
    cr_assert_eq(e->nonzeros, e->params);
    cr_assert_str_eq(info(rep, "b1c2")->skip_reason, "skipped by option");
    cr_assert_eq(info(rep, "b1c1")->axis, NM_GROUP_KERNEL);
    cr_assert_eq(info(rep, "exp")->axis, NM_GROUP_IN);
    cr_assert_eq(info(rep, "dw")->axis, NM_GROUP_KERNEL);
    e = info(rep, "fc");
    cr_assert_eq(e->pruned, 1);
    cr_assert_eq(e->axis, NM_GROUP_ROW);
    cr_assert_eq(e->n, 1);
    cr_assert_eq(m->layers[nm_model_find(m, "fc")].wn, 1);
    /* 1:4 of 192 features = 48 per row */
    cr_assert_eq(e->nonzeros, 10 * 48);
    for (int i = 0; i < rep->n_layers; i++)
        if (rep->layers[i].pruned)
            cr_assert(rep->layers[i].nm_holds, "%s", rep->layers[i].name);
    /* exp: 1x1 conv 16->24 grouped along in: exactly half kept */
    e = info(rep, "exp");
    cr_assert_eq(e->nonzeros, 24 * 16 / 2);
    cr_assert_float_eq(e->sparsity, 0.5, 1e-12);
    /* b1c1: 3x3 kernels, 2:4 along the 9 weights: groups 4,4,1 keep 2,2,1 */
    cr_assert_eq(info(rep, "b1c1")->nonzeros, 8 * 8 * 5);
    /* the report of an unpruned layer with its declared 0:0 holds trivially */
    cr_assert(info(rep, "b1c2")->nm_holds);
    nm_prune_report_free(rep);
    /* a fresh report without options checks declared wn:wm */
    rep = nm_prune_report_new(m, NULL);
    cr_assert(info(rep, "b1c1")->nm_holds);
    cr_assert_eq(info(rep, "b1c1")->n, 2);
    nm_prune_report_free(rep);
    nm_model_free(m);
}
