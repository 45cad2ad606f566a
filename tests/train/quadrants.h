/* quadrants.h - the small synthetic task shared by the training tests:
 * 4 classes, which quadrant of a 6x6 image of normal noise has the largest
 * sum. The label is computed here from the pixels, independently of any
 * engine code, so a network that learns it has really learned. */
#ifndef NM_TESTS_TRAIN_QUADRANTS_H
#define NM_TESTS_TRAIN_QUADRANTS_H

#include <criterion/criterion.h>
#include <stdint.h>

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

#endif
