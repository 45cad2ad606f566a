/* fuzz_util.h - shared by the libFuzzer targets: the loaders read files, so
 * each input is written to one scratch file per process (in $TMPDIR, else
 * /dev/shm, else /tmp; removed at exit) and loaded from there. /dev/shm is
 * memory: the writers' fsync is free there, and the targets that write run
 * about 20 times faster than on a disk. */
#ifndef NM_FUZZ_UTIL_H
#define NM_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_path_buf[512];

static void fuzz_cleanup(void)
{
    if (fuzz_path_buf[0])
        unlink(fuzz_path_buf);
}

/* The scratch file's path, made on first use; aborts if it cannot be. */
static inline const char *fuzz_path(void)
{
    if (!fuzz_path_buf[0]) {
        const char *dir = getenv("TMPDIR");
        if (!dir || !dir[0])
            dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(fuzz_path_buf, sizeof fuzz_path_buf, "%s/nmlab-fuzz-XXXXXX", dir);
        int fd = mkstemp(fuzz_path_buf);
        if (fd < 0) {
            perror("fuzz: mkstemp");
            abort();
        }
        close(fd);
        atexit(fuzz_cleanup);
    }
    return fuzz_path_buf;
}

/* Writes the input to the scratch file and returns its path. */
static inline const char *fuzz_write(const uint8_t *data, size_t size)
{
    const char *path = fuzz_path();
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror("fuzz: writing the scratch file");
        abort();
    }
    return path;
}

/* Fails the run (libFuzzer saves the input) when a property does not hold. */
#define FUZZ_CHECK(cond)                                                           \
    do {                                                                           \
        if (!(cond)) {                                                             \
            fprintf(stderr, "fuzz: %s:%d: check failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                        \
            abort();                                                               \
        }                                                                          \
    } while (0)

#endif
