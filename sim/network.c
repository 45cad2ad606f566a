/* network.c - a whole model through the analytical engine, with totals. */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *sim_config_describe(const sim_config *c, char *buf, size_t len)
{
    char mac[48], mem[160] = "off";
    if (c->mem_on) {
        char bw[32] = "calc";
        if (c->bandwidth > 0)
            snprintf(bw, sizeof bw, "%g", c->bandwidth);
        snprintf(mem, sizeof mem, "ifmap%gKB,filter%gKB,ofmap%gKB,%s,word%dB,bw=%s%s%s",
                 c->sram_ifmap_kb, c->sram_filter_kb, c->sram_ofmap_kb,
                 c->double_buffer ? "double" : "single", c->word_bytes, bw,
                 c->compat_scalesim ? (c->stall_corrected ? ",stall=corrected" : ",stall=v3") : "",
                 c->scalesim_replay ? ",replay" : "");
    }
    snprintf(buf, len,
             "mac=%s array=%dx%d dataflow=%s compat=%s batch=%d idle=%s windex=%s dindex=%s "
             "im2col_reread=%d dram=%d leakage=%d derive_in_chans=%d area=%s node=%dnm sram=%dKB "
             "act=%s mem=%s",
             sim_mac_name(&c->mac, mac, sizeof mac), c->rows, c->cols,
             sim_dataflow_name(c->dataflow), c->compat_scalesim ? "scalesim" : "none",
             c->compat_scalesim ? 1 : c->batch, c->idle == SIM_IDLE_GATED ? "gated" : "skipped",
             sim_index_scheme_name(c->windex), sim_index_scheme_name(c->dindex),
             c->im2col_reread, c->dram, c->leakage, c->derive_in_chans,
             c->area_mode == SIM_AREA_CALIBRATED ? "calibrated" : "bottom-up", c->et.node_nm,
             c->sram_kb, c->act_all ? "all" : "auto", mem);
    return buf;
}

static void add_energy(sim_energy *t, const sim_energy *e)
{
    t->mult += e->mult, t->add += e->add, t->select += e->select, t->reg += e->reg;
    t->sram_w += e->sram_w, t->sram_d += e->sram_d, t->sram_o += e->sram_o;
    t->acc += e->acc, t->sfu += e->sfu, t->dram += e->dram, t->leak += e->leak;
    t->total += e->total;
}

/* Sums the per-layer rows into r->total, recomputing the ratios from the
 * summed counts so they stay consistent with the cycles charged. */
static void sum_totals(sim_report *r)
{
    sim_layer_result *t = &r->total;
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "total");
    double RC = (double)r->cfg.rows * r->cfg.cols, used_w = 0;
    t->fold_util_min = 1e300;
    for (int i = 0; i < r->n_layers; i++) {
        const sim_layer_result *l = &r->layers[i];
        t->cycles += l->cycles, t->pe_busy += l->pe_busy;
        t->products += l->products, t->mult_slots += l->mult_slots;
        t->dense_macs += l->dense_macs, t->eff_macs += l->eff_macs;
        t->w_val_bits += l->w_val_bits, t->w_idx_bits += l->w_idx_bits;
        t->d_val_bits += l->d_val_bits, t->d_idx_bits += l->d_idx_bits;
        t->o_val_bits += l->o_val_bits, t->o_idx_bits += l->o_idx_bits;
        t->sram_w_read += l->sram_w_read, t->sram_d_read += l->sram_d_read;
        t->sram_o_write += l->sram_o_write;
        t->acc_rmw += l->acc_rmw, t->sfu_ops += l->sfu_ops, t->dram_bytes += l->dram_bytes;
        t->compute_cycles += l->compute_cycles, t->stall_cycles += l->stall_cycles;
        t->mem_cycles += l->mem_cycles;
        t->sram_rd_ifmap += l->sram_rd_ifmap, t->sram_rd_filter += l->sram_rd_filter;
        t->sram_wr_ofmap += l->sram_wr_ofmap;
        t->dram_rd_ifmap += l->dram_rd_ifmap, t->dram_rd_filter += l->dram_rd_filter;
        t->dram_wr_ofmap += l->dram_wr_ofmap;
        t->blocks += l->blocks, t->violations += l->violations;
        t->act_applied += l->act_applied;
        if (l->max_need > t->max_need)
            t->max_need = l->max_need;
        t->u.folds += l->u.folds * l->g.groups;
        used_w += l->mapping_eff * (double)(l->u.folds * l->g.groups);
        if (l->fold_util_min < t->fold_util_min)
            t->fold_util_min = l->fold_util_min;
        if (l->fold_util_max > t->fold_util_max)
            t->fold_util_max = l->fold_util_max;
        add_energy(&t->e, &l->e);
    }
    if (t->cycles > 0) {
        /* over the simulated cycles (mult_slots excludes compat's -1) */
        double sim_cycles = t->mult_slots / (RC * sim_mac_mults(&r->cfg.mac));
        t->util = (double)t->pe_busy / (RC * sim_cycles);
        t->mult_util = t->products / t->mult_slots;
    }
    if (t->compute_cycles > 0)
        t->bw_need = (t->dram_rd_ifmap + t->dram_rd_filter + t->dram_wr_ofmap) /
                     (double)t->compute_cycles;
    if (t->u.folds > 0)
        t->mapping_eff = used_w / (double)t->u.folds;
    if (r->n_layers == 0)
        t->fold_util_min = 0;
}

static sim_report *run(const nm_model *m, const sim_config *cfg, int stepped,
                       int64_t max_pe_cycles, nm_progress_fn progress, void *ud)
{
    if (!m)
        return nm_seterr("no model"), NULL;
    if (sim_config_check(cfg))
        return NULL;
    sim_report *r = calloc(1, sizeof *r);
    if (!r || !(r->layers = calloc((size_t)(m->n_layers ? m->n_layers : 1), sizeof *r->layers))) {
        free(r);
        return nm_seterr("out of memory"), NULL;
    }
    r->cfg = *cfg;
    snprintf(r->model, sizeof r->model, "%s", m->name);
    snprintf(r->engine, sizeof r->engine, stepped ? "stepped" : "analytic");
    for (int i = 0; i < m->n_layers; i++) {
        if (!sim_layer_simulated(&m->layers[i], cfg))
            continue;
        sim_gemm g;
        if (sim_gemm_from_layer(m, i, cfg, &g) ||
            (stepped ? sim_gemm_stepped(&g, cfg, max_pe_cycles, &r->layers[r->n_layers])
                     : sim_gemm_analytic(&g, cfg, NULL, &r->layers[r->n_layers])) ||
            nm_progress(progress, ud, (double)(i + 1) / m->n_layers, "simulating")) {
            sim_report_free(r);
            return NULL;
        }
        r->n_layers++;
    }
    sum_totals(r);
    sim_area_get(cfg, &r->area);
    return r;
}

sim_report *sim_model_run(const nm_model *m, const sim_config *cfg, nm_progress_fn progress,
                          void *ud)
{
    return run(m, cfg, 0, 0, progress, ud);
}

sim_report *sim_model_run_stepped(const nm_model *m, const sim_config *cfg,
                                  int64_t max_pe_cycles, nm_progress_fn progress, void *ud)
{
    return run(m, cfg, 1, max_pe_cycles, progress, ud);
}

void sim_report_free(sim_report *r)
{
    if (!r)
        return;
    free(r->layers);
    free(r);
}

void sim_report_totals(sim_report *r)
{
    sum_totals(r);
}
