/* masks.c - effective weight masks, and writing them for PyTorch.
 *
 * The mask nm_forward applies to a prunable layer's weight is
 * mask AND filters[row] AND in_chans[input channel of the column]
 * (engine/train/README.md, Masks). nm_masks_save writes it, one u8 tensor
 * per pruned layer in the weight's shape, under "<module>.weight_mask",
 * where <module> is the PyTorch module path: the layer name itself for
 * nmlab's own models (zoo names are module paths already), recovered from
 * the scope name for layers read from a torch.onnx export. Removed filters
 * add masks on the bias and on the BN that follows (see nmio.h). */
#include "nmio.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

nm_tensor *nm_layer_effective_mask(const nm_layer *l)
{
    if (!nm_layer_prunable(l) || !l->weight) {
        nm_seterr("layer '%s' has no prunable weight", l->name);
        return NULL;
    }
    nm_tensor *e = nm_tensor_new(NM_U8, l->weight->ndim, l->weight->shape);
    if (!e)
        return NULL;
    nm_weight_geom wg;
    nm_layer_weight_geom(l, &wg);
    const int64_t rows = wg.rows, cols = wg.cols, per_k = wg.per_k, cin_g = wg.cin_g;
    const int64_t cout_g = wg.cout_g;
    const uint8_t *mk = wg.mask, *fk = wg.filters, *ik = wg.in_chans;
    uint8_t *d = nm_u8(e);
    for (int64_t o = 0; o < rows; o++) {
        int fo = !fk || fk[o];
        int64_t g = o / cout_g;
        for (int64_t j = 0; j < cols; j++) {
            int64_t k = o * cols + j;
            d[k] = (uint8_t)(fo && (!mk || mk[k]) && (!ik || ik[g * cin_g + j / per_k]));
        }
    }
    return e;
}

/* torch.onnx names a node "/<scope>/.../<Op>": one component per module on
 * the way down, each the module's attribute name, except that the children
 * of a container appear as "<container component>.<index>" (layer1.0,
 * features.0.0, mlp.0). So: drop the leading "/" and the last component
 * (the operator), then join the components with ".", writing a component
 * that extends its predecessor by ".<rest>" as just <rest>. */
int nm_module_path(const char *name, char *out, size_t len)
{
    if (!name || !len)
        return nm_seterr("no layer name");
    if (name[0] != '/') {
        if (strlen(name) >= len)
            return nm_seterr("layer name '%s' is too long", name);
        snprintf(out, len, "%s", name);
        return NM_OK;
    }
    const char *last = strrchr(name, '/');
    size_t at = 0;
    out[0] = '\0';
    const char *prev = NULL;
    size_t prev_len = 0;
    for (const char *p = name + 1; p <= last;) {
        const char *slash = strchr(p, '/');
        size_t n = (size_t)(slash - p);
        if (n == 0) { /* "//": an empty component */
            p = slash + 1;
            continue;
        }
        const char *piece = p;
        size_t pn = n;
        if (prev && n > prev_len + 1 && !strncmp(p, prev, prev_len) && p[prev_len] == '.') {
            piece = p + prev_len + 1;
            pn = n - prev_len - 1;
        }
        if (at + (at ? 1 : 0) + pn >= len)
            return nm_seterr("module path of '%s' is too long", name);
        if (at)
            out[at++] = '.';
        memcpy(out + at, piece, pn);
        at += pn;
        out[at] = '\0';
        prev = p, prev_len = n;
        p = slash + 1;
    }
    if (!at) { /* "/Conv": no module scope; the name without its slash */
        if (strlen(name + 1) >= len)
            return nm_seterr("layer name '%s' is too long", name);
        snprintf(out, len, "%s", name + 1);
    }
    return NM_OK;
}

/* Adds "<module of name>.<param>_mask" -> t to tl (retained), refusing a
 * key that is already there. */
static int add_mask(nm_tensor_list *tl, const char *name, const char *param, nm_tensor *t)
{
    char mod[512], key[600];
    if (nm_module_path(name, mod, sizeof mod))
        return NM_ERR;
    snprintf(key, sizeof key, "%s.%s_mask", mod, param);
    for (int k = 0; k < tl->count; k++)
        if (!strcmp(tl->names[k], key))
            return nm_seterr("layer '%s' and another layer map to the same key '%s'", name, key);
    return nm_tensor_list_add(tl, key, t);
}

/* u8 [C]: filters[c] (1 = kept). */
static nm_tensor *keep_vector(const nm_tensor *filters)
{
    nm_tensor *k = nm_tensor_clone(filters);
    if (k)
        for (int64_t i = 0; i < k->numel; i++)
            nm_u8(k)[i] = nm_u8(k)[i] != 0;
    return k;
}

int nm_masks_save(const nm_model *m, const char *path)
{
    nm_tensor_list tl = {0};
    int rc = NM_OK;
    for (int i = 0; i < m->n_layers && rc == NM_OK; i++) {
        const nm_layer *l = &m->layers[i];
        if (!nm_layer_prunable(l) || !l->weight)
            continue;
        nm_tensor *e = nm_layer_effective_mask(l);
        if (!e) {
            rc = NM_ERR;
            break;
        }
        if (nm_tensor_nnz(e) < e->numel)
            rc = add_mask(&tl, l->name, "weight", e);
        nm_tensor_release(e);
        /* Removed filters: nm_forward counts their bias as 0 and a BN fed
         * directly by the layer outputs 0 on them; masks on the bias and
         * on the BN's weight and bias make PyTorch do the same. */
        if (rc || !l->filters || nm_tensor_nnz(l->filters) == l->filters->numel)
            continue;
        nm_tensor *k = keep_vector(l->filters);
        if (!k) {
            rc = NM_ERR;
            break;
        }
        if (l->bias)
            rc = add_mask(&tl, l->name, "bias", k);
        for (int j = i + 1; j < m->n_layers && rc == NM_OK; j++) {
            const nm_layer *b = &m->layers[j];
            if (b->kind == NM_LAYER_BN && b->n_inputs > 0 && b->inputs[0] == i) {
                rc = add_mask(&tl, b->name, "weight", k);
                if (rc == NM_OK)
                    rc = add_mask(&tl, b->name, "bias", k);
            }
        }
        nm_tensor_release(k);
    }
    if (rc == NM_OK)
        rc = nm_safetensors_write(path, &tl);
    else
        nm_preperr(path);
    nm_tensor_list_free(&tl);
    return rc;
}
