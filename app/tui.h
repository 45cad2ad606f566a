/* tui.h - the interactive workbench (curses event loop over the views). */
#ifndef TUI_H
#define TUI_H

#include "host.h"
#include "settings.h"
#include "tui_term.h"
#include "undo.h"
#include "workbench.h"

#define TUI_MIN_W 80
#define TUI_MIN_H 24
#define TUI_HIST_MAX 500

/* The prune form: a method and its parameters, edited in a small modal. */
typedef enum { PF_NM = 0, PF_MAGNITUDE, PF_GLOBAL, PF_FILTERS, PF_NFFS, PF_JOINTNF, PF_RESET, PF_COUNT } pf_method;

typedef struct {
    int open;
    int field;            /* selected row */
    pf_method method;
    int n, m;
    int group;            /* 0 auto, 1 kernel, 2 in, 3 row */
    int pct;              /* sparsity / filter ratio in percent */
    int rounds;
    int typing;           /* digits typed into the current field so far */
    char skipped[160];    /* layers model-wide methods leave dense, e.g.
                             "conv1 (first conv), fc2 (classifier)" */
} prune_form;

/* The setup form (F2): a copy of the settings being edited. */
typedef struct {
    int open;
    int field;
    int theme_dark, colours, n, m, rows, cols, mac, present;
} setup_form;

/* The open / save prompt (o F4 / w F5): a path being typed. */
typedef struct {
    int mode;             /* 0 closed, 1 open, 2 save */
    char text[1024];
    char hint[512];       /* completion candidates or why there are none */
} file_prompt;

typedef struct tui_sim tui_sim;
typedef struct tui_act tui_act;
typedef struct tui_runs tui_runs;

typedef struct tui_app {
    term_info ti;
    int headless;         /* --frames without a terminal: render to text */
    tui_grid *grid;
    wb_state s;
    nmlua_host *host;
    const nm_model *seen; /* the model the views last showed */
    nm_model *base;       /* clone of it before any pruning (owned) */
    undo_stack undo;
    nm_settings settings;
    char settings_file[1024], history_file[1024];
    int quit;
    char *hist[TUI_HIST_MAX];
    int n_hist, hist_pos;
    char chunk[8192];     /* multi-line console input collected so far */
    prune_form form;
    wb_screen prev_screen;
    tui_sim *sim;         /* array/energy screens' simulator state */
    tui_act *act;         /* activations screen's forward pass */
    tui_runs *runs;       /* Runs screen's sweep database, or NULL */
    int pending[256];     /* keys read by the pump while Lua ran, in order */
    int n_pending;
    /* per-layer stats of seen and base, counted once per change instead of
     * once per frame (owned; see tui_weights_changed) */
    nm_layer_stats *stats, *base_stats;
    int n_stats, n_base_stats;
    int stats_stale;
    double stats_at;      /* monotonic seconds of the last count */
    /* the Mask screen's group axis, found from the selected layer's mask
     * once per change (see mask_axis_refresh) */
    const nm_model *axis_model;
    int axis_layer, axis_stale;
    /* `/` layer search: typing into `search` while `searching` */
    int searching;
    char search[64];
    int quit_asked;       /* q asked "quit with unsaved pruning?" */
    setup_form setup;
    file_prompt files;
    const nm_model *saved;  /* the model last saved from the prompt, and */
    undo_snap *saved_snap;  /* its pruning then (owned): q does not ask */
    term_colors colors_max; /* what the terminal allows (setup may ask fewer) */
} tui_app;

typedef struct {
    const char *model_path;   /* NULL: the built-in default */
    const char *input;        /* "CxHxW" for a model with symbolic dimensions, or NULL */
    const char *script;       /* --tui SCRIPT.lua, run after start-up */
    int frames;               /* > 0: batch mode, render this many frames */
    const char *keys;         /* batch mode: keys to feed, comma separated */
    const char *screen;       /* start screen by name */
    const char *runs;         /* --runs FILE.db: open it on the Runs screen */
    nmlua_options lua;
} tui_options;

/* Runs the workbench until the user quits; returns the exit status. */
int tui_main(const tui_options *opt);

/* Key dispatch (tui_keys.c). Returns 1 if the key was used. */
int tui_handle_key(tui_app *a, int key);
/* The keymap as help rows, for the help screen. */
const wb_key_help *tui_keymap_help(int *n);
/* Names a key code for batch mode ("Down", "Enter", "a"). -1 if unknown. */
int tui_key_from_name(const char *name);

/* Lua glue (tui.c). */
void tui_run_lua(tui_app *a, const char *code, const char *echo);
void tui_sync_model(tui_app *a);
/* The weights or masks may have changed (a script, an action, undo, a new
 * model): the stats, the simulator and the activations are redone before
 * the next frame that shows them. */
void tui_weights_changed(tui_app *a);
nm_model *tui_model(tui_app *a);
void tui_console_submit(tui_app *a);
void tui_console_complete(tui_app *a);
void tui_status(tui_app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Array and Energy screens (tui_sim.c). */
tui_sim *tui_sim_new(tui_app *a);
void tui_sim_free(tui_sim *t);
void tui_sim_touch(tui_app *a);      /* masks may have changed */
void tui_sim_update(tui_app *a);     /* before drawing */
void tui_sim_tick(tui_app *a);       /* idle tick: animation */
void tui_energy_update(tui_app *a);
void tui_array_key(tui_app *a, int key);
/* Key D on the Array and Energy screens: steps the memory model through
 * off, 64 KB SRAMs at 10 words/cycle, and at 2 (stalls, DRAM energy). */
void tui_sim_mem_key(tui_app *a, int key);
void tui_act_key(tui_app *a, int key);
tui_act *tui_act_new(tui_app *a);
void tui_act_free(tui_act *t);
void tui_act_touch(tui_app *a);
void tui_act_update(tui_app *a);

/* The Runs screen (tui_runs.c): a sweep database, read-only. Open says
 * why in the message box when it cannot (0 or -1) and switches to the
 * screen when it can. Update runs before drawing (polls when due), tick
 * on idle (1: something changed, redraw). */
int tui_runs_open(tui_app *a, const char *path);
void tui_runs_free(tui_runs *t);
void tui_runs_update(tui_app *a);
int tui_runs_tick(tui_app *a);
void tui_runs_key(tui_app *a, int key);
void tui_runs_export(tui_app *a);
/* Selects the next displayed row (from the selected one, or after it when
 * next) holding needle; 1 if found. */
int tui_runs_search(tui_app *a, const char *needle, int next);

/* Reconfigures the array from a->settings (MAC, rows, columns). */
void tui_sim_configure(tui_app *a);
/* MAC names the Array screen cycles through (m) and setup offers. */
const char *tui_sim_mac(int i, int *n);

/* The setup form (tui_setup.c), F2. */
void tui_setup_open(tui_app *a);
int tui_setup_key(tui_app *a, int key);
void tui_setup_draw(tui_grid *g, const setup_form *f);
/* Applies the colour choice and the theme to the terminal and views. */
void tui_apply_look(tui_app *a);

/* Open / save a model from a file prompt (tui_files.c). */
void tui_files_open(tui_app *a, int save);
int tui_files_key(tui_app *a, int key);
void tui_files_complete(tui_app *a);
void tui_files_draw(tui_grid *g, const file_prompt *f);

/* `e`: the current screen as a PNG (tui_export.c); the status says where. */
void tui_export(tui_app *a);

/* The prune form (tui_form.c). */
void tui_form_open(tui_app *a);
int tui_form_key(tui_app *a, int key);
void tui_form_draw(tui_grid *g, const prune_form *f);

#endif
