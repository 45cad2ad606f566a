/* fuzz_lua_api.c - misuse of the Lua API. Each input runs in a fresh
 * embedded Lua state made as `nmlab --sandbox --mem-limit 128M run` makes
 * it (nmlua_host_new): the sandbox's working folder is a scratch folder
 * (emptied before each input), the memory limit counts Lua heap and engine
 * objects. The interpreter fuzz_lua_api.lua (its path is compiled in as
 * FUZZ_LUA_DRIVER) reads the input as a short program of nm.* calls,
 * method calls, indexing, frees and collections with arguments of any
 * type, each under pcall, and cancels itself after 400000 instructions.
 * Script errors are expected; a crash, sanitizer report, leak, timeout or
 * an allocation past libFuzzer's -rss_limit_mb is a finding. Set
 * FUZZ_LUA_VERBOSE=1 to print how each input's run ended, 2 to also
 * trace every call. */
#include "fuzz_util.h"
#include "host.h"

#include <dirent.h>
#include <fcntl.h>
#include <lauxlib.h>

#ifndef FUZZ_LUA_DRIVER
#error "FUZZ_LUA_DRIVER (the path of fuzz_lua_api.lua) must be defined"
#endif

static char tmp_dir[512];
static char *driver;

/* Removes every file (and empty folder) in dir; the scripts write only
 * there, and only flat files. */
static void empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[1024];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) != 0)
            rmdir(path);
    }
    closedir(d);
}

static void remove_tmp(void)
{
    empty_dir(tmp_dir);
    rmdir(tmp_dir);
}

/* The scratch folder and the driver's text, once per process. */
static void setup(void)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !dir[0])
        dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(tmp_dir, sizeof tmp_dir, "%s/nmlab-fuzz-lua-XXXXXX", dir);
    if (!mkdtemp(tmp_dir)) {
        perror("fuzz_lua_api: mkdtemp");
        abort();
    }
    atexit(remove_tmp);
    FILE *f = fopen(FUZZ_LUA_DRIVER, "rb");
    FUZZ_CHECK(f != NULL);
    FUZZ_CHECK(fseek(f, 0, SEEK_END) == 0);
    long n = ftell(f);
    FUZZ_CHECK(n > 0);
    rewind(f);
    driver = malloc((size_t)n + 1);
    FUZZ_CHECK(driver && fread(driver, 1, (size_t)n, f) == (size_t)n);
    driver[n] = 0;
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!driver)
        setup();
    empty_dir(tmp_dir);
    /* the sandbox's working folder is the cwd when the host is made */
    int here = open(".", O_RDONLY | O_DIRECTORY);
    FUZZ_CHECK(here >= 0 && chdir(tmp_dir) == 0);
    nmlua_options opt = {.mem_limit = (size_t)128 << 20, .sandbox = 1,
                         .disk_limit = (size_t)64 << 20};
    char err[256];
    nmlua_host *h = nmlua_host_new(&opt, err, sizeof err);
    FUZZ_CHECK(fchdir(here) == 0);
    close(here);
    if (!h) {
        fprintf(stderr, "fuzz_lua_api: %s\n", err);
        abort();
    }
    lua_State *L = nmlua_host_state(h);
    lua_pushlstring(L, (const char *)data, size);
    lua_setglobal(L, "FUZZ_INPUT");
    lua_pushstring(L, tmp_dir);
    lua_setglobal(L, "FUZZ_TMP");
    const char *verbose = getenv("FUZZ_LUA_VERBOSE");
    lua_pushboolean(L, verbose && atoi(verbose) >= 2);
    lua_setglobal(L, "FUZZ_TRACE");
    nmlua_status st = nmlua_host_run_string(h, driver, "=fuzz_lua_api.lua");
    if (verbose)
        fprintf(stderr, "fuzz_lua_api: status %d %s\n", (int)st, nmlua_host_error(h));
    nmlua_host_free(h);
    return 0;
}
