/* scalesim_mem.c - SCALE-Sim v3's memory system replayed, for compat mode
 * with `scalesim_replay` (sim/README.md, "SCALE-Sim v3 parity").
 *
 * SCALE-Sim v3 (scalesim-project/scale-sim-v3) runs, per layer, the demand
 * matrices of its systolic array (one row of ifmap, filter and ofmap
 * addresses per cycle, with its fold gaps and skew) through double-buffered
 * SRAMs. Its counts and stalls depend on the address trace, not only on
 * sizes, so no closed form reproduces them in general; this file walks the
 * same demand rows (generated on the fly, never stored) through a model of
 * the same buffers, written from reading its behaviour (no code taken):
 *
 *  USER bandwidth (read buffers): the operand's prefetch matrix (its fold
 *  order; diagonal order where SCALE-Sim rolls it) is cut into sets of
 *  ceil(words/100) entries; an active window of ceil(words/2 / set) sets is
 *  fetched before the layer (ceil(words/2 / bw) lines of bw words). A demanded
 *  address in no set of the window moves the window by the prefetch half,
 *  counts ceil(prefetch/bw) x bw DRAM words, and ends that prefetch
 *  ceil(prefetch/bw) + 1 cycles after the previous one; the row's delay
 *  grows by that end minus the request cycle, added twice when positive and
 *  also when negative (v3's double count; `stall_count = 'corrected'` adds a
 *  positive one once, as v2 does).
 *  CALC bandwidth (read_buffer_estimate_bw): a demanded address not fetched
 *  since the current block of 50 sets of floor(words/100) began is fetched
 *  (counted); blocks fix the DRAM start (first request - ceil(50 x set / 10))
 *  and stop (last block end + 1) cycles. Reads never stall.
 *  Write buffer (both): outputs fill lines of bw words (USER: the bandwidth,
 *  CALC: the array width); once more than half the buffer is occupied and the
 *  last drain is over, the partial line is closed and ceil(half / bw) lines
 *  are drained, one line per cycle (DRAM words = lines x bw minus the empty
 *  slots of the last line); a full buffer during a drain stalls the row.
 *  Each row's stall is the largest of the three delays. */
#include "sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ addresses */

typedef struct {
    int64_t E, K, Nf, R, C;
    int os;
    int64_t H, W, Cin, kw, sh, sw, ow;  /* H = 0: a bare GEMM */
} ss_geom;

/* SCALE-Sim's im2col address of ifmap entry (e, k), -1 outside the map. */
static int64_t ifmap_addr(const ss_geom *q, int64_t e, int64_t k)
{
    if (e < 0 || e >= q->E || k < 0 || k >= q->K)
        return -1;
    if (!q->H)
        return e * q->K + k;
    int64_t oy = e / q->ow, ox = e % q->ow;
    int64_t r = k / (q->kw * q->Cin), rem = k % (q->kw * q->Cin);
    int64_t y = oy * q->sh + r, x = ox * q->sw + rem / q->Cin;
    if (y >= q->H || x >= q->W)
        return -1;
    return (y * q->W + x) * q->Cin + rem % q->Cin;
}

static int64_t filter_addr(const ss_geom *q, int64_t k, int64_t n)
{
    if (k < 0 || k >= q->K || n < 0 || n >= q->Nf)
        return -1;
    return n * q->K + k;
}

/* Entry (row, col) of the stacked prefetch matrix before any diagonal
 * order: ws ifmap: row fold fr = row / E of im2col columns; ws/os filter:
 * column fold fc = row / K of filter columns; os ifmap: row fold fr = row /
 * K of im2col rows, transposed. */
static int64_t pf_entry(const ss_geom *q, int filt, int64_t row, int64_t col)
{
    if (filt) {
        int64_t fc = row / q->K, k = row % q->K;
        return filter_addr(q, k, fc * q->C + col);
    }
    if (q->os) {
        int64_t fr = row / q->K, k = row % q->K;
        return fr * q->R + col < q->E ? ifmap_addr(q, fr * q->R + col, k) : -1;
    }
    int64_t fr = row / q->E, e = row % q->E;
    return fr * q->R + col < q->K ? ifmap_addr(q, e, fr * q->R + col) : -1;
}

/* The prefetch matrix in SCALE-Sim's order into a new array (*n entries,
 * -1 = no request): row-major for the ws filter, else by anti-diagonals
 * (each from its bottom row up). NULL when out of memory. */
static int64_t *pf_stream(const ss_geom *q, int filt, int64_t *n)
{
    int64_t M, N = filt ? q->C : q->R;
    if (filt)
        M = (q->Nf + q->C - 1) / q->C * q->K;
    else if (q->os)
        M = (q->E + q->R - 1) / q->R * q->K;
    else
        M = (q->K + q->R - 1) / q->R * q->E;
    int64_t *s = malloc((size_t)(M * N) * sizeof *s), i = 0;
    if (!s)
        return NULL;
    if (filt && !q->os) {
        for (int64_t r = 0; r < M; r++)
            for (int64_t c = 0; c < N; c++)
                s[i++] = pf_entry(q, 1, r, c);
    } else {
        for (int64_t d = 0; d < M + N - 1; d++) {
            int64_t hi = d < M - 1 ? d : M - 1, lo = d - N + 1 > 0 ? d - N + 1 : 0;
            for (int64_t r = hi; r >= lo; r--)
                s[i++] = pf_entry(q, filt, r, d - r);
        }
    }
    *n = i;
    return s;
}

/* ---------------------------------------------------------- read buffers */

typedef struct {
    int calc, corrected;
    int64_t words, act, pre, bw;
    /* USER */
    int64_t eps, nsets, a, p, nl_pre, st;
    int64_t *off, *sets;        /* CSR: sets holding each address */
    double last_pf;
    /* CALC */
    int64_t items, cur, elems, rs, re, *last;
    int triggered, seen;
    int64_t first_req, last_trig;
    /* both */
    int started;
    double reads, dstart, dstop;
    int64_t naddr;
} ss_rbuf;

static void rbuf_free(ss_rbuf *b)
{
    free(b->off), free(b->sets), free(b->last);
}

/* Sets up a read buffer of kb KB over address space [0, naddr) with the
 * operand's prefetch stream (USER only). NM_ERR when out of memory. */
static int rbuf_init(ss_rbuf *b, double kb, const sim_config *cfg, int64_t naddr,
                     const int64_t *s, int64_t ns)
{
    memset(b, 0, sizeof *b);
    b->calc = !(cfg->bandwidth > 0);
    b->corrected = cfg->stall_corrected;
    b->words = (int64_t)floor(kb * 1024.0);
    b->act = (b->words + 1) / 2;
    b->pre = b->words - b->act;
    b->naddr = naddr;
    if (b->calc) {
        b->items = b->words / 100;
        b->re = 49;
        if (b->items < 1)
            return nm_seterr("scalesim_replay: an SRAM of %g KB is below SCALE-Sim's 100 words", kb);
        if (!(b->last = malloc((size_t)naddr * sizeof *b->last)))
            return nm_seterr("out of memory");
        for (int64_t i = 0; i < naddr; i++)
            b->last[i] = -1;
        return NM_OK;
    }
    b->bw = (int64_t)cfg->bandwidth;
    b->eps = (b->words + 99) / 100;
    int64_t valid = 0;
    if (!(b->off = calloc((size_t)naddr + 1, sizeof *b->off)))
        return nm_seterr("out of memory");
    for (int64_t i = 0; i < ns; i++)
        if (s[i] >= 0)
            b->off[s[i] + 1]++, valid++;
    for (int64_t i = 0; i < naddr; i++)
        b->off[i + 1] += b->off[i];
    if (!(b->sets = malloc((size_t)(valid > 0 ? valid : 1) * sizeof *b->sets)))
        return nm_seterr("out of memory");
    int64_t *fill = calloc((size_t)naddr, sizeof *fill), v = 0;
    if (!fill)
        return nm_seterr("out of memory");
    for (int64_t i = 0; i < ns; i++)
        if (s[i] >= 0) {
            b->sets[b->off[s[i]] + fill[s[i]]++] = v / b->eps;
            v++;
        }
    free(fill);
    b->nsets = valid / b->eps + 1;
    int64_t amax = (b->act + b->eps - 1) / b->eps, pmax = (b->pre + b->eps - 1) / b->eps;
    b->a = amax < b->nsets ? amax : b->nsets;
    b->p = pmax < b->nsets - b->a ? pmax : b->nsets - b->a;
    b->nl_pre = (b->pre + b->bw - 1) / b->bw;
    /* first fill: ceil(active / bw) lines (at most the stream's) */
    int64_t rows = (ns + b->bw - 1) / b->bw, nl = (b->act + b->bw - 1) / b->bw;
    b->dstart = (double)(nl < rows ? nl : rows);   /* lines, placed at the first call */
    return NM_OK;
}

static int rbuf_hit(const ss_rbuf *b, int64_t addr)
{
    for (int64_t j = b->off[addr]; j < b->off[addr + 1]; j++)
        if ((b->sets[j] - b->st + b->nsets) % b->nsets < b->a)
            return 1;
    return b->off[addr] == b->off[addr + 1];    /* never prefetched: no request to wait on */
}

/* Serves one demand row (n addresses, -1 = none) at cycle cyc; returns the
 * cycle it is served (cyc + 1 without a miss). */
static double rbuf_row(ss_rbuf *b, const int64_t *addr, int n, double cyc)
{
    if (!b->started) {
        b->started = 1;
        if (!b->calc) {
            double nl = b->dstart;
            b->reads = nl * (double)b->bw;
            b->dstart = cyc - nl, b->dstop = cyc - 1, b->last_pf = cyc - 1;
        }
    }
    if (b->calc) {
        for (int i = 0; i < n; i++) {
            int64_t a = addr[i];
            if (a < 0)
                continue;
            if (!b->seen)
                b->seen = 1, b->first_req = (int64_t)cyc;
            if (b->last[a] >= b->rs && b->last[a] >= 0)
                continue;
            b->last[a] = b->cur, b->reads += 1;
            if (++b->elems == b->items) {
                b->elems = 0;
                if (++b->cur == b->re + 1) {
                    if (!b->triggered)
                        b->triggered = 1, b->dstart = (double)(b->first_req -
                                                               (50 * b->items + 9) / 10);
                    b->rs += 50, b->re += 50, b->last_trig = (int64_t)cyc;
                }
            }
        }
        return cyc + 1;
    }
    double off = 1;
    for (int i = 0; i < n; i++) {
        if (addr[i] < 0)
            continue;
        for (int64_t guard = 0; !rbuf_hit(b, addr[i]) && guard <= b->nsets; guard++) {
            b->st = (b->st + b->p) % b->nsets;
            b->reads += (double)(b->nl_pre * b->bw);
            b->last_pf += (double)b->nl_pre + 1;
            if (b->last_pf > b->dstop)
                b->dstop = b->last_pf;
            double pot = b->last_pf - (cyc + off);
            if (!b->corrected)
                off += pot;
            if (pot > 0)
                off += pot;
        }
    }
    return cyc + off;
}

/* CALC: the final prefetch fixes the DRAM start/stop cycles. */
static void rbuf_finish(ss_rbuf *b)
{
    if (!b->calc)
        return;
    if (!b->triggered) {
        int64_t sets = b->elems > 0 ? b->cur + 1 : b->cur;
        b->dstart = -(double)((sets * b->items + 9) / 10);
        b->dstop = -1;
    } else {
        b->dstop = (double)b->last_trig + 1;
    }
}

/* ---------------------------------------------------------- write buffer */

typedef struct {
    int64_t total, drain, bw, free, idx, nlines, cap, dline;
    int *valid;
    double drain_end, writes, dstart, dstop;
    int any;
} ss_wbuf;

static int wbuf_push(ss_wbuf *w, int v)
{
    if (w->nlines == w->cap) {
        int64_t nc = w->cap ? 2 * w->cap : 1024;
        int *nv = realloc(w->valid, (size_t)nc * sizeof *nv);
        if (!nv)
            return nm_seterr("out of memory");
        w->valid = nv, w->cap = nc;
    }
    w->valid[w->nlines++] = v;
    return NM_OK;
}

/* Drains up to ceil(drain / bw) lines from cycle c; returns the last one. */
static double wbuf_drain(ss_wbuf *w, double c)
{
    int64_t want = (w->drain + w->bw - 1) / w->bw, end = w->dline + want;
    if (end > w->nlines)
        end = w->nlines;
    int64_t num = end - w->dline;
    if (num <= 0)
        return c - 1;
    double data = (double)(num * w->bw - (w->bw - w->valid[end - 1]));
    w->writes += data;
    w->free += (int64_t)data;
    if (!w->any || c < w->dstart)
        w->dstart = c;
    if (!w->any || c + (double)num - 1 > w->dstop)
        w->dstop = c + (double)num - 1;
    w->any = 1;
    w->dline = end;
    return c + (double)num - 1;
}

/* Serves a row of cnt output writes at cycle cyc; returns its cycle. */
static int wbuf_row(ss_wbuf *w, int64_t cnt, double cyc, double *out)
{
    double cur = cyc;
    for (int64_t e = 0; e < cnt; e++) {
        w->free--;
        if (++w->idx == w->bw) {
            if (wbuf_push(w, (int)w->bw))
                return NM_ERR;
            w->idx = 0;
        }
        if (cur < w->drain_end) {
            if (w->free <= 0)
                cur = w->drain_end;
        } else if (w->free < w->total - w->drain) {
            if (w->idx) {
                if (wbuf_push(w, (int)w->idx))
                    return NM_ERR;
                w->idx = 0;
            }
            w->drain_end = wbuf_drain(w, cur);
        }
    }
    *out = cur;
    return NM_OK;
}

static int wbuf_finish(ss_wbuf *w, double c)
{
    if (w->idx) {
        if (wbuf_push(w, (int)w->idx))
            return NM_ERR;
        w->idx = 0;
    }
    while (w->dline < w->nlines) {
        w->drain_end = wbuf_drain(w, c);
        c = w->drain_end + 1;
    }
    return NM_OK;
}

/* -------------------------------------------------------------- the run */

/* Ofmap writes in row l of a fold (ws: outputs of E rows skewed after 2R-1
 * empty rows; os: the fold's ru x cw outputs, flipped, after K-1). */
static int64_t ofmap_count(const ss_geom *q, int64_t l, int64_t ru, int64_t cw)
{
    int64_t n = 0;
    for (int64_t j = 0; j < cw; j++) {
        int64_t t = q->os ? l - (q->K - 1) - j : l - (2 * q->R - 1) - j;
        if (q->os ? t >= q->R - ru && t < q->R : t >= 0 && t < q->E)
            n++;
    }
    return n;
}

static void track(int any, double c, int *seen, double *start, double *stop)
{
    if (!any)
        return;
    if (!*seen)
        *seen = 1, *start = c;
    *stop = c;
}

int sim_scalesim_replay(const sim_gemm *g, const sim_config *cfg, sim_scalesim_trace *t)
{
    memset(t, 0, sizeof *t);
    ss_geom q = {.E = g->E, .K = g->Kp, .Nf = g->Nf, .R = cfg->rows, .C = cfg->cols,
                 .os = cfg->dataflow == SIM_OS, .kw = g->kw, .sh = g->stride_h,
                 .sw = g->stride_w};
    if (g->in_h > 0 && g->in_w > 0 && g->stride_h > 0) {
        q.H = g->in_h, q.W = g->in_w, q.Cin = g->Kp / ((int64_t)g->kh * g->kw);
        int64_t oh = (g->in_h - g->kh + g->stride_h + g->stride_h - 1) / g->stride_h;
        q.ow = g->E / oh;
    }
    int64_t naddr_i = q.H ? q.H * q.W * q.Cin : q.E * q.K, naddr_f = q.K * q.Nf;
    int64_t ni = 0, nf = 0, *si = NULL, *sf = NULL;
    ss_rbuf bi, bf;
    ss_wbuf w = {0};
    int rc = NM_ERR;
    memset(&bi, 0, sizeof bi), memset(&bf, 0, sizeof bf);
    if (!cfg->bandwidth || cfg->bandwidth < 0) {
        /* CALC needs no stream */
    } else if (!(si = pf_stream(&q, 0, &ni)) || !(sf = pf_stream(&q, 1, &nf))) {
        nm_seterr("out of memory");
        goto out;
    }
    if (rbuf_init(&bi, cfg->sram_ifmap_kb, cfg, naddr_i, si, ni) ||
        rbuf_init(&bf, cfg->sram_filter_kb, cfg, naddr_f, sf, nf))
        goto out;
    free(si), free(sf), si = sf = NULL;
    w.total = (int64_t)floor(cfg->sram_ofmap_kb * 1024.0);
    w.drain = w.total - (w.total + 1) / 2;
    w.bw = cfg->bandwidth > 0 ? (int64_t)cfg->bandwidth : cfg->cols;
    w.free = w.total;
    int64_t R = q.R, C = q.C, T = q.os ? q.K : q.E;
    int64_t rf = ((q.os ? q.E : q.K) + R - 1) / R, cf = (q.Nf + C - 1) / C;
    int64_t L = q.os ? q.K + R + C - 2 : 2 * R + C + T - 2;
    int64_t ai[4096], af[4096];
    if (R > 4096 || C > 4096) {
        nm_seterr("scalesim_replay: arrays above 4096 rows or columns");
        goto out;
    }
    double stall = 0, total = 0, line = 0, last_o = 0;
    int seen[3] = {0, 0, 0};
    for (int64_t fc = 0; fc < cf; fc++)
        for (int64_t fr = 0; fr < rf; fr++) {
            int64_t cw = q.Nf - fc * C < C ? q.Nf - fc * C : C;
            int64_t ru = (q.os ? q.E : q.K) - fr * R < R ? (q.os ? q.E : q.K) - fr * R : R;
            for (int64_t l = 0; l < L; l++, line++) {
                double cyc = line + stall;
                int anyi = 0, anyf = 0;
                for (int64_t j = 0; j < R; j++) {
                    int64_t a = -1;
                    if (q.os) {
                        int64_t k = l - j;
                        if (k >= 0 && k < q.K && j < ru)
                            a = ifmap_addr(&q, fr * R + j, k);
                    } else {
                        int64_t e = l - R - j;
                        if (e >= 0 && e < q.E && j < ru)
                            a = ifmap_addr(&q, e, fr * R + j);
                    }
                    ai[j] = a, anyi |= a >= 0;
                }
                for (int64_t j = 0; j < C; j++) {
                    int64_t a = -1;
                    if (q.os) {
                        int64_t k = l - j;
                        if (k >= 0 && k < q.K && j < cw)
                            a = filter_addr(&q, k, fc * C + j);
                    } else if (l < R && R - 1 - l < ru && j < cw) {
                        a = filter_addr(&q, fr * R + (R - 1 - l), fc * C + j);
                    }
                    af[j] = a, anyf |= a >= 0;
                }
                double oi = rbuf_row(&bi, ai, (int)R, cyc);
                double of = rbuf_row(&bf, af, (int)C, cyc);
                int64_t cnt = ofmap_count(&q, l, ru, cw);
                double oo;
                if (wbuf_row(&w, cnt, cyc, &oo))
                    goto out;
                double s = fmax(fmax(oi - cyc - 1, of - cyc - 1), oo - cyc);
                stall += s;
                track(anyi, oi, &seen[0], &t->start[0], &t->stop[0]);
                track(anyf, of, &seen[1], &t->start[1], &t->stop[1]);
                track(cnt > 0, oo, &seen[2], &t->start[2], &t->stop[2]);
                if (oo > total)
                    total = oo;
                last_o = oo;
            }
        }
    rbuf_finish(&bi), rbuf_finish(&bf);
    if (wbuf_finish(&w, last_o))
        goto out;
    t->total_cycles = (int64_t)total;
    t->stall_cycles = (int64_t)stall;
    t->dram[0] = bi.reads, t->dram[1] = bf.reads, t->dram[2] = w.writes;
    t->start[3] = bi.dstart, t->stop[3] = bi.dstop;
    t->start[4] = bf.dstart, t->stop[4] = bf.dstop;
    t->start[5] = w.dstart, t->stop[5] = w.dstop;
    t->incl_prefetch = (int64_t)(w.dstop - fmin(bi.dstart, bf.dstart));
    t->valid = 1;
    rc = NM_OK;
out:
    free(si), free(sf), free(w.valid);
    rbuf_free(&bi), rbuf_free(&bf);
    return rc;
}
