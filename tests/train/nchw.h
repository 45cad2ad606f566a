/* nchw.h - [N, C, H, W] test inputs and element access for the forward
 * tests of the imported-graph kinds (test_graph_ops.c, test_upsample_ops.c).
 * Include after criterion.h and tensor.h. */
#ifndef NM_TESTS_NCHW_H
#define NM_TESTS_NCHW_H

/* f32 [n, c, h, w], uniform in [-2, 2) from seed (caller releases). */
static inline nm_tensor *random_input(int n, int c, int h, int w, uint64_t seed)
{
    nm_tensor *x = nm_tensor_new4(NM_F32, 4, n, c, h, w);
    cr_assert(x);
    nm_rng r;
    nm_rng_seed(&r, seed);
    for (int64_t i = 0; i < x->numel; i++)
        nm_f32(x)[i] = (float)(nm_rng_uniform(&r) * 4.0 - 2.0);
    return x;
}

/* Value (s, c, h, w) of an [N, C, H, W] tensor. */
static inline float v4(const nm_tensor *t, int s, int c, int h, int w)
{
    return nm_f32(t)[((s * t->shape[1] + c) * t->shape[2] + h) * t->shape[3] + w];
}

#endif
