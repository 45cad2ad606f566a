/* nm_gemm.h - compressed N:M kernels: Y = W X with W stored as values plus
 * indices (what nm_compress writes) and the pruned weights skipped.
 *
 * W is a weight in its im2col view [rows x D] (D = C_in/groups*kh*kw,
 * columns (c_in, kh, kw), kw fastest; a linear layer's [out, in]); X is the
 * activation [D x ncols] (the im2col columns of a convolution, or the
 * features x positions of a linear layer, as engine/train lays them out),
 * Y is [rows x ncols].
 *
 * The weights come from nm_compress (engine/prune/compress.c) along any of
 * its axes (kernel, in, row) and index schemes: a plan decodes the index
 * stream once (nm_compressed_positions) into one column index per stored
 * value, rows x kpr of them, kpr = the values each row stores (N per full
 * group, min(N, L) per trailing group of length L, zero padding included:
 * the same count in every row). The bit-packed indices are not read in the
 * hot loop: unpacking 2-4 bits per product would cost more than the product.
 *
 * The plan sorts each row's (value, column) pairs by column (nm_compress
 * stores them group by group, which along `in` is not column order). The
 * product, for each output row r and each pair k in that order:
 * y[r, c] += v[r,k] * x[col[r,k], c], vectorised over c. Columns of X are
 * processed in panels of up to 128, packed once and shared by every row;
 * the reduction runs in blocks of X rows that fit L1 (32 KiB), the rows of
 * W (in chunks whose partial sums stay in L2) passing over a block before
 * the next, two rows at a time with up to 2 x 8 vector accumulators in
 * registers (AVX-512; 2 x 4 on AVX2). OpenMP over panels (or over rows when there are few panels). The hot
 * loop exists for AVX-512F, AVX2+FMA and baseline x86-64, chosen at run
 * time (__builtin_cpu_supports), since the build targets baseline x86-64.
 *
 * Exactness: every output is the sum over its row's pairs in plan order,
 * starting from +0, one rounding per step: fused multiply-add on the
 * AVX paths, multiply then add on the scalar path. nm_nm_gemm_ref computes
 * exactly that with scalar code (fmaf or mul+add), so results match it bit
 * for bit. Against a dense product of the masked weights (another summation
 * order) they agree within the usual bound |err| <= 2 gamma_D sum |w||x|.
 *
 * Ownership: a plan owns its arrays; free with nm_nm_plan_free. */
#ifndef NM_SPARSE_GEMM_H
#define NM_SPARSE_GEMM_H

#include "error.h"
#include "model.h"
#include "prune.h"
#include "tensor.h"

#include <stdint.h>

typedef struct {
    int64_t rows, D;        /* W is rows x D */
    int64_t kpr;            /* stored values per row (zero padding included) */
    int n, m;
    nm_group_axis axis;
    float *val;             /* rows x kpr, each row by ascending column */
    int32_t *col;           /* rows x kpr: the value's column in [0, D) */
} nm_nm_plan;

/* The plan of a compressed weight (2-D [rows, D] or 4-D [out, in, kh, kw]).
 * NM_ERR-style NULL with a message on a corrupt index, a D beyond int32, or
 * rows storing different counts. New plan owned by the caller. */
nm_nm_plan *nm_nm_plan_new(const nm_compressed *c);
void nm_nm_plan_free(nm_nm_plan *p);
/* Bytes a plan for this compressed tensor holds (for memory limits). */
int64_t nm_nm_plan_bytes(const nm_compressed *c);

/* The instruction sets of the hot loops. */
typedef enum { NM_ISA_AUTO = 0, NM_ISA_SCALAR, NM_ISA_AVX2, NM_ISA_AVX512 } nm_isa;
const char *nm_isa_name(nm_isa isa);
/* 1 if this CPU runs isa (AUTO and SCALAR: always). */
int nm_isa_supported(nm_isa isa);
/* The set AUTO picks on this CPU: AVX512, else AVX2, else SCALAR. */
nm_isa nm_isa_best(void);

/* Y[rows x ncols] (row stride ldy) = W X, X [D x ncols] (row stride ldx),
 * with the hot loop of `isa` (AUTO: the best; a set the CPU lacks is an
 * error). Needs ldx, ldy >= ncols. NM_ERR only on bad arguments or no
 * memory for the panels ((D + rows) x at most 128 floats per thread). */
int nm_nm_gemm_isa(nm_isa isa, const nm_nm_plan *p, int64_t ncols, const float *x, int64_t ldx,
                   float *y, int64_t ldy);
int nm_nm_gemm(const nm_nm_plan *p, int64_t ncols, const float *x, int64_t ldx, float *y,
               int64_t ldy);
/* A grouped conv: `groups` products of rows/groups rows each, group g's
 * rows of W (rows g*rg.. of the plan) times X rows [g*D, (g+1)*D) into Y
 * rows g*rg..; the same sums as nm_nm_gemm_isa per group. Small groups
 * (depthwise) run side by side, one per thread, without a call each. */
int nm_nm_gemm_groups_isa(nm_isa isa, const nm_nm_plan *p, int64_t groups, int64_t ncols,
                          const float *x, int64_t ldx, float *y, int64_t ldy);
/* The same sums in the same order, scalar: fused = 1 with fmaf (what the
 * AVX paths compute), 0 with multiply then add (the scalar path). */
void nm_nm_gemm_ref(const nm_nm_plan *p, int fused, int64_t ncols, const float *x, int64_t ldx,
                    float *y, int64_t ldy);

/* ---- layers (layer.c) ---- */

/* The dense weight a layer's compressed form holds: w * mask, removed
 * filters and input channels zero (as nm.compress takes a layer). New
 * tensor owned by the caller. */
nm_tensor *nm_nm_masked_weight(const nm_layer *l);
/* The axis w holds n:m along: the layer's default axis if it does, else the
 * first of kernel, in, row that does; -1 (NM_GROUP_AUTO) if none does. */
nm_group_axis nm_nm_layer_axis(const nm_tensor *w, const nm_layer *l, int n, int m);

/* Unfolds n samples of a CNHW input x[cin, n*h*w] for a conv with groups 1
 * (geometry of layer l) into col[D x n*oh*ow] (D = cin*kh*kw): the B matrix
 * of the conv's GEMM. Zero padding, stride and dilation as the layer. */
void nm_nm_im2col(const nm_layer *l, int n, const float *x, float *col);

/* ---- one layer, dense against compressed (layer_time.c) ---- */

typedef struct {
    int64_t rows, D, cols;      /* the GEMM: W [rows x D] times X [D x cols] */
    int64_t groups;             /* a grouped conv: that many GEMMs of rows/groups x D */
    int64_t kpr;                /* values stored per row */
    int n, m;
    nm_group_axis axis;         /* the axis the layer's N:M holds along */
    nm_isa isa;                 /* the kernel's instruction set */
    double dense_s, nm_s;       /* best of reps: cblas_sgemm, nm_nm_gemm */
    double err_ratio;           /* max over sampled outputs of |y_nm - y_dense| /
                                   ((gamma_kpr + gamma_D) sum |w||x|): <= 1 as it must be */
} nm_nm_layer_time;

/* How a layer's products are timed: wall clock with every OpenMP thread,
 * or the CPU time of the calling thread with OpenMP (and so OpenBLAS) held
 * to one thread: the figure that stays put when other processes share the
 * cores (it does not count the time the thread waits for a core). */
typedef enum { NM_CLOCK_WALL = 0, NM_CLOCK_CPU } nm_clock;

/* Times layer idx of m (conv, dwconv or linear, with a declared wn:wm its
 * masked weight holds; a grouped conv as one GEMM per group) at `batch`
 * samples: X is random (the
 * values do not change the time), the dense product runs cblas_sgemm on the
 * masked weight, the compressed one nm_nm_gemm on its nm_compress'd form
 * (simple index), alternately `reps` times after a warm-up, best kept.
 * Memory is charged with nm_mem_charge first. NM_ERR with a message saying
 * why the layer cannot run (no N:M mask, grouped conv, too large, ...). */
int nm_nm_layer_time_run(const nm_model *m, int idx, int batch, int reps, nm_isa isa,
                         nm_clock clock, nm_nm_layer_time *t);
/* Seconds on `clock` (a difference of two readings is a duration). */
double nm_clock_now(nm_clock clock);

#endif
