/* trace.c - a round-by-round teaching trace of one nm-MAC. */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *sim_nm_mac_trace(const sim_mac *mac, const int8_t *block, const int8_t *wslice,
                       int32_t *out)
{
    return sim_nm_mac_trace_base(mac, block, wslice, out, 0);
}

char *sim_nm_mac_trace_base(const sim_mac *mac, const int8_t *block, const int8_t *wslice,
                            int32_t *out, int b)
{
    sim_mac chk;
    if (mac->kind != SIM_NM)
        return nm_seterr("the trace shows an nm-MAC"), NULL;
    if (sim_mac_init(&chk, mac->kind, mac->dn, mac->dm, mac->wn, mac->wm))
        return NULL;
    int p = mac->dm, s = mac->wm, F = mac->wn;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return nm_seterr("out of memory"), NULL;
    fprintf(f, "nm-MAC %d:%d data x %d:%d weights: %d multipliers, %d output registers\n",
            mac->dn, p, F, s, F, p);
    fprintf(f, "data block (%d positions x %d reduction columns):\n", p, s);
    for (int r = 0; r < p; r++) {
        fprintf(f, "  row %d:", r + b);
        for (int c = 0; c < s; c++)
            fprintf(f, " %4d", block[r * s + c]);
        fprintf(f, "\n");
    }
    /* Weights: values with their column indices. */
    int wi[64], nw = 0;
    int8_t wv[64];
    for (int c = 0; c < s; c++)
        if (wslice[c] && nw < F)
            wv[nw] = wslice[c], wi[nw] = c, nw++;
    fprintf(f, "weights stored in the register file (value@column):");
    for (int m = 0; m < nw; m++)
        fprintf(f, " %d@%d", wv[m], wi[m] + b);
    fprintf(f, "\n");
    /* Compressed block: per column, nonzeros with their row index. */
    int cnt[64] = {0}, rounds = 0;
    int8_t dv[64][64];
    int dr[64][64];
    for (int c = 0; c < s; c++) {
        for (int r = 0; r < p; r++)
            if (block[r * s + c])
                dv[c][cnt[c]] = block[r * s + c], dr[c][cnt[c]] = r, cnt[c]++;
        if (cnt[c] > rounds)
            rounds = cnt[c];
    }
    fprintf(f, "compressed data block (%d rows of value@row, one per round):\n", rounds);
    for (int r = 0; r < rounds; r++) {
        fprintf(f, "  round %d row:", r + b);
        for (int c = 0; c < s; c++)
            if (r < cnt[c])
                fprintf(f, " %d@%d", dv[c][r], dr[c][r] + b);
            else
                fprintf(f, " -");
        fprintf(f, "\n");
    }
    if (rounds > mac->dn)
        fprintf(f, "note: a column has %d nonzeros, more than #D=%d: %d rounds needed\n", rounds,
                mac->dn, rounds);
    for (int r = 0; r < p; r++)
        out[r] = 0;
    for (int r = 0; r < rounds; r++) {
        fprintf(f, "\nround %d: data row", r + b);
        for (int c = 0; c < s; c++)
            if (r < cnt[c])
                fprintf(f, " %d@%d", dv[c][r], dr[c][r] + b);
            else
                fprintf(f, " -");
        fprintf(f, " arrives\n");
        for (int m = 0; m < nw; m++) {
            int c = wi[m];
            if (r >= cnt[c]) {
                fprintf(f, "  multiplier %d: column %d has no value this round (idle)\n", m + b, c + b);
                continue;
            }
            int32_t prod = (int32_t)dv[c][r] * wv[m];
            out[dr[c][r]] += prod;
            fprintf(f, "  multiplier %d: pick column %d -> %d@%d, x weight %d = %d -> out[%d] = %d\n",
                    m + b, c + b, dv[c][r], dr[c][r] + b, wv[m], prod, dr[c][r] + b, out[dr[c][r]]);
        }
    }
    fprintf(f, "\nafter %d rounds the %d partial sums move on:", rounds, p);
    for (int r = 0; r < p; r++)
        fprintf(f, " %d", out[r]);
    fprintf(f, "\n");
    if (fclose(f)) {
        free(text);
        return nm_seterr("out of memory writing the trace"), NULL;
    }
    return text;
}

char *sim_nm_mac_trace_example(void)
{
    /* Rows are positions, columns the reduction; every column holds 2
     * nonzeros (2:4 data) and the weight slice 2 nonzeros (2:4). */
    static const int8_t block[16] = {
        3, 0, 1, 0,
        0, 2, 0, 4,
        5, 0, 0, 6,
        0, 7, 8, 0,
    };
    static const int8_t w[4] = {0, 2, 0, -1};
    sim_mac mac;
    int32_t out[4];
    sim_mac_init(&mac, SIM_NM, 2, 4, 2, 4);
    return sim_nm_mac_trace(&mac, block, w, out);
}
