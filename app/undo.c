/* undo.c - bounded undo/redo stacks of mask snapshots. */
#include "undo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct undo_snap {
    int n_layers;
    nm_tensor **keep;   /* 3 per layer: mask, filters, in_chans */
    int *wnm;           /* 2 per layer: declared wn, wm */
    size_t bytes;
    char note[160];
};

undo_snap *undo_snap_take(const nm_model *m)
{
    undo_snap *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->n_layers = m->n_layers;
    s->keep = calloc((size_t)m->n_layers * 3 + 1, sizeof *s->keep);
    s->wnm = calloc((size_t)m->n_layers * 2 + 1, sizeof *s->wnm);
    if (!s->keep || !s->wnm) {
        free(s->keep);
        free(s->wnm);
        free(s);
        return NULL;
    }
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        s->wnm[i * 2] = l->wn, s->wnm[i * 2 + 1] = l->wm;
        const nm_tensor *src[3] = {l->mask, l->filters, l->in_chans};
        for (int k = 0; k < 3; k++) {
            if (!src[k])
                continue;
            nm_tensor *c = nm_tensor_clone(src[k]);
            if (!c) {
                undo_snap_free(s);
                return NULL;
            }
            s->keep[i * 3 + k] = c;
            s->bytes += (size_t)c->numel;
        }
    }
    return s;
}

void undo_snap_free(undo_snap *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_layers * 3; i++)
        nm_tensor_release(s->keep[i]);
    free(s->keep);
    free(s->wnm);
    free(s);
}

void undo_snap_set_note(undo_snap *s, const char *note)
{
    snprintf(s->note, sizeof s->note, "%s", note ? note : "");
}

size_t undo_snap_bytes(const undo_snap *s)
{
    return s->bytes;
}

static int same_tensor(const nm_tensor *a, const nm_tensor *b)
{
    if (!a || !b)
        return a == b;
    return nm_tensor_same_shape(a, b) && a->dtype == b->dtype &&
           memcmp(a->data, b->data, (size_t)a->numel * nm_dtype_size(a->dtype)) == 0;
}

int undo_snap_same(const undo_snap *s, const nm_model *m)
{
    if (s->n_layers != m->n_layers)
        return 0;
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        if (!same_tensor(s->keep[i * 3], l->mask) || !same_tensor(s->keep[i * 3 + 1], l->filters) ||
            !same_tensor(s->keep[i * 3 + 2], l->in_chans) || s->wnm[i * 2] != l->wn ||
            s->wnm[i * 2 + 1] != l->wm)
            return 0;
    }
    return 1;
}

/* Swaps the snapshot's tensors, declared N:M and note into the model and
 * the stack's live note: afterwards the snapshot holds the state the model
 * had. */
static int swap_into(undo_stack *u, undo_snap *s, nm_model *m)
{
    if (s->n_layers != m->n_layers)
        return nm_seterr("the model changed shape since this step; cannot undo");
    for (int i = 0; i < m->n_layers; i++) {
        const nm_layer *l = &m->layers[i];
        for (int k = 0; k < 3; k++) {
            const nm_tensor *t = s->keep[i * 3 + k];
            if (t && !(l->weight && (k != 0 || nm_tensor_same_shape(t, l->weight))))
                return nm_seterr("layer '%s' changed shape since this step; cannot undo", l->name);
        }
    }
    s->bytes = 0;
    for (int i = 0; i < m->n_layers; i++) {
        nm_layer *l = &m->layers[i];
        nm_tensor **slot[3] = {&l->mask, &l->filters, &l->in_chans};
        for (int k = 0; k < 3; k++) {
            nm_tensor *t = s->keep[i * 3 + k];
            s->keep[i * 3 + k] = *slot[k];
            *slot[k] = t;
            if (s->keep[i * 3 + k])
                s->bytes += (size_t)s->keep[i * 3 + k]->numel;
        }
        int wn = s->wnm[i * 2], wm = s->wnm[i * 2 + 1];
        s->wnm[i * 2] = l->wn, s->wnm[i * 2 + 1] = l->wm;
        l->wn = wn, l->wm = wm;
    }
    if (u->note && u->note_len) {
        char live[sizeof s->note];
        snprintf(live, sizeof live, "%s", u->note);
        snprintf(u->note, u->note_len, "%s", s->note);
        memcpy(s->note, live, sizeof live);
    }
    return NM_OK;
}

static size_t total_bytes(const undo_stack *u)
{
    size_t b = 0;
    for (int i = 0; i < u->n_undo; i++)
        b += u->undo[i]->bytes;
    for (int i = 0; i < u->n_redo; i++)
        b += u->redo[i]->bytes;
    return b;
}

static void drop_oldest_undo(undo_stack *u)
{
    undo_snap_free(u->undo[0]);
    memmove(u->undo, u->undo + 1, (size_t)(u->n_undo - 1) * sizeof *u->undo);
    u->n_undo--;
}

void undo_push(undo_stack *u, undo_snap *before)
{
    for (int i = 0; i < u->n_redo; i++)
        undo_snap_free(u->redo[i]);
    u->n_redo = 0;
    if (u->n_undo == 64)
        drop_oldest_undo(u);
    u->undo[u->n_undo++] = before;
    size_t budget = u->budget ? u->budget : (size_t)512 << 20;
    while (u->n_undo > 1 && total_bytes(u) > budget)
        drop_oldest_undo(u);
}

int undo_undo(undo_stack *u, nm_model *m)
{
    if (u->n_undo == 0)
        return nm_seterr("nothing to undo");
    undo_snap *s = u->undo[u->n_undo - 1];
    if (swap_into(u, s, m) != NM_OK)
        return NM_ERR;
    u->n_undo--;
    u->redo[u->n_redo++] = s;
    return NM_OK;
}

int undo_redo(undo_stack *u, nm_model *m)
{
    if (u->n_redo == 0)
        return nm_seterr("nothing to redo");
    undo_snap *s = u->redo[u->n_redo - 1];
    if (swap_into(u, s, m) != NM_OK)
        return NM_ERR;
    u->n_redo--;
    u->undo[u->n_undo++] = s;
    return NM_OK;
}

void undo_clear(undo_stack *u)
{
    for (int i = 0; i < u->n_undo; i++)
        undo_snap_free(u->undo[i]);
    for (int i = 0; i < u->n_redo; i++)
        undo_snap_free(u->redo[i]);
    u->n_undo = u->n_redo = 0;
}
