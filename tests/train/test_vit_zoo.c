/* test_vit_zoo.c - the zoo's full-size ViT-B/16 (nm.zoo "vit_b16": 86.6 M
 * synthetic weights, 17.6 GMACs) runs forward on one 224x224 image (suite
 * slow: the weights alone take seconds to draw). Its numbers are checked
 * against a reference on the same graph at a small size in
 * test_vit_forward; here: the shape, finite logits that differ by class
 * and by image, and that the class-token head reads the encoder output. */
#include <criterion/criterion.h>

#include "train.h"
#include "zoo.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

Test(vit_zoo, vit_b16_forward_one_image, .timeout = 600)
{
    nm_model *m = nm_zoo("vit_b16", 1);
    cr_assert_not_null(m, "%s", nm_errmsg());
    nm_tensor *x = nm_tensor_new4(NM_F32, 4, 2, 3, 224, 224);
    nm_tensor *x1 = nm_tensor_new4(NM_F32, 4, 1, 3, 224, 224);
    cr_assert(x && x1);
    nm_rng r;
    nm_rng_seed(&r, 8);
    for (int64_t i = 0; i < x->numel; i++)
        nm_f32(x)[i] = (float)(nm_rng_uniform(&r) * 2.0 - 1.0);
    memcpy(nm_f32(x1), nm_f32(x), sizeof(float) * (size_t)x1->numel);   /* the first image */
    double t0 = now();
    nm_tensor *y = nm_forward(m, x1);
    double t1 = now();
    cr_assert_not_null(y, "%s", nm_errmsg());
    fprintf(stderr, "vit_b16 forward, one 3x224x224 image: %.2f s\n", t1 - t0);
    cr_assert(y->ndim == 4 && y->shape[0] == 1 && y->shape[1] == 1000 && y->shape[2] == 1 &&
              y->shape[3] == 1);
    float lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < 1000; k++) {
        cr_assert(isfinite(nm_f32(y)[k]), "logit %d is %g", k, (double)nm_f32(y)[k]);
        lo = fminf(lo, nm_f32(y)[k]), hi = fmaxf(hi, nm_f32(y)[k]);
    }
    cr_expect(hi - lo > 1e-3f, "logits all equal (%g .. %g)", (double)lo, (double)hi);
    /* the second image gives other logits */
    nm_tensor *y2 = nm_forward(m, x);
    cr_assert_not_null(y2, "%s", nm_errmsg());
    double diff = 0, same = 0;
    for (int k = 0; k < 1000; k++) {
        diff = fmax(diff, fabs(nm_f32(y2)[1000 + k] - nm_f32(y2)[k]));
        same = fmax(same, fabs(nm_f32(y2)[k] - nm_f32(y)[k]));
    }
    cr_expect(diff > 1e-4, "two images give the same logits");
    cr_expect(same <= 1e-4 * (hi - lo), "image 1 alone and in a batch of 2 differ by %g", same);
    nm_tensor_release(y), nm_tensor_release(y2), nm_tensor_release(x), nm_tensor_release(x1);
    nm_model_free(m);
}
