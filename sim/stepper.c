/* stepper.c - the cycle-stepped engine. Each cycle it moves item tags
 * through the PE registers of an R x C array: stationary operands shift
 * down from the top during the load phase (WS, IS), the streamed operand
 * shifts right along each row, partial sums (OS: the second streamed
 * operand) shift down each column. Row i's injector starts i cycles late and
 * column j's j cycles late (the systolic skew); a fold ends when every
 * injector is exhausted and no tag is left in flight. A PE works when it is
 * inside the fold's mapped rows and columns and holds a tag; the tag coming
 * from the left must equal the one coming from above, otherwise the engine
 * counts an error. Timing does not come from any formula: it is whatever
 * the tags take to pass through. */
#include "sim.h"

#include <stdlib.h>
#include <string.h>

struct sim_stepper {
    int R, C;
    int has_load;
    int64_t T, Sr, Sc, row_folds, col_folds, nfolds;
    int64_t fold;               /* current fold, 0..nfolds (== nfolds: done) */
    int ru, cu;                 /* mapped rows and columns of this fold */
    int loading;                /* in the load phase */
    int64_t next_w;             /* items injected by the load injector */
    int64_t sc;                 /* streaming cycles so far in this fold */
    int64_t cycle;              /* cycles counted so far (all folds) */
    int64_t fold_cycles, fold_busy;
    int32_t *h, *v, *w, *grid;  /* R*C each, row-major */
    int64_t busy, errors;
    double used_sum, fu_min, fu_max;
};

static void fold_begin(sim_stepper *s)
{
    int64_t f = s->fold % (s->row_folds * s->col_folds);
    int64_t rf = f / s->col_folds, cf = f % s->col_folds;
    int64_t ru = s->Sr - rf * s->R, cu = s->Sc - cf * s->C;
    s->ru = (int)(ru < s->R ? ru : s->R);
    s->cu = (int)(cu < s->C ? cu : s->C);
    size_t n = (size_t)s->R * s->C;
    for (size_t i = 0; i < n; i++)
        s->h[i] = s->v[i] = s->w[i] = s->grid[i] = -1;
    s->loading = s->has_load;
    s->next_w = 0;
    s->sc = 0;
    s->fold_cycles = s->fold_busy = 0;
}

static void fold_end(sim_stepper *s)
{
    double pes = (double)s->R * s->C;
    double fu = (double)s->fold_busy / (pes * (double)s->fold_cycles);
    if (fu < s->fu_min)
        s->fu_min = fu;
    if (fu > s->fu_max)
        s->fu_max = fu;
    s->used_sum += (double)s->ru * s->cu;
    if (s->has_load)    /* every PE must hold the operand of its own row */
        for (int i = 0; i < s->R; i++)
            for (int j = 0; j < s->C; j++)
                s->errors += s->w[i * s->C + j] != i;
}

sim_stepper *sim_stepper_new(const sim_gemm *g, const sim_config *cfg)
{
    sim_units u;
    if (sim_config_check(cfg) || sim_units_get(g, cfg, &u))
        return NULL;
    if ((int64_t)cfg->rows * cfg->cols > (1 << 24))
        return nm_seterr("array too large for the stepped engine"), NULL;
    if (u.T > INT32_MAX / 2)
        return nm_seterr("GEMM '%s' streams too many items for the stepped engine", g->name), NULL;
    sim_stepper *s = calloc(1, sizeof *s);
    size_t n = (size_t)cfg->rows * cfg->cols;
    if (!s || !(s->h = malloc(n * 4)) || !(s->v = malloc(n * 4)) || !(s->w = malloc(n * 4)) ||
        !(s->grid = malloc(n * 4))) {
        sim_stepper_free(s);
        return nm_seterr("out of memory for the stepped engine"), NULL;
    }
    s->R = cfg->rows, s->C = cfg->cols;
    s->has_load = u.load > 0;
    s->T = u.T, s->Sr = u.Sr, s->Sc = u.Sc;
    s->row_folds = u.row_folds, s->col_folds = u.col_folds;
    s->nfolds = u.folds * g->groups;
    s->fu_min = 1e300;
    fold_begin(s);
    return s;
}

void sim_stepper_free(sim_stepper *s)
{
    if (!s)
        return;
    free(s->h), free(s->v), free(s->w), free(s->grid);
    free(s);
}

/* One streaming cycle; returns the number of tags left in flight. */
static int64_t stream_cycle(sim_stepper *s)
{
    int R = s->R, C = s->C;
    int64_t t0 = s->sc, T = s->T, inflight = 0, busy = 0;
    /* Partial sums (or the top operand) move down one row. */
    memmove(s->v + C, s->v, (size_t)(R - 1) * C * sizeof *s->v);
    for (int j = 0; j < C; j++) {
        int64_t t = t0 - j;
        s->v[j] = t >= 0 && t < T ? (int32_t)t : -1;
    }
    for (int i = 0; i < R; i++) {
        int32_t *h = s->h + (size_t)i * C, *v = s->v + (size_t)i * C;
        int32_t *gr = s->grid + (size_t)i * C;
        memmove(h + 1, h, (size_t)(C - 1) * sizeof *h);
        int64_t t = t0 - i;
        h[0] = t >= 0 && t < T ? (int32_t)t : -1;
        int cu = i < s->ru ? s->cu : 0;
        for (int j = 0; j < C; j++) {
            int32_t a = h[j];
            s->errors += a != v[j];
            inflight += a >= 0;
            int on = j < cu && a >= 0;
            busy += on;
            gr[j] = on ? a : -1;
        }
    }
    s->sc++;
    s->fold_busy += busy;
    s->busy += busy;
    /* Injectors: row i has items left while t0 - i < T - 1. */
    int64_t left = (t0 - (R - 1) < T - 1) || (t0 - (C - 1) < T - 1);
    return inflight + left;
}

int sim_stepper_step(sim_stepper *s)
{
    if (s->fold >= s->nfolds)
        return 0;
    if (s->loading) {
        memmove(s->w + s->C, s->w, (size_t)(s->R - 1) * s->C * sizeof *s->w);
        for (int j = 0; j < s->C; j++)
            s->w[j] = (int32_t)(s->R - 1 - s->next_w);
        memset(s->grid, 0xff, (size_t)s->R * s->C * sizeof *s->grid);
        if (++s->next_w == s->R)
            s->loading = 0;
    } else if (stream_cycle(s) == 0) {
        /* This cycle found the array already empty: the fold ended on the
         * previous one. Undo the count and start the next fold. */
        s->sc--;
        fold_end(s);
        if (++s->fold >= s->nfolds)
            return 0;
        fold_begin(s);
        return sim_stepper_step(s);
    }
    s->cycle++;
    s->fold_cycles++;
    return 1;
}

int64_t sim_stepper_cycle(const sim_stepper *s) { return s->cycle; }
int64_t sim_stepper_fold(const sim_stepper *s) { return s->fold; }
int64_t sim_stepper_errors(const sim_stepper *s) { return s->errors; }
int64_t sim_stepper_folds(const sim_stepper *s) { return s->nfolds; }
int sim_stepper_phase(const sim_stepper *s) { return s->loading ? 0 : 1; }

const int32_t *sim_stepper_grid(const sim_stepper *s, int *rows, int *cols)
{
    if (rows)
        *rows = s->R;
    if (cols)
        *cols = s->C;
    return s->grid;
}

int sim_gemm_stepped(const sim_gemm *g, const sim_config *cfg, int64_t max_pe_cycles,
                     sim_layer_result *res)
{
    memset(res, 0, sizeof *res);
    if (sim_config_check(cfg) || sim_units_get(g, cfg, &res->u))
        return NM_ERR;
    const sim_units *u = &res->u;
    double work = (double)u->folds * g->groups * (u->load + cfg->rows + cfg->cols + u->T) *
                  cfg->rows * cfg->cols;
    if (max_pe_cycles <= 0)
        max_pe_cycles = 2000000000LL;
    if (work > (double)max_pe_cycles)
        return nm_seterr("layer '%s': %.3g PE-cycles exceed the stepped engine's limit %lld",
                         g->name, work, (long long)max_pe_cycles);
    sim_stepper *s = sim_stepper_new(g, cfg);
    if (!s)
        return NM_ERR;
    while (sim_stepper_step(s))
        ;
    if (s->errors) {
        int64_t e = s->errors;
        sim_stepper_free(s);
        return nm_seterr("layer '%s': %lld tag mismatches in the stepped engine", g->name,
                         (long long)e);
    }
    memcpy(res->name, g->name, sizeof res->name);
    res->g = *g;
    double RC = (double)cfg->rows * cfg->cols;
    res->cycles = s->cycle;
    res->pe_busy = s->busy;
    res->util = (double)s->busy / (RC * (double)res->cycles);
    res->mapping_eff = s->used_sum / ((double)s->nfolds * RC);
    res->fold_util_min = s->fu_min;
    res->fold_util_max = s->fu_max;
    res->mult_slots = RC * sim_mac_mults(&cfg->mac) * (double)res->cycles;
    if (cfg->compat_scalesim)
        res->cycles -= 1;   /* SCALE-Sim's off-by-one, as in the analytic engine */
    sim_stepper_free(s);
    sim_layer_account(g, cfg, NULL, res);
    return sim_layer_mem_fit(g, cfg, res) ? NM_ERR : sim_layer_scalesim(g, cfg, res);
}
