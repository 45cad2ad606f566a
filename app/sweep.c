/* sweep.c - `nmlab sweep`: the command line and the pool of workers.
 *
 * The parent loads the spec, opens the database, makes one interpreter
 * with the spec run in it (sweep_worker_template) and forks one worker per
 * point from it, at most -j at a time, each in its own process group. It reads
 * each worker's message from a pipe, reaps it and writes the point's row:
 * `ok` or `error` from the message, `crashed` when the process died
 * (os.exit, a signal, the OOM killer) before finishing its message,
 * `timeout` when it passed --timeout (its group is killed). Ctrl-C (or
 * SIGTERM) stops the workers (SIGTERM, then SIGKILL) and writes nothing
 * for the points in flight; they run again next time.
 *
 * Under --mpi (mpirun), rank 0 does all of the above except running
 * points: it hands them to ranks 1..K-1 (run_mpi), each of which runs them
 * one at a time through this same pool (mpi_worker_rank) and sends the
 * outcome back instead of writing it. */
#include "sweep.h"
#include "cli.h"
#include "sweep_db.h"
#include "sweep_export.h"
#include "sweep_spec.h"
#include "sweep_worker.h"
#include "nmlab_config.h"
#if NMLAB_HAVE_MPI
#include "sweep_mpi.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Under --mpi, an error on rank 0 before the points are handed out ends
 * every rank (they wait for it). */
#if NMLAB_HAVE_MPI
#define MPI_FAIL(code) do { if (o.mpi) sweep_mpi_abort(code); } while (0)
#else
#define MPI_FAIL(code) do { } while (0)
#endif

static volatile sig_atomic_t g_stop;

static void on_stop(int sig)
{
    (void)sig;
    g_stop = 1;
}

static double now(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

typedef struct {
    const char *spec, *db;
    int jobs;
    double timeout;         /* seconds; 0 = none */
    int retry;
    int mpi;                /* --mpi */
    unsigned shard, nshards; /* 1-based; nshards 0 = all points */
    nmlua_options lua;
} sweep_opts;

typedef struct {
    pid_t pid;              /* 0: slot free */
    int fd;
    size_t point;
    double started;
    char *buf;
    size_t len, cap;
    int eof, timed_out;
    int too_big;            /* its message passed SWEEP_MAX_MESSAGE: killed */
} worker;

/* The largest message a worker may send (metrics or an error message). */
#define SWEEP_MAX_MESSAGE ((size_t)64 << 20)

typedef struct pool_ {
    const sweep_spec *spec;
    sqlite3 *db;
    const sweep_opts *o;
    char host[256];
    size_t todo, done, failed, ok;
    size_t counts[4];       /* ok, error, crashed, timeout */
    double t0, last_progress;
    int tty;
    int quiet;              /* no progress line, no failure lines (MPI worker ranks) */
    int threads;            /* OpenMP threads per point; 0: cores / jobs */
    nmlua_host *tmpl;       /* sweep_worker_template, owned; NULL: a fresh host per point */
    /* where outcomes go: NULL = record() into db; else this (MPI worker ranks) */
    int (*sink)(struct pool_ *pl, size_t idx, const char *status, const char *error,
                const char *metrics, double started, double ended);
} pool;

static void usage_sweep(FILE *f)
{
    fputs("usage: nmlab sweep SPEC.lua --db FILE [-j N] [--timeout S] [--retry] [--shard I/K]\n"
          "                  [--mem-limit SIZE] [--sandbox] [--mpi]\n"
          "       nmlab sweep export FILE --csv|--json\n"
          "       nmlab sweep merge OUT.db IN.db...\n"
          "\n"
          "Runs every point of SPEC.lua (a Lua file returning {name, params, seeds, run})\n"
          "in its own process, at most N at a time (default: one per core), and keeps\n"
          "each point's outcome in the SQLite database FILE. Rerunning skips finished\n"
          "points; --retry reruns those that failed (error, crashed, timeout).\n"
          "  --timeout S   kill a point after S seconds (status timeout)\n"
          "  --shard I/K   run only the points whose position mod K is I-1; unset,\n"
          "                SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT fill it in\n"
          "  --mem-limit, --sandbox   as for nmlab run, for each point\n"
          "  --mpi         under mpirun -np K: rank 0 hands out the points and writes\n"
          "                FILE, ranks 1..K-1 run them one at a time (-j is ignored)\n"
          "Exit status: 0 all points ok, 1 some failed, 2 bad usage/spec/database,\n"
          "130 interrupted. See docs/sweeps.md.\n", f);
}

static int parse_shard(const char *v, unsigned *i, unsigned *k)
{
    char tail;
    if (v == NULL || sscanf(v, "%u/%u%c", i, k, &tail) != 2 || *k < 1 || *i < 1 || *i > *k ||
        *k > 1000000)
        return -1;
    return 0;
}

/* The shard from Slurm's job-array variables, if they are set. */
static int shard_from_slurm(unsigned *i, unsigned *k, char *err, size_t errlen)
{
    const char *id = getenv("SLURM_ARRAY_TASK_ID"), *count = getenv("SLURM_ARRAY_TASK_COUNT");
    const char *min = getenv("SLURM_ARRAY_TASK_MIN");
    if (id == NULL || count == NULL)
        return 0;
    char *e1, *e2, *e3 = NULL;
    long vid = strtol(id, &e1, 10), vcount = strtol(count, &e2, 10), vmin = min ? strtol(min, &e3, 10) : 0;
    if (*e1 || *e2 || (min && *e3) || vcount < 1 || vid - vmin < 0 || vid - vmin >= vcount) {
        snprintf(err, errlen, "SLURM_ARRAY_TASK_ID=%s, SLURM_ARRAY_TASK_MIN=%s and "
                 "SLURM_ARRAY_TASK_COUNT=%s do not make a shard (use a contiguous --array "
                 "such as 1-K, or pass --shard I/K)", id, min ? min : "(unset)", count);
        return -1;
    }
    *i = (unsigned)(vid - vmin + 1);
    *k = (unsigned)vcount;
    return 1;
}

static int parse_run_args(int argc, char **argv, sweep_opts *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof *o);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    o->jobs = cores > 0 ? (int)cores : 1;
    int explicit_shard = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--db") == 0) {
            if (!v) goto missing;
            o->db = v;
            i++;
        } else if (strcmp(a, "-j") == 0 || strcmp(a, "--jobs") == 0) {
            char *end;
            long n = v ? strtol(v, &end, 10) : 0;
            if (!v || *end || n < 1 || n > 1024) {
                snprintf(err, errlen, "-j needs a number of workers from 1 to 1024, not '%s'", v ? v : "");
                return -1;
            }
            o->jobs = (int)n;
            i++;
        } else if (strcmp(a, "--timeout") == 0) {
            char *end;
            double t = v ? strtod(v, &end) : 0;
            if (!v || *end || !(t > 0) || t > 1e7) {
                snprintf(err, errlen, "--timeout needs seconds greater than 0, not '%s'", v ? v : "");
                return -1;
            }
            o->timeout = t;
            i++;
        } else if (strcmp(a, "--retry") == 0) {
            o->retry = 1;
        } else if (strcmp(a, "--shard") == 0) {
            if (parse_shard(v, &o->shard, &o->nshards) != 0) {
                snprintf(err, errlen, "--shard needs I/K with 1 <= I <= K, like 2/4, not '%s'", v ? v : "");
                return -1;
            }
            explicit_shard = 1;
            i++;
        } else if (strcmp(a, "--mem-limit") == 0) {
            if (!v || cli_parse_size(v, &o->lua.mem_limit) != 0 || o->lua.mem_limit == 0) {
                snprintf(err, errlen, "--mem-limit needs a size like 512M or 2G, not '%s'", v ? v : "");
                return -1;
            }
            i++;
        } else if (strcmp(a, "--mpi") == 0) {
            o->mpi = 1;
        } else if (strcmp(a, "--sandbox") == 0) {
            o->lua.sandbox = 1;
        } else if (a[0] == '-') {
            snprintf(err, errlen, "sweep: unknown option '%s' (see nmlab sweep --help)", a);
            return -1;
        } else if (o->spec == NULL) {
            o->spec = a;
        } else {
            snprintf(err, errlen, "sweep: unexpected argument '%s' (one spec per sweep)", a);
            return -1;
        }
        continue;
    missing:
        snprintf(err, errlen, "%s needs a value", a);
        return -1;
    }
    if (o->spec == NULL || o->db == NULL) {
        snprintf(err, errlen, "sweep needs a spec and a database: nmlab sweep SPEC.lua --db FILE");
        return -1;
    }
    if (!explicit_shard && shard_from_slurm(&o->shard, &o->nshards, err, errlen) < 0)
        return -1;
    return 0;
}

static const char *status_names[] = {"ok", "error", "crashed", "timeout"};

static void fmt_time(char *buf, size_t n, double s)
{
    if (!isfinite(s) || s < 0)
        snprintf(buf, n, "?");
    else if (s >= 3600)
        snprintf(buf, n, "%d:%02d:%02d", (int)(s / 3600), (int)fmod(s / 60, 60), (int)fmod(s, 60));
    else
        snprintf(buf, n, "%d:%02d", (int)(s / 60), (int)fmod(s, 60));
}

/* The progress line: rewritten in place on a terminal, else one line at
 * most every 2 s (and the last). */
static void progress(pool *pl, int running, int final)
{
    double t = now();
    final |= pl->done == pl->todo;
    if (pl->quiet)
        return;
    if (!final && t - pl->last_progress < (pl->tty ? 0.1 : 2.0))
        return;
    pl->last_progress = t;
    double el = t - pl->t0;
    char e[32], eta[32];
    fmt_time(e, sizeof e, el);
    fmt_time(eta, sizeof eta, pl->done ? el / (double)pl->done * (double)(pl->todo - pl->done) : NAN);
    fprintf(stderr, "%s%s: %zu/%zu done, %zu failed, %d running, %s elapsed, ETA %s%s",
            pl->tty ? "\r\033[K" : "", pl->spec->name, pl->done, pl->todo, pl->failed, running, e,
            final ? "0:00" : eta, pl->tty && !final ? "" : "\n");
    fflush(stderr);
}

/* Forks the worker for point `idx` into slot w. 0, or -1 (fork failed). */
static int spawn(pool *pl, worker *w, size_t idx)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    fflush(NULL);   /* or the child's exit would write the parent's buffers again */
    int threads = pl->threads > 0 ? pl->threads : 1;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    if (pl->threads <= 0 && cores > pl->o->jobs)
        threads = (int)(cores / pl->o->jobs);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);   /* its own group: a timeout kills what it started too */
#ifdef __linux__
        /* if nmlab (or an MPI rank that mpirun kills) dies, so does the point */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(3);
#endif
        close(fds[0]);
        fcntl(fds[1], F_SETFD, FD_CLOEXEC);
        sweep_worker_main(pl->spec, &pl->spec->points[idx], &pl->o->lua, pl->tmpl, threads, fds[1]);
    }
    setpgid(pid, pid);   /* (both sides, so kill(-pid) works at once) */
    close(fds[1]);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    memset(w, 0, sizeof *w);
    w->pid = pid;
    w->fd = fds[0];
    w->point = idx;
    w->started = now();
    return 0;
}

/* Reads what the worker's pipe holds; sets eof at its end. A message
 * past SWEEP_MAX_MESSAGE (or past memory) ends the worker: it would block
 * on a pipe no one reads. */
static void drain(worker *w)
{
    for (;;) {
        if (w->cap - w->len < 4096) {
            size_t cap = w->cap ? w->cap * 2 : 8192;
            char *nb = cap > SWEEP_MAX_MESSAGE ? NULL : realloc(w->buf, cap);
            if (nb == NULL) {
                w->too_big = 1;
                w->eof = 1;
                kill(-w->pid, SIGKILL);
                return;
            }
            w->buf = nb;
            w->cap = cap;
        }
        ssize_t r = read(w->fd, w->buf + w->len, w->cap - w->len - 1);
        if (r > 0) {
            w->len += (size_t)r;
        } else if (r == 0) {
            w->eof = 1;
            return;
        } else if (errno != EINTR) {
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                w->eof = 1;
            return;
        }
    }
}

/* The outcome of a reaped worker w (wait status ws): status, and error or
 * metrics (pointing into w->buf or into why[n]; the other NULL). */
static void outcome_of(worker *w, int ws, double timeout, char *why, size_t n, const char **status,
                       const char **error, const char **metrics)
{
    if (w->buf)
        w->buf[w->len] = '\0';
    *error = *metrics = NULL;
    int complete = WIFEXITED(ws) && WEXITSTATUS(ws) == 0 && w->len > 0;
    if (w->too_big) {
        *status = "error";
        snprintf(why, n, "the point's result (metrics or message) passed %zu MB; the "
                 "worker was stopped", SWEEP_MAX_MESSAGE >> 20);
        *error = why;
    } else if (w->timed_out) {
        *status = "timeout";
        snprintf(why, n, "over the time limit of %g s (killed)", timeout);
        *error = why;
    } else if (complete && w->buf[0] == SWEEP_MSG_OK) {
        *status = "ok";
        *metrics = w->buf + 1;
    } else if (complete && w->buf[0] == SWEEP_MSG_ERROR) {
        *status = "error";
        *error = w->buf + 1;
    } else {
        *status = "crashed";
        if (WIFSIGNALED(ws))
            snprintf(why, n, "the worker was killed by signal %d (%s)%s", WTERMSIG(ws),
                     strsignal(WTERMSIG(ws)),
                     WTERMSIG(ws) == SIGKILL ? "; out of memory (the OOM killer)?" : "");
        else if (WIFEXITED(ws))
            snprintf(why, n, "the worker exited with status %d before returning its "
                     "metrics (os.exit?)", WEXITSTATUS(ws));
        else
            snprintf(why, n, "the worker ended without a result");
        *error = why;
    }
}

/* Writes point idx's row and counts it. 0, or -1 (the database refused). */
static int record(pool *pl, size_t idx, const char *status, const char *error, const char *metrics,
                  double started, double ended, const char *host, char *err, size_t errlen)
{
    const sweep_point *p = &pl->spec->points[idx];
    if (pl->sink)
        return pl->sink(pl, idx, status, error, metrics, started, ended);
    sweep_row r = {.id = p->id, .sweep = pl->spec->name, .params = p->params, .seed = p->seed,
                   .pos = (long long)p->pos, .status = status, .error = error, .metrics = metrics,
                   .started = started, .ended = ended, .host = host};
    int rc = sweep_db_put(pl->db, &r, err, errlen);
    for (int i = 0; i < 4; i++)
        if (strcmp(status, status_names[i]) == 0)
            pl->counts[i]++;
    pl->done++;
    if (strcmp(status, "ok") != 0) {
        pl->failed++;
        if (error == NULL)
            error = "";
        const char *nl = strchr(error, '\n');
        fprintf(stderr, "%s%s: point %zu %s seed %lld: %s: %.*s\n", pl->tty ? "\r\033[K" : "",
                pl->spec->name, p->pos + 1, p->params, p->seed, status,
                nl ? (int)(nl - error) : (int)strlen(error), error);
    }
    return rc;
}

/* Records the outcome of a reaped worker (wait status ws) and frees its slot. */
static int finish(pool *pl, worker *w, int ws, char *err, size_t errlen)
{
    char why[512];
    const char *status, *error, *metrics;
    outcome_of(w, ws, pl->o->timeout, why, sizeof why, &status, &error, &metrics);
    int rc = record(pl, w->point, status, error, metrics, w->started, now(), pl->host, err, errlen);
    close(w->fd);
    free(w->buf);
    memset(w, 0, sizeof *w);
    return rc;
}

/* Stops every running worker: SIGTERM to its group, SIGKILL after 2 s. */
static void stop_all(worker *ws, int n)
{
    for (int i = 0; i < n; i++)
        if (ws[i].pid > 0)
            kill(-ws[i].pid, SIGTERM);
    double until = now() + 2.0;
    for (;;) {
        int left = 0;
        for (int i = 0; i < n; i++) {
            if (ws[i].pid <= 0)
                continue;
            int st;
            if (waitpid(ws[i].pid, &st, WNOHANG) == ws[i].pid) {
                close(ws[i].fd);
                free(ws[i].buf);
                memset(&ws[i], 0, sizeof ws[i]);
            } else {
                left++;
                if (now() > until)
                    kill(-ws[i].pid, SIGKILL);
            }
        }
        if (left == 0)
            return;
        usleep(20000);
    }
}

/* Runs the points listed in todo[0..n-1]. Returns 0, 130 if stopped, or 2
 * if the database refused a row (then stops too). */
static int run_pool(pool *pl, const size_t *todo, size_t n)
{
    int nw = pl->o->jobs;
    worker *ws = calloc((size_t)nw, sizeof *ws);
    struct pollfd *pfd = calloc((size_t)nw, sizeof *pfd);
    if (ws == NULL || pfd == NULL) {
        free(ws);
        free(pfd);
        fprintf(stderr, "nmlab: out of memory\n");
        return 2;
    }
    size_t next = 0;
    int running = 0, rc = 0;
    char err[1024];
    while (!g_stop && rc == 0 && (next < n || running > 0)) {
        for (int i = 0; i < nw && next < n; i++) {
            if (ws[i].pid != 0)
                continue;
            if (spawn(pl, &ws[i], todo[next]) != 0) {
                fprintf(stderr, "nmlab: cannot start a worker: %s\n", strerror(errno));
                rc = 2;
                break;
            }
            next++;
            running++;
        }
        if (rc)
            break;
        int np = 0;
        double t = now(), wait = 0.2;
        for (int i = 0; i < nw; i++) {
            if (ws[i].pid == 0)
                continue;
            if (!ws[i].eof) {
                pfd[np].fd = ws[i].fd;
                pfd[np].events = POLLIN;
                np++;
            } else {
                wait = 0.001;   /* it is exiting: look again soon */
            }
            if (pl->o->timeout > 0 && !ws[i].timed_out) {
                double left = ws[i].started + pl->o->timeout - t;
                if (left < wait)
                    wait = left < 0 ? 0 : left;
            }
        }
        poll(pfd, (nfds_t)np, (int)ceil(wait * 1000));
        t = now();
        for (int i = 0; i < nw; i++) {
            worker *w = &ws[i];
            if (w->pid == 0)
                continue;
            if (!w->eof)
                drain(w);
            if (pl->o->timeout > 0 && !w->timed_out && t >= w->started + pl->o->timeout) {
                w->timed_out = 1;
                kill(-w->pid, SIGKILL);
            }
            int st;
            /* never block: a worker past EOF may still run exit handlers */
            pid_t got = waitpid(w->pid, &st, WNOHANG);
            if (got == w->pid) {
                if (!w->eof)
                    drain(w);
                if (finish(pl, w, st, err, sizeof err) != 0) {
                    fprintf(stderr, "nmlab: %s\n", err);
                    rc = 2;
                }
                running--;
                progress(pl, running, 0);
            }
        }
    }
    if (g_stop && rc == 0)
        rc = 130;
    stop_all(ws, nw);
    free(ws);
    free(pfd);
    return rc;
}

#if NMLAB_HAVE_MPI
/* MPI worker ranks: sends a point's outcome to rank 0 (the pool's sink). */
static int mpi_sink(pool *pl, size_t idx, const char *status, const char *error,
                    const char *metrics, double started, double ended)
{
    sweep_mpi_result r = {.idx = (long long)idx, .started = started, .ended = ended,
                          .status = status, .error = error, .metrics = metrics, .host = pl->host};
    return sweep_mpi_send_result(&r);
}

/* Ranks 1..K-1: loads the spec, agrees with rank 0 on its hash, then runs
 * the points rank 0 sends, one at a time, each in a forked child through
 * the pool (so timeouts and crashes are classified as locally). */
static int mpi_worker_rank(sweep_opts *o, int rank)
{
    char err[2048], hash[17] = "";
    sweep_spec spec;
    int ok = sweep_spec_load(&spec, o->spec, &o->lua, err, sizeof err) == 0;
    if (!ok)
        fprintf(stderr, "nmlab: rank %d: %s\n", rank, err);
    int all = sweep_mpi_agree(hash, ok);
    if (ok && all && strcmp(hash, spec.hash) != 0) {
        /* (rank 0 checks nothing more after agreeing: stop them all) */
        fprintf(stderr, "nmlab: rank %d: %s differs from rank 0's spec (hash %s, not %s); is the "
                "file the same on every host?\n", rank, o->spec, spec.hash, hash);
        sweep_mpi_abort(2);
    }
    if (!all) {
        if (ok)
            sweep_spec_free(&spec);
        sweep_mpi_finalize();
        return 2;
    }
    o->jobs = 1;
    const char *env = getenv("OMP_NUM_THREADS");
    pool pl = {.spec = &spec, .o = o, .quiet = 1, .sink = mpi_sink,
               .threads = env && atoi(env) > 0 ? atoi(env) : 1};
    if (gethostname(pl.host, sizeof pl.host - 1) != 0)
        snprintf(pl.host, sizeof pl.host, "?");
    pl.tmpl = sweep_worker_template(&spec, &o->lua);
    signal(SIGINT, SIG_IGN);   /* mpirun and rank 0 decide when to stop */
    int rc = 0;
    for (;;) {
        long long idx = sweep_mpi_recv_task();
        if (idx < 0 || (size_t)idx >= spec.npoints)
            break;
        size_t one = (size_t)idx;
        if (run_pool(&pl, &one, 1) != 0) {
            fprintf(stderr, "nmlab: rank %d: cannot run point %lld or send its result\n", rank, idx);
            rc = 2;
            sweep_mpi_abort(2);
        }
    }
    nmlua_host_free(pl.tmpl);
    sweep_spec_free(&spec);
    sweep_mpi_finalize();
    return rc;
}

/* Rank 0: hands out todo[0..n-1] to ranks 1..size-1 (one point each at a
 * time, the next as each result comes in) and records the results. 0, or 2
 * if the database refused a row or a result was unreadable. */
static int run_mpi(pool *pl, const size_t *todo, size_t n, int size)
{
    size_t next = 0;
    int active = 0, rc = 0;
    char err[1024];
    for (int r = 1; r < size; r++) {
        if (next < n) {
            sweep_mpi_send_task(r, (long long)todo[next++]);
            active++;
        } else {
            sweep_mpi_send_task(r, -1);
        }
    }
    while (active > 0) {
        sweep_mpi_result res;
        int from;
        if (sweep_mpi_recv_result(&from, &res, err, sizeof err) != 0) {
            fprintf(stderr, "nmlab: %s\n", err);
            sweep_mpi_abort(2);
        }
        if (res.idx < 0 || (size_t)res.idx >= pl->spec->npoints) {
            fprintf(stderr, "nmlab: --mpi: rank %d sent a result for point %lld of %zu\n", from,
                    res.idx, pl->spec->npoints);
            sweep_mpi_abort(2);
        }
        if (record(pl, (size_t)res.idx, res.status, res.error, res.metrics, res.started, res.ended,
                   res.host, err, sizeof err) != 0) {
            fprintf(stderr, "nmlab: %s\n", err);
            rc = 2;
        }
        free(res.buf);
        if (rc == 0 && !g_stop && next < n) {
            sweep_mpi_send_task(from, (long long)todo[next++]);
        } else {
            sweep_mpi_send_task(from, -1);
            active--;
        }
        progress(pl, active, 0);
    }
    return rc ? rc : g_stop ? 130 : 0;
}
#endif

static int sweep_run(int argc, char **argv)
{
    sweep_opts o;
    char err[2048];
    if (parse_run_args(argc, argv, &o, err, sizeof err) != 0) {
        fprintf(stderr, "nmlab: %s\n", err);
        return 2;
    }
    int mpi_size = 1;
    if (o.mpi) {
#if NMLAB_HAVE_MPI
        int rank;
        if (sweep_mpi_init(NULL, NULL, &rank, &mpi_size, err, sizeof err) != 0) {
            fprintf(stderr, "nmlab: %s\n", err);
            return 2;
        }
        if (rank > 0)
            return mpi_worker_rank(&o, rank);
        if (mpi_size < 2) {
            fprintf(stderr, "nmlab: --mpi with one rank (mpirun -np 1?): nothing would run the "
                    "points; use -np 2 or more, or leave out --mpi\n");
            sweep_mpi_finalize();
            return 2;
        }
#else
        fprintf(stderr, "nmlab: --mpi: this nmlab was built without MPI (install libopenmpi-dev "
                "and reconfigure with meson)\n");
        return 2;
#endif
    }
    sweep_spec spec;
    if (sweep_spec_load(&spec, o.spec, &o.lua, err, sizeof err) != 0) {
        fprintf(stderr, "nmlab: %s\n", err);
        MPI_FAIL(2);
        return 2;
    }
    sqlite3 *db = sweep_db_open(o.db, 1, err, sizeof err);
    /* One sweep per database at a time (two would run the same points):
     * a BSD lock on a descriptor of our own, kept open until SQLite has
     * closed (closing it earlier would drop SQLite's POSIX locks). */
    int lockfd = db ? open(o.db, O_RDONLY | O_CLOEXEC) : -1;
    if (db && (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) != 0)) {
        snprintf(err, sizeof err, "%s: another nmlab sweep is running on this database (%s)", o.db,
                 lockfd < 0 ? strerror(errno) : "it holds the lock");
        sqlite3_close(db);
        db = NULL;
    }
    if (db == NULL || sweep_db_bind_spec(db, o.db, spec.name, spec.hash, spec.text, err, sizeof err) != 0) {
        fprintf(stderr, "nmlab: %s\n", err);
        MPI_FAIL(2);
        sqlite3_close(db);
        if (lockfd >= 0)
            close(lockfd);
        sweep_spec_free(&spec);
        return 2;
    }
    size_t *todo = malloc((spec.npoints ? spec.npoints : 1) * sizeof *todo);
    size_t ntodo = 0, skipped_ok = 0, kept_failed = 0, inshard = 0;
    int rc = todo ? 0 : 2;
    for (size_t i = 0; rc == 0 && i < spec.npoints; i++) {
        if (o.nshards && spec.points[i].pos % o.nshards + 1 != o.shard)   /* by position */
            continue;
        inshard++;
        char st[16];
        int have = sweep_db_status(db, spec.points[i].id, st, sizeof st);
        if (have < 0) {
            fprintf(stderr, "nmlab: %s: cannot read the points: %s\n", o.db, sqlite3_errmsg(db));
            rc = 2;
        } else if (have && strcmp(st, "ok") == 0) {
            skipped_ok++;
        } else if (have && !o.retry) {
            kept_failed++;
        } else {
            todo[ntodo++] = i;
        }
    }
    pool pl = {.spec = &spec, .db = db, .o = &o, .todo = ntodo, .tty = isatty(2), .t0 = now()};
    if (gethostname(pl.host, sizeof pl.host - 1) != 0)
        snprintf(pl.host, sizeof pl.host, "?");
    if (rc != 0)
        MPI_FAIL(2);
    if (rc == 0) {
        char shard[64] = "";
        if (o.nshards)
            snprintf(shard, sizeof shard, ", shard %u/%u: %zu", o.shard, o.nshards, inshard);
        fprintf(stderr, "%s: %zu points%s; %zu already ok, %zu failed kept%s; running %zu on %d "
                "%s\n", spec.name, spec.npoints, shard, skipped_ok, kept_failed,
                kept_failed && !o.retry ? " (--retry reruns them)" : "", ntodo,
                o.mpi ? mpi_size - 1 : o.jobs, o.mpi ? "MPI ranks" : "workers");
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_stop;
        sa.sa_flags = SA_RESETHAND;   /* a second Ctrl-C ends nmlab at once */
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
#if NMLAB_HAVE_MPI
        if (o.mpi) {
            char hash[17];
            memcpy(hash, spec.hash, sizeof hash);
            if (!sweep_mpi_agree(hash, 1)) {
                fprintf(stderr, "nmlab: --mpi: a rank could not load %s (see its message)\n", o.spec);
                rc = 2;
            } else {
                rc = run_mpi(&pl, todo, ntodo, mpi_size);
            }
        } else
#endif
        if (ntodo > 0) {
            pl.tmpl = sweep_worker_template(&spec, &o.lua);
            rc = run_pool(&pl, todo, ntodo);
            nmlua_host_free(pl.tmpl);
        }
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
    }
    if (rc == 130) {
        if (pl.tty)
            fputc('\n', stderr);
        fprintf(stderr, "%s: interrupted after %zu of %zu points; the database is consistent; "
                "run the same command to go on\n", spec.name, pl.done, ntodo);
    } else if (rc == 0) {
        fprintf(stderr, "%s: %zu ok, %zu error, %zu crashed, %zu timeout in this run; database %s\n",
                spec.name, pl.counts[0], pl.counts[1], pl.counts[2], pl.counts[3], o.db);
        rc = pl.failed > 0 || kept_failed > 0 ? 1 : 0;
    }
    free(todo);
    sqlite3_close(db);
    close(lockfd);
    sweep_spec_free(&spec);
#if NMLAB_HAVE_MPI
    if (o.mpi)
        sweep_mpi_finalize();
#endif
    return rc;
}

int sweep_main(int argc, char **argv)
{
    char err[2048];
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage_sweep(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "export") == 0) {
        int json = -1;
        const char *file = NULL;
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--csv") == 0 || strcmp(argv[i], "--json") == 0)
                json = argv[i][2] == 'j';
            else if (file == NULL && argv[i][0] != '-')
                file = argv[i];
            else {
                fprintf(stderr, "nmlab: sweep export: unexpected argument '%s'\n", argv[i]);
                return 2;
            }
        }
        if (file == NULL || json < 0) {
            fprintf(stderr, "nmlab: usage: nmlab sweep export FILE --csv|--json\n");
            return 2;
        }
        if (sweep_export(file, json, stdout, err, sizeof err) != 0) {
            fprintf(stderr, "nmlab: %s\n", err);
            return 2;
        }
        return fflush(stdout) == 0 ? 0 : 2;
    }
    if (strcmp(argv[1], "merge") == 0) {
        if (argc < 4) {
            fprintf(stderr, "nmlab: usage: nmlab sweep merge OUT.db IN.db...\n");
            return 2;
        }
        if (sweep_db_merge(argv[2], argc - 3, argv + 3, stderr, err, sizeof err) != 0) {
            fprintf(stderr, "nmlab: %s\n", err);
            return 2;
        }
        return 0;
    }
    return sweep_run(argc, argv);
}
