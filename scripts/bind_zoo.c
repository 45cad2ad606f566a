/* bind_zoo.c - nm.zoo, nm.zoo_list, nm.zoo_describe: built-in networks. */
#include "nmlua.h"
#include "zoo.h"

#include <stdlib.h>
#include <string.h>

/* Seed of nm.zoo when the options give none (fixed: runs are reproducible). */
#define NMLUA_ZOO_SEED 1

/* nm.zoo(name [, {seed = n}]) -> model; raises for unknown names, and
 * "not enough memory" (before building) when the model does not fit the
 * memory limit. */
static int l_zoo(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    lua_Integer seed = NMLUA_ZOO_SEED;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_getfield(L, 2, "seed");
        if (!lua_isnil(L, -1)) {
            int isint = 0;
            seed = lua_tointegerx(L, -1, &isint);
            if (!isint)
                luaL_argerror(L, 2, "seed must be an integer");
        }
        lua_pop(L, 1);
    }
    if (!nm_zoo_has(name))
        luaL_argerror(L, 1, lua_pushfstring(L, "no zoo model '%s' (see nm.zoo_list())", name));
    nmlua_budget nb;
    nmlua_budget_begin(L, &nb);   /* the model is reserved before it is built */
    nm_model *m = nm_zoo_progress(name, (uint64_t)seed, nmlua_progress, L);
    nmlua_budget_end(&nb);
    if (m == NULL)
        return luaL_error(L, "nm.zoo('%s'): %s", name, nm_errmsg());
    nmlua_push_model(L, m);
    return 1;
}

/* nm.zoo_list() -> array of names. */
static int l_zoo_list(lua_State *L)
{
    lua_newtable(L);
    int i = 0;
    for (const char *const *z = nm_zoo_list(); *z; z++) {
        lua_pushstring(L, *z);
        lua_rawseti(L, -2, ++i);
    }
    return 1;
}

/* nm.zoo_describe(name) -> one-line description ("" if unknown). */
static int l_zoo_describe(lua_State *L)
{
    lua_pushstring(L, nm_zoo_describe(luaL_checkstring(L, 1)));
    return 1;
}

void nmlua_open_zoo(lua_State *L, int nm)
{
    static const luaL_Reg fns[] = {
        {"zoo", l_zoo}, {"zoo_list", l_zoo_list}, {"zoo_describe", l_zoo_describe},
        {NULL, NULL},
    };
    lua_pushvalue(L, nm);
    luaL_setfuncs(L, fns, 0);
    lua_pop(L, 1);
}
