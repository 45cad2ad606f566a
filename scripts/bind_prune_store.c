/* bind_prune_store.c - compressed N:M tensors and storage: nm.compress,
 * nm.decompress, nm.storage.
 *
 * nm.compress returns a plain table for inspection (values tensor, packed
 * index bytes, sizes) that also holds the engine's nm_compressed in a
 * userdata (field `_data`); nm.decompress uses that userdata only, so
 * editing the visible fields cannot make the decoder read out of bounds. */
#include "bind_prune.h"
#include "nm_gemm.h"

#include <math.h>

#include <stdlib.h>
#include <string.h>

#define COMPRESSED_BOX "nm.compressed"

typedef struct {
    nm_compressed *c;
    size_t counted;
} comp_box;

static int comp_gc(lua_State *L)
{
    comp_box *b = luaL_checkudata(L, 1, COMPRESSED_BOX);
    if (b->c) {
        nm_compressed_free(b->c);
        b->c = NULL;
        nmlua_mem_release(L, b->counted);
        b->counted = 0;
    }
    return 0;
}

/* nm.compress(tensor_or_layer, {n=, m=, group=, index=}) -> table. A layer
 * without `group` is compressed along the axis its mask holds N:M along. */
static int l_compress(lua_State *L)
{
    static const char *const keys[] = {"n", "m", "group", "index", NULL};
    static const char *const schemes[] = {"simple", "bitmask", "combinatorial", NULL};
    nmp_target t;
    nmp_check_call(L, "lt", keys, 0, &t);
    int n, m;
    nmp_opt_nm(L, 2, &n, &m, t.t != NULL);
    nm_group_axis axis = nmp_opt_group(L, 2, "group");
    nm_index_scheme scheme = (nm_index_scheme)nmlua_opt_enum(L, 2, "index", 0, schemes);
    const nm_tensor *dense = t.t;
    if (t.t) {
        if (t.t->dtype != NM_F32 || (t.t->ndim != 2 && t.t->ndim != 4))
            luaL_argerror(L, 1, "tensor must be f32, 2-D [rows, D] or 4-D [out, in, kh, kw]");
        if (axis == NM_GROUP_AUTO)
            axis = t.t->ndim == 4 && t.t->shape[2] * t.t->shape[3] > 1 ? NM_GROUP_KERNEL : NM_GROUP_IN;
    } else {
        const nm_layer *l = &t.m->layers[t.layer];
        if (m == 0) {
            if (l->wm == 0)
                nmlua_field_error(L, 2, "n", lua_pushfstring(L, "required: layer '%s' has no declared N:M", l->name));
            n = l->wn, m = l->wm;
        }
        /* w * mask with removed filters and input channels zero, pushed
         * as a handle (uncounted, short-lived) */
        nm_tensor *w = nm_nm_masked_weight(l);
        if (w == NULL)
            return luaL_error(L, "%s", nm_errmsg());
        nmlua_push_tensor(L, w, 0);
        dense = w;
        /* the axis the mask holds N:M along; the layer's default when none
         * (nm_compress then names the first violating group) */
        if (axis == NM_GROUP_AUTO)
            axis = nm_nm_layer_axis(dense, l, n, m);
        if (axis == NM_GROUP_AUTO)
            axis = nm_group_axis_default(l);
    }
    if (m < 2)
        nmlua_field_error(L, 2, "m", "compression needs m >= 2");
    comp_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->c = NULL;
    b->counted = 0;
    if (nmlua_newmetatable(L, COMPRESSED_BOX)) {
        lua_pushcfunction(L, comp_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    int box = lua_gettop(L);
    b->c = nm_compress(dense, n, m, axis, scheme);
    if (b->c == NULL)
        return luaL_error(L, "nm.compress: %s", nm_errmsg());
    nm_compressed *c = b->c;
    size_t index_bytes = (size_t)((c->index_bits + 7) / 8);
    size_t vbytes = (size_t)c->n_values * sizeof(float);
    b->counted = vbytes + index_bytes;
    if (nmlua_mem_reserve(L, b->counted) != NM_OK) {
        b->counted = 0;
        return luaL_error(L, "%s", nm_errmsg());
    }
    /* the visible copy: values as a tensor, the index as a byte string */
    if (nmlua_mem_reserve(L, vbytes) != NM_OK)
        return luaL_error(L, "%s", nm_errmsg());
    nm_tensor *vals = nm_tensor_new4(NM_F32, 1, c->n_values ? c->n_values : 1, 0, 0, 0);
    if (vals == NULL) {
        nmlua_mem_release(L, vbytes);
        return luaL_error(L, "%s", nm_errmsg());
    }
    if (c->n_values)
        memcpy(vals->data, c->values, vbytes);
    lua_createtable(L, 0, 16);
    nmlua_push_tensor(L, vals, vbytes);
    lua_setfield(L, -2, "values");
    lua_pushlstring(L, (const char *)c->index, index_bytes);
    lua_setfield(L, -2, "indices");
    nmlua_set_int(L, "value_bits", c->value_bits);
    nmlua_set_int(L, "index_bits", c->index_bits);
    nmlua_set_int(L, "n_values", c->n_values);
    nmlua_set_int(L, "groups", c->groups);
    nmlua_set_int(L, "n", c->n);
    nmlua_set_int(L, "m", c->m);
    nmlua_set_str(L, "group", nm_group_axis_name(c->axis));
    nmlua_set_str(L, "index", nm_index_scheme_name(c->scheme));
    lua_createtable(L, c->ndim, 0);
    for (int i = 0; i < c->ndim; i++) {
        lua_pushinteger(L, (lua_Integer)c->shape[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "shape");
    int64_t numel = 1;
    for (int i = 0; i < c->ndim; i++)
        numel *= c->shape[i];
    nmlua_set_int(L, "dense_bits", 8 * numel);
    nmlua_set_num(L, "bits_per_weight", (double)(c->value_bits + c->index_bits) / (double)numel);
    nmlua_set_num(L, "ratio", (double)(8 * numel) / (double)(c->value_bits + c->index_bits));
    lua_pushvalue(L, box);
    lua_setfield(L, -2, "_data");
    return 1;
}

/* nm.decompress(c) -> the dense tensor, bit for bit. */
static int l_decompress(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "_data");
    comp_box *b = luaL_testudata(L, -1, COMPRESSED_BOX);
    if (b == NULL || b->c == NULL)
        return luaL_argerror(L, 1, "not a table returned by nm.compress");
    nm_compressed *c = b->c;
    int64_t numel = 1;
    for (int i = 0; i < c->ndim; i++)
        numel *= c->shape[i];
    size_t bytes = (size_t)numel * sizeof(float);
    if (nmlua_mem_reserve(L, bytes) != NM_OK)
        return luaL_error(L, "%s", nm_errmsg());
    nm_tensor *t = nm_decompress(c);
    if (t == NULL) {
        nmlua_mem_release(L, bytes);
        return luaL_error(L, "nm.decompress: %s", nm_errmsg());
    }
    nmlua_push_tensor(L, t, bytes);
    return 1;
}

/* ceil(log2 x) for x >= 1. */
static int ceil_log2(unsigned __int128 x)
{
    int b = 0;
    while (((unsigned __int128)1 << b) < x)
        b++;
    return b;
}

static unsigned __int128 binom(int m, int n)
{
    unsigned __int128 c = 1;
    for (int i = 0; i < n; i++)
        c = c * (unsigned)(m - i) / (unsigned)(i + 1);
    return c;
}

/* Pushes {simple=, bitmask=, combinatorial=} of bits per dense value and
 * the matching compression ratios against 8-bit dense, for stored sizes. */
static void push_bits(lua_State *L, double params, double value_bits, double simple,
                      double bitmask, double comb)
{
    lua_createtable(L, 0, 3);
    nmlua_set_num(L, "simple", (value_bits + simple) / params);
    nmlua_set_num(L, "bitmask", (value_bits + bitmask) / params);
    nmlua_set_num(L, "combinatorial", (value_bits + comb) / params);
    lua_setfield(L, -2, "bits_per_weight");
    lua_createtable(L, 0, 3);
    nmlua_set_num(L, "simple", 8 * params / (value_bits + simple));
    nmlua_set_num(L, "bitmask", 8 * params / (value_bits + bitmask));
    nmlua_set_num(L, "combinatorial", 8 * params / (value_bits + comb));
    lua_setfield(L, -2, "ratio");
}

/* Adds to the act table on top, per layer with weights, whether data N:M
 * applies to its input (nm_layer_act_source: only from an NMReLU, or a
 * ReLU the option turns into one) and the input activations stored per
 * sample: compressed at the applying N:M in groups along positions, else
 * dense 8-bit with no index. Fields: layers = {{name, act_applied, act_why,
 * n, m, values, bits = {simple, bitmask, combinatorial}}}, applied_layers,
 * values, dense_bits, stored_bits = {simple, bitmask, combinatorial}. */
static void push_act_layers(lua_State *L, const nmp_target *t, int an, int am)
{
    double tot[3] = {0, 0, 0}, values = 0;
    int applied = 0, k = 0;
    lua_newtable(L);
    for (int i = 0; i < t->m->n_layers; i++) {
        const nm_layer *l = &t->m->layers[i];
        if ((t->layer >= 0 && i != t->layer) || !nm_layer_prunable(l) || !l->weight)
            continue;
        nm_act_info a;
        nm_layer_act_source(t->m, i, an, am, 0, &a);
        double plane = (double)l->in_h * l->in_w, v = (double)l->in_c * plane, b[3];
        if (a.applied) {
            double g = (double)l->in_c * ceil(plane / a.m), val = 8.0 * a.n * g;
            b[0] = val + g * a.n * ceil_log2((unsigned)a.m);
            b[1] = val + g * a.m;
            b[2] = val + g * ceil_log2(binom(a.m, a.n));
            applied++;
        } else {
            b[0] = b[1] = b[2] = 8.0 * v;
        }
        values += v;
        lua_createtable(L, 0, 7);
        nmlua_set_str(L, "name", l->name);
        lua_pushboolean(L, a.applied);
        lua_setfield(L, -2, "act_applied");
        nmlua_set_str(L, "act_why", a.why);
        nmlua_set_int(L, "n", a.n);
        nmlua_set_int(L, "m", a.m);
        nmlua_set_num(L, "values", v);
        lua_createtable(L, 0, 3);
        static const char *const schemes[] = {"simple", "bitmask", "combinatorial"};
        for (int s = 0; s < 3; s++) {
            nmlua_set_num(L, schemes[s], b[s]);
            tot[s] += b[s];
        }
        lua_setfield(L, -2, "bits");
        lua_rawseti(L, -2, ++k);
    }
    lua_setfield(L, -2, "layers");
    nmlua_set_int(L, "applied_layers", applied);
    nmlua_set_num(L, "values", values);
    nmlua_set_num(L, "dense_bits", 8.0 * values);
    lua_createtable(L, 0, 3);
    nmlua_set_num(L, "simple", tot[0]);
    nmlua_set_num(L, "bitmask", tot[1]);
    nmlua_set_num(L, "combinatorial", tot[2]);
    lua_setfield(L, -2, "stored_bits");
}

/* nm.storage(model_or_layer [, {n=, m=, act = {n=, m=}}]) -> report: the
 * weights (compacted: removed filters and input channels not stored) and,
 * with act, activations at act's N:M along groups of M. */
static int l_storage(lua_State *L)
{
    static const char *const keys[] = {"n", "m", "act", NULL};
    nmp_target t;
    nmp_check_call(L, "ml", keys, 0, &t);
    int n, m;
    nmp_opt_nm(L, 2, &n, &m, 0);
    nm_storage s = {0};
    for (int i = 0; i < t.m->n_layers; i++) {
        const nm_layer *l = &t.m->layers[i];
        if ((t.layer >= 0 && i != t.layer) || !nm_layer_prunable(l) || !l->weight)
            continue;
        nm_storage one;
        int rc = m > 0 || l->wm > 0 ? nm_storage_layer(t.m, i, n, m, NM_GROUP_AUTO, &one)
                                    : nm_storage_layer(t.m, i, 1, 1, NM_GROUP_AUTO, &one);
        if (rc != NM_OK)
            return luaL_error(L, "nm.storage: layer '%s': %s", l->name, nm_errmsg());
        if (m == 0 && l->wm == 0)  /* no N:M: plain 8-bit values, no index */
            one.simple_bits = one.bitmask_bits = one.combinatorial_bits = 0;
        s.params += one.params;
        s.nonzeros += one.nonzeros;
        s.groups += one.groups;
        s.dense_bits += one.dense_bits;
        s.value_bits += one.value_bits;
        s.simple_bits += one.simple_bits;
        s.bitmask_bits += one.bitmask_bits;
        s.combinatorial_bits += one.combinatorial_bits;
    }
    lua_createtable(L, 0, 12);
    nmlua_set_int(L, "params", s.params);
    nmlua_set_int(L, "nonzeros", s.nonzeros);
    nmlua_set_int(L, "groups", s.groups);
    nmlua_set_int(L, "dense_bits", s.dense_bits);
    nmlua_set_int(L, "value_bits", s.value_bits);
    nmlua_set_int(L, "simple_bits", s.simple_bits);
    nmlua_set_int(L, "bitmask_bits", s.bitmask_bits);
    nmlua_set_int(L, "combinatorial_bits", s.combinatorial_bits);
    if (s.params > 0)
        push_bits(L, (double)s.params, (double)s.value_bits, (double)s.simple_bits,
                  (double)s.bitmask_bits, (double)s.combinatorial_bits);
    if (lua_istable(L, 2) && lua_getfield(L, 2, "act") != LUA_TNIL) {
        int act = lua_gettop(L);
        if (!lua_istable(L, act))
            nmlua_field_error(L, 2, "act", "must be {n=, m=}");
        int an, am;
        nmp_opt_nm(L, act, &an, &am, 1);
        /* per group of am activations: an 8-bit values plus the index */
        lua_createtable(L, 0, 6);
        nmlua_set_int(L, "n", an);
        nmlua_set_int(L, "m", am);
        nmlua_set_num(L, "density", (double)an / am);
        push_bits(L, am, 8.0 * an, (double)an * ceil_log2((unsigned)am), am,
                  ceil_log2(binom(am, an)));
        push_act_layers(L, &t, an, am);
        lua_setfield(L, -3, "act");
        lua_pop(L, 1);
    } else if (lua_istable(L, 2)) {
        lua_pop(L, 1);
    }
    return 1;
}

void nmp_open_store(lua_State *L, int nm, int prune, int methods)
{
    (void)prune;
    (void)methods;
    lua_pushcfunction(L, l_compress);
    lua_setfield(L, nm, "compress");
    lua_pushcfunction(L, l_decompress);
    lua_setfield(L, nm, "decompress");
    lua_pushcfunction(L, l_storage);
    lua_setfield(L, nm, "storage");
}
