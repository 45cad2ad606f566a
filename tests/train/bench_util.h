/* bench_util.h - shared by the train benchmarks: deterministic inputs. */
#ifndef NM_BENCH_UTIL_H
#define NM_BENCH_UTIL_H

#include <stdlib.h>

/* n floats in [-1, 1) from a linear congruential sequence; caller frees
 * (NULL when out of memory). */
static inline float *bench_randoms(size_t n, unsigned seed)
{
    float *p = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; p && i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (float)((seed >> 9) & 0xffff) / 32768.0f - 1.0f;
    }
    return p;
}

#endif
