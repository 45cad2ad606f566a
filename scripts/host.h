/* host.h - the embedded Lua interpreter: state, limits, cancellation.
 *
 * A host owns one lua_State with the standard libraries and module `nm`
 * (also a global). Chunks run under lua_pcall with a traceback handler and
 * are loaded as text only. With a pump (the TUI keeps its screen alive
 * there) a count hook runs every NMLUA_HOOK_COUNT instructions and calls
 * it. Without one the hook is set only when cancellation is requested
 * (a Lua 5.4 count hook costs ~2x on pure-Lua loops): nmlua_host_cancel
 * sets it on the running thread, coroutines included. Once cancellation
 * is requested the hook raises "cancelled" on every instruction, so a
 * script's own pcall cannot swallow it. The allocator
 * counts bytes and refuses to grow past the memory limit, so a runaway
 * script stops with "not enough memory". No curses here. */
#ifndef NMLUA_HOST_H
#define NMLUA_HOST_H

#include <lua.h>
#include <stddef.h>

#define NMLUA_HOOK_COUNT 10000

/* Caps of the sandbox (docs/lua-api.md, "Sandbox") when none is given: the
 * memory limit, and the disk cap: bytes the script may write in all
 * (Lua file writes and nmlab's saves) and, as the soft RLIMIT_FSIZE, the
 * largest file the process may write (a write past it fails with "File
 * too large"). */
#define NMLUA_SANDBOX_MEM_LIMIT ((size_t)1 << 30)
#define NMLUA_SANDBOX_DISK_LIMIT ((size_t)1 << 30)

/* Called from the hook, at most every pump_interval_ms. Returning nonzero
 * cancels the running script. */
typedef int (*nmlua_pump_fn)(void *ud);

/* Told how far a long engine operation started from Lua has come
 * (fraction in [0,1], or < 0 if unknown; `what` a short label). */
typedef void (*nmlua_progress_fn)(void *ud, double fraction, const char *what);

typedef struct {
    size_t mem_limit;        /* bytes of Lua heap plus engine objects held by
                                scripts; 0 = no limit (with sandbox:
                                NMLUA_SANDBOX_MEM_LIMIT) */
    int sandbox;             /* restricted environment (sandbox.c) */
    size_t disk_limit;       /* sandbox only: bytes the script may write in
                                all, and the size cap of every file the
                                process writes; 0 = NMLUA_SANDBOX_DISK_LIMIT.
                                Process-wide and for good (nm_write_budget_set,
                                RLIMIT_FSIZE; SIGXFSZ is ignored so writes
                                past the cap fail with EFBIG) */
    nmlua_pump_fn pump;      /* may be NULL */
    void *pump_ud;
    int pump_interval_ms;    /* 0 = every hook */
    nmlua_progress_fn progress;  /* may be NULL */
    void *progress_ud;
} nmlua_options;

typedef enum {
    NMLUA_OK = 0,
    NMLUA_ERROR,             /* the script raised; message has a traceback */
    NMLUA_CANCELLED,         /* cancelled by nmlua_host_cancel or the pump */
    NMLUA_NOMEM              /* the memory limit (or the machine) ran out */
} nmlua_status;

typedef struct nmlua_host nmlua_host;

/* Creates a host. Returns NULL (with a message in err) if the state cannot
 * be created. The caller frees it with nmlua_host_free. */
nmlua_host *nmlua_host_new(const nmlua_options *opt, char *err, size_t errlen);
void nmlua_host_free(nmlua_host *h);
lua_State *nmlua_host_state(nmlua_host *h);

/* Runs the script at argv[script] the way the lua interpreter does: global
 * `arg` gets argv with the script at index 0 (arguments at 1.., options
 * before it at negative indices), the arguments are also passed as `...`,
 * and package.path first searches the script's folder. */
nmlua_status nmlua_host_run_file(nmlua_host *h, int argc, char **argv, int script);
/* Runs a chunk of source text; `name` is its chunk name ("=(command line)"). */
nmlua_status nmlua_host_run_string(nmlua_host *h, const char *chunk, const char *name);

/* Calls require(module)[func](args...) under the traceback handler; *truthy
 * (if not NULL) gets whether the first result is neither nil nor false. */
nmlua_status nmlua_host_call(nmlua_host *h, const char *module, const char *func,
                             int nargs, const char *const *args, int *truthy);

/* Message of the last failed run (traceback included); "" after success.
 * Valid until the next run. */
const char *nmlua_host_error(const nmlua_host *h);

/* Requests cancellation of the running script: sets a flag the hook reads
 * and (without a pump) sets the hook, as lua.c's SIGINT handler does.
 * Callable from a signal handler. Cleared when the next run starts. */
void nmlua_host_cancel(nmlua_host *h);

/* Bytes of Lua heap in use (engine objects held by scripts not included). */
size_t nmlua_host_mem_used(const nmlua_host *h);

#endif
