/* graph_ops.c - forward passes of the layer kinds imported graphs add
 * (elementwise binary ops with broadcasting, unary activations, concat,
 * pad, reshape, transpose, channel shuffle), over a CNHW batch
 * (kernels.h). Inference only: nothing here has a backward pass. */
#include "kernels.h"

#include <math.h>
#include <string.h>

/* An operand of a broadcast op: its shape, and whether it varies by sample
 * (an activation) or not (a constant). */
typedef struct {
    const float *p;
    int c, h, w;
    int per_sample;
} operand;

static float apply(nm_layer_kind k, float a, float b)
{
    switch (k) {
    case NM_LAYER_ADD: return a + b;
    case NM_LAYER_SUB: return a - b;
    case NM_LAYER_MUL: return a * b;
    default:           return a / b;
    }
}

/* Element (c, s, h, w) of an operand broadcast to the output. */
static inline float at(const operand *o, int n, int c, int s, int h, int w)
{
    int64_t ci = o->c == 1 ? 0 : c, hi = o->h == 1 ? 0 : h, wi = o->w == 1 ? 0 : w;
    int64_t row = o->per_sample ? ci * n + s : ci;
    return o->p[(row * o->h + hi) * o->w + wi];
}

void nm_binary_forward(const nm_layer *l, int n, const float *a, const float *b,
                       const int bshape[3], float *y)
{
    const nm_layer_kind k = l->kind;
    const int oc = l->out_c, oh = l->out_h, ow = l->out_w;
    operand x = {a, l->in_c, l->in_h, l->in_w, 1}, z;
    if (l->konst)
        z = (operand){nm_f32(l->konst), (int)l->konst->shape[0], (int)l->konst->shape[1],
                      (int)l->konst->shape[2], 0};
    else
        z = (operand){b, bshape[0], bshape[1], bshape[2], 1};
    const operand *lhs = l->rev ? &z : &x, *rhs = l->rev ? &x : &z;
    const int64_t count = (int64_t)oc * n * oh * ow;
    if (x.c == oc && x.h == oh && x.w == ow && z.per_sample && z.c == oc && z.h == oh && z.w == ow) {
#pragma omp parallel for schedule(static) if (count > NM_PAR_MIN)
        for (int64_t i = 0; i < count; i++)
            y[i] = apply(k, lhs->p[i], rhs->p[i]);
        return;
    }
#pragma omp parallel for schedule(static) collapse(2) if (count > NM_PAR_MIN)
    for (int c = 0; c < oc; c++)
        for (int s = 0; s < n; s++) {
            float *out = y + ((int64_t)c * n + s) * oh * ow;
            for (int h = 0; h < oh; h++)
                for (int w = 0; w < ow; w++)
                    out[(int64_t)h * ow + w] = apply(k, at(lhs, n, c, s, h, w), at(rhs, n, c, s, h, w));
        }
}

void nm_unary_forward(const nm_layer *l, int64_t count, const float *x, float *y)
{
    const float al = l->alpha, be = l->beta_;
    switch (l->kind) {
    case NM_LAYER_SIGMOID:
#pragma omp parallel for schedule(static) if (count > NM_PAR_MIN)
        for (int64_t i = 0; i < count; i++)
            y[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case NM_LAYER_HARDSIGMOID:
#pragma omp parallel for schedule(static) if (count > NM_PAR_MIN)
        for (int64_t i = 0; i < count; i++)
            y[i] = fmaxf(0.0f, fminf(1.0f, al * x[i] + be));
        break;
    case NM_LAYER_HARDSWISH:
#pragma omp parallel for schedule(static) if (count > NM_PAR_MIN)
        for (int64_t i = 0; i < count; i++)
            y[i] = x[i] * fmaxf(0.0f, fminf(1.0f, x[i] / 6.0f + 0.5f));
        break;
    case NM_LAYER_TANH:
#pragma omp parallel for schedule(static) if (count > NM_PAR_MIN)
        for (int64_t i = 0; i < count; i++)
            y[i] = tanhf(x[i]);
        break;
    default: /* CLIP */
#pragma omp parallel for schedule(static) if (count > NM_PAR_MIN)
        for (int64_t i = 0; i < count; i++)
            y[i] = fminf(fmaxf(x[i], al), be);
        break;
    }
}

/* Copies input `src` (shape d[3]) into the output (shape o[3]) at offset
 * off[3]; every sample. */
static void place(int n, const float *src, const int d[3], float *y, const int o[3],
                  const int off[3])
{
    for (int c = 0; c < d[0]; c++)
        for (int s = 0; s < n; s++) {
            const float *in = src + ((int64_t)c * n + s) * d[1] * d[2];
            float *out = y + (((int64_t)(c + off[0]) * n + s) * o[1] + off[1]) * o[2] + off[2];
            for (int h = 0; h < d[1]; h++)
                memcpy(out + (int64_t)h * o[2], in + (int64_t)h * d[2], sizeof(float) * (size_t)d[2]);
        }
}

void nm_concat_forward(const nm_layer *l, int n, const float *const *xs, const int (*shapes)[3],
                       float *y)
{
    const int o[3] = {l->out_c, l->out_h, l->out_w};
    int off[3] = {0, 0, 0};
    for (int i = 0; i < l->n_inputs; i++) {
        place(n, xs[i], shapes[i], y, o, off);
        off[l->axis] += shapes[i][l->axis];
    }
}

void nm_pad_forward(const nm_layer *l, int n, const float *x, float *y)
{
    const int64_t count = (int64_t)l->out_c * n * l->out_h * l->out_w;
    for (int64_t i = 0; i < count; i++)
        y[i] = l->pad_value;
    const int d[3] = {l->in_c, l->in_h, l->in_w}, o[3] = {l->out_c, l->out_h, l->out_w};
    place(n, x, d, y, o, l->pads);
}

/* Per-sample index f of (C, H, W) row-major -> the CNHW position. */
static inline int64_t cnhw_at(int64_t f, int n, int s, int64_t hw)
{
    return ((f / hw) * n + s) * hw + f % hw;
}

void nm_reshape_forward(const nm_layer *l, int n, const float *x, float *y)
{
    const int64_t ihw = (int64_t)l->in_h * l->in_w, ohw = (int64_t)l->out_h * l->out_w;
    const int64_t per = ihw * l->in_c;
    if (ihw == ohw) { /* channels unchanged in size: the layout is the same */
        memcpy(y, x, sizeof(float) * (size_t)(per * n));
        return;
    }
    for (int s = 0; s < n; s++)
        for (int64_t f = 0; f < per; f++)
            y[cnhw_at(f, n, s, ohw)] = x[cnhw_at(f, n, s, ihw)];
}

void nm_transpose_forward(const nm_layer *l, int n, const float *x, float *y)
{
    const int d[3] = {l->in_c, l->in_h, l->in_w};
    const int o[3] = {l->out_c, l->out_h, l->out_w};
    int64_t stride[3] = {(int64_t)d[1] * d[2], d[2], 1}; /* per-sample input strides */
    const int64_t ihw = (int64_t)d[1] * d[2];
    for (int s = 0; s < n; s++)
        for (int a = 0; a < o[0]; a++)
            for (int b = 0; b < o[1]; b++)
                for (int c = 0; c < o[2]; c++) {
                    int64_t f = a * stride[l->perm[0]] + b * stride[l->perm[1]] + c * stride[l->perm[2]];
                    y[(((int64_t)a * n + s) * o[1] + b) * o[2] + c] = x[cnhw_at(f, n, s, ihw)];
                }
}

void nm_shuffle_forward(const nm_layer *l, int n, const float *x, float *y)
{
    const int g = l->groups, per = l->in_c / g;
    const size_t row = (size_t)n * l->in_h * l->in_w;
    for (int i = 0; i < g; i++)
        for (int j = 0; j < per; j++)
            memcpy(y + (size_t)(j * g + i) * row, x + (size_t)(i * per + j) * row, sizeof(float) * row);
}

void nm_slice_forward(const nm_layer *l, int n, const float *x, float *y)
{
    const int64_t ihw = (int64_t)l->in_h * l->in_w;
    if (l->slice_axis == NM_AXIS_CHANNEL) { /* rows slice_start.. of CNHW */
        memcpy(y, x + (int64_t)l->slice_start * n * ihw,
               sizeof(float) * (size_t)((int64_t)l->out_c * n * ihw));
        return;
    }
    const int64_t ohw = (int64_t)l->out_h * l->out_w; /* positions slice_start.. */
    for (int64_t r = 0; r < (int64_t)l->out_c * n; r++)
        memcpy(y + r * ohw, x + r * ihw + l->slice_start, sizeof(float) * (size_t)ohw);
}
