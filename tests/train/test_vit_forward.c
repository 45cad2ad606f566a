/* test_vit_forward.c - the transformer kinds (matmul, layernorm, gelu,
 * softmax, embed, slice) through the executor: a tiny ViT built by the
 * zoo's own builder (zoo_vit, the graph vit_b16 uses) against a reference
 * written here in plain loops over [T, D] token matrices in double, as
 * torchvision's VisionTransformer computes it (patch conv, class token
 * first, position embedding, pre-norm blocks, multi-head attention with
 * softmax(Q K^T / sqrt(d)) V, exact GELU, final LN, head on the class
 * token). Also: batch of 3 = three batch-1 runs, the attention scale
 * override, training refusal, the softmax group check and a safetensors
 * round trip. The full-size vit_b16 runs in test_vit_zoo (suite slow). */
#include <criterion/criterion.h>

#include "kernels.h"
#include "model.h"
#include "net.h"
#include "nmio.h"
#include "train.h"
#include "zoo_builder.h"
#include "../test_tmpdir.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 3x8x8 images, 4x4 patches (4 patches + class token = 5 tokens of 8),
 * 2 blocks of 2 heads (head dim 4), MLP 16, 5 classes. */
static const zoo_vit_cfg tiny = {"tiny_vit", 3, 8, 4, 8, 2, 16, 2, 5};

/* Reference variants, to show the comparison notices a wrong kernel. */
typedef struct {
    double scale;        /* attention scale; 0 = 1/sqrt(head dim) */
    int softmax_all;     /* softmax over all heads' keys at once (wrong) */
} ref_opts;

static const nm_layer *layer(const nm_model *m, const char *fmt, ...)
{
    char name[NM_NAME_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    int i = nm_model_find(m, name);
    cr_assert(i >= 0, "no layer '%s'", name);
    return &m->layers[i];
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    cr_assert(p);
    return p;
}

/* out[t][o] = b[o] + sum_i w[o][i] in[t][i] for t < tokens. */
static void ref_linear(const nm_layer *l, int tokens, const double *in, double *out)
{
    const int din = l->in_c, dout = l->out_c;
    const float *w = nm_f32(l->weight), *b = l->bias ? nm_f32(l->bias) : NULL;
    for (int t = 0; t < tokens; t++)
        for (int o = 0; o < dout; o++) {
            double s = b ? b[o] : 0.0;
            for (int i = 0; i < din; i++)
                s += (double)w[(int64_t)o * din + i] * in[t * din + i];
            out[t * dout + o] = s;
        }
}

static void ref_layernorm(const nm_layer *l, int tokens, int dim, const double *in, double *out)
{
    for (int t = 0; t < tokens; t++) {
        double mean = 0, var = 0;
        for (int i = 0; i < dim; i++)
            mean += in[t * dim + i];
        mean /= dim;
        for (int i = 0; i < dim; i++)
            var += (in[t * dim + i] - mean) * (in[t * dim + i] - mean);
        var /= dim;
        for (int i = 0; i < dim; i++)
            out[t * dim + i] = (in[t * dim + i] - mean) / sqrt(var + (double)l->eps) *
                                   nm_f32(l->gamma)[i] + nm_f32(l->beta)[i];
    }
}

/* One image img [C, H, W] through the ViT m (zoo naming). Writes the
 * logits, and the tokens after block 0 as [T][D] into block0 (may be NULL). */
static void ref_vit(const nm_model *m, const float *img, ref_opts o, double *logits,
                    double *block0)
{
    const nm_layer *conv = layer(m, "conv_proj");
    const int C = m->in_c, H = m->in_h, W = m->in_w, p = conv->kh, D = conv->out_c;
    const int gh = H / p, gw = W / p, P = gh * gw, T = P + 1;
    const int heads = layer(m, "encoder.layers.encoder_layer_0.self_attention.scores")->heads;
    const int d = D / heads;
    int blocks = 0;
    for (;; blocks++) {
        char name[NM_NAME_MAX];
        snprintf(name, sizeof name, "encoder.layers.encoder_layer_%d.add2", blocks);
        if (nm_model_find(m, name) < 0)
            break;
    }
    cr_assert(blocks > 0);
    const int mlp = layer(m, "encoder.layers.encoder_layer_0.mlp.0")->out_c;
    double *z = xcalloc((size_t)T * D, sizeof *z), *y = xcalloc((size_t)T * D, sizeof *y);
    double *qkv = xcalloc((size_t)T * 3 * D, sizeof *qkv), *ctx = xcalloc((size_t)T * D, sizeof *ctx);
    double *hid = xcalloc((size_t)T * mlp, sizeof *hid), *o2 = xcalloc((size_t)T * D, sizeof *o2);
    double *att = xcalloc((size_t)T * T, sizeof *att);

    /* patches (row-major over the grid) -> tokens 1..P; class token 0 */
    const float *cw = nm_f32(conv->weight), *cb = nm_f32(conv->bias);
    for (int t = 0; t < P; t++) {
        const int py = t / gw, px = t % gw;
        for (int f = 0; f < D; f++) {
            double s = cb[f];
            for (int c = 0; c < C; c++)
                for (int ky = 0; ky < p; ky++)
                    for (int kx = 0; kx < p; kx++)
                        s += (double)cw[((f * C + c) * p + ky) * p + kx] *
                             img[(c * H + py * p + ky) * W + px * p + kx];
            z[(t + 1) * D + f] = s;
        }
    }
    const nm_layer *emb = layer(m, "encoder.embed");
    for (int f = 0; f < D; f++)
        z[f] = nm_f32(emb->bias)[f];
    for (int t = 0; t < T; t++)
        for (int f = 0; f < D; f++)
            z[t * D + f] += nm_f32(emb->weight)[t * D + f];

    const double scale = o.scale != 0 ? o.scale : 1.0 / sqrt((double)d);
    for (int b = 0; b < blocks; b++) {
        const char *pre = "encoder.layers.encoder_layer_%d.%s";
        ref_layernorm(layer(m, pre, b, "ln_1"), T, D, z, y);
        ref_linear(layer(m, pre, b, "self_attention.in_proj"), T, y, qkv);
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < T; i++)          /* query */
                for (int j = 0; j < T; j++) {    /* key */
                    double s = 0;
                    for (int e = 0; e < d; e++)
                        s += qkv[i * 3 * D + h * d + e] * qkv[j * 3 * D + D + h * d + e];
                    att[i * T + j] = s * scale;
                }
            if (!o.softmax_all) {
                for (int i = 0; i < T; i++) {
                    double mx = -INFINITY, sum = 0;
                    for (int j = 0; j < T; j++)
                        mx = fmax(mx, att[i * T + j]);
                    for (int j = 0; j < T; j++)
                        sum += att[i * T + j] = exp(att[i * T + j] - mx);
                    for (int j = 0; j < T; j++)
                        att[i * T + j] /= sum;
                }
            } else {   /* normalised over every (head, key) of the query */
                for (int i = 0; i < T; i++) {
                    double sum = 0;
                    for (int hh = 0; hh < heads; hh++)
                        for (int j = 0; j < T; j++) {
                            double s = 0;
                            for (int e = 0; e < d; e++)
                                s += qkv[i * 3 * D + hh * d + e] * qkv[j * 3 * D + D + hh * d + e];
                            sum += exp(s * scale);
                        }
                    for (int j = 0; j < T; j++)
                        att[i * T + j] = exp(att[i * T + j]) / sum;
                }
            }
            for (int i = 0; i < T; i++)
                for (int e = 0; e < d; e++) {
                    double s = 0;
                    for (int j = 0; j < T; j++)
                        s += att[i * T + j] * qkv[j * 3 * D + 2 * D + h * d + e];
                    ctx[i * D + h * d + e] = s;
                }
        }
        ref_linear(layer(m, pre, b, "self_attention.out_proj"), T, ctx, o2);
        for (int k = 0; k < T * D; k++)
            z[k] += o2[k];
        ref_layernorm(layer(m, pre, b, "ln_2"), T, D, z, y);
        ref_linear(layer(m, pre, b, "mlp.0"), T, y, hid);
        for (int k = 0; k < T * mlp; k++)
            hid[k] = 0.5 * hid[k] * (1.0 + erf(hid[k] / sqrt(2.0)));
        ref_linear(layer(m, pre, b, "mlp.3"), T, hid, o2);
        for (int k = 0; k < T * D; k++)
            z[k] += o2[k];
        if (b == 0 && block0)
            memcpy(block0, z, sizeof *z * (size_t)T * D);
    }
    ref_layernorm(layer(m, "encoder.ln"), T, D, z, y);
    ref_linear(layer(m, "heads.head"), 1, y, logits);   /* class token only */
    free(z), free(y), free(qkv), free(ctx), free(hid), free(o2), free(att);
}

static void fill_uniform(nm_tensor *t, nm_rng *r, double lo, double hi)
{
    for (int64_t i = 0; t && i < t->numel; i++)
        nm_f32(t)[i] = (float)(lo + (hi - lo) * nm_rng_uniform(r));
}

/* The tiny ViT with Kaiming weights and random biases, LN gamma/beta, class
 * token and positions (so every parameter shows in the output). */
static nm_model *tiny_vit(void)
{
    nm_model *m = zoo_vit(&tiny);
    cr_assert(m, "%s", nm_errmsg());
    nm_model_init_weights(m, 5);
    nm_rng r;
    nm_rng_seed(&r, 99);
    for (int i = 0; i < m->n_layers; i++) {
        nm_layer *l = &m->layers[i];
        fill_uniform(l->bias, &r, -0.5, 0.5);
        fill_uniform(l->gamma, &r, 0.5, 1.5);
        fill_uniform(l->beta, &r, -0.5, 0.5);
        if (l->kind == NM_LAYER_EMBED)
            fill_uniform(l->weight, &r, -0.5, 0.5);
    }
    return m;
}

static nm_tensor *random_images(int n, uint64_t seed)
{
    nm_tensor *x = nm_tensor_new4(NM_F32, 4, n, tiny.in_c, tiny.image, tiny.image);
    cr_assert(x);
    nm_rng r;
    nm_rng_seed(&r, seed);
    fill_uniform(x, &r, -2.0, 2.0);
    return x;
}

/* Largest |got - want| over the largest |want| of n values. */
static double rel_err(const float *got, const double *want, int n)
{
    double err = 0, mag = 0;
    for (int i = 0; i < n; i++) {
        err = fmax(err, fabs((double)got[i] - want[i]));
        mag = fmax(mag, fabs(want[i]));
    }
    return err / (mag > 0 ? mag : 1);
}

/* Forward of x with two graph outputs: block 0's output and the logits. */
static void forward2(nm_model *m, const nm_tensor *x, nm_tensor **blk, nm_tensor **logits)
{
    m->n_outputs = 2;
    m->outputs[0] = nm_model_find(m, "encoder.layers.encoder_layer_0.add2");
    m->outputs[1] = m->n_layers - 1;
    m->out_rank[0] = m->out_rank[1] = 0;
    nm_tensor *ys[2] = {NULL, NULL};
    cr_assert_eq(nm_forward_outputs(m, x, ys, 2), 2, "%s", nm_errmsg());
    *blk = ys[0], *logits = ys[1];
}

Test(vit_forward, tiny_vit_matches_reference)
{
    nm_model *m = tiny_vit();
    const int n = 3, D = tiny.dim, T = 5, K = tiny.classes;
    nm_tensor *x = random_images(n, 1), *blk, *lg;
    forward2(m, x, &blk, &lg);
    cr_assert(blk->shape[0] == n && blk->shape[1] == D && blk->shape[2] == T && blk->shape[3] == 1);
    cr_assert(lg->shape[0] == n && lg->shape[1] == K);
    const int64_t per = (int64_t)tiny.in_c * tiny.image * tiny.image;
    double logits[8], block0[5 * 8], wrong[8];
    float blk_td[5 * 8];
    for (int s = 0; s < n; s++) {
        ref_vit(m, nm_f32(x) + s * per, (ref_opts){0, 0}, logits, block0);
        for (int f = 0; f < D; f++)      /* engine (D, T) -> [T][D] */
            for (int t = 0; t < T; t++)
                blk_td[t * D + f] = nm_f32(blk)[(s * D + f) * T + t];
        double eb = rel_err(blk_td, block0, T * D), el = rel_err(nm_f32(lg) + s * K, logits, K);
        cr_expect(eb < 1e-4, "sample %d: block 0 output off by %g (relative)", s, eb);
        cr_expect(el < 1e-4, "sample %d: logits off by %g (relative)", s, el);
        /* the comparison is sharp enough to see a missing scale or a
         * softmax across heads */
        ref_vit(m, nm_f32(x) + s * per, (ref_opts){1.0, 0}, wrong, NULL);
        cr_expect(rel_err(nm_f32(lg) + s * K, wrong, K) > 1e-2, "unscaled scores agree too");
        ref_vit(m, nm_f32(x) + s * per, (ref_opts){0, 1}, wrong, NULL);
        cr_expect(rel_err(nm_f32(lg) + s * K, wrong, K) > 1e-2, "softmax over all heads agrees too");
    }
    nm_tensor_release(blk), nm_tensor_release(lg);

    /* alpha overrides the scale */
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == NM_LAYER_MATMUL && m->layers[i].groups == 1)
            m->layers[i].alpha = 0.3f;
    forward2(m, x, &blk, &lg);
    for (int s = 0; s < n; s++) {
        ref_vit(m, nm_f32(x) + s * per, (ref_opts){0.3, 0}, logits, NULL);
        double el = rel_err(nm_f32(lg) + s * K, logits, K);
        cr_expect(el < 1e-4, "alpha 0.3, sample %d: logits off by %g", s, el);
    }
    nm_tensor_release(blk), nm_tensor_release(lg), nm_tensor_release(x);
    nm_model_free(m);
}

Test(vit_forward, batch_equals_single_runs)
{
    nm_model *m = tiny_vit();
    const int n = 3;
    nm_tensor *x = random_images(n, 2), *blk, *lg;
    forward2(m, x, &blk, &lg);
    const int64_t per = x->numel / n;
    const int64_t bper = blk->numel / n, lper = lg->numel / n;
    for (int s = 0; s < n; s++) {
        nm_tensor *x1 = nm_tensor_new4(NM_F32, 4, 1, tiny.in_c, tiny.image, tiny.image), *b1, *l1;
        cr_assert(x1);
        memcpy(nm_f32(x1), nm_f32(x) + s * per, sizeof(float) * (size_t)per);
        forward2(m, x1, &b1, &l1);
        for (int64_t k = 0; k < bper; k++) {
            float a = nm_f32(blk)[s * bper + k], b = nm_f32(b1)[k];
            cr_expect(fabsf(a - b) <= 1e-5f * (1.0f + fabsf(b)), "sample %d block0[%lld]: %g vs %g",
                      s, (long long)k, (double)a, (double)b);
        }
        for (int64_t k = 0; k < lper; k++) {
            float a = nm_f32(lg)[s * lper + k], b = nm_f32(l1)[k];
            cr_expect(fabsf(a - b) <= 1e-5f * (1.0f + fabsf(b)), "sample %d logit %lld: %g vs %g",
                      s, (long long)k, (double)a, (double)b);
        }
        nm_tensor_release(x1), nm_tensor_release(b1), nm_tensor_release(l1);
    }
    nm_tensor_release(blk), nm_tensor_release(lg), nm_tensor_release(x);
    nm_model_free(m);
}

/* Each kind on its own, on a hand-made model: slices of channels and of
 * positions, the embedding, GELU and a softmax in groups, against values
 * computed here. */
Test(vit_forward, single_kinds)
{
    nm_model *m = nm_model_new("kinds", 6, 2, 3);   /* 6 channels, 6 positions */
    int emb = nm_add_embed(m, "emb", NM_INPUT);             /* (6, 7, 1) */
    int sc = nm_add_slice(m, "sc", emb, NM_AXIS_CHANNEL, 2, 3);
    int sp = nm_add_slice(m, "sp", emb, NM_AXIS_POSITION, 3, 2);
    int ge = nm_add_gelu(m, "gelu", NM_INPUT);
    int sm = nm_add_softmax_heads(m, "sm", NM_INPUT, 2);
    int ln = nm_add_layernorm(m, "ln", NM_INPUT);
    cr_assert(emb >= 0 && sc >= 0 && sp >= 0 && ge >= 0 && sm >= 0 && ln >= 0, "%s", nm_errmsg());
    cr_assert(m->layers[sp].out_c == 6 && m->layers[sp].out_h == 2 && m->layers[sp].out_w == 1);
    nm_rng r;
    nm_rng_seed(&r, 3);
    fill_uniform(m->layers[emb].weight, &r, -1, 1);
    fill_uniform(m->layers[emb].bias, &r, -1, 1);
    fill_uniform(m->layers[ln].gamma, &r, 0.5, 1.5);
    fill_uniform(m->layers[ln].beta, &r, -1, 1);
    const int n = 2;
    nm_tensor *x = nm_tensor_new4(NM_F32, 4, n, 6, 2, 3);
    cr_assert(x);
    fill_uniform(x, &r, -3, 3);
    int outs[] = {emb, sc, sp, ge, sm, ln};
    m->n_outputs = 6;
    memcpy(m->outputs, outs, sizeof outs);
    nm_tensor *y[6];
    cr_assert_eq(nm_forward_outputs(m, x, y, 6), 6, "%s", nm_errmsg());
    const float *X = nm_f32(x), *pos = nm_f32(m->layers[emb].weight);
    const float *cls = nm_f32(m->layers[emb].bias);
    for (int s = 0; s < n; s++) {
        const float *xs = X + s * 36;
        for (int c = 0; c < 6; c++)
            for (int t = 0; t < 7; t++) {
                double want = (t == 0 ? cls[c] : xs[c * 6 + t - 1]) + pos[t * 6 + c];
                cr_expect(fabs(nm_f32(y[0])[(s * 6 + c) * 7 + t] - want) < 1e-6, "embed");
                if (c >= 2 && c < 5)
                    cr_expect(fabs(nm_f32(y[1])[(s * 3 + c - 2) * 7 + t] - want) < 1e-6, "slice c");
                if (t >= 3 && t < 5)
                    cr_expect(fabs(nm_f32(y[2])[(s * 6 + c) * 2 + t - 3] - want) < 1e-6, "slice p");
            }
        for (int k = 0; k < 36; k++) {
            double v = xs[k], g = 0.5 * v * (1 + erf(v / sqrt(2.0)));
            cr_expect(fabs(nm_f32(y[3])[s * 36 + k] - g) < 1e-6, "gelu(%g)", v);
        }
        for (int p = 0; p < 6; p++) {
            for (int grp = 0; grp < 2; grp++) {   /* channels 0-2 and 3-5 */
                double sum = 0;
                for (int c = 3 * grp; c < 3 * grp + 3; c++)
                    sum += exp(xs[c * 6 + p]);
                for (int c = 3 * grp; c < 3 * grp + 3; c++)
                    cr_expect(fabs(nm_f32(y[4])[s * 36 + c * 6 + p] - exp(xs[c * 6 + p]) / sum) < 1e-6,
                              "softmax");
            }
            double mean = 0, var = 0;
            for (int c = 0; c < 6; c++)
                mean += xs[c * 6 + p];
            mean /= 6;
            for (int c = 0; c < 6; c++)
                var += (xs[c * 6 + p] - mean) * (xs[c * 6 + p] - mean);
            var /= 6;
            for (int c = 0; c < 6; c++) {
                double want = (xs[c * 6 + p] - mean) / sqrt(var + 1e-5) *
                                  nm_f32(m->layers[ln].gamma)[c] + nm_f32(m->layers[ln].beta)[c];
                cr_expect(fabs(nm_f32(y[5])[s * 36 + c * 6 + p] - want) < 1e-5, "layernorm");
            }
        }
    }
    for (int k = 0; k < 6; k++)
        nm_tensor_release(y[k]);
    nm_tensor_release(x);
    nm_model_free(m);
}

/* A LayerNorm with removed channels (keep vector) computes what the same
 * layer with those channels cut out computes, and 0 on the removed ones:
 * checked against the kernel run on the compacted rows and against the
 * definition in double. */
Test(vit_forward, layernorm_over_kept_channels)
{
    enum { C = 7, COLS = 5 };
    const uint8_t keep[C] = {1, 0, 1, 1, 0, 1, 1};
    float x[C * COLS], g[C], b[C], y[C * COLS], xc[C * COLS], gc[C], bc[C], yc[C * COLS];
    nm_rng r;
    nm_rng_seed(&r, 8);
    for (int i = 0; i < C * COLS; i++)
        x[i] = (float)(nm_rng_uniform(&r) * 4 - 2);
    for (int k = 0; k < C; k++)
        g[k] = (float)(0.5 + nm_rng_uniform(&r)), b[k] = (float)(nm_rng_uniform(&r) - 0.5);
    int kc = 0;
    for (int k = 0; k < C; k++) {
        if (!keep[k])
            continue;
        memcpy(xc + kc * COLS, x + k * COLS, sizeof(float) * COLS);
        gc[kc] = g[k], bc[kc] = b[k];
        kc++;
    }
    nm_layernorm_forward(C, COLS, x, g, b, 1e-5f, keep, y);
    nm_layernorm_forward(kc, COLS, xc, gc, bc, 1e-5f, NULL, yc);
    for (int j = 0; j < COLS; j++) {
        double mean = 0, var = 0;
        for (int k = 0; k < C; k++)
            mean += keep[k] ? x[k * COLS + j] : 0;
        mean /= kc;
        for (int k = 0; k < C; k++)
            var += keep[k] ? (x[k * COLS + j] - mean) * (x[k * COLS + j] - mean) : 0;
        var /= kc;
        for (int k = 0, q = 0; k < C; k++) {
            if (!keep[k]) {
                cr_assert_eq(y[k * COLS + j], 0.0f, "removed channel %d is not 0", k);
                continue;
            }
            double want = (x[k * COLS + j] - mean) / sqrt(var + 1e-5) * g[k] + b[k];
            cr_assert_float_eq(y[k * COLS + j], want, 1e-5, "channel %d column %d", k, j);
            cr_assert_float_eq(y[k * COLS + j], yc[q * COLS + j], 1e-6);
            q++;
        }
    }
}

Test(vit_forward, training_refused_and_bad_groups)
{
    nm_model *m = tiny_vit();
    nm_net *net = nm_net_new(m, 2, 1);
    cr_expect_null(net);
    cr_expect(strstr(nm_errmsg(), "inference only") && strstr(nm_errmsg(), "layernorm"), "%s",
              nm_errmsg());
    nm_net_free(net);
    net = nm_net_new(m, 2, 0);   /* inference is fine */
    cr_expect_not_null(net, "%s", nm_errmsg());
    nm_net_free(net);
    cr_expect_eq(nm_add_softmax_heads(m, "bad_sm", m->n_layers - 1, 3), -1);   /* 5 classes */
    cr_expect(strstr(nm_errmsg(), "3 groups over 5 channels"), "%s", nm_errmsg());
    nm_model_free(m);
}

/* Heads of the softmax, LN eps and the matmul scale survive a save. */
Test(vit_forward, safetensors_round_trip)
{
    nm_model *m = tiny_vit();
    m->layers[nm_model_find(m, "encoder.layers.encoder_layer_1.self_attention.scores")].alpha = 0.7f;
    /* a LayerNorm with removed stream channels keeps them removed */
    nm_layer *ln = &m->layers[nm_model_find(m, "encoder.ln")];
    ln->filters = nm_tensor_new4(NM_U8, 1, ln->out_c, 0, 0, 0);
    cr_assert(ln->filters);
    for (int c = 0; c < ln->out_c; c++)
        nm_u8(ln->filters)[c] = c % 3 != 1;
    char dir[64], path[128];
    cr_assert(tmpdir_new(dir, sizeof dir, "vitfwd"));
    snprintf(path, sizeof path, "%s/vit.safetensors", dir);
    cr_assert_eq(nm_safetensors_save_model(m, path), NM_OK, "%s", nm_errmsg());
    nm_model *r = nm_safetensors_load_model(path);
    cr_assert_not_null(r, "%s", nm_errmsg());
    cr_expect_eq(r->layers[nm_model_find(r, "encoder.layers.encoder_layer_0.self_attention.softmax")].heads,
                 2);
    cr_expect_eq(r->layers[nm_model_find(r, "encoder.ln")].eps, 1e-6f);
    const nm_layer *rl = &r->layers[nm_model_find(r, "encoder.ln")];
    cr_assert_not_null(rl->filters, "the LayerNorm's keep vector was not saved");
    cr_expect_eq(memcmp(rl->filters->data, ln->filters->data, (size_t)ln->out_c), 0);
    nm_tensor *x = random_images(2, 4), *a, *b;
    a = nm_forward(m, x), b = nm_forward(r, x);
    cr_assert(a && b, "%s", nm_errmsg());
    cr_expect_eq(memcmp(nm_f32(a), nm_f32(b), sizeof(float) * (size_t)a->numel), 0);
    nm_tensor_release(a), nm_tensor_release(b), nm_tensor_release(x);
    nm_model_free(r), nm_model_free(m);
    tmpdir_remove(dir);
}
