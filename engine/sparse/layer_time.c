/* layer_time.c - one layer of a model, dense OpenBLAS against the
 * compressed N:M kernel, on the same X (nm_gemm.h). */
#include "nm_gemm.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double nm_clock_now(nm_clock clock)
{
    struct timespec t;
    clock_gettime(clock == NM_CLOCK_CPU ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double gamma_k(int64_t k)
{
    double u = ldexp(1.0, -24);
    return (double)k * u / (1.0 - (double)k * u);
}

/* Why layer l cannot run the compressed kernel, or NULL. */
static const char *unfit(const nm_layer *l)
{
    if (l->kind == NM_LAYER_MATMUL)
        return "attention matmul: both operands are activations, no weights to compress";
    if (!nm_layer_prunable(l) || !l->weight)
        return "no weights";
    if (!l->mask || l->wn <= 0 || l->wm <= 0)
        return "no N:M mask (prune it to N:M first, e.g. nm.prune.nm)";
    if (l->wm < 2 || l->wm > 64)
        return "declared N:M has M outside 2..64";
    return NULL;
}

int nm_nm_layer_time_run(const nm_model *m, int idx, int batch, int reps, nm_isa isa,
                         nm_clock clock, nm_nm_layer_time *t)
{
    memset(t, 0, sizeof *t);
    if (!m || idx < 0 || idx >= m->n_layers)
        return nm_seterr("layer index %d out of range", idx);
    const nm_layer *l = &m->layers[idx];
    const char *why = unfit(l);
    if (why)
        return nm_seterr("%s", why);
    if (batch < 1 || reps < 1)
        return nm_seterr("batch and reps must be at least 1 (got %d, %d)", batch, reps);
    /* a grouped conv is `groups` GEMMs of rows/groups x D, each over its
     * own D rows of X (D = C_in/groups * kh * kw) */
    int64_t rows = l->weight->shape[0], D = l->weight->numel / rows;
    int64_t groups = l->kind == NM_LAYER_DWCONV ? l->in_c : l->groups > 1 ? l->groups : 1;
    if (groups < 1 || rows % groups)
        return nm_seterr("%lld filters do not split into %lld groups", (long long)rows,
                         (long long)groups);
    int64_t rg = rows / groups;
    int64_t cols = (int64_t)batch * l->out_h * l->out_w;
    if (rows > INT32_MAX || D > INT32_MAX || cols > INT32_MAX || cols < 1)
        return nm_seterr("GEMM %lld x %lld x %lld is beyond the BLAS's int sizes", (long long)rows,
                         (long long)D, (long long)cols);
    int64_t xb, yb, bytes;
    if (__builtin_mul_overflow(D * groups, cols, &xb) || __builtin_mul_overflow(rows, cols, &yb) ||
        __builtin_mul_overflow(xb + 2 * yb + 2 * rows * D, (int64_t)sizeof(float), &bytes))
        return nm_seterr("GEMM %lld x %lld x %lld is too large", (long long)rows, (long long)D,
                         (long long)cols);
    nm_tensor *w = nm_nm_masked_weight(l);
    if (!w)
        return NM_ERR;
    t->rows = rows, t->D = D, t->cols = cols, t->groups = groups, t->n = l->wn, t->m = l->wm;
    t->isa = isa == NM_ISA_AUTO ? nm_isa_best() : isa;
    t->axis = nm_nm_layer_axis(w, l, l->wn, l->wm);
    if (t->axis == NM_GROUP_AUTO) {
        nm_tensor_release(w);
        return nm_seterr("the masked weight does not hold its declared %d:%d along any axis", l->wn,
                         l->wm);
    }
    nm_compressed *c = nm_compress(w, l->wn, l->wm, t->axis, NM_INDEX_SIMPLE);
    if (!c) {
        nm_tensor_release(w);
        return NM_ERR;
    }
    bytes += nm_nm_plan_bytes(c);
    if (nm_mem_charge(l->name, bytes) != NM_OK) {
        nm_compressed_free(c);
        nm_tensor_release(w);
        return NM_ERR;
    }
    nm_nm_plan *p = nm_nm_plan_new(c);
    float *x = malloc((size_t)xb * sizeof(float));
    float *yd = malloc((size_t)yb * sizeof(float));
    float *ys = malloc((size_t)yb * sizeof(float));
    int rc = NM_OK;
    if (!p || !x || !yd || !ys) {
        rc = p ? nm_seterr("out of memory for a %lld x %lld activation", (long long)D,
                           (long long)cols) : NM_ERR;
        goto done;
    }
    t->kpr = p->kpr;
    nm_rng g;
    nm_rng_seed(&g, 1);
    for (int64_t i = 0; i < xb; i++)
        x[i] = (float)(nm_rng_uniform(&g) * 2.0 - 1.0);
    const float *W = nm_f32(w);
    t->dense_s = t->nm_s = INFINITY;
    int threads = omp_get_max_threads();
    if (clock == NM_CLOCK_CPU)
        omp_set_num_threads(1);
    for (int r = 0; r <= reps; r++) {      /* r = 0 warms both up */
        double t0 = nm_clock_now(clock);
        for (int64_t gi = 0; gi < groups; gi++)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rg, (int)cols, (int)D, 1.0f,
                        W + gi * rg * D, (int)D, x + gi * D * cols, (int)cols, 0.0f,
                        yd + gi * rg * cols, (int)cols);
        double t1 = nm_clock_now(clock);
        if ((rc = nm_nm_gemm_groups_isa(isa, p, groups, cols, x, cols, ys, cols)) != NM_OK)
            break;
        double t2 = nm_clock_now(clock);
        if (r) {
            t->dense_s = fmin(t->dense_s, t1 - t0);
            t->nm_s = fmin(t->nm_s, t2 - t1);
        }
    }
    omp_set_num_threads(threads);
    if (rc != NM_OK)
        goto done;
    /* the check: up to ~256 outputs spread over Y */
    int64_t step = yb / 256 + 1;
    double tol = gamma_k(p->kpr) + gamma_k(D);
    for (int64_t i = 0; i < yb; i += step) {
        int64_t r = i / cols, cidx = i % cols;
        const float *xg = x + r / rg * D * cols;
        double mag = 0;
        for (int64_t d = 0; d < D; d++)
            mag += fabs((double)W[r * D + d] * xg[d * cols + cidx]);
        double e = fabs((double)ys[i] - yd[i]), b = tol * mag;
        double q = b > 0 ? e / b : (e > 0 ? INFINITY : 0);
        t->err_ratio = fmax(t->err_ratio, q);
    }
done:
    free(x), free(yd), free(ys);
    nm_nm_plan_free(p);
    nm_compressed_free(c);
    nm_tensor_release(w);
    nm_mem_release(bytes);
    return rc;
}
