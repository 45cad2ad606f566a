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
    /* the replay has SCALE-Sim's buffers, which refetch instead of refusing */
    if (!cfg->mem_on || (cfg->compat_scalesim && cfg->scalesim_replay))
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

/* ---- SCALE-Sim v3 parity (compat) ----------------------------------------
 * What SCALE-Sim v3 (scalesim-project/scale-sim-v3, run as a peer by
 * tests/peers/scalesim_parity.py) counts, where a closed form reproduces its
 * trace-driven memory system exactly. Word size 1, active buffer fraction
 * 0.5, as its single_layer_sim sets them. */

/* One axis of a conv as SCALE-Sim's im2col addresses it (no padding, `out`
 * windows of `k` at stride `s` over `in`): *touched = input positions some
 * window covers, *valid = window entries inside the input (entries outside
 * are its -1 "no request"). */
static void ss_axis(int64_t in, int64_t k, int64_t s, int64_t out, double *touched, double *valid)
{
    double t = 0, v = 0;
    int64_t reach = 0;      /* first position not yet covered */
    for (int64_t o = 0; o < out; o++) {
        int64_t a = o * s, b = a + k < in ? a + k : in;
        if (b > a)
            v += (double)(b - a);
        if (b > reach) {
            t += (double)(b - (a > reach ? a : reach));
            reach = b;
        }
    }
    *touched = t, *valid = v;
}

/* Distinct ifmap addresses (*uniq) and non-null im2col entries (*valid) of
 * one group's E x K' operand. */
static void ss_ifmap_addrs(const sim_gemm *g, double *uniq, double *valid)
{
    if (g->in_h < 1 || g->in_w < 1 || g->stride_h < 1 || g->stride_w < 1) {
        *uniq = *valid = (double)g->E * (double)g->Kp;
        return;
    }
    int64_t oh = (g->in_h - g->kh + g->stride_h + g->stride_h - 1) / g->stride_h;
    int64_t ow = oh > 0 ? g->E / oh : 0;
    double th, vh, tw, vw, c = (double)g->Kp / ((double)g->kh * (double)g->kw);
    ss_axis(g->in_h, g->kh, g->stride_h, oh, &th, &vh);
    ss_axis(g->in_w, g->kw, g->stride_w, ow, &tw, &vw);
    *uniq = th * tw * c, *valid = vh * vw * c;
}

/* CALC mode (read_buffer_estimate_bw): an address missing from the last
 * 50 completed sets of floor(words/100) addresses is fetched. Every
 * distinct address is fetched exactly once when all of them fit in those
 * sets; when they do not, an operand whose entries are all distinct
 * (valid == uniq) and whose every pass demands all of them in the same
 * order (passes > 0: the ifmap, once per column fold) is fetched once per
 * pass (a pass's start has left the window before it comes round again).
 * Otherwise SCALE-Sim refetches what slid out of its window, which depends
 * on the address trace: -1. */
static double ss_calc_reads(double kb, double uniq, double valid, double passes)
{
    double cap = 50.0 * floor(kb * 1024.0 / 100.0);
    if (uniq < cap || (passes == 1 && valid == uniq))
        return uniq;
    return passes > 0 && valid == uniq ? uniq * passes : -1;
}

/* USER mode (read_buffer): the prefetch matrix (npf entries with its -1
 * padding, nvalid non-null) reflowed into lines of bw words and hashed into
 * sets of ceil(words/100) entries; the first ceil(words/2) words are fetched
 * before the layer starts. When all sets fit the active half, nothing more is
 * ever fetched and no read stalls: DRAM reads = the lines of that first fetch
 * x bw. Otherwise SCALE-Sim's window rotates through the sets on every miss
 * (whole-ring rotations when a fold straddles a window edge): -1. */
static double ss_user_reads(double kb, int64_t bw, double npf, double nvalid)
{
    double words = floor(kb * 1024.0), act = ceil(words * 0.5), eps = ceil(words / 100.0);
    double sets = floor(nvalid / eps) + 1, act_sets = ceil(act / eps);
    if (sets > act_sets)
        return -1;
    double lines = ceil(act / (double)bw), rows = ceil(npf / (double)bw);
    return (lines < rows ? lines : rows) * (double)bw;
}

/* The compat counts: SRAM accesses of SCALE-Sim's demand matrices, DRAM
 * reads where ss_calc_reads / ss_user_reads are exact (res->dram_* keep
 * nmlab's model elsewhere), and the ofmap words SCALE-Sim's write buffer
 * drains (every partial sum written, as its demand matrices write them). */
static void ss_counts(const sim_gemm *g, const sim_config *cfg, sim_layer_result *res)
{
    const sim_units *u = &res->u;
    double G = (double)g->groups, R = cfg->rows, C = cfg->cols;
    double E = (double)g->E, K = (double)g->Kp, Nf = (double)g->Nf;
    double rf = (double)u->row_folds, cf = (double)u->col_folds, folds = rf * cf;
    int os = cfg->dataflow == SIM_OS;
    double wrep = os ? rf : 1, drep = cf;
    res->sram_rd_ifmap = E * K * drep * G;
    res->sram_rd_filter = K * Nf * wrep * G;
    /* os: SCALE-Sim adds each fold's R + C to its ofmap write count */
    res->sram_wr_ofmap = (os ? E * Nf + folds * (R + C) : E * Nf * rf) * G;
    res->dram_wr_ofmap = (os ? E * Nf : E * Nf * rf) * G;
    if (!cfg->mem_on || cfg->dataflow == SIM_IS)
        return;
    double uniq, valid;
    ss_ifmap_addrs(g, &uniq, &valid);
    double di, df;
    if (cfg->bandwidth > 0 && cfg->bandwidth != floor(cfg->bandwidth)) {
        di = df = -1;   /* SCALE-Sim's bandwidths are whole words per cycle */
    } else if (cfg->bandwidth > 0) {
        int64_t bw = (int64_t)cfg->bandwidth;
        double npf_i = os ? rf * R * K : E * rf * R;    /* os: row folds of E; ws: of K */
        double npf_f = cf * K * C;
        di = ss_user_reads(cfg->sram_ifmap_kb, bw, npf_i, valid);
        df = ss_user_reads(cfg->sram_filter_kb, bw, npf_f, K * Nf);
    } else {
        di = ss_calc_reads(cfg->sram_ifmap_kb, uniq, valid, drep);
        /* filters: ws demands each once; os per row fold but only the
         * current column fold's, a working set the rule above misses */
        df = ss_calc_reads(cfg->sram_filter_kb, K * Nf, K * Nf, os ? 0 : 1);
    }
    if (di >= 0)
        res->dram_rd_ifmap = di * G;
    if (df >= 0)
        res->dram_rd_filter = df * G;
    res->mem_exact = (di >= 0) + 2 * (df >= 0);
}

/* ss_counts in words of word_bytes (SCALE-Sim's word is one byte). */
static void ss_counts_words(const sim_gemm *g, const sim_config *cfg, sim_layer_result *res)
{
    double m = res->dram_rd_ifmap, f = res->dram_rd_filter;
    double wb = cfg->mem_on ? cfg->word_bytes : 1;
    res->dram_rd_ifmap *= wb, res->dram_rd_filter *= wb;   /* back to bytes for ss_counts */
    ss_counts(g, cfg, res);
    if (!(res->mem_exact & 1))
        res->dram_rd_ifmap = m * wb;
    if (!(res->mem_exact & 2))
        res->dram_rd_filter = f * wb;
    res->sram_rd_ifmap /= wb, res->sram_rd_filter /= wb, res->sram_wr_ofmap /= wb;
    res->dram_rd_ifmap /= wb, res->dram_rd_filter /= wb, res->dram_wr_ofmap /= wb;
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
    if (cfg->mem_on) {
        if (fw / G > buf_bytes(cfg, cfg->sram_filter_kb))
            fw *= wrep;
        if (fd / G > buf_bytes(cfg, cfg->sram_ifmap_kb))
            fd *= drep;
    }
    res->dram_rd_ifmap = fd / wb;
    res->dram_rd_filter = fw / wb;
    res->dram_wr_ofmap = fo / wb;
    if (cfg->compat_scalesim)
        ss_counts_words(g, cfg, res);
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

int sim_layer_scalesim(const sim_gemm *g, const sim_config *cfg, sim_layer_result *res)
{
    if (!cfg->compat_scalesim || !cfg->mem_on || !cfg->scalesim_replay ||
        cfg->dataflow == SIM_IS || g->groups != 1 || g->Kp != g->K)
        return NM_OK;
    sim_scalesim_trace t;
    if (sim_scalesim_replay(g, cfg, &t))
        return nm_seterr("layer '%s': %s", g->name, nm_errmsg());
    double wb = cfg->word_bytes;
    res->ss = t;
    res->cycles = t.total_cycles;
    res->stall_cycles = t.stall_cycles;
    res->compute_cycles = t.total_cycles - t.stall_cycles;
    res->dram_rd_ifmap = t.dram[0] / wb;
    res->dram_rd_filter = t.dram[1] / wb;
    res->dram_wr_ofmap = t.dram[2] / wb;
    res->mem_exact = 3;
    double words = res->dram_rd_ifmap + res->dram_rd_filter + res->dram_wr_ofmap;
    res->bw_need = words / (res->compute_cycles > 0 ? (double)res->compute_cycles : 1);
    if (cfg->dram)
        res->dram_bytes = words * wb;
    sim_layer_energy(cfg, res);
    return NM_OK;
}
