/* A language model's reply, as the operator reads it (llm_parse_reply): children checked
 * against Fashion-MNIST's shape, the mzi-realistic backend and the search's depth caps, two
 * parents offered. */
#include "../src/llm/llm_internal.h"
#include "fuzz.h"
#include "uhnas/backend.h"
#include "uhnas/space.h"

static const int64_t PARENTS[] = {3, 7};

/* One hash the run "knows", so duplicates are seen too. */
static int is_known(const void *ctx, const char *hash) {
    (void)ctx;
    return hash[0] == '0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static uh_backend_t *backend;
    static uh_space_t space;
    uh_error_t err = {0};
    if (!backend && (uh_backend_load(UHNAS_FUZZ_BACKENDS "/mzi-realistic.json", &backend, &err) ||
                     uh_space_init(&space, backend, FUZZ_SHAPE, &err)))
        abort();
    char *text = fuzz_string(data, size);
    llm_check_t check = {FUZZ_SHAPE, backend, PARENTS, 2, is_known, NULL, NULL, 0, &space};
    llm_reply_t r;
    if (llm_parse_reply(text, &check, 4, &r, &err) == 0) llm_reply_free(&r);
    free(text);
    return 0;
}
