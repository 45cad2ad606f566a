/* Per-layer filter caps (max_sparsity / min_density) of filter pruning and
 * JointNF: the capped global ranking against an independent greedy
 * reference, brute-force counts of removed filters, infeasible targets
 * reported in *unmet, option errors, and the zoo's MobileNet-v2. */
#include "helpers.h"
#include "zoo.h"

/* The filter candidates of small_resnet with the default scope (first conv
 * and classifier left out, adds kept, dwconvs follow their producer). */
static const char *const cand[] = {"b1c1", "b2c1", "exp", "proj"};
#define NCAND 4

/* Filters removed from layer `name`, counted on its keep vector. */
static int removed_of(const nm_model *m, const char *name)
{
    const nm_layer *l = &m->layers[nm_model_find(m, name)];
    int r = 0;
    for (int t = 0; l->filters && t < l->out_c; t++)
        r += nm_u8(l->filters)[t] == 0;
    return r;
}

/* Most filters a layer of c may lose under max_sparsity ms (at least one kept). */
static int cap_of(int c, double ms)
{
    int k = (int)(ms * c + 1e-9);
    return k < c - 1 ? k : c - 1;
}

/* Reference for global L1 filter pruning with a cap on a fresh model:
 * scores mean |w| of each row, ranked (ties: layer, then row), taken in
 * order while the layer is under its cap, until k are taken. gone[c][t]
 * receives the selection; returns how many were taken. */
static int reference(const nm_model *m, double ratio, double ms, uint8_t gone[NCAND][64])
{
    ref_filter sc[256];
    int n = 0, F = 0, taken[NCAND] = {0};
    for (int c = 0; c < NCAND; c++) {
        const nm_layer *l = &m->layers[nm_model_find(m, cand[c])];
        int64_t D = l->weight->numel / l->out_c;
        F += l->out_c;
        for (int t = 0; t < l->out_c; t++) {
            double s = 0;
            for (int64_t j = 0; j < D; j++)
                s += fabs(nm_f32(l->weight)[t * D + j]);
            sc[n++] = (ref_filter){s / (double)D, c, t};
        }
    }
    qsort(sc, (size_t)n, sizeof *sc, ref_filter_cmp);
    memset(gone, 0, NCAND * 64);
    int k = (int)llround(ratio * F), got = 0;
    for (int j = 0; j < n && got < k; j++) {
        const nm_layer *l = &m->layers[nm_model_find(m, cand[sc[j].layer])];
        if (taken[sc[j].layer] >= cap_of(l->out_c, ms))
            continue;
        taken[sc[j].layer]++;
        gone[sc[j].layer][sc[j].t] = 1;
        got++;
    }
    return got;
}

/* Runs capped global filter pruning on a fresh small_resnet and checks it
 * against the reference; returns unmet. */
static int64_t run_global(double ratio, double ms, double md, int *total_removed)
{
    nm_model *m = small_resnet(11);
    uint8_t gone[NCAND][64];
    int want = reference(m, ratio, ms > 1 - md ? 1 - md : ms, gone);
    nm_filter_opts o;
    nm_filter_opts_init(&o, ratio);
    o.max_sparsity = ms;
    o.min_density = md;
    int64_t unmet = -1;
    o.unmet = &unmet;
    cr_assert_eq(nm_prune_filters(m, &o), NM_OK, "%s", nm_errmsg());
    int total = 0;
    for (int c = 0; c < NCAND; c++) {
        const nm_layer *l = &m->layers[nm_model_find(m, cand[c])];
        for (int t = 0; t < l->out_c; t++)
            cr_assert_eq(l->filters ? nm_u8(l->filters)[t] : 1, !gone[c][t], "%s filter %d",
                         l->name, t);
        total += removed_of(m, cand[c]);
    }
    cr_assert_eq(total, want);
    check_filters(m);
    check_propagation(m);
    *total_removed = total;
    nm_model_free(m);
    return unmet;
}

Test(caps, global_cap_binds_and_target_met)
{
    /* F = 60, k = 18. Uncapped, the reference takes more than half of some
     * layer (the test would notice a cap being ignored). */
    nm_model *m = small_resnet(11);
    uint8_t gone[NCAND][64];
    cr_assert_eq(reference(m, 0.3, 1.0, gone), 18);
    int over = 0;
    for (int c = 0; c < NCAND; c++) {
        int r = 0;
        for (int t = 0; t < 64; t++)
            r += gone[c][t];
        over |= r > cap_of(m->layers[nm_model_find(m, cand[c])].out_c, 0.5);
    }
    cr_assert(over, "the 0.5 cap should bind on this model");
    nm_model_free(m);
    int total;
    cr_assert_eq(run_global(0.3, 0.5, 0, &total), 0);
    cr_assert_eq(total, 18, "target met by taking filters elsewhere");
    cr_assert_eq(run_global(0.3, 1.0, 0.5, &total), 0);   /* the same as min_density */
    cr_assert_eq(total, 18);
    cr_assert_eq(run_global(0.3, 0.5, 0.5, &total), 0);   /* both, consistent */
    cr_assert_eq(total, 18);
    cr_assert_eq(run_global(0.3, 1.0, 0, &total), 0);     /* uncapped: reference too */
}

Test(caps, infeasible_target_reported)
{
    /* caps 0.25: 2 + 4 + 6 + 3 = 15 of k = round(0.6 * 60) = 36 */
    int total;
    cr_assert_eq(run_global(0.6, 0.25, 0, &total), 36 - 15);
    cr_assert_eq(total, 15);
    nm_model *m = small_resnet(11);
    nm_filter_opts o;
    nm_filter_opts_init(&o, 0.6);
    o.max_sparsity = 0.25;
    cr_assert_eq(nm_prune_filters(m, &o), NM_OK, "unmet is not an error");
    for (int c = 0; c < NCAND; c++)
        cr_assert_eq(removed_of(m, cand[c]), cap_of(m->layers[nm_model_find(m, cand[c])].out_c, 0.25),
                     "%s at its cap", cand[c]);
    nm_model_free(m);
}

Test(caps, per_layer_mode_capped)
{
    nm_model *m = small_resnet(5);
    nm_filter_opts o;
    nm_filter_opts_init(&o, 0.5);
    o.global = 0;
    o.max_sparsity = 0.25;
    int64_t unmet = -1;
    o.unmet = &unmet;
    cr_assert_eq(nm_prune_filters(m, &o), NM_OK, "%s", nm_errmsg());
    int64_t want_unmet = 0;
    for (int c = 0; c < NCAND; c++) {
        int C = m->layers[nm_model_find(m, cand[c])].out_c;
        cr_assert_eq(removed_of(m, cand[c]), cap_of(C, 0.25), "%s", cand[c]);
        want_unmet += llround(0.5 * C) - cap_of(C, 0.25);
    }
    cr_assert_eq(unmet, want_unmet);
    nm_model_free(m);
}

Test(caps, bad_options)
{
    nm_model *m = small_resnet(5);
    nm_filter_opts o;
    nm_filter_opts_init(&o, 0.2);
    o.min_density = 0.6;
    o.max_sparsity = 0.5;
    cr_assert_eq(nm_prune_filters(m, &o), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "disagree"), "%s", nm_errmsg());
    o.min_density = 0;
    o.max_sparsity = 1.5;
    cr_assert_eq(nm_prune_filters(m, &o), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "max_sparsity"), "%s", nm_errmsg());
    o.max_sparsity = 1;
    o.min_density = -0.1;
    cr_assert_eq(nm_prune_filters(m, &o), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "min_density"), "%s", nm_errmsg());
    nm_jointnf_opts j;
    nm_jointnf_opts_init(&j, 2, 4, 0.2, 1);
    j.max_sparsity = 0.2;
    j.min_density = 0.3;
    cr_assert_eq(nm_prune_jointnf(m, &j), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "JointNF") && strstr(nm_errmsg(), "disagree"), "%s", nm_errmsg());
    for (int c = 0; c < NCAND; c++)
        cr_assert_eq(removed_of(m, cand[c]), 0, "nothing pruned on bad options");
    nm_model_free(m);
}

/* JointNF on small_resnet with a cap: counts by brute force. */
static void jointnf_small(double f, double ms, int want_removed, int64_t want_unmet)
{
    nm_model *m = small_resnet(7);
    nm_jointnf_opts o;
    nm_jointnf_opts_init(&o, 2, 4, f, 3);
    o.max_sparsity = ms;
    int64_t unmet = -1;
    o.unmet = &unmet;
    cr_assert_eq(nm_prune_jointnf(m, &o), NM_OK, "%s", nm_errmsg());
    int total = 0;
    for (int c = 0; c < NCAND; c++) {
        int C = m->layers[nm_model_find(m, cand[c])].out_c, r = removed_of(m, cand[c]);
        cr_assert(r <= cap_of(C, ms), "%s lost %d of %d (cap %g)", cand[c], r, C, ms);
        total += r;
    }
    cr_assert_eq(total, want_removed);
    cr_assert_eq(unmet, want_unmet);
    check_filters(m);
    check_propagation(m);
    nm_model_free(m);
}

Test(caps, jointnf_small_capped)
{
    jointnf_small(0.3, 0.5, 18, 0);        /* feasible: round(0.3 * 60) */
    jointnf_small(0.6, 0.25, 15, 36 - 15); /* infeasible: every layer at its cap */
}

/* The zoo's MobileNet-v2, JointNF 4:9 with 20 % of the filters: uncapped it
 * leaves features.17.conv.2 and features.18.0 with one filter; with
 * max_sparsity 0.5 every layer keeps at least half, and the target is met. */
Test(caps, zoo_mobilenet_v2_half_kept)
{
    nm_model *m = nm_zoo("mobilenet_v2", 1);
    cr_assert_not_null(m, "%s", nm_errmsg());
    int F = candidate_filters(m);
    nm_jointnf_opts o;
    nm_jointnf_opts_init(&o, 4, 9, 0.2, 2);
    o.max_sparsity = 0.5;
    int64_t unmet = -1;
    o.unmet = &unmet;
    cr_assert_eq(nm_prune_jointnf(m, &o), NM_OK, "%s", nm_errmsg());
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        if (!nm_layer_prunable(l) || !l->filters)
            continue;
        int kept = 0;
        for (int t = 0; t < l->out_c; t++)
            kept += nm_u8(l->filters)[t] != 0;
        cr_assert(2 * kept >= l->out_c, "%s keeps %d of %d", l->name, kept, l->out_c);
    }
    int removed = candidate_filters_removed(m);
    cr_assert_eq(removed, (int)llround(0.2 * F), "removed %d of %d", removed, F);
    cr_assert_eq(unmet, 0);
    check_filters(m);
    nm_model_free(m);
}
