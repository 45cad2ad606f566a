/* test_host.c - the Lua host through its C API: pump and cancellation, the
 * memory limit, progress, recovery after errors, sandbox path checks. */
#include "host.h"
#include "nmlua.h"
#include "sandbox.h"

#include <criterion/criterion.h>
#include <sqlite3.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static nmlua_host *new_host(const nmlua_options *o)
{
    char err[256] = "";
    nmlua_host *h = nmlua_host_new(o, err, sizeof err);
    cr_assert(h != NULL, "host: %s", err);
    return h;
}

static int pump_calls, pump_cancel_at;

static int counting_pump(void *ud)
{
    (void)ud;
    return ++pump_calls == pump_cancel_at;
}

Test(host, pump_cancels_and_state_recovers)
{
    pump_calls = 0;
    pump_cancel_at = 5;
    nmlua_options o = {.pump = counting_pump};
    nmlua_host *h = new_host(&o);
    nmlua_status st = nmlua_host_run_string(h, "while true do pcall(function() while true do end end) end", "=loop");
    cr_expect_eq(st, NMLUA_CANCELLED);
    cr_expect_eq(pump_calls, 5);
    cr_expect(strstr(nmlua_host_error(h), "loop:1: cancelled") != NULL, "%s", nmlua_host_error(h));
    /* the next run starts clean: no leftover cancel, hook back to normal */
    pump_cancel_at = -1;
    cr_expect_eq(nmlua_host_run_string(h, "local s = 0 for i = 1, 100000 do s = s + i end x = s", "=ok"), NMLUA_OK,
                 "%s", nmlua_host_error(h));
    cr_expect_str_eq(nmlua_host_error(h), "");
    cr_expect(pump_calls >= 5 + 1, "the hook still runs the pump");
    nmlua_host_free(h);
}

Test(host, cancel_reaches_into_coroutines)
{
    nmlua_host *h = new_host(NULL);
    nmlua_status st = nmlua_host_run_string(h,
        "nm._cancel_after(2)\n"
        "local co = coroutine.wrap(function() while true do pcall(function() while true do end end) end end)\n"
        "while true do pcall(co) end", "=co");
    cr_expect_eq(st, NMLUA_CANCELLED, "%s", nmlua_host_error(h));
    nmlua_host_free(h);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

Test(host, pump_is_rate_limited)
{
    pump_calls = 0;
    pump_cancel_at = -1;
    nmlua_options o = {.pump = counting_pump, .pump_interval_ms = 50};
    nmlua_host *h = new_host(&o);
    double t0 = now();
    cr_assert_eq(nmlua_host_run_string(h, "local t = os.clock() while os.clock() - t < 0.15 do end", "=busy"),
                 NMLUA_OK);
    double elapsed = now() - t0;
    /* at most one call per 50 ms of wall time (plus the first) */
    cr_expect(pump_calls >= 1 && pump_calls <= (int)(elapsed / 0.05) + 1,
              "%d pump calls in %.3f s", pump_calls, elapsed);
    nmlua_host_free(h);
}

Test(host, memory_limit_then_recovery)
{
    nmlua_options o = {.mem_limit = 8u << 20};
    nmlua_host *h = new_host(&o);
    nmlua_status st = nmlua_host_run_string(h, "t = {} for i = 1, 1e9 do t[i] = i end", "=grow");
    cr_expect_eq(st, NMLUA_NOMEM);
    cr_expect_str_eq(nmlua_host_error(h), "not enough memory");
    cr_expect(nmlua_host_mem_used(h) <= 8u << 20);
    cr_expect_eq(nmlua_host_run_string(h, "t = nil collectgarbage() y = {1, 2, 3}", "=after"), NMLUA_OK,
                 "%s", nmlua_host_error(h));
    cr_expect(nmlua_host_mem_used(h) < 1u << 20, "heap after collection: %zu", nmlua_host_mem_used(h));
    nmlua_host_free(h);
}

static double seen_fraction = -2;
static char seen_what[32];

static void record_progress(void *ud, double fraction, const char *what)
{
    (void)ud;
    seen_fraction = fraction;
    snprintf(seen_what, sizeof seen_what, "%s", what);
}

static int l_fake_engine_step(lua_State *L)
{
    lua_pushboolean(L, nmlua_progress(L, luaL_checknumber(L, 1), "pruning"));
    return 1;
}

Test(host, progress_reaches_the_app_and_reports_cancel)
{
    nmlua_options o = {.progress = record_progress};
    nmlua_host *h = new_host(&o);
    lua_State *L = nmlua_host_state(h);
    lua_pushcfunction(L, l_fake_engine_step);
    lua_setglobal(L, "step");
    cr_expect_eq(nmlua_host_run_string(h, "assert(step(0.25) == false)", "=p"), NMLUA_OK, "%s",
                 nmlua_host_error(h));
    cr_expect_float_eq(seen_fraction, 0.25, 1e-12);
    cr_expect_str_eq(seen_what, "pruning");
    /* once cancelled, the engine is told to stop and the script cannot go on */
    nmlua_status st = nmlua_host_run_string(h,
        "nm._cancel_after(1)\n"
        "local stop = step(0.5)\n"
        "while true do pcall(function() end) end", "=p2");
    cr_expect_eq(st, NMLUA_CANCELLED, "%s", nmlua_host_error(h));
    nmlua_host_free(h);
}

Test(host, call_and_errors)
{
    nmlua_host *h = new_host(NULL);
    const char *args[] = {"1500"};
    int truthy = 0;
    cr_expect_eq(nmlua_host_call(h, "nm.pretty", "count", 1, args, &truthy), NMLUA_OK);
    cr_expect(truthy);
    cr_expect_eq(nmlua_host_call(h, "nm.pretty", "nope", 0, NULL, NULL), NMLUA_ERROR);
    cr_expect(strstr(nmlua_host_error(h), "module 'nm.pretty' has no function 'nope'") != NULL,
              "%s", nmlua_host_error(h));
    cr_expect_eq(nmlua_host_run_string(h, "local function f() error('deep') end f()", "=e"), NMLUA_ERROR);
    cr_expect(strstr(nmlua_host_error(h), "e:1: deep\nstack traceback:") != NULL, "%s",
              nmlua_host_error(h));
    cr_expect_eq(lua_gettop(nmlua_host_state(h)), 0, "runs leave the stack empty");
    nmlua_host_free(h);
}

/* Path checks against a fresh folder: inside, new files, escapes. */
Test(sandbox, path_under_root)
{
    char tmpl[] = "/tmp/nmlab-sbx-XXXXXX";
    cr_assert(mkdtemp(tmpl) != NULL);
    char root[PATH_MAX], p[PATH_MAX + 64];
    cr_assert(realpath(tmpl, root) != NULL);
    snprintf(p, sizeof p, "%s/sub", root);
    cr_assert_eq(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/in.txt", root);
    FILE *f = fopen(p, "w");
    cr_assert(f);
    fclose(f);

    cr_expect(nmlua_path_under(root, p));                       /* existing file */
    snprintf(p, sizeof p, "%s/new.txt", root);
    cr_expect(nmlua_path_under(root, p));                       /* to be created */
    snprintf(p, sizeof p, "%s/sub/../in.txt", root);
    cr_expect(nmlua_path_under(root, p));
    cr_expect(nmlua_path_under(root, root));
    snprintf(p, sizeof p, "%s/../x", root);
    cr_expect(!nmlua_path_under(root, p));                      /* escapes */
    snprintf(p, sizeof p, "%s/sub/..", root);
    cr_expect(nmlua_path_under(root, p));
    cr_expect(!nmlua_path_under(root, "/etc/passwd"));
    snprintf(p, sizeof p, "%s/nodir/x", root);
    cr_expect(!nmlua_path_under(root, p));                      /* folder missing */
    char sibling[PATH_MAX + 8];
    snprintf(sibling, sizeof sibling, "%sx", root);             /* prefix, not below */
    cr_expect(!nmlua_path_under(root, sibling));

    char link[PATH_MAX + 64];
    snprintf(link, sizeof link, "%s/out", root);
    cr_assert_eq(symlink("/etc", link), 0);
    snprintf(p, sizeof p, "%s/out/passwd", root);
    cr_expect(!nmlua_path_under(root, p));                      /* symlink out */
    snprintf(link, sizeof link, "%s/dangling", root);
    cr_assert_eq(symlink("/tmp/nmlab-sbx-nonexistent-target", link), 0);
    cr_expect(!nmlua_path_under(root, link));                   /* would create outside */

    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "%s/out", root); unlink(cmd);
    snprintf(cmd, sizeof cmd, "%s/dangling", root); unlink(cmd);
    snprintf(cmd, sizeof cmd, "%s/in.txt", root); unlink(cmd);
    snprintf(cmd, sizeof cmd, "%s/sub", root); rmdir(cmd);
    rmdir(root);
}

/* A sweep database whose metrics (one JSON object per point) nest `depth`
 * levels deep, {"a": {"a": ... 1}}, written with sqlite's API (nmlab's
 * sweeps write flat metrics; a hand-edited or foreign database need not). */
static void nested_runs_db(const char *path, int depth)
{
    size_t n = (size_t)depth * 6 + 2;
    char *m = malloc(n + 1), *p = m;
    cr_assert(m);
    for (int i = 0; i < depth; i++)
        p += sprintf(p, "{\"a\":");
    *p++ = '1';
    for (int i = 0; i < depth; i++)
        *p++ = '}';
    *p = 0;
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db,
        "CREATE TABLE sweeps(spec_hash TEXT PRIMARY KEY, name TEXT NOT NULL, spec TEXT NOT NULL,"
        " version TEXT NOT NULL, created REAL NOT NULL);"
        "CREATE TABLE points(id TEXT PRIMARY KEY, sweep TEXT NOT NULL, params TEXT NOT NULL,"
        " seed INTEGER NOT NULL, status TEXT NOT NULL, error TEXT, metrics TEXT, started REAL,"
        " ended REAL, host TEXT, pos INTEGER);"
        "INSERT INTO sweeps VALUES('h', 'nested', '{}', '1', 0);", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, "INSERT INTO points VALUES('p1', 'h', '{}', 1, 'ok', NULL, ?,"
                                        " 0, 0, 'x', 1)", -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, m, -1, SQLITE_TRANSIENT);
    cr_assert_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(m);
}

/* runs:points/group/pareto decoded nested metrics one stack slot per level
 * without growing the Lua stack: at depth 30 the stack was silently
 * overwritten (a later call failed with "attempt to index a nil value"),
 * at 2000 runs:group crashed in lua_createtable (found while writing
 * tests/fuzz/fuzz_lua_api.c). Now every level decodes, as deep as jansson
 * parses (2048). */
Test(runs, deeply_nested_metrics)
{
    static const int depths[] = {30, 500, 2000};
    for (size_t i = 0; i < sizeof depths / sizeof depths[0]; i++) {
        char path[] = "/tmp/nmlab-test-runs-XXXXXX";
        int fd = mkstemp(path);
        cr_assert(fd >= 0);
        close(fd);
        unlink(path);
        nested_runs_db(path, depths[i]);
        nmlua_host *h = new_host(NULL);
        char chunk[1024];
        snprintf(chunk, sizeof chunk,
                 "local r = assert(nm.runs.open('%s'))\n"
                 "local function depth(v) local d = 0 while type(v) == 'table' do v = v.a d = d + 1 end"
                 " return d, v end\n"
                 "for _ = 1, 3 do\n"
                 "  local pts = r:points()\n"
                 "  assert(#pts == 1, 'one point')\n"
                 "  local d, leaf = depth(pts[1].metrics)\n"
                 "  assert(d == %d and leaf == 1, 'depth ' .. d .. ' leaf ' .. tostring(leaf))\n"
                 "  assert(#r:group('a') == 0, 'a table metric is not grouped')\n"
                 "  assert(#r:pareto('a', 'a') == 0, 'nor on a front')\n"
                 "end\n"
                 "r:close()\n", path, depths[i]);
        cr_expect_eq(nmlua_host_run_string(h, chunk, "=nested"), NMLUA_OK, "depth %d: %s", depths[i],
                     nmlua_host_error(h));
        nmlua_host_free(h);
        unlink(path);
    }
}
