/* bind_plot_args.c - reading nm.plot's option tables: figure options,
 * strings, numbers and arrays, checked and named in every message (see
 * bind_plot.h for the conventions). */
#include "bind_plot.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Raises "bad argument #arg to 'fn' (<formatted>)". */
int plotarg_error(lua_State *L, int arg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const char *msg = lua_pushvfstring(L, fmt, ap);
    va_end(ap);
    return luaL_argerror(L, arg, msg);
}

/* A zeroed scratch buffer of n elements of size `size`, owned by a userdata
 * left on the stack (collected after the call, even if it raises). */
void *plotarg_scratch(lua_State *L, size_t n, size_t size)
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
const char *plotarg_anchor(lua_State *L, int anchor, int idx)
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
const char *plotarg_string(lua_State *L, int arg, int anchor, const char *key)
{
    int t = lua_getfield(L, arg, key);
    const char *s = NULL;
    if (t == LUA_TSTRING || t == LUA_TNUMBER)
        s = plotarg_anchor(L, anchor, -1);
    else if (t != LUA_TNIL)
        plotarg_error(L, arg, "%s must be a string, not %s", key, luaL_typename(L, -1));
    lua_pop(L, 1);
    return s;
}

/* Field `key` as a finite number, or `def` if absent. */
double plotarg_number(lua_State *L, int arg, const char *key, double def)
{
    int t = lua_getfield(L, arg, key);
    double v = def;
    if (t == LUA_TNUMBER) {
        v = lua_tonumber(L, -1);
        if (!isfinite(v))
            plotarg_error(L, arg, "%s must be a finite number", key);
    } else if (t != LUA_TNIL) {
        plotarg_error(L, arg, "%s must be a number, not %s", key, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return v;
}

/* Field `key` as a non-negative integer below `max`, or 0 if absent. */
int plotarg_size(lua_State *L, int arg, const char *key, int max)
{
    int t = lua_getfield(L, arg, key);
    lua_Integer v = 0;
    if (t != LUA_TNIL) {
        int isint = 0;
        v = lua_tointegerx(L, -1, &isint);
        if (!isint || v < 0 || v > max)
            plotarg_error(L, arg, "%s must be an integer in 0..%d", key, max);
    }
    lua_pop(L, 1);
    return (int)v;
}

/* Field `key` as a boolean, `def` if absent. */
int plotarg_bool(lua_State *L, int arg, const char *key, int def)
{
    int t = lua_getfield(L, arg, key);
    int v = def;
    if (t == LUA_TBOOLEAN)
        v = lua_toboolean(L, -1);
    else if (t != LUA_TNIL)
        plotarg_error(L, arg, "%s must be a boolean, not %s", key, luaL_typename(L, -1));
    lua_pop(L, 1);
    return v;
}

/* Field `key`: one of `names` (NULL-terminated); its index, or 0 if absent. */
int plotarg_choice(lua_State *L, int arg, const char *key, const char *const names[])
{
    int t = lua_getfield(L, arg, key);
    int v = 0;
    if (t != LUA_TNIL) {
        const char *s = lua_tostring(L, -1);
        for (v = 0; names[v]; v++)
            if (s && t == LUA_TSTRING && strcmp(s, names[v]) == 0)
                break;
        if (names[v] == NULL)
            plotarg_error(L, arg, "%s must be '%s' or '%s'", key, names[0], names[1]);
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
        return plotarg_string(L, arg, anchor, "params");
    }
    int tbl = lua_gettop(L);
    size_t n = 0;
    for (lua_pushnil(L); lua_next(L, tbl); lua_pop(L, 1)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            plotarg_error(L, arg, "params keys must be strings");
        int vt = lua_type(L, -1);
        if (vt != LUA_TSTRING && vt != LUA_TNUMBER && vt != LUA_TBOOLEAN)
            plotarg_error(L, arg, "params.%s must be a string, number or boolean",
                      lua_tostring(L, -2));
        n++;
    }
    const char **keys = plotarg_scratch(L, n, sizeof *keys);
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
    const char *s = plotarg_anchor(L, anchor, -1);
    lua_settop(L, tbl - 1);
    return s;
}

/* The figure options every chart takes (see docs/lua-api.md). */
void plotarg_opts(lua_State *L, int arg, int anchor, plot_opts *o)
{
    static const char *const themes[] = {"light", "dark", NULL};
    *o = plot_defaults();
    o->width = plotarg_size(L, arg, "width", PLOT_MAX_SIDE);
    o->height = plotarg_size(L, arg, "height", PLOT_MAX_SIDE);
    o->dpi = plotarg_number(L, arg, "dpi", 0);
    o->cell = plotarg_number(L, arg, "cell", 0);
    /* size = "column" | "page": the printed size of a paper figure at
     * 300 dpi (3.5 x 2.5 in, 7 x 3.5 in); width, height, dpi still win */
    static const char *const sizes[] = {"column", "page", NULL};
    if (lua_getfield(L, arg, "size") != LUA_TNIL) {
        lua_pop(L, 1);
        int page = plotarg_choice(L, arg, "size", sizes);
        if (o->dpi == 0)
            o->dpi = 300;
        if (o->width == 0)
            o->width = (int)lround((page ? 7.0 : 3.5) * o->dpi);
        if (o->height == 0)
            o->height = (int)lround((page ? 3.5 : 2.5) * o->dpi);
        if (o->width > PLOT_MAX_SIDE || o->height > PLOT_MAX_SIDE)
            plotarg_error(L, arg, "size '%s' at %f dpi is over %d pixels a side",
                          sizes[page], o->dpi, PLOT_MAX_SIDE);
    } else {
        lua_pop(L, 1);
    }
    o->theme = plotarg_choice(L, arg, "theme", themes) ? PLOT_THEME_DARK : PLOT_THEME_LIGHT;
    o->title = plotarg_string(L, arg, anchor, "title");
    o->xlabel = plotarg_string(L, arg, anchor, "xlabel");
    o->ylabel = plotarg_string(L, arg, anchor, "ylabel");
    o->params = opt_params(L, arg, anchor);
    o->index_base = 1;   /* heatmap and mask labels count rows/columns as Lua does */
}

/* Length of the array in field `key` of the table at arg, pushed on the
 * stack; raises if missing, not a table or empty. */
size_t plotarg_array(lua_State *L, int arg, const char *key, const char *what)
{
    if (lua_getfield(L, arg, key) != LUA_TTABLE)
        plotarg_error(L, 1, "%s must be a table, not %s", what, luaL_typename(L, -1));
    size_t n = lua_rawlen(L, -1);
    if (n == 0)
        plotarg_error(L, 1, "%s is empty", what);
    return n;
}

/* Reads n finite numbers from the array at stack index t into out;
 * raises naming `what[i]` for a non-number, NaN or infinity. */
void plotarg_numbers(lua_State *L, int t, size_t n, double *out, const char *what)
{
    t = lua_absindex(L, t);
    for (size_t i = 0; i < n; i++) {
        int ty = lua_rawgeti(L, t, (lua_Integer)i + 1);
        if (ty != LUA_TNUMBER)
            plotarg_error(L, 1, "%s[%d] must be a number, not %s", what, (int)i + 1,
                      luaL_typename(L, -1));
        double v = lua_tonumber(L, -1);
        if (isnan(v))
            plotarg_error(L, 1, "%s[%d] is NaN", what, (int)i + 1);
        if (isinf(v))
            plotarg_error(L, 1, "%s[%d] is infinite", what, (int)i + 1);
        out[i] = v;
        lua_pop(L, 1);
    }
}

/* Reads n strings (or numbers) from the array at stack index t. */
void plotarg_strings(lua_State *L, int t, int anchor, size_t n, const char **out,
                         const char *what)
{
    t = lua_absindex(L, t);
    for (size_t i = 0; i < n; i++) {
        int ty = lua_rawgeti(L, t, (lua_Integer)i + 1);
        if (ty != LUA_TSTRING && ty != LUA_TNUMBER)
            plotarg_error(L, 1, "%s[%d] must be a string, not %s", what, (int)i + 1,
                      luaL_typename(L, -1));
        out[i] = plotarg_anchor(L, anchor, -1);
        lua_pop(L, 1);
    }
}

/* The `series` option: an array of {name =, values = {...}} whose values
 * all have n_points entries (`against` names what sets that length).
 * Fills names and values (series-major). With n_points 0 the first series
 * sets it. Returns the number of series; leaves its buffers on the stack. */
int plotarg_series(lua_State *L, int anchor, int *n_points, const char *against,
                       const char ***names_out, double **values_out,
                       const char ***labels_out)
{
    size_t ns = plotarg_array(L, 1, "series", "series");
    int st = lua_gettop(L);
    if (ns > PLOT_MAX_SERIES)
        plotarg_error(L, 1, "series has %d entries; at most %d can be told apart",
                  (int)ns, PLOT_MAX_SERIES);
    if (*n_points == 0) {
        lua_rawgeti(L, st, 1);
        if (lua_type(L, -1) == LUA_TTABLE && lua_getfield(L, -1, "values") == LUA_TTABLE)
            *n_points = (int)lua_rawlen(L, -1);
        lua_settop(L, st);
    }
    int np = *n_points;
    const char **names = plotarg_scratch(L, ns, sizeof *names);
    double *values = plotarg_scratch(L, ns * (size_t)(np ? np : 1), sizeof *values);
    const char **labels = labels_out ? plotarg_scratch(L, ns * (size_t)(np ? np : 1), sizeof *labels) : NULL;
    int any_labels = 0;
    char what[64];
    for (size_t s = 0; s < ns; s++) {
        if (lua_rawgeti(L, st, (lua_Integer)s + 1) != LUA_TTABLE)
            plotarg_error(L, 1, "series[%d] must be a table {name=, values=}", (int)s + 1);
        int e = lua_gettop(L);
        int t = lua_getfield(L, e, "name");
        if (t == LUA_TSTRING || t == LUA_TNUMBER)
            names[s] = plotarg_anchor(L, anchor, -1);
        else if (t != LUA_TNIL || ns > 1)
            plotarg_error(L, 1, "series[%d].name must be a string", (int)s + 1);
        lua_pop(L, 1);
        snprintf(what, sizeof what, "series[%d].values", (int)s + 1);
        size_t nv = plotarg_array(L, e, "values", what);
        if (nv != (size_t)np)
            plotarg_error(L, 1, "%s has %d values but %s has %d", what, (int)nv, against, np);
        plotarg_numbers(L, -1, nv, values + s * (size_t)np, what);
        lua_pop(L, 1);
        if (labels && lua_getfield(L, e, "labels") != LUA_TNIL) {
            snprintf(what, sizeof what, "series[%d].labels", (int)s + 1);
            if (!lua_istable(L, -1) || lua_rawlen(L, -1) != (size_t)np)
                plotarg_error(L, 1, "%s must be a table of %d strings (one per value)", what, np);
            plotarg_strings(L, -1, anchor, (size_t)np, labels + s * (size_t)np, what);
            any_labels = 1;
        }
        lua_settop(L, e - 1);
    }
    if (any_labels)   /* series without labels print their values */
        for (size_t s = 0; s < ns; s++)
            for (int g = 0; g < np; g++)
                if (labels[s * (size_t)np + g] == NULL) {
                    char buf[32];
                    double v = values[s * (size_t)np + g];   /* as plot_bars writes it */
                    snprintf(buf, sizeof buf, "%s%.3g", v < 0 ? "\xe2\x88\x92" : "", fabs(v));
                    lua_pushstring(L, buf);
                    labels[s * (size_t)np + g] = plotarg_anchor(L, anchor, -1);
                    lua_pop(L, 1);
                }
    *names_out = ns > 1 || names[0] ? names : NULL;
    *values_out = values;
    if (labels_out)
        *labels_out = any_labels ? labels : NULL;
    return (int)ns;
}
