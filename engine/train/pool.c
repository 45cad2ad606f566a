/* pool.c - max and average pooling over planes (any stride and padding). */
#include "kernels.h"

#include <float.h>

void nm_pool_geom_of(const nm_layer *l, nm_pool_geom *g)
{
    g->h = l->in_h, g->w = l->in_w, g->oh = l->out_h, g->ow = l->out_w;
    g->kh = l->kh, g->kw = l->kw, g->sh = l->stride_h, g->sw = l->stride_w;
    g->ph = l->pad_h, g->pw = l->pad_w;
}

void nm_maxpool_forward(const nm_pool_geom *g, int64_t planes, const float *x, float *y,
                        int32_t *arg)
{
    const int64_t in = (int64_t)g->h * g->w, out = (int64_t)g->oh * g->ow;
#pragma omp parallel for schedule(static) if (planes * in > NM_PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * in;
        for (int oh = 0; oh < g->oh; oh++)
            for (int ow = 0; ow < g->ow; ow++) {
                float best = -FLT_MAX;
                int32_t at = -1;
                for (int ki = 0; ki < g->kh; ki++) {
                    int ih = oh * g->sh - g->ph + ki;
                    if (ih < 0 || ih >= g->h)
                        continue;
                    for (int kj = 0; kj < g->kw; kj++) {
                        int iw = ow * g->sw - g->pw + kj;
                        if (iw < 0 || iw >= g->w)
                            continue;
                        float v = xp[ih * g->w + iw];
                        if (at < 0 || v > best)
                            best = v, at = ih * g->w + iw;
                    }
                }
                int64_t o = pl * out + (int64_t)oh * g->ow + ow;
                y[o] = at < 0 ? 0.0f : best;
                if (arg)
                    arg[o] = at;
            }
    }
}

void nm_maxpool_backward(const nm_pool_geom *g, int64_t planes, const int32_t *arg,
                         const float *dy, float *dx)
{
    const int64_t in = (int64_t)g->h * g->w, out = (int64_t)g->oh * g->ow;
#pragma omp parallel for schedule(static) if (planes * in > NM_PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++)
        for (int64_t o = 0; o < out; o++)
            if (arg[pl * out + o] >= 0)
                dx[pl * in + arg[pl * out + o]] += dy[pl * out + o];
}

void nm_avgpool_forward(const nm_pool_geom *g, int64_t planes, const float *x, float *y)
{
    const int64_t in = (int64_t)g->h * g->w, out = (int64_t)g->oh * g->ow;
    const float inv = 1.0f / (float)(g->kh * g->kw);
#pragma omp parallel for schedule(static) if (planes * in > NM_PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * in;
        for (int oh = 0; oh < g->oh; oh++)
            for (int ow = 0; ow < g->ow; ow++) {
                float s = 0;
                for (int ki = 0; ki < g->kh; ki++) {
                    int ih = oh * g->sh - g->ph + ki;
                    if (ih < 0 || ih >= g->h)
                        continue;
                    for (int kj = 0; kj < g->kw; kj++) {
                        int iw = ow * g->sw - g->pw + kj;
                        if (iw >= 0 && iw < g->w)
                            s += xp[ih * g->w + iw];
                    }
                }
                y[pl * out + (int64_t)oh * g->ow + ow] = s * inv;
            }
    }
}

void nm_avgpool_backward(const nm_pool_geom *g, int64_t planes, const float *dy, float *dx)
{
    const int64_t in = (int64_t)g->h * g->w, out = (int64_t)g->oh * g->ow;
    const float inv = 1.0f / (float)(g->kh * g->kw);
#pragma omp parallel for schedule(static) if (planes * in > NM_PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        float *xp = dx + pl * in;
        for (int oh = 0; oh < g->oh; oh++)
            for (int ow = 0; ow < g->ow; ow++) {
                float d = dy[pl * out + (int64_t)oh * g->ow + ow] * inv;
                for (int ki = 0; ki < g->kh; ki++) {
                    int ih = oh * g->sh - g->ph + ki;
                    if (ih < 0 || ih >= g->h)
                        continue;
                    for (int kj = 0; kj < g->kw; kj++) {
                        int iw = ow * g->sw - g->pw + kj;
                        if (iw >= 0 && iw < g->w)
                            xp[ih * g->w + iw] += d;
                    }
                }
            }
    }
}
