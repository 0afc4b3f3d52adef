/* IDX as read from disk (uh_idx_load_mem: raw, or gzip when the bytes say so). */
#include "fuzz.h"
#include "uhnas/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uh_idx_t idx;
    uh_error_t err = {0};
    if (uh_idx_load_mem(data, size, "fuzz", &idx, &err) == 0) uh_idx_free(&idx);
    return 0;
}
