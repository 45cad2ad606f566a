/* nm_mask.c - N:M magnitude masks: group geometry, per-group top-N, the
 * checker, and N:M over a layer or a whole model with its report. */
#include "prune_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static const char *axis_names[] = {"kernel", "in", "row"};

const char *nm_group_axis_name(nm_group_axis a)
{
    if (a == NM_GROUP_AUTO)
        return "auto";
    return (unsigned)a < 3 ? axis_names[a] : "?";
}

int nm_group_axis_from_name(const char *s)
{
    if (strcmp(s, "auto") == 0)
        return NM_GROUP_AUTO;
    for (int i = 0; i < 3; i++)
        if (strcmp(s, axis_names[i]) == 0)
            return i;
    return -2;
}

nm_group_axis nm_group_axis_default(const nm_layer *l)
{
    if (l->kind == NM_LAYER_LINEAR || (l->kind == NM_LAYER_CONV && l->kh * l->kw == 1))
        return NM_GROUP_IN;
    return NM_GROUP_KERNEL;
}

int nm_groups_make(const nm_tensor *w, int m, nm_group_axis axis, nm_groups *g)
{
    if (!w || w->dtype != NM_F32 || (w->ndim != 2 && w->ndim != 4))
        return nm_seterr("N:M needs a 2-D or 4-D float32 weight");
    if (m < 1)
        return nm_seterr("impossible N:M: M must be at least 1, not %d", m);
    int64_t rows = w->shape[0], C = w->shape[1];
    int64_t K = w->ndim == 4 ? w->shape[2] * w->shape[3] : 1;
    memset(g, 0, sizeof *g);
    g->rows = rows;
    g->D = C * K;
    g->m = m;
    switch (axis) {
    case NM_GROUP_ROW:
        g->nseg = 1, g->seglen = g->D, g->es = 1, g->ss = g->D;
        break;
    case NM_GROUP_KERNEL:
        g->nseg = C, g->seglen = K, g->es = 1, g->ss = K;
        break;
    case NM_GROUP_IN:
        g->nseg = K, g->seglen = C, g->es = K, g->ss = 1;
        break;
    default:
        return nm_seterr("unknown group axis %d", (int)axis);
    }
    g->gps = g->seglen ? (g->seglen + m - 1) / m : 0;
    return NM_OK;
}

/* Larger key first; at equal keys the lower index wins. Pairwise for small
 * groups (branch-free), quickselect on (key, ~index) for larger ones. */
void nm_top_n_any(const uint32_t *v, int len, int n, uint8_t *keep)
{
    if (n >= len || n <= 0) {
        memset(keep, n > 0, (size_t)len);
        return;
    }
    if (len <= 16) {
        int rank[16] = {0};
        for (int i = 0; i < len; i++)
            for (int j = i + 1; j < len; j++) {
                int jw = v[j] > v[i];
                rank[i] += jw;
                rank[j] += !jw;
            }
        for (int i = 0; i < len; i++)
            keep[i] = rank[i] < n;
        return;
    }
    uint64_t k[64], all[64];
    for (int i = 0; i < len; i++)
        all[i] = k[i] = ((uint64_t)v[i] << 32) | (uint32_t)(~(uint32_t)i);
    /* quickselect: the n-th largest unique key becomes the threshold */
    int lo = 0, hi = len - 1, want = n - 1;
    while (lo < hi) {
        uint64_t p = k[(lo + hi) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (k[i] > p) i++;
            while (k[j] < p) j--;
            if (i <= j) {
                uint64_t t = k[i]; k[i] = k[j]; k[j] = t;
                i++, j--;
            }
        }
        if (want <= j)
            hi = j;
        else if (want >= i)
            lo = i;
        else
            break;
    }
    uint64_t thr = k[want];
    for (int i = 0; i < len; i++)
        keep[i] = all[i] >= thr;
}

static int check_nm_args(int n, int m)
{
    if (m < 1 || n < 0 || n > m)
        return nm_seterr("impossible N:M %d:%d (need 0 <= N <= M, M >= 1)", n, m);
    if (m > 64)
        return nm_seterr("N:M with M = %d: M may be at most 64", m);
    return NM_OK;
}

/* One group: keep its n largest surviving |w|. With cand NULL the result
 * is ANDed into the mask; otherwise the mask is left alone and cand marks
 * the survivors outside the top n (JointNF's candidates). Inlined with
 * constant stride/length for the common contiguous cases. */
static inline __attribute__((always_inline)) void prune_group(const float *w, uint8_t *mk,
                                                              uint8_t *cand, int64_t st, int len,
                                                              int n)
{
    uint32_t v[64];
    uint8_t keep[64];
    for (int i = 0; i < len; i++)
        v[i] = mk[i * st] ? nm_abs_bits(w[i * st]) + 1u : 0u;
    nm_top_n(v, len, n, keep);
    for (int i = 0; i < len; i++) {
        if (cand)
            cand[i * st] = mk[i * st] & !keep[i];
        else
            mk[i * st] &= keep[i];
    }
}

/* Four groups at once, one per vector lane: lane k's entry i is at
 * o[k] + i * st. Same ranking as nm_top_n; keys are clamped below 2^31 so
 * the signed vector compare orders them (NaN ranks like +inf). */

static inline __attribute__((always_inline)) void prune4(const float *w, uint8_t *mk,
                                                         uint8_t *cand, const int64_t *o,
                                                         int64_t st, int len, int n)
{
    v4i V[64];
#pragma GCC unroll 16
    for (int i = 0; i < len; i++)
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            int64_t p = o[k] + i * st;
            uint32_t a = nm_abs_bits(w[p]);
            a = a > 0x7f800000u ? 0x7f800000u : a;
            V[i][k] = mk[p] ? (int32_t)(a + 1u) : 0;
        }
    v4i R[64];
    nm_rank4(V, len, R);
#pragma GCC unroll 16
    for (int i = 0; i < len; i++) {
        v4i rank = R[i];
        v4i keep = rank < n;
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            int64_t p = o[k] + i * st;
            if (cand)
                cand[p] = mk[p] & (uint8_t)!(keep[k] & 1);
            else
                mk[p] &= (uint8_t)(keep[k] & 1);
        }
    }
}

/* The same ranking when the lanes' data can be loaded as vectors:
 * transposed (lanes are 4 consecutive groups of 4: a 4x4 block is loaded
 * and transposed) or not (lane k of entry i at o + k + i*st: adjacent). */

static inline __attribute__((always_inline)) v4i lane_keys(v4f x, uint32_t mword)
{
    const v4i absmask = {0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff};
    const v4i cap = {0x7f800000, 0x7f800000, 0x7f800000, 0x7f800000};
    v4i a = (v4i)x & absmask;
    a = a ^ ((a ^ cap) & (a > cap));
    v4i m = {(int32_t)(mword & 0xff), (int32_t)((mword >> 8) & 0xff),
             (int32_t)((mword >> 16) & 0xff), (int32_t)(mword >> 24)};
    return (a + 1) & (m != 0);
}

static inline __attribute__((always_inline)) uint32_t lane_bytes(v4i keep)
{
    return (uint32_t)(keep[0] & 1) | (uint32_t)(keep[1] & 1) << 8 |
           (uint32_t)(keep[2] & 1) << 16 | (uint32_t)(keep[3] & 1) << 24;
}

/* Generic vector version (unused where the SSE2 one below is built; still
 * compiled everywhere so it stays correct). */
static inline __attribute__((always_inline, unused)) void prune4_vec(const float *w, uint8_t *mk,
                                                                     uint8_t *cand, int64_t o,
                                                                     int64_t st, int len, int n,
                                                                     int transposed)
{
    v4i V[16];
    uint32_t M[16];
    if (transposed) { /* len == 4, st == 1: groups at o, o+4, o+8, o+12 */
        v4f r[4];
        uint32_t b[4];
        memcpy(r, w + o, sizeof r);
        memcpy(b, mk + o, sizeof b);
        v4f t0 = __builtin_shufflevector(r[0], r[1], 0, 4, 1, 5);
        v4f t1 = __builtin_shufflevector(r[2], r[3], 0, 4, 1, 5);
        v4f t2 = __builtin_shufflevector(r[0], r[1], 2, 6, 3, 7);
        v4f t3 = __builtin_shufflevector(r[2], r[3], 2, 6, 3, 7);
        v4f c[4] = {__builtin_shufflevector(t0, t1, 0, 1, 4, 5),
                    __builtin_shufflevector(t0, t1, 2, 3, 6, 7),
                    __builtin_shufflevector(t2, t3, 0, 1, 4, 5),
                    __builtin_shufflevector(t2, t3, 2, 3, 6, 7)};
        for (int i = 0; i < 4; i++) {
            M[i] = ((b[0] >> (8 * i)) & 0xff) | ((b[1] >> (8 * i)) & 0xff) << 8 |
                   ((b[2] >> (8 * i)) & 0xff) << 16 | ((b[3] >> (8 * i)) & 0xff) << 24;
            V[i] = lane_keys(c[i], M[i]);
        }
    } else {
#pragma GCC unroll 16
        for (int i = 0; i < len; i++) {
            v4f x;
            memcpy(&x, w + o + i * st, sizeof x);
            memcpy(&M[i], mk + o + i * st, sizeof M[i]);
            V[i] = lane_keys(x, M[i]);
        }
    }
    uint32_t out[16];
    v4i R[64];
    nm_rank4(V, len, R);
#pragma GCC unroll 16
    for (int i = 0; i < len; i++) {
        v4i rank = R[i];
        uint32_t kb = lane_bytes(rank < n);
        out[i] = cand ? M[i] & ~kb & 0x01010101u : M[i] & kb;
    }
    uint8_t *dst = cand ? cand : mk;
    if (transposed) {
        uint32_t b[4];
        for (int k = 0; k < 4; k++)
            b[k] = (out[0] >> (8 * k) & 0xff) | (out[1] >> (8 * k) & 0xff) << 8 |
                   (out[2] >> (8 * k) & 0xff) << 16 | (out[3] >> (8 * k) & 0xff) << 24;
        memcpy(dst + o, b, sizeof b);
    } else {
        for (int i = 0; i < len; i++)
            memcpy(dst + o + i * st, &out[i], sizeof out[i]);
    }
}

#if defined(__SSE2__)
/* prune4_vec with SSE2 intrinsics: the mask bytes stay in vector registers
 * (transposed with byte unpacks, widened to lanes and packed back) instead
 * of going through scalar byte arithmetic. Same ranking, same results. */
static inline __attribute__((always_inline)) __m128i sse_keys(__m128 x, __m128i m)
{
    const __m128i absmask = _mm_set1_epi32(0x7fffffff), cap = _mm_set1_epi32(0x7f800000);
    __m128i a = _mm_and_si128(_mm_castps_si128(x), absmask);
    __m128i big = _mm_cmpgt_epi32(a, cap);
    a = _mm_or_si128(_mm_and_si128(big, cap), _mm_andnot_si128(big, a));
    a = _mm_add_epi32(a, _mm_set1_epi32(1));
    /* m: one mask byte per 32-bit lane (0 or nonzero) */
    return _mm_andnot_si128(_mm_cmpeq_epi32(m, _mm_setzero_si128()), a);
}

/* 4x4 byte transpose of 16 bytes (row k = 4 bytes) */
static inline __attribute__((always_inline)) __m128i sse_tr16(__m128i x)
{
    __m128i y = _mm_unpacklo_epi8(x, _mm_srli_si128(x, 8));
    return _mm_unpacklo_epi8(y, _mm_srli_si128(y, 8));
}

/* Loads four groups into lanes: V[i] the keys, M[i] the mask bytes (one
 * per 32-bit lane). transposed: st == 1 and lane k is the group at
 * o + k*len; otherwise lane k of entry i is at o + k + i*st. */
static inline __attribute__((always_inline)) void sse_load4(const float *w, const uint8_t *mk,
                                                            int64_t o, int64_t st, int len,
                                                            int transposed, __m128i *V, __m128i *M)
{
    const __m128i zero = _mm_setzero_si128();
    if (transposed) {
        int i = 0;
#pragma GCC unroll 4
        for (; i + 4 <= len; i += 4) {
            const float *b = w + o + i;
            __m128 r0 = _mm_loadu_ps(b), r1 = _mm_loadu_ps(b + len);
            __m128 r2 = _mm_loadu_ps(b + 2 * len), r3 = _mm_loadu_ps(b + 3 * len);
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
            int32_t q[4];
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++)
                memcpy(&q[k], mk + o + k * len + i, sizeof q[k]);
            __m128i mb = sse_tr16(_mm_setr_epi32(q[0], q[1], q[2], q[3]));
            __m128i lo = _mm_unpacklo_epi8(mb, zero), hi = _mm_unpackhi_epi8(mb, zero);
            M[i] = _mm_unpacklo_epi16(lo, zero);
            M[i + 1] = _mm_unpackhi_epi16(lo, zero);
            M[i + 2] = _mm_unpacklo_epi16(hi, zero);
            M[i + 3] = _mm_unpackhi_epi16(hi, zero);
            V[i] = sse_keys(r0, M[i]);
            V[i + 1] = sse_keys(r1, M[i + 1]);
            V[i + 2] = sse_keys(r2, M[i + 2]);
            V[i + 3] = sse_keys(r3, M[i + 3]);
        }
#pragma GCC unroll 4
        for (; i < len; i++) {
            const int64_t p = o + i;
            M[i] = _mm_setr_epi32(mk[p], mk[p + len], mk[p + 2 * len], mk[p + 3 * len]);
            V[i] = sse_keys(_mm_setr_ps(w[p], w[p + len], w[p + 2 * len], w[p + 3 * len]), M[i]);
        }
    } else {
#pragma GCC unroll 16
        for (int i = 0; i < len; i++) {
            int32_t word;
            memcpy(&word, mk + o + i * st, sizeof word);
            __m128i b = _mm_unpacklo_epi8(_mm_cvtsi32_si128(word), zero);
            M[i] = _mm_unpacklo_epi16(b, zero);
            V[i] = sse_keys(_mm_loadu_ps(w + o + i * st), M[i]);
        }
    }
}

/* The new mask (cand NULL) or candidate bytes of four lanes from their
 * keep flags (0 or 1 per lane), stored back the way sse_load4 loaded. */
static inline __attribute__((always_inline)) void sse_store4(uint8_t *mk, uint8_t *cand,
                                                             int64_t o, int64_t st, int len,
                                                             int transposed, const __m128i *M,
                                                             const __m128i *keep)
{
    const __m128i zero = _mm_setzero_si128(), one = _mm_set1_epi32(1);
    __m128i out[16];
#pragma GCC unroll 16
    for (int i = 0; i < len; i++) {
        __m128i mbit = _mm_andnot_si128(_mm_cmpeq_epi32(M[i], zero), one);
        out[i] = cand ? _mm_andnot_si128(keep[i], mbit) : _mm_and_si128(M[i], keep[i]);
    }
    uint8_t *dst = cand ? cand : mk;
    if (transposed) {
        int i = 0;
#pragma GCC unroll 4
        for (; i + 4 <= len; i += 4) {
            __m128i p = _mm_packs_epi16(_mm_packs_epi32(out[i], out[i + 1]),
                                        _mm_packs_epi32(out[i + 2], out[i + 3]));
            int32_t q[4];
            _mm_storeu_si128((__m128i *)q, sse_tr16(p));
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++)
                memcpy(dst + o + k * len + i, &q[k], sizeof q[k]);
        }
#pragma GCC unroll 4
        for (; i < len; i++) {
            int32_t q[4];
            _mm_storeu_si128((__m128i *)q, out[i]);
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++)
                dst[o + k * len + i] = (uint8_t)q[k];
        }
    } else {
#pragma GCC unroll 16
        for (int i = 0; i < len; i++) {
            __m128i p = _mm_packus_epi16(_mm_packs_epi32(out[i], zero), zero);
            int32_t word = _mm_cvtsi128_si32(p);
            memcpy(dst + o + i * st, &word, sizeof word);
        }
    }
}

static inline __attribute__((always_inline)) void prune4_sse2(const float *w, uint8_t *mk,
                                                              uint8_t *cand, int64_t o, int64_t st,
                                                              int len, int n, int transposed)
{
    __m128i V[16], M[16], R[16], keep[16];
    sse_load4(w, mk, o, st, len, transposed, V, M);
    /* R[i] = how many entries beat i: each pair moves one count, so R[j]
     * starts at j (the pairs where i < j and i wins) */
#pragma GCC unroll 16
    for (int i = 0; i < len; i++)
        R[i] = _mm_set1_epi32(i);
#pragma GCC unroll 16
    for (int i = 0; i < len; i++)
#pragma GCC unroll 16
        for (int j = i + 1; j < len; j++) {
            __m128i c = _mm_cmpgt_epi32(V[j], V[i]); /* -1: j beats i */
            R[i] = _mm_sub_epi32(R[i], c);
            R[j] = _mm_add_epi32(R[j], c);
        }
    const __m128i nv = _mm_set1_epi32(n), one = _mm_set1_epi32(1);
#pragma GCC unroll 16
    for (int i = 0; i < len; i++)
        keep[i] = _mm_and_si128(_mm_cmpgt_epi32(nv, R[i]), one);
    sse_store4(mk, cand, o, st, len, transposed, M, keep);
}

/* Eight contiguous groups of len (group k at o + k*len) ranked in eight
 * lanes (one AVX2 register in the avx2 clone, two SSE2 ones otherwise):
 * loaded and stored as two transposed halves of four. Same keys and
 * ranking as prune4_sse2. */
static inline __attribute__((always_inline)) void prune8_sse2(const float *w, uint8_t *mk,
                                                              uint8_t *cand, int64_t o, int len,
                                                              int n)
{
    __m128i V[2][16], M[2][16], keep[2][16];
    v8i X[16], R[16];
    sse_load4(w, mk, o, 1, len, 1, V[0], M[0]);
    sse_load4(w, mk, o + 4 * len, 1, len, 1, V[1], M[1]);
#pragma GCC unroll 16
    for (int i = 0; i < len; i++) {
        X[i] = __builtin_shufflevector((v4i)V[0][i], (v4i)V[1][i], 0, 1, 2, 3, 4, 5, 6, 7);
        R[i] = (v8i){i, i, i, i, i, i, i, i};
    }
#pragma GCC unroll 16
    for (int i = 0; i < len; i++)
#pragma GCC unroll 16
        for (int j = i + 1; j < len; j++) {
            v8i c = X[j] > X[i]; /* -1: j beats i */
            R[i] -= c;
            R[j] += c;
        }
#pragma GCC unroll 16
    for (int i = 0; i < len; i++) {
        v8i k = (R[i] < n) & 1;
        keep[0][i] = (__m128i)__builtin_shufflevector(k, k, 0, 1, 2, 3);
        keep[1][i] = (__m128i)__builtin_shufflevector(k, k, 4, 5, 6, 7);
    }
    sse_store4(mk, cand, o, 1, len, 1, M[0], keep[0]);
    sse_store4(mk, cand, o + 4 * len, 1, len, 1, M[1], keep[1]);
}

/* ng contiguous groups of m (m 4 or 9) from o: eight at a time, then four,
 * then one by one. Built for AVX2 and for the baseline. */
NM_CLONES static void prune_contig(const float *w, uint8_t *mk, uint8_t *cand, int64_t o,
                                   int64_t ng, int m, int n)
{
    int64_t g = 0;
    if (m == 9) {
        for (; g + 8 <= ng; g += 8)
            prune8_sse2(w, mk, cand, o + g * 9, 9, n);
        for (; g + 4 <= ng; g += 4)
            prune4_sse2(w, mk, cand, o + g * 9, 1, 9, n, 1);
    } else {
        for (; g + 8 <= ng; g += 8)
            prune8_sse2(w, mk, cand, o + g * 4, 4, n);
        for (; g + 4 <= ng; g += 4)
            prune4_sse2(w, mk, cand, o + g * 4, 1, 4, n, 1);
    }
    for (; g < ng; g++)
        prune_group(w + o + g * m, mk + o + g * m, cand ? cand + o + g * m : NULL, 1, m, n);
}
#define PRUNE4_VEC prune4_sse2
#else
#define PRUNE4_VEC prune4_vec
#endif

static void prune4_len(const float *w, uint8_t *mk, uint8_t *cand, const int64_t *o, int64_t st,
                       int len, int n)
{
    if (len <= n)
        return;
    if (o[1] == o[0] + 1 && o[2] == o[0] + 2 && o[3] == o[0] + 3 && (len == 4 || len == 9)) {
        if (len == 4)
            PRUNE4_VEC(w, mk, cand, o[0], st, 4, n, 0);
        else
            PRUNE4_VEC(w, mk, cand, o[0], st, 9, n, 0);
        return;
    }
    if (len == 4 && st == 1 && o[1] == o[0] + 4 && o[2] == o[0] + 8 && o[3] == o[0] + 12) {
        PRUNE4_VEC(w, mk, cand, o[0], 1, 4, n, 1);
        return;
    }
#if defined(__SSE2__)
    if (len == 9 && st == 1 && o[1] == o[0] + 9 && o[2] == o[0] + 18 && o[3] == o[0] + 27) {
        prune4_sse2(w, mk, cand, o[0], 1, 9, n, 1);
        return;
    }
#endif
    if (len == 4 && st == 1)
        prune4(w, mk, cand, o, 1, 4, n);
    else if (len == 4)
        prune4(w, mk, cand, o, st, 4, n);
    else if (len == 9 && st == 1)
        prune4(w, mk, cand, o, 1, 9, n);
    else if (len == 9)
        prune4(w, mk, cand, o, st, 9, n);
    else if (len == 8)
        prune4(w, mk, cand, o, st, 8, n);
    else if (len == 2)
        prune4(w, mk, cand, o, st, 2, n);
    else
        for (int k = 0; k < 4; k++)
            prune_group(w + o[k], mk + o[k], cand ? cand + o[k] : NULL, st, len, n);
}

/* N:M on row r: four groups at a time across segments when a row has at
 * least four (kernel axis), else across consecutive groups of a segment
 * (in axis of 1x1 convs, row axis); the rest one by one. Groups no longer
 * than N are skipped (all kept; in cand mode cand must start zeroed). */
void nm_nm_row(const nm_groups *g, const float *w, uint8_t *mk, uint8_t *cand, int64_t r, int n)
{
    if (g->seglen <= n)
        return;
    int64_t m = g->m, base = r * g->D, o[4];
    int64_t s = 0;
#if defined(__SSE2__)
    /* the row is a run of contiguous groups of 4 or 9 (kernel axis with
     * seglen M, or one segment: 1x1 convs and linears on the in axis) */
    if (g->es == 1 && (m == 9 || m == 4) && n < m &&
        (g->nseg == 1 || (g->ss == g->seglen && g->seglen % m == 0))) {
        int64_t full = g->nseg * (g->seglen / m), tail = g->seglen % m;
        prune_contig(w, mk, cand, base, full, (int)m, n);
        if (tail > n) /* nseg == 1 here */
            prune_group(w + base + full * m, mk + base + full * m,
                        cand ? cand + base + full * m : NULL, 1, (int)tail, n);
        return;
    }
#endif
    if (g->nseg >= 4 && g->m <= 16) {
        for (; s + 4 <= g->nseg; s += 4)
            for (int64_t j = 0; j < g->seglen; j += m) {
                int len = (int)(g->seglen - j < m ? g->seglen - j : m);
                for (int k = 0; k < 4; k++)
                    o[k] = base + (s + k) * g->ss + j * g->es;
                prune4_len(w, mk, cand, o, g->es, len, n);
            }
    }
    for (; s < g->nseg; s++) {
        int64_t sb = base + s * g->ss, j = 0;
        if (g->m <= 16)
            for (; j + 4 * m <= g->seglen; j += 4 * m) {
                for (int k = 0; k < 4; k++)
                    o[k] = sb + (j + k * m) * g->es;
                prune4_len(w, mk, cand, o, g->es, (int)m, n);
            }
        for (; j < g->seglen; j += m) {
            int len = (int)(g->seglen - j < m ? g->seglen - j : m);
            int64_t at = sb + j * g->es;
            if (len > n)
                prune_group(w + at, mk + at, cand ? cand + at : NULL, g->es, len, n);
        }
    }
}

int nm_prune_nm_tensor(const nm_tensor *w, nm_tensor *mask, int n, int m, nm_group_axis axis)
{
    nm_groups g;
    if (check_nm_args(n, m) || nm_groups_make(w, m, axis, &g))
        return NM_ERR;
    if (!mask || mask->dtype != NM_U8 || mask->numel != w->numel)
        return nm_seterr("N:M: the mask must be uint8 with the weight's %lld entries",
                         (long long)w->numel);
    const float *wd = nm_f32(w);
    uint8_t *md = nm_u8(mask);
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < g.rows; r++)
        nm_nm_row(&g, wd, md, NULL, r, n);
    return NM_OK;
}

int nm_check_nm(const nm_tensor *w, const nm_tensor *mask, int n, int m, nm_group_axis axis,
                int64_t *violations, int64_t *groups)
{
    nm_groups g;
    if (check_nm_args(n, m) || nm_groups_make(w, m, axis, &g))
        return NM_ERR;
    if (mask && (mask->dtype != NM_U8 || mask->numel != w->numel))
        return nm_seterr("N:M check: the mask must be uint8 with the weight's %lld entries",
                         (long long)w->numel);
    const float *wd = nm_f32(w);
    const uint8_t *md = mask ? nm_u8(mask) : NULL;
    int64_t bad = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad)
    for (int64_t r = 0; r < g.rows; r++) {
        NM_FOR_GROUPS_OF_ROW(&g, r, o, len, st, {
            int nz = 0;
            for (int i = 0; i < len; i++) {
                int64_t p = o + i * st;
                nz += wd[p] != 0.0f && (!md || md[p]);
            }
            bad += nz > n;
        })
    }
    int64_t ng = nm_groups_count(&g);
    if (violations)
        *violations = bad;
    if (groups)
        *groups = ng;
    return NM_OK;
}

int nm_nm_layer_geom(nm_layer *l, int n, int m, nm_group_axis axis, nm_groups *g)
{
    if (axis == NM_GROUP_AUTO)
        axis = nm_group_axis_default(l);
    if (nm_layer_ensure_mask(l))
        return NM_ERR;
    if (check_nm_args(n, m) || nm_groups_make(l->weight, m, axis, g))
        return nm_preperr(l->name);
    return NM_OK;
}

int nm_prune_nm_layer(nm_layer *l, int n, int m, nm_group_axis axis)
{
    if (axis == NM_GROUP_AUTO)
        axis = nm_group_axis_default(l);
    if (nm_layer_ensure_mask(l))
        return NM_ERR;
    if (nm_prune_nm_tensor(l->weight, l->mask, n, m, axis))
        return nm_preperr(l->name);
    l->wn = n;
    l->wm = m;
    return NM_OK;
}

/* ---- scope -------------------------------------------------------------- */

const nm_layer_override *nm_prune_override(const nm_model *mdl, int idx,
                                           const nm_prune_scope *scope)
{
    if (!scope)
        return NULL;
    for (int i = 0; i < scope->n_overrides; i++)
        if (scope->overrides[i].layer && strcmp(scope->overrides[i].layer, mdl->layers[idx].name) == 0)
            return &scope->overrides[i];
    return NULL;
}

int nm_prune_eligible(const nm_model *mdl, int idx, const nm_prune_scope *scope,
                      const char **reason)
{
    const char *why = "";
    const nm_layer *l = &mdl->layers[idx];
    const nm_layer_override *ov = nm_prune_override(mdl, idx, scope);
    int first = -1, last = -1;
    for (int i = 0; i < mdl->n_layers; i++)
        if (nm_layer_prunable(&mdl->layers[i]) && mdl->layers[i].weight) {
            if (first < 0)
                first = i;
            last = i;
        }
    if (!nm_layer_prunable(l) || !l->weight)
        why = "not prunable";
    else if (ov && ov->skip)
        why = "skipped by option";
    else if (ov && ov->force)
        why = "";
    else if (idx == first && !(scope && scope->include_first))
        why = "first conv";
    else if (idx == last && idx != first && !(scope && scope->include_last))
        why = "classifier";
    if (reason)
        *reason = why;
    return why[0] == '\0';
}

/* ---- model-wide N:M and report ------------------------------------------ */

void nm_nm_opts_init(nm_nm_opts *o, int n, int m)
{
    memset(o, 0, sizeof *o);
    o->n = n;
    o->m = m;
    o->axis = NM_GROUP_AUTO;
}

/* The N:M and axis the options give layer idx. */
static void resolve(const nm_model *mdl, int idx, const nm_nm_opts *o, int *n, int *m,
                    nm_group_axis *axis)
{
    const nm_layer *l = &mdl->layers[idx];
    const nm_layer_override *ov = o ? nm_prune_override(mdl, idx, &o->scope) : NULL;
    *n = o ? o->n : l->wn;
    *m = o ? o->m : l->wm;
    *axis = o ? o->axis : NM_GROUP_AUTO;
    if (ov && ov->m > 0)
        *n = ov->n, *m = ov->m;
    if (ov && ov->axis != NM_GROUP_AUTO)
        *axis = ov->axis;
    if (*axis == NM_GROUP_AUTO)
        *axis = nm_group_axis_default(l);
}

int nm_prune_nm_model(nm_model *mdl, const nm_nm_opts *o, nm_prune_report **report)
{
    if (report)
        *report = NULL;
    if (check_nm_args(o->n, o->m))
        return NM_ERR;
    if (o->calib) {     /* Wanda: the same pass on |w| x input norm */
        nm_nm_opts p = *o;
        p.calib = NULL;
        nm_wanda_saved sv = {0};
        if (nm_calib_check(mdl, o->calib, &o->scope) || nm_wanda_scale(mdl, o->calib, &sv))
            return NM_ERR;
        int rc = nm_prune_nm_model(mdl, &p, NULL);
        nm_wanda_unscale(mdl, &sv);
        nm_wanda_saved_free(&sv);
        if (rc == NM_OK && report && !(*report = nm_prune_report_new(mdl, &p)))
            return NM_ERR;
        return rc;
    }
    for (int i = 0; i < mdl->n_layers; i++) {
        if (!nm_prune_eligible(mdl, i, &o->scope, NULL))
            continue;
        int n, m;
        nm_group_axis axis;
        resolve(mdl, i, o, &n, &m, &axis);
        if (nm_prune_nm_layer(&mdl->layers[i], n, m, axis))
            return NM_ERR;
    }
    if (report && !(*report = nm_prune_report_new(mdl, o)))
        return NM_ERR;
    return NM_OK;
}

nm_prune_report *nm_prune_report_new(const nm_model *mdl, const nm_nm_opts *o)
{
    nm_prune_report *r = calloc(1, sizeof *r);
    int count = 0;
    for (int i = 0; i < mdl->n_layers; i++)
        count += nm_layer_prunable(&mdl->layers[i]) && mdl->layers[i].weight != NULL;
    if (r)
        r->layers = calloc((size_t)(count ? count : 1), sizeof *r->layers);
    if (!r || !r->layers) {
        free(r);
        nm_seterr("out of memory");
        return NULL;
    }
    for (int i = 0; i < mdl->n_layers; i++) {
        const nm_layer *l = &mdl->layers[i];
        if (!nm_layer_prunable(l) || !l->weight)
            continue;
        nm_prune_layer_info *e = &r->layers[r->n_layers++];
        e->layer = i;
        snprintf(e->name, sizeof e->name, "%s", l->name);
        e->pruned = o ? nm_prune_eligible(mdl, i, &o->scope, &e->skip_reason) : 1;
        if (!o)
            e->skip_reason = "";
        resolve(mdl, i, e->pruned ? o : NULL, &e->n, &e->m, &e->axis);
        nm_layer_stats s;
        nm_layer_stats_get(mdl, i, &s);
        e->params = s.params;
        e->nonzeros = s.nonzeros;
        e->sparsity = s.params ? 1.0 - (double)s.nonzeros / (double)s.params : 0;
        e->filters = s.filters;
        e->filters_kept = s.filters_kept;
        e->filter_sparsity = s.filters ? 1.0 - (double)s.filters_kept / s.filters : 0;
        e->nm_holds = 1;
        if (e->m > 0 && e->m <= 64 && e->n <= e->m) {
            nm_check_nm(l->weight, l->mask, e->n, e->m, e->axis, &e->nm_violations, &e->nm_groups);
            e->nm_holds = e->nm_violations == 0;
        }
        r->params += s.params;
        r->nonzeros += s.nonzeros;
    }
    r->sparsity = r->params ? 1.0 - (double)r->nonzeros / (double)r->params : 0;
    return r;
}

void nm_prune_report_free(nm_prune_report *r)
{
    if (!r)
        return;
    free(r->layers);
    free(r);
}
