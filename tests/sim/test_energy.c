/* Energy and area: a tiny layer's energy by hand from the table, index
 * bits by hand, equal-area sizing, the JSON table, node scaling. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim.h"
#include "sim_case.h"

/* The default table and the four PEs of the paper: pMAC, bMAC, nm-4-4 and
 * nm-6-4. */
static void four_pes(sim_energy_table *et, sim_mac *p, sim_mac *b, sim_mac *n44, sim_mac *n64)
{
    sim_energy_defaults(et);
    cr_assert_eq(sim_mac_parse("pmac", p), NM_OK);
    cr_assert_eq(sim_mac_parse("bmac", b), NM_OK);
    cr_assert_eq(sim_mac_parse("nm-4-4", n44), NM_OK);
    cr_assert_eq(sim_mac_parse("nm-6-4", n64), NM_OK);
}

Test(energy, equal_area_sizes)
{
    sim_energy_table et;
    sim_mac p, b, n44, n64;
    four_pes(&et, &p, &b, &n44, &n64);
    /* Budget: a 32x32 pMAC array = 1024 cells of 625 um^2. */
    double budget = 32 * 32 * 625.0;
    cr_assert_float_eq(sim_pe_area(&p, SIM_AREA_CALIBRATED, &et), 625.0, 1e-9);
    cr_assert_eq(sim_equal_area_side(&p, SIM_AREA_CALIBRATED, &et, budget), 32);
    /* 20*20*2.56 = 1024 cells fits, 21*21*2.56 = 1128.96 does not. */
    cr_assert_eq(sim_equal_area_side(&b, SIM_AREA_CALIBRATED, &et, budget), 20);
    /* 16*16*4.00 = 1024 fits, 17*17*4 = 1156 does not. */
    cr_assert_eq(sim_equal_area_side(&n44, SIM_AREA_CALIBRATED, &et, budget), 16);
    /* 15*15*4.55 = 1023.75 fits, 16*16*4.55 = 1164.8 does not. */
    cr_assert_eq(sim_equal_area_side(&n64, SIM_AREA_CALIBRATED, &et, budget), 15);
}

Test(energy, bottom_up_areas)
{
    sim_energy_table et;
    sim_mac p, b, n44, n64;
    four_pes(&et, &p, &b, &n44, &n64);
    /* pMAC: 8-bit multiplier 282 + 24-bit adder 137*24/32 = 102.75 + 40
     * register bits * 5.98 = 239.2 -> 623.95 um^2. */
    cr_assert_float_eq(sim_pe_area(&p, SIM_AREA_BOTTOM_UP, &et), 623.95, 1e-9);
    /* ENERGY.md: naive sparse PEs come out 1.4-2.3x larger than the paper's. */
    const sim_mac *sp[3] = {&b, &n44, &n64};
    for (int i = 0; i < 3; i++) {
        double ratio = sim_pe_area(sp[i], SIM_AREA_BOTTOM_UP, &et) /
                       sim_pe_area(sp[i], SIM_AREA_CALIBRATED, &et);
        cr_assert(ratio > 1.4 && ratio < 2.3, "PE %d: ratio %g", i, ratio);
    }
}

/* A 2x2 pMAC array, WS, GEMM E=3 K=2 Nf=2 (dense), all by hand:
 *   cycles = 2*2 + 2 + 3 - 2 = 7; products = 3*2*2 = 12;
 *   multiplier slots 4*7 = 28, idle 16.
 *   mult   = 12*0.2 + 16*0.018           = 2.688
 *   add    = 12*0.1                      = 1.2
 *   reg    = 0.009*(12 busy*32 bits + 4 PEs*8 weight bits) = 3.744
 *   SRAM   : weights 4 B, data 6 B (1 column fold), outputs 6 B, 2.5 pJ/B
 *            = 10 + 15 + 15
 *   acc    = 6 RMW * 10.1                = 60.6
 *   sfu    = 6 * 2                       = 12
 *   total  = 120.232 pJ */
Test(energy, tiny_layer_by_hand)
{
    sim_config cfg;
    array_init(&cfg, "pmac", 2, 2);
    sim_gemm g;
    sim_gemm_set(&g, "tiny", 3, 2, 2);
    sim_layer_result r;
    cr_assert_eq(sim_gemm_analytic(&g, &cfg, NULL, &r), NM_OK);
    cr_assert_eq(r.cycles, 7);
    cr_assert_float_eq(r.e.mult, 2.688, 1e-9);
    cr_assert_float_eq(r.e.add, 1.2, 1e-9);
    cr_assert_float_eq(r.e.select, 0, 1e-12);
    cr_assert_float_eq(r.e.reg, 3.744, 1e-9);
    cr_assert_float_eq(r.e.sram_w, 10, 1e-9);
    cr_assert_float_eq(r.e.sram_d, 15, 1e-9);
    cr_assert_float_eq(r.e.sram_o, 15, 1e-9);
    cr_assert_float_eq(r.e.acc, 60.6, 1e-9);
    cr_assert_float_eq(r.e.sfu, 12, 1e-9);
    cr_assert_float_eq(r.e.dram, 0, 1e-12);
    cr_assert_float_eq(r.e.leak, 0, 1e-12);
    cr_assert_float_eq(r.e.total, 120.232, 1e-9);
    /* Skipped idle slots cost nothing: 16*0.018 less. */
    cfg.idle = SIM_IDLE_SKIPPED;
    sim_gemm_analytic(&g, &cfg, NULL, &r);
    cr_assert_float_eq(r.e.total, 120.232 - 0.288, 1e-9);
    /* DRAM on: every tensor once, (4+6+6) B * 8 bits * 8 pJ = 1024 pJ. */
    cfg.dram = 1;
    sim_gemm_analytic(&g, &cfg, NULL, &r);
    cr_assert_float_eq(r.e.dram, 1024, 1e-9);
}

/* nm 2:4 data x 2:4 weights, E=8 K=8 Nf=2, weights declared 2:4:
 *   weight slices = 2 filters * 2 = 4, 2 values each -> 64 bits
 *   indices: simple 8 nonzeros * 2 bits = 16; bitmask 4 * 4 = 16;
 *            combinatorial 4 * ceil(log2 C(4,2)=6) = 12
 *   data groups = ceil(8/4) * 8 columns = 16, 2 values each -> 256 bits
 *   indices: simple 32 * 2 = 64; bitmask 16*4 = 64; comb 16*3 = 48
 *   outputs: ceil(8/4) * 2 = 4 groups, 2 values -> 64 bits; simple idx 16 */
Test(energy, index_bits_by_hand)
{
    sim_config cfg;
    array_init(&cfg, "nm:2:4:2:4", 4, 4);
    sim_gemm g;
    sim_gemm_set(&g, "nm", 8, 8, 2);
    g.wn = 2, g.wm = 4;
    sim_layer_result r;
    sim_index_scheme sch[3] = {SIM_IDX_SIMPLE, SIM_IDX_BITMASK, SIM_IDX_COMB};
    double widx[3] = {16, 16, 12}, didx[3] = {64, 64, 48};
    for (int i = 0; i < 3; i++) {
        cfg.windex = cfg.dindex = sch[i];
        cr_assert_eq(sim_gemm_analytic(&g, &cfg, NULL, &r), NM_OK);
        cr_assert_float_eq(r.w_val_bits, 64, 1e-9);
        cr_assert_float_eq(r.w_idx_bits, widx[i], 1e-9, "scheme %d", i);
        cr_assert_float_eq(r.d_val_bits, 256, 1e-9);
        cr_assert_float_eq(r.d_idx_bits, didx[i], 1e-9, "scheme %d", i);
        cr_assert_float_eq(r.o_val_bits, 64, 1e-9);
    }
    cfg.dindex = SIM_IDX_SIMPLE;
    sim_gemm_analytic(&g, &cfg, NULL, &r);
    cr_assert_float_eq(r.o_idx_bits, 16, 1e-9);
}

static char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/nmlab_et_XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

Test(energy, json_table_and_scaling)
{
    sim_energy_table et;
    sim_energy_defaults(&et);
    char *p = write_tmp("{\"node_nm\": 65, \"mul8_pj\": 0.5, \"comment\": \"test\"}");
    cr_assert_eq(sim_energy_load_json(p, &et), NM_OK, "%s", nm_errmsg());
    unlink(p);
    cr_assert_eq(et.node_nm, 65);
    cr_assert_float_eq(et.mul8_pj, 0.5, 1e-12);
    cr_assert_float_eq(et.add_acc_pj, 0.1, 1e-12);   /* untouched */
    /* 65 -> 16 nm: energy x0.806*0.174, area x0.66*0.19. */
    cr_assert_eq(sim_energy_scale(&et, 16), NM_OK);
    cr_assert_float_eq(et.mul8_pj, 0.5 * 0.806 * 0.174, 1e-12);
    cr_assert_float_eq(et.mul8_um2, 282 * 0.66 * 0.19, 1e-9);
    cr_assert_float_eq(et.clock_ghz, 1.0, 1e-12);
    cr_assert_eq(sim_energy_scale(&et, 65), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "16 nm to 65 nm"), "%s", nm_errmsg());

    sim_energy_defaults(&et);
    p = write_tmp("{\"mul8_pj\": 0.5, \"typo_pj\": 1}");
    cr_assert_eq(sim_energy_load_json(p, &et), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "typo_pj"), "%s", nm_errmsg());
    cr_assert_float_eq(et.mul8_pj, 0.2, 1e-12, "a failed load changes nothing");
    unlink(p);
    p = write_tmp("[1, 2");
    cr_assert_eq(sim_energy_load_json(p, &et), NM_ERR);
    unlink(p);
    p = write_tmp("{\"sfu_pj\": -1}");
    cr_assert_eq(sim_energy_load_json(p, &et), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "sfu_pj"), "%s", nm_errmsg());
    unlink(p);
    cr_assert_eq(sim_energy_load_json("/nonexistent/et.json", &et), NM_ERR);
}

/* The JointNF-4-4 system: 16x16 nm-4-4 array = 256*4*625 = 640000 um^2 is
 * 37.2 % of the area, so the total is 640000/0.372. */
Test(energy, system_area_shares)
{
    sim_config cfg;
    array_init(&cfg, "nm-4-4", 16, 16);
    sim_area a;
    sim_area_get(&cfg, &a);
    double total = 640000 / 0.372;
    cr_assert_float_eq(a.array_um2, 640000, 1e-6);
    cr_assert_float_eq(a.total_um2, total, 1e-3);
    cr_assert_float_eq(a.sram_um2 / total, 0.313, 1e-9);
    cr_assert_float_eq(a.acc_um2 / total, 0.185, 1e-9);
    cr_assert_float_eq(a.sfu_um2 / total, 0.130, 1e-9);
}

Test(energy, json_save_load_round_trip)
{
    sim_energy_table a, b;
    sim_energy_defaults(&a);
    a.sfu_pj = 3.25;
    sim_energy_scale(&a, 16);
    char path[] = "/tmp/nmlab_et_rt_XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    cr_assert_eq(sim_energy_save_json(path, &a), NM_OK, "%s", nm_errmsg());
    sim_energy_defaults(&b);
    cr_assert_eq(sim_energy_load_json(path, &b), NM_OK, "%s", nm_errmsg());
    unlink(path);
    cr_assert_eq(b.node_nm, 16);
    cr_assert_float_eq(b.sfu_pj, 3.25 * 0.174, 1e-12);
    cr_assert_float_eq(b.pmac_cell_um2, 625 * 0.19, 1e-9);
}

/* sim_energy_set: the one validator of energy values (JSON and Lua). Every
 * field refuses 0, negatives, NaN and +-Inf with a message naming it and
 * leaves the table as it was; a positive finite value is stored. */
Test(energy, validator_refuses_nonpositive_and_nonfinite)
{
    const double bad[] = {0.0, -0.0, -1.0, NAN, INFINITY, -INFINITY};
    sim_energy_table et, ref;
    sim_energy_defaults(&ref);
    int n = sim_energy_field_count();
    cr_assert_gt(n, 10);
    for (int i = 0; i < n; i++) {
        et = ref;
        const char *name = sim_energy_field(&et, i, NULL);
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            cr_assert_eq(sim_energy_set(&et, name, bad[k]), NM_ERR, "%s = %g", name, bad[k]);
            cr_assert(strstr(nm_errmsg(), name) && strstr(nm_errmsg(), "positive finite"),
                      "%s", nm_errmsg());
            cr_assert_eq(memcmp(&et, &ref, sizeof et), 0, "%s: a refused value changes nothing", name);
        }
        double *slot;
        sim_energy_field(&et, i, &slot);
        cr_assert_eq(sim_energy_set(&et, name, 1.25), NM_OK, "%s", nm_errmsg());
        cr_assert_eq(*slot, 1.25, "%s stored", name);
        cr_assert_eq(sim_energy_check(&et), NM_OK, "%s", nm_errmsg());
        *slot = -3;          /* set behind the validator's back */
        cr_assert_eq(sim_energy_check(&et), NM_ERR);
        cr_assert(strstr(nm_errmsg(), name), "%s", nm_errmsg());
    }
    et = ref;
    cr_assert_eq(sim_energy_set(&et, "node_nm", 65), NM_OK);
    cr_assert_eq(et.node_nm, 65);
    const double bad_node[] = {0, 1000.5, 45.5, -45, NAN, INFINITY, 1001};
    for (size_t k = 0; k < sizeof bad_node / sizeof bad_node[0]; k++) {
        cr_assert_eq(sim_energy_set(&et, "node_nm", bad_node[k]), NM_ERR, "%g", bad_node[k]);
        cr_assert(strstr(nm_errmsg(), "node_nm"), "%s", nm_errmsg());
        cr_assert_eq(et.node_nm, 65);
    }
    cr_assert_eq(sim_energy_set(&et, "mul8_pJ", 1), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "unknown key 'mul8_pJ'"), "%s", nm_errmsg());
}

/* The JSON reader refuses what the validator refuses (0 included, which it
 * used to accept), with the file and the field in the message, and a
 * system carrying a bad table fails sim_config_check. */
Test(energy, json_uses_the_validator)
{
    const char *cases[][2] = {
        {"{\"mul8_pj\": 0}", "'mul8_pj' must be a positive finite number"},
        {"{\"clock_ghz\": 0.0}", "'clock_ghz' must be a positive finite number"},
        {"{\"sfu_pj\": -2}", "'sfu_pj' must be a positive finite number"},
        {"{\"node_nm\": 45.5}", "'node_nm' must be an integer in 1..1000"},
        {"{\"mul8_pj\": \"0.2\"}", "'mul8_pj' must be a number"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        sim_energy_table et;
        sim_energy_defaults(&et);
        char *p = write_tmp(cases[k][0]);
        cr_assert_eq(sim_energy_load_json(p, &et), NM_ERR, "%s", cases[k][0]);
        cr_assert(strstr(nm_errmsg(), p) && strstr(nm_errmsg(), cases[k][1]), "%s", nm_errmsg());
        cr_assert_float_eq(et.mul8_pj, 0.2, 1e-12, "a failed load changes nothing");
        unlink(p);
    }
    sim_config cfg;
    array_init(&cfg, "pmac", 4, 4);
    cr_assert_eq(sim_config_check(&cfg), NM_OK, "%s", nm_errmsg());
    cfg.et.clock_ghz = 0;
    cr_assert_eq(sim_config_check(&cfg), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "energy table: 'clock_ghz'"), "%s", nm_errmsg());
}
