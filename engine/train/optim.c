/* optim.c - SGD with momentum, Adam, learning-rate schedules, and the
 * regularisers JointNF training uses (BN-L1 for network slimming, SR-STE). */
#include "optim.h"
#include "kernels.h"

#include <math.h>
#include <stdlib.h>

struct nm_optim {
    const nm_param *params;
    int count;
    nm_train_opts o;
    float **m1, **m2;      /* per parameter: momentum / Adam first moment, second moment */
    int64_t t;             /* steps taken (Adam bias correction) */
};

void nm_optim_free(nm_optim *op)
{
    if (!op)
        return;
    for (int i = 0; i < op->count; i++) {
        if (op->m1)
            free(op->m1[i]);
        if (op->m2)
            free(op->m2[i]);
    }
    free(op->m1), free(op->m2), free(op);
}

nm_optim *nm_optim_new(const nm_param *params, int count, const nm_train_opts *o)
{
    nm_optim *op = calloc(1, sizeof *op);
    if (!op)
        goto oom;
    op->params = params, op->count = count, op->o = *o;
    op->m1 = calloc((size_t)count + 1, sizeof *op->m1);
    op->m2 = calloc((size_t)count + 1, sizeof *op->m2);
    if (!op->m1 || !op->m2)
        goto oom;
    for (int i = 0; i < count; i++) {
        op->m1[i] = calloc((size_t)params[i].n, sizeof(float));
        if (!op->m1[i])
            goto oom;
        if (o->optim == NM_OPTIM_ADAM && !(op->m2[i] = calloc((size_t)params[i].n, sizeof(float))))
            goto oom;
    }
    return op;
oom:
    nm_optim_free(op);
    nm_seterr("out of memory for optimizer state");
    return NULL;
}

double nm_optim_lr(const nm_train_opts *o, int64_t step, int64_t steps, int epoch)
{
    switch (o->sched) {
    case NM_SCHED_COSINE:
        return steps > 0 ? o->lr * 0.5 * (1.0 + cos(M_PI * (double)step / (double)steps)) : o->lr;
    case NM_SCHED_STEP:
        return o->step_epochs > 0 ? o->lr * pow(o->step_gamma, epoch / o->step_epochs) : o->lr;
    default:
        return o->lr;
    }
}

void nm_optim_step(nm_optim *op, double lr)
{
    const nm_train_opts *o = &op->o;
    op->t++;
    const int adam = o->optim == NM_OPTIM_ADAM;
    const float b1 = (float)o->beta1, b2 = (float)o->beta2, eps = (float)o->adam_eps;
    const float c1 = adam ? (float)(1.0 - pow(o->beta1, (double)op->t)) : 1.0f;
    const float c2 = adam ? (float)(1.0 - pow(o->beta2, (double)op->t)) : 1.0f;
    const float mu = (float)o->momentum, flr = (float)lr;
    for (int i = 0; i < op->count; i++) {
        const nm_param *p = &op->params[i];
        const int weight = p->kind == NM_PARAM_WEIGHT;
        const float wd = weight ? (float)o->weight_decay : 0.0f;
        const float l1 = p->kind == NM_PARAM_GAMMA ? (float)o->l1_bn : 0.0f;
        const int ste = weight && o->srste > 0;
        const float lam = ste ? (float)o->srste : 0.0f;
        const uint8_t *mask = p->mask;
        float *w = p->w, *m1 = op->m1[i], *m2 = op->m2[i];
#pragma omp parallel for schedule(static) if (p->n > NM_PAR_MIN)
        for (int64_t k = 0; k < p->n; k++) {
            int kept = !mask || mask[k];
            if (!kept && !ste) {
                w[k] = 0.0f, m1[k] = 0.0f;
                if (m2)
                    m2[k] = 0.0f;
                continue;
            }
            float g = p->g[k] + wd * w[k];
            if (l1 != 0.0f)
                g += w[k] > 0 ? l1 : (w[k] < 0 ? -l1 : 0.0f);
            if (!kept)
                g += lam * w[k];   /* SR-STE: lambda * (1 - mask) * w */
            if (adam) {
                m1[k] = b1 * m1[k] + (1 - b1) * g;
                m2[k] = b2 * m2[k] + (1 - b2) * g * g;
                w[k] -= flr * (m1[k] / c1) / (sqrtf(m2[k] / c2) + eps);
            } else {
                m1[k] = mu * m1[k] + g;
                w[k] -= flr * m1[k];
            }
        }
    }
}
