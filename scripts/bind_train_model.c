/* bind_train_model.c - model methods of nm.train's binding:
 * model:evaluate(data), model:forward(x), model:set_activation(which, opts). */
#include "bind_train.h"

#include <stdlib.h>
#include <string.h>

/* model:evaluate(data [, {batch = 256}]) -> accuracy, loss, density.
 * density: one row {index, name, kind, density} per layer (array part)
 * and density[name] = fraction of nonzero outputs over the set. */
static int m_evaluate(lua_State *L)
{
    static const char *const keys[] = {"batch", NULL};
    nm_model *m = nmlua_check_model(L, 1);
    const nm_dataset *d = nmt_check_dataset(L, 2);
    int batch = 256;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        nmt_check_keys(L, 3, keys);
        batch = nmlua_opt_int(L, 3, "batch", 256, 1, 1 << 16);
    }
    double *density = lua_newuserdatauv(L, sizeof(double) * (size_t)(m->n_layers + 1), 0);
    double acc = 0, loss = 0;
    if (nm_evaluate(m, d, batch, &acc, &loss, density) != NM_OK)
        return luaL_error(L, "model:evaluate: %s", nm_errmsg());
    lua_pushnumber(L, acc);
    lua_pushnumber(L, loss);
    lua_createtable(L, m->n_layers, m->n_layers);
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        lua_createtable(L, 0, 4);
        lua_pushinteger(L, i + 1);
        lua_setfield(L, -2, "index");
        lua_pushstring(L, l->name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, nm_layer_kind_name(l->kind));
        lua_setfield(L, -2, "kind");
        lua_pushnumber(L, density[i]);
        lua_setfield(L, -2, "density");
        lua_rawseti(L, -2, i + 1);
        lua_pushnumber(L, density[i]);
        lua_setfield(L, -2, l->name);
    }
    return 3;
}

/* model:forward(x) -> one new f32 tensor per graph output, in graph order
 * ([N, C', H', W'], or [N, C'] / [N, C', H'] as in the file the model came
 * from); x is f32 [N, C, H, W] or [C, H, W] matching the model input.
 * A model with several graph inputs takes one tensor each, in the order
 * of model.inputs: model:forward(x1, x2, ...) or model:forward({x1, x2}). */
static int m_forward(lua_State *L)
{
    nm_model *m = nmlua_check_model(L, 1);
    const nm_tensor *xs[NM_MAX_GRAPH_INPUTS];
    int n_x = 0, listed = lua_type(L, 2) == LUA_TTABLE;
    int count = listed ? (int)luaL_len(L, 2) : lua_gettop(L) - 1;
    if (count < 1)
        return luaL_error(L, "model:forward: model '%s' takes %d input tensor(s), got none", m->name,
                          nm_model_n_inputs(m));
    if (count > NM_MAX_GRAPH_INPUTS || count != nm_model_n_inputs(m))
        return luaL_error(L, "model:forward: model '%s' takes %d input tensor(s) (%s%s), got %d",
                          m->name, nm_model_n_inputs(m), nm_model_input_name(m, 0),
                          nm_model_n_inputs(m) > 1 ? ", ..." : "", count);
    for (int k = 0; k < count; k++) {
        int arg = 2 + k;
        if (listed) {
            lua_geti(L, 2, k + 1);
            arg = lua_gettop(L);   /* stays on the stack (anchors the tensor) */
        }
        const nm_tensor *x = nmlua_check_tensor(L, arg);
        if (x->dtype != NM_F32)
            return luaL_error(L, "model:forward: input '%s' must be an f32 tensor, not %s",
                              nm_model_input_name(m, k), nm_dtype_name(x->dtype));
        xs[n_x++] = x;
    }
    nm_tensor *ys[NM_MAX_OUTPUTS];
    nmlua_budget nb;
    nmlua_budget_begin(L, &nb);
    int n = nm_forward_inputs(m, xs, n_x, ys, NM_MAX_OUTPUTS);
    nmlua_budget_end(&nb);
    if (n < 0)
        return luaL_error(L, "model:forward: %s", nm_errmsg());
    /* The executor the model keeps for the next call counts as the model's;
     * when it does not fit the limit it is not kept. */
    if (nmlua_model_recount_soft(L, 1) != NM_OK) {
        nm_forward_release(m);
        nmlua_model_recount(L, 1);
    }
    size_t total = 0;
    for (int k = 0; k < n; k++)
        total += (size_t)ys[k]->numel * sizeof(float);
    if (nmlua_mem_reserve(L, total) != NM_OK) {
        for (int k = 0; k < n; k++)
            nm_tensor_release(ys[k]);
        return luaL_error(L, "%s", nm_errmsg());
    }
    luaL_checkstack(L, n, "model:forward");
    for (int k = 0; k < n; k++)
        nmlua_push_tensor(L, ys[k], (size_t)ys[k]->numel * sizeof(float));
    return n;
}

/* Switches layer l to NMReLU n:m (n > 0) or back to plain ReLU (n = 0)
 * (nm_layer_set_nmrelu: a ReLU6 keeps its clip, clip then N:M). Raises for
 * layers that are not ReLU-like or NMReLU; check = 1 only checks. */
static void set_act(lua_State *L, nm_layer *l, int n, int mm, nm_act_policy policy,
                    nm_act_axis axis, int check)
{
    if (l->kind != NM_LAYER_NMRELU && !nm_layer_is_relu_like(l, NULL))
        luaL_error(L, "set_activation: layer '%s' is a %s, not a ReLU", l->name,
                   nm_layer_kind_name(l->kind));
    if (!check && nm_layer_set_nmrelu(l, n, mm, policy, axis) != NM_OK)
        luaL_error(L, "set_activation: %s", nm_errmsg());
}

/* model:set_activation(which, opts) -> number of layers changed.
 * which: a layer name or 1-based index, an array of them, or "all" (every
 * ReLU, ReLU6, Clip(0, b) and NMReLU layer). opts: {n=, m=, policy='first'|'topk',
 * axis='position'|'channel'} makes them NMReLU n:m (a ReLU6 clips, then
 * N:M); nil, {} or n = 0 makes them plain ReLU (ReLU6) again. Every named
 * layer is checked before any is changed. */
static int m_set_activation(lua_State *L)
{
    static const char *const keys[] = {"n", "m", "policy", "axis", NULL};
    static const char *const policies[] = {"first", "topk", NULL};
    static const char *const axes[] = {"position", "channel", NULL};
    nm_model *m = nmlua_model_check_idle(L, 1, "model:set_activation");
    int n = 0, mm = 0, policy = NM_POLICY_FIRST, axis = NM_AXIS_POSITION;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        nmt_check_keys(L, 3, keys);
        n = nmlua_opt_int(L, 3, "n", 0, 0, 64);
        mm = nmlua_opt_int(L, 3, "m", n > 0 ? -1 : 0, n > 0 ? 1 : 0, 64);
        if (n > 0 && mm < 0)
            luaL_argerror(L, 3, "m: required with n");
        if (n > mm)
            luaL_argerror(L, 3, lua_pushfstring(L, "n:m = %d:%d is impossible", n, mm));
        policy = nmlua_opt_enum(L, 3, "policy", NM_POLICY_FIRST, policies);
        axis = nmlua_opt_enum(L, 3, "axis", NM_AXIS_POSITION, axes);
    }
    int changed = 0;
    if (lua_type(L, 2) == LUA_TSTRING && strcmp(lua_tostring(L, 2), "all") == 0) {
        for (int i = 0; i < m->n_layers; i++) {
            nm_layer *l = &m->layers[i];
            if (l->kind == NM_LAYER_NMRELU || nm_layer_is_relu_like(l, NULL)) {
                set_act(L, l, n, mm, (nm_act_policy)policy, (nm_act_axis)axis, 0);
                changed++;
            }
        }
    } else {
        int list = lua_istable(L, 2);
        lua_Integer count = list ? luaL_len(L, 2) : 1;
        for (int pass = 0; pass < 2; pass++) {  /* check all, then change */
            for (lua_Integer k = 1; k <= count; k++) {
                if (list)
                    lua_geti(L, 2, k);
                else
                    lua_pushvalue(L, 2);
                int i = -1;
                if (lua_type(L, -1) == LUA_TNUMBER) {
                    lua_Integer x = lua_tointeger(L, -1);
                    i = x >= 1 && x <= m->n_layers ? (int)x - 1 : -1;
                } else if (lua_type(L, -1) == LUA_TSTRING) {
                    i = nm_model_find(m, lua_tostring(L, -1));
                }
                if (i < 0)
                    luaL_argerror(L, 2, lua_pushfstring(L, "no layer '%s' in model '%s'",
                                                        luaL_tolstring(L, -1, NULL), m->name));
                lua_pop(L, 1);
                set_act(L, &m->layers[i], n, mm, (nm_act_policy)policy, (nm_act_axis)axis, !pass);
                changed += pass;
            }
        }
    }
    lua_pushinteger(L, changed);
    return 1;
}

void nmt_open_model(lua_State *L, int methods)
{
    static const luaL_Reg fns[] = {
        {"evaluate", m_evaluate}, {"forward", m_forward},
        {"set_activation", m_set_activation}, {NULL, NULL},
    };
    lua_pushvalue(L, methods);
    luaL_setfuncs(L, fns, 0);
    lua_pop(L, 1);
}
