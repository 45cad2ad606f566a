/* bind_sim_run.c - sys:run into report tables, report:csv/json and
 * tostring, nm.sim.compare and nm.sim.format_compare.
 *
 * A report is a plain Lua table (fields documented in docs/lua-api.md)
 * with a shared metatable; the C sim_report behind it (for :csv/:json)
 * lives in a userdata held by a weak-keyed registry table, keyed by the
 * report table, so it goes when the table goes. Every C allocation is
 * owned by a userdata with __gc before anything can raise. */
#include "bind_sim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIM_REPORT "nm.sim.report"      /* metatable of report tables */
#define SIM_REPORT_BOX "nm.sim.report_box"
#define SIM_COMPARE "nm.sim.compare_rows"

static const char REPORTS_KEY = 0;      /* registry: report table -> box */

typedef struct { sim_report *r; } report_box;

/* ------------------------------------------------------------- targets */


static lua_Integer gemm_dim(lua_State *L, int arg, const char *k)
{
    lua_getfield(L, arg, k);
    int isint = 0;
    lua_Integer v = lua_tointegerx(L, -1, &isint);
    if (!isint || v < 1 || v > ((lua_Integer)1 << 40))
        nmlua_field_error(L, arg, k, "must be a positive integer");
    lua_pop(L, 1);
    return v;
}

void nmsim_check_target(lua_State *L, int arg, sim_target *t)
{
    memset(t, 0, sizeof *t);
    t->layer = -1;
    t->arg = lua_absindex(L, arg);
    if (luaL_testudata(L, arg, NMLUA_MODEL)) {
        t->m = nmlua_check_model(L, arg);
    } else if (luaL_testudata(L, arg, NMLUA_LAYER)) {
        lua_getfield(L, arg, "model");     /* raises if the model was freed */
        t->m = nmlua_check_model(L, -1);
        lua_pop(L, 1);
        lua_getfield(L, arg, "index");
        t->layer = (int)lua_tointeger(L, -1) - 1;
        lua_pop(L, 1);
        if (t->m->layers[t->layer].kind != NM_LAYER_MATMUL &&
            !nm_layer_prunable(&t->m->layers[t->layer]))
            luaL_argerror(L, arg, lua_pushfstring(L, "layer '%s' has no weights to simulate",
                                                  t->m->layers[t->layer].name));
    } else if (lua_istable(L, arg)) {
        t->bare = 1;
        lua_getfield(L, arg, "name");
        const char *name = lua_isstring(L, -1) ? lua_tostring(L, -1) : "gemm";
        sim_gemm_set(&t->g, name, gemm_dim(L, arg, "E"), gemm_dim(L, arg, "K"),
                     gemm_dim(L, arg, "Nf"));
        lua_pop(L, 1);
    } else {
        luaL_typeerror(L, arg, "model, layer or {E=, K=, Nf=}");
    }
}

/* ------------------------------------------------------------- reports */

static int box_gc(lua_State *L)
{
    report_box *b = lua_touserdata(L, 1);
    sim_report_free(b->r);
    b->r = NULL;
    return 0;
}

static report_box *new_box(lua_State *L)
{
    report_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->r = NULL;
    luaL_setmetatable(L, SIM_REPORT_BOX);
    return b;
}

static void push_layer_row(lua_State *L, const sim_layer_result *l)
{
    lua_createtable(L, 0, 28);
    nmlua_set_str(L, "name", l->name);
    nmlua_set_int(L, "E", l->g.E);
    nmlua_set_int(L, "K", l->g.K);
    nmlua_set_int(L, "Kp", l->g.Kp);
    nmlua_set_int(L, "Nf", l->g.Nf);
    nmlua_set_int(L, "groups", l->g.groups);
    nmlua_set_int(L, "folds", l->u.folds * (l->g.groups ? l->g.groups : 1));
    nmlua_set_int(L, "cycles", l->cycles);
    nmlua_set_int(L, "pe_busy", l->pe_busy);
    nmlua_set_num(L, "util", l->util);
    nmlua_set_num(L, "mapping_eff", l->mapping_eff);
    nmlua_set_num(L, "fold_util_min", l->fold_util_min);
    nmlua_set_num(L, "fold_util_max", l->fold_util_max);
    nmlua_set_num(L, "mult_util", l->mult_util);
    nmlua_set_num(L, "mult_slots", l->mult_slots);
    nmlua_set_num(L, "products", l->products);
    nmlua_set_num(L, "dense_macs", l->dense_macs);
    nmlua_set_num(L, "eff_macs", l->eff_macs);
    nmlua_set_int(L, "blocks", l->blocks);
    nmlua_set_int(L, "violations", l->violations);
    lua_pushboolean(L, l->act_applied);
    lua_setfield(L, -2, "act_applied");
    lua_createtable(L, 0, 7);
    nmlua_set_num(L, "w_val", l->w_val_bits / 8);
    nmlua_set_num(L, "w_idx", l->w_idx_bits / 8);
    nmlua_set_num(L, "d_val", l->d_val_bits / 8);
    nmlua_set_num(L, "d_idx", l->d_idx_bits / 8);
    nmlua_set_num(L, "out_val", l->o_val_bits / 8);
    nmlua_set_num(L, "out_idx", l->o_idx_bits / 8);
    nmlua_set_num(L, "out", (l->o_val_bits + l->o_idx_bits) / 8);
    lua_setfield(L, -2, "bytes");
    lua_createtable(L, 0, 5);
    nmlua_set_num(L, "sram_w", l->sram_w_read);
    nmlua_set_num(L, "sram_d", l->sram_d_read);
    nmlua_set_num(L, "sram_o", l->sram_o_write);
    nmlua_set_num(L, "dram", l->dram_bytes);
    lua_setfield(L, -2, "moved");
    /* memory model, in words */
    nmlua_set_int(L, "compute_cycles", l->compute_cycles);
    nmlua_set_int(L, "stall_cycles", l->stall_cycles);
    nmlua_set_num(L, "bw_need", l->bw_need);
    /* roofline: compute vs DRAM-transfer cycles, and which bounds the layer */
    lua_createtable(L, 0, 4);
    nmlua_set_int(L, "compute", l->compute_cycles);
    nmlua_set_num(L, "memory", l->mem_cycles);
    nmlua_set_str(L, "bound", l->mem_cycles > (double)l->compute_cycles ? "memory" : "compute");
    {
        double dw = l->dram_rd_ifmap + l->dram_rd_filter + l->dram_wr_ofmap;
        nmlua_set_num(L, "intensity", dw > 0 ? l->dense_macs / dw : 0);  /* MACs per DRAM word */
    }
    lua_setfield(L, -2, "roofline");
    double c = l->cycles > 0 ? (double)l->cycles : 1;
    const char *kd[2] = {"ifmap", "filter"};
    double sr[2] = {l->sram_rd_ifmap, l->sram_rd_filter}, dr[2] = {l->dram_rd_ifmap, l->dram_rd_filter};
    lua_createtable(L, 0, 2);
    for (int i = 0; i < 2; i++)
        nmlua_set_num(L, kd[i], dr[i]);
    lua_setfield(L, -2, "dram_reads");
    /* compat: which DRAM read counts are SCALE-Sim v3's exactly */
    lua_createtable(L, 0, 2);
    for (int i = 0; i < 2; i++)
        nmlua_set_bool(L, kd[i], (l->mem_exact >> i) & 1);
    lua_setfield(L, -2, "dram_exact");
    lua_createtable(L, 0, 2);
    for (int i = 0; i < 2; i++)
        nmlua_set_num(L, kd[i], sr[i]);
    lua_setfield(L, -2, "sram_reads");
    lua_createtable(L, 0, 1);
    nmlua_set_num(L, "ofmap", l->dram_wr_ofmap);
    lua_setfield(L, -2, "dram_writes");
    lua_createtable(L, 0, 1);
    nmlua_set_num(L, "ofmap", l->sram_wr_ofmap);
    lua_setfield(L, -2, "sram_writes");
    lua_createtable(L, 0, 3);
    nmlua_set_num(L, "ifmap", l->dram_rd_ifmap / c);
    nmlua_set_num(L, "filter", l->dram_rd_filter / c);
    nmlua_set_num(L, "ofmap", l->dram_wr_ofmap / c);
    lua_setfield(L, -2, "dram_bw");
    const sim_energy *e = &l->e;
    lua_createtable(L, 0, 12);
    nmlua_set_num(L, "mult", e->mult);
    nmlua_set_num(L, "add", e->add);
    nmlua_set_num(L, "select", e->select);
    nmlua_set_num(L, "reg", e->reg);
    nmlua_set_num(L, "sram_w", e->sram_w);
    nmlua_set_num(L, "sram_d", e->sram_d);
    nmlua_set_num(L, "sram_o", e->sram_o);
    nmlua_set_num(L, "acc", e->acc);
    nmlua_set_num(L, "sfu", e->sfu);
    nmlua_set_num(L, "dram", e->dram);
    nmlua_set_num(L, "leak", e->leak);
    nmlua_set_num(L, "total", e->total);
    lua_setfield(L, -2, "energy");
}

/* Pushes the report table for the box at index bi (which must hold r) and
 * registers the box under it. */
static void push_report(lua_State *L, int bi, const char *assumed)
{
    bi = lua_absindex(L, bi);
    const sim_report *r = ((report_box *)lua_touserdata(L, bi))->r;
    char buf[512];
    lua_createtable(L, 0, 8);
    nmlua_set_str(L, "system", sim_config_describe(&r->cfg, buf, sizeof buf));
    nmlua_set_str(L, "mac", sim_mac_name(&r->cfg.mac, buf, sizeof buf));
    nmlua_set_str(L, "model", r->model);
    nmlua_set_str(L, "engine", r->engine);
    if (assumed && *assumed)
        nmlua_set_str(L, "assumed", assumed);
    lua_createtable(L, r->n_layers, 0);
    for (int i = 0; i < r->n_layers; i++) {
        push_layer_row(L, &r->layers[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "layers");
    push_layer_row(L, &r->total);
    nmlua_set_int(L, "act_layers", r->total.act_applied);  /* layers with data N:M */
    lua_setfield(L, -2, "total");
    nmsim_push_area(L, &r->area);
    lua_setfield(L, -2, "area");
    /* the roofline's roof: every PE busy on its best-case block (dense
     * MACs per cycle), and the DRAM bandwidth when the memory model has one */
    lua_createtable(L, 0, 2);
    nmlua_set_num(L, "peak", (double)r->cfg.rows * r->cfg.cols * sim_mac_span(&r->cfg.mac) *
                                 sim_mac_block(&r->cfg.mac) / sim_mac_rounds(&r->cfg.mac));
    if (r->cfg.mem_on && r->cfg.bandwidth > 0)
        nmlua_set_num(L, "bandwidth", r->cfg.bandwidth);
    lua_setfield(L, -2, "roof");
    luaL_setmetatable(L, SIM_REPORT);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &REPORTS_KEY);
    lua_pushvalue(L, -2);
    lua_pushvalue(L, bi);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

static const sim_report *check_report(lua_State *L, int arg)
{
    luaL_checktype(L, arg, LUA_TTABLE);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &REPORTS_KEY);
    lua_pushvalue(L, arg);
    lua_rawget(L, -2);
    report_box *b = luaL_testudata(L, -1, SIM_REPORT_BOX);
    if (!b || !b->r)
        luaL_argerror(L, arg, "not a report from sys:run");
    lua_pop(L, 2);
    return b->r;
}

/* report:csv(path) / report:json(path) -> true | nil, message. */
static int report_write(lua_State *L, int json)
{
    const sim_report *r = check_report(L, 1);
    const char *path = nmlua_checkpath(L, 2);
    if ((json ? sim_report_write_json(r, path) : sim_report_write_csv(r, path))) {
        lua_pushnil(L);
        lua_pushstring(L, nm_errmsg());
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int report_csv(lua_State *L) { return report_write(L, 0); }

/* report:scalesim(dir) -> true | nil, message: SCALE-Sim's three CSVs. */
static int report_scalesim(lua_State *L)
{
    const sim_report *r = check_report(L, 1);
    const char *dir = nmlua_checkpath(L, 2);
    if (sim_report_write_scalesim(r, dir)) {
        lua_pushnil(L);
        lua_pushstring(L, nm_errmsg());
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}
static int report_json(lua_State *L) { return report_write(L, 1); }

/* A readable summary: switches, totals, energy per component, area. */
static int report_tostring(lua_State *L)
{
    const sim_report *r = check_report(L, 1);
    const sim_layer_result *t = &r->total;
    const sim_energy *e = &t->e;
    char sw[512], mac[48];
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_pushfstring(L, "%s on %s %dx%d (%s engine, %d layers)\nswitches: %s\n", r->model,
                    sim_mac_name(&r->cfg.mac, mac, sizeof mac), r->cfg.rows, r->cfg.cols,
                    r->engine, r->n_layers,
                    sim_config_describe(&r->cfg, sw, sizeof sw));
    luaL_addvalue(&b);
    char line[640];
    snprintf(line, sizeof line,
             "cycles %.0f (stall %.0f)  util %.3f  mult util %.3f  folds %.0f  violations %.0f\n"
             "MACs dense %.4g  effective %.4g  products %.4g  data N:M on %d of %d layers\n"
             "energy %.4g uJ: mult %.3g add %.3g select %.3g reg %.3g sram w/d/o %.3g/%.3g/%.3g "
             "acc %.3g sfu %.3g dram %.3g leak %.3g (uJ)\n"
             "area %.4f mm^2: array %.4f acc %.4f sfu %.4f sram %.4f\n",
             (double)t->cycles, (double)t->stall_cycles, t->util, t->mult_util, (double)t->u.folds, (double)t->violations,
             t->dense_macs, t->eff_macs, t->products, t->act_applied, r->n_layers,
             e->total * 1e-6, e->mult * 1e-6,
             e->add * 1e-6, e->select * 1e-6, e->reg * 1e-6, e->sram_w * 1e-6, e->sram_d * 1e-6,
             e->sram_o * 1e-6, e->acc * 1e-6, e->sfu * 1e-6, e->dram * 1e-6, e->leak * 1e-6,
             r->area.total_um2 * 1e-6, r->area.array_um2 * 1e-6, r->area.acc_um2 * 1e-6,
             r->area.sfu_um2 * 1e-6, r->area.sram_um2 * 1e-6);
    luaL_addstring(&b, line);
    luaL_pushresult(&b);
    return 1;
}

/* ------------------------------------------------------------------ runs */

/* What a run assumes of the model's pruning without changing its weights
 * (run option `assume`): declared weight N:M and a share of filters (and,
 * except for layers reading the model input, of input channels) removed,
 * on every ungrouped layer or only the pointwise ones. */
typedef struct {
    int on;
    int wn, wm;                 /* 0: keep the layer's own declaration */
    double filters;             /* share of filters removed */
    int pointwise;              /* 1: only 1x1 convs and linear layers */
    char text[96];              /* as stated in reports */
} sim_assume;

static void check_assume(lua_State *L, int arg, sim_assume *a)
{
    memset(a, 0, sizeof *a);
    if (lua_isnil(L, arg))
        return;
    const int top = lua_gettop(L);   /* nmsim_opt_str's string stays until the end */
    if (!lua_istable(L, arg))
        luaL_error(L, "bad option assume (a table {w = {N, M}, filters = share, layers = 'all'|'pointwise'})");
    lua_pushnil(L);
    while (lua_next(L, arg)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
        if (strcmp(k, "w") && strcmp(k, "filters") && strcmp(k, "layers"))
            luaL_error(L, "bad option assume (unknown key '%s')", k);
        lua_pop(L, 1);
    }
    a->on = 1;
    nmsim_opt_nm(L, arg, "w", &a->wn, &a->wm);
    lua_getfield(L, arg, "filters");
    if (!lua_isnil(L, -1)) {
        if (!lua_isnumber(L, -1) || !(lua_tonumber(L, -1) >= 0 && lua_tonumber(L, -1) < 1))
            luaL_error(L, "bad option assume (filters must be a share in [0, 1))");
        a->filters = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    const char *ly = nmsim_opt_str(L, arg, "layers");
    if (ly && !strcmp(ly, "pointwise"))
        a->pointwise = 1;
    else if (ly && strcmp(ly, "all"))
        luaL_error(L, "bad option assume (layers '%s': all, pointwise)", ly);
    char w[32] = "own";
    if (a->wm)
        snprintf(w, sizeof w, "%d:%d", a->wn, a->wm);
    snprintf(a->text, sizeof a->text, "assumed weights %s, %.0f%% filters removed, %s layers", w,
             a->filters * 100, a->pointwise ? "pointwise" : "all ungrouped");
    lua_settop(L, top);
}

/* Applies the assumption to layer idx's GEMM (see sim_assume). */
static void apply_assume(const sim_assume *a, const nm_model *m, int idx, sim_gemm *g)
{
    const nm_layer *l = &m->layers[idx];
    if (!a->on || g->groups != 1 || (a->pointwise && (g->kh != 1 || g->kw != 1)))
        return;
    if (a->wm)
        g->wn = a->wn, g->wm = a->wm;
    int64_t nf = g->Nf - (int64_t)floor(a->filters * (double)g->Nf);
    g->Nf = nf > 0 ? nf : 1;
    int reads_input = l->n_inputs == 0 ? idx == 0 : nm_is_input(l->inputs[0]);
    if (!reads_input) {
        int64_t win = (int64_t)g->kh * g->kw, cin = g->Kp / (win > 0 ? win : 1);
        int64_t keep = cin - (int64_t)floor(a->filters * (double)cin);
        g->Kp = (keep > 0 ? keep : 1) * win;
    }
}

typedef struct {
    int stepped;
    double act_density;         /* < 0: declared */
    int64_t max_pe_cycles;
    int input;                  /* stack index of input= (0 none) */
    int progress;               /* stack index of progress= (0 none) */
    sim_assume assume;
} run_opts;

static void check_run_opts(lua_State *L, int arg, sim_config *cfg, run_opts *o)
{
    memset(o, 0, sizeof *o);
    o->act_density = -1;
    if (lua_isnoneornil(L, arg))
        return;
    luaL_checktype(L, arg, LUA_TTABLE);
    static const char *const keys[] = {"input", "batch", "activation_density", "engine",
                                       "progress", "max_pe_cycles", "assume", NULL};
    nmsim_check_keys(L, arg, keys);
    cfg->batch = nmlua_opt_int(L, arg, "batch", cfg->batch, 1, 1 << 20);
    const char *eng = nmsim_opt_str(L, arg, "engine");
    if (eng && !strcmp(eng, "stepped"))
        o->stepped = 1;
    else if (eng && strcmp(eng, "analytic"))
        nmlua_field_error(L, arg, "engine", lua_pushfstring(L, "'%s' (analytic, stepped)", eng));
    if (eng)
        lua_pop(L, 1);   /* nmsim_opt_str left it on the stack */
    lua_getfield(L, arg, "activation_density");
    if (!lua_isnil(L, -1)) {
        if (!lua_isnumber(L, -1) || !(lua_tonumber(L, -1) >= 0 && lua_tonumber(L, -1) <= 1))
            nmlua_field_error(L, arg, "activation_density", "must be a number in 0..1");
        o->act_density = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    lua_getfield(L, arg, "max_pe_cycles");
    if (!lua_isnil(L, -1)) {
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
            nmlua_field_error(L, arg, "max_pe_cycles", "must be a non-negative integer");
        o->max_pe_cycles = lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
    lua_getfield(L, arg, "progress");
    if (!lua_isnil(L, -1)) {
        if (!lua_isfunction(L, -1))
            nmlua_field_error(L, arg, "progress", "must be a function");
        o->progress = lua_gettop(L);      /* left on the stack */
    } else {
        lua_pop(L, 1);
    }
    lua_getfield(L, arg, "assume");
    check_assume(L, lua_gettop(L), &o->assume);
    lua_pop(L, 1);
    lua_getfield(L, arg, "input");
    if (!lua_isnil(L, -1)) {
        o->input = lua_gettop(L);          /* left on the stack */
    } else {
        lua_pop(L, 1);
    }
}

/* The activations for layer `name`: input= itself for a one-layer target,
 * input[name] for a model; NULL if none. */
static const nm_tensor *input_for(lua_State *L, const run_opts *o, int whole_model,
                                  const char *name)
{
    if (!o->input)
        return NULL;
    if (!whole_model) {
        if (!luaL_testudata(L, o->input, NMLUA_TENSOR))
            luaL_error(L, "bad option input (a tensor [E, K'] for a layer)");
        return nmlua_check_tensor(L, o->input);
    }
    if (!lua_istable(L, o->input))
        luaL_error(L, "bad option input (a table {layer_name = tensor} for a model)");
    lua_getfield(L, o->input, name);
    const nm_tensor *t = NULL;
    if (!lua_isnil(L, -1)) {
        if (!luaL_testudata(L, -1, NMLUA_TENSOR))
            luaL_error(L, "bad option input (input['%s'] must be a tensor)", name);
        t = nmlua_check_tensor(L, -1);
    }
    lua_pop(L, 1);      /* the options table keeps it alive */
    return t;
}

/* Products at a given activation density (zero operands gated): the
 * declared-density products rescaled, then the energy again. */
static void apply_act_density(const sim_config *cfg, double ad, sim_layer_result *res)
{
    double dd = sim_gemm_act_applied(&res->g, cfg) ? (double)cfg->mac.dn / cfg->mac.dm : 1.0;
    res->products = res->eff_macs / dd * ad;
    if (res->products > res->mult_slots)
        res->products = res->mult_slots;
    res->mult_util = res->mult_slots > 0 ? res->products / res->mult_slots : 0;
    sim_layer_energy(cfg, res);
}

/* Simulates target t under cfg into a new report box pushed on the stack. */
static sim_report *run_target(lua_State *L, sim_target *t, const sim_config *cfg,
                              const run_opts *o)
{
    report_box *b = new_box(L);
    int n = t->m && t->layer < 0 ? t->m->n_layers : 1;
    sim_report *r = calloc(1, sizeof *r);
    if (!r || !(r->layers = calloc((size_t)n, sizeof *r->layers))) {
        free(r);
        luaL_error(L, "not enough memory");
    }
    b->r = r;
    r->cfg = *cfg;
    snprintf(r->model, sizeof r->model, "%s", t->m ? t->m->name : t->g.name);
    snprintf(r->engine, sizeof r->engine, o->stepped ? "stepped" : "analytic");
    for (int i = 0; i < n; i++) {
        sim_gemm g;
        if (t->bare) {
            g = t->g;
        } else {
            int idx = t->layer >= 0 ? t->layer : i;
            if (!sim_layer_simulated(&t->m->layers[idx], cfg))
                continue;
            if (sim_gemm_from_layer(t->m, idx, cfg, &g))
                luaL_error(L, "%s", nm_errmsg());
            if (nm_layer_prunable(&t->m->layers[idx]))   /* not attention matmuls */
                apply_assume(&o->assume, t->m, idx, &g);
        }
        const nm_tensor *acts = input_for(L, o, t->m && t->layer < 0, g.name);
        if (o->stepped && acts)
            luaL_error(L, "input= needs engine='analytic'");
        sim_layer_result *res = &r->layers[r->n_layers];
        int rc = o->stepped ? sim_gemm_stepped(&g, cfg, o->max_pe_cycles, res)
                            : sim_gemm_analytic(&g, cfg, acts, res);
        if (rc)
            luaL_error(L, "%s", nm_errmsg());
        if (o->act_density >= 0 && !acts)
            apply_act_density(cfg, o->act_density, res);
        r->n_layers++;
        double frac = (double)(i + 1) / n;
        if (nmlua_progress(L, frac, "simulating"))
            luaL_error(L, "cancelled");
        if (o->progress) {
            lua_pushvalue(L, o->progress);
            lua_pushnumber(L, frac);
            lua_pushstring(L, g.name);
            lua_call(L, 2, 0);      /* the model is in use (sys_run) */
        }
    }
    sim_report_totals(r);
    sim_area_get(cfg, &r->area);
    return r;
}

/* sys:run(model | layer | {E=,K=,Nf=} [, opts]) -> report. */
static int sys_run(lua_State *L)
{
    sim_config cfg = *nmsim_check_system(L, 1);
    sim_target t;
    nmsim_check_target(L, 2, &t);
    run_opts o;
    check_run_opts(L, 3, &cfg, &o);
    if (sim_config_check(&cfg))
        luaL_argerror(L, 3, nm_errmsg());
    if (o.progress && !t.bare)      /* the callback cannot free or reshape it */
        nmlua_model_use(L, 2, "sys:run", NMLUA_USE_READ);
    run_target(L, &t, &cfg, &o);
    push_report(L, -1, o.assume.text);
    return 1;
}

/* -------------------------------------------------------------- compare */

static void short_label(const sim_config *c, char *buf, size_t len)
{
    char mac[48];
    snprintf(buf, len, "%s %dx%d", sim_mac_name(&c->mac, mac, sizeof mac), c->rows, c->cols);
}

/* nm.sim.compare(systems, targets [, {assume = ...}]) -> rows (one per
 * target and system).
 * Prints nothing; tostring(rows) or nm.sim.format_compare(rows) is the
 * side-by-side table. */
static int l_compare(lua_State *L)
{
    lua_settop(L, 3);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer ns = (lua_Integer)lua_rawlen(L, 1), nt = (lua_Integer)lua_rawlen(L, 2);
    luaL_argcheck(L, ns > 0, 1, "no systems");
    luaL_argcheck(L, nt > 0, 2, "no models");
    for (lua_Integer s = 1; s <= ns; s++) {
        lua_rawgeti(L, 1, s);
        if (!luaL_testudata(L, -1, SIM_SYSTEM))
            luaL_argerror(L, 1, lua_pushfstring(L, "[%I] is not a system", s));
        lua_pop(L, 1);
    }
    /* opts.assume: one table for all systems, or an array, one per system
     * (false = none) */
    sim_assume *as = lua_newuserdatauv(L, (size_t)ns * sizeof *as, 0);
    memset(as, 0, (size_t)ns * sizeof *as);
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        lua_getfield(L, 3, "assume");
        int ai = lua_gettop(L);
        if (lua_istable(L, ai) && lua_rawlen(L, ai) > 0) {
            if ((lua_Integer)lua_rawlen(L, ai) != ns)
                nmlua_field_error(L, 3, "assume", lua_pushfstring(L, "needs one entry per system (%I)", ns));
            for (lua_Integer s = 1; s <= ns; s++) {
                lua_rawgeti(L, ai, s);
                if (lua_toboolean(L, -1))
                    check_assume(L, lua_gettop(L), &as[s - 1]);
                lua_pop(L, 1);
            }
        } else {
            for (lua_Integer s = 1; s <= ns; s++)
                check_assume(L, ai, &as[s - 1]);
        }
        lua_pop(L, 1);
    }
    lua_newtable(L);
    int rows = lua_gettop(L), nrow = 0;
    run_opts o;
    memset(&o, 0, sizeof o);
    o.act_density = -1;
    for (lua_Integer ti = 1; ti <= nt; ti++) {
        lua_rawgeti(L, 2, ti);
        int tidx = lua_gettop(L);
        sim_target t;
        nmsim_check_target(L, tidx, &t);
        double c0 = 0, e0 = 0;
        for (lua_Integer s = 1; s <= ns; s++) {
            lua_rawgeti(L, 1, s);
            const sim_config *cfg = nmsim_check_system(L, -1);
            lua_pop(L, 1);       /* the systems table keeps it */
            o.assume = as[s - 1];
            const sim_report *r = run_target(L, &t, cfg, &o);
            double cyc = (double)r->total.cycles, en = r->total.e.total;
            if (s == 1)
                c0 = cyc, e0 = en;
            char buf[512];
            lua_createtable(L, 0, 12);
            short_label(cfg, buf, sizeof buf);
            nmlua_set_str(L, "system", buf);
            nmlua_set_str(L, "model", r->model);
            nmlua_set_num(L, "cycles", cyc);
            nmlua_set_num(L, "energy", en);
            nmlua_set_num(L, "util", r->total.util);
            nmlua_set_num(L, "mult_util", r->total.mult_util);
            nmlua_set_num(L, "area", r->area.total_um2);
            nmlua_set_num(L, "array_area", r->area.array_um2);
            nmlua_set_num(L, "speedup", cyc > 0 ? c0 / cyc : 0);
            nmlua_set_num(L, "energy_ratio", e0 > 0 ? en / e0 : 0);
            nmlua_set_num(L, "efficiency", en > 0 ? e0 / en : 0);
            nmlua_set_int(L, "act_layers", r->total.act_applied);  /* layers with data N:M */
            nmlua_set_str(L, "switches", sim_config_describe(cfg, buf, sizeof buf));
            if (o.assume.on)
                nmlua_set_str(L, "assumed", o.assume.text);
            lua_rawseti(L, rows, ++nrow);
            lua_pop(L, 1);       /* the report box */
        }
        lua_settop(L, rows);
    }
    luaL_setmetatable(L, SIM_COMPARE);
    return 1;
}

static double row_num(lua_State *L, int row, const char *k)
{
    lua_getfield(L, row, k);
    double v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

/* Pushes field k of the row as a string ("?" if it is neither a string nor
 * a number) and returns it. The value stays on the stack until the
 * caller's lua_settop: a number converted here, or a string an __index
 * metamethod made, is referenced nowhere else, and popping it left a
 * dangling pointer (heap-use-after-free once the collector ran). */
static const char *row_str(lua_State *L, int row, const char *k)
{
    lua_getfield(L, row, k);
    if (!lua_isstring(L, -1)) {
        lua_pop(L, 1);
        lua_pushliteral(L, "?");
    }
    return lua_tostring(L, -1);
}

/* nm.sim.format_compare(rows) -> text: per model, one line per system;
 * then each system's switches once. */
static int l_format_compare(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
    lua_settop(L, 1);
    lua_newtable(L);                      /* 2: system label -> true */
    lua_newtable(L);                      /* 3: switches lines, in order */
    lua_newtable(L);                      /* 4: output lines */
    int nsys = 0, nout = 0;
    char line[512];
    snprintf(line, sizeof line, "%-16s %-24s %14s %8s %12s %8s %8s\n", "model", "system",
             "cycles", "util", "energy uJ", "speedup", "E/E0");
    lua_pushstring(L, line);
    lua_rawseti(L, 4, ++nout);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, i);
        int row = lua_gettop(L);
        if (!lua_istable(L, row))
            luaL_argerror(L, 1, lua_pushfstring(L, "[%I] is not a compare row", i));
        const char *sys = row_str(L, row, "system");
        snprintf(line, sizeof line, "%-16s %-24s %14.0f %8.3f %12.2f %8.2f %8.3f\n",
                 row_str(L, row, "model"), sys, row_num(L, row, "cycles"),
                 row_num(L, row, "util"), row_num(L, row, "energy") * 1e-6,
                 row_num(L, row, "speedup"), row_num(L, row, "energy_ratio"));
        lua_pushstring(L, line);
        lua_rawseti(L, 4, ++nout);
        if (lua_getfield(L, 2, sys) == LUA_TNIL) {
            lua_pushboolean(L, 1);
            lua_setfield(L, 2, sys);
            lua_pushliteral(L, "  ");
            row_str(L, row, "switches");
            if (lua_getfield(L, row, "assumed") == LUA_TSTRING) {
                lua_pushliteral(L, "; ");
                lua_insert(L, -2);
                lua_pushliteral(L, "\n");
                lua_concat(L, 5);
            } else {
                lua_pop(L, 1);
                lua_pushliteral(L, "\n");
                lua_concat(L, 3);
            }
            lua_rawseti(L, 3, ++nsys);
        }
        lua_settop(L, 4);
    }
    lua_pushliteral(L, "speedup = cycles of the first system / cycles; E/E0 = energy / energy "
                       "of the first system\nswitches:\n");
    lua_rawseti(L, 4, ++nout);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= nout; i++) {
        lua_rawgeti(L, 4, i);
        luaL_addvalue(&b);
    }
    for (int i = 1; i <= nsys; i++) {
        lua_rawgeti(L, 3, i);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    return 1;
}

/* ------------------------------------------------------------- register */

void nmsim_open_run(lua_State *L, int sim, int methods)
{
    static const luaL_Reg fns[] = {
        {"compare", l_compare}, {"format_compare", l_format_compare}, {NULL, NULL},
    };
    lua_pushcfunction(L, sys_run);
    lua_setfield(L, methods, "run");
    lua_pushvalue(L, sim);
    luaL_setfuncs(L, fns, 0);
    lua_pop(L, 1);

    nmlua_newmetatable(L, SIM_REPORT_BOX);
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);

    static const luaL_Reg rep_methods[] = {{"csv", report_csv}, {"json", report_json},
                                           {"scalesim", report_scalesim}, {NULL, NULL}};
    nmlua_newmetatable(L, SIM_REPORT);
    lua_pushcfunction(L, report_tostring);
    lua_setfield(L, -2, "__tostring");
    luaL_newlib(L, rep_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);

    nmlua_newmetatable(L, SIM_COMPARE);
    lua_pushcfunction(L, l_format_compare);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 1);

    /* report table -> box, weak keys (an ephemeron table) */
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &REPORTS_KEY);
}
