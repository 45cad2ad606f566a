/* model_stats.c - per-layer parameter, sparsity and MAC statistics. */
#include "model.h"

#include <string.h>

int64_t nm_layer_dense_macs(const nm_layer *l)
{
    if (nm_layer_prunable(l) && l->weight)
        return (int64_t)l->out_h * l->out_w * l->weight->numel;
    if (l->kind == NM_LAYER_CONVT && l->weight) /* every input position meets every weight */
        return (int64_t)l->in_h * l->in_w * l->weight->numel;
    return l->kind == NM_LAYER_MATMUL ? l->matmul_macs : 0;
}

void nm_layer_stats_get(const nm_model *m, int idx, nm_layer_stats *s)
{
    memset(s, 0, sizeof *s);
    const nm_layer *l = &m->layers[idx];
    s->positions = (int64_t)l->out_h * l->out_w;
    s->density = 1.0;
    if (nm_layer_prunable(l) && l->weight) {
        const float *w = nm_f32(l->weight);
        const uint8_t *k = l->mask ? nm_u8(l->mask) : NULL;
        int64_t nz = 0, n = l->weight->numel;
        /* branch-free and vectorised: this runs over every weight */
        if (k) {
#pragma omp simd reduction(+ : nz)
            for (int64_t i = 0; i < n; i++)
                nz += (w[i] != 0.0f) & (k[i] != 0);
        } else {
#pragma omp simd reduction(+ : nz)
            for (int64_t i = 0; i < n; i++)
                nz += w[i] != 0.0f;
        }
        s->params = l->weight->numel;
        s->nonzeros = nz;
        s->density = s->params ? (double)nz / (double)s->params : 1.0;
        s->filters = l->out_c;
        s->filters_kept = nm_keep_count(l->filters, l->out_c);
        s->in_chans = l->in_c;
        s->in_chans_kept = nm_keep_count(l->in_chans, l->in_c);
    }
    s->dense_macs = nm_layer_dense_macs(l);
}

int64_t nm_model_dense_macs(const nm_model *m)
{
    int64_t total = 0;
    for (int i = 0; i < m->n_layers; i++)
        total += nm_layer_dense_macs(&m->layers[i]);
    return total;
}

int64_t nm_model_params(const nm_model *m)
{
    int64_t total = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        const nm_tensor *ts[] = {l->weight, l->bias, l->gamma, l->beta};
        for (int k = 0; k < 4; k++)
            if (ts[k])
                total += ts[k]->numel;
    }
    return total;
}
