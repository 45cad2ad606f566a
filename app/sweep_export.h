/* sweep_export.h - a sweep database as CSV or JSON (nmlab sweep export). */
#ifndef NMLAB_SWEEP_EXPORT_H
#define NMLAB_SWEEP_EXPORT_H

#include <stddef.h>
#include <stdio.h>

/* Writes the points of the database at path to out in enumeration order.
 * CSV: a header, then one row per point: id, sweep, seed, status, error,
 * started, ended, host, one column per param and one per metric (sorted;
 * a metric named like an earlier column gets the prefix "metric."), RFC
 * 4180 quoting. JSON: {"sweep": {...}, "points": [{..., "params": {...},
 * "metrics": {...}}]}. Returns 0, or -1 with a message naming the file. */
int sweep_export(const char *path, int json, FILE *out, char *err, size_t errlen);

#endif
