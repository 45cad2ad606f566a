/* blas_core.h - which OpenBLAS kernels run (for reports and benchmarks). */
#ifndef NM_BLAS_CORE_H
#define NM_BLAS_CORE_H

/* OpenBLAS's name for the kernels it chose when it loaded ("Haswell",
 * "SkylakeX", ...; OPENBLAS_CORETYPE overrides its choice). The string is
 * OpenBLAS's (static; do not free). */
const char *nm_blas_core(void);

#endif
