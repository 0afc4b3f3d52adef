/* Export: weight files round-trip and refuse damage; JSON and CSV describe the layers; and
 * the generated PyTorch module, loaded by Debian's python3-torch with uhnas's weights, gives
 * uhnas's logits on the same input to 1e-5 (skipped, with a message, without torch). */
#include "common.h"

#include <unistd.h>

#include "uhnas/export.h"
#include "uhnas/fileio.h"
#include "uhnas/nn.h"
#include "uhnas/rng.h"

static const uh_shape_t SHAPE = {2, 12, 12, 5};

static void test_weight_files(void **state) {
    (void)state;
    char path[128];
    tmp_pathf(path, sizeof path, "w.uhw");
    float w[5] = {1.5f, -0.0f, 3.4028235e38f, -1e-38f, 0.1f};
    uh_error_t err = {0};
    assert_int_equal(uh_weights_write(path, w, 5, &err), UH_OK);
    float *back;
    size_t n;
    assert_int_equal(uh_weights_read(path, &back, &n, &err), UH_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(back, w, sizeof w);
    free(back);
    /* truncated, a count that lies, and a foreign file are refused */
    char *bytes;
    size_t len;
    assert_int_equal(uh_read_file(path, 1 << 20, &bytes, &len, &err), UH_OK);
    assert_int_equal(uh_write_file_atomic(path, bytes, len - 1, &err), UH_OK);
    assert_int_equal(uh_weights_read(path, &back, &n, &err), UH_EFORMAT);
    bytes[8] = 6;
    assert_int_equal(uh_write_file_atomic(path, bytes, len, &err), UH_OK);
    assert_int_equal(uh_weights_read(path, &back, &n, &err), UH_EFORMAT);
    assert_non_null(strstr(err.msg, "says 6 weights"));
    memcpy(bytes, "PNG\r\n\032\n\0", 8);
    assert_int_equal(uh_write_file_atomic(path, bytes, len, &err), UH_OK);
    assert_int_equal(uh_weights_read(path, &back, &n, &err), UH_EFORMAT);
    free(bytes);
}

static void test_json_and_csv(void **state) {
    (void)state;
    uh_arch_t a;
    parse_arch("{\"layers\":[{\"type\":\"conv2d\",\"filters\":3,\"kernel\":3,\"padding\":\"same\","
               "\"activation\":\"abs\",\"bits\":6},{\"type\":\"pool\",\"kind\":\"avg\",\"size\":2},"
               "{\"type\":\"dense\",\"units\":5}]}",
               SHAPE, &a);
    float *w = calloc((size_t)a.params, sizeof *w);
    char *text;
    uh_error_t err = {0};
    assert_int_equal(uh_export(&a, w, (size_t)a.params, UH_EXPORT_JSON, NULL, &text, &err), UH_OK);
    assert_contains(text, "\"weight_shape\":[3,2,3,3]",
                    "\"weight_shape\":[5,108]", /* 3 × 6 × 6 flattened */
                    "\"bits\":6");
    int commas = 0;
    for (const char *p = strstr(text, "\"weights\":["); p && *p; p++) commas += *p == ',';
    assert_int_equal(commas, a.params - 1);
    free(text);
    assert_int_equal(uh_export(&a, NULL, 0, UH_EXPORT_CSV, NULL, &text, &err), UH_OK);
    int lines = 0;
    for (const char *p = text; *p; p++) lines += *p == '\n';
    assert_int_equal(lines, 4); /* header + 3 layers */
    assert_non_null(strstr(text, "2,pool,0,0,0,2,0,avg,2,"));
    free(text);
    assert_int_equal(uh_export(&a, w, 3, UH_EXPORT_JSON, NULL, &text, &err), UH_EINVAL);
    free(w);
}

/* The python3 that has torch, or NULL. */
static const char *python_with_torch(void) {
    static const char *const candidates[] = {"/usr/bin/python3", "python3"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "%s -c 'import torch' >/dev/null 2>&1", candidates[i]);
        if (system(cmd) == 0) return candidates[i];
    }
    return NULL;
}

static void write_floats(const char *path, const float *x, size_t n) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(x, sizeof *x, n, f), n);
    fclose(f);
}

/* Exports arch with seeded weights and checks PyTorch's logits against uhnas's. */
static void round_trip(const char *python, const char *json, int index) {
    uh_arch_t a;
    parse_arch(json, SHAPE, &a);
    const int N = 6;
    uh_error_t err = {0};
    uh_net_t *net = uh_net_new(&a, N, 100 + (uint64_t)index, &err);
    assert_non_null(net);
    float *p = uh_net_params(net);
    uh_rng_t rng;
    uh_rng_seed(&rng, (uint64_t)index);
    for (size_t i = 0; i < uh_net_n_params(net); i++) /* biases too, not just the zero init */
        if (p[i] == 0.0f) p[i] = (float)(0.1 * uh_rng_normal(&rng));
    size_t in = (size_t)SHAPE.c * SHAPE.h * SHAPE.w;
    float *x = malloc((size_t)N * in * sizeof *x);
    for (size_t i = 0; i < (size_t)N * in; i++) x[i] = (float)uh_rng_uniform(&rng);
    const float *logits = uh_net_forward(net, x, N);
    assert_non_null(logits);
    char base[128], module[160], weights[160], input[160], expect[160], cmd[2048];
    tmp_pathf(base, sizeof base, "net%d", index);
    snprintf(module, sizeof module, "%s.py", base);
    snprintf(weights, sizeof weights, "%s.uhw", base);
    snprintf(input, sizeof input, "%s.in", base);
    snprintf(expect, sizeof expect, "%s.out", base);
    assert_int_equal(uh_weights_write(weights, p, uh_net_n_params(net), &err), UH_OK);
    char *text;
    assert_int_equal(uh_export(&a, NULL, 0, UH_EXPORT_PYTORCH, weights, &text, &err), UH_OK);
    assert_int_equal(uh_write_file_atomic(module, text, strlen(text), &err), UH_OK);
    free(text);
    write_floats(input, x, (size_t)N * in);
    write_floats(expect, logits, (size_t)N * SHAPE.n_classes);
    snprintf(cmd, sizeof cmd,
             "cd / && %s - '%s' '%s' '%s' %d %d %d %d %d <<'PY'\n"
             "import importlib.util, sys, torch\n"
             "path, inp, exp = sys.argv[1:4]\n"
             "n, c, h, w, k = map(int, sys.argv[4:9])\n"
             "spec = importlib.util.spec_from_file_location('exported', path)\n"
             "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
             "model = m.build()  # its weights found beside it, from another directory\n"
             "px = torch.tensor([0, 51, 255], dtype=torch.uint8).repeat(c * h * w)[:c * h * w]\n"
             "assert torch.equal(m.preprocess(px.view(1, c, h, w)),\n"
             "                   px.to(torch.float32).view(1, c, h, w) / 255.0)\n"
             "x = torch.frombuffer(bytearray(open(inp, 'rb').read()), dtype=torch.float32)\n"
             "want = torch.frombuffer(bytearray(open(exp, 'rb').read()), dtype=torch.float32)\n"
             "with torch.no_grad():\n"
             "    got = model(x.view(n, c, h, w))\n"
             "d = (got.flatten() - want).abs().max().item()\n"
             "print('export %%s: max |logit difference| = %%.3g' %% (path, d))\n"
             "sys.exit(0 if d <= 1e-5 else 1)\n"
             "PY",
             python, module, input, expect, N, SHAPE.c, SHAPE.h, SHAPE.w, SHAPE.n_classes);
    int rc = system(cmd);
    if (rc != 0) fail_msg("PyTorch's logits differ from uhnas's for %s", json);
    free(x);
    uh_net_free(net);
}

static void test_pytorch_matches_uhnas(void **state) {
    (void)state;
    const char *python = python_with_torch();
    if (!python) {
        print_message("skipped: no python3 with torch (Debian: apt-get install python3-torch)\n");
        skip();
    }
    static const char *const archs[] = {
        "{\"layers\":[{\"type\":\"dense\",\"units\":16,\"activation\":\"relu\"},"
        "{\"type\":\"dense\",\"units\":12,\"activation\":\"tanh\"},"
        "{\"type\":\"dense\",\"units\":9,\"activation\":\"square\"},"
        "{\"type\":\"dense\",\"units\":5}]}",
        "{\"layers\":[{\"type\":\"conv2d\",\"filters\":4,\"kernel\":3,\"padding\":1,"
        "\"activation\":\"leaky_relu\"},{\"type\":\"pool\",\"kind\":\"max\",\"size\":2},"
        "{\"type\":\"conv2d\",\"filters\":6,\"kernel\":3,\"stride\":2,\"activation\":\"sigmoid\"},"
        "{\"type\":\"pool\",\"kind\":\"avg\",\"size\":2,\"stride\":1},"
        "{\"type\":\"flatten\"},{\"type\":\"dense\",\"units\":7,\"activation\":\"abs\"},"
        "{\"type\":\"dense\",\"units\":5}]}",
        "{\"layers\":[{\"type\":\"conv2d\",\"filters\":3,\"kernel\":5,\"activation\":\"relu\","
        "\"bits\":6},{\"type\":\"dense\",\"units\":10,\"activation\":\"tanh\",\"bits\":4},"
        "{\"type\":\"dense\",\"units\":5,\"bits\":8}]}",
    };
    for (int i = 0; i < (int)(sizeof archs / sizeof archs[0]); i++) round_trip(python, archs[i], i);
}

UH_TEST_MAIN(tmp_setup, tmp_teardown, cmocka_unit_test(test_weight_files),
             cmocka_unit_test(test_json_and_csv), cmocka_unit_test(test_pytorch_matches_uhnas))
