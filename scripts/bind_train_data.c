/* bind_train_data.c - nm.data: labelled image sets for nm.train and
 * model:evaluate.
 *
 * A dataset handle owns an nm_dataset (its image and label tensors are
 * copies, counted against the memory limit). Images are 1-based like every
 * index in nm; labels are class numbers 0..classes-1 as in the files. */
#include "bind_train.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    nm_dataset *d;      /* NULL once collected */
    size_t counted;     /* bytes counted against the memory limit */
} dataset_ud;

static size_t dataset_bytes(const nm_dataset *d)
{
    return (size_t)d->images->numel * sizeof(float) + (size_t)d->labels->numel * sizeof(int32_t);
}

/* Pushes a handle owning d; frees d and raises if the memory limit is hit. */
static void push_dataset(lua_State *L, nm_dataset *d)
{
    dataset_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->d = NULL;
    u->counted = 0;
    luaL_setmetatable(L, NMLUA_DATASET);
    size_t bytes = dataset_bytes(d);
    if (nmlua_mem_reserve(L, bytes) != NM_OK) {
        nm_dataset_free(d);
        luaL_error(L, "%s", nm_errmsg());
    }
    u->d = d;
    u->counted = bytes;
}

const nm_dataset *nmt_check_dataset(lua_State *L, int arg)
{
    dataset_ud *u = luaL_checkudata(L, arg, NMLUA_DATASET);
    if (u->d == NULL)
        luaL_argerror(L, arg, "dataset has been freed");
    return u->d;
}

static int ds_gc(lua_State *L)
{
    dataset_ud *u = luaL_checkudata(L, 1, NMLUA_DATASET);
    if (u->d) {
        nm_dataset_free(u->d);
        u->d = NULL;
        nmlua_mem_release(L, u->counted);
        u->counted = 0;
    }
    return 0;
}

static int ds_len(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)nm_dataset_size(nmt_check_dataset(L, 1)));
    return 1;
}

static int ds_tostring(lua_State *L)
{
    const nm_dataset *d = nmt_check_dataset(L, 1);
    const nm_tensor *x = d->images;
    lua_pushfstring(L, "nm.dataset '%s': %I images %Ix%Ix%I, %d classes", d->name,
                    (lua_Integer)x->shape[0], (lua_Integer)x->shape[1], (lua_Integer)x->shape[2],
                    (lua_Integer)x->shape[3], d->classes);
    return 1;
}

/* Index i (1-based) at arg, checked against the set's size; 0-based result. */
static int64_t check_index(lua_State *L, const nm_dataset *d, int arg)
{
    lua_Integer i = luaL_checkinteger(L, arg);
    int64_t n = nm_dataset_size(d);
    if (i < 1 || i > n)
        luaL_argerror(L, arg, lua_pushfstring(L, "image index %I out of range 1..%I", i,
                                              (lua_Integer)n));
    return i - 1;
}

/* d:image(i) -> new f32 tensor [C, H, W] (a copy). */
static int ds_image(lua_State *L)
{
    const nm_dataset *d = nmt_check_dataset(L, 1);
    int64_t i = check_index(L, d, 2);
    const nm_tensor *x = d->images;
    int64_t per = x->shape[1] * x->shape[2] * x->shape[3];
    nmlua_budget nb;
    nmlua_budget_begin(L, &nb);   /* the copy asks the memory limit first */
    nm_tensor *t = nm_tensor_new4(NM_F32, 3, x->shape[1], x->shape[2], x->shape[3], 0);
    nmlua_budget_end(&nb);
    if (t == NULL)
        return luaL_error(L, "image: %s", nm_errmsg());
    memcpy(nm_f32(t), nm_f32(x) + i * per, (size_t)per * sizeof(float));
    size_t bytes = (size_t)per * sizeof(float);
    if (nmlua_mem_reserve(L, bytes) != NM_OK) {
        nm_tensor_release(t);
        return luaL_error(L, "%s", nm_errmsg());
    }
    nmlua_push_tensor(L, t, bytes);
    return 1;
}

/* d:label(i) -> class number (0..classes-1). */
static int ds_label(lua_State *L)
{
    const nm_dataset *d = nmt_check_dataset(L, 1);
    lua_pushinteger(L, nm_i32(d->labels)[check_index(L, d, 2)]);
    return 1;
}

static int ds_index(lua_State *L)
{
    const nm_dataset *d = nmt_check_dataset(L, 1);
    const char *key = luaL_checkstring(L, 2);
    if (strcmp(key, "classes") == 0) {
        lua_pushinteger(L, d->classes);
    } else if (strcmp(key, "name") == 0) {
        lua_pushstring(L, d->name);
    } else if (strcmp(key, "shape") == 0) {
        lua_createtable(L, 3, 0);
        for (int k = 1; k < 4; k++) {
            lua_pushinteger(L, (lua_Integer)d->images->shape[k]);
            lua_rawseti(L, -2, k);
        }
    } else {
        lua_getfield(L, lua_upvalueindex(1), key);   /* methods */
    }
    return 1;
}

/* nm.data.fashion_mnist{split = 'train'|'test', limit = n, dir = path}
 * -> dataset. Raises with the engine's message (which names Debian's
 * dataset-fashion-mnist package when the files are missing); only the first
 * `limit` images are read, and they are reserved against the memory limit
 * before anything is allocated. */
static int l_fashion_mnist(lua_State *L)
{
    static const char *const keys[] = {"split", "limit", "dir", NULL};
    static const char *const splits[] = {"train", "test", NULL};
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    nmt_check_keys(L, 1, keys);
    int split = nmlua_opt_enum(L, 1, "split", 0, splits);
    int limit = nmlua_opt_int(L, 1, "limit", 0, 0, 1 << 30);
    const char *dir = NULL;
    if (lua_getfield(L, 1, "dir") != LUA_TNIL) {
        lua_pushvalue(L, -1);
        lua_replace(L, 2);
        lua_settop(L, 2);
        dir = nmlua_checkpath(L, 2);
    }
    nmlua_budget nb;
    nmlua_budget_begin(L, &nb);   /* reserved from the headers, before reading */
    nm_dataset *d = nm_data_fashion_mnist(dir, split == 0, limit);
    nmlua_budget_end(&nb);
    if (d == NULL)
        return luaL_error(L, "nm.data.fashion_mnist: %s", nm_errmsg());
    push_dataset(L, d);
    return 1;
}

/* Labels at arg: an integer tensor or a Lua array of integers. Returns a
 * new i32 tensor [n] (range checked by nm_dataset_new). */
static nm_tensor *check_labels(lua_State *L, int arg)
{
    if (lua_istable(L, arg)) {
        lua_Integer n = luaL_len(L, arg);
        if (n < 1)
            luaL_argerror(L, arg, "labels must not be empty");
        nm_tensor *y = nm_tensor_new4(NM_I32, 1, n, 0, 0, 0);
        if (y == NULL)
            luaL_error(L, "labels: %s", nm_errmsg());
        for (lua_Integer i = 0; i < n; i++) {
            lua_geti(L, arg, i + 1);
            int isint = 0;
            lua_Integer v = lua_tointegerx(L, -1, &isint);
            lua_pop(L, 1);
            if (!isint || v < 0 || v > INT32_MAX) {
                nm_tensor_release(y);
                luaL_argerror(L, arg, lua_pushfstring(L, "labels[%I] must be a class number "
                                                      ">= 0", i + 1));
            }
            nm_i32(y)[i] = (int32_t)v;
        }
        return y;
    }
    nm_tensor *t = nmlua_check_tensor(L, arg);
    if (t->ndim != 1 || t->dtype == NM_F32)
        luaL_argerror(L, arg, "labels must be an integer tensor [n] or an array of integers");
    nm_tensor *y = nm_tensor_new4(NM_I32, 1, t->numel, 0, 0, 0);
    if (y == NULL)
        luaL_error(L, "labels: %s", nm_errmsg());
    for (int64_t i = 0; i < t->numel; i++)
        nm_i32(y)[i] = (int32_t)nm_tensor_getd(t, i);
    return y;
}

/* nm.data.from_tensors(images, labels, classes [, name]) -> dataset.
 * images: f32 [n, C, H, W] (copied); labels: integer tensor [n] or array. */
static int l_from_tensors(lua_State *L)
{
    nm_tensor *x = nmlua_check_tensor(L, 1);
    if (x->dtype != NM_F32 || x->ndim != 4)
        luaL_argerror(L, 1, "images must be an f32 tensor [n, C, H, W]");
    lua_Integer classes = luaL_checkinteger(L, 3);
    if (classes < 2 || classes > 1 << 20)
        luaL_argerror(L, 3, "classes must be an integer in 2..1048576");
    const char *name = luaL_optstring(L, 4, "tensors");
    nm_tensor *y = check_labels(L, 2);
    nmlua_budget nb;
    nmlua_budget_begin(L, &nb);   /* the copy asks the memory limit first */
    nm_tensor *xc = nm_tensor_clone(x);
    nmlua_budget_end(&nb);
    nm_dataset *d = xc ? nm_dataset_new(name, xc, y, (int)classes) : NULL;
    nm_tensor_release(xc);     /* the dataset holds its own references */
    nm_tensor_release(y);
    if (d == NULL)
        return luaL_error(L, "nm.data.from_tensors: %s", nm_errmsg());
    push_dataset(L, d);
    return 1;
}

static const luaL_Reg dataset_methods[] = {
    {"image", ds_image}, {"label", ds_label}, {NULL, NULL},
};

static const luaL_Reg dataset_meta[] = {
    {"__gc", ds_gc}, {"__len", ds_len}, {"__tostring", ds_tostring}, {NULL, NULL},
};

void nmt_open_data(lua_State *L, int nm)
{
    nmlua_newmetatable(L, NMLUA_DATASET);
    luaL_setfuncs(L, dataset_meta, 0);
    lua_newtable(L);
    luaL_setfuncs(L, dataset_methods, 0);
    lua_pushcclosure(L, ds_index, 1);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushcfunction(L, l_fashion_mnist);
    lua_setfield(L, -2, "fashion_mnist");
    lua_pushcfunction(L, l_from_tensors);
    lua_setfield(L, -2, "from_tensors");
    lua_setfield(L, nm, "data");
}
