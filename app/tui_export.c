/* tui_export.c - `e`: the current screen as a PNG through nm.plot, drawn
 * from what the screen shows (the Activations screen's channel, the Array
 * screen's MAC and size), titled with the model, written to the first free
 * name nmlab-SCREEN-MODEL-N.png in the current folder (older exports are
 * never overwritten). The plotting runs as Lua through the console's host,
 * so a failure is a message, never a crash. */
#define _XOPEN_SOURCE_EXTENDED 1
#include "tui.h"
#include "nmlua.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

/* nm._tui_export(ctx) -> message. ctx: screen, model, layer, and for the
 * Array screen mac/rows/cols, for the Activations screen act = {layer,
 * channel, channels, h, w, before, after, n, m, policy, sample}. */
static const char *export_lua =
    "local function free_name(screen, model)\n"
    "  local stem = ('nmlab-%s-%s'):format(screen, (model and model.name or 'none'):gsub('[^%w_.-]', '_'))\n"
    "  for i = 1, 100000 do\n"
    "    local name = ('%s-%d.png'):format(stem, i)\n"
    "    local f = io.open(name, 'rb')\n"
    "    if not f then return name end\n"
    "    f:close()\n"
    "  end\n"
    "  error('no free file name for ' .. stem, 0)\n"
    "end\n"
    "local function grid(values, h, w)\n"
    "  local t = {}\n"
    "  for r = 1, h do\n"
    "    local row = {}\n"
    "    for c = 1, w do row[c] = values[(r - 1) * w + c] end\n"
    "    t[r] = row\n"
    "  end\n"
    "  return t\n"
    "end\n"
    "function nm._tui_export(ctx)\n"
    "  if not nm.plot then error('this build has no nm.plot', 0) end\n"
    "  local screen, model, layer = ctx.screen, ctx.model, ctx.layer\n"
    "  if not model then error('no model to export', 0) end\n"
    "  local mname = model.name\n"
    "  local p\n"
    "  if screen == 'mask' then\n"
    "    if not layer or not layer.weight then error('select a conv or linear layer first', 0) end\n"
    "    p = nm.plot.mask(layer, {view = 'magnitude', title = ('%s: %s, |w| of the kept weights'):format(mname, layer.name),\n"
    "                            params = {model = mname, layer = layer.name}})\n"
    "  elseif screen == 'activations' then\n"
    "    local a = ctx.act\n"
    "    if not a then error('the Activations screen has nothing to export: ' .. (ctx.note or 'no forward pass'), 0) end\n"
    "    local kept = {}\n"
    "    for i = 1, a.h * a.w do kept[i] = a.after[i] ~= 0 end\n"
    "    p = nm.plot.heatmap{values = grid(a.before, a.h, a.w), mask = grid(kept, a.h, a.w),\n"
    "      value_label = 'input (before ReLU)', xlabel = 'x', ylabel = 'y',\n"
    "      title = ('%s: %s channel %d/%d, ReLU + %d:%d %s (kept on the ramp, dropped grey)'):format(\n"
    "        mname, a.layer, a.channel, a.channels, a.n, a.m, a.policy),\n"
    "      params = {model = mname, layer = a.layer, channel = a.channel, n = a.n, m = a.m, policy = a.policy,\n"
    "                sample = a.sample}}\n"
    "  elseif screen == 'array' then\n"
    "    if not nm.sim then error('this build has no nm.sim', 0) end\n"
    "    local sys = nm.sim.system{mac = ctx.mac, rows = ctx.rows, cols = ctx.cols}\n"
    "    local r = sys:run(model)\n"
    "    p = nm.plot.utilization(r, {title = ('%s on %s %dx%d: utilization per layer'):format(mname, ctx.mac_name, ctx.rows, ctx.cols),\n"
    "                                params = {model = mname, mac = ctx.mac, rows = ctx.rows, cols = ctx.cols}})\n"
    "  elseif screen == 'energy' then\n"
    "    if not nm.sim then error('this build has no nm.sim', 0) end\n"
    "    local reports = {}\n"
    "    for _, s in ipairs({{'pmac', 32}, {'bmac', 20}, {'nm-4-4', 16}, {'nm-6-4', 15}}) do\n"
    "      local r = nm.sim.system{mac = s[1], rows = s[2], cols = s[2]}:run(model)\n"
    "      r.label = s[1] .. ' ' .. s[2] .. 'x' .. s[2]\n"
    "      reports[#reports + 1] = r\n"
    "    end\n"
    "    p = nm.plot.energy(reports, {title = mname .. ': energy of four equal-area systems'})\n"
    "  else\n"
    "    p = nm.plot.layer_density(model, {title = mname .. ': density per layer'})\n"
    "  end\n"
    "  local name = free_name(screen, model)\n"
    "  local ok, err = p:save(name)\n"
    "  p:free()\n"
    "  if not ok then error(err, 0) end\n"
    "  return 'exported ' .. name\n"
    "end\n";

/* Pushes n floats as a Lua array. */
static void push_floats(lua_State *L, const float *v, int n)
{
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushnumber(L, v[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

/* Sets the global _TUI_CTX to what the current screen shows. */
static void push_context(tui_app *a, lua_State *L)
{
    static const char *what[WB_SCREEN_COUNT] = {"layers", "mask", "activations", "array", "energy", "console", "runs"};
    lua_newtable(L);
    nmlua_set_str(L, "screen", what[a->s.screen]);
    lua_getglobal(L, "model");
    lua_setfield(L, -2, "model");
    lua_getglobal(L, "layer");
    lua_setfield(L, -2, "layer");
    if (a->s.screen == WB_SCREEN_ARRAY) {
        nmlua_set_str(L, "mac", a->settings.array_mac);
        /* the name the screen shows ("nm-4:9-4:9"): the config's first word */
        char name[64] = "";
        sscanf(a->s.array.config, "mac=%63s", name);
        nmlua_set_str(L, "mac_name", name[0] ? name : a->settings.array_mac);
        nmlua_set_int(L, "rows", a->settings.array_rows);
        nmlua_set_int(L, "cols", a->settings.array_cols);
    }
    const wb_act *v = &a->s.act;
    if (a->s.screen == WB_SCREEN_ACTIVATIONS && a->s.have_act && v->before && v->after && v->h > 0 && v->w > 0) {
        lua_newtable(L);
        nmlua_set_str(L, "layer", v->layer);
        nmlua_set_int(L, "channel", v->channel + 1);
        nmlua_set_int(L, "channels", v->channels);
        nmlua_set_int(L, "h", v->h);
        nmlua_set_int(L, "w", v->w);
        push_floats(L, v->before, v->h * v->w);
        lua_setfield(L, -2, "before");
        push_floats(L, v->after, v->h * v->w);
        lua_setfield(L, -2, "after");
        nmlua_set_int(L, "n", v->n);
        nmlua_set_int(L, "m", v->m);
        nmlua_set_str(L, "policy", v->policy ? "topk" : "first");
        nmlua_set_str(L, "sample", v->sample);
        lua_setfield(L, -2, "act");
    } else if (a->s.screen == WB_SCREEN_ACTIVATIONS) {
        nmlua_set_str(L, "note", v->note);
    }
    lua_setglobal(L, "_TUI_CTX");
}

void tui_export(tui_app *a)
{
    if (a->s.screen == WB_SCREEN_RUNS) {   /* the Pareto plot, drawn in C */
        tui_runs_export(a);
        return;
    }
    lua_State *L = nmlua_host_state(a->host);
    int top = lua_gettop(L);
    lua_getglobal(L, "nm");
    int defined = lua_istable(L, -1) && lua_getfield(L, -1, "_tui_export") == LUA_TFUNCTION;
    lua_settop(L, top);
    if (!defined && nmlua_host_run_string(a->host, export_lua, "=tui_export") != NMLUA_OK) {
        tui_status(a, "export failed: %s", nmlua_host_error(a->host));
        return;
    }
    push_context(a, L);
    tui_run_lua(a,
                "local ok, msg = pcall(nm._tui_export, _TUI_CTX)\n"
                "_TUI_CTX = nil\n"
                "_TUI_EXPORTED = ok and msg or ('export failed: ' .. tostring(msg))",
                NULL);
    lua_getglobal(L, "_TUI_EXPORTED");
    tui_status(a, "%s", lua_isstring(L, -1) ? lua_tostring(L, -1) : "export failed");
    lua_pop(L, 1);
}
