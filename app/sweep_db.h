/* sweep_db.h - a sweep's results in SQLite (docs/sweeps.md, "The database").
 *
 * One database holds one spec: table `sweeps` (one row: name, spec hash,
 * spec text, nmlab version, created) and table `points` (one row per
 * finished point: id, sweep, params JSON, seed, status, error, metrics
 * JSON, started, ended, host, pos). WAL mode; each point is one
 * transaction, so a crash or Ctrl-C loses at most the points in flight.
 * Only the sweep's parent process writes. */
#ifndef NMLAB_SWEEP_DB_H
#define NMLAB_SWEEP_DB_H

#include <sqlite3.h>
#include <stdio.h>
#include <stddef.h>

typedef struct {
    const char *id, *sweep, *params;
    long long seed, pos;
    const char *status;     /* ok, error, crashed, timeout */
    const char *error;      /* NULL when ok */
    const char *metrics;    /* JSON object, NULL unless ok */
    double started, ended;  /* Unix time, seconds */
    const char *host;
} sweep_row;

/* Opens the database at path, checking that it has the tables of a sweep
 * database; with `create`, creates the file and the tables when missing
 * and turns on WAL mode (without it, nothing is written to the file). Returns NULL with a message naming the file. The caller
 * closes it with sqlite3_close. */
sqlite3 *sweep_db_open(const char *path, int create, char *err, size_t errlen);

/* Records the spec in a new database, or checks that the database holds
 * this spec (same hash): a different one is refused with a message naming
 * both. Returns 0 or -1. */
int sweep_db_bind_spec(sqlite3 *db, const char *path, const char *name, const char *hash,
                       const char *text, char *err, size_t errlen);

/* Reads the database's spec row: name and hash (either may be NULL), at
 * most n-1 characters of each. Returns 0; 1 if it holds no sweep; -1 on error
 * (more than one sweep, or SQLite's); err says which. */
int sweep_db_spec(sqlite3 *db, const char *path, char *name, char *hash, size_t n,
                  char *err, size_t errlen);

/* The status of point `id` into status (n bytes): 1 if it has a row, 0 if
 * not, -1 on error. */
int sweep_db_status(sqlite3 *db, const char *id, char *status, size_t n);

/* Writes (or replaces) a point's row in its own transaction. 0 or -1. */
int sweep_db_put(sqlite3 *db, const sweep_row *r, char *err, size_t errlen);

/* Merges the shard databases in[0..nin-1] into out (created if missing).
 * All must hold the same spec (and out, if it has one). A point present
 * twice keeps an `ok` row over a failed one, else the later one. Prints
 * one line per input on `log` (may be NULL). 0 or -1. */
int sweep_db_merge(const char *out, int nin, char **in, FILE *log, char *err, size_t errlen);

#endif
