/* Frame time of the heaviest screens, as a benchmark: the Mask screen on a
 * 2048 x 4608 layer (a 3x3 conv from 512 to 2048 channels, 9.4 M weights)
 * fitted to a 200x60 terminal, and the Array screen for a 32x32 array.
 * Target: each under 10 ms. Baseline, measured in the same run: one
 * streaming pass over the layer's weight and mask bytes (what any redraw
 * that looks at every weight must at least read). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "workbench.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Best of `reps` runs of fn, in milliseconds. */
#define BEST_MS(reps, body)                                    \
    ({                                                          \
        double best_ = 1e30;                                   \
        for (int r_ = 0; r_ < (reps); r_++) {                  \
            double t0_ = now();                                \
            body;                                              \
            double dt_ = (now() - t0_) * 1e3;                  \
            if (dt_ < best_)                                   \
                best_ = dt_;                                   \
        }                                                      \
        best_;                                                 \
    })

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

    volatile double sink = 0;
    double base_ms = BEST_MS(7, {
        double acc = 0;
        const uint8_t *k = nm_u8(l->mask);
        for (int64_t i = 0; i < l->weight->numel; i++)
            acc += k[i] ? w[i] : 0;
        sink += acc;
    });

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

    printf("mask screen, 2048x4608 layer fitted to 200x60: %.2f ms (target < 10 ms); "
           "streaming pass over weights+mask: %.2f ms; ratio %.2f\n", mask_ms, base_ms, mask_ms / base_ms);
    printf("array screen, 32x32 PEs: %.3f ms (target < 10 ms); clearing the 200x60 grid: %.3f ms; ratio %.1f\n",
           array_ms, clear_ms, array_ms / clear_ms);
    tui_grid_free(g);
    nm_model_free(m);
    return sink == 12345.0;
}
