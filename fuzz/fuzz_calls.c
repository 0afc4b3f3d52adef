/* The built-in model's memory of its calls (lm/calls.jsonl): lm_records_read. */
#include "../src/lm/memory.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_path(LM_DIR);
    mkdir(fuzz_path(LM_DIR), 0700);
    fuzz_write(LM_DIR "/" LM_CALLS_FILE, data, size);
    lm_record_t *records = NULL;
    int n = 0, rest = 0;
    uh_error_t err = {0};
    if (lm_records_read(fuzz_dir(), FUZZ_SHAPE, &records, &n, &rest, &err) == 0) {
        if (n == 0 && size > 0 && !rest) __builtin_trap(); /* bytes read as no record */
        lm_records_free(records, n);
    }
    return 0;
}
