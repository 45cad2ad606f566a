/* Filter pruning and propagation: hand-checked cases on a small residual
 * model (plain consumer, dwconv chain, FLATTEN block, residual add), the
 * channel-graph checker, and global/per-layer counts against a reference. */
#include "helpers.h"

static nm_layer *L(nm_model *m, const char *name)
{
    int i = nm_model_find(m, name);
    cr_assert(i >= 0, "no layer %s", name);
    return &m->layers[i];
}

static int kept_count(const nm_tensor *t)
{
    int k = 0;
    for (int64_t i = 0; i < t->numel; i++)
        k += nm_u8(t)[i] != 0;
    return k;
}

Test(filters, propagation_by_hand)
{
    nm_model *m = small_resnet(4);
    nm_layer *bn = L(m, "b1bn1");
    nm_tensor_fill(bn->beta, 0.5);
    /* plain conv -> bn -> relu -> conv */
    cr_assert_eq(nm_remove_filter(m, nm_model_find(m, "b1c1"), 3), NM_OK, "%s", nm_errmsg());
    nm_layer *a = L(m, "b1c1"), *b = L(m, "b1c2");
    cr_assert_eq(nm_u8(a->filters)[3], 0);
    cr_assert_eq(kept_count(a->filters), 7);
    cr_assert_eq(nm_f32(bn->gamma)[3], 0.0f);
    cr_assert_eq(nm_f32(bn->beta)[3], 0.0f);
    cr_assert_eq(nm_f32(bn->beta)[2], 0.5f);
    cr_assert_eq(nm_u8(b->in_chans)[3], 0);
    cr_assert_eq(kept_count(b->in_chans), 7);
    cr_assert_eq(kept_count(b->mask), 8 * 7 * 9, "b1c2 loses one input channel's kernels");
    for (int o = 0; o < 8; o++)
        for (int k = 0; k < 9; k++)
            cr_assert_eq(nm_u8(b->mask)[(o * 8 + 3) * 9 + k], 0);
    /* 1x1 expand -> dwconv -> 1x1 project */
    cr_assert_eq(nm_remove_filter(m, nm_model_find(m, "exp"), 5), NM_OK);
    nm_layer *dw = L(m, "dw"), *pr = L(m, "proj");
    cr_assert_eq(nm_u8(dw->filters)[5], 0);
    cr_assert_eq(nm_u8(dw->in_chans)[5], 0);
    cr_assert_eq(kept_count(dw->mask), 23 * 9);
    cr_assert_eq(nm_f32(L(m, "dw_bn")->gamma)[5], 0.0f);
    cr_assert_eq(nm_u8(pr->in_chans)[5], 0);
    cr_assert_eq(kept_count(pr->mask), 12 * 23);
    /* project -> bn -> flatten -> fc: channel 2 is features 32..47 */
    cr_assert_eq(nm_remove_filter(m, nm_model_find(m, "proj"), 2), NM_OK);
    nm_layer *fc = L(m, "fc");
    for (int f = 0; f < 192; f++)
        cr_assert_eq(nm_u8(fc->in_chans)[f], !(f >= 32 && f < 48), "feature %d", f);
    cr_assert_eq(kept_count(fc->mask), 10 * 176);
    /* residual add: b2c2 and b2proj both feed b2add -> exp; channel 4 goes
     * from exp's input only when both have lost it */
    cr_assert(nm_feeds_add(m, nm_model_find(m, "b2c2")));
    cr_assert(nm_feeds_add(m, nm_model_find(m, "b2proj")));
    cr_assert(nm_feeds_add(m, nm_model_find(m, "stem")));
    cr_assert(!nm_feeds_add(m, nm_model_find(m, "b1c1")));
    cr_assert(!nm_feeds_add(m, nm_model_find(m, "exp")));
    nm_layer *ex = L(m, "exp");
    cr_assert_eq(nm_remove_filter(m, nm_model_find(m, "b2c2"), 4), NM_OK);
    cr_assert(ex->in_chans == NULL || nm_u8(ex->in_chans)[4] == 1);
    cr_assert_eq(nm_remove_filter(m, nm_model_find(m, "b2proj"), 4), NM_OK);
    cr_assert_eq(nm_u8(ex->in_chans)[4], 0);
    cr_assert_eq(check_propagation(m), 1 + 1 + 1 + 16 + 1);
    check_filters(m);
    /* bad input */
    cr_assert_eq(nm_remove_filter(m, nm_model_find(m, "b1c1"), 8), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "out of range"), "%s", nm_errmsg());
    cr_assert_eq(nm_remove_filter(m, nm_model_find(m, "b1bn1"), 0), NM_ERR);
    nm_model_free(m);
}

Test(filters, global_l1_matches_reference_and_never_empties)
{
    nm_model *m = small_resnet(9);
    /* b2c1's filters are all tiny: global ranking would take them all */
    nm_layer *small = L(m, "b2c1");
    for (int64_t i = 0; i < small->weight->numel; i++)
        nm_f32(small->weight)[i] *= 1e-3f;
    const char *elig[] = {"b1c1", "b2c1", "exp", "proj"}; /* not first/last/dw/add-feeding */
    ref_filter sc[128];
    int ns = 0, total = 0;
    for (int e = 0; e < 4; e++) {
        nm_layer *l = L(m, elig[e]);
        int64_t D = nm_layer_cols(l);
        total += l->out_c;
        for (int t = 0; t < l->out_c; t++) {
            double s = 0;
            for (int64_t j = 0; j < D; j++)
                s += fabsf(nm_f32(l->weight)[t * D + j]);
            sc[ns++] = (ref_filter){s / (double)D, nm_model_find(m, elig[e]), t};
        }
    }
    qsort(sc, (size_t)ns, sizeof *sc, ref_filter_cmp);
    nm_filter_opts o;
    nm_filter_opts_init(&o, 0.5);
    cr_assert_eq(nm_prune_filters(m, &o), NM_OK, "%s", nm_errmsg());
    int want = (int)llround(0.5 * total), left = want;
    int kept[64];
    for (int i = 0; i < m->n_layers; i++)
        kept[i] = m->layers[i].out_c;
    uint8_t expect[64][32];
    memset(expect, 1, sizeof expect);
    for (int j = 0; j < ns && left > 0; j++) {
        if (kept[sc[j].layer] <= 1)
            continue;
        kept[sc[j].layer]--;
        expect[sc[j].layer][sc[j].t] = 0;
        left--;
    }
    int removed = 0;
    for (int e = 0; e < 4; e++) {
        int i = nm_model_find(m, elig[e]);
        for (int t = 0; t < m->layers[i].out_c; t++) {
            int got = m->layers[i].filters ? nm_u8(m->layers[i].filters)[t] : 1;
            cr_assert_eq(got, expect[i][t], "%s filter %d", elig[e], t);
            removed += !got;
        }
    }
    cr_assert_eq(removed, want);
    cr_assert_eq(kept_count(small->filters), 1, "the tiny layer keeps exactly one filter");
    nm_layer *dw = L(m, "dw"), *ex = L(m, "exp");
    /* dwconv channels follow exp's filters */
    cr_assert_eq(kept_count(dw->filters), kept_count(ex->filters));
    cr_assert_eq(check_filters(m), want + 24 - kept_count(dw->filters));
    check_propagation(m);
    nm_model_free(m);
}

Test(filters, per_layer_bn_and_allow_add)
{
    nm_model *m = small_resnet(10);
    /* gamma decides: set |gamma| = t for filter t except make filter 5 of
     * every BN layer the smallest */
    for (int i = 0; i < m->n_layers; i++) {
        nm_layer *l = &m->layers[i];
        if (l->kind != NM_LAYER_BN)
            continue;
        for (int t = 0; t < l->out_c; t++)
            nm_f32(l->gamma)[t] = (t % 2 ? -1.0f : 1.0f) * (float)(t + 1);
        nm_f32(l->gamma)[5] = 0.01f;
    }
    nm_filter_opts o;
    nm_filter_opts_init(&o, 0.25);
    o.criterion = NM_FILTER_BN;
    o.global = 0;
    cr_assert_eq(nm_prune_filters(m, &o), NM_OK, "%s", nm_errmsg());
    /* per layer: round(0.25 * C) lowest |gamma|: filter 5, then 0, 1, 2... */
    const char *elig[] = {"b1c1", "b2c1", "exp", "proj"};
    for (int e = 0; e < 4; e++) {
        nm_layer *l = L(m, elig[e]);
        int want = (int)llround(0.25 * l->out_c);
        cr_assert_eq(l->out_c - kept_count(l->filters), want, "%s", elig[e]);
        /* ascending |gamma|: 5, then 0, 1, 2, 3, 4, 6, 7, ... */
        for (int t = 0; t < l->out_c; t++) {
            int pos = t == 5 ? 0 : t < 5 ? t + 1 : t;
            cr_assert_eq(nm_u8(l->filters)[t], pos >= want, "%s filter %d", elig[e], t);
        }
    }
    cr_assert_eq(kept_count(L(m, "b1c2")->filters), 8, "add-fed layer untouched by default");
    /* idempotent: the ratio counts filters already removed */
    cr_assert_eq(nm_prune_filters(m, &o), NM_OK);
    cr_assert_eq(kept_count(L(m, "b1c1")->filters), 6);
    /* allowing adds: b1c2's channels are one residual stream with stem's
     * (one channel group; the first conv follows a stream it feeds): the
     * stream loses round(0.25 * 8) = 2 channels on both sides */
    o.allow_add = 1;
    cr_assert_eq(nm_prune_filters(m, &o), NM_OK);
    nm_layer *b = L(m, "b1c2");
    cr_assert_eq(kept_count(b->filters), 6);
    /* idempotent with the first conv in scope too */
    o.scope.include_first = 1;
    cr_assert_eq(nm_prune_filters(m, &o), NM_OK);
    cr_assert_eq(kept_count(b->filters), 6);
    cr_assert_eq(kept_count(L(m, "stem")->filters), 6);
    for (int t = 0; t < 8; t++)
        cr_assert_eq(nm_u8(b->filters)[t], nm_u8(L(m, "stem")->filters)[t], "stream channel %d", t);
    check_propagation(m);
    check_filters(m);
    o.ratio = 1.0;
    cr_assert_eq(nm_prune_filters(m, &o), NM_ERR);
    nm_model_free(m);
}
