/* bind_sim.c - nm.sim: option readers, systems (a sim_config in a
 * userdata: nm.sim.system, tostring, sys:area, sys:config), energy tables,
 * and the module's registration. Runs and reports are in bind_sim_run.c,
 * equal area, the stepper and the trace in bind_sim_tools.c. */
#include "bind_sim.h"

#include <stdio.h>
#include <math.h>
#include <string.h>

typedef struct { sim_config cfg; } system_ud;

/* ------------------------------------------------------------ helpers */

void nmsim_check_keys(lua_State *L, int arg, const char *const *allowed)
{
    lua_pushnil(L);
    while (lua_next(L, arg)) {
        const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        int known = 0;
        for (int i = 0; k && allowed[i]; i++)
            known |= !strcmp(k, allowed[i]);
        if (!known)
            luaL_argerror(L, arg, lua_pushfstring(L, "unknown option '%s'",
                                                  k ? k : luaL_typename(L, -2)));
        lua_pop(L, 1);
    }
}

/* A string field (NULL if nil). The options table need not hold it: an
 * __index metamethod may have made it, so nothing else may reference it
 * (popping it let the collector free it while the caller still read it:
 * heap-use-after-free, found with tests/fuzz/fuzz_lua_api.c). It is left on
 * the stack, one slot: valid until the caller restores its stack top or
 * returns to Lua. */
const char *nmsim_opt_str(lua_State *L, int arg, const char *field)
{
    luaL_checkstack(L, 2, "reading options");
    lua_getfield(L, arg, field);
    if (lua_type(L, -1) == LUA_TSTRING)
        return lua_tostring(L, -1);
    if (!lua_isnil(L, -1))
        nmlua_field_error(L, arg, field, "must be a string");
    lua_pop(L, 1);
    return NULL;
}

/* Field {n, m} of the options table at arg; 0 if absent. Raises for an
 * impossible N:M, naming the field. */
int nmsim_opt_nm(lua_State *L, int arg, const char *field, int *n, int *m)
{
    lua_getfield(L, arg, field);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 0;
    }
    if (!lua_istable(L, -1) || lua_rawlen(L, -1) != 2)
        nmlua_field_error(L, arg, field, "must be {N, M}");
    lua_Integer v[2];
    for (int i = 0; i < 2; i++) {
        lua_rawgeti(L, -1, i + 1);
        int isint = 0;
        v[i] = lua_tointegerx(L, -1, &isint);
        if (!isint)
            nmlua_field_error(L, arg, field, "must be {N, M} with integers");
        lua_pop(L, 1);
    }
    if (v[0] < 1 || v[1] < 1 || v[0] > v[1] || v[1] > 64)
        nmlua_field_error(L, arg, field,
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
    nmlua_set_int(L, "node_nm", copy.node_nm);
    for (int i = 0; i < n; i++) {
        double *slot;
        const char *name = sim_energy_field(&copy, i, &slot);
        nmlua_set_num(L, name, *slot);
    }
}

/* Overwrites *et with the keys of the Lua table at idx; unknown keys,
 * non-numbers and values sim_energy_set refuses (0, negative, NaN, Inf,
 * a fractional node_nm) raise, naming `what` (the option) and the key. */
static void energy_from_table(lua_State *L, int arg, int idx, const char *what,
                              sim_energy_table *et)
{
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            nmlua_field_error(L, arg, what, "keys must be field names");
        const char *key = lua_tostring(L, -2);
        if (!lua_isnumber(L, -1))
            nmlua_field_error(L, arg, what, lua_pushfstring(L, "'%s' must be a number", key));
        if (sim_energy_set(et, key, lua_tonumber(L, -1)))     /* the JSON reader's checks */
            nmlua_field_error(L, arg, what, nm_errmsg());
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
    "sram_kb", "derive_in_chans", "act", "bandwidth", "double_buffer", "word_bytes", "attention", "stall_count", "scalesim_replay", NULL,
};

static int index_parse(const char *s)
{
    if (s && !strcmp(s, "combinatorial"))
        return SIM_IDX_COMB;
    return sim_index_scheme_parse(s);
}

/* Fills *cfg from the options table at arg; raises naming the field. */
void nmsim_config_from_table(lua_State *L, int arg, sim_config *cfg)
{
    const int top = lua_gettop(L);   /* nmsim_opt_str's strings stay until the end */
    luaL_checktype(L, arg, LUA_TTABLE);
    nmsim_check_keys(L, arg, system_keys);
    /* MAC */
    sim_mac mac;
    const char *ms = nmsim_opt_str(L, arg, "mac");
    int dn = 0, dm = 0, wn = 0, wm = 0;
    int hd = nmsim_opt_nm(L, arg, "d", &dn, &dm), hw = nmsim_opt_nm(L, arg, "w", &wn, &wm);
    if (!ms)
        nmlua_field_error(L, arg, "mac", "missing ('pmac', 'bmac', 'nm' or a name like 'nm-4-4')");
    int rc;
    if (!strcmp(ms, "pmac")) {
        if (hd || hw)
            nmlua_field_error(L, arg, hd ? "d" : "w", "a pMAC is dense (no N:M)");
        rc = sim_mac_init(&mac, SIM_PMAC, 0, 0, 0, 0);
    } else if (!strcmp(ms, "bmac")) {
        if (hd)
            nmlua_field_error(L, arg, "d", "a bMAC takes dense data");
        rc = sim_mac_init(&mac, SIM_BMAC, 0, 0, hw ? wn : 3, hw ? wm : 9);
    } else if (!strcmp(ms, "nm")) {
        rc = sim_mac_init(&mac, SIM_NM, hd ? dn : 4, hd ? dm : 9, hw ? wn : 4, hw ? wm : 9);
    } else {
        if (hd || hw)
            nmlua_field_error(L, arg, hd ? "d" : "w", lua_pushfstring(L, "not with mac='%s' (use mac='nm')", ms));
        rc = sim_mac_parse(ms, &mac);
    }
    if (rc)
        nmlua_field_error(L, arg, "mac", nm_errmsg());
    int rows = nmlua_opt_int(L, arg, "rows", 32, 1, 4096);
    int cols = nmlua_opt_int(L, arg, "cols", rows, 1, 4096);
    sim_config_init(cfg, &mac, rows, cols);

    const char *s;
    if ((s = nmsim_opt_str(L, arg, "dataflow"))) {
        int df = sim_dataflow_parse(s);
        if (df < 0)
            nmlua_field_error(L, arg, "dataflow", lua_pushfstring(L, "'%s' (ws, os, is)", s));
        cfg->dataflow = (sim_dataflow)df;
    }
    if ((s = nmsim_opt_str(L, arg, "area_mode"))) {
        if (!strcmp(s, "calibrated"))
            cfg->area_mode = SIM_AREA_CALIBRATED;
        else if (!strcmp(s, "bottom-up"))
            cfg->area_mode = SIM_AREA_BOTTOM_UP;
        else
            nmlua_field_error(L, arg, "area_mode", lua_pushfstring(L, "'%s' (calibrated, bottom-up)", s));
    }
    if ((s = nmsim_opt_str(L, arg, "compat"))) {
        if (!strcmp(s, "scalesim"))
            cfg->compat_scalesim = 1;
        else if (strcmp(s, "none"))
            nmlua_field_error(L, arg, "compat", lua_pushfstring(L, "'%s' (scalesim, none)", s));
    }
    if ((s = nmsim_opt_str(L, arg, "idle"))) {
        if (!strcmp(s, "gated"))
            cfg->idle = SIM_IDLE_GATED;
        else if (!strcmp(s, "skipped"))
            cfg->idle = SIM_IDLE_SKIPPED;
        else
            nmlua_field_error(L, arg, "idle", lua_pushfstring(L, "'%s' (gated, skipped)", s));
    }
    const char *idx_fields[] = {"index", "windex", "dindex"};
    for (int i = 0; i < 3; i++) {
        if (!(s = nmsim_opt_str(L, arg, idx_fields[i])))
            continue;
        int v = index_parse(s);
        if (v < 0)
            nmlua_field_error(L, arg, idx_fields[i],
                        lua_pushfstring(L, "'%s' (simple, bitmask, combinatorial)", s));
        if (i != 2)
            cfg->windex = (sim_index_scheme)v;
        if (i != 1)
            cfg->dindex = (sim_index_scheme)v;
    }
    cfg->batch = nmlua_opt_int(L, arg, "batch", 1, 1, 1 << 20);
    lua_getfield(L, arg, "sram_kb");
    if (lua_istable(L, -1)) {
        /* the memory model: per-operand SRAM sizes; their sum sizes the area */
        const char *ops[3] = {"ifmap", "filter", "ofmap"};
        double *dst[3] = {&cfg->sram_ifmap_kb, &cfg->sram_filter_kb, &cfg->sram_ofmap_kb};
        int t = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, t)) {
            int ok = 0;
            for (int i = 0; i < 3; i++)
                ok |= lua_type(L, -2) == LUA_TSTRING && !strcmp(lua_tostring(L, -2), ops[i]);
            if (!ok)
                nmlua_field_error(L, arg, "sram_kb", "keys are ifmap, filter, ofmap");
            lua_pop(L, 1);
        }
        for (int i = 0; i < 3; i++) {
            lua_getfield(L, t, ops[i]);
            int isnum = 0;
            double v = lua_tonumberx(L, -1, &isnum);
            if (!isnum || !(v > 0) || !isfinite(v) || v > (1 << 24))
                nmlua_field_error(L, arg, "sram_kb",
                                  lua_pushfstring(L, "sram_kb.%s must be a positive number of KB",
                                                  ops[i]));
            *dst[i] = v;
            lua_pop(L, 1);
        }
        cfg->mem_on = 1;
        double sum = cfg->sram_ifmap_kb + cfg->sram_filter_kb + cfg->sram_ofmap_kb;
        cfg->sram_kb = sum < 1 ? 1 : sum > (1 << 20) ? 1 << 20 : (int)ceil(sum);
        lua_pop(L, 1);
    } else {
        lua_pop(L, 1);
        cfg->sram_kb = nmlua_opt_int(L, arg, "sram_kb", cfg->sram_kb, 1, 1 << 20);
    }
    lua_getfield(L, arg, "bandwidth");
    if (!lua_isnil(L, -1)) {
        int isnum = 0;
        double v = lua_tonumberx(L, -1, &isnum);
        if (lua_type(L, -1) == LUA_TSTRING && !strcmp(lua_tostring(L, -1), "calc"))
            v = 0, isnum = 1;
        else if (!isnum || !(v > 0) || !isfinite(v))
            nmlua_field_error(L, arg, "bandwidth",
                              "must be a positive number of words per cycle or 'calc'");
        if (!cfg->mem_on)
            nmlua_field_error(L, arg, "bandwidth", "needs sram_kb = {ifmap =, filter =, ofmap =}");
        cfg->bandwidth = v;
    }
    lua_pop(L, 1);
    cfg->double_buffer = nmlua_opt_bool(L, arg, "double_buffer", 1, NMLUA_LOOSE);
    cfg->word_bytes = nmlua_opt_int(L, arg, "word_bytes", 1, 1, 64);
    cfg->attention = nmlua_opt_bool(L, arg, "attention", 1, NMLUA_LOOSE);
    if ((s = nmsim_opt_str(L, arg, "stall_count"))) {
        /* compat: SCALE-Sim v3's double-counted stalls, or the corrected count */
        if (!strcmp(s, "corrected"))
            cfg->stall_corrected = 1;
        else if (strcmp(s, "v3"))
            nmlua_field_error(L, arg, "stall_count", lua_pushfstring(L, "'%s' (v3, corrected)", s));
    }
    /* compat + memory: SCALE-Sim v3's memory system replayed row by row */
    cfg->scalesim_replay = nmlua_opt_bool(L, arg, "scalesim_replay", 0, NMLUA_LOOSE);
    if (cfg->scalesim_replay && (!cfg->compat_scalesim || !cfg->mem_on))
        nmlua_field_error(L, arg, "scalesim_replay",
                          "needs compat = 'scalesim' and sram_kb = {ifmap =, filter =, ofmap =}");
    if (cfg->scalesim_replay && cfg->bandwidth > 0 && cfg->bandwidth != floor(cfg->bandwidth))
        nmlua_field_error(L, arg, "scalesim_replay",
                          "needs a whole number of words per cycle as bandwidth (SCALE-Sim's)");
    cfg->dram = nmlua_opt_bool(L, arg, "dram", 0, NMLUA_LOOSE);
    cfg->leakage = nmlua_opt_bool(L, arg, "leakage", 0, NMLUA_LOOSE);
    cfg->im2col_reread = nmlua_opt_bool(L, arg, "im2col_reread", 0, NMLUA_LOOSE);
    cfg->derive_in_chans = nmlua_opt_bool(L, arg, "derive_in_chans", cfg->derive_in_chans,
                                          NMLUA_LOOSE);
    if ((s = nmsim_opt_str(L, arg, "act"))) {
        /* where data N:M applies: per layer (nm_layer_act_source) or, declared
         * by the user, at every layer (the assumption made before) */
        if (!strcmp(s, "all"))
            cfg->act_all = 1;
        else if (strcmp(s, "auto"))
            nmlua_field_error(L, arg, "act", lua_pushfstring(L, "'%s' (auto, all)", s));
    }
    /* energy table, then node scaling */
    lua_getfield(L, arg, "energy");
    if (lua_istable(L, -1)) {
        energy_from_table(L, arg, -1, "energy", &cfg->et);
    } else if (lua_type(L, -1) == LUA_TSTRING) {
        const char *path = nmlua_checkpath(L, lua_gettop(L));   /* sandbox */
        if (sim_energy_load_json(path, &cfg->et))
            nmlua_field_error(L, arg, "energy", nm_errmsg());
    } else if (!lua_isnil(L, -1)) {
        nmlua_field_error(L, arg, "energy", "must be a table or a JSON file name");
    }
    lua_pop(L, 1);
    int node = nmlua_opt_int(L, arg, "node", 0, 0, 1000);
    if (node && sim_energy_scale(&cfg->et, node))
        nmlua_field_error(L, arg, "node", nm_errmsg());
    if (sim_config_check(cfg))
        luaL_argerror(L, arg, nm_errmsg());
    lua_settop(L, top);
}

void nmsim_push_system(lua_State *L, const sim_config *cfg)
{
    system_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->cfg = *cfg;
    luaL_setmetatable(L, SIM_SYSTEM);
}

sim_config *nmsim_check_system(lua_State *L, int arg)
{
    return &((system_ud *)luaL_checkudata(L, arg, SIM_SYSTEM))->cfg;
}

/* nm.sim.system{...} -> system. */
static int l_system(lua_State *L)
{
    sim_config cfg;
    nmsim_config_from_table(L, 1, &cfg);
    nmsim_push_system(L, &cfg);
    return 1;
}

static int sys_tostring(lua_State *L)
{
    char buf[512];
    lua_pushstring(L, sim_config_describe(nmsim_check_system(L, 1), buf, sizeof buf));
    return 1;
}

void nmsim_push_area(lua_State *L, const sim_area *a)
{
    lua_createtable(L, 0, 6);
    nmlua_set_num(L, "pe", a->pe_um2);
    nmlua_set_num(L, "array", a->array_um2);
    nmlua_set_num(L, "acc", a->acc_um2);
    nmlua_set_num(L, "sfu", a->sfu_um2);
    nmlua_set_num(L, "sram", a->sram_um2);
    nmlua_set_num(L, "total", a->total_um2);
}

/* sys:area() -> {pe, array, acc, sfu, sram, total} in um^2. */
static int sys_area(lua_State *L)
{
    sim_area a;
    sim_area_get(nmsim_check_system(L, 1), &a);
    nmsim_push_area(L, &a);
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
    const sim_config *c = nmsim_check_system(L, 1);
    static const char *const kinds[] = {"pmac", "bmac", "nm"};
    char buf[48];
    lua_createtable(L, 0, 20);
    nmlua_set_str(L, "mac", kinds[c->mac.kind]);
    nmlua_set_str(L, "mac_name", sim_mac_name(&c->mac, buf, sizeof buf));
    push_pair(L, "d", c->mac.dn, c->mac.dm);
    push_pair(L, "w", c->mac.wn, c->mac.wm);
    nmlua_set_int(L, "rows", c->rows);
    nmlua_set_int(L, "cols", c->cols);
    nmlua_set_str(L, "dataflow", sim_dataflow_name(c->dataflow));
    nmlua_set_str(L, "compat", c->compat_scalesim ? "scalesim" : "none");
    nmlua_set_int(L, "batch", c->batch);
    nmlua_set_str(L, "idle", c->idle == SIM_IDLE_GATED ? "gated" : "skipped");
    nmlua_set_str(L, "windex", sim_index_scheme_name(c->windex));
    nmlua_set_str(L, "dindex", sim_index_scheme_name(c->dindex));
    nmlua_set_bool(L, "dram", c->dram);
    nmlua_set_bool(L, "leakage", c->leakage);
    nmlua_set_bool(L, "im2col_reread", c->im2col_reread);
    nmlua_set_bool(L, "derive_in_chans", c->derive_in_chans);
    nmlua_set_int(L, "sram_kb", c->sram_kb);
    if (c->mem_on) {
        lua_createtable(L, 0, 3);
        nmlua_set_num(L, "ifmap", c->sram_ifmap_kb);
        nmlua_set_num(L, "filter", c->sram_filter_kb);
        nmlua_set_num(L, "ofmap", c->sram_ofmap_kb);
        lua_setfield(L, -2, "sram");
        if (c->bandwidth > 0)
            nmlua_set_num(L, "bandwidth", c->bandwidth);
        else
            nmlua_set_str(L, "bandwidth", "calc");
    }
    nmlua_set_bool(L, "double_buffer", c->double_buffer);
    nmlua_set_int(L, "word_bytes", c->word_bytes);
    nmlua_set_bool(L, "attention", c->attention);
    nmlua_set_bool(L, "scalesim_replay", c->scalesim_replay);
    nmlua_set_str(L, "stall_count", c->stall_corrected ? "corrected" : "v3");
    nmlua_set_str(L, "act", c->act_all ? "all" : "auto");
    nmlua_set_str(L, "area_mode", c->area_mode == SIM_AREA_CALIBRATED ? "calibrated" : "bottom-up");
    nmlua_set_int(L, "node", c->et.node_nm);
    push_energy_table(L, &c->et);
    lua_setfield(L, -2, "energy");
    return 1;
}

/* ------------------------------------------------------------- register */

void nmlua_open_sim(lua_State *L, int nm)
{
    static const luaL_Reg fns[] = {
        {"system", l_system}, {"energy_table", l_energy_table},
        {"scale_energy", l_scale_energy}, {NULL, NULL},
    };
    static const luaL_Reg sys_methods[] = {
        {"area", sys_area}, {"config", sys_config}, {NULL, NULL},
    };
    luaL_newlib(L, fns);
    int sim = lua_gettop(L);
    nmlua_newmetatable(L, SIM_SYSTEM);
    lua_pushcfunction(L, sys_tostring);
    lua_setfield(L, -2, "__tostring");
    luaL_newlib(L, sys_methods);
    int methods = lua_gettop(L);
    nmsim_open_run(L, sim, methods);
    nmsim_open_tools(L, sim, methods);
    lua_settop(L, methods);
    lua_setfield(L, -2, "__index");
    lua_settop(L, sim);
    lua_setfield(L, nm, "sim");
}
