/* nffs.c - NFFS on one layer: N:M first, then remove the filters with the
 * smallest L1 norm of what N:M left (JOINTNF.md section 3). The N:M step
 * removes the same entries whichever rows go, so taking the rows with the
 * smallest surviving L1 minimises the total |w| removed. */
#include "prune_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    double l1;
    int row;
} row_l1;

static int row_l1_cmp(const void *a, const void *b)
{
    const row_l1 *x = a, *y = b;
    if (x->l1 != y->l1)
        return x->l1 < y->l1 ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

int nm_nffs_u(const nm_layer *l, double ratio)
{
    return (int)llround(ratio * (double)nm_layer_rows(l));
}

int nm_prune_nffs(nm_model *mdl, int idx, int n, int m, nm_group_axis axis, int u, int propagate)
{
    if (idx < 0 || idx >= mdl->n_layers || !nm_layer_prunable(&mdl->layers[idx]))
        return nm_seterr("NFFS: layer %d is not a prunable layer", idx);
    nm_layer *l = &mdl->layers[idx];
    int64_t rows = nm_layer_rows(l), D = nm_layer_cols(l);
    if (u < 0 || u >= rows)
        return nm_seterr("layer '%s': NFFS cannot remove %d of %lld filters (need 0 <= u < %lld)",
                         l->name, u, (long long)rows, (long long)rows);
    nm_groups g;
    if (nm_nm_layer_geom(l, n, m, axis, &g) || nm_layer_ensure_keep(l))
        return NM_ERR;
    int kept = nm_filters_kept(l);
    int need = u - (int)(rows - kept);
    row_l1 *r = malloc((size_t)(kept ? kept : 1) * sizeof *r);
    double *l1 = malloc((size_t)(rows ? rows : 1) * sizeof *l1);
    if (!r || !l1) {
        free(r);
        free(l1);
        return nm_seterr("out of memory");
    }
    const float *w = nm_f32(l->weight);
    uint8_t *mk = nm_u8(l->mask);
    const uint8_t *fk = nm_u8(l->filters);
    /* N:M and the row's surviving L1 in one pass: the row is summed right
     * after its N:M, while it is still in cache */
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < rows; t++) {
        nm_nm_row(&g, w, mk, NULL, t, n);
        if (need > 0)
            l1[t] = nm_row_abs_sum(w + t * D, mk + t * D, D);
    }
    l->wn = n;
    l->wm = m;
    if (need <= 0) {
        free(r);
        free(l1);
        return NM_OK;
    }
    int nr = 0;
    for (int64_t t = 0; t < rows; t++)
        if (fk[t])
            r[nr++] = (row_l1){l1[t], (int)t};
    free(l1);
    qsort(r, (size_t)nr, sizeof *r, row_l1_cmp);
    int rc = NM_OK;
    /* with propagation each row goes with its channel group (groups.c)
     * when that group may go; otherwise (a residual stream, a pinned
     * channel) the row alone is cleared, as nm_remove_filter does */
    nm_group_set *gs = NULL;
    int *gof = NULL;
    if (propagate) {
        nm_group_opts go;
        nm_group_opts_init(&go);
        go.scope.include_first = go.scope.include_last = 1;
        if (!(gs = nm_prune_groups(mdl, &go)) || !(gof = malloc((size_t)rows * sizeof *gof))) {
            if (gs)
                nm_seterr("out of memory");
            nm_group_set_free(gs);
            free(r);
            return NM_ERR;
        }
        for (int64_t t = 0; t < rows; t++)
            gof[t] = -1;
        for (int g = 0; g < gs->n_groups; g++)
            for (int k = 0; k < gs->groups[g].count; k++) {
                const nm_group_member *mb = &gs->members[gs->groups[g].first + k];
                if (mb->layer == idx && mb->axis == NM_GM_OUT)
                    gof[mb->index] = g;
            }
    }
    /* a group may hold several rows of this layer (an attention head
     * dimension: its Q and K rows in every head); it is taken only when
     * they all fit in what is left to remove, else the row goes alone */
    int left = need;
    for (int i = 0; i < nr && left > 0 && rc == NM_OK; i++) {
        if (!nm_u8(l->filters)[r[i].row])
            continue;   /* gone with an earlier group */
        if (propagate) {
            int g = gof[r[i].row], mine = 0;
            for (int k = 0; g >= 0 && k < gs->groups[g].count; k++) {
                const nm_group_member *mb = &gs->members[gs->groups[g].first + k];
                mine += mb->layer == idx && mb->axis == NM_GM_OUT;
            }
            if (g >= 0 && mine <= left && nm_group_can_remove(mdl, gs, g, 0, 1)) {
                rc = nm_group_remove(mdl, gs, g);
                left -= mine;
            } else {
                rc = nm_remove_filter(mdl, idx, r[i].row);
                left--;
            }
        } else {
            left--;
            nm_u8(l->filters)[r[i].row] = 0;
            memset(nm_u8(l->mask) + (int64_t)r[i].row * D, 0, (size_t)D);
        }
    }
    free(r);
    free(gof);
    nm_group_set_free(gs);
    return rc;
}
