/* An evaluation cache from arbitrary bytes: written as cache.sqlite, opened (the checks on
 * open), an entry looked up with its weights, counted, closed. */
#include "fuzz.h"
#include "uhnas/cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const side[] = {"cache.sqlite-wal", "cache.sqlite-shm",
                                       "cache.sqlite-journal"};
    for (int i = 0; i < 3; i++) unlink(fuzz_path(side[i]));
    fuzz_write("cache.sqlite", data, size);
    uh_cache_t *cache = NULL;
    uh_error_t err = {0};
    if (uh_cache_open(fuzz_path("cache.sqlite"), &cache, &err)) return 0;
    uh_cache_entry_t e;
    float *w = NULL;
    size_t n = 0;
    int found = 0;
    uh_cache_get(cache, "uhnas evaluation 1\n", &e, &w, &n, &found, &err);
    free(w);
    long count = 0;
    uh_cache_count(cache, &count, &err);
    uh_cache_close(cache);
    return 0;
}
