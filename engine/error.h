/* error.h - the engine's error convention.
 *
 * Every engine function that can fail returns NM_OK (0) / NM_ERR (-1), or a
 * pointer that is NULL on failure, and leaves a message saying what was wrong
 * in a thread-local buffer read with nm_errmsg(). Messages name the object
 * (file, layer, argument) and the problem. The Lua layer turns them into
 * errors or `nil, message` returns; the engine never longjmps. */
#ifndef NM_ERROR_H
#define NM_ERROR_H

#define NM_OK 0
#define NM_ERR (-1)

/* Sets the current thread's error message (printf format). Returns NM_ERR so
 * a failing function can `return nm_seterr(...)`. */
int nm_seterr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prefixes the current message with "prefix: " (e.g. a file name). Returns NM_ERR. */
int nm_preperr(const char *prefix);

/* The last message set on this thread ("" if none). Valid until the next
 * nm_seterr on the same thread. */
const char *nm_errmsg(void);

/* Progress callback for long engine operations: `fraction` in [0,1], `what`
 * a short label. Returning nonzero asks the operation to stop; it then
 * returns NM_ERR with the message "cancelled". May be NULL. */
typedef int (*nm_progress_fn)(void *ud, double fraction, const char *what);

/* Calls fn if set; returns NM_ERR with message "cancelled" if it asks to stop. */
int nm_progress(nm_progress_fn fn, void *ud, double fraction, const char *what);

/* Monotonic wall-clock seconds, for timings and report intervals. */
double nm_now(void);

#endif
