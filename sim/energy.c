/* energy.c - the replaceable energy/area table (defaults from ENERGY.md,
 * JSON loading, node scaling), per-layer memory traffic and energy. */
#include "sim.h"
#include "fileutil.h"

#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Area defaults for the components around the array, derived from the
 * paper's JointNF-4-4 system (16x16 nm-MAC-4-4, 4.00 pMAC cells each, is
 * 37.2 % of the area; memory 31.3 %, accumulators 18.5 %, SFU 13.0 %), with
 * one accumulator per column, one SFU PE per row and 192 KB of SRAM. */
static void derived_system_areas(sim_energy_table *et)
{
    double array = 16.0 * 16.0 * 4.00 * et->pmac_cell_um2;
    double total = array / 0.372;
    et->sram_um2_per_kb = 0.313 * total / 192.0;
    et->acc_um2_per_col = 0.185 * total / 16.0;
    et->sfu_um2_per_row = 0.130 * total / 16.0;
}

void sim_energy_defaults(sim_energy_table *et)
{
    memset(et, 0, sizeof *et);
    et->node_nm = 45;
    et->mul8_pj = 0.2;              /* Horowitz ISSCC 2014 */
    et->idle_mul_pj = 0.018;        /* Aladdin gated MAC */
    et->add_acc_pj = 0.1;           /* 32-bit add */
    et->select_pj = 0.03;           /* 9:1 select of 12 bits (estimate) */
    et->reg_bit_pj = 0.009;         /* Aladdin */
    et->sram_pj_per_byte = 20.0 / 8.0;  /* 32 KB SRAM: 20 pJ per 64 bits */
    et->dram_pj_per_bit = 8.0;      /* LPDDR4 */
    et->acc_rmw_pj = 10.0 + 0.1;    /* RMW of 32 bits + its add (estimate) */
    et->sfu_pj = 2.0;               /* per output (estimate) */
    et->leak_pw_per_um2 = 5000.0;   /* 5 mW/mm^2 (estimate, off by default) */
    et->clock_ghz = 1.0;
    et->mul8_um2 = 282, et->add8_um2 = 36, et->add32_um2 = 137;
    et->reg_bit_um2 = 5.98, et->mux2_bit_um2 = 1.9;
    et->pmac_cell_um2 = 625;
    derived_system_areas(et);
}

typedef struct { const char *name; size_t off; } field;
#define F(x) {#x, offsetof(sim_energy_table, x)}
static const field fields[] = {
    F(mul8_pj), F(idle_mul_pj), F(add_acc_pj), F(select_pj), F(reg_bit_pj),
    F(sram_pj_per_byte), F(dram_pj_per_bit), F(acc_rmw_pj), F(sfu_pj),
    F(leak_pw_per_um2), F(clock_ghz), F(mul8_um2), F(add8_um2), F(add32_um2),
    F(reg_bit_um2), F(mux2_bit_um2), F(pmac_cell_um2), F(acc_um2_per_col),
    F(sfu_um2_per_row), F(sram_um2_per_kb),
};
#undef F
#define N_FIELDS (sizeof fields / sizeof fields[0])

int sim_energy_field_count(void) { return (int)N_FIELDS; }

const char *sim_energy_field(sim_energy_table *et, int i, double **slot)
{
    if (i < 0 || i >= (int)N_FIELDS)
        return NULL;
    if (slot)
        *slot = (double *)((char *)et + fields[i].off);
    return fields[i].name;
}

/* The one check of a value: node_nm an integer in 1..1000, every other
 * field a positive finite number (0 would make equal-area sides and
 * leakage divide by zero; NaN, Inf and negatives make reports nonsense). */
static int check_value(const char *key, double v)
{
    if (!strcmp(key, "node_nm")) {
        if (!(v >= 1 && v <= 1000) || v != floor(v))
            return nm_seterr("'node_nm' must be an integer in 1..1000 (got %g)", v);
        return NM_OK;
    }
    if (!(v > 0) || !isfinite(v))
        return nm_seterr("'%s' must be a positive finite number (got %g)", key, v);
    return NM_OK;
}

int sim_energy_set(sim_energy_table *et, const char *key, double v)
{
    size_t i = 0;
    if (strcmp(key, "node_nm")) {
        while (i < N_FIELDS && strcmp(fields[i].name, key))
            i++;
        if (i == N_FIELDS)
            return nm_seterr("unknown key '%s'", key);
    }
    if (check_value(key, v))
        return NM_ERR;
    if (!strcmp(key, "node_nm"))
        et->node_nm = (int)v;
    else
        *(double *)((char *)et + fields[i].off) = v;
    return NM_OK;
}

int sim_energy_check(const sim_energy_table *et)
{
    int bad = check_value("node_nm", et->node_nm);
    for (size_t i = 0; i < N_FIELDS && !bad; i++)
        bad = check_value(fields[i].name, *(const double *)((const char *)et + fields[i].off));
    if (bad) {
        char why[200];
        snprintf(why, sizeof why, "%s", nm_errmsg());
        return nm_seterr("energy table: %s", why);
    }
    return NM_OK;
}

int sim_energy_load_json(const char *path, sim_energy_table *et)
{
    unsigned char *text;
    size_t len;
    if (nm_read_file(path, 1 << 20, &text, &len))
        return NM_ERR;
    json_error_t jerr;
    json_t *root = json_loadb((const char *)text, len, 0, &jerr);
    free(text);
    if (!root)
        return nm_seterr("%s: line %d: %s", path, jerr.line, jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return nm_seterr("%s: the energy table must be a JSON object", path);
    }
    sim_energy_table t = *et;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "comment") || !strcmp(key, "source"))
            continue;
        if (!json_is_number(v)) {
            nm_seterr("%s: '%s' must be a number", path, key); /* key dies with root */
            json_decref(root);
            return NM_ERR;
        }
        if (sim_energy_set(&t, key, json_number_value(v))) {
            char why[256];
            snprintf(why, sizeof why, "%s", nm_errmsg());
            nm_seterr("%s: %s", path, why);
            json_decref(root);
            return NM_ERR;
        }
    }
    json_decref(root);
    *et = t;
    return NM_OK;
}

int sim_energy_save_json(const char *path, const sim_energy_table *et)
{
    json_t *root = json_object();
    if (!root)
        return nm_seterr("out of memory");
    json_object_set_new(root, "node_nm", json_integer(et->node_nm));
    for (size_t i = 0; i < N_FIELDS; i++)
        json_object_set_new(root, fields[i].name,
                            json_real(*(const double *)((const char *)et + fields[i].off)));
    nm_atomic_file af;
    if (nm_atomic_begin(&af, path)) {
        json_decref(root);
        return NM_ERR;
    }
    int rc = json_dumpf(root, af.f, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(12));
    json_decref(root);
    if (rc) {
        nm_atomic_abort(&af);
        return nm_seterr("%s: could not write the energy table", path);
    }
    fputc('\n', af.f);
    return nm_atomic_commit(&af);
}

int sim_energy_scale(sim_energy_table *et, int to_nm)
{
    double fe, fa;
    int from = et->node_nm;
    if (from == to_nm)
        return NM_OK;
    if (from == 45 && to_nm == 16)
        fe = 0.174, fa = 0.19;
    else if (from == 65 && to_nm == 45)
        fe = 0.806, fa = 0.66;
    else if (from == 65 && to_nm == 16)
        fe = 0.806 * 0.174, fa = 0.66 * 0.19;
    else
        return nm_seterr("no Stillmaker & Baas factors from %d nm to %d nm (have 65->45, 45->16)",
                         from, to_nm);
    for (size_t i = 0; i < N_FIELDS; i++) {
        double *x = (double *)((char *)et + fields[i].off);
        if (!strcmp(fields[i].name, "clock_ghz") || !strcmp(fields[i].name, "leak_pw_per_um2"))
            continue;
        *x *= strstr(fields[i].name, "um2") ? fa : fe;
    }
    et->node_nm = to_nm;
    return NM_OK;
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

static int bits_for(int64_t n)     /* ceil(log2 n), 0 for n <= 1 */
{
    int b = 0;
    while (((int64_t)1 << b) < n)
        b++;
    return b;
}

static double log2_binom(int m, int n)
{
    return (lgamma(m + 1.0) - lgamma(n + 1.0) - lgamma(m - n + 1.0)) / log(2.0);
}

/* Index bits for `groups` groups of length m holding n nonzeros each. */
static double index_bits(sim_index_scheme s, double groups, int m, int n)
{
    if (m <= 1 || n >= m)
        return 0;   /* dense: nothing to index */
    switch (s) {
    case SIM_IDX_BITMASK: return groups * m;
    case SIM_IDX_COMB: return groups * ceil(log2_binom(m, n) - 1e-9);
    default: return groups * n * bits_for(m);
    }
}

void sim_layer_memory(const sim_gemm *g, const sim_config *cfg, sim_layer_result *res)
{
    const sim_mac *mac = &cfg->mac;
    const sim_units *u = &res->u;
    double G = (double)g->groups, E = (double)g->E, Kp = (double)g->Kp, Nf = (double)g->Nf;
    int s = sim_mac_span(mac);
    /* Weights. */
    if (mac->kind == SIM_PMAC) {
        res->w_val_bits = Nf * Kp * 8;
        if (cfg->compat_scalesim && g->wn > 0 && g->wm > 0)
            res->w_idx_bits = index_bits(cfg->windex, Nf * (double)ceil_div(g->K, g->wm), g->wm, g->wn);
    } else {
        double slices = Nf * (double)ceil_div(g->Kp, s);
        double stored = (double)u->split * mac->wn;     /* fixed format, zero padded */
        res->w_val_bits = slices * stored * 8;
        int n = u->w_nnz_slice;
        res->w_idx_bits = cfg->windex == SIM_IDX_SIMPLE ? slices * stored * bits_for(s)
                                                        : index_bits(cfg->windex, slices, s, n);
    }
    /* Data (the im2col matrix, or the feature map when activations are
     * reused across window positions). */
    double reuse = cfg->im2col_reread ? 1.0 : fmin(1.0, (double)g->in_bytes / (E * Kp));
    /* compressed only where the layer's data is N:M (nm_layer_act_source)
     * and where its outputs go through the SFU's NMReLU (act_sink) */
    if (sim_gemm_act_applied(g, cfg)) {
        double groups = (double)ceil_div(g->E, mac->dm) * Kp;
        res->d_val_bits = groups * mac->dn * 8 * reuse;
        res->d_idx_bits = index_bits(cfg->dindex, groups, mac->dm, mac->dn) * reuse;
    } else {
        res->d_val_bits = E * Kp * 8 * reuse;
    }
    if (mac->kind == SIM_NM && !g->out_dense) {
        double og = (double)ceil_div(g->E, mac->dm) * Nf;  /* NMReLU outputs */
        res->o_val_bits = og * mac->dn * 8;
        res->o_idx_bits = index_bits(cfg->dindex, og, mac->dm, mac->dn);
    } else {
        res->o_val_bits = E * Nf * 8;
    }
    res->w_val_bits *= G, res->w_idx_bits *= G, res->d_val_bits *= G, res->d_idx_bits *= G;
    res->o_val_bits *= G, res->o_idx_bits *= G;
    /* Traffic: how often each tensor is streamed from SRAM. */
    double wrep = 1, drep = (double)u->col_folds, acc = E * Nf * (double)u->row_folds;
    if (cfg->dataflow == SIM_IS)
        wrep = (double)u->col_folds, drep = 1;
    if (cfg->dataflow == SIM_OS)
        wrep = (double)u->row_folds, acc = E * Nf;
    res->sram_w_read = (res->w_val_bits + res->w_idx_bits) / 8 * wrep;
    res->sram_d_read = (res->d_val_bits + res->d_idx_bits) / 8 * drep;
    res->sram_o_write = (res->o_val_bits + res->o_idx_bits) / 8;
    res->acc_rmw = acc * G;
    res->sfu_ops = E * Nf * G;
    res->dram_bytes = cfg->dram ? (res->w_val_bits + res->w_idx_bits + res->d_val_bits +
                                   res->d_idx_bits + res->o_val_bits + res->o_idx_bits) / 8
                                : 0;
}

/* Register bits touched per busy PE-cycle, and loaded per mapped PE. */
static double reg_bits_cycle(const sim_mac *mac)
{
    switch (mac->kind) {
    case SIM_PMAC: return 8 + 24;
    case SIM_BMAC: return mac->wm * 8 + 24;
    default: return mac->wm * (8 + bits_for(mac->dm)) + mac->wn * 24;
    }
}

static double reg_bits_load(const sim_mac *mac)
{
    return mac->kind == SIM_PMAC ? 8 : mac->wn * (8 + bits_for(mac->wm));
}

void sim_layer_energy(const sim_config *cfg, sim_layer_result *res)
{
    const sim_energy_table *et = &cfg->et;
    const sim_mac *mac = &cfg->mac;
    sim_energy *e = &res->e;
    memset(e, 0, sizeof *e);
    double idle = res->mult_slots - res->products;
    e->mult = res->products * et->mul8_pj +
              (cfg->idle == SIM_IDLE_GATED && idle > 0 ? idle * et->idle_mul_pj : 0);
    e->add = res->products * et->add_acc_pj;
    e->select = mac->kind == SIM_PMAC ? 0 : res->products * et->select_pj;
    double loads = (double)res->u.Sr * (double)res->u.Sc * (double)res->g.groups;
    e->reg = et->reg_bit_pj * ((double)res->pe_busy * reg_bits_cycle(mac) +
                               (cfg->dataflow == SIM_OS ? 0 : loads * reg_bits_load(mac)));
    e->sram_w = res->sram_w_read * et->sram_pj_per_byte;
    e->sram_d = res->sram_d_read * et->sram_pj_per_byte;
    e->sram_o = res->sram_o_write * et->sram_pj_per_byte;
    e->acc = res->acc_rmw * et->acc_rmw_pj;
    e->sfu = res->sfu_ops * et->sfu_pj;
    e->dram = cfg->dram ? res->dram_bytes * 8 * et->dram_pj_per_bit : 0;
    if (cfg->leakage) {
        sim_area a;
        sim_area_get(cfg, &a);
        e->leak = a.total_um2 * et->leak_pw_per_um2 * (double)res->cycles / (et->clock_ghz * 1e9);
    }
    e->total = e->mult + e->add + e->select + e->reg + e->sram_w + e->sram_d + e->sram_o +
               e->acc + e->sfu + e->dram + e->leak;
}
