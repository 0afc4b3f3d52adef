/* Shared between predict.c (API, standardisation, cross-validation) and predict_models.c (the
 * numerics of each model). Everything here works on standardised features Z (n×d row-major)
 * and a centred, scaled target t; the caller maps back to the user's units. */
#ifndef UHNAS_PREDICT_INTERNAL_H
#define UHNAS_PREDICT_INTERNAL_H

#include "uhnas/predict.h"
#include "uhnas/rng.h"

struct uh_predictor {
    uh_pred_params_t params;
    int d;
    double y_mean, y_scale; /* prediction = y_mean + y_scale · model(z) */
    double *mu, *inv_sd;    /* d each; inv_sd is 0 for columns constant in training */
    double *w;              /* ridge: d weights */
    int n;                  /* kernel: training rows kept */
    double *Z, *alpha;      /* kernel: n×d standardised training rows and their weights */
    double *theta;          /* mlp: W1 (hidden×d), b1 (hidden), w2 (hidden), b2 */
};

/* Ridge weights for each of the nl penalties into W (nl×d): (ZᵀZ + nλI)w = Zᵀt. */
int uh_pred_ridge_grid(const double *Z, const double *t, int n, int d, const double *lambdas,
                       int nl, double *W, uh_error_t *err);

/* The median pairwise distance between the n rows of Z (1 when all rows coincide). */
int uh_pred_median_distance(const double *Z, int n, int d, double *median, uh_error_t *err);

/* Kernel ridge for each of the ng (factors[g], lambdas[g]) pairs, with bandwidth
 * factors[g] · h0. Predictions on the m rows of Zq go to pred[g·m + i] (NaN where K + nλI
 * was not positive definite). With ng == 1 and alpha not NULL, the weights go to alpha
 * (n values) and a failed factorisation is an error. Pairs sharing a factor should be
 * adjacent: the kernel matrix is rebuilt only when the factor changes. */
int uh_pred_kernel_grid(const double *Z, const double *t, int n, int d, double h0,
                        const double *factors, const double *lambdas, int ng, const double *Zq,
                        int m, double *pred, double *alpha, uh_error_t *err);

double uh_pred_kernel_eval(const double *Z, const double *alpha, int n, int d, double h,
                           const double *z);

/* Parameters of a hidden-unit MLP on d inputs: hidden·d + 2·hidden + 1. */
size_t uh_pred_mlp_size(int hidden, int d);

/* Trains theta (uh_pred_mlp_size values) from an initialisation drawn from rng, with
 * hp->hidden, steps, lr and weight_decay. */
int uh_pred_mlp_train(const double *Z, const double *t, int n, int d, const uh_pred_params_t *hp,
                      uh_rng_t *rng, double *theta, uh_error_t *err);

double uh_pred_mlp_eval(const double *theta, int hidden, int d, const double *z);

#endif
