/* linear.c - fully connected layer on the channel axis, one sgemm per pass. */
#include "kernels.h"

#include <cblas.h>

void nm_linear_forward(int in, int out, int64_t cols, const float *x, const float *w,
                       const float *b, float *y)
{
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
                        const float *dy, float *dx, int acc, float *dw, float *db)
{
    /* dw[out x in] += dy[out x cols] * x^T[cols x in] */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, out, in, (int)cols, 1.0f, dy,
                (int)cols, x, (int)cols, 1.0f, dw, in);
    /* dx[in x cols] (+)= w^T[in x out] * dy[out x cols] */
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, (int)cols, out, 1.0f, w, in,
                    dy, (int)cols, acc ? 1.0f : 0.0f, dx, (int)cols);
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
