/* act.c - ReLU (optionally clipped, ReLU6-style) and NMReLU for training.
 *
 * NMReLU uses the pruning engine's kernels (engine/prune/nmrelu.c) on the
 * training buffers' layout. Kept values are exactly the nonzero outputs, so
 * the backward pass needs only y. */
#include "kernels.h"
#include "prune.h"

#include <math.h>
#include <string.h>


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

/* dx (=, or += with acc) dy where 0 < y < top, else 0, over [lo, hi).
 * Both values are loaded unconditionally so the select vectorises. */
__attribute__((target_clones("avx2", "default")))
static void relu_grad_span(int64_t lo, int64_t hi, float top, const float *y, const float *dy,
                           float *dx, int acc)
{
    if (acc) {
#pragma omp simd
        for (int64_t i = lo; i < hi; i++) {
            const float v = y[i], g = dy[i];
            dx[i] += ((v > 0.0f) & (v < top)) ? g : 0.0f;
        }
    } else {
#pragma omp simd
        for (int64_t i = lo; i < hi; i++) {
            const float v = y[i], g = dy[i];
            dx[i] = ((v > 0.0f) & (v < top)) ? g : 0.0f;
        }
    }
}

/* Spans of this many values per task of the parallel loops below. */
#define NM_ACT_SPAN ((int64_t)1 << 14)

void nm_relu_backward(int64_t count, float clip, const float *y, const float *dy, float *dx,
                      int acc)
{
    const float top = clip > 0 ? clip : INFINITY;
    const int64_t spans = (count + NM_ACT_SPAN - 1) / NM_ACT_SPAN;
#pragma omp parallel for schedule(dynamic, 1) if (count > NM_PAR_MIN)
    for (int64_t s = 0; s < spans; s++) {
        const int64_t lo = s * NM_ACT_SPAN, hi = lo + NM_ACT_SPAN < count ? lo + NM_ACT_SPAN : count;
        relu_grad_span(lo, hi, top, y, dy, dx, acc);
    }
}

/* NMReLU on a [C, n_samples*plane] buffer, with the pruning engine's
 * kernels (one implementation of JOINTNF.md section 2 for the whole
 * engine). Position axis: groups of M positions within each image's plane
 * (C*n_samples rows of `plane` values), or along the batch when plane is 1;
 * channel axis: M consecutive channels at each column. */
void nm_train_nmrelu_forward(int c, int n_samples, int plane, int keep, int m,
                             nm_act_policy policy, nm_act_axis axis, const float *x, float *y)
{
    const int64_t cols = (int64_t)n_samples * plane;
    if (axis == NM_AXIS_CHANNEL)
        nm_nmrelu_cols(x, y, c, cols, keep, m, policy);
    else if (plane > 1)
        nm_nmrelu_rows(x, y, (int64_t)c * n_samples, plane, keep, m, policy);
    else
        nm_nmrelu_rows(x, y, c, cols, keep, m, policy);
}

/* Clip, then N:M (an NMReLU made from a ReLU6): y = min(max(x,0),clip),
 * then the N:M kernels in place on y (they allow x and y to alias), so the
 * N:M choice sees the clipped values (topk ties at clip go to the lower
 * index). clip <= 0: plain NMReLU. */
void nm_train_nmrelu_forward_clip(int c, int n_samples, int plane, int keep, int m,
                                  nm_act_policy policy, nm_act_axis axis, float clip,
                                  const float *x, float *y)
{
    if (clip > 0) {
        nm_relu_forward((int64_t)c * n_samples * plane, clip, x, y);
        x = y;
    }
    nm_train_nmrelu_forward(c, n_samples, plane, keep, m, policy, axis, x, y);
}

/* Kept and below the clip: 0 < y < clip (y = clip is a clipped value). */
void nm_train_nmrelu_backward_clip(int64_t count, float clip, const float *y, const float *dy,
                                   float *dx)
{
    nm_relu_backward(count, clip, y, dy, dx, 1);
}

void nm_train_nmrelu_backward(int64_t count, const float *y, const float *dy, float *dx)
{
    nm_relu_backward(count, 0.0f, y, dy, dx, 1);
}
