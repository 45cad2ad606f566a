/* tensor.c - dense refcounted tensors and a portable RNG. */
#include "tensor.h"
#include "error.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const size_t dtype_sizes[NM_DTYPE_COUNT] = {4, 1, 1, 4};
static const char *dtype_names[NM_DTYPE_COUNT] = {"float32", "int8", "uint8", "int32"};

size_t nm_dtype_size(nm_dtype t)
{
    return (unsigned)t < NM_DTYPE_COUNT ? dtype_sizes[t] : 0;
}

const char *nm_dtype_name(nm_dtype t)
{
    return (unsigned)t < NM_DTYPE_COUNT ? dtype_names[t] : "?";
}

int nm_shape_numel(nm_dtype t, int ndim, const int64_t *shape, int64_t *numel)
{
    if ((unsigned)t >= NM_DTYPE_COUNT)
        return nm_seterr("unknown dtype %d", (int)t);
    if (ndim < 0 || ndim > NM_MAX_DIMS)
        return nm_seterr("tensors have 0 to %d dimensions, not %d", NM_MAX_DIMS, ndim);
    int64_t n = 1, limit = NM_TENSOR_MAX_BYTES / (int64_t)dtype_sizes[t];
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return nm_seterr("dimension %d is negative (%lld)", i, (long long)shape[i]);
        if (shape[i] > 0 && n > limit / shape[i])
            return nm_seterr("shape too large: more than %lld bytes",
                             (long long)NM_TENSOR_MAX_BYTES);
        n *= shape[i];
    }
    *numel = n;
    return NM_OK;
}

/* --- memory accounting (tensor.h) --- */

static _Atomic int64_t mem_live, mem_peak;
static _Thread_local nm_mem_budget *tl_budget;
static _Atomic uint64_t scope_ids;          /* scopes opened so far, all threads */

static void mem_add(int64_t bytes)
{
    int64_t now = atomic_fetch_add(&mem_live, bytes) + bytes;
    int64_t peak = atomic_load(&mem_peak);
    while (now > peak && !atomic_compare_exchange_weak(&mem_peak, &peak, now))
        ;
}

int64_t nm_mem_live(void) { return atomic_load(&mem_live); }
int64_t nm_mem_peak(void) { return atomic_load(&mem_peak); }
void nm_mem_reset_peak(void) { atomic_store(&mem_peak, atomic_load(&mem_live)); }

void nm_mem_budget_push(nm_mem_budget *b, nm_mem_budget_fn fn, void *ud)
{
    b->fn = fn;
    b->ud = ud;
    b->granted = b->used = 0;
    b->refused = 0;
    b->id = atomic_fetch_add(&scope_ids, 1) + 1;
    b->prev = tl_budget;
    tl_budget = b;
}

void nm_mem_budget_pop(nm_mem_budget *b)
{
    if (tl_budget == b)
        tl_budget = b->prev;
}

/* Asks b's function for `extra` more bytes; marks the scope refused if not. */
static int budget_ask(nm_mem_budget *b, int64_t extra)
{
    if ((uint64_t)extra > SIZE_MAX || b->fn(b->ud, (size_t)extra) != NM_OK) {
        b->refused = 1;
        return NM_ERR;
    }
    b->granted += extra;
    return NM_OK;
}

int nm_mem_reserve(const char *what, int64_t bytes)
{
    if (bytes < 0)
        return nm_seterr("%s: impossible size (%lld bytes)", what, (long long)bytes);
    nm_mem_budget *b = tl_budget;
    if (b == NULL || bytes <= b->granted - b->used)
        return NM_OK;
    if (budget_ask(b, bytes - (b->granted - b->used)) != NM_OK)
        return nm_preperr(what);
    return NM_OK;
}

/* Draws `bytes` of a new tensor from the thread's budget (asking for the
 * part not yet granted). */
static int mem_charge(int64_t bytes)
{
    nm_mem_budget *b = tl_budget;
    if (b == NULL)
        return NM_OK;
    if (b->used + bytes > b->granted && budget_ask(b, b->used + bytes - b->granted) != NM_OK)
        return NM_ERR;
    b->used += bytes;
    return NM_OK;
}

static void mem_uncharge(int64_t bytes)
{
    nm_mem_budget *b = tl_budget;
    if (b)
        b->used = b->used > bytes ? b->used - bytes : 0;
}

int nm_mem_charge(const char *what, int64_t bytes)
{
    if (bytes < 0)
        return nm_seterr("%s: impossible size (%lld bytes)", what, (long long)bytes);
    if (mem_charge(bytes) != NM_OK)
        return nm_preperr(what);
    mem_add(bytes);
    return NM_OK;
}

void nm_mem_release(int64_t bytes)
{
    atomic_fetch_sub(&mem_live, bytes);
    mem_uncharge(bytes);
}

nm_tensor *nm_tensor_new(nm_dtype t, int ndim, const int64_t *shape)
{
    int64_t numel;
    if (nm_shape_numel(t, ndim, shape, &numel) != NM_OK)
        return NULL;
    nm_tensor *x = calloc(1, sizeof *x);
    if (!x) {
        nm_seterr("out of memory");
        return NULL;
    }
    size_t bytes = (size_t)numel * dtype_sizes[t];
    if (mem_charge((int64_t)bytes) != NM_OK) {
        free(x);
        return NULL;
    }
    x->data = calloc(bytes ? bytes : 1, 1);
    if (!x->data) {
        mem_uncharge((int64_t)bytes);
        free(x);
        nm_seterr("out of memory allocating %zu bytes", bytes);
        return NULL;
    }
    mem_add((int64_t)bytes);
    x->mem_scope = tl_budget ? tl_budget->id : 0;
    x->refcount = 1;
    x->dtype = t;
    x->ndim = ndim;
    for (int i = 0; i < NM_MAX_DIMS; i++)
        x->shape[i] = i < ndim ? shape[i] : 1;
    x->numel = numel;
    return x;
}

nm_tensor *nm_tensor_new4(nm_dtype t, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    int64_t s[4] = {d0, d1, d2, d3};
    return nm_tensor_new(t, ndim, s);
}

nm_tensor *nm_tensor_clone(const nm_tensor *src)
{
    nm_tensor *x = nm_tensor_new(src->dtype, src->ndim, src->shape);
    if (x)
        memcpy(x->data, src->data, (size_t)src->numel * dtype_sizes[src->dtype]);
    return x;
}

nm_tensor *nm_tensor_retain(nm_tensor *t)
{
    if (t)
        t->refcount++;
    return t;
}

void nm_tensor_release(nm_tensor *t)
{
    if (t && --t->refcount == 0) {
        int64_t bytes = t->numel * (int64_t)nm_dtype_size(t->dtype);
        atomic_fetch_sub(&mem_live, bytes);
        if (tl_budget && t->mem_scope == tl_budget->id)
            mem_uncharge(bytes);   /* only what this scope allocated */
        free(t->data);
        free(t);
    }
}

int nm_tensor_same_shape(const nm_tensor *a, const nm_tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return 0;
    return 1;
}

const char *nm_shape_str(const nm_tensor *t, char *buf, size_t len)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < t->ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, i ? ", %lld" : "%lld",
                                 (long long)t->shape[i]);
    if (used < len)
        snprintf(buf + used, len - used, "]");
    return buf;
}

double nm_tensor_getd(const nm_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case NM_F32: return nm_f32(t)[i];
    case NM_I8: return nm_i8(t)[i];
    case NM_U8: return nm_u8(t)[i];
    case NM_I32: return nm_i32(t)[i];
    default: return 0;
    }
}

void nm_tensor_setd(nm_tensor *t, int64_t i, double v)
{
    switch (t->dtype) {
    case NM_F32: nm_f32(t)[i] = (float)v; break;
    case NM_I8: nm_i8(t)[i] = (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v); break;
    case NM_U8: nm_u8(t)[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); break;
    case NM_I32: nm_i32(t)[i] = (int32_t)v; break;
    default: break;
    }
}

int64_t nm_tensor_nnz(const nm_tensor *t)
{
    /* vectorised, and on every core past 64 K elements (masks of whole
     * layers are counted on hot paths: global magnitude, the TUI) */
    int64_t n = 0, len = t->numel;
    if (t->dtype == NM_F32) {
        const float *p = nm_f32(t);
#pragma omp parallel for simd schedule(static) reduction(+ : n) if (len > (1 << 16))
        for (int64_t i = 0; i < len; i++)
            n += p[i] != 0.0f;
    } else if (t->dtype == NM_I32) {
        const int32_t *p = nm_i32(t);
#pragma omp parallel for simd schedule(static) reduction(+ : n) if (len > (1 << 16))
        for (int64_t i = 0; i < len; i++)
            n += p[i] != 0;
    } else {
        n = nm_count_nonzero_u8(t->data, len);
    }
    return n;
}

/* One 64 K block: a plain simd loop, which clang vectorises too. */
static int64_t count_block_u8(const uint8_t *p, int64_t len)
{
    int64_t n = 0;
#pragma omp simd reduction(+ : n)
    for (int64_t i = 0; i < len; i++)
        n += p[i] != 0;
    return n;
}

/* Parallel over 64 K blocks rather than `parallel for simd` over bytes:
 * clang cannot vectorise a byte loop outlined by `parallel for` (a byte
 * load may alias the private reduction variable). */
int64_t nm_count_nonzero_u8(const uint8_t *p, int64_t len)
{
    const int64_t blk = (int64_t)1 << 16, nb = (len + blk - 1) / blk;
    int64_t n = 0;
#pragma omp parallel for schedule(static) reduction(+ : n) if (nb > 1)
    for (int64_t b = 0; b < nb; b++)
        n += count_block_u8(p + b * blk, b == nb - 1 ? len - b * blk : blk);
    return n;
}

void nm_tensor_fill(nm_tensor *t, double v)
{
    for (int64_t i = 0; i < t->numel; i++)
        nm_tensor_setd(t, i, v);
}

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void nm_rng_seed(nm_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t nm_rng_next(nm_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double nm_rng_uniform(nm_rng *r)
{
    return (double)(nm_rng_next(r) >> 11) * 0x1.0p-53;
}

/* Box-Muller; one value per call keeps the stream simple to reproduce. */
double nm_rng_normal(nm_rng *r)
{
    double u1 = nm_rng_uniform(r), u2 = nm_rng_uniform(r);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
