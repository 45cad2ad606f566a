/* tui_setup.c - the setup form (F2): theme, colours, the prune form's
 * default N:M, the Array screen's array, presentation mode. Enter applies
 * and saves them to settings.conf (never in batch mode); Esc cancels. */
#define _XOPEN_SOURCE_EXTENDED 1
#include "tui.h"

#include "error.h"

#include <curses.h>
#include <stdio.h>
#include <string.h>

enum { S_THEME, S_COLOURS, S_N, S_M, S_ROWS, S_COLS, S_MAC, S_PRESENT, S_SAVE, S_COUNT };

static const char *colour_names[3] = {"as the terminal allows", "at most 8", "none (attributes only)"};
static const int sizes[] = {4, 8, 15, 16, 20, 32, 64, 128};
#define N_SIZES ((int)(sizeof sizes / sizeof sizes[0]))

void tui_setup_open(tui_app *a)
{
    setup_form *f = &a->setup;
    const nm_settings *st = &a->settings;
    memset(f, 0, sizeof *f);
    f->open = 1;
    f->theme_dark = a->s.theme_dark;
    f->colours = st->colours;
    f->n = a->form.n, f->m = a->form.m;
    f->rows = st->array_rows, f->cols = st->array_cols;
    f->present = a->s.present;
    int n;
    f->mac = 0;
    for (int i = 0; tui_sim_mac(i, &n); i++)
        if (strcmp(tui_sim_mac(i, &n), st->array_mac) == 0 ||
            (strcmp(st->array_mac, "nm") == 0 && strcmp(tui_sim_mac(i, &n), "nm-4-4") == 0))
            f->mac = i;
}

void tui_apply_look(tui_app *a)
{
    if (a->headless)
        return;
    term_colors want = a->settings.colours == 2 ? TERM_MONO : a->settings.colours == 1 ? TERM_8 : TERM_256;
    a->ti.colors = want < a->colors_max ? want : a->colors_max;
    a->s.color = a->ti.colors != TERM_MONO;
    a->ti.present = a->s.present;
    term_set_theme(&a->ti, a->s.theme_dark);
}

/* Steps a size through the Array screen's ladder. */
static int step_size(int v, int d)
{
    int i = 0;
    while (i < N_SIZES - 1 && sizes[i] < v)
        i++;
    i = (i + d + N_SIZES) % N_SIZES;
    return sizes[i];
}

static void apply(tui_app *a)
{
    setup_form *f = &a->setup;
    nm_settings *st = &a->settings;
    int n;
    a->s.theme_dark = st->theme_dark = f->theme_dark;
    st->colours = f->colours;
    a->form.n = st->nm_n = f->n;
    a->form.m = st->nm_m = f->m;
    st->array_rows = f->rows, st->array_cols = f->cols;
    snprintf(st->array_mac, sizeof st->array_mac, "%s", tui_sim_mac(f->mac, &n));
    a->s.present = st->present = f->present;
    tui_sim_configure(a);
    tui_apply_look(a);
    if (a->headless || !a->settings_file[0]) {
        tui_status(a, "setup applied (batch mode: settings.conf untouched)");
    } else if (settings_save(st, a->settings_file) != NM_OK) {
        tui_status(a, "setup applied, but not saved: %s", nm_errmsg());
    } else {
        tui_status(a, "setup saved to %s", a->settings_file);
    }
}

int tui_setup_key(tui_app *a, int key)
{
    setup_form *f = &a->setup;
    int d = 0, n;
    tui_sim_mac(0, &n);
    switch (key) {
    case 27: case 'q': case KEY_F(2): f->open = 0; tui_status(a, "setup cancelled"); return 1;
    case KEY_UP: case 'k': f->field = (f->field + S_COUNT - 1) % S_COUNT; return 1;
    case KEY_DOWN: case 'j': case '\t': f->field = (f->field + 1) % S_COUNT; return 1;
    case KEY_LEFT: case 'h': case '-': d = -1; break;
    case KEY_RIGHT: case 'l': case '+': case ' ': d = 1; break;
    case KEY_ENTER: case '\r': case '\n':
        f->open = 0;
        apply(a);
        return 1;
    default: return 1;
    }
    switch (f->field) {
    case S_THEME: f->theme_dark = !f->theme_dark; break;
    case S_COLOURS: f->colours = (f->colours + d + 3) % 3; break;
    case S_N: f->n += d; break;
    case S_M: f->m += d; break;
    case S_ROWS: f->rows = step_size(f->rows, d); break;
    case S_COLS: f->cols = step_size(f->cols, d); break;
    case S_MAC: f->mac = (f->mac + d + n) % n; break;
    case S_PRESENT: f->present = !f->present; break;
    default: break;
    }
    if (f->m < 1) f->m = 1;
    if (f->m > 64) f->m = 64;
    if (f->n < 0) f->n = 0;
    if (f->n > f->m) f->n = f->m;
    return 1;
}

void tui_setup_draw(tui_grid *g, const setup_form *f)
{
    int w = g->w - 4 < 70 ? g->w - 4 : 70, h = S_COUNT + 5, x = (g->w - w) / 2, y = (g->h - h) / 2;
    if (y < 1)
        y = 1;
    int n;
    tui_fill(g, x, y, w, h, ' ', TUI_S_NORMAL);
    tui_fill(g, x, y, w, 1, ' ', TUI_S_HEADER);
    tui_text(g, x + 1, y, w - 2, TUI_S_HEADER, "Setup: Up/Down field, Left/Right change, Enter save, Esc cancel");
    char vals[S_COUNT][64];
    snprintf(vals[S_THEME], 64, "%s", f->theme_dark ? "dark" : "light");
    snprintf(vals[S_COLOURS], 64, "%s", colour_names[f->colours % 3]);
    snprintf(vals[S_N], 64, "%d", f->n);
    snprintf(vals[S_M], 64, "%d", f->m);
    snprintf(vals[S_ROWS], 64, "%d", f->rows);
    snprintf(vals[S_COLS], 64, "%d", f->cols);
    snprintf(vals[S_MAC], 64, "%s", tui_sim_mac(f->mac, &n));
    snprintf(vals[S_PRESENT], 64, "%s", f->present ? "on (larger cells, high contrast)" : "off");
    snprintf(vals[S_SAVE], 64, "[ save ]");
    static const char *labels[S_COUNT] = {"theme", "colours", "default N", "default M", "array rows",
                                          "array cols", "array MAC", "presentation", ""};
    for (int i = 0; i < S_COUNT; i++) {
        int style = i == f->field ? TUI_S_SELECTED : TUI_S_NORMAL;
        tui_text(g, x + 2, y + 2 + i, 14, TUI_S_DIM, labels[i]);
        tui_printf(g, x + 16, y + 2 + i, w - 18, style, "%c %s %c", i == f->field ? '<' : ' ', vals[i],
                   i == f->field ? '>' : ' ');
    }
    tui_text(g, x + 2, y + 3 + S_COUNT, w - 4, TUI_S_DIM, "saved to settings.conf (not in --frames batch mode)");
}
