/* Export: weight files round-trip and refuse damage; JSON and CSV describe the layers; the
 * generated PyTorch module, loaded by Debian's python3-torch with uhnas's weights, gives
 * uhnas's logits on the same input to 1e-5; the ONNX model passes python3-onnx's checker and,
 * evaluated by an independent NumPy reader, gives them to 1e-4 (each skipped, with a message,
 * without its Python packages). */
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

/* The python3 that can import `modules` (a comma-separated list), or NULL. */
static const char *python_with(const char *modules) {
    static const char *const candidates[] = {"/usr/bin/python3", "python3"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "%s -c 'import %s' >/dev/null 2>&1", candidates[i], modules);
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

/* The nets every exporter is checked on: all activations, both poolings, strides, padding,
 * flatten, and "bits" on conv and dense layers. */
static const char *const ARCHS[] = {
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
#define N_ARCHS ((int)(sizeof ARCHS / sizeof ARCHS[0]))
#define N_SAMPLES 6

/* uhnas's side of a round trip: ARCHS[index] with seeded weights (biases too, not just the
 * zero init) in BASE.uhw, N_SAMPLES inputs in BASE.in and uhnas's logits for them in BASE.out
 * (raw float32); the architecture into a. */
static void reference(int index, const char *base, uh_arch_t *a) {
    parse_arch(ARCHS[index], SHAPE, a);
    uh_error_t err = {0};
    uh_net_t *net = uh_net_new(a, N_SAMPLES, 100 + (uint64_t)index, &err);
    assert_non_null(net);
    float *p = uh_net_params(net);
    uh_rng_t rng;
    uh_rng_seed(&rng, (uint64_t)index);
    for (size_t i = 0; i < uh_net_n_params(net); i++)
        if (p[i] == 0.0f) p[i] = (float)(0.1 * uh_rng_normal(&rng));
    size_t in = (size_t)SHAPE.c * SHAPE.h * SHAPE.w;
    float *x = malloc((size_t)N_SAMPLES * in * sizeof *x);
    for (size_t i = 0; i < (size_t)N_SAMPLES * in; i++) x[i] = (float)uh_rng_uniform(&rng);
    const float *logits = uh_net_forward(net, x, N_SAMPLES);
    assert_non_null(logits);
    char path[200];
    snprintf(path, sizeof path, "%s.uhw", base);
    assert_int_equal(uh_weights_write(path, p, uh_net_n_params(net), &err), UH_OK);
    snprintf(path, sizeof path, "%s.in", base);
    write_floats(path, x, (size_t)N_SAMPLES * in);
    snprintf(path, sizeof path, "%s.out", base);
    write_floats(path, logits, (size_t)N_SAMPLES * SHAPE.n_classes);
    free(x);
    uh_net_free(net);
}

/* Runs python on script (a heredoc body) with BASE and the shapes as arguments, from /. */
static int run_python(const char *python, const char *base, const char *script) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cd / && %s - '%s' %d %d %d %d %d <<'PY'\n%sPY", python, base,
             N_SAMPLES, SHAPE.c, SHAPE.h, SHAPE.w, SHAPE.n_classes, script);
    return system(cmd);
}

static void test_pytorch_matches_uhnas(void **state) {
    (void)state;
    const char *python = python_with("torch");
    if (!python) {
        print_message("skipped: no python3 with torch (Debian: apt-get install python3-torch)\n");
        skip();
    }
    for (int i = 0; i < N_ARCHS; i++) {
        uh_arch_t a;
        char base[128], module[160], weights[160];
        tmp_pathf(base, sizeof base, "net%d", i);
        reference(i, base, &a);
        snprintf(module, sizeof module, "%s.py", base);
        snprintf(weights, sizeof weights, "%s.uhw", base);
        char *text;
        uh_error_t err = {0};
        assert_int_equal(uh_export(&a, NULL, 0, UH_EXPORT_PYTORCH, weights, &text, &err), UH_OK);
        assert_int_equal(uh_write_file_atomic(module, text, strlen(text), &err), UH_OK);
        free(text);
        if (run_python(
                python, base,
                "import importlib.util, sys, torch\n"
                "base = sys.argv[1]\n"
                "n, c, h, w, k = map(int, sys.argv[2:7])\n"
                "spec = importlib.util.spec_from_file_location('exported', base + '.py')\n"
                "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
                "model = m.build()  # its weights found beside it, from another directory\n"
                "px = torch.tensor([0, 51, 255], dtype=torch.uint8).repeat(c * h * w)[:c * h * w]\n"
                "assert torch.equal(m.preprocess(px.view(1, c, h, w)),\n"
                "                   px.to(torch.float32).view(1, c, h, w) / 255.0)\n"
                "x = torch.frombuffer(bytearray(open(base + '.in', 'rb').read()), "
                "dtype=torch.float32)\n"
                "want = torch.frombuffer(bytearray(open(base + '.out', 'rb').read()), "
                "dtype=torch.float32)\n"
                "with torch.no_grad():\n"
                "    got = model(x.view(n, c, h, w))\n"
                "d = (got.flatten() - want).abs().max().item()\n"
                "print('export %s.py: max |logit difference| = %.3g' % (base, d))\n"
                "sys.exit(0 if d <= 1e-5 else 1)\n") != 0)
            fail_msg("PyTorch's logits differ from uhnas's for %s", ARCHS[i]);
    }
}

/* The ONNX model passes Debian's python3-onnx checker (with shape inference) and, run by an
 * evaluator written here from the ONNX operator definitions in NumPy (not uhnas's code),
 * gives uhnas's logits (skipped, with a message, without onnx and numpy). */
static void test_onnx_matches_uhnas(void **state) {
    (void)state;
    const char *python = python_with("onnx, numpy");
    if (!python) {
        print_message("skipped: no python3 with onnx and numpy (Debian: apt-get install "
                      "python3-onnx)\n");
        skip();
    }
    for (int i = 0; i < N_ARCHS; i++) {
        uh_arch_t a;
        char base[128], path[160], *model;
        size_t len, n;
        float *w;
        uh_error_t err = {0};
        tmp_pathf(base, sizeof base, "onnx%d", i);
        reference(i, base, &a);
        snprintf(path, sizeof path, "%s.uhw", base);
        assert_int_equal(uh_weights_read(path, &w, &n, &err), UH_OK);
        assert_int_equal(uh_export_onnx(&a, w, n, &model, &len, &err), UH_OK);
        snprintf(path, sizeof path, "%s.onnx", base);
        assert_int_equal(uh_write_file_atomic(path, model, len, &err), UH_OK);
        free(model);
        /* no weights, or too few: refused */
        assert_int_equal(uh_export_onnx(&a, NULL, 0, &model, &len, &err), UH_EINVAL);
        assert_int_equal(uh_export_onnx(&a, w, n - 1, &model, &len, &err), UH_EINVAL);
        free(w);
        if (run_python(
                python, base,
                "import sys, numpy as np, onnx\n"
                "from onnx import numpy_helper\n"
                "base = sys.argv[1]\n"
                "n, c, h, w, k = map(int, sys.argv[2:7])\n"
                "m = onnx.load(base + '.onnx')\n"
                "onnx.checker.check_model(m, full_check=True)\n"
                "env = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}\n"
                "env['input'] = np.fromfile(base + '.in', dtype=np.float32).reshape(n, c, h, w)\n"
                "def pool(x, k, s, f):\n"
                "    N, C, H, W = x.shape; oh, ow = (H - k) // s + 1, (W - k) // s + 1\n"
                "    win = [x[:, :, i:i + s * oh:s, j:j + s * ow:s] for i in range(k) "
                "for j in range(k)]\n"
                "    return f(np.stack(win), axis=0).astype(np.float32)\n"
                "def conv(x, wt, b, s, p):\n"
                "    x = np.pad(x, ((0, 0), (0, 0), (p[0], p[2]), (p[1], p[3])))\n"
                "    F, C, K, _ = wt.shape; N, _, H, W = x.shape\n"
                "    oh, ow = (H - K) // s[0] + 1, (W - K) // s[1] + 1\n"
                "    y = np.zeros((N, F, oh, ow), np.float64)\n"
                "    for i in range(K):\n"
                "        for j in range(K):\n"
                "            y += np.einsum('ncij,fc->nfij', x[:, :, i:i + s[0] * oh:s[0], "
                "j:j + s[1] * ow:s[1]], wt[:, :, i, j])\n"
                "    return (y + b.reshape(1, F, 1, 1)).astype(np.float32)\n"
                "for node in m.graph.node:\n"
                "    a = {t.name: onnx.helper.get_attribute_value(t) for t in node.attribute}\n"
                "    x = [env[i] for i in node.input]; op = node.op_type\n"
                "    if op == 'Conv': y = conv(x[0], x[1], x[2], a['strides'], a['pads'])\n"
                "    elif op == 'Gemm': y = (x[0].astype(np.float64) @ x[1].T.astype(np.float64) "
                "+ x[2]).astype(np.float32)\n"
                "    elif op == 'Relu': y = np.maximum(x[0], 0)\n"
                "    elif op == 'LeakyRelu': y = np.where(x[0] >= 0, x[0], np.float32(a['alpha']) "
                "* x[0])\n"
                "    elif op == 'Tanh': y = np.tanh(x[0])\n"
                "    elif op == 'Sigmoid': y = (1 / (1 + np.exp(-x[0]))).astype(np.float32)\n"
                "    elif op == 'MaxPool': y = pool(x[0], a['kernel_shape'][0], a['strides'][0], "
                "np.max)\n"
                "    elif op == 'AveragePool': y = pool(x[0], a['kernel_shape'][0], "
                "a['strides'][0], np.mean)\n"
                "    elif op == 'Flatten': y = x[0].reshape(x[0].shape[0], -1)\n"
                "    elif op == 'ReduceMax': y = np.max(x[0], axis=tuple(a['axes']), "
                "keepdims=bool(a['keepdims']))\n"
                "    elif op == 'Where': y = np.where(x[0], x[1], x[2])\n"
                "    else: y = {'Abs': np.abs, 'Sign': np.sign, 'Floor': np.floor, 'Identity': "
                "np.copy}[op](x[0]) if len(x) == 1 else {'Mul': np.multiply, 'Add': np.add, "
                "'Div': np.divide, 'Greater': np.greater}[op](x[0], x[1])\n"
                "    env[node.output[0]] = y\n"
                "want = np.fromfile(base + '.out', dtype=np.float32).reshape(n, k)\n"
                "d = np.abs(env['logits'] - want).max()\n"
                "print('onnx %s: %d nodes, max |logit difference| = %.3g' % (base, "
                "len(m.graph.node), d))\n"
                "sys.exit(0 if d <= 1e-4 else 1)\n") != 0)
            fail_msg("the ONNX model's logits differ from uhnas's for %s", ARCHS[i]);
    }
}

UH_TEST_MAIN(tmp_setup, tmp_teardown, cmocka_unit_test(test_weight_files),
             cmocka_unit_test(test_json_and_csv), cmocka_unit_test(test_pytorch_matches_uhnas),
             cmocka_unit_test(test_onnx_matches_uhnas))
