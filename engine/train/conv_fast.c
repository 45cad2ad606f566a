/* conv_fast.c - convolution forward through a register-blocked AVX-512
 * kernel that reads the unfolded input in panels packed for it.
 *
 * The product Y[cout x nP] = W[cout x D] * col[D x nP] is cut into panels of
 * NR = 48 output columns. A panel of col is written straight from the input
 * as D rows of 48 contiguous floats (no im2col matrix, no second packing
 * pass as a BLAS would make), then an 8 x 48 kernel keeps 24 zmm
 * accumulators over the whole reduction and applies the epilogue (bias or
 * per-channel scale and shift, ReLU, clip) before its one store. When there
 * are many panels each thread packs its own and runs every row block on it
 * while it is in cache; with few panels (a 7x7 plane at batch 1) they are
 * packed once, shared, and the threads split the row blocks.
 *
 * Used where the CPU has AVX-512F (checked at run time; the build targets
 * baseline x86-64) and not for depthwise convolutions; elsewhere conv.c's
 * im2col + cblas_sgemm runs. NMLAB_NO_AVX512=1 in the environment turns it
 * off (tests compare the two paths). */
#include "kernels.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86 1
#define AVX512 __attribute__((target("avx512f")))
#else
#define HAVE_X86 0
#define AVX512
#endif

#define MR 8           /* rows (output channels) per kernel call */
#define NR 48          /* columns (output positions) per panel */
#define SHARED_MAX 8   /* at most this many panels: pack once, split rows */
#define MAX_THREADS 8  /* per-thread panels in the workspace */

static int fast_state = -1;   /* -1: not decided yet */

static int cpu_ok(void)
{
#if HAVE_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0;
#else
    return 0;
#endif
}

int nm_conv_fast_available(void)
{
    if (fast_state < 0) {   /* benign race: every thread decides the same */
        const char *off = getenv("NMLAB_NO_AVX512");
        fast_state = cpu_ok() && !(off && *off && strcmp(off, "0") != 0);
    }
    return fast_state;
}

int nm_conv_fast_enable(int on)
{
    const int was = nm_conv_fast_available();
    fast_state = on && cpu_ok();
    return was;
}

int nm_conv_fast_ok(const nm_conv_geom *g, int n)
{
    const int64_t np = (int64_t)n * g->oh * g->ow;
    const int dw = g->groups == g->cin && g->groups > 1;
    return nm_conv_fast_available() && !dw && np >= 16 && np <= INT32_MAX;
}

static int64_t rows_d(const nm_conv_geom *g)
{
    return (int64_t)(g->cin / g->groups) * g->kh * g->kw;
}

size_t nm_conv_fast_work_floats(const nm_conv_geom *g)
{
    const int64_t k = rows_d(g);
    return (size_t)k * NR * (SHARED_MAX > MAX_THREADS ? SHARED_MAX : MAX_THREADS);
}

/* A run of a panel's columns inside one output row: sample s, row oh,
 * columns ow.. (len of them), written at panel column j. */
typedef struct {
    int s, oh, ow, len, j;
} panel_run;

/* Splits output columns [col0, end) (at most NR of them, in sample, oh, ow
 * order) into runs inside one output row; returns how many (<= NR). */
static int panel_runs(const nm_conv_geom *g, int64_t col0, int64_t end, panel_run *run)
{
    const int64_t p = (int64_t)g->oh * g->ow;
    int s = (int)(col0 / p), oh = (int)(col0 % p / g->ow), ow = (int)(col0 % g->ow);
    int nrun = 0, used = 0;
    for (int64_t col = col0; col < end;) {
        int len = g->ow - ow;
        if (len > end - col)
            len = (int)(end - col);
        run[nrun++] = (panel_run){s, oh, ow, len, used};
        used += len, col += len, ow += len;
        if (ow == g->ow) {
            ow = 0;
            if (++oh == g->oh)
                oh = 0, s++;
        }
    }
    return nrun;
}

/* The run's lanes t in [0, len) whose input column (ow + t) * sw + off
 * lies inside the row: [*t0, *t1), empty when none. */
static void inside_lanes(const nm_conv_geom *g, const panel_run *rn, int off, int *t0, int *t1)
{
    const int sw = g->sw, base = rn->ow * sw + off;
    int a = base < 0 ? (-base + sw - 1) / sw : 0;
    int b = base < g->w ? (g->w - base + sw - 1) / sw : 0;
    a = a < rn->len ? a : rn->len;
    b = b < rn->len ? b : rn->len;
    *t0 = a, *t1 = b > a ? b : a;
}

/* Writes panel jc of group gi's unfolded input, the general way (any
 * stride and tap count): rows r = (c, ki, kj) of D, each the 48 values at
 * output columns jc*48.. (past the last column, zeros). x is [cin, n*h*w]
 * (CNHW). */
static void pack_panel_any(const nm_conv_geom *g, int n, int gi, int64_t col0, int64_t end,
                           const float *x, float *dst)
{
    const int64_t hw = (int64_t)g->h * g->w, d = rows_d(g);
    panel_run run[NR];
    const int nrun = panel_runs(g, col0, end, run);
    const int used = (int)(end - col0);
    int c = gi * (g->cin / g->groups), ki = 0, kj = 0;
    for (int64_t r = 0; r < d; r++, dst += NR) {
        const float *xc = x + (int64_t)c * n * hw;
        const int off = kj * g->dw - g->pw;
        for (int k = 0; k < nrun; k++) {
            float *o = dst + run[k].j;
            const int ih = run[k].oh * g->sh - g->ph + ki * g->dh;
            int t0 = 0, t1 = 0;
            if (ih >= 0 && ih < g->h)
                inside_lanes(g, &run[k], off, &t0, &t1);
            const int64_t at = (int64_t)run[k].s * hw + (int64_t)ih * g->w + run[k].ow * g->sw + off;
            for (int t = 0; t < t0; t++)
                o[t] = 0.0f;
            for (int t = t0; t < t1; t++)
                o[t] = xc[at + (int64_t)t * g->sw];
            for (int t = t1; t < run[k].len; t++)
                o[t] = 0.0f;
        }
        for (int j = used; j < NR; j++)
            dst[j] = 0.0f;
        if (++kj == g->kw) {
            kj = 0;
            if (++ki == g->kh)
                ki = 0, c++;
        }
    }
}

#if HAVE_X86
#define S1_MAX_KW 16   /* stride-1 packing keeps masks for this many taps */

/* Lanes [lo, hi) of 16-lane vector v of a run: the mask. */
static __mmask16 lane_mask(int lo, int hi, int v)
{
    lo -= 16 * v, hi -= 16 * v;
    lo = lo < 0 ? 0 : lo > 16 ? 16 : lo;
    hi = hi < 0 ? 0 : hi > 16 ? 16 : hi;
    return hi > lo ? (__mmask16)((((1u << (hi - lo)) - 1u) << lo) & 0xFFFFu) : 0;
}

/* pack_panel_any for stride 1 (the common 3x3 and 1x1 case): the masks of
 * each run and tap column are made once per panel, so a row costs one
 * masked load and store per 16 columns of each run. */
AVX512 static void pack_panel_s1(const nm_conv_geom *g, int n, int gi, int64_t col0,
                                 int64_t end, const float *x, float *dst)
{
    const int64_t hw = (int64_t)g->h * g->w, d = rows_d(g);
    panel_run run[NR];
    const int nrun = panel_runs(g, col0, end, run);
    const int used = (int)(end - col0);
    struct {
        int64_t soff;               /* the sample's plane */
        int oh0, nv;                /* first input row (ki = 0), vectors */
        __mmask16 st[3];            /* lanes of the run */
        __mmask16 ld[S1_MAX_KW][3]; /* lanes inside the input row, per tap column */
        int base[S1_MAX_KW];        /* input column of the run's first lane, per tap column */
    } seg[NR];
    for (int k = 0; k < nrun; k++) {
        seg[k].soff = (int64_t)run[k].s * hw, seg[k].oh0 = run[k].oh * g->sh - g->ph;
        seg[k].nv = (run[k].len + 15) / 16;
        for (int kj = 0; kj < g->kw; kj++) {
            const int off = kj * g->dw - g->pw;
            int t0, t1;
            inside_lanes(g, &run[k], off, &t0, &t1);
            seg[k].base[kj] = run[k].ow + off;
            for (int v = 0; v < 3; v++)
                seg[k].ld[kj][v] = lane_mask(t0, t1, v);
        }
        for (int v = 0; v < 3; v++)
            seg[k].st[v] = lane_mask(0, run[k].len, v);
    }
    const __m512 zero = _mm512_setzero_ps();
    int c = gi * (g->cin / g->groups), ki = 0, kj = 0;
    for (int64_t r = 0; r < d; r++, dst += NR) {
        const float *xc = x + (int64_t)c * n * hw;
        for (int k = 0; k < nrun; k++) {
            float *o = dst + run[k].j;
            const int ih = seg[k].oh0 + ki * g->dh;
            if (ih < 0 || ih >= g->h) {
                for (int v = 0; v < seg[k].nv; v++)
                    _mm512_mask_storeu_ps(o + 16 * v, seg[k].st[v], zero);
                continue;
            }
            const float *src = xc + seg[k].soff + (int64_t)ih * g->w + seg[k].base[kj];
            for (int v = 0; v < seg[k].nv; v++)
                _mm512_mask_storeu_ps(o + 16 * v, seg[k].st[v],
                                      _mm512_maskz_loadu_ps(seg[k].ld[kj][v], src + 16 * v));
        }
        for (int j = used; j < NR; j += 16)   /* zeros past the last column */
            _mm512_mask_storeu_ps(dst + j, lane_mask(0, NR - j, 0), zero);
        if (++kj == g->kw) {
            kj = 0;
            if (++ki == g->kh)
                ki = 0, c++;
        }
    }
}
#endif

/* Writes panel jc of group gi's unfolded input (see pack_panel_any). */
static void pack_panel(const nm_conv_geom *g, int n, int gi, int64_t jc, const float *x,
                       float *dst)
{
    const int64_t np = (int64_t)n * g->oh * g->ow, col0 = jc * NR;
    const int64_t end = col0 + NR < np ? col0 + NR : np;
#if HAVE_X86
    if (g->sw == 1 && g->kw <= S1_MAX_KW) {
        pack_panel_s1(g, n, gi, col0, end, x, dst);
        return;
    }
#endif
    pack_panel_any(g, n, gi, col0, end, x, dst);
}

/* The epilogue of output row o: v = acc * scale[o] + shift[o] (scale NULL:
 * 1; shift NULL: 0), then v > 0 ? v : 0 when relu, then min(v, clip) when
 * clip > 0: the same operations as nm_bn_forward_eval and nm_relu_forward. */
static inline float epi(const nm_conv_epilogue *e, int o, float v)
{
    if (e) {
        if (e->scale)
            v *= e->scale[o];
        if (e->shift)
            v += e->shift[o];
        if (e->relu)   /* as nm_relu_forward: NaN becomes 0 */
            v = v > 0.0f ? v : 0.0f;
        if (e->clip > 0.0f)
            v = v < e->clip ? v : e->clip;
    }
    return v;
}

#if HAVE_X86
/* C[rows x cols] (rows <= 8, cols <= 16 nz) = epilogue(A[rows x K] * P), P
 * one packed panel (K x 48) of which the first 16 nz columns are read (nz =
 * 1, 2 or 3 zmm registers per row, a constant once inlined: a panel's last
 * columns take the narrowest that covers them). A row past `rows` repeats
 * row 0 (its result is not stored). */
AVX512 static inline __attribute__((always_inline)) void
kernel_body(const int nz, int64_t k_len, int rows, int cols, const float *A, int64_t lda,
            const float *P, float *C, int64_t ldc, int o0, const nm_conv_epilogue *e)
{
#define ROW(i) const float *a##i = A + (i < rows ? i : 0) * lda;
    ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7)
#undef ROW
#define ZERO(i) __m512 c##i##0 = _mm512_setzero_ps(), c##i##1 = c##i##0, c##i##2 = c##i##0;
    ZERO(0) ZERO(1) ZERO(2) ZERO(3) ZERO(4) ZERO(5) ZERO(6) ZERO(7)
#undef ZERO
    const float *b = P;
    const __m512 zero = _mm512_setzero_ps();
    for (int64_t k = 0; k < k_len; k++, b += NR) {
        const __m512 b0 = _mm512_loadu_ps(b);
        const __m512 b1 = nz > 1 ? _mm512_loadu_ps(b + 16) : zero;
        const __m512 b2 = nz > 2 ? _mm512_loadu_ps(b + 32) : zero;
#define FMA(i)                                                                               \
        {                                                                                    \
            const __m512 ai = _mm512_set1_ps(a##i[k]);                                        \
            c##i##0 = _mm512_fmadd_ps(ai, b0, c##i##0);                                       \
            if (nz > 1)                                                                      \
                c##i##1 = _mm512_fmadd_ps(ai, b1, c##i##1);                                   \
            if (nz > 2)                                                                      \
                c##i##2 = _mm512_fmadd_ps(ai, b2, c##i##2);                                   \
        }
        FMA(0) FMA(1) FMA(2) FMA(3) FMA(4) FMA(5) FMA(6) FMA(7)
#undef FMA
    }
    /* the epilogue on the registers, then masked stores of the row's
     * columns: scale and shift as a multiply and an add (as the unfused
     * BN), ReLU as max(v, 0) (NaN and -0 give +0, as nm_relu_forward) */
    const __mmask16 m0 = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1u);
    const __mmask16 m1 = cols >= 32 ? 0xFFFF : cols > 16 ? (__mmask16)((1u << (cols - 16)) - 1u) : 0;
    const __mmask16 m2 = cols >= 48 ? 0xFFFF : cols > 32 ? (__mmask16)((1u << (cols - 32)) - 1u) : 0;
    const int relu = e && e->relu;
    const __m512 clip = _mm512_set1_ps(e && e->clip > 0.0f ? e->clip : 0.0f);
    const int clipped = e && e->clip > 0.0f;
#define EPI(v, o)                                                                            \
    do {                                                                                     \
        if (e && e->scale)                                                                   \
            v = _mm512_mul_ps(v, _mm512_set1_ps(e->scale[o]));                               \
        if (e && e->shift)                                                                   \
            v = _mm512_add_ps(v, _mm512_set1_ps(e->shift[o]));                               \
        if (relu)                                                                            \
            v = _mm512_max_ps(v, zero);                                                      \
        if (clipped)                                                                         \
            v = _mm512_min_ps(v, clip);                                                      \
    } while (0)
#define STORE(i)                                                                             \
    if (i < rows) {                                                                          \
        float *c = C + i * ldc;                                                              \
        EPI(c##i##0, o0 + i);                                                                \
        _mm512_mask_storeu_ps(c, m0, c##i##0);                                               \
        if (nz > 1) {                                                                        \
            EPI(c##i##1, o0 + i);                                                            \
            _mm512_mask_storeu_ps(c + 16, m1, c##i##1);                                      \
        }                                                                                    \
        if (nz > 2) {                                                                        \
            EPI(c##i##2, o0 + i);                                                            \
            _mm512_mask_storeu_ps(c + 32, m2, c##i##2);                                      \
        }                                                                                    \
    }
    STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5) STORE(6) STORE(7)
#undef STORE
#undef EPI
}

AVX512 static void kernel_8x48(int64_t k_len, int rows, int cols, const float *A, int64_t lda,
                               const float *P, float *C, int64_t ldc, int o0,
                               const nm_conv_epilogue *e)
{
    if (cols > 32)
        kernel_body(3, k_len, rows, cols, A, lda, P, C, ldc, o0, e);
    else if (cols > 16)
        kernel_body(2, k_len, rows, cols, A, lda, P, C, ldc, o0, e);
    else
        kernel_body(1, k_len, rows, cols, A, lda, P, C, ldc, o0, e);
}
#else
static void kernel_8x48(int64_t k_len, int rows, int cols, const float *A, int64_t lda,
                        const float *P, float *C, int64_t ldc, int o0,
                        const nm_conv_epilogue *e)
{
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            float s = 0.0f;
            for (int64_t k = 0; k < k_len; k++)
                s += A[i * lda + k] * P[k * NR + j];
            C[i * ldc + j] = epi(e, o0 + i, s);
        }
}
#endif

/* Row block ib of group gi on panel jc. */
static void run_block(const nm_conv_geom *g, int64_t np, int gi, int ib, int64_t jc,
                      const float *w, const float *panel, float *y, const nm_conv_epilogue *e)
{
    const int coutg = g->cout / g->groups;
    const int64_t d = rows_d(g);
    const int o0 = gi * coutg + ib * MR;
    const int rows = coutg - ib * MR < MR ? coutg - ib * MR : MR;
    const int64_t c0 = jc * NR;
    const int cols = np - c0 < NR ? (int)(np - c0) : NR;
    kernel_8x48(d, rows, cols, w + (int64_t)o0 * d, d, panel, y + (int64_t)o0 * np + c0, np, o0,
                e);
}

void nm_conv_fast_forward(const nm_conv_geom *g, int n, const float *x, const float *w,
                          const nm_conv_epilogue *e, float *y, float *work)
{
    const int64_t np = (int64_t)n * g->oh * g->ow, d = rows_d(g);
    const int64_t panels = (np + NR - 1) / NR;
    const int blocks = (g->cout / g->groups + MR - 1) / MR;
    int threads = omp_get_max_threads();
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    const int64_t flops = (int64_t)g->cout * d * np;
    const int par = flops > NM_PAR_MIN * 8 && threads > 1;
    for (int gi = 0; gi < g->groups; gi++) {
        if (panels <= SHARED_MAX) {
            /* few panels: pack each once, then split (row block, panel) */
#pragma omp parallel for schedule(static) num_threads(threads) if (par)
            for (int64_t jc = 0; jc < panels; jc++)
                pack_panel(g, n, gi, jc, x, work + jc * d * NR);
            const int64_t tasks = (int64_t)blocks * panels;
#pragma omp parallel for schedule(static) num_threads(threads) if (par)
            for (int64_t t = 0; t < tasks; t++)
                run_block(g, np, gi, (int)(t / panels), t % panels, w,
                          work + (t % panels) * d * NR, y, e);
        } else {
            /* many panels: each thread packs a panel into its own buffer
             * and runs every row block on it */
#pragma omp parallel num_threads(threads) if (par)
            {
                float *mine = work + (int64_t)omp_get_thread_num() * d * NR;
#pragma omp for schedule(static)
                for (int64_t jc = 0; jc < panels; jc++) {
                    pack_panel(g, n, gi, jc, x, mine);
                    for (int ib = 0; ib < blocks; ib++)
                        run_block(g, np, gi, ib, jc, w, mine, y, e);
                }
            }
        }
    }
}

void nm_conv_epilogue_apply(const nm_conv_epilogue *e, int cout, int64_t cols, float *y)
{
#pragma omp parallel for schedule(static) if ((int64_t)cout * cols > NM_PAR_MIN)
    for (int o = 0; o < cout; o++) {
        float *r = y + (int64_t)o * cols;
        for (int64_t i = 0; i < cols; i++)
            r[i] = epi(e, o, r[i]);
    }
}
