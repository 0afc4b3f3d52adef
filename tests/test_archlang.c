/* The built-in model's language: everything the search space makes is written and read back
 * exactly by the grammar, and constrained sampling from an untrained model only writes
 * architectures that parse (10,000 of them). */
#include "common.h"

#include "uhnas/archlang.h"
#include "uhnas/space.h"

static void test_space_round_trips(void **state) {
    (void)state;
    const char *backends[] = {"mzi-realistic", "crossbar-pcm", "gpu-b200-fp16"};
    for (int k = 0; k < 3; k++) {
        uh_backend_t *b = load_backend(backends[k]);
        uh_space_t space;
        uh_error_t err = {0};
        assert_int_equal(uh_space_init(&space, b, MNIST, &err), UH_OK);
        uh_rng_t rng;
        uh_rng_seed(&rng, 3);
        for (int i = 0; i < 500; i++) {
            uh_arch_t a, back;
            const char *what;
            assert_int_equal(uh_space_sample(&space, &rng, &a, &err), UH_OK);
            if (i % 2) { /* mutations reach other corners of the space */
                uh_arch_t m;
                assert_int_equal(uh_space_mutate(&space, &a, &rng, &m, &what, &err), UH_OK);
                a = m;
            }
            int tok[UH_LANG_MAX_TOKENS];
            int n = uh_lang_encode_arch(&a, tok, UH_LANG_MAX_TOKENS);
            assert_true(n > 0);
            uh_lang_grammar_t g;
            uh_lang_grammar_init(&g, b, MNIST);
            for (int t = 0; t < n; t++)
                if (uh_lang_push(&g, tok[t])) {
                    char name[32];
                    uh_lang_token_name(tok[t], name, sizeof name);
                    fail_msg("%s: token %d of %d (%s) refused", backends[k], t, n, name);
                }
            assert_int_equal(uh_lang_push(&g, UH_TOK_EOS), 0);
            assert_int_equal(uh_lang_result(&g, &back, &err), UH_OK);
            char x[UH_ARCH_CANON_MAX], y[UH_ARCH_CANON_MAX];
            uh_arch_canonical(&a, x, sizeof x);
            uh_arch_canonical(&back, y, sizeof y);
            assert_string_equal(x, y);
        }
        uh_backend_free(b);
    }
}

static void test_constrained_samples_all_parse(void **state) {
    (void)state;
    uh_backend_t *b = load_backend("mzi-realistic");
    uh_gpt_config_t cfg = {
        .vocab = uh_lang_vocab_size(), .max_t = 96, .layers = 1, .heads = 2, .channels = 16};
    uh_error_t err = {0};
    uh_gpt_t *m = uh_gpt_new(&cfg, 1, 7, &err);
    assert_non_null(m);
    int prefix[16], n = 0;
    prefix[n++] = UH_TOK_BOS;
    assert_int_equal(uh_lang_hardware(b, prefix + n, NULL), UH_OK);
    n += 5;
    prefix[n++] = UH_TOK_SEP_TGT;
    uh_lang_targets(0.9, 0.85, 0.3, prefix + n);
    n += 3;
    prefix[n++] = UH_TOK_SEP_CHILD;
    uh_rng_t rng;
    uh_rng_seed(&rng, 1);
    int valid = 0, conv = 0;
    for (int i = 0; i < 10000; i++) {
        uh_lang_grammar_t g;
        uh_lang_grammar_init(&g, b, MNIST);
        int tok[UH_LANG_MAX_TOKENS];
        int len = uh_lang_sample(m, prefix, n, &g, 1.0, &rng, tok);
        assert_true(len > n);
        uh_arch_t a, back;
        if (uh_lang_result(&g, &a, &err)) fail_msg("sample %d: %s", i, err.msg);
        char json[UH_ARCH_CANON_MAX];
        assert_true(uh_arch_canonical(&a, json, sizeof json) > 0);
        if (uh_arch_parse(json, strlen(json), MNIST, &back, &err))
            fail_msg("sample %d does not parse: %s: %s", i, err.msg, json);
        uh_violations_t v;
        valid += uh_backend_check(b, &a, &v) == 0;
        conv += a.layers[0].type == UH_LAYER_CONV2D;
    }
    char first[32];
    uh_lang_token_name(prefix[1], first, sizeof first);
    assert_string_equal(first, "HW_mzi");
    print_message("10000 samples parse; %d also pass mzi-realistic's check; %d start with a conv\n",
                  valid, conv);
    uh_gpt_free(m);
    uh_backend_free(b);
}

/* One hidden dense layer of `width` units on MNIST's shape. */
static uh_arch_t dense(int width) {
    char json[256];
    snprintf(json, sizeof json,
             "{\"layers\":[{\"type\":\"dense\",\"units\":%d,\"activation\":\"relu\"},"
             "{\"type\":\"dense\",\"units\":10}]}",
             width);
    uh_arch_t a;
    uh_error_t err = {0};
    assert_int_equal(uh_arch_parse(json, strlen(json), MNIST, &a, &err), UH_OK);
    return a;
}

enum { N_WIDTHS = 6, LEN = 48 }; /* two parents and a child of these: 41 tokens */
static const int WIDTHS[N_WIDTHS] = {16, 32, 64, 128, 256, 512};

/* A small model trained 400 steps on the examples ex[k][0..len[k]). */
static uh_gpt_t *fit(int ex[][UH_LANG_MAX_TOKENS], const int *len, int n) {
    int tokens[N_WIDTHS * LEN], targets[N_WIDTHS * LEN];
    for (int i = 0; i < n * LEN; i++) tokens[i] = UH_TOK_PAD, targets[i] = -1;
    for (int k = 0; k < n; k++) {
        assert_true(len[k] > 0 && len[k] <= LEN);
        for (int t = 0; t + 1 < len[k]; t++)
            tokens[k * LEN + t] = ex[k][t], targets[k * LEN + t] = ex[k][t + 1];
    }
    uh_gpt_config_t cfg = {
        .vocab = uh_lang_vocab_size(), .max_t = LEN, .layers = 2, .heads = 2, .channels = 32};
    uh_error_t err = {0};
    uh_gpt_t *m = uh_gpt_new(&cfg, n, 3, &err);
    assert_non_null(m);
    uh_adamw_t o;
    uh_adamw_default(&o);
    o.lr = 3e-3f;
    for (int step = 0; step < 400; step++) {
        uh_gpt_forward(m, tokens, targets, n, LEN);
        uh_gpt_backward(m);
        uh_gpt_step(m, &o);
    }
    return m;
}

/* The mean widest hidden layer of 100 constrained samples after prompt[0..n). */
static double mean_width(uh_gpt_t *m, const uh_backend_t *b, const int *prompt, int n,
                         uh_rng_t *rng) {
    double mean = 0;
    for (int i = 0; i < 100; i++) {
        int seq[UH_LANG_MAX_TOKENS];
        uh_lang_grammar_t g;
        uh_lang_grammar_init(&g, b, MNIST);
        assert_true(uh_lang_sample(m, prompt, n, &g, 1.0, rng, seq) > n);
        uh_arch_t a;
        uh_error_t err = {0};
        assert_int_equal(uh_lang_result(&g, &a, &err), UH_OK);
        long width = 0;
        for (int l = 0; l + 1 < a.n_layers; l++)
            if (a.layers[l].type == UH_LAYER_DENSE && a.layers[l].units > width)
                width = a.layers[l].units;
        mean += width / 100.0;
    }
    return mean;
}

/* Data in which energy rises with width: asked for a low energy, the trained model writes
 * narrower networks than asked for a high one. */
static void test_energy_target_steers_width(void **state) {
    (void)state;
    uh_backend_t *b = load_backend("mzi-realistic");
    int hw[5], ex[N_WIDTHS][UH_LANG_MAX_TOKENS], len[N_WIDTHS];
    assert_int_equal(uh_lang_hardware(b, hw, NULL), UH_OK);
    for (int k = 0; k < N_WIDTHS; k++) {
        uh_arch_t a = dense(WIDTHS[k]);
        int tgt[3];
        uh_lang_targets(0.8, 0.8, (k + 0.5) / N_WIDTHS, tgt); /* energy bucket grows with width */
        len[k] = uh_lang_example(hw, tgt, NULL, 0, &a, ex[k], UH_LANG_MAX_TOKENS);
    }
    uh_gpt_t *m = fit(ex, len, N_WIDTHS);
    double mean[2];
    uh_rng_t rng;
    uh_rng_seed(&rng, 5);
    for (int side = 0; side < 2; side++) {
        int tgt[3], prompt[16];
        uh_lang_targets(0.8, 0.8, side ? 0.95 : 0.05, tgt);
        int n = uh_lang_example(hw, tgt, NULL, 0, NULL, prompt, 16);
        mean[side] = mean_width(m, b, prompt, n, &rng);
    }
    print_message("mean width asked for low energy %.1f, for high energy %.1f\n", mean[0], mean[1]);
    assert_true(mean[0] < mean[1]);
    uh_gpt_free(m);
    uh_backend_free(b);
}

/* Trained on children as wide as their last parent (same targets throughout; with two
 * parents the first is always 128 units wide), the model writes narrow children when that
 * parent is narrow and wide ones when it is wide: the parent in context matters, and with two
 * (--llm-parents 2) the second is read too. */
static void last_parent_steers_width(int n_parents, uint64_t seed) {
    uh_backend_t *b = load_backend("mzi-realistic");
    int hw[5], tgt[3], ex[N_WIDTHS][UH_LANG_MAX_TOKENS], len[N_WIDTHS];
    assert_int_equal(uh_lang_hardware(b, hw, NULL), UH_OK);
    uh_lang_targets(0.8, 0.8, 0.5, tgt);
    uh_arch_t first = dense(128), a;
    const uh_arch_t *parents[2] = {n_parents == 2 ? &first : &a, &a};
    for (int k = 0; k < N_WIDTHS; k++) {
        a = dense(WIDTHS[k]);
        len[k] = uh_lang_example(hw, tgt, parents, n_parents, &a, ex[k], UH_LANG_MAX_TOKENS);
        int seps = 0;
        for (int t = 0; t < len[k]; t++) seps += ex[k][t] == UH_TOK_SEP_PARENT;
        assert_int_equal(seps, n_parents);
    }
    uh_gpt_t *m = fit(ex, len, N_WIDTHS);
    double mean[2];
    uh_rng_t rng;
    uh_rng_seed(&rng, seed);
    for (int side = 0; side < 2; side++) {
        a = dense(side ? 512 : 16);
        int prompt[UH_LANG_MAX_TOKENS];
        int n = uh_lang_example(hw, tgt, parents, n_parents, NULL, prompt, UH_LANG_MAX_TOKENS);
        mean[side] = mean_width(m, b, prompt, n, &rng);
    }
    print_message("%d parent(s): mean child width of a 16-unit last parent %.1f, of a 512-unit "
                  "one %.1f\n",
                  n_parents, mean[0], mean[1]);
    assert_true(mean[0] < 64 && mean[1] > 256);
    uh_gpt_free(m);
    uh_backend_free(b);
}

static void test_parent_in_context_steers_width(void **state) {
    (void)state;
    last_parent_steers_width(1, 6);
}

static void test_second_parent_in_context_steers_width(void **state) {
    (void)state;
    last_parent_steers_width(2, 7);
    uh_backend_t *b = load_backend("mzi-realistic");
    int hw[5], tgt[3], out[UH_LANG_MAX_TOKENS];
    assert_int_equal(uh_lang_hardware(b, hw, NULL), UH_OK);
    uh_lang_targets(0.8, 0.8, 0.5, tgt);
    uh_arch_t first = dense(128);
    /* an example that does not fit is refused, as are more parents than the language has */
    const uh_arch_t *three[3] = {&first, &first, &first};
    assert_int_equal(uh_lang_example(hw, tgt, three, 3, NULL, out, UH_LANG_MAX_TOKENS), -1);
    /* 10 conditioning tokens, 2 × (SEP_PARENT + 9), SEP_CHILD: 31; the child's 9 and EOS: 41 */
    assert_int_equal(uh_lang_example(hw, tgt, three, 2, NULL, out, 31), 31);
    assert_int_equal(uh_lang_example(hw, tgt, three, 2, NULL, out, 30), -1);
    assert_int_equal(uh_lang_example(hw, tgt, three, 2, &first, out, 41), 41);
    assert_int_equal(uh_lang_example(hw, tgt, three, 2, &first, out, 40), -1);
    uh_backend_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_space_round_trips),
        cmocka_unit_test(test_constrained_samples_all_parse),
        cmocka_unit_test(test_energy_target_steers_width),
        cmocka_unit_test(test_parent_in_context_steers_width),
        cmocka_unit_test(test_second_parent_in_context_steers_width),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
