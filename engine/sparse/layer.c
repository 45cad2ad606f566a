/* layer.c - what the compressed kernels need from a model layer: its
 * masked weight, the axis its N:M holds along, and its im2col matrix. */
#include "nm_gemm.h"

#include <string.h>

nm_tensor *nm_nm_masked_weight(const nm_layer *l)
{
    if (!l->weight || l->weight->dtype != NM_F32 || (l->weight->ndim != 2 && l->weight->ndim != 4)) {
        nm_seterr("layer '%s' has no 2-D or 4-D f32 weight", l->name);
        return NULL;
    }
    nm_tensor *w = nm_tensor_clone(l->weight);
    if (!w)
        return NULL;
    float *x = nm_f32(w);
    int64_t rows = w->shape[0], D = w->numel / rows;
    int64_t cin = w->ndim == 4 ? w->shape[1] : D, k = D / cin;
    const uint8_t *mk = l->mask && l->mask->numel == w->numel ? nm_u8(l->mask) : NULL;
    const uint8_t *f = l->filters && l->filters->numel == rows ? nm_u8(l->filters) : NULL;
    const uint8_t *ic = l->in_chans && l->in_chans->numel == cin ? nm_u8(l->in_chans) : NULL;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < D; j++) {
            int64_t i = r * D + j;
            if ((mk && !mk[i]) || (f && !f[r]) || (ic && !ic[j / k]))
                x[i] = 0.0f;
        }
    return w;
}

nm_group_axis nm_nm_layer_axis(const nm_tensor *w, const nm_layer *l, int n, int m)
{
    nm_group_axis order[4] = {nm_group_axis_default(l), NM_GROUP_KERNEL, NM_GROUP_IN, NM_GROUP_ROW};
    for (int i = 0; i < 4; i++) {
        int64_t viol = 0;
        if (nm_check_nm(w, NULL, n, m, order[i], &viol, NULL) == NM_OK && viol == 0)
            return order[i];
    }
    return NM_GROUP_AUTO;
}

void nm_nm_im2col(const nm_layer *l, int n, const float *x, float *col)
{
    int kh = l->kind == NM_LAYER_LINEAR ? 1 : l->kh, kw = l->kind == NM_LAYER_LINEAR ? 1 : l->kw;
    int sh = l->stride_h > 0 ? l->stride_h : 1, sw = l->stride_w > 0 ? l->stride_w : 1;
    int dh = l->dil_h > 0 ? l->dil_h : 1, dw = l->dil_w > 0 ? l->dil_w : 1;
    int64_t hw = (int64_t)l->in_h * l->in_w, P = (int64_t)l->out_h * l->out_w;
    int64_t D = (int64_t)l->in_c * kh * kw, rowlen = (int64_t)n * P;
#pragma omp parallel for schedule(static) if (D * rowlen > ((int64_t)1 << 15))
    for (int64_t r = 0; r < D; r++) {
        int c = (int)(r / (kh * kw)), ki = (int)(r / kw % kh), kj = (int)(r % kw);
        float *dst = col + r * rowlen;
        for (int s = 0; s < n; s++) {
            const float *src = x + (int64_t)c * n * hw + (int64_t)s * hw;
            for (int oh = 0; oh < l->out_h; oh++) {
                int ih = oh * sh - l->pad_h + ki * dh;
                float *out = dst + (int64_t)s * P + (int64_t)oh * l->out_w;
                for (int ow = 0; ow < l->out_w; ow++) {
                    int iw = ow * sw - l->pad_w + kj * dw;
                    out[ow] = ih >= 0 && ih < l->in_h && iw >= 0 && iw < l->in_w
                                  ? src[(int64_t)ih * l->in_w + iw] : 0.0f;
                }
            }
        }
    }
}
