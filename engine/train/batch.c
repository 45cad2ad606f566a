/* batch.c - dataset samples into the net's input buffer. */
#include "batch.h"
#include "kernels.h"

#include <string.h>

int nm_batch_check(const nm_model *m, const nm_dataset *d)
{
    const nm_tensor *x = d->images;
    if (m->n_layers == 0)
        return nm_seterr("model '%s' has no layers", m->name);
    if (nm_model_one_input(m, "a data set") != NM_OK)   /* its images fill input 0 */
        return NM_ERR;
    if (x->shape[1] != m->in_c || x->shape[2] != m->in_h || x->shape[3] != m->in_w)
        return nm_seterr("data set '%s' has samples of (%lld, %lld, %lld) but model '%s' takes "
                         "(%d, %d, %d)", d->name, (long long)x->shape[1], (long long)x->shape[2],
                         (long long)x->shape[3], m->name, m->in_c, m->in_h, m->in_w);
    const nm_layer *last = &m->layers[m->n_layers - 1];
    if (last->out_h != 1 || last->out_w != 1)
        return nm_seterr("model '%s': the last layer '%s' gives (%d, %d, %d); training needs "
                         "(classes, 1, 1) logits", m->name, last->name, last->out_c, last->out_h,
                         last->out_w);
    if (last->out_c < d->classes)
        return nm_seterr("model '%s' has %d outputs but data set '%s' has %d classes", m->name,
                         last->out_c, d->name, d->classes);
    return NM_OK;
}

void nm_batch_fill(nm_net *net, const nm_dataset *d, const int64_t *idx, int64_t start, int n,
                   int32_t *labels)
{
    const nm_tensor *x = d->images;
    const int c = (int)x->shape[1];
    const int64_t hw = x->shape[2] * x->shape[3], per = c * hw;
    const float *src = nm_f32(x);
    const int32_t *lab = nm_i32(d->labels);
    float *in = nm_net_input(net);
#pragma omp parallel for schedule(static) if ((int64_t)n * per > NM_PAR_MIN)
    for (int s = 0; s < n; s++) {
        int64_t k = idx ? idx[s] : start + s;
        for (int ch = 0; ch < c; ch++)
            memcpy(in + ((int64_t)ch * n + s) * hw, src + k * per + ch * hw,
                   sizeof(float) * (size_t)hw);
        if (labels)
            labels[s] = lab[k];
    }
}
