/* NMReLU: the hand examples, every layout against a per-group reference,
 * in-place use, backward, and density statistics. */
#include "helpers.h"

static void run1(const float *in, float *out, int len, int n, int m, nm_act_policy p)
{
    nm_tensor *x = nm_tensor_new4(NM_F32, 2, 1, len, 0, 0);
    nm_tensor *y = nm_tensor_new4(NM_F32, 2, 1, len, 0, 0);
    memcpy(x->data, in, (size_t)len * sizeof(float));
    cr_assert_eq(nm_nmrelu_forward(x, y, n, m, p, NM_AXIS_CHANNEL), NM_OK, "%s", nm_errmsg());
    memcpy(out, y->data, (size_t)len * sizeof(float));
    nm_tensor_release(x);
    nm_tensor_release(y);
}

Test(nmrelu, hand_examples)
{
    float y[8];
    const float a[4] = {3, 5, 1, 2};
    run1(a, y, 4, 2, 4, NM_POLICY_FIRST);
    cr_assert(y[0] == 3 && y[1] == 5 && y[2] == 0 && y[3] == 0);
    run1(a, y, 4, 2, 4, NM_POLICY_TOPK);
    cr_assert(y[0] == 3 && y[1] == 5 && y[2] == 0 && y[3] == 0);
    /* JOINTNF.md: [1, 5, 3, -2] -> first [1, 5, 0, 0], topk [0, 5, 3, 0] */
    const float b[4] = {1, 5, 3, -2};
    run1(b, y, 4, 2, 4, NM_POLICY_FIRST);
    cr_assert(y[0] == 1 && y[1] == 5 && y[2] == 0 && y[3] == 0);
    run1(b, y, 4, 2, 4, NM_POLICY_TOPK);
    cr_assert(y[0] == 0 && y[1] == 5 && y[2] == 3 && y[3] == 0);
    /* trailing partial group [4, 6] of a 2:4 stream keeps both; a window
     * with one positive keeps just it; ties in topk go to the lower index */
    const float c[8] = {-1, -2, 7, -3, 2, 2, 2, 9};
    run1(c, y, 8, 2, 4, NM_POLICY_TOPK);
    const float want[8] = {0, 0, 7, 0, 2, 0, 0, 9};
    for (int i = 0; i < 8; i++)
        cr_assert_eq(y[i], want[i], "entry %d", i);
    const float d[6] = {1, 2, 3, 4, 4, 6};
    run1(d, y, 6, 2, 4, NM_POLICY_FIRST);
    const float wd[6] = {1, 2, 0, 0, 4, 6};
    for (int i = 0; i < 6; i++)
        cr_assert_eq(y[i], wd[i], "entry %d", i);
}

/* Reference on one group given as flat indices. */
static void ref_group(const float *x, float *y, const int64_t *idx, int len, int n,
                      nm_act_policy p)
{
    int cnt = 0;
    for (int i = 0; i < len; i++) {
        float v = x[idx[i]];
        float out = 0;
        if (v > 0) {
            if (p == NM_POLICY_FIRST) {
                out = cnt < n ? v : 0;
                cnt++;
            } else {
                int better = 0;
                for (int j = 0; j < len; j++)
                    if (j != i && x[idx[j]] > 0)
                        better += x[idx[j]] > v || (x[idx[j]] == v && j < i);
                out = better < n ? v : 0;
            }
        }
        y[idx[i]] = out;
    }
}

/* Groups of an activation tensor by its definition in prune.h. */
static void reference(const nm_tensor *x, float *y, int n, int m, nm_act_policy p, nm_act_axis ax)
{
    const float *xv = nm_f32(x);
    int64_t idx[64];
    if (x->ndim == 4) {
        int64_t B = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
        if (ax == NM_AXIS_POSITION) {
            for (int64_t b = 0; b < B; b++)
                for (int64_t c = 0; c < C; c++)
                    for (int64_t s = 0; s < HW; s += m) {
                        int len = (int)(HW - s < m ? HW - s : m);
                        for (int i = 0; i < len; i++)
                            idx[i] = (b * C + c) * HW + s + i;
                        ref_group(xv, y, idx, len, n, p);
                    }
        } else {
            for (int64_t b = 0; b < B; b++)
                for (int64_t q = 0; q < HW; q++)
                    for (int64_t s = 0; s < C; s += m) {
                        int len = (int)(C - s < m ? C - s : m);
                        for (int i = 0; i < len; i++)
                            idx[i] = (b * C + s + i) * HW + q;
                        ref_group(xv, y, idx, len, n, p);
                    }
        }
    } else {
        int64_t B = x->shape[0], F = x->shape[1];
        if (ax == NM_AXIS_CHANNEL) {
            for (int64_t b = 0; b < B; b++)
                for (int64_t s = 0; s < F; s += m) {
                    int len = (int)(F - s < m ? F - s : m);
                    for (int i = 0; i < len; i++)
                        idx[i] = b * F + s + i;
                    ref_group(xv, y, idx, len, n, p);
                }
        } else {
            for (int64_t f = 0; f < F; f++)
                for (int64_t s = 0; s < B; s += m) {
                    int len = (int)(B - s < m ? B - s : m);
                    for (int i = 0; i < len; i++)
                        idx[i] = (s + i) * F + f;
                    ref_group(xv, y, idx, len, n, p);
                }
        }
    }
}

Test(nmrelu, every_layout_against_reference)
{
    nm_rng r;
    nm_rng_seed(&r, 808);
    for (int trial = 0; trial < 300; trial++) {
        int four = trial % 2;
        nm_tensor *x = four ? nm_tensor_new4(NM_F32, 4, 1 + nm_rng_next(&r) % 3, 1 + nm_rng_next(&r) % 13,
                                             1 + nm_rng_next(&r) % 9, 1 + nm_rng_next(&r) % 9)
                            : nm_tensor_new4(NM_F32, 2, 1 + nm_rng_next(&r) % 40,
                                             1 + nm_rng_next(&r) % 300, 0, 0);
        for (int64_t i = 0; i < x->numel; i++)
            nm_f32(x)[i] = trial % 3 == 0 ? (float)((int)(nm_rng_uniform(&r) * 5) - 2)
                                          : (float)nm_rng_normal(&r);
        int m = 1 + (int)(nm_rng_next(&r) % 12), n = (int)(nm_rng_next(&r) % (m + 1));
        nm_act_policy p = (nm_act_policy)(nm_rng_next(&r) % 2);
        nm_act_axis ax = (nm_act_axis)(nm_rng_next(&r) % 2);
        nm_tensor *y = nm_tensor_new(NM_F32, x->ndim, x->shape);
        float *ref = calloc((size_t)x->numel, sizeof *ref);
        cr_assert_eq(nm_nmrelu_forward(x, y, n, m, p, ax), NM_OK, "%s", nm_errmsg());
        reference(x, ref, n, m, p, ax);
        for (int64_t i = 0; i < x->numel; i++)
            cr_assert_eq(nm_f32(y)[i], ref[i], "trial %d (%dD %d:%d policy %d axis %d) entry %lld",
                         trial, x->ndim, n, m, (int)p, (int)ax, (long long)i);
        /* stats against a direct count */
        nm_act_stats st;
        cr_assert_eq(nm_act_density(y, n, m, ax, &st, NULL), NM_OK);
        int64_t nz = 0;
        for (int64_t i = 0; i < x->numel; i++)
            nz += ref[i] != 0;
        cr_assert_eq(st.nonzeros, nz);
        cr_assert(st.full_groups <= st.groups);
        /* in place gives the same */
        nm_tensor *z = nm_tensor_clone(x);
        cr_assert_eq(nm_nmrelu_forward(z, z, n, m, p, ax), NM_OK);
        cr_assert_eq(memcmp(z->data, y->data, (size_t)x->numel * 4), 0, "in place differs, trial %d", trial);
        nm_tensor_release(z);
        nm_tensor_release(x);
        nm_tensor_release(y);
        free(ref);
    }
}

/* The channel axis of wide NCHW tensors (the eight-column vector path and
 * its tail) with many ties, -0, infinities and NaN, both policies and the
 * group lengths the kernels unroll (and one they do not), against the
 * per-group reference. */
Test(nmrelu, channel_axis_wide_with_ties_and_nan)
{
    nm_rng r;
    nm_rng_seed(&r, 4242);
    const int ms[] = {2, 4, 8, 9, 5, 9};
    for (int trial = 0; trial < 24; trial++) {
        int m = ms[trial % 6], n = (int)(nm_rng_next(&r) % (m + 1));
        nm_act_policy p = (nm_act_policy)(trial / 6 % 2);
        nm_tensor *x = nm_tensor_new4(NM_F32, 4, 2, 3 * m + 1 + trial % 3, 7, 37 + trial);
        float *xv = nm_f32(x);
        for (int64_t i = 0; i < x->numel; i++) {
            uint64_t u = nm_rng_next(&r) % 16;
            xv[i] = u == 0 ? NAN : u == 1 ? -0.0f : u == 2 ? INFINITY : u == 3 ? -INFINITY
                  : (float)((int)(u % 5) - 1);
        }
        nm_tensor *y = nm_tensor_new(NM_F32, 4, x->shape);
        float *ref = calloc((size_t)x->numel, sizeof *ref);
        cr_assert_eq(nm_nmrelu_forward(x, y, n, m, p, NM_AXIS_CHANNEL), NM_OK, "%s", nm_errmsg());
        reference(x, ref, n, m, p, NM_AXIS_CHANNEL);
        for (int64_t i = 0; i < x->numel; i++)
            cr_assert(memcmp(&nm_f32(y)[i], &ref[i], sizeof ref[i]) == 0,
                      "trial %d (%d:%d policy %d) entry %lld: %g, reference %g", trial, n, m,
                      (int)p, (long long)i, nm_f32(y)[i], ref[i]);
        nm_tensor_release(x);
        nm_tensor_release(y);
        free(ref);
    }
}

Test(nmrelu, backward_only_through_kept)
{
    nm_tensor *x = nm_tensor_new4(NM_F32, 4, 1, 1, 2, 4);
    const float a[8] = {1, 5, 3, -2, 0, 2, 2, 2};
    memcpy(x->data, a, sizeof a);
    nm_tensor *y = nm_tensor_new(NM_F32, 4, x->shape);
    nm_tensor *dy = nm_tensor_new(NM_F32, 4, x->shape);
    nm_tensor *dx = nm_tensor_new(NM_F32, 4, x->shape);
    nm_tensor_fill(dy, 1.5);
    cr_assert_eq(nm_nmrelu_forward(x, y, 2, 4, NM_POLICY_TOPK, NM_AXIS_POSITION), NM_OK);
    cr_assert_eq(nm_nmrelu_backward(y, dy, dx), NM_OK);
    const float want[8] = {0, 1.5f, 1.5f, 0, 0, 1.5f, 1.5f, 0};
    for (int i = 0; i < 8; i++)
        cr_assert_eq(nm_f32(dx)[i], want[i], "entry %d", i);
    nm_act_stats st;
    double per[1];
    cr_assert_eq(nm_act_density(y, 2, 4, NM_AXIS_POSITION, &st, per), NM_OK);
    cr_assert_eq(st.nonzeros, 4);
    cr_assert_eq(st.groups, 2);
    cr_assert_eq(st.full_groups, 2);
    cr_assert_float_eq(st.density, 0.5, 1e-12);
    cr_assert_float_eq(per[0], 0.5, 1e-12);
    nm_tensor *bad = nm_tensor_new4(NM_F32, 1, 8, 0, 0, 0);
    cr_assert_eq(nm_nmrelu_forward(bad, bad, 2, 4, NM_POLICY_FIRST, NM_AXIS_POSITION), NM_ERR);
    cr_assert_eq(nm_nmrelu_forward(x, y, 3, 2, NM_POLICY_FIRST, NM_AXIS_POSITION), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "impossible N:M 3:2"), "%s", nm_errmsg());
    cr_assert_eq(nm_nmrelu_backward(y, bad, dx), NM_ERR);
    nm_tensor_release(bad);
    nm_tensor_release(x);
    nm_tensor_release(y);
    nm_tensor_release(dy);
    nm_tensor_release(dx);
}
