/* fuzz_onnx.c - nm_onnx_load on arbitrary bytes (protobuf-c decoding, then
 * the graph import). */
#include "fuzz_util.h"
#include "nmio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(data, size);
    char *warnings = NULL;
    nm_model *m = nm_onnx_load(path, &warnings);
    nm_model_free(m);
    free(warnings);
    return 0;
}
