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

#endif
