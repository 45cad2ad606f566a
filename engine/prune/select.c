/* select.c - exact selection of the k smallest |w| over several arrays.
 *
 * A radix select on the float bits: |x| as a 31-bit unsigned key orders
 * like the magnitude. Pass 1 histograms the high 16 bits and finds the
 * bucket holding the k-th smallest key; pass 2 histograms the low 15 bits
 * inside that bucket, which gives the exact threshold key T and how many
 * entries equal to T must be taken. Pass 3 takes every key < T and the
 * first entries equal to T in (segment, index) order, so ties go to the
 * earlier entry. Work is split into fixed chunks run with OpenMP; there is
 * no sort anywhere. A faster two-pass variant (run_fast, below) is tried
 * first; the three-pass one handles a crowded boundary bucket. With
 * eligibility bytes, a sampled one-pass variant (run_sampled) comes before
 * both, and nm_select_generated runs it on pieces whose eligibility is made
 * on the fly (JointNF's candidates, ranked row by row in the pass). */
#include "prune_int.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define CHUNK ((int64_t)1 << 16)

void *nm_scratch_alloc(size_t bytes)
{
    const size_t huge = (size_t)2 << 20;
    if (bytes < huge / 2)
        return malloc(bytes ? bytes : 1);
    void *p = NULL;
    if (posix_memalign(&p, huge, (bytes + huge - 1) / huge * huge))
        return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, (bytes + huge - 1) / huge * huge, MADV_HUGEPAGE);
#endif
    return p;
}
#define HI_BUCKETS 65536
#define LO_BUCKETS 32768

typedef struct {
    int seg;
    int64_t start, len;
    int64_t eq, lt;  /* entries equal to / below T in this chunk */
    int64_t take;    /* entries equal to T this chunk gives up */
} chunk;

typedef struct {
    chunk *chunks;
    int64_t n_chunks;
    int64_t *hist;   /* nthreads * HI_BUCKETS, made by the slow path only */
    int nthreads;
} plan;

static void plan_free(plan *p)
{
    free(p->chunks);
    free(p->hist);
}

static int plan_make(const nm_select_seg *segs, int n_segs, plan *p)
{
    memset(p, 0, sizeof *p);
    int64_t nc = 0;
    for (int s = 0; s < n_segs; s++) {
        if (segs[s].n < 0 || (segs[s].n && (!segs[s].w || !segs[s].mask)))
            return nm_seterr("selection: segment %d is malformed", s);
        nc += (segs[s].n + CHUNK - 1) / CHUNK;
    }
    p->nthreads = omp_get_max_threads();
    p->chunks = malloc((size_t)(nc ? nc : 1) * sizeof *p->chunks);
    if (!p->chunks)
        return nm_seterr("out of memory");
    for (int s = 0; s < n_segs; s++)
        for (int64_t a = 0; a < segs[s].n; a += CHUNK) {
            chunk *c = &p->chunks[p->n_chunks++];
            c->seg = s, c->start = a, c->eq = 0;
            c->len = segs[s].n - a < CHUNK ? segs[s].n - a : CHUNK;
        }
    return NM_OK;
}

/* Histogram of (key >> shift) & (nb - 1) over eligible entries whose
 * key >> match_shift == match (match_shift 32: no filter). Result summed
 * into out[0..nb). */
static void histogram(const nm_select_seg *segs, plan *p, int shift, int nb, int match_shift,
                      uint32_t match, int64_t *out)
{
    memset(p->hist, 0, (size_t)p->nthreads * HI_BUCKETS * sizeof *p->hist);
#pragma omp parallel
    {
        int64_t *h = p->hist + (size_t)omp_get_thread_num() * HI_BUCKETS;
#pragma omp for schedule(dynamic, 4)
        for (int64_t ci = 0; ci < p->n_chunks; ci++) {
            const chunk *c = &p->chunks[ci];
            const float *w = segs[c->seg].w + c->start;
            const uint8_t *e = segs[c->seg].elig ? segs[c->seg].elig + c->start : NULL;
            if (match_shift >= 32) {
                for (int64_t i = 0; i < c->len; i++)
                    if (!e || e[i])
                        h[nm_abs_bits(w[i]) >> shift]++;
            } else {
                for (int64_t i = 0; i < c->len; i++) {
                    uint32_t k = nm_abs_bits(w[i]);
                    if ((!e || e[i]) && (k >> match_shift) == match)
                        h[k & (uint32_t)(nb - 1)]++;
                }
            }
        }
    }
    memset(out, 0, (size_t)nb * sizeof *out);
    for (int t = 0; t < p->nthreads; t++)
        for (int b = 0; b < nb; b++)
            out[b] += p->hist[(size_t)t * HI_BUCKETS + b];
}

/* Finds the threshold key T and how many entries equal to T are taken
 * (need_eq >= 1), for k >= 1 not above the eligible count (checked). */
static int find_threshold(const nm_select_seg *segs, plan *p, int64_t k, uint32_t *T,
                          int64_t *need_eq)
{
    /* per-thread histograms (freed by plan_free) and their sum */
    p->hist = malloc((size_t)p->nthreads * HI_BUCKETS * sizeof *p->hist);
    int64_t *h = malloc(HI_BUCKETS * sizeof *h);
    if (!p->hist || !h) {
        free(h);
        return nm_seterr("out of memory");
    }
    histogram(segs, p, 15, HI_BUCKETS, 32, 0, h);
    int64_t total = 0;
    for (int b = 0; b < HI_BUCKETS; b++)
        total += h[b];
    if (k > total) {
        free(h);
        return nm_seterr("cannot select %lld entries: only %lld are eligible", (long long)k,
                         (long long)total);
    }
    int64_t below = 0;
    int hb = 0;
    while (below + h[hb] < k)
        below += h[hb++];
    histogram(segs, p, 0, LO_BUCKETS, 15, (uint32_t)hb, h);
    int lb = 0;
    while (below + h[lb] < k)
        below += h[lb++];
    *T = ((uint32_t)hb << 15) | (uint32_t)lb;
    *need_eq = k - below;
    free(h);
    return NM_OK;
}

/* Pass 3a: per chunk, count entries equal to and below T, and (when mark)
 * clear the mask bits of those below T. */
static void pass_less(const nm_select_seg *segs, plan *p, uint32_t T, int mark)
{
#pragma omp parallel for schedule(dynamic, 4)
    for (int64_t ci = 0; ci < p->n_chunks; ci++) {
        chunk *c = &p->chunks[ci];
        const float *w = segs[c->seg].w + c->start;
        const uint8_t *e = segs[c->seg].elig ? segs[c->seg].elig + c->start : NULL;
        uint8_t *mk = segs[c->seg].mask + c->start;
        int64_t eq = 0, lt = 0;
        for (int64_t i = 0; i < c->len; i++) {
            uint32_t k = nm_abs_bits(w[i]);
            int el = !e || e[i];
            int less = el && k < T;
            eq += el && k == T;
            if (mark && less)
                mk[i] = 0;
            lt += less;
        }
        c->eq = eq;
        c->lt = lt;
    }
}

/* Pass 3b: gives each chunk its share of the need_eq equal entries, in
 * chunk order, adds the per-segment totals to per_seg (if not NULL), and
 * when mark clears the chosen equal entries. */
static void pass_equal(const nm_select_seg *segs, plan *p, uint32_t T, int64_t need_eq, int mark,
                       int64_t *per_seg)
{
    int64_t left = need_eq;
    for (int64_t ci = 0; ci < p->n_chunks; ci++) {
        chunk *c = &p->chunks[ci];
        c->take = c->eq < left ? c->eq : left;
        left -= c->take;
        if (per_seg)
            per_seg[c->seg] += c->lt + c->take;
    }
    if (!mark)
        return;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t ci = 0; ci < p->n_chunks; ci++) {
        chunk *c = &p->chunks[ci];
        int64_t take = c->take;
        if (!take)
            continue;
        const float *w = segs[c->seg].w + c->start;
        const uint8_t *e = segs[c->seg].elig ? segs[c->seg].elig + c->start : NULL;
        uint8_t *mk = segs[c->seg].mask + c->start;
        for (int64_t i = 0; i < c->len && take > 0; i++)
            if ((!e || e[i]) && nm_abs_bits(w[i]) == T) {
                mk[i] = 0;
                take--;
            }
    }
}

/* ---- the fast path: one coarse pass, then only the boundary bucket ----
 *
 * Pass A histograms the top 12 key bits (4096 buckets, cache-resident) and
 * finds the bucket B holding the k-th smallest. Pass B clears everything
 * below B and lists the entries inside B as (chunk, offset, low 19 bits),
 * each thread a contiguous run of chunks so the lists concatenate in
 * (segment, index) order. The exact cut inside B is then found on the list
 * alone. Used when B is not too crowded; otherwise the three-pass path. */
#define FAST_SHIFT 19
#define FAST_BUCKETS 4096
int64_t nm_select_fast_max = (int64_t)1 << 22;

#ifdef __clang__
/* clang has no per-function optimisation level (and its cost model keeps
 * this loop scalar): clang builds are for fuzzing and sanitizers */
#define NM_OPT_O3
#else
#define NM_OPT_O3 __attribute__((optimize("O3")))
#endif

/* Clears (when mk is not NULL) the eligible entries whose top key bits are
 * below hb, returns how many there are, flags those inside hb (flags[i])
 * and counts them. Written
 * to vectorise (hence O3 here: the build's -O2 keeps loops scalar). */
NM_OPT_O3 static int64_t mark_below(const float *w, const uint8_t *e, uint8_t *mk, int64_t n,
                                    uint32_t hb, uint8_t *flags, int64_t *inside)
{
    int64_t lt = 0, in = 0;
    for (int64_t i = 0; i < n; i++) {
        uint32_t top = nm_abs_bits(w[i]) >> FAST_SHIFT;
        uint32_t el = e ? e[i] != 0 : 1;
        uint32_t less = el & (top < hb), mem = el & (top == hb);
        lt += less;
        in += mem;
        flags[i] = (uint8_t)mem;
        if (mk)
            mk[i] &= (uint8_t)!less;
    }
    *inside = in;
    return lt;
}

static int run_fast(const nm_select_seg *segs, plan *p, int64_t k, int mark, int64_t *per_seg,
                    int *done)
{
    *done = 0;
    int nt = p->nthreads;
    int64_t *h = calloc((size_t)nt * FAST_BUCKETS, sizeof *h);
    if (!h)
        return nm_seterr("out of memory");
#pragma omp parallel num_threads(nt)
    {
        int64_t *hl = h + (size_t)omp_get_thread_num() * FAST_BUCKETS;
#pragma omp for schedule(dynamic, 4)
        for (int64_t ci = 0; ci < p->n_chunks; ci++) {
            const chunk *c = &p->chunks[ci];
            const float *w = segs[c->seg].w + c->start;
            const uint8_t *e = segs[c->seg].elig ? segs[c->seg].elig + c->start : NULL;
            if (e) {
                for (int64_t i = 0; i < c->len; i++)
                    hl[nm_abs_bits(w[i]) >> FAST_SHIFT] += e[i] != 0;
            } else {
                for (int64_t i = 0; i < c->len; i++)
                    hl[nm_abs_bits(w[i]) >> FAST_SHIFT]++;
            }
        }
    }
    for (int t = 1; t < nt; t++)
        for (int b = 0; b < FAST_BUCKETS; b++)
            h[b] += h[(size_t)t * FAST_BUCKETS + b];
    int64_t total = 0, below = 0;
    for (int b = 0; b < FAST_BUCKETS; b++)
        total += h[b];
    if (k > total) {
        free(h);
        return nm_seterr("cannot select %lld entries: only %lld are eligible", (long long)k,
                         (long long)total);
    }
    uint32_t hb = 0;
    while (below + h[hb] < k)
        below += h[hb++];
    int64_t inb = h[hb];
    free(h);
    if (inb > nm_select_fast_max)
        return NM_OK; /* crowded boundary bucket: not done, take the slow path */

    /* pass B */
    uint64_t *list = malloc((size_t)nt * (size_t)(inb + 1) * sizeof *list);
    int64_t *len = calloc((size_t)nt, sizeof *len);
    uint8_t *all_flags = calloc((size_t)nt, CHUNK + 8);
    if (!list || !len || !all_flags) {
        free(list);
        free(len);
        free(all_flags);
        return nm_seterr("out of memory");
    }
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num();
        uint64_t *ls = list + (size_t)t * (size_t)(inb + 1);
        uint8_t *flags = all_flags + (size_t)t * (CHUNK + 8);
        int64_t n = 0;
#pragma omp for schedule(static)
        for (int64_t ci = 0; ci < p->n_chunks; ci++) {
            chunk *c = &p->chunks[ci];
            const float *w = segs[c->seg].w + c->start;
            const uint8_t *e = segs[c->seg].elig ? segs[c->seg].elig + c->start : NULL;
            uint8_t *mk = segs[c->seg].mask + c->start;
            int64_t lt = 0;
            int64_t inside = 0;
            lt = mark_below(w, e, mark ? mk : NULL, c->len, hb, flags, &inside);
            /* list the bucket members, skipping eight empty flags at a time */
            for (int64_t i = 0; inside && i < c->len; i += 8) {
                uint64_t word;
                memcpy(&word, flags + i, sizeof word);
                if (!word)
                    continue;
                for (int64_t j = i; j < i + 8 && j < c->len; j++)
                    if (flags[j])
                        ls[n++] = ((uint64_t)ci << 35) | ((uint64_t)j << FAST_SHIFT) |
                                  (nm_abs_bits(w[j]) & ((1u << FAST_SHIFT) - 1));
            }
            c->lt = lt;
        }
        len[t] = n;
    }
    /* concatenate in thread order (= chunk order) */
    int64_t nl = len[0];
    for (int t = 1; t < nt; t++) {
        memmove(list + nl, list + (size_t)t * (size_t)(inb + 1), (size_t)len[t] * sizeof *list);
        nl += len[t];
    }
    free(len);
    free(all_flags);
    /* exact cut inside the bucket: two small histograms over the list */
    int64_t r = k - below;
    int64_t *h2 = calloc(1024, sizeof *h2);
    if (!h2) {
        free(list);
        return nm_seterr("out of memory");
    }
    for (int64_t j = 0; j < nl; j++)
        h2[(list[j] & ((1u << FAST_SHIFT) - 1)) >> 9]++;
    int64_t b2 = 0, cum = 0;
    while (cum + h2[b2] < r)
        cum += h2[b2++];
    memset(h2, 0, 1024 * sizeof *h2);
    for (int64_t j = 0; j < nl; j++) {
        uint32_t low = (uint32_t)(list[j] & ((1u << FAST_SHIFT) - 1));
        if ((low >> 9) == b2)
            h2[low & 511]++;
    }
    int64_t b3 = 0;
    while (cum + h2[b3] < r)
        cum += h2[b3++];
    free(h2);
    uint32_t tlow = (uint32_t)((b2 << 9) | b3);
    int64_t need_eq = r - cum;
    if (per_seg)
        for (int64_t ci = 0; ci < p->n_chunks; ci++)
            per_seg[p->chunks[ci].seg] += p->chunks[ci].lt;
    for (int64_t j = 0; j < nl; j++) {
        uint32_t low = (uint32_t)(list[j] & ((1u << FAST_SHIFT) - 1));
        int take = low < tlow || (low == tlow && need_eq > 0);
        if (!take)
            continue;
        if (low == tlow)
            need_eq--;
        const chunk *c = &p->chunks[list[j] >> 35];
        if (mark)
            segs[c->seg].mask[c->start + (int64_t)((list[j] >> FAST_SHIFT) & 0xffff)] = 0;
        if (per_seg)
            per_seg[c->seg]++;
    }
    free(list);
    *done = 1;
    return NM_OK;
}

/* ---- the one-pass path: sample, then clear and list in one pass ----
 *
 * When every segment has eligibility bytes (global magnitude: the mask
 * itself; JointNF: its candidates), a 1/16 sample
 * (the first SAMPLE_RUN entries of every 16 * SAMPLE_RUN: runs long enough
 * for the prefetcher) estimates the key band [lo, hi]
 * that holds the k-th smallest, with a wide margin. One pass then clears
 * every eligible entry below lo (noting each in an undo bitmap), lists
 * those inside the band in (segment, index) order and counts the eligible
 * entries. If the k-th smallest is inside the band (it nearly always is),
 * the exact cut comes from the list and only the chosen band entries are
 * cleared: one read of the weights and masks in all. Otherwise (a sample
 * far off, or a band too crowded to list) the cleared entries are restored
 * from the bitmap (as 1: they were eligible, so kept) and the selection
 * runs the two-pass way. */
#if defined(__SSE2__)
#include <emmintrin.h>

int64_t nm_select_sample_min = (int64_t)1 << 20;
double nm_select_sample_bias = 0;
int64_t nm_select_sample_cap = 0;
int nm_select_sample_last = 0;
int nm_select_avx2 = 1;

#define SBITS 15 /* sample histogram on key >> SBITS: 65536 buckets */
#define SAMPLE_RUN 1024
#define SBUCKETS 65536

/* bits set in a byte (the x86-64 baseline has no popcnt instruction) */
static const uint8_t bits8[256] = {
#define B2(n) n, n + 1, n + 1, n + 2
#define B4(n) B2(n), B2(n + 1), B2(n + 1), B2(n + 2)
#define B6(n) B4(n), B4(n + 1), B4(n + 1), B4(n + 2)
    B6(0), B6(1), B6(1), B6(2)
#undef B2
#undef B4
#undef B6
};

typedef struct {
    int64_t below, inb, elig;
    int over;    /* the thread's band list overflowed */
} band_count;

/* The entries of a chunk from i (a multiple of 64) to len, one by one:
 * band_chunk's work for the last partial undo word. */
static void band_tail(const float *w, const uint8_t *e, uint8_t *mk, int64_t i, int64_t len,
                      uint32_t lo, uint32_t hi, uint64_t ci, uint64_t *undo, uint64_t *ls,
                      int64_t *nl, int64_t cap, band_count *bc)
{
    if (i >= len)
        return;
    uint64_t u = 0;
    int64_t n = *nl;
    for (int64_t j = i; j < len; j++) {
        uint32_t key = nm_abs_bits(w[j]);
        if (!e[j])
            continue;
        bc->elig++;
        if (key < lo) {
            mk[j] = 0;
            u |= (uint64_t)1 << (j - i);
            bc->below++;
        } else if (key <= hi) {
            bc->inb++;
            if (n < cap)
                ls[n++] = ci << 48 | (uint64_t)j << 32 | key;
            else
                bc->over = 1;
        }
    }
    undo[i / 64] = u;
    *nl = n;
}

/* One chunk: clears (and notes in undo) eligible entries with key < lo,
 * lists band members into ls (up to cap), counts. */
static void band_chunk(const float *w, const uint8_t *e, uint8_t *mk, int64_t len, uint32_t lo,
                       uint32_t hi,
                       uint64_t ci, uint64_t *undo, uint64_t *ls, int64_t *nl, int64_t cap,
                       band_count *bc)
{
    const __m128i absmask = _mm_set1_epi32(0x7fffffff), zero = _mm_setzero_si128();
    const __m128i vlo = _mm_set1_epi32((int32_t)lo), vhi = _mm_set1_epi32((int32_t)hi);
    int64_t i = 0, below = 0, inb = 0, el = 0, n = *nl;
    for (; i + 64 <= len; i += 64) {
        uint64_t u = 0;
        for (int sub = 0; sub < 64; sub += 8) {
            const int64_t p = i + sub;
            __m128i k0 = _mm_and_si128(_mm_loadu_si128((const __m128i *)(w + p)), absmask);
            __m128i k1 = _mm_and_si128(_mm_loadu_si128((const __m128i *)(w + p + 4)), absmask);
            __m128i eb = _mm_loadl_epi64((const __m128i *)(e + p));
            __m128i z = _mm_cmpeq_epi8(eb, zero), z16 = _mm_unpacklo_epi8(z, z);
            __m128i z0 = _mm_unpacklo_epi16(z16, z16), z1 = _mm_unpackhi_epi16(z16, z16);
            __m128i lt0 = _mm_andnot_si128(z0, _mm_cmplt_epi32(k0, vlo));
            __m128i lt1 = _mm_andnot_si128(z1, _mm_cmplt_epi32(k1, vlo));
            __m128i out0 = _mm_or_si128(z0, _mm_or_si128(_mm_cmplt_epi32(k0, vlo),
                                                         _mm_cmpgt_epi32(k0, vhi)));
            __m128i out1 = _mm_or_si128(z1, _mm_or_si128(_mm_cmplt_epi32(k1, vlo),
                                                         _mm_cmpgt_epi32(k1, vhi)));
            unsigned mlt = (unsigned)_mm_movemask_ps(_mm_castsi128_ps(lt0)) |
                           (unsigned)_mm_movemask_ps(_mm_castsi128_ps(lt1)) << 4;
            unsigned mband = ~((unsigned)_mm_movemask_ps(_mm_castsi128_ps(out0)) |
                               (unsigned)_mm_movemask_ps(_mm_castsi128_ps(out1)) << 4) & 0xffu;
            unsigned mz = (unsigned)_mm_movemask_epi8(z) & 0xffu;
            el += 8 - bits8[mz];
            if (mlt) {
                __m128i lb = _mm_packs_epi16(_mm_packs_epi32(lt0, lt1), zero);
                __m128i mb = _mm_loadl_epi64((const __m128i *)(mk + p));
                _mm_storel_epi64((__m128i *)(mk + p), _mm_andnot_si128(lb, mb));
                u |= (uint64_t)mlt << sub;
                below += bits8[mlt];
            }
            while (mband) {
                int j = __builtin_ctz(mband);
                mband &= mband - 1;
                inb++;
                if (n < cap) {
                    uint32_t key = nm_abs_bits(w[p + j]);
                    ls[n++] = ci << 48 | (uint64_t)(p + j) << 32 | key;
                } else {
                    bc->over = 1;
                }
            }
        }
        undo[i / 64] = u;
    }
    *nl = n;
    bc->below += below;
    bc->inb += inb;
    bc->elig += el;
    band_tail(w, e, mk, i, len, lo, hi, ci, undo, ls, nl, cap, bc);
}

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define NM_BAND_AVX2 1
/* band_chunk with AVX2: 32 entries per step (four vectors of eight keys,
 * the eligibility bytes in one register), so the bookkeeping (masks,
 * counts, the branch) runs once per 32 instead of once per 8. Same
 * clears, list (in index order), counts and undo bits. */
__attribute__((target("avx2,popcnt"))) static void
band_chunk_avx2(const float *w, const uint8_t *e, uint8_t *mk, int64_t len, uint32_t lo,
                uint32_t hi, uint64_t ci, uint64_t *undo, uint64_t *ls, int64_t *nl, int64_t cap,
                band_count *bc)
{
    const __m256i absmask = _mm256_set1_epi32(0x7fffffff), zero = _mm256_setzero_si256();
    const __m256i vlo = _mm256_set1_epi32((int32_t)lo), vhi = _mm256_set1_epi32((int32_t)hi);
    /* byte j of a broadcast 32-bit mask picks mask byte j / 8, then bit j % 8 */
    const __m256i shuf = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                          2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bitsel = _mm256_set1_epi64x((int64_t)0x8040201008040201ull);
    int64_t i = 0, below = 0, inb = 0, el = 0, n = *nl;
    for (; i + 64 <= len; i += 64) {
        uint64_t u = 0;
        for (int sub = 0; sub < 64; sub += 32) {
            const int64_t p = i + sub;
            __m256i eb = _mm256_loadu_si256((const __m256i *)(e + p));
            uint32_t mz = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(eb, zero));
            uint32_t mltk = 0, mgt = 0;
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++) {
                __m256i k = _mm256_and_si256(_mm256_loadu_si256((const __m256i *)(w + p + 8 * q)),
                                             absmask);
                mltk |= (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(vlo, k)))
                        << (8 * q);
                mgt |= (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(k, vhi)))
                       << (8 * q);
            }
            uint32_t mlt = mltk & ~mz, mband = ~(mz | mltk | mgt);
            el += 32 - __builtin_popcount(mz);
            if (mlt) {
                __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int32_t)mlt), shuf);
                __m256i lb = _mm256_cmpeq_epi8(_mm256_and_si256(v, bitsel), bitsel);
                __m256i mb = _mm256_loadu_si256((const __m256i *)(mk + p));
                _mm256_storeu_si256((__m256i *)(mk + p), _mm256_andnot_si256(lb, mb));
                u |= (uint64_t)mlt << sub;
                below += __builtin_popcount(mlt);
            }
            while (mband) {
                int j = __builtin_ctz(mband);
                mband &= mband - 1;
                inb++;
                if (n < cap) {
                    uint32_t key = nm_abs_bits(w[p + j]);
                    ls[n++] = ci << 48 | (uint64_t)(p + j) << 32 | key;
                } else {
                    bc->over = 1;
                }
            }
        }
        undo[i / 64] = u;
    }
    *nl = n;
    bc->below += below;
    bc->inb += inb;
    bc->elig += el;
    band_tail(w, e, mk, i, len, lo, hi, ci, undo, ls, nl, cap, bc);
}
#endif

/* The key band [*lo, *hi] around the cut that a sample's histogram h
 * (SBUCKETS buckets, ns entries, a fraction f of the eligible ones)
 * predicts for est_k of est_elig eligible entries: the rank the cut has in
 * the sample with an 8-sigma margin (plus 0.2 % and 64). Returns how many
 * entries the band may list (twice its sampled members scaled up, or
 * nm_select_sample_cap when a test sets it). */
static int64_t sample_band(const int64_t *h, int64_t ns, double est_k, double est_elig,
                           double f, uint32_t *lo, uint32_t *hi)
{
    double q = est_k / est_elig + nm_select_sample_bias;
    q = q < 0 ? 0 : q > 1 ? 1 : q;
    double r = q * (double)ns, sig = sqrt((double)ns * (q * (1 - q) + 1e-6));
    double margin = 8 * sig + 0.002 * (double)ns + 64;
    double rlo = r - margin, rhi = r + margin;
    int blo = 0, bhi = SBUCKETS - 1;
    int64_t cum = 0;
    for (int b = 0; b < SBUCKETS; b++) {
        if ((double)(cum + h[b]) <= rlo)
            blo = b + 1;
        cum += h[b];
        if ((double)cum >= rhi) {
            bhi = b;
            break;
        }
    }
    if (blo > bhi)
        blo = bhi;
    int64_t in_sample = 0;
    for (int b = blo; b <= bhi; b++)
        in_sample += h[b];
    *lo = (uint32_t)blo << SBITS, *hi = ((uint32_t)bhi << SBITS) | ((1u << SBITS) - 1);
    int64_t cap = (int64_t)(2.0 * (double)in_sample / f) + 4096;
    return nm_select_sample_cap > 0 ? nm_select_sample_cap : cap;
}

/* The exact cut among the nl band members in list (key in the low 32 bits,
 * inside [lo, hi]): the key T and how many entries equal to T (*need_eq)
 * complete the need smallest; a histogram of (key - lo) >> SBITS, then of
 * the low SBITS bits inside the chosen bucket. need <= 0 leaves T = lo and
 * need_eq = 0. NM_OK, or NM_ERR out of memory. */
static int band_cut(const uint64_t *list, int64_t nl, int64_t need, uint32_t lo, uint32_t hi,
                    uint32_t *T, int64_t *need_eq)
{
    *T = lo, *need_eq = 0;
    if (need <= 0)
        return NM_OK;
    int nb = (int)((hi >> SBITS) - (lo >> SBITS)) + 1;
    size_t nh = (size_t)(nb > (1 << SBITS) ? nb : (1 << SBITS));
    int64_t *h2 = calloc(nh, sizeof *h2);
    if (!h2)
        return nm_seterr("out of memory");
    for (int64_t j = 0; j < nl; j++)
        h2[((uint32_t)list[j] - lo) >> SBITS]++;
    int b1 = 0;
    int64_t c1 = 0;
    while (c1 + h2[b1] < need)
        c1 += h2[b1++];
    memset(h2, 0, nh * sizeof *h2);
    for (int64_t j = 0; j < nl; j++) {
        uint32_t key = (uint32_t)list[j];
        if (((key - lo) >> SBITS) == (uint32_t)b1)
            h2[key & ((1u << SBITS) - 1)]++;
    }
    int b2 = 0;
    while (c1 + h2[b2] < need)
        c1 += h2[b2++];
    *T = lo + ((uint32_t)b1 << SBITS) + (uint32_t)b2;
    *need_eq = need - c1;
    free(h2);
    return NM_OK;
}

/* Tries the one-pass selection: k entries, or (k < 0) all eligible but
 * `keep`. *done = 1 when finished (masks final); 0: masks as they were
 * (up to nonzero mask bytes restored as 1), take another path, with *k_out
 * the exact k when it was found (else -1). */
static int run_sampled(const nm_select_seg *segs, plan *p, int64_t k, int64_t keep, int *done,
                       int64_t *k_out)
{
    *done = 0;
    *k_out = -1;
    nm_select_sample_last = 0;
    int nt = p->nthreads;
    int64_t total = 0, sampled = 0;
    for (int64_t ci = 0; ci < p->n_chunks; ci++) {
        total += p->chunks[ci].len;
        for (int64_t b = 0; b < p->chunks[ci].len; b += 16 * SAMPLE_RUN)
            sampled += p->chunks[ci].len - b < SAMPLE_RUN ? p->chunks[ci].len - b : SAMPLE_RUN;
    }
    if (total < nm_select_sample_min || !sampled)
        return NM_OK;
    /* the sample */
    uint32_t *sh = calloc((size_t)nt * SBUCKETS, sizeof *sh);
    int64_t *h = calloc(SBUCKETS, sizeof *h);
    if (!sh || !h) {
        free(sh);
        free(h);
        return nm_seterr("out of memory");
    }
#pragma omp parallel num_threads(nt)
    {
        uint32_t *hl = sh + (size_t)omp_get_thread_num() * SBUCKETS;
#pragma omp for schedule(dynamic, 8)
        for (int64_t ci = 0; ci < p->n_chunks; ci++) {
            const chunk *c = &p->chunks[ci];
            const float *w = segs[c->seg].w + c->start;
            const uint8_t *e = segs[c->seg].elig + c->start;
            for (int64_t b = 0; b < c->len; b += 16 * SAMPLE_RUN) {
                int64_t end = c->len - b < SAMPLE_RUN ? c->len : b + SAMPLE_RUN;
                for (int64_t i = b; i < end; i++)
                    hl[nm_abs_bits(w[i]) >> SBITS] += e[i] != 0;
            }
        }
    }
    int64_t ns = 0;
    for (int t = 0; t < nt; t++)
        for (int b = 0; b < SBUCKETS; b++)
            h[b] += sh[(size_t)t * SBUCKETS + b];
    free(sh);
    for (int b = 0; b < SBUCKETS; b++)
        ns += h[b];
    double f = (double)sampled / (double)total;
    double est_elig = (double)ns / f;
    double est_k = k >= 0 ? (double)k : est_elig - (double)keep;
    if (ns < 1024 || est_k <= 0 || est_k >= est_elig) {
        free(h);
        return NM_OK;
    }
    uint32_t lo, hi;
    const int64_t cap = sample_band(h, ns, est_k, est_elig, f, &lo, &hi);
    free(h);
    /* the pass */
#ifdef NM_BAND_AVX2
    const int avx2 = nm_select_avx2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
#endif
    uint64_t *list = nm_scratch_alloc((size_t)nt * (size_t)cap * sizeof *list);
    int64_t *len = calloc((size_t)nt, sizeof *len);
    band_count *bc = calloc((size_t)nt, sizeof *bc);
    uint64_t *undo = nm_scratch_alloc((size_t)p->n_chunks * (CHUNK / 64) * sizeof *undo);
    if (!list || !len || !bc || !undo) {
        free(list);
        free(len);
        free(bc);
        free(undo);
        return nm_seterr("out of memory");
    }
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num();
        uint64_t *ls = list + (size_t)t * (size_t)cap;
#pragma omp for schedule(static)
        for (int64_t ci = 0; ci < p->n_chunks; ci++) {
            const chunk *c = &p->chunks[ci];
#ifdef NM_BAND_AVX2
            if (avx2)
                band_chunk_avx2(segs[c->seg].w + c->start, segs[c->seg].elig + c->start,
                                segs[c->seg].mask + c->start, c->len, lo, hi, (uint64_t)ci,
                                undo + (size_t)ci * (CHUNK / 64), ls, &len[t], cap, &bc[t]);
            else
#endif
            band_chunk(segs[c->seg].w + c->start, segs[c->seg].elig + c->start,
                       segs[c->seg].mask + c->start, c->len, lo, hi,
                       (uint64_t)ci, undo + (size_t)ci * (CHUNK / 64), ls, &len[t], cap, &bc[t]);
        }
    }
    int64_t below = 0, inb = 0, elig = 0, nl = 0;
    int over = 0;
    for (int t = 0; t < nt; t++) {
        below += bc[t].below;
        inb += bc[t].inb;
        elig += bc[t].elig;
        over |= bc[t].over;
    }
    free(bc);
    if (k < 0)
        k = elig - keep > 0 ? elig - keep : 0;
    *k_out = k;
    if (over || below > k || below + inb < k) {
        /* the band missed (or overflowed): give back what was cleared */
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t ci = 0; ci < p->n_chunks; ci++) {
            const chunk *c = &p->chunks[ci];
            uint8_t *mk = segs[c->seg].mask + c->start;
            const uint64_t *u = undo + (size_t)ci * (CHUNK / 64);
            for (int64_t wd = 0; wd < (c->len + 63) / 64; wd++)
                for (uint64_t b = u[wd]; b; b &= b - 1)
                    mk[wd * 64 + __builtin_ctzll(b)] = 1;
        }
        nm_select_sample_last = 2;
        free(list);
        free(len);
        free(undo);
        return NM_OK;
    }
    free(undo);
    for (int t = 0; t < nt; t++) {
        memmove(list + nl, list + (size_t)t * (size_t)cap, (size_t)len[t] * sizeof *list);
        nl += len[t];
    }
    free(len);
    int64_t need = k - below, need_eq = 0;
    uint32_t T = lo;
    if (band_cut(list, nl, need, lo, hi, &T, &need_eq) != NM_OK) {
        free(list);
        return NM_ERR;
    }
    for (int64_t j = 0; j < nl && need > 0; j++) {
        uint32_t key = (uint32_t)list[j];
        if (key > T || (key == T && need_eq == 0))
            continue;
        if (key == T)
            need_eq--;
        need--;
        const chunk *c = &p->chunks[list[j] >> 48];
        segs[c->seg].mask[c->start + (int64_t)((list[j] >> 32) & 0xffff)] = 0;
    }
    free(list);
    nm_select_sample_last = 1;
    *done = 1;
    return NM_OK;
}
/* ---- the one-pass selection with eligibility made on the fly ----
 *
 * nm_select_generated: as run_sampled, but the eligibility bytes of each
 * piece are made by a callback into a per-thread buffer just before the
 * piece is scanned (JointNF: a row's candidates, ranked while the row is
 * in cache), so they are never stored for the whole model. The sample
 * takes every 16th piece (every piece below 2^20 entries). */
int nm_select_generated(const nm_select_piece *pc, int64_t n_pieces, nm_elig_fn elig,
                        void *ud, double div, int64_t *k_out, int *done)
{
    *done = 0;
    *k_out = -1;
    nm_select_sample_last = 0;
    int nt = omp_get_max_threads();
    int64_t total = 0, maxlen = 1;
    if (n_pieces >= ((int64_t)1 << 16))
        return NM_OK; /* the list's piece field has 16 bits */
    for (int64_t i = 0; i < n_pieces; i++) {
        if (pc[i].len > ((int64_t)1 << 16))
            return NM_OK; /* and its offset 16 */
        total += pc[i].len;
        maxlen = pc[i].len > maxlen ? pc[i].len : maxlen;
    }
    if (total < nm_select_sample_min || total == 0)
        return NM_OK;
    const int64_t stride = total >= ((int64_t)1 << 20) ? 16 : 1;
    /* per-thread eligibility buffers (padded for the vector loads) */
    uint8_t *ebuf = malloc((size_t)nt * (size_t)(maxlen + 64));
    uint32_t *sh = calloc((size_t)nt * SBUCKETS, sizeof *sh);
    int64_t *h = calloc(SBUCKETS, sizeof *h);
    int64_t *sampled_t = calloc((size_t)nt, sizeof *sampled_t);
    if (!ebuf || !sh || !h || !sampled_t) {
        free(ebuf), free(sh), free(h), free(sampled_t);
        return nm_seterr("out of memory");
    }
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num();
        uint32_t *hl = sh + (size_t)t * SBUCKETS;
        uint8_t *e = ebuf + (size_t)t * (size_t)(maxlen + 64);
#pragma omp for schedule(dynamic, 4)
        for (int64_t i = 0; i < n_pieces; i += stride) {
            elig(ud, i, e);
            const float *w = pc[i].w;
            for (int64_t j = 0; j < pc[i].len; j++)
                hl[nm_abs_bits(w[j]) >> SBITS] += e[j] != 0;
            sampled_t[t] += pc[i].len;
        }
    }
    int64_t ns = 0, sampled = 0;
    for (int t = 0; t < nt; t++) {
        sampled += sampled_t[t];
        for (int b = 0; b < SBUCKETS; b++)
            h[b] += sh[(size_t)t * SBUCKETS + b];
    }
    free(sh);
    free(sampled_t);
    for (int b = 0; b < SBUCKETS; b++)
        ns += h[b];
    double f = (double)sampled / (double)total;
    double est_elig = (double)ns / f;
    double est_k = est_elig / div;
    if (ns < 1024 || est_k <= 0 || est_k >= est_elig) {
        free(h);
        free(ebuf);
        return NM_OK;
    }
    /* the band, as run_sampled */
    uint32_t lo, hi;
    const int64_t cap = sample_band(h, ns, est_k, est_elig, f, &lo, &hi);
    free(h);
    /* undo words: each piece its own (ceil(len / 64)) */
    int64_t *uoff = malloc((size_t)(n_pieces + 1) * sizeof *uoff);
    int64_t *bound = malloc((size_t)(nt + 1) * sizeof *bound);
    if (!uoff || !bound) {
        free(uoff), free(bound), free(ebuf);
        return nm_seterr("out of memory");
    }
    uoff[0] = 0;
    for (int64_t i = 0; i < n_pieces; i++)
        uoff[i + 1] = uoff[i] + (pc[i].len + 63) / 64;
    /* each thread a contiguous run of pieces (so the lists concatenate in
     * order) of about total / nt entries */
    bound[0] = 0;
    {
        int64_t acc = 0, i = 0;
        for (int t = 1; t < nt; t++) {
            while (i < n_pieces && acc < total / nt * t)
                acc += pc[i++].len;
            bound[t] = i;
        }
        bound[nt] = n_pieces;
    }
    uint64_t *list = nm_scratch_alloc((size_t)nt * (size_t)cap * sizeof *list);
    int64_t *len = calloc((size_t)nt, sizeof *len);
    band_count *bc = calloc((size_t)nt, sizeof *bc);
    uint64_t *undo = nm_scratch_alloc((size_t)(uoff[n_pieces] ? uoff[n_pieces] : 1) * sizeof *undo);
    if (!list || !len || !bc || !undo) {
        free(list), free(len), free(bc), free(undo), free(uoff), free(bound), free(ebuf);
        return nm_seterr("out of memory");
    }
#ifdef NM_BAND_AVX2
    const int avx2 = nm_select_avx2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
#endif
#pragma omp parallel num_threads(nt)
    {
        uint8_t *e = ebuf + (size_t)omp_get_thread_num() * (size_t)(maxlen + 64);
#pragma omp for schedule(static, 1)
        for (int t = 0; t < nt; t++) { /* range t: its own list and counts */
            uint64_t *ls = list + (size_t)t * (size_t)cap;
            for (int64_t i = bound[t]; i < bound[t + 1]; i++) {
                elig(ud, i, e);
#ifdef NM_BAND_AVX2
                if (avx2)
                    band_chunk_avx2(pc[i].w, e, pc[i].mask, pc[i].len, lo, hi, (uint64_t)i,
                                    undo + uoff[i], ls, &len[t], cap, &bc[t]);
                else
#endif
                band_chunk(pc[i].w, e, pc[i].mask, pc[i].len, lo, hi, (uint64_t)i,
                           undo + uoff[i], ls, &len[t], cap, &bc[t]);
            }
        }
    }
    free(ebuf);
    free(bound);
    int64_t below = 0, inb = 0, pool = 0, nl = 0;
    int over = 0;
    for (int t = 0; t < nt; t++) {
        below += bc[t].below;
        inb += bc[t].inb;
        pool += bc[t].elig;
        over |= bc[t].over;
    }
    free(bc);
    int64_t k = llround((double)pool / div);
    *k_out = k;
    if (over || below > k || below + inb < k) {
        /* the band missed (or overflowed): give back what was cleared */
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int64_t i = 0; i < n_pieces; i++) {
            const uint64_t *u = undo + uoff[i];
            for (int64_t wd = 0; wd < (pc[i].len + 63) / 64; wd++)
                for (uint64_t b = u[wd]; b; b &= b - 1)
                    pc[i].mask[wd * 64 + __builtin_ctzll(b)] = 1;
        }
        nm_select_sample_last = 2;
        free(list), free(len), free(undo), free(uoff);
        return NM_OK;
    }
    free(undo);
    free(uoff);
    for (int t = 0; t < nt; t++) {
        memmove(list + nl, list + (size_t)t * (size_t)cap, (size_t)len[t] * sizeof *list);
        nl += len[t];
    }
    free(len);
    /* the exact cut inside the band, as run_sampled */
    int64_t need = k - below, need_eq = 0;
    uint32_t T = lo;
    if (band_cut(list, nl, need, lo, hi, &T, &need_eq) != NM_OK) {
        free(list);
        return NM_ERR;
    }
    for (int64_t j = 0; j < nl && need > 0; j++) {
        uint32_t key = (uint32_t)list[j];
        if (key > T || (key == T && need_eq == 0))
            continue;
        if (key == T)
            need_eq--;
        need--;
        pc[list[j] >> 48].mask[(int64_t)((list[j] >> 32) & 0xffff)] = 0;
    }
    free(list);
    nm_select_sample_last = 1;
    *done = 1;
    return NM_OK;
}

#endif

/* The selection of k (keep < 0) or of all eligible entries but keep
 * (k < 0, keep >= 0; mark only). */
static int run(const nm_select_seg *segs, int n_segs, int64_t k, int64_t keep, int mark,
               int64_t *per_seg)
{
    if (per_seg)
        memset(per_seg, 0, (size_t)n_segs * sizeof *per_seg);
    if (keep < 0 && k < 0)
        return nm_seterr("cannot select a negative number (%lld) of entries", (long long)k);
    if (keep < 0 && k == 0)
        return NM_OK;
    plan p;
    if (plan_make(segs, n_segs, &p))
        return NM_ERR;
    int done = 0;
#if defined(__SSE2__)
    int self = mark && !per_seg;   /* every segment has its eligibility bytes */
    for (int s = 0; s < n_segs && self; s++)
        self = segs[s].n == 0 || (segs[s].elig && segs[s].mask);
    if (self) {
        int64_t kx = -1;
        if (run_sampled(segs, &p, keep < 0 ? k : -1, keep, &done, &kx) || done) {
            plan_free(&p);
            return done ? NM_OK : NM_ERR;
        }
        if (kx >= 0)
            k = kx, keep = -1;
    }
#endif
    if (keep >= 0) { /* the eligible count, then k */
        int64_t elig = 0;
        for (int s = 0; s < n_segs; s++)
            elig += segs[s].elig ? nm_count_nonzero_u8(segs[s].elig, segs[s].n) : segs[s].n;
        k = elig - keep;
        if (k <= 0) {
            plan_free(&p);
            return NM_OK;
        }
    }
    if (k == 0) {
        plan_free(&p);
        return NM_OK;
    }
    if (run_fast(segs, &p, k, mark, per_seg, &done) || done) {
        plan_free(&p);
        return done ? NM_OK : NM_ERR;
    }
    uint32_t T = 0;
    int64_t need_eq = 0;
    if (find_threshold(segs, &p, k, &T, &need_eq)) {
        plan_free(&p);
        return NM_ERR;
    }
    pass_less(segs, &p, T, mark);
    pass_equal(segs, &p, T, need_eq, mark, per_seg);
    plan_free(&p);
    return NM_OK;
}

int nm_select_smallest(nm_select_seg *segs, int n_segs, int64_t k)
{
    return run(segs, n_segs, k, -1, 1, NULL);
}

int nm_select_keep(nm_select_seg *segs, int n_segs, int64_t keep)
{
    if (keep < 0)
        return nm_seterr("cannot keep a negative number (%lld) of entries", (long long)keep);
    return run(segs, n_segs, -1, keep, 1, NULL);
}

int nm_select_count(const nm_select_seg *segs, int n_segs, int64_t k, int64_t *per_seg)
{
    return run(segs, n_segs, k, -1, 0, per_seg);
}
