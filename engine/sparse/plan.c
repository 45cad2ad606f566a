/* plan.c - the runnable form of an nm_compress'd weight: its values and one
 * column index per value, row by row (nm_gemm.h). */
#include "nm_gemm.h"

#include <stdlib.h>
#include <string.h>

void nm_nm_plan_free(nm_nm_plan *p)
{
    if (!p)
        return;
    free(p->val);
    free(p->col);
    free(p);
}

int64_t nm_nm_plan_bytes(const nm_compressed *c)
{
    return (int64_t)sizeof(nm_nm_plan) + c->n_values * (int64_t)(sizeof(float) + sizeof(int32_t)) +
           c->n_values * (int64_t)sizeof(int64_t);   /* the decoding's scratch */
}

typedef struct {
    int32_t col;
    float val;
} slot;

static int slot_cmp(const void *a, const void *b)
{
    int32_t x = ((const slot *)a)->col, y = ((const slot *)b)->col;
    return (x > y) - (x < y);
}

nm_nm_plan *nm_nm_plan_new(const nm_compressed *c)
{
    if (!c || (c->ndim != 2 && c->ndim != 4) || c->shape[0] < 1) {
        nm_seterr("N:M kernel: need a compressed 2-D or 4-D weight");
        return NULL;
    }
    int64_t rows = c->shape[0], D = c->shape[1];
    if (c->ndim == 4)
        D *= c->shape[2] * c->shape[3];
    if (D < 1 || D > INT32_MAX) {
        nm_seterr("N:M kernel: reduction length %lld out of range", (long long)D);
        return NULL;
    }
    if (c->n_values % rows) {
        nm_seterr("N:M kernel: %lld values do not split evenly over %lld rows",
                  (long long)c->n_values, (long long)rows);
        return NULL;
    }
    nm_nm_plan *p = calloc(1, sizeof *p);
    int64_t nv = c->n_values;
    int64_t *flat = malloc((size_t)(nv ? nv : 1) * sizeof *flat);
    if (p) {
        p->val = malloc((size_t)(nv ? nv : 1) * sizeof *p->val);
        p->col = malloc((size_t)(nv ? nv : 1) * sizeof *p->col);
    }
    if (!p || !flat || !p->val || !p->col) {
        free(flat);
        nm_nm_plan_free(p);
        nm_seterr("out of memory");
        return NULL;
    }
    p->rows = rows, p->D = D, p->kpr = nv / rows;
    p->n = c->n, p->m = c->m, p->axis = c->axis;
    if (nm_compressed_positions(c, flat)) {
        free(flat);
        nm_nm_plan_free(p);
        return NULL;
    }
    /* Groups are stored row after row, so row r's values are the r-th run
     * of kpr; check it rather than trust it. */
    for (int64_t v = 0; v < nv; v++) {
        int64_t r = flat[v] / D;
        if (r != v / p->kpr) {
            nm_seterr("N:M kernel: value %lld belongs to row %lld, expected row %lld",
                      (long long)v, (long long)r, (long long)(v / p->kpr));
            free(flat);
            nm_nm_plan_free(p);
            return NULL;
        }
        p->col[v] = (int32_t)(flat[v] % D);
    }
    if (nv)
        memcpy(p->val, c->values, (size_t)nv * sizeof *p->val);
    free(flat);
    /* Columns ascending within each row (along `in` the groups run over
     * channels at one kernel position, so they are not): the kernel walks a
     * row's values block by block of X's rows. */
    for (int64_t r = 0; r < rows; r++) {
        int32_t *ci = p->col + r * p->kpr;
        float *vi = p->val + r * p->kpr;
        int sorted = 1;
        for (int64_t k = 1; k < p->kpr && sorted; k++)
            sorted = ci[k - 1] < ci[k];
        if (sorted)
            continue;
        slot *tmp = malloc((size_t)p->kpr * sizeof *tmp);
        if (!tmp) {
            nm_nm_plan_free(p);
            nm_seterr("out of memory");
            return NULL;
        }
        for (int64_t k = 0; k < p->kpr; k++)
            tmp[k].col = ci[k], tmp[k].val = vi[k];
        qsort(tmp, (size_t)p->kpr, sizeof *tmp, slot_cmp);
        for (int64_t k = 0; k < p->kpr; k++)
            ci[k] = tmp[k].col, vi[k] = tmp[k].val;
        free(tmp);
    }
    return p;
}
