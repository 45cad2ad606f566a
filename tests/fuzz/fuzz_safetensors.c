/* fuzz_safetensors.c - nm_safetensors_read on arbitrary bytes. A file that
 * loads must also write back and reload to the same names, shapes, dtypes
 * and bytes. */
#include "fuzz_util.h"
#include "nmio.h"

static int same_tensor(const nm_tensor *a, const nm_tensor *b)
{
    if (a->dtype != b->dtype || a->ndim != b->ndim || a->numel != b->numel)
        return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d])
            return 0;
    return memcmp(a->data, b->data, (size_t)a->numel * nm_dtype_size(a->dtype)) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(data, size);
    nm_tensor_list tl = {0};
    if (nm_safetensors_read(path, &tl) == NM_OK) {
        FUZZ_CHECK(nm_safetensors_write(path, &tl) == NM_OK);
        nm_tensor_list back = {0};
        FUZZ_CHECK(nm_safetensors_read(path, &back) == NM_OK);
        FUZZ_CHECK(back.count == tl.count);
        for (int i = 0; i < tl.count; i++) {
            FUZZ_CHECK(strcmp(back.names[i], tl.names[i]) == 0);
            FUZZ_CHECK(same_tensor(back.tensors[i], tl.tensors[i]));
        }
        nm_tensor_list_free(&back);
    }
    nm_tensor_list_free(&tl);
    return 0;
}
