/* bind_train.c - nm.train(model, data, opts): trains a model in place with
 * the C engine (engine/train), calling Lua back after every batch/epoch.
 *
 * Callbacks run under lua_pcall inside the engine's loop, so no error ever
 * longjmps across engine frames: an error is kept, the engine is told to
 * stop, and the binding raises it once nm_train has returned. A callback
 * returning false stops training quietly (the progress table then has
 * stopped = true). After every step the host's cancel flag is polled
 * (nmlua_progress), so Ctrl-C or the TUI's cancel stops a long run.
 * The model is in use (nmlua_model_use) while the loop runs: a callback
 * freeing, closing, extending, pruning or re-activating it raises. */
#include "bind_train.h"

#include <string.h>

/* ------------------------------------------------------- option readers */

void nmt_check_keys(lua_State *L, int arg, const char *const *allowed)
{
    lua_pushnil(L);
    while (lua_next(L, arg)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            luaL_argerror(L, arg, "option keys must be names");
        const char *k = lua_tostring(L, -2);
        int ok = 0;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, k) == 0;
        if (!ok)
            nmlua_field_error(L, arg, k, "unknown option");
        lua_pop(L, 1);
    }
}

/* ------------------------------------------------------------ callbacks */

typedef struct {
    lua_State *L;
    int on_batch, on_epoch;     /* stack slots of the functions (0: none) */
    int error;                  /* 1: a callback raised; message at err_slot */
    int err_slot;
    int stopped;                /* 1: a callback returned false */
    int cancelled;              /* 1: the host asked to cancel */
} train_ctx;

/* Pushes the progress table (fields in docs/lua-api.md). */
static void push_progress(lua_State *L, const nm_train_progress *p)
{
    lua_createtable(L, 0, 12);
    nmlua_set_int(L, "epoch", p->epoch);
    nmlua_set_int(L, "epochs", p->epochs);
    nmlua_set_int(L, "step", p->step);
    nmlua_set_int(L, "steps", p->steps);
    nmlua_set_num(L, "lr", p->lr);
    nmlua_set_num(L, "batch_loss", p->batch_loss);
    nmlua_set_num(L, "loss", p->loss);
    nmlua_set_num(L, "acc", p->acc);
    if (p->val_acc >= 0) {
        nmlua_set_num(L, "val_loss", p->val_loss);
        nmlua_set_num(L, "val_acc", p->val_acc);
    }
    nmlua_set_num(L, "seconds", p->seconds);
    nmlua_set_num(L, "images_per_s", p->images_per_s);
}

/* Protected part of a callback: push the table, call fn(p), leave the
 * result (true if the function returned anything but false). */
static int call_protected(lua_State *L)
{
    const nm_train_progress *p = lua_touserdata(L, 2);
    lua_pushvalue(L, 1);
    push_progress(L, p);
    lua_call(L, 1, 1);
    lua_pushboolean(L, !(lua_isboolean(L, -1) && !lua_toboolean(L, -1)));
    return 1;
}

/* Runs the Lua function at slot fn (if any) and polls the cancel flag.
 * Returns nonzero to stop the engine. */
static int run_callback(train_ctx *c, int fn, const nm_train_progress *p, const char *what)
{
    lua_State *L = c->L;
    if (fn) {
        lua_pushcfunction(L, call_protected);
        lua_pushvalue(L, fn);
        lua_pushlightuserdata(L, (void *)p);
        if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
            if (!lua_isstring(L, -1)) {
                lua_pop(L, 1);
                lua_pushfstring(L, "%s raised a non-string error", what);
            }
            lua_replace(L, c->err_slot);
            c->error = 1;
            return 1;
        }
        int go_on = lua_toboolean(L, -1);
        lua_pop(L, 1);
        if (!go_on) {
            c->stopped = 1;
            return 1;
        }
    }
    double frac = p->steps > 0 ? (double)p->step / (double)p->steps : -1;
    if (nmlua_progress(L, frac, "training")) {
        c->cancelled = 1;
        return 1;
    }
    return 0;
}

static int cb_batch(void *ud, const nm_train_progress *p)
{
    train_ctx *c = ud;
    return run_callback(c, c->on_batch, p, "on_batch");
}

static int cb_epoch(void *ud, const nm_train_progress *p)
{
    train_ctx *c = ud;
    return run_callback(c, c->on_epoch, p, "on_epoch");
}

/* ------------------------------------------------------------- nm.train */

/* Reads opts (table at 3) into o and the callback slots into c. */
static void read_opts(lua_State *L, nm_train_opts *o, train_ctx *c)
{
    static const char *const keys[] = {"epochs", "batch", "lr", "optimizer", "momentum",
                                       "weight_decay", "l1_bn", "schedule", "step_epochs",
                                       "step_gamma", "beta1", "beta2", "seed", "srste", "val",
                                       "max_steps", "on_batch", "on_epoch", NULL};
    static const char *const optims[] = {"sgd", "adam", NULL};
    static const char *const scheds[] = {"const", "step", "cosine", NULL};
    nmt_check_keys(L, 3, keys);
    nm_train_opts_default(o);
    o->epochs = nmlua_opt_int(L, 3, "epochs", o->epochs, 1, 100000);
    o->batch = nmlua_opt_int(L, 3, "batch", o->batch, 2, 1 << 16);
    o->max_steps = nmlua_opt_int(L, 3, "max_steps", 0, 0, 1 << 30);
    o->optim = (nm_optim_kind)nmlua_opt_enum(L, 3, "optimizer", NM_OPTIM_SGD, optims);
    double lr = o->optim == NM_OPTIM_ADAM ? 1e-3 : o->lr;
    o->lr = nmlua_opt_num(L, 3, "lr", lr, 1e-12, 100, NMLUA_LOOSE);
    o->momentum = nmlua_opt_num(L, 3, "momentum", o->momentum, 0, 0.999999, NMLUA_LOOSE);
    o->weight_decay = nmlua_opt_num(L, 3, "weight_decay", o->weight_decay, 0, 10, NMLUA_LOOSE);
    o->l1_bn = nmlua_opt_num(L, 3, "l1_bn", 0, 0, 10, NMLUA_LOOSE);
    o->sched = (nm_sched_kind)nmlua_opt_enum(L, 3, "schedule", NM_SCHED_COSINE, scheds);
    o->step_epochs = nmlua_opt_int(L, 3, "step_epochs", o->step_epochs, 1, 100000);
    o->step_gamma = nmlua_opt_num(L, 3, "step_gamma", o->step_gamma, 0, 1, NMLUA_LOOSE);
    o->beta1 = nmlua_opt_num(L, 3, "beta1", o->beta1, 0, 0.999999, NMLUA_LOOSE);
    o->beta2 = nmlua_opt_num(L, 3, "beta2", o->beta2, 0, 0.999999999, NMLUA_LOOSE);
    if (lua_getfield(L, 3, "seed") != LUA_TNIL) {
        int isint = 0;
        lua_Integer s = lua_tointegerx(L, -1, &isint);
        if (!isint)
            nmlua_field_error(L, 3, "seed", "must be an integer");
        o->seed = (uint64_t)s;
    }
    lua_pop(L, 1);
    int t = lua_getfield(L, 3, "srste");
    if (t != LUA_TNIL) {
        if (t != LUA_TTABLE)
            nmlua_field_error(L, 3, "srste", "must be a table {n=, m=, lambda=}");
        int s = lua_gettop(L);
        static const char *const skeys[] = {"n", "m", "lambda", NULL};
        lua_pushnil(L);
        while (lua_next(L, s)) {
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
            int ok = 0;
            for (const char *const *a = skeys; *a; a++)
                ok |= strcmp(*a, k) == 0;
            if (!ok)
                nmlua_field_error(L, 3, "srste", lua_pushfstring(L, "unknown field '%s'", k));
            lua_pop(L, 1);
        }
        lua_getfield(L, s, "n");
        lua_getfield(L, s, "m");
        int isn = 0, ism = 0;
        lua_Integer n = lua_tointegerx(L, -2, &isn), m = lua_tointegerx(L, -1, &ism);
        if (!isn || !ism || m < 1 || m > 64 || n < 1 || n > m)
            nmlua_field_error(L, 3, "srste", "needs integers n and m with 1 <= n <= m <= 64");
        lua_pop(L, 2);
        o->srste_n = (int)n, o->srste_m = (int)m;
        lua_getfield(L, s, "lambda");
        double lambda = lua_isnil(L, -1) ? 2e-4 : lua_tonumber(L, -1);
        if (!lua_isnil(L, -1) && (!lua_isnumber(L, -1) || !(lambda > 0 && lambda <= 10)))
            nmlua_field_error(L, 3, "srste", "lambda must be a number in (0, 10]");
        lua_pop(L, 1);
        o->srste = lambda;
    }
    lua_pop(L, 1);
    if (lua_getfield(L, 3, "val") != LUA_TNIL) {
        if (!luaL_testudata(L, -1, NMLUA_DATASET))
            nmlua_field_error(L, 3, "val", "must be a dataset (nm.data)");
        o->val = nmt_check_dataset(L, lua_gettop(L));   /* stays on the stack */
    } else {
        lua_pop(L, 1);
    }
    c->on_batch = nmlua_opt_fn(L, 3, "on_batch");
    c->on_epoch = nmlua_opt_fn(L, 3, "on_epoch");
}

/* nm.train(model, data [, opts]) -> progress. Raises on bad options (naming
 * the option), engine errors, callback errors and cancellation. */
static int l_train(lua_State *L)
{
    nm_model *m = nmlua_check_model(L, 1);
    const nm_dataset *d = nmt_check_dataset(L, 2);
    if (lua_isnoneornil(L, 3)) {
        lua_settop(L, 2);
        lua_newtable(L);
    }
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    nm_train_opts o;
    train_ctx c;
    memset(&c, 0, sizeof c);
    c.L = L;
    read_opts(L, &o, &c);
    lua_pushnil(L);
    c.err_slot = lua_gettop(L);
    /* Until nm.train returns or raises, callbacks cannot free or reshape the
     * model; SR-STE rewrites masks, so it needs the model idle. */
    nmlua_model_use(L, 1, "nm.train", NMLUA_USE_WEIGHTS | (o.srste > 0 ? NMLUA_USE_MASKS : 0));
    o.on_batch = cb_batch;
    o.on_epoch = cb_epoch;
    o.ud = &c;
    nm_train_progress p;
    memset(&p, 0, sizeof p);
    int rc = nm_train(m, d, &o, &p);
    nmlua_model_recount(L, 1);    /* SR-STE stores masks */
    if (c.error) {
        lua_pushvalue(L, c.err_slot);
        return lua_error(L);
    }
    if (c.cancelled)
        return luaL_error(L, "cancelled");
    if (rc != NM_OK && !c.stopped)
        return luaL_error(L, "nm.train: %s", nm_errmsg());
    push_progress(L, &p);
    if (c.stopped) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "stopped");
    }
    return 1;
}

void nmlua_open_train(lua_State *L, int nm)
{
    lua_pushcfunction(L, l_train);
    lua_setfield(L, nm, "train");
    nmt_open_data(L, nm);
    luaL_getmetatable(L, NMLUA_MODEL);     /* registered by nmlua_open_model */
    lua_getfield(L, -1, "methods");
    nmt_open_model(L, lua_gettop(L));
    lua_pop(L, 2);
}
