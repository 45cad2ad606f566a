/* vgg.c - torchvision's VGG-16 (configuration "D", no batch norm) at
 * 3x224x224: thirteen 3x3 convs with bias, each followed by ReLU, five 2x2
 * max pools, and the 25088-4096-4096-1000 classifier. The adaptive average
 * pool to 7x7 is the identity at this input size, so it has no layer; the
 * dropouts have none either. Names are torchvision's module indices
 * ("features.0", "features.4" for the first pool, "classifier.6"). */
#include "zoo_builder.h"

nm_model *zoo_vgg16(void)
{
    /* output channels per conv; 0 marks a max pool */
    static const int cfg[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0,
                              512, 512, 512, 0, 512, 512, 512, 0};
    zb b;
    zb_begin(&b, "vgg16", 3, 224, 224);
    int x = NM_INPUT, index = 0;
    for (size_t i = 0; i < sizeof cfg / sizeof cfg[0]; i++) {
        if (cfg[i] == 0) {
            x = zb_maxpool(&b, x, 2, 2, 0, "features.%d", index++);
            continue;
        }
        x = zb_conv(&b, x, cfg[i], 3, 1, 1, 1, "features.%d", index++);
        x = zb_relu(&b, x, 0, "features.%d", index++);
    }
    x = zb_flatten(&b, x, "flatten");
    x = zb_linear(&b, x, 4096, 1, "classifier.0");
    x = zb_relu(&b, x, 0, "classifier.1");
    x = zb_linear(&b, x, 4096, 1, "classifier.3");
    x = zb_relu(&b, x, 0, "classifier.4");
    zb_linear(&b, x, 1000, 1, "classifier.6");
    return zb_end(&b);
}
