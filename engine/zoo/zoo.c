/* zoo.c - the table of built-in networks: name, description, builder. */
#include "zoo.h"

#include "zoo_builder.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    const char *description;
    nm_model *(*build)(void);
    int64_t bytes;     /* tensor bytes of the built model (reserved before
                        * building; test_zoo checks it against the build) */
} zoo_entry;

/* The names again, as the NULL-terminated list nm_zoo_list hands out; the
 * assertion below and the tests keep it in step with the table. */
static const char *const names[] = {
    "resnet18", "resnet50", "mobilenet_v2", "vgg16", "vit_b16", "vit_b32", "fmnist_cnn",
    "fmnist_resnet", NULL,
};

static const zoo_entry entries[] = {
    {"resnet18", "ResNet-18 (torchvision), 3x224x224, 1000 classes: 1.82 GMACs, 11.7 M params",
     zoo_resnet18, 46796448},
    {"resnet50", "ResNet-50 v1.5 (torchvision), 3x224x224, 1000 classes: 4.1 GMACs, 25.6 M params",
     zoo_resnet50, 102440608},
    {"mobilenet_v2", "MobileNet-v2 (torchvision), 3x224x224, 1000 classes: 0.30 GMACs, 3.5 M params",
     zoo_mobilenet_v2, 14155936},
    {"vgg16", "VGG-16 without BN (torchvision), 3x224x224, 1000 classes: 15.5 GMACs, 138 M params",
     zoo_vgg16, 553430176},
    {"vit_b16", "ViT-B/16 (torchvision), 3x224x224, 1000 classes: 17.6 GMACs, 86.6 M params",
     zoo_vit_b16, 346270624},
    {"vit_b32", "ViT-B/32 (torchvision), 3x224x224, 1000 classes: 4.41 GMACs, 88.2 M params",
     zoo_vit_b32, 352896928},
    {"fmnist_cnn", "Fashion-MNIST CNN, 1x28x28, 10 classes: 4 conv-BN-ReLU, 2 max pools, 256-unit hidden layer",
     zoo_fmnist_cnn, 3484840},
    {"fmnist_resnet", "Fashion-MNIST ResNet, 1x28x28, 10 classes: stem and 3 basic blocks (16, 32, 64)",
     zoo_fmnist_resnet, 313704},
};

#define N_ENTRIES ((int)(sizeof entries / sizeof entries[0]))
_Static_assert(sizeof names / sizeof names[0] == N_ENTRIES + 1, "zoo names and table differ");

static const zoo_entry *zoo_find(const char *name)
{
    for (int i = 0; name && i < N_ENTRIES; i++)
        if (strcmp(entries[i].name, name) == 0)
            return &entries[i];
    return NULL;
}

const char *const *nm_zoo_list(void)
{
    return names;
}

int nm_zoo_has(const char *name)
{
    return zoo_find(name) != NULL;
}

int64_t nm_zoo_bytes(const char *name)
{
    const zoo_entry *e = zoo_find(name);
    return e ? e->bytes : -1;
}

const char *nm_zoo_describe(const char *name)
{
    const zoo_entry *e = zoo_find(name);
    return e ? e->description : "";
}

nm_model *nm_zoo(const char *name, uint64_t seed)
{
    return nm_zoo_progress(name, seed, NULL, NULL);
}

nm_model *nm_zoo_progress(const char *name, uint64_t seed, nm_progress_fn progress, void *ud)
{
    const zoo_entry *e = zoo_find(name);
    if (!e) {
        char valid[256] = "";
        size_t len = 0;
        for (int i = 0; i < N_ENTRIES && len < sizeof valid; i++)
            len += (size_t)snprintf(valid + len, sizeof valid - len, "%s%s", i ? ", " : "",
                                    entries[i].name);
        nm_seterr("unknown zoo model '%s' (valid names: %s)", name ? name : "(null)", valid);
        return NULL;
    }
    /* the whole model is reserved before its first layer is allocated */
    if (nm_mem_reserve(e->name, e->bytes) != NM_OK)
        return NULL;
    nm_model *m = e->build();
    if (m && nm_model_init_weights_progress(m, seed, progress, ud) != NM_OK) {
        nm_model_free(m);
        return NULL;
    }
    return m;
}
