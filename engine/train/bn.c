/* bn.c - batch normalisation per channel over a CNHW batch. Statistics are
 * accumulated in double so large batches do not lose precision. */
#include "kernels.h"

#include <math.h>
#include <string.h>

void nm_bn_forward_train(int c, int64_t cols, const float *x, const float *gamma,
                         const float *beta, float *run_mean, float *run_var, float eps,
                         float momentum, const uint8_t *dead, float *y, float *xhat,
                         float *invstd)
{
#pragma omp parallel for schedule(static) if ((int64_t)c * cols > NM_PAR_MIN)
    for (int ch = 0; ch < c; ch++) {
        const float *xr = x + ch * cols;
        float *yr = y + ch * cols, *hr = xhat + ch * cols;
        if (dead && dead[ch]) {
            memset(yr, 0, sizeof(float) * (size_t)cols);
            memset(hr, 0, sizeof(float) * (size_t)cols);
            invstd[ch] = 0;
            continue;
        }
        double s = 0, ss = 0;
        for (int64_t i = 0; i < cols; i++)
            s += xr[i];
        double mean = s / (double)cols;
        for (int64_t i = 0; i < cols; i++) {
            double d = xr[i] - mean;
            ss += d * d;
        }
        double var = ss / (double)cols;
        float is = (float)(1.0 / sqrt(var + eps));
        invstd[ch] = is;
        float mf = (float)mean, g = gamma[ch], b = beta[ch];
        for (int64_t i = 0; i < cols; i++) {
            float h = (xr[i] - mf) * is;
            hr[i] = h;
            yr[i] = g * h + b;
        }
        double unbiased = cols > 1 ? ss / (double)(cols - 1) : var;
        run_mean[ch] = (float)((1.0 - momentum) * run_mean[ch] + momentum * mean);
        run_var[ch] = (float)((1.0 - momentum) * run_var[ch] + momentum * unbiased);
    }
}

void nm_bn_forward_eval(int c, int64_t cols, const float *x, const float *gamma,
                        const float *beta, const float *run_mean, const float *run_var,
                        float eps, const uint8_t *dead, float *y)
{
#pragma omp parallel for schedule(static) if ((int64_t)c * cols > NM_PAR_MIN)
    for (int ch = 0; ch < c; ch++) {
        const float *xr = x + ch * cols;
        float *yr = y + ch * cols;
        if (dead && dead[ch]) {
            memset(yr, 0, sizeof(float) * (size_t)cols);
            continue;
        }
        float scale = gamma[ch] / sqrtf(run_var[ch] + eps);
        float shift = beta[ch] - run_mean[ch] * scale;
        for (int64_t i = 0; i < cols; i++)
            yr[i] = xr[i] * scale + shift;
    }
}

/* With xhat = (x - mean) * invstd and y = gamma * xhat + beta over the batch:
 * dx = gamma * invstd / m * (m * dy - sum(dy) - xhat * sum(dy * xhat)). */
void nm_bn_backward(int c, int64_t cols, const float *xhat, const float *invstd,
                    const float *gamma, const uint8_t *dead, const float *dy, float *dx,
                    float *dgamma, float *dbeta)
{
#pragma omp parallel for schedule(static) if ((int64_t)c * cols > NM_PAR_MIN)
    for (int ch = 0; ch < c; ch++) {
        if (dead && dead[ch])
            continue;
        const float *hr = xhat + ch * cols, *gr = dy + ch * cols;
        double sdy = 0, sdyh = 0;
        for (int64_t i = 0; i < cols; i++) {
            sdy += gr[i];
            sdyh += (double)gr[i] * hr[i];
        }
        dgamma[ch] += (float)sdyh;
        dbeta[ch] += (float)sdy;
        if (!dx)
            continue;
        float k = gamma[ch] * invstd[ch] / (float)cols;
        float a = (float)sdy, b = (float)sdyh, m = (float)cols;
        float *xr = dx + ch * cols;
        for (int64_t i = 0; i < cols; i++)
            xr[i] += k * (m * gr[i] - a - hr[i] * b);
    }
}
