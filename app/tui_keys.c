/* tui_keys.c - the keymap: one table drives key dispatch and the help
 * screen, so the two cannot drift apart (tig's approach). */
#define _XOPEN_SOURCE_EXTENDED 1
#include "tui.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CTRL(c) ((c) & 0x1f)

/* Screen masks for where a binding applies. */
enum {
    ON_LAYERS = 1 << WB_SCREEN_LAYERS,
    ON_MASK = 1 << WB_SCREEN_MASK,
    ON_ACT = 1 << WB_SCREEN_ACTIVATIONS,
    ON_ARRAY = 1 << WB_SCREEN_ARRAY,
    ON_ENERGY = 1 << WB_SCREEN_ENERGY,
    ON_CONSOLE = 1 << WB_SCREEN_CONSOLE,
    ON_RUNS = 1 << WB_SCREEN_RUNS,
    ON_VIEWS = ON_LAYERS | ON_MASK | ON_ACT | ON_ARRAY | ON_ENERGY | ON_RUNS,
    ON_ALL = ON_VIEWS | ON_CONSOLE,
};

typedef void (*key_fn)(tui_app *a, int key);

typedef struct {
    int keys[4];          /* key codes, 0-terminated */
    int where;            /* screen mask */
    const char *label, *screens, *help;
    key_fn fn;
    const char *fkey, *bar; /* on the function-key bar ("F1", "Help"), or NULL */
} keybind;

static const nm_layer *sel_layer(tui_app *a)
{
    const nm_model *m = a->s.model;
    return m && a->s.selected >= 0 && a->s.selected < m->n_layers ? &m->layers[a->s.selected] : NULL;
}

static void k_screen(tui_app *a, int key)
{
    int n = key - '1';
    a->prev_screen = a->s.screen;
    a->s.screen = (wb_screen)n;
}

static void k_next_screen(tui_app *a, int key)
{
    a->prev_screen = a->s.screen;
    a->s.screen = (wb_screen)((a->s.screen + (key == KEY_BTAB ? WB_SCREEN_COUNT - 1 : 1)) % WB_SCREEN_COUNT);
}

/* F6: the Runs screen; with no database open yet, the open prompt too. */
static void k_runs(tui_app *a, int key)
{
    (void)key;
    a->prev_screen = a->s.screen;
    a->s.screen = WB_SCREEN_RUNS;
    if (!a->runs) {
        tui_files_open(a, 0);
        tui_status(a, "give a sweep database (.db) to open");
    }
}

static void k_help(tui_app *a, int key)
{
    (void)key;
    a->s.show_help = 1;
    a->s.help_scroll = 0;
}
/* q / F10: quits, but first asks when the model's pruning differs from
 * the model as it was opened (nmlab cannot tell whether a script saved
 * it): the same key again quits. */
static void k_quit(tui_app *a, int key)
{
    (void)key;
    nm_model *m = tui_model(a);
    int changed = 0;
    if (m && m == a->seen && a->base) {
        undo_snap *b = undo_snap_take(a->base);
        changed = b && !undo_snap_same(b, m);
        undo_snap_free(b);
        /* saved from the prompt (o/w) with the pruning it has now */
        if (changed && a->saved == m && a->saved_snap && undo_snap_same(a->saved_snap, m))
            changed = 0;
    }
    if (!changed) {
        a->quit = 1;
        return;
    }
    a->quit_asked = 1;
    snprintf(a->s.alert_title, sizeof a->s.alert_title, "Quit with the pruning not saved?");
    snprintf(a->s.alert, sizeof a->s.alert,
             "%s is pruned and differs from the model as it was opened; nmlab does not save models "
             "by itself.\n\nq (or F10) again quits. Any other key stays: save it with w (F5), or from the "
             "console (6) with model:save('pruned.safetensors').",
             m->name);
}

static void k_setup(tui_app *a, int key)
{
    (void)key;
    tui_setup_open(a);
}

static void k_files(tui_app *a, int key)
{
    tui_files_open(a, key == 'w' || key == KEY_F(5));
}

/* b: presentation mode (larger cells, high contrast), kept in the settings. */
static void k_present(tui_app *a, int key)
{
    (void)key;
    a->s.present = a->settings.present = !a->s.present;
    tui_apply_look(a);
    tui_status(a, "presentation mode %s", a->s.present ? "on (b turns it off)" : "off");
}

static void k_theme(tui_app *a, int key)
{
    (void)key;
    a->s.theme_dark = !a->s.theme_dark;
    if (!a->headless)
        term_set_theme(&a->ti, a->s.theme_dark);
    tui_status(a, "%s theme", a->s.theme_dark ? "dark" : "light");
}

static void k_mouse(tui_app *a, int key)
{
    (void)key;
    a->s.mouse = !a->s.mouse;
    if (!a->headless)
        term_set_mouse(&a->ti, a->s.mouse);
    tui_status(a, "mouse %s", a->s.mouse ? "on" : "off");
}

/* Moves the layer selection by `d` rows in table order, counting only conv
 * and linear layers when `prunable_only` (and staying put if there is no
 * such layer that way). */
/* The layers in table order (a new array the caller frees, NULL when
 * there is no model or no memory) and, in *pos, the selected one's row. */
static int *table_order(const tui_app *a, int *pos)
{
    const nm_model *m = a->s.model;
    if (!m || m->n_layers == 0)
        return NULL;
    int *order = malloc((size_t)m->n_layers * sizeof *order);
    if (!order)
        return NULL;
    wb_layer_order(&a->s, order);
    *pos = 0;
    for (int i = 0; i < m->n_layers; i++)
        if (order[i] == a->s.selected)
            *pos = i;
    return order;
}

static void move_selection(tui_app *a, int d, int prunable_only)
{
    const nm_model *m = a->s.model;
    int pos, *order = table_order(a, &pos);
    if (!order)
        return;
    const int n = m->n_layers;
    if (prunable_only) {
        int step = d < 0 ? -1 : 1;
        for (int left = d < 0 ? -d : d, i = pos + step; left > 0 && i >= 0 && i < n; i += step)
            if (nm_layer_prunable(&m->layers[order[i]])) {
                pos = i;
                left--;
            }
    } else {
        pos += d;
        pos = pos < 0 ? 0 : pos >= n ? n - 1 : pos;
    }
    a->s.selected = order[pos];
    free(order);
    a->s.cur_r = a->s.cur_c = a->s.view_r = a->s.view_c = 0;
    tui_sync_model(a);
}

static void k_layers_move(tui_app *a, int key)
{
    int page = a->grid->h - 6;
    int d = key == KEY_UP || key == 'k' ? -1 : key == KEY_DOWN || key == 'j' ? 1
          : key == KEY_PPAGE ? -page : key == KEY_NPAGE ? page : key == KEY_HOME ? -100000 : 100000;
    move_selection(a, d, 0);
}

static void k_sort(tui_app *a, int key)
{
    (void)key;
    a->s.sort = (wb_sort)((a->s.sort + 1) % WB_SORT_COUNT);
}

static void k_open_mask(tui_app *a, int key)
{
    (void)key;
    a->s.screen = WB_SCREEN_MASK;
}

/* [ and ]: the previous/next layer; on the screens about weight matrices
 * (Mask, Array, Energy) the previous/next conv or linear layer. */
static void k_layer_prev_next(tui_app *a, int key)
{
    move_selection(a, key == '[' ? -1 : 1, a->s.screen != WB_SCREEN_ACTIVATIONS);
}

static void k_mask_move(tui_app *a, int key)
{
    /* one character's worth of cells per key, as last drawn */
    const wb_mask_scale *k = &a->s.mask_scale;
    int64_t zc = k->zc > 0 ? k->zc : 1, zr = k->zr > 0 ? k->zr * (k->mr > 1 ? 1 : k->sub) : 1;
    switch (key) {
    case KEY_UP: case 'k': a->s.cur_r -= zr; break;
    case KEY_DOWN: case 'j': a->s.cur_r += zr; break;
    case KEY_LEFT: case 'h': a->s.cur_c -= zc; break;
    case KEY_RIGHT: case 'l': a->s.cur_c += zc; break;
    case KEY_PPAGE: a->s.cur_r -= 16 * zr; break;
    case KEY_NPAGE: a->s.cur_r += 16 * zr; break;
    case KEY_HOME: a->s.cur_c = 0; break;
    case KEY_END: {
        const nm_layer *l = sel_layer(a);
        if (l && l->weight)
            a->s.cur_c = nm_layer_cols(l) - 1;
        break;
    }
    }
}

static void k_zoom(tui_app *a, int key)
{
    if (key == 'f') {
        a->s.zoom = 0;
        return;
    }
    /* levels: ... 4, 2, 1 cells per character, then 2, 4, 8 characters
     * per cell; from fit, start at what fit showed */
    if (a->s.zoom == 0) {
        const wb_mask_scale *k = &a->s.mask_scale;
        int64_t z = k->zc > k->zr ? k->zc : k->zr;
        a->s.zoom = k->mr > 1 ? -k->mr : (int)(z < 1 ? 1 : z > 1 << 16 ? 1 << 16 : z);
    }
    int z = a->s.zoom;
    if (key == '+' || key == '=')
        z = z > 1 ? z / 2 : z == 1 ? -2 : z > -8 ? z * 2 : -8;
    else
        z = z < -2 ? z / 2 : z == -2 ? 1 : z < 1 << 16 ? z * 2 : 1 << 16;
    a->s.zoom = z;
}

static void k_prune(tui_app *a, int key)
{
    (void)key;
    tui_form_open(a);
}

static void k_undo(tui_app *a, int key)
{
    nm_model *m = tui_model(a);
    if (!m || m != a->seen) {
        tui_status(a, "no model");
        return;
    }
    int rc = key == 'u' ? undo_undo(&a->undo, m) : undo_redo(&a->undo, m);
    tui_weights_changed(a);
    tui_status(a, "%s", rc == NM_OK ? (key == 'u' ? "undone" : "redone") : nm_errmsg());
}

static void k_export(tui_app *a, int key)
{
    (void)key;
    tui_export(a);
}

/* Selects the next layer (in table order, after the selected one when
 * `next`, else from it) whose name contains a->search; says so when none. */
static void search_select(tui_app *a, int next)
{
    if (a->s.screen == WB_SCREEN_RUNS) {   /* rows holding the text */
        if (!a->search[0])
            return;
        if (tui_runs_search(a, a->search, next))
            tui_status(a, "%s%s  (n next match)", a->searching ? "/" : "found: ", a->search);
        else
            tui_status(a, "/%s: no row holds it", a->search);
        return;
    }
    const nm_model *m = a->s.model;
    int pos, *order = a->search[0] ? table_order(a, &pos) : NULL;
    if (!order)
        return;
    const int n = m->n_layers;
    int found = -1;
    for (int k = next ? 1 : 0; k < n + (next ? 1 : 0) && found < 0; k++) {
        int li = order[(pos + k) % n];
        if (strstr(m->layers[li].name, a->search))
            found = li;
    }
    free(order);
    if (found < 0) {
        tui_status(a, "/%s: no layer name contains it", a->search);
        return;
    }
    if (found != a->s.selected) {
        a->s.selected = found;
        a->s.cur_r = a->s.cur_c = a->s.view_r = a->s.view_c = 0;
        tui_sync_model(a);
    }
    tui_status(a, "%s%s  (n next match)", a->searching ? "/" : "found: ", a->searching ? a->search : m->layers[found].name);
}

static void k_search(tui_app *a, int key)
{
    if (key == '/' || key == KEY_F(3)) {
        a->searching = 1;
        a->search[0] = '\0';
        tui_status(a, a->s.screen == WB_SCREEN_RUNS ? "/  (type a part of a row: params, status, error; Enter keeps it, Esc cancels)"
                                                   : "/  (type a part of a layer name, Enter keeps it, Esc cancels)");
    } else {
        search_select(a, 1);
    }
}

/* Keys while the search prompt is open: text, Backspace, Enter, Esc. */
static void search_key(tui_app *a, int key)
{
    size_t len = strlen(a->search);
    if (key == 27) {
        a->searching = 0;
        tui_status(a, "search cancelled");
    } else if (key == KEY_ENTER || key == '\r' || key == '\n') {
        a->searching = 0;
        search_select(a, 0);
    } else if (key == KEY_BACKSPACE || key == 127 || key == 8) {
        if (len)
            a->search[len - 1] = '\0';
        search_select(a, 0);
    } else if (key >= 32 && key < 127 && len + 1 < sizeof a->search) {
        a->search[len] = (char)key;
        a->search[len + 1] = '\0';
        search_select(a, 0);
    }
}

/* --- console keys --- */
static void k_console_edit(tui_app *a, int key)
{
    wb_state *s = &a->s;
    switch (key) {
    case KEY_ENTER: case '\r': case '\n':
        tui_console_submit(a);
        return;
    case KEY_BACKSPACE: case 127: case 8:
        if (s->input_cursor > 0) {
            memmove(s->input + s->input_cursor - 1, s->input + s->input_cursor,
                    (size_t)(s->input_len - s->input_cursor));
            s->input_len--, s->input_cursor--;
        }
        return;
    case KEY_DC:
        if (s->input_cursor < s->input_len) {
            memmove(s->input + s->input_cursor, s->input + s->input_cursor + 1,
                    (size_t)(s->input_len - s->input_cursor - 1));
            s->input_len--;
        }
        return;
    case KEY_LEFT: if (s->input_cursor > 0) s->input_cursor--; return;
    case KEY_RIGHT: if (s->input_cursor < s->input_len) s->input_cursor++; return;
    case KEY_HOME: case CTRL('a'): s->input_cursor = 0; return;
    case KEY_END: case CTRL('e'): s->input_cursor = s->input_len; return;
    case CTRL('u'): /* delete to the start of the line */
        memmove(s->input, s->input + s->input_cursor, (size_t)(s->input_len - s->input_cursor));
        s->input_len -= s->input_cursor;
        s->input_cursor = 0;
        return;
    case CTRL('w'): { /* delete the word before the cursor */
        int st = s->input_cursor;
        while (st > 0 && s->input[st - 1] == ' ')
            st--;
        while (st > 0 && s->input[st - 1] != ' ' && s->input[st - 1] != '.' && s->input[st - 1] != ':' &&
               s->input[st - 1] != '(')
            st--;
        if (st == s->input_cursor && st > 0)
            st--; /* a lone separator */
        memmove(s->input + st, s->input + s->input_cursor, (size_t)(s->input_len - s->input_cursor));
        s->input_len -= s->input_cursor - st;
        s->input_cursor = st;
        return;
    }
    case KEY_UP: case KEY_DOWN: {
        int p = a->hist_pos + (key == KEY_UP ? -1 : 1);
        if (p < 0 || p > a->n_hist)
            return;
        a->hist_pos = p;
        const char *h = p < a->n_hist ? a->hist[p] : "";
        s->input_len = s->input_cursor = (int)strlen(h) < WB_INPUT_MAX - 1 ? (int)strlen(h) : WB_INPUT_MAX - 1;
        memcpy(s->input, h, (size_t)s->input_len);
        return;
    }
    case KEY_PPAGE: s->log_scroll += a->grid->h / 2; return;
    case KEY_NPAGE: s->log_scroll -= a->grid->h / 2; return;
    case '\t': tui_console_complete(a); return;
    case 27: /* Esc: back to the previous screen */
        s->screen = a->prev_screen == WB_SCREEN_CONSOLE ? WB_SCREEN_LAYERS : a->prev_screen;
        return;
    }
    if (key >= 32 && key < 256 && s->input_len < WB_INPUT_MAX - 1) {
        memmove(s->input + s->input_cursor + 1, s->input + s->input_cursor,
                (size_t)(s->input_len - s->input_cursor));
        s->input[s->input_cursor++] = (char)key;
        s->input_len++;
    }
}


static const keybind keymap[] = {
    {{KEY_F(1)}, ON_ALL, "F1 ?", "all", "help (this screen; Up/Down PgUp/PgDn Home/End scroll it)", k_help,
     "F1", "Help"},
    {{'?'}, ON_VIEWS, NULL, NULL, NULL, k_help, NULL, NULL},
    {{KEY_F(2)}, ON_ALL, "F2", "all", "setup: theme, colours, default N:M, array, presentation (saved)", k_setup,
     "F2", "Setup"},
    {{KEY_F(3), '/'}, ON_VIEWS, "F3 /", "all", "search layers by name as you type (Runs: rows by any text; Enter keeps, Esc cancels)", k_search,
     "F3", "Search"},
    {{KEY_F(3)}, ON_CONSOLE, NULL, NULL, NULL, k_search, NULL, NULL},
    {{KEY_F(4), 'o'}, ON_VIEWS, "F4 o", "all", "open a model: a file (Tab completes the path) or a zoo name; a sweep .db opens on the Runs screen", k_files,
     "F4", "Open"},
    {{KEY_F(5), 'w'}, ON_VIEWS, "F5 w", "all", "save the model (safetensors, written atomically)", k_files, "F5", "Save"},
    {{KEY_F(4), KEY_F(5)}, ON_CONSOLE, NULL, NULL, NULL, k_files, NULL, NULL},
    {{KEY_F(6)}, ON_ALL, "F6", "all", "Runs screen: a sweep database's points, live (F4 with a .db file, or nmlab --runs FILE.db)",
     k_runs, "F6", "Runs"},
    {{'1', '2', '3'}, ON_VIEWS, "1-7", "all", "switch screen (Layers Mask Activations Array Energy Console Runs)", k_screen, NULL, NULL},
    {{'4', '5', '6', '7'}, ON_VIEWS, NULL, NULL, NULL, k_screen, NULL, NULL},
    {{'\t', KEY_BTAB}, ON_VIEWS, "Tab/S-Tab", "all", "next / previous screen (Esc leaves the console)", k_next_screen, NULL, NULL},
    {{KEY_F(10), 'q'}, ON_VIEWS, "F10 q", "all", "quit (settings and history are saved)", k_quit, "F10", "Quit"},
    {{KEY_F(10)}, ON_CONSOLE, NULL, NULL, NULL, k_quit, NULL, NULL},
    {{'p'}, ON_VIEWS, "p", "all", "prune: choose method, N:M, group, amount", k_prune, NULL, NULL},
    {{'u', 'U'}, ON_VIEWS, "u / U", "all", "undo / redo the last mask change", k_undo, NULL, NULL},
    {{'e'}, ON_VIEWS, "e", "all", "export this screen as a PNG plot (Runs: the Pareto plot)", k_export, NULL, NULL},
    {{'t'}, ON_VIEWS, "t", "all", "dark / light theme", k_theme, NULL, NULL},
    {{'M'}, ON_VIEWS, "M", "all", "mouse on / off", k_mouse, NULL, NULL},
    {{'b'}, ON_VIEWS, "b", "all", "presentation mode: larger cells, high contrast (also in F2 setup)", k_present, NULL, NULL},
    {{KEY_UP, KEY_DOWN, 'j', 'k'}, ON_RUNS, "Up/Down j/k", "runs", "select a point; PgUp/PgDn Home/End page, first/last", tui_runs_key, NULL, NULL},
    {{KEY_PPAGE, KEY_NPAGE, KEY_HOME, KEY_END}, ON_RUNS, NULL, NULL, NULL, tui_runs_key, NULL, NULL},
    {{KEY_LEFT, KEY_RIGHT, 'h', 'l'}, ON_RUNS, "Left/Right h/l", "runs", "move the column cursor", tui_runs_key, NULL, NULL},
    {{'s'}, ON_RUNS, "s", "runs", "sort by the cursor's column (again: reverse); the arrow in its title shows the way", tui_runs_key, NULL, NULL},
    {{'g'}, ON_RUNS, "g", "runs", "group the ok points over the seeds: mean and 95% interval per params (again: points)", tui_runs_key, NULL, NULL},
    {{'v', 'x', 'y'}, ON_RUNS, "v x y", "runs", "show the Pareto plot; plot the cursor's column as x / as y", tui_runs_key, NULL, NULL},
    {{'X', 'Y'}, ON_RUNS, "X Y", "runs", "x / y goal: min or max (which points are on the front)", tui_runs_key, NULL, NULL},
    {{KEY_ENTER, '\r', '\n', 'r'}, ON_RUNS, "Enter r", "runs", "the selected point in full (error text too); read the file again now", tui_runs_key, NULL, NULL},
    {{KEY_UP, KEY_DOWN, 'j', 'k'}, ON_LAYERS, "Up/Down j/k", "layers", "select layer", k_layers_move, NULL, NULL},
    {{KEY_PPAGE, KEY_NPAGE, KEY_HOME, KEY_END}, ON_LAYERS, "PgUp/PgDn", "layers", "page; Home/End first/last", k_layers_move, NULL, NULL},
    {{'s'}, ON_LAYERS, "s", "layers", "sort by order, name, density, MACs, params", k_sort, NULL, NULL},
    {{'n'}, ON_LAYERS | ON_MASK | ON_ENERGY | ON_RUNS, "n", "layers...", "next layer (Runs: row) matching the last search", k_search, NULL, NULL},
    {{KEY_ENTER, '\r', '\n'}, ON_LAYERS, "Enter", "layers", "show the selected layer's mask", k_open_mask, NULL, NULL},
    {{'[', ']'}, ON_MASK | ON_ACT | ON_ARRAY | ON_ENERGY, "[ ]", "mask...", "previous / next layer", k_layer_prev_next, NULL, NULL},
    {{KEY_UP, KEY_DOWN, KEY_LEFT, KEY_RIGHT}, ON_MASK, "arrows hjkl", "mask", "move the cursor", k_mask_move, NULL, NULL},
    {{'h', 'j', 'k', 'l'}, ON_MASK, NULL, NULL, NULL, k_mask_move, NULL, NULL},
    {{KEY_PPAGE, KEY_NPAGE, KEY_HOME, KEY_END}, ON_MASK, "PgUp/PgDn", "mask", "move 16 rows; Home/End row start/end", k_mask_move, NULL, NULL},
    {{'+', '=', '-', 'f'}, ON_MASK, "+ - f", "mask", "zoom in / out / fit", k_zoom, NULL, NULL},
    {{' ', 'n', '+', '-'}, ON_ARRAY, "Space n + -", "array", "play/pause, step one cycle, faster/slower", tui_array_key, NULL, NULL},
    {{'m', 'r', 'c', 'T'}, ON_ARRAY, "m r c T", "array", "MAC kind, rows, columns, teaching mode (nm-MAC walk-through)", tui_array_key, NULL, NULL},
    {{'N', KEY_LEFT}, ON_ARRAY, "N Left", "array", "back one cycle (teaching mode: one step)", tui_array_key, NULL, NULL},
    {{'D'}, ON_ARRAY | ON_ENERGY, "D", "array...", "memory model: off / 64 KB SRAMs at 10 / at 2 words per cycle (stalls, DRAM energy)", tui_sim_mem_key, NULL, NULL},
    {{'R'}, ON_ARRAY, "R", "array", "roofline: per layer compute vs memory cycles and which bounds it", tui_array_key, NULL, NULL},
    {{'P', KEY_LEFT, KEY_RIGHT}, ON_ACT, "P Left/Right", "activ.", "first/topk policy; previous/next channel", tui_act_key, NULL, NULL},
    {{'n', 'N'}, ON_ACT, "n N", "activ.", "N:M of the NMReLU shown: N (0..M), M (2..16)", tui_act_key, NULL, NULL},
    {{KEY_ENTER, '\r', '\n', '\t'}, ON_CONSOLE, "Enter Tab", "console", "run the line (multi-line chunks continue); complete a name", k_console_edit, NULL, NULL},
    {{KEY_UP, KEY_DOWN, KEY_PPAGE, KEY_NPAGE}, ON_CONSOLE, "Up/Down PgUp", "console", "history; scroll the log", k_console_edit, NULL, NULL},
    {{27}, ON_CONSOLE, "Esc", "console", "back to the previous screen", k_console_edit, NULL, NULL},
    {{CTRL('w'), CTRL('u'), CTRL('a'), CTRL('e')}, ON_CONSOLE, "C-w C-u C-a C-e", "console",
     "delete the word before the cursor / to the line start; line start / end", k_console_edit, NULL, NULL},
    {{0}, 0, ":run FILE", "console", "run a Lua script in the workbench; Ctrl-C cancels it", NULL, NULL, NULL},
};

#define N_KEYS ((int)(sizeof keymap / sizeof keymap[0]))

const wb_key_help *tui_keymap_help(int *n)
{
    static wb_key_help help[N_KEYS];
    static int count = -1;
    if (count < 0) {
        count = 0;
        for (int i = 0; i < N_KEYS; i++)
            if (keymap[i].label)
                help[count++] = (wb_key_help){keymap[i].label, keymap[i].screens, keymap[i].help, keymap[i].fkey,
                                               keymap[i].bar};
    }
    *n = count;
    return help;
}

int tui_handle_key(tui_app *a, int key)
{
    if (a->s.alert[0] || a->s.alert_title[0]) { /* any key closes the message */
        a->s.alert[0] = a->s.alert_title[0] = '\0';
        if (a->quit_asked && (key == 'q' || key == KEY_F(10)))
            a->quit = 1;
        a->quit_asked = 0;
        return 1;
    }
    if (a->s.show_help) { /* scroll keys scroll it; any other key closes it */
        int page = a->grid->h - 6 > 1 ? a->grid->h - 6 : 1;
        switch (key) {
        case KEY_UP: case 'k': a->s.help_scroll--; break;
        case KEY_DOWN: case 'j': a->s.help_scroll++; break;
        case KEY_PPAGE: a->s.help_scroll -= page; break;
        case KEY_NPAGE: case ' ': a->s.help_scroll += page; break;
        case KEY_HOME: a->s.help_scroll = 0; break;
        case KEY_END: a->s.help_scroll = 1 << 20; break;   /* clamped by the view */
        default: a->s.show_help = 0; break;
        }
        return 1;
    }
    if (a->form.open)
        return tui_form_key(a, key);
    if (a->setup.open)
        return tui_setup_key(a, key);
    if (a->files.mode)
        return tui_files_key(a, key);
    if (a->searching) {
        search_key(a, key);
        return 1;
    }
    int bit = 1 << a->s.screen;
    for (int i = 0; i < N_KEYS; i++) {
        if (!(keymap[i].where & bit) || !keymap[i].fn)
            continue;
        for (int k = 0; k < 4 && keymap[i].keys[k]; k++)
            if (keymap[i].keys[k] == key) {
                keymap[i].fn(a, key);
                return 1;
            }
    }
    if (a->s.screen == WB_SCREEN_CONSOLE) {
        k_console_edit(a, key);
        return 1;
    }
    return 0;
}

int tui_key_from_name(const char *name)
{
    static const struct { const char *name; int key; } names[] = {
        {"Up", KEY_UP}, {"Down", KEY_DOWN}, {"Left", KEY_LEFT}, {"Right", KEY_RIGHT},
        {"Enter", '\n'}, {"Tab", '\t'}, {"BTab", KEY_BTAB}, {"Esc", 27}, {"PgUp", KEY_PPAGE},
        {"PgDn", KEY_NPAGE}, {"Home", KEY_HOME}, {"End", KEY_END}, {"Space", ' '},
        {"Comma", ','}, {"BSpace", KEY_BACKSPACE}, {"F1", KEY_F(1)}, {"F2", KEY_F(2)},
        {"F3", KEY_F(3)}, {"F4", KEY_F(4)}, {"F5", KEY_F(5)}, {"F6", KEY_F(6)}, {"F10", KEY_F(10)},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(names[i].name, name) == 0)
            return names[i].key;
    if (name[0] && !name[1])
        return (unsigned char)name[0];
    if (name[0] == 'C' && name[1] == '-' && name[2] >= 'a' && name[2] <= 'z' && !name[3])
        return CTRL(name[2]); /* C-w */
    return -1;
}
