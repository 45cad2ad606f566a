/* tui_form.c - the prune form: pick a method and its parameters, then run
 * it as a line of Lua through the console, so every UI action is also
 * shown as the script that does the same thing. */
#define _XOPEN_SOURCE_EXTENDED 1
#include "tui.h"

#include "prune.h"

#include <curses.h>
#include <stdio.h>
#include <string.h>

static const char *method_names[PF_COUNT] = {
    "N:M (model)", "magnitude (layer)", "global magnitude", "filters, L1 (model)",
    "NFFS (layer)", "JointNF (model)", "reset all masks"};
static const char *group_names[4] = {"auto", "kernel", "in", "row"};

enum { F_METHOD, F_N, F_M, F_GROUP, F_PCT, F_ROUNDS, F_APPLY, F_COUNT };

/* The layers a model-wide method leaves dense by default (the first conv
 * and the classifier), named with the reason, into buf. */
static void skipped_layers(const nm_model *m, char *buf, size_t len)
{
    buf[0] = '\0';
    for (int i = 0; m && i < m->n_layers; i++) {
        const char *why = "";
        if (!nm_layer_prunable(&m->layers[i]) || nm_prune_eligible(m, i, NULL, &why) || !why[0])
            continue;
        size_t used = strlen(buf);
        snprintf(buf + used, len - used, "%s%s (%s)", used ? ", " : "", m->layers[i].name, why);
    }
}

void tui_form_open(tui_app *a)
{
    a->form.open = 1;
    a->form.field = F_METHOD;
    a->form.typing = 0;
    skipped_layers(a->s.model, a->form.skipped, sizeof a->form.skipped);
}

/* 1 for the methods that prune the whole model under the default scope. */
static int model_wide(pf_method m)
{
    return m == PF_NM || m == PF_GLOBAL || m == PF_FILTERS || m == PF_JOINTNF;
}

/* The number field under edit, or NULL; its upper bound in *hi. */
static int *number_field(prune_form *f, int *hi)
{
    switch (f->field) {
    case F_N: *hi = 64; return &f->n;
    case F_M: *hi = 64; return &f->m;
    case F_PCT: *hi = 99; return &f->pct;
    case F_ROUNDS: *hi = 20; return &f->rounds;
    default: return NULL;
    }
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
    int d = 0, hi = 0;
    int *num = number_field(f, &hi);
    if (num && key >= '0' && key <= '9') { /* a typed number replaces the value */
        int v = (f->typing ? *num * 10 : 0) + (key - '0');
        if (v <= hi)
            *num = v;
        f->typing = 1;
        return 1;
    }
    if (num && (key == KEY_BACKSPACE || key == 127 || key == 8)) {
        *num /= 10;
        f->typing = 1;
        return 1;
    }
    if (key != KEY_ENTER && key != '\r' && key != '\n') {
        f->typing = 0;
        clamp(f);
    }
    switch (key) {
    case 27: case 'q': f->open = 0; return 1;
    case KEY_UP: case 'k': f->field = (f->field + F_COUNT - 1) % F_COUNT; return 1;
    case KEY_DOWN: case 'j': case '\t': f->field = (f->field + 1) % F_COUNT; return 1;
    case KEY_LEFT: case 'h': case '-': d = -1; break;
    case KEY_RIGHT: case 'l': case '+': d = 1; break;
    case KEY_ENTER: case '\r': case '\n': {
        char code[256], what[128];
        f->typing = 0;
        clamp(f);
        form_code(f, code, sizeof code);
        describe(f, what, sizeof what);
        f->open = 0;
        tui_run_lua(a, code, code);
        if (strncmp(a->s.status, "done", 4) == 0) {
            snprintf(a->s.settings, sizeof a->s.settings, "| %s", what);
            if (model_wide(f->method) && f->skipped[0]) {
                char line[300];
                snprintf(line, sizeof line, "-- left dense (the default; include_first/include_last prune them): %s",
                         f->skipped);
                wb_log_add(&a->s.log, WB_LOG_INFO, line);
                tui_status(a, "applied (u undoes); left dense: %s", f->skipped);
            } else {
                tui_status(a, "applied: %s (u undoes)", code);
            }
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

/* Draws text wrapped at ", " and spaces into at most `lines` rows of w. */
static int draw_wrapped(tui_grid *g, int x, int y, int w, int lines, int style, const char *text)
{
    int n = 0;
    const char *p = text;
    while (*p && n < lines) {
        int len = (int)strlen(p);
        int cut = len;
        if (len > w) {
            cut = w;
            while (cut > w / 2 && p[cut] != ' ')
                cut--;
            if (p[cut] != ' ')
                cut = w;
        }
        char buf[256];
        snprintf(buf, sizeof buf, "%.*s", cut, p);
        tui_text(g, x, y + n++, w, style, buf);
        p += cut;
        while (*p == ' ')
            p++;
    }
    return n;
}

void tui_form_draw(tui_grid *g, const prune_form *f)
{
    int w = g->w - 4 < 78 ? g->w - 4 : 78, h = F_COUNT + 9, x = (g->w - w) / 2, y = (g->h - h) / 2;
    if (y < 1)
        y = 1;
    tui_fill(g, x, y, w, h, ' ', TUI_S_NORMAL);
    tui_fill(g, x, y, w, 1, ' ', TUI_S_HEADER);
    tui_text(g, x + 1, y, w - 2, TUI_S_HEADER, "Prune: Up/Down field, Left/Right or type a number, Enter apply, Esc");
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
    int yy = y + 3 + F_COUNT;
    yy += draw_wrapped(g, x + 2, yy, w - 4, 2, TUI_S_ACCENT, code);
    if (model_wide(f->method) && f->skipped[0]) {
        char note[256];
        snprintf(note, sizeof note, "left dense: %s", f->skipped);
        draw_wrapped(g, x + 2, yy + 1, w - 4, 2, TUI_S_DIM, note);
    }
}
