/* group_rank.c - removing the lowest-scoring channel groups: the shared
 * step of filter pruning and JointNF (global or per layer), and whole
 * attention heads. */
#include "prune_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int nm_group_batch_clears = 1;

typedef struct {
    double score;
    int g;
} gscore;

static int gscore_cmp(const void *a, const void *b)
{
    const gscore *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    return (x->g > y->g) - (x->g < y->g);
}

int nm_group_candidate(const nm_model *m, const nm_group_set *s, int g, int need_bn)
{
    const nm_channel_group *G = &s->groups[g];
    if (!G->prunable || G->head >= 0 || G->rows < 1)
        return 0;
    if (!need_bn)
        return 1;
    for (int k = 0; k < G->count; k++) {
        const nm_group_member *mb = &s->members[G->first + k];
        if (mb->axis == NM_GM_OUT && m->layers[mb->layer].kind != NM_LAYER_DWCONV &&
            nm_model_bn_of(m, mb->layer) < 0)
            return 0;
    }
    return 1;
}

void nm_group_rows_total(const nm_model *m, const nm_group_set *s, int need_bn, int64_t *F,
                         int64_t *removed)
{
    *F = 0, *removed = 0;
    for (int g = 0; g < s->n_groups; g++) {
        const nm_channel_group *G = &s->groups[g];
        if (G->head >= 0)
            continue;
        if (G->removed) {
            *F += G->rows;
            *removed += G->rows;
        } else if (nm_group_candidate(m, s, g, need_bn)) {
            *F += G->rows;
        }
    }
}

/* Divides each score by the mean score of its family: the candidates led
 * by the same layer (nm_group_lead). A family whose mean is 0 keeps its
 * scores (all 0). NM_ERR only when out of memory. */
static int normalize_mean(const nm_model *m, const nm_group_set *s, gscore *sc, int ns)
{
    double *sum = calloc((size_t)m->n_layers + 1, sizeof *sum);
    int *cnt = calloc((size_t)m->n_layers + 1, sizeof *cnt);
    int *fam = malloc((size_t)(ns ? ns : 1) * sizeof *fam);
    if (!sum || !cnt || !fam) {
        free(sum), free(cnt), free(fam);
        return NM_ERR;
    }
    for (int j = 0; j < ns; j++) {
        int f = nm_group_lead(m, s, sc[j].g);
        fam[j] = f < 0 ? m->n_layers : f;
        sum[fam[j]] += sc[j].score;
        cnt[fam[j]]++;
    }
    for (int j = 0; j < ns; j++) {
        double mean = sum[fam[j]] / cnt[fam[j]];
        if (mean > 0)
            sc[j].score /= mean;
    }
    free(sum), free(cnt), free(fam);
    return NM_OK;
}

int nm_groups_remove_lowest(nm_model *m, nm_group_set *s, const nm_group_rank *r, int lead,
                            int64_t want, int64_t *removed)
{
    *removed = 0;
    if (want <= 0)
        return NM_OK;
    gscore *sc = malloc((size_t)(s->n_groups ? s->n_groups : 1) * sizeof *sc);
    if (!sc)
        return nm_seterr("out of memory");
    int ns = 0;
    for (int g = 0; g < s->n_groups; g++) {
        if (!nm_group_candidate(m, s, g, r->need_bn))
            continue;
        int has = lead < 0;
        for (int k = 0; !has && k < s->groups[g].count; k++) {
            const nm_group_member *mb = &s->members[s->groups[g].first + k];
            has = mb->layer == lead && mb->axis == NM_GM_OUT;
        }
        if (has)
            sc[ns++] = (gscore){nm_group_score(m, s, g, r->reduction, r->fn, r->ud), g};
    }
    if (lead < 0 && r->normalize == NM_GNORM_MEAN && normalize_mean(m, s, sc, ns)) {
        free(sc);
        return nm_seterr("out of memory");
    }
    qsort(sc, (size_t)ns, sizeof *sc, gscore_cmp);
    int rc = NM_OK;
    /* nothing below reads the masks: input-channel clears wait till the end */
    nm_in_clears pend = {0};
    nm_in_clears *pp = nm_group_batch_clears ? &pend : NULL;
    for (int j = 0; j < ns && want > 0 && rc == NM_OK; j++) {
        int g = sc[j].g;
        int rows = s->groups[g].rows;
        if (lead >= 0) { /* per layer: count that layer's rows only */
            rows = 0;
            for (int k = 0; k < s->groups[g].count; k++) {
                const nm_group_member *mb = &s->members[s->groups[g].first + k];
                rows += mb->layer == lead && mb->axis == NM_GM_OUT;
            }
        }
        /* a group larger than what is left is skipped for a smaller one:
         * the target is never overshot */
        if (rows > want || !nm_group_can_remove(m, s, g, r->min_density, r->max_sparsity))
            continue;
        rc = nm_group_remove_deferred(m, s, g, pp);
        want -= rows;
        *removed += rows;
    }
    nm_in_clears_flush(m, &pend);
    free(sc);
    return rc;
}

int nm_groups_check_heads(const nm_model *m, int heads)
{
    if (heads < 0)
        return nm_seterr("heads must be >= 0, not %d", heads);
    if (heads == 0)
        return NM_OK;
    int found = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        if (l->kind != NM_LAYER_MATMUL || l->groups != 1)
            continue;
        found = 1;
        if (heads >= l->heads)
            return nm_seterr("heads = %d: attention '%s' has %d heads and keeps at least one",
                             heads, l->name, l->heads > 0 ? l->heads : 1);
    }
    if (!found)
        return nm_seterr("heads = %d: model '%s' has no attention (no q.k^T matmul)", heads,
                         m->name);
    return NM_OK;
}

int nm_groups_check_heads_msg(const nm_model *m, int heads)
{
    return nm_groups_check_heads(m, heads);
}

int nm_groups_remove_heads(nm_model *m, nm_group_set *s, const nm_group_rank *r, int per_layer)
{
    gscore *sc = malloc((size_t)(s->n_groups ? s->n_groups : 1) * sizeof *sc);
    if (!sc)
        return nm_seterr("out of memory");
    int rc = NM_OK;
    for (int a = 0; a < m->n_layers && rc == NM_OK; a++) {
        const nm_layer *l = &m->layers[a];
        if (l->kind != NM_LAYER_MATMUL || l->groups != 1)
            continue;
        int ns = 0, gone = 0;
        for (int g = 0; g < s->n_groups; g++) {
            const nm_channel_group *G = &s->groups[g];
            if (G->attn_layer != a)
                continue;
            if (G->removed)
                gone++;
            else if (G->prunable)
                sc[ns++] = (gscore){nm_group_score(m, s, g, r->reduction, r->fn, r->ud), g};
        }
        qsort(sc, (size_t)ns, sizeof *sc, gscore_cmp);
        for (int j = 0; j < ns && gone < per_layer && rc == NM_OK; j++)
            if (nm_group_can_remove(m, s, sc[j].g, r->min_density, r->max_sparsity)) {
                rc = nm_group_remove(m, s, sc[j].g);
                gone++;
            }
    }
    free(sc);
    return rc;
}
