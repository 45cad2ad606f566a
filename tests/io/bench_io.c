/* bench_io: reading speed of safetensors and .npy files against the
 * least any loader must do with the same bytes: fread them into freshly
 * allocated buffers of the tensors' sizes, kept until the end like tensors
 * are. Warm page cache, best of 5 runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nmio.h"

#define MIB (1024.0 * 1024.0)
#define PIECE ((size_t)4 << 20) /* each tensor's size */

/* Baseline: the file through fread into new PIECE-sized buffers. */
static double plain_read(const char *path, size_t size)
{
    double t0 = nm_now();
    unsigned char *bufs[64];
    int nb = 0;
    FILE *f = fopen(path, "rb");
    size_t got = 0, n;
    while (got < size && nb < 64) {
        size_t want = size - got < PIECE ? size - got : PIECE;
        bufs[nb] = calloc(want, 1);
        n = fread(bufs[nb++], 1, want, f);
        if (n == 0)
            break;
        got += n;
    }
    fclose(f);
    double dt = nm_now() - t0;
    if (got != size)
        exit(1);
    while (nb > 0)
        free(bufs[--nb]);
    return dt;
}

static double st_read(const char *path)
{
    double t0 = nm_now();
    nm_tensor_list tl;
    if (nm_safetensors_read(path, &tl) != NM_OK) {
        fprintf(stderr, "%s\n", nm_errmsg());
        exit(1);
    }
    double dt = nm_now() - t0;
    nm_tensor_list_free(&tl);
    return dt;
}

static double npy_read(const char *path)
{
    double t0 = nm_now();
    nm_tensor *t = nm_npy_load(path);
    if (!t) {
        fprintf(stderr, "%s\n", nm_errmsg());
        exit(1);
    }
    double dt = nm_now() - t0;
    nm_tensor_release(t);
    return dt;
}

static void report(const char *what, const char *path, double (*fn)(const char *))
{
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    size_t size = (size_t)ftell(f);
    fclose(f);
    double best = 1e9, base = 1e9;
    for (int r = 0; r < 5; r++) {
        double b = plain_read(path, size), t = fn(path);
        base = b < base ? b : base;
        best = t < best ? t : best;
    }
    printf("%-28s %6.1f MiB: %7.1f MiB/s (%.1f ms); plain fread %7.1f MiB/s (%.1f ms); "
           "ratio %.2f\n", what, size / MIB, size / MIB / best, best * 1e3, size / MIB / base,
           base * 1e3, best / base);
}

int main(void)
{
    char st[] = "/tmp/nmio-bench-XXXXXX", npy[64];
    int fd = mkstemp(st);
    close(fd);
    snprintf(npy, sizeof npy, "%s.npy", st);

    /* 32 MiB of f32 in 8 tensors, like a small model's weights */
    nm_tensor_list tl = {0};
    for (int i = 0; i < 8; i++) {
        nm_tensor *t = nm_tensor_new4(NM_F32, 2, 1024, 1024, 0, 0);
        for (int64_t k = 0; k < t->numel; k++)
            nm_f32(t)[k] = (float)(k % 977) * 0.5f;
        char name[32];
        snprintf(name, sizeof name, "layer%d.weight", i);
        nm_tensor_list_add(&tl, name, t);
        nm_tensor_release(t);
    }
    if (nm_safetensors_write(st, &tl) != NM_OK || nm_npy_save(tl.tensors[0], npy) != NM_OK) {
        fprintf(stderr, "%s\n", nm_errmsg());
        return 1;
    }
    nm_tensor_list_free(&tl);
    report("safetensors read (F32)", st, st_read);
    report("npy load (<f4)", npy, npy_read);
    unlink(st);
    unlink(npy);
    return 0;
}
