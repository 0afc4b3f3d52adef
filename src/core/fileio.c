#include "uhnas/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int uh_read_file(const char *path, size_t max_bytes, char **out, size_t *len, uh_error_t *err) {
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        return uh_error_set(err, errno == ENOENT ? UH_ENOTFOUND : UH_EIO, "%s: %s", path,
                            strerror(errno));
    }
    /* Read in chunks rather than trusting the size from stat: pipes and /proc files report 0. */
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    int rc = UH_OK;
    while (buf) {
        if (n == cap - 1) {
            if (cap - 1 > max_bytes) break;
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) break;
    }
    if (!buf) {
        rc = uh_error_set(err, UH_ENOMEM, "%s: out of memory reading the file", path);
    } else if (n > max_bytes) {
        rc =
            uh_error_set(err, UH_ELIMIT, "%s: larger than the limit of %zu bytes", path, max_bytes);
    } else if (ferror(f)) {
        rc = uh_error_set(err, UH_EIO, "%s: read error", path);
    }
    fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return UH_OK;
}

int uh_write_file_atomic(const char *path, const void *data, size_t len, uh_error_t *err) {
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) return uh_error_set(err, UH_ENOMEM, "%s: out of memory", path);
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int rc = uh_error_set(err, UH_EIO, "%s: cannot create temporary file: %s", path,
                              strerror(errno));
        free(tmp);
        return rc;
    }
    /* mkstemp makes the file 0600; results (tables, reports, exports) are meant to be read */
    (void)fchmod(fd, 0644);
    const char *p = data;
    size_t left = len;
    int rc = UH_OK;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            rc = uh_error_set(err, UH_EIO, "%s: write failed: %s", path, strerror(errno));
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (!rc && fsync(fd) != 0)
        rc = uh_error_set(err, UH_EIO, "%s: fsync failed: %s", path, strerror(errno));
    if (close(fd) != 0 && !rc)
        rc = uh_error_set(err, UH_EIO, "%s: close failed: %s", path, strerror(errno));
    if (!rc && rename(tmp, path) != 0)
        rc = uh_error_set(err, UH_EIO, "%s: rename failed: %s", path, strerror(errno));
    if (rc) unlink(tmp);
    free(tmp);
    return rc;
}
