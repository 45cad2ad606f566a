/* bind_sim_tools.c - nm.sim.equal_area, the cycle stepper for animation
 * (sys:stepper) and the nm-MAC teaching trace (nm.sim.nmmac_trace). */
#include "bind_sim.h"

#include <stdlib.h>
#include <string.h>

#define SIM_STEPPER "nm.sim.stepper"

typedef struct { sim_stepper *s; size_t counted; } stepper_ud;

/* ------------------------------------------------------------ equal area */

/* The system for spec at arg: a system, a MAC name or an options table. */
static void spec_config(lua_State *L, int arg, sim_config *cfg)
{
    if (luaL_testudata(L, arg, SIM_SYSTEM)) {
        *cfg = *nmsim_check_system(L, arg);
    } else if (lua_type(L, arg) == LUA_TSTRING) {
        lua_createtable(L, 0, 1);
        lua_pushvalue(L, arg);
        lua_setfield(L, -2, "mac");
        nmsim_config_from_table(L, lua_gettop(L), cfg);
        lua_pop(L, 1);
    } else if (lua_istable(L, arg)) {
        nmsim_config_from_table(L, arg, cfg);
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
            sim_area_get(nmsim_check_system(L, lua_gettop(L)), &a);
            budget = a.array_um2;
        } else if (lua_isnumber(L, -1) && lua_tonumber(L, -1) > 0) {
            budget = lua_tonumber(L, -1);
        } else if (!lua_isnil(L, -1)) {
            nmlua_field_error(L, 2, "budget", "must be an area in um^2 (> 0) or a system");
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
        if (side > 4096) {
            char buf[48];
            luaL_argerror(L, 1, lua_pushfstring(L, "[%I] %s: %f um^2 holds more than a 4096x4096 array",
                                                i, sim_mac_name(&cfg.mac, buf, sizeof buf), budget));
        }
        cfg.rows = cfg.cols = side;
        lua_pushinteger(L, side);
        lua_rawseti(L, sides, i);
        nmsim_push_system(L, &cfg);
        lua_rawseti(L, systems, i);
        lua_pop(L, 1);
    }
    return 2;
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
    const sim_config *cfg = nmsim_check_system(L, 1);
    sim_target t;
    nmsim_check_target(L, 2, &t);
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
        nmlua_field_error(L, arg, k, "must be a table of numbers");
    int nested = lua_rawgeti(L, t, 1) == LUA_TTABLE;
    lua_pop(L, 1);
    int rows = nested ? count / per_row : 1, cols = nested ? per_row : count;
    if ((int)lua_rawlen(L, t) != (nested ? rows : count))
        nmlua_field_error(L, arg, k, lua_pushfstring(L, "needs %d %s", nested ? rows : count,
                                               nested ? "rows" : "numbers"));
    for (int r = 0; r < rows; r++) {
        if (nested) {
            lua_rawgeti(L, t, r + 1);
            if (!lua_istable(L, -1) || (int)lua_rawlen(L, -1) != cols)
                nmlua_field_error(L, arg, k, lua_pushfstring(L, "row %d needs %d numbers", r + 1, cols));
        } else {
            lua_pushvalue(L, t);
        }
        for (int c = 0; c < cols; c++) {
            lua_rawgeti(L, -1, c + 1);
            int isint = 0;
            lua_Integer v = lua_tointegerx(L, -1, &isint);
            if (!isint || v < -128 || v > 127)
                nmlua_field_error(L, arg, k, "values must be integers in -128..127 (int8)");
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
        nmsim_opt_nm(L, 1, "d", &dn, &dm);
        nmsim_opt_nm(L, 1, "w", &wn, &wm);
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
            nmlua_field_error(L, 1, "data", "needed unless d = w = {2, 4} (the built-in example)");
        memcpy(block, ex_block, sizeof ex_block);
        memcpy(w, ex_w, sizeof ex_w);
    } else {
        read_i8(L, 1, "data", block, dm * wm, wm);
        read_i8(L, 1, "weights", w, wm, wm);
        int nz = 0;
        for (int c = 0; c < wm; c++)
            nz += w[c] != 0;
        if (nz > wn)
            nmlua_field_error(L, 1, "weights",
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

void nmsim_open_tools(lua_State *L, int sim, int methods)
{
    static const luaL_Reg fns[] = {
        {"equal_area", l_equal_area}, {"nmmac_trace", l_nmmac_trace}, {NULL, NULL},
    };
    lua_pushvalue(L, sim);
    luaL_setfuncs(L, fns, 0);
    lua_pop(L, 1);
    lua_pushcfunction(L, sys_stepper);
    lua_setfield(L, methods, "stepper");

    static const luaL_Reg st_methods[] = {
        {"step", st_step}, {"cycle", st_cycle}, {"fold", st_fold}, {"folds", st_folds},
        {"phase", st_phase}, {"state", st_state}, {"errors", st_errors}, {"free", st_free},
        {NULL, NULL},
    };
    nmlua_newmetatable(L, SIM_STEPPER);
    lua_pushcfunction(L, st_free);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, st_free);
    lua_setfield(L, -2, "__close");
    luaL_newlib(L, st_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}
