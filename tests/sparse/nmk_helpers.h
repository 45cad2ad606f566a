/* nmk_helpers.h - shared by the tests and the benchmark of the compressed
 * N:M kernels: a random weight pruned to n:m along an axis, its masked
 * dense form, its compressed form (nm_compress) and the kernel's plan. */
#ifndef NMK_HELPERS_H
#define NMK_HELPERS_H

#include "nm_gemm.h"
#include "prune.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    nm_tensor *dense;        /* masked weight (pruned entries 0) */
    nm_compressed *c;
    nm_nm_plan *p;
    int64_t rows, D;
} nmk_weight;

static inline float nmk_rand(nm_rng *g)
{
    return (float)(nm_rng_uniform(g) * 2.0 - 1.0);
}

/* A [rows, cin, kh, kw] weight (2-D [rows, cin] when kh = 0), values in
 * (-1, 1), pruned n:m along axis with nm_prune_nm_tensor, compressed with
 * the given index scheme, planned. NM_ERR with the engine's message. */
static inline int nmk_weight_make(nmk_weight *w, int64_t rows, int64_t cin, int kh, int kw, int n,
                                  int m, nm_group_axis axis, nm_index_scheme scheme, uint64_t seed)
{
    memset(w, 0, sizeof *w);
    nm_tensor *t = kh ? nm_tensor_new4(NM_F32, 4, rows, cin, kh, kw)
                      : nm_tensor_new4(NM_F32, 2, rows, cin, 0, 0);
    nm_tensor *mk = kh ? nm_tensor_new4(NM_U8, 4, rows, cin, kh, kw)
                       : nm_tensor_new4(NM_U8, 2, rows, cin, 0, 0);
    if (!t || !mk) {
        nm_tensor_release(t);
        nm_tensor_release(mk);
        return NM_ERR;
    }
    nm_rng g;
    nm_rng_seed(&g, seed);
    float *x = nm_f32(t);
    for (int64_t i = 0; i < t->numel; i++)
        x[i] = nmk_rand(&g);
    memset(mk->data, 1, (size_t)mk->numel);
    int rc = nm_prune_nm_tensor(t, mk, n, m, axis);
    for (int64_t i = 0; i < t->numel && rc == NM_OK; i++)
        if (!nm_u8(mk)[i])
            x[i] = 0.0f;
    nm_tensor_release(mk);
    w->dense = t;
    w->rows = rows;
    w->D = t->numel / rows;
    if (rc == NM_OK)
        w->c = nm_compress(t, n, m, axis, scheme);
    if (w->c)
        w->p = nm_nm_plan_new(w->c);
    return w->p ? NM_OK : NM_ERR;
}

static inline void nmk_weight_free(nmk_weight *w)
{
    nm_nm_plan_free(w->p);
    nm_compressed_free(w->c);
    nm_tensor_release(w->dense);
    memset(w, 0, sizeof *w);
}

#endif
