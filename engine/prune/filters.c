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
void nm_clear_in_channel(nm_layer *c, int64_t ch)
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
void nm_clear_filter(nm_model *mdl, int idx, int64_t t)
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
    nm_clear_filter(mdl, idx, t);
    int cons[512], feeds = 0;
    int nc = nm_model_channel_consumers(mdl, idx, cons, 512, &feeds);
    for (int i = 0; i < nc; i++) {
        nm_layer *c = &mdl->layers[cons[i]];
        if (!c->weight || c->in_c % l->out_c || !all_producers_lost(mdl, cons[i], t))
            continue;
        if (nm_layer_ensure_keep(c))
            return NM_ERR;
        if (c->kind == NM_LAYER_DWCONV) {
            nm_clear_filter(mdl, cons[i], t);
            continue;
        }
        int64_t block = c->in_c / l->out_c;
        for (int64_t ch = (int64_t)t * block; ch < (int64_t)(t + 1) * block; ch++)
            nm_clear_in_channel(c, ch);
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

static double score_l1(const nm_model *m, int layer, int row, void *ud)
{
    (void)ud;
    return row_mean_abs(&m->layers[layer], row);
}

static double score_bn(const nm_model *m, int layer, int row, void *ud)
{
    (void)ud;
    int bn = nm_model_bn_of(m, layer);
    return bn >= 0 ? fabs(nm_f32(m->layers[bn].gamma)[row]) : 0.0;
}

/* Filter pruning on channel groups: a group (a filter with every entry
 * tied to it, see groups.c) goes as a whole; its score aggregates its
 * rows' scores. Scores are taken on the model as it is when the ranking
 * is made (once, before any removal). */
int nm_prune_filters(nm_model *mdl, const nm_filter_opts *o)
{
    if (!(o->ratio >= 0 && o->ratio < 1))
        return nm_seterr("filter ratio must be in [0, 1), not %g", o->ratio);
    if (nm_filter_min_kept(1, o->min_density, o->max_sparsity) < 0)
        return NM_ERR;
    if (o->calib) {     /* Wanda: rows scored by the mean of |w| x input norm */
        if (o->criterion != NM_FILTER_L1)
            return nm_seterr("filters: calibration scores (wanda) replace the L1 criterion, "
                             "not the BN one");
        nm_filter_opts p = *o;
        p.calib = NULL;
        nm_wanda_saved sv = {0};
        if (nm_calib_check(mdl, o->calib, &o->scope) || nm_wanda_scale(mdl, o->calib, &sv))
            return NM_ERR;
        int rc = nm_prune_filters(mdl, &p);
        nm_wanda_unscale(mdl, &sv);
        nm_wanda_saved_free(&sv);
        return rc;
    }
    if ((int)o->reduction < 0 || o->reduction > NM_GRED_MAX)
        return nm_seterr("group_reduction %d is not mean, sum or max", (int)o->reduction);
    if (nm_groups_check_heads(mdl, o->heads))
        return NM_ERR;
    if ((o->ratio > 0 || o->heads > 0) && (o->max_sparsity == 0 || o->min_density == 1))
        return nm_seterr("%s %g forbids removing any filter (ratio %g)",
                         o->max_sparsity == 0 ? "max_sparsity" : "min_density",
                         o->max_sparsity == 0 ? o->max_sparsity : o->min_density, o->ratio);
    if (o->unmet)
        *o->unmet = 0;
    int need_bn = o->criterion == NM_FILTER_BN;
    nm_group_opts go;
    nm_group_opts_init(&go);
    go.allow_add = o->allow_add;
    go.heads = o->heads;
    go.scope = o->scope;
    nm_group_set *s = nm_prune_groups(mdl, &go);
    if (!s)
        return NM_ERR;
    nm_group_rank r = {o->reduction, need_bn ? score_bn : score_l1, NULL, need_bn,
                       o->min_density, o->max_sparsity, o->normalize};
    int64_t unmet = 0, got = 0;
    int rc = NM_OK;
    if (o->heads > 0)
        rc = nm_groups_remove_heads(mdl, s, &r, o->heads);
    if (rc == NM_OK && o->global) {
        int64_t F = 0, removed = 0;
        nm_group_rows_total(mdl, s, need_bn, &F, &removed);
        int64_t want = llround(o->ratio * (double)F) - removed;
        rc = nm_groups_remove_lowest(mdl, s, &r, -1, want, &got);
        unmet = want > got ? want - got : 0;
    } else if (rc == NM_OK) {
        for (int i = 0; i < mdl->n_layers && rc == NM_OK; i++) {
            const nm_layer *l = &mdl->layers[i];
            if (!nm_filter_eligible(mdl, i, &o->scope, o->allow_add, need_bn))
                continue;
            int64_t want = llround(o->ratio * l->out_c) - (l->out_c - nm_filters_kept(l));
            rc = nm_groups_remove_lowest(mdl, s, &r, i, want, &got);
            unmet += want > got ? want - got : 0;
        }
    }
    nm_group_set_free(s);
    if (o->unmet && rc == NM_OK)
        *o->unmet = unmet;
    return rc;
}
