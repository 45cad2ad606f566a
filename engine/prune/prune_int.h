/* prune_int.h - helpers shared by the files of engine/prune (not exported
 * beyond the engine): the geometry of weight groups and float keys. */
#ifndef NM_PRUNE_INT_H
#define NM_PRUNE_INT_H

#include "prune.h"

#include <stdint.h>
#include <string.h>

/* Four lanes of groups at once (GCC vector extensions, SSE2 on x86-64). */
typedef int32_t v4i __attribute__((vector_size(16)));
typedef float v4f __attribute__((vector_size(16)));
/* Eight lanes: one AVX2 register in an "avx2" clone, two SSE2 ones in the
 * baseline clone (NM_CLONES). */
typedef int32_t v8i __attribute__((vector_size(32)));
typedef float v8f __attribute__((vector_size(32)));

/* Hot loops are built twice with GCC on x86-64, for AVX2 and for the
 * baseline, and the loader picks one (function multiversioning). Put it on
 * a function that does not itself open an OpenMP region. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define NM_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define NM_CLONES
#endif

/* Ranks len keys per lane: R[i] = how many keys beat V[i], where j beats i
 * if it is strictly larger, or equal at a lower index (ties go to the lower
 * index). Keeping the N largest of a group is then R[i] < N. Shared by the
 * N:M mask kernels and NMReLU topk; always inlined so len stays constant
 * in the unrolled callers. */
static inline __attribute__((always_inline)) void nm_rank4(const v4i *V, int len, v4i *R)
{
#pragma GCC unroll 16
    for (int i = 0; i < len; i++)
        R[i] = (v4i){0, 0, 0, 0};
#pragma GCC unroll 16
    for (int i = 0; i < len; i++)
#pragma GCC unroll 16
        for (int j = i + 1; j < len; j++) {
            v4i c = V[j] > V[i];
            R[i] -= c;
            R[j] -= ~c;
        }
}

/* The groups of a weight seen as W [rows x D]: each row holds nseg segments
 * of seglen entries (entry i of segment s at s*ss + i*es), and each segment
 * is cut into gps = ceil(seglen / m) groups of m consecutive entries, the
 * last one possibly shorter.
 *   row:    nseg 1,     seglen D, es 1, ss D
 *   kernel: nseg C_in,  seglen K, es 1, ss K    (K = kh*kw)
 *   in:     nseg K,     seglen C_in, es K, ss 1 */
typedef struct {
    int64_t rows, D, nseg, seglen, es, ss, gps, m;
} nm_groups;

/* Fills g for weight w (2-D [rows, D] or 4-D [out, in, kh, kw]); NM_ERR with a
 * message on a bad tensor, axis or M. */
int nm_groups_make(const nm_tensor *w, int m, nm_group_axis axis, nm_groups *g);

static inline int64_t nm_groups_count(const nm_groups *g) { return g->rows * g->nseg * g->gps; }

/* Flat offset of group gi's first entry, its length and its stride. */
static inline int64_t nm_group_at(const nm_groups *g, int64_t gi, int64_t *len, int64_t *stride)
{
    int64_t j = gi % g->gps, rs = gi / g->gps;
    int64_t s = rs % g->nseg, r = rs / g->nseg;
    int64_t start = j * g->m, l = g->seglen - start;
    *len = l < g->m ? l : g->m;
    *stride = g->es;
    return r * g->D + s * g->ss + start * g->es;
}

/* |x| as an order-preserving unsigned key (NaN above +inf). */
static inline uint32_t nm_abs_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u & 0x7fffffffu;
}

/* Ranks v[0..len) (larger first, ties to the lower index) and sets keep[i]
 * = 1 for the first min(n, len). len <= 64. The general version; use
 * nm_top_n, which unrolls the common group sizes. */
void nm_top_n_any(const uint32_t *v, int len, int n, uint8_t *keep);

/* Pairwise ranking with a compile-time length: entry i's rank is how many
 * entries beat it (a larger key, or an equal key at a lower index). */
static inline __attribute__((always_inline)) void nm_top_n_fixed(const uint32_t *v, const int len,
                                                                  int n, uint8_t *keep)
{
    int rank[16];
#pragma GCC unroll 16
    for (int i = 0; i < len; i++) {
        int r = 0;
        uint32_t vi = v[i];
#pragma GCC unroll 16
        for (int j = 0; j < len; j++)
            r += j < i ? v[j] >= vi : v[j] > vi;
        rank[i] = r;
    }
#pragma GCC unroll 16
    for (int i = 0; i < len; i++)
        keep[i] = rank[i] < n;
}

static inline void nm_top_n(const uint32_t *v, int len, int n, uint8_t *keep)
{
    switch (len) {
    case 2: nm_top_n_fixed(v, 2, n, keep); break;
    case 4: nm_top_n_fixed(v, 4, n, keep); break;
    case 8: nm_top_n_fixed(v, 8, n, keep); break;
    case 9: nm_top_n_fixed(v, 9, n, keep); break;
    default: nm_top_n_any(v, len, n, keep); break;
    }
}

/* Runs BODY for every group of row r of geometry g, with `o` the flat
 * offset of its first entry, `len` its length and `st` its stride (no
 * divisions in the loop). */
#define NM_FOR_GROUPS_OF_ROW(g, r, o, len, st, BODY)                                   \
    for (int64_t s_ = 0; s_ < (g)->nseg; s_++) {                                       \
        int64_t base_ = (r) * (g)->D + s_ * (g)->ss;                                   \
        for (int64_t j_ = 0; j_ < (g)->seglen; j_ += (g)->m) {                         \
            int64_t o = base_ + j_ * (g)->es, st = (g)->es;                            \
            int len = (int)((g)->seglen - j_ < (g)->m ? (g)->seglen - j_ : (g)->m);    \
            (void)st;                                                                  \
            BODY                                                                       \
        }                                                                              \
    }

/* N:M on row r of a weight with geometry g: with cand NULL ANDs the
 * result into mk; otherwise leaves mk and sets cand[i] = 1 for survivors
 * outside the top N of their group (cand must start zeroed: groups no
 * longer than N are skipped). */
void nm_nm_row(const nm_groups *g, const float *w, uint8_t *mk, uint8_t *cand, int64_t r, int n);

/* The checks and group geometry of N:M n:m on layer l along axis (AUTO:
 * the layer's default), making its mask if missing; errors (prefixed with
 * the layer's name) as nm_prune_nm_layer. Rows are then pruned with
 * nm_nm_row. */
int nm_nm_layer_geom(nm_layer *l, int n, int m, nm_group_axis axis, nm_groups *g);

/* sum of |w[j]| over j < n with mk[j] set (mk NULL: all), in double with
 * four accumulators. */
double nm_row_abs_sum(const float *w, const uint8_t *mk, int64_t n);

/* Number of filters kept (1s in l->filters; all when NULL). */
int nm_filters_kept(const nm_layer *l);

/* Ensures l->filters and l->in_chans exist (all ones). */
int nm_layer_ensure_keep(nm_layer *l);

/* Like nm_select_smallest but only counts: per_seg[s] receives how many
 * entries of segment s the selection of k would take. */
int nm_select_count(const nm_select_seg *segs, int n_segs, int64_t k, int64_t *per_seg);

/* Largest boundary bucket the two-pass selection lists; above it the
 * three-pass path runs. Tests set it to -1 to exercise that path. */
extern int64_t nm_select_fast_max;

/* Clears the mask bits of all eligible entries but the `keep` largest |w|
 * (ties as nm_select_smallest); nothing when no more than keep are
 * eligible. Counts the eligible entries in its own pass. */
int nm_select_keep(nm_select_seg *segs, int n_segs, int64_t keep);

/* Set (tests): JointNF runs every round the multi-pass way (candidates
 * marked, selected, rows scored in separate passes), the reference its
 * fused passes are checked against. */
extern int nm_jointnf_reference;

/* Memory for a large scratch buffer (free with free()): from 1 MB on,
 * 2 MB-aligned and advised to use huge pages, so first touch costs a few
 * faults instead of one per 4 KB page. NULL when out of memory. */
void *nm_scratch_alloc(size_t bytes);

/* The one-pass selection (segments with eligibility bytes): used
 * from nm_select_sample_min entries on; tests move its estimated quantile
 * by nm_select_sample_bias and cap its band list at nm_select_sample_cap
 * (> 0) to exercise the ways back to the two-pass path. */
extern int64_t nm_select_sample_min;
extern double nm_select_sample_bias;
extern int64_t nm_select_sample_cap;
/* What the last one-pass attempt did: 0 not tried, 1 done, 2 gave back. */
extern int nm_select_sample_last;
/* One-pass selection over pieces whose eligibility bytes are made on
 * the fly: elig(ud, i, e) writes pieces[i].len bytes (nonzero: eligible)
 * into e (room for len + 64). Takes k = llround(pool / div) of the pool
 * of eligible entries (known only after the pass), smallest |w| first,
 * ties to the earlier piece, then the lower index, clearing their mask
 * bytes; *k_out = k and *done = 1. *done = 0: nothing changed (up to
 * nonzero mask bytes restored as 1): too small (below
 * nm_select_sample_min), too many pieces (2^16) or too long ones, or the
 * sampled band missed; select another way. Built where SSE2 is (x86-64). */
typedef struct {
    const float *w;
    uint8_t *mask;
    int64_t len;
} nm_select_piece;
typedef void (*nm_elig_fn)(void *ud, int64_t piece, uint8_t *e);
int nm_select_generated(const nm_select_piece *pieces, int64_t n_pieces, nm_elig_fn elig,
                        void *ud, double div, int64_t *k_out, int *done);

/* 0 (tests): the one-pass band scan uses its SSE2 version even where the
 * CPU has AVX2. */
extern int nm_select_avx2;

/* 1 if filter pruning may choose filters of layer i: eligible by scope,
 * not a dwconv, not feeding a residual add unless allow_add, and with a BN
 * when need_bn. */
int nm_filter_eligible(const nm_model *mdl, int i, const nm_prune_scope *scope, int allow_add,
                       int need_bn);

/* Clears filter t of layer idx (keys must exist): keep bit, mask row,
 * bias, the following BN's gamma/beta, and a dwconv's input channel. */
void nm_clear_filter(nm_model *mdl, int idx, int64_t t);
/* Clears input channel ch of layer c (keys must exist): in_chans and the
 * mask columns of ch (grouped convs: only the rows of its group). */
void nm_clear_in_channel(nm_layer *c, int64_t ch);

/* Input-channel clears put off until a batch of group removals is done:
 * then each layer's mask loses all its listed columns in one pass over
 * its rows instead of one strided pass per channel (same masks). */
typedef struct {
    int layer;
    int64_t ch;
} nm_in_clear;
typedef struct {
    nm_in_clear *a;
    int64_t n, cap;
} nm_in_clears;
int nm_in_clears_add(nm_in_clears *p, int layer, int64_t ch);
/* Clears every listed input channel (as nm_clear_in_channel) and frees
 * the list (p is left empty). */
void nm_in_clears_flush(nm_model *m, nm_in_clears *p);
/* nm_group_remove with the input-channel clears of its consumers listed
 * in pend (NULL: done at once); flush pend before the masks are read. */
int nm_group_remove_deferred(nm_model *m, nm_group_set *s, int g, nm_in_clears *pend);
/* 0 (tests): group removals clear input channels at once, the reference
 * for the batched clears. */
extern int nm_group_batch_clears;

/* How groups are ranked and capped (group_rank.c). */
typedef struct {
    nm_group_reduction reduction;
    nm_row_score_fn fn;
    void *ud;
    int need_bn;                 /* only groups whose row layers all have a BN */
    double min_density, max_sparsity;
    nm_group_norm normalize;     /* MEAN: scores divided by their family's mean */
} nm_group_rank;

/* 1 if group g takes part in filter ranking: prunable, not a head group,
 * with a row, and (need_bn) every row layer with a BN. */
int nm_group_candidate(const nm_model *m, const nm_group_set *s, int g, int need_bn);
/* Rows of the candidate groups plus the removed ones (F), and of the
 * removed ones (filters already gone), head groups left out. */
void nm_group_rows_total(const nm_model *m, const nm_group_set *s, int need_bn, int64_t *F,
                         int64_t *removed);
/* Removes the lowest-scoring candidate groups (lead >= 0: only those with
 * rows of that layer, counting its rows only) while they fit in `want`
 * rows and their caps allow; *removed receives the rows removed. */
int nm_groups_remove_lowest(nm_model *m, nm_group_set *s, const nm_group_rank *r, int lead,
                            int64_t want, int64_t *removed);
/* Error naming the option or layer unless `heads` whole heads can go from
 * every attention of m (0: nothing to check). */
int nm_groups_check_heads(const nm_model *m, int heads);
/* Removes the lowest-scoring head groups of every attention until
 * per_layer of its heads are gone (set built with heads > 0). */
int nm_groups_remove_heads(nm_model *m, nm_group_set *s, const nm_group_rank *r, int per_layer);

/* nm_prune_groups, and (when elem_group is not NULL) the group of every
 * feature: feature c of node v (layer v, or n_layers + k = graph input k) is
 * (*elem_group)[(*node_base)[v] + c], -1 when in no listed group. Both
 * arrays malloc'd for the caller to free. */
nm_group_set *nm_prune_groups_map(const nm_model *m, const nm_group_opts *o, int **elem_group,
                                  int64_t **node_base);

/* ceil(log2(x)) for x >= 1 (0 for x <= 1). */
static inline int nm_ceil_log2(uint64_t x)
{
    return x <= 1 ? 0 : 64 - __builtin_clzll(x - 1);
}

/* C(n, k) exactly for n <= 64. */
uint64_t nm_binom(int n, int k);

#endif
