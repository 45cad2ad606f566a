/* functional.c - int8 functional models of the three MAC kinds, assembled
 * into the array's GEMM the way the array accumulates (partial sums move
 * down the reduction slices), plus symmetric quantisation and the dense
 * int8 reference. The bMAC and nm-MAC work on the compressed formats:
 * weights as values + column indices, nm data as values + row indices. */
#include "sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

float sim_quantize_sym(const float *x, int64_t n, int8_t *q)
{
    float mx = 0;
    for (int64_t i = 0; i < n; i++)
        if (fabsf(x[i]) > mx)
            mx = fabsf(x[i]);
    float scale = mx > 0 ? mx / 127.0f : 1.0f;
    for (int64_t i = 0; i < n; i++) {
        float v = roundf(x[i] / scale);
        q[i] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
    return scale;
}

void sim_gemm_i8_dense(const int8_t *X, const int8_t *W, int64_t E, int64_t K, int64_t Nf,
                       int32_t *Y)
{
    for (int64_t e = 0; e < E; e++)
        for (int64_t f = 0; f < Nf; f++) {
            int32_t acc = 0;
            for (int64_t k = 0; k < K; k++)
                acc += (int32_t)X[e * K + k] * W[f * K + k];
            Y[e * Nf + f] = acc;
        }
}

/* A weight slice W[f][k0 .. k0+len-1] compressed to at most `cap` values
 * with their column indices (zero padded). NM_ERR if it does not fit. */
static int compress_weights(const int8_t *w, int len, int cap, int8_t *val, int *idx,
                            int64_t f, int64_t k0)
{
    int n = 0;
    for (int c = 0; c < len; c++)
        if (w[c]) {
            if (n == cap)
                return nm_seterr("filter %lld, reduction slice at %lld: more than %d nonzero "
                                 "weights, the MAC cannot hold them", (long long)f,
                                 (long long)k0, cap);
            val[n] = w[c], idx[n] = c, n++;
        }
    for (; n < cap; n++)
        val[n] = 0, idx[n] = 0;
    return NM_OK;
}

/* pMAC: one weight per PE, one data value per cycle. */
static void run_pmac(const int8_t *X, const int8_t *W, int64_t E, int64_t K, int64_t Nf,
                     int32_t *Y, sim_func_stats *st)
{
    for (int64_t k = 0; k < K; k++)          /* PE row k */
        for (int64_t f = 0; f < Nf; f++) {   /* PE column f: weight W[f][k] stays */
            int32_t w = W[f * K + k];
            for (int64_t e = 0; e < E; e++) {
                int32_t x = X[e * K + k];
                Y[e * Nf + f] += x * w;
                st->products += x != 0 && w != 0;
            }
        }
}

/* bMAC: a PE holds W weights of a 9-long slice with their indices; each
 * cycle a dense data row arrives, the W values at the indices are picked
 * and their products summed into the partial sum. */
static int run_bmac(const sim_mac *mac, const int8_t *X, const int8_t *W, int64_t E, int64_t K,
                    int64_t Nf, int32_t *Y, sim_func_stats *st)
{
    int s = mac->wm, F = mac->wn;
    int8_t wv[64];
    int wi[64];
    for (int64_t k0 = 0; k0 < K; k0 += s) {
        int len = (int)(K - k0 < s ? K - k0 : s);
        for (int64_t f = 0; f < Nf; f++) {
            if (compress_weights(W + f * K + k0, len, F, wv, wi, f, k0))
                return NM_ERR;
            for (int64_t e = 0; e < E; e++) {
                const int8_t *row = X + e * K + k0;
                int32_t sum = 0;
                for (int m = 0; m < F; m++) {
                    int8_t x = row[wi[m]];
                    sum += (int32_t)x * wv[m];
                    st->products += x != 0 && wv[m] != 0;
                }
                Y[e * Nf + f] += sum;
            }
        }
    }
    return NM_OK;
}

/* nm-MAC. For each slice (n_F columns) and data block (n_D rows) the block
 * is compressed column-wise: round r's data row holds, per column, the r-th
 * nonzero value and its row index. A PE with #F weights (values + column
 * indices) picks, each round, the data at its weight indices, multiplies,
 * and adds each product to the output register named by the data's row
 * index. After the rounds its n_D registers join the partial sums coming
 * down from the slices above. */
static int run_nm(const sim_mac *mac, const int8_t *X, const int8_t *W, int64_t E, int64_t K,
                  int64_t Nf, int32_t *Y, sim_func_stats *st)
{
    int s = mac->wm, p = mac->dm, F = mac->wn;
    int8_t *dval = malloc((size_t)s * p), wv[64];
    int *drow = malloc((size_t)s * p * sizeof *drow), *cnt = malloc((size_t)s * sizeof *cnt);
    int wi[64];
    int32_t out[64];
    int rc = NM_OK;
    if (!dval || !drow || !cnt) {
        rc = nm_seterr("out of memory");
        goto done;
    }
    for (int64_t k0 = 0; k0 < K; k0 += s) {
        int len = (int)(K - k0 < s ? K - k0 : s);
        for (int64_t b0 = 0; b0 < E; b0 += p) {
            int rows = (int)(E - b0 < p ? E - b0 : p), rounds = 0;
            /* Compress the block: column c, k-th nonzero at [c*p + k]. */
            for (int c = 0; c < s; c++) {
                cnt[c] = 0;
                for (int r = 0; c < len && r < rows; r++) {
                    int8_t x = X[(b0 + r) * K + k0 + c];
                    if (x)
                        dval[c * p + cnt[c]] = x, drow[c * p + cnt[c]] = r, cnt[c]++;
                }
                if (cnt[c] > rounds)
                    rounds = cnt[c];
            }
            st->blocks++;
            st->rounds += rounds;
            st->violations += rounds > mac->dn;
            for (int64_t f = 0; f < Nf; f++) {
                if (compress_weights(W + f * K + k0, len, F, wv, wi, f, k0)) {
                    rc = NM_ERR;
                    goto done;
                }
                memset(out, 0, sizeof out);
                for (int r = 0; r < rounds; r++)
                    for (int m = 0; m < F; m++) {
                        int c = wi[m];
                        if (r >= cnt[c])
                            continue;   /* empty slot of the compressed row */
                        int32_t prod = (int32_t)dval[c * p + r] * wv[m];
                        out[drow[c * p + r]] += prod;
                        st->products += wv[m] != 0;
                    }
                for (int r = 0; r < rows; r++)
                    Y[(b0 + r) * Nf + f] += out[r];
            }
        }
    }
done:
    free(dval), free(drow), free(cnt);
    return rc;
}

int sim_gemm_i8_functional(const sim_mac *mac, const int8_t *X, const int8_t *W, int64_t E,
                           int64_t K, int64_t Nf, int32_t *Y, sim_func_stats *st)
{
    sim_func_stats dummy;
    if (!st)
        st = &dummy;
    memset(st, 0, sizeof *st);
    sim_mac chk;
    if (sim_mac_init(&chk, mac->kind, mac->dn, mac->dm, mac->wn, mac->wm))
        return NM_ERR;
    if (E < 1 || K < 1 || Nf < 1)
        return nm_seterr("functional GEMM needs positive sizes, got E=%lld K=%lld Nf=%lld",
                         (long long)E, (long long)K, (long long)Nf);
    memset(Y, 0, (size_t)(E * Nf) * sizeof *Y);
    switch (mac->kind) {
    case SIM_PMAC: run_pmac(X, W, E, K, Nf, Y, st); return NM_OK;
    case SIM_BMAC: return run_bmac(mac, X, W, E, K, Nf, Y, st);
    default: return run_nm(mac, X, W, E, K, Nf, Y, st);
    }
}
