/* undo.h - undo/redo of mask changes.
 *
 * A snapshot holds copies of every prunable layer's mask, filters and
 * in_chans keep vectors (NULL stays NULL), each layer's declared N:M
 * (wn:wm), and a note (the header's pruning settings at that point). The stack is bounded by a byte
 * budget: the oldest snapshots are dropped first. */
#ifndef UNDO_H
#define UNDO_H

#include "model.h"

#include <stddef.h>

typedef struct undo_snap undo_snap;

typedef struct {
    undo_snap *undo[64], *redo[64];
    int n_undo, n_redo;
    size_t budget;      /* bytes kept at most over both stacks */
    char *note;         /* the live note (e.g. the header's settings), swapped
                           with a snapshot's on undo/redo; NULL: none */
    size_t note_len;
} undo_stack;

/* Copies the model's keep state. NULL on out of memory. */
undo_snap *undo_snap_take(const nm_model *m);
void undo_snap_free(undo_snap *s);
/* Sets the snapshot's note (copied; truncated to 159 bytes). */
void undo_snap_set_note(undo_snap *s, const char *note);
/* 1 if the model's keep state and declared N:M equal the snapshot's. */
int undo_snap_same(const undo_snap *s, const nm_model *m);
size_t undo_snap_bytes(const undo_snap *s);

/* Pushes `before` (taken before a change; the stack takes ownership) and
 * clears the redo stack. */
void undo_push(undo_stack *u, undo_snap *before);
/* Restores the previous state into m (the current one goes to redo).
 * NM_ERR with a message if there is nothing to undo or the model's layers
 * no longer match the snapshot. */
int undo_undo(undo_stack *u, nm_model *m);
int undo_redo(undo_stack *u, nm_model *m);
void undo_clear(undo_stack *u);

#endif
