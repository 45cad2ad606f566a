/* magnitude.c - unstructured magnitude pruning of one layer, and the small
 * keep-vector helpers the other methods share. */
#include "prune_int.h"

#include <math.h>
#include <string.h>

int nm_filters_kept(const nm_layer *l)
{
    if (!l->filters)
        return l->out_c;
    int n = 0;
    for (int64_t i = 0; i < l->filters->numel; i++)
        n += nm_u8(l->filters)[i] != 0;
    return n;
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

double nm_row_abs_sum(const float *w, const uint8_t *mk, int64_t n)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t j = 0;
    if (mk) {
        for (; j + 4 <= n; j += 4) {
            s0 += mk[j] ? fabs(w[j]) : 0.0;
            s1 += mk[j + 1] ? fabs(w[j + 1]) : 0.0;
            s2 += mk[j + 2] ? fabs(w[j + 2]) : 0.0;
            s3 += mk[j + 3] ? fabs(w[j + 3]) : 0.0;
        }
        for (; j < n; j++)
            s0 += mk[j] ? fabs(w[j]) : 0.0;
    } else {
        for (; j + 4 <= n; j += 4) {
            s0 += fabs(w[j]);
            s1 += fabs(w[j + 1]);
            s2 += fabs(w[j + 2]);
            s3 += fabs(w[j + 3]);
        }
        for (; j < n; j++)
            s0 += fabs(w[j]);
    }
    return (s0 + s1) + (s2 + s3);
}

static int64_t count_zeros(const nm_tensor *mask)
{
    const uint8_t *m = nm_u8(mask);
    int64_t z = 0;
#pragma omp parallel for reduction(+ : z) schedule(static)
    for (int64_t i = 0; i < mask->numel; i++)
        z += m[i] == 0;
    return z;
}

int nm_prune_magnitude_layer(nm_layer *l, double sparsity)
{
    if (!(sparsity >= 0 && sparsity <= 1))
        return nm_seterr("layer '%s': sparsity must be in [0, 1], not %g", l->name, sparsity);
    if (nm_layer_ensure_mask(l))
        return NM_ERR;
    int64_t want = llround(sparsity * (double)l->weight->numel);
    int64_t k = want - count_zeros(l->mask);
    if (k <= 0)
        return NM_OK;
    nm_select_seg s = {nm_f32(l->weight), nm_u8(l->mask), nm_u8(l->mask), l->weight->numel};
    if (nm_select_smallest(&s, 1, k))
        return nm_preperr(l->name);
    return NM_OK;
}
