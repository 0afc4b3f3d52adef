/* Backend file: uh_backend_load_text on the bytes. */
#include "fuzz.h"
#include "uhnas/backend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uh_backend_t *b = NULL;
    uh_error_t err = {0};
    if (uh_backend_load_text((const char *)data, size, "fuzz", &b, &err) == 0) uh_backend_free(b);
    return 0;
}
