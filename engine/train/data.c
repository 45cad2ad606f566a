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

/* Loads dir/<stem>.gz, or dir/<stem> when only the uncompressed file exists. */
static nm_tensor *load_part(const char *dir, const char *stem)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s.gz", dir, stem);
    if (stat(path, &st) != 0) {
        char plain[4096];
        snprintf(plain, sizeof plain, "%s/%s", dir, stem);
        if (stat(plain, &st) == 0)
            return nm_idx_load(plain);
    }
    return nm_idx_load(path);
}

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
    char stem_x[64], stem_y[64];
    snprintf(stem_x, sizeof stem_x, "%s-images-idx3-ubyte", set);
    snprintf(stem_y, sizeof stem_y, "%s-labels-idx1-ubyte", set);
    nm_tensor *xi = load_part(dir, stem_x);
    nm_tensor *yi = xi ? load_part(dir, stem_y) : NULL;
    nm_tensor *x = NULL, *y = NULL;
    nm_dataset *d = NULL;
    if (!xi || !yi)
        goto done;
    if (xi->ndim != 3 || yi->ndim != 1 || xi->shape[0] != yi->shape[0]) {
        nm_seterr("Fashion-MNIST in %s: %s set images and labels do not match (expected "
                  "[n, 28, 28] images and [n] labels)", dir, set);
        goto done;
    }
    int64_t n = xi->shape[0];
    if (limit > 0 && limit < n)
        n = limit;
    const int64_t hw = xi->shape[1] * xi->shape[2];
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
