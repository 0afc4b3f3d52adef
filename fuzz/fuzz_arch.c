/* Architecture JSON: uh_arch_parse against Fashion-MNIST's shape, then the canonical form and
 * hash of what it accepts. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uh_arch_t arch;
    uh_error_t err = {0};
    if (uh_arch_parse((const char *)data, size, FUZZ_SHAPE, &arch, &err) == 0) {
        static char buf[1 << 16];
        char hash[17];
        uh_arch_canonical(&arch, buf, sizeof buf);
        uh_arch_hash(&arch, hash);
    }
    return 0;
}
