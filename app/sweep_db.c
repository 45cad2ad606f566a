/* sweep_db.c - the sweep results database (SQLite, WAL). See sweep_db.h. */
#include "sweep_db.h"
#include "nmlab_config.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char *schema =
    "CREATE TABLE IF NOT EXISTS sweeps(spec_hash TEXT PRIMARY KEY, name TEXT NOT NULL, "
    "spec TEXT NOT NULL, version TEXT NOT NULL, created REAL NOT NULL);"
    "CREATE TABLE IF NOT EXISTS points(id TEXT PRIMARY KEY, sweep TEXT NOT NULL, "
    "params TEXT NOT NULL, seed INTEGER NOT NULL, status TEXT NOT NULL "
    "CHECK(status IN ('ok','error','crashed','timeout')), error TEXT, metrics TEXT, "
    "started REAL, ended REAL, host TEXT, pos INTEGER);";

/* Fills err with "path: what: sqlite's message". */
static void db_err(sqlite3 *db, const char *path, const char *what, char *err, size_t errlen)
{
    int code = db ? sqlite3_errcode(db) : SQLITE_ERROR;
    const char *hint = code == SQLITE_BUSY || code == SQLITE_LOCKED
                           ? " (another process is writing it?)" : "";
    snprintf(err, errlen, "%s: %s: %s%s", path, what, db ? sqlite3_errmsg(db) : "cannot open",
             hint);
}

sqlite3 *sweep_db_open(const char *path, int create, char *err, size_t errlen)
{
    struct stat st;
    if (!create && stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: no such file", path);
        return NULL;
    }
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        return NULL;
    }
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        db_err(db, path, "cannot open", err, errlen);
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    /* an existing file is only read until it is known to be ours */
    if (create && sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK) {
        db_err(db, path, "not a usable database", err, errlen);
        sqlite3_close(db);
        return NULL;
    }
    /* WAL with synchronous=NORMAL: a commit survives a crash of any process
     * (the WAL is in the OS's hands); only a power cut may lose the last few
     * commits, never corrupt the file. Saves one fsync per point. */
    if (create && sqlite3_exec(db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
        db_err(db, path, "cannot set synchronous=NORMAL", err, errlen);
        sqlite3_close(db);
        return NULL;
    }
    if (create && sqlite3_exec(db, schema, NULL, NULL, NULL) != SQLITE_OK) {
        db_err(db, path, "cannot create the tables", err, errlen);
        sqlite3_close(db);
        return NULL;
    }
    /* A file with tables of these names but other columns is not ours. */
    if (sqlite3_exec(db, "SELECT id, sweep, params, seed, status, error, metrics, started, ended, "
                     "host, pos FROM points LIMIT 0; SELECT spec_hash, name, spec, version, created "
                     "FROM sweeps LIMIT 0", NULL, NULL, NULL) != SQLITE_OK) {
        db_err(db, path, "not an nmlab sweep database", err, errlen);
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

int sweep_db_spec(sqlite3 *db, const char *path, char *name, char *hash, size_t n,
                  char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT name, spec_hash, (SELECT count(*) FROM sweeps) FROM sweeps",
                           -1, &st, NULL) != SQLITE_OK) {
        db_err(db, path, "cannot read the sweeps table", err, errlen);
        return -1;
    }
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        if (rc == SQLITE_DONE)
            snprintf(err, errlen, "%s: holds no sweep", path);
        else
            db_err(db, path, "cannot read the sweeps table", err, errlen);
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? 1 : -1;
    }
    if (sqlite3_column_int(st, 2) != 1) {
        snprintf(err, errlen, "%s: holds %d sweeps (one database holds one spec)", path,
                 sqlite3_column_int(st, 2));
        sqlite3_finalize(st);
        return -1;
    }
    if (name)
        snprintf(name, n, "%s", (const char *)sqlite3_column_text(st, 0));
    if (hash)
        snprintf(hash, n, "%s", (const char *)sqlite3_column_text(st, 1));
    sqlite3_finalize(st);
    return 0;
}

int sweep_db_bind_spec(sqlite3 *db, const char *path, const char *name, const char *hash,
                       const char *text, char *err, size_t errlen)
{
    char have_name[256], have_hash[256], e2[256];
    int have = sweep_db_spec(db, path, have_name, have_hash, sizeof have_hash, e2, sizeof e2);
    if (have < 0) {
        snprintf(err, errlen, "%s", e2);
        return -1;
    }
    if (have == 0) {
        if (strcmp(have_hash, hash) == 0)
            return 0;
        snprintf(err, errlen, "%s: holds sweep '%s' of another spec (hash %s), not '%s' (hash %s); "
                 "use another --db, or the spec that made it", path, have_name, have_hash, name, hash);
        return -1;
    }
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_prepare_v2(db, "INSERT INTO sweeps(spec_hash, name, spec, version, created) "
                                "VALUES(?,?,?,?,?)", -1, &st, NULL) == SQLITE_OK;
    if (ok) {
        sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, NMLAB_VERSION, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 5, (double)time(NULL));
        ok = sqlite3_step(st) == SQLITE_DONE;
    }
    if (!ok)
        db_err(db, path, "cannot record the spec", err, errlen);
    sqlite3_finalize(st);
    return ok ? 0 : -1;
}

int sweep_db_status(sqlite3 *db, const char *id, char *status, size_t n)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT status FROM points WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), found = 0;
    if (rc == SQLITE_ROW) {
        snprintf(status, n, "%s", (const char *)sqlite3_column_text(st, 0));
        found = 1;
    } else if (rc != SQLITE_DONE) {
        found = -1;
    }
    sqlite3_finalize(st);
    return found;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

int sweep_db_put(sqlite3 *db, const sweep_row *r, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO points(id, sweep, params, seed, status, "
                                "error, metrics, started, ended, host, pos) "
                                "VALUES(?,?,?,?,?,?,?,?,?,?,?)", -1, &st, NULL) == SQLITE_OK;
    if (ok) {
        bind_text_or_null(st, 1, r->id);
        bind_text_or_null(st, 2, r->sweep);
        bind_text_or_null(st, 3, r->params);
        sqlite3_bind_int64(st, 4, r->seed);
        bind_text_or_null(st, 5, r->status);
        bind_text_or_null(st, 6, r->error);
        bind_text_or_null(st, 7, r->metrics);
        sqlite3_bind_double(st, 8, r->started);
        sqlite3_bind_double(st, 9, r->ended);
        bind_text_or_null(st, 10, r->host);
        sqlite3_bind_int64(st, 11, r->pos);
        ok = sqlite3_step(st) == SQLITE_DONE;   /* autocommit: one transaction */
    }
    if (!ok)
        db_err(db, r->id, "cannot record the point", err, errlen);
    sqlite3_finalize(st);
    return ok ? 0 : -1;
}

/* Runs sql on db; on failure fills err naming path. */
static int exec(sqlite3 *db, const char *path, const char *sql, const char *what, char *err,
                size_t errlen)
{
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    db_err(db, path, what, err, errlen);
    return -1;
}

int sweep_db_merge(const char *out, int nin, char **in, FILE *log, char *err, size_t errlen)
{
    char first[256] = "", hash[256], name[256];
    /* every input first: a refused shard leaves out untouched */
    for (int i = 0; i < nin; i++) {
        sqlite3 *db = sweep_db_open(in[i], 0, err, errlen);
        if (db == NULL)
            return -1;
        int rc = sweep_db_spec(db, in[i], name, hash, sizeof hash, err, errlen);
        sqlite3_close(db);
        if (rc != 0)
            return -1;   /* a shard without a sweep row is not a shard */
        if (i == 0) {
            snprintf(first, sizeof first, "%s", hash);
        } else if (strcmp(hash, first) != 0) {
            snprintf(err, errlen, "%s: another spec (hash %s) than %s (hash %s): shards of one "
                     "sweep only", in[i], hash, in[0], first);
            return -1;
        }
    }
    sqlite3 *db = sweep_db_open(out, 1, err, errlen);
    if (db == NULL)
        return -1;
    int have = sweep_db_spec(db, out, name, hash, sizeof hash, err, errlen);
    if (have < 0 || (have == 0 && strcmp(hash, first) != 0)) {
        if (have == 0)
            snprintf(err, errlen, "%s: holds another spec (hash %s) than the shards (hash %s)", out,
                     hash, first);
        sqlite3_close(db);
        return -1;
    }
    for (int i = 0; i < nin; i++) {
        char *sql = sqlite3_mprintf("ATTACH %Q AS src", in[i]);
        int rc = sql ? exec(db, in[i], sql, "cannot attach", err, errlen) : -1;
        sqlite3_free(sql);
        if (rc != 0)
            break;
        int before = sqlite3_total_changes(db);
        rc = exec(db, in[i],
                  "BEGIN;"
                  "INSERT OR IGNORE INTO sweeps SELECT spec_hash, name, spec, version, created "
                  "FROM src.sweeps;"
                  "INSERT INTO points(id, sweep, params, seed, status, error, metrics, started, "
                  "ended, host, pos) SELECT id, sweep, params, seed, status, error, metrics, "
                  "started, ended, host, pos FROM src.points WHERE true "
                  "ON CONFLICT(id) DO UPDATE SET status = excluded.status, error = excluded.error, "
                  "metrics = excluded.metrics, started = excluded.started, ended = excluded.ended, "
                  "host = excluded.host WHERE (excluded.status = 'ok') > (points.status = 'ok') OR "
                  "((excluded.status = 'ok') = (points.status = 'ok') AND excluded.ended > points.ended);"
                  "COMMIT;", "cannot merge", err, errlen);
        if (rc != 0)
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        int changed = sqlite3_total_changes(db) - before;
        sqlite3_exec(db, "DETACH src", NULL, NULL, NULL);
        if (rc != 0)
            break;
        if (log)
            fprintf(log, "merged %s: %d rows written\n", in[i], changed);
        if (i == nin - 1) {
            sqlite3_close(db);
            return 0;
        }
    }
    sqlite3_close(db);
    return -1;
}
