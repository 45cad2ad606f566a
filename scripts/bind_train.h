/* bind_train.h - what the nm.train binding files share.
 *   bind_train.c        nm.train (options, Lua callbacks, cancellation)
 *   bind_train_data.c   nm.data: dataset handles, fashion_mnist, from_tensors
 *   bind_train_model.c  model:evaluate, model:forward, model:set_activation
 * Same conventions as nmlua.h: programming mistakes raise naming the
 * argument and the option field; engine failures raise the engine's
 * message. */
#ifndef BIND_TRAIN_H
#define BIND_TRAIN_H

#include "nmlua.h"
#include "train.h"

#define NMLUA_DATASET "nm.dataset"

/* The dataset of a live handle at arg; raises if not a dataset. */
const nm_dataset *nmt_check_dataset(lua_State *L, int arg);

/* Raises if the options table at arg has a string key not in the
 * NULL-terminated `allowed` (naming the key), or a non-string key. */
void nmt_check_keys(lua_State *L, int arg, const char *const *allowed);
/* Numbers are read with nmlua_opt_num and NMLUA_LOOSE: nm.train takes a
 * numeric string ("0.01") as well as a number. */

/* Registration of the files' functions: nm.data (in bind_train_data.c)
 * and the model methods (bind_train_model.c, at absolute index methods). */
void nmt_open_data(lua_State *L, int nm);
void nmt_open_model(lua_State *L, int methods);

#endif
