/* preset.c - the JointNF paper's settings per architecture (JOINTNF.md
 * sections 7 and 8), looked up by model name: N:M for the N:M-only
 * baselines and for JointNF, the filter share, the weight-group axis, which
 * layers take part (first conv and classifier included; MobileNet-v2 only
 * its pointwise layers), three rounds. */
#include "prune.h"

#include <ctype.h>
#include <string.h>

static const nm_paper_preset presets[] = {
    /* arch           nm_n nm_m  n  m  filters axis          pw  add rounds */
    {"resnet18",        3, 9,    4, 9, 0.2,  NM_GROUP_AUTO,  0,  0,  3},
    {"resnet50",        3, 9,    4, 9, 0.2,  NM_GROUP_AUTO,  0,  0,  3},
    {"vgg16",           3, 9,    4, 9, 0.2,  NM_GROUP_AUTO,  0,  0,  3},
    {"mobilenet_v2",    3, 9,    4, 9, 0.2,  NM_GROUP_IN,    1,  0,  3},
    {"vit_b32",         3, 8,    4, 8, 0.3,  NM_GROUP_IN,    0,  1,  3},
    {"vit_b16",         3, 8,    4, 8, 0.3,  NM_GROUP_IN,    0,  1,  3},
};

/* Lower case without '-' and '_' ("ResNet-18" -> "resnet18"). */
static void squash(const char *s, char *out, size_t cap)
{
    size_t k = 0;
    for (; *s && k + 1 < cap; s++)
        if (*s != '-' && *s != '_')
            out[k++] = (char)tolower((unsigned char)*s);
    out[k] = 0;
}

const nm_paper_preset *nm_paper_preset_for(const nm_model *m)
{
    char name[NM_NAME_MAX], want[NM_NAME_MAX];
    squash(m->name, name, sizeof name);
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
        squash(presets[i].arch, want, sizeof want);
        if (strcmp(name, want) == 0)
            return &presets[i];
    }
    nm_seterr("preset 'paper': no paper settings for architecture '%s' (known: resnet18, "
              "resnet50, vgg16, mobilenet_v2, vit_b32, vit_b16)", m->name);
    return NULL;
}

/* 1 for a 1x1 ungrouped conv or a linear layer. */
static int pointwise(const nm_layer *l)
{
    return l->kind == NM_LAYER_LINEAR ||
           (l->kind == NM_LAYER_CONV && l->kh == 1 && l->kw == 1 && l->groups <= 1);
}

int nm_paper_scope(const nm_model *m, const nm_paper_preset *p, nm_layer_override *ov,
                   nm_prune_scope *s)
{
    memset(s, 0, sizeof *s);
    s->include_first = s->include_last = 1;
    if (!p->pointwise_only)
        return NM_OK;
    int k = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        if (!nm_layer_prunable(l))
            continue;
        ov[k++] = (nm_layer_override){.layer = l->name, .skip = !pointwise(l),
                                      .force = pointwise(l), .axis = NM_GROUP_AUTO};
    }
    s->overrides = ov;
    s->n_overrides = k;
    return NM_OK;
}
