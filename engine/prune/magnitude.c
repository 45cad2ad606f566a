/* magnitude.c - unstructured magnitude pruning of one layer, and the small
 * keep-vector helpers the other methods share. */
#include "prune_int.h"

#include <math.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

int nm_filters_kept(const nm_layer *l)
{
    return nm_keep_count(l->filters, l->out_c);
}

int nm_layer_ensure_keep(nm_layer *l)
{
    if (nm_layer_ensure_mask(l))
        return NM_ERR;
    if (!l->filters) {
        if (!(l->filters = nm_tensor_new4(NM_U8, 1, l->out_c, 0, 0, 0)))
            return NM_ERR;
        memset(l->filters->data, 1, (size_t)l->out_c);
    }
    if (!l->in_chans) {
        if (!(l->in_chans = nm_tensor_new4(NM_U8, 1, l->in_c, 0, 0, 0)))
            return NM_ERR;
        memset(l->in_chans->data, 1, (size_t)l->in_c);
    }
    return NM_OK;
}

/* Vector lanes: four floats summed at a time; every 256 entries the lane
 * sums move into a double, so rounding stays at float level per block. */

double nm_row_abs_sum(const float *w, const uint8_t *mk, int64_t n)
{
    double s = 0;
    int64_t j = 0;
    const v4i absmask = {0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff};
    while (j + 4 <= n) {
        v4f acc = {0, 0, 0, 0};
        int64_t end = j + 256 < n ? j + 256 : n;
#if defined(__SSE2__)
        /* sixteen at a time with the mask bytes widened in registers: the
         * same additions in the same order as the loop below */
        if (mk)
            for (; j + 16 <= end; j += 16) {
                __m128i z = _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(mk + j)),
                                           _mm_setzero_si128());
                __m128i z16lo = _mm_unpacklo_epi8(z, z), z16hi = _mm_unpackhi_epi8(z, z);
                __m128i zl[4] = {_mm_unpacklo_epi16(z16lo, z16lo), _mm_unpackhi_epi16(z16lo, z16lo),
                                 _mm_unpacklo_epi16(z16hi, z16hi), _mm_unpackhi_epi16(z16hi, z16hi)};
#pragma GCC unroll 4
                for (int q = 0; q < 4; q++) {
                    v4f x;
                    memcpy(&x, w + j + 4 * q, sizeof x);
                    acc += (v4f)(((v4i)x & absmask) & ~(v4i)zl[q]);
                }
            }
#endif
        for (; j + 4 <= end; j += 4) {
            v4f x;
            memcpy(&x, w + j, sizeof x);
            v4i keep = {-1, -1, -1, -1};
            if (mk) {
                v4i k = {mk[j], mk[j + 1], mk[j + 2], mk[j + 3]};
                keep = k != 0;
            }
            acc += (v4f)((v4i)x & absmask & keep);
        }
        s += (double)acc[0] + (double)acc[1] + (double)acc[2] + (double)acc[3];
    }
    for (; j < n; j++)
        s += !mk || mk[j] ? fabs(w[j]) : 0.0;
    return s;
}

int nm_prune_magnitude_layer(nm_layer *l, double sparsity)
{
    if (!(sparsity >= 0 && sparsity <= 1))
        return nm_seterr("layer '%s': sparsity must be in [0, 1], not %g", l->name, sparsity);
    if (nm_layer_ensure_mask(l))
        return NM_ERR;
    int64_t want = llround(sparsity * (double)l->weight->numel);
    int64_t k = want - (l->mask->numel - nm_tensor_nnz(l->mask));
    if (k <= 0)
        return NM_OK;
    nm_select_seg s = {nm_f32(l->weight), nm_u8(l->mask), nm_u8(l->mask), l->weight->numel};
    if (nm_select_smallest(&s, 1, k))
        return nm_preperr(l->name);
    return NM_OK;
}
