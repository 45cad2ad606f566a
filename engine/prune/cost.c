/* cost.c - MACs and storage of pruned layers (JOINTNF.md section 5). */
#include "prune_int.h"

#include <stdlib.h>
#include <string.h>

uint64_t nm_binom(int n, int k)
{
    if (k < 0 || k > n)
        return 0;
    if (k > n - k)
        k = n - k;
    unsigned __int128 c = 1;
    for (int i = 0; i < k; i++)
        c = c * (unsigned)(n - i) / (unsigned)(i + 1);
    return (uint64_t)c;
}

static int check_layer(const nm_model *mdl, int idx)
{
    if (idx < 0 || idx >= mdl->n_layers)
        return nm_seterr("layer index %d out of range", idx);
    if (!nm_layer_prunable(&mdl->layers[idx]) || !mdl->layers[idx].weight)
        return nm_seterr("layer '%s' has no prunable weight", mdl->layers[idx].name);
    return NM_OK;
}

int nm_cost_layer(const nm_model *mdl, int idx, int an, int am, nm_layer_cost *c)
{
    if (check_layer(mdl, idx))
        return NM_ERR;
    if (am < 0 || an < 0 || an > am || (am == 0 && an != 0))
        return nm_seterr("cost: impossible activation N:M %d:%d", an, am);
    const nm_layer *l = &mdl->layers[idx];
    memset(c, 0, sizeof *c);
    int64_t P = (int64_t)l->out_h * l->out_w, D = nm_layer_cols(l);
    int kept = nm_keep_count(l->filters, l->out_c);
    c->filters_removed = l->out_c - kept;
    c->in_chans_kept = nm_keep_count(l->in_chans, l->in_c);
    c->dense_macs = nm_layer_dense_macs(l);
    double wr = l->wm > 0 ? (double)l->wn / l->wm : 1.0;
    double ar = am > 0 ? (double)an / am : 1.0;
    /* a dwconv filter reads only its own channel: removing the channel is
     * removing the filter, already counted in `kept` */
    double inr = l->kind == NM_LAYER_DWCONV || !l->in_c ? 1.0 : (double)c->in_chans_kept / l->in_c;
    c->effective_macs = (double)P * kept * (double)D * inr * wr * ar;
    return NM_OK;
}

int nm_cost_model(const nm_model *mdl, int an, int am, int64_t *dense, double *effective)
{
    int64_t d = 0;
    double e = 0;
    for (int i = 0; i < mdl->n_layers; i++) {
        if (!nm_layer_prunable(&mdl->layers[i]) || !mdl->layers[i].weight)
            continue;
        nm_layer_cost c;
        if (nm_cost_layer(mdl, i, an, am, &c))
            return NM_ERR;
        d += c.dense_macs;
        e += c.effective_macs;
    }
    if (dense)
        *dense = d;
    if (effective)
        *effective = e;
    return NM_OK;
}

/* The count factorises: sum over p, o, j of X[p,j] W[o,j] equals
 * sum over j of (nonzero inputs feeding column j over all positions) x
 * (nonzero weights in column j), per conv group. That is the GEMM of the
 * 0/1 indicators summed over its output, done in O(P*D + O*D). */
int nm_cost_measured(const nm_model *mdl, int idx, const nm_tensor *x, int64_t *products)
{
    if (check_layer(mdl, idx))
        return NM_ERR;
    const nm_layer *l = &mdl->layers[idx];
    if (!x || x->dtype != NM_F32)
        return nm_seterr("layer '%s': measured cost needs a float32 input", l->name);
    int64_t B = x->shape[0], C, H, W;
    if (x->ndim == 4)
        C = x->shape[1], H = x->shape[2], W = x->shape[3];
    else if (x->ndim == 2 && l->kind == NM_LAYER_LINEAR)
        C = x->shape[1], H = W = 1;
    else
        return nm_seterr("layer '%s': input must be NCHW (or (batch, features) for linear)", l->name);
    int linear = l->kind == NM_LAYER_LINEAR;
    if (C != l->in_c || (!linear && (H != l->in_h || W != l->in_w)))
        return nm_seterr("layer '%s': input [%lld, %lld, %lld, %lld] does not match the layer's (%d, %d, %d)",
                         l->name, (long long)B, (long long)C, (long long)H, (long long)W, l->in_c,
                         l->in_h, l->in_w);
    int kh = linear ? 1 : l->kh, kw = linear ? 1 : l->kw;
    int sh = linear ? 1 : l->stride_h, sw = linear ? 1 : l->stride_w;
    int ph = linear ? 0 : l->pad_h, pw = linear ? 0 : l->pad_w;
    int64_t OH = linear ? H : l->out_h, OW = linear ? W : l->out_w;
    int64_t rows = l->weight->shape[0], cg = l->weight->shape[1], K = (int64_t)kh * kw;
    int64_t D = cg * K, groups = C / cg, per = rows / groups;
    const float *w = nm_f32(l->weight), *xv = nm_f32(x);
    const uint8_t *mk = l->mask ? nm_u8(l->mask) : NULL;
    int64_t total = 0;
#pragma omp parallel for schedule(dynamic) reduction(+ : total)
    for (int64_t c = 0; c < C; c++) {
        int64_t g = c / cg, lc = c % cg;
        for (int64_t k = 0; k < K; k++) {
            int ky = (int)(k / kw), kx = (int)(k % kw);
            int64_t wc = 0;   /* nonzero weights in column (lc, ky, kx) of group g */
            for (int64_t o = g * per; o < (g + 1) * per; o++) {
                int64_t p = o * D + lc * K + k;
                wc += w[p] != 0.0f && (!mk || mk[p]);
            }
            if (!wc)
                continue;
            int64_t xc = 0;   /* nonzero inputs that column sees */
            for (int64_t b = 0; b < B; b++) {
                const float *xp = xv + (b * C + c) * H * W;
                for (int64_t oy = 0; oy < OH; oy++) {
                    int64_t iy = oy * sh - ph + ky;
                    if (iy < 0 || iy >= H)
                        continue;
                    for (int64_t ox = 0; ox < OW; ox++) {
                        int64_t ix = ox * sw - pw + kx;
                        xc += ix >= 0 && ix < W && xp[iy * W + ix] != 0.0f;
                    }
                }
            }
            total += xc * wc;
        }
    }
    *products = total;
    return NM_OK;
}

int nm_storage_layer(const nm_model *mdl, int idx, int n, int m, nm_group_axis axis, nm_storage *s)
{
    if (check_layer(mdl, idx))
        return NM_ERR;
    const nm_layer *l = &mdl->layers[idx];
    if (n == 0 && m == 0)
        n = l->wn, m = l->wm;
    if (m < 0 || n < 0 || n > m || m > 64)
        return nm_seterr("layer '%s': impossible N:M %d:%d for storage", l->name, n, m);
    if (axis == NM_GROUP_AUTO)
        axis = nm_group_axis_default(l);
    memset(s, 0, sizeof *s);
    const nm_tensor *wt = l->weight;
    int64_t rows = wt->shape[0], cg = wt->shape[1];
    int64_t K = wt->ndim == 4 ? wt->shape[2] * wt->shape[3] : 1, D = cg * K;
    const float *w = nm_f32(wt);
    const uint8_t *mk = l->mask ? nm_u8(l->mask) : NULL, *fk = l->filters ? nm_u8(l->filters) : NULL;
    int64_t rk = 0, nz = 0;
    for (int64_t o = 0; o < rows; o++) {
        if (fk && !fk[o])
            continue;
        rk++;
        for (int64_t j = 0; j < D; j++)
            nz += w[o * D + j] != 0.0f && (!mk || mk[o * D + j]);
    }
    int in_kept = nm_keep_count(l->in_chans, l->in_c);
    int64_t ck = l->kind == NM_LAYER_DWCONV ? 1
                 : (cg * in_kept + l->in_c - 1) / (l->in_c ? l->in_c : 1);
    s->params = wt->numel;
    s->nonzeros = nz;
    s->dense_bits = 8 * wt->numel;
    s->value_bits = 8 * nz;
    if (m == 0) { /* dense: every kept weight slot is stored, no index */
        s->value_bits = 8 * rk * ck * K;
        return NM_OK;
    }
    /* groups of the compacted matrix, counted by length */
    int64_t nseg, seglen;
    switch (axis) {
    case NM_GROUP_KERNEL: nseg = ck, seglen = K; break;
    case NM_GROUP_IN: nseg = K, seglen = ck; break;
    default: nseg = 1, seglen = ck * K; break;
    }
    int64_t full = seglen / m, part = seglen % m;
    int64_t segs = rk * nseg;
    int pn = (int)(part < n ? part : n);
    s->groups = segs * (full + (part > 0));
    s->simple_bits = nz * nm_ceil_log2((uint64_t)m);
    s->bitmask_bits = segs * (full * m + part);
    s->combinatorial_bits = segs * (full * nm_ceil_log2(nm_binom(m, n)) +
                                    (part ? nm_ceil_log2(nm_binom((int)part, pn)) : 0));
    return NM_OK;
}

int nm_storage_model(const nm_model *mdl, nm_storage *s)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < mdl->n_layers; i++) {
        if (!nm_layer_prunable(&mdl->layers[i]) || !mdl->layers[i].weight)
            continue;
        nm_storage t;
        if (nm_storage_layer(mdl, i, 0, 0, NM_GROUP_AUTO, &t))
            return NM_ERR;
        s->params += t.params;
        s->nonzeros += t.nonzeros;
        s->groups += t.groups;
        s->dense_bits += t.dense_bits;
        s->value_bits += t.value_bits;
        s->simple_bits += t.simple_bits;
        s->bitmask_bits += t.bitmask_bits;
        s->combinatorial_bits += t.combinatorial_bits;
    }
    return NM_OK;
}
