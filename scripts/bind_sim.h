/* bind_sim.h - what the nm.sim binding files share: option readers and
 * systems (bind_sim.c), targets (bind_sim_run.c), and the registration of
 * the other two files' functions.
 *   bind_sim.c        nm.sim.system, system methods, energy tables
 *   bind_sim_run.c    sys:run, reports, nm.sim.compare / format_compare
 *   bind_sim_tools.c  nm.sim.equal_area, sys:stepper, nm.sim.nmmac_trace
 * Same conventions as nmlua.h: programming mistakes raise naming the
 * argument (and the option field), expected failures return nil, message. */
#ifndef BIND_SIM_H
#define BIND_SIM_H

#include "nmlua.h"
#include "sim.h"

#include <stddef.h>

#define SIM_SYSTEM "nm.sim.system"

/* Raises "unknown option 'k'" if the options table at arg has a key not in
 * the NULL-terminated `allowed` (a non-string key: named by its type). */
void nmsim_check_keys(lua_State *L, int arg, const char *const *allowed);
/* Readers of field `field` of the options table at arg (raise naming it):
 * a string (NULL if nil; left on the stack, one slot, see bind_sim.c),
 * an {N, M} pair (returns 0 if absent; raises if impossible). Booleans are read with nmlua_opt_bool and
 * NMLUA_LOOSE: nm.sim takes 0 and 1 as well as false and true. */
const char *nmsim_opt_str(lua_State *L, int arg, const char *field);
int nmsim_opt_nm(lua_State *L, int arg, const char *field, int *n, int *m);

/* Systems: a sim_config in a userdata with metatable SIM_SYSTEM. */
void nmsim_config_from_table(lua_State *L, int arg, sim_config *cfg);
void nmsim_push_system(lua_State *L, const sim_config *cfg);
sim_config *nmsim_check_system(lua_State *L, int arg);
void nmsim_push_area(lua_State *L, const sim_area *a);

/* What a run or stepper works on: a model, one layer of a model, or a bare
 * GEMM {E=, K=, Nf= [, name=]}. */
typedef struct {
    const nm_model *m;
    int arg;            /* stack index of the model or layer handle */
    int layer;          /* -1: all layers of m */
    int bare;           /* 1: g below is the target */
    sim_gemm g;
} sim_target;

/* The target at arg: a model, a layer view or a GEMM table; raises
 * otherwise (and for a layer without weights). */
void nmsim_check_target(lua_State *L, int arg, sim_target *t);

/* Add their functions to the nm.sim table at `sim` and system methods to
 * the table at `methods` (absolute indices). */
void nmsim_open_run(lua_State *L, int sim, int methods);
void nmsim_open_tools(lua_State *L, int sim, int methods);

#endif
