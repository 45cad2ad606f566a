/* memory.c - the memory model: double-buffered ifmap/filter/ofmap SRAMs in
 * front of a DRAM interface of `bandwidth` words per cycle (or "calc": the
 * bandwidth each layer needs to never stall). Analytical, per layer:
 *
 *   SRAM words  = the bytes each operand streams into the array (energy.c's
 *                 sram_*: values plus indices, times the operand's re-reads
 *                 across folds) / word_bytes.
 *   DRAM words  = an operand's footprint once when it is used in one pass
 *                 or when its footprint (per group) fits the buffer
 *                 (half the SRAM when double-buffered), else once per pass
 *                 (WS ifmap and OS ifmap: col_folds; IS filter: col_folds;
 *                 OS filter: row_folds). Outputs are written once (partial
 *                 sums stay in the accumulators).
 *   Stall       = traffic spread evenly over the folds; with double
 *                 buffering fold f+1's prefetch overlaps fold f's compute,
 *                 stall = folds x max(0, words per fold / bandwidth -
 *                 compute cycles per fold); without it, every transfer
 *                 stalls: folds x words per fold / bandwidth. The first
 *                 fold's buffer is assumed preloaded (as SCALE-Sim does).
 *   Need (calc) = DRAM words / compute cycles (no stall at that bandwidth
 *                 with double buffering).
 * With the model off (mem_on = 0) SRAMs and bandwidth are unlimited: no
 * stall, every tensor crosses DRAM once. */
#include "sim.h"

#include <math.h>
#include <string.h>

int sim_mem_check(const sim_config *cfg)
{
    if (!cfg->mem_on)
        return NM_OK;
    const char *nm[3] = {"sram_kb.ifmap", "sram_kb.filter", "sram_kb.ofmap"};
    double kb[3] = {cfg->sram_ifmap_kb, cfg->sram_filter_kb, cfg->sram_ofmap_kb};
    for (int i = 0; i < 3; i++)
        if (!(kb[i] > 0) || !isfinite(kb[i]) || kb[i] > 1 << 24)
            return nm_seterr("%s = %g: SRAM size must be a positive number of KB (at most 2^24)",
                             nm[i], kb[i]);
    if (cfg->word_bytes < 1 || cfg->word_bytes > 64)
        return nm_seterr("word_bytes = %d: must be in 1..64", cfg->word_bytes);
    if (!(cfg->bandwidth >= 0) || !isfinite(cfg->bandwidth))
        return nm_seterr("bandwidth = %g: must be a positive number of words per cycle or 'calc'",
                         cfg->bandwidth);
    return NM_OK;
}

/* Usable bytes of one operand's SRAM: half when double-buffered. */
static double buf_bytes(const sim_config *cfg, double kb)
{
    return kb * 1024.0 * (cfg->double_buffer ? 0.5 : 1.0);
}

static double footprint_w(const sim_layer_result *r) { return (r->w_val_bits + r->w_idx_bits) / 8; }
static double footprint_d(const sim_layer_result *r) { return (r->d_val_bits + r->d_idx_bits) / 8; }
static double footprint_o(const sim_layer_result *r) { return (r->o_val_bits + r->o_idx_bits) / 8; }

int sim_layer_mem_fit(const sim_gemm *g, const sim_config *cfg, const sim_layer_result *res)
{
    if (!cfg->mem_on)
        return NM_OK;
    double folds = (double)res->u.folds * (double)g->groups;
    if (folds <= 0)
        return NM_OK;
    /* the stationary operand of one fold (average over folds) */
    if (cfg->dataflow == SIM_WS) {
        double need = footprint_w(res) / folds, have = buf_bytes(cfg, cfg->sram_filter_kb);
        if (need > have)
            return nm_seterr("layer '%s': one fold's weights (%.0f bytes) do not fit the filter "
                             "SRAM buffer (%.0f bytes; raise sram_kb.filter)", g->name, need, have);
    } else if (cfg->dataflow == SIM_IS) {
        double need = footprint_d(res) / folds, have = buf_bytes(cfg, cfg->sram_ifmap_kb);
        if (need > have)
            return nm_seterr("layer '%s': one fold's inputs (%.0f bytes) do not fit the ifmap "
                             "SRAM buffer (%.0f bytes; raise sram_kb.ifmap)", g->name, need, have);
    }
    /* every dataflow: one column of outputs (R or C words) in the ofmap buffer */
    double need_o = (double)(cfg->rows > cfg->cols ? cfg->rows : cfg->cols) * cfg->word_bytes;
    if (need_o > buf_bytes(cfg, cfg->sram_ofmap_kb))
        return nm_seterr("layer '%s': one fold's outputs (%.0f bytes) do not fit the ofmap SRAM "
                         "buffer (%.0f bytes; raise sram_kb.ofmap)", g->name, need_o,
                         buf_bytes(cfg, cfg->sram_ofmap_kb));
    return NM_OK;
}

void sim_layer_dram(const sim_gemm *g, const sim_config *cfg, sim_layer_result *res)
{
    const sim_units *u = &res->u;
    double wb = cfg->mem_on ? cfg->word_bytes : 1, G = (double)g->groups;
    res->compute_cycles = res->cycles;
    res->stall_cycles = 0;
    res->sram_rd_ifmap = res->sram_d_read / wb;
    res->sram_rd_filter = res->sram_w_read / wb;
    res->sram_wr_ofmap = res->sram_o_write / wb;
    double fw = footprint_w(res), fd = footprint_d(res), fo = footprint_o(res);
    double wrep = 1, drep = (double)u->col_folds;   /* WS */
    if (cfg->dataflow == SIM_IS)
        wrep = (double)u->col_folds, drep = 1;
    else if (cfg->dataflow == SIM_OS)
        wrep = (double)u->row_folds;
    if (cfg->compat_scalesim) {
        /* SCALE-Sim counts SRAM accesses on its demand matrices: the im2col
         * operand once per pass, partial sums written once per row fold
         * (WS, IS) */
        double EK = (double)g->E * (double)g->Kp, KN = (double)g->Kp * (double)g->Nf;
        double EN = (double)g->E * (double)g->Nf;
        res->sram_rd_ifmap = EK * drep * G / wb;
        res->sram_rd_filter = KN * wrep * G / wb;
        res->sram_wr_ofmap = EN * (cfg->dataflow == SIM_OS ? 1 : (double)u->row_folds) * G / wb;
    }
    if (cfg->mem_on) {
        if (fw / G > buf_bytes(cfg, cfg->sram_filter_kb))
            fw *= wrep;
        if (fd / G > buf_bytes(cfg, cfg->sram_ifmap_kb))
            fd *= drep;
    }
    res->dram_rd_ifmap = fd / wb;
    res->dram_rd_filter = fw / wb;
    res->dram_wr_ofmap = fo / wb;
    double words = res->dram_rd_ifmap + res->dram_rd_filter + res->dram_wr_ofmap;
    double cc = res->compute_cycles > 0 ? (double)res->compute_cycles : 1;
    res->bw_need = words / cc;
    res->mem_cycles = 0;
    if (cfg->mem_on && cfg->bandwidth > 0) {
        /* even spread over the folds: per fold max(0, mem/folds - cc/folds),
         * summed over the folds */
        double mem = words / cfg->bandwidth;
        res->mem_cycles = mem;
        double stall = cfg->double_buffer ? fmax(0.0, mem - cc) : mem;
        res->stall_cycles = (int64_t)ceil(stall - 1e-9);
        /* SCALE-Sim v3's read buffer adds a positive potential stall to its
         * offset twice (a fix exists in v2): compat reproduces that unless
         * the corrected count is asked for */
        if (cfg->compat_scalesim && !cfg->stall_corrected)
            res->stall_cycles *= 2;
        res->cycles += res->stall_cycles;
    }
    if (cfg->dram)
        res->dram_bytes = words * wb;
}
