/* model.c - layer graph construction, shape inference, cloning, weights,
 * and the channel dependency graph. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *kind_names[NM_LAYER_KIND_COUNT] = {
    "conv", "dwconv", "linear", "batchnorm", "relu", "nmrelu", "maxpool",
    "avgpool", "gap", "add", "flatten", "matmul", "layernorm", "gelu",
    "softmax", "embed", "slice", "mul", "sub", "div", "sigmoid", "hardsigmoid",
    "hardswish", "tanh", "clip", "concat", "pad", "reshape", "transpose", "shuffle",
    "convt", "resize",
};

const char *nm_layer_kind_name(nm_layer_kind k)
{
    return (unsigned)k < NM_LAYER_KIND_COUNT ? kind_names[k] : "?";
}

int nm_layer_kind_from_name(const char *name)
{
    for (int i = 0; i < NM_LAYER_KIND_COUNT; i++)
        if (strcmp(kind_names[i], name) == 0)
            return i;
    return -1;
}

int nm_layer_prunable(const nm_layer *l)
{
    return l->kind == NM_LAYER_CONV || l->kind == NM_LAYER_DWCONV || l->kind == NM_LAYER_LINEAR;
}

int64_t nm_layer_rows(const nm_layer *l)
{
    return l->weight ? l->weight->shape[0] : 0;
}

int64_t nm_layer_cols(const nm_layer *l)
{
    if (!l->weight)
        return 0;
    return l->weight->numel / (l->weight->shape[0] ? l->weight->shape[0] : 1);
}

void nm_layer_weight_geom(const nm_layer *l, nm_weight_geom *g)
{
    const int groups = l->kind == NM_LAYER_LINEAR ? 1 : (l->groups > 0 ? l->groups : 1);
    g->rows = nm_layer_rows(l), g->cols = nm_layer_cols(l);
    g->per_k = l->kind != NM_LAYER_LINEAR && l->kh > 0 ? (int64_t)l->kh * l->kw : 1;
    g->cin_g = g->cols / g->per_k;
    g->cout_g = g->rows / groups;
    g->mask = l->mask ? nm_u8(l->mask) : NULL;
    g->filters = l->filters ? nm_u8(l->filters) : NULL;
    g->in_chans = l->in_chans ? nm_u8(l->in_chans) : NULL;
}

nm_model *nm_model_new(const char *name, int in_c, int in_h, int in_w)
{
    if (in_c <= 0 || in_h <= 0 || in_w <= 0) {
        nm_seterr("model input shape must be positive, not (%d, %d, %d)", in_c, in_h, in_w);
        return NULL;
    }
    nm_model *m = calloc(1, sizeof *m);
    if (!m) {
        nm_seterr("out of memory");
        return NULL;
    }
    snprintf(m->name, sizeof m->name, "%s", name ? name : "model");
    m->in_c = in_c;
    m->in_h = in_h;
    m->in_w = in_w;
    return m;
}

void nm_layer_slots(nm_layer *l, nm_tensor **slots[NM_LAYER_SLOTS])
{
    nm_tensor **s[NM_LAYER_SLOTS] = {&l->weight, &l->bias, &l->mask, &l->filters, &l->in_chans,
                                     &l->gamma, &l->beta, &l->mean, &l->var, &l->konst};
    memcpy(slots, s, sizeof s);
}

static void layer_release(nm_layer *l)
{
    nm_tensor **ts[NM_LAYER_SLOTS];
    nm_layer_slots(l, ts);
    for (int i = 0; i < NM_LAYER_SLOTS; i++)
        nm_tensor_release(*ts[i]);
}

int nm_model_outputs(const nm_model *m, int *out, int cap)
{
    if (m->n_outputs == 0) {
        if (cap > 0)
            out[0] = m->n_layers - 1;
        return 1;
    }
    for (int i = 0; i < m->n_outputs && i < cap; i++)
        out[i] = m->outputs[i];
    return m->n_outputs;
}

void nm_model_free(nm_model *m)
{
    if (!m)
        return;
    if (m->fwd_cache_free)
        m->fwd_cache_free(m->fwd_cache);
    for (int i = 0; i < m->n_layers; i++)
        layer_release(&m->layers[i]);
    free(m->layers);
    free(m);
}

static nm_tensor *clone_or_null(const nm_tensor *t, int *fail)
{
    if (!t)
        return NULL;
    nm_tensor *c = nm_tensor_clone(t);
    if (!c)
        *fail = 1;
    return c;
}

nm_model *nm_model_clone(const nm_model *m)
{
    nm_model *c = nm_model_new(m->name, m->in_c, m->in_h, m->in_w);
    if (!c)
        return NULL;
    c->n_xin = m->n_xin;
    memcpy(c->in_name, m->in_name, sizeof c->in_name);
    memcpy(c->xin, m->xin, sizeof c->xin);
    c->seed = m->seed;
    c->n_outputs = m->n_outputs;
    memcpy(c->outputs, m->outputs, sizeof c->outputs);
    memcpy(c->out_rank, m->out_rank, sizeof c->out_rank);
    c->layers = calloc((size_t)(m->n_layers ? m->n_layers : 1), sizeof *c->layers);
    if (!c->layers) {
        free(c);
        nm_seterr("out of memory");
        return NULL;
    }
    c->cap_layers = m->n_layers;
    int fail = 0;
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *s = &m->layers[i];
        nm_layer *d = &c->layers[i];
        *d = *s;
        nm_tensor **ts[NM_LAYER_SLOTS];
        nm_layer_slots(d, ts);
        for (int k = 0; k < NM_LAYER_SLOTS; k++)
            *ts[k] = clone_or_null(*ts[k], &fail);
        c->n_layers = i + 1;
    }
    if (fail) {
        nm_model_free(c);
        nm_seterr("out of memory cloning model '%s'", m->name);
        return NULL;
    }
    return c;
}

int nm_model_find(const nm_model *m, const char *name)
{
    for (int i = 0; i < m->n_layers; i++)
        if (strcmp(m->layers[i].name, name) == 0)
            return i;
    return -1;
}

const char *nm_model_input_name(const nm_model *m, int k)
{
    if (k == 0)
        return m->in_name[0] ? m->in_name : "input";
    return k > 0 && k <= m->n_xin ? m->xin[k - 1].name : NULL;
}

void nm_model_input_shape(const nm_model *m, int k, int *c, int *h, int *w)
{
    *c = *h = *w = 0;
    if (k == 0)
        *c = m->in_c, *h = m->in_h, *w = m->in_w;
    else if (k > 0 && k <= m->n_xin)
        *c = m->xin[k - 1].c, *h = m->xin[k - 1].h, *w = m->xin[k - 1].w;
}

int nm_model_add_input(nm_model *m, const char *name, int c, int h, int w)
{
    const int k = nm_model_n_inputs(m);
    char buf[NM_NAME_MAX];
    snprintf(buf, sizeof buf, "%s", name && *name ? name : "");
    if (!buf[0])
        snprintf(buf, sizeof buf, "input%d", k);
    if (k >= NM_MAX_GRAPH_INPUTS)
        return nm_seterr("model '%s': input '%s' would be graph input %d (at most %d)", m->name, buf,
                         k + 1, NM_MAX_GRAPH_INPUTS), -1;
    if (c <= 0 || h <= 0 || w <= 0)
        return nm_seterr("model '%s': input '%s' shape must be positive, not (%d, %d, %d)", m->name,
                         buf, c, h, w), -1;
    for (int j = 0; j < k; j++)
        if (!strcmp(nm_model_input_name(m, j), buf))
            return nm_seterr("model '%s': input name '%s' is used twice", m->name, buf), -1;
    snprintf(m->xin[k - 1].name, sizeof m->xin[k - 1].name, "%s", buf);
    m->xin[k - 1].c = c, m->xin[k - 1].h = h, m->xin[k - 1].w = w;
    m->n_xin = k;
    return NM_INPUT_K(k);
}

int nm_model_one_input(const nm_model *m, const char *what)
{
    if (m->n_xin == 0)
        return NM_OK;
    char list[256] = "";
    for (int k = 0; k < nm_model_n_inputs(m) && strlen(list) < 180; k++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s'%.40s'", k ? ", " : "",
                 nm_model_input_name(m, k));
    return nm_seterr("%s: model '%s' has %d graph inputs (%s); %s takes models with one input", what,
                     m->name, nm_model_n_inputs(m), list, what);
}

void nm_model_out_shape(const nm_model *m, int idx, int *c, int *h, int *w)
{
    if (nm_is_input(idx) && nm_input_index(idx) <= m->n_xin) {
        nm_model_input_shape(m, nm_input_index(idx), c, h, w);
        return;
    }
    if (idx < 0 || idx >= m->n_layers) {
        *c = m->in_c, *h = m->in_h, *w = m->in_w;
        return;
    }
    const nm_layer *l = &m->layers[idx];
    *c = l->out_c, *h = l->out_h, *w = l->out_w;
}

/* Checks an attached tensor against the expected shape, or allocates it
 * zeroed (f32) when `alloc` is set and it is missing. */
static int check_param(const nm_layer *l, nm_tensor **slot, const char *what, nm_dtype dt,
                       int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3, int alloc)
{
    int64_t want[4] = {d0, d1, d2, d3};
    if (!*slot) {
        if (!alloc)
            return NM_OK;
        *slot = nm_tensor_new(dt, ndim, want);
        if (!*slot)
            return nm_seterr("layer '%s': %s: %s", l->name, what, nm_errmsg());
        return NM_OK;
    }
    nm_tensor *t = *slot;
    int ok = t->ndim == ndim && t->dtype == dt;
    for (int i = 0; ok && i < ndim; i++)
        ok = t->shape[i] == want[i];
    if (!ok) {
        char got[64];
        return nm_seterr("layer '%s': %s has shape %s (%s), expected %d-D [%lld, %lld, %lld, %lld] (%s)",
                         l->name, what, nm_shape_str(t, got, sizeof got), nm_dtype_name(t->dtype),
                         ndim, (long long)d0, (long long)d1, (long long)d2, (long long)d3,
                         nm_dtype_name(dt));
    }
    return NM_OK;
}

/* Output length of a window of k (dilation d) sliding by s over in values
 * padded by p0 before and p1 after; ceil_mode counts a last partial window
 * unless it would start in the end padding (PyTorch's rule). -1 if none fits. */
static int window_out(int in, int k, int s, int p0, int p1, int d, int ceil_mode)
{
    if (d <= 0)
        d = 1;
    int64_t span = (int64_t)d * (k - 1) + 1, room = (int64_t)in + p0 + p1 - span;
    if (s <= 0 || k <= 0 || room < 0)
        return -1;
    int64_t out = (ceil_mode ? (room + s - 1) / s : room / s) + 1;
    if (ceil_mode && (out - 1) * s >= (int64_t)in + p0)
        out--;
    return out > INT32_MAX ? -1 : (int)out;
}

/* A window layer's output plane (conv, dwconv, pools). */
static void window_plane(nm_layer *l, int h, int w)
{
    int ph2 = l->pad_asym ? l->pad_h2 : l->pad_h, pw2 = l->pad_asym ? l->pad_w2 : l->pad_w;
    l->out_h = window_out(h, l->kh, l->stride_h, l->pad_h, ph2, l->dil_h, l->ceil_mode);
    l->out_w = window_out(w, l->kw, l->stride_w, l->pad_w, pw2, l->dil_w, l->ceil_mode);
}

static int is_binary(nm_layer_kind k)
{
    return k == NM_LAYER_ADD || k == NM_LAYER_MUL || k == NM_LAYER_SUB || k == NM_LAYER_DIV;
}

/* Broadcast of a (c,h,w) operand against the output shape: each axis 1 or equal. */
static int broadcasts(int c, int h, int w, int oc, int oh, int ow)
{
    return (c == 1 || c == oc) && (h == 1 || h == oh) && (w == 1 || w == ow);
}

/* Output length of a transposed convolution along one axis (ONNX's
 * ConvTranspose): (in - 1) * s - p0 - p1 + d * (k - 1) + outpad + 1. */
static int64_t convt_out(int in, int k, int s, int p0, int p1, int d, int outpad)
{
    return ((int64_t)in - 1) * s - p0 - p1 + (int64_t)(d > 0 ? d : 1) * (k - 1) + outpad + 1;
}

/* CONVT: geometry, output shape and parameters; want_c is the requested
 * number of output channels. */
static int infer_convt(nm_layer *l, int c, int h, int w, int want_c)
{
    if (l->groups <= 0)
        l->groups = 1;
    int ph2 = l->pad_asym ? l->pad_h2 : l->pad_h, pw2 = l->pad_asym ? l->pad_w2 : l->pad_w;
    if (l->kh <= 0 || l->kw <= 0 || l->stride_h <= 0 || l->stride_w <= 0 || l->pad_h < 0 ||
        l->pad_w < 0 || ph2 < 0 || pw2 < 0 || l->dil_h < 0 || l->dil_w < 0 || l->outpad_h < 0 ||
        l->outpad_w < 0)
        return nm_seterr("layer '%s': a transposed conv needs a positive kernel and stride, and "
                         "non-negative padding, dilation and output padding", l->name);
    if (want_c <= 0 || c % l->groups || want_c % l->groups)
        return nm_seterr("layer '%s': %d input and %d output channels do not split into %d groups",
                         l->name, c, want_c, l->groups);
    int64_t oh = convt_out(h, l->kh, l->stride_h, l->pad_h, ph2, l->dil_h, l->outpad_h);
    int64_t ow = convt_out(w, l->kw, l->stride_w, l->pad_w, pw2, l->dil_w, l->outpad_w);
    if (oh <= 0 || ow <= 0 || oh * ow > INT32_MAX || (int64_t)want_c * oh * ow > INT32_MAX)
        return nm_seterr("layer '%s': a transposed conv of a %dx%d input gives a %lldx%lld output",
                         l->name, h, w, (long long)oh, (long long)ow);
    l->out_c = want_c, l->out_h = (int)oh, l->out_w = (int)ow;
    if (check_param(l, &l->weight, "weight", NM_F32, 4, c, want_c / l->groups, l->kh, l->kw, 1) ||
        check_param(l, &l->bias, "bias", NM_F32, 1, want_c, 0, 0, 0, 0))
        return NM_ERR;
    return NM_OK;
}

/* RESIZE: the requested plane (want_h x want_w) and the settings. */
static int infer_resize(nm_layer *l, int c, int want_h, int want_w)
{
    if (want_h <= 0 || want_w <= 0 || (int64_t)c * want_h * want_w > INT32_MAX)
        return nm_seterr("layer '%s': cannot resize to %dx%d", l->name, want_h, want_w);
    if ((unsigned)l->rs_mode > NM_RESIZE_LINEAR || (unsigned)l->rs_coord > NM_COORD_TF_HALF_PIXEL_FOR_NN ||
        (unsigned)l->rs_round > NM_ROUND_CEIL)
        return nm_seterr("layer '%s': unknown resize mode, coordinate mode or rounding", l->name);
    if (!(l->scale_h >= 0 && l->scale_h < 1e30f) || !(l->scale_w >= 0 && l->scale_w < 1e30f))
        return nm_seterr("layer '%s': resize scales %g, %g must be positive (0 = out / in)",
                         l->name, (double)l->scale_h, (double)l->scale_w);
    l->out_h = want_h, l->out_w = want_w;
    return NM_OK;
}

/* Shape checks of the layer kinds added for imported graphs (elementwise,
 * concat, pad, reshape, transpose, shuffle, convt, resize); (c, h, w) is
 * input 0's shape. */
static int infer_graph_kind(nm_model *m, nm_layer *l, int c, int h, int w, int want_c,
                            int want_h, int want_w)
{
    switch (l->kind) {
    case NM_LAYER_ADD: case NM_LAYER_MUL: case NM_LAYER_SUB: case NM_LAYER_DIV: {
        int c2, h2, w2;
        if (l->n_inputs == 2) {
            nm_model_out_shape(m, l->inputs[1], &c2, &h2, &w2);
        } else {
            if (!l->konst || l->konst->dtype != NM_F32 || l->konst->ndim != 3)
                return nm_seterr("layer '%s' (%s) needs a second input or an f32 [c, h, w] constant",
                                 l->name, nm_layer_kind_name(l->kind));
            c2 = (int)l->konst->shape[0], h2 = (int)l->konst->shape[1], w2 = (int)l->konst->shape[2];
        }
        int oc = c > c2 ? c : c2, oh = h > h2 ? h : h2, ow = w > w2 ? w : w2;
        if (!broadcasts(c, h, w, oc, oh, ow) || !broadcasts(c2, h2, w2, oc, oh, ow))
            return nm_seterr("layer '%s': cannot broadcast (%d,%d,%d) %s (%d,%d,%d)", l->name, c, h,
                             w, nm_layer_kind_name(l->kind), c2, h2, w2);
        l->out_c = oc, l->out_h = oh, l->out_w = ow;
        return NM_OK;
    }
    case NM_LAYER_SIGMOID: case NM_LAYER_HARDSIGMOID: case NM_LAYER_HARDSWISH:
    case NM_LAYER_TANH: case NM_LAYER_CLIP:
        if (l->kind == NM_LAYER_CLIP && !(l->alpha <= l->beta_))
            return nm_seterr("layer '%s': clip bounds [%g, %g] are empty", l->name,
                             (double)l->alpha, (double)l->beta_);
        return NM_OK;
    case NM_LAYER_CONCAT: {
        if (l->axis < 0 || l->axis > 2)
            return nm_seterr("layer '%s': concat axis %d (0 = C, 1 = H, 2 = W)", l->name, l->axis);
        int64_t sum = 0;
        for (int i = 0; i < l->n_inputs; i++) {
            int d[3];
            nm_model_out_shape(m, l->inputs[i], &d[0], &d[1], &d[2]);
            int o[3] = {c, h, w};
            for (int a = 0; a < 3; a++)
                if (a != l->axis && d[a] != o[a])
                    return nm_seterr("layer '%s': input %d is (%d,%d,%d), input 0 (%d,%d,%d); "
                                     "only axis %d may differ", l->name, i, d[0], d[1], d[2], c,
                                     h, w, l->axis);
            sum += d[l->axis];
        }
        if (sum > INT32_MAX)
            return nm_seterr("layer '%s': concatenation too large", l->name);
        if (l->axis == 0) l->out_c = (int)sum;
        else if (l->axis == 1) l->out_h = (int)sum;
        else l->out_w = (int)sum;
        return NM_OK;
    }
    case NM_LAYER_PAD: {
        int64_t o[3] = {c, h, w};
        for (int a = 0; a < 3; a++) {
            if (l->pads[a] < 0 || l->pads[a + 3] < 0)
                return nm_seterr("layer '%s': negative padding", l->name);
            o[a] += (int64_t)l->pads[a] + l->pads[a + 3];
            if (o[a] > INT32_MAX)
                return nm_seterr("layer '%s': padded size too large", l->name);
        }
        l->out_c = (int)o[0], l->out_h = (int)o[1], l->out_w = (int)o[2];
        return NM_OK;
    }
    case NM_LAYER_RESHAPE:
        if (want_c <= 0 || want_h <= 0 || want_w <= 0 ||
            (int64_t)want_c * want_h * want_w != (int64_t)c * h * w)
            return nm_seterr("layer '%s': cannot reshape (%d,%d,%d) to (%d,%d,%d)", l->name, c, h,
                             w, want_c, want_h, want_w);
        l->out_c = want_c, l->out_h = want_h, l->out_w = want_w;
        return NM_OK;
    case NM_LAYER_TRANSPOSE: {
        int d[3] = {c, h, w}, seen = 0;
        for (int a = 0; a < 3; a++) {
            if (l->perm[a] < 0 || l->perm[a] > 2 || (seen & 1 << l->perm[a]))
                return nm_seterr("layer '%s': perm (%d,%d,%d) is not a permutation of C, H, W",
                                 l->name, l->perm[0], l->perm[1], l->perm[2]);
            seen |= 1 << l->perm[a];
        }
        l->out_c = d[l->perm[0]], l->out_h = d[l->perm[1]], l->out_w = d[l->perm[2]];
        return NM_OK;
    }
    case NM_LAYER_SHUFFLE:
        if (l->groups <= 0 || c % l->groups)
            return nm_seterr("layer '%s': %d groups do not divide %d channels", l->name,
                             l->groups, c);
        return NM_OK;
    case NM_LAYER_CONVT:
        return infer_convt(l, c, h, w, want_c);
    case NM_LAYER_RESIZE:
        return infer_resize(l, c, want_h, want_w);
    default:
        return nm_seterr("layer '%s': unknown kind %d", l->name, (int)l->kind);
    }
}

/* Computes l's output geometry from its producers and checks its parameters. */
static int infer_layer(nm_model *m, nm_layer *l)
{
    int need = l->kind == NM_LAYER_MATMUL ? 2 : 1;
    if (is_binary(l->kind))
        need = l->konst ? 1 : 2;
    int detached = l->n_inputs == 0 && nm_layer_prunable(l);
    if (detached && (l->in_c <= 0 || l->in_h <= 0 || l->in_w <= 0))
        return nm_seterr("layer '%s' has no producer and no input shape", l->name);
    if (l->n_inputs < 0 || l->n_inputs > NM_MAX_INPUTS)
        return nm_seterr("layer '%s' has %d inputs (at most %d)", l->name, l->n_inputs,
                         NM_MAX_INPUTS);
    if (l->kind == NM_LAYER_CONCAT && l->n_inputs >= 1)
        need = l->n_inputs;
    if (l->konst && !is_binary(l->kind))
        return nm_seterr("layer '%s' (%s) takes no constant operand", l->name,
                         nm_layer_kind_name(l->kind));
    if (!detached && l->n_inputs != need)
        return nm_seterr("layer '%s' (%s) takes %d input(s), got %d", l->name,
                         nm_layer_kind_name(l->kind), need, l->n_inputs);
    for (int i = 0; i < l->n_inputs; i++)
        if (nm_is_input(l->inputs[i])) {
            if (nm_input_index(l->inputs[i]) >= nm_model_n_inputs(m))
                return nm_seterr("layer '%s': input %d refers to graph input %d, but model '%s' has "
                                 "%d", l->name, i, nm_input_index(l->inputs[i]), m->name,
                                 nm_model_n_inputs(m));
        } else if (l->inputs[i] < 0 || l->inputs[i] >= m->n_layers)
            return nm_seterr("layer '%s': input %d refers to unknown layer %d", l->name, i,
                             l->inputs[i]);
    int c, h, w;
    if (detached)
        c = l->in_c, h = l->in_h, w = l->in_w;
    else
        nm_model_out_shape(m, l->inputs[0], &c, &h, &w);
    int want_c = l->out_c; /* conv/linear/slice: requested outputs */
    int want_h = l->out_h; /* slice of positions: requested count */
    int want_w = l->out_w; /* reshape: requested shape */
    l->in_c = c, l->in_h = h, l->in_w = w;
    l->out_c = c, l->out_h = h, l->out_w = w;
    if (l->kind == NM_LAYER_CONV || l->kind == NM_LAYER_LINEAR || l->kind == NM_LAYER_DWCONV)
        l->out_c = want_c;

    switch (l->kind) {
    case NM_LAYER_DWCONV:
        l->groups = c;
        if (l->out_c <= 0)
            l->out_c = c;
        /* fall through */
    case NM_LAYER_CONV: {
        if (l->groups <= 0)
            l->groups = 1;
        if (l->stride_h <= 0 || l->stride_w <= 0 || l->pad_h < 0 || l->pad_w < 0 ||
            (l->pad_asym && (l->pad_h2 < 0 || l->pad_w2 < 0)) || l->dil_h < 0 || l->dil_w < 0)
            return nm_seterr("layer '%s': stride must be positive, padding and dilation non-negative",
                             l->name);
        if (l->out_c <= 0 || c % l->groups || l->out_c % l->groups)
            return nm_seterr("layer '%s': %d input and %d output channels do not split into %d groups",
                             l->name, c, l->out_c, l->groups);
        if (l->kind == NM_LAYER_DWCONV && l->out_c != c)
            return nm_seterr("layer '%s': a depthwise conv keeps its %d channels", l->name, c);
        window_plane(l, h, w);
        if (l->out_h <= 0 || l->out_w <= 0)
            return nm_seterr("layer '%s': a %dx%d kernel does not fit a %dx%d input (padding %d)",
                             l->name, l->kh, l->kw, h, w, l->pad_h);
        if (check_param(l, &l->weight, "weight", NM_F32, 4, l->out_c, c / l->groups, l->kh, l->kw, 1))
            return NM_ERR;
        break;
    }
    case NM_LAYER_LINEAR:
        if (l->out_c <= 0)
            return nm_seterr("layer '%s': a linear layer needs a positive output size", l->name);
        if (check_param(l, &l->weight, "weight", NM_F32, 2, l->out_c, c, 0, 0, 1))
            return NM_ERR;
        break;
    case NM_LAYER_BN:
        if (l->eps <= 0)
            l->eps = 1e-5f;
        if (check_param(l, &l->mean, "running_mean", NM_F32, 1, c, 0, 0, 0, 1) ||
            check_param(l, &l->var, "running_var", NM_F32, 1, c, 0, 0, 0, 1))
            return NM_ERR;
        /* fall through */
    case NM_LAYER_LAYERNORM:
        if (l->eps <= 0)
            l->eps = 1e-5f;
        if (check_param(l, &l->gamma, "gamma", NM_F32, 1, c, 0, 0, 0, 1) ||
            check_param(l, &l->beta, "beta", NM_F32, 1, c, 0, 0, 0, 1) ||
            check_param(l, &l->filters, "filters", NM_U8, 1, c, 0, 0, 0, 0))
            return NM_ERR;
        break;
    case NM_LAYER_NMRELU:
        if (l->act_m <= 0 || l->act_n < 0 || l->act_n > l->act_m)
            return nm_seterr("layer '%s': impossible N:M %d:%d (need 0 <= N <= M, M >= 1)",
                             l->name, l->act_n, l->act_m);
        break;
    case NM_LAYER_RELU:
    case NM_LAYER_GELU:
        break;
    case NM_LAYER_SOFTMAX:
        if (l->heads < 0 || (l->heads > 0 && c % l->heads))
            return nm_seterr("layer '%s': a softmax in %d groups over %d channels", l->name,
                             l->heads, c);
        break;
    case NM_LAYER_MAXPOOL:
    case NM_LAYER_AVGPOOL:
        if (l->pad_h < 0 || l->pad_w < 0 || (l->pad_asym && (l->pad_h2 < 0 || l->pad_w2 < 0)) ||
            l->dil_h < 0 || l->dil_w < 0)
            return nm_seterr("layer '%s': negative padding or dilation", l->name);
        window_plane(l, h, w);
        if (l->out_h <= 0 || l->out_w <= 0)
            return nm_seterr("layer '%s': a %dx%d pool does not fit a %dx%d input", l->name,
                             l->kh, l->kw, h, w);
        break;
    case NM_LAYER_GAP:
        l->out_h = l->out_w = 1;
        break;
    case NM_LAYER_FLATTEN:
        if ((int64_t)c * h * w > INT32_MAX)
            return nm_seterr("layer '%s': flattened size too large", l->name);
        l->out_c = c * h * w;
        l->out_h = l->out_w = 1;
        break;
    case NM_LAYER_MATMUL: {
        int c2, h2, w2;
        nm_model_out_shape(m, l->inputs[1], &c2, &h2, &w2);
        if (l->heads <= 0)
            l->heads = 1;
        int tokens = h * w;
        if (h2 * w2 != tokens)
            return nm_seterr("layer '%s': operands have %d and %d tokens", l->name, tokens, h2 * w2);
        if (l->groups == 1) { /* qk: Q (dim, T) x K (dim, T)^T per head */
            if (c2 != c || c % l->heads)
                return nm_seterr("layer '%s': Q and K need the same width divisible by %d heads",
                                 l->name, l->heads);
            l->out_c = l->heads * tokens;
            l->matmul_macs = (int64_t)tokens * tokens * c;
        } else {              /* av: scores (heads*T, T) x V (dim, T) */
            if (c != l->heads * tokens || c2 % l->heads)
                return nm_seterr("layer '%s': scores (%d) do not match %d heads x %d tokens",
                                 l->name, c, l->heads, tokens);
            l->out_c = c2;
            l->matmul_macs = (int64_t)tokens * tokens * c2;
        }
        l->out_h = h, l->out_w = w;
        break;
    }
    case NM_LAYER_EMBED:
        l->out_h = h * w + 1;
        l->out_w = 1;
        if (check_param(l, &l->weight, "pos_embed", NM_F32, 2, l->out_h, c, 0, 0, 1) ||
            check_param(l, &l->bias, "cls_token", NM_F32, 1, c, 0, 0, 0, 1))
            return NM_ERR;
        break;
    case NM_LAYER_SLICE: {
        int along = l->slice_axis == NM_AXIS_CHANNEL ? c : h * w;
        int count = l->slice_axis == NM_AXIS_CHANNEL ? want_c : want_h;
        if (l->slice_start < 0 || count <= 0 || l->slice_start > along - count)
            return nm_seterr("layer '%s': slice [%d, %d) is outside the %d %s", l->name,
                             l->slice_start, l->slice_start + count, along,
                             l->slice_axis == NM_AXIS_CHANNEL ? "channels" : "positions");
        if (l->slice_axis == NM_AXIS_CHANNEL)
            l->out_c = count;
        else
            l->out_h = count, l->out_w = 1;
        break;
    }
    default:
        if (infer_graph_kind(m, l, c, h, w, want_c, want_h, want_w) != NM_OK)
            return NM_ERR;
        break;
    }
    if (l->kind == NM_LAYER_CONV || l->kind == NM_LAYER_DWCONV || l->kind == NM_LAYER_LINEAR) {
        if (check_param(l, &l->bias, "bias", NM_F32, 1, l->out_c, 0, 0, 0, 0) ||
            check_param(l, &l->filters, "filters", NM_U8, 1, l->out_c, 0, 0, 0, 0) ||
            check_param(l, &l->in_chans, "in_chans", NM_U8, 1, c, 0, 0, 0, 0))
            return NM_ERR;
        if (l->mask && !nm_tensor_same_shape(l->mask, l->weight))
            return nm_seterr("layer '%s': mask shape differs from the weight's", l->name);
        if (l->mask && l->mask->dtype != NM_U8)
            return nm_seterr("layer '%s': mask must be uint8", l->name);
    }
    return NM_OK;
}

int nm_model_append(nm_model *m, nm_layer *l)
{
    if (!l->name[0])
        return nm_seterr("layer %d has no name", m->n_layers);
    if (nm_model_find(m, l->name) >= 0)
        return nm_seterr("layer name '%s' is used twice", l->name);
    if ((unsigned)l->kind >= NM_LAYER_KIND_COUNT)
        return nm_seterr("layer '%s': unknown kind %d", l->name, (int)l->kind);
    for (int i = 0; i < l->n_inputs && i < NM_MAX_INPUTS; i++)
        if (l->inputs[i] == NM_PREV)
            l->inputs[i] = m->n_layers - 1 >= 0 ? m->n_layers - 1 : NM_INPUT;
    if (infer_layer(m, l) != NM_OK)
        return NM_ERR;
    if (m->n_layers == m->cap_layers) {
        int cap = m->cap_layers ? m->cap_layers * 2 : 32;
        nm_layer *nl = realloc(m->layers, (size_t)cap * sizeof *nl);
        if (!nl)
            return nm_seterr("out of memory");
        m->layers = nl;
        m->cap_layers = cap;
    }
    m->layers[m->n_layers] = *l;
    return m->n_layers++;
}

/* Builders: fill a layer, then append. On failure the tensors allocated by
 * infer_layer are released here. */
static int add_layer(nm_model *m, nm_layer *l)
{
    int idx = nm_model_append(m, l);
    if (idx < 0)
        layer_release(l);
    return idx;
}

static void layer_init(nm_layer *l, const char *name, nm_layer_kind kind, int input)
{
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", name);
    l->kind = kind;
    l->n_inputs = 1;
    l->inputs[0] = input;
}

int nm_add_conv(nm_model *m, const char *name, int input, int out_c, int kh, int kw,
                int stride, int pad, int groups, int bias)
{
    nm_layer l;
    layer_init(&l, name, NM_LAYER_CONV, input);
    l.out_c = out_c, l.kh = kh, l.kw = kw;
    l.stride_h = l.stride_w = stride;
    l.pad_h = l.pad_w = pad;
    l.groups = groups;
    if (bias && out_c > 0 && !(l.bias = nm_tensor_new4(NM_F32, 1, out_c, 0, 0, 0)))
        return -1;
    return add_layer(m, &l);
}

int nm_add_dwconv(nm_model *m, const char *name, int input, int k, int stride, int pad)
{
    nm_layer l;
    layer_init(&l, name, NM_LAYER_DWCONV, input);
    l.kh = l.kw = k;
    l.stride_h = l.stride_w = stride;
    l.pad_h = l.pad_w = pad;
    return add_layer(m, &l);
}

int nm_add_linear(nm_model *m, const char *name, int input, int out_features, int bias)
{
    nm_layer l;
    layer_init(&l, name, NM_LAYER_LINEAR, input);
    l.out_c = out_features;
    if (bias && out_features > 0 && !(l.bias = nm_tensor_new4(NM_F32, 1, out_features, 0, 0, 0)))
        return -1;
    return add_layer(m, &l);
}

static int add_simple(nm_model *m, const char *name, nm_layer_kind kind, int input)
{
    nm_layer l;
    layer_init(&l, name, kind, input);
    return add_layer(m, &l);
}

int nm_add_bn(nm_model *m, const char *name, int input) { return add_simple(m, name, NM_LAYER_BN, input); }
int nm_add_gap(nm_model *m, const char *name, int input) { return add_simple(m, name, NM_LAYER_GAP, input); }
int nm_add_flatten(nm_model *m, const char *name, int input) { return add_simple(m, name, NM_LAYER_FLATTEN, input); }
int nm_add_layernorm(nm_model *m, const char *name, int input) { return add_simple(m, name, NM_LAYER_LAYERNORM, input); }
int nm_add_gelu(nm_model *m, const char *name, int input) { return add_simple(m, name, NM_LAYER_GELU, input); }
int nm_add_softmax(nm_model *m, const char *name, int input) { return add_simple(m, name, NM_LAYER_SOFTMAX, input); }
int nm_add_embed(nm_model *m, const char *name, int input) { return add_simple(m, name, NM_LAYER_EMBED, input); }

int nm_add_softmax_heads(nm_model *m, const char *name, int input, int heads)
{
    nm_layer l;
    layer_init(&l, name, NM_LAYER_SOFTMAX, input);
    l.heads = heads;
    return add_layer(m, &l);
}

int nm_add_relu(nm_model *m, const char *name, int input, float clip)
{
    nm_layer l;
    layer_init(&l, name, NM_LAYER_RELU, input);
    l.clip = clip;
    return add_layer(m, &l);
}

int nm_add_nmrelu(nm_model *m, const char *name, int input, int n, int mm,
                  nm_act_policy policy, nm_act_axis axis)
{
    nm_layer l;
    layer_init(&l, name, NM_LAYER_NMRELU, input);
    l.act_n = n, l.act_m = mm, l.act_policy = policy, l.act_axis = axis;
    return add_layer(m, &l);
}

int nm_add_pool(nm_model *m, const char *name, int input, nm_layer_kind kind, int k,
                int stride, int pad)
{
    if (kind != NM_LAYER_MAXPOOL && kind != NM_LAYER_AVGPOOL)
        return nm_seterr("layer '%s': pool kind must be maxpool or avgpool", name);
    nm_layer l;
    layer_init(&l, name, kind, input);
    l.kh = l.kw = k;
    l.stride_h = l.stride_w = stride;
    l.pad_h = l.pad_w = pad;
    return add_layer(m, &l);
}

int nm_add_add(nm_model *m, const char *name, int a, int b)
{
    return nm_add_binary(m, name, NM_LAYER_ADD, a, b);
}

int nm_add_binary(nm_model *m, const char *name, nm_layer_kind kind, int a, int b)
{
    if (!is_binary(kind))
        return nm_seterr("layer '%s': %s is not an elementwise binary op", name,
                         nm_layer_kind_name(kind)), -1;
    nm_layer l;
    layer_init(&l, name, kind, a);
    l.n_inputs = 2;
    l.inputs[1] = b;
    return add_layer(m, &l);
}

int nm_add_binary_const(nm_model *m, const char *name, nm_layer_kind kind, int a, nm_tensor *k,
                        int rev)
{
    if (!is_binary(kind))
        return nm_seterr("layer '%s': %s is not an elementwise binary op", name,
                         nm_layer_kind_name(kind)), -1;
    nm_layer l;
    layer_init(&l, name, kind, a);
    l.konst = nm_tensor_retain(k);
    l.rev = rev != 0;
    return add_layer(m, &l);
}

int nm_add_unary(nm_model *m, const char *name, nm_layer_kind kind, int input, float alpha,
                 float beta)
{
    nm_layer l;
    layer_init(&l, name, kind, input);
    l.alpha = alpha, l.beta_ = beta;
    return add_layer(m, &l);
}

int nm_add_concat(nm_model *m, const char *name, const int *inputs, int n, int axis)
{
    if (n < 1 || n > NM_MAX_INPUTS)
        return nm_seterr("layer '%s': concat of %d inputs (1 to %d)", name, n, NM_MAX_INPUTS), -1;
    nm_layer l;
    layer_init(&l, name, NM_LAYER_CONCAT, inputs[0]);
    l.n_inputs = n;
    memcpy(l.inputs, inputs, sizeof(int) * (size_t)n);
    l.axis = axis;
    return add_layer(m, &l);
}

int nm_add_slice(nm_model *m, const char *name, int input, nm_act_axis axis, int start,
                 int count)
{
    nm_layer l;
    layer_init(&l, name, NM_LAYER_SLICE, input);
    l.slice_axis = axis;
    l.slice_start = start;
    if (axis == NM_AXIS_CHANNEL)
        l.out_c = count;
    else
        l.out_h = count;
    return add_layer(m, &l);
}

/* MATMUL stores qk in `groups` (1 = Q K^T, 0 = A V). */
int nm_add_matmul(nm_model *m, const char *name, int a, int b, int heads, int qk)
{
    nm_layer l;
    layer_init(&l, name, NM_LAYER_MATMUL, a);
    l.n_inputs = 2;
    l.inputs[1] = b;
    l.heads = heads;
    l.groups = qk ? 1 : 0;
    return add_layer(m, &l);
}

/* Fills w[0..n) with N(0, sd^2), two values per Box-Muller pair. */
static void fill_normal(float *w, int64_t n, double sd, nm_rng *r)
{
    int64_t i = 0;
    for (; i + 1 < n; i += 2) {
        double u1 = nm_rng_uniform(r), u2 = nm_rng_uniform(r);
        if (u1 < 1e-300)
            u1 = 1e-300;
        double rad = sd * sqrt(-2.0 * log(u1)), th = 6.283185307179586 * u2;
        w[i] = (float)(rad * cos(th));
        w[i + 1] = (float)(rad * sin(th));
    }
    if (i < n)
        w[i] = (float)(sd * nm_rng_normal(r));
}

#define INIT_CHUNK ((int64_t)1 << 18)
#define INIT_BATCH 16 /* chunks between progress reports (4 M weights) */

void nm_model_init_weights(nm_model *m, uint64_t seed)
{
    nm_model_init_weights_progress(m, seed, NULL, NULL);
}

/* Weights are drawn in chunks of INIT_CHUNK values, each from its own
 * stream seeded by (seed, layer, chunk): the result does not depend on the
 * number of threads, and large layers use every core. Progress is reported
 * between batches of chunks, from this thread. */
int nm_model_init_weights_progress(nm_model *m, uint64_t seed, nm_progress_fn progress, void *ud)
{
    m->seed = seed;
    int64_t total = 0, done = 0;
    for (int i = 0; i < m->n_layers; i++)
        if (nm_layer_prunable(&m->layers[i]) && m->layers[i].weight)
            total += m->layers[i].weight->numel;
    for (int i = 0; i < m->n_layers; i++) {
        nm_layer *l = &m->layers[i];
        uint64_t lseed = seed * 0x100000001b3ULL + (uint64_t)i;
        if (nm_layer_prunable(l) && l->weight) {
            double fan_in = (double)nm_layer_cols(l);
            double sd = sqrt(2.0 / (fan_in > 0 ? fan_in : 1));
            float *w = nm_f32(l->weight);
            int64_t n = l->weight->numel, chunks = (n + INIT_CHUNK - 1) / INIT_CHUNK;
            for (int64_t c0 = 0; c0 < chunks; c0 += INIT_BATCH) {
                int64_t c1 = c0 + INIT_BATCH < chunks ? c0 + INIT_BATCH : chunks;
#pragma omp parallel for schedule(dynamic) if (c1 - c0 > 1)
                for (int64_t c = c0; c < c1; c++) {
                    nm_rng r;
                    nm_rng_seed(&r, lseed * 0x9E3779B97F4A7C15ULL + (uint64_t)c);
                    int64_t a = c * INIT_CHUNK, b = a + INIT_CHUNK < n ? a + INIT_CHUNK : n;
                    fill_normal(w + a, b - a, sd, &r);
                }
                int64_t a = c0 * INIT_CHUNK, b = c1 * INIT_CHUNK < n ? c1 * INIT_CHUNK : n;
                done += b - a;
                if (nm_progress(progress, ud, total ? (double)done / (double)total : 1.0, "weights"))
                    return NM_ERR;
            }
        } else if (l->kind == NM_LAYER_EMBED) {
            nm_rng r;
            nm_rng_seed(&r, lseed);
            fill_normal(nm_f32(l->weight), l->weight->numel, 0.02, &r);
            fill_normal(nm_f32(l->bias), l->bias->numel, 0.02, &r);
            continue;
        }
        if (l->bias)
            nm_tensor_fill(l->bias, 0);
        if (l->gamma)
            nm_tensor_fill(l->gamma, 1);
        if (l->beta)
            nm_tensor_fill(l->beta, 0);
        if (l->mean)
            nm_tensor_fill(l->mean, 0);
        if (l->var)
            nm_tensor_fill(l->var, 1);
    }
    return NM_OK;
}

/* Layers through which channel identity passes unchanged. */
static int channel_preserving(const nm_layer *l)
{
    switch (l->kind) {
    case NM_LAYER_BN: case NM_LAYER_RELU: case NM_LAYER_NMRELU: case NM_LAYER_MAXPOOL:
    case NM_LAYER_AVGPOOL: case NM_LAYER_GAP: case NM_LAYER_GELU: case NM_LAYER_LAYERNORM:
    case NM_LAYER_FLATTEN: case NM_LAYER_EMBED: case NM_LAYER_DWCONV: case NM_LAYER_SIGMOID:
    case NM_LAYER_HARDSIGMOID: case NM_LAYER_HARDSWISH: case NM_LAYER_TANH: case NM_LAYER_CLIP:
    case NM_LAYER_RESIZE:
        return 1;
    case NM_LAYER_PAD:
        return l->pads[0] == 0 && l->pads[3] == 0;
    case NM_LAYER_ADD: case NM_LAYER_MUL: case NM_LAYER_SUB: case NM_LAYER_DIV:
        return l->n_inputs == 1; /* with a constant */
    default:
        return 0;
    }
}

/* Elementwise op of two producers: their channels are tied (a residual add,
 * a squeeze-excitation scale). */
static int ties_channels(const nm_layer *l)
{
    return is_binary(l->kind) && l->n_inputs == 2;
}

static int push_unique(int *out, int n, int cap, int v)
{
    for (int i = 0; i < n; i++)
        if (out[i] == v)
            return n;
    if (n < cap)
        out[n++] = v;
    return n;
}

static int walk_back(const nm_model *m, int j, int *out, int n, int cap, int *through_add)
{
    while (j >= 0) {   /* a graph input ends the walk */
        const nm_layer *l = &m->layers[j];
        if (nm_layer_prunable(l) && l->kind != NM_LAYER_DWCONV)
            return push_unique(out, n, cap, j);
        if (ties_channels(l)) {
            *through_add = 1;
            for (int i = 0; i < l->n_inputs; i++) {
                int c, h, w;
                nm_model_out_shape(m, l->inputs[i], &c, &h, &w);
                if (c == l->out_c)
                    n = walk_back(m, l->inputs[i], out, n, cap, through_add);
            }
            return n;
        }
        if (!channel_preserving(l))
            return n;
        j = l->inputs[0];
    }
    return n;
}

int nm_model_channel_producers(const nm_model *m, int idx, int *out, int cap, int *through_add)
{
    *through_add = 0;
    if (idx < 0 || idx >= m->n_layers || m->layers[idx].n_inputs == 0)
        return 0;
    return walk_back(m, m->layers[idx].inputs[0], out, 0, cap, through_add);
}

static int walk_forward(const nm_model *m, int j, int *out, int n, int cap, int *feeds_add)
{
    for (int k = j + 1; k < m->n_layers; k++) {
        const nm_layer *l = &m->layers[k];
        int uses = 0;
        for (int i = 0; i < l->n_inputs; i++)
            uses |= l->inputs[i] == j;
        if (!uses)
            continue;
        if (ties_channels(l)) {
            *feeds_add = 1;
            n = walk_forward(m, k, out, n, cap, feeds_add);
        } else if (l->kind == NM_LAYER_DWCONV) {
            n = push_unique(out, n, cap, k);
            n = walk_forward(m, k, out, n, cap, feeds_add);
        } else if (nm_layer_prunable(l)) {
            n = push_unique(out, n, cap, k);
        } else if (channel_preserving(l)) {
            n = walk_forward(m, k, out, n, cap, feeds_add);
        }
    }
    return n;
}

int nm_model_channel_consumers(const nm_model *m, int idx, int *out, int cap, int *feeds_add)
{
    *feeds_add = 0;
    if (idx < 0 || idx >= m->n_layers)
        return 0;
    return walk_forward(m, idx, out, 0, cap, feeds_add);
}

int nm_model_bn_of(const nm_model *m, int idx)
{
    int found = -1, count = 0;
    for (int k = idx + 1; k < m->n_layers; k++) {
        const nm_layer *l = &m->layers[k];
        for (int i = 0; i < l->n_inputs; i++)
            if (l->inputs[i] == idx) {
                count++;
                found = k;
            }
    }
    return count == 1 && m->layers[found].kind == NM_LAYER_BN ? found : -1;
}

int nm_layer_ensure_mask(nm_layer *l)
{
    if (!nm_layer_prunable(l) || !l->weight)
        return nm_seterr("layer '%s' (%s) has no prunable weight", l->name,
                         nm_layer_kind_name(l->kind));
    if (l->mask)
        return NM_OK;
    l->mask = nm_tensor_new(NM_U8, l->weight->ndim, l->weight->shape);
    if (!l->mask)
        return NM_ERR;
    memset(l->mask->data, 1, (size_t)l->mask->numel);
    return NM_OK;
}

void nm_model_apply_masks(nm_model *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        nm_layer *l = &m->layers[i];
        if (!l->mask || !l->weight)
            continue;
        float *w = nm_f32(l->weight);
        const uint8_t *k = nm_u8(l->mask);
        for (int64_t j = 0; j < l->weight->numel; j++)
            if (!k[j])
                w[j] = 0.0f;
    }
}
