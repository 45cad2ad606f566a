/* kernels.h - forward and backward passes of single layers, for training.
 *
 * Internal to engine/train (net.c drives them; the tests call them too).
 * Activations are stored channel-major for a whole batch, "CNHW": a
 * tensor of n samples with C channels of H x W is C rows of n*H*W floats,
 * sample after sample within a row. This makes a convolution over the batch
 * one matrix product per group (Y[C_out x nP] = W[C_out x D] * col[D x nP]),
 * batchnorm a pass over contiguous rows, and a linear layer one sgemm.
 *
 * Conventions: forward functions overwrite their output; backward functions
 * ADD into the input gradient dx (so a producer feeding two consumers
 * receives the sum) and into the parameter gradients; dx may be NULL when no
 * input gradient is needed. No function allocates: callers pass workspaces
 * sized by the *_floats helpers. */
#ifndef NM_TRAIN_KERNELS_H
#define NM_TRAIN_KERNELS_H

#include "model.h"

#include <stddef.h>
#include <stdint.h>

/* Loops over fewer elements than this run on one thread: starting an
 * OpenMP team costs more than it saves on small tensors, and much more
 * when the cores are busy with other work. */
#define NM_PAR_MIN ((int64_t)1 << 15)

/* --- convolution (conv.c): im2col + cblas_sgemm, any stride/padding/groups --- */
typedef struct {
    int cin, h, w;          /* input channels and plane */
    int cout, oh, ow;       /* output channels and plane */
    int kh, kw, sh, sw, ph, pw, groups;
    int dh, dw;             /* dilation (1 = none); padding after the plane
                               only shapes oh/ow, which the layer gives */
} nm_conv_geom;

/* Geometry of a conv/dwconv layer. */
void nm_conv_geom_of(const nm_layer *l, nm_conv_geom *g);
/* Workspace (floats) nm_conv_forward/backward need for a batch of n. */
size_t nm_conv_work_floats(const nm_conv_geom *g, int n);
/* y[cout, n*oh*ow] = conv(x[cin, n*h*w], w[cout, cin/groups, kh, kw]) + b
 * (b may be NULL). */
void nm_conv_forward(const nm_conv_geom *g, int n, const float *x, const float *w,
                     const float *b, float *y, float *work);
/* dw += dL/dw, db += dL/db (db may be NULL), dx += dL/dx (may be NULL). */
void nm_conv_backward(const nm_conv_geom *g, int n, const float *x, const float *w,
                      const float *dy, float *dx, float *dw, float *db, float *work);

/* --- convolution forward with the AVX-512 kernel (conv_fast.c) --- */
/* What follows the product, per output channel o: v = acc * scale[o] +
 * shift[o] (NULL: 1 and 0), then v > 0 ? v : 0 when relu, then min(v, clip)
 * when clip > 0. A conv's bias is a shift; an eval-mode BN folds into scale
 * and shift. */
typedef struct {
    const float *scale, *shift;
    int relu;
    float clip;
} nm_conv_epilogue;
/* Whether the CPU has AVX-512F and NMLAB_NO_AVX512 is not set. */
int nm_conv_fast_available(void);
/* Turns the AVX-512 path off (0) or back on where the CPU has it (1), for
 * tests comparing the paths; returns the previous state. Not thread-safe:
 * call it between forwards. */
int nm_conv_fast_enable(int on);
/* Whether nm_conv_fast_forward runs the layer at batch n (available, not
 * depthwise, at least 16 output positions). */
int nm_conv_fast_ok(const nm_conv_geom *g, int n);
/* Applies e in place to y[cout, cols] (for the paths that do not fuse it). */
void nm_conv_epilogue_apply(const nm_conv_epilogue *e, int cout, int64_t cols, float *y);
/* Workspace (floats) nm_conv_fast_forward needs (any batch). */
size_t nm_conv_fast_work_floats(const nm_conv_geom *g);
/* y[cout, n*oh*ow] = epilogue(conv(x, w)); e may be NULL (the bare
 * product). The same result as nm_conv_forward up to summation order. */
void nm_conv_fast_forward(const nm_conv_geom *g, int n, const float *x, const float *w,
                          const nm_conv_epilogue *e, float *y, float *work);

/* --- Winograd F(2x2, 3x3) convolution (winograd.c), inference only --- */
/* Whether F(2x2, 3x3) pays for the layer at batch n: a 3x3, stride-1,
 * undilated, ungrouped conv with at least 128 input and output channels and
 * 40 or more 2x2 output tiles per call. */
int nm_winograd_ok(const nm_conv_geom *g, int n);
/* Floats of the transformed kernels (16 x cout x cin) and of the workspace
 * for a batch of n. */
size_t nm_winograd_u_floats(const nm_conv_geom *g);
size_t nm_winograd_work_floats(const nm_conv_geom *g, int n);
/* Transforms the kernels w[cout, cin, 3, 3] into u (nm_winograd_u_floats). */
void nm_winograd_weights(const nm_conv_geom *g, const float *w, float *u);
/* y[cout, n*oh*ow] = conv(x) + b from the transformed kernels u; the same
 * result as nm_conv_forward up to rounding. */
void nm_conv_winograd_forward(const nm_conv_geom *g, int n, const float *x, const float *u,
                              const float *b, float *y, float *work);

/* --- linear (linear.c): on the channel axis at each of `cols` positions --- */
/* y[out, cols] = w[out, in] * x[in, cols] + b; through the AVX-512 kernel
 * (conv_fast.c) when work is given and nm_linear_work_floats is nonzero,
 * else cblas_sgemm (work may be NULL). */
size_t nm_linear_work_floats(int in, int out, int64_t cols);
void nm_linear_forward(int in, int out, int64_t cols, const float *x, const float *w,
                       const float *b, float *y, float *work);
void nm_linear_backward(int in, int out, int64_t cols, const float *x, const float *w,
                        const float *dy, float *dx, float *dw, float *db);

/* --- batch normalisation (bn.c), per channel over `cols` = n*H*W values --- */
/* Training: normalises with the batch statistics, saves xhat[c, cols] and
 * invstd[c] for the backward pass, and moves the running statistics by
 * `momentum` (running var uses the unbiased batch variance, as PyTorch).
 * `dead` (may be NULL) marks channels whose producer filter was removed:
 * their output is 0. */
void nm_bn_forward_train(int c, int64_t cols, const float *x, const float *gamma,
                         const float *beta, float *run_mean, float *run_var, float eps,
                         float momentum, const uint8_t *dead, float *y, float *xhat,
                         float *invstd);
void nm_bn_forward_eval(int c, int64_t cols, const float *x, const float *gamma,
                        const float *beta, const float *run_mean, const float *run_var,
                        float eps, const uint8_t *dead, float *y);
void nm_bn_backward(int c, int64_t cols, const float *xhat, const float *invstd,
                    const float *gamma, const uint8_t *dead, const float *dy, float *dx,
                    float *dgamma, float *dbeta);

/* --- activations (act.c) --- */
/* ReLU, or min(max(x,0),clip) when clip > 0. */
void nm_relu_forward(int64_t count, float clip, const float *x, float *y);
/* Gradient passes where 0 < y (and y < clip when clipped). */
void nm_relu_backward(int64_t count, float clip, const float *y, const float *dy, float *dx);
/* NMReLU: ReLU then at most n of every m values of each activation group
 * nonzero. Axis POSITION: for each channel, m consecutive positions of one
 * image (row-major over H x W; a trailing partial group of L < m keeps
 * min(n, L)); when the plane is 1x1 (after a linear layer or GAP) the group
 * runs over consecutive samples of the batch instead. Axis CHANNEL: m
 * consecutive channels at one position. Policy FIRST keeps the first n
 * positives of a group in stream order (the hardware's SFU); TOPK keeps the
 * n largest (ties to the lower index). */
void nm_train_nmrelu_forward(int c, int n_samples, int plane, int keep, int m,
                       nm_act_policy policy, nm_act_axis axis, const float *x, float *y);
/* Gradient only through kept values (y > 0). */
void nm_train_nmrelu_backward(int64_t count, const float *y, const float *dy, float *dx);
/* The same for an NMReLU with a clip (made from a ReLU6): min(max(x,0),clip)
 * first, then N:M on the clipped values; the gradient passes where
 * 0 < y < clip. clip <= 0: as the two above. */
void nm_train_nmrelu_forward_clip(int c, int n_samples, int plane, int keep, int m,
                                  nm_act_policy policy, nm_act_axis axis, float clip,
                                  const float *x, float *y);
void nm_train_nmrelu_backward_clip(int64_t count, float clip, const float *y, const float *dy,
                                   float *dx);

/* --- pooling (pool.c), on `planes` = C*n planes of h x w --- */
typedef struct {
    int h, w, oh, ow, kh, kw, sh, sw, ph, pw;
    int ph2, pw2;           /* padding after the plane */
    int dh, dw;             /* dilation (1 = none) */
    int exclude_pad;        /* average over the values inside the input only */
} nm_pool_geom;

void nm_pool_geom_of(const nm_layer *l, nm_pool_geom *g);
/* Max pool; padding never wins. arg[] records the winning input index
 * within the plane (-1 if the window lies entirely in padding); arg may be
 * NULL when no backward pass follows. */
void nm_maxpool_forward(const nm_pool_geom *g, int64_t planes, const float *x, float *y,
                        int32_t *arg);
void nm_maxpool_backward(const nm_pool_geom *g, int64_t planes, const int32_t *arg,
                         const float *dy, float *dx);
/* Average pool. The divisor is the window clipped to the padded plane
 * (kh*kw away from a ceil_mode edge: padding counts as zeros), or with
 * exclude_pad the count of values inside the input (PyTorch's rule). */
void nm_avgpool_forward(const nm_pool_geom *g, int64_t planes, const float *x, float *y);
void nm_avgpool_backward(const nm_pool_geom *g, int64_t planes, const float *dy, float *dx);

/* --- imported-graph kinds (graph_ops.c), inference only --- */
/* Elementwise add/sub/mul/div of input a (the layer's in_c/h/w) and either
 * the layer's constant or input b of shape bshape, broadcast per axis. */
void nm_binary_forward(const nm_layer *l, int n, const float *a, const float *b,
                       const int bshape[3], float *y);
/* Sigmoid, hard sigmoid, hard swish, tanh, clip over count values. */
void nm_unary_forward(const nm_layer *l, int64_t count, const float *x, float *y);
/* Concatenation of the layer's inputs xs[i] (shape shapes[i]) along l->axis. */
void nm_concat_forward(const nm_layer *l, int n, const float *const *xs, const int (*shapes)[3],
                       float *y);
void nm_pad_forward(const nm_layer *l, int n, const float *x, float *y);
void nm_reshape_forward(const nm_layer *l, int n, const float *x, float *y);
void nm_transpose_forward(const nm_layer *l, int n, const float *x, float *y);
void nm_shuffle_forward(const nm_layer *l, int n, const float *x, float *y);
/* A range of channels, or of the flattened positions (output (C, count, 1)). */
void nm_slice_forward(const nm_layer *l, int n, const float *x, float *y);

/* --- transformer kinds (vit_ops.c), inference only ---
 * Token sequences are (D, T, 1) per sample: D rows of n*T values. */
/* Layer norm over the c channels of each of the `cols` columns (biased
 * variance): y = (x - mean) / sqrt(var + eps) * gamma[c] + beta[c]. With
 * keep (may be NULL: all kept), the mean and variance are over the kept
 * channels only and a removed channel's output is 0: what the same layer
 * with the removed channels cut out computes (model:shrink). */
void nm_layernorm_forward(int c, int64_t cols, const float *x, const float *gamma,
                          const float *beta, float eps, const uint8_t *keep, float *y);
/* Exact GELU: 0.5 x (1 + erf(x / sqrt 2)). */
void nm_gelu_forward(int64_t count, const float *x, float *y);
/* Softmax over the channels of each column, separately in `groups`
 * consecutive blocks of c/groups channels (<= 1: one block). */
void nm_softmax_forward(int c, int groups, int64_t cols, const float *x, float *y);
/* Attention scores, per sample s and head h (head h = channels
 * [h*dim/heads, (h+1)*dim/heads) of q and k, as torchvision splits them):
 * y[h*T + j, s, i] = scale * sum_e k[h*d + e, s, j] q[h*d + e, s, i]:
 * channel = head and key j, position = query i (so a softmax over the
 * channels in `heads` groups is a softmax over the keys). */
void nm_attn_scores_forward(int dim, int heads, int tokens, int n, float scale, const float *q,
                            const float *k, float *y);
/* Attention context: y[h*d + e, s, i] = sum_j v[h*d + e, s, j] a[h*T + j, s, i]
 * (a: scores as above, v: dim channels, d = dim/heads). */
void nm_attn_context_forward(int dim, int heads, int tokens, int n, const float *a,
                             const float *v, float *y);
/* ViT embedding of (c, positions) patches into (c, positions + 1) tokens:
 * token 0 = cls[k] + pos[0, k], token p + 1 = x[k, p] + pos[p + 1, k]
 * (pos is [positions + 1, c], cls [c]). */
void nm_embed_forward(int c, int positions, int n, const float *x, const float *pos,
                      const float *cls, float *y);
/* --- upsampling kinds (upsample_ops.c), inference only --- */
/* Transposed convolution of a CONVT layer (model.h): y[cout, n*oh*ow]. */
void nm_convt_forward(const nm_layer *l, int n, const float *x, float *y);
/* Nearest or bilinear resize of H and W (a RESIZE layer). */
void nm_resize_forward(const nm_layer *l, int n, const float *x, float *y);

/* --- loss (loss.c): softmax cross-entropy over logits[k, n] (CNHW, 1x1) ---
 * Returns the mean loss over the n samples; dlogits (may be NULL) receives
 * d(mean loss)/d(logits); *correct (may be NULL) the count of samples whose
 * arg-max (lowest index on ties) equals the label. Labels must be in 0..k-1. */
double nm_softmax_xent(int k, int n, const float *logits, const int32_t *labels,
                       float *dlogits, int *correct);

#endif
