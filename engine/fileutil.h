/* fileutil.h - safe file writing and bounded reading.
 *
 * Writers never leave a partial file behind: nm_atomic_begin opens a
 * temporary file beside the target ("<path>.tmp.XXXXXX"), the caller writes
 * to af->f, and nm_atomic_commit flushes, syncs and renames it into place (or
 * nm_atomic_abort removes it). */
#ifndef NM_FILEUTIL_H
#define NM_FILEUTIL_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
    FILE *f;
    char tmp[4096];
    char path[4096];
} nm_atomic_file;

/* Opens the temporary file. NM_ERR with a message naming path on failure. */
int nm_atomic_begin(nm_atomic_file *af, const char *path);
/* Checks for write errors, syncs, closes and renames over the target.
 * On any failure the temporary file is removed and NM_ERR returned. */
int nm_atomic_commit(nm_atomic_file *af);
/* Closes and removes the temporary file (safe after a failed begin). */
void nm_atomic_abort(nm_atomic_file *af);

/* Reads a whole file into a malloc'd buffer (caller frees *data), refusing
 * files larger than max bytes. A NUL is appended (not counted in *len). */
int nm_read_file(const char *path, size_t max, unsigned char **data, size_t *len);

/* Size of an open file in bytes, or -1 with a message. */
long long nm_file_size(FILE *f);

#endif
