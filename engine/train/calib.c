/* calib.c - per-layer input-feature norms over a calibration batch, for the
 * Wanda score (prune.h, wanda.c). One inference pass with every
 * activation kept (an NM_NET_EVAL executor): each prunable layer's input
 * is read from its producer's buffer and its squares summed per im2col
 * position (conv) or per feature (linear), in double. */
#include "calib.h"

#include "kernels.h"
#include "net.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Adds to acc[c*K + i*kw + j] the squares of the input values the conv
 * reads at kernel offset (i, j) over every output position of n samples;
 * x is the producer's [C, n*H*W] buffer. */
static void acc_conv(const nm_conv_geom *g, int n, const float *x, double *acc)
{
    const int K = g->kh * g->kw;
    const int64_t hw = (int64_t)g->h * g->w;
#pragma omp parallel for schedule(dynamic) if ((int64_t)g->cin * K * n * g->oh * g->ow > NM_PAR_MIN)
    for (int c = 0; c < g->cin; c++) {
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++) {
                double s = 0;
                for (int b = 0; b < n; b++) {
                    const float *p = x + ((int64_t)c * n + b) * hw;
                    for (int oy = 0; oy < g->oh; oy++) {
                        int iy = oy * g->sh - g->ph + i * g->dh;
                        if (iy < 0 || iy >= g->h)
                            continue;
                        for (int ox = 0; ox < g->ow; ox++) {
                            int ix = ox * g->sw - g->pw + j * g->dw;
                            if (ix >= 0 && ix < g->w) {
                                double v = p[(int64_t)iy * g->w + ix];
                                s += v * v;
                            }
                        }
                    }
                }
                acc[(int64_t)c * K + i * g->kw + j] += s;
            }
    }
}

/* Linear: per input channel, over every position of n samples. */
static void acc_linear(int C, int64_t cols, const float *x, double *acc)
{
    for (int c = 0; c < C; c++) {
        double s = 0;
        const float *p = x + (int64_t)c * cols;
        for (int64_t k = 0; k < cols; k++)
            s += (double)p[k] * p[k];
        acc[c] += s;
    }
}

/* Fills graph input k of the net with samples [b0, b0+n) of NCHW data. */
static void fill_input(nm_net *net, const nm_model *m, int k, const float *data, int64_t b0, int n)
{
    int C, H, W;
    nm_model_input_shape(m, k, &C, &H, &W);
    const int64_t hw = (int64_t)H * W, per = C * hw;
    float *in = nm_net_input_k(net, k);
    for (int s = 0; s < n; s++)
        for (int c = 0; c < C; c++)
            memcpy(in + ((int64_t)c * n + s) * hw, data + (b0 + s) * per + c * hw,
                   sizeof(float) * (size_t)hw);
}

/* data[k]: nall samples of graph input k, one per input of m. */
static nm_calib *compute(nm_model *m, const float *const *data, int64_t nall, int batch)
{
    if (nall < 1)
        return nm_seterr("calib: the calibration batch is empty"), NULL;
    for (int i = 0; i < m->n_layers; i++)
        if (nm_calib_len(&m->layers[i]) && m->layers[i].n_inputs < 1)
            return nm_seterr("calib: layer '%s' has no producer to calibrate from",
                             m->layers[i].name), NULL;
    if (batch <= 0)
        batch = 64;
    if (batch > nall)
        batch = (int)nall;
    int fit = nm_eval_batch(m, batch, NM_EVAL_ACT_BUDGET);
    if (fit >= 1 && fit < batch)
        batch = fit;
    nm_calib *cal = nm_calib_new(m);
    double **acc = calloc((size_t)m->n_layers + 1, sizeof *acc);
    nm_net *net = NULL;
    if (!cal || !acc) {
        nm_seterr("out of memory for calibration norms");
        goto fail;
    }
    for (int i = 0; i < m->n_layers; i++) {
        int64_t len = nm_calib_len(&m->layers[i]);
        if (len && !(acc[i] = calloc((size_t)len, sizeof **acc))) {
            nm_seterr("out of memory for the norms of layer '%s'", m->layers[i].name);
            goto fail;
        }
    }
    while (!(net = nm_net_new(m, batch, NM_NET_EVAL)) && batch > 1)
        batch = (batch + 1) / 2;
    if (!net)
        goto fail;
    for (int64_t b0 = 0; b0 < nall; b0 += batch) {
        int n = (int)(nall - b0 < batch ? nall - b0 : batch);
        for (int k = 0; k < nm_model_n_inputs(m); k++)
            fill_input(net, m, k, data[k], b0, n);
        nm_net_forward(net, n, 0);
        for (int i = 0; i < m->n_layers; i++) {
            if (!acc[i])
                continue;
            const nm_layer *l = &m->layers[i];
            const float *x = nm_net_value(net, l->inputs[0]);
            if (l->kind == NM_LAYER_LINEAR) {
                acc_linear(l->in_c, (int64_t)n * l->in_h * l->in_w, x, acc[i]);
            } else {
                nm_conv_geom g;
                nm_conv_geom_of(l, &g);
                acc_conv(&g, n, x, acc[i]);
            }
        }
    }
    for (int i = 0; i < m->n_layers; i++) {
        int64_t len = nm_calib_len(&m->layers[i]);
        if (!len)
            continue;
        if (!(cal->norm[i] = malloc((size_t)len * sizeof(float)))) {
            nm_seterr("out of memory for calibration norms");
            goto fail;
        }
        for (int64_t k = 0; k < len; k++)
            cal->norm[i][k] = (float)sqrt(acc[i][k]);
    }
    cal->samples = nall;
    nm_net_free(net);
    for (int i = 0; i < m->n_layers; i++)
        free(acc[i]);
    free(acc);
    return cal;
fail:
    nm_net_free(net);
    if (acc)
        for (int i = 0; i < m->n_layers; i++)
            free(acc[i]);
    free(acc);
    nm_calib_free(cal);
    return NULL;
}

/* NM_OK if x is an f32 [N, C, H, W] (or [C, H, W]) batch of graph input
 * k; else NM_ERR with a message naming the shapes (and the input, when
 * the model has several). */
static int check_batch(const nm_model *m, int k, const nm_tensor *x)
{
    char which[NM_NAME_MAX + 40] = "";
    if (nm_model_n_inputs(m) > 1)
        snprintf(which, sizeof which, " for input '%s'", nm_model_input_name(m, k));
    if (!x || x->dtype != NM_F32)
        return nm_seterr("calib: the calibration batch%s must be an f32 tensor", which);
    int C, H, W;
    nm_model_input_shape(m, k, &C, &H, &W);
    int off = x->ndim == 4 ? 1 : 0;
    if ((x->ndim != 4 && x->ndim != 3) || x->shape[off] != C || x->shape[off + 1] != H ||
        x->shape[off + 2] != W) {
        char got[96] = "";
        for (int d = 0; d < x->ndim && d < 8; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "",
                     (long long)x->shape[d]);
        return nm_seterr("calib: the calibration batch%s has shape [%s], model '%s' takes "
                         "[N, %d, %d, %d]", which, got, m->name, C, H, W);
    }
    return NM_OK;
}

nm_calib *nm_calib_compute(nm_model *m, const nm_tensor *x, int batch)
{
    return nm_calib_compute_inputs(m, &x, 1, batch);
}

nm_calib *nm_calib_compute_inputs(nm_model *m, const nm_tensor *const *xs, int n_x, int batch)
{
    const int K = nm_model_n_inputs(m);
    if (n_x != K) {
        char list[256] = "";
        for (int k = 0; k < K && strlen(list) < 180; k++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s'%.40s'", k ? ", " : "",
                     nm_model_input_name(m, k));
        return nm_seterr("calib: model '%s' has %d graph input(s) (%s); the calibration data "
                         "has %d tensor(s), one per input in that order", m->name, K, list, n_x),
               NULL;
    }
    const float *data[NM_MAX_GRAPH_INPUTS];
    int64_t nall = 0;
    for (int k = 0; k < K; k++) {
        if (check_batch(m, k, xs[k]))
            return NULL;
        int64_t nk = xs[k]->ndim == 4 ? xs[k]->shape[0] : 1;
        if (k && nk != nall)
            return nm_seterr("calib: the calibration batch for input '%s' of model '%s' has "
                             "%lld samples but input '%s' has %lld", nm_model_input_name(m, k),
                             m->name, (long long)nk, nm_model_input_name(m, 0),
                             (long long)nall), NULL;
        nall = nk;
        data[k] = nm_f32(xs[k]);
    }
    return compute(m, data, nall, batch);
}

nm_calib *nm_calib_dataset(nm_model *m, const nm_dataset *d, int64_t limit, int batch)
{
    /* a data set's images fill input 0 */
    if (nm_model_n_inputs(m) > 1) {
        nm_model_one_input(m, "calibration from a data set");
        return NULL;
    }
    int64_t n = nm_dataset_size(d);
    if (limit > 0 && limit < n)
        n = limit;
    const nm_tensor *x = d->images;
    if (x->ndim != 4 || x->shape[1] != m->in_c || x->shape[2] != m->in_h || x->shape[3] != m->in_w)
        return nm_calib_compute(m, x, batch);   /* the shape message */
    const float *data[1] = {nm_f32(x)};
    return compute(m, data, n, batch);
}
