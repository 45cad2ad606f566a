/* vit.c - torchvision's ViT-B/16 at 3x224x224: a 16x16 stride-16 patch
 * conv to 768 features (14x14 patches), the embedding (class token and
 * positions: 197 tokens of 768), twelve encoder blocks and the class-token
 * head. Tokens are laid out as (features, tokens, 1). ViT-B/32 is the same
 * with a 32x32 stride-32 patch conv: 7x7 patches, 50 tokens, 4.41 GMACs
 * (the size of the JointNF paper's "ViT-base", 4.56 GFLOPs in its Table 2).
 *
 * An encoder block, as torchvision computes it (dropouts left out):
 *   ln_1 -> in_proj (768 -> 2304 = packed q,k,v) -> slices q, k, v ->
 *   scores = q k^T (12 heads) -> softmax -> context = scores v ->
 *   out_proj -> add1 (with the block input) -> ln_2 -> mlp.0 (3072) ->
 *   mlp.1 (GELU) -> mlp.3 (768) -> add2.
 * The head reads only the class token: a position slice selects token 0
 * before "heads.head", so the head costs 768x1000 MACs, not 197 times that.
 *
 * What the forward pass needs beyond the shapes (engine/train/vit_ops.c):
 * the layer norms use torchvision's eps 1e-6; the scores matmul scales by
 * 1/sqrt(head dim) (its alpha left 0); the softmax runs in `heads` groups
 * of T channels, i.e. over the keys of each head.
 *
 * zoo_vit builds the same graph at any size (the tests use a tiny one). */
#include "zoo_builder.h"

#include <stdio.h>

#define LN_EPS 1e-6f   /* torchvision: partial(nn.LayerNorm, eps=1e-6) */

static int encoder_block(zb *b, const zoo_vit_cfg *c, int in, int i)
{
    char p[40];
    const int dim = c->dim, heads = c->heads;
    snprintf(p, sizeof p, "encoder.layers.encoder_layer_%d", i);
    int x = zb_layernorm(b, in, LN_EPS, "%s.ln_1", p);
    int qkv = zb_linear(b, x, 3 * dim, 1, "%s.self_attention.in_proj", p);
    int q = zb_slice(b, qkv, NM_AXIS_CHANNEL, 0, dim, "%s.self_attention.q", p);
    int k = zb_slice(b, qkv, NM_AXIS_CHANNEL, dim, dim, "%s.self_attention.k", p);
    int v = zb_slice(b, qkv, NM_AXIS_CHANNEL, 2 * dim, dim, "%s.self_attention.v", p);
    x = zb_matmul(b, q, k, heads, 1, "%s.self_attention.scores", p);
    x = zb_softmax(b, x, heads, "%s.self_attention.softmax", p);
    x = zb_matmul(b, x, v, heads, 0, "%s.self_attention.context", p);
    x = zb_linear(b, x, dim, 1, "%s.self_attention.out_proj", p);
    int mid = zb_add(b, x, in, "%s.add1", p);
    x = zb_layernorm(b, mid, LN_EPS, "%s.ln_2", p);
    x = zb_linear(b, x, c->mlp, 1, "%s.mlp.0", p);
    x = zb_gelu(b, x, "%s.mlp.1", p);
    x = zb_linear(b, x, dim, 1, "%s.mlp.3", p);
    return zb_add(b, x, mid, "%s.add2", p);
}

nm_model *zoo_vit(const zoo_vit_cfg *c)
{
    zb b;
    zb_begin(&b, c->name, c->in_c, c->image, c->image);
    int x = zb_conv(&b, NM_INPUT, c->dim, c->patch, c->patch, 0, 1, "conv_proj");
    x = zb_embed(&b, x, "encoder.embed");
    for (int i = 0; i < c->blocks; i++)
        x = encoder_block(&b, c, x, i);
    x = zb_layernorm(&b, x, LN_EPS, "encoder.ln");
    x = zb_slice(&b, x, NM_AXIS_POSITION, 0, 1, "class_token");
    zb_linear(&b, x, c->classes, 1, "heads.head");
    return zb_end(&b);
}

nm_model *zoo_vit_b16(void)
{
    const zoo_vit_cfg c = {"vit_b16", 3, 224, 16, 768, 12, 3072, 12, 1000};
    return zoo_vit(&c);
}

nm_model *zoo_vit_b32(void)
{
    const zoo_vit_cfg c = {"vit_b32", 3, 224, 32, 768, 12, 3072, 12, 1000};
    return zoo_vit(&c);
}
