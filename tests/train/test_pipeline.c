/* The JointNF pipeline with training in the loop: nm_prune_jointnf (the
 * pruning engine) calls nm_train_finetune between rounds, with the BN-L1
 * penalty of network slimming. Checked independently of both engines:
 * every group of the pruned layers ends with at most N nonzero weights,
 * the filter count matches the target, pruned entries stay exactly zero
 * through the final fine-tune, and the network still classifies. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "prune.h"
#include "quadrants.h"
#include "train.h"

static int rounds_seen;

static void on_round(void *ud, const nm_jointnf_round *info)
{
    (void)ud;
    rounds_seen = info->round;
}

/* Nonzero weights in the worst group of 9 along the default axes: the
 * 3x3 kernel of each (out, in) pair for conv2, 9 consecutive inputs for fc1. */
static int worst_group(const nm_layer *l)
{
    const int64_t rows = nm_layer_rows(l), cols = nm_layer_cols(l);
    int worst = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t g = 0; g < cols; g += 9) {
            int nz = 0;
            for (int64_t j = g; j < g + 9 && j < cols; j++)
                nz += nm_f32(l->weight)[r * cols + j] != 0;
            worst = nz > worst ? nz : worst;
        }
    return worst;
}

static int filters_kept(const nm_layer *l)
{
    int k = 0;
    for (int o = 0; o < l->out_c; o++)
        k += !l->filters || nm_u8(l->filters)[o];
    return k;
}

Test(jointnf, three_rounds_with_finetuning)
{
    nm_dataset *d = quadrants(400, 1), *v = quadrants(200, 2);
    nm_model *m = quadrants_net(2, 3);

    nm_finetune ft = {.data = d};
    nm_train_opts_default(&ft.opts);
    ft.opts.epochs = 3, ft.opts.batch = 32, ft.opts.l1_bn = 1e-4;
    nm_jointnf_opts o;
    nm_jointnf_opts_init(&o, 4, 9, 0.25, 3);
    o.finetune = nm_train_finetune, o.finetune_ud = &ft;
    o.on_round = on_round;
    cr_assert_eq(nm_prune_jointnf(m, &o), NM_OK, "%s", nm_errmsg());
    cr_assert_eq(rounds_seen, 3);
    cr_assert(ft.last.step > 0, "fine-tuning ran");

    /* final fine-tune with the masks fixed */
    nm_train_progress p;
    ft.opts.epochs = 4;
    cr_assert_eq(nm_train(m, d, &ft.opts, &p), NM_OK, "%s", nm_errmsg());
    const nm_layer *c2 = &m->layers[nm_model_find(m, "conv2")];
    const nm_layer *fc1 = &m->layers[nm_model_find(m, "fc1")];
    cr_assert_leq(worst_group(c2), 4, "conv2 group with %d nonzeros", worst_group(c2));
    cr_assert_leq(worst_group(fc1), 4, "fc1 group with %d nonzeros", worst_group(fc1));
    /* 25 % of the 8 + 16 candidate filters */
    cr_assert_eq(filters_kept(c2) + filters_kept(fc1), 24 - 6);
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        for (int64_t k = 0; l->mask && k < l->weight->numel; k++)
            if (!nm_u8(l->mask)[k])
                cr_assert(nm_f32(l->weight)[k] == 0.0f, "%s weight %lld", l->name, (long long)k);
    }
    double acc;
    cr_assert_eq(nm_evaluate(m, v, 0, &acc, NULL, NULL), NM_OK);
    cr_log_info("conv2 %d/8 and fc1 %d/16 filters, worst groups %d and %d of 9, accuracy %.3f",
                filters_kept(c2), filters_kept(fc1), worst_group(c2), worst_group(fc1), acc);
    cr_assert(acc > 0.5, "pruned network accuracy %g (chance 0.25)", acc);
    nm_model_free(m);
    nm_dataset_free(d), nm_dataset_free(v);
}
