/* tensor.h - dense, contiguous, refcounted tensors of up to 4 dimensions.
 *
 * A tensor owns its data. nm_tensor_new returns a tensor with refcount 1;
 * whoever holds a reference releases it with nm_tensor_release. Shapes are
 * checked: no dimension may be negative and the byte size may not overflow
 * or exceed NM_TENSOR_MAX_BYTES, so hostile sizes from files fail cleanly. */
#ifndef NM_TENSOR_H
#define NM_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define NM_MAX_DIMS 4
/* Largest single tensor the engine will allocate (16 GiB). */
#define NM_TENSOR_MAX_BYTES ((int64_t)1 << 34)

typedef enum {
    NM_F32 = 0,
    NM_I8,
    NM_U8,
    NM_I32,
    NM_DTYPE_COUNT
} nm_dtype;

typedef struct nm_tensor {
    int refcount;
    nm_dtype dtype;
    int ndim;
    int64_t shape[NM_MAX_DIMS];  /* unused trailing dims are 1 */
    int64_t numel;
    void *data;                  /* numel * nm_dtype_size(dtype) bytes */
    uint64_t mem_scope;          /* budget scope that allocated it (0: none) */
} nm_tensor;

size_t nm_dtype_size(nm_dtype t);
const char *nm_dtype_name(nm_dtype t);

/* Checks a shape and computes its element count into *numel. Returns NM_ERR
 * (message names the problem) for ndim outside 0..4, negative dims, overflow
 * or a byte size over NM_TENSOR_MAX_BYTES. */
int nm_shape_numel(nm_dtype t, int ndim, const int64_t *shape, int64_t *numel);

/* New zero-filled tensor; NULL on a bad shape or out of memory. */
nm_tensor *nm_tensor_new(nm_dtype t, int ndim, const int64_t *shape);
/* Convenience for small literal shapes: nm_tensor_new4(NM_F32, 2, a, b, 0, 0). */
nm_tensor *nm_tensor_new4(nm_dtype t, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3);
/* Deep copy (refcount 1). */
nm_tensor *nm_tensor_clone(const nm_tensor *src);

nm_tensor *nm_tensor_retain(nm_tensor *t);
/* Drops one reference; frees at zero. NULL is allowed. */
void nm_tensor_release(nm_tensor *t);

/* Same ndim and shape. */
int nm_tensor_same_shape(const nm_tensor *a, const nm_tensor *b);
/* "[64, 3, 7, 7]" into buf. */
const char *nm_shape_str(const nm_tensor *t, char *buf, size_t len);

/* Element access as double, by flat index (any dtype). */
double nm_tensor_getd(const nm_tensor *t, int64_t i);
void nm_tensor_setd(nm_tensor *t, int64_t i, double v);
/* Nonzero elements. */
int64_t nm_tensor_nnz(const nm_tensor *t);
/* Nonzero bytes of p[0..len), vectorised, on every core past 64 K. */
int64_t nm_count_nonzero_u8(const uint8_t *p, int64_t len);
void nm_tensor_fill(nm_tensor *t, double v);

static inline float *nm_f32(const nm_tensor *t) { return (float *)t->data; }
static inline uint8_t *nm_u8(const nm_tensor *t) { return (uint8_t *)t->data; }
static inline int8_t *nm_i8(const nm_tensor *t) { return (int8_t *)t->data; }
static inline int32_t *nm_i32(const nm_tensor *t) { return (int32_t *)t->data; }

/* Deterministic random numbers (splitmix64 seeding xoshiro256**): the same
 * seed gives the same stream on every machine. */
typedef struct { uint64_t s[4]; } nm_rng;
void nm_rng_seed(nm_rng *r, uint64_t seed);
uint64_t nm_rng_next(nm_rng *r);
double nm_rng_uniform(nm_rng *r);      /* [0, 1) */
double nm_rng_normal(nm_rng *r);       /* standard normal */

/* --- memory accounting and budgets ---
 *
 * The engine counts the bytes of tensor data it holds (all threads):
 * nm_mem_live() now, nm_mem_peak() the most since the last
 * nm_mem_reset_peak(). A caller that must keep an engine call under a limit
 * (the Lua host's --mem-limit) installs a budget on its thread for the
 * duration of the call. While one is installed:
 *   - loaders and builders reserve, before allocating, the bytes a file's
 *     header (or a zoo entry, or a topology) declares: nm_mem_reserve, which
 *     asks the budget for what is not yet granted and fails up front with
 *     "<what>: <the budget's message>";
 *   - every tensor the thread allocates draws on what was granted, and asks
 *     the budget for any excess first, so the scope never holds more than
 *     the budget allowed even where a loader did not reserve.
 * Tensors allocated in the scope and freed in it go back to the scope (not
 * to the budget: a grant is only returned when the caller ends the scope). Without a budget
 * nm_mem_reserve succeeds and nothing is asked. Other threads (OpenMP
 * workers) are not checked. */

/* Asked for `bytes` more: NM_OK, or NM_ERR with a message (nm_seterr)
 * saying why not, e.g. "not enough memory: N more bytes would pass the
 * memory limit of L bytes". */
typedef int (*nm_mem_budget_fn)(void *ud, size_t bytes);

/* One budget scope; lives on the caller's stack between push and pop. */
typedef struct nm_mem_budget {
    nm_mem_budget_fn fn;
    void *ud;
    int64_t granted;     /* bytes fn has agreed to in this scope */
    int64_t used;        /* tensor bytes allocated in the scope and not freed */
    int refused;         /* set once fn said no: the failure was the budget's */
    uint64_t id;         /* serial number of the scope (never 0) */
    struct nm_mem_budget *prev;
} nm_mem_budget;

/* Installs b (fields set here) as the calling thread's budget; scopes nest.
 * Pop with nm_mem_budget_pop(b) before b goes out of scope, on every path. */
void nm_mem_budget_push(nm_mem_budget *b, nm_mem_budget_fn fn, void *ud);
void nm_mem_budget_pop(nm_mem_budget *b);

/* Reserves `bytes` (what `what` is about to allocate) against the thread's
 * budget. NM_OK, or NM_ERR with "<what>: <budget's message>" and the scope
 * marked refused. A negative or absurd size is refused as well. */
int nm_mem_reserve(const char *what, int64_t bytes);

/* For engine buffers that are not tensors (a file read whole, an unpacked
 * protobuf message): asks the budget like a tensor allocation (drawing on
 * what was reserved, then asking for the rest) and counts `bytes` as held,
 * in the scope and in nm_mem_live, until nm_mem_release(bytes). NM_ERR with
 * "<what>: <budget's message>" when refused. Call before allocating. */
int nm_mem_charge(const char *what, int64_t bytes);
void nm_mem_release(int64_t bytes);

int64_t nm_mem_live(void);
int64_t nm_mem_peak(void);
/* Sets the peak to the bytes live now. */
void nm_mem_reset_peak(void);

#endif
