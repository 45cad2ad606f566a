/* bind_train.c - training from Lua: nm.data.fashion_mnist, nm.dataset,
 * nm.train, model:evaluate, model:forward.
 *
 * Data sets are handles of engine nm_datasets (metatable nm.dataset), freed
 * by :free(), <close> or the collector. nm.train calls the engine's
 * training loop; Lua callbacks run under lua_pcall inside the engine's
 * callback, so an error in one stops training cleanly and is raised again
 * once the engine has returned and freed its buffers. Cancellation (Ctrl-C,
 * the TUI) reaches the engine through nmlua_progress after every step. */
#include "nmlua.h"
#include "train.h"

#include <stdlib.h>
#include <string.h>

#define NMLUA_DATASET "nm.dataset"

typedef struct {
    nm_dataset *d;      /* NULL once freed */
    size_t counted;     /* bytes counted against the memory limit */
} dataset_ud;

static size_t dataset_bytes(const nm_dataset *d)
{
    return (size_t)d->images->numel * 4 + (size_t)d->labels->numel * 4;
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

static nm_dataset *check_dataset(lua_State *L, int arg)
{
    dataset_ud *u = luaL_checkudata(L, arg, NMLUA_DATASET);
    if (u->d == NULL)
        luaL_argerror(L, arg, "data set has been freed");
    return u->d;
}

/* Option tables: every key must be known, so a typo raises. */
static void check_keys(lua_State *L, int t, const char *fn, const char *const *known)
{
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        int ok = 0;
        if (lua_type(L, -1) == LUA_TSTRING)
            for (const char *const *k = known; *k && !ok; k++)
                ok = strcmp(*k, lua_tostring(L, -1)) == 0;
        if (!ok) {
            lua_pushfstring(L, "%s: unknown option '%s'", fn, luaL_tolstring(L, -1, NULL));
            lua_error(L);
        }
    }
}

static double opt_number(lua_State *L, int t, const char *key, double def)
{
    lua_getfield(L, t, key);
    double v = def;
    if (!lua_isnil(L, -1)) {
        if (!lua_isnumber(L, -1))
            luaL_error(L, "option '%s' must be a number", key);
        v = lua_tonumber(L, -1);
    }
    lua_pop(L, 1);
    return v;
}

static lua_Integer opt_integer(lua_State *L, int t, const char *key, lua_Integer def)
{
    lua_getfield(L, t, key);
    lua_Integer v = def;
    if (!lua_isnil(L, -1)) {
        int isint = 0;
        v = lua_tointegerx(L, -1, &isint);
        if (!isint)
            luaL_error(L, "option '%s' must be an integer", key);
    }
    lua_pop(L, 1);
    return v;
}

/* ---- data sets ---- */

static const char *const fmnist_keys[] = {"train", "limit", "dir", NULL};

/* nm.data.fashion_mnist([{train = true, limit = n, dir = path}])
 * -> dataset  or  nil, message (e.g. the package is not installed). */
static int l_fashion_mnist(lua_State *L)
{
    int train = 1;
    lua_Integer limit = 0;
    const char *dir = NULL;
    if (!lua_isnoneornil(L, 1)) {
        luaL_checktype(L, 1, LUA_TTABLE);
        check_keys(L, 1, "nm.data.fashion_mnist", fmnist_keys);
        lua_getfield(L, 1, "train");
        if (!lua_isnil(L, -1))
            train = lua_toboolean(L, -1);
        lua_pop(L, 1);
        limit = opt_integer(L, 1, "limit", 0);
        luaL_argcheck(L, limit >= 0, 1, "limit must not be negative");
        lua_getfield(L, 1, "dir");   /* stays on the stack while dir is used */
        if (!lua_isnil(L, -1))
            dir = nmlua_checkpath(L, lua_gettop(L));
    }
    nm_dataset *d = nm_data_fashion_mnist(dir, train, (int64_t)limit);
    if (!d) {
        lua_pushnil(L);
        lua_pushstring(L, nm_errmsg());
        return 2;
    }
    push_dataset(L, d);
    return 1;
}

/* nm.dataset(images f32 [n,C,H,W], labels i32 [n], classes [, name])
 * -> dataset (shares the tensors). Mismatched shapes or labels raise. */
static int l_dataset(lua_State *L)
{
    nm_tensor *x = nmlua_check_tensor(L, 1), *y = nmlua_check_tensor(L, 2);
    lua_Integer classes = luaL_checkinteger(L, 3);
    const char *name = luaL_optstring(L, 4, "data");
    luaL_argcheck(L, classes > 0 && classes <= 1 << 20, 3, "classes must be positive");
    nm_dataset *d = nm_dataset_new(name, x, y, (int)classes);
    if (!d)
        return luaL_error(L, "nm.dataset: %s", nm_errmsg());
    push_dataset(L, d);
    return 1;
}

static int ds_free(lua_State *L)
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
    lua_pushinteger(L, (lua_Integer)nm_dataset_size(check_dataset(L, 1)));
    return 1;
}

static int ds_classes(lua_State *L)
{
    lua_pushinteger(L, check_dataset(L, 1)->classes);
    return 1;
}

/* ds:images(), ds:labels(): the data set's tensors (shared, not copied). */
static int ds_images(lua_State *L)
{
    nmlua_push_tensor(L, nm_tensor_retain(check_dataset(L, 1)->images), 0);
    return 1;
}

static int ds_labels(lua_State *L)
{
    nmlua_push_tensor(L, nm_tensor_retain(check_dataset(L, 1)->labels), 0);
    return 1;
}

static int ds_tostring(lua_State *L)
{
    dataset_ud *u = luaL_checkudata(L, 1, NMLUA_DATASET);
    if (!u->d) {
        lua_pushliteral(L, "dataset (freed)");
        return 1;
    }
    const nm_tensor *x = u->d->images;
    lua_pushfstring(L, "dataset '%s': %d images of (%d, %d, %d), %d classes", u->d->name,
                    (int)x->shape[0], (int)x->shape[1], (int)x->shape[2], (int)x->shape[3],
                    u->d->classes);
    return 1;
}

/* ---- nm.train ---- */

typedef struct {
    lua_State *L;
    int on_batch, on_epoch;   /* stack indices of the callbacks, 0 = none */
    int user_stop;            /* a callback returned true */
    int host_cancel;          /* the host asked to cancel */
    int err_ref;              /* a callback raised: its error (registry) */
} train_ctx;

static void push_progress(lua_State *L, const nm_train_progress *p)
{
    lua_createtable(L, 0, 12);
    lua_pushinteger(L, p->epoch), lua_setfield(L, -2, "epoch");
    lua_pushinteger(L, p->epochs), lua_setfield(L, -2, "epochs");
    lua_pushinteger(L, (lua_Integer)p->step), lua_setfield(L, -2, "step");
    lua_pushinteger(L, (lua_Integer)p->steps), lua_setfield(L, -2, "steps");
    lua_pushnumber(L, p->lr), lua_setfield(L, -2, "lr");
    lua_pushnumber(L, p->batch_loss), lua_setfield(L, -2, "batch_loss");
    lua_pushnumber(L, p->loss), lua_setfield(L, -2, "loss");
    lua_pushnumber(L, p->acc), lua_setfield(L, -2, "acc");
    if (p->val_acc >= 0) {
        lua_pushnumber(L, p->val_loss), lua_setfield(L, -2, "val_loss");
        lua_pushnumber(L, p->val_acc), lua_setfield(L, -2, "val_acc");
    }
    lua_pushnumber(L, p->seconds), lua_setfield(L, -2, "seconds");
    lua_pushnumber(L, p->images_per_s), lua_setfield(L, -2, "images_per_s");
}

/* Runs one Lua callback under pcall; nonzero stops training. */
static int call_back(train_ctx *c, int fn, const nm_train_progress *p)
{
    lua_State *L = c->L;
    if (nmlua_progress(L, p->steps ? (double)p->step / (double)p->steps : -1, "train")) {
        c->host_cancel = 1;
        return 1;
    }
    if (!fn)
        return 0;
    lua_pushvalue(L, fn);
    push_progress(L, p);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        c->err_ref = luaL_ref(L, LUA_REGISTRYINDEX);
        return 1;
    }
    int stop = lua_toboolean(L, -1);
    lua_pop(L, 1);
    c->user_stop = stop;
    return stop;
}

static int on_batch(void *ud, const nm_train_progress *p)
{
    train_ctx *c = ud;
    return call_back(c, c->on_batch, p);
}

static int on_epoch(void *ud, const nm_train_progress *p)
{
    train_ctx *c = ud;
    return call_back(c, c->on_epoch, p);
}

static const char *const train_keys[] = {
    "epochs", "batch", "max_steps", "optim", "lr", "momentum", "weight_decay", "beta1",
    "beta2", "eps", "schedule", "step_epochs", "step_gamma", "l1_bn", "srste", "srste_n",
    "srste_m", "seed", "val", "on_batch", "on_epoch", NULL,
};

static const char *const optim_names[] = {"sgd", "adam", NULL};
static const char *const sched_names[] = {"const", "step", "cosine", NULL};

static int opt_choice(lua_State *L, int t, const char *key, const char *const *names, int def)
{
    lua_getfield(L, t, key);
    int v = def;
    if (!lua_isnil(L, -1)) {
        const char *s = lua_tostring(L, -1);
        v = -1;
        for (int i = 0; s && names[i]; i++)
            if (strcmp(names[i], s) == 0)
                v = i;
        if (v < 0)
            luaL_error(L, "option '%s': unknown value '%s'", key, s ? s : "?");
    }
    lua_pop(L, 1);
    return v;
}

/* nm.train(model, data, {options}) -> summary table. Options (defaults):
 * epochs 1, batch 64, max_steps, optim "sgd"|"adam", lr 0.05 (adam 1e-3),
 * momentum 0.9, weight_decay 5e-4 (adam 0), beta1, beta2, eps, schedule
 * "cosine"|"step"|"const", step_epochs, step_gamma, l1_bn, srste (lambda)
 * with srste_n, srste_m, seed, val (a dataset evaluated every epoch),
 * on_batch(p), on_epoch(p) (returning true stops; the summary then has
 * stopped = true). */
static int l_train(lua_State *L)
{
    nm_model *m = nmlua_check_model(L, 1);
    nm_dataset *d = check_dataset(L, 2);
    nm_train_opts o;
    nm_train_opts_default(&o);
    train_ctx c = {L, 0, 0, 0, 0, LUA_NOREF};
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        check_keys(L, 3, "nm.train", train_keys);
        o.optim = (nm_optim_kind)opt_choice(L, 3, "optim", optim_names, NM_OPTIM_SGD);
        if (o.optim == NM_OPTIM_ADAM)
            o.lr = 1e-3, o.weight_decay = 0;
        o.epochs = (int)opt_integer(L, 3, "epochs", o.epochs);
        o.batch = (int)opt_integer(L, 3, "batch", o.batch);
        o.max_steps = opt_integer(L, 3, "max_steps", 0);
        o.lr = opt_number(L, 3, "lr", o.lr);
        o.momentum = opt_number(L, 3, "momentum", o.momentum);
        o.weight_decay = opt_number(L, 3, "weight_decay", o.weight_decay);
        o.beta1 = opt_number(L, 3, "beta1", o.beta1);
        o.beta2 = opt_number(L, 3, "beta2", o.beta2);
        o.adam_eps = opt_number(L, 3, "eps", o.adam_eps);
        o.sched = (nm_sched_kind)opt_choice(L, 3, "schedule", sched_names, NM_SCHED_COSINE);
        o.step_epochs = (int)opt_integer(L, 3, "step_epochs", o.step_epochs);
        o.step_gamma = opt_number(L, 3, "step_gamma", o.step_gamma);
        o.l1_bn = opt_number(L, 3, "l1_bn", 0);
        o.srste = opt_number(L, 3, "srste", 0);
        o.srste_n = (int)opt_integer(L, 3, "srste_n", 0);
        o.srste_m = (int)opt_integer(L, 3, "srste_m", 0);
        o.seed = (uint64_t)opt_integer(L, 3, "seed", 1);
        lua_getfield(L, 3, "val");
        if (!lua_isnil(L, -1))
            o.val = check_dataset(L, lua_gettop(L));   /* stays on the stack */
        lua_getfield(L, 3, "on_batch");
        if (!lua_isnil(L, -1)) {
            luaL_checktype(L, -1, LUA_TFUNCTION);
            c.on_batch = lua_gettop(L);
        }
        lua_getfield(L, 3, "on_epoch");
        if (!lua_isnil(L, -1)) {
            luaL_checktype(L, -1, LUA_TFUNCTION);
            c.on_epoch = lua_gettop(L);
        }
    }
    o.on_batch = on_batch, o.on_epoch = on_epoch, o.ud = &c;
    nm_train_progress p;
    memset(&p, 0, sizeof p);
    int rc = nm_train(m, d, &o, &p);
    if (c.err_ref != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, c.err_ref);
        luaL_unref(L, LUA_REGISTRYINDEX, c.err_ref);
        return lua_error(L);
    }
    if (c.host_cancel)
        return luaL_error(L, "cancelled");
    if (rc != NM_OK && !c.user_stop)
        return luaL_error(L, "nm.train: %s", nm_errmsg());
    push_progress(L, &p);
    if (c.user_stop) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "stopped");
    }
    return 1;
}

/* ---- model methods ---- */

static const char *const eval_keys[] = {"batch", "density", NULL};

/* model:evaluate(data [, {batch = 256, density = false}])
 * -> accuracy, mean loss [, {layer name = output density}] */
static int m_evaluate(lua_State *L)
{
    nm_model *m = nmlua_check_model(L, 1);
    nm_dataset *d = check_dataset(L, 2);
    lua_Integer batch = 0;
    int want_density = 0;
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        check_keys(L, 3, "model:evaluate", eval_keys);
        batch = opt_integer(L, 3, "batch", 0);
        luaL_argcheck(L, batch >= 0 && batch <= 1 << 16, 3, "batch out of range");
        lua_getfield(L, 3, "density");
        want_density = lua_toboolean(L, -1);
        lua_pop(L, 1);
    }
    double acc, loss, *dens = NULL;
    if (want_density && !(dens = calloc((size_t)m->n_layers + 1, sizeof *dens)))
        return luaL_error(L, "not enough memory");
    if (nm_evaluate(m, d, (int)batch, &acc, &loss, dens) != NM_OK) {
        free(dens);
        return luaL_error(L, "model:evaluate: %s", nm_errmsg());
    }
    lua_pushnumber(L, acc);
    lua_pushnumber(L, loss);
    if (!dens)
        return 2;
    lua_createtable(L, 0, m->n_layers);
    for (int i = 0; i < m->n_layers; i++) {
        lua_pushnumber(L, dens[i]);
        lua_setfield(L, -2, m->layers[i].name);
    }
    free(dens);
    return 3;
}

/* model:forward(x) -> output tensor [N, C, H, W] (eval mode). */
static int m_forward(lua_State *L)
{
    nm_model *m = nmlua_check_model(L, 1);
    const nm_tensor *x = nmlua_check_tensor(L, 2);
    nm_tensor *y = nm_forward(m, x);
    if (!y)
        return luaL_error(L, "model:forward: %s", nm_errmsg());
    size_t bytes = (size_t)y->numel * 4;
    if (nmlua_mem_reserve(L, bytes) != NM_OK) {
        nm_tensor_release(y);
        return luaL_error(L, "%s", nm_errmsg());
    }
    nmlua_push_tensor(L, y, bytes);
    return 1;
}

void nmlua_open_train(lua_State *L, int nm)
{
    static const luaL_Reg ds_meta[] = {
        {"__gc", ds_free}, {"__close", ds_free}, {"__len", ds_len},
        {"__tostring", ds_tostring}, {NULL, NULL},
    };
    static const luaL_Reg ds_methods[] = {
        {"free", ds_free}, {"size", ds_len}, {"classes", ds_classes},
        {"images", ds_images}, {"labels", ds_labels}, {NULL, NULL},
    };
    luaL_newmetatable(L, NMLUA_DATASET);
    luaL_setfuncs(L, ds_meta, 0);
    luaL_newlib(L, ds_methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);

    lua_pushcfunction(L, l_train);
    lua_setfield(L, nm, "train");
    lua_pushcfunction(L, l_dataset);
    lua_setfield(L, nm, "dataset");
    lua_newtable(L);
    lua_pushcfunction(L, l_fashion_mnist);
    lua_setfield(L, -2, "fashion_mnist");
    lua_setfield(L, nm, "data");

    luaL_getmetatable(L, NMLUA_MODEL);     /* registered by nmlua_open_model */
    lua_getfield(L, -1, "methods");
    lua_pushcfunction(L, m_evaluate);
    lua_setfield(L, -2, "evaluate");
    lua_pushcfunction(L, m_forward);
    lua_setfield(L, -2, "forward");
    lua_pop(L, 2);
}
