/* A transcript (llm.jsonl): a replay-only session opened on the bytes, then one call looked
 * up in it (answered from the transcript or refused; never the network). */
#include <math.h>

#include "fuzz.h"
#include "uhnas/llm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("llm.jsonl", data, size);
    uh_llm_session_t *s = NULL;
    uh_error_t err = {0};
    if (uh_llm_session_new(NULL, NULL, path, &s, &err)) return 0;
    const uh_llm_msg_t msgs[] = {{"system", "s"}, {"user", "u"}};
    char *content = NULL;
    uh_llm_usage_t usage;
    uh_llm_call_t call;
    uh_llm_session_chat(s, 0, "propose", msgs, 2, NAN, &content, &usage, &call, &err);
    free(content);
    uh_llm_session_free(s);
    return 0;
}
