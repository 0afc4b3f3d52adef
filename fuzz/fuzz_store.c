/* A run store from arbitrary bytes: written as run.sqlite, opened read-only (the checks on
 * open), its config and candidates read, closed. */
#include "fuzz.h"
#include "uhnas/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const side[] = {"run.sqlite-wal", "run.sqlite-shm", "run.sqlite-journal",
                                       "run.lock"};
    for (int i = 0; i < 4; i++) unlink(fuzz_path(side[i]));
    fuzz_write("run.sqlite", data, size);
    uh_store_t *store = NULL;
    uh_error_t err = {0};
    if (uh_store_open_readonly(fuzz_dir(), &store, &err)) return 0;
    (void)uh_store_config(store);
    uh_candidate_t *rows = NULL;
    size_t n = 0;
    if (uh_store_candidates(store, &rows, &n, &err) == 0) uh_store_free_candidates(rows);
    int64_t count = 0;
    uh_store_count(store, &count, &err);
    uh_store_close(store);
    return 0;
}
