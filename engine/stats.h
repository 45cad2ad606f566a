/* stats.h - small statistics helpers shared by the Lua layer and the app. */
#ifndef NM_STATS_H
#define NM_STATS_H

/* The 0.975 quantile of Student's t with df >= 1 degrees of freedom, from
 * the standard table; 1.96 (the normal's) past 30, off by under 2.5 %. The
 * half-width of a 95 % confidence interval of a mean of k values is
 * nm_t975(k - 1) * sd / sqrt(k). */
double nm_t975(long df);

#endif
