/* bind_prune.h - what the nm.prune binding files share: option readers,
 * targets (model, layer or tensor) and memory accounting of new masks.
 *   bind_prune.c        nm.prune.nm/filters/nffs/global/magnitude/reset,
 *                       nm.check_nm, model:apply_masks
 *   bind_prune_joint.c  nm.prune.jointnf (Lua callbacks inside the engine),
 *                       nm.prune.groups
 *   bind_prune_act.c    nm.nmrelu, nm.nmrelu_backward, nm.act_density,
 *                       nm.cost_measured, model:stats() effective MACs
 *   bind_prune_store.c  nm.compress, nm.decompress, nm.storage
 * Same conventions as nmlua.h: programming mistakes raise naming the
 * argument and the option field. */
#ifndef BIND_PRUNE_H
#define BIND_PRUNE_H

#include "nmlua.h"
#include "prune.h"

/* Raises if the options table at arg (nil allowed) has a key not in the
 * NULL-terminated `allowed`. */
void nmp_check_keys(lua_State *L, int arg, const char *const *allowed);
/* Option readers (nil table: the default; they raise naming the field).
 * Numbers and booleans are read with nmlua_opt_num / nmlua_opt_bool and
 * NMLUA_STRICT: nm.prune takes no numeric strings and no 0/1 booleans. */
/* `group=` as an axis (NM_GROUP_AUTO if absent). */
nm_group_axis nmp_opt_group(lua_State *L, int arg, const char *field);
/* n= and m= of the options table; raises "n:m = 5:4 is impossible" naming
 * the field when not 0 <= n <= m, 1 <= m <= 64. need: both required. */
void nmp_opt_nm(lua_State *L, int arg, int *n, int *m, int need);

/* What a call works on: a model, one layer of it, or a bare tensor. */
typedef struct {
    nm_model *m;        /* NULL for a tensor */
    int model_arg;      /* stack index of a model handle (pushed for a layer) */
    int layer;          /* -1: the whole model */
    nm_tensor *t;       /* a tensor target */
} nmp_target;

/* Raises "<what>: model is in use by <loop>" when the target's model is
 * in use by an engine loop (nmlua_model_check_idle); nothing for a tensor.
 * Every nm.prune call that changes masks or keep vectors calls it. */
void nmp_check_idle(lua_State *L, const nmp_target *t, const char *what);

/* Reads the target at arg; kinds is a mix of "m" (model), "l" (layer),
 * "t" (tensor). For a layer it pushes the model handle (keep the stack). */
void nmp_check_target(lua_State *L, int arg, const char *kinds, nmp_target *t);
/* Counts masks and keep vectors created by the last call against the memory
 * limit (raises if over: the model keeps them, the limit is reported). */
void nmp_recount(lua_State *L, const nmp_target *t);
/* The start of a call f(target, opts): target at 1 read by nmp_check_target
 * (kinds), the options at 2 a table (need_opts; else nil too) with keys in
 * `keys`. Sets the stack to those two first (a layer pushes its model). */
void nmp_check_call(lua_State *L, const char *kinds, const char *const *keys, int need_opts,
                    nmp_target *t);

/* Scope options of a model-wide call (include_first, include_last,
 * layers = {name = false | true | {n=, m=, group=}}). Leaves one stack slot
 * (the override array, or nil) that must stay while s is used. */
void nmp_read_scope(lua_State *L, int arg, const nm_model *m, nm_prune_scope *s);
/* Pushes the report of all prunable layers (o NULL: declared N:M). */
void nmp_push_model_report(lua_State *L, const nm_model *m, const nm_nm_opts *o);
/* Pushes one report row / the report of the prunable layers. */
void nmp_push_row(lua_State *L, const nm_prune_layer_info *e);
void nmp_push_report(lua_State *L, const nm_prune_report *r);
/* Sets filters_unmet (and, when > 0, a message) on the table on top. */
void nmp_set_unmet(lua_State *L, int64_t unmet);

/* The calibration norms of score = 'wanda': with wanda set, reads
 * calib = dataset or f32 tensor [N, C, H, W] (required; calib_n = use the
 * first n samples) and computes the norms of model m (one inference pass,
 * under the memory limit); without, raises if calib is given. Returns NULL
 * when not wanda. The result lives in a userdata left on the stack (one
 * slot, nil when not wanda) that frees it when collected: keep the slot
 * while it is used. Raises naming the option on bad input. */
const nm_calib *nmp_opt_calib(lua_State *L, int arg, nm_model *m, int wanda);

/* preset = 'paper' (or nil: NULL). With it: the model's paper settings
 * (raises naming the model when its architecture has none) and its scope
 * in s (an override array left on the stack: one slot, as
 * nmp_read_scope, which runs instead when there is no preset); layers=,
 * include_first= and include_last= cannot be given with it. */
const nm_paper_preset *nmp_opt_preset(lua_State *L, int arg, const nm_model *m, nm_prune_scope *s);

/* Names of nm_group_reduction ("mean", "sum", "max"), NULL-terminated. */
extern const char *const nmp_reductions[];
/* "none", "mean": nm_group_norm by name (the normalize option) */
extern const char *const nmp_norms[];

/* Registration of the other files' functions in nm (at nm) and nm.prune
 * (at prune), and model methods (at methods); absolute indices. */
void nmp_open_joint(lua_State *L, int nm, int prune, int methods);
void nmp_open_act(lua_State *L, int nm, int prune, int methods);
void nmp_open_store(lua_State *L, int nm, int prune, int methods);

#endif
