/* helpers.h - shared by the prune tests: random tensors, an independent
 * enumeration of weight groups, and small models built with the builders. */
#ifndef NM_TEST_PRUNE_HELPERS_H
#define NM_TEST_PRUNE_HELPERS_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "prune.h"

/* Random normal weights; with `ties` many values repeat (magnitudes drawn
 * from a handful of levels, random signs) to exercise tie-breaking. */
static inline void fill_random(nm_tensor *t, nm_rng *r, int ties)
{
    float *w = nm_f32(t);
    for (int64_t i = 0; i < t->numel; i++) {
        if (ties)
            w[i] = (float)((int)(nm_rng_uniform(r) * 4) - 0) * (nm_rng_uniform(r) < 0.5 ? -1.f : 1.f) * 0.25f;
        else
            w[i] = (float)nm_rng_normal(r);
    }
}

/* Calls fn(idx[], len, ud) for every group of a [O, C, kh, kw] weight along
 * axis, by plain index arithmetic (written independently of the engine). */
typedef void (*group_fn)(const int64_t *idx, int len, void *ud);
static inline void each_group(int64_t O, int64_t C, int64_t KH, int64_t KW, int m,
                              nm_group_axis axis, group_fn fn, void *ud)
{
    int64_t K = KH * KW, D = C * K;
    int64_t *line = malloc((size_t)(D > 0 ? D : 1) * sizeof *line);
    for (int64_t o = 0; o < O; o++) {
        int64_t nlines = axis == NM_GROUP_ROW ? 1 : axis == NM_GROUP_KERNEL ? C : K;
        for (int64_t a = 0; a < nlines; a++) {
            int64_t n = 0;
            if (axis == NM_GROUP_ROW)
                for (int64_t c = 0; c < C; c++)
                    for (int64_t k = 0; k < K; k++)
                        line[n++] = ((o * C + c) * KH + k / KW) * KW + k % KW;
            else if (axis == NM_GROUP_KERNEL)
                for (int64_t y = 0; y < KH; y++)
                    for (int64_t x = 0; x < KW; x++)
                        line[n++] = ((o * C + a) * KH + y) * KW + x;
            else
                for (int64_t c = 0; c < C; c++)
                    line[n++] = ((o * C + c) * KH + a / KW) * KW + a % KW;
            for (int64_t s = 0; s < n; s += m)
                fn(line + s, (int)(n - s < m ? n - s : m), ud);
        }
    }
    free(line);
}

/* Entries of the tests' independent rankings, with their orders. A weight:
 * magnitude a, its layer (or segment), its index; smallest first, ties to
 * the earlier layer, then the lower index. */
typedef struct {
    float a;
    int layer;
    int64_t i;
} ref_weight;

static inline int ref_weight_cmp(const void *x, const void *y)
{
    const ref_weight *p = x, *q = y;
    if (p->a != q->a)
        return p->a < q->a ? -1 : 1;
    if (p->layer != q->layer)
        return p->layer - q->layer;
    return (p->i > q->i) - (p->i < q->i);
}

/* A filter: score s, its layer, its row t; lowest score first, ties to
 * the earlier layer, then the lower row. */
typedef struct {
    double s;
    int layer, t;
} ref_filter;

static inline int ref_filter_cmp(const void *x, const void *y)
{
    const ref_filter *a = x, *b = y;
    if (a->s != b->s)
        return a->s < b->s ? -1 : 1;
    if (a->layer != b->layer)
        return a->layer - b->layer;
    return a->t - b->t;
}

/* A small residual CNN: stem conv, two basic blocks (the second with a
 * projection shortcut), a bottleneck-free dwconv pair, flatten + linear. */
static inline nm_model *small_resnet(uint64_t seed)
{
    nm_model *m = nm_model_new("small", 3, 8, 8);
    int x = nm_add_conv(m, "stem", NM_INPUT, 8, 3, 3, 1, 1, 1, 0);
    nm_add_bn(m, "stem_bn", x);
    int s = nm_add_relu(m, "stem_relu", NM_PREV, 0);
    /* block 1: identity shortcut */
    int a = nm_add_conv(m, "b1c1", s, 8, 3, 3, 1, 1, 1, 0);
    nm_add_bn(m, "b1bn1", a);
    nm_add_relu(m, "b1r1", NM_PREV, 0);
    int b = nm_add_conv(m, "b1c2", NM_PREV, 8, 3, 3, 1, 1, 1, 0);
    int bb = nm_add_bn(m, "b1bn2", b);
    int add1 = nm_add_add(m, "b1add", bb, s);
    int r1 = nm_add_relu(m, "b1out", add1, 0);
    /* block 2: projection shortcut, stride 2 */
    int c = nm_add_conv(m, "b2c1", r1, 16, 3, 3, 2, 1, 1, 0);
    nm_add_bn(m, "b2bn1", c);
    nm_add_relu(m, "b2r1", NM_PREV, 0);
    int d = nm_add_conv(m, "b2c2", NM_PREV, 16, 3, 3, 1, 1, 1, 0);
    int dbn = nm_add_bn(m, "b2bn2", d);
    int p = nm_add_conv(m, "b2proj", r1, 16, 1, 1, 2, 0, 1, 0);
    int pbn = nm_add_bn(m, "b2pbn", p);
    int add2 = nm_add_add(m, "b2add", dbn, pbn);
    int r2 = nm_add_relu(m, "b2out", add2, 0);
    /* mobile-style: expand 1x1, dw 3x3, project 1x1 */
    int e = nm_add_conv(m, "exp", r2, 24, 1, 1, 1, 0, 1, 0);
    nm_add_bn(m, "exp_bn", e);
    nm_add_relu(m, "exp_relu", NM_PREV, 6);
    int dw = nm_add_dwconv(m, "dw", NM_PREV, 3, 1, 1);
    nm_add_bn(m, "dw_bn", dw);
    nm_add_relu(m, "dw_relu", NM_PREV, 6);
    int pr = nm_add_conv(m, "proj", NM_PREV, 12, 1, 1, 1, 0, 1, 0);
    nm_add_bn(m, "proj_bn", pr);
    nm_add_flatten(m, "flat", NM_PREV);
    int fc = nm_add_linear(m, "fc", NM_PREV, 10, 1);
    cr_assert(fc >= 0, "building small_resnet: %s", nm_errmsg());
    nm_model_init_weights(m, seed);
    return m;
}

static inline int64_t mask_zeros(const nm_layer *l)
{
    if (!l->mask)
        return 0;
    int64_t z = 0;
    for (int64_t i = 0; i < l->mask->numel; i++)
        z += nm_u8(l->mask)[i] == 0;
    return z;
}

/* Checks channel propagation against the model's channel graph: for every
 * prunable layer, input channel ch is removed (in_chans 0, its mask columns
 * all 0) exactly when every producer of its input lost filter ch / block;
 * a dwconv's filter likewise. Returns the number of input channels found
 * removed. */
static inline int check_propagation(const nm_model *m)
{
    int removed = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *c = &m->layers[i];
        if (!nm_layer_prunable(c))
            continue;
        int prod[16], through = 0;
        int np = nm_model_channel_producers(m, i, prod, 16, &through);
        if (np == 0)
            continue;
        int pc = m->layers[prod[0]].out_c;
        int64_t block = c->in_c / pc;
        int64_t rows = c->weight->shape[0], cg = c->weight->shape[1];
        int64_t K = c->weight->ndim == 4 ? c->weight->shape[2] * c->weight->shape[3] : 1;
        for (int64_t ch = 0; ch < c->in_c; ch++) {
            int64_t t = ch / block;
            int lost = 1;
            for (int p = 0; p < np; p++) {
                const nm_layer *pl = &m->layers[prod[p]];
                lost &= pl->filters != NULL && nm_u8(pl->filters)[t] == 0;
            }
            int gone = c->in_chans && nm_u8(c->in_chans)[ch] == 0;
            cr_assert_eq(gone, lost, "layer %s input channel %lld: removed %d, producers lost %d",
                         c->name, (long long)ch, gone, lost);
            removed += gone;
            if (c->kind == NM_LAYER_DWCONV) {
                int fgone = c->filters && nm_u8(c->filters)[ch] == 0;
                cr_assert_eq(fgone, lost, "dwconv %s channel %lld", c->name, (long long)ch);
            }
            if (!lost)
                continue;
            int64_t per = c->kind == NM_LAYER_DWCONV ? 1 : rows / (c->in_c / cg);
            int64_t g = ch / cg, lc = ch % cg;
            for (int64_t o = g * per; o < (g + 1) * per; o++)
                for (int64_t k = 0; k < K; k++)
                    cr_assert_eq(nm_u8(c->mask)[(o * cg + lc) * K + k], 0,
                                 "layer %s: weight (%lld, %lld, %lld) of a removed channel is kept",
                                 c->name, (long long)o, (long long)lc, (long long)k);
        }
    }
    return removed;
}

/* JointNF's filter candidates (JOINTNF.md): the filters of eligible
 * layers other than dwconvs (they follow their producer) and layers
 * feeding an Add (kept). Returns how many there are. */
static inline int candidate_filters(const nm_model *m)
{
    int F = 0;
    for (int i = 0; i < m->n_layers; i++)
        if (nm_prune_eligible(m, i, NULL, NULL) && m->layers[i].kind != NM_LAYER_DWCONV &&
            !nm_feeds_add(m, i))
            F += m->layers[i].out_c;
    return F;
}

/* Filters removed (keep vector 0) from prunable layers other than dwconvs
 * and layers feeding an Add: the count a filter ratio applies to. Counted
 * over every prunable layer, so a removal outside the candidates shows. */
static inline int candidate_filters_removed(const nm_model *m)
{
    int removed = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        if (!nm_layer_prunable(l) || !l->filters || l->kind == NM_LAYER_DWCONV || nm_feeds_add(m, i))
            continue;
        for (int t = 0; t < l->out_c; t++)
            removed += nm_u8(l->filters)[t] == 0;
    }
    return removed;
}

/* Every removed filter has an all-zero mask row; every layer keeps one. */
static inline int check_filters(const nm_model *m)
{
    int removed = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        if (!nm_layer_prunable(l) || !l->filters)
            continue;
        int64_t D = nm_layer_cols(l);
        int kept = 0;
        for (int t = 0; t < l->out_c; t++) {
            if (nm_u8(l->filters)[t]) {
                kept++;
                continue;
            }
            removed++;
            for (int64_t j = 0; j < D; j++)
                cr_assert_eq(nm_u8(l->mask)[t * D + j], 0, "%s row %d kept", l->name, t);
        }
        cr_assert(kept >= 1, "layer %s emptied", l->name);
    }
    return removed;
}

#endif
