/* prune.h - the pruning engine: N:M masks, magnitude (per layer and
 * global), channel dependency groups, filter pruning on them, NFFS, JointNF, NMReLU,
 * cost and storage, and compressed N:M formats.
 *
 * Conventions (see /work/shared/JOINTNF.md):
 * - A weight is viewed as W [rows x D] (im2col, columns (c_in, kh, kw), kw
 *   fastest). Magnitude is always taken on the masked weight: an entry whose
 *   mask is 0 counts as 0, and masks only ever lose ones (AND), so a pruned
 *   weight never comes back unless the caller resets the mask.
 * - Ties in magnitude are broken by the lower index: the lower flat index
 *   within a layer, and the earlier layer across layers.
 * - Everything returns NM_OK/NM_ERR (or NULL) with a message (error.h). */
#ifndef NM_PRUNE_H
#define NM_PRUNE_H

#include "error.h"
#include "model.h"
#include "tensor.h"

#include <stdint.h>

/* ---- weight groups (nm_mask.c) ---------------------------------------- */

typedef enum {
    NM_GROUP_AUTO = -1, /* per-layer default: 1x1 conv and linear -> in, kxk and dwconv -> kernel */
    NM_GROUP_KERNEL = 0,/* M consecutive weights inside one (out, in) kernel (M = kh*kw: one group) */
    NM_GROUP_IN,        /* M consecutive input channels at fixed (out, kh, kw) */
    NM_GROUP_ROW,       /* M consecutive entries of the flattened row of W */
} nm_group_axis;

const char *nm_group_axis_name(nm_group_axis a);
/* Axis from "kernel"/"in"/"row"/"auto"; -2 if unknown. */
int nm_group_axis_from_name(const char *s);
/* The default axis for a layer (resolves NM_GROUP_AUTO). */
nm_group_axis nm_group_axis_default(const nm_layer *l);

/* Applies N:M magnitude pruning to a weight tensor: in every group keep the
 * N largest |w| among entries still kept by `mask` (ties: lower index), a
 * trailing partial group of length L keeps min(N, L). The result is ANDed
 * into `mask` (u8, same shape as w). w is [rows, D] (2-D) or
 * [out, in, kh, kw] (4-D; 2-D is treated as kh = kw = 1). */
int nm_prune_nm_tensor(const nm_tensor *w, nm_tensor *mask, int n, int m, nm_group_axis axis);

/* Counts groups of (w masked by mask; mask may be NULL) that have more than
 * N nonzeros. Returns NM_OK and fills *violations and *groups (either may be
 * NULL); NM_ERR on bad arguments. */
int nm_check_nm(const nm_tensor *w, const nm_tensor *mask, int n, int m, nm_group_axis axis,
                int64_t *violations, int64_t *groups);

/* ---- which layers a model-wide method touches ---------------------------- */

/* Per-layer override, matched by layer name. n = m = 0 keeps the model's
 * N:M; axis NM_GROUP_AUTO keeps the model's axis. */
typedef struct {
    const char *layer;
    int skip;            /* 1: leave this layer alone */
    int force;           /* 1: prune it even if it is the first conv / classifier */
    nm_group_axis axis;
    int n, m;
} nm_layer_override;

typedef struct {
    int include_first;   /* 0 (default): skip the first prunable layer (first conv) */
    int include_last;    /* 0 (default): skip the last prunable layer (classifier) */
    const nm_layer_override *overrides;
    int n_overrides;
} nm_prune_scope;

/* 1 if the method should touch layer idx, else 0 with *reason set to a
 * static string ("not prunable", "first conv", "classifier", "skipped by
 * option"). reason may be NULL. */
int nm_prune_eligible(const nm_model *mdl, int idx, const nm_prune_scope *scope,
                      const char **reason);
/* The override for layer idx, or NULL. */
const nm_layer_override *nm_prune_override(const nm_model *mdl, int idx,
                                           const nm_prune_scope *scope);

/* ---- calibration-aware scores: Wanda (wanda.c) --------------------------- */

/* Per-layer input-feature L2 norms over a calibration batch. norm[i] is
 * NULL or, for a prunable layer i, nm_calib_len(layer) floats: for a conv
 * or dwconv one per im2col position (input channel c of the whole layer,
 * kh, kw; kw fastest), the norm over all output positions and samples of
 * the input value that position reads (0 in the padding); for a linear
 * layer one per input feature (over all positions and samples). Owned by
 * whoever made it (nm_calib_new / nm_calib_compute): nm_calib_free. */
typedef struct nm_calib {
    int n_layers;       /* the model's layer count */
    float **norm;       /* [n_layers] */
    int64_t samples;    /* calibration samples seen */
} nm_calib;

/* norm vector length of a layer: in_c * kh * kw (conv, dwconv), in_c
 * (linear), 0 for a layer without prunable weights. */
int64_t nm_calib_len(const nm_layer *l);
/* An empty set for m (every norm NULL). NULL with a message. */
nm_calib *nm_calib_new(const nm_model *m);
void nm_calib_free(nm_calib *c);
/* NM_ERR with a message naming the layer unless c fits m: same layer count,
 * and every prunable layer a method may touch (scope) has finite norms
 * >= 0 (scope NULL: every prunable layer). */
int nm_calib_check(const nm_model *m, const nm_calib *c, const nm_prune_scope *scope);

/* The Wanda score of weight (o, j) of a prunable layer (im2col view) is
 * |w[o, j]| * norm[(o / cout_g) * cin_g * K + j] (K = kh * kw, j = (c, kh,
 * kw) within the group). nm_wanda_scale replaces every prunable weight of m
 * that has a norm by w * norm, keeping the original in s; nm_wanda_unscale
 * puts the originals back (bit for bit). Every magnitude-based method run
 * in between ranks by the Wanda score with its own tie rules. s is owned
 * by the caller: zero it before the first scale, nm_wanda_saved_free after. */
typedef struct {
    int n_layers;
    float **orig;       /* [n_layers]: copies of the scaled weights */
    int scaled;
} nm_wanda_saved;
int nm_wanda_scale(nm_model *m, const nm_calib *c, nm_wanda_saved *s);
void nm_wanda_unscale(nm_model *m, nm_wanda_saved *s);
void nm_wanda_saved_free(nm_wanda_saved *s);

/* How group scores are made comparable before a global ranking. NONE: as
 * they are (JOINTNF.md section 4: |gamma| * mean |w| ranked across layers).
 * MEAN: each group's score divided by the mean score of the candidate
 * groups of its family (the groups led by the same layer: one layer's
 * filters, a residual stream's channels, one block's MLP units or head
 * dimensions), so families whose weights differ in scale (fan-in) rank on
 * one scale. */
typedef enum { NM_GNORM_NONE = 0, NM_GNORM_MEAN } nm_group_norm;

/* ---- the paper's settings (preset.c) ----------------------------------- */

typedef struct {
    const char *arch;          /* zoo name */
    int nm_n, nm_m;            /* the N:M-only baselines (Table 1 / Table 2) */
    int n, m;                  /* JointNF's weight N:M */
    double filters;            /* JointNF's filter (row) share */
    nm_group_axis axis;        /* weight groups (AUTO: kernel for kxk, in for 1x1/linear) */
    int pointwise_only;        /* MobileNet-v2: only 1x1 convs and linear layers */
    int allow_add;             /* ViT: rows of the residual stream may go */
    int rounds;
} nm_paper_preset;

/* The preset for m's architecture, found by its name (case, '-' and '_'
 * ignored); NULL with a message naming the model when there is none. */
const nm_paper_preset *nm_paper_preset_for(const nm_model *m);
/* The preset's scope: first conv and classifier included; pointwise_only
 * fills ov (room for m->n_layers) with a skip for every other prunable
 * layer. */
int nm_paper_scope(const nm_model *m, const nm_paper_preset *p, nm_layer_override *ov,
                   nm_prune_scope *s);

/* ---- N:M over a model, and the report ---------------------------------- */

typedef struct {
    int n, m;
    nm_group_axis axis;  /* NM_GROUP_AUTO: per-layer default */
    nm_prune_scope scope;
    const nm_calib *calib; /* not NULL: rank by the Wanda score (|w| x input norm) */
} nm_nm_opts;

/* n:m, auto axis, first conv and classifier skipped. */
void nm_nm_opts_init(nm_nm_opts *o, int n, int m);

/* One layer: ensures a mask, applies N:M along `axis` (AUTO = default),
 * sets l->wn/l->wm. */
int nm_prune_nm_layer(nm_layer *l, int n, int m, nm_group_axis axis);

typedef struct {
    int layer;                  /* index in the model */
    char name[NM_NAME_MAX];
    int pruned;                 /* 1 if the options select it */
    const char *skip_reason;    /* static; "" when pruned */
    nm_group_axis axis;         /* resolved axis */
    int n, m;                   /* N:M checked (the layer's wn:wm when no options) */
    int64_t params, nonzeros;
    double sparsity;            /* 1 - nonzeros/params */
    int filters, filters_kept;
    double filter_sparsity;     /* removed filters / filters */
    int nm_holds;               /* 1 if every group has <= N nonzeros (1 when n:m = 0:0) */
    int64_t nm_violations, nm_groups;
} nm_prune_layer_info;

typedef struct {
    int n_layers;               /* prunable layers only */
    nm_prune_layer_info *layers;
    int64_t params, nonzeros;   /* over the prunable layers */
    double sparsity;
} nm_prune_report;

/* Applies N:M to every eligible prunable layer of the model. If report is
 * not NULL it receives a new report (free with nm_prune_report_free). */
int nm_prune_nm_model(nm_model *mdl, const nm_nm_opts *o, nm_prune_report **report);
/* Builds a report of the model as it is. With opts NULL every prunable
 * layer is listed with its declared wn:wm and default axis. Caller frees. */
nm_prune_report *nm_prune_report_new(const nm_model *mdl, const nm_nm_opts *o);
void nm_prune_report_free(nm_prune_report *r);

/* ---- exact selection (select.c) ----------------------------------------- */

/* One array taking part in a selection. Entries with elig[i] == 0 do not
 * take part (elig NULL: all do). Selected entries get mask[i] = 0. */
typedef struct {
    const float *w;
    const uint8_t *elig;
    uint8_t *mask;
    int64_t n;
} nm_select_seg;

/* Selects exactly k eligible entries with the smallest |w| over all
 * segments (ties: earlier segment, then lower index) and clears their mask
 * bits. Radix select on the float bits, no sort (OpenMP): with elig
 * bytes and 1M entries or more, a 1/16 sample sets a key band around the
 * cut and one pass clears what lies below it and lists the band (entries
 * it had to give back, if the band missed, are restored as 1); otherwise
 * a histogram pass, then one pass that clears what lies below the
 * boundary bucket and lists its members. k larger than the eligible count
 * is an error. */
int nm_select_smallest(nm_select_seg *segs, int n_segs, int64_t k);

/* ---- unstructured magnitude (magnitude.c, global.c) --------------------- */

/* Prunes one layer so that exactly round(sparsity * params) weights are
 * masked (already-masked weights count; the smallest surviving |w| go). */
int nm_prune_magnitude_layer(nm_layer *l, double sparsity);
/* The same sparsity on every eligible layer of a model; calib not NULL:
 * ranked by the Wanda score (wanda.c). */
int nm_prune_magnitude_model(nm_model *m, double sparsity, const nm_prune_scope *scope,
                             const nm_calib *calib);

typedef struct {
    double sparsity;      /* fraction of all eligible weights to be masked */
    double min_density;   /* per-layer floor on kept fraction (0 = none) */
    double max_sparsity;  /* per-layer cap on masked fraction (1 = none) */
    nm_prune_scope scope;
    const nm_calib *calib; /* not NULL: rank by the Wanda score */
} nm_global_opts;

void nm_global_opts_init(nm_global_opts *o, double sparsity);
/* Global magnitude pruning: the k = round(sparsity * total) smallest |w|
 * over all eligible layers are masked, exactly (less only where per-layer
 * floors make k impossible: then an error). */
int nm_prune_global(nm_model *mdl, const nm_global_opts *o);

/* ---- channel dependency groups (groups.c) ------------------------------ */

/* What a member of a group is: a producer row (conv/linear filter, or a
 * dwconv channel), a consumer's input channel, a BN/LayerNorm entry, or an
 * embedding's class-token/position column. */
typedef enum { NM_GM_OUT = 0, NM_GM_IN, NM_GM_NORM, NM_GM_EMBED } nm_gm_axis;
const char *nm_gm_axis_name(nm_gm_axis a);

typedef struct {
    int layer;
    nm_gm_axis axis;
    int index;      /* row, input channel (feature, after a flatten) or entry */
} nm_group_member;

typedef struct {
    int node, count; /* a tensor (layer index, or n_layers + k = graph input k)
                        and how many of its channels the group holds */
} nm_group_node;

/* How a group's score aggregates its members' row scores. Default mean:
 * groups of different sizes (a residual stream of 25 producers, a plain
 * row) then compare on the same scale as a single filter. */
typedef enum { NM_GRED_MEAN = 0, NM_GRED_SUM, NM_GRED_MAX } nm_group_reduction;
const char *nm_group_reduction_name(nm_group_reduction r);
int nm_group_reduction_from_name(const char *s); /* -1 if unknown */

typedef struct {
    int first, count;        /* members [first, first + count) */
    int node_first, node_count; /* nodes [node_first, +node_count) */
    int rows;                /* conv/linear filters among the members */
    int prunable;            /* may be removed under the options it was built with */
    const char *why;         /* static: "" when prunable, else the reason */
    int residual;            /* crosses an add/sub or a LayerNorm */
    int attention;           /* crosses an attention matmul */
    int head, attn_layer;    /* heads mode: head index and its qk matmul (else -1) */
    int removed;             /* every filter of it is removed */
    int pinned;              /* touches something that cannot be mapped (never removed) */
    int layernorm;           /* has a LayerNorm entry (it keeps a keep vector when removed) */
} nm_channel_group;

/* The groups of a model: one per set of channels tied together that holds
 * at least one conv/linear row. alive/size: channels per tensor (node)
 * still kept / in all, updated by nm_group_remove. Owned by the caller:
 * nm_group_set_free. */
typedef struct {
    int n_groups;
    nm_channel_group *groups;
    int n_members;
    nm_group_member *members;
    nm_group_node *nodes;
    int n_nodes;
    int *alive, *size;
} nm_group_set;

typedef struct {
    int allow_add;           /* residual streams (adds, LayerNorm) may go */
    int heads;               /* > 0: attention grouped by whole heads */
    nm_prune_scope scope;    /* a group is prunable only if all its row layers are eligible */
} nm_group_opts;

void nm_group_opts_init(nm_group_opts *o);
/* Builds the channel dependency groups (see groups.c for the rules).
 * opts NULL: defaults. NULL with a message on failure. */
nm_group_set *nm_prune_groups(const nm_model *m, const nm_group_opts *opts);
void nm_group_set_free(nm_group_set *s);
/* The group holding row `row` of layer `layer`, or -1. */
int nm_group_of_row(const nm_group_set *s, int layer, int row);
/* The first conv/linear layer with a row in group g (its "lead"), or -1. */
int nm_group_lead(const nm_model *m, const nm_group_set *s, int g);
/* 1 if group g is prunable and removing it leaves every tensor it touches
 * at least one channel and every conv/linear at least its cap's minimum
 * (nm_filter_min_kept with min_density / max_sparsity). */
int nm_group_can_remove(const nm_model *m, nm_group_set *s, int g, double min_density,
                        double max_sparsity);
/* Removes group g: clears every member (see groups.c) and updates the
 * set. Does not check nm_group_can_remove. */
int nm_group_remove(nm_model *m, nm_group_set *s, int g);

/* NM_ERR with a message naming the option or the attention layer unless
 * `heads` whole heads can be removed from every attention of m (0: OK). */
int nm_groups_check_heads_msg(const nm_model *m, int heads);

/* Score of one row (filter) of a layer. */
typedef double (*nm_row_score_fn)(const nm_model *m, int layer, int row, void *ud);
/* Aggregate of fn over the group's conv/linear rows. */
double nm_group_score(const nm_model *m, const nm_group_set *s, int g, nm_group_reduction red,
                      nm_row_score_fn fn, void *ud);

/* ---- filters and channel propagation (filters.c) ------------------------ */

typedef enum { NM_FILTER_L1 = 0, NM_FILTER_BN } nm_filter_criterion;

typedef struct {
    double ratio;              /* fraction of the eligible filters removed in total */
    nm_filter_criterion criterion; /* L1: mean |w| of the row; BN: |gamma| of the layer's BN */
    int global;                /* 1: rank across layers; 0: ratio per layer */
    int allow_add;             /* 1: also prune channels that feed a residual add */
    nm_prune_scope scope;
    /* Per-layer cap: at most floor(max_sparsity * C_out) of a layer's
     * filters removed (removed before count), i.e. at least
     * ceil(min_density * C_out) kept, and always at least one. Defaults
     * 1 and 0 (only the never-empty rule); give either, or both equal
     * (min_density = 1 - max_sparsity), else an error. */
    double max_sparsity;
    double min_density;
    int64_t *unmet;            /* out, may be NULL: filters of the target the caps left */
    nm_group_reduction reduction; /* group score from its rows' scores (default mean) */
    int heads;                 /* > 0: remove this many whole heads from every attention */
    const nm_calib *calib;     /* not NULL (L1 criterion only): a row's score is the mean
                                  Wanda score |w| x input norm of its entries */
    nm_group_norm normalize;   /* global ranking: scores per family (default none) */
} nm_filter_opts;

/* ratio, L1, global, adds kept, no caps, first conv and classifier skipped. */
void nm_filter_opts_init(nm_filter_opts *o, double ratio);
/* Filter pruning on channel groups (nm_prune_groups with allow_add, heads
 * and scope from o): a group goes as a whole (nm_group_remove). Candidates:
 * the prunable groups that are not head groups (with the BN criterion only
 * groups whose row layers all have a BN). A group's score aggregates its
 * rows' scores (mean |w| of the masked row, or |gamma|) with o->reduction;
 * scores are taken once, before any removal. heads > 0 first removes that
 * many lowest-scoring whole heads of every attention. Global: groups are
 * taken lowest score first until round(ratio * F) of the F filters of the
 * candidate groups (and of groups already removed) are gone, a group
 * larger than what is left being skipped for a smaller one, and one whose
 * removal would pass a cap (nm_group_can_remove: nm_filter_min_kept per
 * conv/linear, one channel per tensor) skipped for the next-ranked. Per
 * layer, in layer order: each eligible layer loses rows until
 * round(ratio * C_out) of its rows are gone (those removed with groups
 * taken for earlier layers count), taking the groups that hold its rows.
 * What the caps make impossible is left in *o->unmet (not an error); a cap
 * that forbids any removal (max_sparsity 0, min_density 1) with a target,
 * heads without attention or with too many heads, are errors before
 * anything changes. */
int nm_prune_filters(nm_model *mdl, const nm_filter_opts *o);

/* The fewest filters a layer of out_c filters may keep under the caps
 * (at least 1); -1 with a message if min_density / max_sparsity are out
 * of [0, 1] or both given (not at their defaults 0 / 1) and inconsistent. */
int nm_filter_min_kept(int out_c, double min_density, double max_sparsity);

/* Removes filter t of layer idx and propagates: clears filters[t], mask row
 * t, bias[t], the BN's gamma[t]/beta[t]; then for every consumer whose
 * producers have all lost channel t: clears in_chans and the mask columns of
 * channel t (through FLATTEN: the whole feature block), and for a dwconv
 * consumer removes its channel t too (and so on down the line). */
int nm_remove_filter(nm_model *mdl, int idx, int t);

/* 1 if the output channels of layer idx reach a residual ADD. */
int nm_feeds_add(const nm_model *mdl, int idx);

/* ---- NFFS (nffs.c) ------------------------------------------------------ */

/* NFFS on one layer: N:M along axis, then remove the filters with the
 * smallest post-N:M L1 norm until u filters are removed in total (ties:
 * lower row first). With propagate, each row goes with its channel group
 * (nm_group_remove, scope ignored, adds kept) when that group may go, else
 * through nm_remove_filter (the row alone; consumers lose the channel only
 * when all its producers did). u >= rows is an error. */
int nm_prune_nffs(nm_model *mdl, int idx, int n, int m, nm_group_axis axis, int u,
                  int propagate);
/* u from a ratio: round(ratio * rows). */
int nm_nffs_u(const nm_layer *l, double ratio);

/* ---- JointNF (jointnf.c) ------------------------------------------------ */

typedef struct {
    int round, rounds;
    int n_layers;              /* eligible layers */
    const int *layer;          /* their model indices */
    const double *density;     /* kept weights / params per layer */
    const int *filters_kept;
    const int *filters;
    int64_t weights_pruned;    /* this round */
    int filters_removed;       /* this round */
} nm_jointnf_round;

typedef struct {
    int n, m;
    nm_group_axis axis;        /* AUTO: per-layer default */
    double filter_ratio;       /* f: fraction of eligible filters removed in total */
    int rounds;                /* R >= 1 */
    int allow_add;
    nm_prune_scope scope;
    double max_sparsity;       /* per-layer filter cap, as nm_filter_opts */
    double min_density;
    int64_t *unmet;            /* out, may be NULL: filters of the final target the caps left */
    nm_group_reduction reduction; /* group score from its rows' scores (default mean) */
    int heads;                 /* > 0: remove this many whole heads from every attention
                                  (round(heads * r / R) after round r) */
    int (*finetune)(void *ud, nm_model *mdl, int round);  /* nonzero = failure */
    void *finetune_ud;
    void (*on_round)(void *ud, const nm_jointnf_round *info);
    void *on_round_ud;
    nm_progress_fn progress;
    void *progress_ud;
    const nm_calib *calib;     /* not NULL: weights and filters ranked by the Wanda score
                                  (|w| x input norm, norms taken once, before round 1;
                                  finetune and on_round see the unscaled weights) */
    nm_group_norm normalize;   /* filter ranking: scores per family (default none) */
} nm_jointnf_opts;

/* n:m, auto axis, f, R; no callbacks, no filter caps; first conv and
 * classifier skipped. */
void nm_jointnf_opts_init(nm_jointnf_opts *o, int n, int m, double filter_ratio, int rounds);
/* JointNF (JOINTNF.md section 4). Round r = 1..R: progress check, finetune
 * (if set; nonzero fails the call), reserve the N largest survivors of each
 * group and prune round(pool / (R - r + 1)) of the other survivors of all
 * eligible layers globally (all of them in round R), then (heads > 0)
 * remove whole heads until round(heads * r / R) of every attention are
 * gone, then remove channel groups ranked by the reduction of their rows'
 * |gamma| * mean |w| (gamma 1 without BN) until round(f * F * r / R) of the
 * F filters of the candidate groups (as nm_prune_filters) are gone, never
 * a layer's last nor past its cap (max_sparsity / min_density, as
 * nm_prune_filters: capped groups are skipped for the next-ranked, and
 * what cannot be removed carries to the next round and ends in *unmet);
 * then on_round. The groups are built once, before round 1. Sets
 * wn:wm on the eligible layers. After round R every group has <= N. */
int nm_prune_jointnf(nm_model *mdl, const nm_jointnf_opts *o);

/* ---- NMReLU (nmrelu.c) -------------------------------------------------- */

/* y = N:M(ReLU(x)) along the activation groups. x is NCHW (4-D) or
 * (batch, features) (2-D). Position axis: per channel, M consecutive
 * positions (H*W row-major within one image; over the batch for 2-D).
 * Channel axis: M consecutive channels at one position (features for 2-D).
 * y may be x (in place). */
int nm_nmrelu_forward(const nm_tensor *x, nm_tensor *y, int n, int m, nm_act_policy policy,
                      nm_act_axis axis);
/* The raw kernels behind nm_nmrelu_forward (ReLU and N:M in one pass, M <=
 * 64; x and y may alias). x is an R x L row-major matrix: _rows groups M
 * consecutive values of each row, _cols M consecutive rows of each column.
 * The training engine calls them on its [C, batch*H*W] buffers. */
void nm_nmrelu_rows(const float *x, float *y, int64_t R, int64_t L, int n, int m,
                    nm_act_policy policy);
void nm_nmrelu_cols(const float *x, float *y, int64_t R, int64_t L, int n, int m,
                    nm_act_policy policy);
/* dx = dy where y != 0, else 0 (gradient only through kept outputs). */
int nm_nmrelu_backward(const nm_tensor *y, const nm_tensor *dy, nm_tensor *dx);

typedef struct {
    int64_t numel, nonzeros;
    double density;
    int64_t groups, full_groups; /* groups with exactly min(N, L) nonzeros */
} nm_act_stats;
/* Density of an activation tensor and how many groups are full. If
 * per_channel is not NULL it receives C densities (C = dim 1). */
int nm_act_density(const nm_tensor *y, int n, int m, nm_act_axis axis, nm_act_stats *s,
                   double *per_channel);

/* ---- cost and storage (cost.c) ----------------------------------------- */

typedef struct {
    int64_t dense_macs;        /* per sample: P * C_out * D */
    double effective_macs;     /* P*(C_out-U)*D*(C_in'/C_in)*(wn/wm)*(an/am) */
    int filters_removed, in_chans_kept;
} nm_layer_cost;

/* Section 5 formula, per sample. an:am = 0:0 means dense activations; the
 * weight ratio is the layer's declared wn:wm (1 if 0:0). */
int nm_cost_layer(const nm_model *mdl, int idx, int an, int am, nm_layer_cost *c);
/* Sums over the model's prunable layers. */
int nm_cost_model(const nm_model *mdl, int an, int am, int64_t *dense, double *effective);

/* Counts products where both operands are nonzero for layer idx on the
 * input x (NCHW [B, C_in, H, W] matching the layer's input; a linear layer
 * also accepts [B, in]). Weights count as nonzero if kept by the mask and
 * nonzero. This is the sum of the 0/1 GEMM (im2col of the input
 * indicators times the weight indicators), computed exactly without the
 * GEMM: per reduction column, (nonzero inputs it sees) x (nonzero weights
 * in it), summed per conv group. */
int nm_cost_measured(const nm_model *mdl, int idx, const nm_tensor *x, int64_t *products);

typedef struct {
    int64_t params;            /* dense weights, at 8 bits each */
    int64_t nonzeros;          /* stored values (kept rows and input channels) */
    int64_t groups;            /* N:M groups of the compacted matrix */
    int64_t dense_bits;
    int64_t value_bits;        /* 8 * nonzeros */
    int64_t simple_bits;       /* ceil(log2 M) per nonzero */
    int64_t bitmask_bits;      /* M per group */
    int64_t combinatorial_bits;/* ceil(log2 C(M, N)) per group */
} nm_storage;

/* Storage of layer idx with N:M n:m along axis (n = m = 0: the layer's
 * wn:wm; AUTO axis: default). Removed filters and input channels are not
 * stored (the matrix is compacted first). */
int nm_storage_layer(const nm_model *mdl, int idx, int n, int m, nm_group_axis axis,
                     nm_storage *s);
/* Sum over the prunable layers with a declared wn:wm (others as dense). */
int nm_storage_model(const nm_model *mdl, nm_storage *s);

/* ---- compressed N:M tensors (compress.c) ------------------------------- */

typedef enum { NM_INDEX_SIMPLE = 0, NM_INDEX_BITMASK, NM_INDEX_COMBINATORIAL } nm_index_scheme;

const char *nm_index_scheme_name(nm_index_scheme s);

typedef struct {
    int ndim;
    int64_t shape[NM_MAX_DIMS];
    int n, m;
    nm_group_axis axis;
    nm_index_scheme scheme;
    int64_t groups;
    int64_t n_values;          /* sum over groups of min(N, L): padded with zeros */
    float *values;             /* n_values, group order */
    uint8_t *index;            /* packed bits, LSB first */
    int64_t index_bits;
    int64_t value_bits;        /* 8 * n_values (the hardware's 8-bit values) */
} nm_compressed;

/* Compresses a dense f32 tensor that satisfies n:m along axis (2 <= M <= 64,
 * axis not AUTO). A group with more than N nonzero entries is an error naming
 * it. Caller frees with nm_compressed_free. */
nm_compressed *nm_compress(const nm_tensor *dense, int n, int m, nm_group_axis axis,
                           nm_index_scheme scheme);
/* Restores the dense tensor bit for bit. New tensor owned by the caller. */
nm_tensor *nm_decompress(const nm_compressed *c);
/* Decodes the index stream: flat[v] = the flat offset in the dense tensor
 * of stored value v (c->n_values entries, caller allocated). NM_ERR with a
 * message on a corrupt index. The compressed N:M kernels (engine/sparse)
 * read their weights through this. */
int nm_compressed_positions(const nm_compressed *c, int64_t *flat);
void nm_compressed_free(nm_compressed *c);

#endif
