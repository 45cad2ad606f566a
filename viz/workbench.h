/* workbench.h - the state the TUI views draw from.
 *
 * The app owns one wb_state and everything it points to; views only read it
 * (and the scroll/zoom fields they clamp). Nothing here knows about curses
 * or Lua: the console is a log of lines and an input buffer. */
#ifndef WORKBENCH_H
#define WORKBENCH_H

#include "model.h"
#include "tui_grid.h"

#include <stddef.h>

#define WB_LOG_LINES 1000
#define WB_INPUT_MAX 1024

typedef enum {
    WB_SCREEN_LAYERS = 0,
    WB_SCREEN_MASK,
    WB_SCREEN_ACTIVATIONS,
    WB_SCREEN_ARRAY,
    WB_SCREEN_ENERGY,
    WB_SCREEN_CONSOLE,
    WB_SCREEN_RUNS,
    WB_SCREEN_COUNT
} wb_screen;

typedef enum { WB_LOG_OUT = 0, WB_LOG_INPUT, WB_LOG_ERROR, WB_LOG_INFO } wb_log_kind;

typedef struct {
    char *lines[WB_LOG_LINES];   /* ring buffer of malloc'd lines */
    unsigned char kinds[WB_LOG_LINES];
    int head, count;             /* oldest at head */
} wb_log;

/* What the Array screen shows; filled by the app from the simulator. */
#define WB_MAX_HITS 128
#define WB_MAX_COMP 12
/* One layer (or the total) under the memory model: compute cycles, stall
 * cycles, DRAM transfer cycles (words / bandwidth), DRAM words and energy,
 * dense MACs per DRAM word, and whether memory bounds it. */
typedef struct {
    int64_t compute, stall;
    double mem_cycles, dram_words, dram_pj, intensity;
    int mem_bound;
} wb_layer_mem;

typedef struct {
    char config[512];            /* "nm-4:9-4:9 16x16 ws ..." (sim_config_describe, whole) */
    char layer[NM_NAME_MAX];
    int64_t E, K, Nf;
    int64_t cycle, total_cycles, fold, folds;
    int phase;                   /* 0 loading weights, 1 streaming */
    const int32_t *grid;         /* rows*cols item per PE, -1 idle */
    int rows, cols;
    const double *pe_busy;       /* rows*cols busy cycles so far */
    int playing, speed;
    int n_layers;                /* per-layer analytic results of the model */
    const char *const *layer_names;
    const double *layer_util, *layer_mult_util;
    const int64_t *layer_cycles;
    /* memory model (key D): mem = 1 when the system has one; per layer
     * (n_layers, from the model report) and the total */
    int mem;
    char mem_desc[96];           /* "64 KB SRAMs, 10 words/cycle" */
    const wb_layer_mem *layer_mem;
    wb_layer_mem total_mem;
    int roofline;                /* key R: the roofline table instead of the array */
    int teaching;                /* nm-MAC walk-through instead of the array */
    const char *trace;           /* its text, steps separated by blank lines */
    int trace_step;
    char note[200];
} wb_array;

/* What the Energy screen shows: per system, energy by component for the
 * whole model and for the selected layer, and each layer's total. */
typedef struct {
    int n_systems, n_comp;
    char system[6][48];
    const char *comp[WB_MAX_COMP];
    double pj[6][WB_MAX_COMP];   /* total energy per component, pJ */
    int64_t cycles[6];
    double area_mm2[6];
    /* per layer (the simulated conv/linear layers, in model order) */
    int n_layers;
    const char *const *layer_names;
    const double *layer_pj[6];   /* per system: each layer's total, pJ */
    int layer_sel;               /* index of the selected layer, or -1 */
    double sel_pj[6][WB_MAX_COMP]; /* the selected layer by component */
    int64_t sel_cycles[6];
    /* memory model (key D): stall cycles and DRAM per system, whole model,
     * each layer and the selected one */
    int mem;
    char mem_desc[96];
    wb_layer_mem total_mem[6], sel_mem[6];
    const wb_layer_mem *layer_mem[6];
    char switches[512];
    char note[200];
} wb_energy;

/* What the Activations screen shows: one channel of an activation layer's
 * input (before) and output after ReLU + N:M (after), and per-layer
 * densities. Filled by the app from a forward pass. */
typedef struct {
    char sample[120];            /* what went in */
    char layer[NM_NAME_MAX];     /* the ReLU/NMReLU layer shown */
    int channel, channels, h, w;
    const float *before, *after; /* h*w values of the channel */
    int n, m, policy;            /* the N:M applied, policy 0 first 1 topk */
    int n_layers;                /* activation layers of the model */
    const char *const *names;
    const double *relu_density, *nm_density;
    int selected;                /* index into names of `layer` */
    char note[200];
} wb_act;

/* What the Runs screen shows: a sweep database's points (or their groups
 * over the seeds) as a table of display strings, and the Pareto plot of
 * two numeric columns. Filled by the app (app/tui_runs.c) from the
 * database; the view only reads it, except the scroll fields it clamps. */
typedef struct {
    int open;                    /* a database is open */
    char title[320];             /* sweep name, file, counts per status */
    char note[400];              /* a message (locked, ...) or "" */
    int n_cols, n_rows;
    const char *const *col_names;
    const char *const *cells;    /* n_rows * n_cols, rows in display order */
    const int *row_style;        /* per displayed row: a tui_style */
    int sort_col, sort_desc;     /* sort_col < 0: the spec's order */
    int cur_col;                 /* the column cursor (x / y / s act on it) */
    int selected;                /* displayed row */
    int scroll, col_scroll;      /* first row / first scrolled column shown */
    int grouped;                 /* mean and 95 % interval over the seeds */
    int show_plot;
    int x_col, y_col;            /* the plotted columns, or -1 */
    int x_min, y_max;            /* goals: small x good, large y good */
    int n_pts;                   /* plotted points */
    const double *px, *py;
    const unsigned char *front;  /* n_pts flags: on the Pareto front */
    const int *pt_row;           /* n_pts: the displayed row of each point */
} wb_runs;

/* Layers table sort keys. */
typedef enum { WB_SORT_ORDER = 0, WB_SORT_NAME, WB_SORT_DENSITY, WB_SORT_MACS, WB_SORT_PARAMS, WB_SORT_COUNT } wb_sort;

/* How the Mask screen maps matrix cells to characters: along columns,
 * zc cells per character (mc = 1) or mc characters per cell (zc = 1); along
 * rows the same in sub-rows (two per character with colour half blocks). */
typedef struct {
    int64_t zc, zr;
    int mc, mr;
    int sub;                     /* sub-rows per character: 2 or 1 */
} wb_mask_scale;

typedef struct {
    const nm_model *model;       /* current model (not owned by views) */
    const nm_model *base;        /* the same model before pruning, or NULL */
    /* per-layer stats of model and base cached by the owner (the app
     * refreshes them when the weights change), or NULL: the views then
     * count them themselves, which scans every weight */
    const nm_layer_stats *stats, *base_stats;
    int selected;                /* selected layer index */
    int scroll;                  /* first visible row of the layers table */
    wb_sort sort;
    char settings[160];          /* current pruning settings, for the header */

    /* mask view: cursor in matrix coordinates; zoom > 0: matrix cells per
     * character, < 0: characters per matrix cell (magnified), 0: fit (the
     * two axes scaled apart, small matrices magnified) */
    int64_t cur_r, cur_c;
    int64_t view_r, view_c;
    int zoom;
    wb_mask_scale mask_scale;    /* what view_mask last drew (set by it) */
    /* the selected layer's N:M group axis as the owner found it from the
     * mask (nm_group_axis + 1); 0: unknown, the layer's default axis */
    int mask_axis;

    /* console */
    wb_log log;
    int log_scroll;              /* lines scrolled back from the bottom */
    char input[WB_INPUT_MAX];
    int input_len, input_cursor;
    int continuation;            /* 1 while a multi-line chunk is incomplete */

    /* status line and progress */
    wb_screen screen;
    char status[256];
    int busy;                    /* an operation or script is running */
    double progress;             /* 0..1, < 0 = unknown */
    char progress_what[64];
    wb_array array;
    wb_act act;
    int have_act;
    wb_energy energy;
    int have_array, have_energy;
    wb_runs runs;
    /* layer rows drawn this frame (set by the views, cleared by wb_draw):
     * a mouse click on one selects that layer */
    struct { int x, y, w; char layer[NM_NAME_MAX]; } hits[WB_MAX_HITS];
    int n_hits;
    int theme_dark;
    int color;                   /* colours available: else glyph-only masks */
    int mouse;
    int show_help;
    int present;                 /* presentation mode: larger cells, high contrast */
    int help_scroll;             /* first help row shown */
    /* a message box over the screen until a key is pressed (e.g. the model
     * named on the command line could not be opened); empty: none */
    char alert_title[160];
    char alert[800];
} wb_state;

void wb_log_add(wb_log *log, wb_log_kind kind, const char *text);
void wb_log_clear(wb_log *log);
/* i-th line counting from the oldest (0 <= i < count). */
const char *wb_log_line(const wb_log *log, int i, wb_log_kind *kind);

/* One entry of the keymap: the app's table drives dispatch and the help
 * screen alike, so the two cannot drift apart. */
typedef struct {
    const char *keys;     /* as shown: "1-6", "Tab", "Ctrl-C" */
    const char *screens;  /* where it applies: "all", "mask", ... */
    const char *help;
    const char *fkey;     /* on the function-key bar: "F1" ... or NULL */
    const char *bar;      /* its word on the bar: "Help" */
} wb_key_help;

/* Views: each draws its screen into the rectangle (x, y, w, h) of g. */
void view_header(tui_grid *g, const wb_state *s);
void view_status(tui_grid *g, const wb_state *s);
/* The function-key bar on the bottom line (htop's): the keymap entries
 * that have an fkey, as "F1Help F2Setup ..." */
void view_fkeys(tui_grid *g, const wb_key_help *keys, int n);
void view_layers(tui_grid *g, wb_state *s, int x, int y, int w, int h);
void view_mask(tui_grid *g, wb_state *s, int x, int y, int w, int h);
void view_console(tui_grid *g, wb_state *s, int x, int y, int w, int h);
void view_array(tui_grid *g, wb_state *s, int x, int y, int w, int h);
void view_activations(tui_grid *g, wb_state *s, int x, int y, int w, int h);
void view_energy(tui_grid *g, wb_state *s, int x, int y, int w, int h);
void view_runs(tui_grid *g, wb_state *s, int x, int y, int w, int h);
void view_help(tui_grid *g, wb_state *s, const wb_key_help *keys, int n, int x, int y, int w, int h);
void view_too_small(tui_grid *g, int min_w, int min_h);
/* The message box of s->alert_title / s->alert, centred, text wrapped at
 * spaces (and at '\n'). */
void view_alert(tui_grid *g, const wb_state *s);

/* Draws the whole screen for s->screen into g (header, body, status). */
void wb_draw(tui_grid *g, wb_state *s, const wb_key_help *keys, int nkeys);

/* Layer order for the layers table under s->sort (indices into the model;
 * writes n_layers entries). */
void wb_layer_order(const wb_state *s, int *order);
/* Records that the row at (x, y), w wide, names `layer` (for the mouse). */
void wb_hit_add(wb_state *s, int x, int y, int w, const char *layer);
/* The layer named by the row under (x, y) this frame, or NULL. */
const char *wb_hit_at(const wb_state *s, int x, int y);
/* The Mask screen's scale for a rows x cols matrix in an area of aw x ah
 * characters under s->zoom and s->color. */
wb_mask_scale wb_mask_scale_for(const wb_state *s, int64_t rows, int64_t cols, int aw, int ah);
/* The matrix cell under character (i, j) of the Mask screen's matrix area,
 * as last drawn (not clamped to the matrix). */
void wb_mask_cell_at(const wb_state *s, int i, int j, int64_t *r, int64_t *c);
/* The columns of the N:M group that holds column c of layer l's im2col
 * matrix under `axis` (NM_GROUP_KERNEL/IN/ROW) and group size m: writes up
 * to `max` column indices into cols, returns how many. */
int wb_nm_group_cols(const nm_layer *l, int axis, int m, int64_t c, int64_t *cols, int max);
/* Layer i's stats of s->model (or s->base), from the cache when there is one. */
void wb_layer_stats(const wb_state *s, int i, nm_layer_stats *out);
void wb_base_stats(const wb_state *s, int i, nm_layer_stats *out);

/* Draws text in at most w cells like tui_text, but a longer text loses its
 * middle, not its end: "encoder.lay…_0.mlp.fc1", so that layer names that
 * share a long prefix stay apart. Returns the cells drawn. */
int wb_text_elide(tui_grid *g, int x, int y, int w, int style, const char *text);
/* "1.82 G", "512 k" style formatting into buf. */
const char *wb_human(double v, char *buf, int len);

/* Draws text in at most w cells; a longer text is cut after its last whole
 * word that fits and ends in an ellipsis, so no number is cut in the
 * middle. Returns the cells drawn. */
int wb_text_fit(tui_grid *g, int x, int y, int w, int style, const char *text);

/* A column of a table that fits its width (wb_cols.c). The caller sets
 * head, prio, left, gap, min_w, max_w and pref; wb_cols_fit sets width and
 * shown. */
typedef struct {
    const char *head;   /* header text */
    int prio;           /* 0: always shown; else the largest goes first */
    int left;           /* left-aligned text (elided when narrowed), else
                           right-aligned (numbers) */
    int gap;            /* spaces before the column (not the first shown) */
    int min_w, max_w;   /* left columns: width bounds (max_w 0: none) */
    int pref;           /* width used when every column fits at it */
    int width, shown;
} wb_col;
/* Fits the columns into w cells: each as wide as its header and widest
 * cell (cells[r * nc + c], NULL for empty; n rows), all at their `pref`
 * when that fits; else elidable text columns (left, max_w > 0) narrowed
 * down to min_w, then whole columns dropped, highest prio first (the room
 * they leave goes back to the names). Returns the number hidden. */
int wb_cols_fit(wb_col *cols, int nc, const char *const *cells, int n, int w);
/* The x offset of column c from the table's left, or -1 if it is hidden. */
int wb_cols_x(const wb_col *cols, int nc, int c);
/* Draws a row of nc cells (the headers when row is NULL) from x; returns
 * the table's width. */
int wb_cols_row(tui_grid *g, int x, int y, const wb_col *cols, int nc, const char *const *row,
                int style);
/* "a, b": the headers of the hidden columns (empty if none). */
void wb_cols_hidden(const wb_col *cols, int nc, char *buf, size_t n);

#endif
