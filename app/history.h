/* history.h - the console's command history file, one command a line
 * (no curses or Lua here, so the loader can be fuzzed on its own). */
#ifndef HISTORY_H
#define HISTORY_H

#include <stddef.h>

/* Appends the non-empty lines of the file at `path` to hist[*n..], keeping
 * only the last `max` entries (older ones are freed). A line longer than
 * line_max - 2 bytes is split into pieces of at most line_max - 1 bytes.
 * Each entry is a malloc'd string the caller frees. A missing file adds
 * nothing; a line that cannot be copied (out of memory) is skipped. */
void history_load(const char *path, char **hist, int *n, int max, size_t line_max);

#endif
