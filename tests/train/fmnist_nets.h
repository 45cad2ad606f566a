/* fmnist_nets.h - the Fashion-MNIST CNN of the issue, built with the
 * model.h builders (the zoo's fmnist_cnn is the same network):
 * conv3x3(32)-BN-ReLU-conv3x3(32)-BN-ReLU-maxpool2-conv3x3(64)-BN-ReLU-
 * conv3x3(64)-BN-ReLU-maxpool2-flatten-linear(256)-ReLU-linear(10). */
#ifndef NM_TESTS_FMNIST_NETS_H
#define NM_TESTS_FMNIST_NETS_H

#include "model.h"

#include <stdio.h>

static inline nm_model *fmnist_cnn_build(uint64_t seed)
{
    nm_model *m = nm_model_new("fmnist_cnn", 1, 28, 28);
    const int widths[4] = {32, 32, 64, 64};
    char name[32];
    int ok = m != NULL;
    for (int i = 0; ok && i < 4; i++) {
        snprintf(name, sizeof name, "conv%d", i + 1);
        ok &= nm_add_conv(m, name, NM_PREV, widths[i], 3, 3, 1, 1, 1, 0) >= 0;
        snprintf(name, sizeof name, "bn%d", i + 1);
        ok &= nm_add_bn(m, name, NM_PREV) >= 0;
        snprintf(name, sizeof name, "relu%d", i + 1);
        ok &= nm_add_relu(m, name, NM_PREV, 0) >= 0;
        if (i % 2) {
            snprintf(name, sizeof name, "pool%d", i / 2 + 1);
            ok &= nm_add_pool(m, name, NM_PREV, NM_LAYER_MAXPOOL, 2, 2, 0) >= 0;
        }
    }
    ok = ok && nm_add_flatten(m, "flatten", NM_PREV) >= 0 &&
         nm_add_linear(m, "fc1", NM_PREV, 256, 1) >= 0 && nm_add_relu(m, "relu5", NM_PREV, 0) >= 0 &&
         nm_add_linear(m, "fc2", NM_PREV, 10, 1) >= 0;
    if (!ok) {
        nm_model_free(m);
        return NULL;
    }
    nm_model_init_weights(m, seed);
    return m;
}

#endif
