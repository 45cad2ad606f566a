/* nmlua.c - module `nm`: the list of submodules, each adding its functions
 * to the one table. A new binding (prune, sim, plot, train...) is one line
 * in `submodules` plus its declaration in nmlua.h. */
#include "nmlua.h"
#include "nmlab_config.h"

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

void nmlua_open_debug(lua_State *L, int nm)
{
    lua_pushcfunction(L, l_cancel_after);
    lua_setfield(L, nm, "_cancel_after");
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

int nmlua_field_error(lua_State *L, int arg, const char *field, const char *msg)
{
    return luaL_argerror(L, arg, lua_pushfstring(L, "%s: %s", field, msg));
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
