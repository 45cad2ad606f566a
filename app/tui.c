/* tui.c - the workbench: start-up, the event loop, the pump that keeps the
 * screen alive while Lua runs, and the console's glue to the Lua host.
 *
 * One thread owns curses. Scripts and engine operations run on it too; the
 * host's count hook calls tui_pump every 50 ms, which reads keys without
 * blocking, handles resize and redraws, and reports Ctrl-C so the host
 * cancels the script. A Lua error or a cancel only ever ends the script. */
#define _XOPEN_SOURCE_EXTENDED 1
#include "tui.h"
#include "nmlua.h"
#include "zoo.h"
#include "nmio.h"
#include "prune.h"
#include "cli.h"
#include "fileutil.h"
#include "history.h"
#include "nmlab_config.h"

#include <curses.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t g_sigint, g_quit;

static void on_sigint(int sig) { (void)sig; g_sigint = 1; }
static void on_quit(int sig) { (void)sig; g_quit = 1; }

/* Console helpers defined in Lua: evaluation with `return` first (so
 * expressions print), incomplete-chunk detection, and name completion. */
static const char *tui_prelude =
    "local function show(v)\n"
    "  if type(v) == 'table' and getmetatable(v) == nil then\n"
    "    local parts, n = {}, 0\n"
    "    for k, x in pairs(v) do\n"
    "      n = n + 1\n"
    "      if n > 12 then parts[#parts + 1] = '...'; break end\n"
    "      parts[#parts + 1] = tostring(k) .. '=' .. tostring(x)\n"
    "    end\n"
    "    return '{' .. table.concat(parts, ', ') .. '}'\n"
    "  end\n"
    "  return tostring(v)\n"
    "end\n"
    "function _TUI_EVAL(src)\n"
    "  _TUI_INCOMPLETE = false\n"
    "  local f, err = load('return ' .. src, '=console', 't')\n"
    "  if not f then f, err = load(src, '=console', 't') end\n"
    "  if not f then\n"
    "    if err:find('<eof>$') then _TUI_INCOMPLETE = true; return end\n"
    "    error(err, 0)\n"
    "  end\n"
    "  local r = table.pack(f())\n"
    "  if r.n > 0 then\n"
    "    local out = {}\n"
    "    for i = 1, r.n do out[i] = show(r[i]) end\n"
    "    print(table.concat(out, '\\t'))\n"
    "  end\n"
    "end\n"
    "-- fields read with '.' on models and layers (methods go after ':')\n"
    "local _TUI_FIELDS = {'name', 'kind', 'index', 'weight', 'mask', 'bias', 'filters', 'in_chans',\n"
    "  'in_shape', 'out_shape', 'inputs', 'model', 'input', 'params', 'macs'}\n"
    "function _TUI_COMPLETE(word)\n"
    "  local path, last = word:match('^(.-)([%w_]*)$')\n"
    "  local sep = path:sub(-1)\n"
    "  local t = _G\n"
    "  for key in path:gmatch('([%w_]+)[.:]') do\n"
    "    local ok, v = pcall(function() return t[key] end)\n"
    "    if not ok or v == nil then return {} end\n"
    "    t = v\n"
    "  end\n"
    "  local names = {}\n"
    "  if type(t) == 'table' then\n"
    "    for k, v in pairs(t) do\n"
    "      if type(k) == 'string' and (sep ~= ':' or type(v) == 'function') then names[#names + 1] = k end\n"
    "    end\n"
    "  elseif sep == ':' or sep == '' then\n"
    "    for k in pairs(nm._methods(t)) do names[#names + 1] = k end  -- metatables are locked\n"
    "  else\n"
    "    for _, k in ipairs(_TUI_FIELDS) do\n"
    "      local ok, v = pcall(function() return t[k] end)\n"
    "      if ok and v ~= nil and type(v) ~= 'function' then names[#names + 1] = k end\n"
    "    end\n"
    "  end\n"
    "  local out = {}\n"
    "  for _, k in ipairs(names) do\n"
    "    if k:sub(1, #last) == last and k:sub(1, 1) ~= '_' then out[#out + 1] = path .. k end\n"
    "  end\n"
    "  table.sort(out)\n"
    "  return out\n"
    "end\n";

void tui_status(tui_app *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->s.status, sizeof a->s.status, fmt, ap);
    va_end(ap);
}

/* print() and io.write() go to the console log while the TUI runs. */
static int tui_print(lua_State *L)
{
    tui_app *a = lua_touserdata(L, lua_upvalueindex(1));
    int sep = lua_toboolean(L, lua_upvalueindex(2));
    int n = lua_gettop(L); /* before buffinit, which may push a box */
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        size_t len;
        const char *s = luaL_tolstring(L, i, &len);
        luaL_addlstring(&b, s, len);
        lua_pop(L, 1);
        if (sep && i < n)
            luaL_addchar(&b, '\t');
    }
    luaL_pushresult(&b);
    wb_log_add(&a->s.log, WB_LOG_OUT, lua_tostring(L, -1));
    return 0;
}

static int get_model_cf(lua_State *L)
{
    lua_pushlightuserdata(L, nmlua_check_model(L, 1));
    return 1;
}

nm_model *tui_model(tui_app *a)
{
    lua_State *L = nmlua_host_state(a->host);
    int top = lua_gettop(L);
    nm_model *m = NULL;
    lua_pushcfunction(L, get_model_cf);
    lua_getglobal(L, "model");
    if (luaL_testudata(L, -1, NMLUA_MODEL) && lua_pcall(L, 1, 1, 0) == LUA_OK)
        m = lua_touserdata(L, -1);
    lua_settop(L, top);
    return m;
}

void tui_weights_changed(tui_app *a)
{
    a->stats_stale = 1;
    a->axis_stale = 1;
    tui_sim_touch(a);
    tui_act_touch(a);
}

/* Counts per-layer stats of `m` into *buf (grown as needed); returns 0 on
 * out of memory, leaving the views to count for themselves. */
static int count_stats(const nm_model *m, nm_layer_stats **buf, int *n)
{
    if (*n != m->n_layers) {
        free(*buf);
        *n = 0;
        *buf = malloc((size_t)(m->n_layers ? m->n_layers : 1) * sizeof **buf);
        if (!*buf)
            return 0;
        *n = m->n_layers;
    }
    for (int i = 0; i < m->n_layers; i++)
        nm_layer_stats_get(m, i, &(*buf)[i]);
    return 1;
}

/* Follows the Lua global `model`: when a script replaces it, the views
 * switch to the new model and its pruning history starts afresh. */
void tui_sync_model(tui_app *a)
{
    nm_model *m = tui_model(a);
    if (m != a->seen) {
        nm_model_free(a->base);
        undo_snap_free(a->saved_snap);
        a->saved_snap = NULL;
        a->saved = NULL;
        a->base = m ? nm_model_clone(m) : NULL;
        a->seen = m;
        if (!a->base || !count_stats(a->base, &a->base_stats, &a->n_base_stats)) {
            free(a->base_stats);
            a->base_stats = NULL;
            a->n_base_stats = 0;
        }
        tui_weights_changed(a); /* a new model may reuse a freed one's address */
        a->s.selected = 0;
        a->s.scroll = 0;
        a->s.cur_r = a->s.cur_c = a->s.view_r = a->s.view_c = 0;
        undo_clear(&a->undo);
        /* select the first prunable layer */
        for (int i = 0; m && i < m->n_layers; i++)
            if (nm_layer_prunable(&m->layers[i])) {
                a->s.selected = i;
                break;
            }
    }
    a->s.model = m;
    a->s.base = a->base;
    if (m && a->s.selected >= m->n_layers)
        a->s.selected = m->n_layers - 1;
    if (m) {
        lua_State *L = nmlua_host_state(a->host);
        lua_getglobal(L, "model");
        lua_getfield(L, -1, "layer");
        lua_pushvalue(L, -2);
        lua_pushinteger(L, a->s.selected + 1);
        if (lua_pcall(L, 2, 1, 0) == LUA_OK)
            lua_setglobal(L, "layer");
        else
            lua_pop(L, 1);
        lua_pop(L, 1);
    }
}

/* Gives the views the cached stats, recounting the model's when touched
 * (and, while a script runs, at most twice a second so that a script's
 * pruning shows live) and the base's when the base changed. */
static void refresh_stats(tui_app *a)
{
    const nm_model *m = a->s.model;
    a->s.stats = a->s.base_stats = NULL;
    if (!m)
        return;
    if (a->s.busy && nm_now() - a->stats_at > 0.5)
        a->stats_stale = 1;
    if (a->stats_stale || a->n_stats != m->n_layers) {
        if (!count_stats(m, &a->stats, &a->n_stats))
            return;
        a->stats_stale = 0;
        a->stats_at = nm_now();
    }
    a->s.stats = a->stats;
    if (a->s.base && a->n_base_stats == a->s.base->n_layers && a->s.base->n_layers == m->n_layers)
        a->s.base_stats = a->base_stats;
}

/* The axis along which the selected layer's mask holds its declared N:M:
 * the layer's default axis if it holds there, else the first of kernel,
 * in, row that it holds along (a script may have pruned along any). Found
 * once per change of the weights or the selection, for the Mask screen's
 * ruler (nm_group_axis + 1; 0: none holds, the view uses the default). */
static void mask_axis_refresh(tui_app *a)
{
    const nm_model *m = a->s.model;
    if (!m || a->s.selected < 0 || a->s.selected >= m->n_layers) {
        a->s.mask_axis = 0;
        return;
    }
    if (!a->axis_stale && a->axis_model == m && a->axis_layer == a->s.selected)
        return;
    a->axis_stale = 0;
    a->axis_model = m;
    a->axis_layer = a->s.selected;
    a->s.mask_axis = 0;
    const nm_layer *l = &m->layers[a->s.selected];
    if (!nm_layer_prunable(l) || !l->weight || l->wm <= 0)
        return;
    nm_group_axis order[4] = {nm_group_axis_default(l), NM_GROUP_KERNEL, NM_GROUP_IN, NM_GROUP_ROW};
    for (int i = 0; i < 4; i++) {
        int64_t viol = 0;
        if (nm_check_nm(l->weight, l->mask, l->wn, l->wm, order[i], &viol, NULL) == NM_OK && viol == 0) {
            a->s.mask_axis = (int)order[i] + 1;
            return;
        }
    }
}

static void draw(tui_app *a)
{
    tui_grid *g = a->grid;
    if (!a->headless) {
        int w, h;
        term_size(&w, &h);
        if (w != g->w || h != g->h)
            tui_grid_resize(g, w, h);
    }
    if (g->w < TUI_MIN_W || g->h < TUI_MIN_H) {
        view_too_small(g, TUI_MIN_W, TUI_MIN_H);
    } else {
        if (!a->s.busy) {
            tui_sim_update(a);
            tui_energy_update(a);
            tui_act_update(a);
        }
        refresh_stats(a);
        if (a->s.screen == WB_SCREEN_MASK && !a->s.busy)
            mask_axis_refresh(a);
        if (a->s.screen == WB_SCREEN_RUNS)
            tui_runs_update(a);
        int nkeys;
        const wb_key_help *keys = tui_keymap_help(&nkeys);
        wb_draw(g, &a->s, keys, nkeys);
        if (a->form.open)
            tui_form_draw(g, &a->form);
        if (a->setup.open)
            tui_setup_draw(g, &a->setup);
        if (a->files.mode)
            tui_files_draw(g, &a->files);
    }
    if (!a->headless)
        term_flush(&a->ti, g);
}

/* 1 if a key is waiting (queued by the pump, or in the terminal): the
 * main loop then handles it before drawing, so that keys typed or pasted
 * faster than frames are drawn never wait behind one frame each. */
static int input_waiting(tui_app *a)
{
    if (a->n_pending > 0)
        return 1;
    timeout(0);
    int ch = getch();
    timeout(50);
    if (ch == ERR)
        return 0;
    a->pending[a->n_pending++] = ch;
    return 1;
}

/* Called by the Lua host's hook while a script runs. */
static int tui_pump(void *ud)
{
    tui_app *a = ud;
    if (!a->headless) {
        /* keep the keys typed while the script runs: the main loop
         * handles them afterwards, in order */
        int ch;
        while ((ch = getch()) != ERR) {
            if (ch == KEY_RESIZE)
                continue; /* draw() picks up the new size */
            if (ch == 3) /* Ctrl-C delivered as a key (raw terminals) */
                g_sigint = 1;
            else if (a->n_pending < (int)(sizeof a->pending / sizeof a->pending[0]))
                a->pending[a->n_pending++] = ch;
        }
    }
    a->s.model = tui_model(a) == a->seen ? a->seen : NULL; /* never draw a freed model */
    draw(a);
    if (g_sigint) {
        g_sigint = 0;
        return 1;
    }
    return 0;
}

static void host_progress(void *ud, double fraction, const char *what)
{
    tui_app *a = ud;
    a->s.progress = fraction;
    snprintf(a->s.progress_what, sizeof a->s.progress_what, "%s", what ? what : "");
}

/* Runs Lua code from the console or a UI action; records an undo step when
 * the masks changed. `echo` (if set) is logged as the input line. */
void tui_run_lua(tui_app *a, const char *code, const char *echo)
{
    if (echo)
        wb_log_add(&a->s.log, WB_LOG_INPUT, echo);
    nm_model *m = tui_model(a);
    undo_snap *before = m ? undo_snap_take(m) : NULL;
    if (before)
        undo_snap_set_note(before, a->s.settings);
    a->s.busy = 1;
    a->s.progress = -1;
    snprintf(a->s.progress_what, sizeof a->s.progress_what, "running");
    g_sigint = 0;
    draw(a); /* show "running" now: C operations may not pump for a while */
    nmlua_status st = nmlua_host_run_string(a->host, code, "=console");
    a->s.busy = 0;
    if (st == NMLUA_OK) {
        tui_status(a, "done");
    } else {
        wb_log_add(&a->s.log, WB_LOG_ERROR, nmlua_host_error(a->host));
        tui_status(a, st == NMLUA_CANCELLED ? "cancelled: the workbench is as the script left it"
                      : st == NMLUA_NOMEM  ? "stopped: out of memory (see console)"
                                           : "Lua error (see console, screen 6)");
        if (st == NMLUA_CANCELLED)
            wb_log_add(&a->s.log, WB_LOG_INFO, "-- cancelled by Ctrl-C");
    }
    tui_weights_changed(a);
    nm_model *now = tui_model(a);
    if (before && now == m && m == a->seen && !undo_snap_same(before, m))
        undo_push(&a->undo, before);
    else
        undo_snap_free(before);
    tui_sync_model(a);
}

/* Console input line submitted (Enter). */
void tui_console_submit(tui_app *a)
{
    char line[WB_INPUT_MAX + 1];
    memcpy(line, a->s.input, (size_t)a->s.input_len);
    line[a->s.input_len] = '\0';
    a->s.input_len = a->s.input_cursor = 0;
    a->s.log_scroll = 0;
    if (line[0] && (a->n_hist == 0 || strcmp(a->hist[a->n_hist - 1], line) != 0)) {
        if (a->n_hist == TUI_HIST_MAX) {
            free(a->hist[0]);
            memmove(a->hist, a->hist + 1, (TUI_HIST_MAX - 1) * sizeof *a->hist);
            a->n_hist--;
        }
        a->hist[a->n_hist++] = strdup(line);
    }
    a->hist_pos = a->n_hist;
    if (!a->s.continuation && strncmp(line, ":run ", 5) == 0) {
        lua_State *L = nmlua_host_state(a->host);
        lua_pushstring(L, line + 5);
        lua_setglobal(L, "_TUI_FILE");
        tui_run_lua(a, "dofile(_TUI_FILE)", line);
        return;
    }
    size_t used = strlen(a->chunk);
    if (used + strlen(line) + 2 >= sizeof a->chunk) {
        wb_log_add(&a->s.log, WB_LOG_ERROR, "input too long; discarded");
        a->chunk[0] = '\0';
        a->s.continuation = 0;
        return;
    }
    if (used)
        strcat(a->chunk, "\n");
    strcat(a->chunk, line);
    lua_State *L = nmlua_host_state(a->host);
    lua_pushstring(L, a->chunk);
    lua_setglobal(L, "_TUI_SRC");
    char echo[WB_INPUT_MAX + 4];
    snprintf(echo, sizeof echo, "%s%s", a->s.continuation ? ">> " : "> ", line);
    tui_run_lua(a, "_TUI_EVAL(_TUI_SRC)", echo);
    lua_getglobal(L, "_TUI_INCOMPLETE");
    a->s.continuation = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (!a->s.continuation)
        a->chunk[0] = '\0';
}

/* Tab in the console: completes the name before the cursor. */
void tui_console_complete(tui_app *a)
{
    int end = a->s.input_cursor, start = end;
    while (start > 0 && (a->s.input[start - 1] == '_' || a->s.input[start - 1] == '.' ||
                         a->s.input[start - 1] == ':' ||
                         (a->s.input[start - 1] >= '0' && a->s.input[start - 1] <= '9') ||
                         ((a->s.input[start - 1] | 32) >= 'a' && (a->s.input[start - 1] | 32) <= 'z')))
        start--;
    char word[256];
    int wl = end - start < 255 ? end - start : 255;
    memcpy(word, a->s.input + start, (size_t)wl);
    word[wl] = '\0';
    lua_State *L = nmlua_host_state(a->host);
    lua_getglobal(L, "_TUI_COMPLETE");
    lua_pushstring(L, word);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_istable(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    int n = (int)luaL_len(L, -1);
    if (n == 0) {
        tui_status(a, "no completion for '%s'", word);
    } else {
        /* the longest common prefix of all candidates */
        lua_rawgeti(L, -1, 1);
        char common[256];
        snprintf(common, sizeof common, "%s", lua_tostring(L, -1));
        lua_pop(L, 1);
        char list[4096] = "";
        for (int i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, i);
            const char *c = lua_tostring(L, -1);
            int k = 0;
            while (common[k] && c[k] == common[k])
                k++;
            common[k] = '\0';
            if (strlen(list) + strlen(c) + 3 < sizeof list) {
                strcat(list, c);
                strcat(list, "  ");
            }
            lua_pop(L, 1);
        }
        int add = (int)strlen(common) - wl;
        if (add > 0 && a->s.input_len + add < WB_INPUT_MAX) {
            memmove(a->s.input + end + add, a->s.input + end, (size_t)(a->s.input_len - end));
            memcpy(a->s.input + end, common + wl, (size_t)add);
            a->s.input_len += add;
            a->s.input_cursor += add;
        }
        if (n > 1) { /* the candidates, wrapped to the console's width */
            int w = a->grid->w - 4 > 20 ? a->grid->w - 4 : 20;
            const char *p = list;
            while (*p) {
                int len = (int)strlen(p), cut = len;
                if (len > w) {
                    cut = w;
                    while (cut > 0 && p[cut] != ' ')
                        cut--;
                    if (cut == 0)
                        cut = w;
                }
                char line[1100];
                snprintf(line, sizeof line, "%.*s", cut, p);
                wb_log_add(&a->s.log, WB_LOG_INFO, line);
                p += cut;
                while (*p == ' ')
                    p++;
            }
        }
    }
    lua_pop(L, 1);
}

static void load_history(tui_app *a)
{
    history_load(a->history_file, a->hist, &a->n_hist, TUI_HIST_MAX, WB_INPUT_MAX + 2);
    a->hist_pos = a->n_hist;
}

static void save_state(tui_app *a)
{
    a->settings.theme_dark = a->s.theme_dark;
    a->settings.mouse = a->s.mouse;
    a->settings.present = a->s.present;
    if (a->settings_file[0] && settings_save(&a->settings, a->settings_file) != NM_OK)
        fprintf(stderr, "nmlab: could not save settings: %s\n", nm_errmsg());
    if (a->history_file[0]) {
        nm_atomic_file af;
        if (nm_atomic_begin(&af, a->history_file) == NM_OK) {
            for (int i = 0; i < a->n_hist; i++)
                fprintf(af.f, "%s\n", a->hist[i]);
            nm_atomic_commit(&af);
        }
    }
}

static wb_screen screen_from_name(const char *name)
{
    static const char *names[WB_SCREEN_COUNT] = {"layers", "mask", "activations", "array", "energy", "console", "runs"};
    for (int i = 0; name && i < WB_SCREEN_COUNT; i++)
        if (strcmp(name, names[i]) == 0 || (name[0] == '1' + i && !name[1]))
            return (wb_screen)i;
    return WB_SCREEN_LAYERS;
}

/* Edit distance of a and b (short names only), for "did you mean". */
static int edit_distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 63 || lb > 63)
        return 99;
    int d[64][64];
    for (int i = 0; i <= la; i++)
        d[i][0] = i;
    for (int j = 0; j <= lb; j++)
        d[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
            d[i][j] = c;
        }
    return d[la][lb];
}

/* The model named on the command line could not be opened: the workbench
 * starts with no model (never a different one in its place) and says why
 * in a message box, the status line and the console. */
static void open_failed(tui_app *a, const char *path, const char *reason)
{
    char hint[200] = "";
    if (!strchr(path, '/') && !strchr(path, '.')) {
        /* a bare word: probably a zoo name */
        const char *const *names = nm_zoo_list();
        const char *best = NULL;
        int bd = 4;
        for (int i = 0; names && names[i]; i++) {
            int d = edit_distance(path, names[i]);
            if (d < bd)
                bd = d, best = names[i];
        }
        if (best)
            snprintf(hint, sizeof hint, "\n\n'%s' is not a zoo model either; did you mean %s?", path, best);
        else
            snprintf(hint, sizeof hint, "\n\n'%s' is not a zoo model either (nmlab --help lists them).", path);
    }
    snprintf(a->s.alert_title, sizeof a->s.alert_title, "Could not open %s", path);
    snprintf(a->s.alert, sizeof a->s.alert,
             "%s%s\n\nNo model is open. Press o (F4) to open one, or load one from the console (6): "
             "model = nm.zoo('resnet18') or "
             "model = assert(nm.load('file.onnx')).",
             reason, hint);
    wb_log_add(&a->s.log, WB_LOG_ERROR, a->s.alert_title);
    wb_log_add(&a->s.log, WB_LOG_ERROR, reason);
    tui_status(a, "could not open %s: %s", path, reason);
}

/* Loads the start model into the Lua global `model`. */
static void load_start_model(tui_app *a, const char *path, const char *input)
{
    nm_onnx_opts o = {0};
    int sizes[NM_MAX_GRAPH_INPUTS][3];
    int n_sizes = input ? cli_parse_inputs(input, sizes, NM_MAX_GRAPH_INPUTS) : 0; /* checked */
    for (int k = 0; k < n_sizes; k++) {
        if (k == 0)
            o.in_c = sizes[0][0], o.in_h = sizes[0][1], o.in_w = sizes[0][2];
        else
            memcpy(o.xin_size[k - 1], sizes[k], sizeof sizes[k]);
    }
    lua_State *L = nmlua_host_state(a->host);
    nm_model *m = NULL;
    char *warn = NULL;
    /* no MODEL given: the last one opened from the command line, if any
     * (copied: path must not alias the settings it is saved into) */
    char last[sizeof a->settings.last_model];
    int reopen = !path && a->settings.last_model[0];
    if (reopen) {
        snprintf(last, sizeof last, "%s", a->settings.last_model);
        path = last;
    }
    if (nm_zoo_has(path)) {
        m = nm_zoo(path, 1);
        if (!m && !reopen) {
            open_failed(a, path, nm_errmsg());
            return;
        }
        if (m)
            snprintf(a->settings.last_model, sizeof a->settings.last_model, "%s", path);
        else
            wb_log_add(&a->s.log, WB_LOG_ERROR, nm_errmsg());
    } else if (path) {
        m = nm_model_load_opts(path, &o, &warn);
        if (m && n_sizes > nm_model_n_inputs(m)) {
            nm_seterr("--input gives %d sizes but %s has %d graph input(s)", n_sizes, path,
                      nm_model_n_inputs(m));
            nm_model_free(m);
            m = NULL;
        }
        if (!m && strstr(nm_errmsg(), "is symbolic") && !input) {
            /* ask for the input size: the console line that loads it,
             * ready to edit and run */
            wb_log_add(&a->s.log, WB_LOG_ERROR, nm_errmsg());
            lua_State *Ls = nmlua_host_state(a->host);
            lua_getglobal(Ls, "string");
            lua_getfield(Ls, -1, "format");
            int gc = 3, gh = 224, gw = 224;
            nm_onnx_input_guess(path, 224, &gc, &gh, &gw);   /* else the ImageNet size */
            lua_pushstring(Ls, "model = assert(nm.load(%q, {input = {%d, %d, %d}}))");
            lua_pushstring(Ls, path);
            lua_pushinteger(Ls, gc), lua_pushinteger(Ls, gh), lua_pushinteger(Ls, gw);
            if (lua_pcall(Ls, 5, 1, 0) == LUA_OK && lua_tostring(Ls, -1))
                snprintf(a->s.input, WB_INPUT_MAX, "%s", lua_tostring(Ls, -1));
            lua_pop(Ls, 2);
            a->s.input_len = a->s.input_cursor = (int)strlen(a->s.input);
            a->s.screen = WB_SCREEN_CONSOLE;
            tui_status(a, "%s needs its input size: edit {C, H, W} below and press Enter", path);
        } else if (!m && reopen) {
            wb_log_add(&a->s.log, WB_LOG_ERROR, nm_errmsg());
        } else if (!m) {
            open_failed(a, path, nm_errmsg());
        } else {
            snprintf(a->settings.last_model, sizeof a->settings.last_model, "%s", path);
        }
        if (warn)
            wb_log_add(&a->s.log, WB_LOG_INFO, warn);
        free(warn);
        if (!m && (!reopen || a->s.screen == WB_SCREEN_CONSOLE))
            return; /* never a different model in its place */
    }
    if (m && reopen)
        tui_status(a, "reopened %s, the last model (nmlab MODEL opens another)", path);
    char why[420] = "";
    if (!m && reopen) { /* the last model is gone: the default, and say so */
        snprintf(why, sizeof why, "could not reopen the last model %.200s (%.150s): opened the default", path, nm_errmsg());
        path = NULL;
        a->settings.last_model[0] = '\0';
    }
    if (!m && !path) {   /* the shipped trained model, here or in the source tree */
        const char *roots[] = {".", NMLAB_SOURCE_ROOT};
        char file[1200];
        for (int i = 0; i < 2 && !m; i++) {
            snprintf(file, sizeof file, "%s/%s", roots[i], NMLAB_DEFAULT_MODEL_FILE);
            if (access(file, R_OK) == 0 && (m = nm_model_load(file, NULL)) != NULL)
                tui_status(a, "opened the trained model %s", file);
        }
    }
    if (!m) {
        m = nm_zoo(NMLAB_DEFAULT_MODEL, 1);
        if (!m) {
            wb_log_add(&a->s.log, WB_LOG_ERROR, nm_errmsg());
            return;
        }
        if (!path)
            tui_status(a, "%s not found: zoo %s with synthetic (untrained) weights",
                       NMLAB_DEFAULT_MODEL_FILE, NMLAB_DEFAULT_MODEL);
    }
    if (why[0]) {
        wb_log_add(&a->s.log, WB_LOG_ERROR, why);
        tui_status(a, "%s", why);
    }
    nmlua_push_model(L, m);
    lua_setglobal(L, "model");
    tui_sync_model(a);
}

static void handle_mouse(tui_app *a)
{
    MEVENT ev;
    if (getmouse(&ev) != OK)
        return;
    if (ev.bstate & BUTTON4_PRESSED) {
        tui_handle_key(a, KEY_UP);
        return;
    }
    if (ev.bstate & BUTTON5_PRESSED) {
        tui_handle_key(a, KEY_DOWN);
        return;
    }
    if (!(ev.bstate & (BUTTON1_CLICKED | BUTTON1_PRESSED)))
        return;
    if (ev.y == 0) { /* the screen tabs in the header */
        static const int starts[WB_SCREEN_COUNT + 1] = {7, 17, 25, 40, 49, 59, 70, 78};
        for (int i = 0; i < WB_SCREEN_COUNT; i++)
            if (ev.x >= starts[i] && ev.x < starts[i + 1])
                a->s.screen = (wb_screen)i;
        return;
    }
    if (a->s.screen == WB_SCREEN_LAYERS && a->s.model && ev.y >= 3) {
        int row = a->s.scroll + ev.y - 3;
        int *order = malloc((size_t)a->s.model->n_layers * sizeof *order);
        if (order && row < a->s.model->n_layers) {
            wb_layer_order(&a->s, order);
            a->s.selected = order[row];
            tui_sync_model(a);
        }
        free(order);
    } else if (a->s.screen == WB_SCREEN_MASK) {
        wb_mask_cell_at(&a->s, ev.x - 2, ev.y - 4, &a->s.cur_r, &a->s.cur_c);
    } else if (a->s.model) { /* a layer row of the Activations, Array or Energy screen */
        const char *name = wb_hit_at(&a->s, ev.x, ev.y);
        int idx = name ? nm_model_find(a->s.model, name) : -1;
        if (idx >= 0) {
            a->s.selected = idx;
            tui_sync_model(a);
        }
    }
}

int tui_main(const tui_options *opt)
{
    tui_app *a = calloc(1, sizeof *a);
    if (!a)
        return 1;
    settings_defaults(&a->settings);
    /* batch mode (--frames) neither reads nor writes the user's settings and
     * history: its frames depend on the command line only */
    if (opt->frames <= 0) {
        if (settings_path("settings.conf", a->settings_file, sizeof a->settings_file))
            settings_load(&a->settings, a->settings_file);
        settings_path("history", a->history_file, sizeof a->history_file);
        load_history(a);
    }
    a->s.theme_dark = a->settings.theme_dark;
    a->s.mouse = a->settings.mouse;
    a->s.screen = screen_from_name(opt->screen);
    a->s.present = a->settings.present;
    a->form.n = a->settings.nm_n, a->form.m = a->settings.nm_m, a->form.pct = 50, a->form.rounds = 3;
    a->headless = opt->frames > 0;
    a->undo.note = a->s.settings; /* undo brings back the header's settings too */
    a->undo.note_len = sizeof a->s.settings;

    nmlua_options lo = opt->lua;
    lo.pump = tui_pump;
    lo.pump_ud = a;
    lo.pump_interval_ms = 50;
    lo.progress = host_progress;
    lo.progress_ud = a;
    char err[256];
    a->host = nmlua_host_new(&lo, err, sizeof err);
    if (!a->host) {
        fprintf(stderr, "nmlab: %s\n", err);
        free(a);
        return 1;
    }
    lua_State *L = nmlua_host_state(a->host);
    lua_pushlightuserdata(L, a);
    lua_pushboolean(L, 1);
    lua_pushcclosure(L, tui_print, 2);
    lua_setglobal(L, "print");
    lua_getglobal(L, "io");
    lua_pushlightuserdata(L, a);
    lua_pushboolean(L, 0);
    lua_pushcclosure(L, tui_print, 2);
    lua_setfield(L, -2, "write");
    lua_pop(L, 1);
    if (nmlua_host_run_string(a->host, tui_prelude, "=tui") != NMLUA_OK)
        wb_log_add(&a->s.log, WB_LOG_ERROR, nmlua_host_error(a->host));

    if (a->headless) {
        const char *cols = getenv("COLUMNS"), *lines = getenv("LINES");
        a->grid = tui_grid_new(cols ? atoi(cols) : 100, lines ? atoi(lines) : 30, 1);
        a->s.color = 0;
    } else {
        if (term_begin(&a->ti, a->s.theme_dark, a->s.mouse) != 0) {
            fprintf(stderr, "nmlab: cannot start the terminal UI\n");
            nmlua_host_free(a->host);
            free(a);
            return 1;
        }
        int w, h;
        term_size(&w, &h);
        a->grid = tui_grid_new(w, h, a->ti.utf8);
        a->colors_max = a->ti.colors;
        a->s.color = a->ti.colors != TERM_MONO;
        if (a->settings.colours || a->s.present)
            tui_apply_look(a);
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_quit;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    wb_log_add(&a->s.log, WB_LOG_INFO,
               "nmlab console: Lua 5.4 with `nm`, `model` and `layer` bound. :run FILE runs a script.");
    tui_sim_new(a);
    tui_act_new(a);
    load_start_model(a, opt->model_path, opt->input);
    if (opt->runs)
        tui_runs_open(a, opt->runs);
    if (opt->script) {
        lua_pushstring(L, opt->script);
        lua_setglobal(L, "_TUI_FILE");
        char echo[1100];
        snprintf(echo, sizeof echo, ":run %s", opt->script);
        tui_run_lua(a, "dofile(_TUI_FILE)", echo);
    }

    if (a->headless) {
        /* feed the keys, one per frame after the first */
        char keys[1024] = "";
        if (opt->keys)
            snprintf(keys, sizeof keys, "%s", opt->keys);
        char *save = NULL, *tok = strtok_r(keys, ",", &save);
        for (int f = 0; f < opt->frames; f++) {
            draw(a);
            while (tok && !a->quit) {
                int k = tok[0] == '\'' ? 0 : tui_key_from_name(tok);
                if (tok[0] == '\'')
                    for (const char *c = tok + 1; *c; c++)
                        tui_handle_key(a, (unsigned char)*c);
                else if (k < 0)
                    fprintf(stderr, "nmlab: unknown key name '%s'\n", tok);
                else
                    tui_handle_key(a, k);
                tok = strtok_r(NULL, ",", &save);
                if (f < opt->frames - 1)
                    break;
            }
        }
        draw(a);
        char *text = tui_grid_text(a->grid);
        if (text)
            fputs(text, stdout);
        free(text);
    } else {
        int dirty = 1;
        while (!a->quit && !g_quit) {
            /* redraw only when something changed: a key, a resize, the
             * animation, or a status message */
            if ((dirty || a->s.array.playing) && !input_waiting(a)) {
                draw(a);
                dirty = 0;
            }
            int ch;
            if (a->n_pending > 0) {
                ch = a->pending[0];
                memmove(a->pending, a->pending + 1, (size_t)--a->n_pending * sizeof *a->pending);
            } else {
                ch = getch();
            }
            if (ch == ERR) {
                tui_sim_tick(a);
                if (tui_runs_tick(a))
                    dirty = 1;
                if (g_sigint) {
                    g_sigint = 0;
                    tui_status(a, "Ctrl-C: nothing is running (q quits)");
                    dirty = 1;
                }
                continue;
            }
            dirty = 1;
            if (ch == KEY_RESIZE)
                continue;
            if (ch == KEY_MOUSE) {
                if (a->s.mouse)
                    handle_mouse(a);
                continue;
            }
            tui_handle_key(a, ch);
        }
        term_end();
    }
    save_state(a);
    for (int i = 0; i < a->n_hist; i++)
        free(a->hist[i]);
    undo_clear(&a->undo);
    tui_sim_free(a->sim);
    tui_act_free(a->act);
    tui_runs_free(a->runs);
    undo_snap_free(a->saved_snap);
    nm_model_free(a->base);
    free(a->stats);
    free(a->base_stats);
    wb_log_clear(&a->s.log);
    tui_grid_free(a->grid);
    nmlua_host_free(a->host);
    free(a);
    return 0;
}
