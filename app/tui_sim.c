/* tui_sim.c - the Array and Energy screens' data: a cycle stepper on the
 * selected layer (animation), per-PE busy counts, the analytic per-layer
 * report, the four equal-area systems' energy, and the nm-MAC walk-through.
 * Fills wb_state.array / wb_state.energy for the views. */
#define _XOPEN_SOURCE_EXTENDED 1
#include "tui.h"
#include "sim.h"

#include <lauxlib.h>
#include <lua.h>

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tui_sim {
    sim_config cfg;
    const nm_model *model;   /* what the stepper and report were built for */
    int layer;
    sim_stepper *st;
    int64_t total_cycles;
    double *pe_busy;
    sim_report *rep;
    const char **names;
    double *util, *mutil;
    int64_t *cycles;
    wb_layer_mem *lmem;      /* per layer under the memory model */
    int mem;                 /* memory preset (key D): index into mem_presets */
    char *trace;
    int dirty;               /* the model's masks may have changed */
    /* the Energy screen's four systems, kept until the model changes */
    sim_report *erep[4];
    const nm_model *emodel;
    int edirty;
    const char **enames;
    double *epj[4];
    wb_layer_mem *elmem[4];
};

/* The memory presets key D steps through: off, then SCALE-Sim's scale.cfg
 * (64 KB per SRAM, 10 words/cycle), then a starved interface (2). With the
 * model on, DRAM energy is counted (dram = 1). */
static const struct {
    double kb, bw;
    const char *desc;
} mem_presets[] = {
    {0, 0, "off"},
    {64, 10, "64 KB SRAMs, 10 words/cycle"},
    {64, 2, "64 KB SRAMs, 2 words/cycle"},
};
#define N_MEM_PRESETS ((int)(sizeof mem_presets / sizeof mem_presets[0]))

static void apply_mem(sim_config *cfg, int mem)
{
    if (mem <= 0 || mem >= N_MEM_PRESETS)
        return;
    cfg->mem_on = 1;
    cfg->sram_ifmap_kb = cfg->sram_filter_kb = cfg->sram_ofmap_kb = mem_presets[mem].kb;
    cfg->bandwidth = mem_presets[mem].bw;
    cfg->dram = 1;
}

/* A layer's (or the total's) memory-model figures for the views. */
static wb_layer_mem layer_mem(const sim_layer_result *l)
{
    double words = l->dram_rd_ifmap + l->dram_rd_filter + l->dram_wr_ofmap;
    wb_layer_mem m = {.compute = l->compute_cycles, .stall = l->stall_cycles,
                      .mem_cycles = l->mem_cycles, .dram_words = words, .dram_pj = l->e.dram,
                      .intensity = words > 0 ? l->dense_macs / words : 0,
                      .mem_bound = l->mem_cycles > (double)l->compute_cycles};
    return m;
}

static const char *mac_cycle[] = {"pmac", "bmac", "nm-4-4", "nm-6-4", "nm:2:4:2:4"};

/* The selected layer's animation. */
static void stepper_reset(tui_sim *t)
{
    sim_stepper_free(t->st);
    t->st = NULL;
    free(t->pe_busy);
    t->pe_busy = NULL;
}

/* The whole model's per-layer report (independent of the selection). */
static void report_reset(tui_sim *t)
{
    sim_report_free(t->rep);
    t->rep = NULL;
    free(t->names);
    free(t->util);
    free(t->mutil);
    free(t->cycles);
    free(t->lmem);
    t->names = NULL, t->util = t->mutil = NULL, t->cycles = NULL, t->lmem = NULL;
}

static void sim_reset(tui_sim *t)
{
    stepper_reset(t);
    report_reset(t);
}

static void energy_reset(tui_sim *t)
{
    for (int i = 0; i < 4; i++) {
        sim_report_free(t->erep[i]);
        free(t->epj[i]);
        free(t->elmem[i]);
        t->erep[i] = NULL, t->epj[i] = NULL, t->elmem[i] = NULL;
    }
    free(t->enames);
    t->enames = NULL;
    t->emodel = NULL;
}

void tui_sim_free(tui_sim *t)
{
    if (!t)
        return;
    sim_reset(t);
    energy_reset(t);
    free(t->trace);
    free(t);
}

/* Configures the array for the MAC `name` at the settings' rows and
 * columns. `name` may be a->settings.array_mac itself: it is copied first
 * (snprintf onto its own source is undefined and emptied the name, after
 * which r/c stopped working and m jumped to bmac). */
static int set_mac(tui_app *a, const char *name)
{
    char copy[sizeof a->settings.array_mac];
    snprintf(copy, sizeof copy, "%s", name);
    sim_mac mac;
    if (sim_mac_parse(copy, &mac) != NM_OK)
        return NM_ERR;
    int rows = a->settings.array_rows, cols = a->settings.array_cols;
    sim_config_init(&a->sim->cfg, &mac, rows, cols);
    apply_mem(&a->sim->cfg, a->sim->mem);
    memcpy(a->settings.array_mac, copy, sizeof copy);
    a->sim->dirty = a->sim->edirty = 1;
    return NM_OK;
}

/* The position of the configured MAC in mac_cycle, compared by what it
 * parses to ("nm" and "nm-4-4" are the same MAC); 0 if it is none of them. */
static int mac_cycle_pos(const tui_app *a, int n)
{
    char want[48], have[48];
    sim_mac_name(&a->sim->cfg.mac, want, sizeof want);
    for (int i = 0; i < n; i++) {
        sim_mac mac;
        if (sim_mac_parse(mac_cycle[i], &mac) == NM_OK && strcmp(sim_mac_name(&mac, have, sizeof have), want) == 0)
            return i;
    }
    return n - 1; /* next is the first */
}

void tui_sim_configure(tui_app *a)
{
    if (set_mac(a, a->settings.array_mac) != NM_OK)
        set_mac(a, "nm-4-4");
}

const char *tui_sim_mac(int i, int *n)
{
    *n = (int)(sizeof mac_cycle / sizeof mac_cycle[0]);
    return i >= 0 && i < *n ? mac_cycle[i] : NULL;
}

tui_sim *tui_sim_new(tui_app *a)
{
    a->sim = calloc(1, sizeof *a->sim);
    if (!a->sim)
        return NULL;
    if (set_mac(a, a->settings.array_mac) != NM_OK)
        set_mac(a, "nm-4-4");
    a->s.array.speed = 1;
    return a->sim;
}

void tui_sim_touch(tui_app *a)
{
    if (a->sim)
        a->sim->dirty = a->sim->edirty = 1;
}

/* Rebuilds the stepper when the model, layer or config changed, and the
 * model's report only when the model or config changed. */
static void rebuild(tui_app *a)
{
    tui_sim *t = a->sim;
    wb_array *v = &a->s.array;
    const nm_model *m = a->s.model;
    int model_changed = t->dirty || t->model != m;
    if (!model_changed && t->layer == a->s.selected && t->st)
        return;
    stepper_reset(t);
    if (model_changed)
        report_reset(t);
    t->dirty = 0;
    t->model = m;
    t->layer = a->s.selected;
    a->s.have_array = 0;
    if (!m)
        return;
    const nm_layer *l = &m->layers[a->s.selected];
    sim_gemm g;
    sim_config_describe(&t->cfg, v->config, sizeof v->config);
    v->mem = t->cfg.mem_on;
    snprintf(v->mem_desc, sizeof v->mem_desc, "%s", mem_presets[t->mem].desc);
    if (!nm_layer_prunable(l) || sim_gemm_from_layer(m, a->s.selected, &t->cfg, &g) != NM_OK) {
        snprintf(v->note, sizeof v->note, "%s (%s) does not run on the array: pick a conv or linear layer (%s)",
                 l->name, nm_layer_kind_name(l->kind), nm_layer_prunable(l) ? nm_errmsg() : "no weights");
        return;
    }
    sim_layer_result res;
    if (sim_gemm_analytic(&g, &t->cfg, NULL, &res) != NM_OK) {
        snprintf(v->note, sizeof v->note, "%s", nm_errmsg());
        return;
    }
    t->st = sim_stepper_new(&g, &t->cfg);
    if (!t->st) {
        snprintf(v->note, sizeof v->note, "%s", nm_errmsg());
        return;
    }
    t->total_cycles = res.compute_cycles;   /* what the stepper runs; stalls are not stepped */
    t->pe_busy = calloc((size_t)t->cfg.rows * (size_t)t->cfg.cols, sizeof *t->pe_busy);
    if (!t->rep && (t->rep = sim_model_run(m, &t->cfg, NULL, NULL))) {
        int n = t->rep->n_layers;
        t->names = calloc((size_t)n + 1, sizeof *t->names);
        t->util = calloc((size_t)n + 1, sizeof *t->util);
        t->mutil = calloc((size_t)n + 1, sizeof *t->mutil);
        t->cycles = calloc((size_t)n + 1, sizeof *t->cycles);
        t->lmem = calloc((size_t)n + 1, sizeof *t->lmem);
        for (int i = 0; t->names && t->util && t->mutil && t->cycles && t->lmem && i < n; i++) {
            t->names[i] = t->rep->layers[i].name;
            t->util[i] = t->rep->layers[i].util;
            t->mutil[i] = t->rep->layers[i].mult_util;
            t->cycles[i] = t->rep->layers[i].cycles;
            t->lmem[i] = layer_mem(&t->rep->layers[i]);
        }
    }
    v->n_layers = t->rep && t->names && t->util && t->mutil && t->cycles && t->lmem ? t->rep->n_layers : 0;
    v->layer_mem = t->lmem;
    if (t->rep)
        v->total_mem = layer_mem(&t->rep->total);
    v->layer_names = t->names;
    v->layer_util = t->util;
    v->layer_mult_util = t->mutil;
    v->layer_cycles = t->cycles;
    snprintf(v->layer, sizeof v->layer, "%s", l->name);
    v->E = g.E, v->K = g.Kp, v->Nf = g.Nf;
    v->rows = t->cfg.rows, v->cols = t->cfg.cols;
    v->total_cycles = t->total_cycles;
    v->pe_busy = t->pe_busy;
    if (t->cfg.mem_on)
        snprintf(v->note, sizeof v->note,
                 "this layer: util %.0f%%, %lld cycles = %lld compute + %lld stall, DRAM %.4g uJ "
                 "(analytic; memory %s; R roofline)%s",
                 res.util * 100, (long long)res.cycles, (long long)res.compute_cycles,
                 (long long)res.stall_cycles, res.e.dram * 1e-6, mem_presets[t->mem].desc,
                 t->rep ? "" : "; model report failed");
    else
        snprintf(v->note, sizeof v->note, "this layer: util %.0f%%, multipliers %.0f%%, %lld cycles (analytic)%s",
                 res.util * 100, res.mult_util * 100, (long long)res.cycles,
                 t->rep ? "" : "; model report failed");
    a->s.have_array = 1;
}

/* Advances the stepper n cycles, counting busy PEs. */
static void advance(tui_app *a, int n)
{
    tui_sim *t = a->sim;
    if (!t->st)
        return;
    int rows, cols;
    for (int i = 0; i < n; i++) {
        if (!sim_stepper_step(t->st)) {
            a->s.array.playing = 0;
            tui_status(a, "layer finished in %lld cycles", (long long)sim_stepper_cycle(t->st));
            break;
        }
        const int32_t *grid = sim_stepper_grid(t->st, &rows, &cols);
        if (sim_stepper_phase(t->st))
            for (int k = 0; k < rows * cols; k++)
                t->pe_busy[k] += grid[k] >= 0;
    }
}

/* Steps the animation back one cycle: the stepper only runs forward, so
 * it is rebuilt and replayed to the cycle before (per-PE counts too). */
static void step_back(tui_app *a)
{
    tui_sim *t = a->sim;
    if (!t->st)
        return;
    int64_t c = sim_stepper_cycle(t->st);
    if (c <= 0)
        return;
    stepper_reset(t);
    rebuild(a);
    advance(a, (int)(c - 1 < 1 << 30 ? c - 1 : 1 << 30));
}

/* Fills the array view from the stepper (called before drawing). */
void tui_sim_update(tui_app *a)
{
    if (!a->sim || a->s.screen != WB_SCREEN_ARRAY)
        return;
    rebuild(a);
    tui_sim *t = a->sim;
    wb_array *v = &a->s.array;
    if (!t->st)
        return;
    int rows, cols;
    v->grid = sim_stepper_grid(t->st, &rows, &cols);
    v->cycle = sim_stepper_cycle(t->st);
    v->fold = sim_stepper_fold(t->st);
    v->folds = sim_stepper_folds(t->st);
    v->phase = sim_stepper_phase(t->st);
}

/* Called on every idle tick of the event loop: plays the animation. */
void tui_sim_tick(tui_app *a)
{
    if (a->s.screen == WB_SCREEN_ARRAY && a->s.array.playing && !a->s.array.teaching)
        advance(a, a->s.array.speed);
}

/* Reads walk[key] (a flat list of len numbers, or rows of `row` numbers)
 * as int8 into out; 0 and a status message when it is not that. */
static int walk_ints(tui_app *a, lua_State *L, const char *key, int len, int row, int8_t *out)
{
    lua_getfield(L, -1, key);
    int ok = lua_istable(L, -1), flat = 0;
    if (ok && (int)luaL_len(L, -1) == len) {
        flat = lua_rawgeti(L, -1, 1) != LUA_TTABLE;
        lua_pop(L, 1);
    }
    for (int i = 0; ok && i < len; i++) {
        if (flat) {
            lua_rawgeti(L, -1, i + 1);
        } else {
            lua_rawgeti(L, -1, i / row + 1);
            int t = lua_istable(L, -1);
            if (t)
                lua_rawgeti(L, -1, i % row + 1);
            else
                lua_pushnil(L);
            lua_remove(L, -2);
        }
        int isnum = 0;
        lua_Integer v = lua_tointegerx(L, -1, &isnum);
        lua_pop(L, 1);
        if (!isnum || v < -128 || v > 127)
            ok = 0;
        else
            out[i] = (int8_t)v;
    }
    lua_pop(L, 1);
    if (!ok)
        tui_status(a, "walk.%s: %d integers in -128..127 (or %d rows of %d) needed; using the example", key,
                   len, len / row, row);
    return ok;
}

/* The nm-MAC walk-through on the user's own N:M and data, indices from 1:
 * the Lua global `walk = {n =, m =, data =, weights =}` when the console
 * set one (data: m rows of m, weights: m values), else the prune form's
 * N:M (the setup's default) on a generated block where every column keeps
 * n of its m values and the weight slice n of m. Caller frees. */
static char *walk_trace(tui_app *a)
{
    int n = a->form.n, m = a->form.m;
    int8_t block[16 * 16], w[16];
    int have = 0;
    lua_State *L = nmlua_host_state(a->host);
    if (lua_getglobal(L, "walk") == LUA_TTABLE) {
        lua_getfield(L, -1, "n");
        lua_getfield(L, -2, "m");
        if (lua_isinteger(L, -2) && lua_isinteger(L, -1))
            n = (int)lua_tointeger(L, -2), m = (int)lua_tointeger(L, -1);
        lua_pop(L, 2);
        if (m >= 1 && m <= 16 && n >= 1 && n <= m)
            have = walk_ints(a, L, "data", m * m, m, block) && walk_ints(a, L, "weights", m, m, w);
    }
    lua_pop(L, 1);
    if (m > 16)
        m = 16;
    if (n > m)
        n = m;
    if (n < 1)
        n = 1;
    static const int8_t ex_block[16] = {3, 0, 1, 0, 0, 2, 0, 4, 5, 0, 0, 6, 0, 7, 8, 0};
    static const int8_t ex_w[4] = {0, 2, 0, -1};
    if (!have && n == 2 && m == 4) { /* the paper's example (sim_nm_mac_trace_example) */
        memcpy(block, ex_block, sizeof ex_block);
        memcpy(w, ex_w, sizeof ex_w);
    } else if (!have) {
        for (int r = 0; r < m; r++)
            for (int c = 0; c < m; c++)
                block[r * m + c] = (int8_t)((r + 2 * c) % m < n ? 1 + (r * 7 + c * 3) % 9 : 0);
        for (int c = 0; c < m; c++)
            w[c] = (int8_t)((c + 1) % m < n ? (c % 2 ? -1 : 1) * (1 + c % 3) : 0);
    } else {
        int nz = 0;
        for (int c = 0; c < m; c++)
            nz += w[c] != 0;
        if (nz > n) {
            tui_status(a, "walk.weights has %d nonzeros, more than N = %d: the first %d are used", nz, n, n);
        }
    }
    sim_mac mac;
    int32_t out[16];
    char *text = NULL;
    if (sim_mac_init(&mac, SIM_NM, n, m, n, m) == NM_OK)
        text = sim_nm_mac_trace_base(&mac, block, w, out, 1);
    if (!text) {
        tui_status(a, "walk-through: %s", nm_errmsg());
        return sim_nm_mac_trace_example();
    }
    if (!have && strncmp(a->s.status, "walk.", 5) != 0)
        tui_status(a, "walk-through on %d:%d (the prune form's N:M); set walk = {n=, m=, data=, weights=} "
                      "in the console for your own",
                   n, m);
    else if (have)
        tui_status(a, "walk-through on the console's walk = {n = %d, m = %d, ...}", n, m);
    return text;
}

void tui_array_key(tui_app *a, int key)
{
    wb_array *v = &a->s.array;
    tui_sim *t = a->sim;
    if (v->teaching && key != 'T') {
        /* steps are separated by blank lines; stop at the last one */
        int last = 0;
        for (const char *p = t->trace ? t->trace : ""; (p = strstr(p, "\n\n")) != NULL; p += 2)
            last++;
        if ((key == 'n' || key == ' ') && v->trace_step < last)
            v->trace_step++;
        else if ((key == 'N' || key == KEY_LEFT) && v->trace_step > 0)
            v->trace_step--;
        return;
    }
    switch (key) {
    case ' ': v->playing = !v->playing; break;
    case 'n': advance(a, 1); break;
    case 'N': case KEY_LEFT: v->playing = 0; step_back(a); break;
    case '+': v->speed = v->speed < 4096 ? v->speed * 2 : 4096; break;
    case '-': v->speed = v->speed > 1 ? v->speed / 2 : 1; break;
    case 'm': {
        int n = (int)(sizeof mac_cycle / sizeof mac_cycle[0]);
        set_mac(a, mac_cycle[(mac_cycle_pos(a, n) + 1) % n]);
        tui_status(a, "MAC: %s", a->settings.array_mac);
        break;
    }
    case 'r': case 'c': {
        int *d = key == 'r' ? &a->settings.array_rows : &a->settings.array_cols;
        static const int sizes[] = {4, 8, 15, 16, 20, 32, 64, 128};
        int i = 0;
        while (i < 8 && sizes[i] <= *d)
            i++;
        *d = sizes[i % 8];
        set_mac(a, a->settings.array_mac);
        tui_status(a, "array %dx%d", a->settings.array_rows, a->settings.array_cols);
        break;
    }
    case 'R':
        v->roofline = !v->roofline;
        tui_status(a, v->roofline ? "roofline: compute vs memory cycles per layer%s"
                                  : "the array%s",
                   t->cfg.mem_on ? "" : " (memory model off: D turns it on)");
        break;
    case 'T':
        v->teaching = !v->teaching;
        if (v->teaching) {
            free(t->trace);
            t->trace = walk_trace(a);
        }
        v->trace = t->trace;
        v->trace_step = 0;
        break;
    }
}

/* Key D (Array and Energy screens): the next memory preset, for the
 * array's system and the Energy screen's four. */
void tui_sim_mem_key(tui_app *a, int key)
{
    (void)key;
    tui_sim *t = a->sim;
    if (!t)
        return;
    t->mem = (t->mem + 1) % N_MEM_PRESETS;
    set_mac(a, a->settings.array_mac);
    tui_status(a, "memory model: %s%s", mem_presets[t->mem].desc,
               t->mem ? " (stalls and DRAM energy counted)" : "");
}

/* Copies a sim_energy into the screen's component order. */
static void energy_components(const sim_energy *en, double *v)
{
    double c[11] = {en->mult, en->add, en->select, en->reg, en->sram_w, en->sram_d,
                    en->sram_o, en->acc, en->sfu, en->dram, en->leak};
    memcpy(v, c, sizeof c);
}

/* The Energy screen: the paper's four equal-area systems on this model,
 * simulated once per change of the model (reports kept in tui_sim), with
 * each layer's total and the selected layer by component. */
void tui_energy_update(tui_app *a)
{
    if (a->s.screen != WB_SCREEN_ENERGY || !a->sim)
        return;
    tui_sim *t = a->sim;
    wb_energy *e = &a->s.energy;
    const nm_model *m = a->s.model;
    a->s.have_energy = 0;
    if (!m) {
        snprintf(e->note, sizeof e->note, "No model.");
        return;
    }
    static const struct { const char *mac; int side; } sys[4] = {
        {"pmac", 32}, {"bmac", 20}, {"nm-4-4", 16}, {"nm-6-4", 15}};
    static const char *comp[] = {"mult", "add", "select", "registers", "SRAM w", "SRAM data",
                                 "SRAM out", "accum.", "SFU", "DRAM", "leakage"};
    if (t->edirty || t->emodel != m || !t->erep[0]) {
        energy_reset(t);
        memset(e, 0, sizeof *e);
        e->n_comp = 11;
        for (int c = 0; c < 11; c++)
            e->comp[c] = comp[c];
        for (int i = 0; i < 4; i++) {
            sim_mac mac;
            sim_config cfg;
            sim_mac_parse(sys[i].mac, &mac);
            sim_config_init(&cfg, &mac, sys[i].side, sys[i].side);
            apply_mem(&cfg, t->mem);
            sim_report *r = t->erep[i] = sim_model_run(m, &cfg, NULL, NULL);
            if (!r) {
                snprintf(e->note, sizeof e->note, "%s: %s", sys[i].mac, nm_errmsg());
                energy_reset(t);
                return;
            }
            char name[48];
            snprintf(e->system[i], sizeof e->system[i], "%s %dx%d", sim_mac_name(&mac, name, sizeof name),
                     sys[i].side, sys[i].side);
            energy_components(&r->total.e, e->pj[i]);
            e->cycles[i] = r->total.cycles;
            e->area_mm2[i] = r->area.total_um2 * 1e-6;
            if (i == 0)
                sim_config_describe(&cfg, e->switches, sizeof e->switches);
            t->epj[i] = malloc((size_t)(r->n_layers ? r->n_layers : 1) * sizeof *t->epj[i]);
            if (!t->epj[i]) {
                snprintf(e->note, sizeof e->note, "out of memory");
                energy_reset(t);
                return;
            }
            t->elmem[i] = calloc((size_t)(r->n_layers ? r->n_layers : 1), sizeof *t->elmem[i]);
            if (!t->elmem[i]) {
                snprintf(e->note, sizeof e->note, "out of memory");
                energy_reset(t);
                return;
            }
            for (int k = 0; k < r->n_layers; k++) {
                t->epj[i][k] = r->layers[k].e.total;
                t->elmem[i][k] = layer_mem(&r->layers[k]);
            }
            e->total_mem[i] = layer_mem(&r->total);
            e->layer_mem[i] = t->elmem[i];
        }
        e->mem = t->mem > 0;
        snprintf(e->mem_desc, sizeof e->mem_desc, "%s", mem_presets[t->mem].desc);
        int nl = t->erep[0]->n_layers;
        t->enames = malloc((size_t)(nl ? nl : 1) * sizeof *t->enames);
        if (!t->enames) {
            energy_reset(t);
            return;
        }
        for (int k = 0; k < nl; k++)
            t->enames[k] = t->erep[0]->layers[k].name;
        e->n_systems = 4;
        e->n_layers = nl;
        e->layer_names = t->enames;
        for (int i = 0; i < 4; i++)
            e->layer_pj[i] = t->epj[i];
        int dense = 1;
        for (int i = 0; i < m->n_layers; i++)
            dense &= !(nm_layer_prunable(&m->layers[i]) && m->layers[i].wm > 0);
        if (dense)
            snprintf(e->note, sizeof e->note,
                     "weights are dense: sparse PEs spread dense slices; prune 4:9 kernel (p) for the paper's setting");
        t->emodel = m;
        t->edirty = 0;
    }
    /* the selected layer, found by name among the simulated ones */
    e->layer_sel = -1;
    const char *sel = a->s.selected >= 0 && a->s.selected < m->n_layers ? m->layers[a->s.selected].name : "";
    for (int k = 0; k < e->n_layers; k++)
        if (strcmp(e->layer_names[k], sel) == 0) {
            e->layer_sel = k;
            for (int i = 0; i < 4; i++) {
                energy_components(&t->erep[i]->layers[k].e, e->sel_pj[i]);
                e->sel_cycles[i] = t->erep[i]->layers[k].cycles;
                e->sel_mem[i] = t->elmem[i][k];
            }
            break;
        }
    a->s.have_energy = 1;
}
