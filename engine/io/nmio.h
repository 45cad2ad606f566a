/* nmio.h - model and tensor file formats (contract between engine/io parts).
 *
 * Every loader returns a new object owned by the caller (NULL on failure
 * with a message naming the file and the problem); every writer writes
 * atomically (fileutil.h) and returns NM_OK/NM_ERR. No loader allocates more
 * than the file's size justifies, and each reserves what the file declares
 * against the thread's memory budget (nm_mem_reserve, tensor.h) before
 * allocating it, so a caller's limit refuses a file up front ("<file>: not
 * enough memory: ..."; the budget scope is then marked refused). */
#ifndef NM_IO_H
#define NM_IO_H

#include "model.h"
#include "tensor.h"

#include <stddef.h>
#include <stdint.h>

/* A list of named tensors (safetensors contents). The list owns one
 * reference to each tensor and its names; free with nm_tensor_list_free. */
typedef struct {
    int count, cap;
    char **names;
    nm_tensor **tensors;
    char *metadata_json;    /* the "__metadata__" object as JSON text, or NULL */
} nm_tensor_list;

void nm_tensor_list_free(nm_tensor_list *tl);
/* Appends (retaining t and copying name). */
int nm_tensor_list_add(nm_tensor_list *tl, const char *name, nm_tensor *t);

/* --- safetensors (io/safetensors.c) --- */
/* Reads every tensor (F32, F64, F16, BF16 -> f32; I8; U8, BOOL -> u8; I32;
 * I64 -> i32 when in range) into *out. */
int nm_safetensors_read(const char *path, nm_tensor_list *out);
int nm_safetensors_write(const char *path, const nm_tensor_list *tl);
/* The same, reporting progress over the tensor bytes (every 16 MB and at
 * the end of each tensor); NM_ERR with a message ending in "cancelled" when
 * `progress` asks to stop (a cancelled write leaves no file and any older
 * file untouched). */
int nm_safetensors_read_progress(const char *path, nm_tensor_list *out, nm_progress_fn progress, void *ud);
int nm_safetensors_write_progress(const char *path, const nm_tensor_list *tl, nm_progress_fn progress,
                                  void *ud);
/* A model: the layer graph and settings in __metadata__ ("nmlab.model"),
 * parameters as "<layer>.weight", ".bias", ".mask", ".filters",
 * ".in_chans", ".gamma", ".beta", ".running_mean", ".running_var". A saved
 * model reloads exactly. */
int nm_safetensors_save_model(const nm_model *m, const char *path);
nm_model *nm_safetensors_load_model(const char *path);
/* The same with progress and cancellation, as above. */
int nm_safetensors_save_model_progress(const nm_model *m, const char *path, nm_progress_fn progress, void *ud);
nm_model *nm_safetensors_load_model_progress(const char *path, nm_progress_fn progress, void *ud);

/* --- NumPy .npy (io/npy.c) --- */
/* f4, f8 (-> f32), i1, u1, b1 (-> u8), i4; C order, little-endian. */
nm_tensor *nm_npy_load(const char *path);
int nm_npy_save(const nm_tensor *t, const char *path);

/* --- ONNX (io/onnx_import.c) --- */
/* Import options (zero = defaults). */
typedef struct {
    /* The input's per-sample size (C, H, W as nmlab reads the input: see
     * docs/formats.md); needed when the file's input has symbolic
     * dimensions, checked against it otherwise. 0 = from the file. */
    int in_c, in_h, in_w;
    /* The same for graph inputs 1, 2, ... of a file with several inputs
     * (xin_size[k - 1] = (C, H, W) of input k; zeros = from the file). */
    int xin_size[NM_MAX_GRAPH_INPUTS - 1][3];
    /* 1: a node that cannot be imported ends the import there, keeping the
     * layers before it (listed in the warnings). 0: it fails the load with
     * a message naming the node, its operator and why. */
    int partial;
    nm_progress_fn progress;   /* per graph node; may ask to stop */
    void *progress_ud;
} nm_onnx_opts;

/* Rebuilds the graph as nmlab layers (docs/formats.md lists the operators)
 * with the file's graph outputs. Notes (constants folded into biases,
 * declared shapes that differ) go to *warnings (malloc'd text, caller frees;
 * NULL when there are none). NULL with a message naming the file, the node
 * and the problem on failure; "cancelled" when progress asked to stop. */
nm_model *nm_onnx_load_opts(const char *path, const nm_onnx_opts *opts, char **warnings);
/* The input size (C, H, W) a file with symbolic dimensions most likely
 * wants: its fixed dims, `dflt` for the symbolic ones (NM_ERR if its input
 * is not [N, C, H, W]). For asking the user. */
int nm_onnx_input_guess(const char *path, int dflt, int *c, int *h, int *w);
/* nm_onnx_load_opts with default options (the whole graph or nothing). */
nm_model *nm_onnx_load(const char *path, char **warnings);
/* The same with progress (per graph node) and cancellation. */
nm_model *nm_onnx_load_progress(const char *path, char **warnings, nm_progress_fn progress, void *ud);

/* --- ONNX export (io/onnx_export.c) --- */
/* Writes m as an ONNX model (IR 7, opset 13; input "input" of shape
 * [N, C, H, W] with a symbolic batch N, then any further graph inputs under
 * their names, also [N, C, H, W]; every graph output), atomically.
 * Weights are written as nm_forward uses them: masked, removed filters and
 * input channels zeroed. Node names are the layer names. Conv, dwconv,
 * linear, bn, relu, pools, gap, flatten, the binary ops, sigmoid, tanh,
 * hardsigmoid, hardswish, clip, concat, pad, reshape, transpose, shuffle
 * and slice are exported; nmrelu, the transformer kinds and detached layers
 * give an error naming the layer (docs/formats.md, ONNX export).
 * Progress is reported per layer; cancelling leaves no file. */
int nm_onnx_save(const nm_model *m, const char *path, nm_progress_fn progress, void *ud);

/* --- weight masks (io/masks.c) --- */
/* The mask nm_forward applies to prunable layer l's weight (mask AND
 * filters[row] AND in_chans[column's channel]), u8 in the weight's shape;
 * a new tensor (caller releases), NULL with a message. */
nm_tensor *nm_layer_effective_mask(const nm_layer *l);
/* PyTorch module path of a layer name: a torch.onnx node name
 * "/layer1/layer1.0/conv1/Conv" gives "layer1.0.conv1",
 * "/features/features.0/features.0.0/Conv" "features.0.0", "/fc/Gemm"
 * "fc"; a name without a leading "/" is returned as it is. */
int nm_module_path(const char *name, char *out, size_t len);
/* safetensors file of u8 masks for torch.nn.utils.prune.custom_from_mask,
 * written atomically: "<module>.weight_mask" (the effective mask, in the
 * weight's shape) for every prunable layer with any weight pruned; and for
 * a layer with removed filters also "<module>.bias_mask" (if it has a
 * bias) and "<bn>.weight_mask" / "<bn>.bias_mask" for a BN it feeds
 * directly (the filter vector), so that PyTorch outputs 0 on removed
 * filters as nm_forward does. */
int nm_masks_save(const nm_model *m, const char *path);

/* --- SCALE-Sim topology CSV (io/scalesim_csv.c) --- */
/* One detached conv (or linear) per row, synthetic weights from seed,
 * padding 0; an optional 9th column "N:M" sets the layer's wn:wm. */
nm_model *nm_scalesim_load(const char *path, uint64_t seed);

/* --- IDX (io/idx.c), plain or gzip-compressed --- */
/* u8 tensor with the file's dimensions (images [n, rows, cols], labels [n]),
 * read straight into the tensor after its size was reserved (nm_mem_reserve)
 * and checked against what the file can hold. */
nm_tensor *nm_idx_load(const char *path);
/* The same, reading only the first `limit` items (dimension 0) when
 * 0 < limit < n: the rest of the file is neither read nor checked. */
nm_tensor *nm_idx_load_limit(const char *path, int64_t limit);
/* Reads only the header: the number of dimensions and the shape. */
int nm_idx_shape(const char *path, int *ndim, int64_t shape[NM_MAX_DIMS]);

/* --- any model file, by content (io/load.c) --- */
/* safetensors, ONNX or SCALE-Sim CSV; a clear message for .npy/IDX/other. */
nm_model *nm_model_load(const char *path, char **warnings);
/* The same, with progress and cancellation for safetensors and ONNX files
 * (SCALE-Sim topologies are small and read without reports). */
nm_model *nm_model_load_progress(const char *path, char **warnings, nm_progress_fn progress, void *ud);
/* The same with ONNX import options (input size, partial; their progress
 * callback is used for every format). */
nm_model *nm_model_load_opts(const char *path, const nm_onnx_opts *o, char **warnings);

#endif
