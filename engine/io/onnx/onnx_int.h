/* onnx_int.h - the ONNX importer's shared state and helpers (internal to
 * engine/io/onnx/). onnx_util.c: text, name maps, messages, initializer
 * tensors, node inputs and attributes; onnx_layers.c: binding values to
 * layers; onnx_pattern.c: helpers for multi-node patterns; ops_*.c: one
 * family of operators (or one exporter's patterns) each; onnx_import.c:
 * the walk, the operator table and the public entry points. */
#ifndef NM_ONNX_INT_H
#define NM_ONNX_INT_H

#include "nmio.h"
#include "onnx.pb-c.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* protobuf's own limit for one message is 2 GiB. */
#define ONNX_MAX_FILE (((size_t)1 << 31) - 1)
/* Bounds for geometry attributes; beyond them the file is not a real model. */
#define ONNX_MAX_KERNEL (1 << 16)
#define ONNX_MAX_DIM (1 << 24)
/* Real networks have at most a few thousand layers; building the model
 * costs O(layers^2) name checks, so a hostile file stops here. */
#define ONNX_MAX_LAYERS 8192

/* An ONNX rank-3 value [N, C, L] (nmlab's (C, L, 1)), as opposed to a
 * token sequence [N, T, F] (nmlab's (F, T, 1)), which is rank 3. */
#define RANK_CL 13

/* Handler results besides NM_OK / NM_ERR. */
#define R_SKIP 1    /* node not imported: its outputs are dead */
#define R_STOP 2    /* node needs a dead value: stop the import here */

/* Codes a value name maps to, besides layer indices and graph inputs
 * (NM_INPUT, NM_INPUT_K(k): -1, -3 .. -17). */
#define VAL_EXTRA_INPUT (-32)  /* a further graph input nmlab cannot run: not modelled */
#define VAL_DEAD0 (-64)        /* VAL_DEAD0 - k: output of skipped node k */


#define FLOAT_TYPES ((1u << ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) | (1u << ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE))
#define INT_TYPES ((1u << ONNX__TENSOR_PROTO__DATA_TYPE__INT64) | (1u << ONNX__TENSOR_PROTO__DATA_TYPE__INT32))

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

typedef struct {
    const char **key;
    int *val;
    size_t cap, count;
} name_map;

typedef struct {
    const Onnx__GraphProto *g;
    nm_model *m;
    name_map consts;    /* value name -> index in ctab (initializers, Constant outputs) */
    name_map values;    /* value name -> layer, graph input, VAL_EXTRA_INPUT or dead */
    name_map uses;      /* value name -> nodes reading it (+1 if a graph output) */
    name_map node_names;/* node name -> how many nodes carry it */
    name_map op_seq;    /* op_type -> next k for generated names "<op>_<k>" */
    name_map shapes;    /* value name -> index in g->value_info, or n_value_info + output index */
    const Onnx__TensorProto **ctab;
    int n_ctab, cap_ctab;
    /* Per layer: how many value names are bound to it and how many reads
     * those names have; a layer whose names have one read besides the
     * alias chain feeds only the node reading it (see fold_bias). */
    int *lay_names, *lay_uses, cap_lay;
    int *lay_rank;                  /* per layer: the ONNX rank of its output, batch included */
    int in_rank[NM_MAX_GRAPH_INPUTS]; /* each graph input's rank */
    char **skip_why;                /* per node: why it was not imported (NULL if it was) */
    unsigned char *fused;           /* per node: consumed by a pattern (ops_attention*.c) */
    /* Paddle attention (ops_attention_paddle.c): the merged heads [N, T, H, d]
     * -> the MATMUL av layer, for the Reshape to [N, T, F] that reads them. */
    name_map merge;
    const nm_onnx_opts *opts;
    /* TensorProtos made by folding (owned, freed with the importer) */
    Onnx__TensorProto **owned;
    int n_owned, cap_owned;
    /* Values between the steps of a channel shuffle (ops_fold.c): name ->
     * index into shuffle[]; stage 1 after the Reshape to 5-D, 2 after the
     * Transpose. */
    name_map virt;
    struct { int src, groups, stage; } *shuffle;
    int n_shuffle, cap_shuffle;
    const Onnx__NodeProto *node;    /* node being imported */
    int node_k;
    char where[160];                /* "node 'conv1' (Conv)" */
    sbuf warn;
    nm_progress_fn progress;        /* reported per node, may be NULL */
    void *progress_ud;
} importer;

/* Kernel, strides, pads (before and after), dilations, auto_pad and, for
 * pools, ceil_mode and count_include_pad. */
typedef struct {
    int kh, kw, sh, sw, ph, pw, ph2, pw2, dh, dw, ceil_mode, exclude_pad;
} geom;

/* Helpers and operator handlers (handlers return NM_OK, NM_ERR with the
 * message set, R_SKIP or R_STOP). */
void ox_sb_vprintf(sbuf *b, const char *fmt, va_list ap);
size_t ox_str_hash(const char *s);
int *ox_map_ref(const name_map *mp, const char *key);
int ox_map_grow(name_map *mp);
int ox_map_put(name_map *mp, const char *key, int val);
int ox_map_get(const name_map *mp, const char *key, int dflt);
void ox_map_free(name_map *mp);
const char *ox_str_or(const char *s, const char *dflt);
const char *ox_node_label(const Onnx__NodeProto *n, int k, char *buf, size_t len);
const char *ox_dims_str(const int64_t *d, size_t n, char *buf, size_t len);
const char *ox_tname(const Onnx__TensorProto *t);
int ox_tensor_count(importer *im, const Onnx__TensorProto *t, int64_t *count);
const char *ox_dtype_name(int32_t dt);
size_t ox_dtype_width(const Onnx__TensorProto *t, int64_t *typed);
int ox_is_external(const Onnx__TensorProto *t);
int ox_tensor_size_check(importer *im, const Onnx__TensorProto *t, int64_t count, int *raw);
int ox_tensor_check_data(importer *im, const Onnx__TensorProto *t, int64_t count, unsigned ok, int *raw);
uint64_t ox_le_bytes(const uint8_t *p, size_t width);
float ox_tensor_float_at(const Onnx__TensorProto *t, int raw, int64_t i);
int64_t ox_tensor_int_at(const Onnx__TensorProto *t, int raw, int64_t i);
nm_tensor *ox_param_tensor(importer *im, const Onnx__TensorProto *t, const char *role, int ndim, const int64_t *want);
const char *ox_input_name(const Onnx__NodeProto *n, int i);
const Onnx__TensorProto *ox_const_of(const importer *im, const char *name);
int ox_ctab_add(importer *im, const char *name, const Onnx__TensorProto *t);
int ox_act_input(importer *im, int i, int *idx);
const Onnx__TensorProto *ox_const_input(const importer *im, int i);
const Onnx__AttributeProto *ox_attr_find(const Onnx__NodeProto *n, const char *name);
int ox_attr_is(const Onnx__AttributeProto *a, Onnx__AttributeProto__AttributeType t, int has);
int ox_attr_int(importer *im, const char *name, int64_t dflt, int64_t *out);
int ox_attr_float(importer *im, const char *name, float dflt, float *out, int *present);
int ox_attr_ints(importer *im, const char *name, const int64_t **v, size_t *count);
int ox_attr_str(importer *im, const char *name, char *buf, size_t len);
void ox_same_pad(int in, int k, int s, int d, int lower, int *p0, int *p1);
int ox_read_geom(importer *im, int in_h, int in_w, int pool, geom *g);
void ox_set_geom(nm_layer *l, const geom *g);
void ox_check_declared_shape(importer *im, const char *name, int L);
int ox_bind(importer *im, const char *name, int L);
int ox_kill_outputs(importer *im, const Onnx__NodeProto *n, int k, size_t first);
const char *ox_output_name(const Onnx__NodeProto *n);
int ox_layer_name(importer *im, char *buf);
void ox_layer_drop(nm_layer *l);
int ox_rank_of(const importer *im, int L);
int ox_add_layer_rank(importer *im, nm_layer *l, int rank);
int ox_add_layer(importer *im, nm_layer *l);
int ox_start_layer(importer *im, nm_layer *l, nm_layer_kind kind, int input);
int op_conv(importer *im);
int op_gemm(importer *im);
int op_matmul(importer *im);
int op_bn(importer *im);
int op_relu(importer *im, float clip);
int ox_clip_bound(importer *im, int i, const char *attr, float *v, int *present);
int ox_nm_axis(int rank, int64_t axis);
nm_tensor *ox_const_operand(importer *im, const Onnx__TensorProto *t, int rank, int *rc);
int op_binary(importer *im, int kind);
int op_unary(importer *im, int kind);
int op_concat(importer *im);
int op_clip(importer *im);
int op_pad(importer *im);
int op_transpose(importer *im);
int op_reducemean(importer *im);
int ox_fold_bias(importer *im, int L, const Onnx__TensorProto *t);
int op_pool(importer *im, int kind);
int op_simple(importer *im, int kind);
int op_flatten(importer *im);
int op_reshape(importer *im);
int op_alias(importer *im);
int op_constant(importer *im);
void ox_sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ox_node_err(importer *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ox_node_skip(importer *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ox_warn(importer *im, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int op_softmax(importer *im);
int ox_add_conv_layer(importer *im, nm_layer *l, int64_t cout);

/* ops_fold.c */
int ox_own(importer *im, Onnx__TensorProto *t);
int ox_fold_binary(importer *im, const char *op);
int ox_fold_concat(importer *im);
int ox_shuffle_begin(importer *im, int x, int groups);
int ox_shuffle_step(importer *im, int transpose);
int op_shape(importer *im);
int op_gather(importer *im);
int op_unsqueeze(importer *im);
int op_squeeze(importer *im);
int op_cast(importer *im);
int op_constantofshape(importer *im);
int op_expand(importer *im);
int op_slice(importer *im);
int op_equal(importer *im);
int op_where(importer *im);
/* ops_upsample.c */
int op_convtranspose(importer *im);
int op_resize(importer *im, int upsample);
/* ops_attention.c: transformer patterns; R_SKIP when the node does not
 * start one (the caller imports it as usual) */
int ox_match_layernorm(importer *im);
int ox_match_gelu(importer *im);
int ox_match_embed(importer *im);
int ox_match_gather_token(importer *im);
int ox_match_mha(importer *im);
/* ops_attention_paddle.c: Paddle's SVTR patterns (R_SKIP as above) */
int ox_match_paddle_mha(importer *im, int x, const int64_t *s, int n);
int ox_paddle_merge(importer *im, int av, const int64_t *s, int n);
int ox_match_tokens_to_image(importer *im, int x, const int64_t *s, int n);
/* onnx_pattern.c: helpers for the pattern matchers. Node k's input i and
 * first output ("" when absent); the first node after `from` (within
 * reach of the current node) of operator `op` reading value `name`, or -1;
 * the constant behind a value, also of a Constant node not reached yet;
 * a float scalar constant (1 and *v, else 0); the input of binary node k
 * that is not `name`; 1 when node k's int attribute (or one-element list)
 * `name` is ok0 or ok1. */
static inline const Onnx__NodeProto *ox_node_at(const importer *im, int k) { return im->g->node[k]; }
const char *ox_in_of(const importer *im, int k, size_t i);
const char *ox_out_of(const importer *im, int k);
int ox_reader(const importer *im, const char *name, int from, const char *op);
const Onnx__TensorProto *ox_konst(const importer *im, const char *name);
int ox_scalar(importer *im, const char *name, double *v);
const char *ox_other_in(const importer *im, int k, const char *name);
int ox_attr_one_of(const importer *im, int k, const char *name, int64_t ok0, int64_t ok1);
/* 1 when node k's `perm` is exactly p[0..n). */
int ox_perm_is(const importer *im, int k, const int64_t *p, size_t n);
/* Claiming the nodes of a match (1 claimed, 0 a value escapes, -1 out of
 * memory), see onnx_pattern.c; adding a layer bound to a value. */
int ox_claim(importer *im, int first, int last, const char *keep, const unsigned char *in_set);
int ox_claim_list(importer *im, const int *ks, int n, const char *keep);
int ox_add_bound(importer *im, nm_layer *l, int rank, const char *out);
/* The number of axes (batch included) of a rank code (RANK_CL is 3). */
static inline int ox_axes(int rank) { return rank == RANK_CL ? 3 : rank; }

#endif
