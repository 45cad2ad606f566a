/* nmlua.h - what the binding files share: submodule registration, host
 * services (memory accounting, sandboxed paths, cancellation) and the
 * tensor and model handles other bindings pass around.
 *
 * Conventions (STYLE.md): one metatable per type, checked with
 * luaL_checkudata; programming mistakes raise (luaL_argerror names the
 * argument); expected failures return nil, message. Engine calls never
 * longjmp: a binding calls the engine, cleans up, then raises. */
#ifndef NMLUA_H
#define NMLUA_H

#include "host.h"
#include "model.h"
#include "tensor.h"

#include <lauxlib.h>
#include <lua.h>
#include <stddef.h>

/* --- module registration (nmlua.c) --- */

/* A submodule adds its functions and metatables to the `nm` table at stack
 * index `nm` (absolute). New bindings add one line to the table in nmlua.c. */
typedef void (*nmlua_open_fn)(lua_State *L, int nm);

void nmlua_open_tensor(lua_State *L, int nm);  /* bind_tensor.c */
void nmlua_open_model(lua_State *L, int nm);   /* bind_model.c */
void nmlua_open_zoo(lua_State *L, int nm);     /* bind_zoo.c */
void nmlua_open_io(lua_State *L, int nm);      /* bind_io.c (after model) */
void nmlua_open_sim(lua_State *L, int nm);     /* bind_sim.c: nm.sim */
void nmlua_open_plot(lua_State *L, int nm);    /* bind_plot.c: nm.plot */
void nmlua_open_prune(lua_State *L, int nm);   /* bind_prune*.c: nm.prune, nm.nmrelu, ... */
void nmlua_open_train(lua_State *L, int nm);   /* bind_train*.c: nm.train, nm.data */
void nmlua_open_debug(lua_State *L, int nm);   /* nmlua.c: nm._cancel_after, nm._methods */
void nmlua_open_mem(lua_State *L, int nm);     /* bind_mem.c: nm.memory */
void nmlua_open_runs(lua_State *L, int nm);    /* bind_runs.c: nm.runs (sweep results) */
void nmlua_open_speedup(lua_State *L, int nm); /* bind_speedup.c: nm.speedup */

/* Builds the `nm` module table (all submodules) and leaves it on the stack. */
int luaopen_nm(lua_State *L);

/* --- host services (host.c, sandbox.c) --- */

nmlua_host *nmlua_host_of(lua_State *L);

/* Counts `bytes` of engine memory held by a script object against the
 * memory limit (after a full collection if the first check fails) and nudges
 * the collector. NM_OK, or NM_ERR if the limit would be exceeded. */
int nmlua_mem_reserve(lua_State *L, size_t bytes);
/* Gives back what nmlua_mem_reserve counted. */
void nmlua_mem_release(lua_State *L, size_t bytes);

/* The engine's memory budget (tensor.h) for the engine call between begin
 * and end (bind_mem.c): what the engine reserves is counted against the
 * memory limit until end, so loaders refuse before allocating. end must run
 * on every path before the binding raises or returns; it gives the
 * reservation back and returns nonzero if the limit refused something (the
 * engine's failure was "not enough memory": the binding raises it). */
typedef struct {
    nm_mem_budget b;
    lua_State *L;
    size_t held;        /* bytes counted by the budget so far */
} nmlua_budget;
void nmlua_budget_begin(lua_State *L, nmlua_budget *nb);
int nmlua_budget_end(nmlua_budget *nb);

/* luaL_checkstring for a file name; in the sandbox it raises unless the
 * file lies under the working folder. */
const char *nmlua_checkpath(lua_State *L, int arg);

/* nm_progress_fn for engine operations started from Lua; ud is the
 * lua_State. Runs the pump and returns nonzero once cancellation is
 * requested, so the engine stops with "cancelled" and the binding raises. */
int nmlua_progress(void *ud, double fraction, const char *what);

/* Cancels the running script after `hooks` more hook calls (test aid). */
void nmlua_cancel_after(lua_State *L, long hooks);

/* --- tensors (bind_tensor.c) --- */

#define NMLUA_TENSOR "nm.tensor"

/* Pushes a handle that takes over one reference of t. counted = bytes the
 * handle holds against the memory limit (0 for views into a model). */
void nmlua_push_tensor(lua_State *L, nm_tensor *t, size_t counted);
/* The tensor of a live handle at arg; raises if freed or not a tensor. */
nm_tensor *nmlua_check_tensor(lua_State *L, int arg);

/* --- models and layers (bind_model.c) --- */

#define NMLUA_MODEL "nm.model"
#define NMLUA_LAYER "nm.layer"

/* Pushes a handle owning m. Counts m's tensors against the memory limit;
 * if that fails, frees m and raises "not enough memory". */
void nmlua_push_model(lua_State *L, nm_model *m);
/* Other bindings add model methods to the table in field "methods" of the
 * NMLUA_MODEL metatable (as bind_io.c does for model:save). */
/* The model of a live handle at arg; raises if freed or not a model. */
nm_model *nmlua_check_model(lua_State *L, int arg);
/* Counts growth or shrinkage of the model at arg (masks created or dropped
 * by another binding) against the memory limit; raises if over it. */
void nmlua_model_recount(lua_State *L, int arg);
/* The same without raising: NM_ERR (counts unchanged) when the growth does
 * not fit the memory limit. */
int nmlua_model_recount_soft(lua_State *L, int arg);
/* Bytes of all tensors a model owns. */
size_t nmlua_model_bytes(const nm_model *m);

/* --- models in use by engine loops (bind_model.c) ---
 *
 * A binding that runs an engine loop calling back into Lua (nm.train,
 * nm.prune.jointnf, sys:run with progress) marks the model as in use for
 * the loop's duration. While it is, every entry point that frees the model
 * or changes its structure (layers, masks, keep vectors, activations)
 * raises "<what>: model is in use by <loop>" through nmlua_model_check_idle;
 * reads and weight values stay allowed. docs/lua-api.md lists the rules. */

/* What a loop does to the model it uses (flags, combined with |). */
enum {
    NMLUA_USE_READ = 0,     /* only reads it (sys:run): nests in any loop */
    NMLUA_USE_WEIGHTS = 1,  /* changes weights (nm.train): not inside another
                             * weight-changing loop on the same model */
    NMLUA_USE_MASKS = 2,    /* changes masks or structure (nm.prune.jointnf;
                             * SR-STE training is WEIGHTS | MASKS): needs the
                             * model idle */
};
typedef int nmlua_use;

/* Marks the model of the model or layer handle at arg as in use by loop
 * `by` (a string literal, named in errors) until the calling C function
 * returns or raises: pushes a guard and makes it a to-be-closed slot, so
 * the caller must not remove it or move it (lua_remove, lua_insert,
 * lua_replace at its slot, lua_settop below it). Returns the model; raises
 * if the loop conflicts with one already running on it (see the flags). */
nm_model *nmlua_model_use(lua_State *L, int arg, const char *by, nmlua_use kind);
/* THE check of every mutating entry point: the model of the model or layer
 * handle at arg, or raises "<what>: model is in use by <loop>" while any
 * engine loop uses it (and "model has been freed"). */
nm_model *nmlua_model_check_idle(lua_State *L, int arg, const char *what);

/* --- metatables (nmlua.c) --- */

/* luaL_newmetatable that also locks the new metatable: its __metatable
 * field is tname, so getmetatable(x) returns tname and scripts cannot reach
 * (and strip __gc from) the real table. Leaves it on the stack. */
int nmlua_newmetatable(lua_State *L, const char *tname);

/* --- result tables (nmlua.c) --- */

/* t[k] = v for the table on top of the stack. */
void nmlua_set_num(lua_State *L, const char *k, double v);
void nmlua_set_int(lua_State *L, const char *k, lua_Integer v);
void nmlua_set_str(lua_State *L, const char *k, const char *v);
void nmlua_set_bool(lua_State *L, const char *k, int v);

/* --- option tables (nmlua.c), shared by the bindings --- */

/* Raises "bad argument #arg to 'fn' (field: msg)". */
int nmlua_field_error(lua_State *L, int arg, const char *field, const char *msg);
/* Pushes field `field` of the options table at arg (nil when the whole
 * table is absent) and returns its type. */
int nmlua_opt_field(lua_State *L, int arg, const char *field);

/* Readers of field `field` of the options table at arg: def when the field
 * or the whole table is absent; otherwise they raise naming the field. */

/* Integer within lo..hi (as Lua converts: "3" and 3.0 count). */
int nmlua_opt_int(lua_State *L, int arg, const char *field, int def, int lo, int hi);

/* Which other Lua types a reader takes. The bindings differ and each keeps
 * its own: nm.prune is STRICT, nm.train's numbers and nm.sim's booleans are
 * LOOSE. */
typedef enum {
    NMLUA_STRICT,       /* only a number / only a boolean */
    NMLUA_LOOSE,        /* also a numeric string ("0.1") for a number, the
                         * integers 0 and 1 for a boolean */
} nmlua_conv;

/* Number within lo..hi ("must be a number", "%f out of range %f..%f"). */
double nmlua_opt_num(lua_State *L, int arg, const char *field, double def, double lo, double hi,
                     nmlua_conv conv);
/* Boolean as 0 or 1 ("must be a boolean"). */
int nmlua_opt_bool(lua_State *L, int arg, const char *field, int def, nmlua_conv conv);
/* Index of the string in `names` (NULL-terminated); raises "must be one of
 * 'a', 'b'" for anything else, a non-string included. */
int nmlua_opt_enum(lua_State *L, int arg, const char *field, int def, const char *const *names);
/* A function: its absolute stack index (the function stays pushed), or 0
 * (nothing pushed) when absent. */
int nmlua_opt_fn(lua_State *L, int arg, const char *field);

#endif
