/* bind_plot_pareto.c - nm.plot.pareto: two metrics of a sweep's results (an
 * nm.runs object, scripts/bind_runs.c) or of plain points, as a scatter
 * with its Pareto front (viz/plot_pareto.c), the figure the workbench's
 * Runs screen exports. With `group` the points are the means over the
 * seeds with their 95 % intervals as error bars (runs:group's numbers).
 *
 * The points are read through the runs object's own methods (runs:points,
 * runs:group), so the figure shows what a script sees; the front is
 * computed here with runs:pareto's rule (same order, same tie-break). */
#include "bind_plot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NMLUA_RUNS "nm.runs"   /* the runs object's metatable (bind_runs.c) */

/* The points to draw: x, y, optional bars and labels, and for each the
 * Lua value it came from (a point or group table) in the array `src`. */
typedef struct {
    int n;
    double *x, *y, *xe, *ye;
    const char **labels;
    int src;            /* stack index of the array of source entries */
} pareto_pts;

/* Calls method `name` of the runs object at 1 with the values on top
 * (nargs of them); leaves one result. */
static void call_method(lua_State *L, const char *name, int nargs)
{
    lua_getfield(L, 1, name);
    lua_pushvalue(L, 1);
    lua_rotate(L, -2 - nargs, 2);
    lua_call(L, nargs + 1, 1);
}

/* Sorts the strings list[1..n] (a table at index list) with table.sort,
 * when the state has it, and pushes them joined by sep. */
static void push_sorted_join(lua_State *L, int list, lua_Integer n, const char *sep)
{
    lua_getglobal(L, "table");
    if (lua_istable(L, -1) && n > 1) {
        lua_getfield(L, -1, "sort");
        lua_pushvalue(L, list);
        lua_call(L, 1, 0);
    }
    lua_pop(L, 1);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (lua_Integer i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addstring(&b, sep);
        lua_rawgeti(L, list, i);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
}

/* Pushes "a, b, c": the sorted keys of field `field` over the tables of
 * the array at t (what a message lists as the names that exist). */
static const char *push_known(lua_State *L, int t, const char *field)
{
    lua_newtable(L);
    int set = lua_gettop(L);
    for (lua_Integer i = 1; lua_rawgeti(L, t, i) == LUA_TTABLE; i++) {
        if (lua_getfield(L, -1, field) == LUA_TTABLE)
            for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1)) {
                lua_pushvalue(L, -2);
                lua_pushboolean(L, 1);
                lua_rawset(L, set);
            }
        lua_pop(L, 2);
    }
    lua_pop(L, 1);
    /* table.sort over the names, then table.concat */
    lua_newtable(L);
    int list = lua_gettop(L);
    lua_Integer n = 0;
    for (lua_pushnil(L); lua_next(L, set); lua_pop(L, 1))
        if (lua_type(L, -2) == LUA_TSTRING) {
            lua_pushvalue(L, -2);
            lua_rawseti(L, list, ++n);
        }
    push_sorted_join(L, list, n, ", ");
    if (n == 0) {
        lua_pop(L, 1);
        lua_pushliteral(L, "none");
    }
    lua_replace(L, set);
    lua_settop(L, set);
    return lua_tostring(L, -1);
}

/* Checks metric m over the points array at pts: a number wherever it is
 * present (a point whose metric was not a finite number has none: the
 * database stores it as null); raises naming the point otherwise, and
 * when no point has it at all. */
static void check_metric(lua_State *L, int pts, const char *m)
{
    lua_Integer have = 0;
    for (lua_Integer i = 1; lua_rawgeti(L, pts, i) == LUA_TTABLE; i++) {
        lua_getfield(L, -1, "metrics");
        int ty = lua_istable(L, -1) ? lua_getfield(L, -1, m) : LUA_TNIL;
        if (ty == LUA_TNUMBER) {
            have++;
        } else if (ty != LUA_TNIL) {
            lua_getfield(L, -3, "id");
            plotarg_error(L, 1, "metric '%s' of point %s is a %s, not a number", m,
                          lua_isstring(L, -1) ? lua_tostring(L, -1) : "?", luaL_typename(L, -2));
        }
        lua_settop(L, pts);
    }
    lua_pop(L, 1);
    if (have == 0)
        plotarg_error(L, 1, "no point has a numeric metric '%s' (metrics: %s)", m,
                      push_known(L, pts, "metrics"));
}

/* The label of the source entry on top: its params[labels] as text, or
 * NULL; anchored. */
static const char *param_label(lua_State *L, int anchor, const char *param)
{
    const char *s = NULL;
    if (param && lua_getfield(L, -1, "params") == LUA_TTABLE) {
        int ty = lua_getfield(L, -1, param);
        if (ty == LUA_TSTRING || ty == LUA_TNUMBER) {
            s = plotarg_anchor(L, anchor, -1);
        } else if (ty == LUA_TBOOLEAN) {
            lua_pushstring(L, lua_toboolean(L, -1) ? "true" : "false");
            s = plotarg_anchor(L, anchor, -1);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    if (param)
        lua_pop(L, 1);
    return s;
}

/* Pushes a text key naming the params table at t: "name=tag:value" lines
 * in sorted name order, so groups of runs:group(mx) and runs:group(my)
 * pair up whatever their order. */
static void push_params_key(lua_State *L, int t)
{
    lua_newtable(L);
    int list = lua_gettop(L);
    lua_Integer n = 0;
    for (lua_pushnil(L); lua_next(L, t); lua_pop(L, 1)) {
        int ty = lua_type(L, -1);
        lua_pushvalue(L, -2);
        const char *k = luaL_tolstring(L, -1, NULL);
        lua_pushvalue(L, -3);
        const char *v = luaL_tolstring(L, -1, NULL);
        lua_pushfstring(L, "%s=%s:%s\n", k, ty == LUA_TSTRING ? "s" : ty == LUA_TBOOLEAN ? "b"
                        : lua_isinteger(L, -2) ? "i" : "f", v);
        lua_rawseti(L, list, ++n);
        lua_pop(L, 4);
    }
    push_sorted_join(L, list, n, "");
    lua_replace(L, list);
}

/* A number field of the table on top, or NaN if it is not a number. */
static double num_or_nan(lua_State *L, const char *key)
{
    double v = lua_getfield(L, -1, key) == LUA_TNUMBER ? lua_tonumber(L, -1) : NAN;
    lua_pop(L, 1);
    return v;
}

/* Reads the points of the runs object at 1: every `status` point with
 * both metrics numbers, or (group) the means over the seeds of the groups
 * that have both. Raises for an unknown or non-numeric metric, no points
 * with that status, an unknown label param. */
static void runs_points(lua_State *L, int anchor, const char *mx, const char *my,
                        const char *status, int group, const char *label_param, pareto_pts *o,
                        int *skipped)
{
    lua_pushstring(L, status);
    call_method(L, "points", 1);
    int pts = lua_gettop(L);
    lua_Integer np = (lua_Integer)lua_rawlen(L, pts);
    if (np == 0) {
        call_method(L, "count", 0);
        lua_Integer all = lua_tointeger(L, -1);
        luaL_tolstring(L, 1, NULL);
        plotarg_error(L, 1, "%s holds no '%s' points (%I points in all)", lua_tostring(L, -1),
                      status, all);
    }
    check_metric(L, pts, mx);
    check_metric(L, pts, my);
    if (label_param) {
        lua_Integer have = 0;
        for (lua_Integer i = 1; i <= np && !have; i++) {
            lua_rawgeti(L, pts, i);
            if (lua_getfield(L, -1, "params") == LUA_TTABLE) {
                have = lua_getfield(L, -1, label_param) != LUA_TNIL;
                lua_pop(L, 1);
            }
            lua_pop(L, 2);
        }
        if (!have)
            plotarg_error(L, 4, "labels: no point has a param '%s' (params: %s)", label_param,
                          push_known(L, pts, "params"));
    }
    lua_newtable(L);
    o->src = lua_gettop(L);
    int n = 0;
    if (!group) {
        o->x = plotarg_scratch(L, (size_t)np, sizeof *o->x);
        o->y = plotarg_scratch(L, (size_t)np, sizeof *o->y);
        o->labels = plotarg_scratch(L, (size_t)np, sizeof *o->labels);
        for (lua_Integer i = 1; i <= np; i++) {
            lua_rawgeti(L, pts, i);
            lua_getfield(L, -1, "metrics");
            double x = num_or_nan(L, mx), y = num_or_nan(L, my);
            lua_pop(L, 1);
            if (isfinite(x) && isfinite(y)) {
                o->x[n] = x, o->y[n] = y;
                o->labels[n] = param_label(L, anchor, label_param);
                lua_pushvalue(L, -1);
                lua_rawseti(L, o->src, ++n);
            }
            lua_pop(L, 1);
        }
        *skipped = (int)np - n;
    } else {
        /* runs:group of each metric, paired by params */
        lua_newtable(L);
        lua_pushstring(L, status);
        lua_setfield(L, -2, "status");
        int gopt = lua_gettop(L);
        lua_pushstring(L, mx);
        lua_pushvalue(L, gopt);
        call_method(L, "group", 2);
        int gx = lua_gettop(L);
        lua_pushstring(L, my);
        lua_pushvalue(L, gopt);
        call_method(L, "group", 2);
        int gy = lua_gettop(L);
        lua_newtable(L);   /* key -> group of my */
        int by_key = lua_gettop(L);
        lua_Integer ngy = (lua_Integer)lua_rawlen(L, gy), ngx = (lua_Integer)lua_rawlen(L, gx);
        for (lua_Integer i = 1; i <= ngy; i++) {
            lua_rawgeti(L, gy, i);
            lua_getfield(L, -1, "params");
            push_params_key(L, lua_gettop(L));
            lua_pushvalue(L, -3);
            lua_rawset(L, by_key);
            lua_pop(L, 2);
        }
        o->x = plotarg_scratch(L, (size_t)ngx + 1, sizeof *o->x);
        o->y = plotarg_scratch(L, (size_t)ngx + 1, sizeof *o->y);
        o->xe = plotarg_scratch(L, (size_t)ngx + 1, sizeof *o->xe);
        o->ye = plotarg_scratch(L, (size_t)ngx + 1, sizeof *o->ye);
        o->labels = plotarg_scratch(L, (size_t)ngx + 1, sizeof *o->labels);
        int unpaired = 0;
        for (lua_Integer i = 1; i <= ngx; i++) {
            lua_rawgeti(L, gx, i);
            int g = lua_gettop(L);
            lua_getfield(L, g, "params");
            push_params_key(L, lua_gettop(L));
            if (lua_rawget(L, by_key) != LUA_TTABLE) {
                unpaired++;
                lua_settop(L, g - 1);
                continue;
            }
            int h = lua_gettop(L);
            lua_pushvalue(L, g);
            double x = num_or_nan(L, "mean"), xe = num_or_nan(L, "ci95");
            lua_pushvalue(L, h);
            double y = num_or_nan(L, "mean"), ye = num_or_nan(L, "ci95");
            lua_settop(L, h);
            if (!isfinite(x) || !isfinite(y)) {
                unpaired++;
                lua_settop(L, g - 1);
                continue;
            }
            o->x[n] = x, o->y[n] = y;
            o->xe[n] = isfinite(xe) ? xe : 0, o->ye[n] = isfinite(ye) ? ye : 0;
            /* the entry: {params, count, x = group of mx, y = group of my} */
            lua_createtable(L, 0, 4);
            lua_getfield(L, g, "params");
            lua_setfield(L, -2, "params");
            lua_getfield(L, g, "count");
            lua_setfield(L, -2, "count");
            lua_pushvalue(L, g);
            lua_setfield(L, -2, "x");
            lua_pushvalue(L, h);
            lua_setfield(L, -2, "y");
            o->labels[n] = param_label(L, anchor, label_param);
            lua_rawseti(L, o->src, ++n);
            lua_settop(L, g - 1);
        }
        *skipped = unpaired;
    }
    if (n == 0)
        plotarg_error(L, 1, "no '%s' point has both '%s' and '%s' as finite numbers", status, mx, my);
    o->n = n;
    if (!label_param)
        o->labels = NULL;
}

/* Reads a plain array of points {{x =, y =, label =, xerr =, yerr =}, ...}
 * at 1; raises naming the entry and field that is wrong. */
static void table_points(lua_State *L, int anchor, int labels, pareto_pts *o)
{
    size_t n = lua_rawlen(L, 1);
    if (n == 0)
        plotarg_error(L, 1, "no points (an empty table; give {{x =, y =}, ...} or an nm.runs)");
    if (n > 1000000)
        plotarg_error(L, 1, "%d points (at most 1000000)", (int)n);
    o->x = plotarg_scratch(L, n, sizeof *o->x);
    o->y = plotarg_scratch(L, n, sizeof *o->y);
    o->xe = plotarg_scratch(L, n, sizeof *o->xe);
    o->ye = plotarg_scratch(L, n, sizeof *o->ye);
    o->labels = plotarg_scratch(L, n, sizeof *o->labels);
    int any_err = 0, any_label = 0;
    for (size_t i = 0; i < n; i++) {
        if (lua_rawgeti(L, 1, (lua_Integer)i + 1) != LUA_TTABLE)
            plotarg_error(L, 1, "points[%d] must be a table {x =, y =}, not %s", (int)i + 1,
                          luaL_typename(L, -1));
        static const char *const keys[4] = {"x", "y", "xerr", "yerr"};
        double *dst[4] = {o->x, o->y, o->xe, o->ye};
        for (int k = 0; k < 4; k++) {
            int ty = lua_getfield(L, -1, keys[k]);
            double v = lua_tonumber(L, -1);
            if (ty == LUA_TNIL && k >= 2) {
                v = 0;
            } else if (ty != LUA_TNUMBER) {
                plotarg_error(L, 1, "points[%d].%s must be a number, not %s", (int)i + 1, keys[k],
                              luaL_typename(L, -1));
            } else if (!isfinite(v)) {
                plotarg_error(L, 1, "points[%d].%s is %s", (int)i + 1, keys[k],
                              isnan(v) ? "NaN" : "infinite");
            } else if (k >= 2 && v < 0) {
                plotarg_error(L, 1, "points[%d].%s is negative (a half-width)", (int)i + 1, keys[k]);
            }
            any_err |= k >= 2 && v > 0;
            dst[k][i] = v;
            lua_pop(L, 1);
        }
        int ty = lua_getfield(L, -1, "label");
        if (ty == LUA_TSTRING || ty == LUA_TNUMBER)
            o->labels[i] = plotarg_anchor(L, anchor, -1), any_label = 1;
        else if (ty != LUA_TNIL)
            plotarg_error(L, 1, "points[%d].label must be a string, not %s", (int)i + 1,
                          luaL_typename(L, -1));
        lua_pop(L, 2);
    }
    if (!any_err)
        o->xe = o->ye = NULL;
    if (!labels || !any_label)
        o->labels = NULL;
    o->n = (int)n;
    o->src = 1;
}

typedef struct {
    double x, y;   /* turned into "smaller is better" for both */
    int i;
} front_pt;

static int cmp_front(const void *a, const void *b)
{
    const front_pt *p = a, *q = b;
    if (p->x != q->x)
        return p->x < q->x ? -1 : 1;
    if (p->y != q->y)
        return p->y < q->y ? -1 : 1;
    return (p->i > q->i) - (p->i < q->i);
}

/* The Pareto front as runs:pareto defines it: no other point at least as
 * good in both and better in one; of equal points the first. Fills
 * front[] flags and order[] (the front's indices from the best x to the
 * worst); returns how many. */
static int compute_front(lua_State *L, const pareto_pts *o, int x_min, int y_max,
                         unsigned char *front, int *order)
{
    front_pt *v = plotarg_scratch(L, (size_t)o->n, sizeof *v);
    for (int i = 0; i < o->n; i++)
        v[i] = (front_pt){x_min ? o->x[i] : -o->x[i], y_max ? -o->y[i] : o->y[i], i};
    qsort(v, (size_t)o->n, sizeof *v, cmp_front);
    int m = 0;
    double best = INFINITY;
    for (int j = 0; j < o->n; j++)
        if (v[j].y < best) {
            best = v[j].y;
            front[v[j].i] = 1;
            order[m++] = v[j].i;
        }
    lua_pop(L, 1);
    return m;
}

/* nm.plot.pareto(runs, mx, my [, opts]) -> plot, data
 * nm.plot.pareto(points [, xname, yname] [, opts]) -> plot, data
 * opts: x = 'min' | 'max', y = 'max' | 'min', status = 'ok', group, labels,
 * out (or path), and the figure options. With out, a failed save returns
 * nil, message. data = {points = {{x, y, xerr, yerr, label, front,
 * entry}}, front = {entry, ...} (best x first), skipped = n}. */
static int l_pareto(lua_State *L)
{
    static const char *const xgoals[] = {"min", "max", NULL};
    static const char *const ygoals[] = {"max", "min", NULL};
    int is_runs = luaL_testudata(L, 1, NMLUA_RUNS) != NULL;
    if (!is_runs && !lua_istable(L, 1))
        return plotarg_error(L, 1, "an nm.runs object or a table of points {{x =, y =}, ...} "
                                   "expected, not %s", luaL_typename(L, 1));
    const char *mx = "x", *my = "y";
    int optarg = 2;
    if (is_runs || lua_type(L, 2) == LUA_TSTRING) {
        mx = luaL_checkstring(L, 2);
        my = luaL_checkstring(L, 3);
        optarg = 4;
    }
    if (!lua_isnoneornil(L, optarg))
        luaL_checktype(L, optarg, LUA_TTABLE);
    lua_settop(L, optarg);
    if (optarg != 4) {   /* the options at 4 whichever form was used */
        lua_settop(L, 4);
        lua_rotate(L, 2, 2);
    }
    int has_opts = lua_istable(L, 4);
    lua_newtable(L);
    int anchor = lua_gettop(L);
    plot_opts o;
    if (has_opts) {
        plotarg_opts(L, 4, anchor, &o);
    } else {
        o = plot_defaults();
        o.index_base = 1;
    }
    int x_min = has_opts ? plotarg_choice(L, 4, "x", xgoals) == 0 : 1;
    int y_max = has_opts ? plotarg_choice(L, 4, "y", ygoals) == 0 : 1;
    const char *status = has_opts ? plotarg_string(L, 4, anchor, "status") : NULL;
    int group = has_opts ? plotarg_bool(L, 4, "group", 0) : 0;
    const char *label_param = NULL;
    int labels = 1;
    if (has_opts && lua_getfield(L, 4, "labels") != LUA_TNIL) {
        if (is_runs && lua_type(L, -1) == LUA_TSTRING)
            label_param = plotarg_anchor(L, anchor, -1);
        else if (!is_runs && lua_type(L, -1) == LUA_TBOOLEAN)
            labels = lua_toboolean(L, -1);
        else
            plotarg_error(L, 4, is_runs ? "labels must be the name of a param, not %s"
                                        : "labels must be a boolean (draw each point's label), not %s",
                          luaL_typename(L, -1));
    }
    if (has_opts)
        lua_settop(L, anchor);
    const char *out = NULL;
    for (int k = 0; has_opts && k < 2; k++) {
        static const char *const keys[2] = {"out", "path"};
        if (lua_getfield(L, 4, keys[k]) == LUA_TNIL) {
            lua_pop(L, 1);
            continue;
        }
        if (out)
            plotarg_error(L, 4, "give out or path, not both");
        if (lua_type(L, -1) != LUA_TSTRING)
            plotarg_error(L, 4, "%s must be a file name, not %s", keys[k], luaL_typename(L, -1));
        nmlua_checkpath(L, lua_gettop(L));   /* the sandbox's rule for file names */
        out = plotarg_anchor(L, anchor, -1);
        lua_pop(L, 1);
    }
    if (!is_runs && (group || status))
        plotarg_error(L, 4, "%s needs an nm.runs object (these are plain points)",
                      group ? "group" : "status");
    if (status && strcmp(status, "ok") && strcmp(status, "error") && strcmp(status, "crashed") &&
        strcmp(status, "timeout"))
        plotarg_error(L, 4, "status '%s' is not ok, error, crashed or timeout", status);

    pareto_pts pts = {0};
    int skipped = 0;
    if (is_runs)
        runs_points(L, anchor, mx, my, status ? status : "ok", group, label_param, &pts, &skipped);
    else
        table_points(L, anchor, labels, &pts);
    unsigned char *front = plotarg_scratch(L, (size_t)pts.n, 1);
    int *order = plotarg_scratch(L, (size_t)pts.n, sizeof *order);
    int nf = compute_front(L, &pts, x_min, y_max, front, order);

    const char *sweep = NULL;
    if (is_runs) {
        call_method(L, "info", 0);
        if (lua_getfield(L, -1, "name") == LUA_TSTRING)
            sweep = plotarg_anchor(L, anchor, -1);
        lua_pop(L, 2);
    }
    if (o.title == NULL)
        o.title = lua_pushfstring(L, "%s%s%s against %s%s", sweep ? sweep : "", sweep ? ": " : "",
                                  my, mx, group ? " (means over the seeds, 95 % intervals)" : "");
    if (o.xlabel == NULL)
        o.xlabel = lua_pushfstring(L, "%s (%s is better)", mx, x_min ? "lower" : "higher");
    if (o.ylabel == NULL)
        o.ylabel = lua_pushfstring(L, "%s (%s is better)", my, y_max ? "higher" : "lower");
    if (o.params == NULL)
        o.params = lua_pushfstring(L, "x=%s (%s) y=%s (%s)%s%s%s", mx, x_min ? "min" : "max", my,
                                   y_max ? "max" : "min", is_runs ? " status=" : "",
                                   is_runs ? (status ? status : "ok") : "", group ? " group=seeds" : "");
    lua_pushfstring(L, "Pareto front (%d of %d)", nf, pts.n);
    plot_pareto_data d = {.n = pts.n, .x = pts.x, .y = pts.y, .front = front, .xerr = pts.xe,
                          .yerr = pts.ye, .labels = pts.labels,
                          .points_name = group ? "means \xc2\xb1 95 % interval" : "points",
                          .front_name = lua_tostring(L, -1)};
    plot_ud *u = plotobj_push(L, &o, "pareto");
    int pi = lua_gettop(L);
    plotobj_finish(L, u, plot_pareto(u->p, &d));

    /* the data drawn */
    lua_createtable(L, 0, 3);
    lua_createtable(L, pts.n, 0);
    for (int i = 0; i < pts.n; i++) {
        lua_createtable(L, 0, 7);
        nmlua_set_num(L, "x", pts.x[i]);
        nmlua_set_num(L, "y", pts.y[i]);
        if (pts.xe) {
            nmlua_set_num(L, "xerr", pts.xe[i]);
            nmlua_set_num(L, "yerr", pts.ye[i]);
        }
        if (pts.labels && pts.labels[i])
            nmlua_set_str(L, "label", pts.labels[i]);
        nmlua_set_bool(L, "front", front[i]);
        lua_rawgeti(L, pts.src, i + 1);
        lua_setfield(L, -2, "entry");
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "points");
    lua_createtable(L, nf, 0);
    for (int k = 0; k < nf; k++) {
        lua_rawgeti(L, pts.src, order[k] + 1);
        lua_rawseti(L, -2, k + 1);
    }
    lua_setfield(L, -2, "front");
    nmlua_set_int(L, "skipped", skipped);
    if (out && plot_save(u->p, out) != NM_OK) {
        luaL_pushfail(L);
        lua_pushstring(L, nm_errmsg());
        return 2;
    }
    lua_pushvalue(L, pi);
    lua_insert(L, -2);
    return 2;
}

void plotlua_add_pareto(lua_State *L)
{
    lua_pushcfunction(L, l_pareto);
    lua_setfield(L, -2, "pareto");
}
