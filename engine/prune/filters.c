/* filters.c - filter (output channel) pruning by L1 norm or |BN gamma|,
 * per layer or global, with propagation along the channel graph. */
#include "prune_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int nm_feeds_add(const nm_model *mdl, int idx)
{
    int out[256], feeds = 0;
    nm_model_channel_consumers(mdl, idx, out, 256, &feeds);
    return feeds;
}

/* Clears the mask columns of input channel ch of layer c (grouped convs:
 * only the rows of ch's group). */
static void clear_in_channel(nm_layer *c, int64_t ch)
{
    nm_u8(c->in_chans)[ch] = 0;
    uint8_t *mk = nm_u8(c->mask);
    int64_t rows = c->weight->shape[0], cg = c->weight->shape[1];
    int64_t K = c->weight->ndim == 4 ? c->weight->shape[2] * c->weight->shape[3] : 1;
    int64_t D = cg * K, g = c->kind == NM_LAYER_LINEAR ? 1 : (c->groups > 0 ? c->groups : 1);
    if (c->kind == NM_LAYER_DWCONV)
        g = rows;
    int64_t grp = ch / cg, local = ch % cg, per = rows / g;
    for (int64_t o = grp * per; o < (grp + 1) * per && o < rows; o++)
        memset(mk + o * D + local * K, 0, (size_t)K);
}

/* Clears filter t of l: keep bit, mask row, bias, BN scale and shift. */
static void clear_filter(nm_model *mdl, int idx, int64_t t)
{
    nm_layer *l = &mdl->layers[idx];
    int64_t D = nm_layer_cols(l);
    nm_u8(l->filters)[t] = 0;
    memset(nm_u8(l->mask) + t * D, 0, (size_t)D);
    if (l->bias)
        nm_f32(l->bias)[t] = 0.0f;
    int bn = nm_model_bn_of(mdl, idx);
    if (bn >= 0) {
        nm_f32(mdl->layers[bn].gamma)[t] = 0.0f;
        nm_f32(mdl->layers[bn].beta)[t] = 0.0f;
    }
    if (l->kind == NM_LAYER_DWCONV)
        nm_u8(l->in_chans)[t] = 0;
}

/* 1 if every producer of layer c's input channels has lost channel t. */
static int all_producers_lost(const nm_model *mdl, int c, int64_t t)
{
    int prod[64], through = 0;
    int np = nm_model_channel_producers(mdl, c, prod, 64, &through);
    if (np == 0)
        return 0;
    for (int i = 0; i < np; i++) {
        const nm_layer *p = &mdl->layers[prod[i]];
        if (t >= p->out_c || !p->filters || nm_u8(p->filters)[t])
            return 0;
    }
    return 1;
}

int nm_remove_filter(nm_model *mdl, int idx, int t)
{
    if (idx < 0 || idx >= mdl->n_layers || !nm_layer_prunable(&mdl->layers[idx]))
        return nm_seterr("remove filter: layer %d is not a prunable layer", idx);
    nm_layer *l = &mdl->layers[idx];
    if (t < 0 || t >= l->out_c)
        return nm_seterr("layer '%s': filter %d out of range 0..%d", l->name, t, l->out_c - 1);
    if (nm_layer_ensure_keep(l))
        return NM_ERR;
    clear_filter(mdl, idx, t);
    int cons[512], feeds = 0;
    int nc = nm_model_channel_consumers(mdl, idx, cons, 512, &feeds);
    for (int i = 0; i < nc; i++) {
        nm_layer *c = &mdl->layers[cons[i]];
        if (!c->weight || c->in_c % l->out_c || !all_producers_lost(mdl, cons[i], t))
            continue;
        if (nm_layer_ensure_keep(c))
            return NM_ERR;
        if (c->kind == NM_LAYER_DWCONV) {
            clear_filter(mdl, cons[i], t);
            continue;
        }
        int64_t block = c->in_c / l->out_c;
        for (int64_t ch = (int64_t)t * block; ch < (int64_t)(t + 1) * block; ch++)
            clear_in_channel(c, ch);
    }
    return NM_OK;
}

void nm_filter_opts_init(nm_filter_opts *o, double ratio)
{
    memset(o, 0, sizeof *o);
    o->ratio = ratio;
    o->criterion = NM_FILTER_L1;
    o->global = 1;
    o->max_sparsity = 1.0;
}

int nm_filter_min_kept(int out_c, double min_density, double max_sparsity)
{
    if (!(min_density >= 0 && min_density <= 1))
        return nm_seterr("min_density must be in [0, 1], not %g", min_density), -1;
    if (!(max_sparsity >= 0 && max_sparsity <= 1))
        return nm_seterr("max_sparsity must be in [0, 1], not %g", max_sparsity), -1;
    if (min_density != 0 && max_sparsity != 1 && fabs(min_density - (1 - max_sparsity)) > 1e-9)
        return nm_seterr("min_density %g and max_sparsity %g disagree (give one, or "
                         "min_density = 1 - max_sparsity)", min_density, max_sparsity), -1;
    int64_t by_cap = out_c - (int64_t)floor(max_sparsity * out_c + 1e-9);
    int64_t by_floor = (int64_t)ceil(min_density * out_c - 1e-9);
    int64_t k = by_cap > by_floor ? by_cap : by_floor;
    return (int)(k > 1 ? k : 1);
}

typedef struct {
    double score;
    int layer, t;
} fscore;

static int fscore_cmp(const void *a, const void *b)
{
    const fscore *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    if (x->layer != y->layer)
        return x->layer < y->layer ? -1 : 1;
    return (x->t > y->t) - (x->t < y->t);
}

/* Mean |w| over row t with masked entries counted as 0. */
static double row_mean_abs(const nm_layer *l, int64_t t)
{
    int64_t D = nm_layer_cols(l);
    double s = nm_row_abs_sum(nm_f32(l->weight) + t * D, l->mask ? nm_u8(l->mask) + t * D : NULL, D);
    return D ? s / (double)D : 0;
}

/* 1 if filter pruning may touch layer i (dwconv channels follow their
 * producer, so they are never chosen directly). */
int nm_filter_eligible(const nm_model *mdl, int i, const nm_prune_scope *scope, int allow_add,
                           int need_bn)
{
    if (!nm_prune_eligible(mdl, i, scope, NULL) || mdl->layers[i].kind == NM_LAYER_DWCONV)
        return 0;
    if (!allow_add && nm_feeds_add(mdl, i))
        return 0;
    return !need_bn || nm_model_bn_of(mdl, i) >= 0;
}

int nm_prune_filters(nm_model *mdl, const nm_filter_opts *o)
{
    if (!(o->ratio >= 0 && o->ratio < 1))
        return nm_seterr("filter ratio must be in [0, 1), not %g", o->ratio);
    if (nm_filter_min_kept(1, o->min_density, o->max_sparsity) < 0)
        return NM_ERR;
    if (o->unmet)
        *o->unmet = 0;
    int need_bn = o->criterion == NM_FILTER_BN;
    int64_t total = 0;
    for (int i = 0; i < mdl->n_layers; i++)
        if (nm_filter_eligible(mdl, i, &o->scope, o->allow_add, need_bn))
            total += mdl->layers[i].out_c;
    fscore *sc = malloc((size_t)(total ? total : 1) * sizeof *sc);
    int *kept = calloc((size_t)mdl->n_layers, sizeof *kept);
    int *floor_k = calloc((size_t)mdl->n_layers, sizeof *floor_k);
    if (!sc || !kept || !floor_k) {
        free(sc);
        free(kept);
        free(floor_k);
        return nm_seterr("out of memory");
    }
    int64_t ns = 0, removed = 0, unmet = 0;
    int rc = NM_OK;
    for (int i = 0; i < mdl->n_layers && rc == NM_OK; i++) {
        if (!nm_filter_eligible(mdl, i, &o->scope, o->allow_add, need_bn))
            continue;
        nm_layer *l = &mdl->layers[i];
        int bn = nm_model_bn_of(mdl, i);
        kept[i] = nm_filters_kept(l);
        floor_k[i] = nm_filter_min_kept(l->out_c, o->min_density, o->max_sparsity);
        removed += l->out_c - kept[i];
        int64_t first = ns;
        for (int t = 0; t < l->out_c; t++) {
            if (l->filters && !nm_u8(l->filters)[t])
                continue;
            double s = need_bn ? fabs(nm_f32(mdl->layers[bn].gamma)[t]) : row_mean_abs(l, t);
            sc[ns++] = (fscore){s, i, t};
        }
        if (!o->global) {
            /* per layer: remove up to round(ratio * out_c) in total, within the cap */
            int64_t want = llround(o->ratio * l->out_c) - (l->out_c - kept[i]);
            if (want > kept[i] - floor_k[i]) {
                unmet += want - (kept[i] - floor_k[i]);
                want = kept[i] - floor_k[i] > 0 ? kept[i] - floor_k[i] : 0;
            }
            qsort(sc + first, (size_t)(ns - first), sizeof *sc, fscore_cmp);
            for (int64_t j = 0; j < want && rc == NM_OK; j++)
                rc = nm_remove_filter(mdl, i, sc[first + j].t);
            ns = first;
        }
    }
    if (o->global && rc == NM_OK) {
        int64_t want = llround(o->ratio * (double)total) - removed;
        qsort(sc, (size_t)ns, sizeof *sc, fscore_cmp);
        for (int64_t j = 0; j < ns && want > 0 && rc == NM_OK; j++) {
            if (kept[sc[j].layer] <= floor_k[sc[j].layer])
                continue;    /* at its cap: the next-ranked filter elsewhere goes */
            rc = nm_remove_filter(mdl, sc[j].layer, sc[j].t);
            kept[sc[j].layer]--;
            want--;
        }
        unmet = want > 0 ? want : 0;
    }
    if (o->unmet && rc == NM_OK)
        *o->unmet = unmet;
    free(sc);
    free(kept);
    free(floor_k);
    return rc;
}
