/* host.c - the embedded interpreter: a counting allocator with a limit, the
 * cancel/pump hook, protected runs with tracebacks. See host.h. */
#include "host.h"
#include "compat.h"
#include "error.h"
#include "fileutil.h"
#include "nmlua.h"
#include "sandbox.h"

#include <lauxlib.h>
#include <lualib.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

struct nmlua_host {
    lua_State *L;
    size_t mem_used;             /* Lua heap bytes */
    size_t ext_bytes;            /* engine bytes held by Lua objects */
    size_t mem_limit;            /* 0 = none */
    int sandbox;
    char root[PATH_MAX];         /* sandbox: the working folder, resolved */
    nmlua_pump_fn pump;
    void *pump_ud;
    double pump_interval;        /* seconds */
    double last_pump;
    nmlua_progress_fn progress;
    void *progress_ud;
    volatile sig_atomic_t cancel;
    long cancel_after;           /* hook calls left before cancelling; <= 0 off */
    int lazy;                    /* no pump: the hook is set only on demand */
    lua_State *volatile running; /* thread running Lua code (main or a
                                    coroutine being resumed) */
    char *error;                 /* message of the last failed run */
};

nmlua_host *nmlua_host_of(lua_State *L)
{
    return *(nmlua_host **)lua_getextraspace(L);
}

/* The allocator (lua_Alloc). Frees always succeed; growth fails once the
 * Lua heap plus counted engine memory would pass the limit, and Lua then
 * raises "not enough memory". When ptr is NULL, osize is a type tag. */
static void *host_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    nmlua_host *h = ud;
    if (ptr == NULL)
        osize = 0;
    if (nsize == 0) {
        free(ptr);
        h->mem_used -= osize;
        return NULL;
    }
    if (h->mem_limit && nsize > osize &&
        h->mem_used + h->ext_bytes + (nsize - osize) > h->mem_limit)
        return NULL;
    void *p = realloc(ptr, nsize);
    if (p == NULL)
        return NULL;
    h->mem_used = h->mem_used - osize + nsize;
    return p;
}

/* Runs the pump if one is set and its interval has passed; counts down the
 * test-only cancel_after. Returns nonzero if the script must stop. */
static int host_poll(nmlua_host *h)
{
    if (h->cancel)
        return 1;
    if (h->cancel_after > 0 && --h->cancel_after == 0)
        h->cancel = 1;
    if (!h->cancel && h->pump) {
        double t = nm_now();
        if (t - h->last_pump >= h->pump_interval) {
            h->last_pump = t;
            if (h->pump(h->pump_ud))
                h->cancel = 1;
        }
    }
    return h->cancel != 0;
}

static void host_hook(lua_State *L, lua_Debug *ar);

/* After cancellation the hook fires on every instruction, so the error is
 * raised again right after any pcall in the script catches it (Redis's
 * busy-script pattern). */
static void arm_cancel(lua_State *L)
{
    lua_sethook(L, host_hook, LUA_MASKCOUNT | LUA_MASKLINE, 1);
}

static void arm_normal(lua_State *L)
{
    lua_sethook(L, host_hook, LUA_MASKCOUNT, NMLUA_HOOK_COUNT);
}

/* The hook between runs and while nothing is pending. With a pump it is
 * the count hook; without one (the command line) there is no hook at all,
 * because in Lua 5.4 any count hook makes the VM check on every
 * instruction (about 2x slower pure-Lua loops, docs/results.md). Then
 * nmlua_host_cancel sets the hook when it is needed, as lua.c does. */
static void arm_idle(nmlua_host *h, lua_State *L)
{
    if (h->lazy && h->cancel_after <= 0)
        lua_sethook(L, NULL, 0, 0);
    else
        arm_normal(L);
}

/* The hook. In a hook, level 1 of luaL_where is the caller of the running
 * function, so the position comes from `ar` (the running function). */
static void host_hook(lua_State *L, lua_Debug *ar)
{
    nmlua_host *h = nmlua_host_of(L);
    if (host_poll(h)) {
        arm_cancel(L);
        if (lua_getinfo(L, "Sl", ar) && ar->currentline > 0)
            lua_pushfstring(L, "%s:%d: cancelled", ar->short_src, ar->currentline);
        else
            lua_pushliteral(L, "cancelled");
        lua_error(L);
    } else if (h->lazy || lua_gethookcount(L) != NMLUA_HOOK_COUNT) {
        arm_idle(h, L);  /* e.g. a coroutine still armed from an earlier cancel */
    }
}

int nmlua_progress(void *ud, double fraction, const char *what)
{
    lua_State *L = ud;
    nmlua_host *h = nmlua_host_of(L);
    if (h->progress)
        h->progress(h->progress_ud, fraction, what);
    if (host_poll(h)) {
        arm_cancel(L);
        return 1;
    }
    return 0;
}

void nmlua_cancel_after(lua_State *L, long hooks)
{
    nmlua_host_of(L)->cancel_after = hooks;
    arm_normal(L);   /* coroutines created from now on inherit it */
}

/* Async-signal-safe under lua.c's assumptions: lua_sethook only stores the
 * hook, the mask and the count, and marks the running frames. The running
 * thread gets the hook (a coroutine in an endless loop never returns to
 * the main thread), and the main thread too. */
void nmlua_host_cancel(nmlua_host *h)
{
    h->cancel = 1;
    if (h->lazy) {
        lua_State *t = h->running;
        if (t)
            arm_cancel(t);
        if (t != h->L)
            arm_cancel(h->L);
    }
}

/* Runs `co` with lua_resume while h->running names it, so a cancel reaches
 * it. Leaves the results (or the error object) on L; returns the status. */
static int tracked_resume(lua_State *L, lua_State *co, int narg, int *nres)
{
    nmlua_host *h = nmlua_host_of(L);
    lua_State *prev = h->running;
    h->running = co;
    if (h->cancel)
        arm_cancel(co);
    int status = lua_resume(co, L, narg, nres);
    h->running = prev;
    if (h->cancel)
        arm_cancel(L);   /* the resumer was not running when the cancel came */
    if (status == LUA_OK || status == LUA_YIELD) {
        if (!lua_checkstack(L, *nres + 1)) {
            lua_pop(co, *nres);
            lua_pushliteral(L, "too many results to resume");
            return LUA_ERRRUN;
        }
        lua_xmove(co, L, *nres);
    } else {
        lua_xmove(co, L, 1);
    }
    return status;
}

/* Moves narg arguments to co, checking it can be resumed; returns 0, or -1
 * with a message on L. */
static int resume_prepare(lua_State *L, lua_State *co, int narg)
{
    int status = lua_status(co);
    if ((status == LUA_OK && lua_gettop(co) == 0) || (status != LUA_OK && status != LUA_YIELD)) {
        lua_pushliteral(L, "cannot resume dead coroutine");
        return -1;
    }
    if (!lua_checkstack(co, narg)) {
        lua_pushliteral(L, "too many arguments to resume");
        return -1;
    }
    lua_xmove(L, co, narg);
    return 0;
}

/* coroutine.resume(co, ...) as the standard one, but tracked. */
static int co_resume(lua_State *L)
{
    lua_State *co = lua_tothread(L, 1);
    luaL_argexpected(L, co, 1, "coroutine");
    int narg = lua_gettop(L) - 1, nres;
    if (resume_prepare(L, co, narg) != 0) {
        lua_pushboolean(L, 0);
        lua_insert(L, -2);
        return 2;
    }
    int status = tracked_resume(L, co, narg, &nres);
    if (status == LUA_OK || status == LUA_YIELD) {
        lua_pushboolean(L, 1);
        lua_insert(L, -(nres + 1));
        return nres + 1;
    }
    lua_pushboolean(L, 0);
    lua_insert(L, -2);
    return 2;
}

/* The function coroutine.wrap returns: resumes, propagates errors (after
 * closing the coroutine's to-be-closed variables), as the standard one. */
static int co_wrap_aux(lua_State *L)
{
    lua_State *co = lua_tothread(L, lua_upvalueindex(1));
    int narg = lua_gettop(L), nres;
    if (resume_prepare(L, co, narg) != 0)
        return lua_error(L);
    int status = tracked_resume(L, co, narg, &nres);
    if (status == LUA_OK || status == LUA_YIELD)
        return nres;
    int cs = lua_status(co);
    if (cs != LUA_OK && cs != LUA_YIELD) {     /* an error inside co */
        lua_pop(L, 1);
        cs = nmlua_closethread(co, L);
        lua_xmove(co, L, 1);
    }
    if (cs != LUA_ERRMEM && lua_type(L, -1) == LUA_TSTRING) {
        luaL_where(L, 1);
        lua_insert(L, -2);
        lua_concat(L, 2);
    }
    return lua_error(L);
}

static int co_wrap(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    lua_State *co = lua_newthread(L);
    lua_pushvalue(L, 1);
    lua_xmove(L, co, 1);
    lua_pushcclosure(L, co_wrap_aux, 1);
    return 1;
}

/* Replaces coroutine.resume and coroutine.wrap by tracked versions. */
static void track_coroutines(lua_State *L)
{
    lua_getglobal(L, "coroutine");
    lua_pushcfunction(L, co_resume);
    lua_setfield(L, -2, "resume");
    lua_pushcfunction(L, co_wrap);
    lua_setfield(L, -2, "wrap");
    lua_pop(L, 1);
}

int nmlua_mem_reserve(lua_State *L, size_t bytes)
{
    nmlua_host *h = nmlua_host_of(L);
    if (h->mem_limit) {
        if (h->mem_used + h->ext_bytes + bytes > h->mem_limit)
            lua_gc(L, LUA_GCCOLLECT);   /* dropped handles give memory back */
        if (h->mem_used + h->ext_bytes + bytes > h->mem_limit)
            return nm_seterr("not enough memory: %zu more bytes would pass the "
                             "memory limit of %zu bytes", bytes, h->mem_limit);
    }
    h->ext_bytes += bytes;
    /* Lua only sees a small userdata: make the collector work as if the
     * big buffer were in its heap, so dropped handles are reclaimed. */
    if (bytes >= 64 * 1024)
        lua_gc(L, LUA_GCSTEP, (int)(bytes / 1024 > INT_MAX ? INT_MAX : bytes / 1024));
    return NM_OK;
}

void nmlua_mem_release(lua_State *L, size_t bytes)
{
    nmlua_host *h = nmlua_host_of(L);
    h->ext_bytes = bytes > h->ext_bytes ? 0 : h->ext_bytes - bytes;
}

const char *nmlua_checkpath(lua_State *L, int arg)
{
    const char *path = luaL_checkstring(L, arg);
    if (!nmlua_path_allowed(L, path))
        luaL_error(L, "sandbox: '%s' is outside the working folder %s", path,
                   nmlua_host_of(L)->root);
    return path;
}

int nmlua_path_allowed(lua_State *L, const char *path)
{
    nmlua_host *h = nmlua_host_of(L);
    return !h->sandbox || nmlua_path_under(h->root, path);
}

/* Caps the size of any file this process writes (the sandbox's disk cap):
 * lowers the soft RLIMIT_FSIZE (never raises it) and ignores SIGXFSZ, so a
 * write past the cap fails with EFBIG instead of killing the process, and
 * an atomic save then removes its temporary file. */
static int cap_file_size(size_t bytes)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_FSIZE, &rl) != 0)
        return -1;
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)bytes)
        rl.rlim_cur = (rlim_t)bytes;
    if (signal(SIGXFSZ, SIG_IGN) == SIG_ERR)
        return -1;
    return setrlimit(RLIMIT_FSIZE, &rl);
}

/* Turns any error object into a message with a traceback (lua.c's idea). */
static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Opens the libraries and module nm; runs protected (allocations may fail). */
static int host_init(lua_State *L)
{
    nmlua_host *h = nmlua_host_of(L);
    luaL_openlibs(L);
    track_coroutines(L);
    nmlua_loader_install(L, h->sandbox);
    luaL_requiref(L, "nm", luaopen_nm, 1);
    lua_pop(L, 1);
    lua_getglobal(L, "require");            /* Lua-side additions to nm */
    lua_pushliteral(L, "nm.prelude");
    lua_call(L, 1, 0);
    if (h->sandbox)
        nmlua_sandbox_apply(L);
    return 0;
}

nmlua_host *nmlua_host_new(const nmlua_options *opt, char *err, size_t errlen)
{
    nmlua_host *h = calloc(1, sizeof *h);
    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (opt) {
        h->mem_limit = opt->mem_limit;
        h->sandbox = opt->sandbox;
        h->pump = opt->pump;
        h->pump_ud = opt->pump_ud;
        h->pump_interval = opt->pump_interval_ms / 1000.0;
        h->progress = opt->progress;
        h->progress_ud = opt->progress_ud;
    }
    h->lazy = h->pump == NULL;
    if (h->sandbox && realpath(".", h->root) == NULL) {
        snprintf(err, errlen, "sandbox: cannot resolve the working folder");
        free(h);
        return NULL;
    }
    if (h->sandbox) {
        size_t disk = opt->disk_limit ? opt->disk_limit : NMLUA_SANDBOX_DISK_LIMIT;
        if (h->mem_limit == 0)
            h->mem_limit = NMLUA_SANDBOX_MEM_LIMIT;
        if (cap_file_size(disk) != 0) {
            snprintf(err, errlen, "sandbox: cannot cap the size of written files");
            free(h);
            return NULL;
        }
        nm_write_budget_set(disk > LLONG_MAX ? LLONG_MAX : (long long)disk);
    }
    h->L = lua_newstate(host_alloc, h);
    if (h->L == NULL) {
        snprintf(err, errlen, "cannot create the Lua state (memory limit too low?)");
        free(h);
        return NULL;
    }
    *(nmlua_host **)lua_getextraspace(h->L) = h;
    h->running = h->L;
    lua_pushcfunction(h->L, host_init);
    if (lua_pcall(h->L, 0, 0, 0) != LUA_OK) {
        const char *msg = lua_tostring(h->L, -1);
        snprintf(err, errlen, "cannot start Lua: %s", msg ? msg : "?");
        nmlua_host_free(h);
        return NULL;
    }
    arm_idle(h, h->L);
    return h;
}

void nmlua_host_free(nmlua_host *h)
{
    if (h == NULL)
        return;
    lua_close(h->L);    /* finalizers still reach h through the state */
    free(h->error);
    free(h);
}

lua_State *nmlua_host_state(nmlua_host *h)
{
    return h->L;
}

const char *nmlua_host_error(const nmlua_host *h)
{
    return h->error ? h->error : "";
}

size_t nmlua_host_mem_used(const nmlua_host *h)
{
    return h->mem_used;
}

/* Records the outcome of a pcall whose error (if any) is on the stack top,
 * pops it and resets the cancel state for the next run. */
static nmlua_status host_finish(nmlua_host *h, int rc)
{
    lua_State *L = h->L;
    nmlua_status st = NMLUA_OK;
    free(h->error);
    h->error = NULL;
    if (rc != LUA_OK) {
        st = h->cancel ? NMLUA_CANCELLED : rc == LUA_ERRMEM ? NMLUA_NOMEM : NMLUA_ERROR;
        const char *msg = lua_tostring(L, -1);
        h->error = strdup(msg ? msg : "(error object is not a string)");
        lua_pop(L, 1);
    }
    h->cancel = 0;
    h->cancel_after = 0;
    h->running = L;
    arm_idle(h, L);
    return st;
}

/* Calls the function below its narg arguments with the traceback handler. */
static nmlua_status host_docall(nmlua_host *h, int narg)
{
    lua_State *L = h->L;
    int base = lua_gettop(L) - narg;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    int rc = lua_pcall(L, narg, 0, base);
    lua_remove(L, base);
    return host_finish(h, rc);
}

typedef struct {
    int argc;
    char **argv;
    int script;
    const char *chunk, *name;
    const char *module, *func;
    int nargs;
    const char *const *args;
} run_args;

/* Prepends "<dir>/?.lua;<dir>/?/init.lua;" to package.path. */
static void add_script_dir(lua_State *L, const char *script)
{
    const char *slash = strrchr(script, '/');
    lua_getglobal(L, "package");
    if (slash)
        lua_pushlstring(L, script, (size_t)(slash - script) + 1);
    else
        lua_pushliteral(L, "./");
    lua_pushvalue(L, -1);
    lua_pushfstring(L, "?.lua;%s?/init.lua;", lua_tostring(L, -2));
    lua_remove(L, -2);
    lua_concat(L, 2);
    lua_getfield(L, -2, "path");
    lua_concat(L, 2);
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
}

/* Protected: sets `arg`, loads the script; leaves chunk and arguments. */
static int load_file(lua_State *L)
{
    run_args *ra = lua_touserdata(L, 1);
    lua_settop(L, 0);
    lua_createtable(L, ra->argc - ra->script, ra->script + 1);
    for (int i = 0; i < ra->argc; i++) {
        /* the sandbox does not tell where the executable lives */
        if (i == 0 && nmlua_host_of(L)->sandbox)
            lua_pushliteral(L, "nmlab");
        else
            lua_pushstring(L, ra->argv[i]);
        lua_rawseti(L, -2, i - ra->script);
    }
    lua_setglobal(L, "arg");
    const char *path = ra->argv[ra->script];
    add_script_dir(L, path);
    if (luaL_loadfilex(L, path, "t") != LUA_OK)
        return lua_error(L);
    luaL_checkstack(L, ra->argc - ra->script, "too many arguments");
    for (int i = ra->script + 1; i < ra->argc; i++)
        lua_pushstring(L, ra->argv[i]);
    return lua_gettop(L);
}

static int load_string(lua_State *L)
{
    run_args *ra = lua_touserdata(L, 1);
    lua_settop(L, 0);
    if (luaL_loadbufferx(L, ra->chunk, strlen(ra->chunk), ra->name, "t") != LUA_OK)
        return lua_error(L);
    return 1;
}

static nmlua_status host_run(nmlua_host *h, lua_CFunction loader, run_args *ra)
{
    lua_State *L = h->L;
    h->cancel = 0;
    lua_settop(L, 0);
    lua_pushcfunction(L, loader);
    lua_pushlightuserdata(L, ra);
    int rc = lua_pcall(L, 1, LUA_MULTRET, 0);
    if (rc != LUA_OK)
        return host_finish(h, rc);
    return host_docall(h, lua_gettop(L) - 1);
}

nmlua_status nmlua_host_run_file(nmlua_host *h, int argc, char **argv, int script)
{
    run_args ra = {.argc = argc, .argv = argv, .script = script};
    return host_run(h, load_file, &ra);
}

nmlua_status nmlua_host_run_string(nmlua_host *h, const char *chunk, const char *name)
{
    run_args ra = {.chunk = chunk, .name = name};
    return host_run(h, load_string, &ra);
}

/* Protected: leaves require(module)[func] and its arguments. */
static int load_call(lua_State *L)
{
    run_args *ra = lua_touserdata(L, 1);
    lua_settop(L, 0);
    lua_getglobal(L, "require");
    lua_pushstring(L, ra->module);
    lua_call(L, 1, 1);
    if (lua_getfield(L, -1, ra->func) != LUA_TFUNCTION)
        return luaL_error(L, "module '%s' has no function '%s'", ra->module, ra->func);
    lua_remove(L, 1);
    luaL_checkstack(L, ra->nargs, "too many arguments");
    for (int i = 0; i < ra->nargs; i++) {
        if (ra->args[i])
            lua_pushstring(L, ra->args[i]);
        else
            lua_pushnil(L);
    }
    return lua_gettop(L);
}

nmlua_status nmlua_host_call(nmlua_host *h, const char *module, const char *func,
                             int nargs, const char *const *args, int *truthy)
{
    run_args ra = {.module = module, .func = func, .nargs = nargs, .args = args};
    lua_State *L = h->L;
    h->cancel = 0;
    lua_settop(L, 0);
    lua_pushcfunction(L, load_call);
    lua_pushlightuserdata(L, &ra);
    int rc = lua_pcall(L, 1, LUA_MULTRET, 0);
    if (rc != LUA_OK)
        return host_finish(h, rc);
    int base = 1;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    rc = lua_pcall(L, nargs, 1, base);
    if (truthy)
        *truthy = rc == LUA_OK && lua_toboolean(L, -1);
    if (rc == LUA_OK)
        lua_settop(L, 0);
    else
        lua_remove(L, base);
    return host_finish(h, rc);
}
