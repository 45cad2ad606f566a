/* rawio.h - little-endian element streams shared by the tensor file formats
 * (safetensors, .npy): the storage types those files use, how many bytes
 * each element takes, and chunked decoding into / encoding from engine
 * tensors. Works the same on any host byte order. Internal to engine/io. */
#ifndef NM_RAWIO_H
#define NM_RAWIO_H

#include "error.h"
#include "tensor.h"

#include <stddef.h>
#include <stdio.h>

/* Element types as stored in files. Each decodes into one engine dtype:
 * F32, F64, F16, BF16 -> f32; I8 -> i8; U8, BOOL -> u8 (BOOL nonzero -> 1);
 * I32 -> i32; I64 -> i32 (values outside int32 are an error). */
typedef enum {
    NM_RAW_F32 = 0,
    NM_RAW_F64,
    NM_RAW_F16,
    NM_RAW_BF16,
    NM_RAW_I8,
    NM_RAW_U8,
    NM_RAW_BOOL,
    NM_RAW_I32,
    NM_RAW_I64,
    NM_RAW_COUNT
} nm_raw_type;

/* Bytes per stored element. */
size_t nm_raw_size(nm_raw_type r);
/* The engine dtype a stored type decodes into. */
nm_dtype nm_raw_target(nm_raw_type r);
/* The stored type an engine dtype is written as (F32, I8, U8, I32). */
nm_raw_type nm_raw_of_dtype(nm_dtype t);

/* Stored element count times size, or -1 when the count is negative or the
 * product overflows int64. */
int64_t nm_raw_bytes(nm_raw_type r, int64_t numel);

/* Progress over the tensor bytes of one file, for nm_raw_read/write:
 * `done` grows by the bytes each call moves and fn is called at least every
 * NM_RAW_REPORT_BYTES and at the end of each tensor. A NULL pointer or fn
 * means no reports. */
typedef struct {
    nm_progress_fn fn;
    void *ud;
    int64_t done, total, reported;
    const char *what;
} nm_raw_progress;
#define NM_RAW_REPORT_BYTES ((int64_t)16 << 20)

/* Reads t->numel stored elements of type r from f's current position and
 * decodes them into t (whose dtype must be nm_raw_target(r)). On failure
 * returns NM_ERR with a message that does not name the file (callers
 * prefix it): "unexpected end of file", "read error", or for I64 the first
 * element that does not fit int32. */
int nm_raw_read(FILE *f, nm_raw_type r, nm_tensor *t, nm_raw_progress *p);

/* Writes t's elements little-endian as nm_raw_of_dtype(t->dtype). NM_ERR
 * ("write error: ...") if the stream reports a failure. */
int nm_raw_write(FILE *f, const nm_tensor *t, nm_raw_progress *p);

#endif
