/* ukernel.c - the hot loops (ukernel.h) for AVX-512F, AVX2+FMA and baseline
 * x86-64. The build targets baseline x86-64, so the AVX versions carry
 * target attributes and are only called after __builtin_cpu_supports said
 * yes (gemm.c). Two rows x 4 vectors of accumulators stay in registers;
 * each stored value is broadcast once and multiplies 4 vectors of its
 * gathered X row. */
#include "ukernel.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define NM_HAVE_X86 1
#else
#define NM_HAVE_X86 0
#endif

/* Scalar: 16 columns a step, multiply then add (one rounding each, as
 * nm_nm_gemm_ref with fused = 0; strict C17 does not contract them). */
static void ukr_scalar(const nm_ukr_args *a)
{
    for (int64_t c0 = 0; c0 < a->width; c0 += 16) {
        float ya[16] = {0}, yb[16] = {0};
        for (int64_t k = 0; k < a->kpr; k++) {
            const float *x = a->panel + (int64_t)a->ia[k] * a->pw + c0;
            float v = a->va[k];
            for (int j = 0; j < 16; j++)
                ya[j] += v * x[j];
        }
        if (a->vb)
            for (int64_t k = 0; k < a->kpr; k++) {
                const float *x = a->panel + (int64_t)a->ib[k] * a->pw + c0;
                float v = a->vb[k];
                for (int j = 0; j < 16; j++)
                    yb[j] += v * x[j];
            }
        for (int j = 0; j < 16; j++) {
            a->ya[c0 + j] = ya[j];
            if (a->yb)
                a->yb[c0 + j] = yb[j];
        }
    }
}

#if NM_HAVE_X86
__attribute__((target("avx2,fma"))) static void ukr_avx2(const nm_ukr_args *a)
{
    const int64_t pw = a->pw, kpr = a->kpr;
    for (int64_t c0 = 0; c0 < a->width; c0 += 32) {
        const float *p = a->panel + c0;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        if (a->vb) {
            __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            for (int64_t k = 0; k < kpr; k++) {
                const float *xa = p + (int64_t)a->ia[k] * pw, *xb = p + (int64_t)a->ib[k] * pw;
                __m256 va = _mm256_broadcast_ss(a->va + k), vb = _mm256_broadcast_ss(a->vb + k);
                a0 = _mm256_fmadd_ps(va, _mm256_loadu_ps(xa), a0);
                a1 = _mm256_fmadd_ps(va, _mm256_loadu_ps(xa + 8), a1);
                a2 = _mm256_fmadd_ps(va, _mm256_loadu_ps(xa + 16), a2);
                a3 = _mm256_fmadd_ps(va, _mm256_loadu_ps(xa + 24), a3);
                b0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(xb), b0);
                b1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(xb + 8), b1);
                b2 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(xb + 16), b2);
                b3 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(xb + 24), b3);
            }
            _mm256_storeu_ps(a->yb + c0, b0);
            _mm256_storeu_ps(a->yb + c0 + 8, b1);
            _mm256_storeu_ps(a->yb + c0 + 16, b2);
            _mm256_storeu_ps(a->yb + c0 + 24, b3);
        } else {
            for (int64_t k = 0; k < kpr; k++) {
                const float *xa = p + (int64_t)a->ia[k] * pw;
                __m256 va = _mm256_broadcast_ss(a->va + k);
                a0 = _mm256_fmadd_ps(va, _mm256_loadu_ps(xa), a0);
                a1 = _mm256_fmadd_ps(va, _mm256_loadu_ps(xa + 8), a1);
                a2 = _mm256_fmadd_ps(va, _mm256_loadu_ps(xa + 16), a2);
                a3 = _mm256_fmadd_ps(va, _mm256_loadu_ps(xa + 24), a3);
            }
        }
        _mm256_storeu_ps(a->ya + c0, a0);
        _mm256_storeu_ps(a->ya + c0 + 8, a1);
        _mm256_storeu_ps(a->ya + c0 + 16, a2);
        _mm256_storeu_ps(a->ya + c0 + 24, a3);
    }
}

__attribute__((target("avx512f"))) static void ukr_avx512(const nm_ukr_args *a)
{
    const int64_t pw = a->pw, kpr = a->kpr;
    for (int64_t c0 = 0; c0 < a->width; c0 += 64) {
        const float *p = a->panel + c0;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        if (a->vb) {
            __m512 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            for (int64_t k = 0; k < kpr; k++) {
                const float *xa = p + (int64_t)a->ia[k] * pw, *xb = p + (int64_t)a->ib[k] * pw;
                __m512 va = _mm512_set1_ps(a->va[k]), vb = _mm512_set1_ps(a->vb[k]);
                a0 = _mm512_fmadd_ps(va, _mm512_loadu_ps(xa), a0);
                a1 = _mm512_fmadd_ps(va, _mm512_loadu_ps(xa + 16), a1);
                a2 = _mm512_fmadd_ps(va, _mm512_loadu_ps(xa + 32), a2);
                a3 = _mm512_fmadd_ps(va, _mm512_loadu_ps(xa + 48), a3);
                b0 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(xb), b0);
                b1 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(xb + 16), b1);
                b2 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(xb + 32), b2);
                b3 = _mm512_fmadd_ps(vb, _mm512_loadu_ps(xb + 48), b3);
            }
            _mm512_storeu_ps(a->yb + c0, b0);
            _mm512_storeu_ps(a->yb + c0 + 16, b1);
            _mm512_storeu_ps(a->yb + c0 + 32, b2);
            _mm512_storeu_ps(a->yb + c0 + 48, b3);
        } else {
            for (int64_t k = 0; k < kpr; k++) {
                const float *xa = p + (int64_t)a->ia[k] * pw;
                __m512 va = _mm512_set1_ps(a->va[k]);
                a0 = _mm512_fmadd_ps(va, _mm512_loadu_ps(xa), a0);
                a1 = _mm512_fmadd_ps(va, _mm512_loadu_ps(xa + 16), a1);
                a2 = _mm512_fmadd_ps(va, _mm512_loadu_ps(xa + 32), a2);
                a3 = _mm512_fmadd_ps(va, _mm512_loadu_ps(xa + 48), a3);
            }
        }
        _mm512_storeu_ps(a->ya + c0, a0);
        _mm512_storeu_ps(a->ya + c0 + 16, a1);
        _mm512_storeu_ps(a->ya + c0 + 32, a2);
        _mm512_storeu_ps(a->ya + c0 + 48, a3);
    }
}
#endif

int nm_ukr_width(nm_isa isa)
{
    return isa == NM_ISA_AVX512 ? 64 : isa == NM_ISA_AVX2 ? 32 : 16;
}

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
