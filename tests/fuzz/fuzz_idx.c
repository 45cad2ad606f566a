/* fuzz_idx.c - nm_idx_load on arbitrary bytes (read through zlib's gzread,
 * which passes plain files through and decompresses gzip ones). A file
 * that loads must hold exactly the bytes its header declares. */
#include "fuzz_util.h"
#include "nmio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(data, size);
    nm_tensor *t = nm_idx_load(path);
    if (t) {
        FUZZ_CHECK(t->dtype == NM_U8);
        if (!(data[0] == 0x1f && data[1] == 0x8b))  /* plain (a loaded file has >= 4 bytes) */
            FUZZ_CHECK(t->ndim == data[3] && (size_t)t->numel == size - 4 - 4 * (size_t)t->ndim &&
                       memcmp(t->data, data + 4 + 4 * t->ndim, (size_t)t->numel) == 0);
        nm_tensor_release(t);
    }
    return 0;
}
