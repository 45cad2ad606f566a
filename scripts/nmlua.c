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
    {"train", nmlua_open_train},    /* after model: adds evaluate, forward */
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
    for (size_t i = 0; i < sizeof submodules / sizeof submodules[0]; i++) {
        submodules[i].open(L, nm);
        lua_settop(L, nm);
    }
    return 1;
}
