/* infer.c - evaluation over a data set and inference on a tensor. */
#include "batch.h"
#include "kernels.h"

#include <stdlib.h>
#include <string.h>

int nm_evaluate(nm_model *m, const nm_dataset *d, int batch, double *acc, double *loss,
                double *density)
{
    if (nm_batch_check(m, d))
        return NM_ERR;
    const int64_t total = nm_dataset_size(d);
    if (batch <= 0)
        batch = 256;
    if (batch > total)
        batch = total > 0 ? (int)total : 1;
    nm_net *net = nm_net_new(m, batch, 0);
    int32_t *labels = malloc(sizeof *labels * (size_t)batch);
    int64_t *nnz = calloc((size_t)m->n_layers, sizeof *nnz);
    if (!net || !labels || !nnz) {
        int rc = net ? nm_seterr("out of memory") : NM_ERR;
        nm_net_free(net), free(labels), free(nnz);
        return rc;
    }
    const nm_layer *last = &m->layers[m->n_layers - 1];
    double loss_sum = 0;
    int64_t right = 0;
    for (int64_t b0 = 0; b0 < total; b0 += batch) {
        int n = (int)(total - b0 < batch ? total - b0 : batch);
        nm_batch_fill(net, d, NULL, b0, n, labels);
        const float *logits = nm_net_forward(net, n, 0);
        int ok = 0;
        loss_sum += nm_softmax_xent(last->out_c, n, logits, labels, NULL, &ok) * n;
        right += ok;
        for (int i = 0; density && i < m->n_layers; i++) {
            const nm_layer *l = &m->layers[i];
            const int64_t cnt = (int64_t)l->out_c * l->out_h * l->out_w * n;
            const float *a = nm_net_act(net, i);
            int64_t z = 0;
#pragma omp parallel for simd schedule(static) reduction(+ : z) if (cnt > NM_PAR_MIN)
            for (int64_t k = 0; k < cnt; k++)
                z += a[k] != 0.0f;
            nnz[i] += z;
        }
    }
    if (acc)
        *acc = total ? (double)right / total : 0;
    if (loss)
        *loss = total ? loss_sum / total : 0;
    for (int i = 0; density && i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        double per = (double)l->out_c * l->out_h * l->out_w * (double)total;
        density[i] = per > 0 ? nnz[i] / per : 0;
    }
    nm_net_free(net), free(labels), free(nnz);
    return NM_OK;
}

nm_tensor *nm_forward(nm_model *m, const nm_tensor *x)
{
    if (x->dtype != NM_F32 || (x->ndim != 4 && x->ndim != 3)) {
        nm_seterr("forward: input must be f32 [N, C, H, W] or [C, H, W]");
        return NULL;
    }
    const int off = x->ndim == 4;
    const int64_t nall = off ? x->shape[0] : 1;
    if (x->shape[off] != m->in_c || x->shape[off + 1] != m->in_h || x->shape[off + 2] != m->in_w) {
        char buf[64];
        nm_seterr("forward: input %s does not match model '%s' input (%d, %d, %d)",
                  nm_shape_str(x, buf, sizeof buf), m->name, m->in_c, m->in_h, m->in_w);
        return NULL;
    }
    if (m->n_layers == 0) {
        nm_seterr("model '%s' has no layers", m->name);
        return NULL;
    }
    const nm_layer *last = &m->layers[m->n_layers - 1];
    nm_tensor *y = nm_tensor_new4(NM_F32, 4, nall, last->out_c, last->out_h, last->out_w);
    if (!y)
        return NULL;
    const int batch = (int)(nall < 256 ? (nall > 0 ? nall : 1) : 256);
    nm_net *net = nm_net_new(m, batch, 0);
    if (!net) {
        nm_tensor_release(y);
        return NULL;
    }
    const int64_t hw = (int64_t)m->in_h * m->in_w, per = m->in_c * hw;
    const int64_t ohw = (int64_t)last->out_h * last->out_w, oper = last->out_c * ohw;
    for (int64_t b0 = 0; b0 < nall; b0 += batch) {
        int n = (int)(nall - b0 < batch ? nall - b0 : batch);
        float *in = nm_net_input(net);
        for (int s = 0; s < n; s++)
            for (int c = 0; c < m->in_c; c++)
                memcpy(in + ((int64_t)c * n + s) * hw, nm_f32(x) + (b0 + s) * per + c * hw,
                       sizeof(float) * (size_t)hw);
        const float *o = nm_net_forward(net, n, 0);
        for (int s = 0; s < n; s++)
            for (int c = 0; c < last->out_c; c++)
                memcpy(nm_f32(y) + (b0 + s) * oper + c * ohw, o + ((int64_t)c * n + s) * ohw,
                       sizeof(float) * (size_t)ohw);
    }
    nm_net_free(net);
    return y;
}
