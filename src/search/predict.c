/* Surrogate predictors: input checks, standardisation, k-fold cross-validation over each
 * kind's grid, model selection and prediction. The per-model numerics live in
 * predict_models.c. */
#include "predict_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The grids documented in predict.h. Penalties are per sample and features standardised, so
 * one grid serves every data set; the kernel pairs are listed factor by factor so that each
 * kernel matrix is built once per fold. */
static const double RIDGE_LAMBDAS[] = {1e-10, 1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 1e-1, 1};
static const double KERNEL_FACTORS[] = {0.25, 0.5, 1, 2};
static const double KERNEL_LAMBDAS[] = {1e-6, 1e-4, 1e-2, 1e-1};
static const double MLP_DECAYS[] = {1e-4, 1e-3, 1e-2};
#define NELEM(a) ((int)(sizeof(a) / sizeof(a)[0]))
#define MAX_GRID 16

/* What is used when there are too few rows to cross-validate. */
#define DEFAULT_LAMBDA 1e-2
#define DEFAULT_FACTOR 1.0
#define DEFAULT_DECAY 1e-3

/* Fewer rows than this and a k-fold split leaves folds too small to say anything. */
#define MIN_CV_ROWS 4

/* Stream ids under the caller's seed, so that the fold assignment and each MLP
 * initialisation draw from unrelated generators. */
enum { STREAM_FOLDS = 1, STREAM_MLP = 2, STREAM_MLP_CV = 100 };

const char *uh_pred_kind_name(uh_pred_kind_t kind) {
    static const char *const names[] = {[UH_PRED_RIDGE] = "ridge",
                                        [UH_PRED_KERNEL] = "kernel",
                                        [UH_PRED_MLP] = "mlp",
                                        [UH_PRED_MEAN] = "mean"};
    return (unsigned)kind < sizeof names / sizeof *names && names[kind] ? names[kind] : "?";
}

static int check_data(const double *X, const double *y, int n, int d, uh_error_t *err) {
    if (!X || !y) return uh_error_set(err, UH_EINVAL, "predictor: X and y are required");
    if (n < 1) return uh_error_set(err, UH_EINVAL, "predictor: no training rows (n = %d)", n);
    if (d < 1) return uh_error_set(err, UH_EINVAL, "predictor: no features (d = %d)", d);
    if (n > UH_PRED_MAX_N)
        return uh_error_set(err, UH_ELIMIT, "predictor: %d training rows exceed the limit of %d", n,
                            UH_PRED_MAX_N);
    if (d > UH_PRED_MAX_D)
        return uh_error_set(err, UH_ELIMIT, "predictor: %d features exceed the limit of %d", d,
                            UH_PRED_MAX_D);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < d; j++)
            if (!isfinite(X[(size_t)i * d + j]))
                return uh_error_set(err, UH_EINVAL,
                                    "predictor: X row %d, column %d is %g; features must be finite",
                                    i, j, X[(size_t)i * d + j]);
        if (!isfinite(y[i]))
            return uh_error_set(err, UH_EINVAL, "predictor: y row %d is %g; targets must be finite",
                                i, y[i]);
    }
    return UH_OK;
}

static int check_folds(int folds, uh_error_t *err) {
    if (folds < 2 || folds > UH_PRED_MAX_FOLDS)
        return uh_error_set(err, UH_EINVAL, "predictor: %d folds outside 2…%d", folds,
                            UH_PRED_MAX_FOLDS);
    return UH_OK;
}

/* Fills the zero fields of opts with defaults and checks the rest. */
static int resolve_opts(const uh_pred_opts_t *in, uh_pred_opts_t *o, uh_error_t *err) {
    memset(o, 0, sizeof *o);
    if (in) *o = *in;
    if (!o->hidden) o->hidden = UH_PRED_DEFAULT_HIDDEN;
    if (!o->steps) o->steps = UH_PRED_DEFAULT_STEPS;
    if (!o->lr) o->lr = UH_PRED_DEFAULT_LR;
    if (!o->folds) o->folds = UH_PRED_DEFAULT_FOLDS;
    /* Written as !(x >= 0) so that NaN is refused too. */
    if (!(o->lambda >= 0) || !isfinite(o->lambda) || !(o->bw_factor >= 0) ||
        !isfinite(o->bw_factor) || !(o->weight_decay >= 0) || !isfinite(o->weight_decay))
        return uh_error_set(err, UH_EINVAL,
                            "predictor: λ, bandwidth factor and weight decay must be finite and "
                            "≥ 0 (0 = cross-validate)");
    if (!(o->lr > 0) || !isfinite(o->lr))
        return uh_error_set(err, UH_EINVAL, "predictor: MLP step size %g must be > 0", o->lr);
    if (o->hidden < 1 || o->hidden > UH_PRED_MAX_HIDDEN)
        return uh_error_set(err, UH_EINVAL, "predictor: %d hidden units outside 1…%d", o->hidden,
                            UH_PRED_MAX_HIDDEN);
    if (o->steps < 1 || o->steps > UH_PRED_MAX_STEPS)
        return uh_error_set(err, UH_EINVAL, "predictor: %d MLP steps outside 1…%d", o->steps,
                            UH_PRED_MAX_STEPS);
    return check_folds(o->folds, err);
}

/* Column means and inverse standard deviations over the given rows (all when rows is NULL),
 * and the target's mean and scale. A column constant over these rows gets inv_sd 0: it
 * cannot inform the fit, and weighting it at prediction time would be a guess. Returns 0
 * when there is nothing to learn (the target or every column is constant). */
static int fit_scaling(const double *X, const double *y, const int *rows, int nr, int d, double *mu,
                       double *inv_sd, double *y_mean, double *y_scale) {
    for (int j = 0; j < d; j++) mu[j] = inv_sd[j] = 0;
    double ym = 0;
    for (int r = 0; r < nr; r++) {
        int i = rows ? rows[r] : r;
        for (int j = 0; j < d; j++) mu[j] += X[(size_t)i * d + j];
        ym += y[i];
    }
    for (int j = 0; j < d; j++) mu[j] /= nr;
    ym /= nr;
    /* Two passes: sums of squared deviations do not cancel the way Σx² − n·x̄² does. */
    double yv = 0;
    for (int r = 0; r < nr; r++) {
        int i = rows ? rows[r] : r;
        for (int j = 0; j < d; j++) {
            double dx = X[(size_t)i * d + j] - mu[j];
            inv_sd[j] += dx * dx;
        }
        yv += (y[i] - ym) * (y[i] - ym);
    }
    int varies = 0;
    for (int j = 0; j < d; j++) {
        double sd = sqrt(inv_sd[j] / nr);
        /* Relative threshold: the mean of equal values can be off by an ulp, leaving a
         * "spread" of rounding noise. */
        inv_sd[j] = sd > 1e-12 * fabs(mu[j]) ? 1.0 / sd : 0.0;
        varies |= inv_sd[j] != 0;
    }
    double ysd = sqrt(yv / nr);
    int y_varies = ysd > 1e-12 * fabs(ym);
    *y_mean = ym;
    *y_scale = y_varies ? ysd : 1.0;
    return varies && y_varies;
}

/* *yes = 1 when the target and at least one column vary over all n rows. */
static int learnable(const double *X, const double *y, int n, int d, int *yes, uh_error_t *err) {
    double *mu = malloc((size_t)d * sizeof *mu), *inv_sd = malloc((size_t)d * sizeof *inv_sd);
    double ym, ys;
    if (!mu || !inv_sd) {
        free(mu);
        free(inv_sd);
        return uh_error_set(err, UH_ENOMEM, "predictor: out of memory");
    }
    *yes = fit_scaling(X, y, NULL, n, d, mu, inv_sd, &ym, &ys);
    free(mu);
    free(inv_sd);
    return UH_OK;
}

static void apply_scaling(const double *X, const int *rows, int nr, int d, const double *mu,
                          const double *inv_sd, double *Z) {
    for (int r = 0; r < nr; r++) {
        const double *x = X + (size_t)(rows ? rows[r] : r) * d;
        double *z = Z + (size_t)r * d;
        for (int j = 0; j < d; j++) z[j] = inv_sd[j] == 0 ? 0 : (x[j] - mu[j]) * inv_sd[j];
    }
}

void uh_predictor_free(uh_predictor_t *p) {
    if (!p) return;
    free(p->mu);
    free(p->inv_sd);
    free(p->w);
    free(p->Z);
    free(p->alpha);
    free(p->theta);
    free(p);
}

/* Fits one model with fixed hyper-parameters on all n rows. */
static int fit_fixed(const double *X, const double *y, int n, int d, const uh_pred_params_t *hp,
                     uint64_t seed, uh_predictor_t **out, uh_error_t *err) {
    *out = NULL;
    uh_predictor_t *p = calloc(1, sizeof *p);
    double *Z = NULL, *t = NULL;
    int rc = UH_OK;
    if (!p || !(p->mu = malloc((size_t)d * sizeof *p->mu)) ||
        !(p->inv_sd = malloc((size_t)d * sizeof *p->inv_sd))) {
        rc = uh_error_set(err, UH_ENOMEM, "predictor: out of memory");
        goto fail;
    }
    p->d = d;
    p->params = *hp;
    /* With nothing to learn every kind would at best rediscover the mean, and an MLP would
     * only approach it: say so in the kind. */
    if (!fit_scaling(X, y, NULL, n, d, p->mu, p->inv_sd, &p->y_mean, &p->y_scale))
        p->params = (uh_pred_params_t){.kind = UH_PRED_MEAN};
    if (p->params.kind == UH_PRED_MEAN) {
        *out = p;
        return UH_OK;
    }
    Z = malloc((size_t)n * d * sizeof *Z);
    t = malloc((size_t)n * sizeof *t);
    if (!Z || !t) {
        rc = uh_error_set(err, UH_ENOMEM, "predictor: out of memory for %d×%d features", n, d);
        goto fail;
    }
    apply_scaling(X, NULL, n, d, p->mu, p->inv_sd, Z);
    for (int i = 0; i < n; i++) t[i] = (y[i] - p->y_mean) / p->y_scale;
    switch (hp->kind) {
    case UH_PRED_RIDGE:
        if (!(p->w = malloc((size_t)d * sizeof *p->w))) {
            rc = uh_error_set(err, UH_ENOMEM, "predictor: out of memory");
            goto fail;
        }
        rc = uh_pred_ridge_grid(Z, t, n, d, &hp->lambda, 1, p->w, err);
        break;
    case UH_PRED_KERNEL: {
        double h0;
        if (!(p->alpha = malloc((size_t)n * sizeof *p->alpha))) {
            rc = uh_error_set(err, UH_ENOMEM, "predictor: out of memory");
            goto fail;
        }
        rc = uh_pred_median_distance(Z, n, d, &h0, err);
        if (rc) goto fail;
        p->params.bandwidth = hp->bw_factor * h0;
        rc = uh_pred_kernel_grid(Z, t, n, d, h0, &hp->bw_factor, &hp->lambda, 1, NULL, 0, NULL,
                                 p->alpha, err);
        /* Prediction measures distances to every training row. */
        p->Z = Z;
        p->n = n;
        Z = NULL;
        break;
    }
    case UH_PRED_MLP: {
        uh_rng_t rng;
        uh_rng_seed_stream(&rng, seed, STREAM_MLP);
        if (!(p->theta = malloc(uh_pred_mlp_size(hp->hidden, d) * sizeof *p->theta))) {
            rc = uh_error_set(err, UH_ENOMEM, "predictor: out of memory");
            goto fail;
        }
        rc = uh_pred_mlp_train(Z, t, n, d, hp, &rng, p->theta, err);
        break;
    }
    default:
        rc = uh_error_set(err, UH_EINVAL, "predictor: unknown kind %d", (int)hp->kind);
    }
    if (rc) goto fail;
    free(Z);
    free(t);
    *out = p;
    return UH_OK;
fail:
    free(Z);
    free(t);
    uh_predictor_free(p);
    return rc;
}

double uh_predictor_predict(const uh_predictor_t *p, const double *x) {
    double z[UH_PRED_MAX_D];
    for (int j = 0; j < p->d; j++) {
        if (!isfinite(x[j])) return NAN;
        z[j] = p->inv_sd[j] == 0 ? 0 : (x[j] - p->mu[j]) * p->inv_sd[j];
    }
    double f = 0;
    switch (p->params.kind) {
    case UH_PRED_RIDGE:
        for (int j = 0; j < p->d; j++) f += p->w[j] * z[j];
        break;
    case UH_PRED_KERNEL:
        f = uh_pred_kernel_eval(p->Z, p->alpha, p->n, p->d, p->params.bandwidth, z);
        break;
    case UH_PRED_MLP:
        f = uh_pred_mlp_eval(p->theta, p->params.hidden, p->d, z);
        break;
    default:
        break;
    }
    return p->y_mean + p->y_scale * f;
}

void uh_predictor_predict_many(const uh_predictor_t *p, const double *X, int m, double *out) {
    for (int i = 0; i < m; i++) out[i] = uh_predictor_predict(p, X + (size_t)i * p->d);
}

const uh_pred_params_t *uh_predictor_params(const uh_predictor_t *p) {
    return &p->params;
}

int uh_predictor_dim(const uh_predictor_t *p) {
    return p->d;
}

/* The candidates cross-validation tries for kind: the grid over what opts leaves at 0, the
 * value given otherwise. Returns the count. */
static int build_grid(uh_pred_kind_t kind, const uh_pred_opts_t *o, uh_pred_params_t *grid) {
    uh_pred_params_t base = {.kind = kind};
    int ng = 0;
    switch (kind) {
    case UH_PRED_RIDGE:
        for (int l = 0; l < NELEM(RIDGE_LAMBDAS) && (l == 0 || !o->lambda); l++) {
            grid[ng] = base;
            grid[ng++].lambda = o->lambda ? o->lambda : RIDGE_LAMBDAS[l];
        }
        break;
    case UH_PRED_KERNEL:
        for (int f = 0; f < NELEM(KERNEL_FACTORS) && (f == 0 || !o->bw_factor); f++)
            for (int l = 0; l < NELEM(KERNEL_LAMBDAS) && (l == 0 || !o->lambda); l++) {
                grid[ng] = base;
                grid[ng].bw_factor = o->bw_factor ? o->bw_factor : KERNEL_FACTORS[f];
                grid[ng++].lambda = o->lambda ? o->lambda : KERNEL_LAMBDAS[l];
            }
        break;
    case UH_PRED_MLP:
        for (int w = 0; w < NELEM(MLP_DECAYS) && (w == 0 || !o->weight_decay); w++) {
            grid[ng] = base;
            grid[ng].hidden = o->hidden;
            grid[ng].steps = o->steps;
            grid[ng].lr = o->lr;
            grid[ng++].weight_decay = o->weight_decay ? o->weight_decay : MLP_DECAYS[w];
        }
        break;
    default:
        grid[ng++] = base;
    }
    return ng;
}

/* The hyper-parameters used without cross-validation: the given ones, defaults for the rest. */
static uh_pred_params_t default_params(uh_pred_kind_t kind, const uh_pred_opts_t *o) {
    uh_pred_params_t hp = {.kind = kind};
    if (kind == UH_PRED_RIDGE || kind == UH_PRED_KERNEL)
        hp.lambda = o->lambda ? o->lambda : DEFAULT_LAMBDA;
    if (kind == UH_PRED_KERNEL) hp.bw_factor = o->bw_factor ? o->bw_factor : DEFAULT_FACTOR;
    if (kind == UH_PRED_MLP) {
        hp.weight_decay = o->weight_decay ? o->weight_decay : DEFAULT_DECAY;
        hp.hidden = o->hidden;
        hp.steps = o->steps;
        hp.lr = o->lr;
    }
    return hp;
}

/* Row i goes to fold fold[i]: a seeded shuffle dealt round-robin, so fold sizes differ by at
 * most one and the assignment depends on nothing but (n, k, seed). */
static int assign_folds(int n, int k, uint64_t seed, int *fold, uh_error_t *err) {
    int *perm = malloc((size_t)n * sizeof *perm);
    if (!perm) return uh_error_set(err, UH_ENOMEM, "predictor: out of memory");
    for (int i = 0; i < n; i++) perm[i] = i;
    uh_rng_t rng;
    uh_rng_seed_stream(&rng, seed, STREAM_FOLDS);
    uh_rng_shuffle(&rng, perm, n);
    for (int i = 0; i < n; i++) fold[perm[i]] = i % k;
    free(perm);
    return UH_OK;
}

typedef struct {
    const double *X, *y;
    int n, d, k;
    const int *fold;
    uint64_t seed;
} cv_t;

/* Mean squared error, in y's units, of each of the ng grid points (all of one kind) on each
 * fold: fold_mse[g·k + f]; +inf where the fit failed numerically. */
static int cv_grid(const cv_t *cv, const uh_pred_params_t *grid, int ng, double *fold_mse,
                   uh_error_t *err) {
    const int n = cv->n, d = cv->d;
    const uh_pred_kind_t kind = grid[0].kind;
    int *tr = malloc((size_t)n * sizeof *tr), *te = malloc((size_t)n * sizeof *te);
    double *mu = malloc((size_t)d * sizeof *mu), *inv_sd = malloc((size_t)d * sizeof *inv_sd);
    double *Ztr = malloc((size_t)n * d * sizeof *Ztr), *Zte = malloc((size_t)n * d * sizeof *Zte);
    double *t = malloc((size_t)n * sizeof *t), *pred = malloc((size_t)ng * n * sizeof *pred);
    size_t nw = kind == UH_PRED_MLP ? uh_pred_mlp_size(grid[0].hidden, d) : (size_t)ng * d;
    double *W = malloc(nw * sizeof *W);
    double lambdas[MAX_GRID], factors[MAX_GRID];
    int rc = UH_OK;
    if (!tr || !te || !mu || !inv_sd || !Ztr || !Zte || !t || !pred || !W) {
        rc = uh_error_set(err, UH_ENOMEM, "predictor: out of memory for cross-validation");
        goto done;
    }
    for (int g = 0; g < ng; g++) {
        lambdas[g] = grid[g].lambda;
        factors[g] = grid[g].bw_factor;
    }
    for (int f = 0; f < cv->k; f++) {
        int ntr = 0, nte = 0;
        for (int i = 0; i < n; i++) {
            if (cv->fold[i] == f)
                te[nte++] = i;
            else
                tr[ntr++] = i;
        }
        double ym, ys;
        fit_scaling(cv->X, cv->y, tr, ntr, d, mu, inv_sd, &ym, &ys);
        apply_scaling(cv->X, tr, ntr, d, mu, inv_sd, Ztr);
        apply_scaling(cv->X, te, nte, d, mu, inv_sd, Zte);
        for (int r = 0; r < ntr; r++) t[r] = (cv->y[tr[r]] - ym) / ys;
        switch (kind) {
        case UH_PRED_RIDGE:
            rc = uh_pred_ridge_grid(Ztr, t, ntr, d, lambdas, ng, W, err);
            if (rc) goto done;
            for (int g = 0; g < ng; g++)
                for (int r = 0; r < nte; r++) {
                    double s = 0;
                    for (int j = 0; j < d; j++) s += W[(size_t)g * d + j] * Zte[(size_t)r * d + j];
                    pred[(size_t)g * nte + r] = s;
                }
            break;
        case UH_PRED_KERNEL: {
            double h0;
            rc = uh_pred_median_distance(Ztr, ntr, d, &h0, err);
            if (rc) goto done;
            rc = uh_pred_kernel_grid(Ztr, t, ntr, d, h0, factors, lambdas, ng, Zte, nte, pred, NULL,
                                     err);
            if (rc) goto done;
            break;
        }
        case UH_PRED_MLP:
            for (int g = 0; g < ng; g++) {
                /* The same initialisation for every grid point of a fold: the comparison is
                 * between penalties, not between lucky draws. */
                uh_rng_t rng;
                uh_rng_seed_stream(&rng, cv->seed, STREAM_MLP_CV + (uint64_t)f);
                rc = uh_pred_mlp_train(Ztr, t, ntr, d, &grid[g], &rng, W, err);
                if (rc) goto done;
                for (int r = 0; r < nte; r++)
                    pred[(size_t)g * nte + r] =
                        uh_pred_mlp_eval(W, grid[g].hidden, d, Zte + (size_t)r * d);
            }
            break;
        default:
            for (int r = 0; r < ng * nte; r++) pred[r] = 0;
        }
        for (int g = 0; g < ng; g++) {
            double sse = 0;
            for (int r = 0; r < nte; r++) {
                double e = ym + ys * pred[(size_t)g * nte + r] - cv->y[te[r]];
                sse += e * e;
            }
            fold_mse[g * cv->k + f] = isfinite(sse) ? sse / nte : INFINITY;
        }
    }
done:
    free(tr);
    free(te);
    free(mu);
    free(inv_sd);
    free(Ztr);
    free(Zte);
    free(t);
    free(pred);
    free(W);
    return rc;
}

/* The grid point with the lowest mean fold error, its mean and standard error; -1 when every
 * point failed. */
static int best_point(const double *fold_mse, int ng, int k, double *mse, double *se) {
    int best = -1;
    for (int g = 0; g < ng; g++) {
        double m = 0, v = 0;
        for (int f = 0; f < k; f++) m += fold_mse[g * k + f];
        m /= k;
        if (!isfinite(m) || (best >= 0 && !(m < *mse))) continue;
        for (int f = 0; f < k; f++) v += (fold_mse[g * k + f] - m) * (fold_mse[g * k + f] - m);
        best = g;
        *mse = m;
        *se = sqrt(v / (k - 1) / k);
    }
    return best;
}

/* Cross-validates kind over grid; the winning point goes to *hp. */
static int cv_choose(const cv_t *cv, const uh_pred_params_t *grid, int ng, uh_pred_params_t *hp,
                     double *mse, double *se, uh_error_t *err) {
    double *fold_mse = malloc((size_t)ng * cv->k * sizeof *fold_mse);
    if (!fold_mse) return uh_error_set(err, UH_ENOMEM, "predictor: out of memory");
    int rc = cv_grid(cv, grid, ng, fold_mse, err);
    if (rc == UH_OK) {
        int g = best_point(fold_mse, ng, cv->k, mse, se);
        if (g < 0)
            rc = uh_error_set(err, UH_EINVAL,
                              "predictor: every %s fit failed numerically in cross-validation",
                              uh_pred_kind_name(grid[0].kind));
        else
            *hp = grid[g];
    }
    free(fold_mse);
    return rc;
}

static int check_kind_rows(uh_pred_kind_t kind, int n, uh_error_t *err) {
    if (kind == UH_PRED_KERNEL && n > UH_PRED_KERNEL_MAX_N)
        return uh_error_set(err, UH_ELIMIT,
                            "predictor: kernel ridge on %d rows exceeds its limit of %d (it "
                            "factors an n×n matrix)",
                            n, UH_PRED_KERNEL_MAX_N);
    return UH_OK;
}

int uh_predictor_fit(uh_pred_kind_t kind, const double *X, const double *y, int n, int d,
                     const uh_pred_opts_t *opts, uint64_t seed, uh_predictor_t **out,
                     uh_error_t *err) {
    if (!out) return uh_error_set(err, UH_EINVAL, "predictor: no output pointer");
    *out = NULL;
    if ((unsigned)kind >= UH_PRED_NKINDS)
        return uh_error_set(err, UH_EINVAL, "predictor: unknown kind %d", (int)kind);
    uh_pred_opts_t o;
    int rc = check_data(X, y, n, d, err);
    if (!rc) rc = resolve_opts(opts, &o, err);
    if (!rc) rc = check_kind_rows(kind, n, err);
    if (rc) return rc;
    uh_pred_params_t grid[MAX_GRID], hp;
    int ng = build_grid(kind, &o, grid), can_learn = 0;
    if ((rc = learnable(X, y, n, d, &can_learn, err))) return rc;
    /* fit_fixed turns a fit with nothing to learn into the mean; no need to tune it first. */
    if (ng == 1 || !can_learn) return fit_fixed(X, y, n, d, &grid[0], seed, out, err);
    if (n < MIN_CV_ROWS || n < o.folds) {
        hp = default_params(kind, &o);
        return fit_fixed(X, y, n, d, &hp, seed, out, err);
    }
    int *fold = malloc((size_t)n * sizeof *fold);
    if (!fold) return uh_error_set(err, UH_ENOMEM, "predictor: out of memory");
    double mse, se;
    cv_t cv = {X, y, n, d, o.folds, fold, seed};
    rc = assign_folds(n, o.folds, seed, fold, err);
    if (!rc) rc = cv_choose(&cv, grid, ng, &hp, &mse, &se, err);
    free(fold);
    if (rc) return rc;
    return fit_fixed(X, y, n, d, &hp, seed, out, err);
}

/* Appends a printf-style fragment to report->note, truncating quietly. */
static void note_add(uh_pred_cv_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note_add(uh_pred_cv_t *r, const char *fmt, ...) {
    size_t len = strlen(r->note);
    if (len + 1 >= sizeof r->note) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->note + len, sizeof r->note - len, fmt, ap);
    va_end(ap);
}

int uh_predictor_fit_best(const double *X, const double *y, int n, int d, int folds, uint64_t seed,
                          uh_predictor_t **out, uh_pred_cv_t *report, uh_error_t *err) {
    if (!out) return uh_error_set(err, UH_EINVAL, "predictor: no output pointer");
    *out = NULL;
    uh_pred_cv_t local;
    uh_pred_cv_t *r = report ? report : &local;
    memset(r, 0, sizeof *r);
    for (int k = 0; k < UH_PRED_NKINDS; k++) r->cv_mse[k] = r->cv_se[k] = NAN;
    if (folds == 0) folds = UH_PRED_DEFAULT_FOLDS;
    uh_pred_opts_t o;
    int rc = check_data(X, y, n, d, err);
    if (!rc) rc = check_folds(folds, err);
    if (!rc) rc = resolve_opts(NULL, &o, err);
    if (rc) return rc;

    if (n < MIN_CV_ROWS || n < folds) {
        uh_pred_kind_t kind = n == 1 ? UH_PRED_MEAN : UH_PRED_RIDGE;
        uh_pred_params_t hp = default_params(kind, &o);
        r->fallback = 1;
        snprintf(r->note, sizeof r->note, "%d rows are too few for %d-fold cross-validation: %s", n,
                 folds, n == 1 ? "mean of the one row" : "ridge with the default λ = 0.01");
        rc = fit_fixed(X, y, n, d, &hp, seed, out, err);
        if (!rc) r->chosen = (*out)->params;
        return rc;
    }
    int can_learn = 0;
    if ((rc = learnable(X, y, n, d, &can_learn, err))) return rc;
    if (!can_learn) {
        /* Any fit would be the mean: no point cross-validating. */
        uh_pred_params_t hp = {.kind = UH_PRED_MEAN};
        r->fallback = 1;
        snprintf(r->note, sizeof r->note,
                 "the target or every feature is constant: mean predictor");
        rc = fit_fixed(X, y, n, d, &hp, seed, out, err);
        if (!rc) r->chosen = (*out)->params;
        return rc;
    }

    int *fold = malloc((size_t)n * sizeof *fold);
    if (!fold) return uh_error_set(err, UH_ENOMEM, "predictor: out of memory");
    rc = assign_folds(n, folds, seed, fold, err);
    cv_t cv = {X, y, n, d, folds, fold, seed};
    uh_pred_params_t best[UH_PRED_NKINDS];
    r->folds = folds;
    for (int k = 0; k < UH_PRED_NKINDS && !rc; k++) {
        if (k == UH_PRED_KERNEL && n > UH_PRED_KERNEL_MAX_N) continue;
        uh_pred_params_t grid[MAX_GRID];
        int ng = build_grid((uh_pred_kind_t)k, &o, grid);
        rc = cv_choose(&cv, grid, ng, &best[k], &r->cv_mse[k], &r->cv_se[k], err);
    }
    free(fold);
    if (rc) return rc;

    int lowest = UH_PRED_MEAN;
    for (int k = 0; k < UH_PRED_NKINDS; k++)
        if (r->cv_mse[k] < r->cv_mse[lowest]) lowest = k;
    int pick = lowest;
    if (lowest != UH_PRED_MEAN) {
        /* The one-standard-error rule, in order of simplicity (enum order). */
        double bar = r->cv_mse[lowest] + r->cv_se[lowest];
        for (int k = UH_PRED_RIDGE; k < lowest; k++)
            if (r->cv_mse[k] <= bar) {
                pick = k;
                break;
            }
    }
    rc = fit_fixed(X, y, n, d, &best[pick], seed, out, err);
    if (rc) return rc;
    r->chosen = (*out)->params;

    note_add(r, "%d-fold CV MSE:", folds);
    for (int k = 0; k < UH_PRED_NKINDS; k++)
        if (!isnan(r->cv_mse[k])) note_add(r, " %s %.4g", uh_pred_kind_name(k), r->cv_mse[k]);
    if (n > UH_PRED_KERNEL_MAX_N) note_add(r, " (kernel skipped: n > %d)", UH_PRED_KERNEL_MAX_N);
    note_add(r, "; chose %s", uh_pred_kind_name(pick));
    if (pick != lowest)
        note_add(r, " (within one standard error of %s)", uh_pred_kind_name(lowest));
    return UH_OK;
}
