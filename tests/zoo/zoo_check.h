/* zoo_check.h - helpers shared by the zoo tests: counting layers by kind and
 * looking layers up with an assertion. */
#ifndef NM_TEST_ZOO_CHECK_H
#define NM_TEST_ZOO_CHECK_H

#include <criterion/criterion.h>
#include <math.h>

#include "model.h"

/* The published figures the zoo must reproduce (torchvision's model cards;
 * MACs are multiply-accumulates per 224x224 image). Parameters count
 * weights, biases and BN/LayerNorm affine terms, not BN running stats. */
typedef struct {
    const char *name;
    double gmacs;    /* within 2% */
    double mparams;  /* within 1% */
    int64_t params;  /* torchvision's exact num_params */
} published_figures;

static const published_figures published[] = {
    {"resnet18", 1.82, 11.69, 11689512},
    {"resnet50", 4.1, 25.56, 25557032},
    {"vgg16", 15.5, 138.4, 138357544},
    {"mobilenet_v2", 0.30, 3.50, 3504872},
    {"vit_b16", 17.6, 86.6, 86567656},
    {"vit_b32", 4.41, 88.2, 88224232},
};

static inline void check_published(const nm_model *m, const published_figures *p)
{
    double gmacs = (double)nm_model_dense_macs(m) / 1e9;
    double mparams = (double)nm_model_params(m) / 1e6;
    cr_expect(fabs(gmacs - p->gmacs) <= 0.02 * p->gmacs, "%s: %.4f GMACs, published %.2f",
              p->name, gmacs, p->gmacs);
    cr_expect(fabs(mparams - p->mparams) <= 0.01 * p->mparams, "%s: %.4f M params, published %.2f",
              p->name, mparams, p->mparams);
    cr_expect_eq(nm_model_params(m), p->params, "%s: %lld params, torchvision has %lld", p->name,
                 (long long)nm_model_params(m), (long long)p->params);
}

static inline int count_kind(const nm_model *m, nm_layer_kind k)
{
    int n = 0;
    for (int i = 0; i < m->n_layers; i++)
        n += m->layers[i].kind == k;
    return n;
}

/* The layer called `name`, failing the test if there is none. */
static inline const nm_layer *layer_named(const nm_model *m, const char *name)
{
    int i = nm_model_find(m, name);
    cr_assert(i >= 0, "%s has no layer '%s'", m->name, name);
    return &m->layers[i];
}

static inline void expect_out(const nm_layer *l, int c, int h, int w)
{
    cr_expect(l->out_c == c && l->out_h == h && l->out_w == w,
              "%s: output (%d,%d,%d), expected (%d,%d,%d)", l->name, l->out_c, l->out_h,
              l->out_w, c, h, w);
}

#endif
