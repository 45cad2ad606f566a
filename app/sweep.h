/* sweep.h - `nmlab sweep`: run a sweep spec on a pool of worker processes
 * into a results database, and its subcommands export and merge
 * (docs/sweeps.md). */
#ifndef NMLAB_SWEEP_H
#define NMLAB_SWEEP_H

/* argv[0] is "sweep". Returns the process's exit status: 0 when every
 * point of the run (or shard) is ok, 1 when some failed, 2 on a usage,
 * spec or database error, 130 when interrupted (Ctrl-C). */
int sweep_main(int argc, char **argv);

#endif
