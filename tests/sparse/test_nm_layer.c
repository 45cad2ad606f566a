/* nm_nm_layer_time_run on model layers: a tiny ViT's attention matmul and
 * an unpruned linear are refused with their reasons, a 2:4 linear runs and
 * is exact within the bound, a memory budget that refuses is respected
 * (nothing left charged). */
#include "nm_gemm.h"
#include "zoo_builder.h"

#include <criterion/criterion.h>
#include <omp.h>
#include <string.h>

static const zoo_vit_cfg tiny = {"vit_tiny", 3, 16, 8, 16, 4, 32, 2, 5};

static int refuse(void *ud, size_t bytes)
{
    (void)ud;
    return nm_seterr("not enough memory: %zu more bytes would pass the memory limit", bytes);
}

Test(nm_layer, vit_attention_linear_and_budget)
{
    nm_model *m = zoo_vit(&tiny);
    cr_assert(m, "%s", nm_errmsg());
    nm_model_init_weights(m, 3);
    int mm = -1, lin = -1, lin2 = -1;
    for (int i = 0; i < m->n_layers; i++) {
        if (m->layers[i].kind == NM_LAYER_MATMUL && mm < 0)
            mm = i;
        if (m->layers[i].kind == NM_LAYER_LINEAR) {
            if (lin < 0)
                lin = i;
            else if (lin2 < 0)
                lin2 = i;
        }
    }
    cr_assert(mm >= 0 && lin >= 0 && lin2 >= 0);
    nm_nm_layer_time t;
    cr_assert_eq(nm_nm_layer_time_run(m, mm, 1, 1, NM_ISA_AUTO, NM_CLOCK_WALL, &t), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "attention matmul"), "%s", nm_errmsg());
    cr_assert_eq(nm_nm_layer_time_run(m, lin2, 1, 1, NM_ISA_AUTO, NM_CLOCK_WALL, &t), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "no N:M mask"), "%s", nm_errmsg());
    cr_assert_eq(nm_prune_nm_layer(&m->layers[lin], 2, 4, NM_GROUP_AUTO), NM_OK, "%s", nm_errmsg());
    cr_assert_eq(nm_nm_layer_time_run(m, lin, 2, 1, NM_ISA_AUTO, NM_CLOCK_WALL, &t), NM_OK, "%s", nm_errmsg());
    const nm_layer *l = &m->layers[lin];
    cr_assert_eq(t.rows, l->out_c);
    cr_assert_eq(t.D, l->in_c);
    cr_assert_eq(t.cols, 2 * l->out_h * l->out_w, "2 samples x tokens");
    cr_assert_eq(t.kpr, (l->in_c / 4) * 2 + (l->in_c % 4 < 2 ? l->in_c % 4 : 2));
    cr_assert_eq(t.axis, NM_GROUP_IN);
    cr_assert(t.dense_s > 0 && t.nm_s > 0);
    cr_assert(t.err_ratio <= 1.0, "err ratio %g", t.err_ratio);
    int threads = omp_get_max_threads();
    cr_assert_eq(nm_nm_layer_time_run(m, lin, 2, 1, NM_ISA_AUTO, NM_CLOCK_CPU, &t), NM_OK);
    cr_assert(t.dense_s > 0 && t.nm_s > 0 && t.err_ratio <= 1.0);
    cr_assert_eq(omp_get_max_threads(), threads, "the thread count is restored");
    /* a limit that refuses everything: the layer is refused, nothing held */
    int64_t live = nm_mem_live();
    nm_mem_budget b;
    nm_mem_budget_push(&b, refuse, NULL);
    int rc = nm_nm_layer_time_run(m, lin, 64, 1, NM_ISA_AUTO, NM_CLOCK_WALL, &t);
    nm_mem_budget_pop(&b);
    cr_assert_eq(rc, NM_ERR);
    cr_assert(strstr(nm_errmsg(), "not enough memory"), "%s", nm_errmsg());
    cr_assert_eq(nm_mem_live(), live);
    /* bad arguments */
    cr_assert_eq(nm_nm_layer_time_run(m, m->n_layers, 1, 1, NM_ISA_AUTO, NM_CLOCK_WALL, &t), NM_ERR);
    cr_assert_eq(nm_nm_layer_time_run(m, lin, 0, 1, NM_ISA_AUTO, NM_CLOCK_WALL, &t), NM_ERR);
    nm_model_free(m);
}
