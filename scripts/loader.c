/* loader.c - how code gets into the state: the embedded library, Lua files
 * as text only, and text-only replacements of load/loadfile/dofile. */
#include "embedded.h"
#include "nmlua.h"
#include "sandbox.h"

#include <lauxlib.h>
#include <string.h>

/* package.searchers entry: modules compiled into the binary. */
static int searcher_embedded(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    for (const nmlua_embedded *e = nmlua_embedded_modules; e->name; e++) {
        if (strcmp(e->name, name) != 0)
            continue;
        const char *chunkname = lua_pushfstring(L, "=[nmlab] %s", name);
        if (luaL_loadbufferx(L, (const char *)e->source, (size_t)e->len, chunkname, "t") != LUA_OK)
            return luaL_error(L, "error loading embedded module '%s':\n\t%s", name,
                              lua_tostring(L, -1));
        lua_pushliteral(L, ":embedded:");
        return 2;
    }
    lua_pushfstring(L, "no embedded module '%s'", name);
    return 1;
}

/* package.searchers entry: Lua files on package.path, loaded as text only
 * (the standard searcher would also accept bytecode). Upvalue 1: package. */
static int searcher_text(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    lua_getfield(L, lua_upvalueindex(1), "searchpath");
    lua_pushstring(L, name);
    lua_getfield(L, lua_upvalueindex(1), "path");
    if (!lua_isstring(L, -1))
        return luaL_error(L, "'package.path' must be a string");
    lua_call(L, 2, 2);
    if (lua_isnil(L, -2))
        return 1;                          /* the "no file ..." list */
    lua_pop(L, 1);
    int file = lua_gettop(L);
    const char *filename = nmlua_checkpath(L, file);
    if (luaL_loadfilex(L, filename, "t") != LUA_OK)
        return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s",
                          name, filename, lua_tostring(L, -1));
    lua_pushvalue(L, file);
    return 2;
}

/* Calls the original function (upvalue 1) with the arguments on the stack,
 * argument `mode` replaced by "t"; returns all its results. The argument
 * count is kept: an explicit nil env differs from none. */
static int call_text_mode(lua_State *L, int mode)
{
    int n = lua_gettop(L);
    if (n < mode)
        lua_settop(L, n = mode);
    lua_pushliteral(L, "t");
    lua_replace(L, mode);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, n, LUA_MULTRET);
    return lua_gettop(L);
}

/* load(chunk [, chunkname [, mode [, env]]]) with mode forced to "t". */
static int text_load(lua_State *L)
{
    return call_text_mode(L, 3);
}

/* loadfile([filename [, mode [, env]]]) with mode forced to "t". */
static int text_loadfile(lua_State *L)
{
    if (!lua_isnoneornil(L, 1))
        nmlua_checkpath(L, 1);
    return call_text_mode(L, 2);
}

/* dofile([filename]): runs a text chunk, returns its results. */
static int text_dofile(lua_State *L)
{
    const char *fname = lua_isnoneornil(L, 1) ? NULL : nmlua_checkpath(L, 1);
    lua_settop(L, 1);
    if (luaL_loadfilex(L, fname, "t") != LUA_OK)
        return lua_error(L);
    lua_call(L, 0, LUA_MULTRET);
    return lua_gettop(L) - 1;
}

static void wrap_global(lua_State *L, const char *name, lua_CFunction fn)
{
    lua_getglobal(L, name);
    lua_pushcclosure(L, fn, 1);
    lua_setglobal(L, name);
}

void nmlua_loader_install(lua_State *L, int sandbox)
{
    lua_getglobal(L, "package");
    int pkg = lua_gettop(L);
    lua_getfield(L, pkg, "searchers");
    int old = lua_gettop(L);
    lua_newtable(L);
    int n = 0;
    lua_rawgeti(L, old, 1);                 /* package.preload */
    lua_rawseti(L, -2, ++n);
    lua_pushcfunction(L, searcher_embedded);
    lua_rawseti(L, -2, ++n);
    lua_pushvalue(L, pkg);
    lua_pushcclosure(L, searcher_text, 1);
    lua_rawseti(L, -2, ++n);
    if (!sandbox) {
        for (int i = 3; i <= 4; i++) {      /* C and all-in-one C loaders */
            lua_rawgeti(L, old, i);
            lua_rawseti(L, -2, ++n);
        }
    }
    lua_setfield(L, pkg, "searchers");
    lua_settop(L, pkg - 1);
    wrap_global(L, "load", text_load);
    wrap_global(L, "loadfile", text_loadfile);
    lua_pushcfunction(L, text_dofile);
    lua_setglobal(L, "dofile");
}
