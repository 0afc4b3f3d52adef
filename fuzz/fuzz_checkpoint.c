/* The built-in model's checkpoint (uh_gpt_load), full or weights-only. The first byte chooses
 * what the harness repairs before writing the rest as the file: bit 0 the parameter count
 * (from the size and the magic's number of arrays), bit 1 the CRC-32, so that mutations reach
 * past the checks a random file fails. */
#include <zlib.h>

#include "fuzz.h"
#include "uhnas/gpt.h"

#define HEADER (8 + 4 + 5 * 4 + 8 + 8) /* src/lm/gpt.c's CKPT_HEADER */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int fix = data[0];
    uint8_t *file = malloc(size);
    if (!file) abort();
    size_t len = size - 1;
    memcpy(file, data + 1, len);
    if ((fix & 1) && len >= HEADER + 4) {
        size_t arrays = memcmp(file, "UHGPTW01", 8) == 0 ? 1 : 3; /* weights alone, or +moments */
        uint64_t count = (len - HEADER - 4) / (arrays * sizeof(float));
        memcpy(file + 40, &count, 8);
    }
    if ((fix & 2) && len >= HEADER + 4) {
        uint32_t crc = (uint32_t)crc32(0L, file, (uInt)(len - 4));
        memcpy(file + len - 4, &crc, 4);
    }
    const char *path = fuzz_write("model.bin", file, len);
    free(file);
    uh_error_t err = {0};
    uh_gpt_t *m = uh_gpt_load(path, 1, NULL, &err);
    uh_gpt_free(m);
    return 0;
}
