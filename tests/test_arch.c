/* Architecture format: parsing, every kind of fault, canonical form, hash, counts. */
#include "common.h"

#include "uhnas/arch.h"
#include "uhnas/rng.h"

static int parse(const char *json, uh_arch_t *arch, uh_error_t *err) {
    return uh_arch_parse(json, strlen(json), MNIST, arch, err);
}

/* Parses json, expects failure with `code` and a message containing `needle`. */
static void expect_error(const char *json, int code, const char *needle) {
    uh_arch_t arch;
    uh_error_t err = {0};
    expect_bad_at(parse(json, &arch, &err), &err, code, needle, json, __FILE__, __LINE__);
}

static void test_paper_example_counts(void **state) {
    (void)state;
    const char *json = "{\"layers\":[{\"type\":\"conv2d\",\"filters\":8,\"kernel\":3,\"stride\":1,"
                       "\"activation\":\"relu\"},{\"type\":\"pool\",\"kind\":\"max\",\"size\":2},"
                       "{\"type\":\"dense\",\"units\":64,\"activation\":\"relu\"},"
                       "{\"type\":\"dense\",\"units\":10,\"activation\":\"none\"}]}";
    uh_arch_t a;
    uh_error_t err = {0};
    assert_int_equal(parse(json, &a, &err), UH_OK);
    assert_int_equal(a.n_layers, 4);
    /* conv: 28-3+1 = 26; 8 filters × 1×3×3 weights + 8 biases; 8·9 MACs per output. */
    assert_int_equal(a.layers[0].out_h, 26);
    assert_int_equal(a.layers[0].params, 8 * 9 + 8);
    assert_int_equal(a.layers[0].macs, 8 * 9 * 26 * 26);
    /* pool 2, stride defaults to 2: 13×13, no params, no MACs. */
    assert_int_equal(a.layers[1].out_h, 13);
    assert_int_equal(a.layers[1].out_c, 8);
    assert_int_equal(a.layers[1].params, 0);
    /* dense flattens 8·13·13 = 1352 inputs. */
    assert_int_equal(a.layers[2].params, 1352 * 64 + 64);
    assert_int_equal(a.layers[2].macs, 1352 * 64);
    assert_int_equal(a.layers[3].params, 64 * 10 + 10);
    assert_int_equal(a.params, 80 + 86592 + 650);
    assert_int_equal(a.macs, 48672 + 86528 + 640);
}

static void test_padding_stride_and_same(void **state) {
    (void)state;
    uh_arch_t a;
    uh_error_t err = {0};
    assert_int_equal(parse("{\"layers\":[{\"type\":\"conv2d\",\"filters\":4,\"kernel\":5,"
                           "\"padding\":\"same\"},{\"type\":\"conv2d\",\"filters\":4,\"kernel\":3,"
                           "\"stride\":2,\"padding\":1},{\"type\":\"flatten\"},"
                           "{\"type\":\"dense\",\"units\":10}]}",
                           &a, &err),
                     UH_OK);
    assert_int_equal(a.layers[0].padding, 2);
    assert_int_equal(a.layers[0].out_h, 28);
    /* (28 + 2 - 3) / 2 + 1 = 14 */
    assert_int_equal(a.layers[1].out_h, 14);
    assert_int_equal(a.layers[3].params, 4 * 14 * 14 * 10 + 10);
}

static void test_canonical_form_is_stable(void **state) {
    (void)state;
    /* Same network written two ways: key order, whitespace, defaults, flatten, bits 32. */
    const char *a_json = "{\"layers\":[{\"type\":\"conv2d\",\"filters\":8,\"kernel\":3},"
                         "{\"type\":\"pool\",\"kind\":\"avg\",\"size\":2},"
                         "{\"type\":\"dense\",\"units\":10}]}";
    const char *b_json =
        " { \"layers\" : [ {\"kernel\":3, \"filters\":8, \"type\":\"conv2d\", "
        "\"stride\":1, \"padding\":\"valid\", \"activation\":\"none\", \"bits\":32},"
        "{\"size\":2,\"type\":\"pool\",\"stride\":2,\"kind\":\"avg\"},"
        "{\"type\":\"flatten\"},{\"units\":10,\"type\":\"dense\"}]}\n";
    uh_arch_t a, b;
    uh_error_t err = {0};
    assert_int_equal(parse(a_json, &a, &err), UH_OK);
    assert_int_equal(parse(b_json, &b, &err), UH_OK);
    char ca[UH_ARCH_CANON_MAX], cb[UH_ARCH_CANON_MAX];
    assert_true(uh_arch_canonical(&a, ca, sizeof ca) > 0);
    assert_true(uh_arch_canonical(&b, cb, sizeof cb) > 0);
    assert_string_equal(ca, cb);
    assert_string_equal(ca, "{\"layers\":[{\"type\":\"conv2d\",\"filters\":8,\"kernel\":3,"
                            "\"stride\":1,\"padding\":0,\"activation\":\"none\"},"
                            "{\"type\":\"pool\",\"kind\":\"avg\",\"size\":2,\"stride\":2},"
                            "{\"type\":\"dense\",\"units\":10,\"activation\":\"none\"}]}");
    char ha[17], hb[17];
    uh_arch_hash(&a, ha);
    uh_arch_hash(&b, hb);
    assert_string_equal(ha, hb);
    /* The canonical text parses back to the same canonical text. */
    uh_arch_t c;
    assert_int_equal(parse(ca, &c, &err), UH_OK);
    char cc[UH_ARCH_CANON_MAX];
    uh_arch_canonical(&c, cc, sizeof cc);
    assert_string_equal(ca, cc);
    /* A one-unit change is a different network with a different hash. */
    uh_arch_t d;
    assert_int_equal(parse("{\"layers\":[{\"type\":\"conv2d\",\"filters\":9,\"kernel\":3},"
                           "{\"type\":\"pool\",\"kind\":\"avg\",\"size\":2},"
                           "{\"type\":\"dense\",\"units\":10}]}",
                           &d, &err),
                     UH_OK);
    char hd[17];
    uh_arch_hash(&d, hd);
    assert_string_not_equal(ha, hd);
}

static void test_hash_is_fnv1a_of_canonical(void **state) {
    (void)state;
    /* Pinned value: a change to the canonical form or the hash breaks stored runs, so it
     * must be deliberate. FNV-1a 64 of the canonical text, computed independently:
     * python3 -c 'h=0xcbf29ce484222325
     * for b in s.encode(): h=((h^b)*0x100000001b3)%2**64' */
    uh_arch_t a;
    uh_error_t err = {0};
    assert_int_equal(parse("{\"layers\":[{\"type\":\"dense\",\"units\":10}]}", &a, &err), UH_OK);
    char canon[256];
    uh_arch_canonical(&a, canon, sizeof canon);
    assert_string_equal(canon,
                        "{\"layers\":[{\"type\":\"dense\",\"units\":10,\"activation\":\"none\"}]}");
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *p = canon; *p; p++) h = (h ^ (unsigned char)*p) * 0x100000001b3ull;
    char want[17], got[17];
    snprintf(want, sizeof want, "%016llx", (unsigned long long)h);
    uh_arch_hash(&a, got);
    assert_string_equal(got, want);
    assert_string_equal(got, "15dac048e1a45af6");
}

/* ---- one test per kind of fault ---------------------------------------------------- */

static void test_invalid_json(void **state) {
    (void)state;
    expect_error("{\"layers\":[{\"type\":\"dense\",\"units\":10}", UH_EINVAL, "invalid JSON");
    expect_error("", UH_EINVAL, "empty");
    expect_error("{\"layers\":[]} trailing", UH_EINVAL, "invalid JSON");
}

static void test_wrong_top_level(void **state) {
    (void)state;
    expect_error("[1,2]", UH_EINVAL, "must be a JSON object");
    expect_error("{\"layers\":{}}", UH_EINVAL, "\"layers\": must be an array");
    expect_error("{\"layers\":[]}", UH_EINVAL, "\"layers\": is empty");
    expect_error("{\"layers\":[{\"type\":\"dense\",\"units\":10}],\"name\":\"x\"}", UH_EINVAL,
                 "field \"name\": unknown key");
    expect_error("{\"layers\":[5]}", UH_EINVAL, "layer 1: must be a JSON object");
}

static void test_unknown_key(void **state) {
    (void)state;
    expect_error("{\"layers\":[{\"type\":\"dense\",\"units\":10,\"dropout\":0.5}]}", UH_EINVAL,
                 "layer 1 (dense): field \"dropout\": unknown key");
    expect_error("{\"layers\":[{\"type\":\"pool\",\"kind\":\"max\",\"size\":2,\"activation\":"
                 "\"relu\"},{\"type\":\"dense\",\"units\":10}]}",
                 UH_EINVAL, "layer 1 (pool): field \"activation\": unknown key");
}

static void test_duplicate_key(void **state) {
    (void)state;
    expect_error("{\"layers\":[{\"type\":\"dense\",\"units\":64,\"units\":10}]}", UH_EINVAL,
                 "layer 1 (dense): field \"units\": given more than once");
}

static void test_wrong_types(void **state) {
    (void)state;
    expect_error(
        "{\"layers\":[{\"type\":\"dense\",\"units\":\"10\"}]}", UH_EINVAL,
        "layer 1 (dense): field \"units\": must be an integer in 1..4096, got a non-number");
    expect_error("{\"layers\":[{\"type\":\"dense\",\"units\":10.5}]}", UH_EINVAL,
                 "field \"units\": must be an integer in 1..4096, got 10.5");
    expect_error("{\"layers\":[{\"type\":7,\"units\":10}]}", UH_EINVAL,
                 "layer 1 (?): field \"type\": must be a string");
    expect_error("{\"layers\":[{\"type\":\"dense\",\"units\":10,\"activation\":true}]}", UH_EINVAL,
                 "field \"activation\": must be a string");
}

static void test_unknown_names(void **state) {
    (void)state;
    expect_error("{\"layers\":[{\"type\":\"lstm\",\"units\":10}]}", UH_EINVAL,
                 "field \"type\": unknown value \"lstm\"");
    expect_error("{\"layers\":[{\"type\":\"dense\",\"units\":10,\"activation\":\"gelu\"}]}",
                 UH_EINVAL, "field \"activation\": unknown value \"gelu\"");
    expect_error("{\"layers\":[{\"type\":\"pool\",\"kind\":\"min\",\"size\":2},"
                 "{\"type\":\"dense\",\"units\":10}]}",
                 UH_EINVAL, "layer 1 (pool): field \"kind\": unknown value \"min\"");
}

static void test_missing_required(void **state) {
    (void)state;
    expect_error("{\"layers\":[{\"units\":10}]}", UH_EINVAL, "field \"type\": is required");
    expect_error(
        "{\"layers\":[{\"type\":\"conv2d\",\"filters\":8},{\"type\":\"dense\",\"units\":10}]}",
        UH_EINVAL, "layer 1 (conv2d): field \"kernel\": is required");
}

static void test_zero_and_negative_sizes(void **state) {
    (void)state;
    expect_error(
        "{\"layers\":[{\"type\":\"dense\",\"units\":0},{\"type\":\"dense\",\"units\":10}]}",
        UH_EINVAL, "layer 1 (dense): field \"units\": must be an integer in 1..4096, got 0");
    expect_error("{\"layers\":[{\"type\":\"conv2d\",\"filters\":-4,\"kernel\":3},"
                 "{\"type\":\"dense\",\"units\":10}]}",
                 UH_EINVAL, "field \"filters\": must be an integer in 1..512, got -4");
    expect_error("{\"layers\":[{\"type\":\"conv2d\",\"filters\":4,\"kernel\":0},"
                 "{\"type\":\"dense\",\"units\":10}]}",
                 UH_EINVAL,
                 "layer 1 (conv2d): field \"kernel\": must be an integer in 1..11, got 0");
    expect_error("{\"layers\":[{\"type\":\"pool\",\"kind\":\"max\",\"size\":2,\"stride\":0},"
                 "{\"type\":\"dense\",\"units\":10}]}",
                 UH_EINVAL, "field \"stride\": must be an integer in 1..8, got 0");
    expect_error("{\"layers\":[{\"type\":\"dense\",\"units\":1e300}]}", UH_EINVAL,
                 "must be an integer in 1..4096, got 1e+300");
}

static void test_bits_and_tile_ranges(void **state) {
    (void)state;
    expect_error("{\"layers\":[{\"type\":\"dense\",\"units\":10,\"bits\":1}]}", UH_EINVAL,
                 "field \"bits\": must be an integer in 2..32");
    expect_error("{\"layers\":[{\"type\":\"dense\",\"units\":10,\"bits\":24}]}", UH_EINVAL,
                 "field \"bits\": must be in 2..16, or 32 for full precision, got 24");
    expect_error("{\"layers\":[{\"type\":\"dense\",\"units\":10,\"tile\":1}]}", UH_EINVAL,
                 "field \"tile\": must be an integer in 2..1024, got 1");
    uh_arch_t a;
    uh_error_t err = {0};
    assert_int_equal(
        parse("{\"layers\":[{\"type\":\"dense\",\"units\":10,\"bits\":8,\"tile\":16}]}", &a, &err),
        UH_OK);
    assert_int_equal(a.layers[0].bits, 8);
    assert_int_equal(a.layers[0].tile, 16);
}

static void test_shapes_that_do_not_fit(void **state) {
    (void)state;
    /* kernel larger than its input (28 → pool 8 → 3, then a 5×5 kernel) */
    expect_error(
        "{\"layers\":[{\"type\":\"pool\",\"kind\":\"max\",\"size\":8},"
        "{\"type\":\"conv2d\",\"filters\":4,\"kernel\":5},{\"type\":\"dense\",\"units\":10}]}",
        UH_EINVAL, "layer 2 (conv2d): window 5×5 (padding 0) does not fit its 3×3 input");
    /* spatial layer after a dense one */
    expect_error(
        "{\"layers\":[{\"type\":\"dense\",\"units\":32},"
        "{\"type\":\"conv2d\",\"filters\":4,\"kernel\":3},{\"type\":\"dense\",\"units\":10}]}",
        UH_EINVAL, "layer 2 (conv2d): needs a 2-D input");
    /* "same" with an even kernel */
    expect_error(
        "{\"layers\":[{\"type\":\"conv2d\",\"filters\":4,\"kernel\":4,\"padding\":\"same\"},"
        "{\"type\":\"dense\",\"units\":10}]}",
        UH_EINVAL, "\"same\" needs an odd kernel");
    /* padding as large as the kernel */
    expect_error("{\"layers\":[{\"type\":\"conv2d\",\"filters\":4,\"kernel\":3,\"padding\":3},"
                 "{\"type\":\"dense\",\"units\":10}]}",
                 UH_EINVAL, "field \"padding\": must be an integer in 0..2, got 3");
}

static void test_last_layer_rule(void **state) {
    (void)state;
    expect_error("{\"layers\":[{\"type\":\"dense\",\"units\":12}]}", UH_EINVAL,
                 "layer 1 (dense): the last layer must be dense with units = 10");
    expect_error("{\"layers\":[{\"type\":\"conv2d\",\"filters\":10,\"kernel\":3}]}", UH_EINVAL,
                 "layer 1 (conv2d): the last layer must be dense");
}

static void test_limits(void **state) {
    (void)state;
    /* too many layers */
    char big[8192] = "{\"layers\":[";
    for (int i = 0; i < UH_ARCH_MAX_LAYERS; i++) strcat(big, "{\"type\":\"dense\",\"units\":10},");
    strcat(big, "{\"type\":\"dense\",\"units\":10}]}");
    expect_error(big, UH_ELIMIT, "33 layers, more than the limit of 32");
    /* too many units in one layer */
    expect_error(
        "{\"layers\":[{\"type\":\"dense\",\"units\":5000},{\"type\":\"dense\",\"units\":10}]}",
        UH_EINVAL, "must be an integer in 1..4096, got 5000");
    /* too many parameters: 784·4096 + 4096·4096 + ... crosses 20M at layer 3 */
    expect_error(
        "{\"layers\":[{\"type\":\"dense\",\"units\":4096},{\"type\":\"dense\",\"units\":4096},"
        "{\"type\":\"dense\",\"units\":4096},{\"type\":\"dense\",\"units\":10}]}",
        UH_ELIMIT, "layer 3 (dense): brings the parameter count to");
    /* too much working memory per sample: a 512-channel input unfolded for a 5×5 kernel is
     * 512·25·28·28 = 10 M values */
    expect_error("{\"layers\":[{\"type\":\"conv2d\",\"filters\":512,\"kernel\":3,\"padding\":1},"
                 "{\"type\":\"conv2d\",\"filters\":8,\"kernel\":5,\"padding\":2},"
                 "{\"type\":\"dense\",\"units\":10}]}",
                 UH_ELIMIT,
                 "layer 2 (conv2d): unfolded input of 10035200 values exceeds the limit");
    /* a layer output over 1 M values: 512 filters on a 3×64×64 input */
    const char *wide = "{\"layers\":[{\"type\":\"conv2d\",\"filters\":512,\"kernel\":3,"
                       "\"padding\":1},{\"type\":\"dense\",\"units\":10}]}";
    uh_arch_t a;
    uh_error_t err = {0};
    uh_shape_t rgb64 = {3, 64, 64, 10};
    assert_int_equal(uh_arch_parse(wide, strlen(wide), rgb64, &a, &err), UH_ELIMIT);
    assert_non_null(strstr(err.msg, "layer 1 (conv2d): output of 2097152 values per sample"));
    /* too many MACs: 512 → 512 channels, 3×3, on 28×28 is 512·512·9·784 = 1.85e9 */
    expect_error("{\"layers\":[{\"type\":\"conv2d\",\"filters\":512,\"kernel\":3,\"padding\":1},"
                 "{\"type\":\"conv2d\",\"filters\":512,\"kernel\":3,\"padding\":1},"
                 "{\"type\":\"dense\",\"units\":10}]}",
                 UH_ELIMIT, "layer 2 (conv2d): brings the MACs per inference to");
    /* text too long */
    size_t n = UH_ARCH_MAX_JSON_BYTES + 1;
    char *huge = malloc(n + 1);
    assert_non_null(huge);
    memset(huge, ' ', n);
    huge[n] = '\0';
    expect_error(huge, UH_ELIMIT, "more than the limit of 65536");
    free(huge);
}

static void test_hostile_text_never_crashes(void **state) {
    (void)state;
    /* Random byte mutations of a valid description: each must parse or fail cleanly. */
    const char *seed_json =
        "{\"layers\":[{\"type\":\"conv2d\",\"filters\":8,\"kernel\":3,"
        "\"padding\":\"same\",\"activation\":\"relu\",\"bits\":8},"
        "{\"type\":\"pool\",\"kind\":\"max\",\"size\":2},{\"type\":\"flatten\"},"
        "{\"type\":\"dense\",\"units\":64,\"activation\":\"tanh\"},"
        "{\"type\":\"dense\",\"units\":10}]}";
    size_t len = strlen(seed_json);
    const char alphabet[] = "{}[]\":,0123456789-.eE tnfrul\\";
    uh_rng_t rng;
    uh_rng_seed(&rng, 42);
    int ok = 0;
    for (int iter = 0; iter < 5000; iter++) {
        char buf[512];
        memcpy(buf, seed_json, len);
        int edits = 1 + (int)uh_rng_below(&rng, 4);
        for (int e = 0; e < edits; e++)
            buf[uh_rng_below(&rng, len)] = alphabet[uh_rng_below(&rng, sizeof alphabet - 1)];
        size_t cut = uh_rng_below(&rng, 8) == 0 ? uh_rng_below(&rng, len) + 1 : len;
        uh_arch_t a;
        uh_error_t err = {0};
        int rc = uh_arch_parse(buf, cut, MNIST, &a, &err);
        if (rc == UH_OK) {
            ok++;
            assert_true(a.params > 0 && a.params <= UH_ARCH_MAX_PARAMS);
        } else {
            assert_true(err.msg[0] != '\0');
        }
    }
    assert_true(ok > 0); /* some mutations (e.g. a digit) still give valid networks */
}

static void test_describe(void **state) {
    (void)state;
    uh_arch_t a;
    uh_error_t err = {0};
    assert_int_equal(parse(RELU_MLP(128, 10), &a, &err), UH_OK);
    char buf[2048];
    assert_true(uh_arch_describe(&a, buf, sizeof buf) > 0);
    assert_non_null(strstr(buf, "params 100480"));
    assert_non_null(strstr(buf, "total params 101770, MACs per inference 101632"));
    assert_int_equal(uh_arch_describe(&a, buf, 8), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paper_example_counts),
        cmocka_unit_test(test_padding_stride_and_same),
        cmocka_unit_test(test_canonical_form_is_stable),
        cmocka_unit_test(test_hash_is_fnv1a_of_canonical),
        cmocka_unit_test(test_invalid_json),
        cmocka_unit_test(test_wrong_top_level),
        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_unknown_names),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_zero_and_negative_sizes),
        cmocka_unit_test(test_bits_and_tile_ranges),
        cmocka_unit_test(test_shapes_that_do_not_fit),
        cmocka_unit_test(test_last_layer_rule),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_hostile_text_never_crashes),
        cmocka_unit_test(test_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
