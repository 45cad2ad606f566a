/* sandbox.h - the restricted environment and how code is loaded.
 *
 * loader.c: module `require` finds the embedded library first, then Lua
 * files on package.path (text only); load, loadfile and dofile refuse
 * precompiled chunks (crafted bytecode can crash the VM).
 * sandbox.c: with --sandbox the state loses os.execute, io.popen, os.exit,
 * package.loadlib, C modules and most of `debug`; every function that opens
 * a file checks that it lies under the working folder, whatever the type
 * of its argument (a number names a file too); package.searchpath (and so
 * require) does not look at candidates outside it, so it cannot tell
 * whether a file exists elsewhere; nm.source_root and the executable's path
 * (arg) are hidden. The restriction is made in the global table and
 * package.loaded themselves, so neither `_G` nor `require "os"` leads back
 * to the full libraries. host.c adds the caps: a memory limit by default
 * and a size cap on written files (host.h). */
#ifndef NMLUA_SANDBOX_H
#define NMLUA_SANDBOX_H

#include <lua.h>

/* Installs the searchers and the text-only load functions. `sandbox`
 * leaves out the C module searchers. */
void nmlua_loader_install(lua_State *L, int sandbox);

/* Restricts the state's libraries (see above). */
void nmlua_sandbox_apply(lua_State *L);

/* 1 if `path` (existing or to be created) resolves, symlinks followed,
 * to `root` or a path below it; root must itself be resolved. */
int nmlua_path_under(const char *root, const char *path);

/* 1 if the state may touch `path`: always outside the sandbox, else
 * nmlua_path_under the working folder (host.c). Does not raise. */
int nmlua_path_allowed(lua_State *L, const char *path);

#endif
