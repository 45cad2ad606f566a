/* gemm.c - the compressed N:M product's driver (nm_gemm.h): instruction
 * set choice, column panels packed from X, OpenMP, and the scalar
 * reference. */
#include "nm_gemm.h"
#include "ukernel.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* A panel of X holds about this many bytes (D x PW floats): well inside the
 * 1-2 MiB L2 of current x86 cores, so every row of W finds it there. */
#define PANEL_BYTES ((int64_t)256 << 10)
#define PANEL_MAX 256            /* columns */
/* Products below this run on one thread. */
#define PAR_MIN ((int64_t)1 << 18)

static const char *isa_names[] = {"auto", "scalar", "avx2", "avx512"};

const char *nm_isa_name(nm_isa isa)
{
    return (unsigned)isa <= NM_ISA_AVX512 ? isa_names[isa] : "?";
}

int nm_isa_supported(nm_isa isa)
{
    switch (isa) {
    case NM_ISA_AUTO:
    case NM_ISA_SCALAR: return 1;
#if defined(__x86_64__)
    case NM_ISA_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case NM_ISA_AVX512: return __builtin_cpu_supports("avx512f");
#endif
    default: return 0;
    }
}

nm_isa nm_isa_best(void)
{
    if (nm_isa_supported(NM_ISA_AVX512))
        return NM_ISA_AVX512;
    if (nm_isa_supported(NM_ISA_AVX2))
        return NM_ISA_AVX2;
    return NM_ISA_SCALAR;
}

void nm_nm_gemm_ref(const nm_nm_plan *p, int fused, int64_t ncols, const float *x, int64_t ldx,
                    float *y, int64_t ldy)
{
    for (int64_t r = 0; r < p->rows; r++) {
        const float *v = p->val + r * p->kpr;
        const int32_t *ci = p->col + r * p->kpr;
        for (int64_t c = 0; c < ncols; c++) {
            float acc = 0.0f;
            for (int64_t k = 0; k < p->kpr; k++) {
                float xv = x[(int64_t)ci[k] * ldx + c];
                if (fused) {
                    acc = fmaf(v[k], xv, acc);
                } else {
                    float prod = v[k] * xv;
                    acc += prod;
                }
            }
            y[r * ldy + c] = acc;
        }
    }
}

/* Copies columns [c0, c0 + cw) of X's rows [d0, d1) into the panel (pw
 * floats a row), zero beyond cw up to the kernel's rounded width. */
static void pack_rows(const float *x, int64_t ldx, int64_t c0, int64_t cw, int64_t wr, int64_t pw,
                      int64_t d0, int64_t d1, float *panel)
{
    for (int64_t d = d0; d < d1; d++) {
        memcpy(panel + d * pw, x + d * ldx + c0, (size_t)cw * sizeof(float));
        if (wr > cw)
            memset(panel + d * pw + cw, 0, (size_t)(wr - cw) * sizeof(float));
    }
}

/* Rows [r0, r1) of Y over one packed panel: pairs through the kernel into
 * tmp (2 x pw), then the cw valid columns out to Y. */
static void run_rows(const nm_nm_plan *p, nm_ukr_fn f, const float *panel, int64_t pw, int64_t wr,
                     int64_t cw, int64_t c0, int64_t r0, int64_t r1, float *tmp, float *y,
                     int64_t ldy)
{
    nm_ukr_args a = {.kpr = p->kpr, .pw = pw, .width = wr, .panel = panel};
    for (int64_t r = r0; r < r1; r += 2) {
        int two = r + 1 < r1;
        a.va = p->val + r * p->kpr, a.ia = p->col + r * p->kpr, a.ya = tmp;
        a.vb = two ? a.va + p->kpr : NULL, a.ib = two ? a.ia + p->kpr : NULL;
        a.yb = two ? tmp + pw : NULL;
        f(&a);
        memcpy(y + r * ldy + c0, tmp, (size_t)cw * sizeof(float));
        if (two)
            memcpy(y + (r + 1) * ldy + c0, tmp + pw, (size_t)cw * sizeof(float));
    }
}

int nm_nm_gemm_isa(nm_isa isa, const nm_nm_plan *p, int64_t ncols, const float *x, int64_t ldx,
                   float *y, int64_t ldy)
{
    if (!p || !x || !y || ncols < 0 || ldx < ncols || ldy < ncols)
        return nm_seterr("N:M kernel: bad arguments (ncols %lld, ldx %lld, ldy %lld)",
                         (long long)ncols, (long long)ldx, (long long)ldy);
    if (isa == NM_ISA_AUTO)
        isa = nm_isa_best();
    if (!nm_isa_supported(isa))
        return nm_seterr("N:M kernel: this CPU does not run %s", nm_isa_name(isa));
    if (ncols == 0)
        return NM_OK;
    if (p->kpr == 0) {
        for (int64_t r = 0; r < p->rows; r++)
            memset(y + r * ldy, 0, (size_t)ncols * sizeof(float));
        return NM_OK;
    }
    const int64_t uw = nm_ukr_width(isa), D = p->D;
    nm_ukr_fn f = nm_ukr_get(isa);
    /* panel width: a multiple of the kernel's, within PANEL_BYTES, no wider
     * than the columns need */
    int64_t pw = PANEL_BYTES / (D * (int64_t)sizeof(float)) / uw * uw;
    pw = pw < uw ? uw : pw > PANEL_MAX ? PANEL_MAX : pw;
    int64_t need = (ncols + uw - 1) / uw * uw;
    pw = pw < need ? pw : need;
    const int64_t panels = (ncols + pw - 1) / pw;
    int nt = omp_get_max_threads();
    double work = (double)p->rows * (double)p->kpr * (double)ncols;
    if (work < (double)PAR_MIN || nt < 1)
        nt = 1;
    /* many panels: each thread packs and runs its own; few: all threads
     * share a panel and split the rows */
    const int by_panel = nt == 1 || panels >= 2 * nt || p->rows < 4 * nt;
    const int64_t nbuf = by_panel ? nt : 1;
    float *panel = aligned_alloc(64, (size_t)(nbuf * D * pw) * sizeof(float));
    float *tmp = aligned_alloc(64, (size_t)(nt * 2 * pw) * sizeof(float));
    if (!panel || !tmp) {
        free(panel);
        free(tmp);
        return nm_seterr("N:M kernel: out of memory for %lld x %lld panels", (long long)D,
                         (long long)pw);
    }
    if (by_panel) {
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t t = 0; t < panels; t++) {
            int me = omp_get_thread_num();
            float *pn = panel + (int64_t)me * D * pw, *tm = tmp + (int64_t)me * 2 * pw;
            int64_t c0 = t * pw, cw = ncols - c0 < pw ? ncols - c0 : pw;
            int64_t wr = (cw + uw - 1) / uw * uw;
            pack_rows(x, ldx, c0, cw, wr, pw, 0, D, pn);
            run_rows(p, f, pn, pw, wr, cw, c0, 0, p->rows, tm, y, ldy);
        }
    } else {
        const int64_t pairs = (p->rows + 1) / 2;
#pragma omp parallel num_threads(nt)
        {
            int me = omp_get_thread_num();
            float *tm = tmp + (int64_t)me * 2 * pw;
            for (int64_t t = 0; t < panels; t++) {
                int64_t c0 = t * pw, cw = ncols - c0 < pw ? ncols - c0 : pw;
                int64_t wr = (cw + uw - 1) / uw * uw;
#pragma omp for schedule(static)
                for (int64_t d = 0; d < D; d++)
                    pack_rows(x, ldx, c0, cw, wr, pw, d, d + 1, panel);
#pragma omp for schedule(static)
                for (int64_t q = 0; q < pairs; q++)
                    run_rows(p, f, panel, pw, wr, cw, c0, 2 * q,
                             2 * q + 2 < p->rows ? 2 * q + 2 : p->rows, tm, y, ldy);
            }
        }
    }
    free(panel);
    free(tmp);
    return NM_OK;
}

int nm_nm_gemm(const nm_nm_plan *p, int64_t ncols, const float *x, int64_t ldx, float *y,
               int64_t ldy)
{
    return nm_nm_gemm_isa(NM_ISA_AUTO, p, ncols, x, ldx, y, ldy);
}
