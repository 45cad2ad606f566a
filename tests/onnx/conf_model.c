/* conf_model.c - a test's model.onnx: which operator it tests, and the
 * harness rule that feeds its graph inputs or turns them into initializers. */
#include "conformance.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The test models are a few kB; real ones in data/real are not run here. */
#define CONF_MAX_MODEL ((size_t)1 << 28)

Onnx__ModelProto *conf_model_read(const char *dir, char *err, size_t errlen)
{
    char path[4096];
    uint8_t *data;
    size_t len;
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    if (conf_read_file(path, CONF_MAX_MODEL, &data, &len, err, errlen))
        return NULL;
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, data);
    free(data);
    if (!mp)
        snprintf(err, errlen, "%s: not an ONNX model", path);
    else if (!mp->graph) {
        snprintf(err, errlen, "%s: no graph", path);
        onnx__model_proto__free_unpacked(mp, NULL);
        mp = NULL;
    }
    return mp;
}

/* Length of the longest name in names[0..n) whose lowercase form is a
 * prefix of s ending at '_' or at the end of s; its index in *best. */
static size_t longest_prefix(const char *s, const char *const *names, int n, int *best)
{
    size_t longest = 0;
    for (int i = 0; i < n; i++) {
        const char *a = names[i];
        size_t j = 0, k = 0; /* underscores in s are skipped: "layer_normalization" */
        while (a[j] && s[k]) {
            if (tolower((unsigned char)a[j]) == s[k])
                j++, k++;
            else if (s[k] == '_' && k > 0)
                k++;
            else
                break;
        }
        if (!a[j] && (s[k] == '_' || !s[k]) && k > longest) {
            longest = k;
            *best = i;
        }
    }
    return longest;
}

void conf_test_op(const Onnx__ModelProto *mp, const char *test_name, char *const *known, int n_known,
                  char *buf, size_t len)
{
    const Onnx__GraphProto *g = mp->graph;
    size_t tl = strlen(test_name);
    int expanded = tl > 9 && !strcmp(test_name + tl - 9, "_expanded");
    int one = g->n_node > 0 && !expanded;
    for (size_t k = 1; one && k < g->n_node; k++)
        one = g->node[k]->op_type && g->node[0]->op_type && !strcmp(g->node[k]->op_type, g->node[0]->op_type);
    if (one && g->node[0]->op_type) {
        snprintf(buf, len, "%s", g->node[0]->op_type);
        return;
    }
    const char *s = strncmp(test_name, "test_", 5) == 0 ? test_name + 5 : test_name;
    int best = -1;
    if (longest_prefix(s, (const char *const *)known, n_known, &best)) {
        snprintf(buf, len, "%s", known[best]);
        return;
    }
    const char **ops = calloc(g->n_node + 1, sizeof *ops);
    int n = 0;
    for (size_t k = 0; ops && k < g->n_node; k++)
        if (g->node[k]->op_type)
            ops[n++] = g->node[k]->op_type;
    size_t got = ops ? longest_prefix(s, ops, n, &best) : 0;
    if (got)
        snprintf(buf, len, "%s", ops[best]);
    free(ops);
    if (got)
        return;
    size_t w = strcspn(s, "_");
    snprintf(buf, len, "%.*s", (int)w, s);
}

static int is_initializer(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i]->name && !strcmp(g->initializer[i]->name, name))
            return 1;
    return 0;
}

/* The declared dims of a tensor graph input when fully known; -1 else. */
static int input_dims(const Onnx__ValueInfoProto *vi, int64_t *dims)
{
    if (!vi->type || vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
        !vi->type->tensor_type->shape || vi->type->tensor_type->shape->n_dim > 8)
        return -1;
    const Onnx__TensorShapeProto *s = vi->type->tensor_type->shape;
    for (size_t d = 0; d < s->n_dim; d++) {
        if (s->dim[d]->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
            return -1;
        dims[d] = s->dim[d]->dim_value;
    }
    return (int)s->n_dim;
}

/* 1 when a further graph input can be fed as a model input: float32 of
 * rank 2 to 4 with the first input's batch size (dim 0). */
static int feedable(const Onnx__ValueInfoProto *vi, int64_t batch0)
{
    int64_t d[8];
    int r = input_dims(vi, d);
    return r >= 2 && r <= 4 && d[0] == batch0 && batch0 > 0 &&
           vi->type->tensor_type->elem_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
}

int conf_model_prepare(Onnx__ModelProto *mp, const char *set_dir, const char *path, int feed,
                       int *fed, int *n_fed, int *n_bound, char *err, size_t errlen)
{
    Onnx__GraphProto *g = mp->graph;
    int rc = -1;
    *n_bound = *n_fed = 0;
    size_t keep = 0;
    int k = 0;  /* index among the graph inputs that are not initializers */
    int64_t batch0 = -1;
    for (size_t i = 0; i < g->n_input; i++) {
        Onnx__ValueInfoProto *vi = g->input[i];
        if (!vi->name || is_initializer(g, vi->name)) {
            g->input[keep++] = vi;
            continue;
        }
        if (k++ == 0) {
            int64_t d[8];
            batch0 = input_dims(vi, d) >= 1 ? d[0] : -1;
            fed[(*n_fed)++] = 0;
            g->input[keep++] = vi;
            continue;
        }
        if (feed && *n_fed < CONF_MAX_INPUTS && feedable(vi, batch0)) {
            fed[(*n_fed)++] = k - 1;
            g->input[keep++] = vi;
            continue;
        }
        if (!vi->type || vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
            /* A sequence, map or optional value (input_k.pb is then not a
             * TensorProto): nmlab has no such values. */
            snprintf(err, errlen, "graph input '%s' is not a tensor (a sequence, map or optional value)",
                     vi->name);
            rc = 1;
            goto fail;
        }
        char pb[4096];
        snprintf(pb, sizeof pb, "%s/input_%d.pb", set_dir, k - 1);
        Onnx__TensorProto *t = conf_proto_read(pb, err, errlen);
        if (!t)
            goto fail;
        Onnx__TensorProto **ini = realloc(g->initializer, (g->n_initializer + 1) * sizeof *ini);
        char *name = strdup(vi->name);
        if (!ini || !name) {
            if (ini)
                g->initializer = ini;
            free(name);
            onnx__tensor_proto__free_unpacked(t, NULL);
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        g->initializer = ini;
        free(t->name);
        t->name = name;
        g->initializer[g->n_initializer++] = t;
        onnx__value_info_proto__free_unpacked(vi, NULL);
        (*n_bound)++;
    }
    g->n_input = keep;

    size_t len = onnx__model_proto__get_packed_size(mp);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    onnx__model_proto__pack(mp, buf);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(buf, 1, len, f) == len;
    if (f && fclose(f) != 0)
        ok = 0;
    free(buf);
    if (!ok) {
        snprintf(err, errlen, "%s: cannot write", path);
        return -1;
    }
    return 0;
fail:
    /* Inputs not yet visited move down next to the kept ones. */
    for (size_t i = keep + (size_t)*n_bound; i < g->n_input; i++)
        g->input[keep++] = g->input[i];
    g->n_input = keep;
    return rc;
}
