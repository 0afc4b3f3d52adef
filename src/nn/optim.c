/* uhnas — optimizers, in PyTorch's conventions (torch.optim.SGD with dampening 0 and
 * nesterov off; torch.optim.Adam with amsgrad off), so hyper-parameters carry over.
 * Elementwise, so threads never change a result. */
#include "layers.h"

#include <math.h>

void sgd_step(float *p, float *v, const float *g, size_t n, float lr, float momentum, float wd) {
    const long cnt = (long)n;
    if (momentum == 0.0f) {
#pragma omp parallel for simd schedule(static) if (cnt > NN_PAR_MIN)
        for (long i = 0; i < cnt; i++) p[i] -= lr * (g[i] + wd * p[i]);
        return;
    }
    /* PyTorch starts the buffer at the first gradient; v = 0 initially gives exactly that */
#pragma omp parallel for simd schedule(static) if (cnt > NN_PAR_MIN)
    for (long i = 0; i < cnt; i++) {
        const float gi = g[i] + wd * p[i];
        v[i] = momentum * v[i] + gi;
        p[i] -= lr * v[i];
    }
}

void adam_step(float *p, float *m, float *v, const float *g, size_t n, float lr, float b1, float b2,
               float eps, float wd, long t) {
    const long cnt = (long)n;
    const double bc1 = 1.0 - pow((double)b1, (double)t);
    const double bc2 = 1.0 - pow((double)b2, (double)t);
    const float step_size = (float)(lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
#pragma omp parallel for simd schedule(static) if (cnt > NN_PAR_MIN)
    for (long i = 0; i < cnt; i++) {
        const float gi = g[i] + wd * p[i];
        m[i] = b1 * m[i] + (1.0f - b1) * gi;
        v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
        p[i] -= step_size * m[i] / (sqrtf(v[i]) / bc2_sqrt + eps);
    }
}
