/* jointnf.c - JointNF: iterative joint N:M and filter pruning over a whole
 * network (JOINTNF.md section 4).
 *
 * Each round: fine-tune (callback), reserve the N largest surviving |w| of
 * every group, pool all other survivors of all layers and prune the
 * smallest 1/(R-r+1) of the pool globally (exact selection), then remove
 * the lowest-scoring filters (|gamma| * mean |w| of the row, ranked across
 * layers) until round(f * F * r / R) of the F eligible filters are gone,
 * never the last filter of a layer, and propagate each removal. After
 * round R the pool is empty, so every group holds at most N weights.
 *
 * Passes over the weights per round: the last round takes the whole pool,
 * so it is N:M on the survivors, done row by row with the row sums for
 * the filter scores (prune_last: one pass). Earlier rounds rank each row's
 * candidates inside the selection's own pass (nm_select_generated: a 1/16
 * sample of rows, then one pass), and score the rows in another; when that
 * selection cannot finish (small models, a missed sample) the candidates
 * are marked for the whole model and selected the multi-pass way, which
 * nm_jointnf_reference forces (the tests' reference). */
#include "prune_int.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

void nm_jointnf_opts_init(nm_jointnf_opts *o, int n, int m, double filter_ratio, int rounds)
{
    memset(o, 0, sizeof *o);
    o->n = n;
    o->m = m;
    o->axis = NM_GROUP_AUTO;
    o->filter_ratio = filter_ratio;
    o->rounds = rounds;
    o->max_sparsity = 1.0;
}

typedef struct {
    int idx, n, m;
    nm_group_axis axis;
    uint8_t *cand;   /* candidates of this round (u8 per weight), in cand_all */
} jl;

int nm_jointnf_reference = 0;

/* Layers smaller than this are marked on one thread (a parallel region
 * costs more than the work, and much more on a loaded machine). */
#define NM_PAR_MIN ((int64_t)1 << 15)

/* Marks the candidates of one layer (survivors outside the top N of their
 * group) and returns how many there are. Row by row: cleared, marked and
 * counted while in cache. */
static int64_t mark_candidates(const nm_layer *l, const jl *e)
{
    nm_groups g;
    nm_groups_make(l->weight, e->m, e->axis, &g);
    const float *w = nm_f32(l->weight);
    uint8_t *mk = nm_u8(l->mask);
    int64_t count = 0;
#pragma omp parallel for schedule(static) reduction(+ : count) if (l->weight->numel >= NM_PAR_MIN)
    for (int64_t r = 0; r < g.rows; r++) {
        uint8_t *c = e->cand + r * g.D;
        memset(c, 0, (size_t)g.D);
        nm_nm_row(&g, w, mk, e->cand, r, e->n);
        int64_t k = 0, j = 0; /* candidates are 0 or 1: their sum */
#if defined(__SSE2__)
        __m128i acc = _mm_setzero_si128();
        for (; j + 16 <= g.D; j += 16)
            acc = _mm_add_epi64(acc, _mm_sad_epu8(_mm_loadu_si128((const __m128i *)(c + j)),
                                                  _mm_setzero_si128()));
        k = _mm_cvtsi128_si64(acc) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(acc, acc));
#endif
        for (; j < g.D; j++)
            k += c[j];
        count += k;
    }
    return count;
}

/* The last round's fused pass (prune_last) leaves each row's surviving
 * L1 here, taken with nm_row_abs_sum on the final row as score_joint
 * would; valid until the masks change again (only while no head groups
 * are removed first). */
typedef struct {
    const int *bn_of;     /* the BN of every layer (nm_model_bn_of), per round */
    double **row_sum;     /* per model layer: its rows' sums, or NULL */
} score_ctx;

/* The rows of the eligible layers as pieces of a generated-eligibility
 * selection (rounds before the last): a row's candidates are ranked into
 * the selection's buffer right before the row is scanned. */
typedef struct {
    nm_select_piece *pc;
    int *layer;            /* per piece: its entry in ls */
    nm_groups *g;          /* per entry of ls: one row's geometry */
    const jl *ls;
} row_pieces;

static void row_candidates(void *ud, int64_t i, uint8_t *e)
{
    const row_pieces *rp = ud;
    const nm_select_piece *p = &rp->pc[i];
    int li = rp->layer[i];
    memset(e, 0, (size_t)p->len);
    nm_nm_row(&rp->g[li], p->w, p->mask, e, 0, rp->ls[li].n);
}

/* Fills rp for the layers of ls (rows of their weights as pieces);
 * NM_ERR when out of memory. */
static int row_pieces_make(nm_model *mdl, const jl *ls, int nl, row_pieces *rp)
{
    int64_t n = 0;
    for (int i = 0; i < nl; i++) {
        const nm_layer *l = &mdl->layers[ls[i].idx];
        n += l->weight->shape[0];
    }
    rp->ls = ls;
    rp->pc = malloc((size_t)(n ? n : 1) * sizeof *rp->pc);
    rp->layer = malloc((size_t)(n ? n : 1) * sizeof *rp->layer);
    rp->g = malloc((size_t)(nl ? nl : 1) * sizeof *rp->g);
    if (!rp->pc || !rp->layer || !rp->g)
        return nm_seterr("out of memory");
    int64_t at = 0;
    for (int i = 0; i < nl; i++) {
        nm_layer *l = &mdl->layers[ls[i].idx];
        nm_groups_make(l->weight, ls[i].m, ls[i].axis, &rp->g[i]);
        int64_t rows = rp->g[i].rows, D = rp->g[i].D;
        rp->g[i].rows = 1;
        for (int64_t r = 0; r < rows; r++, at++) {
            rp->pc[at] = (nm_select_piece){nm_f32(l->weight) + r * D, nm_u8(l->mask) + r * D, D};
            rp->layer[at] = i;
        }
    }
    return (int)at; /* pieces */
}

static void row_pieces_free(row_pieces *rp)
{
    free(rp->pc);
    free(rp->layer);
    free(rp->g);
}

/* JointNF's filter score: |gamma| * mean |w| of the row (gamma 1 without
 * a BN), pruned entries counting 0. ud: a score_ctx. */
static double score_joint(const nm_model *m, int layer, int row, void *ud)
{
    const score_ctx *sc = ud;
    const nm_layer *l = &m->layers[layer];
    int64_t D = nm_layer_cols(l);
    double s = sc->row_sum && sc->row_sum[layer]
                   ? sc->row_sum[layer][row]
                   : nm_row_abs_sum(nm_f32(l->weight) + (int64_t)row * D,
                                    l->mask ? nm_u8(l->mask) + (int64_t)row * D : NULL, D);
    int bn = sc->bn_of[layer];
    double gamma = bn >= 0 ? fabs(nm_f32(m->layers[bn].gamma)[row]) : 1.0;
    return gamma * s / (double)(D ? D : 1);
}

/* Clears mk[j] where c[j] is set (c: candidates, 0 or 1) and returns
 * how many are set: the selection's clearing when it takes them all. */
static int64_t clear_marked(uint8_t *mk, const uint8_t *c, int64_t n)
{
    int64_t k = 0, j = 0;
#if defined(__SSE2__)
    const __m128i zero = _mm_setzero_si128();
    __m128i acc = zero;
    for (; j + 16 <= n; j += 16) {
        __m128i cv = _mm_loadu_si128((const __m128i *)(c + j));
        __m128i mv = _mm_loadu_si128((const __m128i *)(mk + j));
        _mm_storeu_si128((__m128i *)(mk + j), _mm_and_si128(mv, _mm_cmpeq_epi8(cv, zero)));
        acc = _mm_add_epi64(acc, _mm_sad_epu8(cv, zero));
    }
    k = _mm_cvtsi128_si64(acc) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(acc, acc));
#endif
    for (; j < n; j++) {
        k += c[j];
        mk[j] = c[j] ? 0 : mk[j];
    }
    return k;
}

/* The last round prunes the whole pool (k = pool), so the selection takes
 * every candidate: the round is N:M on the surviving weights. One pass,
 * row by row in cache: the row's candidates into a per-thread buffer (the
 * same kernel as mark_candidates), cleared from the mask (as the
 * selection clears them) and counted, and (row_sum not NULL) the row's
 * surviving L1 taken for the filter scores. cbuf: nthreads * D bytes.
 * Returns the candidates pruned. */
static int64_t prune_last(nm_layer *l, const jl *e, uint8_t *cbuf, double *row_sum)
{
    nm_groups g;
    nm_groups_make(l->weight, e->m, e->axis, &g);
    const float *w = nm_f32(l->weight);
    uint8_t *mk = nm_u8(l->mask);
    int64_t count = 0;
#pragma omp parallel reduction(+ : count) if (l->weight->numel >= NM_PAR_MIN)
    {
        uint8_t *c = cbuf + (size_t)omp_get_thread_num() * (size_t)g.D;
        nm_groups g1 = g;
        g1.rows = 1;
        const int64_t D = g.D;
#pragma omp for schedule(static)
        for (int64_t r = 0; r < g.rows; r++) {
            const float *wr = w + r * D;
            uint8_t *mr = mk + r * D;
            memset(c, 0, (size_t)D);
            nm_nm_row(&g1, wr, mr, c, 0, e->n);
            count += clear_marked(mr, c, D);
            if (row_sum)
                row_sum[r] = nm_row_abs_sum(wr, mr, D);
        }
    }
    return count;
}

static void report_round(nm_model *mdl, const nm_jointnf_opts *o, int r, const jl *ls, int nl,
                         int64_t pruned, int fremoved)
{
    if (!o->on_round)
        return;
    int *idx = malloc((size_t)(nl ? nl : 1) * sizeof *idx);
    double *dens = malloc((size_t)(nl ? nl : 1) * sizeof *dens);
    int *fk = malloc((size_t)(nl ? nl : 1) * sizeof *fk);
    int *fc = malloc((size_t)(nl ? nl : 1) * sizeof *fc);
    if (idx && dens && fk && fc) {
        for (int i = 0; i < nl; i++) {
            nm_layer_stats s;
            nm_layer_stats_get(mdl, ls[i].idx, &s);
            idx[i] = ls[i].idx;
            dens[i] = s.density;
            fk[i] = s.filters_kept;
            fc[i] = s.filters;
        }
        nm_jointnf_round info = {r, o->rounds, nl, idx, dens, fk, fc, pruned, fremoved};
        o->on_round(o->on_round_ud, &info);
    }
    free(idx);
    free(dens);
    free(fk);
    free(fc);
}

/* Wanda inside JointNF: the weights stay scaled by their input norms
 * while the method ranks; the callbacks see (and fine-tuning changes) the
 * real weights, which are scaled again afterwards. */
typedef struct {
    const nm_jointnf_opts *o;
    const nm_calib *calib;
    nm_model *m;
    nm_wanda_saved sv;
} wanda_ctx;

static int wanda_finetune(void *ud, nm_model *m, int round)
{
    wanda_ctx *w = ud;
    nm_wanda_unscale(m, &w->sv);
    int rc = w->o->finetune(w->o->finetune_ud, m, round);
    if (nm_wanda_scale(m, w->calib, &w->sv) && rc == 0)
        rc = 1;
    return rc;
}

static void wanda_on_round(void *ud, const nm_jointnf_round *info)
{
    wanda_ctx *w = ud;
    nm_wanda_unscale(w->m, &w->sv);
    w->o->on_round(w->o->on_round_ud, info);
    nm_wanda_scale(w->m, w->calib, &w->sv);   /* buffers exist: cannot fail */
}

static int jointnf_wanda(nm_model *mdl, const nm_jointnf_opts *o)
{
    if (nm_calib_check(mdl, o->calib, &o->scope))
        return NM_ERR;
    wanda_ctx w = {o, o->calib, mdl, {0}};
    nm_jointnf_opts p = *o;
    p.calib = NULL;
    if (o->finetune)
        p.finetune = wanda_finetune, p.finetune_ud = &w;
    if (o->on_round)
        p.on_round = wanda_on_round, p.on_round_ud = &w;
    if (nm_wanda_scale(mdl, o->calib, &w.sv))
        return NM_ERR;
    int rc = nm_prune_jointnf(mdl, &p);
    nm_wanda_unscale(mdl, &w.sv);
    nm_wanda_saved_free(&w.sv);
    return rc;
}

int nm_prune_jointnf(nm_model *mdl, const nm_jointnf_opts *o)
{
    if (o->calib)
        return jointnf_wanda(mdl, o);
    if (o->m < 1 || o->n < 0 || o->n > o->m || o->m > 64)
        return nm_seterr("JointNF: impossible N:M %d:%d (need 0 <= N <= M, 1 <= M <= 64)", o->n, o->m);
    if (o->rounds < 1)
        return nm_seterr("JointNF: rounds must be at least 1, not %d", o->rounds);
    if (!(o->filter_ratio >= 0 && o->filter_ratio < 1))
        return nm_seterr("JointNF: filter ratio must be in [0, 1), not %g", o->filter_ratio);
    if (nm_filter_min_kept(1, o->min_density, o->max_sparsity) < 0) {
        char why[160];
        snprintf(why, sizeof why, "%s", nm_errmsg());
        return nm_seterr("JointNF: %s", why);
    }
    if ((int)o->reduction < 0 || o->reduction > NM_GRED_MAX)
        return nm_seterr("JointNF: group_reduction %d is not mean, sum or max", (int)o->reduction);
    if (nm_groups_check_heads(mdl, o->heads)) {
        char why[200];
        snprintf(why, sizeof why, "%s", nm_errmsg());
        return nm_seterr("JointNF: %s", why);
    }
    if ((o->filter_ratio > 0 || o->heads > 0) && (o->max_sparsity == 0 || o->min_density == 1))
        return nm_seterr("JointNF: %s %g forbids removing any filter (filters %g)",
                         o->max_sparsity == 0 ? "max_sparsity" : "min_density",
                         o->max_sparsity == 0 ? o->max_sparsity : o->min_density, o->filter_ratio);
    if (o->unmet)
        *o->unmet = 0;
    jl *ls = calloc((size_t)mdl->n_layers + 1, sizeof *ls);
    nm_select_seg *segs = calloc((size_t)mdl->n_layers + 1, sizeof *segs);
    int nl = 0, rc = NM_ERR;
    nm_group_set *gs = NULL;
    uint8_t *cand_all = NULL, *cbuf = NULL;
    int *bn_of = NULL;
    double **row_sum = NULL, *sums = NULL;
    if (!ls || !segs) {
        nm_seterr("out of memory");
        goto done;
    }
    for (int i = 0; i < mdl->n_layers; i++) {
        if (!nm_prune_eligible(mdl, i, &o->scope, NULL))
            continue;
        nm_layer *l = &mdl->layers[i];
        jl *e = &ls[nl];
        e->idx = i, e->n = o->n, e->m = o->m, e->axis = o->axis;
        const nm_layer_override *ov = nm_prune_override(mdl, i, &o->scope);
        if (ov && ov->m > 0)
            e->n = ov->n, e->m = ov->m;
        if (ov && ov->axis != NM_GROUP_AUTO)
            e->axis = ov->axis;
        if (e->axis == NM_GROUP_AUTO)
            e->axis = nm_group_axis_default(l);
        if (e->m < 1 || e->m > 64 || e->n < 0 || e->n > e->m) {
            nm_seterr("layer '%s': impossible N:M %d:%d", l->name, e->n, e->m);
            goto done;
        }
        if (nm_layer_ensure_keep(l)) {
            nm_seterr("out of memory");
            goto done;
        }
        nl++;
    }
    /* one candidate buffer for all layers (huge pages: few first-touch
     * faults), needed only by rounds before the last */
    size_t cand_bytes = 0;
    if (o->rounds > 1 || nm_jointnf_reference)
        for (int i = 0; i < nl; i++)
            cand_bytes += (size_t)mdl->layers[ls[i].idx].weight->numel;
    if (!(cand_all = nm_scratch_alloc(cand_bytes))) {
        nm_seterr("out of memory");
        goto done;
    }
    size_t off = 0;
    for (int i = 0; i < nl && cand_bytes; i++) {
        ls[i].cand = cand_all + off;
        off += (size_t)mdl->layers[ls[i].idx].weight->numel;
    }
    /* the last round's per-thread row buffers and row sums (the sums only
     * when no head groups go first: their removal changes other rows) */
    int64_t maxD = 1, rows_all = 0;
    for (int i = 0; i < nl; i++) {
        const nm_tensor *w = mdl->layers[ls[i].idx].weight;
        int64_t D = w->shape[0] > 0 ? w->numel / w->shape[0] : 0; /* the groups' row length */
        maxD = D > maxD ? D : maxD;
        rows_all += w->shape[0];
    }
    cbuf = malloc((size_t)omp_get_max_threads() * (size_t)maxD);
    if (!cbuf) {
        nm_seterr("out of memory");
        goto done;
    }
    if (o->heads == 0 && !nm_jointnf_reference) {
        row_sum = calloc((size_t)mdl->n_layers + 1, sizeof *row_sum);
        sums = malloc((size_t)(rows_all ? rows_all : 1) * sizeof *sums);
        if (!row_sum || !sums) {
            nm_seterr("out of memory");
            goto done;
        }
    }
    nm_group_opts go;
    nm_group_opts_init(&go);
    go.allow_add = o->allow_add;
    go.heads = o->heads;
    go.scope = o->scope;
    if (!(gs = nm_prune_groups(mdl, &go)))
        goto done;
    nm_group_rank rank = {o->reduction, score_joint, NULL, 0, o->min_density, o->max_sparsity,
                          o->normalize};
    int64_t F = 0, removed0 = 0;
    nm_group_rows_total(mdl, gs, 0, &F, &removed0);
    int64_t removed = removed0;
    for (int r = 1; r <= o->rounds; r++) {
        char what[48];
        snprintf(what, sizeof what, "jointnf round %d/%d", r, o->rounds);
        if (nm_progress(o->progress, o->progress_ud, (double)(r - 1) / o->rounds, what))
            goto done;
        if (o->finetune && o->finetune(o->finetune_ud, mdl, r)) {
            if (strcmp(nm_errmsg(), "cancelled") != 0) {
                char why[256];
                snprintf(why, sizeof why, "%s", nm_errmsg());
                nm_seterr("JointNF: fine-tuning failed in round %d%s%s", r, why[0] ? ": " : "", why);
            }
            goto done;
        }
        int64_t pool = 0, k;
        int cached = 0;
        if (r == o->rounds && !nm_jointnf_reference) {
            /* the whole pool goes: N:M in one pass, row sums taken there */
            cached = row_sum != NULL;
            double *at = sums;
            for (int i = 0; i < nl; i++) {
                nm_layer *l = &mdl->layers[ls[i].idx];
                int64_t rows = l->weight->shape[0];
                /* cached when score_joint's row length is the pass's */
                double *rs = cached && rows > 0 && nm_layer_cols(l) * rows == l->weight->numel
                                 ? at
                                 : NULL;
                if (rs)
                    at += rows;
                if (row_sum)
                    row_sum[ls[i].idx] = rs;
                pool += prune_last(l, &ls[i], cbuf, rs);
            }
            k = pool;
        } else {
            int fused = 0;
#if defined(__SSE2__)
            if (!nm_jointnf_reference && r < o->rounds) {
                /* candidates ranked inside the selection's pass */
                row_pieces rp = {0};
                int np = row_pieces_make(mdl, ls, nl, &rp);
                int rc2 = np < 0 ? NM_ERR
                                 : nm_select_generated(rp.pc, np, row_candidates, &rp,
                                                       (double)(o->rounds - r + 1), &k, &fused);
                row_pieces_free(&rp);
                if (rc2)
                    goto done;
            }
#endif
            if (!fused) { /* the multi-pass way: every candidate marked, then selected */
                for (int i = 0; i < nl; i++) {
                    nm_layer *l = &mdl->layers[ls[i].idx];
                    pool += mark_candidates(l, &ls[i]);
                    segs[i] = (nm_select_seg){nm_f32(l->weight), ls[i].cand, nm_u8(l->mask),
                                              l->weight->numel};
                }
                k = r == o->rounds ? pool : llround((double)pool / (o->rounds - r + 1));
                if (nm_select_smallest(segs, nl, k))
                    goto done;
            }
        }
        /* the BN of every layer, looked up once a round (after fine-tuning) */
        free(bn_of);
        if (!(bn_of = malloc((size_t)(mdl->n_layers ? mdl->n_layers : 1) * sizeof *bn_of))) {
            nm_seterr("out of memory");
            goto done;
        }
        for (int i = 0; i < mdl->n_layers; i++)
            bn_of[i] = nm_model_bn_of(mdl, i);
        score_ctx sctx = {bn_of, cached ? row_sum : NULL};
        rank.ud = &sctx;
        int64_t target = llround(o->filter_ratio * (double)F * r / o->rounds);
        int64_t fr = 0;
        if (o->heads > 0 &&
            nm_groups_remove_heads(mdl, gs, &rank, (int)llround((double)o->heads * r / o->rounds)))
            goto done;
        if (target > removed && nm_groups_remove_lowest(mdl, gs, &rank, -1, target - removed, &fr))
            goto done;
        removed += fr;
        report_round(mdl, o, r, ls, nl, k, (int)fr);
        if (o->unmet)
            *o->unmet = target > removed ? target - removed : 0;
    }
    for (int i = 0; i < nl; i++) {
        mdl->layers[ls[i].idx].wn = ls[i].n;
        mdl->layers[ls[i].idx].wm = ls[i].m;
    }
    rc = nm_progress(o->progress, o->progress_ud, 1.0, "jointnf done");
done:
    free(cand_all);
    free(cbuf);
    free(row_sum);
    free(sums);
    free(bn_of);
    free(ls);
    free(segs);
    nm_group_set_free(gs);
    return rc;
}
