/* bind_prune_joint.c - nm.prune.jointnf: JointNF with Lua callbacks; and
 * nm.prune.groups: the channel dependency groups it removes.
 *
 * The engine calls C callbacks; each runs its Lua function under
 * lua_pcall, so a Lua error never unwinds through the engine. A failure is
 * kept in a stack slot: finetune returns failure (the engine stops), an
 * error in on_round or progress makes the next progress check cancel. The
 * binding then raises with the Lua error. Ctrl-C goes through
 * nmlua_progress. The model is in use (nmlua_model_use) while the engine
 * runs: callbacks may train it (nm.train changes weights only) but a call
 * that frees it or changes its masks, keep vectors or layers raises. */
#include "bind_prune.h"

#include <string.h>

typedef struct {
    lua_State *L;
    int model;          /* stack index of the model handle */
    int finetune, on_round, progress;   /* stack indices of functions, 0 = none */
    int err;            /* stack slot of the first error (nil if none) */
    const char *where;  /* which callback failed */
    int round;
    nm_model *m;
} joint_ctx;

/* Records the error object on top of the stack (the first one wins). */
static void keep_error(joint_ctx *c, const char *where)
{
    lua_State *L = c->L;
    if (lua_isnil(L, c->err)) {
        lua_replace(L, c->err);
        c->where = where;
    } else {
        lua_pop(L, 1);
    }
}

static int cb_finetune(void *ud, nm_model *m, int round)
{
    joint_ctx *c = ud;
    lua_State *L = c->L;
    (void)m;
    c->round = round;
    lua_pushvalue(L, c->finetune);
    lua_pushvalue(L, c->model);
    lua_pushinteger(L, round);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        keep_error(c, "finetune");
        nm_seterr("finetune raised an error");
        return 1;
    }
    return 0;
}

/* Builds the stats table of a round (protected: may run out of memory). */
static int push_round_stats(lua_State *L)
{
    const nm_jointnf_round *in = lua_touserdata(L, 1);
    const nm_model *m = lua_touserdata(L, 2);
    lua_createtable(L, 0, 6);
    nmlua_set_int(L, "round", in->round);
    nmlua_set_int(L, "rounds", in->rounds);
    nmlua_set_int(L, "weights_pruned", in->weights_pruned);
    nmlua_set_int(L, "filters_removed", in->filters_removed);
    lua_createtable(L, in->n_layers, 0);
    for (int i = 0; i < in->n_layers; i++) {
        const nm_layer *l = &m->layers[in->layer[i]];
        lua_createtable(L, 0, 6);
        nmlua_set_str(L, "name", l->name);
        nmlua_set_int(L, "index", in->layer[i] + 1);
        nmlua_set_num(L, "density", in->density[i]);
        nmlua_set_int(L, "filters", in->filters[i]);
        nmlua_set_int(L, "filters_kept", in->filters_kept[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "layers");
    return 1;
}

static void cb_on_round(void *ud, const nm_jointnf_round *info)
{
    joint_ctx *c = ud;
    lua_State *L = c->L;
    if (!lua_isnil(L, c->err))
        return;
    c->round = info->round;
    lua_pushvalue(L, c->on_round);
    lua_pushcfunction(L, push_round_stats);
    lua_pushlightuserdata(L, (void *)info);
    lua_pushlightuserdata(L, c->m);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
        lua_remove(L, -2);
        keep_error(c, "on_round");
        return;
    }
    if (lua_pcall(L, 1, 0, 0) != LUA_OK)
        keep_error(c, "on_round");
}

/* The engine's progress: the Lua progress function (if any), then Ctrl-C.
 * A kept error cancels. */
static int cb_progress(void *ud, double fraction, const char *what)
{
    joint_ctx *c = ud;
    lua_State *L = c->L;
    if (!lua_isnil(L, c->err))
        return 1;
    if (c->progress) {
        lua_pushvalue(L, c->progress);
        lua_pushnumber(L, fraction);
        lua_pushstring(L, what);
        if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
            keep_error(c, "progress");
            return 1;
        }
    }
    return nmlua_progress(L, fraction, what);
}

/* Counts the model's new masks (protected: over the memory limit it raises). */
static int precount(lua_State *L)
{
    nmlua_model_recount(L, 1);
    return 0;
}

/* nm.prune.jointnf(model, {n=, m=, filters=, rounds=, group=, allow_add=,
 * max_sparsity=, min_density=, finetune=, on_round=, progress=, layers=,
 * include_first=, include_last=}) -> report (with filters_unmet, and a
 * message when the caps left part of the filter target). */
static int l_jointnf(lua_State *L)
{
    static const char *const keys[] = {"n", "m", "filters", "rounds", "group", "allow_add",
                                       "max_sparsity", "min_density", "finetune", "on_round",
                                       "progress", "layers", "include_first", "include_last",
                                       "group_reduction", "heads", "score", "calib", "calib_n",
                                       "preset", "normalize", NULL};
    static const char *const scores[] = {"magnitude", "wanda", NULL};
    nmp_target t;
    nmp_check_target(L, 1, "m", &t);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    nmp_check_keys(L, 2, keys);
    int has_preset = nmlua_opt_field(L, 2, "preset") != LUA_TNIL;
    lua_pop(L, 1);
    const nm_paper_preset *pre = NULL;
    if (has_preset && !(pre = nm_paper_preset_for(t.m)))
        nmlua_field_error(L, 2, "preset", nm_errmsg());
    int n, m;
    nmp_opt_nm(L, 2, &n, &m, !pre);
    nmlua_opt_field(L, 2, "n");
    int has_n = !lua_isnil(L, -1);
    lua_pop(L, 1);
    if (pre && !has_n)
        n = pre->n, m = pre->m;
    nm_jointnf_opts o;
    nm_jointnf_opts_init(&o, n, m, nmlua_opt_num(L, 2, "filters", pre ? pre->filters : 0, 0, 0.999999, NMLUA_STRICT),
                         nmlua_opt_int(L, 2, "rounds", pre ? pre->rounds : 3, 1, 1000));
    o.axis = nmp_opt_group(L, 2, "group");
    if (pre && o.axis == NM_GROUP_AUTO)
        o.axis = pre->axis;
    o.allow_add = nmlua_opt_bool(L, 2, "allow_add", pre ? pre->allow_add : 0, NMLUA_STRICT);
    o.max_sparsity = nmlua_opt_num(L, 2, "max_sparsity", 1, 0, 1, NMLUA_STRICT);
    o.min_density = nmlua_opt_num(L, 2, "min_density", 0, 0, 1, NMLUA_STRICT);
    o.reduction = (nm_group_reduction)nmlua_opt_enum(L, 2, "group_reduction", 0, nmp_reductions);
    o.normalize = (nm_group_norm)nmlua_opt_enum(L, 2, "normalize", 0, nmp_norms);
    o.heads = nmlua_opt_int(L, 2, "heads", 0, 0, 1 << 20);
    if (nm_groups_check_heads_msg(t.m, o.heads))
        nmlua_field_error(L, 2, "heads", nm_errmsg());
    int64_t unmet = 0;
    o.unmet = &unmet;
    joint_ctx c = {.L = L, .model = 1, .m = t.m};
    c.finetune = nmlua_opt_fn(L, 2, "finetune");
    c.on_round = nmlua_opt_fn(L, 2, "on_round");
    c.progress = nmlua_opt_fn(L, 2, "progress");
    o.calib = nmp_opt_calib(L, 2, t.m, nmlua_opt_enum(L, 2, "score", 0, scores) == 1); /* one slot */
    nmp_opt_preset(L, 2, t.m, &o.scope);   /* leaves one slot */
    lua_pushnil(L);
    c.err = lua_gettop(L);
    luaL_checkstack(L, 40, "jointnf callbacks");
    o.finetune = c.finetune ? cb_finetune : NULL;
    o.finetune_ud = &c;
    o.on_round = c.on_round ? cb_on_round : NULL;
    o.on_round_ud = &c;
    o.progress = cb_progress;
    o.progress_ud = &c;
    /* The callbacks may train the model (weights) but not free, close,
     * reset, prune, extend or re-activate it until this call returns. */
    nmlua_model_use(L, 1, "nm.prune.jointnf", NMLUA_USE_MASKS);
    int rc = nm_prune_jointnf(t.m, &o);
    if (!lua_isnil(L, c.err)) {
        lua_pushcfunction(L, precount);     /* the callback's error wins */
        lua_pushvalue(L, c.model);
        if (lua_pcall(L, 1, 0, 0) != LUA_OK)
            lua_pop(L, 1);
        if (lua_type(L, c.err) == LUA_TSTRING)
            return luaL_error(L, "nm.prune.jointnf: %s (round %d): %s", c.where,
                              c.round, lua_tostring(L, c.err));
        lua_pushvalue(L, c.err);
        return lua_error(L);
    }
    nmp_recount(L, &t);
    if (rc != NM_OK)
        return luaL_error(L, "nm.prune.jointnf: %s", nm_errmsg());
    nm_nm_opts ro;      /* the report: skipped layers marked, N:M checked */
    nm_nm_opts_init(&ro, n, m);
    ro.axis = o.axis;
    ro.scope = o.scope;
    nmp_push_model_report(L, t.m, &ro);
    nmp_set_unmet(L, unmet);
    return 1;
}

const char *const nmp_reductions[] = {"mean", "sum", "max", NULL};
const char *const nmp_norms[] = {"none", "mean", NULL};

/* nm.prune.groups(model [, {allow_add=, heads=, include_first=,
 * include_last=, layers=}]) -> list of groups, each {rows=, prunable=,
 * why=, residual=, attention=, head=, removed=, members = {{layer=,
 * axis='out'|'in'|'norm'|'embed', index=} ...}} (indices 1-based). */
static int l_groups(lua_State *L)
{
    static const char *const keys[] = {"allow_add", "heads", "layers", "include_first",
                                       "include_last", NULL};
    nmp_target t;
    nmp_check_target(L, 1, "m", &t);
    lua_settop(L, 2);
    if (!lua_isnil(L, 2))
        luaL_checktype(L, 2, LUA_TTABLE);
    nmp_check_keys(L, 2, keys);
    nm_group_opts o;
    nm_group_opts_init(&o);
    o.allow_add = nmlua_opt_bool(L, 2, "allow_add", 0, NMLUA_STRICT);
    o.heads = nmlua_opt_int(L, 2, "heads", 0, 0, 1 << 20);
    if (nm_groups_check_heads_msg(t.m, o.heads))
        nmlua_field_error(L, 2, "heads", nm_errmsg());
    nmp_read_scope(L, 2, t.m, &o.scope); /* leaves one slot */
    nm_group_set *s = nm_prune_groups(t.m, &o);
    if (!s)
        return luaL_error(L, "nm.prune.groups: %s", nm_errmsg());
    luaL_checkstack(L, 8, "nm.prune.groups");
    lua_createtable(L, s->n_groups, 0);
    for (int g = 0; g < s->n_groups; g++) {
        const nm_channel_group *G = &s->groups[g];
        lua_createtable(L, 0, 8);
        nmlua_set_int(L, "rows", G->rows);
        nmlua_set_bool(L, "prunable", G->prunable);
        nmlua_set_str(L, "why", G->why);
        nmlua_set_bool(L, "residual", G->residual);
        nmlua_set_bool(L, "attention", G->attention);
        nmlua_set_bool(L, "removed", G->removed);
        if (G->head >= 0) {
            nmlua_set_int(L, "head", G->head + 1);
        }
        lua_createtable(L, G->count, 0);
        for (int k = 0; k < G->count; k++) {
            const nm_group_member *mb = &s->members[G->first + k];
            lua_createtable(L, 0, 3);
            nmlua_set_str(L, "layer", t.m->layers[mb->layer].name);
            nmlua_set_str(L, "axis", nm_gm_axis_name(mb->axis));
            nmlua_set_int(L, "index", mb->index + 1);
            lua_rawseti(L, -2, k + 1);
        }
        lua_setfield(L, -2, "members");
        lua_rawseti(L, -2, g + 1);
    }
    nm_group_set_free(s);
    return 1;
}

void nmp_open_joint(lua_State *L, int nm, int prune, int methods)
{
    (void)nm;
    (void)methods;
    lua_pushcfunction(L, l_jointnf);
    lua_setfield(L, prune, "jointnf");
    lua_pushcfunction(L, l_groups);
    lua_setfield(L, prune, "groups");
}
