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
 * with _exit (never returns). With tmpl (a host made by
 * sweep_worker_template in the parent before the fork, so this is the
 * child's copy of it) the point runs there, else in a fresh host. */
_Noreturn void sweep_worker_main(const sweep_spec *s, const sweep_point *p,
                                 const nmlua_options *opt, nmlua_host *tmpl, int threads, int fd);

/* In the parent: a host with the spec's text run and its run function on
 * top of the stack, for every point's child to inherit through fork (one
 * interpreter start-up per sweep, not per point; each point still runs in
 * its own copy). NULL if it cannot be made (then each point makes its own
 * and reports why). The caller frees it with nmlua_host_free. */
nmlua_host *sweep_worker_template(const sweep_spec *s, const nmlua_options *opt);

/* Encodes the table at idx (a point's result) as a JSON object into a
 * malloc'd string; keys must be strings and values numbers, strings or
 * booleans (non-finite numbers become null). Returns NULL with a message
 * in err otherwise. */
char *sweep_metrics_json(lua_State *L, int idx, char *err, size_t errlen);

#endif
