/* vit_ops.c - forward passes of the transformer kinds (attention matmuls,
 * layer norm, GELU, softmax, the ViT embedding) over a CNHW batch
 * (kernels.h). A token sequence of T tokens with D features is (D, T, 1)
 * per sample, so a batch of n is D rows of n*T values. Inference only:
 * nothing here has a backward pass. The semantics are model.h's; the
 * comments in kernels.h spell out the index maps. (Slices, which the ViT
 * also uses, are nm_slice_forward in graph_ops.c.) */
#include "kernels.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* Columns handled together by the per-column reductions (layer norm,
 * softmax): the rows are walked once per block with the running sums on
 * the stack, so the reads stay contiguous. */
#define COL_BLOCK 64

void nm_layernorm_forward(int c, int64_t cols, const float *x, const float *gamma,
                          const float *beta, float eps, const uint8_t *keep, float *y)
{
    int live = c;
    for (int k = 0; keep && k < c; k++)
        live -= keep[k] == 0;
    const double per = live > 0 ? live : 1;
    const int64_t blocks = (cols + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for schedule(static) if ((int64_t)c * cols > NM_PAR_MIN)
    for (int64_t b = 0; b < blocks; b++) {
        const int64_t j0 = b * COL_BLOCK, nb = cols - j0 < COL_BLOCK ? cols - j0 : COL_BLOCK;
        double mean[COL_BLOCK] = {0}, var[COL_BLOCK] = {0};
        for (int k = 0; k < c; k++) {
            if (keep && !keep[k])
                continue;
            const float *r = x + (int64_t)k * cols + j0;
            for (int64_t j = 0; j < nb; j++)
                mean[j] += r[j];
        }
        for (int64_t j = 0; j < nb; j++)
            mean[j] /= per;
        for (int k = 0; k < c; k++) {
            if (keep && !keep[k])
                continue;
            const float *r = x + (int64_t)k * cols + j0;
            for (int64_t j = 0; j < nb; j++) {
                double d = r[j] - mean[j];
                var[j] += d * d;
            }
        }
        float inv[COL_BLOCK], mu[COL_BLOCK];
        for (int64_t j = 0; j < nb; j++) {
            inv[j] = (float)(1.0 / sqrt(var[j] / per + eps));   /* biased variance */
            mu[j] = (float)mean[j];
        }
        for (int k = 0; k < c; k++) {
            const float *r = x + (int64_t)k * cols + j0;
            float *o = y + (int64_t)k * cols + j0;
            if (keep && !keep[k]) {   /* a removed channel of the stream */
                memset(o, 0, sizeof(float) * (size_t)nb);
                continue;
            }
            const float g = gamma[k], be = beta[k];
            for (int64_t j = 0; j < nb; j++)
                o[j] = (r[j] - mu[j]) * inv[j] * g + be;
        }
    }
}

void nm_gelu_forward(int64_t count, const float *x, float *y)
{
#pragma omp parallel for schedule(static) if (count > NM_PAR_MIN)
    for (int64_t i = 0; i < count; i++)
        y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678118654752f));
}

void nm_softmax_forward(int c, int groups, int64_t cols, const float *x, float *y)
{
    if (groups <= 0)
        groups = 1;
    const int g = c / groups;
    const int64_t blocks = (cols + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for schedule(static) collapse(2) if ((int64_t)c * cols > NM_PAR_MIN)
    for (int gi = 0; gi < groups; gi++)
        for (int64_t b = 0; b < blocks; b++) {
            const int64_t j0 = b * COL_BLOCK, nb = cols - j0 < COL_BLOCK ? cols - j0 : COL_BLOCK;
            const float *xs = x + (int64_t)gi * g * cols + j0;
            float *ys = y + (int64_t)gi * g * cols + j0;
            float mx[COL_BLOCK];
            double sum[COL_BLOCK] = {0};
            for (int64_t j = 0; j < nb; j++)
                mx[j] = -INFINITY;
            for (int k = 0; k < g; k++)
                for (int64_t j = 0; j < nb; j++)
                    mx[j] = fmaxf(mx[j], xs[(int64_t)k * cols + j]);
            for (int k = 0; k < g; k++)
                for (int64_t j = 0; j < nb; j++) {
                    float e = expf(xs[(int64_t)k * cols + j] - mx[j]);
                    ys[(int64_t)k * cols + j] = e;
                    sum[j] += e;
                }
            float inv[COL_BLOCK];
            for (int64_t j = 0; j < nb; j++)
                inv[j] = (float)(1.0 / sum[j]);
            for (int k = 0; k < g; k++)
                for (int64_t j = 0; j < nb; j++)
                    ys[(int64_t)k * cols + j] *= inv[j];
        }
}

void nm_attn_scores_forward(int dim, int heads, int tokens, int n, float scale, const float *q,
                            const float *k, float *y)
{
    const int d = dim / heads;
    const int64_t ld = (int64_t)n * tokens;
    for (int h = 0; h < heads; h++)
        for (int s = 0; s < n; s++) {
            const int64_t off = (int64_t)h * d * ld + (int64_t)s * tokens;
            /* Y_hs[j, i] (T x T) = scale * K_hs^T (T x d) * Q_hs (d x T) */
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, tokens, tokens, d, scale,
                        k + off, (int)ld, q + off, (int)ld, 0.0f,
                        y + (int64_t)h * tokens * ld + (int64_t)s * tokens, (int)ld);
        }
}

void nm_attn_context_forward(int dim, int heads, int tokens, int n, const float *a,
                             const float *v, float *y)
{
    const int d = dim / heads;
    const int64_t ld = (int64_t)n * tokens;
    for (int h = 0; h < heads; h++)
        for (int s = 0; s < n; s++) {
            const int64_t voff = (int64_t)h * d * ld + (int64_t)s * tokens;
            /* Y_hs (d x T) = V_hs (d x T) * A_hs (T keys x T queries) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, d, tokens, tokens, 1.0f,
                        v + voff, (int)ld, a + (int64_t)h * tokens * ld + (int64_t)s * tokens,
                        (int)ld, 0.0f, y + voff, (int)ld);
        }
}

void nm_embed_forward(int c, int positions, int n, const float *x, const float *pos,
                      const float *cls, float *y)
{
    const int t = positions + 1;
#pragma omp parallel for schedule(static) collapse(2) if ((int64_t)c * n * t > NM_PAR_MIN)
    for (int k = 0; k < c; k++)
        for (int s = 0; s < n; s++) {
            const float *xs = x + ((int64_t)k * n + s) * positions;
            float *ys = y + ((int64_t)k * n + s) * t;
            ys[0] = cls[k] + pos[k];
            for (int p = 0; p < positions; p++)
                ys[p + 1] = xs[p] + pos[(int64_t)(p + 1) * c + k];
        }
}
