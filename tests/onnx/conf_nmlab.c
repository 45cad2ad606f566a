/* conf_nmlab.c - the harness's only two calls into nmlab: import and
 * forward. When the importer and the forward pass change API
 * (nm_onnx_load_opts, nm_forward_outputs), these two functions are what
 * changes; everything else in tests/onnx/ talks ONNX only.
 *
 * Today's API: nm_onnx_load(path, &warnings) builds one model whose inputs
 * are the graph's (non-initializer) inputs in order; nm_forward_inputs(m,
 * xs, n, ys, cap) takes one f32 [N, C, H, W] tensor per input and returns
 * every graph output. The importer reads an ONNX input of rank
 * 4 as [N, C, H, W], rank 3 [N, T, F] as C = F, H = T, W = 1 and rank 2
 * [N, F] as C = F; conf_forward converts between those layouts. */
#include "conformance.h"

#include "nmio.h"
#include "train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A warning line that means the model is not what the file says. */
static int refusing_line(const char *line, size_t len)
{
    static const char *marks[] = {" skipped: ", "import stopped", "unsupported operators:"};
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
        size_t m = strlen(marks[i]);
        for (size_t k = 0; k + m <= len; k++)
            if (!memcmp(line + k, marks[i], m))
                return 1;
    }
    return 0;
}

/* Appends line (len bytes) to *s, separated by "; ". */
static void append(char **s, const char *line, size_t len)
{
    size_t old = *s ? strlen(*s) : 0;
    char *p = realloc(*s, old + len + 3);
    if (!p)
        return;
    if (old)
        memcpy(p + old, "; ", 2), old += 2;
    memcpy(p + old, line, len);
    p[old + len] = '\0';
    *s = p;
}

nm_model *conf_import(const char *path, char **refusal, char **notes)
{
    char *warnings = NULL;
    *refusal = *notes = NULL;
    nm_model *m = nm_onnx_load(path, &warnings);
    if (!m) {
        /* The message starts with the (temporary) path: leave that out. */
        const char *e = nm_errmsg();
        size_t pl = strlen(path);
        *refusal = strdup(!strncmp(e, path, pl) && !strncmp(e + pl, ": ", 2) ? e + pl + 2 : e);
        return NULL;
    }
    for (const char *l = warnings; l && *l;) {
        size_t n = strcspn(l, "\n");
        if (n)
            append(refusing_line(l, n) ? refusal : notes, l, n);
        l += n + (l[n] == '\n');
    }
    free(warnings);
    if (*refusal) {
        nm_model_free(m);
        return NULL;
    }
    return m;
}

/* The declared dims of graph output i when fully known (batch included). */
static int declared_dims(const Onnx__GraphProto *g, size_t i, int64_t *dims)
{
    if (i >= g->n_output)
        return -1;
    const Onnx__ValueInfoProto *vi = g->output[i];
    if (!vi->type || vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
        !vi->type->tensor_type->shape || vi->type->tensor_type->shape->n_dim > 8)
        return -1;
    const Onnx__TensorShapeProto *s = vi->type->tensor_type->shape;
    for (size_t k = 0; k < s->n_dim; k++) {
        if (s->dim[k]->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
            return -1;
        dims[k] = s->dim[k]->dim_value;
    }
    return (int)s->n_dim;
}

/* One graph input in ONNX layout as nmlab's f32 [N, C, H, W]; NULL with a
 * message. */
static nm_tensor *to_nchw(const conf_tensor *x, char *err, size_t errlen)
{
    if (x->ndim < 2 || x->ndim > 4) {
        snprintf(err, errlen, "input '%s' has rank %d; nm_forward takes rank 2 to 4", x->name, x->ndim);
        return NULL;
    }
    int64_t n = x->dims[0], c, h, w;
    if (x->ndim == 4)
        c = x->dims[1], h = x->dims[2], w = x->dims[3];
    else if (x->ndim == 3)
        c = x->dims[2], h = x->dims[1], w = 1;
    else
        c = x->dims[1], h = 1, w = 1;
    nm_tensor *in = nm_tensor_new4(NM_F32, 4, n, c, h, w);
    if (!in) {
        snprintf(err, errlen, "input: %s", nm_errmsg());
        return NULL;
    }
    float *d = nm_f32(in);
    for (int64_t s = 0; s < n; s++)
        for (int64_t hh = 0; hh < h; hh++)
            for (int64_t cc = 0; cc < c; cc++)
                for (int64_t ww = 0; ww < w; ww++) {
                    int64_t src = x->ndim == 3 ? (s * h + hh) * c + cc : ((s * c + cc) * h + hh) * w + ww;
                    d[((s * c + cc) * h + hh) * w + ww] = (float)x->v[src];
                }
    return in;
}

int conf_forward(nm_model *m, const Onnx__GraphProto *g, const conf_tensor *xs, int n_x,
                 const conf_tensor *refs, int n_refs, conf_tensor *out, int *n_out, char *err,
                 size_t errlen)
{
    *n_out = 0;
    nm_tensor *in[NM_MAX_GRAPH_INPUTS] = {0};
    if (n_x < 1 || n_x > NM_MAX_GRAPH_INPUTS) {
        snprintf(err, errlen, "%d inputs (1 to %d)", n_x, NM_MAX_GRAPH_INPUTS);
        return -1;
    }
    for (int k = 0; k < n_x; k++)
        if (!(in[k] = to_nchw(&xs[k], err, errlen))) {
            for (int j = 0; j < k; j++)
                nm_tensor_release(in[j]);
            return -1;
        }
    nm_tensor *ys[NM_MAX_OUTPUTS];
    int ny = nm_forward_inputs(m, (const nm_tensor *const *)in, n_x, ys, NM_MAX_OUTPUTS);
    for (int k = 0; k < n_x; k++)
        nm_tensor_release(in[k]);
    if (ny < 0) {
        snprintf(err, errlen, "nm_forward_inputs: %s", nm_errmsg());
        return -1;
    }
    for (int k = 0; k < ny; k++) {
        nm_tensor *y = ys[k];
        /* [N, C', H', W'] (or the file's rank) -> graph output k's layout. */
        conf_tensor *o = &out[k];
        memset(o, 0, sizeof *o);
        o->dtype = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
        o->ndim = declared_dims(g, (size_t)k, o->dims);
        if (o->ndim < 0 && k < n_refs) {
            o->ndim = refs[k].ndim;
            memcpy(o->dims, refs[k].dims, sizeof o->dims);
        }
        int64_t yd[4] = {1, 1, 1, 1};
        for (int a = 0; a < y->ndim; a++)
            yd[a] = y->shape[a];
        const int64_t yn = yd[0], yc = yd[1], yh = yd[2], yw = yd[3];
        o->count = y->numel;
        o->v = malloc(((size_t)y->numel + 1) * sizeof *o->v);
        if (!o->v) {
            for (int j = k; j < ny; j++)
                nm_tensor_release(ys[j]);
            snprintf(err, errlen, "out of memory");
            *n_out = k;
            return -1;
        }
        /* Rank 3 [N, T, F] outputs come back as (F, T, 1) per sample. */
        int tokens = y->ndim == 4 && o->ndim == 3 && yw == 1 && o->dims[1] == yh && o->dims[2] == yc;
        for (int64_t s = 0; s < yn; s++)
            for (int64_t cc = 0; cc < yc; cc++)
                for (int64_t hh = 0; hh < yh; hh++)
                    for (int64_t ww = 0; ww < yw; ww++) {
                        int64_t src = ((s * yc + cc) * yh + hh) * yw + ww;
                        int64_t dst = tokens ? (s * yh + hh) * yc + cc : src;
                        o->v[dst] = nm_f32(y)[src];
                    }
        if (o->ndim < 0 || (!tokens && o->ndim != y->ndim)) { /* report what nmlab computed */
            o->ndim = y->ndim;
            for (int a = 0; a < y->ndim; a++)
                o->dims[a] = y->shape[a];
        }
        nm_tensor_release(y);
        snprintf(o->name, sizeof o->name, "%s",
                 (size_t)k < g->n_output && g->output[k]->name ? g->output[k]->name : "");
        *n_out = k + 1;
    }
    return 0;
}
