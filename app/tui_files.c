/* tui_files.c - open and save a model from the workbench: a one-line file
 * prompt with Tab completion of paths (only paths the Lua state may touch,
 * so --sandbox holds), then the same Lua the console would run (nm.load or
 * nm.zoo; model:save, which writes atomically). A file that cannot be
 * opened or written is named in the message box with the reason. */
#define _XOPEN_SOURCE_EXTENDED 1
#include "tui.h"

#include "sandbox.h"
#include "zoo.h"

#include <curses.h>
#include <dirent.h>
#include <lauxlib.h>
#include <lua.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void tui_files_open(tui_app *a, int save)
{
    file_prompt *f = &a->files;
    f->mode = save ? 2 : 1;
    f->text[0] = '\0';
    f->hint[0] = '\0';
    if (save && a->s.model)
        snprintf(f->text, sizeof f->text, "%s.safetensors", a->s.model->name);
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Completes f->text as a path: to the longest common prefix of the
 * entries of its folder that start with its last part (a folder gets a
 * '/'); several candidates are listed in f->hint. */
void tui_files_complete(tui_app *a)
{
    file_prompt *f = &a->files;
    lua_State *L = nmlua_host_state(a->host);
    char dir[1024], base[300];
    const char *slash = strrchr(f->text, '/');
    if (slash) {
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - f->text + 1), f->text);
        snprintf(base, sizeof base, "%.255s", slash + 1);
    } else {
        dir[0] = '\0';
        snprintf(base, sizeof base, "%.255s", f->text);
    }
    DIR *d = opendir(dir[0] ? dir : ".");
    if (!d) {
        snprintf(f->hint, sizeof f->hint, "no such folder: %.400s", dir);
        return;
    }
    char common[300] = "", hint[sizeof f->hint] = "";
    int n = 0, refused = 0;
    size_t bl = strlen(base);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (strncmp(e->d_name, base, bl) != 0 || (e->d_name[0] == '.' && base[0] != '.'))
            continue;
        char full[1400];
        snprintf(full, sizeof full, "%s%s", dir, e->d_name);
        if (!nmlua_path_allowed(L, full)) {
            refused++; /* --sandbox: only under the working folder */
            continue;
        }
        char name[300];
        snprintf(name, sizeof name, "%s%s", e->d_name, is_dir(full) ? "/" : "");
        if (n++ == 0) {
            snprintf(common, sizeof common, "%s", name);
        } else {
            size_t k = 0;
            while (common[k] && common[k] == name[k])
                k++;
            common[k] = '\0';
        }
        size_t used = strlen(hint);
        if (used + strlen(name) + 3 < sizeof hint)
            snprintf(hint + used, sizeof hint - used, "%s%s", used ? "  " : "", name);
    }
    closedir(d);
    if (n == 0) {
        if (refused)
            snprintf(f->hint, sizeof f->hint, "--sandbox: only files under the working folder can be opened");
        else
            snprintf(f->hint, sizeof f->hint, "nothing here starts with '%s'", base);
        return;
    }
    snprintf(f->hint, sizeof f->hint, "%s", n > 1 ? hint : "");
    char text[sizeof dir + sizeof common];
    snprintf(text, sizeof text, "%s%s", dir, common);
    size_t tl = strlen(text);
    if (tl < sizeof f->text)
        memcpy(f->text, text, tl + 1);
}

/* A sweep database for the Runs screen: a name ending in .db, or any file
 * that starts as an SQLite database does. */
static int is_database(const char *path)
{
    size_t n = strlen(path);
    if (n > 3 && strcmp(path + n - 3, ".db") == 0)
        return 1;
    char head[16] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    return got == sizeof head && memcmp(head, "SQLite format 3", 16) == 0;
}

/* Runs the open or save through Lua; a failure goes to the message box. */
static void run(tui_app *a)
{
    file_prompt *f = &a->files;
    lua_State *L = nmlua_host_state(a->host);
    char echo[1400];
    const char *code;
    int save = f->mode == 2;
    if (!save && is_database(f->text)) {   /* the Runs screen reads it (tui_runs.c) */
        tui_runs_open(a, f->text);
        return;
    }
    if (save) {
        code = "local ok, e = model:save(_TUI_PATH); if not ok then error(e, 0) end";
        snprintf(echo, sizeof echo, "assert(model:save('%s'))", f->text);
    } else if (!exists(f->text) && nm_zoo_has(f->text)) {
        code = "model = nm.zoo(_TUI_PATH)";
        snprintf(echo, sizeof echo, "model = nm.zoo('%s')", f->text);
    } else {
        code = "local m, e = nm.load(_TUI_PATH); if not m then error(e, 0) end; model = m";
        snprintf(echo, sizeof echo, "model = assert(nm.load('%s'))", f->text);
    }
    if (save && !tui_model(a)) {
        snprintf(a->s.alert_title, sizeof a->s.alert_title, "Nothing to save");
        snprintf(a->s.alert, sizeof a->s.alert, "No model is open.");
        return;
    }
    lua_pushstring(L, f->text);
    lua_setglobal(L, "_TUI_PATH");
    tui_run_lua(a, code, echo);
    if (strncmp(a->s.status, "done", 4) == 0) {
        if (save) {
            a->saved = tui_model(a);
            undo_snap_free(a->saved_snap);
            a->saved_snap = a->saved ? undo_snap_take(a->saved) : NULL;
        }
        tui_status(a, "%s %s", save ? "saved" : "opened", f->text);
        return;
    }
    snprintf(a->s.alert_title, sizeof a->s.alert_title, "Could not %s %.120s", save ? "save to" : "open", f->text);
    const char *err = nmlua_host_error(a->host);
    const char *tb = strstr(err, "\nstack traceback");
    snprintf(a->s.alert, sizeof a->s.alert, "%.*s", tb ? (int)(tb - err) : (int)strlen(err), err);
}

int tui_files_key(tui_app *a, int key)
{
    file_prompt *f = &a->files;
    size_t len = strlen(f->text);
    if (key == 27) {
        f->mode = 0;
        tui_status(a, "cancelled");
    } else if (key == '\t') {
        tui_files_complete(a);
    } else if (key == KEY_ENTER || key == '\r' || key == '\n') {
        if (!f->text[0])
            return 1;
        run(a);
        f->mode = 0;
    } else if (key == KEY_BACKSPACE || key == 127 || key == 8) {
        if (len)
            f->text[len - 1] = '\0';
    } else if (key == ('u' & 0x1f)) {
        f->text[0] = '\0';
    } else if (key >= 32 && key < 256 && len + 1 < sizeof f->text) {
        f->text[len] = (char)key;
        f->text[len + 1] = '\0';
    }
    return 1;
}

void tui_files_draw(tui_grid *g, const file_prompt *f)
{
    int w = g->w - 4 < 90 ? g->w - 4 : 90, h = 6, x = (g->w - w) / 2, y = g->h - 2 - h;
    tui_fill(g, x, y, w, h, ' ', TUI_S_NORMAL);
    tui_fill(g, x, y, w, 1, ' ', TUI_S_HEADER);
    tui_text(g, x + 1, y, w - 2, TUI_S_HEADER,
             f->mode == 2 ? "Save model as (safetensors): Tab completes, Enter saves, Esc cancels"
                          : "Open model (file or zoo name) or sweep .db: Tab completes, Enter opens, Esc cancels");
    /* the end of a long path stays visible */
    size_t len = strlen(f->text);
    int room = w - 6;
    const char *shown = (int)len > room ? f->text + len - room : f->text;
    int cx = x + 2 + tui_text(g, x + 2, y + 2, w - 4, TUI_S_ACCENT, shown);
    tui_put(g, cx, y + 2, ' ', TUI_S_SELECTED);
    tui_text(g, x + 2, y + 4, w - 4, TUI_S_DIM, f->hint);
}
