/* SCALE-Sim compatibility: layers of the real resnet18.csv read into
 * detached layers, cycles compared with SCALE-Sim's formulas worked by hand
 * below (32x32 array as in scale.cfg). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "sim_case.h"

/* A minimal reader for the test (the project's reader lives in engine/io):
 * one detached conv per row, optional 9th column N:M. */
static nm_model *load_csv(const char *file)
{
    const char *shared = getenv("NMLAB_SHARED");
    if (!shared)
        cr_skip_test("NMLAB_SHARED unset: ../shared/data/scalesim is not beside the source tree");
    char path[1024], line[512];
    snprintf(path, sizeof path, "%s/data/scalesim/%s", shared, file);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    nm_model *m = nm_model_new(file, 3, 224, 224);
    cr_assert(fgets(line, sizeof line, f));  /* header */
    while (fgets(line, sizeof line, f)) {
        nm_layer l;
        memset(&l, 0, sizeof l);
        char name[64];
        int h, w, r, s, c, k, st, n = 0, mm = 0;
        int got = sscanf(line, "%63[^,],%d,%d,%d,%d,%d,%d,%d,%d:%d", name, &h, &w, &r, &s, &c, &k,
                         &st, &n, &mm);
        if (got < 8)
            continue;
        snprintf(l.name, sizeof l.name, "%s", name);
        l.kind = NM_LAYER_CONV;
        l.n_inputs = 0;
        l.in_c = c, l.in_h = h, l.in_w = w, l.out_c = k, l.kh = r, l.kw = s;
        l.stride_h = l.stride_w = st, l.groups = 1;
        if (got == 10)
            l.wn = n, l.wm = mm;
        cr_assert(nm_model_append(m, &l) >= 0, "%s", nm_errmsg());
    }
    fclose(f);
    return m;
}

static sim_layer_result run(nm_model *m, const char *layer, sim_dataflow df)
{
    sim_config cfg;
    array_init(&cfg, "pmac", 32, 32);
    cfg.compat_scalesim = 1;
    cfg.dataflow = df;
    sim_gemm g;
    int idx = nm_model_find(m, layer);
    cr_assert(idx >= 0, "%s", layer);
    cr_assert_eq(sim_gemm_from_layer(m, idx, &cfg, &g), NM_OK, "%s", nm_errmsg());
    sim_layer_result a, s;
    cr_assert_eq(sim_gemm_analytic(&g, &cfg, NULL, &a), NM_OK, "%s", nm_errmsg());
    /* The stepped engine cross-checks the layers that are cheap to step. */
    double work = (double)a.cycles * 1024;
    if (work < 15e6) {
        cr_assert_eq(sim_gemm_stepped(&g, &cfg, 0, &s), NM_OK, "%s", nm_errmsg());
        cr_assert_eq(a.cycles, s.cycles, "%s: stepped %lld", layer, (long long)s.cycles);
    }
    return a;
}

Test(scalesim, resnet18_ws_by_hand)
{
    nm_model *m = load_csv("resnet18.csv");
    cr_assert_eq(m->n_layers, 21);   /* 20 convs and FC */
    /* Conv1: 224x224 ifmap, 7x7, 3 -> 64, stride 2.
     *   E = ceil((224-7+2)/2)^2 = ceil(219/2)^2 = 110^2 = 12100 (no padding)
     *   K = 7*7*3 = 147, Nf = 64.  WS: (Sr,Sc,T) = (147, 64, 12100)
     *   folds = ceil(147/32)*ceil(64/32) = 5*2 = 10
     *   fold length = 2*32 + 32 + 12100 - 2 = 12194
     *   total = 10*12194 - 1 = 121939 */
    sim_layer_result r = run(m, "Conv1", SIM_WS);
    cr_assert_eq(r.g.E, 12100);
    cr_assert_eq(r.g.Kp, 147);
    cr_assert_eq(r.u.folds, 10);
    cr_assert_eq(r.cycles, 121939);
    /* Utilization over the cycles simulated (10*12194 = 121940, before the
     * reported off-by-one): busy PE-cycles = 147*64*12100. */
    cr_assert_eq(r.pe_busy, 147LL * 64 * 12100);
    cr_assert_float_eq(r.util, 147.0 * 64 * 12100 / (1024.0 * 121940), 1e-12);
    /* Mapping efficiency: 147*64 mapped PE slots over 10 folds of 1024. */
    cr_assert_float_eq(r.mapping_eff, 147.0 * 64 / (10 * 1024.0), 1e-12);

    /* Conv2_1a: 56x56, 3x3, 64 -> 64, stride 1.
     *   E = (56-3+1)^2 = 54^2 = 2916; K = 576; folds = 18*2 = 36
     *   fold length = 64 + 32 + 2916 - 2 = 3010; total = 36*3010 - 1 = 108359 */
    r = run(m, "Conv2_1a", SIM_WS);
    cr_assert_eq(r.cycles, 108359);

    /* Conv3_s: 56x56, 1x1, 64 -> 128, stride 2.
     *   E = ceil((56-1+2)/2)^2 = ceil(57/2)^2 = 29^2 = 841; K = 64
     *   folds = 2*4 = 8; fold length = 96 + 841 - 2 = 935; total = 7479 */
    r = run(m, "Conv3_s", SIM_WS);
    cr_assert_eq(r.g.E, 841);
    cr_assert_eq(r.cycles, 7479);

    /* FC: 1x1 ifmap, 512 -> 1000.
     *   E = 1, K = 512: folds = 16 * ceil(1000/32) = 16*32 = 512
     *   fold length = 96 + 1 - 2 = 95; total = 512*95 - 1 = 48639 */
    r = run(m, "FC", SIM_WS);
    cr_assert_eq(r.cycles, 48639);
    nm_model_free(m);
}

Test(scalesim, resnet18_os_is_by_hand)
{
    nm_model *m = load_csv("resnet18.csv");
    /* Conv2_1a OS: (E, Nf, K) = (2916, 64, 576)
     *   folds = ceil(2916/32)*ceil(64/32) = 92*2 = 184
     *   fold length = 32 + 32 + 576 - 2 = 638; total = 184*638 - 1 = 117391 */
    sim_layer_result r = run(m, "Conv2_1a", SIM_OS);
    cr_assert_eq(r.cycles, 117391);
    /* Conv3_s IS: (K, E, Nf) = (64, 841, 128)
     *   folds = 2*ceil(841/32) = 2*27 = 54
     *   fold length = 64 + 32 + 128 - 2 = 222; total = 54*222 - 1 = 11987 */
    r = run(m, "Conv3_s", SIM_IS);
    cr_assert_eq(r.cycles, 11987);
    nm_model_free(m);
}

Test(scalesim, resnet18_layerwise_nm_by_hand)
{
    nm_model *m = load_csv("resnet18_nm24.csv");
    /* 2:4, first 2 of every 4 rows of K kept: K' = floor(K/4)*2 + min(2, K mod 4).
     * Conv2_1a: K = 576 -> K' = 144*2 + 0 = 288; folds = 9*2 = 18;
     *   total = 18*3010 - 1 = 54179. */
    sim_layer_result r = run(m, "Conv2_1a", SIM_WS);
    cr_assert_eq(r.g.Kp, 288);
    cr_assert_eq(r.cycles, 54179);
    /* Conv1: K = 147 -> 36*2 + min(2, 3) = 74; folds = ceil(74/32)*2 = 6;
     *   total = 6*12194 - 1 = 73163. */
    r = run(m, "Conv1", SIM_WS);
    cr_assert_eq(r.g.Kp, 74);
    cr_assert_eq(r.cycles, 73163);
    nm_model_free(m);
}

Test(scalesim, compat_refuses_sparse_macs)
{
    sim_config cfg;
    array_init(&cfg, "nm-4-4", 16, 16);
    cfg.compat_scalesim = 1;
    cr_assert_eq(sim_config_check(&cfg), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "pMAC"), "%s", nm_errmsg());
}

/* Outside compat: padding and batch are modelled (a 3x3 pad-1 conv keeps
 * 56x56, batch 4 -> E = 4*3136); the off-by-one is not applied. */
Test(scalesim, outside_compat_padding_and_batch)
{
    nm_model *m = nm_model_new("pad", 64, 56, 56);
    int c = nm_add_conv(m, "c", NM_INPUT, 64, 3, 3, 1, 1, 1, 0);
    sim_config cfg;
    array_init(&cfg, "pmac", 32, 32);
    cfg.batch = 4;
    sim_gemm g;
    cr_assert_eq(sim_gemm_from_layer(m, c, &cfg, &g), NM_OK);
    cr_assert_eq(g.E, 4 * 56 * 56);
    sim_layer_result r;
    sim_gemm_analytic(&g, &cfg, NULL, &r);
    /* folds 18*2 = 36, fold length 96 + 12544 - 2 = 12638 -> 454968 */
    cr_assert_eq(r.cycles, 36LL * 12638);
    nm_model_free(m);
}
