/* groups.c - channel dependency groups: which (layer, axis, index) entries
 * of a model must be removed together when one channel goes.
 *
 * Every feature of every tensor of the graph (each layer's output, and the
 * model input) is an element of a union-find. A layer that maps channel c
 * of an input onto channel c' of its output unites the two elements:
 * dwconv, BN, LayerNorm, ReLU/NMReLU (position axis), pools, GAP, GELU and
 * the other elementwise activations, pad without channel padding,
 * position slices, resize, a reshape that keeps C (it only regroups a
 * channel's H*W values) and a transpose that keeps C first: c' = c;
 * flatten: feature f of the output reads channel f / (H*W); channel
 * slices: c' = c - start; concat along C:
 * c' = offset + c (along H or W: c' = c for every input); elementwise
 * add/sub/mul of two producers of one channel count (a squeeze-excitation
 * gate [C,1,1] included): both inputs and the output; the ViT embedding
 * (class token and positions add per channel). Attention matmuls couple
 * channels across heads: the head dimension e of Q and K (every head at
 * once, so all heads keep one dimension, as the matmul needs), and of V
 * with the context; in heads mode every channel of head h of Q, K, V, the
 * score channels of head h and the context of head h form one group.
 * A plain conv or linear starts new elements (its rows) and consumes its
 * input's elements (its input channels).
 *
 * What cannot be mapped pins the whole set: every graph input, graph
 * outputs, grouped convs, transposed convs, other reshapes and
 * transposes, shuffle, softmax outside heads mode, an op with a
 * per-channel constant, a
 * broadcast along channels, division by a producer (a removed divisor
 * would give inf), anything else. A pinned group is listed but never
 * removed, so pruning stays exact where it cannot be handled.
 *
 * Groups that cross an add/sub or a LayerNorm are residual streams:
 * prunable only with allow_add. A group is prunable only when every conv/
 * linear with a row in it is in the scope, except that the first conv
 * (skipped by default) follows a residual stream it feeds: with allow_add
 * the stream's width is one decision (ViT's patch conv and the embedding
 * width; ResNet's stem and stage-1 stream). Removing a group clears
 * every member: producer rows (filters, mask row, bias, the BN that
 * follows), dwconv channels, BN/LayerNorm gamma and beta, the embedding's
 * class token and position column, and every consumer's input channel
 * (in_chans and mask columns). A LayerNorm in the stream records its
 * removed channels in its `filters` keep vector and normalises over the
 * kept ones only (engine/train), so model:shrink() can cut the stream. */
#include "prune_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

enum { F_PIN = 1, F_RESID = 2, F_NORM = 4, F_ATTN = 8 };

static const char *const pin_reasons[] = {
    "",
    "model input",
    "graph output",
    "grouped conv",
    "transposed conv",
    "reshape/transpose/shuffle",
    "softmax",
    "constant operand per channel",
    "broadcast along channels",
    "division",
    "channel-axis NMReLU",
    "channel padding",
    "layer kind not mapped",
    "attention shape",
};
enum { P_NONE = 0, P_INPUT, P_OUTPUT, P_GCONV, P_CONVT, P_RESHAPE, P_SOFTMAX, P_KONST, P_BCAST,
       P_DIV, P_NMRELU, P_PAD, P_KIND, P_ATTN };

typedef struct {
    const nm_model *m;
    int n;              /* layers; node n + k is graph input k */
    int64_t *base;      /* first element of node v */
    int *size;          /* elements of node v */
    int64_t E;
    int *parent;
    uint8_t *flag;
    uint8_t *pin;       /* pin reason code */
    int *head;          /* heads mode: head index of Q's elements, -1 */
    int *hlayer;        /* heads mode: the qk matmul of Q's elements */
} uf;

static int64_t find(uf *u, int64_t a)
{
    while (u->parent[a] != a)
        a = u->parent[a] = u->parent[u->parent[a]];
    return a;
}

static void unite(uf *u, int64_t a, int64_t b)
{
    a = find(u, a), b = find(u, b);
    if (a == b)
        return;
    if (a > b) { /* the smaller index stays the root: deterministic */
        int64_t t = a;
        a = b, b = t;
    }
    u->parent[b] = (int)a;
}

static int node_of(const uf *u, int src)
{
    return nm_is_input(src) ? u->n + nm_input_index(src) : src;
}

static int64_t el(const uf *u, int v, int c) { return u->base[v] + c; }

static void pin_node(uf *u, int v, int why)
{
    for (int c = 0; c < u->size[v]; c++) {
        u->flag[el(u, v, c)] |= F_PIN;
        if (!u->pin[el(u, v, c)])
            u->pin[el(u, v, c)] = (uint8_t)why;
    }
}

/* Unites channel c of node a with channel c of node b for every c (both
 * must have `count` channels from their offsets). */
static void unite_range(uf *u, int a, int oa, int b, int ob, int count)
{
    for (int c = 0; c < count; c++)
        unite(u, el(u, a, oa + c), el(u, b, ob + c));
}

static void pin_all(uf *u, const nm_layer *l, int i, int why)
{
    for (int k = 0; k < l->n_inputs; k++)
        pin_node(u, node_of(u, l->inputs[k]), why);
    pin_node(u, i, why);
}

/* Channel count of a constant operand (1 = the same value on every channel). */
static int konst_c(const nm_layer *l)
{
    return l->konst && l->konst->ndim >= 1 ? (int)l->konst->shape[0] : 1;
}

/* Attention matmul i: couples heads as described at the top. */
static void attention(uf *u, const nm_layer *l, int i, int heads_mode)
{
    int a = node_of(u, l->inputs[0]), b = node_of(u, l->inputs[1]);
    int H = l->heads > 0 ? l->heads : 1;
    int qk = l->groups == 1;
    int C = qk ? u->size[a] : u->size[b];
    if (C % H || (qk && u->size[b] != C) || (!qk && u->size[i] != C)) {
        pin_all(u, l, i, P_ATTN);
        return;
    }
    int d = C / H;
    int T = qk ? u->size[i] / H : u->size[a] / H;
    int v = qk ? a : b; /* Q (qk) or V (av) */
    for (int h = 0; h < H; h++)
        for (int e = 0; e < d; e++) {
            int c = h * d + e;
            u->flag[el(u, v, c)] |= F_ATTN;
            if (qk) {
                unite(u, el(u, a, c), el(u, b, c));
                if (heads_mode) {
                    u->head[el(u, a, c)] = h;
                    u->hlayer[el(u, a, c)] = i;
                }
            } else {
                unite(u, el(u, b, c), el(u, i, c));
            }
            unite(u, el(u, v, c), heads_mode ? el(u, v, h * d) : el(u, v, e));
        }
    /* the score channels (qk output, av input A): h*T + j */
    int s = qk ? i : a;
    if (!heads_mode || u->size[s] != H * T) {
        pin_node(u, s, P_ATTN);
        return;
    }
    for (int h = 0; h < H; h++)
        for (int j = 0; j < T; j++)
            unite(u, el(u, s, h * T + j), el(u, v, h * d));
}

/* Applies layer i's channel rule. */
static void layer_rule(uf *u, int i, int heads_mode)
{
    const nm_model *m = u->m;
    const nm_layer *l = &m->layers[i];
    if (l->n_inputs < 1) {
        pin_node(u, i, P_KIND);
        return;
    }
    int x = node_of(u, l->inputs[0]);
    int same = u->size[x] == u->size[i];
    switch (l->kind) {
    case NM_LAYER_CONV:
        if (l->groups > 1)
            pin_all(u, l, i, P_GCONV);
        return; /* plain conv: new rows; its inputs are consumed */
    case NM_LAYER_LINEAR:
        return;
    case NM_LAYER_DWCONV:
        if (same && l->groups == u->size[x])
            unite_range(u, x, 0, i, 0, u->size[i]);
        else
            pin_all(u, l, i, P_GCONV);
        return;
    case NM_LAYER_CONVT:
        pin_all(u, l, i, P_CONVT);
        return;
    case NM_LAYER_LAYERNORM:
        if (!same) {
            pin_all(u, l, i, P_KIND);
            return;
        }
        unite_range(u, x, 0, i, 0, u->size[i]);
        for (int c = 0; c < u->size[i]; c++)
            u->flag[el(u, i, c)] |= F_NORM;
        return;
    case NM_LAYER_NMRELU:
        if (l->act_axis != NM_AXIS_POSITION) {
            pin_all(u, l, i, P_NMRELU);
            return;
        }
        /* fall through */
    case NM_LAYER_BN:
    case NM_LAYER_RELU:
    case NM_LAYER_MAXPOOL:
    case NM_LAYER_AVGPOOL:
    case NM_LAYER_GAP:
    case NM_LAYER_GELU:
    case NM_LAYER_SIGMOID:
    case NM_LAYER_HARDSIGMOID:
    case NM_LAYER_HARDSWISH:
    case NM_LAYER_TANH:
    case NM_LAYER_CLIP:
    case NM_LAYER_RESIZE:
    case NM_LAYER_EMBED:
        if (same)
            unite_range(u, x, 0, i, 0, u->size[i]);
        else
            pin_all(u, l, i, P_KIND);
        return;
    case NM_LAYER_PAD:
        if (same && l->pads[0] == 0 && l->pads[3] == 0)
            unite_range(u, x, 0, i, 0, u->size[i]);
        else
            pin_all(u, l, i, P_PAD);
        return;
    case NM_LAYER_FLATTEN: {
        int hw = l->in_h * l->in_w;
        if (hw < 1 || u->size[i] != u->size[x] * hw) {
            pin_all(u, l, i, P_KIND);
            return;
        }
        for (int f = 0; f < u->size[i]; f++)
            unite(u, el(u, x, f / hw), el(u, i, f));
        return;
    }
    case NM_LAYER_SLICE:
        if (l->slice_axis == NM_AXIS_CHANNEL && l->slice_start >= 0 &&
            l->slice_start + u->size[i] <= u->size[x])
            unite_range(u, x, l->slice_start, i, 0, u->size[i]);
        else if (l->slice_axis == NM_AXIS_POSITION && same)
            unite_range(u, x, 0, i, 0, u->size[i]);
        else
            pin_all(u, l, i, P_KIND);
        return;
    case NM_LAYER_CONCAT: {
        int off = 0;
        for (int k = 0; k < l->n_inputs; k++) {
            int y = node_of(u, l->inputs[k]);
            if (l->axis == 0) {
                if (off + u->size[y] > u->size[i]) {
                    pin_all(u, l, i, P_KIND);
                    return;
                }
                unite_range(u, y, 0, i, off, u->size[y]);
                off += u->size[y];
            } else if (u->size[y] == u->size[i]) {
                unite_range(u, y, 0, i, 0, u->size[i]);
            } else {
                pin_all(u, l, i, P_KIND);
                return;
            }
        }
        return;
    }
    case NM_LAYER_ADD:
    case NM_LAYER_SUB:
    case NM_LAYER_MUL:
    case NM_LAYER_DIV: {
        int resid = l->kind == NM_LAYER_ADD || l->kind == NM_LAYER_SUB;
        if (l->n_inputs == 1) {
            /* a constant operand: fine when it is one value for all
             * channels and it is not a divisor of the activation */
            if (konst_c(l) != 1)
                pin_all(u, l, i, P_KONST);
            else if (l->kind == NM_LAYER_DIV && l->rev)
                pin_all(u, l, i, P_DIV);
            else if (same)
                unite_range(u, x, 0, i, 0, u->size[i]);
            else
                pin_all(u, l, i, P_BCAST);
            return;
        }
        if (l->n_inputs != 2 || l->kind == NM_LAYER_DIV) {
            pin_all(u, l, i, l->kind == NM_LAYER_DIV ? P_DIV : P_KIND);
            return;
        }
        int y = node_of(u, l->inputs[1]);
        int cx, hx, wx, cy, hy, wy;
        nm_model_out_shape(m, l->inputs[0], &cx, &hx, &wx);
        nm_model_out_shape(m, l->inputs[1], &cy, &hy, &wy);
        if (cx != cy || cx != l->out_c) {
            pin_all(u, l, i, P_BCAST);
            return;
        }
        unite_range(u, x, 0, i, 0, u->size[i]);
        unite_range(u, y, 0, i, 0, u->size[i]);
        if (resid)
            for (int c = 0; c < u->size[i]; c++)
                u->flag[el(u, i, c)] |= F_RESID;
        return;
    }
    case NM_LAYER_SOFTMAX:
        if (heads_mode && l->heads > 1 && same)
            unite_range(u, x, 0, i, 0, u->size[i]);
        else
            pin_all(u, l, i, P_SOFTMAX);
        return;
    case NM_LAYER_MATMUL:
        if (l->n_inputs != 2) {
            pin_all(u, l, i, P_ATTN);
            return;
        }
        attention(u, l, i, heads_mode);
        return;
    case NM_LAYER_RESHAPE:
        /* the channel axis is outermost: a reshape that keeps C only
         * regroups each channel's H*W values (a conv map to tokens) */
        if (same && l->out_c == l->in_c && l->out_h * l->out_w == l->in_h * l->in_w)
            unite_range(u, x, 0, i, 0, u->size[i]);
        else
            pin_all(u, l, i, P_RESHAPE);
        return;
    case NM_LAYER_TRANSPOSE:
        if (same && l->perm[0] == 0)
            unite_range(u, x, 0, i, 0, u->size[i]);
        else
            pin_all(u, l, i, P_RESHAPE);
        return;
    case NM_LAYER_SHUFFLE:
        pin_all(u, l, i, P_RESHAPE);
        return;
    default:
        pin_all(u, l, i, P_KIND);
        return;
    }
}

/* 1 if layer l carries rows that filter pruning removes (conv or linear,
 * not a dwconv). */
static int row_layer(const nm_layer *l)
{
    return (l->kind == NM_LAYER_CONV || l->kind == NM_LAYER_LINEAR) && l->weight;
}

/* 1 if layer l reads its input channels through a weight that can drop them. */
static int plain_consumer(const nm_layer *l)
{
    return l->n_inputs > 0 && l->weight &&
           (l->kind == NM_LAYER_LINEAR || (l->kind == NM_LAYER_CONV && l->groups <= 1));
}

void nm_group_opts_init(nm_group_opts *o)
{
    memset(o, 0, sizeof *o);
}

const char *nm_group_reduction_name(nm_group_reduction r)
{
    switch (r) {
    case NM_GRED_MEAN: return "mean";
    case NM_GRED_SUM: return "sum";
    case NM_GRED_MAX: return "max";
    }
    return "?";
}

int nm_group_reduction_from_name(const char *s)
{
    if (!strcmp(s, "mean"))
        return NM_GRED_MEAN;
    if (!strcmp(s, "sum"))
        return NM_GRED_SUM;
    if (!strcmp(s, "max"))
        return NM_GRED_MAX;
    return -1;
}

void nm_group_set_free(nm_group_set *s)
{
    if (!s)
        return;
    free(s->groups);
    free(s->members);
    free(s->nodes);
    free(s->alive);
    free(s->size);
    free(s);
}

/* Fills s->groups[].why/prunable from the flags and the scope. */
static int classify(const nm_model *m, nm_group_set *s, const nm_group_opts *o,
                    const uint8_t *rflag, const uint8_t *rpin, const int64_t *groot)
{
    /* the scope's verdict per layer, once (nm_prune_eligible scans the model) */
    const char **lwhy = malloc((size_t)(m->n_layers ? m->n_layers : 1) * sizeof *lwhy);
    if (!lwhy)
        return nm_seterr("out of memory");
    for (int i = 0; i < m->n_layers; i++) {
        lwhy[i] = NULL;
        if (row_layer(&m->layers[i]) && !nm_prune_eligible(m, i, &o->scope, &lwhy[i]) && !lwhy[i])
            lwhy[i] = "not eligible";
    }
    for (int g = 0; g < s->n_groups; g++) {
        nm_channel_group *G = &s->groups[g];
        int64_t r = groot[g];
        G->residual = (rflag[r] & (F_RESID | F_NORM)) != 0;
        G->attention = (rflag[r] & F_ATTN) != 0;
        G->prunable = 0;
        G->pinned = (rflag[r] & F_PIN) != 0;
        int all_gone = G->rows > 0;
        for (int k = 0; k < G->count; k++) {
            const nm_group_member *mb = &s->members[G->first + k];
            const nm_layer *l = &m->layers[mb->layer];
            if (mb->axis == NM_GM_OUT && row_layer(l) && !(l->filters && !nm_u8(l->filters)[mb->index]))
                all_gone = 0;
            if (mb->axis == NM_GM_NORM && l->kind == NM_LAYER_LAYERNORM)
                G->layernorm = 1;
        }
        G->removed = all_gone;
        if (all_gone) {
            G->why = "removed";
            continue;
        }
        if (rflag[r] & F_PIN) {
            G->why = pin_reasons[rpin[r]];
            continue;
        }
        if (G->residual && !o->allow_add) {
            G->why = "residual stream (allow_add)";
            continue;
        }
        G->why = "";
        for (int k = 0; k < G->count && !G->why[0]; k++) {
            const nm_group_member *mb = &s->members[G->first + k];
            const char *why = lwhy[mb->layer];
            if (mb->axis == NM_GM_OUT && why && !(G->residual && !strcmp(why, "first conv")))
                G->why = why;
        }
        G->prunable = !G->why[0];
    }
    free(lwhy);
    return NM_OK;
}

nm_group_set *nm_prune_groups_map(const nm_model *m, const nm_group_opts *o, int **elem_group,
                                   int64_t **node_base)
{
    nm_group_opts dflt;
    if (!o) {
        nm_group_opts_init(&dflt);
        o = &dflt;
    }
    /* nodes 0..n-1 are the layers, node n + k graph input k (pinned) */
    int n = m->n_layers, N = n + nm_model_n_inputs(m);
    uf u = {.m = m, .n = n};
    nm_group_set *s = calloc(1, sizeof *s);
    int *gid = NULL; /* group of each root element (E < INT32_MAX) */
    int64_t *groot = NULL;
    uint8_t *rflag = NULL, *rpin = NULL;
    int *cnt = NULL, *last = NULL;
    char *blk = NULL;
    u.base = malloc((size_t)N * sizeof *u.base);
    u.size = malloc((size_t)N * sizeof *u.size);
    if (!s || !u.base || !u.size)
        goto oom;
    for (int v = 0; v < N; v++) {
        int ic, ih, iw;
        if (v >= n)
            nm_model_input_shape(m, v - n, &ic, &ih, &iw);
        u.base[v] = u.E;
        u.size[v] = v < n ? m->layers[v].out_c : ic;
        if (u.size[v] < 0)
            u.size[v] = 0;
        u.E += u.size[v];
    }
    if (u.E >= INT32_MAX) {
        nm_seterr("groups: the model has too many features (%lld)", (long long)u.E);
        goto fail;
    }
    size_t E = (size_t)(u.E ? u.E : 1);
    /* the per-feature arrays in one scratch block (huge pages: a few
     * first-touch faults instead of one per 4 KB page, each call) */
    blk = nm_scratch_alloc(E * (2 * sizeof(int) + 4));
    if (blk) {
        u.parent = (int *)blk;
        gid = (int *)(blk + E * sizeof(int));
        u.flag = (uint8_t *)(blk + 2 * E * sizeof(int));
        u.pin = u.flag + E;
        rflag = u.pin + E;
        rpin = rflag + E;
        memset(u.flag, 0, 4 * E);
    }
    int heads_mode = o->heads > 0;
    if (heads_mode) { /* head labels exist only in heads mode */
        u.head = malloc(E * sizeof *u.head);
        u.hlayer = malloc(E * sizeof *u.hlayer);
    }
    if (!blk || (heads_mode && (!u.head || !u.hlayer)))
        goto oom;
    for (int64_t e = 0; e < u.E; e++)
        u.parent[e] = (int)e;
    if (heads_mode)
        for (int64_t e = 0; e < u.E; e++)
            u.head[e] = u.hlayer[e] = -1;
    for (int v = n; v < N; v++)
        pin_node(&u, v, P_INPUT);
    for (int i = 0; i < n; i++)
        layer_rule(&u, i, heads_mode);
    int outs[NM_MAX_OUTPUTS];
    int n_out = nm_model_outputs(m, outs, NM_MAX_OUTPUTS);
    for (int k = 0; k < n_out && k < NM_MAX_OUTPUTS; k++)
        pin_node(&u, node_of(&u, outs[k]), P_OUTPUT);

    /* root flags, heads and group ids (groups with a row) */
    int *rhead = u.head, *rhl = u.hlayer; /* reused per root below */
    for (int64_t e = 0; e < u.E; e++) {
        int64_t r = find(&u, e);
        rflag[r] |= u.flag[e];
        if (!rpin[r])
            rpin[r] = u.pin[e];
        gid[e] = -1;
        if (heads_mode && u.head[e] >= 0 && r != e) {
            rhead[r] = u.head[e];
            rhl[r] = u.hlayer[e];
        }
    }
    int ng = 0;
    for (int v = 0; v < n; v++) {
        if (!row_layer(&m->layers[v]))
            continue;
        for (int c = 0; c < u.size[v]; c++) {
            int64_t r = find(&u, el(&u, v, c));
            if (gid[r] < 0)
                gid[r] = ng++;
        }
    }
    s->n_groups = ng;
    s->groups = calloc((size_t)(ng ? ng : 1), sizeof *s->groups);
    groot = malloc((size_t)(ng ? ng : 1) * sizeof *groot);
    cnt = calloc((size_t)(ng ? ng : 1), sizeof *cnt);
    last = malloc((size_t)(ng ? ng : 1) * sizeof *last);
    if (!s->groups || !groot || !cnt || !last)
        goto oom;
    for (int64_t e = 0; e < u.E; e++)
        if (gid[find(&u, e)] >= 0 && find(&u, e) == e)
            groot[gid[e]] = e;

    /* members: count, then fill in (layer, axis) order per group */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            int64_t tot = 0;
            for (int g = 0; g < ng; g++) {
                s->groups[g].first = (int)tot;
                tot += cnt[g];
                cnt[g] = 0;
            }
            if (tot >= INT32_MAX) {
                nm_seterr("groups: too many members");
                goto fail;
            }
            s->n_members = (int)tot;
            if (!(s->members = malloc((size_t)(tot ? tot : 1) * sizeof *s->members)))
                goto oom;
        }
        for (int v = 0; v < n; v++) {
            const nm_layer *l = &m->layers[v];
            int ax = -1;
            if (nm_layer_prunable(l))
                ax = NM_GM_OUT;
            else if (l->kind == NM_LAYER_BN || l->kind == NM_LAYER_LAYERNORM)
                ax = NM_GM_NORM;
            else if (l->kind == NM_LAYER_EMBED)
                ax = NM_GM_EMBED;
            if (ax >= 0)
                for (int c = 0; c < u.size[v]; c++) {
                    int g = gid[find(&u, el(&u, v, c))];
                    if (g < 0)
                        continue;
                    if (pass)
                        s->members[s->groups[g].first + cnt[g]] = (nm_group_member){v, ax, c};
                    cnt[g]++;
                }
            if (plain_consumer(l)) {
                int x = node_of(&u, l->inputs[0]);
                for (int f = 0; f < u.size[x] && f < l->in_c; f++) {
                    int g = gid[find(&u, el(&u, x, f))];
                    if (g < 0)
                        continue;
                    if (pass)
                        s->members[s->groups[g].first + cnt[g]] = (nm_group_member){v, NM_GM_IN, f};
                    cnt[g]++;
                }
            }
        }
    }
    for (int g = 0; g < ng; g++) {
        nm_channel_group *G = &s->groups[g];
        G->count = cnt[g];
        G->head = -1;
        G->attn_layer = -1;
        int64_t r = groot[g];
        if (heads_mode && u.head[r] >= 0) {
            G->head = u.head[r];
            G->attn_layer = u.hlayer[r];
        }
        for (int k = 0; k < G->count; k++) {
            const nm_group_member *mb = &s->members[G->first + k];
            if (mb->axis == NM_GM_OUT && row_layer(&m->layers[mb->layer]))
                G->rows++;
        }
    }

    /* per group, the nodes it takes elements from: (node, count) pairs */
    for (int g = 0; g < ng; g++)
        last[g] = -1, cnt[g] = 0;
    for (int v = 0; v < N; v++)
        for (int c = 0; c < u.size[v]; c++) {
            int g = gid[find(&u, el(&u, v, c))];
            if (g >= 0 && last[g] != v)
                last[g] = v, cnt[g]++;
        }
    int64_t np = 0;
    for (int g = 0; g < ng; g++) {
        s->groups[g].node_first = (int)np;
        s->groups[g].node_count = cnt[g];
        np += cnt[g];
        last[g] = -1;
        cnt[g] = 0;
    }
    s->nodes = malloc((size_t)(np ? np : 1) * sizeof *s->nodes);
    s->alive = malloc((size_t)N * sizeof *s->alive);
    s->size = malloc((size_t)N * sizeof *s->size);
    if (!s->nodes || !s->alive || !s->size)
        goto oom;
    for (int v = 0; v < N; v++)
        for (int c = 0; c < u.size[v]; c++) {
            int g = gid[find(&u, el(&u, v, c))];
            if (g < 0)
                continue;
            nm_group_node *p = &s->nodes[s->groups[g].node_first + cnt[g] - (last[g] == v)];
            if (last[g] != v) {
                last[g] = v;
                p = &s->nodes[s->groups[g].node_first + cnt[g]++];
                p->node = v;
                p->count = 0;
            }
            p->count++;
        }
    s->n_nodes = N;
    if (classify(m, s, o, rflag, rpin, groot))
        goto fail;
    for (int v = 0; v < N; v++)
        s->alive[v] = s->size[v] = u.size[v];
    for (int g = 0; g < ng; g++)
        if (s->groups[g].removed)
            for (int k = 0; k < s->groups[g].node_count; k++) {
                const nm_group_node *p = &s->nodes[s->groups[g].node_first + k];
                s->alive[p->node] -= p->count;
            }
    if (elem_group) {
        int *eg = malloc(E * sizeof *eg);
        if (!eg)
            goto oom;
        for (int64_t e = 0; e < u.E; e++)
            eg[e] = gid[find(&u, e)];
        *elem_group = eg;
        *node_base = u.base;
        u.base = NULL;
    }
    goto done;
oom:
    nm_seterr("out of memory");
fail:
    nm_group_set_free(s);
    s = NULL;
done:
    free(u.base), free(u.size), free(blk), free(u.head);
    free(u.hlayer), free(groot), free(cnt), free(last);
    return s;
}

nm_group_set *nm_prune_groups(const nm_model *m, const nm_group_opts *o)
{
    return nm_prune_groups_map(m, o, NULL, NULL);
}

int nm_group_of_row(const nm_group_set *s, int layer, int row)
{
    for (int g = 0; g < s->n_groups; g++) {
        const nm_channel_group *G = &s->groups[g];
        for (int k = 0; k < G->count; k++) {
            const nm_group_member *mb = &s->members[G->first + k];
            if (mb->layer == layer && mb->axis == NM_GM_OUT && mb->index == row)
                return g;
        }
    }
    return -1;
}

int nm_group_can_remove(const nm_model *m, nm_group_set *s, int g, double min_density,
                        double max_sparsity)
{
    const nm_channel_group *G = &s->groups[g];
    if (!G->prunable || G->removed)
        return 0;
    for (int k = 0; k < G->node_count; k++) {
        const nm_group_node *p = &s->nodes[G->node_first + k];
        int floor_k = 1;
        if (p->node < m->n_layers && row_layer(&m->layers[p->node])) {
            floor_k = nm_filter_min_kept(s->size[p->node], min_density, max_sparsity);
            if (floor_k < 1)
                floor_k = 1;
        }
        if (s->alive[p->node] - p->count < floor_k)
            return 0;
    }
    return 1;
}

/* Zeroes the class token and position column c of an embedding. */
static void clear_embed(nm_layer *l, int c)
{
    if (l->bias && c < l->bias->numel)
        nm_f32(l->bias)[c] = 0.0f;
    if (l->weight && l->weight->ndim == 2 && c < l->weight->shape[1]) {
        int64_t C = l->weight->shape[1];
        for (int64_t p = 0; p < l->weight->shape[0]; p++)
            nm_f32(l->weight)[p * C + c] = 0.0f;
    }
}

int nm_group_remove(nm_model *m, nm_group_set *s, int g)
{
    return nm_group_remove_deferred(m, s, g, NULL);
}

int nm_in_clears_add(nm_in_clears *p, int layer, int64_t ch)
{
    if (p->n == p->cap) {
        int64_t cap = p->cap ? 2 * p->cap : 256;
        nm_in_clear *a = realloc(p->a, (size_t)cap * sizeof *a);
        if (!a)
            return nm_seterr("out of memory");
        p->a = a, p->cap = cap;
    }
    p->a[p->n++] = (nm_in_clear){layer, ch};
    return NM_OK;
}

static int in_clear_cmp(const void *x, const void *y)
{
    const nm_in_clear *a = x, *b = y;
    if (a->layer != b->layer)
        return a->layer < b->layer ? -1 : 1;
    return (a->ch > b->ch) - (a->ch < b->ch);
}

/* mk[j] &= keep[j] for j < n (SSE2 sixteen at a time) */
static void and_row(uint8_t *mk, const uint8_t *keep, int64_t n)
{
    int64_t j = 0;
#if defined(__SSE2__)
    for (; j + 16 <= n; j += 16)
        _mm_storeu_si128((__m128i *)(mk + j),
                         _mm_and_si128(_mm_loadu_si128((const __m128i *)(mk + j)),
                                       _mm_loadu_si128((const __m128i *)(keep + j))));
#endif
    for (; j < n; j++)
        mk[j] &= keep[j];
}

void nm_in_clears_flush(nm_model *m, nm_in_clears *p)
{
    if (p->n > 1)
        qsort(p->a, (size_t)p->n, sizeof *p->a, in_clear_cmp);
    uint8_t *keep = NULL;
    for (int64_t a = 0, b; a < p->n; a = b) {
        nm_layer *c = &m->layers[p->a[a].layer];
        for (b = a; b < p->n && p->a[b].layer == p->a[a].layer; b++)
            ;
        int64_t rows = c->weight->shape[0], cg = c->weight->shape[1];
        int64_t K = c->weight->ndim == 4 ? c->weight->shape[2] * c->weight->shape[3] : 1;
        /* one group of rows (nm_clear_in_channel's g = 1), every channel a
         * column block of the row (the list is sorted: the last is largest) */
        int dense = (c->kind == NM_LAYER_LINEAR ||
                     (c->kind != NM_LAYER_DWCONV && c->groups <= 1)) &&
                    p->a[b - 1].ch < cg;
        int64_t D = cg * K;
        free(keep);
        keep = dense && b - a >= 2 ? malloc((size_t)(D ? D : 1)) : NULL;
        if (!keep) { /* grouped convs, a single channel (or no memory): one by one */
            for (int64_t i = a; i < b; i++)
                nm_clear_in_channel(c, p->a[i].ch);
            continue;
        }
        /* every row loses the same columns: one pass over the rows */
        memset(keep, 0xff, (size_t)D);
        for (int64_t i = a; i < b; i++) {
            nm_u8(c->in_chans)[p->a[i].ch] = 0;
            memset(keep + p->a[i].ch * K, 0, (size_t)K);
        }
        uint8_t *mk = nm_u8(c->mask);
#pragma omp parallel for schedule(static) if (rows * D >= ((int64_t)1 << 18))
        for (int64_t o = 0; o < rows; o++)
            and_row(mk + o * D, keep, D);
    }
    free(keep);
    free(p->a);
    memset(p, 0, sizeof *p);
}

int nm_group_remove_deferred(nm_model *m, nm_group_set *s, int g, nm_in_clears *pend)
{
    if (g < 0 || g >= s->n_groups)
        return nm_seterr("group %d out of range 0..%d", g, s->n_groups - 1);
    nm_channel_group *G = &s->groups[g];
    if (G->removed)
        return NM_OK;
    for (int k = 0; k < G->count; k++) {
        const nm_group_member *mb = &s->members[G->first + k];
        nm_layer *l = &m->layers[mb->layer];
        switch (mb->axis) {
        case NM_GM_OUT:
            if (nm_layer_ensure_keep(l))
                return NM_ERR;
            nm_clear_filter(m, mb->layer, mb->index);
            break;
        case NM_GM_IN:
            if (nm_layer_ensure_keep(l))
                return NM_ERR;
            if (!pend)
                nm_clear_in_channel(l, mb->index);
            else if (nm_in_clears_add(pend, mb->layer, mb->index))
                return NM_ERR;
            break;
        case NM_GM_NORM:
            if (l->gamma)
                nm_f32(l->gamma)[mb->index] = 0.0f;
            if (l->beta)
                nm_f32(l->beta)[mb->index] = 0.0f;
            /* a LayerNorm normalises over the channels still kept */
            if (l->kind == NM_LAYER_LAYERNORM) {
                if (!l->filters) {
                    l->filters = nm_tensor_new4(NM_U8, 1, l->out_c, 0, 0, 0);
                    if (!l->filters)
                        return NM_ERR;
                    memset(l->filters->data, 1, (size_t)l->out_c);
                }
                nm_u8(l->filters)[mb->index] = 0;
            }
            break;
        case NM_GM_EMBED:
            clear_embed(l, mb->index);
            break;
        }
    }
    for (int k = 0; k < G->node_count; k++) {
        const nm_group_node *p = &s->nodes[G->node_first + k];
        s->alive[p->node] -= p->count;
    }
    G->removed = 1;
    G->prunable = 0;
    G->why = "removed";
    return NM_OK;
}

double nm_group_score(const nm_model *m, const nm_group_set *s, int g, nm_group_reduction red,
                      nm_row_score_fn fn, void *ud)
{
    const nm_channel_group *G = &s->groups[g];
    double acc = 0;
    int n = 0;
    for (int k = 0; k < G->count; k++) {
        const nm_group_member *mb = &s->members[G->first + k];
        if (mb->axis != NM_GM_OUT || !row_layer(&m->layers[mb->layer]))
            continue;
        double v = fn(m, mb->layer, mb->index, ud);
        if (red == NM_GRED_MAX)
            acc = n == 0 || v > acc ? v : acc;
        else
            acc += v;
        n++;
    }
    return red == NM_GRED_MEAN && n ? acc / n : acc;
}

int nm_group_lead(const nm_model *m, const nm_group_set *s, int g)
{
    const nm_channel_group *G = &s->groups[g];
    for (int k = 0; k < G->count; k++) {
        const nm_group_member *mb = &s->members[G->first + k];
        if (mb->axis == NM_GM_OUT && row_layer(&m->layers[mb->layer]))
            return mb->layer;
    }
    return -1;
}

const char *nm_gm_axis_name(nm_gm_axis a)
{
    switch (a) {
    case NM_GM_OUT: return "out";
    case NM_GM_IN: return "in";
    case NM_GM_NORM: return "norm";
    case NM_GM_EMBED: return "embed";
    }
    return "?";
}
