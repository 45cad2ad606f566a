/* net.h - training graph executor over an nm_model (internal to engine/train;
 * the tests use it for gradient checks).
 *
 * An nm_net holds, for one model and a maximum batch size, every buffer a
 * training step needs: one activation and one gradient buffer per layer
 * (CNHW layout, see kernels.h), batchnorm and max-pool state, the masked
 * weights actually used by the forward pass, parameter gradients and a
 * shared im2col workspace. Everything is allocated once in nm_net_new and
 * reused across batches. The net reads and writes the model's tensors in
 * place; the model must outlive the net and keep its shapes.
 *
 * Masks: a prunable layer's effective mask is mask AND filters[out] AND
 * in_chans[in]; the forward pass always uses w * effective mask, and a
 * removed filter's bias is treated as 0. A batchnorm fed directly by a
 * prunable layer outputs 0 on the channels of its removed filters. */
#ifndef NM_TRAIN_NET_H
#define NM_TRAIN_NET_H

#include "model.h"

#include <stdint.h>

/* One trainable parameter array with its gradient (both owned by the model
 * or the net) and, for weights, the effective mask (NULL = all kept). */
typedef enum { NM_PARAM_WEIGHT = 0, NM_PARAM_BIAS, NM_PARAM_GAMMA, NM_PARAM_BETA } nm_param_kind;

typedef struct {
    nm_param_kind kind;
    int layer;
    int64_t n;
    float *w;              /* the model's tensor data */
    float *g;              /* gradient, same length */
    const uint8_t *mask;   /* 1 = kept; NULL = all kept */
} nm_param;

typedef struct nm_net nm_net;

/* Builds the executor. With train = 0 it holds only what inference needs
 * (no gradients, no BN or pool state): forward then always runs in eval
 * mode and backward must not be called. Fails with a message naming the
 * layer for kinds training does not support (the transformer kinds matmul,
 * layernorm, gelu, softmax, embed and the imported-graph kinds, slice
 * included, run inference only), detached layers, or NMReLU groups over 64. */
#define NM_NET_EVAL 0    /* inference; every layer's activation kept (nm_net_act) */
#define NM_NET_TRAIN 1   /* training */
#define NM_NET_LEAN 2    /* inference; a value's buffer is reused once its last
                            reader ran: only graph outputs stay readable */
nm_net *nm_net_new(nm_model *m, int max_batch, int train);
/* Bytes of the buffers the net holds (counted in nm_mem_live while it
 * lives). */
int64_t nm_net_bytes(const nm_net *net);
void nm_net_free(nm_net *net);

/* Recomputes the effective masks after the model's masks, filters or
 * in_chans changed (nm_net_new calls it). */
int nm_net_sync_masks(nm_net *net);

/* The input buffer: [C, n*H*W] floats for up to max_batch samples. */
float *nm_net_input(nm_net *net);
/* The buffer of graph input k (0 = nm_net_input), same layout with input
 * k's shape; NULL when the model has no input k. Training nets refuse
 * models with several inputs. */
float *nm_net_input_k(nm_net *net, int k);
/* The values of producer src after the last forward: a layer's activation
 * (nm_net_act) or a graph input's buffer (NM_INPUT, NM_INPUT_K(k)). */
const float *nm_net_value(const nm_net *net, int src);
/* Runs the forward pass on the first n samples of the input buffer. train
 * (honoured only by a net built for training) selects batch statistics for
 * BN and updates the running ones. Returns
 * the last layer's output, [C, n*H*W]. */
const float *nm_net_forward(nm_net *net, int n, int train);
/* Zeroes all parameter gradients. */
void nm_net_zero_grad(nm_net *net);
/* Backpropagates dout (shape of the last layer's output for the n of the
 * last forward pass), adding into the parameter gradients. When input
 * gradients were requested, they are left in nm_net_input_grad. */
void nm_net_backward(nm_net *net, const float *dout);
/* Asks backward to also compute the gradient of the input. */
void nm_net_want_input_grad(nm_net *net, int on);
const float *nm_net_input_grad(const nm_net *net);

/* Activation buffer of layer i after the last forward ([C, n*P]). */
const float *nm_net_act(const nm_net *net, int i);
/* The parameter list (owned by the net). */
nm_param *nm_net_params(nm_net *net, int *count);
nm_model *nm_net_model(const nm_net *net);
int nm_net_max_batch(const nm_net *net);

#endif
