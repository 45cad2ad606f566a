/* linear.c - fully connected layer on the channel axis, one sgemm per pass. */
#include "kernels.h"

#include <stdint.h>

#include <cblas.h>

/* The linear layer as a 1x1 convolution over one row of `cols` positions
 * (x[in, cols] is CNHW for one sample of 1 x cols), for conv_fast.c. */
static nm_conv_geom as_conv(int in, int out, int64_t cols)
{
    return (nm_conv_geom){.cin = in, .h = 1, .w = (int)cols, .cout = out, .oh = 1,
                          .ow = (int)cols, .kh = 1, .kw = 1, .sh = 1, .sw = 1, .groups = 1,
                          .dh = 1, .dw = 1};
}

size_t nm_linear_work_floats(int in, int out, int64_t cols)
{
    const nm_conv_geom g = as_conv(in, out, cols);
    return cols <= INT32_MAX && nm_conv_fast_ok(&g, 1) ? nm_conv_fast_work_floats(&g) : 0;
}

void nm_linear_forward(int in, int out, int64_t cols, const float *x, const float *w,
                       const float *b, float *y, float *work)
{
    const nm_conv_geom g = as_conv(in, out, cols);
    if (work && cols <= INT32_MAX && nm_conv_fast_ok(&g, 1)) {
        const nm_conv_epilogue e = {.shift = b};
        nm_conv_fast_forward(&g, 1, x, w, b ? &e : NULL, y, work);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, out, (int)cols, in, 1.0f, w, in, x,
                (int)cols, 0.0f, y, (int)cols);
    if (!b)
        return;
#pragma omp parallel for schedule(static) if ((int64_t)out * cols > NM_PAR_MIN)
    for (int o = 0; o < out; o++)
        for (int64_t i = 0; i < cols; i++)
            y[o * cols + i] += b[o];
}

void nm_linear_backward(int in, int out, int64_t cols, const float *x, const float *w,
                        const float *dy, float *dx, float *dw, float *db)
{
    /* dw[out x in] += dy[out x cols] * x^T[cols x in] */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, out, in, (int)cols, 1.0f, dy,
                (int)cols, x, (int)cols, 1.0f, dw, in);
    /* dx[in x cols] += w^T[in x out] * dy[out x cols] */
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, (int)cols, out, 1.0f, w, in,
                    dy, (int)cols, 1.0f, dx, (int)cols);
    if (db) {
#pragma omp parallel for schedule(static) if ((int64_t)out * cols > NM_PAR_MIN)
        for (int o = 0; o < out; o++) {
            double s = 0;
            for (int64_t i = 0; i < cols; i++)
                s += dy[o * cols + i];
            db[o] += (float)s;
        }
    }
}
