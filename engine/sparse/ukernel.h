/* ukernel.h - the hot loop of the compressed N:M product (internal to
 * engine/sparse). One call runs one or two output rows over one block of
 * their stored values against a packed panel of X (rows of pw floats, zero
 * padded to a multiple of 16 columns), for each row:
 *   y[c] = (acc ? y[c] : +0) + sum_k v[k] * panel[ix[k]*pw + c]
 * for c < width (a multiple of 16), k in order, one rounding per step (a
 * fused multiply-add on the AVX paths). The second row (yb != NULL) may
 * have another count: the two run side by side over their common count,
 * then each finishes alone, in order. */
#ifndef NM_SPARSE_UKERNEL_H
#define NM_SPARSE_UKERNEL_H

#include "nm_gemm.h"

#include <stdint.h>

typedef struct {
    int64_t pw, width;
    const float *panel;
    int acc;
    int64_t cnta, cntb;
    const float *va, *vb;
    const int32_t *ia, *ib;
    float *ya, *yb;          /* yb NULL: one row */
} nm_ukr_args;

typedef void (*nm_ukr_fn)(const nm_ukr_args *a);

nm_ukr_fn nm_ukr_get(nm_isa isa);

#endif
