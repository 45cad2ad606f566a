/* fuzz_history.c - history_load (app/history.c, the console's command
 * history) on arbitrary bytes, with a small cap so that the "keep the last
 * max" path runs too: entries are non-empty, without newlines, and fit the
 * line size. */
#include "fuzz_util.h"
#include "history.h"

#define FUZZ_HIST_MAX 8
#define FUZZ_LINE_MAX 34

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(data, size);
    char *hist[FUZZ_HIST_MAX];
    int n = 0;
    history_load(path, hist, &n, FUZZ_HIST_MAX, FUZZ_LINE_MAX);
    FUZZ_CHECK(n >= 0 && n <= FUZZ_HIST_MAX);
    for (int i = 0; i < n; i++) {
        size_t len = strlen(hist[i]);
        FUZZ_CHECK(len > 0 && len < FUZZ_LINE_MAX && !strchr(hist[i], '\n'));
        free(hist[i]);
    }
    return 0;
}
