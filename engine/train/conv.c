/* conv.c - 2-D convolution forward/backward over a CNHW batch: im2col into a
 * workspace, then one cblas_sgemm per group (OpenBLAS threads the product;
 * the unfolding loops use OpenMP). Large batches are processed in chunks of
 * samples so the workspace stays under NM_CONV_WORK_CAP floats. */
#include "kernels.h"

#include <cblas.h>
#include <omp.h>
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

/* The adjoint of im2col: col[D x cn*P] back onto samples n0.. of dx,
 * written (acc = 0) or added (acc = 1). One input plane per task, built
 * from its kh*kw taps while it sits in L1: dx needs no zeroing beforehand
 * and no two tasks touch the same values. */
static void col2im_plane(const nm_conv_geom *g, int n, int n0, int cn, const float *col,
                         float *dx, int acc, int c, int ni)
{
    const int64_t hw = (int64_t)g->h * g->w, p = (int64_t)g->oh * g->ow, rowlen = cn * p;
    {
        float *dst = dx + (int64_t)c * n * hw + (int64_t)(n0 + ni) * hw;
        if (!acc)
            memset(dst, 0, sizeof(float) * (size_t)hw);
        for (int ki = 0; ki < g->kh; ki++)
            for (int kj = 0; kj < g->kw; kj++) {
                const int64_t r = ((int64_t)c * g->kh + ki) * g->kw + kj;
                const float *src = col + r * rowlen + (int64_t)ni * p;
                const int off = kj * g->dw - g->pw;
                int lo, hi;
                ow_range(g, kj * g->dw, &lo, &hi);
                for (int oh = 0; oh < g->oh; oh++) {
                    const int ih = oh * g->sh - g->ph + ki * g->dh;
                    if (ih < 0 || ih >= g->h)
                        continue;
                    const float *in = src + (int64_t)oh * g->ow;
                    float *line = dst + (int64_t)ih * g->w;
                    if (g->sw == 1) {
#pragma omp simd
                        for (int ow = lo; ow < hi; ow++)
                            line[ow + off] += in[ow];
                    } else {
                        for (int ow = lo; ow < hi; ow++)
                            line[ow * g->sw + off] += in[ow];
                    }
                }
            }
    }
}

static void col2im(const nm_conv_geom *g, int n, int n0, int cn, const float *col, float *dx,
                   int acc)
{
    const int64_t p = (int64_t)g->oh * g->ow, planes = (int64_t)g->cin * cn;
#pragma omp parallel for schedule(static) if (planes * g->kh * g->kw * p > NM_PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++)
        col2im_plane(g, n, n0, cn, col, dx, acc, (int)(pl / cn), (int)(pl % cn));
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

/* dy's row sums into db (float within blocks, double across). */
static void bias_grad(int cout, int64_t np, const float *dy, float *db)
{
#pragma omp parallel for schedule(static) if ((int64_t)cout * np > NM_PAR_MIN)
    for (int o = 0; o < cout; o++) {
        const float *row = dy + (int64_t)o * np;
        double s = 0;
        for (int64_t i0 = 0; i0 < np; i0 += 512) {
            const int64_t len = np - i0 < 512 ? np - i0 : 512;
            float b = 0;
#pragma omp simd reduction(+ : b)
            for (int64_t i = 0; i < len; i++)
                b += row[i0 + i];
            s += b;
        }
        db[o] += (float)s;
    }
}

/* The batch-parallel backward (ungrouped, non-pointwise convs): each
 * thread takes tasks of bwd_spc samples and runs im2col, the weight- and
 * input-gradient products (single-threaded OpenBLAS inside the parallel
 * region) and col2im on them in its own slice of the workspace, which
 * stays in its core's cache; weight gradients go to a per-thread
 * partial, summed at the end. One parallel region per layer instead of
 * four per chunk, and no pass over a batch-sized unfolded buffer. */
#define NM_CONV_BWD_TASK ((size_t)1 << 17)   /* floats of unfolded input per task */

static int bwd_batch_parallel(const nm_conv_geom *g)
{
    return g->groups == 1;
}

static int bwd_spc(const nm_conv_geom *g, int n)
{
    size_t per = rows_of(g) * (size_t)g->oh * g->ow;
    size_t c = per ? NM_CONV_BWD_TASK / per : (size_t)n;
    if (c < 1)
        c = 1;
    return c < (size_t)n ? (int)c : n;
}

/* The input gradient of a stride-1, undilated, ungrouped conv is itself a
 * convolution: dx = conv(dy, w'), w'[i][o][a][b] = w[o][i][kh-1-a][kw-1-b],
 * padding kh-1-ph and kw-1-pw, and the output plane back at h x w. Where the
 * AVX-512 forward kernel runs that conv, the backward uses it instead of
 * W^T dy and col2im (no unfolded gradient, no scatter). dxg gets that
 * geometry; returns 0 where the identity does not apply. */
static int dx_as_conv(const nm_conv_geom *g, int n, nm_conv_geom *dxg)
{
    if (g->groups != 1 || g->sh != 1 || g->sw != 1 || g->dh != 1 || g->dw != 1 ||
        g->ph > g->kh - 1 || g->pw > g->kw - 1 || g->oh != g->h + 2 * g->ph - g->kh + 1 ||
        g->ow != g->w + 2 * g->pw - g->kw + 1)
        return 0;
    *dxg = (nm_conv_geom){.cin = g->cout, .h = g->oh, .w = g->ow, .cout = g->cin, .oh = g->h,
                          .ow = g->w, .kh = g->kh, .kw = g->kw, .sh = 1, .sw = 1,
                          .ph = g->kh - 1 - g->ph, .pw = g->kw - 1 - g->pw, .groups = 1,
                          .dh = 1, .dw = 1};
    return nm_conv_fast_ok(dxg, n);
}

/* Floats dx_by_conv needs: the flipped weights and the kernel's workspace. */
static size_t dx_conv_floats(const nm_conv_geom *dxg)
{
    return (size_t)dxg->cin * dxg->cout * dxg->kh * dxg->kw + nm_conv_fast_work_floats(dxg);
}

/* dx[cin, n*h*w] = conv(dy, w') (see dx_as_conv), through work. */
static void dx_by_conv(const nm_conv_geom *g, const nm_conv_geom *dxg, int n, const float *w,
                       const float *dy, float *dx, float *work)
{
    const int kk = g->kh * g->kw;
    float *wt = work;
#pragma omp parallel for schedule(static) if ((int64_t)g->cout * g->cin * kk > NM_PAR_MIN)
    for (int i = 0; i < g->cin; i++)
        for (int o = 0; o < g->cout; o++) {
            const float *src = w + ((int64_t)o * g->cin + i) * kk;
            float *dst = wt + ((int64_t)i * g->cout + o) * kk;
            for (int t = 0; t < kk; t++)
                dst[t] = src[kk - 1 - t];
        }
    nm_conv_fast_forward(dxg, n, dy, wt, NULL, dx, work + (size_t)g->cin * g->cout * kk);
}

/* Floats of one thread's slice: an unfolded task and a weight-gradient partial. */
static size_t bwd_slice(const nm_conv_geom *g, int n)
{
    return rows_of(g) * (size_t)bwd_spc(g, n) * g->oh * g->ow +
           (size_t)g->cout * (size_t)rows_of(g);
}

size_t nm_conv_backward_work_floats(const nm_conv_geom *g, int n, int threads)
{
    size_t chunked = nm_conv_work_floats(g, n);
    nm_conv_geom dxg;
    if (dx_as_conv(g, n, &dxg) && dx_conv_floats(&dxg) > chunked)
        chunked = dx_conv_floats(&dxg);
    if (!bwd_batch_parallel(g))
        return chunked;
    size_t par = bwd_slice(g, n) * (size_t)(threads > 0 ? threads : 1);
    return par > chunked ? par : chunked;
}

/* im2col of samples n0..n0+cn-1 on the calling thread (inside the
 * batch-parallel backward): each row's valid column range is found once,
 * and the short rows are copied by an inline loop instead of a memcpy
 * call per output row. Same result as im2col. */
static void unfold_serial(const nm_conv_geom *g, int n, int n0, int cn, const float *x,
                          float *col)
{
    const int64_t hw = (int64_t)g->h * g->w, p = (int64_t)g->oh * g->ow;
    const int64_t rowlen = cn * p, d = (int64_t)rows_of(g);
    for (int64_t r = 0; r < d; r++) {
        const int c = (int)(r / (g->kh * g->kw)), ki = (int)(r / g->kw % g->kh);
        const int kj = (int)(r % g->kw), off = kj * g->dw - g->pw;
        int lo, hi;
        ow_range(g, kj * g->dw, &lo, &hi);
        if (hi < lo)
            hi = lo;
        for (int ni = 0; ni < cn; ni++) {
            const float *src = x + (int64_t)c * n * hw + (int64_t)(n0 + ni) * hw;
            float *dst = col + r * rowlen + (int64_t)ni * p;
            for (int oh = 0; oh < g->oh; oh++) {
                const int ih = oh * g->sh - g->ph + ki * g->dh;
                float *out = dst + (int64_t)oh * g->ow;
                if (ih < 0 || ih >= g->h) {
                    for (int ow = 0; ow < g->ow; ow++)
                        out[ow] = 0.0f;
                    continue;
                }
                const float *line = src + (int64_t)ih * g->w;
                for (int ow = 0; ow < lo; ow++)
                    out[ow] = 0.0f;
                if (g->sw == 1) {
#pragma omp simd
                    for (int ow = lo; ow < hi; ow++)
                        out[ow] = line[ow + off];
                } else {
                    for (int ow = lo; ow < hi; ow++)
                        out[ow] = line[ow * g->sw + off];
                }
                for (int ow = hi; ow < g->ow; ow++)
                    out[ow] = 0.0f;
            }
        }
    }
}

static void conv_backward_par(const nm_conv_geom *g, int n, const float *x, const float *w,
                              const float *dy, float *dx, int acc, float *dw, float *work,
                              int threads)
{
    const int d = (int)rows_of(g), spc = bwd_spc(g, n), tasks = (n + spc - 1) / spc;
    const int64_t p = (int64_t)g->oh * g->ow, np = n * p;
    const size_t slice = bwd_slice(g, n), nw = (size_t)g->cout * d;
    if (threads > tasks)
        threads = tasks;
#pragma omp parallel num_threads(threads)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        float *col = work + (size_t)t * slice, *part = col + (size_t)d * spc * p;
        memset(part, 0, sizeof(float) * nw);
        /* tasks dealt round-robin, not taken as threads come free: the
         * partials' sum then depends only on the thread count, so a seeded
         * run repeats bit for bit */
        for (int k = t; k < tasks; k += nt) {
            const int n0 = k * spc, cn = n - n0 < spc ? n - n0 : spc, cols = (int)(cn * p);
            unfold_serial(g, n, n0, cn, x, col);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g->cout, d, cols, 1.0f,
                        dy + n0 * p, (int)np, col, cols, 1.0f, part, d);
            if (!dx)
                continue;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, cols, g->cout, 1.0f, w, d,
                        dy + n0 * p, (int)np, 0.0f, col, cols);
            for (int c = 0; c < g->cin; c++)
                for (int ni = 0; ni < cn; ni++)
                    col2im_plane(g, n, n0, cn, col, dx, acc, c, ni);
        }
#pragma omp barrier
#pragma omp for schedule(static)
        for (size_t e = 0; e < nw; e++) {
            float s = 0;
            for (int u = 0; u < nt; u++)
                s += work[(size_t)u * slice + (size_t)d * spc * p + e];
            dw[e] += s;
        }
    }
}

void nm_conv_backward(const nm_conv_geom *g, int n, const float *x, const float *w,
                      const float *dy, float *dx, int acc, float *dw, float *db, float *work,
                      size_t work_floats)
{
    const int gs = g->groups, coutg = g->cout / gs;
    const int dg = (g->cin / gs) * g->kh * g->kw;
    const int64_t p = (int64_t)g->oh * g->ow, np = n * p;
    if (is_pointwise(g)) {   /* the unfolded input is x itself: no im2col, no col2im */
        for (int k = 0; k < gs; k++) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, coutg, dg, (int)np, 1.0f,
                        dy + (int64_t)k * coutg * np, (int)np, x + (int64_t)k * dg * np, (int)np,
                        1.0f, dw + (int64_t)k * coutg * dg, dg);
            if (dx)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, dg, (int)np, coutg, 1.0f,
                            w + (int64_t)k * coutg * dg, dg, dy + (int64_t)k * coutg * np,
                            (int)np, acc ? 1.0f : 0.0f, dx + (int64_t)k * dg * np, (int)np);
        }
        goto bias;
    }
    if (bwd_batch_parallel(g)) {
        const int fit = (int)(work_floats / bwd_slice(g, n));
        const int threads = omp_get_max_threads() < fit ? omp_get_max_threads() : fit;
        nm_conv_geom dxg;
        /* dx as a conv overwrites dx, so not where dx accumulates */
        const int by_conv = dx && !acc && dx_as_conv(g, n, &dxg) &&
                            work_floats >= dx_conv_floats(&dxg);
        if (threads >= 1) {
            conv_backward_par(g, n, x, w, dy, by_conv ? NULL : dx, acc, dw, work, threads);
            if (by_conv)
                dx_by_conv(g, &dxg, n, w, dy, dx, work);
            goto bias;
        }
    }
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
        col2im(g, n, n0, cn, work, dx, acc);
    }
bias:
    if (db)
        bias_grad(g->cout, np, dy, db);
}
