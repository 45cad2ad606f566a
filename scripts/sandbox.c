/* sandbox.c - the restricted environment of --sandbox (see sandbox.h). */
#include "nmlua.h"
#include "sandbox.h"

#include <errno.h>
#include <lauxlib.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int nmlua_path_under(const char *root, const char *path)
{
    char full[PATH_MAX], tmp[PATH_MAX], dir[PATH_MAX];
    if (realpath(path, full) == NULL) {
        /* A file to be created: resolve its folder, keep its name. */
        size_t n = strlen(path);
        if (errno != ENOENT || n == 0 || n >= sizeof tmp)
            return 0;
        memcpy(tmp, path, n + 1);
        char *slash = strrchr(tmp, '/');
        const char *base = slash ? slash + 1 : tmp;
        const char *folder = !slash ? "." : slash == tmp ? "/" : tmp;
        if (slash)
            *slash = '\0';
        if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
            return 0;
        if (realpath(folder, dir) == NULL)
            return 0;
        if ((size_t)snprintf(full, sizeof full, "%s/%s", dir, base) >= sizeof full)
            return 0;
        struct stat st;
        if (lstat(full, &st) == 0)
            return 0;   /* exists yet unresolvable: a dangling symlink */
    }
    size_t r = strlen(root);
    if (r == 1 && root[0] == '/')
        return 1;
    return strncmp(full, root, r) == 0 && (full[r] == '\0' || full[r] == '/');
}

/* Calls upvalue 1 with all arguments after checking that each of the first
 * `upvalue 2` arguments that is a string names a file we may touch. */
static int checked_call(lua_State *L)
{
    int k = (int)lua_tointeger(L, lua_upvalueindex(2));
    for (int i = 1; i <= k; i++)
        if (lua_type(L, i) == LUA_TSTRING)
            nmlua_checkpath(L, i);
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, n, LUA_MULTRET);
    return lua_gettop(L);
}

/* Copies field `name` of table src into table dst (indices absolute),
 * wrapped in a path check of its first `paths` arguments when paths > 0. */
static void copy_field(lua_State *L, int dst, int src, const char *name, int paths)
{
    lua_getfield(L, src, name);
    if (paths > 0 && lua_isfunction(L, -1)) {
        lua_pushinteger(L, paths);
        lua_pushcclosure(L, checked_call, 2);
    }
    lua_setfield(L, dst, name);
}

/* Replaces library `name` (global and package.loaded) by the table on top. */
static void replace_lib(lua_State *L, const char *name)
{
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_pushvalue(L, -2);
    lua_setfield(L, -2, name);
    lua_pop(L, 1);
    lua_setglobal(L, name);
}

void nmlua_sandbox_apply(lua_State *L)
{
    lua_getglobal(L, "os");
    int os = lua_gettop(L);
    lua_newtable(L);
    int t = lua_gettop(L);
    static const char *const os_keep[] = {"clock", "date", "difftime", "time", NULL};
    for (int i = 0; os_keep[i]; i++)
        copy_field(L, t, os, os_keep[i], 0);
    copy_field(L, t, os, "remove", 1);
    copy_field(L, t, os, "rename", 2);
    replace_lib(L, "os");
    lua_pop(L, 1);

    lua_getglobal(L, "io");
    int io = lua_gettop(L);
    lua_newtable(L);
    t = lua_gettop(L);
    static const char *const io_keep[] = {"close", "read", "write", "type", "tmpfile",
                                          "stdin", "stdout", "stderr", NULL};
    for (int i = 0; io_keep[i]; i++)
        copy_field(L, t, io, io_keep[i], 0);
    static const char *const io_paths[] = {"open", "lines", "input", "output", NULL};
    for (int i = 0; io_paths[i]; i++)
        copy_field(L, t, io, io_paths[i], 1);
    replace_lib(L, "io");
    lua_pop(L, 1);

    lua_getglobal(L, "debug");
    int dbg = lua_gettop(L);
    lua_newtable(L);
    copy_field(L, lua_gettop(L), dbg, "traceback", 0);
    replace_lib(L, "debug");
    lua_pop(L, 1);

    lua_getglobal(L, "package");
    lua_pushnil(L);
    lua_setfield(L, -2, "loadlib");
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "cpath");
    lua_pop(L, 1);
}
