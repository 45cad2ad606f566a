/* sandbox.c - the restricted environment of --sandbox (see sandbox.h). */
#include "fileutil.h"
#include "nmlua.h"
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
 * `upvalue 2` arguments that is a string or a number (the io and os
 * functions take a number as the file name it spells) names a file we may
 * touch. File handles and nil pass unchecked: they name no file. */
static int checked_call(lua_State *L)
{
    int k = (int)lua_tointeger(L, lua_upvalueindex(2));
    for (int i = 1; i <= k; i++)
        if (lua_type(L, i) == LUA_TSTRING || lua_type(L, i) == LUA_TNUMBER)
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

/* 1 if path is a regular file we can open for reading; never blocks (a
 * FIFO is not opened for good). */
static int readable_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return 0;
    struct stat st;
    int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    close(fd);
    return ok;
}

/* package.searchpath(name, path [, sep [, rep]]) for the sandbox: as the
 * standard one, but a candidate outside the working folder is reported as
 * "no file" without being looked at, so that searchpath (and require)
 * cannot tell whether a file exists elsewhere. Candidates must be regular
 * files (the standard one would block on a FIFO). */
static int sandbox_searchpath(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const char *path = luaL_checkstring(L, 2);
    const char *sep = luaL_optstring(L, 3, ".");
    const char *rep = luaL_optstring(L, 4, LUA_DIRSEP);
    if (*sep && strchr(name, *sep))
        name = luaL_gsub(L, name, sep, rep);
    int tried = 0;
    while (*path) {
        const char *end = strchr(path, *LUA_PATH_SEP);
        size_t len = end ? (size_t)(end - path) : strlen(path);
        if (len > 0) {
            lua_pushlstring(L, path, len);
            const char *file = luaL_gsub(L, lua_tostring(L, -1), LUA_PATH_MARK, name);
            lua_remove(L, -2);
            if (nmlua_path_allowed(L, file) && readable_file(file))
                return 1;
            luaL_checkstack(L, 2, "too many templates");
            lua_pushfstring(L, "%sno file '%s'", tried ? "\n\t" : "", file);
            lua_remove(L, -2);
            tried++;
        }
        path += len + (end != NULL);
    }
    lua_pushnil(L);
    lua_insert(L, -(tried + 1));
    lua_concat(L, tried);
    return 2;
}

/* The open stream of the file handle at idx, or NULL (not a file handle,
 * or closed). */
static FILE *stream_at(lua_State *L, int idx)
{
    luaL_Stream *p = luaL_testudata(L, idx, LUA_FILEHANDLE);
    return p && p->closef ? p->f : NULL;
}

/* f:write(...) (upvalue 2 true) or io.write(...) (false) under the disk
 * cap: the bytes of the arguments are taken from the write budget
 * (nm_write_budget_take) before the standard function (upvalue 1) runs,
 * when the stream is a regular file (a terminal or pipe holds no disk).
 * Past the cap it returns nil, message, EFBIG as a failed write does. */
static int budget_write(lua_State *L)
{
    int method = lua_toboolean(L, lua_upvalueindex(2));
    FILE *f;
    if (method) {
        f = stream_at(L, 1);
    } else {
        lua_getfield(L, LUA_REGISTRYINDEX, "_IO_output");   /* liolib's IO_OUTPUT */
        f = stream_at(L, -1);
        lua_pop(L, 1);
    }
    struct stat st;
    if (f && fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) {
        long long bytes = 0;
        for (int i = 1 + method, n = lua_gettop(L); i <= n; i++) {
            int t = lua_type(L, i);
            if (t == LUA_TSTRING || t == LUA_TNUMBER) {
                size_t len;
                lua_pushvalue(L, i);            /* convert a copy, not the argument */
                lua_tolstring(L, -1, &len);
                lua_pop(L, 1);
                bytes += (long long)len;
            }
        }
        if (nm_write_budget_take(bytes) != NM_OK) {
            luaL_pushfail(L);
            lua_pushfstring(L, "sandbox: %s", nm_errmsg());
            lua_pushinteger(L, EFBIG);
            return 3;
        }
    }
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, n, LUA_MULTRET);
    return lua_gettop(L);
}

/* Replaces field "write" of the table at idx by budget_write over it. */
static void wrap_write(lua_State *L, int idx, int method)
{
    idx = lua_absindex(L, idx);
    lua_getfield(L, idx, "write");
    lua_pushboolean(L, method);
    lua_pushcclosure(L, budget_write, 2);
    lua_setfield(L, idx, "write");
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
    wrap_write(L, t, 0);                         /* io.write */
    luaL_getmetatable(L, LUA_FILEHANDLE);        /* f:write, every file handle */
    if (lua_getfield(L, -1, "__index") == LUA_TTABLE)
        wrap_write(L, -1, 1);
    lua_pop(L, 2);
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
    lua_pushcfunction(L, sandbox_searchpath);
    lua_setfield(L, -2, "searchpath");
    lua_pop(L, 1);

    /* No build paths: nm.source_root (where the shipped model is found)
     * tells where nmlab was built, and lies outside the folder anyway. */
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    if (lua_getfield(L, -1, "nm") == LUA_TTABLE) {
        lua_pushnil(L);
        lua_setfield(L, -2, "source_root");
    }
    lua_pop(L, 2);
}
