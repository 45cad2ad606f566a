/* train.h - training, evaluation and inference of nm_models in C.
 *
 * Supported layer kinds: conv (any stride, padding, groups), dwconv, linear,
 * batchnorm, relu (with clip), nmrelu (first/topk, position/channel axis),
 * max and avg pool, gap, add, flatten. The last layer's output must be
 * (classes, 1, 1): its logits feed a softmax cross-entropy.
 *
 * Masks are enforced: the forward pass uses w * mask (mask AND filters AND
 * in_chans, see net.h), and after every update pruned weights are exactly
 * zero (gradient, momentum and Adam moments included). With SR-STE the dense
 * weights keep training behind an N:M mask recomputed every step; the mask
 * is applied to the weights when training ends.
 *
 * Determinism: shuffling and everything else random comes from opts->seed;
 * a run repeats exactly on the same machine with the same thread count. */
#ifndef NM_TRAIN_H
#define NM_TRAIN_H

#include "error.h"
#include "model.h"
#include "tensor.h"

#include <stdint.h>

/* A labelled image set. Owns one reference to each tensor. */
typedef struct nm_dataset {
    char name[64];
    nm_tensor *images;  /* f32 [n, C, H, W], already normalised */
    nm_tensor *labels;  /* i32 [n], each in 0..classes-1 */
    int classes;
} nm_dataset;

/* Wraps images and labels (retained, not copied) after checking their
 * dtypes, shapes and label range. NULL with a message on mismatch. */
nm_dataset *nm_dataset_new(const char *name, nm_tensor *images, nm_tensor *labels, int classes);
void nm_dataset_free(nm_dataset *d);
static inline int64_t nm_dataset_size(const nm_dataset *d) { return d->labels->numel; }

/* Default location of Debian's dataset-fashion-mnist package. */
#define NM_FMNIST_DIR "/usr/share/datasets/fashion-mnist"
/* Fashion-MNIST mean and standard deviation of the training pixels (/255). */
#define NM_FMNIST_MEAN 0.2860f
#define NM_FMNIST_STD 0.3530f

/* Loads Fashion-MNIST from dir (NULL = NM_FMNIST_DIR): the training set
 * (train != 0, 60000 images) or the test set (10000), the first `limit`
 * images when limit > 0. Pixels become (x/255 - mean)/std, [n, 1, 28, 28].
 * A missing directory gets a message naming the Debian package. */
nm_dataset *nm_data_fashion_mnist(const char *dir, int train, int64_t limit);

typedef enum { NM_OPTIM_SGD = 0, NM_OPTIM_ADAM } nm_optim_kind;
typedef enum { NM_SCHED_CONST = 0, NM_SCHED_STEP, NM_SCHED_COSINE } nm_sched_kind;

/* Where training stands, passed to the callbacks and returned at the end. */
typedef struct nm_train_progress {
    int epoch, epochs;          /* current epoch (1-based) and planned epochs */
    int64_t step, steps;        /* optimizer steps done and planned */
    double lr;                  /* learning rate of the last step */
    double batch_loss;          /* loss of the last batch */
    double loss, acc;           /* running means over the current epoch */
    double val_loss, val_acc;   /* after an epoch with opts->val set, else -1 */
    double seconds;             /* wall time since the start */
    double images_per_s;        /* training throughput so far */
} nm_train_progress;

/* Returning nonzero stops training: nm_train then returns NM_ERR with the
 * message "cancelled" (the model keeps the weights of the last step). */
typedef int (*nm_train_cb)(void *ud, const nm_train_progress *p);

typedef struct nm_train_opts {
    int epochs;                 /* passes over the data (default 1) */
    int batch;                  /* batch size (default 64) */
    int64_t max_steps;          /* stop after this many steps if > 0 */
    nm_optim_kind optim;        /* default SGD */
    double lr;                  /* default 0.05 (SGD), 1e-3 is usual for Adam */
    double momentum;            /* SGD, default 0.9 */
    double weight_decay;        /* L2 on conv/linear weights only, default 5e-4 */
    double beta1, beta2, adam_eps;  /* Adam, default 0.9, 0.999, 1e-8 */
    nm_sched_kind sched;        /* default cosine (to 0 over all steps) */
    int step_epochs;            /* step schedule: every step_epochs epochs ... */
    double step_gamma;          /* ... multiply lr by step_gamma (default 10, 0.1) */
    double l1_bn;               /* network slimming: l1_bn * |gamma| added to the loss */
    double srste;               /* SR-STE decay lambda; > 0 turns SR-STE on */
    int srste_n, srste_m;       /* its N:M (groups of M along each weight row) */
    uint64_t seed;              /* shuffling seed (default 1) */
    const nm_dataset *val;      /* evaluated after every epoch when set */
    nm_train_cb on_batch;       /* after every step (may be NULL) */
    nm_train_cb on_epoch;       /* after every epoch (may be NULL) */
    void *ud;                   /* passed to the callbacks */
} nm_train_opts;

void nm_train_opts_default(nm_train_opts *o);

/* Trains m in place on d. *out (may be NULL) receives the final progress.
 * NM_ERR with a message on bad options, a data/model shape mismatch, an
 * unsupported layer, or cancellation. */
int nm_train(nm_model *m, const nm_dataset *d, const nm_train_opts *o, nm_train_progress *out);

/* Inference over the whole set in batches of `batch` (<= 0: 256) with BN
 * running statistics. Any output pointer may be NULL: *acc (fraction
 * correct), *loss (mean cross-entropy), density[m->n_layers] (fraction of
 * nonzero values in each layer's output over the set). */
/* Activation memory nm_evaluate allows itself: passes are made smaller
 * than the asked batch when one would need more (results do not change,
 * except for NMReLU on a 1x1 plane, which groups along the batch). */
#define NM_EVAL_ACT_BUDGET ((size_t)512 << 20)
/* The batch nm_evaluate runs: `requested`, or fewer so that every layer's
 * activations for the batch fit `budget` bytes (at least 1). */
int nm_eval_batch(const nm_model *m, int requested, size_t budget);
int nm_evaluate(nm_model *m, const nm_dataset *d, int batch, double *acc, double *loss,
                double *density);

/* Inference on x, f32 [N, C, H, W] (or [C, H, W] for one sample) matching
 * the model's input. Returns a new f32 tensor [N, C', H', W'] of the last
 * layer's output (caller releases), or NULL with a message. */
nm_tensor *nm_forward(nm_model *m, const nm_tensor *x);
/* Every graph output (nm_model_outputs) for input x, in graph order, into
 * ys[0..]: each f32 [N, C, H, W], or with the rank the output had in its
 * file (out_rank: [N, C] or [N, C, H]). The caller releases them. Returns
 * the count, or -1 with a message (then nothing is left in ys). */
int nm_forward_outputs(nm_model *m, const nm_tensor *x, nm_tensor **ys, int cap);
/* The same for a model with several graph inputs: xs[k] holds graph input
 * k (nm_model_input_shape, in the forms above), n_x must be the model's
 * input count and every xs[k] must have the same number of samples; -1
 * with a message naming the input otherwise. nm_forward and
 * nm_forward_outputs are this with one input (a model with several refuses
 * them, saying how many it takes). */
int nm_forward_inputs(nm_model *m, const nm_tensor *const *xs, int n_x, nm_tensor **ys, int cap);
/* nm_forward and nm_forward_outputs run up to 256 samples per pass, fewer
 * when the buffers for that many do not fit the memory budget (tensor.h).
 * They keep their executor (buffers for the largest pass so far) in the model between
 * calls; it is rebuilt when the model's layers change and freed with the
 * model. nm_forward_cache_bytes says what it holds (0 when none);
 * nm_forward_release frees it now. */
int64_t nm_forward_cache_bytes(const nm_model *m);
void nm_forward_release(nm_model *m);

/* Fine-tuning as a callback of the pruning engine (the `finetune` field of
 * nm_jointnf_opts in prune.h): ud points to an nm_finetune; trains the model
 * with its options on its data. Returns 0, or nonzero with the message. */
typedef struct nm_finetune {
    const nm_dataset *data;
    nm_train_opts opts;
    nm_train_progress last;     /* filled after each call */
} nm_finetune;
int nm_train_finetune(void *ud, nm_model *m, int round);

/* The N:M mask of SR-STE: in each group of m consecutive entries of every
 * row of w [rows x cols] (a trailing group of L < m keeps min(n, L)), the n
 * largest |w| are kept (ties to the lower index). Writes mask (1 = kept). */
void nm_train_nm_mask(const float *w, int64_t rows, int64_t cols, int n, int m, uint8_t *mask);

#endif
