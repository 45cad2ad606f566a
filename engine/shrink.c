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
 * touching a graph input (any of them), a graph output, a grouped conv or any other
 * layer kind (layernorm, softmax, matmul, embed, slice, nmrelu across
 * channels, an add of a constant or a broadcast add, concat, reshape,
 * ...) keep all their channels. Kept rows keep their masks, filters and
 * in_chans entries, so a kept but zeroed filter stays zero. */
#include "shrink.h"

#include "nmio.h"
#include "prune_int.h"

#include <math.h>

#include <stdlib.h>
#include <string.h>

typedef struct {
    const nm_model *m;
    int n, N;           /* layers; nodes (n + k = graph input k) */
    int *parent;        /* union-find over the N nodes */
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
    return nm_is_input(src) ? s->n + nm_input_index(src) : src;
}

/* Node of producer src among a model's nodes: layers 0..n-1, graph input
 * k is node n + k. */
static int node_ix(const nm_model *m, int src)
{
    return nm_is_input(src) ? m->n_layers + nm_input_index(src) : src;
}

/* Nodes of a model: its layers, then its graph inputs. */
static int n_nodes(const nm_model *m) { return m->n_layers + nm_model_n_inputs(m); }

/* Channels of node v (a layer's output, or graph input v - n_layers). */
static int node_feats(const nm_model *m, int v)
{
    if (v < m->n_layers)
        return m->layers[v].out_c;
    int c, h, w;
    nm_model_input_shape(m, v - m->n_layers, &c, &h, &w);
    return c;
}

/* An empty model with m's name, seed and graph inputs (the layers and
 * outputs are the caller's). NULL with a message on failure. */
static nm_model *new_like(const nm_model *m)
{
    nm_model *out = nm_model_new(m->name, m->in_c, m->in_h, m->in_w);
    if (!out)
        return NULL;
    out->seed = m->seed;
    out->n_xin = m->n_xin;
    memcpy(out->in_name, m->in_name, sizeof out->in_name);
    memcpy(out->xin, m->xin, sizeof out->xin);
    return out;
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
    for (int v = s->n; v < s->N; v++) /* graph inputs keep every channel */
        s->pinned[v] = 1, s->block[v] = 1;
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
    for (int i = 0; i < s->N; i++) {
        int r = find(s, i);
        if (r != i || s->pinned[r])
            continue;
        int feats = node_feats(m, i);
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
        if (s->pinned[r] || x >= s->n)
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
    int feats = node_feats(s->m, v);
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

/* ---- the group pre-pass -------------------------------------------------
 *
 * Channel groups (engine/prune/groups.c) reach where the chain analysis
 * below does not: concat offsets, squeeze-excitation products, channel
 * slices and the attention matmuls. A group is cut out of the model here
 * when its filters are all removed, every consumer's input channel of it
 * is cleared (so no weight reads it), it is not pinned (a LayerNorm entry
 * is fine: the masked LayerNorm already skips removed channels), and,
 * for a q.k^T matmul on head dimensions, the removed dimension is exactly
 * 0 on Q or K (so the scores lose a zero term). Everything else inside a
 * group only feeds other members, so its values do not matter. Groups
 * are taken in both attention modes (head dimensions and whole heads). */

/* 1 if feature c of node src (a layer, or NM_INPUT) is exactly 0 in
 * nm_forward: a removed filter, followed through slices and layers that
 * keep 0 at 0. */
static int known_zero(const nm_model *m, int src, int c, int depth)
{
    if (src < 0 || depth > 64)
        return 0;
    const nm_layer *l = &m->layers[src];
    if (nm_layer_prunable(l))
        return l->filters && c < l->out_c && !nm_u8(l->filters)[c];
    if (l->n_inputs < 1)
        return 0;
    int x = l->inputs[0];
    switch (l->kind) {
    case NM_LAYER_BN:
        if (nm_f32(l->gamma)[c] == 0.0f && nm_f32(l->beta)[c] == 0.0f)
            return 1;
        return x >= 0 && nm_layer_prunable(&m->layers[x]) && m->layers[x].filters &&
               !nm_u8(m->layers[x].filters)[c];
    case NM_LAYER_SLICE:
        return known_zero(m, x, l->slice_axis == NM_AXIS_CHANNEL ? c + l->slice_start : c, depth + 1);
    case NM_LAYER_FLATTEN:
        return known_zero(m, x, c / (l->in_h * l->in_w > 0 ? l->in_h * l->in_w : 1), depth + 1);
    case NM_LAYER_RELU:
    case NM_LAYER_NMRELU:
    case NM_LAYER_MAXPOOL:
    case NM_LAYER_AVGPOOL:
    case NM_LAYER_GAP:
    case NM_LAYER_GELU:
    case NM_LAYER_HARDSWISH:
    case NM_LAYER_TANH:
        return known_zero(m, x, c, depth + 1);
    default:
        return 0;
    }
}

static int has_qk(const nm_model *m)
{
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == NM_LAYER_MATMUL && m->layers[i].groups == 1)
            return 1;
    return 0;
}

/* Clears keep[v][c] for the features of every group that may be cut. */
static int group_cuts(const nm_model *m, uint8_t **keep, int *changed)
{
    int n = m->n_layers;
    for (int mode = 0; mode < 2; mode++) {
        if (mode == 1 && !has_qk(m))
            break;
        nm_group_opts o;
        nm_group_opts_init(&o);
        o.allow_add = 1;
        o.heads = mode;
        o.scope.include_first = o.scope.include_last = 1;
        int *eg = NULL;
        int64_t *base = NULL;
        nm_group_set *s = nm_prune_groups_map(m, &o, &eg, &base);
        if (!s)
            return NM_ERR;
        uint8_t *cut = malloc((size_t)(s->n_groups ? s->n_groups : 1));
        if (!cut) {
            nm_group_set_free(s), free(eg), free(base);
            return nm_seterr("out of memory");
        }
        for (int g = 0; g < s->n_groups; g++) {
            const nm_channel_group *G = &s->groups[g];
            int ok = G->removed && !G->pinned;
            for (int k = 0; ok && k < G->count; k++) {
                const nm_group_member *mb = &s->members[G->first + k];
                const nm_layer *l = &m->layers[mb->layer];
                if (mb->axis == NM_GM_IN && (!l->in_chans || nm_u8(l->in_chans)[mb->index]))
                    ok = 0;
            }
            cut[g] = (uint8_t)ok;
        }
        /* q.k^T on head dimensions: the dimension must be 0 on one side */
        for (int i = 0; mode == 0 && i < n; i++) {
            const nm_layer *l = &m->layers[i];
            if (l->kind != NM_LAYER_MATMUL || l->groups != 1 || l->n_inputs != 2)
                continue;
            int a = l->inputs[0], b = l->inputs[1];
            int qa = node_ix(m, a);
            for (int c = 0; c < l->in_c; c++) {
                int g = eg[base[qa] + c];
                if (g >= 0 && cut[g] && !known_zero(m, a, c, 0) && !known_zero(m, b, c, 0))
                    cut[g] = 0;
            }
        }
        for (int v = 0; v < n_nodes(m); v++) {
            int sz = node_feats(m, v);
            for (int c = 0; c < sz; c++) {
                int g = eg[base[v] + c];
                if (g >= 0 && cut[g]) {
                    keep[v][c] = 0;
                    *changed = 1;
                }
            }
        }
        free(cut), free(eg), free(base);
        nm_group_set_free(s);
    }
    return NM_OK;
}

/* Indices of the kept features of a keep vector of length n. */
static int *keep_idx(const uint8_t *k, int n, int *count)
{
    int *o = malloc((size_t)(n > 0 ? n : 1) * sizeof *o), c = 0;
    if (!o)
        return NULL;
    for (int i = 0; i < n; i++)
        if (k[i])
            o[c++] = i;
    *count = c;
    return o;
}

/* Kept heads of a tensor of C channels in H heads; each kept head must
 * keep the same number of channels. -1 if not. */
static int kept_heads(const uint8_t *k, int C, int H)
{
    if (H < 1 || C % H)
        return -1;
    int d = C / H, heads = 0, per = -1;
    for (int h = 0; h < H; h++) {
        int n = 0;
        for (int e = 0; e < d; e++)
            n += k[h * d + e];
        if (!n)
            continue;
        if (per >= 0 && n != per)
            return -1;
        per = n;
        heads++;
    }
    return heads;
}

/* Layer i of the cut model. */
static int cut_layer(const nm_model *m, uint8_t **keep, nm_model *out, int i)
{
    const nm_layer *ol = &m->layers[i];
    nm_layer l = *ol;
    nm_tensor **slots[NM_LAYER_SLOTS];
    nm_layer_slots(&l, slots);
    for (int k = 0; k < NM_LAYER_SLOTS; k++)
        *slots[k] = NULL;
    int x = ol->n_inputs > 0 ? node_ix(m, ol->inputs[0]) : -1;
    int xin = x < 0 ? ol->in_c : node_feats(m, x);
    int nr = 0, nin = 0, *rows = keep_idx(keep[i], ol->out_c, &nr), *ins = NULL;
    int rc = NM_ERR;
    if (!rows)
        goto done;
    if (x >= 0)
        ins = keep_idx(keep[x], xin, &nin);
    else if ((ins = malloc((size_t)(xin > 0 ? xin : 1) * sizeof *ins)))
        for (nin = 0; nin < xin; nin++)
            ins[nin] = nin;
    if (!ins)
        goto done;
    if (nr == 0) {
        nm_seterr("layer '%s' would keep no channel", ol->name);
        goto done;
    }
    int bad = 0, cloned = 0;
    if (ol->kind == NM_LAYER_LINEAR || (ol->kind == NM_LAYER_CONV && ol->groups <= 1)) {
        l.weight = pick(ol->weight, rows, nr, ins, nin);
        bad |= ol->mask && !(l.mask = pick(ol->mask, rows, nr, ins, nin));
        bad |= ol->in_chans && !(l.in_chans = pick(ol->in_chans, ins, nin, NULL, 0));
        l.out_c = nr;
    } else if (ol->kind == NM_LAYER_DWCONV) {
        int one = 0;
        l.weight = pick(ol->weight, rows, nr, &one, 1);
        bad |= ol->mask && !(l.mask = pick(ol->mask, rows, nr, &one, 1));
        bad |= ol->in_chans && !(l.in_chans = pick(ol->in_chans, ins, nin, NULL, 0));
        l.out_c = l.groups = nr;
    } else if (ol->kind == NM_LAYER_EMBED && ol->weight && ol->weight->ndim == 2) {
        int P = (int)ol->weight->shape[0], *all = malloc((size_t)P * sizeof *all);
        if (!all)
            goto done;
        for (int p = 0; p < P; p++)
            all[p] = p;
        l.weight = pick(ol->weight, all, P, rows, nr);
        free(all);
    } else {
        /* weightless or per-channel vectors (BN, LayerNorm): the vectors
         * below; anything else is cloned */
        if (nr != ol->out_c && (ol->konst || ol->kind == NM_LAYER_CONV || ol->kind == NM_LAYER_CONVT)) {
            nm_seterr("layer '%s' cannot be cut", ol->name);
            goto done;
        }
        if (nr == ol->out_c && ol->kind != NM_LAYER_BN && ol->kind != NM_LAYER_LAYERNORM) {
            nm_tensor **src[NM_LAYER_SLOTS];
            nm_layer_slots((nm_layer *)ol, src);
            for (int k = 0; k < NM_LAYER_SLOTS; k++)
                bad |= *src[k] && !(*slots[k] = nm_tensor_clone(*src[k]));
            cloned = 1;
        }
    }
    if (ol->weight && !l.weight)
        bad = 1;
    if (!cloned && (nm_layer_prunable(ol) || ol->kind == NM_LAYER_EMBED))
        bad |= ol->bias && !(l.bias = pick(ol->bias, rows, nr, NULL, 0));
    if (!cloned && (nm_layer_prunable(ol) || ol->kind == NM_LAYER_LAYERNORM))
        bad |= ol->filters && !(l.filters = pick(ol->filters, rows, nr, NULL, 0));
    if (ol->kind == NM_LAYER_BN || ol->kind == NM_LAYER_LAYERNORM) {
        nm_tensor **dst[4] = {&l.gamma, &l.beta, &l.mean, &l.var};
        nm_tensor *src[4] = {ol->gamma, ol->beta, ol->mean, ol->var};
        for (int k = 0; k < 4; k++)
            bad |= src[k] && !(*dst[k] = pick(src[k], rows, nr, NULL, 0));
    }
    if (ol->kind == NM_LAYER_SLICE && ol->slice_axis == NM_AXIS_CHANNEL) {
        int start = 0, cnt = 0;
        for (int c = 0; c < ol->slice_start; c++)
            start += keep[x][c];
        for (int c = ol->slice_start; c < ol->slice_start + ol->out_c; c++)
            cnt += keep[x][c];
        l.slice_start = start;
        l.out_c = cnt;
    } else if (ol->kind == NM_LAYER_SLICE) {
        l.out_c = nr;
    }
    if (ol->kind == NM_LAYER_MATMUL) {
        int qk = ol->groups == 1, v = qk ? x : node_ix(m, ol->inputs[1]);
        int C = node_feats(m, v);
        int H = ol->heads > 0 ? ol->heads : 1;
        int hk = kept_heads(keep[v], C, H);
        if (hk < 1) {
            nm_seterr("layer '%s': heads keep different widths", ol->name);
            goto done;
        }
        l.heads = hk;
        if (qk && ol->alpha == 0.0f)
            l.alpha = (float)(1.0 / sqrt((double)(C / H))); /* the scale of the full head */
    }
    if (ol->kind == NM_LAYER_RESHAPE)
        l.out_c = nr; /* only reshapes that keep C are in groups */
    if (ol->kind == NM_LAYER_SOFTMAX && ol->heads > 1)
        l.heads = ol->heads * nr / ol->out_c;
    if (bad) {
        drop_params(&l);
        nm_seterr("out of memory");
        goto done;
    }
    if (nm_model_append(out, &l) < 0) {
        drop_params(&l);
        nm_preperr("shrink");
        goto done;
    }
    if (out->layers[i].out_c != nr) {
        nm_seterr("shrink: layer '%s' has %d channels, expected %d", ol->name,
                  out->layers[i].out_c, nr);
        goto done;
    }
    rc = NM_OK;
done:
    free(rows);
    free(ins);
    return rc;
}

/* The model with the cuttable groups gone, or NULL with *changed = 0 when
 * there is none (or NULL with a message on failure). */
static nm_model *cut_groups(const nm_model *m, int *changed)
{
    int n = m->n_layers, N = n_nodes(m);
    *changed = 0;
    uint8_t **keep = calloc((size_t)N, sizeof *keep);
    nm_model *out = NULL;
    int ok = keep != NULL;
    for (int v = 0; ok && v < N; v++) {
        int sz = node_feats(m, v);
        ok = (keep[v] = malloc((size_t)(sz > 0 ? sz : 1))) != NULL;
        if (ok)
            memset(keep[v], 1, (size_t)(sz > 0 ? sz : 1));
    }
    if (!ok) {
        nm_seterr("out of memory");
        goto done;
    }
    if (group_cuts(m, keep, changed) || !*changed)
        goto done;
    if (!(out = new_like(m)))
        goto done;
    for (int i = 0; i < n; i++)
        if (cut_layer(m, keep, out, i)) {
            nm_model_free(out);
            out = NULL;
            goto done;
        }
    out->n_outputs = m->n_outputs;
    memcpy(out->outputs, m->outputs, sizeof out->outputs);
    memcpy(out->out_rank, m->out_rank, sizeof out->out_rank);
done:
    for (int v = 0; keep && v < N; v++)
        free(keep[v]);
    free(keep);
    return out;
}

static nm_model *shrink_chains(const nm_model *m);

nm_model *nm_model_shrink(const nm_model *m)
{
    if (m->n_layers < 1) {
        nm_seterr("shrink: the model has no layers");
        return NULL;
    }
    int changed = 0;
    nm_model *cut = cut_groups(m, &changed);
    if (!cut && changed)
        return NULL;
    nm_model *out = shrink_chains(cut ? cut : m);
    nm_model_free(cut);
    return out;
}

/* The chain analysis (see the top of the file). */
static nm_model *shrink_chains(const nm_model *m)
{
    int n = m->n_layers;
    if (n < 1) {
        nm_seterr("shrink: the model has no layers");
        return NULL;
    }
    const int N = n_nodes(m);
    shrinker s = {.m = m, .n = n, .N = N};
    s.parent = malloc((size_t)N * sizeof *s.parent);
    s.block = calloc((size_t)N, sizeof *s.block);
    s.zero = calloc((size_t)n, sizeof *s.zero);
    s.pinned = calloc((size_t)N, 1);
    s.rm = calloc((size_t)N, sizeof *s.rm);
    nm_model *out = NULL;
    int ok = s.parent && s.block && s.zero && s.pinned && s.rm;
    for (int i = 0; ok && i < n; i++)
        ok = (s.zero[i] = calloc((size_t)(m->layers[i].out_c > 0 ? m->layers[i].out_c : 1), 1)) != NULL;
    if (!ok) {
        nm_seterr("out of memory");
        goto done;
    }
    for (int i = 0; i < N; i++)
        s.parent[i] = i;
    if (analyse(&s) || removable(&s))
        goto done;
    if (!(out = new_like(m)))
        goto done;
    for (int i = 0; i < n; i++)
        if (rebuild(&s, out, i)) {
            nm_model_free(out);
            out = NULL;
            goto done;
        }
    out->n_outputs = m->n_outputs;
    memcpy(out->outputs, m->outputs, sizeof out->outputs);
    memcpy(out->out_rank, m->out_rank, sizeof out->out_rank);
done:
    if (s.zero)
        for (int i = 0; i < n; i++)
            free(s.zero[i]);
    if (s.rm)
        for (int i = 0; i < N; i++)
            free(s.rm[i]);
    free(s.parent), free(s.block), free(s.zero), free(s.pinned), free(s.rm);
    return out;
}
