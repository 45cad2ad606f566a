/* optim.h - optimizers over the parameter list of an nm_net (internal). */
#ifndef NM_TRAIN_OPTIM_H
#define NM_TRAIN_OPTIM_H

#include "net.h"
#include "train.h"

#include <stdint.h>

typedef struct nm_optim nm_optim;

/* State (momentum, Adam moments) for every parameter; the optimizer keeps
 * pointers into params, which must outlive it. NULL when out of memory. */
nm_optim *nm_optim_new(const nm_param *params, int count, const nm_train_opts *o);
void nm_optim_free(nm_optim *op);
/* One update with learning rate lr from the gradients in params. Adds
 * weight decay (weights), the BN-L1 subgradient (gamma) and the SR-STE
 * decay (weights, when o->srste > 0), then enforces masks: a masked entry
 * ends at exactly 0 with zero optimizer state (except under SR-STE, where
 * the dense weights keep training). */
void nm_optim_step(nm_optim *op, double lr);
/* Learning rate of step `step` (0-based) of `steps`, in epoch `epoch`
 * (0-based), under o's schedule. */
double nm_optim_lr(const nm_train_opts *o, int64_t step, int64_t steps, int epoch);

#endif
