/* bind_plot_engine.c - nm.plot helpers that take engine objects and
 * simulator reports directly: layer_density (models), mask (a layer view),
 * energy, utilization and roofline (nm.sim report tables). */
#include "bind_plot.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Every helper's start, its options table the last argument `arg` (may be
 * absent: figure options only): drops what follows arg, pushes the anchor
 * table for strings (returns its index) and reads the figure options. */
static int helper_begin(lua_State *L, int arg, plot_opts *o)
{
    lua_settop(L, arg);
    lua_newtable(L);
    int anchor = lua_gettop(L);
    if (lua_isnoneornil(L, arg)) {
        *o = plot_defaults();
        o->index_base = 1;   /* as plotarg_opts: labels count from 1 */
        return anchor;
    }
    luaL_checktype(L, arg, LUA_TTABLE);
    plotarg_opts(L, arg, anchor, o);
    return anchor;
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
    plot_opts o;
    helper_begin(L, optarg, &o);
    plot_ud *u = plotobj_push(L, &o, "layer_density");
    int st = before ? plot_model_density(u->p, before, after)
                    : plot_model_density(u->p, after, NULL);
    return plotobj_finish(L, u, st);
}

/* nm.plot.mask(layer [, {view = 'kept' | 'magnitude', ...}]) */
static int l_mask(lua_State *L)
{
    static const char *const views[] = {"kept", "magnitude", NULL};
    luaL_checkudata(L, 1, NMLUA_LAYER);
    plot_opts o;
    helper_begin(L, 2, &o);
    int view = lua_istable(L, 2) ? plotarg_choice(L, 2, "view", views) : 0;
    /* The layer view exposes its model and index; the model check raises
     * if it has been freed. */
    lua_getfield(L, 1, "model");
    nm_model *m = nmlua_check_model(L, -1);
    lua_getfield(L, 1, "index");
    lua_Integer idx = lua_tointeger(L, -1);
    if (idx < 1 || idx > m->n_layers)
        plotarg_error(L, 1, "layer no longer exists");
    const nm_layer *l = &m->layers[idx - 1];
    if (!nm_layer_prunable(l))
        plotarg_error(L, 1, "layer '%s' (%s) has no prunable weight", l->name,
                  nm_layer_kind_name(l->kind));
    plot_ud *u = plotobj_push_matrix(L, &o, "mask", nm_layer_rows(l), nm_layer_cols(l));
    return plotobj_finish(L, u, plot_layer_mask(u->p, l, view ? PLOT_MASK_MAGNITUDE
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
        plotarg_error(L, 1, "%s.energy must be a table of components (pJ)", what);
    for (int k = 0; k < N_ENERGY_PARTS; k++) {
        double sum = 0;
        for (int f = 0; f < 4 && energy_parts[k].fields[f]; f++) {
            const char *field = energy_parts[k].fields[f];
            int ty = lua_getfield(L, -1, field);
            double v = lua_tonumber(L, -1);
            if (ty != LUA_TNUMBER)
                plotarg_error(L, 1, "%s.energy.%s must be a number, not %s", what, field,
                          luaL_typename(L, -1));
            if (isnan(v))
                plotarg_error(L, 1, "%s.energy.%s is NaN", what, field);
            if (isinf(v) || v < 0)
                plotarg_error(L, 1, "%s.energy.%s is %s", what, field,
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
    const char *s = ty == LUA_TSTRING || ty == LUA_TNUMBER ? plotarg_anchor(L, anchor, -1) : NULL;
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
    const char *s = plotarg_anchor(L, anchor, -1);
    lua_pop(L, 1);
    return s;
}

/* The `layers` array of the report at t, pushed; raises if missing/empty. */
static size_t report_layers(lua_State *L, int t, const char *what)
{
    if (lua_getfield(L, t, "layers") != LUA_TTABLE)
        plotarg_error(L, 1, "%s.layers must be a table of layer results", what);
    size_t n = lua_rawlen(L, -1);
    if (n == 0)
        plotarg_error(L, 1, "%s.layers is empty", what);
    return n;
}

/* Pushes result g (from 0) of the layers array at lt, names it in
 * what[64] for messages ("report.layers[3]") and returns its layer name
 * (anchored). */
static const char *layer_result(lua_State *L, int lt, size_t g, int anchor, char *what)
{
    snprintf(what, 64, "report.layers[%d]", (int)g + 1);
    if (lua_rawgeti(L, lt, (lua_Integer)g + 1) != LUA_TTABLE)
        plotarg_error(L, 1, "%s must be a table", what);
    int ty = lua_getfield(L, -1, "name");
    if (ty != LUA_TSTRING && ty != LUA_TNUMBER)
        plotarg_error(L, 1, "%s.name must be a string", what);
    const char *s = plotarg_anchor(L, anchor, -1);
    lua_pop(L, 1);
    return s;
}

/* nm.plot.energy(report | {report, ...} [, opts]): energy per component,
 * stacked; one bar per report (its total), or per layer for one report. */
static int l_energy(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    plot_opts o;
    int anchor = helper_begin(L, 2, &o);

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
        groups = plotarg_scratch(L, ng, sizeof *groups);
        v = plotarg_scratch(L, ng * N_ENERGY_PARTS, sizeof *v);
        for (size_t g = 0; g < ng; g++) {
            groups[g] = layer_result(L, lt, g, anchor, what);
            read_energy(L, lua_gettop(L), what, v + g, (int)ng);
            lua_pop(L, 1);
        }
        sys_name = report_name(L, 1, anchor);
    } else {
        ng = lua_rawlen(L, 1);
        if (ng == 0)
            plotarg_error(L, 1, "no reports given (an empty table)");
        groups = plotarg_scratch(L, ng, sizeof *groups);
        v = plotarg_scratch(L, ng * N_ENERGY_PARTS, sizeof *v);
        for (size_t g = 0; g < ng; g++) {
            snprintf(what, sizeof what, "reports[%d]", (int)g + 1);
            if (lua_rawgeti(L, 1, (lua_Integer)g + 1) != LUA_TTABLE)
                plotarg_error(L, 1, "%s must be a report table (from sys:run)", what);
            int r = lua_gettop(L);
            groups[g] = report_name(L, r, anchor);
            if (groups[g] == NULL) {
                lua_pushfstring(L, "report %d", (int)g + 1);
                groups[g] = plotarg_anchor(L, anchor, -1);
            }
            if (lua_getfield(L, r, "total") != LUA_TTABLE)
                plotarg_error(L, 1, "%s.total must be a table", what);
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
    double *vals = plotarg_scratch(L, ng * N_ENERGY_PARTS, sizeof *vals);
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
    plot_ud *u = plotobj_push(L, &o, "energy");
    return plotobj_finish(L, u, plot_stacked(u->p, &d));
}

/* nm.plot.utilization(report [, opts]): per-layer PE utilization and
 * multiplier utilization, in percent. */
static int l_utilization(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    plot_opts o;
    int anchor = helper_begin(L, 2, &o);
    size_t ng = report_layers(L, 1, "report");
    int lt = lua_gettop(L);
    const char **groups = plotarg_scratch(L, ng, sizeof *groups);
    double *v = plotarg_scratch(L, ng * 2, sizeof *v);
    const char **labels = plotarg_scratch(L, ng * 2, sizeof *labels);
    static const char *const fields[] = {"util", "mult_util"};
    char what[64];
    for (size_t g = 0; g < ng; g++) {
        groups[g] = layer_result(L, lt, g, anchor, what);
        for (int k = 0; k < 2; k++) {
            int ty = lua_getfield(L, -1, fields[k]);
            double x = lua_tonumber(L, -1);
            if (ty != LUA_TNUMBER)
                plotarg_error(L, 1, "%s.%s must be a number, not %s", what, fields[k],
                          luaL_typename(L, -1));
            if (isnan(x))
                plotarg_error(L, 1, "%s.%s is NaN", what, fields[k]);
            if (!(x >= 0 && x <= 1))
                plotarg_error(L, 1, "%s.%s is %f, not a fraction in 0..1", what, fields[k], x);
            v[(size_t)k * ng + g] = 100 * x;
            lua_pop(L, 1);
            /* "94%", or "3.5%" below 10 %, so small values keep a digit */
            char buf[16];
            snprintf(buf, sizeof buf, 100 * x >= 10 ? "%.0f%%" : "%.1f%%", 100 * x);
            lua_pushstring(L, buf);
            labels[(size_t)k * ng + g] = plotarg_anchor(L, anchor, -1);
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
    plot_ud *u = plotobj_push(L, &o, "utilization");
    return plotobj_finish(L, u, plot_bars(u->p, &d));
}

/* A number field `key` of the table at t (raises naming what.key unless it
 * is a finite number). */
static double num_field(lua_State *L, int t, const char *what, const char *key)
{
    int ty = lua_getfield(L, t, key);
    double v = lua_tonumber(L, -1);
    if (ty != LUA_TNUMBER)
        plotarg_error(L, 1, "%s.%s must be a number, not %s", what, key, luaL_typename(L, -1));
    if (!isfinite(v))
        plotarg_error(L, 1, "%s.%s is %s", what, key, isnan(v) ? "NaN" : "infinite");
    lua_pop(L, 1);
    return v;
}

/* nm.plot.roofline(report [, opts]) -> plot, data: per layer the
 * operational intensity (roofline.intensity: dense MACs per DRAM word)
 * against the attained dense MACs per cycle (dense_macs / cycles), under
 * the roof of report.roof (peak, bandwidth; opts.peak / opts.bandwidth
 * override), each layer marked by roofline.bound. `data` is what was
 * drawn: {peak, bandwidth, layers = {{name, intensity, perf, bound}}}.
 * With opts.out the figure is also saved there (nil, message on failure). */
static int l_roofline(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    plot_opts o;
    int anchor = helper_begin(L, 2, &o);
    int has_opts = lua_istable(L, 2);
    double peak = 0, bw = 0;
    if (lua_getfield(L, 1, "roof") == LUA_TTABLE) {
        if (lua_getfield(L, -1, "peak") == LUA_TNUMBER)
            peak = lua_tonumber(L, -1);
        if (lua_getfield(L, -2, "bandwidth") == LUA_TNUMBER)
            bw = lua_tonumber(L, -1);
        lua_pop(L, 2);
    }
    lua_pop(L, 1);
    if (has_opts) {
        peak = plotarg_number(L, 2, "peak", peak);
        bw = plotarg_number(L, 2, "bandwidth", bw);
    }
    if (!(peak > 0))
        plotarg_error(L, 1, "no compute roof: report.roof.peak (from sys:run) or opts.peak "
                            "must be a positive number");
    if (bw < 0)
        plotarg_error(L, 2, "bandwidth must be positive (or 0: no slope), not %f", bw);
    const char *out = NULL;
    if (has_opts && lua_getfield(L, 2, "out") != LUA_TNIL) {
        out = nmlua_checkpath(L, lua_gettop(L));
        out = plotarg_anchor(L, anchor, -1);
    }
    if (has_opts)
        lua_settop(L, anchor);
    size_t n = report_layers(L, 1, "report");
    int lt = lua_gettop(L);
    const char **names = plotarg_scratch(L, n, sizeof *names);
    double *x = plotarg_scratch(L, n, sizeof *x), *y = plotarg_scratch(L, n, sizeof *y);
    uint8_t *mem = plotarg_scratch(L, n, sizeof *mem);
    char what[64];
    for (size_t i = 0; i < n; i++) {
        names[i] = layer_result(L, lt, i, anchor, what);
        int row = lua_gettop(L);
        double macs = num_field(L, row, what, "dense_macs"), cyc = num_field(L, row, what, "cycles");
        char rw[80];
        snprintf(rw, sizeof rw, "%s.roofline", what);
        if (lua_getfield(L, row, "roofline") != LUA_TTABLE)
            plotarg_error(L, 1, "%s must be a table (a report from sys:run)", rw);
        x[i] = num_field(L, lua_gettop(L), rw, "intensity");
        if (lua_getfield(L, -1, "bound") != LUA_TSTRING)
            plotarg_error(L, 1, "%s.bound must be 'compute' or 'memory'", rw);
        const char *b = lua_tostring(L, -1);
        if (strcmp(b, "memory") != 0 && strcmp(b, "compute") != 0)
            plotarg_error(L, 1, "%s.bound must be 'compute' or 'memory', not '%s'", rw, b);
        mem[i] = b[0] == 'm';
        if (!(macs > 0) || !(cyc > 0) || !(x[i] > 0))
            plotarg_error(L, 1, "%s (%s): dense_macs, cycles and roofline.intensity must be "
                                "positive", what, names[i]);
        y[i] = macs / cyc;
        lua_settop(L, row - 1);
    }
    const char *sys = report_name(L, 1, anchor);
    if (o.params == NULL) {
        lua_newtable(L);
        int parts = lua_gettop(L);
        add_report_params(L, parts, 1, sys);
        o.params = join_params(L, parts, anchor);
    }
    if (o.title == NULL)
        o.title = sys ? lua_pushfstring(L, "Roofline per layer: %s", sys) : "Roofline per layer";
    if (o.xlabel == NULL)
        o.xlabel = "intensity (dense MACs / DRAM word)";
    if (o.ylabel == NULL)
        o.ylabel = "dense MACs / cycle";
    int labels = has_opts ? plotarg_bool(L, 2, "labels", 0) : 0;
    plot_roof_data d = {.n = (int)n, .names = names, .intensity = x, .perf = y,
                        .memory_bound = mem, .peak = peak, .bandwidth = bw,
                        .label_points = labels};
    plot_ud *u = plotobj_push(L, &o, "roofline");
    int pi = lua_gettop(L);
    plotobj_finish(L, u, plot_roofline(u->p, &d));
    /* the data drawn */
    lua_createtable(L, 0, 3);
    lua_pushnumber(L, peak);
    lua_setfield(L, -2, "peak");
    lua_pushnumber(L, bw);
    lua_setfield(L, -2, "bandwidth");
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_createtable(L, 0, 4);
        lua_pushstring(L, names[i]);
        lua_setfield(L, -2, "name");
        lua_pushnumber(L, x[i]);
        lua_setfield(L, -2, "intensity");
        lua_pushnumber(L, y[i]);
        lua_setfield(L, -2, "perf");
        lua_pushstring(L, mem[i] ? "memory" : "compute");
        lua_setfield(L, -2, "bound");
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "layers");
    if (out && plot_save(u->p, out) != NM_OK) {
        luaL_pushfail(L);
        lua_pushstring(L, nm_errmsg());
        return 2;
    }
    lua_pushvalue(L, pi);
    lua_insert(L, -2);
    return 2;
}

void plotlua_add_engine_helpers(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"layer_density", l_layer_density}, {"mask", l_mask},
        {"energy", l_energy},               {"utilization", l_utilization},
        {"roofline", l_roofline},
        {NULL, NULL},
    };
    luaL_setfuncs(L, fns, 0);
}
