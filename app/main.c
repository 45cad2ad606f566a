/* main.c - the nmlab executable: runs scripts (`nmlab run`, `-e`) or opens
 * a model in the workbench; when stdout is not a terminal (or --summary),
 * opening a model prints its summary instead. */
#include "blas_core.h"
#include "cli.h"
#include "host.h"
#include "nmlab_config.h"
#include "sweep.h"
#include "tui.h"

#include <lua.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static nmlua_host *g_host;   /* for the SIGINT handler */

/* First Ctrl-C asks the running script to stop (the hook raises
 * "cancelled"); SA_RESETHAND makes a second one end the process, in case
 * the script is stuck in C code that does not check. */
static void on_sigint(int sig)
{
    (void)sig;
    if (g_host)
        nmlua_host_cancel(g_host);
}

static void catch_sigint(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
}

/* Prints the outcome of a run; returns the exit status it maps to. */
static int report(nmlua_host *h, nmlua_status st)
{
    switch (st) {
    case NMLUA_OK:
        return 0;
    case NMLUA_CANCELLED:
        fprintf(stderr, "nmlab: script cancelled\n%s\n", nmlua_host_error(h));
        return 130;
    case NMLUA_NOMEM:
        fprintf(stderr, "nmlab: %s (the script ran out of memory; see --mem-limit)\n",
                nmlua_host_error(h));
        return 1;
    case NMLUA_ERROR:
    default:
        fprintf(stderr, "nmlab: %s\n", nmlua_host_error(h));
        return 1;
    }
}

int main(int argc, char **argv)
{
    cli_options o;
    char err[256];
    if (argc > 1 && strcmp(argv[1], "sweep") == 0)
        return sweep_main(argc - 1, argv + 1);   /* its own options (sweep.c) */
    if (cli_parse(argc, argv, &o, err, sizeof err) != 0) {
        fprintf(stderr, "nmlab: %s\n", err);
        return 2;
    }
    if (o.mode == CLI_HELP) {
        cli_usage(stdout);
        return 0;
    }
    if (o.mode == CLI_VERSION) {
        printf("nmlab %s (%s, OpenBLAS %s kernels)\n", NMLAB_VERSION, LUA_RELEASE, nm_blas_core());
        return 0;
    }
    nmlua_options hopt = {.mem_limit = o.mem_limit, .sandbox = o.sandbox,
                          .disk_limit = o.disk_limit};
    if (o.runs && o.mode == CLI_SHELL && !o.summary && o.frames == 0 && !(isatty(1) && isatty(0))) {
        fprintf(stderr, "nmlab: --runs needs a terminal (or --frames N); for text, "
                        "nmlab sweep export %s --csv\n", o.runs);
        return 2;
    }
    if (o.mode == CLI_SHELL && !o.summary && (o.frames > 0 || (isatty(1) && isatty(0)))) {
        tui_options t = {.model_path = o.model, .input = o.input, .script = o.tui_script, .frames = o.frames,
                         .keys = o.keys, .screen = o.screen, .runs = o.runs, .lua = hopt};
        return tui_main(&t);
    }
    nmlua_host *h = nmlua_host_new(&hopt, err, sizeof err);
    if (h == NULL) {
        fprintf(stderr, "nmlab: %s\n", err);
        return 1;
    }
    g_host = h;
    catch_sigint();
    int status = 0;
    if (o.mode == CLI_RUN) {
        if (o.chunk)
            status = report(h, nmlua_host_run_string(h, o.chunk, "=(command line)"));
        if (status == 0 && o.script)
            status = report(h, nmlua_host_run_file(h, argc, argv, o.script));
    } else {
        const char *args[] = {o.model, NMLAB_DEFAULT_MODEL, NULL, o.input};
        int ok = 0;
        status = report(h, nmlua_host_call(h, "nm.cli", "summary", 4, args, &ok));
        if (status == 0 && !ok)
            status = 1;
    }
    g_host = NULL;
    nmlua_host_free(h);
    return status;
}
