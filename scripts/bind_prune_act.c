/* bind_prune_act.c - activations and cost: nm.nmrelu, nm.nmrelu_backward,
 * nm.act_density, nm.cost_measured, and the effective MACs model:stats()
 * gains (JOINTNF.md section 5). */
#include "bind_prune.h"

#include <math.h>

static const char *const policies[] = {"first", "topk", NULL};
static const char *const act_axes[] = {"position", "channel", NULL};

static void check_act_tensor(lua_State *L, int arg, const nm_tensor *t)
{
    if (t->dtype != NM_F32)
        luaL_argerror(L, arg, lua_pushfstring(L, "tensor must be f32, not %s", nm_dtype_name(t->dtype)));
    if (t->ndim != 2 && t->ndim != 4)
        luaL_argerror(L, arg, "tensor must be 4-D NCHW or 2-D (batch, features)");
}

/* A new f32 tensor shaped like t, counted against the memory limit and
 * pushed as a handle. */
static nm_tensor *push_new_like(lua_State *L, const nm_tensor *t)
{
    size_t bytes = (size_t)t->numel * sizeof(float);
    if (nmlua_mem_reserve(L, bytes) != NM_OK)
        luaL_error(L, "%s", nm_errmsg());
    nm_tensor *y = nm_tensor_new(NM_F32, t->ndim, t->shape);
    if (y == NULL) {
        nmlua_mem_release(L, bytes);
        luaL_error(L, "%s", nm_errmsg());
    }
    nmlua_push_tensor(L, y, bytes);
    return y;
}

/* nm.nmrelu(x, {n=, m=, axis=, policy=, clip=}) -> new tensor N:M(ReLU(x)),
 * or with clip > 0 N:M(min(max(x,0),clip)) (a ReLU6's NMReLU: clip first). */
static int l_nmrelu(lua_State *L)
{
    static const char *const keys[] = {"n", "m", "axis", "policy", "clip", NULL};
    nm_tensor *x = nmlua_check_tensor(L, 1);
    check_act_tensor(L, 1, x);
    luaL_checktype(L, 2, LUA_TTABLE);
    nmp_check_keys(L, 2, keys);
    int n, m;
    nmp_opt_nm(L, 2, &n, &m, 1);
    nm_act_axis axis = (nm_act_axis)nmlua_opt_enum(L, 2, "axis", 0, act_axes);
    nm_act_policy pol = (nm_act_policy)nmlua_opt_enum(L, 2, "policy", 0, policies);
    double clip = 0;
    if (lua_getfield(L, 2, "clip") != LUA_TNIL) {
        clip = lua_tonumber(L, -1);
        if (!lua_isnumber(L, -1) || !(clip >= 0) || !isfinite(clip))
            nmlua_field_error(L, 2, "clip", "must be a finite number >= 0 (0: none)");
    }
    lua_pop(L, 1);
    nm_tensor *y = push_new_like(L, x);
    const nm_tensor *src = x;
    if (clip > 0) {     /* clip into y, then N:M in place (the kernels allow it) */
        const float *xv = nm_f32(x);
        float *yv = nm_f32(y), c = (float)clip;
        for (int64_t i = 0; i < x->numel; i++)
            yv[i] = xv[i] > 0.0f ? (xv[i] < c ? xv[i] : c) : 0.0f;
        src = y;
    }
    if (nm_nmrelu_forward(src, y, n, m, pol, axis) != NM_OK)
        return luaL_error(L, "nm.nmrelu: %s", nm_errmsg());
    return 1;
}

/* nm.nmrelu_backward(y, dy) -> dx (dy where y != 0, else 0). */
static int l_nmrelu_backward(lua_State *L)
{
    nm_tensor *y = nmlua_check_tensor(L, 1);
    nm_tensor *dy = nmlua_check_tensor(L, 2);
    check_act_tensor(L, 1, y);
    check_act_tensor(L, 2, dy);
    if (!nm_tensor_same_shape(y, dy)) {
        char a[96], b[96];
        return luaL_argerror(L, 2, lua_pushfstring(L, "dy has shape %s but y has %s",
                             nm_shape_str(dy, a, sizeof a), nm_shape_str(y, b, sizeof b)));
    }
    nm_tensor *dx = push_new_like(L, y);
    if (nm_nmrelu_backward(y, dy, dx) != NM_OK)
        return luaL_error(L, "nm.nmrelu_backward: %s", nm_errmsg());
    return 1;
}

/* nm.act_density(y, {n=, m=, axis=}) -> {numel, nonzeros, density, groups,
 * full_groups, per_channel = {...}}. */
static int l_act_density(lua_State *L)
{
    static const char *const keys[] = {"n", "m", "axis", NULL};
    nm_tensor *y = nmlua_check_tensor(L, 1);
    check_act_tensor(L, 1, y);
    if (!lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    nmp_check_keys(L, 2, keys);
    int n, m;
    nmp_opt_nm(L, 2, &n, &m, 0);
    if (m == 0)
        n = m = 1;          /* density only: groups of one */
    nm_act_axis axis = (nm_act_axis)nmlua_opt_enum(L, 2, "axis", 0, act_axes);
    int64_t C = y->shape[1];
    double *per = lua_newuserdatauv(L, sizeof *per * (size_t)C, 0);
    nm_act_stats s;
    if (nm_act_density(y, n, m, axis, &s, per) != NM_OK)
        return luaL_error(L, "nm.act_density: %s", nm_errmsg());
    lua_createtable(L, 0, 6);
    nmlua_set_int(L, "numel", s.numel);
    nmlua_set_int(L, "nonzeros", s.nonzeros);
    nmlua_set_num(L, "density", s.density);
    nmlua_set_int(L, "groups", s.groups);
    nmlua_set_int(L, "full_groups", s.full_groups);
    lua_createtable(L, (int)C, 0);
    for (int64_t c = 0; c < C; c++) {
        lua_pushnumber(L, per[c]);
        lua_rawseti(L, -2, c + 1);
    }
    lua_setfield(L, -2, "per_channel");
    return 1;
}

/* nm.cost_measured(layer, x) -> products where both operands are nonzero. */
static int l_cost_measured(lua_State *L)
{
    nmp_target t;
    lua_settop(L, 2);    /* a layer target pushes its model at 3 */
    nmp_check_target(L, 1, "l", &t);
    nm_tensor *x = nmlua_check_tensor(L, 2);
    int64_t products = 0;
    if (nm_cost_measured(t.m, t.layer, x, &products) != NM_OK)
        return luaL_error(L, "nm.cost_measured: %s", nm_errmsg());
    lua_pushinteger(L, (lua_Integer)products);
    return 1;
}

/* Adds eff_macs (and filters_removed) of layer i to the row on top, with
 * the data N:M only where nm_layer_act_source says it applies, and the
 * decision itself: act_applied, act_n/act_m, act_from, act_why. */
static void add_cost(lua_State *L, const nm_model *m, int i, int an, int am, int declare)
{
    const nm_layer *l = &m->layers[i];
    nm_layer_cost c = {0};
    nm_act_info a;
    int costed = nm_layer_prunable(l) && l->weight;
    nm_layer_act_source(m, i, an, am, declare, &a);
    if (!costed) {     /* eff_macs = macs below: say that no data N:M was used */
        a.applied = 0;
        snprintf(a.why, sizeof a.why, "%s", nm_layer_dense_macs(l) > 0
                 ? "not a conv/linear layer: costed dense" : "no multiply-accumulates");
    }
    lua_pushboolean(L, a.applied);
    lua_setfield(L, -2, "act_applied");
    nmlua_set_int(L, "act_n", a.applied ? a.n : 0);
    nmlua_set_int(L, "act_m", a.applied ? a.m : 0);
    nmlua_set_str(L, "act_from", nm_act_from_name(a.from));
    nmlua_set_str(L, "act_why", a.why);
    if (nm_layer_prunable(l) && l->weight &&
        nm_cost_layer(m, i, a.applied ? a.n : 0, a.applied ? a.m : 0, &c) == NM_OK) {
        nmlua_set_num(L, "eff_macs", c.effective_macs);
        nmlua_set_int(L, "filters_removed", c.filters_removed);
    } else {
        lua_getfield(L, -1, "macs");
        lua_setfield(L, -2, "eff_macs");
    }
}

/* The act = {n=, m=, declare=} option of stats at arg (0:0 if absent);
 * declare = true applies it to every layer with MACs whatever its source. */
static void stats_act(lua_State *L, int arg, int *an, int *am, int *declare)
{
    *an = *am = *declare = 0;
    if (!lua_isnoneornil(L, arg)) {
        static const char *const keys[] = {"act", NULL};
        static const char *const akeys[] = {"n", "m", "declare", NULL};
        nmp_check_keys(L, arg, keys);
        if (lua_getfield(L, arg, "act") != LUA_TNIL) {
            int t = lua_gettop(L);
            if (!lua_istable(L, t))
                nmlua_field_error(L, arg, "act", "must be {n=, m= [, declare = true]}");
            nmp_check_keys(L, t, akeys);
            nmp_opt_nm(L, t, an, am, 1);
            lua_getfield(L, t, "declare");
            *declare = lua_toboolean(L, -1);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
}

/* layer:stats([{act = {n=, m=}}]): as model:stats() for one layer. */
static int ly_stats(lua_State *L)
{
    int an, am, declare;
    stats_act(L, 2, &an, &am, &declare);
    lua_getfield(L, 1, "model");
    const nm_model *m = nmlua_check_model(L, -1);
    lua_getfield(L, 1, "index");
    int idx = (int)lua_tointeger(L, -1) - 1;
    lua_settop(L, 1);
    lua_pushvalue(L, lua_upvalueindex(1));  /* the model binding's stats */
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    add_cost(L, m, idx, an, am, declare);
    return 1;
}

/* model:stats([{act = {n=, m=}}]): the original rows plus eff_macs (section
 * 5 formula, per sample) and filters_removed for layers with weights. */
static int m_stats(lua_State *L)
{
    nm_model *m = nmlua_check_model(L, 1);
    int an = 0, am = 0, declare = 0;
    stats_act(L, 2, &an, &am, &declare);
    lua_pushvalue(L, lua_upvalueindex(1));  /* the model binding's stats */
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    int rows = lua_gettop(L);
    for (int i = 0; i < m->n_layers; i++) {
        lua_geti(L, rows, i + 1);
        add_cost(L, m, i, an, am, declare);
        lua_pop(L, 1);
    }
    return 1;
}

void nmp_open_act(lua_State *L, int nm, int prune, int methods)
{
    (void)prune;
    static const luaL_Reg fns[] = {
        {"nmrelu", l_nmrelu}, {"nmrelu_backward", l_nmrelu_backward},
        {"act_density", l_act_density}, {"cost_measured", l_cost_measured},
        {NULL, NULL},
    };
    for (const luaL_Reg *f = fns; f->name; f++) {
        lua_pushcfunction(L, f->func);
        lua_setfield(L, nm, f->name);
    }
    lua_getfield(L, methods, "stats");
    lua_pushcclosure(L, m_stats, 1);
    lua_setfield(L, methods, "stats");
    luaL_getmetatable(L, NMLUA_LAYER);
    lua_getfield(L, -1, "methods");
    lua_getfield(L, -1, "stats");
    lua_pushcclosure(L, ly_stats, 1);
    lua_setfield(L, -2, "stats");
    lua_pop(L, 2);
}
