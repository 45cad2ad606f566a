/* sim.h - systolic-array simulator: MAC kinds, layer -> GEMM mapping, the
 * analytical and cycle-stepped engines, int8 functional models, memory,
 * energy and area, reports.
 *
 * The three MAC kinds (JOINTNF.md section 6) are described by one "unit":
 *   span  s : reduction elements one PE covers (pMAC 1, bMAC 9, nm n_F)
 *   block p : output positions one PE covers per block (pMAC/bMAC 1, nm n_D)
 *   rounds r: cycles per block (pMAC/bMAC 1, nm #D)
 *   mults   : multipliers per PE (pMAC 1, bMAC W, nm #F)
 * A GEMM E x K' x Nf then becomes, in units, Eb = ceil(E/p) position blocks,
 * Kb = ceil(K'/s) reduction slices and Nf filters, each unit step taking r
 * cycles. Spatio-temporal dims (Sr, Sc, T) per dataflow:
 *   WS: (Kb*split, Nf, Eb*r)   IS: (Kb*split, Eb, Nf*r)   OS: (Eb, Nf, Kb*split*r)
 * For pMAC that is exactly SCALE-Sim's (K,Nf,E), (K,E,Nf), (E,Nf,K).
 * `split` = PEs needed per slice when a layer's weights are denser than the
 * MAC's #F (ceil(nonzeros per slice / #F)); 1 when the weights fit.
 *
 * Timing (both engines): the array is always R x C; a fold of WS/IS first
 * loads weights/inputs for R cycles, then streams T items skewed by one cycle
 * per row and column; a fold ends when the last item has passed PE(R-1,C-1):
 *   fold length = load + R + C + T - 2,  load = R (WS, IS) or 0 (OS).
 * Folds do not overlap. compat='scalesim' subtracts 1 from the total
 * (SCALE-Sim's off-by-one, reproduced on purpose); utilization and
 * multiplier-slot counts always use the cycles actually simulated.
 *
 * Memory/energy ownership: everything here is plain structs owned by the
 * caller, except sim_report (sim_report_free) and sim_stepper
 * (sim_stepper_free). No Lua, no curses. */
#ifndef NM_SIM_H
#define NM_SIM_H

#include "error.h"
#include "model.h"
#include "tensor.h"

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- MACs */

typedef enum { SIM_PMAC = 0, SIM_BMAC, SIM_NM, SIM_MAC_KIND_COUNT } sim_mac_kind;

typedef struct {
    sim_mac_kind kind;
    int dn, dm;     /* data #D:n_D (nm); pMAC/bMAC: dense data (1:1) */
    int wn, wm;     /* weights #F:n_F (nm), W:9 (bMAC); pMAC 1:1 */
} sim_mac;

/* Fills *mac and checks it (1 <= n <= m <= 64; bMAC m = 9 by default).
 * NM_ERR with a message for impossible settings. */
int sim_mac_init(sim_mac *mac, sim_mac_kind kind, int dn, int dm, int wn, int wm);
/* Parses "pmac", "bmac" (3:9), "bmac-2" (2:9 weights), "nm-4-4" (4:9 data,
 * 4:9 weights: the paper's naming nm-<#D>-<#F>), or "nm:2:4:2:4"
 * (#D:n_D:#F:n_F). */
int sim_mac_parse(const char *text, sim_mac *mac);
/* "pmac", "bmac-3:9", "nm-4:9-4:9" into buf. */
const char *sim_mac_name(const sim_mac *mac, char *buf, size_t len);
int sim_mac_span(const sim_mac *mac);    /* s */
int sim_mac_block(const sim_mac *mac);   /* p */
int sim_mac_rounds(const sim_mac *mac);  /* r */
int sim_mac_mults(const sim_mac *mac);   /* multipliers per PE */

/* ---------------------------------------------------------- configuration */

typedef enum { SIM_WS = 0, SIM_OS, SIM_IS, SIM_DATAFLOW_COUNT } sim_dataflow;
typedef enum { SIM_IDLE_GATED = 0, SIM_IDLE_SKIPPED } sim_idle_mode;
typedef enum { SIM_IDX_SIMPLE = 0, SIM_IDX_BITMASK, SIM_IDX_COMB } sim_index_scheme;
typedef enum { SIM_AREA_CALIBRATED = 0, SIM_AREA_BOTTOM_UP } sim_area_mode;

const char *sim_dataflow_name(sim_dataflow d);
int sim_dataflow_parse(const char *s);          /* -1 if unknown */
const char *sim_index_scheme_name(sim_index_scheme s);
int sim_index_scheme_parse(const char *s);

/* Energy per operation (pJ) and area (um^2) at node_nm. Defaults from
 * ENERGY.md at 45 nm; replaceable from a JSON file whose keys are the field
 * names (missing keys keep their value, unknown keys are an error). */
typedef struct {
    int node_nm;
    double mul8_pj, idle_mul_pj;        /* active 8-bit multiply; gated idle slot */
    double add_acc_pj;                  /* accumulate into a partial sum (32-bit add) */
    double select_pj;                   /* 9:1 select of 12 bits, per product */
    double reg_bit_pj;                  /* register access, per bit */
    double sram_pj_per_byte;            /* on-chip SRAM (default 32 KB: 20 pJ / 64 bits) */
    double dram_pj_per_bit;             /* LPDDR4 */
    double acc_rmw_pj;                  /* accumulator read-modify-write, incl. its add */
    double sfu_pj;                      /* per output */
    double leak_pw_per_um2;             /* leakage power density (estimate) */
    double clock_ghz;                   /* for leakage */
    /* area */
    double mul8_um2, add8_um2, add32_um2, reg_bit_um2, mux2_bit_um2;
    double pmac_cell_um2;               /* calibrated pMAC cell */
    double acc_um2_per_col, sfu_um2_per_row, sram_um2_per_kb;
} sim_energy_table;

typedef struct {
    sim_mac mac;
    int rows, cols;
    sim_dataflow dataflow;
    int compat_scalesim;        /* 1: SCALE-Sim's formulas, pMAC only */
    int batch;                  /* outside compat (compat: 1) */
    sim_idle_mode idle;
    sim_index_scheme windex, dindex;
    int im2col_reread;          /* 0: each activation read once per stream */
    int dram;                   /* 0: DRAM traffic not counted */
    int leakage;                /* 0: leakage not counted */
    int derive_in_chans;        /* 1: also drop inputs whose producer filter is removed */
    int act_all;                /* 1: the user declares data N:M at every layer; 0 (default):
                                   only where nm_layer_act_source finds an NMReLU or a ReLU
                                   (which the nm-MAC's SFU turns into NMReLU #D:n_D) */
    int sram_kb;                /* total on-chip SRAM for area (default 192) */
    sim_area_mode area_mode;
    sim_energy_table et;
    /* Memory model (memory.c; mem_on = 0: infinite SRAM and bandwidth, no
     * stall, every tensor crosses DRAM once: the results before it). */
    int attention;              /* 1 (default): attention matmuls (QK^T, AV) simulated */
    int mem_on;
    double sram_ifmap_kb, sram_filter_kb, sram_ofmap_kb;   /* > 0 when mem_on */
    int double_buffer;          /* 1 (default): prefetch overlaps compute */
    int word_bytes;             /* bytes per word (default 1) */
    double bandwidth;           /* DRAM words/cycle; 0 = "calc" (never stall) */
    int stall_corrected;        /* compat: 0 (default) counts stalls twice as SCALE-Sim v3's
                                   read buffer does; 1 the corrected count */
    int scalesim_replay;        /* compat + memory model: replay SCALE-Sim v3's memory system
                                   row by row (scalesim_mem.c) instead of the closed forms */
} sim_config;

/* Defaults: the given MAC, rows x cols, WS, batch 1, gated, 4-bit simple
 * indices, no im2col re-read, no DRAM, no leakage, calibrated area, the
 * ENERGY.md table at 45 nm. */
void sim_config_init(sim_config *cfg, const sim_mac *mac, int rows, int cols);
int sim_config_check(const sim_config *cfg);

void sim_energy_defaults(sim_energy_table *et);
/* THE validator of energy-table values, used by the JSON reader and the Lua
 * binding: sets field `key` ("mul8_pj", ..., or "node_nm") of *et to v, or
 * returns NM_ERR (et unchanged) with a message naming the key: node_nm must
 * be an integer in 1..1000, every other field a positive finite number
 * (0, negatives, NaN and Inf are refused); unknown keys are an error. */
int sim_energy_set(sim_energy_table *et, const char *key, double v);
/* The same checks over a whole table (sim_config_check calls it). */
int sim_energy_check(const sim_energy_table *et);
/* Loads keys from a JSON object file over *et (all or nothing; values
 * checked by sim_energy_set, messages prefixed with the path). */
int sim_energy_load_json(const char *path, sim_energy_table *et);
/* Writes *et as such a JSON object (atomically), to start a custom table. */
int sim_energy_save_json(const char *path, const sim_energy_table *et);
/* The table's numeric fields by position (0..count-1), for bindings and
 * reports: returns the field's name and stores a pointer to it in *slot
 * (into et), or NULL past the end. node_nm is separate (an int). */
int sim_energy_field_count(void);
const char *sim_energy_field(sim_energy_table *et, int i, double **slot);
/* Scales energy and area from et->node_nm to to_nm with the Stillmaker &
 * Baas factors (65->45, 45->16, and their product 65->16). */
int sim_energy_scale(sim_energy_table *et, int to_nm);

/* ------------------------------------------------------------- mapping */

typedef struct {
    char name[NM_NAME_MAX];
    int64_t E;          /* output positions x batch */
    int64_t K;          /* dense reduction length (C_in/groups*kh*kw) */
    int64_t Kp;         /* K' used by the array */
    int64_t Nf;         /* filters kept */
    int64_t Nf_all;     /* filters before removal (dense MACs) */
    int64_t groups;     /* independent GEMMs run one after another */
    int64_t in_bytes;   /* input feature map elements (C_in'*H*W*batch), per group */
    int wn, wm;         /* declared weight N:M (0:0 none) */
    int kh, kw;
    /* compat: the conv's input map and strides (SCALE-Sim's address space:
     * which ifmap elements the windows touch); 0 = unknown (a bare GEMM,
     * attention): every E x K' operand entry counts as its own address */
    int64_t in_h, in_w;
    int stride_h, stride_w;
    /* Data N:M per layer (nm MAC only; 0 = the MAC's #D:n_D applies, the
     * default of a bare GEMM): data_dense = the input carries no data N:M
     * (nm_layer_act_source), so every row of an n_D block may hold a value
     * and a block takes n_D rounds, data is stored uncompressed and no
     * product is skipped; out_dense = the outputs go to no ReLU/NMReLU
     * (nm_layer_act_sink) and are stored uncompressed. */
    int data_dense, out_dense;
} sim_gemm;

/* 1 when the MAC exploits data N:M at this GEMM (act_applied in reports). */
int sim_gemm_act_applied(const sim_gemm *g, const sim_config *cfg);
/* Data values per block row the MAC processes per round: #D, or n_D when
 * the GEMM's data is dense (rounds per block). */
int sim_gemm_rounds(const sim_gemm *g, const sim_config *cfg);

/* A conv/dwconv/linear layer of m as a GEMM under cfg (data_dense and
 * out_dense from nm_layer_act_source / nm_layer_act_sink unless
 * cfg->act_all). NM_ERR for other kinds or bad layers. Compat: E from ceil((H-R+s)/s), batch 1, and a
 * declared N:M gives K' = floor(K/M)*N + min(N, K mod M). */
int sim_gemm_from_layer(const nm_model *m, int idx, const sim_config *cfg, sim_gemm *g);
/* 1 when models' layer l is simulated under cfg: conv/dwconv/linear, and
 * attention matmuls (QK^T, AV) unless cfg->attention is 0. */
int sim_layer_simulated(const nm_layer *l, const sim_config *cfg);
/* A bare GEMM (E, K, Nf) for tests and tools. */
void sim_gemm_set(sim_gemm *g, const char *name, int64_t E, int64_t K, int64_t Nf);

/* Units of a GEMM under a MAC (see the top of this file). */
typedef struct {
    int64_t Sr, Sc, T;          /* per group */
    int64_t row_folds, col_folds, folds;
    int64_t load;               /* cycles to load a fold (R or 0) */
    int split;                  /* PEs per weight slice */
    int w_nnz_slice;            /* weight nonzeros stored per slice */
} sim_units;
int sim_units_get(const sim_gemm *g, const sim_config *cfg, sim_units *u);

/* ------------------------------------------------------------- results */

typedef struct {
    double mult, add, select, reg, sram_w, sram_d, sram_o, acc, sfu, dram, leak, total;
} sim_energy;

/* A layer's SCALE-Sim v3 memory replay (scalesim_mem.c): its report
 * columns. Index 0..2 SRAM ifmap reads, filter reads, ofmap writes; 3..5
 * DRAM ifmap reads, filter reads, ofmap writes (start/stop cycles of each
 * trace; dram[] the DRAM counts). */
typedef struct {
    int valid;
    int64_t total_cycles, stall_cycles, incl_prefetch;
    double dram[3];
    double start[6], stop[6];
} sim_scalesim_trace;

typedef struct {
    char name[NM_NAME_MAX];
    sim_gemm g;
    sim_units u;
    int64_t cycles;
    int64_t pe_busy;            /* PE-cycles holding a useful item */
    double util;                /* pe_busy / (R*C*cycles simulated) */
    double mapping_eff;         /* mean over folds of used PEs / R*C */
    double fold_util_min, fold_util_max;
    double products;            /* active products (both operands nonzero) */
    double mult_slots;          /* R*C*mults*cycles */
    double mult_util;           /* products / mult_slots */
    double dense_macs, eff_macs;
    /* memory, bits */
    double w_val_bits, w_idx_bits, d_val_bits, d_idx_bits, o_val_bits, o_idx_bits;
    double sram_w_read, sram_d_read, sram_o_write;  /* bytes moved */
    double acc_rmw, sfu_ops, dram_bytes;
    /* measured rounds (nm with activations) */
    int64_t blocks, violations, max_need;
    /* memory model (memory.c), in words of cfg->word_bytes */
    int64_t compute_cycles, stall_cycles;     /* cycles = compute + stall */
    double sram_rd_ifmap, sram_rd_filter, sram_wr_ofmap;
    double dram_rd_ifmap, dram_rd_filter, dram_wr_ofmap;
    double bw_need;             /* DRAM words/cycle for no stall */
    double mem_cycles;          /* DRAM words / bandwidth (0 without a bandwidth) */
    sim_scalesim_trace ss;      /* compat + scalesim_replay: the replay's columns */
    int mem_exact;              /* compat with the memory model: bit 0 the ifmap, bit 1 the
                                   filter DRAM reads are SCALE-Sim v3's exact count (memory.c) */
    int act_applied;            /* the MAC exploits data N:M here (sim_gemm_act_applied);
                                   the total counts the layers that do */
    sim_energy e;               /* pJ */
} sim_layer_result;

/* Analytical engine: folds, fill and drain, rounds. `acts` (optional,
 * NULL = declared densities) is the layer's data matrix [E, K'] (f32 or i8)
 * of the first group; with an nm MAC in WS it sets each block's rounds to
 * the largest nonzero count of any of its columns in the fold (at least #D
 * when gated, at least 1 when skipped) and counts blocks violating #D. */
int sim_gemm_analytic(const sim_gemm *g, const sim_config *cfg, const nm_tensor *acts,
                      sim_layer_result *res);

/* Cycle-stepped engine: moves item tags through the PE registers each
 * cycle; the timing fields of res (cycles, pe_busy, util, mapping_eff,
 * fold_util_min/max, mult_slots) come from the stepping, the rest
 * (products, memory, energy) from sim_layer_account with declared
 * densities. Refuses more than max_pe_cycles (0 = 2e9) of work. */
int sim_gemm_stepped(const sim_gemm *g, const sim_config *cfg, int64_t max_pe_cycles,
                     sim_layer_result *res);

/* Stepper object for animation: one call = one cycle. */
typedef struct sim_stepper sim_stepper;
sim_stepper *sim_stepper_new(const sim_gemm *g, const sim_config *cfg);
void sim_stepper_free(sim_stepper *s);
/* Advances one cycle; returns 1 while cycles remain, 0 when finished. */
int sim_stepper_step(sim_stepper *s);
/* Current state: cycles so far, fold index (0-based) of how many folds
 * (groups x folds), phase (0 loading stationary operands, 1 streaming), and
 * the R*C grid (row-major) of the item each PE works on (-1 idle); items
 * are stream steps (nm: block*rounds + round). The grid stays owned by s. */
int64_t sim_stepper_cycle(const sim_stepper *s);
int64_t sim_stepper_fold(const sim_stepper *s);
int64_t sim_stepper_folds(const sim_stepper *s);
int sim_stepper_phase(const sim_stepper *s);
const int32_t *sim_stepper_grid(const sim_stepper *s, int *rows, int *cols);
/* Items whose tags disagreed at a PE (0 unless the engine is wrong). */
int64_t sim_stepper_errors(const sim_stepper *s);

/* Products, MAC counts, memory and energy for a result whose timing is
 * filled (both engines call it; acts as in sim_gemm_analytic). */
void sim_layer_account(const sim_gemm *g, const sim_config *cfg, const nm_tensor *acts,
                       sim_layer_result *res);
/* The memory and energy parts of sim_layer_account. */
void sim_layer_memory(const sim_gemm *g, const sim_config *cfg, sim_layer_result *res);
void sim_layer_energy(const sim_config *cfg, sim_layer_result *res);
/* The memory model over a result whose timing and bytes are filled: SRAM
 * and DRAM words per operand, bandwidth needed, stall cycles (added to
 * res->cycles). Also sets res->dram_bytes when cfg->dram. */
void sim_layer_dram(const sim_gemm *g, const sim_config *cfg, sim_layer_result *res);
/* SCALE-Sim v3's memory system replayed for one GEMM (ws/os, one group, no
 * N:M): fills *t (t->valid = 1). NM_ERR (out of memory, bad sizes). */
int sim_scalesim_replay(const sim_gemm *g, const sim_config *cfg, sim_scalesim_trace *t);
/* With compat, the memory model and scalesim_replay: replaces res's cycles,
 * stalls and DRAM counts by the replay's (layers it cannot replay keep the
 * closed forms, res->ss.valid = 0). NM_OK without those settings. */
int sim_layer_scalesim(const sim_gemm *g, const sim_config *cfg, sim_layer_result *res);
/* NM_ERR naming the layer and option when one fold's stationary operand
 * does not fit its SRAM buffer (memory model on). */
int sim_layer_mem_fit(const sim_gemm *g, const sim_config *cfg, const sim_layer_result *res);
/* Checks the memory options (sim_config_check calls it). */
int sim_mem_check(const sim_config *cfg);

/* --------------------------------------------------------------- area */

typedef struct {
    double pe_um2, array_um2, acc_um2, sfu_um2, sram_um2, total_um2;
} sim_area;

/* Area of one PE of `mac` (calibrated or bottom-up). */
double sim_pe_area(const sim_mac *mac, sim_area_mode mode, const sim_energy_table *et);
void sim_area_get(const sim_config *cfg, sim_area *a);
/* Largest square side n with n*n PEs of mac within budget_um2 of array area
 * (at most 2^30; 0 if no PE fits). */
int sim_equal_area_side(const sim_mac *mac, sim_area_mode mode, const sim_energy_table *et,
                        double budget_um2);

/* -------------------------------------------------------------- reports */

typedef struct {
    sim_config cfg;
    char model[NM_NAME_MAX];
    int n_layers;
    sim_layer_result *layers;
    sim_layer_result total;     /* sums; util ratios recomputed */
    sim_area area;
    char engine[16];            /* "analytic" or "stepped" */
} sim_report;

/* Simulates every conv/dwconv/linear layer of m. Caller frees the report
 * with sim_report_free. NULL with a message on failure. */
sim_report *sim_model_run(const nm_model *m, const sim_config *cfg, nm_progress_fn progress,
                          void *ud);
/* The same with the cycle-stepped engine; each layer may take at most
 * max_pe_cycles (0 = 2e9) PE-cycles of stepping. */
sim_report *sim_model_run_stepped(const nm_model *m, const sim_config *cfg,
                                  int64_t max_pe_cycles, nm_progress_fn progress, void *ud);
void sim_report_free(sim_report *r);
/* Recomputes r->total from r->layers[0..n_layers-1], as the runs above do
 * (for callers that fill the layer rows themselves, e.g. the Lua binding). */
void sim_report_totals(sim_report *r);
/* Per-layer CSV (compat: SCALE-Sim COMPUTE_REPORT.csv columns) and JSON,
 * both written atomically. */
int sim_report_write_csv(const sim_report *r, const char *path);
int sim_report_write_json(const sim_report *r, const char *path);
/* SCALE-Sim's COMPUTE_REPORT.csv, BANDWIDTH_REPORT.csv and
 * DETAILED_ACCESS_REPORT.csv (its column names; words, words/cycle) into
 * the existing directory dir, each file written atomically. */
int sim_report_write_scalesim(const sim_report *r, const char *dir);
/* The switches as one line ("mac=nm-4:9-4:9 array=16x16 df=ws ..."). */
const char *sim_config_describe(const sim_config *cfg, char *buf, size_t len);

/* ---------------------------------------------------------- functional */

/* Symmetric int8 quantisation: scale = max|x|/127 (1 if all zero). */
float sim_quantize_sym(const float *x, int64_t n, int8_t *q);
/* Reference: Y[e][f] = sum_k X[e][k]*W[f][k] in int32. X [E,K], W [Nf,K]. */
void sim_gemm_i8_dense(const int8_t *X, const int8_t *W, int64_t E, int64_t K, int64_t Nf,
                       int32_t *Y);

typedef struct {
    int64_t blocks, rounds, violations;  /* nm: data blocks, rounds run, blocks over #D */
    int64_t products;                    /* multiplications performed with nonzero operands */
} sim_func_stats;

/* The array's int8 functional model: the reduction is cut into the MAC's
 * slices (span s), each slice's weights compressed to values + indices (#F
 * per slice; bMAC W, pMAC the single weight), data compressed per block
 * (nm: #D rows of values + row indices per column, more rounds when a
 * column has more nonzeros, counted as violations) and every PE's partial
 * sums accumulated down the slices. NM_ERR if a weight slice has more
 * nonzeros than the MAC's #F. Y [E,Nf] int32. */
int sim_gemm_i8_functional(const sim_mac *mac, const int8_t *X, const int8_t *W, int64_t E,
                           int64_t K, int64_t Nf, int32_t *Y, sim_func_stats *st);

/* The GEMM weight matrix of a conv (groups 1) or linear layer: f32
 * [filters kept, input channels kept * kh * kw], mask applied, columns in
 * (c_in, kh, kw) order. New tensor owned by the caller; NULL on error. */
nm_tensor *sim_layer_weight_matrix(const nm_model *m, int idx);
/* Quantises X (f32 [E, K'], the layer's im2col'd input over the kept
 * channels) and the layer's weight matrix symmetrically to int8 and runs
 * the MAC's functional model: returns Y (i32 [E, filters kept], owned by
 * the caller; Y * x_scale * w_scale approximates X W^T) or NULL, e.g. when
 * the weights do not fit the MAC's #F:n_F. */
nm_tensor *sim_layer_functional(const nm_model *m, int idx, const sim_mac *mac,
                                const nm_tensor *X, float *x_scale, float *w_scale,
                                sim_func_stats *st);

/* Teaching trace of one nm-MAC on one data block (n_D x n_F, row-major) and
 * one weight slice (n_F): the compressed block, the stored weights with
 * their indices, then round by round the data row in, the values picked at
 * the weight indices, each product and the output register it goes to.
 * Steps are separated by blank lines (setup, each round, the result).
 * Returns malloc'd text (caller frees) and the n_D outputs in out[]. */
char *sim_nm_mac_trace(const sim_mac *mac, const int8_t *block, const int8_t *wslice,
                       int32_t *out);
/* The same trace with every index (rows, columns, rounds, multipliers,
 * outputs) counted from `base` (1: as the Lua API and the workbench). */
char *sim_nm_mac_trace_base(const sim_mac *mac, const int8_t *block, const int8_t *wslice,
                            int32_t *out, int base);
/* The trace on the built-in 4x4 example (2:4 data x 2:4 weights, 2 rounds,
 * 2 multipliers); malloc'd text, caller frees. */
char *sim_nm_mac_trace_example(void);

#endif
