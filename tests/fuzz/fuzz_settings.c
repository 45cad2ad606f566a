/* fuzz_settings.c - settings_load (app/settings.c, "key = value" lines) on
 * arbitrary bytes: whatever it reads stays in range and NUL-terminated,
 * and saves and reloads to the same settings. */
#include "fuzz_util.h"
#include "settings.h"
#include "error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(data, size);
    nm_settings s, back;
    settings_defaults(&s);
    settings_load(&s, path);
    FUZZ_CHECK(memchr(s.last_model, 0, sizeof s.last_model) != NULL);
    FUZZ_CHECK(memchr(s.array_mac, 0, sizeof s.array_mac) != NULL);
    FUZZ_CHECK(s.array_rows >= 1 && s.array_rows <= 512 && s.array_cols >= 1 && s.array_cols <= 512);
    FUZZ_CHECK(settings_save(&s, path) == NM_OK);
    settings_defaults(&back);
    settings_load(&back, path);
    FUZZ_CHECK(back.theme_dark == s.theme_dark && back.mouse == s.mouse);
    FUZZ_CHECK(back.array_rows == s.array_rows && back.array_cols == s.array_cols);
    return 0;
}
