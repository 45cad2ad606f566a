/* bind_sim.c - nm.sim: systems (a sim_config in a userdata), runs into
 * report tables, equal-area sizing, comparisons, the cycle stepper, the
 * nm-MAC trace and the energy table.
 *
 * A report is a plain Lua table (fields documented in docs/lua-api.md)
 * with a shared metatable; the C sim_report behind it (for :csv/:json)
 * lives in a userdata held by a weak-keyed registry table, keyed by the
 * report table, so it goes when the table goes. Every C allocation is
 * owned by a userdata with __gc before anything can raise. */
#include "nmlua.h"
#include "sim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIM_SYSTEM "nm.sim.system"
#define SIM_STEPPER "nm.sim.stepper"
#define SIM_REPORT "nm.sim.report"      /* metatable of report tables */
#define SIM_REPORT_BOX "nm.sim.report_box"
#define SIM_COMPARE "nm.sim.compare_rows"

static const char REPORTS_KEY = 0;      /* registry: report table -> box */

typedef struct { sim_config cfg; } system_ud;
typedef struct { sim_report *r; } report_box;
typedef struct { sim_stepper *s; size_t counted; } stepper_ud;

/* ------------------------------------------------------------ helpers */

static void set_num(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void set_int(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

static void set_str(lua_State *L, const char *k, const char *v)
{
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

/* Raises "bad argument #arg to 'fn' (field: message)". */
static int field_error(lua_State *L, int arg, const char *field, const char *msg)
{
    return luaL_argerror(L, arg, lua_pushfstring(L, "%s: %s", field, msg));
}

/* An integer field of the options table at arg within lo..hi (def if nil). */
static int opt_int(lua_State *L, int arg, const char *field, int def, int lo, int hi)
{
    lua_getfield(L, arg, field);
    int v = def;
    if (!lua_isnil(L, -1)) {
        int isint = 0;
        lua_Integer x = lua_tointegerx(L, -1, &isint);
        if (!isint)
            field_error(L, arg, field, "must be an integer");
        if (x < lo || x > hi)
            field_error(L, arg, field, lua_pushfstring(L, "%I out of range %d..%d", x, lo, hi));
        v = (int)x;
    }
    lua_pop(L, 1);
    return v;
}

/* A boolean field (def if nil); 0/1 numbers are accepted too. */
static int opt_bool(lua_State *L, int arg, const char *field, int def)
{
    lua_getfield(L, arg, field);
    int v = def;
    if (lua_isboolean(L, -1))
        v = lua_toboolean(L, -1);
    else if (lua_isinteger(L, -1) && (lua_tointeger(L, -1) == 0 || lua_tointeger(L, -1) == 1))
        v = (int)lua_tointeger(L, -1);
    else if (!lua_isnil(L, -1))
        field_error(L, arg, field, "must be a boolean");
    lua_pop(L, 1);
    return v;
}

/* A string field (NULL if nil); the string stays valid while the options
 * table holds it. */
static const char *opt_str(lua_State *L, int arg, const char *field)
{
    lua_getfield(L, arg, field);
    const char *s = NULL;
    if (lua_type(L, -1) == LUA_TSTRING)
        s = lua_tostring(L, -1);
    else if (!lua_isnil(L, -1))
        field_error(L, arg, field, "must be a string");
    lua_pop(L, 1);
    return s;
}

/* Field {n, m} of the options table at arg; 0 if absent. Raises for an
 * impossible N:M, naming the field. */
static int opt_nm(lua_State *L, int arg, const char *field, int *n, int *m)
{
    lua_getfield(L, arg, field);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    if (!lua_istable(L, -1) || lua_rawlen(L, -1) != 2)
        field_error(L, arg, field, "must be {N, M}");
    lua_Integer v[2];
    for (int i = 0; i < 2; i++) {
        lua_rawgeti(L, -1, i + 1);
        int isint = 0;
        v[i] = lua_tointegerx(L, -1, &isint);
        if (!isint)
            field_error(L, arg, field, "must be {N, M} with integers");
        lua_pop(L, 1);
    }
    if (v[0] < 1 || v[1] < 1 || v[0] > v[1] || v[1] > 64)
        field_error(L, arg, field,
                    lua_pushfstring(L, "%I:%I is impossible (need 1 <= N <= M <= 64)", v[0], v[1]));
    lua_pop(L, 1);
    *n = (int)v[0], *m = (int)v[1];
    return 1;
}

/* ------------------------------------------------------- energy tables */

static void push_energy_table(lua_State *L, const sim_energy_table *et)
{
    sim_energy_table copy = *et;
    int n = sim_energy_field_count();
    lua_createtable(L, 0, n + 1);
    set_int(L, "node_nm", copy.node_nm);
    for (int i = 0; i < n; i++) {
        double *slot;
        const char *name = sim_energy_field(&copy, i, &slot);
        set_num(L, name, *slot);
    }
}

/* Overwrites *et with the keys of the Lua table at idx; unknown keys and
 * non-numbers raise, naming `what` (the option) and the key. */
static void energy_from_table(lua_State *L, int arg, int idx, const char *what,
                              sim_energy_table *et)
{
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            field_error(L, arg, what, "keys must be field names");
        const char *key = lua_tostring(L, -2);
        if (!lua_isnumber(L, -1))
            field_error(L, arg, what, lua_pushfstring(L, "'%s' must be a number", key));
        double v = lua_tonumber(L, -1);
        if (!strcmp(key, "node_nm")) {
            et->node_nm = (int)v;
        } else {
            int n = sim_energy_field_count(), i;
            double *slot = NULL;
            for (i = 0; i < n; i++)
                if (!strcmp(sim_energy_field(et, i, &slot), key))
                    break;
            if (i == n)
                field_error(L, arg, what, lua_pushfstring(L, "unknown key '%s'", key));
            *slot = v;
        }
        lua_pop(L, 1);
    }
}

/* nm.sim.energy_table([path]) -> table | nil, message. */
static int l_energy_table(lua_State *L)
{
    sim_energy_table et;
    sim_energy_defaults(&et);
    if (!lua_isnoneornil(L, 1)) {
        const char *path = nmlua_checkpath(L, 1);
        if (sim_energy_load_json(path, &et)) {
            lua_pushnil(L);
            lua_pushstring(L, nm_errmsg());
            return 2;
        }
    }
    push_energy_table(L, &et);
    return 1;
}

/* nm.sim.scale_energy(table, node_nm) -> a new table scaled to node_nm. */
static int l_scale_energy(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_Integer node = luaL_checkinteger(L, 2);
    sim_energy_table et;
    sim_energy_defaults(&et);
    energy_from_table(L, 1, 1, "table", &et);
    if (sim_energy_scale(&et, (int)node))
        luaL_argerror(L, 2, nm_errmsg());
    push_energy_table(L, &et);
    return 1;
}

/* ------------------------------------------------------------ systems */

static const char *const system_keys[] = {
    "mac", "rows", "cols", "w", "d", "dataflow", "energy", "node", "area_mode", "compat",
    "batch", "idle", "index", "windex", "dindex", "dram", "leakage", "im2col_reread",
    "sram_kb", "derive_in_chans", NULL,
};

static int index_parse(const char *s)
{
    if (s && !strcmp(s, "combinatorial"))
        return SIM_IDX_COMB;
    return sim_index_scheme_parse(s);
}

/* Fills *cfg from the options table at arg; raises naming the field. */
static void config_from_table(lua_State *L, int arg, sim_config *cfg)
{
    luaL_checktype(L, arg, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, arg)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        int known = 0;
        for (int i = 0; k && system_keys[i]; i++)
            known |= !strcmp(k, system_keys[i]);
        if (!known)
            luaL_argerror(L, arg, lua_pushfstring(L, "unknown option '%s'",
                                                  k ? k : luaL_typename(L, -2)));
        lua_pop(L, 1);
    }
    /* MAC */
    sim_mac mac;
    const char *ms = opt_str(L, arg, "mac");
    int dn = 0, dm = 0, wn = 0, wm = 0;
    int hd = opt_nm(L, arg, "d", &dn, &dm), hw = opt_nm(L, arg, "w", &wn, &wm);
    if (!ms)
        field_error(L, arg, "mac", "missing ('pmac', 'bmac', 'nm' or a name like 'nm-4-4')");
    int rc;
    if (!strcmp(ms, "pmac")) {
        if (hd || hw)
            field_error(L, arg, hd ? "d" : "w", "a pMAC is dense (no N:M)");
        rc = sim_mac_init(&mac, SIM_PMAC, 0, 0, 0, 0);
    } else if (!strcmp(ms, "bmac")) {
        if (hd)
            field_error(L, arg, "d", "a bMAC takes dense data");
        rc = sim_mac_init(&mac, SIM_BMAC, 0, 0, hw ? wn : 3, hw ? wm : 9);
    } else if (!strcmp(ms, "nm")) {
        rc = sim_mac_init(&mac, SIM_NM, hd ? dn : 4, hd ? dm : 9, hw ? wn : 4, hw ? wm : 9);
    } else {
        if (hd || hw)
            field_error(L, arg, hd ? "d" : "w", lua_pushfstring(L, "not with mac='%s' (use mac='nm')", ms));
        rc = sim_mac_parse(ms, &mac);
    }
    if (rc)
        field_error(L, arg, "mac", nm_errmsg());
    int rows = opt_int(L, arg, "rows", 32, 1, 4096);
    int cols = opt_int(L, arg, "cols", rows, 1, 4096);
    sim_config_init(cfg, &mac, rows, cols);

    const char *s;
    if ((s = opt_str(L, arg, "dataflow"))) {
        int df = sim_dataflow_parse(s);
        if (df < 0)
            field_error(L, arg, "dataflow", lua_pushfstring(L, "'%s' (ws, os, is)", s));
        cfg->dataflow = (sim_dataflow)df;
    }
    if ((s = opt_str(L, arg, "area_mode"))) {
        if (!strcmp(s, "calibrated"))
            cfg->area_mode = SIM_AREA_CALIBRATED;
        else if (!strcmp(s, "bottom-up"))
            cfg->area_mode = SIM_AREA_BOTTOM_UP;
        else
            field_error(L, arg, "area_mode", lua_pushfstring(L, "'%s' (calibrated, bottom-up)", s));
    }
    if ((s = opt_str(L, arg, "compat"))) {
        if (!strcmp(s, "scalesim"))
            cfg->compat_scalesim = 1;
        else if (strcmp(s, "none"))
            field_error(L, arg, "compat", lua_pushfstring(L, "'%s' (scalesim, none)", s));
    }
    if ((s = opt_str(L, arg, "idle"))) {
        if (!strcmp(s, "gated"))
            cfg->idle = SIM_IDLE_GATED;
        else if (!strcmp(s, "skipped"))
            cfg->idle = SIM_IDLE_SKIPPED;
        else
            field_error(L, arg, "idle", lua_pushfstring(L, "'%s' (gated, skipped)", s));
    }
    const char *idx_fields[] = {"index", "windex", "dindex"};
    for (int i = 0; i < 3; i++) {
        if (!(s = opt_str(L, arg, idx_fields[i])))
            continue;
        int v = index_parse(s);
        if (v < 0)
            field_error(L, arg, idx_fields[i],
                        lua_pushfstring(L, "'%s' (simple, bitmask, combinatorial)", s));
        if (i != 2)
            cfg->windex = (sim_index_scheme)v;
        if (i != 1)
            cfg->dindex = (sim_index_scheme)v;
    }
    cfg->batch = opt_int(L, arg, "batch", 1, 1, 1 << 20);
    cfg->sram_kb = opt_int(L, arg, "sram_kb", cfg->sram_kb, 1, 1 << 20);
    cfg->dram = opt_bool(L, arg, "dram", 0);
    cfg->leakage = opt_bool(L, arg, "leakage", 0);
    cfg->im2col_reread = opt_bool(L, arg, "im2col_reread", 0);
    cfg->derive_in_chans = opt_bool(L, arg, "derive_in_chans", cfg->derive_in_chans);
    /* energy table, then node scaling */
    lua_getfield(L, arg, "energy");
    if (lua_istable(L, -1)) {
        energy_from_table(L, arg, -1, "energy", &cfg->et);
    } else if (lua_type(L, -1) == LUA_TSTRING) {
        const char *path = nmlua_checkpath(L, lua_gettop(L));   /* sandbox */
        if (sim_energy_load_json(path, &cfg->et))
            field_error(L, arg, "energy", nm_errmsg());
    } else if (!lua_isnil(L, -1)) {
        field_error(L, arg, "energy", "must be a table or a JSON file name");
    }
    lua_pop(L, 1);
    int node = opt_int(L, arg, "node", 0, 0, 1000);
    if (node && sim_energy_scale(&cfg->et, node))
        field_error(L, arg, "node", nm_errmsg());
    if (sim_config_check(cfg))
        luaL_argerror(L, arg, nm_errmsg());
}

static system_ud *push_system(lua_State *L, const sim_config *cfg)
{
    system_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->cfg = *cfg;
    luaL_setmetatable(L, SIM_SYSTEM);
    return u;
}

static sim_config *check_system(lua_State *L, int arg)
{
    return &((system_ud *)luaL_checkudata(L, arg, SIM_SYSTEM))->cfg;
}

/* nm.sim.system{...} -> system. */
static int l_system(lua_State *L)
{
    sim_config cfg;
    config_from_table(L, 1, &cfg);
    push_system(L, &cfg);
    return 1;
}

static int sys_tostring(lua_State *L)
{
    char buf[512];
    lua_pushstring(L, sim_config_describe(check_system(L, 1), buf, sizeof buf));
    return 1;
}

static void push_area(lua_State *L, const sim_area *a)
{
    lua_createtable(L, 0, 6);
    set_num(L, "pe", a->pe_um2);
    set_num(L, "array", a->array_um2);
    set_num(L, "acc", a->acc_um2);
    set_num(L, "sfu", a->sfu_um2);
    set_num(L, "sram", a->sram_um2);
    set_num(L, "total", a->total_um2);
}

/* sys:area() -> {pe, array, acc, sfu, sram, total} in um^2. */
static int sys_area(lua_State *L)
{
    sim_area a;
    sim_area_get(check_system(L, 1), &a);
    push_area(L, &a);
    return 1;
}

static void push_pair(lua_State *L, const char *k, int n, int m)
{
    lua_createtable(L, 2, 0);
    lua_pushinteger(L, n);
    lua_rawseti(L, -2, 1);
    lua_pushinteger(L, m);
    lua_rawseti(L, -2, 2);
    lua_setfield(L, -2, k);
}

/* sys:config() -> table of the switches (names as nm.sim.system takes). */
static int sys_config(lua_State *L)
{
    const sim_config *c = check_system(L, 1);
    static const char *const kinds[] = {"pmac", "bmac", "nm"};
    char buf[48];
    lua_createtable(L, 0, 20);
    set_str(L, "mac", kinds[c->mac.kind]);
    set_str(L, "mac_name", sim_mac_name(&c->mac, buf, sizeof buf));
    push_pair(L, "d", c->mac.dn, c->mac.dm);
    push_pair(L, "w", c->mac.wn, c->mac.wm);
    set_int(L, "rows", c->rows);
    set_int(L, "cols", c->cols);
    set_str(L, "dataflow", sim_dataflow_name(c->dataflow));
    set_str(L, "compat", c->compat_scalesim ? "scalesim" : "none");
    set_int(L, "batch", c->batch);
    set_str(L, "idle", c->idle == SIM_IDLE_GATED ? "gated" : "skipped");
    set_str(L, "windex", sim_index_scheme_name(c->windex));
    set_str(L, "dindex", sim_index_scheme_name(c->dindex));
    lua_pushboolean(L, c->dram);
    lua_setfield(L, -2, "dram");
    lua_pushboolean(L, c->leakage);
    lua_setfield(L, -2, "leakage");
    lua_pushboolean(L, c->im2col_reread);
    lua_setfield(L, -2, "im2col_reread");
    lua_pushboolean(L, c->derive_in_chans);
    lua_setfield(L, -2, "derive_in_chans");
    set_int(L, "sram_kb", c->sram_kb);
    set_str(L, "area_mode", c->area_mode == SIM_AREA_CALIBRATED ? "calibrated" : "bottom-up");
    set_int(L, "node", c->et.node_nm);
    push_energy_table(L, &c->et);
    lua_setfield(L, -2, "energy");
    return 1;
}

/* ------------------------------------------------------------- targets */

/* What a run or stepper works on: a model, one layer of a model, or a bare
 * GEMM {E=, K=, Nf= [, name=]}. */
typedef struct {
    const nm_model *m;
    int arg;            /* stack index of the model or layer handle */
    int layer;          /* -1: all layers of m */
    int bare;           /* 1: g below is the target */
    sim_gemm g;
} sim_target;

static lua_Integer gemm_dim(lua_State *L, int arg, const char *k)
{
    lua_getfield(L, arg, k);
    int isint = 0;
    lua_Integer v = lua_tointegerx(L, -1, &isint);
    if (!isint || v < 1 || v > ((lua_Integer)1 << 40))
        field_error(L, arg, k, "must be a positive integer");
    lua_pop(L, 1);
    return v;
}

static void check_target(lua_State *L, int arg, sim_target *t)
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
        if (!nm_layer_prunable(&t->m->layers[t->layer]))
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
    set_str(L, "name", l->name);
    set_int(L, "E", l->g.E);
    set_int(L, "K", l->g.K);
    set_int(L, "Kp", l->g.Kp);
    set_int(L, "Nf", l->g.Nf);
    set_int(L, "groups", l->g.groups);
    set_int(L, "folds", l->u.folds * (l->g.groups ? l->g.groups : 1));
    set_int(L, "cycles", l->cycles);
    set_int(L, "pe_busy", l->pe_busy);
    set_num(L, "util", l->util);
    set_num(L, "mapping_eff", l->mapping_eff);
    set_num(L, "fold_util_min", l->fold_util_min);
    set_num(L, "fold_util_max", l->fold_util_max);
    set_num(L, "mult_util", l->mult_util);
    set_num(L, "mult_slots", l->mult_slots);
    set_num(L, "products", l->products);
    set_num(L, "dense_macs", l->dense_macs);
    set_num(L, "eff_macs", l->eff_macs);
    set_int(L, "blocks", l->blocks);
    set_int(L, "violations", l->violations);
    lua_createtable(L, 0, 7);
    set_num(L, "w_val", l->w_val_bits / 8);
    set_num(L, "w_idx", l->w_idx_bits / 8);
    set_num(L, "d_val", l->d_val_bits / 8);
    set_num(L, "d_idx", l->d_idx_bits / 8);
    set_num(L, "out_val", l->o_val_bits / 8);
    set_num(L, "out_idx", l->o_idx_bits / 8);
    set_num(L, "out", (l->o_val_bits + l->o_idx_bits) / 8);
    lua_setfield(L, -2, "bytes");
    lua_createtable(L, 0, 5);
    set_num(L, "sram_w", l->sram_w_read);
    set_num(L, "sram_d", l->sram_d_read);
    set_num(L, "sram_o", l->sram_o_write);
    set_num(L, "dram", l->dram_bytes);
    lua_setfield(L, -2, "moved");
    const sim_energy *e = &l->e;
    lua_createtable(L, 0, 12);
    set_num(L, "mult", e->mult);
    set_num(L, "add", e->add);
    set_num(L, "select", e->select);
    set_num(L, "reg", e->reg);
    set_num(L, "sram_w", e->sram_w);
    set_num(L, "sram_d", e->sram_d);
    set_num(L, "sram_o", e->sram_o);
    set_num(L, "acc", e->acc);
    set_num(L, "sfu", e->sfu);
    set_num(L, "dram", e->dram);
    set_num(L, "leak", e->leak);
    set_num(L, "total", e->total);
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
    set_str(L, "system", sim_config_describe(&r->cfg, buf, sizeof buf));
    set_str(L, "mac", sim_mac_name(&r->cfg.mac, buf, sizeof buf));
    set_str(L, "model", r->model);
    set_str(L, "engine", r->engine);
    if (assumed && *assumed)
        set_str(L, "assumed", assumed);
    lua_createtable(L, r->n_layers, 0);
    for (int i = 0; i < r->n_layers; i++) {
        push_layer_row(L, &r->layers[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "layers");
    push_layer_row(L, &r->total);
    lua_setfield(L, -2, "total");
    push_area(L, &r->area);
    lua_setfield(L, -2, "area");
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
             "cycles %.0f  util %.3f  mult util %.3f  folds %.0f  violations %.0f\n"
             "MACs dense %.4g  effective %.4g  products %.4g\n"
             "energy %.4g uJ: mult %.3g add %.3g select %.3g reg %.3g sram w/d/o %.3g/%.3g/%.3g "
             "acc %.3g sfu %.3g dram %.3g leak %.3g (uJ)\n"
             "area %.4f mm^2: array %.4f acc %.4f sfu %.4f sram %.4f\n",
             (double)t->cycles, t->util, t->mult_util, (double)t->u.folds, (double)t->violations,
             t->dense_macs, t->eff_macs, t->products, e->total * 1e-6, e->mult * 1e-6,
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
    opt_nm(L, arg, "w", &a->wn, &a->wm);
    lua_getfield(L, arg, "filters");
    if (!lua_isnil(L, -1)) {
        if (!lua_isnumber(L, -1) || !(lua_tonumber(L, -1) >= 0 && lua_tonumber(L, -1) < 1))
            luaL_error(L, "bad option assume (filters must be a share in [0, 1))");
        a->filters = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    const char *ly = opt_str(L, arg, "layers");
    if (ly && !strcmp(ly, "pointwise"))
        a->pointwise = 1;
    else if (ly && strcmp(ly, "all"))
        luaL_error(L, "bad option assume (layers '%s': all, pointwise)", ly);
    char w[32] = "own";
    if (a->wm)
        snprintf(w, sizeof w, "%d:%d", a->wn, a->wm);
    snprintf(a->text, sizeof a->text, "assumed weights %s, %.0f%% filters removed, %s layers", w,
             a->filters * 100, a->pointwise ? "pointwise" : "all ungrouped");
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
    int reads_input = l->n_inputs == 0 ? idx == 0 : l->inputs[0] == NM_INPUT;
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
    lua_pushnil(L);
    while (lua_next(L, arg)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        int known = 0;
        for (int i = 0; k && keys[i]; i++)
            known |= !strcmp(k, keys[i]);
        if (!known)
            luaL_argerror(L, arg, lua_pushfstring(L, "unknown option '%s'",
                                                  k ? k : luaL_typename(L, -2)));
        lua_pop(L, 1);
    }
    cfg->batch = opt_int(L, arg, "batch", cfg->batch, 1, 1 << 20);
    const char *eng = opt_str(L, arg, "engine");
    if (eng && !strcmp(eng, "stepped"))
        o->stepped = 1;
    else if (eng && strcmp(eng, "analytic"))
        field_error(L, arg, "engine", lua_pushfstring(L, "'%s' (analytic, stepped)", eng));
    lua_getfield(L, arg, "activation_density");
    if (!lua_isnil(L, -1)) {
        if (!lua_isnumber(L, -1) || !(lua_tonumber(L, -1) >= 0 && lua_tonumber(L, -1) <= 1))
            field_error(L, arg, "activation_density", "must be a number in 0..1");
        o->act_density = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    lua_getfield(L, arg, "max_pe_cycles");
    if (!lua_isnil(L, -1)) {
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0)
            field_error(L, arg, "max_pe_cycles", "must be a non-negative integer");
        o->max_pe_cycles = lua_tointeger(L, -1);
    }
    lua_pop(L, 1);
    lua_getfield(L, arg, "progress");
    if (!lua_isnil(L, -1)) {
        if (!lua_isfunction(L, -1))
            field_error(L, arg, "progress", "must be a function");
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
    double dd = cfg->mac.kind == SIM_NM ? (double)cfg->mac.dn / cfg->mac.dm : 1.0;
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
            if (!nm_layer_prunable(&t->m->layers[idx]))
                continue;
            if (sim_gemm_from_layer(t->m, idx, cfg, &g))
                luaL_error(L, "%s", nm_errmsg());
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
            lua_call(L, 2, 0);
            if (!t->bare) {     /* the callback may have freed the model */
                int layer = t->layer;
                check_target(L, t->arg, t);
                t->layer = layer;
            }
        }
    }
    sim_report_totals(r);
    sim_area_get(cfg, &r->area);
    return r;
}

/* sys:run(model | layer | {E=,K=,Nf=} [, opts]) -> report. */
static int sys_run(lua_State *L)
{
    sim_config cfg = *check_system(L, 1);
    sim_target t;
    check_target(L, 2, &t);
    run_opts o;
    check_run_opts(L, 3, &cfg, &o);
    if (sim_config_check(&cfg))
        luaL_argerror(L, 3, nm_errmsg());
    run_target(L, &t, &cfg, &o);
    push_report(L, -1, o.assume.text);
    return 1;
}

/* ------------------------------------------------------------ equal area */

/* The system for spec at arg: a system, a MAC name or an options table. */
static void spec_config(lua_State *L, int arg, sim_config *cfg)
{
    if (luaL_testudata(L, arg, SIM_SYSTEM)) {
        *cfg = *check_system(L, arg);
    } else if (lua_type(L, arg) == LUA_TSTRING) {
        lua_createtable(L, 0, 1);
        lua_pushvalue(L, arg);
        lua_setfield(L, -2, "mac");
        config_from_table(L, lua_gettop(L), cfg);
        lua_pop(L, 1);
    } else if (lua_istable(L, arg)) {
        config_from_table(L, arg, cfg);
    } else {
        luaL_typeerror(L, arg, "system, MAC name or system options");
    }
}

/* nm.sim.equal_area(specs [, {budget = um2 | system}]) -> sides, systems.
 * Default budget: the array of a 32x32 pMAC system. */
static int l_equal_area(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    double budget;
    sim_config bc;
    sim_mac pm;
    sim_mac_init(&pm, SIM_PMAC, 0, 0, 0, 0);
    sim_config_init(&bc, &pm, 32, 32);
    sim_area a;
    sim_area_get(&bc, &a);
    budget = a.array_um2;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_getfield(L, 2, "budget");
        if (luaL_testudata(L, -1, SIM_SYSTEM)) {
            sim_area_get(check_system(L, lua_gettop(L)), &a);
            budget = a.array_um2;
        } else if (lua_isnumber(L, -1) && lua_tonumber(L, -1) > 0) {
            budget = lua_tonumber(L, -1);
        } else if (!lua_isnil(L, -1)) {
            field_error(L, 2, "budget", "must be an area in um^2 (> 0) or a system");
        }
        lua_pop(L, 1);
    }
    lua_Integer n = (lua_Integer)lua_rawlen(L, 1);
    lua_createtable(L, (int)n, 0);
    int sides = lua_gettop(L);
    lua_createtable(L, (int)n, 0);
    int systems = lua_gettop(L);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 1, i);
        sim_config cfg;
        spec_config(L, lua_gettop(L), &cfg);
        int side = sim_equal_area_side(&cfg.mac, cfg.area_mode, &cfg.et, budget);
        if (side < 1) {
            char buf[48];
            luaL_argerror(L, 1, lua_pushfstring(L, "[%I] %s: no PE fits in %f um^2", i,
                                                sim_mac_name(&cfg.mac, buf, sizeof buf), budget));
        }
        cfg.rows = cfg.cols = side;
        lua_pushinteger(L, side);
        lua_rawseti(L, sides, i);
        push_system(L, &cfg);
        lua_rawseti(L, systems, i);
        lua_pop(L, 1);
    }
    return 2;
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
                field_error(L, 3, "assume", lua_pushfstring(L, "needs one entry per system (%I)", ns));
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
        check_target(L, tidx, &t);
        double c0 = 0, e0 = 0;
        for (lua_Integer s = 1; s <= ns; s++) {
            lua_rawgeti(L, 1, s);
            const sim_config *cfg = check_system(L, -1);
            lua_pop(L, 1);       /* the systems table keeps it */
            o.assume = as[s - 1];
            const sim_report *r = run_target(L, &t, cfg, &o);
            double cyc = (double)r->total.cycles, en = r->total.e.total;
            if (s == 1)
                c0 = cyc, e0 = en;
            char buf[512];
            lua_createtable(L, 0, 12);
            short_label(cfg, buf, sizeof buf);
            set_str(L, "system", buf);
            set_str(L, "model", r->model);
            set_num(L, "cycles", cyc);
            set_num(L, "energy", en);
            set_num(L, "util", r->total.util);
            set_num(L, "mult_util", r->total.mult_util);
            set_num(L, "area", r->area.total_um2);
            set_num(L, "array_area", r->area.array_um2);
            set_num(L, "speedup", cyc > 0 ? c0 / cyc : 0);
            set_num(L, "energy_ratio", e0 > 0 ? en / e0 : 0);
            set_num(L, "efficiency", en > 0 ? e0 / en : 0);
            set_str(L, "switches", sim_config_describe(cfg, buf, sizeof buf));
            if (o.assume.on)
                set_str(L, "assumed", o.assume.text);
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

static const char *row_str(lua_State *L, int row, const char *k)
{
    lua_getfield(L, row, k);
    const char *s = lua_isstring(L, -1) ? lua_tostring(L, -1) : "?";
    lua_pop(L, 1);       /* the row keeps the string */
    return s;
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
            lua_getfield(L, row, "switches");
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

/* -------------------------------------------------------------- stepper */

static stepper_ud *check_stepper(lua_State *L, int arg)
{
    stepper_ud *u = luaL_checkudata(L, arg, SIM_STEPPER);
    if (!u->s)
        luaL_argerror(L, arg, "stepper has been freed");
    return u;
}

/* sys:stepper(layer | {E=,K=,Nf=}) -> stepper at cycle 0. */
static int sys_stepper(lua_State *L)
{
    const sim_config *cfg = check_system(L, 1);
    sim_target t;
    check_target(L, 2, &t);
    if (!t.bare && t.layer < 0)
        luaL_argerror(L, 2, "a layer (model:layer(...)) or {E=, K=, Nf=}, not a whole model");
    sim_gemm g = t.g;
    if (!t.bare && sim_gemm_from_layer(t.m, t.layer, cfg, &g))
        return luaL_error(L, "%s", nm_errmsg());
    stepper_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->s = NULL;
    u->counted = 0;
    luaL_setmetatable(L, SIM_STEPPER);
    /* four int32 grids of rows x cols (sim_stepper_new) */
    size_t bytes = (size_t)cfg->rows * (size_t)cfg->cols * 16;
    if (nmlua_mem_reserve(L, bytes) != NM_OK)
        return luaL_error(L, "%s", nm_errmsg());
    u->counted = bytes;
    if (!(u->s = sim_stepper_new(&g, cfg)))
        return luaL_error(L, "%s", nm_errmsg());
    return 1;
}

/* st:step([n]) -> true while cycles remain. Checks for Ctrl-C every 4096
 * cycles. */
static int st_step(lua_State *L)
{
    stepper_ud *u = check_stepper(L, 1);
    lua_Integer n = luaL_optinteger(L, 2, 1);
    luaL_argcheck(L, n >= 1, 2, "must be positive");
    int more = 1;
    for (lua_Integer i = 0; i < n && more; i++) {
        more = sim_stepper_step(u->s);
        if ((i & 4095) == 4095 && nmlua_progress(L, 0, "stepping"))
            return luaL_error(L, "cancelled");
    }
    lua_pushboolean(L, more);
    return 1;
}

static int st_cycle(lua_State *L)
{
    lua_pushinteger(L, sim_stepper_cycle(check_stepper(L, 1)->s));
    return 1;
}

/* Folds as 1-based for Lua. */
static int st_fold(lua_State *L)
{
    const sim_stepper *s = check_stepper(L, 1)->s;
    int64_t f = sim_stepper_fold(s);
    lua_pushinteger(L, f < sim_stepper_folds(s) ? f + 1 : sim_stepper_folds(s));
    return 1;
}

static int st_folds(lua_State *L)
{
    lua_pushinteger(L, sim_stepper_folds(check_stepper(L, 1)->s));
    return 1;
}

static int st_phase(lua_State *L)
{
    lua_pushstring(L, sim_stepper_phase(check_stepper(L, 1)->s) ? "stream" : "load");
    return 1;
}

static int st_errors(lua_State *L)
{
    lua_pushinteger(L, sim_stepper_errors(check_stepper(L, 1)->s));
    return 1;
}

/* st:state() -> rows x cols table of item ids (-1 idle). */
static int st_state(lua_State *L)
{
    int R, C;
    const int32_t *grid = sim_stepper_grid(check_stepper(L, 1)->s, &R, &C);
    lua_createtable(L, R, 0);
    for (int r = 0; r < R; r++) {
        lua_createtable(L, C, 0);
        for (int c = 0; c < C; c++) {
            lua_pushinteger(L, grid[(size_t)r * C + c]);
            lua_rawseti(L, -2, c + 1);
        }
        lua_rawseti(L, -2, r + 1);
    }
    return 1;
}

static int st_free(lua_State *L)
{
    stepper_ud *u = luaL_checkudata(L, 1, SIM_STEPPER);
    sim_stepper_free(u->s);
    u->s = NULL;
    nmlua_mem_release(L, u->counted);
    u->counted = 0;
    return 0;
}

/* ---------------------------------------------------------------- trace */

/* Reads `count` int8 numbers from the table at field `k` of arg (flat, or
 * nested rows of `per_row`); raises naming the field. */
static void read_i8(lua_State *L, int arg, const char *k, int8_t *out, int count, int per_row)
{
    lua_getfield(L, arg, k);
    int t = lua_gettop(L);
    if (!lua_istable(L, t))
        field_error(L, arg, k, "must be a table of numbers");
    int nested = lua_rawgeti(L, t, 1) == LUA_TTABLE;
    lua_pop(L, 1);
    int rows = nested ? count / per_row : 1, cols = nested ? per_row : count;
    if ((int)lua_rawlen(L, t) != (nested ? rows : count))
        field_error(L, arg, k, lua_pushfstring(L, "needs %d %s", nested ? rows : count,
                                               nested ? "rows" : "numbers"));
    for (int r = 0; r < rows; r++) {
        if (nested) {
            lua_rawgeti(L, t, r + 1);
            if (!lua_istable(L, -1) || (int)lua_rawlen(L, -1) != cols)
                field_error(L, arg, k, lua_pushfstring(L, "row %d needs %d numbers", r + 1, cols));
        } else {
            lua_pushvalue(L, t);
        }
        for (int c = 0; c < cols; c++) {
            lua_rawgeti(L, -1, c + 1);
            int isint = 0;
            lua_Integer v = lua_tointegerx(L, -1, &isint);
            if (!isint || v < -128 || v > 127)
                field_error(L, arg, k, "values must be integers in -128..127 (int8)");
            out[r * cols + c] = (int8_t)v;
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* nm.sim.nmmac_trace{d=, w=, data=, weights=} -> text, outputs. Without
 * data and weights: the built-in 2:4 example of sim_nm_mac_trace_example. */
static int l_nmmac_trace(lua_State *L)
{
    static const int8_t ex_block[16] = {3, 0, 1, 0, 0, 2, 0, 4, 5, 0, 0, 6, 0, 7, 8, 0};
    static const int8_t ex_w[4] = {0, 2, 0, -1};
    int dn = 2, dm = 4, wn = 2, wm = 4;
    int8_t block[64 * 64], w[64];
    if (!lua_isnoneornil(L, 1))
        luaL_checktype(L, 1, LUA_TTABLE);
    int has = lua_istable(L, 1);
    if (has) {
        opt_nm(L, 1, "d", &dn, &dm);
        opt_nm(L, 1, "w", &wn, &wm);
    }
    int hdata = 0;
    if (has) {
        lua_getfield(L, 1, "data");
        hdata = !lua_isnil(L, -1);
        lua_pop(L, 1);
        lua_getfield(L, 1, "weights");
        int hw = !lua_isnil(L, -1);
        lua_pop(L, 1);
        if (hdata != hw)
            luaL_argerror(L, 1, "give both data and weights, or neither");
    }
    if (!hdata) {
        if (dn != 2 || dm != 4 || wn != 2 || wm != 4)
            field_error(L, 1, "data", "needed unless d = w = {2, 4} (the built-in example)");
        memcpy(block, ex_block, sizeof ex_block);
        memcpy(w, ex_w, sizeof ex_w);
    } else {
        read_i8(L, 1, "data", block, dm * wm, wm);
        read_i8(L, 1, "weights", w, wm, wm);
        int nz = 0;
        for (int c = 0; c < wm; c++)
            nz += w[c] != 0;
        if (nz > wn)
            field_error(L, 1, "weights",
                        lua_pushfstring(L, "%d nonzeros, more than #F = %d", nz, wn));
    }
    sim_mac mac;
    if (sim_mac_init(&mac, SIM_NM, dn, dm, wn, wm))
        luaL_argerror(L, 1, nm_errmsg());
    int32_t out[64];
    char *text = sim_nm_mac_trace(&mac, block, w, out);
    if (!text)
        return luaL_error(L, "%s", nm_errmsg());
    lua_pushstring(L, text);
    free(text);
    lua_createtable(L, dm, 0);
    for (int r = 0; r < dm; r++) {
        lua_pushinteger(L, out[r]);
        lua_rawseti(L, -2, r + 1);
    }
    return 2;
}

/* ------------------------------------------------------------- register */

void nmlua_open_sim(lua_State *L, int nm)
{
    static const luaL_Reg sys_methods[] = {
        {"run", sys_run}, {"area", sys_area}, {"config", sys_config},
        {"stepper", sys_stepper}, {NULL, NULL},
    };
    luaL_newmetatable(L, SIM_SYSTEM);
    lua_pushcfunction(L, sys_tostring);
    lua_setfield(L, -2, "__tostring");
    luaL_newlib(L, sys_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);

    static const luaL_Reg st_methods[] = {
        {"step", st_step}, {"cycle", st_cycle}, {"fold", st_fold}, {"folds", st_folds},
        {"phase", st_phase}, {"state", st_state}, {"errors", st_errors}, {"free", st_free},
        {NULL, NULL},
    };
    luaL_newmetatable(L, SIM_STEPPER);
    lua_pushcfunction(L, st_free);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, st_free);
    lua_setfield(L, -2, "__close");
    luaL_newlib(L, st_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);

    luaL_newmetatable(L, SIM_REPORT_BOX);
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);

    static const luaL_Reg rep_methods[] = {{"csv", report_csv}, {"json", report_json},
                                           {NULL, NULL}};
    luaL_newmetatable(L, SIM_REPORT);
    lua_pushcfunction(L, report_tostring);
    lua_setfield(L, -2, "__tostring");
    luaL_newlib(L, rep_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);

    luaL_newmetatable(L, SIM_COMPARE);
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

    static const luaL_Reg fns[] = {
        {"system", l_system}, {"equal_area", l_equal_area}, {"compare", l_compare},
        {"format_compare", l_format_compare}, {"nmmac_trace", l_nmmac_trace},
        {"energy_table", l_energy_table}, {"scale_energy", l_scale_energy}, {NULL, NULL},
    };
    luaL_newlib(L, fns);
    lua_setfield(L, nm, "sim");
}
