/* global.c - global magnitude pruning across a model with exact selection
 * and per-layer floors.
 *
 * Without floors this is one selection over all eligible layers that keeps
 * all but round(sparsity * total) of them (nm_select_keep).
 * With a floor (min_density / max_sparsity) a layer may lose at most
 * `room` more weights. The unconstrained selection is counted first; every
 * layer it would push past its room is capped (its own `room` smallest go)
 * and leaves the pool, and the rest is selected again. Capping a layer
 * only raises the threshold for the others, so a layer capped once stays
 * capped and the loop ends after at most one pass per layer. */
#include "prune_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void nm_global_opts_init(nm_global_opts *o, double sparsity)
{
    memset(o, 0, sizeof *o);
    o->sparsity = sparsity;
    o->max_sparsity = 1.0;
}

int nm_prune_global(nm_model *mdl, const nm_global_opts *o)
{
    if (!(o->sparsity >= 0 && o->sparsity <= 1))
        return nm_seterr("global sparsity must be in [0, 1], not %g", o->sparsity);
    if (o->calib) {     /* Wanda: the same selection on |w| x input norm */
        nm_global_opts p = *o;
        p.calib = NULL;
        nm_wanda_saved sv = {0};
        if (nm_calib_check(mdl, o->calib, &o->scope) || nm_wanda_scale(mdl, o->calib, &sv))
            return NM_ERR;
        int rc = nm_prune_global(mdl, &p);
        nm_wanda_unscale(mdl, &sv);
        nm_wanda_saved_free(&sv);
        return rc;
    }
    if (!(o->min_density >= 0 && o->min_density <= 1) || !(o->max_sparsity >= 0 && o->max_sparsity <= 1))
        return nm_seterr("min_density and max_sparsity must be in [0, 1]");
    double floor_d = o->min_density > 1 - o->max_sparsity ? o->min_density : 1 - o->max_sparsity;
    nm_select_seg *segs = calloc((size_t)mdl->n_layers + 1, sizeof *segs);
    int64_t *room = calloc((size_t)mdl->n_layers + 1, sizeof *room);
    int64_t *take = calloc((size_t)mdl->n_layers + 1, sizeof *take);
    int rc = NM_ERR;
    if (!segs || !room || !take) {
        nm_seterr("out of memory");
        goto done;
    }
    int ns = 0;
    int64_t total = 0, masked = 0;
    for (int i = 0; i < mdl->n_layers; i++) {
        if (!nm_prune_eligible(mdl, i, &o->scope, NULL))
            continue;
        nm_layer *l = &mdl->layers[i];
        if (nm_layer_ensure_mask(l))
            goto done;
        /* without a floor the masked count is not needed here: the
         * selection counts the eligible entries in its own pass */
        int64_t n = l->weight->numel, z = floor_d > 0 ? n - nm_tensor_nnz(l->mask) : 0;
        const uint8_t *mk = nm_u8(l->mask);
        total += n;
        masked += z;
        int64_t cap = n - (int64_t)ceil(floor_d * (double)n - 1e-9);
        room[ns] = cap - z > 0 ? cap - z : 0;
        segs[ns++] = (nm_select_seg){nm_f32(l->weight), mk, nm_u8(l->mask), n};
    }
    if (floor_d <= 0) {    /* keep all but round(sparsity * total) */
        rc = nm_select_keep(segs, ns, total - llround(o->sparsity * (double)total));
        goto done;
    }
    int64_t k = llround(o->sparsity * (double)total) - masked;
    if (k <= 0) {
        rc = NM_OK;
        goto done;
    }
    int64_t room_total = 0;
    for (int s = 0; s < ns; s++)
        room_total += room[s];
    if (k > room_total) {
        nm_seterr("global sparsity %g is not reachable: the per-layer floor (density %g) "
                  "leaves only %lld of the %lld weights still to prune",
                  o->sparsity, floor_d, (long long)room_total, (long long)k);
        goto done;
    }
    /* active segments are compacted to the front of segs/room; without a
     * floor every layer's room is all it has left, so no cap can bind */
    while (floor_d > 0) {
        if (nm_select_count(segs, ns, k, take))
            goto done;
        int capped = 0, keep = 0;
        for (int s = 0; s < ns; s++) {
            if (take[s] > room[s]) {
                if (nm_select_smallest(&segs[s], 1, room[s]))
                    goto done;
                k -= room[s];
                capped = 1;
            } else {
                segs[keep] = segs[s];
                room[keep++] = room[s];
            }
        }
        ns = keep;
        if (!capped)
            break;
    }
    rc = nm_select_smallest(segs, ns, k);
done:
    free(segs);
    free(room);
    free(take);
    return rc;
}
