/* zoo_builder.c - sticky-error wrappers over the model builders. */
#include "zoo_builder.h"

#include <stdarg.h>
#include <stdio.h>

void zb_begin(zb *b, const char *name, int in_c, int in_h, int in_w)
{
    b->m = nm_model_new(name, in_c, in_h, in_w);
    b->failed = b->m == NULL;
}

nm_model *zb_end(zb *b)
{
    if (!b->failed)
        return b->m;
    if (b->m) {
        char name[NM_NAME_MAX];
        snprintf(name, sizeof name, "%s", b->m->name);
        nm_model_free(b->m);
        nm_preperr(name);
    }
    b->m = NULL;
    return NULL;
}

/* Formats a layer name; a name that does not fit fails the build. */
static int zb_name(zb *b, char *out, const char *fmt, va_list ap)
{
    int n = vsnprintf(out, NM_NAME_MAX, fmt, ap);
    if (n < 0 || n >= NM_NAME_MAX) {
        nm_seterr("layer name '%s...' is longer than %d characters", out, NM_NAME_MAX - 1);
        b->failed = 1;
        return NM_ERR;
    }
    return NM_OK;
}

/* Records a builder's result: a negative index fails the build. */
static int zb_check(zb *b, int idx)
{
    if (idx < 0) {
        b->failed = 1;
        return ZB_FAIL;
    }
    return idx;
}

/* The common prologue of every wrapper: stop if already failed, else format
 * the name into `name`. Expands inside a function with `b` and `fmt`. */
#define ZB_NAME(name)                                      \
    char name[NM_NAME_MAX];                                \
    if (b->failed)                                         \
        return ZB_FAIL;                                    \
    do {                                                   \
        va_list ap;                                        \
        va_start(ap, fmt);                                 \
        int bad = zb_name(b, name, fmt, ap);               \
        va_end(ap);                                        \
        if (bad)                                           \
            return ZB_FAIL;                                \
    } while (0)

int zb_conv(zb *b, int in, int out_c, int k, int stride, int pad, int bias, const char *fmt, ...)
{
    ZB_NAME(name);
    return zb_check(b, nm_add_conv(b->m, name, in, out_c, k, k, stride, pad, 1, bias));
}

int zb_dwconv(zb *b, int in, int k, int stride, int pad, const char *fmt, ...)
{
    ZB_NAME(name);
    return zb_check(b, nm_add_dwconv(b->m, name, in, k, stride, pad));
}

int zb_linear(zb *b, int in, int out, int bias, const char *fmt, ...)
{
    ZB_NAME(name);
    return zb_check(b, nm_add_linear(b->m, name, in, out, bias));
}

int zb_bn(zb *b, int in, const char *fmt, ...)
{
    ZB_NAME(name);
    return zb_check(b, nm_add_bn(b->m, name, in));
}

int zb_relu(zb *b, int in, float clip, const char *fmt, ...)
{
    ZB_NAME(name);
    return zb_check(b, nm_add_relu(b->m, name, in, clip));
}

int zb_maxpool(zb *b, int in, int k, int stride, int pad, const char *fmt, ...)
{
    ZB_NAME(name);
    return zb_check(b, nm_add_pool(b->m, name, in, NM_LAYER_MAXPOOL, k, stride, pad));
}

int zb_gap(zb *b, int in, const char *fmt, ...)
{
    ZB_NAME(name);
    return zb_check(b, nm_add_gap(b->m, name, in));
}

int zb_flatten(zb *b, int in, const char *fmt, ...)
{
    ZB_NAME(name);
    return zb_check(b, nm_add_flatten(b->m, name, in));
}

int zb_add(zb *b, int a, int c, const char *fmt, ...)
{
    ZB_NAME(name);
    return zb_check(b, nm_add_add(b->m, name, a, c));
}

int zb_layernorm(zb *b, int in, float eps, const char *fmt, ...)
{
    ZB_NAME(name);
    int idx = zb_check(b, nm_add_layernorm(b->m, name, in));
    if (idx != ZB_FAIL)
        b->m->layers[idx].eps = eps;
    return idx;
}

int zb_gelu(zb *b, int in, const char *fmt, ...)
{
    ZB_NAME(name);
    return zb_check(b, nm_add_gelu(b->m, name, in));
}

int zb_softmax(zb *b, int in, int heads, const char *fmt, ...)
{
    ZB_NAME(name);
    return zb_check(b, nm_add_softmax_heads(b->m, name, in, heads));
}

int zb_embed(zb *b, int in, const char *fmt, ...)
{
    ZB_NAME(name);
    return zb_check(b, nm_add_embed(b->m, name, in));
}

int zb_slice(zb *b, int in, nm_act_axis axis, int start, int count, const char *fmt, ...)
{
    ZB_NAME(name);
    return zb_check(b, nm_add_slice(b->m, name, in, axis, start, count));
}

int zb_matmul(zb *b, int a, int c, int heads, int qk, const char *fmt, ...)
{
    ZB_NAME(name);
    return zb_check(b, nm_add_matmul(b->m, name, a, c, heads, qk));
}

int zb_conv_bn_relu(zb *b, int in, int out_c, int k, int stride, int pad, const char *prefix,
                    const char *conv, const char *bn, const char *relu, float clip)
{
    const char *dot = prefix[0] ? "." : "";
    int x = zb_conv(b, in, out_c, k, stride, pad, 0, "%s%s%s", prefix, dot, conv);
    x = zb_bn(b, x, "%s%s%s", prefix, dot, bn);
    return relu ? zb_relu(b, x, clip, "%s%s%s", prefix, dot, relu) : x;
}
