/* sweep_worker.h - what a sweep's worker process does: run one point of
 * a spec in a fresh interpreter and send the outcome to the parent. */
#ifndef NMLAB_SWEEP_WORKER_H
#define NMLAB_SWEEP_WORKER_H

#include "host.h"
#include "sweep_spec.h"

/* The message on the pipe: one tag byte, then the payload up to EOF.
 * 'o': the metrics as a JSON object; 'e': the error message. A worker
 * that dies before it has written all of it (exit status not 0) crashed. */
#define SWEEP_MSG_OK 'o'
#define SWEEP_MSG_ERROR 'e'

/* In the forked child: runs point p of s with host options opt and
 * `threads` OpenMP threads, writes the message to fd and ends the process
 * with _exit (never returns). */
_Noreturn void sweep_worker_main(const sweep_spec *s, const sweep_point *p,
                                 const nmlua_options *opt, int threads, int fd);

/* Encodes the table at idx (a point's result) as a JSON object into a
 * malloc'd string; keys must be strings and values numbers, strings or
 * booleans (non-finite numbers become null). Returns NULL with a message
 * in err otherwise. */
char *sweep_metrics_json(lua_State *L, int idx, char *err, size_t errlen);

#endif
