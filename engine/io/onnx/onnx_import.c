/* onnx_import.c - ONNX model files -> nm_model.
 *
 * The file is read whole (bounded), unpacked with the protobuf-c code that
 * protoc-c generates from onnx.proto, and its graph is walked node by node in
 * the file's (topological) order. Each supported node becomes one nmlab layer
 * or is folded away; every ONNX value name is bound to the layer that
 * produces it, which gives the layers their `inputs` and so the channel
 * graph.
 *
 * Three kinds of trouble, kept apart:
 *   - a broken file (not protobuf, no graph, no input shape, a tensor whose
 *     dims disagree with its bytes or with the layer): NULL and a message;
 *   - an operator or setting nmlab does not model: the node is skipped,
 *     its outputs become "dead", and the reason is kept;
 *   - a node (or graph output) that needs a dead value: the load fails with
 *     a message naming the skipped node, its operator and why; with
 *     {partial = 1} the import stops there instead and returns the layers
 *     built so far, with a warning saying where.
 * Nodes whose outputs nothing needs are only listed in the warnings.
 *
 * Tensor data is only copied after its size has been checked against the
 * bytes actually present, so a hostile file cannot make us allocate more
 * than it holds. */
#include "onnx_int.h"
#include "fileutil.h"

#include <sys/stat.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* The walk.                                                           */

/* The operator table: one row per ONNX operator nmlab imports. A handler
 * takes the row's argument (a layer kind, or nothing). Handlers of one
 * argument are adapted by PLAIN. */
typedef struct {
    const char *op;
    int (*fn)(importer *im, int arg);
    int arg;
} onnx_op;

#define PLAIN(f) static int f##_row(importer *im, int arg) { (void)arg; return f(im); }
PLAIN(op_conv) PLAIN(op_gemm) PLAIN(op_matmul) PLAIN(op_bn) PLAIN(op_clip) PLAIN(op_concat)
PLAIN(op_pad) PLAIN(op_transpose) PLAIN(op_reducemean) PLAIN(op_flatten) PLAIN(op_reshape)
PLAIN(op_alias) PLAIN(op_constant) PLAIN(op_shape) PLAIN(op_gather) PLAIN(op_unsqueeze)
PLAIN(op_squeeze) PLAIN(op_cast) PLAIN(op_constantofshape) PLAIN(op_expand) PLAIN(op_slice)
PLAIN(op_equal) PLAIN(op_where) PLAIN(op_softmax) PLAIN(op_convtranspose)
#undef PLAIN
static int op_relu_row(importer *im, int arg) { (void)arg; return op_relu(im, 0.0f); }

static const onnx_op op_table[] = {
    /* ops_window.c */
    {"Conv", op_conv_row, 0},
    {"MaxPool", op_pool, NM_LAYER_MAXPOOL},
    {"AveragePool", op_pool, NM_LAYER_AVGPOOL},
    /* ops_linear.c */
    {"Gemm", op_gemm_row, 0},
    {"MatMul", op_matmul_row, 0},
    {"BatchNormalization", op_bn_row, 0},
    /* ops_elementwise.c */
    {"Relu", op_relu_row, 0},
    {"Clip", op_clip_row, 0},
    {"Add", op_binary, NM_LAYER_ADD},
    {"Sub", op_binary, NM_LAYER_SUB},
    {"Mul", op_binary, NM_LAYER_MUL},
    {"Div", op_binary, NM_LAYER_DIV},
    {"Sigmoid", op_unary, NM_LAYER_SIGMOID},
    {"HardSigmoid", op_unary, NM_LAYER_HARDSIGMOID},
    {"HardSwish", op_unary, NM_LAYER_HARDSWISH},
    {"Tanh", op_unary, NM_LAYER_TANH},
    {"Softmax", op_softmax_row, 0},
    /* ops_shape.c */
    {"Concat", op_concat_row, 0},
    {"Pad", op_pad_row, 0},
    {"Transpose", op_transpose_row, 0},
    {"ReduceMean", op_reducemean_row, 0},
    {"GlobalAveragePool", op_simple, NM_LAYER_GAP},
    {"Flatten", op_flatten_row, 0},
    {"Reshape", op_reshape_row, 0},
    {"Dropout", op_alias_row, 0},
    {"Identity", op_alias_row, 0},
    {"Constant", op_constant_row, 0},
    /* ops_fold.c: shape subgraphs, slices of channels, reshapes */
    {"Shape", op_shape_row, 0},
    {"Gather", op_gather_row, 0},
    {"Unsqueeze", op_unsqueeze_row, 0},
    {"Squeeze", op_squeeze_row, 0},
    {"Cast", op_cast_row, 0},
    {"ConstantOfShape", op_constantofshape_row, 0},
    {"Expand", op_expand_row, 0},
    {"Slice", op_slice_row, 0},
    {"Equal", op_equal_row, 0},
    {"Where", op_where_row, 0},
    /* ops_upsample.c: detection and segmentation heads */
    {"ConvTranspose", op_convtranspose_row, 0},
    {"Resize", op_resize, 0},
    {"Upsample", op_resize, 1},
};

/* The table row of node n's operator, or NULL (another domain, or unknown). */
static const onnx_op *op_row(const Onnx__NodeProto *n)
{
    if (n->domain && *n->domain && strcmp(n->domain, "ai.onnx") != 0)
        return NULL;
    for (size_t i = 0; i < sizeof op_table / sizeof op_table[0]; i++)
        if (n->op_type && strcmp(n->op_type, op_table[i].op) == 0)
            return &op_table[i];
    return NULL;
}

static int op_supported(const Onnx__NodeProto *n)
{
    return op_row(n) != NULL;
}

static int import_node(importer *im)
{
    const onnx_op *row = op_row(im->node);
    return row ? row->fn(im, row->arg) : R_SKIP;
}

/* "unsupported operators: Softmax (1), Concat (2)" for the whole graph, in
 * order of first appearance; appended to b. */
static int tally_unsupported(const Onnx__GraphProto *g, const unsigned char *fused, sbuf *b)
{
    name_map count = {0};
    const Onnx__NodeProto **first = NULL;
    int kinds = 0, rc = NM_OK;
    for (size_t k = 0; k < g->n_node && rc == NM_OK; k++) {
        const Onnx__NodeProto *n = g->node[k];
        if (op_supported(n) || fused[k])   /* fused: part of a pattern (ops_attention.c) */
            continue;
        int c = ox_map_get(&count, n->op_type, 0);
        if (c == 0) {
            const Onnx__NodeProto **f = realloc(first, (size_t)(kinds + 1) * sizeof *f);
            if (!f) {
                rc = nm_seterr("out of memory");
                break;
            }
            first = f;
            first[kinds++] = n;
        }
        rc = ox_map_put(&count, n->op_type, c + 1);
    }
    for (int i = 0; i < kinds && rc == NM_OK; i++) {
        const Onnx__NodeProto *n = first[i];
        const char *dom = ox_str_or(n->domain, "");
        int std = !*dom || strcmp(dom, "ai.onnx") == 0;
        ox_sb_printf(b, "%s%s%s%s (%d)", i ? ", " : "unsupported operators: ", std ? "" : dom,
                  std ? "" : ".", n->op_type, ox_map_get(&count, n->op_type, 0));
    }
    if (kinds)
        ox_sb_printf(b, "\n");
    free(first);
    ox_map_free(&count);
    return rc;
}

/* One graph input k's per-sample shape (rank 2 to 4: [N, C, H, W],
 * [N, T, F] (tokens, nmlab's (F, T, 1)) or [N, F]) and its rank. Symbolic
 * dimensions take the size from the options (want: C, H, W, all 0 = not
 * given); the batch dimension is ignored. */
static int input_shape(const Onnx__ValueInfoProto *vi, int k, const int want3[3],
                       int *rank, int *c, int *h, int *w)
{
    char which[48] = "";
    if (k > 0)
        snprintf(which, sizeof which, " (graph input %d)", k);
    if (!vi->type || vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
        !vi->type->tensor_type->shape)
        return nm_seterr("input '%s'%s has no shape", vi->name, which);
    if (vi->type->tensor_type->has_elem_type &&
        vi->type->tensor_type->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return nm_seterr("input '%s'%s is %s; nmlab runs float32 inputs", vi->name, which,
                         ox_dtype_name(vi->type->tensor_type->elem_type));
    const Onnx__TensorShapeProto *s = vi->type->tensor_type->shape;
    if (s->n_dim < 2 || s->n_dim > 4)
        return nm_seterr("input '%s'%s has rank %zu; nmlab reads [N, C, H, W], [N, T, F] or [N, F]",
                         vi->name, which, s->n_dim);
    *rank = (int)s->n_dim;
    /* the options' (C, H, W) in the file's axis order */
    int given = want3[0] > 0 || want3[1] > 0 || want3[2] > 0;
    int64_t want[4] = {0, want3[0], want3[1], want3[2]};
    if (s->n_dim == 3)
        want[1] = want3[1], want[2] = want3[0];
    if (given && (want3[0] <= 0 || want3[1] <= 0 || want3[2] <= 0))
        return nm_seterr("input size (%d, %d, %d) must be three positive numbers", want3[0],
                         want3[1], want3[2]);
    if (given && ((s->n_dim == 3 && want3[2] != 1) || (s->n_dim == 2 && (want3[1] != 1 || want3[2] != 1))))
        return nm_seterr("input '%s'%s has rank %zu: give its size as {%s}", vi->name, which,
                         s->n_dim, s->n_dim == 3 ? "F, T, 1" : "F, 1, 1");
    int64_t d[4] = {1, 1, 1, 1};
    for (size_t i = 1; i < s->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *dim = s->dim[i];
        int fixed = dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        if (!fixed && !given && k == 0)
            return nm_seterr("input '%s' dimension %zu is %s%s%s; give the input size with "
                             "nm.load(path, {input = {C, H, W}}) or nmlab --input CxHxW", vi->name, i,
                             dim->dim_param ? "symbolic ('" : "unknown",
                             dim->dim_param ? dim->dim_param : "", dim->dim_param ? "')" : "");
        if (!fixed && !given)
            return nm_seterr("input '%s' (graph input %d) dimension %zu is %s%s%s; give every "
                             "input's size with nm.load(path, {input = {{C, H, W}, {C, H, W}, ...}})",
                             vi->name, k, i, dim->dim_param ? "symbolic ('" : "unknown",
                             dim->dim_param ? dim->dim_param : "", dim->dim_param ? "')" : "");
        if (fixed && (dim->dim_value < 1 || dim->dim_value > ONNX_MAX_DIM))
            return nm_seterr("input '%s'%s dimension %zu is %lld", vi->name, which, i,
                             (long long)dim->dim_value);
        if (fixed && given && dim->dim_value != want[i])
            return nm_seterr("input '%s'%s dimension %zu is %lld in the file, not %lld as given",
                             vi->name, which, i, (long long)dim->dim_value, (long long)want[i]);
        d[i] = fixed ? dim->dim_value : want[i];
    }
    if (d[1] * d[2] * d[3] > INT32_MAX)
        return nm_seterr("input '%s'%s has more than 2^31 elements per sample", vi->name, which);
    if (s->n_dim == 4)
        *c = (int)d[1], *h = (int)d[2], *w = (int)d[3];
    else if (s->n_dim == 3)
        *c = (int)d[2], *h = (int)d[1], *w = 1;
    else
        *c = (int)d[1], *h = 1, *w = 1;
    return NM_OK;
}

/* 1 when graph input vi is a tensor nmlab can run: float32 (or of no
 * declared type) of rank 2 to 4. */
static int runnable_input(const Onnx__ValueInfoProto *vi)
{
    if (!vi->type || vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
        !vi->type->tensor_type->shape)
        return 0;
    const Onnx__TypeProto__Tensor *t = vi->type->tensor_type;
    return (!t->has_elem_type || t->elem_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) &&
           t->shape->n_dim >= 2 && t->shape->n_dim <= 4;
}

/* The model's inputs: every graph input that is not an initializer, in
 * graph order. The first must be runnable (input_shape); a further one
 * nmlab cannot run (another type or rank, a sequence) is left out with a
 * warning, and a node reading it refuses the model. Makes the model (im->m,
 * named `name`) and binds each input's name; *bad names the input a
 * message is about (NULL if none). */
static int make_inputs(importer *im, const char *name, const char **bad)
{
    const Onnx__GraphProto *g = im->g;
    const nm_onnx_opts *o = im->opts;
    const Onnx__ValueInfoProto *first = NULL;
    *bad = NULL;
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *v = g->input[i];
        if (!v->name || !*v->name || ox_const_of(im, v->name))
            continue;
        int c = 0, h = 0, w = 0, rank = 0, k = im->m ? nm_model_n_inputs(im->m) : 0;
        if (first && !runnable_input(v)) {
            ox_warn(im, "graph input '%s' ignored: nmlab runs float32 inputs of rank 2 to 4", v->name);
            if (ox_map_put(&im->values, v->name, VAL_EXTRA_INPUT))
                return NM_ERR;
            continue;
        }
        if (k >= NM_MAX_GRAPH_INPUTS)
            return *bad = v->name, nm_seterr("input '%s' would be graph input %d; nmlab models at "
                                             "most %d", v->name, k + 1, NM_MAX_GRAPH_INPUTS);
        const int dflt[3] = {0, 0, 0};
        const int *want = k == 0 ? (const int[3]){o->in_c, o->in_h, o->in_w}
                                 : k - 1 < NM_MAX_GRAPH_INPUTS - 1 ? o->xin_size[k - 1] : dflt;
        if (input_shape(v, k, want, &rank, &c, &h, &w))
            return *bad = v->name, NM_ERR;
        if (k == 0) {
            first = v;
            if (!(im->m = nm_model_new(name, c, h, w)))
                return NM_ERR;
            snprintf(im->m->in_name, sizeof im->m->in_name, "%s", v->name);
        } else if (nm_model_add_input(im->m, v->name, c, h, w) == -1) {
            return *bad = v->name, NM_ERR;
        }
        im->in_rank[k] = rank;
        if (ox_bind(im, v->name, NM_INPUT_K(k)))
            return NM_ERR;
    }
    if (!first) {
        char ops[160] = "";
        for (size_t k = 0; k < g->n_node && k < 4; k++) {
            char lb[160];
            snprintf(ops + strlen(ops), sizeof ops - strlen(ops), "%s%s", k ? ", " : "; its nodes: ",
                     ox_node_label(g->node[k], (int)k, lb, sizeof lb));
        }
        return nm_seterr("the graph has no input besides its initializers: nmlab models compute "
                         "their outputs from at least one input (a graph of constants only is "
                         "not modelled)%s%s", ops, g->n_node > 4 ? ", ..." : "");
    }
    return NM_OK;
}

/* The model's outputs: the graph outputs bound to layers (or the input), in
 * order. Without partial, every graph output must be there. */
static int set_outputs(importer *im)
{
    const Onnx__GraphProto *g = im->g;
    nm_model *m = im->m;
    m->n_outputs = 0;
    for (size_t i = 0; i < g->n_output; i++) {
        const char *name = g->output[i]->name;
        int v = name ? ox_map_get(&im->values, name, VAL_DEAD0 + 1) : VAL_DEAD0 + 1;
        if (v < 0 && !nm_is_input(v)) {
            if (im->opts->partial)
                continue;
            if (v <= VAL_DEAD0) {
                char lb[160];
                int k = VAL_DEAD0 - v;
                const char *why = im->skip_why[k] ? im->skip_why[k] : "this output is not modelled";
                return nm_seterr("graph output '%s' comes from %s, which cannot be imported: %s",
                                 name, ox_node_label(g->node[k], k, lb, sizeof lb), why);
            }
            for (size_t k = 0; name && ox_const_of(im, name) && k < g->n_node; k++)
                for (size_t o = 0; o < g->node[k]->n_output; o++)
                    if (g->node[k]->output[o] && !strcmp(g->node[k]->output[o], name)) {
                        char lb[160];
                        return nm_seterr("graph output '%s' of %s is a constant once the input "
                                         "size is known; nmlab models compute their outputs from "
                                         "the input", name,
                                         ox_node_label(g->node[k], (int)k, lb, sizeof lb));
                    }
            return nm_seterr("graph output '%s' is not produced by any node",
                             name ? name : "(unnamed)");
        }
        if (m->n_outputs == NM_MAX_OUTPUTS)
            return nm_seterr("more than %d graph outputs", NM_MAX_OUTPUTS);
        m->outputs[m->n_outputs] = v;
        m->out_rank[m->n_outputs++] = ox_rank_of(im, v) == 3 ? 0 : ox_axes(ox_rank_of(im, v));
    }
    if (m->n_outputs == 0 && m->n_layers)
        m->outputs[m->n_outputs++] = m->n_layers - 1;   /* partial: where it stopped */
    return NM_OK;
}

/* Appends " (read by node 'a' (Op))" for the first node reading `name`
 * to the current message, so an input problem names an operator. */
static int input_err(const importer *im, const char *name)
{
    const Onnx__GraphProto *g = im->g;
    char msg[768], lb[160];
    snprintf(msg, sizeof msg, "%s", nm_errmsg());
    for (size_t k = 0; k < g->n_node; k++)
        for (size_t i = 0; i < g->node[k]->n_input; i++)
            if (g->node[k]->input[i] && !strcmp(g->node[k]->input[i], name))
                return nm_seterr("%s (read by %s)", msg, ox_node_label(g->node[k], (int)k, lb, sizeof lb));
    return NM_ERR;
}

/* Fills the lookup tables that need the whole graph. */
static int index_graph(importer *im)
{
    const Onnx__GraphProto *g = im->g;
    /* Every initializer's dims are checked against its bytes up front, so
     * a corrupt file fails here whatever uses the tensor. */
    im->where[0] = '\0';
    int64_t total = 0;
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        int64_t count;
        int raw;
        if (ox_tensor_count(im, t, &count) || ox_tensor_size_check(im, t, count, &raw))
            return NM_ERR;
        if (t->name && *t->name && ox_ctab_add(im, t->name, t))
            return NM_ERR;
        total += count;
    }
    /* the layers' f32 copies of the weights, asked for before any is made */
    if (nm_mem_reserve("ONNX initializers", total * (int64_t)sizeof(float)) != NM_OK)
        return NM_ERR;
    for (size_t k = 0; k < g->n_node; k++) {
        const Onnx__NodeProto *n = g->node[k];
        if (!n->op_type || !*n->op_type)
            return nm_seterr("node #%zu has no op_type", k);
        for (size_t i = 0; i < n->n_input; i++)
            if (n->input[i] && *n->input[i] &&
                ox_map_put(&im->uses, n->input[i], ox_map_get(&im->uses, n->input[i], 0) + 1))
                return NM_ERR;
        if (n->name && *n->name &&
            ox_map_put(&im->node_names, n->name, ox_map_get(&im->node_names, n->name, 0) + 1))
            return NM_ERR;
    }
    for (size_t i = 0; i < g->n_value_info; i++)
        if (g->value_info[i]->name && ox_map_put(&im->shapes, g->value_info[i]->name, (int)i))
            return NM_ERR;
    for (size_t i = 0; i < g->n_output; i++) {
        const char *name = g->output[i]->name;
        if (!name)
            continue;
        if (ox_map_put(&im->uses, name, ox_map_get(&im->uses, name, 0) + 1) ||
            ox_map_put(&im->shapes, name, (int)(g->n_value_info + i)))
            return NM_ERR;
    }
    return NM_OK;
}

static void model_name(const char *path, const Onnx__GraphProto *g, char *buf)
{
    if (g->name && *g->name) {
        snprintf(buf, NM_NAME_MAX, "%s", g->name);
        return;
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(buf, NM_NAME_MAX, "%s", base);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf)
        *dot = '\0';
}

/* Walks the nodes in order. NM_OK (possibly stopped early) or NM_ERR. */
static int walk(importer *im)
{
    const Onnx__GraphProto *g = im->g;
    for (size_t k = 0; k < g->n_node; k++) {
        const Onnx__NodeProto *n = g->node[k];
        if (nm_progress(im->progress, im->progress_ud, 0.5 + 0.5 * (double)k / (double)g->n_node,
                        "importing") != NM_OK)
            return NM_ERR;
        if (im->fused[k])
            continue;   /* consumed by a pattern (ops_attention.c) */
        im->node = n;
        im->node_k = (int)k;
        ox_node_label(n, (int)k, im->where, sizeof im->where);
        if (im->m->n_layers >= ONNX_MAX_LAYERS) {
            ox_warn(im, "import stopped at %s: more than %d layers", im->where, ONNX_MAX_LAYERS);
            return NM_OK;
        }
        int rc = op_supported(n) ? import_node(im)
                                 : ox_node_skip(im, "operator %s%s%s is not supported",
                                             n->domain && *n->domain ? n->domain : "",
                                             n->domain && *n->domain ? "." : "", n->op_type);
        if (rc == NM_ERR)
            return NM_ERR;
        if (rc == R_STOP)
            return NM_OK;
        if (rc == R_SKIP && ox_kill_outputs(im, n, (int)k, 0))
            return NM_ERR;
    }
    return NM_OK;
}

static void importer_free(importer *im)
{
    ox_map_free(&im->consts);
    ox_map_free(&im->values);
    ox_map_free(&im->uses);
    ox_map_free(&im->node_names);
    ox_map_free(&im->op_seq);
    ox_map_free(&im->shapes);
    free(im->ctab);
    free(im->lay_names);
    free(im->lay_uses);
    free(im->lay_rank);
    for (size_t k = 0; im->skip_why && k < im->g->n_node; k++)
        free(im->skip_why[k]);
    free(im->skip_why);
    free(im->fused);
    for (int k = 0; k < im->n_owned; k++) {
        Onnx__TensorProto *t = im->owned[k];
        free(t->dims), free(t->float_data), free(t->int64_data), free(t->int32_data), free(t);
    }
    free(im->owned);
    ox_map_free(&im->virt);
    ox_map_free(&im->merge);
    free(im->shuffle);
    free(im->warn.p);
}

/* Builds the model from an unpacked ModelProto. On success *warnings
 * receives the warning text (or NULL). */
static nm_model *import_model(const char *path, const Onnx__ModelProto *mp, char **warnings,
                              const nm_onnx_opts *opts)
{
    if (!mp->graph) {
        nm_seterr("no graph (empty file, or not an ONNX model)");
        return NULL;
    }
    importer im = {0};
    sbuf out = {0};
    nm_model *m = NULL;
    const char *in_name = NULL;
    char name[NM_NAME_MAX];
    im.g = mp->graph;
    im.opts = opts;
    im.progress = opts->progress, im.progress_ud = opts->progress_ud;
    if (!(im.skip_why = calloc(im.g->n_node ? im.g->n_node : 1, sizeof *im.skip_why)) ||
        !(im.fused = calloc(im.g->n_node ? im.g->n_node : 1, 1))) {
        nm_seterr("out of memory");
        goto fail;
    }
    if (index_graph(&im))
        goto fail;
    model_name(path, im.g, name);
    if (make_inputs(&im, name, &in_name)) {
        m = im.m;
        if (in_name)
            input_err(&im, in_name);
        goto fail;
    }
    m = im.m;
    if (walk(&im) != NM_OK || set_outputs(&im) != NM_OK || tally_unsupported(im.g, im.fused, &out) != NM_OK)
        goto fail;
    if (im.warn.len)
        ox_sb_printf(&out, "%s", im.warn.p);
    if (out.oom || im.warn.oom) {
        nm_seterr("out of memory");
        goto fail;
    }
    if (m->n_layers == 0) {
        /* Say why, on one line. */
        for (size_t i = 0; i < out.len; i++)
            if (out.p[i] == '\n')
                out.p[i] = i + 1 < out.len ? ';' : '\0';
        char ops[256] = "";
        for (size_t k = 0; k < im.g->n_node && strlen(ops) < 200; k++)
            snprintf(ops + strlen(ops), sizeof ops - strlen(ops), "%s%s", k ? ", " : "",
                     im.g->node[k]->op_type);
        nm_seterr("no layer could be imported: %s", out.len ? out.p : "");
        if (!out.len)
            nm_seterr("no layer could be imported: the graph's nodes (%s) make no nmlab layer", ops);
        goto fail;
    }
    if (warnings)
        *warnings = out.p;
    else
        free(out.p);
    importer_free(&im);
    return m;
fail:
    free(out.p);
    nm_model_free(m);
    importer_free(&im);
    return NULL;
}

nm_model *nm_onnx_load(const char *path, char **warnings)
{
    nm_onnx_opts o = {0};
    return nm_onnx_load_opts(path, &o, warnings);
}

nm_model *nm_onnx_load_progress(const char *path, char **warnings, nm_progress_fn progress, void *ud)
{
    nm_onnx_opts o = {.progress = progress, .progress_ud = ud};
    return nm_onnx_load_opts(path, &o, warnings);
}

/* Progress: 0 before reading, 0.5 once the file is read and unpacked (one
 * step, no reports inside), then per node, and 1 at the end. */
nm_model *nm_onnx_load_opts(const char *path, const nm_onnx_opts *opts, char **warnings)
{
    nm_progress_fn progress = opts->progress;
    void *ud = opts->progress_ud;
    if (warnings)
        *warnings = NULL;
    if (nm_progress(progress, ud, 0.0, "reading") != NM_OK) {
        nm_preperr(path);
        return NULL;
    }
    unsigned char *data;
    size_t len;
    /* The file is read whole, then unpacked (about its size again): both
     * are counted against the memory budget while they live. */
    struct stat st;
    int64_t fbytes = stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (int64_t)st.st_size : 0;
    if (nm_mem_charge(path, fbytes) != NM_OK)
        return NULL;
    if (nm_read_file(path, ONNX_MAX_FILE, &data, &len) != NM_OK) {
        nm_mem_release(fbytes);
        return NULL; /* the message already names the file */
    }
    if (nm_mem_charge(path, (int64_t)len) != NM_OK) {
        free(data);
        nm_mem_release(fbytes);
        return NULL;
    }
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, data);
    free(data);
    nm_mem_release(fbytes);
    if (!mp) {
        nm_mem_release((int64_t)len);
        nm_seterr("%s: not a valid ONNX file (protobuf data is corrupt or truncated)", path);
        return NULL;
    }
    nm_model *m = nm_progress(progress, ud, 0.5, "importing") == NM_OK
                      ? import_model(path, mp, warnings, opts) : NULL;
    onnx__model_proto__free_unpacked(mp, NULL);
    nm_mem_release((int64_t)len);
    if (m && nm_progress(progress, ud, 1.0, "importing") != NM_OK) {
        nm_model_free(m);
        m = NULL;
        if (warnings) {
            free(*warnings);
            *warnings = NULL;
        }
    }
    if (!m)
        nm_preperr(path);
    return m;
}


/* A guess at the input size of a file with symbolic dimensions: its fixed
 * per-sample dims, `dflt` for the symbolic ones, as nmlab's (C, H, W) for
 * a rank-4 input. NM_ERR with a message if the file cannot be read or its
 * input is not [N, C, H, W]. */
int nm_onnx_input_guess(const char *path, int dflt, int *c, int *h, int *w)
{
    unsigned char *data;
    size_t len;
    if (nm_read_file(path, ONNX_MAX_FILE, &data, &len) != NM_OK)
        return NM_ERR;
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, data);
    free(data);
    if (!mp || !mp->graph) {
        if (mp)
            onnx__model_proto__free_unpacked(mp, NULL);
        return nm_seterr("%s: not a valid ONNX file", path);
    }
    const Onnx__GraphProto *g = mp->graph;
    int rc = nm_seterr("%s: no [N, C, H, W] input", path);
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__ValueInfoProto *v = g->input[i];
        int init = 0;
        for (size_t k = 0; v->name && k < g->n_initializer; k++)
            init |= g->initializer[k]->name && !strcmp(g->initializer[k]->name, v->name);
        if (init || !v->type || !v->type->tensor_type || !v->type->tensor_type->shape)
            continue;
        const Onnx__TensorShapeProto *s = v->type->tensor_type->shape;
        if (s->n_dim == 4) {
            int d[4];
            for (int k = 1; k < 4; k++) {
                const Onnx__TensorShapeProto__Dimension *dim = s->dim[k];
                int fixed = dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                            dim->dim_value > 0 && dim->dim_value <= ONNX_MAX_DIM;
                d[k] = fixed ? (int)dim->dim_value : dflt;
            }
            *c = d[1], *h = d[2], *w = d[3];
            rc = NM_OK;
        }
        break;
    }
    onnx__model_proto__free_unpacked(mp, NULL);
    return rc;
}
