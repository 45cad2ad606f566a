/* Cost and storage: the section-5 formula by hand, measured products
 * against brute-force counting, storage bits by hand, and compression
 * round trips for every index scheme. */
#include "helpers.h"

Test(cost, formula_by_hand)
{
    nm_model *m = nm_model_new("c", 8, 10, 10);
    int c = nm_add_conv(m, "c", NM_INPUT, 16, 3, 3, 1, 1, 1, 0);
    nm_model_init_weights(m, 1);
    nm_layer_cost k;
    cr_assert_eq(nm_cost_layer(m, c, 0, 0, &k), NM_OK);
    cr_assert_eq(k.dense_macs, 100LL * 16 * 8 * 9);
    cr_assert_float_eq(k.effective_macs, 100.0 * 16 * 8 * 9, 1e-6);
    /* 4 filters and 2 input channels removed, 4:9 weights, 6:9 data */
    for (int t = 0; t < 4; t++)
        nm_remove_filter(m, c, t);
    nm_layer *l = &m->layers[c];
    nm_u8(l->in_chans)[1] = nm_u8(l->in_chans)[6] = 0;
    l->wn = 4, l->wm = 9;
    cr_assert_eq(nm_cost_layer(m, c, 6, 9, &k), NM_OK);
    cr_assert_eq(k.filters_removed, 4);
    cr_assert_eq(k.in_chans_kept, 6);
    cr_assert_float_eq(k.effective_macs, 100.0 * 12 * 6 * 9 * 4 / 9 * 6 / 9, 1e-6);
    int64_t dense;
    double eff;
    cr_assert_eq(nm_cost_model(m, 6, 9, &dense, &eff), NM_OK);
    cr_assert_eq(dense, k.dense_macs);
    cr_assert_eq(nm_cost_layer(m, c, 7, 6, &k), NM_ERR);
    nm_model_free(m);
    /* dwconv: removing channel 2 removes one filter reading one channel */
    m = nm_model_new("d", 6, 8, 8);
    int d = nm_add_dwconv(m, "dw", NM_INPUT, 3, 1, 1);
    nm_model_init_weights(m, 1);
    cr_assert_eq(nm_remove_filter(m, d, 2), NM_OK);
    cr_assert_eq(nm_cost_layer(m, d, 0, 0, &k), NM_OK);
    cr_assert_eq(k.dense_macs, 64LL * 6 * 9);
    cr_assert_float_eq(k.effective_macs, 64.0 * 5 * 9, 1e-6);
    nm_model_free(m);
}

/* Direct count: every (image, filter, position, reduction entry) product. */
static int64_t brute(const nm_layer *l, const nm_tensor *x)
{
    int64_t B = x->shape[0], C = l->in_c, H = l->in_h, W = l->in_w;
    int64_t O = l->weight->shape[0], cg = l->weight->shape[1];
    int kh = l->kind == NM_LAYER_LINEAR ? 1 : l->kh, kw = l->kind == NM_LAYER_LINEAR ? 1 : l->kw;
    int g = C / cg;
    int64_t cnt = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t o = 0; o < O; o++) {
            int64_t grp = o / (O / g);
            for (int oy = 0; oy < l->out_h; oy++)
                for (int ox = 0; ox < l->out_w; ox++)
                    for (int64_t lc = 0; lc < cg; lc++)
                        for (int ky = 0; ky < kh; ky++)
                            for (int kx = 0; kx < kw; kx++) {
                                int64_t wi = ((o * cg + lc) * kh + ky) * kw + kx;
                                if (nm_f32(l->weight)[wi] == 0 || (l->mask && !nm_u8(l->mask)[wi]))
                                    continue;
                                int iy = oy * (l->kind == NM_LAYER_LINEAR ? 1 : l->stride_h) -
                                         (l->kind == NM_LAYER_LINEAR ? 0 : l->pad_h) + ky;
                                int ix = ox * (l->kind == NM_LAYER_LINEAR ? 1 : l->stride_w) -
                                         (l->kind == NM_LAYER_LINEAR ? 0 : l->pad_w) + kx;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                                    continue;
                                int64_t c = grp * cg + lc;
                                cnt += nm_f32(x)[((b * C + c) * H + iy) * W + ix] != 0;
                            }
        }
    return cnt;
}

Test(cost, measured_products_against_brute_force)
{
    nm_rng r;
    nm_rng_seed(&r, 3);
    for (int trial = 0; trial < 40; trial++) {
        int C = 2 + 2 * (int)(nm_rng_next(&r) % 3), H = 3 + (int)(nm_rng_next(&r) % 6);
        nm_model *m = nm_model_new("c", C, H, H);
        int kind = trial % 4, li;
        int k = 1 + (int)(nm_rng_next(&r) % 3), s = 1 + (int)(nm_rng_next(&r) % 2);
        int pad = (int)(nm_rng_next(&r) % 2);
        if (kind == 0)
            li = nm_add_conv(m, "l", NM_INPUT, 6, k, k, s, pad, 1, 0);
        else if (kind == 1)
            li = nm_add_conv(m, "l", NM_INPUT, 4, k, k, s, pad, 2, 0);
        else if (kind == 2)
            li = nm_add_dwconv(m, "l", NM_INPUT, k, s, pad);
        else
            li = nm_add_linear(m, "l", NM_INPUT, 5, 0);
        cr_assert(li >= 0, "%s", nm_errmsg());
        nm_layer *l = &m->layers[li];
        fill_random(l->weight, &r, 1); /* many exact zeros */
        nm_layer_ensure_mask(l);
        for (int64_t i = 0; i < l->mask->numel; i++)
            nm_u8(l->mask)[i] = nm_rng_uniform(&r) > 0.3;
        nm_tensor *x = nm_tensor_new4(NM_F32, 4, 2, C, H, H);
        fill_random(x, &r, 1);
        int64_t got = -1;
        cr_assert_eq(nm_cost_measured(m, li, x, &got), NM_OK, "%s", nm_errmsg());
        cr_assert_eq(got, brute(l, x), "trial %d kind %d", trial, kind);
        nm_tensor_release(x);
        nm_model_free(m);
    }
    nm_model *m = nm_model_new("c", 4, 5, 5);
    int li = nm_add_conv(m, "l", NM_INPUT, 2, 3, 3, 1, 0, 1, 0);
    nm_tensor *x = nm_tensor_new4(NM_F32, 4, 1, 3, 5, 5);
    int64_t got;
    cr_assert_eq(nm_cost_measured(m, li, x, &got), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "does not match"), "%s", nm_errmsg());
    nm_tensor_release(x);
    nm_model_free(m);
}

Test(cost, storage_by_hand)
{
    nm_model *m = nm_model_new("s", 8, 1, 1);
    int li = nm_add_linear(m, "fc", NM_INPUT, 4, 0);
    nm_model_init_weights(m, 2);
    nm_layer *l = &m->layers[li];
    cr_assert_eq(nm_prune_nm_layer(l, 2, 4, NM_GROUP_AUTO), NM_OK);
    nm_storage s;
    cr_assert_eq(nm_storage_layer(m, li, 0, 0, NM_GROUP_AUTO, &s), NM_OK);
    cr_assert_eq(s.params, 32);
    cr_assert_eq(s.nonzeros, 16);
    cr_assert_eq(s.groups, 8);
    cr_assert_eq(s.dense_bits, 256);
    cr_assert_eq(s.value_bits, 128);
    cr_assert_eq(s.simple_bits, 16 * 2);
    cr_assert_eq(s.bitmask_bits, 8 * 4);
    cr_assert_eq(s.combinatorial_bits, 8 * 3); /* C(4,2) = 6 -> 3 bits */
    /* remove a filter and an input channel: 3 rows x 7 inputs, groups 4+3 */
    cr_assert_eq(nm_remove_filter(m, li, 0), NM_OK);
    nm_u8(l->in_chans)[7] = 0;
    for (int o = 0; o < 4; o++)
        nm_u8(l->mask)[o * 8 + 7] = 0;
    cr_assert_eq(nm_storage_layer(m, li, 0, 0, NM_GROUP_AUTO, &s), NM_OK);
    cr_assert_eq(s.groups, 3 * 2);
    cr_assert_eq(s.bitmask_bits, 3 * (4 + 3));
    cr_assert_eq(s.combinatorial_bits, 3 * (3 + 2)); /* C(3,2) = 3 -> 2 bits */
    /* 4:9 on a 3x3 conv: C(9,4) = 126 -> 7 bits; simple 4 bits per value */
    nm_model *k = nm_model_new("k", 2, 4, 4);
    int ci = nm_add_conv(k, "c", NM_INPUT, 3, 3, 3, 1, 1, 1, 0);
    nm_model_init_weights(k, 3);
    cr_assert_eq(nm_prune_nm_layer(&k->layers[ci], 4, 9, NM_GROUP_AUTO), NM_OK);
    cr_assert_eq(nm_storage_layer(k, ci, 0, 0, NM_GROUP_AUTO, &s), NM_OK);
    cr_assert_eq(s.groups, 6);
    cr_assert_eq(s.nonzeros, 24);
    cr_assert_eq(s.simple_bits, 24 * 4);
    cr_assert_eq(s.combinatorial_bits, 6 * 7);
    cr_assert_eq(s.bitmask_bits, 6 * 9);
    /* the paper's figure 3: 1:2 weights need 1 bit either way */
    cr_assert_eq(nm_storage_layer(k, ci, 1, 2, NM_GROUP_ROW, &s), NM_OK);
    cr_assert_eq(s.groups, 3 * 9);
    cr_assert_eq(s.combinatorial_bits, 3 * 9 * 1);
    nm_storage tot;
    cr_assert_eq(nm_storage_model(k, &tot), NM_OK);
    cr_assert_eq(tot.simple_bits, 24 * 4);
    nm_model_free(k);
    nm_model_free(m);
}

Test(compress, round_trips_every_scheme)
{
    nm_rng r;
    nm_rng_seed(&r, 17);
    for (int trial = 0; trial < 240; trial++) {
        int64_t O = 1 + nm_rng_next(&r) % 5, C = 1 + nm_rng_next(&r) % 7, K = 1 + nm_rng_next(&r) % 3;
        int m = 2 + (int)(nm_rng_next(&r) % 15), n = (int)(nm_rng_next(&r) % (m + 1));
        nm_group_axis axis = (nm_group_axis)(trial % 3);
        nm_index_scheme sch = (nm_index_scheme)((trial / 3) % 3);
        nm_tensor *w = nm_tensor_new4(NM_F32, 4, O, C, K, K);
        nm_tensor *mk = nm_tensor_new4(NM_U8, 4, O, C, K, K);
        fill_random(w, &r, trial % 2);
        memset(mk->data, 1, (size_t)mk->numel);
        nm_prune_nm_tensor(w, mk, n, m, axis);
        for (int64_t i = 0; i < w->numel; i++)
            if (!nm_u8(mk)[i])
                nm_f32(w)[i] = 0.0f;
        if (trial % 5 == 0 && w->numel > 0 && nm_u8(mk)[0])
            nm_f32(w)[0] = -0.0f; /* a kept negative zero must survive */
        nm_compressed *c = nm_compress(w, n, m, axis, sch);
        cr_assert_not_null(c, "trial %d: %s", trial, nm_errmsg());
        /* bit counts from the group lengths, independently */
        int64_t slots = 0, bits = 0, groups = 0;
        int64_t nseg = axis == NM_GROUP_ROW ? 1 : axis == NM_GROUP_KERNEL ? C : K * K;
        int64_t seglen = axis == NM_GROUP_ROW ? C * K * K : axis == NM_GROUP_KERNEL ? K * K : C;
        for (int64_t s = 0; s < O * nseg; s++)
            for (int64_t a = 0; a < seglen; a += m) {
                int len = (int)(seglen - a < m ? seglen - a : m), k = len < n ? len : n;
                int lb = 0;
                while ((1ULL << lb) < (unsigned long long)m)
                    lb++;
                double comb = 1;
                for (int i = 0; i < k; i++)
                    comb = comb * (len - i) / (i + 1);
                int cb = 0;
                while ((double)(1ULL << cb) < comb - 1e-9)
                    cb++;
                slots += k;
                groups++;
                bits += sch == NM_INDEX_SIMPLE ? (int64_t)k * lb : sch == NM_INDEX_BITMASK ? len : cb;
            }
        cr_assert_eq(c->groups, groups);
        cr_assert_eq(c->n_values, slots);
        cr_assert_eq(c->index_bits, bits, "trial %d scheme %s", trial, nm_index_scheme_name(sch));
        cr_assert_eq(c->value_bits, 8 * slots);
        nm_tensor *d = nm_decompress(c);
        cr_assert_not_null(d);
        cr_assert(nm_tensor_same_shape(d, w));
        cr_assert_eq(memcmp(d->data, w->data, (size_t)w->numel * 4), 0,
                     "trial %d (%d:%d %s %s) not bit-exact", trial, n, m,
                     nm_group_axis_name(axis), nm_index_scheme_name(sch));
        nm_tensor_release(d);
        nm_compressed_free(c);
        nm_tensor_release(w);
        nm_tensor_release(mk);
    }
}

Test(compress, rejects_dense_groups)
{
    nm_tensor *w = nm_tensor_new4(NM_F32, 2, 2, 4, 0, 0);
    nm_tensor_fill(w, 1);
    nm_compressed *c = nm_compress(w, 2, 4, NM_GROUP_ROW, NM_INDEX_SIMPLE);
    cr_assert_null(c);
    cr_assert(strstr(nm_errmsg(), "group 0") && strstr(nm_errmsg(), "4 nonzeros"), "%s", nm_errmsg());
    cr_assert_null(nm_compress(w, 2, 1, NM_GROUP_ROW, NM_INDEX_SIMPLE));
    /* a corrupt bitmask (a position cleared) is reported, not decoded */
    nm_tensor_fill(w, 0);
    nm_f32(w)[1] = 3;
    nm_compressed *ok = nm_compress(w, 2, 4, NM_GROUP_ROW, NM_INDEX_BITMASK);
    cr_assert_not_null(ok);
    ok->index[0] = 0;
    cr_assert_null(nm_decompress(ok));
    cr_assert(strstr(nm_errmsg(), "bitmask"), "%s", nm_errmsg());
    nm_compressed_free(ok);
    cr_assert_null(nm_compress(w, 2, 4, NM_GROUP_ROW, (nm_index_scheme)9));
    nm_tensor_release(w);
}
