/* safetensors_model.c - a whole nm_model as one safetensors file.
 *
 * The layer graph and settings are JSON text in __metadata__["nmlab.model"]
 * (with "format": "nmlab-1" and "nmlab.version"); each parameter tensor is
 * stored as "<layer>.<param>". Loading rebuilds the model layer by layer
 * through nm_model_append, which re-infers every shape and checks every
 * parameter, so a file that does not describe a consistent model is
 * refused with a message rather than half-loaded. See docs/formats.md. */
#include "nmio.h"
#include "error.h"
#include "nmlab_config.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_FORMAT "nmlab-1"
/* More layers than any real network; bounds the quadratic name checks. */
#define MODEL_LAYERS_MAX 10000

/* The parameter slots of a layer, in the order they are written. */
enum { P_WEIGHT, P_BIAS, P_MASK, P_FILTERS, P_IN_CHANS, P_GAMMA, P_BETA, P_MEAN, P_VAR, P_CONST,
       P_COUNT };
static const char *param_names[P_COUNT] = {
    "weight", "bias", "mask", "filters", "in_chans", "gamma", "beta", "running_mean", "running_var",
    "const",
};

static nm_tensor **param_slot(nm_layer *l, int p)
{
    switch (p) {
    case P_WEIGHT: return &l->weight;
    case P_BIAS: return &l->bias;
    case P_MASK: return &l->mask;
    case P_FILTERS: return &l->filters;
    case P_IN_CHANS: return &l->in_chans;
    case P_GAMMA: return &l->gamma;
    case P_BETA: return &l->beta;
    case P_MEAN: return &l->mean;
    case P_CONST: return &l->konst;
    default: return &l->var;
    }
}

/* Which parameters a kind may carry (allowed) and must carry (required),
 * as bit sets over the P_* slots. */
static void kind_params(nm_layer_kind k, unsigned *allowed, unsigned *required)
{
    *allowed = *required = 0;
    switch (k) {
    case NM_LAYER_CONV:
    case NM_LAYER_DWCONV:
    case NM_LAYER_LINEAR:
        *allowed = 1u << P_WEIGHT | 1u << P_BIAS | 1u << P_MASK | 1u << P_FILTERS | 1u << P_IN_CHANS;
        *required = 1u << P_WEIGHT;
        break;
    case NM_LAYER_CONVT: /* dense weight, optional bias; not prunable */
        *allowed = 1u << P_WEIGHT | 1u << P_BIAS;
        *required = 1u << P_WEIGHT;
        break;
    case NM_LAYER_EMBED: /* weight = position embedding, bias = class token */
        *allowed = *required = 1u << P_WEIGHT | 1u << P_BIAS;
        break;
    case NM_LAYER_BN:
        *allowed = *required = 1u << P_GAMMA | 1u << P_BETA | 1u << P_MEAN | 1u << P_VAR;
        break;
    case NM_LAYER_LAYERNORM:   /* filters: the stream channels still kept */
        *required = 1u << P_GAMMA | 1u << P_BETA;
        *allowed = *required | 1u << P_FILTERS;
        break;
    case NM_LAYER_ADD: case NM_LAYER_MUL: case NM_LAYER_SUB: case NM_LAYER_DIV:
        *allowed = 1u << P_CONST;   /* a constant operand instead of a second input */
        break;
    default:
        break;
    }
}

static const char *policy_names[] = {"first", "topk"};
static const char *axis_names[] = {"position", "channel"};
/* RESIZE settings, in enum order (model.h) */
static const char *resize_mode_names[] = {"nearest", "linear"};
static const char *coord_names[] = {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                                    "tf_half_pixel_for_nn"};
static const char *round_names[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};

/* ---- saving ---- */

static json_t *int_array(int n, const int *v)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_integer(v[i])) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* Adds key: value unless the value is zero (the loader's default), so each
 * layer lists only the settings its kind uses. */
static int set_nonzero_int(json_t *o, const char *key, int v)
{
    return v ? json_object_set_new(o, key, json_integer(v)) : 0;
}

static int set_nonzero_ints(json_t *o, const char *key, int n, const int *v)
{
    for (int i = 0; i < n; i++)
        if (v[i])
            return json_object_set_new(o, key, int_array(n, v));
    return 0;
}

static int set_nonzero_real(json_t *o, const char *key, float v)
{
    return v != 0.0f || signbit(v) ? json_object_set_new(o, key, json_real((double)v)) : 0;
}

/* A float that may be +-inf (clip bounds): a number, or the string
 * "inf" / "-inf"; 0 is left out. */
static int set_float_inf(json_t *o, const char *key, float v)
{
    if (isinf(v))
        return json_object_set_new(o, key, json_string(v > 0 ? "inf" : "-inf"));
    return set_nonzero_real(o, key, v);
}

/* One layer as a JSON object; NULL with a message on failure. */
static json_t *layer_json(const nm_layer *l)
{
    if (!isfinite(l->eps) || !isfinite(l->clip) || isnan(l->alpha) || isnan(l->beta_) ||
        !isfinite(l->pad_value)) {
        nm_seterr("layer '%s': eps, clip, alpha, beta or pad value is not a number", l->name);
        return NULL;
    }
    if ((unsigned)l->act_policy > 1 || (unsigned)l->act_axis > 1) {
        nm_seterr("layer '%s': unknown activation policy or axis", l->name);
        return NULL;
    }
    if ((unsigned)l->rs_mode > NM_RESIZE_LINEAR || (unsigned)l->rs_coord > NM_COORD_TF_HALF_PIXEL_FOR_NN ||
        (unsigned)l->rs_round > NM_ROUND_CEIL || !isfinite(l->scale_h) || !isfinite(l->scale_w)) {
        nm_seterr("layer '%s': unknown resize mode, coordinate mode or rounding, or a scale that "
                  "is not a number", l->name);
        return NULL;
    }
    int in[3] = {l->in_c, l->in_h, l->in_w}, out[3] = {l->out_c, l->out_h, l->out_w};
    int kernel[2] = {l->kh, l->kw}, stride[2] = {l->stride_h, l->stride_w};
    int pad[2] = {l->pad_h, l->pad_w}, pad2[2] = {l->pad_h2, l->pad_w2};
    int dil[2] = {l->dil_h, l->dil_w}, outpad[2] = {l->outpad_h, l->outpad_w};
    int resize = l->kind == NM_LAYER_RESIZE;
    json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:o}", "name", l->name,
                          "kind", nm_layer_kind_name(l->kind),
                          "inputs", int_array(l->n_inputs, l->inputs),
                          "in", int_array(3, in), "out", int_array(3, out));
    int bad = !o;
    bad = bad || set_nonzero_ints(o, "kernel", 2, kernel) || set_nonzero_ints(o, "stride", 2, stride) ||
          set_nonzero_ints(o, "pad", 2, pad) || set_nonzero_int(o, "groups", l->groups) ||
          set_nonzero_real(o, "eps", l->eps) || set_nonzero_real(o, "clip", l->clip) ||
          set_nonzero_int(o, "act_n", l->act_n) || set_nonzero_int(o, "act_m", l->act_m) ||
          (l->act_policy && json_object_set_new(o, "act_policy",
                                                json_string(policy_names[l->act_policy]))) ||
          (l->act_axis && json_object_set_new(o, "act_axis", json_string(axis_names[l->act_axis]))) ||
          set_nonzero_int(o, "heads", l->heads) || set_nonzero_int(o, "wn", l->wn) ||
          set_nonzero_int(o, "wm", l->wm) ||
          set_nonzero_int(o, "slice_start", l->slice_start) ||
          (l->slice_axis && json_object_set_new(o, "slice_axis", json_string(axis_names[l->slice_axis]))) ||
          (l->pad_asym && json_object_set_new(o, "pad_end", int_array(2, pad2))) ||
          set_nonzero_ints(o, "dilation", 2, dil) || set_nonzero_int(o, "ceil_mode", l->ceil_mode) ||
          set_nonzero_int(o, "exclude_pad", l->exclude_pad) || set_nonzero_int(o, "rev", l->rev) ||
          set_float_inf(o, "alpha", l->alpha) || set_float_inf(o, "beta", l->beta_) ||
          set_nonzero_int(o, "axis", l->axis) || set_nonzero_ints(o, "pads", 6, l->pads) ||
          set_nonzero_real(o, "pad_value", l->pad_value) ||
          (l->kind == NM_LAYER_TRANSPOSE && json_object_set_new(o, "perm", int_array(3, l->perm))) ||
          set_nonzero_ints(o, "outpad", 2, outpad) ||
          (resize && json_object_set_new(o, "resize_mode", json_string(resize_mode_names[l->rs_mode]))) ||
          (resize && json_object_set_new(o, "coord", json_string(coord_names[l->rs_coord]))) ||
          (resize && json_object_set_new(o, "round", json_string(round_names[l->rs_round]))) ||
          set_nonzero_real(o, "scale_h", l->scale_h) || set_nonzero_real(o, "scale_w", l->scale_w);
    if (bad) {
        json_decref(o);
        nm_seterr("layer '%s': cannot describe it as JSON (name not UTF-8?)", l->name);
        return NULL;
    }
    return o;
}

/* The model description (graph and settings, no tensors) as JSON text. */
static char *model_json(const nm_model *m)
{
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)m->seed);
    int input[3] = {m->in_c, m->in_h, m->in_w};
    json_t *layers = json_array();
    json_t *root = json_pack("{s:s, s:o, s:s, s:o}", "name", m->name, "input", int_array(3, input),
                             "seed", seed, "layers", layers);
    if (root && m->n_outputs &&
        (json_object_set_new(root, "outputs", int_array(m->n_outputs, m->outputs)) ||
         json_object_set_new(root, "out_rank", int_array(m->n_outputs, m->out_rank)))) {
        json_decref(root);
        root = NULL;
    }
    if (!root) {
        nm_seterr("model '%s': cannot describe it as JSON (name not UTF-8?)", m->name);
        return NULL;
    }
    for (int i = 0; i < m->n_layers; i++) {
        json_t *lj = layer_json(&m->layers[i]);
        if (!lj || json_array_append_new(layers, lj) != 0) {
            json_decref(root);
            return NULL;
        }
    }
    char *text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(root);
    if (!text)
        nm_seterr("out of memory");
    return text;
}

/* Writes m (graph in the metadata, parameters as tensors) atomically. */
int nm_safetensors_save_model(const nm_model *m, const char *path)
{
    return nm_safetensors_save_model_progress(m, path, NULL, NULL);
}

int nm_safetensors_save_model_progress(const nm_model *m, const char *path, nm_progress_fn progress, void *ud)
{
    nm_tensor_list tl = {0};
    /* the description names producers by index with NM_INPUT alone */
    if (nm_model_one_input(m, "safetensors model save") != NM_OK)
        return nm_preperr(path);
    char *text = model_json(m);
    if (!text)
        return nm_preperr(path);
    json_t *md = json_pack("{s:s, s:s, s:s}", "format", MODEL_FORMAT, "nmlab.version",
                           NMLAB_VERSION, "nmlab.model", text);
    free(text);
    tl.metadata_json = md ? json_dumps(md, JSON_COMPACT) : NULL;
    json_decref(md);
    if (!tl.metadata_json)
        return nm_seterr("%s: out of memory", path);
    int rc = NM_OK;
    for (int i = 0; i < m->n_layers && rc == NM_OK; i++) {
        nm_layer *l = &m->layers[i];
        for (int p = 0; p < P_COUNT && rc == NM_OK; p++) {
            nm_tensor *t = *param_slot(l, p);
            char name[NM_NAME_MAX + 32];
            snprintf(name, sizeof name, "%s.%s", l->name, param_names[p]);
            if (t && nm_tensor_list_add(&tl, name, t) != NM_OK)
                rc = nm_preperr(path);
        }
    }
    if (rc == NM_OK)
        rc = nm_safetensors_write_progress(path, &tl, progress, ud);
    nm_tensor_list_free(&tl);
    return rc;
}

/* ---- loading ---- */

/* Optional integer field in [lo, hi] (absent: 0). */
static int get_int(json_t *o, const char *key, long long lo, long long hi, int *out)
{
    json_t *v = json_object_get(o, key);
    *out = 0;
    if (!v)
        return NM_OK;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return nm_seterr("'%s' must be an integer from %lld to %lld", key, lo, hi);
    *out = (int)json_integer_value(v);
    return NM_OK;
}

/* Optional array of exactly n integers in [lo, hi] (absent: zeros).
 * *present tells whether it was there. */
static int get_ints(json_t *o, const char *key, int n, long long lo, long long hi, int *out,
                    int *present)
{
    json_t *v = json_object_get(o, key);
    memset(out, 0, (size_t)n * sizeof *out);
    if (present)
        *present = v != NULL;
    if (!v)
        return NM_OK;
    if (!json_is_array(v) || json_array_size(v) != (size_t)n)
        return nm_seterr("'%s' must be an array of %d integers", key, n);
    for (int i = 0; i < n; i++) {
        json_t *x = json_array_get(v, (size_t)i);
        if (!json_is_integer(x) || json_integer_value(x) < lo || json_integer_value(x) > hi)
            return nm_seterr("'%s' must hold integers from %lld to %lld", key, lo, hi);
        out[i] = (int)json_integer_value(x);
    }
    return NM_OK;
}

static int get_float(json_t *o, const char *key, float *out)
{
    json_t *v = json_object_get(o, key);
    *out = 0;
    if (!v)
        return NM_OK;
    double d = json_number_value(v);
    if (!json_is_number(v) || !isfinite(d) || fabs(d) > 3.4e38)
        return nm_seterr("'%s' must be a finite number", key);
    *out = (float)d;
    return NM_OK;
}

/* One of a fixed set of names (absent: the first). */
static int get_float_inf(json_t *o, const char *key, float *out)
{
    json_t *v = json_object_get(o, key);
    if (json_is_string(v)) {
        const char *t = json_string_value(v);
        if (strcmp(t, "inf") && strcmp(t, "-inf"))
            return nm_seterr("'%s' must be a number, \"inf\" or \"-inf\"", key);
        *out = t[0] == '-' ? -INFINITY : INFINITY;
        return NM_OK;
    }
    return get_float(o, key, out);
}

static int get_enum(json_t *o, const char *key, const char **names, int n, int *out)
{
    json_t *v = json_object_get(o, key);
    *out = 0;
    if (!v)
        return NM_OK;
    for (int i = 0; json_is_string(v) && i < n; i++)
        if (strcmp(json_string_value(v), names[i]) == 0) {
            *out = i;
            return NM_OK;
        }
    char list[256] = "";
    for (int i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s\"%s\"",
                 i == 0 ? "" : i == n - 1 ? " or " : ", ", names[i]);
    return nm_seterr("'%s' must be %s", key, list);
}

/* Fills l's fields (no tensors) from its JSON description; idx is its
 * position (inputs must come before it). */
static int layer_fields(json_t *o, int idx, nm_layer *l, int *in, int *in_present, int *out,
                        int *out_present)
{
    memset(l, 0, sizeof *l);
    if (!json_is_object(o))
        return nm_seterr("layer %d is not a JSON object", idx);
    json_t *name = json_object_get(o, "name"), *kind = json_object_get(o, "kind");
    if (!json_is_string(name) || !json_string_value(name)[0] ||
        strlen(json_string_value(name)) >= NM_NAME_MAX)
        return nm_seterr("layer %d: 'name' must be a string of 1 to %d bytes", idx, NM_NAME_MAX - 1);
    snprintf(l->name, sizeof l->name, "%s", json_string_value(name));
    char ctx[NM_NAME_MAX + 32];
    snprintf(ctx, sizeof ctx, "layer %d ('%s')", idx, l->name);
    int k = json_is_string(kind) ? nm_layer_kind_from_name(json_string_value(kind)) : -1;
    if (k < 0) {
        nm_seterr("unknown kind '%s'", json_is_string(kind) ? json_string_value(kind) : "(none)");
        return nm_preperr(ctx);
    }
    l->kind = (nm_layer_kind)k;
    json_t *inputs = json_object_get(o, "inputs");
    if (!json_is_array(inputs) || json_array_size(inputs) > NM_MAX_INPUTS) {
        nm_seterr("'inputs' must be an array of at most %d layer indices", NM_MAX_INPUTS);
        return nm_preperr(ctx);
    }
    l->n_inputs = (int)json_array_size(inputs);
    int kernel[2], stride[2], pad[2], policy, axis, slice_axis = 0, pad2[2], pad2_present, dil[2];
    int outpad[2], rs_mode, rs_coord, rs_round;
    if (get_ints(o, "inputs", l->n_inputs, NM_INPUT, idx - 1, l->inputs, NULL) ||
        get_ints(o, "in", 3, 0, INT32_MAX, in, in_present) ||
        get_ints(o, "out", 3, 0, INT32_MAX, out, out_present) ||
        get_ints(o, "kernel", 2, 0, INT32_MAX, kernel, NULL) ||
        get_ints(o, "stride", 2, 0, INT32_MAX, stride, NULL) ||
        get_ints(o, "pad", 2, 0, INT32_MAX, pad, NULL) ||
        get_int(o, "groups", 0, INT32_MAX, &l->groups) ||
        get_float(o, "eps", &l->eps) || get_float(o, "clip", &l->clip) ||
        get_int(o, "act_n", 0, INT32_MAX, &l->act_n) ||
        get_int(o, "act_m", 0, INT32_MAX, &l->act_m) ||
        get_enum(o, "act_policy", policy_names, 2, &policy) ||
        get_enum(o, "act_axis", axis_names, 2, &axis) ||
        get_int(o, "heads", 0, INT32_MAX, &l->heads) ||
        get_int(o, "wn", 0, INT32_MAX, &l->wn) || get_int(o, "wm", 0, INT32_MAX, &l->wm) ||
        get_int(o, "slice_start", 0, INT32_MAX, &l->slice_start) ||
        get_enum(o, "slice_axis", axis_names, 2, &slice_axis) ||
        get_ints(o, "pad_end", 2, 0, INT32_MAX, pad2, &pad2_present) ||
        get_ints(o, "dilation", 2, 0, INT32_MAX, dil, NULL) ||
        get_int(o, "ceil_mode", 0, 1, &l->ceil_mode) ||
        get_int(o, "exclude_pad", 0, 1, &l->exclude_pad) || get_int(o, "rev", 0, 1, &l->rev) ||
        get_float_inf(o, "alpha", &l->alpha) || get_float_inf(o, "beta", &l->beta_) ||
        get_int(o, "axis", 0, 2, &l->axis) || get_ints(o, "pads", 6, 0, INT32_MAX, l->pads, NULL) ||
        get_float(o, "pad_value", &l->pad_value) ||
        get_ints(o, "perm", 3, 0, 2, l->perm, NULL) ||
        get_ints(o, "outpad", 2, 0, INT32_MAX, outpad, NULL) ||
        get_enum(o, "resize_mode", resize_mode_names, 2, &rs_mode) ||
        get_enum(o, "coord", coord_names, 5, &rs_coord) ||
        get_enum(o, "round", round_names, 4, &rs_round) ||
        get_float(o, "scale_h", &l->scale_h) || get_float(o, "scale_w", &l->scale_w))
        return nm_preperr(ctx);
    l->outpad_h = outpad[0], l->outpad_w = outpad[1];
    l->rs_mode = (nm_resize_mode)rs_mode;
    l->rs_coord = (nm_resize_coord)rs_coord;
    l->rs_round = (nm_resize_round)rs_round;
    l->pad_asym = pad2_present;
    l->pad_h2 = pad2[0], l->pad_w2 = pad2[1];
    l->dil_h = dil[0], l->dil_w = dil[1];
    if (l->kind == NM_LAYER_RESHAPE || l->kind == NM_LAYER_RESIZE)
        l->out_h = out[1], l->out_w = out[2];
    l->in_c = in[0], l->in_h = in[1], l->in_w = in[2];
    l->out_c = out[0];
    l->slice_axis = (nm_act_axis)slice_axis;
    if (l->kind == NM_LAYER_SLICE)
        l->out_h = out[1]; /* a position slice's length */
    l->kh = kernel[0], l->kw = kernel[1];
    l->stride_h = stride[0], l->stride_w = stride[1];
    l->pad_h = pad[0], l->pad_w = pad[1];
    l->act_policy = (nm_act_policy)policy;
    l->act_axis = (nm_act_axis)axis;
    return NM_OK;
}

/* Attaches the layer's tensors from the file (retained), marking them used.
 * `index` maps tensor names to list positions. */
static int attach_params(nm_layer *l, const nm_tensor_list *tl, json_t *index, unsigned char *used)
{
    unsigned allowed, required;
    kind_params(l->kind, &allowed, &required);
    for (int p = 0; p < P_COUNT; p++) {
        char name[NM_NAME_MAX + 32];
        snprintf(name, sizeof name, "%s.%s", l->name, param_names[p]);
        json_t *at = json_object_get(index, name);
        if (!at) {
            if (required & 1u << p)
                return nm_seterr("tensor '%s' is missing", name);
            continue;
        }
        if (!(allowed & 1u << p))
            return nm_seterr("tensor '%s': a %s layer has no %s", name,
                             nm_layer_kind_name(l->kind), param_names[p]);
        int i = (int)json_integer_value(at);
        *param_slot(l, p) = nm_tensor_retain(tl->tensors[i]);
        used[i] = 1;
    }
    return NM_OK;
}

static void release_params(nm_layer *l)
{
    for (int p = 0; p < P_COUNT; p++) {
        nm_tensor_release(*param_slot(l, p));
        *param_slot(l, p) = NULL;
    }
}

/* Rebuilds the model described by `desc` (the nmlab.model JSON) with the
 * tensors of tl. Messages do not name the file; the caller prefixes it. */
static nm_model *build_model(json_t *desc, const nm_tensor_list *tl)
{
    json_t *name = json_object_get(desc, "name"), *layers = json_object_get(desc, "layers");
    json_t *seed = json_object_get(desc, "seed");
    int input[3];
    if (!json_is_object(desc) || !json_is_string(name) || !json_is_array(layers)) {
        nm_seterr("nmlab.model needs a 'name' string and a 'layers' array");
        return NULL;
    }
    if (get_ints(desc, "input", 3, 1, INT32_MAX, input, NULL) != NM_OK ||
        !json_object_get(desc, "input")) {
        nm_seterr("nmlab.model: 'input' must be 3 positive integers (C, H, W)");
        return NULL;
    }
    if (json_array_size(layers) > MODEL_LAYERS_MAX) {
        nm_seterr("nmlab.model has %zu layers, more than the %d allowed",
                  json_array_size(layers), MODEL_LAYERS_MAX);
        return NULL;
    }
    uint64_t seedv = 0;
    if (seed) {
        const char *s = json_is_string(seed) ? json_string_value(seed) : "";
        char *end;
        errno = 0;
        seedv = strtoull(s, &end, 10);
        if (!s[0] || *end || s[0] == '-' || s[0] == '+' || s[0] == ' ' || errno) {
            nm_seterr("nmlab.model: 'seed' must be a decimal string of an unsigned 64-bit integer");
            return NULL;
        }
    }
    /* name -> list position, for O(1) lookups of "<layer>.<param>" */
    json_t *index = json_object();
    unsigned char *used = calloc((size_t)(tl->count ? tl->count : 1), 1);
    nm_model *m = nm_model_new(json_string_value(name), input[0], input[1], input[2]);
    if (!index || !used || !m)
        goto fail;
    m->seed = seedv;
    for (int i = 0; i < tl->count; i++)
        if (json_object_set_new(index, tl->names[i], json_integer(i)) != 0) {
            nm_seterr("out of memory");
            goto fail;
        }
    for (size_t i = 0; i < json_array_size(layers); i++) {
        nm_layer l;
        int in[3], out[3], in_present, out_present;
        if (layer_fields(json_array_get(layers, i), (int)i, &l, in, &in_present, out,
                         &out_present) != NM_OK)
            goto fail;
        if (nm_model_find(m, l.name) >= 0) {
            nm_seterr("layer name '%s' is used twice", l.name);
            goto fail;
        }
        if (attach_params(&l, tl, index, used) != NM_OK) {
            release_params(&l);
            goto fail;
        }
        int idx = nm_model_append(m, &l);
        if (idx < 0) {
            release_params(&l);
            goto fail;
        }
        const nm_layer *b = &m->layers[idx];
        if ((in_present && (b->in_c != in[0] || b->in_h != in[1] || b->in_w != in[2])) ||
            (out_present && (b->out_c != out[0] || b->out_h != out[1] || b->out_w != out[2]))) {
            nm_seterr("layer '%s': stored shapes in (%d, %d, %d) out (%d, %d, %d) differ from the "
                      "rebuilt in (%d, %d, %d) out (%d, %d, %d)", b->name, in[0], in[1], in[2],
                      out[0], out[1], out[2], b->in_c, b->in_h, b->in_w, b->out_c, b->out_h,
                      b->out_w);
            goto fail;
        }
    }
    json_t *outs = json_object_get(desc, "outputs");
    if (outs) {
        int n = json_is_array(outs) ? (int)json_array_size(outs) : -1;
        if (n < 1 || n > NM_MAX_OUTPUTS) {
            nm_seterr("nmlab.model: 'outputs' must be an array of 1 to %d layer indices",
                      NM_MAX_OUTPUTS);
            goto fail;
        }
        if (get_ints(desc, "outputs", n, NM_INPUT, m->n_layers - 1, m->outputs, NULL) ||
            get_ints(desc, "out_rank", n, 0, 4, m->out_rank, NULL))
            goto fail;
        m->n_outputs = n;
    }
    for (int i = 0; i < tl->count; i++)
        if (!used[i]) {
            nm_seterr("tensor '%s' belongs to no layer of the model", tl->names[i]);
            goto fail;
        }
    json_decref(index);
    free(used);
    return m;
fail:
    if (!index || !used)
        nm_seterr("out of memory");
    json_decref(index);
    free(used);
    nm_model_free(m);
    return NULL;
}

/* Loads a model saved by nm_safetensors_save_model (caller frees). */
nm_model *nm_safetensors_load_model(const char *path)
{
    return nm_safetensors_load_model_progress(path, NULL, NULL);
}

nm_model *nm_safetensors_load_model_progress(const char *path, nm_progress_fn progress, void *ud)
{
    nm_tensor_list tl;
    if (nm_safetensors_read_progress(path, &tl, progress, ud) != NM_OK)
        return NULL;
    nm_model *m = NULL;
    json_t *md = tl.metadata_json ? json_loads(tl.metadata_json, 0, NULL) : NULL;
    json_t *text = json_object_get(md, "nmlab.model");
    json_t *format = json_object_get(md, "format");
    if (!json_is_string(text)) {
        nm_seterr("%s: has no nmlab model metadata; read it as tensors", path);
    } else if (!json_is_string(format) || strcmp(json_string_value(format), MODEL_FORMAT) != 0) {
        nm_seterr("%s: model format '%s' is not supported (this nmlab reads %s)", path,
                  json_is_string(format) ? json_string_value(format) : "(none)", MODEL_FORMAT);
    } else {
        json_error_t jerr;
        json_t *desc = json_loads(json_string_value(text), JSON_REJECT_DUPLICATES, &jerr);
        if (!desc)
            nm_seterr("%s: nmlab.model is not valid JSON: %s", path, jerr.text);
        else if (!(m = build_model(desc, &tl)))
            nm_preperr(path);
        json_decref(desc);
    }
    json_decref(md);
    nm_tensor_list_free(&tl);
    return m;
}
