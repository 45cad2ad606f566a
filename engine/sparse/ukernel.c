/* ukernel.c - the hot loop (ukernel.h) for AVX-512F, AVX2+FMA and baseline
 * x86-64. The build targets baseline x86-64, so the AVX versions carry
 * target attributes and are only called after __builtin_cpu_supports said
 * yes (gemm.c). Two rows at a time, each with up to 8 vector accumulators
 * in registers (2 x 8 zmm = 128 columns on AVX-512; 2 x 4 ymm = 32 columns
 * on AVX2), then fewer vectors for the rest of the width: each stored value
 * is broadcast once and multiplies the vectors of its X row. */
#include "ukernel.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define NM_HAVE_X86 1
#else
#define NM_HAVE_X86 0
#endif

/* One row, scalar: 16 columns a step, multiply then add (one rounding
 * each, as nm_nm_gemm_ref with fused = 0; strict C17 does not contract). */
static void row_scalar(const nm_ukr_args *a, int64_t cnt, const float *v, const int32_t *ix,
                       float *yr)
{
    for (int64_t c0 = 0; c0 < a->width; c0 += 16) {
        float y[16];
        for (int j = 0; j < 16; j++)
            y[j] = a->acc ? yr[c0 + j] : 0.0f;
        for (int64_t k = 0; k < cnt; k++) {
            const float *x = a->panel + (int64_t)ix[k] * a->pw + c0;
            for (int j = 0; j < 16; j++) {
                float prod = v[k] * x[j];
                y[j] += prod;
            }
        }
        for (int j = 0; j < 16; j++)
            yr[c0 + j] = y[j];
    }
}

static void ukr_scalar(const nm_ukr_args *a)
{
    row_scalar(a, a->cnta, a->va, a->ia, a->ya);
    if (a->yb)
        row_scalar(a, a->cntb, a->vb, a->ib, a->yb);
}

#if NM_HAVE_X86
/* NV vectors (of LEN floats) of columns from c0 for both rows: side by side
 * over the common count, then each row's remaining values. */
#define NM_UKR_STEP(VEC, LEN, LOAD, STORE, ZERO, SET1, FMA, NV)                        \
    do {                                                                                \
        VEC A_[NV], B_[NV];                                                             \
        const int two_ = a->yb != NULL;                                                 \
        _Pragma("GCC unroll 8") for (int j = 0; j < NV; j++) {                          \
            A_[j] = a->acc ? LOAD(a->ya + c0 + LEN * j) : ZERO();                       \
            B_[j] = two_ && a->acc ? LOAD(a->yb + c0 + LEN * j) : ZERO();               \
        }                                                                               \
        const float *p_ = a->panel + c0;                                                \
        int64_t nb_ = two_ ? a->cntb : 0, m_ = a->cnta < nb_ ? a->cnta : nb_, k_ = 0;   \
        for (; k_ < m_; k_++) {                                                         \
            const float *xa_ = p_ + (int64_t)a->ia[k_] * a->pw;                         \
            const float *xb_ = p_ + (int64_t)a->ib[k_] * a->pw;                         \
            VEC va_ = SET1(a->va[k_]), vb_ = SET1(a->vb[k_]);                           \
            _Pragma("GCC unroll 8") for (int j = 0; j < NV; j++) {                      \
                A_[j] = FMA(va_, LOAD(xa_ + LEN * j), A_[j]);                           \
                B_[j] = FMA(vb_, LOAD(xb_ + LEN * j), B_[j]);                           \
            }                                                                           \
        }                                                                               \
        for (int64_t t_ = k_; t_ < a->cnta; t_++) {                                     \
            const float *xa_ = p_ + (int64_t)a->ia[t_] * a->pw;                         \
            VEC va_ = SET1(a->va[t_]);                                                  \
            _Pragma("GCC unroll 8") for (int j = 0; j < NV; j++)                        \
                A_[j] = FMA(va_, LOAD(xa_ + LEN * j), A_[j]);                           \
        }                                                                               \
        for (int64_t t_ = k_; t_ < nb_; t_++) {                                         \
            const float *xb_ = p_ + (int64_t)a->ib[t_] * a->pw;                         \
            VEC vb_ = SET1(a->vb[t_]);                                                  \
            _Pragma("GCC unroll 8") for (int j = 0; j < NV; j++)                        \
                B_[j] = FMA(vb_, LOAD(xb_ + LEN * j), B_[j]);                           \
        }                                                                               \
        _Pragma("GCC unroll 8") for (int j = 0; j < NV; j++) {                          \
            STORE(a->ya + c0 + LEN * j, A_[j]);                                         \
            if (two_)                                                                   \
                STORE(a->yb + c0 + LEN * j, B_[j]);                                     \
        }                                                                               \
        c0 += LEN * NV;                                                                 \
    } while (0)

__attribute__((target("avx2,fma"))) static void ukr_avx2(const nm_ukr_args *a)
{
    int64_t c0 = 0;
#define S2(NV) NM_UKR_STEP(__m256, 8, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_setzero_ps, \
                           _mm256_set1_ps, _mm256_fmadd_ps, NV)
    while (a->width - c0 >= 32)
        S2(4);
    if (a->width - c0 >= 16)
        S2(2);
#undef S2
}

__attribute__((target("avx512f"))) static void ukr_avx512(const nm_ukr_args *a)
{
    int64_t c0 = 0;
#define S5(NV) NM_UKR_STEP(__m512, 16, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_setzero_ps, \
                           _mm512_set1_ps, _mm512_fmadd_ps, NV)
    while (a->width - c0 >= 128)
        S5(8);
    if (a->width - c0 >= 64)
        S5(4);
    if (a->width - c0 >= 32)
        S5(2);
    if (a->width - c0 >= 16)
        S5(1);
#undef S5
}
#endif

nm_ukr_fn nm_ukr_get(nm_isa isa)
{
#if NM_HAVE_X86
    if (isa == NM_ISA_AVX512)
        return ukr_avx512;
    if (isa == NM_ISA_AVX2)
        return ukr_avx2;
#endif
    return ukr_scalar;
}
