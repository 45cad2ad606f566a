/* onnx_layers.c - binding ONNX values to nmlab layers: names, ranks,
 * declared shapes, appending layers. */
#include "onnx_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Binding values to layers.                                           */

/* Checks a layer's computed shape against the file's declared shape of
 * `name` (value_info or graph output) when that is fully known; a mismatch
 * is a warning. */
void ox_check_declared_shape(importer *im, const char *name, int L)
{
    const Onnx__GraphProto *g = im->g;
    int k = ox_map_get(&im->shapes, name, -1);
    if (k < 0)
        return;
    const Onnx__ValueInfoProto *vi = (size_t)k < g->n_value_info ? g->value_info[k]
                                                                 : g->output[(size_t)k - g->n_value_info];
    if (!vi->type || vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
        !vi->type->tensor_type->shape)
        return;
    const Onnx__TensorShapeProto *s = vi->type->tensor_type->shape;
    int64_t d[4] = {0};
    if (s->n_dim < 2 || s->n_dim > 4)
        return;
    for (size_t i = 1; i < s->n_dim; i++) { /* the batch dimension is ignored */
        if (s->dim[i]->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
            return; /* symbolic: nothing to compare */
        d[i] = s->dim[i]->dim_value;
    }
    int c, h, w;
    nm_model_out_shape(im->m, L, &c, &h, &w);
    int64_t fc, fh, fw; /* the file's shape as nmlab's (C, H, W) */
    if (s->n_dim == 4)
        fc = d[1], fh = d[2], fw = d[3];
    else if (s->n_dim == 3 && ox_rank_of(im, L) == RANK_CL)
        fc = d[1], fh = d[2], fw = 1;   /* [N, C, L] */
    else if (s->n_dim == 3)
        fc = d[2], fh = d[1], fw = 1;   /* [N, T, F] tokens */
    else
        fc = d[1], fh = 1, fw = 1;
    if (fc != c || fh != h || fw != w) {
        char db[96];
        const Onnx__TensorShapeProto__Dimension *b = s->dim[0];
        ox_dims_str(d, s->n_dim, db, sizeof db);
        /* show the batch dimension as the file names it */
        char batch[32] = "N";
        if (b->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
            snprintf(batch, sizeof batch, "%lld", (long long)b->dim_value);
        else if (b->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM && b->dim_param)
            snprintf(batch, sizeof batch, "%s", b->dim_param);
        ox_warn(im, "value '%s' has shape [%s%s in the file but nmlab computes (%d, %d, %d) per sample",
             name, batch, strchr(db, ','), c, h, w);
    }
}

/* Binds value `name` to layer L (or a graph input) and counts it for fold_bias. */
int ox_bind(importer *im, const char *name, int L)
{
    if (L >= 0 && L >= im->cap_lay) {
        int cap = im->cap_lay ? im->cap_lay * 2 : 64;
        while (cap <= L)
            cap *= 2;
        int *a = realloc(im->lay_names, (size_t)cap * sizeof *a);
        if (a)
            im->lay_names = a;
        int *b = realloc(im->lay_uses, (size_t)cap * sizeof *b);
        if (b)
            im->lay_uses = b;
        int *r = realloc(im->lay_rank, (size_t)cap * sizeof *r);
        if (r)
            im->lay_rank = r;
        if (!a || !b || !r)
            return nm_seterr("out of memory");
        memset(a + im->cap_lay, 0, (size_t)(cap - im->cap_lay) * sizeof *a);
        memset(b + im->cap_lay, 0, (size_t)(cap - im->cap_lay) * sizeof *b);
        memset(r + im->cap_lay, 0, (size_t)(cap - im->cap_lay) * sizeof *r);
        im->cap_lay = cap;
    }
    if (!name)
        return NM_OK;
    if (ox_map_put(&im->values, name, L) != NM_OK)
        return NM_ERR;
    if (L < 0)
        return NM_OK;
    im->lay_names[L]++;
    im->lay_uses[L] += ox_map_get(&im->uses, name, 0);
    ox_check_declared_shape(im, name, L);
    return NM_OK;
}

/* Marks every output of node k dead (from `first` on). */
int ox_kill_outputs(importer *im, const Onnx__NodeProto *n, int k, size_t first)
{
    for (size_t i = first; i < n->n_output; i++)
        if (n->output[i] && *n->output[i] && ox_map_put(&im->values, n->output[i], VAL_DEAD0 - k))
            return NM_ERR;
    return NM_OK;
}

const char *ox_output_name(const Onnx__NodeProto *n)
{
    return n->n_output && n->output[0] && *n->output[0] ? n->output[0] : NULL;
}

/* The layer name for the current node: its own name when present, short
 * enough and unique in the graph, else "<op_type>_<k>". */
int ox_layer_name(importer *im, char *buf)
{
    const Onnx__NodeProto *n = im->node;
    if (n->name && *n->name && strlen(n->name) < NM_NAME_MAX &&
        ox_map_get(&im->node_names, n->name, 0) == 1 && nm_model_find(im->m, n->name) < 0) {
        snprintf(buf, NM_NAME_MAX, "%s", n->name);
        return NM_OK;
    }
    const char *op = ox_str_or(n->op_type, "node");
    int k = ox_map_get(&im->op_seq, op, 0);
    for (;; k++) {
        snprintf(buf, NM_NAME_MAX, "%.40s_%d", op, k);
        if (nm_model_find(im->m, buf) < 0 && !ox_map_ref(&im->node_names, buf))
            break;
    }
    return ox_map_put(&im->op_seq, op, k + 1);
}

void ox_layer_drop(nm_layer *l)
{
    nm_tensor **ts[NM_LAYER_SLOTS];
    nm_layer_slots(l, ts);
    for (int i = 0; i < NM_LAYER_SLOTS; i++)
        nm_tensor_release(*ts[i]), *ts[i] = NULL;
}

/* The ONNX rank (batch included) of the value behind layer L or a graph input. */
int ox_rank_of(const importer *im, int L)
{
    return nm_is_input(L) ? im->in_rank[nm_input_index(L)] : L < 0 ? 4 : im->lay_rank[L];
}

/* Appends l (the model adopts its tensors) with output rank `rank` (0: its
 * first input's) and binds the node's first output to it. On failure l's
 * tensors are released. */
int ox_add_layer_rank(importer *im, nm_layer *l, int rank)
{
    if (!rank)
        rank = l->n_inputs ? ox_rank_of(im, l->inputs[0]) : 4;
    int L = nm_model_append(im->m, l);
    if (L < 0) {
        char msg[768];
        snprintf(msg, sizeof msg, "%s", nm_errmsg());
        ox_layer_drop(l);
        return ox_node_err(im, "%s", msg);
    }
    if (ox_bind(im, NULL, L) != NM_OK)   /* sizes the per-layer tables */
        return NM_ERR;
    im->lay_rank[L] = rank;
    return ox_bind(im, ox_output_name(im->node), L);
}

int ox_add_layer(importer *im, nm_layer *l)
{
    return ox_add_layer_rank(im, l, 0);
}

int ox_start_layer(importer *im, nm_layer *l, nm_layer_kind kind, int input)
{
    memset(l, 0, sizeof *l);
    l->kind = kind;
    l->n_inputs = 1;
    l->inputs[0] = input;
    return ox_layer_name(im, l->name);
}
