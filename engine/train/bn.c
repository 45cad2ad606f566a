/* bn.c - batch normalisation per channel over a CNHW batch.
 *
 * Training keeps no normalised copy of the input: the forward pass saves
 * the batch mean and 1/std per channel, and the backward pass recomputes
 * xhat = (x - mean) * invstd from the input, which the net keeps anyway.
 * Each channel's row is read twice per pass (statistics, then the
 * elementwise part), the second time from cache. Sums are accumulated in
 * float within blocks of NM_BN_BLOCK values and in double across blocks, so
 * large batches do not lose precision and the inner loops vectorise. */
#include "kernels.h"

#include <math.h>
#include <string.h>

#define NM_BN_BLOCK 512

/* Sum and sum of squares of x[i] - k over a row (k: a shift near the
 * values, so the variance does not cancel). */
__attribute__((target_clones("avx2", "default")))
static void row_moments(const float *x, int64_t n, float k, double *s1, double *s2)
{
    double a = 0, b = 0;
    for (int64_t i0 = 0; i0 < n; i0 += NM_BN_BLOCK) {
        const int64_t len = n - i0 < NM_BN_BLOCK ? n - i0 : NM_BN_BLOCK;
        const float *xr = x + i0;
        float s = 0, ss = 0;
#pragma omp simd reduction(+ : s, ss)
        for (int64_t i = 0; i < len; i++) {
            const float d = xr[i] - k;
            s += d;
            ss += d * d;
        }
        a += s, b += ss;
    }
    *s1 = a, *s2 = b;
}

/* y = (x - mean) * scale + beta, and with r, r = min(max(y, 0), top). */
__attribute__((target_clones("avx2", "default")))
static void row_normalise(const float *x, int64_t n, float mean, float scale, float beta, float *y,
                          float top, float *r)
{
    if (r) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            const float v = (x[i] - mean) * scale + beta, p = v > 0.0f ? v : 0.0f;
            y[i] = v;
            r[i] = p < top ? p : top;
        }
        return;
    }
#pragma omp simd
    for (int64_t i = 0; i < n; i++)
        y[i] = (x[i] - mean) * scale + beta;
}

void nm_bn_forward_train(int c, int64_t cols, const float *x, const float *gamma,
                         const float *beta, float *run_mean, float *run_var, float eps,
                         float momentum, const uint8_t *dead, float *y, float *mean,
                         float *invstd)
{
    nm_bn_relu_forward_train(c, cols, x, gamma, beta, run_mean, run_var, eps, momentum, dead, y,
                             mean, invstd, 0.0f, NULL);
}

void nm_bn_relu_forward_train(int c, int64_t cols, const float *x, const float *gamma,
                              const float *beta, float *run_mean, float *run_var, float eps,
                              float momentum, const uint8_t *dead, float *y, float *mean,
                              float *invstd, float clip, float *r)
{
    const float top = clip > 0 ? clip : INFINITY;
#pragma omp parallel for schedule(dynamic, 1) if ((int64_t)c * cols > NM_PAR_MIN)
    for (int ch = 0; ch < c; ch++) {
        const float *xr = x + ch * cols;
        float *yr = y + ch * cols;
        if (dead && dead[ch]) {
            memset(yr, 0, sizeof(float) * (size_t)cols);
            if (r)
                memset(r + ch * cols, 0, sizeof(float) * (size_t)cols);
            mean[ch] = 0, invstd[ch] = 0;
            continue;
        }
        const float k = cols > 0 ? xr[0] : 0.0f;
        double s, ss;
        row_moments(xr, cols, k, &s, &ss);
        const double dm = s / (double)cols;
        double var = ss / (double)cols - dm * dm;
        if (var < 0)
            var = 0;
        const double mu = k + dm;
        const float is = (float)(1.0 / sqrt(var + eps));
        mean[ch] = (float)mu, invstd[ch] = is;
        row_normalise(xr, cols, (float)mu, gamma[ch] * is, beta[ch], yr, top,
                      r ? r + ch * cols : NULL);
        const double unbiased = cols > 1 ? var * (double)cols / (double)(cols - 1) : var;
        run_mean[ch] = (float)((1.0 - momentum) * run_mean[ch] + momentum * mu);
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

/* Sums of g and g * xhat over a row, g the gradient at the output: dy,
 * or with an activation r after BN (a ReLU or NMReLU clipped at top) dy
 * where 0 < r < top, else 0. */
__attribute__((target_clones("avx2", "default")))
static void row_grad_sums(const float *x, const float *r, float top, const float *dy, int64_t n,
                          float mean, float is, double *sg, double *sgh)
{
    double a = 0, b = 0;
    for (int64_t i0 = 0; i0 < n; i0 += NM_BN_BLOCK) {
        const int64_t len = n - i0 < NM_BN_BLOCK ? n - i0 : NM_BN_BLOCK;
        float s = 0, sh = 0;
        if (r) {
#pragma omp simd reduction(+ : s, sh)
            for (int64_t i = i0; i < i0 + len; i++) {
                const float rv = r[i], d = dy[i], h = (x[i] - mean) * is;
                const float g = ((rv > 0.0f) & (rv < top)) ? d : 0.0f;
                s += g;
                sh += g * h;
            }
        } else {
#pragma omp simd reduction(+ : s, sh)
            for (int64_t i = i0; i < i0 + len; i++) {
                const float g = dy[i], h = (x[i] - mean) * is;
                s += g;
                sh += g * h;
            }
        }
        a += s, b += sh;
    }
    *sg = a, *sgh = b;
}

/* dx (=, or += with acc) k1 * g - k0 - k2 * xhat. */
__attribute__((target_clones("avx2", "default")))
static void row_grad_input(const float *x, const float *r, float top, const float *dy, int64_t n,
                           float mean, float is, float k1, float k0, float k2, float *dx, int acc)
{
    if (r && acc) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            const float rv = r[i], d = dy[i];
            const float g = ((rv > 0.0f) & (rv < top)) ? d : 0.0f;
            dx[i] += k1 * g - k0 - k2 * ((x[i] - mean) * is);
        }
    } else if (r) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            const float rv = r[i], d = dy[i];
            const float g = ((rv > 0.0f) & (rv < top)) ? d : 0.0f;
            dx[i] = k1 * g - k0 - k2 * ((x[i] - mean) * is);
        }
    } else if (acc) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            dx[i] += k1 * dy[i] - k0 - k2 * ((x[i] - mean) * is);
    } else {
#pragma omp simd
        for (int64_t i = 0; i < n; i++)
            dx[i] = k1 * dy[i] - k0 - k2 * ((x[i] - mean) * is);
    }
}

/* With xhat = (x - mean) * invstd and y = gamma * xhat + beta over the batch
 * of m values, and g the gradient at y:
 * dx = gamma * invstd / m * (m * g - sum(g) - xhat * sum(g * xhat)). */
void nm_bn_act_backward(int c, int64_t cols, const float *x, const float *mean,
                        const float *invstd, const float *gamma, const uint8_t *dead,
                        const float *r, float clip, const float *dy, float *dx, int acc,
                        float *dgamma, float *dbeta)
{
    const float top = clip > 0 ? clip : INFINITY;
#pragma omp parallel for schedule(dynamic, 1) if ((int64_t)c * cols > NM_PAR_MIN)
    for (int ch = 0; ch < c; ch++) {
        const int64_t o = ch * cols;
        if (dead && dead[ch]) {
            if (dx && !acc)
                memset(dx + o, 0, sizeof(float) * (size_t)cols);
            continue;
        }
        double sg, sgh;
        row_grad_sums(x + o, r ? r + o : NULL, top, dy + o, cols, mean[ch], invstd[ch], &sg,
                      &sgh);
        dgamma[ch] += (float)sgh;
        dbeta[ch] += (float)sg;
        if (!dx)
            continue;
        const float k = gamma[ch] * invstd[ch] / (float)cols;
        row_grad_input(x + o, r ? r + o : NULL, top, dy + o, cols, mean[ch], invstd[ch],
                       k * (float)cols, k * (float)sg, k * (float)sgh, dx + o, acc);
    }
}

void nm_bn_backward(int c, int64_t cols, const float *x, const float *mean, const float *invstd,
                    const float *gamma, const uint8_t *dead, const float *dy, float *dx, int acc,
                    float *dgamma, float *dbeta)
{
    nm_bn_act_backward(c, cols, x, mean, invstd, gamma, dead, NULL, 0.0f, dy, dx, acc, dgamma,
                       dbeta);
}
