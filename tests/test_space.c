/* Search space and classic operators: everything they return is valid on the backend,
 * mutations change the network, and the same seed gives the same sequence. */
#include "common.h"

#include "uhnas/space.h"

/* Canonical text parses back to the same network and passes the backend's check. */
static void assert_valid(const uh_space_t *space, const uh_arch_t *a) {
    char canon[UH_ARCH_CANON_MAX];
    assert_true(uh_arch_canonical(a, canon, sizeof canon) > 0);
    uh_arch_t back;
    uh_error_t err = {0};
    if (uh_arch_parse(canon, strlen(canon), space->input, &back, &err)) {
        print_error("%s\n%s\n", canon, err.msg);
        fail();
    }
    if (space->backend) {
        uh_violations_t v;
        if (uh_backend_check(space->backend, &back, &v)) {
            print_error("%s violates: %s\n", canon, v.items[0].msg);
            fail();
        }
    }
}

static void run_operators(const uh_space_t *space, uint64_t seed, int rounds, char *digest,
                          size_t cap) {
    uh_rng_t rng;
    uh_rng_seed(&rng, seed);
    uh_error_t err = {0};
    uh_arch_t pop[8];
    for (int i = 0; i < 8; i++) {
        assert_int_equal(uh_space_sample(space, &rng, &pop[i], &err), UH_OK);
        assert_valid(space, &pop[i]);
    }
    uint64_t h = 1469598103934665603ull;
    for (int r = 0; r < rounds; r++) {
        uh_arch_t child;
        const char *what = "";
        int a = (int)uh_rng_below(&rng, 8), b = (int)uh_rng_below(&rng, 8);
        if (r % 2) {
            assert_int_equal(uh_space_mutate(space, &pop[a], &rng, &child, &what, &err), UH_OK);
            char hp[17], hc[17];
            uh_arch_hash(&pop[a], hp);
            uh_arch_hash(&child, hc);
            assert_string_not_equal(hp, hc); /* a mutation changes the network */
        } else {
            assert_int_equal(uh_space_crossover(space, &pop[a], &pop[b], &rng, &child, &err),
                             UH_OK);
        }
        assert_valid(space, &child);
        pop[uh_rng_below(&rng, 8)] = child;
        char hc[17];
        uh_arch_hash(&child, hc);
        for (const char *p = hc; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    }
    snprintf(digest, cap, "%016llx", (unsigned long long)h);
}

static void test_unconstrained(void **state) {
    (void)state;
    uh_space_t space;
    uh_error_t err = {0};
    assert_int_equal(uh_space_init(&space, NULL, MNIST, &err), UH_OK);
    assert_true(space.allow_conv && space.allow_pool);
    char d1[32], d2[32], d3[32];
    run_operators(&space, 5, 400, d1, sizeof d1);
    run_operators(&space, 5, 400, d2, sizeof d2);
    run_operators(&space, 6, 400, d3, sizeof d3);
    assert_string_equal(d1, d2);     /* same seed, same sequence */
    assert_string_not_equal(d1, d3); /* another seed, another one */
}

static void test_respects_constraints(void **state) {
    (void)state;
    /* Dense only, ReLU or tanh, at most 64 units, 4..8 bits, tiles 8..32. */
    const char *text =
        "{\"name\":\"narrow\",\"model\":\"digital\",\"constraints\":{"
        "\"layer_types\":[\"dense\"],\"activations\":[\"none\",\"relu\",\"tanh\"],"
        "\"max_units\":{\"value\":64,\"source\":\"assumed: test\"},"
        "\"min_bits\":{\"value\":4,\"source\":\"assumed: test\"},"
        "\"max_bits\":{\"value\":8,\"source\":\"assumed: test\"},"
        "\"min_tile\":{\"value\":8,\"source\":\"assumed: test\"},"
        "\"max_tile\":{\"value\":32,\"source\":\"assumed: test\"}},"
        "\"params\":{\"format\":\"fp32\",\"mac_pj\":{\"value\":1,\"source\":\"assumed: test\"},"
        "\"precisions\":{\"int4\":{\"mac_pj\":{\"value\":0.1,\"source\":\"assumed: test\"}},"
        "\"int8\":{\"mac_pj\":{\"value\":0.2,\"source\":\"assumed: test\"}}}}}";
    uh_backend_t *b;
    uh_error_t err = {0};
    assert_int_equal(uh_backend_load_text(text, strlen(text), "inline", &b, &err), UH_OK);
    uh_space_t space;
    assert_int_equal(uh_space_init(&space, b, MNIST, &err), UH_OK);
    assert_false(space.allow_conv);
    assert_int_equal(space.units.n, 3);       /* 16, 32, 64 */
    assert_int_equal(space.activations.n, 2); /* relu, tanh */
    /* full precision, 4, 8: the range allows 6 too, but the hardware has no 6-bit format */
    assert_int_equal(space.bits.n, 3);
    for (int i = 0; i < space.bits.n; i++) assert_true(space.bits.v[i] != 6);
    char d[32];
    run_operators(&space, 11, 300, d, sizeof d);
    uh_backend_free(b);
}

static void test_small_input_has_no_conv(void **state) {
    (void)state;
    uh_space_t space;
    uh_error_t err = {0};
    assert_int_equal(uh_space_init(&space, NULL, (uh_shape_t){1, 1, 16, 3}, &err), UH_OK);
    assert_false(space.allow_conv);
    char d[32];
    run_operators(&space, 3, 100, d, sizeof d);
}

/* The cost-spread sampler: log10 MACs of 1000 samples roughly uniform over the first
 * UH_SPACE_SAMPLE_DECADES decades above the linear classifier (784 x 10 MACs), with no
 * monster far beyond (uniform choices' top 1 % had 1.1e7 MACs and 6.5e6 params). */
static void test_sample_cost_spread(void **state) {
    (void)state;
    uh_space_t space;
    uh_error_t err = {0};
    assert_int_equal(uh_space_init(&space, NULL, MNIST, &err), UH_OK);
    assert_int_equal(space.sampler, UH_SAMPLER_UNIFORM); /* the default */
    space.sampler = UH_SAMPLER_COST_SPREAD;
    uh_rng_t rng = rng_seeded(7);
    const double lo = log10(784.0 * 10), hi = lo + UH_SPACE_SAMPLE_DECADES;
    enum { N = 1000, BINS = 5 };
    int bin[BINS] = {0};
    for (int i = 0; i < N; i++) {
        uh_arch_t a;
        assert_int_equal(uh_space_sample(&space, &rng, &a, &err), UH_OK);
        double x = log10((double)a.macs);
        assert_true(x >= lo && x <= hi + 0.5); /* the nearest draw may overshoot a little */
        bin[x >= hi ? BINS - 1 : (int)((x - lo) / (hi - lo) * BINS)]++;
    }
    for (int k = 0; k < BINS; k++) { /* each fifth of the range holds 10..30 % of samples */
        assert_true(bin[k] > N / 10);
        assert_true(bin[k] < 3 * N / 10);
    }
}

/* Chains of mutations and crossovers (each child the next parent, as linas's predictor search
 * makes them) keep to UH_SPACE_MAX_CONV conv and UH_SPACE_MAX_DENSE hidden dense layers; without
 * the caps (runs stored before them) the same chains grow past both. */
static void test_depth_caps(void **state) {
    (void)state;
    uh_space_t space;
    uh_error_t err = {0};
    assert_int_equal(uh_space_init(&space, NULL, MNIST, &err), UH_OK);
    assert_int_equal(space.depth_caps, 1);
    for (int caps = 0; caps <= 1; caps++) {
        space.depth_caps = caps;
        uh_rng_t rng;
        uh_rng_seed(&rng, 3);
        uh_arch_t pop[4];
        for (int i = 0; i < 4; i++)
            assert_int_equal(uh_space_sample(&space, &rng, &pop[i], &err), UH_OK);
        int most_conv = 0, most_dense = 0;
        for (int r = 0; r < 2000; r++) {
            uh_arch_t child;
            const char *what;
            int a = (int)uh_rng_below(&rng, 4), b = (int)uh_rng_below(&rng, 4);
            if (r % 4)
                assert_int_equal(uh_space_mutate(&space, &pop[a], &rng, &child, &what, &err),
                                 UH_OK);
            else
                assert_int_equal(uh_space_crossover(&space, &pop[a], &pop[b], &rng, &child, &err),
                                 UH_OK);
            int conv = 0, dense = 0;
            for (int i = 0; i + 1 < child.n_layers; i++)
                conv += child.layers[i].type == UH_LAYER_CONV2D,
                    dense += child.layers[i].type == UH_LAYER_DENSE;
            if (conv > most_conv) most_conv = conv;
            if (dense > most_dense) most_dense = dense;
            pop[a] = child;
        }
        print_message("depth caps %s: at most %d conv and %d hidden dense layers\n",
                      caps ? "on" : "off", most_conv, most_dense);
        if (caps)
            assert_true(most_conv <= UH_SPACE_MAX_CONV && most_dense <= UH_SPACE_MAX_DENSE);
        else
            assert_true(most_conv > UH_SPACE_MAX_CONV && most_dense > UH_SPACE_MAX_DENSE);
    }
}

UH_TEST_MAIN(NULL, NULL, cmocka_unit_test(test_unconstrained),
             cmocka_unit_test(test_respects_constraints),
             cmocka_unit_test(test_small_input_has_no_conv),
             cmocka_unit_test(test_sample_cost_spread), cmocka_unit_test(test_depth_caps))
