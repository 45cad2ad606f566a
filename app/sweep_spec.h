/* sweep_spec.h - a sweep spec: a Lua file returning {name, params, seeds,
 * run}, loaded, checked and enumerated into points (docs/sweeps.md).
 *
 * Points come in a fixed order: the cartesian product of the params lists,
 * keys in sorted order (the last key varies fastest), each combination once
 * per seed. A point's id is a hash of its canonical params JSON (keys
 * sorted, compact) and its seed, so it does not depend on the order of the
 * lists, on the shard or on the machine. */
#ifndef NMLAB_SWEEP_SPEC_H
#define NMLAB_SWEEP_SPEC_H

#include "host.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char id[17];            /* 16 hex digits */
    char *params;           /* canonical JSON object, owned */
    long long seed;
    size_t pos;             /* position in the enumeration, from 0 */
} sweep_point;

typedef struct {
    char *path;             /* the spec file, as given */
    char *name;             /* spec.name, or the file's base name */
    char *text;             /* the spec file's bytes (NUL-terminated) */
    size_t textlen;
    char hash[17];          /* hash of text */
    sweep_point *points;
    size_t npoints;
} sweep_spec;

/* Upper bound on the points of one spec (a typo in a list is not a
 * million-point sweep). */
#define SWEEP_MAX_POINTS 1000000
/* ... and on one params list or seeds (duplicates are looked for pairwise) */
#define SWEEP_MAX_LIST 10000

/* Loads the spec at `path` in a fresh host made with `opt`, checks it and
 * enumerates its points into *s (the caller frees it with sweep_spec_free).
 * Returns 0, or -1 with a message naming the spec in err. */
int sweep_spec_load(sweep_spec *s, const char *path, const nmlua_options *opt,
                    char *err, size_t errlen);
void sweep_spec_free(sweep_spec *s);

/* Leaves the spec's run function on the stack of h's state, running the
 * spec's text (as loaded by sweep_spec_load) there. Returns 0, or -1 with
 * the message in err. */
int sweep_spec_push_run(nmlua_host *h, const sweep_spec *s, char *err, size_t errlen);

/* A 64-bit hash of n bytes (FNV-1a with a final mix), as 16 hex digits. */
uint64_t sweep_hash(const void *data, size_t n);
void sweep_hash_hex(const void *data, size_t n, char out[17]);

#endif
