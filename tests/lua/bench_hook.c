/* bench_hook.c - cost of the host's count hook. With a pump (the TUI) the
 * hook runs every NMLUA_HOOK_COUNT instructions, and in Lua 5.4 any count
 * hook makes the VM check on every instruction; on the command line (no
 * pump) the hook is only set on Ctrl-C. The same loops are timed in both
 * hosts; the baseline is the command-line host (no hook at all). */
#include "error.h"
#include "host.h"

#include <stdio.h>

/* A pure-Lua arithmetic loop (worst case: nothing but VM dispatch) and a
 * loop over tensor elements (typical of scripts: mostly C calls). */
static const char *loops[] = {
    "local s = 0 for i = 1, 20000000 do s = s + (i % 7) end result = s",
    "local t = nm.tensor({1000, 1000}) local s = 0\n"
    "for r = 1, 2 do for i = 1, 1000 do for j = 1, 1000 do\n"
    "  t:set(i, j, i + j) s = s + t:get(i, j) end end end result = s",
};
static const char *names[] = {"arithmetic loop, 2e7 iterations", "tensor get/set, 2e6 pairs"};

static int idle_pump(void *ud)
{
    (void)ud;
    return 0;
}

static double time_run(nmlua_host *h, const char *loop)
{
    double t = nm_now();
    if (nmlua_host_run_string(h, loop, "=bench") != NMLUA_OK) {
        fprintf(stderr, "%s\n", nmlua_host_error(h));
        return -1;
    }
    return nm_now() - t;
}

int main(void)
{
    char err[256];
    nmlua_options with_pump = {.pump = idle_pump, .pump_interval_ms = 50};
    nmlua_host *cli = nmlua_host_new(NULL, err, sizeof err);
    nmlua_host *tui = cli ? nmlua_host_new(&with_pump, err, sizeof err) : NULL;
    if (!cli || !tui) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    for (int k = 0; k < 2; k++) {
        /* Alternate the two so load changes on a shared machine hit both. */
        double base = 1e30, hooked = 1e30;
        for (int r = 0; r < 5; r++) {
            double b = time_run(cli, loops[k]), t = time_run(tui, loops[k]);
            if (b < 0 || t < 0)
                return 1;
            base = b < base ? b : base;
            hooked = t < hooked ? t : hooked;
        }
        printf("%s (best of 5): with pump and count hook %.3f s, baseline command line "
               "(no hook until Ctrl-C) %.3f s, ratio %.3f\n", names[k], hooked, base, hooked / base);
    }
    nmlua_host_free(tui);
    nmlua_host_free(cli);
    return 0;
}
