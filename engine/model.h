/* model.h - networks as a list of named layers forming a DAG.
 *
 * Layers are stored in topological order; each names its producers by index
 * (NM_INPUT for the model input, NM_INPUT_K(k) for graph input k of a model
 * with several). Activations are described per sample as
 * (C, H, W): images are channels x height x width; token sequences (ViT) are
 * features x tokens x 1. A linear layer acts on the channel axis at every
 * position, like a 1x1 convolution, so "positions" P = H*W for every kind.
 *
 * Weight layouts (PyTorch order):
 *   conv    [C_out, C_in/groups, kh, kw]  (dwconv: groups = C_in = C_out)
 *   linear  [out, in]
 * The im2col view of a weight is W [C_out x D], D = C_in/groups*kh*kw.
 *
 * Ownership: the model owns its layers and their tensors (each tensor pointer
 * holds one reference). nm_model_free releases everything. */
#ifndef NM_MODEL_H
#define NM_MODEL_H

#include "error.h"
#include "tensor.h"

#include <stdint.h>

#define NM_INPUT (-1)       /* producer index meaning "the model input" (graph input 0) */
#define NM_PREV (-2)        /* in nm_add_*: the most recently added layer */
#define NM_NAME_MAX 64
#define NM_MAX_INPUTS 64    /* producers of one layer (a DenseNet concat has up to 33) */
#define NM_MAX_OUTPUTS 16   /* graph outputs of one model */
#define NM_MAX_GRAPH_INPUTS 16 /* graph inputs of one model */

/* Graph inputs as producer indices: input 0 is NM_INPUT (-1); input k >= 1
 * is -2 - k (-3 .. -17), below NM_PREV, so no code that knows only
 * NM_INPUT can take it for input 0 or for a layer. Test a producer with
 * nm_is_input / nm_input_index, never with `< 0` or `== NM_INPUT` alone. */
#define NM_INPUT_K(k) ((k) == 0 ? NM_INPUT : -2 - (k))
/* Which graph input producer index src is (0 for NM_INPUT), or -1. */
static inline int nm_input_index(int src)
{
    if (src == NM_INPUT)
        return 0;
    return src <= -3 && src >= -1 - NM_MAX_GRAPH_INPUTS ? -2 - src : -1;
}
static inline int nm_is_input(int src) { return nm_input_index(src) >= 0; }

typedef enum {
    NM_LAYER_CONV = 0,  /* 2-D convolution (groups may be > 1) */
    NM_LAYER_DWCONV,    /* depthwise convolution (groups = channels) */
    NM_LAYER_LINEAR,    /* fully connected, on the channel axis per position */
    NM_LAYER_BN,        /* batch normalisation (inference: running stats) */
    NM_LAYER_RELU,      /* ReLU; clip > 0 makes it ReLU6-style min(max(x,0),clip) */
    NM_LAYER_NMRELU,    /* ReLU then N:M along activation groups */
    NM_LAYER_MAXPOOL,
    NM_LAYER_AVGPOOL,
    NM_LAYER_GAP,       /* global average pool: (C,H,W) -> (C,1,1) */
    NM_LAYER_ADD,       /* elementwise sum of two producers (residual) */
    NM_LAYER_FLATTEN,   /* (C,H,W) -> (C*H*W,1,1) */
    NM_LAYER_MATMUL,    /* attention matmul between two activations (no weights), see
                           nm_add_matmul */
    NM_LAYER_LAYERNORM, /* over the feature (channel) axis at each position */
    NM_LAYER_GELU,      /* exact: 0.5 x (1 + erf(x / sqrt 2)) */
    NM_LAYER_SOFTMAX,   /* over the channel axis, in `heads` groups of C/heads
                           consecutive channels (0 or 1: all channels) */
    NM_LAYER_EMBED,     /* ViT: (C,H,W) patches -> (C, H*W+1, 1) with class token + positions */
    NM_LAYER_SLICE,     /* a contiguous range of channels (Q/K/V of a packed qkv)
                           or of positions (ViT's class token); no weights */
    /* Elementwise binary ops: a second producer (inputs[1]) or a constant
     * operand (`konst`, with n_inputs = 1), broadcast per axis: every axis of
     * either operand is 1 or the output's. `rev`: the constant is the left
     * operand (k - x, k / x). NM_LAYER_ADD above follows the same rules. */
    NM_LAYER_MUL,
    NM_LAYER_SUB,
    NM_LAYER_DIV,
    /* Elementwise unary activations (no weights). */
    NM_LAYER_SIGMOID,
    NM_LAYER_HARDSIGMOID, /* max(0, min(1, alpha*x + beta)) */
    NM_LAYER_HARDSWISH,   /* x * max(0, min(1, x/6 + 1/2)) */
    NM_LAYER_TANH,
    NM_LAYER_CLIP,        /* min(max(x, alpha), beta) (either may be +-inf) */
    NM_LAYER_CONCAT,      /* producers joined along `axis` (0 = C, 1 = H, 2 = W) */
    NM_LAYER_PAD,         /* constant padding: pads[0..2] before, pads[3..5] after C, H, W */
    NM_LAYER_RESHAPE,     /* same values, new (C, H, W) read in row-major order per sample */
    NM_LAYER_TRANSPOSE,   /* output axis i is input axis perm[i] (of C, H, W) */
    NM_LAYER_SHUFFLE,     /* channel shuffle: (groups, C/groups) -> (C/groups, groups) */
    NM_LAYER_CONVT,       /* transposed 2-D convolution, weight [C_in, C_out/groups, kh, kw]
                             (not prunable) */
    NM_LAYER_RESIZE,      /* nearest or bilinear resize of H and W (no weights) */
    NM_LAYER_KIND_COUNT
} nm_layer_kind;

/* Activation N:M policies and axes (NMReLU). */
typedef enum { NM_POLICY_FIRST = 0, NM_POLICY_TOPK } nm_act_policy;
typedef enum { NM_AXIS_POSITION = 0, NM_AXIS_CHANNEL } nm_act_axis;

/* RESIZE settings (ONNX Resize's names; 0 is ONNX's default). The source
 * coordinate of output x along an axis of in -> out values, scale s:
 *   half_pixel (x + 0.5) / s - 0.5; pytorch_half_pixel the same, 0 when
 *   out = 1; align_corners x (in - 1) / (out - 1), 0 when out = 1;
 *   asymmetric x / s; tf_half_pixel_for_nn (x + 0.5) / s. */
typedef enum { NM_RESIZE_NEAREST = 0, NM_RESIZE_LINEAR } nm_resize_mode;
typedef enum {
    NM_COORD_HALF_PIXEL = 0, NM_COORD_PYTORCH_HALF_PIXEL, NM_COORD_ALIGN_CORNERS,
    NM_COORD_ASYMMETRIC, NM_COORD_TF_HALF_PIXEL_FOR_NN
} nm_resize_coord;
/* Nearest: how a source coordinate rounds to an input index (then clamped). */
typedef enum {
    NM_ROUND_PREFER_FLOOR = 0, NM_ROUND_PREFER_CEIL, NM_ROUND_FLOOR, NM_ROUND_CEIL
} nm_resize_round;

typedef struct nm_layer {
    char name[NM_NAME_MAX];
    nm_layer_kind kind;
    int n_inputs;           /* 0 only for conv/dwconv/linear read from a
                               topology whose layers are independent: the
                               input shape is then in_c/in_h/in_w as given */
    int inputs[NM_MAX_INPUTS]; /* producer layer indices or graph inputs
                                  (NM_INPUT, NM_INPUT_K(k)) */

    /* geometry, per sample */
    int in_c, in_h, in_w;
    int out_c, out_h, out_w;
    int kh, kw, stride_h, stride_w, pad_h, pad_w, groups;
    /* conv and pools: padding after the plane when it differs from before
     * (pad_h2/pad_w2 used only when pad_asym is set), dilation (0 = 1);
     * pools: ceil_mode, and exclude_pad = an average divides by the values
     * inside the input only (ONNX count_include_pad = 0). */
    int pad_asym, pad_h2, pad_w2, dil_h, dil_w, ceil_mode, exclude_pad;

    /* parameters (NULL when the kind has none) */
    nm_tensor *weight;      /* f32, layouts above */
    nm_tensor *bias;        /* f32 [C_out] or NULL */
    nm_tensor *mask;        /* u8, weight's shape, 1 = kept; NULL = all kept */
    nm_tensor *filters;     /* u8 [C_out], 1 = filter kept; NULL = all kept */
    nm_tensor *in_chans;    /* u8 [C_in], 1 = input channel kept; NULL = all kept */
    nm_tensor *konst;       /* f32 [c, h, w] constant operand of add/mul/sub/div */

    /* BN (and LAYERNORM: gamma/beta only) */
    nm_tensor *gamma, *beta, *mean, *var;   /* f32 [C] */
    float eps;

    /* Declared weight N:M (0:0 = none): set by N:M pruning, or read from a
     * topology (SCALE-Sim's Sparsity column). The simulator reads it. */
    int wn, wm;

    /* RELU clip, NMRELU settings */
    float clip;
    int act_n, act_m;
    nm_act_policy act_policy;
    nm_act_axis act_axis;

    /* MATMUL: heads (and alpha = the scores' scale, 0 = 1/sqrt(head dim));
     * SOFTMAX: channel groups */
    int heads;
    int64_t matmul_macs;    /* MACs per sample, set by the builder */

    /* SLICE: keeps [slice_start, slice_start + count) along slice_axis;
     * count is out_c (NM_AXIS_CHANNEL) or out_h (NM_AXIS_POSITION: positions
     * are the flattened H*W, output (C, count, 1)). */
    int slice_start;
    nm_act_axis slice_axis;

    /* ADD/MUL/SUB/DIV with a constant: the constant is the left operand */
    int rev;
    /* HARDSIGMOID alpha, beta; CLIP min, max; MATMUL (qk) alpha = scale */
    float alpha, beta_;
    /* CONCAT axis (0 = C, 1 = H, 2 = W) */
    int axis;
    /* PAD: before C, H, W then after C, H, W; value */
    int pads[6];
    float pad_value;
    /* TRANSPOSE */
    int perm[3];
    /* CONVT (kh..groups, pad_asym.., dil_h/dil_w as conv): output_padding,
     * extra rows and columns at the end; output size per axis
     * (in - 1) * stride - pad - pad2 + dil * (k - 1) + outpad + 1. */
    int outpad_h, outpad_w;
    /* RESIZE: out_h/out_w are the requested size (out_c = in_c); the scale
     * of each axis as the file gave it, 0 = out / in (sizes given). */
    nm_resize_mode rs_mode;
    nm_resize_coord rs_coord;
    nm_resize_round rs_round;
    float scale_h, scale_w;
} nm_layer;

/* The tensor slots of a layer, in a fixed order (for release, clone, size). */
#define NM_LAYER_SLOTS 10
void nm_layer_slots(nm_layer *l, nm_tensor **slots[NM_LAYER_SLOTS]);

typedef struct nm_model {
    char name[NM_NAME_MAX];
    int in_c, in_h, in_w;   /* input shape per sample (graph input 0) */
    /* Graph inputs after the first (nm_model_add_input), in graph order:
     * input k >= 1 is xin[k - 1], producer index NM_INPUT_K(k). n_xin = 0
     * (every model nm_model_new makes): one input. in_name: input 0's name
     * ("" = "input"). */
    int n_xin;
    char in_name[NM_NAME_MAX];
    struct { char name[NM_NAME_MAX]; int c, h, w; } xin[NM_MAX_GRAPH_INPUTS - 1];
    int n_layers, cap_layers;
    nm_layer *layers;
    uint64_t seed;          /* seed the weights were synthesised from (0 = loaded) */
    /* Graph outputs (layer indices, or NM_INPUT) in graph order; none means
     * the last layer. out_rank[i] (2..4, 0 = 4) is the rank, batch included,
     * the output has in the file it came from: [N, C], [N, C, H] or
     * [N, C, H, W] (the same values; nmlab's (C, H, W) is row-major). */
    int n_outputs;
    int outputs[NM_MAX_OUTPUTS];
    int out_rank[NM_MAX_OUTPUTS];
    /* The forward executor nm_forward keeps between calls (engine/train
     * builds it, checks it against the layers on every call and owns it);
     * nm_model_free calls fwd_cache_free on it. Not copied by clone. */
    void *fwd_cache;
    void (*fwd_cache_free)(void *cache);
} nm_model;

const char *nm_layer_kind_name(nm_layer_kind k);
/* Kind from its name ("conv", "linear", ...); -1 if unknown. */
int nm_layer_kind_from_name(const char *name);

/* conv, dwconv and linear carry prunable weights (convt's weight is not
 * prunable: it is kept dense). */
int nm_layer_prunable(const nm_layer *l);
/* Kept entries of a keep vector (filters, in_chans): its nonzeros, or
 * `all` when there is none (nothing removed). */
static inline int nm_keep_count(const nm_tensor *keep, int all)
{
    return keep ? (int)nm_tensor_nnz(keep) : all;
}
/* Dense multiply-accumulates per sample: output positions x weights for a
 * conv/linear layer, input positions x weights for a convt, the stored
 * count for a matmul, else 0. */
int64_t nm_layer_dense_macs(const nm_layer *l);
/* im2col view of a prunable layer's weight: rows = C_out, cols = D. */
int64_t nm_layer_rows(const nm_layer *l);
int64_t nm_layer_cols(const nm_layer *l);
/* How a prunable layer's weight matrix (rows x cols) meets its keep
 * vectors: column j of row o reads input channel
 * (o / cout_g) * cin_g + j / per_k (per_k = kh * kw for convs, 1 for
 * linear layers); filters index rows, in_chans input channels. */
typedef struct {
    int64_t rows, cols, per_k, cin_g, cout_g;
    const uint8_t *mask, *filters, *in_chans;   /* the layer's, NULL = all kept */
} nm_weight_geom;
void nm_layer_weight_geom(const nm_layer *l, nm_weight_geom *g);

/* Empty model with the given per-sample input shape. NULL on failure. */
nm_model *nm_model_new(const char *name, int in_c, int in_h, int in_w);
void nm_model_free(nm_model *m);
/* Deep copy: tensors are cloned, not shared. */
nm_model *nm_model_clone(const nm_model *m);

/* Graph inputs. nm_model_add_input appends input k = nm_model_n_inputs()
 * with its name (unique among the inputs; NULL or "" = "input<k>") and
 * per-sample shape, and returns its producer index NM_INPUT_K(k) (-3 or
 * below: test failure with == -1, not < 0), or -1 with a message (more
 * than NM_MAX_GRAPH_INPUTS, a bad shape, a name used twice).
 * nm_model_input_name: input k's name ("input" for an unnamed input 0),
 * NULL when there is no input k; nm_model_input_shape: its per-sample
 * shape (zeros when there is none). */
int nm_model_add_input(nm_model *m, const char *name, int c, int h, int w);
static inline int nm_model_n_inputs(const nm_model *m) { return 1 + m->n_xin; }
const char *nm_model_input_name(const nm_model *m, int k);
void nm_model_input_shape(const nm_model *m, int k, int *c, int *h, int *w);
/* NM_OK for a model with one graph input; else NM_ERR with the message
 * "<what>: model '<name>' has N graph inputs ('a', 'b', ...); <what> takes
 * models with one input" (for consumers that model only input 0). */
int nm_model_one_input(const nm_model *m, const char *what);

/* Index of the layer called `name`, or -1. */
int nm_model_find(const nm_model *m, const char *name);

/* Builders: each appends one layer, infers its output shape from its
 * producer(s), allocates zeroed parameters, and returns the new layer's
 * index, or -1 with a message (unknown producer, impossible shape, name
 * clash). `input` may be NM_INPUT, NM_INPUT_K(k) for a model's graph input
 * k, NM_PREV or a layer index. */
int nm_add_conv(nm_model *m, const char *name, int input, int out_c, int kh, int kw,
                int stride, int pad, int groups, int bias);
int nm_add_dwconv(nm_model *m, const char *name, int input, int k, int stride, int pad);
int nm_add_linear(nm_model *m, const char *name, int input, int out_features, int bias);
int nm_add_bn(nm_model *m, const char *name, int input);
int nm_add_relu(nm_model *m, const char *name, int input, float clip);
int nm_add_nmrelu(nm_model *m, const char *name, int input, int n, int mm,
                  nm_act_policy policy, nm_act_axis axis);
int nm_add_pool(nm_model *m, const char *name, int input, nm_layer_kind kind,
                int k, int stride, int pad);
int nm_add_gap(nm_model *m, const char *name, int input);
int nm_add_add(nm_model *m, const char *name, int a, int b);
int nm_add_flatten(nm_model *m, const char *name, int input);
/* Attention matmul. Head h owns channels [h*d, (h+1)*d) of Q, K and V
 * (d = C/heads, torchvision's split). qk=1: scores = scale * Q K^T per head,
 * output (heads*T, T, 1) with channel h*T + j = key j and position i =
 * query i, so a softmax in `heads` groups runs over the keys; scale is the
 * layer's alpha, or 1/sqrt(d) when alpha is 0. qk=0: context = A V,
 * context[h*d + e, i] = sum_j A[h*T + j, i] V[h*d + e, j], output (V's C, T, 1).
 * a, b are the producers (Q, K or A, V). */
int nm_add_matmul(nm_model *m, const char *name, int a, int b, int heads, int qk);
int nm_add_layernorm(nm_model *m, const char *name, int input);
int nm_add_gelu(nm_model *m, const char *name, int input);
int nm_add_softmax(nm_model *m, const char *name, int input);
/* Softmax in `heads` groups of channels (attention scores, see nm_add_matmul). */
int nm_add_softmax_heads(nm_model *m, const char *name, int input, int heads);
/* ViT embedding: token 0 = class token (bias [C]) + position 0, token p+1 =
 * patch p (row-major over H x W) + position p+1; weight [H*W+1, C]. */
int nm_add_embed(nm_model *m, const char *name, int input);
/* Slice of `count` channels or positions from `start` (see NM_LAYER_SLICE). */
int nm_add_slice(nm_model *m, const char *name, int input, nm_act_axis axis, int start,
                 int count);

/* Elementwise binary op (NM_LAYER_ADD/MUL/SUB/DIV) of two producers. */
int nm_add_binary(nm_model *m, const char *name, nm_layer_kind kind, int a, int b);
/* The same with a constant operand (the layer takes a reference to k,
 * f32 [c, h, w], each axis 1 or the input's); rev: k is the left operand. */
int nm_add_binary_const(nm_model *m, const char *name, nm_layer_kind kind, int a, nm_tensor *k,
                        int rev);
/* Unary activation; alpha/beta for HARDSIGMOID and CLIP (ignored otherwise). */
int nm_add_unary(nm_model *m, const char *name, nm_layer_kind kind, int input, float alpha,
                 float beta);
/* Concatenation of n producers along axis (0 = C, 1 = H, 2 = W). */
int nm_add_concat(nm_model *m, const char *name, const int *inputs, int n, int axis);

/* The model's graph outputs: the listed ones, or the last layer. Returns
 * the count and writes at most cap indices. */
int nm_model_outputs(const nm_model *m, int *out, int cap);

/* Appends a layer whose fields the caller has filled (used by readers):
 * geometry of the output is recomputed from the producers and checked,
 * parameters already attached are checked against the expected shapes and
 * adopted (the model takes over the references). Returns the index or -1. */
int nm_model_append(nm_model *m, nm_layer *l);

/* Deterministic synthetic weights: Kaiming-normal (fan_in, ReLU gain) for
 * conv/linear, zero bias, BN gamma=1 beta=0 mean=0 var=1, LN gamma=1. */
void nm_model_init_weights(nm_model *m, uint64_t seed);
/* The same, reporting progress every few million weights; returns NM_ERR
 * "cancelled" when `progress` asks to stop (the weights are then partly
 * drawn). The values do not depend on the callback or the thread count. */
int nm_model_init_weights_progress(nm_model *m, uint64_t seed, nm_progress_fn progress, void *ud);

/* Shape of a layer's output (or of a graph input, NM_INPUT_K(k)) per sample. */
void nm_model_out_shape(const nm_model *m, int idx, int *c, int *h, int *w);

/* Channel dependency graph.
 * The prunable layers whose output channels feed layer `idx`'s input channels,
 * found by walking back through channel-preserving layers (BN, ReLU, pools,
 * GELU, ...). Writes up to `cap` indices into out, returns how many. More
 * than one producer means the channels are tied by a residual add.
 * *through_add is set to 1 when the walk crossed an ADD. */
int nm_model_channel_producers(const nm_model *m, int idx, int *out, int cap, int *through_add);
/* The prunable layers that consume `idx`'s output channels (walking forward
 * through channel-preserving layers; FLATTEN maps channel c to features
 * c*H*W..(c+1)*H*W-1 of the consumer). Returns the count written (<= cap).
 * *feeds_add is set to 1 if those channels also reach a residual ADD. */
int nm_model_channel_consumers(const nm_model *m, int idx, int *out, int cap, int *feeds_add);
/* The BN layer that directly normalises `idx`'s output (its only consumer),
 * or -1. */
int nm_model_bn_of(const nm_model *m, int idx);

/* Per-layer statistics. */
typedef struct {
    int64_t params;          /* weight elements (0 for weightless layers) */
    int64_t nonzeros;        /* weights kept by the mask and nonzero */
    double density;          /* nonzeros / params (1 for weightless layers) */
    int filters, filters_kept;
    int in_chans, in_chans_kept;
    int64_t positions;       /* output positions per sample (H*W) */
    int64_t dense_macs;      /* per sample */
} nm_layer_stats;

void nm_layer_stats_get(const nm_model *m, int idx, nm_layer_stats *s);
/* Sum of dense MACs over all layers, per sample. */
int64_t nm_model_dense_macs(const nm_model *m);
int64_t nm_model_params(const nm_model *m);

/* Data (activation) N:M: where it exists (model_act.c, JOINTNF.md section 9).
 * The walk back from a layer's first input crosses max/avg/global pooling,
 * flatten, reshape, channel shuffle, channel slices and concats of branches
 * that agree, and stops at the first other layer. */
typedef enum {
    NM_ACT_FROM_NMRELU = 0, /* an NMReLU: its N:M applies */
    NM_ACT_FROM_RELU,       /* a ReLU/ReLU6 (or Clip(0, b)): applies when an option
                               (stats' act=, a nm-MAC's SFU) turns it into NMReLU */
    NM_ACT_FROM_INPUT,      /* the model input (an image, tokens): dense */
    NM_ACT_FROM_OTHER,      /* GELU, LayerNorm, softmax, an add, BN, a conv, ...: dense */
    NM_ACT_FROM_UNKNOWN     /* a topology's independent layer: dense */
} nm_act_from;

typedef struct {
    nm_act_from from;
    int layer;      /* the source layer, -1 for the model input or unknown */
    int applied;    /* 1: data N:M applies to this layer's input */
    int n, m;       /* the N:M that applies (0:0 when not applied) */
    char why[160];  /* one line, e.g. "from NMReLU 'relu1' 4:9" */
} nm_act_info;

/* THE per-layer decision whether data N:M applies to layer idx's input,
 * used by every report. opt_n:opt_m (0:0 = none) is the N:M a ReLU source
 * becomes; declare = 1: the user declares opt_n:opt_m at this layer
 * whatever the source. An NMReLU source applies its own N:M. Fills *a and
 * returns a->applied. */
int nm_layer_act_source(const nm_model *m, int idx, int opt_n, int opt_m, int declare,
                        nm_act_info *a);
/* "nmrelu", "relu", "input", "other", "unknown". */
const char *nm_act_from_name(nm_act_from f);
/* 1 when layer l is a ReLU-like activation an NMReLU can replace: RELU (clip
 * > 0 is ReLU6-style, returned in *clip, 0 = none) or CLIP with min 0. */
int nm_layer_is_relu_like(const nm_layer *l, float *clip);
/* Makes a ReLU-like layer (nm_layer_is_relu_like) or an NMReLU an NMReLU
 * n:m (n > 0) or a plain ReLU again (n = 0), keeping its clip: a ReLU6
 * becomes clip-then-N:M (min(max(x,0),clip), then N:M on the result), and
 * back a ReLU6. NM_ERR naming the layer (l unchanged) for other kinds or an
 * impossible N:M. */
int nm_layer_set_nmrelu(nm_layer *l, int n, int m, nm_act_policy policy, nm_act_axis axis);
/* 1 when layer idx's output goes, through BN only (single consumers), into
 * an NMReLU or ReLU: an SFU can emit it N:M-compressed. */
int nm_layer_act_sink(const nm_model *m, int idx);

/* Mask helpers: ensure a layer has a mask (all ones), and apply masks to the
 * weights (w *= mask) for every prunable layer. */
int nm_layer_ensure_mask(nm_layer *l);
void nm_model_apply_masks(nm_model *m);

#endif
