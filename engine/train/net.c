/* net.c - the training graph executor (see net.h). */
#include "net.h"
#include "kernels.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define NM_BN_MOMENTUM 0.1f

typedef struct {
    float *act, *grad;          /* [C, max_batch * P] each */
    int64_t per_sample;         /* C * H * W of the output */
    /* prunable layers */
    uint8_t *emask;             /* effective weight mask, NULL = all kept */
    float *weff;                /* masked weight when emask is set */
    uint8_t *bias_keep;         /* 1 = filter kept; a removed one's bias acts as 0 */
    float *dw, *db;
    /* batchnorm: batch mean and 1/std of the last training forward */
    float *bmean, *invstd, *dgamma, *dbeta;
    uint8_t *dead;              /* channels of removed producer filters */
    /* max pool */
    int32_t *arg;
    /* backward: grad holds this pass's contributions (else it is stale and
     * the first consumer overwrites it); a ReLU/NMReLU whose producer is a
     * BN it alone consumes runs that BN's backward too (bn_fused: BN layer
     * + 1, 0 = none), and the BN is skipped (fused_away) */
    int gdone;
    int bn_fused;
    int fused_away;
    /* training forward: a BN followed by a ReLU it alone feeds writes that
     * ReLU's output too (relu_next: ReLU layer + 1), and the ReLU is
     * skipped (by_bn) */
    int relu_next;
    int by_bn;
    /* lean nets, 3x3 stride-1 convs: Winograd kernels of the weight whose
     * fingerprint is wino_key (wino_valid = 0 until the first transform) */
    float *wino_u;
    uint64_t wino_key;
    int wino_valid;
    /* lean nets: a conv whose only consumer is an eval-mode BN and/or a
     * ReLU computes them in its epilogue (fuse_bn, fuse_relu: those layers,
     * else -1; epi: scale and shift, 2 x out_c floats). The fused layers
     * have fused = 1, share the conv's buffer and are skipped. */
    int fuse_bn, fuse_relu, fused;
    float *epi;
} net_layer;

struct nm_net {
    nm_model *m;
    int n_layers;               /* the model's when built (ls has this many) */
    int max_batch, n;
    int train;                  /* built with gradient and BN/pool state */
    int lean;                   /* NM_NET_LEAN: activation buffers shared by liveness */
    float **bufs;               /* lean: the shared activation buffers (owned) */
    int n_bufs;
    float *weff_shared;         /* lean: one masked-weight scratch for every layer */
    net_layer *ls;
    float *in, *gin;
    float *xin[NM_MAX_GRAPH_INPUTS];    /* graph inputs k >= 1 (xin[0] unused) */
    int want_gin;
    int gin_done;               /* backward: gin holds this pass's contributions */
    float *work;
    size_t work_floats;
    nm_param *params;
    int n_params;
    int64_t bytes;              /* bytes of the buffers above */
    int64_t charged;            /* of them, counted by nm_mem_charge */
};

/* Kinds with a backward pass (training). */
static int trainable(const nm_layer *l)
{
    switch (l->kind) {
    case NM_LAYER_CONV: case NM_LAYER_DWCONV: case NM_LAYER_LINEAR: case NM_LAYER_BN:
    case NM_LAYER_RELU: case NM_LAYER_NMRELU: case NM_LAYER_MAXPOOL: case NM_LAYER_AVGPOOL:
    case NM_LAYER_GAP: case NM_LAYER_FLATTEN:
        return 1;
    case NM_LAYER_ADD: /* a residual add of two equal shapes */
        return l->n_inputs == 2 && !l->konst && l->in_c == l->out_c && l->in_h == l->out_h &&
               l->in_w == l->out_w;
    default:
        return 0;
    }
}

/* Kinds the forward pass runs (inference): all of them. */
static int runnable(nm_layer_kind k)
{
    return (unsigned)k < NM_LAYER_KIND_COUNT;
}

/* The transformer kinds: forward only (vit_ops.c). */
static int transformer_kind(nm_layer_kind k)
{
    switch (k) {
    case NM_LAYER_MATMUL: case NM_LAYER_LAYERNORM: case NM_LAYER_GELU: case NM_LAYER_SOFTMAX:
    case NM_LAYER_EMBED:
        return 1;
    default:
        return 0;
    }
}

/* calloc that records failure in *fail and counts the bytes in *bytes
 * (what the net holds, charged to the engine's memory accounting). */
static void *alloc_or_fail(size_t count, size_t size, int *fail, int64_t *bytes)
{
    void *p = calloc(count ? count : 1, size);
    if (!p)
        *fail = 1;
    *bytes += (int64_t)(count ? count : 1) * (int64_t)size;
    return p;
}

void nm_net_free(nm_net *net)
{
    if (!net)
        return;
    for (int i = 0; net->ls && i < net->n_layers; i++) {
        net_layer *q = &net->ls[i];
        if (!net->lean)
            free(q->act), free(q->weff);
        free(q->grad), free(q->emask), free(q->bias_keep);
        free(q->dw), free(q->db), free(q->bmean), free(q->invstd), free(q->dgamma);
        free(q->dbeta), free(q->dead), free(q->arg), free(q->wino_u), free(q->epi);
    }
    free(net->ls);
    for (int b = 0; b < net->n_bufs; b++)
        free(net->bufs[b]);
    free(net->bufs), free(net->weff_shared);
    free(net->in), free(net->gin), free(net->work), free(net->params);
    for (int k = 1; k < NM_MAX_GRAPH_INPUTS; k++)
        free(net->xin[k]);
    nm_mem_release(net->charged);
    free(net);
}

int64_t nm_net_bytes(const nm_net *net)
{
    return net->bytes;
}

static int plan_lean(nm_net *net);
static int plan_fusion(nm_net *net, int *last);
static void plan_train_fusion(nm_net *net);

static void add_param(nm_net *net, nm_param_kind kind, int layer, nm_tensor *t, float *g,
                      const uint8_t *mask)
{
    nm_param *p = &net->params[net->n_params++];
    p->kind = kind, p->layer = layer, p->n = t->numel;
    p->w = nm_f32(t), p->g = g, p->mask = mask;
}

nm_net *nm_net_new(nm_model *m, int max_batch, int train)
{
    if (max_batch <= 0) {
        nm_seterr("batch size must be positive, not %d", max_batch);
        return NULL;
    }
    if (m->n_layers == 0) {
        nm_seterr("model '%s' has no layers", m->name);
        return NULL;
    }
    /* a training step fills and differentiates input 0 only */
    if (train == NM_NET_TRAIN && nm_model_one_input(m, "training") != NM_OK)
        return NULL;
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        if (!runnable(l->kind)) {
            nm_seterr("layer '%s': unknown kind %d", l->name, (int)l->kind);
            return NULL;
        }
        if (train == NM_NET_TRAIN && transformer_kind(l->kind)) {
            nm_seterr("layer '%s' (%s): the transformer layers (matmul, layernorm, gelu, softmax, "
                      "embed) run inference only; training cannot backpropagate through "
                      "them", l->name, nm_layer_kind_name(l->kind));
            return NULL;
        }
        if (train == NM_NET_TRAIN && !trainable(l)) {
            nm_seterr("layer '%s' (%s): training supports conv, dwconv, linear, batchnorm, relu, "
                      "nmrelu, maxpool, avgpool, gap, flatten and residual adds of equal shapes",
                      l->name, nm_layer_kind_name(l->kind));
            return NULL;
        }
        if (l->n_inputs == 0) {
            nm_seterr("layer '%s' has no producer (a detached layer list cannot be run)", l->name);
            return NULL;
        }
        if (l->kind == NM_LAYER_NMRELU && l->act_m > 64) {
            nm_seterr("layer '%s': NMReLU groups of %d values (at most 64)", l->name, l->act_m);
            return NULL;
        }
    }
    nm_net *net = calloc(1, sizeof *net);
    int fail = !net;
    if (fail) {
        nm_seterr("out of memory");
        return NULL;
    }
    net->m = m;
    net->n_layers = m->n_layers;
    net->max_batch = max_batch;
    net->train = train == NM_NET_TRAIN;
    net->lean = train == NM_NET_LEAN;
    train = net->train;
    net->ls = alloc_or_fail((size_t)m->n_layers, sizeof *net->ls, &fail, &net->bytes);
    net->params = alloc_or_fail((size_t)m->n_layers * 4, sizeof *net->params, &fail, &net->bytes);
    if (fail) {
        nm_net_free(net);
        nm_seterr("out of memory");
        return NULL;
    }
    size_t in_floats = (size_t)m->in_c * m->in_h * m->in_w * (size_t)max_batch;
    net->in = alloc_or_fail(in_floats, sizeof(float), &fail, &net->bytes);
    for (int k = 1; k < nm_model_n_inputs(m); k++) {
        int c, h, w;
        nm_model_input_shape(m, k, &c, &h, &w);
        net->xin[k] = alloc_or_fail((size_t)c * h * w * (size_t)max_batch, sizeof(float), &fail,
                                    &net->bytes);
    }
    size_t work = 0;
    for (int i = 0; i < m->n_layers && !fail; i++) {
        nm_layer *l = &m->layers[i];
        net_layer *q = &net->ls[i];
        q->per_sample = (int64_t)l->out_c * l->out_h * l->out_w;
        size_t total = (size_t)q->per_sample * (size_t)max_batch;
        if (!net->lean)
            q->act = alloc_or_fail(total, sizeof(float), &fail, &net->bytes);
        if (train)
            q->grad = alloc_or_fail(total, sizeof(float), &fail, &net->bytes);
        if (nm_layer_prunable(l)) {
            if (train)
                q->dw = alloc_or_fail((size_t)l->weight->numel, sizeof(float), &fail, &net->bytes);
            if (!net->lean)
                q->weff = alloc_or_fail((size_t)l->weight->numel, sizeof(float), &fail, &net->bytes);
            if (!net->lean)   /* a lean net masks from the model's tensors */
                q->emask = alloc_or_fail((size_t)l->weight->numel, 1, &fail, &net->bytes);
            q->bias_keep = alloc_or_fail((size_t)l->out_c, 1, &fail, &net->bytes);
            if (l->bias && train)
                q->db = alloc_or_fail((size_t)l->out_c, sizeof(float), &fail, &net->bytes);
            if (l->kind != NM_LAYER_LINEAR) {
                nm_conv_geom g;
                nm_conv_geom_of(l, &g);
                size_t wf = nm_conv_work_floats(&g, max_batch);
                if (train) {   /* the backward's need, per thread */
                    size_t bw = nm_conv_backward_work_floats(&g, max_batch,
                                                             omp_get_max_threads());
                    wf = bw > wf ? bw : wf;
                }
                /* the AVX-512 direct path beats F(2x2, 3x3) on every shape
                 * measured (docs/results.md) */
                if (net->lean && l->kind == NM_LAYER_CONV && nm_winograd_ok(&g, max_batch) &&
                    !nm_conv_fast_available()) {
                    q->wino_u = alloc_or_fail(nm_winograd_u_floats(&g), sizeof(float), &fail,
                                              &net->bytes);
                    wf = nm_winograd_work_floats(&g, max_batch);
                }
                work = wf > work ? wf : work;
            } else {
                size_t wf = nm_linear_work_floats(l->in_c, l->out_c,
                                                  (int64_t)max_batch * l->out_h * l->out_w);
                work = wf > work ? wf : work;
            }
        } else if (l->kind == NM_LAYER_BN) {
            q->dead = alloc_or_fail((size_t)l->out_c, 1, &fail, &net->bytes);
            if (train) {
                q->bmean = alloc_or_fail((size_t)l->out_c, sizeof(float), &fail, &net->bytes);
                q->invstd = alloc_or_fail((size_t)l->out_c, sizeof(float), &fail, &net->bytes);
                q->dgamma = alloc_or_fail((size_t)l->out_c, sizeof(float), &fail, &net->bytes);
                q->dbeta = alloc_or_fail((size_t)l->out_c, sizeof(float), &fail, &net->bytes);
            }
        } else if (l->kind == NM_LAYER_MAXPOOL && train) {
            q->arg = alloc_or_fail(total, sizeof(int32_t), &fail, &net->bytes);
        }
    }
    if (!fail)
        net->work = alloc_or_fail(work, sizeof(float), &fail, &net->bytes);
    net->work_floats = work;
    if (!fail && net->lean && plan_lean(net) != NM_OK)
        fail = 1;
    if (fail) {
        nm_net_free(net);
        nm_seterr("out of memory building the %s buffers of '%s' for batch %d",
                  train ? "training" : "forward", m->name, max_batch);
        return NULL;
    }
    /* The pages are not touched yet: a refusal here costs no memory. */
    if (nm_mem_charge(train ? "training buffers" : "forward buffers", net->bytes) != NM_OK) {
        nm_net_free(net);
        return NULL;
    }
    net->charged = net->bytes;
    for (int i = 0; train && i < m->n_layers; i++) {
        nm_layer *l = &m->layers[i];
        net_layer *q = &net->ls[i];
        if (nm_layer_prunable(l)) {
            add_param(net, NM_PARAM_WEIGHT, i, l->weight, q->dw, q->emask);
            if (l->bias)
                add_param(net, NM_PARAM_BIAS, i, l->bias, q->db, q->bias_keep);
        } else if (l->kind == NM_LAYER_BN) {
            add_param(net, NM_PARAM_GAMMA, i, l->gamma, q->dgamma, NULL);
            add_param(net, NM_PARAM_BETA, i, l->beta, q->dbeta, NULL);
        }
    }
    if (train)
        plan_train_fusion(net);
    nm_net_sync_masks(net);
    return net;
}

/* Whether layer j reads only layer i, is i's only reader, and i is not a
 * graph output (last[i] == j says both of the latter). */
static int sole_reader(const nm_model *m, const int *last, int i, int j)
{
    if (j >= m->n_layers || last[i] != j)
        return 0;
    const nm_layer *l = &m->layers[j];
    if (l->n_inputs != 1 || l->inputs[0] != i)
        return 0;
    for (int k = i + 1; k < j; k++)
        for (int t = 0; t < m->layers[k].n_inputs; t++)
            if (m->layers[k].inputs[t] == i)
                return 0;
    return 1;
}

/* Lean nets: finds conv -> BN -> ReLU (or conv -> BN, conv -> ReLU) runs of
 * adjacent layers where each value has one reader and is not a graph
 * output; the conv computes the run in its epilogue. last[] (a value's last
 * reader) becomes the run's for each member. */
static int plan_fusion(nm_net *net, int *last)
{
    const nm_model *m = net->m;
    int fail = 0;
    for (int i = 0; i < m->n_layers; i++) {
        net_layer *q = &net->ls[i];
        q->fuse_bn = q->fuse_relu = -1;
        const nm_layer *l = &m->layers[i];
        if ((l->kind != NM_LAYER_CONV && l->kind != NM_LAYER_DWCONV) || net->ls[i].fused)
            continue;
        int tail = i;
        if (sole_reader(m, last, tail, tail + 1) && m->layers[tail + 1].kind == NM_LAYER_BN)
            q->fuse_bn = ++tail;
        if (sole_reader(m, last, tail, tail + 1) && m->layers[tail + 1].kind == NM_LAYER_RELU)
            q->fuse_relu = ++tail;
        if (tail == i)
            continue;
        for (int k = i + 1; k <= tail; k++)
            net->ls[k].fused = 1;
        for (int k = i; k < tail; k++)
            last[k] = last[tail];
        q->epi = alloc_or_fail((size_t)2 * l->out_c, sizeof(float), &fail, &net->bytes);
    }
    return fail ? nm_seterr("out of memory") : NM_OK;
}

/* Training fusion: a ReLU or NMReLU fed by a BN that has no other consumer takes
 * over that BN's backward pass (nm_bn_act_backward), so the gradient at
 * BN's output is never stored; in the training forward, such a BN writes
 * the ReLU's output in its own pass (bn_train_forward). */
static void plan_train_fusion(nm_net *net)
{
    const nm_model *m = net->m;
    int *uses = calloc((size_t)m->n_layers, sizeof *uses);
    if (!uses)
        return;   /* no fusion: the unfused passes give the same gradients */
    for (int i = 0; i < m->n_layers; i++)
        for (int k = 0; k < m->layers[i].n_inputs; k++)
            if (m->layers[i].inputs[k] >= 0)
                uses[m->layers[i].inputs[k]]++;
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        const int j = l->inputs[0];
        if ((l->kind == NM_LAYER_RELU || l->kind == NM_LAYER_NMRELU) && l->n_inputs == 1 &&
            j >= 0 && m->layers[j].kind == NM_LAYER_BN && uses[j] == 1) {
            net->ls[i].bn_fused = j + 1;
            net->ls[j].fused_away = 1;
            if (l->kind == NM_LAYER_RELU) {
                net->ls[j].relu_next = i + 1;
                net->ls[i].by_bn = 1;
            }
        }
    }
    free(uses);
}

/* NM_NET_LEAN: activation buffers shared between layers whose values are
 * not alive at the same time. A layer's output lives from its layer to its
 * last consumer (for ever if it is a graph output); buffers are handed out
 * in layer order, the smallest free one that fits (else the largest free one
 * grown), and a buffer comes back once its value's last consumer has its
 * own. One masked-weight scratch serves every layer. */
static int plan_lean(nm_net *net)
{
    const nm_model *m = net->m;
    const int n = m->n_layers;
    int *last = malloc(sizeof(int) * (size_t)n), *buf = malloc(sizeof(int) * (size_t)n);
    size_t *cap = calloc((size_t)n, sizeof *cap);
    char *busy = calloc((size_t)n, 1);
    int n_bufs = 0, outs[NM_MAX_OUTPUTS], rc = NM_OK;
    size_t wmax = 0;
    if (!last || !buf || !cap || !busy) {
        rc = nm_seterr("out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++)
        last[i] = i;
    for (int k = 0; k < n; k++)
        for (int j = 0; j < m->layers[k].n_inputs; j++)
            if (m->layers[k].inputs[j] >= 0 && last[m->layers[k].inputs[j]] < k)
                last[m->layers[k].inputs[j]] = k;
    int n_out = nm_model_outputs(m, outs, NM_MAX_OUTPUTS);
    for (int o = 0; o < n_out; o++)
        if (outs[o] >= 0)
            last[outs[o]] = n;
    if (plan_fusion(net, last) != NM_OK) {
        rc = NM_ERR;
        goto done;
    }
    for (int i = 0; i < n; i++) {
        if (net->ls[i].fused) {   /* the conv's value, under another name */
            buf[i] = buf[i - 1];
            continue;
        }
        size_t need = (size_t)net->ls[i].per_sample * (size_t)net->max_batch;
        int best = -1, largest = -1;
        for (int b = 0; b < n_bufs; b++) {
            if (busy[b])
                continue;
            if (cap[b] >= need && (best < 0 || cap[b] < cap[best]))
                best = b;
            if (largest < 0 || cap[b] > cap[largest])
                largest = b;
        }
        if (best < 0)
            best = largest >= 0 ? largest : n_bufs++;
        if (cap[best] < need)
            cap[best] = need;
        busy[best] = 1;
        buf[i] = best;
        const nm_layer *li = &m->layers[i];
        for (int j = 0; j < li->n_inputs; j++)   /* inputs read for the last time */
            if (li->inputs[j] >= 0 && last[li->inputs[j]] == i)
                busy[buf[li->inputs[j]]] = 0;
        if (last[i] == i)                        /* read by no one: free at once */
            busy[buf[i]] = 0;
        const nm_layer *l = &m->layers[i];
        if (nm_layer_prunable(l) && (size_t)l->weight->numel > wmax)
            wmax = (size_t)l->weight->numel;
    }
    net->bufs = calloc((size_t)(n_bufs ? n_bufs : 1), sizeof *net->bufs);
    if (!net->bufs) {
        rc = nm_seterr("out of memory");
        goto done;
    }
    net->n_bufs = n_bufs;
    int fail = 0;
    for (int b = 0; b < n_bufs; b++)
        net->bufs[b] = alloc_or_fail(cap[b], sizeof(float), &fail, &net->bytes);
    net->weff_shared = alloc_or_fail(wmax, sizeof(float), &fail, &net->bytes);
    if (fail)
        rc = nm_seterr("out of memory");
    for (int i = 0; rc == NM_OK && i < n; i++) {
        net->ls[i].act = net->bufs[buf[i]];
        net->ls[i].weff = net->weff_shared;
    }
done:
    free(last), free(buf), free(cap), free(busy);
    return rc;
}

/* Effective masks: emask = mask AND filters[o] AND in_chans[input channel of
 * column j]; bias_keep[o] = filters[o] (1 = kept); a BN's dead[c] = its
 * producer's filters[c] == 0. */
int nm_net_sync_masks(nm_net *net)
{
    nm_model *m = net->m;
    for (int i = 0; i < m->n_layers; i++) {
        nm_layer *l = &m->layers[i];
        net_layer *q = &net->ls[i];
        if (nm_layer_prunable(l)) {
            nm_weight_geom wg;
            nm_layer_weight_geom(l, &wg);
            const int64_t rows = wg.rows, cols = wg.cols, per_k = wg.per_k, cin_g = wg.cin_g;
            const int64_t cout_g = wg.cout_g;
            const uint8_t *mk = wg.mask, *fk = wg.filters, *ik = wg.in_chans;
            for (int64_t o = 0; o < rows; o++) {
                int fo = !fk || fk[o];
                q->bias_keep[o] = (uint8_t)fo;
                int64_t gidx = o / cout_g;
                for (int64_t j = 0; q->emask && j < cols; j++) {   /* none: nothing pruned */
                    int64_t e = o * cols + j;
                    int keep = fo && (!mk || mk[e]);
                    if (keep && ik)
                        keep = ik[gidx * cin_g + j / per_k] != 0;
                    q->emask[e] = (uint8_t)keep;
                }
            }
        } else if (l->kind == NM_LAYER_BN) {
            memset(q->dead, 0, (size_t)l->out_c);
            int src = l->inputs[0];
            if (src >= 0 && nm_layer_prunable(&m->layers[src]) && m->layers[src].filters) {
                const uint8_t *fk = nm_u8(m->layers[src].filters);
                for (int c = 0; c < l->out_c; c++)
                    q->dead[c] = fk[c] == 0;
            }
        }
    }
    return NM_OK;
}

float *nm_net_input(nm_net *net) { return net->in; }
float *nm_net_input_k(nm_net *net, int k)
{
    return k == 0 ? net->in : k > 0 && k < nm_model_n_inputs(net->m) ? net->xin[k] : NULL;
}
const float *nm_net_act(const nm_net *net, int i) { return net->ls[i].act; }
nm_model *nm_net_model(const nm_net *net) { return net->m; }
int nm_net_max_batch(const nm_net *net) { return net->max_batch; }
const float *nm_net_input_grad(const nm_net *net) { return net->gin; }

void nm_net_want_input_grad(nm_net *net, int on)
{
    net->want_gin = on && net->train;
    if (on && !net->gin) {
        const nm_model *m = net->m;
        net->gin = calloc((size_t)m->in_c * m->in_h * m->in_w * (size_t)net->max_batch,
                          sizeof(float));
        if (!net->gin)
            net->want_gin = 0;
    }
}

nm_param *nm_net_params(nm_net *net, int *count)
{
    *count = net->n_params;
    return net->params;
}

static const float *in_act(const nm_net *net, int src)
{
    int k = nm_input_index(src);
    return k == 0 ? net->in : k > 0 ? net->xin[k] : net->ls[src].act;
}

const float *nm_net_value(const nm_net *net, int src) { return in_act(net, src); }

/* Gradient buffer of a producer that a consumer's backward pass is about
 * to write, or NULL for the model input when its gradient is not wanted.
 * *acc: 1 when an earlier consumer already wrote it in this pass (add),
 * 0 for the first (overwrite; the buffers are not zeroed beforehand). */
static float *in_grad(nm_net *net, int src, int *acc)
{
    if (nm_input_index(src) > 0) {   /* training nets have one input (nm_net_new) */
        *acc = 0;
        return NULL;
    }
    if (src == NM_INPUT) {
        *acc = net->gin_done;
        if (!net->want_gin)
            return NULL;
        net->gin_done = 1;
        return net->gin;
    }
    *acc = net->ls[src].gdone;
    net->ls[src].gdone = 1;
    return net->ls[src].grad;
}

/* A lean net's masked weight, made from the model's mask, filters and
 * in_chans on every forward (they may change between calls of a kept net):
 * w where all three keep the entry, else 0, into the shared scratch. The
 * weight itself when the layer has none of them. */
static const float *lean_masked_weight(net_layer *q, const nm_layer *l)
{
    const float *w = nm_f32(l->weight);
    if (!l->mask && !l->filters && !l->in_chans)
        return w;
    nm_weight_geom wg;
    nm_layer_weight_geom(l, &wg);
    const int64_t rows = wg.rows, cols = wg.cols, per_k = wg.per_k, cin_g = wg.cin_g;
    const int64_t cout_g = wg.cout_g;
    const uint8_t *mk = wg.mask, *fk = wg.filters, *ik = wg.in_chans;
    float *out = q->weff;
#pragma omp parallel for schedule(static) if (rows * cols > NM_PAR_MIN)
    for (int64_t o = 0; o < rows; o++) {
        const float *wr = w + o * cols;
        float *dr = out + o * cols;
        if (fk && !fk[o]) {
            memset(dr, 0, sizeof(float) * (size_t)cols);
            continue;
        }
        if (mk) {
            const uint8_t *mr = mk + o * cols;
            for (int64_t j = 0; j < cols; j++)
                dr[j] = mr[j] ? wr[j] : 0.0f;
        } else {
            memcpy(dr, wr, sizeof(float) * (size_t)cols);
        }
        if (ik) {
            const uint8_t *ir = ik + (o / cout_g) * cin_g;
            for (int64_t c = 0; c < cin_g; c++)
                if (!ir[c])
                    memset(dr + c * per_k, 0, sizeof(float) * (size_t)per_k);
        }
    }
    return out;
}

/* The weight the forward pass uses: w * effective mask (into weff). */
static const float *masked_weight(const nm_net *net, net_layer *q, const nm_layer *l)
{
    if (net->lean)
        return lean_masked_weight(q, l);
    const float *w = nm_f32(l->weight);
    for (int64_t j = 0; j < l->weight->numel; j++)
        q->weff[j] = q->emask[j] ? w[j] : 0.0f;
    return q->weff;
}

/* A fingerprint of the bits of n floats: blocks of 16 lanes, each lane a
 * polynomial hash mod 2^32 with an odd multiplier (so a change of any one
 * value always changes it), blocks summed with their position mixed in. */
static uint64_t weights_key(const float *w, int64_t n)
{
    const int64_t block = 1 << 16, nb = (n + block - 1) / block;
    uint64_t key = (uint64_t)n * 0x9E3779B97F4A7C15ull;
#pragma omp parallel for schedule(static) reduction(+ : key) if (n > NM_PAR_MIN)
    for (int64_t bi = 0; bi < nb; bi++) {
        uint32_t acc[16];
        for (int k = 0; k < 16; k++)
            acc[k] = (uint32_t)(bi * 16 + k + 1);
        const int64_t lo = bi * block, hi = lo + block < n ? lo + block : n;
        int64_t i = lo;
        for (; i + 16 <= hi; i += 16) {
            uint32_t b[16];
            memcpy(b, w + i, sizeof b);
            for (int k = 0; k < 16; k++)
                acc[k] = acc[k] * 0x9E3779B1u + b[k];
        }
        for (int k = 0; i < hi; i++, k++) {
            uint32_t b;
            memcpy(&b, w + i, sizeof b);
            acc[k] = acc[k] * 0x9E3779B1u + b;
        }
        uint64_t h = 0xCBF29CE484222325ull;
        for (int k = 0; k < 16; k++)
            h = (h ^ acc[k]) * 0x100000001B3ull;
        key += h;
    }
    return key;
}

/* The Winograd kernels of weight w (the layer's effective weight), kept
 * from the last call when w's fingerprint has not changed. */
static const float *winograd_kernels(net_layer *q, const nm_layer *l, const nm_conv_geom *g,
                                     const float *w)
{
    const uint64_t key = weights_key(w, l->weight->numel);
    if (!q->wino_valid || key != q->wino_key) {
        nm_winograd_weights(g, w, q->wino_u);
        q->wino_key = key;
        q->wino_valid = 1;
    }
    return q->wino_u;
}

static void zero_dead_rows(const net_layer *q, const nm_layer *l, int64_t cols)
{
    for (int o = 0; o < l->out_c; o++)
        if (!q->bias_keep[o])
            memset(q->act + o * cols, 0, sizeof(float) * (size_t)cols);
}

/* A conv with its BN and/or ReLU (plan_fusion) at batch n, into its
 * buffer: the BN in eval mode folds into a per-channel scale and shift
 * (the conv's bias too), the ReLU into the epilogue; channels of removed
 * filters come out 0 as the unfused layers give them. */
static void conv_fused_forward(nm_net *net, int i, const nm_conv_geom *g, int n, const float *x)
{
    const nm_layer *l = &net->m->layers[i];
    net_layer *q = &net->ls[i];
    const int64_t cols = (int64_t)n * l->out_h * l->out_w;
    const float *bias = l->bias ? nm_f32(l->bias) : NULL;
    nm_conv_epilogue e = {.shift = bias};
    const uint8_t *dead = NULL;
    if (q->fuse_bn >= 0) {
        const nm_layer *b = &net->m->layers[q->fuse_bn];
        const float *gamma = nm_f32(b->gamma), *beta = nm_f32(b->beta);
        const float *mean = nm_f32(b->mean), *var = nm_f32(b->var);
        float *scale = q->epi, *shift = q->epi + l->out_c;
        for (int c = 0; c < l->out_c; c++) {
            scale[c] = gamma[c] / sqrtf(var[c] + b->eps);
            shift[c] = beta[c] - mean[c] * scale[c] + (bias ? bias[c] * scale[c] : 0.0f);
        }
        e.scale = scale, e.shift = shift;
        dead = net->ls[q->fuse_bn].dead;
    }
    if (q->fuse_relu >= 0) {
        e.relu = 1;
        e.clip = net->m->layers[q->fuse_relu].clip;
    }
    const float *w = masked_weight(net, q, l);
    if (q->wino_u) {
        nm_conv_winograd_forward(g, n, x, winograd_kernels(q, l, g, w), NULL, q->act, net->work);
        nm_conv_epilogue_apply(&e, l->out_c, cols, q->act);
    } else if (l->kind == NM_LAYER_CONV && nm_conv_fast_ok(g, n)) {
        nm_conv_fast_forward(g, n, x, w, &e, q->act, net->work);
    } else {
        nm_conv_forward(g, n, x, w, NULL, q->act, net->work);
        nm_conv_epilogue_apply(&e, l->out_c, cols, q->act);
    }
    for (int c = 0; c < l->out_c; c++)
        if ((dead && dead[c]) || (bias && l->filters && !q->bias_keep[c]))
            memset(q->act + c * cols, 0, sizeof(float) * (size_t)cols);
}

/* A training BN, and the ReLU after it when fused (plan_train_fusion). */
static void bn_train_forward(nm_net *net, const nm_layer *l, net_layer *q, const float *x,
                             int64_t cols)
{
    const nm_layer *lr = q->relu_next ? &net->m->layers[q->relu_next - 1] : NULL;
    nm_bn_relu_forward_train(l->out_c, cols, x, nm_f32(l->gamma), nm_f32(l->beta),
                             nm_f32(l->mean), nm_f32(l->var), l->eps, NM_BN_MOMENTUM, q->dead,
                             q->act, q->bmean, q->invstd, lr ? lr->clip : 0.0f,
                             lr ? net->ls[q->relu_next - 1].act : NULL);
}

const float *nm_net_forward(nm_net *net, int n, int train)
{
    nm_model *m = net->m;
    if (n > net->max_batch)
        n = net->max_batch;
    net->n = n;
    train = train && net->train;
    for (int i = 0; i < m->n_layers; i++) {
        nm_layer *l = &m->layers[i];
        net_layer *q = &net->ls[i];
        if (q->fused)   /* computed by the conv before it (plan_fusion) */
            continue;
        const float *x = in_act(net, l->inputs[0]);
        const int64_t plane = (int64_t)l->out_h * l->out_w, cols = n * plane;
        const int64_t count = q->per_sample * n;
        switch (l->kind) {
        case NM_LAYER_CONV:
        case NM_LAYER_DWCONV: {
            nm_conv_geom g;
            nm_conv_geom_of(l, &g);
            if (q->epi) {
                conv_fused_forward(net, i, &g, n, x);
                break;
            }
            if (q->wino_u)
                nm_conv_winograd_forward(&g, n, x, winograd_kernels(q, l, &g, masked_weight(net, q, l)),
                                         l->bias ? nm_f32(l->bias) : NULL, q->act, net->work);
            else
                nm_conv_forward(&g, n, x, masked_weight(net, q, l),
                                l->bias ? nm_f32(l->bias) : NULL, q->act, net->work);
            if (l->bias && l->filters)
                zero_dead_rows(q, l, cols);
            break;
        }
        case NM_LAYER_LINEAR:
            nm_linear_forward(l->in_c, l->out_c, cols, x, masked_weight(net, q, l),
                              l->bias ? nm_f32(l->bias) : NULL, q->act, net->work);
            if (l->bias && l->filters)
                zero_dead_rows(q, l, cols);
            break;
        case NM_LAYER_BN:
            if (train)
                bn_train_forward(net, l, q, x, cols);
            else
                nm_bn_forward_eval(l->out_c, cols, x, nm_f32(l->gamma), nm_f32(l->beta),
                                   nm_f32(l->mean), nm_f32(l->var), l->eps, q->dead, q->act);
            break;
        case NM_LAYER_RELU:
            if (train && q->by_bn)
                break;   /* written by its BN (bn_train_forward) */
            nm_relu_forward(count, l->clip, x, q->act);
            break;
        case NM_LAYER_NMRELU:
            nm_train_nmrelu_forward_clip(l->out_c, n, (int)plane, l->act_n, l->act_m,
                                         l->act_policy, l->act_axis, l->clip, x, q->act);
            break;
        case NM_LAYER_MAXPOOL: {
            nm_pool_geom g;
            nm_pool_geom_of(l, &g);
            nm_maxpool_forward(&g, (int64_t)l->out_c * n, x, q->act, q->arg);
            break;
        }
        case NM_LAYER_AVGPOOL: {
            nm_pool_geom g;
            nm_pool_geom_of(l, &g);
            nm_avgpool_forward(&g, (int64_t)l->out_c * n, x, q->act);
            break;
        }
        case NM_LAYER_GAP: {
            const int64_t hw = (int64_t)l->in_h * l->in_w;
            for (int64_t r = 0; r < (int64_t)l->out_c * n; r++) {
                double s = 0;
                for (int64_t p = 0; p < hw; p++)
                    s += x[r * hw + p];
                q->act[r] = (float)(s / (double)hw);
            }
            break;
        }
        case NM_LAYER_ADD: case NM_LAYER_MUL: case NM_LAYER_SUB: case NM_LAYER_DIV: {
            int bs[3] = {0, 0, 0};
            const float *b = NULL;
            if (!l->konst) {
                nm_model_out_shape(m, l->inputs[1], &bs[0], &bs[1], &bs[2]);
                b = in_act(net, l->inputs[1]);
            }
            nm_binary_forward(l, n, x, b, bs, q->act);
            break;
        }
        case NM_LAYER_FLATTEN: {
            const int64_t hw = (int64_t)l->in_h * l->in_w;
            for (int c = 0; c < l->in_c; c++)
                for (int s = 0; s < n; s++)
                    for (int64_t p = 0; p < hw; p++)
                        q->act[((int64_t)c * hw + p) * n + s] = x[((int64_t)c * n + s) * hw + p];
            break;
        }
        case NM_LAYER_SIGMOID: case NM_LAYER_HARDSIGMOID: case NM_LAYER_HARDSWISH:
        case NM_LAYER_TANH: case NM_LAYER_CLIP:
            nm_unary_forward(l, count, x, q->act);
            break;
        case NM_LAYER_CONCAT: {
            const float *xs[NM_MAX_INPUTS];
            int shapes[NM_MAX_INPUTS][3];
            for (int k = 0; k < l->n_inputs; k++) {
                xs[k] = in_act(net, l->inputs[k]);
                nm_model_out_shape(m, l->inputs[k], &shapes[k][0], &shapes[k][1], &shapes[k][2]);
            }
            nm_concat_forward(l, n, xs, (const int (*)[3])shapes, q->act);
            break;
        }
        case NM_LAYER_PAD:
            nm_pad_forward(l, n, x, q->act);
            break;
        case NM_LAYER_RESHAPE:
            nm_reshape_forward(l, n, x, q->act);
            break;
        case NM_LAYER_TRANSPOSE:
            nm_transpose_forward(l, n, x, q->act);
            break;
        case NM_LAYER_SHUFFLE:
            nm_shuffle_forward(l, n, x, q->act);
            break;
        case NM_LAYER_LAYERNORM:
            nm_layernorm_forward(l->out_c, cols, x, nm_f32(l->gamma), nm_f32(l->beta), l->eps,
                                 l->filters ? nm_u8(l->filters) : NULL, q->act);
            break;
        case NM_LAYER_GELU:
            nm_gelu_forward(count, x, q->act);
            break;
        case NM_LAYER_SOFTMAX:
            nm_softmax_forward(l->out_c, l->heads, cols, x, q->act);
            break;
        case NM_LAYER_MATMUL: {
            const float *b = in_act(net, l->inputs[1]);
            const int tokens = (int)plane;
            if (l->groups == 1) {   /* scores = scale * Q K^T */
                const int d = l->in_c / l->heads;
                const float scale = l->alpha != 0.0f ? l->alpha : 1.0f / sqrtf((float)d);
                nm_attn_scores_forward(l->in_c, l->heads, tokens, n, scale, x, b, q->act);
            } else {                /* context = A V */
                nm_attn_context_forward(l->out_c, l->heads, tokens, n, x, b, q->act);
            }
            break;
        }
        case NM_LAYER_EMBED:
            nm_embed_forward(l->in_c, l->in_h * l->in_w, n, x, nm_f32(l->weight), nm_f32(l->bias),
                             q->act);
            break;
        case NM_LAYER_SLICE:
            nm_slice_forward(l, n, x, q->act);
            break;
        case NM_LAYER_CONVT:
            nm_convt_forward(l, n, x, q->act);
            break;
        case NM_LAYER_RESIZE:
            nm_resize_forward(l, n, x, q->act);
            break;
        default:
            break;   /* rejected in nm_net_new */
        }
    }
    return net->ls[m->n_layers - 1].act;
}

void nm_net_zero_grad(nm_net *net)
{
    for (int i = 0; i < net->n_params; i++)
        memset(net->params[i].g, 0, sizeof(float) * (size_t)net->params[i].n);
}

void nm_net_backward(nm_net *net, const float *dout)
{
    nm_model *m = net->m;
    const int n = net->n;
    if (!net->train)
        return;   /* an inference net has no gradient buffers */
    for (int i = 0; i < m->n_layers; i++)
        net->ls[i].gdone = 0;
    net->gin_done = 0;
    net_layer *last = &net->ls[m->n_layers - 1];
    memcpy(last->grad, dout, sizeof(float) * (size_t)(last->per_sample * n));
    last->gdone = 1;

    for (int i = m->n_layers - 1; i >= 0; i--) {
        nm_layer *l = &m->layers[i];
        net_layer *q = &net->ls[i];
        if (q->fused_away)
            continue;   /* its consumer ran this BN's backward */
        const float *x = in_act(net, l->inputs[0]);
        const float *dy = q->grad;
        const int64_t plane = (int64_t)l->out_h * l->out_w, cols = n * plane;
        const int64_t count = q->per_sample * n;
        if (!q->gdone) {   /* no consumer: a zero gradient */
            memset(q->grad, 0, sizeof(float) * (size_t)count);
            q->gdone = 1;
        }
        int acc;
        float *dx;
        switch (l->kind) {
        case NM_LAYER_CONV:
        case NM_LAYER_DWCONV: {
            nm_conv_geom g;
            nm_conv_geom_of(l, &g);
            dx = in_grad(net, l->inputs[0], &acc);
            nm_conv_backward(&g, n, x, q->weff, dy, dx, acc, q->dw, q->db, net->work,
                             net->work_floats);
            break;
        }
        case NM_LAYER_LINEAR:
            dx = in_grad(net, l->inputs[0], &acc);
            nm_linear_backward(l->in_c, l->out_c, cols, x, q->weff, dy, dx, acc, q->dw, q->db);
            break;
        case NM_LAYER_BN:
            dx = in_grad(net, l->inputs[0], &acc);
            nm_bn_backward(l->out_c, cols, x, q->bmean, q->invstd, nm_f32(l->gamma), q->dead, dy,
                           dx, acc, q->dgamma, q->dbeta);
            break;
        case NM_LAYER_RELU:
        case NM_LAYER_NMRELU:
            if (q->bn_fused) {   /* BN + activation backward in one pass */
                const nm_layer *lb = &m->layers[q->bn_fused - 1];
                net_layer *qb = &net->ls[q->bn_fused - 1];
                dx = in_grad(net, lb->inputs[0], &acc);
                nm_bn_act_backward(lb->out_c, cols, in_act(net, lb->inputs[0]), qb->bmean,
                                   qb->invstd, nm_f32(lb->gamma), qb->dead, q->act, l->clip, dy,
                                   dx, acc, qb->dgamma, qb->dbeta);
            } else if ((dx = in_grad(net, l->inputs[0], &acc))) {
                /* NMReLU: kept values are the nonzero outputs, as ReLU's */
                nm_relu_backward(count, l->clip, q->act, dy, dx, acc);
            }
            break;
        case NM_LAYER_MAXPOOL: {
            nm_pool_geom g;
            nm_pool_geom_of(l, &g);
            if ((dx = in_grad(net, l->inputs[0], &acc)))
                nm_maxpool_backward(&g, (int64_t)l->out_c * n, q->arg, dy, dx, acc);
            break;
        }
        case NM_LAYER_AVGPOOL: {
            nm_pool_geom g;
            nm_pool_geom_of(l, &g);
            if ((dx = in_grad(net, l->inputs[0], &acc)))
                nm_avgpool_backward(&g, (int64_t)l->out_c * n, dy, dx, acc);
            break;
        }
        case NM_LAYER_GAP: {
            const int64_t hw = (int64_t)l->in_h * l->in_w;
            if ((dx = in_grad(net, l->inputs[0], &acc)))
                for (int64_t r = 0; r < (int64_t)l->out_c * n; r++)
                    for (int64_t p = 0; p < hw; p++)
                        dx[r * hw + p] = (acc ? dx[r * hw + p] : 0.0f) + dy[r] / (float)hw;
            break;
        }
        case NM_LAYER_ADD:
            for (int k = 0; k < 2; k++) {
                float *d = in_grad(net, l->inputs[k], &acc);
                if (d && acc)
                    for (int64_t e = 0; e < count; e++)
                        d[e] += dy[e];
                else if (d)
                    memcpy(d, dy, sizeof(float) * (size_t)count);
            }
            break;
        case NM_LAYER_FLATTEN: {
            const int64_t hw = (int64_t)l->in_h * l->in_w;
            if ((dx = in_grad(net, l->inputs[0], &acc)))
#pragma omp parallel for schedule(static) if (count > NM_PAR_MIN)
                for (int c = 0; c < l->in_c; c++)
                    for (int s = 0; s < n; s++)
                        for (int64_t p = 0; p < hw; p++) {
                            const int64_t e = ((int64_t)c * n + s) * hw + p;
                            dx[e] = (acc ? dx[e] : 0.0f) + dy[((int64_t)c * hw + p) * n + s];
                        }
            break;
        }
        default:
            break;
        }
    }
    if (net->want_gin && !net->gin_done)   /* nothing reads the input */
        memset(net->gin, 0, sizeof(float) * (size_t)m->in_c * m->in_h * m->in_w * (size_t)n);
}
