/* optim.c - SGD with momentum, Adam, learning-rate schedules, and the
 * regularisers JointNF training uses (BN-L1 for network slimming, SR-STE). */
#include "optim.h"
#include "kernels.h"

#include <math.h>
#include <stdlib.h>

/* Spans of one parameter that a step updates as one task: every
 * parameter's update runs in a single OpenMP region. */
#define NM_OPT_SPAN ((int64_t)1 << 14)

typedef struct {
    int param;
    int64_t lo, hi;
} opt_span;

struct nm_optim {
    const nm_param *params;
    int count;
    nm_train_opts o;
    float **m1, **m2;      /* per parameter: momentum / Adam first moment, second moment */
    int64_t t;             /* steps taken (Adam bias correction) */
    opt_span *spans;
    int64_t n_spans, total;
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
    free(op->m1), free(op->m2), free(op->spans), free(op);
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
        op->n_spans += (params[i].n + NM_OPT_SPAN - 1) / NM_OPT_SPAN;
        op->total += params[i].n;
    }
    op->spans = calloc((size_t)op->n_spans + 1, sizeof *op->spans);
    if (!op->spans)
        goto oom;
    for (int i = 0, s = 0; i < count; i++)
        for (int64_t lo = 0; lo < params[i].n; lo += NM_OPT_SPAN)
            op->spans[s++] = (opt_span){i, lo, lo + NM_OPT_SPAN < params[i].n ? lo + NM_OPT_SPAN
                                                                             : params[i].n};
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

/* SGD with momentum on [lo, hi) of one parameter: g = grad + wd * w
 * (+ the BN-L1 subgradient, + the SR-STE decay on pruned entries), m1 =
 * mu * m1 + g, w -= lr * m1; a masked entry (without SR-STE) ends at 0
 * with zero momentum. Branch-free so it vectorises. */
__attribute__((target_clones("avx2", "default")))
static void sgd_span(int64_t lo, int64_t hi, float *w, const float *gr, float *m1,
                     const uint8_t *mask, float wd, float l1, int ste, float lam, float mu,
                     float flr)
{
    if (!mask && l1 == 0.0f) {   /* the common case: plain momentum + decay */
#pragma omp simd
        for (int64_t k = lo; k < hi; k++) {
            const float m = mu * m1[k] + (gr[k] + wd * w[k]);
            m1[k] = m;
            w[k] -= flr * m;
        }
        return;
    }
    const float live_pruned = ste ? 1.0f : 0.0f;
    if (!mask) {
#pragma omp simd
        for (int64_t k = lo; k < hi; k++) {
            const float wk = w[k];
            const float g = gr[k] + wd * wk + l1 * (float)((wk > 0.0f) - (wk < 0.0f));
            const float m = mu * m1[k] + g;
            m1[k] = m;
            w[k] = wk - flr * m;
        }
        return;
    }
#pragma omp simd
    for (int64_t k = lo; k < hi; k++) {
        const float kept = (float)mask[k];   /* mask bytes are 0 or 1 */
        const float wk = w[k];
        const float g = gr[k] + wd * wk + l1 * (float)((wk > 0.0f) - (wk < 0.0f)) +
                        (1.0f - kept) * lam * wk;   /* SR-STE: lambda * (1 - mask) * w */
        const float m = mu * m1[k] + g, nw = wk - flr * m;
        const float live = kept > 0.0f ? 1.0f : live_pruned;
        m1[k] = live > 0.0f ? m : 0.0f;
        w[k] = live > 0.0f ? nw : 0.0f;
    }
}

static void adam_span(int64_t lo, int64_t hi, float *w, const float *gr, float *m1, float *m2,
                      const uint8_t *mask, float wd, float l1, int ste, float lam, float b1,
                      float b2, float c1, float c2, float eps, float flr)
{
    for (int64_t k = lo; k < hi; k++) {
        int kept = !mask || mask[k];
        if (!kept && !ste) {
            w[k] = 0.0f, m1[k] = 0.0f, m2[k] = 0.0f;
            continue;
        }
        float g = gr[k] + wd * w[k];
        if (l1 != 0.0f)
            g += w[k] > 0 ? l1 : (w[k] < 0 ? -l1 : 0.0f);
        if (!kept)
            g += lam * w[k];
        m1[k] = b1 * m1[k] + (1 - b1) * g;
        m2[k] = b2 * m2[k] + (1 - b2) * g * g;
        w[k] -= flr * (m1[k] / c1) / (sqrtf(m2[k] / c2) + eps);
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
#pragma omp parallel for schedule(dynamic, 4) if (op->total > NM_PAR_MIN)
    for (int64_t s = 0; s < op->n_spans; s++) {
        const opt_span *sp = &op->spans[s];
        const nm_param *p = &op->params[sp->param];
        const int weight = p->kind == NM_PARAM_WEIGHT;
        const float wd = weight ? (float)o->weight_decay : 0.0f;
        const float l1 = p->kind == NM_PARAM_GAMMA ? (float)o->l1_bn : 0.0f;
        const int ste = weight && o->srste > 0;
        const float lam = ste ? (float)o->srste : 0.0f;
        if (adam)
            adam_span(sp->lo, sp->hi, p->w, p->g, op->m1[sp->param], op->m2[sp->param], p->mask,
                      wd, l1, ste, lam, b1, b2, c1, c2, eps, flr);
        else
            sgd_span(sp->lo, sp->hi, p->w, p->g, op->m1[sp->param], p->mask, wd, l1, ste, lam, mu,
                     flr);
    }
}
