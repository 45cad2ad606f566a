/* Slow suite: fmnist_cnn trained in C on 2000 Fashion-MNIST images for 189
 * steps; the loss must fall and held-out accuracy must be far above chance
 * (10 %). Also checks that pruned weights stay zero on the real network. */
#include <criterion/criterion.h>
#include <string.h>

#include "fmnist_nets.h"
#include "train.h"

static double first_loss = -1;

static int record(void *ud, const nm_train_progress *p)
{
    (void)ud;
    if (p->epoch == 1 && first_loss < 0)
        first_loss = p->loss;
    return 0;
}

Test(fmnist, cnn_learns_from_2000_images, .timeout = 600)
{
    nm_dataset *train = nm_data_fashion_mnist(NULL, 1, 2000);
    nm_dataset *test = nm_data_fashion_mnist(NULL, 0, 1000);
    cr_assert(train && test, "%s", nm_errmsg());
    nm_model *m = fmnist_cnn_build(1);
    cr_assert_not_null(m, "%s", nm_errmsg());
    /* half of fc1's weights pruned: they must stay exactly zero */
    nm_layer *fc1 = &m->layers[nm_model_find(m, "fc1")];
    nm_layer_ensure_mask(fc1);
    for (int64_t k = 0; k < fc1->mask->numel; k++)
        nm_u8(fc1->mask)[k] = (uint8_t)(k % 2);
    double acc0;
    cr_assert_eq(nm_evaluate(m, test, 0, &acc0, NULL, NULL), NM_OK, "%s", nm_errmsg());
    nm_train_opts o;
    nm_train_opts_default(&o);
    o.epochs = 3, o.batch = 32, o.lr = 0.02;
    o.on_batch = record;
    nm_train_progress p;
    cr_assert_eq(nm_train(m, train, &o, &p), NM_OK, "%s", nm_errmsg());
    cr_assert_eq(p.step, 3 * 63);
    double acc, loss;
    cr_assert_eq(nm_evaluate(m, test, 0, &acc, &loss, NULL), NM_OK, "%s", nm_errmsg());
    cr_log_info("accuracy %.3f -> %.3f, first-step loss %.3f, last epoch %.3f, test loss %.3f",
                acc0, acc, first_loss, p.loss, loss);
    cr_assert(p.loss < 0.6 * first_loss, "loss %g -> %g", first_loss, p.loss);
    cr_assert(acc > 0.7, "test accuracy %g after training (chance 0.1, before %g)", acc, acc0);
    for (int64_t k = 0; k < fc1->mask->numel; k += 2)
        cr_assert(nm_f32(fc1->weight)[k] == 0.0f, "pruned fc1 weight %lld", (long long)k);
    nm_model_free(m);
    nm_dataset_free(train), nm_dataset_free(test);
}
