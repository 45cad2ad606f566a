/* test_scalesim_mem.c - SCALE-Sim v3 memory parity without SCALE-Sim.
 *
 * Expected rows are SCALE-Sim v3's own reports (scalesim-project/
 * scale-sim-v3 at fab89b7, run by tests/peers/scalesim_parity.py, cases
 * a8_*: the three layers below on an 8x8 array, 1 KB per SRAM, USER
 * bandwidth 2 words/cycle or CALC, 2026-12-04); the closed-form cases are
 * worked by hand in the comments. */
#include <criterion/criterion.h>
#include <string.h>

#include "sim.h"

/* topology: name, H, W, R, S, C, Nf, stride (E = ceil((H-R+s)/s)^2) */
static const struct {
    const char *name;
    int H, R, C, Nf, s;
} topo[3] = {{"c1", 12, 3, 4, 16, 1}, {"c2", 10, 3, 16, 20, 2}, {"fc", 1, 1, 64, 10, 1}};

static sim_gemm layer(int i)
{
    sim_gemm g;
    int H = topo[i].H, R = topo[i].R, s = topo[i].s;
    int64_t o = (H - R + s + s - 1) / s;
    sim_gemm_set(&g, topo[i].name, o * o, (int64_t)R * R * topo[i].C, topo[i].Nf);
    g.kh = g.kw = R;
    g.in_h = g.in_w = H;
    g.stride_h = g.stride_w = s;
    return g;
}

static sim_config config(sim_dataflow df, double bw)
{
    sim_mac mac;
    sim_mac_init(&mac, SIM_PMAC, 0, 0, 0, 0);
    sim_config cfg;
    sim_config_init(&cfg, &mac, 8, 8);
    cfg.dataflow = df;
    cfg.compat_scalesim = 1;
    cfg.mem_on = 1;
    cfg.sram_ifmap_kb = cfg.sram_filter_kb = cfg.sram_ofmap_kb = 1;
    cfg.bandwidth = bw;
    return cfg;
}

/* SCALE-Sim's row: incl. prefetch, total, stall, then (start, stop, count)
 * for SRAM ifmap, filter, ofmap and DRAM ifmap, filter, ofmap. */
typedef struct {
    double v[21];
} ss_row;

static void check(const char *what, sim_dataflow df, double bw, const ss_row want[3])
{
    for (int i = 0; i < 3; i++) {
        sim_gemm g = layer(i);
        sim_config cfg = config(df, bw);
        sim_scalesim_trace t;
        cr_assert_eq(sim_scalesim_replay(&g, &cfg, &t), NM_OK, "%s", nm_errmsg());
        sim_layer_result res;
        cr_assert_eq(sim_gemm_analytic(&g, &cfg, NULL, &res), NM_OK, "%s", nm_errmsg());
        const double *w = want[i].v;
        cr_expect_eq(t.incl_prefetch, (int64_t)w[0], "%s %s incl. prefetch %lld", what,
                     g.name, (long long)t.incl_prefetch);
        cr_expect_eq(t.total_cycles, (int64_t)w[1], "%s %s total %lld", what, g.name,
                     (long long)t.total_cycles);
        cr_expect_eq(t.stall_cycles, (int64_t)w[2], "%s %s stall %lld", what, g.name,
                     (long long)t.stall_cycles);
        double sram[3] = {res.sram_rd_ifmap, res.sram_rd_filter, res.sram_wr_ofmap};
        for (int k = 0; k < 6; k++) {
            double cnt = k < 3 ? sram[k] : t.dram[k - 3];
            cr_expect_float_eq(t.start[k], w[3 + 3 * k], 1e-9, "%s %s start %d: %g", what,
                               g.name, k, t.start[k]);
            cr_expect_float_eq(t.stop[k], w[4 + 3 * k], 1e-9, "%s %s stop %d: %g", what,
                               g.name, k, t.stop[k]);
            cr_expect_float_eq(cnt, w[5 + 3 * k], 1e-9, "%s %s count %d: %g", what, g.name, k,
                               cnt);
        }
    }
}

/* USER: tiny SRAMs and 2 words/cycle, so the read buffers' windows rotate
 * through their sets (whole-ring rotations when a fold straddles a window
 * edge) and the rows stall; v3's double count included. */
Test(scalesim_mem, replay_user_ws)
{
    static const ss_row want[3] = {
        {{4729, 4057, 2838, 9, 4047, 7200, 1, 3775, 576, 15, 4057, 8000, -256, 3340, 7168, -256,
          256, 1024, 440, 4473, 8001}},
        {{17833, 17429, 14892, 9, 17417, 10800, 1, 17391, 2880, 15, 17425, 9000, -256, 10793,
          22016, -256, 16961, 34304, 396, 17577, 9001}},
        {{804, 509, 142, 9, 503, 128, 1, 495, 640, 15, 503, 80, -32, -1, 64, -256, 256, 1024, 509,
          548, 80}},
    };
    check("ws user", SIM_WS, 2, want);
}

Test(scalesim_mem, replay_user_os)
{
    static const ss_row want[3] = {
        {{7657, 7203, 5904, 1, 7193, 7200, 1, 7197, 7488, 35, 7203, 2016, -256, 6938, 14336,
          -256, 256, 1024, 1091, 7401, 1601}},
        {{16386, 15881, 13986, 1, 15498, 10800, 1, 15871, 11520, 529, 15877, 692, -256, 4625,
          9728, -256, 15676, 31744, 15881, 16130, 500}},
        {{789, 529, 374, 1, 516, 128, 1, 517, 640, 444, 523, 42, -256, -1, 512, -256, 256, 1024,
          529, 533, 10}},
    };
    check("os user", SIM_OS, 2, want);
}

/* CALC: reads never stall; DRAM reads are the addresses fetched again once
 * a block of 50 sets of 10 addresses has passed. */
Test(scalesim_mem, replay_calc)
{
    static const ss_row ws[3] = {
        {{1309, 1219, 0, 9, 1209, 7200, 1, 1106, 576, 15, 1219, 8000, -42, 1082, 2901, -50, 979,
          576, 82, 1259, 8007}},
        {{2624, 2537, 0, 9, 2525, 10800, 1, 2499, 2880, 15, 2533, 9000, -42, 2475, 9136, -50,
          1975, 2880, 126, 2574, 9007}},
        {{426, 367, 0, 9, 361, 128, 1, 353, 640, 15, 361, 80, -7, -1, 64, -50, 168, 640, 367, 376,
          80}},
    };
    static const ss_row os[3] = {
        {{1357, 1299, 0, 1, 1289, 7200, 1, 1293, 7488, 35, 1299, 2016, -50, 981, 1312, -50, 680,
          788, 435, 1307, 1607}},
        {{2007, 1895, 0, 1, 1818, 10800, 1, 1885, 11520, 143, 1891, 692, -50, 1617, 6952, -50,
          1879, 11520, 1895, 1957, 500}},
        {{206, 155, 0, 1, 142, 128, 1, 143, 640, 70, 149, 42, -7, -1, 64, -50, 67, 640, 155, 156,
          10}},
    };
    check("ws calc", SIM_WS, 0, ws);
    check("os calc", SIM_OS, 0, os);
}

/* The corrected stall count adds a positive potential stall once and
 * ignores negative ones: never more stall than v3's, the same traffic. */
Test(scalesim_mem, corrected_count_below_v3)
{
    for (int df = 0; df < 2; df++)
        for (int i = 0; i < 3; i++) {
            sim_gemm g = layer(i);
            sim_config cfg = config(df ? SIM_OS : SIM_WS, 2);
            sim_scalesim_trace v3, fixed;
            cr_assert_eq(sim_scalesim_replay(&g, &cfg, &v3), NM_OK);
            cfg.stall_corrected = 1;
            cr_assert_eq(sim_scalesim_replay(&g, &cfg, &fixed), NM_OK);
            cr_expect_leq(fixed.stall_cycles, v3.stall_cycles, "%s", g.name);
            cr_expect_float_eq(fixed.dram[0], v3.dram[0], 1e-9);
            cr_expect_float_eq(fixed.dram[1], v3.dram[1], 1e-9);
        }
}

/* Closed forms (no replay), by hand. fc (E 1, K 64, Nf 10) on 8x8, 1 KB,
 * USER 2 words/cycle: the ifmap prefetch matrix is 1 x 8 fold x 8 = 64
 * entries in 6 sets of ceil(1024/100) = 11, within the 47 active sets, so
 * one first fill of min(ceil(512/2), ceil(64/2)) = 32 lines x 2 = 64 words
 * and nothing more (exact); the filters' 640 entries make 59 sets > 47, so
 * SCALE-Sim refetches (1024 by the replay) and the closed form is not
 * exact. CALC: 64 distinct ifmap addresses < 50 sets x 10 (exact); ws
 * filters are each demanded once (exact, K x Nf). c2 (10x10, 3x3 stride 2):
 * 1600 distinct ifmap addresses >= 500 and demanded 3 times: not exact. */
Test(scalesim_mem, closed_forms_by_hand)
{
    sim_gemm fc = layer(2), c2 = layer(1);
    sim_config cfg = config(SIM_WS, 2);
    sim_layer_result r;
    cr_assert_eq(sim_gemm_analytic(&fc, &cfg, NULL, &r), NM_OK, "%s", nm_errmsg());
    cr_expect_float_eq(r.dram_rd_ifmap, 64, 1e-9);
    cr_expect_eq(r.mem_exact, 1);
    cr_expect_float_eq(r.dram_wr_ofmap, 80, 1e-9);  /* 10 outputs x 8 row folds */
    cr_expect_float_eq(r.sram_wr_ofmap, 80, 1e-9);
    cfg = config(SIM_WS, 0);
    cr_assert_eq(sim_gemm_analytic(&fc, &cfg, NULL, &r), NM_OK);
    cr_expect_float_eq(r.dram_rd_ifmap, 64, 1e-9);
    cr_expect_float_eq(r.dram_rd_filter, 640, 1e-9);
    cr_expect_eq(r.mem_exact, 3);
    cr_assert_eq(sim_gemm_analytic(&c2, &cfg, NULL, &r), NM_OK);
    cr_expect_eq(r.mem_exact, 2);
    cr_expect_float_eq(r.dram_rd_filter, 144 * 20, 1e-9);
    /* os: ofmap SRAM writes + (R + C) per fold, as SCALE-Sim counts them:
     * c2 E 25 -> 4 row folds, Nf 20 -> 3 col folds: 500 + 12 x 16 = 692 */
    cfg = config(SIM_OS, 0);
    cr_assert_eq(sim_gemm_analytic(&c2, &cfg, NULL, &r), NM_OK);
    cr_expect_float_eq(r.sram_wr_ofmap, 692, 1e-9);
    cr_expect_float_eq(r.dram_wr_ofmap, 500, 1e-9);
}

/* A real-size layer: ResNet-18's conv1 (224x224x3, 7x7, 64 filters,
 * stride 2: E = 110 x 110, K = 147) on SCALE-Sim's scale.cfg system (32x32,
 * 64 KB SRAMs), USER 10 words/cycle in ws and CALC in os; SCALE-Sim v3's
 * rows from its ResNet-18 runs (docs/results.md, 2026-12-05). */
Test(scalesim_mem, resnet18_conv1_scale_cfg)
{
    static const struct {
        sim_dataflow df;
        double bw;
        ss_row want;
    } runs[2] = {
        {SIM_WS, 10, {{396021, 388952, 267013, 33, 388798, 3557400, 1, 349862, 9408, 63, 388952,
                       3872000, -3277, 354023, 3571930, -941, -1, 9410, 5508, 392744, 3872013}}},
        {SIM_OS, 0, {{162344, 158421, 0, 1, 158341, 3557400, 1, 158391, 3565632, 146, 158421,
                      822912, -3275, 142863, 326046, -983, -1, 9408, 6834, 159069, 774431}}},
    };
    for (int r = 0; r < 2; r++) {
        sim_gemm g;
        sim_gemm_set(&g, "Conv1", 110 * 110, 147, 64);
        g.kh = g.kw = 7, g.in_h = g.in_w = 224, g.stride_h = g.stride_w = 2;
        sim_mac mac;
        sim_mac_init(&mac, SIM_PMAC, 0, 0, 0, 0);
        sim_config cfg;
        sim_config_init(&cfg, &mac, 32, 32);
        cfg.dataflow = runs[r].df;
        cfg.compat_scalesim = cfg.mem_on = cfg.scalesim_replay = 1;
        cfg.sram_ifmap_kb = cfg.sram_filter_kb = cfg.sram_ofmap_kb = 64;
        cfg.bandwidth = runs[r].bw;
        sim_layer_result res;
        cr_assert_eq(sim_gemm_analytic(&g, &cfg, NULL, &res), NM_OK, "%s", nm_errmsg());
        const double *w = runs[r].want.v;
        cr_assert(res.ss.valid);
        cr_expect_eq(res.ss.incl_prefetch, (int64_t)w[0]);
        cr_expect_eq(res.cycles, (int64_t)w[1], "cycles %lld", (long long)res.cycles);
        cr_expect_eq(res.stall_cycles, (int64_t)w[2], "stall %lld", (long long)res.stall_cycles);
        double cnt[6] = {res.sram_rd_ifmap, res.sram_rd_filter, res.sram_wr_ofmap,
                         res.dram_rd_ifmap, res.dram_rd_filter, res.dram_wr_ofmap};
        for (int k = 0; k < 6; k++) {
            cr_expect_float_eq(res.ss.start[k], w[3 + 3 * k], 1e-9, "run %d start %d", r, k);
            cr_expect_float_eq(res.ss.stop[k], w[4 + 3 * k], 1e-9, "run %d stop %d", r, k);
            cr_expect_float_eq(cnt[k], w[5 + 3 * k], 1e-9, "run %d count %d: %g", r, k, cnt[k]);
        }
    }
}

/* Wherever the closed forms say they are exact (mem_exact), they must equal
 * the replay (itself checked against SCALE-Sim above and by the peer run):
 * conv, 1x1, strided and fc shapes, ws/os, USER 2 and CALC, 1 and 2 KB. */
Test(scalesim_mem, closed_forms_agree_with_replay)
{
    static const int shapes[][6] = {
        /* H, R, C, Nf, stride, E side (0 = from H, R, stride) */
        {12, 3, 4, 16, 1, 0}, {10, 3, 16, 20, 2, 0}, {1, 1, 64, 10, 1, 0},
        {20, 1, 16, 20, 1, 0}, {14, 1, 24, 40, 2, 0}, {9, 3, 8, 12, 3, 0},
    };
    int exact = 0, total = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int df = 0; df < 2; df++)
            for (int m = 0; m < 4; m++) {
                const int *q = shapes[i];
                int64_t o = (q[0] - q[1] + q[4] + q[4] - 1) / q[4];
                sim_gemm g;
                sim_gemm_set(&g, "s", o * o, (int64_t)q[1] * q[1] * q[2], q[3]);
                g.kh = g.kw = q[1], g.in_h = g.in_w = q[0], g.stride_h = g.stride_w = q[4];
                sim_config cfg = config(df ? SIM_OS : SIM_WS, m & 1 ? 0 : 2);
                cfg.sram_ifmap_kb = cfg.sram_filter_kb = cfg.sram_ofmap_kb = m & 2 ? 2 : 1;
                sim_layer_result r;
                sim_scalesim_trace t;
                cr_assert_eq(sim_gemm_analytic(&g, &cfg, NULL, &r), NM_OK, "%s", nm_errmsg());
                cr_assert_eq(sim_scalesim_replay(&g, &cfg, &t), NM_OK, "%s", nm_errmsg());
                total += 2;
                if (r.mem_exact & 1) {
                    exact++;
                    cr_expect_float_eq(r.dram_rd_ifmap, t.dram[0], 1e-9, "shape %zu df %d m %d: %g vs %g",
                                       i, df, m, r.dram_rd_ifmap, t.dram[0]);
                }
                if (r.mem_exact & 2) {
                    exact++;
                    cr_expect_float_eq(r.dram_rd_filter, t.dram[1], 1e-9, "shape %zu df %d m %d: %g vs %g",
                                       i, df, m, r.dram_rd_filter, t.dram[1]);
                }
            }
    cr_expect(exact >= total / 4, "only %d of %d counts exact", exact, total);
}
