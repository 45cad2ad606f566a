/* fuzz_npy.c - nm_npy_load on arbitrary bytes. A file that loads must save
 * and reload to the same shape, dtype and bytes. */
#include "fuzz_util.h"
#include "nmio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(data, size);
    nm_tensor *t = nm_npy_load(path);
    if (t) {
        FUZZ_CHECK(nm_npy_save(t, path) == NM_OK);
        nm_tensor *back = nm_npy_load(path);
        FUZZ_CHECK(back != NULL);
        FUZZ_CHECK(back->dtype == t->dtype && back->ndim == t->ndim && back->numel == t->numel);
        for (int d = 0; d < t->ndim; d++)
            FUZZ_CHECK(back->shape[d] == t->shape[d]);
        FUZZ_CHECK(memcmp(back->data, t->data, (size_t)t->numel * nm_dtype_size(t->dtype)) == 0);
        nm_tensor_release(back);
        nm_tensor_release(t);
    }
    return 0;
}
