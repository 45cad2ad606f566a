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
 * first; the three-pass one handles a crowded boundary bucket. */
#include "prune_int.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK ((int64_t)1 << 16)
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

static int run(const nm_select_seg *segs, int n_segs, int64_t k, int mark, int64_t *per_seg)
{
    if (per_seg)
        memset(per_seg, 0, (size_t)n_segs * sizeof *per_seg);
    if (k < 0)
        return nm_seterr("cannot select a negative number (%lld) of entries", (long long)k);
    if (k == 0)
        return NM_OK;
    plan p;
    if (plan_make(segs, n_segs, &p))
        return NM_ERR;
    int done = 0;
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
    return run(segs, n_segs, k, 1, NULL);
}

int nm_select_count(const nm_select_seg *segs, int n_segs, int64_t k, int64_t *per_seg)
{
    return run(segs, n_segs, k, 0, per_seg);
}
