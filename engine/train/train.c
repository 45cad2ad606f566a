/* train.c - the training loop: seeded shuffling, forward, softmax
 * cross-entropy, backward, optimizer step, callbacks. */
#include "batch.h"
#include "kernels.h"
#include "optim.h"

#include <stdlib.h>
#include <string.h>

void nm_train_opts_default(nm_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = 1;
    o->batch = 64;
    o->optim = NM_OPTIM_SGD;
    o->lr = 0.05;
    o->momentum = 0.9;
    o->weight_decay = 5e-4;
    o->beta1 = 0.9, o->beta2 = 0.999, o->adam_eps = 1e-8;
    o->sched = NM_SCHED_COSINE;
    o->step_epochs = 10;
    o->step_gamma = 0.1;
    o->seed = 1;
}

void nm_train_nm_mask(const float *w, int64_t rows, int64_t cols, int n, int m, uint8_t *mask)
{
#pragma omp parallel for schedule(static) if (rows * cols > NM_PAR_MIN)
    for (int64_t r = 0; r < rows; r++)
        for (int64_t g0 = 0; g0 < cols; g0 += m) {
            const float *v = w + r * cols + g0;
            uint8_t *k = mask + r * cols + g0;
            int len = (int)(cols - g0 < m ? cols - g0 : m);
            for (int i = 0; i < len; i++) {
                float a = v[i] < 0 ? -v[i] : v[i];
                int rank = 0;
                for (int j = 0; j < len && rank < n; j++) {
                    float b = v[j] < 0 ? -v[j] : v[j];
                    rank += b > a || (b == a && j < i);
                }
                k[i] = rank < n;
            }
        }
}

int nm_train_finetune(void *ud, nm_model *m, int round)
{
    nm_finetune *ft = ud;
    (void)round;
    if (nm_train(m, ft->data, &ft->opts, &ft->last) != NM_OK)
        return nm_preperr("fine-tuning");
    return 0;
}

static int check_opts(const nm_train_opts *o)
{
    if (o->epochs <= 0 || o->batch <= 0)
        return nm_seterr("epochs (%d) and batch (%d) must be positive", o->epochs, o->batch);
    if (!(o->lr > 0))
        return nm_seterr("learning rate must be positive, not %g", o->lr);
    if (o->weight_decay < 0 || o->l1_bn < 0 || o->srste < 0 || o->momentum < 0)
        return nm_seterr("weight_decay, l1_bn, srste and momentum must not be negative");
    if (o->srste > 0 && (o->srste_m <= 0 || o->srste_n < 0 || o->srste_n > o->srste_m))
        return nm_seterr("SR-STE needs 0 <= N <= M and M >= 1, not %d:%d", o->srste_n, o->srste_m);
    if (o->optim != NM_OPTIM_SGD && o->optim != NM_OPTIM_ADAM)
        return nm_seterr("unknown optimizer %d", (int)o->optim);
    return NM_OK;
}

/* SR-STE: recompute each prunable layer's N:M mask from its dense weights. */
static int srste_remask(nm_net *net, const nm_train_opts *o)
{
    nm_model *m = nm_net_model(net);
    for (int i = 0; i < m->n_layers; i++) {
        nm_layer *l = &m->layers[i];
        if (!nm_layer_prunable(l))
            continue;
        if (nm_layer_ensure_mask(l) != NM_OK)
            return NM_ERR;
        nm_train_nm_mask(nm_f32(l->weight), nm_layer_rows(l), nm_layer_cols(l), o->srste_n,
                         o->srste_m, nm_u8(l->mask));
    }
    return nm_net_sync_masks(net);
}

/* Zeroes weights outside the effective masks (the state training keeps). */
static void apply_effective_masks(nm_net *net)
{
    int np;
    nm_param *ps = nm_net_params(net, &np);
    for (int i = 0; i < np; i++)
        if (ps[i].mask && (ps[i].kind == NM_PARAM_WEIGHT || ps[i].kind == NM_PARAM_BIAS))
            for (int64_t k = 0; k < ps[i].n; k++)
                if (!ps[i].mask[k])
                    ps[i].w[k] = 0.0f;
}

int nm_train(nm_model *m, const nm_dataset *d, const nm_train_opts *o, nm_train_progress *out)
{
    if (check_opts(o) || nm_batch_check(m, d))
        return NM_ERR;
    if (o->val && nm_batch_check(m, o->val))
        return NM_ERR;
    const int64_t total = nm_dataset_size(d);
    if (total < 2)
        return nm_seterr("data set '%s' has %lld samples; training needs at least 2", d->name,
                         (long long)total);
    const int batch = (int)(o->batch < total ? o->batch : total);
    /* batches of one sample are dropped: batch statistics need two */
    const int64_t per_epoch = total / batch + (total % batch > 1);
    int64_t steps = per_epoch * o->epochs;
    if (o->max_steps > 0 && o->max_steps < steps)
        steps = o->max_steps;

    nm_net *net = nm_net_new(m, batch, 1);
    int64_t *perm = malloc(sizeof *perm * (size_t)total);
    int32_t *labels = malloc(sizeof *labels * (size_t)batch);
    const nm_layer *last = &m->layers[m->n_layers - 1];
    float *dlogits = malloc(sizeof(float) * (size_t)last->out_c * (size_t)batch);
    int np = 0;
    nm_param *params = net ? nm_net_params(net, &np) : NULL;
    nm_optim *op = net ? nm_optim_new(params, np, o) : NULL;
    int rc = NM_OK;
    if (!net || !op || !perm || !labels || !dlogits) {
        rc = net && op ? nm_seterr("out of memory") : NM_ERR;
        goto done;
    }
    if (o->srste > 0)
        rc = srste_remask(net, o);
    else
        apply_effective_masks(net);

    nm_rng rng;
    nm_rng_seed(&rng, o->seed);
    for (int64_t i = 0; i < total; i++)
        perm[i] = i;
    nm_train_progress p = {0};
    p.epochs = o->epochs, p.steps = steps;
    p.val_loss = p.val_acc = -1;
    const double t0 = nm_now();
    int64_t seen = 0;
    for (int ep = 0; rc == NM_OK && ep < o->epochs && p.step < steps; ep++) {
        for (int64_t i = total - 1; i > 0; i--) {   /* Fisher-Yates */
            int64_t j = (int64_t)(nm_rng_next(&rng) % (uint64_t)(i + 1));
            int64_t t = perm[i];
            perm[i] = perm[j], perm[j] = t;
        }
        p.epoch = ep + 1;
        double loss_sum = 0;
        int64_t right = 0, count = 0;
        for (int64_t b0 = 0; b0 < total && p.step < steps; b0 += batch) {
            int n = (int)(total - b0 < batch ? total - b0 : batch);
            if (n < 2)
                break;
            nm_batch_fill(net, d, perm + b0, 0, n, labels);
            const float *logits = nm_net_forward(net, n, 1);
            int ok = 0;
            double loss = nm_softmax_xent(last->out_c, n, logits, labels, dlogits, &ok);
            nm_net_zero_grad(net);
            nm_net_backward(net, dlogits);
            p.lr = nm_optim_lr(o, p.step, steps, ep);
            nm_optim_step(op, p.lr);
            if (o->srste > 0 && (rc = srste_remask(net, o)) != NM_OK)
                break;
            p.step++;
            seen += n, count += n, right += ok;
            loss_sum += loss * n;
            p.batch_loss = loss;
            p.loss = loss_sum / count;
            p.acc = (double)right / count;
            p.seconds = nm_now() - t0;
            p.images_per_s = p.seconds > 0 ? seen / p.seconds : 0;
            if (o->on_batch && o->on_batch(o->ud, &p)) {
                rc = nm_seterr("cancelled");
                break;
            }
        }
        if (rc != NM_OK)
            break;
        if (o->val && (rc = nm_evaluate(m, o->val, 256, &p.val_acc, &p.val_loss, NULL)) != NM_OK)
            break;
        p.seconds = nm_now() - t0;
        if (o->on_epoch && o->on_epoch(o->ud, &p)) {
            rc = nm_seterr("cancelled");
            break;
        }
    }
    if (o->srste > 0)
        apply_effective_masks(net);
    if (out)
        *out = p;
done:
    nm_optim_free(op);
    nm_net_free(net);
    free(perm), free(labels), free(dlogits);
    return rc;
}
