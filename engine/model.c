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
    "softmax", "embed", "slice",
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

static void layer_release(nm_layer *l)
{
    nm_tensor *ts[] = {l->weight, l->bias, l->mask, l->filters, l->in_chans,
                       l->gamma, l->beta, l->mean, l->var};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        nm_tensor_release(ts[i]);
}

void nm_model_free(nm_model *m)
{
    if (!m)
        return;
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
    c->seed = m->seed;
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
        d->weight = clone_or_null(s->weight, &fail);
        d->bias = clone_or_null(s->bias, &fail);
        d->mask = clone_or_null(s->mask, &fail);
        d->filters = clone_or_null(s->filters, &fail);
        d->in_chans = clone_or_null(s->in_chans, &fail);
        d->gamma = clone_or_null(s->gamma, &fail);
        d->beta = clone_or_null(s->beta, &fail);
        d->mean = clone_or_null(s->mean, &fail);
        d->var = clone_or_null(s->var, &fail);
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

void nm_model_out_shape(const nm_model *m, int idx, int *c, int *h, int *w)
{
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

static int conv_out(int in, int k, int s, int p)
{
    if (s <= 0 || k <= 0 || in + 2 * p < k)
        return -1;
    return (in + 2 * p - k) / s + 1;
}

/* Computes l's output geometry from its producers and checks its parameters. */
static int infer_layer(nm_model *m, nm_layer *l)
{
    int need = (l->kind == NM_LAYER_ADD || l->kind == NM_LAYER_MATMUL) ? 2 : 1;
    int detached = l->n_inputs == 0 && nm_layer_prunable(l);
    if (detached && (l->in_c <= 0 || l->in_h <= 0 || l->in_w <= 0))
        return nm_seterr("layer '%s' has no producer and no input shape", l->name);
    if (!detached && l->n_inputs != need)
        return nm_seterr("layer '%s' (%s) takes %d input(s), got %d", l->name,
                         nm_layer_kind_name(l->kind), need, l->n_inputs);
    for (int i = 0; i < l->n_inputs; i++)
        if (l->inputs[i] != NM_INPUT && (l->inputs[i] < 0 || l->inputs[i] >= m->n_layers))
            return nm_seterr("layer '%s': input %d refers to unknown layer %d", l->name, i,
                             l->inputs[i]);
    int c, h, w;
    if (detached)
        c = l->in_c, h = l->in_h, w = l->in_w;
    else
        nm_model_out_shape(m, l->inputs[0], &c, &h, &w);
    int want_c = l->out_c; /* conv/linear/slice: requested outputs */
    int want_h = l->out_h; /* slice of positions: requested count */
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
        if (l->stride_h <= 0 || l->stride_w <= 0 || l->pad_h < 0 || l->pad_w < 0)
            return nm_seterr("layer '%s': stride must be positive and padding non-negative", l->name);
        if (l->out_c <= 0 || c % l->groups || l->out_c % l->groups)
            return nm_seterr("layer '%s': %d input and %d output channels do not split into %d groups",
                             l->name, c, l->out_c, l->groups);
        if (l->kind == NM_LAYER_DWCONV && l->out_c != c)
            return nm_seterr("layer '%s': a depthwise conv keeps its %d channels", l->name, c);
        l->out_h = conv_out(h, l->kh, l->stride_h, l->pad_h);
        l->out_w = conv_out(w, l->kw, l->stride_w, l->pad_w);
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
            check_param(l, &l->beta, "beta", NM_F32, 1, c, 0, 0, 0, 1))
            return NM_ERR;
        break;
    case NM_LAYER_NMRELU:
        if (l->act_m <= 0 || l->act_n < 0 || l->act_n > l->act_m)
            return nm_seterr("layer '%s': impossible N:M %d:%d (need 0 <= N <= M, M >= 1)",
                             l->name, l->act_n, l->act_m);
        break;
    case NM_LAYER_RELU:
    case NM_LAYER_GELU:
    case NM_LAYER_SOFTMAX:
        break;
    case NM_LAYER_MAXPOOL:
    case NM_LAYER_AVGPOOL:
        l->out_h = conv_out(h, l->kh, l->stride_h, l->pad_h);
        l->out_w = conv_out(w, l->kw, l->stride_w, l->pad_w);
        if (l->out_h <= 0 || l->out_w <= 0)
            return nm_seterr("layer '%s': a %dx%d pool does not fit a %dx%d input", l->name,
                             l->kh, l->kw, h, w);
        break;
    case NM_LAYER_GAP:
        l->out_h = l->out_w = 1;
        break;
    case NM_LAYER_ADD: {
        int c2, h2, w2;
        nm_model_out_shape(m, l->inputs[1], &c2, &h2, &w2);
        if (c2 != c || h2 != h || w2 != w)
            return nm_seterr("layer '%s': cannot add (%d,%d,%d) and (%d,%d,%d)", l->name, c, h, w,
                             c2, h2, w2);
        break;
    }
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
        return nm_seterr("layer '%s': unknown kind %d", l->name, (int)l->kind);
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
    for (int i = 0; i < l->n_inputs && i < 2; i++)
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
    nm_layer l;
    layer_init(&l, name, NM_LAYER_ADD, a);
    l.n_inputs = 2;
    l.inputs[1] = b;
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

/* Kinds through which channel identity passes unchanged. */
static int channel_preserving(nm_layer_kind k)
{
    switch (k) {
    case NM_LAYER_BN: case NM_LAYER_RELU: case NM_LAYER_NMRELU: case NM_LAYER_MAXPOOL:
    case NM_LAYER_AVGPOOL: case NM_LAYER_GAP: case NM_LAYER_GELU: case NM_LAYER_LAYERNORM:
    case NM_LAYER_FLATTEN: case NM_LAYER_EMBED: case NM_LAYER_DWCONV:
        return 1;
    default:
        return 0;
    }
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
    while (j != NM_INPUT) {
        const nm_layer *l = &m->layers[j];
        if (nm_layer_prunable(l) && l->kind != NM_LAYER_DWCONV)
            return push_unique(out, n, cap, j);
        if (l->kind == NM_LAYER_ADD) {
            *through_add = 1;
            n = walk_back(m, l->inputs[0], out, n, cap, through_add);
            return walk_back(m, l->inputs[1], out, n, cap, through_add);
        }
        if (!channel_preserving(l->kind))
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
        if (l->kind == NM_LAYER_ADD) {
            *feeds_add = 1;
            n = walk_forward(m, k, out, n, cap, feeds_add);
        } else if (l->kind == NM_LAYER_DWCONV) {
            n = push_unique(out, n, cap, k);
            n = walk_forward(m, k, out, n, cap, feeds_add);
        } else if (nm_layer_prunable(l)) {
            n = push_unique(out, n, cap, k);
        } else if (channel_preserving(l->kind)) {
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
