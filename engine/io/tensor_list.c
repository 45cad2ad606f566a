/* tensor_list.c - a growable list of named tensors (safetensors contents). */
#include "nmio.h"
#include "error.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Releases every tensor, frees the names and metadata and leaves *tl empty
 * (all zero), ready for reuse. NULL is allowed. */
void nm_tensor_list_free(nm_tensor_list *tl)
{
    if (!tl)
        return;
    for (int i = 0; i < tl->count; i++) {
        free(tl->names[i]);
        nm_tensor_release(tl->tensors[i]);
    }
    free(tl->names);
    free(tl->tensors);
    free(tl->metadata_json);
    memset(tl, 0, sizeof *tl);
}

/* Appends name (copied) and t (retained). Names are not checked for
 * uniqueness here (the writer does that); the list may start zeroed. */
int nm_tensor_list_add(nm_tensor_list *tl, const char *name, nm_tensor *t)
{
    if (!name || !t)
        return nm_seterr("tensor list: missing %s", name ? "tensor" : "name");
    if (tl->count == tl->cap) {
        if (tl->cap > INT_MAX / 2)
            return nm_seterr("tensor list: too many tensors");
        int cap = tl->cap ? tl->cap * 2 : 16;
        char **names = realloc(tl->names, (size_t)cap * sizeof *names);
        if (!names)
            return nm_seterr("out of memory");
        tl->names = names;
        nm_tensor **ts = realloc(tl->tensors, (size_t)cap * sizeof *ts);
        if (!ts)
            return nm_seterr("out of memory");
        tl->tensors = ts;
        tl->cap = cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return nm_seterr("out of memory");
    tl->names[tl->count] = copy;
    tl->tensors[tl->count] = nm_tensor_retain(t);
    tl->count++;
    return NM_OK;
}
