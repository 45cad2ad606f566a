/* shrink.c - physically removing pruned channels from a model.
 *
 * Channels are tied together in "channel groups": a conv/linear layer's
 * output starts a group, and every layer that maps channel c of its input
 * to channel c of its output (bn, relu, pools, gap, dwconv, nmrelu along
 * positions, gelu, flatten with its feature blocks, and both sides of a
 * residual add of two same-shape producers) joins its input's group. A
 * channel of a group can only be removed from all of its members at once,
 * and that is exact when every value leaving the group on that channel
 * (read by a conv/linear of another group) is either multiplied by zero
 * weights only, or is known to be exactly 0 in nm_forward: a removed
 * filter's output, a BN fed directly by a pruned layer on its removed
 * channels, and what relu, pools, dwconvs and adds make of zeros. Groups
 * touching the model input, a graph output, a grouped conv or any other
 * layer kind (layernorm, softmax, matmul, embed, slice, nmrelu across
 * channels, an add of a constant or a broadcast add, concat, reshape,
 * ...) keep all their channels. Kept rows keep their masks, filters and
 * in_chans entries, so a kept but zeroed filter stays zero. */
#include "shrink.h"

#include "nmio.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const nm_model *m;
    int n;
    int *parent;        /* union-find over layer outputs; n = the model input */
    int *block;         /* features per group channel (flatten: H*W) */
    uint8_t **zero;     /* per layer: output feature known to be 0 */
    uint8_t *pinned;    /* per root: keeps all its channels */
    uint8_t **rm;       /* per root: group channel removable */
} shrinker;

static int find(shrinker *s, int a)
{
    while (s->parent[a] != a)
        a = s->parent[a] = s->parent[s->parent[a]];
    return a;
}

static void unite(shrinker *s, int a, int b)
{
    a = find(s, a), b = find(s, b);
    if (a != b) {
        s->parent[b] = a;
        s->pinned[a] |= s->pinned[b];
    }
}

static int node(const shrinker *s, int src)
{
    return src == NM_INPUT ? s->n : src;
}

static int channel_preserving(const nm_model *m, const nm_layer *l)
{
    switch (l->kind) {
    case NM_LAYER_DWCONV:
    case NM_LAYER_BN:
    case NM_LAYER_RELU:
    case NM_LAYER_MAXPOOL:
    case NM_LAYER_AVGPOOL:
    case NM_LAYER_GAP:
    case NM_LAYER_GELU:
    case NM_LAYER_FLATTEN:
        return 1;
    case NM_LAYER_ADD: {
        /* a residual add of two producers of one shape; an add of a
         * constant or a broadcast add mixes in values per channel */
        if (l->n_inputs != 2 || l->konst)
            return 0;
        int c[2], h[2], w[2];
        for (int k = 0; k < 2; k++)
            nm_model_out_shape(m, l->inputs[k], &c[k], &h[k], &w[k]);
        return c[0] == c[1] && h[0] == h[1] && w[0] == w[1];
    }
    case NM_LAYER_NMRELU:
        return l->act_axis == NM_AXIS_POSITION;
    default:
        return 0;
    }
}

/* Plain conv (one group) or linear: the layers whose input channels can go. */
static int plain_prunable(const nm_layer *l)
{
    return l->kind == NM_LAYER_LINEAR || (l->kind == NM_LAYER_CONV && l->groups <= 1);
}

/* zero[] of a prunable layer's output: row o is 0 when its filter is
 * removed, or its effective bias is 0 and each of its effective nonzero
 * weights reads a zero input channel. used[] (may be NULL): input channel c
 * meets at least one effective nonzero weight. */
static int prunable_rows(const nm_layer *l, const uint8_t *zin, uint8_t *zero, uint8_t *used)
{
    nm_tensor *e = nm_layer_effective_mask(l);
    if (!e)
        return NM_ERR;
    const int64_t rows = nm_layer_rows(l), cols = nm_layer_cols(l);
    const int per_k = l->kind != NM_LAYER_LINEAR && l->kh > 0 ? l->kh * l->kw : 1;
    const int64_t cin_g = cols / per_k;
    const int groups = l->kind == NM_LAYER_LINEAR ? 1 : (l->groups > 0 ? l->groups : 1);
    const int64_t cout_g = rows / groups;
    const uint8_t *ek = nm_u8(e);
    const float *w = nm_f32(l->weight);
    for (int64_t o = 0; o < rows; o++) {
        int fo = !l->filters || nm_u8(l->filters)[o];
        int z = !fo || !l->bias || nm_f32(l->bias)[o] == 0.0f;
        int64_t g = o / cout_g;
        for (int64_t j = 0; j < cols; j++) {
            int64_t k = o * cols + j;
            if (!ek[k] || w[k] == 0.0f)
                continue;
            int64_t c = g * cin_g + j / per_k;
            if (used)
                used[c] = 1;
            if (!zin || !zin[c])
                z = 0;
        }
        zero[o] = (uint8_t)(z || !fo);
    }
    nm_tensor_release(e);
    return NM_OK;
}

/* Forward pass: groups, blocks and known zeros. */
static int analyse(shrinker *s)
{
    const nm_model *m = s->m;
    s->pinned[s->n] = 1;
    s->block[s->n] = 1;
    for (int i = 0; i < s->n; i++) {
        const nm_layer *l = &m->layers[i];
        int x = l->n_inputs > 0 ? node(s, l->inputs[0]) : -1;
        const uint8_t *zin = x >= 0 && x < s->n ? s->zero[x] : NULL;
        uint8_t *z = s->zero[i];
        s->block[i] = 1;
        if (x < 0) { /* detached layer of a topology */
            s->pinned[i] = 1;
            continue;
        }
        if (nm_layer_prunable(l)) {
            if (prunable_rows(l, zin, z, NULL))
                return NM_ERR;
            if (l->kind == NM_LAYER_DWCONV) {
                unite(s, x, i);
                s->block[i] = s->block[x];
            } else if (!plain_prunable(l)) {
                s->pinned[find(s, x)] = 1;
                s->pinned[i] = 1;
            }
            continue;
        }
        if (!channel_preserving(m, l)) {
            for (int k = 0; k < l->n_inputs; k++)
                s->pinned[find(s, node(s, l->inputs[k]))] = 1;
            s->pinned[i] = 1;
            continue;
        }
        int hw = l->in_h * l->in_w;
        for (int c = 0; c < l->out_c; c++) {
            int zc = 0;
            switch (l->kind) {
            case NM_LAYER_FLATTEN:
                zc = zin && zin[c / hw];
                break;
            case NM_LAYER_BN: {
                int src = l->inputs[0];
                const nm_layer *p = src >= 0 ? &m->layers[src] : NULL;
                if (p && nm_layer_prunable(p) && p->filters && !nm_u8(p->filters)[c])
                    zc = 1; /* nm_forward's dead channel */
                else
                    zc = zin && zin[c] && nm_f32(l->beta)[c] == 0.0f &&
                         (nm_f32(l->gamma)[c] == 0.0f || nm_f32(l->mean)[c] == 0.0f);
                break;
            }
            case NM_LAYER_ADD: {
                int y = node(s, l->inputs[1]);
                zc = zin && zin[c] && y < s->n && s->zero[y][c];
                break;
            }
            default:
                zc = zin && zin[c];
                break;
            }
            z[c] = (uint8_t)zc;
        }
        unite(s, x, i);
        s->block[i] = s->block[x] * (l->kind == NM_LAYER_FLATTEN ? hw : 1);
        if (l->kind == NM_LAYER_ADD) {
            int y = node(s, l->inputs[1]);
            if (s->block[y] != s->block[x])
                s->pinned[find(s, x)] = 1;
            unite(s, x, y);
        }
    }
    int outs[NM_MAX_OUTPUTS];
    int n_out = nm_model_outputs(m, outs, NM_MAX_OUTPUTS);
    for (int k = 0; k < n_out && k < NM_MAX_OUTPUTS; k++)
        s->pinned[find(s, node(s, outs[k]))] = 1;
    return NM_OK;
}

/* Channels of each group that every reader outside the group ignores or
 * sees as 0. */
static int removable(shrinker *s)
{
    const nm_model *m = s->m;
    for (int i = 0; i <= s->n; i++) {
        int r = find(s, i);
        if (r != i || s->pinned[r])
            continue;
        int feats = i < s->n ? m->layers[i].out_c : m->in_c;
        int gc = feats / s->block[i];
        if (!(s->rm[r] = malloc((size_t)gc)))
            return nm_seterr("out of memory");
        memset(s->rm[r], 1, (size_t)gc);
    }
    for (int i = 0; i < s->n; i++) {
        const nm_layer *l = &m->layers[i];
        if (!plain_prunable(l) || l->n_inputs < 1)
            continue;
        int x = node(s, l->inputs[0]);
        int r = find(s, x);
        if (s->pinned[r] || x == s->n)
            continue;
        uint8_t *used = calloc((size_t)l->in_c, 1);
        uint8_t *tmp = malloc((size_t)l->out_c);
        if (!used || !tmp) {
            free(used), free(tmp);
            return nm_seterr("out of memory");
        }
        if (prunable_rows(l, s->zero[x], tmp, used)) {
            free(used), free(tmp);
            return NM_ERR;
        }
        for (int f = 0; f < l->in_c; f++)
            if (used[f] && !s->zero[x][f])
                s->rm[r][f / s->block[x]] = 0;
        free(used), free(tmp);
    }
    return NM_OK;
}

/* Kept output features of node v, as a list (*count entries, malloc'd). */
static int *kept_list(shrinker *s, int v, int *count)
{
    int feats = v < s->n ? s->m->layers[v].out_c : s->m->in_c;
    int *k = malloc((size_t)(feats > 0 ? feats : 1) * sizeof *k);
    if (!k) {
        nm_seterr("out of memory");
        return NULL;
    }
    int r = find(s, v), n = 0;
    for (int f = 0; f < feats; f++)
        if (s->pinned[r] || !s->rm[r] || !s->rm[r][f / s->block[v]])
            k[n++] = f;
    *count = n;
    return k;
}

/* t[rows[i], chs[j], k...] for a tensor [O, C, K...] (ndim 2 or 4), or
 * t[rows[i]] for a vector (chs NULL). */
static nm_tensor *pick(const nm_tensor *t, const int *rows, int nr, const int *chs, int nc)
{
    if (!t)
        return NULL;
    int64_t shape[4] = {nr, 0, 0, 0};
    int64_t inner = 1, C = 1;
    if (t->ndim >= 2) {
        C = t->shape[1];
        shape[1] = nc;
        for (int d = 2; d < t->ndim; d++)
            inner *= t->shape[d], shape[d] = t->shape[d];
    }
    nm_tensor *o = nm_tensor_new(t->dtype, t->ndim, shape);
    if (!o)
        return NULL;
    size_t es = nm_dtype_size(t->dtype);
    const uint8_t *src = t->data;
    uint8_t *dst = o->data;
    if (t->ndim < 2) {
        for (int i = 0; i < nr; i++)
            memcpy(dst + (size_t)i * es, src + (size_t)rows[i] * es, es);
        return o;
    }
    for (int i = 0; i < nr; i++)
        for (int j = 0; j < nc; j++)
            memcpy(dst + ((size_t)i * nc + j) * inner * es,
                   src + ((size_t)rows[i] * C + chs[j]) * inner * es, (size_t)inner * es);
    return o;
}

static void drop_params(nm_layer *l)
{
    nm_tensor **ts[NM_LAYER_SLOTS];
    nm_layer_slots(l, ts);
    for (int i = 0; i < NM_LAYER_SLOTS; i++) {
        nm_tensor_release(*ts[i]);
        *ts[i] = NULL;
    }
}

/* Layer i of the new model: a copy of the old one with its parameters cut
 * to the kept rows (out) and input channels (in). */
static int rebuild(shrinker *s, nm_model *out, int i)
{
    const nm_layer *ol = &s->m->layers[i];
    nm_layer l = *ol;
    nm_tensor **slots[NM_LAYER_SLOTS];
    nm_layer_slots(&l, slots);
    for (int k = 0; k < NM_LAYER_SLOTS; k++)
        *slots[k] = NULL;
    int nr = 0, nin = 0, *rows = kept_list(s, i, &nr), *ins = NULL;
    int x = ol->n_inputs > 0 ? node(s, ol->inputs[0]) : -1;
    int rc = NM_ERR;
    if (!rows)
        goto done;
    if (x >= 0) {
        ins = kept_list(s, x, &nin);
    } else if ((ins = malloc((size_t)(ol->in_c > 0 ? ol->in_c : 1) * sizeof *ins))) {
        nin = ol->in_c; /* detached layer: its input is all kept */
        for (int c = 0; c < nin; c++)
            ins[c] = c;
    }
    if (!ins)
        goto done;
    if (nm_layer_prunable(ol)) {
        int bad = 0;
        if (ol->kind == NM_LAYER_DWCONV || !plain_prunable(ol)) {
            /* dwconv: rows are its channels, one input channel each;
             * grouped conv (pinned): everything kept */
            int one = 0, cg = (int)ol->weight->shape[1];
            int *all = malloc((size_t)cg * sizeof *all);
            if (!all)
                goto done;
            for (int j = 0; j < cg; j++)
                all[j] = j;
            l.weight = pick(ol->weight, rows, nr, ol->kind == NM_LAYER_DWCONV ? &one : all,
                            ol->kind == NM_LAYER_DWCONV ? 1 : cg);
            l.mask = ol->mask ? pick(ol->mask, rows, nr, ol->kind == NM_LAYER_DWCONV ? &one : all,
                                     ol->kind == NM_LAYER_DWCONV ? 1 : cg) : NULL;
            free(all);
            bad |= ol->mask && !l.mask;
            if (ol->in_chans && !(l.in_chans = pick(ol->in_chans, ins, nin, NULL, 0)))
                bad = 1;
            if (ol->kind == NM_LAYER_DWCONV) {
                l.out_c = nr;
                l.groups = nr;
            }
        } else {
            l.weight = pick(ol->weight, rows, nr, ins, nin);
            l.mask = ol->mask ? pick(ol->mask, rows, nr, ins, nin) : NULL;
            bad |= ol->mask && !l.mask;
            if (ol->in_chans && !(l.in_chans = pick(ol->in_chans, ins, nin, NULL, 0)))
                bad = 1;
            l.out_c = nr;
        }
        if (!l.weight || bad || (ol->bias && !(l.bias = pick(ol->bias, rows, nr, NULL, 0))) ||
            (ol->filters && !(l.filters = pick(ol->filters, rows, nr, NULL, 0)))) {
            drop_params(&l);
            goto done;
        }
    } else if (ol->kind == NM_LAYER_BN || ol->kind == NM_LAYER_LAYERNORM) {
        nm_tensor **dst[4] = {&l.gamma, &l.beta, &l.mean, &l.var};
        nm_tensor *src[4] = {ol->gamma, ol->beta, ol->mean, ol->var};
        for (int k = 0; k < 4; k++)
            if (src[k] && !(*dst[k] = pick(src[k], rows, nr, NULL, 0))) {
                drop_params(&l);
                goto done;
            }
    } else {
        /* weightless, or pinned (embed, an add of a constant): parameters
         * cloned as they are */
        nm_tensor **src[NM_LAYER_SLOTS];
        nm_layer_slots((nm_layer *)ol, src);
        for (int k = 0; k < NM_LAYER_SLOTS; k++)
            if (*src[k] && !(*slots[k] = nm_tensor_clone(*src[k]))) {
                drop_params(&l);
                goto done;
            }
    }
    if (nm_model_append(out, &l) < 0) {
        drop_params(&l);
        nm_preperr("shrink");
        goto done;
    }
    rc = NM_OK;
done:
    free(rows);
    free(ins);
    return rc;
}

nm_model *nm_model_shrink(const nm_model *m)
{
    int n = m->n_layers;
    if (n < 1) {
        nm_seterr("shrink: the model has no layers");
        return NULL;
    }
    shrinker s = {.m = m, .n = n};
    s.parent = malloc((size_t)(n + 1) * sizeof *s.parent);
    s.block = calloc((size_t)(n + 1), sizeof *s.block);
    s.zero = calloc((size_t)n, sizeof *s.zero);
    s.pinned = calloc((size_t)(n + 1), 1);
    s.rm = calloc((size_t)(n + 1), sizeof *s.rm);
    nm_model *out = NULL;
    int ok = s.parent && s.block && s.zero && s.pinned && s.rm;
    for (int i = 0; ok && i < n; i++)
        ok = (s.zero[i] = calloc((size_t)(m->layers[i].out_c > 0 ? m->layers[i].out_c : 1), 1)) != NULL;
    if (!ok) {
        nm_seterr("out of memory");
        goto done;
    }
    for (int i = 0; i <= n; i++)
        s.parent[i] = i;
    if (analyse(&s) || removable(&s))
        goto done;
    if (!(out = nm_model_new(m->name, m->in_c, m->in_h, m->in_w)))
        goto done;
    out->seed = m->seed;
    for (int i = 0; i < n; i++)
        if (rebuild(&s, out, i)) {
            nm_model_free(out);
            out = NULL;
            goto done;
        }
done:
    if (s.zero)
        for (int i = 0; i < n; i++)
            free(s.zero[i]);
    if (s.rm)
        for (int i = 0; i <= n; i++)
            free(s.rm[i]);
    free(s.parent), free(s.block), free(s.zero), free(s.pinned), free(s.rm);
    return out;
}
