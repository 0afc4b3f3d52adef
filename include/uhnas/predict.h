/* uhnas — surrogate predictors for the LINAS strategy.
 *
 * Lightly trained regressors, refitted on every candidate measured so far, that map an
 * architecture's feature vector to a score (accuracy, energy...); NSGA-II then runs thousands
 * of generations on the predictions instead of on trained networks (as in Intel's DyNAS-T).
 * This module is only the numerics: the caller encodes architectures as vectors of d doubles
 * and keeps one predictor per objective.
 *
 * Every model standardises its features with the training mean and standard deviation
 * (a column that is constant in the training data carries no information and is ignored,
 * also at prediction time) and centres and scales the target, so hyper-parameters mean the
 * same thing whatever the units. All randomness (fold assignment, MLP initialisation) comes
 * from the seed: the same data and seed give bit-identical predictions (on one machine and
 * BLAS build; large products go through BLAS). */
#ifndef UHNAS_PREDICT_H
#define UHNAS_PREDICT_H

#include <stdint.h>

#include "uhnas/error.h"
#include "uhnas/limits.h"

/* Defaults for what the options leave at 0. */
#define UH_PRED_DEFAULT_FOLDS 5
#define UH_PRED_DEFAULT_HIDDEN 32
#define UH_PRED_DEFAULT_STEPS 300
#define UH_PRED_DEFAULT_LR 0.03

/* The grids that cross-validation searches (λ is per sample, see uh_pred_params_t).
 *   ridge  λ ∈ {1e-10, 1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 0.1, 1}
 *   kernel bandwidth factor ∈ {0.25, 0.5, 1, 2} × λ ∈ {1e-6, 1e-4, 1e-2, 0.1}
 *   mlp    weight decay ∈ {1e-4, 1e-3, 1e-2}
 * With too few rows for cross-validation the defaults are λ = 0.01, factor 1, decay 1e-3. */

typedef enum {
    UH_PRED_RIDGE,  /* linear, closed form */
    UH_PRED_KERNEL, /* kernel ridge regression, RBF kernel */
    UH_PRED_MLP,    /* one hidden tanh layer, full-batch Adam */
    UH_PRED_MEAN,   /* the training mean: the fallback and the baseline */
    UH_PRED_NKINDS
} uh_pred_kind_t;

/* "ridge", "kernel", "mlp", "mean"; "?" for anything else. */
const char *uh_pred_kind_name(uh_pred_kind_t kind);

/* The hyper-parameters a fitted model uses. λ is per sample: ridge minimises
 * (1/n)·Σ(yᵢ − zᵢ·w)² + λ‖w‖², i.e. w = (ZᵀZ + nλI)⁻¹Zᵀy on standardised features Z and
 * centred y, so a λ chosen on 4/5 of the data carries over to the refit on all of it.
 * Kernel ridge solves (K + nλI)α = y with K = exp(−‖zᵢ − zⱼ‖² / 2h²). */
typedef struct {
    uh_pred_kind_t kind;
    double lambda;       /* ridge, kernel */
    double bw_factor;    /* kernel: h as a multiple of the median pairwise training distance */
    double bandwidth;    /* kernel: the resulting h, in standardised units */
    double weight_decay; /* mlp: L2 penalty on the weights, added to the mean squared error */
    int hidden, steps;   /* mlp */
    double lr;           /* mlp: Adam step size (cosine-decayed to a tenth over the steps) */
} uh_pred_params_t;

/* Options for uh_predictor_fit; zero everywhere means "defaults, and cross-validate the rest".
 * A 0 penalty or factor is chosen by k-fold CV from its grid (so "no penalty" is not
 * expressible: pass 1e-12). opts may be NULL. */
typedef struct {
    double lambda;       /* ridge, kernel */
    double bw_factor;    /* kernel */
    double weight_decay; /* mlp */
    int hidden;          /* mlp, 1…UH_PRED_MAX_HIDDEN */
    int steps;           /* mlp, 1…UH_PRED_MAX_STEPS */
    double lr;           /* mlp */
    int folds;           /* for what is cross-validated, 2…UH_PRED_MAX_FOLDS */
} uh_pred_opts_t;

typedef struct uh_predictor uh_predictor_t;

/* Fits a model of the given kind on n rows: X is n×d row-major, y has n values. Penalties
 * left at 0 in opts are chosen by k-fold CV (folds assigned from seed) from the grids above,
 * or set to the defaults when n < max(4, folds). seed also initialises the MLP.
 * When the target or every feature is constant there is nothing to learn and the result is
 * the mean predictor, whatever kind was asked for (its params say so).
 * UH_EINVAL for a NaN/inf (naming its row and column), n or d < 1, or bad options;
 * UH_ELIMIT past the limits above. *out is the caller's: uh_predictor_free. */
int uh_predictor_fit(uh_pred_kind_t kind, const double *X, const double *y, int n, int d,
                     const uh_pred_opts_t *opts, uint64_t seed, uh_predictor_t **out,
                     uh_error_t *err);

/* The prediction for one feature vector of d values. Does not allocate and never fails; a
 * non-finite feature gives NaN. */
double uh_predictor_predict(const uh_predictor_t *p, const double *x);
/* Predictions for m rows of X (m×d row-major) into out[m]. */
void uh_predictor_predict_many(const uh_predictor_t *p, const double *X, int m, double *out);

const uh_pred_params_t *uh_predictor_params(const uh_predictor_t *p);
int uh_predictor_dim(const uh_predictor_t *p);
void uh_predictor_free(uh_predictor_t *p);

/* What uh_predictor_fit_best measured and chose. */
typedef struct {
    int folds;                     /* folds used; 0 when n was too small to cross-validate */
    int fallback;                  /* 1 when no CV was done (see note) */
    double cv_mse[UH_PRED_NKINDS]; /* each kind's CV mean squared error at its best grid
                                      point, in y's units; NaN when the kind was not tried */
    double cv_se[UH_PRED_NKINDS];  /* the standard error of that mean over the folds */
    uh_pred_params_t chosen;       /* the refitted model's kind and hyper-parameters */
    char note[200];                /* one line on what was done and why */
} uh_pred_cv_t;

/* Cross-validates every kind over its grid on the same folds (assigned from seed; folds 0 =
 * UH_PRED_DEFAULT_FOLDS) and refits the winner on all n rows. The winner is the simplest of
 * ridge < kernel < mlp whose CV error is within one standard error of the lowest (the
 * one-standard-error rule: a simpler model the data cannot tell apart from the best
 * extrapolates more safely); the mean predictor wins only when it is strictly best.
 * The kernel model is skipped when n > UH_PRED_KERNEL_MAX_N. With n < max(4, folds) there is
 * no CV: one row gives the mean predictor, more give ridge with λ = 0.01; with nothing to
 * learn (see uh_predictor_fit) the mean predictor; report says which.
 * report may be NULL. Errors as uh_predictor_fit. */
int uh_predictor_fit_best(const double *X, const double *y, int n, int d, int folds, uint64_t seed,
                          uh_predictor_t **out, uh_pred_cv_t *report, uh_error_t *err);

#endif
