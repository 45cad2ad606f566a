/* bind_plot.h - what the nm.plot binding files share: the plot object
 * (bind_plot.c) and the readers of option tables (bind_plot_args.c).
 *
 * Readers raise with luaL_argerror naming the field ("series[2].values has
 * 3 values but groups has 4"); they never return on bad input. Buffers they
 * fill are userdata left on the Lua stack (collected after the call, even
 * when it raises) and strings are appended to an `anchor` table on the
 * stack, so no pointer outlives its string. */
#ifndef BIND_PLOT_H
#define BIND_PLOT_H

#include "nmlua.h"
#include "plot.h"

#include <stddef.h>

#define NMLUA_PLOT "nm.plot"

/* The userdata of a plot object. */
typedef struct {
    plot *p;            /* NULL once freed */
    size_t counted;     /* bytes counted against the memory limit */
    const char *kind;   /* static string: "bars", "heatmap", ... */
} plot_ud;

/* --- the plot object (bind_plot.c) --- */

/* Pushes a new plot object and begins its figure with options o; raises
 * with the plot layer's message for bad options or past the memory limit. */
plot_ud *plotobj_push(lua_State *L, const plot_opts *o, const char *kind);
/* The same for a rows x cols matrix (heatmaps, masks): with the `cell`
 * option the figure is counted at that cell size. */
plot_ud *plotobj_push_matrix(lua_State *L, const plot_opts *o, const char *kind, int64_t rows,
                             int64_t cols);
/* After a chart call: returns 1 (the object on top) if status is NM_OK,
 * else frees the figure and raises "nm.plot.<kind>: <message>". */
int plotobj_finish(lua_State *L, plot_ud *u, int status);

/* --- reading options (bind_plot_args.c) --- */

/* Raises "bad argument #arg to 'fn' (<formatted>)"; lua_pushfstring formats. */
int plotarg_error(lua_State *L, int arg, const char *fmt, ...);
/* A zeroed buffer of n elements of `size` bytes, owned by a userdata left
 * on the stack. */
void *plotarg_scratch(lua_State *L, size_t n, size_t size);
/* The string (or number, converted) at stack index idx, kept alive in the
 * anchor table at index `anchor`. */
const char *plotarg_anchor(lua_State *L, int anchor, int idx);

/* Fields of the table at arg; absent fields give NULL / def / 0. */
const char *plotarg_string(lua_State *L, int arg, int anchor, const char *key);
double plotarg_number(lua_State *L, int arg, const char *key, double def);  /* finite */
int plotarg_size(lua_State *L, int arg, const char *key, int max);          /* 0..max */
int plotarg_bool(lua_State *L, int arg, const char *key, int def);
/* One of the NULL-terminated `names` (two of them): its index. */
int plotarg_choice(lua_State *L, int arg, const char *key, const char *const names[]);
/* The figure options every chart takes: title, xlabel, ylabel, width,
 * height, dpi, theme, params (a string, or a table written as sorted
 * key=value pairs). */
void plotarg_opts(lua_State *L, int arg, int anchor, plot_opts *o);

/* Pushes the array in field `key` of the table at arg; returns its length.
 * Raises (naming `what`) if it is not a table or is empty. */
size_t plotarg_array(lua_State *L, int arg, const char *key, const char *what);
/* n finite numbers / strings from the array at stack index t. */
void plotarg_numbers(lua_State *L, int t, size_t n, double *out, const char *what);
void plotarg_strings(lua_State *L, int t, int anchor, size_t n, const char **out,
                     const char *what);
/* The `series` option of the table at stack index 1: 1..PLOT_MAX_SERIES
 * entries {name =, values =, labels =}, each `values` of *n_points numbers
 * (`against` names what sets that length; 0 = the first series sets it).
 * Sets names (NULL for one unnamed series), values (series-major) and, if
 * labels_out is given, the per-bar labels (NULL if no series has any).
 * Returns the number of series. */
int plotarg_series(lua_State *L, int anchor, int *n_points, const char *against,
                   const char ***names_out, double **values_out, const char ***labels_out);

/* --- engine and simulator helpers (bind_plot_engine.c) --- */

/* Adds layer_density, mask, energy, utilization and roofline to the table on top. */
void plotlua_add_engine_helpers(lua_State *L);
/* Adds pareto (bind_plot_pareto.c: sweep results or plain points). */
void plotlua_add_pareto(lua_State *L);

#endif
