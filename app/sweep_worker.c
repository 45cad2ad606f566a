/* sweep_worker.c - one point in one process. See sweep_worker.h. */
#include "sweep_worker.h"

#include <errno.h>
#include <jansson.h>
#include <lauxlib.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            _exit(3);       /* the parent is gone: nothing to tell */
        p += w;
        n -= (size_t)w;
    }
}

static _Noreturn void finish(int fd, char tag, const char *payload)
{
    write_all(fd, &tag, 1);
    write_all(fd, payload, strlen(payload));
    _exit(0);
}

char *sweep_metrics_json(lua_State *L, int idx, char *err, size_t errlen)
{
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx)) {
        snprintf(err, errlen, "run returned a %s, not a table of metrics like {acc = 0.9}",
                 luaL_typename(L, idx));
        return NULL;
    }
    json_t *obj = json_object();
    if (obj == NULL)
        goto oom;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            snprintf(err, errlen, "run returned a table with a %s key; metrics are named by strings",
                     luaL_typename(L, -2));
            lua_pop(L, 2);
            json_decref(obj);
            return NULL;
        }
        const char *k = lua_tostring(L, -2);
        json_t *v = NULL;
        switch (lua_type(L, -1)) {
        case LUA_TBOOLEAN: v = json_boolean(lua_toboolean(L, -1)); break;
        case LUA_TSTRING: {
            size_t n;
            const char *s = lua_tolstring(L, -1, &n);
            v = json_stringn(s, n);
            if (v == NULL) {
                snprintf(err, errlen, "metric '%s' is not valid UTF-8 text", k);
                lua_pop(L, 2);
                json_decref(obj);
                return NULL;
            }
            break;
        }
        case LUA_TNUMBER:
            if (lua_isinteger(L, -1))
                v = json_integer((json_int_t)lua_tointeger(L, -1));
            else if (isfinite(lua_tonumber(L, -1)))
                v = json_real(lua_tonumber(L, -1));
            else
                v = json_null();
            break;
        default:
            snprintf(err, errlen, "metric '%s' is a %s; metrics must be numbers, strings or booleans",
                     k, luaL_typename(L, -1));
            lua_pop(L, 2);
            json_decref(obj);
            return NULL;
        }
        if (v == NULL || json_object_set_new(obj, k, v) != 0) {
            lua_pop(L, 2);
            json_decref(obj);
            goto oom;
        }
        lua_pop(L, 1);
    }
    char *s = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    json_decref(obj);
    if (s)
        return s;
oom:
    snprintf(err, errlen, "out of memory encoding the metrics");
    return NULL;
}

static int traceback(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
    return 1;
}

/* Protected: pushes the params table of the point (JSON at 1, seed at 2). */
static int push_params(lua_State *L)
{
    const char *js = lua_touserdata(L, 1);
    lua_Integer seed = lua_tointeger(L, 2);
    json_t *obj = json_loads(js, 0, NULL);
    if (obj == NULL)
        return luaL_error(L, "cannot decode the point's params");
    lua_newtable(L);
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        if (json_is_integer(v))
            lua_pushinteger(L, (lua_Integer)json_integer_value(v));
        else if (json_is_real(v))
            lua_pushnumber(L, json_real_value(v));
        else if (json_is_string(v))
            lua_pushlstring(L, json_string_value(v), json_string_length(v));
        else
            lua_pushboolean(L, json_is_true(v));
        lua_setfield(L, -2, k);
    }
    json_decref(obj);   /* (a memory error above would leak it; the process ends anyway) */
    lua_pushinteger(L, seed);
    lua_setfield(L, -2, "seed");
    return 1;
}

nmlua_host *sweep_worker_template(const sweep_spec *s, const nmlua_options *opt)
{
    char err[1024];
    nmlua_host *h = nmlua_host_new(opt, err, sizeof err);
    if (h != NULL && sweep_spec_push_run(h, s, err, sizeof err) != 0) {
        nmlua_host_free(h);
        h = NULL;
    }
    return h;
}

_Noreturn void sweep_worker_main(const sweep_spec *s, const sweep_point *p,
                                 const nmlua_options *opt, nmlua_host *tmpl, int threads, int fd)
{
    char err[4096];
    signal(SIGINT, SIG_IGN);        /* the parent decides when workers stop */
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    omp_set_num_threads(threads > 0 ? threads : 1);
    nmlua_host *h = tmpl;
    if (h == NULL) {
        h = nmlua_host_new(opt, err, sizeof err);
        if (h == NULL)
            finish(fd, SWEEP_MSG_ERROR, err);
        if (sweep_spec_push_run(h, s, err, sizeof err) != 0)
            finish(fd, SWEEP_MSG_ERROR, err);
    }
    lua_State *L = nmlua_host_state(h);
    int run = lua_gettop(L);
    lua_pushcfunction(L, traceback);
    lua_pushcfunction(L, push_params);
    lua_pushlightuserdata(L, p->params);
    lua_pushinteger(L, (lua_Integer)p->seed);
    if (lua_pcall(L, 2, 1, run + 1) != LUA_OK)
        finish(fd, SWEEP_MSG_ERROR, lua_tostring(L, -1));
    lua_pushvalue(L, run);
    lua_insert(L, -2);
    if (lua_pcall(L, 1, 1, run + 1) != LUA_OK) {
        const char *m = lua_tostring(L, -1);
        finish(fd, SWEEP_MSG_ERROR, m ? m : "(error object is not a string)");
    }
    char *json = sweep_metrics_json(L, -1, err, sizeof err);
    if (json == NULL)
        finish(fd, SWEEP_MSG_ERROR, err);
    finish(fd, SWEEP_MSG_OK, json);   /* _exit: the OS takes the memory back */
}
