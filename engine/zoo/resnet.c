/* resnet.c - torchvision's ResNet-18 and ResNet-50 (v1.5: the stride of a
 * bottleneck sits on its 3x3 conv) at 3x224x224, 1000 classes.
 *
 * Layer names follow torchvision ("layer2.0.conv1", "layer2.0.downsample.0")
 * where torchvision reuses one ReLU module, ours are distinct: inside a
 * block "relu1" (and "relu2" in a bottleneck) follow the convs, "add" is
 * the residual sum and "relu" the ReLU after it. */
#include "zoo_builder.h"

#include <stdio.h>

int zoo_basic_block(zb *b, int in, int out_c, int stride, const char *prefix)
{
    int in_c = 0, h, w;
    if (!b->failed)
        nm_model_out_shape(b->m, in, &in_c, &h, &w);
    int x = zb_conv_bn_relu(b, in, out_c, 3, stride, 1, prefix, "conv1", "bn1", "relu1", 0);
    x = zb_conv_bn_relu(b, x, out_c, 3, 1, 1, prefix, "conv2", "bn2", NULL, 0);
    int skip = in;
    if (stride != 1 || in_c != out_c)
        skip = zb_conv_bn_relu(b, in, out_c, 1, stride, 0, prefix, "downsample.0",
                               "downsample.1", NULL, 0);
    x = zb_add(b, x, skip, "%s.add", prefix);
    return zb_relu(b, x, 0, "%s.relu", prefix);
}

/* Bottleneck: 1x1 reduce to `width`, 3x3 (stride), 1x1 expand to 4*width. */
static int bottleneck(zb *b, int in, int width, int stride, const char *prefix)
{
    int in_c = 0, h, w;
    if (!b->failed)
        nm_model_out_shape(b->m, in, &in_c, &h, &w);
    int out_c = 4 * width;
    int x = zb_conv_bn_relu(b, in, width, 1, 1, 0, prefix, "conv1", "bn1", "relu1", 0);
    x = zb_conv_bn_relu(b, x, width, 3, stride, 1, prefix, "conv2", "bn2", "relu2", 0);
    x = zb_conv_bn_relu(b, x, out_c, 1, 1, 0, prefix, "conv3", "bn3", NULL, 0);
    int skip = in;
    if (stride != 1 || in_c != out_c)
        skip = zb_conv_bn_relu(b, in, out_c, 1, stride, 0, prefix, "downsample.0",
                               "downsample.1", NULL, 0);
    x = zb_add(b, x, skip, "%s.add", prefix);
    return zb_relu(b, x, 0, "%s.relu", prefix);
}

/* Stem, four stages of `blocks[i]` blocks, pool and classifier. */
static nm_model *resnet(const char *name, const int blocks[4], int bottlenecks)
{
    zb b;
    zb_begin(&b, name, 3, 224, 224);
    int x = zb_conv_bn_relu(&b, NM_INPUT, 64, 7, 2, 3, "", "conv1", "bn1", "relu", 0);
    x = zb_maxpool(&b, x, 3, 2, 1, "maxpool");
    for (int stage = 0; stage < 4; stage++) {
        int width = 64 << stage;
        for (int i = 0; i < blocks[stage]; i++) {
            char prefix[32];
            snprintf(prefix, sizeof prefix, "layer%d.%d", stage + 1, i);
            int stride = (i == 0 && stage > 0) ? 2 : 1;
            x = bottlenecks ? bottleneck(&b, x, width, stride, prefix)
                            : zoo_basic_block(&b, x, width, stride, prefix);
        }
    }
    x = zb_gap(&b, x, "avgpool");
    x = zb_flatten(&b, x, "flatten");
    zb_linear(&b, x, 1000, 1, "fc");
    return zb_end(&b);
}

nm_model *zoo_resnet18(void)
{
    static const int blocks[4] = {2, 2, 2, 2};
    return resnet("resnet18", blocks, 0);
}

nm_model *zoo_resnet50(void)
{
    static const int blocks[4] = {3, 4, 6, 3};
    return resnet("resnet50", blocks, 1);
}
