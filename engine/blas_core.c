/* blas_core.c - see blas_core.h. */
#include "blas_core.h"

#include <cblas.h>

const char *nm_blas_core(void)
{
    const char *s = openblas_get_corename();
    return s ? s : "unknown";
}
