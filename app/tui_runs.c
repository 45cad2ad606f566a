/* tui_runs.c - the Runs screen (7): a sweep database opened read-only
 * (runs_db.c), read again when the sweep commits (polled every second, a
 * locked file retried), shown as a sortable table of points or of groups
 * over the seeds, with the Pareto plot of two columns and `e` writing it
 * as a PNG (viz/plot_pareto.c). Columns are remembered by name, so the
 * sort and the plot's axes survive reloads and the grouped view. */
#define _XOPEN_SOURCE_EXTENDED 1
#include "tui.h"
#include "runs_db.h"
#include "plot.h"
#include "sandbox.h"

#include <curses.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define POLL_S 1.0

struct tui_runs {
    runs_db *db;
    runs_table grouped;
    int have_grouped;
    double next_poll;
    /* the display (owned), pointed to by a->s.runs */
    int *order;
    char **cells;
    const char **names;
    int *row_style, *pt_row, *tmp_row;
    double *px, *py;
    unsigned char *front;
    int n_cells;
    char sort_name[128], x_name[128], y_name[128], cur_name[128], sel_id[64];
};

static const runs_table *table(const tui_app *a)
{
    const tui_runs *t = a->runs;
    return a->s.runs.grouped ? &t->grouped : &t->db->t;
}

static void free_display(tui_runs *t)
{
    for (int i = 0; t->cells && i < t->n_cells; i++)
        free(t->cells[i]);
    free(t->cells), free(t->names), free(t->order), free(t->row_style);
    free(t->pt_row), free(t->tmp_row), free(t->px), free(t->py), free(t->front);
    t->cells = NULL, t->names = NULL, t->order = NULL, t->row_style = NULL;
    t->pt_row = t->tmp_row = NULL, t->px = t->py = NULL, t->front = NULL;
    t->n_cells = 0;
}

void tui_runs_free(tui_runs *t)
{
    if (!t)
        return;
    free_display(t);
    runs_table_free(&t->grouped);
    runs_db_close(t->db);
    free(t);
}

static int status_style(const char *s)
{
    return !strcmp(s, "ok") ? TUI_S_GOOD : !strcmp(s, "timeout") ? TUI_S_WARN : TUI_S_BAD;
}

static int col_of(const runs_table *tb, const char *name)
{
    return name[0] ? runs_table_col(tb, name) : -1;
}

/* Rebuilds the display strings, the order and the plotted points from the
 * current table; keeps the selected point (by id, from remember()) and the
 * columns (by name). Called at once after anything that changes the table,
 * the grouping, the sort or the axes, so the display arrays (which the keys
 * and the search read too) always index the current table. */
static void rebuild(tui_app *a)
{
    tui_runs *t = a->runs;
    wb_runs *w = &a->s.runs;
    free_display(t);
    if (w->grouped && !t->have_grouped) {
        if (runs_table_group(&t->db->t, &t->grouped) != RUNS_OK) {
            tui_status(a, "out of memory grouping the points");
            w->grouped = 0;
        } else {
            t->have_grouped = 1;
        }
    }
    const runs_table *tb = table(a);
    int n = tb->n_rows, nc = tb->n_cols;
    t->n_cells = n * nc;
    t->cells = calloc((size_t)(t->n_cells ? t->n_cells : 1), sizeof *t->cells);
    t->names = calloc((size_t)(nc ? nc : 1), sizeof *t->names);
    t->order = malloc((size_t)(n ? n : 1) * sizeof *t->order);
    t->row_style = malloc((size_t)(n ? n : 1) * sizeof *t->row_style);
    t->pt_row = malloc((size_t)(n ? n : 1) * sizeof *t->pt_row);
    t->tmp_row = malloc((size_t)(n ? n : 1) * sizeof *t->tmp_row);
    t->px = malloc((size_t)(n ? n : 1) * sizeof *t->px);
    t->py = malloc((size_t)(n ? n : 1) * sizeof *t->py);
    t->front = malloc((size_t)(n ? n : 1));
    if (!t->cells || !t->names || !t->order || !t->row_style || !t->pt_row || !t->tmp_row || !t->px ||
        !t->py || !t->front) {
        free_display(t);
        w->n_rows = w->n_cols = w->n_pts = 0;   /* nothing the view could read */
        w->col_names = NULL, w->cells = NULL, w->row_style = NULL;
        tui_status(a, "out of memory showing %d points", n);
        return;
    }
    for (int c = 0; c < nc; c++)
        t->names[c] = tb->cols[c].name;
    w->sort_col = col_of(tb, t->sort_name);
    w->x_col = col_of(tb, t->x_name);
    w->y_col = col_of(tb, t->y_name);
    int cur = col_of(tb, t->cur_name);
    w->cur_col = cur >= 0 ? cur : w->cur_col < nc ? w->cur_col : nc - 1;
    runs_table_order(tb, w->sort_col, w->sort_desc, t->order);
    int st = runs_table_col(tb, "status"), sel = -1;
    char buf[512];
    for (int i = 0; i < n; i++) {
        int row = t->order[i];
        for (int c = 0; c < nc; c++) {
            runs_cell_text(&tb->cells[(size_t)row * (size_t)nc + (size_t)c], buf, sizeof buf);
            char *pm = a->grid->utf8 ? NULL : strstr(buf, "\u00b1");
            if (pm)   /* an ASCII terminal: the same two bytes as "+-" */
                memcpy(pm, "+-", 2);
            t->cells[(size_t)i * (size_t)nc + (size_t)c] = strdup(buf);
        }
        const runs_cell *sc = st >= 0 ? &tb->cells[(size_t)row * (size_t)nc + (size_t)st] : NULL;
        t->row_style[i] = sc && sc->str ? status_style(sc->str) : TUI_S_NORMAL;
        if (tb->ids && tb->ids[row] && !strcmp(tb->ids[row], t->sel_id))
            sel = i;
    }
    if (sel >= 0)
        w->selected = sel;
    /* the plot's points, by displayed row */
    int k = runs_table_xy(tb, w->x_col, w->y_col, t->px, t->py, t->tmp_row);
    for (int i = 0; i < n; i++)
        t->pt_row[i] = -1;
    int *disp = malloc((size_t)(n ? n : 1) * sizeof *disp);
    if (disp) {
        for (int i = 0; i < n; i++)
            disp[t->order[i]] = i;
        for (int i = 0; i < k; i++)
            t->pt_row[i] = disp[t->tmp_row[i]];
        free(disp);
    }
    runs_pareto(t->px, t->py, k, w->x_min, w->y_max, t->front);
    w->n_rows = n, w->n_cols = nc;
    w->col_names = t->names;
    w->cells = (const char *const *)t->cells;
    w->row_style = t->row_style;
    w->n_pts = k, w->px = t->px, w->py = t->py, w->front = t->front, w->pt_row = t->pt_row;
    const runs_db *d = t->db;
    snprintf(w->title, sizeof w->title, "%s  %s  %d points: %d ok, %d error, %d crashed, %d timeout",
             d->sweep[0] ? d->sweep : "(no sweep recorded yet)", d->path, d->t.n_rows, d->counts[0],
             d->counts[1], d->counts[2], d->counts[3]);
    if (w->grouped) {
        size_t used = strlen(w->title);
        snprintf(w->title + used, sizeof w->title - used, "  (%d groups)", n);
    }
}

/* The selected point's id, remembered across reloads. */
static void remember(tui_app *a)
{
    tui_runs *t = a->runs;
    const wb_runs *w = &a->s.runs;
    t->sel_id[0] = '\0';
    const runs_table *tb = table(a);
    if (t->order && tb->ids && w->selected >= 0 && w->selected < w->n_rows)
        snprintf(t->sel_id, sizeof t->sel_id, "%s", tb->ids[t->order[w->selected]]);
}

/* Reads the database again if it changed; says why not when it cannot. */
static int poll(tui_app *a)
{
    tui_runs *t = a->runs;
    char err[512];
    t->next_poll = nm_now() + POLL_S;
    remember(a);   /* while the order still indexes the table it was built from */
    int rc = runs_db_poll(t->db, err, sizeof err);
    wb_runs *w = &a->s.runs;
    if (rc == 1) {   /* a new table: the display is rebuilt before anything reads it */
        runs_table_free(&t->grouped);
        t->have_grouped = 0;
        w->note[0] = '\0';
        rebuild(a);
        return 1;
    }
    if (rc < 0) {
        int changed = strcmp(w->note, err) != 0;
        snprintf(w->note, sizeof w->note, "%.399s", err);
        return changed;
    }
    if (w->note[0]) {
        w->note[0] = '\0';
        return 1;
    }
    return 0;
}

void tui_runs_update(tui_app *a)
{
    tui_runs *t = a->runs;
    if (!t || !t->db)
        return;
    if (a->headless || nm_now() >= t->next_poll)
        poll(a);
}

int tui_runs_tick(tui_app *a)
{
    tui_runs *t = a->runs;
    if (!t || !t->db || a->s.screen != WB_SCREEN_RUNS || nm_now() < t->next_poll)
        return 0;
    return poll(a);
}

/* Picks the first two numeric metrics as the plot's axes. */
static void default_axes(tui_runs *t)
{
    const runs_table *tb = &t->db->t;
    t->x_name[0] = t->y_name[0] = '\0';
    for (int c = 0; c < tb->n_cols; c++)
        if (tb->cols[c].role == RUNS_COL_METRIC && tb->cols[c].numeric) {
            char *dst = !t->x_name[0] ? t->x_name : !t->y_name[0] ? t->y_name : NULL;
            if (dst)
                snprintf(dst, sizeof t->x_name, "%s", tb->cols[c].name);
        }
}

int tui_runs_open(tui_app *a, const char *path)
{
    char err[512];
    runs_db *db = NULL;
    if (!nmlua_path_allowed(nmlua_host_state(a->host), path))   /* as for the models F4 opens */
        snprintf(err, sizeof err, "%s: --sandbox: only files under the working folder can be opened", path);
    else
        db = runs_db_open(path, err, sizeof err);
    if (!db) {
        snprintf(a->s.alert_title, sizeof a->s.alert_title, "Could not open %.140s", path);
        snprintf(a->s.alert, sizeof a->s.alert, "%s\n\nThe Runs screen (7) reads the databases that "
                 "`nmlab sweep SPEC.lua --db FILE.db` writes (docs/sweeps.md).", err);
        tui_status(a, "%s", err);
        return -1;
    }
    if (!a->runs && !(a->runs = calloc(1, sizeof *a->runs))) {
        runs_db_close(db);
        tui_status(a, "%s: out of memory", path);
        return -1;
    }
    tui_runs *t = a->runs;
    free_display(t);
    runs_table_free(&t->grouped);
    t->have_grouped = 0;
    runs_db_close(t->db);
    t->db = db;
    wb_runs *w = &a->s.runs;
    memset(w, 0, sizeof *w);
    w->open = 1;
    w->sort_col = w->x_col = w->y_col = -1;
    w->x_min = w->y_max = 1;
    w->cur_col = 0;
    t->sort_name[0] = t->cur_name[0] = t->sel_id[0] = '\0';
    poll(a);
    default_axes(t);
    rebuild(a);
    a->prev_screen = a->s.screen;
    a->s.screen = WB_SCREEN_RUNS;
    tui_status(a, "opened %s%s", path, w->note[0] ? " (see the note above the table)" : "");
    return 0;
}

/* Enter: the selected point (or group) in full, in the message box. */
static void details(tui_app *a)
{
    const wb_runs *w = &a->s.runs;
    const tui_runs *t = a->runs;
    if (w->selected < 0 || w->selected >= w->n_rows)
        return;
    const runs_table *tb = table(a);
    int row = t->order[w->selected];
    char *p = a->s.alert;
    size_t left = sizeof a->s.alert, used;
    p[0] = '\0';
    for (int c = 0; c < w->n_cols && left > 1; c++) {
        const char *v = w->cells[(size_t)w->selected * (size_t)w->n_cols + (size_t)c];
        if (tb->cols[c].role == RUNS_COL_ERROR || !v[0])
            continue;
        snprintf(p, left, "%s = %s\n", w->col_names[c], v);
        used = strlen(p), p += used, left -= used;
    }
    if (tb->errors && tb->errors[row] && left > 1)
        snprintf(p, left, "\n%s", tb->errors[row]);
    if (tb->ids)
        snprintf(a->s.alert_title, sizeof a->s.alert_title, "Point %s", tb->ids[row]);
    else
        snprintf(a->s.alert_title, sizeof a->s.alert_title, "Group %d (mean\u00b195%% CI over its seeds)",
                 w->selected + 1);
}

/* Sets the name remembered for the column under the cursor. */
static void name_col(tui_app *a, char *dst, size_t n)
{
    const wb_runs *w = &a->s.runs;
    snprintf(dst, n, "%s", w->cur_col >= 0 && w->cur_col < w->n_cols ? w->col_names[w->cur_col] : "");
}

void tui_runs_key(tui_app *a, int key)
{
    tui_runs *t = a->runs;
    wb_runs *w = &a->s.runs;
    if (!t || !t->db) {
        tui_status(a, "no sweep database open: o (F4) and a .db file");
        return;
    }
    int page = a->grid->h / 2 > 1 ? a->grid->h / 2 : 1;
    switch (key) {
    case KEY_UP: case 'k': w->selected--; break;
    case KEY_DOWN: case 'j': w->selected++; break;
    case KEY_PPAGE: w->selected -= page; break;
    case KEY_NPAGE: w->selected += page; break;
    case KEY_HOME: w->selected = 0; break;
    case KEY_END: w->selected = w->n_rows - 1; break;
    case KEY_LEFT: case 'h': if (w->cur_col > 0) w->cur_col--; break;
    case KEY_RIGHT: case 'l': if (w->cur_col < w->n_cols - 1) w->cur_col++; break;
    case 's':
        remember(a);
        if (w->sort_col == w->cur_col) {
            w->sort_desc = !w->sort_desc;
        } else {
            w->sort_desc = 0;
            name_col(a, t->sort_name, sizeof t->sort_name);
        }
        rebuild(a);
        tui_status(a, "sorted by %s, %s (s again reverses)", t->sort_name,
                   w->sort_desc ? "descending" : "ascending");
        break;
    case 'g':
        remember(a);
        w->grouped = !w->grouped;
        w->selected = 0;
        rebuild(a);
        tui_status(a, w->grouped ? "grouped: the ok points' mean and 95%% interval over the seeds (g: points)"
                                 : "every point (g groups them over the seeds)");
        break;
    case 'v':
        w->show_plot = !w->show_plot;
        break;
    case 'x': case 'y': {
        const runs_table *tb = table(a);
        if (w->cur_col < 0 || w->cur_col >= tb->n_cols || !tb->cols[w->cur_col].numeric) {
            tui_status(a, "%s is not a numeric column: Left/Right to a metric first",
                       w->cur_col >= 0 && w->cur_col < w->n_cols ? w->col_names[w->cur_col] : "this");
            return;
        }
        remember(a);
        name_col(a, key == 'x' ? t->x_name : t->y_name, sizeof t->x_name);
        w->show_plot = 1;
        rebuild(a);
        tui_status(a, "plot: %s against %s", t->y_name[0] ? t->y_name : "(y?)", t->x_name[0] ? t->x_name : "(x?)");
        break;
    }
    case 'X': case 'Y':
        remember(a);
        *(key == 'X' ? &w->x_min : &w->y_max) ^= 1;
        rebuild(a);
        break;
    case 'r':
        t->db->loaded = 0;
        poll(a);
        tui_status(a, "read %s again", t->db->path);
        break;
    case KEY_ENTER: case '\r': case '\n': details(a); break;
    }
    if (w->selected >= w->n_rows)
        w->selected = w->n_rows - 1;
    if (w->selected < 0)
        w->selected = 0;
    name_col(a, t->cur_name, sizeof t->cur_name);
}

int tui_runs_search(tui_app *a, const char *needle, int next)
{
    tui_runs *t = a->runs;
    wb_runs *w = &a->s.runs;
    if (!t || !t->db || !t->order || w->n_rows == 0)
        return 0;
    const runs_table *tb = table(a);
    for (int k = next ? 1 : 0; k < w->n_rows + (next ? 1 : 0); k++) {
        int i = (w->selected + k) % w->n_rows;
        if (runs_row_matches(tb, t->order[i], needle)) {
            w->selected = i;
            return 1;
        }
    }
    return 0;
}

/* The first nmlab-runs-SWEEP-N.png that does not exist. */
static int free_name(const char *sweep, char *out, size_t n)
{
    char stem[160];
    snprintf(stem, sizeof stem, "nmlab-runs-%.100s", sweep[0] ? sweep : "sweep");
    for (char *c = stem; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_' || *c == '.'))
            *c = '_';
    for (int i = 1; i < 100000; i++) {
        snprintf(out, n, "%s-%d.png", stem, i);
        if (access(out, F_OK) != 0)
            return 0;
    }
    return -1;
}

void tui_runs_export(tui_app *a)
{
    tui_runs *t = a->runs;
    const wb_runs *w = &a->s.runs;
    if (!t || !t->db) {
        tui_status(a, "export failed: no sweep database open");
        return;
    }
    if (w->x_col < 0 || w->y_col < 0 || w->n_pts == 0) {
        tui_status(a, "export failed: %s", w->x_col < 0 || w->y_col < 0
                                               ? "choose the plot's axes first (x and y on numeric columns)"
                                               : "no row has numbers in both plotted columns");
        return;
    }
    char name[200], title[400], xl[200], yl[200], params[1200];
    if (free_name(t->db->sweep, name, sizeof name) != 0) {
        tui_status(a, "export failed: no free file name");
        return;
    }
    const char *xn = w->col_names[w->x_col], *yn = w->col_names[w->y_col];
    snprintf(title, sizeof title, "%s: %s against %s, Pareto front (%s %s, %s %s)%s", t->db->sweep, yn, xn,
             xn, w->x_min ? "min" : "max", yn, w->y_max ? "max" : "min",
             w->grouped ? ", means over seeds" : "");
    snprintf(xl, sizeof xl, "%s (%s is better)", xn, w->x_min ? "lower" : "higher");
    snprintf(yl, sizeof yl, "%s (%s is better)", yn, w->y_max ? "higher" : "lower");
    snprintf(params, sizeof params, "db=%s sweep=%s spec_hash=%s x=%s y=%s x_goal=%s y_goal=%s grouped=%d points=%d",
             t->db->path, t->db->sweep, t->db->hash, xn, yn, w->x_min ? "min" : "max", w->y_max ? "max" : "min",
             w->grouped, w->n_pts);
    plot_opts o = plot_defaults();
    o.title = title, o.xlabel = xl, o.ylabel = yl, o.params = params;
    plot *p = plot_begin(&o);
    plot_pareto_data d = {.n = w->n_pts, .x = w->px, .y = w->py, .front = w->front};
    if (!p || plot_pareto(p, &d) != NM_OK || plot_save(p, name) != NM_OK)
        tui_status(a, "export failed: %s", nm_errmsg());
    else
        tui_status(a, "exported %s", name);
    plot_end(p);
}
