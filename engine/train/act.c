/* act.c - ReLU (optionally clipped, ReLU6-style) and NMReLU for training.
 *
 * NMReLU here is the training-side implementation (the pruning engine has
 * its own in engine/prune); both follow JOINTNF.md section 2. Kept values
 * are exactly the nonzero outputs, so the backward pass needs only y. */
#include "kernels.h"

#include <math.h>
#include <string.h>

#define NM_NMRELU_MAX_M 1024

/* Branch-free loops: signs of activations are unpredictable, and a
 * mispredicted branch per element costs more than the arithmetic. */
void nm_relu_forward(int64_t count, float clip, const float *x, float *y)
{
    if (clip > 0) {
#pragma omp parallel for simd schedule(static) if (count > NM_PAR_MIN)
        for (int64_t i = 0; i < count; i++) {
            float v = x[i] > 0.0f ? x[i] : 0.0f;
            y[i] = v < clip ? v : clip;
        }
        return;
    }
#pragma omp parallel for simd schedule(static) if (count > NM_PAR_MIN)
    for (int64_t i = 0; i < count; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void nm_relu_backward(int64_t count, float clip, const float *y, const float *dy, float *dx)
{
    const float top = clip > 0 ? clip : INFINITY;
#pragma omp parallel for simd schedule(static) if (count > NM_PAR_MIN)
    for (int64_t i = 0; i < count; i++)
        dx[i] += (y[i] > 0.0f && y[i] < top) ? dy[i] : 0.0f;
}

/* Applies N:M to one group of len values v[0], v[stride], ... (already
 * ReLU'd, so every value is >= 0), keeping at most `keep` positives. */
static void nm_group(float *v, int64_t stride, int len, int keep, nm_act_policy policy)
{
    if (policy == NM_POLICY_FIRST) {
        int seen = 0;
        for (int i = 0; i < len; i++) {
            float *p = v + i * stride;
            if (*p > 0 && seen++ >= keep)
                *p = 0.0f;
        }
        return;
    }
    /* topk: value i survives if fewer than `keep` positives beat it
     * (larger, or equal at a lower index). Ranks are taken on the original
     * values before anything is zeroed. */
    unsigned char drop[NM_NMRELU_MAX_M];
    for (int i = 0; i < len; i++) {
        float vi = v[i * stride];
        int rank = 0;
        if (vi > 0)
            for (int j = 0; j < len && rank < keep; j++) {
                float vj = v[j * stride];
                rank += vj > vi || (vj == vi && j < i);
            }
        drop[i] = vi > 0 && rank >= keep;
    }
    for (int i = 0; i < len; i++)
        if (drop[i])
            v[i * stride] = 0.0f;
}

void nm_nmrelu_forward(int c, int n_samples, int plane, int keep, int m,
                       nm_act_policy policy, nm_act_axis axis, const float *x, float *y)
{
    const int64_t cols = (int64_t)n_samples * plane;
    if (m > NM_NMRELU_MAX_M)
        m = NM_NMRELU_MAX_M;   /* net.c rejects larger groups up front */
    nm_relu_forward((int64_t)c * cols, 0, x, y);
    if (keep >= m)
        return;
    if (axis == NM_AXIS_CHANNEL) {
#pragma omp parallel for schedule(static) if ((int64_t)c * cols > NM_PAR_MIN)
        for (int64_t j = 0; j < cols; j++)
            for (int c0 = 0; c0 < c; c0 += m) {
                int len = c - c0 < m ? c - c0 : m;
                nm_group(y + (int64_t)c0 * cols + j, cols, len, keep, policy);
            }
        return;
    }
    /* position axis: within each image's plane, or along the batch for 1x1 */
    const int64_t seg = plane > 1 ? plane : cols;
#pragma omp parallel for schedule(static) if ((int64_t)c * cols > NM_PAR_MIN)
    for (int ch = 0; ch < c; ch++)
        for (int64_t s0 = 0; s0 < cols; s0 += seg)
            for (int64_t g0 = 0; g0 < seg; g0 += m) {
                int len = (int)(seg - g0 < m ? seg - g0 : m);
                nm_group(y + ch * cols + s0 + g0, 1, len, keep, policy);
            }
}

void nm_nmrelu_backward(int64_t count, const float *y, const float *dy, float *dx)
{
#pragma omp parallel for simd schedule(static) if (count > NM_PAR_MIN)
    for (int64_t i = 0; i < count; i++)
        dx[i] += y[i] > 0.0f ? dy[i] : 0.0f;
}
