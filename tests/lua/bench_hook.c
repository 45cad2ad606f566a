/* bench_hook.c - cost of the host's count hook (cancellation and pump
 * checks every NMLUA_HOOK_COUNT instructions): the same Lua loop timed with
 * the hook and, as the baseline, with no hook at all. */
#include "host.h"

#include <lua.h>
#include <stdio.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A pure-Lua arithmetic loop (worst case: nothing but VM dispatch) and a
 * loop over tensor elements (typical of scripts: mostly C calls). */
static const char *loops[] = {
    "local s = 0 for i = 1, 30000000 do s = s + (i % 7) end result = s",
    "local t = nm.tensor({1000, 1000}) local s = 0\n"
    "for r = 1, 3 do for i = 1, 1000 do for j = 1, 1000 do\n"
    "  t:set(i, j, i + j) s = s + t:get(i, j) end end end result = s",
};
static const char *names[] = {"arithmetic loop, 3e7 iterations", "tensor get/set, 3e6 pairs"};

static double best_of(nmlua_host *h, const char *loop, int hooked)
{
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        if (!hooked)
            lua_sethook(nmlua_host_state(h), NULL, 0, 0);  /* the run re-arms it after */
        double t = now();
        if (nmlua_host_run_string(h, loop, "=bench") != NMLUA_OK) {
            fprintf(stderr, "%s\n", nmlua_host_error(h));
            return -1;
        }
        t = now() - t;
        if (t < best)
            best = t;
    }
    return best;
}

int main(void)
{
    char err[256];
    nmlua_host *h = nmlua_host_new(NULL, err, sizeof err);
    if (!h) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    for (int k = 0; k < 2; k++) {
        double base = best_of(h, loops[k], 0), hooked = best_of(h, loops[k], 1);
        if (base < 0 || hooked < 0)
            return 1;
        printf("%s (best of 3): with count hook %.3f s, baseline without hook %.3f s, "
               "ratio %.3f\n", names[k], hooked, base, hooked / base);
    }
    nmlua_host_free(h);
    return 0;
}
