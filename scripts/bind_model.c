/* bind_model.c - models and layer views.
 *
 * The model lives in a refcounted box shared by its handle and every layer
 * view (and `layer.model` handles), so a view never dangles: the box goes
 * when the last of them is collected. model:free() (or <close>) frees the
 * model itself at once; views then raise "model has been freed". Layer
 * views hold an index, which stays valid because layers are only appended. */
#include "nmlua.h"
#include "train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int refs;           /* handles, views and use guards pointing here */
    nm_model *m;        /* NULL once freed */
    size_t counted;     /* bytes counted against the memory limit */
    int uses;           /* engine loops running on the model (they nest) */
    int weight_uses;    /* of them, loops that change its weights (nm.train) */
    const char *user;   /* innermost loop ("nm.train"), NULL when idle */
    const char *weight_user;    /* innermost weight-changing loop */
} model_box;

/* A use of a box by an engine loop (nmlua_model_use): a to-be-closed
 * userdata on the loop binding's stack. */
typedef struct {
    model_box *box;     /* NULL once released */
    nmlua_use kind;
    const char *prev_user, *prev_weight_user;
} use_guard;

#define NMLUA_USE_GUARD "nm.model.use"

typedef struct { model_box *box; } model_ud;
typedef struct { model_box *box; int index; } layer_ud;

size_t nmlua_model_bytes(const nm_model *m)
{
    size_t total = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        const nm_tensor *ts[] = {l->weight, l->bias, l->mask, l->filters, l->in_chans,
                                 l->gamma, l->beta, l->mean, l->var};
        for (size_t k = 0; k < sizeof ts / sizeof ts[0]; k++)
            if (ts[k])
                total += (size_t)ts[k]->numel * nm_dtype_size(ts[k]->dtype);
    }
    return total + (size_t)nm_forward_cache_bytes(m);   /* model:forward's kept buffers */
}

static void box_free_model(lua_State *L, model_box *b)
{
    if (b->m) {
        nm_model_free(b->m);
        b->m = NULL;
        nmlua_mem_release(L, b->counted);
        b->counted = 0;
    }
}

static void box_release(lua_State *L, model_box *b)
{
    if (b && --b->refs == 0) {
        box_free_model(L, b);
        free(b);
    }
}

/* Pushes a model handle on box b (taking a new reference). */
static void push_box(lua_State *L, model_box *b)
{
    model_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->box = NULL;
    luaL_setmetatable(L, NMLUA_MODEL);
    u->box = b;
    b->refs++;
}

static model_box *check_model_box(lua_State *L, int arg);

/* Counts growth of the model (layers added, masks created) against the
 * memory limit; raises if it does not fit. */
static void box_recount(lua_State *L, model_box *b)
{
    size_t now = b->m ? nmlua_model_bytes(b->m) : 0;
    if (now > b->counted) {
        if (nmlua_mem_reserve(L, now - b->counted) != NM_OK)
            luaL_error(L, "%s", nm_errmsg());
    } else {
        nmlua_mem_release(L, b->counted - now);
    }
    b->counted = now;
}

void nmlua_model_recount(lua_State *L, int arg)
{
    box_recount(L, check_model_box(L, arg));
}

int nmlua_model_recount_soft(lua_State *L, int arg)
{
    model_box *b = check_model_box(L, arg);
    size_t now = nmlua_model_bytes(b->m);
    if (now > b->counted && nmlua_mem_reserve(L, now - b->counted) != NM_OK)
        return NM_ERR;
    if (now < b->counted)
        nmlua_mem_release(L, b->counted - now);
    b->counted = now;
    return NM_OK;
}

void nmlua_push_model(lua_State *L, nm_model *m)
{
    model_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->box = NULL;
    luaL_setmetatable(L, NMLUA_MODEL);
    model_box *b = calloc(1, sizeof *b);
    size_t bytes = nmlua_model_bytes(m);
    if (b == NULL || nmlua_mem_reserve(L, bytes) != NM_OK) {
        nm_model_free(m);
        free(b);
        luaL_error(L, "%s", b ? nm_errmsg() : "not enough memory");
    }
    b->refs = 1;
    b->m = m;
    b->counted = bytes;
    u->box = b;
}

static model_box *check_model_box(lua_State *L, int arg)
{
    model_ud *u = luaL_checkudata(L, arg, NMLUA_MODEL);
    if (u->box == NULL || u->box->m == NULL)
        luaL_argerror(L, arg, "model has been freed");
    return u->box;
}

nm_model *nmlua_check_model(lua_State *L, int arg)
{
    return check_model_box(L, arg)->m;
}

/* ---- models in use by engine loops ---- */

/* The box of a live model or layer handle at arg; raises otherwise. */
static model_box *box_of(lua_State *L, int arg)
{
    layer_ud *lu = luaL_testudata(L, arg, NMLUA_LAYER);
    if (lu == NULL)
        return check_model_box(L, arg);
    if (lu->box == NULL || lu->box->m == NULL)
        luaL_argerror(L, arg, "model has been freed");
    return lu->box;
}

/* Raises "<what>: model is in use by <loop>". */
static int in_use_error(lua_State *L, const char *what, const char *by)
{
    return luaL_error(L, "%s: model is in use by %s", what, by);
}

nm_model *nmlua_model_check_idle(lua_State *L, int arg, const char *what)
{
    model_box *b = box_of(L, arg);
    if (b->uses > 0)
        in_use_error(L, what, b->user);
    return b->m;
}

/* Ends a use (the guard's __close, or __gc if never closed): restores the
 * box's previous users and drops the guard's reference. Never raises. */
static int guard_release(lua_State *L)
{
    use_guard *g = luaL_checkudata(L, 1, NMLUA_USE_GUARD);
    model_box *b = g->box;
    if (b) {
        g->box = NULL;
        b->uses--;
        if (g->kind & NMLUA_USE_WEIGHTS)
            b->weight_uses--;
        b->user = g->prev_user;
        b->weight_user = g->prev_weight_user;
        box_release(L, b);
    }
    return 0;
}

nm_model *nmlua_model_use(lua_State *L, int arg, const char *by, nmlua_use kind)
{
    model_box *b = box_of(L, arg);
    if ((kind & NMLUA_USE_MASKS) && b->uses > 0)
        in_use_error(L, by, b->user);
    if ((kind & NMLUA_USE_WEIGHTS) && b->weight_uses > 0)
        in_use_error(L, by, b->weight_user);
    luaL_checkstack(L, 2, "model use");
    use_guard *g = lua_newuserdatauv(L, sizeof *g, 0);
    g->box = NULL;
    luaL_setmetatable(L, NMLUA_USE_GUARD);
    g->kind = kind;
    g->prev_user = b->user;
    g->prev_weight_user = b->weight_user;
    g->box = b;
    b->refs++;
    b->uses++;
    b->user = by;
    if (kind & NMLUA_USE_WEIGHTS) {
        b->weight_uses++;
        b->weight_user = by;
    }
    lua_toclose(L, -1);
    return b->m;
}

static void push_layer(lua_State *L, model_box *b, int index)
{
    layer_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->box = NULL;
    luaL_setmetatable(L, NMLUA_LAYER);
    u->box = b;
    u->index = index;
    b->refs++;
}

static nm_layer *check_layer(lua_State *L, int arg, model_box **box)
{
    layer_ud *u = luaL_checkudata(L, arg, NMLUA_LAYER);
    if (u->box == NULL || u->box->m == NULL)
        luaL_argerror(L, arg, "model has been freed");
    if (u->index >= u->box->m->n_layers)
        luaL_argerror(L, arg, "layer no longer exists");
    if (box)
        *box = u->box;
    return &u->box->m->layers[u->index];
}

/* Layer index from a name or 1-based index at arg; raises if unknown. */
static int check_layer_ref(lua_State *L, const nm_model *m, int arg)
{
    if (lua_type(L, arg) == LUA_TNUMBER) {
        lua_Integer i = luaL_checkinteger(L, arg);
        if (i < 1 || i > m->n_layers)
            luaL_argerror(L, arg, lua_pushfstring(L, "layer index %I out of range 1..%d",
                                                  i, m->n_layers));
        return (int)i - 1;
    }
    const char *name = luaL_checkstring(L, arg);
    int i = nm_model_find(m, name);
    if (i < 0)
        luaL_argerror(L, arg, lua_pushfstring(L, "no layer named '%s' in model '%s'",
                                              name, m->name));
    return i;
}

/* "64x112x112" */
static void push_chw(lua_State *L, int c, int h, int w)
{
    lua_pushfstring(L, "%dx%dx%d", c, h, w);
}

/* Pushes the statistics row of layer idx (fields documented in lua-api.md). */
static void push_stats_row(lua_State *L, const nm_model *m, int idx)
{
    const nm_layer *l = &m->layers[idx];
    nm_layer_stats s;
    nm_layer_stats_get(m, idx, &s);
    lua_createtable(L, 0, 18);
    nmlua_set_int(L, "index", idx + 1);
    lua_pushstring(L, l->name);
    lua_setfield(L, -2, "name");
    lua_pushstring(L, nm_layer_kind_name(l->kind));
    lua_setfield(L, -2, "kind");
    nmlua_set_int(L, "params", s.params);
    nmlua_set_int(L, "nonzeros", s.nonzeros);
    lua_pushnumber(L, s.density);
    lua_setfield(L, -2, "density");
    nmlua_set_int(L, "filters", s.filters);
    nmlua_set_int(L, "filters_kept", s.filters_kept);
    nmlua_set_int(L, "in_chans", s.in_chans);
    nmlua_set_int(L, "in_chans_kept", s.in_chans_kept);
    nmlua_set_int(L, "positions", s.positions);
    nmlua_set_int(L, "macs", s.dense_macs);
    nmlua_set_int(L, "sparse_macs", nm_layer_prunable(l) ? s.positions * s.nonzeros : s.dense_macs);
    push_chw(L, l->in_c, l->in_h, l->in_w);
    lua_setfield(L, -2, "in_shape");
    push_chw(L, l->out_c, l->out_h, l->out_w);
    lua_setfield(L, -2, "out_shape");
    if (l->weight) {
        char buf[96];
        lua_pushstring(L, nm_shape_str(l->weight, buf, sizeof buf));
    } else {
        lua_pushliteral(L, "");
    }
    lua_setfield(L, -2, "weight_shape");
    if (l->wm > 0)
        lua_pushfstring(L, "%d:%d", l->wn, l->wm);
    else
        lua_pushliteral(L, "");
    lua_setfield(L, -2, "nm");
}

/* ---- model methods ---- */

static int m_gc(lua_State *L)
{
    model_ud *u = luaL_checkudata(L, 1, NMLUA_MODEL);
    box_release(L, u->box);
    u->box = NULL;
    return 0;
}

/* model:free(): frees the model now (views then raise). Raises while an
 * engine loop uses the model (a callback freeing it). */
static int m_free(lua_State *L)
{
    model_ud *u = luaL_checkudata(L, 1, NMLUA_MODEL);
    if (u->box && u->box->m) {
        nmlua_model_check_idle(L, 1, "model:free");
        box_free_model(L, u->box);
    }
    return 0;
}

/* __close (a <close> variable going out of scope): as model:free. */
static int m_close(lua_State *L)
{
    model_ud *u = luaL_checkudata(L, 1, NMLUA_MODEL);
    if (u->box && u->box->m) {
        nmlua_model_check_idle(L, 1, "<close>");
        box_free_model(L, u->box);
    }
    return 0;
}

static int m_len(lua_State *L)
{
    lua_pushinteger(L, check_model_box(L, 1)->m->n_layers);
    return 1;
}

static int m_tostring(lua_State *L)
{
    model_ud *u = luaL_checkudata(L, 1, NMLUA_MODEL);
    if (u->box == NULL || u->box->m == NULL) {
        lua_pushliteral(L, "nm.model (freed)");
        return 1;
    }
    const nm_model *m = u->box->m;
    lua_pushfstring(L, "nm.model '%s': %d layers, %I parameters, input %dx%dx%d", m->name,
                    m->n_layers, (lua_Integer)nm_model_params(m), m->in_c, m->in_h, m->in_w);
    return 1;
}

static int m_eq(lua_State *L)
{
    model_ud *a = luaL_checkudata(L, 1, NMLUA_MODEL);
    model_ud *b = luaL_checkudata(L, 2, NMLUA_MODEL);
    lua_pushboolean(L, a->box == b->box);
    return 1;
}

/* model:layers() -> array of layer views. */
static int m_layers(lua_State *L)
{
    model_box *b = check_model_box(L, 1);
    int n = b->m->n_layers;
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        push_layer(L, b, i);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* model:layer(name_or_index) -> layer view; raises if unknown. */
static int m_layer(lua_State *L)
{
    model_box *b = check_model_box(L, 1);
    push_layer(L, b, check_layer_ref(L, b->m, 2));
    return 1;
}

/* model:stats() -> array of per-layer rows. */
static int m_stats(lua_State *L)
{
    const nm_model *m = nmlua_check_model(L, 1);
    lua_createtable(L, m->n_layers, 0);
    for (int i = 0; i < m->n_layers; i++) {
        push_stats_row(L, m, i);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

/* model:clone() -> independent deep copy. */
static int m_clone(lua_State *L)
{
    const nm_model *m = nmlua_check_model(L, 1);
    nm_model *c = nm_model_clone(m);
    if (c == NULL)
        return luaL_error(L, "clone: %s", nm_errmsg());
    nmlua_push_model(L, c);
    return 1;
}

/* model:add_input(name, {C, H, W}) -> the new graph input's index in
 * model.inputs (2, 3, ...); layers read it through opts.input = name. */
static int m_add_input(lua_State *L)
{
    model_box *b = check_model_box(L, 1);
    const char *name = luaL_checkstring(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    if (luaL_len(L, 3) != 3)
        luaL_argerror(L, 3, "shape must be {C, H, W}");
    int d[3];
    for (int i = 0; i < 3; i++) {
        lua_geti(L, 3, i + 1);
        int ok;
        lua_Integer v = lua_tointegerx(L, -1, &ok);
        if (!ok || v < 1 || v > (1 << 24))
            luaL_argerror(L, 3, "shape must be three positive integers {C, H, W}");
        d[i] = (int)v;
        lua_pop(L, 1);
    }
    if (nm_model_find(b->m, name) >= 0)
        return luaL_error(L, "model:add_input: '%s' is a layer of model '%s'", name, b->m->name);
    int src = nm_model_add_input(b->m, name, d[0], d[1], d[2]);
    if (src == -1)
        return luaL_error(L, "model:add_input: %s", nm_errmsg());
    lua_pushinteger(L, nm_input_index(src) + 1);
    return 1;
}

/* model:init_weights(seed): deterministic synthetic weights. */
static int m_init_weights(lua_State *L)
{
    nm_model *m = nmlua_check_model(L, 1);
    lua_Integer seed = luaL_checkinteger(L, 2);
    if (nm_model_init_weights_progress(m, (uint64_t)seed, nmlua_progress, L) != NM_OK)
        return luaL_error(L, "init_weights: %s", nm_errmsg());
    return 0;
}

/* Graph input called `name` (NM_INPUT, NM_INPUT_K(k)), or 0 when none is. */
static int input_named(const nm_model *m, const char *name)
{
    for (int k = 0; k < nm_model_n_inputs(m); k++)
        if (!strcmp(nm_model_input_name(m, k), name))
            return NM_INPUT_K(k);
    return 0;
}

/* Producer for model:add from opts[field]: nil -> previous layer (or
 * `dflt`), "input" -> the model input (graph input 0), a layer name, a
 * graph input's name (when no layer has it), a 1-based index or a view. */
static int opt_producer(lua_State *L, model_box *b, int opts, const char *field, int dflt)
{
    int r = dflt;
    lua_getfield(L, opts, field);
    int v = lua_gettop(L);
    if (lua_isnil(L, v)) {
        r = dflt;
    } else if (lua_type(L, v) == LUA_TSTRING && strcmp(lua_tostring(L, v), "input") == 0) {
        r = NM_INPUT;
    } else if (lua_type(L, v) == LUA_TSTRING && nm_model_find(b->m, lua_tostring(L, v)) < 0 &&
               input_named(b->m, lua_tostring(L, v))) {
        r = input_named(b->m, lua_tostring(L, v));
    } else if (lua_isuserdata(L, v)) {
        layer_ud *u = luaL_testudata(L, v, NMLUA_LAYER);
        if (u == NULL || u->box != b)
            luaL_error(L, "opts.%s: a layer of another model", field);
        r = u->index;
    } else if (lua_type(L, v) == LUA_TSTRING || lua_type(L, v) == LUA_TNUMBER) {
        r = check_layer_ref(L, b->m, v);
    } else {
        luaL_error(L, "opts.%s: expected a layer name, index or view, got %s", field,
                   luaL_typename(L, v));
    }
    lua_pop(L, 1);
    return r;
}

static int opt_int(lua_State *L, int opts, const char *field, int dflt)
{
    lua_getfield(L, opts, field);
    int isint = 1;
    lua_Integer v = lua_isnil(L, -1) ? dflt : lua_tointegerx(L, -1, &isint);
    if (!isint || v < 0 || v > 1 << 24)
        luaL_error(L, "opts.%s: expected a non-negative integer, got %s", field,
                   luaL_typename(L, -1));
    lua_pop(L, 1);
    return (int)v;
}

static int opt_bool(lua_State *L, int opts, const char *field, int dflt)
{
    lua_getfield(L, opts, field);
    int v = lua_isnil(L, -1) ? dflt : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/* model:add(kind, name [, opts]) -> layer view. Kinds and options are in
 * docs/lua-api.md; a bad geometry raises with the engine's message. */
static int m_add(lua_State *L)
{
    nmlua_model_check_idle(L, 1, "model:add");
    model_box *b = check_model_box(L, 1);
    nm_model *m = b->m;
    static const char *const kinds[] = {"conv", "dwconv", "linear", "bn", "relu",
                                        "maxpool", "avgpool", "gap", "add", "flatten",
                                        "layernorm", "gelu", "softmax", NULL};
    int kind = luaL_checkoption(L, 2, NULL, kinds);
    const char *name = luaL_checkstring(L, 3);
    if (lua_isnoneornil(L, 4)) {
        lua_settop(L, 3);
        lua_newtable(L);
    }
    luaL_checktype(L, 4, LUA_TTABLE);
    int in = opt_producer(L, b, 4, "input", NM_PREV);
    int k = opt_int(L, 4, "k", 3), stride = opt_int(L, 4, "stride", 1);
    int pad = opt_int(L, 4, "pad", 0);
    int idx = -1;
    switch (kind) {
    case 0: idx = nm_add_conv(m, name, in, opt_int(L, 4, "out", 0), k, k, stride, pad,
                              opt_int(L, 4, "groups", 1), opt_bool(L, 4, "bias", 0)); break;
    case 1: idx = nm_add_dwconv(m, name, in, k, stride, pad); break;
    case 2: idx = nm_add_linear(m, name, in, opt_int(L, 4, "out", 0), opt_bool(L, 4, "bias", 1)); break;
    case 3: idx = nm_add_bn(m, name, in); break;
    case 4: {
        lua_getfield(L, 4, "clip");
        float clip = (float)luaL_optnumber(L, -1, 0.0);
        lua_pop(L, 1);
        idx = nm_add_relu(m, name, in, clip);
        break;
    }
    case 5: case 6:
        idx = nm_add_pool(m, name, in, kind == 5 ? NM_LAYER_MAXPOOL : NM_LAYER_AVGPOOL,
                          k, opt_int(L, 4, "stride", (int)k), pad);
        break;
    case 7: idx = nm_add_gap(m, name, in); break;
    case 8: idx = nm_add_add(m, name, in, opt_producer(L, b, 4, "with", NM_PREV)); break;
    case 9: idx = nm_add_flatten(m, name, in); break;
    case 10: idx = nm_add_layernorm(m, name, in); break;
    case 11: idx = nm_add_gelu(m, name, in); break;
    case 12: idx = nm_add_softmax(m, name, in); break;
    }
    if (idx < 0)
        return luaL_error(L, "model:add %s '%s': %s", kinds[kind], name, nm_errmsg());
    box_recount(L, b);
    push_layer(L, b, idx);
    return 1;
}

static void push_ints(lua_State *L, int n, const int *v);

static int m_index(lua_State *L)
{
    model_box *b = check_model_box(L, 1);
    if (lua_type(L, 2) == LUA_TNUMBER) {
        lua_Integer i = lua_tointeger(L, 2);
        if (i >= 1 && i <= b->m->n_layers)
            push_layer(L, b, (int)i - 1);
        else
            lua_pushnil(L);
        return 1;
    }
    const char *key = luaL_checkstring(L, 2);
    if (strcmp(key, "name") == 0) {
        lua_pushstring(L, b->m->name);
    } else if (strcmp(key, "input") == 0) {
        lua_createtable(L, 3, 0);
        int d[3] = {b->m->in_c, b->m->in_h, b->m->in_w};
        for (int i = 0; i < 3; i++) {
            lua_pushinteger(L, d[i]);
            lua_rawseti(L, -2, i + 1);
        }
    } else if (strcmp(key, "inputs") == 0) {
        /* {{name =, shape = {C, H, W}}, ...}: every graph input in order */
        int n = nm_model_n_inputs(b->m);
        lua_createtable(L, n, 0);
        for (int k = 0; k < n; k++) {
            int d[3];
            nm_model_input_shape(b->m, k, &d[0], &d[1], &d[2]);
            lua_createtable(L, 0, 2);
            lua_pushstring(L, nm_model_input_name(b->m, k));
            lua_setfield(L, -2, "name");
            push_ints(L, 3, d);
            lua_setfield(L, -2, "shape");
            lua_rawseti(L, -2, k + 1);
        }
    } else if (strcmp(key, "params") == 0) {
        lua_pushinteger(L, (lua_Integer)nm_model_params(b->m));
    } else if (strcmp(key, "macs") == 0) {
        lua_pushinteger(L, (lua_Integer)nm_model_dense_macs(b->m));
    } else {
        lua_getfield(L, lua_upvalueindex(1), key);   /* methods */
    }
    return 1;
}

/* nm.model(name, {c, h, w}) -> empty model to build with model:add. */
static int l_model(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    int d[3];
    for (int i = 0; i < 3; i++) {
        int isint = 0;
        lua_geti(L, 2, i + 1);
        lua_Integer v = lua_tointegerx(L, -1, &isint);
        lua_pop(L, 1);
        if (!isint || v < 1 || v > 1 << 24)
            luaL_argerror(L, 2, "input shape must be {c, h, w} of positive integers");
        d[i] = (int)v;
    }
    nm_model *m = nm_model_new(name, d[0], d[1], d[2]);
    if (m == NULL)
        return luaL_error(L, "nm.model: %s", nm_errmsg());
    nmlua_push_model(L, m);
    return 1;
}

/* ---- layer views ---- */

static int ly_gc(lua_State *L)
{
    layer_ud *u = luaL_checkudata(L, 1, NMLUA_LAYER);
    box_release(L, u->box);
    u->box = NULL;
    return 0;
}

static int ly_tostring(lua_State *L)
{
    layer_ud *u = luaL_checkudata(L, 1, NMLUA_LAYER);
    if (u->box == NULL || u->box->m == NULL || u->index >= u->box->m->n_layers) {
        lua_pushliteral(L, "nm.layer (model freed)");
        return 1;
    }
    const nm_layer *l = &u->box->m->layers[u->index];
    lua_pushfstring(L, "nm.layer %d '%s' (%s) %dx%dx%d -> %dx%dx%d", u->index + 1, l->name,
                    nm_layer_kind_name(l->kind), l->in_c, l->in_h, l->in_w, l->out_c,
                    l->out_h, l->out_w);
    return 1;
}

static int ly_eq(lua_State *L)
{
    layer_ud *a = luaL_checkudata(L, 1, NMLUA_LAYER);
    layer_ud *b = luaL_checkudata(L, 2, NMLUA_LAYER);
    lua_pushboolean(L, a->box == b->box && a->index == b->index);
    return 1;
}

/* layer:stats() -> the row model:stats() has for this layer. */
static int ly_stats(lua_State *L)
{
    model_box *b;
    nm_layer *l = check_layer(L, 1, &b);
    push_stats_row(L, b->m, (int)(l - b->m->layers));
    return 1;
}

/* A view of a layer tensor (retained), or nil. */
static void push_view(lua_State *L, nm_tensor *t)
{
    if (t)
        nmlua_push_tensor(L, nm_tensor_retain(t), 0);
    else
        lua_pushnil(L);
}

static void push_ints(lua_State *L, int n, const int *v)
{
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushinteger(L, v[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

static int ly_index(lua_State *L)
{
    model_box *b;
    nm_layer *l = check_layer(L, 1, &b);
    const char *key = luaL_checkstring(L, 2);
    if (strcmp(key, "name") == 0) {
        lua_pushstring(L, l->name);
    } else if (strcmp(key, "kind") == 0) {
        lua_pushstring(L, nm_layer_kind_name(l->kind));
    } else if (strcmp(key, "index") == 0) {
        lua_pushinteger(L, (lua_Integer)(l - b->m->layers) + 1);
    } else if (strcmp(key, "weight") == 0) {
        push_view(L, l->weight);
    } else if (strcmp(key, "mask") == 0) {
        push_view(L, l->mask);
    } else if (strcmp(key, "bias") == 0) {
        push_view(L, l->bias);
    } else if (strcmp(key, "filters") == 0) {
        push_view(L, l->filters);
    } else if (strcmp(key, "in_chans") == 0) {
        push_view(L, l->in_chans);
    } else if (strcmp(key, "in_shape") == 0) {
        push_ints(L, 3, (int[]){l->in_c, l->in_h, l->in_w});
    } else if (strcmp(key, "out_shape") == 0) {
        push_ints(L, 3, (int[]){l->out_c, l->out_h, l->out_w});
    } else if (strcmp(key, "inputs") == 0) {
        int in[NM_MAX_INPUTS];
        for (int i = 0; i < l->n_inputs && i < NM_MAX_INPUTS; i++) {
            int k = nm_input_index(l->inputs[i]);
            in[i] = k >= 0 ? -k : l->inputs[i] + 1;   /* 0 = the model input, -k = input k */
        }
        push_ints(L, l->n_inputs, in);
    } else if (strcmp(key, "model") == 0) {
        push_box(L, b);
    } else {
        lua_getfield(L, lua_upvalueindex(1), key);   /* methods */
    }
    return 1;
}

static const luaL_Reg model_methods[] = {
    {"layers", m_layers}, {"layer", m_layer},   {"stats", m_stats},
    {"clone", m_clone},   {"free", m_free},     {"add", m_add},
    {"init_weights", m_init_weights},           {"add_input", m_add_input},
    {NULL, NULL},
};

static const luaL_Reg model_meta[] = {
    {"__gc", m_gc},   {"__close", m_close},      {"__tostring", m_tostring},
    {"__len", m_len}, {"__eq", m_eq},           {NULL, NULL},
};

static const luaL_Reg layer_methods[] = {
    {"stats", ly_stats}, {NULL, NULL},
};

static const luaL_Reg layer_meta[] = {
    {"__gc", ly_gc}, {"__tostring", ly_tostring}, {"__eq", ly_eq}, {NULL, NULL},
};

/* Creates metatable `tname` whose __index is `index` with the method table
 * as its upvalue. Leaves the metatable's methods table on the stack. */
static void new_type(lua_State *L, const char *tname, const luaL_Reg *meta,
                     const luaL_Reg *methods, lua_CFunction index)
{
    nmlua_newmetatable(L, tname);
    luaL_setfuncs(L, meta, 0);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "methods");   /* other bindings add methods here */
    lua_pushcclosure(L, index, 1);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}

void nmlua_open_model(lua_State *L, int nm)
{
    static const luaL_Reg guard_meta[] = {
        {"__close", guard_release}, {"__gc", guard_release}, {NULL, NULL},
    };
    nmlua_newmetatable(L, NMLUA_USE_GUARD);
    luaL_setfuncs(L, guard_meta, 0);
    lua_pop(L, 1);
    new_type(L, NMLUA_MODEL, model_meta, model_methods, m_index);
    new_type(L, NMLUA_LAYER, layer_meta, layer_methods, ly_index);
    lua_pushcfunction(L, l_model);
    lua_setfield(L, nm, "model");
}
