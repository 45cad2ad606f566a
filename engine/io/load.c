/* load.c - open any model file by looking at its content.
 *
 * safetensors: 8-byte little-endian header length, then '{'.
 * ONNX: a protobuf ModelProto; recognised by the ".onnx" extension or by its
 *       first field being ir_version (tag 0x08).
 * SCALE-Sim CSV: text whose first line starts with "Layer name".
 * NumPy arrays and IDX data sets are recognised to say what they are. */
#include "nmio.h"
#include "error.h"
#include "fileutil.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int has_ext(const char *path, const char *ext)
{
    size_t n = strlen(path), k = strlen(ext);
    return n >= k && strcasecmp(path + n - k, ext) == 0;
}

nm_model *nm_model_load(const char *path, char **warnings)
{
    return nm_model_load_progress(path, warnings, NULL, NULL);
}

nm_model *nm_model_load_progress(const char *path, char **warnings, nm_progress_fn progress, void *ud)
{
    nm_onnx_opts o = {.progress = progress, .progress_ud = ud};
    return nm_model_load_opts(path, &o, warnings);
}

nm_model *nm_model_load_opts(const char *path, const nm_onnx_opts *o, char **warnings)
{
    nm_progress_fn progress = o->progress;
    void *ud = o->progress_ud;
    if (warnings)
        *warnings = NULL;
    FILE *f = nm_fopen_read(path);   /* refuses FIFOs, devices, folders */
    if (!f)
        return NULL;
    unsigned char head[64] = {0};
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    if (n == 0) {
        nm_seterr("%s: file is empty", path);
        return NULL;
    }
    if (n >= 6 && memcmp(head, "\x93NUMPY", 6) == 0) {
        nm_seterr("%s: is a NumPy array, not a model (read it with nm.npy_load)", path);
        return NULL;
    }
    if (n >= 4 && head[0] == 0 && head[1] == 0 && head[2] == 0x08 && head[3] >= 1 && head[3] <= 4) {
        nm_seterr("%s: is an IDX data set, not a model", path);
        return NULL;
    }
    if (n >= 9 && head[8] == '{' && head[5] == 0 && head[6] == 0 && head[7] == 0)
        return nm_safetensors_load_model_progress(path, progress, ud);
    size_t skip = 0;
    if (n >= 3 && memcmp(head, "\xef\xbb\xbf", 3) == 0)
        skip = 3; /* UTF-8 byte-order mark */
    if (n >= skip + 10 && strncasecmp((const char *)head + skip, "layer name", 10) == 0)
        return nm_scalesim_load(path, 1);
    if (has_ext(path, ".onnx") || head[0] == 0x08)
        return nm_onnx_load_opts(path, o, warnings);
    if (has_ext(path, ".csv"))
        return nm_scalesim_load(path, 1);
    if (has_ext(path, ".safetensors"))
        return nm_safetensors_load_model_progress(path, progress, ud);
    int text = 1;
    for (size_t i = 0; i < n; i++)
        text &= isprint(head[i]) || isspace(head[i]);
    nm_seterr("%s: not a model file nmlab reads (%s; expected safetensors, ONNX or a "
              "SCALE-Sim topology CSV)", path, text ? "text of an unknown layout" : "unknown binary format");
    return NULL;
}
