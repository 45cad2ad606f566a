/* Tensors: shape checks, refcounts, element access, RNG determinism. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "tensor.h"
#include "error.h"
#include "../test_budget.h"

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

/* The byte counters follow allocation and release; the peak is the most
 * held since the reset. */
Test(mem, live_and_peak_counters)
{
    int64_t live = nm_mem_live();
    nm_mem_reset_peak();
    nm_tensor *a = nm_tensor_new4(NM_F32, 2, 100, 10, 0, 0);   /* 4000 bytes */
    nm_tensor *b = nm_tensor_new4(NM_U8, 1, 500, 0, 0, 0);     /* 500 bytes */
    cr_assert_eq(nm_mem_live() - live, 4500);
    nm_tensor_release(a);
    cr_assert_eq(nm_mem_live() - live, 500);
    cr_assert_eq(nm_mem_peak() - live, 4500);
    nm_tensor *c = nm_tensor_clone(b);
    cr_assert_eq(nm_mem_live() - live, 1000);
    nm_tensor_release(b);
    nm_tensor_release(c);
    cr_assert_eq(nm_mem_live(), live);
    nm_mem_reset_peak();
    cr_assert_eq(nm_mem_peak(), live);
}

/* Reservations ask the budget only for what is not yet granted; tensors
 * draw on the grant and ask for any excess; a refusal allocates nothing,
 * names what was refused and marks the scope; scopes nest. */
Test(mem, budget_reserve_and_refuse)
{
    cap_budget c = {.cap = 10000};
    nm_mem_budget b;
    nm_tensor *outside = nm_tensor_new4(NM_U8, 1, 3000, 0, 0, 0);
    int64_t live = nm_mem_live() - 3000;
    nm_mem_budget_push(&b, cap_ask, &c);
    cr_assert_eq(nm_mem_reserve("x", 6000), NM_OK);
    cr_assert_eq(c.asked, 6000);
    nm_tensor *t = nm_tensor_new4(NM_F32, 1, 1000, 0, 0, 0);  /* 4000 of the 6000 */
    cr_assert_not_null(t);
    cr_assert_eq(c.calls, 1, "the tensor asked again for granted bytes");
    nm_tensor *u = nm_tensor_new4(NM_F32, 1, 1000, 0, 0, 0);  /* 2000 granted + 2000 more */
    cr_assert_not_null(u);
    cr_assert_eq(c.calls, 2);
    cr_assert_eq(c.asked, 8000);
    cr_assert_eq(b.used, 8000);
    nm_mem_reset_peak();
    nm_tensor *v = nm_tensor_new4(NM_F32, 1, 1000, 0, 0, 0);  /* 4000 more: over 10000 */
    cr_assert_null(v);
    cr_assert(b.refused);
    cr_assert(strstr(nm_errmsg(), "not enough memory") && strstr(nm_errmsg(), "10000"), "%s",
              nm_errmsg());
    cr_assert_eq(nm_mem_peak(), nm_mem_live(), "allocated although refused");
    cr_assert_eq(nm_mem_reserve("model.bin", 1 << 20), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "model.bin: not enough memory"), "%s", nm_errmsg());
    nm_tensor_release(u);                      /* back to the scope, not the budget */
    cr_assert_eq(b.used, 4000);
    nm_tensor_release(outside);                /* not the scope's: used unchanged */
    cr_assert_eq(b.used, 4000);
    cr_assert_eq(nm_mem_reserve("y", 4000), NM_OK);
    cr_assert_eq(c.asked, 8000 + 4000 + (1 << 20), "asked although 4000 were free in the scope");

    cap_budget c2 = {.cap = 100};               /* a nested scope has its own budget */
    nm_mem_budget b2;
    nm_mem_budget_push(&b2, cap_ask, &c2);
    cr_assert_null(nm_tensor_new4(NM_U8, 1, 200, 0, 0, 0));
    cr_assert(b2.refused);
    nm_mem_budget_pop(&b2);
    cr_assert_eq(nm_mem_reserve("z", -1), NM_ERR);
    nm_tensor_release(t);
    nm_mem_budget_pop(&b);
    cr_assert_eq(nm_mem_live(), live);
    /* no budget: nothing is asked */
    cr_assert_eq(nm_mem_reserve("w", (int64_t)1 << 40), NM_OK);
}

/* Buffers that are not tensors are charged like them: they draw on the
 * reservation, show in the counters and are given back by release. */
Test(mem, charge_and_release_raw_buffers)
{
    cap_budget c = {.cap = 5000};
    nm_mem_budget b;
    int64_t live = nm_mem_live();
    nm_mem_budget_push(&b, cap_ask, &c);
    cr_assert_eq(nm_mem_reserve("f.onnx", 3000), NM_OK);
    cr_assert_eq(nm_mem_charge("f.onnx", 3000), NM_OK);
    cr_assert_eq(c.calls, 1, "the charge asked again for reserved bytes");
    cr_assert_eq(nm_mem_live() - live, 3000);
    cr_assert_eq(nm_mem_charge("f.onnx", 3000), NM_ERR);      /* 6000 > 5000 */
    cr_assert(strstr(nm_errmsg(), "f.onnx: not enough memory"), "%s", nm_errmsg());
    cr_assert_eq(nm_mem_live() - live, 3000);
    nm_mem_release(3000);
    cr_assert_eq(b.used, 0);
    cr_assert_eq(nm_mem_live(), live);
    nm_mem_budget_pop(&b);
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
