/* The compressed N:M kernels (engine/sparse) against the same-order scalar
 * reference (bit for bit, every instruction set this CPU runs) and against
 * the dense product of the masked weights (double precision and OpenBLAS,
 * within the rounding bound of a length-D sum), for 2:4, 1:4, 2:8, 4:9 and
 * 3:9 along every axis and index scheme; odd shapes; a conv through im2col
 * against engine/train's dense conv; bad input. */
#include "kernels.h"
#include "nmk_helpers.h"

#include <cblas.h>
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <omp.h>

static const int patterns[5][2] = {{2, 4}, {1, 4}, {2, 8}, {4, 9}, {3, 9}};

static float *rand_x(int64_t D, int64_t ncols, int64_t ldx, uint64_t seed)
{
    float *x = malloc((size_t)(D * ldx) * sizeof(float));
    cr_assert_not_null(x);
    nm_rng g;
    nm_rng_seed(&g, seed);
    for (int64_t i = 0; i < D * ldx; i++)
        x[i] = nmk_rand(&g);
    (void)ncols;
    return x;
}

/* gamma_k = k u / (1 - k u), u = 2^-24: the bound on a length-k float sum's
 * relative error against |terms| (Higham, Accuracy and Stability, 3.1). */
static double gamma_k(int64_t k)
{
    double u = ldexp(1.0, -24);
    return (double)k * u / (1.0 - (double)k * u);
}

/* Checks one product: every supported ISA equals the reference bit for
 * bit; the result is within gamma_kpr of the exact (double) product of the
 * masked weights, and within gamma_kpr + gamma_D of OpenBLAS's sgemm. */
static void check_product(const nmk_weight *w, int64_t ncols, const char *what)
{
    int64_t ldx = ncols + 3, ldy = ncols + 5, D = w->D, R = w->rows;
    float *x = rand_x(D, ncols, ldx, 77 + (uint64_t)ncols);
    float *y = malloc((size_t)(R * ldy) * sizeof(float));
    float *ref = malloc((size_t)(R * ldy) * sizeof(float));
    float *blas = malloc((size_t)(R * ncols) * sizeof(float));
    cr_assert(y && ref && blas);
    const float *W = nm_f32(w->dense);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)R, (int)ncols, (int)D, 1.0f, W,
                (int)D, x, (int)ldx, 0.0f, blas, (int)ncols);
    for (nm_isa isa = NM_ISA_SCALAR; isa <= NM_ISA_AVX512; isa++) {
        if (!nm_isa_supported(isa))
            continue;
        nm_nm_gemm_ref(w->p, isa != NM_ISA_SCALAR, ncols, x, ldx, ref, ldy);
        for (int64_t i = 0; i < R * ldy; i++)
            y[i] = -7.0f;       /* the padding columns must stay untouched */
        cr_assert_eq(nm_nm_gemm_isa(isa, w->p, ncols, x, ldx, y, ldy), NM_OK, "%s", nm_errmsg());
        for (int64_t r = 0; r < R; r++) {
            for (int64_t c = 0; c < ncols; c++) {
                float a = y[r * ldy + c], b = ref[r * ldy + c];
                cr_assert(memcmp(&a, &b, sizeof a) == 0, "%s %s: y[%lld,%lld] = %.9g, reference %.9g",
                          what, nm_isa_name(isa), (long long)r, (long long)c, a, b);
                double exact = 0, mag = 0;
                for (int64_t d = 0; d < D; d++) {
                    exact += (double)W[r * D + d] * x[d * ldx + c];
                    mag += fabs((double)W[r * D + d] * x[d * ldx + c]);
                }
                double tol = gamma_k(w->p->kpr) * mag + DBL_MIN;
                cr_assert(fabs(a - exact) <= tol, "%s %s: y[%lld,%lld] = %.9g, exact %.9g (tol %g)",
                          what, nm_isa_name(isa), (long long)r, (long long)c, a, exact, tol);
                double tb = (gamma_k(w->p->kpr) + gamma_k(D)) * mag + DBL_MIN;
                cr_assert(fabs(a - blas[r * ncols + c]) <= tb, "%s: vs sgemm %.9g %.9g", what, a,
                          blas[r * ncols + c]);
            }
            for (int64_t c = ncols; c < ldy; c++)
                cr_assert_eq(y[r * ldy + c], -7.0f, "%s: wrote past ncols", what);
        }
    }
    free(x);
    free(y);
    free(ref);
    free(blas);
}

/* Every pattern, along kernel (3x3), in (3x3 and 1x1) and row, simple index. */
Test(nm_gemm, patterns_and_axes)
{
    for (int i = 0; i < 5; i++) {
        int n = patterns[i][0], m = patterns[i][1];
        struct { int64_t rows, cin; int k; nm_group_axis axis; } cases[] = {
            {6, 5, 3, NM_GROUP_KERNEL}, {5, 19, 3, NM_GROUP_IN}, {7, 37, 1, NM_GROUP_IN},
            {4, 41, 0, NM_GROUP_ROW}, {3, 18, 0, NM_GROUP_IN},
        };
        for (size_t j = 0; j < sizeof cases / sizeof cases[0]; j++) {
            nmk_weight w;
            cr_assert_eq(nmk_weight_make(&w, cases[j].rows, cases[j].cin, cases[j].k, cases[j].k, n, m,
                                         cases[j].axis, NM_INDEX_SIMPLE, 11 + j), NM_OK, "%s", nm_errmsg());
            /* the stored count per row: N per full group, min(N, L) per tail */
            int64_t seg = cases[j].axis == NM_GROUP_KERNEL ? cases[j].k * cases[j].k
                        : cases[j].axis == NM_GROUP_ROW ? w.D : cases[j].cin;
            int64_t nseg = w.D / seg, tail = seg % m;
            int64_t want = nseg * (seg / m * n + (tail < n ? tail : n));
            cr_assert_eq(w.p->kpr, want, "%d:%d axis %d: kpr %lld, want %lld", n, m, cases[j].axis,
                         (long long)w.p->kpr, (long long)want);
            char what[64];
            snprintf(what, sizeof what, "%d:%d %s case %zu", n, m, nm_group_axis_name(cases[j].axis), j);
            for (int64_t nc = 1; nc <= 131; nc += 65)
                check_product(&w, nc, what);
            nmk_weight_free(&w);
        }
    }
}

/* The bitmask and combinatorial schemes decode to the same plan as simple. */
Test(nm_gemm, index_schemes_same_plan)
{
    for (int i = 0; i < 5; i++) {
        nmk_weight a, b;
        cr_assert_eq(nmk_weight_make(&a, 9, 7, 3, 3, patterns[i][0], patterns[i][1], NM_GROUP_KERNEL,
                                     NM_INDEX_SIMPLE, 5), NM_OK);
        for (int s = NM_INDEX_BITMASK; s <= NM_INDEX_COMBINATORIAL; s++) {
            cr_assert_eq(nmk_weight_make(&b, 9, 7, 3, 3, patterns[i][0], patterns[i][1], NM_GROUP_KERNEL,
                                         (nm_index_scheme)s, 5), NM_OK, "%s", nm_errmsg());
            cr_assert_eq(b.p->kpr, a.p->kpr);
            for (int64_t v = 0; v < a.p->rows * a.p->kpr; v++) {
                cr_assert_eq(b.p->col[v], a.p->col[v], "scheme %d value %lld", s, (long long)v);
                cr_assert_eq(b.p->val[v], a.p->val[v]);
            }
            check_product(&b, 20, "scheme");
            nmk_weight_free(&b);
        }
        nmk_weight_free(&a);
    }
}

/* One row, one column, D below M, a product large enough for both threaded
 * paths (many panels; few panels and rows split), and row chunks. */
Test(nm_gemm, odd_shapes_and_threads)
{
    nmk_weight w;
    cr_assert_eq(nmk_weight_make(&w, 1, 13, 0, 0, 2, 4, NM_GROUP_ROW, NM_INDEX_SIMPLE, 3), NM_OK);
    check_product(&w, 1, "1 row, 1 column");
    check_product(&w, 67, "1 row");
    nmk_weight_free(&w);
    cr_assert_eq(nmk_weight_make(&w, 5, 3, 0, 0, 3, 9, NM_GROUP_ROW, NM_INDEX_SIMPLE, 4), NM_OK);
    cr_assert_eq(w.p->kpr, 3, "D = 3 < M: the one group keeps all 3");
    check_product(&w, 2, "D < M");
    nmk_weight_free(&w);
    omp_set_num_threads(2);
    cr_assert_eq(nmk_weight_make(&w, 33, 64, 3, 3, 2, 4, NM_GROUP_IN, NM_INDEX_SIMPLE, 6), NM_OK);
    check_product(&w, 1100, "many panels");
    check_product(&w, 70, "rows split");
    nmk_weight_free(&w);
    /* more rows than one chunk of partial sums (256 at 128 columns), an odd
     * count, rows with different counts per reduction block (`in`) */
    cr_assert_eq(nmk_weight_make(&w, 301, 16, 3, 3, 3, 9, NM_GROUP_IN, NM_INDEX_SIMPLE, 8), NM_OK);
    check_product(&w, 600, "row chunks");
    nmk_weight_free(&w);
}

/* 0:4 keeps nothing: every output is +0 (and no column is touched past
 * ncols); 0 columns is a no-op. */
Test(nm_gemm, nothing_kept_and_no_columns)
{
    nmk_weight w;
    cr_assert_eq(nmk_weight_make(&w, 3, 8, 0, 0, 0, 4, NM_GROUP_ROW, NM_INDEX_SIMPLE, 2), NM_OK,
                 "%s", nm_errmsg());
    cr_assert_eq(w.p->kpr, 0);
    float x[8 * 5], y[3 * 6];
    for (int i = 0; i < 40; i++)
        x[i] = 1.0f + (float)i;
    for (int i = 0; i < 18; i++)
        y[i] = -7.0f;
    cr_assert_eq(nm_nm_gemm(w.p, 5, x, 5, y, 6), NM_OK);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 6; c++)
            cr_assert_eq(y[r * 6 + c], c < 5 ? 0.0f : -7.0f, "y[%d,%d]", r, c);
    y[0] = -7.0f;
    cr_assert_eq(nm_nm_gemm(w.p, 0, x, 0, y, 0), NM_OK);
    cr_assert_eq(y[0], -7.0f, "0 columns writes nothing");
    nmk_weight_free(&w);
}

/* Grouped products: depthwise-like (64 groups of one 3x3 kernel: groups
 * side by side over the threads) and 2 large groups (one after another),
 * each equal bit for bit to the reference run on the group's rows. */
Test(nm_gemm, groups)
{
    omp_set_num_threads(2);
    struct { int64_t rows, cin, groups, ncols; int n, m; } cases[] = {
        {64, 1, 64, 1000, 4, 9}, {64, 32, 2, 100, 2, 4}, {6, 2, 3, 7, 1, 4}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nmk_weight w;
        cr_assert_eq(nmk_weight_make(&w, cases[i].rows, cases[i].cin, 3, 3, cases[i].n, cases[i].m,
                                     NM_GROUP_KERNEL, NM_INDEX_SIMPLE, 30 + i), NM_OK);
        int64_t G = cases[i].groups, nc = cases[i].ncols, D = w.D, rg = w.rows / G;
        float *x = rand_x(G * D, nc, nc, 40 + i);
        float *y = malloc((size_t)(w.rows * nc) * sizeof(float));
        float *ref = malloc((size_t)(w.rows * nc) * sizeof(float));
        cr_assert(y && ref);
        for (nm_isa isa = NM_ISA_SCALAR; isa <= NM_ISA_AVX512; isa++) {
            if (!nm_isa_supported(isa))
                continue;
            cr_assert_eq(nm_nm_gemm_groups_isa(isa, w.p, G, nc, x, nc, y, nc), NM_OK, "%s",
                         nm_errmsg());
            for (int64_t g = 0; g < G; g++) {
                nm_nm_plan v = *w.p;
                v.rows = rg, v.val = w.p->val + g * rg * w.p->kpr, v.col = w.p->col + g * rg * w.p->kpr;
                nm_nm_gemm_ref(&v, isa != NM_ISA_SCALAR, nc, x + g * D * nc, nc, ref + g * rg * nc, nc);
            }
            cr_assert(memcmp(y, ref, (size_t)(w.rows * nc) * sizeof(float)) == 0,
                      "case %zu %s: grouped product differs from the per-group reference", i,
                      nm_isa_name(isa));
        }
        cr_assert_eq(nm_nm_gemm_groups_isa(NM_ISA_AUTO, w.p, 5, nc, x, nc, y, nc), NM_ERR,
                     "rows not divisible by groups");
        free(x), free(y), free(ref);
        nmk_weight_free(&w);
    }
}

/* A 3x3 stride-2 padded conv over 2 samples: im2col + the compressed
 * kernel against engine/train's dense conv of the masked weight. */
Test(nm_gemm, conv_through_im2col)
{
    nm_layer l;
    memset(&l, 0, sizeof l);
    snprintf(l.name, sizeof l.name, "conv");
    l.kind = NM_LAYER_CONV;
    l.in_c = 8, l.in_h = 9, l.in_w = 7, l.out_c = 6, l.kh = l.kw = 3;
    l.stride_h = l.stride_w = 2, l.pad_h = l.pad_w = 1, l.groups = 1;
    l.out_h = (9 + 2 - 3) / 2 + 1, l.out_w = (7 + 2 - 3) / 2 + 1;
    for (int i = 0; i < 5; i++) {
        nmk_weight w;
        cr_assert_eq(nmk_weight_make(&w, 6, 8, 3, 3, patterns[i][0], patterns[i][1], NM_GROUP_KERNEL,
                                     NM_INDEX_SIMPLE, 9), NM_OK);
        int n = 2;
        int64_t P = (int64_t)l.out_h * l.out_w, cols = n * P, D = w.D;
        float *x = rand_x(l.in_c, 0, (int64_t)n * l.in_h * l.in_w, 21);
        float *col = malloc((size_t)(D * cols) * sizeof(float));
        float *y = malloc((size_t)(6 * cols) * sizeof(float));
        float *yd = malloc((size_t)(6 * cols) * sizeof(float));
        nm_conv_geom g;
        nm_conv_geom_of(&l, &g);
        float *work = malloc(nm_conv_work_floats(&g, n) * sizeof(float) + 64);
        cr_assert(col && y && yd && work);
        nm_nm_im2col(&l, n, x, col);
        cr_assert_eq(nm_nm_gemm(w.p, cols, col, cols, y, cols), NM_OK);
        nm_conv_forward(&g, n, x, nm_f32(w.dense), NULL, yd, work);
        for (int64_t r = 0; r < 6; r++)
            for (int64_t c = 0; c < cols; c++) {
                double mag = 0;
                for (int64_t d = 0; d < D; d++)
                    mag += fabs((double)nm_f32(w.dense)[r * D + d] * col[d * cols + c]);
                cr_assert(fabs(y[r * cols + c] - yd[r * cols + c]) <= 2 * gamma_k(D) * mag + DBL_MIN,
                          "%d:%d y[%lld,%lld] %.9g, dense conv %.9g", patterns[i][0], patterns[i][1],
                          (long long)r, (long long)c, y[r * cols + c], yd[r * cols + c]);
            }
        free(x), free(col), free(y), free(yd), free(work);
        nmk_weight_free(&w);
    }
}

/* Bad input: a corrupt index names the group; impossible arguments. */
Test(nm_gemm, bad_input)
{
    nmk_weight w;
    cr_assert_eq(nmk_weight_make(&w, 4, 8, 0, 0, 1, 4, NM_GROUP_ROW, NM_INDEX_BITMASK, 1), NM_OK);
    /* clear the bitmask: group 0 then holds no position, not 1 */
    memset(w.c->index, 0, (size_t)((w.c->index_bits + 7) / 8));
    cr_assert_null(nm_nm_plan_new(w.c));
    cr_assert(strstr(nm_errmsg(), "group 0") != NULL, "%s", nm_errmsg());
    float x[8] = {0}, y[4];
    cr_assert_eq(nm_nm_gemm(w.p, 1, x, 0, y, 1), NM_ERR, "ldx < ncols");
    cr_assert_eq(nm_nm_gemm(NULL, 1, x, 1, y, 1), NM_ERR);
    nmk_weight_free(&w);
    /* simple indices: the tail group (length 1) of each row told position 3 */
    cr_assert_eq(nmk_weight_make(&w, 4, 13, 0, 0, 1, 4, NM_GROUP_ROW, NM_INDEX_SIMPLE, 1), NM_OK);
    memset(w.c->index, 0xff, (size_t)((w.c->index_bits + 7) / 8));
    cr_assert_null(nm_nm_plan_new(w.c));
    cr_assert(strstr(nm_errmsg(), "corrupt index in group 3") != NULL, "%s", nm_errmsg());
    nmk_weight_free(&w);
    cr_assert_null(nm_nm_plan_new(NULL));
}
