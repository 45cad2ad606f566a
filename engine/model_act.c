/* model_act.c - where data (activation) N:M exists: the one decision every
 * report (layer stats, storage, the simulator, the Energy screen) uses.
 *
 * JOINTNF.md section 9: data N:M exists only where an NMReLU produces the
 * layer's input, directly or through pooling, identity (reshape, channel
 * shuffle and slices, a concat of agreeing branches) or flatten: the walk
 * back from a layer's input crosses those and stops at anything else (the
 * model input, GELU, LayerNorm, softmax, a residual add, BN, a conv). The
 * pooling rule is the issue's: a max or average over a window of an N:M
 * map is not itself exactly N:M, and the cost model takes the NMReLU's N:M
 * for it all the same. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int nm_layer_is_relu_like(const nm_layer *l, float *clip)
{
    float c = 0;
    int yes = 0;
    if (l->kind == NM_LAYER_RELU) {
        yes = 1, c = l->clip > 0 ? l->clip : 0;
    } else if (l->kind == NM_LAYER_CLIP && l->alpha == 0.0f && l->beta_ > 0.0f) {
        /* ONNX's Clip(0, b): ReLU6 when b = 6, a plain ReLU when b = +inf */
        yes = 1, c = isinf(l->beta_) ? 0 : l->beta_;
    }
    if (yes && clip)
        *clip = c;
    return yes;
}

/* Layers the walk crosses: they move or pool values, make no new ones. */
static int act_passes(const nm_layer *l)
{
    switch (l->kind) {
    case NM_LAYER_MAXPOOL: case NM_LAYER_AVGPOOL: case NM_LAYER_GAP: case NM_LAYER_FLATTEN:
    case NM_LAYER_RESHAPE: case NM_LAYER_SHUFFLE:
        return l->n_inputs == 1;
    case NM_LAYER_SLICE:
        return l->n_inputs == 1 && l->slice_axis == NM_AXIS_CHANNEL;
    default:
        return 0;
    }
}

/* Resolves producer p (a layer index or a graph input) to the source of its
 * values (a->layer: the layer, or the graph input's producer index); depth
 * and *budget (resolves left) bound the recursion through
 * nested concats, which gives up as "other" when they run out. */
static void resolve(const nm_model *m, int p, nm_act_info *a, int depth, int *budget)
{
    --*budget;
    while (p >= 0 && act_passes(&m->layers[p]))
        p = m->layers[p].inputs[0];
    a->layer = p;
    a->n = a->m = 0;
    if (p < 0) {
        a->from = NM_ACT_FROM_INPUT;
        return;
    }
    const nm_layer *l = &m->layers[p];
    if (l->kind == NM_LAYER_NMRELU) {
        a->from = NM_ACT_FROM_NMRELU;
        a->n = l->act_n, a->m = l->act_m;
        return;
    }
    if (nm_layer_is_relu_like(l, NULL)) {
        a->from = NM_ACT_FROM_RELU;
        return;
    }
    a->from = NM_ACT_FROM_OTHER;
    if (l->kind != NM_LAYER_CONCAT || l->axis != 0 || depth > 8 || l->n_inputs < 1)
        return;
    /* a channel concat of branches that all end in NMReLUs of one N:M (or
     * all in ReLUs) keeps the position groups of every channel */
    nm_act_info first, b;
    resolve(m, l->inputs[0], &first, depth + 1, budget);
    if (first.from != NM_ACT_FROM_NMRELU && first.from != NM_ACT_FROM_RELU)
        return;
    for (int k = 1; k < l->n_inputs; k++) {
        if (*budget <= 0)
            return;
        resolve(m, l->inputs[k], &b, depth + 1, budget);
        if (b.from != first.from || b.n != first.n || b.m != first.m)
            return;
    }
    if (*budget < 0)
        return;
    a->from = first.from, a->n = first.n, a->m = first.m;
}

int nm_layer_act_source(const nm_model *m, int idx, int opt_n, int opt_m, int declare,
                        nm_act_info *a)
{
    memset(a, 0, sizeof *a);
    a->layer = -1;
    if (!m || idx < 0 || idx >= m->n_layers) {
        a->from = NM_ACT_FROM_OTHER;
        snprintf(a->why, sizeof a->why, "no such layer");
        return 0;
    }
    const nm_layer *l = &m->layers[idx];
    if (opt_m <= 0 || opt_n < 0 || opt_n > opt_m)
        opt_n = opt_m = 0;
    if (l->n_inputs == 0) {
        /* a topology's independent layers: where their inputs come from is
         * not known; the first reads the model input */
        a->from = idx == 0 ? NM_ACT_FROM_INPUT : NM_ACT_FROM_UNKNOWN;
    } else {
        int budget = 4096;
        resolve(m, l->inputs[0], a, 0, &budget);
    }
    const char *src = a->layer >= 0 ? m->layers[a->layer].name : "";
    switch (a->from) {
    case NM_ACT_FROM_NMRELU:
        a->applied = a->m > 0 && a->n < a->m;
        snprintf(a->why, sizeof a->why, "from NMReLU '%s' %d:%d", src, a->n, a->m);
        break;
    case NM_ACT_FROM_RELU:
        a->applied = opt_m > 0;
        a->n = opt_n, a->m = opt_m;
        snprintf(a->why, sizeof a->why, "from ReLU '%s'%s", src,
                 opt_m > 0 ? " made NMReLU by the act option" : ", no act option: dense");
        break;
    case NM_ACT_FROM_INPUT:
        if (nm_input_index(a->layer) > 0)   /* another graph input, dense as well */
            snprintf(a->why, sizeof a->why, "reads model input '%s': dense",
                     nm_model_input_name(m, nm_input_index(a->layer)));
        else
            snprintf(a->why, sizeof a->why, "reads the model input: dense");
        a->layer = -1;
        break;
    case NM_ACT_FROM_UNKNOWN:
        snprintf(a->why, sizeof a->why, "producer unknown (topology): dense");
        break;
    default:
        snprintf(a->why, sizeof a->why, "from %s '%s': dense", nm_layer_kind_name(m->layers[a->layer].kind),
                 src);
        break;
    }
    if (!a->applied && declare && opt_m > 0) {
        a->applied = 1, a->n = opt_n, a->m = opt_m;
        size_t k = strlen(a->why);
        snprintf(a->why + k, sizeof a->why - k, "; declared %d:%d by the user", opt_n, opt_m);
    }
    if (!a->applied)
        a->n = a->m = 0;
    return a->applied;
}

const char *nm_act_from_name(nm_act_from f)
{
    static const char *const names[] = {"nmrelu", "relu", "input", "other", "unknown"};
    return (unsigned)f < sizeof names / sizeof names[0] ? names[f] : "?";
}

int nm_layer_act_sink(const nm_model *m, int idx)
{
    /* follow the single consumer through BN to the activation */
    int cur = idx;
    for (int hop = 0; hop < 4; hop++) {
        int next = -1, count = 0;
        for (int j = cur + 1; j < m->n_layers; j++)
            for (int k = 0; k < m->layers[j].n_inputs; k++)
                if (m->layers[j].inputs[k] == cur) {
                    next = j, count++;
                    break;
                }
        if (count != 1)
            return 0;
        const nm_layer *l = &m->layers[next];
        if (l->kind == NM_LAYER_NMRELU || nm_layer_is_relu_like(l, NULL))
            return 1;
        if (l->kind != NM_LAYER_BN)
            return 0;
        cur = next;
    }
    return 0;
}

int nm_layer_set_nmrelu(nm_layer *l, int n, int m, nm_act_policy policy, nm_act_axis axis)
{
    float clip = 0;
    if (l->kind == NM_LAYER_NMRELU)
        clip = l->clip > 0 ? l->clip : 0;
    else if (!nm_layer_is_relu_like(l, &clip))
        return nm_seterr("layer '%s' is a %s, not a ReLU", l->name, nm_layer_kind_name(l->kind));
    if (n < 0 || (n > 0 && (m < 1 || n > m || m > 64)))
        return nm_seterr("layer '%s': impossible N:M %d:%d (need 0 < N <= M <= 64)", l->name, n, m);
    if (policy != NM_POLICY_FIRST && policy != NM_POLICY_TOPK)
        return nm_seterr("layer '%s': unknown NMReLU policy %d", l->name, (int)policy);
    if (axis != NM_AXIS_POSITION && axis != NM_AXIS_CHANNEL)
        return nm_seterr("layer '%s': unknown NMReLU axis %d", l->name, (int)axis);
    if (l->kind == NM_LAYER_CLIP)
        l->alpha = l->beta_ = 0;   /* its bounds now live in clip */
    l->clip = clip;
    if (n == 0) {
        l->kind = NM_LAYER_RELU;
        l->act_n = l->act_m = 0;
    } else {
        l->kind = NM_LAYER_NMRELU;
        l->act_n = n, l->act_m = m, l->act_policy = policy, l->act_axis = axis;
    }
    return NM_OK;
}
