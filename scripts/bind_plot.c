/* bind_plot.c - nm.plot: PNG figures from Lua tables and tensors
 * (viz/plot.h), and the plot object.
 *
 * Every chart function takes one options table, checks all of it (lengths
 * of arrays against each other, numbers finite, strings where strings are
 * expected) and raises naming the field that is wrong, then draws the
 * figure in memory and returns a plot object; `p:save(path)` writes it
 * (true, or nil and a message). The figure's pixels are counted against
 * the memory limit while the object lives; `__gc` and `__close` free them.
 * Engine and simulator helpers are in bind_plot_engine.c. */
#include "bind_plot.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* --- the plot object ----------------------------------------------------- */

/* Bytes of the figure's pixels: the requested size, or the default
 * 8 x 5 inches at the dpi (what fitted figures rarely exceed; a table
 * fitted with dpi 0, drawn at 300 dpi, is counted as at 100 here). A
 * rows x cols matrix drawn with `cell` set is counted at its cell size
 * plus 4 x 3 inches of margins. plotobj_finish counts any excess once the
 * real size is known. */
static size_t figure_bytes(const plot_opts *o, int64_t rows, int64_t cols)
{
    double dpi = o->dpi > 0 ? o->dpi : 100;
    double w = o->width ? o->width : 8 * dpi, h = o->height ? o->height : 5 * dpi;
    if (o->cell > 0 && rows > 0 && cols > 0) {
        double c = fmax(1, round(o->cell * dpi / 72));
        if (!o->width)
            w = fmin(PLOT_MAX_SIDE, (double)cols * c + 4 * dpi);
        if (!o->height)
            h = fmin(PLOT_MAX_SIDE, (double)rows * c + 3 * dpi);
    }
    return (size_t)(w * h * 4);
}

/* Pushes a new plot object counting `bytes` against the memory limit. */
static plot_ud *push_counted(lua_State *L, const plot_opts *o, const char *kind, size_t bytes)
{
    plot_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->p = NULL;
    u->counted = 0;
    u->kind = kind;
    luaL_setmetatable(L, NMLUA_PLOT);
    if (nmlua_mem_reserve(L, bytes) != NM_OK)
        luaL_error(L, "%s", nm_errmsg());
    u->counted = bytes;
    u->p = plot_begin(o);
    if (u->p == NULL)
        luaL_error(L, "nm.plot.%s: %s", kind, nm_errmsg());
    return u;
}

plot_ud *plotobj_push_matrix(lua_State *L, const plot_opts *o, const char *kind, int64_t rows,
                             int64_t cols)
{
    return push_counted(L, o, kind, figure_bytes(o, rows, cols));
}

/* Pushes a new plot object and begins its figure; raises with the plot
 * layer's message for bad options. */
plot_ud *plotobj_push(lua_State *L, const plot_opts *o, const char *kind)
{
    return plotobj_push_matrix(L, o, kind, 0, 0);
}

static void free_plot(lua_State *L, plot_ud *u)
{
    if (u->p) {
        plot_end(u->p);
        u->p = NULL;
    }
    if (u->counted) {
        nmlua_mem_release(L, u->counted);
        u->counted = 0;
    }
}

/* After a chart call: on failure free the figure and raise with the plot
 * layer's message (the arrays were checked here already, so this is rare:
 * a ymax below the data, a table too big for its fixed size...). */
int plotobj_finish(lua_State *L, plot_ud *u, int status)
{
    if (status != NM_OK) {
        lua_pushfstring(L, "nm.plot.%s: %s", u->kind, nm_errmsg());
        free_plot(L, u);
        return lua_error(L);
    }
    /* A figure sized to its content (a table, a heatmap with `cell`) may
     * be larger than the estimate: count the rest, or give it up. */
    plot_info in;
    if (plot_get_info(u->p, &in) == NM_OK) {
        size_t real = (size_t)in.width * (size_t)in.height * 4;
        if (real > u->counted) {
            if (nmlua_mem_reserve(L, real - u->counted) != NM_OK) {
                lua_pushfstring(L, "nm.plot.%s: %s", u->kind, nm_errmsg());
                free_plot(L, u);
                return lua_error(L);
            }
            u->counted = real;
        }
    }
    return 1;
}

static plot_ud *check_plot(lua_State *L, int arg)
{
    plot_ud *u = luaL_checkudata(L, arg, NMLUA_PLOT);
    if (u->p == NULL)
        luaL_argerror(L, arg, "plot has been freed");
    return u;
}

/* p:save(path) -> true | nil, message. Nothing is left behind on failure. */
static int p_save(lua_State *L)
{
    plot_ud *u = check_plot(L, 1);
    const char *path = nmlua_checkpath(L, 2);
    if (plot_save(u->p, path) != NM_OK) {
        luaL_pushfail(L);
        lua_pushstring(L, nm_errmsg());
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* p:info() -> {width=, height=, dpi=, data = {x=, y=, w=, h=}, cell_w=,
 * cell_h=, x_labels=, x_labels_drawn=, x_label_angle=, x_label_pt=}: what
 * the chart did with its space (1-based x/y of the data area's top left). */
static int p_info(lua_State *L)
{
    plot_ud *u = check_plot(L, 1);
    plot_info in;
    if (plot_get_info(u->p, &in) != NM_OK)
        return luaL_error(L, "%s", nm_errmsg());
    lua_createtable(L, 0, 10);
    lua_pushinteger(L, in.width);
    lua_setfield(L, -2, "width");
    lua_pushinteger(L, in.height);
    lua_setfield(L, -2, "height");
    lua_pushnumber(L, in.dpi);
    lua_setfield(L, -2, "dpi");
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, in.data.x + 1);
    lua_setfield(L, -2, "x");
    lua_pushinteger(L, in.data.y + 1);
    lua_setfield(L, -2, "y");
    lua_pushinteger(L, in.data.w);
    lua_setfield(L, -2, "w");
    lua_pushinteger(L, in.data.h);
    lua_setfield(L, -2, "h");
    lua_setfield(L, -2, "data");
    if (in.cell_w > 0) {
        lua_pushinteger(L, in.cell_w);
        lua_setfield(L, -2, "cell_w");
        lua_pushinteger(L, in.cell_h);
        lua_setfield(L, -2, "cell_h");
    }
    if (in.x_labels > 0) {
        lua_pushinteger(L, in.x_labels);
        lua_setfield(L, -2, "x_labels");
        lua_pushinteger(L, in.x_labels_drawn);
        lua_setfield(L, -2, "x_labels_drawn");
        lua_pushnumber(L, in.x_label_angle);
        lua_setfield(L, -2, "x_label_angle");
        lua_pushnumber(L, in.x_label_pt);
        lua_setfield(L, -2, "x_label_pt");
    }
    return 1;
}

/* p:free(), __gc, __close: frees the figure now; freeing twice is harmless. */
static int p_free(lua_State *L)
{
    free_plot(L, luaL_checkudata(L, 1, NMLUA_PLOT));
    return 0;
}

static int p_tostring(lua_State *L)
{
    plot_ud *u = luaL_checkudata(L, 1, NMLUA_PLOT);
    plot_rect r;
    if (u->p == NULL)
        lua_pushfstring(L, "nm.plot %s (freed)", u->kind);
    else if (plot_data_rect(u->p, &r) == NM_OK)
        lua_pushfstring(L, "nm.plot %s", u->kind);
    else
        lua_pushfstring(L, "nm.plot %s (empty)", u->kind);
    return 1;
}

/* --- charts -------------------------------------------------------------- */

/* Every chart's start: checks the options table at 1, pushes the anchor
 * table for its strings (returns its index) and reads the figure options. */
static int chart_begin(lua_State *L, plot_opts *o)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_newtable(L);
    int anchor = lua_gettop(L);
    plotarg_opts(L, 1, anchor, o);
    return anchor;
}

/* Shared by bars and stacked: groups, series, labels, value_labels, ymax. */
static int bars_common(lua_State *L, int stacked)
{
    const char *kind = stacked ? "stacked" : "bars";
    plot_opts o;
    int anchor = chart_begin(L, &o);

    plot_bar_data d = {0};
    size_t ng = plotarg_array(L, 1, "groups", "groups");
    const char **groups = plotarg_scratch(L, ng, sizeof *groups);
    plotarg_strings(L, -2, anchor, ng, groups, "groups");
    d.n_groups = (int)ng;
    d.groups = groups;
    const char **names, **labels;
    double *values;
    d.n_series = plotarg_series(L, anchor, &d.n_groups, "groups", &names, &values,
                             stacked ? NULL : &labels);
    d.series = names;
    d.values = values;
    d.labels = stacked ? NULL : labels;
    if (stacked && lua_getfield(L, 1, "labels") != LUA_TNIL) {
        if (!lua_istable(L, -1) || lua_rawlen(L, -1) != ng)
            plotarg_error(L, 1, "labels must be a table of %d strings (one per group)", (int)ng);
        const char **sl = plotarg_scratch(L, ng, sizeof *sl);
        plotarg_strings(L, -2, anchor, ng, sl, "labels");
        d.labels = sl;
    }
    d.value_labels = plotarg_bool(L, 1, "value_labels", 1);
    d.ymax = plotarg_number(L, 1, "ymax", 0);
    if (stacked)
        for (int s = 0; s < d.n_series; s++)
            for (int g = 0; g < d.n_groups; g++)
                if (values[s * d.n_groups + g] < 0)
                    plotarg_error(L, 1, "series[%d].values[%d] is negative (stacked bars add up)",
                              s + 1, g + 1);

    plot_ud *u = plotobj_push(L, &o, kind);
    return plotobj_finish(L, u, stacked ? plot_stacked(u->p, &d) : plot_bars(u->p, &d));
}

/* nm.plot.bars{groups=, series={{name=, values=, labels=}...}, ...} */
static int l_bars(lua_State *L) { return bars_common(L, 0); }
/* nm.plot.stacked{groups=, series=, labels=, ...} */
static int l_stacked(lua_State *L) { return bars_common(L, 1); }

/* nm.plot.lines{x=, series=, markers=true, ...}; x defaults to 1..n. */
static int l_lines(lua_State *L)
{
    plot_opts o;
    int anchor = chart_begin(L, &o);

    plot_line_data d = {0};
    double *x = NULL;
    if (lua_getfield(L, 1, "x") != LUA_TNIL) {
        size_t nx = plotarg_array(L, 1, "x", "x");
        x = plotarg_scratch(L, nx, sizeof *x);
        plotarg_numbers(L, -2, nx, x, "x");
        d.n_points = (int)nx;
    }
    const char **names;
    double *y;
    d.n_series = plotarg_series(L, anchor, &d.n_points, "x", &names, &y, NULL);
    if (x == NULL) {
        x = plotarg_scratch(L, (size_t)d.n_points, sizeof *x);
        for (int i = 0; i < d.n_points; i++)
            x[i] = i + 1;
    }
    d.x = x;
    d.series = names;
    d.y = y;
    d.markers = plotarg_bool(L, 1, "markers", 1);
    plot_ud *u = plotobj_push(L, &o, "lines");
    return plotobj_finish(L, u, plot_lines(u->p, &d));
}

/* nm.plot.table{header=, rows={{...}, ...}, ...}: cells are strings or
 * numbers (written as tostring writes them). */
static int l_table(lua_State *L)
{
    plot_opts o;
    int anchor = chart_begin(L, &o);

    size_t nc = plotarg_array(L, 1, "header", "header");
    int ht = lua_gettop(L);
    size_t nr = plotarg_array(L, 1, "rows", "rows");
    int rt = lua_gettop(L);
    if (nr >= 100000 || nc >= 1000)
        plotarg_error(L, 1, "table of %d rows and %d columns is too big for a figure",
                  (int)nr, (int)nc);
    const char **cells = plotarg_scratch(L, (nr + 1) * nc, sizeof *cells);
    plotarg_strings(L, ht, anchor, nc, cells, "header");
    char what[48];
    for (size_t r = 0; r < nr; r++) {
        snprintf(what, sizeof what, "rows[%d]", (int)r + 1);
        if (lua_rawgeti(L, rt, (lua_Integer)r + 1) != LUA_TTABLE)
            plotarg_error(L, 1, "%s must be a table, not %s", what, luaL_typename(L, -1));
        if (lua_rawlen(L, -1) != nc)
            plotarg_error(L, 1, "%s has %d cells but header has %d", what,
                      (int)lua_rawlen(L, -1), (int)nc);
        plotarg_strings(L, -1, anchor, nc, cells + (r + 1) * nc, what);
        lua_pop(L, 1);
    }
    plot_ud *u = plotobj_push(L, &o, "table");
    return plotobj_finish(L, u, plot_table(u->p, (int)nr + 1, (int)nc, cells));
}

/* A matrix from field `key`: a tensor (its first dimension as rows, the
 * rest flattened as columns: the im2col view of a weight) or a 2-D table
 * of numbers (booleans too when `flags`). Fills rows/cols on first use,
 * else checks them. Returns a scratch buffer of rows*cols doubles, or NULL
 * if the field is absent. */
static double *read_matrix(lua_State *L, const char *key, int64_t *rows, int64_t *cols,
                           int flags)
{
    int t = lua_getfield(L, 1, key);
    if (t == LUA_TNIL) {
        lua_pop(L, 1);
        return NULL;
    }
    int64_t r = 0, c = 0;
    double *out = NULL;
    if (t == LUA_TUSERDATA) {
        nm_tensor *ts = nmlua_check_tensor(L, -1);
        r = ts->shape[0];
        c = ts->numel / (r ? r : 1);
        if (*rows && (r != *rows || c != *cols))
            plotarg_error(L, 1, "%s is %I x %I but values is %I x %I", key, (lua_Integer)r,
                      (lua_Integer)c, (lua_Integer)*rows, (lua_Integer)*cols);
        if (ts->numel == 0)
            plotarg_error(L, 1, "%s is empty", key);
        out = plotarg_scratch(L, (size_t)ts->numel, sizeof *out);
        for (int64_t i = 0; i < ts->numel; i++) {
            out[i] = nm_tensor_getd(ts, i);
            if (!isfinite(out[i]))
                plotarg_error(L, 1, "%s[%I][%I] is %s", key, (lua_Integer)(i / c + 1),
                          (lua_Integer)(i % c + 1), isnan(out[i]) ? "NaN" : "infinite");
        }
    } else if (t == LUA_TTABLE) {
        int mt = lua_gettop(L);
        r = (int64_t)lua_rawlen(L, mt);
        if (r == 0)
            plotarg_error(L, 1, "%s is empty", key);
        if (lua_rawgeti(L, mt, 1) != LUA_TTABLE)
            plotarg_error(L, 1, "%s must be a 2-D table (rows of numbers) or a tensor", key);
        c = (int64_t)lua_rawlen(L, -1);
        lua_pop(L, 1);
        if (c == 0)
            plotarg_error(L, 1, "%s[1] is empty", key);
        if (*rows && (r != *rows || c != *cols))
            plotarg_error(L, 1, "%s is %I x %I but values is %I x %I", key, (lua_Integer)r,
                      (lua_Integer)c, (lua_Integer)*rows, (lua_Integer)*cols);
        if ((uint64_t)r * (uint64_t)c > ((uint64_t)1 << 31))
            plotarg_error(L, 1, "%s is too big for a table; pass a tensor", key);
        out = plotarg_scratch(L, (size_t)(r * c), sizeof *out);
        for (int64_t i = 0; i < r; i++) {
            if (lua_rawgeti(L, mt, i + 1) != LUA_TTABLE)
                plotarg_error(L, 1, "%s[%I] must be a table", key, (lua_Integer)(i + 1));
            if ((int64_t)lua_rawlen(L, -1) != c)
                plotarg_error(L, 1, "%s[%I] has %I entries but %s[1] has %I", key,
                          (lua_Integer)(i + 1), (lua_Integer)lua_rawlen(L, -1), key,
                          (lua_Integer)c);
            for (int64_t j = 0; j < c; j++) {
                int et = lua_rawgeti(L, -1, j + 1);
                double v;
                if (et == LUA_TNUMBER)
                    v = lua_tonumber(L, -1);
                else if (flags && et == LUA_TBOOLEAN)
                    v = lua_toboolean(L, -1);
                else
                    return plotarg_error(L, 1, "%s[%I][%I] must be a number, not %s", key,
                                     (lua_Integer)(i + 1), (lua_Integer)(j + 1),
                                     luaL_typename(L, -1)), NULL;
                if (!isfinite(v))
                    plotarg_error(L, 1, "%s[%I][%I] is %s", key, (lua_Integer)(i + 1),
                              (lua_Integer)(j + 1), isnan(v) ? "NaN" : "infinite");
                out[i * c + j] = v;
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
    } else {
        plotarg_error(L, 1, "%s must be a tensor or a 2-D table, not %s", key, luaL_typename(L, -1));
    }
    *rows = r;
    *cols = c;
    return out;
}

/* nm.plot.heatmap{values=, mask=, rows_removed=, group_m=, ramp=, vmin=,
 * vmax=, value_label=, ...}: values and/or mask. */
static int l_heatmap(lua_State *L)
{
    static const char *const ramps[] = {"viridis", "cividis", NULL};
    plot_opts o;
    int anchor = chart_begin(L, &o);

    plot_heat_data d = {0};
    d.values = read_matrix(L, "values", &d.rows, &d.cols, 0);
    double *m = read_matrix(L, "mask", &d.rows, &d.cols, 1);
    if (d.values == NULL && m == NULL)
        plotarg_error(L, 1, "values or mask is required");
    if (m) {
        uint8_t *mask = plotarg_scratch(L, (size_t)(d.rows * d.cols), 1);
        for (int64_t i = 0; i < d.rows * d.cols; i++)
            mask[i] = m[i] != 0;
        d.mask = mask;
    }
    if (lua_getfield(L, 1, "rows_removed") != LUA_TNIL) {
        if (!lua_istable(L, -1) || (int64_t)lua_rawlen(L, -1) != d.rows)
            plotarg_error(L, 1, "rows_removed must be a table of %I booleans (one per row)",
                      (lua_Integer)d.rows);
        uint8_t *rr = plotarg_scratch(L, (size_t)d.rows, 1);
        for (int64_t i = 0; i < d.rows; i++) {
            int et = lua_rawgeti(L, -2, i + 1);
            if (et == LUA_TBOOLEAN)
                rr[i] = (uint8_t)lua_toboolean(L, -1);
            else if (et == LUA_TNUMBER)
                rr[i] = lua_tonumber(L, -1) != 0;
            else
                plotarg_error(L, 1, "rows_removed[%I] must be a boolean", (lua_Integer)(i + 1));
            lua_pop(L, 1);
        }
        d.rows_removed = rr;
    }
    d.group_m = plotarg_size(L, 1, "group_m", 1 << 20);
    d.ramp = plotarg_choice(L, 1, "ramp", ramps) ? PLOT_RAMP_CIVIDIS : PLOT_RAMP_VIRIDIS;
    d.vmin = plotarg_number(L, 1, "vmin", 0);
    d.vmax = plotarg_number(L, 1, "vmax", 0);
    if ((d.vmin != 0 || d.vmax != 0) && !(d.vmin < d.vmax))
        plotarg_error(L, 1, "vmin (%f) must be below vmax (%f)", d.vmin, d.vmax);
    d.value_label = plotarg_string(L, 1, anchor, "value_label");
    plot_ud *u = plotobj_push_matrix(L, &o, "heatmap", d.rows, d.cols);
    return plotobj_finish(L, u, plot_heatmap(u->p, &d));
}

/* nm.plot.stack({plot, ...} [, opts]): the figures stacked top to bottom,
 * left-aligned, as panels of one figure (see plot_stack). The panels stay
 * usable; the new figure is counted at the panels' total size. */
static int l_stack(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    plot_opts o;
    lua_settop(L, 2);
    lua_newtable(L);
    int anchor = lua_gettop(L);
    if (lua_isnil(L, 2)) {
        o = plot_defaults();
        o.index_base = 1;
    } else {
        luaL_checktype(L, 2, LUA_TTABLE);
        plotarg_opts(L, 2, anchor, &o);
    }
    size_t n = lua_rawlen(L, 1);
    if (n == 0 || n > 64)
        plotarg_error(L, 1, "%d panels (1..64 allowed)", (int)n);
    const plot **panels = plotarg_scratch(L, n, sizeof *panels);
    double w = 0, h = 0;
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, 1, (lua_Integer)i + 1);
        plot_ud *pu = luaL_testudata(L, -1, NMLUA_PLOT);
        if (!pu)
            plotarg_error(L, 1, "panel %d must be a plot, not %s", (int)i + 1,
                          luaL_typename(L, -1));
        plot_info in;
        if (!pu->p || plot_get_info(pu->p, &in) != NM_OK)
            plotarg_error(L, 1, "panel %d has been freed", (int)i + 1);
        panels[i] = pu->p;
        w = fmax(w, in.width);
        h += in.height + in.dpi / 18;   /* and the 4 pt gap */
        if (i == 0 && o.title)
            h += in.dpi * 0.6;          /* room for a title */
        lua_pop(L, 1);
    }
    plot_ud *u = push_counted(L, &o, "stack", (size_t)(w * h * 4));
    return plotobj_finish(L, u, plot_stack(u->p, panels, (int)n));
}

void nmlua_open_plot(lua_State *L, int nm)
{
    static const luaL_Reg methods[] = {
        {"save", p_save}, {"free", p_free}, {"info", p_info}, {NULL, NULL},
    };
    static const luaL_Reg meta[] = {
        {"__gc", p_free}, {"__close", p_free}, {"__tostring", p_tostring}, {NULL, NULL},
    };
    static const luaL_Reg fns[] = {
        {"bars", l_bars},       {"stacked", l_stacked},
        {"heatmap", l_heatmap}, {"lines", l_lines},
        {"table", l_table},     {"stack", l_stack},
        {NULL, NULL},
    };
    nmlua_newmetatable(L, NMLUA_PLOT);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, fns);
    plotlua_add_engine_helpers(L);
    plotlua_add_pareto(L);
    lua_setfield(L, nm, "plot");
}
