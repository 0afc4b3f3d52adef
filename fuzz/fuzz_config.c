/* Run config (a store's config text, which may have been edited): uh_search_config_parse,
 * backend file text included. */
#include "fuzz.h"
#include "uhnas/backend.h"
#include "uhnas/search.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static uh_search_config_t cfg;
    char *text = fuzz_string(data, size);
    uh_backend_t *b = NULL;
    uh_error_t err = {0};
    if (uh_search_config_parse(text, &cfg, &b, &err) == 0) uh_backend_free(b);
    free(text);
    return 0;
}
