/* The two big zoo entries through nm_zoo itself, weights included (suite
 * slow: synthesising 138 M + 87 M weights takes seconds). */
#include <criterion/criterion.h>
#include <string.h>

#include "zoo.h"
#include "zoo_check.h"

/* Published counts, and every prunable layer got nonzero weights. */
static void check_full(const char *name)
{
    nm_model *m = nm_zoo(name, 11);
    cr_assert_not_null(m, "%s: %s", name, nm_errmsg());
    for (size_t i = 0; i < sizeof published / sizeof published[0]; i++)
        if (strcmp(published[i].name, name) == 0)
            check_published(m, &published[i]);
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        if (!nm_layer_prunable(l))
            continue;
        /* a zero weight has probability 0 under a normal: sample a stride */
        int64_t step = l->weight->numel / 97 + 1, zeros = 0, seen = 0;
        for (int64_t k = 0; k < l->weight->numel; k += step, seen++)
            zeros += nm_f32(l->weight)[k] == 0.0f;
        cr_expect_eq(zeros, 0, "%s: %lld of %lld sampled weights are zero", l->name,
                     (long long)zeros, (long long)seen);
    }
    nm_model_free(m);
}

Test(zoo_full, vgg16, .timeout = 300) { check_full("vgg16"); }
Test(zoo_full, vit_b16, .timeout = 300) { check_full("vit_b16"); }
