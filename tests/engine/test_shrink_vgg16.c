/* nm_model_shrink on the zoo's VGG-16 (suite 'slow': building its 138 M
 * weights takes seconds): at 3x32x32 (the classifier's first layer keeps
 * the first 512 of its columns), filters removed per layer and 2:4 on top.
 * A chain without BN: a removed filter is 0 because its bias counts as 0.
 * The shrunk model's parameters are counted from the filter vectors, and
 * its outputs equal the masked model's. */
#include "../io/export_util.h"
#include "prune.h"
#include "shrink.h"

Test(shrink_slow, vgg16_filters)
{
    nm_model *m = ex_zoo("vgg16", 32, 32);
    nm_rng r;
    nm_rng_seed(&r, 21);
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].bias)
            for (int o = 0; o < m->layers[i].out_c; o++)
                nm_f32(m->layers[i].bias)[o] = (float)(0.1 * nm_rng_normal(&r));
    nm_filter_opts fo;
    nm_filter_opts_init(&fo, 0.3);
    fo.global = 0;
    cr_assert_eq(nm_prune_filters(m, &fo), NM_OK, "%s", nm_errmsg());
    nm_nm_opts no;
    nm_nm_opts_init(&no, 2, 4);
    cr_assert_eq(nm_prune_nm_model(m, &no, NULL), NM_OK, "%s", nm_errmsg());
    nm_model *s = nm_model_shrink(m);
    cr_assert_not_null(s, "%s", nm_errmsg());
    /* each conv/linear keeps its kept filters and its producer's */
    int64_t want = 0;
    int prev = m->in_c, layers = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        if (!nm_layer_prunable(l))
            continue;
        int k = l->kind == NM_LAYER_LINEAR ? 1 : l->kh * l->kw;
        int rows = nm_keep_count(l->filters, l->out_c);
        layers += rows < l->out_c;
        want += (int64_t)rows * prev * k + rows;
        cr_assert_eq(s->layers[i].out_c, rows, "%s", l->name);
        cr_assert_eq(s->layers[i].in_c, prev, "%s", l->name);
        prev = rows;
    }
    cr_assert_geq(layers, 12, "only %d layers lost filters", layers);
    cr_assert_eq(nm_model_params(s), want, "%lld params, expected %lld",
                 (long long)nm_model_params(s), (long long)want);
    nm_tensor *x = ex_input(m, 2, 5);
    double d = ex_same_outputs(m, s, x, 1e-5);
    cr_log_info("vgg16: shrunk vs masked %g, params %lld -> %lld", d,
                (long long)nm_model_params(m), (long long)nm_model_params(s));
    nm_tensor_release(x);
    nm_model_free(s);
    nm_model_free(m);
}
