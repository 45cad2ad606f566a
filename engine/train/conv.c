/* conv.c - 2-D convolution forward/backward over a CNHW batch: im2col into a
 * workspace, then one cblas_sgemm per group (OpenBLAS threads the product;
 * the unfolding loops use OpenMP). Large batches are processed in chunks of
 * samples so the workspace stays under NM_CONV_WORK_CAP floats. */
#include "kernels.h"

#include <cblas.h>
#include <string.h>

#define NM_CONV_WORK_CAP ((size_t)1 << 22)   /* 16 MiB of floats */

void nm_conv_geom_of(const nm_layer *l, nm_conv_geom *g)
{
    g->cin = l->in_c, g->h = l->in_h, g->w = l->in_w;
    g->cout = l->out_c, g->oh = l->out_h, g->ow = l->out_w;
    g->kh = l->kh, g->kw = l->kw;
    g->sh = l->stride_h, g->sw = l->stride_w;
    g->ph = l->pad_h, g->pw = l->pad_w;
    g->dh = l->dil_h > 0 ? l->dil_h : 1, g->dw = l->dil_w > 0 ? l->dil_w : 1;
    g->groups = l->groups > 0 ? l->groups : 1;
}

static size_t rows_of(const nm_conv_geom *g)
{
    return (size_t)g->cin * g->kh * g->kw;
}

/* Samples per chunk: as many as fit the workspace cap, at least one. */
static int chunk_of(const nm_conv_geom *g, int n)
{
    size_t per = rows_of(g) * (size_t)g->oh * g->ow;
    size_t c = per ? NM_CONV_WORK_CAP / per : (size_t)n;
    if (c < 1)
        c = 1;
    return c < (size_t)n ? (int)c : n;
}

size_t nm_conv_work_floats(const nm_conv_geom *g, int n)
{
    size_t im = rows_of(g) * (size_t)chunk_of(g, n) * g->oh * g->ow;
    size_t fast = nm_conv_fast_ok(g, n) ? nm_conv_fast_work_floats(g) : 0;
    return im > fast ? im : fast;
}

/* Output columns [lo, hi) whose input column ow*sw - pw + kj (kj: the tap's
 * offset, dilation included) lies inside
 * the image; the others read padding. */
static void ow_range(const nm_conv_geom *g, int kj, int *lo, int *hi)
{
    int a = 0, b = g->ow;
    while (a < b && a * g->sw - g->pw + kj < 0)
        a++;
    while (b > a && (b - 1) * g->sw - g->pw + kj >= g->w)
        b--;
    *lo = a, *hi = b;
}

/* Unfolds samples n0..n0+cn-1 of x (n samples in all) into col[D x cn*P]. */
static void im2col(const nm_conv_geom *g, int n, int n0, int cn, const float *x, float *col)
{
    const int64_t hw = (int64_t)g->h * g->w, p = (int64_t)g->oh * g->ow;
    const int64_t rowlen = cn * p, d = (int64_t)rows_of(g);
#pragma omp parallel for schedule(static) if (d * rowlen > NM_PAR_MIN)
    for (int64_t r = 0; r < d; r++) {
        int c = (int)(r / (g->kh * g->kw)), ki = (int)(r / g->kw % g->kh), kj = (int)(r % g->kw);
        float *dst = col + r * rowlen;
        for (int ni = 0; ni < cn; ni++) {
            const float *src = x + (int64_t)c * n * hw + (int64_t)(n0 + ni) * hw;
            for (int oh = 0; oh < g->oh; oh++) {
                int ih = oh * g->sh - g->ph + ki * g->dh;
                float *out = dst + (int64_t)ni * p + (int64_t)oh * g->ow;
                if (ih < 0 || ih >= g->h) {
                    memset(out, 0, sizeof(float) * (size_t)g->ow);
                    continue;
                }
                const float *line = src + (int64_t)ih * g->w;
                int lo, hi;
                ow_range(g, kj * g->dw, &lo, &hi);
                for (int ow = 0; ow < lo; ow++)
                    out[ow] = 0.0f;
                if (g->sw == 1 && hi > lo)
                    memcpy(out + lo, line + lo - g->pw + kj * g->dw, sizeof(float) * (size_t)(hi - lo));
                else
                    for (int ow = lo; ow < hi; ow++)
                        out[ow] = line[ow * g->sw - g->pw + kj * g->dw];
                for (int ow = hi > lo ? hi : lo; ow < g->ow; ow++)
                    out[ow] = 0.0f;
            }
        }
    }
}

/* Adds col[D x cn*P] back onto samples n0.. of dx: the adjoint of im2col. */
static void col2im_add(const nm_conv_geom *g, int n, int n0, int cn, const float *col, float *dx)
{
    const int64_t hw = (int64_t)g->h * g->w, p = (int64_t)g->oh * g->ow;
    const int64_t rowlen = cn * p;
#pragma omp parallel for schedule(static) if ((int64_t)g->cin * g->kh * g->kw * rowlen > NM_PAR_MIN)
    for (int c = 0; c < g->cin; c++) {
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++) {
                int64_t r = ((int64_t)c * g->kh + ki) * g->kw + kj;
                const float *src = col + r * rowlen;
                int lo, hi;
                ow_range(g, kj * g->dw, &lo, &hi);
                for (int ni = 0; ni < cn; ni++) {
                    float *dst = dx + (int64_t)c * n * hw + (int64_t)(n0 + ni) * hw;
                    for (int oh = 0; oh < g->oh; oh++) {
                        int ih = oh * g->sh - g->ph + ki * g->dh;
                        if (ih < 0 || ih >= g->h)
                            continue;
                        const float *in = src + (int64_t)ni * p + (int64_t)oh * g->ow;
                        float *line = dst + (int64_t)ih * g->w;
                        for (int ow = lo; ow < hi; ow++)
                            line[ow * g->sw - g->pw + kj * g->dw] += in[ow];
                    }
                }
            }
    }
}

/* 1x1, stride 1, no padding: the unfolded input is the input itself. */
static int is_pointwise(const nm_conv_geom *g)
{
    return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0 &&
           g->oh == g->h && g->ow == g->w;
}

/* One input channel per group (depthwise, any channel multiplier). */
static int is_depthwise(const nm_conv_geom *g)
{
    return g->groups == g->cin && g->groups > 1 && g->cout % g->cin == 0;
}

/* Depthwise convolution computed directly, one output plane per task: for
 * each output row and tap, a scaled row of the input is added (the columns
 * whose tap falls in the padding are skipped). */
static void conv_depthwise(const nm_conv_geom *g, int n, const float *x, const float *w,
                           const float *b, float *y)
{
    const int mult = g->cout / g->cin;
    const int64_t hw = (int64_t)g->h * g->w, p = (int64_t)g->oh * g->ow;
    const int64_t planes = (int64_t)g->cout * n;
#pragma omp parallel for schedule(static) if (planes * p * g->kh * g->kw > NM_PAR_MIN)
    for (int64_t r = 0; r < planes; r++) {
        const int o = (int)(r / n), s = (int)(r % n);
        const float *src = x + ((int64_t)(o / mult) * n + s) * hw;
        const float *wk = w + (int64_t)o * g->kh * g->kw;
        float *dst = y + r * p;
        const float bias = b ? b[o] : 0.0f;
        for (int oh = 0; oh < g->oh; oh++) {
            float *out = dst + (int64_t)oh * g->ow;
            for (int ow = 0; ow < g->ow; ow++)
                out[ow] = bias;
            for (int ki = 0; ki < g->kh; ki++) {
                const int ih = oh * g->sh - g->ph + ki * g->dh;
                if (ih < 0 || ih >= g->h)
                    continue;
                const float *line = src + (int64_t)ih * g->w;
                for (int kj = 0; kj < g->kw; kj++) {
                    const float wv = wk[ki * g->kw + kj];
                    const int off = kj * g->dw - g->pw;
                    int lo, hi;
                    ow_range(g, kj * g->dw, &lo, &hi);
                    if (g->sw == 1)
                        for (int ow = lo; ow < hi; ow++)
                            out[ow] += wv * line[ow + off];
                    else
                        for (int ow = lo; ow < hi; ow++)
                            out[ow] += wv * line[ow * g->sw + off];
                }
            }
        }
    }
}

void nm_conv_forward(const nm_conv_geom *g, int n, const float *x, const float *w,
                     const float *b, float *y, float *work)
{
    const int gs = g->groups, coutg = g->cout / gs;
    const int dg = (g->cin / gs) * g->kh * g->kw;
    const int64_t p = (int64_t)g->oh * g->ow, np = n * p;
    if (is_depthwise(g)) {
        conv_depthwise(g, n, x, w, b, y);
        return;
    }
    if (nm_conv_fast_ok(g, n)) {
        nm_conv_epilogue e = {.shift = b};
        nm_conv_fast_forward(g, n, x, w, b ? &e : NULL, y, work);
        return;
    }
    if (is_pointwise(g)) {   /* group k's input rows are x's rows k*dg.. as they are */
        for (int k = 0; k < gs; k++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, coutg, (int)np, dg, 1.0f,
                        w + (int64_t)k * coutg * dg, dg, x + (int64_t)k * dg * np, (int)np, 0.0f,
                        y + (int64_t)k * coutg * np, (int)np);
        goto bias;
    }
    const int chunk = chunk_of(g, n);
    for (int n0 = 0; n0 < n; n0 += chunk) {
        int cn = n - n0 < chunk ? n - n0 : chunk;
        im2col(g, n, n0, cn, x, work);
        for (int k = 0; k < gs; k++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, coutg, (int)(cn * p), dg,
                        1.0f, w + (int64_t)k * coutg * dg, dg,
                        work + (int64_t)k * dg * cn * p, (int)(cn * p), 0.0f,
                        y + (int64_t)k * coutg * np + n0 * p, (int)np);
    }
bias:
    if (b) {
#pragma omp parallel for schedule(static) if ((int64_t)g->cout * np > NM_PAR_MIN)
        for (int o = 0; o < g->cout; o++) {
            float *row = y + (int64_t)o * np;
            for (int64_t i = 0; i < np; i++)
                row[i] += b[o];
        }
    }
}

void nm_conv_backward(const nm_conv_geom *g, int n, const float *x, const float *w,
                      const float *dy, float *dx, float *dw, float *db, float *work)
{
    const int gs = g->groups, coutg = g->cout / gs;
    const int dg = (g->cin / gs) * g->kh * g->kw;
    const int64_t p = (int64_t)g->oh * g->ow, np = n * p;
    const int chunk = chunk_of(g, n);
    for (int n0 = 0; n0 < n; n0 += chunk) {
        int cn = n - n0 < chunk ? n - n0 : chunk;
        const int cols = (int)(cn * p);
        im2col(g, n, n0, cn, x, work);
        for (int k = 0; k < gs; k++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, coutg, dg, cols, 1.0f,
                        dy + (int64_t)k * coutg * np + n0 * p, (int)np,
                        work + (int64_t)k * dg * cols, cols, 1.0f,
                        dw + (int64_t)k * coutg * dg, dg);
        if (!dx)
            continue;
        for (int k = 0; k < gs; k++)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, dg, cols, coutg, 1.0f,
                        w + (int64_t)k * coutg * dg, dg,
                        dy + (int64_t)k * coutg * np + n0 * p, (int)np, 0.0f,
                        work + (int64_t)k * dg * cols, cols);
        col2im_add(g, n, n0, cn, work, dx);
    }
    if (db) {
#pragma omp parallel for schedule(static) if ((int64_t)g->cout * np > NM_PAR_MIN)
        for (int o = 0; o < g->cout; o++) {
            const float *row = dy + (int64_t)o * np;
            double s = 0;
            for (int64_t i = 0; i < np; i++)
                s += row[i];
            db[o] += (float)s;
        }
    }
}
