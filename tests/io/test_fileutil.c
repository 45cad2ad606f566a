/* fileutil: atomic saves (nothing left behind by a killed or aborted save,
 * the target's mode kept, symlinks written through, the folder synced) and
 * reads that refuse FIFOs, devices and folders without blocking. */
#include "io_test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "error.h"
#include "fileutil.h"

static char dir[256];
static void setup(void) { tmp_make(dir, sizeof dir); }
static void teardown(void) { tmp_remove(dir); }
TestSuite(fileutil, .init = setup, .fini = teardown);

/* Saves `text` to path with the atomic writer; returns its status. */
static int save_text(const char *path, const char *text)
{
    nm_atomic_file af;
    if (nm_atomic_begin(&af, path) != NM_OK)
        return NM_ERR;
    fputs(text, af.f);
    return nm_atomic_commit(&af);
}

static void expect_content(const char *path, const char *text)
{
    size_t n = 0;
    unsigned char *got = slurp(path, &n);
    cr_assert_not_null(got, "%s unreadable", path);
    cr_expect_eq(n, strlen(text));
    cr_expect(memcmp(got, text, n) == 0, "%s: '%.*s' instead of '%s'", path, (int)n, got, text);
    free(got);
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s: %s", path, strerror(errno));
    return st.st_mode & 07777;
}

/* A save killed part-way (simulated: the temporary file it left behind,
 * named as the writer names them) is cleaned up by the next save of the
 * same path; a temporary file still held by a live save is not, nor is a
 * file of another target. */
static void stale_temporaries(void)
{
    char target[512], stale[512], live[512], other[512];
    tmp_path(target, sizeof target, dir, "m.safetensors");
    tmp_path(stale, sizeof stale, dir, "m.safetensors.tmp.Ab12Cd");
    tmp_path(live, sizeof live, dir, "m.safetensors.tmp.Zz99Yy");
    tmp_path(other, sizeof other, dir, "n.safetensors.tmp.Ab12Cd");
    write_bytes(stale, "partial", 7);
    write_bytes(live, "in use", 6);
    write_bytes(other, "other", 5);
    int fd = open(live, O_RDONLY);
    cr_assert(fd >= 0);
    cr_assert_eq(flock(fd, LOCK_EX | LOCK_NB), 0);   /* as a save in progress holds it */
    cr_assert_eq(save_text(target, "new"), NM_OK, "%s", nm_errmsg());
    cr_expect_neq(access(stale, F_OK), 0, "the stale temporary file is still there");
    cr_expect_eq(access(live, F_OK), 0, "a live save's temporary file was removed");
    cr_expect_eq(access(other, F_OK), 0, "another target's temporary file was removed");
    close(fd);
    expect_content(target, "new");
    cr_expect_eq(tmp_count(dir), 3);
}

Test(fileutil, next_save_removes_stale_temporaries)
{
    stale_temporaries();
}

/* The same with named temporary files, as on systems without O_TMPFILE. */
Test(fileutil, next_save_removes_stale_temporaries_named)
{
    nm_atomic_use_tmpfile(0);
    stale_temporaries();
}

/* A real kill: a child begins a save, writes, and is killed before
 * committing. With O_TMPFILE nothing at all is left; in any case the next
 * save leaves only the target. */
static void killed_save(int named)
{
    char target[512];
    tmp_path(target, sizeof target, dir, "k.bin");
    write_bytes(target, "old", 3);
    int pipefd[2];
    cr_assert_eq(pipe(pipefd), 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        nm_atomic_file af;
        if (nm_atomic_begin(&af, target) != NM_OK)
            _exit(3);
        for (int i = 0; i < 1000; i++)
            fputs("partial data ", af.f);
        fflush(af.f);
        if (write(pipefd[1], "w", 1) != 1)
            _exit(4);
        pause();                     /* killed here, mid-save */
        _exit(5);
    }
    char c;
    cr_assert_eq(read(pipefd[0], &c, 1), 1);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    cr_assert(WIFSIGNALED(st));
    close(pipefd[0]);
    close(pipefd[1]);
    expect_content(target, "old");   /* the target is untouched */
    /* an unnamed file went with the process; a named one is left */
    cr_expect_eq(tmp_count(dir), named ? 2 : 1);
    cr_assert_eq(save_text(target, "new"), NM_OK, "%s", nm_errmsg());
    expect_content(target, "new");
    cr_expect_eq(tmp_count(dir), 1, "a temporary file survived the next save");
}

Test(fileutil, killed_save_leaves_nothing_after_next_save)
{
    killed_save(0);
}

Test(fileutil, killed_save_leaves_nothing_after_next_save_named)
{
    nm_atomic_use_tmpfile(0);
    killed_save(1);
}

static void abort_leaves_nothing(void)
{
    char target[512];
    tmp_path(target, sizeof target, dir, "a.bin");
    nm_atomic_file af;
    cr_assert_eq(nm_atomic_begin(&af, target), NM_OK);
    fputs("half", af.f);
    nm_atomic_abort(&af);
    cr_expect_eq(tmp_count(dir), 0);
    char missing[512];
    tmp_path(missing, sizeof missing, dir, "no/such/folder/x.bin");
    cr_expect_eq(nm_atomic_begin(&af, missing), NM_ERR);
    nm_atomic_abort(&af);
    cr_expect_eq(tmp_count(dir), 0);
}

Test(fileutil, abort_and_failed_begin_leave_nothing)
{
    abort_leaves_nothing();
}

Test(fileutil, abort_and_failed_begin_leave_nothing_named)
{
    nm_atomic_use_tmpfile(0);
    abort_leaves_nothing();
}

/* The target's permission bits survive a save (they used to become 0644). */
static void keeps_mode(void)
{
    char target[512];
    tmp_path(target, sizeof target, dir, "private.bin");
    write_bytes(target, "old", 3);
    cr_assert_eq(chmod(target, 0600), 0);
    cr_assert_eq(save_text(target, "new"), NM_OK, "%s", nm_errmsg());
    cr_expect_eq(mode_of(target), 0600, "mode %o after save", (unsigned)mode_of(target));
    cr_assert_eq(chmod(target, 0640), 0);
    cr_assert_eq(save_text(target, "newer"), NM_OK, "%s", nm_errmsg());
    cr_expect_eq(mode_of(target), 0640, "mode %o after save", (unsigned)mode_of(target));
    expect_content(target, "newer");
}

Test(fileutil, save_keeps_mode)
{
    keeps_mode();
}

Test(fileutil, save_keeps_mode_named)
{
    nm_atomic_use_tmpfile(0);
    keeps_mode();
}

/* A new file gets 0666 less the umask, as fopen would give it. */
static void follows_umask(void)
{
    char a[512], b[512];
    tmp_path(a, sizeof a, dir, "a.bin");
    tmp_path(b, sizeof b, dir, "b.bin");
    mode_t old = umask(077);
    int rc = save_text(a, "x");
    umask(002);
    int rc2 = save_text(b, "y");
    umask(old);
    cr_assert_eq(rc, NM_OK);
    cr_assert_eq(rc2, NM_OK);
    cr_expect_eq(mode_of(a), 0600, "mode %o", (unsigned)mode_of(a));
    cr_expect_eq(mode_of(b), 0664, "mode %o", (unsigned)mode_of(b));
}

Test(fileutil, new_file_follows_umask)
{
    follows_umask();
}

Test(fileutil, new_file_follows_umask_named)
{
    nm_atomic_use_tmpfile(0);
    follows_umask();
}

/* Saving through a symlink updates the file it points to and keeps the
 * link (it used to be replaced by a plain file); relative links resolve
 * from the link's folder; a dangling link gets its target created. */
static void through_symlink(void)
{
    char real[512], link[512], sub[512], link2[512], dang[512], made[512];
    tmp_path(sub, sizeof sub, dir, "sub");
    cr_assert_eq(mkdir(sub, 0755), 0);
    tmp_path(real, sizeof real, dir, "sub/real.bin");
    tmp_path(link, sizeof link, dir, "link.bin");
    tmp_path(link2, sizeof link2, dir, "link2.bin");
    tmp_path(dang, sizeof dang, dir, "dangling.bin");
    tmp_path(made, sizeof made, dir, "sub/made.bin");
    write_bytes(real, "old", 3);
    cr_assert_eq(chmod(real, 0640), 0);
    cr_assert_eq(symlink("sub/real.bin", link), 0);   /* relative */
    cr_assert_eq(symlink(link, link2), 0);            /* absolute, a chain */
    cr_assert_eq(symlink("sub/made.bin", dang), 0);
    cr_assert_eq(save_text(link2, "via link"), NM_OK, "%s", nm_errmsg());
    struct stat st;
    cr_assert_eq(lstat(link, &st), 0);
    cr_expect(S_ISLNK(st.st_mode), "the symlink was replaced by a file");
    cr_assert_eq(lstat(link2, &st), 0);
    cr_expect(S_ISLNK(st.st_mode), "the symlink was replaced by a file");
    expect_content(real, "via link");
    cr_expect_eq(mode_of(real), 0640);
    cr_assert_eq(save_text(dang, "created"), NM_OK, "%s", nm_errmsg());
    cr_assert_eq(lstat(dang, &st), 0);
    cr_expect(S_ISLNK(st.st_mode));
    expect_content(made, "created");
    cr_expect_eq(tmp_count(sub), 2);
}

Test(fileutil, save_writes_through_symlink)
{
    through_symlink();
}

Test(fileutil, save_writes_through_symlink_named)
{
    nm_atomic_use_tmpfile(0);
    through_symlink();
}

Test(fileutil, save_refuses_loops_folders_and_fifos)
{
    char loop[512], fifo[512], sub[512];
    tmp_path(loop, sizeof loop, dir, "loop");
    tmp_path(fifo, sizeof fifo, dir, "fifo");
    tmp_path(sub, sizeof sub, dir, "sub");
    cr_assert_eq(symlink("loop", loop), 0);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    cr_assert_eq(mkdir(sub, 0755), 0);
    cr_expect_eq(save_text(loop, "x"), NM_ERR);
    cr_expect(strstr(nm_errmsg(), "loop") != NULL, "%s", nm_errmsg());
    cr_expect_eq(save_text(fifo, "x"), NM_ERR);
    cr_expect(strstr(nm_errmsg(), "FIFO") != NULL, "%s", nm_errmsg());
    cr_expect_eq(save_text(sub, "x"), NM_ERR);
    cr_expect(strstr(nm_errmsg(), "folder") != NULL, "%s", nm_errmsg());
    cr_expect_eq(tmp_count(dir), 3);
}

/* Reading refuses a FIFO at once (it used to block until a writer came),
 * and devices and folders with a message saying what they are. */
Test(fileutil, read_refuses_non_regular_files, .timeout = 10)
{
    char fifo[512];
    tmp_path(fifo, sizeof fifo, dir, "pipe.safetensors");
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    FILE *f = nm_fopen_read(fifo);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_expect_null(f);
    if (f)
        fclose(f);
    cr_expect(strstr(nm_errmsg(), "FIFO") != NULL, "%s", nm_errmsg());
    cr_expect(strstr(nm_errmsg(), fifo) != NULL, "%s", nm_errmsg());
    cr_expect_lt((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9, 1.0);
    cr_expect_null(nm_model_load(fifo, NULL));
    cr_expect(strstr(nm_errmsg(), "FIFO") != NULL, "%s", nm_errmsg());
    cr_expect_null(nm_npy_load(fifo));
    cr_expect(strstr(nm_errmsg(), "FIFO") != NULL, "%s", nm_errmsg());
    unsigned char *data = NULL;
    size_t len = 0;
    cr_expect_eq(nm_read_file(fifo, 1 << 20, &data, &len), NM_ERR);
    cr_expect(strstr(nm_errmsg(), "FIFO") != NULL, "%s", nm_errmsg());
    cr_expect_null(nm_fopen_read("/dev/zero"));
    cr_expect(strstr(nm_errmsg(), "device") != NULL, "%s", nm_errmsg());
    cr_expect_null(nm_model_load(dir, NULL));
    cr_expect(strstr(nm_errmsg(), "folder") != NULL, "%s", nm_errmsg());
    char reg[512];
    tmp_path(reg, sizeof reg, dir, "plain.txt");
    write_bytes(reg, "hello", 5);
    cr_expect_eq(nm_read_file(reg, 100, &data, &len), NM_OK);
    cr_expect_eq(len, 5);
    free(data);
}

/* The write budget (the sandbox's disk cap): a save that does not fit is
 * refused at commit, leaves no file and takes nothing; one that fits takes
 * its size. */
Test(fileutil, write_budget)
{
    char a[512], b[512];
    tmp_path(a, sizeof a, dir, "a.bin");
    tmp_path(b, sizeof b, dir, "b.bin");
    nm_write_budget_set(10);
    cr_expect_eq(save_text(a, "0123456789AB"), NM_ERR);          /* 12 > 10 */
    cr_expect(strstr(nm_errmsg(), "disk write cap of 10 bytes") != NULL, "%s", nm_errmsg());
    cr_expect_eq(tmp_count(dir), 0);
    cr_expect_eq(save_text(a, "0123456"), NM_OK, "%s", nm_errmsg());   /* 7, 3 left */
    cr_expect_eq(save_text(b, "0123"), NM_ERR);
    cr_expect_eq(nm_write_budget_take(3), NM_OK);
    cr_expect_eq(nm_write_budget_take(1), NM_ERR);
    nm_write_budget_set(-1);
    cr_expect_eq(save_text(b, "0123"), NM_OK);
    cr_expect_eq(tmp_count(dir), 2);
}
