/* zoo.h - built-in networks with synthetic, deterministic weights. */
#ifndef NM_ZOO_H
#define NM_ZOO_H

#include "model.h"

#include <stdint.h>

/* Builds the named network (ImageNet-224 shapes for the ImageNet models,
 * 1x28x28 for the Fashion-MNIST ones) with weights from `seed`. Returns a
 * new model owned by the caller, or NULL with a message for unknown names. */
nm_model *nm_zoo(const char *name, uint64_t seed);
/* The same, reporting progress while the weights are drawn; NULL with
 * "cancelled" when `progress` asks to stop. */
nm_model *nm_zoo_progress(const char *name, uint64_t seed, nm_progress_fn progress, void *ud);

/* NULL-terminated list of the names nm_zoo accepts. */
const char *const *nm_zoo_list(void);
/* 1 if nm_zoo accepts `name` (NULL is no name). */
int nm_zoo_has(const char *name);

/* Bytes of tensors the named network holds once built (nm_zoo reserves
 * them against the memory budget, tensor.h, before building); -1 if unknown. */
int64_t nm_zoo_bytes(const char *name);

/* One-line description of a zoo entry ("" if unknown). */
const char *nm_zoo_describe(const char *name);

#endif
