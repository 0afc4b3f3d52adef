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
    uh_gpt_config_t cfg = {.vocab = uh_lang_vocab_size(UH_LANG_LAYERS),
                           .max_t = 96,
                           .layers = 1,
                           .heads = 2,
                           .channels = 16};
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

static uh_arch_t dense2(int first, int second) {
    char json[256];
    snprintf(json, sizeof json,
             "{\"layers\":[{\"type\":\"dense\",\"units\":%d,\"activation\":\"relu\"},"
             "{\"type\":\"dense\",\"units\":%d,\"activation\":\"relu\"},"
             "{\"type\":\"dense\",\"units\":10}]}",
             first, second);
    uh_arch_t a;
    uh_error_t err = {0};
    assert_int_equal(uh_arch_parse(json, strlen(json), MNIST, &a, &err), UH_OK);
    return a;
}

enum { N_WIDTHS = 6, LEN = 48 }; /* two parents and a child of these: 41 tokens */
static const int WIDTHS[N_WIDTHS] = {16, 32, 64, 128, 256, 512};

/* A small model of the language's vocabulary trained 400 steps on ex[k][0..len[k]). */
static uh_gpt_t *fit_in(uh_lang_mode_t mode, int ex[][UH_LANG_MAX_TOKENS], const int *len, int n) {
    int tokens[N_WIDTHS * LEN], targets[N_WIDTHS * LEN];
    for (int i = 0; i < n * LEN; i++) tokens[i] = UH_TOK_PAD, targets[i] = -1;
    for (int k = 0; k < n; k++) {
        assert_true(len[k] > 0 && len[k] <= LEN);
        for (int t = 0; t + 1 < len[k]; t++)
            tokens[k * LEN + t] = ex[k][t], targets[k * LEN + t] = ex[k][t + 1];
    }
    uh_gpt_config_t cfg = {
        .vocab = uh_lang_vocab_size(mode), .max_t = LEN, .layers = 2, .heads = 2, .channels = 32};
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

static uh_gpt_t *fit(int ex[][UH_LANG_MAX_TOKENS], const int *len, int n) {
    return fit_in(UH_LANG_LAYERS, ex, len, n);
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
        len[k] = uh_lang_example(hw, tgt, NULL, 0, &a, UH_LANG_LAYERS, ex[k], UH_LANG_MAX_TOKENS);
    }
    uh_gpt_t *m = fit(ex, len, N_WIDTHS);
    double mean[2];
    uh_rng_t rng;
    uh_rng_seed(&rng, 5);
    for (int side = 0; side < 2; side++) {
        int tgt[3], prompt[16];
        uh_lang_targets(0.8, 0.8, side ? 0.95 : 0.05, tgt);
        int n = uh_lang_example(hw, tgt, NULL, 0, NULL, UH_LANG_LAYERS, prompt, 16);
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
        len[k] = uh_lang_example(hw, tgt, parents, n_parents, &a, UH_LANG_LAYERS, ex[k],
                                 UH_LANG_MAX_TOKENS);
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
        int n = uh_lang_example(hw, tgt, parents, n_parents, NULL, UH_LANG_LAYERS, prompt,
                                UH_LANG_MAX_TOKENS);
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
    assert_int_equal(
        uh_lang_example(hw, tgt, three, 3, NULL, UH_LANG_LAYERS, out, UH_LANG_MAX_TOKENS), -1);
    /* 10 conditioning tokens, 2 × (SEP_PARENT + 9), SEP_CHILD: 31; the child's 9 and EOS: 41 */
    assert_int_equal(uh_lang_example(hw, tgt, three, 2, NULL, UH_LANG_LAYERS, out, 31), 31);
    assert_int_equal(uh_lang_example(hw, tgt, three, 2, NULL, UH_LANG_LAYERS, out, 30), -1);
    assert_int_equal(uh_lang_example(hw, tgt, three, 2, &first, UH_LANG_LAYERS, out, 41), 41);
    assert_int_equal(uh_lang_example(hw, tgt, three, 2, &first, UH_LANG_LAYERS, out, 40), -1);
    uh_backend_free(b);
}

/* Whether LAYERS' grammar writes a in full. */
static int in_language(const uh_backend_t *b, const uh_arch_t *a) {
    int tok[UH_LANG_MAX_TOKENS], n = uh_lang_encode_arch(a, tok, UH_LANG_MAX_TOKENS);
    uh_lang_grammar_t g;
    uh_lang_grammar_init(&g, b, MNIST);
    for (int t = 0; t < n; t++)
        if (uh_lang_push(&g, tok[t])) return 0;
    return n > 0;
}

/* Child's tokens of an EDITS example (after SEP_CHILD, before EOS) through a grammar that
 * has the parents: each is allowed, and the result is the child. Returns their count. */
static int edits_read_back(const uh_backend_t *b, const uh_arch_t *const *parents, int np,
                           const uh_arch_t *child, const int *ex, int len) {
    int at = 0;
    while (ex[at] != UH_TOK_SEP_CHILD) at++;
    uh_lang_grammar_t g;
    uh_lang_grammar_init(&g, b, MNIST);
    assert_int_equal(uh_lang_grammar_parents(&g, parents, np), 0);
    for (int t = at + 1; t < len; t++)
        if (uh_lang_push(&g, ex[t])) {
            char name[32];
            uh_lang_token_name(ex[t], name, sizeof name);
            fail_msg("token %d of %d (%s) refused", t, len, name);
        }
    uh_arch_t back;
    uh_error_t err = {0};
    assert_int_equal(uh_lang_result(&g, &back, &err), UH_OK);
    char x[UH_ARCH_CANON_MAX], y[UH_ARCH_CANON_MAX];
    uh_arch_canonical(child, x, sizeof x);
    uh_arch_canonical(&back, y, sizeof y);
    assert_string_equal(x, y);
    return len - at - 2;
}

/* Every child the search makes from one or two parents (a copy, a mutation, a crossover then
 * a mutation, an unrelated sample) is written as edits that the grammar reads back as it, never
 * longer than in full; a copy is one COPY1 a layer, mutations under half as long as the
 * network. */
static void test_edits_round_trip(void **state) {
    (void)state;
    const char *backends[] = {"mzi-realistic", "crossbar-pcm", "gpu-b200-fp16"};
    int hw[5], tgt[3];
    uh_lang_targets(0.8, 0.8, 0.5, tgt);
    for (int k = 0; k < 3; k++) {
        uh_backend_t *b = load_backend(backends[k]);
        assert_int_equal(uh_lang_hardware(b, hw, NULL), UH_OK);
        uh_space_t space;
        uh_error_t err = {0};
        assert_int_equal(uh_space_init(&space, b, MNIST, &err), UH_OK);
        uh_rng_t rng;
        uh_rng_seed(&rng, 11);
        long full_tokens = 0, edit_tokens = 0, mutation_full = 0, mutation_edits = 0;
        for (int i = 0; i < 400; i++) {
            uh_arch_t p[2], child, m;
            const char *what;
            assert_int_equal(uh_space_sample(&space, &rng, &p[0], &err), UH_OK);
            assert_int_equal(uh_space_sample(&space, &rng, &p[1], &err), UH_OK);
            const int kind = i % 4, np = 1 + (i / 4) % 2;
            if (kind == 0) child = p[0];
            if (kind == 1)
                assert_int_equal(uh_space_mutate(&space, &p[0], &rng, &child, &what, &err), 0);
            if (kind == 2) {
                assert_int_equal(uh_space_crossover(&space, &p[0], &p[1], &rng, &m, &err), UH_OK);
                assert_int_equal(uh_space_mutate(&space, &m, &rng, &child, &what, &err), UH_OK);
            }
            if (kind == 3) assert_int_equal(uh_space_sample(&space, &rng, &child, &err), UH_OK);
            const uh_arch_t *parents[2] = {&p[0], &p[1]};
            int ex[UH_LANG_MAX_TOKENS], whole[UH_LANG_MAX_TOKENS];
            assert_true(in_language(b, &child)); /* the operators keep to the depth caps */
            int len = uh_lang_example(hw, tgt, parents, np, &child, UH_LANG_EDITS, ex,
                                      UH_LANG_MAX_TOKENS);
            int full = uh_lang_example(hw, tgt, parents, np, &child, UH_LANG_LAYERS, whole,
                                       UH_LANG_MAX_TOKENS);
            assert_true(len > 0 && full >= len);
            int written = edits_read_back(b, parents, np, &child, ex, len);
            int in_full = uh_lang_encode_arch(&child, whole, UH_LANG_MAX_TOKENS);
            full_tokens += in_full, edit_tokens += written;
            if (kind == 0) { /* a copy: COPY1 per layer (the flatten has no token) */
                int layers = 0;
                for (int l = 0; l < child.n_layers; l++)
                    layers += child.layers[l].type != UH_LAYER_FLATTEN;
                assert_int_equal(written, layers);
                for (int t = len - 1 - written; t < len - 1; t++) /* COPY1 follows the vocabulary */
                    assert_int_equal(ex[t], uh_lang_vocab_size(UH_LANG_LAYERS));
            }
            if (kind == 1) mutation_full += in_full, mutation_edits += written;
        }
        print_message("%s: children in %ld tokens in full, %ld as edits; mutations %ld and %ld\n",
                      backends[k], full_tokens, edit_tokens, mutation_full, mutation_edits);
        assert_true(2 * mutation_edits < mutation_full);
        uh_backend_free(b);
    }
}

/* The child's tokens of an example, after SEP_CHILD and before EOS, by name, space-separated. */
static void child_names(const int *ex, int len, char *out, size_t size) {
    int at = 0;
    while (ex[at] != UH_TOK_SEP_CHILD) at++;
    out[0] = '\0';
    for (int t = at + 1; t < len - 1; t++) {
        char name[32];
        uh_lang_token_name(ex[t], name, sizeof name);
        snprintf(out + strlen(out), size - strlen(out), "%s%s", t > at + 1 ? " " : "", name);
    }
}

static uh_arch_t parsed(const char *json) {
    uh_arch_t a;
    uh_error_t err = {0};
    if (uh_arch_parse(json, strlen(json), MNIST, &a, &err)) fail_msg("%s: %s", err.msg, json);
    return a;
}

/* The shortest edits, ties to COPY, then SKIP, then a layer in full: docs/llm.md's example (a
 * child that widens its parent's dense layer: skipping it and writing the new one ties with
 * writing it and skipping the old, and SKIP goes first) and a crossover of two parents (the
 * first's conv and pool, the second's dense layer and output). */
static void test_edits_script(void **state) {
    (void)state;
    int hw[5], tgt[3], ex[UH_LANG_MAX_TOKENS];
    uh_backend_t *b = load_backend("mzi-realistic");
    assert_int_equal(uh_lang_hardware(b, hw, NULL), UH_OK);
    uh_lang_targets(0.8, 0.8, 0.5, tgt);
    const uh_arch_t p = parsed(
        "{\"layers\":[{\"type\":\"conv2d\",\"filters\":8,\"kernel\":3,\"padding\":1,"
        "\"activation\":\"relu\",\"bits\":8,\"tile\":64},{\"type\":\"pool\",\"kind\":\"max\","
        "\"size\":2,\"stride\":2},{\"type\":\"dense\",\"units\":64,\"activation\":\"relu\","
        "\"bits\":8,\"tile\":64},{\"type\":\"dense\",\"units\":10}]}");
    const uh_arch_t wider = parsed(
        "{\"layers\":[{\"type\":\"conv2d\",\"filters\":8,\"kernel\":3,\"padding\":1,"
        "\"activation\":\"relu\",\"bits\":8,\"tile\":64},{\"type\":\"pool\",\"kind\":\"max\","
        "\"size\":2,\"stride\":2},{\"type\":\"dense\",\"units\":128,\"activation\":\"relu\","
        "\"bits\":8,\"tile\":64},{\"type\":\"dense\",\"units\":10}]}");
    const uh_arch_t q =
        parsed("{\"layers\":[{\"type\":\"dense\",\"units\":256,\"activation\":\"tanh\"},"
               "{\"type\":\"dense\",\"units\":10,\"bits\":4}]}");
    const uh_arch_t cross = parsed(
        "{\"layers\":[{\"type\":\"conv2d\",\"filters\":8,\"kernel\":3,\"padding\":1,"
        "\"activation\":\"relu\",\"bits\":8,\"tile\":64},{\"type\":\"pool\",\"kind\":\"max\","
        "\"size\":2,\"stride\":2},{\"type\":\"dense\",\"units\":256,\"activation\":\"tanh\"},"
        "{\"type\":\"dense\",\"units\":10,\"bits\":4}]}");
    const uh_arch_t *parents[2] = {&p, &q};
    char got[512];
    int len = uh_lang_example(hw, tgt, parents, 1, &wider, UH_LANG_EDITS, ex, UH_LANG_MAX_TOKENS);
    child_names(ex, len, got, sizeof got);
    assert_string_equal(got, "COPY1 COPY1 SKIP1 DENSE U128 A_relu B8 T64 COPY1");
    len = uh_lang_example(hw, tgt, parents, 2, &cross, UH_LANG_EDITS, ex, UH_LANG_MAX_TOKENS);
    child_names(ex, len, got, sizeof got);
    assert_string_equal(got, "COPY1 COPY1 COPY2 COPY2");
    uh_backend_free(b);
}

/* Where a parent's next layer cannot come next, COPY of it is not allowed (SKIP is); once the
 * output layer is written only EOS is; more parents than the language has are refused. */
static void test_edits_grammar(void **state) {
    (void)state;
    uh_backend_t *b = load_backend("mzi-realistic");
    const char *json = "{\"layers\":[{\"type\":\"conv2d\",\"filters\":8,\"kernel\":3},"
                       "{\"type\":\"dense\",\"units\":64,\"activation\":\"relu\"},"
                       "{\"type\":\"dense\",\"units\":10}]}";
    uh_arch_t p;
    uh_error_t err = {0};
    assert_int_equal(uh_arch_parse(json, strlen(json), MNIST, &p, &err), UH_OK);
    const uh_arch_t *parents[3] = {&p, &p, &p};
    uh_lang_grammar_t g;
    uh_lang_grammar_init(&g, b, MNIST);
    assert_int_equal(uh_lang_grammar_parents(&g, parents, 3), -1);
    assert_int_equal(uh_lang_grammar_parents(&g, parents, 0), -1);
    assert_int_equal(uh_lang_grammar_parents(&g, parents, 1), 0);
    int copy1 = uh_lang_vocab_size(UH_LANG_LAYERS), skip1 = copy1 + UH_LANG_MAX_PARENTS;
    assert_int_equal(uh_lang_vocab_size(UH_LANG_EDITS), copy1 + 2 * UH_LANG_MAX_PARENTS);
    char name[32];
    uh_lang_token_name(copy1, name, sizeof name);
    assert_string_equal(name, "COPY1");
    uh_lang_token_name(skip1 + 1, name, sizeof name);
    assert_string_equal(name, "SKIP2");
    unsigned char allowed[256];
    assert_true(uh_lang_vocab_size(UH_LANG_EDITS) <= 256);
    uh_lang_allowed(&g, allowed);
    assert_true(allowed[copy1] && allowed[skip1] && !allowed[copy1 + 1] && !allowed[skip1 + 1]);
    /* a hidden dense layer in full: the conv parent's next layer cannot follow it */
    int tok[UH_LANG_MAX_TOKENS]; /* CONV F K S P A B T, DENSE U A B T, OUT A B T */
    assert_int_equal(uh_lang_encode_arch(&p, tok, UH_LANG_MAX_TOKENS), 17);
    for (int t = 8; t < 13; t++) assert_int_equal(uh_lang_push(&g, tok[t]), 0);
    uh_lang_allowed(&g, allowed);
    assert_true(!allowed[copy1] && allowed[skip1]);
    assert_int_equal(uh_lang_push(&g, copy1), -1);
    assert_int_equal(uh_lang_push(&g, skip1), 0); /* past the conv: its dense layer fits */
    uh_lang_allowed(&g, allowed);
    assert_true(allowed[copy1]);
    assert_int_equal(uh_lang_push(&g, skip1), 0);
    assert_int_equal(uh_lang_push(&g, copy1), 0); /* the output layer */
    assert_int_equal(uh_lang_allowed(&g, allowed), 1);
    assert_true(allowed[UH_TOK_EOS]);
    assert_int_equal(uh_lang_push(&g, UH_TOK_EOS), 0);
    uh_arch_t a;
    assert_int_equal(uh_lang_result(&g, &a, &err), UH_OK);
    assert_int_equal(a.n_layers, 2); /* dense 64, output */
    assert_int_equal(a.layers[0].units, 64);
    uh_backend_free(b);
}

/* Trained on children that are their parent (six two-layer networks), a model in edits writes
 * the parent of a network of widths it never saw; in full it has to copy values it never
 * wrote, and does so less often. */
static void test_edits_learn_a_copy(void **state) {
    (void)state;
    uh_backend_t *b = load_backend("mzi-realistic");
    int hw[5], tgt[3];
    assert_int_equal(uh_lang_hardware(b, hw, NULL), UH_OK);
    uh_lang_targets(0.8, 0.8, 0.5, tgt);
    int copies[2] = {0, 0};
    for (int mode = UH_LANG_LAYERS; mode <= UH_LANG_EDITS; mode++) {
        int ex[N_WIDTHS][UH_LANG_MAX_TOKENS], len[N_WIDTHS];
        uh_arch_t p;
        const uh_arch_t *parents[1] = {&p};
        for (int k = 0; k < N_WIDTHS; k++) {
            p = dense2(WIDTHS[k], WIDTHS[N_WIDTHS - 1 - k]);
            len[k] = uh_lang_example(hw, tgt, parents, 1, &p, (uh_lang_mode_t)mode, ex[k], LEN);
        }
        uh_gpt_t *m = fit_in((uh_lang_mode_t)mode, ex, len, N_WIDTHS);
        p = dense2(48, 192); /* widths of no example */
        int prompt[LEN], seq[UH_LANG_MAX_TOKENS];
        int n = uh_lang_example(hw, tgt, parents, 1, NULL, (uh_lang_mode_t)mode, prompt, LEN);
        uh_rng_t rng;
        uh_rng_seed(&rng, 9);
        char want[UH_ARCH_CANON_MAX], got[UH_ARCH_CANON_MAX];
        uh_arch_canonical(&p, want, sizeof want);
        for (int i = 0; i < 100; i++) {
            uh_lang_grammar_t g;
            uh_lang_grammar_init(&g, b, MNIST);
            if (mode == UH_LANG_EDITS) assert_int_equal(uh_lang_grammar_parents(&g, parents, 1), 0);
            assert_true(uh_lang_sample(m, prompt, n, &g, 1.0, &rng, seq) > n);
            uh_arch_t a;
            uh_error_t err = {0};
            assert_int_equal(uh_lang_result(&g, &a, &err), UH_OK);
            uh_arch_canonical(&a, got, sizeof got);
            copies[mode] += strcmp(want, got) == 0;
        }
        uh_gpt_free(m);
    }
    print_message("copies of an unseen parent in 100 samples: %d in full, %d as edits\n", copies[0],
                  copies[1]);
    assert_true(copies[1] >= 90 && copies[1] > copies[0]);
    uh_backend_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_space_round_trips),
        cmocka_unit_test(test_constrained_samples_all_parse),
        cmocka_unit_test(test_energy_target_steers_width),
        cmocka_unit_test(test_parent_in_context_steers_width),
        cmocka_unit_test(test_second_parent_in_context_steers_width),
        cmocka_unit_test(test_edits_round_trip),
        cmocka_unit_test(test_edits_script),
        cmocka_unit_test(test_edits_grammar),
        cmocka_unit_test(test_edits_learn_a_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
