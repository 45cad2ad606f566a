/* fmnist.c - two small trainable networks for Fashion-MNIST (1x28x28,
 * 10 classes).
 *   fmnist_cnn:    [conv3x3-BN-ReLU] x2, maxpool 2, [conv3x3-BN-ReLU] x2
 *                  (64), maxpool 2, flatten, linear 256, ReLU, linear 10.
 *   fmnist_resnet: conv3x3(16)-BN-ReLU, basic blocks of 16, 32 (stride 2)
 *                  and 64 (stride 2) channels, global pool, linear 10. */
#include "zoo_builder.h"

#include <stdio.h>

nm_model *zoo_fmnist_cnn(void)
{
    static const int widths[4] = {32, 32, 64, 64};
    zb b;
    zb_begin(&b, "fmnist_cnn", 1, 28, 28);
    int x = NM_INPUT;
    for (int i = 0; i < 4; i++) {
        char conv[8], bn[8], relu[8];
        snprintf(conv, sizeof conv, "conv%d", i + 1);
        snprintf(bn, sizeof bn, "bn%d", i + 1);
        snprintf(relu, sizeof relu, "relu%d", i + 1);
        x = zb_conv_bn_relu(&b, x, widths[i], 3, 1, 1, "", conv, bn, relu, 0);
        if (i % 2 == 1)
            x = zb_maxpool(&b, x, 2, 2, 0, "pool%d", i / 2 + 1);
    }
    x = zb_flatten(&b, x, "flatten");
    x = zb_linear(&b, x, 256, 1, "fc1");
    x = zb_relu(&b, x, 0, "relu5");
    zb_linear(&b, x, 10, 1, "fc2");
    return zb_end(&b);
}

nm_model *zoo_fmnist_resnet(void)
{
    zb b;
    zb_begin(&b, "fmnist_resnet", 1, 28, 28);
    int x = zb_conv_bn_relu(&b, NM_INPUT, 16, 3, 1, 1, "", "conv1", "bn1", "relu", 0);
    x = zoo_basic_block(&b, x, 16, 1, "layer1.0");
    x = zoo_basic_block(&b, x, 32, 2, "layer2.0");
    x = zoo_basic_block(&b, x, 64, 2, "layer3.0");
    x = zb_gap(&b, x, "avgpool");
    x = zb_flatten(&b, x, "flatten");
    zb_linear(&b, x, 10, 1, "fc");
    return zb_end(&b);
}
