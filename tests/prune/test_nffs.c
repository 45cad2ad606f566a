/* NFFS: optimal total |w| removed, checked by brute force over every
 * subset of rows (with the best N:M mask of the rows left, found per
 * group independently); ties to the lower row; propagation. */
#include "helpers.h"

typedef struct {
    const float *w;
    int n;
    double *row_keep; /* best kept |w| per row */
    int64_t D;
} best_ctx;

static void best_group(const int64_t *idx, int len, void *ud)
{
    best_ctx *c = ud;
    double a[64];
    for (int i = 0; i < len; i++)
        a[i] = fabsf(c->w[idx[i]]);
    /* selection by repeated max: the N largest */
    double s = 0;
    for (int k = 0; k < c->n && k < len; k++) {
        int b = -1;
        for (int i = 0; i < len; i++)
            if (a[i] >= 0 && (b < 0 || a[i] > a[b]))
                b = i;
        s += a[b];
        a[b] = -1;
    }
    c->row_keep[idx[0] / c->D] += s;
}

Test(nffs, optimal_against_brute_force)
{
    nm_rng r;
    nm_rng_seed(&r, 2024);
    for (int trial = 0; trial < 150; trial++) {
        int O = 2 + (int)(nm_rng_next(&r) % 7), C = 1 + (int)(nm_rng_next(&r) % 4);
        int k = 1 + (int)(nm_rng_next(&r) % 3);
        int mm = 2 + (int)(nm_rng_next(&r) % 8), n = (int)(nm_rng_next(&r) % (mm + 1));
        nm_group_axis axis = (nm_group_axis)(nm_rng_next(&r) % 3);
        int u = (int)(nm_rng_next(&r) % O);
        nm_model *m = nm_model_new("one", C, 6, 6);
        int li = nm_add_conv(m, "c", NM_INPUT, O, k, k, 1, 0, 1, 0);
        nm_layer *l = &m->layers[li];
        fill_random(l->weight, &r, trial % 3 == 0);
        int64_t D = nm_layer_cols(l);
        double total = 0;
        for (int64_t i = 0; i < l->weight->numel; i++)
            total += fabsf(nm_f32(l->weight)[i]);
        double row_keep[8] = {0};
        best_ctx bc = {nm_f32(l->weight), n, row_keep, D};
        each_group(O, C, k, k, mm, axis, best_group, &bc);
        /* brute force over all subsets with u rows removed */
        double best = INFINITY;
        for (int s = 0; s < (1 << O); s++) {
            if (__builtin_popcount((unsigned)s) != u)
                continue;
            double kept = 0;
            for (int o = 0; o < O; o++)
                if (!(s >> o & 1))
                    kept += row_keep[o];
            if (total - kept < best)
                best = total - kept;
        }
        cr_assert_eq(nm_prune_nffs(m, li, n, mm, axis, u, 0), NM_OK, "%s", nm_errmsg());
        double kept = 0;
        int removed = 0;
        for (int64_t i = 0; i < l->weight->numel; i++)
            kept += nm_u8(l->mask)[i] ? fabsf(nm_f32(l->weight)[i]) : 0;
        for (int o = 0; o < O; o++)
            removed += !nm_u8(l->filters)[o];
        cr_assert_eq(removed, u, "trial %d", trial);
        cr_assert(fabs((total - kept) - best) <= 1e-9 * (1 + total),
                  "trial %d (%dx%dx%dx%d %d:%d %s u=%d): removed %.9g, brute force best %.9g",
                  trial, O, C, k, k, n, mm, nm_group_axis_name(axis), u, total - kept, best);
        int64_t bad;
        nm_check_nm(l->weight, l->mask, n, mm, axis, &bad, NULL);
        cr_assert_eq(bad, 0);
        nm_model_free(m);
    }
}

Test(nffs, ties_go_to_lower_rows_and_errors)
{
    nm_model *m = nm_model_new("one", 4, 1, 1);
    int li = nm_add_linear(m, "fc", NM_INPUT, 4, 0);
    nm_layer *l = &m->layers[li];
    /* rows 0 and 2 tie at the smallest post-2:4 L1 (1+1), row 3 has 2+2 */
    const float w[16] = {1, 1, 0.5f, 0, 3, 3, 3, 3, 1, 0, 1, 0, 2, 0.1f, 2, 0};
    memcpy(l->weight->data, w, sizeof w);
    cr_assert_eq(nm_prune_nffs(m, li, 2, 4, NM_GROUP_IN, 1, 0), NM_OK);
    cr_assert_eq(nm_u8(l->filters)[0], 0);
    cr_assert_eq(nm_u8(l->filters)[2], 1);
    cr_assert_eq(nm_prune_nffs(m, li, 2, 4, NM_GROUP_IN, 2, 0), NM_OK);
    cr_assert_eq(nm_u8(l->filters)[2], 0);
    cr_assert_eq(nm_u8(l->filters)[3], 1);
    cr_assert_eq(nm_prune_nffs(m, li, 2, 4, NM_GROUP_IN, 4, 0), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "cannot remove 4 of 4"), "%s", nm_errmsg());
    cr_assert_eq(nm_nffs_u(l, 0.5), 2);
    nm_model_free(m);
}

Test(nffs, propagates_through_the_graph)
{
    nm_model *m = small_resnet(31);
    int li = nm_model_find(m, "exp");
    cr_assert_eq(nm_prune_nffs(m, li, 2, 4, NM_GROUP_AUTO, nm_nffs_u(&m->layers[li], 0.25), 1),
                 NM_OK, "%s", nm_errmsg());
    cr_assert_eq(check_filters(m), 6 + 6, "exp and the dwconv after it lose 6 each");
    cr_assert_eq(check_propagation(m), 6 + 6);
    nm_model_free(m);
}
