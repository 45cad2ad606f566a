/* fuzz_idx_gz.c - nm_idx_load on gzip-compressed IDX files. The input is
 * the plain file, compressed here with zlib before loading, so the fuzzer
 * explores the IDX parser behind the gzip path; an input that is already a
 * gzip stream (1f 8b) is loaded as it is, to fuzz corrupt streams too. A
 * compressed file that loads must give back exactly the input's data. */
#include "fuzz_util.h"
#include "nmio.h"

#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path;
    int raw = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    if (raw) {
        path = fuzz_write(data, size);
    } else {
        path = fuzz_path();
        gzFile f = gzopen(path, "wb1");
        FUZZ_CHECK(f != NULL);
        FUZZ_CHECK(size == 0 || gzwrite(f, data, (unsigned)size) == (int)size);
        FUZZ_CHECK(gzclose(f) == Z_OK);
    }
    nm_tensor *t = nm_idx_load(path);
    if (t) {
        FUZZ_CHECK(t->dtype == NM_U8);
        if (!raw)
            FUZZ_CHECK((size_t)t->numel == size - 4 - 4 * (size_t)t->ndim &&
                       memcmp(t->data, data + 4 + 4 * t->ndim, (size_t)t->numel) == 0);
        nm_tensor_release(t);
    }
    return 0;
}
