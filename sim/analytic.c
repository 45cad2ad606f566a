/* analytic.c - the analytical engine: per-layer folds, fill and drain,
 * rounds (declared or measured from real activations), utilization. */
#include "sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Rounds per row fold measured on X [E, K'] for an nm MAC in WS: for each
 * block b and slice k, need = largest nonzero count of a column of the
 * block; a fold runs all its PE rows in lockstep, so block b takes the max
 * need over the fold's slices (at least #D gated, at least 1 skipped).
 * Writes T per row fold into tf[row_folds] and the violation counts. */
static int measure_rounds(const sim_gemm *g, const sim_config *cfg, const sim_units *u,
                          const nm_tensor *X, int64_t *tf, sim_layer_result *res)
{
    const sim_mac *mac = &cfg->mac;
    if (X->ndim != 2 || X->shape[0] != g->E || X->shape[1] != g->Kp)
        return nm_seterr("layer '%s': activations must be [E=%lld, K'=%lld], got %lldx%lld",
                         g->name, (long long)g->E, (long long)g->Kp, (long long)X->shape[0],
                         (long long)(X->ndim > 1 ? X->shape[1] : 1));
    if (mac->kind != SIM_NM || cfg->dataflow != SIM_WS) {
        for (int64_t f = 0; f < u->row_folds; f++)
            tf[f] = u->T;
        return NM_OK;
    }
    int64_t s = mac->wm, p = mac->dm, Eb = ceil_div(g->E, p), Kb = ceil_div(g->Kp, s);
    int64_t R = cfg->rows;
    int64_t *need = calloc((size_t)(Eb * Kb), sizeof *need);   /* [b][slice] */
    if (!need)
        return nm_seterr("out of memory measuring rounds of '%s'", g->name);
    for (int64_t b = 0; b < Eb; b++)
        for (int64_t k = 0; k < g->Kp; k++) {
            int64_t c = 0;
            for (int64_t e = b * p; e < min64(g->E, (b + 1) * p); e++)
                c += nm_tensor_getd(X, e * g->Kp + k) != 0;
            int64_t *n = &need[b * Kb + k / s];
            if (c > *n)
                *n = c;
        }
    res->blocks = Eb * Kb;
    for (int64_t i = 0; i < Eb * Kb; i++) {
        res->violations += need[i] > mac->dn;
        if (need[i] > res->max_need)
            res->max_need = need[i];
    }
    /* measured data is the user's: the MAC's #D schedule, whatever the
     * layer's declared data N:M */
    int64_t floor_r = cfg->idle == SIM_IDLE_GATED ? mac->dn : 1;
    for (int64_t f = 0; f < u->row_folds; f++) {
        /* PE rows f*R .. f*R+R-1 hold slices (row / split). */
        int64_t k0 = f * R / u->split, k1 = min64(Kb, ceil_div((f + 1) * R, u->split));
        int64_t t = 0;
        for (int64_t b = 0; b < Eb; b++) {
            int64_t m = floor_r;
            for (int64_t k = k0; k < k1; k++)
                if (need[b * Kb + k] > m)
                    m = need[b * Kb + k];
            t += m;
        }
        tf[f] = t;
    }
    free(need);
    return NM_OK;
}

/* Fraction of weight positions nonzero and of data positions nonzero, as
 * declared (no activations given). */
static double weight_density(const sim_gemm *g, const sim_config *cfg, const sim_units *u)
{
    if (cfg->compat_scalesim)
        return 1.0;     /* K' already holds only the kept rows */
    if (cfg->mac.kind == SIM_PMAC)
        return g->wn > 0 && g->wm > 0 ? (double)g->wn / g->wm : 1.0;
    int64_t s = sim_mac_span(&cfg->mac);
    return (double)u->w_nnz_slice / (double)(s < g->Kp ? s : g->Kp);
}

int sim_gemm_analytic(const sim_gemm *g, const sim_config *cfg, const nm_tensor *acts,
                      sim_layer_result *res)
{
    memset(res, 0, sizeof *res);
    if (sim_config_check(cfg) || sim_units_get(g, cfg, &res->u))
        return NM_ERR;
    const sim_units *u = &res->u;
    memcpy(res->name, g->name, sizeof res->name);
    res->g = *g;
    int64_t R = cfg->rows, C = cfg->cols, RC = R * C;
    /* T per row fold: uniform unless measured from activations. */
    int64_t *tf = NULL;
    if (acts) {
        if (!(tf = malloc((size_t)u->row_folds * sizeof *tf)))
            return nm_seterr("out of memory");
        if (measure_rounds(g, cfg, u, acts, tf, res)) {
            free(tf);
            return NM_ERR;
        }
    }
    /* Column folds: C_full full ones and maybe one of width c_last. */
    int64_t c_full = u->Sc / C, c_last = u->Sc % C;
    double cycles = 0, busy = 0, used_sum = 0;
    res->fold_util_min = 1e300, res->fold_util_max = 0;
    for (int64_t f = 0; f < u->row_folds; f++) {
        int64_t ru = min64(R, u->Sr - f * R);
        int64_t T = tf ? tf[f] : u->T;
        int64_t len = u->load + R + C + T - 2;
        cycles += (double)len * (double)u->col_folds;
        busy += (double)ru * (double)u->Sc * (double)T;
        used_sum += (double)ru * (double)u->Sc;
        for (int w = 0; w < 2; w++) {
            int64_t cu = w == 0 ? (c_full ? C : 0) : c_last;
            if (!cu)
                continue;
            double fu = (double)(ru * cu) * (double)T / ((double)RC * (double)len);
            if (fu < res->fold_util_min)
                res->fold_util_min = fu;
            if (fu > res->fold_util_max)
                res->fold_util_max = fu;
        }
    }
    free(tf);
    double G = (double)g->groups;
    /* Ratios use the cycles simulated; compat then reports one cycle less
     * (SCALE-Sim's off-by-one), which is a count only: a ratio over it
     * could exceed 1 on tiny layers. */
    res->cycles = (int64_t)(cycles * G);
    res->pe_busy = (int64_t)(busy * G);
    res->util = (double)res->pe_busy / ((double)RC * (double)res->cycles);
    res->mapping_eff = used_sum / ((double)u->folds * (double)RC);
    res->mult_slots = (double)RC * sim_mac_mults(&cfg->mac) * (double)res->cycles;
    if (cfg->compat_scalesim)
        res->cycles -= 1;

    sim_layer_account(g, cfg, acts, res);
    return sim_layer_mem_fit(g, cfg, res) ? NM_ERR : sim_layer_scalesim(g, cfg, res);
}

void sim_layer_account(const sim_gemm *g, const sim_config *cfg, const nm_tensor *acts,
                       sim_layer_result *res)
{
    double G = (double)g->groups;
    double wd = weight_density(g, cfg, &res->u);
    res->act_applied = sim_gemm_act_applied(g, cfg);
    double dd = res->act_applied ? (double)cfg->mac.dn / cfg->mac.dm : 1.0;
    res->dense_macs = G * (double)g->E * (double)g->K * (double)(g->Nf_all ? g->Nf_all : g->Nf);
    res->eff_macs = G * (double)g->E * (double)g->Kp * (double)g->Nf * wd * dd;
    res->products = res->eff_macs;
    if (acts) {
        /* Measured: nonzero data values of each column times the filters
         * that use it (weights at their declared density). */
        double nnz = (double)nm_tensor_nnz(acts);
        res->products = G * nnz * (double)g->Nf * wd;
    }
    res->mult_util = res->products / res->mult_slots;
    sim_layer_memory(g, cfg, res);
    sim_layer_dram(g, cfg, res);
    sim_layer_energy(cfg, res);
}
