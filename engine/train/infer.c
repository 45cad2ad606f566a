/* infer.c - evaluation over a data set and inference on a tensor. */
#include "batch.h"
#include "kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int nm_eval_batch(const nm_model *m, int requested, size_t budget)
{
    size_t per = 0;   /* activation bytes of one sample, every layer kept */
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        per += (size_t)l->out_c * (size_t)l->out_h * (size_t)l->out_w * sizeof(float);
    }
    size_t fit = per ? budget / per : (size_t)requested;
    if (fit < 1)
        fit = 1;
    return (size_t)requested < fit ? requested : (int)fit;
}

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
    /* every layer's activations are kept (for the densities): a ViT-B/16
     * needs ~200 MB per sample, so the batch shrinks to fit */
    batch = nm_eval_batch(m, batch, NM_EVAL_ACT_BUDGET);
    /* without densities only the logits are read: a lean net (shared
     * buffers, fused conv epilogues) */
    nm_net *net = nm_net_new(m, batch, density ? NM_NET_EVAL : NM_NET_LEAN);
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

/* Samples in x when it holds graph input k of m: [N, C, H, W], one sample
 * [C, H, W], or [N, d1, ...] whose dims are (C, H, W) without trailing 1s
 * (an imported [N, F] or [N, T, F] input). -1 with a message otherwise
 * (naming the input when the model has several). */
static int64_t input_samples(const nm_model *m, int k, const nm_tensor *x)
{
    int ic, ih, iw;
    nm_model_input_shape(m, k, &ic, &ih, &iw);
    const int64_t want[3] = {ic, ih, iw};
    if (!x) {
        nm_seterr("forward: no tensor for input '%s' of model '%s'", nm_model_input_name(m, k),
                  m->name);
        return -1;
    }
    if (x->dtype == NM_F32 && x->ndim == 3 && x->shape[0] == want[0] && x->shape[1] == want[1] &&
        x->shape[2] == want[2])
        return 1;
    if (x->dtype == NM_F32 && x->ndim >= 2 && x->ndim <= 4) {
        int ok = 1;
        for (int a = 0; a < 3; a++)
            ok &= a + 1 < x->ndim ? x->shape[a + 1] == want[a] : want[a] == 1;
        if (ok)
            return x->shape[0];
    }
    char buf[64], which[NM_NAME_MAX + 32] = "";
    if (m->n_xin)
        snprintf(which, sizeof which, " '%s' (graph input %d)", nm_model_input_name(m, k), k);
    nm_seterr("forward: input%s %s (%s) does not match model '%s' input: f32 [N, %d, %d, %d] or one "
              "sample [%d, %d, %d]", which, nm_shape_str(x, buf, sizeof buf), nm_dtype_name(x->dtype),
              m->name, ic, ih, iw, ic, ih, iw);
    return -1;
}

/* The executor model:forward keeps between calls (model.h, fwd_cache): a
 * lean net for up to `batch` samples and a copy of the model's records it
 * was built for. Any difference in those records (a layer added, a kind,
 * shape, input, mask tensor or output changed) means a new net; values
 * (weights, mask bytes, BN statistics) are read afresh on every call. */
typedef struct {
    nm_net *net;
    int batch;
    int n_layers, in_c, in_h, in_w, n_outputs, n_xin;
    int outputs[NM_MAX_OUTPUTS];
    int xin[NM_MAX_GRAPH_INPUTS][3];   /* inputs k >= 1: shapes */
    nm_layer *layers;
} fwd_cache;

static void fwd_cache_free(void *p)
{
    fwd_cache *c = p;
    if (!c)
        return;
    nm_net_free(c->net);
    free(c->layers);
    free(c);
}

void nm_forward_release(nm_model *m)
{
    if (m->fwd_cache_free)
        m->fwd_cache_free(m->fwd_cache);
    m->fwd_cache = NULL;
    m->fwd_cache_free = NULL;
}

int64_t nm_forward_cache_bytes(const nm_model *m)
{
    const fwd_cache *c = m->fwd_cache;
    return c && c->net ? nm_net_bytes(c->net) : 0;
}

/* The shapes of graph inputs 1.. into xin. */
static void xin_shapes(const nm_model *m, int xin[NM_MAX_GRAPH_INPUTS][3])
{
    memset(xin, 0, sizeof(int) * 3 * NM_MAX_GRAPH_INPUTS);
    for (int k = 1; k < nm_model_n_inputs(m); k++)
        nm_model_input_shape(m, k, &xin[k][0], &xin[k][1], &xin[k][2]);
}

static int cache_fits(const fwd_cache *c, const nm_model *m, int batch)
{
    int xin[NM_MAX_GRAPH_INPUTS][3];
    xin_shapes(m, xin);
    return c->batch >= batch && c->n_xin == m->n_xin && memcmp(c->xin, xin, sizeof xin) == 0 &&
           c->n_layers == m->n_layers && c->in_c == m->in_c &&
           c->in_h == m->in_h && c->in_w == m->in_w && c->n_outputs == m->n_outputs &&
           memcmp(c->outputs, m->outputs, sizeof c->outputs) == 0 &&
           memcmp(c->layers, m->layers, sizeof(nm_layer) * (size_t)m->n_layers) == 0;
}

/* The model's kept lean net for batches of up to `batch`, built anew when
 * the model changed or needs a larger batch; NULL with a message. The net
 * belongs to the model. */
static nm_net *forward_net(nm_model *m, int batch)
{
    fwd_cache *c = m->fwd_cache;
    if (c && cache_fits(c, m, batch)) {
        nm_net_sync_masks(c->net);   /* filters may have changed in place */
        return c->net;
    }
    nm_forward_release(m);
    c = calloc(1, sizeof *c);
    nm_layer *copy = malloc(sizeof(nm_layer) * (size_t)m->n_layers);
    if (!c || !copy) {
        free(c), free(copy);
        nm_seterr("out of memory");
        return NULL;
    }
    c->net = nm_net_new(m, batch, NM_NET_LEAN);
    if (!c->net) {
        free(c), free(copy);
        return NULL;
    }
    memcpy(copy, m->layers, sizeof(nm_layer) * (size_t)m->n_layers);
    c->layers = copy;
    c->batch = batch;
    c->n_layers = m->n_layers;
    c->in_c = m->in_c, c->in_h = m->in_h, c->in_w = m->in_w;
    c->n_outputs = m->n_outputs;
    memcpy(c->outputs, m->outputs, sizeof c->outputs);
    c->n_xin = m->n_xin;
    xin_shapes(m, c->xin);
    m->fwd_cache = c;
    m->fwd_cache_free = fwd_cache_free;
    return c->net;
}

/* Copies samples [b0, b0 + n) of x (NCHW, per-sample shape c x hw) into
 * a net input buffer (CNHW). */
static void fill_input(float *in, const nm_tensor *x, int c, int64_t hw, int64_t b0, int n)
{
    const int64_t per = c * hw;
    for (int s = 0; s < n; s++)
        for (int ch = 0; ch < c; ch++)
            memcpy(in + ((int64_t)ch * n + s) * hw, nm_f32(x) + (b0 + s) * per + ch * hw,
                   sizeof(float) * (size_t)hw);
}

/* The outputs outs[0..n_out) (layer indices or graph inputs) of inputs
 * xs[0..n_x) (one per graph input) into new tensors ys[], ranks as given
 * (0 = 4). */
static int forward_run(nm_model *m, const nm_tensor *const *xs, int n_x, const int *outs,
                       const int *ranks, int n_out, nm_tensor **ys)
{
    const int n_in = nm_model_n_inputs(m);
    if (n_x != n_in || !xs) {
        char list[256] = "";
        for (int k = 0; k < n_in && strlen(list) < 180; k++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s'%.40s'", k ? ", " : "",
                     nm_model_input_name(m, k));
        return nm_seterr("forward: model '%s' takes %d input%s (%s), got %d", m->name, n_in,
                         n_in == 1 ? "" : "s", list, xs ? n_x : 0), -1;
    }
    const int64_t nall = input_samples(m, 0, xs[0]);
    if (nall < 0)
        return -1;
    for (int k = 1; k < n_in; k++) {
        int64_t nk = input_samples(m, k, xs[k]);
        if (nk < 0)
            return -1;
        if (nk != nall)
            return nm_seterr("forward: input '%s' of model '%s' has %lld samples but input '%s' "
                             "has %lld; every input needs the same batch size",
                             nm_model_input_name(m, k), m->name, (long long)nk,
                             nm_model_input_name(m, 0), (long long)nall), -1;
    }
    if (m->n_layers == 0)
        return nm_seterr("model '%s' has no layers", m->name), -1;
    for (int k = 0; k < n_out; k++)
        ys[k] = NULL;
    for (int k = 0; k < n_out; k++) {
        int c, h, w;
        nm_model_out_shape(m, outs[k], &c, &h, &w);
        int64_t d[4] = {nall, c, h, w};
        ys[k] = nm_tensor_new(NM_F32, ranks[k] >= 2 && ranks[k] <= 4 ? ranks[k] : 4, d);
        if (!ys[k])
            goto fail;
    }
    /* Up to 256 samples per pass; fewer when the buffers for that many do
     * not fit the memory budget (the result is the same). */
    int batch = (int)(nall < 256 ? (nall > 0 ? nall : 1) : 256);
    nm_net *net;
    while (!(net = forward_net(m, batch)) && batch > 1)
        batch = (batch + 1) / 2;
    if (!net)
        goto fail;
    for (int64_t b0 = 0; b0 < nall; b0 += batch) {
        int n = (int)(nall - b0 < batch ? nall - b0 : batch);
        for (int k = 0; k < n_in; k++) {
            int ic, ih, iw;
            nm_model_input_shape(m, k, &ic, &ih, &iw);
            fill_input(nm_net_input_k(net, k), xs[k], ic, (int64_t)ih * iw, b0, n);
        }
        nm_net_forward(net, n, 0);
        for (int k = 0; k < n_out; k++) {
            int c, h, w;
            nm_model_out_shape(m, outs[k], &c, &h, &w);
            const int64_t ohw = (int64_t)h * w, oper = c * ohw;
            const float *o = nm_net_value(net, outs[k]);
            for (int s = 0; s < n; s++)
                for (int ch = 0; ch < c; ch++)
                    memcpy(nm_f32(ys[k]) + (b0 + s) * oper + ch * ohw, o + ((int64_t)ch * n + s) * ohw,
                           sizeof(float) * (size_t)ohw);
        }
    }
    return n_out;
fail:
    for (int k = 0; k < n_out; k++)
        nm_tensor_release(ys[k]), ys[k] = NULL;
    return -1;
}

int nm_forward_inputs(nm_model *m, const nm_tensor *const *xs, int n_x, nm_tensor **ys, int cap)
{
    int outs[NM_MAX_OUTPUTS], ranks[NM_MAX_OUTPUTS];
    const int n_out = nm_model_outputs(m, outs, NM_MAX_OUTPUTS);
    if (n_out > cap)
        return nm_seterr("forward: model '%s' has %d outputs, room for %d", m->name, n_out, cap), -1;
    for (int k = 0; k < n_out; k++)
        ranks[k] = m->n_outputs ? m->out_rank[k] : 0;
    return forward_run(m, xs, n_x, outs, ranks, n_out, ys);
}

int nm_forward_outputs(nm_model *m, const nm_tensor *x, nm_tensor **ys, int cap)
{
    return nm_forward_inputs(m, &x, 1, ys, cap);
}

nm_tensor *nm_forward(nm_model *m, const nm_tensor *x)
{
    /* The last layer as [N, C, H, W], whatever the graph's outputs are: a
     * lean net always leaves it readable (nothing runs after it). */
    const int last = m->n_layers - 1, rank = 4;
    nm_tensor *y = NULL;
    return forward_run(m, &x, 1, &last, &rank, 1, &y) == 1 ? y : NULL;
}
