/* nmrelu.c - NMReLU: ReLU, then N:M along activation groups (JOINTNF.md
 * section 2), its backward pass and activation density statistics.
 *
 * Every layout reduces to a matrix [R x L] and one of two group shapes:
 *   along rows: groups of M consecutive entries inside each row
 *               (NCHW position axis: rows = B*C, L = H*W;
 *                (B, F) channel axis: rows = B, L = F)
 *   down columns: groups of M consecutive rows inside each column
 *               (NCHW channel axis: per image, rows = C, L = H*W;
 *                (B, F) position axis: rows = B, L = F)
 * The column form walks rows contiguously with per-column counters, so
 * memory is streamed in both cases. */
#include "prune_int.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define COLBLK 256

static inline uint32_t pos_key(float v)
{
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    return v > 0.0f ? u : 0u; /* positive floats order like their bits */
}


/* topk on four groups of length len at x + k*len (k = 0..3), one per vector
 * lane: positive floats compare like their bits as signed integers. */
static inline __attribute__((always_inline)) void topk4(const float *x, float *y, int len, int n)
{
    v4i V[64];
#pragma GCC unroll 16
    for (int i = 0; i < len; i++)
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++)
            V[i][k] = (int32_t)pos_key(x[k * len + i]);
    v4i R[64];
    nm_rank4(V, len, R);
#pragma GCC unroll 16
    for (int i = 0; i < len; i++) {
        v4i rank = R[i];
        v4i keep = (rank < n) & (V[i] > 0);
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++)
            y[k * len + i] = keep[k] ? x[k * len + i] : 0.0f;
    }
}

#if defined(__SSE2__)
/* topk4 with SSE2: entries are brought into lanes four at a time with a
 * 4x4 transpose of the four groups (rows x + k*len), the rest lane by
 * lane; positive floats compare like their bits as signed integers. */
static inline __attribute__((always_inline)) void topk4_sse2(const float *x, float *y, int len,
                                                             int n)
{
    __m128 X[16];
    __m128i V[16], R[16];
    const __m128 fz = _mm_setzero_ps();
    int i = 0;
    #pragma GCC unroll 16
    for (; i + 4 <= len; i += 4) {
        __m128 r0 = _mm_loadu_ps(x + i), r1 = _mm_loadu_ps(x + len + i);
        __m128 r2 = _mm_loadu_ps(x + 2 * len + i), r3 = _mm_loadu_ps(x + 3 * len + i);
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        X[i] = r0, X[i + 1] = r1, X[i + 2] = r2, X[i + 3] = r3;
    }
    #pragma GCC unroll 16
    for (; i < len; i++)
        X[i] = _mm_setr_ps(x[i], x[len + i], x[2 * len + i], x[3 * len + i]);
    #pragma GCC unroll 16
    for (i = 0; i < len; i++) {
        V[i] = _mm_and_si128(_mm_castps_si128(X[i]), _mm_castps_si128(_mm_cmpgt_ps(X[i], fz)));
        R[i] = _mm_setzero_si128();
    }
    #pragma GCC unroll 16
    for (i = 0; i < len; i++)
        #pragma GCC unroll 16
        for (int j = i + 1; j < len; j++) {
            __m128i c = _mm_cmpgt_epi32(V[j], V[i]);
            R[i] = _mm_sub_epi32(R[i], c);
            R[j] = _mm_sub_epi32(R[j], _mm_xor_si128(c, _mm_set1_epi32(-1)));
        }
    const __m128i nv = _mm_set1_epi32(n);
    #pragma GCC unroll 16
    for (i = 0; i < len; i++) {
        __m128i keep = _mm_and_si128(_mm_cmpgt_epi32(nv, R[i]),
                                     _mm_cmpgt_epi32(V[i], _mm_setzero_si128()));
        X[i] = _mm_and_ps(X[i], _mm_castsi128_ps(keep));
    }
    #pragma GCC unroll 16
    for (i = 0; i + 4 <= len; i += 4) {
        __m128 r0 = X[i], r1 = X[i + 1], r2 = X[i + 2], r3 = X[i + 3];
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        _mm_storeu_ps(y + i, r0);
        _mm_storeu_ps(y + len + i, r1);
        _mm_storeu_ps(y + 2 * len + i, r2);
        _mm_storeu_ps(y + 3 * len + i, r3);
    }
    #pragma GCC unroll 16
    for (; i < len; i++) {
        float t[4];
        _mm_storeu_ps(t, X[i]);
        #pragma GCC unroll 16
        for (int k = 0; k < 4; k++)
            y[k * len + i] = t[k];
    }
}
#endif

static void topk4_len(const float *x, float *y, int len, int n)
{
#if defined(__SSE2__)
    if (len == 4) {
        topk4_sse2(x, y, 4, n);
        return;
    }
    if (len == 9) {
        topk4_sse2(x, y, 9, n);
        return;
    }
#endif
    if (len == 4)
        topk4(x, y, 4, n);
    else if (len == 9)
        topk4(x, y, 9, n);
    else if (len == 8)
        topk4(x, y, 8, n);
    else
        topk4(x, y, len, n);
}

/* first on four groups of length len at x + k*len, one per lane. */
static inline __attribute__((always_inline)) void first4(const float *x, float *y, int len, int n)
{
    v4i cnt = {0, 0, 0, 0};
#pragma GCC unroll 16
    for (int i = 0; i < len; i++) {
        v4i pos;
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++)
            pos[k] = -(x[k * len + i] > 0.0f);
        v4i keep = pos & (cnt < n);
        cnt -= pos;
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++)
            y[k * len + i] = keep[k] ? x[k * len + i] : 0.0f;
    }
}

static void first4_len(const float *x, float *y, int len, int n)
{
    if (len == 4)
        first4(x, y, 4, n);
    else if (len == 9)
        first4(x, y, 9, n);
    else if (len == 8)
        first4(x, y, 8, n);
    else
        first4(x, y, len, n);
}

/* Groups along rows. x and y may alias. */
void nm_nmrelu_rows(const float *x, float *y, int64_t R, int64_t L, int n, int m,
                        nm_act_policy policy)
{
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < R; r++) {
        const float *xr = x + r * L;
        float *yr = y + r * L;
        int64_t g = 0;
        if (m <= 16)
            for (; g + 4 * m <= L; g += 4 * m) {
                if (policy == NM_POLICY_TOPK)
                    topk4_len(xr + g, yr + g, m, n);
                else
                    first4_len(xr + g, yr + g, m, n);
            }
        for (; g < L; g += m) {
            int len = (int)(L - g < m ? L - g : m);
            if (policy == NM_POLICY_FIRST) {
                int cnt = 0;
                for (int i = 0; i < len; i++) {
                    float v = xr[g + i];
                    int pos = v > 0.0f;
                    yr[g + i] = pos && cnt < n ? v : 0.0f;
                    cnt += pos;
                }
            } else {
                uint32_t k[64];
                uint8_t keep[64];
                for (int i = 0; i < len; i++)
                    k[i] = pos_key(xr[g + i]);
                nm_top_n(k, len, n, keep);
                for (int i = 0; i < len; i++)
                    yr[g + i] = keep[i] && k[i] ? xr[g + i] : 0.0f;
            }
        }
    }
}

/* ---- groups down columns ----
 * Eight columns per vector: the len rows of a group are loaded as len
 * vectors (ReLU applied: NaN and negatives become +0), ranked pairwise in
 * registers (R[j] starts at j and each pair moves one count: the same
 * ranking as nm_rank4, ties to the lower row) and written back, so every
 * entry is read and written once. Columns past the last multiple of eight
 * go one by one, and so do groups of other lengths than 2, 4, 8 and 9
 * under topk. */

#define RELU8(a, p)                                                                        \
    do {                                                                                   \
        memcpy(&(a), (p), sizeof(a));                                                      \
        (a) = (v8f)((v8i)(a) & ((a) > 0.0f));                                              \
    } while (0)

static inline __attribute__((always_inline)) void col_topk8(const float *x, float *y, int64_t L,
                                                            int len, int n)
{
    v8f X[16];
    v8i R[16] = {{0}};
#pragma GCC unroll 16
    for (int i = 0; i < len; i++) {
        RELU8(X[i], x + i * L);
        R[i] = (v8i){i, i, i, i, i, i, i, i};
    }
#pragma GCC unroll 16
    for (int i = 0; i < len; i++)
#pragma GCC unroll 16
        for (int j = i + 1; j < len; j++) {
            v8i c = X[j] > X[i]; /* -1 where row j wins */
            R[i] -= c;
            R[j] += c;
        }
#pragma GCC unroll 16
    for (int i = 0; i < len; i++) {
        v8f out = (v8f)((v8i)X[i] & (R[i] < n));
        memcpy(y + i * L, &out, sizeof out);
    }
}

/* One column the slow way (tails, groups longer than 16). */
static void col_one(const float *x, float *y, int64_t L, int len, int n, nm_act_policy policy)
{
    if (policy == NM_POLICY_FIRST) {
        int cnt = 0;
        for (int i = 0; i < len; i++) {
            float v = x[i * L];
            int pos = v > 0.0f;
            y[i * L] = pos && cnt < n ? v : 0.0f;
            cnt += pos;
        }
        return;
    }
    uint32_t k[64] = {0};
    uint8_t keep[64];
    for (int i = 0; i < len; i++)
        k[i] = pos_key(x[i * L]);
    nm_top_n(k, len, n, keep);
    for (int i = 0; i < len; i++)
        y[i * L] = keep[i] && k[i] ? x[i * L] : 0.0f;
}

/* Columns [0, cw) of one group of len rows starting at x (row stride L). */
NM_CLONES static void col_block(const float *x, float *y, int64_t L, int64_t cw, int len, int n,
                                nm_act_policy policy)
{
    int64_t c = 0;
    if (policy == NM_POLICY_FIRST) {
        for (; c + 8 <= cw; c += 8) {
            v8i cnt = {0, 0, 0, 0, 0, 0, 0, 0};
            for (int i = 0; i < len; i++) {
                v8f a;
                RELU8(a, x + i * L + c);
                v8i pos = a > 0.0f;
                v8f out = (v8f)((v8i)a & (cnt < n));
                cnt -= pos;
                memcpy(y + i * L + c, &out, sizeof out);
            }
        }
    } else if (len == 9) {
        for (; c + 8 <= cw; c += 8)
            col_topk8(x + c, y + c, L, 9, n);
    } else if (len == 4) {
        for (; c + 8 <= cw; c += 8)
            col_topk8(x + c, y + c, L, 4, n);
    } else if (len == 8) {
        for (; c + 8 <= cw; c += 8)
            col_topk8(x + c, y + c, L, 8, n);
    } else if (len == 2) {
        for (; c + 8 <= cw; c += 8)
            col_topk8(x + c, y + c, L, 2, n);
    }
    for (; c < cw; c++)
        col_one(x + c, y + c, L, len, n, policy);
}

/* Groups down columns. x and y may alias. Columns are cut into blocks of
 * at least COLBLK (a multiple of 8) so both threads get work. */
void nm_nmrelu_cols(const float *x, float *y, int64_t R, int64_t L, int n, int m,
                        nm_act_policy policy)
{
    int64_t ngr = (R + m - 1) / m;
    int64_t blk = L;
    if (ngr < 16 && L > COLBLK) { /* few groups: split the columns as well */
        blk = (L * ngr + 15) / 16;
        blk = (blk + 7) / 8 * 8;
        blk = blk < COLBLK ? COLBLK : blk;
    }
    int64_t nblk = L ? (L + blk - 1) / blk : 0;
#pragma omp parallel for schedule(static) collapse(2)
    for (int64_t gr = 0; gr < ngr; gr++)
        for (int64_t b = 0; b < nblk; b++) {
            int64_t c0 = b * blk, cw = L - c0 < blk ? L - c0 : blk;
            int64_t r0 = gr * m;
            int len = (int)(R - r0 < m ? R - r0 : m);
            col_block(x + r0 * L + c0, y + r0 * L + c0, L, cw, len, n, policy);
        }
}

/* The matrix view of an activation tensor: images x [R x L], along rows or not. */
static int act_view(const nm_tensor *x, nm_act_axis axis, int64_t *images, int64_t *R, int64_t *L,
                    int *along_rows)
{
    if (!x || x->dtype != NM_F32 || (x->ndim != 4 && x->ndim != 2))
        return nm_seterr("NMReLU needs a float32 NCHW (4-D) or (batch, features) (2-D) tensor");
    if (axis != NM_AXIS_POSITION && axis != NM_AXIS_CHANNEL)
        return nm_seterr("NMReLU: unknown axis %d", (int)axis);
    if (x->ndim == 4) {
        int64_t hw = x->shape[2] * x->shape[3];
        if (axis == NM_AXIS_POSITION)
            *images = 1, *R = x->shape[0] * x->shape[1], *L = hw, *along_rows = 1;
        else
            *images = x->shape[0], *R = x->shape[1], *L = hw, *along_rows = 0;
    } else {
        *images = 1, *R = x->shape[0], *L = x->shape[1];
        *along_rows = axis == NM_AXIS_CHANNEL;
    }
    return NM_OK;
}

int nm_nmrelu_forward(const nm_tensor *x, nm_tensor *y, int n, int m, nm_act_policy policy,
                      nm_act_axis axis)
{
    if (m < 1 || n < 0 || n > m || m > 64)
        return nm_seterr("NMReLU: impossible N:M %d:%d (need 0 <= N <= M, 1 <= M <= 64)", n, m);
    if (policy != NM_POLICY_FIRST && policy != NM_POLICY_TOPK)
        return nm_seterr("NMReLU: unknown policy %d", (int)policy);
    int64_t images, R, L;
    int rows;
    if (act_view(x, axis, &images, &R, &L, &rows))
        return NM_ERR;
    if (!y || y->dtype != NM_F32 || !nm_tensor_same_shape(x, y))
        return nm_seterr("NMReLU: output must be float32 with the input's shape");
    for (int64_t b = 0; b < images; b++) {
        const float *xs = nm_f32(x) + b * R * L;
        float *ys = nm_f32(y) + b * R * L;
        if (rows)
            nm_nmrelu_rows(xs, ys, R, L, n, m, policy);
        else
            nm_nmrelu_cols(xs, ys, R, L, n, m, policy);
    }
    return NM_OK;
}

int nm_nmrelu_backward(const nm_tensor *y, const nm_tensor *dy, nm_tensor *dx)
{
    if (!y || !dy || !dx || y->dtype != NM_F32 || dy->dtype != NM_F32 || dx->dtype != NM_F32 ||
        !nm_tensor_same_shape(y, dy) || !nm_tensor_same_shape(y, dx))
        return nm_seterr("NMReLU backward: y, dy and dx must be float32 of one shape");
    const float *yv = nm_f32(y), *g = nm_f32(dy);
    float *d = nm_f32(dx);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < y->numel; i++)
        d[i] = yv[i] != 0.0f ? g[i] : 0.0f;
    return NM_OK;
}

int nm_act_density(const nm_tensor *y, int n, int m, nm_act_axis axis, nm_act_stats *s,
                   double *per_channel)
{
    if (m < 1 || n < 0 || n > m)
        return nm_seterr("activation stats: impossible N:M %d:%d", n, m);
    int64_t images, R, L;
    int rows;
    if (act_view(y, axis, &images, &R, &L, &rows))
        return NM_ERR;
    memset(s, 0, sizeof *s);
    const float *v = nm_f32(y);
    int64_t nz = 0, groups = 0, full = 0;
    for (int64_t b = 0; b < images; b++) {
        const float *ys = v + b * R * L;
        int64_t outer = rows ? R : L, inner = rows ? L : R;
        int64_t ostride = rows ? L : 1, istride = rows ? 1 : L;
#pragma omp parallel for schedule(static) reduction(+ : nz, groups, full)
        for (int64_t o = 0; o < outer; o++)
            for (int64_t g = 0; g < inner; g += m) {
                int64_t len = inner - g < m ? inner - g : m, c = 0;
                for (int64_t i = 0; i < len; i++)
                    c += ys[o * ostride + (g + i) * istride] != 0.0f;
                nz += c;
                groups++;
                full += c == (len < n ? len : n);
            }
    }
    s->numel = y->numel;
    s->nonzeros = nz;
    s->density = y->numel ? (double)nz / (double)y->numel : 0;
    s->groups = groups;
    s->full_groups = full;
    if (per_channel) {
        int64_t C = y->shape[1], B = y->shape[0], hw = y->ndim == 4 ? y->shape[2] * y->shape[3] : 1;
        for (int64_t c = 0; c < C; c++) {
            int64_t k = 0;
            for (int64_t b = 0; b < B; b++)
                for (int64_t p = 0; p < hw; p++)
                    k += v[(b * C + c) * hw + p] != 0.0f;
            per_channel[c] = B * hw > 0 ? (double)k / (double)(B * hw) : 0;
        }
    }
    return NM_OK;
}
