/* mobilenet.c - torchvision's MobileNet-v2 (width 1.0) at 3x224x224.
 *
 * Inverted residual blocks: 1x1 expansion (skipped when the ratio is 1),
 * 3x3 depthwise, 1x1 linear projection, each conv followed by BN; ReLU6
 * (ReLU with clip 6) after the first two. The residual add exists only when
 * the stride is 1 and the channel count is unchanged. Names follow
 * torchvision: "features.3.conv.0.0" (expand conv), "features.3.conv.1.0"
 * (depthwise), "features.3.conv.2" (projection), "features.3.add". */
#include "zoo_builder.h"

#include <stdio.h>

#define RELU6 6.0f

/* conv (or depthwise conv) + BN + ReLU6 named "<p>.0", "<p>.1", "<p>.2". */
static int conv_bn_relu6(zb *b, int in, int out_c, int k, int stride, int depthwise,
                         const char *p)
{
    int x = depthwise ? zb_dwconv(b, in, k, stride, k / 2, "%s.0", p)
                      : zb_conv(b, in, out_c, k, stride, k / 2, 0, "%s.0", p);
    x = zb_bn(b, x, "%s.1", p);
    return zb_relu(b, x, RELU6, "%s.2", p);
}

static int inverted_residual(zb *b, int in, int in_c, int out_c, int stride, int expand,
                             int index)
{
    char p[48];
    int part = 0, x = in, hidden = in_c * expand;
    if (expand != 1) {
        snprintf(p, sizeof p, "features.%d.conv.%d", index, part++);
        x = conv_bn_relu6(b, x, hidden, 1, 1, 0, p);
    }
    snprintf(p, sizeof p, "features.%d.conv.%d", index, part++);
    x = conv_bn_relu6(b, x, hidden, 3, stride, 1, p);
    x = zb_conv(b, x, out_c, 1, 1, 0, 0, "features.%d.conv.%d", index, part++);
    x = zb_bn(b, x, "features.%d.conv.%d", index, part);
    if (stride == 1 && in_c == out_c)
        x = zb_add(b, x, in, "features.%d.add", index);
    return x;
}

nm_model *zoo_mobilenet_v2(void)
{
    /* expansion t, channels c, repeats n, first stride s (torchvision's table) */
    static const int cfg[7][4] = {
        {1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
        {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1},
    };
    zb b;
    zb_begin(&b, "mobilenet_v2", 3, 224, 224);
    int x = conv_bn_relu6(&b, NM_INPUT, 32, 3, 2, 0, "features.0");
    int c = 32, index = 1;
    for (int g = 0; g < 7; g++)
        for (int i = 0; i < cfg[g][2]; i++, index++) {
            x = inverted_residual(&b, x, c, cfg[g][1], i == 0 ? cfg[g][3] : 1, cfg[g][0], index);
            c = cfg[g][1];
        }
    char p[32];
    snprintf(p, sizeof p, "features.%d", index);
    x = conv_bn_relu6(&b, x, 1280, 1, 1, 0, p);
    x = zb_gap(&b, x, "avgpool");
    x = zb_flatten(&b, x, "flatten");
    zb_linear(&b, x, 1000, 1, "classifier.1");
    return zb_end(&b);
}
