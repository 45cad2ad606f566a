/* Tensors: shape checks, refcounts, element access, RNG determinism. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "tensor.h"
#include "error.h"

Test(tensor, new_is_zeroed_with_shape)
{
    nm_tensor *t = nm_tensor_new4(NM_F32, 3, 2, 3, 4, 0);
    cr_assert_not_null(t);
    cr_assert_eq(t->numel, 24);
    cr_assert_eq(t->shape[3], 1);
    cr_assert_eq(nm_tensor_nnz(t), 0);
    nm_tensor_setd(t, 5, 2.5);
    cr_assert_float_eq(nm_tensor_getd(t, 5), 2.5, 1e-7);
    cr_assert_eq(nm_tensor_nnz(t), 1);
    char buf[64];
    cr_assert_str_eq(nm_shape_str(t, buf, sizeof buf), "[2, 3, 4]");
    nm_tensor_release(t);
}

Test(tensor, rejects_hostile_shapes)
{
    int64_t huge[2] = {(int64_t)1 << 40, (int64_t)1 << 40};
    cr_assert_null(nm_tensor_new(NM_F32, 2, huge));
    cr_assert(strstr(nm_errmsg(), "too large"), "message: %s", nm_errmsg());
    int64_t neg[1] = {-3};
    cr_assert_null(nm_tensor_new(NM_U8, 1, neg));
    cr_assert(strstr(nm_errmsg(), "negative"));
    int64_t five[5] = {1, 1, 1, 1, 1};
    cr_assert_null(nm_tensor_new(NM_U8, 5, five));
    /* just over the cap, without overflow */
    int64_t cap[1] = {NM_TENSOR_MAX_BYTES / 4 + 1};
    cr_assert_null(nm_tensor_new(NM_F32, 1, cap));
}

Test(tensor, refcount_and_clone)
{
    nm_tensor *t = nm_tensor_new4(NM_I8, 1, 4, 0, 0, 0);
    nm_tensor_setd(t, 0, 300); /* saturates */
    cr_assert_eq(nm_i8(t)[0], 127);
    nm_tensor *c = nm_tensor_clone(t);
    nm_tensor_retain(t);
    cr_assert_eq(t->refcount, 2);
    nm_tensor_release(t);
    nm_tensor_setd(c, 0, -5);
    cr_assert_eq(nm_i8(t)[0], 127, "clone shares no data");
    nm_tensor_release(t);
    nm_tensor_release(c);
}

Test(rng, deterministic_and_normalish)
{
    nm_rng a, b;
    nm_rng_seed(&a, 42);
    nm_rng_seed(&b, 42);
    double sum = 0, sq = 0;
    for (int i = 0; i < 20000; i++) {
        double x = nm_rng_normal(&a);
        cr_assert_eq(x, nm_rng_normal(&b));
        sum += x;
        sq += x * x;
    }
    double mean = sum / 20000, var = sq / 20000 - mean * mean;
    cr_assert(fabs(mean) < 0.03, "mean %g", mean);
    cr_assert(fabs(var - 1) < 0.05, "var %g", var);
}
