/* compress.c - N:M compressed tensors with three index schemes, restoring
 * the dense tensor bit for bit.
 *
 * Each group of length L stores exactly k = min(N, L) slots: its nonzero
 * entries (bit pattern != 0, so -0.0 is kept as a value) plus, when it has
 * fewer, zero padding at its lowest free positions; slots are in position
 * order. Indices, packed LSB first in one bit stream, group after group:
 *   simple:        ceil(log2 M) bits per slot, the slot's position
 *   bitmask:       L bits, bit i set when position i is a slot
 *   combinatorial: ceil(log2 C(L, k)) bits, the colex rank of the position
 *                  set (sum of C(p_i, i + 1) over sorted positions p_i). */
#include "prune_int.h"

#include <stdlib.h>
#include <string.h>

static const char *scheme_names[] = {"simple", "bitmask", "combinatorial"};

const char *nm_index_scheme_name(nm_index_scheme s)
{
    return (unsigned)s < 3 ? scheme_names[s] : "?";
}

static int group_bits(nm_index_scheme s, int len, int n, int m)
{
    int k = len < n ? len : n;
    switch (s) {
    case NM_INDEX_SIMPLE: return k * nm_ceil_log2((uint64_t)m);
    case NM_INDEX_BITMASK: return len;
    default: return nm_ceil_log2(nm_binom(len, k));
    }
}

static void put_bits(uint8_t *buf, int64_t *pos, uint64_t v, int nbits)
{
    for (int i = 0; i < nbits; i++, ++*pos)
        if ((v >> i) & 1)
            buf[*pos >> 3] |= (uint8_t)(1u << (*pos & 7));
}

static uint64_t get_bits(const uint8_t *buf, int64_t *pos, int nbits)
{
    uint64_t v = 0;
    for (int i = 0; i < nbits; i++, ++*pos)
        v |= (uint64_t)((buf[*pos >> 3] >> (*pos & 7)) & 1) << i;
    return v;
}

static uint32_t fbits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

void nm_compressed_free(nm_compressed *c)
{
    if (!c)
        return;
    free(c->values);
    free(c->index);
    free(c);
}

nm_compressed *nm_compress(const nm_tensor *dense, int n, int m, nm_group_axis axis,
                           nm_index_scheme scheme)
{
    nm_groups g;
    if (m < 2 || m > 64 || n < 0 || n > m) {
        nm_seterr("compress: N:M %d:%d not supported (need 0 <= N <= M, 2 <= M <= 64)", n, m);
        return NULL;
    }
    if ((unsigned)scheme > NM_INDEX_COMBINATORIAL) {
        nm_seterr("compress: unknown index scheme %d", (int)scheme);
        return NULL;
    }
    if (nm_groups_make(dense, m, axis, &g))
        return NULL;
    int64_t ng = nm_groups_count(&g), nv = 0, nb = 0;
    for (int64_t gi = 0; gi < ng; gi++) {
        int64_t len, st;
        nm_group_at(&g, gi, &len, &st);
        nv += len < n ? len : n;
        nb += group_bits(scheme, (int)len, n, m);
    }
    nm_compressed *c = calloc(1, sizeof *c);
    if (c) {
        c->values = malloc((size_t)(nv ? nv : 1) * sizeof *c->values);
        c->index = calloc((size_t)((nb + 7) / 8 + 1), 1);
    }
    if (!c || !c->values || !c->index) {
        nm_compressed_free(c);
        nm_seterr("out of memory");
        return NULL;
    }
    c->ndim = dense->ndim;
    memcpy(c->shape, dense->shape, sizeof c->shape);
    c->n = n, c->m = m, c->axis = axis, c->scheme = scheme;
    c->groups = ng, c->n_values = nv, c->index_bits = nb, c->value_bits = 8 * nv;
    const float *w = nm_f32(dense);
    int64_t vp = 0, bp = 0;
    int ib = nm_ceil_log2((uint64_t)m);
    for (int64_t gi = 0; gi < ng; gi++) {
        int64_t len, st;
        int64_t o = nm_group_at(&g, gi, &len, &st);
        int k = (int)(len < n ? len : n), nz = 0;
        uint8_t slot[64] = {0};
        for (int64_t i = 0; i < len; i++)
            if (fbits(w[o + i * st])) {
                slot[i] = 1;
                nz++;
            }
        if (nz > k) {
            nm_seterr("compress: group %lld (flat offset %lld) has %d nonzeros, more than %d:%d allows",
                      (long long)gi, (long long)o, nz, n, m);
            nm_compressed_free(c);
            return NULL;
        }
        for (int64_t i = 0; i < len && nz < k; i++)
            if (!slot[i]) {
                slot[i] = 1;
                nz++;
            }
        uint64_t rank = 0;
        int si = 0;
        for (int64_t i = 0; i < len; i++) {
            if (!slot[i])
                continue;
            c->values[vp++] = w[o + i * st];
            if (scheme == NM_INDEX_SIMPLE)
                put_bits(c->index, &bp, (uint64_t)i, ib);
            rank += nm_binom((int)i, si + 1);
            si++;
        }
        if (scheme == NM_INDEX_BITMASK)
            for (int64_t i = 0; i < len; i++)
                put_bits(c->index, &bp, slot[i], 1);
        else if (scheme == NM_INDEX_COMBINATORIAL)
            put_bits(c->index, &bp, rank, group_bits(scheme, (int)len, n, m));
    }
    return c;
}

/* Decodes the k slot positions of group gi (length len) from the index
 * stream at *bp into pos[]. NM_ERR with a message on a corrupt index. */
static int decode_group(const nm_compressed *c, int64_t gi, int64_t len, int64_t *bp, int *pos)
{
    int k = (int)(len < c->n ? len : c->n);
    if (c->scheme == NM_INDEX_SIMPLE) {
        int ib = nm_ceil_log2((uint64_t)c->m);
        for (int s = 0; s < k; s++)
            pos[s] = (int)get_bits(c->index, bp, ib);
    } else if (c->scheme == NM_INDEX_BITMASK) {
        int s = 0;
        for (int64_t i = 0; i < len; i++)
            if (get_bits(c->index, bp, 1) && s < k)
                pos[s++] = (int)i;
        if (s != k)
            return nm_seterr("decompress: group %lld's bitmask has %d positions, expected %d",
                             (long long)gi, s, k);
    } else {
        uint64_t rank = get_bits(c->index, bp, group_bits(c->scheme, (int)len, c->n, c->m));
        for (int s = k - 1; s >= 0; s--) {
            int p = s;
            while (p + 1 < len && nm_binom(p + 1, s + 1) <= rank)
                p++;
            rank -= nm_binom(p, s + 1);
            pos[s] = p;
        }
    }
    for (int s = 0; s < k; s++)
        if (pos[s] < 0 || pos[s] >= len)
            return nm_seterr("decompress: corrupt index in group %lld", (long long)gi);
    return NM_OK;
}

int nm_compressed_positions(const nm_compressed *c, int64_t *flat)
{
    if (c->ndim != 2 && c->ndim != 4)
        return nm_seterr("compressed tensor: %d-D shape (need 2-D or 4-D)", c->ndim);
    int64_t shape[NM_MAX_DIMS];
    memcpy(shape, c->shape, sizeof shape);
    nm_tensor probe = {0};
    probe.dtype = NM_F32, probe.ndim = c->ndim;
    memcpy(probe.shape, shape, sizeof shape);
    nm_groups g;
    if (nm_groups_make(&probe, c->m, c->axis, &g))
        return NM_ERR;
    int64_t ng = nm_groups_count(&g), vp = 0, bp = 0;
    if (ng != c->groups)
        return nm_seterr("decompress: %lld groups recorded, the shape gives %lld",
                         (long long)c->groups, (long long)ng);
    for (int64_t gi = 0; gi < ng; gi++) {
        int64_t len, st;
        int64_t o = nm_group_at(&g, gi, &len, &st);
        int k = (int)(len < c->n ? len : c->n), pos[64];
        if (decode_group(c, gi, len, &bp, pos))
            return NM_ERR;
        if (vp + k > c->n_values)
            return nm_seterr("decompress: corrupt index in group %lld", (long long)gi);
        for (int s = 0; s < k; s++)
            flat[vp++] = o + pos[s] * st;
    }
    if (vp != c->n_values)
        return nm_seterr("decompress: %lld values recorded, the groups hold %lld",
                         (long long)c->n_values, (long long)vp);
    return NM_OK;
}

nm_tensor *nm_decompress(const nm_compressed *c)
{
    nm_tensor *t = nm_tensor_new(NM_F32, c->ndim, c->shape);
    if (!t)
        return NULL;
    int64_t *flat = malloc((size_t)(c->n_values ? c->n_values : 1) * sizeof *flat);
    if (!flat) {
        nm_tensor_release(t);
        nm_seterr("out of memory");
        return NULL;
    }
    if (nm_compressed_positions(c, flat)) {
        free(flat);
        nm_tensor_release(t);
        return NULL;
    }
    float *w = nm_f32(t);
    for (int64_t v = 0; v < c->n_values; v++)
        w[flat[v]] = c->values[v];
    free(flat);
    return t;
}
