/* compat.h - differences between Lua 5.4 releases, in one place.
 *
 * Debian bookworm ships 5.4.4, which has lua_resetthread(L); 5.4.6 renamed
 * it lua_closethread(L, from) and deprecated the old name. Code that resets
 * a coroutine calls nmlua_closethread. */
#ifndef NMLUA_COMPAT_H
#define NMLUA_COMPAT_H

#include <lua.h>

#if LUA_VERSION_RELEASE_NUM >= 50406
#define nmlua_closethread(L, from) lua_closethread((L), (from))
#else
#define nmlua_closethread(L, from) ((void)(from), lua_resetthread(L))
#endif

#endif
