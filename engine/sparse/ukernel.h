/* ukernel.h - the hot loops of the compressed N:M product (internal to
 * engine/sparse). One call computes one or two output rows over `width`
 * columns of a packed panel of X (D rows of pw floats, zero padded to a
 * multiple of the kernel's width): ya[c] = sum_k va[k] * panel[ia[k]*pw + c]
 * in k order from +0 (yb likewise when vb is not NULL). width is a multiple
 * of nm_ukr_width(isa). */
#ifndef NM_SPARSE_UKERNEL_H
#define NM_SPARSE_UKERNEL_H

#include "nm_gemm.h"

#include <stdint.h>

typedef struct {
    int64_t kpr, pw, width;
    const float *va, *vb;        /* vb NULL: one row */
    const int32_t *ia, *ib;
    const float *panel;
    float *ya, *yb;
} nm_ukr_args;

typedef void (*nm_ukr_fn)(const nm_ukr_args *a);

/* Columns one step of the kernel covers (4 vectors). */
int nm_ukr_width(nm_isa isa);
nm_ukr_fn nm_ukr_get(nm_isa isa);

#endif
