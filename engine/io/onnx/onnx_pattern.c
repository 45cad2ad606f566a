/* onnx_pattern.c - helpers for matching multi-node patterns (a transformer
 * block as an exporter writes it): finding the node that reads a value,
 * constants not reached yet by the walk, and claiming the nodes a match
 * consumes. Used by ops_attention.c (torch) and ops_attention_paddle.c
 * (Paddle's SVTR). */
#include "onnx_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How far after its first node a pattern's nodes may be (the export keeps
 * them together: an attention block spans about 100 nodes); bounds the
 * work per attempted match on a hostile file. */
#define REACH 512

const char *ox_in_of(const importer *im, int k, size_t i)
{
    const Onnx__NodeProto *n = ox_node_at(im, k);
    return i < n->n_input && n->input[i] ? n->input[i] : "";
}

const char *ox_out_of(const importer *im, int k)
{
    const Onnx__NodeProto *n = ox_node_at(im, k);
    return n->n_output && n->output[0] ? n->output[0] : "";
}

/* The first node after `from` of operator `op` that reads value `name`
 * (any input), or -1. */
int ox_reader(const importer *im, const char *name, int from, const char *op)
{
    if (from < 0 || !*name)
        return -1;
    for (size_t k = (size_t)from + 1; k < im->g->n_node && k <= (size_t)im->node_k + REACH; k++) {
        const Onnx__NodeProto *n = ox_node_at(im, (int)k);
        if (im->fused[k] || strcmp(ox_str_or(n->op_type, ""), op))
            continue;
        for (size_t i = 0; i < n->n_input; i++)
            if (n->input[i] && !strcmp(n->input[i], name))
                return (int)k;
    }
    return -1;
}

/* The constant behind value `name`: an initializer, a folded value or the
 * tensor of a Constant node the walk has not reached yet (within the
 * pattern's reach; earlier ones are already known). NULL if it is not a
 * constant. */
const Onnx__TensorProto *ox_konst(const importer *im, const char *name)
{
    const Onnx__TensorProto *t = ox_const_of(im, name);
    if (t || !*name)
        return t;
    for (size_t k = (size_t)im->node_k; k < im->g->n_node && k <= (size_t)im->node_k + REACH; k++) {
        const Onnx__NodeProto *n = ox_node_at(im, (int)k);
        if (!strcmp(ox_str_or(n->op_type, ""), "Constant") && n->n_output && n->output[0] &&
            !strcmp(n->output[0], name)) {
            const Onnx__AttributeProto *a = ox_attr_find(n, "value");
            return a ? a->t : NULL;
        }
    }
    return NULL;
}

/* 1 and *v when `name` is a float constant of one element, else 0. */
int ox_scalar(importer *im, const char *name, double *v)
{
    const Onnx__TensorProto *t = ox_konst(im, name);
    int64_t count;
    int raw;
    if (!t || ox_tensor_count(im, t, &count) || count != 1 || t->data_type < 0 ||
        t->data_type > 31 || !((1u << t->data_type) & FLOAT_TYPES) || ox_tensor_check_data(im, t, count, FLOAT_TYPES, &raw))
        return 0;
    *v = ox_tensor_float_at(t, raw, 0);
    return 1;
}

/* The input of binary node k that is not `name` (input 1 if both are). */
const char *ox_other_in(const importer *im, int k, const char *name)
{
    return strcmp(ox_in_of(im, k, 0), name) ? ox_in_of(im, k, 0) : ox_in_of(im, k, 1);
}

/* 1 when node k's int list attribute `name` is exactly one value in `ok`
 * (2 values), else 0. */
int ox_attr_one_of(const importer *im, int k, const char *name, int64_t ok0, int64_t ok1)
{
    const Onnx__AttributeProto *a = ox_attr_find(ox_node_at(im, k), name);
    if (!a)
        return 0;
    if (a->n_ints == 1)
        return a->ints[0] == ok0 || a->ints[0] == ok1;
    if (a->has_i && a->n_ints == 0)
        return a->i == ok0 || a->i == ok1;
    return 0;
}

/* Marks nodes (first, last] (those in in_set, when given) as consumed
 * when no value made by them or by node `first` is read outside them,
 * except `keep` (the pattern's result). Returns 1 (marked), 0 (a value
 * escapes: nothing marked) or -1 (out of memory). */
int ox_claim(importer *im, int first, int last, const char *keep, const unsigned char *in_set)
{
    name_map reads = {0};
    int ok = 1;
    for (int j = first; j <= last && ok == 1; j++) {
        if (in_set && !in_set[j - first])
            continue;
        const Onnx__NodeProto *r = ox_node_at(im, j);
        for (size_t i = 0; i < r->n_input && ok == 1; i++)
            if (r->input[i] && *r->input[i] &&
                ox_map_put(&reads, r->input[i], ox_map_get(&reads, r->input[i], 0) + 1))
                ok = -1;
    }
    for (int k = first; k <= last && ok == 1; k++) {
        if (in_set && !in_set[k - first])
            continue;
        const Onnx__NodeProto *n = ox_node_at(im, k);
        for (size_t o = 0; o < n->n_output && ok == 1; o++) {
            const char *v = n->output[o];
            if (v && *v && strcmp(v, keep) &&
                ox_map_get(&im->uses, v, 0) != ox_map_get(&reads, v, 0))
                ok = 0;
        }
    }
    ox_map_free(&reads);
    for (int k = first + 1; k <= last && ok == 1; k++)
        if (!in_set || in_set[k - first])
            im->fused[k] = 1;
    return ok;
}

/* Claims the listed nodes (the first is the current node). */
int ox_claim_list(importer *im, const int *ks, int n, const char *keep)
{
    int lo = ks[0], hi = ks[0];
    for (int i = 1; i < n; i++)
        hi = ks[i] > hi ? ks[i] : hi;
    unsigned char *set = calloc((size_t)(hi - lo + 1), 1);
    if (!set)
        return nm_seterr("out of memory"), -1;
    for (int i = 0; i < n; i++)
        set[ks[i] - lo] = 1;
    int rc = ox_claim(im, lo, hi, keep, set);
    free(set);
    return rc;
}

/* Adds l (output rank `rank`), binds value `out` to it. */
int ox_add_bound(importer *im, nm_layer *l, int rank, const char *out)
{
    if (ox_add_layer_rank(im, l, rank))
        return NM_ERR;
    return ox_bind(im, out, im->m->n_layers - 1);
}


int ox_perm_is(const importer *im, int k, const int64_t *p, size_t n)
{
    const Onnx__AttributeProto *a = ox_attr_find(ox_node_at(im, k), "perm");
    return a && a->n_ints == n && !memcmp(a->ints, p, n * sizeof *p);
}
