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

/* Fills the net's input with samples [b0, b0+n) of NCHW data. */
static void fill_input(nm_net *net, const nm_model *m, const float *data, int64_t b0, int n)
{
    const int64_t hw = (int64_t)m->in_h * m->in_w, per = m->in_c * hw;
    float *in = nm_net_input(net);
    for (int s = 0; s < n; s++)
        for (int c = 0; c < m->in_c; c++)
            memcpy(in + ((int64_t)c * n + s) * hw, data + (b0 + s) * per + c * hw,
                   sizeof(float) * (size_t)hw);
}

static nm_calib *compute(nm_model *m, const float *data, int64_t nall, int batch)
{
    if (nall < 1)
        return nm_seterr("calib: the calibration batch is empty"), NULL;
    if (nm_model_one_input(m, "calibration") != NM_OK)   /* the batch fills input 0 */
        return NULL;
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
        fill_input(net, m, data, b0, n);
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

nm_calib *nm_calib_compute(nm_model *m, const nm_tensor *x, int batch)
{
    if (!x || x->dtype != NM_F32)
        return nm_seterr("calib: the calibration batch must be an f32 tensor"), NULL;
    int off = x->ndim == 4 ? 1 : 0;
    if ((x->ndim != 4 && x->ndim != 3) || x->shape[off] != m->in_c ||
        x->shape[off + 1] != m->in_h || x->shape[off + 2] != m->in_w) {
        char got[96] = "";
        for (int d = 0; d < x->ndim && d < 8; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "",
                     (long long)x->shape[d]);
        return nm_seterr("calib: the calibration batch has shape [%s], model '%s' takes "
                         "[N, %d, %d, %d]", got, m->name, m->in_c, m->in_h, m->in_w), NULL;
    }
    return compute(m, nm_f32(x), x->ndim == 4 ? x->shape[0] : 1, batch);
}

nm_calib *nm_calib_dataset(nm_model *m, const nm_dataset *d, int64_t limit, int batch)
{
    int64_t n = nm_dataset_size(d);
    if (limit > 0 && limit < n)
        n = limit;
    const nm_tensor *x = d->images;
    if (x->ndim != 4 || x->shape[1] != m->in_c || x->shape[2] != m->in_h || x->shape[3] != m->in_w)
        return nm_calib_compute(m, x, batch);   /* the shape message */
    return compute(m, nm_f32(x), n, batch);
}
