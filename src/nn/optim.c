/* uhnas — optimizers, in PyTorch's conventions (torch.optim.SGD with dampening 0 and
 * nesterov off; torch.optim.Adam with amsgrad off), so hyper-parameters carry over.
 * Elementwise, so threads never change a result. */
#include "layers.h"

#include <math.h>

#include "uhnas/nn.h"

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

/* Adam in both precisions from one body (see uhnas/nn.h): the networks train in float, the
 * predictors' MLP in double. (clang-format cannot lay out a _Pragma inside a macro.) */
/* clang-format off */
#define DEFINE_ADAM_STEP(NAME, T, SQRT)                                                          \
    void NAME(T *p, T *m, T *v, const T *g, size_t n, const uh_adam_t *o, long t) {              \
        const long cnt = (long)n;                                                                \
        const double bc1 = 1.0 - pow(o->beta1, (double)t);                                       \
        const double bc2 = 1.0 - pow(o->beta2, (double)t);                                       \
        const T step_size = (T)(o->lr / bc1), bc2_sqrt = (T)sqrt(bc2);                           \
        const T b1 = (T)o->beta1, b2 = (T)o->beta2, eps = (T)o->eps, wd = (T)o->weight_decay;    \
        _Pragma("omp parallel for simd schedule(static) if (cnt > NN_PAR_MIN)")                  \
        for (long i = 0; i < cnt; i++) {                                                         \
            const T gi = g[i] + wd * p[i];                                                       \
            m[i] = b1 * m[i] + ((T)1 - b1) * gi;                                                 \
            v[i] = b2 * v[i] + ((T)1 - b2) * gi * gi;                                            \
            p[i] -= step_size * m[i] / (SQRT(v[i]) / bc2_sqrt + eps);                            \
        }                                                                                        \
    }
/* clang-format on */

DEFINE_ADAM_STEP(uh_adam_step, float, sqrtf)
DEFINE_ADAM_STEP(uh_adam_step_f64, double, sqrt)
