/* shrink.h - a pruned model with its removed channels physically gone. */
#ifndef NM_SHRINK_H
#define NM_SHRINK_H

#include "model.h"

/* A new model (caller frees) computing what nm_forward computes for m,
 * in which every channel that pruning made irrelevant is gone: removed
 * filters (layer->filters) lose their weight rows, biases, BN entries and
 * the matching input channels of every consumer (through flatten blocks,
 * dwconvs and residual adds), and input channels every consumer ignores
 * (layer->in_chans) lose their producers' rows. A channel of a residual
 * add goes only when it is 0 (or ignored) on every side of the add;
 * otherwise it stays (a removed filter there stays as a zero row). Masks,
 * filters and in_chans of what is kept are kept. NULL with a message. */
nm_model *nm_model_shrink(const nm_model *m);

#endif
