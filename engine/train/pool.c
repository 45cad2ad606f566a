/* pool.c - max and average pooling over planes: any stride, padding (also
 * different before and after), dilation and ceil_mode edges. */
#include "kernels.h"

#include <float.h>

void nm_pool_geom_of(const nm_layer *l, nm_pool_geom *g)
{
    g->h = l->in_h, g->w = l->in_w, g->oh = l->out_h, g->ow = l->out_w;
    g->kh = l->kh, g->kw = l->kw, g->sh = l->stride_h, g->sw = l->stride_w;
    g->ph = l->pad_h, g->pw = l->pad_w;
    g->ph2 = l->pad_asym ? l->pad_h2 : l->pad_h;
    g->pw2 = l->pad_asym ? l->pad_w2 : l->pad_w;
    g->dh = l->dil_h > 0 ? l->dil_h : 1, g->dw = l->dil_w > 0 ? l->dil_w : 1;
    g->exclude_pad = l->exclude_pad;
}

void nm_maxpool_forward(const nm_pool_geom *g, int64_t planes, const float *x, float *y,
                        int32_t *arg)
{
    const int64_t in = (int64_t)g->h * g->w, out = (int64_t)g->oh * g->ow;
    /* output columns [lo, hi) whose window lies inside the row */
    int lo = 0, hi = g->ow;
    while (lo < hi && lo * g->sw - g->pw < 0)
        lo++;
    while (hi > lo && (hi - 1) * g->sw - g->pw + (g->kw - 1) * g->dw >= g->w)
        hi--;
#pragma omp parallel for schedule(static) if (planes * in > NM_PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * in;
        for (int oh = 0; oh < g->oh; oh++) {
            const int ih0 = oh * g->sh - g->ph;
            const int inside = !arg && ih0 >= 0 && ih0 + (g->kh - 1) * g->dh < g->h;
            if (inside) {
                /* inference, window rows inside the plane: the same
                 * maximum as below without bounds checks (the columns at
                 * the edges take the general loop) */
                float *yr = y + pl * out + (int64_t)oh * g->ow;
                for (int ow = lo; ow < hi; ow++) {
                    const float *xw = xp + (int64_t)ih0 * g->w + ow * g->sw - g->pw;
                    float best = xw[0];
                    for (int ki = 0; ki < g->kh; ki++)
                        for (int kj = 0; kj < g->kw; kj++) {
                            const float v = xw[(int64_t)ki * g->dh * g->w + kj * g->dw];
                            best = v > best ? v : best;
                        }
                    yr[ow] = best;
                }
            }
            for (int ow = 0; ow < g->ow; ow++) {
                if (inside && ow >= lo && ow < hi)
                    continue;
                float best = -FLT_MAX;
                int32_t at = -1;
                for (int ki = 0; ki < g->kh; ki++) {
                    int ih = oh * g->sh - g->ph + ki * g->dh;
                    if (ih < 0 || ih >= g->h)
                        continue;
                    for (int kj = 0; kj < g->kw; kj++) {
                        int iw = ow * g->sw - g->pw + kj * g->dw;
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

/* 1 / the divisor of output (oh, ow): the window clipped to the padded
 * plane, or to the input with exclude_pad. */
static float avg_scale(const nm_pool_geom *g, int oh, int ow)
{
    int h0 = oh * g->sh - g->ph, w0 = ow * g->sw - g->pw;
    int lo_h = g->exclude_pad ? 0 : -g->ph, hi_h = g->exclude_pad ? g->h : g->h + g->ph2;
    int lo_w = g->exclude_pad ? 0 : -g->pw, hi_w = g->exclude_pad ? g->w : g->w + g->pw2;
    int nh = 0, nw = 0;
    for (int ki = 0; ki < g->kh; ki++) {
        int ih = h0 + ki * g->dh;
        nh += ih >= lo_h && ih < hi_h;
    }
    for (int kj = 0; kj < g->kw; kj++) {
        int iw = w0 + kj * g->dw;
        nw += iw >= lo_w && iw < hi_w;
    }
    return nh * nw > 0 ? 1.0f / (float)(nh * nw) : 0.0f;
}

void nm_avgpool_forward(const nm_pool_geom *g, int64_t planes, const float *x, float *y)
{
    const int64_t in = (int64_t)g->h * g->w, out = (int64_t)g->oh * g->ow;
#pragma omp parallel for schedule(static) if (planes * in > NM_PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * in;
        for (int oh = 0; oh < g->oh; oh++)
            for (int ow = 0; ow < g->ow; ow++) {
                float s = 0;
                for (int ki = 0; ki < g->kh; ki++) {
                    int ih = oh * g->sh - g->ph + ki * g->dh;
                    if (ih < 0 || ih >= g->h)
                        continue;
                    for (int kj = 0; kj < g->kw; kj++) {
                        int iw = ow * g->sw - g->pw + kj * g->dw;
                        if (iw >= 0 && iw < g->w)
                            s += xp[ih * g->w + iw];
                    }
                }
                y[pl * out + (int64_t)oh * g->ow + ow] = s * avg_scale(g, oh, ow);
            }
    }
}

void nm_avgpool_backward(const nm_pool_geom *g, int64_t planes, const float *dy, float *dx)
{
    const int64_t in = (int64_t)g->h * g->w, out = (int64_t)g->oh * g->ow;
#pragma omp parallel for schedule(static) if (planes * in > NM_PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        float *xp = dx + pl * in;
        for (int oh = 0; oh < g->oh; oh++)
            for (int ow = 0; ow < g->ow; ow++) {
                float d = dy[pl * out + (int64_t)oh * g->ow + ow] * avg_scale(g, oh, ow);
                for (int ki = 0; ki < g->kh; ki++) {
                    int ih = oh * g->sh - g->ph + ki * g->dh;
                    if (ih < 0 || ih >= g->h)
                        continue;
                    for (int kj = 0; kj < g->kw; kj++) {
                        int iw = ow * g->sw - g->pw + kj * g->dw;
                        if (iw >= 0 && iw < g->w)
                            xp[ih * g->w + iw] += d;
                    }
                }
            }
    }
}
