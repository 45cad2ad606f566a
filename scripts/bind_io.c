/* bind_io.c - nm.load and model:save: model files (safetensors, or ONNX
 * for a path ending in .onnx); model:save_masks (the effective masks for
 * PyTorch) and model:shrink (the pruned model with its removed channels
 * gone: the ways back out of nmlab); nm.npy_load and nm.npy_save: single
 * tensors in NumPy's .npy format.
 *
 * Missing, unreadable or corrupt files are expected failures: nil and the
 * engine's message (which names the file). "Not enough memory" raises, as
 * everywhere in nm: the loaders reserve what the file declares against the
 * memory limit before allocating (nmlua_budget), so a file too big for it
 * is refused up front with a message naming the file, the bytes and the
 * limit. In the sandbox, paths outside the working folder raise. */
#include "nmio.h"
#include "nmlua.h"
#include "shrink.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Holds what nm_model_load returned until it is handed to Lua, so a raise
 * in between (out of memory) cannot leak it: the collector frees it. */
typedef struct {
    nm_model *m;
    char *warnings;
} load_guard;

static void guard_clear(load_guard *g)
{
    nm_model_free(g->m);
    free(g->warnings);
    g->m = NULL;
    g->warnings = NULL;
}

static int guard_gc(lua_State *L)
{
    guard_clear(lua_touserdata(L, 1));
    return 0;
}

/* nm.load(path [, {input = {C, H, W}, partial = bool}]) -> model,
 * warnings|nil  or  nil, message; raises "not enough memory" past the
 * memory limit. */
static int l_load(lua_State *L)
{
    const char *path = nmlua_checkpath(L, 1);
    nm_onnx_opts o = {.progress = nmlua_progress, .progress_ud = L};
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        if (lua_getfield(L, 2, "input") != LUA_TNIL) {
            /* {C, H, W} for input 0, or {{C, H, W}, {C, H, W}, ...} for every
             * graph input in order (an empty {} leaves one to the file) */
            if (!lua_istable(L, -1))
                luaL_argerror(L, 2, "input must be {C, H, W} or {{C, H, W}, {C, H, W}, ...}");
            int several = lua_geti(L, -1, 1) == LUA_TTABLE;
            lua_pop(L, 1);
            int n = several ? (int)luaL_len(L, -1) : 1;
            if ((!several && luaL_len(L, -1) != 3) || n > NM_MAX_GRAPH_INPUTS)
                luaL_argerror(L, 2, "input must be {C, H, W} or {{C, H, W}, {C, H, W}, ...}");
            for (int k = 0; k < n; k++) {
                if (several && lua_geti(L, -1, k + 1) != LUA_TTABLE)
                    luaL_argerror(L, 2, "input must be {C, H, W} or {{C, H, W}, {C, H, W}, ...}");
                int d[3] = {0, 0, 0}, len = (int)luaL_len(L, -1);
                if (len != 3 && !(several && len == 0))
                    luaL_argerror(L, 2, "each input size must be {C, H, W}");
                for (int i = 0; i < len; i++) {
                    lua_geti(L, -1, i + 1);
                    int ok;
                    lua_Integer v = lua_tointegerx(L, -1, &ok);
                    if (!ok || v < 1 || v > (1 << 24))
                        luaL_argerror(L, 2, "input must be three positive integers {C, H, W}");
                    d[i] = (int)v;
                    lua_pop(L, 1);
                }
                if (several)
                    lua_pop(L, 1);
                if (k == 0)
                    o.in_c = d[0], o.in_h = d[1], o.in_w = d[2];
                else
                    memcpy(o.xin_size[k - 1], d, sizeof d);
            }
        }
        lua_pop(L, 1);
        lua_getfield(L, 2, "partial");
        o.partial = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    load_guard *g = lua_newuserdatauv(L, sizeof *g, 0);
    g->m = NULL;
    g->warnings = NULL;
    lua_newtable(L);
    lua_pushcfunction(L, guard_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    nmlua_budget nb;
    nmlua_budget_begin(L, &nb);
    g->m = nm_model_load_opts(path, &o, &g->warnings);
    int refused = nmlua_budget_end(&nb);
    if (g->m == NULL) {
        if (refused)
            return luaL_error(L, "%s", nm_errmsg());
        lua_pushnil(L);
        lua_pushstring(L, nm_errmsg());
        return 2;
    }
    nm_model *m = g->m;
    g->m = NULL;
    nmlua_push_model(L, m);            /* owns m now (frees it if it raises) */
    if (g->warnings)
        lua_pushstring(L, g->warnings);
    else
        lua_pushnil(L);
    guard_clear(g);
    return 2;
}

/* 1 if path ends in ".onnx" (any case). */
static int is_onnx_path(const char *path)
{
    size_t n = strlen(path);
    return n >= 5 && strcasecmp(path + n - 5, ".onnx") == 0;
}

/* model:save(path) -> true  or  nil, message. Writes ONNX when path ends
 * in .onnx, else safetensors. */
static int m_save(lua_State *L)
{
    const nm_model *m = nmlua_check_model(L, 1);
    const char *path = nmlua_checkpath(L, 2);
    int rc;
    if (is_onnx_path(path)) {
        /* the message being built holds a copy of the weights */
        nmlua_budget nb;
        nmlua_budget_begin(L, &nb);
        rc = nm_onnx_save(m, path, nmlua_progress, L);
        if (nmlua_budget_end(&nb))
            return luaL_error(L, "%s", nm_errmsg());
    } else {
        rc = nm_safetensors_save_model_progress(m, path, nmlua_progress, L);
    }
    if (rc != NM_OK) {
        lua_pushnil(L);
        lua_pushstring(L, nm_errmsg());
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* model:save_masks(path) -> true  or  nil, message. */
static int m_save_masks(lua_State *L)
{
    const nm_model *m = nmlua_check_model(L, 1);
    const char *path = nmlua_checkpath(L, 2);
    nmlua_budget nb;
    nmlua_budget_begin(L, &nb);
    int rc = nm_masks_save(m, path);
    if (nmlua_budget_end(&nb))
        return luaL_error(L, "%s", nm_errmsg());
    if (rc != NM_OK) {
        lua_pushnil(L);
        lua_pushstring(L, nm_errmsg());
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* model:shrink() -> a new model (raises on failure, like clone; its
 * tensors are drawn on the memory limit as they are made). */
static int m_shrink(lua_State *L)
{
    const nm_model *m = nmlua_check_model(L, 1);
    nmlua_budget nb;
    nmlua_budget_begin(L, &nb);
    nm_model *s = nm_model_shrink(m);
    nmlua_budget_end(&nb);
    if (s == NULL)
        return luaL_error(L, "shrink: %s", nm_errmsg());
    nmlua_push_model(L, s);
    return 1;
}

/* nm.npy_load(path) -> tensor  or  nil, message. The tensor is reserved
 * against the memory limit before it is allocated (raises "not enough
 * memory" if it does not fit) and counted like any other. */
static int l_npy_load(lua_State *L)
{
    const char *path = nmlua_checkpath(L, 1);
    nmlua_budget nb;
    nmlua_budget_begin(L, &nb);
    nm_tensor *t = nm_npy_load(path);
    int refused = nmlua_budget_end(&nb);
    if (t == NULL) {
        if (refused)
            return luaL_error(L, "%s", nm_errmsg());
        lua_pushnil(L);
        lua_pushstring(L, nm_errmsg());
        return 2;
    }
    size_t bytes = (size_t)t->numel * nm_dtype_size(t->dtype);
    if (nmlua_mem_reserve(L, bytes) != NM_OK) {
        nm_tensor_release(t);
        return luaL_error(L, "%s: %s", path, nm_errmsg());
    }
    nmlua_push_tensor(L, t, bytes);
    return 1;
}

/* nm.npy_save(tensor, path) -> true  or  nil, message. Atomic. */
static int l_npy_save(lua_State *L)
{
    const nm_tensor *t = nmlua_check_tensor(L, 1);
    const char *path = nmlua_checkpath(L, 2);
    if (nm_npy_save(t, path) != NM_OK) {
        lua_pushnil(L);
        lua_pushstring(L, nm_errmsg());
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

void nmlua_open_io(lua_State *L, int nm)
{
    lua_pushcfunction(L, l_npy_load);
    lua_setfield(L, nm, "npy_load");
    lua_pushcfunction(L, l_npy_save);
    lua_setfield(L, nm, "npy_save");
    lua_pushcfunction(L, l_load);
    lua_setfield(L, nm, "load");
    luaL_getmetatable(L, NMLUA_MODEL);     /* registered by nmlua_open_model */
    lua_getfield(L, -1, "methods");
    lua_pushcfunction(L, m_save);
    lua_setfield(L, -2, "save");
    lua_pushcfunction(L, m_save_masks);
    lua_setfield(L, -2, "save_masks");
    lua_pushcfunction(L, m_shrink);
    lua_setfield(L, -2, "shrink");
    lua_pop(L, 2);
}
