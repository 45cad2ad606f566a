/* runs_db.c - opening and (re-)reading a sweep database for the Runs
 * screen. See runs_db.h; the table's sorting, grouping and Pareto front
 * are in runs_table.c. */
#include "runs_db.h"

#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Milliseconds a read may wait for a lock: short enough that the screen
 * never stalls, long enough to ride out a checkpoint. */
#define RUNS_BUSY_MS 20

static int is_busy(int rc)
{
    rc &= 0xff;
    return rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
}

static void busy_msg(const runs_db *r, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: locked by another process; showing the last rows read, retrying",
             r->path);
}

/* Checks that the tables have a sweep database's columns: RUNS_OK,
 * RUNS_BUSY, or RUNS_ERR with a message. */
static int check_schema(runs_db *r, char *err, size_t errlen)
{
    sqlite3 *db = r->db;
    int rc = sqlite3_exec(db, "SELECT id, sweep, params, seed, status, error, metrics, started, "
                          "ended, host, pos FROM points LIMIT 0; SELECT spec_hash, name, spec, "
                          "version, created FROM sweeps LIMIT 0", NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        r->checked = 1;
        return RUNS_OK;
    }
    if (is_busy(rc)) {
        busy_msg(r, err, errlen);
        return RUNS_BUSY;
    }
    const char *why = sqlite3_errmsg(db);
    if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT)
        snprintf(err, errlen, "%s: not an SQLite database, or a corrupt one (%s)", r->path, why);
    else
        snprintf(err, errlen, "%s: not an nmlab sweep database (%s)", r->path, why);
    return RUNS_ERR;
}

runs_db *runs_db_open(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: no such file", path);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        return NULL;
    }
    if (st.st_size == 0) {
        snprintf(err, errlen, "%s: an empty file, not an nmlab sweep database", path);
        return NULL;
    }
    runs_db *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: cannot open: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        runs_db_close(r);
        return NULL;
    }
    sqlite3_busy_timeout(db, RUNS_BUSY_MS);
    r->db = db;
    if (check_schema(r, err, errlen) == RUNS_ERR) {
        runs_db_close(r);
        return NULL;
    }
    return r;
}

void runs_db_close(runs_db *r)
{
    if (!r)
        return;
    sqlite3_close(r->db);
    runs_table_free(&r->t);
    free(r->path);
    free(r);
}

/* PRAGMA data_version: changes when another connection commits. */
static int data_version(runs_db *r, long long *v)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(r->db, "PRAGMA data_version", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        *v = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Sorted, distinct key names of the JSON objects in objs[0..n-1]. */
typedef struct {
    char **names;
    int n, cap;
} name_set;

static int name_add(name_set *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return 0;
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        char **nn = realloc(s->names, (size_t)cap * sizeof *nn);
        if (!nn)
            return -1;
        s->names = nn;
        s->cap = cap;
    }
    if (!(s->names[s->n] = strdup(name)))
        return -1;
    s->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void set_cell_json(runs_cell *c, json_t *v)
{
    c->n = 1;
    c->ci = NAN;
    if (json_is_number(v)) {
        c->kind = RUNS_NUM;
        c->num = json_number_value(v);
    } else if (json_is_boolean(v)) {
        c->kind = RUNS_BOOL;
        c->num = json_is_true(v);
    } else if (json_is_string(v)) {
        c->kind = (c->str = strdup(json_string_value(v))) ? RUNS_STR : RUNS_NONE;
    }
}

typedef struct {
    char *id, *sweep, *status, *error;
    long long seed, pos;
    double time;            /* NaN when unknown */
    json_t *params, *metrics;
} raw_row;

static char *dup_col(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? strdup((const char *)s) : NULL;
}

static void raw_free(raw_row *v, int n)
{
    for (int i = 0; v && i < n; i++) {
        free(v[i].id), free(v[i].sweep), free(v[i].status), free(v[i].error);
        json_decref(v[i].params);
        json_decref(v[i].metrics);
    }
    free(v);
}

/* The error cell: the message's first line, with a leading Lua chunk path
 * ("/long/dir/spec.lua:7: boom", or Lua's own shortening ".../dir/spec.lua:7:
 * boom") cut to its file name ("spec.lua:7: boom"), so the cell shows the
 * message whatever the checkout's path. The details view keeps the full
 * text. Returns a new string (caller frees) or NULL. */
static char *error_cell(const char *err)
{
    size_t len = strcspn(err, "\n");
    int pathlike = err[0] == '/' || strncmp(err, "...", 3) == 0 || strncmp(err, "./", 2) == 0;
    const char *colon = memchr(err, ':', len);
    if (pathlike && colon && colon[1] >= '0' && colon[1] <= '9') {
        const char *base = err;
        for (const char *q = err; q < colon; q++)
            if (*q == '/')
                base = q + 1;
        len -= (size_t)(base - err);
        err = base;
    }
    return strndup(err, len);
}

/* Builds the table from the raw rows: #, status, seed, params, metrics,
 * time, error. RUNS_OK or RUNS_ERR (out of memory). */
static int build_table(raw_row *v, int n, runs_table *t)
{
    name_set ps = {0}, ms = {0};
    int rc = RUNS_OK;
    for (int i = 0; i < n && rc == RUNS_OK; i++) {
        const char *k;
        json_t *x;
        json_object_foreach(v[i].params, k, x) if (name_add(&ps, k)) rc = RUNS_ERR;
        json_object_foreach(v[i].metrics, k, x) if (name_add(&ms, k)) rc = RUNS_ERR;
    }
    if (ps.n > 1)
        qsort(ps.names, (size_t)ps.n, sizeof *ps.names, cmp_str);
    if (ms.n > 1)
        qsort(ms.names, (size_t)ms.n, sizeof *ms.names, cmp_str);
    int nc = 3 + ps.n + ms.n + 2;
    memset(t, 0, sizeof *t);
    t->cols = calloc((size_t)nc, sizeof *t->cols);
    t->cells = calloc((size_t)(n ? n : 1) * (size_t)nc, sizeof *t->cells);
    t->ids = calloc((size_t)(n ? n : 1), sizeof *t->ids);
    t->errors = calloc((size_t)(n ? n : 1), sizeof *t->errors);
    if (rc != RUNS_OK || !t->cols || !t->cells || !t->ids || !t->errors)
        rc = RUNS_ERR;
    if (rc == RUNS_OK) {
        t->n_cols = nc;
        t->n_rows = n;
        static const char *fixed[] = {"#", "status", "seed"};
        static const runs_role roles[] = {RUNS_COL_POS, RUNS_COL_STATUS, RUNS_COL_SEED};
        for (int c = 0; c < 3; c++)
            t->cols[c] = (runs_col){strdup(fixed[c]), roles[c], 0};
        char name[300];
        for (int c = 0; c < ps.n; c++) {
            /* a param named like a fixed column is shown as param.NAME */
            int clash = strcmp(ps.names[c], "#") == 0 || strcmp(ps.names[c], "status") == 0 ||
                        strcmp(ps.names[c], "seed") == 0 ||
                        strcmp(ps.names[c], "time") == 0 || strcmp(ps.names[c], "error") == 0;
            snprintf(name, sizeof name, "%s%s", clash ? "param." : "", ps.names[c]);
            t->cols[3 + c] = (runs_col){strdup(name), RUNS_COL_PARAM, 0};
        }
        for (int c = 0; c < ms.n; c++) {
            /* a metric named like another column is shown as metric.NAME */
            int clash = strcmp(ms.names[c], "#") == 0 || strcmp(ms.names[c], "status") == 0 ||
                        strcmp(ms.names[c], "seed") == 0 || strcmp(ms.names[c], "time") == 0 ||
                        strcmp(ms.names[c], "error") == 0 ||
                        (ps.n > 0 && bsearch(&ms.names[c], ps.names, (size_t)ps.n, sizeof *ps.names, cmp_str));
            snprintf(name, sizeof name, "%s%s", clash ? "metric." : "", ms.names[c]);
            t->cols[3 + ps.n + c] = (runs_col){strdup(name), RUNS_COL_METRIC, 0};
        }
        t->cols[nc - 2] = (runs_col){strdup("time"), RUNS_COL_TIME, 0};
        t->cols[nc - 1] = (runs_col){strdup("error"), RUNS_COL_ERROR, 0};
        for (int c = 0; c < nc; c++)
            if (!t->cols[c].name)
                rc = RUNS_ERR;
    }
    for (int i = 0; i < n && rc == RUNS_OK; i++) {
        runs_cell *row = t->cells + (size_t)i * (size_t)nc;
        for (int c = 0; c < nc; c++)
            row[c].ci = NAN, row[c].n = 1;
        row[0].kind = RUNS_NUM, row[0].num = (double)(v[i].pos + 1);
        row[1].kind = RUNS_STR, row[1].str = v[i].status, v[i].status = NULL;
        row[2].kind = RUNS_NUM, row[2].num = (double)v[i].seed;
        for (int c = 0; c < ps.n; c++)
            set_cell_json(&row[3 + c], json_object_get(v[i].params, ps.names[c]));
        for (int c = 0; c < ms.n; c++)
            set_cell_json(&row[3 + ps.n + c], json_object_get(v[i].metrics, ms.names[c]));
        if (!isnan(v[i].time))
            row[nc - 2].kind = RUNS_NUM, row[nc - 2].num = round(v[i].time * 1000) / 1000;
        if (v[i].error) {
            row[nc - 1].str = error_cell(v[i].error);
            row[nc - 1].kind = row[nc - 1].str ? RUNS_STR : RUNS_NONE;
        }
        t->ids[i] = v[i].id, v[i].id = NULL;
        t->errors[i] = v[i].error, v[i].error = NULL;
    }
    for (int c = 0; rc == RUNS_OK && c < nc; c++) {
        int any = 0, all = 1;
        for (int i = 0; i < n; i++) {
            runs_kind k = t->cells[(size_t)i * (size_t)nc + (size_t)c].kind;
            any |= k != RUNS_NONE;
            all &= k == RUNS_NONE || k == RUNS_NUM;
        }
        t->cols[c].numeric = any && all;
    }
    for (int i = 0; i < ps.n; i++)
        free(ps.names[i]);
    for (int i = 0; i < ms.n; i++)
        free(ms.names[i]);
    free(ps.names);
    free(ms.names);
    if (rc != RUNS_OK)
        runs_table_free(t);
    return rc;
}

/* Reads the sweeps row(s): name(s), hash and version. */
static int read_sweeps(runs_db *r)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(r->db, "SELECT name, spec_hash, version FROM sweeps ORDER BY created",
                                -1, &st, NULL);
    r->sweep[0] = r->hash[0] = r->nmlab_version[0] = '\0';
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        size_t used = strlen(r->sweep);
        snprintf(r->sweep + used, sizeof r->sweep - used, "%s%s", used ? ", " : "", name ? name : "?");
        if (!r->hash[0]) {
            const char *h = (const char *)sqlite3_column_text(st, 1);
            const char *ver = (const char *)sqlite3_column_text(st, 2);
            snprintf(r->hash, sizeof r->hash, "%s", h ? h : "");
            snprintf(r->nmlab_version, sizeof r->nmlab_version, "%s", ver ? ver : "");
        }
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_OK ? SQLITE_OK : rc;
}

/* Reads every point into a new table; SQLite's code. */
static int load(runs_db *r, runs_table *t, int *counts, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    raw_row *v = NULL;
    int n = 0, cap = 0, rc;
    rc = sqlite3_prepare_v2(r->db, "SELECT id, sweep, params, seed, status, error, metrics, "
                            "ended - started, pos FROM points ORDER BY pos, id", -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            int nc = cap ? cap * 2 : 64;
            raw_row *nv = realloc(v, (size_t)nc * sizeof *nv);
            if (!nv) {
                rc = SQLITE_NOMEM;
                break;
            }
            v = nv, cap = nc;
        }
        raw_row *x = &v[n++];
        memset(x, 0, sizeof *x);
        x->id = dup_col(st, 0), x->sweep = dup_col(st, 1), x->status = dup_col(st, 4);
        x->error = dup_col(st, 5);
        x->seed = sqlite3_column_int64(st, 3);
        x->pos = sqlite3_column_type(st, 8) == SQLITE_NULL ? n - 1 : sqlite3_column_int64(st, 8);
        x->time = sqlite3_column_type(st, 7) == SQLITE_NULL ? NAN : sqlite3_column_double(st, 7);
        const char *p = (const char *)sqlite3_column_text(st, 2);
        const char *m = (const char *)sqlite3_column_text(st, 6);
        x->params = p ? json_loads(p, 0, NULL) : NULL;
        x->metrics = m ? json_loads(m, 0, NULL) : NULL;
        const char *s = x->status ? x->status : "";
        counts[0] += !strcmp(s, "ok"), counts[1] += !strcmp(s, "error");
        counts[2] += !strcmp(s, "crashed"), counts[3] += !strcmp(s, "timeout");
        rc = SQLITE_OK;
    }
    if (rc == SQLITE_DONE || rc == SQLITE_OK) {
        rc = SQLITE_OK;
        if (build_table(v, n, t) != RUNS_OK) {
            rc = SQLITE_NOMEM;
            snprintf(err, errlen, "%s: out of memory reading %d points", r->path, n);
        }
    } else if (!is_busy(rc)) {
        snprintf(err, errlen, "%s: cannot read the points: %s", r->path, sqlite3_errmsg(r->db));
    }
    sqlite3_finalize(st);
    raw_free(v, n);
    return rc;
}

int runs_db_poll(runs_db *r, char *err, size_t errlen)
{
    if (!r->checked) {
        int c = check_schema(r, err, errlen);
        if (c != RUNS_OK)
            return c;
    }
    long long ver = 0;
    int rc = data_version(r, &ver);
    if (rc == SQLITE_OK && r->loaded && ver == r->version)
        return 0;
    /* one read transaction: the sweeps row and the points agree */
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(r->db, "BEGIN", NULL, NULL, NULL);
    runs_table t = {0};
    int counts[4] = {0};
    if (rc == SQLITE_OK && (rc = read_sweeps(r)) == SQLITE_OK)
        rc = load(r, &t, counts, err, errlen);
    else if (rc != SQLITE_OK && !is_busy(rc))
        snprintf(err, errlen, "%s: cannot read: %s", r->path, sqlite3_errmsg(r->db));
    sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        runs_table_free(&t);
        if (is_busy(rc)) {
            busy_msg(r, err, errlen);
            return RUNS_BUSY;
        }
        return RUNS_ERR;
    }
    runs_table_free(&r->t);
    r->t = t;
    memcpy(r->counts, counts, sizeof counts);
    r->version = ver;
    r->loaded = 1;
    return 1;
}
