/* JointNF's fused last round (one pass: N:M on the survivors, row L1 for
 * the filter scores taken there) and the batched input-channel clears of
 * group removals, against the multi-pass reference (nm_jointnf_reference,
 * nm_group_batch_clears = 0: candidates marked, selected, rows scored and
 * channels cleared one by one as before). Every tensor of every layer
 * (weights, masks, filter and channel keeps, biases, BN scales) and what
 * the round callbacks report must match bit for bit, over hand-built and
 * zoo models, several N:M and axes, filter ratios, rounds, caps, allow_add,
 * include_first/include_last, reductions, heads, overrides and ties. */
#include "helpers.h"
#include "prune_int.h"
#include "zoo.h"

#include <omp.h>
#include <stdio.h>

/* A mix of what the fused pass must handle: a 5x5 conv (K = 25), a
 * grouped conv (groups 2), a dwconv, 1x1 convs, a residual add, two
 * linears (ties in the weights when ties != 0), BN gammas drawn from few
 * levels (tied filter scores) and some weights already masked. */
static nm_model *mixed_net(uint64_t seed, int ties)
{
    nm_model *m = nm_model_new("mixed", 3, 12, 12);
    nm_add_conv(m, "stem", NM_INPUT, 12, 5, 5, 1, 2, 1, 0);
    nm_add_bn(m, "stem_bn", NM_PREV);
    int s = nm_add_relu(m, "stem_relu", NM_PREV, 0);
    nm_add_conv(m, "g2", s, 16, 3, 3, 1, 1, 2, 1);
    nm_add_bn(m, "g2_bn", NM_PREV);
    nm_add_relu(m, "g2_relu", NM_PREV, 0);
    nm_add_conv(m, "pw", NM_PREV, 12, 1, 1, 1, 0, 1, 0);
    int pb = nm_add_bn(m, "pw_bn", NM_PREV);
    int a = nm_add_add(m, "add", pb, s);
    nm_add_conv(m, "exp", a, 24, 1, 1, 1, 0, 1, 0);
    nm_add_bn(m, "exp_bn", NM_PREV);
    nm_add_relu(m, "exp_relu", NM_PREV, 6);
    nm_add_dwconv(m, "dw", NM_PREV, 3, 2, 1);
    nm_add_bn(m, "dw_bn", NM_PREV);
    nm_add_relu(m, "dw_relu", NM_PREV, 6);
    nm_add_conv(m, "c3", NM_PREV, 20, 3, 3, 1, 1, 1, 1);
    nm_add_bn(m, "c3_bn", NM_PREV);
    nm_add_relu(m, "c3_relu", NM_PREV, 0);
    nm_add_gap(m, "gap", NM_PREV);
    nm_add_flatten(m, "flat", NM_PREV);
    nm_add_linear(m, "fc1", NM_PREV, 18, 1);
    nm_add_relu(m, "fc1_relu", NM_PREV, 0);
    int fc = nm_add_linear(m, "fc2", NM_PREV, 7, 1);
    cr_assert(fc >= 0, "building mixed_net: %s", nm_errmsg());
    nm_model_init_weights(m, seed);
    nm_rng r;
    nm_rng_seed(&r, seed + 7);
    for (int i = 0; i < m->n_layers; i++) {
        nm_layer *l = &m->layers[i];
        if (l->kind == NM_LAYER_BN)
            for (int t = 0; t < l->out_c; t++)
                nm_f32(l->gamma)[t] = ties ? (float)(1 + (int)(nm_rng_uniform(&r) * 3)) * 0.5f
                                           : (float)(0.1 + nm_rng_uniform(&r));
        if (!nm_layer_prunable(l) || !l->weight)
            continue;
        if (ties)
            fill_random(l->weight, &r, 1);
        cr_assert_eq(nm_layer_ensure_mask(l), NM_OK);
        for (int64_t j = 0; j < l->mask->numel; j++) /* some weights already pruned */
            nm_u8(l->mask)[j] = nm_rng_uniform(&r) >= 0.1;
    }
    return m;
}

/* pre (8 features x 5 tokens) -> qkv -> two heads -> out -> add -> fc. */
static nm_model *attn_net(uint64_t seed)
{
    nm_model *m = nm_model_new("attn", 8, 5, 1);
    int pre = nm_add_linear(m, "pre", NM_INPUT, 8, 1);
    int qkv = nm_add_linear(m, "qkv", pre, 24, 1);
    int q = nm_add_slice(m, "q", qkv, NM_AXIS_CHANNEL, 0, 8);
    int k = nm_add_slice(m, "k", qkv, NM_AXIS_CHANNEL, 8, 8);
    int v = nm_add_slice(m, "v", qkv, NM_AXIS_CHANNEL, 16, 8);
    nm_add_matmul(m, "scores", q, k, 2, 1);
    int sm = nm_add_softmax_heads(m, "softmax", NM_PREV, 2);
    nm_add_matmul(m, "context", sm, v, 2, 0);
    int out = nm_add_linear(m, "out", NM_PREV, 8, 1);
    nm_add_add(m, "add", out, pre);
    nm_add_linear(m, "mlp", NM_PREV, 16, 1);
    cr_assert(nm_add_linear(m, "fc", NM_PREV, 3, 1) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, seed);
    return m;
}

/* What the round callback saw, to compare between the two runs. */
typedef struct {
    int calls;
    int64_t pruned[8];
    int removed[8];
    double density[8][64];
} rounds_log;

static void log_round(void *ud, const nm_jointnf_round *info)
{
    rounds_log *g = ud;
    if (g->calls >= 8)
        return;
    g->pruned[g->calls] = info->weights_pruned;
    g->removed[g->calls] = info->filters_removed;
    for (int i = 0; i < info->n_layers && i < 64; i++)
        g->density[g->calls][i] = info->density[i];
    g->calls++;
}

/* Fine-tuning stand-in: nudges every kept weight so rounds differ. */
static int nudge(void *ud, nm_model *m, int round)
{
    (void)ud;
    for (int i = 0; i < m->n_layers; i++) {
        nm_layer *l = &m->layers[i];
        if (!nm_layer_prunable(l) || !l->weight)
            continue;
        float *w = nm_f32(l->weight);
        for (int64_t j = 0; j < l->weight->numel; j++)
            w[j] *= 1.0f + 0.01f * (float)((j * 7 + round) % 5);
    }
    return 0;
}

/* What the last one-pass selection of the fused run did (0 none, 1 done,
 * 2 gave back). */
static int fused_path;

/* Runs JointNF with o on a and (as the reference) on b; every tensor of
 * every layer, the unmet count and the round logs must be equal. Returns
 * the number of weights the runs pruned (so callers can check a case did
 * something). */
static int64_t same_as_reference(nm_model *a, nm_model *b, nm_jointnf_opts o, const char *what)
{
    rounds_log la = {0}, lb = {0};
    int64_t ua = -1, ub = -1;
    o.on_round = log_round;
    o.unmet = &ua;
    o.on_round_ud = &la;
    nm_select_sample_last = 0;
    int rca = nm_prune_jointnf(a, &o);
    fused_path = nm_select_sample_last;
    char erra[256];
    snprintf(erra, sizeof erra, "%s", nm_errmsg());
    nm_jointnf_reference = 1;
    nm_group_batch_clears = 0;
    o.unmet = &ub;
    o.on_round_ud = &lb;
    int rcb = nm_prune_jointnf(b, &o);
    nm_jointnf_reference = 0;
    nm_group_batch_clears = 1;
    cr_assert_eq(rca, rcb, "%s: fused rc %d (%s), reference rc %d (%s)", what, rca, erra, rcb,
                 nm_errmsg());
    cr_assert_eq(ua, ub, "%s: unmet %lld vs %lld", what, (long long)ua, (long long)ub);
    cr_assert_eq(la.calls, lb.calls, "%s: rounds reported", what);
    int64_t pruned = 0;
    for (int r = 0; r < la.calls; r++) {
        cr_assert_eq(la.pruned[r], lb.pruned[r], "%s round %d: weights pruned %lld vs %lld", what,
                     r + 1, (long long)la.pruned[r], (long long)lb.pruned[r]);
        cr_assert_eq(la.removed[r], lb.removed[r], "%s round %d: filters removed %d vs %d", what,
                     r + 1, la.removed[r], lb.removed[r]);
        cr_assert(memcmp(la.density[r], lb.density[r], sizeof la.density[r]) == 0,
                  "%s round %d: densities differ", what, r + 1);
        pruned += la.pruned[r];
    }
    cr_assert_eq(a->n_layers, b->n_layers);
    for (int i = 0; i < a->n_layers; i++) {
        nm_tensor **sa[NM_LAYER_SLOTS], **sb[NM_LAYER_SLOTS];
        nm_layer_slots(&a->layers[i], sa);
        nm_layer_slots(&b->layers[i], sb);
        for (int k = 0; k < NM_LAYER_SLOTS; k++) {
            const nm_tensor *x = *sa[k], *y = *sb[k];
            cr_assert_eq(x == NULL, y == NULL, "%s: layer %s slot %d exists in one run only",
                         what, a->layers[i].name, k);
            if (!x)
                continue;
            cr_assert_eq(x->numel, y->numel);
            size_t bytes = (size_t)x->numel * (x->dtype == NM_U8 ? 1 : 4);
            cr_assert(memcmp(x->data, y->data, bytes) == 0, "%s: layer %s slot %d differs", what,
                      a->layers[i].name, k);
        }
    }
    return pruned;
}

typedef nm_model *(*maker)(uint64_t seed, int ties);

static void compare(maker mk, uint64_t seed, int ties, const nm_jointnf_opts *o, const char *what)
{
    nm_model *a = mk(seed, ties), *b = nm_model_clone(a);
    cr_assert_not_null(b, "%s", nm_errmsg());
    int64_t pruned = same_as_reference(a, b, *o, what);
    cr_assert(pruned > 0 || o->n == o->m, "%s: nothing was pruned, the case checks nothing", what);
    nm_model_free(a);
    nm_model_free(b);
}

static nm_model *small_resnet_t(uint64_t seed, int ties)
{
    nm_model *m = small_resnet(seed);
    if (ties) {
        nm_rng r;
        nm_rng_seed(&r, seed);
        for (int i = 0; i < m->n_layers; i++)
            if (nm_layer_prunable(&m->layers[i]) && m->layers[i].weight)
                fill_random(m->layers[i].weight, &r, 1);
    }
    return m;
}

static nm_model *attn_t(uint64_t seed, int ties)
{
    (void)ties;
    return attn_net(seed);
}

Test(jointnf_fused, hand_built_models_match_reference)
{
    const struct { int n, m; nm_group_axis axis; } nm[] = {
        {4, 9, NM_GROUP_AUTO}, {2, 4, NM_GROUP_IN}, {1, 3, NM_GROUP_KERNEL},
        {3, 8, NM_GROUP_ROW},  {2, 4, NM_GROUP_KERNEL}, {0, 4, NM_GROUP_IN},
    };
    const double ratios[] = {0, 0.2, 0.5, 0.95};
    char what[160];
    /* tiny layers: one thread (hundreds of runs, each a few dozen
     * parallel regions; on a loaded machine each costs a time slice). The
     * zoo test below runs on every thread. */
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    int cases = 0;
    for (size_t a = 0; a < sizeof nm / sizeof nm[0]; a++)
        for (size_t f = 0; f < sizeof ratios / sizeof ratios[0]; f++)
            for (int rounds = 1; rounds <= 3; rounds += 2)
                for (int ties = 0; ties <= 1; ties++) {
                    nm_jointnf_opts o;
                    nm_jointnf_opts_init(&o, nm[a].n, nm[a].m, ratios[f], rounds);
                    o.axis = nm[a].axis;
                    o.allow_add = (int)(f & 1);
                    o.scope.include_last = ties;
                    o.scope.include_first = rounds == 3;
                    o.finetune = rounds == 3 ? nudge : NULL;
                    o.reduction = (nm_group_reduction)(a % 3);
                    snprintf(what, sizeof what, "mixed %d:%d axis %d f %g R %d ties %d", nm[a].n,
                             nm[a].m, (int)nm[a].axis, ratios[f], rounds, ties);
                    compare(mixed_net, 11 + a, ties, &o, what);
                    snprintf(what, sizeof what, "small_resnet %d:%d axis %d f %g R %d ties %d",
                             nm[a].n, nm[a].m, (int)nm[a].axis, ratios[f], rounds, ties);
                    compare(small_resnet_t, 21 + f, ties, &o, what);
                    cases += 2;
                }
    omp_set_num_threads(threads);
    cr_assert_eq(cases, 6 * 4 * 2 * 2 * 2);
}

Test(jointnf_fused, caps_overrides_normalize_heads_match_reference)
{
    nm_jointnf_opts o;
    /* per-layer caps */
    nm_jointnf_opts_init(&o, 4, 9, 0.6, 2);
    o.max_sparsity = 0.3;
    compare(mixed_net, 3, 0, &o, "max_sparsity 0.3");
    nm_jointnf_opts_init(&o, 2, 4, 0.6, 1);
    o.min_density = 0.75;
    o.allow_add = 1;
    compare(mixed_net, 4, 1, &o, "min_density 0.75");
    /* per-family normalisation, sum reduction */
    nm_jointnf_opts_init(&o, 4, 9, 0.3, 1);
    o.normalize = NM_GNORM_MEAN;
    o.reduction = NM_GRED_SUM;
    compare(small_resnet_t, 5, 0, &o, "normalize mean");
    /* overrides: one layer skipped, one at another N:M and axis */
    nm_layer_override ov[2] = {{.layer = "c3", .n = 1, .m = 4, .axis = NM_GROUP_ROW},
                               {.layer = "exp", .skip = 1}};
    nm_jointnf_opts_init(&o, 4, 9, 0.25, 1);
    o.scope.overrides = ov;
    o.scope.n_overrides = 2;
    compare(mixed_net, 6, 0, &o, "overrides");
    /* heads: the row sums are not cached (head removal changes rows) */
    for (int rounds = 1; rounds <= 2; rounds++) {
        nm_jointnf_opts_init(&o, 2, 4, 0.2, rounds);
        o.heads = 1;
        o.scope.include_first = o.scope.include_last = 1;
        compare(attn_t, 8, 0, &o, rounds == 1 ? "heads, one round" : "heads, two rounds");
    }
    nm_jointnf_opts_init(&o, 2, 4, 0.3, 1);
    o.allow_add = 1;
    compare(attn_t, 9, 0, &o, "attention net, allow_add");
}

static nm_model *zoo_model(const char *name, uint64_t seed)
{
    nm_model *m = nm_zoo(name, seed);
    cr_assert_not_null(m, "zoo %s: %s", name, nm_errmsg());
    nm_rng r;
    nm_rng_seed(&r, seed + 3);
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == NM_LAYER_BN)
            for (int t = 0; t < m->layers[i].out_c; t++)
                nm_f32(m->layers[i].gamma)[t] = (float)(0.05 + nm_rng_uniform(&r));
    return m;
}

static nm_model *fmnist_cnn_t(uint64_t seed, int ties)
{
    (void)ties;
    return zoo_model("fmnist_cnn", seed);
}

static nm_model *fmnist_resnet_t(uint64_t seed, int ties)
{
    (void)ties;
    return zoo_model("fmnist_resnet", seed);
}

static nm_model *mobilenet_t(uint64_t seed, int ties)
{
    (void)ties;
    return zoo_model("mobilenet_v2", seed);
}

Test(jointnf_fused, zoo_models_match_reference, .timeout = 120)
{
    nm_jointnf_opts o;
    nm_jointnf_opts_init(&o, 4, 9, 0.2, 1);
    compare(fmnist_cnn_t, 1, 0, &o, "fmnist_cnn 4:9 f 0.2 R 1");
    nm_jointnf_opts_init(&o, 2, 4, 0.3, 3);
    o.allow_add = 1;
    o.scope.include_last = 1;
    o.finetune = nudge;
    compare(fmnist_resnet_t, 2, 0, &o, "fmnist_resnet 2:4 f 0.3 R 3 allow_add");
    nm_jointnf_opts_init(&o, 2, 4, 0.2, 1);
    o.axis = NM_GROUP_IN;
    compare(mobilenet_t, 3, 0, &o, "mobilenet_v2 2:4 in f 0.2 R 1");
}

/* The batched clears alone, through plain filter pruning (the same
 * nm_groups_remove_lowest): masks equal to one-by-one clearing. */
Test(jointnf_fused, batched_channel_clears_match)
{
    for (int allow = 0; allow <= 1; allow++) {
        nm_model *a = mixed_net(30 + allow, 0), *b = nm_model_clone(a);
        nm_filter_opts o;
        nm_filter_opts_init(&o, 0.4);
        o.allow_add = allow;
        cr_assert_eq(nm_prune_filters(a, &o), NM_OK, "%s", nm_errmsg());
        nm_group_batch_clears = 0;
        cr_assert_eq(nm_prune_filters(b, &o), NM_OK, "%s", nm_errmsg());
        nm_group_batch_clears = 1;
        int cleared = 0;
        for (int i = 0; i < a->n_layers; i++) {
            const nm_layer *x = &a->layers[i], *y = &b->layers[i];
            if (!x->mask)
                continue;
            cr_assert(memcmp(x->mask->data, y->mask->data, (size_t)x->mask->numel) == 0,
                      "layer %s: masks differ", x->name);
            cr_assert((x->in_chans == NULL) == (y->in_chans == NULL));
            if (x->in_chans) {
                cr_assert(memcmp(x->in_chans->data, y->in_chans->data,
                                 (size_t)x->in_chans->numel) == 0);
                for (int64_t c = 0; c < x->in_chans->numel; c++)
                    cleared += nm_u8(x->in_chans)[c] == 0;
            }
        }
        cr_assert_gt(cleared, 2, "no input channel was cleared: the case checks nothing");
        check_propagation(a);
        nm_model_free(a);
        nm_model_free(b);
    }
}

/* The rounds before the last: candidates ranked inside the selection's
 * pass (nm_select_generated), forced on small models by lowering
 * nm_select_sample_min, with its three ways back to the multi-pass path
 * (sample far off either way, band list capped): same tensors and
 * reports as the reference, and the path taken is the one intended. */
Test(jointnf_fused, middle_rounds_in_the_selection_pass_match_reference)
{
    const struct { int n, m; nm_group_axis axis; } nm[] = {
        {4, 9, NM_GROUP_AUTO}, {2, 4, NM_GROUP_IN}, {1, 3, NM_GROUP_KERNEL}, {3, 8, NM_GROUP_ROW},
    };
    int threads = omp_get_max_threads();
    char what[200];
    int paths[3] = {0, 0, 0};
    nm_select_sample_min = 0;
    for (int variant = 0; variant < 4; variant++) {
        nm_select_sample_bias = variant == 1 ? 0.6 : variant == 2 ? -0.6 : 0;
        nm_select_sample_cap = variant == 3 ? 16 : 0;
        /* the ways back on two of the N:M settings (keeps the test fast) */
        for (size_t a = 0; a < (variant ? 2 : sizeof nm / sizeof nm[0]); a++)
            for (int ties = 0; ties <= 1; ties++)
                for (int net = 0; net < 2; net++) {
                    omp_set_num_threads(ties || net ? 1 : threads);
                    nm_jointnf_opts o;
                    nm_jointnf_opts_init(&o, nm[a].n, nm[a].m, ties ? 0.5 : 0.2, 2 + (int)(a % 2));
                    o.axis = nm[a].axis;
                    o.allow_add = ties;
                    o.finetune = a % 2 ? nudge : NULL;
                    maker mk = net ? small_resnet_t : mixed_net;
                    nm_model *x = mk(40 + a, ties), *y = nm_model_clone(x);
                    snprintf(what, sizeof what, "%s %d:%d axis %d R %d ties %d variant %d",
                             net ? "small_resnet" : "mixed", nm[a].n, nm[a].m, (int)nm[a].axis,
                             o.rounds, ties, variant);
                    int64_t pruned = same_as_reference(x, y, o, what);
                    cr_assert_gt(pruned, 0, "%s: nothing pruned", what);
                    /* the fused run's last middle-round selection: done
                     * in one pass, or given back as the variant intends
                     * (0: the pool was too small to sample) */
                    cr_assert_neq(fused_path, variant == 0 ? 2 : 1, "%s: path %d", what,
                                  fused_path);
                    paths[fused_path]++;
                    nm_model_free(x);
                    nm_model_free(y);
                }
    }
    omp_set_num_threads(threads);
    nm_select_sample_min = (int64_t)1 << 20;
    nm_select_sample_bias = 0;
    nm_select_sample_cap = 0;
    cr_assert_gt(paths[1], 8, "the one-pass selection finished only %d times", paths[1]);
    cr_assert_gt(paths[2], 12, "the one-pass selection gave back only %d times", paths[2]);
}
