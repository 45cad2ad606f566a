/* fuzz_safetensors_model.c - nm_safetensors_load_model on arbitrary bytes
 * (the "nmlab.model" metadata and the parameters it names). A model that
 * loads must save and reload with the same layers and parameter counts. */
#include "fuzz_util.h"
#include "nmio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(data, size);
    nm_model *m = nm_safetensors_load_model(path);
    if (m) {
        FUZZ_CHECK(nm_safetensors_save_model(m, path) == NM_OK);
        nm_model *back = nm_safetensors_load_model(path);
        FUZZ_CHECK(back != NULL);
        FUZZ_CHECK(back->n_layers == m->n_layers);
        for (int i = 0; i < m->n_layers; i++) {
            const nm_layer *a = &m->layers[i], *b = &back->layers[i];
            FUZZ_CHECK(strcmp(a->name, b->name) == 0 && a->kind == b->kind);
            FUZZ_CHECK(!a->weight == !b->weight);
            FUZZ_CHECK(!a->weight || a->weight->numel == b->weight->numel);
        }
        nm_model_free(back);
        nm_model_free(m);
    }
    return 0;
}
