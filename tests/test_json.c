/* The strict JSON reader (uhnas/json.h): the field table's types, bounds, defaults and
 * required keys, unknown and repeated keys, nesting, line:column of syntax errors, limits on
 * hostile input, and a backend file's syntax error named with its file, line and column. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "uhnas/arch.h"
#include "uhnas/backend.h"
#include "uhnas/fileio.h"
#include "uhnas/json.h"
#include "uhnas/strbuf.h"

typedef struct {
    int depth, kept;
    long big;
    double ratio;
    float rate;
    int on, mode;
    char label[8];
    struct {
        double x;
        int n;
    } inner;
    const cJSON *extra;
    int custom_calls;
} doc_t;

static const char *const MODES[] = {"fast", "exact", NULL};

static int read_twice(const cJSON *v, void *dest, const char *name, uh_error_t *err) {
    if (!cJSON_IsNumber(v)) return uh_error_set(err, UH_EINVAL, "%s: want a number", name);
    doc_t *d = dest;
    d->custom_calls++;
    d->kept = 2 * (int)v->valuedouble;
    return UH_OK;
}

#define ROW(key, type, m, req, lo, hi, dflt) UH_JSON_ROW(key, type, doc_t, m, req, lo, hi, dflt)
static const uh_json_field_t INNER[] = {
    UH_JSON_ROW("x", UH_JSON_NUMBER, doc_t, inner.x, 0, -1, 1, 0.5),
    UH_JSON_ROW("n", UH_JSON_INT, doc_t, inner.n, 1, 0, 9, 0),
    {NULL}};
static const uh_json_field_t FIELDS[] = {
    ROW("depth", UH_JSON_INT, depth, 1, 1, 64, 0),
    ROW("big", UH_JSON_LONG, big, 0, 0, 1e12, 7),
    ROW("ratio", UH_JSON_NUMBER, ratio, 0, 0, 1, 0.25),
    ROW("rate", UH_JSON_FLOAT, rate, 0, 0, 10, 1),
    ROW("on", UH_JSON_BOOL, on, 0, 0, 0, 1),
    {"mode", UH_JSON_CHOICE, offsetof(doc_t, mode), 0, 0, 0, 1, .choices = MODES},
    ROW("label", UH_JSON_STRING, label, 0, 0, sizeof((doc_t *)0)->label, 0),
    {"inner", UH_JSON_OBJECT, 0, 0, .fields = INNER},
    {"extra", UH_JSON_ANY, offsetof(doc_t, extra), .required = 0},
    {"twice", UH_JSON_CUSTOM, .read = read_twice},
    {NULL}};

/* Parses text and reads it by FIELDS into d; the rc, with the message in err. */
static int read_doc(const char *text, doc_t *d, uh_error_t *err) {
    memset(d, 0, sizeof *d);
    d->kept = 99;
    strcpy(d->label, "none");
    cJSON *root;
    int rc = uh_json_parse(text, strlen(text), "test doc", &root, err);
    if (rc) return rc;
    rc = uh_json_read(root, "cfg", FIELDS, d, 0, err);
    cJSON_Delete(root);
    return rc;
}

static void expect_bad(const char *text, const char *needle) {
    doc_t d;
    uh_error_t err = {0};
    int rc = read_doc(text, &d, &err);
    if (rc == UH_OK || !strstr(err.msg, needle))
        fail_msg("%s\nwant an error containing \"%s\"\ngot rc %d: %s", text, needle, rc, err.msg);
}

static void test_types_and_defaults(void **state) {
    (void)state;
    doc_t d;
    uh_error_t err = {0};
    assert_int_equal(read_doc("{\"depth\": 3, \"inner\": {\"n\": 2}}", &d, &err), UH_OK);
    assert_int_equal(d.depth, 3);
    assert_int_equal(d.big, 7);
    assert_true(d.ratio == 0.25 && d.rate == 1.0f && d.on == 1 && d.mode == 1);
    assert_string_equal(d.label, "none"); /* an absent string keeps the caller's */
    assert_true(d.inner.x == 0.5 && d.inner.n == 2);
    assert_null(d.extra);
    assert_int_equal(d.custom_calls, 0); /* a custom reader only sees present keys */
    assert_int_equal(d.kept, 99);
    assert_int_equal(read_doc("{\"depth\": 64, \"big\": 1e12, \"ratio\": 1, \"rate\": 0.5, \"on\": "
                              "false, \"mode\": \"fast\", \"label\": \"seven77\", \"inner\": "
                              "{\"x\": -1, \"n\": 9}, \"extra\": [1, 2], \"twice\": 4}",
                              &d, &err),
                     UH_OK);
    assert_true(d.depth == 64 && d.big == 1000000000000L && d.ratio == 1 && d.rate == 0.5f);
    assert_true(d.on == 0 && d.mode == 0 && d.inner.x == -1 && d.inner.n == 9);
    assert_string_equal(d.label, "seven77");
    assert_true(cJSON_IsArray(d.extra));
    assert_int_equal(d.custom_calls, 1);
    assert_int_equal(d.kept, 8);
}

/* "did you mean": a typo (a swap, a missing or extra letter, within the limits per length)
 * finds its name; a word too far from every name, or one letter against another, finds none;
 * an architecture's messages never carry a hint (their words are part of a transcript's key). */
static void test_nearest_names(void **state) {
    (void)state;
    const char *const names[] = {"nsga2", "random", "evolution", "linas", "llm", "llmatic"};
    assert_string_equal(uh_nearest("nsag2", names, 6), "nsga2");         /* a swap */
    assert_string_equal(uh_nearest("evolutoin", names, 6), "evolution"); /* 1 of 9 */
    assert_string_equal(uh_nearest("randm", names, 6), "random");        /* a deletion */
    assert_string_equal(uh_nearest("llms", names, 6), "llm");            /* an insertion */
    assert_null(uh_nearest("genetic", names, 6));                        /* too far */
    assert_string_equal(uh_nearest("lina55", names, 6), "linas");        /* 2 edits of 6 */
    assert_null(uh_nearest("lin555", names, 6));                         /* 3 of 6: too many */
    const char *const one[] = {"x", "n"};
    assert_null(uh_nearest("m", one, 2)); /* one letter is no typo of another */
    assert_null(uh_nearest("nsga2", names, 0));
    char longer[UH_NEAREST_MAX + 2];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    assert_null(uh_nearest(longer, names, 6));
    /* an architecture's unknown key: no hint */
    uh_arch_t a;
    uh_error_t err = {0};
    const char *text = "{\"layers\":[{\"type\":\"dense\",\"unitz\":4}]}";
    assert_int_not_equal(uh_arch_parse(text, strlen(text), (uh_shape_t){1, 12, 12, 4}, &a, &err),
                         UH_OK);
    assert_non_null(strstr(err.msg, "unknown"));
    assert_null(strstr(err.msg, "did you mean"));
}

static void test_refusals(void **state) {
    (void)state;
    expect_bad("{\"inner\": {\"n\": 1}}", "cfg.depth: is required");
    expect_bad("{\"depth\": 2}", "cfg.inner.n: is required"); /* an absent object reads as {} */
    expect_bad("{\"depth\": 0, \"inner\": {\"n\": 1}}",
               "cfg.depth: must be an integer in 1..64, got 0");
    expect_bad("{\"depth\": 2.5, \"inner\": {\"n\": 1}}", "must be an integer in 1..64, got 2.5");
    expect_bad("{\"depth\": \"2\", \"inner\": {\"n\": 1}}", "got a non-number");
    expect_bad("{\"depth\": 2, \"big\": 1e13, \"inner\": {\"n\": 1}}",
               "cfg.big: must be an integer in 0..1000000000000, got 1e+13");
    expect_bad("{\"depth\": 2, \"ratio\": 1.5, \"inner\": {\"n\": 1}}",
               "cfg.ratio: must be in 0..1, got 1.5");
    expect_bad("{\"depth\": 2, \"ratio\": 1e999, \"inner\": {\"n\": 1}}", "cfg.ratio: must be in");
    expect_bad("{\"depth\": 2, \"on\": 1, \"inner\": {\"n\": 1}}", "cfg.on: must be true or false");
    expect_bad("{\"depth\": 2, \"mode\": \"slow\", \"inner\": {\"n\": 1}}",
               "cfg.mode: unknown value \"slow\"; expected one of \"fast\", \"exact\"");
    expect_bad("{\"depth\": 2, \"mode\": 0, \"inner\": {\"n\": 1}}",
               "cfg.mode: must be a string, one of \"fast\", \"exact\"");
    expect_bad("{\"depth\": 2, \"label\": \"eight888\", \"inner\": {\"n\": 1}}",
               "cfg.label: longer than 7 bytes");
    expect_bad("{\"depth\": 2, \"inner\": 5}", "cfg.inner: must be an object");
    expect_bad("{\"depth\": 2, \"inner\": {\"n\": 1, \"m\": 2}}",
               "cfg.inner.m: unknown key; allowed keys are: x, n");
    expect_bad("{\"depth\": 2, \"twice\": \"x\", \"inner\": {\"n\": 1}}",
               "cfg.twice: want a number");
    /* a typo must not silently drop a number, and a key given twice is not read once */
    expect_bad("{\"depht\": 2, \"inner\": {\"n\": 1}}",
               "cfg.depht: unknown key (did you mean \"depth\"?); allowed keys are: depth, ");
    expect_bad("{\"depth\": 2, \"depth\": 3, \"inner\": {\"n\": 1}}",
               "cfg.depth: given more than once");
    expect_bad("[1]", "cfg: must be an object");
}

/* Hardware numbers carry their source; the value is checked as the key itself. */
static void test_sourced_numbers(void **state) {
    (void)state;
    static const uh_json_field_t one[] = {
        UH_JSON_ROW("pj", UH_JSON_NUMBER, doc_t, ratio, 1, 0, 10, 0), {NULL}};
    const char *cases[][2] = {
        {"{\"pj\": {\"value\": 2, \"source\": \"datasheet\"}}", NULL},
        {"{\"pj\": 2}", "params.pj: must be {\"value\": number, \"source\": \"...\"}"},
        {"{\"pj\": {\"value\": 2}}", "params.pj: needs a \"source\""},
        {"{\"pj\": {\"value\": 2, \"source\": \"ab\"}}", "params.pj: needs a \"source\""},
        {"{\"pj\": {\"value\": 20, \"source\": \"datasheet\"}}",
         "params.pj: must be in 0..10, got 20"},
        {"{\"pj\": {\"value\": 2, \"source\": \"datasheet\", \"unit\": \"pJ\"}}",
         "params.pj.unit: unknown key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *root;
        uh_error_t err = {0};
        doc_t d = {0};
        assert_int_equal(uh_json_parse(cases[i][0], strlen(cases[i][0]), "t", &root, &err), UH_OK);
        int rc = uh_json_read(root, "params", one, &d, UH_JSON_SOURCED, &err);
        cJSON_Delete(root);
        if (!cases[i][1]) {
            assert_int_equal(rc, UH_OK);
            assert_true(d.ratio == 2);
        } else if (!rc || !strstr(err.msg, cases[i][1])) {
            fail_msg("%s: got %s", cases[i][0], rc ? err.msg : "no error");
        }
    }
}

static void expect_parse_error(const char *text, int code, const char *needle) {
    cJSON *root = (cJSON *)1;
    uh_error_t err = {0};
    int rc = uh_json_parse(text, strlen(text), "doc.json", &root, &err);
    assert_null(root);
    if (rc != code || !strstr(err.msg, needle))
        fail_msg("want %d \"%s\", got %d \"%s\"", code, needle, rc, err.msg);
}

static void test_syntax_errors_name_line_and_column(void **state) {
    (void)state;
    expect_parse_error("{\n  \"a\": 1,\n  \"b\": ]\n}", UH_EINVAL, "doc.json:3:8: invalid JSON");
    expect_parse_error("{\"a\": 1}\n\n  x", UH_EINVAL,
                       "doc.json:3:3: invalid JSON: unexpected text after the value");
    /* columns count characters: "é" is two bytes, one column */
    expect_parse_error("{\"é\": tru}", UH_EINVAL, "doc.json:1:7: invalid JSON");
    expect_parse_error("", UH_EINVAL, "doc.json:1:1: invalid JSON");
    cJSON *root;
    assert_int_equal(uh_json_parse("{\"a\": [1]} \r\n\t", 14, "doc.json", &root, NULL), UH_OK);
    cJSON_Delete(root);
}

static void test_hostile_input_limits(void **state) {
    (void)state;
    /* nesting: up to the limit is read, one more level is refused */
    char deep[2 * UH_JSON_MAX_DEPTH + 8];
    for (int extra = 0; extra <= 1; extra++) {
        int n = UH_JSON_MAX_DEPTH + extra;
        memset(deep, '[', (size_t)n);
        memset(deep + n, ']', (size_t)n);
        deep[2 * n] = '\0';
        cJSON *root = NULL;
        uh_error_t err = {0};
        int rc = uh_json_parse(deep, strlen(deep), "deep", &root, &err);
        cJSON_Delete(root);
        assert_int_equal(rc, extra ? UH_ELIMIT : UH_OK);
        if (extra) assert_non_null(strstr(err.msg, "deep: nested deeper than"));
    }
    /* far deeper than cJSON itself allows: refused, not a crash */
    static char bomb[100001];
    memset(bomb, '[', sizeof bomb - 1);
    expect_parse_error(bomb, UH_EINVAL, "invalid JSON");
    /* size: refused before parsing (the text need not even exist past its start) */
    cJSON *root;
    uh_error_t err = {0};
    assert_int_equal(uh_json_parse("{}", (size_t)UH_JSON_MAX_BYTES + 1, "huge", &root, &err),
                     UH_ELIMIT);
    assert_non_null(strstr(err.msg, "huge: "));
}

/* End to end: a backend file with a syntax error names its file, line and column. */
static void test_backend_file_syntax_error(void **state) {
    (void)state;
    char dir[] = "/tmp/uhnas-json-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof path, "%s/broken.json", dir);
    const char *text = "{\n"
                       "  \"name\": \"broken\",\n"
                       "  \"model\": \"digital\",\n"
                       "  \"params\": {\"format\": \"fp32\" \"mac_pj\": 1}\n"
                       "}\n";
    assert_int_equal(uh_write_file_atomic(path, text, strlen(text), NULL), UH_OK);
    uh_backend_t *b = NULL;
    uh_error_t err = {0};
    assert_int_equal(uh_backend_load_file(path, &b, &err), UH_EINVAL);
    assert_null(b);
    char want[128];
    snprintf(want, sizeof want, "backend %s:4:31: invalid JSON", path);
    if (!strstr(err.msg, want)) fail_msg("want \"%s\", got \"%s\"", want, err.msg);
    remove(path);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types_and_defaults),
        cmocka_unit_test(test_nearest_names),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_sourced_numbers),
        cmocka_unit_test(test_syntax_errors_name_line_and_column),
        cmocka_unit_test(test_hostile_input_limits),
        cmocka_unit_test(test_backend_file_syntax_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
