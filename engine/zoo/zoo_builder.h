/* zoo_builder.h - a sticky-error wrapper over the model builders, used by
 * the zoo's family files (internal to engine/zoo).
 *
 * Each zb_* call appends one layer named by a printf format and returns its
 * index. After the first failure every later call does nothing and returns
 * ZB_FAIL, so a family builder can chain calls without checking each one
 * (a failed index is never passed on to the core, where -1 would mean "the
 * model input"); zb_end then frees the model and reports the first error. */
#ifndef NM_ZOO_BUILDER_H
#define NM_ZOO_BUILDER_H

#include "model.h"

#include <limits.h>

#define ZB_FAIL INT_MIN

typedef struct {
    nm_model *m;
    int failed;
} zb;

/* Starts a model with the given per-sample input shape. */
void zb_begin(zb *b, const char *name, int in_c, int in_h, int in_w);
/* Returns the finished model (caller owns it), or NULL after freeing it if
 * any step failed; the message then starts with the model's name. */
nm_model *zb_end(zb *b);

#define ZB_PRINTF(f, a) __attribute__((format(printf, f, a)))

int zb_conv(zb *b, int in, int out_c, int k, int stride, int pad, int bias,
            const char *fmt, ...) ZB_PRINTF(8, 9);
int zb_dwconv(zb *b, int in, int k, int stride, int pad, const char *fmt, ...)
    ZB_PRINTF(6, 7);
int zb_linear(zb *b, int in, int out, int bias, const char *fmt, ...)
    ZB_PRINTF(5, 6);
int zb_bn(zb *b, int in, const char *fmt, ...) ZB_PRINTF(3, 4);
int zb_relu(zb *b, int in, float clip, const char *fmt, ...) ZB_PRINTF(4, 5);
int zb_maxpool(zb *b, int in, int k, int stride, int pad, const char *fmt, ...)
    ZB_PRINTF(6, 7);
int zb_gap(zb *b, int in, const char *fmt, ...) ZB_PRINTF(3, 4);
int zb_flatten(zb *b, int in, const char *fmt, ...) ZB_PRINTF(3, 4);
int zb_add(zb *b, int a, int c, const char *fmt, ...) ZB_PRINTF(4, 5);
/* Layer norm with the given epsilon (torchvision's ViT uses 1e-6). */
int zb_layernorm(zb *b, int in, float eps, const char *fmt, ...) ZB_PRINTF(4, 5);
int zb_gelu(zb *b, int in, const char *fmt, ...) ZB_PRINTF(3, 4);
/* Softmax in `heads` groups of channels (nm_add_softmax_heads). */
int zb_softmax(zb *b, int in, int heads, const char *fmt, ...) ZB_PRINTF(4, 5);
int zb_embed(zb *b, int in, const char *fmt, ...) ZB_PRINTF(3, 4);
int zb_slice(zb *b, int in, nm_act_axis axis, int start, int count, const char *fmt, ...)
    ZB_PRINTF(6, 7);
int zb_matmul(zb *b, int a, int c, int heads, int qk, const char *fmt, ...)
    ZB_PRINTF(6, 7);

/* conv k x k (no bias) + BN + optional ReLU(clip) named "<prefix>.<conv>",
 * "<prefix>.<bn>", "<prefix>.<relu>" (no dot when prefix is ""); relu ==
 * NULL leaves the ReLU out. Returns the last layer. */
int zb_conv_bn_relu(zb *b, int in, int out_c, int k, int stride, int pad, const char *prefix,
                    const char *conv, const char *bn, const char *relu, float clip);

/* Family builders (architecture only: weights are zero until the zoo
 * initialises them). Each returns a new model or NULL with a message. */
nm_model *zoo_resnet18(void);
nm_model *zoo_resnet50(void);
nm_model *zoo_mobilenet_v2(void);
nm_model *zoo_vgg16(void);
nm_model *zoo_vit_b16(void);
nm_model *zoo_vit_b32(void);
nm_model *zoo_fmnist_cnn(void);
nm_model *zoo_fmnist_resnet(void);

/* A ViT of any size, built as vit_b16 (vit.c): in_c x image x image input,
 * patch x patch stride-patch conv to dim features, `blocks` encoder blocks
 * of `heads` heads with an MLP of `mlp`, a head of `classes`. */
typedef struct {
    const char *name;
    int in_c, image, patch, dim, heads, mlp, blocks, classes;
} zoo_vit_cfg;
nm_model *zoo_vit(const zoo_vit_cfg *c);

/* ResNet basic block (two 3x3 convs, 1x1 downsample when the shape changes)
 * named "<prefix>.conv1" ... "<prefix>.relu"; shared by resnet18 and
 * fmnist_resnet. Returns the block's output layer. */
int zoo_basic_block(zb *b, int in, int out_c, int stride, const char *prefix);

#endif
