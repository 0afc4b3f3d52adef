/* Surrogate predictors: ridge matches its closed form and recovers exact linear models, the
 * nonlinear models fit what a line cannot, model selection picks accordingly, the same seed
 * gives the same bits, and bad input is refused with the place named. */
#include "common.h"

#include "uhnas/predict.h"
#include "uhnas/rng.h"

/* Uniform rows in [lo, hi)^d. */
static double *uniform_rows(uh_rng_t *rng, int n, int d, double lo, double hi) {
    double *X = malloc((size_t)n * d * sizeof *X);
    assert_non_null(X);
    for (int i = 0; i < n * d; i++) X[i] = lo + (hi - lo) * uh_rng_uniform(rng);
    return X;
}

static double wave(const double *x) {
    return sin(2.0 * x[0]) + x[1] * x[1];
}

static double *targets(const double *X, int n, int d, double (*f)(const double *)) {
    double *y = malloc((size_t)n * sizeof *y);
    assert_non_null(y);
    for (int i = 0; i < n; i++) y[i] = f(X + (size_t)i * d);
    return y;
}

/* Mean squared error of p on rows X against f. */
static double test_mse(const uh_predictor_t *p, const double *X, int m, int d,
                       double (*f)(const double *)) {
    double s = 0;
    for (int i = 0; i < m; i++) {
        double e = uh_predictor_predict(p, X + (size_t)i * d) - f(X + (size_t)i * d);
        s += e * e;
    }
    return s / m;
}

static uh_predictor_t *fit(uh_pred_kind_t kind, const double *X, const double *y, int n, int d,
                           const uh_pred_opts_t *o, uint64_t seed) {
    uh_predictor_t *p = NULL;
    uh_error_t err = {0};
    if (uh_predictor_fit(kind, X, y, n, d, o, seed, &p, &err) != UH_OK) {
        print_error("%s fit: %s\n", uh_pred_kind_name(kind), err.msg);
        fail();
    }
    return p;
}

static void test_kind_names(void **state) {
    (void)state;
    assert_string_equal(uh_pred_kind_name(UH_PRED_RIDGE), "ridge");
    assert_string_equal(uh_pred_kind_name(UH_PRED_KERNEL), "kernel");
    assert_string_equal(uh_pred_kind_name(UH_PRED_MLP), "mlp");
    assert_string_equal(uh_pred_kind_name(UH_PRED_MEAN), "mean");
    assert_string_equal(uh_pred_kind_name(UH_PRED_NKINDS), "?");
}

/* Three points, one feature, λ = 0.5 per sample, worked by hand:
 *   x = (1, 2, 3), y = (1, 3, 2): x̄ = 2, ȳ = 2, s = √(2/3) (population sd)
 *   z = (x − x̄)/s = (−√1.5, 0, √1.5), ZᵀZ = 3, Zᵀ(y − ȳ) = (−√1.5)(−1) + 0 + √1.5·0 = √1.5
 *   w = Zᵀ(y − ȳ) / (ZᵀZ + nλ) = √1.5 / 4.5
 *   prediction at x = 4: ȳ + w·(4 − 2)/s = 2 + (√1.5/4.5)·√6 = 2 + 3/4.5 = 8/3. */
static void test_ridge_closed_form(void **state) {
    (void)state;
    const double X[] = {1, 2, 3}, y[] = {1, 3, 2};
    uh_pred_opts_t o = {.lambda = 0.5};
    uh_predictor_t *p = fit(UH_PRED_RIDGE, X, y, 3, 1, &o, 1);
    assert_int_equal(uh_predictor_params(p)->kind, UH_PRED_RIDGE);
    assert_true(uh_predictor_params(p)->lambda == 0.5);
    double x4 = 4, x0 = 0, x2 = 2;
    assert_true(fabs(uh_predictor_predict(p, &x4) - 8.0 / 3.0) < 1e-12);
    assert_true(fabs(uh_predictor_predict(p, &x0) - 4.0 / 3.0) < 1e-12);
    assert_true(fabs(uh_predictor_predict(p, &x2) - 2.0) < 1e-12);
    uh_predictor_free(p);
}

/* Noiseless linear data on features of very different scales and offsets: the coefficients
 * come back, read off as differences of predictions along each axis. */
static void test_ridge_recovers_linear(void **state) {
    (void)state;
    enum { N = 60, D = 4 };
    const double coef[D] = {2.0, -1.0, 0.5, 0.0}, scale[D] = {1, 100, 0.01, 5},
                 offset[D] = {0, 1000, -0.03, 7};
    uh_rng_t rng;
    uh_rng_seed(&rng, 11);
    double X[N * D], y[N];
    for (int i = 0; i < N; i++) {
        y[i] = 3.0;
        for (int j = 0; j < D; j++) {
            X[i * D + j] = offset[j] + scale[j] * uh_rng_normal(&rng);
            y[i] += coef[j] * X[i * D + j];
        }
    }
    uh_predictor_t *p = fit(UH_PRED_RIDGE, X, y, N, D, NULL, 5);
    assert_true(uh_predictor_params(p)->lambda <= 1e-6); /* CV picks a vanishing penalty */
    double base[D] = {0}, e[D];
    double f0 = uh_predictor_predict(p, base);
    assert_true(fabs(f0 - 3.0) < 1e-6);
    for (int j = 0; j < D; j++) {
        memcpy(e, base, sizeof e);
        e[j] = 1;
        double got = uh_predictor_predict(p, e) - f0;
        if (fabs(got - coef[j]) > 1e-6) {
            print_error("coefficient %d: %.12g, want %g\n", j, got, coef[j]);
            fail();
        }
    }
    uh_predictor_free(p);
}

/* Systems larger than the plain-loop threshold go through LAPACK: the same answers. */
static void test_large_systems(void **state) {
    (void)state;
    enum { N = 500, D = 420 };
    uh_rng_t rng;
    uh_rng_seed(&rng, 21);
    double *X = malloc((size_t)N * D * sizeof *X), *y = calloc(N, sizeof *y), c[D];
    assert_non_null(X);
    assert_non_null(y);
    for (int j = 0; j < D; j++) c[j] = uh_rng_normal(&rng);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) {
            X[(size_t)i * D + j] = uh_rng_normal(&rng);
            y[i] += c[j] * X[(size_t)i * D + j];
        }
    uh_pred_opts_t o = {.lambda = 1e-12};
    uh_predictor_t *p = fit(UH_PRED_RIDGE, X, y, N, D, &o, 1);
    for (int i = 0; i < N; i += 37)
        assert_true(fabs(uh_predictor_predict(p, X + (size_t)i * D) - y[i]) < 1e-6);
    uh_predictor_free(p);

    /* Kernel ridge on 450 rows of a sine: interpolates the rows it was given. */
    for (int i = 0; i < 450; i++) {
        X[i] = -3.0 + 6.0 * uh_rng_uniform(&rng);
        y[i] = sin(X[i]);
    }
    o = (uh_pred_opts_t){.lambda = 1e-8, .bw_factor = 0.5};
    p = fit(UH_PRED_KERNEL, X, y, 450, 1, &o, 1);
    for (int i = 0; i < 450; i += 17)
        assert_true(fabs(uh_predictor_predict(p, X + i) - y[i]) < 1e-4);
    double half = 0.5;
    assert_true(fabs(uh_predictor_predict(p, &half) - sin(0.5)) < 1e-4);
    uh_predictor_free(p);
    free(X);
    free(y);
}

static double sine(const double *x) {
    return sin(x[0]);
}

/* A sine over a full period: kernel ridge interpolates it, a line cannot. */
static void test_kernel_interpolates(void **state) {
    (void)state;
    enum { N = 60, M = 200 };
    uh_rng_t rng;
    uh_rng_seed(&rng, 3);
    double *X = uniform_rows(&rng, N, 1, -3.0, 3.0), *y = targets(X, N, 1, sine);
    double Xt[M];
    for (int i = 0; i < M; i++) Xt[i] = -2.8 + 5.6 * i / (M - 1);
    uh_predictor_t *k = fit(UH_PRED_KERNEL, X, y, N, 1, NULL, 1);
    uh_predictor_t *r = fit(UH_PRED_RIDGE, X, y, N, 1, NULL, 1);
    double mk = test_mse(k, Xt, M, 1, sine), mr = test_mse(r, Xt, M, 1, sine);
    print_message("kernel MSE %.3g (h %.3g, λ %g), ridge MSE %.3g\n", mk,
                  uh_predictor_params(k)->bandwidth, uh_predictor_params(k)->lambda, mr);
    assert_true(mk < 1e-4);
    assert_true(mr > 0.1);
    /* A training point is reproduced. */
    assert_true(fabs(uh_predictor_predict(k, X) - y[0]) < 1e-3);
    uh_predictor_free(k);
    uh_predictor_free(r);
    free(X);
    free(y);
}

static void test_mlp_beats_ridge(void **state) {
    (void)state;
    enum { N = 200, M = 300, D = 2 };
    uh_rng_t rng;
    uh_rng_seed(&rng, 4);
    double *X = uniform_rows(&rng, N, D, -1.5, 1.5), *y = targets(X, N, D, wave);
    double *Xt = uniform_rows(&rng, M, D, -1.4, 1.4);
    /* One fixed decay: the cross-validated choice is exercised by the fit_best tests. */
    uh_pred_opts_t o = {.weight_decay = 1e-3};
    uh_predictor_t *m = fit(UH_PRED_MLP, X, y, N, D, &o, 9);
    uh_predictor_t *r = fit(UH_PRED_RIDGE, X, y, N, D, NULL, 9);
    double mm = test_mse(m, Xt, M, D, wave), mr = test_mse(r, Xt, M, D, wave);
    print_message("mlp MSE %.3g (decay %g), ridge MSE %.3g\n", mm,
                  uh_predictor_params(m)->weight_decay, mr);
    assert_int_equal(uh_predictor_params(m)->hidden, UH_PRED_DEFAULT_HIDDEN);
    assert_true(mm < 0.2 * mr);
    assert_true(mm < 0.05);
    uh_predictor_free(m);
    uh_predictor_free(r);
    free(X);
    free(y);
    free(Xt);
}

static void test_fit_best_nonlinear(void **state) {
    (void)state;
    enum { N = 150, D = 2 };
    uh_rng_t rng;
    uh_rng_seed(&rng, 5);
    double *X = uniform_rows(&rng, N, D, -1.5, 1.5), *y = targets(X, N, D, wave);
    uh_predictor_t *p = NULL;
    uh_pred_cv_t rep;
    uh_error_t err = {0};
    assert_int_equal(uh_predictor_fit_best(X, y, N, D, 5, 7, &p, &rep, &err), UH_OK);
    print_message("%s\n", rep.note);
    assert_int_equal(rep.folds, 5);
    assert_int_equal(rep.fallback, 0);
    for (int k = 0; k < UH_PRED_NKINDS; k++) assert_true(isfinite(rep.cv_mse[k]));
    assert_true(rep.chosen.kind == UH_PRED_KERNEL || rep.chosen.kind == UH_PRED_MLP);
    assert_int_equal(uh_predictor_params(p)->kind, rep.chosen.kind);
    assert_true(rep.cv_mse[rep.chosen.kind] < 0.2 * rep.cv_mse[UH_PRED_RIDGE]);
    assert_true(rep.cv_mse[UH_PRED_RIDGE] < rep.cv_mse[UH_PRED_MEAN]);
    assert_non_null(strstr(rep.note, "chose"));
    uh_predictor_free(p);
    free(X);
    free(y);
}

static double noisy_line_coef(int j) {
    return 0.5 * (j + 1) * (j % 2 ? -1 : 1);
}

static void test_fit_best_linear(void **state) {
    (void)state;
    enum { N = 120, D = 5 };
    uh_rng_t rng;
    uh_rng_seed(&rng, 6);
    double *X = uniform_rows(&rng, N, D, -2, 2), y[N];
    for (int i = 0; i < N; i++) {
        y[i] = 0.3 * uh_rng_normal(&rng);
        for (int j = 0; j < D; j++) y[i] += noisy_line_coef(j) * X[i * D + j];
    }
    uh_predictor_t *p = NULL;
    uh_pred_cv_t rep;
    uh_error_t err = {0};
    assert_int_equal(uh_predictor_fit_best(X, y, N, D, 0, 8, &p, &rep, &err), UH_OK);
    print_message("%s\n", rep.note);
    assert_int_equal(rep.folds, UH_PRED_DEFAULT_FOLDS);
    assert_int_equal(rep.chosen.kind, UH_PRED_RIDGE);
    /* The noise variance is 0.09; ridge's CV error should be close to it. */
    assert_true(rep.cv_mse[UH_PRED_RIDGE] < 0.15);
    uh_predictor_free(p);
    free(X);
}

/* Same data and seed: the same bits, for every kind and for the selection. */
static void test_deterministic(void **state) {
    (void)state;
    enum { N = 80, M = 50, D = 3 };
    uh_rng_t rng;
    uh_rng_seed(&rng, 12);
    double *X = uniform_rows(&rng, N, D, -1, 1), *y = targets(X, N, D, wave);
    double *Xt = uniform_rows(&rng, M, D, -1, 1);
    double a[M], b[M];
    /* The MLP's decay fixed to keep this quick; ridge and kernel still cross-validate. */
    const uh_pred_opts_t fixed = {.weight_decay = 1e-3};
    for (int k = 0; k <= UH_PRED_NKINDS; k++) {
        uh_predictor_t *p = NULL, *q = NULL;
        uh_error_t err = {0};
        if (k == UH_PRED_NKINDS) { /* fit_best */
            assert_int_equal(uh_predictor_fit_best(X, y, N, D, 4, 99, &p, NULL, &err), UH_OK);
            assert_int_equal(uh_predictor_fit_best(X, y, N, D, 4, 99, &q, NULL, &err), UH_OK);
        } else {
            p = fit((uh_pred_kind_t)k, X, y, N, D, &fixed, 99);
            q = fit((uh_pred_kind_t)k, X, y, N, D, &fixed, 99);
        }
        uh_predictor_predict_many(p, Xt, M, a);
        uh_predictor_predict_many(q, Xt, M, b);
        assert_memory_equal(a, b, sizeof a);
        for (int i = 0; i < M; i++) assert_true(a[i] == uh_predictor_predict(p, Xt + i * D));
        uh_predictor_free(p);
        uh_predictor_free(q);
    }
    /* The seed does reach the MLP's initialisation. */
    uh_pred_opts_t o = {.weight_decay = 1e-3, .steps = 50};
    uh_predictor_t *p = fit(UH_PRED_MLP, X, y, N, D, &o, 1);
    uh_predictor_t *q = fit(UH_PRED_MLP, X, y, N, D, &o, 2);
    assert_true(uh_predictor_predict(p, Xt) != uh_predictor_predict(q, Xt));
    uh_predictor_free(p);
    uh_predictor_free(q);
    free(X);
    free(y);
    free(Xt);
}

static void expect_error(int rc, int code, const uh_error_t *err, const char *needle,
                         uh_predictor_t *const *p) {
    expect_bad(rc, err, code, needle);
    assert_null(*p);
}

static void test_errors(void **state) {
    (void)state;
    double X[4 * 2] = {0, 1, 2, 3, 4, 5, 6, 7}, y[4] = {1, 2, 3, 4};
    uh_predictor_t *p = (uh_predictor_t *)&p; /* must come back NULL */
    uh_error_t err = {0};
    X[5] = NAN;
    expect_error(uh_predictor_fit(UH_PRED_RIDGE, X, y, 4, 2, NULL, 1, &p, &err), UH_EINVAL, &err,
                 "row 2, column 1", &p);
    expect_error(uh_predictor_fit_best(X, y, 4, 2, 2, 1, &p, NULL, &err), UH_EINVAL, &err,
                 "row 2, column 1", &p);
    X[5] = 5;
    y[3] = INFINITY;
    expect_error(uh_predictor_fit(UH_PRED_MLP, X, y, 4, 2, NULL, 1, &p, &err), UH_EINVAL, &err,
                 "y row 3", &p);
    y[3] = 4;
    expect_error(uh_predictor_fit(UH_PRED_RIDGE, X, y, 0, 2, NULL, 1, &p, &err), UH_EINVAL, &err,
                 "n = 0", &p);
    expect_error(uh_predictor_fit_best(X, y, 0, 2, 5, 1, &p, NULL, &err), UH_EINVAL, &err, NULL,
                 &p);
    expect_error(uh_predictor_fit(UH_PRED_RIDGE, X, y, 4, 0, NULL, 1, &p, &err), UH_EINVAL, &err,
                 "d = 0", &p);
    /* Limits are checked before any row is read, so small buffers serve. */
    expect_error(uh_predictor_fit(UH_PRED_RIDGE, X, y, UH_PRED_MAX_N + 1, 2, NULL, 1, &p, &err),
                 UH_ELIMIT, &err, NULL, &p);
    expect_error(uh_predictor_fit_best(X, y, 1, UH_PRED_MAX_D + 1, 5, 1, &p, NULL, &err), UH_ELIMIT,
                 &err, NULL, &p);
    expect_error(uh_predictor_fit((uh_pred_kind_t)17, X, y, 4, 2, NULL, 1, &p, &err), UH_EINVAL,
                 &err, NULL, &p);
    expect_error(uh_predictor_fit_best(X, y, 4, 2, 1, 1, &p, NULL, &err), UH_EINVAL, &err, "folds",
                 &p);
    uh_pred_opts_t bad = {.lambda = -1};
    expect_error(uh_predictor_fit(UH_PRED_RIDGE, X, y, 4, 2, &bad, 1, &p, &err), UH_EINVAL, &err,
                 NULL, &p);
    bad = (uh_pred_opts_t){.hidden = UH_PRED_MAX_HIDDEN + 1};
    expect_error(uh_predictor_fit(UH_PRED_MLP, X, y, 4, 2, &bad, 1, &p, &err), UH_EINVAL, &err,
                 "hidden", &p);
    expect_error(uh_predictor_fit(UH_PRED_RIDGE, NULL, y, 4, 2, NULL, 1, &p, &err), UH_EINVAL, &err,
                 NULL, &p);

    /* Kernel ridge has its own, smaller row limit. (fit_best skips the kernel there instead;
     * not exercised here because the other kinds' CV on that many rows would dominate the
     * suite's run time.) */
    enum { BIG = UH_PRED_KERNEL_MAX_N + 1 };
    double *Xb = calloc(BIG, sizeof *Xb), *yb = calloc(BIG, sizeof *yb);
    assert_non_null(Xb);
    assert_non_null(yb);
    for (int i = 0; i < BIG; i++) {
        Xb[i] = i % 7;
        yb[i] = 0.5 * Xb[i];
    }
    expect_error(uh_predictor_fit(UH_PRED_KERNEL, Xb, yb, BIG, 1, NULL, 1, &p, &err), UH_ELIMIT,
                 &err, "kernel", &p);
    free(Xb);
    free(yb);
}

/* Constant columns (and a constant target) are carried without NaN, and the value of a
 * column that never varied in training does not move a prediction. */
static void test_constant_features(void **state) {
    (void)state;
    enum { N = 30, D = 3 };
    double X[N * D], y[N], yc[N];
    for (int i = 0; i < N; i++) {
        X[i * D + 0] = 0.1 * i;
        X[i * D + 1] = 5.0;
        X[i * D + 2] = 0.0;
        y[i] = sin(X[i * D]);
        yc[i] = 0.7;
    }
    const double at[D] = {1.3, 5.0, 0.0}, moved[D] = {1.3, -40.0, 3.0};
    for (int k = 0; k <= UH_PRED_NKINDS; k++) {
        for (int c = 0; c < 2; c++) {
            const double *target = c ? yc : y;
            uh_predictor_t *p = NULL;
            uh_error_t err = {0};
            if (k == UH_PRED_NKINDS)
                assert_int_equal(uh_predictor_fit_best(X, target, N, D, 3, 1, &p, NULL, &err),
                                 UH_OK);
            else
                p = fit((uh_pred_kind_t)k, X, target, N, D, NULL, 1);
            double a = uh_predictor_predict(p, at), b = uh_predictor_predict(p, moved);
            assert_true(isfinite(a));
            assert_true(a == b);
            if (c && fabs(a - 0.7) > 1e-9) {
                print_error("kind %d: %.17g\n", k, a);
                fail();
            }
            uh_predictor_free(p);
        }
    }
    /* An all-constant design: every model is the mean. */
    double Xc[4] = {2, 2, 2, 2}, y4[4] = {1, 2, 3, 6};
    for (int k = 0; k < UH_PRED_NKINDS; k++) {
        uh_predictor_t *p = fit((uh_pred_kind_t)k, Xc, y4, 4, 1, NULL, 1);
        assert_true(fabs(uh_predictor_predict(p, Xc) - 3.0) < 1e-9);
        uh_predictor_free(p);
    }
    /* A non-finite feature at prediction time gives NaN, not a number. */
    uh_predictor_t *p = fit(UH_PRED_RIDGE, X, y, N, D, NULL, 1);
    double bad[D] = {NAN, 5, 0};
    assert_true(isnan(uh_predictor_predict(p, bad)));
    uh_predictor_free(p);
}

/* Too few rows to cross-validate: a fallback that still predicts, and a report that says so. */
static void test_small_n(void **state) {
    (void)state;
    double X[6] = {0, 1, 1, 0, 2, 2}, y[3] = {1, 2, 5};
    uh_predictor_t *p = NULL;
    uh_pred_cv_t rep;
    uh_error_t err = {0};
    assert_int_equal(uh_predictor_fit_best(X, y, 1, 2, 5, 1, &p, &rep, &err), UH_OK);
    assert_int_equal(rep.fallback, 1);
    assert_int_equal(rep.folds, 0);
    assert_int_equal(rep.chosen.kind, UH_PRED_MEAN);
    assert_true(isnan(rep.cv_mse[UH_PRED_RIDGE]));
    assert_true(uh_predictor_predict(p, X + 2) == 1.0);
    uh_predictor_free(p);
    assert_int_equal(uh_predictor_fit_best(X, y, 3, 2, 5, 1, &p, &rep, &err), UH_OK);
    assert_int_equal(rep.fallback, 1);
    assert_int_equal(rep.chosen.kind, UH_PRED_RIDGE);
    assert_true(rep.chosen.lambda == 0.01);
    assert_non_null(strstr(rep.note, "too few"));
    assert_true(isfinite(uh_predictor_predict(p, X)));
    uh_predictor_free(p);
    for (int k = 0; k < UH_PRED_NKINDS; k++) {
        p = fit((uh_pred_kind_t)k, X, y, 3, 2, NULL, 1);
        assert_true(isfinite(uh_predictor_predict(p, X + 4)));
        assert_int_equal(uh_predictor_dim(p), 2);
        uh_predictor_free(p);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_ridge_closed_form),
        cmocka_unit_test(test_ridge_recovers_linear),
        cmocka_unit_test(test_large_systems),
        cmocka_unit_test(test_kernel_interpolates),
        cmocka_unit_test(test_mlp_beats_ridge),
        cmocka_unit_test(test_fit_best_nonlinear),
        cmocka_unit_test(test_fit_best_linear),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_constant_features),
        cmocka_unit_test(test_small_n),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
