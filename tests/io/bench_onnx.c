/* Benchmark: nm_onnx_load on a ~38 MB model (four 512->512 3x3 convs, raw
 * FLOAT weights), against a baseline measured in the same run: reading the
 * same file with nm_read_file and one streaming pass over its bytes. Prints
 * both times (best of 5), throughput and the ratio. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileutil.h"
#include "nmio.h"
#include "onnx.pb-c.h"

#define CH 512
#define LAYERS 4

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        abort();
    return p;
}

static Onnx__ValueInfoProto *input_info(void)
{
    Onnx__ValueInfoProto *vi = xmalloc(sizeof *vi);
    Onnx__TypeProto *tp = xmalloc(sizeof *tp);
    Onnx__TypeProto__Tensor *tt = xmalloc(sizeof *tt);
    Onnx__TensorShapeProto *sh = xmalloc(sizeof *sh);
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    const int64_t dims[4] = {1, CH, 8, 8};
    sh->n_dim = 4;
    sh->dim = xmalloc(4 * sizeof *sh->dim);
    for (int i = 0; i < 4; i++) {
        Onnx__TensorShapeProto__Dimension *d = xmalloc(sizeof *d);
        onnx__tensor_shape_proto__dimension__init(d);
        d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        d->dim_value = dims[i];
        sh->dim[i] = d;
    }
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    vi->name = xstrdup("x");
    vi->type = tp;
    return vi;
}

/* Writes the model to path; returns its size in bytes. */
static size_t write_model(const char *path)
{
    Onnx__ModelProto mp;
    Onnx__GraphProto g;
    onnx__model_proto__init(&mp);
    onnx__graph_proto__init(&g);
    mp.graph = &g;
    Onnx__ValueInfoProto *in = input_info();
    g.n_input = 1;
    g.input = &in;
    Onnx__TensorProto *inits[LAYERS];
    Onnx__NodeProto *nodes[LAYERS];
    size_t wbytes = (size_t)CH * CH * 9 * 4;
    int64_t wdims[4] = {CH, CH, 3, 3};
    int64_t pads[4] = {1, 1, 1, 1};
    Onnx__AttributeProto pad_attr;
    onnx__attribute_proto__init(&pad_attr);
    pad_attr.name = "pads";
    pad_attr.has_type = 1;
    pad_attr.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    pad_attr.n_ints = 4;
    pad_attr.ints = pads;
    Onnx__AttributeProto *attrs[1] = {&pad_attr};
    char names[LAYERS][3][16];
    char *ins[LAYERS][2], *outs[LAYERS][1];
    for (int k = 0; k < LAYERS; k++) {
        Onnx__TensorProto *t = inits[k] = xmalloc(sizeof *t);
        onnx__tensor_proto__init(t);
        snprintf(names[k][0], 16, "W%d", k);
        snprintf(names[k][1], 16, k ? "a%d" : "x", k - 1);
        snprintf(names[k][2], 16, "a%d", k);
        t->name = names[k][0];
        t->has_data_type = 1;
        t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
        t->n_dims = 4;
        t->dims = wdims;
        t->has_raw_data = 1;
        t->raw_data.len = wbytes;
        t->raw_data.data = xmalloc(wbytes);
        for (size_t i = 0; i < wbytes; i++)
            t->raw_data.data[i] = (uint8_t)(i * 2654435761u >> 24);
        for (size_t i = 3; i < wbytes; i += 4)
            t->raw_data.data[i] = 0x3c; /* keep the floats small and finite */
        Onnx__NodeProto *n = nodes[k] = xmalloc(sizeof *n);
        onnx__node_proto__init(n);
        n->op_type = "Conv";
        ins[k][0] = names[k][1];
        ins[k][1] = names[k][0];
        outs[k][0] = names[k][2];
        n->n_input = 2;
        n->input = ins[k];
        n->n_output = 1;
        n->output = outs[k];
        n->n_attribute = 1;
        n->attribute = attrs;
    }
    g.n_initializer = LAYERS;
    g.initializer = inits;
    g.n_node = LAYERS;
    g.node = nodes;
    size_t len = onnx__model_proto__get_packed_size(&mp);
    uint8_t *buf = xmalloc(len);
    onnx__model_proto__pack(&mp, buf);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    free(buf);
    for (int k = 0; k < LAYERS; k++) {
        free(inits[k]->raw_data.data);
        free(inits[k]);
        free(nodes[k]);
    }
    onnx__value_info_proto__free_unpacked(in, NULL);
    return len;
}

int main(void)
{
    /* A fixed mmap threshold: otherwise glibc raises it after the first
     * large free, and whether the baseline's buffer is fresh (page faults)
     * or reused then depends on earlier allocations, not on the reading.
     * Fixed, both sides get fresh memory every time, as a first load does. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    char path[] = "/tmp/nm_bench_onnx.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 1;
    close(fd);
    size_t len = write_model(path);
    double best_load = 1e9, best_base = 1e9;
    unsigned sum = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = nm_now();
        unsigned char *data;
        size_t n;
        if (nm_read_file(path, (size_t)1 << 31, &data, &n) != NM_OK)
            return 1;
        for (size_t i = 0; i < n; i++)
            sum += data[i];
        free(data);
        double t1 = nm_now();
        char *warn = NULL;
        nm_model *m = nm_onnx_load(path, &warn);
        double t2 = nm_now();
        if (!m || warn) {
            fprintf(stderr, "load failed: %s %s\n", nm_errmsg(), warn ? warn : "");
            return 1;
        }
        nm_model_free(m);
        if (t1 - t0 < best_base)
            best_base = t1 - t0;
        if (t2 - t1 < best_load)
            best_load = t2 - t1;
    }
    unlink(path);
    double mb = (double)len / 1e6;
    printf("onnx_load: %.1f MB (%d convs %dx%dx3x3) in %.1f ms = %.0f MB/s\n", mb, LAYERS, CH, CH,
           1e3 * best_load, mb / best_load);
    printf("baseline (nm_read_file + one pass over the bytes): %.1f ms = %.0f MB/s (checksum %u)\n",
           1e3 * best_base, mb / best_base, sum & 0xff);
    printf("ratio load/baseline: %.2f\n", best_load / best_base);
    return 0;
}
