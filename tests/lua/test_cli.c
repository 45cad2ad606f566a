/* test_cli.c - nmlab as a child process: exit codes, tracebacks, -e,
 * cancellation (hook countdown and a real SIGINT), the memory limit. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

typedef struct {
    int status;         /* exit code, or 128+signal */
    char out[16384];
    char err[16384];
} run_result;

static const char *nmlab_exe(void)
{
    const char *p = getenv("NMLAB_EXE");
    cr_assert(p != NULL, "NMLAB_EXE is not set (run through meson test)");
    return p;
}

static void read_file(const char *path, char *buf, size_t len)
{
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Starts nmlab with argv (NULL-terminated, argv[0] ignored) writing to
 * temporary files; returns the pid. */
static pid_t start(char *const argv[], char *outp, char *errp)
{
    static int seq;
    snprintf(outp, 64, "cli-%d-%d.out", (int)getpid(), seq);
    snprintf(errp, 64, "cli-%d-%d.err", (int)getpid(), seq++);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char *args[32];
    int n = 0;
    args[n++] = (char *)nmlab_exe();
    for (int i = 1; argv[i] && n < 31; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    pid_t pid;
    int rc = posix_spawn(&pid, args[0], &fa, NULL, args, environ);
    posix_spawn_file_actions_destroy(&fa);
    cr_assert_eq(rc, 0, "cannot start %s: %s", args[0], strerror(rc));
    return pid;
}

/* Waits up to timeout_ms; kills the child (and fails) if it does not end. */
static int finish(pid_t pid, int timeout_ms)
{
    int st = 0;
    for (int waited = 0;; waited += 10) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            break;
        if (waited >= timeout_ms) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            cr_assert_fail("nmlab did not finish within %d ms", timeout_ms);
        }
        sleep_ms(10);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void collect(run_result *r, const char *outp, const char *errp)
{
    read_file(outp, r->out, sizeof r->out);
    read_file(errp, r->err, sizeof r->err);
    remove(outp);
    remove(errp);
}

static void run(run_result *r, char *const argv[])
{
    char outp[64], errp[64];
    pid_t pid = start(argv, outp, errp);
    r->status = finish(pid, 20000);
    collect(r, outp, errp);
}

static void write_script(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f != NULL);
    fputs(text, f);
    fclose(f);
}

static run_result R;

Test(cli, version_and_help)
{
    run(&R, (char *[]){"", "--version", NULL});
    cr_expect_eq(R.status, 0);
    cr_expect(strstr(R.out, "nmlab 0.") == R.out, "version line: %s", R.out);
    cr_expect(strstr(R.out, "Lua 5.4") != NULL);
    run(&R, (char *[]){"", "--help", NULL});
    cr_expect_eq(R.status, 0);
    cr_expect(strstr(R.out, "nmlab [OPTIONS] run SCRIPT.lua") != NULL, "%s", R.out);
    cr_expect(strstr(R.out, "--mem-limit") != NULL);
}

Test(cli, usage_errors_exit_2)
{
    run(&R, (char *[]){"", "--frobnicate", NULL});
    cr_expect_eq(R.status, 2);
    cr_expect(strstr(R.err, "unknown option '--frobnicate'") != NULL, "%s", R.err);
    run(&R, (char *[]){"", "run", NULL});
    cr_expect_eq(R.status, 2);
    cr_expect(strstr(R.err, "run needs a script") != NULL, "%s", R.err);
    run(&R, (char *[]){"", "--mem-limit", "12Q", "-e", "", NULL});
    cr_expect_eq(R.status, 2);
    cr_expect(strstr(R.err, "--mem-limit needs a size") != NULL, "%s", R.err);
    /* options before "sweep": said plainly, not "unexpected argument" */
    run(&R, (char *[]){"", "--mem-limit", "1G", "sweep", "spec.lua", "--db", "x.db", NULL});
    cr_expect_eq(R.status, 2);
    cr_expect(strstr(R.err, "'sweep' must come first") != NULL, "%s", R.err);
}

Test(cli, eval_chunk)
{
    run(&R, (char *[]){"", "-e", "print(1 + 2, nm.version ~= nil)", NULL});
    cr_expect_eq(R.status, 0, "%s", R.err);
    cr_expect_str_eq(R.out, "3\ttrue\n");
}

Test(cli, eval_then_script)
{
    write_script("cli-es.lua", "print(greeting .. ' ' .. arg[1])\n");
    run(&R, (char *[]){"", "-e", "greeting = 'hi'", "run", "cli-es.lua", "there", NULL});
    remove("cli-es.lua");
    cr_expect_eq(R.status, 0, "%s", R.err);
    cr_expect_str_eq(R.out, "hi there\n");
}

Test(cli, script_error_exits_1_with_traceback)
{
    write_script("cli-err.lua",
                 "local function inner() error('boom here') end\n"
                 "local function outer() inner() end\n"
                 "outer()\n");
    run(&R, (char *[]){"", "run", "cli-err.lua", NULL});
    remove("cli-err.lua");
    cr_expect_eq(R.status, 1);
    cr_expect(strstr(R.err, "cli-err.lua:1: boom here") != NULL, "%s", R.err);
    cr_expect(strstr(R.err, "stack traceback:") != NULL, "%s", R.err);
    cr_expect(strstr(R.err, "in local 'inner'") != NULL ||
              strstr(R.err, "in upvalue 'inner'") != NULL, "%s", R.err);
    cr_expect(strstr(R.err, "cli-err.lua:3: in main chunk") != NULL, "%s", R.err);
}

Test(cli, error_objects_and_syntax_errors)
{
    run(&R, (char *[]){"", "-e", "error({})", NULL});
    cr_expect_eq(R.status, 1);
    cr_expect(strstr(R.err, "(error object is a table value)") != NULL, "%s", R.err);
    run(&R, (char *[]){"", "-e", "x = = 1", NULL});
    cr_expect_eq(R.status, 1);
    cr_expect(strstr(R.err, "unexpected symbol near '='") != NULL, "%s", R.err);
    run(&R, (char *[]){"", "run", "no-such-script.lua", NULL});
    cr_expect_eq(R.status, 1);
    cr_expect(strstr(R.err, "cannot open no-such-script.lua") != NULL, "%s", R.err);
}

Test(cli, bytecode_script_refused)
{
    write_script("cli-bc.lua", "\x1bLua\x54");
    run(&R, (char *[]){"", "run", "cli-bc.lua", NULL});
    remove("cli-bc.lua");
    cr_expect_eq(R.status, 1);
    cr_expect(strstr(R.err, "attempt to load a binary chunk") != NULL, "%s", R.err);
}

/* A script that catches every error in a loop must still be cancelled:
 * the hook re-raises on every instruction once cancellation is requested. */
Test(cli, cancel_cannot_be_swallowed_by_pcall)
{
    run(&R, (char *[]){"", "-e",
                       "nm._cancel_after(3)\n"
                       "local caught = 0\n"
                       "while true do\n"
                       "  local ok = pcall(function() while true do end end)\n"
                       "  caught = caught + 1\n"
                       "end", NULL});
    cr_expect_eq(R.status, 130, "status %d: %s", R.status, R.err);
    cr_expect(strstr(R.err, "cancelled") != NULL, "%s", R.err);
}

/* Starts `script` (written to cli-sig.lua), waits for it to print "ready",
 * sends SIGINT and collects the result into R. */
static void interrupt_script(const char *script)
{
    char name[64];
    snprintf(name, sizeof name, "cli-sig-%d.lua", (int)getpid());
    write_script(name, script);
    char outp[64], errp[64];
    char *argv[] = {"", "run", name, NULL};
    pid_t pid = start(argv, outp, errp);
    char buf[64] = "";
    for (int waited = 0; strstr(buf, "ready") == NULL && waited < 20000; waited += 20) {
        sleep_ms(20);
        read_file(outp, buf, sizeof buf);
    }
    cr_assert(strstr(buf, "ready") != NULL, "the script never started");
    kill(pid, SIGINT);
    R.status = finish(pid, 20000);
    collect(&R, outp, errp);
    remove(name);
}

Test(cli, sigint_cancels_running_script)
{
    /* "ready" is printed from inside the loop on line 2, so the signal
     * cannot land on line 1 on a busy machine */
    interrupt_script("local said = false\n"
                     "while true do if not said then said = true print('ready') io.stdout:flush() end "
                     "pcall(function() local t = {} for i = 1, 1e9 do t[1] = i end end) end\n");
    cr_expect_eq(R.status, 130, "status %d: %s", R.status, R.err);
    cr_expect(strstr(R.err, "nmlab: script cancelled") != NULL, "%s", R.err);
    cr_expect(strstr(R.err, ".lua:2: cancelled") != NULL, "%s", R.err);
}

/* Without a pump the hook is only set on Ctrl-C: it must reach the
 * coroutine that is running, not only the main thread. */
Test(cli, sigint_reaches_running_coroutines)
{
    interrupt_script("local f = coroutine.wrap(function()\n"
                     "  local co = coroutine.create(function() print('ready') io.stdout:flush()\n"
                     "    while true do pcall(function() end) end end)\n"
                     "  while true do pcall(coroutine.resume, co) end end)\n"
                     "while true do pcall(f) end\n");
    cr_expect_eq(R.status, 130, "status %d: %s", R.status, R.err);
    cr_expect(strstr(R.err, "cancelled") != NULL, "%s", R.err);
}

Test(cli, memory_limit_stops_lua_growth)
{
    run(&R, (char *[]){"", "--mem-limit", "16M", "-e",
                       "local t = {} local i = 0\n"
                       "while true do i = i + 1; t[i] = string.rep('x', 1000) .. i end", NULL});
    cr_expect_eq(R.status, 1, "status %d: %s", R.status, R.err);
    cr_expect(strstr(R.err, "not enough memory") != NULL, "%s", R.err);
}

Test(cli, memory_limit_counts_tensors)
{
    /* Each tensor is 4 MB of engine memory behind a tiny userdata; keeping
     * them alive must hit the limit, dropping them must not. */
    run(&R, (char *[]){"", "--mem-limit", "64M", "-e",
                       "for i = 1, 200 do local t = nm.tensor({1024, 1024}) end\n"
                       "print('dropped ok')\n"
                       "local keep = {}\n"
                       "for i = 1, 200 do keep[i] = nm.tensor({1024, 1024}) end", NULL});
    cr_expect_eq(R.status, 1, "status %d: %s", R.status, R.err);
    cr_expect_str_eq(R.out, "dropped ok\n");
    cr_expect(strstr(R.err, "not enough memory") != NULL, "%s", R.err);
}

Test(cli, memory_error_can_be_caught_and_state_recovers)
{
    run(&R, (char *[]){"", "--mem-limit", "16M", "-e",
                       "local ok, err = pcall(function() local t = {} for i = 1, 1e9 do t[i] = i end end)\n"
                       "collectgarbage()\n"
                       "print(ok, err)", NULL});
    cr_expect_eq(R.status, 0, "status %d: %s", R.status, R.err);
    cr_expect_str_eq(R.out, "false\tnot enough memory\n");
}

/* stdout is not a terminal here, so plain nmlab prints a summary. */
Test(cli, summary_of_default_and_named_models)
{
    run(&R, (char *[]){"", NULL});
    cr_expect_eq(R.status, 0, "%s", R.err);
    /* the default: the shipped trained fmnist_cnn, or the zoo's when absent */
    cr_expect(strstr(R.out, "model fmnist_cnn: 18 layers, input 1x28x28") != NULL, "%s", R.out);
    cr_expect(strstr(R.out, "trained model ") != NULL ||
              strstr(R.out, "with synthetic (untrained) weights") != NULL, "%s", R.out);
    cr_expect(strstr(R.out, "conv1") != NULL);
    cr_expect(strstr(R.out, "hint: `nmlab run SCRIPT.lua`") != NULL, "%s", R.out);
    run(&R, (char *[]){"", "fmnist_cnn", NULL});
    cr_expect_eq(R.status, 0, "%s", R.err);
    cr_expect(strstr(R.out, "model fmnist_cnn:") == R.out, "%s", R.out);
    run(&R, (char *[]){"", "no-such-model.onnx", NULL});
    cr_expect_eq(R.status, 1);
    cr_expect(strstr(R.err, "no-such-model.onnx") != NULL, "%s", R.err);
    cr_expect_str_eq(R.out, "");
}

/* Models count too: resnet18 holds ~47 MB of tensors behind a small
 * userdata, so keeping two under a 64 MB limit must fail cleanly. */
Test(cli, memory_limit_counts_models)
{
    run(&R, (char *[]){"", "--mem-limit", "64M", "-e",
                       "local a = nm.zoo('resnet18') print('one ok')\n"
                       "local b = nm.zoo('resnet18')", NULL});
    cr_expect_eq(R.status, 1, "status %d: %s", R.status, R.err);
    cr_expect_str_eq(R.out, "one ok\n");
    cr_expect(strstr(R.err, "not enough memory") != NULL, "%s", R.err);
}
