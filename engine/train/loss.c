/* loss.c - softmax cross-entropy on a CNHW batch of logits [k, n]. */
#include "kernels.h"

#include <math.h>

double nm_softmax_xent(int k, int n, const float *logits, const int32_t *labels,
                       float *dlogits, int *correct)
{
    double total = 0;
    int right = 0;
#pragma omp parallel for schedule(static) reduction(+ : total, right) if ((int64_t)n * k > NM_PAR_MIN)
    for (int i = 0; i < n; i++) {
        int best = 0;
        float mx = logits[i];
        for (int j = 1; j < k; j++)
            if (logits[(int64_t)j * n + i] > mx)
                mx = logits[(int64_t)j * n + i], best = j;
        double z = 0;
        for (int j = 0; j < k; j++)
            z += exp((double)logits[(int64_t)j * n + i] - mx);
        double logz = log(z) + mx;
        int y = labels[i];
        total += logz - logits[(int64_t)y * n + i];
        right += best == y;
        if (dlogits)
            for (int j = 0; j < k; j++) {
                double pj = exp((double)logits[(int64_t)j * n + i] - logz);
                dlogits[(int64_t)j * n + i] = (float)((pj - (j == y)) / n);
            }
    }
    if (correct)
        *correct = right;
    return n ? total / n : 0;
}
