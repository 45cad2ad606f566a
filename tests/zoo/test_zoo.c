/* The model zoo: published MACs and parameter counts, torchvision structure,
 * hand-computed counts for the Fashion-MNIST networks, determinism, names.
 *
 * Counts and structure are checked on the architecture builders (the same
 * graph nm_zoo returns, with zero weights), since synthesising VGG-16's
 * 138 M weights takes seconds; nm_zoo's own graph is compared with the
 * builder's for resnet50, and test_zoo_full (suite slow) checks the
 * published counts through nm_zoo for VGG-16 and ViT-B/16. */
#include <criterion/criterion.h>
#include <string.h>
#include <time.h>

#include "zoo.h"
#include "zoo_builder.h"
#include "zoo_check.h"
#include "../test_budget.h"

static nm_model *zoo_ok(const char *name, uint64_t seed)
{
    nm_model *m = nm_zoo(name, seed);
    cr_assert_not_null(m, "nm_zoo(%s): %s", name, nm_errmsg());
    return m;
}

Test(zoo, list_and_descriptions)
{
    static const char *const expected[] = {"resnet18", "resnet50", "mobilenet_v2", "vgg16",
                                           "vit_b16", "vit_b32", "fmnist_cnn", "fmnist_resnet"};
    const char *const *names = nm_zoo_list();
    int n = 0;
    while (names[n])
        n++;
    cr_assert_eq(n, 8);
    for (int i = 0; i < n; i++) {
        cr_expect_str_eq(names[i], expected[i]);
        cr_expect(strlen(nm_zoo_describe(names[i])) > 10, "%s has no description", names[i]);
        cr_expect_null(strchr(nm_zoo_describe(names[i]), '\n'), "one line only");
        cr_expect(nm_zoo_has(names[i]), "%s listed but not accepted", names[i]);
    }
    cr_expect_str_eq(nm_zoo_describe("nope"), "");
    cr_expect_str_eq(nm_zoo_describe(NULL), "");
    cr_expect(!nm_zoo_has("nope") && !nm_zoo_has("resnet") && !nm_zoo_has(NULL));
}

Test(zoo, unknown_name_lists_valid_names)
{
    const char *bad[] = {"resnet", "ResNet18", "", "vgg16 "};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        cr_assert_null(nm_zoo(bad[k], 1));
        const char *msg = nm_errmsg();
        cr_expect(strstr(msg, "unknown"), "%s", msg);
        for (const char *const *n = nm_zoo_list(); *n; n++)
            cr_expect(strstr(msg, *n), "message lacks '%s': %s", *n, msg);
    }
    cr_assert_null(nm_zoo(NULL, 1));
    cr_expect(strstr(nm_errmsg(), "fmnist_resnet"), "%s", nm_errmsg());
}

/* The architecture alone (zero weights: no synthesis time). */
static nm_model *arch(const char *name)
{
    static const struct {
        const char *name;
        nm_model *(*build)(void);
    } builders[] = {
        {"resnet18", zoo_resnet18}, {"resnet50", zoo_resnet50}, {"mobilenet_v2", zoo_mobilenet_v2},
        {"vgg16", zoo_vgg16}, {"vit_b16", zoo_vit_b16}, {"vit_b32", zoo_vit_b32},
        {"fmnist_cnn", zoo_fmnist_cnn},
        {"fmnist_resnet", zoo_fmnist_resnet},
    };
    for (size_t i = 0; i < sizeof builders / sizeof builders[0]; i++)
        if (strcmp(builders[i].name, name) == 0) {
            nm_model *m = builders[i].build();
            cr_assert_not_null(m, "%s: %s", name, nm_errmsg());
            return m;
        }
    cr_assert_fail("no builder for %s", name);
    return NULL;
}

/* nm_zoo_bytes (what nm_zoo reserves before building) is what each
 * builder allocates, measured on the engine's byte counter. */
Test(zoo, declared_bytes_match_the_build)
{
    for (const char *const *z = nm_zoo_list(); *z; z++) {
        int64_t live = nm_mem_live();
        nm_model *m = arch(*z);
        cr_expect_eq(nm_mem_live() - live, nm_zoo_bytes(*z), "%s: builds %lld bytes, declares %lld",
                     *z, (long long)(nm_mem_live() - live), (long long)nm_zoo_bytes(*z));
        nm_model_free(m);
    }
    cr_assert_eq(nm_zoo_bytes("nope"), -1);
}

/* Under a budget nm_zoo reserves the whole model up front: VGG-16 under
 * 64 MB is refused before any layer is allocated (the byte counter never
 * moves), naming the model, the bytes and the limit; a model that fits asks
 * once, for exactly its bytes, and the weights' synthesis asks no more. */
Test(zoo, refuses_before_building_under_a_budget)
{
    int64_t live = nm_mem_live();
    nm_mem_reset_peak();
    cap_budget c = {.cap = 64 << 20};
    nm_mem_budget b;
    nm_mem_budget_push(&b, cap_ask, &c);
    nm_model *m = nm_zoo("vgg16", 1);
    nm_mem_budget_pop(&b);
    cr_assert_null(m);
    cr_assert(b.refused);
    cr_assert_eq(nm_mem_peak(), live, "allocated %lld bytes before refusing",
                 (long long)(nm_mem_peak() - live));
    cr_expect(strstr(nm_errmsg(), "vgg16: not enough memory") &&
              strstr(nm_errmsg(), "553430176") && strstr(nm_errmsg(), "67108864"), "%s",
              nm_errmsg());

    cap_budget c2 = {.cap = 64 << 20};
    nm_mem_budget_push(&b, cap_ask, &c2);
    m = nm_zoo("fmnist_cnn", 1);
    nm_mem_budget_pop(&b);
    cr_assert_not_null(m, "%s", nm_errmsg());
    cr_assert_eq(c2.calls, 1);
    cr_assert_eq(c2.granted, nm_zoo_bytes("fmnist_cnn"));
    cr_assert_eq(nm_mem_live() - live, c2.granted);
    nm_model_free(m);
}

/* Same layers, shapes and parameter shapes. */
static void expect_same_graph(const nm_model *a, const nm_model *b)
{
    cr_assert_eq(a->n_layers, b->n_layers);
    for (int i = 0; i < a->n_layers; i++) {
        const nm_layer *x = &a->layers[i], *y = &b->layers[i];
        cr_expect_str_eq(x->name, y->name);
        cr_expect(x->kind == y->kind && x->out_c == y->out_c && x->out_h == y->out_h &&
                  x->inputs[0] == y->inputs[0] && x->inputs[1] == y->inputs[1], "%s", x->name);
    }
    cr_expect_eq(nm_model_params(a), nm_model_params(b));
}

/* Published MACs within 2% and parameters within 1%. */
Test(zoo, published_counts)
{
    for (size_t i = 0; i < sizeof published / sizeof published[0]; i++) {
        const char *name = published[i].name;
        nm_model *m = arch(name);
        cr_expect_str_eq(m->name, name);
        cr_expect(m->in_c == 3 && m->in_h == 224 && m->in_w == 224);
        const nm_layer *last = &m->layers[m->n_layers - 1];
        cr_expect_eq(last->kind, NM_LAYER_LINEAR, "%s ends with its classifier", name);
        expect_out(last, 1000, 1, 1);
        check_published(m, &published[i]);
        nm_model_free(m);
    }
}

Test(zoo, resnet18_structure)
{
    nm_model *m = arch("resnet18");
    cr_expect_eq(count_kind(m, NM_LAYER_CONV), 20);
    cr_expect_eq(count_kind(m, NM_LAYER_BN), 20);
    cr_expect_eq(count_kind(m, NM_LAYER_ADD), 8);
    cr_expect_eq(count_kind(m, NM_LAYER_RELU), 17);
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == NM_LAYER_CONV)
            cr_expect(nm_model_bn_of(m, i) >= 0, "%s has no BN", m->layers[i].name);
    const nm_layer *c1 = layer_named(m, "conv1");
    cr_expect(c1->kh == 7 && c1->stride_h == 2 && c1->pad_h == 3 && !c1->bias);
    expect_out(c1, 64, 112, 112);
    expect_out(layer_named(m, "maxpool"), 64, 56, 56);
    cr_expect_lt(nm_model_find(m, "layer1.0.downsample.0"), 0, "no downsample in layer1");
    const nm_layer *ds = layer_named(m, "layer2.0.downsample.0");
    cr_expect(ds->kh == 1 && ds->stride_h == 2 && ds->in_c == 64);
    expect_out(ds, 128, 28, 28);
    cr_expect_eq(layer_named(m, "layer2.0.downsample.1")->kind, NM_LAYER_BN);
    /* the residual sum adds the block's bn2 and its downsample BN */
    const nm_layer *add = layer_named(m, "layer2.0.add");
    cr_expect_eq(add->inputs[0], nm_model_find(m, "layer2.0.bn2"));
    cr_expect_eq(add->inputs[1], nm_model_find(m, "layer2.0.downsample.1"));
    cr_expect_eq(layer_named(m, "layer1.1.add")->inputs[1], nm_model_find(m, "layer1.0.relu"));
    expect_out(layer_named(m, "layer4.1.relu"), 512, 7, 7);
    const nm_layer *fc = layer_named(m, "fc");
    cr_expect(fc->in_c == 512 && fc->bias);
    nm_model_free(m);
}

Test(zoo, resnet50_structure)
{
    nm_model *m = arch("resnet50");
    cr_expect_eq(count_kind(m, NM_LAYER_CONV), 53);
    cr_expect_eq(count_kind(m, NM_LAYER_BN), 53);
    cr_expect_eq(count_kind(m, NM_LAYER_ADD), 16);
    /* layer1.0 changes 64 -> 256 channels at stride 1: it needs a downsample */
    const nm_layer *ds = layer_named(m, "layer1.0.downsample.0");
    cr_expect(ds->stride_h == 1);
    expect_out(ds, 256, 56, 56);
    /* v1.5: the stride is on the 3x3 conv */
    const nm_layer *c2 = layer_named(m, "layer3.0.conv2");
    cr_expect(c2->kh == 3 && c2->stride_h == 2 && c2->in_c == 256);
    expect_out(c2, 256, 14, 14);
    cr_expect_eq(layer_named(m, "layer3.0.conv1")->stride_h, 1);
    expect_out(layer_named(m, "layer3.5.conv3"), 1024, 14, 14);
    cr_expect_lt(nm_model_find(m, "layer3.6.conv1"), 0, "layer3 has 6 blocks");
    expect_out(layer_named(m, "layer4.2.relu"), 2048, 7, 7);
    cr_expect_eq(layer_named(m, "fc")->in_c, 2048);
    nm_model_free(m);
}

Test(zoo, mobilenet_v2_structure)
{
    nm_model *m = zoo_ok("mobilenet_v2", 3);
    cr_expect_eq(count_kind(m, NM_LAYER_DWCONV), 17);
    cr_expect_eq(count_kind(m, NM_LAYER_CONV), 35);
    cr_expect_eq(count_kind(m, NM_LAYER_BN), 52);
    cr_expect_eq(count_kind(m, NM_LAYER_ADD), 10);
    cr_expect_eq(count_kind(m, NM_LAYER_RELU), 35);
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].kind == NM_LAYER_RELU)
            cr_expect_float_eq(m->layers[i].clip, 6.0f, 0, "%s is not ReLU6", m->layers[i].name);
    /* block 1 (ratio 1) has no expansion: conv.0 is the depthwise conv */
    cr_expect_eq(layer_named(m, "features.1.conv.0.0")->kind, NM_LAYER_DWCONV);
    expect_out(layer_named(m, "features.1.conv.2"), 16, 112, 112);
    cr_expect_lt(nm_model_find(m, "features.1.add"), 0, "32 -> 16 channels: no add");
    /* block 2: 16 -> 96 expand, stride-2 depthwise, project to 24; block 3 adds */
    expect_out(layer_named(m, "features.2.conv.0.0"), 96, 112, 112);
    const nm_layer *dw = layer_named(m, "features.2.conv.1.0");
    cr_expect(dw->kind == NM_LAYER_DWCONV && dw->stride_h == 2 && dw->kh == 3);
    expect_out(dw, 96, 56, 56);
    cr_expect_lt(nm_model_find(m, "features.2.add"), 0);
    const nm_layer *add = layer_named(m, "features.3.add");
    cr_expect_eq(add->inputs[1], nm_model_find(m, "features.2.conv.3"));
    cr_expect_lt(nm_model_find(m, "features.14.add"), 0, "first 160 block has stride 2");
    expect_out(layer_named(m, "features.17.conv.2"), 320, 7, 7);
    expect_out(layer_named(m, "features.18.0"), 1280, 7, 7);
    cr_expect_eq(layer_named(m, "classifier.1")->in_c, 1280);
    nm_model_free(m);
}

Test(zoo, vgg16_structure)
{
    nm_model *m = arch("vgg16");
    cr_expect_eq(count_kind(m, NM_LAYER_CONV), 13);
    cr_expect_eq(count_kind(m, NM_LAYER_BN), 0);
    cr_expect_eq(count_kind(m, NM_LAYER_MAXPOOL), 5);
    cr_expect_eq(count_kind(m, NM_LAYER_RELU), 15);
    cr_expect_eq(count_kind(m, NM_LAYER_LINEAR), 3);
    for (int i = 0; i < m->n_layers; i++)
        if (nm_layer_prunable(&m->layers[i]))
            cr_expect_not_null(m->layers[i].bias, "%s has a bias", m->layers[i].name);
    expect_out(layer_named(m, "features.0"), 64, 224, 224);
    expect_out(layer_named(m, "features.4"), 64, 112, 112);
    cr_expect_eq(layer_named(m, "features.4")->kind, NM_LAYER_MAXPOOL);
    expect_out(layer_named(m, "features.28"), 512, 14, 14);
    expect_out(layer_named(m, "features.30"), 512, 7, 7);
    const nm_layer *c0 = layer_named(m, "classifier.0");
    cr_expect_eq(c0->in_c, 25088);
    cr_expect_eq(c0->out_c, 4096);
    cr_expect_eq(layer_named(m, "classifier.3")->in_c, 4096);
    cr_expect_eq(layer_named(m, "classifier.6")->in_c, 4096);
    nm_model_free(m);
}

Test(zoo, vit_b16_structure_and_exact_macs)
{
    nm_model *m = arch("vit_b16");
    const int64_t T = 197, D = 768;
    const nm_layer *pe = layer_named(m, "conv_proj");
    cr_expect(pe->kh == 16 && pe->stride_h == 16 && pe->bias);
    expect_out(pe, 768, 14, 14);
    const nm_layer *em = layer_named(m, "encoder.embed");
    expect_out(em, 768, 197, 1);
    cr_expect(em->weight->shape[0] == 197 && em->weight->shape[1] == 768);
    cr_expect_eq(count_kind(m, NM_LAYER_LINEAR), 49);
    cr_expect_eq(count_kind(m, NM_LAYER_MATMUL), 24);
    cr_expect_eq(count_kind(m, NM_LAYER_LAYERNORM), 25);
    cr_expect_eq(count_kind(m, NM_LAYER_GELU), 12);
    cr_expect_eq(count_kind(m, NM_LAYER_ADD), 24);
    expect_out(layer_named(m, "encoder.layers.encoder_layer_0.self_attention.in_proj"), 2304, 197, 1);
    const nm_layer *k = layer_named(m, "encoder.layers.encoder_layer_5.self_attention.k");
    cr_expect(k->kind == NM_LAYER_SLICE && k->slice_start == 768);
    expect_out(k, 768, 197, 1);
    cr_expect_eq(layer_named(m, "encoder.layers.encoder_layer_5.self_attention.v")->slice_start, 1536);
    const nm_layer *s = layer_named(m, "encoder.layers.encoder_layer_11.self_attention.scores");
    expect_out(s, 12 * 197, 197, 1);
    cr_expect_eq(s->matmul_macs, T * T * D);
    expect_out(layer_named(m, "encoder.layers.encoder_layer_11.self_attention.context"), 768, 197, 1);
    expect_out(layer_named(m, "encoder.layers.encoder_layer_11.mlp.0"), 3072, 197, 1);
    expect_out(layer_named(m, "class_token"), 768, 1, 1);
    cr_expect_eq(layer_named(m, "heads.head")->in_c, 768);
    /* by hand: patch conv, 12 x (qkv, QK^T, AV, out_proj, fc1, fc2), head */
    int64_t block = T * D * 3 * D + 2 * T * T * D + T * D * D + 2 * T * D * 3072;
    int64_t macs = 196 * D * (3 * 16 * 16) + 12 * block + D * 1000;
    cr_expect_eq(nm_model_dense_macs(m), macs);
    nm_model_free(m);
}

/* ViT-B/32: the B/16 graph with a 32x32 patch conv, 7x7 = 49 patches plus
 * the class token. By hand: patch conv 49 x 768 x (3*32*32) = 115,605,504;
 * a block at T = 50 tokens, D = 768: qkv T*D*3D = 88,473,600, QK^T and AV
 * 2*T*T*D = 3,840,000, out_proj T*D*D = 29,491,200, MLP 2*T*D*3072 =
 * 235,929,600, 357,734,400 per block, x 12 = 4,292,812,800; head 768,000.
 * Total 4,409,186,304 (torchvision's card: 4.41 GFLOPs, 88,224,232 params). */
Test(zoo, vit_b32_structure_and_exact_macs)
{
    nm_model *m = arch("vit_b32");
    const nm_layer *pe = layer_named(m, "conv_proj");
    cr_expect(pe->kh == 32 && pe->kw == 32 && pe->stride_h == 32 && pe->bias);
    expect_out(pe, 768, 7, 7);
    const nm_layer *em = layer_named(m, "encoder.embed");
    expect_out(em, 768, 50, 1);
    cr_expect(em->weight->shape[0] == 50 && em->weight->shape[1] == 768);
    cr_expect_eq(count_kind(m, NM_LAYER_LINEAR), 49);
    cr_expect_eq(count_kind(m, NM_LAYER_MATMUL), 24);
    expect_out(layer_named(m, "encoder.layers.encoder_layer_11.mlp.0"), 3072, 50, 1);
    cr_expect_eq(layer_named(m, "encoder.layers.encoder_layer_0.self_attention.scores")->matmul_macs,
                 (int64_t)50 * 50 * 768);
    cr_expect_eq(nm_model_dense_macs(m), INT64_C(4409186304));
    /* params: B/16's 86,567,656 + the bigger patch conv (768*3*(32*32 - 16*16))
     * - the shorter position table (768*(197 - 50)) */
    cr_expect_eq(nm_model_params(m), INT64_C(86567656) + 768 * 3 * (1024 - 256) - 768 * 147);
    nm_model_free(m);
}

/* conv3x3 MACs and parameters at an HxW output. */
static int64_t conv_macs(int64_t hw, int64_t cin, int64_t cout, int64_t k)
{
    return hw * hw * cin * cout * k * k;
}

Test(zoo, fmnist_cnn_by_hand)
{
    nm_model *m = zoo_ok("fmnist_cnn", 5);
    cr_expect(m->in_c == 1 && m->in_h == 28 && m->in_w == 28);
    int64_t macs = conv_macs(28, 1, 32, 3) + conv_macs(28, 32, 32, 3) + conv_macs(14, 32, 64, 3) +
                   conv_macs(14, 64, 64, 3) + 64 * 7 * 7 * 256 + 256 * 10;
    int64_t params = (9 * 32 + 2 * 32) + (9 * 32 * 32 + 2 * 32) + (9 * 32 * 64 + 2 * 64) +
                     (9 * 64 * 64 + 2 * 64) + (3136 * 256 + 256) + (256 * 10 + 10);
    cr_expect_eq(nm_model_dense_macs(m), macs);
    cr_expect_eq(nm_model_params(m), params);
    cr_expect_eq(count_kind(m, NM_LAYER_BN), 4);
    cr_expect_eq(count_kind(m, NM_LAYER_MAXPOOL), 2);
    expect_out(layer_named(m, "pool2"), 64, 7, 7);
    expect_out(&m->layers[m->n_layers - 1], 10, 1, 1);
    nm_model_free(m);
}

Test(zoo, fmnist_resnet_by_hand)
{
    nm_model *m = zoo_ok("fmnist_resnet", 5);
    int64_t macs = conv_macs(28, 1, 16, 3) + 2 * conv_macs(28, 16, 16, 3) +
                   conv_macs(14, 16, 32, 3) + conv_macs(14, 32, 32, 3) + conv_macs(14, 16, 32, 1) +
                   conv_macs(7, 32, 64, 3) + conv_macs(7, 64, 64, 3) + conv_macs(7, 32, 64, 1) +
                   64 * 10;
    int64_t params = (9 * 16 + 32) + 2 * (9 * 16 * 16 + 32) +
                     (9 * 16 * 32 + 64) + (9 * 32 * 32 + 64) + (16 * 32 + 64) +
                     (9 * 32 * 64 + 128) + (9 * 64 * 64 + 128) + (32 * 64 + 128) + (64 * 10 + 10);
    cr_expect_eq(nm_model_dense_macs(m), macs);
    cr_expect_eq(nm_model_params(m), params);
    cr_expect_eq(count_kind(m, NM_LAYER_ADD), 3);
    cr_expect_lt(nm_model_find(m, "layer1.0.downsample.0"), 0);
    expect_out(layer_named(m, "layer3.0.downsample.0"), 64, 7, 7);
    expect_out(layer_named(m, "avgpool"), 64, 1, 1);
    nm_model_free(m);
}

/* Every parameter tensor of a and b holds the same bytes. */
static int same_bytes(const nm_model *a, const nm_model *b)
{
    if (a->n_layers != b->n_layers)
        return 0;
    for (int i = 0; i < a->n_layers; i++) {
        const nm_layer *x = &a->layers[i], *y = &b->layers[i];
        const nm_tensor *tx[] = {x->weight, x->bias, x->gamma, x->beta, x->mean, x->var};
        const nm_tensor *ty[] = {y->weight, y->bias, y->gamma, y->beta, y->mean, y->var};
        for (int k = 0; k < 6; k++) {
            if (!tx[k] != !ty[k])
                return 0;
            if (tx[k] && (tx[k]->numel != ty[k]->numel ||
                          memcmp(tx[k]->data, ty[k]->data, (size_t)tx[k]->numel * 4)))
                return 0;
        }
    }
    return 1;
}

Test(zoo, deterministic_weights)
{
    const char *names[] = {"mobilenet_v2", "fmnist_cnn", "fmnist_resnet"};
    for (int k = 0; k < 3; k++) {
        nm_model *a = zoo_ok(names[k], 42), *b = zoo_ok(names[k], 42), *c = zoo_ok(names[k], 43);
        cr_expect(same_bytes(a, b), "%s: same seed, different weights", names[k]);
        cr_expect_eq(a->seed, 42);
        /* a different seed changes every weight tensor */
        for (int i = 0; i < a->n_layers; i++)
            if (nm_layer_prunable(&a->layers[i]))
                cr_expect_neq(memcmp(a->layers[i].weight->data, c->layers[i].weight->data,
                                     (size_t)a->layers[i].weight->numel * 4),
                              0, "%s: %s did not change with the seed", names[k],
                              a->layers[i].name);
        nm_model_free(a);
        nm_model_free(b);
        nm_model_free(c);
    }
}

typedef struct {
    int calls, stop_at;
    double last;
    int monotone;
} progress_log;

static int log_progress(void *ud, double fraction, const char *what)
{
    progress_log *p = ud;
    cr_expect_str_eq(what, "weights");
    if (fraction < p->last || fraction > 1.0)
        p->monotone = 0;
    p->last = fraction;
    return ++p->calls == p->stop_at;
}

/* Progress reports do not change the weights; they rise to 1; asking to
 * stop cancels the build with "cancelled". resnet18's 11.7 M weights are
 * drawn in batches of 4 M at most, so several reports must come. */
Test(zoo, progress_and_cancel)
{
    progress_log p = {0, -1, 0, 1};
    nm_model *a = nm_zoo_progress("resnet18", 5, log_progress, &p), *b = zoo_ok("resnet18", 5);
    cr_assert_not_null(a, "%s", nm_errmsg());
    cr_expect(same_bytes(a, b), "progress changed the weights");
    cr_expect_geq(p.calls, 4, "only %d progress reports", p.calls);
    cr_expect(p.monotone);
    cr_expect_float_eq(p.last, 1.0, 1e-12);
    int calls = p.calls;
    nm_model_free(a);
    nm_model_free(b);

    progress_log q = {0, 2, 0, 1};
    cr_expect_null(nm_zoo_progress("resnet18", 5, log_progress, &q));
    cr_expect_str_eq(nm_errmsg(), "cancelled");
    cr_expect_eq(q.calls, 2, "went on after the stop: %d of %d reports", q.calls, calls);
}

/* nm_zoo itself: reasonable time, the builder's graph, real weights. */
Test(zoo, resnet50_builds_quickly)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    nm_model *m = zoo_ok("resnet50", 1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    /* about 0.5 s optimised, 3 s under sanitizers on a shared 2-core box */
    cr_expect_lt(s, 30.0, "nm_zoo(resnet50) took %.1f s", s);
    nm_model *a = arch("resnet50");
    expect_same_graph(m, a);
    nm_model_free(a);

    /* the weights are really synthesised: Kaiming-normal spread, BN identity */
    const nm_layer *l = layer_named(m, "layer3.1.conv2");
    const float *w = nm_f32(l->weight);
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < l->weight->numel; i++)
        sum += w[i], sq += (double)w[i] * w[i];
    double n = (double)l->weight->numel, mean = sum / n;
    double sd = sqrt(sq / n - mean * mean), want = sqrt(2.0 / (256 * 9));
    cr_expect(fabs(sd - want) < 0.02 * want, "sd %g, Kaiming %g", sd, want);
    cr_expect(fabs(mean) < 0.02 * want);
    const nm_layer *bn = layer_named(m, "layer3.1.bn2");
    cr_expect_float_eq(nm_f32(bn->gamma)[17], 1.0f, 0);
    cr_expect_float_eq(nm_f32(bn->var)[17], 1.0f, 0);
    nm_model_free(m);
}

/* The SLICE kind the ViT needs (core addition): shapes and bounds. */
Test(zoo, slice_layer)
{
    cr_expect_str_eq(nm_layer_kind_name(NM_LAYER_SLICE), "slice");
    cr_expect_eq(nm_layer_kind_from_name("slice"), NM_LAYER_SLICE);
    nm_model *m = nm_model_new("s", 12, 4, 5);
    int c = nm_add_slice(m, "c", NM_INPUT, NM_AXIS_CHANNEL, 4, 8);
    cr_assert(c >= 0, "%s", nm_errmsg());
    expect_out(&m->layers[c], 8, 4, 5);
    int p = nm_add_slice(m, "p", c, NM_AXIS_POSITION, 19, 1);
    cr_assert(p >= 0, "%s", nm_errmsg());
    expect_out(&m->layers[p], 8, 1, 1);
    cr_expect_eq(nm_add_slice(m, "bad1", NM_INPUT, NM_AXIS_CHANNEL, 5, 8), -1);
    cr_expect(strstr(nm_errmsg(), "outside the 12 channels"), "%s", nm_errmsg());
    cr_expect_eq(nm_add_slice(m, "bad2", NM_INPUT, NM_AXIS_POSITION, 0, 21), -1);
    cr_expect_eq(nm_add_slice(m, "bad3", NM_INPUT, NM_AXIS_CHANNEL, -1, 2), -1);
    cr_expect_eq(nm_add_slice(m, "bad4", NM_INPUT, NM_AXIS_CHANNEL, 0, 0), -1);
    cr_expect_eq(m->n_layers, 2);
    nm_layer_stats st;
    nm_layer_stats_get(m, c, &st);
    cr_expect_eq(st.dense_macs, 0);
    cr_expect_eq(nm_model_params(m), 0);
    nm_model_free(m);
}

/* The family builders' error path: the first failure sticks, later calls do
 * nothing, and zb_end frees the model and names it in the message. */
Test(zoo, builder_errors_stick)
{
    zb b;
    zb_begin(&b, "broken", 3, 8, 8);
    int x = zb_conv(&b, NM_INPUT, 4, 3, 1, 1, 0, "ok");
    cr_assert_eq(x, 0);
    x = zb_conv(&b, x, 4, 11, 1, 0, 0, "too_big");
    cr_expect_eq(x, ZB_FAIL);
    cr_expect_eq(zb_relu(&b, x, 0, "after"), ZB_FAIL);
    cr_expect_eq(b.m->n_layers, 1, "nothing appended after the failure");
    cr_expect_null(zb_end(&b));
    cr_expect(strstr(nm_errmsg(), "broken") && strstr(nm_errmsg(), "too_big"), "%s", nm_errmsg());

    zb_begin(&b, "long", 3, 8, 8);
    char name[100];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    cr_expect_eq(zb_relu(&b, NM_INPUT, 0, "%s", name), ZB_FAIL);
    cr_expect_null(zb_end(&b));
    cr_expect(strstr(nm_errmsg(), "longer than 63"), "%s", nm_errmsg());
}
