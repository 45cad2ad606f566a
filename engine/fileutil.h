/* fileutil.h - safe file writing and bounded reading.
 *
 * Writers never leave a partial file behind: nm_atomic_begin opens a
 * temporary file in the target's folder, the caller writes to af->f, and
 * nm_atomic_commit flushes, syncs and renames it into place, then syncs
 * the folder (or nm_atomic_abort removes it). Where the system has
 * O_TMPFILE the temporary file has no name until it is complete, so a
 * process killed mid-save leaves nothing behind; elsewhere it is
 * "<target>.tmp.XXXXXX", locked while in use, and every save removes the
 * unlocked (stale) ones of its target. A save writes through a symlink
 * (the link stays, its target is replaced) and keeps the target's
 * permission bits; a new file gets 0666 less the umask, as fopen would.
 *
 * Readers open with nm_fopen_read, which refuses anything but a regular
 * file (FIFOs, devices, folders) without blocking. */
#ifndef NM_FILEUTIL_H
#define NM_FILEUTIL_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
    FILE *f;
    int anon;            /* 1: an O_TMPFILE file, tmp is empty until commit */
    char tmp[4096];      /* named temporary file ("" if none) */
    char path[4096];     /* the file finally written: symlinks resolved */
} nm_atomic_file;

/* Opens the temporary file. NM_ERR with a message naming path on failure
 * (a folder, a FIFO or device, a symlink loop, no permission). */
int nm_atomic_begin(nm_atomic_file *af, const char *path);
/* Checks for write errors, syncs, closes and renames over the target,
 * then syncs the folder. On any failure the temporary file is removed and
 * NM_ERR returned. */
int nm_atomic_commit(nm_atomic_file *af);
/* Closes and removes the temporary file (safe after a failed begin). */
void nm_atomic_abort(nm_atomic_file *af);

/* Whether saves may use O_TMPFILE (1, the default) or must use a named
 * temporary file as on systems without it (0): lets tests cover both. */
void nm_atomic_use_tmpfile(int on);

/* A process-wide budget of bytes that atomic saves may still write (the
 * sandbox's disk cap): bytes < 0 = none (the default). nm_atomic_commit
 * takes each file's size from it and fails ("the disk write cap of N bytes
 * is reached"), removing the file, when the budget is short. */
void nm_write_budget_set(long long bytes);
/* Takes `bytes` from the budget: NM_OK, or NM_ERR with a message when
 * fewer remain (nothing is taken then). Always NM_OK without a budget. */
int nm_write_budget_take(long long bytes);

/* Opens path for reading as a stream, or NULL with a message naming path
 * if it cannot be opened or is not a regular file. Never blocks on a FIFO.
 * The caller fcloses the stream. */
FILE *nm_fopen_read(const char *path);
/* The same as a descriptor (O_RDONLY | O_CLOEXEC, blocking), or -1. */
int nm_open_read(const char *path);

/* Reads a whole file into a malloc'd buffer (caller frees *data), refusing
 * files larger than max bytes. A NUL is appended (not counted in *len). */
int nm_read_file(const char *path, size_t max, unsigned char **data, size_t *len);

/* Size of an open file in bytes, or -1 with a message. */
long long nm_file_size(FILE *f);

#endif
