/* gemm.c - the compressed N:M product's driver (nm_gemm.h): instruction
 * set choice, column panels packed from X, OpenMP, and the scalar
 * reference. */
#include "nm_gemm.h"
#include "ukernel.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Columns of X per panel, and the bytes of one reduction block of a panel
 * (kb rows x pw columns): inside a 32 KiB L1 with room for the values,
 * indices and partial sums streaming past. */
#ifndef PANEL_MAX
#define PANEL_MAX 128
#endif
#ifndef L1_BYTES
#define L1_BYTES ((int64_t)32 << 10)
#endif
/* ... but at least this many of a row's values per block on average, so
 * the partial sums' reload and the call stay small next to the work. */
#ifndef MIN_SLOTS
#define MIN_SLOTS 24
#endif
/* The rows' partial sums between reduction blocks, per chunk of rows (the
 * constants are #ifndef so a tuning build can set them with -D; measured
 * on an AVX-512 EPYC: docs/results.md). */
#ifndef YTILE_BYTES
#define YTILE_BYTES ((int64_t)128 << 10)
#endif
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
 * floats a row), zero beyond cw up to wr (cw rounded up to 16). */
static void pack_rows(const float *x, int64_t ldx, int64_t c0, int64_t cw, int64_t wr, int64_t pw,
                      int64_t d0, int64_t d1, float *panel)
{
    for (int64_t d = d0; d < d1; d++) {
        memcpy(panel + d * pw, x + d * ldx + c0, (size_t)cw * sizeof(float));
        if (wr > cw)
            memset(panel + d * pw + cw, 0, (size_t)(wr - cw) * sizeof(float));
    }
}

/* Rows [r0, r1) of Y over one packed panel, the reduction in blocks of kb
 * rows of X (so a block stays in L1 while the rows pass over it): row r's
 * values in block b are [bnd[r][b], bnd[r][b+1]) (sorted by column); the
 * rows' partial sums wait in ytile (pw floats a row) between blocks, the
 * rows taken in chunks whose partial sums stay in L2. Then the cw valid
 * columns go out to Y. */
static void run_rows(const nm_nm_plan *p, nm_ukr_fn f, const float *panel, int64_t pw, int64_t wr,
                     int64_t cw, int64_t c0, int64_t nb, const int32_t *bnd, int64_t r0,
                     int64_t r1, float *ytile, float *y, int64_t ldy)
{
    nm_ukr_args a = {.pw = pw, .width = wr, .panel = panel};
    int64_t chunk = YTILE_BYTES / (pw * (int64_t)sizeof(float));
    chunk = chunk < 2 ? 2 : chunk / 2 * 2;
    for (int64_t q0 = r0; q0 < r1; q0 += chunk) {
        int64_t q1 = q0 + chunk < r1 ? q0 + chunk : r1;
        for (int64_t b = 0; b < nb; b++) {
            a.acc = b > 0;
            for (int64_t r = q0; r < q1; r += 2) {
                const int32_t *br = bnd + r * (nb + 1);
                int64_t s0 = r * p->kpr + br[b];
                a.cnta = br[b + 1] - br[b], a.va = p->val + s0, a.ia = p->col + s0;
                a.ya = ytile + r * pw;
                if (r + 1 < q1) {
                    const int32_t *bq = br + nb + 1;
                    int64_t s1 = (r + 1) * p->kpr + bq[b];
                    a.cntb = bq[b + 1] - bq[b], a.vb = p->val + s1, a.ib = p->col + s1;
                    a.yb = ytile + (r + 1) * pw;
                } else {
                    a.cntb = 0, a.vb = NULL, a.ib = NULL, a.yb = NULL;
                }
                f(&a);
            }
        }
    }
    for (int64_t r = r0; r < r1; r++)
        memcpy(y + r * ldy + c0, ytile + r * pw, (size_t)cw * sizeof(float));
}

/* The blocking of a product: panel width pw, reduction block kb rows of X
 * (nb blocks). */
typedef struct {
    int64_t pw, kb, nb, panels;
} blocking;

static blocking blocking_of(const nm_nm_plan *p, int64_t ncols)
{
    blocking b;
    /* panel width: 16-column steps, at most PANEL_MAX; the reduction block:
     * kb rows of the panel in L1_BYTES, or more when the rows are sparse */
    b.pw = (ncols + 15) / 16 * 16;
    b.pw = b.pw > PANEL_MAX ? PANEL_MAX : b.pw;
    int64_t kb = L1_BYTES / (b.pw * (int64_t)sizeof(float));
    int64_t kmin = MIN_SLOTS * p->D / p->kpr;
    b.kb = kb < kmin ? kmin : kb < 16 ? 16 : kb;
    b.nb = (p->D + b.kb - 1) / b.kb;
    b.panels = (ncols + b.pw - 1) / b.pw;
    return b;
}

/* Each row's block boundaries (bnd[r][0..nb]), once for all panels. */
static void fill_bounds(const nm_nm_plan *p, const blocking *bk, int32_t *bnd)
{
    for (int64_t r = 0; r < p->rows; r++) {
        const int32_t *ci = p->col + r * p->kpr;
        int32_t *br = bnd + r * (bk->nb + 1);
        int64_t k = 0;
        for (int64_t b = 0; b < bk->nb; b++) {
            br[b] = (int32_t)k;
            while (k < p->kpr && ci[k] < (b + 1) * bk->kb)
                k++;
        }
        br[bk->nb] = (int32_t)p->kpr;
    }
}

/* The whole product on the calling thread, with the caller's buffers. */
static void gemm_serial(const nm_nm_plan *p, nm_ukr_fn f, const blocking *bk, int64_t ncols,
                        const float *x, int64_t ldx, float *y, int64_t ldy, float *panel,
                        float *ytile, int32_t *bnd)
{
    fill_bounds(p, bk, bnd);
    for (int64_t t = 0; t < bk->panels; t++) {
        int64_t c0 = t * bk->pw, cw = ncols - c0 < bk->pw ? ncols - c0 : bk->pw;
        int64_t wr = (cw + 15) / 16 * 16;
        pack_rows(x, ldx, c0, cw, wr, bk->pw, 0, p->D, panel);
        run_rows(p, f, panel, bk->pw, wr, cw, c0, bk->nb, bnd, 0, p->rows, ytile, y, ldy);
    }
}

/* Checks shared by the entry points; NM_OK and *isa resolved, or NM_ERR. */
static int check_args(nm_isa *isa, const nm_nm_plan *p, int64_t ncols, const float *x,
                      int64_t ldx, const float *y, int64_t ldy)
{
    if (!p || !x || !y || ncols < 0 || ldx < ncols || ldy < ncols)
        return nm_seterr("N:M kernel: bad arguments (ncols %lld, ldx %lld, ldy %lld)",
                         (long long)ncols, (long long)ldx, (long long)ldy);
    if (*isa == NM_ISA_AUTO)
        *isa = nm_isa_best();
    if (!nm_isa_supported(*isa))
        return nm_seterr("N:M kernel: this CPU does not run %s", nm_isa_name(*isa));
    return NM_OK;
}

int nm_nm_gemm_isa(nm_isa isa, const nm_nm_plan *p, int64_t ncols, const float *x, int64_t ldx,
                   float *y, int64_t ldy)
{
    if (check_args(&isa, p, ncols, x, ldx, y, ldy))
        return NM_ERR;
    if (ncols == 0)
        return NM_OK;
    if (p->kpr == 0) {
        for (int64_t r = 0; r < p->rows; r++)
            memset(y + r * ldy, 0, (size_t)ncols * sizeof(float));
        return NM_OK;
    }
    const int64_t D = p->D, R = p->rows;
    nm_ukr_fn f = nm_ukr_get(isa);
    const blocking bk = blocking_of(p, ncols);
    const int64_t pw = bk.pw, nb = bk.nb, panels = bk.panels;
    int nt = omp_get_max_threads();
    double work = (double)R * (double)p->kpr * (double)ncols;
    if (work < (double)PAR_MIN || nt < 1)
        nt = 1;
    /* many panels: each thread packs and runs its own; few: all threads
     * share a panel and split the rows */
    const int by_panel = nt == 1 || panels >= 2 * nt || R < 4 * nt;
    const int64_t nbuf = by_panel ? nt : 1;
    float *panel = aligned_alloc(64, (size_t)(nbuf * D * pw) * sizeof(float));
    float *ytile = aligned_alloc(64, (size_t)(nbuf * R * pw) * sizeof(float));
    int32_t *bnd = malloc((size_t)(R * (nb + 1)) * sizeof *bnd);
    if (!panel || !ytile || !bnd) {
        free(panel);
        free(ytile);
        free(bnd);
        return nm_seterr("N:M kernel: out of memory for %lld x %lld panels", (long long)D,
                         (long long)pw);
    }
    if (nt == 1) {
        gemm_serial(p, f, &bk, ncols, x, ldx, y, ldy, panel, ytile, bnd);
    } else if (by_panel) {
        fill_bounds(p, &bk, bnd);
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t t = 0; t < panels; t++) {
            int me = omp_get_thread_num();
            float *pn = panel + (int64_t)me * D * pw, *yt = ytile + (int64_t)me * R * pw;
            int64_t c0 = t * pw, cw = ncols - c0 < pw ? ncols - c0 : pw;
            int64_t wr = (cw + 15) / 16 * 16;
            pack_rows(x, ldx, c0, cw, wr, pw, 0, D, pn);
            run_rows(p, f, pn, pw, wr, cw, c0, nb, bnd, 0, R, yt, y, ldy);
        }
    } else {
        fill_bounds(p, &bk, bnd);
#pragma omp parallel num_threads(nt)
        {
            int me = omp_get_thread_num(), n = omp_get_num_threads();
            int64_t r0 = R * me / n, r1 = R * (me + 1) / n;
            for (int64_t t = 0; t < panels; t++) {
                int64_t c0 = t * pw, cw = ncols - c0 < pw ? ncols - c0 : pw;
                int64_t wr = (cw + 15) / 16 * 16;
#pragma omp for schedule(static)
                for (int64_t d = 0; d < D; d++)
                    pack_rows(x, ldx, c0, cw, wr, pw, d, d + 1, panel);
                run_rows(p, f, panel, pw, wr, cw, c0, nb, bnd, r0, r1, ytile, y, ldy);
#pragma omp barrier
            }
        }
    }
    free(panel);
    free(ytile);
    free(bnd);
    return NM_OK;
}

int nm_nm_gemm_groups_isa(nm_isa isa, const nm_nm_plan *p, int64_t groups, int64_t ncols,
                          const float *x, int64_t ldx, float *y, int64_t ldy)
{
    if (groups < 1 || (p && p->rows % groups))
        return nm_seterr("N:M kernel: %lld rows do not split into %lld groups",
                         (long long)(p ? p->rows : 0), (long long)groups);
    if (groups == 1)
        return nm_nm_gemm_isa(isa, p, ncols, x, ldx, y, ldy);
    if (check_args(&isa, p, ncols, x, ldx, y, ldy))
        return NM_ERR;
    if (ncols == 0)
        return NM_OK;
    const int64_t rg = p->rows / groups, D = p->D;
    nm_nm_plan view = *p;
    view.rows = rg;
    if (p->kpr == 0 || rg * p->kpr * ncols >= PAR_MIN) {
        /* large groups: one after another, each threaded inside */
        for (int64_t g = 0; g < groups; g++) {
            view.val = p->val + g * rg * p->kpr, view.col = p->col + g * rg * p->kpr;
            if (nm_nm_gemm_isa(isa, &view, ncols, x + g * D * ldx, ldx, y + g * rg * ldy, ldy))
                return NM_ERR;
        }
        return NM_OK;
    }
    /* small groups (depthwise): the groups over the threads, each group on
     * one thread with that thread's buffers, allocated once */
    nm_ukr_fn f = nm_ukr_get(isa);
    const blocking bk = blocking_of(&view, ncols);
    int nt = omp_get_max_threads();
    double work = (double)p->rows * (double)p->kpr * (double)ncols;
    if (work < (double)PAR_MIN || nt < 1)
        nt = 1;
    float *panel = aligned_alloc(64, (size_t)(nt * D * bk.pw) * sizeof(float));
    float *ytile = aligned_alloc(64, (size_t)(nt * rg * bk.pw) * sizeof(float));
    int32_t *bnd = malloc((size_t)(nt * rg * (bk.nb + 1)) * sizeof *bnd);
    if (!panel || !ytile || !bnd) {
        free(panel);
        free(ytile);
        free(bnd);
        return nm_seterr("N:M kernel: out of memory for %lld x %lld panels", (long long)D,
                         (long long)bk.pw);
    }
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t g = 0; g < groups; g++) {
        int me = omp_get_thread_num();
        nm_nm_plan v = view;
        v.val = p->val + g * rg * p->kpr, v.col = p->col + g * rg * p->kpr;
        gemm_serial(&v, f, &bk, ncols, x + g * D * ldx, ldx, y + g * rg * ldy, ldy,
                    panel + me * D * bk.pw, ytile + me * rg * bk.pw,
                    bnd + me * rg * (bk.nb + 1));
    }
    free(panel);
    free(ytile);
    free(bnd);
    return NM_OK;
}

int nm_nm_gemm(const nm_nm_plan *p, int64_t ncols, const float *x, int64_t ldx, float *y,
               int64_t ldy)
{
    return nm_nm_gemm_isa(NM_ISA_AUTO, p, ncols, x, ldx, y, ldy);
}
