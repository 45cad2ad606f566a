/* functional_layer.c - a model layer through the int8 functional model:
 * its GEMM weight matrix (kept filters x kept input channels, mask
 * applied), symmetric quantisation of weights and activations, the array's
 * output. */
#include "sim.h"

#include <stdlib.h>
#include <string.h>

nm_tensor *sim_layer_weight_matrix(const nm_model *m, int idx)
{
    if (!m || idx < 0 || idx >= m->n_layers)
        return nm_seterr("layer index %d out of range", idx), NULL;
    const nm_layer *l = &m->layers[idx];
    if (l->kind != NM_LAYER_CONV && l->kind != NM_LAYER_LINEAR)
        return nm_seterr("layer '%s' (%s): only conv and linear layers have a single GEMM",
                         l->name, nm_layer_kind_name(l->kind)), NULL;
    if (l->kind == NM_LAYER_CONV && l->groups > 1)
        return nm_seterr("layer '%s': grouped convs are %d GEMMs", l->name, l->groups), NULL;
    if (!l->weight)
        return nm_seterr("layer '%s' has no weights", l->name), NULL;
    int cin = l->in_c, cout = l->out_c;
    int64_t kk = l->kind == NM_LAYER_CONV ? (int64_t)l->kh * l->kw : 1, D = cin * kk;
    int nf = 0, nc = 0;
    for (int f = 0; f < cout; f++)
        nf += !l->filters || nm_u8(l->filters)[f];
    for (int c = 0; c < cin; c++)
        nc += !l->in_chans || nm_u8(l->in_chans)[c];
    if (nf == 0 || nc == 0)
        return nm_seterr("layer '%s' keeps no filters or no input channels", l->name), NULL;
    nm_tensor *W = nm_tensor_new4(NM_F32, 2, nf, nc * kk, 0, 0);
    if (!W)
        return NULL;
    const float *w = nm_f32(l->weight);
    const uint8_t *mask = l->mask ? nm_u8(l->mask) : NULL;
    float *o = nm_f32(W);
    for (int f = 0; f < cout; f++) {
        if (l->filters && !nm_u8(l->filters)[f])
            continue;
        for (int c = 0; c < cin; c++) {
            if (l->in_chans && !nm_u8(l->in_chans)[c])
                continue;
            for (int64_t j = 0; j < kk; j++) {
                int64_t src = (int64_t)f * D + c * kk + j;
                *o++ = mask && !mask[src] ? 0.0f : w[src];
            }
        }
    }
    return W;
}

nm_tensor *sim_layer_functional(const nm_model *m, int idx, const sim_mac *mac,
                                const nm_tensor *X, float *x_scale, float *w_scale,
                                sim_func_stats *st)
{
    nm_tensor *W = sim_layer_weight_matrix(m, idx);
    if (!W)
        return NULL;
    int64_t Nf = W->shape[0], K = W->shape[1];
    if (!X || X->dtype != NM_F32 || X->ndim != 2 || X->shape[1] != K) {
        nm_tensor_release(W);
        return nm_seterr("layer '%s': activations must be an f32 matrix [E, %lld]",
                         m->layers[idx].name, (long long)K), NULL;
    }
    int64_t E = X->shape[0];
    int8_t *xq = malloc((size_t)(E * K)), *wq = malloc((size_t)(Nf * K));
    nm_tensor *Y = nm_tensor_new4(NM_I32, 2, E, Nf, 0, 0);
    nm_tensor *ret = NULL;
    if (!xq || !wq || !Y) {
        nm_seterr("out of memory for layer '%s'", m->layers[idx].name);
        goto done;
    }
    float xs = sim_quantize_sym(nm_f32(X), E * K, xq);
    float ws = sim_quantize_sym(nm_f32(W), Nf * K, wq);
    if (sim_gemm_i8_functional(mac, xq, wq, E, K, Nf, nm_i32(Y), st)) {
        nm_preperr(m->layers[idx].name);
        goto done;
    }
    if (x_scale)
        *x_scale = xs;
    if (w_scale)
        *w_scale = ws;
    ret = Y;
    Y = NULL;
done:
    free(xq), free(wq);
    nm_tensor_release(Y);
    nm_tensor_release(W);
    return ret;
}
