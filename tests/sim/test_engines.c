/* The analytical and cycle-stepped engines agree on many small random
 * layers for every MAC kind and dataflow; small cases worked by hand;
 * measured rounds from real activations. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "sim.h"
#include "sim_case.h"

static int rnd(nm_rng *r, int lo, int hi) { return lo + (int)(nm_rng_next(r) % (uint64_t)(hi - lo + 1)); }

Test(engines, analytic_equals_stepped_random)
{
    nm_rng r;
    nm_rng_seed(&r, 42);
    for (int t = 0; t < 400; t++) {
        sim_mac mac;
        sim_mac_kind kind = (sim_mac_kind)(t % 3);
        int dm = rnd(&r, 1, 9), dn = rnd(&r, 1, dm), wm = rnd(&r, 1, 9), wn = rnd(&r, 1, wm);
        cr_assert_eq(sim_mac_init(&mac, kind, dn, dm, wn, wm), NM_OK);
        sim_config cfg;
        sim_config_init(&cfg, &mac, rnd(&r, 1, 7), rnd(&r, 1, 7));
        cfg.dataflow = (sim_dataflow)rnd(&r, 0, 2);
        cfg.compat_scalesim = kind == SIM_PMAC && rnd(&r, 0, 1);
        sim_gemm g;
        sim_gemm_set(&g, "rand", rnd(&r, 1, 30), rnd(&r, 1, 40), rnd(&r, 1, 12));
        g.groups = rnd(&r, 1, 2);
        if (rnd(&r, 0, 1))   /* a declared weight N:M, sometimes denser than the MAC */
            g.wm = wm, g.wn = rnd(&r, 1, wm);
        sim_layer_result a, s;
        cr_assert_eq(sim_gemm_analytic(&g, &cfg, NULL, &a), NM_OK, "%s", nm_errmsg());
        cr_assert_eq(sim_gemm_stepped(&g, &cfg, 0, &s), NM_OK, "%s", nm_errmsg());
        cr_assert_eq(a.cycles, s.cycles, "trial %d: analytic %lld stepped %lld", t,
                     (long long)a.cycles, (long long)s.cycles);
        cr_assert_eq(a.pe_busy, s.pe_busy, "trial %d", t);
        cr_assert_float_eq(a.util, s.util, 1e-12);
        cr_assert_float_eq(a.mapping_eff, s.mapping_eff, 1e-12);
        cr_assert_float_eq(a.fold_util_min, s.fold_util_min, 1e-12);
        cr_assert_float_eq(a.fold_util_max, s.fold_util_max, 1e-12);
        cr_assert(a.util > 0 && a.util <= 1);
        cr_assert(a.mult_util > 0 && a.mult_util <= 1 + 1e-12, "trial %d mult util %g", t,
                  a.mult_util);
    }
}

/* 2x2 pMAC array, WS, E=3 K=2 Nf=2, cycle by cycle:
 *   cycles 0-1 load the two weight rows;
 *   then data item t reaches PE(i,j) at stream cycle i+j+t, t = 0..2:
 *   the last one, PE(1,1) with t=2, at stream cycle 4: 5 stream cycles.
 *   Total 2 + 5 = 7 = 2R + C + T - 2. Busy PE-cycles 2*2*3 = 12. */
Test(engines, tiny_ws_by_hand)
{
    sim_config cfg;
    array_init(&cfg, "pmac", 2, 2);
    sim_gemm g;
    sim_gemm_set(&g, "tiny", 3, 2, 2);
    sim_stepper *s = sim_stepper_new(&g, &cfg);
    cr_assert_not_null(s);
    int rows, cols;
    /* After 2 load cycles and 3 stream cycles (stream cycle 2), PE(0,0)
     * holds item 2, PE(0,1) and PE(1,0) item 1, PE(1,1) item 0. */
    for (int i = 0; i < 5; i++)
        cr_assert_eq(sim_stepper_step(s), 1);
    const int32_t *grid = sim_stepper_grid(s, &rows, &cols);
    cr_assert_eq(grid[0], 2);
    cr_assert_eq(grid[1], 1);
    cr_assert_eq(grid[2], 1);
    cr_assert_eq(grid[3], 0);
    while (sim_stepper_step(s))
        ;
    cr_assert_eq(sim_stepper_cycle(s), 7);
    cr_assert_eq(sim_stepper_errors(s), 0);
    sim_stepper_free(s);
    sim_layer_result res;
    cr_assert_eq(sim_gemm_analytic(&g, &cfg, NULL, &res), NM_OK);
    cr_assert_eq(res.cycles, 7);
    cr_assert_eq(res.pe_busy, 12);
    cr_assert_float_eq(res.util, 12.0 / 28.0, 1e-12);
}

/* nm-4-4 (4:9 x 4:9) on a 2x3 array, WS: K'=30 -> 4 slices of 9 (ceil(30/9))
 * -> 2 row folds; Nf=4 -> 2 column folds; E=20 -> ceil(20/9)=3 blocks x 4
 * rounds = T 12. Fold length 2*2+3+12-2 = 17; 4 folds -> 68 cycles.
 * PE-busy: slices x filters x T = 4*4*12 = 192. */
Test(engines, nm_ws_by_hand)
{
    sim_config cfg;
    array_init(&cfg, "nm-4-4", 2, 3);
    sim_gemm g;
    sim_gemm_set(&g, "nm", 20, 30, 4);
    g.wn = 4, g.wm = 9;     /* weights pruned 4:9: one PE per slice */
    sim_layer_result a, s;
    cr_assert_eq(sim_gemm_analytic(&g, &cfg, NULL, &a), NM_OK);
    cr_assert_eq(a.u.row_folds, 2);
    cr_assert_eq(a.u.col_folds, 2);
    cr_assert_eq(a.u.T, 12);
    cr_assert_eq(a.cycles, 68);
    cr_assert_eq(a.pe_busy, 192);
    cr_assert_eq(sim_gemm_stepped(&g, &cfg, 0, &s), NM_OK);
    cr_assert_eq(s.cycles, 68);
    /* multiplier occupancy: products = E*K'*Nf*(4/9)*(4/9) over 6 PEs * 4
     * multipliers * 68 cycles. */
    cr_assert_float_eq(a.mult_util, 20.0 * 30 * 4 * 16 / 81 / (6 * 4 * 68), 1e-12);
}

/* Weights denser than the MAC: 6:9 weights on a 3:9 bMAC need 2 PEs per
 * slice, doubling the PE rows. */
Test(engines, dense_weights_split_over_pes)
{
    sim_config cfg;
    array_init(&cfg, "bmac", 4, 4);
    sim_gemm g;
    sim_gemm_set(&g, "b", 5, 18, 4);
    g.wn = 6, g.wm = 9;
    sim_units u;
    cr_assert_eq(sim_units_get(&g, &cfg, &u), NM_OK);
    cr_assert_eq(u.split, 2);
    cr_assert_eq(u.Sr, 4);
}

/* Measured rounds: nm 2:4 data on a 1x1 array, WS, K'=4 (one slice), E=8
 * (two blocks). Block 0 has at most 1 nonzero per column, block 1 has a
 * column with 3 nonzeros (a violation). Gated: rounds max(2,1)+max(2,3) = 5;
 * skipped: 1 + 3 = 4. Fold length = 2*1 + 1 + T - 2. */
Test(engines, measured_rounds_from_activations)
{
    sim_config cfg;
    array_init(&cfg, "nm:2:4:2:4", 1, 1);
    sim_gemm g;
    sim_gemm_set(&g, "acts", 8, 4, 1);
    g.wn = 2, g.wm = 4;
    nm_tensor *X = nm_tensor_new4(NM_F32, 2, 8, 4, 0, 0);
    float *x = nm_f32(X);
    x[0 * 4 + 0] = 1, x[1 * 4 + 1] = 2;                     /* block 0 */
    x[4 * 4 + 2] = 1, x[5 * 4 + 2] = -1, x[7 * 4 + 2] = 3;  /* block 1, column 2 */
    sim_layer_result res;
    cr_assert_eq(sim_gemm_analytic(&g, &cfg, X, &res), NM_OK, "%s", nm_errmsg());
    cr_assert_eq(res.blocks, 2);
    cr_assert_eq(res.violations, 1);
    cr_assert_eq(res.max_need, 3);
    cr_assert_eq(res.cycles, 2 + 1 + 5 - 2);
    cfg.idle = SIM_IDLE_SKIPPED;
    cr_assert_eq(sim_gemm_analytic(&g, &cfg, X, &res), NM_OK);
    cr_assert_eq(res.cycles, 2 + 1 + 4 - 2);
    nm_tensor *bad = nm_tensor_new4(NM_F32, 2, 7, 4, 0, 0);
    cr_assert_eq(sim_gemm_analytic(&g, &cfg, bad, &res), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "activations"), "%s", nm_errmsg());
    nm_tensor_release(X);
    nm_tensor_release(bad);
}

Test(engines, stepped_refuses_huge_work)
{
    sim_config cfg;
    array_init(&cfg, "pmac", 32, 32);
    sim_gemm g;
    sim_gemm_set(&g, "big", 100000, 4096, 4096);
    sim_layer_result res;
    cr_assert_eq(sim_gemm_stepped(&g, &cfg, 1000000, &res), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "limit"), "%s", nm_errmsg());
}
