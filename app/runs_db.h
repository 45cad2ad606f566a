/* runs_db.h - a sweep database read for the workbench's Runs screen
 * (docs/sweeps.md): the points as a table of cells (fixed columns, one per
 * param, one per metric), re-read when another process commits, sorted,
 * grouped over the seeds, and the Pareto front of two columns. No curses,
 * no Lua: tests/tui/test_runs.c drives it against a real sweep's database.
 *
 * The database is opened read-only and never waited on for long: a reader
 * in WAL mode is not blocked by the sweep writing, and when something else
 * holds a lock (a rollback-journal writer, a checkpoint) the poll returns
 * RUNS_BUSY at once, the last table stays, and the caller retries later. */
#ifndef NMLAB_RUNS_DB_H
#define NMLAB_RUNS_DB_H

#include <stddef.h>

typedef enum { RUNS_NONE = 0, RUNS_NUM, RUNS_STR, RUNS_BOOL } runs_kind;

/* One cell. In a grouped table a metric cell holds the mean of its group
 * (RUNS_NUM), `ci` the half-width of the 95 % interval (NaN for one
 * point) and `n` the number of points it averages. */
typedef struct {
    runs_kind kind;
    double num;          /* RUNS_NUM; RUNS_BOOL: 0 or 1 */
    char *str;           /* RUNS_STR (owned by the table) */
    double ci;
    int n;
} runs_cell;

typedef enum {
    RUNS_COL_POS = 0,    /* "#": position in the spec (1-based); grouped: group number */
    RUNS_COL_STATUS,     /* ok, error, crashed, timeout */
    RUNS_COL_SEED,
    RUNS_COL_COUNT,      /* grouped: "n", points in the group */
    RUNS_COL_PARAM,
    RUNS_COL_METRIC,
    RUNS_COL_TIME,       /* "time": ended - started, seconds */
    RUNS_COL_ERROR       /* the error message's first line */
} runs_role;

typedef struct {
    char *name;
    runs_role role;
    int numeric;         /* every cell that has a value is a number */
} runs_col;

typedef struct {
    int n_rows, n_cols;
    runs_col *cols;
    runs_cell *cells;    /* n_rows * n_cols, row-major */
    char **ids;          /* point ids (NULL in a grouped table) */
    char **errors;       /* full error text per row, or NULL entries */
} runs_table;

typedef struct {
    char *path;
    void *db;            /* sqlite3 *, read-only */
    int checked;         /* the schema was found to be a sweep database's */
    long long version;   /* PRAGMA data_version at the last load */
    int loaded;
    char sweep[256];     /* the sweep's name(s), comma separated */
    char hash[80], nmlab_version[64];
    int counts[4];       /* ok, error, crashed, timeout */
    runs_table t;
} runs_db;

enum { RUNS_OK = 0, RUNS_ERR = -1, RUNS_BUSY = -2 };

/* Opens path read-only. NULL with a message naming the file when it is
 * missing, not a regular file, not an SQLite database, or an SQLite
 * database without a sweep's tables; a database that is locked right now
 * opens (its table empty) and the first poll says so. Close with
 * runs_db_close. */
runs_db *runs_db_open(const char *path, char *err, size_t errlen);
void runs_db_close(runs_db *r);

/* Re-reads the points if another connection committed since the last
 * read (or nothing was read yet). Returns 1 when the table was replaced,
 * 0 when nothing changed, RUNS_BUSY when the database is locked (the old
 * table stays; err says so, naming the file) or RUNS_ERR (a message). */
int runs_db_poll(runs_db *r, char *err, size_t errlen);

void runs_table_free(runs_table *t);

/* The ok points grouped by their params (the seed aside), in the order of
 * each group's first point: columns #, n, the params, the numeric
 * metrics (mean, ci, n per cell). Fills out (freed by the caller).
 * RUNS_OK or RUNS_ERR (out of memory). */
int runs_table_group(const runs_table *pts, runs_table *out);

/* The rows' display order sorted by column col (ascending, or descending
 * with desc): numbers by value, then strings, then booleans, empty cells
 * last in either direction; ties keep table order. col < 0: table order.
 * order holds n_rows entries. */
void runs_table_order(const runs_table *t, int col, int desc, int *order);

/* Column index by name, or -1. */
int runs_table_col(const runs_table *t, const char *name);

/* The Pareto front of points (x[i], y[i]), i < n: front[i] = 1 when no
 * other point is at least as good in both and better in one, where small
 * x is good when x_min (else large) and large y when y_max (else small).
 * Of equal points the first is kept. NaN points are never on it. Returns
 * the number on the front. */
int runs_pareto(const double *x, const double *y, int n, int x_min, int y_max,
                unsigned char *front);

/* The numeric values of columns cx and cy in the rows where both are
 * numbers: x, y and row get up to n_rows entries. Returns how many. */
int runs_table_xy(const runs_table *t, int cx, int cy, double *x, double *y, int *row);

/* A cell as text ("0.8125", "ok", "true", "", a mean as "0.81±0.02"). */
void runs_cell_text(const runs_cell *c, char *buf, size_t n);

/* 1 if any cell of the row (or its id) contains needle. */
int runs_row_matches(const runs_table *t, int row, const char *needle);

#endif
