/* upsample_ops.c - forward passes of the upsampling layer kinds (transposed
 * convolution, nearest and bilinear resize) over a CNHW batch (kernels.h).
 * Inference only: nothing here has a backward pass. */
#include "kernels.h"

#include <math.h>

/* Each output plane (one output channel of one sample) belongs to one
 * thread, which scatters into it the contributions of its group's input
 * channels: input row i meets kernel row a at output row i*sh + a*dh - ph. */
void nm_convt_forward(const nm_layer *l, int n, const float *x, float *y)
{
    const int h = l->in_h, w = l->in_w, cout = l->out_c, oh = l->out_h, ow = l->out_w;
    const int g = l->groups > 0 ? l->groups : 1, cig = l->in_c / g, cog = cout / g;
    const int kh = l->kh, kw = l->kw, sh = l->stride_h, sw = l->stride_w;
    const int ph = l->pad_h, pw = l->pad_w;
    const int dh = l->dil_h > 0 ? l->dil_h : 1, dw = l->dil_w > 0 ? l->dil_w : 1;
    const float *wt = nm_f32(l->weight), *bias = l->bias ? nm_f32(l->bias) : NULL;
    const int64_t ihw = (int64_t)h * w, ohw = (int64_t)oh * ow;
    const int64_t work = (int64_t)cout * n * ihw * cig * kh * kw;
#pragma omp parallel for schedule(static) collapse(2) if (work > NM_PAR_MIN)
    for (int co = 0; co < cout; co++)
        for (int s = 0; s < n; s++) {
            float *out = y + ((int64_t)co * n + s) * ohw;
            const float bv = bias ? bias[co] : 0.0f;
            for (int64_t p = 0; p < ohw; p++)
                out[p] = bv;
            const int grp = co / cog, oc = co % cog;
            for (int ci = grp * cig; ci < (grp + 1) * cig; ci++) {
                const float *in = x + ((int64_t)ci * n + s) * ihw;
                const float *wk = wt + ((int64_t)ci * cog + oc) * kh * kw;
                for (int a = 0; a < kh; a++)
                    for (int i = 0; i < h; i++) {
                        const int64_t r = (int64_t)i * sh + (int64_t)a * dh - ph;
                        if (r < 0 || r >= oh)
                            continue;
                        float *orow = out + r * ow;
                        const float *irow = in + (int64_t)i * w;
                        for (int b = 0; b < kw; b++) {
                            const float wv = wk[a * kw + b];
                            const int64_t c0 = (int64_t)b * dw - pw; /* column of input j = 0 */
                            /* inputs j with 0 <= j*sw + c0 < ow */
                            int64_t j0 = c0 < 0 ? (-c0 + sw - 1) / sw : 0;
                            int64_t j1 = c0 >= ow ? 0 : (ow - 1 - c0) / sw + 1;
                            if (j1 > w)
                                j1 = w;
                            for (int64_t j = j0; j < j1; j++)
                                orow[j * sw + c0] += wv * irow[j];
                        }
                    }
            }
        }
}

/* The input coordinate output index x maps to along an axis of `in` ->
 * `out` values with scale `scale` (model.h, nm_resize_coord). */
static double src_coord(nm_resize_coord mode, int x, int in, int out, double scale)
{
    switch (mode) {
    case NM_COORD_PYTORCH_HALF_PIXEL:
        return out > 1 ? (x + 0.5) / scale - 0.5 : 0.0;
    case NM_COORD_ALIGN_CORNERS:
        return out > 1 ? (double)x * (in - 1) / (out - 1) : 0.0;
    case NM_COORD_ASYMMETRIC:
        return x / scale;
    case NM_COORD_TF_HALF_PIXEL_FOR_NN:
        return (x + 0.5) / scale;
    default: /* half_pixel */
        return (x + 0.5) / scale - 0.5;
    }
}

static int clamp_index(double v, int in)
{
    return v <= 0 ? 0 : v >= in - 1 ? in - 1 : (int)v;
}

/* Nearest: the input index of source coordinate v (rounded, then clamped). */
static int nearest_index(double v, nm_resize_round r, int in)
{
    double f = floor(v), frac = v - f;
    if (frac > 0) {
        switch (r) {
        case NM_ROUND_PREFER_CEIL: f += frac >= 0.5; break;
        case NM_ROUND_FLOOR: break;
        case NM_ROUND_CEIL: f += 1; break;
        default: f += frac > 0.5; break; /* round_prefer_floor */
        }
    }
    return clamp_index(f, in);
}

/* One axis position: the two input indices and the weight of the second
 * (nearest: both the chosen index, weight 0). */
typedef struct {
    int i0, i1;
    double t;
} tap;

static tap axis_tap(const nm_layer *l, int x, int in, int out, float given)
{
    double scale = given > 0 ? (double)given : (double)out / in;
    double v = src_coord(l->rs_coord, x, in, out, scale);
    tap p;
    if (l->rs_mode == NM_RESIZE_NEAREST) {
        p.i0 = p.i1 = nearest_index(v, l->rs_round, in);
        p.t = 0;
        return p;
    }
    double f = floor(v);
    p.t = v - f;
    p.i0 = clamp_index(f, in);
    p.i1 = clamp_index(f + 1, in);
    return p;
}

void nm_resize_forward(const nm_layer *l, int n, const float *x, float *y)
{
    const int h = l->in_h, w = l->in_w, oh = l->out_h, ow = l->out_w;
    const int64_t planes = (int64_t)l->out_c * n, ihw = (int64_t)h * w, ohw = (int64_t)oh * ow;
#pragma omp parallel for schedule(static) if (planes * ohw > NM_PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *in = x + pl * ihw;
        float *out = y + pl * ohw;
        for (int r = 0; r < oh; r++) {
            const tap ty = axis_tap(l, r, h, oh, l->scale_h);
            const float *row0 = in + (int64_t)ty.i0 * w, *row1 = in + (int64_t)ty.i1 * w;
            for (int c = 0; c < ow; c++) {
                const tap tx = axis_tap(l, c, w, ow, l->scale_w);
                double top = row0[tx.i0] + tx.t * ((double)row0[tx.i1] - row0[tx.i0]);
                double bot = row1[tx.i0] + tx.t * ((double)row1[tx.i1] - row1[tx.i0]);
                out[(int64_t)r * ow + c] = (float)(top + ty.t * (bot - top));
            }
        }
    }
}
