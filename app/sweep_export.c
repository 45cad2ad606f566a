/* sweep_export.c - CSV and JSON out of a sweep database. See sweep_export.h. */
#include "sweep_export.h"
#include "sweep_db.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* A CSV field, quoted when it holds a comma, a quote or a line break. */
static void csv_field(FILE *f, const char *s, int first)
{
    if (!first)
        fputc(',', f);
    if (s == NULL)
        return;
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* A JSON scalar as CSV text (strings bare, numbers as JSON writes them). */
static void csv_json(FILE *f, json_t *v)
{
    if (v == NULL || json_is_null(v)) {
        csv_field(f, NULL, 0);
    } else if (json_is_string(v)) {
        csv_field(f, json_string_value(v), 0);
    } else {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
        csv_field(f, s, 0);
        free(s);
    }
}

static void add_keys(json_t *keys, json_t *obj)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        (void)v;
        json_object_set_new(keys, k, json_true());
    }
}

/* The sorted keys of a set (an object used as one). */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char **sorted_keys(json_t *set, size_t *n)
{
    *n = json_object_size(set);
    const char **ks = malloc((*n ? *n : 1) * sizeof *ks);
    if (ks == NULL)
        return NULL;
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(set, k, v) {
        (void)v;
        ks[i++] = k;
    }
    qsort(ks, *n, sizeof *ks, cmp_str);
    return ks;
}

static const char *fixed[] = {"id", "sweep", "seed", "status", "error", "started", "ended", "host"};
#define NFIXED (sizeof fixed / sizeof fixed[0])

static int write_csv(json_t *points, FILE *out)
{
    json_t *pk = json_object(), *mk = json_object();
    size_t i;
    json_t *p;
    json_array_foreach(points, i, p) {
        add_keys(pk, json_object_get(p, "params"));
        add_keys(mk, json_object_get(p, "metrics"));
    }
    size_t np, nm;
    const char **pks = sorted_keys(pk, &np), **mks = sorted_keys(mk, &nm);
    int rc = pks && mks ? 0 : -1;
    if (rc == 0) {
        for (size_t c = 0; c < NFIXED; c++)
            csv_field(out, fixed[c], c == 0);
        for (size_t c = 0; c < np; c++)
            csv_field(out, pks[c], 0);
        for (size_t c = 0; c < nm; c++) {
            int clash = json_object_get(pk, mks[c]) != NULL;
            for (size_t f = 0; f < NFIXED; f++)
                clash |= strcmp(mks[c], fixed[f]) == 0;
            if (clash) {
                fputs(",", out);
                fputs("metric.", out);
                csv_field(out, mks[c], 1);
            } else {
                csv_field(out, mks[c], 0);
            }
        }
        fputs("\r\n", out);
        json_array_foreach(points, i, p) {
            for (size_t c = 0; c < NFIXED; c++) {
                json_t *v = json_object_get(p, fixed[c]);
                if (c == 0)
                    csv_field(out, json_string_value(v), 1);
                else
                    csv_json(out, v);
            }
            for (size_t c = 0; c < np; c++)
                csv_json(out, json_object_get(json_object_get(p, "params"), pks[c]));
            for (size_t c = 0; c < nm; c++)
                csv_json(out, json_object_get(json_object_get(p, "metrics"), mks[c]));
            fputs("\r\n", out);
        }
    }
    free(pks);
    free(mks);
    json_decref(pk);
    json_decref(mk);
    return rc;
}

static json_t *col_json(sqlite3_stmt *st, int c)
{
    switch (sqlite3_column_type(st, c)) {
    case SQLITE_NULL: return json_null();
    case SQLITE_INTEGER: return json_integer(sqlite3_column_int64(st, c));
    case SQLITE_FLOAT: return json_real(sqlite3_column_double(st, c));
    default: return json_string((const char *)sqlite3_column_text(st, c));
    }
}

int sweep_export(const char *path, int json, FILE *out, char *err, size_t errlen)
{
    sqlite3 *db = sweep_db_open(path, 0, err, errlen);
    if (db == NULL)
        return -1;
    char name[256], hash[256];
    if (sweep_db_spec(db, path, name, hash, sizeof name, err, errlen) != 0) {
        sqlite3_close(db);
        return -1;
    }
    json_t *doc = json_object(), *points = json_array(), *sw = json_object();
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(db, "SELECT name, spec_hash, version, created, spec FROM sweeps", -1,
                           &st, NULL) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
        goto dberr;
    for (int c = 0; c < 5; c++)
        json_object_set_new(sw, sqlite3_column_name(st, c), col_json(st, c));
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT id, sweep, params, seed, status, error, metrics, started, "
                           "ended, host FROM points ORDER BY pos, id", -1, &st, NULL) != SQLITE_OK)
        goto dberr;
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *p = json_object();
        for (int c = 0; c < 10; c++) {
            const char *col = sqlite3_column_name(st, c);
            json_t *v;
            if ((c == 2 || c == 6) && sqlite3_column_type(st, c) == SQLITE_TEXT) {
                v = json_loads((const char *)sqlite3_column_text(st, c), 0, NULL);
                if (v == NULL || !json_is_object(v)) {
                    snprintf(err, errlen, "%s: point %s: column %s is not a JSON object", path,
                             (const char *)sqlite3_column_text(st, 0), col);
                    json_decref(v);
                    json_decref(p);
                    goto out;
                }
            } else {
                v = col_json(st, c);
            }
            json_object_set_new(p, col, v);
        }
        json_array_append_new(points, p);
    }
    if (s != SQLITE_DONE)
        goto dberr;
    if (json) {
        json_object_set(doc, "sweep", sw);
        json_object_set(doc, "points", points);
        rc = json_dumpf(doc, out, JSON_INDENT(1) | JSON_REAL_PRECISION(17));
        fputc('\n', out);
    } else {
        rc = write_csv(points, out);
    }
    if (rc != 0)
        snprintf(err, errlen, "%s: cannot write the export", path);
    goto out;
dberr:
    snprintf(err, errlen, "%s: cannot read the sweep: %s", path, sqlite3_errmsg(db));
out:
    sqlite3_finalize(st);
    json_decref(doc);
    json_decref(points);
    json_decref(sw);
    sqlite3_close(db);
    return rc;
}
