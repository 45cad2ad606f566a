/* Functional models: every MAC kind's array output equals a dense int8 GEMM
 * of the same masked operands, bit for bit, on many random shapes and N:M
 * settings; the nm-MAC trace of the paper's 2:4 x 2:4 example. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static int rnd(nm_rng *r, int lo, int hi) { return lo + (int)(nm_rng_next(r) % (uint64_t)(hi - lo + 1)); }

static int8_t rnd_i8(nm_rng *r)
{
    int v = rnd(r, -127, 127);
    return (int8_t)(v ? v : 1);
}

/* W [Nf, K]: in every group of m consecutive K entries keep at most n
 * (a random number 0..n of them, random positions). */
static void sparse_weights(nm_rng *r, int8_t *W, int Nf, int K, int n, int m)
{
    for (int f = 0; f < Nf; f++)
        for (int k0 = 0; k0 < K; k0 += m) {
            int len = K - k0 < m ? K - k0 : m, keep = rnd(r, 0, n < len ? n : len);
            for (int c = 0; c < len; c++)
                W[f * K + k0 + c] = 0;
            for (int i = 0; i < keep; i++) {
                int c;
                do c = rnd(r, 0, len - 1); while (W[f * K + k0 + c]);
                W[f * K + k0 + c] = rnd_i8(r);
            }
        }
}

/* X [E, K]: in every column, each block of m consecutive rows keeps at most n. */
static void sparse_data(nm_rng *r, int8_t *X, int E, int K, int n, int m)
{
    for (int k = 0; k < K; k++)
        for (int b0 = 0; b0 < E; b0 += m) {
            int len = E - b0 < m ? E - b0 : m, keep = rnd(r, 0, n < len ? n : len);
            for (int i = 0; i < len; i++)
                X[(b0 + i) * K + k] = 0;
            for (int i = 0; i < keep; i++) {
                int e;
                do e = rnd(r, 0, len - 1); while (X[(b0 + e) * K + k]);
                X[(b0 + e) * K + k] = rnd_i8(r);
            }
        }
}

static void check_kind(sim_mac_kind kind, int trials, uint64_t seed)
{
    nm_rng r;
    nm_rng_seed(&r, seed);
    for (int t = 0; t < trials; t++) {
        sim_mac mac;
        int dm = rnd(&r, 1, 9), dn = rnd(&r, 1, dm), wm = rnd(&r, 1, 9), wn = rnd(&r, 1, wm);
        if (kind == SIM_BMAC)
            dn = dm = 1;
        cr_assert_eq(sim_mac_init(&mac, kind, dn, dm, wn, wm), NM_OK, "%s", nm_errmsg());
        int E = rnd(&r, 1, 23), K = rnd(&r, 1, 41), Nf = rnd(&r, 1, 7);
        int8_t *X = malloc((size_t)E * K), *W = malloc((size_t)Nf * K);
        int32_t *Y = malloc((size_t)E * Nf * 4), *Yref = malloc((size_t)E * Nf * 4);
        if (kind == SIM_PMAC) {
            for (int i = 0; i < E * K; i++)
                X[i] = (int8_t)rnd(&r, -128, 127);
            for (int i = 0; i < Nf * K; i++)
                W[i] = (int8_t)rnd(&r, -128, 127);
        } else {
            sparse_weights(&r, W, Nf, K, mac.wn, mac.wm);
            if (kind == SIM_NM)
                sparse_data(&r, X, E, K, mac.dn, mac.dm);
            else
                for (int i = 0; i < E * K; i++)
                    X[i] = (int8_t)rnd(&r, -128, 127);
        }
        sim_func_stats st;
        cr_assert_eq(sim_gemm_i8_functional(&mac, X, W, E, K, Nf, Y, &st), NM_OK, "%s",
                     nm_errmsg());
        sim_gemm_i8_dense(X, W, E, K, Nf, Yref);
        cr_assert(!memcmp(Y, Yref, (size_t)E * Nf * 4), "trial %d kind %d E=%d K=%d Nf=%d", t,
                  kind, E, K, Nf);
        /* Products performed with nonzero operands, counted independently. */
        int64_t want = 0;
        for (int e = 0; e < E; e++)
            for (int f = 0; f < Nf; f++)
                for (int k = 0; k < K; k++)
                    want += X[e * K + k] && W[f * K + k];
        cr_assert_eq(st.products, want, "trial %d: products %lld vs %lld", t,
                     (long long)st.products, (long long)want);
        if (kind == SIM_NM)
            cr_assert_eq(st.violations, 0);
        free(X), free(W), free(Y), free(Yref);
    }
}

Test(functional, pmac_matches_dense_gemm) { check_kind(SIM_PMAC, 60, 1); }
Test(functional, bmac_matches_dense_gemm) { check_kind(SIM_BMAC, 150, 2); }
Test(functional, nm_matches_dense_gemm) { check_kind(SIM_NM, 300, 3); }

Test(functional, nm_counts_blocks_over_budget_and_stays_exact)
{
    /* Dense data on a 2:4 data budget: every full column block has up to 4
     * nonzeros, so blocks need more rounds; the result is still exact. */
    sim_mac mac;
    sim_mac_init(&mac, SIM_NM, 2, 4, 2, 4);
    nm_rng r;
    nm_rng_seed(&r, 9);
    int E = 8, K = 8, Nf = 3;
    int8_t X[64], W[24];
    int32_t Y[24], Yref[24];
    for (int i = 0; i < 64; i++)
        X[i] = rnd_i8(&r);
    sparse_weights(&r, W, Nf, K, 2, 4);
    sim_func_stats st;
    cr_assert_eq(sim_gemm_i8_functional(&mac, X, W, E, K, Nf, Y, &st), NM_OK);
    sim_gemm_i8_dense(X, W, E, K, Nf, Yref);
    cr_assert(!memcmp(Y, Yref, sizeof Y));
    /* 2 position blocks x 2 slices, each with all columns full: 4 rounds. */
    cr_assert_eq(st.blocks, 4);
    cr_assert_eq(st.violations, 4);
    cr_assert_eq(st.rounds, 16);
}

Test(functional, weights_too_dense_are_refused)
{
    sim_mac mac;
    sim_mac_init(&mac, SIM_BMAC, 0, 0, 3, 9);
    int8_t X[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, W[9] = {1, 2, 3, 4, 0, 0, 0, 0, 0};
    int32_t Y[1];
    cr_assert_eq(sim_gemm_i8_functional(&mac, X, W, 1, 9, 1, Y, NULL), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "more than 3"), "%s", nm_errmsg());
}

Test(functional, quantize_symmetric)
{
    float x[4] = {-2.0f, 1.0f, 0.0f, 0.5f};
    int8_t q[4];
    float s = sim_quantize_sym(x, 4, q);
    cr_assert_float_eq(s, 2.0f / 127, 1e-7);
    cr_assert_eq(q[0], -127);
    cr_assert_eq(q[1], 64);   /* 1 / (2/127) = 63.5 -> 64 */
    cr_assert_eq(q[2], 0);
    cr_assert_eq(q[3], 32);   /* 31.75 -> 32 */
}

/* The paper's example: a 4x4 data block in 2:4 (column-wise) times a 4-long
 * weight slice in 2:4, on an nm-MAC with 2 multipliers: 2 rounds. */
Test(functional, nm_mac_trace_2_4_example)
{
    sim_mac mac;
    cr_assert_eq(sim_mac_init(&mac, SIM_NM, 2, 4, 2, 4), NM_OK);
    /* rows = positions, columns = reduction; each column has 2 nonzeros. */
    const int8_t block[16] = {
        3, 0, 1, 0,
        0, 2, 0, 4,
        5, 0, 0, 6,
        0, 7, 8, 0,
    };
    const int8_t w[4] = {0, 2, 0, -1};  /* weights at columns 1 and 3 */
    int32_t out[4];
    char *text = sim_nm_mac_trace(&mac, block, w, out);
    cr_assert_not_null(text, "%s", nm_errmsg());
    /* By hand: out[r] = 2*block[r][1] - 1*block[r][3]
     *   row 0: 2*0 - 0 = 0;  row 1: 2*2 - 4 = 0;  row 2: 0 - 6 = -6;
     *   row 3: 2*7 - 0 = 14. */
    cr_assert_eq(out[0], 0);
    cr_assert_eq(out[1], 0);
    cr_assert_eq(out[2], -6);
    cr_assert_eq(out[3], 14);
    /* Round 0 brings column 1's first nonzero (2 from row 1) and column 3's
     * (4 from row 1); round 1 brings 7@3 and 6@2. */
    cr_assert(strstr(text, "2 multipliers"), "%s", text);
    cr_assert(strstr(text, "2@1, x weight 2 = 4 -> out[1]"), "%s", text);
    cr_assert(strstr(text, "4@1, x weight -1 = -4 -> out[1] = 0"), "%s", text);
    cr_assert(strstr(text, "7@3, x weight 2 = 14 -> out[3]"), "%s", text);
    cr_assert(strstr(text, "6@2, x weight -1 = -6 -> out[2]"), "%s", text);
    cr_assert(strstr(text, "\nround 0: data row 3@0 2@1 1@0 4@1 arrives"), "%s", text);
    cr_assert(strstr(text, "\nround 1: data row 5@2 7@3 8@3 6@2 arrives"), "%s", text);
    cr_assert(!strstr(text, "round 2:"), "%s", text);
    cr_assert(strstr(text, "after 2 rounds"), "%s", text);
    char *ex = sim_nm_mac_trace_example();
    cr_assert_str_eq(ex, text, "the built-in example is this one");
    free(ex);
    free(text);
}

Test(functional, mac_parse_and_bad_settings)
{
    sim_mac m;
    char buf[48];
    cr_assert_eq(sim_mac_parse("nm-6-4", &m), NM_OK);
    cr_assert_str_eq(sim_mac_name(&m, buf, sizeof buf), "nm-6:9-4:9");
    cr_assert_eq(sim_mac_rounds(&m), 6);
    cr_assert_eq(sim_mac_mults(&m), 4);
    cr_assert_eq(sim_mac_parse("bmac", &m), NM_OK);
    cr_assert_eq(sim_mac_mults(&m), 3);
    cr_assert_eq(sim_mac_span(&m), 9);
    cr_assert_eq(sim_mac_parse("nm:5:4:2:4", &m), NM_ERR);
    cr_assert(strstr(nm_errmsg(), "5:4"), "%s", nm_errmsg());
    cr_assert_eq(sim_mac_parse("tpu", &m), NM_ERR);
}

/* A real conv layer (one filter and one input channel removed, weights
 * pruned 2:4 along K by hand) through the nm-MAC functional model equals
 * the dense int8 GEMM of the same quantised operands; the weight matrix
 * holds exactly the kept rows and columns. */
Test(functional, layer_through_functional_model)
{
    nm_model *m = nm_model_new("l", 3, 6, 6);
    int c = nm_add_conv(m, "c", NM_INPUT, 5, 2, 2, 1, 0, 1, 0);
    cr_assert(c >= 0, "%s", nm_errmsg());
    nm_model_init_weights(m, 5);
    nm_layer *l = &m->layers[c];
    l->filters = nm_tensor_new4(NM_U8, 1, 5, 0, 0, 0);
    l->in_chans = nm_tensor_new4(NM_U8, 1, 3, 0, 0, 0);
    for (int i = 0; i < 5; i++)
        nm_u8(l->filters)[i] = i != 3;
    for (int i = 0; i < 3; i++)
        nm_u8(l->in_chans)[i] = i != 1;
    /* 2:4 along the kept K' = 2 channels * 4 = 8: keep the first 2 of
     * each 2x2 kernel (kernel group = 4 consecutive entries). */
    nm_layer_ensure_mask(l);
    for (int64_t i = 0; i < l->mask->numel; i++)
        nm_u8(l->mask)[i] = i % 4 < 2;
    nm_tensor *W = sim_layer_weight_matrix(m, c);
    cr_assert_not_null(W, "%s", nm_errmsg());
    cr_assert_eq(W->shape[0], 4);
    cr_assert_eq(W->shape[1], 8);
    /* row 3 = filter 4; column 5 = channel 2, kernel entry 1 */
    cr_assert_float_eq(nm_f32(W)[3 * 8 + 5], nm_f32(l->weight)[4 * 12 + 2 * 4 + 1], 0);
    cr_assert_float_eq(nm_f32(W)[3 * 8 + 6], 0, 0, "masked");
    /* Activations: 2:4 column-wise over E = 25 positions. */
    nm_rng r;
    nm_rng_seed(&r, 11);
    int E = 25, K = 8;
    nm_tensor *X = nm_tensor_new4(NM_F32, 2, E, K, 0, 0);
    for (int k = 0; k < K; k++)
        for (int e = 0; e < E; e++)
            nm_f32(X)[e * K + k] = e % 4 == (k % 4) || e % 4 == ((k + 1) % 4)
                                       ? (float)nm_rng_normal(&r) : 0.0f;
    sim_mac mac;
    sim_mac_init(&mac, SIM_NM, 2, 4, 2, 4);
    float xs, ws;
    sim_func_stats st;
    nm_tensor *Y = sim_layer_functional(m, c, &mac, X, &xs, &ws, &st);
    cr_assert_not_null(Y, "%s", nm_errmsg());
    cr_assert_eq(st.violations, 0);
    int8_t xq[200], wq[32];
    int32_t Yref[100];
    cr_assert_float_eq(sim_quantize_sym(nm_f32(X), E * K, xq), xs, 0);
    cr_assert_float_eq(sim_quantize_sym(nm_f32(W), 4 * K, wq), ws, 0);
    sim_gemm_i8_dense(xq, wq, E, K, 4, Yref);
    cr_assert(!memcmp(nm_i32(Y), Yref, sizeof(int32_t) * E * 4));
    /* A 1:4 MAC cannot hold 2:4 weights: a clear message naming the layer. */
    sim_mac_init(&mac, SIM_NM, 2, 4, 1, 4);
    cr_assert_null(sim_layer_functional(m, c, &mac, X, NULL, NULL, NULL));
    cr_assert(strstr(nm_errmsg(), "c: filter"), "%s", nm_errmsg());
    nm_tensor_release(Y);
    nm_tensor_release(X);
    nm_tensor_release(W);
    nm_model_free(m);
}
