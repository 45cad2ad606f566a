/* fuzz_scalesim_csv.c - nm_scalesim_load (SCALE-Sim topology CSV) on
 * arbitrary bytes. */
#include "fuzz_util.h"
#include "nmio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(data, size);
    nm_model *m = nm_scalesim_load(path, 1);
    nm_model_free(m);
    return 0;
}
