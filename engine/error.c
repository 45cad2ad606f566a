/* error.c - thread-local error messages for the engine. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static _Thread_local char errbuf[1024];

int nm_seterr(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    return NM_ERR;
}

int nm_preperr(const char *prefix)
{
    char old[sizeof errbuf];
    memcpy(old, errbuf, sizeof old);
    size_t n = strlen(prefix);
    if (n > sizeof errbuf / 2)
        n = sizeof errbuf / 2;
    memcpy(errbuf, prefix, n);
    errbuf[n] = ':';
    errbuf[n + 1] = ' ';
    size_t room = sizeof errbuf - n - 3;
    size_t k = strnlen(old, room);
    memcpy(errbuf + n + 2, old, k);
    errbuf[n + 2 + k] = '\0';
    return NM_ERR;
}

const char *nm_errmsg(void)
{
    return errbuf;
}

int nm_progress(nm_progress_fn fn, void *ud, double fraction, const char *what)
{
    if (fn && fn(ud, fraction, what))
        return nm_seterr("cancelled");
    return NM_OK;
}

double nm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
