/* nmlua.c - module `nm`: the list of submodules, each adding its functions
 * to the one table. A new binding (prune, sim, plot, train...) is one line
 * in `submodules` plus its declaration in nmlua.h. */
#include "nmlua.h"
#include "nmlab_config.h"

#include <string.h>

static const struct {
    const char *name;
    nmlua_open_fn open;
} submodules[] = {
    {"tensor", nmlua_open_tensor},
    {"model", nmlua_open_model},
    {"zoo", nmlua_open_zoo},
    {"io", nmlua_open_io},          /* after model: adds model:save */
    {"sim", nmlua_open_sim},
    {"plot", nmlua_open_plot},
    {"prune", nmlua_open_prune},
    {"train", nmlua_open_train},    /* after model: adds model:evaluate... */
    {"debug", nmlua_open_debug},
    {"mem", nmlua_open_mem},
    {"runs", nmlua_open_runs},
    {"speedup", nmlua_open_speedup},
};

/* nm._cancel_after(hooks): cancel the running script after `hooks` more
 * hook calls (each NMLUA_HOOK_COUNT instructions). For tests. */
static int l_cancel_after(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n > 0, 1, "must be positive");
    nmlua_cancel_after(L, (long)n);
    return 0;
}

/* Copies the string keys of the table at src into the table at dst. */
static void copy_names(lua_State *L, int src, int dst)
{
    lua_pushnil(L);
    while (lua_next(L, src)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING) {
            lua_pushvalue(L, -1);
            lua_pushboolean(L, 1);
            lua_settable(L, dst);
        }
    }
}

/* nm._methods(x) -> {name = true, ...}: the method names of an nm object
 * (its metatable's __index table, or the method table a C __index keeps as
 * its first upvalue), a fresh copy: the metatables are locked, so this is
 * how the TUI console completes `obj:na<Tab>`. Empty for anything else. */
static int l_methods(lua_State *L)
{
    lua_settop(L, 1);
    lua_newtable(L);
    if (lua_getmetatable(L, 1)) {
        int mt = lua_gettop(L);
        lua_getfield(L, mt, "__index");
        if (lua_type(L, -1) == LUA_TFUNCTION && lua_getupvalue(L, -1, 1))
            lua_replace(L, -2);
        if (lua_istable(L, -1))
            copy_names(L, lua_gettop(L), 2);
    }
    lua_settop(L, 2);
    return 1;
}

void nmlua_open_debug(lua_State *L, int nm)
{
    lua_pushcfunction(L, l_cancel_after);
    lua_setfield(L, nm, "_cancel_after");
    lua_pushcfunction(L, l_methods);
    lua_setfield(L, nm, "_methods");
}

int luaopen_nm(lua_State *L)
{
    lua_newtable(L);
    int nm = lua_gettop(L);
    lua_pushliteral(L, NMLAB_VERSION);
    lua_setfield(L, nm, "version");
    lua_pushliteral(L, NMLAB_SOURCE_ROOT);   /* finds the shipped model (nm.cli) */
    lua_setfield(L, nm, "source_root");
    for (size_t i = 0; i < sizeof submodules / sizeof submodules[0]; i++) {
        submodules[i].open(L, nm);
        lua_settop(L, nm);
    }
    return 1;
}

int nmlua_newmetatable(lua_State *L, const char *tname)
{
    int fresh = luaL_newmetatable(L, tname);
    if (fresh) {
        lua_pushstring(L, tname);
        lua_setfield(L, -2, "__metatable");
    }
    return fresh;
}

void nmlua_set_num(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

void nmlua_set_int(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

void nmlua_set_str(lua_State *L, const char *k, const char *v)
{
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

void nmlua_set_bool(lua_State *L, const char *k, int v)
{
    lua_pushboolean(L, v);
    lua_setfield(L, -2, k);
}

int nmlua_field_error(lua_State *L, int arg, const char *field, const char *msg)
{
    return luaL_argerror(L, arg, lua_pushfstring(L, "%s: %s", field, msg));
}

int nmlua_opt_field(lua_State *L, int arg, const char *field)
{
    if (lua_isnoneornil(L, arg)) {
        lua_pushnil(L);
        return LUA_TNIL;
    }
    return lua_getfield(L, arg, field);
}

int nmlua_opt_int(lua_State *L, int arg, const char *field, int def, int lo, int hi)
{
    if (lua_isnoneornil(L, arg))
        return def;
    int v = def;
    if (lua_getfield(L, arg, field) != LUA_TNIL) {
        int isint = 0;
        lua_Integer x = lua_tointegerx(L, -1, &isint);
        if (!isint)
            nmlua_field_error(L, arg, field, "must be an integer");
        if (x < lo || x > hi)
            nmlua_field_error(L, arg, field, lua_pushfstring(L, "%I out of range %d..%d", x, lo, hi));
        v = (int)x;
    }
    lua_pop(L, 1);
    return v;
}

double nmlua_opt_num(lua_State *L, int arg, const char *field, double def, double lo, double hi,
                     nmlua_conv conv)
{
    double v = def;
    int t = nmlua_opt_field(L, arg, field);
    if (t != LUA_TNIL) {
        int isnum = 0;
        v = lua_tonumberx(L, -1, &isnum);
        if (!isnum || (conv == NMLUA_STRICT && t != LUA_TNUMBER))
            nmlua_field_error(L, arg, field, "must be a number");
        if (!(v >= lo && v <= hi))
            nmlua_field_error(L, arg, field, lua_pushfstring(L, "%f out of range %f..%f", v, lo, hi));
    }
    lua_pop(L, 1);
    return v;
}

int nmlua_opt_bool(lua_State *L, int arg, const char *field, int def, nmlua_conv conv)
{
    int v = def;
    int t = nmlua_opt_field(L, arg, field);
    if (t == LUA_TBOOLEAN)
        v = lua_toboolean(L, -1);
    else if (conv == NMLUA_LOOSE && lua_isinteger(L, -1)
             && (lua_tointeger(L, -1) == 0 || lua_tointeger(L, -1) == 1))
        v = (int)lua_tointeger(L, -1);
    else if (t != LUA_TNIL)
        nmlua_field_error(L, arg, field, "must be a boolean");
    lua_pop(L, 1);
    return v;
}

int nmlua_opt_enum(lua_State *L, int arg, const char *field, int def, const char *const *names)
{
    int v = def;
    if (nmlua_opt_field(L, arg, field) != LUA_TNIL) {
        const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        v = -1;
        for (int i = 0; s && names[i] && v < 0; i++)
            if (strcmp(names[i], s) == 0)
                v = i;
        if (v < 0) {
            luaL_Buffer b;
            luaL_buffinit(L, &b);
            luaL_addstring(&b, "must be one of");
            for (int i = 0; names[i]; i++) {
                luaL_addstring(&b, i ? ", '" : " '");
                luaL_addstring(&b, names[i]);
                luaL_addchar(&b, '\'');
            }
            luaL_pushresult(&b);
            nmlua_field_error(L, arg, field, lua_tostring(L, -1));
        }
    }
    lua_pop(L, 1);
    return v;
}

int nmlua_opt_fn(lua_State *L, int arg, const char *field)
{
    int t = nmlua_opt_field(L, arg, field);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return 0;
    }
    if (t != LUA_TFUNCTION)
        nmlua_field_error(L, arg, field, "must be a function");
    return lua_gettop(L);
}
