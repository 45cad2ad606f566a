/* calib.h - calibration statistics for calibration-aware pruning scores
 * (Wanda, see prune.h): per-layer input-feature norms from a forward pass. */
#ifndef NM_TRAIN_CALIB_H
#define NM_TRAIN_CALIB_H

#include "prune.h"
#include "train.h"

/* Runs the model (inference, BN running statistics, current masks) on x,
 * f32 [N, C, H, W] (or [C, H, W]) matching the model's input, in passes of
 * up to `batch` samples (<= 0: 64; fewer when the activations would not
 * fit NM_EVAL_ACT_BUDGET), and returns, for every prunable layer, the L2
 * norms of its input features over all samples and positions (the im2col
 * rows for convs; see nm_calib in prune.h). The caller frees the result
 * with nm_calib_free. NULL with a message naming the shape or the layer
 * on bad input (a batch of the wrong shape, an empty batch, a layer
 * without a producer). */
nm_calib *nm_calib_compute(nm_model *m, const nm_tensor *x, int batch);
/* The same for a model with several graph inputs: xs[k] is the batch of
 * graph input k (n_x = nm_model_n_inputs, every batch with the same N). A
 * wrong count, shape or N is an error naming the input. nm_calib_compute
 * is this with one tensor. */
nm_calib *nm_calib_compute_inputs(nm_model *m, const nm_tensor *const *xs, int n_x, int batch);
/* The same over the first `limit` images of d (limit <= 0: all); the
 * images fill input 0, so a model with several inputs is refused. */
nm_calib *nm_calib_dataset(nm_model *m, const nm_dataset *d, int64_t limit, int batch);

#endif
