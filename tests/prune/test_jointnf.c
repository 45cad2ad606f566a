/* JointNF: invariants on a small residual model and a MobileNet-v2-like
 * network built with the builders: exact N:M after the last round, the
 * uniform pool schedule, round-1 pool selection against a sorted
 * reference, reserved weights kept, filter target met, no layer emptied,
 * propagation against the channel graph, callbacks and cancellation. */
#include "helpers.h"

#include <stdio.h>

/* stem, four inverted-residual blocks (two with a residual add), last 1x1
 * conv, global pool, classifier. */
static nm_model *mobile_like(uint64_t seed)
{
    nm_model *m = nm_model_new("mobile", 3, 32, 32);
    nm_add_conv(m, "stem", NM_INPUT, 16, 3, 3, 2, 1, 1, 0);
    nm_add_bn(m, "stem_bn", NM_PREV);
    int x = nm_add_relu(m, "stem_relu", NM_PREV, 6);
    const int cfg[4][3] = {{16, 24, 2}, {24, 24, 1}, {24, 32, 2}, {32, 32, 1}};
    char nm[64];
    for (int b = 0; b < 4; b++) {
        int in = cfg[b][0], out = cfg[b][1], s = cfg[b][2];
        snprintf(nm, sizeof nm, "b%d_exp", b);
        nm_add_conv(m, nm, x, in * 4, 1, 1, 1, 0, 1, 0);
        snprintf(nm, sizeof nm, "b%d_exp_bn", b);
        nm_add_bn(m, nm, NM_PREV);
        snprintf(nm, sizeof nm, "b%d_exp_relu", b);
        nm_add_relu(m, nm, NM_PREV, 6);
        snprintf(nm, sizeof nm, "b%d_dw", b);
        nm_add_dwconv(m, nm, NM_PREV, 3, s, 1);
        snprintf(nm, sizeof nm, "b%d_dw_bn", b);
        nm_add_bn(m, nm, NM_PREV);
        snprintf(nm, sizeof nm, "b%d_dw_relu", b);
        nm_add_relu(m, nm, NM_PREV, 6);
        snprintf(nm, sizeof nm, "b%d_proj", b);
        nm_add_conv(m, nm, NM_PREV, out, 1, 1, 1, 0, 1, 0);
        snprintf(nm, sizeof nm, "b%d_proj_bn", b);
        int y = nm_add_bn(m, nm, NM_PREV);
        if (s == 1 && in == out) {
            snprintf(nm, sizeof nm, "b%d_add", b);
            y = nm_add_add(m, nm, y, x);
        }
        x = y;
    }
    nm_add_conv(m, "last", x, 64, 1, 1, 1, 0, 1, 0);
    nm_add_bn(m, "last_bn", NM_PREV);
    nm_add_relu(m, "last_relu", NM_PREV, 6);
    nm_add_gap(m, "gap", NM_PREV);
    nm_add_flatten(m, "flat", NM_PREV);
    int fc = nm_add_linear(m, "fc", NM_PREV, 10, 1);
    cr_assert(fc >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, seed);
    /* BN gammas spread so the filter score depends on them */
    nm_rng r;
    nm_rng_seed(&r, seed + 1);
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == NM_LAYER_BN)
            for (int t = 0; t < m->layers[i].out_c; t++)
                nm_f32(m->layers[i].gamma)[t] = (float)(0.1 + nm_rng_uniform(&r));
    return m;
}

/* What the callbacks check between rounds. */
typedef struct {
    nm_model *m;
    int n, mm, rounds, calls, last_round;
    int64_t pool;          /* candidates counted at the start of the round */
    int check_reserved;    /* no filter pruning: every group keeps >= min(N, L) */
    int check_selection;   /* round 1: pruned set = k smallest candidates */
    uint8_t *before[64];   /* masks at the start of round 1 */
    int order_ok;
} watch;

typedef struct {
    const float *w;
    const uint8_t *mk;
    int n;
    int64_t cand, short_groups, exact_groups, groups;
} grp_ctx;

static void count_group(const int64_t *idx, int len, void *ud)
{
    grp_ctx *c = ud;
    int s = 0;
    for (int i = 0; i < len; i++)
        s += c->mk[idx[i]] != 0;
    int need = len < c->n ? len : c->n;
    c->cand += s > c->n ? s - c->n : 0;
    c->short_groups += s < need;
    c->exact_groups += s == need;
    c->groups++;
}

static grp_ctx scan_layer(const nm_layer *l, int n, int mm)
{
    grp_ctx c = {nm_f32(l->weight), nm_u8(l->mask), n, 0, 0, 0, 0};
    int64_t K = l->weight->ndim == 4 ? l->weight->shape[2] : 1;
    each_group(l->weight->shape[0], l->weight->shape[1], K, K, mm,
               nm_group_axis_default(l), count_group, &c);
    return c;
}

static int is_eligible(const nm_model *m, int i)
{
    return nm_prune_eligible(m, i, NULL, NULL);
}

static int finetune(void *ud, nm_model *m, int round)
{
    watch *w = ud;
    cr_assert_eq(m, w->m);
    w->order_ok &= round == w->last_round + 1;
    w->calls++;
    w->pool = 0;
    for (int i = 0; i < m->n_layers; i++) {
        if (!is_eligible(m, i))
            continue;
        nm_layer_ensure_mask(&m->layers[i]);
        w->pool += scan_layer(&m->layers[i], w->n, w->mm).cand;
        if (round == 1 && w->check_selection) {
            w->before[i] = malloc((size_t)m->layers[i].mask->numel);
            memcpy(w->before[i], m->layers[i].mask->data, (size_t)m->layers[i].mask->numel);
        }
    }
    return 0;
}

typedef struct {
    const float *w;
    const uint8_t *mk;
    int n, layer;
    ref_weight *out;
    int64_t count;
} collect_ctx;

/* Candidates of a group: survivors outside its N largest (ties: lower). */
static void collect_group(const int64_t *idx, int len, void *ud)
{
    collect_ctx *c = ud;
    for (int i = 0; i < len; i++) {
        if (!c->mk[idx[i]])
            continue;
        int better = 0;
        for (int j = 0; j < len; j++)
            if (j != i && c->mk[idx[j]]) {
                float aj = fabsf(c->w[idx[j]]), ai = fabsf(c->w[idx[i]]);
                better += aj > ai || (aj == ai && j < i);
            }
        if (better >= c->n)
            c->out[c->count++] = (ref_weight){fabsf(c->w[idx[i]]), c->layer, idx[i]};
    }
}

static void on_round(void *ud, const nm_jointnf_round *info)
{
    watch *w = ud;
    nm_model *m = w->m;
    w->order_ok &= info->round == w->calls && info->rounds == w->rounds;
    w->last_round = info->round;
    int64_t want = info->round == info->rounds ? w->pool
                   : llround((double)w->pool / (info->rounds - info->round + 1));
    cr_assert_eq(info->weights_pruned, want, "round %d: pruned %lld of a pool of %lld", info->round,
                 (long long)info->weights_pruned, (long long)w->pool);
    for (int k = 0; k < info->n_layers; k++) {
        nm_layer_stats s;
        nm_layer_stats_get(m, info->layer[k], &s);
        cr_assert_float_eq(info->density[k], s.density, 1e-12);
        cr_assert_eq(info->filters_kept[k], s.filters_kept);
    }
    if (w->check_reserved)
        for (int i = 0; i < m->n_layers; i++)
            if (is_eligible(m, i)) {
                grp_ctx c = scan_layer(&m->layers[i], w->n, w->mm);
                cr_assert_eq(c.short_groups, 0, "round %d: %s has a group below N", info->round,
                             m->layers[i].name);
                if (info->round == info->rounds)
                    cr_assert_eq(c.exact_groups, c.groups, "%s not exactly N:M", m->layers[i].name);
            }
    if (w->check_selection && info->round == 1) {
        int64_t cap = 0;
        for (int i = 0; i < m->n_layers; i++)
            if (w->before[i])
                cap += m->layers[i].weight->numel;
        ref_weight *all = malloc((size_t)cap * sizeof *all);
        int64_t nc = 0;
        for (int i = 0; i < m->n_layers; i++) {
            if (!w->before[i])
                continue;
            const nm_layer *l = &m->layers[i];
            collect_ctx c = {nm_f32(l->weight), w->before[i], w->n, i, all + nc, 0};
            int64_t K = l->weight->ndim == 4 ? l->weight->shape[2] : 1;
            each_group(l->weight->shape[0], l->weight->shape[1], K, K, w->mm,
                       nm_group_axis_default(l), collect_group, &c);
            nc += c.count;
        }
        cr_assert_eq(nc, w->pool);
        qsort(all, (size_t)nc, sizeof *all, ref_weight_cmp);
        for (int64_t j = 0; j < nc; j++) {
            int pruned = nm_u8(m->layers[all[j].layer].mask)[all[j].i] == 0;
            cr_assert_eq(pruned, j < want, "candidate %lld of %s (rank %lld of %lld, k %lld)",
                         (long long)all[j].i, m->layers[all[j].layer].name, (long long)j,
                         (long long)nc, (long long)want);
        }
        free(all);
    }
}

static void run_watch(nm_model *m, int n, int mm, double f, int rounds, int reserved, int sel)
{
    watch w = {.m = m, .n = n, .mm = mm, .rounds = rounds, .order_ok = 1,
               .check_reserved = reserved, .check_selection = sel};
    nm_jointnf_opts o;
    nm_jointnf_opts_init(&o, n, mm, f, rounds);
    o.finetune = finetune;
    o.finetune_ud = &w;
    o.on_round = on_round;
    o.on_round_ud = &w;
    cr_assert_eq(nm_prune_jointnf(m, &o), NM_OK, "%s", nm_errmsg());
    cr_assert_eq(w.calls, rounds);
    cr_assert(w.order_ok, "finetune and on_round interleave in round order");
    for (int i = 0; i < 64; i++)
        free(w.before[i]);
}

Test(jointnf, selection_schedule_and_reserved_without_filters)
{
    nm_model *m = small_resnet(41);
    run_watch(m, 2, 4, 0.0, 3, 1, 1);
    nm_model_free(m);
    m = mobile_like(5);
    run_watch(m, 4, 9, 0.0, 2, 1, 1);
    nm_model_free(m);
}

/* Filters removed among the eligible ones, and the final N:M. */
static void check_final(nm_model *m, const char *const *elig, int n_elig, int n, int mm, double f)
{
    int F = 0, removed = 0;
    for (int e = 0; e < n_elig; e++) {
        const nm_layer *l = &m->layers[nm_model_find(m, elig[e])];
        F += l->out_c;
        for (int t = 0; t < l->out_c; t++)
            removed += !nm_u8(l->filters)[t];
    }
    cr_assert_eq(removed, (int)llround(f * F), "removed %d of %d filters", removed, F);
    for (int i = 0; i < m->n_layers; i++) {
        if (!is_eligible(m, i))
            continue;
        nm_layer *l = &m->layers[i];
        cr_assert_eq(l->wn, n);
        cr_assert_eq(l->wm, mm);
        int64_t bad;
        cr_assert_eq(nm_check_nm(l->weight, l->mask, n, mm, nm_group_axis_default(l), &bad, NULL), NM_OK);
        cr_assert_eq(bad, 0, "%s violates %d:%d", l->name, n, mm);
    }
    check_filters(m);
    check_propagation(m);
}

Test(jointnf, invariants_small_resnet)
{
    nm_model *m = small_resnet(42);
    run_watch(m, 2, 4, 0.3, 3, 0, 0);
    const char *elig[] = {"b1c1", "b2c1", "exp", "proj"};
    check_final(m, elig, 4, 2, 4, 0.3);
    nm_model_free(m);
}

Test(jointnf, invariants_mobile_like)
{
    nm_model *m = mobile_like(6);
    run_watch(m, 4, 9, 0.2, 3, 0, 0);
    /* project convs feed residual adds (b0/b2 feed the next block's add) */
    const char *elig[] = {"b0_exp", "b1_exp", "b2_exp", "b3_exp", "last"};
    check_final(m, elig, 5, 4, 9, 0.2);
    for (int b = 0; b < 4; b++) {
        char nm[32];
        snprintf(nm, sizeof nm, "b%d_proj", b);
        cr_assert(nm_feeds_add(m, nm_model_find(m, nm)), "%s feeds an add", nm);
    }
    nm_model_free(m);
}

Test(jointnf, one_round_and_huge_target_never_empties)
{
    nm_model *m = small_resnet(43);
    nm_jointnf_opts o;
    nm_jointnf_opts_init(&o, 1, 4, 0.95, 1);
    cr_assert_eq(nm_prune_jointnf(m, &o), NM_OK, "%s", nm_errmsg());
    check_filters(m);
    check_propagation(m);
    /* with every layer allowed and a 95% target, all eligible layers keep >= 1 */
    nm_model_free(m);
}

static int fail_round2(void *ud, nm_model *m, int round)
{
    (void)ud, (void)m;
    if (round == 2)
        return nm_seterr("loss is NaN");
    return 0;
}

static int cancel_at_half(void *ud, double fraction, const char *what)
{
    (void)ud, (void)what;
    return fraction >= 0.5;
}

Test(jointnf, callbacks_fail_and_cancel)
{
    nm_model *m = small_resnet(44);
    nm_jointnf_opts o;
    nm_jointnf_opts_init(&o, 2, 4, 0.1, 3);
    o.finetune = fail_round2;
    cr_assert_eq(nm_prune_jointnf(m, &o), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "fine-tuning failed in round 2: loss is NaN"), "%s", nm_errmsg());
    nm_jointnf_opts_init(&o, 2, 4, 0.1, 2);
    o.progress = cancel_at_half;
    cr_assert_eq(nm_prune_jointnf(m, &o), NM_ERR);
    cr_assert_str_eq(nm_errmsg(), "cancelled");
    nm_jointnf_opts_init(&o, 5, 4, 0.1, 2);
    cr_assert_eq(nm_prune_jointnf(m, &o), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "impossible N:M 5:4"), "%s", nm_errmsg());
    nm_jointnf_opts_init(&o, 2, 4, 0.1, 0);
    cr_assert_eq(nm_prune_jointnf(m, &o), NM_ERR);
    nm_model_free(m);
}

#include "zoo.h"

/* The zoo's MobileNet-v2 (inverted residuals, dwconvs, adds): the same
 * invariants on a real network structure. */
Test(jointnf, zoo_mobilenet_v2_invariants)
{
    nm_model *m = nm_zoo("mobilenet_v2", 3);
    cr_assert_not_null(m, "%s", nm_errmsg());
    int F = candidate_filters(m);
    nm_jointnf_opts o;
    nm_jointnf_opts_init(&o, 4, 9, 0.2, 2);
    cr_assert_eq(nm_prune_jointnf(m, &o), NM_OK, "%s", nm_errmsg());
    for (int i = 0; i < m->n_layers; i++) {
        nm_layer *l = &m->layers[i];
        if (!nm_prune_eligible(m, i, NULL, NULL))
            continue;
        int64_t bad;
        nm_check_nm(l->weight, l->mask, 4, 9, nm_group_axis_default(l), &bad, NULL);
        cr_assert_eq(bad, 0, "%s violates 4:9", l->name);
    }
    int removed = candidate_filters_removed(m);
    cr_assert_eq(removed, (int)llround(0.2 * F), "removed %d of %d", removed, F);
    check_filters(m);
    cr_assert(check_propagation(m) > 0);
    nm_model_free(m);
}
