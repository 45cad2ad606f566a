/* sweep_mpi.c - the MPI transport of `nmlab sweep --mpi`. See sweep_mpi.h.
 *
 * A task is one 64-bit integer (tag TAG_TASK). A result (tag TAG_RESULT)
 * is bytes: idx (int64), started and ended (double), then status, error,
 * metrics and host as NUL-terminated strings (error and metrics empty when
 * absent; which one is absent follows from the status). */
#include "sweep_mpi.h"

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TAG_TASK = 1, TAG_RESULT = 2 };
#define HEAD (sizeof(int64_t) + 2 * sizeof(double))

int sweep_mpi_init(int *argc, char ***argv, int *rank, int *size, char *err, size_t errlen)
{
    if (MPI_Init(argc, argv) != MPI_SUCCESS) {
        snprintf(err, errlen, "--mpi: MPI_Init failed (run nmlab under mpirun)");
        return -1;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, size);
    return 0;
}

void sweep_mpi_finalize(void)
{
    MPI_Finalize();
}

_Noreturn void sweep_mpi_abort(int code)
{
    fflush(NULL);
    MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);     /* (MPI_Abort does not return) */
}

int sweep_mpi_agree(char hash[17], int ok)
{
    MPI_Bcast(hash, 17, MPI_CHAR, 0, MPI_COMM_WORLD);
    int all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return all != 0;
}

int sweep_mpi_send_task(int to, long long idx)
{
    int64_t v = idx;
    return MPI_Send(&v, 1, MPI_INT64_T, to, TAG_TASK, MPI_COMM_WORLD) == MPI_SUCCESS ? 0 : -1;
}

long long sweep_mpi_recv_task(void)
{
    int64_t v = -1;
    if (MPI_Recv(&v, 1, MPI_INT64_T, 0, TAG_TASK, MPI_COMM_WORLD, MPI_STATUS_IGNORE) != MPI_SUCCESS)
        return -1;
    return v;
}

int sweep_mpi_send_result(const sweep_mpi_result *r)
{
    const char *s[4] = {r->status, r->error ? r->error : "", r->metrics ? r->metrics : "",
                        r->host ? r->host : ""};
    size_t len[4], n = HEAD;
    for (int i = 0; i < 4; i++)
        n += (len[i] = strlen(s[i])) + 1;
    if (n > INT32_MAX)
        return -1;
    char *buf = malloc(n);
    if (buf == NULL)
        return -1;
    int64_t idx = r->idx;
    memcpy(buf, &idx, sizeof idx);
    memcpy(buf + sizeof idx, &r->started, sizeof(double));
    memcpy(buf + sizeof idx + sizeof(double), &r->ended, sizeof(double));
    char *p = buf + HEAD;
    for (int i = 0; i < 4; i++) {
        memcpy(p, s[i], len[i] + 1);
        p += len[i] + 1;
    }
    int rc = MPI_Send(buf, (int)n, MPI_BYTE, 0, TAG_RESULT, MPI_COMM_WORLD);
    free(buf);
    return rc == MPI_SUCCESS ? 0 : -1;
}

int sweep_mpi_recv_result(int *from, sweep_mpi_result *r, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    MPI_Status st;
    int n = 0;
    if (MPI_Probe(MPI_ANY_SOURCE, TAG_RESULT, MPI_COMM_WORLD, &st) != MPI_SUCCESS ||
        MPI_Get_count(&st, MPI_BYTE, &n) != MPI_SUCCESS || n < 0) {
        snprintf(err, errlen, "--mpi: cannot receive a result");
        return -1;
    }
    *from = st.MPI_SOURCE;
    char *buf = malloc((size_t)n + 1);
    if (buf == NULL) {
        snprintf(err, errlen, "--mpi: out of memory for a result of %d bytes", n);
        return -1;
    }
    if (MPI_Recv(buf, n, MPI_BYTE, st.MPI_SOURCE, TAG_RESULT, MPI_COMM_WORLD, MPI_STATUS_IGNORE) !=
        MPI_SUCCESS) {
        free(buf);
        snprintf(err, errlen, "--mpi: cannot receive a result from rank %d", *from);
        return -1;
    }
    buf[n] = '\0';
    /* four strings after the head, each ended by a NUL inside the message */
    const char *s[4];
    size_t off = HEAD;
    for (int i = 0; i < 4; i++) {
        const char *z = off < (size_t)n ? memchr(buf + off, '\0', (size_t)n - off) : NULL;
        if (z == NULL) {
            free(buf);
            snprintf(err, errlen, "--mpi: a malformed result from rank %d", *from);
            return -1;
        }
        s[i] = buf + off;
        off = (size_t)(z - buf) + 1;
    }
    int64_t idx;
    memcpy(&idx, buf, sizeof idx);
    memcpy(&r->started, buf + sizeof idx, sizeof(double));
    memcpy(&r->ended, buf + sizeof idx + sizeof(double), sizeof(double));
    r->idx = idx;
    r->status = s[0];
    int ok = strcmp(s[0], "ok") == 0;
    r->error = ok ? NULL : s[1];
    r->metrics = ok ? s[2] : NULL;
    r->host = s[3];
    r->buf = buf;
    return 0;
}
