/* gen_corpus.c - writes the fuzz targets' seed corpora (small valid files)
 * with nmlab's own writers, or byte by byte where nmlab has no writer for a
 * variant (F16/BF16/F64/I64/BOOL safetensors, f8/b1 .npy, IDX). Run once
 * from the source root after a change of format:
 *   ./build-fuzz/tests/fuzz/gen_corpus tests/fuzz/corpus
 * Exits non-zero if any file cannot be made. */
#include "nmio.h"
#include "prune.h"
#include "sim.h"
#include "zoo_builder.h"
#include "../../app/settings.h"
#include "../io/onnx_build.h"
#include "../io/onnx_svtr_graph.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

static const char *root;
static int failures;

static const char *out(const char *target, const char *file)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, target);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", root, target, file);
    return path;
}

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "gen_corpus: %s: %s\n", what, nm_errmsg());
        failures++;
    }
}

static void put(const char *target, const char *file, const void *data, size_t len)
{
    FILE *f = fopen(out(target, file), "wb");
    check(f && fwrite(data, 1, len, f) == len && fclose(f) == 0, file);
}

/* A file's bytes (malloc'd, *len set), or NULL. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *buf = malloc(1 << 20);
    *len = buf ? fread(buf, 1, 1 << 20, f) : 0;
    fclose(f);
    return buf;
}

/* The pipeline seed: one control byte, then a model file of another target. */
static void pipeline_seed(unsigned char ctl, const char *target, const char *file, const char *name)
{
    size_t len = 0;
    unsigned char *b = slurp(out(target, file), &len);
    check(b != NULL, name);
    if (!b)
        return;
    unsigned char *p = malloc(len + 1);
    p[0] = ctl;
    memcpy(p + 1, b, len);
    put("pipeline", name, p, len + 1);
    free(p);
    free(b);
}

static void fill(nm_tensor *t, float scale)
{
    for (int64_t i = 0; i < t->numel; i++)
        nm_tensor_setd(t, i, scale * (double)((i * 7) % 11 - 5));
}

/* A safetensors file from a header and a data block, by hand. */
static void st_raw(const char *file, const char *json, const void *data, size_t len)
{
    size_t hl = strlen(json);
    unsigned char *b = malloc(8 + hl + len);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, json, hl);
    memcpy(b + 8 + hl, data, len);
    put("safetensors", file, b, 8 + hl + len);
    free(b);
}

/* A version 1.0 .npy file by hand: header dict padded to 64 bytes. */
static void npy_raw(const char *file, const char *dict, const void *data, size_t len)
{
    char hdr[128];
    size_t dl = strlen(dict), total = (10 + dl + 1 + 63) / 64 * 64;
    memset(hdr, ' ', sizeof hdr);
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    hdr[8] = (char)(total - 10);
    hdr[9] = 0;
    memcpy(hdr + 10, dict, dl);
    hdr[total - 1] = '\n';
    unsigned char *b = malloc(total + len);
    memcpy(b, hdr, total);
    memcpy(b + total, data, len);
    put("npy", file, b, total + len);
    free(b);
}

static void idx_raw(const char *target, const char *file, int ndim, const int *dims)
{
    unsigned char b[256] = {0, 0, 0x08, (unsigned char)ndim};
    size_t n = 4, numel = 1;
    for (int i = 0; i < ndim; i++) {
        b[n++] = 0, b[n++] = 0, b[n++] = (unsigned char)(dims[i] >> 8), b[n++] = (unsigned char)dims[i];
        numel *= (size_t)dims[i];
    }
    for (size_t i = 0; i < numel; i++)
        b[n++] = (unsigned char)(i * 37);
    put(target, file, b, n);
}

/* conv -> bn -> relu -> maxpool -> conv -> add -> gap -> flatten -> fc, 2x6x6 input. */
static nm_model *tiny_model(void)
{
    zb b;
    zb_begin(&b, "tiny", 2, 6, 6);
    int x = zb_conv(&b, NM_INPUT, 4, 3, 1, 1, 1, "conv1");
    x = zb_bn(&b, x, "bn1");
    x = zb_relu(&b, x, 0, "relu1");
    int p = zb_maxpool(&b, x, 2, 2, 0, "pool");
    x = zb_conv(&b, p, 4, 3, 1, 1, 0, "conv2");
    x = zb_add(&b, x, p, "add");
    x = zb_gap(&b, x, "gap");
    x = zb_flatten(&b, x, "flatten");
    zb_linear(&b, x, 8, 1, "fc");
    nm_model *m = zb_end(&b);
    for (int i = 0; m && i < m->n_layers; i++)
        if (m->layers[i].weight)
            fill(m->layers[i].weight, 0.01f * (float)(i + 1));
    return m;
}

static void onnx_write(Onnx__ModelProto *mp, const char *file)
{
    size_t len = onnx__model_proto__get_packed_size(mp);
    uint8_t *buf = ob_malloc(len);
    onnx__model_proto__pack(mp, buf);
    put("onnx", file, buf, len);
    free(buf);
    onnx__model_proto__free_unpacked(mp, NULL);
}

static Onnx__ModelProto *onnx_cnn(int raw, const char *autopad)
{
    Onnx__ModelProto *mp = model_new();
    static const int64_t xin[4] = {-1, 3, 6, 6}, dw1[4] = {4, 3, 3, 3}, d4[1] = {4};
    static const int64_t dw2[4] = {4, 4, 3, 3}, dfc[2] = {5, 4}, d5[1] = {5};
    float w1[108], w2[144], wfc[20], v4[4] = {0.5f, -0.25f, 1.0f, 2.0f}, var[4] = {1, 2, 3, 4};
    float b5[5] = {0.1f, -0.2f, 0.3f, 0.0f, 0.5f};
    for (int i = 0; i < 144; i++) {
        if (i < 108)
            w1[i] = 0.05f * (float)((i * 5) % 9 - 4);
        w2[i] = 0.03f * (float)((i * 3) % 7 - 3);
        if (i < 20)
            wfc[i] = 0.1f * (float)(i % 5 - 2);
    }
    add_input(mp, "x", 4, xin);
    add_init(mp, tensor_f32("W1", 4, dw1, w1, raw));
    add_init(mp, tensor_f32("B1", 1, d4, v4, raw));
    add_init(mp, tensor_f32("g", 1, d4, v4, raw));
    add_init(mp, tensor_f32("be", 1, d4, v4, raw));
    add_init(mp, tensor_f32("mu", 1, d4, v4, raw));
    add_init(mp, tensor_f32("var", 1, d4, var, raw));
    add_init(mp, tensor_f32("W2", 4, dw2, w2, raw));
    add_init(mp, tensor_f32("Wfc", 2, dfc, wfc, raw));
    add_init(mp, tensor_f32("Bfc", 1, d5, b5, raw));
    Onnx__NodeProto *n = add_node(mp, "Conv", "conv1", "x,W1,B1", "c1");
    attr_ints(n, "kernel_shape", 2, 3, 3);
    attr_ints(n, "pads", 4, 1, 1, 1, 1);
    if (autopad)
        attr_s(n, "auto_pad", autopad);
    n = add_node(mp, "BatchNormalization", "bn1", "c1,g,be,mu,var", "b1");
    attr_f(n, "epsilon", 1e-3f);
    add_node(mp, "Relu", NULL, "b1", "r1");
    n = add_node(mp, "MaxPool", "pool", "r1", "p1");
    attr_ints(n, "kernel_shape", 2, 2, 2);
    attr_ints(n, "strides", 2, 2, 2);
    n = add_node(mp, "Conv", "conv2", "p1,W2", "c2");
    attr_ints(n, "pads", 4, 1, 1, 1, 1);
    add_node(mp, "Add", "add", "c2,p1", "a1");
    add_node(mp, "GlobalAveragePool", "gap", "a1", "g1");
    add_node(mp, "Flatten", NULL, "g1", "f1");
    n = add_node(mp, "Gemm", "fc", "f1,Wfc,Bfc", "y");
    attr_i(n, "transB", 1);
    static const int64_t yout[2] = {-1, 5};
    add_output(mp, "y", 2, yout);
    return mp;
}

/* The imported-graph operators: squeeze-excitation (GAP, Conv, HardSigmoid,
 * Mul), SiLU (Sigmoid, Mul), Pad, Clip, Concat, a ShuffleNet channel
 * shuffle and split whose shapes come from a Shape subgraph, ConvTranspose
 * and Resize, two outputs. */
static Onnx__ModelProto *onnx_graph_ops(void)
{
    Onnx__ModelProto *mp = model_new();
    static const int64_t xin[4] = {1, 4, 4, 4}, dse[4] = {4, 4, 1, 1}, dct[4] = {4, 2, 2, 2};
    float wse[16], wct[32];
    for (int i = 0; i < 32; i++) {
        if (i < 16)
            wse[i] = 0.1f * (float)(i % 5 - 2);
        wct[i] = 0.05f * (float)(i % 7 - 3);
    }
    add_input(mp, "x", 4, xin);
    add_init(mp, tensor_f32("Wse", 4, dse, wse, 1));
    add_init(mp, tensor_f32("Wct", 4, dct, wct, 1));
    add_init(mp, tensor_i64("i1", 1, (const int64_t[]){1}));
    add_init(mp, tensor_i64("g", 1, (const int64_t[]){2}));
    add_init(mp, tensor_i64("four", 1, (const int64_t[]){4}));
    add_init(mp, tensor_i64("s4", 4, (const int64_t[]){1, -1, 4, 4}));
    add_init(mp, tensor_i64("big", 1, (const int64_t[]){1 << 20}));
    add_node(mp, "GlobalAveragePool", "gap", "x", "p");
    add_node(mp, "Conv", "se", "p,Wse", "e");
    add_node(mp, "HardSigmoid", "hs", "e", "hsig");
    add_node(mp, "Mul", "scale", "x,hsig", "xs");
    add_node(mp, "Sigmoid", "sig", "xs", "sg");
    add_node(mp, "Mul", "silu", "xs,sg", "a");
    Onnx__NodeProto *n = add_node(mp, "Pad", "pad", "a", "pa");
    attr_ints(n, "pads", 8, 0, 0, 1, 1, 0, 0, 1, 1);
    n = add_node(mp, "MaxPool", "pool", "pa", "mp");
    attr_ints(n, "kernel_shape", 2, 3, 3);
    n = add_node(mp, "Clip", "clip", "mp", "cl");
    attr_f(n, "min", -1.0f);
    attr_f(n, "max", 1.0f);
    n = add_node(mp, "Concat", "cat", "cl,x", "cat");
    attr_i(n, "axis", 1);
    add_node(mp, "Shape", "shape", "cat", "s");
    add_node(mp, "Gather", "gc", "s,i1", "c");
    add_node(mp, "Div", "cpg", "c,g", "cg");
    n = add_node(mp, "Concat", "shape5", "i1,g,cg,four,four", "s5tmp");
    attr_i(n, "axis", 0);
    add_node(mp, "Mul", "s5mul", "s5tmp,i1", "s5");
    n = add_node(mp, "Reshape", "view", "cat,s5", "v5");
    n = add_node(mp, "Transpose", "swap", "v5", "t5");
    attr_ints(n, "perm", 5, 0, 2, 1, 3, 4);
    add_node(mp, "Reshape", "back", "t5,s4", "sh");
    add_node(mp, "Slice", "chunk", "sh,cg,big,i1", "half");
    n = add_node(mp, "ConvTranspose", "up", "half,Wct", "u");
    attr_ints(n, "strides", 2, 2, 2);
    n = add_node(mp, "Resize", "resize", "u,,sc", "y");
    attr_s(n, "mode", "nearest");
    static const int64_t d4[1] = {4};
    add_init(mp, tensor_f32("sc", 1, d4, (const float[]){1, 1, 0.5f, 0.5f}, 1));
    add_output(mp, "y", 4, (const int64_t[]){1, 2, 4, 4});
    add_output(mp, "xs", 4, xin);
    return mp;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_corpus DIR (tests/fuzz/corpus)\n");
        return 2;
    }
    root = argv[1];
    mkdir(root, 0755);

    /* safetensors: the writer's dtypes, then the reader's others by hand */
    nm_tensor_list tl = {0};
    nm_tensor *a = nm_tensor_new4(NM_F32, 2, 2, 3, 0, 0), *b = nm_tensor_new4(NM_U8, 1, 4, 0, 0, 0);
    nm_tensor *c = nm_tensor_new4(NM_I32, 3, 1, 2, 2, 0);
    fill(a, 0.5f), fill(b, 1.0f), fill(c, 100.0f);
    nm_tensor_list_add(&tl, "layer.weight", a);
    nm_tensor_list_add(&tl, "layer.mask", b);
    nm_tensor_list_add(&tl, "counts", c);
    tl.metadata_json = strdup("{\"note\":\"fuzz seed\"}");
    check(nm_safetensors_write(out("safetensors", "three.safetensors"), &tl) == NM_OK, "three.safetensors");
    nm_tensor_list_free(&tl);
    nm_tensor_release(a), nm_tensor_release(b), nm_tensor_release(c);
    {
        unsigned char d[2 * 2 + 2 * 2 + 8 * 2 + 8 * 2 + 3] = {0};
        d[1] = 0x3c, d[3] = 0xc0;        /* F16 1.0, -2.0 */
        d[5] = 0x3f, d[6] = 0x80, d[7] = 0x3f; /* BF16 1.0, 1.0 */
        d[8 + 6] = 0xf0, d[8 + 7] = 0x3f;  /* F64 1.0 */
        d[24] = 7;                         /* I64 7, 0 */
        d[40] = 1, d[42] = 1;              /* BOOL 1 0 1 */
        st_raw("dtypes.safetensors",
               "{\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
               "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[4,8]},"
               "\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[8,24]},"
               "\"l\":{\"dtype\":\"I64\",\"shape\":[2,1],\"data_offsets\":[24,40]},"
               "\"t\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[40,43]}}",
               d, sizeof d);
        st_raw("empty.safetensors", "{\"__metadata__\":{\"a\":\"b\"}}", "", 0);
    }

    /* models: a tiny CNN, dense and 2:4-pruned */
    nm_model *m = tiny_model();
    check(m != NULL, "tiny model");
    if (m) {
        check(nm_safetensors_save_model(m, out("safetensors_model", "tiny.safetensors")) == NM_OK, "tiny");
        nm_nm_opts o;
        nm_nm_opts_init(&o, 2, 4);
        check(nm_prune_nm_model(m, &o, NULL) == NM_OK, "prune tiny");
        check(nm_safetensors_save_model(m, out("safetensors_model", "tiny_24.safetensors")) == NM_OK,
              "tiny_24");
        nm_model_free(m);
    }

    /* ONNX: float_data and raw_data initializers; an empty auto_pad string */
    onnx_write(onnx_cnn(0, NULL), "cnn.onnx");
    onnx_write(onnx_cnn(1, "NOTSET"), "cnn_raw.onnx");
    onnx_write(onnx_cnn(1, ""), "cnn_empty_autopad.onnx");
    onnx_write(onnx_graph_ops(), "graph_ops.onnx");
    svtr_vals sv;   /* Paddle's packed attention, tokens back to an image */
    onnx_write(svtr_graph(&sv, SVTR_OK), "svtr.onnx");

    /* .npy: the writer's dtypes, then f8 and b1 by hand */
    nm_tensor *t = nm_tensor_new4(NM_F32, 2, 2, 3, 0, 0);
    fill(t, 0.25f);
    check(nm_npy_save(t, out("npy", "f4.npy")) == NM_OK, "f4.npy");
    nm_tensor_release(t);
    t = nm_tensor_new4(NM_U8, 1, 5, 0, 0, 0);
    fill(t, 1.0f);
    check(nm_npy_save(t, out("npy", "u1.npy")) == NM_OK, "u1.npy");
    nm_tensor_release(t);
    t = nm_tensor_new4(NM_I32, 3, 2, 1, 2, 0);
    fill(t, 3.0f);
    check(nm_npy_save(t, out("npy", "i4.npy")) == NM_OK, "i4.npy");
    nm_tensor_release(t);
    {
        double d[3] = {1.5, -2.0, 0.0};
        npy_raw("f8.npy", "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", d, sizeof d);
        npy_raw("b1.npy", "{'descr': '|b1', 'fortran_order': False, 'shape': (2, 2), }", "\1\0\0\1", 4);
    }

    /* IDX: images and labels, plain; the gzip target gets the same plain
     * files (it compresses them) and one real .gz */
    static const int img[3] = {2, 3, 3}, lab[1] = {5};
    idx_raw("idx", "images.idx", 3, img);
    idx_raw("idx", "labels.idx", 1, lab);
    idx_raw("idx_gz", "images.idx", 3, img);
    idx_raw("idx_gz", "labels.idx", 1, lab);
    {
        size_t len = 0;
        unsigned char *p = slurp(out("idx", "labels.idx"), &len);
        gzFile f = gzopen(out("idx_gz", "labels.idx.gz"), "wb9");
        check(p && f && gzwrite(f, p, (unsigned)len) == (int)len && gzclose(f) == Z_OK, "labels.idx.gz");
        free(p);
        /* the IDX target reads gzip too */
        p = slurp(out("idx_gz", "labels.idx.gz"), &len);
        if (p)
            put("idx", "labels.idx.gz", p, len);
        free(p);
    }

    /* SCALE-Sim topologies, small */
    static const char csv[] =
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
        "Conv1,10,10,3,3,3,8,2,\n"
        "Conv2,4,4,3,3,8,8,1,\n"
        "FC,1,1,1,1,8,4,1,\n";
    put("scalesim_csv", "small.csv", csv, sizeof csv - 1);
    static const char csv_nm[] =
        "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides, Sparsity,\n"
        "Conv1,8,8,3,3,4,8,1,2:4,\n"
        "Conv2,6,6,1,1,8,8,1,1:4,\n";
    put("scalesim_csv", "small_nm.csv", csv_nm, sizeof csv_nm - 1);

    /* energy table: the defaults as written, and a partial one */
    sim_energy_table et;
    sim_energy_defaults(&et);
    check(sim_energy_save_json(out("energy_json", "defaults.json"), &et) == NM_OK, "defaults.json");
    static const char ej[] = "{\"node_nm\": 22, \"mul8_pj\": 0.15, \"sram_pj_per_byte\": 1.5}\n";
    put("energy_json", "partial.json", ej, sizeof ej - 1);

    /* settings */
    nm_settings s;
    settings_defaults(&s);
    snprintf(s.last_model, sizeof s.last_model, "/data/models/resnet18.onnx");
    check(settings_save(&s, out("settings", "settings.conf")) == NM_OK, "settings.conf");
    static const char sc[] = "# hand-written\ntheme = light\nmouse=0\n  array_mac =  bmac-2 \n"
                             "array_rows = 600\narray_cols = 8\nunknown = 1\nno equals sign\n";
    put("settings", "hand.conf", sc, sizeof sc - 1);

    /* history */
    static const char hist[] = "model = nm.zoo('resnet18')\nmodel:prune_nm(2, 4)\n\n"
                               "print(model:summary())\nfor i = 1, 3 do print(i) end\n";
    put("history", "history", hist, sizeof hist - 1);

    /* pipeline: control byte (pattern, MAC, array side) + a model file */
    pipeline_seed(0x00, "safetensors_model", "tiny.safetensors", "tiny_24_pmac4.bin");
    pipeline_seed(0x1b, "safetensors_model", "tiny_24.safetensors", "tiny24_12_nm8.bin");
    pipeline_seed(0x25, "onnx", "cnn_raw.onnx", "cnn_14_bmac16.bin");
    pipeline_seed(0x3e, "scalesim_csv", "small_nm.csv", "csv_48_nm32.bin");

    /* lua_api: programs of API calls (fuzz_lua_api.lua reads any bytes);
     * pseudo-random ones from a fixed xorshift stream */
    uint32_t x = 2463534242u;
    for (int i = 0; i < 12; i++) {
        unsigned char prog[192];
        for (size_t j = 0; j < sizeof prog; j++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            prog[j] = (unsigned char)(x >> 24);
        }
        char name[32];
        snprintf(name, sizeof name, "random%02d.bin", i);
        put("lua_api", name, prog, sizeof prog);
    }
    return failures ? 1 : 0;
}
