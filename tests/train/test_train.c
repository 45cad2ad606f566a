/* Training on a small synthetic task: masks hold exactly through SGD with
 * momentum and weight decay and through Adam, SR-STE ends N:M, runs repeat
 * bit for bit, callbacks cancel, the loss falls, BN-L1 shrinks gamma. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quadrants.h"
#include "train.h"

/* Random 50% masks, filter 3 of conv1 removed, feature map 3 removed from fc1. */
static void prune_some(nm_model *m)
{
    nm_rng r;
    nm_rng_seed(&r, 77);
    for (int i = 0; i < m->n_layers; i++) {
        nm_layer *l = &m->layers[i];
        if (!nm_layer_prunable(l))
            continue;
        nm_layer_ensure_mask(l);
        for (int64_t k = 0; k < l->mask->numel; k++)
            nm_u8(l->mask)[k] = nm_rng_uniform(&r) < 0.5;
    }
    nm_layer *c1 = &m->layers[nm_model_find(m, "conv1")];
    c1->filters = nm_tensor_new4(NM_U8, 1, 8, 0, 0, 0);
    memset(c1->filters->data, 1, 8);
    nm_u8(c1->filters)[3] = 0;
    nm_layer *fc1 = &m->layers[nm_model_find(m, "fc1")];
    fc1->in_chans = nm_tensor_new4(NM_U8, 1, 72, 0, 0, 0);
    for (int k = 0; k < 72; k++)
        nm_u8(fc1->in_chans)[k] = k / 9 != 3;
    nm_layer *fc2 = &m->layers[nm_model_find(m, "fc2")];
    fc2->filters = nm_tensor_new4(NM_U8, 1, 4, 0, 0, 0);
    memset(fc2->filters->data, 1, 4);
}

static void check_pruned_zero(const nm_model *before, const nm_model *after)
{
    int64_t zero = 0, moved = 0;
    for (int i = 0; i < after->n_layers; i++) {
        const nm_layer *l = &after->layers[i], *b = &before->layers[i];
        if (!nm_layer_prunable(l))
            continue;
        const int64_t cols = nm_layer_cols(l);
        for (int64_t k = 0; k < l->weight->numel; k++) {
            int64_t o = k / cols, j = k % cols;
            int kept = nm_u8(l->mask)[k] && (!l->filters || nm_u8(l->filters)[o]);
            if (kept && l->in_chans)
                kept = nm_u8(l->in_chans)[l->kind == NM_LAYER_LINEAR ? j : j / 9] != 0;
            float w = nm_f32(l->weight)[k];
            if (!kept) {
                cr_assert(w == 0.0f, "%s weight %lld is %g, pruned", l->name, (long long)k, w);
                zero++;
            } else {
                moved += w != nm_f32(b->weight)[k];
            }
        }
        if (l->bias && l->filters)
            for (int o = 0; o < l->out_c; o++)
                if (!nm_u8(l->filters)[o])
                    cr_assert(nm_f32(l->bias)[o] == 0.0f, "%s bias %d", l->name, o);
    }
    cr_assert(zero > 100, "pruned entries checked: %lld", (long long)zero);
    cr_assert(moved > 100, "kept weights must train: %lld moved", (long long)moved);
}

static void masked_run(nm_optim_kind optim)
{
    nm_dataset *d = quadrants(200, 1);
    nm_model *m = quadrants_net(1, 2);
    prune_some(m);
    /* pruned weights start nonzero: training must zero and keep them zero */
    nm_model *before = nm_model_clone(m);
    nm_train_opts o;
    nm_train_opts_default(&o);
    o.epochs = 3, o.batch = 32, o.optim = optim, o.weight_decay = 1e-2;
    o.lr = optim == NM_OPTIM_ADAM ? 1e-2 : 0.05;
    cr_assert_eq(nm_train(m, d, &o, NULL), NM_OK, "%s", nm_errmsg());
    check_pruned_zero(before, m);
    nm_model_free(m), nm_model_free(before);
    nm_dataset_free(d);
}

Test(train, masks_stay_zero_sgd_momentum_weight_decay) { masked_run(NM_OPTIM_SGD); }
Test(train, masks_stay_zero_adam) { masked_run(NM_OPTIM_ADAM); }

/* Three initialisations: every run must beat chance clearly, and the
 * median run must reach a low loss (one init in ~8 of the synthesiser
 * trains slower; a single seed would make the test about that seed). */
Test(train, loss_falls_and_accuracy_beats_chance)
{
    nm_dataset *d = quadrants(400, 3), *v = quadrants(200, 4);
    double losses[3];
    for (int k = 0; k < 3; k++) {
        nm_model *m = quadrants_net(1, 1 + (uint64_t)k);
        double acc0;
        nm_evaluate(m, v, 0, &acc0, NULL, NULL);
        nm_train_opts o;
        nm_train_opts_default(&o);
        o.epochs = 8, o.batch = 32, o.val = v;
        nm_train_progress p;
        cr_assert_eq(nm_train(m, d, &o, &p), NM_OK, "%s", nm_errmsg());
        cr_assert_eq(p.step, 8 * 13);
        cr_assert(p.loss < 1.0, "seed %d: final epoch loss %g (ln 4 = 1.39 at chance)", k + 1, p.loss);
        cr_assert(p.val_acc > 0.5, "seed %d: held-out accuracy %g (chance 0.25, before %g)", k + 1,
                  p.val_acc, acc0);
        losses[k] = p.loss;
        nm_model_free(m);
    }
    double lo = losses[0] < losses[1] ? losses[0] : losses[1], hi = losses[0] < losses[1] ? losses[1] : losses[0];
    double median = losses[2] < lo ? lo : losses[2] > hi ? hi : losses[2];
    cr_assert(median < 0.6, "median final loss %g over three initialisations", median);
    nm_dataset_free(d), nm_dataset_free(v);
}

Test(train, same_seed_same_weights_other_seed_differs)
{
    nm_dataset *d = quadrants(100, 6);
    nm_model *a = quadrants_net(1, 7), *b = quadrants_net(1, 7), *c = quadrants_net(1, 7);
    nm_train_opts o;
    nm_train_opts_default(&o);
    o.epochs = 2, o.batch = 16, o.seed = 42;
    cr_assert_eq(nm_train(a, d, &o, NULL), NM_OK);
    cr_assert_eq(nm_train(b, d, &o, NULL), NM_OK);
    o.seed = 43;
    cr_assert_eq(nm_train(c, d, &o, NULL), NM_OK);
    int same = 1, differs = 0;
    for (int i = 0; i < a->n_layers; i++)
        if (a->layers[i].weight) {
            size_t bytes = sizeof(float) * (size_t)a->layers[i].weight->numel;
            same &= memcmp(a->layers[i].weight->data, b->layers[i].weight->data, bytes) == 0;
            differs |= memcmp(a->layers[i].weight->data, c->layers[i].weight->data, bytes) != 0;
        }
    cr_assert(same, "same seed must give identical weights");
    cr_assert(differs, "another seed must shuffle differently");
    nm_model_free(a), nm_model_free(b), nm_model_free(c);
    nm_dataset_free(d);
}

Test(train, srste_ends_exactly_nm)
{
    nm_dataset *d = quadrants(120, 8);
    nm_model *m = quadrants_net(1, 9);
    nm_train_opts o;
    nm_train_opts_default(&o);
    o.epochs = 2, o.batch = 24, o.srste = 2e-4, o.srste_n = 2, o.srste_m = 4;
    cr_assert_eq(nm_train(m, d, &o, NULL), NM_OK, "%s", nm_errmsg());
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        if (!nm_layer_prunable(l))
            continue;
        cr_assert_not_null(l->mask);
        const int64_t rows = nm_layer_rows(l), cols = nm_layer_cols(l);
        for (int64_t r = 0; r < rows; r++)
            for (int64_t g = 0; g < cols; g += 4) {
                int nz = 0, kept = 0;
                for (int64_t j = g; j < g + 4 && j < cols; j++) {
                    nz += nm_f32(l->weight)[r * cols + j] != 0;
                    kept += nm_u8(l->mask)[r * cols + j];
                }
                cr_assert(nz <= 2 && kept == (cols - g < 2 ? cols - g : 2),
                          "%s row %lld group %lld: %d nonzero, %d kept", l->name, (long long)r,
                          (long long)g, nz, kept);
            }
    }
    nm_model_free(m);
    nm_dataset_free(d);
}

Test(train, nm_mask_ties_and_partial_groups)
{
    const float w[7] = {0.5f, -3, 0.5f, 1, 2, -2, 0};
    uint8_t k[7];
    nm_train_nm_mask(w, 1, 7, 2, 4, k);
    const uint8_t want[7] = {0, 1, 0, 1, 1, 1, 0};   /* |-3|,|1| ; partial {2,-2,0}: 2 and -2 */
    for (int i = 0; i < 7; i++)
        cr_assert_eq(k[i], want[i], "entry %d", i);
    const float t[4] = {1, -1, 1, 0};
    nm_train_nm_mask(t, 1, 4, 2, 4, k);
    cr_assert(k[0] && k[1] && !k[2] && !k[3], "ties go to the lower index");
}

Test(train, bn_l1_shrinks_gamma)
{
    nm_dataset *d = quadrants(128, 10);
    double mean[2];
    for (int run = 0; run < 2; run++) {
        nm_model *m = quadrants_net(1, 11);
        nm_train_opts o;
        nm_train_opts_default(&o);
        o.epochs = 3, o.batch = 32, o.l1_bn = run ? 0.05 : 0;
        cr_assert_eq(nm_train(m, d, &o, NULL), NM_OK);
        const nm_tensor *g = m->layers[nm_model_find(m, "bn1")].gamma;
        mean[run] = 0;
        for (int k = 0; k < 8; k++)
            mean[run] += fabs(nm_f32(g)[k]) / 8;
        nm_model_free(m);
    }
    cr_assert(mean[1] < mean[0] - 0.05, "mean |gamma| %g with L1 vs %g without", mean[1], mean[0]);
    nm_dataset_free(d);
}

static int stop_at_3(void *ud, const nm_train_progress *p)
{
    *(int64_t *)ud = p->step;
    return p->step >= 3;
}

Test(train, callback_cancels_and_bad_options_are_named)
{
    nm_dataset *d = quadrants(100, 12);
    nm_model *m = quadrants_net(1, 13);
    nm_train_opts o;
    nm_train_opts_default(&o);
    int64_t last = 0;
    o.on_batch = stop_at_3, o.ud = &last, o.batch = 10;
    cr_assert_eq(nm_train(m, d, &o, NULL), NM_ERR);
    cr_assert_str_eq(nm_errmsg(), "cancelled");
    cr_assert_eq(last, 3);
    nm_train_opts_default(&o);
    o.srste = 1e-4, o.srste_n = 5, o.srste_m = 4;
    cr_assert_eq(nm_train(m, d, &o, NULL), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "5:4"), "%s", nm_errmsg());
    nm_train_opts_default(&o);
    o.lr = 0;
    cr_assert_eq(nm_train(m, d, &o, NULL), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "learning rate"), "%s", nm_errmsg());
    nm_model *wrong = nm_model_new("w", 1, 5, 5);
    nm_add_flatten(wrong, "f", NM_INPUT);
    nm_add_linear(wrong, "fc", NM_PREV, 4, 1);
    nm_train_opts_default(&o);
    cr_assert_eq(nm_train(wrong, d, &o, NULL), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "(1, 6, 6)") && strstr(nm_errmsg(), "(1, 5, 5)"), "%s",
              nm_errmsg());
    nm_model_free(wrong), nm_model_free(m);
    nm_dataset_free(d);
}
