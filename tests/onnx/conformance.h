/* conformance.h - the parts of the ONNX backend conformance harness
 * (tests/onnx/onnx_conformance.c runs them; tests/README.md describes it).
 *
 * A test is one folder of Debian's libonnx-testdata (data/node/test_*):
 * model.onnx and test_data_set_N/input_k.pb, output_k.pb (TensorProtos).
 * Plain C, no Criterion: every part returns a status and writes what went
 * wrong into a caller's buffer. */
#ifndef NM_TESTS_CONFORMANCE_H
#define NM_TESTS_CONFORMANCE_H

#include "model.h"
#include "onnx.pb-c.h"

#include <stddef.h>
#include <stdint.h>

/* ONNX's own tolerance in its backend test runner (onnx/backend/test/runner:
 * np.testing.assert_allclose(ref, out, rtol=1e-3, atol=1e-7)). */
#define CONF_RTOL 1e-3
#define CONF_ATOL 1e-7

/* A tensor read from a .pb file (or produced by nmlab): its ONNX dims and
 * its values widened to double. Owns v. */
typedef struct {
    char name[128];
    int32_t dtype;          /* ONNX TensorProto data type */
    int ndim;
    int64_t dims[8];
    int64_t count;          /* product of dims */
    double *v;              /* count values */
} conf_tensor;

/* --- conf_tensor.c --- */
/* Reads a whole file (at most max bytes) into a malloc'd buffer. 0 or -1. */
int conf_read_file(const char *path, size_t max, uint8_t **data, size_t *len, char *err, size_t errlen);
/* Unpacks the TensorProto in file `path`; free with
 * onnx__tensor_proto__free_unpacked(t, NULL). NULL with a message. */
Onnx__TensorProto *conf_proto_read(const char *path, char *err, size_t errlen);
/* Reads the TensorProto in `path` into t (FLOAT, DOUBLE, INT8..INT64,
 * UINT8..UINT32, BOOL). 0, or -1 with a message (t is then empty). */
int conf_tensor_read(const char *path, conf_tensor *t, char *err, size_t errlen);
void conf_tensor_free(conf_tensor *t);
const char *conf_dtype_name(int32_t dtype);
/* "[2, 3, 4]" */
const char *conf_dims_str(const int64_t *dims, int ndim, char *buf, size_t len);
/* Compares got against ref elementwise with |got - ref| <= atol + rtol*|ref|
 * (NaN equals NaN, an infinity only itself). 0 when every element is close;
 * -1 with the first bad index and both values (or the count mismatch). */
int conf_compare(const conf_tensor *got, const conf_tensor *ref, double rtol, double atol, char *err,
                 size_t errlen);

/* --- conf_model.c --- */
/* Unpacks dir/model.onnx; free with onnx__model_proto__free_unpacked. */
Onnx__ModelProto *conf_model_read(const char *dir, char *err, size_t errlen);
/* The operator a test exercises: the op_type of its graph's nodes when they
 * are all of one type; for an "_expanded" test (the operator written out
 * as a function of others) or another multi-node graph, the operator its
 * name starts with: the longest of `known` (then of the graph's own
 * op_types) whose lowercase name is a prefix of the name after "test_"
 * (underscores in the name skipped), ending at '_' or the end; else the
 * name's first word. Written into buf. */
void conf_test_op(const Onnx__ModelProto *mp, const char *test_name, char *const *known, int n_known,
                  char *buf, size_t len);
/* The harness rule for graph inputs. Graph input 0 (in order,
 * initializers aside) stays a model input. With feed = 1, a further graph
 * input k that is float32 of rank 2 to 4 with input 0's batch size (dim 0)
 * stays a model input too (fed from set_dir/input_k.pb); every other one
 * (an index, shape or scalar operand, or all of them with feed = 0) is
 * bound to a constant: the TensorProto of set_dir/input_k.pb is moved into
 * the graph's initializers under that input's name and the input is
 * removed from graph->input. Then the model is packed to `path`. fed[0..
 * *n_fed) (room for CONF_MAX_INPUTS) receives, per model input in order,
 * its k (the input_k.pb to feed); *n_bound the number of bound inputs. 0; 1
 * with a message when an extra input is not a tensor (nothing nmlab could
 * be given); -1 with a message. */
#define CONF_MAX_INPUTS 16
int conf_model_prepare(Onnx__ModelProto *mp, const char *set_dir, const char *path, int feed,
                       int *fed, int *n_fed, int *n_bound, char *err, size_t errlen);

/* --- conf_nmlab.c: the only calls into the importer and the forward pass --- */
/* Imports the ONNX file `path`. Returns the model; or NULL with *refusal
 * (malloc'd) saying why: the importer's error, or the warnings that say a
 * node was skipped or the import stopped. Other warnings (folded
 * alpha/beta, an ignored constant, shape notes) go to *notes (malloc'd, or
 * NULL). The caller frees the model and both strings. */
nm_model *conf_import(const char *path, char **refusal, char **notes);
/* Runs m on xs[0..n_x) (its graph inputs in order, in ONNX layout). Fills
 * out[0..] with one tensor per graph output of g that nmlab produces, in
 * ONNX layout (g's declared shape; the reference dims when g declares
 * none), and *n_out with how many. 0, or -1 with a message. */
int conf_forward(nm_model *m, const Onnx__GraphProto *g, const conf_tensor *xs, int n_x,
                 const conf_tensor *refs, int n_refs, conf_tensor *out, int *n_out, char *err,
                 size_t errlen);

#endif
