/* wanda.c - calibration-aware scores (Wanda: |w| x the L2 norm of the input
 * feature the weight reads). The norms come from engine/train
 * (nm_calib_compute); here they are checked and applied by scaling the
 * weights in place for the duration of a magnitude-based method, which
 * then ranks by the Wanda score with its own tie rules. */
#include "prune.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int64_t nm_calib_len(const nm_layer *l)
{
    if (!nm_layer_prunable(l) || !l->weight)
        return 0;
    if (l->kind == NM_LAYER_LINEAR)
        return l->in_c;
    return (int64_t)l->in_c * l->kh * l->kw;
}

nm_calib *nm_calib_new(const nm_model *m)
{
    nm_calib *c = calloc(1, sizeof *c);
    if (c && !(c->norm = calloc((size_t)(m->n_layers ? m->n_layers : 1), sizeof *c->norm))) {
        free(c);
        c = NULL;
    }
    if (!c) {
        nm_seterr("out of memory for calibration norms");
        return NULL;
    }
    c->n_layers = m->n_layers;
    return c;
}

void nm_calib_free(nm_calib *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n_layers; i++)
        free(c->norm[i]);
    free(c->norm);
    free(c);
}

int nm_calib_check(const nm_model *m, const nm_calib *c, const nm_prune_scope *scope)
{
    if (!c)
        return nm_seterr("score 'wanda' needs calibration norms (calib)");
    if (c->n_layers != m->n_layers)
        return nm_seterr("calib: norms for %d layers, model '%s' has %d", c->n_layers, m->name,
                         m->n_layers);
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        int64_t len = nm_calib_len(l);
        if (!len)
            continue;
        if (!c->norm[i]) {
            if (scope && !nm_prune_eligible(m, i, scope, NULL))
                continue;
            return nm_seterr("calib: no input norms for layer '%s'", l->name);
        }
        for (int64_t k = 0; k < len; k++)
            if (!(c->norm[i][k] >= 0.0f) || isinf(c->norm[i][k]))
                return nm_seterr("calib: input norm %lld of layer '%s' is %g (need finite >= 0)",
                                 (long long)k, l->name, (double)c->norm[i][k]);
    }
    return NM_OK;
}

/* w[o, j] *= norm of the input position it reads. */
static void scale_layer(nm_layer *l, const float *norm)
{
    nm_weight_geom g;
    nm_layer_weight_geom(l, &g);
    float *w = nm_f32(l->weight);
    for (int64_t o = 0; o < g.rows; o++) {
        const float *nr = norm + (o / g.cout_g) * g.cin_g * g.per_k;
        float *row = w + o * g.cols;
        for (int64_t j = 0; j < g.cols; j++)
            row[j] *= nr[j];
    }
}

int nm_wanda_scale(nm_model *m, const nm_calib *c, nm_wanda_saved *s)
{
    if (!c)
        return nm_seterr("score 'wanda' needs calibration norms (calib)");
    if (c->n_layers != m->n_layers)
        return nm_seterr("calib: norms for %d layers, model '%s' has %d", c->n_layers, m->name,
                         m->n_layers);
    if (s->scaled)
        return nm_seterr("wanda: weights already scaled");
    if (!s->orig) {
        s->orig = calloc((size_t)(m->n_layers ? m->n_layers : 1), sizeof *s->orig);
        if (!s->orig)
            return nm_seterr("out of memory saving weights for wanda");
        s->n_layers = m->n_layers;
    }
    for (int i = 0; i < m->n_layers; i++) {
        nm_layer *l = &m->layers[i];
        if (!nm_calib_len(l) || !c->norm[i])
            continue;
        size_t bytes = (size_t)l->weight->numel * sizeof(float);
        if (!s->orig[i] && !(s->orig[i] = malloc(bytes ? bytes : 1))) {
            nm_wanda_saved_free(s);
            return nm_seterr("out of memory saving the weights of layer '%s' for wanda", l->name);
        }
    }
    for (int i = 0; i < m->n_layers; i++) {
        nm_layer *l = &m->layers[i];
        if (!s->orig[i])
            continue;
        memcpy(s->orig[i], nm_f32(l->weight), (size_t)l->weight->numel * sizeof(float));
        scale_layer(l, c->norm[i]);
    }
    s->scaled = 1;
    return NM_OK;
}

void nm_wanda_unscale(nm_model *m, nm_wanda_saved *s)
{
    if (!s->scaled)
        return;
    for (int i = 0; i < m->n_layers && i < s->n_layers; i++)
        if (s->orig[i])
            memcpy(nm_f32(m->layers[i].weight), s->orig[i],
                   (size_t)m->layers[i].weight->numel * sizeof(float));
    s->scaled = 0;
}

void nm_wanda_saved_free(nm_wanda_saved *s)
{
    if (s->orig)
        for (int i = 0; i < s->n_layers; i++)
            free(s->orig[i]);
    free(s->orig);
    memset(s, 0, sizeof *s);
}

int nm_prune_magnitude_model(nm_model *m, double sparsity, const nm_prune_scope *scope,
                             const nm_calib *calib)
{
    nm_wanda_saved sv = {0};
    if (calib && (nm_calib_check(m, calib, scope) || nm_wanda_scale(m, calib, &sv)))
        return NM_ERR;
    int rc = NM_OK;
    for (int i = 0; i < m->n_layers && rc == NM_OK; i++)
        if (nm_prune_eligible(m, i, scope, NULL))
            rc = nm_prune_magnitude_layer(&m->layers[i], sparsity);
    nm_wanda_unscale(m, &sv);
    nm_wanda_saved_free(&sv);
    return rc;
}
