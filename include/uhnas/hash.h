/* uhnas — 64-bit FNV-1a (Fowler, Noll and Vo; IETF draft-eastlake-fnv): the one content hash
 * of architectures, evaluation settings, data, requests and files. Not cryptographic: it
 * names content, it does not defend against someone forging it. */
#ifndef UHNAS_HASH_H
#define UHNAS_HASH_H

#include <stddef.h>
#include <stdint.h>

#define UH_FNV1A_BASIS 14695981039346656037ULL
#define UH_FNV1A_PRIME 1099511628211ULL

/* h continued over data[0..n) (start from UH_FNV1A_BASIS). */
static inline uint64_t uh_fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * UH_FNV1A_PRIME;
    return h;
}

#endif
