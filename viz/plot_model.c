/* plot_model.c - plots straight from engine objects: per-layer density of a
 * model before/after pruning, and the mask of one layer. */
#include "plot_internal.h"

#include "model.h"
#include "prune.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Gives the figure a text if the caller left it unset. */
static int default_text(char **slot, const char *text)
{
    if (*slot)
        return NM_OK;
    *slot = strdup(text);
    return *slot ? NM_OK : nm_seterr("plot: out of memory");
}

static int draw_density(plot *p, const nm_model *before, const nm_model *after)
{
    const char *w = "plot_model_density";
    if (!p || !before)
        return nm_seterr("%s: no %s", w, p ? "model" : "plot");
    int n = 0, na = 0;
    for (int i = 0; i < before->n_layers; i++)
        n += nm_layer_prunable(&before->layers[i]);
    if (after)
        for (int i = 0; i < after->n_layers; i++)
            na += nm_layer_prunable(&after->layers[i]);
    if (n == 0)
        return nm_seterr("%s: model '%s' has no prunable layers", w, before->name);
    if (after && na != n)
        return nm_seterr("%s: '%s' has %d prunable layers but '%s' has %d", w, before->name, n,
                         after->name, na);
    int ns = after ? 2 : 1;
    const char **groups = calloc((size_t)n, sizeof *groups);
    const char **labels = calloc((size_t)n * ns, sizeof *labels);
    double *values = calloc((size_t)n * ns, sizeof *values);
    char *text = calloc((size_t)n * ns, 16);
    int st = NM_ERR;
    if (!groups || !labels || !values || !text) {
        nm_seterr("%s: out of memory", w);
        goto done;
    }
    for (int s = 0; s < ns; s++) {
        const nm_model *m = s == 0 ? before : after;
        int k = 0;
        for (int i = 0; i < m->n_layers; i++) {
            const nm_layer *l = &m->layers[i];
            if (!nm_layer_prunable(l))
                continue;
            if (s == 1 && strcmp(l->name, groups[k]) != 0) {
                nm_seterr("%s: prunable layer %d is '%s' in '%s' but '%s' in '%s'", w, k,
                          groups[k], before->name, l->name, after->name);
                goto done;
            }
            groups[k] = s == 0 ? l->name : groups[k];
            nm_layer_stats ls;
            nm_layer_stats_get(m, i, &ls);
            double pct = 100.0 * ls.density;
            char *t = text + (size_t)(s * n + k) * 16;
            snprintf(t, 16, pct < 9.95 && pct > 0 ? "%.1f%%" : "%.0f%%", pct);
            values[s * n + k] = pct;
            labels[s * n + k] = t;
            k++;
        }
    }
    if (default_text(&p->title, "Density per layer") != NM_OK ||
        default_text(&p->ylabel, "density (% nonzero weights)") != NM_OK)
        goto done;
    const char *series[2] = {"before", "after"};
    plot_bar_data d = {
        .n_groups = n, .groups = groups, .n_series = ns, .series = after ? series : NULL,
        .values = values, .labels = labels, .value_labels = 1,
    };
    st = plot_bars(p, &d);
done:
    free(groups);
    free(labels);
    free(values);
    free(text);
    return st;
}

int plot_model_density(plot *p, const nm_model *before, const nm_model *after)
{
    int drawn = p && p->kind;
    return plot_finish(p, drawn, draw_density(p, before, after));
}

/* Flags of the im2col columns whose input channel is removed (in_chans ==
 * 0): column j of group g reads channel g * C_in/G + j / (D / (C_in/G)).
 * With groups a column is flagged only if its channel is removed in every
 * group. *out is malloc'ed (caller frees); *n_chans and *n_gone count the
 * channels for the note. */
static int removed_columns(const nm_layer *l, int64_t rows, int64_t cols, uint8_t **out,
                           int64_t *n_chans, int64_t *n_gone)
{
    const char *w = "plot_layer_mask";
    const nm_tensor *ic = l->in_chans;
    int64_t c_in = ic->numel;
    int64_t g = (l->kind == NM_LAYER_CONV || l->kind == NM_LAYER_DWCONV) && l->groups > 1
                    ? l->groups : 1;
    if (ic->dtype != NM_U8 || c_in < 1 || c_in % g != 0 || cols % (c_in / g) != 0 ||
        rows % g != 0)
        return nm_seterr("%s: layer '%s': in_chans vector (%lld entries) does not match the "
                         "%lld columns of the weight", w, l->name, (long long)c_in,
                         (long long)cols);
    int64_t cpg = c_in / g, per = cols / cpg;
    const uint8_t *keep = nm_u8(ic);
    uint8_t *f = malloc((size_t)cols);
    if (!f)
        return nm_seterr("%s: out of memory", w);
    for (int64_t j = 0; j < cols; j++) {
        int gone = 1;
        for (int64_t k = 0; k < g && gone; k++)
            gone = keep[k * cpg + j / per] == 0;
        f[j] = (uint8_t)gone;
    }
    *n_gone = 0;
    for (int64_t c = 0; c < c_in; c++)
        *n_gone += keep[c] == 0;
    *n_chans = c_in;
    *out = f;
    return NM_OK;
}

static int draw_mask(plot *p, const nm_layer *l, plot_mask_view view)
{
    const char *w = "plot_layer_mask";
    if (!p || !l)
        return nm_seterr("%s: no %s", w, p ? "layer" : "plot");
    if (!nm_layer_prunable(l) || !l->weight)
        return nm_seterr("%s: layer '%s' (%s) has no prunable weight", w, l->name,
                         nm_layer_kind_name(l->kind));
    if (view != PLOT_MASK_KEPT && view != PLOT_MASK_MAGNITUDE)
        return nm_seterr("%s: unknown view %d", w, (int)view);
    int64_t rows = nm_layer_rows(l), cols = nm_layer_cols(l);
    if (rows * cols != l->weight->numel || l->weight->dtype != NM_F32)
        return nm_seterr("%s: layer '%s': weight is not an f32 %lld x %lld matrix", w, l->name,
                         (long long)rows, (long long)cols);
    if (l->mask && (l->mask->numel != l->weight->numel || l->mask->dtype != NM_U8))
        return nm_seterr("%s: layer '%s': mask does not match the weight", w, l->name);
    if (l->filters && (l->filters->numel != rows || l->filters->dtype != NM_U8))
        return nm_seterr("%s: layer '%s': filter vector does not match C_out", w, l->name);

    uint8_t *removed = NULL, *cols_gone = NULL;
    int64_t chans = 0, chans_gone = 0;
    if (l->in_chans) {
        if (removed_columns(l, rows, cols, &cols_gone, &chans, &chans_gone) != NM_OK)
            return NM_ERR;
    }
    const uint8_t *mask = l->mask ? nm_u8(l->mask) : NULL;
    if (l->filters) {
        removed = malloc((size_t)rows);
        if (!removed) {
            free(cols_gone);
            return nm_seterr("%s: out of memory", w);
        }
        for (int64_t r = 0; r < rows; r++)
            removed[r] = nm_u8(l->filters)[r] == 0;
    }
    char title[160];
    if (l->wn > 0 && l->wm > 0)
        snprintf(title, sizeof title, "%s: %s (%d:%d)", l->name,
                 view == PLOT_MASK_KEPT ? "mask" : "|w| of kept weights", l->wn, l->wm);
    else
        snprintf(title, sizeof title, "%s: %s", l->name,
                 view == PLOT_MASK_KEPT ? "mask" : "|w| of kept weights");
    /* the N:M groups as the engine forms them: the axis the mask satisfies
     * (the layer's default first), as the Mask screen finds it */
    int khw = l->kh * l->kw > 0 && l->kind != NM_LAYER_LINEAR ? l->kh * l->kw : 1;
    nm_group_axis axis = nm_group_axis_default(l);
    if (l->wm > 0 && l->mask) {
        nm_group_axis order[4] = {nm_group_axis_default(l), NM_GROUP_KERNEL, NM_GROUP_IN, NM_GROUP_ROW};
        for (int i = 0; i < 4; i++) {
            int64_t viol = 0;
            if (nm_check_nm(l->weight, l->mask, l->wn, l->wm, order[i], &viol, NULL) == NM_OK && viol == 0) {
                axis = order[i];
                break;
            }
        }
    }
    int st = NM_ERR;
    if (default_text(&p->title, title) == NM_OK &&
        default_text(&p->ylabel, "output channel") == NM_OK &&
        default_text(&p->xlabel, "input (C_in/groups x kh x kw)") == NM_OK) {
        plot_heat_src s = {
            .rows = rows, .cols = cols, .mask = mask, .rows_removed = removed,
            .cols_removed = cols_gone, .cols_removed_what = "input channels",
            .cols_removed_count = chans_gone, .cols_removed_total = chans,
            .all_kept = view == PLOT_MASK_KEPT && !mask,
            .group_m = l->wm > 0 ? l->wm : 0,
            .group_restart = axis == NM_GROUP_KERNEL && khw > 1 ? khw : 0,
            .group_stride = axis == NM_GROUP_IN && khw > 1 ? khw : 0, .ramp = PLOT_RAMP_VIRIDIS, .what = w,
            .reserve_marks = 1,   /* masks of one layer line up across methods */
        };
        if (view == PLOT_MASK_MAGNITUDE) {
            s.fv = nm_f32(l->weight);
            s.abs_f = 1;
            s.value_label = "|w|";
        }
        st = plot_heat_draw(p, &s);
    }
    free(removed);
    free(cols_gone);
    return st;
}

int plot_layer_mask(plot *p, const nm_layer *l, plot_mask_view view)
{
    int drawn = p && p->kind;
    return plot_finish(p, drawn, draw_mask(p, l, view));
}
