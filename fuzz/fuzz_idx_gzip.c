/* Gzipped IDX: the harness compresses the input (after its first byte) as gzip, so mutations
 * land in the IDX inside a valid stream; the first byte's low bits cut the stream short
 * (a truncated download) or append trailing bytes. */
#include <zlib.h>

#include "fuzz.h"
#include "uhnas/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int mode = data[0] & 3;
    data++, size--;
    z_stream z = {0};
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
    size_t cap = deflateBound(&z, (uLong)size) + 16;
    uint8_t *gz = malloc(cap);
    if (!gz) abort();
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)size;
    z.next_out = gz;
    z.avail_out = (uInt)(cap - 16);
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) abort();
    size_t len = z.total_out;
    deflateEnd(&z);
    if (mode == 1) len = len / 2;                             /* truncated */
    if (mode == 2) memcpy(gz + len, "trailing", 8), len += 8; /* bytes after the stream */
    uh_idx_t idx;
    uh_error_t err = {0};
    if (uh_idx_load_mem(gz, len, "fuzz.gz", &idx, &err) == 0) uh_idx_free(&idx);
    free(gz);
    return 0;
}
