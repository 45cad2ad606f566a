/* data.c - labelled data sets, and Fashion-MNIST from Debian's
 * dataset-fashion-mnist package (IDX files, gzip-compressed). */
#include "nmio.h"
#include "train.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

nm_dataset *nm_dataset_new(const char *name, nm_tensor *images, nm_tensor *labels, int classes)
{
    const char *nm = name ? name : "data";
    if (!images || !labels || images->dtype != NM_F32 || images->ndim != 4) {
        nm_seterr("data set '%s': images must be f32 [n, C, H, W]", nm);
        return NULL;
    }
    if (labels->dtype != NM_I32 || labels->ndim != 1 || labels->shape[0] != images->shape[0]) {
        nm_seterr("data set '%s': labels must be i32 [%lld], one per image", nm,
                  (long long)images->shape[0]);
        return NULL;
    }
    if (classes <= 0) {
        nm_seterr("data set '%s': %d classes", nm, classes);
        return NULL;
    }
    const int32_t *y = nm_i32(labels);
    for (int64_t i = 0; i < labels->numel; i++)
        if (y[i] < 0 || y[i] >= classes) {
            nm_seterr("data set '%s': label %d of sample %lld is outside 0..%d", nm, y[i],
                      (long long)i, classes - 1);
            return NULL;
        }
    nm_dataset *d = calloc(1, sizeof *d);
    if (!d) {
        nm_seterr("out of memory");
        return NULL;
    }
    snprintf(d->name, sizeof d->name, "%s", nm);
    d->images = nm_tensor_retain(images);
    d->labels = nm_tensor_retain(labels);
    d->classes = classes;
    return d;
}

void nm_dataset_free(nm_dataset *d)
{
    if (!d)
        return;
    nm_tensor_release(d->images);
    nm_tensor_release(d->labels);
    free(d);
}

/* The file of a part: dir/<stem>.gz, or dir/<stem> when only the
 * uncompressed file exists. */
static void part_path(const char *dir, const char *stem, char *path, size_t len)
{
    struct stat st;
    snprintf(path, len, "%s/%s.gz", dir, stem);
    if (stat(path, &st) != 0) {
        char plain[4096];
        snprintf(plain, sizeof plain, "%s/%s", dir, stem);
        if (stat(plain, &st) == 0)
            snprintf(path, len, "%s", plain);
    }
}

/* Memory: the headers say how many images there are; the first `limit`
 * of them (all when limit <= 0) are then reserved against the thread's
 * memory budget in one go (the u8 images and labels as read, and the f32 and
 * i32 copies made from them) before anything is allocated, and only those
 * are read from the files (nm_idx_load_limit). */
nm_dataset *nm_data_fashion_mnist(const char *dir, int train, int64_t limit)
{
    if (!dir)
        dir = NM_FMNIST_DIR;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        nm_seterr("Fashion-MNIST not found: %s is not a directory (install Debian's "
                  "dataset-fashion-mnist package: apt-get install dataset-fashion-mnist)", dir);
        return NULL;
    }
    const char *set = train ? "train" : "t10k";
    char stem_x[64], stem_y[64], path_x[4200], path_y[4200];
    snprintf(stem_x, sizeof stem_x, "%s-images-idx3-ubyte", set);
    snprintf(stem_y, sizeof stem_y, "%s-labels-idx1-ubyte", set);
    part_path(dir, stem_x, path_x, sizeof path_x);
    part_path(dir, stem_y, path_y, sizeof path_y);
    int ndx = 0, ndy = 0;
    int64_t sx[NM_MAX_DIMS], sy[NM_MAX_DIMS];
    if (nm_idx_shape(path_x, &ndx, sx) != NM_OK || nm_idx_shape(path_y, &ndy, sy) != NM_OK)
        return NULL;
    if (ndx != 3 || ndy != 1 || sx[0] != sy[0]) {
        nm_seterr("Fashion-MNIST in %s: %s set images and labels do not match (expected "
                  "[n, 28, 28] images and [n] labels)", dir, set);
        return NULL;
    }
    int64_t n = sx[0];
    if (limit > 0 && limit < n)
        n = limit;
    const int64_t hw = sx[1] * sx[2];
    /* n * hw <= the declared u8 size, itself < 2^34: no overflow below */
    if (nm_mem_reserve(path_x, n * hw * (1 + (int64_t)sizeof(float)) +
                                   n * (1 + (int64_t)sizeof(int32_t))) != NM_OK)
        return NULL;
    nm_tensor *xi = nm_idx_load_limit(path_x, n);
    nm_tensor *yi = xi ? nm_idx_load_limit(path_y, n) : NULL;
    nm_tensor *x = NULL, *y = NULL;
    nm_dataset *d = NULL;
    if (!xi || !yi)
        goto done;
    if (xi->ndim != 3 || yi->ndim != 1 || xi->shape[0] != n || yi->shape[0] != n ||
        xi->shape[1] * xi->shape[2] != hw) {
        nm_seterr("Fashion-MNIST in %s: %s set files changed while being read", dir, set);
        goto done;
    }
    x = nm_tensor_new4(NM_F32, 4, n, 1, xi->shape[1], xi->shape[2]);
    y = nm_tensor_new4(NM_I32, 1, n, 0, 0, 0);
    if (!x || !y)
        goto done;
    const uint8_t *px = nm_u8(xi), *py = nm_u8(yi);
    float *fx = nm_f32(x);
    const float scale = 1.0f / (255.0f * NM_FMNIST_STD), shift = NM_FMNIST_MEAN / NM_FMNIST_STD;
    for (int64_t i = 0; i < n * hw; i++)
        fx[i] = px[i] * scale - shift;
    for (int64_t i = 0; i < n; i++)
        nm_i32(y)[i] = py[i];
    char name[64];
    snprintf(name, sizeof name, "fashion-mnist-%s", train ? "train" : "test");
    d = nm_dataset_new(name, x, y, 10);
done:
    nm_tensor_release(xi), nm_tensor_release(yi);
    nm_tensor_release(x), nm_tensor_release(y);
    return d;
}
