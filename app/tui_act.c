/* tui_act.c - the Activations screen's data: one sample through the model
 * (a Fashion-MNIST test image for 1x28x28 models when the Debian data set is
 * installed, otherwise a seeded synthetic input; every further graph input
 * synthetic, seed 1 + k), the input and output of
 * an activation layer for one channel, with N:M applied by the pruning
 * engine's NMReLU under the chosen policy, and per-layer densities. */
#define _XOPEN_SOURCE_EXTENDED 1
#include "tui.h"
#include "net.h"
#include "prune.h"
#include "train.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tui_act {
    const nm_model *model;    /* the forward pass below is of this model */
    int dirty;
    int layer;                /* activation layer shown */
    int channel;
    int n, m, policy;
    float *before, *after;    /* one channel (sized for the largest plane) */
    char **names;
    double *relu_d, *nm_d;
    int *idx;                 /* model index of each activation layer */
    int count;
    int dens_n, dens_m, dens_policy; /* relu_d/nm_d were counted for these (m -1: not yet) */
    nm_net *net;
};

static void act_clear(tui_act *t)
{
    nm_net_free(t->net);
    t->net = NULL;
    free(t->before), free(t->after);
    t->before = t->after = NULL;
    for (int i = 0; i < t->count; i++)
        free(t->names[i]);
    free(t->names), free(t->relu_d), free(t->nm_d), free(t->idx);
    t->names = NULL, t->relu_d = t->nm_d = NULL, t->idx = NULL;
    t->count = 0;
    t->dens_m = -1;
}

void tui_act_free(tui_act *t)
{
    if (t) {
        act_clear(t);
        free(t);
    }
}

void tui_act_touch(tui_app *a)
{
    if (a->act)
        a->act->dirty = 1;
}

/* Fills graph input k >= 1 of the net (one sample) with N(0,1) values
 * from seed 1 + k. */
static void fill_extra_input(nm_net *net, const nm_model *m, int k)
{
    int c, h, w;
    nm_model_input_shape(m, k, &c, &h, &w);
    float *x = nm_net_input_k(net, k);
    if (!x)
        return;
    nm_rng r;
    nm_rng_seed(&r, 1 + (uint64_t)k);
    for (int64_t i = 0, n = (int64_t)c * h * w; i < n; i++)
        x[i] = (float)nm_rng_normal(&r);
}

/* Fills every graph input of the net with the sample (input 0) and
 * synthetic data (the others); describes it in `what`. */
static void fill_input(nm_net *net, const nm_model *m, char *what, size_t len)
{
    const int K = nm_model_n_inputs(m);
    for (int k = 1; k < K; k++)
        fill_extra_input(net, m, k);
    char more[96] = "";
    if (K == 2)
        snprintf(more, sizeof more, "; input '%.40s' N(0,1), seed 2", nm_model_input_name(m, 1));
    else if (K > 2)
        snprintf(more, sizeof more, "; inputs 2-%d N(0,1), seeds 2-%d", K, K);
    float *x = nm_net_input(net);
    int64_t n = (int64_t)m->in_c * m->in_h * m->in_w;
    if (m->in_c == 1 && m->in_h == 28 && m->in_w == 28) {
        nm_dataset *d = nm_data_fashion_mnist(NULL, 0, 1);
        if (d) {
            static const char *classes[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                              "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
            memcpy(x, nm_f32(d->images), (size_t)n * sizeof *x);
            int label = nm_i32(d->labels)[0];
            snprintf(what, len, "Fashion-MNIST test #1 (%s)%s",
                     label >= 0 && label < 10 ? classes[label] : "?", more);
            nm_dataset_free(d);
            return;
        }
    }
    nm_rng r;
    nm_rng_seed(&r, 1);
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)nm_rng_normal(&r);
    snprintf(what, len, "synthetic input N(0,1), seed 1%s", more);
}

/* Applies ReLU + N:M (position groups) to one channel's plane. */
static void apply_nm(const tui_act *t, const float *in, float *out, int plane)
{
    nm_nmrelu_rows(in, out, 1, plane, t->n, t->m, t->policy ? NM_POLICY_TOPK : NM_POLICY_FIRST);
}

/* Densities of every activation layer of the forward pass, ReLU alone and
 * with N:M (one channel plane per group row), under t's n, m and policy.
 * Counted once per setting, not per frame. */
static void count_densities(tui_act *t, const nm_model *m)
{
    for (int k = 0; k < t->count; k++) {
        const nm_layer *lk = &m->layers[t->idx[k]];
        const float *in = nm_net_value(t->net, lk->inputs[0]);
        int64_t pk = (int64_t)lk->out_h * lk->out_w, total = pk * lk->out_c, pos = 0, kept = 0;
        float *buf = malloc((size_t)(total > 0 ? total : 1) * sizeof *buf);
        for (int64_t i = 0; i < total; i++)
            pos += in[i] > 0;
        if (buf) {
            nm_nmrelu_rows(in, buf, lk->out_c, pk, t->n, t->m, t->policy ? NM_POLICY_TOPK : NM_POLICY_FIRST);
            for (int64_t i = 0; i < total; i++)
                kept += buf[i] > 0;
        }
        free(buf);
        t->relu_d[k] = total > 0 ? (double)pos / (double)total : 0;
        t->nm_d[k] = total > 0 ? (double)kept / (double)total : 0;
    }
    t->dens_n = t->n, t->dens_m = t->m, t->dens_policy = t->policy;
}

static void rebuild(tui_app *a)
{
    tui_act *t = a->act;
    wb_act *v = &a->s.act;
    nm_model *m = tui_model(a);
    a->s.have_act = 0;
    if (!m || m != a->seen) {
        snprintf(v->note, sizeof v->note, "No model.");
        return;
    }
    if (t->model != m || t->dirty || !t->net) {
        act_clear(t);
        t->model = m;
        t->dirty = 0;
        t->net = nm_net_new(m, 1, 0);
        if (!t->net) {
            snprintf(v->note, sizeof v->note, "The forward pass cannot run this model: %s", nm_errmsg());
            return;
        }
        fill_input(t->net, m, v->sample, sizeof v->sample);
        nm_net_forward(t->net, 1, 0);
        int64_t max_plane = 1;
        for (int i = 0; i < m->n_layers; i++)
            if (m->layers[i].kind == NM_LAYER_RELU || m->layers[i].kind == NM_LAYER_NMRELU) {
                t->count++;
                int64_t plane = (int64_t)m->layers[i].out_h * m->layers[i].out_w;
                max_plane = plane > max_plane ? plane : max_plane;
            }
        t->names = calloc((size_t)t->count + 1, sizeof *t->names);
        t->relu_d = calloc((size_t)t->count + 1, sizeof *t->relu_d);
        t->nm_d = calloc((size_t)t->count + 1, sizeof *t->nm_d);
        t->idx = calloc((size_t)t->count + 1, sizeof *t->idx);
        /* one channel of the largest activation plane, reused every frame */
        t->before = malloc((size_t)max_plane * sizeof *t->before);
        t->after = malloc((size_t)max_plane * sizeof *t->after);
        if (!t->names || !t->relu_d || !t->nm_d || !t->idx || !t->before || !t->after) {
            act_clear(t);
            snprintf(v->note, sizeof v->note, "out of memory");
            return;
        }
        int k = 0;
        for (int i = 0; i < m->n_layers; i++)
            if (m->layers[i].kind == NM_LAYER_RELU || m->layers[i].kind == NM_LAYER_NMRELU) {
                t->names[k] = strdup(m->layers[i].name);
                t->idx[k++] = i;
            }
    }
    if (t->count == 0) {
        snprintf(v->note, sizeof v->note, "%s has no ReLU or NMReLU layers.", m->name);
        return;
    }
    /* the layer shown: the selected one, or the first activation after it */
    int shown = t->count - 1;
    for (int k = 0; k < t->count; k++)
        if (t->idx[k] >= a->s.selected) {
            shown = k;
            break;
        }
    const nm_layer *l = &m->layers[t->idx[shown]];
    int plane = l->out_h * l->out_w;
    if (l->kind == NM_LAYER_NMRELU && t->m == 0) {
        t->n = l->act_n, t->m = l->act_m, t->policy = l->act_policy;
    }
    if (t->dens_m != t->m || t->dens_n != t->n || t->dens_policy != t->policy)
        count_densities(t, m);
    if (t->channel >= l->out_c)
        t->channel = l->out_c - 1;
    if (t->channel < 0)
        t->channel = 0;
    const float *in = nm_net_value(t->net, l->inputs[0]);
    memcpy(t->before, in + (int64_t)t->channel * plane, (size_t)plane * sizeof *t->before);
    apply_nm(t, t->before, t->after, plane);
    snprintf(v->layer, sizeof v->layer, "%s", l->name);
    v->channel = t->channel, v->channels = l->out_c;
    v->h = l->out_h, v->w = l->out_w;
    v->before = t->before, v->after = t->after;
    v->n = t->n, v->m = t->m, v->policy = t->policy;
    v->n_layers = t->count;
    v->names = (const char *const *)t->names;
    v->relu_density = t->relu_d, v->nm_density = t->nm_d;
    v->selected = shown;
    v->note[0] = '\0';
    a->s.have_act = 1;
}

tui_act *tui_act_new(tui_app *a)
{
    a->act = calloc(1, sizeof *a->act);
    if (a->act) {
        a->act->n = 4, a->act->m = 9;   /* the paper's NMReLU 4:9 */
    }
    return a->act;
}

void tui_act_update(tui_app *a)
{
    if (a->act && a->s.screen == WB_SCREEN_ACTIVATIONS)
        rebuild(a);
}

void tui_act_key(tui_app *a, int key)
{
    tui_act *t = a->act;
    if (!t)
        return;
    switch (key) {
    case 'P': t->policy = !t->policy; tui_status(a, "NMReLU policy: %s", t->policy ? "topk" : "first"); break;
    case KEY_LEFT: t->channel--; break;
    case KEY_RIGHT: t->channel++; break;
    case 'n': t->n = t->n < t->m ? t->n + 1 : 0; break;
    case 'N': t->m = t->m < 16 ? t->m + 1 : 2; if (t->n > t->m) t->n = t->m; break;
    }
}
