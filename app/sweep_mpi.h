/* sweep_mpi.h - the MPI transport of `nmlab sweep --mpi` (docs/sweeps.md).
 *
 * Rank 0 hands out points (their index in the spec's enumeration, -1 to
 * stop) and receives one result per point; ranks 1..K-1 run the points,
 * each in a forked child as the local pool does, and send the outcome.
 * Built only when meson finds MPI (NMLAB_HAVE_MPI in nmlab_config.h);
 * this header holds no MPI types, so sweep.c needs no MPI headers. */
#ifndef NMLAB_SWEEP_MPI_H
#define NMLAB_SWEEP_MPI_H

#include <stddef.h>

/* One point's outcome, as sent from a worker rank to rank 0. */
typedef struct {
    long long idx;          /* the point's index in the spec's points */
    double started, ended;
    const char *status, *error, *metrics, *host;   /* error/metrics may be NULL */
    char *buf;              /* (received results: owns the strings above) */
} sweep_mpi_result;

/* MPI_Init; this process's rank and the number of ranks. 0, or -1 with err. */
int sweep_mpi_init(int *argc, char ***argv, int *rank, int *size, char *err, size_t errlen);
void sweep_mpi_finalize(void);
/* Ends every rank at once (after a message on stderr) with status code. */
_Noreturn void sweep_mpi_abort(int code);

/* Collective: rank 0 passes its spec hash in hash[17], the others get it
 * there; then every rank's `ok` is combined. Returns 1 if every rank had
 * ok != 0, else 0. */
int sweep_mpi_agree(char hash[17], int ok);

/* Rank 0: tells rank `to` to run point idx (-1: stop). 0 or -1. */
int sweep_mpi_send_task(int to, long long idx);
/* Ranks > 0: waits for rank 0's next point index (-1: stop, or an error). */
long long sweep_mpi_recv_task(void);

/* Ranks > 0: sends a point's outcome to rank 0. 0 or -1. */
int sweep_mpi_send_result(const sweep_mpi_result *r);
/* Rank 0: waits for the next result from any rank; *from is its rank.
 * The caller frees r->buf. 0, or -1 (a message it cannot read) with err. */
int sweep_mpi_recv_result(int *from, sweep_mpi_result *r, char *err, size_t errlen);

#endif
