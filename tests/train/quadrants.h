/* quadrants.h - the small synthetic task shared by the training tests:
 * 4 classes, which quadrant of a 6x6 image of normal noise has the largest
 * sum. The label is computed here from the pixels, independently of any
 * engine code, so a network that learns it has really learned; and the
 * small CNN the tests train on it. */
#ifndef NM_TESTS_TRAIN_QUADRANTS_H
#define NM_TESTS_TRAIN_QUADRANTS_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>

#include "train.h"

/* n samples drawn with the given seed; the caller frees the dataset. */
static inline nm_dataset *quadrants(int n, uint64_t seed)
{
    nm_tensor *x = nm_tensor_new4(NM_F32, 4, n, 1, 6, 6);
    nm_tensor *y = nm_tensor_new4(NM_I32, 1, n, 0, 0, 0);
    cr_assert(x && y, "%s", nm_errmsg());
    nm_rng r;
    nm_rng_seed(&r, seed);
    for (int s = 0; s < n; s++) {
        double q[4] = {0};
        float *img = nm_f32(x) + s * 36;
        for (int k = 0; k < 36; k++) {
            img[k] = (float)nm_rng_normal(&r);
            q[(k / 6 >= 3) * 2 + (k % 6 >= 3)] += img[k];
        }
        int best = 0;
        for (int k = 1; k < 4; k++)
            if (q[k] > q[best])
                best = k;
        nm_i32(y)[s] = best;
    }
    nm_dataset *d = nm_dataset_new("quadrants", x, y, 4);
    nm_tensor_release(x), nm_tensor_release(y);
    cr_assert_not_null(d, "%s", nm_errmsg());
    return d;
}

/* The small CNN the training tests run on the quadrants task: `convs`
 * (1 or 2) blocks conv3x3(8)-BN-ReLU named conv1/bn1, conv2/bn2, then
 * maxpool2, flatten, fc1 (16)-ReLU, fc2 (4). Weights from `seed`; the
 * caller frees the model. */
static inline nm_model *quadrants_net(int convs, uint64_t seed)
{
    nm_model *m = nm_model_new("small", 1, 6, 6);
    cr_assert_not_null(m, "%s", nm_errmsg());
    char conv[16], bn[16], relu[16];
    for (int k = 1; k <= convs; k++) {
        snprintf(conv, sizeof conv, "conv%d", k);
        snprintf(bn, sizeof bn, "bn%d", k);
        snprintf(relu, sizeof relu, "r%d", k);
        nm_add_conv(m, conv, NM_PREV, 8, 3, 3, 1, 1, 1, 0);
        nm_add_bn(m, bn, NM_PREV);
        nm_add_relu(m, relu, NM_PREV, 0);
    }
    nm_add_pool(m, "p", NM_PREV, NM_LAYER_MAXPOOL, 2, 2, 0);
    nm_add_flatten(m, "f", NM_PREV);
    nm_add_linear(m, "fc1", NM_PREV, 16, 1);
    nm_add_relu(m, "r_fc1", NM_PREV, 0);
    cr_assert(nm_add_linear(m, "fc2", NM_PREV, 4, 1) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, seed);
    return m;
}

#endif
