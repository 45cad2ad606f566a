/* Frame time of the heaviest screens, as a benchmark: the Mask screen on a
 * 2048 x 4608 layer (a 3x3 conv from 512 to 2048 channels, 9.4 M weights)
 * fitted to a 200x60 terminal, and the Array screen for a 32x32 array.
 * Target: each under 10 ms. Baseline, measured in the same run: one
 * streaming pass over the layer's weight and mask bytes (what any redraw
 * that looks at every weight must at least read). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "workbench.h"
#include "zoo.h"

/* Best of `reps` runs of fn, in milliseconds. */
#define BEST_MS(reps, body)                                    \
    ({                                                          \
        double best_ = 1e30;                                   \
        for (int r_ = 0; r_ < (reps); r_++) {                  \
            double t0_ = nm_now();                                \
            body;                                              \
            double dt_ = (nm_now() - t0_) * 1e3;                  \
            if (dt_ < best_)                                   \
                best_ = dt_;                                   \
        }                                                      \
        best_;                                                 \
    })

/* The floor: XOR of every 8-byte word of the weights and the mask
 * (vectorised, memory-bound: the least any redraw that looks at every
 * weight must do). */
static uint64_t xor_pass(const void *a, size_t na, const void *b, size_t nb)
{
    uint64_t acc = 0, word;
    const unsigned char *pa = a, *pb = b;
    for (size_t i = 0; i + 8 <= na; i += 8)
        memcpy(&word, pa + i, 8), acc ^= word;
    for (size_t i = 0; i + 8 <= nb; i += 8)
        memcpy(&word, pb + i, 8), acc ^= word;
    return acc;
}

static uint64_t count_weights_xor(const nm_model *m)
{
    uint64_t acc = 0;
    for (int i = 0; i < m->n_layers; i++)
        if (m->layers[i].weight)
            acc ^= xor_pass(m->layers[i].weight->data, (size_t)m->layers[i].weight->numel * 4, NULL, 0);
    return acc;
}

int main(void)
{
    nm_model *m = nm_model_new("bench", 512, 8, 8);
    if (!m || nm_add_conv(m, "big", NM_INPUT, 2048, 3, 3, 1, 1, 1, 0) < 0) {
        fprintf(stderr, "bench_frames: %s\n", nm_errmsg());
        return 1;
    }
    nm_layer *l = &m->layers[0];
    nm_rng r;
    nm_rng_seed(&r, 1);
    float *w = nm_f32(l->weight);
    for (int64_t i = 0; i < l->weight->numel; i++)
        w[i] = (float)nm_rng_normal(&r);
    nm_layer_ensure_mask(l);
    for (int64_t i = 0; i < l->mask->numel; i++)
        nm_u8(l->mask)[i] = (i % 9) < 4; /* 4:9 per kernel */

    tui_grid *g = tui_grid_new(200, 60, 1);
    wb_state s = {0};
    s.model = m;
    s.color = 1;
    double mask_ms = BEST_MS(7, view_mask(g, &s, 0, 2, 200, 57));

    volatile uint64_t sink = 0;
    double base_ms = BEST_MS(7, sink += xor_pass(w, (size_t)l->weight->numel * sizeof *w, nm_u8(l->mask),
                                                  (size_t)l->mask->numel));

    int32_t grid[32 * 32];
    double busy[32 * 32];
    for (int i = 0; i < 32 * 32; i++)
        grid[i] = i % 5 ? i : -1, busy[i] = i % 7;
    wb_state a = {0};
    a.have_array = 1;
    a.array.grid = grid;
    a.array.pe_busy = busy;
    a.array.rows = a.array.cols = 32;
    a.array.phase = 1;
    a.array.cycle = 100;
    snprintf(a.array.layer, sizeof a.array.layer, "big");
    double array_ms = BEST_MS(50, view_array(g, &a, 0, 2, 200, 57));
    double clear_ms = BEST_MS(50, tui_grid_clear(g));

    /* the whole Layers screen of resnet50 (25.5 M weights): the views
     * counting per-layer stats themselves vs the app's cache */
    nm_model *rn = nm_zoo("resnet50", 1);
    if (!rn) {
        fprintf(stderr, "bench_frames: %s\n", nm_errmsg());
        return 1;
    }
    nm_layer_stats *st = malloc((size_t)rn->n_layers * sizeof *st);
    wb_state ls = {0};
    ls.model = ls.base = rn;
    ls.color = 1;
    int nkeys = 0;
    double own_ms = BEST_MS(5, wb_draw(g, &ls, NULL, nkeys));
    double count_ms = BEST_MS(5, for (int i = 0; i < rn->n_layers; i++) nm_layer_stats_get(rn, i, &st[i]));
    ls.stats = ls.base_stats = st;
    double cached_ms = BEST_MS(20, wb_draw(g, &ls, NULL, nkeys));
    double rn_base_ms = BEST_MS(7, sink += count_weights_xor(rn));

    printf("layers screen, resnet50: %.2f ms counting stats per frame, %.3f ms with the cache "
           "(recount on change: %.2f ms); streaming XOR pass over its weights: %.2f ms; ratios %.2f / %.3f\n",
           own_ms, cached_ms, count_ms, rn_base_ms, own_ms / rn_base_ms, cached_ms / rn_base_ms);
    free(st);
    nm_model_free(rn);
    printf("mask screen, 2048x4608 layer fitted to 200x60: %.2f ms (target < 10 ms); "
           "streaming XOR pass over weights+mask: %.2f ms; ratio %.2f\n", mask_ms, base_ms, mask_ms / base_ms);
    printf("array screen, 32x32 PEs: %.3f ms (target < 10 ms); clearing the 200x60 grid: %.3f ms; ratio %.1f\n",
           array_ms, clear_ms, array_ms / clear_ms);
    tui_grid_free(g);
    nm_model_free(m);
    return sink == 12345;
}
