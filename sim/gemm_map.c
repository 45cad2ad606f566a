/* gemm_map.c - a conv/linear layer as a GEMM (E x K' x Nf), and the GEMM in
 * the units of a MAC kind and dataflow (Sr, Sc, T, folds). */
#include "sim.h"

#include <stdio.h>
#include <string.h>

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* Limit on every GEMM size and product of sizes the simulator multiplies
 * in int64 (cycles are checked against 4e18 in double). Sizes are checked
 * against it before they are multiplied, so nothing overflows on the way. */
#define GEMM_MAX ((int64_t)1 << 62)
/* Limit on E, K' and Nf alone, so that a side times a MAC's rounds or
 * split (small numbers) cannot overflow either. */
#define GEMM_SIDE ((int64_t)1 << 48)

/* a * b, or -1 when either is negative or the product passes GEMM_MAX. */
static int64_t mul_capped(int64_t a, int64_t b)
{
    int64_t p;
    if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &p) || p > GEMM_MAX)
        return -1;
    return p;
}

/* a * b * c * d with the same rule. */
static int64_t mul4_capped(int64_t a, int64_t b, int64_t c, int64_t d)
{
    int64_t p = mul_capped(a, b);
    p = p < 0 ? -1 : mul_capped(p, c);
    return p < 0 ? -1 : mul_capped(p, d);
}

static int count_kept(const nm_tensor *keep, int n)
{
    if (!keep)
        return n;
    int c = 0;
    for (int64_t i = 0; i < keep->numel && i < n; i++)
        c += nm_u8(keep)[i] != 0;
    return c;
}

/* Input channels kept by `l`; with derive, also those whose single producer
 * (not through a residual add) removed the matching filter. */
static int kept_inputs(const nm_model *m, int idx, int derive)
{
    const nm_layer *l = &m->layers[idx];
    if (!derive || l->n_inputs == 0)
        return count_kept(l->in_chans, l->in_c);
    int prods[8], through_add = 0;
    int np = nm_model_channel_producers(m, idx, prods, 8, &through_add);
    const nm_layer *p = np == 1 && !through_add ? &m->layers[prods[0]] : NULL;
    if (!p || !p->filters || p->out_c != l->in_c)
        return count_kept(l->in_chans, l->in_c);
    int c = 0;
    for (int i = 0; i < l->in_c; i++)
        c += (!l->in_chans || nm_u8(l->in_chans)[i]) && nm_u8(p->filters)[i];
    return c;
}

void sim_gemm_set(sim_gemm *g, const char *name, int64_t E, int64_t K, int64_t Nf)
{
    memset(g, 0, sizeof *g);
    snprintf(g->name, sizeof g->name, "%s", name ? name : "gemm");
    g->E = E, g->K = K, g->Kp = K, g->Nf = g->Nf_all = Nf, g->groups = 1;
    /* -1 when E * K does not fit: sim_units_get refuses such a GEMM */
    g->in_bytes = mul_capped(E, K);
    g->kh = g->kw = 1;
}

/* An attention matmul as `heads x batch` GEMMs between two activations,
 * one per head and sample: QK^T: E = T queries, K = d (head width), Nf = T
 * keys (K^T takes the weights' place); AV: E = T, K = T keys, Nf = d (V
 * takes the weights' place). Both operands are dense (no weight N:M; the
 * data is dense unless act='all': Q comes from a linear, A from softmax),
 * outputs dense. */
static int attention_gemm(const nm_model *m, const nm_layer *l, const sim_config *cfg,
                          sim_gemm *g)
{
    (void)m;
    memset(g, 0, sizeof *g);
    snprintf(g->name, sizeof g->name, "%s", l->name);
    int64_t T = (int64_t)l->out_h * l->out_w, heads = l->heads > 0 ? l->heads : 1;
    int64_t width = l->groups == 1 ? (T > 0 ? l->matmul_macs / (T * T) : 0) : l->out_c;
    if (T < 1 || width < heads || width % heads)
        return nm_seterr("layer '%s': inconsistent attention geometry", l->name);
    int64_t d = width / heads, batch = cfg->compat_scalesim ? 1 : cfg->batch;
    g->groups = mul_capped(heads, batch);
    g->kh = g->kw = 1;
    g->E = T;
    g->K = g->Kp = l->groups == 1 ? d : T;
    g->Nf = g->Nf_all = l->groups == 1 ? T : d;
    g->in_bytes = mul_capped(g->E, g->K);
    g->data_dense = g->out_dense = !cfg->act_all;
    if (g->groups < 0 || g->in_bytes < 0)
        return nm_seterr("layer '%s' is too large to simulate", l->name);
    return NM_OK;
}

int sim_layer_simulated(const nm_layer *l, const sim_config *cfg)
{
    return nm_layer_prunable(l) || (cfg->attention && l->kind == NM_LAYER_MATMUL);
}

int sim_gemm_from_layer(const nm_model *m, int idx, const sim_config *cfg, sim_gemm *g)
{
    if (!m || idx < 0 || idx >= m->n_layers)
        return nm_seterr("layer index %d out of range", idx);
    const nm_layer *l = &m->layers[idx];
    if (l->kind == NM_LAYER_MATMUL)
        return attention_gemm(m, l, cfg, g);
    if (l->kind != NM_LAYER_CONV && l->kind != NM_LAYER_DWCONV && l->kind != NM_LAYER_LINEAR)
        return nm_seterr("layer '%s' (%s) is not a conv or linear layer", l->name,
                         nm_layer_kind_name(l->kind));
    memset(g, 0, sizeof *g);
    snprintf(g->name, sizeof g->name, "%s", l->name);
    int kh = l->kind == NM_LAYER_LINEAR ? 1 : l->kh;
    int kw = l->kind == NM_LAYER_LINEAR ? 1 : l->kw;
    int groups = l->kind == NM_LAYER_LINEAR ? 1 : (l->groups > 0 ? l->groups : 1);
    if (l->kind == NM_LAYER_DWCONV)
        groups = l->in_c;
    if (kh < 1 || kw < 1 || l->in_c < 1 || l->out_c < 1 || l->in_c % groups || l->out_c % groups)
        return nm_seterr("layer '%s': inconsistent geometry", l->name);
    int cin = kept_inputs(m, idx, cfg->derive_in_chans);
    int cout = count_kept(l->filters, l->out_c);
    int batch = cfg->compat_scalesim ? 1 : cfg->batch;
    g->groups = groups;
    g->kh = kh, g->kw = kw;
    g->K = (int64_t)(l->in_c / groups) * kh * kw;
    g->Kp = ceil_div(cin, groups) * kh * kw;
    g->Nf = ceil_div(cout, groups);
    g->Nf_all = l->out_c / groups;
    g->wn = l->wn, g->wm = l->wm;
    if (cfg->compat_scalesim && l->kind != NM_LAYER_LINEAR) {
        int s = l->stride_h > 0 ? l->stride_h : 1;
        int sw = l->stride_w > 0 ? l->stride_w : s;
        int64_t oh = ceil_div(l->in_h - kh + s, s), ow = ceil_div(l->in_w - kw + sw, sw);
        if (oh < 1 || ow < 1)
            return nm_seterr("layer '%s': a %dx%d filter does not fit a %dx%d ifmap", l->name,
                             kh, kw, l->in_h, l->in_w);
        g->E = mul_capped(oh, ow);
        g->in_h = l->in_h, g->in_w = l->in_w, g->stride_h = s, g->stride_w = sw;
    } else {
        g->E = mul4_capped(l->out_h, l->out_w, batch, 1);
    }
    g->in_bytes = mul4_capped(ceil_div(cin, groups), l->in_h, l->in_w, batch);
    if (g->E < 0 || g->in_bytes < 0 || mul_capped(g->K, g->Nf_all) < 0)
        return nm_seterr("layer '%s' is too large to simulate (%d x %d outputs, batch %d)",
                         l->name, l->out_h, l->out_w, batch);
    if (cfg->compat_scalesim && l->wm > 0 && l->wn > 0) {
        /* SCALE-Sim's layer-wise N:M: the first N of every M rows of K kept. */
        int64_t K = g->Kp, M = l->wm, N = l->wn;
        g->Kp = K / M * N + (K % M < N ? K % M : N);
    }
    if (!cfg->act_all) {
        nm_act_info a;
        g->data_dense = !nm_layer_act_source(m, idx, cfg->mac.dn, cfg->mac.dm, 0, &a);
        g->out_dense = !nm_layer_act_sink(m, idx);
    }
    if (g->E < 1 || g->Kp < 1 || g->Nf < 1)
        return nm_seterr("layer '%s': empty GEMM (E=%lld K'=%lld Nf=%lld)", l->name,
                         (long long)g->E, (long long)g->Kp, (long long)g->Nf);
    return NM_OK;
}

int sim_gemm_act_applied(const sim_gemm *g, const sim_config *cfg)
{
    return cfg->mac.kind == SIM_NM && !g->data_dense;
}

int sim_gemm_rounds(const sim_gemm *g, const sim_config *cfg)
{
    if (cfg->mac.kind == SIM_NM && g->data_dense)
        return cfg->mac.dm;     /* dense data: one block row per round */
    return sim_mac_rounds(&cfg->mac);
}

int sim_units_get(const sim_gemm *g, const sim_config *cfg, sim_units *u)
{
    const sim_mac *mac = &cfg->mac;
    memset(u, 0, sizeof *u);
    if (g->E < 1 || g->Kp < 1 || g->Nf < 1 || g->groups < 1)
        return nm_seterr("GEMM '%s' has an empty dimension", g->name);
    /* Every product below (and the engines' E x K' x Nf loops) must fit. */
    if (g->in_bytes < 0 || g->E > GEMM_SIDE || g->Kp > GEMM_SIDE || g->Nf > GEMM_SIDE ||
        mul_capped(g->E, g->Kp) < 0 || mul_capped(g->Kp, g->Nf) < 0 ||
        mul_capped(g->E, g->Nf) < 0 || mul4_capped(g->E, g->Kp, g->Nf, g->groups) < 0)
        return nm_seterr("GEMM '%s' is too large to simulate (E=%lld K'=%lld Nf=%lld)", g->name,
                         (long long)g->E, (long long)g->Kp, (long long)g->Nf);
    int64_t s = sim_mac_span(mac), p = sim_mac_block(mac), r = sim_gemm_rounds(g, cfg);
    int64_t F = sim_mac_mults(mac);
    int64_t Kb = ceil_div(g->Kp, s), Eb = ceil_div(g->E, p);
    /* Weight nonzeros per slice: the declared N:M if any, else dense. */
    int64_t nnz = s;
    if (mac->kind != SIM_PMAC && !cfg->compat_scalesim && g->wn > 0 && g->wm > 0)
        nnz = g->wm == s ? g->wn : ceil_div(s, g->wm) * g->wn;
    if (mac->kind == SIM_PMAC)
        nnz = 1;
    if (nnz > s)
        nnz = s;
    if (nnz > g->Kp)
        nnz = g->Kp;
    u->w_nnz_slice = (int)nnz;
    u->split = (int)ceil_div(nnz, F);
    switch (cfg->dataflow) {
    case SIM_WS: u->Sr = Kb * u->split, u->Sc = g->Nf, u->T = Eb * r, u->load = cfg->rows; break;
    case SIM_IS: u->Sr = Kb * u->split, u->Sc = Eb, u->T = g->Nf * r, u->load = cfg->rows; break;
    case SIM_OS: u->Sr = Eb, u->Sc = g->Nf, u->T = Kb * u->split * r, u->load = 0; break;
    default: return nm_seterr("unknown dataflow");
    }
    u->row_folds = ceil_div(u->Sr, cfg->rows);
    u->col_folds = ceil_div(u->Sc, cfg->cols);
    u->folds = mul_capped(u->row_folds, u->col_folds);
    if (u->folds < 0)
        return nm_seterr("GEMM '%s' is too large to simulate", g->name);
    double cyc = (double)u->folds * (double)(u->load + cfg->rows + cfg->cols + u->T) *
                 (double)g->groups;
    if (cyc > 4e18)
        return nm_seterr("GEMM '%s' is too large to simulate", g->name);
    return NM_OK;
}
