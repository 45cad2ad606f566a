/* train_fmnist - trains fmnist_cnn on Fashion-MNIST in C and reports test
 * accuracy, time and throughput (the run recorded in docs/results.md).
 * Not a test: a full run takes many minutes.
 * Usage: train_fmnist [epochs] [batch] [lr] [sgd|adam] [train_limit] [seed] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmnist_nets.h"
#include "train.h"

static int on_epoch(void *ud, const nm_train_progress *p)
{
    (void)ud;
    printf("epoch %d/%d  steps %lld  train loss %.4f acc %.4f  test loss %.4f acc %.4f  "
           "%.0f s  %.1f img/s\n", p->epoch, p->epochs, (long long)p->step, p->loss, p->acc,
           p->val_loss, p->val_acc, p->seconds, p->images_per_s);
    fflush(stdout);
    return 0;
}

static int on_batch(void *ud, const nm_train_progress *p)
{
    (void)ud;
    if (p->step % (getenv("NM_EVERY") ? atoi(getenv("NM_EVERY")) : 100) == 0) {
        printf("  step %lld/%lld  lr %.4f  loss %.4f  %.1f img/s\n", (long long)p->step,
               (long long)p->steps, p->lr, p->loss, p->images_per_s);
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv)
{
    nm_train_opts o;
    nm_train_opts_default(&o);
    o.epochs = argc > 1 ? atoi(argv[1]) : 5;
    o.batch = argc > 2 ? atoi(argv[2]) : 64;
    if (argc > 4 && strcmp(argv[4], "adam") == 0)
        o.optim = NM_OPTIM_ADAM, o.lr = 1e-3, o.weight_decay = 0;
    if (argc > 3)
        o.lr = atof(argv[3]);
    int64_t limit = argc > 5 ? atoll(argv[5]) : 0;
    o.seed = argc > 6 ? strtoull(argv[6], NULL, 10) : 1;
    nm_dataset *train = nm_data_fashion_mnist(NULL, 1, limit);
    nm_dataset *test = train ? nm_data_fashion_mnist(NULL, 0, 0) : NULL;
    nm_model *m = fmnist_cnn_build(o.seed);
    if (!train || !test || !m) {
        fprintf(stderr, "train_fmnist: %s\n", nm_errmsg());
        return 1;
    }
    o.val = test;
    o.on_epoch = on_epoch;
    o.on_batch = on_batch;
    printf("fmnist_cnn: %lld params, %lld training images, epochs %d, batch %d, %s lr %g "
           "(cosine), momentum %g, weight decay %g, seed %llu\n", (long long)nm_model_params(m),
           (long long)nm_dataset_size(train), o.epochs, o.batch,
           o.optim == NM_OPTIM_ADAM ? "adam" : "sgd", o.lr, o.momentum, o.weight_decay,
           (unsigned long long)o.seed);
    nm_train_progress p;
    if (nm_train(m, train, &o, &p) != NM_OK) {
        fprintf(stderr, "train_fmnist: %s\n", nm_errmsg());
        return 1;
    }
    printf("final: test accuracy %.4f (%.2f %%) after %d epochs, %.0f s, %.1f training img/s\n",
           p.val_acc, 100 * p.val_acc, p.epochs, p.seconds, p.images_per_s);
    nm_model_free(m);
    nm_dataset_free(train), nm_dataset_free(test);
    return 0;
}
