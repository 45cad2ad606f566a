/* batch.h - copying dataset samples into an nm_net's CNHW input (internal). */
#ifndef NM_TRAIN_BATCH_H
#define NM_TRAIN_BATCH_H

#include "net.h"
#include "train.h"

#include <stdint.h>

/* Checks that d's images match m's input shape and its classes fit the
 * last layer's (classes, 1, 1) output. NM_ERR with a message otherwise. */
int nm_batch_check(const nm_model *m, const nm_dataset *d);
/* Copies samples idx[0..n-1] (or start..start+n-1 when idx is NULL) of d
 * into the net's input buffer and their labels into labels[n]. */
void nm_batch_fill(nm_net *net, const nm_dataset *d, const int64_t *idx, int64_t start, int n,
                   int32_t *labels);

#endif
