/* test_memory.c - attention matmuls as GEMMs between activations, and the
 * memory model through the stepped engine. Expected numbers worked by hand
 * from sim.h's fold formula (load + R + C + T - 2 per fold). */
#include <criterion/criterion.h>
#include <string.h>

#include "sim.h"

/* 8 channels, 5 tokens, 2 heads (d = 4): scores = Q K^T, context = A V. */
static nm_model *attn_net(void)
{
    nm_model *m = nm_model_new("attn", 8, 5, 1);
    int pre = nm_add_linear(m, "pre", NM_INPUT, 8, 1);
    int qkv = nm_add_linear(m, "qkv", pre, 24, 1);
    int q = nm_add_slice(m, "q", qkv, NM_AXIS_CHANNEL, 0, 8);
    int k = nm_add_slice(m, "k", qkv, NM_AXIS_CHANNEL, 8, 8);
    int v = nm_add_slice(m, "v", qkv, NM_AXIS_CHANNEL, 16, 8);
    nm_add_matmul(m, "scores", q, k, 2, 1);
    nm_add_softmax_heads(m, "softmax", NM_PREV, 2);
    nm_add_matmul(m, "context", NM_PREV, v, 2, 0);
    cr_assert(nm_add_linear(m, "out", NM_PREV, 8, 1) >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 3);
    return m;
}

static const sim_layer_result *row(const sim_report *r, const char *name)
{
    for (int i = 0; i < r->n_layers; i++)
        if (!strcmp(r->layers[i].name, name))
            return &r->layers[i];
    return NULL;
}

Test(attention, qk_and_av_as_gemms)
{
    nm_model *m = attn_net();
    sim_mac mac;
    sim_mac_init(&mac, SIM_PMAC, 0, 0, 0, 0);
    sim_config cfg;
    sim_config_init(&cfg, &mac, 4, 4);
    for (int df = 0; df < 2; df++) {
        cfg.dataflow = df == 0 ? SIM_WS : SIM_OS;
        sim_report *r = sim_model_run(m, &cfg, NULL, NULL);
        cr_assert(r, "%s", nm_errmsg());
        cr_assert_eq(r->n_layers, 5);   /* pre, qkv, scores, context, out */
        const sim_layer_result *s = row(r, "scores"), *c = row(r, "context");
        cr_assert(s && c);
        /* scores per head: E = 5 queries, K = d = 4, Nf = 5 keys */
        cr_assert_eq(s->g.groups, 2);
        cr_assert_eq(s->g.E, 5);
        cr_assert_eq(s->g.Kp, 4);
        cr_assert_eq(s->g.Nf, 5);
        /* context per head: E = 5, K = 5 keys, Nf = d = 4 */
        cr_assert_eq(c->g.E, 5);
        cr_assert_eq(c->g.Kp, 5);
        cr_assert_eq(c->g.Nf, 4);
        cr_assert_float_eq(s->dense_macs, 200, 1e-9);   /* T*T*C = 5*5*8 */
        cr_assert_float_eq(c->dense_macs, 200, 1e-9);
        if (df == 0) {
            /* WS scores: 1 row fold x 2 col folds of 4+4+4+5-2 = 15, x 2 heads */
            cr_assert_eq(s->cycles, 60);
            /* WS context: Sr = 5 -> 2 row folds, 1 col fold, 15 each, x 2 */
            cr_assert_eq(c->cycles, 60);
        } else {
            /* OS scores: Sr = E = 5, Sc = 5 -> 2 x 2 folds of 0+4+4+4-2 = 10 */
            cr_assert_eq(s->cycles, 80);
            /* OS context: 2 x 1 folds of 0+4+4+5-2 = 11 */
            cr_assert_eq(c->cycles, 44);
        }
        /* K^T (V) takes the weights' place: 5*4 values per head */
        cr_assert_float_eq(s->w_val_bits / 8, 40, 1e-9);
        cr_assert_float_eq(s->dram_rd_filter, 40, 1e-9);
        cr_assert_eq(s->act_applied, 0);
        sim_report_free(r);
    }
    /* attention off: the matmuls are skipped, as before */
    cfg.attention = 0;
    sim_report *r = sim_model_run(m, &cfg, NULL, NULL);
    cr_assert(r, "%s", nm_errmsg());
    cr_assert_eq(r->n_layers, 3);
    sim_report_free(r);
    nm_model_free(m);
}

Test(memory, stepped_engine_same_stall)
{
    sim_mac mac;
    sim_mac_init(&mac, SIM_PMAC, 0, 0, 0, 0);
    sim_config cfg;
    sim_config_init(&cfg, &mac, 4, 4);
    cfg.mem_on = 1;
    cfg.sram_ifmap_kb = 0.125, cfg.sram_filter_kb = 1, cfg.sram_ofmap_kb = 1;
    cfg.bandwidth = 2;
    sim_gemm g;
    sim_gemm_set(&g, "g", 10, 8, 6);
    sim_layer_result a, s;
    cr_assert_eq(sim_gemm_analytic(&g, &cfg, NULL, &a), NM_OK, "%s", nm_errmsg());
    cr_assert_eq(sim_gemm_stepped(&g, &cfg, 0, &s), NM_OK, "%s", nm_errmsg());
    /* 268 DRAM words (160 + 48 + 60) at 2 per cycle vs 80 compute cycles */
    cr_assert_eq(a.compute_cycles, 80);
    cr_assert_eq(a.stall_cycles, 54);
    cr_assert_eq(s.stall_cycles, 54);
    cr_assert_eq(s.cycles, a.cycles);
    /* bad options name themselves */
    cfg.bandwidth = -1;
    cr_assert_eq(sim_config_check(&cfg), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "bandwidth"), "%s", nm_errmsg());
    cfg.bandwidth = 2, cfg.sram_ofmap_kb = 0;
    cr_assert_eq(sim_config_check(&cfg), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "sram_kb.ofmap"), "%s", nm_errmsg());
}
