/* table1_fmnist - the JointNF pipeline on Fashion-MNIST, in C: a dense
 * fmnist_cnn is trained once, then each method starts from a copy of it:
 *   N:M 3:9 weights only (one shot, then fine-tuning),
 *   filters only (network slimming: BN-L1 fine-tuning, 60 % of filters by |gamma|),
 *   JointNF-4-4-0.2 (NMReLU 4:9 `first` on relu1..4, 4:9 weights, 20 % filters),
 *   JointNF-6-4-0.1 (NMReLU 6:9, 4:9 weights, 10 % filters),
 * JointNF with 3 rounds, BN-L1 fine-tuning between them and after. Prints
 * one row per method: test accuracy, weight density and filters kept over
 * the pruned layers (first conv and classifier are left dense, as the
 * pruning engine's default scope), measured activation density after the
 * ReLU/NMReLU layers, and effective MACs from JOINTNF.md section 5.
 * Not a test: minutes long. Usage:
 *   table1_fmnist [train_limit] [test_limit] [dense_epochs] [ft_epochs] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fmnist_nets.h"
#include "prune.h"
#include "train.h"

static const nm_dataset *g_test;
static int g_dense_epochs = 2, g_ft_epochs = 1;

static void base_opts(nm_train_opts *o, int epochs, double lr)
{
    nm_train_opts_default(o);
    o->epochs = epochs, o->batch = 64, o->lr = lr;
}

/* Swaps relu1..relu4 (after the convs) for NMReLU n:9, `first` policy. */
static void use_nmrelu(nm_model *m, int n)
{
    for (int i = 0; i < m->n_layers; i++) {
        nm_layer *l = &m->layers[i];
        if (l->kind == NM_LAYER_RELU && strncmp(l->name, "relu", 4) == 0 && l->name[4] >= '1' &&
            l->name[4] <= '4') {
            l->kind = NM_LAYER_NMRELU;
            l->act_n = n, l->act_m = 9;
            l->act_policy = NM_POLICY_FIRST, l->act_axis = NM_AXIS_POSITION;
        }
    }
}

static void report(const char *method, nm_model *m, int an, double seconds)
{
    double acc, *dens = calloc((size_t)m->n_layers, sizeof *dens);
    if (nm_evaluate(m, g_test, 0, &acc, NULL, dens) != NM_OK) {
        fprintf(stderr, "%s: %s\n", method, nm_errmsg());
        exit(1);
    }
    int64_t params = 0, kept = 0, act_n = 0;
    int filters = 0, fkept = 0;
    double act = 0;
    nm_prune_scope scope = {0};
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        if (nm_prune_eligible(m, i, &scope, NULL)) {
            nm_layer_stats s;
            nm_layer_stats_get(m, i, &s);
            params += s.params, kept += s.nonzeros;
            filters += s.filters, fkept += s.filters_kept;
        }
        if ((l->kind == NM_LAYER_RELU || l->kind == NM_LAYER_NMRELU) && strcmp(l->name, "relu5"))
            act += dens[i], act_n++;
    }
    int64_t dense;
    double eff;
    /* data N:M only where the model's NMReLUs feed a layer (the model
     * input and relu5 stay dense): nm_layer_act_source per layer */
    (void)an;
    dense = 0, eff = 0;
    for (int i = 0; i < m->n_layers; i++) {
        nm_act_info a;
        nm_layer_cost c;
        if (!nm_layer_prunable(&m->layers[i]) || !m->layers[i].weight)
            continue;
        nm_layer_act_source(m, i, 0, 0, 0, &a);
        if (nm_cost_layer(m, i, a.n, a.m, &c) == NM_OK)
            dense += c.dense_macs, eff += c.effective_macs;
    }
    printf("| %s | %.2f %% | %.3f | %d/%d | %.3f | %.3f | %.0f s |\n", method, 100 * acc,
           (double)kept / params, fkept, filters, act / act_n, eff / dense, seconds);
    fflush(stdout);
    free(dens);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void check(int rc, const char *what)
{
    if (rc != NM_OK) {
        fprintf(stderr, "table1_fmnist: %s: %s\n", what, nm_errmsg());
        exit(1);
    }
}

int main(int argc, char **argv)
{
    int64_t limit = argc > 1 ? atoll(argv[1]) : 10000, tlimit = argc > 2 ? atoll(argv[2]) : 2000;
    g_dense_epochs = argc > 3 ? atoi(argv[3]) : 2;
    g_ft_epochs = argc > 4 ? atoi(argv[4]) : 1;
    nm_dataset *train = nm_data_fashion_mnist(NULL, 1, limit);
    nm_dataset *test = train ? nm_data_fashion_mnist(NULL, 0, tlimit) : NULL;
    if (!train || !test) {
        fprintf(stderr, "table1_fmnist: %s\n", nm_errmsg());
        return 1;
    }
    g_test = test;
    printf("fmnist_cnn, %lld training / %lld test images, dense %d epochs, fine-tune %d epoch(s) "
           "per round, SGD lr 0.02 cosine, batch 64\n\n", (long long)nm_dataset_size(train),
           (long long)nm_dataset_size(test), g_dense_epochs, g_ft_epochs);
    printf("| method | test acc | weight density | filters kept | act density | eff. MACs | time |\n");
    printf("|---|---|---|---|---|---|---|\n");
    double t0 = now_s();
    nm_model *dense = fmnist_cnn_build(1);
    nm_train_opts o;
    base_opts(&o, g_dense_epochs, 0.02);
    check(nm_train(dense, train, &o, NULL), "dense training");
    report("dense", dense, 0, now_s() - t0);

    /* N:M 3:9 only: one shot, then fine-tune as long as JointNF does */
    t0 = now_s();
    nm_model *m = nm_model_clone(dense);
    nm_nm_opts no;
    nm_nm_opts_init(&no, 3, 9);
    check(nm_prune_nm_model(m, &no, NULL), "3:9");
    base_opts(&o, 4 * g_ft_epochs, 0.01);
    check(nm_train(m, train, &o, NULL), "3:9 fine-tune");
    report("N:M 3:9 weights only", m, 0, now_s() - t0);
    nm_model_free(m);

    /* filters only: BN-L1 fine-tune, remove 60 % by |gamma|, fine-tune */
    t0 = now_s();
    m = nm_model_clone(dense);
    base_opts(&o, 2 * g_ft_epochs, 0.01);
    o.l1_bn = 1e-4;
    check(nm_train(m, train, &o, NULL), "slimming fine-tune");
    nm_filter_opts fo;
    nm_filter_opts_init(&fo, 0.6);
    fo.criterion = NM_FILTER_BN;
    check(nm_prune_filters(m, &fo), "filters");
    base_opts(&o, 2 * g_ft_epochs, 0.01);
    check(nm_train(m, train, &o, NULL), "filters fine-tune");
    report("filters only 60 % (slimming)", m, 0, now_s() - t0);
    nm_model_free(m);

    static const struct { const char *name; int an; double f; } jnf[] = {
        {"JointNF-4-4-0.2", 4, 0.2}, {"JointNF-6-4-0.1", 6, 0.1},
    };
    for (int k = 0; k < 2; k++) {
        t0 = now_s();
        m = nm_model_clone(dense);
        use_nmrelu(m, jnf[k].an);
        nm_finetune ft = {.data = train};
        base_opts(&ft.opts, g_ft_epochs, 0.01);
        ft.opts.l1_bn = 1e-4;
        nm_jointnf_opts jo;
        nm_jointnf_opts_init(&jo, 4, 9, jnf[k].f, 3);
        jo.finetune = nm_train_finetune, jo.finetune_ud = &ft;
        check(nm_prune_jointnf(m, &jo), jnf[k].name);
        check(nm_train(m, train, &ft.opts, NULL), "final fine-tune");
        report(jnf[k].name, m, jnf[k].an, now_s() - t0);
        nm_model_free(m);
    }
    nm_model_free(dense);
    nm_dataset_free(train), nm_dataset_free(test);
    return 0;
}
