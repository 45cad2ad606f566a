/* gemm_map: sizes that do not fit int64 are refused with a message before
 * anything multiplies them (they used to overflow signed arithmetic first:
 * E * K in sim_gemm_set, H * W * batch in sim_gemm_from_layer, the fold
 * count in sim_units_get). Run under UBSan, an overflow fails the test. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "sim.h"

static void config(sim_config *cfg, int rows, int cols)
{
    sim_mac mac;
    cr_assert_eq(sim_mac_init(&mac, SIM_PMAC, 1, 1, 1, 1), NM_OK, "%s", nm_errmsg());
    sim_config_init(cfg, &mac, rows, cols);
}

/* The largest GEMM the Lua binding lets through (2^40 per side). */
Test(gemm_map, huge_bare_gemm_refused)
{
    sim_config cfg;
    config(&cfg, 1, 1);
    sim_gemm g;
    int64_t big = (int64_t)1 << 40;
    sim_gemm_set(&g, "huge", big, big, big);
    cr_expect_eq(g.E, big);
    cr_expect_eq(g.K, big);
    sim_units u;
    cr_expect_eq(sim_units_get(&g, &cfg, &u), NM_ERR);
    cr_expect(strstr(nm_errmsg(), "too large") != NULL, "%s", nm_errmsg());
    sim_layer_result r;
    cr_expect_eq(sim_gemm_analytic(&g, &cfg, NULL, &r), NM_ERR);
    cr_expect(strstr(nm_errmsg(), "too large") != NULL, "%s", nm_errmsg());
}

/* A GEMM whose products fit: worked by hand. E = 6, K = 4: in_bytes 24. */
Test(gemm_map, small_gemm_unchanged)
{
    sim_gemm g;
    sim_gemm_set(&g, "small", 6, 4, 3);
    cr_expect_eq(g.in_bytes, 24);
    sim_config cfg;
    config(&cfg, 2, 2);
    sim_units u;
    cr_assert_eq(sim_units_get(&g, &cfg, &u), NM_OK, "%s", nm_errmsg());
    /* WS, PMAC: Sr = K = 4, Sc = Nf = 3, T = E = 6; folds ceil(4/2) * ceil(3/2) = 4 */
    cr_expect_eq(u.Sr, 4);
    cr_expect_eq(u.Sc, 3);
    cr_expect_eq(u.T, 6);
    cr_expect_eq(u.folds, 4);
}

/* A layer with a 2^30 x 2^30 output and batch 2^20: E = 2^80. */
Test(gemm_map, huge_layer_refused)
{
    int side = 1 << 30;
    nm_model *m = nm_model_new("huge", 1, side, side);
    cr_assert_not_null(m, "%s", nm_errmsg());
    cr_assert_geq(nm_add_conv(m, "c", NM_INPUT, 1, 1, 1, 1, 0, 1, 0), 0, "%s", nm_errmsg());
    sim_config cfg;
    config(&cfg, 8, 8);
    cfg.batch = 1 << 20;
    sim_gemm g;
    cr_expect_eq(sim_gemm_from_layer(m, 0, &cfg, &g), NM_ERR);
    cr_expect(strstr(nm_errmsg(), "too large") != NULL, "%s", nm_errmsg());
    cfg.batch = 1;   /* 2^60 outputs: fits int64, the simulation refuses it */
    cr_expect_eq(sim_gemm_from_layer(m, 0, &cfg, &g), NM_OK, "%s", nm_errmsg());
    cr_expect_eq(g.E, (int64_t)1 << 60);
    nm_model_free(m);
}
