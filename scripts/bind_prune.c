/* bind_prune.c - nm.prune: N:M, filters, NFFS, global and per-layer
 * magnitude, reset; nm.check_nm and model:apply_masks; the option readers
 * and targets the other bind_prune_*.c files share.
 *
 * Engine calls never longjmp: options are read (and may raise) first, the
 * engine runs, then the binding raises with the engine's message. Masks and
 * keep vectors the engine creates are counted against the memory limit
 * afterwards (nmp_recount). */
#include "bind_prune.h"

#include "bind_train.h"
#include "calib.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- options */

void nmp_check_keys(lua_State *L, int arg, const char *const *allowed)
{
    if (lua_isnoneornil(L, arg))
        return;
    luaL_checktype(L, arg, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, arg)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING)
            luaL_argerror(L, arg, "option keys must be names");
        const char *k = lua_tostring(L, -1);
        int ok = 0;
        for (int i = 0; allowed[i] && !ok; i++)
            ok = strcmp(allowed[i], k) == 0;
        if (!ok)
            luaL_argerror(L, arg, lua_pushfstring(L, "unknown option '%s'", k));
    }
}

nm_group_axis nmp_opt_group(lua_State *L, int arg, const char *field)
{
    static const char *const names[] = {"kernel", "in", "row", "auto", NULL};
    int v = nmlua_opt_enum(L, arg, field, 3, names);
    return v == 3 ? NM_GROUP_AUTO : (nm_group_axis)v;
}

void nmp_opt_nm(lua_State *L, int arg, int *n, int *m, int need)
{
    nmlua_opt_field(L, arg, "n");
    nmlua_opt_field(L, arg, "m");
    int has_n = !lua_isnil(L, -2), has_m = !lua_isnil(L, -1);
    lua_pop(L, 2);
    if (need && !has_n)
        nmlua_field_error(L, arg, "n", "required");
    if ((need || has_n) && !has_m)
        nmlua_field_error(L, arg, "m", "required");
    if (!has_n && has_m)
        nmlua_field_error(L, arg, "n", "required with m");
    *n = nmlua_opt_int(L, arg, "n", 0, -(1 << 24), 1 << 24);
    *m = nmlua_opt_int(L, arg, "m", 0, -(1 << 24), 1 << 24);
    if (!has_n)
        return;
    if (*m < 1 || *m > 64)
        nmlua_field_error(L, arg, "m", lua_pushfstring(L, "n:m = %d:%d is impossible (need 1 <= m <= 64)", *n, *m));
    if (*n < 0 || *n > *m)
        nmlua_field_error(L, arg, "n", lua_pushfstring(L, "n:m = %d:%d is impossible (need 0 <= n <= m)", *n, *m));
}

/* ---------------------------------------------------------------- targets */

void nmp_check_target(lua_State *L, int arg, const char *kinds, nmp_target *t)
{
    memset(t, 0, sizeof *t);
    t->layer = -1;
    arg = lua_absindex(L, arg);
    if (strchr(kinds, 'm') && luaL_testudata(L, arg, NMLUA_MODEL)) {
        t->m = nmlua_check_model(L, arg);
        t->model_arg = arg;
    } else if (strchr(kinds, 'l') && luaL_testudata(L, arg, NMLUA_LAYER)) {
        lua_getfield(L, arg, "model");      /* raises if the model was freed */
        t->m = nmlua_check_model(L, -1);
        t->model_arg = lua_gettop(L);
        lua_getfield(L, arg, "index");
        t->layer = (int)lua_tointeger(L, -1) - 1;
        lua_pop(L, 1);
        const nm_layer *l = &t->m->layers[t->layer];
        if (!nm_layer_prunable(l) || l->weight == NULL)
            luaL_argerror(L, arg, lua_pushfstring(L, "layer '%s' (%s) has no weights to prune",
                                                  l->name, nm_layer_kind_name(l->kind)));
    } else if (strchr(kinds, 't') && luaL_testudata(L, arg, NMLUA_TENSOR)) {
        t->t = nmlua_check_tensor(L, arg);
    } else {
        const char *want = strcmp(kinds, "m") == 0 ? "model"
                         : strcmp(kinds, "l") == 0 ? "layer"
                         : strcmp(kinds, "ml") == 0 ? "model or layer"
                         : strcmp(kinds, "lt") == 0 ? "layer or tensor" : "model, layer or tensor";
        luaL_typeerror(L, arg, want);
    }
}

void nmp_check_idle(lua_State *L, const nmp_target *t, const char *what)
{
    if (t->m)
        nmlua_model_check_idle(L, t->model_arg, what);
}

void nmp_recount(lua_State *L, const nmp_target *t)
{
    if (t->m)
        nmlua_model_recount(L, t->model_arg);
}

void nmp_check_call(lua_State *L, const char *kinds, const char *const *keys, int need_opts,
                    nmp_target *t)
{
    lua_settop(L, 2);    /* a layer target pushes its model at 3 */
    nmp_check_target(L, 1, kinds, t);
    if (need_opts || !lua_isnoneornil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    nmp_check_keys(L, 2, keys);
}

/* A number option the call cannot do without: raises "field: required"
 * when absent, else reads it as nmlua_opt_num (strict) in lo..hi. */
static double required_num(lua_State *L, int arg, const char *field, double lo, double hi)
{
    if (nmlua_opt_field(L, arg, field) == LUA_TNIL)
        nmlua_field_error(L, arg, field, "required");
    lua_pop(L, 1);
    return nmlua_opt_num(L, arg, field, 0, lo, hi, NMLUA_STRICT);
}

/* ---------------------------------------------------------------- reports */

void nmp_push_row(lua_State *L, const nm_prune_layer_info *e)
{
    lua_createtable(L, 0, 18);
    lua_pushstring(L, e->name);
    lua_setfield(L, -2, "name");
    nmlua_set_int(L, "index", e->layer + 1);
    lua_pushstring(L, nm_group_axis_name(e->axis));
    lua_setfield(L, -2, "group");
    nmlua_set_int(L, "n", e->n);
    nmlua_set_int(L, "m", e->m);
    nmlua_set_int(L, "params", e->params);
    nmlua_set_int(L, "nonzeros", e->nonzeros);
    nmlua_set_num(L, "sparsity", e->sparsity);
    nmlua_set_num(L, "density", 1.0 - e->sparsity);
    nmlua_set_int(L, "filters", e->filters);
    nmlua_set_int(L, "filters_kept", e->filters_kept);
    nmlua_set_num(L, "filter_sparsity", e->filter_sparsity);
    lua_pushboolean(L, e->nm_holds);
    lua_setfield(L, -2, "nm_holds");
    nmlua_set_int(L, "violations", e->nm_violations);
    nmlua_set_int(L, "groups", e->nm_groups);
    lua_pushboolean(L, e->pruned);
    lua_setfield(L, -2, "pruned");
    if (!e->pruned) {
        lua_pushstring(L, e->skip_reason);
        lua_setfield(L, -2, "skipped");
    }
}

void nmp_push_report(lua_State *L, const nm_prune_report *r)
{
    lua_createtable(L, r->n_layers, 3);
    for (int i = 0; i < r->n_layers; i++) {
        nmp_push_row(L, &r->layers[i]);
        lua_rawseti(L, -2, i + 1);
    }
    nmlua_set_int(L, "params", r->params);
    nmlua_set_int(L, "nonzeros", r->nonzeros);
    nmlua_set_num(L, "sparsity", r->sparsity);
}

void nmp_set_unmet(lua_State *L, int64_t unmet)
{
    nmlua_set_int(L, "filters_unmet", unmet);
    if (unmet > 0) {
        lua_pushfstring(L, "per-layer caps (max_sparsity / min_density) left %I of the "
                        "filter target unremoved", (lua_Integer)unmet);
        lua_setfield(L, -2, "message");
    }
}

/* Holds a report until it is pushed, so a raise cannot leak it. */
typedef struct { nm_prune_report *r; } report_guard;

static int report_guard_gc(lua_State *L)
{
    report_guard *g = lua_touserdata(L, 1);
    nm_prune_report_free(g->r);
    g->r = NULL;
    return 0;
}

static report_guard *new_report_guard(lua_State *L)
{
    report_guard *g = lua_newuserdatauv(L, sizeof *g, 0);
    g->r = NULL;
    if (nmlua_newmetatable(L, "nm.prune.report_guard")) {
        lua_pushcfunction(L, report_guard_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return g;
}

/* Pushes the report after a model-wide call with scope s (skipped layers
 * marked; N:M checked at each layer's declared wn:wm). */
static void push_scoped_report(lua_State *L, const nm_model *m, const nm_prune_scope *s)
{
    nm_nm_opts o;
    nm_nm_opts_init(&o, 0, 0);
    o.scope = *s;
    nmp_push_model_report(L, m, &o);
}

void nmp_push_model_report(lua_State *L, const nm_model *m, const nm_nm_opts *o)
{
    report_guard *g = new_report_guard(L);
    g->r = nm_prune_report_new(m, o);
    if (g->r == NULL)
        luaL_error(L, "%s", nm_errmsg());
    nmp_push_report(L, g->r);
    nm_prune_report_free(g->r);
    g->r = NULL;
    lua_remove(L, -2);
}

/* Pushes the row of one layer, checked at n:m along axis (n = m = 0: its
 * declared N:M, AUTO: its default axis). */
static void push_layer_row(lua_State *L, const nm_model *m, int idx, int n, int mm,
                           nm_group_axis axis)
{
    report_guard *g = new_report_guard(L);
    g->r = nm_prune_report_new(m, NULL);
    if (g->r == NULL)
        luaL_error(L, "%s", nm_errmsg());
    nm_prune_layer_info *e = NULL;
    for (int i = 0; i < g->r->n_layers; i++)
        if (g->r->layers[i].layer == idx)
            e = &g->r->layers[i];
    if (e == NULL)
        luaL_error(L, "layer %d is not prunable", idx + 1);
    const nm_layer *l = &m->layers[idx];
    e->axis = axis == NM_GROUP_AUTO ? nm_group_axis_default(l) : axis;
    if (mm > 0)
        e->n = n, e->m = mm;
    e->nm_holds = 1;
    e->nm_violations = e->nm_groups = 0;
    if (e->m > 0) {
        nm_check_nm(l->weight, l->mask, e->n, e->m, e->axis, &e->nm_violations, &e->nm_groups);
        e->nm_holds = e->nm_violations == 0;
    }
    nmp_push_row(L, e);
    nm_prune_report_free(g->r);
    g->r = NULL;
    lua_remove(L, -2);
}

/* A row for a bare tensor after pruning. */
static void push_tensor_row(lua_State *L, const nm_tensor *t, int n, int m, nm_group_axis axis)
{
    int64_t nnz = nm_tensor_nnz(t), viol = 0, groups = 0;
    lua_createtable(L, 0, 12);
    lua_pushliteral(L, "tensor");
    lua_setfield(L, -2, "name");
    nmlua_set_int(L, "params", t->numel);
    nmlua_set_int(L, "nonzeros", nnz);
    nmlua_set_num(L, "sparsity", 1.0 - (double)nnz / (double)t->numel);
    nmlua_set_num(L, "density", (double)nnz / (double)t->numel);
    if (m > 0) {
        lua_pushstring(L, nm_group_axis_name(axis));
        lua_setfield(L, -2, "group");
        nmlua_set_int(L, "n", n);
        nmlua_set_int(L, "m", m);
        nm_check_nm(t, NULL, n, m, axis, &viol, &groups);
        lua_pushboolean(L, viol == 0);
        lua_setfield(L, -2, "nm_holds");
        nmlua_set_int(L, "violations", viol);
        nmlua_set_int(L, "groups", groups);
    }
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "pruned");
}

/* ------------------------------------------------------------- calib */

#define NMP_CALIB "nm.prune.calib"

static int calib_gc(lua_State *L)
{
    nm_calib **box = luaL_checkudata(L, 1, NMP_CALIB);
    nm_calib_free(*box);
    *box = NULL;
    return 0;
}

const nm_calib *nmp_opt_calib(lua_State *L, int arg, nm_model *m, int wanda)
{
    int has = nmlua_opt_field(L, arg, "calib") != LUA_TNIL;
    int has_n = nmlua_opt_field(L, arg, "calib_n") != LUA_TNIL;
    lua_pop(L, 2);
    if (!wanda) {
        if (has || has_n)
            nmlua_field_error(L, arg, has ? "calib" : "calib_n", "is used only with score = 'wanda'");
        lua_pushnil(L);
        return NULL;
    }
    if (!has)
        nmlua_field_error(L, arg, "calib", "score = 'wanda' needs calib = a dataset or an f32 tensor "
                                           "[N, C, H, W] of calibration inputs");
    int64_t limit = nmlua_opt_int(L, arg, "calib_n", 0, 1, 1 << 30);
    nmlua_opt_field(L, arg, "calib");
    int v = lua_gettop(L);
    const nm_dataset *d = luaL_testudata(L, v, NMLUA_DATASET) ? nmt_check_dataset(L, v) : NULL;
    const nm_tensor *x = NULL, *xs[NM_MAX_GRAPH_INPUTS];
    int n_x = 1;
    if (!d && lua_type(L, v) == LUA_TTABLE) {
        /* one tensor per graph input (the table stays referenced below) */
        n_x = (int)luaL_len(L, v);
        if (n_x < 1 || n_x > NM_MAX_GRAPH_INPUTS)
            nmlua_field_error(L, arg, "calib", "must be a list of 1 to 16 tensors, one per input");
        for (int k = 0; k < n_x; k++) {
            lua_geti(L, v, k + 1);
            if (!luaL_testudata(L, -1, NMLUA_TENSOR))
                nmlua_field_error(L, arg, "calib", "must be a list of f32 tensors, one per input");
            xs[k] = nmlua_check_tensor(L, -1);
            lua_pop(L, 1);
        }
        if (limit > 0)
            nmlua_field_error(L, arg, "calib_n", "works with a dataset; slice the tensors instead");
    } else if (!d) {
        if (!luaL_testudata(L, v, NMLUA_TENSOR))
            nmlua_field_error(L, arg, "calib", "must be a dataset, an f32 tensor [N, C, H, W] or "
                                               "a list of them (one per graph input)");
        x = nmlua_check_tensor(L, v);
        xs[0] = x;
        if (limit > 0 && x->ndim == 4 && limit < x->shape[0])
            nmlua_field_error(L, arg, "calib_n", "works with a dataset; slice the tensor instead");
    }
    nm_calib **box = lua_newuserdatauv(L, sizeof *box, 0);
    *box = NULL;
    if (luaL_newmetatable(L, NMP_CALIB)) {
        lua_pushcfunction(L, calib_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    lua_remove(L, v);               /* the box takes the value's slot */
    nmlua_budget nb;
    nmlua_budget_begin(L, &nb);
    *box = d ? nm_calib_dataset(m, d, limit, 0) : nm_calib_compute_inputs(m, xs, n_x, 0);
    nmlua_budget_end(&nb);
    if (!*box)
        nmlua_field_error(L, arg, "calib", nm_errmsg());
    return *box;
}

/* ------------------------------------------------------------- preset */

const nm_paper_preset *nmp_opt_preset(lua_State *L, int arg, const nm_model *m, nm_prune_scope *s)
{
    static const char *const names[] = {"none", "paper", NULL};
    if (nmlua_opt_enum(L, arg, "preset", 0, names) == 0) {
        nmp_read_scope(L, arg, m, s);
        return NULL;
    }
    static const char *const clash[] = {"layers", "include_first", "include_last"};
    for (int i = 0; i < 3; i++) {
        int has = nmlua_opt_field(L, arg, clash[i]) != LUA_TNIL;
        lua_pop(L, 1);
        if (has)
            nmlua_field_error(L, arg, clash[i], "cannot be given with preset = 'paper' (it sets the layers)");
    }
    const nm_paper_preset *p = nm_paper_preset_for(m);
    if (!p)
        nmlua_field_error(L, arg, "preset", nm_errmsg());
    nm_layer_override *ov = lua_newuserdatauv(L, sizeof *ov * (size_t)(m->n_layers ? m->n_layers : 1), 0);
    nm_paper_scope(m, p, ov, s);
    return p;
}

/* ------------------------------------------------------------- tensors */

static void check_weight_tensor(lua_State *L, int arg, const nm_tensor *t)
{
    if (t->dtype != NM_F32)
        luaL_argerror(L, arg, lua_pushfstring(L, "tensor must be f32, not %s", nm_dtype_name(t->dtype)));
    if (t->ndim != 2 && t->ndim != 4)
        luaL_argerror(L, arg, "tensor must be 2-D [rows, D] or 4-D [out, in, kh, kw]");
}

/* The axis for a bare tensor: AUTO -> kernel for a 4-D tensor with kh*kw > 1,
 * else in. */
static nm_group_axis tensor_axis(const nm_tensor *t, nm_group_axis a)
{
    if (a != NM_GROUP_AUTO)
        return a;
    return t->ndim == 4 && t->shape[2] * t->shape[3] > 1 ? NM_GROUP_KERNEL : NM_GROUP_IN;
}

/* w *= mask for a bare tensor (in place). */
static void apply_mask(nm_tensor *w, const nm_tensor *mask)
{
    float *x = nm_f32(w);
    const uint8_t *k = nm_u8(mask);
    for (int64_t i = 0; i < w->numel; i++)
        if (!k[i])
            x[i] = 0.0f;
}

/* A temporary u8 mask of t's shape, all ones, owned by a tensor handle
 * left on the stack (so a raise frees it). */
static nm_tensor *temp_mask(lua_State *L, const nm_tensor *t)
{
    nm_tensor *k = nm_tensor_new(NM_U8, t->ndim, t->shape);
    if (k == NULL)
        luaL_error(L, "%s", nm_errmsg());
    nmlua_push_tensor(L, k, 0);
    nm_tensor_fill(k, 1);
    return k;
}

/* ---------------------------------------------------------------- scope */

/* The scope options of a model-wide call: include_first, include_last and
 * layers = {name = false | true | {n=, m=, group=}}. The override array
 * lives in a userdata left on the stack; the names in the options table. */
void nmp_read_scope(lua_State *L, int arg, const nm_model *m, nm_prune_scope *s)
{
    memset(s, 0, sizeof *s);
    s->include_first = nmlua_opt_bool(L, arg, "include_first", 0, NMLUA_STRICT);
    s->include_last = nmlua_opt_bool(L, arg, "include_last", 0, NMLUA_STRICT);
    if (nmlua_opt_field(L, arg, "layers") == LUA_TNIL) {
        lua_pop(L, 1);
        lua_pushnil(L);         /* keep the stack shape: one slot */
        return;
    }
    int tab = lua_gettop(L);
    if (!lua_istable(L, tab))
        nmlua_field_error(L, arg, "layers", "must be a table {name = false | true | {n=, m=, group=}}");
    int count = 0;
    lua_pushnil(L);
    while (lua_next(L, tab)) {
        count++;
        lua_pop(L, 1);
    }
    nm_layer_override *ov = lua_newuserdatauv(L, sizeof *ov * (size_t)(count ? count : 1), 0);
    int i = 0;
    lua_pushnil(L);
    while (lua_next(L, tab)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            nmlua_field_error(L, arg, "layers", "keys must be layer names");
        const char *name = lua_tostring(L, -2);
        if (nm_model_find(m, name) < 0)
            nmlua_field_error(L, arg, "layers", lua_pushfstring(L, "no layer named '%s' in model '%s'", name, m->name));
        nm_layer_override *o = &ov[i++];
        memset(o, 0, sizeof *o);
        o->layer = name;     /* kept alive by the options table */
        o->axis = NM_GROUP_AUTO;
        if (lua_isboolean(L, -1)) {
            o->skip = !lua_toboolean(L, -1);
            o->force = lua_toboolean(L, -1);
        } else if (lua_istable(L, -1)) {
            int sub = lua_gettop(L);
            static const char *const keys[] = {"n", "m", "group", NULL};
            nmp_check_keys(L, sub, keys);
            nmp_opt_nm(L, sub, &o->n, &o->m, 0);
            o->axis = nmp_opt_group(L, sub, "group");
            o->force = 1;
        } else {
            nmlua_field_error(L, arg, "layers", lua_pushfstring(L, "layers['%s'] must be false, true or {n=, m=, group=}", name));
        }
        lua_pop(L, 1);
    }
    lua_remove(L, tab);         /* the override array stays on the stack */
    s->overrides = ov;
    s->n_overrides = count;
}

/* ---------------------------------------------------------------- nm.prune */

/* score = 'magnitude' (default) | 'wanda' of nm, global, magnitude. */
static int opt_wanda(lua_State *L, int arg)
{
    static const char *const scores[] = {"magnitude", "wanda", NULL};
    return nmlua_opt_enum(L, arg, "score", 0, scores) == 1;
}

/* Runs nm_prune_nm_layer / nm_prune_magnitude_layer on layer idx with the
 * weights scaled by the calibration norms (calib not NULL). */
static int layer_wanda(nm_model *m, int idx, const nm_calib *calib, int n, int mm,
                       nm_group_axis axis, double sparsity, int nm)
{
    nm_prune_scope one = {0};
    nm_layer_override ov = {.layer = m->layers[idx].name, .force = 1, .axis = NM_GROUP_AUTO};
    one.overrides = &ov, one.n_overrides = 1;
    one.include_first = one.include_last = 1;
    nm_wanda_saved sv = {0};
    if (calib && (nm_calib_check(m, calib, &one) || nm_wanda_scale(m, calib, &sv)))
        return NM_ERR;
    int rc = nm ? nm_prune_nm_layer(&m->layers[idx], n, mm, axis)
                : nm_prune_magnitude_layer(&m->layers[idx], sparsity);
    nm_wanda_unscale(m, &sv);
    nm_wanda_saved_free(&sv);
    return rc;
}

/* nm.prune.nm(target, opts) -> report (model) or row (layer, tensor). */
static int l_nm(lua_State *L)
{
    static const char *const keys[] = {"n", "m", "group", "layers", "include_first",
                                       "include_last", "score", "calib", "calib_n", "preset", NULL};
    nmp_target t;
    nmp_check_call(L, "mlt", keys, 1, &t);
    nmp_check_idle(L, &t, "nm.prune.nm");
    int has_preset = nmlua_opt_field(L, 2, "preset") != LUA_TNIL;
    lua_pop(L, 1);
    if (has_preset && (t.t || t.layer >= 0))
        nmlua_field_error(L, 2, "preset", "needs a model target");
    int n, m;
    nmp_opt_nm(L, 2, &n, &m, !has_preset);
    nmlua_opt_field(L, 2, "n");
    int has_n = !lua_isnil(L, -1);
    lua_pop(L, 1);
    nm_group_axis axis = nmp_opt_group(L, 2, "group");
    int wanda = opt_wanda(L, 2);
    if (wanda && t.t)
        nmlua_field_error(L, 2, "score", "'wanda' needs a model or layer target (a bare tensor has no inputs)");
    const nm_calib *calib = t.t ? NULL : nmp_opt_calib(L, 2, t.m, wanda);
    if (t.t) {
        check_weight_tensor(L, 1, t.t);
        axis = tensor_axis(t.t, axis);
        nm_tensor *k = temp_mask(L, t.t);
        if (nm_prune_nm_tensor(t.t, k, n, m, axis) != NM_OK)
            return luaL_error(L, "nm.prune.nm: %s", nm_errmsg());
        apply_mask(t.t, k);
        push_tensor_row(L, t.t, n, m, axis);
        return 1;
    }
    if (t.layer >= 0) {
        if (layer_wanda(t.m, t.layer, calib, n, m, axis, 0, 1) != NM_OK)
            return luaL_error(L, "nm.prune.nm: %s", nm_errmsg());
        nmp_recount(L, &t);
        push_layer_row(L, t.m, t.layer, n, m, axis);
        return 1;
    }
    nm_nm_opts o;
    nm_nm_opts_init(&o, n, m);
    o.axis = axis;
    o.calib = calib;
    const nm_paper_preset *p = nmp_opt_preset(L, 2, t.m, &o.scope);
    if (p && !has_n)
        o.n = p->nm_n, o.m = p->nm_m;
    if (p && axis == NM_GROUP_AUTO)
        o.axis = p->axis;
    if (nm_prune_nm_model(t.m, &o, NULL) != NM_OK)
        return luaL_error(L, "nm.prune.nm: %s", nm_errmsg());
    nmp_recount(L, &t);
    nmp_push_model_report(L, t.m, &o);
    return 1;
}

/* Scope for one layer of a model: that layer forced, every other skipped. */
static void single_layer_scope(lua_State *L, const nm_model *m, int idx, nm_prune_scope *s)
{
    nm_layer_override *ov = lua_newuserdatauv(L, sizeof *ov * (size_t)m->n_layers, 0);
    memset(s, 0, sizeof *s);
    for (int i = 0; i < m->n_layers; i++) {
        ov[i] = (nm_layer_override){.layer = m->layers[i].name, .skip = i != idx,
                                    .force = i == idx, .axis = NM_GROUP_AUTO};
    }
    s->overrides = ov;
    s->n_overrides = m->n_layers;
    s->include_first = s->include_last = 1;
}

/* nm.prune.filters(target, {ratio=, score=, global=, allow_add=,
 * max_sparsity=, min_density=, ...}) -> report (with filters_unmet, and
 * a message when the caps left part of the target). */
static int l_filters(lua_State *L)
{
    static const char *const keys[] = {"ratio", "score", "global", "allow_add", "max_sparsity",
                                       "min_density", "layers", "include_first",
                                       "include_last", "group_reduction", "heads", "calib",
                                       "calib_n", "normalize", NULL};
    static const char *const scores[] = {"l1", "bn", "wanda", NULL};
    nmp_target t;
    nmp_check_call(L, "ml", keys, 1, &t);
    nmp_check_idle(L, &t, "nm.prune.filters");
    nm_filter_opts o;
    nm_filter_opts_init(&o, required_num(L, 2, "ratio", 0, 0.999999));
    int score = nmlua_opt_enum(L, 2, "score", 0, scores);
    o.criterion = score == 1 ? NM_FILTER_BN : NM_FILTER_L1;   /* wanda: L1 of |w| x norm */
    o.global = nmlua_opt_bool(L, 2, "global", 1, NMLUA_STRICT);
    o.allow_add = nmlua_opt_bool(L, 2, "allow_add", 0, NMLUA_STRICT);
    o.max_sparsity = nmlua_opt_num(L, 2, "max_sparsity", 1, 0, 1, NMLUA_STRICT);
    o.min_density = nmlua_opt_num(L, 2, "min_density", 0, 0, 1, NMLUA_STRICT);
    o.reduction = (nm_group_reduction)nmlua_opt_enum(L, 2, "group_reduction", 0, nmp_reductions);
    o.normalize = (nm_group_norm)nmlua_opt_enum(L, 2, "normalize", 0, nmp_norms);
    o.heads = nmlua_opt_int(L, 2, "heads", 0, 0, 1 << 20);
    if (nm_groups_check_heads_msg(t.m, o.heads))
        nmlua_field_error(L, 2, "heads", nm_errmsg());
    int64_t unmet = 0;
    o.unmet = &unmet;
    o.calib = nmp_opt_calib(L, 2, t.m, score == 2);
    if (t.layer >= 0) {
        if (nmlua_opt_field(L, 2, "layers") != LUA_TNIL)
            nmlua_field_error(L, 2, "layers", "only for a model target");
        lua_pop(L, 1);
        const nm_layer *l = &t.m->layers[t.layer];
        if (l->kind == NM_LAYER_DWCONV)
            luaL_argerror(L, 1, lua_pushfstring(L, "layer '%s' is a dwconv: its channels follow "
                                                "its producer's filters", l->name));
        if (!o.allow_add && nm_feeds_add(t.m, t.layer))
            luaL_argerror(L, 1, lua_pushfstring(L, "layer '%s' feeds a residual add (pass "
                                                "allow_add = true to prune it anyway)", l->name));
        o.global = 0;
        single_layer_scope(L, t.m, t.layer, &o.scope);
    } else {
        nmp_read_scope(L, 2, t.m, &o.scope);
    }
    if (nm_prune_filters(t.m, &o) != NM_OK)
        return luaL_error(L, "nm.prune.filters: %s", nm_errmsg());
    nmp_recount(L, &t);
    if (t.layer >= 0)
        push_layer_row(L, t.m, t.layer, 0, 0, NM_GROUP_AUTO);
    else
        push_scoped_report(L, t.m, &o.scope);
    nmp_set_unmet(L, unmet);
    return 1;
}

/* nm.prune.nffs(layer, {n=, m=, u= | ratio=, group=}) -> row. */
static int l_nffs(lua_State *L)
{
    static const char *const keys[] = {"n", "m", "u", "ratio", "group", NULL};
    nmp_target t;
    nmp_check_call(L, "l", keys, 1, &t);
    nmp_check_idle(L, &t, "nm.prune.nffs");
    int n, m;
    nmp_opt_nm(L, 2, &n, &m, 1);
    nm_group_axis axis = nmp_opt_group(L, 2, "group");
    nm_layer *l = &t.m->layers[t.layer];
    int has_u = nmlua_opt_field(L, 2, "u") != LUA_TNIL;
    int has_r = nmlua_opt_field(L, 2, "ratio") != LUA_TNIL;
    lua_pop(L, 2);
    if (has_u == has_r)
        nmlua_field_error(L, 2, "u", "give exactly one of u (filters to remove) and ratio");
    int u = has_u ? nmlua_opt_int(L, 2, "u", 0, 0, l->out_c - 1)
                  : nm_nffs_u(l, nmlua_opt_num(L, 2, "ratio", 0, 0, 0.999999, NMLUA_STRICT));
    if (u >= l->out_c)
        nmlua_field_error(L, 2, "ratio", lua_pushfstring(L, "would remove all %d filters", l->out_c));
    if (nm_prune_nffs(t.m, t.layer, n, m, axis, u, 1) != NM_OK)
        return luaL_error(L, "nm.prune.nffs: %s", nm_errmsg());
    nmp_recount(L, &t);
    push_layer_row(L, t.m, t.layer, n, m, axis);
    return 1;
}

/* nm.prune.global(model, {sparsity=, min_density=, max_sparsity=, ...}) -> report. */
static int l_global(lua_State *L)
{
    static const char *const keys[] = {"sparsity", "min_density", "max_sparsity", "layers",
                                       "include_first", "include_last", "score", "calib",
                                       "calib_n", NULL};
    nmp_target t;
    nmp_check_call(L, "m", keys, 1, &t);
    nmp_check_idle(L, &t, "nm.prune.global");
    nm_global_opts o;
    nm_global_opts_init(&o, required_num(L, 2, "sparsity", 0, 1));
    o.min_density = nmlua_opt_num(L, 2, "min_density", 0, 0, 1, NMLUA_STRICT);
    o.max_sparsity = nmlua_opt_num(L, 2, "max_sparsity", 1, 0, 1, NMLUA_STRICT);
    o.calib = nmp_opt_calib(L, 2, t.m, opt_wanda(L, 2));
    nmp_read_scope(L, 2, t.m, &o.scope);
    if (nm_prune_global(t.m, &o) != NM_OK)
        return luaL_error(L, "nm.prune.global: %s", nm_errmsg());
    nmp_recount(L, &t);
    push_scoped_report(L, t.m, &o.scope);
    return 1;
}

/* Zeroes the round(sparsity * numel) smallest |x| of a bare tensor (zeros
 * already there count). */
static int magnitude_tensor(lua_State *L, nm_tensor *w, double sparsity)
{
    int64_t want = llround(sparsity * (double)w->numel);
    int64_t zeros = w->numel - nm_tensor_nnz(w);
    if (want <= zeros)
        return NM_OK;
    nm_tensor *k = temp_mask(L, w);
    nm_tensor *elig = temp_mask(L, w);
    const float *x = nm_f32(w);
    for (int64_t i = 0; i < w->numel; i++)
        nm_u8(elig)[i] = x[i] != 0.0f;
    nm_select_seg seg = {x, nm_u8(elig), nm_u8(k), w->numel};
    if (nm_select_smallest(&seg, 1, want - zeros) != NM_OK)
        return NM_ERR;
    apply_mask(w, k);
    return NM_OK;
}

/* nm.prune.magnitude(target, {sparsity=}) -> report or row. Per layer: each
 * eligible layer of a model gets the same sparsity. */
static int l_magnitude(lua_State *L)
{
    static const char *const keys[] = {"sparsity", "layers", "include_first", "include_last",
                                       "score", "calib", "calib_n", NULL};
    nmp_target t;
    nmp_check_call(L, "mlt", keys, 1, &t);
    nmp_check_idle(L, &t, "nm.prune.magnitude");
    double s = required_num(L, 2, "sparsity", 0, 1);
    int wanda = opt_wanda(L, 2);
    if (wanda && t.t)
        nmlua_field_error(L, 2, "score", "'wanda' needs a model or layer target (a bare tensor has no inputs)");
    const nm_calib *calib = t.t ? NULL : nmp_opt_calib(L, 2, t.m, wanda);
    if (t.t) {
        check_weight_tensor(L, 1, t.t);
        if (magnitude_tensor(L, t.t, s) != NM_OK)
            return luaL_error(L, "nm.prune.magnitude: %s", nm_errmsg());
        push_tensor_row(L, t.t, 0, 0, NM_GROUP_AUTO);
        return 1;
    }
    if (t.layer >= 0) {
        if (layer_wanda(t.m, t.layer, calib, 0, 0, NM_GROUP_AUTO, s, 0) != NM_OK)
            return luaL_error(L, "nm.prune.magnitude: %s", nm_errmsg());
        nmp_recount(L, &t);
        push_layer_row(L, t.m, t.layer, 0, 0, NM_GROUP_AUTO);
        return 1;
    }
    nm_prune_scope scope;
    nmp_read_scope(L, 2, t.m, &scope);
    int rc = nm_prune_magnitude_model(t.m, s, &scope, calib);
    nmp_recount(L, &t);
    if (rc != NM_OK)
        return luaL_error(L, "nm.prune.magnitude: %s", nm_errmsg());
    push_scoped_report(L, t.m, &scope);
    return 1;
}

/* Drops a layer's mask and keep vectors and its declared N:M. */
static void reset_layer(nm_layer *l)
{
    nm_tensor_release(l->mask);
    nm_tensor_release(l->filters);
    nm_tensor_release(l->in_chans);
    l->mask = l->filters = l->in_chans = NULL;
    l->wn = l->wm = 0;
}

/* nm.prune.reset(target): every weight kept again (weights zeroed by
 * apply_masks, and biases / BN parameters cleared by filter removal, are
 * not restored). */
static int l_reset(lua_State *L)
{
    nmp_target t;
    lua_settop(L, 2);    /* a layer target pushes its model at 3 */
    nmp_check_target(L, 1, "ml", &t);
    nmp_check_idle(L, &t, "nm.prune.reset");
    if (t.layer >= 0) {
        reset_layer(&t.m->layers[t.layer]);
    } else {
        for (int i = 0; i < t.m->n_layers; i++)
            if (nm_layer_prunable(&t.m->layers[i]))
                reset_layer(&t.m->layers[i]);
    }
    nmp_recount(L, &t);
    return 0;
}

/* nm.check_nm(target, {n=, m=, group=, layers=, include_first=,
 * include_last=}) -> ok, violations, groups. A model: summed over the
 * layers nm.prune.nm with the same options prunes (each along the group or
 * its default, at its override's N:M), so that the check right after
 * nm.prune.nm holds; a layer is checked whatever the scope. */
static int l_check_nm(lua_State *L)
{
    static const char *const keys[] = {"n", "m", "group", "layers", "include_first", "include_last", NULL};
    nmp_target t;
    nmp_check_call(L, "mlt", keys, 1, &t);
    int n, m;
    nmp_opt_nm(L, 2, &n, &m, 1);
    nm_group_axis axis = nmp_opt_group(L, 2, "group");
    nm_prune_scope scope = {0};
    if (t.m && t.layer < 0)
        nmp_read_scope(L, 2, t.m, &scope);
    int64_t viol = 0, groups = 0;
    if (t.t) {
        check_weight_tensor(L, 1, t.t);
        if (nm_check_nm(t.t, NULL, n, m, tensor_axis(t.t, axis), &viol, &groups) != NM_OK)
            return luaL_error(L, "nm.check_nm: %s", nm_errmsg());
    } else {
        for (int i = 0; i < t.m->n_layers; i++) {
            const nm_layer *l = &t.m->layers[i];
            if ((t.layer >= 0 && i != t.layer) || !nm_layer_prunable(l) || !l->weight)
                continue;
            if (t.layer < 0 && !nm_prune_eligible(t.m, i, &scope, NULL))
                continue;
            const nm_layer_override *ov = t.layer < 0 ? nm_prune_override(t.m, i, &scope) : NULL;
            int ln = ov && ov->m > 0 ? ov->n : n, lm = ov && ov->m > 0 ? ov->m : m;
            nm_group_axis la = ov && ov->axis != NM_GROUP_AUTO ? ov->axis : axis;
            int64_t v, g;
            nm_group_axis a = la == NM_GROUP_AUTO ? nm_group_axis_default(l) : la;
            if (nm_check_nm(l->weight, l->mask, ln, lm, a, &v, &g) != NM_OK)
                return luaL_error(L, "nm.check_nm: layer '%s': %s", l->name, nm_errmsg());
            viol += v;
            groups += g;
        }
    }
    lua_pushboolean(L, viol == 0);
    lua_pushinteger(L, (lua_Integer)viol);
    lua_pushinteger(L, (lua_Integer)groups);
    return 3;
}

/* model:apply_masks(): w *= mask on every prunable layer. */
static int m_apply_masks(lua_State *L)
{
    nm_model_apply_masks(nmlua_check_model(L, 1));
    return 0;
}

void nmlua_open_prune(lua_State *L, int nm)
{
    static const luaL_Reg fns[] = {
        {"nm", l_nm},           {"filters", l_filters},     {"nffs", l_nffs},
        {"global", l_global},   {"magnitude", l_magnitude}, {"reset", l_reset},
        {NULL, NULL},
    };
    luaL_newlib(L, fns);
    int prune = lua_gettop(L);
    lua_pushvalue(L, prune);
    lua_setfield(L, nm, "prune");
    lua_pushcfunction(L, l_check_nm);
    lua_setfield(L, nm, "check_nm");
    luaL_getmetatable(L, NMLUA_MODEL);     /* registered by nmlua_open_model */
    lua_getfield(L, -1, "methods");
    int methods = lua_gettop(L);
    lua_pushcfunction(L, m_apply_masks);
    lua_setfield(L, methods, "apply_masks");
    nmp_open_joint(L, nm, prune, methods);
    nmp_open_act(L, nm, prune, methods);
    nmp_open_store(L, nm, prune, methods);
    lua_settop(L, prune - 1);
}
