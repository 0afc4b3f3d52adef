/* IDX files: the format MNIST and Fashion-MNIST ship in.
 *
 * Layout: two zero bytes, a type byte, a dimension count, that many big-endian uint32
 * dimensions, then the data. Files are often gzipped; we look at the first two bytes, not
 * the name. The header is validated in full before the payload is allocated, and the
 * payload must be exactly as long as the header says: short is "truncated", long is
 * "trailing bytes", and both are errors because either means the file is not what it
 * claims to be. */
#include "uhnas/data.h"

#include "data_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_TYPE_U8 0x08
/* zlib takes lengths as uInt; feed and drain it in pieces no larger than this. */
#define ZCHUNK (1u << 30)
/* First allocation for a gzipped payload; it then doubles up to the size the header
 * claims, so a small hostile file cannot make us reserve gigabytes it does not hold. */
#define GZ_FIRST_ALLOC (1u << 20)

/* A source of bytes: a raw buffer, or a gzip stream (one or more members) inflating it. */
typedef struct {
    const uint8_t *buf;
    size_t len;
    size_t pos; /* raw: next byte to read; gzip: next byte not yet given to zlib */
    int gz;
    int zs_ready;  /* inflateInit2 succeeded, so inflateEnd is owed */
    int ended;     /* the current gzip member reached its end */
    int truncated; /* gzip input ran out in the middle of a member */
    z_stream zs;
    int rc; /* UH_OK, or the error already recorded in err */
    const char *what;
    uh_error_t *err;
} src_t;

static int src_open(src_t *s, const uint8_t *buf, size_t len, const char *what, uh_error_t *err) {
    memset(s, 0, sizeof *s);
    s->buf = buf;
    s->len = len;
    s->what = what;
    s->err = err;
    s->gz = len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b;
    if (!s->gz) return UH_OK;
    /* 16 + MAX_WBITS: expect a gzip header and check the CRC and length trailer. */
    int zr = inflateInit2(&s->zs, 16 + MAX_WBITS);
    if (zr != Z_OK)
        return s->rc = uh_error_set(err, zr == Z_MEM_ERROR ? UH_ENOMEM : UH_EIO,
                                    "%s: cannot start gzip decoder (zlib error %d)", what, zr);
    s->zs_ready = 1;
    return UH_OK;
}

static void src_close(src_t *s) {
    if (s->zs_ready) inflateEnd(&s->zs);
    s->zs_ready = 0;
}

/* Reads up to n bytes into dst and returns how many it got. A short count with s->rc ==
 * UH_OK means the data ended (s->truncated says whether a gzip member was cut off);
 * otherwise s->rc holds the recorded error (corrupt stream, bad CRC, garbage after it). */
static size_t src_read(src_t *s, uint8_t *dst, size_t n) {
    if (s->rc) return 0;
    if (!s->gz) {
        size_t k = s->len - s->pos < n ? s->len - s->pos : n;
        memcpy(dst, s->buf + s->pos, k);
        s->pos += k;
        return k;
    }
    size_t got = 0;
    while (got < n) {
        if (s->ended) {
            size_t left = s->len - s->pos + s->zs.avail_in;
            if (left == 0) break;
            const uint8_t *next = s->zs.avail_in ? s->zs.next_in : s->buf + s->pos;
            /* Concatenated gzip members are one valid stream (gzip(1) reads them so);
             * anything else after the end of a member is garbage. */
            if (left >= 2 && next[0] == 0x1f && next[1] == 0x8b) {
                inflateReset(&s->zs);
                s->ended = 0;
            } else {
                s->rc = uh_error_set(s->err, UH_EFORMAT,
                                     "%s: %zu bytes of trailing garbage after the gzip stream",
                                     s->what, left);
                break;
            }
        }
        if (s->zs.avail_in == 0 && s->pos < s->len) {
            size_t k = s->len - s->pos < ZCHUNK ? s->len - s->pos : ZCHUNK;
            s->zs.next_in = (Bytef *)(uintptr_t)(s->buf + s->pos);
            s->zs.avail_in = (uInt)k;
            s->pos += k;
        }
        size_t want = n - got < ZCHUNK ? n - got : ZCHUNK;
        s->zs.next_out = dst + got;
        s->zs.avail_out = (uInt)want;
        int zr = inflate(&s->zs, Z_NO_FLUSH);
        got += want - s->zs.avail_out;
        if (zr == Z_STREAM_END) {
            s->ended = 1;
        } else if (zr == Z_OK) {
            continue;
        } else if (zr == Z_BUF_ERROR && s->zs.avail_in == 0 && s->pos == s->len) {
            /* No progress possible and no input left: the member was cut short. */
            s->truncated = 1;
            break;
        } else {
            const char *why = s->zs.msg ? s->zs.msg : "";
            if (zr == Z_MEM_ERROR)
                s->rc =
                    uh_error_set(s->err, UH_ENOMEM, "%s: out of memory in gzip decoder", s->what);
            else
                s->rc = uh_error_set(s->err, UH_EFORMAT, "%s: corrupt gzip stream (%s%s%d)",
                                     s->what, why, *why ? ", zlib error " : "zlib error ", zr);
            break;
        }
    }
    return got;
}

/* Checked a * b; returns 0 on overflow of size_t. */
static int mul_ok(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

static const char *idx_type_name(int t) {
    switch (t) {
    case 0x08:
        return "unsigned byte";
    case 0x09:
        return "signed byte";
    case 0x0B:
        return "short";
    case 0x0C:
        return "int";
    case 0x0D:
        return "float";
    case 0x0E:
        return "double";
    default:
        return NULL;
    }
}

/* Reads and validates the header; on success fills out->n_dims, out->dims and *payload. */
static int read_header(src_t *s, uh_idx_t *out, size_t *payload) {
    uh_error_t *err = s->err;
    uint8_t magic[4];
    size_t got = src_read(s, magic, 4);
    if (s->rc) return s->rc;
    /* Check the bytes we have before complaining about length: a 3-byte text file is
     * better described as "not IDX" than as "truncated". */
    if ((got >= 1 && magic[0] != 0) || (got >= 2 && magic[1] != 0))
        return uh_error_set(err, UH_EFORMAT,
                            "%s: not an IDX file (bad magic: starts 0x%02x 0x%02x, expected 0x00 "
                            "0x00 or a gzip header 0x1f 0x8b)",
                            s->what, magic[0], got >= 2 ? magic[1] : 0);
    if (got < 4)
        return uh_error_set(err, UH_EFORMAT,
                            "%s: truncated header: expected at least 4 bytes, got %zu", s->what,
                            got);
    int type = magic[2], nd = magic[3];
    if (type != IDX_TYPE_U8) {
        const char *name = idx_type_name(type);
        if (name)
            return uh_error_set(err, UH_EFORMAT,
                                "%s: unsupported IDX data type 0x%02x (%s); only 0x08 (unsigned "
                                "byte) is supported",
                                s->what, type, name);
        return uh_error_set(err, UH_EFORMAT,
                            "%s: unknown IDX data type 0x%02x; only 0x08 (unsigned byte) is "
                            "supported",
                            s->what, type);
    }
    if (nd == 0)
        return uh_error_set(err, UH_EFORMAT, "%s: IDX header declares 0 dimensions", s->what);
    if (nd > UH_IDX_MAX_DIMS)
        return uh_error_set(err, UH_ELIMIT, "%s: IDX header declares %d dimensions; at most %d",
                            s->what, nd, UH_IDX_MAX_DIMS);
    uint8_t raw[4 * UH_IDX_MAX_DIMS];
    size_t want = 4 * (size_t)nd;
    got = src_read(s, raw, want);
    if (s->rc) return s->rc;
    if (got < want)
        return uh_error_set(err, UH_EFORMAT,
                            "%s: truncated header: expected %zu bytes for %d dimensions, got %zu",
                            s->what, 4 + want, nd, 4 + got);
    size_t total = 1;
    for (int i = 0; i < nd; i++) {
        const uint8_t *p = raw + 4 * i;
        uint32_t d = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (d == 0)
            return uh_error_set(err, UH_EFORMAT, "%s: dimension %d of %d is 0", s->what, i + 1, nd);
        if (i == 0 && d > UH_IDX_MAX_ITEMS)
            return uh_error_set(err, UH_ELIMIT, "%s: %u items; at most %d are allowed", s->what,
                                (unsigned)d, UH_IDX_MAX_ITEMS);
        if (i > 0 && d > UH_IDX_MAX_SIDE)
            return uh_error_set(err, UH_ELIMIT, "%s: dimension %d is %u; at most %d is allowed",
                                s->what, i + 1, (unsigned)d, UH_IDX_MAX_SIDE);
        if (!mul_ok(total, d, &total) || total > (size_t)UH_IDX_MAX_BYTES)
            return uh_error_set(err, UH_ELIMIT,
                                "%s: dimensions describe more than %ld bytes of data", s->what,
                                (long)UH_IDX_MAX_BYTES);
        out->dims[i] = (int)d;
    }
    out->n_dims = nd;
    *payload = total;
    return UH_OK;
}

static int read_payload(src_t *s, size_t need, uint8_t **data) {
    uh_error_t *err = s->err;
    size_t got;
    uint8_t *buf;
    if (!s->gz) {
        /* The whole file is in memory, so a short payload is known before allocating. */
        got = s->len - s->pos;
        if (got < need)
            return uh_error_set(err, UH_EFORMAT, "%s: truncated: expected %zu data bytes, got %zu",
                                s->what, need, got);
        if (got > need)
            return uh_error_set(err, UH_EFORMAT,
                                "%s: %zu trailing bytes after the %zu data bytes the header "
                                "declares",
                                s->what, got - need, need);
        buf = malloc(need);
        if (!buf)
            return uh_error_set(err, UH_ENOMEM, "%s: out of memory (%zu bytes)", s->what, need);
        src_read(s, buf, need);
        *data = buf;
        return UH_OK;
    }

    size_t cap = need < GZ_FIRST_ALLOC ? need : GZ_FIRST_ALLOC;
    buf = malloc(cap);
    if (!buf) return uh_error_set(err, UH_ENOMEM, "%s: out of memory (%zu bytes)", s->what, cap);
    got = 0;
    for (;;) {
        got += src_read(s, buf + got, cap - got);
        if (s->rc || got < cap || cap == need) break;
        size_t next = cap > need / 2 ? need : cap * 2;
        uint8_t *grown = realloc(buf, next);
        if (!grown) {
            free(buf);
            return uh_error_set(err, UH_ENOMEM, "%s: out of memory (%zu bytes)", s->what, next);
        }
        buf = grown;
        cap = next;
    }
    if (s->rc) {
        free(buf);
        return s->rc;
    }
    if (got < need) {
        free(buf);
        return uh_error_set(err, UH_EFORMAT, "%s: truncated: expected %zu data bytes, got %zu",
                            s->what, need, got);
    }
    /* Decompress on to the end of the stream: that is where zlib checks the CRC, and where
     * extra data after the payload shows up. */
    uint8_t tail[4096];
    size_t extra = 0, k;
    while (extra < UH_IDX_GZ_TAIL_COUNT_MAX && (k = src_read(s, tail, sizeof tail)) > 0) extra += k;
    if (extra > 0) {
        free(buf);
        if (extra >= UH_IDX_GZ_TAIL_COUNT_MAX)
            return uh_error_set(err, UH_EFORMAT,
                                "%s: at least %zu trailing bytes after the %zu data bytes the "
                                "header declares",
                                s->what, extra, need);
        return uh_error_set(err, UH_EFORMAT,
                            "%s: %zu trailing bytes after the %zu data bytes the header declares",
                            s->what, extra, need);
    }
    if (s->rc) {
        free(buf);
        return s->rc;
    }
    if (s->truncated) {
        free(buf);
        return uh_error_set(err, UH_EFORMAT,
                            "%s: truncated gzip stream: data complete but the gzip trailer (CRC, "
                            "length) is missing",
                            s->what);
    }
    *data = buf;
    return UH_OK;
}

int uh_idx_load_mem(const uint8_t *buf, size_t len, const char *what, uh_idx_t *out,
                    uh_error_t *err) {
    if (!what) what = "IDX data";
    if (!out || (!buf && len > 0))
        return uh_error_set(err, UH_EINVAL, "%s: uh_idx_load_mem: NULL argument", what);
    memset(out, 0, sizeof *out);
    if (!buf) buf = (const uint8_t *)"";

    src_t s;
    int rc = src_open(&s, buf, len, what, err);
    if (rc) return rc;
    uh_idx_t idx = {0};
    size_t payload = 0;
    rc = read_header(&s, &idx, &payload);
    if (!rc) rc = read_payload(&s, payload, &idx.data);
    src_close(&s);
    if (rc) return rc;
    *out = idx;
    return UH_OK;
}

int data_read_file(const char *path, long max, char **buf, size_t *len, uh_error_t *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        if (e == ENOENT) return uh_error_set(err, UH_ENOTFOUND, "file %s: not found", path);
        return uh_error_set(err, UH_EIO, "file %s: cannot open: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return uh_error_set(err, UH_EIO, "file %s: not a regular file", path);
    }
    if (st.st_size > max) {
        fclose(f);
        return uh_error_set(err, UH_ELIMIT, "file %s: %lld bytes; at most %ld expected", path,
                            (long long)st.st_size, max);
    }
    size_t n = (size_t)st.st_size;
    char *b = malloc(n + 1);
    if (!b) {
        fclose(f);
        return uh_error_set(err, UH_ENOMEM, "file %s: out of memory (%zu bytes)", path, n);
    }
    size_t got = fread(b, 1, n, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || got != n) {
        free(b);
        return uh_error_set(err, UH_EIO, "file %s: read error after %zu of %zu bytes", path, got,
                            n);
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return UH_OK;
}

int uh_idx_load(const char *path, uh_idx_t *out, uh_error_t *err) {
    if (!path || !out) return uh_error_set(err, UH_EINVAL, "uh_idx_load: NULL argument");
    memset(out, 0, sizeof *out);
    char *buf = NULL;
    size_t len = 0;
    int rc = data_read_file(path, UH_IDX_MAX_FILE_BYTES, &buf, &len, err);
    if (rc) return rc;
    char what[UH_ERROR_MSG_MAX];
    snprintf(what, sizeof what, "file %s", path);
    rc = uh_idx_load_mem((const uint8_t *)buf, len, what, out, err);
    free(buf);
    return rc;
}

void uh_idx_free(uh_idx_t *idx) {
    if (!idx) return;
    free(idx->data);
    memset(idx, 0, sizeof *idx);
}

static int write_all(int fd, const uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Written to a temporary file beside the target and renamed over it, so a reader (or a
 * crash) never sees half a file: the cache is either the old file or the new one. */
int uh_idx_save(const char *path, const uh_idx_t *idx, uh_error_t *err) {
    if (!path || !idx) return uh_error_set(err, UH_EINVAL, "uh_idx_save: NULL argument");
    if (idx->n_dims < 1 || idx->n_dims > UH_IDX_MAX_DIMS)
        return uh_error_set(err, UH_EINVAL, "file %s: cannot save IDX with %d dimensions", path,
                            idx->n_dims);
    size_t total = 1;
    uint8_t head[4 + 4 * UH_IDX_MAX_DIMS] = {0, 0, IDX_TYPE_U8, (uint8_t)idx->n_dims};
    for (int i = 0; i < idx->n_dims; i++) {
        int d = idx->dims[i];
        if (d <= 0)
            return uh_error_set(err, UH_EINVAL, "file %s: cannot save IDX with dimension %d = %d",
                                path, i + 1, d);
        if (!mul_ok(total, (size_t)d, &total) || total > (size_t)UH_IDX_MAX_BYTES)
            return uh_error_set(err, UH_ELIMIT, "file %s: IDX payload over %ld bytes", path,
                                (long)UH_IDX_MAX_BYTES);
        uint8_t *p = head + 4 + 4 * i;
        p[0] = (uint8_t)((uint32_t)d >> 24);
        p[1] = (uint8_t)((uint32_t)d >> 16);
        p[2] = (uint8_t)((uint32_t)d >> 8);
        p[3] = (uint8_t)d;
    }
    if (!idx->data) return uh_error_set(err, UH_EINVAL, "file %s: IDX has no data", path);

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) return uh_error_set(err, UH_ENOMEM, "file %s: out of memory", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return uh_error_set(err, UH_EIO, "file %s: cannot create temporary file: %s", path,
                            strerror(e));
    }
    /* mkstemp makes the file private (0600); a cache is ordinary data. */
    int ok = fchmod(fd, 0644) == 0 && write_all(fd, head, 4 + 4 * (size_t)idx->n_dims) == 0 &&
             write_all(fd, idx->data, total) == 0 && fsync(fd) == 0;
    int e = errno;
    if (close(fd) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        e = errno;
    }
    if (!ok) {
        unlink(tmp);
        free(tmp);
        return uh_error_set(err, UH_EIO, "file %s: cannot write: %s", path, strerror(e));
    }
    free(tmp);
    return UH_OK;
}
