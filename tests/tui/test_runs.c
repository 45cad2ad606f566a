/* test_runs.c - the Runs screen's database reader (app/runs_db.c,
 * app/runs_table.c) against the database of a real `nmlab sweep` of
 * tests/sweep/tiny.lua (made by runs_db.sh, named by RUNS_DB): every
 * value checked against what the spec computes, live re-reading, sorting,
 * grouping and the Pareto front against brute force, and bad files. */
#include "runs_db.h"
#include "sweep_db.h"
#include "../test_tmpdir.h"

#include <criterion/criterion.h>
#include <math.h>
#include <sqlite3.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static const char *db_path(void)
{
    const char *p = getenv("RUNS_DB");
    cr_assert(p && *p, "RUNS_DB names the sweep database (tests/tui/runs_db.sh makes it)");
    return p;
}

static runs_db *open_loaded(const char *path)
{
    char err[512] = "";
    runs_db *r = runs_db_open(path, err, sizeof err);
    cr_assert(r, "open %s: %s", path, err);
    cr_assert_eq(runs_db_poll(r, err, sizeof err), 1, "first poll: %s", err);
    return r;
}

static const runs_cell *at(const runs_table *t, int row, const char *col)
{
    int c = runs_table_col(t, col);
    cr_assert(c >= 0, "no column %s", col);
    return &t->cells[(size_t)row * (size_t)t->n_cols + (size_t)c];
}

/* copies the database file to dir/name (the sweep has ended: no WAL) */
static void copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    cr_assert(a && b);
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0)
        cr_assert_eq(fwrite(buf, 1, n, b), n);
    fclose(a);
    fclose(b);
}

Test(runs_db, every_point_as_the_spec_made_it)
{
    runs_db *r = open_loaded(db_path());
    const runs_table *t = &r->t;
    cr_assert_eq(t->n_rows, 16);
    cr_assert_str_eq(r->sweep, "tiny");
    cr_assert_eq(r->counts[0], 4);
    cr_assert_eq(r->counts[1], 4);
    cr_assert_eq(r->counts[2], 4);
    cr_assert_eq(r->counts[3], 4);
    /* the kind param decides the outcome: ok, raise, exit, spin */
    static const char *want[][2] = {{"ok", "ok"}, {"raise", "error"}, {"exit", "crashed"}, {"spin", "timeout"}};
    for (int i = 0; i < t->n_rows; i++) {
        const runs_cell *kind = at(t, i, "kind"), *st = at(t, i, "status");
        cr_assert_eq(kind->kind, RUNS_STR);
        int k = 0;
        while (k < 4 && strcmp(want[k][0], kind->str))
            k++;
        cr_assert(k < 4, "kind %s", kind->str);
        cr_assert_str_eq(st->str, want[k][1], "row %d", i);
        double x = at(t, i, "x")->num, seed = at(t, i, "seed")->num;
        cr_assert_eq(at(t, i, "#")->num, i + 1, "spec order");
        if (k == 0) {   /* y = x * 10 + seed, half = x / 2, the kind echoed as metric.kind */
            cr_assert_eq(at(t, i, "y")->num, x * 10 + seed);
            cr_assert_eq(at(t, i, "half")->num, x / 2);
            cr_assert_str_eq(at(t, i, "metric.kind")->str, "ok");
            cr_assert_eq(at(t, i, "good")->kind, RUNS_BOOL);
            cr_assert_eq(at(t, i, "error")->kind, RUNS_NONE);
        } else {
            cr_assert_eq(at(t, i, "y")->kind, RUNS_NONE);
            cr_assert_eq(at(t, i, "error")->kind, RUNS_STR);
            cr_assert(t->errors[i] && *t->errors[i]);
        }
        if (k == 1)
            cr_assert(strstr(t->errors[i], "boom"), "%s", t->errors[i]);
        cr_assert_eq(strlen(t->ids[i]), 16);
    }
    cr_assert(t->cols[runs_table_col(t, "y")].numeric);
    cr_assert(t->cols[runs_table_col(t, "half")].numeric);
    cr_assert(!t->cols[runs_table_col(t, "note")].numeric);
    cr_assert(!t->cols[runs_table_col(t, "good")].numeric);
    cr_assert_eq(t->cols[runs_table_col(t, "x")].role, RUNS_COL_PARAM);
    cr_assert_eq(t->cols[runs_table_col(t, "metric.kind")].role, RUNS_COL_METRIC);
    char err[256];
    cr_assert_eq(runs_db_poll(r, err, sizeof err), 0, "nothing changed: no reload");
    runs_db_close(r);
}

Test(runs_db, a_committed_point_shows_at_the_next_poll)
{
    char dir[64], path[128], err[512];
    cr_assert(tmpdir_new(dir, sizeof dir, "runs-live"));
    snprintf(path, sizeof path, "%s/live.db", dir);
    copy_file(db_path(), path);
    runs_db *r = open_loaded(path);
    cr_assert_eq(r->t.n_rows, 16);
    sqlite3 *w = sweep_db_open(path, 0, err, sizeof err);   /* as the sweep writes */
    cr_assert(w, "%s", err);
    sweep_row row = {.id = "00000000000000ff", .sweep = "tiny", .params = "{\"kind\":\"ok\",\"x\":3}",
                     .seed = 7, .pos = 16, .status = "ok", .metrics = "{\"y\":37,\"half\":1.5}",
                     .started = 1, .ended = 3.5, .host = "h"};
    cr_assert_eq(sweep_db_put(w, &row, err, sizeof err), 0, "%s", err);
    cr_assert_eq(runs_db_poll(r, err, sizeof err), 1, "the new row must be read: %s", err);
    cr_assert_eq(r->t.n_rows, 17);
    cr_assert_eq(r->counts[0], 5);
    cr_assert_str_eq(r->t.ids[16], "00000000000000ff");
    cr_assert_eq(at(&r->t, 16, "y")->num, 37);
    cr_assert_eq(at(&r->t, 16, "x")->num, 3);
    cr_assert_eq(at(&r->t, 16, "time")->num, 2.5);
    cr_assert_eq(runs_db_poll(r, err, sizeof err), 0);
    sqlite3_close(w);
    runs_db_close(r);
    tmpdir_remove(dir);
}

/* whether order sorts column c of t: non-empty cells monotonic by kind
 * then value, empty ones last, ties in table order */
static void check_sorted(const runs_table *t, const char *col, int desc)
{
    int c = runs_table_col(t, col), *order = malloc((size_t)t->n_rows * sizeof *order);
    runs_table_order(t, c, desc, order);
    int seen_empty = 0;
    for (int i = 0; i < t->n_rows; i++) {
        const runs_cell *x = &t->cells[(size_t)order[i] * (size_t)t->n_cols + (size_t)c];
        if (x->kind == RUNS_NONE) {
            seen_empty = 1;
            if (i > 0 && t->cells[(size_t)order[i - 1] * (size_t)t->n_cols + (size_t)c].kind == RUNS_NONE)
                cr_assert_lt(order[i - 1], order[i], "empty cells keep table order");
            continue;
        }
        cr_assert(!seen_empty, "%s: a value after an empty cell", col);
        if (i == 0)
            continue;
        const runs_cell *p = &t->cells[(size_t)order[i - 1] * (size_t)t->n_cols + (size_t)c];
        int cmp = p->kind == RUNS_STR ? strcmp(p->str, x->str) : (p->num > x->num) - (p->num < x->num);
        cr_assert(desc ? cmp >= 0 : cmp <= 0, "%s %s: row %d out of order", col, desc ? "desc" : "asc", i);
        if (cmp == 0)
            cr_assert_lt(order[i - 1], order[i], "ties keep table order");
    }
    free(order);
}

Test(runs_table, sorting_by_numbers_and_strings)
{
    runs_db *r = open_loaded(db_path());
    const char *cols[] = {"y", "half", "status", "kind", "seed", "time", "error", "note"};
    for (int k = 0; k < 8; k++)
        for (int d = 0; d < 2; d++)
            check_sorted(&r->t, cols[k], d);
    int order[16];
    runs_table_order(&r->t, runs_table_col(&r->t, "y"), 1, order);
    cr_assert_eq(at(&r->t, order[0], "y")->num, 22);   /* x = 2, seed 2 */
    runs_table_order(&r->t, -1, 0, order);
    for (int i = 0; i < 16; i++)
        cr_assert_eq(order[i], i);
    runs_db_close(r);
}

Test(runs_table, groups_over_the_seeds)
{
    runs_db *r = open_loaded(db_path());
    runs_table g;
    cr_assert_eq(runs_table_group(&r->t, &g), RUNS_OK);
    cr_assert_eq(g.n_rows, 2, "the ok points: kind ok, x 1 and 2");
    cr_assert_eq(runs_table_col(&g, "seed"), -1);
    cr_assert_eq(runs_table_col(&g, "note"), -1, "strings are not averaged");
    for (int i = 0; i < 2; i++) {
        double x = at(&g, i, "x")->num;
        cr_assert_eq(at(&g, i, "n")->num, 2);
        const runs_cell *y = at(&g, i, "y");
        /* seeds 1 and 2: y = 10x + 1, 10x + 2; sd = sqrt(1/2); t(0.975, 1) = 12.706 */
        cr_assert_float_eq(y->num, 10 * x + 1.5, 1e-12);
        cr_assert_float_eq(y->ci, 12.706 * sqrt(0.5) / sqrt(2.0), 1e-9);
        cr_assert_eq(y->n, 2);
        cr_assert_float_eq(at(&g, i, "half")->ci, 0.0, 1e-12);
    }
    char buf[64];
    runs_cell_text(at(&g, 0, "y"), buf, sizeof buf);
    cr_assert_str_eq(buf, "11.5\u00b16.4");
    runs_table_free(&g);
    runs_db_close(r);
}

/* brute force: i is on the front when no j is at least as good in both
 * and better in one, and no earlier j is equal */
static int dominated(const double *x, const double *y, int n, int i, int xmin, int ymax)
{
    for (int j = 0; j < n; j++) {
        if (j == i || isnan(x[j]) || isnan(y[j]))
            continue;
        double ax = xmin ? x[i] - x[j] : x[j] - x[i];   /* > 0: j better in x */
        double ay = ymax ? y[j] - y[i] : y[i] - y[j];
        if (ax >= 0 && ay >= 0 && (ax > 0 || ay > 0))
            return 1;
        if (ax == 0 && ay == 0 && j < i)
            return 1;
    }
    return 0;
}

Test(runs_table, pareto_front_against_brute_force)
{
    srand(7);
    for (int trial = 0; trial < 200; trial++) {
        int n = 1 + rand() % 40;
        double x[40], y[40];
        unsigned char f[40];
        for (int i = 0; i < n; i++) {
            x[i] = rand() % 8, y[i] = rand() % 8;   /* small range: ties and duplicates */
            if (rand() % 17 == 0)
                x[i] = NAN;
        }
        for (int goal = 0; goal < 4; goal++) {
            int xmin = goal & 1, ymax = goal >> 1;
            int m = runs_pareto(x, y, n, xmin, ymax, f), want = 0;
            for (int i = 0; i < n; i++) {
                int on = !isnan(x[i]) && !dominated(x, y, n, i, xmin, ymax);
                want += on;
                cr_assert_eq(f[i], on, "trial %d goal %d point %d (%g, %g)", trial, goal, i, x[i], y[i]);
            }
            cr_assert_eq(m, want);
        }
    }
    /* the sweep's ok points: half (min) against y (max) keeps (0.5, 12) and (1, 22) */
    runs_db *r = open_loaded(db_path());
    double px[16], py[16];
    int row[16];
    unsigned char f[16];
    int k = runs_table_xy(&r->t, runs_table_col(&r->t, "half"), runs_table_col(&r->t, "y"), px, py, row);
    cr_assert_eq(k, 4);
    cr_assert_eq(runs_pareto(px, py, k, 1, 1, f), 2);
    for (int i = 0; i < k; i++)
        cr_assert_eq(f[i], py[i] == 12 || py[i] == 22);
    runs_db_close(r);
}

Test(runs_table, search_finds_text_in_any_cell)
{
    runs_db *r = open_loaded(db_path());
    int hits = 0;
    for (int i = 0; i < r->t.n_rows; i++)
        hits += runs_row_matches(&r->t, i, "crashed");
    cr_assert_eq(hits, 4);
    cr_assert(runs_row_matches(&r->t, 4, "boom"), "the full error text is searched");
    cr_assert(!runs_row_matches(&r->t, 0, "no such text"));
    runs_db_close(r);
}

static void expect_refused(const char *path, const char *what)
{
    char err[512] = "";
    runs_db *r = runs_db_open(path, err, sizeof err);
    if (r) {   /* some damage only shows when the pages are read */
        int rc = runs_db_poll(r, err, sizeof err);
        runs_db_close(r);
        cr_assert_eq(rc, RUNS_ERR, "%s: opened and read", path);
    }
    cr_assert(strstr(err, path), "the message names the file: %s", err);
    cr_assert(strstr(err, what), "'%s' lacks '%s'", err, what);
}

Test(runs_db, bad_files_get_a_message_naming_them)
{
    char dir[64], p[160];
    cr_assert(tmpdir_new(dir, sizeof dir, "runs-bad"));
    snprintf(p, sizeof p, "%s/missing.db", dir);
    expect_refused(p, "no such file");
    expect_refused(dir, "not a regular file");
    snprintf(p, sizeof p, "%s/empty.db", dir);
    fclose(fopen(p, "wb"));
    expect_refused(p, "empty file");
    snprintf(p, sizeof p, "%s/junk.db", dir);
    FILE *f = fopen(p, "wb");
    for (int i = 0; i < 3000; i++)
        fputs("not a database ", f);
    fclose(f);
    expect_refused(p, "not an SQLite database");
    /* an SQLite database of something else */
    snprintf(p, sizeof p, "%s/other.db", dir);
    sqlite3 *db;
    cr_assert_eq(sqlite3_open(p, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, "CREATE TABLE t(a); INSERT INTO t VALUES(1)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    expect_refused(p, "not an nmlab sweep database");
    /* the sweep's database with its pages overwritten past the header */
    snprintf(p, sizeof p, "%s/corrupt.db", dir);
    copy_file(db_path(), p);
    f = fopen(p, "r+b");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    for (long off = 100; off < size; off += 97) {
        fseek(f, off, SEEK_SET);
        fputc(0xA5, f);
    }
    fclose(f);
    char err[512] = "";
    runs_db *r = runs_db_open(p, err, sizeof err);
    int rc = r ? runs_db_poll(r, err, sizeof err) : RUNS_ERR;
    runs_db_close(r);
    if (rc == RUNS_ERR)   /* most damage is found; never a crash */
        cr_assert(strstr(err, p), "%s", err);
    tmpdir_remove(dir);
}

Test(runs_db, a_sweep_with_no_points_yet)
{
    char dir[64], p[160], err[512];
    cr_assert(tmpdir_new(dir, sizeof dir, "runs-none"));
    snprintf(p, sizeof p, "%s/new.db", dir);
    sqlite3 *w = sweep_db_open(p, 1, err, sizeof err);
    cr_assert(w, "%s", err);
    cr_assert_eq(sweep_db_bind_spec(w, p, "fresh", "abc", "return {}", err, sizeof err), 0);
    runs_db *r = open_loaded(p);
    cr_assert_eq(r->t.n_rows, 0);
    cr_assert_str_eq(r->sweep, "fresh");
    runs_table g;
    cr_assert_eq(runs_table_group(&r->t, &g), RUNS_OK);
    cr_assert_eq(g.n_rows, 0);
    runs_table_free(&g);
    runs_db_close(r);
    sqlite3_close(w);
    tmpdir_remove(dir);
}

Test(runs_db, a_locked_database_is_retried_not_waited_on)
{
    char dir[64], p[160], err[512] = "";
    cr_assert(tmpdir_new(dir, sizeof dir, "runs-lock"));
    snprintf(p, sizeof p, "%s/locked.db", dir);
    copy_file(db_path(), p);
    sqlite3 *w;
    cr_assert_eq(sqlite3_open(p, &w), SQLITE_OK);
    /* a rollback journal: a writer's exclusive lock keeps readers out */
    cr_assert_eq(sqlite3_exec(w, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL), SQLITE_OK);
    runs_db *r = open_loaded(p);
    cr_assert_eq(sqlite3_exec(w, "BEGIN EXCLUSIVE; DELETE FROM points WHERE status = 'ok'", NULL, NULL, NULL),
                 SQLITE_OK);
    r->loaded = 0;   /* as `r` asks: read again */
    double t0 = now_s();
    int rc = runs_db_poll(r, err, sizeof err);
    double waited = now_s() - t0;
    cr_assert_eq(rc, RUNS_BUSY, "%s", err);
    cr_assert(strstr(err, p) && strstr(err, "locked"), "%s", err);
    cr_assert_lt(waited, 1.0, "the poll waited %.2f s", waited);
    cr_assert_eq(r->t.n_rows, 16, "the last rows read stay");
    /* opening while it is locked works too; the rows come later */
    runs_db *r2 = runs_db_open(p, err, sizeof err);
    cr_assert(r2, "%s", err);
    cr_assert_eq(runs_db_poll(r2, err, sizeof err), RUNS_BUSY);
    cr_assert_eq(sqlite3_exec(w, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    cr_assert_eq(runs_db_poll(r, err, sizeof err), 1, "%s", err);
    cr_assert_eq(r->t.n_rows, 12, "the writer's commit is read");
    cr_assert_eq(runs_db_poll(r2, err, sizeof err), 1, "%s", err);
    cr_assert_eq(r2->t.n_rows, 12);
    runs_db_close(r2);
    runs_db_close(r);
    sqlite3_close(w);
    tmpdir_remove(dir);
}

static void names_distinct(const runs_table *t)
{
    for (int a = 0; a < t->n_cols; a++)
        for (int b = a + 1; b < t->n_cols; b++)
            cr_assert(strcmp(t->cols[a].name, t->cols[b].name), "two columns named %s", t->cols[a].name);
}

/* params and metrics named like the fixed columns (or each other) get a
 * prefix, so every column (and the screen's sort and axes, kept by name)
 * is one column */
Test(runs_db, names_that_clash_get_a_prefix)
{
    char dir[64], p[160], err[512];
    cr_assert(tmpdir_new(dir, sizeof dir, "runs-names"));
    snprintf(p, sizeof p, "%s/names.db", dir);
    sqlite3 *w = sweep_db_open(p, 1, err, sizeof err);
    cr_assert(w, "%s", err);
    cr_assert_eq(sweep_db_bind_spec(w, p, "names", "h", "return {}", err, sizeof err), 0);
    for (int i = 0; i < 4; i++) {
        char id[17], params[80], metrics[80];
        snprintf(id, sizeof id, "%016d", i);
        snprintf(params, sizeof params, "{\"n\":%d,\"status\":\"s\",\"time\":1}", i % 2);
        snprintf(metrics, sizeof metrics, "{\"n\":%d,\"#\":1,\"error\":2,\"seed\":%d}", 10 * i, i);
        sweep_row row = {.id = id, .sweep = "names", .params = params, .seed = i / 2 + 1, .pos = i,
                         .status = "ok", .metrics = metrics, .started = 0, .ended = 1, .host = "h"};
        cr_assert_eq(sweep_db_put(w, &row, err, sizeof err), 0, "%s", err);
    }
    runs_db *r = open_loaded(p);
    names_distinct(&r->t);
    cr_assert_eq(r->t.cols[runs_table_col(&r->t, "n")].role, RUNS_COL_PARAM);
    cr_assert_eq(r->t.cols[runs_table_col(&r->t, "param.status")].role, RUNS_COL_PARAM);
    cr_assert_eq(r->t.cols[runs_table_col(&r->t, "param.time")].role, RUNS_COL_PARAM);
    cr_assert_eq(r->t.cols[runs_table_col(&r->t, "metric.n")].role, RUNS_COL_METRIC);
    cr_assert_eq(r->t.cols[runs_table_col(&r->t, "metric.#")].role, RUNS_COL_METRIC);
    cr_assert_eq(r->t.cols[runs_table_col(&r->t, "metric.error")].role, RUNS_COL_METRIC);
    cr_assert_eq(r->t.cols[runs_table_col(&r->t, "metric.seed")].role, RUNS_COL_METRIC);
    cr_assert_eq(at(&r->t, 3, "metric.n")->num, 30);
    runs_table g;
    cr_assert_eq(runs_table_group(&r->t, &g), RUNS_OK);
    names_distinct(&g);
    cr_assert_eq(g.n_rows, 2);
    cr_assert_eq(g.cols[runs_table_col(&g, "n")].role, RUNS_COL_COUNT);
    cr_assert_eq(g.cols[runs_table_col(&g, "param.n")].role, RUNS_COL_PARAM);
    /* group n = 0: points 0 and 2, metric.n 0 and 20 */
    cr_assert_eq(at(&g, 0, "param.n")->num, 0);
    cr_assert_float_eq(at(&g, 0, "metric.n")->num, 10.0, 1e-12);
    runs_table_free(&g);
    runs_db_close(r);
    sqlite3_close(w);
    tmpdir_remove(dir);
}
