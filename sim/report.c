/* report.c - reports as CSV (nmlab's columns, or SCALE-Sim's
 * COMPUTE_REPORT.csv columns in compat mode) and JSON, written atomically. */
#include "sim.h"
#include "fileutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

/* SCALE-Sim v3's COMPUTE_REPORT.csv. Total Cycles = compute + stall
 * cycles of the memory model (0 stall without it); "incl. prefetch" holds
 * the same count (SCALE-Sim's is its DRAM trace's span, which the
 * analytical model does not have). Overall Util = dense MACs / (PEs x total
 * cycles); Compute Util as SCALE-Sim averages it over folds: mapped PEs x T
 * / (PEs x the fold's demand rows + columns - 1), i.e. mapping efficiency x
 * T / (2R + 2C + T - 3) in ws and / (R + C + T - 2) in os; Mapping
 * Efficiency is the mean over folds of mapped PEs / PEs. */
static void write_scalesim_csv(FILE *f, const sim_report *r)
{
    fprintf(f, "LayerID, Total Cycles (incl. prefetch), Total Cycles, Stall Cycles, "
               "Overall Util %%, Mapping Efficiency %%, Compute Util %%,\n");
    double R = r->cfg.rows, C = r->cfg.cols;
    for (int i = 0; i < r->n_layers; i++) {
        const sim_layer_result *l = &r->layers[i];
        double over = l->cycles > 0 ? (double)l->compute_cycles / (double)l->cycles : 1;
        double overall = l->util * over, comp = l->util, T = (double)l->u.T;
        if (r->cfg.compat_scalesim && l->cycles > 0) {
            overall = l->dense_macs / (R * C * (double)l->cycles);
            if (r->cfg.dataflow == SIM_WS)
                comp = l->mapping_eff * T / (2 * R + 2 * C + T - 3);
            else if (r->cfg.dataflow == SIM_OS)
                comp = l->mapping_eff * T / (R + C + T - 2);
        }
        long long incl = l->ss.valid ? (long long)l->ss.incl_prefetch : (long long)l->cycles;
        fprintf(f, "%d, %lld, %lld, %lld, %.6f, %.6f, %.6f,\n", i, incl,
                (long long)l->cycles, (long long)l->stall_cycles, overall * 100,
                l->mapping_eff * 100, comp * 100);
    }
}

/* SCALE-Sim's BANDWIDTH_REPORT.csv: SRAM words per cycle over the layer's
 * total cycles; DRAM words over the span of the DRAM trace (stop - start + 1)
 * with a replay (scalesim_replay), over the total cycles without. */
static void write_bandwidth_csv(FILE *f, const sim_report *r)
{
    fprintf(f, "LayerID, Avg IFMAP SRAM BW, Avg FILTER SRAM BW, Avg OFMAP SRAM BW, "
               "Avg IFMAP DRAM BW, Avg FILTER DRAM BW, Avg OFMAP DRAM BW,\n");
    for (int i = 0; i < r->n_layers; i++) {
        const sim_layer_result *l = &r->layers[i];
        double c = l->cycles > 0 ? (double)l->cycles : 1;
        double d[3] = {c, c, c};
        for (int k = 0; l->ss.valid && k < 3; k++)
            d[k] = l->ss.stop[3 + k] - l->ss.start[3 + k] + 1;
        fprintf(f, "%d, %.6f, %.6f, %.6f, %.6f, %.6f, %.6f,\n", i, l->sram_rd_ifmap / c,
                l->sram_rd_filter / c, l->sram_wr_ofmap / c, l->dram_rd_ifmap / d[0],
                l->dram_rd_filter / d[1], l->dram_wr_ofmap / d[2]);
    }
}

/* SCALE-Sim's DETAILED_ACCESS_REPORT.csv. With a replay the start and stop
 * cycles are its traces'; the analytical model has no trace, so there every
 * start cycle is 0 and every stop cycle the layer's last (total cycles - 1). */
static void write_access_csv(FILE *f, const sim_report *r)
{
    fprintf(f, "LayerID, SRAM IFMAP Start Cycle, SRAM IFMAP Stop Cycle, SRAM IFMAP Reads, "
               "SRAM Filter Start Cycle, SRAM Filter Stop Cycle, SRAM Filter Reads, "
               "SRAM OFMAP Start Cycle, SRAM OFMAP Stop Cycle, SRAM OFMAP Writes, "
               "DRAM IFMAP Start Cycle, DRAM IFMAP Stop Cycle, DRAM IFMAP Reads, "
               "DRAM Filter Start Cycle, DRAM Filter Stop Cycle, DRAM Filter Reads, "
               "DRAM OFMAP Start Cycle, DRAM OFMAP Stop Cycle, DRAM OFMAP Writes,\n");
    for (int i = 0; i < r->n_layers; i++) {
        const sim_layer_result *l = &r->layers[i];
        long long e = l->cycles > 0 ? (long long)l->cycles - 1 : 0;
        double v[6] = {l->sram_rd_ifmap, l->sram_rd_filter, l->sram_wr_ofmap,
                       l->dram_rd_ifmap, l->dram_rd_filter, l->dram_wr_ofmap};
        fprintf(f, "%d", i);
        for (int k = 0; k < 6; k++)
            if (l->ss.valid)
                fprintf(f, ", %.0f, %.0f, %.0f", l->ss.start[k], l->ss.stop[k], v[k]);
            else
                fprintf(f, ", 0, %lld, %.0f", e, v[k]);
        fprintf(f, ",\n");
    }
}

int sim_report_write_scalesim(const sim_report *r, const char *dir)
{
    static const char *names[3] = {"COMPUTE_REPORT.csv", "BANDWIDTH_REPORT.csv",
                                   "DETAILED_ACCESS_REPORT.csv"};
    void (*writers[3])(FILE *, const sim_report *) = {write_scalesim_csv, write_bandwidth_csv,
                                                     write_access_csv};
    for (int k = 0; k < 3; k++) {
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, names[k]) >= (int)sizeof path)
            return nm_seterr("--scalesim-out: directory name too long");
        nm_atomic_file af;
        if (nm_atomic_begin(&af, path))
            return NM_ERR;
        writers[k](af.f, r);
        if (nm_atomic_commit(&af))
            return NM_ERR;
    }
    return NM_OK;
}

static void write_row(FILE *f, const sim_layer_result *l)
{
    const sim_energy *e = &l->e;
    fprintf(f, "%s,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%.6f,%.6f,%.6f,%.0f,%.0f,"
               "%.6f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%lld,%lld,"
               "%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%d\n",
            l->name, (long long)l->g.E, (long long)l->g.Kp, (long long)l->g.Nf,
            (long long)l->u.Sr, (long long)l->u.Sc, (long long)l->u.T,
            (long long)l->u.row_folds, (long long)l->u.col_folds,
            (long long)(l->u.folds * (l->g.groups ? l->g.groups : 1)), (long long)l->cycles,
            l->util, l->mapping_eff, l->mult_util, l->products, l->mult_slots,
            l->fold_util_min, l->w_val_bits / 8, l->w_idx_bits / 8, l->d_val_bits / 8,
            l->d_idx_bits / 8, l->o_val_bits / 8, l->o_idx_bits / 8, l->sram_w_read,
            l->sram_d_read, l->sram_o_write, l->acc_rmw, l->sfu_ops, (long long)l->blocks,
            (long long)l->violations, e->mult, e->add, e->select, e->reg, e->sram_w, e->sram_d,
            e->sram_o, e->acc, e->sfu, e->dram, e->leak, e->total, l->act_applied);
}

static void write_nmlab_csv(FILE *f, const sim_report *r)
{
    char sw[512];
    fprintf(f, "# nmlab sim report, model %s, engine %s, %s\n", r->model, r->engine,
            sim_config_describe(&r->cfg, sw, sizeof sw));
    fprintf(f, "# area um^2: pe %.1f array %.1f accumulators %.1f sfu %.1f sram %.1f total %.1f\n",
            r->area.pe_um2, r->area.array_um2, r->area.acc_um2, r->area.sfu_um2,
            r->area.sram_um2, r->area.total_um2);
    fprintf(f, "layer,E,K',Nf,Sr,Sc,T,row_folds,col_folds,folds,cycles,util,mapping_eff,"
               "mult_util,products,mult_slots,fold_util_min,w_val_B,w_idx_B,d_val_B,d_idx_B,"
               "o_val_B,o_idx_B,sram_w_read_B,sram_d_read_B,sram_o_write_B,acc_rmw,sfu_ops,"
               "blocks,violations,e_mult_pJ,e_add_pJ,e_select_pJ,e_reg_pJ,e_sram_w_pJ,"
               "e_sram_d_pJ,e_sram_o_pJ,e_acc_pJ,e_sfu_pJ,e_dram_pJ,e_leak_pJ,e_total_pJ,act_applied\n");
    for (int i = 0; i < r->n_layers; i++)
        write_row(f, &r->layers[i]);
    write_row(f, &r->total);
}

int sim_report_write_csv(const sim_report *r, const char *path)
{
    nm_atomic_file af;
    if (nm_atomic_begin(&af, path))
        return NM_ERR;
    if (r->cfg.compat_scalesim)
        write_scalesim_csv(af.f, r);
    else
        write_nmlab_csv(af.f, r);
    return nm_atomic_commit(&af);
}

static json_t *energy_json(const sim_energy *e)
{
    return json_pack("{s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "mult", e->mult,
                     "add", e->add, "select", e->select, "reg", e->reg, "sram_w", e->sram_w,
                     "sram_d", e->sram_d, "sram_o", e->sram_o, "acc", e->acc, "sfu", e->sfu,
                     "dram", e->dram, "leak", e->leak, "total", e->total);
}

static json_t *layer_json(const sim_layer_result *l)
{
    json_t *o = json_pack(
        "{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f,s:f,s:f,s:f,s:f,s:f,s:f,"
        "s:f,s:f}",
        "name", l->name, "E", (json_int_t)l->g.E, "K", (json_int_t)l->g.K, "Kp",
        (json_int_t)l->g.Kp, "Nf", (json_int_t)l->g.Nf, "groups", (json_int_t)l->g.groups,
        "Sr", (json_int_t)l->u.Sr, "Sc", (json_int_t)l->u.Sc, "T", (json_int_t)l->u.T,
        "row_folds", (json_int_t)l->u.row_folds, "col_folds", (json_int_t)l->u.col_folds,
        "cycles", (json_int_t)l->cycles, "pe_busy", (json_int_t)l->pe_busy, "util", l->util,
        "mapping_eff", l->mapping_eff, "fold_util_min", l->fold_util_min, "fold_util_max",
        l->fold_util_max, "mult_util", l->mult_util, "products", l->products, "mult_slots",
        l->mult_slots, "dense_macs", l->dense_macs, "eff_macs", l->eff_macs);
    json_t *b = json_pack("{s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "w_val",
                          l->w_val_bits / 8, "w_idx", l->w_idx_bits / 8, "d_val",
                          l->d_val_bits / 8, "d_idx", l->d_idx_bits / 8, "o_val",
                          l->o_val_bits / 8, "o_idx", l->o_idx_bits / 8, "sram_w_read",
                          l->sram_w_read, "sram_d_read", l->sram_d_read, "sram_o_write",
                          l->sram_o_write, "acc_rmw", l->acc_rmw, "sfu_ops", l->sfu_ops, "dram",
                          l->dram_bytes);
    if (!o || !b) {
        json_decref(o), json_decref(b);
        return NULL;
    }
    json_object_set_new(o, "bytes", b);
    json_object_set_new(o, "energy_pj", energy_json(&l->e));
    json_object_set_new(o, "blocks", json_integer(l->blocks));
    json_object_set_new(o, "violations", json_integer(l->violations));
    json_object_set_new(o, "act_applied", json_integer(l->act_applied));
    json_object_set_new(o, "memory",
                        json_pack("{s:I,s:I,s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "compute_cycles",
                                  (json_int_t)l->compute_cycles, "stall_cycles",
                                  (json_int_t)l->stall_cycles, "sram_rd_ifmap", l->sram_rd_ifmap,
                                  "sram_rd_filter", l->sram_rd_filter, "sram_wr_ofmap",
                                  l->sram_wr_ofmap, "dram_rd_ifmap", l->dram_rd_ifmap,
                                  "dram_rd_filter", l->dram_rd_filter, "dram_wr_ofmap",
                                  l->dram_wr_ofmap, "bw_need", l->bw_need));
    return o;
}

int sim_report_write_json(const sim_report *r, const char *path)
{
    char sw[512], mac[48];
    const sim_config *c = &r->cfg;
    json_t *root = json_object(), *layers = json_array();
    json_t *sws = json_pack(
        "{s:s,s:i,s:i,s:s,s:s,s:i,s:s,s:s,s:s,s:b,s:b,s:b,s:b,s:s,s:i,s:i}", "mac",
        sim_mac_name(&c->mac, mac, sizeof mac), "rows", c->rows, "cols", c->cols, "dataflow",
        sim_dataflow_name(c->dataflow), "compat", c->compat_scalesim ? "scalesim" : "none",
        "batch", c->compat_scalesim ? 1 : c->batch, "idle",
        c->idle == SIM_IDLE_GATED ? "gated" : "skipped", "windex",
        sim_index_scheme_name(c->windex), "dindex", sim_index_scheme_name(c->dindex),
        "im2col_reread", c->im2col_reread, "dram", c->dram, "leakage", c->leakage,
        "derive_in_chans", c->derive_in_chans, "area",
        c->area_mode == SIM_AREA_CALIBRATED ? "calibrated" : "bottom-up", "node_nm",
        c->et.node_nm, "sram_kb", c->sram_kb);
    json_t *area = json_pack("{s:f,s:f,s:f,s:f,s:f,s:f}", "pe_um2", r->area.pe_um2, "array_um2",
                             r->area.array_um2, "acc_um2", r->area.acc_um2, "sfu_um2",
                             r->area.sfu_um2, "sram_um2", r->area.sram_um2, "total_um2",
                             r->area.total_um2);
    if (sws)
        json_object_set_new(sws, "act", json_string(c->act_all ? "all" : "auto"));
    int ok = root && layers && sws && area;
    for (int i = 0; ok && i < r->n_layers; i++) {
        json_t *l = layer_json(&r->layers[i]);
        ok = l && !json_array_append_new(layers, l);
    }
    json_t *tot = ok ? layer_json(&r->total) : NULL;
    if (!ok || !tot) {
        json_decref(root), json_decref(layers), json_decref(sws), json_decref(area);
        json_decref(tot);
        return nm_seterr("%s: out of memory building the report", path);
    }
    json_object_set_new(root, "model", json_string(r->model));
    json_object_set_new(root, "engine", json_string(r->engine));
    json_object_set_new(root, "switches", sws);
    json_object_set_new(root, "switches_text",
                        json_string(sim_config_describe(c, sw, sizeof sw)));
    json_object_set_new(root, "area", area);
    json_t *et = json_object();
    sim_energy_table tab = c->et;
    double *slot;
    const char *name;
    json_object_set_new(et, "node_nm", json_integer(tab.node_nm));
    for (int i = 0; (name = sim_energy_field(&tab, i, &slot)); i++)
        json_object_set_new(et, name, json_real(*slot));
    json_object_set_new(root, "energy_table", et);
    json_object_set_new(root, "layers", layers);
    json_object_set_new(root, "total", tot);
    nm_atomic_file af;
    if (nm_atomic_begin(&af, path)) {
        json_decref(root);
        return NM_ERR;
    }
    int rc = json_dumpf(root, af.f, JSON_INDENT(1) | JSON_REAL_PRECISION(10));
    json_decref(root);
    if (rc) {
        nm_atomic_abort(&af);
        return nm_seterr("%s: could not write the JSON report", path);
    }
    fputc('\n', af.f);
    return nm_atomic_commit(&af);
}
