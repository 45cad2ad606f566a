/* bind_plot.c - nm.plot: PNG figures from Lua tables, tensors and engine
 * results (viz/plot.h).
 *
 * Every chart function takes one options table, checks all of it (lengths
 * of arrays against each other, numbers finite, strings where strings are
 * expected) and raises naming the field that is wrong, then draws the
 * figure in memory and returns a plot object; `p:save(path)` writes it
 * (true, or nil and a message). Arrays read from Lua go into userdata
 * buffers on the stack, and strings are anchored in a table there, so a
 * raise part-way leaks nothing and no pointer outlives its string. The
 * figure's pixels are counted against the memory limit while the object
 * lives; `__gc` and `__close` free them. */
#include "nmlua.h"
#include "plot.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NMLUA_PLOT "nm.plot"

typedef struct {
    plot *p;            /* NULL once freed */
    size_t counted;     /* bytes counted against the memory limit */
    const char *kind;   /* static string: "bars", "heatmap", ... */
} plot_ud;

/* Raises "bad argument #arg to 'fn' (<formatted>)". */
static int arg_error(lua_State *L, int arg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const char *msg = lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    return luaL_argerror(L, arg, msg);
}

/* A zeroed scratch buffer of n elements of size `size`, owned by a userdata
 * left on the stack (collected after the call, even if it raises). */
static void *scratch(lua_State *L, size_t n, size_t size)
{
    if (n > 0 && size > ((size_t)-1 / 2) / n)
        luaL_error(L, "not enough memory");
    size_t bytes = n * size;
    void *b = lua_newuserdatauv(L, bytes ? bytes : 1, 0);
    memset(b, 0, bytes ? bytes : 1);
    return b;
}

/* The string at stack index idx (a string or a number), kept alive by
 * appending it to the anchor table at index `anchor`. */
static const char *anchor_string(lua_State *L, int anchor, int idx)
{
    idx = lua_absindex(L, idx);
    lua_pushvalue(L, idx);
    if (lua_type(L, -1) == LUA_TNUMBER)
        lua_tostring(L, -1);  /* converts the copy, not the caller's value */
    const char *s = lua_tostring(L, -1);
    lua_rawseti(L, anchor, (lua_Integer)lua_rawlen(L, anchor) + 1);
    return s;
}

/* Field `key` of the table at arg: NULL if absent, else a string (numbers
 * are converted); raises for other types. */
static const char *opt_string(lua_State *L, int arg, int anchor, const char *key)
{
    int t = lua_getfield(L, arg, key);
    const char *s = NULL;
    if (t == LUA_TSTRING || t == LUA_TNUMBER)
        s = anchor_string(L, anchor, -1);
    else if (t != LUA_TNIL)
        arg_error(L, arg, "%s must be a string, not %s", key, luaL_typename(L, -1));
    lua_pop(L, 1);
    return s;
}

/* Field `key` as a finite number, or `def` if absent. */
static double opt_number(lua_State *L, int arg, const char *key, double def)
{
    int t = lua_getfield(L, arg, key);
    double v = def;
    if (t == LUA_TNUMBER) {
        v = lua_tonumber(L, -1);
        if (!isfinite(v))
            arg_error(L, arg, "%s must be a finite number", key);
    } else if (t != LUA_TNIL) {
        arg_error(L, arg, "%s must be a number, not %s", key, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return v;
}

/* Field `key` as a non-negative integer below `max`, or 0 if absent. */
static int opt_size(lua_State *L, int arg, const char *key, int max)
{
    int t = lua_getfield(L, arg, key);
    lua_Integer v = 0;
    if (t != LUA_TNIL) {
        int isint = 0;
        v = lua_tointegerx(L, -1, &isint);
        if (!isint || v < 0 || v > max)
            arg_error(L, arg, "%s must be an integer in 0..%d", key, max);
    }
    lua_pop(L, 1);
    return (int)v;
}

/* Field `key` as a boolean, `def` if absent. */
static int opt_bool(lua_State *L, int arg, const char *key, int def)
{
    int t = lua_getfield(L, arg, key);
    int v = def;
    if (t == LUA_TBOOLEAN)
        v = lua_toboolean(L, -1);
    else if (t != LUA_TNIL)
        arg_error(L, arg, "%s must be a boolean, not %s", key, luaL_typename(L, -1));
    lua_pop(L, 1);
    return v;
}

/* Field `key`: one of `names` (NULL-terminated); its index, or 0 if absent. */
static int opt_choice(lua_State *L, int arg, const char *key, const char *const names[])
{
    int t = lua_getfield(L, arg, key);
    int v = 0;
    if (t != LUA_TNIL) {
        const char *s = lua_tostring(L, -1);
        for (v = 0; names[v]; v++)
            if (s && t == LUA_TSTRING && strcmp(s, names[v]) == 0)
                break;
        if (names[v] == NULL)
            arg_error(L, arg, "%s must be '%s' or '%s'", key, names[0], names[1]);
    }
    lua_pop(L, 1);
    return v;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The `params` option: a string, or a table {key = value} written as
 * "key=value key=value" with the keys sorted (the same text every run). */
static const char *opt_params(lua_State *L, int arg, int anchor)
{
    int t = lua_getfield(L, arg, "params");
    if (t != LUA_TTABLE) {
        lua_pop(L, 1);
        return opt_string(L, arg, anchor, "params");
    }
    int tbl = lua_gettop(L);
    size_t n = 0;
    for (lua_pushnil(L); lua_next(L, tbl); lua_pop(L, 1)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            arg_error(L, arg, "params keys must be strings");
        int vt = lua_type(L, -1);
        if (vt != LUA_TSTRING && vt != LUA_TNUMBER && vt != LUA_TBOOLEAN)
            arg_error(L, arg, "params.%s must be a string, number or boolean",
                      lua_tostring(L, -2));
        n++;
    }
    const char **keys = scratch(L, n, sizeof *keys);
    size_t k = 0;
    for (lua_pushnil(L); lua_next(L, tbl); lua_pop(L, 1))
        keys[k++] = lua_tostring(L, -2);   /* keys stay alive in the table */
    qsort(keys, n, sizeof *keys, cmp_str);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (k = 0; k < n; k++) {
        if (k)
            luaL_addchar(&b, ' ');
        luaL_addstring(&b, keys[k]);
        luaL_addchar(&b, '=');
        lua_getfield(L, tbl, keys[k]);
        luaL_tolstring(L, -1, NULL);
        lua_remove(L, -2);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    const char *s = anchor_string(L, anchor, -1);
    lua_settop(L, tbl - 1);
    return s;
}

/* The figure options every chart takes (see docs/lua-api.md). */
static void read_opts(lua_State *L, int arg, int anchor, plot_opts *o)
{
    static const char *const themes[] = {"light", "dark", NULL};
    *o = plot_defaults();
    o->width = opt_size(L, arg, "width", PLOT_MAX_SIDE);
    o->height = opt_size(L, arg, "height", PLOT_MAX_SIDE);
    o->dpi = opt_number(L, arg, "dpi", 0);
    o->theme = opt_choice(L, arg, "theme", themes) ? PLOT_THEME_DARK : PLOT_THEME_LIGHT;
    o->title = opt_string(L, arg, anchor, "title");
    o->xlabel = opt_string(L, arg, anchor, "xlabel");
    o->ylabel = opt_string(L, arg, anchor, "ylabel");
    o->params = opt_params(L, arg, anchor);
}

/* Bytes of the figure's pixels: the requested size, or the default
 * 8 x 5 inches at the dpi (what tables sized to fit rarely exceed). */
static size_t figure_bytes(const plot_opts *o)
{
    double dpi = o->dpi > 0 ? o->dpi : 100;
    double w = o->width ? o->width : 8 * dpi, h = o->height ? o->height : 5 * dpi;
    return (size_t)(w * h * 4);
}

/* Pushes a new plot object and begins its figure; raises with the plot
 * layer's message for bad options. */
static plot_ud *push_plot(lua_State *L, const plot_opts *o, const char *kind)
{
    plot_ud *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->p = NULL;
    u->counted = 0;
    u->kind = kind;
    luaL_setmetatable(L, NMLUA_PLOT);
    size_t bytes = figure_bytes(o);
    if (nmlua_mem_reserve(L, bytes) != NM_OK)
        luaL_error(L, "%s", nm_errmsg());
    u->counted = bytes;
    u->p = plot_begin(o);
    if (u->p == NULL)
        luaL_error(L, "nm.plot.%s: %s", kind, nm_errmsg());
    return u;
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
static int finish_plot(lua_State *L, plot_ud *u, int status)
{
    if (status != NM_OK) {
        lua_pushfstring(L, "nm.plot.%s: %s", u->kind, nm_errmsg());
        free_plot(L, u);
        return lua_error(L);
    }
    return 1;
}

/* --- reading arrays ------------------------------------------------------ */

/* Length of the array in field `key` of the table at arg, pushed on the
 * stack; raises if missing, not a table or empty. */
static size_t get_array(lua_State *L, int arg, const char *key, const char *what)
{
    if (lua_getfield(L, arg, key) != LUA_TTABLE)
        arg_error(L, 1, "%s must be a table, not %s", what, luaL_typename(L, -1));
    size_t n = lua_rawlen(L, -1);
    if (n == 0)
        arg_error(L, 1, "%s is empty", what);
    return n;
}

/* Reads n finite numbers from the array at stack index t into out;
 * raises naming `what[i]` for a non-number, NaN or infinity. */
static void read_numbers(lua_State *L, int t, size_t n, double *out, const char *what)
{
    t = lua_absindex(L, t);
    for (size_t i = 0; i < n; i++) {
        int ty = lua_rawgeti(L, t, (lua_Integer)i + 1);
        if (ty != LUA_TNUMBER)
            arg_error(L, 1, "%s[%d] must be a number, not %s", what, (int)i + 1,
                      luaL_typename(L, -1));
        double v = lua_tonumber(L, -1);
        if (isnan(v))
            arg_error(L, 1, "%s[%d] is NaN", what, (int)i + 1);
        if (isinf(v))
            arg_error(L, 1, "%s[%d] is infinite", what, (int)i + 1);
        out[i] = v;
        lua_pop(L, 1);
    }
}

/* Reads n strings (or numbers) from the array at stack index t. */
static void read_strings(lua_State *L, int t, int anchor, size_t n, const char **out,
                         const char *what)
{
    t = lua_absindex(L, t);
    for (size_t i = 0; i < n; i++) {
        int ty = lua_rawgeti(L, t, (lua_Integer)i + 1);
        if (ty != LUA_TSTRING && ty != LUA_TNUMBER)
            arg_error(L, 1, "%s[%d] must be a string, not %s", what, (int)i + 1,
                      luaL_typename(L, -1));
        out[i] = anchor_string(L, anchor, -1);
        lua_pop(L, 1);
    }
}

/* The `series` option: an array of {name =, values = {...}} whose values
 * all have n_points entries (`against` names what sets that length).
 * Fills names and values (series-major). With n_points 0 the first series
 * sets it. Returns the number of series; leaves its buffers on the stack. */
static int read_series(lua_State *L, int anchor, int *n_points, const char *against,
                       const char ***names_out, double **values_out,
                       const char ***labels_out)
{
    size_t ns = get_array(L, 1, "series", "series");
    int st = lua_gettop(L);
    if (ns > PLOT_MAX_SERIES)
        arg_error(L, 1, "series has %d entries; at most %d can be told apart",
                  (int)ns, PLOT_MAX_SERIES);
    if (*n_points == 0) {
        lua_rawgeti(L, st, 1);
        if (lua_type(L, -1) == LUA_TTABLE && lua_getfield(L, -1, "values") == LUA_TTABLE)
            *n_points = (int)lua_rawlen(L, -1);
        lua_settop(L, st);
    }
    int np = *n_points;
    const char **names = scratch(L, ns, sizeof *names);
    double *values = scratch(L, ns * (size_t)(np ? np : 1), sizeof *values);
    const char **labels = labels_out ? scratch(L, ns * (size_t)(np ? np : 1), sizeof *labels) : NULL;
    int any_labels = 0;
    char what[64];
    for (size_t s = 0; s < ns; s++) {
        if (lua_rawgeti(L, st, (lua_Integer)s + 1) != LUA_TTABLE)
            arg_error(L, 1, "series[%d] must be a table {name=, values=}", (int)s + 1);
        int e = lua_gettop(L);
        int t = lua_getfield(L, e, "name");
        if (t == LUA_TSTRING || t == LUA_TNUMBER)
            names[s] = anchor_string(L, anchor, -1);
        else if (t != LUA_TNIL || ns > 1)
            arg_error(L, 1, "series[%d].name must be a string", (int)s + 1);
        lua_pop(L, 1);
        snprintf(what, sizeof what, "series[%d].values", (int)s + 1);
        if (lua_getfield(L, e, "values") != LUA_TTABLE)
            arg_error(L, 1, "%s must be a table, not %s", what, luaL_typename(L, -1));
        size_t nv = lua_rawlen(L, -1);
        if (nv == 0)
            arg_error(L, 1, "%s is empty", what);
        if (nv != (size_t)np)
            arg_error(L, 1, "%s has %d values but %s has %d", what, (int)nv, against, np);
        read_numbers(L, -1, nv, values + s * (size_t)np, what);
        lua_pop(L, 1);
        if (labels && lua_getfield(L, e, "labels") != LUA_TNIL) {
            snprintf(what, sizeof what, "series[%d].labels", (int)s + 1);
            if (!lua_istable(L, -1) || lua_rawlen(L, -1) != (size_t)np)
                arg_error(L, 1, "%s must be a table of %d strings (one per value)", what, np);
            read_strings(L, -1, anchor, (size_t)np, labels + s * (size_t)np, what);
            any_labels = 1;
        }
        lua_settop(L, e - 1);
    }
    if (any_labels)   /* series without labels print their values */
        for (size_t s = 0; s < ns; s++)
            for (int g = 0; g < np; g++)
                if (labels[s * (size_t)np + g] == NULL) {
                    char buf[32];
                    snprintf(buf, sizeof buf, "%.3g", values[s * (size_t)np + g]);
                    lua_pushstring(L, buf);
                    labels[s * (size_t)np + g] = anchor_string(L, anchor, -1);
                    lua_pop(L, 1);
                }
    *names_out = ns > 1 || names[0] ? names : NULL;
    *values_out = values;
    if (labels_out)
        *labels_out = any_labels ? labels : NULL;
    return (int)ns;
}

/* --- charts -------------------------------------------------------------- */

/* Shared by bars and stacked: groups, series, labels, value_labels, ymax. */
static int bars_common(lua_State *L, int stacked)
{
    const char *kind = stacked ? "stacked" : "bars";
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_newtable(L);
    int anchor = lua_gettop(L);
    plot_opts o;
    read_opts(L, 1, anchor, &o);

    plot_bar_data d = {0};
    size_t ng = get_array(L, 1, "groups", "groups");
    const char **groups = scratch(L, ng, sizeof *groups);
    read_strings(L, -2, anchor, ng, groups, "groups");
    d.n_groups = (int)ng;
    d.groups = groups;
    const char **names, **labels;
    double *values;
    d.n_series = read_series(L, anchor, &d.n_groups, "groups", &names, &values,
                             stacked ? NULL : &labels);
    d.series = names;
    d.values = values;
    d.labels = stacked ? NULL : labels;
    if (stacked && lua_getfield(L, 1, "labels") != LUA_TNIL) {
        if (!lua_istable(L, -1) || lua_rawlen(L, -1) != ng)
            arg_error(L, 1, "labels must be a table of %d strings (one per group)", (int)ng);
        const char **sl = scratch(L, ng, sizeof *sl);
        read_strings(L, -2, anchor, ng, sl, "labels");
        d.labels = sl;
    }
    d.value_labels = opt_bool(L, 1, "value_labels", 1);
    d.ymax = opt_number(L, 1, "ymax", 0);
    if (stacked)
        for (int s = 0; s < d.n_series; s++)
            for (int g = 0; g < d.n_groups; g++)
                if (values[s * d.n_groups + g] < 0)
                    arg_error(L, 1, "series[%d].values[%d] is negative (stacked bars add up)",
                              s + 1, g + 1);

    plot_ud *u = push_plot(L, &o, kind);
    return finish_plot(L, u, stacked ? plot_stacked(u->p, &d) : plot_bars(u->p, &d));
}

/* nm.plot.bars{groups=, series={{name=, values=, labels=}...}, ...} */
static int l_bars(lua_State *L) { return bars_common(L, 0); }
/* nm.plot.stacked{groups=, series=, labels=, ...} */
static int l_stacked(lua_State *L) { return bars_common(L, 1); }

/* nm.plot.lines{x=, series=, markers=true, ...}; x defaults to 1..n. */
static int l_lines(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_newtable(L);
    int anchor = lua_gettop(L);
    plot_opts o;
    read_opts(L, 1, anchor, &o);

    plot_line_data d = {0};
    double *x = NULL;
    if (lua_getfield(L, 1, "x") != LUA_TNIL) {
        size_t nx = get_array(L, 1, "x", "x");
        x = scratch(L, nx, sizeof *x);
        read_numbers(L, -2, nx, x, "x");
        d.n_points = (int)nx;
    }
    const char **names;
    double *y;
    d.n_series = read_series(L, anchor, &d.n_points, "x", &names, &y, NULL);
    if (x == NULL) {
        x = scratch(L, (size_t)d.n_points, sizeof *x);
        for (int i = 0; i < d.n_points; i++)
            x[i] = i + 1;
    }
    d.x = x;
    d.series = names;
    d.y = y;
    d.markers = opt_bool(L, 1, "markers", 1);
    plot_ud *u = push_plot(L, &o, "lines");
    return finish_plot(L, u, plot_lines(u->p, &d));
}

/* nm.plot.table{header=, rows={{...}, ...}, ...}: cells are strings or
 * numbers (written as tostring writes them). */
static int l_table(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_newtable(L);
    int anchor = lua_gettop(L);
    plot_opts o;
    read_opts(L, 1, anchor, &o);

    size_t nc = get_array(L, 1, "header", "header");
    int ht = lua_gettop(L);
    size_t nr = get_array(L, 1, "rows", "rows");
    int rt = lua_gettop(L);
    if (nr >= 100000 || nc >= 1000)
        arg_error(L, 1, "table of %d rows and %d columns is too big for a figure",
                  (int)nr, (int)nc);
    const char **cells = scratch(L, (nr + 1) * nc, sizeof *cells);
    read_strings(L, ht, anchor, nc, cells, "header");
    char what[48];
    for (size_t r = 0; r < nr; r++) {
        snprintf(what, sizeof what, "rows[%d]", (int)r + 1);
        if (lua_rawgeti(L, rt, (lua_Integer)r + 1) != LUA_TTABLE)
            arg_error(L, 1, "%s must be a table, not %s", what, luaL_typename(L, -1));
        if (lua_rawlen(L, -1) != nc)
            arg_error(L, 1, "%s has %d cells but header has %d", what,
                      (int)lua_rawlen(L, -1), (int)nc);
        read_strings(L, -1, anchor, nc, cells + (r + 1) * nc, what);
        lua_pop(L, 1);
    }
    plot_ud *u = push_plot(L, &o, "table");
    return finish_plot(L, u, plot_table(u->p, (int)nr + 1, (int)nc, cells));
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
            arg_error(L, 1, "%s is %I x %I but values is %I x %I", key, (lua_Integer)r,
                      (lua_Integer)c, (lua_Integer)*rows, (lua_Integer)*cols);
        if (ts->numel == 0)
            arg_error(L, 1, "%s is empty", key);
        out = scratch(L, (size_t)ts->numel, sizeof *out);
        for (int64_t i = 0; i < ts->numel; i++) {
            out[i] = nm_tensor_getd(ts, i);
            if (!isfinite(out[i]))
                arg_error(L, 1, "%s[%I][%I] is %s", key, (lua_Integer)(i / c + 1),
                          (lua_Integer)(i % c + 1), isnan(out[i]) ? "NaN" : "infinite");
        }
    } else if (t == LUA_TTABLE) {
        int mt = lua_gettop(L);
        r = (int64_t)lua_rawlen(L, mt);
        if (r == 0)
            arg_error(L, 1, "%s is empty", key);
        if (lua_rawgeti(L, mt, 1) != LUA_TTABLE)
            arg_error(L, 1, "%s must be a 2-D table (rows of numbers) or a tensor", key);
        c = (int64_t)lua_rawlen(L, -1);
        lua_pop(L, 1);
        if (c == 0)
            arg_error(L, 1, "%s[1] is empty", key);
        if (*rows && (r != *rows || c != *cols))
            arg_error(L, 1, "%s is %I x %I but values is %I x %I", key, (lua_Integer)r,
                      (lua_Integer)c, (lua_Integer)*rows, (lua_Integer)*cols);
        if ((uint64_t)r * (uint64_t)c > ((uint64_t)1 << 31))
            arg_error(L, 1, "%s is too big for a table; pass a tensor", key);
        out = scratch(L, (size_t)(r * c), sizeof *out);
        for (int64_t i = 0; i < r; i++) {
            if (lua_rawgeti(L, mt, i + 1) != LUA_TTABLE)
                arg_error(L, 1, "%s[%I] must be a table", key, (lua_Integer)(i + 1));
            if ((int64_t)lua_rawlen(L, -1) != c)
                arg_error(L, 1, "%s[%I] has %I entries but %s[1] has %I", key,
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
                    return arg_error(L, 1, "%s[%I][%I] must be a number, not %s", key,
                                     (lua_Integer)(i + 1), (lua_Integer)(j + 1),
                                     luaL_typename(L, -1)), NULL;
                if (!isfinite(v))
                    arg_error(L, 1, "%s[%I][%I] is %s", key, (lua_Integer)(i + 1),
                              (lua_Integer)(j + 1), isnan(v) ? "NaN" : "infinite");
                out[i * c + j] = v;
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
    } else {
        arg_error(L, 1, "%s must be a tensor or a 2-D table, not %s", key, luaL_typename(L, -1));
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
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_newtable(L);
    int anchor = lua_gettop(L);
    plot_opts o;
    read_opts(L, 1, anchor, &o);

    plot_heat_data d = {0};
    d.values = read_matrix(L, "values", &d.rows, &d.cols, 0);
    double *m = read_matrix(L, "mask", &d.rows, &d.cols, 1);
    if (d.values == NULL && m == NULL)
        arg_error(L, 1, "values or mask is required");
    if (m) {
        uint8_t *mask = scratch(L, (size_t)(d.rows * d.cols), 1);
        for (int64_t i = 0; i < d.rows * d.cols; i++)
            mask[i] = m[i] != 0;
        d.mask = mask;
    }
    if (lua_getfield(L, 1, "rows_removed") != LUA_TNIL) {
        if (!lua_istable(L, -1) || (int64_t)lua_rawlen(L, -1) != d.rows)
            arg_error(L, 1, "rows_removed must be a table of %I booleans (one per row)",
                      (lua_Integer)d.rows);
        uint8_t *rr = scratch(L, (size_t)d.rows, 1);
        for (int64_t i = 0; i < d.rows; i++) {
            int et = lua_rawgeti(L, -2, i + 1);
            if (et == LUA_TBOOLEAN)
                rr[i] = (uint8_t)lua_toboolean(L, -1);
            else if (et == LUA_TNUMBER)
                rr[i] = lua_tonumber(L, -1) != 0;
            else
                arg_error(L, 1, "rows_removed[%I] must be a boolean", (lua_Integer)(i + 1));
            lua_pop(L, 1);
        }
        d.rows_removed = rr;
    }
    d.group_m = opt_size(L, 1, "group_m", 1 << 20);
    d.ramp = opt_choice(L, 1, "ramp", ramps) ? PLOT_RAMP_CIVIDIS : PLOT_RAMP_VIRIDIS;
    d.vmin = opt_number(L, 1, "vmin", 0);
    d.vmax = opt_number(L, 1, "vmax", 0);
    if ((d.vmin != 0 || d.vmax != 0) && !(d.vmin < d.vmax))
        arg_error(L, 1, "vmin (%f) must be below vmax (%f)", d.vmin, d.vmax);
    d.value_label = opt_string(L, 1, anchor, "value_label");
    plot_ud *u = push_plot(L, &o, "heatmap");
    return finish_plot(L, u, plot_heatmap(u->p, &d));
}

/* --- engine helpers ------------------------------------------------------ */

/* Options table at arg (may be absent): figure options only. */
static void helper_opts(lua_State *L, int arg, int anchor, plot_opts *o)
{
    if (lua_isnoneornil(L, arg)) {
        *o = plot_defaults();
        return;
    }
    luaL_checktype(L, arg, LUA_TTABLE);
    read_opts(L, arg, anchor, o);
}

/* nm.plot.layer_density(model [, before_model] [, opts]): density of each
 * prunable layer, `before_model` and `model` side by side. */
static int l_layer_density(lua_State *L)
{
    nm_model *after = nmlua_check_model(L, 1);
    nm_model *before = NULL;
    int optarg = 2;
    if (luaL_testudata(L, 2, NMLUA_MODEL)) {
        before = nmlua_check_model(L, 2);
        optarg = 3;
    }
    lua_settop(L, optarg);
    lua_newtable(L);
    int anchor = lua_gettop(L);
    plot_opts o;
    helper_opts(L, optarg, anchor, &o);
    plot_ud *u = push_plot(L, &o, "layer_density");
    int st = before ? plot_model_density(u->p, before, after)
                    : plot_model_density(u->p, after, NULL);
    return finish_plot(L, u, st);
}

/* nm.plot.mask(layer [, {view = 'kept' | 'magnitude', ...}]) */
static int l_mask(lua_State *L)
{
    static const char *const views[] = {"kept", "magnitude", NULL};
    luaL_checkudata(L, 1, NMLUA_LAYER);
    lua_settop(L, 2);
    lua_newtable(L);
    int anchor = lua_gettop(L);
    plot_opts o;
    helper_opts(L, 2, anchor, &o);
    int view = lua_istable(L, 2) ? opt_choice(L, 2, "view", views) : 0;
    /* The layer view exposes its model and index; the model check raises
     * if it has been freed. */
    lua_getfield(L, 1, "model");
    nm_model *m = nmlua_check_model(L, -1);
    lua_getfield(L, 1, "index");
    lua_Integer idx = lua_tointeger(L, -1);
    if (idx < 1 || idx > m->n_layers)
        arg_error(L, 1, "layer no longer exists");
    const nm_layer *l = &m->layers[idx - 1];
    if (!nm_layer_prunable(l))
        arg_error(L, 1, "layer '%s' (%s) has no prunable weight", l->name,
                  nm_layer_kind_name(l->kind));
    plot_ud *u = push_plot(L, &o, "mask");
    return finish_plot(L, u, plot_layer_mask(u->p, l, view ? PLOT_MASK_MAGNITUDE
                                                          : PLOT_MASK_KEPT));
}

/* Simulator reports are plain tables (nm.sim's sys:run): {system=, model=,
 * layers = {{name=, cycles=, util=, mult_util=, energy = {...}}...},
 * total = {...}}. The 12 energy fields are folded into at most 8 stacked
 * series (one colour each): */
static const struct {
    const char *name;
    const char *fields[4];
} energy_parts[] = {
    {"multipliers", {"mult"}},
    {"adders", {"add"}},
    {"select", {"select"}},
    {"registers", {"reg"}},
    {"SRAM", {"sram_w", "sram_d", "sram_o"}},
    {"accumulators + SFU", {"acc", "sfu"}},
    {"DRAM", {"dram"}},
    {"leakage", {"leak"}},
};
#define N_ENERGY_PARTS ((int)(sizeof energy_parts / sizeof energy_parts[0]))

/* Reads the energy parts (pJ) of the `energy` field of the table at t into
 * out[part * stride]; `what` names the table in messages. */
static void read_energy(lua_State *L, int t, const char *what, double *out, int stride)
{
    if (lua_getfield(L, t, "energy") != LUA_TTABLE)
        arg_error(L, 1, "%s.energy must be a table of components (pJ)", what);
    for (int k = 0; k < N_ENERGY_PARTS; k++) {
        double sum = 0;
        for (int f = 0; f < 4 && energy_parts[k].fields[f]; f++) {
            const char *field = energy_parts[k].fields[f];
            int ty = lua_getfield(L, -1, field);
            double v = lua_tonumber(L, -1);
            if (ty != LUA_TNUMBER)
                arg_error(L, 1, "%s.energy.%s must be a number, not %s", what, field,
                          luaL_typename(L, -1));
            if (isnan(v))
                arg_error(L, 1, "%s.energy.%s is NaN", what, field);
            if (isinf(v) || v < 0)
                arg_error(L, 1, "%s.energy.%s is %s", what, field,
                          v < 0 ? "negative" : "infinite");
            sum += v;
            lua_pop(L, 1);
        }
        out[k * stride] = sum;
    }
    lua_pop(L, 1);
}

/* Energy unit for a largest stack of `max_pj`: scale and name. */
static double energy_unit(double max_pj, const char **name)
{
    static const struct { double scale; const char *name; } units[] = {
        {1e12, "J"}, {1e9, "mJ"}, {1e6, "\xc2\xb5J"}, {1e3, "nJ"},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (max_pj >= units[i].scale) {
            *name = units[i].name;
            return units[i].scale;
        }
    *name = "pJ";
    return 1;
}

/* Field `key` of the table at t if it is a string or number, else NULL. */
static const char *field_string(lua_State *L, int t, int anchor, const char *key)
{
    int ty = lua_getfield(L, t, key);
    const char *s = ty == LUA_TSTRING || ty == LUA_TNUMBER ? anchor_string(L, anchor, -1) : NULL;
    lua_pop(L, 1);
    return s;
}

/* The short name of the report table at t: its `label` (set by the
 * caller), else `mac` (nm.sim's MAC name, e.g. "nm-2:4"), else `system`,
 * else NULL. */
static const char *report_name(lua_State *L, int t, int anchor)
{
    const char *keys[] = {"label", "mac", "system"};
    for (int i = 0; i < 3; i++) {
        const char *s = field_string(L, t, anchor, keys[i]);
        if (s)
            return s;
    }
    return NULL;
}

/* Appends "name: system" of the report at t (nm.sim's switch string)
 * to the array at `parts`, if the report has one. */
static void add_report_params(lua_State *L, int parts, int t, const char *name)
{
    if (lua_getfield(L, t, "system") == LUA_TSTRING) {
        lua_pushfstring(L, "%s: %s", name ? name : "report", lua_tostring(L, -1));
        lua_rawseti(L, parts, (lua_Integer)lua_rawlen(L, parts) + 1);
    }
    lua_pop(L, 1);
}

/* The entries of the array at `parts` joined with "; ", anchored; NULL if
 * there are none. */
static const char *join_params(lua_State *L, int parts, int anchor)
{
    size_t n = lua_rawlen(L, parts);
    if (n == 0)
        return NULL;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addstring(&b, "; ");
        lua_rawgeti(L, parts, (lua_Integer)i);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    const char *s = anchor_string(L, anchor, -1);
    lua_pop(L, 1);
    return s;
}

/* The `layers` array of the report at t, pushed; raises if missing/empty. */
static size_t report_layers(lua_State *L, int t, const char *what)
{
    if (lua_getfield(L, t, "layers") != LUA_TTABLE)
        arg_error(L, 1, "%s.layers must be a table of layer results", what);
    size_t n = lua_rawlen(L, -1);
    if (n == 0)
        arg_error(L, 1, "%s.layers is empty", what);
    return n;
}

/* Layer name of the result at the top of the stack (anchored). */
static const char *layer_name(lua_State *L, int anchor, const char *what)
{
    int ty = lua_getfield(L, -1, "name");
    if (ty != LUA_TSTRING && ty != LUA_TNUMBER)
        arg_error(L, 1, "%s.name must be a string", what);
    const char *s = anchor_string(L, anchor, -1);
    lua_pop(L, 1);
    return s;
}

/* nm.plot.energy(report | {report, ...} [, opts]): energy per component,
 * stacked; one bar per report (its total), or per layer for one report. */
static int l_energy(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);
    lua_newtable(L);
    int anchor = lua_gettop(L);
    plot_opts o;
    helper_opts(L, 2, anchor, &o);

    /* One report has `layers`; a list of reports has report tables. */
    int single = lua_getfield(L, 1, "layers") != LUA_TNIL;
    lua_pop(L, 1);
    size_t ng;
    const char **groups;
    double *v;
    char what[64];
    const char *sys_name = NULL;
    if (single) {
        ng = report_layers(L, 1, "report");
        int lt = lua_gettop(L);
        groups = scratch(L, ng, sizeof *groups);
        v = scratch(L, ng * N_ENERGY_PARTS, sizeof *v);
        for (size_t g = 0; g < ng; g++) {
            snprintf(what, sizeof what, "report.layers[%d]", (int)g + 1);
            if (lua_rawgeti(L, lt, (lua_Integer)g + 1) != LUA_TTABLE)
                arg_error(L, 1, "%s must be a table", what);
            groups[g] = layer_name(L, anchor, what);
            read_energy(L, lua_gettop(L), what, v + g, (int)ng);
            lua_pop(L, 1);
        }
        sys_name = report_name(L, 1, anchor);
    } else {
        ng = lua_rawlen(L, 1);
        if (ng == 0)
            arg_error(L, 1, "no reports given (an empty table)");
        groups = scratch(L, ng, sizeof *groups);
        v = scratch(L, ng * N_ENERGY_PARTS, sizeof *v);
        for (size_t g = 0; g < ng; g++) {
            snprintf(what, sizeof what, "reports[%d]", (int)g + 1);
            if (lua_rawgeti(L, 1, (lua_Integer)g + 1) != LUA_TTABLE)
                arg_error(L, 1, "%s must be a report table (from sys:run)", what);
            int r = lua_gettop(L);
            groups[g] = report_name(L, r, anchor);
            if (groups[g] == NULL) {
                lua_pushfstring(L, "report %d", (int)g + 1);
                groups[g] = anchor_string(L, anchor, -1);
            }
            if (lua_getfield(L, r, "total") != LUA_TTABLE)
                arg_error(L, 1, "%s.total must be a table", what);
            snprintf(what, sizeof what, "reports[%d].total", (int)g + 1);
            read_energy(L, lua_gettop(L), what, v + g, (int)ng);
            lua_settop(L, r - 1);
        }
    }
    /* Leave out parts that are zero everywhere; scale to a readable unit. */
    double max_stack = 0;
    for (size_t g = 0; g < ng; g++) {
        double s = 0;
        for (int k = 0; k < N_ENERGY_PARTS; k++)
            s += v[k * ng + g];
        max_stack = s > max_stack ? s : max_stack;
    }
    const char *unit;
    double scale = energy_unit(max_stack, &unit);
    const char *names[N_ENERGY_PARTS];
    double *vals = scratch(L, ng * N_ENERGY_PARTS, sizeof *vals);
    int ns = 0;
    for (int k = 0; k < N_ENERGY_PARTS; k++) {
        int any = 0;
        for (size_t g = 0; g < ng; g++)
            any |= v[k * ng + g] > 0;
        if (!any && !(k == N_ENERGY_PARTS - 1 && ns == 0))
            continue;
        names[ns] = energy_parts[k].name;
        for (size_t g = 0; g < ng; g++)
            vals[ns * ng + g] = v[k * ng + g] / scale;
        ns++;
    }
    if (o.params == NULL) {   /* the switches of each system, in the metadata */
        lua_newtable(L);
        int parts = lua_gettop(L);
        if (single) {
            add_report_params(L, parts, 1, sys_name);
        } else {
            for (size_t g = 0; g < ng; g++) {
                lua_rawgeti(L, 1, (lua_Integer)g + 1);
                add_report_params(L, parts, lua_gettop(L), groups[g]);
                lua_pop(L, 1);
            }
        }
        o.params = join_params(L, parts, anchor);
    }
    if (o.title == NULL)
        o.title = single && sys_name ? lua_pushfstring(L, "Energy per layer: %s", sys_name)
                                     : single ? "Energy per layer" : "Energy per system";
    lua_pushfstring(L, "energy (%s)", unit);
    if (o.ylabel == NULL)
        o.ylabel = lua_tostring(L, -1);
    if (o.xlabel == NULL)
        o.xlabel = single ? "layer" : "system";
    plot_bar_data d = {.n_groups = (int)ng, .groups = groups, .n_series = ns,
                       .series = names, .values = vals, .value_labels = 1};
    plot_ud *u = push_plot(L, &o, "energy");
    return finish_plot(L, u, plot_stacked(u->p, &d));
}

/* nm.plot.utilization(report [, opts]): per-layer PE utilization and
 * multiplier utilization, in percent. */
static int l_utilization(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);
    lua_newtable(L);
    int anchor = lua_gettop(L);
    plot_opts o;
    helper_opts(L, 2, anchor, &o);
    size_t ng = report_layers(L, 1, "report");
    int lt = lua_gettop(L);
    const char **groups = scratch(L, ng, sizeof *groups);
    double *v = scratch(L, ng * 2, sizeof *v);
    const char **labels = scratch(L, ng * 2, sizeof *labels);
    static const char *const fields[] = {"util", "mult_util"};
    char what[64];
    for (size_t g = 0; g < ng; g++) {
        snprintf(what, sizeof what, "report.layers[%d]", (int)g + 1);
        if (lua_rawgeti(L, lt, (lua_Integer)g + 1) != LUA_TTABLE)
            arg_error(L, 1, "%s must be a table", what);
        groups[g] = layer_name(L, anchor, what);
        for (int k = 0; k < 2; k++) {
            int ty = lua_getfield(L, -1, fields[k]);
            double x = lua_tonumber(L, -1);
            if (ty != LUA_TNUMBER)
                arg_error(L, 1, "%s.%s must be a number, not %s", what, fields[k],
                          luaL_typename(L, -1));
            if (isnan(x))
                arg_error(L, 1, "%s.%s is NaN", what, fields[k]);
            if (!(x >= 0 && x <= 1))
                arg_error(L, 1, "%s.%s is %f, not a fraction in 0..1", what, fields[k], x);
            v[(size_t)k * ng + g] = 100 * x;
            lua_pop(L, 1);
            /* "94%", or "3.5%" below 10 %, so small values keep a digit */
            char buf[16];
            snprintf(buf, sizeof buf, 100 * x >= 10 ? "%.0f%%" : "%.1f%%", 100 * x);
            lua_pushstring(L, buf);
            labels[(size_t)k * ng + g] = anchor_string(L, anchor, -1);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    const char *sys = report_name(L, 1, anchor);
    if (o.params == NULL) {
        lua_newtable(L);
        int parts = lua_gettop(L);
        add_report_params(L, parts, 1, sys);
        o.params = join_params(L, parts, anchor);
    }
    if (o.title == NULL)
        o.title = sys ? lua_pushfstring(L, "Utilization per layer: %s", sys)
                      : "Utilization per layer";
    if (o.ylabel == NULL)
        o.ylabel = "utilization (%)";
    if (o.xlabel == NULL)
        o.xlabel = "layer";
    static const char *const names[] = {"PE utilization", "multiplier utilization"};
    plot_bar_data d = {.n_groups = (int)ng, .groups = groups, .n_series = 2,
                       .series = names, .values = v, .labels = labels, .value_labels = 1,
                       .ymax = 100};
    plot_ud *u = push_plot(L, &o, "utilization");
    return finish_plot(L, u, plot_bars(u->p, &d));
}

/* --- the plot object ----------------------------------------------------- */

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

void nmlua_open_plot(lua_State *L, int nm)
{
    static const luaL_Reg methods[] = {
        {"save", p_save}, {"free", p_free}, {NULL, NULL},
    };
    static const luaL_Reg meta[] = {
        {"__gc", p_free}, {"__close", p_free}, {"__tostring", p_tostring}, {NULL, NULL},
    };
    static const luaL_Reg fns[] = {
        {"bars", l_bars},       {"stacked", l_stacked},
        {"heatmap", l_heatmap}, {"lines", l_lines},
        {"table", l_table},     {"layer_density", l_layer_density},
        {"mask", l_mask},       {"energy", l_energy},
        {"utilization", l_utilization},
        {NULL, NULL},
    };
    luaL_newmetatable(L, NMLUA_PLOT);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, fns);
    lua_setfield(L, nm, "plot");
}
