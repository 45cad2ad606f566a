/* sandbox.h - the restricted environment and how code is loaded.
 *
 * loader.c: module `require` finds the embedded library first, then Lua
 * files on package.path (text only); load, loadfile and dofile refuse
 * precompiled chunks (crafted bytecode can crash the VM).
 * sandbox.c: with --sandbox the state loses os.execute, io.popen, os.exit,
 * package.loadlib, C modules and most of `debug`; every function that opens
 * a file checks that it lies under the working folder. The restriction is
 * made in the global table and package.loaded themselves, so neither `_G`
 * nor `require "os"` leads back to the full libraries. */
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

#endif
