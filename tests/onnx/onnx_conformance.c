/* onnx_conformance - runs ONNX's backend node tests (Debian's
 * libonnx-testdata) through nmlab's importer and forward pass.
 *
 *   onnx_conformance [--data DIR] [--ops FILE] [--known FILE] [--table FILE]
 *                    [--limit N] [--skip-missing] [-v] [TEST_DIR...]
 *
 * Each test (a folder with model.onnx and test_data_set_*) runs in a forked
 * child, so a crash is one FAIL and the rest still run. A test is
 *   PASS     every output of every data set is within ONNX's tolerance,
 *   REFUSED  the importer refused the model (an error, or warnings saying a
 *            node was skipped or the import stopped: conf_import), or its
 *            first input is not float32; the message must name the node or
 *            operator, else the test FAILs;
 *   FAIL     anything else: a value or element count off, an output missing,
 *            the forward pass failing, a crash (signal) or a timeout.
 * Without TEST_DIRs every test under DIR (default the Debian data) runs, or,
 * with --ops, those whose operator (conf_test_op) is listed in FILE.
 * --known FILE lists tests expected to FAIL (name, then the reason): they
 * are reported but do not fail the run; a listed test that no longer fails
 * does, so the list stays true. --limit N runs the first N tests of each
 * operator (the sanitizer build's trimmed run). The per-operator table is
 * printed in Markdown and, with --table, written to FILE. The environment
 * variable NM_CONF_ABORT=<test name> makes that test's process abort (the
 * harness's own test checks that a crash is one FAIL).
 * Exit: 0 all as expected, 1 an unexpected FAIL (or a stale --known entry),
 * 2 usage or no tests, 77 (meson's skip) with --skip-missing and no data. */
#include "conformance.h"

#include "../test_tmpdir.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_DATA "/usr/share/libonnx-testdata/data/node"
#define TEST_TIMEOUT_S 120
#define MSG_MAX 4096

typedef struct {
    char *dir, *name;   /* folder and its last component */
    char op[64];        /* conf_test_op */
    char status;        /* 'P', 'R', 'F' */
    char *msg;
    const char *known;  /* reason from --known, or NULL */
} test_case;

/* snprintf for messages, where cutting a long message short is fine. */
static void msgf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void msgf(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

typedef struct {
    char **v;
    int n, cap;
} strv;

static void strv_add(strv *s, const char *x)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 32;
        s->v = realloc(s->v, (size_t)s->cap * sizeof *s->v);
        if (!s->v) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
    }
    s->v[s->n++] = strdup(x);
}

static void strv_free(strv *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* Reads a list file: one entry per line, '#' starts a comment; each entry
 * is the line's first word, its rest (trimmed) goes to rest when given. */
static int read_list(const char *path, strv *words, strv *rest)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *w = line + strspn(line, " \t\r\n");
        size_t n = strcspn(w, " \t\r\n");
        if (!n)
            continue;
        char *r = w + n + strspn(w + n, " \t\r\n");
        w[n] = '\0';
        size_t rl = strlen(r);
        while (rl && strchr(" \t\r\n", r[rl - 1]))
            r[--rl] = '\0';
        strv_add(words, w);
        if (rest)
            strv_add(rest, r);
    }
    fclose(f);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted "test_*" subfolders of dir that hold a model.onnx. */
static int list_tests(const char *dir, strv *out)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d))) {
        struct stat st;
        if (strncmp(e->d_name, "test_", 5) != 0)
            continue;
        msgf(p, sizeof p, "%s/%s/model.onnx", dir, e->d_name);
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
            msgf(p, sizeof p, "%s/%s", dir, e->d_name);
            strv_add(out, p);
        }
    }
    closedir(d);
    qsort(out->v, (size_t)out->n, sizeof *out->v, by_name);
    return 0;
}

static int set_number(const char *s)
{
    return atoi(s + strlen("test_data_set_"));
}

static int by_set_number(const void *a, const void *b)
{
    return set_number(*(char *const *)a) - set_number(*(char *const *)b);
}

/* The test's data sets, in numeric order. */
static void list_sets(const char *dir, strv *out)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, "test_data_set_", 14) == 0)
            strv_add(out, e->d_name);
    closedir(d);
    qsort(out->v, (size_t)out->n, sizeof *out->v, by_set_number);
}

/* Does msg name a node or operator of the graph? */
static int names_node(const Onnx__GraphProto *g, const char *msg)
{
    for (size_t k = 0; k < g->n_node; k++) {
        const Onnx__NodeProto *n = g->node[k];
        if ((n->op_type && *n->op_type && strstr(msg, n->op_type)) || (n->name && *n->name && strstr(msg, n->name)))
            return 1;
    }
    return 0;
}

/* One data set of one test: 'P', 'R' or 'F' with msg. */
static char run_set(const char *dir, const char *set, const char *tmp, int verbose, char *msg, size_t len)
{
    char err[MSG_MAX], set_dir[4096], path[4096];
    msgf(set_dir, sizeof set_dir, "%s/%s", dir, set);
    char status = 'F';
    nm_model *m = NULL;
    Onnx__ModelProto *mp = NULL;
    char *refusal = NULL, *notes = NULL, *fed_refusal = NULL;
    conf_tensor xs[CONF_MAX_INPUTS] = {0}, refs[16] = {0}, outs[16] = {0};
    int n_refs = 0, n_out = 0, n_bound, fed[CONF_MAX_INPUTS], n_fed = 0;
    msgf(path, sizeof path, "%s/model.onnx", tmp);
    /* First every float32 input with the batch size is fed as a model
     * input; when the importer refuses that model, the test runs again
     * with those inputs bound as constants (an operator that needs a
     * constant operand, Conv's W or Gemm's B, sees one as in real exports). */
    for (int feed = 1; feed >= 0; feed--) {
        if (mp)
            onnx__model_proto__free_unpacked(mp, NULL);
        if (!(mp = conf_model_read(dir, err, sizeof err))) {
            msgf(msg, len, "harness: %s", err);
            return 'F';
        }
        int rc = conf_model_prepare(mp, set_dir, path, feed, fed, &n_fed, &n_bound, err, sizeof err);
        if (rc) {
            msgf(msg, len, "%s%s", rc > 0 ? "harness: " : "harness: binding the extra inputs: ", err);
            status = rc > 0 ? 'R' : 'F';
            goto out;
        }
        m = conf_import(path, &refusal, &notes);
        unlink(path);
        if (m || !feed || n_fed < 2)
            break;
        fed_refusal = refusal;   /* said again if binding does not help either */
        free(notes);
        refusal = notes = NULL;
    }
    if (!m && fed_refusal) {
        free(refusal);
        refusal = fed_refusal;
        fed_refusal = NULL;
    }
    if (m && nm_model_n_inputs(m) != n_fed) {
        msgf(msg, len, "harness: the model has %d inputs, the harness feeds %d", nm_model_n_inputs(m),
             n_fed);
        goto out;
    }
    if (!m) {
        const char *r = refusal && *refusal ? refusal : "";
        if (!*r || !names_node(mp->graph, r)) {
            msgf(msg, len, "refused without naming the node or operator: \"%s\"", r);
            goto out;
        }
        msgf(msg, len, "%s", r);
        status = 'R';
        goto out;
    }
    char pb[4200];
    for (int j = 0; j < n_fed; j++) {
        conf_tensor *x = &xs[j];
        msgf(pb, sizeof pb, "%s/input_%d.pb", set_dir, fed[j]);
        if (conf_tensor_read(pb, x, err, sizeof err)) {
            if (x->dtype != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT && x->dtype) {
                msgf(msg, len, "harness: input '%s' is %s, the harness feeds float32 only (the importer accepted the model)",
                     x->name, conf_dtype_name(x->dtype));
                status = 'R';
            } else {
                msgf(msg, len, "harness: %s", err);
            }
            goto out;
        }
        if (x->dtype != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
            msgf(msg, len, "harness: input '%s' is %s, the harness feeds float32 only (the importer accepted the model)",
                 x->name, conf_dtype_name(x->dtype));
            status = 'R';
            goto out;
        }
    }
    for (; n_refs < 16; n_refs++) {
        msgf(pb, sizeof pb, "%s/output_%d.pb", set_dir, n_refs);
        if (access(pb, F_OK) != 0)
            break;
        if (conf_tensor_read(pb, &refs[n_refs], err, sizeof err)) {
            msgf(msg, len, "harness: %s", err);
            goto out;
        }
        if (!refs[n_refs].name[0] && (size_t)n_refs < mp->graph->n_output && mp->graph->output[n_refs]->name)
            snprintf(refs[n_refs].name, sizeof refs[n_refs].name, "%s", mp->graph->output[n_refs]->name);
    }
    if (!n_refs) {
        msgf(msg, len, "harness: %s has no output_0.pb", set_dir);
        goto out;
    }
    if (conf_forward(m, mp->graph, xs, n_fed, refs, n_refs, outs, &n_out, err, sizeof err)) {
        msgf(msg, len, "forward: %s", err);
        goto out;
    }
    /* The outputs nmlab gives are compared first, so that a missing
     * output does not hide a wrong one. */
    for (int k = 0; k < n_refs && k < n_out; k++)
        if (conf_compare(&outs[k], &refs[k], CONF_RTOL, CONF_ATOL, err, sizeof err)) {
            msgf(msg, len, "%s", err);
            goto out;
        }
    if (n_out < n_refs) {
        msgf(msg, len, "nmlab gives %d of the %d graph outputs (%s'%s' is missing%s)", n_out, n_refs,
             n_out ? "those match; " : "", refs[n_out].name, n_refs - n_out > 1 ? ", and more" : "");
        goto out;
    }
    status = 'P';
    msgf(msg, len, "%s", verbose && notes ? notes : "");
out:
    if (status == 'F' && notes) {
        size_t at = strlen(msg);
        msgf(msg + at, len - at, " [importer notes: %s]", notes);
    }
    for (int k = 0; k < CONF_MAX_INPUTS; k++)
        conf_tensor_free(&xs[k]);
    for (int k = 0; k < 16; k++)
        conf_tensor_free(&refs[k]), conf_tensor_free(&outs[k]);
    nm_model_free(m);
    free(refusal);
    free(fed_refusal);
    free(notes);
    onnx__model_proto__free_unpacked(mp, NULL);
    return status;
}

/* The child: runs every data set, writes "<status><msg>" to fd. */
static void child(const test_case *t, const char *tmp, int verbose, int fd)
{
    alarm(TEST_TIMEOUT_S);
    /* Self-test hook (test_conf_harness.c): this test's process dies. */
    const char *die = getenv("NM_CONF_ABORT");
    if (die && !strcmp(die, t->name))
        abort();
    static char msg[MSG_MAX];
    strv sets = {0};
    char status = 'F';
    list_sets(t->dir, &sets);
    if (!sets.n)
        msgf(msg, sizeof msg, "harness: no test_data_set_* in %s", t->dir);
    for (int i = 0; i < sets.n; i++) {
        status = run_set(t->dir, sets.v[i], tmp, verbose, msg, sizeof msg);
        if (status != 'P') {
            if (sets.n > 1) {
                size_t at = strlen(msg);
                msgf(msg + at, sizeof msg - at, " (%s)", sets.v[i]);
            }
            break;
        }
    }
    strv_free(&sets);
    size_t n = strlen(msg);
    ssize_t w = write(fd, &status, 1);
    for (size_t at = 0; w > 0 && at < n; at += (size_t)w)
        w = write(fd, msg + at, n - at);
    close(fd);
}

/* Runs t in a forked child (its own temporary folder under tmp). */
static void run_case(test_case *t, const char *tmp, int verbose)
{
    char sub[4096], buf[MSG_MAX + 2];
    msgf(sub, sizeof sub, "%s/%s", tmp, t->name);
    int fds[2];
    if (mkdir(sub, 0700) != 0 || pipe(fds) != 0) {
        t->status = 'F';
        t->msg = strdup("harness: cannot make a temporary folder or pipe");
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        child(t, sub, verbose, fds[1]);
        exit(0); /* through exit, so LeakSanitizer checks the child */
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (pid > 0 && (r = read(fds[0], buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    close(fds[0]);
    buf[n] = '\0';
    int ws = 0;
    if (pid < 0 || waitpid(pid, &ws, 0) != pid) {
        t->status = 'F';
        t->msg = strdup("harness: fork/wait failed");
    } else if (WIFSIGNALED(ws)) {
        msgf(buf, sizeof buf, "crashed: signal %d (%s)%s", WTERMSIG(ws), strsignal(WTERMSIG(ws)),
                 WTERMSIG(ws) == SIGALRM ? ", the test's time limit" : "");
        t->status = 'F';
        t->msg = strdup(buf);
    } else if (WEXITSTATUS(ws) != 0 || n == 0) {
        char tail[MSG_MAX];
        msgf(tail, sizeof tail, "%s", n ? buf + 1 : "");
        msgf(buf, sizeof buf, "the test process exited with status %d (a sanitizer report is above)%s%s",
                 WEXITSTATUS(ws), n ? "; its result was: " : "", tail);
        t->status = 'F';
        t->msg = strdup(buf);
    } else {
        t->status = buf[0];
        t->msg = strdup(buf + 1);
    }
    tmpdir_remove(sub);
}

typedef struct {
    char op[64];
    int pass, refused, failed, total;
} op_row;

/* The per-operator table in Markdown. */
static void print_table(FILE *f, const test_case *tc, int n, const strv *ops)
{
    op_row *rows = calloc((size_t)n + (size_t)ops->n + 1, sizeof *rows);
    int nr = 0;
    for (int i = 0; i < ops->n; i++)
        snprintf(rows[nr++].op, sizeof rows[0].op, "%s", ops->v[i]);
    for (int i = 0; i < n; i++) {
        int r = 0;
        while (r < nr && strcmp(rows[r].op, tc[i].op))
            r++;
        if (r == nr)
            snprintf(rows[nr++].op, sizeof rows[0].op, "%s", tc[i].op);
        rows[r].total++;
        rows[r].pass += tc[i].status == 'P';
        rows[r].refused += tc[i].status == 'R';
        rows[r].failed += tc[i].status == 'F';
    }
    op_row all = {.op = "all"};
    fprintf(f, "| operator | passed | refused | failed | total |\n|---|---:|---:|---:|---:|\n");
    for (int r = 0; r < nr; r++) {
        fprintf(f, "| %s | %d | %d | %d | %d |\n", rows[r].op, rows[r].pass, rows[r].refused, rows[r].failed,
                rows[r].total);
        all.pass += rows[r].pass, all.refused += rows[r].refused, all.failed += rows[r].failed;
        all.total += rows[r].total;
    }
    fprintf(f, "| **all** | **%d** | **%d** | **%d** | **%d** |\n", all.pass, all.refused, all.failed, all.total);
    free(rows);
}

static void usage(void)
{
    fprintf(stderr, "usage: onnx_conformance [--data DIR] [--ops FILE] [--known FILE] [--table FILE] "
                    "[--limit N] [--skip-missing] [-v] [TEST_DIR...]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *data = DEFAULT_DATA, *ops_file = NULL, *known_file = NULL, *table_file = NULL;
    int verbose = 0, skip_missing = 0, limit = 0;
    strv dirs = {0}, ops = {0}, known = {0}, why = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-v"))
            verbose = 1;
        else if (!strcmp(a, "--skip-missing"))
            skip_missing = 1;
        else if (i + 1 < argc && !strcmp(a, "--data"))
            data = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--ops"))
            ops_file = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--known"))
            known_file = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--table"))
            table_file = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--limit"))
            limit = atoi(argv[++i]);
        else if (a[0] == '-')
            usage();
        else
            strv_add(&dirs, a);
    }
    if ((ops_file && read_list(ops_file, &ops, NULL)) || (known_file && read_list(known_file, &known, &why)))
        return 2;
    int explicit = dirs.n > 0;
    if (!explicit && list_tests(data, &dirs) != 0) {
        if (skip_missing) {
            printf("SKIP onnx conformance: %s not found (Debian package libonnx-testdata)\n", data);
            return 77;
        }
        fprintf(stderr, "%s: %s\n", data, strerror(errno));
        return 2;
    }

    /* Without --ops, the op_types of the single-operator tests name the
     * multi-node ones ("_expanded") too. */
    strv names = {0};
    if (!ops.n)
        for (int i = 0; i < dirs.n; i++) {
            char err[MSG_MAX];
            Onnx__ModelProto *mp = conf_model_read(dirs.v[i], err, sizeof err);
            const Onnx__GraphProto *g = mp ? mp->graph : NULL;
            int one = g && g->n_node > 0 && g->node[0]->op_type;
            for (size_t k = 1; one && k < g->n_node; k++)
                one = g->node[k]->op_type && !strcmp(g->node[k]->op_type, g->node[0]->op_type);
            int seen = 0;
            for (int k = 0; one && k < names.n && !seen; k++)
                seen = !strcmp(names.v[k], g->node[0]->op_type);
            if (one && !seen)
                strv_add(&names, g->node[0]->op_type);
            if (mp)
                onnx__model_proto__free_unpacked(mp, NULL);
        }
    const strv *known_ops = ops.n ? &ops : &names;

    /* Name every test by its operator and select. */
    test_case *tc = calloc((size_t)dirs.n + 1, sizeof *tc);
    int n = 0;
    for (int i = 0; i < dirs.n; i++) {
        char err[MSG_MAX];
        test_case *t = &tc[n];
        t->dir = dirs.v[i];
        size_t dl = strlen(t->dir);
        while (dl > 1 && t->dir[dl - 1] == '/')
            t->dir[--dl] = '\0';
        const char *slash = strrchr(t->dir, '/');
        t->name = (char *)(slash ? slash + 1 : t->dir);
        Onnx__ModelProto *mp = conf_model_read(t->dir, err, sizeof err);
        if (!mp) {
            snprintf(t->op, sizeof t->op, "?");
            t->status = 'F';
            t->msg = strdup(err);
        } else {
            conf_test_op(mp, t->name, known_ops->v, known_ops->n, t->op, sizeof t->op);
            onnx__model_proto__free_unpacked(mp, NULL);
        }
        int keep = explicit || !ops.n;
        for (int k = 0; !keep && k < ops.n; k++)
            keep = !strcmp(ops.v[k], t->op);
        if (keep && limit > 0) {
            int same = 0;
            for (int k = 0; k < n; k++)
                same += !strcmp(tc[k].op, t->op);
            keep = same < limit;
        }
        if (!keep) {
            free(t->msg);
            memset(t, 0, sizeof *t);
            continue;
        }
        for (int k = 0; k < known.n; k++)
            if (!strcmp(known.v[k], t->name))
                t->known = why.v[k];
        n++;
    }
    if (!n) {
        fprintf(stderr, "no tests selected\n");
        return 2;
    }

    char tmp[128];
    if (!tmpdir_new(tmp, sizeof tmp, "onnxconf")) {
        fprintf(stderr, "cannot make a temporary folder\n");
        return 2;
    }
    int unexpected = 0, stale = 0;
    for (int i = 0; i < n; i++) {
        test_case *t = &tc[i];
        if (!t->status)
            run_case(t, tmp, verbose);
        const char *word = t->status == 'P' ? "PASS" : t->status == 'R' ? "REFUSED" : "FAIL";
        printf("%-7s %s (%s)%s%s", word, t->name, t->op, t->msg && *t->msg ? ": " : "", t->msg ? t->msg : "");
        if (t->known && t->status == 'F')
            printf(" [known failure: %s]", t->known);
        printf("\n");
        if (t->status == 'F' && !t->known)
            unexpected++;
        if (t->known && t->status != 'F') {
            printf("STALE   %s is listed in %s but no longer fails: take it off the list\n", t->name, known_file);
            stale++;
        }
    }
    tmpdir_remove(tmp);
    for (int k = 0; k < known.n; k++) {
        int seen = 0;
        for (int i = 0; i < n; i++)
            seen |= !strcmp(tc[i].name, known.v[k]);
        if (!seen && !explicit && limit <= 0) {
            printf("STALE   %s is listed in %s but is not a selected test\n", known.v[k], known_file);
            stale++;
        }
    }
    printf("\n");
    print_table(stdout, tc, n, &ops);
    if (table_file) {
        char part[4200];
        msgf(part, sizeof part, "%s.part", table_file);
        FILE *f = fopen(part, "w");
        if (f)
            print_table(f, tc, n, &ops);
        if (!f || fclose(f) != 0 || rename(part, table_file) != 0) {
            fprintf(stderr, "%s: cannot write\n", table_file);
            unexpected++;
        }
    }
    int fails = 0;
    for (int i = 0; i < n; i++)
        fails += tc[i].status == 'F';
    printf("\n%d tests: %d unexpected failures, %d known failures (%s), %d stale known-failure entries\n", n,
           unexpected, fails - unexpected, known_file ? known_file : "none", stale);
    for (int i = 0; i < n; i++)
        free(tc[i].msg);
    free(tc);
    strv_free(&dirs);
    strv_free(&ops);
    strv_free(&names);
    strv_free(&known);
    strv_free(&why);
    return unexpected || stale ? 1 : 0;
}
