/* export_util.h - shared by the export and shrink tests (tests/io,
 * tests/engine): zoo models at a small input size, random BN statistics,
 * random inputs, and comparing two forward passes. */
#ifndef NM_TESTS_EXPORT_UTIL_H
#define NM_TESTS_EXPORT_UTIL_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model.h"
#include "train.h"
#include "zoo.h"

/* The first `in` columns of a [out, old_in] linear weight. */
static inline nm_tensor *ex_first_columns(const nm_tensor *t, int64_t in)
{
    nm_tensor *o = nm_tensor_new4(NM_F32, 2, t->shape[0], in, 0, 0);
    cr_assert_not_null(o);
    for (int64_t r = 0; r < t->shape[0]; r++)
        memcpy(nm_f32(o) + r * in, nm_f32(t) + r * t->shape[1], (size_t)in * sizeof(float));
    return o;
}

/* The same layers and parameters (cloned) on an input of h x w. A linear
 * layer after a flatten that now yields fewer features keeps the first
 * columns of its weight (VGG's classifier at a small input). */
static inline nm_model *ex_resized(const nm_model *m, int h, int w)
{
    nm_model *o = nm_model_new(m->name, m->in_c, h, w);
    cr_assert_not_null(o);
    for (int i = 0; i < m->n_layers; i++) {
        nm_layer l = m->layers[i];
        int feats = 0;
        if (l.kind == NM_LAYER_LINEAR && l.n_inputs == 1) {
            int c, hh, ww;
            nm_model_out_shape(o, l.inputs[0], &c, &hh, &ww);
            feats = c < l.in_c ? c : 0;
            cr_assert(!feats || (!l.mask && !l.in_chans), "resize before pruning");
        }
        nm_tensor **ts[NM_LAYER_SLOTS];
        nm_layer_slots(&l, ts);
        for (size_t k = 0; k < NM_LAYER_SLOTS; k++)
            if (*ts[k])
                cr_assert_not_null(*ts[k] = k == 0 && feats ? ex_first_columns(*ts[k], feats)
                                                            : nm_tensor_clone(*ts[k]));
        cr_assert(nm_model_append(o, &l) >= 0, "resizing %s: %s", m->name, nm_errmsg());
    }
    return o;
}

/* A zoo model at h x w (its own size when h = 0). */
static inline nm_model *ex_zoo(const char *name, int h, int w)
{
    nm_model *z = nm_zoo(name, 7);
    cr_assert_not_null(z, "%s", nm_errmsg());
    if (!h)
        return z;
    nm_model *m = ex_resized(z, h, w);
    nm_model_free(z);
    return m;
}

/* BN statistics and affine parameters away from 1/0, so that a BN that
 * should output 0 on a channel only does so for the right reason. */
static inline void ex_randomize_bn(nm_model *m, uint64_t seed)
{
    nm_rng r;
    nm_rng_seed(&r, seed);
    for (int i = 0; i < m->n_layers; i++) {
        nm_layer *l = &m->layers[i];
        if (l->kind != NM_LAYER_BN)
            continue;
        for (int c = 0; c < l->out_c; c++) {
            nm_f32(l->gamma)[c] = (float)(0.5 + nm_rng_uniform(&r));
            nm_f32(l->beta)[c] = (float)(0.2 * nm_rng_normal(&r));
            nm_f32(l->mean)[c] = (float)(0.2 * nm_rng_normal(&r));
            nm_f32(l->var)[c] = (float)(0.5 + nm_rng_uniform(&r));
        }
    }
}

static inline nm_tensor *ex_input(const nm_model *m, int n, uint64_t seed)
{
    nm_tensor *x = nm_tensor_new4(NM_F32, 4, n, m->in_c, m->in_h, m->in_w);
    cr_assert_not_null(x);
    nm_rng r;
    nm_rng_seed(&r, seed);
    for (int64_t i = 0; i < x->numel; i++)
        nm_f32(x)[i] = (float)nm_rng_normal(&r);
    return x;
}

/* Forward passes of a and b on the same x agree within tol relative to
 * the largest |output| (at least 1); both have the same shape. Returns
 * the largest difference. */
static inline double ex_same_outputs(nm_model *a, nm_model *b, const nm_tensor *x, double tol)
{
    nm_tensor *ya = nm_forward(a, x);
    cr_assert_not_null(ya, "%s", nm_errmsg());
    nm_tensor *yb = nm_forward(b, x);
    cr_assert_not_null(yb, "%s", nm_errmsg());
    cr_assert_eq(ya->numel, yb->numel, "outputs of %lld and %lld values", (long long)ya->numel,
                 (long long)yb->numel);
    double big = 1, diff = 0;
    for (int64_t i = 0; i < ya->numel; i++) {
        cr_assert(isfinite(nm_f32(ya)[i]) && isfinite(nm_f32(yb)[i]));
        big = fmax(big, fabs(nm_f32(ya)[i]));
        diff = fmax(diff, fabs((double)nm_f32(ya)[i] - nm_f32(yb)[i]));
    }
    cr_assert(diff <= tol * big, "outputs differ by %g (largest |y| %g)", diff, big);
    nm_tensor_release(ya);
    nm_tensor_release(yb);
    return diff / big;
}

#endif
