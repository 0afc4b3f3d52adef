/* A weight file (.uhw): uh_weights_read. */
#include "fuzz.h"
#include "uhnas/export.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("weights.uhw", data, size);
    float *w = NULL;
    size_t n = 0;
    uh_error_t err = {0};
    if (uh_weights_read(path, &w, &n, &err) == 0) free(w);
    return 0;
}
