/* tui_form.c - the prune form: pick a method and its parameters, then run
 * it as a line of Lua through the console, so every UI action is also
 * shown as the script that does the same thing. */
#define _XOPEN_SOURCE_EXTENDED 1
#include "tui.h"

#include <curses.h>
#include <stdio.h>
#include <string.h>

static const char *method_names[PF_COUNT] = {
    "N:M (model)", "magnitude (layer)", "global magnitude", "filters, L1 (model)",
    "NFFS (layer)", "JointNF (model)", "reset all masks"};
static const char *group_names[4] = {"auto", "kernel", "in", "row"};

enum { F_METHOD, F_N, F_M, F_GROUP, F_PCT, F_ROUNDS, F_APPLY, F_COUNT };

void tui_form_open(tui_app *a)
{
    a->form.open = 1;
    a->form.field = F_METHOD;
}

/* The Lua line for the form's settings into buf. */
static void form_code(const prune_form *f, char *buf, size_t len)
{
    char group[32] = "";
    if (f->group)
        snprintf(group, sizeof group, ", group='%s'", group_names[f->group]);
    double p = f->pct / 100.0;
    switch (f->method) {
    case PF_NM: snprintf(buf, len, "nm.prune.nm(model, {n=%d, m=%d%s})", f->n, f->m, group); break;
    case PF_MAGNITUDE: snprintf(buf, len, "nm.prune.magnitude(layer, {sparsity=%.2f})", p); break;
    case PF_GLOBAL: snprintf(buf, len, "nm.prune.global(model, {sparsity=%.2f})", p); break;
    case PF_FILTERS: snprintf(buf, len, "nm.prune.filters(model, {ratio=%.2f, score='l1'})", p); break;
    case PF_NFFS: snprintf(buf, len, "nm.prune.nffs(layer, {n=%d, m=%d, ratio=%.2f})", f->n, f->m, p); break;
    case PF_JOINTNF:
        snprintf(buf, len, "nm.prune.jointnf(model, {n=%d, m=%d, filters=%.2f, rounds=%d%s})", f->n, f->m, p,
                 f->rounds, group);
        break;
    default: snprintf(buf, len, "nm.prune.reset(model)"); break;
    }
}

static void describe(const prune_form *f, char *buf, size_t len)
{
    switch (f->method) {
    case PF_NM: snprintf(buf, len, "%d:%d %s", f->n, f->m, group_names[f->group]); break;
    case PF_NFFS: snprintf(buf, len, "NFFS %d:%d, %d%% rows", f->n, f->m, f->pct); break;
    case PF_JOINTNF: snprintf(buf, len, "JointNF %d:%d, %d%% filters, %d rounds", f->n, f->m, f->pct, f->rounds); break;
    case PF_RESET: snprintf(buf, len, "dense"); break;
    default: snprintf(buf, len, "%s %d%%", method_names[f->method], f->pct); break;
    }
}

static void clamp(prune_form *f)
{
    if (f->m < 1) f->m = 1;
    if (f->m > 64) f->m = 64;
    if (f->n < 0) f->n = 0;
    if (f->n > f->m) f->n = f->m;
    if (f->pct < 0) f->pct = 0;
    if (f->pct > 99) f->pct = 99;
    if (f->rounds < 1) f->rounds = 1;
    if (f->rounds > 20) f->rounds = 20;
    f->group = (f->group + 4) % 4;
    f->method = (pf_method)((f->method + PF_COUNT) % PF_COUNT);
}

int tui_form_key(tui_app *a, int key)
{
    prune_form *f = &a->form;
    int d = 0;
    switch (key) {
    case 27: case 'q': f->open = 0; return 1;
    case KEY_UP: case 'k': f->field = (f->field + F_COUNT - 1) % F_COUNT; return 1;
    case KEY_DOWN: case 'j': case '\t': f->field = (f->field + 1) % F_COUNT; return 1;
    case KEY_LEFT: case 'h': case '-': d = -1; break;
    case KEY_RIGHT: case 'l': case '+': d = 1; break;
    case KEY_ENTER: case '\r': case '\n': {
        char code[256], what[128];
        form_code(f, code, sizeof code);
        describe(f, what, sizeof what);
        f->open = 0;
        tui_run_lua(a, code, code);
        if (strncmp(a->s.status, "done", 4) == 0) {
            snprintf(a->s.settings, sizeof a->s.settings, "| %s", what);
            tui_status(a, "applied: %s (u undoes)", code);
        }
        return 1;
    }
    default: return 1;
    }
    switch (f->field) {
    case F_METHOD: f->method = (pf_method)(f->method + d); break;
    case F_N: f->n += d; break;
    case F_M: f->m += d; break;
    case F_GROUP: f->group += d; break;
    case F_PCT: f->pct += 5 * d; break;
    case F_ROUNDS: f->rounds += d; break;
    default: break;
    }
    clamp(f);
    return 1;
}

void tui_form_draw(tui_grid *g, const prune_form *f)
{
    int w = 58, h = F_COUNT + 5, x = (g->w - w) / 2, y = (g->h - h) / 2;
    tui_fill(g, x, y, w, h, ' ', TUI_S_NORMAL);
    tui_fill(g, x, y, w, 1, ' ', TUI_S_HEADER);
    tui_text(g, x + 1, y, w - 2, TUI_S_HEADER, "Prune  (Up/Down field, Left/Right value, Enter apply, Esc)");
    char vals[F_COUNT][64];
    snprintf(vals[F_METHOD], 64, "%s", method_names[f->method]);
    snprintf(vals[F_N], 64, "%d", f->n);
    snprintf(vals[F_M], 64, "%d", f->m);
    snprintf(vals[F_GROUP], 64, "%s", group_names[f->group]);
    snprintf(vals[F_PCT], 64, "%d %%", f->pct);
    snprintf(vals[F_ROUNDS], 64, "%d", f->rounds);
    snprintf(vals[F_APPLY], 64, "[ apply ]");
    static const char *labels[F_COUNT] = {"method", "N", "M", "group", "amount", "rounds", ""};
    for (int i = 0; i < F_COUNT; i++) {
        int style = i == f->field ? TUI_S_SELECTED : TUI_S_NORMAL;
        tui_printf(g, x + 2, y + 2 + i, 12, TUI_S_DIM, "%s", labels[i]);
        tui_printf(g, x + 14, y + 2 + i, w - 16, style, "%c %s %c", i == f->field ? '<' : ' ', vals[i],
                   i == f->field ? '>' : ' ');
    }
    char code[256];
    form_code(f, code, sizeof code);
    tui_text(g, x + 2, y + h - 2, w - 4, TUI_S_ACCENT, code);
}
