/* bind_tensor.c - nm.tensor: Lua handles of engine tensors.
 *
 * A handle holds one reference (nm_tensor_retain), so a view of a layer's
 * weight or mask stays valid after the model is collected or freed. Writes
 * through a view change the model. Indices are 1-based and checked. */
#include "nmlua.h"

#include <math.h>
#include <stdio.h>

typedef struct {
    nm_tensor *t;       /* NULL once freed */
    size_t counted;     /* bytes counted against the memory limit */
} tensor_box;

static const char *const dtype_names[] = {"f32", "i8", "u8", "i32", NULL};

void nmlua_push_tensor(lua_State *L, nm_tensor *t, size_t counted)
{
    tensor_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->t = NULL;
    b->counted = 0;
    luaL_setmetatable(L, NMLUA_TENSOR);
    b->t = t;
    b->counted = counted;
}

static tensor_box *check_box(lua_State *L, int arg)
{
    return luaL_checkudata(L, arg, NMLUA_TENSOR);
}

nm_tensor *nmlua_check_tensor(lua_State *L, int arg)
{
    tensor_box *b = check_box(L, arg);
    if (b->t == NULL)
        luaL_argerror(L, arg, "tensor has been freed");
    return b->t;
}

/* Reads a shape table at arg: 1 to 4 positive integers. */
static int check_shape(lua_State *L, int arg, int64_t *shape)
{
    luaL_checktype(L, arg, LUA_TTABLE);
    lua_Integer n = luaL_len(L, arg);
    if (n < 1 || n > NM_MAX_DIMS)
        luaL_argerror(L, arg, "shape must have 1 to 4 dimensions");
    for (int i = 0; i < n; i++) {
        int isint = 0;
        lua_geti(L, arg, i + 1);
        lua_Integer d = lua_tointegerx(L, -1, &isint);
        lua_pop(L, 1);
        if (!isint || d < 1)
            luaL_argerror(L, arg, lua_pushfstring(L, "shape[%d] must be a positive integer", i + 1));
        shape[i] = d;
    }
    return (int)n;
}

/* Value v fits dtype t (integers: integral and in range). */
static int value_fits(nm_dtype t, double v)
{
    switch (t) {
    case NM_F32: return 1;
    case NM_I8: return v == floor(v) && v >= -128 && v <= 127;
    case NM_U8: return v == floor(v) && v >= 0 && v <= 255;
    case NM_I32: return v == floor(v) && v >= -2147483648.0 && v <= 2147483647.0;
    default: return 0;
    }
}

/* nm.tensor(shape [, fill [, dtype]]) -> new tensor (f32 unless dtype). */
static int l_tensor(lua_State *L)
{
    int64_t shape[NM_MAX_DIMS];
    int ndim = check_shape(L, 1, shape);
    double fill = luaL_optnumber(L, 2, 0.0);
    nm_dtype dt = (nm_dtype)luaL_checkoption(L, 3, "f32", dtype_names);
    if (!value_fits(dt, fill))
        luaL_argerror(L, 2, lua_pushfstring(L, "fill value does not fit %s", dtype_names[dt]));
    int64_t numel;
    if (nm_shape_numel(dt, ndim, shape, &numel) != NM_OK)
        luaL_argerror(L, 1, nm_errmsg());
    size_t bytes = (size_t)numel * nm_dtype_size(dt);
    nmlua_push_tensor(L, NULL, 0);
    if (nmlua_mem_reserve(L, bytes) != NM_OK)
        return luaL_error(L, "%s", nm_errmsg());
    nm_tensor *t = nm_tensor_new(dt, ndim, shape);
    if (t == NULL) {
        nmlua_mem_release(L, bytes);
        return luaL_error(L, "nm.tensor: %s", nm_errmsg());
    }
    if (fill != 0.0)
        nm_tensor_fill(t, fill);
    tensor_box *b = lua_touserdata(L, -1);
    b->t = t;
    b->counted = bytes;
    return 1;
}

/* Drops the handle's reference now (free, __gc, __close). */
static int t_free(lua_State *L)
{
    tensor_box *b = check_box(L, 1);
    if (b->t) {
        nm_tensor_release(b->t);
        b->t = NULL;
        nmlua_mem_release(L, b->counted);
        b->counted = 0;
    }
    return 0;
}

static int t_shape(lua_State *L)
{
    nm_tensor *t = nmlua_check_tensor(L, 1);
    lua_createtable(L, t->ndim, 0);
    for (int i = 0; i < t->ndim; i++) {
        lua_pushinteger(L, (lua_Integer)t->shape[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int t_numel(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)nmlua_check_tensor(L, 1)->numel);
    return 1;
}

static int t_dtype(lua_State *L)
{
    lua_pushstring(L, dtype_names[nmlua_check_tensor(L, 1)->dtype]);
    return 1;
}

static int t_nnz(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)nm_tensor_nnz(nmlua_check_tensor(L, 1)));
    return 1;
}

static int t_density(lua_State *L)
{
    nm_tensor *t = nmlua_check_tensor(L, 1);
    lua_pushnumber(L, t->numel ? (double)nm_tensor_nnz(t) / (double)t->numel : 0.0);
    return 1;
}

/* Flat index from the ndim 1-based indices at stack 2..ndim+1. */
static int64_t check_index(lua_State *L, const nm_tensor *t, int nargs)
{
    if (nargs != t->ndim)
        luaL_error(L, "tensor has %d dimensions but %d indices were given", t->ndim, nargs);
    int64_t flat = 0;
    for (int k = 0; k < t->ndim; k++) {
        lua_Integer i = luaL_checkinteger(L, k + 2);
        if (i < 1 || i > t->shape[k])
            luaL_argerror(L, k + 2, lua_pushfstring(L, "index %I out of range 1..%I",
                                                    i, (lua_Integer)t->shape[k]));
        flat = flat * t->shape[k] + (i - 1);
    }
    return flat;
}

static void push_elem(lua_State *L, const nm_tensor *t, int64_t i)
{
    double v = nm_tensor_getd(t, i);
    if (t->dtype == NM_F32)
        lua_pushnumber(L, v);
    else
        lua_pushinteger(L, (lua_Integer)v);
}

/* t:get(i, j, ...) -> element. */
static int t_get(lua_State *L)
{
    nm_tensor *t = nmlua_check_tensor(L, 1);
    push_elem(L, t, check_index(L, t, lua_gettop(L) - 1));
    return 1;
}

/* t:set(i, j, ..., v). */
static int t_set(lua_State *L)
{
    nm_tensor *t = nmlua_check_tensor(L, 1);
    int top = lua_gettop(L);
    double v = luaL_checknumber(L, top);
    int64_t i = check_index(L, t, top - 2);
    if (!value_fits(t->dtype, v))
        luaL_argerror(L, top, lua_pushfstring(L, "value does not fit %s", dtype_names[t->dtype]));
    nm_tensor_setd(t, i, v);
    return 0;
}

/* t:fill(v). */
static int t_fill(lua_State *L)
{
    nm_tensor *t = nmlua_check_tensor(L, 1);
    double v = luaL_checknumber(L, 2);
    if (!value_fits(t->dtype, v))
        luaL_argerror(L, 2, lua_pushfstring(L, "value does not fit %s", dtype_names[t->dtype]));
    nm_tensor_fill(t, v);
    return 0;
}

/* t:clone() -> independent copy. */
static int t_clone(lua_State *L)
{
    nm_tensor *t = nmlua_check_tensor(L, 1);
    size_t bytes = (size_t)t->numel * nm_dtype_size(t->dtype);
    nmlua_push_tensor(L, NULL, 0);
    if (nmlua_mem_reserve(L, bytes) != NM_OK)
        return luaL_error(L, "%s", nm_errmsg());
    nm_tensor *c = nm_tensor_clone(t);
    if (c == NULL) {
        nmlua_mem_release(L, bytes);
        return luaL_error(L, "clone: %s", nm_errmsg());
    }
    tensor_box *b = lua_touserdata(L, -1);
    b->t = c;
    b->counted = bytes;
    return 1;
}

/* Pushes dimension `dim` of the block starting at flat index *pos. */
static void push_nested(lua_State *L, const nm_tensor *t, int dim, int64_t *pos)
{
    luaL_checkstack(L, 2, "tensor too deep");
    int64_t n = t->shape[dim];
    lua_createtable(L, n > INT32_MAX ? INT32_MAX : (int)n, 0);
    for (int64_t i = 0; i < n; i++) {
        if (dim == t->ndim - 1)
            push_elem(L, t, (*pos)++);
        else
            push_nested(L, t, dim + 1, pos);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/* t:totable() -> nested tables, outermost dimension first. */
static int t_totable(lua_State *L)
{
    nm_tensor *t = nmlua_check_tensor(L, 1);
    int64_t pos = 0;
    if (t->ndim == 0) {
        push_elem(L, t, 0);
        return 1;
    }
    push_nested(L, t, 0, &pos);
    return 1;
}

static int t_tostring(lua_State *L)
{
    tensor_box *b = check_box(L, 1);
    if (b->t == NULL) {
        lua_pushliteral(L, "nm.tensor (freed)");
        return 1;
    }
    char shape[96];
    lua_pushfstring(L, "nm.tensor %s %s", dtype_names[b->t->dtype],
                    nm_shape_str(b->t, shape, sizeof shape));
    return 1;
}

static const luaL_Reg tensor_methods[] = {
    {"shape", t_shape},     {"numel", t_numel},     {"dtype", t_dtype},
    {"get", t_get},         {"set", t_set},         {"fill", t_fill},
    {"nnz", t_nnz},         {"density", t_density}, {"totable", t_totable},
    {"clone", t_clone},     {"free", t_free},       {NULL, NULL},
};

static const luaL_Reg tensor_meta[] = {
    {"__gc", t_free},       {"__close", t_free},    {"__tostring", t_tostring},
    {"__len", t_numel},     {"__index", NULL},      {NULL, NULL},
};

void nmlua_open_tensor(lua_State *L, int nm)
{
    nmlua_newmetatable(L, NMLUA_TENSOR);
    luaL_setfuncs(L, tensor_meta, 0);
    luaL_newlib(L, tensor_methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, l_tensor);
    lua_setfield(L, nm, "tensor");
}
