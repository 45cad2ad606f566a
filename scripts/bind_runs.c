/* bind_runs.c - nm.runs: reading a sweep's results database (written by
 * `nmlab sweep`, docs/sweeps.md) from Lua: the points, filtered by status
 * or params, groups by params with the count, mean, standard deviation
 * and 95 % confidence interval of a metric over the seeds, and the Pareto
 * front of two metrics. */
#include "stats.h"
#include "nmlua.h"

#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#define NMLUA_RUNS "nm.runs"
#define NMLUA_RUNS_CURSOR "nm.runs.cursor"

typedef struct {
    sqlite3 *db;
    char *path;
} runs_handle;

/* What a query holds while it pushes Lua values (any push may raise): the
 * collector finalizes it if the query does not. */
typedef struct {
    sqlite3_stmt *st;
    json_t *j;
} runs_cursor;

static void cursor_done(runs_cursor *c)
{
    sqlite3_finalize(c->st);
    json_decref(c->j);
    c->st = NULL;
    c->j = NULL;
}

static int cursor_gc(lua_State *L)
{
    cursor_done(luaL_checkudata(L, 1, NMLUA_RUNS_CURSOR));
    return 0;
}

static runs_cursor *new_cursor(lua_State *L)
{
    runs_cursor *c = lua_newuserdatauv(L, sizeof *c, 0);
    c->st = NULL;
    c->j = NULL;
    if (nmlua_newmetatable(L, NMLUA_RUNS_CURSOR)) {
        lua_pushcfunction(L, cursor_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return c;
}

static runs_handle *check_runs(lua_State *L)
{
    runs_handle *r = luaL_checkudata(L, 1, NMLUA_RUNS);
    if (r->db == NULL)
        luaL_error(L, "nm.runs: the database is closed");
    return r;
}

/* nm.runs.open(path) -> runs | nil, message */
static int l_open(lua_State *L)
{
    const char *path = nmlua_checkpath(L, 1);
    runs_handle *r = lua_newuserdatauv(L, sizeof *r, 0);
    r->db = NULL;
    r->path = NULL;
    luaL_setmetatable(L, NMLUA_RUNS);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: cannot open", path);
        return 2;
    }
    fclose(f);
    r->path = strdup(path);
    const char *why = NULL;
    if (r->path == NULL)
        why = "out of memory";
    else if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
        why = "cannot open";
    else
        sqlite3_busy_timeout(r->db, 5000);
    if (why == NULL && sqlite3_exec(r->db, "SELECT id, params, seed, status, error, metrics, started, "
                                    "ended, host, pos FROM points LIMIT 0; SELECT name, spec_hash, "
                                    "version, spec, created FROM sweeps LIMIT 0",
                                    NULL, NULL, NULL) != SQLITE_OK)
        why = "not an nmlab sweep database";
    if (why) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s%s%s", path, why, r->db ? ": " : "", r->db ? sqlite3_errmsg(r->db) : "");
        sqlite3_close_v2(r->db);
        r->db = NULL;
        return 2;
    }
    return 1;
}

/* sqlite3_close_v2: if a cursor left by an error still holds a statement,
 * the connection closes when the collector finalizes it. */
static int l_close(lua_State *L)
{
    runs_handle *r = luaL_checkudata(L, 1, NMLUA_RUNS);
    sqlite3_close_v2(r->db);
    free(r->path);
    r->db = NULL;
    r->path = NULL;
    return 0;
}

static int l_tostring(lua_State *L)
{
    runs_handle *r = luaL_checkudata(L, 1, NMLUA_RUNS);
    lua_pushfstring(L, "nm.runs(%s%s)", r->path ? r->path : "", r->db ? "" : ", closed");
    return 1;
}

/* Pushes a decoded JSON value. Objects nest as deep as jansson allows
 * (2048 levels): each level needs a stack slot, so grow the stack (the C
 * API guarantees only LUA_MINSTACK; a metric nested ~2000 deep wrote past
 * the stack and crashed in lua_createtable). */
static void push_json(lua_State *L, json_t *v)
{
    luaL_checkstack(L, 2, "runs: JSON nested too deeply");
    if (json_is_integer(v)) {
        lua_pushinteger(L, (lua_Integer)json_integer_value(v));
    } else if (json_is_real(v)) {
        lua_pushnumber(L, json_real_value(v));
    } else if (json_is_string(v)) {
        lua_pushlstring(L, json_string_value(v), json_string_length(v));
    } else if (json_is_boolean(v)) {
        lua_pushboolean(L, json_is_true(v));
    } else if (json_is_object(v)) {
        lua_createtable(L, 0, (int)json_object_size(v));
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) {
            push_json(L, x);
            lua_setfield(L, -2, k);
        }
    } else {
        lua_pushnil(L);   /* null: a metric that was not a finite number */
    }
}

/* Decodes column c of the cursor's row (a JSON object) into a table. */
static void push_json_col(lua_State *L, runs_cursor *c, int col)
{
    const char *s = (const char *)sqlite3_column_text(c->st, col);
    json_decref(c->j);
    c->j = s ? json_loads(s, 0, NULL) : NULL;
    if (c->j == NULL)
        lua_newtable(L);
    else
        push_json(L, c->j);
    json_decref(c->j);
    c->j = NULL;
}

static void push_col(lua_State *L, sqlite3_stmt *st, int col)
{
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_INTEGER: lua_pushinteger(L, (lua_Integer)sqlite3_column_int64(st, col)); break;
    case SQLITE_FLOAT: lua_pushnumber(L, sqlite3_column_double(st, col)); break;
    case SQLITE_NULL: lua_pushnil(L); break;
    default: lua_pushstring(L, (const char *)sqlite3_column_text(st, col));
    }
}

/* Prepares sql on the cursor or raises naming the file. */
static void prepare(lua_State *L, runs_handle *r, runs_cursor *c, const char *sql)
{
    if (sqlite3_prepare_v2(r->db, sql, -1, &c->st, NULL) != SQLITE_OK)
        luaL_error(L, "%s: %s", r->path, sqlite3_errmsg(r->db));
}

static void step_error(lua_State *L, runs_handle *r, int rc)
{
    if (rc != SQLITE_DONE)
        luaL_error(L, "%s: %s", r->path, sqlite3_errmsg(r->db));
}

/* runs:info() -> {name, spec_hash, version, spec, created} */
static int l_info(lua_State *L)
{
    runs_handle *r = check_runs(L);
    runs_cursor *c = new_cursor(L);
    prepare(L, r, c, "SELECT name, spec_hash, version, spec, created FROM sweeps");
    int rc = sqlite3_step(c->st);
    if (rc != SQLITE_ROW) {
        step_error(L, r, rc);
        return luaL_error(L, "%s: holds no sweep", r->path);
    }
    lua_newtable(L);
    for (int i = 0; i < 5; i++) {
        push_col(L, c->st, i);
        lua_setfield(L, -2, sqlite3_column_name(c->st, i));
    }
    cursor_done(c);
    return 1;
}

/* Whether the params table at `want` (Lua) matches the row's params table
 * at `have`: every key of want equal (raw equality, so 2 == 2.0). */
static int params_match(lua_State *L, int want, int have)
{
    lua_pushnil(L);
    while (lua_next(L, want)) {
        lua_pushvalue(L, -2);
        lua_rawget(L, have);
        int eq = lua_compare(L, -1, -2, LUA_OPEQ);
        lua_pop(L, 2);
        if (!eq) {
            lua_pop(L, 1);
            return 0;
        }
    }
    return 1;
}

/* The filter argument at idx: a status string, or {status =, params =}.
 * Leaves the params table (or nil) on the stack; returns the status or NULL. */
static const char *read_filter(lua_State *L, int idx)
{
    const char *status = NULL;
    if (lua_isnoneornil(L, idx)) {
        lua_pushnil(L);
    } else if (lua_type(L, idx) == LUA_TSTRING) {
        status = lua_tostring(L, idx);
        lua_pushnil(L);
    } else {
        luaL_checktype(L, idx, LUA_TTABLE);
        if (lua_getfield(L, idx, "status") != LUA_TNIL) {
            if (lua_type(L, -1) != LUA_TSTRING)
                nmlua_field_error(L, idx, "status", "must be ok, error, crashed or timeout");
            status = lua_tostring(L, -1);
        }
        lua_pop(L, 1);
        int t = lua_getfield(L, idx, "params");
        if (t != LUA_TNIL && t != LUA_TTABLE)
            nmlua_field_error(L, idx, "params", "must be a table of param values");
    }
    if (status && strcmp(status, "ok") && strcmp(status, "error") && strcmp(status, "crashed") &&
        strcmp(status, "timeout"))
        luaL_argerror(L, idx, lua_pushfstring(L, "status '%s' is not ok, error, crashed or timeout", status));
    return status;
}

/* runs:points([status | {status =, params = {k = v}}]) -> {point, ...} in
 * the order of the spec; point = {id, params, seed, status, error,
 * metrics, started, ended, host}. */
static int l_points(lua_State *L)
{
    runs_handle *r = check_runs(L);
    const char *status = read_filter(L, 2);
    int want = lua_gettop(L);
    runs_cursor *c = new_cursor(L);
    prepare(L, r, c, "SELECT id, params, seed, status, error, metrics, started, ended, host "
                     "FROM points WHERE ?1 IS NULL OR status = ?1 ORDER BY pos, id");
    if (status)
        sqlite3_bind_text(c->st, 1, status, -1, SQLITE_TRANSIENT);
    lua_newtable(L);
    int out = lua_gettop(L), rc;
    lua_Integer n = 0;
    while ((rc = sqlite3_step(c->st)) == SQLITE_ROW) {
        lua_createtable(L, 0, 9);
        for (int i = 0; i < 9; i++) {
            if (i == 1 || i == 5)
                push_json_col(L, c, i);
            else
                push_col(L, c->st, i);
            lua_setfield(L, -2, sqlite3_column_name(c->st, i));
        }
        if (!lua_isnil(L, want)) {
            lua_getfield(L, -1, "params");
            int ok = params_match(L, want, lua_gettop(L));
            lua_pop(L, 1);
            if (!ok) {
                lua_pop(L, 1);
                continue;
            }
        }
        lua_rawseti(L, out, ++n);
    }
    step_error(L, r, rc);
    cursor_done(c);
    return 1;
}

/* runs:count([status]) -> integer */
static int l_count(lua_State *L)
{
    runs_handle *r = check_runs(L);
    const char *status = read_filter(L, 2);
    runs_cursor *c = new_cursor(L);
    prepare(L, r, c, "SELECT count(*) FROM points WHERE ?1 IS NULL OR status = ?1");
    if (status)
        sqlite3_bind_text(c->st, 1, status, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(c->st);
    if (rc != SQLITE_ROW)
        step_error(L, r, rc);
    lua_pushinteger(L, (lua_Integer)sqlite3_column_int64(c->st, 0));
    cursor_done(c);
    return 1;
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Pushes a string naming the params table at t: "name=tag:value" lines in
 * sorted name order (tag i, f, s or b, so 2 and 2.0 and "2" differ). */
static void push_group_key(lua_State *L, int t)
{
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        n++;
    }
    const char **names = lua_newuserdatauv(L, (n ? n : 1) * sizeof *names, 0);
    size_t i = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING && i < n)
            names[i++] = lua_tostring(L, -1);   /* anchored as keys of t */
    }
    n = i;
    qsort(names, n, sizeof *names, cmp_cstr);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (i = 0; i < n; i++) {
        lua_getfield(L, t, names[i]);
        int ty = lua_type(L, -1);
        const char *tag = ty == LUA_TSTRING ? "s" : ty == LUA_TBOOLEAN ? "b"
                          : lua_isinteger(L, -1) ? "i" : "f";
        const char *v = ty == LUA_TBOOLEAN ? (lua_toboolean(L, -1) ? "true" : "false")
                                           : luaL_tolstring(L, -1, NULL);
        lua_pushfstring(L, "%s=%s:%s\n", names[i], tag, v);
        lua_remove(L, ty == LUA_TBOOLEAN ? -2 : -3);
        if (ty != LUA_TBOOLEAN)
            lua_remove(L, -2);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    lua_remove(L, -2);   /* the names */
}

/* runs:group(metric [, {by = {names}, status = "ok"}]) -> {group, ...}:
 * the points with that status (default ok) whose metric is a number,
 * grouped by their params (all of them, or only those named in `by`; the
 * seed never), in the order of each group's first point. group =
 * {params, count, mean, std, ci95, min, max}: std is the sample standard
 * deviation (n - 1; 0 for one point), ci95 the half-width of the 95 %
 * confidence interval of the mean, t(0.975, n-1) * std / sqrt(n) (nil for
 * one point). */
static int l_group(lua_State *L)
{
    check_runs(L);
    const char *metric = luaL_checkstring(L, 2);
    int by = 0;
    const char *status = "ok";
    if (!lua_isnoneornil(L, 3)) {
        luaL_checktype(L, 3, LUA_TTABLE);
        if (lua_getfield(L, 3, "by") != LUA_TNIL) {
            if (!lua_istable(L, -1))
                nmlua_field_error(L, 3, "by", "must be a list of param names");
            by = lua_gettop(L);
        } else {
            lua_pop(L, 1);
        }
        if (lua_getfield(L, 3, "status") != LUA_TNIL)
            status = luaL_checkstring(L, -1);
        else
            lua_pop(L, 1);
    }
    lua_settop(L, by ? by : 3);
    lua_pushcfunction(L, l_points);
    lua_pushvalue(L, 1);
    lua_pushstring(L, status);
    lua_call(L, 2, 1);
    int pts = lua_gettop(L);
    lua_newtable(L);                    /* key -> group table */
    int index = lua_gettop(L);
    lua_newtable(L);                    /* the result list */
    int out = lua_gettop(L);
    lua_Integer ngroups = 0;
    for (lua_Integer i = 1; lua_rawgeti(L, pts, i) == LUA_TTABLE; i++) {
        int p = lua_gettop(L);
        lua_getfield(L, p, "metrics");
        lua_getfield(L, -1, metric);
        if (lua_type(L, -1) != LUA_TNUMBER) {
            lua_settop(L, p - 1);
            continue;
        }
        double x = lua_tonumber(L, -1);
        lua_pop(L, 2);
        lua_getfield(L, p, "params");
        int params = lua_gettop(L);
        lua_newtable(L);                /* the group's params */
        int gp = lua_gettop(L);
        if (by) {
            for (lua_Integer k = 1; lua_rawgeti(L, by, k) == LUA_TSTRING; k++) {
                lua_pushvalue(L, -1);
                lua_rawget(L, params);
                lua_rawset(L, gp);
            }
            lua_pop(L, 1);
        } else {
            lua_pushnil(L);
            while (lua_next(L, params)) {
                lua_pushvalue(L, -2);
                lua_insert(L, -2);
                lua_rawset(L, gp);
            }
        }
        push_group_key(L, gp);
        int key = lua_gettop(L);
        lua_pushvalue(L, key);
        if (lua_rawget(L, index) != LUA_TTABLE) {
            lua_pop(L, 1);
            lua_createtable(L, 0, 8);
            lua_pushvalue(L, gp);
            lua_setfield(L, -2, "params");
            nmlua_set_int(L, "count", 0);
            nmlua_set_num(L, "mean", 0);
            nmlua_set_num(L, "m2", 0);
            nmlua_set_num(L, "min", x);
            nmlua_set_num(L, "max", x);
            lua_pushvalue(L, key);
            lua_pushvalue(L, -2);
            lua_rawset(L, index);
            lua_pushvalue(L, -1);
            lua_rawseti(L, out, ++ngroups);
        }
        /* Welford's update of the mean and the sum of squared deviations */
        int g = lua_gettop(L);
        lua_getfield(L, g, "count");
        lua_getfield(L, g, "mean");
        lua_getfield(L, g, "m2");
        lua_getfield(L, g, "min");
        lua_getfield(L, g, "max");
        lua_Integer n = lua_tointeger(L, -5) + 1;
        double mean = lua_tonumber(L, -4), m2 = lua_tonumber(L, -3);
        double mn = lua_tonumber(L, -2), mx = lua_tonumber(L, -1);
        lua_pop(L, 5);
        double d = x - mean;
        mean += d / (double)n;
        m2 += d * (x - mean);
        nmlua_set_int(L, "count", n);
        nmlua_set_num(L, "mean", mean);
        nmlua_set_num(L, "m2", m2);
        nmlua_set_num(L, "min", x < mn ? x : mn);
        nmlua_set_num(L, "max", x > mx ? x : mx);
        lua_settop(L, p - 1);
    }
    lua_pop(L, 1);
    for (lua_Integer i = 1; i <= ngroups; i++) {
        lua_rawgeti(L, out, i);
        lua_getfield(L, -1, "count");
        lua_getfield(L, -2, "m2");
        lua_Integer n = lua_tointeger(L, -2);
        double m2 = lua_tonumber(L, -1);
        lua_pop(L, 2);
        double sd = n > 1 ? sqrt(m2 / (double)(n - 1)) : 0.0;
        nmlua_set_num(L, "std", sd);
        if (n > 1)
            nmlua_set_num(L, "ci95", nm_t975((long)(n - 1)) * sd / sqrt((double)n));
        lua_pushnil(L);
        lua_setfield(L, -2, "m2");
        lua_pop(L, 1);
    }
    return 1;
}

typedef struct {
    double x, y;
    lua_Integer i;      /* index in the points list */
} pareto_pt;

static int cmp_pareto(const void *a, const void *b)
{
    const pareto_pt *p = a, *q = b;
    if (p->x != q->x)
        return p->x < q->x ? -1 : 1;
    if (p->y != q->y)
        return p->y > q->y ? -1 : 1;
    return p->i < q->i ? -1 : p->i > q->i;
}

/* Reads "min" or "max" from field f of the options at idx (default def);
 * returns the sign that turns the goal into "minimize". */
static double goal_sign(lua_State *L, int idx, const char *f, const char *def)
{
    const char *g = def;
    if (!lua_isnoneornil(L, idx)) {
        if (lua_getfield(L, idx, f) != LUA_TNIL)
            g = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    if (g == NULL || (strcmp(g, "min") != 0 && strcmp(g, "max") != 0))
        nmlua_field_error(L, idx, f, "must be 'min' or 'max'");
    return strcmp(g, "min") == 0 ? 1.0 : -1.0;
}

/* runs:pareto(mx, my [, {x = 'min', y = 'max', status = 'ok'}]) -> {point, ...}:
 * the points (default: ok) with numeric metrics mx and my that no other
 * such point dominates (at least as good in both, better in one), in
 * order of mx from best to worst; by default a small mx (a cost) and a
 * large my (a quality) are good. Of points with equal mx and my, the
 * first in the spec's order is kept. */
static int l_pareto(lua_State *L)
{
    check_runs(L);
    const char *mx = luaL_checkstring(L, 2), *my = luaL_checkstring(L, 3);
    const char *status = "ok";
    if (!lua_isnoneornil(L, 4)) {
        luaL_checktype(L, 4, LUA_TTABLE);
        if (lua_getfield(L, 4, "status") != LUA_TNIL)
            status = luaL_checkstring(L, -1);
        lua_pop(L, 1);
    }
    double sx = goal_sign(L, 4, "x", "min"), sy = goal_sign(L, 4, "y", "max");
    lua_settop(L, 4);
    lua_pushcfunction(L, l_points);
    lua_pushvalue(L, 1);
    lua_pushstring(L, status);
    lua_call(L, 2, 1);
    int pts = lua_gettop(L);
    lua_Integer n = (lua_Integer)lua_rawlen(L, pts), k = 0;
    pareto_pt *v = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *v, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, pts, i);
        lua_getfield(L, -1, "metrics");
        lua_getfield(L, -1, mx);
        lua_getfield(L, -2, my);
        if (lua_type(L, -1) == LUA_TNUMBER && lua_type(L, -2) == LUA_TNUMBER) {
            /* both turned into "smaller is better" for x, "larger" for y */
            v[k].x = sx * lua_tonumber(L, -2);
            v[k].y = -sy * lua_tonumber(L, -1);
            v[k].i = i;
            if (v[k].x == v[k].x && v[k].y == v[k].y)   /* NaN never wins */
                k++;
        }
        lua_pop(L, 4);
    }
    qsort(v, (size_t)k, sizeof *v, cmp_pareto);
    lua_newtable(L);
    lua_Integer m = 0;
    double best = -HUGE_VAL;
    for (lua_Integer j = 0; j < k; j++) {
        if (v[j].y > best) {   /* better than every point with smaller or equal x */
            best = v[j].y;
            lua_rawgeti(L, pts, v[j].i);
            lua_rawseti(L, -2, ++m);
        }
    }
    return 1;
}

void nmlua_open_runs(lua_State *L, int nm)
{
    static const luaL_Reg methods[] = {
        {"info", l_info}, {"points", l_points}, {"count", l_count}, {"group", l_group},
        {"pareto", l_pareto},
        {"close", l_close}, {NULL, NULL}};
    if (nmlua_newmetatable(L, NMLUA_RUNS)) {
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, l_close);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, l_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushcfunction(L, l_open);
    lua_setfield(L, -2, "open");
    lua_setfield(L, nm, "runs");
}
