/* The language-model module without a network: strict reply parsing against hostile text,
 * key redaction, prompt templates, the transcript (resume and replay) and the prompts built
 * from a backend. The HTTP client is tested against a real server in test_llm_cli.sh. */
#include "common.h"

#include <sys/resource.h>

#include <signal.h>

#include <unistd.h>

#include "../src/llm/llm_internal.h"
#include "uhnas/fileio.h"
#include "uhnas/llm.h"

static const int64_t PARENTS[] = {3, 7};

/* Hashes "known" to the run: the one of a 16-unit MLP. */
static char g_known[17];
static int is_known(const void *ctx, const char *hash) {
    (void)ctx;
    return strcmp(hash, g_known) == 0;
}

/* Reads a reply as the operator does, with the depth caps of `space` (NULL: none). */
static void parse_in(const char *text, const uh_backend_t *b, const uh_space_t *space, int want,
                     llm_reply_t *r) {
    llm_check_t c = {TINY, b, PARENTS, 2, is_known, NULL, NULL, 0, space};
    uh_error_t err = {0};
    if (llm_parse_reply(text, &c, want, r, &err)) fail_msg("%s", err.msg);
}

static void parse(const char *text, const uh_backend_t *b, int want, llm_reply_t *r) {
    parse_in(text, b, NULL, want, r);
}

/* A reply that was read (not fatal), with its items and the children kept from them. */
static void assert_counts(const llm_reply_t *r, int items, int children) {
    assert_null(r->fatal);
    assert_int_equal(r->n_items, items);
    assert_int_equal(r->n_children, children);
}

#define MLP(u)                                                                                     \
    "{\"layers\":[{\"type\":\"dense\",\"units\":" #u "},{\"type\":\"dense\",\"units\":4}]}"

static void test_reply_in_prose_and_fences(void **state) {
    (void)state;
    uh_backend_t *b = load_backend("mzi-realistic");
    llm_reply_t r;
    parse("Sure! {this is not json} Here you go:\n```json\n{\"children\":[{\"op\":\"mutate\","
          "\"parents\":[7],\"arch\":" MLP(
              24) "},{\"op\":\"crossover\",\"parents\":[3,7],\"arch\":"
                  "{\"layers\":[{\"type\":\"dense\",\"units\":40,\"activation\":\"abs\"},"
                  "{\"type\":\"dense\",\"units\":4}]}}],\"heuristics\":[\"a } in \\\"text\\\" "
                  "{\"]}\n```"
                  " Good luck {",
          b, 3, &r);
    assert_counts(&r, 2, 2);
    assert_int_equal(r.children[0].n_parents, 1);
    assert_true(r.children[0].parents[0] == 7);
    assert_int_equal(r.children[1].crossover, 1);
    assert_int_equal(r.children[1].arch.layers[0].act, UH_ACT_ABS);
    assert_int_equal(r.n_heuristics, 1);
    assert_string_equal(r.heuristics[0], "a } in \"text\" {");
    llm_reply_free(&r);
    uh_backend_free(b);
}

/* A child past the search's depth caps is refused with a reason the repair prompt can show
 * (a remote model's grammar does not cap depth, as the built-in model's does); a run stored
 * before the caps takes it. */
#define DENSE8 "{\"type\":\"dense\",\"units\":8},"
static void test_reply_depth_caps(void **state) {
    (void)state;
    uh_backend_t *b = load_backend("mzi-realistic");
    uh_space_t space;
    uh_error_t err = {0};
    if (uh_space_init(&space, b, TINY, &err)) fail_msg("%s", err.msg);
    const char *text =
        "{\"children\":["
        "{\"op\":\"mutate\",\"parents\":[7],\"arch\":{\"layers\":[" DENSE8 DENSE8 DENSE8 DENSE8
        "{\"type\":\"dense\",\"units\":4}]}},"
        "{\"op\":\"mutate\",\"parents\":[7],\"arch\":{\"layers\":[" DENSE8 DENSE8 DENSE8 DENSE8
            DENSE8 "{\"type\":\"dense\",\"units\":4}]}}]}";
    llm_reply_t r;
    parse_in(text, b, &space, 2, &r);
    assert_counts(&r, 2, 1);
    assert_int_equal(r.invalid, 1);
    assert_int_equal(r.children[0].arch.n_layers, 5);
    assert_non_null(strstr(r.problems.buf, "child 2"));
    assert_non_null(strstr(r.problems.buf, "0 conv2d and 5 hidden dense layers: the search takes "
                                           "at most 3 and 4"));
    llm_reply_free(&r);
    space.depth_caps = 0; /* a run stored before the caps */
    parse_in(text, b, &space, 2, &r);
    assert_counts(&r, 2, 2);
    llm_reply_free(&r);
    uh_backend_free(b);
}

static void test_unusable_replies(void **state) {
    (void)state;
    static const char *const texts[] = {
        "",
        "I cannot help with that.",
        "[1, 2, 3]",
        "{\"children\": {\"a\": 1}}",
        "{\"children\": \"none\"}",
        "{\"heuristics\": [\"x\"]}",
        "{\"children\": [",
        "{{{{{{{",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        llm_reply_t r;
        parse(texts[i], NULL, 2, &r);
        if (!r.fatal) fail_msg("text %zu was accepted", i);
        assert_int_equal(r.n_children, 0);
        llm_reply_free(&r);
    }
}

/* Each bad child is rejected with the precise reason the repair prompt will quote. */
static void test_bad_children_have_precise_errors(void **state) {
    (void)state;
    uh_backend_t *b = load_backend("mzi-realistic");
    uh_arch_t known;
    assert_int_equal(uh_arch_parse(MLP(16), strlen(MLP(16)), TINY, &known, NULL), UH_OK);
    uh_arch_hash(&known, g_known);
    llm_reply_t r;
    parse(
        "{\"children\":["
        "{\"arch\":{\"layers\":[{\"type\":\"dense\",\"units\":0},{\"type\":\"dense\",\"units\":4}]}"
        "},"
        "{\"arch\":{\"layers\":[{\"type\":\"dense\",\"units\":8,\"color\":\"red\"},"
        "{\"type\":\"dense\",\"units\":4}]}},"
        "{\"op\":\"delete\",\"arch\":" MLP(
            8) "},"
               "{\"parents\":[99],\"arch\":" MLP(
                   8) "},"
                      "{\"parents\":[\"3\"],\"arch\":" MLP(
                          8) "},"
                             "{\"arch\":{\"layers\":[{\"type\":\"dense\",\"units\":8,\"tile\":128},"
                             "{\"type\":\"dense\",\"units\":4}]}},"
                             "{\"arch\":" MLP(16) "},"
                                                  "{\"noarch\":1},"
                                                  "42,"
                                                  "{\"arch\":" MLP(8) "},{\"arch\":" MLP(
                                                      8) "},"
                                                         "{\"arch\":\""
                                                         "{\\\"layers\\\":[{\\\"type\\\":"
                                                         "\\\"dense\\\",\\\"units\\\":4}]}"
                                                         "\"}"
                                                         "]}",
        b, 4, &r);
    assert_counts(&r, 12, 2);         /* children: MLP(8) once, and the quoted single layer */
    assert_int_equal(r.duplicate, 2); /* the known MLP(16), the second MLP(8) */
    assert_int_equal(r.invalid, 8);
    const char *p = r.problems.buf;
    assert_non_null(strstr(p, "- child 2: ") && strstr(p, "color"));
    assert_contains(p, "- child 1: layer 1 (dense)", "units", "\"op\" must be",
                    "parent 99 is not one of the parents given", "must hold candidate ids",
                    "- child 6: breaks the hardware's constraints: layer 1",
                    "- child 7: duplicates", "- child 8: no \"arch\" object",
                    "- child 9: not a JSON object", "- child 11: duplicates");
    llm_reply_free(&r);
    uh_backend_free(b);
}

static void test_want_and_limits(void **state) {
    (void)state;
    /* more children than wanted: the first ones count */
    llm_reply_t r;
    parse("{\"children\":[{\"arch\":" MLP(5) "},{\"arch\":" MLP(6) "},{\"arch\":" MLP(7) "}]}",
          NULL, 2, &r);
    assert_int_equal(r.n_children, 2);
    assert_int_equal(r.children[1].arch.layers[0].units, 6);
    llm_reply_free(&r);
    /* deep nesting and a flood of braces end quickly, without a crash */
    size_t n = 200000;
    char *deep = malloc(2 * n + 64);
    assert_non_null(deep);
    strcpy(deep, "{\"children\":");
    size_t len = strlen(deep);
    for (size_t i = 0; i < n; i++) deep[len++] = '[';
    for (size_t i = 0; i < n; i++) deep[len++] = ']';
    deep[len++] = '}';
    deep[len] = '\0';
    parse(deep, NULL, 2, &r);
    assert_non_null(r.fatal);
    llm_reply_free(&r);
    memset(deep, '{', 2 * n);
    deep[2 * n] = '\0';
    parse(deep, NULL, 2, &r);
    assert_non_null(r.fatal);
    llm_reply_free(&r);
    free(deep);
}

static void test_heuristics_are_cleaned(void **state) {
    (void)state;
    char text[4096];
    char long_utf8[700] = "";
    for (int i = 0; i < 150; i++) strcat(long_utf8, "é"); /* 300 bytes */
    strcat(long_utf8, "Ωmore");
    snprintf(text, sizeof text,
             "{\"children\":[],\"heuristics\":[\"  tabs\\tand\\nlines  \", 7, \"\", \"   \","
             "\"%s\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\"]}",
             long_utf8);
    llm_reply_t r;
    parse(text, NULL, 1, &r);
    assert_int_equal(r.n_heuristics, UH_LLM_MAX_HEURISTICS);
    assert_string_equal(r.heuristics[0], "tabs and lines");
    assert_int_equal(strlen(r.heuristics[1]), 300); /* 150 × "é", Ω not cut in half */
    assert_int_equal((unsigned char)r.heuristics[1][299], 0xA9);
    assert_string_equal(r.heuristics[2], "3");
    llm_reply_free(&r);
}

static void test_redaction(void **state) {
    (void)state;
    char *s = uh_llm_redact("key sk-abc, again sk-abc!sk-abc", "sk-abc");
    assert_string_equal(s, "key [REDACTED], again [REDACTED]![REDACTED]");
    free(s);
    s = uh_llm_redact("a-very-long-secret-key-here", "a-very-long-secret-key-here");
    assert_string_equal(s, "[REDACTED]");
    free(s);
    s = uh_llm_redact("nothing to hide", NULL);
    assert_string_equal(s, "nothing to hide");
    free(s);
    s = uh_llm_redact("x x", "x"); /* a key shorter than the mark */
    assert_string_equal(s, "[REDACTED] [REDACTED]");
    free(s);
    /* a short key is redacted as a word only: the text around it stays readable */
    s = uh_llm_redact("networks: {\"kernel\": 3}; key=k, \"k\"\nk", "k");
    assert_string_equal(s, "networks: {\"kernel\": 3}; key=[REDACTED], \"[REDACTED]\"\n[REDACTED]");
    free(s);
    s = uh_llm_redact("sk-abcd sk-abc sk-abc_1 xsk-abc", "sk-abc");
    assert_string_equal(s, "sk-abcd [REDACTED] sk-abc_1 xsk-abc");
    free(s);
}

static void test_templates(void **state) {
    (void)state;
    llm_var_t vars[] = {{"A", "1"}, {"BB", "two"}};
    char *out;
    uh_error_t err = {0};
    assert_int_equal(llm_render("x{{A}}y{{BB}}{{A}} {{ open", vars, 2, &out, &err), UH_OK);
    assert_string_equal(out, "x1ytwo1 {{ open");
    free(out);
    assert_int_equal(llm_render("{{NOPE}}", vars, 2, &out, &err), UH_EINVAL);
    assert_non_null(strstr(err.msg, "{{NOPE}}"));
    /* every shipped template renders with the operator's variables (no typo in them) */
    char dir[1024];
    assert_int_equal(llm_prompt_dir(NULL, dir, sizeof dir, &err), UH_OK);
    char *t;
    assert_int_equal(llm_template_load(dir, "user.txt", &t, &err), UH_OK);
    assert_non_null(strstr(t, "{{KNOWLEDGE}}"));
    free(t);
}

static int chat(uh_llm_session_t *s, const char *user, char **reply, uh_llm_call_t *call,
                uh_error_t *err) {
    uh_llm_msg_t m[2] = {{"system", "sys"}, {"user", user}};
    uh_llm_usage_t u;
    return uh_llm_session_chat(s, 1, "propose", m, 2, 0.5, reply, &u, call, err);
}

/* A transcript written by one session answers the same requests in another, in order;
 * a truncated last line is skipped; unknown requests fail in replay. */
static void test_transcript_replay(void **state) {
    (void)state;
    char path[128], copy[128];
    tmp_pathf(path, sizeof path, "llm.jsonl");
    tmp_pathf(copy, sizeof copy, "replay.jsonl");
    /* lines as a live session writes them (keys from a first replay-only session's misses
     * are not known here, so write them through a session fed by a hand-made transcript) */
    uh_llm_session_t *s;
    uh_error_t err = {0};
    FILE *f = fopen(copy, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(uh_llm_session_new(NULL, path, copy, &s, &err), UH_OK);
    char *reply = NULL;
    uh_llm_call_t call;
    assert_int_equal(chat(s, "hello", &reply, &call, &err), UH_EIO);
    assert_int_equal(call.fail, UH_LLM_FAIL_REPLAY);
    assert_null(reply);
    uh_llm_session_free(s);
    /* the failed call was recorded: take its key and make two answers for that request */
    char *text = NULL;
    FILE *in = fopen(path, "r");
    assert_non_null(in);
    char line[65536];
    assert_non_null(fgets(line, sizeof line, in));
    fclose(in);
    const char *k = strstr(line, "\"key\":\"");
    assert_non_null(k);
    char key[17];
    memcpy(key, k + 7, 16);
    key[16] = '\0';
    f = fopen(copy, "w");
    fprintf(f, "{\"key\":\"%s\",\"reply\":\"first\"}\n", key);
    fprintf(f, "not json at all\n");
    fprintf(f, "{\"key\":\"%s\",\"reply\":null,\"fail\":\"http\",\"error\":\"HTTP 500\"}\n", key);
    fprintf(f, "{\"key\":\"%s\",\"reply\":\"trunc", key); /* a crash mid-write */
    fclose(f);
    unlink(path);
    assert_int_equal(uh_llm_session_new(NULL, path, copy, &s, &err), UH_OK);
    assert_int_equal(chat(s, "hello", &reply, &call, &err), UH_OK);
    assert_string_equal(reply, "first");
    assert_int_equal(call.cached, 1);
    free(reply);
    assert_int_equal(chat(s, "hello", &reply, &call, &err), UH_EIO); /* the recorded failure */
    assert_int_equal(call.fail, UH_LLM_FAIL_HTTP);
    assert_non_null(strstr(err.msg, "HTTP 500"));
    assert_int_equal(chat(s, "hello", &reply, &call, &err), UH_EIO); /* none left */
    assert_int_equal(call.fail, UH_LLM_FAIL_REPLAY);
    uh_llm_session_free(s);
    /* the run's own transcript now holds the three calls; resuming from it answers them
     * without appending them again */
    size_t len;
    assert_int_equal(uh_read_file(path, 1 << 20, &text, &len, &err), UH_OK);
    int lines = 0;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    assert_int_equal(lines, 3);
    free(text);
    assert_int_equal(uh_llm_session_new(NULL, path, copy, &s, &err), UH_OK);
    assert_int_equal(chat(s, "hello", &reply, &call, &err), UH_OK);
    assert_string_equal(reply, "first");
    free(reply);
    uh_llm_session_free(s);
    assert_int_equal(uh_read_file(path, 1 << 20, &text, &len, &err), UH_OK);
    lines = 0;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    assert_int_equal(lines, 3);
    free(text);
}

/* A transcript line that cannot be written (here EFBIG: a file-size limit, what a full disk
 * gives as ENOSPC) fails the call with the file and the reason. */
static void test_transcript_write_failure(void **state) {
    (void)state;
    char path[128], copy[128];
    tmp_pathf(path, sizeof path, "full-llm.jsonl");
    tmp_pathf(copy, sizeof copy, "full-replay.jsonl");
    unlink(path);
    FILE *f = fopen(copy, "w");
    assert_non_null(f);
    fclose(f);
    uh_llm_session_t *s;
    uh_error_t err = {0};
    assert_int_equal(uh_llm_session_new(NULL, path, copy, &s, &err), UH_OK);
    struct rlimit saved, none;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    none = saved;
    none.rlim_cur = 0;
    void (*old)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &none), 0);
    char *reply = NULL;
    uh_llm_call_t call;
    int rc = chat(s, "hello", &reply, &call, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, old);
    assert_int_equal(rc, UH_EIO);
    assert_null(reply);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "File too large"));
    uh_llm_session_free(s);
}

static void test_system_prompts(void **state) {
    (void)state;
    uh_backend_t *b = load_backend("mzi-realistic");
    uh_llm_session_t *s;
    uh_error_t err = {0};
    char empty[128];
    tmp_pathf(empty, sizeof empty, "empty.jsonl");
    FILE *f = fopen(empty, "w");
    fclose(f);
    assert_int_equal(uh_llm_session_new(NULL, NULL, empty, &s, &err), UH_OK);
    const uh_llm_system_t kinds[] = {UH_LLM_SYSTEM_HARDWARE, UH_LLM_SYSTEM_GENERIC,
                                     UH_LLM_SYSTEM_NONE};
    for (int k = 0; k < 3; k++) {
        uh_llm_operator_opts_t o = {.system = kinds[k], .temperature = 0.5};
        uh_operator_t op;
        if (uh_llm_operator_new(&o, s, b, &op, &err)) fail_msg("%s", err.msg);
        assert_true(op.n_variants >= 8); /* LLMatic's mutation prompts */
        char *sys = uh_llm_operator_system_prompt(&op, TINY, &err);
        assert_non_null(sys);
        if (kinds[k] == UH_LLM_SYSTEM_HARDWARE) {
            assert_contains(sys, "mzi-realistic", "Mach-Zehnder",
                            "\"tile\": 4..64",  /* constraints */
                            "nJ (576 MACs",     /* energy examples */
                            "sigma_phase_rad"); /* the file, sourced */
            assert_null(strstr(sys, "{{"));
        } else if (kinds[k] == UH_LLM_SYSTEM_GENERIC) {
            assert_null(strstr(sys, "mzi"));
            assert_non_null(strstr(sys, "Objectives"));
        } else {
            assert_string_equal(sys, "");
        }
        free(sys);
        uh_llm_operator_free(&op);
    }
    uh_llm_session_free(s);
    uh_backend_free(b);
}

static void test_config_round_trip(void **state) {
    (void)state;
    uh_llm_config_t c, back;
    uh_llm_config_default(&c);
    strcpy(c.client.url, "http://127.0.0.1:8080/v1");
    strcpy(c.client.model, "qwen \"2.5\"");
    c.client.temperature = 0.3;
    c.op.system = UH_LLM_SYSTEM_GENERIC;
    char *json = uh_llm_config_json(&c);
    uh_error_t err = {0};
    assert_int_equal(uh_llm_config_parse(json, &back, &err), UH_OK);
    assert_string_equal(back.client.model, "qwen \"2.5\"");
    assert_true(back.client.temperature == 0.3);
    assert_int_equal(back.op.system, UH_LLM_SYSTEM_GENERIC);
    free(json);
    assert_int_equal(
        uh_llm_config_parse("{\"llm\":{\"url\":\"x\",\"api_key\":\"k\"}}", &back, &err), UH_EINVAL);
    assert_non_null(strstr(err.msg, "api_key"));
    assert_int_equal(uh_llm_config_parse("[]", &back, &err), UH_EINVAL);
    /* the client refuses what is not an http(s) URL */
    uh_llm_opts_t o;
    uh_llm_opts_default(&o);
    strcpy(o.url, "file:///etc/passwd");
    uh_llm_client_t *cl;
    assert_int_equal(uh_llm_client_new(&o, NULL, &cl, &err), UH_EINVAL);
    strcpy(o.url, "http://host/v1\r\nX: y");
    assert_int_equal(uh_llm_client_new(&o, NULL, &cl, &err), UH_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_in_prose_and_fences),
        cmocka_unit_test(test_unusable_replies),
        cmocka_unit_test(test_bad_children_have_precise_errors),
        cmocka_unit_test(test_want_and_limits),
        cmocka_unit_test(test_heuristics_are_cleaned),
        cmocka_unit_test(test_redaction),
        cmocka_unit_test(test_reply_depth_caps),
        cmocka_unit_test(test_templates),
        cmocka_unit_test(test_transcript_replay),
        cmocka_unit_test(test_transcript_write_failure),
        cmocka_unit_test(test_system_prompts),
        cmocka_unit_test(test_config_round_trip),
    };
    return cmocka_run_group_tests(tests, tmp_setup, tmp_teardown);
}
